/*
 * nn/cuda/cudnn_ops.cu - every cuDNN call of the backend: convolutions
 * (forward, backward data, backward filter) and batch norm in training.
 *
 * This uses cuDNN's legacy convolution and batch-norm API (deprecated in
 * cuDNN 9 but present); the functions below are the whole surface, so a
 * move to the graph API replaces this file only.
 *
 * Tensors are NHWC, filters (K, R, S, C). Algorithms are chosen per
 * convolution shape and per direction, when that direction first runs
 * (a forward-only convolution never searches for its backward ones), with
 * the cudnnFind* calls (they run the candidates), taking the fastest row
 * whose workspace fits the limit (cuDNN's heuristic ranking, the _v7 calls,
 * when none does or for a second batch size of a shape), and cached with
 * the row's math type (conv_pick.h). In fp32 mode only FMA-math rows are
 * taken; in tf32 and bf16 mode tensor cores may be used.
 * In bf16 mode activations are bf16, convolutions accumulate in fp32 on a
 * bf16 copy of the fp32 filters (made once per change of the filter,
 * wcache.h) and their filter gradient is added to the fp32 gradient; a
 * direction cuDNN has no bf16 algorithm for runs in fp32 on converted
 * activations (said once); batch norm then runs on the project's own kernels
 * (tfr_cuda_bn_train_kernels), whose bodies the CPU tests check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/conv_pick.h"
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

static_assert((int)CUDNN_DEFAULT_MATH == TFR_CONV_MATH_DEFAULT &&
                  (int)CUDNN_TENSOR_OP_MATH == TFR_CONV_MATH_TENSOR_OP &&
                  (int)CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION == TFR_CONV_MATH_TENSOR_OP_CONVERSION &&
                  (int)CUDNN_FMA_MATH == TFR_CONV_MATH_FMA,
              "conv_pick.h's math types are cuDNN's");

/* the math type the descriptor has while cuDNN searches: FMA only in fp32
 * mode, tensor cores allowed otherwise (the rows then say which each uses) */
static cudnnMathType_t search_math(const tfr_backend *b)
{
    return b->math == TFR_MATH_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

/* the descriptors of cv, with bf16 activations and filters in bf16 mode
 * unless f32 (a direction that falls back to fp32) */
static tfr_status describe_conv(tfr_backend *b, const tfr_conv2d *cv, int f32, tfr_error *err)
{
    const cudnnDataType_t t = b->bf && !f32 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    CUDNN_TRY(cudnnSetTensor4dDescriptor(b->xd, CUDNN_TENSOR_NHWC, t, cv->n, cv->c, cv->h, cv->w));
    CUDNN_TRY(cudnnSetTensor4dDescriptor(b->yd, CUDNN_TENSOR_NHWC, t, cv->n, cv->k, cv->p, cv->q));
    CUDNN_TRY(cudnnSetFilter4dDescriptor(b->wd, t, CUDNN_TENSOR_NHWC, cv->k, cv->c, cv->r, cv->s));
    CUDNN_TRY(cudnnSetConvolution2dDescriptor(b->cd, cv->pad, cv->pad, cv->stride, cv->stride, 1,
                                              1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_TRY(cudnnSetConvolutionMathType(b->cd, search_math(b)));
    return TFR_OK;
}

/* the plan of this shape (created, with nothing chosen yet, on first use)
 * with the descriptors set for it */
static tfr_status plan_for(tfr_backend *b, const tfr_conv2d *cv, tfr_conv_plan **out,
                           tfr_error *err)
{
    int key[9] = {cv->n, cv->c, cv->h, cv->w, cv->k, cv->r, cv->s, cv->stride, cv->pad};
    *out = NULL;
    tfr_status st = describe_conv(b, cv, 0, err);
    if (st)
        return st;
    int other_n = 0;
    for (int i = 0; i < b->nplans; i++) {
        if (!memcmp(b->plans[i].key, key, sizeof key)) {
            *out = &b->plans[i];
            return TFR_OK;
        }
        other_n |= !memcmp(b->plans[i].key + 1, key + 1, sizeof key - sizeof key[0]);
    }
    if (b->nplans == b->cplans) {
        int cap = b->cplans ? 2 * b->cplans : 32;
        tfr_conv_plan *np = (tfr_conv_plan *)realloc(b->plans, (size_t)cap * sizeof *np);
        if (!np)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        b->plans = np;
        b->cplans = cap;
    }
    tfr_conv_plan *p = &b->plans[b->nplans++];
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof key);
    /* a second batch size of a shape (the last partial batch of an epoch or
     * an evaluation) takes cuDNN's ranking instead of another measurement */
    p->heuristic = other_n;
    *out = p;
    return TFR_OK;
}

#define ROWS 32 /* more than cuDNN 9's algorithms times math types for any direction */

template <typename Perf> static void to_rows(const Perf *pf, int n, tfr_conv_row *rows)
{
    for (int i = 0; i < n; i++)
        rows[i] = tfr_conv_row{(int)pf[i].algo, pf[i].status == CUDNN_STATUS_SUCCESS,
                               (int)pf[i].mathType, pf[i].determinism == CUDNN_DETERMINISTIC,
                               pf[i].memory};
}

/* cuDNN's rows for one direction, for the descriptors as they are set:
 * measured (measure) or ranked */
static cudnnStatus_t query(tfr_backend *b, int dir, int measure, tfr_conv_row *rows, int *got)
{
    cudnnStatus_t s;
    *got = 0;
    if (dir == TFR_CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t pf[ROWS];
        s = measure ? cudnnFindConvolutionForwardAlgorithm(b->dnn, b->xd, b->wd, b->cd, b->yd,
                                                           ROWS, got, pf)
                    : cudnnGetConvolutionForwardAlgorithm_v7(b->dnn, b->xd, b->wd, b->cd, b->yd,
                                                             ROWS, got, pf);
        to_rows(pf, s == CUDNN_STATUS_SUCCESS ? *got : 0, rows);
    } else if (dir == TFR_CONV_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t pf[ROWS];
        s = measure ? cudnnFindConvolutionBackwardDataAlgorithm(b->dnn, b->wd, b->yd, b->cd, b->xd,
                                                                ROWS, got, pf)
                    : cudnnGetConvolutionBackwardDataAlgorithm_v7(b->dnn, b->wd, b->yd, b->cd,
                                                                  b->xd, ROWS, got, pf);
        to_rows(pf, s == CUDNN_STATUS_SUCCESS ? *got : 0, rows);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t pf[ROWS];
        s = measure ? cudnnFindConvolutionBackwardFilterAlgorithm(b->dnn, b->xd, b->yd, b->cd,
                                                                  b->wd, ROWS, got, pf)
                    : cudnnGetConvolutionBackwardFilterAlgorithm_v7(b->dnn, b->xd, b->yd, b->cd,
                                                                    b->wd, ROWS, got, pf);
        to_rows(pf, s == CUDNN_STATUS_SUCCESS ? *got : 0, rows);
    }
    if (s != CUDNN_STATUS_SUCCESS)
        *got = 0;
    return s;
}

/* the workspace of (algo, the math type now on the descriptor) */
static cudnnStatus_t workspace(tfr_backend *b, int dir, int algo, size_t *bytes)
{
    if (dir == TFR_CONV_FWD)
        return cudnnGetConvolutionForwardWorkspaceSize(b->dnn, b->xd, b->wd, b->cd, b->yd,
                                                       (cudnnConvolutionFwdAlgo_t)algo, bytes);
    if (dir == TFR_CONV_DATA)
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            b->dnn, b->wd, b->yd, b->cd, b->xd, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(
        b->dnn, b->xd, b->yd, b->cd, b->wd, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
}

/* tfr_conv_choose's query: this direction's rows with the descriptors in
 * the mode's type or (f32) in fp32 */
struct query_ctx {
    tfr_backend       *b;
    const tfr_conv2d *cv;
    int                dir;
};

static int query_rows(void *ctx, int measure, int f32, tfr_conv_row *rows, int cap, int *got)
{
    query_ctx *q = (query_ctx *)ctx;
    tfr_error ignored;
    *got = 0;
    if (cap < ROWS || describe_conv(q->b, q->cv, f32, &ignored))
        return (int)CUDNN_STATUS_BAD_PARAM;
    return (int)query(q->b, q->dir, measure, rows, got);
}

/*
 * Chooses direction dir of plan p on its first use (conv_pick.h: measured
 * rows, else cuDNN's ranking, when nothing measured qualifies or the
 * search fails; in bf16 mode, fp32 rows when there is no bf16 one) and
 * leaves the descriptors in that direction's type with the chosen row's
 * math type. The choice is kept only once the workspace has grown to its
 * size, so a failed growth (out of memory) is tried again, never run short.
 */
static tfr_status use_dir(tfr_backend *b, const tfr_conv2d *cv, tfr_conv_plan *p, int dir,
                          tfr_error *err)
{
    static const char *const names[] = {"forward", "backward-data", "backward-filter"};
    tfr_conv_choice *c = &p->dir[dir];
    tfr_status st;
    if (c->chosen) {
        if (b->bf && (st = describe_conv(b, cv, c->f32, err)))
            return st;
        CUDNN_TRY(cudnnSetConvolutionMathType(b->cd, (cudnnMathType_t)c->math));
        return TFR_OK;
    }
    query_ctx q = {b, cv, dir};
    tfr_conv_pick_result r;
    if (tfr_conv_choose(query_rows, &q, p->heuristic, b->ws_limit, b->math == TFR_MATH_FP32,
                        b->bf, &r)) {
        char detail[128] = "";
        if (r.status)
            snprintf(detail, sizeof detail, " (%s)",
                     cudnnGetErrorString((cudnnStatus_t)r.status));
        return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,
                        "cuDNN has no %s algorithm for conv %dx%d/%d %d->%d on %dx%d, batch "
                        "%d, %s, within the %zu-byte workspace limit%s",
                        names[dir], cv->r, cv->s, cv->stride, cv->c, cv->k, cv->h, cv->w, cv->n,
                        b->bf ? "bf16 or fp32"
                              : b->math == TFR_MATH_FP32 ? "fp32 (FMA math)" : "tf32",
                        b->ws_limit, detail);
    }
    if ((st = describe_conv(b, cv, r.f32, err)))
        return st;
    CUDNN_TRY(cudnnSetConvolutionMathType(b->cd, (cudnnMathType_t)r.row.math));
    size_t ws = 0;
    CUDNN_TRY(workspace(b, dir, r.row.algo, &ws));
    if ((st = tfr_cuda_grow(b, &b->ws, &b->ws_size, ws, err)))
        return st;
    if (r.f32 && !b->said_f32) {
        tfr_log(TFR_LOG_WARN,
                "cuDNN has no bf16 %s algorithm for conv %dx%d/%d %d->%d on %dx%d: that "
                "direction runs in fp32 (activations converted around it); said once",
                names[dir], cv->r, cv->s, cv->stride, cv->c, cv->k, cv->h, cv->w);
        b->said_f32 = 1;
    }
    c->algo = r.row.algo;
    c->math = r.row.math;
    c->f32 = r.f32;
    c->ws = ws;
    c->chosen = 1;
    return TFR_OK;
}

/* element counts of cv's input and output */
static size_t in_count(const tfr_conv2d *cv) { return (size_t)cv->n * cv->c * cv->h * cv->w; }
static size_t out_count(const tfr_conv2d *cv) { return (size_t)cv->n * cv->k * cv->p * cv->q; }

/* bf16 mode, a direction in fp32: b->f32act as [input-sized | output-sized] floats */
static tfr_status f32_room(tfr_backend *b, const tfr_conv2d *cv, tfr_error *err)
{
    return tfr_cuda_grow(b, (void **)&b->f32act, &b->f32act_cap,
                         (in_count(cv) + out_count(cv)) * sizeof(float), err);
}

tfr_status tfr_cuda_conv_fwd(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             float *y, tfr_error *err)
{
    tfr_conv_plan *p;
    tfr_status st = plan_for(b, cv, &p, err);
    if (st || (st = use_dir(b, cv, p, TFR_CONV_FWD, err)))
        return st;
    const float one = 1.0f, zero = 0.0f;
    const tfr_conv_choice *c = &p->dir[TFR_CONV_FWD];
    if (b->bf && c->f32) {
        /* no bf16 algorithm: bf16 x -> fp32, the fp32 convolution, -> bf16 y */
        if ((st = f32_room(b, cv, err)))
            return st;
        float *xf = b->f32act, *yf = b->f32act + in_count(cv);
        if ((st = tfr_cuda_convert(b, in_count(cv), x, 1, xf, 0, err)))
            return st;
        CUDNN_TRY(cudnnConvolutionForward(b->dnn, &one, b->xd, xf, b->wd, w, b->cd,
                                          (cudnnConvolutionFwdAlgo_t)c->algo, b->ws, c->ws, &zero,
                                          b->yd, yf));
        return tfr_cuda_convert(b, out_count(cv), yf, 0, y, 1, err);
    }
    const void *wt = w;
    if (b->bf && (st = tfr_cuda_weights_bf16(b, w, (size_t)cv->k * cv->c * cv->r * cv->s, &wt,
                                             err)))
        return st;
    CUDNN_TRY(cudnnConvolutionForward(b->dnn, &one, b->xd, x, b->wd, wt, b->cd,
                                      (cudnnConvolutionFwdAlgo_t)c->algo, b->ws, c->ws, &zero,
                                      b->yd, y));
    return TFR_OK;
}

tfr_status tfr_cuda_conv_bwd(tfr_backend *b, const tfr_conv2d *cv, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, tfr_error *err)
{
    tfr_conv_plan *p;
    tfr_status st = plan_for(b, cv, &p, err);
    if (st || (st = use_dir(b, cv, p, TFR_CONV_FILTER, err)))
        return st;
    const float one = 1.0f, zero = 0.0f; /* beta 1: both gradients accumulate */
    const size_t nw = (size_t)cv->k * cv->c * cv->r * cv->s;
    const tfr_conv_choice *cf = &p->dir[TFR_CONV_FILTER];
    float *dyf = NULL; /* bf16 mode: dy in fp32, once a fallback converted it */
    if (b->bf && cf->f32) {
        /* no bf16 algorithm: x and dy in fp32, the fp32 filter gradient added
         * to dw directly */
        if ((st = f32_room(b, cv, err)))
            return st;
        float *xf = b->f32act;
        dyf = b->f32act + in_count(cv);
        if ((st = tfr_cuda_convert(b, in_count(cv), x, 1, xf, 0, err)) ||
            (st = tfr_cuda_convert(b, out_count(cv), dy, 1, dyf, 0, err)))
            return st;
        CUDNN_TRY(cudnnConvolutionBackwardFilter(b->dnn, &one, b->xd, xf, b->yd, dyf, b->cd,
                                                 (cudnnConvolutionBwdFilterAlgo_t)cf->algo, b->ws,
                                                 cf->ws, &one, b->wd, dw));
    } else if (b->bf) {
        /* the filter gradient in bf16 (the filter's type), added to the fp32 one */
        if ((st = tfr_cuda_grow(b, &b->dwbf, &b->dwbf_cap, nw * sizeof(uint16_t), err)))
            return st;
        CUDNN_TRY(cudnnConvolutionBackwardFilter(b->dnn, &one, b->xd, x, b->yd, dy, b->cd,
                                                 (cudnnConvolutionBwdFilterAlgo_t)cf->algo, b->ws,
                                                 cf->ws, &zero, b->wd, b->dwbf));
        if ((st = tfr_cuda_add_bf16(b, nw, b->dwbf, dw, err)))
            return st;
    } else {
        CUDNN_TRY(cudnnConvolutionBackwardFilter(b->dnn, &one, b->xd, x, b->yd, dy, b->cd,
                                                 (cudnnConvolutionBwdFilterAlgo_t)cf->algo, b->ws,
                                                 cf->ws, &one, b->wd, dw));
    }
    /* the input's gradient only where it is wanted (not for the first conv):
     * its algorithm is chosen then, never for a forward-only convolution */
    if (!dx)
        return TFR_OK;
    if ((st = use_dir(b, cv, p, TFR_CONV_DATA, err)))
        return st;
    const tfr_conv_choice *cd = &p->dir[TFR_CONV_DATA];
    if (b->bf && cd->f32) {
        /* no bf16 algorithm: dx (bf16) += the fp32 input gradient, through
         * an fp32 copy of dx in the input-sized half */
        if ((st = f32_room(b, cv, err)))
            return st;
        float *dxf = b->f32act;
        if (!dyf) {
            dyf = b->f32act + in_count(cv);
            if ((st = tfr_cuda_convert(b, out_count(cv), dy, 1, dyf, 0, err)))
                return st;
        }
        if ((st = tfr_cuda_convert(b, in_count(cv), dx, 1, dxf, 0, err)))
            return st;
        CUDNN_TRY(cudnnConvolutionBackwardData(b->dnn, &one, b->wd, w, b->yd, dyf, b->cd,
                                               (cudnnConvolutionBwdDataAlgo_t)cd->algo, b->ws,
                                               cd->ws, &one, b->xd, dxf));
        return tfr_cuda_convert(b, in_count(cv), dxf, 0, dx, 1, err);
    }
    const void *wt = w;
    if (b->bf && (st = tfr_cuda_weights_bf16(b, w, nw, &wt, err)))
        return st;
    CUDNN_TRY(cudnnConvolutionBackwardData(b->dnn, &one, b->wd, wt, b->yd, dy, b->cd,
                                           (cudnnConvolutionBwdDataAlgo_t)cd->algo, b->ws, cd->ws,
                                           &one, b->xd, dx));
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
