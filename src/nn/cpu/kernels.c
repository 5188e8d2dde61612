/*
 * nn/cpu/kernels.c - the CPU reference kernels: convolution as im2col +
 * single-threaded BLAS sgemm calls on column blocks spread over OpenMP
 * threads (one thread pool only: BLAS threads spinning beside OpenMP
 * threads made 16 cores slower than 2), batch norm with double
 * accumulators, one channel per OpenMP iteration.
 *
 * Every result is independent of the thread count: output columns are
 * computed whole by one call, and the weight gradient is summed over a
 * fixed number of column chunks in a fixed order.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

void tfr_conv2d_setup(tfr_conv2d *cv, int n, int c, int h, int w, int k, int r, int s,
                      int stride, int pad)
{
    cv->n = n; cv->c = c; cv->h = h; cv->w = w;
    cv->k = k; cv->r = r; cv->s = s;
    cv->stride = stride; cv->pad = pad;
    cv->p = (h + 2 * pad - r) / stride + 1;
    cv->q = (w + 2 * pad - s) / stride + 1;
}

/* col: (C*R*S, N*P*Q) */
static void im2col(const tfr_conv2d *cv, const float *x, float *col)
{
    const int P = cv->p, Q = cv->q, PQ = P * Q, N = cv->n;
    const size_t ld = (size_t)N * PQ;
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < cv->c; c++)
        for (int n = 0; n < N; n++) {
            const float *xc = x + ((size_t)n * cv->c + c) * cv->h * cv->w;
            for (int r = 0; r < cv->r; r++)
                for (int s = 0; s < cv->s; s++) {
                    float *dst = col + ((size_t)(c * cv->r + r) * cv->s + s) * ld + (size_t)n * PQ;
                    for (int p = 0; p < P; p++) {
                        int y = p * cv->stride - cv->pad + r;
                        float *d = dst + (size_t)p * Q;
                        if (y < 0 || y >= cv->h) {
                            memset(d, 0, sizeof(float) * (size_t)Q);
                            continue;
                        }
                        const float *row = xc + (size_t)y * cv->w;
                        for (int q = 0; q < Q; q++) {
                            int xx = q * cv->stride - cv->pad + s;
                            d[q] = (xx >= 0 && xx < cv->w) ? row[xx] : 0.0f;
                        }
                    }
                }
        }
}

/* dx += col2im(dcol); one image per iteration, so no two threads touch one dx */
static void col2im_add(const tfr_conv2d *cv, const float *col, float *dx)
{
    const int P = cv->p, Q = cv->q, PQ = P * Q, N = cv->n;
    const size_t ld = (size_t)N * PQ;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < cv->c; c++) {
            float *xc = dx + ((size_t)n * cv->c + c) * cv->h * cv->w;
            for (int r = 0; r < cv->r; r++)
                for (int s = 0; s < cv->s; s++) {
                    const float *src = col + ((size_t)(c * cv->r + r) * cv->s + s) * ld + (size_t)n * PQ;
                    for (int p = 0; p < P; p++) {
                        int y = p * cv->stride - cv->pad + r;
                        if (y < 0 || y >= cv->h)
                            continue;
                        float *row = xc + (size_t)y * cv->w;
                        const float *sp = src + (size_t)p * Q;
                        for (int q = 0; q < Q; q++) {
                            int xx = q * cv->stride - cv->pad + s;
                            if (xx >= 0 && xx < cv->w)
                                row[xx] += sp[q];
                        }
                    }
                }
        }
}

/* (K, N*PQ) <-> (N, K, PQ) */
static void kn_to_nk(const tfr_conv2d *cv, const float *src, float *dst)
{
    const size_t PQ = (size_t)cv->p * cv->q, ld = (size_t)cv->n * PQ;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < cv->n; n++)
        for (int k = 0; k < cv->k; k++)
            memcpy(dst + ((size_t)n * cv->k + k) * PQ, src + (size_t)k * ld + (size_t)n * PQ,
                   PQ * sizeof(float));
}

static void nk_to_kn(const tfr_conv2d *cv, const float *src, float *dst)
{
    const size_t PQ = (size_t)cv->p * cv->q, ld = (size_t)cv->n * PQ;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < cv->n; n++)
        for (int k = 0; k < cv->k; k++)
            memcpy(dst + (size_t)k * ld + (size_t)n * PQ, src + ((size_t)n * cv->k + k) * PQ,
                   PQ * sizeof(float));
}

#define COL_BLOCK 512  /* columns per sgemm call */
#define DW_CHUNKS 16   /* fixed split of the weight-gradient sum */

/* C(M, N) = A(M, K) * B(K, N) [+ C], N split into column blocks */
static void gemm_cols(int transA, int M, int N, int K, const float *A, int lda, const float *B,
                      float *C, float beta)
{
    int nb = (N + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nb; b++) {
        int j0 = b * COL_BLOCK, nj = N - j0 < COL_BLOCK ? N - j0 : COL_BLOCK;
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, CblasNoTrans, M, nj, K,
                    1.0f, A, lda, B + j0, N, beta, C + j0, N);
    }
}

/* dW(M, K) += dY(M, N) * col(K, N)^T, summed over DW_CHUNKS column chunks in order */
static void gemm_dw(int M, int N, int K, const float *dy, const float *col, float *dw,
                    float *part)
{
    int chunk = (N + DW_CHUNKS - 1) / DW_CHUNKS;
    size_t mk = (size_t)M * K;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < DW_CHUNKS; c++) {
        int j0 = c * chunk, nj = N - j0 < chunk ? N - j0 : chunk;
        float *p = part + (size_t)c * mk;
        if (nj <= 0) {
            memset(p, 0, mk * sizeof(float));
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, nj, 1.0f, dy + j0, N,
                    col + j0, N, 0.0f, p, K);
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < mk; i++) {
        float s = 0;
        for (int c = 0; c < DW_CHUNKS; c++)
            s += part[(size_t)c * mk + i];
        dw[i] += s;
    }
}

size_t tfr_conv2d_dw_scratch(const tfr_conv2d *cv)
{
    return (size_t)DW_CHUNKS * cv->k * cv->c * cv->r * cv->s;
}

void conv2d_fwd_cpu(const tfr_conv2d *cv, const float *x, const float *w, float *y, float *col,
                    float *tmp)
{
    const int CRS = cv->c * cv->r * cv->s, NPQ = cv->n * cv->p * cv->q;
    im2col(cv, x, col);
    /* tmp(K, NPQ) = W(K, CRS) * col(CRS, NPQ) */
    gemm_cols(0, cv->k, NPQ, CRS, w, CRS, col, tmp, 0.0f);
    kn_to_nk(cv, tmp, y);
}

void conv2d_bwd_cpu(const tfr_conv2d *cv, const float *x, const float *w, const float *dy,
                    float *dx, float *dw, float *col, float *tmp, float *dw_part)
{
    const int CRS = cv->c * cv->r * cv->s, NPQ = cv->n * cv->p * cv->q;
    nk_to_kn(cv, dy, tmp);            /* dY as (K, NPQ) */
    im2col(cv, x, col);
    gemm_dw(cv->k, NPQ, CRS, tmp, col, dw, dw_part);
    if (!dx)
        return;
    /* dcol(CRS, NPQ) = W^T(CRS, K) * dY(K, NPQ) */
    gemm_cols(1, CRS, NPQ, cv->k, w, CRS, tmp, col, 0.0f);
    col2im_add(cv, col, dx);
}

/* batch norm forward, and with relu set the ReLU of its output in the same pass */
static void bn_fwd(int n, int c, int hw, const float *x, const float *gamma, const float *beta,
                   float *y, float *mean, float *invstd, float *run_mean, float *run_var,
                   int train, float momentum, float eps, int relu)
{
    const double m = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float mu, is;
        double s = 0, sq = 0;
        if (train) {
            for (int i = 0; i < n; i++) {
                const float *p = x + ((size_t)i * c + ch) * hw;
                for (int j = 0; j < hw; j++) {
                    s += p[j];
                    sq += (double)p[j] * p[j];
                }
            }
        }
        bn_channel_stats(ch, train, s, sq, m, momentum, eps, mean, invstd, run_mean, run_var, &mu,
                         &is);
        float g = gamma[ch] * is, b = beta[ch] - mu * g;
        for (int i = 0; i < n; i++) {
            const float *p = x + ((size_t)i * c + ch) * hw;
            float *o = y + ((size_t)i * c + ch) * hw;
            if (relu) {
                for (int j = 0; j < hw; j++) {
                    float v = p[j] * g + b;
                    o[j] = v > 0 ? v : 0; /* as relu_fwd_cpu */
                }
            } else {
                for (int j = 0; j < hw; j++)
                    o[j] = p[j] * g + b;
            }
        }
    }
}

void batchnorm_fwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                       const float *beta, float *y, float *mean, float *invstd,
                       float *run_mean, float *run_var, int train, float momentum, float eps)
{
    bn_fwd(n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var, train, momentum, eps, 0);
}

void batchnorm_relu_fwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                            const float *beta, float *y, float *mean, float *invstd,
                            float *run_mean, float *run_var, int train, float momentum, float eps)
{
    bn_fwd(n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var, train, momentum, eps, 1);
}

/*
 * Batch norm backward for one channel. The gradient reaching the BN output
 * is taken BN_SPAN elements at a time into g[] by FILL (the plain one copies
 * dy; the fused one is dy through the ReLU of output y), then both passes
 * read g[]. So the ReLU's select runs as a vector blend, not as a branch
 * per element: written inside the passes, with the addition of 0 that
 * matches relu_bwd_cpu's zeroed buffer, it kept them scalar.
 */
#define BN_SPAN 256
#define BN_FILL_PLAIN(g, at, len)                                                       \
    for (int t = 0; t < (len); t++)                                                     \
        (g)[t] = dy[(at) + (size_t)t]
#define BN_FILL_RELU(g, at, len)                                                        \
    do {                                                                                \
        for (int t = 0; t < (len); t++)                                                 \
            (g)[t] = relu_pass(y[(at) + (size_t)t], dy[(at) + (size_t)t]);              \
        for (int t = 0; t < (len); t++)                                                 \
            (g)[t] = 0.0f + (g)[t]; /* as relu_bwd_cpu into a zeroed buffer */          \
    } while (0)
#define BN_BWD_CHANNEL(FILL)                                                            \
    do {                                                                                \
        double sdy = 0, sdyx = 0;                                                       \
        const float mu = mean[ch], is = invstd[ch];                                     \
        float g[BN_SPAN];                                                               \
        for (int i = 0; i < n; i++) {                                                   \
            const size_t row = ((size_t)i * c + ch) * hw;                               \
            for (int j0 = 0; j0 < hw; j0 += BN_SPAN) {                                  \
                const int len = hw - j0 < BN_SPAN ? hw - j0 : BN_SPAN;                  \
                const float *p = x + row + j0;                                          \
                FILL(g, row + (size_t)j0, len);                                         \
                for (int j = 0; j < len; j++) {                                         \
                    sdy += g[j];                                                        \
                    sdyx += (double)g[j] * (p[j] - mu) * is;                            \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        dgamma[ch] += (float)sdyx;                                                      \
        dbeta[ch] += (float)sdy;                                                        \
        const float k = gamma[ch] * is;                                                 \
        const float a = (float)(sdy / m), b = (float)(sdyx / m);                        \
        for (int i = 0; i < n; i++) {                                                   \
            const size_t row = ((size_t)i * c + ch) * hw;                               \
            for (int j0 = 0; j0 < hw; j0 += BN_SPAN) {                                  \
                const int len = hw - j0 < BN_SPAN ? hw - j0 : BN_SPAN;                  \
                const float *p = x + row + j0;                                          \
                float *o = dx + row + j0;                                               \
                FILL(g, row + (size_t)j0, len);                                         \
                for (int j = 0; j < len; j++)                                           \
                    o[j] += k * (g[j] - a - (p[j] - mu) * is * b);                      \
            }                                                                           \
        }                                                                               \
    } while (0)

void batchnorm_bwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                       const float *mean, const float *invstd, const float *dy, float *dx,
                       float *dgamma, float *dbeta)
{
    const double m = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++)
        BN_BWD_CHANNEL(BN_FILL_PLAIN);
}

void batchnorm_relu_bwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                            const float *mean, const float *invstd, const float *y,
                            const float *dy, float *dx, float *dgamma, float *dbeta)
{
    const double m = (double)n * hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++)
        BN_BWD_CHANNEL(BN_FILL_RELU);
}

void relu_fwd_cpu(size_t n, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

void relu_bwd_cpu(size_t n, const float *y, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        dx[i] += relu_pass(y[i], dy[i]);
}

void maxpool2_fwd_cpu(int n, int c, int h, int w, const float *x, float *y, int32_t *idx)
{
    int P = h / 2, Q = w / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *xp = x + ((size_t)i * c + ch) * h * w;
            float *yp = y + ((size_t)i * c + ch) * P * Q;
            int32_t *ip = idx + ((size_t)i * c + ch) * P * Q;
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    int best = (2 * p) * w + 2 * q;
                    for (int dy2 = 0; dy2 < 2; dy2++)
                        for (int dx2 = 0; dx2 < 2; dx2++) {
                            int j = (2 * p + dy2) * w + 2 * q + dx2;
                            if (xp[j] > xp[best])
                                best = j;
                        }
                    yp[p * Q + q] = xp[best];
                    ip[p * Q + q] = best;
                }
        }
}

void maxpool2_bwd_cpu(int n, int c, int h, int w, const int32_t *idx, const float *dy, float *dx)
{
    int PQ = (h / 2) * (w / 2);
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            float *xp = dx + ((size_t)i * c + ch) * h * w;
            const float *d = dy + ((size_t)i * c + ch) * PQ;
            const int32_t *ip = idx + ((size_t)i * c + ch) * PQ;
            for (int j = 0; j < PQ; j++)
                xp[ip[j]] += d[j];
        }
}

void add_fwd_cpu(size_t n, const float *a, const float *b, float *y)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void gap_fwd_cpu(int n, int c, int hw, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n * c; i++) {
        double s = 0;
        for (int j = 0; j < hw; j++)
            s += x[(size_t)i * hw + j];
        y[i] = (float)(s / hw);
    }
}

void gap_bwd_cpu(int n, int c, int hw, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n * c; i++) {
        float g = dy[i] / (float)hw;
        for (int j = 0; j < hw; j++)
            dx[(size_t)i * hw + j] += g;
    }
}

void dense_fwd_cpu(int n, int c, int k, const float *x, const float *w, const float *b, float *y)
{
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * k, b, sizeof(float) * (size_t)k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, c, 1.0f, x, c, w, c, 1.0f, y, k);
}

void dense_bwd_cpu(int n, int c, int k, const float *x, const float *w, const float *dy,
                   float *dx, float *dw, float *db)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, c, n, 1.0f, dy, k, x, c, 1.0f, dw, c);
    for (int j = 0; j < k; j++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += dy[(size_t)i * k + j];
        db[j] += (float)s;
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, c, k, 1.0f, dy, k, w, c, 1.0f,
                    dx, c);
}

float softmax_ce_cpu(int n, int k, const float *logits, const int32_t *labels, float smooth,
                     float *dlogits)
{
    const double on = 1.0 - smooth, off = (double)smooth / k;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float mx = z[0];
        for (int j = 1; j < k; j++)
            mx = z[j] > mx ? z[j] : mx;
        double s = 0;
        for (int j = 0; j < k; j++)
            s += exp((double)z[j] - mx);
        double lse = mx + log(s);
        int y = labels[i];
        if (y < 0 || y >= k) {
            /* never remapped: the loss is NaN, no gradient (tfr_model checks labels first) */
            loss = NAN;
            if (dlogits)
                memset(dlogits + (size_t)i * k, 0, (size_t)k * sizeof *dlogits);
            continue;
        }
        if (smooth == 0) {
            loss += lse - z[y];
        } else { /* -sum_j target_j log p_j */
            double zs = 0;
            for (int j = 0; j < k; j++)
                zs += z[j];
            loss += lse - on * z[y] - off * zs;
        }
        if (dlogits)
            for (int j = 0; j < k; j++)
                dlogits[(size_t)i * k + j] =
                    (float)((exp((double)z[j] - lse) - (j == y ? on + off : off)) / n);
    }
    return (float)(loss / n);
}
