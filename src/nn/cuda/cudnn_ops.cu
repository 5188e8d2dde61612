/*
 * nn/cuda/cudnn_ops.cu - every cuDNN call of the backend: convolutions
 * (forward, backward data, backward filter) and batch norm in training.
 *
 * This uses cuDNN's legacy convolution and batch-norm API (deprecated in
 * cuDNN 9 but present); the functions below are the whole surface, so a
 * move to the graph API replaces this file only.
 *
 * Tensors are NHWC, filters (K, R, S, C). Algorithms are chosen once per
 * convolution shape with the cudnnFind* calls (they run the candidates),
 * taking the fastest whose workspace fits the limit (cuDNN's heuristic
 * ranking, the _v7 calls, when none does), and cached. In fp32
 * mode convolutions use FMA math only; in tf32 mode tensor cores may be used.
 * In bf16 mode activations are bf16, convolutions accumulate in fp32 on a
 * bf16 copy of the fp32 filters and their filter gradient is added to the
 * fp32 gradient; batch norm then runs on the project's own kernels
 * (tfr_cuda_bn_train_kernels), whose bodies the CPU tests check.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/cuda_common.h"

tfr_status tfr_cuda_dnn_create(tfr_backend *b, tfr_error *err)
{
    CUDNN_TRY(cudnnCreate(&b->dnn));
    CUDNN_TRY(cudnnSetStream(b->dnn, b->compute));
    CUDNN_TRY(cudnnCreateTensorDescriptor(&b->xd));
    CUDNN_TRY(cudnnCreateTensorDescriptor(&b->yd));
    CUDNN_TRY(cudnnCreateTensorDescriptor(&b->bnd));
    CUDNN_TRY(cudnnCreateFilterDescriptor(&b->wd));
    CUDNN_TRY(cudnnCreateConvolutionDescriptor(&b->cd));
    return TFR_OK;
}

void tfr_cuda_dnn_destroy(tfr_backend *b)
{
    if (b->cd)
        cudnnDestroyConvolutionDescriptor(b->cd);
    if (b->wd)
        cudnnDestroyFilterDescriptor(b->wd);
    if (b->bnd)
        cudnnDestroyTensorDescriptor(b->bnd);
    if (b->yd)
        cudnnDestroyTensorDescriptor(b->yd);
    if (b->xd)
        cudnnDestroyTensorDescriptor(b->xd);
    if (b->dnn)
        cudnnDestroy(b->dnn);
    free(b->plans);
}

static tfr_status describe_conv(tfr_backend *b, const tfr_conv2d *cv, tfr_error *err)
{
    const cudnnDataType_t t = b->bf ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    CUDNN_TRY(cudnnSetTensor4dDescriptor(b->xd, CUDNN_TENSOR_NHWC, t, cv->n, cv->c, cv->h, cv->w));
    CUDNN_TRY(cudnnSetTensor4dDescriptor(b->yd, CUDNN_TENSOR_NHWC, t, cv->n, cv->k, cv->p, cv->q));
    CUDNN_TRY(cudnnSetFilter4dDescriptor(b->wd, t, CUDNN_TENSOR_NHWC, cv->k, cv->c, cv->r, cv->s));
    CUDNN_TRY(cudnnSetConvolution2dDescriptor(b->cd, cv->pad, cv->pad, cv->stride, cv->stride, 1,
                                              1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_TRY(cudnnSetConvolutionMathType(
        b->cd, b->math == TFR_MATH_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
    return TFR_OK;
}

/* index of the fastest usable result, -1 if none */
#define PICK(perf, count, limit, out)                                                       \
    do {                                                                                    \
        (out) = -1;                                                                         \
        for (int i_ = 0; i_ < (count); i_++)                                                \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= (limit)) { \
                (out) = i_;                                                                 \
                break;                                                                      \
            }                                                                               \
    } while (0)

static tfr_status plan_for(tfr_backend *b, const tfr_conv2d *cv, tfr_conv_plan **out,
                           tfr_error *err)
{
    int key[9] = {cv->n, cv->c, cv->h, cv->w, cv->k, cv->r, cv->s, cv->stride, cv->pad};
    for (int i = 0; i < b->nplans; i++)
        if (!memcmp(b->plans[i].key, key, sizeof key)) {
            *out = &b->plans[i];
            return describe_conv(b, cv, err);
        }
    tfr_status st = describe_conv(b, cv, err);
    if (st)
        return st;
    tfr_conv_plan p;
    memcpy(p.key, key, sizeof key);
    const int N = 16;
    int got = 0, pick = -1;
    /* measured (cudnnFind*); cuDNN's heuristic ranking (_v7) when nothing
     * measured fits or the search itself fails */
#define CHOOSE(what, perf_t, find, heuristic, algo_out, mem_out)                                \
    do {                                                                                        \
        perf_t pf[N];                                                                           \
        got = 0;                                                                                \
        if (find == CUDNN_STATUS_SUCCESS)                                                       \
            PICK(pf, got, b->ws_limit, pick);                                                   \
        if (pick < 0) {                                                                         \
            got = 0;                                                                            \
            CUDNN_TRY(heuristic);                                                               \
            PICK(pf, got, b->ws_limit, pick);                                                   \
        }                                                                                       \
        if (pick < 0)                                                                           \
            return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,                                     \
                            "cuDNN has no " what " algorithm for conv %dx%d/%d %d->%d on "      \
                            "%dx%d within the %zu-byte workspace limit",                        \
                            cv->r, cv->s, cv->stride, cv->c, cv->k, cv->h, cv->w, b->ws_limit); \
        algo_out = pf[pick].algo;                                                               \
        mem_out = pf[pick].memory;                                                              \
        pick = -1;                                                                              \
    } while (0)
    CHOOSE("forward", cudnnConvolutionFwdAlgoPerf_t,
           cudnnFindConvolutionForwardAlgorithm(b->dnn, b->xd, b->wd, b->cd, b->yd, N, &got, pf),
           cudnnGetConvolutionForwardAlgorithm_v7(b->dnn, b->xd, b->wd, b->cd, b->yd, N, &got, pf),
           p.fwd, p.ws_fwd);
    CHOOSE("backward-data", cudnnConvolutionBwdDataAlgoPerf_t,
           cudnnFindConvolutionBackwardDataAlgorithm(b->dnn, b->wd, b->yd, b->cd, b->xd, N, &got,
                                                     pf),
           cudnnGetConvolutionBackwardDataAlgorithm_v7(b->dnn, b->wd, b->yd, b->cd, b->xd, N, &got,
                                                       pf),
           p.bwd_data, p.ws_data);
    CHOOSE("backward-filter", cudnnConvolutionBwdFilterAlgoPerf_t,
           cudnnFindConvolutionBackwardFilterAlgorithm(b->dnn, b->xd, b->yd, b->cd, b->wd, N, &got,
                                                       pf),
           cudnnGetConvolutionBackwardFilterAlgorithm_v7(b->dnn, b->xd, b->yd, b->cd, b->wd, N,
                                                         &got, pf),
           p.bwd_filter, p.ws_filter);
#undef CHOOSE
    if (b->nplans == b->cplans) {
        int cap = b->cplans ? 2 * b->cplans : 32;
        tfr_conv_plan *np = (tfr_conv_plan *)realloc(b->plans, (size_t)cap * sizeof *np);
        if (!np)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        b->plans = np;
        b->cplans = cap;
    }
    b->plans[b->nplans] = p;
    *out = &b->plans[b->nplans++];
    size_t ws = p.ws_fwd > p.ws_data ? p.ws_fwd : p.ws_data;
    ws = ws > p.ws_filter ? ws : p.ws_filter;
    return tfr_cuda_grow(b, &b->ws, &b->ws_size, ws, err);
}

tfr_status tfr_cuda_conv_fwd(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             float *y, tfr_error *err)
{
    tfr_conv_plan *p;
    tfr_status st = plan_for(b, cv, &p, err);
    if (st)
        return st;
    const void *wt = w;
    if (b->bf) {
        if ((st = tfr_cuda_weights_bf16(b, w, (size_t)cv->k * cv->c * cv->r * cv->s, err)))
            return st;
        wt = b->wbf;
    }
    const float one = 1.0f, zero = 0.0f;
    CUDNN_TRY(cudnnConvolutionForward(b->dnn, &one, b->xd, x, b->wd, wt, b->cd, p->fwd, b->ws,
                                      p->ws_fwd, &zero, b->yd, y));
    return TFR_OK;
}

tfr_status tfr_cuda_conv_bwd(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, tfr_error *err)
{
    tfr_conv_plan *p;
    tfr_status st = plan_for(b, cv, &p, err);
    if (st)
        return st;
    const float one = 1.0f, zero = 0.0f; /* beta 1: both gradients accumulate */
    if (b->bf) {
        /* the filter gradient in bf16 (the filter's type), added to the fp32 one */
        size_t nw = (size_t)cv->k * cv->c * cv->r * cv->s;
        if ((st = tfr_cuda_weights_bf16(b, w, nw, err)) ||
            (st = tfr_cuda_grow(b, &b->dwbf, &b->dwbf_cap, nw * sizeof(uint16_t), err)))
            return st;
        CUDNN_TRY(cudnnConvolutionBackwardFilter(b->dnn, &one, b->xd, x, b->yd, dy, b->cd,
                                                 p->bwd_filter, b->ws, p->ws_filter, &zero, b->wd,
                                                 b->dwbf));
        if ((st = tfr_cuda_add_bf16(b, nw, b->dwbf, dw, err)))
            return st;
        w = (const float *)b->wbf;
    } else {
        CUDNN_TRY(cudnnConvolutionBackwardFilter(b->dnn, &one, b->xd, x, b->yd, dy, b->cd,
                                                 p->bwd_filter, b->ws, p->ws_filter, &one, b->wd,
                                                 dw));
    }
    if (dx)
        CUDNN_TRY(cudnnConvolutionBackwardData(b->dnn, &one, b->wd, w, b->yd, dy, b->cd,
                                               p->bwd_data, b->ws, p->ws_data, &one, b->xd, dx));
    return TFR_OK;
}

/* (N, HW, C) as an NHWC tensor with W = 1, and its per-channel descriptor */
static tfr_status describe_bn(tfr_backend *b, int n, int c, int hw, tfr_error *err)
{
    CUDNN_TRY(cudnnSetTensor4dDescriptor(b->xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, n, c, hw, 1));
    CUDNN_TRY(cudnnDeriveBNTensorDescriptor(b->bnd, b->xd, CUDNN_BATCHNORM_SPATIAL));
    return TFR_OK;
}

tfr_status tfr_cuda_bn_fwd(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                           const float *beta, float *y, float *mean, float *invstd, float *run_mean,
                           float *run_var, int train, float momentum, float eps, tfr_error *err)
{
    if (!train)
        return tfr_cuda_bn_infer(b, n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var,
                                 eps, err);
    if (b->bf)
        return tfr_cuda_bn_train_kernels(b, n, c, hw, x, gamma, beta, y, mean, invstd, run_mean,
                                         run_var, momentum, eps, err);
    tfr_status st = describe_bn(b, n, c, hw, err);
    if (st)
        return st;
    const float one = 1.0f, zero = 0.0f;
    /* running = (1 - momentum) running + momentum batch, with the unbiased
     * batch variance, as the CPU kernel */
    CUDNN_TRY(cudnnBatchNormalizationForwardTraining(
        b->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, b->xd, x, b->xd, y, b->bnd, gamma, beta,
        (double)momentum, run_mean, run_var, (double)eps, mean, invstd));
    return TFR_OK;
}

tfr_status tfr_cuda_bn_bwd(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                           const float *mean, const float *invstd, const float *dy, float *dx,
                           float *dgamma, float *dbeta, float eps, tfr_error *err)
{
    if (b->bf)
        return tfr_cuda_bn_bwd_kernels(b, n, c, hw, x, gamma, mean, invstd, dy, dx, dgamma, dbeta,
                                       err);
    tfr_status st = describe_bn(b, n, c, hw, err);
    if (st)
        return st;
    const float one = 1.0f; /* beta 1: dx, dgamma and dbeta accumulate */
    CUDNN_TRY(cudnnBatchNormalizationBackward(b->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &one, &one,
                                              &one, b->xd, x, b->xd, dy, b->xd, dx, b->bnd, gamma,
                                              dgamma, dbeta, (double)eps, mean, invstd));
    return TFR_OK;
}
