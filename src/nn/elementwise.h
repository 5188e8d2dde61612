/*
 * nn/elementwise.h - the per-element bodies of the CUDA backend's own
 * kernels, written once as plain C: nvcc compiles them into __device__ code
 * (nn/cuda/kernels.cu runs one per thread), and the host compiles the very
 * same functions for the CPU backend's uint8 input path and for
 * tests/unit/test_nn_backend.c, which checks every index mapping and formula
 * against the CPU reference kernels on machines without a GPU.
 *
 * Each function computes output element i (or row i) of its op. Layouts are
 * named in each comment; "NHWC" is the CUDA activation layout.
 */
#ifndef TFR_NN_ELEMENTWISE_H
#define TFR_NN_ELEMENTWISE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define TFR_HD static __host__ __device__ __forceinline__
#else
#define TFR_HD static inline
#endif

/*
 * Activations are float32, or bfloat16 (the upper half of a float32, round
 * to nearest even) in the CUDA backend's bf16 mode: functions that touch
 * activations take `bf` (1: the buffers hold bf16) and compute in float32.
 * Parameters, their gradients and BN statistics are always float32.
 */
TFR_HD float ew_bf16_to_f32(uint16_t v)
{
    union { uint32_t u; float f; } c;
    c.u = (uint32_t)v << 16;
    return c.f;
}

TFR_HD uint16_t ew_f32_to_bf16(float f)
{
    union { uint32_t u; float f; } c;
    c.f = f;
    uint32_t u = c.u;
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu))
        return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

TFR_HD float ew_ld(const void *p, size_t i, int bf)
{
    return bf ? ew_bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

TFR_HD void ew_st(void *p, size_t i, float v, int bf)
{
    if (bf)
        ((uint16_t *)p)[i] = ew_f32_to_bf16(v);
    else
        ((float *)p)[i] = v;
}

/* dst (N, H, W, C)[i] = src (N, C, H, W); also filters (K, C, R, S) -> (K, R, S, C) */
TFR_HD void ew_nchw_to_nhwc(size_t i, int c, int h, int w, const void *src, int sbf, void *dst,
                            int dbf)
{
    size_t t = i;
    int ch = (int)(t % (size_t)c);
    t /= (size_t)c;
    int x = (int)(t % (size_t)w);
    t /= (size_t)w;
    int y = (int)(t % (size_t)h);
    size_t n = t / (size_t)h;
    ew_st(dst, i,
          ew_ld(src, ((n * (size_t)c + (size_t)ch) * (size_t)h + (size_t)y) * (size_t)w + (size_t)x,
                sbf),
          dbf);
}

/* dst (N, C, H, W)[i] = src (N, H, W, C) */
TFR_HD void ew_nhwc_to_nchw(size_t i, int c, int h, int w, const void *src, int sbf, void *dst,
                            int dbf)
{
    size_t t = i;
    int x = (int)(t % (size_t)w);
    t /= (size_t)w;
    int y = (int)(t % (size_t)h);
    t /= (size_t)h;
    int ch = (int)(t % (size_t)c);
    size_t n = t / (size_t)c;
    ew_st(dst, i,
          ew_ld(src, ((n * (size_t)h + (size_t)y) * (size_t)w + (size_t)x) * (size_t)c + (size_t)ch,
                sbf),
          dbf);
}

/*
 * uint8 pixels (N, H, W, C) -> activation, v * scale - offset (scale = 1 /
 * (255 std), offset = mean / std: the streaming reader's formula), image n
 * read mirrored when flip && flip[n]. Output element i of (N, H, W, C) when
 * nhwc, else of (N, C, H, W).
 */
TFR_HD void ew_input_u8(size_t i, int c, int h, int w, int nhwc, const uint8_t *src,
                        const uint8_t *flip, float scale, float offset, void *dst, int bf)
{
    size_t t = i;
    int ch, x, y;
    if (nhwc) {
        ch = (int)(t % (size_t)c);
        t /= (size_t)c;
        x = (int)(t % (size_t)w);
        t /= (size_t)w;
        y = (int)(t % (size_t)h);
        t /= (size_t)h;
    } else {
        x = (int)(t % (size_t)w);
        t /= (size_t)w;
        y = (int)(t % (size_t)h);
        t /= (size_t)h;
        ch = (int)(t % (size_t)c);
        t /= (size_t)c;
    }
    size_t n = t;
    int sx = (flip && flip[n]) ? w - 1 - x : x;
    float v = (float)src[((n * (size_t)h + (size_t)y) * (size_t)w + (size_t)sx) * (size_t)c +
                         (size_t)ch];
    ew_st(dst, i, v * scale - offset, bf);
}

TFR_HD void ew_relu_fwd(size_t i, const void *x, void *y, int bf)
{
    float v = ew_ld(x, i, bf);
    ew_st(y, i, v > 0 ? v : 0.0f, bf);
}

TFR_HD void ew_relu_bwd(size_t i, const void *y, const void *dy, void *dx, int bf)
{
    if (ew_ld(y, i, bf) > 0)
        ew_st(dx, i, ew_ld(dx, i, bf) + ew_ld(dy, i, bf), bf);
}

TFR_HD void ew_add_fwd(size_t i, const void *a, const void *b, void *y, int bf)
{
    ew_st(y, i, ew_ld(a, i, bf) + ew_ld(b, i, bf), bf);
}

TFR_HD void ew_add_bwd(size_t i, const void *dy, void *da, void *db, int bf)
{
    float g = ew_ld(dy, i, bf);
    ew_st(da, i, ew_ld(da, i, bf) + g, bf);
    ew_st(db, i, ew_ld(db, i, bf) + g, bf);
}

TFR_HD void ew_axpy(size_t i, float a, const float *x, float *y) { y[i] += a * x[i]; }

TFR_HD void ew_sgd(size_t i, float *w, const float *g, float *v, float lr, float mu, float wd)
{
    v[i] = mu * v[i] - lr * (g[i] + wd * w[i]);
    w[i] += v[i];
}

/* float32 weights -> bf16 copy; float32 gradient += bf16 gradient */
TFR_HD void ew_to_bf16(size_t i, const float *src, uint16_t *dst) { dst[i] = ew_f32_to_bf16(src[i]); }
TFR_HD void ew_add_bf16(size_t i, const uint16_t *src, float *dst) { dst[i] += ew_bf16_to_f32(src[i]); }
/* dst[i] = src[i] between float (bf 0) and bf16 (bf 1) buffers */
TFR_HD void ew_convert(size_t i, const void *src, int sbf, void *dst, int dbf)
{
    ew_st(dst, i, ew_ld(src, i, sbf), dbf);
}

/*
 * 2x2 stride-2 max pool over x (N, H, W, C), output i of (N, H/2, W/2, C);
 * ties go to the first of (0,0) (0,1) (1,0) (1,1), as on the CPU. idx[i] is
 * the maximum's place in its window, 0..3 (2a + b): an offset into the
 * whole tensor would wrap int32 at 2^31 elements (a homework-preset batch
 * of 8192), and the backward pass recomputes the offset in size_t.
 */
TFR_HD size_t ew_pool_window(size_t i, int c, int h, int w)
{
    const int P = h / 2, Q = w / 2;
    size_t t = i;
    size_t ch = t % (size_t)c;
    t /= (size_t)c;
    size_t q = t % (size_t)Q;
    t /= (size_t)Q;
    size_t p = t % (size_t)P;
    size_t n = t / (size_t)P;
    return ((n * (size_t)h + 2 * p) * (size_t)w + 2 * q) * (size_t)c + ch;
}

TFR_HD void ew_pool_fwd(size_t i, int c, int h, int w, const void *x, void *y, int32_t *idx,
                        int bf)
{
    const size_t base = ew_pool_window(i, c, h, w), row = (size_t)w * (size_t)c;
    int best = 0;
    float bv = ew_ld(x, base, bf);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            float v = ew_ld(x, base + (size_t)a * row + (size_t)b * (size_t)c, bf);
            if (v > bv) {
                best = 2 * a + b;
                bv = v;
            }
        }
    ew_st(y, i, bv, bf);
    idx[i] = best;
}

/* windows do not overlap: each output owns its dx element */
TFR_HD void ew_pool_bwd(size_t i, int c, int h, int w, const int32_t *idx, const void *dy,
                        void *dx, int bf)
{
    const int k = idx[i];
    const size_t j = ew_pool_window(i, c, h, w) + (size_t)(k >> 1) * (size_t)w * (size_t)c +
                     (size_t)(k & 1) * (size_t)c;
    ew_st(dx, j, ew_ld(dx, j, bf) + ew_ld(dy, i, bf), bf);
}

/* BN with fixed statistics over (N, HW, C): y = x * gamma*invstd + (beta - mean*gamma*invstd) */
TFR_HD void ew_bn_infer(size_t i, int c, const void *x, const float *gamma, const float *beta,
                        const float *run_mean, const float *run_var, float eps, void *y, int bf)
{
    int ch = (int)(i % (size_t)c);
    float is = 1.0f / sqrtf(run_var[ch] + eps);
    float g = gamma[ch] * is;
    ew_st(y, i, ew_ld(x, i, bf) * g + (beta[ch] - run_mean[ch] * g), bf);
}

/* after inference BN: the statistics it used, as the CPU reports them */
TFR_HD void ew_bn_infer_stats(size_t ch, const float *run_mean, const float *run_var, float eps,
                              float *mean, float *invstd)
{
    mean[ch] = run_mean[ch];
    invstd[ch] = 1.0f / sqrtf(run_var[ch] + eps);
}

/*
 * Batch norm in training, as kernels (the bf16 path): each channel's sums
 * over the `rows` = N*HW positions are taken in chunks of TFR_BN_CHUNK rows
 * (one thread per chunk and channel, neighbouring threads on neighbouring
 * channels), then added up per channel in chunk order - the same result on
 * every run.
 */
#define TFR_BN_CHUNK 128

/*
 * part j = chunk * c + ch: with dy NULL, the chunk's mean (p0) and sum of
 * squared deviations from it (p1), taken around the chunk's first value so
 * that a channel whose mean is far above its spread (mean 300, std 2) keeps
 * its variance (sum x^2 - (sum x)^2 / n in float cancels to nothing there);
 * else sum dy and sum dy * (x - mean) * invstd.
 */
TFR_HD void ew_bn_part(size_t j, int c, size_t rows, const void *x, const void *dy,
                       const float *mean, const float *invstd, float *p0, float *p1, int bf)
{
    size_t ch = j % (size_t)c, r0 = j / (size_t)c * TFR_BN_CHUNK;
    size_t r1 = r0 + TFR_BN_CHUNK < rows ? r0 + TFR_BN_CHUNK : rows;
    float s0 = 0, s1 = 0;
    if (dy) {
        for (size_t r = r0; r < r1; r++) {
            float v = ew_ld(x, r * (size_t)c + ch, bf), d = ew_ld(dy, r * (size_t)c + ch, bf);
            s0 += d;
            s1 += d * (v - mean[ch]) * invstd[ch];
        }
        p0[j] = s0;
        p1[j] = s1;
        return;
    }
    const float k = ew_ld(x, r0 * (size_t)c + ch, bf);
    for (size_t r = r0; r < r1; r++) {
        float v = ew_ld(x, r * (size_t)c + ch, bf) - k;
        s0 += v;
        s1 += v * v;
    }
    const float cnt = (float)(r1 - r0);
    p0[j] = k + s0 / cnt;
    p1[j] = s1 - s0 * s0 / cnt;
}

/* per channel: the chunks combined in chunk order (Chan et al.'s pairwise
 * update of count, mean and squared deviations, in double); batch mean and
 * 1/sqrt(var + eps) (biased variance), running averages with the unbiased
 * variance */
TFR_HD void ew_bn_stats(size_t ch, int c, size_t rows, const float *p0, const float *p1,
                        float eps, float momentum, float *mean, float *invstd, float *run_mean,
                        float *run_var)
{
    size_t chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    double cnt = 0, mu = 0, m2 = 0, m = (double)rows;
    for (size_t k = 0; k < chunks; k++) {
        double nb = (double)((k + 1) * TFR_BN_CHUNK < rows ? TFR_BN_CHUNK
                                                           : rows - k * TFR_BN_CHUNK);
        double mb = p0[k * (size_t)c + ch], d = mb - mu, n = cnt + nb;
        mu += d * nb / n;
        m2 += (double)p1[k * (size_t)c + ch] + d * d * cnt * nb / n;
        cnt = n;
    }
    double var = m2 / m;
    if (var < 0)
        var = 0;
    mean[ch] = (float)mu;
    invstd[ch] = (float)(1.0 / sqrt(var + eps));
    double unbiased = m > 1 ? var * m / (m - 1) : var;
    run_mean[ch] = (1 - momentum) * run_mean[ch] + momentum * (float)mu;
    run_var[ch] = (float)((1 - momentum) * run_var[ch] + momentum * unbiased);
}

/* y = x * gamma*invstd + (beta - mean*gamma*invstd) with the batch statistics */
TFR_HD void ew_bn_apply(size_t i, int c, const void *x, const float *gamma, const float *beta,
                        const float *mean, const float *invstd, void *y, int bf)
{
    int ch = (int)(i % (size_t)c);
    float g = gamma[ch] * invstd[ch];
    ew_st(y, i, ew_ld(x, i, bf) * g + (beta[ch] - mean[ch] * g), bf);
}

/* per channel: sum dy and sum dy*xhat into sums[ch], sums[c + ch]; dbeta,
 * dgamma accumulate */
TFR_HD void ew_bn_bwd_sums(size_t ch, int c, size_t rows, const float *p0, const float *p1,
                           float *sums, float *dgamma, float *dbeta)
{
    size_t chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    double a = 0, b = 0;
    for (size_t k = 0; k < chunks; k++) {
        a += p0[k * (size_t)c + ch];
        b += p1[k * (size_t)c + ch];
    }
    sums[ch] = (float)a;
    sums[(size_t)c + ch] = (float)b;
    dgamma[ch] += (float)b;
    dbeta[ch] += (float)a;
}

/* dx += gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)) */
TFR_HD void ew_bn_bwd_apply(size_t i, int c, size_t rows, const void *x, const void *dy, void *dx,
                            const float *gamma, const float *mean, const float *invstd,
                            const float *sums, int bf)
{
    int ch = (int)(i % (size_t)c);
    float is = invstd[ch], k = gamma[ch] * is;
    float a = sums[ch] / (float)rows, b = sums[(size_t)c + ch] / (float)rows;
    float xh = (ew_ld(x, i, bf) - mean[ch]) * is;
    ew_st(dx, i, ew_ld(dx, i, bf) + k * (ew_ld(dy, i, bf) - a - xh * b), bf);
}

/* global average pool: y (N, C)[i] = mean over HW of x (N, HW, C) */
TFR_HD void ew_gap_fwd(size_t i, int c, int hw, const void *x, void *y, int bf)
{
    size_t n = i / (size_t)c, ch = i % (size_t)c;
    float s = 0;
    for (int j = 0; j < hw; j++)
        s += ew_ld(x, (n * (size_t)hw + (size_t)j) * (size_t)c + ch, bf);
    ew_st(y, i, s / (float)hw, bf);
}

/* dx (N, HW, C)[i] += dy (N, C) / HW */
TFR_HD void ew_gap_bwd(size_t i, int c, int hw, const void *dy, void *dx, int bf)
{
    size_t n = i / ((size_t)hw * (size_t)c), ch = i % (size_t)c;
    ew_st(dx, i, ew_ld(dx, i, bf) + ew_ld(dy, n * (size_t)c + ch, bf) / (float)hw, bf);
}

/* y (N, K)[i] = bias[k] (the GEMM then adds x W^T) */
TFR_HD void ew_bias_rows(size_t i, int k, const float *bias, void *y, int bf)
{
    ew_st(y, i, bias[i % (size_t)k], bf);
}

/* db[j] += sum over rows of dy (N, K)[., j] */
TFR_HD void ew_bias_grad(size_t j, int n, int k, const void *dy, float *db, int bf)
{
    float s = 0;
    for (int r = 0; r < n; r++)
        s += ew_ld(dy, (size_t)r * (size_t)k + j, bf);
    db[j] += s;
}

/*
 * Softmax cross-entropy of row i of logits (N, K): loss_row[i] = lse - z[y];
 * dlogits row (when not NULL) = (softmax - onehot) / n. A label outside
 * [0, K) counts as class 0, as on the CPU.
 */
TFR_HD void ew_softmax_ce_row(size_t i, int n, int k, const void *logits, const int32_t *labels,
                              float smooth, float *loss_row, void *dlogits, int bf)
{
    const float on = 1.0f - smooth, off = smooth / (float)k;
    const size_t z0 = i * (size_t)k;
    float mx = ew_ld(logits, z0, bf);
    for (int j = 1; j < k; j++) {
        float v = ew_ld(logits, z0 + (size_t)j, bf);
        mx = v > mx ? v : mx;
    }
    float s = 0;
    for (int j = 0; j < k; j++)
        s += expf(ew_ld(logits, z0 + (size_t)j, bf) - mx);
    float lse = mx + logf(s);
    int y = labels[i];
    if (y < 0 || y >= k) {
        /* never remapped: a NaN loss and no gradient (tfr_model checks labels first) */
        loss_row[i] = NAN;
        if (dlogits)
            for (int j = 0; j < k; j++)
                ew_st(dlogits, z0 + (size_t)j, 0.0f, bf);
        return;
    }
    if (smooth == 0.0f) {
        loss_row[i] = lse - ew_ld(logits, z0 + (size_t)y, bf);
    } else { /* -sum_j target_j log p_j */
        float zs = 0;
        for (int j = 0; j < k; j++)
            zs += ew_ld(logits, z0 + (size_t)j, bf);
        loss_row[i] = lse - on * ew_ld(logits, z0 + (size_t)y, bf) - off * zs;
    }
    if (dlogits)
        for (int j = 0; j < k; j++)
            ew_st(dlogits, z0 + (size_t)j,
                  (expf(ew_ld(logits, z0 + (size_t)j, bf) - lse) - (j == y ? on + off : off)) /
                      (float)n,
                  bf);
}

/* mean of the n row losses, summed in order (deterministic) */
TFR_HD void ew_mean(int n, const float *v, float *out)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    out[0] = s / (float)n;
}

/*
 * The dense layer's products as column-major GEMMs, C = op(A) op(B) + C (the
 * cuBLAS convention; row-major (R, C) buffers read as their column-major
 * transposes), shared by the cuBLAS calls and their host check.
 */
typedef struct ew_gemm {
    int ta, tb, m, n, k; /* ta/tb: 1 = transposed */
    const void *A;
    int lda;
    const void *B;
    int ldb;
    void *C;
    int ldc;
    int a_bf, b_bf, c_bf; /* operand holds bf16 */
} ew_gemm;

/* y (N, K) += x (N, C) W (K, C)^T, i.e. y^T (K, N) += W (C, K)^T x^T (C, N);
 * bf: activations (and the weight copy w) in bf16 */
TFR_HD ew_gemm ew_dense_fwd_gemm(int n, int c, int k, const void *x, const void *w, void *y, int bf)
{
    ew_gemm g = {1, 0, k, n, c, w, c, x, c, y, k, bf, bf, bf};
    return g;
}

/* dW (K, C) += dy (N, K)^T x (N, C), i.e. dW^T (C, K) += x^T (C, N) (dy^T (K, N))^T;
 * dW is float32 */
TFR_HD ew_gemm ew_dense_dw_gemm(int n, int c, int k, const void *x, const void *dy, float *dw,
                                int bf)
{
    ew_gemm g = {0, 1, c, k, n, x, c, dy, k, dw, c, bf, bf, 0};
    return g;
}

/* dx (N, C) += dy (N, K) W (K, C), i.e. dx^T (C, N) += W^T (C, K) dy^T (K, N) */
TFR_HD ew_gemm ew_dense_dx_gemm(int n, int c, int k, const void *w, const void *dy, void *dx,
                                int bf)
{
    ew_gemm g = {0, 0, c, n, k, w, c, dy, k, dx, c, bf, bf, bf};
    return g;
}

#endif
