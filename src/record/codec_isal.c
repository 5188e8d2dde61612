/*
 * record/codec_isal.c - the ISA-L engine (Intel's igzip, Debian libisal):
 * deflate several times faster than zlib at about its ratio, for the
 * writer's streams and chunks. Built when CMake finds libisal
 * (TFR_HAVE_ISAL).
 *
 * Levels: ISA-L has 0..3; zlib's 0..9 map to them by speed: 0 -> 0,
 * 1-3 -> 1, 4-6 (and the default -1) -> 2, 7-9 -> 3. ISA-L's level 0 still
 * compresses, with a much lower ratio (zlib's 0 stores). Chunks are raw deflate primed with
 * isal_deflate_set_dict and ended with SYNC_FLUSH (the last with
 * end_of_stream), so they concatenate into one deflate stream as zlib's
 * chunks do. Reading: isal_inflate with ISA-L's own gzip/zlib header and
 * trailer checks, about three times zlib's inflate; its state is one
 * self-contained struct (the window included), so inflate_copy is a copy.
 */
#include "record/codec.h"
#include "util/alloc.h"

#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int isal_level(int level)
{
    if (level < 0)
        level = 6;
    return level == 0 ? 0 : level <= 3 ? 1 : level <= 6 ? 2 : 3;
}

static uint32_t level_buf_size(int l)
{
    switch (l) {
    case 0: return ISAL_DEF_LVL0_DEFAULT;
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    default: return ISAL_DEF_LVL3_DEFAULT;
    }
}

typedef struct ist {
    struct isal_zstream z;
    uint8_t            *lbuf;
    uint32_t            lsize;
    int                 level, gzip_flag;
    tfr_codec_wrap      wrap;
} ist;

static void ist_free(void *state)
{
    ist *s = state;
    if (!s)
        return;
    free(s->lbuf);
    free(s);
}

static tfr_status ist_new(tfr_codec_wrap wrap, int level, int gzip_flag, void **state,
                          tfr_error *err)
{
    *state = NULL;
    ist *s = tfr_calloc(1, sizeof *s);
    if (!s)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    s->level = isal_level(level);
    s->lsize = level_buf_size(s->level);
    s->gzip_flag = gzip_flag;
    s->wrap = wrap;
    if (!(s->lbuf = tfr_malloc(s->lsize))) {
        free(s);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    *state = s;
    return TFR_OK;
}

/* a fresh stream on s's settings */
static void ist_start(ist *s)
{
    isal_deflate_init(&s->z);
    s->z.level = (uint32_t)s->level;
    s->z.level_buf = s->lbuf;
    s->z.level_buf_size = s->lsize;
    s->z.gzip_flag = (uint16_t)s->gzip_flag;
}

static tfr_status isal_fail(tfr_error *err, int rc)
{
    return tfr_fail(err, TFR_ERR_IO, NULL, "isal_deflate failed (%d)", rc);
}

/* ---- streaming compression --------------------------------------------- */

static tfr_status i_deflate_new(tfr_codec_wrap wrap, int level, void **state, tfr_error *err)
{
    tfr_status st = ist_new(wrap, level, wrap == TFR_WRAP_GZIP ? IGZIP_GZIP : IGZIP_ZLIB, state,
                            err);
    if (!st)
        ist_start(*state);
    return st;
}

static tfr_codec_rc i_deflate(void *state, tfr_codec_io *io, tfr_codec_flush flush,
                              tfr_error *err)
{
    ist *s = state;
    /* ISA-L counts in uint32: the rest of a longer buffer goes on the next step */
    uint32_t in = io->in_len > UINT32_MAX ? UINT32_MAX : (uint32_t)io->in_len;
    uint32_t out = io->out_len > UINT32_MAX ? UINT32_MAX : (uint32_t)io->out_len;
    s->z.next_in = (uint8_t *)io->in;
    s->z.avail_in = in;
    s->z.next_out = io->out;
    s->z.avail_out = out;
    s->z.flush = flush == TFR_FLUSH_SYNC ? SYNC_FLUSH : NO_FLUSH;
    s->z.end_of_stream = flush == TFR_FLUSH_FINISH && in == io->in_len;
    int rc = isal_deflate(&s->z);
    if (rc != COMP_OK) {
        isal_fail(err, rc);
        return TFR_CODEC_ERROR;
    }
    size_t used = in - s->z.avail_in, made = out - s->z.avail_out;
    io->in += used;
    io->in_len -= used;
    io->out += made;
    io->out_len -= made;
    if (flush == TFR_FLUSH_FINISH && s->z.internal_state.state == ZSTATE_END)
        return TFR_CODEC_END;
    return used || made ? TFR_CODEC_OK : TFR_CODEC_NEED;
}

/* ---- independent chunks ------------------------------------------------- */

static tfr_status i_chunk_new(tfr_codec_wrap wrap, int level, void **state, tfr_error *err)
{
    return ist_new(wrap, level, IGZIP_DEFLATE, state, err);
}

static size_t i_chunk_bound(void *state, size_t n)
{
    (void)state;
    /* stored blocks at worst (5 bytes per 64 KiB), plus Huffman headers and the flush */
    return n + n / 8 + 1024;
}

static tfr_status i_chunk(void *state, const uint8_t *dict, size_t dict_len, const uint8_t *in,
                          size_t n, int last, uint8_t *out, size_t out_cap, size_t *out_len,
                          uint32_t *check, tfr_error *err)
{
    ist *s = state;
    if (n > UINT32_MAX || out_cap > UINT32_MAX)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "isal: a chunk of %zu bytes is too large", n);
    ist_start(s);
    if (dict_len) {
        int rc = isal_deflate_set_dict(&s->z, (uint8_t *)dict, (uint32_t)dict_len);
        if (rc != COMP_OK)
            return isal_fail(err, rc);
    }
    s->z.next_in = (uint8_t *)in;
    s->z.avail_in = (uint32_t)n;
    s->z.next_out = out;
    s->z.avail_out = (uint32_t)out_cap;
    s->z.flush = last ? NO_FLUSH : SYNC_FLUSH;
    s->z.end_of_stream = (uint16_t)(last != 0);
    int rc = isal_deflate(&s->z);
    if (rc != COMP_OK)
        return isal_fail(err, rc);
    int done = last ? s->z.internal_state.state == ZSTATE_END
                    : s->z.avail_in == 0 && s->z.internal_state.state == ZSTATE_NEW_HDR;
    if (!done)
        return tfr_fail(err, TFR_ERR_IO, NULL, "isal: a %zu-byte chunk did not fit %zu bytes of "
                        "output", n, out_cap);
    *out_len = out_cap - s->z.avail_out;
    uInt nn = (uInt)n;
    *check = s->wrap == TFR_WRAP_ZLIB ? (uint32_t)adler32(1, in, nn) : (uint32_t)crc32(0, in, nn);
    return TFR_OK;
}

/* ---- the table: reading and check arithmetic are zlib's ------------------- */

static uint32_t i_check_combine(tfr_codec_wrap wrap, uint32_t a, uint32_t b, uint64_t len_b)
{
    return tfr_codec_zlib.check_combine(wrap, a, b, len_b);
}
/* ---- streaming decompression ---------------------------------------------- */

/* The whole state is one struct: isal_inflate keeps the history it needs
 * in it (tmp_out_buffer) at the end of every call, so a copy is a memcpy. */
typedef struct iin {
    struct inflate_state s;
    int                  flag; /* ISAL_GZIP, ISAL_ZLIB (header parsed, trailer checked) or raw */
} iin;

static uint32_t clamp32(size_t n)
{
    return n > 0x40000000u ? 0x40000000u : (uint32_t)n;
}

static tfr_status i_inflate_new(tfr_codec_wrap wrap, void **state, tfr_error *err)
{
    *state = NULL;
    iin *z = tfr_malloc(sizeof *z);
    if (!z)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for an ISA-L inflater");
    z->flag = wrap == TFR_WRAP_ZLIB ? ISAL_ZLIB : wrap == TFR_WRAP_GZIP ? ISAL_GZIP : ISAL_DEFLATE;
    isal_inflate_init(&z->s);
    z->s.crc_flag = (uint32_t)z->flag;
    *state = z;
    return TFR_OK;
}

/* zlib's words for the same defects, so messages do not depend on the engine */
static const char *isal_inflate_msg(int rc)
{
    switch (rc) {
    case ISAL_INVALID_BLOCK: return "invalid block type or lengths";
    case ISAL_INVALID_SYMBOL: return "invalid code";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "incorrect header check";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    case ISAL_NEED_DICT: return "need dictionary";
    default: return "invalid data";
    }
}

static tfr_codec_rc i_inflate(void *state, tfr_codec_io *io, tfr_error *err)
{
    iin *z = state;
    uint32_t in = clamp32(io->in_len), out = clamp32(io->out_len);
    z->s.next_in = (uint8_t *)io->in;
    z->s.avail_in = in;
    z->s.next_out = io->out;
    z->s.avail_out = out;
    int rc = isal_inflate(&z->s);
    size_t used = in - z->s.avail_in, made = out - z->s.avail_out;
    io->in += used;
    io->in_len -= used;
    io->out += made;
    io->out_len -= made;
    if (rc < 0 || rc == ISAL_NEED_DICT) {
        tfr_fail(err, TFR_ERR_CORRUPT, NULL, "isal_inflate failed with error %d: %s", rc,
                 isal_inflate_msg(rc));
        return TFR_CODEC_ERROR;
    }
    if (z->s.block_state == ISAL_BLOCK_FINISH)
        return TFR_CODEC_END;
    return used || made ? TFR_CODEC_OK : TFR_CODEC_NEED;
}

static void i_inflate_reset(void *state)
{
    iin *z = state;
    isal_inflate_reset(&z->s);
    z->s.crc_flag = (uint32_t)z->flag;
}

static tfr_status i_inflate_copy(void *state, void **copy, tfr_error *err)
{
    *copy = NULL;
    iin *z = tfr_malloc(sizeof *z);
    if (!z)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for an ISA-L inflater");
    memcpy(z, state, sizeof *z);
    *copy = z;
    return TFR_OK;
}

static void i_inflate_free(void *state) { free(state); }

const tfr_codec tfr_codec_isal = {
    .name = "isal",
    .stable_stream = 0,
    .deflate_new = i_deflate_new,
    .deflate = i_deflate,
    .deflate_free = ist_free,
    .chunk_new = i_chunk_new,
    .chunk_bound = i_chunk_bound,
    .chunk = i_chunk,
    .chunk_free = ist_free,
    .check_combine = i_check_combine,
    .inflate_new = i_inflate_new,
    .inflate = i_inflate,
    .inflate_reset = i_inflate_reset,
    .inflate_copy = i_inflate_copy,
    .inflate_free = i_inflate_free,
};
