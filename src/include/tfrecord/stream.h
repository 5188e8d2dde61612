/*
 * tfrecord/stream.h - shards to training batches: shuffle, decode, augment,
 * batch, prefetch.
 *
 * Order: per epoch the file list is shuffled (seed, epoch), split between
 * ranks, read K files at a time round-robin (interleave), passed through a
 * shuffle buffer of N records (uniform sampling, as tf.data's shuffle), and
 * cut into batches that never span epochs. One thread reads and orders;
 * T threads decode and augment. Every random choice is drawn from
 * (seed, epoch, position), so the stream is identical for any thread count
 * and can be resumed exactly from (epoch, records consumed).
 */
#ifndef TFRECORD_STREAM_H
#define TFRECORD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"
#include "tfrecord/image.h"
#include "tfrecord/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tfr_batch_format {
    TFR_BATCH_U8_NHWC = 0,  /* uint8 pixels, for a GPU to normalize */
    TFR_BATCH_F32_NHWC,     /* float32, (x/255 - mean) / std */
    TFR_BATCH_F32_NCHW
} tfr_batch_format;

/*
 * Records of the tensor layout: a stored float tensor may be another size
 * than the output (its centred window is taken, zeros where it is smaller),
 * but may decode to at most TFR_STREAM_TENSOR_MAX_MULT times the output
 * image in float32 or TFR_STREAM_TENSOR_MIN_BYTES, whichever is larger (the
 * floor alone while the first record gives the size). A larger one is a bad
 * record, TFR_ERR_FORMAT naming file and offset, or skipped and counted under
 * record.skip_corrupt, so that no record makes each decode thread allocate
 * more than that.
 */
#define TFR_STREAM_TENSOR_MIN_BYTES ((size_t)64 << 20)
#define TFR_STREAM_TENSOR_MAX_MULT  16

/* The stream. Start from tfr_stream_opts_init (struct_size: see
 * tfrecord/error.h). */
/* tfr_stream_opts.split_records: 0 (whole files where possible, capped),
 * 1 (by records, capped), TFR_SPLIT_EXACT (by records, every record once) */
#define TFR_SPLIT_EXACT 2

typedef struct tfr_stream_opts {
    size_t      struct_size;     /* sizeof(tfr_stream_opts), set by _init */
    const char *const *sources;  /* files, directories, globs or manifest.json paths */
    int         nsources;
    int         epochs;          /* 0 = forever; default 1 */
    int         shuffle_files;   /* default 1 */
    int         interleave;      /* files read at once, default 4 */
    size_t      shuffle_buffer;  /* records; 0 or 1 = file order; default 1024 */
    uint64_t    seed;
    int         threads;         /* decode threads; 0 (default) = tfr_compute_threads() */
    int         prefetch;        /* batches ready ahead, default 2 */
    /*
     * 1: decode only while the consumer waits in tfr_stream_next, never
     * while it works (no prefetch). For a consumer that computes on the
     * same cores (the CPU trainer: N decode threads, then N compute
     * threads, never 2N at once); a GPU consumer wants the overlap (0).
     */
    int         on_demand;
    int         batch_size;      /* default 32 */
    int         drop_remainder;  /* drop each epoch's last, short batch; a batch
                                    that lost records to record.skip_corrupt is
                                    still returned, short (see tfr_batch.n) */
    int         width, height;   /* output size; 0 = the first image's size */
    int         channels;        /* 1 or 3; default 3 */
    tfr_batch_format format;
    /* augmentation (training) */
    int         random_flip;     /* horizontal, p = 0.5 */
    int         defer_flip;      /* draw the flips but leave them to the consumer
                                    (tfr_batch.flips; a GPU applies them) */
    int         pad_crop;        /* pad by this many pixels, then random crop */
    float       rrc_min_scale;   /* > 0: random resized crop, area in [min, 1] */
    float       random_erase;    /* > 0: with this probability a random rectangle of
                                    the output is set to the mean (0 after
                                    normalization; mean x 255 in uint8 batches) */
    /* evaluation */
    float       center_crop;     /* > 0: keep this central fraction, resize */
    float       mean[3], std[3]; /* for float output; default 0 and 1 (x/255 only) */
    const char *image_key;       /* NULL: auto (image/encoded, image_raw, image/raw, img) */
    const char *label_key;       /* NULL: auto (image/class/label, label) */
    int         num_classes;     /* > 0: a label outside 0..num_classes-1 stops the
                                    stream (TFR_ERR_ARG naming the file, offset and
                                    label; never skipped) */
    int         rank, world;     /* default 0 of 1 */
    /*
     * How ranks share an epoch. 0 (default): with at least `world` files,
     * whole files per rank (each reads only its own), and every rank stops
     * at the smallest rank's share, leaving the rest of that epoch out (a
     * third of it with 3 equal files and 2 ranks). 1: by records always,
     * so the shares differ by at most one record and at most world - 1
     * records of an epoch are left out; each rank then reads every file
     * (keeping every world-th record), or with every file indexed only its
     * own range of records. TFR_SPLIT_EXACT (2): by records as 1 but
     * uncapped, for evaluation: every record of an epoch is read by exactly
     * one rank, rank r reading tot / world records plus one for the first
     * tot % world ranks, so batch counts may differ by one between ranks.
     */
    int         split_records;
    /*
     * Decompression-bomb guard (as tfr_decode_opts.max_pixels): an image
     * whose header or shape declares more pixels is a bad record, refused
     * before its pixels are allocated; the output size (given, or taken
     * from the first image) may not exceed it either. Default
     * TFR_DEFAULT_MAX_PIXELS; must be >= 1.
     */
    uint64_t    max_pixels;
    /*
     * How every file is read (defaults of tfr_reader_opts_init).
     * record.skip_corrupt: skip bad records, unreadable files and images
     * that do not decode, and count them.
     */
    tfr_reader_opts record;
    /* resume: start at this epoch, skipping this many records of it */
    uint64_t    start_epoch, skip_records;
} tfr_stream_opts;

TFR_API void tfr_stream_opts_init(tfr_stream_opts *o);

typedef struct tfr_batch {
    int              n;        /* images: batch_size, fewer at an epoch's end or where
                                  record.skip_corrupt dropped bad records */
    int              h, w, c;
    tfr_batch_format format;
    void            *data;     /* n images in format */
    int32_t         *labels;   /* n labels */
    uint8_t         *flips;    /* n flags: image i is (defer_flip: is to be) mirrored */
    uint64_t         epoch;
    uint64_t         index;    /* batch number within the epoch */
} tfr_batch;

/* Where the stream stands after the last batch returned. */
typedef struct tfr_stream_state {
    uint64_t seed;
    uint64_t epoch;
    uint64_t records;  /* records of that epoch consumed */
} tfr_stream_state;

typedef struct tfr_stream_stats {
    uint64_t records_read;     /* records handed to decoders */
    uint64_t records_decoded;  /* records the decoders finished */
    uint64_t corrupt_skipped;  /* bad records or images skipped */
    uint64_t batches;
    uint64_t bytes_read;       /* uncompressed record bytes */
    double   wait_seconds;     /* time next() spent waiting for a batch */
} tfr_stream_stats;

typedef struct tfr_stream tfr_stream;

/*
 * Memory bound. What a stream holds is set by its options, never by what a
 * record declares (a length, a tensor shape, an image header). With T
 * decode threads, B = batch_size, R = prefetch + 2, an output image of
 * P = width x height x channels values (P <= 3 x max_pixels) and e bytes per
 * value (1 for uint8, 4 for float):
 *   batches:   R x B x P x e
 *   decoding:  per thread, one decoded image (<= max_pixels x 3 bytes, less
 *              after DCT scaling), two P-byte resize buffers, and for the
 *              tensor layout at most max(TFR_STREAM_TENSOR_MAX_MULT x 4P,
 *              TFR_STREAM_TENSOR_MIN_BYTES) of floats;
 *   records:   the shuffle buffer, the decode queue (4T + 4 jobs) and the
 *              batches being filled hold records as they are, each at most
 *              record.max_record_bytes and never more than its real bytes;
 *   readers:   interleave readers, each within tfr_record_reader's bound
 *              (tfrecord/record.h).
 * A record that would need more is a bad record (an error, or skipped and
 * counted under record.skip_corrupt).
 */

/*
 * Opens the sources and starts the threads; *opts is copied (image_key and
 * label_key must stay valid until close). TFR_ERR_ARG for bad options, or
 * when the struct_size of opts or of opts->record is not this library's.
 */
TFR_API tfr_status tfr_stream_open(const tfr_stream_opts *opts, tfr_stream **out, tfr_error *err);

/*
 * Returns the next batch; it stays valid until the next call or close.
 * TFR_ERR_EOF after the last epoch. Errors (corrupt record without
 * skip_corrupt, undecodable image) name the file and record.
 */
TFR_API tfr_status tfr_stream_next(tfr_stream *s, const tfr_batch **out, tfr_error *err);

/*
 * Takes the pixels of the batch tfr_stream_next just returned (its
 * tfr_batch.data) out of the stream: the caller owns them from now on, the
 * stream never writes them again (the next batch of that slot goes to a
 * new buffer, whose pages the workers fill in parallel), and frees them
 * with tfr_stream_free_data. A safe hand-over without a copy. NULL when
 * there is no batch to take (none returned yet, or taken already) or no
 * memory for the new buffer; the batch then stays the stream's, valid
 * until the next call. Labels and flips are not taken.
 */
TFR_API void *tfr_stream_take_data(tfr_stream *s);
TFR_API void tfr_stream_free_data(void *data);
/*
 * Gives a buffer taken from s (and no longer used) back to s, which fills
 * it again at a later take instead of a fresh allocation: no new pages to
 * fault in and zero for every batch. s keeps at most two and frees the
 * rest; only while s is open (after tfr_stream_close, free_data them).
 * Thread-safe with tfr_stream_next.
 */
TFR_API void tfr_stream_give_data(tfr_stream *s, void *data);

TFR_API void tfr_stream_get_state(const tfr_stream *s, tfr_stream_state *st);
TFR_API void tfr_stream_get_stats(const tfr_stream *s, tfr_stream_stats *st);
/* Records per epoch for this rank (after the equal-share cap); 0 if unknown
 * (counts unknown, or whole files per rank of unequal sizes, where the share
 * changes with each epoch's file order). */
TFR_API uint64_t tfr_stream_epoch_records(const tfr_stream *s);

/* Stops the threads and frees everything; s may be NULL. Safe mid-epoch. */
TFR_API void tfr_stream_close(tfr_stream *s);

#ifdef __cplusplus
}
#endif

#endif
