/*
 * record/codec_zlib.c - the zlib engine: the only file that calls zlib for
 * TFRecord data.
 *
 * Streams use TensorFlow's ZlibCompressionOptions: deflateInit2(level,
 * Z_DEFLATED, 31 (gzip) or 15 (zlib), memLevel 9, Z_DEFAULT_STRATEGY), so the
 * single-stream writer is byte-for-byte what TensorFlow writes. Chunks are
 * raw deflate (window bits -15, memLevel 9) primed with deflateSetDictionary
 * and ended with Z_SYNC_FLUSH (Z_FINISH for the last). Messages keep zlib's
 * return codes: "inflate() failed with error -3: incorrect header check" is
 * what TensorFlow reports too.
 */
#include "record/codec.h"
#include "util/alloc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MEM_LEVEL 9 /* TensorFlow's, not zlib's default 8 */

static int wbits(tfr_codec_wrap wrap)
{
    return wrap == TFR_WRAP_GZIP ? 31 : wrap == TFR_WRAP_ZLIB ? 15 : -15;
}

/* zlib counts in uInt; the rest of a longer buffer goes on the next step */
static uInt clamp(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

static tfr_status deflate_fail(tfr_error *err, int rc)
{
    return tfr_fail(err, rc == Z_MEM_ERROR ? TFR_ERR_NOMEM : TFR_ERR_IO, NULL,
                    "deflate failed (%d)", rc);
}

/* ---- streaming compression --------------------------------------------- */

/* zlib's stream pointers onto the caller's buffers (in, out bytes of them) */
static void z_point(z_stream *z, const tfr_codec_io *io, uInt in, uInt out)
{
    z->next_in = (Bytef *)io->in;
    z->avail_in = in;
    z->next_out = io->out;
    z->avail_out = out;
}

/* moves the caller's buffers past what zlib consumed and produced */
static void z_advance(const z_stream *z, tfr_codec_io *io, uInt in, uInt out)
{
    io->in += in - z->avail_in;
    io->in_len -= in - z->avail_in;
    io->out += out - z->avail_out;
    io->out_len -= out - z->avail_out;
}

/* zlib's allocations through the library's */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return tfr_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

/* A zeroed z_stream with the allocator set, or NULL. */
static z_stream *z_new(size_t bytes)
{
    z_stream *z = tfr_calloc(1, bytes);
    if (z) {
        z->zalloc = z_alloc;
        z->zfree = z_free;
    }
    return z;
}

static tfr_codec_rc z_rc(int rc)
{
    switch (rc) {
    case Z_OK:         return TFR_CODEC_OK;
    case Z_STREAM_END: return TFR_CODEC_END;
    case Z_BUF_ERROR:  return TFR_CODEC_NEED;
    default:           return TFR_CODEC_ERROR;
    }
}

static tfr_status z_deflate_new(tfr_codec_wrap wrap, int level, void **state, tfr_error *err)
{
    *state = NULL;
    z_stream *z = z_new(sizeof *z);
    if (!z || deflateInit2(z, level, Z_DEFLATED, wbits(wrap), MEM_LEVEL,
                           Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "deflateInit2 failed");
    }
    *state = z;
    return TFR_OK;
}

static tfr_codec_rc z_deflate(void *state, tfr_codec_io *io, tfr_codec_flush flush,
                              tfr_error *err)
{
    z_stream *z = state;
    uInt in = clamp(io->in_len), out = clamp(io->out_len);
    int zf = flush == TFR_FLUSH_FINISH ? Z_FINISH : flush == TFR_FLUSH_SYNC ? Z_SYNC_FLUSH
                                                                            : Z_NO_FLUSH;
    if (in < io->in_len)
        zf = Z_NO_FLUSH; /* flush only once all the input is in */
    z_point(z, io, in, out);
    int rc = deflate(z, zf);
    z_advance(z, io, in, out);
    tfr_codec_rc r = z_rc(rc);
    if (r == TFR_CODEC_ERROR)
        deflate_fail(err, rc);
    return r;
}

static void z_deflate_free(void *state)
{
    if (state) {
        deflateEnd(state);
        free(state);
    }
}

/* ---- chunks --------------------------------------------------------------- */

typedef struct zchunk {
    z_stream z;
    int      gz;   /* CRC-32 checks, else Adler-32 */
    int      used; /* deflateReset before the next chunk */
} zchunk;

static tfr_status z_chunk_new(tfr_codec_wrap wrap, int level, void **state, tfr_error *err)
{
    *state = NULL;
    zchunk *c = (zchunk *)(void *)z_new(sizeof *c); /* z is its first member */
    if (!c)
        return deflate_fail(err, Z_MEM_ERROR);
    int rc = deflateInit2(&c->z, level, Z_DEFLATED, -15, MEM_LEVEL, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        free(c);
        return deflate_fail(err, rc);
    }
    c->gz = wrap == TFR_WRAP_GZIP;
    *state = c;
    return TFR_OK;
}

static size_t z_chunk_bound(void *state, size_t n)
{
    zchunk *c = state;
    return deflateBound(&c->z, (uLong)n) + 16;
}

static tfr_status z_chunk(void *state, const uint8_t *dict, size_t dict_len, const uint8_t *in,
                          size_t n, int last, uint8_t *out, size_t out_cap, size_t *out_len,
                          uint32_t *check, tfr_error *err)
{
    zchunk *c = state;
    if (n > UINT_MAX || out_cap > UINT_MAX || dict_len > UINT_MAX)
        return deflate_fail(err, Z_BUF_ERROR); /* chunks are capped far below */
    if (c->used)
        deflateReset(&c->z);
    c->used = 1;
    if (dict_len)
        deflateSetDictionary(&c->z, dict, (uInt)dict_len);
    c->z.next_in = (Bytef *)in;
    c->z.avail_in = (uInt)n;
    c->z.next_out = out;
    c->z.avail_out = (uInt)out_cap;
    int rc = deflate(&c->z, last ? Z_FINISH : Z_SYNC_FLUSH);
    if ((last && rc != Z_STREAM_END) || (!last && rc != Z_OK) || c->z.avail_in != 0)
        return deflate_fail(err, rc == Z_OK ? Z_BUF_ERROR : rc);
    *out_len = out_cap - c->z.avail_out;
    *check = c->gz ? (uint32_t)crc32(0, in, (uInt)n) : (uint32_t)adler32(1, in, (uInt)n);
    return TFR_OK;
}

static void z_chunk_free(void *state)
{
    zchunk *c = state;
    if (c) {
        deflateEnd(&c->z);
        free(c);
    }
}

static uint32_t z_check_combine(tfr_codec_wrap wrap, uint32_t a, uint32_t b, uint64_t len_b)
{
    return wrap == TFR_WRAP_ZLIB ? (uint32_t)adler32_combine(a, b, (z_off_t)len_b)
                                 : (uint32_t)crc32_combine(a, b, (z_off_t)len_b);
}

/* ---- streaming decompression ---------------------------------------------- */

static tfr_status z_inflate_new(tfr_codec_wrap wrap, void **state, tfr_error *err)
{
    *state = NULL;
    z_stream *z = z_new(sizeof *z);
    if (!z || inflateInit2(z, wbits(wrap)) != Z_OK) {
        free(z);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "inflateInit2 failed");
    }
    *state = z;
    return TFR_OK;
}

static tfr_codec_rc z_inflate(void *state, tfr_codec_io *io, tfr_error *err)
{
    z_stream *z = state;
    uInt in = clamp(io->in_len), out = clamp(io->out_len);
    z_point(z, io, in, out);
    int rc = inflate(z, Z_NO_FLUSH);
    z_advance(z, io, in, out);
    tfr_codec_rc r = z_rc(rc);
    if (r == TFR_CODEC_ERROR)
        tfr_fail(err, rc == Z_MEM_ERROR ? TFR_ERR_NOMEM : TFR_ERR_CORRUPT, NULL,
                 "inflate() failed with error %d: %s", rc, z->msg ? z->msg : "?");
    return r;
}

static void z_inflate_reset(void *state)
{
    inflateReset(state);
}

static tfr_status z_inflate_copy(void *state, void **copy, tfr_error *err)
{
    *copy = NULL;
    z_stream *z = z_new(sizeof *z);
    if (!z || inflateCopy(z, state) != Z_OK) {
        free(z);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "inflateCopy failed");
    }
    *copy = z;
    return TFR_OK;
}

static void z_inflate_free(void *state)
{
    if (state) {
        inflateEnd(state);
        free(state);
    }
}

const tfr_codec tfr_codec_zlib = {
    .name = "zlib",
    .stable_stream = 1,
    .deflate_new = z_deflate_new,
    .deflate = z_deflate,
    .deflate_free = z_deflate_free,
    .chunk_new = z_chunk_new,
    .chunk_bound = z_chunk_bound,
    .chunk = z_chunk,
    .chunk_free = z_chunk_free,
    .check_combine = z_check_combine,
    .inflate_new = z_inflate_new,
    .inflate = z_inflate,
    .inflate_reset = z_inflate_reset,
    .inflate_copy = z_inflate_copy,
    .inflate_free = z_inflate_free,
};
