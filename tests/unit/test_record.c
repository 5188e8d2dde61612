/*
 * tests/unit/test_record.c - record writer/reader: round trips for every
 * compression (classic and chunked), empty files, empty and 16 MiB records,
 * zlib as the independent decoder of our GZIP/ZLIB output, chunks stored
 * where deflate does not pay, concatenated
 * gzip members, and every defect the reader must report: each single-bit
 * flip in a plain file, truncation at every byte of a GZIP file, damaged
 * and missing gzip trailers, trailing garbage, absurd lengths, skip mode;
 * options structs of a foreign size refused; a gzip bomb under a lying
 * length stays within a memory bound; resync over 64 MiB of zeros does
 * bounded work; long records are CRC-checked before being buffered.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "record/codec.h"
#include "record/record_impl.h"
#include "testutil.h"
#include "tfrecord/record.h"

static char dir[512];
static const char *g_engine; /* the reading engine of this pass (main) */
static int g_prefetch;       /* and whether a thread reads ahead */

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* records: i-th has length lens[i], contents from seed i */
static void make_record(uint8_t *buf, size_t len, int i)
{
    test_fill_random(buf, len, (uint64_t)i * 7919 + 1);
}

static void write_file(const char *path, tfr_compression c, size_t chunk,
                       int threads, const size_t *lens, int n)
{
    tfr_error err;
    tfr_error_clear(&err);
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.compression = c;
    o.chunk_bytes = chunk;
    o.threads = threads;
    o.sync = 0;
    tfr_record_writer *w = NULL;
    EXPECT_OK(tfr_record_writer_open(path, &o, &w, &err), &err);
    if (!w)
        return;
    size_t maxlen = 1;
    for (int i = 0; i < n; i++)
        if (lens[i] > maxlen)
            maxlen = lens[i];
    uint8_t *buf = malloc(maxlen);
    for (int i = 0; i < n; i++) {
        make_record(buf, lens[i], i);
        EXPECT_OK(tfr_record_writer_append(w, buf, lens[i], &err), &err);
    }
    EXPECT_EQ_U(tfr_record_writer_count(w), n);
    /* nothing named path exists before close */
    EXPECT(access(path, F_OK) != 0);
    EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
    EXPECT(access(path, F_OK) == 0);
    free(buf);
}

/* reads path, checks it holds exactly the records; returns the stats */
static tfr_reader_stats check_file(const char *path, tfr_compression c,
                                   const size_t *lens, int n)
{
    tfr_error err;
    tfr_error_clear(&err);
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.engine = g_engine;
    o.prefetch = g_prefetch;
    o.compression = c;
    o.buf_bytes = 4096 * 3; /* small, so records straddle refills */
    tfr_record_reader *r = NULL;
    tfr_reader_stats st;
    memset(&st, 0, sizeof st);
    EXPECT_OK(tfr_record_reader_open(path, &o, &r, &err), &err);
    if (!r)
        return st;
    size_t maxlen = 1;
    for (int i = 0; i < n; i++)
        if (lens[i] > maxlen)
            maxlen = lens[i];
    uint8_t *want = malloc(maxlen);
    for (int i = 0; i < n; i++) {
        const uint8_t *d;
        size_t len;
        tfr_status s = tfr_record_reader_next(r, &d, &len, &err);
        if (s != TFR_OK) {
            char b[4400];
            FAILF("%s record %d: %s", path, i, tfr_error_text(&err, b, sizeof b));
            break;
        }
        make_record(want, lens[i], i);
        if (len != lens[i] || memcmp(d, want, len))
            FAILF("%s record %d differs (len %zu want %zu)", path, i, len, lens[i]);
    }
    const uint8_t *d;
    size_t len;
    EXPECT_STATUS(tfr_record_reader_next(r, &d, &len, &err), TFR_ERR_EOF);
    EXPECT_STATUS(tfr_record_reader_next(r, &d, &len, &err), TFR_ERR_EOF);
    tfr_record_reader_stats(r, &st);
    EXPECT_EQ_U(st.records, n);
    EXPECT_EQ_U(st.missing_trailer, 0);
    EXPECT_EQ_U(st.trailing_bytes, 0);
    tfr_record_reader_close(r);
    free(want);
    return st;
}

/* decompresses a whole file with zlib (independent of our reader) */
static uint8_t *zlib_inflate_file(const char *path, int wbits, size_t *outn)
{
    size_t n;
    uint8_t *in = test_read_file(path, &n);
    if (!in)
        return NULL;
    size_t cap = n * 4 + 1024, len = 0;
    uint8_t *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    inflateInit2(&z, wbits);
    z.next_in = in;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (len == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = out + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    free(in);
    if (rc != Z_STREAM_END || z.avail_in != 0) {
        free(out);
        return NULL;
    }
    *outn = len;
    return out;
}

/* the framed stream a correct writer must produce */
static uint8_t *expected_stream(const size_t *lens, int n, size_t *outn)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += 16 + lens[i];
    uint8_t *s = malloc(total + 1), *p = s;
    for (int i = 0; i < n; i++) {
        tfr_frame_header(p, lens[i]);
        make_record(p + 12, lens[i], i);
        tfr_put_le32(p + 12 + lens[i], tfr_crc_mask(tfr_crc32c(p + 12, lens[i])));
        p += 16 + lens[i];
    }
    *outn = total;
    return s;
}

static void test_round_trips(void)
{
    size_t lens[200];
    int n = 200;
    uint64_t s = 5;
    for (int i = 0; i < n; i++)
        lens[i] = (size_t)(test_rand(&s) % 3000);
    lens[0] = 0;    /* a record of 0 bytes */
    lens[7] = 0;
    lens[50] = 70000; /* longer than the reader's window */
    size_t want_n;
    uint8_t *want = expected_stream(lens, n, &want_n);
    const tfr_compression comps[] = {TFR_COMPRESS_NONE, TFR_COMPRESS_ZLIB, TFR_COMPRESS_GZIP};
    const size_t chunks[] = {0, 65536};
    char path[600];
    for (int ci = 0; ci < 3; ci++)
        for (int k = 0; k < 2; k++) {
            if (comps[ci] == TFR_COMPRESS_NONE && k)
                continue;
            snprintf(path, sizeof path, "%s/rt-%d-%d", dir, ci, k);
            write_file(path, comps[ci], chunks[k], 3, lens, n);
            check_file(path, TFR_COMPRESS_AUTO, lens, n);
            tfr_reader_stats st = check_file(path, comps[ci], lens, n);
            EXPECT_EQ_I(st.compression, comps[ci]);
            EXPECT_EQ_I(st.gzip_members, comps[ci] == TFR_COMPRESS_NONE ? 0 : 1);
            /* independent decoder: zlib must give exactly the framed stream */
            size_t got_n = 0;
            uint8_t *got;
            if (comps[ci] == TFR_COMPRESS_NONE)
                got = test_read_file(path, &got_n);
            else
                got = zlib_inflate_file(path, comps[ci] == TFR_COMPRESS_GZIP ? 31 : 15, &got_n);
            EXPECT(got != NULL);
            if (got && (got_n != want_n || memcmp(got, want, want_n)))
                FAILF("%s: decompressed stream differs from the framing spec", path);
            free(got);
        }
    free(want);

    /* chunked output is the same for any thread count */
    char p1[600], p2[600];
    path_in(p1, sizeof p1, "chunk-t1");
    path_in(p2, sizeof p2, "chunk-t4");
    write_file(p1, TFR_COMPRESS_GZIP, 65536, 1, lens, n);
    write_file(p2, TFR_COMPRESS_GZIP, 65536, 4, lens, n);
    size_t a_n, b_n;
    uint8_t *a = test_read_file(p1, &a_n), *b = test_read_file(p2, &b_n);
    EXPECT(a && b && a_n == b_n && !memcmp(a, b, a_n));
    free(a);
    free(b);

    /* empty file: all compressions, zero records, still valid for zlib */
    for (int ci = 0; ci < 3; ci++)
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/empty-%d-%d", dir, ci, k);
            write_file(path, comps[ci], chunks[k], 2, NULL, 0);
            check_file(path, TFR_COMPRESS_AUTO, NULL, 0);
            if (comps[ci] != TFR_COMPRESS_NONE) {
                size_t zn = 99;
                uint8_t *z = zlib_inflate_file(path, comps[ci] == TFR_COMPRESS_GZIP ? 31 : 15, &zn);
                EXPECT(z != NULL && zn == 0);
                free(z);
            }
        }
    /* a zero-byte file read as GZIP is empty too (TensorFlow: no records) */
    path_in(path, sizeof path, "zero-bytes");
    test_write_file(path, "", 0);
    check_file(path, TFR_COMPRESS_GZIP, NULL, 0);

    /* one record of 16 MiB through GZIP */
    size_t big = 16u << 20;
    path_in(path, sizeof path, "big.gz");
    write_file(path, TFR_COMPRESS_GZIP, 0, 1, &big, 1);
    check_file(path, TFR_COMPRESS_AUTO, &big, 1);
}

/*
 * Chunked mode stores a chunk that deflate shrinks by less than 1/32
 * (JPEG-like bytes: 240 equally likely values, about 0.8 % smaller under
 * Huffman coding) and compresses the rest: the exact file size of stored
 * blocks, zlib decoding every kind back to the framed stream, our reader
 * the records, through every engine that writes.
 */
static void fill_kind(uint8_t *p, size_t n, int jpeg_like, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&seed) >> 33;
        p[i] = jpeg_like ? (uint8_t)(r % 240) : (uint8_t)"abcd"[r & 3];
    }
}

static void test_stored_chunks(void)
{
    enum { N = 30, LEN = 10000, CHUNK = 65536 };
    const size_t raw = (size_t)N * (LEN + 16);
    uint8_t *stream = malloc(raw), *rec = malloc(LEN);
    for (size_t e = 0; tfr_codec_at(e); e++)
        for (int kind = 0; kind < 3; kind++) { /* compressible, JPEG-like, half and half */
            const char *engine = tfr_codec_at(e)->name;
            char path[700];
            snprintf(path, sizeof path, "%s/stored-%s-%d.gz", dir, engine, kind);
            tfr_error err;
            tfr_error_clear(&err);
            tfr_writer_opts o;
            tfr_writer_opts_init(&o);
            o.chunk_bytes = CHUNK;
            o.threads = 2;
            o.sync = 0;
            o.engine = engine;
            tfr_record_writer *w = NULL;
            EXPECT_OK(tfr_record_writer_open(path, &o, &w, &err), &err);
            if (!w)
                continue;
            uint8_t *p = stream;
            for (int i = 0; i < N; i++) {
                fill_kind(rec, LEN, kind == 1 || (kind == 2 && i < N / 2), (uint64_t)i + 1);
                EXPECT_OK(tfr_record_writer_append(w, rec, LEN, &err), &err);
                tfr_frame_header(p, LEN);
                memcpy(p + 12, rec, LEN);
                tfr_put_le32(p + 12 + LEN, tfr_crc_mask(tfr_crc32c(rec, LEN)));
                p += 16 + LEN;
            }
            EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
            size_t zn = 0, fn = 0;
            uint8_t *z = zlib_inflate_file(path, 31, &zn), *f = test_read_file(path, &fn);
            if (!z || zn != raw || memcmp(z, stream, raw))
                FAILF("%s: zlib does not give back the framed stream", path);
            free(z);
            free(f);
            /* the records, through our reader */
            tfr_reader_opts ro;
            tfr_reader_opts_init(&ro);
            ro.engine = g_engine;
            tfr_record_reader *r = NULL;
            EXPECT_OK(tfr_record_reader_open(path, &ro, &r, &err), &err);
            int got = 0;
            const uint8_t *d;
            size_t len;
            while (r && tfr_record_reader_next(r, &d, &len, &err) == TFR_OK) {
                if (len != LEN || memcmp(d, stream + (size_t)got * (LEN + 16) + 12, LEN))
                    FAILF("%s: record %d differs", path, got);
                got++;
            }
            EXPECT_EQ_I(got, N);
            tfr_record_reader_close(r);
            /* stored blocks: 5 bytes per 65535 and nothing else beyond the
             * gzip header (10) and trailer (8) */
            size_t stored = 0;
            for (size_t off = 0; off < raw; off += CHUNK) {
                size_t n = raw - off < CHUNK ? raw - off : CHUNK;
                stored += n + 5 * ((n + 65534) / 65535);
            }
            if (kind == 1) {
                EXPECT_EQ_U(fn, 18 + stored);
                /* where zlib alone would have Huffman-coded them smaller */
                uLongf cl = compressBound((uLong)raw);
                uint8_t *c = malloc(cl);
                EXPECT(compress2(c, &cl, stream, (uLong)raw, 6) == Z_OK && cl < raw);
                free(c);
            } else if (kind == 0) {
                if (fn * 3 > raw)
                    FAILF("%s: %zu bytes for %zu of compressible records", path, fn, raw);
            } else if (fn < raw / 2 || fn > raw / 10 * 7) {
                FAILF("%s: %zu bytes for half JPEG-like, half compressible %zu", path, fn, raw);
            }
        }
    free(stream);
    free(rec);
}

/* TF's classic GZIP stream: compare with zlib driven the way TF drives it */
static void test_tf_identical_gzip(void)
{
    size_t lens[40];
    for (int i = 0; i < 40; i++)
        lens[i] = (size_t)(i * 517 % 4000);
    char path[600];
    path_in(path, sizeof path, "tf.gz");
    write_file(path, TFR_COMPRESS_GZIP, 0, 1, lens, 40);
    size_t sn;
    uint8_t *stream = expected_stream(lens, 40, &sn);
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, -1, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)sn) + 64;
    uint8_t *ref = malloc(cap);
    z.next_in = stream;
    z.avail_in = (uInt)sn;
    z.next_out = ref;
    z.avail_out = (uInt)cap;
    EXPECT(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t refn = cap - z.avail_out;
    deflateEnd(&z);
    size_t gn;
    uint8_t *got = test_read_file(path, &gn);
    EXPECT(got && gn == refn && !memcmp(got, ref, refn));
    /* header as TensorFlow writes it on Linux */
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    EXPECT(got && !memcmp(got, hdr, 10));
    free(got);
    free(ref);
    free(stream);
}

/* count records until a non-OK status; returns that status */
static tfr_status read_all(const char *path, tfr_compression c, int skip,
                           int *nrec, tfr_error *err, tfr_reader_stats *st)
{
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.engine = g_engine;
    o.prefetch = g_prefetch;
    o.compression = c;
    o.skip_corrupt = skip;
    o.buf_bytes = 4096;
    tfr_record_reader *r = NULL;
    tfr_status s = tfr_record_reader_open(path, &o, &r, err);
    *nrec = 0;
    if (s)
        return s;
    const uint8_t *d;
    size_t len;
    while ((s = tfr_record_reader_next(r, &d, &len, err)) == TFR_OK)
        (*nrec)++;
    if (st)
        tfr_record_reader_stats(r, st);
    tfr_record_reader_close(r);
    return s;
}

static void test_bit_flips(void)
{
    size_t lens[5] = {10, 0, 33, 7, 20};
    char path[600], bad[600];
    path_in(path, sizeof path, "flip.tfrecord");
    path_in(bad, sizeof bad, "flip-bad.tfrecord");
    write_file(path, TFR_COMPRESS_NONE, 0, 1, lens, 5);
    size_t n;
    uint8_t *orig = test_read_file(path, &n);
    int missed = 0;
    for (size_t byte = 0; byte < n; byte++)
        for (int bit = 0; bit < 8; bit++) {
            orig[byte] ^= (uint8_t)(1u << bit);
            test_write_file(bad, orig, n);
            orig[byte] ^= (uint8_t)(1u << bit);
            int nrec;
            tfr_error err;
            tfr_error_clear(&err);
            tfr_status s = read_all(bad, TFR_COMPRESS_NONE, 0, &nrec, &err, NULL);
            if (s != TFR_ERR_CORRUPT) {
                if (missed++ < 5)
                    FAILF("flip at byte %zu bit %d not detected (status %s, %d records)",
                          byte, bit, tfr_status_str(s), nrec);
            } else if (err.record < 0 || err.offset < 0 || !strstr(err.path, "flip-bad")) {
                FAILF("flip at byte %zu: error lacks path/record/offset", byte);
            }
        }
    free(orig);
}

static void test_gzip_truncation(void)
{
    size_t lens[6] = {100, 2000, 0, 500, 3000, 50};
    char path[600], cut[600];
    path_in(path, sizeof path, "trunc.gz");
    path_in(cut, sizeof cut, "trunc-cut.gz");
    write_file(path, TFR_COMPRESS_GZIP, 0, 1, lens, 6);
    size_t n;
    uint8_t *orig = test_read_file(path, &n);
    for (size_t k = 0; k < n; k++) {
        test_write_file(cut, orig, k);
        int nrec;
        tfr_error err;
        tfr_error_clear(&err);
        tfr_status s = read_all(cut, TFR_COMPRESS_GZIP, 0, &nrec, &err, NULL);
        if (k == 0) {
            EXPECT_STATUS(s, TFR_ERR_EOF); /* an empty file has no records */
            continue;
        }
        if (s != TFR_ERR_CORRUPT)
            FAILF("cut at %zu of %zu: status %s", k, n, tfr_status_str(s));
        if (nrec > 6)
            FAILF("cut at %zu: %d records", k, nrec);
        if (!strstr(err.path, "trunc-cut.gz"))
            FAILF("cut at %zu: error has no path", k);
    }
    /* a cut just before the trailer keeps all 6 records, then reports */
    test_write_file(cut, orig, n - 8);
    int nrec;
    tfr_error err;
    tfr_reader_stats st;
    EXPECT_STATUS(read_all(cut, TFR_COMPRESS_GZIP, 0, &nrec, &err, &st), TFR_ERR_CORRUPT);
    EXPECT_EQ_I(nrec, 6);
    EXPECT_EQ_I(st.missing_trailer, 1);
    EXPECT_CONTAINS(err.msg, "cut off");
    /* damaged trailer CRC */
    orig[n - 6] ^= 0x40;
    test_write_file(cut, orig, n);
    EXPECT_STATUS(read_all(cut, TFR_COMPRESS_GZIP, 0, &nrec, &err, NULL), TFR_ERR_CORRUPT);
    EXPECT_EQ_I(nrec, 6);
    EXPECT_CONTAINS(err.msg, "incorrect data check");
    orig[n - 6] ^= 0x40;
    free(orig);
}

static void test_truncated_plain(void)
{
    size_t lens[3] = {40, 40, 40};
    char path[600], cut[600];
    path_in(path, sizeof path, "tp.tfrecord");
    path_in(cut, sizeof cut, "tp-cut.tfrecord");
    write_file(path, TFR_COMPRESS_NONE, 0, 1, lens, 3);
    size_t n;
    uint8_t *orig = test_read_file(path, &n);
    for (size_t k = 1; k < n; k++) {
        test_write_file(cut, orig, k);
        int nrec;
        tfr_error err;
        tfr_status s = read_all(cut, TFR_COMPRESS_NONE, 0, &nrec, &err, NULL);
        int whole = (int)(k / 56);
        if (k % 56 == 0) {
            EXPECT_STATUS(s, TFR_ERR_EOF);
        } else {
            EXPECT_STATUS(s, TFR_ERR_CORRUPT);
            if (k % 56 < 12)
                EXPECT_CONTAINS(err.msg, "truncated record header");
            else
                EXPECT_CONTAINS(err.msg, "truncated record");
            EXPECT_EQ_I(err.offset, whole * 56);
            EXPECT_EQ_I(err.record, whole);
        }
        EXPECT_EQ_I(nrec, whole);
    }
    free(orig);
}

static void test_multi_member_and_garbage(void)
{
    size_t l1[3] = {10, 20, 30}, l2[2] = {40, 50};
    char a[600], b[600], cat[600];
    path_in(a, sizeof a, "m1.gz");
    path_in(b, sizeof b, "m2.gz");
    path_in(cat, sizeof cat, "mm.gz");
    write_file(a, TFR_COMPRESS_GZIP, 0, 1, l1, 3);
    write_file(b, TFR_COMPRESS_GZIP, 0, 1, l2, 2);
    size_t an, bn;
    uint8_t *ab = test_read_file(a, &an), *bb = test_read_file(b, &bn);
    /* a gzip of nothing between and after, as `gzip </dev/null` makes */
    uint8_t empty[64];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)"";
    z.avail_in = 0;
    z.next_out = empty;
    z.avail_out = sizeof empty;
    deflate(&z, Z_FINISH);
    size_t en = sizeof empty - z.avail_out;
    deflateEnd(&z);
    size_t tot = an + en + bn + en + 5;
    uint8_t *all = malloc(tot);
    memcpy(all, ab, an);
    memcpy(all + an, empty, en);
    memcpy(all + an + en, bb, bn);
    memcpy(all + an + en + bn, empty, en);
    test_write_file(cat, all, tot - 5);
    int nrec;
    tfr_error err;
    tfr_reader_stats st;
    EXPECT_STATUS(read_all(cat, TFR_COMPRESS_AUTO, 0, &nrec, &err, &st), TFR_ERR_EOF);
    /* records 3,4 of the second member are records 0,1 of its own seed */
    EXPECT_EQ_I(nrec, 5);
    EXPECT_EQ_I(st.gzip_members, 4);
    /* trailing garbage after the last member */
    memcpy(all + tot - 5, "junk!", 5);
    test_write_file(cat, all, tot);
    EXPECT_STATUS(read_all(cat, TFR_COMPRESS_AUTO, 0, &nrec, &err, &st), TFR_ERR_CORRUPT);
    EXPECT_EQ_I(nrec, 5);
    EXPECT_EQ_U(st.trailing_bytes, 5);
    EXPECT_CONTAINS(err.msg, "trailing data");
    free(all);
    free(ab);
    free(bb);
}

static void test_absurd_length_and_skip(void)
{
    char path[600];
    path_in(path, sizeof path, "absurd.tfrecord");
    /* a valid header CRC over an absurd length: refused, no huge allocation */
    uint8_t rec[12 + 4];
    tfr_frame_header(rec, (uint64_t)1 << 60);
    memset(rec + 12, 0, 4);
    test_write_file(path, rec, sizeof rec);
    int nrec;
    tfr_error err;
    EXPECT_STATUS(read_all(path, TFR_COMPRESS_NONE, 0, &nrec, &err, NULL), TFR_ERR_CORRUPT);
    EXPECT_CONTAINS(err.msg, "exceeds the limit");
    /* same through gzip: a length of 1 GiB with few bytes behind it */
    size_t one = 0;
    char gz[600];
    path_in(gz, sizeof gz, "absurd.gz");
    tfr_record_writer *w;
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.sync = 0;
    tfr_record_writer_open(gz, &o, &w, &err);
    (void)one;
    tfr_record_writer_close(w, NULL, &err);
    uint8_t hdr[12];
    tfr_frame_header(hdr, (uint64_t)1 << 30);
    gzFile g = gzopen(gz, "wb");
    gzwrite(g, hdr, 12);
    gzwrite(g, "abcdef", 6);
    gzclose(g);
    EXPECT_STATUS(read_all(gz, TFR_COMPRESS_GZIP, 0, &nrec, &err, NULL), TFR_ERR_CORRUPT);
    EXPECT_CONTAINS(err.msg, "truncated record");

    /* skip mode: a bad data CRC and a damaged header in the middle */
    size_t lens[6] = {30, 31, 32, 33, 34, 35};
    char sk[600];
    path_in(sk, sizeof sk, "skip.tfrecord");
    write_file(sk, TFR_COMPRESS_NONE, 0, 1, lens, 6);
    size_t n;
    uint8_t *d = test_read_file(sk, &n);
    d[12 + 5] ^= 1;                 /* record 0 data */
    size_t off2 = 46 + 47;          /* record 2 header */
    d[off2 + 3] ^= 0x10;
    test_write_file(sk, d, n);
    tfr_reader_stats st;
    EXPECT_STATUS(read_all(sk, TFR_COMPRESS_NONE, 0, &nrec, &err, NULL), TFR_ERR_CORRUPT);
    EXPECT_EQ_I(nrec, 0);
    EXPECT_CONTAINS(err.msg, "data CRC mismatch");
    EXPECT_STATUS(read_all(sk, TFR_COMPRESS_NONE, 1, &nrec, &err, &st), TFR_ERR_EOF);
    EXPECT_EQ_I(nrec, 4);                /* records 1, 3, 4, 5 */
    EXPECT_EQ_U(st.corrupt_skipped, 2);
    EXPECT_EQ_U(st.records, 4);
    free(d);
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/*
 * ~1 MB of gzip whose only record declares 1 GiB and inflates to 1 GiB of
 * zeros with no footer: reported as truncated at offset 0, and the reader's
 * peak memory stays far below the declared length. Run first, in a child,
 * so ru_maxrss starts low.
 */
static void test_gzip_bomb_memory(void)
{
    char gz[600];
    path_in(gz, sizeof gz, "bomb.gz");
    uint8_t hdr[12];
    tfr_frame_header(hdr, (uint64_t)1 << 30);
    gzFile g = gzopen(gz, "wb9");
    gzwrite(g, hdr, 12);
    uint8_t *z = calloc(1, 1 << 20);
    for (int i = 0; i < 1024; i++)
        gzwrite(g, z, 1 << 20);
    gzclose(g);
    free(z);
    size_t fsz;
    free(test_read_file(gz, &fsz));
    EXPECT(fsz < (2u << 20));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        long before = maxrss_kb();
        int nrec;
        tfr_error err;
        tfr_reader_stats st;
        tfr_status s = read_all(gz, TFR_COMPRESS_AUTO, 0, &nrec, &err, &st);
        long grew_mb = (maxrss_kb() - before) / 1024;
        int ok = s == TFR_ERR_CORRUPT && nrec == 0 && err.offset == 0 && err.record == 0 &&
                 strstr(err.msg, "truncated record: length 1073741824 needs 1073741828 bytes "
                                        "(data and CRC), only 1073741824 follow") &&
                 st.record_buf_bytes == 0;
        printf("gzip bomb: status %d, record %lld, offset %lld: %s; peak RSS grew by %ld MB\n",
               (int)s, err.record, err.offset, err.msg, grew_mb);
        fflush(stdout);
        _exit(!ok ? 1 : grew_mb >= 64 ? 2 : 0);
    }
    int ws = 0;
    EXPECT(pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws));
    EXPECT_EQ_I(WEXITSTATUS(ws), 0); /* 1: wrong error, 2: peak RSS grew by 64 MB or more */
}

/* 64 MiB of zeros, then one valid record: skip mode finds it with bounded work */
static void test_resync_zeros(void)
{
    const size_t zeros = (size_t)64 << 20;
    uint8_t rec[12 + 100 + 4];
    tfr_frame_header(rec, 100);
    make_record(rec + 12, 100, 3);
    tfr_put_le32(rec + 112, tfr_crc_mask(tfr_crc32c(rec + 12, 100)));
    uint8_t *buf = calloc(1, zeros + sizeof rec);
    memcpy(buf + zeros, rec, sizeof rec);
    char plain[600], gz[600];
    path_in(plain, sizeof plain, "zeros.tfrecord");
    path_in(gz, sizeof gz, "zeros.gz");
    test_write_file(plain, buf, zeros + sizeof rec);
    gzFile g = gzopen(gz, "wb1");
    gzwrite(g, buf, (unsigned)(zeros + sizeof rec));
    gzclose(g);
    free(buf);
    const char *paths[2] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        tfr_reader_opts o;
        tfr_reader_opts_init(&o);
        o.engine = g_engine;
        o.prefetch = g_prefetch;
    o.prefetch = g_prefetch;
        o.skip_corrupt = 1;
        tfr_record_reader *r = NULL;
        tfr_error err;
        EXPECT_OK(tfr_record_reader_open(paths[k], &o, &r, &err), &err);
        if (!r)
            continue;
        const uint8_t *d;
        size_t len;
        EXPECT_OK(tfr_record_reader_next(r, &d, &len, &err), &err);
        EXPECT_EQ_U(len, 100);
        EXPECT(len == 100 && memcmp(d, rec + 12, 100) == 0);
        EXPECT_EQ_U(tfr_record_reader_offset(r), zeros);
        EXPECT_STATUS(tfr_record_reader_next(r, &d, &len, &err), TFR_ERR_EOF);
        tfr_reader_stats st;
        tfr_record_reader_stats(r, &st);
        EXPECT_EQ_U(st.corrupt_skipped, 1);
        EXPECT_EQ_U(st.bytes_skipped, zeros);
        /* each position's CRC once, each window scanned once */
        EXPECT(st.resync_checks <= st.bytes_skipped);
        EXPECT(st.resync_checks >= st.bytes_skipped - 1);
        EXPECT(st.resync_windows <= st.bytes_skipped / (o.buf_bytes / 2) + 4);
        printf("resync %s: %llu bytes skipped, %llu CRC checks, %llu windows\n",
               k ? "gzip" : "plain", (unsigned long long)st.bytes_skipped,
               (unsigned long long)st.resync_checks, (unsigned long long)st.resync_windows);
        tfr_record_reader_close(r);
    }
}

/* records over 16 MiB: checked in one pass, buffered in a second only when good */
static void test_long_records(void)
{
    size_t lens[3] = {10, (size_t)20 << 20, 7};
    char plain[600], gz[600], bad[600], badgz[600];
    path_in(plain, sizeof plain, "long.tfrecord");
    path_in(gz, sizeof gz, "long.gz");
    path_in(bad, sizeof bad, "longbad.tfrecord");
    path_in(badgz, sizeof badgz, "longbad.gz");
    write_file(plain, TFR_COMPRESS_NONE, 0, 1, lens, 3);
    write_file(gz, TFR_COMPRESS_GZIP, 0, 1, lens, 3);
    uint8_t *want = malloc(lens[1]);
    make_record(want, lens[1], 1);
    const char *good[2] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        tfr_record_reader *r = NULL;
        tfr_error err;
        tfr_reader_opts o;
        tfr_reader_opts_init(&o);
        o.engine = g_engine;
        o.prefetch = g_prefetch;
    o.prefetch = g_prefetch;
        EXPECT_OK(tfr_record_reader_open(good[k], &o, &r, &err), &err);
        if (!r)
            continue;
        const uint8_t *d;
        size_t len;
        for (int i = 0; i < 3; i++) {
            EXPECT_OK(tfr_record_reader_next(r, &d, &len, &err), &err);
            EXPECT_EQ_U(len, lens[i]);
            if (i == 1)
                EXPECT(len == lens[1] && memcmp(d, want, len) == 0);
        }
        EXPECT_STATUS(tfr_record_reader_next(r, &d, &len, &err), TFR_ERR_EOF);
        tfr_reader_stats st;
        tfr_record_reader_stats(r, &st);
        EXPECT_EQ_U(st.records_verified, 1);
        EXPECT_EQ_U(st.gzip_members, k ? 1 : 0);
        EXPECT_EQ_U(st.bytes, 16 * 3 + 10 + lens[1] + 7);
        tfr_record_reader_close(r);
    }
    /* a flipped byte inside the long record: refused without buffering it */
    size_t n;
    uint8_t *d = test_read_file(plain, &n);
    d[26 + 12 + 1000] ^= 1;
    test_write_file(bad, d, n);
    gzFile g = gzopen(badgz, "wb1");
    gzwrite(g, d, (unsigned)n);
    gzclose(g);
    free(d);
    const char *bads[2] = {bad, badgz};
    for (int k = 0; k < 2; k++) {
        int nrec;
        tfr_error err;
        tfr_reader_stats st;
        EXPECT_STATUS(read_all(bads[k], TFR_COMPRESS_AUTO, 0, &nrec, &err, &st),
                      TFR_ERR_CORRUPT);
        EXPECT_EQ_I(nrec, 1);
        EXPECT_CONTAINS(err.msg, "data CRC mismatch (record of 20971520 bytes)");
        EXPECT_EQ_I(err.record, 1);
        EXPECT_EQ_I(err.offset, 26);
        EXPECT_STATUS(read_all(bads[k], TFR_COMPRESS_AUTO, 1, &nrec, &err, &st), TFR_ERR_EOF);
        EXPECT_EQ_I(nrec, 2);
        EXPECT_EQ_U(st.corrupt_skipped, 1);
        EXPECT_EQ_U(st.record_buf_bytes, 0);
        EXPECT_EQ_U(st.records_verified, 0);
    }
    free(want);
}

/* options structs of another size are refused; _init'd ones work */
static void test_opts_size(void)
{
    char path[600], b[4400];
    path_in(path, sizeof path, "opts.tfrecord");
    tfr_error err;
    tfr_writer_opts wo;
    tfr_writer_opts_init(&wo);
    EXPECT_EQ_U(wo.struct_size, sizeof wo);
    wo.sync = 0;
    tfr_record_writer *w = NULL;
    wo.struct_size = sizeof wo - 8; /* a caller built against an older header */
    EXPECT_STATUS(tfr_record_writer_open(path, &wo, &w, &err), TFR_ERR_ARG);
    EXPECT(w == NULL);
    char want[200];
    snprintf(want, sizeof want, "tfr_writer_opts: options struct of %zu bytes, this library "
             "expects %zu: rebuild against its headers", sizeof wo - 8, sizeof wo);
    EXPECT_STR(tfr_error_text(&err, b, sizeof b), want);
    wo.struct_size = 0; /* not made by _init */
    EXPECT_STATUS(tfr_record_writer_open(path, &wo, &w, &err), TFR_ERR_ARG);
    EXPECT(w == NULL);
    EXPECT(access(path, F_OK) != 0);
    tfr_writer_opts_init(&wo);
    wo.sync = 0;
    wo.compression = TFR_COMPRESS_NONE;
    EXPECT_OK(tfr_record_writer_open(path, &wo, &w, &err), &err);
    EXPECT_OK(tfr_record_writer_append(w, "abc", 3, &err), &err);
    EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);

    tfr_reader_opts ro;
    tfr_reader_opts_init(&ro);
    EXPECT_EQ_U(ro.struct_size, sizeof ro);
    tfr_record_reader *r = NULL;
    ro.struct_size = sizeof ro + 8; /* ... or a newer one */
    EXPECT_STATUS(tfr_record_reader_open(path, &ro, &r, &err), TFR_ERR_ARG);
    EXPECT(r == NULL);
    EXPECT_CONTAINS(err.msg, "tfr_reader_opts: options struct of");
    EXPECT_CONTAINS(err.msg, "rebuild against its headers");
    tfr_reader_opts_init(&ro);
    EXPECT_OK(tfr_record_reader_open(path, &ro, &r, &err), &err);
    const uint8_t *d;
    size_t len;
    EXPECT_OK(tfr_record_reader_next(r, &d, &len, &err), &err);
    EXPECT_EQ_U(len, 3);
    tfr_record_reader_close(r);
}

/* the reading engine asked for is used, one not built in is refused by name */
static void test_engine_choice(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/engine.tfrecord.gz", dir);
    tfr_error err;
    tfr_record_writer *w;
    EXPECT_OK(tfr_record_writer_open(path, NULL, &w, &err), &err);
    EXPECT_OK(tfr_record_writer_append(w, "abc", 3, &err), &err);
    EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.engine = "no-such-engine";
    tfr_record_reader *r = NULL;
    EXPECT_STATUS(tfr_record_reader_open(path, &o, &r, &err), TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "no-such-engine");
    EXPECT_CONTAINS(err.msg, "zlib");
    EXPECT(r == NULL);
}

/* skip callbacks come between the records, in file order, on this thread */
typedef struct skip_log {
    char text[4096];
    size_t n;
} skip_log;

static void log_skip(void *user, const tfr_error *e)
{
    skip_log *l = user;
    l->n += (size_t)snprintf(l->text + l->n, sizeof l->text - l->n, "s%lld ", e->record);
}

static void test_skip_callbacks(void)
{
    enum { N = 3000 };
    static size_t lens[N];
    for (int i = 0; i < N; i++)
        lens[i] = 100 + (size_t)(i % 7) * 50;
    char path[600];
    path_in(path, sizeof path, "skips.tfrecord");
    write_file(path, TFR_COMPRESS_NONE, 0, 1, lens, N);
    size_t n;
    uint8_t *d = test_read_file(path, &n);
    /* data CRCs of records 3, 7, 1500 and 2999 (several blocks apart) */
    const int bad[4] = {3, 7, 1500, 2999};
    size_t at = 0;
    for (int i = 0, b = 0; d && i < N; i++) {
        if (b < 4 && i == bad[b]) {
            d[at + 12 + 1] ^= 0x10;
            b++;
        }
        at += 16 + lens[i];
    }
    test_write_file(path, d, n);
    free(d);
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.engine = g_engine;
    o.prefetch = g_prefetch;
    o.skip_corrupt = 1;
    o.buf_bytes = 8192;
    tfr_record_reader *r = NULL;
    tfr_error err;
    skip_log got = {{0}, 0}, want = {{0}, 0};
    EXPECT_OK(tfr_record_reader_open(path, &o, &r, &err), &err);
    tfr_record_reader_on_skip(r, log_skip, &got);
    const uint8_t *p;
    size_t len;
    int k = 0;
    tfr_status st = TFR_ERR_ARG;
    while (r && (st = tfr_record_reader_next(r, &p, &len, &err)) == TFR_OK) {
        if (k == 2 || k == 5 || k == 1497 || k == 2995) /* the record before each bad one */
            got.n += (size_t)snprintf(got.text + got.n, sizeof got.text - got.n, "r%d ", k);
        k++;
    }
    EXPECT_STATUS(st, TFR_ERR_EOF);
    EXPECT_EQ_I(k, N - 4);
    snprintf(want.text, sizeof want.text, "r2 s3 r5 s7 r1497 s1500 r2995 s2999 ");
    if (strcmp(got.text, want.text))
        FAILF("skip callbacks out of order: '%s', expected '%s'", got.text, want.text);
    tfr_reader_stats rs;
    tfr_record_reader_stats(r, &rs);
    EXPECT_EQ_U(rs.corrupt_skipped, 4);
    EXPECT_EQ_U(rs.records, N - 4);
    tfr_record_reader_close(r);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", test_tmpdir("record"));
    test_engine_choice();
    /* every reading test through every engine built in */
    char base[512];
    snprintf(base, sizeof base, "%s", dir);
    for (size_t pass = 0; tfr_codec_at(pass / 2); pass++) {
        g_engine = tfr_codec_at(pass / 2)->name;
        g_prefetch = (int)(pass % 2);
        printf("reading with engine %s%s\n", g_engine, g_prefetch ? ", read ahead" : "");
        snprintf(dir, sizeof dir, "%.400s/%s%d", base, g_engine, g_prefetch); /* own files */
        if (mkdir(dir, 0755) != 0)
            FAILF("mkdir %s", dir);
    test_gzip_bomb_memory();
    test_round_trips();
    test_stored_chunks();
    test_tf_identical_gzip();
    test_bit_flips();
    test_gzip_truncation();
    test_truncated_plain();
    test_multi_member_and_garbage();
    test_absurd_length_and_skip();
    test_opts_size();
    test_resync_zeros();
    test_long_records();
    test_skip_callbacks();
    }
    snprintf(dir, sizeof dir, "%s", base);
    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
