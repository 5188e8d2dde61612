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
    int         progress;         /* progress line on a terminal */
    int         quiet;
    tfr_device_opts device;       /* where to train; default the CPU */
} tfr_train_opts;

void tfr_train_opts_init(tfr_train_opts *o);

typedef struct tfr_eval_result {
    uint64_t images;
    double   accuracy, loss;
    uint64_t *confusion;          /* classes x classes, [true][predicted]; malloc'd */
    int      classes;
} tfr_eval_result;

/* Accuracy, mean cross-entropy and the confusion matrix over a shard set. */
tfr_status tfr_evaluate(tfr_model *m, const char *const *src, int nsrc, int batch, int threads,
                        float mean, float std, tfr_eval_result *res, tfr_error *err);
void tfr_eval_result_free(tfr_eval_result *r);

/*
 * The whole training run: evaluation of the untrained model beside chance,
 * epochs with a progress line, validation, one checkpoint per epoch,
 * TensorBoard scalars and a CSV history. Resuming from a checkpoint
 * continues the same data stream and gives the same losses, bit for bit,
 * as an uninterrupted run with the same thread counts.
 */
tfr_status tfr_train(const tfr_train_opts *o, tfr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_TRAIN_H */
