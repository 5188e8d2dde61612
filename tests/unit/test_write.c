/*
 * tests/unit/test_write.c - tfrecord-write's engine on trees built here:
 * every awkward input gets its documented outcome, every good image comes
 * back exactly once with the right label, pixels match an independent
 * decoder (TurboJPEG / the PNG source), pass-through bytes are identical,
 * output is byte-identical for 1, 2 and 7 threads, hash splits are stable,
 * options structs of a foreign size are refused.
 */
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "testutil.h"
#include "tfrecord/dataset.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"

static char root[700];

static void put(const char *rel, const void *data, size_t n)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char d[1200];
    snprintf(d, sizeof d, "%s", p);
    char *slash = strrchr(d, '/');
    *slash = 0;
    test_system("mkdir -p '%s'", d);
    if (test_write_file(p, data, n))
        FAILF("cannot write %s", p);
}

static uint8_t *pattern(int w, int h, int seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 6 + seed * 40);
            q[1] = (uint8_t)(y * 6);
            q[2] = (uint8_t)(seed * 70 + (x < w / 2 ? 0 : 100));
        }
    return p;
}

static uint8_t *jpeg_of(const uint8_t *px, int w, int h, int pf, int samp, int flags, size_t *n)
{
    tjhandle t = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long len = 0;
    if (tjCompress2(t, px, w, 0, h, pf, &buf, &len, samp, 95, flags))
        FAILF("tjCompress2: %s", tjGetErrorStr2(t));
    tjDestroy(t);
    uint8_t *o = malloc(len);
    memcpy(o, buf, len);
    tjFree(buf);
    *n = len;
    return o;
}

static uint8_t *png_of(const uint8_t *rgb, int w, int h, size_t *n)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t len = 0;
    png_image_write_to_memory(&pi, NULL, &len, 0, rgb, 0, NULL);
    uint8_t *b = malloc(len);
    png_image_write_to_memory(&pi, b, &len, 0, rgb, 0, NULL);
    *n = len;
    return b;
}

/* ground truth for one good image */
typedef struct truth {
    const char *rel;
    const char *cls;
    int         w, h;        /* as displayed */
    uint8_t    *bytes;
    size_t      n;
    int         passthrough; /* jpeg layout keeps the bytes */
    uint8_t    *rgb;         /* exact pixels, when known (PNG sources) */
    int         seen;
    int         channels;    /* as stored: the jpeg layout keeps them by default */
} truth;

static truth T[16];
static int nT;

static void add(const char *rel, const char *cls, int w, int h, uint8_t *b, size_t n, int pass,
                uint8_t *rgb)
{
    put(rel, b, n);
    T[nT++] = (truth){rel, cls, w, h, b, n, pass, rgb, 0, 3};
}

static void build_tree(void)
{
    size_t n;
    uint8_t *p1 = pattern(40, 30, 1), *p2 = pattern(24, 24, 2), *p3 = pattern(33, 17, 3);
    { uint8_t *b_ = jpeg_of(p1, 40, 30, TJPF_RGB, TJSAMP_420, 0, &n); add("cat/a.jpg", "cat", 40, 30, b_, n, 1, NULL); }
    { uint8_t *b_ = jpeg_of(p2, 24, 24, TJPF_RGB, TJSAMP_444, 0, &n); add("cat/sub/deeper/nested.jpg", "cat", 24, 24, b_, n, 1, NULL); }
    {
        uint8_t *b_ = jpeg_of(p3, 33, 17, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, &n);
        add("cat/prog.jpg", "cat", 33, 17, b_, n, 1, NULL);
    }
    uint8_t g[20 * 10];
    for (int i = 0; i < 200; i++)
        g[i] = (uint8_t)i;
    {
        /* passed through as it is, one channel (re-encoded only on request) */
        uint8_t *b_ = jpeg_of(g, 20, 10, TJPF_GRAY, TJSAMP_GRAY, 0, &n);
        add("cat/gray.jpg", "cat", 20, 10, b_, n, 1, NULL);
        T[nT - 1].channels = 1;
    }
    uint8_t cmyk[16 * 8 * 4];
    for (int i = 0; i < 128; i++) {
        cmyk[i * 4] = 200; cmyk[i * 4 + 1] = 100; cmyk[i * 4 + 2] = 50; cmyk[i * 4 + 3] = 255;
    }
    { uint8_t *b_ = jpeg_of(cmyk, 16, 8, TJPF_CMYK, TJSAMP_444, 0, &n); add("cat/cmyk.jpg", "cat", 16, 8, b_, n, 0, NULL); }
    /* EXIF orientation 6: stored 40x30, displayed 30x40 */
    size_t jn;
    uint8_t *j = jpeg_of(p1, 40, 30, TJPF_RGB, TJSAMP_420, 0, &jn);
    static const uint8_t app1[] = {0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42,
                                   0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,
                                   0, 0, 0, 0};
    uint8_t *e = malloc(jn + sizeof app1);
    memcpy(e, j, 2);
    memcpy(e + 2, app1, sizeof app1);
    memcpy(e + 2 + sizeof app1, j + 2, jn - 2);
    add("cat/exif6.jpg", "cat", 30, 40, e, jn + sizeof app1, 0, NULL);
    uint8_t *pp = pattern(12, 9, 4);
    { uint8_t *b_ = png_of(pp, 12, 9, &n); add("dog/png_named.jpg", "dog", 12, 9, b_, n, 0, pp); }
    uint8_t *pq = pattern(10, 11, 5);
    { uint8_t *b_ = png_of(pq, 10, 11, &n); add("dog/b.png", "dog", 10, 11, b_, n, 0, pq); }
    { uint8_t *b_ = jpeg_of(p1, 40, 30, TJPF_RGB, TJSAMP_420, 0, &n); add("dog/space name \xc3\xbc.jpg", "dog", 40, 30, b_, n, 1, NULL); }
    {
        uint8_t *b_ = jpeg_of(p2, 24, 24, TJPF_RGB, TJSAMP_444, 0, &n);
        add("zebra \xc3\xbc/z.jpg", "zebra \xc3\xbc", 24, 24, b_, n, 1, NULL);
    }
    /* bad inputs */
    put("cat/truncated.jpg", j, jn / 2);
    put("cat/zero.jpg", "", 0);
    put("cat/text.jpg", "this is not an image\n", 21);
    put("cat/.DS_Store", "junk", 4);
    put("cat/._a.jpg", "junk", 4);
    put("stray.jpg", j, jn);
    test_system("mkdir -p '%s/empty_class' '%s/.hidden_class'", root, root);
    put(".hidden_class/h.jpg", j, jn);
    test_system("ln -s .. '%s/dog/loop'", root); /* a symlink loop */
    free(j);
    free(p1);
    free(p2);
    free(p3);
}

static const char *expected_classes[] = {"cat", "dog", "empty_class", "zebra \xc3\xbc"};

static int class_index(const char *c)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(expected_classes[i], c))
            return i;
    return -1;
}

static truth *find_truth(const char *rel, size_t n)
{
    for (int i = 0; i < nT; i++)
        if (strlen(T[i].rel) == n && !memcmp(T[i].rel, rel, n))
            return &T[i];
    return NULL;
}

static tfr_write_report *run(const char *out, tfr_layout layout, int threads, int w, int h,
                             tfr_flip flip)
{
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    const char *roots[1] = {root};
    o.roots = roots;
    o.nroots = 1;
    o.out_dir = out;
    o.layout = layout;
    o.threads = threads;
    o.width = w;
    o.height = h;
    o.flip = flip;
    o.shards = 3;
    o.progress = 0;
    o.record.chunk_bytes = 65536;
    if (layout == TFR_LAYOUT_TENSOR)
        o.normalize = TFR_NORM_RESCALE;
    tfr_write_report *r = NULL;
    tfr_error err;
    tfr_error_clear(&err);
    EXPECT_OK(tfr_write_dataset(&o, &r, &err), &err);
    return r;
}

typedef void (*rec_fn)(const tfr_example *ex, void *user);

static int for_each_record(const char *dir, rec_fn fn, void *user)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    tfr_example *ex;
    tfr_error err;
    tfr_example_new(&ex, &err);
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".tfrecord"))
            continue;
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        tfr_record_reader *r;
        EXPECT_OK(tfr_record_reader_open(p, NULL, &r, &err), &err);
        const uint8_t *data;
        size_t len;
        tfr_status s;
        while ((s = tfr_record_reader_next(r, &data, &len, &err)) == TFR_OK) {
            EXPECT_OK(tfr_example_parse(ex, data, len, &err), &err);
            fn(ex, user);
            n++;
        }
        EXPECT_STATUS(s, TFR_ERR_EOF);
        tfr_reader_stats st;
        tfr_record_reader_stats(r, &st);
        EXPECT_EQ_I(st.gzip_members, 1); /* one gzip member: every TF version reads it */
        tfr_record_reader_close(r);
    }
    closedir(d);
    tfr_example_free(ex);
    return n;
}

static void check_jpeg_record(const tfr_example *ex, void *user)
{
    (void)user;
    tfr_error err;
    const uint8_t *fn, *txt, *enc;
    size_t fnn, txtn, encn;
    int64_t label, w, h, c;
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "image/filename", &fn, &fnn, &err), &err);
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "image/class/text", &txt, &txtn, &err), &err);
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "image/encoded", &enc, &encn, &err), &err);
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "image/class/label", &label, &err), &err);
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "image/width", &w, &err), &err);
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "image/height", &h, &err), &err);
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "image/channels", &c, &err), &err);
    truth *t = find_truth((const char *)fn, fnn);
    if (!t) {
        FAILF("unexpected record %.*s", (int)fnn, fn);
        return;
    }
    t->seen++;
    char cls[64];
    snprintf(cls, sizeof cls, "%.*s", (int)txtn, txt);
    EXPECT_STR(cls, t->cls);
    EXPECT_EQ_I(label, class_index(t->cls));
    EXPECT_EQ_I(w, t->w);
    EXPECT_EQ_I(h, t->h);
    const int want_c = user ? *(const int *)user : t->channels;
    EXPECT_EQ_I(c, want_c);
    int pass = t->passthrough && !(user && want_c != t->channels);
    const uint8_t *cs_txt;
    size_t csn;
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "image/colorspace", &cs_txt, &csn, &err), &err);
    EXPECT(csn == strlen(want_c == 1 ? "Grayscale" : "RGB") &&
           !memcmp(cs_txt, want_c == 1 ? "Grayscale" : "RGB", csn));
    if (pass && (encn != t->n || memcmp(enc, t->bytes, encn)))
    {
        size_t k = 0;
        while (k < encn && k < t->n && enc[k] == t->bytes[k])
            k++;
        FAILF("%s: pass-through bytes differ (%zu vs %zu bytes, first at %zu: %02x vs %02x)",
              t->rel, encn, t->n, k, enc[k], t->bytes[k]);
    }
    /* every stored JPEG decodes (independently) to w x h RGB */
    tjhandle d = tjInitDecompress();
    int dw, dh, ss, cs;
    EXPECT(tjDecompressHeader3(d, enc, (unsigned long)encn, &dw, &dh, &ss, &cs) == 0);
    EXPECT(dw == w && dh == h && (cs == TJCS_GRAY) == (want_c == 1) && cs != TJCS_CMYK &&
           cs != TJCS_YCCK);
    if (!pass && t->passthrough)
        EXPECT(encn != t->n || memcmp(enc, t->bytes, encn)); /* converted, so re-encoded */
    uint8_t *px = malloc((size_t)dw * dh * 3);
    EXPECT(tjDecompress2(d, enc, (unsigned long)encn, px, dw, 0, dh, TJPF_RGB, 0) == 0);
    if (want_c == 1) { /* gray: the colour checks below do not apply */
        free(px);
        tjDestroy(d);
        return;
    }
    if (!strcmp(t->rel, "cat/cmyk.jpg")) /* inverted CMYK 200,100,50,K'=255 -> RGB */
        EXPECT(abs(px[0] - 200) < 8 && abs(px[1] - 100) < 8 && abs(px[2] - 50) < 8);
    if (t->rgb) { /* PNG re-encoded at quality 95 */
        int m = 0;
        for (int i = 0; i < dw * dh * 3; i++)
            m = abs(px[i] - t->rgb[i]) > m ? abs(px[i] - t->rgb[i]) : m;
        EXPECT(m < 40);
    }
    free(px);
    tjDestroy(d);
}

typedef struct raw_ctx {
    int flips_seen;
} raw_ctx;

static void check_raw_record(const tfr_example *ex, void *user)
{
    raw_ctx *rc = user;
    tfr_error err;
    const uint8_t *fn, *raw;
    size_t fnn, rawn;
    int64_t w, h;
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "image/filename", &fn, &fnn, &err), &err);
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "image/raw", &raw, &rawn, &err), &err);
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "image/width", &w, &err), &err);
    EXPECT_OK(tfr_example_get_int64_scalar(ex, "image/height", &h, &err), &err);
    truth *t = find_truth((const char *)fn, fnn);
    if (!t)
        return;
    t->seen++;
    EXPECT_EQ_U(rawn, (uint64_t)(w * h * 3));
    if (t->rgb) { /* PNG: exact pixels, or their mirror image */
        int same = !memcmp(raw, t->rgb, rawn);
        int mirrored = 1;
        for (int y = 0; y < h && mirrored; y++)
            for (int x = 0; x < w; x++)
                if (memcmp(raw + (y * w + x) * 3, t->rgb + (y * w + (w - 1 - x)) * 3, 3)) {
                    mirrored = 0;
                    break;
                }
        EXPECT(same || mirrored);
        rc->flips_seen += mirrored && !same;
    } else if (t->passthrough) { /* baseline JPEG: TurboJPEG's own decode */
        tjhandle d = tjInitDecompress();
        uint8_t *px = malloc(rawn);
        tjDecompress2(d, t->bytes, (unsigned long)t->n, px, (int)w, 0, (int)h, TJPF_RGB, 0);
        int same = !memcmp(px, raw, rawn);
        int mirrored = 1;
        for (int y = 0; y < h && mirrored; y++)
            for (int x = 0; x < w; x++)
                if (memcmp(raw + (y * w + x) * 3, px + (y * w + (w - 1 - x)) * 3, 3)) {
                    mirrored = 0;
                    break;
                }
        EXPECT(same || mirrored);
        free(px);
        tjDestroy(d);
    }
}

static void check_tensor_record(const tfr_example *ex, void *user)
{
    (void)user;
    tfr_error err;
    const uint8_t *img, *lab;
    size_t imgn, labn;
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "img", &img, &imgn, &err), &err);
    EXPECT_OK(tfr_example_get_bytes_scalar(ex, "label", &lab, &labn, &err), &err);
    EXPECT_EQ_U(tfr_example_num_features(ex), 2);
    tfr_tensor t, l;
    EXPECT_OK(tfr_tensor_parse(img, imgn, TFR_DT_FLOAT, &t, &err), &err);
    EXPECT_OK(tfr_tensor_parse(lab, labn, TFR_DT_UINT8, &l, &err), &err);
    EXPECT(t.rank == 3 && t.shape[0] == 8 && t.shape[1] == 8 && t.shape[2] == 3);
    EXPECT(l.rank == 0 && l.nbytes == 1 && ((uint8_t *)l.data)[0] < 4);
    const float *f = t.data;
    int in_range = 1;
    for (int i = 0; i < 8 * 8 * 3; i++)
        if (!(f[i] >= 0 && f[i] <= 1))
            in_range = 0;
    EXPECT(in_range);
    tfr_tensor_clear(&t);
    tfr_tensor_clear(&l);
}

static void reset_seen(void)
{
    for (int i = 0; i < nT; i++)
        T[i].seen = 0;
}

static int files_identical(const char *a, const char *b)
{
    return test_system("cd '%s' && for f in *.tfrecord*; do cmp -s \"$f\" '%s'/\"$f\" || exit 1; done",
                       a, b) == 0;
}

int main(void)
{
    const char *tmp = test_tmpdir("write");
    char base[600];
    snprintf(base, sizeof base, "%s", tmp);
    snprintf(root, sizeof root, "%s/tree", base);
    build_tree();
    char out[700];

    /* jpeg layout: outcomes of every input */
    snprintf(out, sizeof out, "%s/jpeg", base);
    tfr_write_report *r = run(out, TFR_LAYOUT_JPEG, 2, 0, 0, TFR_FLIP_NONE);
    if (!r)
        return 1;
    EXPECT_EQ_I(r->nclasses, 4);
    for (int i = 0; i < 4 && i < r->nclasses; i++)
        EXPECT_STR(r->classes[i], expected_classes[i]);
    EXPECT_EQ_U(r->records, (uint64_t)nT);
    int want_reason[5] = {0};
    for (size_t i = 0; i < r->nskipped; i++) {
        const char *p = r->skipped[i].path, *why = r->skipped[i].reason;
        if (strstr(p, "truncated.jpg")) want_reason[0] += strstr(why, "JPEG") != NULL;
        else if (strstr(p, "zero.jpg")) want_reason[1] += strstr(why, "empty") != NULL;
        else if (strstr(p, "text.jpg")) want_reason[2] += strstr(why, "not a JPEG or PNG") != NULL;
        else if (strstr(p, "stray.jpg")) want_reason[3] += strstr(why, "class folder") != NULL;
        else if (strstr(p, "loop")) want_reason[4] += strstr(why, "already scanned") != NULL;
        else FAILF("unexpected skip %s: %s", p, why);
    }
    for (int i = 0; i < 5; i++)
        if (want_reason[i] != 1)
            FAILF("skip reason %d seen %d times", i, want_reason[i]);
    EXPECT_EQ_U(r->nskipped, 5);
    /* the report says which records hold the file's own bytes, and why not */
    int npass = 0;
    for (int i = 0; i < nT; i++)
        npass += T[i].passthrough;
    EXPECT_EQ_U(r->passed_through, (uint64_t)npass);
    EXPECT_EQ_U(r->reencoded, (uint64_t)(nT - npass));
    EXPECT_EQ_U(r->reencoded_why[TFR_REENCODE_CMYK], 1);
    EXPECT_EQ_U(r->reencoded_why[TFR_REENCODE_ORIENT], 1);
    EXPECT_EQ_U(r->reencoded_why[TFR_REENCODE_PNG], 2);
    EXPECT_EQ_U(r->reencoded_why[TFR_REENCODE_TO_RGB], 0);
    tfr_write_report_free(r);
    reset_seen();
    EXPECT_EQ_I(for_each_record(out, check_jpeg_record, NULL), nT);
    for (int i = 0; i < nT; i++)
        if (T[i].seen != 1)
            FAILF("%s seen %d times", T[i].rel, T[i].seen);
    /* labels.txt and manifest.json */
    char p[800];
    snprintf(p, sizeof p, "%s/labels.txt", out);
    size_t ln;
    uint8_t *lt = test_read_file(p, &ln);
    EXPECT(lt && ln == strlen("cat\ndog\nempty_class\nzebra \xc3\xbc\n") &&
           !memcmp(lt, "cat\ndog\nempty_class\nzebra \xc3\xbc\n", ln));
    free(lt);

    /* --channels 3 and 1 convert every image (and say why) */
    for (int want = 1; want <= 3; want += 2) {
        tfr_write_opts o;
        tfr_write_opts_init(&o);
        const char *roots[1] = {root};
        o.roots = roots;
        o.nroots = 1;
        snprintf(p, sizeof p, "%s/channels%d", base, want);
        o.out_dir = p;
        o.channels = want;
        o.progress = 0;
        tfr_error err;
        tfr_write_report *cr = NULL;
        EXPECT_OK(tfr_write_dataset(&o, &cr, &err), &err);
        if (cr) {
            int conv = 0; /* JPEG sources (not CMYK) of the other channel count */
            for (int i = 0; i < nT; i++)
                conv += (T[i].passthrough || !strcmp(T[i].rel, "cat/exif6.jpg")) &&
                        T[i].channels != want;
            EXPECT_EQ_U(cr->reencoded_why[want == 3 ? TFR_REENCODE_TO_RGB : TFR_REENCODE_TO_GRAY],
                        (uint64_t)conv);
            int keep = 0;
            for (int i = 0; i < nT; i++)
                keep += T[i].passthrough && T[i].channels == want;
            EXPECT_EQ_U(cr->passed_through, (uint64_t)keep);
        }
        tfr_write_report_free(cr);
        reset_seen();
        EXPECT_EQ_I(for_each_record(p, check_jpeg_record, &want), nT);
    }

    /* determinism: 1, 2 and 7 threads give identical bytes */
    char o1[700], o7[700];
    snprintf(o1, sizeof o1, "%s/t1", base);
    snprintf(o7, sizeof o7, "%s/t7", base);
    tfr_write_report_free(run(o1, TFR_LAYOUT_JPEG, 1, 0, 0, TFR_FLIP_NONE));
    tfr_write_report_free(run(o7, TFR_LAYOUT_JPEG, 7, 0, 0, TFR_FLIP_NONE));
    EXPECT(files_identical(out, o1));
    EXPECT(files_identical(out, o7));

    /* raw layout with flip=both: each image twice, once mirrored; exact pixels */
    snprintf(out, sizeof out, "%s/raw", base);
    r = run(out, TFR_LAYOUT_RAW, 2, 0, 0, TFR_FLIP_BOTH);
    EXPECT(r && r->records == (uint64_t)nT * 2);
    tfr_write_report_free(r);
    reset_seen();
    raw_ctx rc = {0};
    EXPECT_EQ_I(for_each_record(out, check_raw_record, &rc), nT * 2);
    for (int i = 0; i < nT; i++)
        if (T[i].seen != 2)
            FAILF("%s seen %d times with flip=both", T[i].rel, T[i].seen);
    EXPECT_EQ_I(rc.flips_seen, 2); /* the two PNGs, mirrored once each */

    /* tensor layout, 8x8, rescaled */
    snprintf(out, sizeof out, "%s/tensor", base);
    r = run(out, TFR_LAYOUT_TENSOR, 2, 8, 8, TFR_FLIP_NONE);
    EXPECT(r && r->records == (uint64_t)nT);
    tfr_write_report_free(r);
    EXPECT_EQ_I(for_each_record(out, check_tensor_record, NULL), nT);

    /* strict: the first bad image stops the run, naming it; no shard left */
    {
        tfr_write_opts o;
        tfr_write_opts_init(&o);
        const char *roots[1] = {root};
        o.roots = roots;
        o.nroots = 1;
        snprintf(out, sizeof out, "%s/strict", base);
        o.out_dir = out;
        o.strict = 1;
        o.progress = 0;
        tfr_error err;
        tfr_write_report *sr = NULL;
        EXPECT_STATUS(tfr_write_dataset(&o, &sr, &err), TFR_ERR_FORMAT);
        EXPECT_CONTAINS(err.path, "truncated.jpg");
        EXPECT_EQ_I(test_system("ls '%s' | grep -q tfrecord", out), 1);
    }

    /* hash splits: stable when images are added */
    {
        tfr_write_opts o;
        tfr_write_opts_init(&o);
        tfr_error err;
        EXPECT_OK(tfr_parse_splits("train=60,validation=20,test=20", o.splits, &o.nsplits, &err), &err);
        EXPECT_STATUS(tfr_parse_splits("train=60,test=30", o.splits, &o.nsplits, &err), TFR_ERR_ARG);
        int counts[3] = {0};
        for (int i = 0; i < 3000; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "class%d/img_%05d.jpg", i % 7, i);
            double h = tfr_split_hash(rel);
            EXPECT(h >= 0 && h < 100);
            counts[h < 60 ? 0 : h < 80 ? 1 : 2]++;
            EXPECT(tfr_split_hash(rel) == h); /* stable */
        }
        EXPECT(abs(counts[0] - 1800) < 150 && abs(counts[1] - 600) < 100 && abs(counts[2] - 600) < 100);
    }

    /* options of another size are refused before anything is written; the
     * embedded record options reach every shard */
    {
        tfr_write_opts o;
        tfr_write_opts_init(&o);
        EXPECT_EQ_U(o.struct_size, sizeof o);
        EXPECT_EQ_U(o.record.struct_size, sizeof o.record);
        EXPECT_EQ_I(o.record.compression, TFR_COMPRESS_GZIP);
        EXPECT_EQ_U(o.record.chunk_bytes, 1u << 20);
        const char *roots[1] = {root};
        o.roots = roots;
        o.nroots = 1;
        snprintf(out, sizeof out, "%s/opts", base);
        o.out_dir = out;
        o.progress = 0;
        o.shards = 1;
        tfr_error err;
        tfr_write_report *wr = NULL;
        o.struct_size = sizeof o - 16;
        EXPECT_STATUS(tfr_write_dataset(&o, &wr, &err), TFR_ERR_ARG);
        EXPECT_CONTAINS(err.msg, "tfr_write_opts: options struct of");
        EXPECT_CONTAINS(err.msg, "rebuild against its headers");
        o.struct_size = sizeof o;
        o.record.struct_size = 0;
        EXPECT_STATUS(tfr_write_dataset(&o, &wr, &err), TFR_ERR_ARG);
        EXPECT_CONTAINS(err.msg, "tfr_writer_opts: options struct of 0 bytes");
        EXPECT(wr == NULL);
        EXPECT(access(out, F_OK) != 0);
        tfr_scan_opts so;
        tfr_scan_opts_init(&so);
        EXPECT_EQ_U(so.struct_size, sizeof so);
        so.roots = roots;
        so.nroots = 1;
        so.struct_size = 1;
        tfr_scan sc;
        EXPECT_STATUS(tfr_scan_run(&so, &sc, &err), TFR_ERR_ARG);
        EXPECT_CONTAINS(err.msg, "tfr_scan_opts: options struct of 1 bytes");
        tfr_scan_free(&sc);
        tfr_writer_opts_init(&o.record);
        o.record.compression = TFR_COMPRESS_NONE;
        o.record.sync = 0;
        EXPECT_OK(tfr_write_dataset(&o, &wr, &err), &err);
        EXPECT(wr && wr->nshards == 1 && wr->records == (uint64_t)nT);
        if (wr && wr->nshards == 1) {
            char shard[1400];
            snprintf(shard, sizeof shard, "%s/%s", out, wr->shards[0].file);
            EXPECT_CONTAINS(wr->shards[0].file, ".tfrecord");
            tfr_record_reader *rr = NULL;
            EXPECT_OK(tfr_record_reader_open(shard, NULL, &rr, &err), &err);
            const uint8_t *d;
            size_t len;
            int nrec = 0;
            while (rr && tfr_record_reader_next(rr, &d, &len, &err) == TFR_OK)
                nrec++;
            EXPECT_EQ_I(nrec, nT);
            tfr_reader_stats rst;
            memset(&rst, 0, sizeof rst);
            if (rr)
                tfr_record_reader_stats(rr, &rst);
            EXPECT_EQ_I(rst.compression, TFR_COMPRESS_NONE);
            tfr_record_reader_close(rr);
        }
        tfr_write_report_free(wr);
    }
    test_rmtree(base);
    for (int i = 0; i < nT; i++) {
        free(T[i].bytes);
        free(T[i].rgb);
    }
    return test_failures() ? 1 : 0;
}
