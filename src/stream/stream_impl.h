/*
 * stream/stream_impl.h - the record order of the streaming reader
 * (internal; see tfrecord/stream.h for the contract).
 *
 * Per epoch: the file list is shuffled with (seed, epoch), split between
 * ranks, read `interleave` files at a time round-robin, and passed through a
 * uniform shuffle buffer. The split: whole files when there are at least as
 * many files as ranks; else, when every file has its index, the epoch's
 * file order read as one run of records cut into world equal ranges (each
 * rank inflates only its own range, from the chunk that holds its start);
 * else every world-th record. The per-rank cap makes every rank see the
 * same number of records when the counts are known.
 */
#ifndef TFR_STREAM_IMPL_H
#define TFR_STREAM_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"
#include "tfrecord/record.h"

typedef struct tfr_order_config {
    char *const   *files;
    const int64_t *counts;          /* records per file, -1 unknown */
    /* each file's index or NULL (may be NULL as a whole); with every file
     * indexed and fewer files than ranks, ranks split by record ranges */
    tfr_record_index *const *indexes;
    size_t         nfiles;
    uint64_t       seed;
    int            shuffle_files;
    int            interleave;      /* files read at once (>= 1) */
    size_t         shuffle_buffer;  /* records; <= 1: file order */
    int            rank, world;
    int            split_records;   /* never whole files per rank (tfr_stream_opts) */
    tfr_reader_opts record;         /* how each file is opened (skip_corrupt...) */
    /* called for every skipped corrupt record or unreadable file */
    void         (*on_skip)(void *user, const tfr_error *e);
    void          *user;
} tfr_order_config;

/* A record in order; data is malloc'd and owned by whoever holds it. */
typedef struct tfr_order_record {
    uint8_t *data;
    size_t   len;
    int      file;  /* index into files */
    uint64_t rec;   /* its offset in the file (uncompressed) */
} tfr_order_record;

typedef struct tfr_order tfr_order;

/* c (and the arrays it points to) must outlive the order. */
tfr_status tfr_order_new(const tfr_order_config *c, tfr_order **out, tfr_error *err);
void       tfr_order_free(tfr_order *o);

/*
 * Starts an epoch: shuffles the files, takes this rank's share. Returns the
 * per-rank record cap (0 = none).
 */
uint64_t tfr_order_start_epoch(tfr_order *o, uint64_t epoch);

/*
 * The next record of the epoch (ownership passes to the caller), or
 * TFR_ERR_EOF when the epoch is exhausted; other errors name the file.
 */
tfr_status tfr_order_next(tfr_order *o, tfr_order_record *rec, tfr_error *err);

/* Ends the epoch early or late: closes its files, drops held records. */
void tfr_order_end_epoch(tfr_order *o);

#endif
