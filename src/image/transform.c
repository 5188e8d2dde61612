/*
 * image/transform.c - resize (area when shrinking, bilinear when growing,
 * separable, per axis) and EXIF orientation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/image.h"
#include "util/alloc.h"

/* Taps for one output coordinate along an axis. */
typedef struct taps {
    int    *first;  /* first source index per output */
    int    *count;  /* number of taps per output */
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
    t->first = tfr_malloc(sizeof(int) * (size_t)n);
    t->count = tfr_malloc(sizeof(int) * (size_t)n);
    t->w = tfr_calloc((size_t)n * (size_t)maxtaps, sizeof(float));
    t->maxtaps = maxtaps;
    if (!t->first || !t->count || !t->w)
        return -1;
    for (int o = 0; o < n; o++) {
        float *w = t->w + (size_t)o * maxtaps;
        if (s > 1) {
            double a = x0 + o * s, b = a + s;
            int i0 = (int)floor(a), i1 = (int)ceil(b);
            if (i0 < 0) i0 = 0;
            if (i1 > src_n) i1 = src_n;
            int k = 0;
            double tot = 0;
            for (int i = i0; i < i1 && k < maxtaps; i++, k++) {
                double lo = a > i ? a : i, hi = b < i + 1 ? b : i + 1;
                double cov = hi > lo ? hi - lo : 0;
                w[k] = (float)cov;
                tot += cov;
            }
            for (int j = 0; j < k; j++)
                w[j] = tot > 0 ? (float)(w[j] / tot) : 0;
            t->first[o] = i0;
            t->count[o] = k;
        } else {
            double c = x0 + (o + 0.5) * s - 0.5;
            if (c < 0) c = 0;
            if (c > src_n - 1) c = src_n - 1;
            int i0 = (int)floor(c);
            double f = c - i0;
            if (i0 >= src_n - 1) {
                i0 = src_n - 1;
                f = 0;
            }
            t->first[o] = i0;
            t->count[o] = f > 0 ? 2 : 1;
            w[0] = (float)(1 - f);
            w[1] = (float)f;
        }
    }
    return 0;
}

static void free_taps(taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

/* Resamples the source region (x0,y0,cw,ch) into dst rectangle at (dx,dy) of size dw x dh. */
static tfr_status resample(const tfr_image *src, double x0, double y0, double cw, double ch,
                           tfr_image *dst, int dx, int dy, int dw, int dh, tfr_error *err)
{
    taps tx = {0}, ty = {0};
    int c = src->c;
    float *mid = NULL;
    tfr_status st = TFR_OK;
    if (make_taps(&tx, dw, src->w, x0, cw) || make_taps(&ty, dh, src->h, y0, ch)) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    /* only the source rows the vertical taps touch */
    int r0 = ty.first[0], r1 = ty.first[dh - 1] + ty.count[dh - 1];
    mid = tfr_malloc(sizeof(float) * (size_t)(r1 - r0) * dw * c);
    if (!mid) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    for (int y = r0; y < r1; y++) {
        const uint8_t *row = src->px + (size_t)y * src->w * c;
        float *m = mid + (size_t)(y - r0) * dw * c;
        for (int o = 0; o < dw; o++) {
            const float *w = tx.w + (size_t)o * tx.maxtaps;
            const uint8_t *p = row + (size_t)tx.first[o] * c;
            for (int k = 0; k < c; k++) {
                float acc = 0;
                for (int j = 0; j < tx.count[o]; j++)
                    acc += w[j] * p[j * c + k];
                m[o * c + k] = acc;
            }
        }
    }
    for (int o = 0; o < dh; o++) {
        const float *w = ty.w + (size_t)o * ty.maxtaps;
        uint8_t *out = dst->px + ((size_t)(dy + o) * dst->w + dx) * c;
        const float *base = mid + (size_t)(ty.first[o] - r0) * dw * c;
        for (int x = 0; x < dw * c; x++) {
            float acc = 0;
            for (int j = 0; j < ty.count[o]; j++)
                acc += w[j] * base[(size_t)j * dw * c + x];
            int v = (int)lrintf(acc);
            out[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
done:
    free(mid);
    free_taps(&tx);
    free_taps(&ty);
    return st;
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
        return resample(src, 0, 0, src->w, src->h, dst, 0, 0, w, h, err);
    if (mode == TFR_RESIZE_CROP) {
        double s = sx > sy ? sx : sy;
        double cw = w / s, ch = h / s;
        return resample(src, (src->w - cw) / 2, (src->h - ch) / 2, cw, ch, dst, 0, 0, w, h, err);
    }
    double s = sx < sy ? sx : sy;
    int dw = (int)lround(src->w * s), dh = (int)lround(src->h * s);
    if (dw < 1) dw = 1;
    if (dh < 1) dh = 1;
    if (dw > w) dw = w;
    if (dh > h) dh = h;
    memset(dst->px, 0, (size_t)w * h * src->c);
    return resample(src, 0, 0, src->w, src->h, dst, (w - dw) / 2, (h - dh) / 2, dw, dh, err);
}

tfr_status tfr_image_resize_region(const tfr_image *src, double x0, double y0, double cw,
                                   double ch, int w, int h, tfr_image *dst, tfr_error *err)
{
    if (w <= 0 || h <= 0 || cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + cw > src->w + 1e-6 ||
        y0 + ch > src->h + 1e-6)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "resize region outside the image");
    tfr_status st = tfr_image_alloc(dst, w, h, src->c, err);
    if (st)
        return st;
    return resample(src, x0, y0, cw, ch, dst, 0, 0, w, h, err);
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
