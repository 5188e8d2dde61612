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
    /* called with every record that parses as an Example, in file order
     * (tfr_pictures_add fits); a non-zero status stops tfr_inspect with it */
    tfr_status (*on_example)(void *user, const char *file, uint64_t record,
                             const tfr_example *ex, tfr_error *err);
    void       *user;
    /* build an index of every sound file (uncompressed, or one gzip/zlib
     * member) as INDEX_DIR/BASENAME.index (tfr_record_index_save); the
     * others get a note saying why not */
    const char *index_dir;
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
    /* bytes values that are serialized TensorProtos (the tensor layout) */
    uint64_t         n_tensor;
    int              tensor_dtype;    /* tfr_dtype of the first; -1 when they differ */
    int              tensor_rank;     /* shape of the first; rank -1 when shapes differ */
    int64_t          tensor_shape[8];
    double           tensor_min, tensor_max; /* over every element */
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
    size_t             indexed;     /* files indexed (opts->index_dir) */
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

/* ---- pictures: a contact sheet, image files, pixel statistics, sizes ---------- */

/*
 * One pass over the records (feed them with tfr_pictures_add, e.g. from
 * tfr_inspect_opts.on_example). Memory is bounded by the options: per_class
 * thumbnails of cell x cell for at most max_rows classes, `sample` sums of
 * 7 numbers, one decoded image. Images are sampled uniformly (reservoir
 * sampling, seeded): the sheet's images of a class come from the whole set,
 * not its first records. Pixel statistics are of x / 255 over the pixels of
 * `sample` images drawn uniformly (exact over every image with decode_all);
 * a grayscale image counts as R = G = B. Float tensors (the tensor layout)
 * are mapped to 0..255 by their range: x * 255 for values in 0..1,
 * (x + 1) * 127.5 in -1..1, x in 0..255, else stretched min..max per image
 * (float_mappings says which were used).
 */
typedef struct tfr_pictures_opts {
    size_t      struct_size;  /* sizeof(tfr_pictures_opts), set by _init */
    const char *sheet_path;   /* the contact sheet PNG to write; NULL = none */
    int         per_class;    /* images per class on the sheet, 1..64 (8) */
    int         cell;         /* pixels per image cell, 8..512 (64) */
    int         max_rows;     /* classes on the sheet (200); more are counted */
    const char *dump_dir;     /* the first `dump` images as PNG files here: */
    int         dump;         /* FILESTEM-rRECORD-labelL.png (0 = none) */
    uint64_t    sample;       /* images for the statistics (1000); 0 = none */
    int         decode_all;   /* statistics over every image instead */
    uint64_t    seed;
    uint64_t    max_pixels;   /* decode guard (TFR_DEFAULT_MAX_PIXELS) */
    const char *image_key, *label_key;   /* NULL: auto (tfrecord/layout.h) */
    const char *const *class_names;      /* row titles: names[i] is label */
    int         nclass_names, label_offset; /* label_offset + i (labels.txt) */
} tfr_pictures_opts;

enum { TFR_FLOAT_UNIT = 1, TFR_FLOAT_SIGNED = 2, TFR_FLOAT_BYTE = 4, TFR_FLOAT_STRETCH = 8 };

typedef struct tfr_size_count {
    int      w, h;
    uint64_t count;
} tfr_size_count;

typedef struct tfr_pictures_report {
    uint64_t records, images;  /* records seen; of them with an image */
    uint64_t undecodable;      /* images a reservoir took that did not decode */
    tfr_error first_error;     /* the first of them (file, record) */
    /* pixel statistics of x / 255: per channel (1 or 3) and over all */
    int      stats_channels, stats_exact;
    double   mean[3], std[3], mean_all, std_all;
    double   mean_stderr;      /* of mean_all, from the sample's spread (0 when exact) */
    uint64_t stats_images, stats_pixels;
    /* image sizes from the headers, every record: the most common first */
    tfr_size_count *sizes;
    size_t   nsizes;
    uint64_t sizes_other;      /* images of sizes past the first 64 distinct */
    unsigned float_mappings;   /* TFR_FLOAT_* */
    size_t   classes;          /* classes on the sheet */
    uint64_t classes_dropped_images; /* images of classes past max_rows */
    uint64_t dumped;
    /* the sheet's geometry: a header, then one row per class of row_h
     * pixels, the images right of text_col */
    int      sheet_w, sheet_h, sheet_rows, sheet_header, sheet_row_h, sheet_text_col;
} tfr_pictures_report;

typedef struct tfr_pictures tfr_pictures;
TFR_API void       tfr_pictures_opts_init(tfr_pictures_opts *o);
TFR_API tfr_status tfr_pictures_new(const tfr_pictures_opts *o, tfr_pictures **out, tfr_error *err);
/* One record of `file` (record index within the file). An image that does
 * not decode is counted, not an error; errors are running out of memory and
 * a dump file that cannot be written (sticky). */
TFR_API tfr_status tfr_pictures_add(tfr_pictures *p, const char *file, uint64_t record,
                                    const tfr_example *ex, tfr_error *err);
/* Draws and writes the sheet and fills *r (tfr_pictures_report_clear). */
TFR_API tfr_status tfr_pictures_finish(tfr_pictures *p, tfr_pictures_report *r, tfr_error *err);
TFR_API void       tfr_pictures_report_clear(tfr_pictures_report *r);
TFR_API void       tfr_pictures_free(tfr_pictures *p);
/* The statistics, sizes and sheet as text / as a JSON object's members. */
TFR_API void tfr_pictures_print_text(const tfr_pictures_report *r, const tfr_pictures_opts *o,
                                     FILE *f);
TFR_API void tfr_pictures_print_json(const tfr_pictures_report *r, const tfr_pictures_opts *o,
                                     FILE *f);

/* A ready-to-paste tf.data reader for the files: the feature description
 * for tf.io.parse_single_example (FixedLenFeature for keys every record has
 * with the same count, else VarLenFeature), the decode_jpeg /
 * tf.io.parse_tensor line for image and tensor keys, and the
 * TFRecordDataset with its compression. */
TFR_API void tfr_inspect_print_spec(const tfr_inspect_report *r, FILE *f);

/* The inspect report's JSON object with the pictures' members in it. */
TFR_API void tfr_inspect_print_json_pictures(const tfr_inspect_report *r,
                                             const tfr_pictures_report *pr,
                                             const tfr_pictures_opts *po, FILE *f);

/* Prints one Example readably (long byte values abbreviated). */
TFR_API void tfr_example_print(const tfr_example *ex, FILE *f);

#ifdef __cplusplus
}
#endif

#endif
