/*
 * tfrecord/retrain.h - last-layer transfer learning: a frozen backbone
 * checkpoint, a bottleneck cache of its features over an image tree, and a
 * new dense head trained on them (TF for Poets' retrain.py).
 *
 * The cache is rebuilt, never silently reused, when it names another
 * backbone checksum or image set (res->rebuilt, res->rebuild_reason).
 */
#ifndef TFRECORD_RETRAIN_H
#define TFRECORD_RETRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"
#include "tfrecord/model.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    int         quiet, progress;
    tfr_device_opts device;      /* where the backbone runs; default the CPU */
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

tfr_status tfr_retrain(const tfr_retrain_opts *o, tfr_retrain_result *res, tfr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_RETRAIN_H */
