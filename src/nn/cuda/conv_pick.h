/*
 * nn/cuda/conv_pick.h - the choice of a cuDNN convolution algorithm from
 * the rows cuDNN returns (cudnnFind* measured, fastest first; the _v7 calls
 * ranked by its heuristics), in plain C so that the host tests can feed it
 * stand-ins for cuDNN's answers.
 *
 * cuDNN returns one row per (algorithm, math type): the same algorithm can
 * appear under CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH and CUDNN_FMA_MATH
 * with different times and workspace sizes, and a row is valid only under
 * its own math type. So the choice keeps the row's math type, the caller
 * sets it on the convolution descriptor before every call with that
 * algorithm and sizes the workspace for (algorithm, math type). In IEEE
 * fp32 mode only CUDNN_FMA_MATH rows qualify (CUDNN_DEFAULT_MATH may use
 * TF32 tensor cores on sm_80 and newer).
 */
#ifndef TFR_NN_CUDA_CONV_PICK_H
#define TFR_NN_CUDA_CONV_PICK_H

#include <stddef.h>

/* cuDNN's cudnnMathType_t values (static_assert'ed in cudnn_ops.cu) */
enum {
    TFR_CONV_MATH_DEFAULT = 0,
    TFR_CONV_MATH_TENSOR_OP = 1,
    TFR_CONV_MATH_TENSOR_OP_CONVERSION = 2,
    TFR_CONV_MATH_FMA = 3
};

/* the parts of a cudnnConvolution*AlgoPerf_t row the choice reads */
typedef struct tfr_conv_row {
    int    algo;
    int    ok;            /* status == CUDNN_STATUS_SUCCESS */
    int    math;          /* TFR_CONV_MATH_* */
    int    deterministic; /* determinism == CUDNN_DETERMINISTIC */
    size_t memory;        /* workspace bytes */
} tfr_conv_row;

/*
 * The index of the first row (rows are in cuDNN's order: fastest or best
 * ranked first) that succeeded, fits the workspace limit, is FMA math when
 * fp32_only is set and deterministic when deterministic is set; -1 when
 * none qualifies.
 */
static inline int tfr_conv_pick(const tfr_conv_row *rows, int n, size_t limit, int fp32_only,
                                int deterministic)
{
    for (int i = 0; i < n; i++) {
        const tfr_conv_row *r = &rows[i];
        if (!r->ok || r->memory > limit)
            continue;
        if (fp32_only && r->math != TFR_CONV_MATH_FMA)
            continue;
        if (deterministic && !r->deterministic)
            continue;
        return i;
    }
    return -1;
}

#endif
