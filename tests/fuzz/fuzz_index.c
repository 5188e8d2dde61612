/*
 * tests/fuzz/fuzz_index.c - the shard index loader and record i through it
 * (tfr_record_index_load, tfr_record_read_at, tfr_record_reader_open_range).
 *
 * The input is an index file. When it loads, a shard of the size it names
 * (up to 1 MiB) is made from the input's own bytes, and its first and last
 * records are read through the index: every outcome must be a record of the
 * index's length or an error with a message, never a crash or a read past
 * what the file holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    return 0;
}

static void try_at(const char *shard, const tfr_record_index *ix, uint64_t i)
{
    uint8_t *d = NULL;
    size_t n = 0;
    tfr_error err;
    tfr_status st = tfr_record_read_at(shard, ix, i, &d, &n, &err);
    if (st == TFR_OK) {
        if (!d && n)
            abort();
        free(d);
    } else if (d || !err.msg[0]) {
        abort();
    }
}

/* a range read through to its end: records, then EOF or an error with a message */
static void try_range(const char *shard, const tfr_record_index *ix, uint64_t a, uint64_t b)
{
    tfr_record_reader *r = NULL;
    tfr_error err;
    tfr_status st = tfr_record_reader_open_range(shard, NULL, ix, a, b, &r, &err);
    if (st) {
        if (r || !err.msg[0])
            abort();
        return;
    }
    const uint8_t *d;
    size_t n;
    uint64_t k = 0;
    while ((st = tfr_record_reader_next(r, &d, &n, &err)) == TFR_OK)
        if (++k > b - a) /* more records than the range holds */
            abort();
    if (st != TFR_ERR_EOF && !err.msg[0])
        abort();
    tfr_record_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file(0, "shard.index", data, size);
    tfr_record_index *ix = NULL;
    tfr_error err;
    if (tfr_record_index_load(path, &ix, &err) != TFR_OK) {
        if (ix || !err.msg[0])
            abort();
        return 0;
    }
    /* a shard of the declared size, from the input's bytes */
    char head[64];
    size_t hn = size < sizeof head - 1 ? size : sizeof head - 1, want = 0;
    memcpy(head, data, hn);
    head[hn] = 0;
    if (sscanf(head, "tfrecord-index 1\nbytes %zu", &want) == 1 && want <= (1u << 20)) {
        uint8_t *b = calloc(want ? want : 1, 1);
        if (!b)
            abort();
        for (size_t k = 0; k < want; k++)
            b[k] = size ? data[k % size] : 0;
        const char *shard = fz_file(1, "shard.tfrecord", b, want);
        free(b);
        uint64_t n = tfr_record_index_count(ix);
        if (n) {
            try_at(shard, ix, 0);
            try_at(shard, ix, n - 1);
        }
        try_at(shard, ix, n); /* past the last: an error */
        try_range(shard, ix, n / 3, n - n / 3);
        try_range(shard, ix, 0, n);
    }
    tfr_record_index_free(ix);
    return 0;
}
