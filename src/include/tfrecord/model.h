/*
 * tfrecord/model.h - the pre-activation ResNet (bottleneck or basic blocks): configuration and
 * presets, the model (forward, backward, SGD with momentum), devices, and
 * the transfer-learning and export transforms.
 *
 * Tensors are float32 NCHW on the CPU (NHWC on CUDA, see
 * tfr_model_set_device). The network is a tape of ops over numbered
 * tensors; backward runs the tape in reverse and accumulates gradients, so
 * a tensor read by two ops (residual shortcuts) gets both contributions.
 * Parameters, their gradients and the momentum buffers are one block each.
 *
 * Threads: the CPU kernels run single-threaded BLAS calls on OpenMP threads
 * (OMP_NUM_THREADS); tfr_model_new() sets OpenBLAS to one thread for the
 * whole process, since two thread pools spinning side by side made 16 cores
 * slower than 2. Results do not depend on the thread count. A model must not
 * be used from two threads at once.
 */
#ifndef TFRECORD_MODEL_H
#define TFRECORD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFR_MAX_LEVELS 8

typedef struct tfr_resnet_config {
    int in_h, in_w, in_c;          /* input size */
    int classes;
    int width;                     /* tail output channels; level i has 4*width*2^i
                                      (bottleneck) or width*2^i (basic) */
    int nlevels;
    int levels[TFR_MAX_LEVELS];    /* blocks per level */
    int tail_pool;                 /* 2x2 max-pool after the tail conv (default 1) */
    int block;                     /* TFR_RESNET_BOTTLENECK (0, the default) or TFR_RESNET_BASIC */
} tfr_resnet_config;

/* Residual blocks, pre-activation both (a = ReLU(BN(x)), out = f(a) + x or
 * its projection): a bottleneck is 1x1 to N/4, 3x3, 1x1 back to N; a basic
 * block is two 3x3 convolutions of N channels (as ResNet-18's). */
enum { TFR_RESNET_BOTTLENECK = 0, TFR_RESNET_BASIC = 1 };

/* Presets: "fmnist" (28x28x1, 10 classes, width 16, levels 1,1,1),
 * "tiny" (for tests), "homework" (64x64x3, 200 classes, width 64, 4,6,3,2). */
TFR_API tfr_status tfr_resnet_preset(const char *name, tfr_resnet_config *c, tfr_error *err);
/* "bottleneck" or "basic" (the config's block) */
TFR_API const char *tfr_resnet_block_name(const tfr_resnet_config *c);

typedef struct tfr_model tfr_model;

/* Builds the network and He-initializes it from seed. */
TFR_API tfr_status tfr_model_new(const tfr_resnet_config *c, uint64_t seed, tfr_model **out,
                                 tfr_error *err);
TFR_API void       tfr_model_free(tfr_model *m);
TFR_API const tfr_resnet_config *tfr_model_config(const tfr_model *m);
TFR_API size_t     tfr_model_num_params(const tfr_model *m);
/*
 * The host copies of the parameter and gradient blocks (num_params floats
 * each), which the caller may change. On a device they are first copied
 * back, and the device copy is refreshed from them before its next use. The
 * block keeps its address until tfr_model_free(); on a device its contents
 * are current until the next call that changes the model there. On failure
 * (the copy back failed) returns the error, fills *err and sets *out to NULL.
 */
TFR_API tfr_status tfr_model_params(tfr_model *m, float **out /* OUT */, tfr_error *err);
TFR_API tfr_status tfr_model_grads(tfr_model *m, float **out /* OUT */, tfr_error *err);
/* The batch-norm running statistics (every BN layer's running mean, then
 * its running variance), *n floats, on the same terms as the blocks above:
 * data-parallel training averages them over the replicas. */
TFR_API tfr_status tfr_model_bn_stats(tfr_model *m, float **out /* OUT */, size_t *n /* OUT */,
                                      tfr_error *err);

/* ---- devices -------------------------------------------------------------- */

typedef enum tfr_device_kind {
    TFR_DEVICE_CPU = 0,
    TFR_DEVICE_CUDA,
    TFR_DEVICE_AUTO,  /* CUDA device `index` when there is one, else the CPU
                       * (oneDNN's table where built, else the reference) */
    TFR_DEVICE_ONEDNN /* the CPU with oneDNN's convolutions (a build with libdnnl) */
} tfr_device_kind;

typedef enum tfr_precision {
    TFR_PRECISION_TF32 = 0, /* fp32 tensors, TF32 tensor-core math in conv/GEMM (CUDA default) */
    TFR_PRECISION_FP32,     /* IEEE fp32 throughout */
    TFR_PRECISION_BF16      /* CUDA: bf16 activations, fp32 weights, gradients and BN statistics;
                             * onednn: convolutions read bf16 inputs, write fp32 */
} tfr_precision;

typedef struct tfr_device_opts {
    tfr_device_kind kind;
    int             index;           /* CUDA device ordinal; < 0: not named (tfr_device_parse
                                        of "cuda" or "auto"): cuda:0, or under data-parallel
                                        training the rank's (tfr_train_comm.local_rank) */
    tfr_precision   precision;       /* CUDA; on the CPU fp32, or bf16 on the onednn table */
    size_t          workspace_limit; /* cuDNN workspace bytes; 0 = 256 MiB */
} tfr_device_opts;

/* Parses "cpu", "onednn", "cuda", "cuda:N" or "auto" (and leaves precision alone). */
TFR_API tfr_status tfr_device_parse(const char *s, tfr_device_opts *d, tfr_error *err);
/* Parses "fp32", "tf32" or "bf16". */
TFR_API tfr_status tfr_precision_parse(const char *s, tfr_precision *p, tfr_error *err);
/* 1 when d asks for something other than the reference CPU table every
 * model starts on, so tfr_model_set_device must run (and may refuse: bf16
 * named on "cpu" is refused there, never dropped). */
TFR_API int tfr_device_moves(const tfr_device_opts *d);

/*
 * Moves the model to a device (d NULL: the CPU, where every model starts).
 * Parameters, momentum and BN statistics move with it; activations are
 * reallocated on the next pass. TFR_ERR_UNAVAILABLE when the library was
 * built without CUDA or there is no usable device (the message says which).
 * The accessors below always return current host copies, so checkpoints
 * and exports are the same files whichever device trained the model.
 */
TFR_API tfr_status tfr_model_set_device(tfr_model *m, const tfr_device_opts *d, tfr_error *err);
/* As tfr_model_set_device for a data-parallel rank: a CUDA device not named
 * (d->index < 0) is cuda:(local_rank % the devices this process sees), so
 * one rank per GPU when a machine's ranks see every GPU, and cuda:0 when
 * the launcher gives each rank one (CUDA_VISIBLE_DEVICES). */
TFR_API tfr_status tfr_model_set_device_rank(tfr_model *m, const tfr_device_opts *d,
                                             int local_rank, tfr_error *err);
/* "cpu (16 threads, OpenBLAS, spin 20000 then sleep)", "cuda:0 NVIDIA H100 80GB HBM3, tf32", ... */
TFR_API const char *tfr_model_device(const tfr_model *m);
TFR_API tfr_device_kind tfr_model_device_kind(const tfr_model *m);
/* Copies everything the device changed back to the host copies. */
TFR_API tfr_status tfr_model_to_host(tfr_model *m, tfr_error *err);
/* Waits for queued device work; reports its errors. */
TFR_API tfr_status tfr_model_sync(tfr_model *m, tfr_error *err);

/*
 * Forward pass on x (n images, NCHW). train: batch statistics for BN (and
 * running averages updated); else running averages. logits receives n x
 * classes. Returns the mean cross-entropy when labels is not NULL.
 */
TFR_API tfr_status tfr_model_forward(tfr_model *m, const float *x, int n, const int32_t *labels,
                                     int train, float *loss, tfr_error *err);
/*
 * The logits of the last forward pass (n x classes floats), copied back from
 * the device if needed (which waits for it). *out stays valid until the next
 * forward pass or tfr_model_free(). On failure returns the error, fills *err
 * and sets *out to NULL.
 */
TFR_API tfr_status tfr_model_logits(const tfr_model *m, const float **out /* OUT */, tfr_error *err);
/*
 * As tfr_model_forward, from uint8 pixels (n images, NHWC, the stream's
 * TFR_BATCH_U8_NHWC): normalized as (v/255 - mean)/std and, where flip is
 * not NULL and flip[i] is set, image i mirrored left-right - on the device.
 */
TFR_API tfr_status tfr_model_forward_u8(tfr_model *m, const uint8_t *x, int n, const uint8_t *flip,
                                        float mean, float std, const int32_t *labels, int train,
                                        float *loss, tfr_error *err);
/*
 * Pipelining on a device. tfr_model_stage_u8 copies the next batch (and its
 * flips) now and starts moving it to the device behind the queued work;
 * tfr_model_forward_u8 with x NULL then runs on it. A forward pass with loss
 * NULL does not wait for the device; tfr_model_loss (the mean cross-entropy
 * of the last forward pass with labels) and tfr_model_logits do. One batch
 * is staged at a time: staging another, or tfr_model_forward_u8 with an x,
 * while one waits is TFR_ERR_ARG (it would replace the staged batch).
 */
TFR_API tfr_status tfr_model_stage_u8(tfr_model *m, const uint8_t *x, int n, const uint8_t *flip,
                                      tfr_error *err);
TFR_API tfr_status tfr_model_loss(tfr_model *m, float *loss, tfr_error *err);
/*
 * tfr_model_loss and tfr_model_logits together, waiting for the device once
 * (one transfer carries both): what a training or evaluation loop that
 * needs both after every batch should call. *logits as tfr_model_logits.
 */
TFR_API tfr_status tfr_model_loss_logits(tfr_model *m, float *loss, const float **logits,
                                         tfr_error *err);

/*
 * Backward from the last forward (which must have had labels): fills the
 * gradient block with d(mean CE + l2/2 * |dense W|^2)/dparams, the
 * cross-entropy against label-smoothed targets when set below.
 */
TFR_API tfr_status tfr_model_backward(tfr_model *m, float l2, tfr_error *err);
/* Label smoothing of the backward pass: targets (1 - eps) onehot + eps /
 * classes, 0 <= eps < 1 (default 0). The losses the forward pass reports
 * stay the plain cross-entropy. */
TFR_API tfr_status tfr_model_set_label_smoothing(tfr_model *m, float eps, tfr_error *err);

/* SGD with momentum: v = mu*v - lr*(g + wd*w); w += v. */
TFR_API tfr_status tfr_model_sgd(tfr_model *m, float lr, float momentum, float weight_decay,
                                 tfr_error *err);

/* Floating-point operations of one forward pass per image (multiply-add = 2). */
TFR_API double tfr_model_flops(const tfr_model *m);

/* ---- transfer learning and export ------------------------------------------- */

/* Channels of the feature vector the dense layer reads (the bottleneck). */
TFR_API int tfr_model_feature_dim(const tfr_model *m);
/* Inference (running BN statistics) up to the global average pool: out gets
 * n x feature_dim floats. */
TFR_API tfr_status tfr_model_features(tfr_model *m, const float *x, int n, float *out, tfr_error *err);
/*
 * A copy of backbone with a new dense layer of `classes` outputs: w is
 * classes x feature_dim, b is classes (either may be NULL: zeros).
 */
TFR_API tfr_status tfr_model_with_head(const tfr_model *backbone, int classes, const float *w,
                                       const float *b, tfr_model **out, tfr_error *err);
/*
 * Folds every BN that directly follows a convolution into that convolution
 * (scale = gamma / sqrt(var + eps) on its filters, offset = beta - mean *
 * scale kept as a bias); inference outputs are unchanged up to rounding.
 * Sets *folded to how many BNs were folded (0 on failure: the model is then
 * unchanged). Training a folded model is not meaningful.
 */
TFR_API tfr_status tfr_model_fold_bn(tfr_model *m, int *folded /* OUT */, tfr_error *err);
/* Quantizes each weight tensor to 256 evenly spaced levels between its min
 * and max (bucket centres), as TensorFlow's weights_rounded mode. On
 * failure (the parameters could not be copied back) the model is unchanged. */
TFR_API tfr_status tfr_model_round_weights(tfr_model *m, tfr_error *err);

/*
 * The parameter tensors, in the order of the parameter block: each conv's
 * kernel ("conv07/kernel"), each batch norm's gamma and beta ("bn03/gamma"),
 * the dense layer's kernel and bias. The counts add up to num_params.
 * Fills out[0..max) and returns how many there are.
 */
typedef struct tfr_param_group {
    char   name[32];
    size_t offset, count;   /* into the tfr_model_params / tfr_model_grads blocks */
} tfr_param_group;
TFR_API int tfr_model_param_groups(const tfr_model *m, tfr_param_group *out, int max);

/* ---- what the outputs and the input mean (checkpoints keep it) -------------- */

/*
 * Class names: names[i] names output first + i, the labels the data holds
 * (first is the --label-offset it was written with; outputs below it, a
 * background class, have no name); first + n <= classes, else TFR_ERR_ARG.
 * The names are copied and replace earlier ones; n = 0 clears them. A NULL
 * entry leaves that output unnamed.
 */
TFR_API tfr_status tfr_model_set_class_names(tfr_model *m, const char *const *names, int n,
                                             int first, tfr_error *err);
/* The name of output k, NULL when it has none. */
TFR_API const char *tfr_model_class_name(const tfr_model *m, int k);
/* How many names were set (0: none) and, in *first, the output of the first. */
TFR_API int tfr_model_class_names(const tfr_model *m, int *first);
/* The input normalization the model is trained with: (x/255 - mean) / std. */
TFR_API void tfr_model_set_normalization(tfr_model *m, float mean, float std);
/* 1 and *mean, *std when known (set, or read from a checkpoint); else 0. */
TFR_API int  tfr_model_normalization(const tfr_model *m, float *mean, float *std);

/* ---- input ------------------------------------------------------------------ */

/* Decodes an encoded image and prepares it as the model's input (NCHW). */
TFR_API tfr_status tfr_model_preprocess(const tfr_model *m, const uint8_t *data, size_t n, float mean,
                                        float std, float *out, tfr_error *err);
/* The same image before normalization: in_h x in_w x in_c uint8 pixels
 * (HWC), the "pixels" input of an ONNX export (tfrecord/onnx.h). */
TFR_API tfr_status tfr_model_preprocess_u8(const tfr_model *m, const uint8_t *data, size_t n,
                                           uint8_t *out, tfr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_MODEL_H */
