/*
 * nn/cuda/cuda_common.h - the CUDA backend's state and error handling,
 * shared by its .cu files (C++ as nvcc compiles them; the interface to the
 * rest of the library is the C op table of nn/backend.h).
 *
 * One compute stream runs every op in order; a second stream copies input
 * batches from pinned host buffers so the copy of batch i+1 overlaps the
 * compute of batch i. Every CUDA, cuDNN and cuBLAS failure becomes a
 * tfr_error naming the call, file:line and the library's own message; its
 * status comes from the library's code (allocation failures are NOMEM).
 * Functions shared between the .cu files are tfr_cuda_*; kernels stay static
 * in their file.
 */
#ifndef TFR_NN_CUDA_COMMON_H
#define TFR_NN_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#define TFR_OPS_CUDA_IMPL
extern "C" {
#include "nn/backend.h"
#include "tfrecord/error.h"
#include "tfrecord/util.h"
}
#include "nn/cuda/wcache.h"

#define TFR_INPUT_SLOTS 3 /* pinned input buffers in flight */

/* the three directions of a convolution, each chosen on first use */
enum { TFR_CONV_FWD, TFR_CONV_DATA, TFR_CONV_FILTER, TFR_CONV_DIRS };

/* one direction's algorithm, the math type of cuDNN's row for it, and the
 * workspace cudnnGet*WorkspaceSize gives for the two; f32: in bf16 mode,
 * cuDNN had no bf16 algorithm, so this direction runs in fp32 on converted
 * activations */
struct tfr_conv_choice {
    int    chosen;
    int    algo;
    int    math;
    int    f32;
    size_t ws;
};

/* chosen algorithms for one convolution shape (key: n c h w k r s stride pad) */
struct tfr_conv_plan {
    int             key[9];
    int             heuristic; /* another batch size of this shape was measured: rank only */
    tfr_conv_choice dir[TFR_CONV_DIRS];
};

struct tfr_input_slot {
    unsigned char *pinned, *dev; /* pixels then one flip byte per image */
    size_t         cap;
    cudaEvent_t    copied;       /* the copy out of `pinned` is done */
    cudaEvent_t    consumed;     /* the kernel reading `dev` is done */
    int            used;
};

struct tfr_label_slot {
    int32_t    *pinned;
    size_t      cap;
    cudaEvent_t copied;
    int         used;
};

struct tfr_backend {
    int                device;
    tfr_precision_mode math;
    int                bf;       /* activations in bf16 */
    size_t             ws_limit;
    cudaStream_t       compute, copy;
    cudnnHandle_t      dnn;
    cublasHandle_t     blas;
    cudnnTensorDescriptor_t      xd, yd, bnd;
    cudnnFilterDescriptor_t      wd;
    cudnnConvolutionDescriptor_t cd;
    void                        *ws;        /* cuDNN workspace */
    size_t                       ws_size;
    tfr_conv_plan               *plans;
    int                          nplans, cplans;
    tfr_input_slot               slots[TFR_INPUT_SLOTS];
    int                          next_slot;
    int                          staged, staged_n, staged_flip; /* stage_u8's batch */
    tfr_label_slot               label_slots[TFR_INPUT_SLOTS];
    int                          next_label;
    float                       *scratch;   /* layout conversions */
    size_t                       scratch_cap;
    tfr_wcache                   wcache;    /* bf16 mode: filter copies (wcache.h) */
    unsigned long                wconversions; /* filters converted so far */
    void                        *dwbf;      /* bf16 mode: a filter gradient */
    size_t                       dwbf_cap;
    float                       *f32act;    /* bf16 mode: fp32 activations of a fallback */
    size_t                       f32act_cap;
    int                          said_f32;  /* the fp32 fallback was reported */
    float                       *bnpart, *bnsums; /* bf16 mode: batch-norm partial sums */
    size_t                       bnpart_cap, bnsums_cap;
    int32_t                     *labels;    /* device labels */
    float                       *loss_rows, *loss; /* device */
    size_t                       labels_cap, loss_rows_cap; /* bytes */
    float                       *loss_host; /* pinned */
    float                       *ll_host;   /* pinned: logits and loss in one transfer */
    size_t                       ll_cap;    /* bytes */
    char                         desc[384];
};

/* Fills err with code and "call failed (file:line): what"; returns code. */
tfr_status tfr_cuda_fail(tfr_error *err, tfr_status code, const char *call, const char *file,
                         int line, const char *what);

/* the tfr_status of a library's error code: out of memory, or unavailable */
static inline tfr_status tfr_cuda_code(cudaError_t e)
{
    return e == cudaErrorMemoryAllocation ? TFR_ERR_NOMEM : TFR_ERR_UNAVAILABLE;
}

static inline tfr_status tfr_cudnn_code(cudnnStatus_t e)
{
#if CUDNN_MAJOR >= 9
    return e == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
                   e == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED
               ? TFR_ERR_NOMEM
               : TFR_ERR_UNAVAILABLE;
#else
    return e == CUDNN_STATUS_ALLOC_FAILED ? TFR_ERR_NOMEM : TFR_ERR_UNAVAILABLE;
#endif
}

static inline tfr_status tfr_cublas_code(cublasStatus_t e)
{
    return e == CUBLAS_STATUS_ALLOC_FAILED ? TFR_ERR_NOMEM : TFR_ERR_UNAVAILABLE;
}

#define CUDA_TRY(call)                                                                         \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess)                                                                 \
            return tfr_cuda_fail(err, tfr_cuda_code(e_), #call, __FILE__, __LINE__,           \
                                 cudaGetErrorString(e_));                                      \
    } while (0)

/* cuDNN's status string and, since cuDNN 9, its own account of the last error */
const char *tfr_cudnn_message(cudnnStatus_t e, char *buf, size_t n);

#define CUDNN_TRY(call)                                                                        \
    do {                                                                                       \
        cudnnStatus_t e_ = (call);                                                             \
        if (e_ != CUDNN_STATUS_SUCCESS) {                                                      \
            char m_[512];                                                                      \
            return tfr_cuda_fail(err, tfr_cudnn_code(e_), #call, __FILE__, __LINE__,           \
                                 tfr_cudnn_message(e_, m_, sizeof m_));                        \
        }                                                                                      \
    } while (0)

#define CUBLAS_TRY(call)                                                                       \
    do {                                                                                       \
        cublasStatus_t e_ = (call);                                                            \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                       \
            return tfr_cuda_fail(err, tfr_cublas_code(e_), #call, __FILE__, __LINE__,         \
                                 cublasGetStatusString(e_));                                   \
    } while (0)

/* after a kernel launch */
#define LAUNCH_CHECK() CUDA_TRY(cudaGetLastError())

/* grid for a grid-stride loop over count elements */
static inline unsigned tfr_blocks(size_t count)
{
    size_t b = (count + 255) / 256;
    return (unsigned)(b < 1 ? 1 : b > (1u << 20) ? (1u << 20) : b);
}

/* device scratch of at least `bytes` (ordered on the compute stream) */
tfr_status tfr_cuda_scratch(tfr_backend *b, size_t bytes, tfr_error *err);
/* *p grown to at least `bytes` of device memory (contents not kept) */
tfr_status tfr_cuda_grow(tfr_backend *b, void **p, size_t *cap, size_t bytes, tfr_error *err);

/* ---- the ops, by file -------------------------------------------------- */
/* kernels.cu: the element-wise ops (bodies in nn/elementwise.h) */
tfr_status tfr_cuda_filter_layout(tfr_backend *b, const tfr_conv2d *cv, const float *src,
                                  float *dst, int to_backend, tfr_error *err);
tfr_status tfr_cuda_input_f32(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                              tfr_error *err);
tfr_status tfr_cuda_input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                             const uint8_t *flip, float mean, float std, float *y, tfr_error *err);
tfr_status tfr_cuda_stage_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                             const uint8_t *flip, tfr_error *err);
tfr_status tfr_cuda_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                float *host, tfr_error *err);
tfr_status tfr_cuda_bn_infer(tfr_backend *b, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta, float *y, float *mean,
                             float *invstd, const float *run_mean, const float *run_var, float eps,
                             tfr_error *err);
tfr_status tfr_cuda_relu_fwd(tfr_backend *b, size_t count, const float *x, float *y,
                             tfr_error *err);
tfr_status tfr_cuda_relu_bwd(tfr_backend *b, size_t count, const float *y, const float *dy,
                             float *dx, tfr_error *err);
tfr_status tfr_cuda_pool_fwd(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                             int32_t *idx, tfr_error *err);
tfr_status tfr_cuda_pool_bwd(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                             const float *dy, float *dx, tfr_error *err);
tfr_status tfr_cuda_add_fwd(tfr_backend *b, size_t count, const float *a, const float *c, float *y,
                            tfr_error *err);
tfr_status tfr_cuda_add_bwd(tfr_backend *b, size_t count, const float *dy, float *da, float *dc,
                            tfr_error *err);
tfr_status tfr_cuda_gap_fwd(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                            tfr_error *err);
tfr_status tfr_cuda_gap_bwd(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                            tfr_error *err);
tfr_status tfr_cuda_bias_rows(tfr_backend *b, int n, int k, const float *bias, float *y,
                              tfr_error *err);
tfr_status tfr_cuda_bias_grad(tfr_backend *b, int n, int k, const float *dy, float *db,
                              tfr_error *err);
tfr_status tfr_cuda_axpy(tfr_backend *b, size_t count, float a, const float *x, float *y,
                         tfr_error *err);
tfr_status tfr_cuda_softmax_ce(tfr_backend *b, int n, int k, const float *logits,
                               const int32_t *labels, float smooth, float *dlogits, float *loss,
                               tfr_error *err);
tfr_status tfr_cuda_sgd(tfr_backend *b, size_t count, float *w, const float *g, float *v, float lr,
                        float momentum, float weight_decay, tfr_error *err);
/* bf16 mode: *out = the bf16 copy of count float32 weights w, converted
 * only when w changed since (wcache.h); dst += bf16 src */
tfr_status tfr_cuda_weights_bf16(tfr_backend *b, const float *w, size_t count, const void **out,
                                 tfr_error *err);
/* dst[i] = src[i], each float (0) or bf16 (1) */
tfr_status tfr_cuda_convert(tfr_backend *b, size_t count, const void *src, int sbf, void *dst,
                            int dbf, tfr_error *err);
/* the mean plain cross-entropy and the logits as host (N, K) floats, one wait */
tfr_status tfr_cuda_loss_logits(tfr_backend *b, int n, int k, const float *logits,
                                const int32_t *labels, float *loss, float *host, tfr_error *err);
tfr_status tfr_cuda_add_bf16(tfr_backend *b, size_t count, const void *src, float *dst,
                             tfr_error *err);
/* bf16 mode: batch norm in training with the kernels of nn/elementwise.h */
tfr_status tfr_cuda_bn_train_kernels(tfr_backend *b, int n, int c, int hw, const float *x,
                                     const float *gamma, const float *beta, float *y, float *mean,
                                     float *invstd, float *run_mean, float *run_var, float momentum,
                                     float eps, tfr_error *err);
tfr_status tfr_cuda_bn_bwd_kernels(tfr_backend *b, int n, int c, int hw, const float *x,
                                   const float *gamma, const float *mean, const float *invstd,
                                   const float *dy, float *dx, float *dgamma, float *dbeta,
                                   tfr_error *err);

/* cudnn_ops.cu: every cuDNN call (convolutions, batch norm in training) */
tfr_status tfr_cuda_dnn_create(tfr_backend *b, tfr_error *err);
void       tfr_cuda_dnn_destroy(tfr_backend *b);
tfr_status tfr_cuda_conv_fwd(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             float *y, tfr_error *err);
tfr_status tfr_cuda_conv_bwd(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, tfr_error *err);
tfr_status tfr_cuda_bn_fwd(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                           const float *beta, float *y, float *mean, float *invstd, float *run_mean,
                           float *run_var, int train, float momentum, float eps, tfr_error *err);
tfr_status tfr_cuda_bn_bwd(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                           const float *mean, const float *invstd, const float *dy, float *dx,
                           float *dgamma, float *dbeta, float eps, tfr_error *err);

/* dense.cu: cuBLAS */
tfr_status tfr_cuda_dense_fwd(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                              const float *bias, float *y, tfr_error *err);
tfr_status tfr_cuda_dense_bwd(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                              const float *dy, float *dx, float *dw, float *db, tfr_error *err);

#endif
