/*
 * image/augment.c - augmentation (see tfrecord/augment.h): pure functions;
 * every random draw comes from the tfr_rng the caller passes, in the order
 * the header states.
 */
#include "tfrecord/augment.h"

#include <math.h>
#include <string.h>

#include "util/rng.h"

/* ---- random numbers --------------------------------------------------------- */

tfr_rng tfr_rng_for(uint64_t seed, uint64_t epoch, uint64_t item)
{
    tfr_rng r = {tfr_mix64(seed * TFR_GOLDEN64 ^ tfr_mix64(epoch + 0x1234567ull) ^
                           tfr_mix64(item * 0xff51afd7ed558ccdull + 7))};
    return r;
}

uint64_t tfr_rng_u64(tfr_rng *r) { return tfr_splitmix64(&r->state); }

double tfr_rng_uniform(tfr_rng *r) { return tfr_rng_unit(&r->state); }

/* ---- crops ---------------------------------------------------------------- */

tfr_region tfr_augment_center_crop(int w, int h, double f)
{
    if (f > 1)
        f = 1;
    double cw = w * f, ch = h * f;
    tfr_region g = {(w - cw) / 2, (h - ch) / 2, cw, ch};
    return g;
}

tfr_region tfr_augment_random_resized_crop(int w, int h, float min_scale, tfr_rng *r)
{
    double area = (double)w * h;
    for (int t = 0; t < 10; t++) {
        double a = area * (min_scale + (1 - min_scale) * tfr_rng_uniform(r));
        double lr = log(3.0 / 4) + (log(4.0 / 3) - log(3.0 / 4)) * tfr_rng_uniform(r);
        double ar = exp(lr);
        double tw = sqrt(a * ar), th = sqrt(a / ar);
        if (tw <= w && th <= h && tw >= 1 && th >= 1) {
            double x0 = (w - tw) * tfr_rng_uniform(r);
            double y0 = (h - th) * tfr_rng_uniform(r);
            tfr_region g = {x0, y0, tw, th};
            return g;
        }
    }
    tfr_region whole = {0, 0, w, h};
    return whole;
}

tfr_region tfr_augment_crop_scale(int w, int h, double crop, double scale, tfr_rng *r)
{
    double keep = 1.0 / (1.0 + crop * tfr_rng_uniform(r));
    keep /= 1.0 + scale * tfr_rng_uniform(r);
    double cw = w * keep, ch = h * keep;
    double x0 = (w - cw) * tfr_rng_uniform(r);
    double y0 = (h - ch) * tfr_rng_uniform(r);
    tfr_region g = {x0, y0, cw, ch};
    return g;
}

void tfr_augment_pad_offsets(int P, tfr_rng *r, int *dx, int *dy)
{
    *dx = (int)(tfr_rng_u64(r) % (uint64_t)(2 * P + 1));
    *dy = (int)(tfr_rng_u64(r) % (uint64_t)(2 * P + 1));
}

void tfr_augment_pad_crop(const void *src, int sw, int sh, int c, size_t elem, int P, int dx,
                          int dy, void *dst, int W, int H)
{
    const uint8_t *s = src;
    uint8_t *d = dst;
    size_t px = (size_t)c * elem;
    for (int y = 0; y < H; y++) {
        int sy = y + dy - P;
        uint8_t *row = d + (size_t)y * W * px;
        if (sy < 0 || sy >= sh) {
            memset(row, 0, (size_t)W * px);
            continue;
        }
        for (int x = 0; x < W; x++) {
            int sx = x + dx - P;
            if (sx < 0 || sx >= sw)
                memset(row + (size_t)x * px, 0, px);
            else
                memcpy(row + (size_t)x * px, s + ((size_t)sy * sw + sx) * px, px);
        }
    }
}

/* ---- flips and brightness ---------------------------------------------------- */

int tfr_augment_flip_draw(int enabled, tfr_rng *r)
{
    return enabled && (tfr_rng_u64(r) & 1);
}

tfr_region tfr_augment_erase_draw(int W, int H, float p, tfr_rng *r)
{
    tfr_region g = {0, 0, 0, 0};
    if (!(p > 0) || tfr_rng_uniform(r) >= p)
        return g;
    const double area = (double)W * H, lo = log(0.3), hi = log(1 / 0.3);
    for (int t = 0; t < 10; t++) {
        double a = area * (0.02 + (0.33 - 0.02) * tfr_rng_uniform(r));
        double ar = exp(lo + (hi - lo) * tfr_rng_uniform(r));
        int h = (int)lround(sqrt(a * ar)), w = (int)lround(sqrt(a / ar));
        if (h >= 1 && w >= 1 && h < H && w < W) {
            g.x0 = (int)(tfr_rng_uniform(r) * (W - w + 1));
            g.y0 = (int)(tfr_rng_uniform(r) * (H - h + 1));
            g.w = w;
            g.h = h;
            return g;
        }
    }
    return g;
}

void tfr_image_flip_h(tfr_image *im)
{
    int c = im->c;
    if (c == 3) { /* the common case, unrolled: three byte swaps per pixel pair */
        for (int y = 0; y < im->h; y++) {
            uint8_t *row = im->px + (size_t)y * im->w * 3;
            for (int a = 0, b = im->w - 1; a < b; a++, b--) {
                uint8_t *p = row + a * 3, *q = row + b * 3;
                uint8_t t0 = p[0], t1 = p[1], t2 = p[2];
                p[0] = q[0]; p[1] = q[1]; p[2] = q[2];
                q[0] = t0; q[1] = t1; q[2] = t2;
            }
        }
        return;
    }
    for (int y = 0; y < im->h; y++) {
        uint8_t *row = im->px + (size_t)y * im->w * c;
        for (int a = 0, b = im->w - 1; a < b; a++, b--)
            for (int k = 0; k < c; k++) {
                uint8_t t = row[a * c + k];
                row[a * c + k] = row[b * c + k];
                row[b * c + k] = t;
            }
    }
}

float tfr_augment_brightness_draw(double amount, tfr_rng *r)
{
    return (float)(1.0 + amount * (2 * tfr_rng_uniform(r) - 1));
}

/* ---- output --------------------------------------------------------------- */

/* one row of 3-channel pixels, mirrored: the portable loop */
static void flip_row3_c(const uint8_t *src, int W, uint8_t *d, int x0)
{
    for (int x = x0, sx = W - 1 - x0; x < W; x++, sx--) {
        d[3 * x] = src[3 * sx];
        d[3 * x + 1] = src[3 * sx + 1];
        d[3 * x + 2] = src[3 * sx + 2];
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <tmmintrin.h>
/*
 * Five pixels (15 bytes) per step with one SSSE3 byte shuffle: the 16 bytes
 * loaded end with the last byte of source pixel W-1-x, and the mask puts
 * their five pixels back in mirrored order. Loads stay inside the row (the
 * first byte loaded is the one before the five pixels, so the row's first
 * group is left to the scalar tail); each 16-byte store writes one byte the
 * next step overwrites, so the row's last group is left to it too.
 */
__attribute__((target("ssse3"))) static void flip_row3_ssse3(const uint8_t *src, int W,
                                                              uint8_t *d)
{
    const __m128i m = _mm_setr_epi8(13, 14, 15, 10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3, -1);
    int x = 0;
    for (; x + 6 <= W; x += 5) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(src + 3 * (W - 5 - x) - 1));
        _mm_storeu_si128((__m128i *)(void *)(d + 3 * x), _mm_shuffle_epi8(v, m));
    }
    flip_row3_c(src, W, d, x);
}

/* libgcc fills the CPU model before main; reading it is a load, no cache needed */
static int have_ssse3(void)
{
    return __builtin_cpu_supports("ssse3") ? 1 : 0;
}
#endif

void tfr_augment_copy_u8(const uint8_t *px, int W, int H, int C, int flip, uint8_t *dst)
{
    if (!flip) {
        memcpy(dst, px, (size_t)W * H * C);
        return;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    const int simd = C == 3 && have_ssse3();
#else
    const int simd = 0;
#endif
    for (int y = 0; y < H; y++) {
        const uint8_t *src = px + (size_t)y * W * C;
        uint8_t *d = dst + (size_t)y * W * C;
        if (C == 3) {
#if defined(__x86_64__) && defined(__GNUC__)
            if (simd) {
                flip_row3_ssse3(src, W, d);
                continue;
            }
#endif
            (void)simd;
            flip_row3_c(src, W, d, 0);
        } else if (C == 1) {
            for (int x = 0; x < W; x++)
                d[x] = src[W - 1 - x];
        } else {
            for (int x = 0; x < W; x++)
                for (int k = 0; k < C; k++)
                    d[x * C + k] = src[(W - 1 - x) * C + k];
        }
    }
}

/*
 * RGB rows into three planes with AVX2, eight pixels a step (the planar
 * float batches of a photo stream: a table lookup per value was 7 % of its
 * CPU time). The same float operations as the table (a product, then a
 * difference, no FMA), so the same bits; the last W % 8 pixels from the
 * table. x86-64 with GCC or clang; chosen at run time.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TFR_NORM_AVX2 1

__attribute__((target("avx2"))) static void norm_rgb_planes_avx2(
    const uint8_t *row, int W, int flip, const float *sc, const float *of,
    const float (*lut)[256], float *d0, float *d1, float *d2)
{
    /* bytes 0..15 and 16..23 of eight RGB pixels: where each channel lies */
    const __m128i lo[3] = {
        _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
        _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
        _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)};
    const __m128i hi[3] = {
        _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, -1, -1, -1, -1, -1, -1, -1, -1),
        _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, -1, -1, -1, -1, -1, -1, -1, -1),
        _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, -1, -1, -1, -1, -1, -1, -1, -1)};
    const __m256i rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    float *d[3] = {d0, d1, d2};
    __m256 vs[3], vo[3];
    for (int k = 0; k < 3; k++) {
        vs[k] = _mm256_set1_ps(sc[k]);
        vo[k] = _mm256_set1_ps(of[k]);
    }
    int x = 0;
    for (; x + 8 <= W; x += 8) {
        const uint8_t *p = row + (size_t)(flip ? W - 8 - x : x) * 3;
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(p + 16));
        for (int k = 0; k < 3; k++) {
            __m128i v8 = _mm_or_si128(_mm_shuffle_epi8(a, lo[k]), _mm_shuffle_epi8(b, hi[k]));
            __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v8));
            v = _mm256_sub_ps(_mm256_mul_ps(v, vs[k]), vo[k]);
            if (flip)
                v = _mm256_permutevar8x32_ps(v, rev);
            _mm256_storeu_ps(d[k] + x, v);
        }
    }
    for (; x < W; x++) {
        const uint8_t *p = row + (size_t)(flip ? W - 1 - x : x) * 3;
        for (int k = 0; k < 3; k++)
            d[k][x] = lut[k][p[k]];
    }
}
#endif

void tfr_augment_normalize_u8(const uint8_t *px, int W, int H, int C, int flip,
                              const float *mean, const float *std, tfr_pixel_order order,
                              float *dst)
{
    float sc[4], of[4];
    for (int k = 0; k < C && k < 4; k++) {
        sc[k] = 1.0f / (255.0f * std[k]);
        of[k] = mean[k] / std[k];
    }
    const size_t np = (size_t)W * H;
    if (np >= 4096 && C <= 4) {
        /* a table of the 256 values per channel (the same float expression,
         * so the same bits), then one lookup per element */
        float lut[4][256];
        for (int k = 0; k < C; k++)
            for (int v = 0; v < 256; v++)
                lut[k][v] = v * sc[k] - of[k];
#ifdef TFR_NORM_AVX2
        if (C == 3 && order != TFR_ORDER_HWC && __builtin_cpu_supports("avx2")) {
            for (int y = 0; y < H; y++)
                norm_rgb_planes_avx2(px + (size_t)y * W * 3, W, flip, sc, of,
                                     (const float(*)[256])lut, dst + (size_t)y * W,
                                     dst + np + (size_t)y * W, dst + 2 * np + (size_t)y * W);
            return;
        }
#endif
        for (int y = 0; y < H; y++) {
            const uint8_t *row = px + (size_t)y * W * C;
            if (order == TFR_ORDER_HWC) {
                float *d = dst + (size_t)y * W * C;
                for (int x = 0; x < W; x++) {
                    const uint8_t *p = row + (size_t)(flip ? W - 1 - x : x) * C;
                    for (int k = 0; k < C; k++)
                        d[(size_t)x * C + k] = lut[k][p[k]];
                }
                continue;
            }
            for (int k = 0; k < C; k++) {
                float *d = dst + (size_t)k * np + (size_t)y * W;
                const float *L = lut[k];
                const uint8_t *r = row + k;
                if (flip)
                    for (int x = 0; x < W; x++)
                        d[x] = L[r[(size_t)(W - 1 - x) * C]];
                else
                    for (int x = 0; x < W; x++)
                        d[x] = L[r[(size_t)x * C]];
            }
        }
        return;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = px + ((size_t)y * W + (flip ? W - 1 - x : x)) * C;
            size_t o = (size_t)y * W + x;
            for (int k = 0; k < C; k++) {
                float v = p[k] * sc[k] - of[k];
                if (order == TFR_ORDER_HWC)
                    dst[o * C + k] = v;
                else
                    dst[(size_t)k * np + o] = v;
            }
        }
}

void tfr_augment_copy_f32(const float *src, int W, int H, int C, int flip,
                          tfr_pixel_order order, float *dst)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < C; k++) {
                float v = src[((size_t)y * W + (flip ? W - 1 - x : x)) * C + k];
                if (order == TFR_ORDER_CHW)
                    dst[((size_t)k * H + y) * W + x] = v;
                else
                    dst[((size_t)y * W + x) * C + k] = v;
            }
}

void tfr_augment_model_input(const tfr_image *im, float brightness, float mean, float std,
                             float *dst)
{
    size_t np = (size_t)im->w * im->h;
    int C = im->c;
    for (int k = 0; k < C; k++)
        for (size_t i = 0; i < np; i++) {
            float v = im->px[i * C + k] * brightness;
            v = v > 255 ? 255 : v;
            dst[(size_t)k * np + i] = (v / 255.0f - mean) / std;
        }
}

void tfr_image_to_float(const tfr_image *im, tfr_normalize n, float *out)
{
    size_t cnt = (size_t)im->w * im->h * im->c;
    if (n == TFR_NORM_SAMPLEWISE) {
        double sum = 0, sq = 0;
        for (size_t i = 0; i < cnt; i++) {
            sum += im->px[i];
            sq += (double)im->px[i] * im->px[i];
        }
        double mean = sum / (double)cnt;
        double var = sq / (double)cnt - mean * mean;
        double sd = var > 0 ? sqrt(var) : 0;
        float inv = (float)(1.0 / (sd + 1e-6));
        for (size_t i = 0; i < cnt; i++)
            out[i] = (float)((im->px[i] - mean)) * inv;
        return;
    }
    float scale = n == TFR_NORM_RESCALE ? 1.0f / 255.0f : 1.0f;
    for (size_t i = 0; i < cnt; i++)
        out[i] = im->px[i] * scale;
}
