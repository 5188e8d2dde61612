/*
 * nn/cpu/ops_cpu.c - the CPU backend: the reference kernels of nn_impl.h
 * behind the op table. Buffers are host memory, activations NCHW, filters
 * (K, C, R, S); the im2col and weight-gradient scratch lives here and grows
 * to the largest convolution seen.
 *
 * The "onednn" table (built with TFR_HAVE_DNNL) is this backend with NHWC
 * activations: convolutions run by oneDNN (conv_dnnl.c), batch norm, the
 * pools and the layout conversions by kernels_nhwc.c, and every op that
 * does not care about the layout (ReLU, add, dense, loss, SGD) shared.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#ifdef TFR_HAVE_DNNL
#include "nn/cpu/dnnl_impl.h"
#include "nn/cpu/nhwc_impl.h"
#endif
#include "nn/elementwise.h"
#include "tfrecord/util.h"
#include "util/alloc.h"

struct tfr_backend {
    float *col, *tmp, *dwp;
    size_t ncol, ntmp, ndwp;
    uint8_t *staged;           /* stage_u8: pixels, then one flip byte per image */
    size_t   staged_cap;
    int      staged_n, staged_flip;
    char   desc[128];
#ifdef TFR_HAVE_DNNL
    tfr_dnnl *dnnl; /* the onednn table's convolutions */
    int       bf16; /* its convolutions read bf16 (TFR_MATH_BF16) */
    double   *bn;   /* its batch-norm partial sums */
    size_t    nbn;
#endif
};

static tfr_status cpu_create(const tfr_backend_opts *o, tfr_backend **out, tfr_error *err)
{
    if (o && o->math == TFR_MATH_BF16)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "bf16 on the CPU needs the onednn backend (--device onednn)");
    tfr_backend *b = tfr_calloc(1, sizeof *b);
    if (!b)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    char wait[64];
    int nt = omp_get_max_threads();
    snprintf(b->desc, sizeof b->desc, "cpu (%d thread%s, OpenBLAS, %s)", nt, nt == 1 ? "" : "s",
             tfr_wait_policy(wait, sizeof wait));
    *out = b;
    return TFR_OK;
}

static void cpu_destroy(tfr_backend *b)
{
    if (!b)
        return;
#ifdef TFR_HAVE_DNNL
    tfr_dnnl_free(b->dnnl);
    free(b->bn);
#endif
    free(b->col);
    free(b->tmp);
    free(b->dwp);
    free(b->staged);
    free(b);
}

static const char *cpu_describe(const tfr_backend *b) { return b->desc; }
static size_t cpu_act_bytes(const tfr_backend *b) { return sizeof(float); }

static void *cpu_alloc(tfr_backend *b, size_t bytes, tfr_error *err)
{
    void *p = tfr_calloc(1, bytes ? bytes : 1);
    if (!p)
        tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory (%zu bytes)", bytes);
    return p;
}

static void cpu_release(tfr_backend *b, void *p) { free(p); }

static tfr_status cpu_copy(tfr_backend *b, void *dst, const void *src, size_t bytes,
                           tfr_error *err)
{
    if (bytes)
        memmove(dst, src, bytes);
    return TFR_OK;
}

static tfr_status cpu_zero(tfr_backend *b, void *p, size_t bytes, tfr_error *err)
{
    memset(p, 0, bytes);
    return TFR_OK;
}

static tfr_status cpu_sync(tfr_backend *b, tfr_error *err) { return TFR_OK; }

static tfr_status cpu_filter_layout(tfr_backend *b, const tfr_conv2d *cv, const float *src,
                                    float *dst, int to_backend, tfr_error *err)
{
    if (dst != src)
        memmove(dst, src, (size_t)cv->k * cv->c * cv->r * cv->s * sizeof(float));
    return TFR_OK;
}

static tfr_status cpu_input_f32(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                float *y, tfr_error *err)
{
    memcpy(y, x, (size_t)n * c * h * w * sizeof(float));
    return TFR_OK;
}

static tfr_status cpu_stage_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                               const uint8_t *flip, tfr_error *err)
{
    const size_t px = (size_t)n * c * h * w;
    if (px + (size_t)n > b->staged_cap) {
        uint8_t *p = tfr_realloc(b->staged, px + (size_t)n);
        if (!p)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        b->staged = p;
        b->staged_cap = px + (size_t)n;
    }
    memcpy(b->staged, x, px);
    if (flip)
        memcpy(b->staged + px, flip, (size_t)n);
    b->staged_n = n;
    b->staged_flip = flip != NULL;
    return TFR_OK;
}

/* uint8 NHWC pixels (x NULL: the staged batch) -> activations, NHWC when nhwc, else NCHW */
static tfr_status input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                           const uint8_t *flip, float mean, float std, float *y, int nhwc,
                           tfr_error *err)
{
    const size_t cnt = (size_t)n * c * h * w;
    if (!x) {
        if (b->staged_n != n)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "no staged batch of %d images", n);
        x = b->staged;
        flip = b->staged_flip ? b->staged + cnt : NULL;
        b->staged_n = 0;
    }
    const float sc = 1.0f / (255.0f * std), of = mean / std;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < cnt; i++)
        ew_input_u8(i, c, h, w, nhwc, x, flip, sc, of, y, 0);
    return TFR_OK;
}

static tfr_status cpu_input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                               const uint8_t *flip, float mean, float std, float *y,
                               tfr_error *err)
{
    return input_u8(b, n, c, h, w, x, flip, mean, std, y, 0, err);
}

static tfr_status cpu_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                  float *host, tfr_error *err)
{
    if (host != x)
        memcpy(host, x, (size_t)n * c * h * w * sizeof(float));
    return TFR_OK;
}

static int grow(float **p, size_t *have, size_t need)
{
    if (need <= *have)
        return 0;
    float *q = tfr_malloc(need * sizeof(float));
    if (!q)
        return -1;
    free(*p);
    *p = q;
    *have = need;
    return 0;
}

static tfr_status scratch(tfr_backend *b, const tfr_conv2d *cv, tfr_error *err)
{
    size_t npq = (size_t)cv->n * cv->p * cv->q;
    if (grow(&b->col, &b->ncol, (size_t)cv->c * cv->r * cv->s * npq) ||
        grow(&b->tmp, &b->ntmp, (size_t)cv->k * npq) ||
        grow(&b->dwp, &b->ndwp, tfr_conv2d_dw_scratch(cv)))
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for convolution scratch");
    return TFR_OK;
}

static tfr_status cpu_conv_fwd(tfr_backend *b, const tfr_conv2d *cv, const float *x,
                               const float *w, float *y, tfr_error *err)
{
    tfr_status st = scratch(b, cv, err);
    if (st)
        return st;
    conv2d_fwd_cpu(cv, x, w, y, b->col, b->tmp);
    return TFR_OK;
}

static tfr_status cpu_conv_bwd(tfr_backend *b, const tfr_conv2d *cv, const float *x,
                               const float *w, const float *dy, float *dx, float *dw,
                               tfr_error *err)
{
    tfr_status st = scratch(b, cv, err);
    if (st)
        return st;
    conv2d_bwd_cpu(cv, x, w, dy, dx, dw, b->col, b->tmp, b->dwp);
    return TFR_OK;
}

static tfr_status cpu_bn_fwd(tfr_backend *b, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta, float *y, float *mean,
                             float *invstd, float *run_mean, float *run_var, int train,
                             float momentum, float eps, tfr_error *err)
{
    batchnorm_fwd_cpu(n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var, train,
                      momentum, eps);
    return TFR_OK;
}

static tfr_status cpu_bn_relu_fwd(tfr_backend *b, int n, int c, int hw, const float *x,
                                  const float *gamma, const float *beta, float *y, float *mean,
                                  float *invstd, float *run_mean, float *run_var, int train,
                                  float momentum, float eps, tfr_error *err)
{
    batchnorm_relu_fwd_cpu(n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var, train,
                           momentum, eps);
    return TFR_OK;
}

static tfr_status cpu_bn_relu_bwd(tfr_backend *b, int n, int c, int hw, const float *x,
                                  const float *gamma, const float *mean, const float *invstd,
                                  const float *y, const float *dy, float *dx, float *dgamma,
                                  float *dbeta, float eps, tfr_error *err)
{
    batchnorm_relu_bwd_cpu(n, c, hw, x, gamma, mean, invstd, y, dy, dx, dgamma, dbeta);
    return TFR_OK;
}

static tfr_status cpu_bn_bwd(tfr_backend *b, int n, int c, int hw, const float *x,
                             const float *gamma, const float *mean, const float *invstd,
                             const float *dy, float *dx, float *dgamma, float *dbeta, float eps,
                             tfr_error *err)
{
    batchnorm_bwd_cpu(n, c, hw, x, gamma, mean, invstd, dy, dx, dgamma, dbeta);
    return TFR_OK;
}

static tfr_status cpu_relu_fwd(tfr_backend *b, size_t count, const float *x, float *y,
                               tfr_error *err)
{
    relu_fwd_cpu(count, x, y);
    return TFR_OK;
}

static tfr_status cpu_relu_bwd(tfr_backend *b, size_t count, const float *y, const float *dy,
                               float *dx, tfr_error *err)
{
    relu_bwd_cpu(count, y, dy, dx);
    return TFR_OK;
}

static tfr_status cpu_pool_fwd(tfr_backend *b, int n, int c, int h, int w, const float *x,
                               float *y, int32_t *idx, tfr_error *err)
{
    maxpool2_fwd_cpu(n, c, h, w, x, y, idx);
    return TFR_OK;
}

static tfr_status cpu_pool_bwd(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                               const float *dy, float *dx, tfr_error *err)
{
    maxpool2_bwd_cpu(n, c, h, w, idx, dy, dx);
    return TFR_OK;
}

static tfr_status cpu_add_fwd(tfr_backend *b, size_t count, const float *a, const float *c,
                              float *y, tfr_error *err)
{
    add_fwd_cpu(count, a, c, y);
    return TFR_OK;
}

static tfr_status cpu_add_bwd(tfr_backend *b, size_t count, const float *dy, float *da,
                              float *dc, tfr_error *err)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        ew_add_bwd(i, dy, da, dc, 0);
    return TFR_OK;
}

static tfr_status cpu_gap_fwd(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                              tfr_error *err)
{
    gap_fwd_cpu(n, c, hw, x, y);
    return TFR_OK;
}

static tfr_status cpu_gap_bwd(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                              tfr_error *err)
{
    gap_bwd_cpu(n, c, hw, dy, dx);
    return TFR_OK;
}

static tfr_status cpu_dense_fwd(tfr_backend *b, int n, int c, int k, const float *x,
                                const float *w, const float *bias, float *y, tfr_error *err)
{
    dense_fwd_cpu(n, c, k, x, w, bias, y);
    return TFR_OK;
}

static tfr_status cpu_dense_bwd(tfr_backend *b, int n, int c, int k, const float *x,
                                const float *w, const float *dy, float *dx, float *dw, float *db,
                                tfr_error *err)
{
    dense_bwd_cpu(n, c, k, x, w, dy, dx, dw, db);
    return TFR_OK;
}

static tfr_status cpu_axpy(tfr_backend *b, size_t count, float a, const float *x, float *y,
                           tfr_error *err)
{
    for (size_t i = 0; i < count; i++)
        ew_axpy(i, a, x, y);
    return TFR_OK;
}

static tfr_status cpu_softmax_ce(tfr_backend *b, int n, int k, const float *logits,
                                 const int32_t *labels, float smooth, float *dlogits, float *loss,
                                 tfr_error *err)
{
    float l = softmax_ce_cpu(n, k, logits, labels, smooth, dlogits);
    if (loss)
        *loss = l;
    return TFR_OK;
}

static tfr_status cpu_sgd(tfr_backend *b, size_t count, float *w, const float *g, float *v,
                          float lr, float momentum, float weight_decay, tfr_error *err)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        ew_sgd(i, w, g, v, lr, momentum, weight_decay);
    return TFR_OK;
}

/* the entries that do not depend on the activation layout */
#define CPU_FLAT_OPS                                                                    \
    .host_memory = 1, .destroy = cpu_destroy,                                           \
    .act_bytes = cpu_act_bytes, .alloc = cpu_alloc, .release = cpu_release,           \
    .upload = cpu_copy, .download = cpu_copy, .copy = cpu_copy, .zero = cpu_zero,     \
    .sync = cpu_sync, .filter_layout = cpu_filter_layout, .stage_u8 = cpu_stage_u8,   \
    .relu_fwd = cpu_relu_fwd, .relu_bwd = cpu_relu_bwd, .add_fwd = cpu_add_fwd,       \
    .add_bwd = cpu_add_bwd, .dense_fwd = cpu_dense_fwd, .dense_bwd = cpu_dense_bwd,   \
    .axpy = cpu_axpy, .softmax_ce = cpu_softmax_ce, .sgd = cpu_sgd

static const tfr_ops cpu_ops = {
    .name = "cpu",
    .create = cpu_create,
    .describe = cpu_describe,
    .conv2d_fwd = cpu_conv_fwd,
    .conv2d_bwd = cpu_conv_bwd,
    .input_f32 = cpu_input_f32,
    .input_u8 = cpu_input_u8,
    .act_to_host = cpu_act_to_host,
    .bn_fwd = cpu_bn_fwd,
    .bn_bwd = cpu_bn_bwd,
    .bn_relu_fwd = cpu_bn_relu_fwd,
    .bn_relu_bwd = cpu_bn_relu_bwd,
    .pool_fwd = cpu_pool_fwd,
    .pool_bwd = cpu_pool_bwd,
    .gap_fwd = cpu_gap_fwd,
    .gap_bwd = cpu_gap_bwd,
    CPU_FLAT_OPS,
};

const tfr_ops *tfr_ops_cpu(void) { return &cpu_ops; }

#ifdef TFR_HAVE_DNNL
static tfr_status dnnl_create(const tfr_backend_opts *o, tfr_backend **out, tfr_error *err)
{
    int bf16 = o && o->math == TFR_MATH_BF16;
    tfr_status st = cpu_create(NULL, out, err);
    if (st)
        return st;
    tfr_backend *b = *out;
    if ((st = tfr_dnnl_new(&b->dnnl, bf16, err))) {
        cpu_destroy(b);
        *out = NULL;
        return st;
    }
    b->bf16 = bf16;
    return TFR_OK;
}

/* "onednn (2 threads, oneDNN 2.6.3 convolutions, bf16: 52 of 60 passes)":
 * how many passes run in bf16 is known once the shapes have been seen */
static const char *dnnl_describe(const tfr_backend *cb)
{
    tfr_backend *b = (tfr_backend *)cb;
    int nt = omp_get_max_threads();
    int n = snprintf(b->desc, sizeof b->desc, "onednn (%d thread%s, %s convolutions", nt,
                     nt == 1 ? "" : "s", tfr_dnnl_version(b->dnnl));
    size_t f32, bf;
    tfr_dnnl_passes(b->dnnl, &f32, &bf);
    /* before the first step no shape has been seen: just "bf16" */
    if (b->bf16 && n > 0 && (size_t)n < sizeof b->desc)
        n += bf + f32 ? snprintf(b->desc + n, sizeof b->desc - (size_t)n,
                                 ", bf16: %zu of %zu passes", bf, bf + f32)
                      : snprintf(b->desc + n, sizeof b->desc - (size_t)n, ", bf16");
    if (n > 0 && (size_t)n < sizeof b->desc)
        snprintf(b->desc + n, sizeof b->desc - (size_t)n, ")");
    return b->desc;
}

static tfr_status dnnl_conv_fwd(tfr_backend *b, const tfr_conv2d *cv, const float *x,
                                const float *w, float *y, tfr_error *err)
{
    return tfr_dnnl_conv_fwd(b->dnnl, cv, x, w, y, err);
}

static tfr_status dnnl_conv_bwd(tfr_backend *b, const tfr_conv2d *cv, const float *x,
                                const float *w, const float *dy, float *dx, float *dw,
                                tfr_error *err)
{
    return tfr_dnnl_conv_bwd(b->dnnl, cv, x, w, dy, dx, dw, err);
}

/* ---- the onednn table's activations are NHWC (kernels_nhwc.c) ---- */
static tfr_status dnnl_input_f32(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                 float *y, tfr_error *err)
{
    nhwc_from_nchw(n, c, h, w, x, y);
    return TFR_OK;
}

static tfr_status dnnl_input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                                const uint8_t *flip, float mean, float std, float *y,
                                tfr_error *err)
{
    return input_u8(b, n, c, h, w, x, flip, mean, std, y, 1, err);
}

static tfr_status dnnl_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                   float *host, tfr_error *err)
{
    size_t cnt = (size_t)n * c * h * w;
    if (h * w == 1 || c == 1) { /* (N, C) and (N, HW): the layouts agree */
        if (host != x)
            memmove(host, x, cnt * sizeof(float));
        return TFR_OK;
    }
    if (host == x) {
        float *tmp = tfr_malloc(cnt * sizeof(float));
        if (!tmp)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        nhwc_to_nchw(n, c, h, w, x, tmp);
        memcpy(host, tmp, cnt * sizeof(float));
        free(tmp);
        return TFR_OK;
    }
    nhwc_to_nchw(n, c, h, w, x, host);
    return TFR_OK;
}

/* the batch-norm partial sums for (n, c, hw) */
static tfr_status bn_scratch(tfr_backend *b, int n, int c, int hw, tfr_error *err)
{
    size_t need = nhwc_bn_scratch_total(n, c, hw);
    if (need > b->nbn) {
        double *p = tfr_malloc(need * sizeof(double));
        if (!p)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for %zu bytes of "
                                                      "batch-norm scratch", need * sizeof(double));
        free(b->bn);
        b->bn = p;
        b->nbn = need;
    }
    return TFR_OK;
}

static tfr_status dnnl_bn_fwd_any(tfr_backend *b, int n, int c, int hw, const float *x,
                                  const float *gamma, const float *beta, float *y, float *mean,
                                  float *invstd, float *run_mean, float *run_var, int train,
                                  float momentum, float eps, int relu, tfr_error *err)
{
    tfr_status st = bn_scratch(b, n, c, hw, err);
    if (st)
        return st;
    nhwc_bn_fwd(n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var, train, momentum,
                eps, relu, b->bn);
    return TFR_OK;
}

static tfr_status dnnl_bn_fwd(tfr_backend *b, int n, int c, int hw, const float *x,
                              const float *gamma, const float *beta, float *y, float *mean,
                              float *invstd, float *run_mean, float *run_var, int train,
                              float momentum, float eps, tfr_error *err)
{
    return dnnl_bn_fwd_any(b, n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var,
                           train, momentum, eps, 0, err);
}

static tfr_status dnnl_bn_relu_fwd(tfr_backend *b, int n, int c, int hw, const float *x,
                                   const float *gamma, const float *beta, float *y, float *mean,
                                   float *invstd, float *run_mean, float *run_var, int train,
                                   float momentum, float eps, tfr_error *err)
{
    return dnnl_bn_fwd_any(b, n, c, hw, x, gamma, beta, y, mean, invstd, run_mean, run_var,
                           train, momentum, eps, 1, err);
}

static tfr_status dnnl_bn_relu_bwd(tfr_backend *b, int n, int c, int hw, const float *x,
                                   const float *gamma, const float *mean, const float *invstd,
                                   const float *y, const float *dy, float *dx, float *dgamma,
                                   float *dbeta, float eps, tfr_error *err)
{
    tfr_status st = bn_scratch(b, n, c, hw, err);
    if (st)
        return st;
    nhwc_bn_bwd(n, c, hw, x, gamma, mean, invstd, y, dy, dx, dgamma, dbeta, b->bn);
    return TFR_OK;
}

static tfr_status dnnl_bn_bwd(tfr_backend *b, int n, int c, int hw, const float *x,
                              const float *gamma, const float *mean, const float *invstd,
                              const float *dy, float *dx, float *dgamma, float *dbeta, float eps,
                              tfr_error *err)
{
    return dnnl_bn_relu_bwd(b, n, c, hw, x, gamma, mean, invstd, NULL, dy, dx, dgamma, dbeta,
                            eps, err);
}

static tfr_status dnnl_pool_fwd(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                float *y, int32_t *idx, tfr_error *err)
{
    nhwc_pool_fwd(n, c, h, w, x, y, idx);
    return TFR_OK;
}

static tfr_status dnnl_pool_bwd(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                                const float *dy, float *dx, tfr_error *err)
{
    nhwc_pool_bwd(n, c, h, w, idx, dy, dx);
    return TFR_OK;
}

static tfr_status dnnl_gap_fwd(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                               tfr_error *err)
{
    nhwc_gap_fwd(n, c, hw, x, y);
    return TFR_OK;
}

static tfr_status dnnl_gap_bwd(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                               tfr_error *err)
{
    nhwc_gap_bwd(n, c, hw, dy, dx);
    return TFR_OK;
}

static const tfr_ops dnnl_ops = {
    .name = "onednn",
    .create = dnnl_create,
    .describe = dnnl_describe,
    .conv2d_fwd = dnnl_conv_fwd,
    .conv2d_bwd = dnnl_conv_bwd,
    .input_f32 = dnnl_input_f32,
    .input_u8 = dnnl_input_u8,
    .act_to_host = dnnl_act_to_host,
    .bn_fwd = dnnl_bn_fwd,
    .bn_bwd = dnnl_bn_bwd,
    .bn_relu_fwd = dnnl_bn_relu_fwd,
    .bn_relu_bwd = dnnl_bn_relu_bwd,
    .pool_fwd = dnnl_pool_fwd,
    .pool_bwd = dnnl_pool_bwd,
    .gap_fwd = dnnl_gap_fwd,
    .gap_bwd = dnnl_gap_bwd,
    CPU_FLAT_OPS,
};
#endif

const tfr_ops *tfr_ops_onednn(tfr_error *err)
{
#ifdef TFR_HAVE_DNNL
    (void)err;
    return &dnnl_ops;
#else
    tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,
             "no oneDNN backend: this build has none (install libdnnl-dev and reconfigure)");
    return NULL;
#endif
}
