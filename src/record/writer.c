/*
 * record/writer.c - TFRecord writer: framing, NONE/ZLIB/GZIP, temp + rename.
 *
 * The deflate bytes come from an engine (record/codec.h; zlib today); this
 * file calls no compression library itself.
 *
 * Classic mode (chunk_bytes == 0) reproduces TensorFlow's ZlibOutputBuffer:
 * one engine stream (gzip or zlib wrapper, memLevel 9), everything fed with
 * TFR_FLUSH_NONE, one TFR_FLUSH_FINISH at close.
 *
 * Chunked mode cuts the uncompressed stream at fixed multiples of
 * chunk_bytes. Each chunk is raw-deflated on its own, primed with the 32 KiB
 * before it, and ended on a byte boundary (the last one ends the stream), so
 * the pieces concatenate into one valid deflate stream. We write the
 * gzip/zlib header and trailer ourselves and merge the chunks' CRC-32 /
 * Adler-32 with the engine's combine function. Chunk boundaries depend only
 * on byte positions, never on the thread count, so the file is the same on 1
 * or 64 threads.
 */

#include "record/codec.h"
#include "record_impl.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/fsio.h"
#include "util/opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define STAGE_BYTES (256u << 10) /* TF's input_buffer_size */
#define DICT_BYTES  32768u

typedef struct chunk_slot {
    void      *cs;    /* the engine's chunk state, made on first use */
    uint8_t   *out;
    size_t     out_cap, out_len;
    uint32_t   check; /* crc32 or adler32 of the chunk */
    tfr_status st;    /* this chunk's failure, reported in chunk order */
    tfr_error  e;
} chunk_slot;

struct tfr_record_writer {
    tfr_atomic_file af;    /* the temporary (or, direct, the file itself) */
    tfr_writer_opts o;
    tfr_status      sticky;
    tfr_error       sticky_err;
    uint64_t        count, ubytes, fbytes;
    uint32_t        fcrc;  /* CRC-32C of the bytes written to the file */

    /* staging of uncompressed bytes (both modes) */
    uint8_t *stage;
    size_t   stage_len, stage_cap;

    const tfr_codec *codec;
    tfr_codec_wrap   wrap;  /* GZIP or ZLIB (unused for NONE) */

    /* classic mode */
    void    *zs;           /* the engine's stream */
    uint8_t *zout;

    /* chunked mode: stage holds [dict | chunk 0 | chunk 1 | ...] */
    int         slots;
    chunk_slot *slot;
    size_t      dict_len;    /* valid dictionary bytes at stage[0..) */
    uint32_t    check;       /* running crc32 / adler32 of all data */
    int         header_done;

    /* the index (index_path): records as (uncompressed offset, length),
     * chunks as (compressed offset, uncompressed offset) */
    uint64_t   *rec, *chk;
    size_t      nrec, reccap, nchk, chkcap;
    uint64_t    chunk_uoff;  /* uncompressed bytes of the chunks written */
};

/* two numbers on a growing list; -1 when out of memory */
static int pair_push(uint64_t **v, size_t *n, size_t *cap, uint64_t a, uint64_t b)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        uint64_t *nv = tfr_realloc(*v, c * 2 * sizeof **v);
        if (!nv)
            return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[2 * *n] = a;
    (*v)[2 * *n + 1] = b;
    (*n)++;
    return 0;
}

void tfr_writer_opts_init(tfr_writer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->compression = TFR_COMPRESS_GZIP;
    o->level = -1;
    o->chunk_bytes = 0;
    o->threads = 0;
    o->sync = 1;
}

const char *tfr_compression_name(tfr_compression c)
{
    switch (c) {
    case TFR_COMPRESS_NONE: return "none";
    case TFR_COMPRESS_ZLIB: return "zlib";
    case TFR_COMPRESS_GZIP: return "gzip";
    case TFR_COMPRESS_AUTO: return "auto";
    }
    return "?";
}

tfr_status tfr_compression_parse(const char *s, tfr_compression *out)
{
    if (!s || !out)
        return TFR_ERR_ARG;
    if (!*s || !strcasecmp(s, "none"))
        *out = TFR_COMPRESS_NONE;
    else if (!strcasecmp(s, "zlib"))
        *out = TFR_COMPRESS_ZLIB;
    else if (!strcasecmp(s, "gzip"))
        *out = TFR_COMPRESS_GZIP;
    else if (!strcasecmp(s, "auto"))
        *out = TFR_COMPRESS_AUTO;
    else
        return TFR_ERR_ARG;
    return TFR_OK;
}

static tfr_status fail_sticky(tfr_record_writer *w, tfr_error *err)
{
    if (err && err != &w->sticky_err)
        *err = w->sticky_err;
    return w->sticky;
}

static tfr_status set_sticky(tfr_record_writer *w, tfr_status st)
{
    w->sticky = st;
    w->sticky_err.code = st;
    return st;
}

static tfr_status out_write(tfr_record_writer *w, const void *p, size_t n)
{
    if (tfr_write_all(w->af.fd, p, n) != 0)
        return set_sticky(w, tfr_fail_errno(&w->sticky_err, TFR_ERR_IO,
                                            w->af.path, "write"));
    w->fbytes += n;
    w->fcrc = tfr_crc32c_extend(w->fcrc, p, n);
    return TFR_OK;
}

/* ---- classic mode ----------------------------------------------------- */

/* The engine's error with this file's name; it becomes sticky. */
static tfr_status engine_fail(tfr_record_writer *w, const tfr_error *e)
{
    return set_sticky(w, tfr_fail(&w->sticky_err, e->code, w->af.path, "%s", e->msg));
}

static tfr_status classic_deflate(tfr_record_writer *w, const uint8_t *in,
                                  size_t n, tfr_codec_flush flush)
{
    tfr_codec_io io = {in, n, NULL, 0};
    for (;;) {
        io.out = w->zout;
        io.out_len = STAGE_BYTES;
        tfr_error e;
        tfr_codec_rc rc = w->codec->deflate(w->zs, &io, flush, &e);
        if (rc == TFR_CODEC_ERROR)
            return engine_fail(w, &e);
        size_t have = STAGE_BYTES - io.out_len;
        if (have) {
            tfr_status st = out_write(w, w->zout, have);
            if (st)
                return st;
        }
        if (flush == TFR_FLUSH_FINISH ? rc == TFR_CODEC_END
                                      : (io.in_len == 0 && io.out_len != 0))
            break;
    }
    return TFR_OK;
}

/* ---- chunked mode ----------------------------------------------------- */

static void put_header(tfr_record_writer *w, uint8_t *h, size_t *n)
{
    int level = w->o.level < 0 ? 6 : w->o.level;
    if (w->o.compression == TFR_COMPRESS_GZIP) {
        static const uint8_t g[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        memcpy(h, g, 10);
        /* XFL as zlib sets it */
        h[8] = level == 9 ? 2 : (level < 2 ? 4 : 0);
        *n = 10;
    } else {
        unsigned cmf = 0x78;
        unsigned flevel = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
        unsigned flg = flevel << 6;
        flg += 31 - (cmf * 256 + flg) % 31;
        h[0] = (uint8_t)cmf;
        h[1] = (uint8_t)flg;
        *n = 2;
    }
}

static size_t chunk_cap(const tfr_record_writer *w)
{
    return (size_t)w->slots * w->o.chunk_bytes;
}

/*
 * A chunk that deflate shrinks by less than 1/STORE_GAIN of its size (JPEG
 * bytes, already-compressed payloads) is written as stored blocks instead:
 * the file grows by that little, and every reader then copies the chunk
 * rather than Huffman-decoding it (ISA-L's inflate of such data cost a
 * fifth as much as the JPEG decode in a photo stream). Stored blocks are plain deflate
 * (RFC 1951 3.2.4), byte-aligned like the chunks' sync-flush ends, and the
 * next chunk's dictionary is the same uncompressed bytes, so the pieces
 * still concatenate into one stream; the output still depends only on
 * (dict, input, level, last).
 */
#define STORE_GAIN  32
#define STORED_MAX  65535u

static size_t stored_bytes(size_t n)
{
    return n + 5 * (n ? (n + STORED_MAX - 1) / STORED_MAX : 1);
}

static void put_stored(uint8_t *o, const uint8_t *in, size_t n, int last)
{
    do {
        size_t b = n < STORED_MAX ? n : STORED_MAX;
        o[0] = (uint8_t)(last && b == n); /* BFINAL, BTYPE 00, padding */
        o[1] = (uint8_t)b;
        o[2] = (uint8_t)(b >> 8);
        o[3] = (uint8_t)~b;
        o[4] = (uint8_t)(~b >> 8);
        memcpy(o + 5, in, b);
        o += 5 + b;
        in += b;
        n -= b;
    } while (n);
}

/* Chunk i of nchunks in stage after the dictionary, into its slot. */
static void compress_chunk(tfr_record_writer *w, int i, int nchunks, size_t last_len, int final)
{
    const size_t cb = w->o.chunk_bytes;
    const uint8_t *base = w->stage + DICT_BYTES;
    chunk_slot *s = &w->slot[i];
    const uint8_t *in = base + (size_t)i * cb;
    size_t n = (i == nchunks - 1) ? last_len : cb;
    size_t dlen = w->o.seekable ? 0 : i > 0 ? DICT_BYTES : w->dict_len;
    s->st = TFR_OK;
    if (!s->cs && (s->st = w->codec->chunk_new(w->wrap, w->o.level, &s->cs, &s->e)))
        return;
    size_t need = w->codec->chunk_bound(s->cs, n);
    if (need > s->out_cap) {
        uint8_t *p = tfr_realloc(s->out, need);
        if (!p) {
            s->st = tfr_fail(&s->e, TFR_ERR_NOMEM, NULL, "out of memory");
            return;
        }
        s->out = p;
        s->out_cap = need;
    }
    const int last = final && i == nchunks - 1;
    s->st = w->codec->chunk(s->cs, in - dlen, dlen, in, n, last, s->out, s->out_cap,
                            &s->out_len, &s->check, &s->e);
    const size_t sb = stored_bytes(n);
    if (s->st || s->out_len + n / STORE_GAIN < sb)
        return; /* deflate pays */
    if (sb > s->out_cap) {
        uint8_t *p = tfr_realloc(s->out, sb);
        if (!p)
            return; /* the deflate bytes are as good */
        s->out = p;
        s->out_cap = sb;
    }
    put_stored(s->out, in, n, last);
    s->out_len = sb;
}

/*
 * Compresses nchunks chunks that sit in stage after the dictionary, the last
 * one of len last_len; final marks the end of the stream.
 */
static tfr_status chunked_flush(tfr_record_writer *w, int nchunks,
                                size_t last_len, int final)
{
#ifdef _OPENMP
    if (omp_in_parallel() && nchunks > 1) {
        /* inside a team (tfrecord-write's pipeline): the chunks become tasks
         * that any of its threads takes, between images */
        const unsigned long nc = (unsigned long)nchunks; /* (clang 14 warns on a signed one) */
#pragma omp taskloop grainsize(1)
        for (unsigned long i = 0; i < nc; i++)
            compress_chunk(w, (int)i, nchunks, last_len, final);
    } else
#endif
    {
#pragma omp parallel for schedule(static, 1) num_threads(w->slots) if (nchunks > 1)
        for (int i = 0; i < nchunks; i++)
            compress_chunk(w, i, nchunks, last_len, final);
    }

    tfr_status st = TFR_OK;
    if (!w->header_done) {
        uint8_t h[10];
        size_t hn;
        put_header(w, h, &hn);
        if ((st = out_write(w, h, hn)))
            return st;
        w->header_done = 1;
    }
    for (int i = 0; i < nchunks; i++) {
        chunk_slot *s = &w->slot[i];
        if (s->st)
            return engine_fail(w, &s->e);
        size_t n = (i == nchunks - 1) ? last_len : w->o.chunk_bytes;
        if (w->o.index_path && n &&
            pair_push(&w->chk, &w->nchk, &w->chkcap, w->fbytes, w->chunk_uoff)) {
            tfr_error e;
            tfr_fail(&e, TFR_ERR_NOMEM, NULL, "out of memory for the index");
            return engine_fail(w, &e);
        }
        w->chunk_uoff += n;
        if ((st = out_write(w, s->out, s->out_len)))
            return st;
        w->check = w->codec->check_combine(w->wrap, w->check, s->check, n);
    }
    /* keep the last 32 KiB as the next dictionary */
    size_t total = (size_t)(nchunks - 1) * w->o.chunk_bytes + last_len;
    size_t avail = w->dict_len + total;
    size_t keep = avail < DICT_BYTES ? avail : DICT_BYTES;
    memmove(w->stage + DICT_BYTES - keep, w->stage + DICT_BYTES + total - keep,
            keep);
    w->dict_len = keep; /* it now sits right before stage + DICT_BYTES */
    w->stage_len = 0;
    return TFR_OK;
}

/* ---- common ------------------------------------------------------------ */

/* Flushes the staging buffer when it is full (or always when force). */
static tfr_status stage_flush(tfr_record_writer *w, int force)
{
    if (w->o.compression == TFR_COMPRESS_NONE) {
        tfr_status st = out_write(w, w->stage, w->stage_len);
        w->stage_len = 0;
        return st;
    }
    if (w->o.chunk_bytes == 0) {
        tfr_status st = classic_deflate(w, w->stage, w->stage_len, TFR_FLUSH_NONE);
        w->stage_len = 0;
        return st;
    }
    (void)force;
    return chunked_flush(w, w->slots, w->o.chunk_bytes, 0);
}

static tfr_status stage_put(tfr_record_writer *w, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint8_t *stage = w->stage + (w->o.chunk_bytes ? DICT_BYTES : 0);
    while (n) {
        size_t room = w->stage_cap - w->stage_len;
        size_t k = n < room ? n : room;
        memcpy(stage + w->stage_len, p, k);
        w->stage_len += k;
        p += k;
        n -= k;
        if (w->stage_len == w->stage_cap) {
            tfr_status st = stage_flush(w, 0);
            if (st)
                return st;
        }
    }
    return TFR_OK;
}

tfr_status tfr_record_writer_open(const char *path, const tfr_writer_opts *opts,
                                  tfr_record_writer **out, tfr_error *err)
{
    tfr_status st = TFR_OK;
    if (out)
        *out = NULL;
    if (!path || !out)
        return tfr_fail(err, TFR_ERR_ARG, path, "record writer: NULL argument");
    TFR_CHECK_OPTS(tfr_writer_opts, opts, err);
    tfr_record_writer *w = tfr_calloc(1, sizeof *w);
    if (!w)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    tfr_error_clear(&w->sticky_err);
    if (opts)
        w->o = *opts;
    else
        tfr_writer_opts_init(&w->o);
    if (w->o.compression == TFR_COMPRESS_AUTO)
        w->o.compression = TFR_COMPRESS_GZIP;
    if (w->o.level < -1 || w->o.level > 9) {
        st = tfr_fail(err, TFR_ERR_ARG, path, "compression level %d not in -1..9",
                      w->o.level);
        goto fail;
    }
    if (w->o.compression == TFR_COMPRESS_NONE)
        w->o.chunk_bytes = 0;
    w->codec = tfr_codec_default();
    if (w->o.engine && !(w->codec = tfr_codec_find(w->o.engine))) {
        st = tfr_fail(err, TFR_ERR_ARG, path, "deflate engine '%s' is not built in (this "
                      "build has: %s, auto)", w->o.engine, tfr_writer_engines());
        goto fail;
    }
    w->wrap = w->o.compression == TFR_COMPRESS_GZIP ? TFR_WRAP_GZIP : TFR_WRAP_ZLIB;
    if (w->o.chunk_bytes && w->o.chunk_bytes < 2 * DICT_BYTES)
        w->o.chunk_bytes = 2 * DICT_BYTES;
    if (w->o.chunk_bytes > (256u << 20))
        w->o.chunk_bytes = 256u << 20;
    if (w->o.chunk_bytes) {
        int t = tfr_threads_or_default(w->o.threads);
        if (t > 64)
            t = 64;
        w->slots = t;
        w->slot = tfr_calloc((size_t)t, sizeof *w->slot);
        w->stage_cap = chunk_cap(w);
        w->stage = tfr_malloc(DICT_BYTES + w->stage_cap);
        w->check = tfr_codec_check_init(w->wrap);
        if (!w->slot || !w->stage) {
            st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
            goto fail;
        }
    } else {
        w->stage_cap = STAGE_BYTES;
        w->stage = tfr_malloc(STAGE_BYTES);
        if (!w->stage) {
            st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
            goto fail;
        }
        if (w->o.compression != TFR_COMPRESS_NONE) {
            w->zout = tfr_malloc(STAGE_BYTES);
            if (!w->zout) {
                st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
                goto fail;
            }
            tfr_error e;
            if ((st = w->codec->deflate_new(w->wrap, w->o.level, &w->zs, &e))) {
                tfr_fail(err, st, path, "%s", e.msg);
                goto fail;
            }
        }
    }

    /* "<path>.tmp.<pid>", created last so that a failed open leaves nothing */
    if ((st = tfr_atomic_open(&w->af, path, NULL,
                              (w->o.sync ? 0u : TFR_ATOMIC_NOSYNC) |
                                  (w->o.direct ? TFR_ATOMIC_DIRECT : 0u),
                              err)))
        goto fail;
    *out = w;
    return TFR_OK;
fail:
    tfr_record_writer_abort(w);
    return st;
}

tfr_status tfr_record_writer_append(tfr_record_writer *w, const void *data,
                                    size_t len, tfr_error *err)
{
    if (!w)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "record writer: NULL handle");
    if (w->sticky)
        return fail_sticky(w, err);
    if (!data && len)
        return tfr_fail(err, TFR_ERR_ARG, w->af.path, "record writer: NULL data");
    if (w->o.index_path && pair_push(&w->rec, &w->nrec, &w->reccap, w->ubytes, len))
        return tfr_fail(err, TFR_ERR_NOMEM, w->af.path, "out of memory for the index");
    uint8_t hdr[12], ftr[4];
    tfr_frame_header(hdr, len);
    tfr_put_le32(ftr, tfr_crc_mask(tfr_crc32c(data, len)));
    tfr_status st;
    if ((st = stage_put(w, hdr, 12)) || (st = stage_put(w, data, len)) ||
        (st = stage_put(w, ftr, 4)))
        return fail_sticky(w, err);
    w->count++;
    w->ubytes += 16 + len;
    return TFR_OK;
}

tfr_status tfr_record_writer_flush(tfr_record_writer *w, tfr_error *err)
{
    if (!w)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "record writer: NULL handle");
    if (w->sticky)
        return fail_sticky(w, err);
    tfr_status st = TFR_OK;
    if (w->o.compression == TFR_COMPRESS_NONE) {
        st = stage_flush(w, 1);
    } else if (w->o.chunk_bytes == 0) {
        st = classic_deflate(w, w->stage, w->stage_len, TFR_FLUSH_SYNC);
        w->stage_len = 0;
    }
    return st ? fail_sticky(w, err) : TFR_OK;
}

uint64_t tfr_record_writer_count(const tfr_record_writer *w) { return w ? w->count : 0; }
uint64_t tfr_record_writer_bytes(const tfr_record_writer *w) { return w ? w->ubytes : 0; }
uint64_t tfr_record_writer_file_bytes(const tfr_record_writer *w) { return w ? w->fbytes : 0; }

static void writer_free(tfr_record_writer *w)
{
    if (w->zs)
        w->codec->deflate_free(w->zs);
    for (int i = 0; i < w->slots && w->slot; i++) {
        if (w->slot[i].cs)
            w->codec->chunk_free(w->slot[i].cs);
        free(w->slot[i].out);
    }
    free(w->slot);
    free(w->zout);
    free(w->stage);
    free(w->rec);
    free(w->chk);
    free(w);
}

void tfr_record_writer_abort(tfr_record_writer *w)
{
    if (!w)
        return;
    tfr_atomic_abort(&w->af);
    writer_free(w);
}

static tfr_status finish_stream(tfr_record_writer *w)
{
    tfr_status st;
    if (w->o.compression == TFR_COMPRESS_NONE)
        return stage_flush(w, 1);
    if (w->o.chunk_bytes == 0) {
        if ((st = classic_deflate(w, w->stage, w->stage_len, TFR_FLUSH_FINISH)))
            return st;
        w->stage_len = 0;
        return TFR_OK;
    }
    size_t cb = w->o.chunk_bytes;
    int nchunks = w->stage_len == 0 ? 1 : (int)((w->stage_len + cb - 1) / cb);
    size_t last = w->stage_len - (size_t)(nchunks - 1) * cb;
    if ((st = chunked_flush(w, nchunks, last, 1)))
        return st;
    uint8_t t[8];
    if (w->o.compression == TFR_COMPRESS_GZIP) {
        tfr_put_le32(t, w->check);
        tfr_put_le32(t + 4, (uint32_t)w->ubytes);
    } else {
        t[0] = (uint8_t)(w->check >> 24); t[1] = (uint8_t)(w->check >> 16);
        t[2] = (uint8_t)(w->check >> 8);  t[3] = (uint8_t)w->check;
    }
    return out_write(w, t, w->o.compression == TFR_COMPRESS_GZIP ? 8 : 4);
}

/* The index of the shard just committed (see tfr_record_index_load). */
static tfr_status write_index(tfr_record_writer *w)
{
    int seekable = w->o.compression == TFR_COMPRESS_NONE || (w->o.chunk_bytes && w->o.seekable);
    tfr_status st = tfr_record_index_save(w->o.index_path, w->fbytes, w->o.compression, seekable,
                                          w->rec, w->nrec, w->chk, w->nchk, w->o.sync,
                                          &w->sticky_err);
    return st ? set_sticky(w, st) : TFR_OK;
}

tfr_status tfr_record_writer_close(tfr_record_writer *w, tfr_writer_result *res,
                                   tfr_error *err)
{
    if (!w)
        return TFR_OK;
    tfr_status st = w->sticky;
    if (!st)
        st = finish_stream(w);
    /* fsync (unless !sync), close, rename; the temporary goes on failure */
    if (!st && (st = tfr_atomic_commit(&w->af, &w->sticky_err)))
        set_sticky(w, st);
    if (st)
        fail_sticky(w, err);
    else if (w->o.index_path && (st = write_index(w)))
        fail_sticky(w, err);
    if (!st && res) {
        res->records = w->count;
        res->bytes = w->ubytes;
        res->file_bytes = w->fbytes;
        res->file_crc32c = w->fcrc;
        res->indexed = w->o.index_path != NULL;
        res->seekable = res->indexed && (w->o.compression == TFR_COMPRESS_NONE ||
                                         (w->o.chunk_bytes && w->o.seekable));
        res->chunks = res->indexed ? (uint64_t)w->nchk : 0;
    }
    tfr_atomic_abort(&w->af); /* after an earlier error: drop the temporary */
    writer_free(w);
    return st;
}
