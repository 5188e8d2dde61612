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

/*
 * cuDNN's rows for one direction of the convolution being chosen: measured
 * (measure 1, cudnnFind*) or ranked (measure 0, the _v7 calls), for the
 * activations in fp32 (f32 1) or in the mode's own type (f32 0). Returns 0
 * with *got rows written (at most cap), or cuDNN's non-zero status.
 */
typedef int (*tfr_conv_query_fn)(void *ctx, int measure, int f32, tfr_conv_row *rows, int cap,
                                 int *got);

/* what tfr_conv_choose picked */
typedef struct tfr_conv_pick_result {
    tfr_conv_row row;      /* the chosen row (its algorithm, math type, workspace) */
    int          f32;      /* 1: run in fp32 (bf16 mode with no bf16 algorithm) */
    int          measured; /* the row came from a measurement, not the ranking */
    int          status;   /* the last query's status, when nothing qualified */
} tfr_conv_pick_result;

/*
 * The choice for one direction: measured rows first (unless heuristic is
 * set: a second batch size of a measured shape is ranked only), cuDNN's
 * ranking when no measured row qualifies or the search fails. In bf16 mode
 * (bf set), when neither gives a bf16 row (cuDNN has none for some shapes,
 * e.g. C = 1 or 3 in NHWC), the same search over fp32 rows: the caller
 * then converts that direction's activations to fp32 around the call.
 * Returns 0, or -1 when nothing qualifies (r->status: the last query's).
 */
static inline int tfr_conv_choose(tfr_conv_query_fn query, void *ctx, int heuristic, size_t limit,
                                  int fp32_only, int bf, tfr_conv_pick_result *r)
{
    tfr_conv_row rows[32];
    r->status = 0;
    for (int f32 = 0; f32 <= (bf ? 1 : 0); f32++) {
        for (int measure = !heuristic; measure >= 0; measure--) {
            int got = 0;
            int s = query(ctx, measure, bf ? f32 : 1, rows, 32, &got);
            if (s) {
                r->status = s;
                got = 0;
            }
            int i = tfr_conv_pick(rows, got, limit, fp32_only, 0);
            if (i >= 0) {
                r->row = rows[i];
                r->f32 = bf && f32;
                r->measured = measure;
                return 0;
            }
        }
    }
    return -1;
}

#endif
