/*
 * tests/unit/test_example.c - Example build/parse and serialized tensors.
 * Wire bytes are checked against TensorFlow-written bytes quoted in
 * shared/FORMATS.md and the golden files, and against `protoc --decode`
 * (the C++ protobuf parser) when protoc is installed. The wire decoder is
 * compared with protobuf-c's generated unpack (the reference) on the golden
 * files' records, on crafted messages that exercise every protobuf rule
 * (merges, the oneof, packed and unpacked lists, unknown fields, wrong wire
 * types, long varints and tags) and on every truncation and bit flip of
 * them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "example/example_impl.h"
#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"

static void test_build_parse(void)
{
    tfr_error err;
    tfr_error_clear(&err);
    tfr_example_builder *b;
    EXPECT_OK(tfr_example_builder_new(&b, &err), &err);
    int64_t ints[3] = {-1, 0, 1LL << 40};
    float fl[2] = {3.14f, -0.5f};
    const void *vals[2] = {"ab", "\0z"};
    size_t lens[2] = {2, 2};
    EXPECT_OK(tfr_example_add_int64_list(b, "z/ints", ints, 3, &err), &err);
    EXPECT_OK(tfr_example_add_float_list(b, "floats", fl, 2, &err), &err);
    EXPECT_OK(tfr_example_add_bytes_list(b, "bytes", vals, lens, 2, &err), &err);
    EXPECT_OK(tfr_example_add_int64(b, "label", 7, &err), &err);
    EXPECT_OK(tfr_example_add_float_list(b, "empty", NULL, 0, &err), &err);
    EXPECT_STATUS(tfr_example_add_int64(b, "label", 8, &err), TFR_ERR_ARG);
    const uint8_t *d;
    size_t n;
    EXPECT_OK(tfr_example_builder_serialize(b, &d, &n, &err), &err);

    tfr_example *ex;
    EXPECT_OK(tfr_example_new(&ex, &err), &err);
    EXPECT_OK(tfr_example_parse(ex, d, n, &err), &err);
    EXPECT_EQ_U(tfr_example_num_features(ex), 5);
    /* sorted by key */
    EXPECT_STR(tfr_example_key(ex, 0), "bytes");
    EXPECT_STR(tfr_example_key(ex, 4), "z/ints");
    const int64_t *iv;
    size_t in;
    EXPECT_OK(tfr_example_get_int64(ex, "z/ints", &iv, &in, &err), &err);
    EXPECT(in == 3 && iv[0] == -1 && iv[1] == 0 && iv[2] == (1LL << 40));
    int64_t lab = 0;
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "label", &lab, &err), &err);
    EXPECT_EQ_I(lab, 7);
    const float *fv;
    size_t fn;
    EXPECT_OK(tfr_example_get_float(ex, "floats", &fv, &fn, &err), &err);
    EXPECT(fn == 2 && fv[0] == 3.14f && fv[1] == -0.5f);
    EXPECT_OK(tfr_example_get_float(ex, "empty", &fv, &fn, &err), &err);
    EXPECT_EQ_U(fn, 0);
    const uint8_t *bp;
    size_t bn;
    EXPECT_OK(tfr_example_get_bytes(ex, "bytes", 1, &bp, &bn, &err), &err);
    EXPECT(bn == 2 && bp[0] == 0 && bp[1] == 'z');
    /* typed access refuses the wrong kind, missing keys and bad counts */
    EXPECT_STATUS(tfr_example_get_int64(ex, "floats", &iv, &in, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "floats");
    EXPECT_STATUS(tfr_example_get_float(ex, "nope", &fv, &fn, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "missing");
    EXPECT_STATUS(tfr_example_get_int64_scalar(ex, "z/ints", &lab, &err), TFR_ERR_FORMAT);
    EXPECT_STATUS(tfr_example_get_bytes(ex, "bytes", 2, &bp, &bn, &err), TFR_ERR_FORMAT);
    EXPECT_STATUS(tfr_example_get_bytes_scalar(ex, "bytes", &bp, &bn, &err), TFR_ERR_FORMAT);

    /* reset and reuse; the builder gives identical bytes for identical input */
    uint8_t *copy = malloc(n);
    memcpy(copy, d, n);
    size_t n1 = n;
    tfr_example_builder_reset(b);
    EXPECT_OK(tfr_example_add_int64(b, "label", 7, &err), &err);
    EXPECT_OK(tfr_example_add_float_list(b, "empty", NULL, 0, &err), &err);
    EXPECT_OK(tfr_example_add_bytes_list(b, "bytes", vals, lens, 2, &err), &err);
    EXPECT_OK(tfr_example_add_float_list(b, "floats", fl, 2, &err), &err);
    EXPECT_OK(tfr_example_add_int64_list(b, "z/ints", ints, 3, &err), &err);
    EXPECT_OK(tfr_example_builder_serialize(b, &d, &n, &err), &err);
    EXPECT(n == n1 && !memcmp(d, copy, n));
    free(copy);

    /* garbage is refused, not crashed on */
    EXPECT_STATUS(tfr_example_parse(ex, "\x0a\xff\xff\xff", 4, &err), TFR_ERR_CORRUPT);
    EXPECT_EQ_U(tfr_example_num_features(ex), 0);
    tfr_example_free(ex);
    tfr_example_builder_free(b);
}

/* bytes written by TensorFlow (shared/golden/pwnall-singles.tfrecords) */
static void test_tf_wire(void)
{
    tfr_error err;
    tfr_example_builder *b;
    tfr_example_builder_new(&b, &err);
    static const uint8_t rec0[] = {0x0a, 0x16, 0x0a, 0x14, 0x0a, 0x0b, 'i', 'n', 't', '_', 'f',
                                   'e', 'a', 't', 'u', 'r', 'e', 0x12, 0x05, 0x1a, 0x03,
                                   0x0a, 0x01, 0x2a};
    EXPECT_OK(tfr_example_add_int64(b, "int_feature", 42, &err), &err);
    const uint8_t *d;
    size_t n;
    EXPECT_OK(tfr_example_builder_serialize(b, &d, &n, &err), &err);
    EXPECT(n == sizeof rec0 && !memcmp(d, rec0, n));
    tfr_example_builder_reset(b);
    float pi = 3.14f;
    EXPECT_OK(tfr_example_add_float_list(b, "float_feature", &pi, 1, &err), &err);
    EXPECT_OK(tfr_example_builder_serialize(b, &d, &n, &err), &err);
    static const uint8_t packed_float[] = {0x12, 0x06, 0x0a, 0x04, 0xc3, 0xf5, 0x48, 0x40};
    EXPECT(n >= 8 && !memcmp(d + n - 8, packed_float, 8));
    tfr_example_builder_free(b);

    /* unpacked encodings must parse too: int64 field 1 as varint tags */
    static const uint8_t unpacked[] = {
        0x0a, 0x16, 0x0a, 0x14, 0x0a, 0x01, 'k', 0x12, 0x0f,
        0x1a, 0x06, 0x08, 0x05, 0x08, 0x06, 0x08, 0x07,          /* int64 5,6,7 */
        0x12, 0x05, 0x0d, 0x00, 0x00, 0x80, 0x3f};               /* unpacked float */
    /* the last Feature field overrides (oneof: last wins) -> float 1.0 */
    tfr_example *ex;
    tfr_example_new(&ex, &err);
    EXPECT_OK(tfr_example_parse(ex, unpacked, sizeof unpacked, &err), &err);
    const float *fv;
    size_t fn;
    EXPECT_OK(tfr_example_get_float(ex, "k", &fv, &fn, &err), &err);
    EXPECT(fn == 1 && fv[0] == 1.0f);
    static const uint8_t unpacked_int[] = {
        0x0a, 0x0f, 0x0a, 0x0d, 0x0a, 0x01, 'k', 0x12, 0x08,
        0x1a, 0x06, 0x08, 0x05, 0x08, 0x06, 0x08, 0x07};
    EXPECT_OK(tfr_example_parse(ex, unpacked_int, sizeof unpacked_int, &err), &err);
    const int64_t *iv;
    size_t in;
    EXPECT_OK(tfr_example_get_int64(ex, "k", &iv, &in, &err), &err);
    EXPECT(in == 3 && iv[0] == 5 && iv[1] == 6 && iv[2] == 7);
    tfr_example_free(ex);
}

static void test_tensors(void)
{
    tfr_error err;
    uint8_t seven = 7;
    uint8_t *out;
    size_t n;
    EXPECT_OK(tfr_tensor_serialize(TFR_DT_UINT8, 0, NULL, &seven, &out, &n, &err), &err);
    static const uint8_t want_u8[] = {0x08, 0x04, 0x12, 0x00, 0x22, 0x01, 0x07};
    EXPECT(n == sizeof want_u8 && !memcmp(out, want_u8, n));
    free(out);

    int64_t shape[3] = {224, 224, 3};
    size_t cnt = 224 * 224 * 3;
    float *img = malloc(cnt * 4);
    for (size_t i = 0; i < cnt; i++)
        img[i] = (float)i * 0.25f - 7.0f;
    EXPECT_OK(tfr_tensor_serialize(TFR_DT_FLOAT, 3, shape, img, &out, &n, &err), &err);
    static const uint8_t want_hdr[] = {0x08, 0x01, 0x12, 0x0e, 0x12, 0x03, 0x08, 0xe0, 0x01,
                                       0x12, 0x03, 0x08, 0xe0, 0x01, 0x12, 0x02, 0x08, 0x03,
                                       0x22, 0x80, 0xe0, 0x24};
    EXPECT(n == sizeof want_hdr + cnt * 4 && !memcmp(out, want_hdr, sizeof want_hdr));
    EXPECT(!memcmp(out + sizeof want_hdr, img, cnt * 4)); /* little-endian host */
    EXPECT_EQ_U(tfr_tensor_serialized_size(TFR_DT_FLOAT, 3, shape), n);
    tfr_tensor t;
    EXPECT_OK(tfr_tensor_parse(out, n, TFR_DT_FLOAT, &t, &err), &err);
    EXPECT(t.rank == 3 && t.shape[0] == 224 && t.shape[2] == 3 && t.nbytes == cnt * 4);
    EXPECT(t.data && !memcmp(t.data, img, cnt * 4));
    tfr_tensor_clear(&t);
    EXPECT_STATUS(tfr_tensor_parse(out, n, TFR_DT_UINT8, &t, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "type mismatch");
    /* wrong content size */
    out[n - 1] = 0;
    EXPECT_STATUS(tfr_tensor_parse(out, n - 4, TFR_DT_FLOAT, &t, &err), TFR_ERR_CORRUPT);
    free(out);
    free(img);

    int32_t iv[4] = {1, -2, 3, 1 << 30};
    int64_t s1[1] = {4};
    EXPECT_OK(tfr_tensor_serialize(TFR_DT_INT32, 1, s1, iv, &out, &n, &err), &err);
    EXPECT_OK(tfr_tensor_parse(out, n, TFR_DT_INVALID, &t, &err), &err);
    EXPECT(t.dtype == TFR_DT_INT32 && !memcmp(t.data, iv, 16));
    tfr_tensor_clear(&t);
    free(out);
    int64_t lv[2] = {-5, 1LL << 50};
    int64_t s2[2] = {1, 2};
    EXPECT_OK(tfr_tensor_serialize(TFR_DT_INT64, 2, s2, lv, &out, &n, &err), &err);
    EXPECT_OK(tfr_tensor_parse(out, n, TFR_DT_INT64, &t, &err), &err);
    EXPECT(t.rank == 2 && !memcmp(t.data, lv, 16));
    tfr_tensor_clear(&t);
    free(out);

    /* *_val forms: float_val [1.5, 2.5] for shape [4] -> 1.5 2.5 2.5 2.5 */
    static const uint8_t fval[] = {0x08, 0x01, 0x12, 0x04, 0x12, 0x02, 0x08, 0x04,
                                   0x2a, 0x08, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x20, 0x40};
    EXPECT_OK(tfr_tensor_parse(fval, sizeof fval, TFR_DT_FLOAT, &t, &err), &err);
    float *f = t.data;
    EXPECT(t.nbytes == 16 && f[0] == 1.5f && f[1] == 2.5f && f[3] == 2.5f);
    tfr_tensor_clear(&t);
    /* int_val for uint8: 08 04 12 00 3a 01 09 -> scalar 9 */
    static const uint8_t ival[] = {0x08, 0x04, 0x12, 0x00, 0x3a, 0x01, 0x09};
    EXPECT_OK(tfr_tensor_parse(ival, sizeof ival, TFR_DT_UINT8, &t, &err), &err);
    EXPECT(t.nbytes == 1 && ((uint8_t *)t.data)[0] == 9);
    tfr_tensor_clear(&t);
}

/* C++ protobuf (protoc --decode) reads what protobuf-c wrote */
static void test_protoc_decode(void)
{
    if (test_system("command -v protoc >/dev/null 2>&1") != 0) {
        printf("protoc not installed: skipping the protoc --decode cross-check\n");
        return;
    }
    tfr_error err;
    tfr_example_builder *b;
    tfr_example_builder_new(&b, &err);
    tfr_example_add_int64(b, "image/class/label", 3, &err);
    tfr_example_add_string(b, "image/class/text", "Dress", &err);
    float v[2] = {0.5f, 2.0f};
    tfr_example_add_float_list(b, "f", v, 2, &err);
    const uint8_t *d;
    size_t n;
    tfr_example_builder_serialize(b, &d, &n, &err);
    const char *dir = test_tmpdir("protoc");
    char bin[600], txt[600];
    snprintf(bin, sizeof bin, "%s/ex.bin", dir);
    snprintf(txt, sizeof txt, "%s/ex.txt", dir);
    test_write_file(bin, d, n);
    int rc = test_system("protoc --decode=tensorflow.Example -I%s/proto %s/proto/example.proto "
                         "< %s > %s 2>&1", TFR_SRC_DIR, TFR_SRC_DIR, bin, txt);
    EXPECT_EQ_I(rc, 0);
    size_t tn;
    uint8_t *t = test_read_file(txt, &tn);
    if (t) {
        t = realloc(t, tn + 1);
        t[tn] = 0;
        EXPECT_CONTAINS((char *)t, "key: \"image/class/label\"");
        EXPECT_CONTAINS((char *)t, "value: 3");
        EXPECT_CONTAINS((char *)t, "value: \"Dress\"");
        EXPECT_CONTAINS((char *)t, "value: 0.5");
        free(t);
    }
    test_rmtree(dir);
    tfr_example_builder_free(b);
}

/*
 * A *_val tensor declares its shape and TensorFlow fills it from the last
 * value: 24 bytes declaring [16000, 16000, 3] floats are refused before
 * 3 GB are allocated; a small broadcast still expands.
 */
static void test_tensor_bomb(void)
{
    tfr_error err;
    static const uint8_t bomb[24] = {
        0x08, 0x01,                                     /* dtype DT_FLOAT */
        0x12, 0x0e,                                     /* tensor_shape */
        0x12, 0x03, 0x08, 0x80, 0x7d,                   /*   dim 16000 */
        0x12, 0x03, 0x08, 0x80, 0x7d,                   /*   dim 16000 */
        0x12, 0x02, 0x08, 0x03,                         /*   dim 3 */
        0x2a, 0x04, 0x00, 0x00, 0x80, 0x3f};            /* float_val [1.0] */
    tfr_tensor t;
    EXPECT_STATUS(tfr_tensor_parse(bomb, sizeof bomb, TFR_DT_FLOAT, &t, &err), TFR_ERR_FORMAT);
    EXPECT(t.data == NULL);
    EXPECT_CONTAINS(err.msg, "768000000 elements");
    /* [2, 2] from one value: four ones */
    static const uint8_t small[] = {0x08, 0x01, 0x12, 0x08, 0x12, 0x02, 0x08, 0x02,
                                    0x12, 0x02, 0x08, 0x02, 0x2a, 0x04, 0x00, 0x00, 0x80, 0x3f};
    EXPECT_OK(tfr_tensor_parse(small, sizeof small, TFR_DT_FLOAT, &t, &err), &err);
    EXPECT(t.rank == 2 && t.nbytes == 16 && ((float *)t.data)[3] == 1.0f);
    tfr_tensor_clear(&t);
    /* the caller's own bound applies to every form */
    EXPECT_STATUS(tfr_tensor_parse_bounded(small, sizeof small, TFR_DT_FLOAT, 15, &t, &err),
                  TFR_ERR_FORMAT);
    EXPECT_OK(tfr_tensor_parse_bounded(small, sizeof small, TFR_DT_FLOAT, 16, &t, &err), &err);
    tfr_tensor_clear(&t);
}

/* ---- the wire decoder against protobuf-c --------------------------------- */

typedef struct wbuf {
    uint8_t b[4096];
    size_t  n;
} wbuf;

static void w_varint(wbuf *w, uint64_t v)
{
    do {
        w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}
static void w_tag(wbuf *w, unsigned num, unsigned wt) { w_varint(w, (uint64_t)num << 3 | wt); }
static void w_bytes(wbuf *w, unsigned num, const void *p, size_t n)
{
    w_tag(w, num, 2);
    w_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void w_sub(wbuf *w, unsigned num, const wbuf *sub) { w_bytes(w, num, sub->b, sub->n); }

/* both decoders on data: the same verdict, and the same content when OK */
static int same_verdict(tfr_example *a, tfr_example *b, const uint8_t *d, size_t n)
{
    tfr_error e1, e2;
    tfr_status s1 = tfr_example_parse(a, d, n, &e1);
    tfr_status s2 = tfr_example_parse_reference(b, d, n, &e2);
    if (s1 == TFR_OK && s2 == TFR_ERR_CORRUPT && a->pbc_refuses)
        return 1; /* the one case protobuf-c refuses on purpose (example_impl.h) */
    if ((s1 == TFR_OK) != (s2 == TFR_OK))
        return 0;
    if (s1)
        return 1;
    if (!tfr_example_same(a, b))
        return 0;
    /* the view parse holds the same, pointing into d */
    if (tfr_example_parse_view(b, d, n, &e2) || !tfr_example_same(a, b))
        return 0;
    return 1;
}

static void check_case(tfr_example *a, tfr_example *b, const char *what, const wbuf *w,
                       int want_ok)
{
    tfr_error e;
    if (!same_verdict(a, b, w->b, w->n))
        FAILF("%s: the wire decoder and protobuf-c disagree", what);
    if ((tfr_example_parse(a, w->b, w->n, &e) == TFR_OK) != want_ok)
        FAILF("%s: expected %s", what, want_ok ? "a valid Example" : "a refusal");
    /* every truncation and every bit flip: still the same verdicts */
    int bad = 0;
    for (size_t k = 0; k < w->n; k++)
        bad += !same_verdict(a, b, w->b, k);
    wbuf f = *w;
    for (size_t k = 0; k < w->n * 8 && k < 4096; k++) {
        f.b[k / 8] ^= (uint8_t)(1u << (k % 8));
        bad += !same_verdict(a, b, f.b, f.n);
        f.b[k / 8] ^= (uint8_t)(1u << (k % 8));
    }
    if (bad)
        FAILF("%s: %d truncations or bit flips decoded differently", what, bad);
}

static void test_wire_decoder(void)
{
    tfr_error err;
    tfr_example *a, *b;
    EXPECT_OK(tfr_example_new(&a, &err), &err);
    EXPECT_OK(tfr_example_new(&b, &err), &err);

    /* the golden files: every record, both decoders, same features */
    static const char *const golden[] = {"pwnall-singles.tfrecords", "tfrecord_lite-images.tfrecord",
                                         "tfrecord_lite-test.tfrecord",
                                         "tfx-penguin-eval-data_tfrecord-00000-of-00001.gz"};
    size_t seen = 0;
    for (size_t g = 0; g < sizeof golden / sizeof *golden; g++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", TFR_GOLDEN_DIR, golden[g]);
        tfr_record_reader *r;
        if (tfr_record_reader_open(path, NULL, &r, &err))
            continue;
        const uint8_t *d;
        size_t n;
        while (!tfr_record_reader_next(r, &d, &n, &err)) {
            EXPECT_OK(tfr_example_parse(a, d, n, &err), &err);
            if (!same_verdict(a, b, d, n))
                FAILF("%s: record %zu decoded differently", golden[g], seen);
            seen++;
        }
        tfr_record_reader_close(r);
    }
    EXPECT(seen > 0);

    wbuf bl = {.n = 0}, il = {.n = 0}, fl = {.n = 0}, ft = {.n = 0}, en = {.n = 0},
         fs = {.n = 0};
    /* a BytesList of two values (one empty), an unknown field between */
    w_bytes(&bl, 1, "jpeg", 4);
    w_tag(&bl, 7, 0);
    w_varint(&bl, 99);
    w_bytes(&bl, 1, "", 0);
    /* an Int64List packed then unpacked, a 10-byte varint, a negative value */
    uint8_t packed[32];
    wbuf pk = {.n = 0};
    w_varint(&pk, 5);
    w_varint(&pk, UINT64_MAX);
    w_varint(&pk, 300);
    memcpy(packed, pk.b, pk.n);
    w_bytes(&il, 1, packed, pk.n);
    w_tag(&il, 1, 0);
    w_varint(&il, (uint64_t)-7);
    /* a FloatList unpacked then packed, with 64- and 32-bit unknown fields */
    float fv[3] = {1.5f, -2.0f, 3.25f};
    w_tag(&fl, 1, 5);
    memcpy(fl.b + fl.n, &fv[0], 4);
    fl.n += 4;
    w_tag(&fl, 9, 1);
    memset(fl.b + fl.n, 0x11, 8);
    fl.n += 8;
    w_bytes(&fl, 1, &fv[1], 8);
    w_tag(&fl, 10, 5);
    memset(fl.b + fl.n, 0x22, 4);
    fl.n += 4;
    /* a Feature holding a BytesList then an Int64List: the oneof keeps the last */
    w_sub(&ft, 1, &bl);
    w_sub(&ft, 3, &il);
    /* an entry whose key comes twice (the last wins) and whose value comes
     * three times: a float list, an empty Feature (which keeps it), a bytes
     * Feature (which replaces it) */
    wbuf f1 = {.n = 0}, f3 = {.n = 0}, empty = {.n = 0};
    w_sub(&f1, 2, &fl);
    w_sub(&f3, 1, &bl);
    w_bytes(&en, 1, "first", 5);
    w_sub(&en, 2, &f1);
    w_sub(&en, 2, &empty);
    w_bytes(&en, 1, "image/encoded", 13);
    w_sub(&en, 2, &f3);
    /* Features: that entry, a key-less and value-less one, one with ft */
    wbuf e2 = {.n = 0}, e3 = {.n = 0};
    w_sub(&e3, 2, &ft);
    w_bytes(&e3, 1, "label", 5);
    w_sub(&fs, 1, &en);
    w_sub(&fs, 1, &e2);
    w_sub(&fs, 1, &e3);
    /* the Example: Features twice (entries concatenate), an unknown LEN field */
    wbuf ok = {.n = 0};
    w_sub(&ok, 1, &fs);
    w_bytes(&ok, 15, "zz", 2);
    w_sub(&ok, 1, &fs);
    check_case(a, b, "merged Example", &ok, 1);
    EXPECT_OK(tfr_example_parse(a, ok.b, ok.n, &err), &err);
    EXPECT_EQ_U(tfr_example_num_features(a), 6);
    EXPECT_STR(tfr_example_key(a, 0), "image/encoded");
    EXPECT_EQ_I(tfr_example_kind(a, 0), TFR_FEATURE_BYTES);
    EXPECT_EQ_U(tfr_example_count(a, 0), 2);
    EXPECT_STR(tfr_example_key(a, 1), "");
    EXPECT_EQ_I(tfr_example_kind(a, 1), TFR_FEATURE_NONE);
    const int64_t *iv;
    size_t in;
    EXPECT(tfr_example_int64_at(a, 2, &iv, &in) && in == 4 && iv[0] == 5 && iv[1] == -1 &&
           iv[2] == 300 && iv[3] == -7);
    /* a two-byte tag for field 1 is field 1 */
    wbuf two = {.n = 0};
    two.b[two.n++] = 0x8a;
    two.b[two.n++] = 0x00;
    w_varint(&two, fs.n);
    memcpy(two.b + two.n, fs.b, fs.n);
    two.n += fs.n;
    check_case(a, b, "two-byte tag", &two, 1);
    EXPECT_OK(tfr_example_parse(a, two.b, two.n, &err), &err);
    EXPECT_EQ_U(tfr_example_num_features(a), 3);

    /* refusals: a known field of another wire type, a packed float list not
     * a multiple of 4, an 11-byte varint, field 0, a group */
    wbuf r1 = {.n = 0}, r2 = {.n = 0}, r3 = {.n = 0}, r4 = {.n = 0}, r5 = {.n = 0};
    w_tag(&r1, 1, 0);
    w_varint(&r1, 3);
    check_case(a, b, "features as a varint", &r1, 0);
    wbuf pf = {.n = 0}, pft = {.n = 0}, pe = {.n = 0}, pfs = {.n = 0};
    w_bytes(&pf, 1, "abcde", 5);
    w_sub(&pft, 2, &pf);
    w_sub(&pe, 2, &pft);
    w_sub(&pfs, 1, &pe);
    w_sub(&r2, 1, &pfs);
    check_case(a, b, "5-byte packed floats", &r2, 0);
    w_tag(&r3, 2, 0);
    for (int i = 0; i < 10; i++)
        r3.b[r3.n++] = 0xff;
    r3.b[r3.n++] = 0x01;
    check_case(a, b, "11-byte varint", &r3, 0);
    r4.b[r4.n++] = 0x02;
    r4.b[r4.n++] = 0x00;
    check_case(a, b, "field 0", &r4, 0);
    w_tag(&r5, 4, 3);
    w_tag(&r5, 4, 4);
    check_case(a, b, "a group", &r5, 0);
    tfr_example_free(a);
    tfr_example_free(b);
}

int main(void)
{
    test_wire_decoder();
    test_tensor_bomb();
    test_build_parse();
    test_tf_wire();
    test_tensors();
    test_protoc_decode();
    return test_failures() ? 1 : 0;
}
