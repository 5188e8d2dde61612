/*
 * retrain/head.c - the new last layer: logits = x W^T + b over the cached
 * bottleneck vectors, softmax cross-entropy (in double), plain SGD on the
 * mean over a batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrain/retrain_impl.h"
#include "util/alloc.h"

int tfr_head_alloc(tfr_head *h, int K, int C)
{
    memset(h, 0, sizeof *h);
    h->K = K;
    h->C = C;
    h->W = tfr_calloc((size_t)K * C, sizeof *h->W);
    h->b = tfr_calloc((size_t)K, sizeof *h->b);
    h->gW = tfr_calloc((size_t)K * C, sizeof *h->gW);
    h->gb = tfr_calloc((size_t)K, sizeof *h->gb);
    h->p = tfr_calloc((size_t)K, sizeof *h->p);
    return h->W && h->b && h->gW && h->gb && h->p ? 0 : -1;
}

void tfr_head_free(tfr_head *h)
{
    free(h->W);
    free(h->b);
    free(h->gW);
    free(h->gb);
    free(h->p);
    memset(h, 0, sizeof *h);
}

/* logits = x W^T + b for one vector; returns the CE for label y and fills p (softmax) */
static double head_forward(const float *W, const float *b, int K, int C, const float *x, int y,
                           double *p)
{
    double mx = -1e300;
    for (int k = 0; k < K; k++) {
        double z = b[k];
        const float *wk = W + (size_t)k * C;
        for (int j = 0; j < C; j++)
            z += (double)wk[j] * x[j];
        p[k] = z;
        mx = z > mx ? z : mx;
    }
    double s = 0;
    for (int k = 0; k < K; k++)
        s += (p[k] = exp(p[k] - mx));
    for (int k = 0; k < K; k++)
        p[k] /= s;
    return -log(p[y] > 1e-30 ? p[y] : 1e-30);
}

double tfr_head_accuracy(tfr_head *h, const tfr_retrain_image *im, size_t n, int split)
{
    const float *W = h->W, *b = h->b;
    const int K = h->K, C = h->C;
    double *p = h->p;
    size_t right = 0, tot = 0;
    for (size_t i = 0; i < n; i++) {
        if (im[i].split != split)
            continue;
        head_forward(W, b, K, C, im[i].vec, im[i].it->cls, p);
        int best = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best])
                best = k;
        right += best == im[i].it->cls;
        tot++;
    }
    return tot ? (double)right / tot : NAN;
}

int tfr_head_predict(tfr_head *h, const float *x)
{
    head_forward(h->W, h->b, h->K, h->C, x, 0, h->p);
    int best = 0;
    for (int k = 1; k < h->K; k++)
        if (h->p[k] > h->p[best])
            best = k;
    return best;
}

double tfr_head_step(tfr_head *h, const float *const *x, const int *y, int n, float lr,
                     int *right)
{
    const int K = h->K, dim = h->C;
    float *W = h->W, *bb = h->b, *gW = h->gW, *gb = h->gb;
    double *p = h->p;
    memset(gW, 0, (size_t)K * dim * sizeof *gW);
    memset(gb, 0, (size_t)K * sizeof *gb);
    double ce = 0;
    *right = 0;
    for (int k = 0; k < n; k++) {
        ce += head_forward(W, bb, K, dim, x[k], y[k], p);
        int best = 0;
        for (int j = 1; j < K; j++)
            if (p[j] > p[best])
                best = j;
        *right += best == y[k];
        for (int j = 0; j < K; j++) {
            float g = (float)((p[j] - (j == y[k])) / n);
            gb[j] += g;
            float *gw = gW + (size_t)j * dim;
            for (int q = 0; q < dim; q++)
                gw[q] += g * x[k][q];
        }
    }
    for (size_t i = 0; i < (size_t)K * dim; i++)
        W[i] -= lr * gW[i];
    for (int j = 0; j < K; j++)
        bb[j] -= lr * gb[j];
    return ce;
}
