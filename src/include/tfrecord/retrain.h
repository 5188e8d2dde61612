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
                                      res->rebuilt and res->rebuild_reason; res->n_train,
                                      n_val, n_test and writer_splits */
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
                                      res->seconds_training, and the baselines
                                      res->majority_accuracy, res->chance_accuracy */
    TFR_RETRAIN_MISCLASSIFIED,     /* opts->print_misclassified: one per test image the
                                      new model gets wrong: path, truth, predicted */
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
    const char *path, *truth, *predicted; /* MISCLASSIFIED */
} tfr_retrain_event;

typedef void (*tfr_retrain_event_fn)(void *user, const tfr_retrain_event *ev);

/* The retraining run. Start from tfr_retrain_opts_init (struct_size: see
 * tfrecord/error.h). */
typedef struct tfr_retrain_opts {
    size_t      struct_size;     /* sizeof(tfr_retrain_opts), set by _init */
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
    float       mean, std;       /* input normalization; NAN (default): the one the
                                    backbone was trained with, from its checkpoint
                                    (0.5, 0.25 for a checkpoint that has none) */
    uint64_t    seed;
    const char *logdir;          /* TensorBoard events; NULL = none */
    int         fold_bn, round_weights;
    int         print_misclassified; /* a MISCLASSIFIED event per wrong test image */
    int         quiet, progress; /* for the caller's printer (no report; a progress bar);
                                    tfr_retrain reads neither and sends every event */
    tfr_device_opts device;      /* where the backbone runs; default the CPU */
    tfr_retrain_event_fn on_event; /* the run's report (see tfr_retrain_event); NULL = none */
    void       *user;            /* passed to on_event as is */
} tfr_retrain_opts;

TFR_API void tfr_retrain_opts_init(tfr_retrain_opts *o);

typedef struct tfr_retrain_result {
    uint64_t computed, reused;   /* bottlenecks */
    int      rebuilt;            /* the whole cache was rebuilt */
    char     rebuild_reason[256];
    int      classes;
    uint64_t n_train, n_val, n_test;
    /* 1: the splits tfrecord-write made (shards with a train split and a
     * validation, val or test split); 0: by a hash of each file name with
     * val_percent and test_percent */
    int      writer_splits;
    double   val_accuracy, test_accuracy;
    /* what the test accuracy must beat: always answering the training
     * split's most common class, and guessing uniformly (1 / classes) */
    double   majority_accuracy, chance_accuracy;
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
 * opts->on_event. TFR_ERR_ARG when o's struct_size is not this library's.
 */
TFR_API tfr_status tfr_retrain(const tfr_retrain_opts *o, tfr_retrain_result *res, tfr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_RETRAIN_H */
