/*
 * tests/unit/test_nn_cuda.c - the CUDA backend against the CPU reference,
 * op by op (forward and backward, on identical inputs and weights, with
 * gradients accumulated onto non-zero buffers) and for a whole small ResNet
 * over a few SGD steps, in fp32, tf32 and bf16; checkpoints written on one device
 * and read on the other.
 *
 * The harness runs on every machine against two stand-ins first: the CPU
 * backend itself (exact agreement: checks the harness), and an emulation of
 * the CUDA backend on the host - device-style memory (so the model's
 * host/device copies and filter re-layouts are used), NHWC activations,
 * (K, R, S, C) filters, the CUDA kernels' own bodies from nn/elementwise.h
 * run over every index, the dense layer's cuBLAS argument lists through a
 * column-major GEMM, and only cuDNN's convolution and batch norm replaced by
 * the CPU kernels behind layout conversions. What remains for a GPU is the
 * CUDA runtime, cuDNN and cuBLAS themselves: without a device (or in a build
 * without CUDA) the test then prints why and exits 77 (skipped).
 *
 * The same harness runs over the "onednn" CPU backend (NHWC activations,
 * its own batch-norm, pool and conversion kernels) when the build has it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "nn/backend.h"
#include "nn/cuda/conv_pick.h"
#include "nn/cuda/wcache.h"
#include "nn/elementwise.h"
#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/nn.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"

typedef struct dev {
    const tfr_ops *o;
    tfr_backend   *b;
    const char    *label;
    double         tol;   /* |got - ref| <= tol * (max |ref| + |ref|) */
    int            bf;    /* bf16 activations */
} dev;

static tfr_error err;
static const tfr_ops *cpu;
static tfr_backend *cb;
static uint64_t rs = 99;

static float frand(void) { return (float)((double)(test_rand(&rs) >> 11) / 9007199254740992.0 * 2 - 1); }
static float *rnd(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}
/* p NULL (an accessor that failed, already reported): NULL */
static float *dup(const float *p, size_t n)
{
    if (!p)
        return NULL;
    float *q = malloc((n ? n : 1) * sizeof(float));
    memcpy(q, p, n * sizeof(float));
    return q;
}

static void close_enough(const dev *d, const char *what, const float *got, const float *ref,
                         size_t n)
{
    if (!got || !ref) {
        FAILF("%s %s: no values to compare", d->label, what);
        return;
    }
    double mx = 1e-12;
    for (size_t i = 0; i < n; i++)
        mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= d->tol * (mx + fabs(ref[i])))) {
            FAILF("%s %s: element %zu of %zu: got %.9g, CPU %.9g (max |ref| %.4g, tol %.1g)",
                  d->label, what, i, n, got[i], ref[i], mx, d->tol);
            return;
        }
    }
}

/* the model's accessors; NULL after a failure, which is reported */
static const float *logits_of(const tfr_model *m)
{
    const float *p;
    EXPECT_OK(tfr_model_logits(m, &p, &err), &err);
    return p;
}

static float *params_of(tfr_model *m)
{
    float *p;
    EXPECT_OK(tfr_model_params(m, &p, &err), &err);
    return p;
}

static float *grads_of(tfr_model *m)
{
    float *p;
    EXPECT_OK(tfr_model_grads(m, &p, &err), &err);
    return p;
}

/* ---- moving data in and out of the device under test ---- */
static void *dalloc(dev *d, size_t bytes)
{
    void *p = d->o->alloc(d->b, bytes, &err);
    EXPECT(p != NULL);
    return p;
}
static float *put_vec(dev *d, const float *h, size_t n)
{
    float *p = dalloc(d, n * sizeof(float));
    EXPECT_OK(d->o->upload(d->b, p, h, n * sizeof(float), &err), &err);
    return p;
}
static void get_vec(dev *d, const float *p, float *h, size_t n)
{
    EXPECT_OK(d->o->download(d->b, h, p, n * sizeof(float), &err), &err);
}
static float *put_act(dev *d, int n, int c, int h, int w, const float *x)
{
    float *p = dalloc(d, (size_t)n * c * h * w * sizeof(float));
    EXPECT_OK(d->o->input_f32(d->b, n, c, h, w, x, p, &err), &err);
    return p;
}
static void get_act(dev *d, int n, int c, int h, int w, const float *p, float *x)
{
    EXPECT_OK(d->o->act_to_host(d->b, n, c, h, w, p, x, &err), &err);
}
static float *put_filter(dev *d, const tfr_conv2d *cv, const float *w)
{
    size_t n = (size_t)cv->k * cv->c * cv->r * cv->s;
    float *tmp = put_vec(d, w, n), *p = dalloc(d, n * sizeof(float));
    EXPECT_OK(d->o->filter_layout(d->b, cv, tmp, p, 1, &err), &err);
    EXPECT_OK(d->o->sync(d->b, &err), &err);
    d->o->release(d->b, tmp);
    return p;
}
static void get_filter(dev *d, const tfr_conv2d *cv, const float *p, float *w)
{
    size_t n = (size_t)cv->k * cv->c * cv->r * cv->s;
    float *tmp = dalloc(d, n * sizeof(float));
    EXPECT_OK(d->o->filter_layout(d->b, cv, p, tmp, 0, &err), &err);
    get_vec(d, tmp, w, n);
    d->o->release(d->b, tmp);
}

/* ---- op by op ---- */
static void check_conv(dev *d, int n, int c, int h, int w, int k, int r, int stride, int with_dx)
{
    tfr_conv2d cv;
    tfr_conv2d_setup(&cv, n, c, h, w, k, r, r, stride, r / 2);
    size_t nx = (size_t)n * c * h * w, nw = (size_t)k * c * r * r, ny = (size_t)n * k * cv.p * cv.q;
    float *x = rnd(nx), *wt = rnd(nw), *dy = rnd(ny), *dx0 = rnd(nx), *dw0 = rnd(nw);
    float *y = malloc(ny * 4), *dx = dup(dx0, nx), *dw = dup(dw0, nw);
    EXPECT_OK(cpu->conv2d_fwd(cb, &cv, x, wt, y, &err), &err);
    EXPECT_OK(cpu->conv2d_bwd(cb, &cv, x, wt, dy, with_dx ? dx : NULL, dw, &err), &err);

    float *gx = put_act(d, n, c, h, w, x), *gw = put_filter(d, &cv, wt);
    float *gy = dalloc(d, ny * 4), *gdy = put_act(d, n, k, cv.p, cv.q, dy);
    float *gdx = put_act(d, n, c, h, w, dx0), *gdw = put_filter(d, &cv, dw0);
    EXPECT_OK(d->o->conv2d_fwd(d->b, &cv, gx, gw, gy, &err), &err);
    EXPECT_OK(d->o->conv2d_bwd(d->b, &cv, gx, gw, gdy, with_dx ? gdx : NULL, gdw, &err), &err);
    float *hy = malloc(ny * 4), *hdx = malloc(nx * 4), *hdw = malloc(nw * 4);
    get_act(d, n, k, cv.p, cv.q, gy, hy);
    get_act(d, n, c, h, w, gdx, hdx);
    get_filter(d, &cv, gdw, hdw);
    char what[96];
    snprintf(what, sizeof what, "conv %dx%d/%d %dx%dx%d->%d n=%d", r, r, stride, c, h, w, k, n);
    close_enough(d, what, hy, y, ny);
    close_enough(d, what, hdw, dw, nw);
    close_enough(d, what, hdx, with_dx ? dx : dx0, nx);
    void *g[] = {gx, gw, gy, gdy, gdx, gdw};
    for (int i = 0; i < 6; i++)
        d->o->release(d->b, g[i]);
    free(x); free(wt); free(dy); free(dx0); free(dw0); free(y); free(dx); free(dw);
    free(hy); free(hdx); free(hdw);
}

static void check_bn(dev *d, int n, int c, int h, int w)
{
    int hw = h * w;
    size_t nx = (size_t)n * c * hw;
    float *x = rnd(nx), *gamma = rnd(c), *beta = rnd(c), *dy = rnd(nx), *dx0 = rnd(nx);
    for (size_t i = 0; i < nx; i++)
        x[i] = 3 * x[i] + 0.5f; /* mean and variance away from 0 and 1 */
    float *rm0 = rnd(c), *rv0 = rnd(c), *dg0 = rnd(c), *db0 = rnd(c);
    for (int i = 0; i < c; i++)
        rv0[i] = 1.5f + rv0[i];
    /* CPU */
    float *y = malloc(nx * 4), *mean = malloc(c * 4), *is = malloc(c * 4);
    float *rm = dup(rm0, c), *rv = dup(rv0, c), *dx = dup(dx0, nx), *dg = dup(dg0, c),
          *db = dup(db0, c), *yi = malloc(nx * 4);
    EXPECT_OK(cpu->bn_fwd(cb, n, c, hw, x, gamma, beta, y, mean, is, rm, rv, 1, 0.1f, 1e-5f, &err), &err);
    EXPECT_OK(cpu->bn_bwd(cb, n, c, hw, x, gamma, mean, is, dy, dx, dg, db, 1e-5f, &err), &err);
    EXPECT_OK(cpu->bn_fwd(cb, n, c, hw, x, gamma, beta, yi, mean, is, rm, rv, 0, 0.1f, 1e-5f, &err), &err);
    /* device */
    float *gx = put_act(d, n, c, h, w, x), *gg = put_vec(d, gamma, c), *gb = put_vec(d, beta, c);
    float *gy = dalloc(d, nx * 4), *gm = dalloc(d, c * 4), *gi = dalloc(d, c * 4);
    float *grm = put_vec(d, rm0, c), *grv = put_vec(d, rv0, c), *gdy = put_act(d, n, c, h, w, dy);
    float *gdx = put_act(d, n, c, h, w, dx0), *gdg = put_vec(d, dg0, c), *gdb = put_vec(d, db0, c);
    float *gyi = dalloc(d, nx * 4);
    EXPECT_OK(d->o->bn_fwd(d->b, n, c, hw, gx, gg, gb, gy, gm, gi, grm, grv, 1, 0.1f, 1e-5f, &err), &err);
    EXPECT_OK(d->o->bn_bwd(d->b, n, c, hw, gx, gg, gm, gi, gdy, gdx, gdg, gdb, 1e-5f, &err), &err);
    float *hy = malloc(nx * 4), *hdx = malloc(nx * 4), *hv = malloc(c * 4);
    get_act(d, n, c, h, w, gy, hy);
    close_enough(d, "bn train y", hy, y, nx);
    get_act(d, n, c, h, w, gdx, hdx);
    close_enough(d, "bn dx", hdx, dx, nx);
    get_vec(d, gdg, hv, c);
    close_enough(d, "bn dgamma", hv, dg, c);
    get_vec(d, gdb, hv, c);
    close_enough(d, "bn dbeta", hv, db, c);
    EXPECT_OK(d->o->bn_fwd(d->b, n, c, hw, gx, gg, gb, gyi, gm, gi, grm, grv, 0, 0.1f, 1e-5f, &err), &err);
    get_vec(d, grm, hv, c);
    close_enough(d, "bn running mean", hv, rm, c);
    get_vec(d, grv, hv, c);
    close_enough(d, "bn running var", hv, rv, c);
    get_act(d, n, c, h, w, gyi, hy);
    close_enough(d, "bn inference y", hy, yi, nx);
    void *g[] = {gx, gg, gb, gy, gm, gi, grm, grv, gdy, gdx, gdg, gdb, gyi};
    for (int i = 0; i < 13; i++)
        d->o->release(d->b, g[i]);
    free(x); free(gamma); free(beta); free(dy); free(dx0); free(rm0); free(rv0); free(dg0);
    free(db0); free(y); free(mean); free(is); free(rm); free(rv); free(dx); free(dg); free(db);
    free(yi); free(hy); free(hdx); free(hv);
}

static void check_pool_gap(dev *d, int n, int c, int h, int w)
{
    int P = h / 2, Q = w / 2;
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * P * Q;
    float *x = rnd(nx), *dy = rnd(ny), *dx0 = rnd(nx);
    for (size_t i = 0; i < nx; i += 3)
        x[i] = 0; /* ties, as after a ReLU */
    float *y = malloc(ny * 4), *dx = dup(dx0, nx);
    int32_t *idx = malloc(ny * 4);
    EXPECT_OK(cpu->pool_fwd(cb, n, c, h, w, x, y, idx, &err), &err);
    EXPECT_OK(cpu->pool_bwd(cb, n, c, h, w, idx, dy, dx, &err), &err);
    float *gx = put_act(d, n, c, h, w, x), *gy = dalloc(d, ny * 4);
    int32_t *gidx = dalloc(d, ny * 4);
    float *gdy = put_act(d, n, c, P, Q, dy), *gdx = put_act(d, n, c, h, w, dx0);
    EXPECT_OK(d->o->pool_fwd(d->b, n, c, h, w, gx, gy, gidx, &err), &err);
    EXPECT_OK(d->o->pool_bwd(d->b, n, c, h, w, gidx, gdy, gdx, &err), &err);
    float *hy = malloc(ny * 4), *hdx = malloc(nx * 4);
    get_act(d, n, c, P, Q, gy, hy);
    get_act(d, n, c, h, w, gdx, hdx);
    close_enough(d, "max pool y", hy, y, ny);
    close_enough(d, "max pool dx", hdx, dx, nx);
    /* global average pool */
    size_t ng = (size_t)n * c;
    float *gy2 = malloc(ng * 4), *gdy2 = rnd(ng), *gdx2 = dup(dx0, nx);
    EXPECT_OK(cpu->gap_fwd(cb, n, c, h * w, x, gy2, &err), &err);
    EXPECT_OK(cpu->gap_bwd(cb, n, c, h * w, gdy2, gdx2, &err), &err);
    float *dg = dalloc(d, ng * 4), *ddy = put_act(d, n, c, 1, 1, gdy2);
    float *ddx = put_act(d, n, c, h, w, dx0);
    EXPECT_OK(d->o->gap_fwd(d->b, n, c, h * w, gx, dg, &err), &err);
    EXPECT_OK(d->o->gap_bwd(d->b, n, c, h * w, ddy, ddx, &err), &err);
    float *hg = malloc(ng * 4);
    get_act(d, n, c, 1, 1, dg, hg);
    close_enough(d, "global average pool y", hg, gy2, ng);
    get_act(d, n, c, h, w, ddx, hdx);
    close_enough(d, "global average pool dx", hdx, gdx2, nx);
    void *g[] = {gx, gy, gidx, gdy, gdx, dg, ddy, ddx};
    for (int i = 0; i < 8; i++)
        d->o->release(d->b, g[i]);
    free(x); free(dy); free(dx0); free(y); free(dx); free(idx); free(hy); free(hdx);
    free(gy2); free(gdy2); free(gdx2); free(hg);
}

static void check_flat_ops(dev *d)
{
    const int n = 3001;
    float *a = rnd(n), *b = rnd(n), *y = malloc(n * 4), *da = rnd(n), *db = rnd(n), *dy = rnd(n);
    /* activations (bf16 in bf16 mode) */
    float *ga = put_act(d, 1, n, 1, 1, a), *gb = put_act(d, 1, n, 1, 1, b);
    float *gy = dalloc(d, n * 4), *gda = put_act(d, 1, n, 1, 1, da);
    float *gdb = put_act(d, 1, n, 1, 1, db), *gdy = put_act(d, 1, n, 1, 1, dy);
    float *h = malloc(n * 4);
    /* ReLU */
    EXPECT_OK(cpu->relu_fwd(cb, n, a, y, &err), &err);
    EXPECT_OK(d->o->relu_fwd(d->b, n, ga, gy, &err), &err);
    get_act(d, 1, n, 1, 1, gy, h);
    close_enough(d, "relu y", h, y, n);
    EXPECT_OK(cpu->relu_bwd(cb, n, y, dy, da, &err), &err);
    EXPECT_OK(d->o->relu_bwd(d->b, n, gy, gdy, gda, &err), &err);
    get_act(d, 1, n, 1, 1, gda, h);
    close_enough(d, "relu dx", h, da, n);
    /* add */
    EXPECT_OK(cpu->add_fwd(cb, n, a, b, y, &err), &err);
    EXPECT_OK(d->o->add_fwd(d->b, n, ga, gb, gy, &err), &err);
    get_act(d, 1, n, 1, 1, gy, h);
    close_enough(d, "add y", h, y, n);
    EXPECT_OK(cpu->add_bwd(cb, n, dy, da, db, &err), &err);
    EXPECT_OK(d->o->add_bwd(d->b, n, gdy, gda, gdb, &err), &err);
    get_act(d, 1, n, 1, 1, gda, h);
    close_enough(d, "add da", h, da, n);
    get_act(d, 1, n, 1, 1, gdb, h);
    close_enough(d, "add db", h, db, n);
    void *g[] = {ga, gb, gy, gda, gdb, gdy};
    for (int i = 0; i < 6; i++)
        d->o->release(d->b, g[i]);
    /* axpy and SGD: parameters, always float32 */
    ga = put_vec(d, a, n);
    gb = put_vec(d, b, n);
    gdy = put_vec(d, dy, n);
    gda = put_vec(d, da, n);
    EXPECT_OK(cpu->axpy(cb, n, 0.37f, a, b, &err), &err);
    EXPECT_OK(d->o->axpy(d->b, n, 0.37f, ga, gb, &err), &err);
    get_vec(d, gb, h, n);
    close_enough(d, "axpy", h, b, n);
    EXPECT_OK(cpu->sgd(cb, n, a, dy, da, 0.05f, 0.9f, 1e-3f, &err), &err);
    EXPECT_OK(d->o->sgd(d->b, n, ga, gdy, gda, 0.05f, 0.9f, 1e-3f, &err), &err);
    get_vec(d, ga, h, n);
    close_enough(d, "sgd w", h, a, n);
    get_vec(d, gda, h, n);
    close_enough(d, "sgd momentum", h, da, n);
    void *g2[] = {ga, gb, gdy, gda};
    for (int i = 0; i < 4; i++)
        d->o->release(d->b, g2[i]);
    free(a); free(b); free(y); free(da); free(db); free(dy); free(h);
}

static void check_dense_softmax(dev *d, int n, int c, int k)
{
    size_t nx = (size_t)n * c, nw = (size_t)k * c, ny = (size_t)n * k;
    float *x = rnd(nx), *w = rnd(nw), *bias = rnd(k), *dy = rnd(ny);
    float *dx0 = rnd(nx), *dw0 = rnd(nw), *db0 = rnd(k);
    float *y = malloc(ny * 4), *dx = dup(dx0, nx), *dw = dup(dw0, nw), *db = dup(db0, k);
    EXPECT_OK(cpu->dense_fwd(cb, n, c, k, x, w, bias, y, &err), &err);
    EXPECT_OK(cpu->dense_bwd(cb, n, c, k, x, w, dy, dx, dw, db, &err), &err);
    /* x, y, dy, dx are activations; W, b and their gradients parameters */
    float *gx = put_act(d, n, c, 1, 1, x), *gw = put_vec(d, w, nw), *gbias = put_vec(d, bias, k);
    float *gy = dalloc(d, ny * 4), *gdy = put_act(d, n, k, 1, 1, dy);
    float *gdx = put_act(d, n, c, 1, 1, dx0), *gdw = put_vec(d, dw0, nw), *gdb = put_vec(d, db0, k);
    EXPECT_OK(d->o->dense_fwd(d->b, n, c, k, gx, gw, gbias, gy, &err), &err);
    EXPECT_OK(d->o->dense_bwd(d->b, n, c, k, gx, gw, gdy, gdx, gdw, gdb, &err), &err);
    float *h = malloc((nx > nw ? nx : nw) * 4 + ny * 4);
    get_act(d, n, k, 1, 1, gy, h);
    close_enough(d, "dense y", h, y, ny);
    get_act(d, n, c, 1, 1, gdx, h);
    close_enough(d, "dense dx", h, dx, nx);
    get_vec(d, gdw, h, nw);
    close_enough(d, "dense dW", h, dw, nw);
    get_vec(d, gdb, h, k);
    close_enough(d, "dense db", h, db, k);
    /* softmax cross-entropy on the logits y (the device's own, as computed) */
    float *yd = malloc(ny * 4);
    get_act(d, n, k, 1, 1, gy, yd);
    int32_t *lab = malloc(n * sizeof *lab);
    for (int i = 0; i < n; i++)
        lab[i] = (int32_t)(test_rand(&rs) % (uint64_t)k);
    float loss = 0, gloss = -1, *dl = malloc(ny * 4);
    EXPECT_OK(cpu->softmax_ce(cb, n, k, yd, lab, 0, dl, &loss, &err), &err);
    EXPECT_OK(d->o->softmax_ce(d->b, n, k, gy, lab, 0, gdy, &gloss, &err), &err);
    close_enough(d, "softmax cross-entropy loss", &gloss, &loss, 1);
    get_act(d, n, k, 1, 1, gdy, h);
    close_enough(d, "softmax cross-entropy dlogits", h, dl, ny);
    /* label smoothing 0.1 */
    EXPECT_OK(cpu->softmax_ce(cb, n, k, yd, lab, 0.1f, dl, &loss, &err), &err);
    EXPECT_OK(d->o->softmax_ce(d->b, n, k, gy, lab, 0.1f, gdy, &gloss, &err), &err);
    close_enough(d, "smoothed cross-entropy loss", &gloss, &loss, 1);
    get_act(d, n, k, 1, 1, gdy, h);
    close_enough(d, "smoothed cross-entropy dlogits", h, dl, ny);
    /* a label out of range is never folded into a class on any backend:
     * the loss is NaN and its row gets no gradient */
    lab[0] = k + 3;
    EXPECT_OK(cpu->softmax_ce(cb, n, k, yd, lab, 0, dl, &loss, &err), &err);
    EXPECT_OK(d->o->softmax_ce(d->b, n, k, gy, lab, 0, gdy, &gloss, &err), &err);
    if (!isnan(loss) || !isnan(gloss))
        FAILF("%s softmax cross-entropy of label %d of %d classes: loss %g (CPU %g), not NaN",
              d->label, k + 3, k, gloss, loss);
    get_act(d, n, k, 1, 1, gdy, h);
    for (int j = 0; j < k; j++)
        if (h[j] != 0.0f || dl[j] != 0.0f) {
            FAILF("%s softmax cross-entropy: gradient toward class %d for an invalid label",
                  d->label, j);
            break;
        }
    void *g[] = {gx, gw, gbias, gy, gdy, gdx, gdw, gdb};
    for (int i = 0; i < 8; i++)
        d->o->release(d->b, g[i]);
    free(x); free(w); free(bias); free(dy); free(dx0); free(dw0); free(db0); free(y); free(dx);
    free(dw); free(db); free(h); free(lab); free(dl); free(yd);
}

static void check_input(dev *d)
{
    const int n = 3, c = 3, h = 5, w = 7;
    size_t np = (size_t)n * c * h * w;
    uint8_t *px = malloc(np), flip[3] = {0, 1, 0};
    for (size_t i = 0; i < np; i++)
        px[i] = (uint8_t)(test_rand(&rs) & 255);
    float *ref = malloc(np * 4), *got = malloc(np * 4);
    /* independent formula: (v/255 - mean)/std of the (mirrored) NHWC pixel, NCHW out */
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int sx = flip[i] ? w - 1 - x : x;
                    ref[(((size_t)i * c + ch) * h + y) * w + x] =
                        (px[(((size_t)i * h + y) * w + sx) * c + ch] / 255.0f - 0.4f) / 0.2f;
                }
    float *g = dalloc(d, np * 4);
    /* several batches in a row: the pinned input buffers are reused */
    for (int round = 0; round < 5; round++) {
        if (round % 2) { /* staged ahead, the caller's buffers clobbered before use */
            uint8_t *tmp = malloc(np), tflip[3];
            memcpy(tmp, px, np);
            memcpy(tflip, flip, 3);
            EXPECT_OK(d->o->stage_u8(d->b, n, c, h, w, tmp, tflip, &err), &err);
            memset(tmp, 0, np);
            memset(tflip, 0, 3);
            free(tmp);
            EXPECT_OK(d->o->input_u8(d->b, n, c, h, w, NULL, NULL, 0.4f, 0.2f, g, &err), &err);
        } else {
            EXPECT_OK(d->o->input_u8(d->b, n, c, h, w, px, flip, 0.4f, 0.2f, g, &err), &err);
        }
        get_act(d, n, c, h, w, g, got);
        dev loose = *d;
        loose.tol = d->bf ? 4e-3 : 1e-6; /* bf16 keeps 8 significant bits */
        close_enough(&loose, "uint8 input (normalize + flip)", got, ref, np);
    }
    /* nothing staged */
    EXPECT_STATUS(d->o->input_u8(d->b, n, c, h, w, NULL, NULL, 0.4f, 0.2f, g, &err), TFR_ERR_ARG);
    d->o->release(d->b, g);
    free(px); free(ref); free(got);
}

static void check_ops(dev *d)
{
    check_input(d);
    check_flat_ops(d);
    check_conv(d, 4, 3, 12, 10, 8, 3, 1, 1);
    check_conv(d, 3, 16, 9, 9, 32, 1, 2, 1);
    check_conv(d, 2, 8, 8, 8, 16, 3, 2, 1);
    check_conv(d, 5, 1, 28, 28, 16, 3, 1, 0);
    check_conv(d, 2, 64, 16, 16, 16, 1, 1, 1);
    check_bn(d, 4, 6, 5, 5);
    check_bn(d, 16, 32, 4, 4);
    check_pool_gap(d, 3, 5, 6, 8);
    check_pool_gap(d, 2, 4, 7, 5);
    check_dense_softmax(d, 6, 12, 7);
    check_dense_softmax(d, 32, 256, 200);
}

/* ---- the CUDA backend emulated on the host ---- */
typedef struct emu {
    tfr_backend *cpu;
    int          bf; /* bf16 activations */
    int          device;
    uint8_t     *staged;
    int          staged_n, staged_flip;
    char         desc[64];
} emu;

#define EMU(b) ((emu *)(void *)(b))
#define BF(b) (EMU(b)->bf)
#define EACH(count) for (size_t i = 0; i < (size_t)(count); i++)

/* the "current device" as the CUDA runtime keeps it per thread: creating
 * a backend makes its device current (cudaSetDevice in its setup), activate
 * does again; memory taken while another device is current is counted */
static int emu_current = -1, emu_foreign;
static tfr_status emu_create(const tfr_backend_opts *o, tfr_backend **out, tfr_error *e)
{
    emu *m = calloc(1, sizeof *m);
    tfr_ops_cpu()->create(NULL, &m->cpu, e);
    m->bf = o && o->math == TFR_MATH_BF16;
    m->device = o ? o->device : 0;
    snprintf(m->desc, sizeof m->desc, "cuda:%d emulated on the host", m->device);
    emu_current = m->device;
    *out = (tfr_backend *)(void *)m;
    return TFR_OK;
}
static tfr_status emu_activate(tfr_backend *b, tfr_error *e)
{
    emu_current = EMU(b)->device;
    return TFR_OK;
}
static void emu_destroy(tfr_backend *b)
{
    tfr_ops_cpu()->destroy(EMU(b)->cpu);
    free(EMU(b)->staged);
    free(b);
}
static const char *emu_describe(const tfr_backend *b) { return EMU(b)->desc; }
static int emu_devices = 2; /* what cudaGetDeviceCount would say */
static int emu_device_count(void) { return emu_devices; }
static size_t emu_act_bytes(const tfr_backend *b) { return BF(b) ? 2 : 4; }
static void *emu_alloc(tfr_backend *b, size_t n, tfr_error *e)
{
    emu_foreign += emu_current != EMU(b)->device;
    return calloc(1, n ? n : 1);
}
static void emu_release(tfr_backend *b, void *p)
{
    emu_foreign += p && emu_current != EMU(b)->device;
    free(p);
}
static tfr_status emu_copy(tfr_backend *b, void *d, const void *s, size_t n, tfr_error *e)
{
    memmove(d, s, n);
    return TFR_OK;
}
static tfr_status emu_zero(tfr_backend *b, void *p, size_t n, tfr_error *e)
{
    memset(p, 0, n);
    return TFR_OK;
}
static tfr_status emu_sync(tfr_backend *b, tfr_error *e) { return TFR_OK; }
static tfr_status emu_filter_layout(tfr_backend *b, const tfr_conv2d *cv, const float *src,
                                    float *dst, int to_backend, tfr_error *e)
{
    EACH((size_t)cv->k * cv->c * cv->r * cv->s) {
        if (to_backend)
            ew_nchw_to_nhwc(i, cv->c, cv->r, cv->s, src, 0, dst, 0);
        else
            ew_nhwc_to_nchw(i, cv->c, cv->r, cv->s, src, 0, dst, 0);
    }
    return TFR_OK;
}
static tfr_status emu_input_f32(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                float *y, tfr_error *e)
{
    EACH((size_t)n * c * h * w) ew_nchw_to_nhwc(i, c, h, w, x, 0, y, BF(b));
    return TFR_OK;
}
static tfr_status emu_stage_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                               const uint8_t *flip, tfr_error *e)
{
    size_t px = (size_t)n * c * h * w;
    free(EMU(b)->staged);
    EMU(b)->staged = malloc(px + (size_t)n);
    memcpy(EMU(b)->staged, x, px);
    if (flip)
        memcpy(EMU(b)->staged + px, flip, (size_t)n);
    EMU(b)->staged_n = n;
    EMU(b)->staged_flip = flip != NULL;
    return TFR_OK;
}
static tfr_status emu_input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                               const uint8_t *flip, float mean, float std, float *y, tfr_error *e)
{
    const float scale = 1.0f / (255.0f * std), offset = mean / std;
    if (!x) {
        if (EMU(b)->staged_n != n)
            return tfr_fail(e, TFR_ERR_ARG, NULL, "no staged batch of %d images", n);
        x = EMU(b)->staged;
        flip = EMU(b)->staged_flip ? x + (size_t)n * c * h * w : NULL;
        EMU(b)->staged_n = 0;
    }
    EACH((size_t)n * c * h * w) ew_input_u8(i, c, h, w, 1, x, flip, scale, offset, y, BF(b));
    return TFR_OK;
}
static tfr_status emu_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                  float *host, tfr_error *e)
{
    EACH((size_t)n * c * h * w) ew_nhwc_to_nchw(i, c, h, w, x, BF(b), host, 0);
    return TFR_OK;
}
/* (N, H, W, C) activation or filter -> float (N, C, H, W); `round`: through bf16 */
static float *to_nchw(int n, int c, int h, int w, const void *x, int bf, int round)
{
    size_t cnt = (size_t)n * c * h * w;
    float *y = malloc(cnt * sizeof(float) + 4);
    EACH(cnt) {
        ew_nhwc_to_nchw(i, c, h, w, x, bf, y, 0);
        if (round)
            y[i] = ew_bf16_to_f32(ew_f32_to_bf16(y[i]));
    }
    return y;
}
/* dst (NHWC) += src (NCHW float) */
static void add_nhwc(int n, int c, int h, int w, const float *src, void *dst, int bf)
{
    size_t cnt = (size_t)n * c * h * w;
    float *t = malloc(cnt * sizeof(float) + 4);
    EACH(cnt) ew_nchw_to_nhwc(i, c, h, w, src, 0, t, 0);
    EACH(cnt) ew_st(dst, i, ew_ld(dst, i, bf) + t[i], bf);
    free(t);
}
/* cuDNN stand-in: the CPU convolution on converted copies; in bf16 mode the
 * filters are rounded to bf16 and the filter gradient comes back as bf16 */
static tfr_status emu_conv_fwd(tfr_backend *b, const tfr_conv2d *cv, const float *x,
                               const float *w, float *y, tfr_error *e)
{
    float *xn = to_nchw(cv->n, cv->c, cv->h, cv->w, x, BF(b), 0);
    float *wn = to_nchw(cv->k, cv->c, cv->r, cv->s, w, 0, BF(b));
    size_t ny = (size_t)cv->n * cv->k * cv->p * cv->q;
    float *yn = malloc(ny * sizeof(float));
    tfr_ops_cpu()->conv2d_fwd(EMU(b)->cpu, cv, xn, wn, yn, e);
    EACH(ny) ew_nchw_to_nhwc(i, cv->k, cv->p, cv->q, yn, 0, y, BF(b));
    free(xn); free(wn); free(yn);
    return TFR_OK;
}
static tfr_status emu_conv_bwd(tfr_backend *b, const tfr_conv2d *cv, const float *x,
                               const float *w, const float *dy, float *dx, float *dw, tfr_error *e)
{
    float *xn = to_nchw(cv->n, cv->c, cv->h, cv->w, x, BF(b), 0);
    float *wn = to_nchw(cv->k, cv->c, cv->r, cv->s, w, 0, BF(b));
    float *dyn = to_nchw(cv->n, cv->k, cv->p, cv->q, dy, BF(b), 0);
    size_t nw = (size_t)cv->k * cv->c * cv->r * cv->s;
    float *dxn = calloc((size_t)cv->n * cv->c * cv->h * cv->w + 1, sizeof(float));
    float *dwn = calloc(nw + 1, sizeof(float));
    tfr_ops_cpu()->conv2d_bwd(EMU(b)->cpu, cv, xn, wn, dyn, dx ? dxn : NULL, dwn, e);
    if (dx)
        add_nhwc(cv->n, cv->c, cv->h, cv->w, dxn, dx, BF(b));
    if (BF(b))
        EACH(nw) dwn[i] = ew_bf16_to_f32(ew_f32_to_bf16(dwn[i]));
    add_nhwc(cv->k, cv->c, cv->r, cv->s, dwn, dw, 0);
    free(xn); free(wn); free(dyn); free(dxn); free(dwn);
    return TFR_OK;
}
static tfr_status emu_bn_fwd(tfr_backend *b, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta, float *y, float *mean,
                             float *invstd, float *rm, float *rv, int train, float mom, float eps,
                             tfr_error *e)
{
    const size_t rows = (size_t)n * hw, chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    if (!train) { /* the CUDA backend's own kernels */
        EACH(rows * c) ew_bn_infer(i, c, x, gamma, beta, rm, rv, eps, y, BF(b));
        EACH(c) ew_bn_infer_stats(i, rm, rv, eps, mean, invstd);
        return TFR_OK;
    }
    if (BF(b)) { /* tfr_cuda_bn_train_kernels, kernel by kernel */
        float *p0 = malloc(chunks * c * sizeof(float)), *p1 = malloc(chunks * c * sizeof(float));
        EACH(chunks * c) ew_bn_part(i, c, rows, x, NULL, NULL, NULL, p0, p1, 1);
        EACH(c) ew_bn_stats(i, c, rows, p0, p1, eps, mom, mean, invstd, rm, rv);
        EACH(rows * c) ew_bn_apply(i, c, x, gamma, beta, mean, invstd, y, 1);
        free(p0); free(p1);
        return TFR_OK;
    }
    /* cuDNN stand-in */
    float *xn = to_nchw(n, c, hw, 1, x, 0, 0), *yn = malloc(rows * c * sizeof(float) + 4);
    tfr_ops_cpu()->bn_fwd(EMU(b)->cpu, n, c, hw, xn, gamma, beta, yn, mean, invstd, rm, rv, 1, mom,
                          eps, e);
    EACH(rows * c) ew_nchw_to_nhwc(i, c, hw, 1, yn, 0, y, 0);
    free(xn); free(yn);
    return TFR_OK;
}
static tfr_status emu_bn_bwd(tfr_backend *b, int n, int c, int hw, const float *x,
                             const float *gamma, const float *mean, const float *invstd,
                             const float *dy, float *dx, float *dg, float *db, float eps,
                             tfr_error *e)
{
    const size_t rows = (size_t)n * hw, chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    if (BF(b)) { /* tfr_cuda_bn_bwd_kernels, kernel by kernel */
        float *p0 = malloc(chunks * c * sizeof(float)), *p1 = malloc(chunks * c * sizeof(float));
        float *sums = malloc(2 * c * sizeof(float));
        EACH(chunks * c) ew_bn_part(i, c, rows, x, dy, mean, invstd, p0, p1, 1);
        EACH(c) ew_bn_bwd_sums(i, c, rows, p0, p1, sums, dg, db);
        EACH(rows * c) ew_bn_bwd_apply(i, c, rows, x, dy, dx, gamma, mean, invstd, sums, 1);
        free(p0); free(p1); free(sums);
        return TFR_OK;
    }
    float *xn = to_nchw(n, c, hw, 1, x, 0, 0), *dyn = to_nchw(n, c, hw, 1, dy, 0, 0);
    float *dxn = calloc(rows * c + 1, sizeof(float));
    tfr_ops_cpu()->bn_bwd(EMU(b)->cpu, n, c, hw, xn, gamma, mean, invstd, dyn, dxn, dg, db, eps, e);
    add_nhwc(n, c, hw, 1, dxn, dx, 0);
    free(xn); free(dyn); free(dxn);
    return TFR_OK;
}
static tfr_status emu_relu_fwd(tfr_backend *b, size_t n, const float *x, float *y, tfr_error *e)
{
    EACH(n) ew_relu_fwd(i, x, y, BF(b));
    return TFR_OK;
}
static tfr_status emu_relu_bwd(tfr_backend *b, size_t n, const float *y, const float *dy,
                               float *dx, tfr_error *e)
{
    EACH(n) ew_relu_bwd(i, y, dy, dx, BF(b));
    return TFR_OK;
}
static tfr_status emu_pool_fwd(tfr_backend *b, int n, int c, int h, int w, const float *x,
                               float *y, int32_t *idx, tfr_error *e)
{
    EACH((size_t)n * (h / 2) * (w / 2) * c) ew_pool_fwd(i, c, h, w, x, y, idx, BF(b));
    return TFR_OK;
}
static tfr_status emu_pool_bwd(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                               const float *dy, float *dx, tfr_error *e)
{
    EACH((size_t)n * (h / 2) * (w / 2) * c) ew_pool_bwd(i, c, h, w, idx, dy, dx, BF(b));
    return TFR_OK;
}
static tfr_status emu_add_fwd(tfr_backend *b, size_t n, const float *a, const float *c, float *y,
                              tfr_error *e)
{
    EACH(n) ew_add_fwd(i, a, c, y, BF(b));
    return TFR_OK;
}
static tfr_status emu_add_bwd(tfr_backend *b, size_t n, const float *dy, float *da, float *dc,
                              tfr_error *e)
{
    EACH(n) ew_add_bwd(i, dy, da, dc, BF(b));
    return TFR_OK;
}
static tfr_status emu_gap_fwd(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                              tfr_error *e)
{
    EACH((size_t)n * c) ew_gap_fwd(i, c, hw, x, y, BF(b));
    return TFR_OK;
}
static tfr_status emu_gap_bwd(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                              tfr_error *e)
{
    EACH((size_t)n * hw * c) ew_gap_bwd(i, c, hw, dy, dx, BF(b));
    return TFR_OK;
}
/* column-major C += op(A) op(B), as cublasSgemm / cublasGemmEx with alpha = beta = 1 */
static void colmajor_gemm(ew_gemm g)
{
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++) {
            double s = 0;
            for (int l = 0; l < g.k; l++) {
                float a = ew_ld(g.A, g.ta ? (size_t)i * g.lda + l : (size_t)l * g.lda + i, g.a_bf);
                float bb = ew_ld(g.B, g.tb ? (size_t)l * g.ldb + j : (size_t)j * g.ldb + l, g.b_bf);
                s += (double)a * bb;
            }
            size_t o = (size_t)j * g.ldc + i;
            ew_st(g.C, o, ew_ld(g.C, o, g.c_bf) + (float)s, g.c_bf);
        }
}
/* in bf16 mode the GEMMs read a bf16 copy of the weights (tfr_cuda_weights_bf16) */
static const void *emu_weights(tfr_backend *b, const float *w, size_t n, uint16_t **copy)
{
    *copy = NULL;
    if (!BF(b))
        return w;
    *copy = malloc(n * sizeof(uint16_t) + 2);
    EACH(n) ew_to_bf16(i, w, *copy);
    return *copy;
}
static tfr_status emu_dense_fwd(tfr_backend *b, int n, int c, int k, const float *x,
                                const float *w, const float *bias, float *y, tfr_error *e)
{
    uint16_t *wc;
    const void *wt = emu_weights(b, w, (size_t)k * c, &wc);
    EACH((size_t)n * k) ew_bias_rows(i, k, bias, y, BF(b));
    colmajor_gemm(ew_dense_fwd_gemm(n, c, k, x, wt, y, BF(b)));
    free(wc);
    return TFR_OK;
}
static tfr_status emu_dense_bwd(tfr_backend *b, int n, int c, int k, const float *x,
                                const float *w, const float *dy, float *dx, float *dw, float *db,
                                tfr_error *e)
{
    colmajor_gemm(ew_dense_dw_gemm(n, c, k, x, dy, dw, BF(b)));
    EACH(k) ew_bias_grad(i, n, k, dy, db, BF(b));
    if (dx) {
        uint16_t *wc;
        const void *wt = emu_weights(b, w, (size_t)k * c, &wc);
        colmajor_gemm(ew_dense_dx_gemm(n, c, k, wt, dy, dx, BF(b)));
        free(wc);
    }
    return TFR_OK;
}
static tfr_status emu_axpy(tfr_backend *b, size_t n, float a, const float *x, float *y,
                           tfr_error *e)
{
    EACH(n) ew_axpy(i, a, x, y);
    return TFR_OK;
}
static tfr_status emu_softmax_ce(tfr_backend *b, int n, int k, const float *logits,
                                 const int32_t *labels, float smooth, float *dlogits, float *loss,
                                 tfr_error *e)
{
    float *rows = malloc((size_t)n * sizeof(float));
    EACH(n) ew_softmax_ce_row(i, n, k, logits, labels, smooth, rows, dlogits, BF(b));
    if (loss)
        ew_mean(n, rows, loss);
    free(rows);
    return TFR_OK;
}
/* the CUDA backend's loss_logits: the plain loss and the logits, one "wait" */
static tfr_status emu_loss_logits(tfr_backend *b, int n, int k, const float *logits,
                                  const int32_t *labels, float *loss, float *host, tfr_error *e)
{
    float *rows = malloc((size_t)n * sizeof(float));
    EACH(n) ew_softmax_ce_row(i, n, k, logits, labels, 0, rows, NULL, BF(b));
    ew_mean(n, rows, loss);
    free(rows);
    EACH((size_t)n * k) ew_nhwc_to_nchw(i, k, 1, 1, logits, BF(b), host, 0);
    return TFR_OK;
}
static tfr_status emu_sgd(tfr_backend *b, size_t n, float *w, const float *g, float *v, float lr,
                          float mu, float wd, tfr_error *e)
{
    EACH(n) ew_sgd(i, w, g, v, lr, mu, wd);
    return TFR_OK;
}

static const tfr_ops emu_ops = {
    .name = "cuda-emulated", .host_memory = 0, .create = emu_create, .destroy = emu_destroy,
    .describe = emu_describe, .act_bytes = emu_act_bytes, .alloc = emu_alloc,
    .release = emu_release, .upload = emu_copy, .download = emu_copy, .copy = emu_copy,
    .zero = emu_zero, .sync = emu_sync, .activate = emu_activate,
    .device_count = emu_device_count,
    .filter_layout = emu_filter_layout,
    .input_f32 = emu_input_f32, .input_u8 = emu_input_u8, .stage_u8 = emu_stage_u8, .act_to_host = emu_act_to_host,
    .conv2d_fwd = emu_conv_fwd, .conv2d_bwd = emu_conv_bwd, .bn_fwd = emu_bn_fwd,
    .bn_bwd = emu_bn_bwd, .relu_fwd = emu_relu_fwd, .relu_bwd = emu_relu_bwd,
    .pool_fwd = emu_pool_fwd, .pool_bwd = emu_pool_bwd, .add_fwd = emu_add_fwd,
    .add_bwd = emu_add_bwd, .gap_fwd = emu_gap_fwd, .gap_bwd = emu_gap_bwd,
    .dense_fwd = emu_dense_fwd, .dense_bwd = emu_dense_bwd, .axpy = emu_axpy,
    .softmax_ce = emu_softmax_ce, .loss_logits = emu_loss_logits, .sgd = emu_sgd,
};

/* ---- a whole network ---- */
static void check_model_block(const tfr_ops *ops, const tfr_backend_opts *bo, const char *label,
                              double tol, int block)
{
    tfr_resnet_config cfg = {16, 16, 3, 5, 8, 2, {1, 1}, 1, block};
    tfr_model *a, *b;
    EXPECT_OK(tfr_model_new(&cfg, 3, &a, &err), &err);
    EXPECT_OK(tfr_model_new(&cfg, 3, &b, &err), &err);
    EXPECT_OK(tfr_model_set_backend(b, ops, bo, &err), &err);
    const int n = 8;
    size_t nx = (size_t)n * 3 * 16 * 16, np = tfr_model_num_params(a);
    float *x = rnd(nx);
    int32_t lab[8];
    for (int i = 0; i < n; i++)
        lab[i] = i % 5;
    dev d = {NULL, NULL, label, tol, 0};
    for (int step = 0; step < 4; step++) {
        float la = 0, lb = -1;
        EXPECT_OK(tfr_model_forward(a, x, n, lab, 1, &la, &err), &err);
        EXPECT_OK(tfr_model_forward(b, x, n, lab, 1, &lb, &err), &err);
        char what[64];
        snprintf(what, sizeof what, "model loss at step %d", step);
        close_enough(&d, what, &lb, &la, 1);
        snprintf(what, sizeof what, "model logits at step %d", step);
        close_enough(&d, what, logits_of(b), logits_of(a), (size_t)n * 5);
        EXPECT_OK(tfr_model_backward(a, 5e-4f, &err), &err);
        EXPECT_OK(tfr_model_backward(b, 5e-4f, &err), &err);
        if (step == 0) {
            float *ga = dup(grads_of(a), np);
            close_enough(&d, "model gradients, step 0", grads_of(b), ga, np);
            free(ga);
        }
        EXPECT_OK(tfr_model_sgd(a, 0.05f, 0.9f, 1e-4f, &err), &err);
        EXPECT_OK(tfr_model_sgd(b, 0.05f, 0.9f, 1e-4f, &err), &err);
    }
    dev loose = d;
    loose.tol = tol * 10; /* four steps of drift */
    float *pa = dup(params_of(a), np);
    close_enough(&loose, "model parameters after 4 steps", params_of(b), pa, np);
    free(pa);

    /* the uint8 path with flips */
    uint8_t *px = malloc(nx), flip[8] = {1, 0, 0, 1, 1, 0, 1, 0};
    for (size_t i = 0; i < nx; i++)
        px[i] = (uint8_t)(test_rand(&rs) & 255);
    float la, lb;
    EXPECT_OK(tfr_model_forward_u8(a, px, n, flip, 0.5f, 0.25f, lab, 0, &la, &err), &err);
    EXPECT_OK(tfr_model_forward_u8(b, px, n, flip, 0.5f, 0.25f, lab, 0, &lb, &err), &err);
    close_enough(&loose, "model uint8 input, inference loss", &lb, &la, 1);

    /* bottleneck features (what tfrecord-retrain caches) */
    int fd = tfr_model_feature_dim(a);
    float *fa = malloc((size_t)n * fd * 4), *fb = malloc((size_t)n * fd * 4);
    EXPECT_OK(tfr_model_features(a, x, n, fa, &err), &err);
    EXPECT_OK(tfr_model_features(b, x, n, fb, &err), &err);
    close_enough(&loose, "model bottleneck features", fb, fa, (size_t)n * fd);
    free(fa);
    free(fb);

    /* checkpoints: written on the device, read on the CPU, and the other way */
    const char *dir = test_tmpdir("nn_cuda");
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/dev.tfrc", dir);
    snprintf(p2, sizeof p2, "%s/cpu.tfrc", dir);
    tfr_train_state ts = {0};
    EXPECT_OK(tfr_checkpoint_save(p1, b, &ts, &err), &err);
    EXPECT_OK(tfr_checkpoint_save(p2, a, &ts, &err), &err);
    tfr_model *c1, *c2;
    EXPECT_OK(tfr_checkpoint_load(p1, &c1, &ts, &err), &err);
    EXPECT_OK(tfr_checkpoint_load(p2, &c2, &ts, &err), &err);
    EXPECT_EQ_I(tfr_model_config(c1)->block, block);
    EXPECT_EQ_U(tfr_model_num_params(c1), np);
    EXPECT_OK(tfr_model_set_backend(c2, ops, bo, &err), &err);
    float l1, l2;
    EXPECT_OK(tfr_model_forward(b, x, n, lab, 0, &lb, &err), &err);
    EXPECT_OK(tfr_model_forward(c1, x, n, lab, 0, &l1, &err), &err);
    close_enough(&d, "device checkpoint evaluated on the CPU", &l1, &lb, 1);
    EXPECT_OK(tfr_model_forward(a, x, n, lab, 1, &la, &err), &err);
    EXPECT_OK(tfr_model_forward(c2, x, n, lab, 1, &l2, &err), &err);
    close_enough(&loose, "CPU checkpoint resumed on the device", &l2, &la, 1);
    tfr_model_free(c1);
    tfr_model_free(c2);
    test_rmtree(dir);
    free(px);
    free(x);
    tfr_model_free(a);
    tfr_model_free(b);
}

/* both kinds of residual block (a basic block's stride-2 3x3 convolutions
 * and its projection only where the width or size changes) */
static void check_model(const tfr_ops *ops, const tfr_backend_opts *bo, const char *label,
                        double tol)
{
    check_model_block(ops, bo, label, tol, TFR_RESNET_BOTTLENECK);
    char basic[128];
    snprintf(basic, sizeof basic, "%s, basic blocks", label);
    check_model_block(ops, bo, basic, tol, TFR_RESNET_BASIC);
}

/* ---- tfrecord-train's loop on the device ---- */


static double last_val_accuracy(const char *logdir)
{
    char p[800], line[512], last[512] = "";
    snprintf(p, sizeof p, "%s/history.csv", logdir);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        memcpy(last, line, sizeof line);
    fclose(f);
    char *t = last;
    for (int i = 0; i < 6 && t; i++)
        t = strchr(t, ',') ? strchr(t, ',') + 1 : NULL;
    return t ? atof(t) : -1;
}

/* The training driver with the model on `ops` (standing in for CUDA): it
 * learns; a run stopped after epoch 1 and resumed reproduces the losses
 * (bit for bit when `exact`); its checkpoint evaluates on the CPU to the
 * validation accuracy the device reported. */
/* the emulated CUDA backend, with a log of the flips each staged batch carries */
static tfr_ops rec_ops;
static uint8_t rec_flips[4096];
static size_t  rec_n;
static tfr_status rec_stage_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                               const uint8_t *flip, tfr_error *e)
{
    for (int i = 0; i < n && rec_n < sizeof rec_flips; i++)
        rec_flips[rec_n++] = flip ? flip[i] : 0;
    return emu_ops.stage_u8(b, n, c, h, w, x, flip, e);
}

/* per-step losses of a run (steps.csv); returns how many */
static int read_losses(const char *logdir, double *loss, int max)
{
    char p[800], line[256];
    snprintf(p, sizeof p, "%s/steps.csv", logdir);
    FILE *f = fopen(p, "r");
    int n = 0;
    if (!f)
        return 0;
    while (n < max && fgets(line, sizeof line, f)) {
        unsigned long long step, epoch;
        char hex[64];
        if (sscanf(line, "%llu,%llu,%63[^,],%lf", &step, &epoch, hex, &loss[n]) == 4)
            n++;
    }
    fclose(f);
    return n;
}

/*
 * One seed, one set of images: the CPU path (the stream flips) and the
 * emulated CUDA path (the stream's flip bits applied on the device) flip
 * exactly the same images. The bits the device gets are the stream's, and
 * both runs' losses agree to the emulation's rounding; before the stream
 * drew every flip, the device drew its own and trained on other images.
 */
static void check_same_images(void)
{
    const char *dir = test_tmpdir("nn_cuda_same");
    char tr[700], la[700], lb[700];
    snprintf(tr, sizeof tr, "%s/train.tfrecord.gz", dir);
    snprintf(la, sizeof la, "%s/cpu", dir);
    snprintf(lb, sizeof lb, "%s/dev", dir);
    test_write_colour_shard(tr, 160, 11);
    const char *train[] = {tr};
    tfr_train_opts o;
    tfr_train_opts_init(&o);
    o.train = train;
    o.ntrain = 1;
    EXPECT_OK(tfr_resnet_preset("tiny", &o.cfg, &err), &err);
    o.epochs = 2;
    o.batch = 16;
    o.lr = 0.05f;
    o.flip = 1;
    o.pad_crop = 1;
    o.seed = 9;
    o.threads = 2;
    o.quiet = 1;
    o.progress = 0;
    o.logdir = la;
    EXPECT_OK(tfr_train(&o, &err), &err);
    rec_ops = emu_ops;
    rec_ops.stage_u8 = rec_stage_u8;
    rec_n = 0;
    tfr_ops_cuda_stand_in(&rec_ops);
    o.device.kind = TFR_DEVICE_CUDA;
    o.device.precision = TFR_PRECISION_FP32;
    o.logdir = lb;
    EXPECT_OK(tfr_train(&o, &err), &err);
    tfr_ops_cuda_stand_in(NULL);
    /* the flips the stream draws for these options, epoch by epoch */
    uint8_t want[4096];
    size_t nwant = 0;
    int flipped = 0;
    for (int e = 0; e < o.epochs; e++) {
        tfr_stream_opts so;
        tfr_stream_opts_init(&so);
        so.sources = train;
        so.nsources = 1;
        so.batch_size = o.batch;
        so.threads = 3;
        so.width = so.height = 8;
        so.channels = 3;
        so.seed = o.seed;
        so.start_epoch = (uint64_t)e;
        so.epochs = e + 1;
        so.shuffle_buffer = o.shuffle_buffer;
        so.random_flip = 1;
        so.pad_crop = 1;
        tfr_stream *st;
        EXPECT_OK(tfr_stream_open(&so, &st, &err), &err);
        const tfr_batch *b;
        while (st && tfr_stream_next(st, &b, &err) == TFR_OK)
            for (int i = 0; i < b->n && nwant < sizeof want; i++) {
                want[nwant++] = b->flips[i];
                flipped += b->flips[i];
            }
        tfr_stream_close(st);
    }
    EXPECT(nwant == 320 && flipped > 100 && flipped < 220);
    if (rec_n != nwant || memcmp(rec_flips, want, nwant))
        FAILF("the device got other flips than the stream drew (%zu and %zu images)", rec_n,
              nwant);
    double lcpu[64], ldev[64];
    int na = read_losses(la, lcpu, 64), nb = read_losses(lb, ldev, 64);
    EXPECT(na == 20 && nb == na);
    for (int i = 0; i < na && i < nb; i++)
        if (fabs(lcpu[i] - ldev[i]) > 1e-4 * fabs(lcpu[i]) + 1e-6) {
            FAILF("step %d: CPU loss %.7f, device loss %.7f: not the same images", i + 1, lcpu[i],
                  ldev[i]);
            break;
        }
    test_rmtree(dir);
}

/* tfr_train options of the small runs below: the tiny preset, batch 16,
 * on the (stood-in) CUDA device in fp32, quiet */
static void tiny_opts(tfr_train_opts *o, const char *const *train, int ntrain,
                      const char *const *val, int epochs, uint64_t seed, const char *logdir)
{
    tfr_train_opts_init(o);
    o->train = train;
    o->ntrain = ntrain;
    o->val = val;
    o->nval = val ? 1 : 0;
    EXPECT_OK(tfr_resnet_preset("tiny", &o->cfg, &err), &err);
    o->epochs = epochs;
    o->batch = 16;
    o->lr = 0.05f;
    o->seed = seed;
    o->threads = 2;
    o->quiet = 1;
    o->progress = 0;
    o->device.kind = TFR_DEVICE_CUDA;
    o->device.precision = TFR_PRECISION_FP32;
    o->logdir = logdir;
}

/*
 * Host waits on the device path: a training step and an evaluation batch
 * each wait once, for the loss and the logits together (loss_logits), not
 * once for the loss and again for the logits. Counted on the emulated
 * backend, whose waits are its loss-returning softmax_ce, act_to_host and
 * loss_logits; and the same run without loss_logits (the two separate
 * waits) gives the same losses and accuracies to the bit.
 */
static int w_ll, w_ce, w_act;
static tfr_status cnt_softmax_ce(tfr_backend *b, int n, int k, const float *logits,
                                 const int32_t *labels, float smooth, float *dlogits, float *loss,
                                 tfr_error *e)
{
    w_ce += loss != NULL;
    return emu_softmax_ce(b, n, k, logits, labels, smooth, dlogits, loss, e);
}
static tfr_status cnt_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                  float *host, tfr_error *e)
{
    w_act++;
    return emu_act_to_host(b, n, c, h, w, x, host, e);
}
static tfr_status cnt_loss_logits(tfr_backend *b, int n, int k, const float *logits,
                                  const int32_t *labels, float *loss, float *host, tfr_error *e)
{
    w_ll++;
    return emu_loss_logits(b, n, k, logits, labels, loss, host, e);
}

static void check_one_wait(void)
{
    const char *dir = test_tmpdir("nn_cuda_wait");
    char tr[700], va[700], la[700], lb[700];
    snprintf(tr, sizeof tr, "%s/train.tfrecord.gz", dir);
    snprintf(va, sizeof va, "%s/val.tfrecord.gz", dir);
    snprintf(la, sizeof la, "%s/a", dir);
    snprintf(lb, sizeof lb, "%s/b", dir);
    test_write_colour_shard(tr, 100, 4); /* 7 batches of 16 an epoch, the last of 4 */
    test_write_colour_shard(va, 40, 5);  /* 3 batches of 16 */
    const char *train[] = {tr}, *val[] = {va};
    static tfr_ops cnt_ops;
    cnt_ops = emu_ops;
    cnt_ops.softmax_ce = cnt_softmax_ce;
    cnt_ops.act_to_host = cnt_act_to_host;
    cnt_ops.loss_logits = cnt_loss_logits;
    tfr_ops_cuda_stand_in(&cnt_ops);
    tfr_train_opts o;
    tiny_opts(&o, train, 1, val, 2, 3, la);
    w_ll = w_ce = w_act = 0;
    EXPECT_OK(tfr_train(&o, &err), &err);
    /* 14 steps; 3 evaluations (the untrained baseline, 2 epochs) of 3 batches */
    EXPECT_EQ_I(w_ll, 14 + 3 * 3);
    EXPECT_EQ_I(w_ce, 0);
    EXPECT_EQ_I(w_act, 0);
    cnt_ops.loss_logits = NULL;
    o.logdir = lb;
    w_ll = w_ce = w_act = 0;
    EXPECT_OK(tfr_train(&o, &err), &err);
    EXPECT_EQ_I(w_ll, 0);
    EXPECT_EQ_I(w_ce, 14 + 3 * 3);
    EXPECT_EQ_I(w_act, 14 + 3 * 3);
    tfr_ops_cuda_stand_in(NULL);
    char pa[800], pb[800];
    snprintf(pa, sizeof pa, "%s/steps.csv", la);
    snprintf(pb, sizeof pb, "%s/steps.csv", lb);
    size_t na = 0, nb = 0;
    uint8_t *sa = test_read_file(pa, &na), *sb = test_read_file(pb, &nb);
    EXPECT(sa && sb && na > 100);
    if (sa && sb && (na != nb || memcmp(sa, sb, na)))
        FAILF("one wait: the step losses differ from the two-wait run's");
    free(sa);
    free(sb);
    double acc_a = last_val_accuracy(la), acc_b = last_val_accuracy(lb);
    if (acc_a != acc_b)
        FAILF("one wait: validation accuracy %.6f, two waits %.6f", acc_a, acc_b);
    test_rmtree(dir);
}

/*
 * GPU ranks, two threads on the emulated device: each rank on its own GPU
 * (cuda:local_rank when the device is not named; cuda:0 with one visible
 * device or when cuda:0 is named), and the gradient and batch-norm means
 * taken on the device (mean_dev_f32, as NCCL's all-reduce) give, bit for
 * bit, the steps of the host sums (the model's host copies over the comm)
 * and of --replicas 2 in one process.
 */
static char rank_dev[3][64];
static void record_device(void *user, const tfr_train_event *ev)
{
    if (ev->kind == TFR_TRAIN_MODEL)
        snprintf(rank_dev[*(int *)user], sizeof rank_dev[0], "%s", tfr_model_device(ev->model));
}

static void gpu_rank_opts(tfr_train_opts *o, const char *const *train, const char *const *val,
                          const char *device, const char *logdir, int *who)
{
    tiny_opts(o, train, 1, val, 2, 4, logdir);
    o->threads = 1;
    o->flip = 1;
    EXPECT_OK(tfr_device_parse(device, &o->device, &err), &err);
    o->device.precision = TFR_PRECISION_FP32;
    static char ck[16][800];
    static int nck;
    if (logdir) {
        char *p = ck[nck++ % 16];
        snprintf(p, sizeof ck[0], "%s/ck", logdir);
        o->checkpoint_dir = p;
    }
    o->on_event = record_device;
    o->user = who;
}

static void check_gpu_ranks(void)
{
    const char *dir = test_tmpdir("nn_cuda_ranks");
    char tr[700], va[700], ld[700], lh[700], lr[700], lb[700];
    snprintf(tr, sizeof tr, "%s/train.tfrecord.gz", dir);
    snprintf(va, sizeof va, "%s/val.tfrecord.gz", dir);
    snprintf(ld, sizeof ld, "%s/dev", dir);
    snprintf(lh, sizeof lh, "%s/host", dir);
    snprintf(lr, sizeof lr, "%s/replicas", dir);
    snprintf(lb, sizeof lb, "%s/buckets", dir);
    test_write_colour_shard(tr, 96, 7);
    test_write_colour_shard(va, 41, 8);
    const char *train[] = {tr}, *val[] = {va};
    static int who[3] = {0, 1, 2};
    tfr_ops_cuda_stand_in(&emu_ops);
    tfr_train_opts o[3];
    tfr_status st[2];
    tfr_error errs[2];
    /* the means on the device */
    for (int k = 0; k < 2; k++)
        gpu_rank_opts(&o[k], train, val, "cuda", ld, &who[k]);
    test_comm *c = test_comm_new(2, 1);
    test_comm_train(c, o, st, errs);
    EXPECT_OK(st[0], &errs[0]);
    EXPECT_OK(st[1], &errs[1]);
    EXPECT_EQ_I(test_comm_dev_calls(c, 0), 2 * 6); /* 2 epochs of 96 / 16 steps */
    EXPECT_EQ_I(test_comm_dev_calls(c, 1), 2 * 6);
    EXPECT_STR(rank_dev[0], "cuda:0 emulated on the host");
    EXPECT_STR(rank_dev[1], "cuda:1 emulated on the host");
    test_comm_free(c);
    /* the host sums */
    for (int k = 0; k < 2; k++)
        gpu_rank_opts(&o[k], train, val, "cuda", lh, &who[k]);
    c = test_comm_new(2, 0);
    test_comm_train(c, o, st, errs);
    EXPECT_OK(st[0], &errs[0]);
    EXPECT_OK(st[1], &errs[1]);
    EXPECT_EQ_I(test_comm_dev_calls(c, 0), 0);
    test_comm_free(c);
    /* buckets of >= 512 floats averaged during the backward pass, the rest after */
    for (int k = 0; k < 2; k++)
        gpu_rank_opts(&o[k], train, val, "cuda", lb, &who[k]);
    c = test_comm_new(2, 1);
    test_comm_buckets(c, 512);
    test_comm_train(c, o, st, errs);
    EXPECT_OK(st[0], &errs[0]);
    EXPECT_OK(st[1], &errs[1]);
    EXPECT_EQ_I(test_comm_dev_calls(c, 0), 2 * 6);
    const int nb = test_comm_bucket_calls(c, 0);
    if (nb < 2 * 2 * 6) /* the tiny model has 1,3xx parameters: several buckets a step */
        FAILF("GPU ranks: %d gradient buckets in 12 steps", nb);
    EXPECT_EQ_I(test_comm_bucket_calls(c, 1), nb);
    printf("GPU ranks: %d gradient buckets of >= 512 floats in 12 steps\n", nb);
    test_comm_free(c);
    /* one process, two replicas */
    gpu_rank_opts(&o[2], train, val, "cuda", lr, &who[2]);
    o[2].replicas = 2;
    EXPECT_OK(tfr_train(&o[2], &err), &err);
    /* the logged losses: rank 0's (a replica run logs its last replica's) */
    char pd[800], ph[800];
    snprintf(pd, sizeof pd, "%s/steps.csv", ld);
    snprintf(ph, sizeof ph, "%s/steps.csv", lh);
    size_t nd = 0, nh = 0;
    uint8_t *sd = test_read_file(pd, &nd), *sh = test_read_file(ph, &nh);
    EXPECT(sd && sh && nd > 100);
    if (sd && sh && (nd != nh || memcmp(sd, sh, nd)))
        FAILF("GPU ranks: the device means and the host sums took different steps");
    free(sd);
    free(sh);
    /* the trained models, bit for bit */
    const char *runs[4] = {ld, lh, lr, lb};
    uint8_t *ck[4];
    size_t nck[4];
    for (int k = 0; k < 4; k++) {
        char p[800];
        snprintf(p, sizeof p, "%s/ck/epoch-0002.tfrc", runs[k]);
        ck[k] = test_read_file(p, &nck[k]);
        EXPECT(ck[k] != NULL);
    }
    if (ck[0] && ck[1] && (nck[0] != nck[1] || memcmp(ck[0], ck[1], nck[0])))
        FAILF("GPU ranks: the device means and the host sums trained different models");
    if (ck[0] && ck[2] && (nck[0] != nck[2] || memcmp(ck[0], ck[2], nck[0])))
        FAILF("GPU ranks: 2 ranks and --replicas 2 trained different models");
    if (ck[0] && ck[3] && (nck[0] != nck[3] || memcmp(ck[0], ck[3], nck[0])))
        FAILF("GPU ranks: the gradient buckets trained another model");
    for (int k = 0; k < 4; k++)
        free(ck[k]);
    /* one device visible to each rank (CUDA_VISIBLE_DEVICES by the
     * launcher): both on cuda:0; and a named cuda:0 stays cuda:0 */
    for (int pass = 0; pass < 2; pass++) {
        emu_devices = pass == 0 ? 1 : 2;
        for (int k = 0; k < 2; k++) {
            gpu_rank_opts(&o[k], train, NULL, pass == 0 ? "cuda" : "cuda:0", NULL, &who[k]);
            o[k].nval = 0;
            o[k].epochs = 1;
        }
        c = test_comm_new(2, 1);
        test_comm_train(c, o, st, errs);
        EXPECT_OK(st[0], &errs[0]);
        EXPECT_OK(st[1], &errs[1]);
        EXPECT_STR(rank_dev[0], "cuda:0 emulated on the host");
        EXPECT_STR(rank_dev[1], "cuda:0 emulated on the host");
        test_comm_free(c);
    }
    emu_devices = 2;
    tfr_ops_cuda_stand_in(NULL);
    test_rmtree(dir);
}

static void check_train_loop(const tfr_ops *ops, tfr_precision prec, const char *label,
                             int exact, double acc_tol)
{
    const char *dir = test_tmpdir("nn_cuda_train");
    char tr0[700], tr1[700], va[700], la[700], lb[700], ca[700], cb2[700];
    snprintf(tr0, sizeof tr0, "%s/train-00000-of-00002.tfrecord.gz", dir);
    snprintf(tr1, sizeof tr1, "%s/train-00001-of-00002.tfrecord.gz", dir);
    snprintf(va, sizeof va, "%s/val.tfrecord.gz", dir);
    snprintf(la, sizeof la, "%s/a", dir);
    snprintf(lb, sizeof lb, "%s/b", dir);
    snprintf(ca, sizeof ca, "%s/a/ck", dir);
    snprintf(cb2, sizeof cb2, "%s/b/ck", dir);
    test_write_colour_shard(tr0, 200, 1);
    test_write_colour_shard(tr1, 184, 2);
    test_write_colour_shard(va, 96, 3);
    const char *train[] = {tr0, tr1}, *val[] = {va};
    tfr_ops_cuda_stand_in(ops);
    tfr_train_opts o;
    tiny_opts(&o, train, 2, val, 4, 5, la);
    o.flip = 1;
    o.pad_crop = 1;
    o.device.precision = prec;
    o.checkpoint_dir = ca;
    EXPECT_OK(tfr_train(&o, &err), &err);
    double acc = last_val_accuracy(la);
    if (!(acc > 0.6))
        FAILF("%s: validation accuracy %.3f after 4 epochs (chance 0.25)", label, acc);
    /* stopped after one epoch, resumed to four */
    o.logdir = lb;
    o.checkpoint_dir = cb2;
    o.epochs = 1;
    EXPECT_OK(tfr_train(&o, &err), &err);
    o.epochs = 4;
    o.resume = cb2;
    EXPECT_OK(tfr_train(&o, &err), &err);
    char pa[800], pb[800];
    snprintf(pa, sizeof pa, "%s/steps.csv", la);
    snprintf(pb, sizeof pb, "%s/steps.csv", lb);
    size_t na, nb;
    uint8_t *sa = test_read_file(pa, &na), *sb = test_read_file(pb, &nb);
    EXPECT(sa && sb && na > 100);
    if (exact && sa && sb && (na != nb || memcmp(sa, sb, na)))
        FAILF("%s: the resumed run's losses differ from the uninterrupted run's", label);
    free(sa);
    free(sb);
    tfr_ops_cuda_stand_in(NULL);
    /* the device's checkpoint on the CPU */
    char ck[800];
    snprintf(ck, sizeof ck, "%s/epoch-0004.tfrc", ca);
    tfr_model *m;
    tfr_train_state ts;
    EXPECT_OK(tfr_checkpoint_load(ck, &m, &ts, &err), &err);
    tfr_eval_result r;
    EXPECT_OK(tfr_evaluate(m, val, 1, 16, 2, o.mean, o.std, &r, &err), &err);
    printf("%s: tfr_train, 4 epochs: validation accuracy %.4f; its checkpoint on the CPU %.4f\n",
           label, acc, r.accuracy);
    if (fabs(r.accuracy - acc) > acc_tol)
        FAILF("%s: validation accuracy %.4f on the device, %.4f for its checkpoint on the CPU",
              label, acc, r.accuracy);
    tfr_eval_result_free(&r);
    tfr_model_free(m);
    test_rmtree(dir);
}


/* ---- host logic of the CUDA backend that needs no GPU ---- */

/* the algorithm choice (nn/cuda/conv_pick.h) on stand-ins for cuDNN's rows:
 * one row per (algorithm, math type), fastest first */
static void check_conv_pick(void)
{
    const size_t MB = 1 << 20;
    const tfr_conv_row rows[] = {
        {1, 1, TFR_CONV_MATH_DEFAULT, 1, 2 * MB},   /* TF32 on sm_80+: not for fp32 */
        {1, 1, TFR_CONV_MATH_TENSOR_OP, 0, 3 * MB}, /* nondeterministic */
        {6, 0, TFR_CONV_MATH_FMA, 1, 0},            /* failed */
        {0, 1, TFR_CONV_MATH_FMA, 0, 900 * MB},     /* over a 256 MiB limit */
        {2, 1, TFR_CONV_MATH_FMA, 1, 4 * MB},
        {5, 1, TFR_CONV_MATH_FMA, 1, 0},
    };
    const int n = (int)(sizeof rows / sizeof *rows);
    /* tf32 / bf16: the fastest row that ran and fits, with its math type */
    int i = tfr_conv_pick(rows, n, 256 * MB, 0, 0);
    EXPECT_EQ_I(i, 0);
    EXPECT_EQ_I(rows[i].math, TFR_CONV_MATH_DEFAULT);
    /* fp32: FMA rows only; the failed and the oversized ones skipped */
    i = tfr_conv_pick(rows, n, 256 * MB, 1, 0);
    EXPECT_EQ_I(i, 4);
    EXPECT_EQ_I(rows[i].algo, 2);
    /* a limit of 1 MiB leaves the zero-workspace row */
    EXPECT_EQ_I(tfr_conv_pick(rows, n, MB, 1, 0), 5);
    EXPECT_EQ_I(tfr_conv_pick(rows, n, MB, 0, 0), 5);
    /* deterministic only */
    EXPECT_EQ_I(tfr_conv_pick(rows, n, 256 * MB, 0, 1), 0);
    EXPECT_EQ_I(tfr_conv_pick(rows + 1, n - 1, 256 * MB, 0, 1), 3); /* rows[4] */
    /* nothing qualifies: -1, never a row of another math type */
    const tfr_conv_row none[] = {{1, 1, TFR_CONV_MATH_TENSOR_OP, 1, 0},
                                 {2, 1, TFR_CONV_MATH_DEFAULT, 1, 0}};
    EXPECT_EQ_I(tfr_conv_pick(none, 2, 256 * MB, 1, 0), -1);
    EXPECT_EQ_I(tfr_conv_pick(none, 0, 256 * MB, 0, 0), -1);
}

/*
 * The choice of one direction (tfr_conv_choose) over a stand-in for cuDNN:
 * measured rows first, the ranking when none qualifies, and in bf16 mode
 * the fp32 rows when cuDNN has no bf16 algorithm (as for C = 1 or 3 in
 * NHWC): that direction then runs in fp32, never fails.
 */
typedef struct fake_dnn {
    int          calls, measured_calls, f32_calls;
    int          status;          /* returned by every query */
    tfr_conv_row meas[2][4], rank[2][4]; /* [f32] rows */
    int          nmeas[2], nrank[2];
} fake_dnn;

static int fake_query(void *ctx, int measure, int f32, tfr_conv_row *rows, int cap, int *got)
{
    fake_dnn *f = ctx;
    f->calls++;
    f->measured_calls += measure;
    f->f32_calls += f32;
    int n = measure ? f->nmeas[f32] : f->nrank[f32];
    if (n > cap)
        n = cap;
    memcpy(rows, measure ? f->meas[f32] : f->rank[f32], (size_t)n * sizeof *rows);
    *got = n;
    return f->status;
}

static void check_conv_choose(void)
{
    const size_t MB = 1 << 20;
    const tfr_conv_row bf_row = {7, 1, TFR_CONV_MATH_TENSOR_OP, 1, MB},
                       big = {4, 1, TFR_CONV_MATH_TENSOR_OP, 1, 900 * MB},
                       f32_row = {1, 1, TFR_CONV_MATH_DEFAULT, 1, 0},
                       fma_row = {2, 1, TFR_CONV_MATH_FMA, 1, 0};
    tfr_conv_pick_result r;
    /* bf16: a measured bf16 row wins, nothing else is asked */
    fake_dnn f = {0};
    f.meas[0][0] = bf_row;
    f.nmeas[0] = 1;
    f.meas[1][0] = f32_row;
    f.nmeas[1] = 1;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 0, 256 * MB, 0, 1, &r), 0);
    EXPECT_EQ_I(r.row.algo, 7);
    EXPECT_EQ_I(r.f32, 0);
    EXPECT_EQ_I(r.measured, 1);
    EXPECT_EQ_I(f.calls, 1);
    /* the measured bf16 row over the workspace limit: cuDNN's ranked bf16 row */
    memset(&f, 0, sizeof f);
    f.meas[0][0] = big;
    f.nmeas[0] = 1;
    f.rank[0][0] = bf_row;
    f.nrank[0] = 1;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 0, 256 * MB, 0, 1, &r), 0);
    EXPECT_EQ_I(r.row.algo, 7);
    EXPECT_EQ_I(r.measured, 0);
    EXPECT_EQ_I(r.f32, 0);
    EXPECT_EQ_I(f.f32_calls, 0);
    /* no bf16 algorithm at all (cuDNN answers NOT_SUPPORTED, 9): fp32 rows */
    memset(&f, 0, sizeof f);
    f.meas[1][0] = big;
    f.meas[1][1] = f32_row;
    f.nmeas[1] = 2;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 0, 256 * MB, 0, 1, &r), 0);
    EXPECT_EQ_I(r.row.algo, 1);
    EXPECT_EQ_I(r.row.math, TFR_CONV_MATH_DEFAULT);
    EXPECT_EQ_I(r.f32, 1);
    EXPECT_EQ_I(r.measured, 1);
    EXPECT_EQ_I(f.calls, 3); /* bf16 measured, bf16 ranked, fp32 measured */
    /* a second batch size (heuristic): never measured, in either type */
    f.calls = f.measured_calls = 0;
    f.rank[1][0] = f32_row;
    f.nrank[1] = 1;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 1, 256 * MB, 0, 1, &r), 0);
    EXPECT_EQ_I(f.measured_calls, 0);
    EXPECT_EQ_I(r.f32, 1);
    EXPECT_EQ_I(r.measured, 0);
    /* fp32 mode: asks for fp32 rows only, FMA math only; nothing: -1 with
     * cuDNN's status */
    memset(&f, 0, sizeof f);
    f.meas[1][0] = f32_row;
    f.meas[1][1] = fma_row;
    f.nmeas[1] = 2;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 0, 256 * MB, 1, 0, &r), 0);
    EXPECT_EQ_I(r.row.algo, 2);
    EXPECT_EQ_I(r.f32, 0); /* not a fallback: the mode is fp32 */
    EXPECT_EQ_I(f.f32_calls, f.calls);
    memset(&f, 0, sizeof f);
    f.status = 9;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 0, 256 * MB, 1, 0, &r), -1);
    EXPECT_EQ_I(r.status, 9);
    EXPECT_EQ_I(f.calls, 2); /* measured, ranked: no fp32 "fallback" in fp32 mode */
    /* bf16 mode, nothing in either type: -1 after all four queries */
    f.calls = 0;
    EXPECT_EQ_I(tfr_conv_choose(fake_query, &f, 0, 256 * MB, 0, 1, &r), -1);
    EXPECT_EQ_I(f.calls, 4);
}

/*
 * The bf16 filter copies (wcache.h): one conversion per change of a filter.
 * A step's forward and backward share it; zeroing the gradient block (not
 * the filters) keeps it; the SGD update over the parameter block, an
 * upload into one filter, or a release makes it stale - only the filters
 * the write overlaps, to the byte.
 */
static void check_wcache(void)
{
    static float params[300];
    tfr_wcache c = {0};
    const float *w0 = params, *w1 = params + 100, *w2 = params + 250;
    int fresh = -1;
    tfr_wcache_entry *e = tfr_wcache_get(&c, w0, 100, &fresh);
    EXPECT(e && fresh == 0);
    e->valid = 1; /* converted */
    e = tfr_wcache_get(&c, w1, 150, &fresh);
    EXPECT(e && fresh == 0);
    e->valid = 1;
    e = tfr_wcache_get(&c, w2, 50, &fresh);
    e->valid = 1;
    EXPECT_EQ_I(c.n, 3);
    tfr_wcache_get(&c, w0, 100, &fresh); /* the backward pass: the same copy */
    EXPECT_EQ_I(fresh, 1);
    static float grads[300];
    tfr_wcache_written(&c, grads, sizeof grads); /* zeroing the gradients */
    tfr_wcache_get(&c, w1, 150, &fresh);
    EXPECT_EQ_I(fresh, 1);
    /* bytes just before w1 and just after it: w1 untouched, w0 and w2 stale */
    tfr_wcache_written(&c, params + 99, sizeof(float));
    tfr_wcache_written(&c, params + 250, sizeof(float));
    tfr_wcache_get(&c, w1, 150, &fresh);
    EXPECT_EQ_I(fresh, 1);
    tfr_wcache_get(&c, w0, 100, &fresh);
    EXPECT_EQ_I(fresh, 0);
    tfr_wcache_get(&c, w2, 50, &fresh);
    EXPECT_EQ_I(fresh, 0);
    /* the SGD step over the whole block */
    for (int i = 0; i < c.n; i++)
        c.e[i].valid = 1;
    tfr_wcache_written(&c, params, sizeof params);
    for (int i = 0; i < c.n; i++)
        EXPECT_EQ_I(c.e[i].valid, 0);
    /* a release forgets everything; a new count at an address is a new filter */
    for (int i = 0; i < c.n; i++)
        c.e[i].valid = 1;
    tfr_wcache_forget(&c);
    tfr_wcache_get(&c, w1, 150, &fresh);
    EXPECT_EQ_I(fresh, 0);
    c.e[1].valid = 1;
    tfr_wcache_get(&c, w1, 149, &fresh);
    EXPECT_EQ_I(fresh, 0);
    EXPECT_EQ_I(c.n, 3);
    /* many filters: the table grows and keeps every entry */
    for (int i = 0; i < 200; i++)
        EXPECT(tfr_wcache_get(&c, (const char *)params + 7 * i + 3, 1, &fresh) != NULL);
    EXPECT_EQ_I(c.n, 203);
    free(c.e);
    /* the fallback's conversions (ew_convert), through bf16 and back */
    float src[4] = {1.0f, -3.140625f, 1e-3f, 65504.0f}, back[4];
    uint16_t mid[4];
    EACH(4) ew_convert(i, src, 0, mid, 1);
    EACH(4) ew_convert(i, mid, 1, back, 0);
    EACH(4) {
        EXPECT_EQ_I(mid[i], ew_f32_to_bf16(src[i]));
        EXPECT(back[i] == ew_bf16_to_f32(ew_f32_to_bf16(src[i])));
    }
    EXPECT(back[0] == 1.0f && back[1] == -3.140625f);
}

/*
 * Max-pool indices past 2^31 elements (a homework-preset batch of 8192 in
 * bf16 is 2^31 + ... elements): the forward and backward kernel bodies on
 * sparse mappings of more than 4 GiB, at the last window. An int32 offset
 * into the whole tensor wrapped there and the backward pass wrote out of
 * bounds.
 */
static void *sparse_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void check_pool_past_int32(void)
{
    const int c = 8, h = 2, w = 2;
    const size_t n = ((size_t)1 << 31) / ((size_t)c * h * w) + 64; /* images */
    const size_t cnt = n * c * h * w, outs = n * c;
    uint16_t *x = sparse_map(cnt * 2), *dx = sparse_map(cnt * 2), *y = sparse_map(outs * 2),
             *dy = sparse_map(outs * 2);
    int32_t *idx = sparse_map(outs * 4);
    if (!x || !dx || !y || !dy || !idx) {
        printf("pool past 2^31: no sparse mappings of %zu bytes here, not checked\n", cnt * 2);
    } else {
        /* the last image: channel ch's maximum at window place ch % 4 */
        const size_t img = (n - 1) * (size_t)c * h * w;
        for (int ch = 0; ch < c; ch++) {
            int a = (ch % 4) >> 1, b = ch & 1;
            x[img + ((size_t)a * w + b) * c + ch] = ew_f32_to_bf16(1.0f + ch);
            dy[outs - c + ch] = ew_f32_to_bf16(0.5f + ch);
        }
        for (int ch = 0; ch < c; ch++) {
            size_t i = outs - c + ch;
            int a = (ch % 4) >> 1, b = ch & 1;
            ew_pool_fwd(i, c, h, w, x, y, idx, 1);
            EXPECT(ew_bf16_to_f32(y[i]) == 1.0f + ch);
            ew_pool_bwd(i, c, h, w, idx, dy, dx, 1);
            EXPECT(ew_bf16_to_f32(dx[img + ((size_t)a * w + b) * c + ch]) == 0.5f + ch);
        }
    }
    if (x)
        munmap(x, cnt * 2);
    if (dx)
        munmap(dx, cnt * 2);
    if (y)
        munmap(y, outs * 2);
    if (dy)
        munmap(dy, outs * 2);
    if (idx)
        munmap(idx, outs * 4);
}

/* bf16 training batch norm's statistics kernels on a channel whose mean is
 * far above its spread, against the same statistics in double */
static void check_bn_shifted(void)
{
    const int c = 3;
    const size_t rows = 128 * 40 + 17, chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    const double means[3] = {1000.0, 0.0, -37.5}, sds[3] = {1.0, 1.0, 0.01};
    float *x = malloc(rows * c * sizeof *x), *p0 = malloc(chunks * c * sizeof *p0),
          *p1 = malloc(chunks * c * sizeof *p1);
    for (size_t r = 0; r < rows; r++)
        for (int ch = 0; ch < c; ch++)
            x[r * c + ch] = (float)(means[ch] + sds[ch] * frand() * 1.7320508);
    float mean[3], invstd[3], rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1};
    EACH(chunks * c) ew_bn_part(i, c, rows, x, NULL, NULL, NULL, p0, p1, 0);
    EACH(c) ew_bn_stats(i, c, rows, p0, p1, 1e-5f, 0.1f, mean, invstd, rm, rv);
    for (int ch = 0; ch < c; ch++) {
        double s = 0, sq = 0;
        for (size_t r = 0; r < rows; r++)
            s += x[r * c + ch];
        double mu = s / (double)rows;
        for (size_t r = 0; r < rows; r++)
            sq += (x[r * c + ch] - mu) * (x[r * c + ch] - mu);
        double var = sq / (double)rows, want = 1.0 / sqrt(var + 1e-5);
        if (fabs(mean[ch] - mu) > 1e-6 * (fabs(mu) + 1) || fabs(invstd[ch] - want) > 1e-4 * want)
            FAILF("bn statistics, channel of mean %g std %g: mean %.9g invstd %.7g, want %.9g %.7g",
                  means[ch], sds[ch], mean[ch], invstd[ch], mu, want);
    }
    free(x);
    free(p0);
    free(p1);
}

/* one staged batch: another batch, or a second stage, would replace it */
static void check_staged(void)
{
    tfr_resnet_config tiny;
    tfr_model *m;
    EXPECT_OK(tfr_resnet_preset("tiny", &tiny, &err), &err);
    EXPECT_OK(tfr_model_new(&tiny, 1, &m, &err), &err);
    EXPECT_OK(tfr_model_set_backend(m, &emu_ops, NULL, &err), &err);
    uint8_t x[2 * 8 * 8 * 3];
    test_fill_random(x, sizeof x, 3);
    int32_t lab[2] = {0, 1};
    float loss;
    EXPECT_OK(tfr_model_stage_u8(m, x, 2, NULL, &err), &err);
    EXPECT_STATUS(tfr_model_stage_u8(m, x, 2, NULL, &err), TFR_ERR_ARG);
    EXPECT_STATUS(tfr_model_forward_u8(m, x, 2, NULL, 0.5f, 0.25f, lab, 1, &loss, &err),
                  TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "staged");
    EXPECT_STATUS(tfr_model_forward_u8(m, NULL, 1, NULL, 0.5f, 0.25f, lab, 1, &loss, &err),
                  TFR_ERR_ARG);
    EXPECT_OK(tfr_model_forward_u8(m, NULL, 2, NULL, 0.5f, 0.25f, lab, 1, &loss, &err), &err);
    /* consumed: a direct batch is fine again, a staged run is not */
    EXPECT_OK(tfr_model_forward_u8(m, x, 2, NULL, 0.5f, 0.25f, lab, 1, &loss, &err), &err);
    EXPECT_STATUS(tfr_model_forward_u8(m, NULL, 2, NULL, 0.5f, 0.25f, lab, 1, &loss, &err),
                  TFR_ERR_ARG);
    tfr_model_free(m);
}

/* a model moved from device 0 to device 1 allocates on device 1 (and frees
 * on device 0) */
static void check_move_device(void)
{
    tfr_resnet_config tiny;
    tfr_model *m;
    EXPECT_OK(tfr_resnet_preset("tiny", &tiny, &err), &err);
    EXPECT_OK(tfr_model_new(&tiny, 1, &m, &err), &err);
    tfr_backend_opts d0 = {0, TFR_MATH_TF32, 0}, d1 = {1, TFR_MATH_TF32, 0};
    float x[2 * 3 * 8 * 8], loss;
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = frand();
    int32_t lab[2] = {0, 1};
    emu_foreign = 0;
    EXPECT_OK(tfr_model_set_backend(m, &emu_ops, &d0, &err), &err);
    EXPECT_OK(tfr_model_forward(m, x, 2, lab, 1, &loss, &err), &err);
    EXPECT_OK(tfr_model_set_backend(m, &emu_ops, &d1, &err), &err);
    EXPECT_OK(tfr_model_forward(m, x, 2, lab, 1, &loss, &err), &err);
    EXPECT_OK(tfr_model_set_backend(m, &emu_ops, &d0, &err), &err);
    if (emu_foreign)
        FAILF("moving a model between devices: %d allocations or frees on the wrong device",
              emu_foreign);
    tfr_model_free(m);
}

int main(void)
{
    tfr_error_clear(&err);
    cpu = tfr_ops_cpu();
    EXPECT_OK(cpu->create(NULL, &cb, &err), &err);
    check_conv_pick();
    check_conv_choose();
    check_wcache();
    check_pool_past_int32();
    check_bn_shifted();
    check_staged();
    check_move_device();

    /* the harness, with the CPU backend as the device: exact agreement */
    tfr_backend *self;
    EXPECT_OK(cpu->create(NULL, &self, &err), &err);
    dev d0 = {cpu, self, "cpu-as-device", 0, 0};
    check_ops(&d0);
    cpu->destroy(self);
    check_model(cpu, NULL, "cpu-as-device", 0);

    /* the CUDA backend's logic, emulated on the host: fp32, then bf16 */
    tfr_backend *eb;
    EXPECT_OK(emu_ops.create(NULL, &eb, &err), &err);
    dev de = {&emu_ops, eb, "cuda-emulated", 2e-6, 0};
    check_ops(&de);
    emu_ops.destroy(eb);
    check_model(&emu_ops, NULL, "cuda-emulated", 2e-5);
    check_same_images();
    check_one_wait();
    check_gpu_ranks();
    check_train_loop(&emu_ops, TFR_PRECISION_TF32, "cuda-emulated", 1, 0.015);
    tfr_backend_opts bf16 = {0, TFR_MATH_BF16, 0};
    EXPECT_OK(emu_ops.create(&bf16, &eb, &err), &err);
    dev deb = {&emu_ops, eb, "cuda-emulated bf16", 2e-2, 1};
    check_ops(&deb);
    emu_ops.destroy(eb);
    check_model(&emu_ops, &bf16, "cuda-emulated bf16", 3e-2);
    check_train_loop(&emu_ops, TFR_PRECISION_BF16, "cuda-emulated bf16", 1, 0.035);

    /* the other NHWC backend: oneDNN on the CPU */
    tfr_error de_err;
    const tfr_ops *dn = tfr_ops_onednn(&de_err);
    if (dn) {
        tfr_backend *db;
        EXPECT_OK(dn->create(NULL, &db, &err), &err);
        dev dd = {dn, db, "onednn", 2e-6, 0};
        check_ops(&dd);
        dn->destroy(db);
        check_model(dn, NULL, "onednn", 2e-5);
    } else {
        printf("no onednn backend: %s\n", de_err.msg);
    }
    if (test_failures()) {
        cpu->destroy(cb);
        return 1;
    }

    /* device names; asking for a device that is not there leaves the model
     * working on the CPU */
    tfr_device_opts dp = {0};
    tfr_precision pr;
    EXPECT_OK(tfr_device_parse("cuda:3", &dp, &err), &err);
    EXPECT(dp.kind == TFR_DEVICE_CUDA && dp.index == 3);
    EXPECT_STATUS(tfr_device_parse("cuda:x", &dp, &err), TFR_ERR_ARG);
    EXPECT_STATUS(tfr_device_parse("tpu", &dp, &err), TFR_ERR_ARG);
    EXPECT_OK(tfr_precision_parse("fp32", &pr, &err), &err);
    EXPECT(pr == TFR_PRECISION_FP32);
    EXPECT_STATUS(tfr_precision_parse("fp8", &pr, &err), TFR_ERR_ARG);

    tfr_error e;
    const tfr_ops *gpu = tfr_ops_cuda(&e);
    if (!gpu) {
        tfr_resnet_config tiny;
        tfr_model *m;
        EXPECT_OK(tfr_resnet_preset("tiny", &tiny, &err), &err);
        EXPECT_OK(tfr_model_new(&tiny, 1, &m, &err), &err);
        float *x = rnd(2 * 3 * 8 * 8), before, after;
        int32_t lab[2] = {0, 1};
        EXPECT_OK(tfr_model_forward(m, x, 2, lab, 0, &before, &err), &err);
        tfr_device_opts cu = {TFR_DEVICE_CUDA, 0, TFR_PRECISION_TF32, 0};
        EXPECT_STATUS(tfr_model_set_device(m, &cu, &err), TFR_ERR_UNAVAILABLE);
        EXPECT_CONTAINS(err.msg, "CUDA");
        EXPECT_CONTAINS(tfr_model_device(m), "cpu");
        EXPECT_OK(tfr_model_forward(m, x, 2, lab, 0, &after, &err), &err);
        EXPECT(before == after);
        /* auto: the CPU when there is no GPU, on oneDNN where built */
        EXPECT_OK(tfr_device_parse("auto", &cu, &err), &err);
        EXPECT_OK(tfr_model_set_device(m, &cu, &err), &err);
        tfr_error q;
        EXPECT_CONTAINS(tfr_model_device(m), tfr_ops_onednn(&q) ? "onednn" : "cpu");
        EXPECT(tfr_model_device_kind(m) == TFR_DEVICE_CPU);
        tfr_model_free(m);
        free(x);
        if (test_failures()) {
            cpu->destroy(cb);
            return 1;
        }
        /* skipped only when there is no GPU (or no CUDA in this build); a
         * driver too old for the runtime, a broken device: a failure */
        if (!strstr(e.msg, "no CUDA device") && !strstr(e.msg, "no CUDA backend")) {
            FAILF("CUDA is present but unusable: %s", e.msg);
            cpu->destroy(cb);
            return 1;
        }
        printf("SKIP: %s\n", e.msg);
        cpu->destroy(cb);
        return 77;
    }
    /* fp32: accumulation order only; tf32: 10-bit mantissas in conv/GEMM
     * inputs; bf16: 8-bit activations as well */
    const struct {
        tfr_precision_mode math;
        tfr_precision prec;
        const char *label;
        double op_tol, model_tol, acc_tol;
    } modes[] = {
        {TFR_MATH_FP32, TFR_PRECISION_FP32, "cuda fp32", 2e-5, 2e-4, 0.015},
        {TFR_MATH_TF32, TFR_PRECISION_TF32, "cuda tf32", 3e-3, 2e-2, 0.025},
        {TFR_MATH_BF16, TFR_PRECISION_BF16, "cuda bf16", 2e-2, 3e-2, 0.035},
    };
    for (int i = 0; i < 3; i++) {
        tfr_backend_opts bo = {0, modes[i].math, 0};
        tfr_backend *gb;
        EXPECT_OK(gpu->create(&bo, &gb, &err), &err);
        if (!gb)
            break;
        printf("%s: %s\n", modes[i].label, gpu->describe(gb));
        dev d = {gpu, gb, modes[i].label, modes[i].op_tol, modes[i].math == TFR_MATH_BF16};
        check_ops(&d);
        EXPECT_OK(gpu->sync(gb, &err), &err);
        gpu->destroy(gb);
        check_model(gpu, &bo, modes[i].label, modes[i].model_tol);
        check_train_loop(gpu, modes[i].prec, modes[i].label, 0, modes[i].acc_tol);
        /* the public way there */
        tfr_device_opts dopt = {TFR_DEVICE_CUDA, 0, modes[i].prec, 0};
        tfr_resnet_config tiny;
        tfr_model *m;
        EXPECT_OK(tfr_resnet_preset("tiny", &tiny, &err), &err);
        EXPECT_OK(tfr_model_new(&tiny, 1, &m, &err), &err);
        EXPECT_OK(tfr_model_set_device(m, &dopt, &err), &err);
        EXPECT_CONTAINS(tfr_model_device(m), "cuda:0");
        dopt.kind = TFR_DEVICE_AUTO;
        EXPECT_OK(tfr_model_set_device(m, &dopt, &err), &err);
        EXPECT_CONTAINS(tfr_model_device(m), "cuda:0");
        tfr_model_free(m);
    }
    cpu->destroy(cb);
    return test_failures() ? 1 : 0;
}
