/*
 * tfrecord/inspect.h - read a shard set end to end and describe it: counts,
 * sizes, compression, schema, label histogram, image formats and sizes,
 * and every defect (CRC, truncation, gzip damage, trailing bytes, records
 * that are not Examples, counts that disagree with manifest.json).
 */
#ifndef TFRECORD_INSPECT_H
#define TFRECORD_INSPECT_H

#include <stdint.h>
#include <stdio.h>

#include "tfrecord/error.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What to read and report. Start from tfr_inspect_opts_init (struct_size:
 * see tfrecord/error.h). */
typedef struct tfr_inspect_opts {
    size_t      struct_size;     /* sizeof(tfr_inspect_opts), set by _init */
    tfr_compression compression; /* default AUTO */
    int         max_errors;      /* defects kept in the report; default 20, 0 = all */
    int         show;            /* print the first N Examples to show_out */
    FILE       *show_out;
    const char *label_key;       /* NULL: auto-detect */
    int         progress;        /* progress bar on a terminal */
} tfr_inspect_opts;

TFR_API void tfr_inspect_opts_init(tfr_inspect_opts *o);

typedef struct tfr_inspect_file {
    char            *path;
    tfr_reader_stats st;
    int              failed;          /* stopped early on a defect */
    uint64_t         bad_examples;    /* records that did not parse as Examples */
    long long        manifest_records; /* -1 when no manifest lists this file */
    long long        manifest_bytes;
} tfr_inspect_file;

typedef struct tfr_inspect_key {
    char            *key;
    tfr_feature_kind kind;
    int              mixed_kinds;     /* seen with more than one kind */
    uint64_t         present;         /* records that have the key */
    uint64_t         min_count, max_count;
    double           min_value, max_value; /* over all int64/float values */
    uint64_t         n_jpeg, n_png, n_other_bytes;
    int              min_w, max_w, min_h, max_h; /* of images, from headers */
    int              channels_seen;   /* bit i set when an image with i channels was seen */
} tfr_inspect_key;

typedef struct tfr_inspect_label {
    int64_t  label;
    uint64_t count;
    char    *text;   /* class text seen with it, or NULL */
} tfr_inspect_label;

typedef struct tfr_inspect_report {
    tfr_inspect_file  *files;
    size_t             nfiles;
    tfr_inspect_key   *keys;
    size_t             nkeys;
    uint64_t           records, bytes, file_bytes;
    char              *label_key;   /* NULL when none found */
    tfr_inspect_label *labels;      /* sorted by label */
    size_t             nlabels;
    uint64_t           ndefects;    /* all defects, also those past max_errors */
    tfr_error         *defects;     /* the first max_errors of them */
    size_t             defects_kept;
    char             **notes;       /* manifest mismatches and other findings */
    size_t             nnotes;
    double             seconds;
} tfr_inspect_report;

/*
 * Reads every record of every file. Defects go into the report, never stop
 * the run: the next file is read. Returns TFR_OK when the report could be
 * made (even if it lists defects); an error only for bad arguments or OOM.
 * opts may be NULL (defaults); TFR_ERR_ARG when its struct_size is not this
 * library's.
 */
TFR_API tfr_status tfr_inspect(const char *const *files, size_t nfiles,
                               const tfr_inspect_opts *opts, tfr_inspect_report **out,
                               tfr_error *err);
TFR_API void tfr_inspect_report_free(tfr_inspect_report *r);

/* Human-readable summary / the same as one JSON object. */
TFR_API void tfr_inspect_print_text(const tfr_inspect_report *r, FILE *f);
TFR_API void tfr_inspect_print_json(const tfr_inspect_report *r, FILE *f);

/* Prints one Example readably (long byte values abbreviated). */
TFR_API void tfr_example_print(const tfr_example *ex, FILE *f);

#ifdef __cplusplus
}
#endif

#endif
