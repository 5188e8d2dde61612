/*
 * tfrecord/train.h - the training driver (shards -> stream -> model ->
 * checkpoints, TensorBoard events, CSV history) and evaluation over a
 * shard set.
 *
 * These drivers, unlike the layers below them, may print: a progress line
 * on a terminal unless quiet.
 */
#ifndef TFRECORD_TRAIN_H
#define TFRECORD_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"
#include "tfrecord/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What tfr_train reports while it runs. tfr_train prints nothing: it hands
 * each event to opts->on_event (when not NULL), on the calling thread, in
 * the order below for each epoch. The event and what its pointers point at
 * are valid during the call only.
 */
typedef enum tfr_train_event_kind {
    TFR_TRAIN_INPUT,      /* text: what the run reads (tfr_train_inputs.text), first */
    TFR_TRAIN_RESUMED,    /* path: the checkpoint read; epoch: epochs done; step; text:
                             NULL, or what changed in the learning-rate schedule */
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
    double      comm_wait;        /* EPOCH, data parallel (tfr_train_comm): seconds of it in
                                     the ranks' sums (the all-reduce and waiting for the
                                     slowest rank) */
    double      loss, accuracy;   /* mean cross-entropy and accuracy (see the kind) */
    double      val_loss, val_accuracy;
    double      chance_loss, chance_accuracy; /* BASELINE: log(classes), 1/classes */
    int         on_val;           /* BASELINE */
    float       lr;               /* STEP: this step's; EPOCH: the last step's */
    const char *path;             /* RESUMED, CHECKPOINT */
    const char *text;             /* INPUT */
    const tfr_model *model;       /* MODEL */
} tfr_train_event;

typedef void (*tfr_train_event_fn)(void *user, const tfr_train_event *ev);

/* The training run. Start from tfr_train_opts_init (struct_size: see
 * tfrecord/error.h). */
/*
 * Data-parallel training across processes: the caller's collectives
 * (tfrecord-train implements them with MPI). Every rank runs tfr_train with
 * the same options and its own rank; each reads its share of every epoch
 * (the stream's rank/world, split by records) in batches of batch / world,
 * and before every SGD step the gradients and the batch-norm running
 * statistics are averaged over the ranks, so every replica stays the same
 * model. Batch-norm batch statistics are per replica (as PyTorch DDP's
 * default). Rank 0 alone writes checkpoints and logs (every rank evaluates
 * the whole validation set: the replicas are one model); the epoch
 * loss and accuracy are over every rank's images.
 */
typedef struct tfr_train_comm {
    int   rank, world;
    /*
     * Sums n values over the ranks into data on every rank, in rank order
     * (rank 0's value, plus rank 1's, ...), so that every rank gets the same
     * bits and a rerun with the same world the same result. A failure (a
     * rank gone) is an error naming what failed.
     */
    tfr_status (*sum_f32)(void *user, float *data, size_t n, tfr_error *err);
    tfr_status (*sum_f64)(void *user, double *data, size_t n, tfr_error *err);
    void *user;
    /* this rank's place among the ranks of its machine: a model on a CUDA
     * device not named by ordinal (tfr_device_opts.index < 0) goes to
     * cuda:(local_rank % the devices it sees) */
    int   local_rank;
    /*
     * Optional (NULL: the host sums above): for a model on a device, a and
     * b (na and nb floats of device memory: the gradients and the
     * batch-norm running statistics) replaced by their means over the
     * ranks, queued on `stream` (the device's cudaStream_t) behind the
     * backward pass, as NCCL's all-reduce with ncclAvg does. Returns once
     * the means are done or queued; a failure names the rank.
     */
    tfr_status (*mean_dev_f32)(void *user, float *a, size_t na, float *b, size_t nb,
                               void *stream, tfr_error *err);
    /*
     * Optional, with mean_dev_f32: buckets of the gradients handed over as
     * the backward pass finishes them (n floats of device memory, their
     * backward ops queued on stream), so that their means overlap the
     * rest of it, as PyTorch DDP's buckets do; mean_dev_f32 then gets the
     * gradients left over, the statistics, and completes every mean.
     * bucket_floats: a bucket's least size (0: 4 Mi floats, 16 MB).
     */
    tfr_status (*mean_dev_start)(void *user, float *dev, size_t n, void *stream,
                                 tfr_error *err);
    size_t bucket_floats;
} tfr_train_comm;

typedef struct tfr_train_opts {
    size_t      struct_size;      /* sizeof(tfr_train_opts), set by _init */
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
    int         threads;          /* every thread of the run: N decode, then (on the
                                     CPU) the same N compute, taking turns; sizes
                                     the OpenMP pool for the run. 0 = the OpenMP
                                     pool as it is (tfr_compute_threads()) */
    int         flip, pad_crop;   /* augmentation */
    float       erase;            /* random erasing probability (tfr_stream_opts.random_erase) */
    float       label_smoothing;  /* 0 <= eps < 1 (tfr_model_set_label_smoothing), default 0 */
    int         tta_flip;         /* validation averages each image's and its mirror's
                                     probabilities (tfr_evaluate_flip) */
    float       mean, std;        /* input normalization: (x/255 - mean) / std */
    size_t      shuffle_buffer;   /* default 8192 */
    const char *logdir;           /* TensorBoard runs LOGDIR/train, LOGDIR/validation (and the
                                     hparams session in LOGDIR), history.csv, steps.csv,
                                     history.png; NULL = none */
    int         log_every;        /* batch_loss every N steps (default 20; 0 = none) */
    const char *checkpoint_dir;   /* one checkpoint per epoch; NULL = none */
    const char *resume;           /* checkpoint file, or a dir holding "latest" */
    int         progress;         /* default 1: the caller's printer draws TFR_TRAIN_STEP */
    int         quiet;            /* the caller's printer shows nothing; tfr_train reads
                                     neither field and sends every event */
    tfr_device_opts device;       /* where to train; default the CPU */
    const char *plot;             /* with logdir: the PNG of history.csv redrawn after every
                                     epoch (tfr_history_plot); NULL = LOGDIR/history.png */
    tfr_train_event_fn on_event;  /* the run's report (see tfr_train_event); NULL = none */
    void       *user;             /* passed to on_event as is */
    /* data-parallel training: NULL (or world 1) = this process alone */
    const tfr_train_comm *comm;
    /*
     * Without comm: N > 1 trains as N data-parallel ranks would, in this
     * one process: each step takes batch / N images from each of N streams
     * (ranks 0..N-1 of N), runs each through the model with its own
     * batch-norm statistics, and averages the gradients and running
     * statistics in rank order: the same updates, bit for bit, as N
     * processes with comm (a multi-process run reproduced on one machine,
     * or gradient accumulation). 0 or 1: off.
     */
    int         replicas;
} tfr_train_opts;

TFR_API void tfr_train_opts_init(tfr_train_opts *o);

typedef struct tfr_eval_result {
    uint64_t images;
    double   accuracy, loss;
    uint64_t *confusion;          /* classes x classes, [true][predicted]; malloc'd */
    int      classes;
} tfr_eval_result;

/* Accuracy, mean cross-entropy and the confusion matrix over a shard set.
 * On failure res->confusion is NULL: nothing to free. */
TFR_API tfr_status tfr_evaluate(tfr_model *m, const char *const *src, int nsrc, int batch, int threads,
                                float mean, float std, tfr_eval_result *res, tfr_error *err);
/* tfr_evaluate with test-time flip averaging when flip is set: each image
 * and its mirror image go through the model, the prediction is the argmax
 * of their mean softmax probabilities and the loss that mean's
 * cross-entropy (flip 0: tfr_evaluate exactly). */
TFR_API tfr_status tfr_evaluate_flip(tfr_model *m, const char *const *src, int nsrc, int batch,
                                     int threads, float mean, float std, int flip,
                                     tfr_eval_result *res, tfr_error *err);
TFR_API void tfr_eval_result_free(tfr_eval_result *r);

/* The checkpoint a path names: a checkpoint file as it is, or a
 * --checkpoint-dir folder's newest (the one its 'latest' names). */
TFR_API tfr_status tfr_train_checkpoint_path(const char *path, char *out, size_t n,
                                             tfr_error *err);

/*
 * What a --train or --val source list means. A folder or manifest.json that
 * names no split takes "train" (training) or "validation", else "val", else
 * "test" (validation), when the set has it; a split can always be named
 * ("out/:test", see tfr_shardset_expand). A training source that would
 * still include a validation or test split without naming it is
 * TFR_ERR_ARG with the command that fixes it. text says what will be read, one line per split:
 * "train: 94 records in 1 shard (split train of out/, the default for --train)".
 */
typedef struct tfr_train_inputs {
    char **sources;  /* n resolved sources, for the stream */
    int    n;
    char  *text;     /* lines ending in '\n'; NULL when n is 0 */
} tfr_train_inputs;

TFR_API tfr_status tfr_train_inputs_resolve(const char *const *src, int n, int training,
                                            tfr_train_inputs *out, tfr_error *err);
TFR_API void       tfr_train_inputs_free(tfr_train_inputs *in);

/* What the data holds, to shape a model after it: the class count its
 * manifests give (label offset included; 0 when no manifest says) and the
 * first record's image as stored (0 when unknown). */
typedef struct tfr_train_data_info {
    int  classes;
    int  height, width, channels;
    char file[4096];  /* the file of that first record */
} tfr_train_data_info;

TFR_API tfr_status tfr_train_inputs_probe(const tfr_train_inputs *in, tfr_train_data_info *out,
                                          tfr_error *err);

/*
 * The class names of the first source's shard set: its labels.txt, name i
 * for label *first + i (*first: the manifest's label_offset, 0 without a
 * manifest). *n = 0 and *names NULL when there is no labels.txt; free with
 * tfr_labels_free(*names, *n).
 */
TFR_API tfr_status tfr_train_inputs_class_names(const tfr_train_inputs *in, char ***names, int *n,
                                                int *first, tfr_error *err);

/*
 * A history.csv (tfrecord-train --logdir) as one PNG: loss and accuracy per
 * epoch, training and validation on the same chart (validation only where
 * the rows have it), and the learning rate below them. Columns are found by
 * the header's names. info (may be NULL) gets the image size and where the
 * charts are: the plotting areas as x, y, w, h and the value ranges they
 * span (y0 at the bottom edge, y1 at the top; epochs left to right).
 */
typedef struct tfr_history_plot_info {
    int    width, height, epochs, have_val;
    int    loss_area[4], acc_area[4];
    double loss_range[2], acc_range[2], epoch_range[2];
} tfr_history_plot_info;
TFR_API tfr_status tfr_history_plot(const char *history_csv, const char *png_path,
                                    tfr_history_plot_info *info, tfr_error *err);

/*
 * The whole training run: evaluation of the untrained model beside chance,
 * epochs with step progress, validation, one checkpoint per epoch,
 * TensorBoard scalars and a CSV history. Resuming from a checkpoint
 * continues the same data stream and gives the same losses, bit for bit,
 * as an uninterrupted run with the same thread counts. Prints nothing; the
 * report goes to o->on_event. TFR_ERR_ARG with a message that says so when
 * a model on a device is given float-tensor shards (--layout tensor), which
 * only the CPU path reads, and when o's struct_size is not this library's.
 */
TFR_API tfr_status tfr_train(const tfr_train_opts *o, tfr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_TRAIN_H */
