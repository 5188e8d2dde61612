/*
 * retrain/retrain_impl.h - what the retraining driver's files share: the
 * images of a run, the bottleneck cache (bncache.c) and the softmax head
 * (head.c). Not API; included from src/retrain/ only.
 */
#ifndef TFR_RETRAIN_IMPL_H
#define TFR_RETRAIN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/dataset.h"
#include "tfrecord/nn.h"

/* One image of the run, as retrain.c finds it. */
typedef struct tfr_retrain_image {
    const tfr_scan_item *it;
    uint32_t crc;
    int      split;      /* 0 train, 1 validation, 2 test */
    float   *vec;
    const uint8_t *bytes; /* encoded image held in memory (shard input), else read it->path */
    size_t   nbytes;
} tfr_retrain_image;

/* ---- bncache.c: CACHE/cache.json + CACHE/bottlenecks.tfrecord.gz ------------ */

typedef struct tfr_bncache_entry {
    char    *rel;
    uint64_t size;
    uint32_t crc;
    float   *vec;    /* feature_dim floats, or NULL */
} tfr_bncache_entry;

typedef struct tfr_bncache {
    tfr_bncache_entry *e;  /* sorted by rel */
    size_t n;
} tfr_bncache;

/* What a cache's bottlenecks depend on besides the images: the backbone
 * checkpoint's CRC-32C, its input size and the normalization. A cache with
 * another fingerprint is rebuilt. */
void tfr_bncache_fingerprint(char *fp, size_t n, uint32_t backbone_crc,
                             const tfr_resnet_config *c, float mean, float std);

/*
 * Loads the cache in dir when it matches fp and every record reads back
 * with dim floats: returns 1. Otherwise returns 0 with *c empty and reason
 * (rn bytes) saying why ("no cache yet", "the backbone or the preprocessing
 * changed", ...).
 */
int tfr_bncache_load(const char *dir, const char *fp, int dim, tfr_bncache *c, char *reason,
                     size_t rn);

/* The entry for rel, or NULL. */
tfr_bncache_entry *tfr_bncache_find(const tfr_bncache *c, const char *rel);

/*
 * The staleness rule: the cached vector of rel when the image still has the
 * size and CRC-32C it was computed from (ownership moves to the caller, the
 * entry keeps none); else NULL, and the image goes through the backbone.
 */
float *tfr_bncache_take(tfr_bncache *c, const char *rel, uint64_t size, uint32_t crc);

/*
 * Writes the n images' vectors (all set) to dir: the records first, then
 * cache.json through a temporary name; the old cache.json is removed first,
 * so a crash never pairs new records with an old manifest. s gives the
 * class names.
 */
tfr_status tfr_bncache_save(const char *dir, const char *fp, int dim, const tfr_retrain_image *im,
                            size_t n, const tfr_scan *s, tfr_error *err);

/* Frees every entry; c stays usable (empty). */
void tfr_bncache_free(tfr_bncache *c);

/* ---- head.c: the new last layer, softmax over K classes of C features ------- */

typedef struct tfr_head {
    int     K, C;
    float  *W, *b;    /* K x C weights, K biases */
    float  *gW, *gb;  /* one step's gradients */
    double *p;        /* K probabilities (scratch) */
} tfr_head;

/* Zeroed weights and gradients for K classes of C features; -1 when out of
 * memory (tfr_head_free still frees what was allocated). */
int tfr_head_alloc(tfr_head *h, int K, int C);
void tfr_head_free(tfr_head *h);

/*
 * One SGD step on n vectors x[k] with labels y[k] (mean cross-entropy
 * gradient, learning rate lr). Returns the batch's summed cross-entropy and
 * sets *right to how many the head classified right before the step.
 */
double tfr_head_step(tfr_head *h, const float *const *x, const int *y, int n, float lr,
                     int *right);

/* Accuracy over the images of one split (0 train, 1 validation, 2 test);
 * NAN when there are none. */
double tfr_head_accuracy(tfr_head *h, const tfr_retrain_image *im, size_t n, int split);
/* The class the head gives bottleneck x. */
int tfr_head_predict(tfr_head *h, const float *x);

#endif /* TFR_RETRAIN_IMPL_H */
