/*
 * dataset/dataset_impl.h - scan results shared by the writer (internal).
 */
#ifndef TFR_DATASET_IMPL_H
#define TFR_DATASET_IMPL_H

#include <stdint.h>

#include "tfrecord/dataset.h"

typedef struct tfr_scan_item {
    char    *path;     /* as opened */
    char    *rel;      /* relative to its root, for hashing and image/filename */
    int      cls;      /* index into classes */
    int      split;    /* index into the split list */
    uint64_t size;
    int64_t  mtime_ns;
} tfr_scan_item;

typedef struct tfr_scan {
    char          **classes;
    int             nclasses;
    tfr_scan_item  *items;
    size_t          nitems;
    tfr_skip       *skipped;
    size_t          nskipped;
    char            split_names[TFR_MAX_SPLITS][32];
    int             nsplits;
    uint64_t        hidden;   /* hidden files and folders passed over */
} tfr_scan;

tfr_status tfr_scan_run(const tfr_write_opts *o, tfr_scan *out, tfr_error *err);
void       tfr_scan_free(tfr_scan *s);

/* 64-bit FNV-1a, for fingerprints and split hashing. */
static inline uint64_t tfr_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define TFR_FNV_INIT 0xcbf29ce484222325ull

static inline uint64_t tfr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
