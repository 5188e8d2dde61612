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

/* dst (N, H, W, C)[i] = src (N, C, H, W); also filters (K, C, R, S) -> (K, R, S, C) */
TFR_HD void ew_nchw_to_nhwc(size_t i, int c, int h, int w, const float *src, float *dst)
{
    size_t t = i;
    int ch = (int)(t % (size_t)c);
    t /= (size_t)c;
    int x = (int)(t % (size_t)w);
    t /= (size_t)w;
    int y = (int)(t % (size_t)h);
    size_t n = t / (size_t)h;
    dst[i] = src[((n * (size_t)c + (size_t)ch) * (size_t)h + (size_t)y) * (size_t)w + (size_t)x];
}

/* dst (N, C, H, W)[i] = src (N, H, W, C) */
TFR_HD void ew_nhwc_to_nchw(size_t i, int c, int h, int w, const float *src, float *dst)
{
    size_t t = i;
    int x = (int)(t % (size_t)w);
    t /= (size_t)w;
    int y = (int)(t % (size_t)h);
    t /= (size_t)h;
    int ch = (int)(t % (size_t)c);
    size_t n = t / (size_t)c;
    dst[i] = src[((n * (size_t)h + (size_t)y) * (size_t)w + (size_t)x) * (size_t)c + (size_t)ch];
}

/*
 * uint8 pixels (N, H, W, C) -> float, v * scale - offset (scale = 1 / (255
 * std), offset = mean / std: the streaming reader's formula), image n read
 * mirrored when flip && flip[n]. Output element i of (N, H, W, C) when nhwc,
 * else of (N, C, H, W).
 */
TFR_HD void ew_input_u8(size_t i, int c, int h, int w, int nhwc, const uint8_t *src,
                        const uint8_t *flip, float scale, float offset, float *dst)
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
    dst[i] = v * scale - offset;
}

TFR_HD void ew_relu_fwd(size_t i, const float *x, float *y) { y[i] = x[i] > 0 ? x[i] : 0.0f; }

TFR_HD void ew_relu_bwd(size_t i, const float *y, const float *dy, float *dx)
{
    dx[i] += y[i] > 0 ? dy[i] : 0.0f;
}

TFR_HD void ew_add_fwd(size_t i, const float *a, const float *b, float *y) { y[i] = a[i] + b[i]; }

TFR_HD void ew_add_bwd(size_t i, const float *dy, float *da, float *db)
{
    da[i] += dy[i];
    db[i] += dy[i];
}

TFR_HD void ew_axpy(size_t i, float a, const float *x, float *y) { y[i] += a * x[i]; }

TFR_HD void ew_sgd(size_t i, float *w, const float *g, float *v, float lr, float mu, float wd)
{
    v[i] = mu * v[i] - lr * (g[i] + wd * w[i]);
    w[i] += v[i];
}

/*
 * 2x2 stride-2 max pool over x (N, H, W, C), output i of (N, H/2, W/2, C);
 * ties go to the first of (0,0) (0,1) (1,0) (1,1), as on the CPU. idx[i] is
 * the offset of the maximum in x.
 */
TFR_HD void ew_pool_fwd(size_t i, int c, int h, int w, const float *x, float *y, int32_t *idx)
{
    const int P = h / 2, Q = w / 2;
    size_t t = i;
    int ch = (int)(t % (size_t)c);
    t /= (size_t)c;
    int q = (int)(t % (size_t)Q);
    t /= (size_t)Q;
    int p = (int)(t % (size_t)P);
    size_t n = t / (size_t)P;
    size_t best = ((n * (size_t)h + 2 * (size_t)p) * (size_t)w + 2 * (size_t)q) * (size_t)c +
                  (size_t)ch;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            size_t j = ((n * (size_t)h + 2 * (size_t)p + (size_t)a) * (size_t)w + 2 * (size_t)q +
                        (size_t)b) * (size_t)c + (size_t)ch;
            if (x[j] > x[best])
                best = j;
        }
    y[i] = x[best];
    idx[i] = (int32_t)best;
}

/* windows do not overlap: each output owns its dx element */
TFR_HD void ew_pool_bwd(size_t i, const int32_t *idx, const float *dy, float *dx)
{
    dx[idx[i]] += dy[i];
}

/* BN with fixed statistics over (N, HW, C): y = x * gamma*invstd + (beta - mean*gamma*invstd) */
TFR_HD void ew_bn_infer(size_t i, int c, const float *x, const float *gamma, const float *beta,
                        const float *run_mean, const float *run_var, float eps, float *y)
{
    int ch = (int)(i % (size_t)c);
    float is = 1.0f / sqrtf(run_var[ch] + eps);
    float g = gamma[ch] * is;
    y[i] = x[i] * g + (beta[ch] - run_mean[ch] * g);
}

/* after inference BN: the statistics it used, as the CPU reports them */
TFR_HD void ew_bn_infer_stats(size_t ch, const float *run_mean, const float *run_var, float eps,
                              float *mean, float *invstd)
{
    mean[ch] = run_mean[ch];
    invstd[ch] = 1.0f / sqrtf(run_var[ch] + eps);
}

/* global average pool: y (N, C)[i] = mean over HW of x (N, HW, C) */
TFR_HD void ew_gap_fwd(size_t i, int c, int hw, const float *x, float *y)
{
    size_t n = i / (size_t)c, ch = i % (size_t)c;
    float s = 0;
    for (int j = 0; j < hw; j++)
        s += x[(n * (size_t)hw + (size_t)j) * (size_t)c + ch];
    y[i] = s / (float)hw;
}

/* dx (N, HW, C)[i] += dy (N, C) / HW */
TFR_HD void ew_gap_bwd(size_t i, int c, int hw, const float *dy, float *dx)
{
    size_t n = i / ((size_t)hw * (size_t)c), ch = i % (size_t)c;
    dx[i] += dy[n * (size_t)c + ch] / (float)hw;
}

/* y (N, K)[i] = bias[k] (the GEMM then adds x W^T) */
TFR_HD void ew_bias_rows(size_t i, int k, const float *bias, float *y) { y[i] = bias[i % (size_t)k]; }

/*
 * The dense layer's products as column-major GEMMs, C = op(A) op(B) + C (the
 * cuBLAS convention; row-major (R, C) buffers read as their column-major
 * transposes), shared by the cuBLAS calls and their host check.
 */
typedef struct ew_gemm {
    int ta, tb, m, n, k; /* ta/tb: 1 = transposed */
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float *C;
    int ldc;
} ew_gemm;

/* y (N, K) += x (N, C) W (K, C)^T, i.e. y^T (K, N) += W (C, K)^T x^T (C, N) */
TFR_HD ew_gemm ew_dense_fwd_gemm(int n, int c, int k, const float *x, const float *w, float *y)
{
    ew_gemm g = {1, 0, k, n, c, w, c, x, c, y, k};
    return g;
}

/* dW (K, C) += dy (N, K)^T x (N, C), i.e. dW^T (C, K) += x^T (C, N) (dy^T (K, N))^T */
TFR_HD ew_gemm ew_dense_dw_gemm(int n, int c, int k, const float *x, const float *dy, float *dw)
{
    ew_gemm g = {0, 1, c, k, n, x, c, dy, k, dw, c};
    return g;
}

/* dx (N, C) += dy (N, K) W (K, C), i.e. dx^T (C, N) += W^T (C, K) dy^T (K, N) */
TFR_HD ew_gemm ew_dense_dx_gemm(int n, int c, int k, const float *w, const float *dy, float *dx)
{
    ew_gemm g = {0, 0, c, n, k, w, c, dy, k, dx, c};
    return g;
}

/* db[j] += sum over rows of dy (N, K)[., j] */
TFR_HD void ew_bias_grad(size_t j, int n, int k, const float *dy, float *db)
{
    float s = 0;
    for (int r = 0; r < n; r++)
        s += dy[(size_t)r * (size_t)k + j];
    db[j] += s;
}

/*
 * Softmax cross-entropy of row i of logits (N, K): loss_row[i] = lse - z[y];
 * dlogits row (when not NULL) = (softmax - onehot) / n. A label outside
 * [0, K) counts as class 0, as on the CPU.
 */
TFR_HD void ew_softmax_ce_row(size_t i, int n, int k, const float *logits, const int32_t *labels,
                              float *loss_row, float *dlogits)
{
    const float *z = logits + i * (size_t)k;
    float mx = z[0];
    for (int j = 1; j < k; j++)
        mx = z[j] > mx ? z[j] : mx;
    float s = 0;
    for (int j = 0; j < k; j++)
        s += expf(z[j] - mx);
    float lse = mx + logf(s);
    int y = labels[i] >= 0 && labels[i] < k ? labels[i] : 0;
    loss_row[i] = lse - z[y];
    if (dlogits)
        for (int j = 0; j < k; j++)
            dlogits[i * (size_t)k + (size_t)j] =
                (expf(z[j] - lse) - (j == y ? 1.0f : 0.0f)) / (float)n;
}

/* mean of the n row losses, summed in order (deterministic) */
TFR_HD void ew_mean(int n, const float *v, float *out)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    out[0] = s / (float)n;
}

#endif
