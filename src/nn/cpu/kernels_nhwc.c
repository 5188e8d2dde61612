/*
 * nn/cpu/kernels_nhwc.c - the ops of the "onednn" CPU backend that depend
 * on the activation layout, for activations (N, H, W, C): batch norm (and
 * its fused ReLU), 2x2 max pool, global average pool, and the conversions
 * from and to the model's NCHW. The layout lets oneDNN's convolutions read
 * and write the activations as they are (no reorder around each call), and
 * the per-channel loops here run over contiguous channels, which the
 * compiler vectorizes.
 *
 * Semantics are those of the NCHW reference kernels (kernels.c): the same
 * formulas, ties and accumulation types. Batch-norm sums are taken over a
 * fixed split of the N*H*W rows into NHWC_BN_ROWS-row chunks, in double,
 * and added in chunk order: the result depends on the shape only, never on
 * the thread count. Global average pooling sums in the reference's order
 * and is bit-identical to it.
 */
#include <math.h>
#include <string.h>

#include "nn/cpu/nhwc_impl.h"
#include "nn/nn_impl.h"

#define CH_BLOCK 256 /* channels per stack accumulator block */

static size_t nhwc_bn_scratch(int n, int c, int hw)
{
    size_t rows = (size_t)n * hw, chunks = (rows + NHWC_BN_ROWS - 1) / NHWC_BN_ROWS;
    return 2 * chunks * (size_t)c;
}

size_t nhwc_bn_scratch_total(int n, int c, int hw)
{
    /* the chunk sums, then two double and three float vectors of c */
    return nhwc_bn_scratch(n, c, hw) + 4 * (size_t)c;
}

/*
 * Chunk k's sums per channel into part[k*c .. k*c+c) and part[(chunks+k)*c ..):
 * with dy NULL, x and x^2; else the gradient g (dy, or dy where y > 0 when
 * y is given) and g * (x - mean).
 */
static void bn_chunk_sums(size_t k, size_t rows, int c, const float *x, const float *y,
                          const float *dy, const float *mean, double *p0, double *p1)
{
    size_t r0 = k * NHWC_BN_ROWS, r1 = r0 + NHWC_BN_ROWS < rows ? r0 + NHWC_BN_ROWS : rows;
    for (int c0 = 0; c0 < c; c0 += CH_BLOCK) {
        const int cb = c - c0 < CH_BLOCK ? c - c0 : CH_BLOCK;
        double a[CH_BLOCK], b[CH_BLOCK];
        for (int j = 0; j < cb; j++)
            a[j] = b[j] = 0;
        for (size_t r = r0; r < r1; r++) {
            const float *xp = x + r * (size_t)c + c0;
            if (!dy) {
                for (int j = 0; j < cb; j++) {
                    double v = xp[j];
                    a[j] += v;
                    b[j] += v * v;
                }
            } else if (!y) {
                const float *dp = dy + r * (size_t)c + c0;
                for (int j = 0; j < cb; j++) {
                    double g = dp[j];
                    a[j] += g;
                    b[j] += g * (xp[j] - mean[c0 + j]);
                }
            } else {
                /* the ReLU's select in float first: converting a selected
                 * value to double kept the loop scalar, with a branch per
                 * element */
                const float *dp = dy + r * (size_t)c + c0, *yp = y + r * (size_t)c + c0;
                float gf[CH_BLOCK];
                for (int j = 0; j < cb; j++)
                    gf[j] = relu_pass(yp[j], dp[j]);
                for (int j = 0; j < cb; j++) {
                    double g = 0.0f + gf[j]; /* as relu_bwd_cpu into a zeroed buffer */
                    a[j] += g;
                    b[j] += g * (xp[j] - mean[c0 + j]);
                }
            }
        }
        memcpy(p0 + k * (size_t)c + c0, a, (size_t)cb * sizeof(double));
        memcpy(p1 + k * (size_t)c + c0, b, (size_t)cb * sizeof(double));
    }
}

/* every chunk's sums, then channel ch's totals in chunk order */
static void bn_sums(size_t rows, int c, const float *x, const float *y, const float *dy,
                    const float *mean, double *part, double *s0, double *s1)
{
    const size_t chunks = (rows + NHWC_BN_ROWS - 1) / NHWC_BN_ROWS;
    double *p0 = part, *p1 = part + chunks * (size_t)c;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < chunks; k++)
        bn_chunk_sums(k, rows, c, x, y, dy, mean, p0, p1);
    for (int ch = 0; ch < c; ch++)
        s0[ch] = s1[ch] = 0;
    for (size_t k = 0; k < chunks; k++)
        for (int ch = 0; ch < c; ch++) {
            s0[ch] += p0[k * (size_t)c + ch];
            s1[ch] += p1[k * (size_t)c + ch];
        }
}

void nhwc_bn_fwd(int n, int c, int hw, const float *x, const float *gamma, const float *beta,
                 float *y, float *mean, float *invstd, float *run_mean, float *run_var,
                 int train, float momentum, float eps, int relu, double *scratch)
{
    const size_t rows = (size_t)n * hw;
    const double m = (double)rows;
    /* per channel: scale and shift, after the sums (s0, s1 reuse the tail of scratch) */
    double *s0 = scratch + nhwc_bn_scratch(n, c, hw), *s1 = s0 + c;
    float *g = (float *)(s1 + c), *sh = g + c;
    if (train)
        bn_sums(rows, c, x, NULL, NULL, NULL, scratch, s0, s1);
    for (int ch = 0; ch < c; ch++) {
        float mu, is;
        bn_channel_stats(ch, train, train ? s0[ch] : 0, train ? s1[ch] : 0, m, momentum, eps,
                         mean, invstd, run_mean, run_var, &mu, &is);
        g[ch] = gamma[ch] * is;
        sh[ch] = beta[ch] - mu * g[ch];
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *xp = x + r * (size_t)c;
        float *o = y + r * (size_t)c;
        if (relu) {
            for (int ch = 0; ch < c; ch++) {
                float v = xp[ch] * g[ch] + sh[ch];
                o[ch] = v > 0 ? v : 0;
            }
        } else {
            for (int ch = 0; ch < c; ch++)
                o[ch] = xp[ch] * g[ch] + sh[ch];
        }
    }
}

void nhwc_bn_bwd(int n, int c, int hw, const float *x, const float *gamma, const float *mean,
                 const float *invstd, const float *y, const float *dy, float *dx, float *dgamma,
                 float *dbeta, double *scratch)
{
    const size_t rows = (size_t)n * hw;
    const double m = (double)rows;
    double *s0 = scratch + nhwc_bn_scratch(n, c, hw), *s1 = s0 + c;
    float *k = (float *)(s1 + c), *a = k + c;
    bn_sums(rows, c, x, y, dy, mean, scratch, s0, s1);
    float *b = a + c;
    for (int ch = 0; ch < c; ch++) {
        double sdyx = s1[ch] * invstd[ch];
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)s0[ch];
        k[ch] = gamma[ch] * invstd[ch];
        a[ch] = (float)(s0[ch] / m);
        b[ch] = (float)(sdyx / m);
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        /* dx never overlaps x, y or dy */
        const float *restrict xp = x + r * (size_t)c, *restrict dp = dy + r * (size_t)c;
        float *restrict o = dx + r * (size_t)c;
        if (y) {
            /* the select, then the rest (one loop: the addition of 0 below
             * kept it scalar) */
            const float *restrict yp = y + r * (size_t)c;
            for (int c0 = 0; c0 < c; c0 += CH_BLOCK) {
                const int cb = c - c0 < CH_BLOCK ? c - c0 : CH_BLOCK;
                float gf[CH_BLOCK];
                for (int j = 0; j < cb; j++)
                    gf[j] = relu_pass(yp[c0 + j], dp[c0 + j]);
                for (int j = 0; j < cb; j++) {
                    const int ch = c0 + j;
                    float gj = 0.0f + gf[j]; /* as relu_bwd_cpu into a zeroed buffer */
                    o[ch] += k[ch] * (gj - a[ch] - (xp[ch] - mean[ch]) * invstd[ch] * b[ch]);
                }
            }
        } else {
            for (int ch = 0; ch < c; ch++)
                o[ch] += k[ch] * (dp[ch] - a[ch] - (xp[ch] - mean[ch]) * invstd[ch] * b[ch]);
        }
    }
}

void nhwc_pool_fwd(int n, int c, int h, int w, const float *x, float *y, int32_t *idx)
{
    const int P = h / 2, Q = w / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                const size_t o = (((size_t)i * P + p) * Q + q) * (size_t)c;
                const size_t x00 = (((size_t)i * h + 2 * p) * w + 2 * q) * (size_t)c;
                const size_t off[4] = {x00, x00 + (size_t)c, x00 + (size_t)w * c,
                                       x00 + (size_t)w * c + c};
                for (int ch = 0; ch < c; ch++) {
                    size_t best = off[0] + ch;
                    for (int t = 1; t < 4; t++) /* ties: the first, as the reference */
                        if (x[off[t] + ch] > x[best])
                            best = off[t] + ch;
                    y[o + ch] = x[best];
                    idx[o + ch] = (int32_t)best;
                }
            }
}

void nhwc_pool_bwd(int n, int c, int h, int w, const int32_t *idx, const float *dy, float *dx)
{
    /* windows do not overlap: each output owns its dx element */
    const size_t cnt = (size_t)n * (h / 2) * (w / 2) * c;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < cnt; i++)
        dx[idx[i]] += dy[i];
}

void nhwc_gap_fwd(int n, int c, int hw, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        for (int c0 = 0; c0 < c; c0 += CH_BLOCK) {
            const int cb = c - c0 < CH_BLOCK ? c - c0 : CH_BLOCK;
            double s[CH_BLOCK];
            for (int j = 0; j < cb; j++)
                s[j] = 0;
            for (int t = 0; t < hw; t++) {
                const float *xp = x + ((size_t)i * hw + t) * c + c0;
                for (int j = 0; j < cb; j++)
                    s[j] += xp[j];
            }
            for (int j = 0; j < cb; j++)
                y[(size_t)i * c + c0 + j] = (float)(s[j] / hw);
        }
}

void nhwc_gap_bwd(int n, int c, int hw, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        for (int t = 0; t < hw; t++) {
            float *o = dx + ((size_t)i * hw + t) * c;
            const float *d = dy + (size_t)i * c;
            for (int ch = 0; ch < c; ch++)
                o[ch] += d[ch] / (float)hw;
        }
}

void nhwc_from_nchw(int n, int c, int h, int w, const float *x, float *y)
{
    const size_t hw = (size_t)h * w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        for (size_t t = 0; t < hw; t++)
            for (int ch = 0; ch < c; ch++)
                y[((size_t)i * hw + t) * c + ch] = x[((size_t)i * c + ch) * hw + t];
}

void nhwc_to_nchw(int n, int c, int h, int w, const float *x, float *y)
{
    const size_t hw = (size_t)h * w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t t = 0; t < hw; t++)
                y[((size_t)i * c + ch) * hw + t] = x[((size_t)i * hw + t) * c + ch];
}
