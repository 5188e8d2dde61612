/*
 * record/index.c - shard indexes and reading record i without a scan (see
 * tfrecord/record.h).
 *
 * Index file (text, written by the record writer at close):
 *   tfrecord-index 1
 *   bytes <shard file size>
 *   compression gzip|zlib|none
 *   seekable 0|1           (1: reading may start at any chunk)
 *   records N
 *   chunks M
 *   c <file offset> <stream offset>     M lines: where each chunk starts
 *   r <stream offset> <length>          N lines: each record (offset of its
 *                                       12-byte header in the uncompressed
 *                                       stream, and its data length)
 * Everything is checked before it is used: counts against the lines, offsets
 * in order and inside the file, so a damaged or foreign index is an error,
 * never a wild read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "record/codec.h"
#include "record_impl.h"
#include "tfrecord/record.h"
#include "util/alloc.h"
#include "util/fsio.h"

#define INDEX_MAX_BYTES ((size_t)1 << 32)
#define READ_BLOCK (64u << 10)

struct tfr_record_index {
    uint64_t bytes;
    tfr_compression comp;
    int      seekable;
    uint64_t nrec, nchk;
    uint64_t *rec;   /* 2 per record: offset, length */
    uint64_t *chk;   /* 2 per chunk: file offset, stream offset */
};

void tfr_record_index_free(tfr_record_index *ix)
{
    if (!ix)
        return;
    free(ix->rec);
    free(ix->chk);
    free(ix);
}

uint64_t tfr_record_index_count(const tfr_record_index *ix) { return ix->nrec; }

int tfr_record_index_locate(const char *shard, char *out, size_t n)
{
    const char *slash = strrchr(shard, '/');
    int dir = slash ? (int)(slash - shard) + 1 : 0;
    struct stat sb;
    int k = snprintf(out, n, "%.*sindex/%s.index", dir, shard, shard + dir);
    if (k > 0 && (size_t)k < n && stat(out, &sb) == 0 && S_ISREG(sb.st_mode))
        return 1;
    k = snprintf(out, n, "%s.index", shard);
    if (k > 0 && (size_t)k < n && stat(out, &sb) == 0 && S_ISREG(sb.st_mode))
        return 1;
    if (n)
        out[0] = 0;
    return 0;
}

static tfr_status bad(tfr_error *err, const char *path, int line, const char *what)
{
    return tfr_fail(err, TFR_ERR_FORMAT, path, "index line %d: %s", line, what);
}

tfr_status tfr_record_index_of(const char *shard, tfr_record_index **out, tfr_error *err)
{
    *out = NULL;
    char ip[4096];
    if (!tfr_record_index_locate(shard, ip, sizeof ip))
        return TFR_OK;
    struct stat sb;
    if (stat(shard, &sb) != 0)
        return tfr_fail_errno(err, TFR_ERR_IO, shard, "cannot open");
    tfr_record_index *ix;
    tfr_status st = tfr_record_index_load(ip, &ix, err);
    if (st)
        return st;
    if (ix->bytes != (uint64_t)sb.st_size) {
        st = tfr_fail(err, TFR_ERR_ARG, ip, "the index is of a %llu-byte file, %s has %lld "
                      "bytes (rebuild the index)", (unsigned long long)ix->bytes, shard,
                      (long long)sb.st_size);
        tfr_record_index_free(ix);
        return st;
    }
    *out = ix;
    return TFR_OK;
}

tfr_status tfr_record_index_load(const char *path, tfr_record_index **out, tfr_error *err)
{
    *out = NULL;
    uint8_t *buf;
    size_t n;
    tfr_status st = tfr_read_file(path, INDEX_MAX_BYTES, "index", &buf, &n, err);
    if (st)
        return st;
    tfr_record_index *ix = tfr_calloc(1, sizeof *ix);
    char *text = tfr_malloc(n + 1);
    if (!ix || !text) {
        free(buf);
        free(ix);
        free(text);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    memcpy(text, buf, n);
    text[n] = 0;
    free(buf);
    char comp[16] = "";
    int ver = 0, seek = -1, used = 0;
    unsigned long long bytes, nrec, nchk;
    if (sscanf(text, "tfrecord-index %d\nbytes %llu\ncompression %15s\nseekable %d\nrecords "
                     "%llu\nchunks %llu\n%n",
               &ver, &bytes, comp, &seek, &nrec, &nchk, &used) != 6 || used == 0) {
        st = bad(err, path, 1, "not a tfrecord index (the header is missing)");
        goto fail;
    }
    if (ver != 1) {
        st = bad(err, path, 1, "index version is not 1");
        goto fail;
    }
    if (tfr_compression_parse(comp, &ix->comp) || ix->comp == TFR_COMPRESS_AUTO ||
        (seek != 0 && seek != 1)) {
        st = bad(err, path, 3, "unknown compression or seekable flag");
        goto fail;
    }
    /* a record takes 16 bytes of the stream and an index line of >= 6 chars */
    if (nrec > n / 6 || nchk > n / 6) {
        st = bad(err, path, 5, "more records or chunks than the index has lines");
        goto fail;
    }
    ix->bytes = bytes;
    ix->seekable = seek;
    ix->nrec = nrec;
    ix->nchk = nchk;
    ix->rec = tfr_calloc(nrec ? 2 * nrec : 1, sizeof *ix->rec);
    ix->chk = tfr_calloc(nchk ? 2 * nchk : 1, sizeof *ix->chk);
    if (!ix->rec || !ix->chk) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    char *p = text + used;
    int line = 7;
    for (uint64_t i = 0; i < nchk + nrec; i++, line++) {
        char kind;
        unsigned long long a, b;
        int k = 0;
        if (sscanf(p, "%c %llu %llu\n%n", &kind, &a, &b, &k) != 3 || k == 0 ||
            kind != (i < nchk ? 'c' : 'r')) {
            st = bad(err, path, line, i < nchk ? "a chunk line ('c OFFSET OFFSET') is expected"
                                               : "a record line ('r OFFSET LENGTH') is expected");
            goto fail;
        }
        p += k;
        uint64_t *v = i < nchk ? &ix->chk[2 * i] : &ix->rec[2 * (i - nchk)];
        const uint64_t *prev = i < nchk ? (i ? v - 2 : NULL) : (i > nchk ? v - 2 : NULL);
        v[0] = a;
        v[1] = b;
        int order = i < nchk ? !prev || (a > prev[0] && b > prev[1])
                             : !prev || (b <= UINT64_MAX - 16 && a >= prev[0] + prev[1] + 16);
        if (!order || (i < nchk && a >= bytes)) {
            st = bad(err, path, line, "offsets out of order or past the shard's end");
            goto fail;
        }
    }
    if (*p) {
        st = bad(err, path, line, "bytes after the last record line");
        goto fail;
    }
    free(text);
    *out = ix;
    return TFR_OK;
fail:
    free(text);
    tfr_record_index_free(ix);
    return st;
}

tfr_status tfr_record_index_save(const char *path, uint64_t bytes, tfr_compression comp,
                                 int seekable, const uint64_t *recs, size_t nrec,
                                 const uint64_t *chunks, size_t nchk, int sync, tfr_error *err)
{
    if (nrec > SIZE_MAX / 64 - 8 || nchk > SIZE_MAX / 64 - 8)
        return tfr_fail(err, TFR_ERR_ARG, path, "index: too many records");
    size_t cap = 256 + (nrec + nchk) * 48, n = 0;
    char *b = tfr_malloc(cap);
    if (!b)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory for the index");
    const char *cn = comp == TFR_COMPRESS_GZIP ? "gzip" : comp == TFR_COMPRESS_ZLIB ? "zlib" : "none";
    n += (size_t)snprintf(b + n, cap - n,
                          "tfrecord-index 1\nbytes %llu\ncompression %s\nseekable %d\n"
                          "records %zu\nchunks %zu\n",
                          (unsigned long long)bytes, cn, seekable != 0, nrec, nchk);
    for (size_t k = 0; k < nchk; k++)
        n += (size_t)snprintf(b + n, cap - n, "c %llu %llu\n", (unsigned long long)chunks[2 * k],
                              (unsigned long long)chunks[2 * k + 1]);
    for (size_t k = 0; k < nrec; k++)
        n += (size_t)snprintf(b + n, cap - n, "r %llu %llu\n", (unsigned long long)recs[2 * k],
                              (unsigned long long)recs[2 * k + 1]);
    tfr_status st = tfr_write_file_atomic(path, NULL, b, n, sync ? 0u : TFR_ATOMIC_NOSYNC, err);
    free(b);
    return st;
}

tfr_status tfr_record_index_save_dali(const tfr_record_index *ix, const char *path,
                                      tfr_error *err)
{
    if (ix->comp != TFR_COMPRESS_NONE)
        return tfr_fail(err, TFR_ERR_ARG, path, "DALI's index is of uncompressed shards only");
    size_t cap = 16 + ix->nrec * 44, n = 0;
    char *b = tfr_malloc(cap);
    if (!b)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory for the index");
    for (uint64_t k = 0; k < ix->nrec; k++)
        n += (size_t)snprintf(b + n, cap - n, "%llu %llu\n", (unsigned long long)ix->rec[2 * k],
                              (unsigned long long)(ix->rec[2 * k + 1] + 16));
    tfr_status st = tfr_write_file_atomic(path, NULL, b, n, 0u, err);
    free(b);
    return st;
}

tfr_status tfr_index_span_of(const tfr_record_index *ix, uint64_t begin, uint64_t end,
                             const char *shard, tfr_index_span *sp, tfr_error *err)
{
    memset(sp, 0, sizeof *sp);
    if (begin > end || end > ix->nrec)
        return tfr_fail(err, TFR_ERR_ARG, shard, "records %llu..%llu: the shard has %llu",
                        (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)ix->nrec);
    sp->comp = ix->comp;
    sp->bytes = ix->bytes;
    sp->end = end < ix->nrec ? ix->rec[2 * end] : UINT64_MAX;
    if (begin == end)
        return TFR_OK;
    const uint64_t off = ix->rec[2 * begin], rlen = ix->rec[2 * begin + 1];
    /* deflate expands at most 1032:1, so a compressed file holds no more */
    const uint64_t most = ix->comp == TFR_COMPRESS_NONE ? ix->bytes
                          : ix->bytes > UINT64_MAX / 1032 ? UINT64_MAX : ix->bytes * 1032;
    if (off > most || rlen > most - off || most - off - rlen < 16)
        return tfr_fail(err, TFR_ERR_FORMAT, shard, "record %llu runs past what the file can "
                        "hold (offset %llu, length %llu in the index)", (unsigned long long)begin,
                        (unsigned long long)off, (unsigned long long)rlen);
    sp->first = off;
    sp->first_len = rlen;
    if (ix->comp == TFR_COMPRESS_NONE) {
        sp->file_off = sp->stream_off = off;
        return TFR_OK;
    }
    /* the last chunk that starts at or before the record (seekable shards
     * only: primed chunks need the window before them); else the stream's start */
    for (uint64_t c = 0; ix->seekable && c < ix->nchk && ix->chk[2 * c + 1] <= off; c++) {
        sp->file_off = ix->chk[2 * c];
        sp->stream_off = ix->chk[2 * c + 1];
        sp->raw = 1;
    }
    return TFR_OK;
}

tfr_status tfr_record_read_at(const char *shard, const tfr_record_index *ix, uint64_t i,
                              uint8_t **data, size_t *len, tfr_error *err)
{
    *data = NULL;
    *len = 0;
    if (i >= ix->nrec)
        return tfr_fail(err, TFR_ERR_ARG, shard, "record %llu: the shard has %llu",
                        (unsigned long long)i, (unsigned long long)ix->nrec);
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.buf_bytes = READ_BLOCK; /* one record, not a stream: a small window */
    tfr_record_reader *r;
    tfr_status st = tfr_record_reader_open_range(shard, &o, ix, i, i + 1, &r, err);
    if (st)
        return st;
    const uint8_t *d;
    size_t n;
    st = tfr_record_reader_next(r, &d, &n, err);
    if (st == TFR_ERR_EOF) {
        st = tfr_fail(err, TFR_ERR_CORRUPT, shard, "record %llu: the stream ends before it",
                      (unsigned long long)i);
        tfr_error_at(err, (long long)i, (long long)ix->rec[2 * i], -1);
    } else if (st == TFR_OK) {
        uint8_t *p = tfr_malloc(n ? n : 1);
        if (!p) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for a %zu-byte record", n);
        } else {
            memcpy(p, d, n);
            *data = p;
            *len = n;
        }
    }
    tfr_record_reader_close(r);
    return st;
}
