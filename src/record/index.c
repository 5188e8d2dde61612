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

static tfr_status bad(tfr_error *err, const char *path, int line, const char *what)
{
    return tfr_fail(err, TFR_ERR_FORMAT, path, "index line %d: %s", line, what);
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

/* reads exactly n bytes at offset off of f; 0, or -1 */
static int read_at(FILE *f, uint64_t off, void *p, size_t n)
{
    return fseeko(f, (off_t)off, SEEK_SET) == 0 && fread(p, 1, n, f) == n ? 0 : -1;
}

/* Where the deflate data of the file's first member starts: after a gzip
 * header with its optional fields (any writer's), or a 2-byte zlib one. */
static int stream_start(FILE *f, tfr_compression comp, uint64_t *start)
{
    uint8_t h[10];
    if (read_at(f, 0, h, comp == TFR_COMPRESS_GZIP ? 10 : 2))
        return -1;
    if (comp == TFR_COMPRESS_ZLIB) {
        *start = 2;
        return (h[1] & 0x20) ? -1 : 0; /* a preset dictionary: not ours to know */
    }
    if (h[0] != 0x1f || h[1] != 0x8b)
        return -1;
    uint64_t at = 10;
    int c;
    if (h[3] & 4) { /* FEXTRA */
        uint8_t x[2];
        if (fread(x, 1, 2, f) != 2)
            return -1;
        at += 2 + (uint64_t)(x[0] | x[1] << 8);
        if (fseeko(f, (off_t)at, SEEK_SET))
            return -1;
    }
    for (int field = 8; field <= 16; field *= 2) /* FNAME, FCOMMENT: zero-terminated */
        if (h[3] & field) {
            do {
                c = fgetc(f);
                at++;
            } while (c > 0);
            if (c < 0)
                return -1;
        }
    if (h[3] & 2) /* FHCRC */
        at += 2;
    *start = at;
    return 0;
}

/* Checks one record's framing and CRCs; rec holds 12 + len + 4 bytes. */
static tfr_status check_record(const uint8_t *rec, uint64_t len, const char *shard, uint64_t i,
                               uint64_t off, tfr_error *err)
{
    tfr_status st = TFR_OK;
    if (tfr_get_le64(rec) != len)
        st = tfr_fail(err, TFR_ERR_CORRUPT, shard, "record %llu: its length is not the index's",
                      (unsigned long long)i);
    else if (tfr_get_le32(rec + 8) != tfr_crc_mask(tfr_crc32c(rec, 8)))
        st = tfr_fail(err, TFR_ERR_CORRUPT, shard, "record %llu: length CRC mismatch",
                      (unsigned long long)i);
    else if (tfr_get_le32(rec + 12 + len) != tfr_crc_mask(tfr_crc32c(rec + 12, (size_t)len)))
        st = tfr_fail(err, TFR_ERR_CORRUPT, shard, "record %llu: data CRC mismatch",
                      (unsigned long long)i);
    if (st && err)
        tfr_error_at(err, (long long)i, (long long)off, -1);
    return st;
}

tfr_status tfr_record_read_at(const char *shard, const tfr_record_index *ix, uint64_t i,
                              uint8_t **data, size_t *len, tfr_error *err)
{
    *data = NULL;
    *len = 0;
    if (i >= ix->nrec)
        return tfr_fail(err, TFR_ERR_ARG, shard, "record %llu: the shard has %llu",
                        (unsigned long long)i, (unsigned long long)ix->nrec);
    struct stat sb;
    if (stat(shard, &sb) != 0)
        return tfr_fail_errno(err, TFR_ERR_IO, shard, "cannot open");
    if ((uint64_t)sb.st_size != ix->bytes)
        return tfr_fail(err, TFR_ERR_ARG, shard, "the index is of a %llu-byte file, this one "
                        "has %lld bytes (rebuild the index)", (unsigned long long)ix->bytes,
                        (long long)sb.st_size);
    const uint64_t off = ix->rec[2 * i], rlen = ix->rec[2 * i + 1];
    if (rlen > SIZE_MAX - 16 || rlen > ((uint64_t)1 << 40))
        return tfr_fail(err, TFR_ERR_FORMAT, shard, "record %llu: length %llu in the index",
                        (unsigned long long)i, (unsigned long long)rlen);
    const size_t need = (size_t)rlen + 16;
    /* deflate expands at most 1032:1, so a compressed file holds no more */
    uint64_t most = ix->comp == TFR_COMPRESS_NONE ? ix->bytes
                    : ix->bytes > UINT64_MAX / 1032 ? UINT64_MAX : ix->bytes * 1032;
    if (off > most || need > most - off)
        return tfr_fail(err, TFR_ERR_FORMAT, shard, "record %llu runs past what the file can "
                        "hold", (unsigned long long)i);
    uint8_t *rec = tfr_malloc(need);
    FILE *f = fopen(shard, "rb");
    tfr_status st = TFR_OK;
    if (!rec || !f) {
        st = !rec ? tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for a %zu-byte record", need)
                  : tfr_fail_errno(err, TFR_ERR_IO, shard, "cannot open");
        goto done;
    }
    if (ix->comp == TFR_COMPRESS_NONE) {
        if (read_at(f, off, rec, need))
            st = tfr_fail_errno(err, TFR_ERR_IO, shard, "read");
    } else {
        /* inflate from the last chunk that starts at or before the record
         * (seekable), else from the stream's start */
        uint64_t coff = 0, uoff = 0;
        if (stream_start(f, ix->comp, &coff)) {
            st = tfr_fail(err, TFR_ERR_CORRUPT, shard, "not a gzip or zlib stream at its start");
            goto done;
        }
        for (uint64_t c = 0; ix->seekable && c < ix->nchk && ix->chk[2 * c + 1] <= off; c++) {
            coff = ix->chk[2 * c];
            uoff = ix->chk[2 * c + 1];
        }
        const tfr_codec *codec = tfr_codec_fastest();
        void *zs = NULL;
        uint8_t *in = tfr_malloc(READ_BLOCK), *scratch = tfr_malloc(READ_BLOCK);
        if (!in || !scratch || (st = codec->inflate_new(TFR_WRAP_RAW, &zs, err))) {
            if (!st)
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        } else if (fseeko(f, (off_t)coff, SEEK_SET) != 0) {
            st = tfr_fail_errno(err, TFR_ERR_IO, shard, "seek");
        }
        uint64_t pos = uoff; /* stream offset of the next byte inflated */
        size_t have = 0;     /* bytes of the record collected */
        tfr_codec_io io = {in, 0, NULL, 0};
        int eof = 0;
        while (!st && have < need) {
            if (io.in_len == 0 && !eof) {
                size_t k = fread(in, 1, READ_BLOCK, f);
                eof = k == 0; /* the engine may still hold output it has read */
                io.in = in;
                io.in_len = k;
            }
            /* before the record: into scratch; then: into the record */
            uint8_t *dst = pos < off ? scratch : rec + have;
            size_t room = pos < off ? (off - pos < READ_BLOCK ? (size_t)(off - pos) : READ_BLOCK)
                                    : need - have;
            io.out = dst;
            io.out_len = room;
            tfr_codec_rc rc = codec->inflate(zs, &io, err);
            size_t made = room - io.out_len;
            if (pos < off)
                pos += made;
            else
                have += made;
            if (rc == TFR_CODEC_ERROR) {
                st = err ? err->code : TFR_ERR_CORRUPT;
                if (err)
                    snprintf(err->path, sizeof err->path, "%s", shard);
            } else if ((rc == TFR_CODEC_END || (eof && rc == TFR_CODEC_NEED)) && have < need) {
                st = tfr_fail(err, TFR_ERR_CORRUPT, shard, "record %llu: the stream ends before "
                              "it", (unsigned long long)i);
            }
        }
        if (zs)
            codec->inflate_free(zs);
        free(in);
        free(scratch);
    }
    if (!st)
        st = check_record(rec, rlen, shard, i, off, err);
    if (!st) {
        memmove(rec, rec + 12, (size_t)rlen);
        *data = rec;
        *len = (size_t)rlen;
        rec = NULL;
    }
done:
    if (f)
        fclose(f);
    free(rec);
    return st;
}
