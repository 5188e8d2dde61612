/*
 * nn/backend.h - the table of operations a compute backend provides.
 *
 * The model (model.c) is backend-neutral: it owns the tape of ops and calls
 * these functions on buffers the backend allocated. The CPU backend
 * (nn/cpu/ops_cpu.c) wraps the reference kernels of nn_impl.h; the CUDA
 * backend (nn/cuda/) runs cuDNN, cuBLAS and its own kernels.
 *
 * Layouts. Every buffer passed to an op is backend memory.
 * Activations and their gradients are float32, or bf16 where act_bytes says
 * 2; parameters, parameter gradients and BN statistics are always float32. Activations are in
 * the backend's own layout: NCHW on the CPU, NHWC on CUDA; `input_*` and
 * `act_to_host` convert from and to host NCHW. Convolution filters are (K, C,
 * R, S) in checkpoints and on the CPU, (K, R, S, C) on CUDA: `filter_layout`
 * converts one filter between the two inside backend memory. Everything
 * else (BN parameters and statistics, dense weights (K, C), logits (N, K),
 * features (N, C)) is the same on every backend.
 *
 * Semantics are those of the CPU twins in nn_impl.h: backward ops ADD into
 * dx, dw, dgamma, dbeta, db (the model zeroes them first), so a tensor read
 * by two ops receives both gradients. dx may be NULL where no input gradient
 * is needed (the first convolution).
 *
 * Ops are asynchronous on CUDA: they return once queued, and report launch
 * errors; `sync` reports errors of queued work. Transfers to the host
 * (`download`, `act_to_host`, a non-NULL loss) wait for the queued work.
 */
#ifndef TFR_NN_BACKEND_H
#define TFR_NN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "nn/nn_impl.h"
#include "tfrecord/error.h"

typedef struct tfr_backend tfr_backend;

typedef enum tfr_precision_mode {
    TFR_MATH_FP32 = 0, /* IEEE fp32 everywhere */
    TFR_MATH_TF32,     /* tensor cores with TF32 inputs for convolutions and GEMMs */
    TFR_MATH_BF16      /* bf16 activations (and their gradients), fp32 accumulation,
                        * fp32 parameters, gradients and BN statistics */
} tfr_precision_mode;

typedef struct tfr_backend_opts {
    int                device;          /* CUDA device ordinal */
    tfr_precision_mode math;
    size_t             workspace_limit; /* cuDNN workspace bytes; 0 = 256 MiB */
} tfr_backend_opts;

typedef struct tfr_ops {
    const char *name; /* "cpu" or "cuda" */
    int         host_memory; /* 1: backend buffers are ordinary host memory */

    tfr_status (*create)(const tfr_backend_opts *o, tfr_backend **b, tfr_error *err);
    void (*destroy)(tfr_backend *b);
    /* a short description: "cpu (16 threads)", "cuda:0 NVIDIA H100 ..., tf32" */
    const char *(*describe)(const tfr_backend *b);
    /* bytes per activation element: 4, or 2 in bf16 mode (activation
     * buffers are then bf16 behind the float pointers below) */
    size_t (*act_bytes)(const tfr_backend *b);

    /* zero-filled; NULL (with err set) on failure */
    void *(*alloc)(tfr_backend *b, size_t bytes, tfr_error *err);
    void (*release)(tfr_backend *b, void *p);
    tfr_status (*upload)(tfr_backend *b, void *dst, const void *src, size_t bytes, tfr_error *err);
    tfr_status (*download)(tfr_backend *b, void *dst, const void *src, size_t bytes,
                           tfr_error *err);
    tfr_status (*copy)(tfr_backend *b, void *dst, const void *src, size_t bytes, tfr_error *err);
    tfr_status (*zero)(tfr_backend *b, void *p, size_t bytes, tfr_error *err);
    tfr_status (*sync)(tfr_backend *b, tfr_error *err);
    /* optional: the devices this process sees (cudaGetDeviceCount) */
    int (*device_count)(void);
    /* optional: the stream the ops are queued on (a cudaStream_t), for
     * collectives queued behind them (tfr_train_comm.mean_dev_f32) */
    void *(*native_stream)(tfr_backend *b);
    /* makes this backend's device current for the calling thread (NULL: nothing to do);
     * the model calls it on entry, so a model may be used from any thread */
    tfr_status (*activate)(tfr_backend *b, tfr_error *err);

    /* one filter of cv between (K, C, R, S) and the backend's layout */
    tfr_status (*filter_layout)(tfr_backend *b, const tfr_conv2d *cv, const float *src, float *dst,
                                int to_backend, tfr_error *err);
    /* host float NCHW -> activation */
    tfr_status (*input_f32)(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                            tfr_error *err);
    /* host uint8 NHWC pixels -> activation, (v / 255 - mean) / std, image i mirrored
     * left-right when flip && flip[i]. x NULL: the batch given to stage_u8 (and
     * its flips) instead */
    tfr_status (*input_u8)(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                           const uint8_t *flip, float mean, float std, float *y, tfr_error *err);
    /* takes a copy of the next batch (and flip, may be NULL) now and starts
     * moving it to the device, while queued work goes on; x and flip may be
     * reused at once */
    tfr_status (*stage_u8)(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                           const uint8_t *flip, tfr_error *err);
    /* activation -> host float NCHW */
    tfr_status (*act_to_host)(tfr_backend *b, int n, int c, int h, int w, const float *x,
                              float *host, tfr_error *err);

    tfr_status (*conv2d_fwd)(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             float *y, tfr_error *err);
    tfr_status (*conv2d_bwd)(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, tfr_error *err);
    /* train: batch statistics saved in mean/invstd, running ones updated with
     * momentum (unbiased variance); else running statistics */
    tfr_status (*bn_fwd)(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                         const float *beta, float *y, float *mean, float *invstd, float *run_mean,
                         float *run_var, int train, float momentum, float eps, tfr_error *err);
    tfr_status (*bn_bwd)(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                         const float *mean, const float *invstd, const float *dy, float *dx,
                         float *dgamma, float *dbeta, float eps, tfr_error *err);
    /* optional (NULL: the model runs bn then relu): batch norm and the ReLU
     * that alone reads its output, in one op; y is the ReLU's output and dy
     * the gradient at it, the BN output is never stored. Bit for bit the
     * unfused pair. */
    tfr_status (*bn_relu_fwd)(tfr_backend *b, int n, int c, int hw, const float *x,
                              const float *gamma, const float *beta, float *y, float *mean,
                              float *invstd, float *run_mean, float *run_var, int train,
                              float momentum, float eps, tfr_error *err);
    tfr_status (*bn_relu_bwd)(tfr_backend *b, int n, int c, int hw, const float *x,
                              const float *gamma, const float *mean, const float *invstd,
                              const float *y, const float *dy, float *dx, float *dgamma,
                              float *dbeta, float eps, tfr_error *err);
    tfr_status (*relu_fwd)(tfr_backend *b, size_t count, const float *x, float *y, tfr_error *err);
    tfr_status (*relu_bwd)(tfr_backend *b, size_t count, const float *y, const float *dy,
                           float *dx, tfr_error *err);
    /* 2x2 stride-2 max pool; idx: one int32 per output */
    tfr_status (*pool_fwd)(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                           int32_t *idx, tfr_error *err);
    tfr_status (*pool_bwd)(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                           const float *dy, float *dx, tfr_error *err);
    tfr_status (*add_fwd)(tfr_backend *b, size_t count, const float *a, const float *c, float *y,
                          tfr_error *err);
    /* da += dy; dc += dy */
    tfr_status (*add_bwd)(tfr_backend *b, size_t count, const float *dy, float *da, float *dc,
                          tfr_error *err);
    tfr_status (*gap_fwd)(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                          tfr_error *err);
    tfr_status (*gap_bwd)(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                          tfr_error *err);
    tfr_status (*dense_fwd)(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                            const float *bias, float *y, tfr_error *err);
    tfr_status (*dense_bwd)(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                            const float *dy, float *dx, float *dw, float *db, tfr_error *err);
    /* y += a * x */
    tfr_status (*axpy)(tfr_backend *b, size_t count, float a, const float *x, float *y,
                       tfr_error *err);
    /* mean cross-entropy of logits (backend memory) against host labels
     * smoothed by `smooth` (target (1 - smooth) onehot + smooth / k; 0: the
     * plain one-hot); dlogits (backend memory, may be NULL) = (softmax -
     * target) / n; *loss (may be NULL: nothing waits) receives the mean */
    tfr_status (*softmax_ce)(tfr_backend *b, int n, int k, const float *logits,
                             const int32_t *labels, float smooth, float *dlogits, float *loss,
                             tfr_error *err);
    /* optional (NULL: softmax_ce with a loss, then act_to_host): the mean
     * plain cross-entropy of logits (N, K, backend memory) against host
     * labels into *loss and the logits into host (N, K) floats, waiting
     * for the queued work once */
    tfr_status (*loss_logits)(tfr_backend *b, int n, int k, const float *logits,
                              const int32_t *labels, float *loss, float *host, tfr_error *err);
    /* v = mu*v - lr*(g + wd*w); w += v */
    tfr_status (*sgd)(tfr_backend *b, size_t count, float *w, const float *g, float *v, float lr,
                      float momentum, float weight_decay, tfr_error *err);
} tfr_ops;

const tfr_ops *tfr_ops_cpu(void);
/* The CPU backend with oneDNN's convolutions, or NULL with err->code
 * TFR_ERR_UNAVAILABLE when the library was built without oneDNN. */
const tfr_ops *tfr_ops_onednn(tfr_error *err);
/* The CUDA table, or NULL with err->code TFR_ERR_UNAVAILABLE when the
 * library was built without CUDA or no device can be used (err says which). */
const tfr_ops *tfr_ops_cuda(tfr_error *err);
/* Tests only: answer tfr_ops_cuda() with this table (NULL: the real one). */
void tfr_ops_cuda_stand_in(const tfr_ops *ops);

struct tfr_model;

/* The model's gradients and batch-norm statistics as device buffers, made
 * the current copies (the host's are then stale until next asked for), and
 * the backend's stream (NULL where it has none); for the collectives of
 * data-parallel training on a device. */
tfr_status tfr_model_dev_blocks(struct tfr_model *m, float **grads, size_t *ngrads,
                                float **stats, size_t *nstats, void **stream, tfr_error *err);

/*
 * The backward pass (tfr_model_backward) handing over the gradients as it
 * finishes them, for collectives that overlap the rest of it: once the ops
 * writing a range are queued and no op still to run writes there, and the
 * range has reached `bucket` floats (0: any size), ready(user, grads + lo,
 * n) with the range in device memory. The ranges go from the end of the
 * gradient block down, never overlap, and leave [0, *rest) for the caller
 * to finish.
 */
typedef tfr_status (*tfr_grads_ready_fn)(void *user, float *grads, size_t n, tfr_error *err);
tfr_status tfr_model_backward_buckets(struct tfr_model *m, float l2, size_t bucket,
                                      tfr_grads_ready_fn ready, void *user, size_t *rest,
                                      tfr_error *err);

/* Moves a model onto any op table (tfr_model_set_device picks cpu or cuda;
 * tests use this for their own tables). On failure the model is on the CPU
 * with its values intact. */
tfr_status tfr_model_set_backend(struct tfr_model *m, const tfr_ops *ops,
                                 const tfr_backend_opts *bo, tfr_error *err);

#ifdef TFR_OPS_CUDA_IMPL
/* provided by nn/cuda/ (C linkage) */
#ifdef __cplusplus
extern "C" {
#endif
const tfr_ops *tfr_cuda_ops_table(void);
/* 0 and a device count > 0, or an error naming the reason */
tfr_status tfr_cuda_probe(int *devices, tfr_error *err);
#ifdef __cplusplus
}
#endif
#endif

#endif
