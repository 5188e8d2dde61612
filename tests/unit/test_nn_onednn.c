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
#include "nn/elementwise.h"
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

static float bf16_round(float v) { return ew_bf16_to_f32(ew_f32_to_bf16(v)); }

/* One shape on the bf16 backend. Each of its three passes must equal the
 * reference exactly as one of the two things it may be: a float32 pass (the
 * reference on the inputs as they are) or a bf16 pass (the reference on
 * the inputs rounded to bf16: the products of two bf16 values are exact in
 * float32, so only the order of the float32 sums differs). Random inputs
 * make the two far apart (the rounding moves each input by up to 2^-9).
 * Returns how many passes were bf16. */
static int check_conv_bf16(const tfr_ops *ops, tfr_backend *be, int n, int c, int h, int w,
                           int k, int r, int stride, int pad)
{
    tfr_conv2d cv;
    tfr_conv2d_setup(&cv, n, c, h, w, k, r, r, stride, pad);
    size_t nx = (size_t)n * c * h * w, nw = (size_t)k * c * r * r, ny = (size_t)n * k * cv.p * cv.q;
    size_t ncol = (size_t)c * r * r * n * cv.p * cv.q;
    float *in[3], *rin[3];
    size_t len[3] = {nx, nw, ny};
    float *out[2][3], *got[3]; /* [float32 | bf16 reference][y, dx, dw] */
    size_t olen[3] = {ny, nx, nw};
    for (int i = 0; i < 3; i++) {
        in[i] = malloc(len[i] * 4);
        rin[i] = malloc(len[i] * 4);
        fill(in[i], len[i]);
        for (size_t j = 0; j < len[i]; j++)
            rin[i][j] = bf16_round(in[i][j]);
        got[i] = malloc(olen[i] * 4);
        for (int t = 0; t < 2; t++)
            out[t][i] = malloc(olen[i] * 4);
    }
    float *col = malloc(ncol * 4), *tmp = malloc(ny * 4);
    float *part = malloc(tfr_conv2d_dw_scratch(&cv) * 4);
    /* prefilled gradients: added to */
    fill(out[0][1], nx);
    fill(out[0][2], nw);
    memcpy(out[1][1], out[0][1], nx * 4);
    memcpy(out[1][2], out[0][2], nw * 4);
    memcpy(got[1], out[0][1], nx * 4);
    memcpy(got[2], out[0][2], nw * 4);
    float **src[2] = {in, rin};
    for (int t = 0; t < 2; t++) {
        conv2d_fwd_cpu(&cv, src[t][0], src[t][1], out[t][0], col, tmp);
        conv2d_bwd_cpu(&cv, src[t][0], src[t][1], src[t][2], out[t][1], out[t][2], col, tmp, part);
    }
    tfr_error err;
    float *bx = malloc(nx * 4), *bdy = malloc(ny * 4), *bdx = malloc(nx * 4), *by = malloc(ny * 4);
    EXPECT_OK(ops->input_f32(be, n, c, h, w, in[0], bx, &err), &err);
    EXPECT_OK(ops->input_f32(be, n, k, cv.p, cv.q, in[2], bdy, &err), &err);
    EXPECT_OK(ops->input_f32(be, n, c, h, w, got[1], bdx, &err), &err);
    EXPECT_OK(ops->conv2d_fwd(be, &cv, bx, in[1], by, &err), &err);
    EXPECT_OK(ops->conv2d_bwd(be, &cv, bx, in[1], bdy, bdx, got[2], &err), &err);
    EXPECT_OK(ops->act_to_host(be, n, k, cv.p, cv.q, by, got[0], &err), &err);
    EXPECT_OK(ops->act_to_host(be, n, c, h, w, bdx, got[1], &err), &err);
    static const char *what[3] = {"y", "dx", "dw"};
    int nbf = 0;
    for (int i = 0; i < 3; i++) {
        double e32 = rel_err(got[i], out[0][i], olen[i]), e16 = rel_err(got[i], out[1][i], olen[i]);
        if (e16 <= 1e-5 && e32 > 1e-4)
            nbf++;
        else if (!(e32 <= 1e-5 && e16 > 1e-4))
            FAILF("bf16 conv n%d c%d %dx%d k%d r%d s%d p%d: %s is neither float32 (relative "
                  "error %.2g) nor bf16 (%.2g)",
                  n, c, h, w, k, r, stride, pad, what[i], e32, e16);
    }
    free(bx); free(bdy); free(bdx); free(by);
    for (int i = 0; i < 3; i++) {
        free(in[i]); free(rin[i]); free(got[i]); free(out[0][i]); free(out[1][i]);
    }
    free(col); free(tmp); free(part);
    return nbf;
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
static float *train(const char *device, const char *precision, int steps, float *loss, size_t *np)
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
    EXPECT_OK(tfr_precision_parse(precision, &d.precision, &err), &err);
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

enum { STEPS = 40 };

/* b and c: two runs of one backend beside the reference run a; the losses
 * within band of a's, learning, parameters within perr, b and c bit-identical
 * (same thread count, same CPU) */
static void compare_runs(const char *what, const float *la, const float *lb, const float *lc,
                         const float *wa, const float *wb, const float *wc, size_t np, float band,
                         double perr)
{
    if (!wa || !wb || !wc)
        return;
    for (int t = 0; t < STEPS; t++)
        if (fabsf(la[t] - lb[t]) > band * (1 + fabsf(la[t])))
            FAILF("step %d: loss %g on cpu, %g on %s", t, la[t], lb[t], what);
    EXPECT(lb[STEPS - 1] < 0.5f * lb[0]); /* it learns */
    double e = rel_err(wb, wa, np);
    printf("after %d steps: loss %.4f (cpu) %.4f (%s); parameters differ by %.2g (relative)\n",
           STEPS, la[STEPS - 1], lb[STEPS - 1], what, e);
    EXPECT(e < perr);
    EXPECT(!memcmp(lb, lc, STEPS * sizeof *lb));
    EXPECT(!memcmp(wb, wc, np * 4));
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

    /* bf16: every pass float32 or bf16 exactly as documented, as many bf16
     * passes as the backend says */
    tfr_backend_opts bo = {.math = TFR_MATH_BF16};
    EXPECT_OK(ops->create(&bo, &be, &err), &err);
    if (!be)
        return 1;
    int nbf = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int *s = shapes[i];
        int a = check_conv_bf16(ops, be, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        int b = check_conv_bf16(ops, be, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        if (a != b)
            FAILF("shape %zu: %d then %d bf16 passes", i, a, b);
        nbf += a;
    }
    const char *desc = ops->describe(be);
    printf("%s\n", desc);
    char want[64];
    snprintf(want, sizeof want, "bf16: %d of %zu passes", nbf, 3 * (sizeof shapes / sizeof *shapes));
    EXPECT_CONTAINS(desc, want);
    /* where the CPU has bf16 instructions, oneDNN has kernels for them: all
     * three passes of every shape with a filter wider than 1x1 and 4 or more
     * input channels (7 of the 12), and no others */
    if (__builtin_cpu_supports("avx512bf16"))
        EXPECT_EQ_U(nbf, 3 * 7);
    else
        printf("this CPU has no AVX512-BF16: %d passes in bf16\n", nbf);
    ops->destroy(be);
    /* the reference backend refuses bf16 rather than ignore it */
    EXPECT_STATUS(tfr_ops_cpu()->create(&bo, &be, &err), TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "onednn");

    /* a ResNet trained on both backends: the same path to rounding */
    float la[STEPS], lb[STEPS], lc[STEPS];
    size_t na = 0, nb = 0, nc = 0;
    float *wa = train("cpu", "fp32", STEPS, la, &na);
    float *wb = train("onednn", "fp32", STEPS, lb, &nb);
    float *wc = train("onednn", "fp32", STEPS, lc, &nc);
    EXPECT(wa && wb && wc && na == nb && nb == nc);
    compare_runs("onednn", la, lb, lc, wa, wb, wc, na, 0.02f, 0.05);
    /* and in bf16: the same loss band (wider), learning, bit-identical runs */
    float ld[STEPS], le[STEPS];
    size_t nd = 0, ne = 0;
    float *wd = train("onednn", "bf16", STEPS, ld, &nd);
    float *we = train("onednn", "bf16", STEPS, le, &ne);
    EXPECT(wd && we && nd == na && ne == na);
    compare_runs("onednn bf16", la, ld, le, wa, wd, we, na, 0.05f, 0.1);
    free(wa);
    free(wb);
    free(wc);
    free(wd);
    free(we);
    return test_failures() ? 1 : 0;
}
