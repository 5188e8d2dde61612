/*
 * nn/nn_impl.h - CPU kernels (the reference twins for a GPU backend).
 * All tensors float32 NCHW; backward kernels ACCUMULATE into dx/dw.
 */
#ifndef TFR_NN_IMPL_H
#define TFR_NN_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

typedef struct tfr_conv2d {
    int n, c, h, w;     /* input */
    int k, r, s;        /* filters */
    int stride, pad;
    int p, q;           /* output size */
} tfr_conv2d;

void tfr_conv2d_setup(tfr_conv2d *cv, int n, int c, int h, int w, int k, int r, int s,
                      int stride, int pad);
/* col: scratch of c*r*s*n*p*q floats; tmp: n*k*p*q floats */
/* x: (N, C, H, W); w: (K, C, R, S); y: (N, K, P, Q) */
void conv2d_fwd_cpu(const tfr_conv2d *cv, const float *x, const float *w, float *y, float *col,
                    float *tmp);
/* dw_part: tfr_conv2d_dw_scratch(cv) floats */
void conv2d_bwd_cpu(const tfr_conv2d *cv, const float *x, const float *w, const float *dy,
                    float *dx, float *dw, float *col, float *tmp, float *dw_part);
size_t tfr_conv2d_dw_scratch(const tfr_conv2d *cv);

/* BN over (N, H, W) per channel. Training: saves mean/invstd, updates running. */
void batchnorm_fwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                       const float *beta, float *y, float *mean, float *invstd,
                       float *run_mean, float *run_var, int train, float momentum, float eps);
void batchnorm_bwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                       const float *mean, const float *invstd, const float *dy, float *dx,
                       float *dgamma, float *dbeta);

/* batch norm then ReLU in the same passes: y is the ReLU's output, the
 * backward takes it and the gradient at it (the BN output is never stored);
 * bit for bit the unfused pair */
void batchnorm_relu_fwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                            const float *beta, float *y, float *mean, float *invstd,
                            float *run_mean, float *run_var, int train, float momentum, float eps);
void batchnorm_relu_bwd_cpu(int n, int c, int hw, const float *x, const float *gamma,
                            const float *mean, const float *invstd, const float *y,
                            const float *dy, float *dx, float *dgamma, float *dbeta);
/*
 * One channel's batch-norm statistics: in training from the sum s and the
 * sum of squares sq of its m values (biased variance; the running averages
 * take the unbiased one), else the running ones. Written to mean/invstd
 * when mean is not NULL (always in training), and to *mu, *is.
 */
static inline void bn_channel_stats(int ch, int train, double s, double sq, double m,
                                    float momentum, float eps, float *mean, float *invstd,
                                    float *run_mean, float *run_var, float *mu, float *is)
{
    if (train) {
        double mean_d = s / m, var = sq / m - mean_d * mean_d;
        if (var < 0)
            var = 0;
        *mu = (float)mean_d;
        *is = (float)(1.0 / sqrt(var + eps));
        double unbiased = m > 1 ? var * m / (m - 1) : var;
        run_mean[ch] = (1 - momentum) * run_mean[ch] + momentum * *mu;
        run_var[ch] = (float)((1 - momentum) * run_var[ch] + momentum * unbiased);
    } else {
        *mu = run_mean[ch];
        *is = (float)(1.0 / sqrt((double)run_var[ch] + eps));
    }
    if (mean) {
        mean[ch] = *mu;
        invstd[ch] = *is;
    }
}

/* the gradient dy through a ReLU whose output is y: both already loaded, so
 * loops over it become vector selects, not a branch per element */
static inline float relu_pass(float y, float dy) { return y > 0 ? dy : 0.0f; }
void relu_fwd_cpu(size_t n, const float *x, float *y);
void relu_bwd_cpu(size_t n, const float *y, const float *dy, float *dx);
/* 2x2 stride-2 max pool (floor); idx: argmax per output */
void maxpool2_fwd_cpu(int n, int c, int h, int w, const float *x, float *y, int32_t *idx);
void maxpool2_bwd_cpu(int n, int c, int h, int w, const int32_t *idx, const float *dy, float *dx);
void add_fwd_cpu(size_t n, const float *a, const float *b, float *y);
void gap_fwd_cpu(int n, int c, int hw, const float *x, float *y);
void gap_bwd_cpu(int n, int c, int hw, const float *dy, float *dx);
/* x: (N, C); w: (K, C); b: (K); y: (N, K) */
void dense_fwd_cpu(int n, int c, int k, const float *x, const float *w, const float *b, float *y);
void dense_bwd_cpu(int n, int c, int k, const float *x, const float *w, const float *dy,
                   float *dx, float *dw, float *db);
/* mean cross-entropy against (1 - smooth) onehot + smooth / k (smooth 0:
 * plain); dlogits = (softmax - that target) / n when not NULL */
float softmax_ce_cpu(int n, int k, const float *logits, const int32_t *labels, float smooth,
                     float *dlogits);

/* ---- model internals for checkpoint.c --------------------------------------- */

/* Parameters of the largest model tfr_model_new builds (1 GiB of floats per block). */
#define TFR_MODEL_MAX_PARAMS ((size_t)1 << 28)
/* tfr_model_new refusing, before it allocates, a config of more than
 * max_params parameters or statistics (a checkpoint passes what it holds). */
struct tfr_resnet_config;
struct tfr_model;
tfr_status tfr_model_new_bounded(const struct tfr_resnet_config *c, uint64_t seed,
                                 size_t max_params, struct tfr_model **out, tfr_error *err);
struct tfr_model;
/* the parameter-sized blocks a model keeps on the host and on its device */
enum { TFR_BLOCK_PARAMS, TFR_BLOCK_GRADS, TFR_BLOCK_MOM, TFR_BLOCK_STATS, TFR_BLOCKS };
/* Host copy of a block for writing: fetched from the device if it is newer
 * there, and marked to go back before the device uses it again. */
tfr_status tfr_model_block(struct tfr_model *m, int block, float **out, size_t *n,
                           tfr_error *err);
/* Host copy for reading, without marking the device copy stale; current
 * after tfr_model_to_host(). */
const float *tfr_model_block_view(const struct tfr_model *m, int block, size_t *n);

/* ---- the graph, for exporters (onnx.c) ---------------------------------------- */

/* batch-norm epsilon of every BN layer */
#define TFR_BN_EPS 1e-5f

enum {
    TFR_NODE_CONV, TFR_NODE_BN, TFR_NODE_RELU, TFR_NODE_POOL, /* 2x2 max, stride 2, floor */
    TFR_NODE_ADD, TFR_NODE_GAP, TFR_NODE_DENSE
};
/* One op of the tape, in execution order. Tensor 0 is the model's input;
 * every op writes a new tensor. */
typedef struct tfr_graph_node {
    int    kind;
    int    in, in2, out;         /* tensor ids; in2 only for ADD (else -1) */
    int    c, h, w;              /* the output tensor (C, H, W) */
    int    in_c;                 /* channels of `in` */
    int    k, r, stride, pad;    /* conv: K filters of R x R; dense: K outputs */
    size_t w_off, b_off;         /* parameter block: conv filters (K, C, R, R); BN gamma,
                                  * beta; dense kernel (K, C) and bias */
    size_t s_off;                /* BN: running mean, then variance, in the stats block */
    int    folds_into;           /* BN: the conv op tfr_model_fold_bn folds it into, else -1 */
} tfr_graph_node;
/* Fills out[0..max) and returns the number of ops. */
int tfr_model_graph(const struct tfr_model *m, tfr_graph_node *out, int max);

#endif
