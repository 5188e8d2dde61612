/*
 * tests/unit/test_example.c - Example build/parse and serialized tensors.
 * Wire bytes are checked against TensorFlow-written bytes quoted in
 * shared/FORMATS.md and the golden files, and against `protoc --decode`
 * (the C++ protobuf parser) when protoc is installed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/example.h"

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

int main(void)
{
    test_tensor_bomb();
    test_build_parse();
    test_tf_wire();
    test_tensors();
    test_protoc_decode();
    return test_failures() ? 1 : 0;
}
