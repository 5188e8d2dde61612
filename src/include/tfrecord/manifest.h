/*
 * tfrecord/manifest.h - the files beside a shard set: manifest.json (what
 * the set holds: options, classes, splits, shards with record counts, sizes
 * and checksums, skipped inputs), labels.txt (line i names class i: label i +
 * label_offset),
 * and the expansion of what a user names (files, folders, globs,
 * manifest.json) into the shard files to read.
 *
 * The commit: tfrecord-write writes every shard under a temporary name,
 * then manifest.json with "complete": false, then renames the shards into
 * place and writes labels.txt, and last replaces manifest.json with
 * "complete": true. A folder whose manifest.json says false, or that has
 * only worker manifests (manifest.part-*), holds an unfinished set: the
 * shard-set expansion refuses its files and inspect reports it. Shards of
 * other writers (no manifest at all) are read as they are.
 */
#ifndef TFRECORD_MANIFEST_H
#define TFRECORD_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFR_MAX_SPLITS 8
#define TFR_MANIFEST_NAME "manifest.json"
#define TFR_LABELS_NAME   "labels.txt"

typedef struct tfr_skip {
    char *path;
    char *reason;
} tfr_skip;

typedef struct tfr_manifest_shard {
    char    *file;               /* name inside the manifest's folder (no '/') */
    char     split[32];
    int64_t  records;            /* -1 when the manifest does not say */
    int64_t  bytes;              /* on disk; -1 when not said */
    int64_t  uncompressed_bytes; /* -1 when not said */
    uint32_t crc32c;             /* of the file's bytes */
    /* "index": {"file": "index/NAME.index", "seekable": S, "chunks": C}
     * when the shard was written with its index (tfrecord-write --index) */
    int      indexed, index_seekable;
    int64_t  index_chunks;
} tfr_manifest_shard;

typedef struct tfr_manifest_split {
    char      name[32];
    uint64_t  records;
    int       shards;
    uint64_t *class_counts;      /* nclasses entries */
} tfr_manifest_split;

/* The options a set was written with, as the manifest names them. */
typedef struct tfr_manifest_options {
    char     layout[16], resize[16], flip[16], normalize[16], compression[16];
    int      channels, width, height, quality, level, label_offset;
    uint64_t chunk_bytes, seed;
} tfr_manifest_options;

typedef struct tfr_manifest {
    char                 version[32];
    char                 created[32];       /* ISO 8601 UTC */
    char                 fingerprint[17];   /* of the inputs and options */
    int                  complete;          /* 0: one worker's part */
    int                  worker_index, num_workers; /* parts only */
    int                  merged_from_workers;       /* 0 unless merged */
    tfr_manifest_options options;
    char               **classes;
    int                  nclasses;
    tfr_manifest_split   splits[TFR_MAX_SPLITS];
    int                  nsplits;
    tfr_manifest_shard  *shards;
    size_t               nshards;
    tfr_skip            *skipped;
    size_t               nskipped;
} tfr_manifest;

/*
 * Reads and checks a manifest. TFR_ERR_FORMAT (`no "shards" list; not a
 * tfrecord-write manifest`) for JSON that is no manifest of ours;
 * TFR_ERR_CORRUPT for a file that is not JSON or a field of the wrong type
 * or range; the error names the file. *out is freed with tfr_manifest_free.
 */
TFR_API tfr_status tfr_manifest_load(const char *path, tfr_manifest **out, tfr_error *err);

/* Writes m to path atomically (temporary, fsync, rename). */
TFR_API tfr_status tfr_manifest_save(const char *path, const tfr_manifest *m, tfr_error *err);
TFR_API void       tfr_manifest_free(tfr_manifest *m); /* NULL ok */

/* The shard of m named file, or NULL. */
TFR_API const tfr_manifest_shard *tfr_manifest_find(const tfr_manifest *m, const char *file);

/* "manifest.part-IIIII-of-KKKKK.json": worker index's part of a count-worker run. */
TFR_API void tfr_manifest_part_name(char *out, size_t n, int index, int count);

/*
 * Combines the manifest.part-I-of-K.json files of a --num-workers run in
 * dir into manifest.json, after checking that every worker finished with
 * the same inputs and options and that each shard listed is on disk with
 * its size.
 */
TFR_API tfr_status tfr_manifest_merge(const char *dir, tfr_error *err);

/* ---- labels.txt ------------------------------------------------------------ */

/* Writes one name per line, atomically. */
TFR_API tfr_status tfr_labels_save(const char *path, char *const *names, int n, tfr_error *err);
/*
 * Reads up to max names (0: all) into *names (malloc'd; free with
 * tfr_labels_free). TFR_ERR_IO when the file cannot be opened.
 */
TFR_API tfr_status tfr_labels_load(const char *path, int max, char ***names, int *n, tfr_error *err);
TFR_API void       tfr_labels_free(char **names, int n);
/* The path of the labels.txt in the folder of file (a shard), into out. -1 if too long. */
TFR_API int        tfr_labels_beside(const char *file, char *out, size_t n);

/* ---- shard sets ------------------------------------------------------------ */

typedef struct tfr_shard_source {
    char   *path;
    int64_t records;   /* from the folder's manifest.json; -1 unknown */
    char    split[32]; /* the manifest's split, else the name's prefix before
                          -NNNNN-of-NNNNN, else "" */
    int     source;    /* index of the source it came from */
    int     selected;  /* that source named its split (SOURCE:SPLIT) */
} tfr_shard_source;

/*
 * Expands sources (files, folders, globs, or a manifest.json: its shards)
 * into files, in order, each folder's manifest read once for the record
 * counts. A folder or manifest source may name one split: "out/:train",
 * "out:validation", "out/manifest.json:test" (a path that exists as given
 * is never cut at a ':'); without one it means every split. A manifest that
 * lists no shards, a source that matches nothing or a split the set does not
 * have is an error naming it (and the splits it has); so is a file whose
 * folder holds a manifest.json that does not load (the set's state is
 * unknown) or an unfinished set (TFR_ERR_CORRUPT). Free with
 * tfr_shardset_free.
 */
TFR_API tfr_status tfr_shardset_expand(const char *const *sources, int nsources,
                                       tfr_shard_source **out, size_t *n, tfr_error *err);
TFR_API void       tfr_shardset_free(tfr_shard_source *s, size_t n);

/*
 * The split a tool takes from a folder or manifest source that names none:
 * the first of names (in order of preference) that the set has, written to
 * out as "SOURCE:NAME" with the name in chosen (cn bytes). A source that
 * names its split, a file or a glob, or a set with none of the names, is
 * copied to out unchanged and chosen is "". tfrecord-train takes "train"
 * for --train and "validation", "val", "test" for --val.
 */
TFR_API tfr_status tfr_shardset_default_split(const char *source, const char *const *names,
                                              int nnames, char *out, size_t on, char *chosen,
                                              size_t cn, tfr_error *err);

typedef struct tfr_split_count {
    char     name[32];   /* "" for files of no split */
    size_t   shards;
    uint64_t records;    /* of the shards whose count the manifest gives */
    int      complete;   /* every shard's count is known */
} tfr_split_count;

/*
 * What sources hold, for people: one line per source, e.g.
 * "out/: train 153, validation 23, test 24 records in 3 shards (every split;
 * out/:NAME reads one)". malloc'd (free); NULL with err on failure.
 */
TFR_API char *tfr_shardset_describe(const char *const *sources, int n, tfr_error *err);

/* Per-split totals of an expanded set, in order of first appearance; returns
 * how many splits there are (at most max are written). */
TFR_API size_t tfr_shardset_splits(const tfr_shard_source *s, size_t n, tfr_split_count *out,
                                   size_t max);

/* 1 if dir holds a manifest.json (a tfrecord-write shard set). */
TFR_API int tfr_manifest_in(const char *dir);
/* 1 if dir holds worker manifests (manifest.part-*-of-*.json). */
TFR_API int tfr_manifest_parts_in(const char *dir);

#ifdef __cplusplus
}
#endif

#endif
