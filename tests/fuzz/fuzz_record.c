/*
 * tests/fuzz/fuzz_record.c - the record reader, every compression mode and
 * the skip-corrupt mode.
 *
 * Byte 0 chooses the options: bits 0-1 the compression asked for (auto,
 * none, zlib, gzip), bit 2 skip_corrupt, bit 3 the smallest read window,
 * bit 4 a 4 KiB record limit. Bits 5-6 say what the rest is: 0 the file
 * itself; 1 parts (cut at "TFRZ") framed as records with valid CRCs, so
 * the fuzzer explores past the checksums; 2 the file, gzip-compressed by
 * the target; 3 the framed records, zlib-compressed. Every record returned
 * must lie within what the reader says it consumed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    return 0;
}

static void deflate_into(fz_buf *out, const uint8_t *p, size_t n, int wbits)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    out->p = malloc(cap);
    if (!out->p)
        abort();
    out->cap = cap;
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out->p;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    out->n = cap - z.avail_out;
    deflateEnd(&z);
}

static int skips;
static void on_skip(void *user, const tfr_error *e)
{
    (void)user;
    if (!e->msg[0])
        abort(); /* a skip is always explained */
    skips++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t mode = data[0];
    data++;
    size--;

    fz_buf framed = {0}, file = {0};
    const int what = (mode >> 5) & 3;
    if (what == 1 || what == 3) {
        const uint8_t *part;
        size_t n;
        const uint8_t *d = data;
        size_t left = size;
        while (fz_next_part(&d, &left, &part, &n))
            fz_record(&framed, part, n);
    } else {
        fz_put(&framed, data, size);
    }
    if (what == 2)
        deflate_into(&file, framed.p, framed.n, 15 + 16);
    else if (what == 3)
        deflate_into(&file, framed.p, framed.n, 15);
    else
        fz_put(&file, framed.p, framed.n);

    const char *path = fz_file(0, "record.tfrecord", file.p, file.n);
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    static const tfr_compression comp[4] = {TFR_COMPRESS_AUTO, TFR_COMPRESS_NONE,
                                            TFR_COMPRESS_ZLIB, TFR_COMPRESS_GZIP};
    o.compression = comp[mode & 3];
    o.skip_corrupt = (mode >> 2) & 1;
    if (mode & 8)
        o.buf_bytes = 1; /* raised to the reader's minimum */
    if (mode & 16)
        o.max_record_bytes = 4096;

    tfr_record_reader *r = NULL;
    tfr_error err;
    skips = 0;
    if (tfr_record_reader_open(path, &o, &r, &err) == TFR_OK) {
        tfr_record_reader_on_skip(r, on_skip, NULL);
        const uint8_t *rec;
        size_t len;
        uint64_t total = 0, count = 0;
        tfr_status st;
        while ((st = tfr_record_reader_next(r, &rec, &len, &err)) == TFR_OK) {
            if (len > o.max_record_bytes)
                abort();
            /* touch every byte: ASan checks the window is readable */
            uint32_t c = tfr_crc32c(rec, len);
            (void)c;
            total += len;
            count++;
        }
        if (st != TFR_ERR_EOF && !err.msg[0])
            abort(); /* an error always says what */
        /* a sticky error: the next call repeats it */
        if (st != TFR_ERR_EOF && tfr_record_reader_next(r, &rec, &len, &err) != st)
            abort();
        tfr_reader_stats s;
        tfr_record_reader_stats(r, &s);
        if (s.records != count || s.corrupt_skipped != (uint64_t)skips)
            abort();
        if (!o.skip_corrupt && s.corrupt_skipped)
            abort();
        if (st == TFR_ERR_EOF && total + 16 * count > s.bytes)
            abort();
        tfr_record_reader_close(r);
    }
    free(framed.p);
    free(file.p);
    return 0;
}
