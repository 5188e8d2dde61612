/*
 * tfrecord/nn.h - the pre-activation bottleneck ResNet, its CPU kernels
 * (OpenMP + BLAS), SGD with momentum, checkpoints and TensorBoard logs.
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
 * slower than 2. Results do not depend on the thread count.
 */
#ifndef TFRECORD_NN_H
#define TFRECORD_NN_H

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
    int width;                     /* tail output channels; level i has 2*width*2^i */
    int nlevels;
    int levels[TFR_MAX_LEVELS];    /* bottleneck blocks per level */
    int tail_pool;                 /* 2x2 max-pool after the tail conv (default 1) */
} tfr_resnet_config;

/* Presets: "fmnist" (28x28x1, 10 classes, width 16, levels 1,1,1),
 * "tiny" (for tests), "homework" (64x64x3, 200 classes, width 64, 4,6,3,2). */
tfr_status tfr_resnet_preset(const char *name, tfr_resnet_config *c, tfr_error *err);

typedef struct tfr_model tfr_model;

/* Builds the network and He-initializes it from seed. */
tfr_status tfr_model_new(const tfr_resnet_config *c, uint64_t seed, tfr_model **out,
                         tfr_error *err);
void       tfr_model_free(tfr_model *m);
const tfr_resnet_config *tfr_model_config(const tfr_model *m);
size_t     tfr_model_num_params(const tfr_model *m);
/* The parameter, gradient and momentum blocks (num_params floats each). */
float     *tfr_model_params(tfr_model *m);
float     *tfr_model_grads(tfr_model *m);

/* ---- devices -------------------------------------------------------------- */

typedef enum tfr_device_kind {
    TFR_DEVICE_CPU = 0,
    TFR_DEVICE_CUDA,
    TFR_DEVICE_AUTO /* CUDA device `index` when there is one, else the CPU */
} tfr_device_kind;

typedef enum tfr_precision {
    TFR_PRECISION_TF32 = 0, /* fp32 tensors, TF32 tensor-core math in conv/GEMM (CUDA default) */
    TFR_PRECISION_FP32,     /* IEEE fp32 throughout */
    TFR_PRECISION_BF16      /* CUDA: bf16 activations, fp32 weights, gradients and BN statistics */
} tfr_precision;

typedef struct tfr_device_opts {
    tfr_device_kind kind;
    int             index;           /* CUDA device ordinal */
    tfr_precision   precision;       /* CUDA only; the CPU is always fp32 */
    size_t          workspace_limit; /* cuDNN workspace bytes; 0 = 256 MiB */
} tfr_device_opts;

/* Parses "cpu", "cuda", "cuda:N" or "auto" (and leaves precision alone). */
tfr_status tfr_device_parse(const char *s, tfr_device_opts *d, tfr_error *err);
/* Parses "fp32", "tf32" or "bf16". */
tfr_status tfr_precision_parse(const char *s, tfr_precision *p, tfr_error *err);

/*
 * Moves the model to a device (d NULL: the CPU, where every model starts).
 * Parameters, momentum and BN statistics move with it; activations are
 * reallocated on the next pass. TFR_ERR_UNAVAILABLE when the library was
 * built without CUDA or there is no usable device (the message says which).
 * The accessors below always return current host copies, so checkpoints
 * and exports are the same files whichever device trained the model.
 */
tfr_status tfr_model_set_device(tfr_model *m, const tfr_device_opts *d, tfr_error *err);
/* "cpu (16 threads, OpenBLAS)", "cuda:0 NVIDIA H100 80GB HBM3, tf32", ... */
const char *tfr_model_device(const tfr_model *m);
tfr_device_kind tfr_model_device_kind(const tfr_model *m);
/* Copies everything the device changed back to the host copies. */
tfr_status tfr_model_to_host(tfr_model *m, tfr_error *err);
/* Waits for queued device work; reports its errors. */
tfr_status tfr_model_sync(tfr_model *m, tfr_error *err);

/*
 * Forward pass on x (n images, NCHW). train: batch statistics for BN (and
 * running averages updated); else running averages. logits receives n x
 * classes. Returns the mean cross-entropy when labels is not NULL.
 */
tfr_status tfr_model_forward(tfr_model *m, const float *x, int n, const int32_t *labels,
                             int train, float *loss, tfr_error *err);
const float *tfr_model_logits(const tfr_model *m);
/*
 * As tfr_model_forward, from uint8 pixels (n images, NHWC, the stream's
 * TFR_BATCH_U8_NHWC): normalized as (v/255 - mean)/std and, where flip is
 * not NULL and flip[i] is set, image i mirrored left-right - on the device.
 */
tfr_status tfr_model_forward_u8(tfr_model *m, const uint8_t *x, int n, const uint8_t *flip,
                                float mean, float std, const int32_t *labels, int train,
                                float *loss, tfr_error *err);
/*
 * Pipelining on a device. tfr_model_stage_u8 copies the next batch (and its
 * flips) now and starts moving it to the device behind the queued work;
 * tfr_model_forward_u8 with x NULL then runs on it. A forward pass with loss
 * NULL does not wait for the device; tfr_model_loss (the mean cross-entropy
 * of the last forward pass with labels) and tfr_model_logits do.
 */
tfr_status tfr_model_stage_u8(tfr_model *m, const uint8_t *x, int n, const uint8_t *flip,
                              tfr_error *err);
tfr_status tfr_model_loss(tfr_model *m, float *loss, tfr_error *err);

/*
 * Backward from the last forward (which must have had labels): fills the
 * gradient block with d(mean CE + l2/2 * |dense W|^2)/dparams.
 */
tfr_status tfr_model_backward(tfr_model *m, float l2, tfr_error *err);

/* SGD with momentum: v = mu*v - lr*(g + wd*w); w += v. */
tfr_status tfr_model_sgd(tfr_model *m, float lr, float momentum, float weight_decay,
                         tfr_error *err);

/* Floating-point operations of one forward pass per image (multiply-add = 2). */
double tfr_model_flops(const tfr_model *m);

/* ---- transfer learning and export ------------------------------------------- */

/* Channels of the feature vector the dense layer reads (the bottleneck). */
int tfr_model_feature_dim(const tfr_model *m);
/* Inference (running BN statistics) up to the global average pool: out gets
 * n x feature_dim floats. */
tfr_status tfr_model_features(tfr_model *m, const float *x, int n, float *out, tfr_error *err);
/*
 * A copy of backbone with a new dense layer of `classes` outputs: w is
 * classes x feature_dim, b is classes (either may be NULL: zeros).
 */
tfr_status tfr_model_with_head(const tfr_model *backbone, int classes, const float *w,
                               const float *b, tfr_model **out, tfr_error *err);
/*
 * Folds every BN that directly follows a convolution into that convolution
 * (scale = gamma / sqrt(var + eps) on its filters, offset = beta - mean *
 * scale kept as a bias); inference outputs are unchanged up to rounding.
 * Returns how many BNs were folded. Training a folded model is not meaningful.
 */
int tfr_model_fold_bn(tfr_model *m);
/* Quantizes each weight tensor to 256 evenly spaced levels between its min
 * and max (bucket centres), as TensorFlow's weights_rounded mode. */
void tfr_model_round_weights(tfr_model *m);

/* ---- checkpoints ---------------------------------------------------------- */

typedef struct tfr_train_state {
    uint64_t epoch;        /* epochs completed */
    uint64_t step;         /* optimizer steps taken */
    uint64_t seed;         /* data stream seed */
    uint64_t stream_epoch, stream_records; /* data stream position */
    double   best_val_acc;
} tfr_train_state;

/*
 * Self-describing binary: magic, version, config, parameters, momentum, BN
 * running statistics, training state, CRC-32C. Written to a temporary name
 * and renamed; a truncated or foreign file is refused on load.
 */
tfr_status tfr_checkpoint_save(const char *path, const tfr_model *m, const tfr_train_state *st,
                               tfr_error *err);
/* Loads into a new model (*out) and *st. */
tfr_status tfr_checkpoint_load(const char *path, tfr_model **out, tfr_train_state *st,
                               tfr_error *err);
/* CRC-32C of a checkpoint's contents (identifies a backbone). */
tfr_status tfr_checkpoint_checksum(const char *path, uint32_t *crc, tfr_error *err);

/* ---- training ---------------------------------------------------------------- */

/*
 * What tfr_train reports while it runs. tfr_train prints nothing: it hands
 * each event to opts->on_event (when not NULL), on the calling thread, in
 * the order below for each epoch. The event and what its pointers point at
 * are valid during the call only.
 */
typedef enum tfr_train_event_kind {
    TFR_TRAIN_RESUMED,    /* path: the checkpoint read; epoch: epochs done; step */
    TFR_TRAIN_MODEL,      /* model: the network about to train, on its device */
    TFR_TRAIN_BASELINE,   /* the untrained model (not sent when resuming): loss, accuracy,
                             chance_loss, chance_accuracy; on_val: measured on the
                             validation shards (else on the training shards) */
    TFR_TRAIN_STEP,       /* after every optimizer step: epoch, epoch_step of epoch_steps
                             (0 = unknown), images, seconds since the epoch began,
                             running loss and accuracy of the epoch, lr */
    TFR_TRAIN_PASS_END,   /* epoch: its data stream is done, also when it failed (the
                             error is returned right after); ends the STEP events */
    TFR_TRAIN_EPOCH,      /* epoch summary: epoch, step, loss, accuracy, val_loss and
                             val_accuracy (NAN without validation shards), lr, images,
                             seconds, input_wait */
    TFR_TRAIN_CHECKPOINT  /* path: the checkpoint just written (and pointed at by
                             "latest"); epoch; step */
} tfr_train_event_kind;

typedef struct tfr_train_event {
    tfr_train_event_kind kind;
    uint64_t    epoch;            /* 1-based epoch the event is about (RESUMED: epochs done) */
    int         epochs;           /* the run's total, opts->epochs */
    uint64_t    step;             /* optimizer steps taken so far, over all epochs */
    uint64_t    epoch_step, epoch_steps; /* STEP: steps done this epoch, steps per epoch */
    uint64_t    images;           /* STEP, EPOCH: images trained on this epoch */
    double      seconds;          /* STEP: since the epoch began; EPOCH: the epoch's time */
    double      input_wait;       /* EPOCH: seconds of it spent waiting for batches */
    double      loss, accuracy;   /* mean cross-entropy and accuracy (see the kind) */
    double      val_loss, val_accuracy;
    double      chance_loss, chance_accuracy; /* BASELINE: log(classes), 1/classes */
    int         on_val;           /* BASELINE */
    float       lr;               /* STEP: this step's; EPOCH: the last step's */
    const char *path;             /* RESUMED, CHECKPOINT */
    const tfr_model *model;       /* MODEL */
} tfr_train_event;

typedef void (*tfr_train_event_fn)(void *user, const tfr_train_event *ev);

typedef struct tfr_train_opts {
    const char *const *train;     /* training shards (files, dirs, globs, manifest.json) */
    int         ntrain;
    const char *const *val;       /* validation shards; may be empty */
    int         nval;
    tfr_resnet_config cfg;
    int         epochs;           /* total epochs (a resumed run continues to this) */
    int         batch;            /* default 128 */
    float       lr;               /* default 0.01 */
    float       lr_decay;         /* staircase factor, default 0.1 */
    int         lr_every;         /* epochs per decay step, default 64; 0 = none */
    int         cosine;           /* cosine decay over all epochs instead of staircase */
    int         warmup_epochs;    /* linear warm-up */
    float       momentum;         /* default 0.9 */
    float       l2;               /* L2 on the dense layer, default 5e-4 */
    float       weight_decay;     /* on every parameter, default 0 */
    uint64_t    seed;             /* model init and data order */
    int         threads;          /* decode threads; 0 = all cores */
    int         flip, pad_crop;   /* augmentation */
    float       mean, std;        /* input normalization: (x/255 - mean) / std */
    size_t      shuffle_buffer;   /* default 8192 */
    const char *logdir;           /* events, history.csv, steps.csv; NULL = none */
    const char *checkpoint_dir;   /* one checkpoint per epoch; NULL = none */
    const char *resume;           /* checkpoint file, or a dir holding "latest" */
    int         progress;         /* default 1: the caller's printer draws TFR_TRAIN_STEP */
    int         quiet;            /* the caller's printer shows nothing; tfr_train reads
                                     neither field and sends every event */
    tfr_device_opts device;       /* where to train; default the CPU */
    tfr_train_event_fn on_event;  /* the run's report (see tfr_train_event); NULL = none */
    void       *user;             /* passed to on_event as is */
} tfr_train_opts;

void tfr_train_opts_init(tfr_train_opts *o);

typedef struct tfr_eval_result {
    uint64_t images;
    double   accuracy, loss;
    uint64_t *confusion;          /* classes x classes, [true][predicted]; malloc'd */
    int      classes;
} tfr_eval_result;

/* Accuracy, mean cross-entropy and the confusion matrix over a shard set.
 * On failure res->confusion is NULL: nothing to free. */
tfr_status tfr_evaluate(tfr_model *m, const char *const *src, int nsrc, int batch, int threads,
                        float mean, float std, tfr_eval_result *res, tfr_error *err);
void tfr_eval_result_free(tfr_eval_result *r);

/*
 * The whole training run: evaluation of the untrained model beside chance,
 * epochs with step progress, validation, one checkpoint per epoch,
 * TensorBoard scalars and a CSV history. Resuming from a checkpoint
 * continues the same data stream and gives the same losses, bit for bit,
 * as an uninterrupted run with the same thread counts. Prints nothing; the
 * report goes to o->on_event. TFR_ERR_ARG with a message that says so when
 * a model on a device is given float-tensor shards (--layout tensor), which
 * only the CPU path reads.
 */
tfr_status tfr_train(const tfr_train_opts *o, tfr_error *err);

/* ---- bottleneck cache and last-layer retraining ------------------------------ */

/*
 * What tfr_retrain reports while it runs. tfr_retrain prints nothing: it
 * hands each event to opts->on_event (when not NULL), on the calling thread,
 * in the order below. res points at the run's result as filled so far. The
 * event and what its pointers point at are valid during the call only.
 */
typedef enum tfr_retrain_event_kind {
    TFR_RETRAIN_DEVICE,            /* device: the backbone moved there (only when
                                      opts->device is not the CPU) */
    TFR_RETRAIN_CACHE,             /* images, res->classes, res->reused, res->computed,
                                      res->rebuilt and res->rebuild_reason */
    TFR_RETRAIN_BOTTLENECKS_BEGIN, /* total: bottlenecks to compute (only when > 0) */
    TFR_RETRAIN_BOTTLENECKS,       /* done of total computed */
    TFR_RETRAIN_BOTTLENECKS_END,   /* after BEGIN, also when computing failed (the error
                                      is returned right after) */
    TFR_RETRAIN_DISTORTIONS,       /* distortions are on: training batches bypass the cache */
    TFR_RETRAIN_EVAL,              /* every opts->eval_every steps and at the last: step of
                                      steps; batch_right of the step's batch images right
                                      and their mean cross_entropy; val_accuracy (NAN
                                      without validation images) of res->n_val */
    TFR_RETRAIN_TRAINED,           /* steps, res->test_accuracy, res->n_test,
                                      res->seconds_training */
    TFR_RETRAIN_FOLDED,            /* res->folded, res->fold_max_diff */
    TFR_RETRAIN_ROUNDED,           /* res->gzip_bytes, res->gzip_bytes_rounded,
                                      res->test_accuracy, res->rounded_accuracy */
    TFR_RETRAIN_WROTE              /* model_path and labels_path written in opts->out_dir */
} tfr_retrain_event_kind;

typedef struct tfr_retrain_event {
    tfr_retrain_event_kind    kind;
    const struct tfr_retrain_result *res; /* defined below */
    const char *device;                   /* DEVICE: tfr_model_device() of the backbone */
    uint64_t    images;                   /* CACHE: images found */
    uint64_t    done, total;              /* BOTTLENECKS* */
    int         step, steps;              /* EVAL, TRAINED */
    int         batch_right, batch;       /* EVAL */
    double      cross_entropy, val_accuracy; /* EVAL */
    const char *model_path, *labels_path; /* WROTE */
} tfr_retrain_event;

typedef void (*tfr_retrain_event_fn)(void *user, const tfr_retrain_event *ev);

typedef struct tfr_retrain_opts {
    const char *backbone;        /* checkpoint of the frozen network */
    const char *images;          /* class-per-directory image tree */
    const char *cache_dir;       /* bottleneck cache (TFRecords + cache.json) */
    const char *out_dir;         /* model.tfrc (backbone + new head) and labels.txt */
    int         steps;           /* default 4000 */
    float       lr;              /* default 0.01 */
    int         batch;           /* default 100 */
    int         eval_every;      /* default 10 */
    float       val_percent, test_percent; /* default 10 and 10 */
    int         flip;            /* distortions: bypass the cache for training images */
    float       random_crop, random_scale, random_brightness; /* percentages */
    float       mean, std;       /* input normalization, as the backbone was trained */
    uint64_t    seed;
    const char *logdir;          /* TensorBoard events; NULL = none */
    int         fold_bn, round_weights;
    int         quiet, progress; /* for the caller's printer (no report; a progress bar);
                                    tfr_retrain reads neither and sends every event */
    tfr_device_opts device;      /* where the backbone runs; default the CPU */
    tfr_retrain_event_fn on_event; /* the run's report (see tfr_retrain_event); NULL = none */
    void       *user;            /* passed to on_event as is */
} tfr_retrain_opts;

void tfr_retrain_opts_init(tfr_retrain_opts *o);

typedef struct tfr_retrain_result {
    uint64_t computed, reused;   /* bottlenecks */
    int      rebuilt;            /* the whole cache was rebuilt */
    char     rebuild_reason[256];
    int      classes;
    uint64_t n_train, n_val, n_test;
    double   val_accuracy, test_accuracy;
    int      folded;             /* BNs folded */
    double   fold_max_diff;      /* largest logit change from folding */
    double   rounded_accuracy;   /* test accuracy after rounding */
    size_t   gzip_bytes, gzip_bytes_rounded;
    double   seconds_bottlenecks, seconds_training;
} tfr_retrain_result;

/*
 * Loads the backbone, computes (or reuses from opts->cache_dir) every
 * image's bottleneck, trains the new head and writes it with the backbone
 * to opts->out_dir. Fills *res. Prints nothing; the report goes to
 * opts->on_event.
 */
tfr_status tfr_retrain(const tfr_retrain_opts *o, tfr_retrain_result *res, tfr_error *err);

/* Decodes an encoded image and prepares it as the model's input (NCHW). */
tfr_status tfr_model_preprocess(const tfr_model *m, const uint8_t *data, size_t n, float mean,
                                float std, float *out, tfr_error *err);

/* ---- TensorBoard event files ----------------------------------------------- */

typedef struct tfr_events tfr_events;
/* Creates LOGDIR/events.out.tfevents.<time>.<host>.<pid>.0.v2 (uncompressed TFRecords). */
tfr_status tfr_events_open(const char *logdir, tfr_events **out, tfr_error *err);
tfr_status tfr_events_scalar(tfr_events *e, const char *tag, int64_t step, float value,
                             tfr_error *err);
tfr_status tfr_events_flush(tfr_events *e, tfr_error *err);
void       tfr_events_close(tfr_events *e);
const char *tfr_events_path(const tfr_events *e);

#ifdef __cplusplus
}
#endif

#endif
