/*
 * tests/unit/test_image.c - decoding every awkward JPEG/PNG variant against
 * images built here with known pixels (TurboJPEG and libpng as independent
 * encoders), EXIF orientation, DCT scaling, resize/flip/normalize math,
 * region decoding (the same bytes as a whole decode and a region resize),
 * and the pixel limit (decompression bombs: headers declaring 46000x46000).
 */
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "testutil.h"
#include "tfrecord/augment.h"
#include "tfrecord/image.h"

static tfr_image_ctx *ctx;

static uint8_t *tj_encode(const uint8_t *px, int w, int h, int pf, int samp, int q, int flags,
                          size_t *len)
{
    tjhandle t = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long n = 0;
    if (tjCompress2(t, px, w, 0, h, pf, &buf, &n, samp, q, flags) != 0)
        FAILF("tjCompress2: %s", tjGetErrorStr2(t));
    tjDestroy(t);
    uint8_t *out = malloc(n);
    memcpy(out, buf, n);
    tjFree(buf);
    *len = n;
    return out;
}

static int max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m)
            m = d;
    }
    return m;
}

static uint8_t *gradient(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 255 / (w - 1));
            q[1] = (uint8_t)(y * 255 / (h - 1));
            q[2] = 128;
        }
    return p;
}

static void test_jpeg_variants(void)
{
    tfr_error err;
    tfr_image im = {0};
    tfr_image_info info;
    int w = 64, h = 48;
    uint8_t *ref = gradient(w, h);
    size_t n;
    /* baseline RGB */
    uint8_t *j = tj_encode(ref, w, h, TJPF_RGB, TJSAMP_444, 98, 0, &n);
    EXPECT_OK(tfr_image_decode(ctx, j, n, NULL, &im, &info, &err), &err);
    EXPECT(im.w == w && im.h == h && im.c == 3);
    EXPECT(max_diff(im.px, ref, (size_t)w * h * 3) <= 6);
    EXPECT(!info.progressive && info.components == 3 && info.orientation == 1);
    free(j);
    /* progressive */
    j = tj_encode(ref, w, h, TJPF_RGB, TJSAMP_420, 95, TJFLAG_PROGRESSIVE, &n);
    EXPECT_OK(tfr_image_decode(ctx, j, n, NULL, &im, &info, &err), &err);
    EXPECT(info.progressive);
    EXPECT(max_diff(im.px, ref, (size_t)w * h * 3) <= 12);
    /* truncated at any byte past the header: an error, never gray padding */
    int said_truncated = 0;
    for (size_t k = 3; k + 2 < n; k++) {
        tfr_status s = tfr_image_decode(ctx, j, k, NULL, &im, &info, &err);
        if (s != TFR_ERR_CORRUPT) {
            FAILF("JPEG cut at %zu of %zu: %s", k, n, tfr_status_str(s));
            break;
        }
        said_truncated += strstr(err.msg, "truncated") != NULL;
    }
    EXPECT(said_truncated > 0);
    free(j);

    /* grayscale JPEG -> RGB with R=G=B, or 1 channel */
    uint8_t *g = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++)
        g[i] = (uint8_t)(i % w * 4);
    j = tj_encode(g, w, h, TJPF_GRAY, TJSAMP_GRAY, 98, 0, &n);
    EXPECT_OK(tfr_image_decode(ctx, j, n, NULL, &im, &info, &err), &err);
    EXPECT(im.c == 3 && info.components == 1);
    int gray_ok = 1;
    for (int i = 0; i < w * h; i++)
        if (im.px[i * 3] != im.px[i * 3 + 1] || im.px[i * 3] != im.px[i * 3 + 2] ||
            abs(im.px[i * 3] - g[i]) > 4)
            gray_ok = 0;
    EXPECT(gray_ok);
    tfr_decode_opts o;
    tfr_decode_opts_init(&o);
    o.channels = 1;
    EXPECT_OK(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), &err);
    EXPECT(im.c == 1 && max_diff(im.px, g, (size_t)w * h) <= 4);
    free(j);
    free(g);

    /* CMYK (YCCK, Adobe marker, inverted values as Photoshop writes them) */
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        cmyk[i * 4 + 0] = ref[i * 3 + 0]; /* inverted C == R when K' = 255 */
        cmyk[i * 4 + 1] = ref[i * 3 + 1];
        cmyk[i * 4 + 2] = ref[i * 3 + 2];
        cmyk[i * 4 + 3] = 255;
    }
    j = tj_encode(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 98, 0, &n);
    EXPECT(memmem(j, n, "Adobe", 5) != NULL);
    EXPECT_OK(tfr_image_decode(ctx, j, n, NULL, &im, &info, &err), &err);
    EXPECT(info.cmyk && info.components == 4 && im.c == 3);
    EXPECT(max_diff(im.px, ref, (size_t)w * h * 3) <= 8);
    free(j);
    free(cmyk);

    /* DCT scaling: 800x600 to at least 100x100 decodes at 2/8 = 200x150 */
    uint8_t *big = gradient(800, 600);
    j = tj_encode(big, 800, 600, TJPF_RGB, TJSAMP_420, 90, 0, &n);
    o.channels = 3;
    o.min_w = 100;
    o.min_h = 100;
    EXPECT_OK(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), &err);
    EXPECT_EQ_I(im.w, 200);
    EXPECT_EQ_I(im.h, 150);
    EXPECT(info.width == 800 && info.height == 600);
    free(j);
    free(big);
    free(ref);
    tfr_image_free(&im);
}

/* Inserts an APP1 Exif segment with the given orientation after SOI. */
static uint8_t *with_exif(const uint8_t *j, size_t n, int orientation, size_t *outn)
{
    uint8_t app1[] = {0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
                      'M', 'M', 0, 42, 0, 0, 0, 8,          /* TIFF header, IFD at 8 */
                      0, 1,                                   /* 1 entry */
                      0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation, 0, 0,
                      0, 0, 0, 0};                            /* next IFD */
    *outn = n + sizeof app1;
    uint8_t *o = malloc(*outn);
    memcpy(o, j, 2);
    memcpy(o + 2, app1, sizeof app1);
    memcpy(o + 2 + sizeof app1, j + 2, n - 2);
    return o;
}

static void test_exif(void)
{
    tfr_error err;
    tfr_image im = {0};
    tfr_image_info info;
    /* 32x16: left half red, right half blue */
    int w = 32, h = 16;
    uint8_t *p = calloc((size_t)w * h * 3, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            p[(y * w + x) * 3 + (x < w / 2 ? 0 : 2)] = 255;
    size_t n, en;
    uint8_t *j = tj_encode(p, w, h, TJPF_RGB, TJSAMP_444, 98, 0, &n);
    uint8_t *e = with_exif(j, n, 6, &en); /* rotate 90 CW to display */
    EXPECT_OK(tfr_image_decode(ctx, e, en, NULL, &im, &info, &err), &err);
    EXPECT_EQ_I(info.orientation, 6);
    EXPECT(im.w == 16 && im.h == 32);
    /* after 90 CW the left (red) half is on top */
    EXPECT(im.px[(2 * 16 + 8) * 3 + 0] > 200 && im.px[(2 * 16 + 8) * 3 + 2] < 60);
    EXPECT(im.px[(29 * 16 + 8) * 3 + 2] > 200 && im.px[(29 * 16 + 8) * 3 + 0] < 60);
    free(e);
    e = with_exif(j, n, 3, &en); /* 180: red goes right */
    EXPECT_OK(tfr_image_decode(ctx, e, en, NULL, &im, &info, &err), &err);
    EXPECT(im.w == 32 && im.h == 16 && im.px[(8 * 32 + 28) * 3] > 200);
    free(e);
    free(j);
    free(p);
    tfr_image_free(&im);
}

static void test_png(void)
{
    tfr_error err;
    tfr_image im = {0};
    tfr_image_info info;
    int w = 7, h = 5;
    uint8_t rgba[7 * 5 * 4];
    for (int i = 0; i < w * h; i++) {
        rgba[i * 4 + 0] = (uint8_t)(i * 7);
        rgba[i * 4 + 1] = (uint8_t)(255 - i);
        rgba[i * 4 + 2] = (uint8_t)(i * 3);
        rgba[i * 4 + 3] = 255;
    }
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = PNG_FORMAT_RGBA;
    png_alloc_size_t n = 0;
    EXPECT(png_image_write_to_memory(&pi, NULL, &n, 0, rgba, 0, NULL));
    uint8_t *buf = malloc(n);
    EXPECT(png_image_write_to_memory(&pi, buf, &n, 0, rgba, 0, NULL));
    EXPECT_OK(tfr_image_decode(ctx, buf, n, NULL, &im, &info, &err), &err);
    EXPECT(info.format == TFR_IMG_PNG && im.w == w && im.h == h && im.c == 3);
    int exact = 1;
    for (int i = 0; i < w * h; i++)
        for (int k = 0; k < 3; k++)
            if (im.px[i * 3 + k] != rgba[i * 4 + k])
                exact = 0;
    EXPECT(exact);
    /* truncated PNG */
    EXPECT_STATUS(tfr_image_decode(ctx, buf, n - 20, NULL, &im, &info, &err), TFR_ERR_CORRUPT);
    free(buf);
    /* not images */
    EXPECT_STATUS(tfr_image_decode(ctx, (const uint8_t *)"hello, world", 12, NULL, &im, &info, &err),
                  TFR_ERR_FORMAT);
    EXPECT_STATUS(tfr_image_decode(ctx, (const uint8_t *)"", 0, NULL, &im, &info, &err),
                  TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "empty");
    EXPECT_STATUS(tfr_image_decode(ctx, (const uint8_t *)"GIF89a....", 10, NULL, &im, &info, &err),
                  TFR_ERR_FORMAT);
    tfr_image_free(&im);
}

/* ---- pixel limit ------------------------------------------------------- */

/* Peak resident set of this process, in MB (ru_maxrss is in KiB on Linux). */
static double maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Rewrites the SOF0 frame size of a baseline JPEG in place. */
static int patch_sof0(uint8_t *j, size_t n, unsigned w, unsigned h)
{
    for (size_t i = 2; i + 9 <= n; i++)
        if (j[i] == 0xff && j[i + 1] == 0xc0) {
            j[i + 5] = (uint8_t)(h >> 8);
            j[i + 6] = (uint8_t)h;
            j[i + 7] = (uint8_t)(w >> 8);
            j[i + 8] = (uint8_t)w;
            return 1;
        }
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An 8x8 RGB PNG from libpng; *len is its size. */
static uint8_t *png_8x8(size_t *len)
{
    uint8_t *px = gradient(8, 8);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 8;
    pi.height = 8;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t n = 0;
    EXPECT(png_image_write_to_memory(&pi, NULL, &n, 0, px, 0, NULL));
    uint8_t *buf = malloc(n);
    EXPECT(png_image_write_to_memory(&pi, buf, &n, 0, px, 0, NULL));
    free(px);
    *len = n;
    return buf;
}

/* Rewrites IHDR's width and height (the first chunk, at byte 8) and its CRC. */
static void patch_ihdr(uint8_t *p, uint32_t w, uint32_t h)
{
    EXPECT(!memcmp(p + 12, "IHDR", 4));
    put_be32(p + 16, w);
    put_be32(p + 20, h);
    put_be32(p + 29, (uint32_t)crc32(0, p + 12, 17)); /* type + 13 data bytes */
}

/*
 * Runs first, while the process is small, so that ru_maxrss (a high-water
 * mark) shows any large buffer these decodes touch.
 */
static void test_pixel_limit(void)
{
    tfr_error err;
    tfr_image im = {0};
    tfr_image_info info;
    tfr_decode_opts o;
    tfr_decode_opts_init(&o);
    EXPECT_EQ_U(o.max_pixels, 178956970u);
    EXPECT_EQ_U(TFR_DEFAULT_MAX_PIXELS, 178956970u);

    /* a real 8x8 JPEG whose SOF0 then claims 46000x46000 (6.3 GB as RGB) */
    uint8_t *px = gradient(8, 8);
    size_t n;
    uint8_t *j = tj_encode(px, 8, 8, TJPF_RGB, TJSAMP_444, 90, 0, &n);
    EXPECT(patch_sof0(j, n, 46000, 46000));
    EXPECT_OK(tfr_image_probe(ctx, j, n, &info, &err), &err); /* probe: size as declared */
    EXPECT(info.width == 46000 && info.height == 46000);
    double before = maxrss_mb();
    EXPECT_STATUS(tfr_image_decode(ctx, j, n, NULL, &im, &info, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "46000x46000");
    EXPECT_CONTAINS(err.msg, "limit of 178956970 pixels");
    EXPECT(info.width == 46000 && info.height == 46000);
    /* with a target size (DCT scaling) it is refused all the same */
    o.min_w = o.min_h = 224;
    EXPECT_STATUS(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "46000x46000");
    o.min_w = o.min_h = 0;
    double grew = maxrss_mb() - before;
    if (grew > 64)
        FAILF("refusing a 46000x46000 JPEG grew the peak RSS by %.0f MB", grew);
    EXPECT(im.px == NULL && im.cap == 0);
    free(j);

    /* the same for a PNG whose IHDR claims 46000x46000 (CRC recomputed) */
    uint8_t *p = png_8x8(&n);
    EXPECT_OK(tfr_image_decode(ctx, p, n, NULL, &im, &info, &err), &err);
    EXPECT(im.w == 8 && im.h == 8);
    tfr_image_free(&im);
    patch_ihdr(p, 46000, 46000);
    EXPECT_OK(tfr_image_probe(ctx, p, n, &info, &err), &err); /* a valid header */
    EXPECT(info.width == 46000 && info.height == 46000);
    before = maxrss_mb();
    EXPECT_STATUS(tfr_image_decode(ctx, p, n, NULL, &im, &info, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "PNG declares 46000x46000");
    EXPECT_CONTAINS(err.msg, "limit of 178956970 pixels");
    grew = maxrss_mb() - before;
    if (grew > 64)
        FAILF("refusing a 46000x46000 PNG grew the peak RSS by %.0f MB", grew);
    EXPECT(im.px == NULL && im.cap == 0);
    free(p);

    /* a custom limit: 8x8 = 64 pixels decodes at 64 and is refused at 63 */
    j = tj_encode(px, 8, 8, TJPF_RGB, TJSAMP_444, 90, 0, &n);
    size_t pn;
    p = png_8x8(&pn);
    o.max_pixels = 64;
    EXPECT_OK(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), &err);
    EXPECT(im.w == 8 && im.h == 8);
    EXPECT_OK(tfr_image_decode(ctx, p, pn, &o, &im, &info, &err), &err);
    EXPECT(im.w == 8 && im.h == 8);
    o.max_pixels = 63;
    EXPECT_STATUS(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "8x8 = 64 pixels, over the limit of 63 pixels");
    EXPECT_STATUS(tfr_image_decode(ctx, p, pn, &o, &im, &info, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "PNG declares 8x8 = 64 pixels, over the limit of 63");
    /* the decoder is usable after a refusal */
    o.max_pixels = 64;
    EXPECT_OK(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), &err);
    /* no "0 = no limit": 0 is a caller error; UINT64_MAX lifts it */
    o.max_pixels = 0;
    EXPECT_STATUS(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "max_pixels");
    o.max_pixels = UINT64_MAX;
    EXPECT_OK(tfr_image_decode(ctx, j, n, &o, &im, &info, &err), &err);
    free(j);
    free(p);
    tfr_image_free(&im);

    /*
     * Buffers are of the kept size: a CMYK JPEG with EXIF orientation 6
     * (both scratch paths through ctx->tmp) declaring 8000x8000, under the
     * limit, decoded for at least 100x100 is read at 1/8 = 1000x1000, so
     * 4 + 3 + 3 MB rather than 256 + 192 + 192 MB. Its data ends after one
     * MCU: a truncated-image error once the buffers were filled.
     */
    uint8_t *cmyk = malloc(8 * 8 * 4);
    for (int i = 0; i < 64; i++)
        memcpy(cmyk + i * 4, (uint8_t[]){px[i * 3], px[i * 3 + 1], px[i * 3 + 2], 255}, 4);
    j = tj_encode(cmyk, 8, 8, TJPF_CMYK, TJSAMP_444, 90, 0, &n);
    EXPECT(patch_sof0(j, n, 8000, 8000));
    size_t en;
    uint8_t *e = with_exif(j, n, 6, &en);
    tfr_decode_opts_init(&o);
    o.min_w = o.min_h = 100;
    before = maxrss_mb();
    tfr_status st = tfr_image_decode(ctx, e, en, &o, &im, &info, &err);
    grew = maxrss_mb() - before;
    EXPECT(st == TFR_OK || st == TFR_ERR_CORRUPT);
    EXPECT(info.cmyk && info.orientation == 6 && info.width == 8000);
    EXPECT(im.cap <= (size_t)1000 * 1000 * 4);
    if (grew > 64)
        FAILF("a 1/8-scaled decode of an 8000x8000 CMYK JPEG grew the peak RSS by %.0f MB",
              grew);
    free(e);
    free(j);
    free(cmyk);
    free(px);
    tfr_image_free(&im);
}

static void test_resize(void)
{
    tfr_error err;
    tfr_image a = {0}, b = {0};
    /* 4x2 gray -> 2x1: exact 2x2 block means */
    tfr_image_alloc(&a, 4, 2, 1, &err);
    uint8_t v[8] = {0, 10, 20, 30, 40, 50, 60, 70};
    memcpy(a.px, v, 8);
    EXPECT_OK(tfr_image_resize(&a, 2, 1, TFR_RESIZE_STRETCH, &b, &err), &err);
    EXPECT(b.px[0] == 25 && b.px[1] == 45);
    /* 3 -> 2 area: [0,1.5) and [1.5,3) of 0,30,60 -> 10, 50 */
    tfr_image_alloc(&a, 3, 1, 1, &err);
    a.px[0] = 0; a.px[1] = 30; a.px[2] = 60;
    EXPECT_OK(tfr_image_resize(&a, 2, 1, TFR_RESIZE_STRETCH, &b, &err), &err);
    EXPECT(b.px[0] == 10 && b.px[1] == 50);
    /* 2 -> 4 bilinear, half-pixel centers: 0,100 -> 0,25,75,100 */
    tfr_image_alloc(&a, 2, 1, 1, &err);
    a.px[0] = 0; a.px[1] = 100;
    EXPECT_OK(tfr_image_resize(&a, 4, 1, TFR_RESIZE_STRETCH, &b, &err), &err);
    EXPECT(b.px[0] == 0 && b.px[1] == 25 && b.px[2] == 75 && b.px[3] == 100);
    /* constant stays constant at any size */
    tfr_image_alloc(&a, 37, 23, 3, &err);
    memset(a.px, 77, 37 * 23 * 3);
    EXPECT_OK(tfr_image_resize(&a, 224, 224, TFR_RESIZE_CROP, &b, &err), &err);
    int cst = 1;
    for (int i = 0; i < 224 * 224 * 3; i++)
        if (b.px[i] != 77)
            cst = 0;
    EXPECT(cst);
    /* pad: 40x20 into 20x20 -> a 20x10 band centered, zeros above and below */
    tfr_image_alloc(&a, 40, 20, 1, &err);
    memset(a.px, 200, 800);
    EXPECT_OK(tfr_image_resize(&a, 20, 20, TFR_RESIZE_PAD, &b, &err), &err);
    EXPECT(b.px[0] == 0 && b.px[4 * 20 + 3] == 0 && b.px[5 * 20 + 3] == 200 &&
           b.px[14 * 20 + 19] == 200 && b.px[15 * 20] == 0);
    /* crop: 40x20 (left half 0, right half 200) into 10x10 takes the middle */
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 40; x++)
            a.px[y * 40 + x] = x < 20 ? 0 : 200;
    EXPECT_OK(tfr_image_resize(&a, 10, 10, TFR_RESIZE_CROP, &b, &err), &err);
    EXPECT(b.px[0] == 0 && b.px[9] == 200 && b.px[4] == 0 && b.px[5] == 200);
    /* flip */
    tfr_image_alloc(&a, 3, 1, 3, &err);
    for (int i = 0; i < 9; i++)
        a.px[i] = (uint8_t)i;
    tfr_image_flip_h(&a);
    static const uint8_t fl[9] = {6, 7, 8, 3, 4, 5, 0, 1, 2};
    EXPECT(!memcmp(a.px, fl, 9));
    /* normalize */
    float f[9];
    tfr_image_to_float(&a, TFR_NORM_RESCALE, f);
    EXPECT(fabsf(f[0] - 6 / 255.0f) < 1e-7f);
    tfr_image_to_float(&a, TFR_NORM_SAMPLEWISE, f);
    double s = 0, sq = 0;
    for (int i = 0; i < 9; i++) {
        s += f[i];
        sq += f[i] * f[i];
    }
    EXPECT(fabs(s / 9) < 1e-6 && fabs(sq / 9 - 1) < 1e-4);
    tfr_image_free(&a);
    tfr_image_free(&b);
}

/* uint8 to normalized float (a table, or SIMD for 3 channels into planes
 * where the CPU has it) against the plain definition, bit for bit: every
 * layout, flipped or not, widths that exercise the 8-pixel groups and their
 * tails, images big enough for the table path; guard values around */
static void test_normalize_u8(void)
{
    static const int widths[] = {7, 8, 9, 15, 64, 101, 224, 225};
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 1; c <= 4; c++)
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
            for (int order = 0; order < 2; order++)
                for (int flip = 0; flip < 2; flip++) {
                    int W = widths[wi], H = 8192 / W + 3; /* > 4096 pixels */
                    size_t np = (size_t)W * H, n = np * c;
                    uint8_t *src = malloc(n);
                    float *out = malloc((n + 32) * sizeof *out);
                    test_fill_random(src, n, (uint64_t)(W * 13 + c * 3 + order + 1));
                    for (size_t i = 0; i < n + 32; i++)
                        out[i] = -777.0f;
                    float m[4], sd[4];
                    for (int k = 0; k < c; k++) {
                        m[k] = mean[k % 3];
                        sd[k] = std[k % 3];
                    }
                    tfr_pixel_order po = order ? TFR_ORDER_CHW : TFR_ORDER_HWC;
                    tfr_augment_normalize_u8(src, W, H, c, flip, m, sd, po, out + 16);
                    int bad = 0;
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++)
                            for (int k = 0; k < c; k++) {
                                float sc = 1.0f / (255.0f * sd[k]), of = m[k] / sd[k];
                                int xs = flip ? W - 1 - x : x;
                                float want = src[((size_t)y * W + xs) * c + k] * sc - of;
                                size_t o = order ? (size_t)k * np + (size_t)y * W + x
                                                 : ((size_t)y * W + x) * c + k;
                                bad += memcmp(&out[16 + o], &want, sizeof want) != 0;
                            }
                    for (int g = 0; g < 16; g++)
                        bad += (out[g] != -777.0f) + (out[16 + n + g] != -777.0f);
                    if (bad)
                        FAILF("normalize_u8 C=%d W=%d %s%s: %d values differ", c, W,
                              order ? "CHW" : "HWC", flip ? " flipped" : "", bad);
                    free(src);
                    free(out);
                }
}

/* the mirrored copy (SIMD for 3 channels where the CPU has it) against the
 * plain definition, for every row width that exercises the group loop and
 * its tails, with guard bytes around the output */
static void test_flip_copy(void)
{
    static const int widths[] = {1, 2, 3, 5, 6, 7, 10, 11, 16, 17, 31, 64, 223, 224, 225};
    for (int c = 1; c <= 4; c++) {
        if (c == 2)
            continue;
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
            int W = widths[wi], H = 3;
            size_t n = (size_t)W * H * c;
            uint8_t *src = malloc(n), *out = malloc(n + 32);
            test_fill_random(src, n, (uint64_t)(W * 7 + c));
            memset(out, 0xa5, n + 32);
            tfr_augment_copy_u8(src, W, H, c, 1, out + 16);
            int bad = 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (int k = 0; k < c; k++)
                        bad += out[16 + ((size_t)y * W + x) * c + k] !=
                               src[((size_t)y * W + (W - 1 - x)) * c + k];
            for (int g = 0; g < 16; g++)
                bad += (out[g] != 0xa5) + (out[16 + n + g] != 0xa5);
            if (bad)
                FAILF("flip copy %dx%dx%d: %d bytes wrong", W, H, c, bad);
            tfr_augment_copy_u8(src, W, H, c, 0, out + 16);
            EXPECT(!memcmp(out + 16, src, n));
            free(src);
            free(out);
        }
    }
}

/* A photo-like texture: smooth colour fields plus noise, so that any pixel
 * a decoder gets wrong changes the resized bytes. */
static uint8_t *texture(int w, int h, unsigned seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                seed = seed * 1103515245u + 12345u;
                int v = (int)(127 + 100 * sin(x * (0.05 + 0.02 * c) + y * 0.03 * (c + 1)) +
                              (int)(seed >> 27));
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

static double frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (*s >> 8) / 16777216.0;
}

/* tfr_image_decode_region against tfr_image_decode + tfr_image_resize_region:
 * the same bytes for every region, output size and encoding. */
static void expect_region_equal(const uint8_t *j, size_t n, int channels, int regions,
                                unsigned seed, const char *what)
{
    tfr_error err;
    tfr_image whole = {0}, a = {0}, b = {0};
    tfr_image_info ia, ib;
    tfr_decode_opts o;
    tfr_decode_opts_init(&o);
    o.channels = channels;
    EXPECT_OK(tfr_image_decode(ctx, j, n, &o, &whole, &ia, &err), &err);
    int bad = 0;
    for (int r = 0; r < regions && !bad; r++) {
        double cw, ch, x0, y0;
        if (r == 0) { /* the whole image */
            cw = whole.w; ch = whole.h; x0 = y0 = 0;
        } else {
            cw = whole.w * (0.02 + 0.98 * frand(&seed));
            ch = whole.h * (0.02 + 0.98 * frand(&seed));
            x0 = r % 5 == 1 ? 0 : r % 5 == 2 ? whole.w - cw : (whole.w - cw) * frand(&seed);
            y0 = r % 7 == 1 ? 0 : r % 7 == 2 ? whole.h - ch : (whole.h - ch) * frand(&seed);
        }
        int w = 1 + (int)(frand(&seed) * 300), h = r % 3 ? w : 1 + (int)(frand(&seed) * 300);
        EXPECT_OK(tfr_image_resize_region(&whole, x0, y0, cw, ch, w, h, &a, &err), &err);
        EXPECT_OK(tfr_image_decode_region(ctx, j, n, &o, x0, y0, cw, ch, w, h, &b, &ib, &err),
                  &err);
        if (a.w != b.w || a.h != b.h || a.c != b.c ||
            memcmp(a.px, b.px, (size_t)a.w * a.h * a.c)) {
            FAILF("%s, %d channels: region %.2f,%.2f %.2fx%.2f to %dx%d differs (max %d)", what,
                  channels, x0, y0, cw, ch, w, h,
                  a.w == b.w && a.h == b.h && a.c == b.c
                      ? max_diff(a.px, b.px, (size_t)a.w * a.h * a.c) : -1);
            bad = 1;
        }
        EXPECT(ib.width == ia.width && ib.height == ia.height &&
               ib.orientation == ia.orientation && ib.cmyk == ia.cmyk);
    }
    tfr_image_free(&whole);
    tfr_image_free(&a);
    tfr_image_free(&b);
}

static void test_decode_region(void)
{
    tfr_error err;
    tfr_image out = {0};
    int w = 333, h = 257; /* not a whole number of MCUs either way */
    uint8_t *ref = texture(w, h, 5);
    struct { int samp, q, flags; const char *what; } enc[] = {
        {TJSAMP_420, 85, 0, "baseline 4:2:0"},
        {TJSAMP_444, 95, 0, "baseline 4:4:4"},
        {TJSAMP_422, 90, 0, "baseline 4:2:2"},
        {TJSAMP_440, 90, 0, "baseline 4:4:0"},
        {TJSAMP_420, 90, TJFLAG_PROGRESSIVE, "progressive 4:2:0"},
    };
    for (size_t e = 0; e < sizeof enc / sizeof enc[0]; e++) {
        size_t n;
        uint8_t *j = tj_encode(ref, w, h, TJPF_RGB, enc[e].samp, enc[e].q, enc[e].flags, &n);
        expect_region_equal(j, n, 3, 80, 11u + (unsigned)e, enc[e].what);
        expect_region_equal(j, n, 1, 20, 21u + (unsigned)e, enc[e].what);
        /* a cut file fails as the whole decode does, wherever the region is */
        for (size_t cut = n / 3; cut < n - 2; cut += n / 3) {
            tfr_status whole = tfr_image_decode(ctx, j, cut, NULL, &out, NULL, &err);
            tfr_status top = tfr_image_decode_region(ctx, j, cut, NULL, 0, 0, 40, 30, 20, 20,
                                                     &out, NULL, &err);
            EXPECT_EQ_I(whole, TFR_ERR_CORRUPT);
            EXPECT_EQ_I(top, TFR_ERR_CORRUPT);
            EXPECT_CONTAINS(err.msg, "JPEG");
        }
        free(j);
    }
    /* grayscale JPEGs, as 1 and as 3 channels */
    uint8_t *g = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++)
        g[i] = ref[i * 3 + 1];
    size_t n;
    uint8_t *j = tj_encode(g, w, h, TJPF_GRAY, TJSAMP_GRAY, 90, 0, &n);
    expect_region_equal(j, n, 1, 30, 31, "grayscale");
    expect_region_equal(j, n, 3, 30, 32, "grayscale");
    free(j);
    free(g);
    /* decoded whole: EXIF rotation, CMYK, PNG */
    j = tj_encode(ref, w, h, TJPF_RGB, TJSAMP_420, 90, 0, &n);
    size_t en;
    uint8_t *ex = with_exif(j, n, 6, &en);
    expect_region_equal(ex, en, 3, 20, 41, "EXIF orientation 6");
    /* the region is in the rotated pixels: 257 wide, 333 high */
    EXPECT_OK(tfr_image_decode_region(ctx, ex, en, NULL, 0, 300, 257, 33, 10, 10, &out, NULL,
                                      &err), &err);
    EXPECT_STATUS(tfr_image_decode_region(ctx, j, n, NULL, 0, 300, 257, 33, 10, 10, &out, NULL,
                                          &err), TFR_ERR_ARG);
    EXPECT_STATUS(tfr_image_decode_region(ctx, j, n, NULL, 10, 10, 0, 5, 10, 10, &out, NULL,
                                          &err), TFR_ERR_ARG);
    free(ex);
    free(j);
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        memcpy(cmyk + i * 4, ref + i * 3, 3);
        cmyk[i * 4 + 3] = 200;
    }
    j = tj_encode(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 95, 0, &n);
    expect_region_equal(j, n, 3, 10, 51, "CMYK");
    free(j);
    free(cmyk);
    tfr_image im = {w, h, 3, ref, 0};
    uint8_t *png;
    EXPECT_OK(tfr_image_encode_png(&im, &png, &n, &err), &err);
    expect_region_equal(png, n, 3, 10, 61, "PNG");
    free(png);
    /* not an image at all */
    EXPECT_STATUS(tfr_image_decode_region(ctx, (const uint8_t *)"hello", 5, NULL, 0, 0, 1, 1, 1, 1,
                                          &out, NULL, &err), TFR_ERR_FORMAT);
    free(ref);
    tfr_image_free(&out);
}

int main(void)
{
    test_flip_copy();
    test_normalize_u8();
    tfr_error err;
    if (tfr_image_ctx_new(&ctx, &err))
        return 1;
    test_pixel_limit();
    test_jpeg_variants();
    test_exif();
    test_png();
    test_resize();
    test_decode_region();
    tfr_image_ctx_free(ctx);
    return test_failures() ? 1 : 0;
}
