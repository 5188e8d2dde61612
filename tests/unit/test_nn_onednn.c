/*
 * tests/unit/test_nn_onednn.c - the "onednn" CPU backend (NHWC
 * activations) against the reference kernels: every convolution shape of
 * the presets plus odd ones (stride 2 with odd and even sizes, 1x1, 5x5,
 * padding 0), forward, data and weight gradients, with dx and dw ADDED to
 * (prefilled buffers) and dx NULL; the same ResNet on both backends over
 * SGD steps (losses and parameters stay close, the loss falls); two runs on
 * oneDNN bit-identical; --device onednn through tfr_device_parse. The
 * backend harness of test_nn_cuda.c checks its other ops (batch norm, the
 * pools, input and output conversions) one by one. Skips (77) in a build
 * without oneDNN.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/nn_impl.h"
#include "testutil.h"
#include "tfrecord/model.h"

static uint64_t rs = 99;
static float frand(void) { return (float)((double)(test_rand(&rs) >> 11) / 9007199254740992.0 * 2 - 1); }
static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0, m = 1e-12;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        d = e > d ? e : d;
        m = fabs(b[i]) > m ? fabs(b[i]) : m;
    }
    return d / m;
}

static void check_conv(const tfr_ops *ops, tfr_backend *be, int n, int c, int h, int w, int k,
                       int r, int stride, int pad)
{
    tfr_conv2d cv;
    tfr_conv2d_setup(&cv, n, c, h, w, k, r, r, stride, pad);
    size_t nx = (size_t)n * c * h * w, nw = (size_t)k * c * r * r, ny = (size_t)n * k * cv.p * cv.q;
    size_t ncol = (size_t)c * r * r * n * cv.p * cv.q;
    float *x = malloc(nx * 4), *wt = malloc(nw * 4), *dy = malloc(ny * 4);
    float *y0 = malloc(ny * 4), *y1 = malloc(ny * 4);
    float *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4), *dw0 = malloc(nw * 4), *dw1 = malloc(nw * 4);
    float *col = malloc(ncol * 4), *tmp = malloc(ny * 4);
    float *part = malloc(tfr_conv2d_dw_scratch(&cv) * 4);
    fill(x, nx);
    fill(wt, nw);
    fill(dy, ny);
    /* prefilled gradients: both backends must add to them */
    fill(dx0, nx);
    memcpy(dx1, dx0, nx * 4);
    fill(dw0, nw);
    memcpy(dw1, dw0, nw * 4);
    tfr_error err;
    conv2d_fwd_cpu(&cv, x, wt, y0, col, tmp);
    conv2d_bwd_cpu(&cv, x, wt, dy, dx0, dw0, col, tmp, part);
    /* the backend's activations are NHWC: x, dy and the prefilled dx go in
     * through input_f32, y and dx come back through act_to_host */
    float *bx = malloc(nx * 4), *bdy = malloc(ny * 4), *bdx = malloc(nx * 4), *by = malloc(ny * 4);
    EXPECT_OK(ops->input_f32(be, n, c, h, w, x, bx, &err), &err);
    EXPECT_OK(ops->input_f32(be, n, k, cv.p, cv.q, dy, bdy, &err), &err);
    EXPECT_OK(ops->input_f32(be, n, c, h, w, dx1, bdx, &err), &err);
    EXPECT_OK(ops->conv2d_fwd(be, &cv, bx, wt, by, &err), &err);
    EXPECT_OK(ops->conv2d_bwd(be, &cv, bx, wt, bdy, bdx, dw1, &err), &err);
    EXPECT_OK(ops->act_to_host(be, n, k, cv.p, cv.q, by, y1, &err), &err);
    EXPECT_OK(ops->act_to_host(be, n, c, h, w, bdx, dx1, &err), &err);
    double ey = rel_err(y1, y0, ny), ex = rel_err(dx1, dx0, nx), ew = rel_err(dw1, dw0, nw);
    if (ey > 1e-5 || ex > 1e-5 || ew > 1e-5)
        FAILF("conv n%d c%d %dx%d k%d r%d s%d p%d: relative error y %.2g dx %.2g dw %.2g", n, c,
              h, w, k, r, stride, pad, ey, ex, ew);
    /* dx NULL (the first convolution): only dw, added once more */
    memcpy(dw1, dw0, nw * 4);
    conv2d_bwd_cpu(&cv, x, wt, dy, NULL, dw0, col, tmp, part);
    EXPECT_OK(ops->conv2d_bwd(be, &cv, bx, wt, bdy, NULL, dw1, &err), &err);
    if (rel_err(dw1, dw0, nw) > 1e-5)
        FAILF("conv n%d c%d k%d r%d: dw with dx NULL differs", n, c, k, r);
    free(bx); free(bdy); free(bdx); free(by);
    free(x); free(wt); free(dy); free(y0); free(y1); free(dx0); free(dx1);
    free(dw0); free(dw1); free(col); free(tmp); free(part);
}

/* trains `steps` SGD steps of the fmnist preset on fixed random data; the
 * losses go to loss[], the final parameters to a malloc'd copy */
static float *train(const char *device, int steps, float *loss, size_t *np)
{
    tfr_resnet_config c;
    tfr_error err;
    EXPECT_OK(tfr_resnet_preset("fmnist", &c, &err), &err);
    tfr_model *m = NULL;
    EXPECT_OK(tfr_model_new(&c, 11, &m, &err), &err);
    if (!m)
        return NULL;
    tfr_device_opts d;
    memset(&d, 0, sizeof d);
    EXPECT_OK(tfr_device_parse(device, &d, &err), &err);
    EXPECT_OK(tfr_model_set_device(m, &d, &err), &err);
    const int n = 32;
    size_t nx = (size_t)n * c.in_c * c.in_h * c.in_w;
    float *x = malloc(nx * 4);
    int32_t lab[32];
    uint64_t s = 5;
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(test_rand(&s) % 1000) / 1000.0f;
    for (int i = 0; i < n; i++) {
        lab[i] = i % 10;
        /* a class-dependent bright square, so there is something to learn */
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 6; xx++)
                x[(size_t)i * 784 + (size_t)(2 * (i % 10) + y) * 28 + 4 + xx] = 3.0f;
    }
    for (int t = 0; t < steps; t++) {
        EXPECT_OK(tfr_model_forward(m, x, n, lab, 1, &loss[t], &err), &err);
        EXPECT_OK(tfr_model_backward(m, 0.0f, &err), &err);
        EXPECT_OK(tfr_model_sgd(m, 0.05f, 0.9f, 5e-4f, &err), &err);
    }
    float *w = NULL;
    float *out = NULL;
    *np = tfr_model_num_params(m);
    if (tfr_model_params(m, &w, &err) == TFR_OK && (out = malloc(*np * 4)))
        memcpy(out, w, *np * 4);
    tfr_model_free(m);
    free(x);
    return out;
}

int main(void)
{
    tfr_error err;
    const tfr_ops *ops = tfr_ops_onednn(&err);
    if (!ops) {
        printf("SKIP: %s\n", err.msg);
        tfr_device_opts d;
        EXPECT_OK(tfr_device_parse("onednn", &d, &err), &err);
        return test_failures() ? 1 : 77;
    }
    tfr_backend *be = NULL;
    EXPECT_OK(ops->create(NULL, &be, &err), &err);
    if (!be)
        return 1;
    printf("%s\n", ops->describe(be));
    EXPECT_CONTAINS(ops->describe(be), "oneDNN");
    /* the presets' shapes (fmnist, homework) and odd ones */
    const int shapes[][8] = {
        {8, 1, 28, 28, 16, 3, 1, 1},  {8, 16, 28, 28, 16, 3, 1, 1}, {8, 16, 28, 28, 32, 3, 2, 1},
        {8, 16, 28, 28, 32, 1, 2, 0}, {8, 32, 14, 14, 64, 3, 2, 1}, {8, 64, 7, 7, 64, 3, 1, 1},
        {4, 3, 64, 64, 64, 3, 1, 1},  {4, 64, 16, 16, 128, 1, 2, 0}, {3, 5, 9, 7, 6, 3, 2, 1},
        {2, 4, 11, 11, 3, 5, 1, 2},   {2, 7, 10, 10, 5, 3, 1, 0},   {1, 2, 3, 3, 2, 3, 2, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int *s = shapes[i];
        check_conv(ops, be, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        /* the same shape again: the cached primitives give the same answers */
        check_conv(ops, be, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    }
    ops->destroy(be);

    /* a ResNet trained on both backends: the same path to rounding */
    enum { STEPS = 40 };
    float la[STEPS], lb[STEPS], lc[STEPS];
    size_t na = 0, nb = 0, nc = 0;
    float *wa = train("cpu", STEPS, la, &na);
    float *wb = train("onednn", STEPS, lb, &nb);
    float *wc = train("onednn", STEPS, lc, &nc);
    EXPECT(wa && wb && wc && na == nb && nb == nc);
    if (wa && wb && wc) {
        for (int t = 0; t < STEPS; t++)
            if (fabsf(la[t] - lb[t]) > 0.02f * (1 + fabsf(la[t])))
                FAILF("step %d: loss %g on cpu, %g on onednn", t, la[t], lb[t]);
        EXPECT(lb[STEPS - 1] < 0.5f * lb[0]); /* it learns */
        double e = rel_err(wb, wa, na);
        printf("after %d steps: loss %.4f (cpu) %.4f (onednn); parameters differ by %.2g "
               "(relative)\n", STEPS, la[STEPS - 1], lb[STEPS - 1], e);
        EXPECT(e < 0.05);
        /* same thread count, same CPU: bit-identical runs */
        EXPECT(!memcmp(lb, lc, sizeof lb));
        EXPECT(!memcmp(wb, wc, na * 4));
    }
    free(wa);
    free(wb);
    free(wc);
    return test_failures() ? 1 : 0;
}
