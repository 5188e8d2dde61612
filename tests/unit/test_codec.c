/*
 * tests/unit/test_codec.c - the contract of every built-in deflate engine
 * (record/codec.h), checked against zlib as the independent decoder:
 * streams in both wrappers fed through 1-byte buffers, chunks that
 * concatenate into one member whatever the split, the inflate contract
 * (NEED on cut-off data, END at each member, reset for the next one, input
 * in odd pieces, a copied state that goes on alone) and damaged data
 * reported as TFR_ERR_CORRUPT.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "record/codec.h"
#include "testutil.h"

#define N 300000

/* half random, half repetitive: both literal and match paths */
static void fill(uint8_t *p, size_t n)
{
    test_fill_random(p, n / 2, 11);
    for (size_t i = n / 2; i < n; i++)
        p[i] = (uint8_t)(i % 23 + (i / 700) % 5);
}

/* zlib's inflate (window bits 31 or 15) of a whole buffer; NULL on failure */
static uint8_t *zlib_inflate(const uint8_t *in, size_t n, int wbits, size_t *outn)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK)
        return NULL;
    size_t cap = 2 * N + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_FINISH);
    *outn = cap - z.avail_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* the engine's inflate through out_step-byte output windows; status of the end */
static tfr_codec_rc engine_inflate(const tfr_codec *c, tfr_codec_wrap wrap, const uint8_t *in,
                                   size_t n, size_t out_step, uint8_t *out, size_t *outn,
                                   int *members, tfr_error *err)
{
    void *s = NULL;
    EXPECT_OK(c->inflate_new(wrap, &s, err), err);
    if (!s)
        return TFR_CODEC_ERROR;
    tfr_codec_io io = {in, n, out, 0};
    size_t produced = 0;
    tfr_codec_rc rc = TFR_CODEC_OK;
    *members = 0;
    for (;;) {
        io.out = out + produced;
        io.out_len = out_step;
        size_t in_before = io.in_len;
        rc = c->inflate(s, &io, err);
        produced = (size_t)(io.out - out);
        if (rc == TFR_CODEC_ERROR)
            break;
        if (rc != TFR_CODEC_NEED && io.in_len == in_before && io.out_len == out_step) {
            FAILF("%s: inflate returned %d without progress", c->name, (int)rc);
            rc = TFR_CODEC_ERROR;
            break;
        }
        if (rc == TFR_CODEC_END) {
            (*members)++;
            if (io.in_len == 0)
                break;
            c->inflate_reset(s);
            continue;
        }
        if (rc == TFR_CODEC_NEED && io.in_len == 0)
            break; /* cut off inside a member */
    }
    c->inflate_free(s);
    *outn = produced;
    return rc;
}

/* the whole of data through the engine's stream, out_step output bytes a step */
static uint8_t *engine_deflate(const tfr_codec *c, tfr_codec_wrap wrap, int level,
                               const uint8_t *data, size_t n, size_t out_step, size_t *outn)
{
    tfr_error err;
    void *s = NULL;
    EXPECT_OK(c->deflate_new(wrap, level, &s, &err), &err);
    if (!s)
        return NULL;
    size_t cap = n + n / 2 + 1024, len = 0;
    uint8_t *out = malloc(cap);
    tfr_codec_io io = {data, 0, NULL, 0};
    /* input arrives in odd-sized pieces, as records do */
    size_t fed = 0;
    while (fed < n) {
        size_t k = n - fed < 4099 ? n - fed : 4099;
        io.in = data + fed;
        io.in_len = k;
        while (io.in_len) {
            io.out = out + len;
            io.out_len = out_step;
            EXPECT(c->deflate(s, &io, TFR_FLUSH_NONE, &err) != TFR_CODEC_ERROR);
            len = (size_t)(io.out - out);
        }
        fed += k;
    }
    for (int guard = 0; guard < 10000000; guard++) {
        io.out = out + len;
        io.out_len = out_step;
        tfr_codec_rc rc = c->deflate(s, &io, TFR_FLUSH_FINISH, &err);
        len = (size_t)(io.out - out);
        if (rc == TFR_CODEC_END || rc == TFR_CODEC_ERROR) {
            EXPECT(rc == TFR_CODEC_END);
            break;
        }
    }
    c->deflate_free(s);
    *outn = len;
    return out;
}

static void test_stream(const tfr_codec *c, const uint8_t *data)
{
    const tfr_codec_wrap wraps[2] = {TFR_WRAP_GZIP, TFR_WRAP_ZLIB};
    for (int wi = 0; wi < 2; wi++) {
        int wbits = wraps[wi] == TFR_WRAP_GZIP ? 31 : 15;
        size_t zn, un, big;
        uint8_t *z = engine_deflate(c, wraps[wi], -1, data, N, 1, &zn);
        uint8_t *z2 = engine_deflate(c, wraps[wi], -1, data, N, 1 << 20, &big);
        /* the bytes do not depend on the output buffer size (where the engine says so);
         * both are valid streams of the data */
        EXPECT(z && z2);
        if (c->stable_stream)
            EXPECT(zn == big && !memcmp(z, z2, zn));
        size_t un2;
        uint8_t *u2 = z2 ? zlib_inflate(z2, big, wbits, &un2) : NULL;
        EXPECT(u2 && un2 == N && !memcmp(u2, data, N));
        free(u2);
        uint8_t *u = z ? zlib_inflate(z, zn, wbits, &un) : NULL;
        EXPECT(u && un == N && !memcmp(u, data, N));
        free(u);
        /* the engine's own inflate, 1 output byte at a time */
        uint8_t *out = malloc(N + 16);
        tfr_error err;
        int members;
        EXPECT_EQ_I(engine_inflate(c, wraps[wi], z, zn, 1, out, &un, &members, &err),
                    TFR_CODEC_END);
        EXPECT(un == N && !memcmp(out, data, N) && members == 1);
        /* cut off: NEED with no input left, never END */
        EXPECT_EQ_I(engine_inflate(c, wraps[wi], z, zn - 3, 4096, out, &un, &members, &err),
                    TFR_CODEC_NEED);
        EXPECT_EQ_I(members, 0);
        /* damaged: a flipped bit in the deflate data or in the trailer */
        z[zn / 2] ^= 0x10;
        EXPECT_EQ_I(engine_inflate(c, wraps[wi], z, zn, 4096, out, &un, &members, &err),
                    TFR_CODEC_ERROR);
        EXPECT_EQ_I(err.code, TFR_ERR_CORRUPT);
        z[zn / 2] ^= 0x10;
        z[zn - 1] ^= 1;
        EXPECT_EQ_I(engine_inflate(c, wraps[wi], z, zn, 4096, out, &un, &members, &err),
                    TFR_CODEC_ERROR);
        EXPECT_EQ_I(err.code, TFR_ERR_CORRUPT);
        free(out);
        free(z);
        free(z2);
    }
}

/* chunked output assembled as the record writer does: header, chunks, trailer */
static uint8_t *chunked(const tfr_codec *c, tfr_codec_wrap wrap, const uint8_t *data,
                        size_t cb, size_t *outn)
{
    tfr_error err;
    void *s = NULL;
    EXPECT_OK(c->chunk_new(wrap, 6, &s, &err), &err);
    if (!s)
        return NULL;
    size_t cap = N + N / 2 + 64 * (N / cb + 1) + 64, len = 0;
    uint8_t *out = malloc(cap);
    if (wrap == TFR_WRAP_GZIP) {
        static const uint8_t g[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        memcpy(out, g, 10);
        len = 10;
    } else {
        out[0] = 0x78;
        out[1] = 0x9c;
        len = 2;
    }
    uint32_t check = tfr_codec_check_init(wrap);
    for (size_t off = 0; off < N; off += cb) {
        size_t n = N - off < cb ? N - off : cb;
        size_t dlen = off < 32768 ? off : 32768;
        size_t bound = c->chunk_bound(s, n), got = 0;
        uint32_t ck = 0;
        EXPECT(len + bound <= cap);
        EXPECT_OK(c->chunk(s, data + off - dlen, dlen, data + off, n, off + n == N, out + len,
                           bound, &got, &ck, &err),
                  &err);
        len += got;
        check = c->check_combine(wrap, check, ck, n);
    }
    c->chunk_free(s);
    if (wrap == TFR_WRAP_GZIP) {
        for (int i = 0; i < 4; i++)
            out[len++] = (uint8_t)(check >> (8 * i));
        for (int i = 0; i < 4; i++)
            out[len++] = (uint8_t)((uint32_t)N >> (8 * i));
    } else {
        for (int i = 3; i >= 0; i--)
            out[len++] = (uint8_t)(check >> (8 * i));
    }
    *outn = len;
    return out;
}

static void test_chunks(const tfr_codec *c, const uint8_t *data)
{
    const tfr_codec_wrap wraps[2] = {TFR_WRAP_GZIP, TFR_WRAP_ZLIB};
    const size_t sizes[3] = {65536, 100000, N};
    for (int wi = 0; wi < 2; wi++) {
        for (int si = 0; si < 3; si++) {
            size_t zn, un;
            uint8_t *z = chunked(c, wraps[wi], data, sizes[si], &zn);
            uint8_t *u = z ? zlib_inflate(z, zn, wraps[wi] == TFR_WRAP_GZIP ? 31 : 15, &un)
                           : NULL;
            if (!u || un != N || memcmp(u, data, N))
                FAILF("%s: chunks of %zu (%s) do not inflate to the input", c->name, sizes[si],
                      wraps[wi] == TFR_WRAP_GZIP ? "gzip" : "zlib");
            free(u);
            /* the same input gives the same bytes */
            size_t zn2;
            uint8_t *z2 = chunked(c, wraps[wi], data, sizes[si], &zn2);
            EXPECT(z && z2 && zn == zn2 && !memcmp(z, z2, zn));
            free(z);
            free(z2);
        }
    }
}

/* two gzip members and an empty one: END for each, reset between */
static void test_members(const tfr_codec *c, const uint8_t *data)
{
    size_t an, bn, en;
    uint8_t *a = engine_deflate(c, TFR_WRAP_GZIP, 1, data, N / 3, 4096, &an);
    uint8_t *b = engine_deflate(c, TFR_WRAP_GZIP, 9, data + N / 3, N - N / 3, 4096, &bn);
    uint8_t *e = engine_deflate(c, TFR_WRAP_GZIP, -1, data, 0, 4096, &en);
    uint8_t *all = malloc(an + bn + en);
    if (a && b && e) {
        memcpy(all, a, an);
        memcpy(all + an, e, en);
        memcpy(all + an + en, b, bn);
    }
    uint8_t *out = malloc(N + 16);
    size_t un;
    int members;
    tfr_error err;
    EXPECT_EQ_I(engine_inflate(c, TFR_WRAP_GZIP, all, an + bn + en, 7000, out, &un, &members,
                               &err),
                TFR_CODEC_END);
    EXPECT_EQ_I(members, 3);
    EXPECT(un == N && !memcmp(out, data, N));
    free(out);
    free(all);
    free(a);
    free(b);
    free(e);
}

/*
 * Input in small odd pieces (headers, block boundaries and trailers split
 * across calls, as the reader's refills split them), over three members;
 * and inflate_copy in the middle: the copy and the original each go on to
 * the same end, and what one does never moves the other.
 */
static void test_pieces_and_copy(const tfr_codec *c, const uint8_t *data)
{
    size_t an, bn, en;
    uint8_t *a = engine_deflate(c, TFR_WRAP_GZIP, 6, data, N / 2, 4096, &an);
    uint8_t *e = engine_deflate(c, TFR_WRAP_GZIP, -1, data, 0, 4096, &en);
    uint8_t *b = engine_deflate(c, TFR_WRAP_GZIP, 1, data + N / 2, N - N / 2, 4096, &bn);
    size_t zn = an + en + bn;
    uint8_t *z = malloc(zn), *out = malloc(N + 16), *out2 = malloc(N + 16);
    if (!a || !b || !e || !z || !out || !out2) {
        FAILF("%s: setup", c->name);
        goto done;
    }
    memcpy(z, a, an);
    memcpy(z + an, e, en);
    memcpy(z + an + en, b, bn);
    static const size_t steps[3] = {1, 7, 4093};
    for (int si = 0; si < 3; si++) {
        tfr_error err;
        void *s = NULL, *cp = NULL;
        EXPECT_OK(c->inflate_new(TFR_WRAP_GZIP, &s, &err), &err);
        if (!s)
            continue;
        size_t pos = 0, made = 0, cpos = 0, cmade = 0;
        int members = 0, cmembers = 0, guard = 0;
        while (pos < zn && guard++ < 10000000) {
            size_t k = zn - pos < steps[si] ? zn - pos : steps[si];
            tfr_codec_io io = {z + pos, k, out + made, N + 16 - made};
            tfr_codec_rc rc = c->inflate(s, &io, &err);
            if (rc == TFR_CODEC_ERROR) {
                FAILF("%s: step %zu: %s", c->name, steps[si], err.msg);
                break;
            }
            pos = (size_t)(io.in - z);
            made = (size_t)(io.out - out);
            if (rc == TFR_CODEC_END) {
                members++;
                c->inflate_reset(s);
            }
            if (!cp && made >= N / 4) {
                /* the copy takes over here: the original's buffers are
                 * overwritten before it goes on */
                EXPECT_OK(c->inflate_copy(s, &cp, &err), &err);
                memcpy(out2, out, made);
                cpos = pos;
                cmade = made;
                cmembers = members;
                memset(out, 0xee, made);
            }
        }
        EXPECT_EQ_I(members, 3);
        EXPECT(made == N && !memcmp(out + N / 2, data + N / 2, N - N / 2));
        while (cp && cpos < zn && guard++ < 20000000) {
            size_t k = zn - cpos < 5 ? zn - cpos : 5;
            tfr_codec_io io = {z + cpos, k, out2 + cmade, N + 16 - cmade};
            tfr_codec_rc rc = c->inflate(cp, &io, &err);
            if (rc == TFR_CODEC_ERROR) {
                FAILF("%s: the copy: %s", c->name, err.msg);
                break;
            }
            cpos = (size_t)(io.in - z);
            cmade = (size_t)(io.out - out2);
            if (rc == TFR_CODEC_END) {
                cmembers++;
                c->inflate_reset(cp);
            }
        }
        EXPECT(cp != NULL);
        EXPECT_EQ_I(cmembers, 3);
        if (cmade != N || memcmp(out2, data, N))
            FAILF("%s: the copied inflater does not go on to the data (step %zu)", c->name,
                  steps[si]);
        c->inflate_free(cp);
        c->inflate_free(s);
    }
done:
    free(a);
    free(b);
    free(e);
    free(z);
    free(out);
    free(out2);
}

int main(void)
{
    const tfr_codec *def = tfr_codec_default();
    EXPECT(def != NULL && tfr_codec_find(def->name) == def);
    EXPECT(tfr_codec_find("zlib") == &tfr_codec_zlib);
    EXPECT(tfr_codec_find("no-such-engine") == NULL);
    uint8_t *data = malloc(N);
    fill(data, N);
    for (size_t i = 0; tfr_codec_at(i); i++) {
        const tfr_codec *c = tfr_codec_at(i);
        printf("engine %s\n", c->name);
        test_stream(c, data);
        test_chunks(c, data);
        test_members(c, data);
        test_pieces_and_copy(c, data);
    }
    free(data);
    return test_failures() ? 1 : 0;
}
