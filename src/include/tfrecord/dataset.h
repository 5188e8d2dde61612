/*
 * tfrecord/dataset.h - class-per-directory image trees to sharded TFRecords.
 *
 * Scan: classes are the sub-folders of a root, sorted by byte order; label
 * i is the i-th class (+ label_offset). Images in nested folders belong to
 * their class. Files are recognised by content (JPEG/PNG magic), hidden
 * files are skipped, symlinks are followed with loop detection.
 * Splits: by a stable hash of each image's path relative to its root
 * (adding images never moves existing ones), or one root per split.
 *
 * Write: images are shuffled with the seed, cut into contiguous shards,
 * decoded and processed on all threads, and compressed in fixed-size chunks
 * on all threads. The shards are byte-identical for any thread count.
 * Shards are renamed into place only when all are complete; labels.txt and
 * then manifest.json are written last (tfrecord/manifest.h owns both
 * formats; tfrecord/layout.h owns the Example keys of each layout).
 */
#ifndef TFRECORD_DATASET_H
#define TFRECORD_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "tfrecord/error.h"
#include "tfrecord/augment.h"
#include "tfrecord/image.h"
#include "tfrecord/layout.h"
#include "tfrecord/manifest.h"
#include "tfrecord/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tfr_flip {
    TFR_FLIP_NONE = 0,
    TFR_FLIP_RANDOM,     /* each image mirrored or not, by a hash of seed and path */
    TFR_FLIP_BOTH        /* each image stored twice: as is and mirrored */
} tfr_flip;

typedef struct tfr_split_spec {
    char   name[32];
    double percent;      /* for hash splits */
    int    shards;       /* 0 = automatic */
} tfr_split_spec;

/* ---- scan ------------------------------------------------------------------ */

/* What to scan. Start from tfr_scan_opts_init (struct_size: see
 * tfrecord/error.h). */
typedef struct tfr_scan_opts {
    size_t      struct_size;   /* sizeof(tfr_scan_opts), set by _init */
    const char *const *roots;  /* "DIR" or "SPLIT=DIR" */
    int         nroots;
    tfr_split_spec splits[TFR_MAX_SPLITS]; /* hash split of a single root */
    int         nsplits;
    const char *labels_from;   /* "FILE" or "SPLIT=FILE": file name -> class */
    const char *out_dir;       /* optional: refused when it is a root or inside one
                                  (its shards would be scanned as a class) */
    int         content_later; /* 1: keep every non-empty regular file and leave the
                                  JPEG/PNG check to the caller, who reads the file
                                  anyway (the writer: one open and one read per
                                  file); 0: read each file's first bytes here */
} tfr_scan_opts;

TFR_API void tfr_scan_opts_init(tfr_scan_opts *o);

typedef struct tfr_scan_item {
    char    *path;     /* as opened */
    char    *rel;      /* relative to its root, for hashing and image/filename */
    int      cls;      /* index into classes */
    int      split;    /* index into the split list */
    uint64_t size;
    int64_t  mtime_ns;
} tfr_scan_item;

/* The skip reason of files that are not images by name (Thumbs.db,
 * desktop.ini, readme.txt, *.csv, ...): counted apart from damaged ones. */
#define TFR_SKIP_IGNORED "ignored (not an image)"

typedef struct tfr_scan {
    char          **classes;
    int             nclasses;
    tfr_scan_item  *items;      /* in path order */
    size_t          nitems;
    tfr_skip       *skipped;    /* files that are not images, by content */
    size_t          nskipped;
    char            split_names[TFR_MAX_SPLITS][32];
    int             nsplits;
    uint64_t        hidden;     /* hidden files and folders passed over */
    uint64_t        ignored;    /* of skipped: TFR_SKIP_IGNORED files (notes, OS debris) */
} tfr_scan;

/*
 * Finds the images of one or more roots: classes, items with their split,
 * and the files passed over. Free with tfr_scan_free (also after a failure).
 * TFR_ERR_ARG when o's struct_size is not this library's.
 */
TFR_API tfr_status tfr_scan_run(const tfr_scan_opts *o, tfr_scan *out, tfr_error *err);
TFR_API void       tfr_scan_free(tfr_scan *s);

/* ---- write ----------------------------------------------------------------- */

/* The write job. Start from tfr_write_opts_init (struct_size: see
 * tfrecord/error.h). */
typedef struct tfr_write_opts {
    size_t      struct_size;   /* sizeof(tfr_write_opts), set by _init */
    const char *const *roots;  /* "DIR" or "SPLIT=DIR" */
    int         nroots;
    const char *out_dir;
    tfr_split_spec splits[TFR_MAX_SPLITS]; /* hash split of a single root */
    int         nsplits;
    const char *labels_from;   /* "FILE" or "SPLIT=FILE": file name -> class */
    int         label_offset;
    /*
     * 0 (default): as stored. In the jpeg layout a JPEG is passed through
     * byte for byte whenever no pixel change is asked for (no size, no
     * flip), gray or RGB alike; an image that must be re-encoded keeps its
     * channel count (CMYK and RGBA become RGB). The raw and tensor layouts,
     * which hold one shape, decode to RGB. 1 or 3 converts every image.
     */
    int         channels;
    int         width, height; /* 0 = keep the image's size */
    tfr_resize_mode resize;
    tfr_flip    flip;
    tfr_normalize normalize;   /* tensor layout only */
    tfr_layout  layout;
    int         quality;       /* re-encoding quality, default 95 */
    int         shards;        /* shards per split, 0 = automatic */
    uint64_t    shard_bytes;   /* automatic target, default 150 MB */
    /*
     * How every shard is written: compression (default GZIP; AUTO is
     * refused), level, chunk_bytes (default 1 MiB here), sync, direct.
     * threads is ignored: each shard is compressed on the job's threads.
     */
    tfr_writer_opts record;
    /* 1: seekable shards (record.seekable) with an index each, written
     * beside them as OUT_DIR/index/NAME.index (tfr_record_index_load) */
    int         index;
    uint64_t    seed;
    int         threads;       /* 0 = tfr_compute_threads() */
    int         strict;        /* first bad image is fatal */
    /* images declaring more pixels are skipped (tfr_decode_opts.max_pixels);
     * default TFR_DEFAULT_MAX_PIXELS, >= 1 */
    uint64_t    max_pixels;
    int         force;         /* replace an existing, different shard set */
    int         num_workers, worker_index;
    int         progress;
} tfr_write_opts;

TFR_API void tfr_write_opts_init(tfr_write_opts *o);

typedef struct tfr_shard_info {
    char    *file;     /* name inside out_dir */
    char     split[32];
    uint64_t records, bytes, raw_bytes;
    uint32_t crc32c;   /* of the file's bytes */
    int      written;  /* by this process (worker) */
} tfr_shard_info;

/* Why an image of the jpeg layout was re-encoded instead of passed through. */
typedef enum tfr_reencode_reason {
    TFR_REENCODE_SIZE = 0,  /* resized (--size) */
    TFR_REENCODE_FLIP,      /* mirrored (--flip) */
    TFR_REENCODE_TO_RGB,    /* grayscale to RGB (--channels 3) */
    TFR_REENCODE_TO_GRAY,   /* RGB to grayscale (--channels 1) */
    TFR_REENCODE_CMYK,      /* CMYK or YCCK to RGB */
    TFR_REENCODE_ORIENT,    /* EXIF orientation applied */
    TFR_REENCODE_PNG,       /* a PNG stored as JPEG */
    TFR_REENCODE_REASONS
} tfr_reencode_reason;

/* "grayscale to RGB: --channels 3", ... */
TFR_API const char *tfr_reencode_reason_name(tfr_reencode_reason r);

typedef struct tfr_write_report {
    int             up_to_date;   /* nothing was done: the output matched */
    int             nclasses;
    char          **classes;
    uint64_t        images_found; /* image files found by content */
    uint64_t        records;      /* records written by this process */
    uint64_t        split_records[TFR_MAX_SPLITS];
    char            split_names[TFR_MAX_SPLITS][32];
    int             nsplits;
    tfr_shard_info *shards;
    size_t          nshards;
    tfr_skip       *skipped;      /* in path order */
    size_t          nskipped;
    uint64_t        ignored;      /* of them: TFR_SKIP_IGNORED (not images by name) */
    uint64_t        input_bytes, raw_bytes, file_bytes;
    /* jpeg layout, records written by this process: the source file's bytes
     * as they were, or re-encoded at the quality (an image can have several
     * reasons) */
    uint64_t        passed_through, reencoded;
    uint64_t        reencoded_why[TFR_REENCODE_REASONS];
    double          seconds;
    double          scan_seconds;   /* of seconds: listing the roots, the plan */
    double          images_seconds; /* reading, decoding, encoding, compressing, writing */
    char            fingerprint[17];
    int             num_workers, worker_index; /* as run (1 and 0 for one process) */
    size_t          shards_written;            /* by this process */
} tfr_write_report;

/*
 * Runs the whole job. Bad images are reported in the report's skipped list
 * (and manifest) and never stop the run unless opts->strict. On error no
 * complete-looking output is left behind. TFR_ERR_ARG when the struct_size
 * of opts or of opts->record is not this library's.
 */
TFR_API tfr_status tfr_write_dataset(const tfr_write_opts *opts, tfr_write_report **out,
                                     tfr_error *err);
TFR_API void tfr_write_report_free(tfr_write_report *r);

/*
 * This process's worker index for num_workers, from the scheduler that
 * started it: SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN (a Slurm job
 * array), JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), or
 * OMPI_COMM_WORLD_RANK / PMI_RANK (mpirun). from (fn bytes) names the
 * variable. TFR_ERR_ARG, saying what was looked for, when none is set, is
 * not a number, or is not in 0..num_workers-1.
 */
TFR_API tfr_status tfr_worker_index_from_env(int num_workers, int *index, char *from, size_t fn,
                                             tfr_error *err);

/* The report for people (skips grouped by reason) and as one JSON object. */
TFR_API void tfr_write_report_print_text(const tfr_write_report *r, const char *out_dir, int verbose,
                                         FILE *f);
TFR_API void tfr_write_report_print_json(const tfr_write_report *r, FILE *f);

/* Parses "train=80,validation=10,test=10" (percentages must sum to 100). */
TFR_API tfr_status tfr_parse_splits(const char *s, tfr_split_spec *out, int *n, tfr_error *err);

/* Stable position in [0, 100) of a relative path, for hash splits. */
TFR_API double tfr_split_hash(const char *relpath);

#ifdef __cplusplus
}
#endif

#endif
