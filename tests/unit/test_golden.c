/*
 * tests/unit/test_golden.c - every TensorFlow-written file in shared/golden
 * reads back to exactly the records and values its README documents.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"

typedef struct golden {
    tfr_record_reader *r;
    tfr_example       *ex;
    tfr_error          err;
} golden;

static int open_golden(golden *g, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", TFR_GOLDEN_DIR, name);
    tfr_error_clear(&g->err);
    if (tfr_record_reader_open(path, NULL, &g->r, &g->err)) {
        FAILF("cannot open %s", path);
        return 0;
    }
    tfr_example_new(&g->ex, &g->err);
    return 1;
}

/* Parses the next record into g->ex; 0 at EOF or error. */
static int next(golden *g)
{
    const uint8_t *d;
    size_t n;
    tfr_status s = tfr_record_reader_next(g->r, &d, &n, &g->err);
    if (s == TFR_ERR_EOF)
        return 0;
    if (s) {
        char b[4400];
        FAILF("%s", tfr_error_text(&g->err, b, sizeof b));
        return 0;
    }
    EXPECT_OK(tfr_example_parse(g->ex, d, n, &g->err), &g->err);
    return 1;
}

static tfr_reader_stats close_golden(golden *g)
{
    tfr_reader_stats st;
    tfr_record_reader_stats(g->r, &st);
    tfr_record_reader_close(g->r);
    tfr_example_free(g->ex);
    EXPECT_EQ_U(st.trailing_bytes, 0);
    EXPECT_EQ_U(st.missing_trailer, 0);
    EXPECT_EQ_U(st.bytes, st.compression == TFR_COMPRESS_NONE ? st.file_bytes : st.bytes);
    return st;
}

static int64_t i64(golden *g, const char *key)
{
    int64_t v = -999;
    EXPECT_OK(tfr_example_get_int64_scalar(g->ex, key, &v, &g->err), &g->err);
    return v;
}

static void test_pwnall(void)
{
    golden g;
    if (!open_golden(&g, "pwnall-singles.tfrecords"))
        return;
    EXPECT(next(&g));
    EXPECT_EQ_I(i64(&g, "int_feature"), 42);
    EXPECT(next(&g));
    const float *f;
    size_t n;
    EXPECT_OK(tfr_example_get_float(g.ex, "float_feature", &f, &n, &g.err), &g.err);
    EXPECT(n == 1 && f[0] == 3.14f);
    EXPECT(next(&g));
    const uint8_t *b;
    EXPECT_OK(tfr_example_get_bytes_scalar(g.ex, "byte_feature", &b, &n, &g.err), &g.err);
    EXPECT(n == 5 && !memcmp(b, "@ABCD", 5));
    EXPECT(!next(&g));
    tfr_reader_stats st = close_golden(&g);
    EXPECT_EQ_U(st.records, 3);
    EXPECT_EQ_I(st.compression, TFR_COMPRESS_NONE);
    EXPECT_EQ_U(st.bytes, 130);
}

static void test_lite_images(void)
{
    golden g;
    if (!open_golden(&g, "tfrecord_lite-images.tfrecord"))
        return;
    EXPECT(next(&g));
    EXPECT_EQ_I(i64(&g, "height"), 213);
    EXPECT_EQ_I(i64(&g, "width"), 320);
    EXPECT_EQ_I(i64(&g, "depth"), 3);
    EXPECT_EQ_I(i64(&g, "label"), 0);
    const uint8_t *b;
    size_t n;
    EXPECT_OK(tfr_example_get_bytes_scalar(g.ex, "image_raw", &b, &n, &g.err), &g.err);
    EXPECT(n > 1000 && b[0] == 0xff && b[1] == 0xd8 && b[n - 2] == 0xff && b[n - 1] == 0xd9);
    EXPECT(next(&g));
    EXPECT_EQ_I(i64(&g, "height"), 239);
    EXPECT_EQ_I(i64(&g, "width"), 194);
    EXPECT_EQ_I(i64(&g, "depth"), 1);
    EXPECT_EQ_I(i64(&g, "label"), 1);
    EXPECT_OK(tfr_example_get_bytes_scalar(g.ex, "image_raw", &b, &n, &g.err), &g.err);
    EXPECT(memmem(b, n, "New_East_River_Bridge", 21) != NULL);
    EXPECT(!next(&g));
    EXPECT_EQ_U(close_golden(&g).records, 2);
}

static void test_lite_test(void)
{
    golden g;
    if (!open_golden(&g, "tfrecord_lite-test.tfrecord"))
        return;
    int n = 0;
    int64_t f0 = -1, f1 = -1;
    char f2[64] = "";
    float f3 = 0;
    while (next(&g)) {
        n++;
        f0 = i64(&g, "feature0");
        f1 = i64(&g, "feature1");
        const uint8_t *b;
        size_t bn;
        EXPECT_OK(tfr_example_get_bytes_scalar(g.ex, "feature2", &b, &bn, &g.err), &g.err);
        snprintf(f2, sizeof f2, "%.*s", (int)bn, (const char *)b);
        const float *fv;
        size_t fn;
        EXPECT_OK(tfr_example_get_float(g.ex, "feature3", &fv, &fn, &g.err), &g.err);
        f3 = fn ? fv[0] : NAN;
    }
    EXPECT_EQ_I(n, 42);
    EXPECT_EQ_I(f0, 0);
    EXPECT_EQ_I(f1, 1);
    EXPECT_STR(f2, "dog");
    EXPECT(fabsf(f3 - -1.45109355f) < 1e-7f);
    EXPECT_EQ_U(close_golden(&g).records, 42);
}

static void test_penguin(void)
{
    golden g;
    if (!open_golden(&g, "tfx-penguin-eval-data_tfrecord-00000-of-00001.gz"))
        return;
    int n = 0;
    static const char *fkeys[] = {"body_mass_g", "culmen_depth_mm", "culmen_length_mm",
                                  "flipper_length_mm"};
    while (next(&g)) {
        n++;
        for (int k = 0; k < 4; k++) {
            const float *v;
            size_t vn;
            EXPECT_OK(tfr_example_get_float(g.ex, fkeys[k], &v, &vn, &g.err), &g.err);
        }
        int64_t sp = i64(&g, "species");
        EXPECT(sp >= 0 && sp <= 2);
    }
    EXPECT_EQ_I(n, 100);
    tfr_reader_stats st = close_golden(&g);
    EXPECT_EQ_I(st.compression, TFR_COMPRESS_GZIP);
    EXPECT_EQ_U(st.bytes, 15200);
    EXPECT_EQ_I(st.gzip_members, 1);
}

static void test_hadoop(void)
{
    golden g;
    if (!open_golden(&g, "ecosystem-hadoop-part-m-00000.gz"))
        return;
    int n = 0;
    while (next(&g)) {
        const int64_t *v;
        size_t vn;
        EXPECT_OK(tfr_example_get_int64(g.ex, "data", &v, &vn, &g.err), &g.err);
        EXPECT(vn == 2 && v[0] == n);
        n++;
    }
    EXPECT_EQ_I(n, 5);
    tfr_reader_stats st = close_golden(&g);
    EXPECT_EQ_U(st.bytes, 213);
    EXPECT_EQ_I(st.gzip_members, 1);
}

int main(void)
{
    if (access(TFR_GOLDEN_DIR "/pwnall-singles.tfrecords", R_OK) != 0) {
        printf("SKIP: golden files not found in %s\n", TFR_GOLDEN_DIR);
        return 77;
    }
    test_pwnall();
    test_lite_images();
    test_lite_test();
    test_penguin();
    test_hadoop();
    return test_failures() ? 1 : 0;
}
