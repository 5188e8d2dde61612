/*
 * image/transform.c - resize (area when shrinking, bilinear when growing,
 * separable, per axis) and EXIF orientation.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_impl.h"
#include "tfrecord/image.h"
#include "util/alloc.h"

/*
 * Taps for one output coordinate along an axis: every output has exactly
 * maxtaps taps starting at first[o], the weights past its own interval zero.
 * A zero tap adds an exact +0 to a sum of non-negative terms, so the padded
 * sums equal the unpadded ones bit for bit, and the loops below run a fixed
 * count the compiler unrolls and vectorizes.
 */
typedef struct taps {
    int    *first;  /* first source index per output; first + maxtaps <= source size */
    float  *w;      /* weights, maxtaps per output */
    int     maxtaps;
} taps;

/*
 * Output o covers the source interval [x0 + o*s, x0 + (o+1)*s), s = len/n.
 * s > 1: area average of that interval. s <= 1: bilinear at its center.
 */
static int make_taps(taps *t, int n, int src_n, double x0, double len)
{
    double s = len / n;
    int maxtaps = s > 1 ? (int)ceil(s) + 2 : 2;
    if (maxtaps > src_n)
        maxtaps = src_n;
    t->first = tfr_malloc(sizeof(int) * (size_t)n);
    t->w = tfr_calloc((size_t)n * (size_t)maxtaps, sizeof(float));
    t->maxtaps = maxtaps;
    if (!t->first || !t->w)
        return -1;
    for (int o = 0; o < n; o++) {
        float *w = t->w + (size_t)o * maxtaps;
        int i0, k;
        if (s > 1) {
            double a = x0 + o * s, b = a + s;
            i0 = (int)floor(a);
            int i1 = (int)ceil(b);
            if (i0 < 0) i0 = 0;
            if (i1 > src_n) i1 = src_n;
            k = 0;
            double tot = 0;
            for (int i = i0; i < i1 && k < maxtaps; i++, k++) {
                double lo = a > i ? a : i, hi = b < i + 1 ? b : i + 1;
                double cov = hi > lo ? hi - lo : 0;
                w[k] = (float)cov;
                tot += cov;
            }
            for (int j = 0; j < k; j++)
                w[j] = tot > 0 ? (float)(w[j] / tot) : 0;
        } else {
            double c = x0 + (o + 0.5) * s - 0.5;
            if (c < 0) c = 0;
            if (c > src_n - 1) c = src_n - 1;
            i0 = (int)floor(c);
            double f = c - i0;
            if (i0 >= src_n - 1) {
                i0 = src_n - 1;
                f = 0;
            }
            k = f > 0 ? 2 : 1;
            w[0] = (float)(1 - f);
            if (k == 2)
                w[1] = (float)f;
        }
        /* near the far edge the window starts earlier, led by zero weights */
        int start = i0 + maxtaps > src_n ? src_n - maxtaps : i0;
        if (start < i0) {
            memmove(w + (i0 - start), w, sizeof(float) * (size_t)k);
            memset(w, 0, sizeof(float) * (size_t)(i0 - start));
        }
        t->first[o] = start;
    }
    return 0;
}

static void free_taps(taps *t)
{
    free(t->first);
    free(t->w);
}

/*
 * One source row, already float, through the horizontal taps: N taps and C
 * channels are constants in each instance, so the sums unroll. The order of
 * the additions (tap 0 first) is the same in every instance.
 */
static inline __attribute__((always_inline)) void
hrow_n(const float *row, const taps *t, int dw, int C, int N, float *m)
{
    for (int o = 0; o < dw; o++) {
        const float *w = t->w + (size_t)o * N;
        const float *p = row + (size_t)t->first[o] * C;
        for (int k = 0; k < C; k++) {
            float acc = 0;
            for (int j = 0; j < N; j++)
                acc += w[j] * p[j * C + k];
            m[o * C + k] = acc;
        }
    }
}

/*
 * Three channels as one 4-lane vector (the fourth lane is the next pixel's
 * first channel, computed and then overwritten): the same products and the
 * same order of additions per channel as hrow_n, so the same bits. The row
 * and the output both have one float of slack at the end.
 */
typedef float v4f __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) void
hrow3_n(const float *row, const taps *t, int dw, int N, float *m)
{
    for (int o = 0; o < dw; o++) {
        const float *w = t->w + (size_t)o * N;
        const float *p = row + (size_t)t->first[o] * 3;
        v4f acc = {0, 0, 0, 0};
        for (int j = 0; j < N; j++) {
            v4f v;
            memcpy(&v, p + j * 3, sizeof v);
            acc += w[j] * v;
        }
        memcpy(m + (size_t)o * 3, &acc, sizeof acc);
    }
}

/* AVX2 where the CPU has it (no FMA: the same products and sums, the same
 * bits as the default build, 8 lanes at a time). Not in sanitizer builds:
 * the loader runs the clones' ifunc resolver before the sanitizer's runtime
 * is up, and the instrumented resolver crashes there. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define TFR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TFR_CLONES
#endif

TFR_CLONES static void hrow(const float *row, const taps *t, int dw, int C, float *m)
{
#define HROW3_CASE(n) if (C == 3 && t->maxtaps == n) { hrow3_n(row, t, dw, n, m); return; }
#define HROW1_CASE(n) if (C == 1 && t->maxtaps == n) { hrow_n(row, t, dw, 1, n, m); return; }
    HROW3_CASE(2) HROW3_CASE(3) HROW3_CASE(4) HROW3_CASE(5) HROW3_CASE(6)
    HROW1_CASE(2) HROW1_CASE(3) HROW1_CASE(4) HROW1_CASE(5) HROW1_CASE(6)
#undef HROW3_CASE
#undef HROW1_CASE
    if (C == 3)
        hrow3_n(row, t, dw, t->maxtaps, m);
    else
        hrow_n(row, t, dw, C, t->maxtaps, m);
}

/*
 * Output row = sum over the N vertical taps of w[j] * rows[j], tap 0 first,
 * rounded half to even, as lrintf does in the default rounding mode, and
 * clamped to [0, 255].
 */
TFR_CLONES static void vrow(const float *base, size_t stride, const float *w, int N, int n,
                            float *acc, uint8_t *out)
{
    for (int x = 0; x < n; x++)
        acc[x] = 0.0f + w[0] * base[x];
    for (int j = 1; j < N; j++) {
        const float *b = base + (size_t)j * stride;
        const float wj = w[j];
        for (int x = 0; x < n; x++)
            acc[x] += wj * b[x];
    }
    /* v + 1.5 * 2^23 holds round-half-even(v) in its low mantissa bits for
     * any v in [-2^22, 2^22); the sums of non-negative weights times pixels
     * are in [0, 255 + rounding], the clamp is for safety */
    for (int x = 0; x < n; x++) {
        float v = acc[x] + 12582912.0f;
        int32_t i;
        memcpy(&i, &v, sizeof i);
        i -= 0x4b400000;
        i = i < 0 ? 0 : i;
        i = i > 255 ? 255 : i;
        out[x] = (uint8_t)i;
    }
}

/*
 * Resamples the region (x0,y0,cw,ch) of a full_w x full_h image into the dst
 * rectangle at (dx,dy) of size dw x dh. src holds the full image's columns
 * from ox and rows from oy, at least those tfr_resample_span names (src is
 * the whole image when ox = oy = 0 and its size is full_w x full_h): the
 * taps are those of the full image, so a window gives the same bits.
 */
static tfr_status resample(const tfr_image *src, int ox, int oy, int full_w, int full_h,
                           double x0, double y0, double cw, double ch, tfr_image *dst, int dx,
                           int dy, int dw, int dh, tfr_error *err)
{
    taps tx = {0}, ty = {0};
    int c = src->c;
    float *mid = NULL, *row = NULL;
    tfr_status st = TFR_OK;
    if (make_taps(&tx, dw, full_w, x0, cw) || make_taps(&ty, dh, full_h, y0, ch)) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    /* only the source rows and columns the taps touch */
    int r0 = ty.first[0], r1 = ty.first[dh - 1] + ty.maxtaps;
    int c0 = tx.first[0], c1 = tx.first[dw - 1] + tx.maxtaps;
    if (c0 < ox || r0 < oy || c1 > ox + src->w || r1 > oy + src->h) {
        st = tfr_fail(err, TFR_ERR_ARG, NULL, "resample window misses the columns %d..%d, "
                      "rows %d..%d", c0, c1 - 1, r0, r1 - 1);
        goto done;
    }
    size_t rowf = (size_t)(c1 - c0) * c, midw = (size_t)dw * c;
    mid = tfr_malloc(sizeof(float) * ((size_t)(r1 - r0) * midw + 1));
    row = tfr_malloc(sizeof(float) * ((rowf > midw ? rowf : midw) + 1));
    if (!mid || !row) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    /* the row buffer starts at column c0: the taps index it from there */
    for (int o = 0; o < dw; o++)
        tx.first[o] -= c0;
    for (int y = r0; y < r1; y++) {
        const uint8_t *s = src->px + ((size_t)(y - oy) * src->w + (c0 - ox)) * c;
        for (size_t i = 0; i < rowf; i++)
            row[i] = s[i];
        row[rowf] = 0;
        hrow(row, &tx, dw, c, mid + (size_t)(y - r0) * midw);
    }
    for (int o = 0; o < dh; o++)
        vrow(mid + (size_t)(ty.first[o] - r0) * midw, midw, ty.w + (size_t)o * ty.maxtaps,
             ty.maxtaps, (int)midw, row, dst->px + ((size_t)(dy + o) * dst->w + dx) * c);
done:
    free(mid);
    free(row);
    free_taps(&tx);
    free_taps(&ty);
    return st;
}

static int region_ok(int full_w, int full_h, double x0, double y0, double cw, double ch, int w,
                     int h)
{
    return w > 0 && h > 0 && cw > 0 && ch > 0 && x0 >= 0 && y0 >= 0 &&
           x0 + cw <= full_w + 1e-6 && y0 + ch <= full_h + 1e-6;
}

int tfr_resample_span(int full_w, int full_h, double x0, double y0, double cw, double ch, int w,
                      int h, int span[4])
{
    if (!region_ok(full_w, full_h, x0, y0, cw, ch, w, h))
        return -1;
    taps tx = {0}, ty = {0};
    int rc = -1;
    if (!make_taps(&tx, w, full_w, x0, cw) && !make_taps(&ty, h, full_h, y0, ch)) {
        span[0] = tx.first[0];
        span[1] = tx.first[w - 1] + tx.maxtaps;
        span[2] = ty.first[0];
        span[3] = ty.first[h - 1] + ty.maxtaps;
        rc = 0;
    }
    free_taps(&tx);
    free_taps(&ty);
    return rc;
}

tfr_status tfr_resample_window(const tfr_image *win, int ox, int oy, int full_w, int full_h,
                               double x0, double y0, double cw, double ch, int w, int h,
                               tfr_image *dst, tfr_error *err)
{
    if (!region_ok(full_w, full_h, x0, y0, cw, ch, w, h))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "resize region outside the image");
    tfr_status st = tfr_image_alloc(dst, w, h, win->c, err);
    if (st)
        return st;
    return resample(win, ox, oy, full_w, full_h, x0, y0, cw, ch, dst, 0, 0, w, h, err);
}

tfr_status tfr_image_resize(const tfr_image *src, int w, int h, tfr_resize_mode mode,
                            tfr_image *dst, tfr_error *err)
{
    if (w <= 0 || h <= 0 || !src->px)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "resize to %dx%d", w, h);
    tfr_status st = tfr_image_alloc(dst, w, h, src->c, err);
    if (st)
        return st;
    double sx = (double)w / src->w, sy = (double)h / src->h;
    if (mode == TFR_RESIZE_STRETCH || (src->w == w && src->h == h))
        return resample(src, 0, 0, src->w, src->h, 0, 0, src->w, src->h, dst, 0, 0, w, h, err);
    if (mode == TFR_RESIZE_CROP) {
        double s = sx > sy ? sx : sy;
        double cw = w / s, ch = h / s;
        return resample(src, 0, 0, src->w, src->h, (src->w - cw) / 2, (src->h - ch) / 2, cw, ch,
                        dst, 0, 0, w, h, err);
    }
    double s = sx < sy ? sx : sy;
    int dw = (int)lround(src->w * s), dh = (int)lround(src->h * s);
    if (dw < 1) dw = 1;
    if (dh < 1) dh = 1;
    if (dw > w) dw = w;
    if (dh > h) dh = h;
    memset(dst->px, 0, (size_t)w * h * src->c);
    return resample(src, 0, 0, src->w, src->h, 0, 0, src->w, src->h, dst, (w - dw) / 2,
                    (h - dh) / 2, dw, dh, err);
}

tfr_status tfr_image_resize_region(const tfr_image *src, double x0, double y0, double cw,
                                   double ch, int w, int h, tfr_image *dst, tfr_error *err)
{
    if (!src->px)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "resize of an empty image");
    return tfr_resample_window(src, 0, 0, src->w, src->h, x0, y0, cw, ch, w, h, dst, err);
}

tfr_status tfr_image_orient(const tfr_image *src, int o, tfr_image *dst, tfr_error *err)
{
    int sw = src->w, sh = src->h, c = src->c;
    int swap = o >= 5 && o <= 8;
    tfr_status st = tfr_image_alloc(dst, swap ? sh : sw, swap ? sw : sh, c, err);
    if (st)
        return st;
    int dw = dst->w;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            int nx, ny;
            switch (o) {
            case 2: nx = sw - 1 - x; ny = y; break;           /* mirror */
            case 3: nx = sw - 1 - x; ny = sh - 1 - y; break;  /* rotate 180 */
            case 4: nx = x; ny = sh - 1 - y; break;           /* flip vertical */
            case 5: nx = y; ny = x; break;                    /* transpose */
            case 6: nx = sh - 1 - y; ny = x; break;           /* rotate 90 CW */
            case 7: nx = sh - 1 - y; ny = sw - 1 - x; break;  /* transverse */
            case 8: nx = y; ny = sw - 1 - x; break;           /* rotate 270 CW */
            default: nx = x; ny = y; break;
            }
            memcpy(dst->px + ((size_t)ny * dw + nx) * c, src->px + ((size_t)y * sw + x) * c,
                   (size_t)c);
        }
    return TFR_OK;
}
