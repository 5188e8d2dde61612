/*
 * dataset/dataset_impl.h - scan results shared by the writer (internal).
 */
#ifndef TFR_DATASET_IMPL_H
#define TFR_DATASET_IMPL_H

#include <stdint.h>

#include "tfrecord/dataset.h"
#include "util/rng.h"

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

#endif
