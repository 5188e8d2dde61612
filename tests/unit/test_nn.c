/*
 * tests/unit/test_nn.c - the CPU kernels and the ResNet: finite-difference
 * gradient checks for every layer and for a whole tiny network, a tiny
 * model overfitting a tiny batch, SGD, checkpoint round trip (bit-exact,
 * damaged files refused), TensorBoard event files read back as TFRecords
 * of Event protos. Batch norm fused with its ReLU (the CPU tables'
 * bn_relu ops) trains bit for bit as the two ops run apart.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "event.pb-c.h"
#include "nn/backend.h"
#include "nn/nn_impl.h"
#include "testutil.h"
#include "tfrecord/nn.h"
#include "tfrecord/record.h"

static uint64_t rs = 77;
static float frand(void) { return (float)((double)(test_rand(&rs) >> 11) / 9007199254740992.0 * 2 - 1); }
static void fill(float *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = frand(); }

/* relative error of analytic vs numeric, scaled by the largest gradient */
static double rel(const double *a, const double *b, size_t n)
{
    double m = 1e-6, e = 0;
    for (size_t i = 0; i < n; i++) {
        m = fabs(a[i]) > m ? fabs(a[i]) : m;
        e = fabs(a[i] - b[i]) > e ? fabs(a[i] - b[i]) : e;
    }
    return e / m;
}

/* ---- conv ---- */
static double conv_loss(const tfr_conv2d *cv, const float *x, const float *w, const float *dy)
{
    size_t ny = (size_t)cv->n * cv->k * cv->p * cv->q;
    float *y = malloc(ny * 4), *col = malloc((size_t)cv->c * cv->r * cv->s * cv->n * cv->p * cv->q * 4),
          *tmp = malloc(ny * 4);
    conv2d_fwd_cpu(cv, x, w, y, col, tmp);
    double l = 0;
    for (size_t i = 0; i < ny; i++)
        l += (double)y[i] * dy[i];
    free(y); free(col); free(tmp);
    return l;
}

static void check_conv(int stride, int r)
{
    tfr_conv2d cv;
    tfr_conv2d_setup(&cv, 2, 3, 6, 5, 4, r, r, stride, r / 2);
    size_t nx = 2 * 3 * 6 * 5, nw = (size_t)4 * 3 * r * r, ny = (size_t)2 * 4 * cv.p * cv.q;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4);
    float *dx = calloc(nx, 4), *dw = calloc(nw, 4);
    float *col = malloc((size_t)3 * r * r * 2 * cv.p * cv.q * 4), *tmp = malloc(ny * 4);
    float *part = malloc(tfr_conv2d_dw_scratch(&cv) * 4);
    fill(x, nx); fill(w, nw); fill(dy, ny);
    conv2d_bwd_cpu(&cv, x, w, dy, dx, dw, col, tmp, part);
    free(part);
    double *a = malloc((nx + nw) * sizeof(double)), *b = malloc((nx + nw) * sizeof(double));
    const float h = 1e-2f;
    for (size_t i = 0; i < nx; i++) {
        float s = x[i];
        x[i] = s + h; double lp = conv_loss(&cv, x, w, dy);
        x[i] = s - h; double lm = conv_loss(&cv, x, w, dy);
        x[i] = s;
        a[i] = dx[i];
        b[i] = (lp - lm) / (2 * h);
    }
    for (size_t i = 0; i < nw; i++) {
        float s = w[i];
        w[i] = s + h; double lp = conv_loss(&cv, x, w, dy);
        w[i] = s - h; double lm = conv_loss(&cv, x, w, dy);
        w[i] = s;
        a[nx + i] = dw[i];
        b[nx + i] = (lp - lm) / (2 * h);
    }
    double e = rel(a, b, nx + nw);
    if (e > 1e-3)
        FAILF("conv r=%d stride=%d: gradient error %g", r, stride, e);
    free(x); free(w); free(dy); free(dx); free(dw); free(col); free(tmp); free(a); free(b);
}

/* ---- batch norm ---- */
static double bn_loss(int n, int c, int hw, const float *x, const float *g, const float *be,
                      const float *dy)
{
    size_t cnt = (size_t)n * c * hw;
    float *y = malloc(cnt * 4), mean[8], is[8], rm[8] = {0}, rv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    batchnorm_fwd_cpu(n, c, hw, x, g, be, y, mean, is, rm, rv, 1, 0.1f, 1e-5f);
    double l = 0;
    for (size_t i = 0; i < cnt; i++)
        l += (double)y[i] * dy[i];
    free(y);
    return l;
}

static void check_bn(void)
{
    int n = 4, c = 3, hw = 5;
    size_t cnt = (size_t)n * c * hw;
    float *x = malloc(cnt * 4), *dy = malloc(cnt * 4), *dx = calloc(cnt, 4), *y = malloc(cnt * 4);
    float g[3], be[3], dg[3] = {0}, db[3] = {0}, mean[3], is[3], rm[3] = {0}, rv[3] = {1, 1, 1};
    fill(x, cnt); fill(dy, cnt); fill(g, 3); fill(be, 3);
    batchnorm_fwd_cpu(n, c, hw, x, g, be, y, mean, is, rm, rv, 1, 0.1f, 1e-5f);
    batchnorm_bwd_cpu(n, c, hw, x, g, mean, is, dy, dx, dg, db);
    double a[80], b[80];
    const float h = 1e-3f;
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++, k++) {
        float s = x[i];
        x[i] = s + h; double lp = bn_loss(n, c, hw, x, g, be, dy);
        x[i] = s - h; double lm = bn_loss(n, c, hw, x, g, be, dy);
        x[i] = s;
        a[k] = dx[i];
        b[k] = (lp - lm) / (2 * h);
    }
    for (int i = 0; i < 3; i++, k++) {
        float s = g[i];
        g[i] = s + h; double lp = bn_loss(n, c, hw, x, g, be, dy);
        g[i] = s - h; double lm = bn_loss(n, c, hw, x, g, be, dy);
        g[i] = s;
        a[k] = dg[i];
        b[k] = (lp - lm) / (2 * h);
    }
    for (int i = 0; i < 3; i++, k++) {
        float s = be[i];
        be[i] = s + h; double lp = bn_loss(n, c, hw, x, g, be, dy);
        be[i] = s - h; double lm = bn_loss(n, c, hw, x, g, be, dy);
        be[i] = s;
        a[k] = db[i];
        b[k] = (lp - lm) / (2 * h);
    }
    double e = rel(a, b, k);
    if (e > 2e-2)
        FAILF("batch norm: gradient error %g", e);
    /* running statistics moved toward the batch; eval mode uses them */
    EXPECT(fabsf(rm[0] - 0.1f * mean[0]) < 1e-6f);
    free(x); free(dy); free(dx); free(y);
}

/* ---- the small layers ---- */
static void check_small_layers(void)
{
    /* maxpool: gradient goes to the argmax only */
    float x[16], y[4], dy[4] = {1, 2, 3, 4}, dx[16] = {0};
    int32_t idx[4];
    for (int i = 0; i < 16; i++)
        x[i] = (float)((i * 7) % 16);
    maxpool2_fwd_cpu(1, 1, 4, 4, x, y, idx);
    maxpool2_bwd_cpu(1, 1, 4, 4, idx, dy, dx);
    for (int o = 0; o < 4; o++) {
        int p = o / 2, q = o % 2;
        float m = -1;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                m = fmaxf(m, x[(2 * p + a) * 4 + 2 * q + b]);
        EXPECT(y[o] == m && dx[idx[o]] == dy[o]);
    }
    /* dense + softmax CE, numerically; plain and label-smoothed */
    for (int sm = 0; sm < 2; sm++) {
        const float smooth = sm ? 0.1f : 0.0f;
        int n = 3, c = 5, k = 4;
        float xs[15], w[20], bb[4], lg[12], dl[12], dxs[15] = {0}, dw[20] = {0}, db[4] = {0};
        int32_t lab[3] = {0, 3, 2};
        fill(xs, 15); fill(w, 20); fill(bb, 4);
        dense_fwd_cpu(n, c, k, xs, w, bb, lg);
        softmax_ce_cpu(n, k, lg, lab, smooth, dl);
        dense_bwd_cpu(n, c, k, xs, w, dl, dxs, dw, db);
        double a[39], b2[39];
        int m = 0;
        const float h = 1e-3f;
        float *vars[3] = {xs, w, bb};
        float *grads[3] = {dxs, dw, db};
        int sizes[3] = {15, 20, 4};
        for (int v = 0; v < 3; v++)
            for (int i = 0; i < sizes[v]; i++, m++) {
                float s = vars[v][i];
                vars[v][i] = s + h;
                dense_fwd_cpu(n, c, k, xs, w, bb, lg);
                double lp = softmax_ce_cpu(n, k, lg, lab, smooth, NULL);
                vars[v][i] = s - h;
                dense_fwd_cpu(n, c, k, xs, w, bb, lg);
                double lm = softmax_ce_cpu(n, k, lg, lab, smooth, NULL);
                vars[v][i] = s;
                a[m] = grads[v][i];
                b2[m] = (lp - lm) / (2 * h);
            }
        double e = rel(a, b2, (size_t)m);
        if (e > 1e-2)
            FAILF("dense + softmax CE (smoothing %g): gradient error %g", smooth, e);
        /* the loss itself against -sum_j target_j log softmax_j, in double */
        dense_fwd_cpu(n, c, k, xs, w, bb, lg);
        double want = 0;
        for (int i = 0; i < n; i++) {
            double mx = lg[i * k], z = 0;
            for (int j = 1; j < k; j++)
                mx = fmax(mx, lg[i * k + j]);
            for (int j = 0; j < k; j++)
                z += exp(lg[i * k + j] - mx);
            for (int j = 0; j < k; j++) {
                double q = (j == lab[i] ? 1.0 - smooth : 0.0) + smooth / k;
                want -= q * (lg[i * k + j] - mx - log(z));
            }
        }
        want /= n;
        double got = softmax_ce_cpu(n, k, lg, lab, smooth, NULL);
        if (fabs(got - want) > 1e-5 * fabs(want))
            FAILF("softmax CE (smoothing %g): %.9g, want %.9g", smooth, got, want);
    }
    /* GAP: dx = dy / hw; ReLU passes where y > 0 */
    float gx[8] = {0}, gd[2] = {4, 8};
    gap_bwd_cpu(1, 2, 4, gd, gx);
    EXPECT(gx[0] == 1 && gx[7] == 2);
    float rx[4] = {-1, 2, 0, 3}, ry[4], rd[4] = {1, 1, 1, 1}, rdx[4] = {0};
    relu_fwd_cpu(4, rx, ry);
    relu_bwd_cpu(4, ry, rd, rdx);
    EXPECT(ry[0] == 0 && ry[1] == 2 && rdx[0] == 0 && rdx[1] == 1 && rdx[2] == 0);
}

/* the tiny preset (8x8x3, 4 classes, width 4, levels 1,1) with the given
 * residual block, He-initialized from seed; NULL (and a failure) if refused */
static tfr_model *tiny_model(int block, uint64_t seed)
{
    tfr_resnet_config c;
    tfr_error err;
    EXPECT_OK(tfr_resnet_preset("tiny", &c, &err), &err);
    c.block = block;
    tfr_model *m = NULL;
    EXPECT_OK(tfr_model_new(&c, seed, &m, &err), &err);
    return m;
}

/*
 * Basic blocks: two 3x3 convolutions of width * 2^i channels per block,
 * projected only where a block changes the width or the size, so the
 * tiny preset (width 4, levels 1,1, 3 input channels) has, with basic
 * blocks, exactly the parameters counted here by hand.
 */
static void check_basic_shape(void)
{
    tfr_model *m = tiny_model(TFR_RESNET_BASIC, 1);
    if (!m)
        return;
    size_t bn = 2; /* gamma and beta per channel */
    size_t want = 4 * 3 * 9 + bn * 4                     /* tail */
                  + bn * 4 + 4 * 4 * 9 + bn * 4 + 4 * 4 * 9 /* level 0: 4 -> 4, no projection */
                  + bn * 4 + 8 * 4 * 9 + bn * 8 + 8 * 8 * 9 + 8 * 4 /* level 1, stride 2, 1x1 projection */
                  + bn * 8 + 8 * 4 + 4;                     /* head BN, dense 8 -> 4 */
    EXPECT_EQ_U(tfr_model_num_params(m), want);
    tfr_graph_node nodes[64];
    int nn = tfr_model_graph(m, nodes, 64), strided3 = 0, conv1 = 0;
    for (int i = 0; i < nn && i < 64; i++)
        if (nodes[i].kind == TFR_NODE_CONV) {
            strided3 += nodes[i].r == 3 && nodes[i].stride == 2;
            conv1 += nodes[i].r == 1;
        }
    EXPECT_EQ_I(strided3, 1);
    EXPECT_EQ_I(conv1, 1);
    tfr_resnet_config c = *tfr_model_config(m);
    tfr_model_free(m);
    tfr_error err;
    c.block = 2;
    EXPECT_STATUS(tfr_model_new(&c, 1, &m, &err), TFR_ERR_ARG);
}

/*
 * bf16 by name on the reference table is refused; with --device auto it is
 * a request for the fastest math the machine has, so a build whose fastest
 * CPU table is the reference one trains in fp32 (and one with oneDNN says
 * bf16 in its device line); neither is ever refused.
 */
static void check_auto_bf16(void)
{
    tfr_error err;
    tfr_model *m = tiny_model(TFR_RESNET_BOTTLENECK, 1);
    if (!m)
        return;
    tfr_device_opts d = {TFR_DEVICE_CPU, -1, TFR_PRECISION_TF32, 0};
    EXPECT(!tfr_device_moves(&d)); /* the table the model starts on */
    d.precision = TFR_PRECISION_BF16;
    EXPECT(tfr_device_moves(&d)); /* asked of it, so that it can refuse */
    EXPECT_STATUS(tfr_model_set_device(m, &d, &err), TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "onednn");
    d.kind = TFR_DEVICE_AUTO;
    if (tfr_model_set_device(m, &d, &err) == TFR_ERR_UNAVAILABLE) {
        tfr_model_free(m);
        return; /* a GPU build on a machine whose device cannot start */
    }
    const char *desc = tfr_model_device(m);
    if (!strncmp(desc, "onednn", 6))
        EXPECT_CONTAINS(desc, "bf16");
    else if (!strncmp(desc, "cpu", 3))
        EXPECT(strstr(desc, "bf16") == NULL);
    float x[4 * 3 * 8 * 8], loss = 0;
    fill(x, sizeof x / sizeof *x);
    int32_t lab[4] = {0, 1, 2, 3};
    EXPECT_OK(tfr_model_forward(m, x, 4, lab, 1, &loss, &err), &err);
    EXPECT(isfinite(loss));
    tfr_model_free(m);
}

/* ---- whole network (bottleneck or basic blocks) ---- */
static void check_network(int block)
{
    tfr_resnet_config c;
    tfr_error err;
    EXPECT_OK(tfr_resnet_preset("tiny", &c, &err), &err);
    c.block = block;
    tfr_model *m;
    EXPECT_OK(tfr_model_new(&c, 5, &m, &err), &err);
    if (!m)
        return;
    int n = 4;
    size_t nx = (size_t)n * c.in_c * c.in_h * c.in_w;
    float *x = malloc(nx * 4);
    fill(x, nx);
    int32_t lab[4] = {0, 1, 2, 3};
    float loss;
    EXPECT_OK(tfr_model_forward(m, x, n, lab, 1, &loss, &err), &err);
    EXPECT(fabsf(loss - logf(4)) < 1.5f); /* near chance at init */
    EXPECT_OK(tfr_model_backward(m, 0.0f, &err), &err);
    size_t np = tfr_model_num_params(m);
    float *g, *w; /* forward passes below leave the gradients alone */
    EXPECT_OK(tfr_model_grads(m, &g, &err), &err);
    EXPECT_OK(tfr_model_params(m, &w, &err), &err);
    double a[60], b[60];
    int k = 0;
    const float h = 2e-3f;
    for (int t = 0; g && w && t < 60; t++) {
        size_t i = (size_t)(test_rand(&rs) % np);
        float s = w[i];
        float lp, lm;
        w[i] = s + h;
        tfr_model_forward(m, x, n, lab, 1, &lp, &err);
        w[i] = s - h;
        tfr_model_forward(m, x, n, lab, 1, &lm, &err);
        w[i] = s;
        a[k] = g[i];
        b[k++] = ((double)lp - lm) / (2 * h);
    }
    /* a perturbation can cross a ReLU or max-pool kink, where the numeric
     * derivative is meaningless: allow 2 of 60 samples to miss, no more */
    double mx = 1e-6;
    for (int t = 0; t < k; t++)
        mx = fabs(a[t]) > mx ? fabs(a[t]) : mx;
    int missed = 0;
    for (int t = 0; t < k; t++)
        if (fabs(a[t] - b[t]) > 0.02 * mx) {
            missed++;
            fprintf(stderr, "  param sample %d: analytic %g numeric %g\n", t, a[t], b[t]);
        }
    if (missed > 2)
        FAILF("whole network: %d of %d gradient samples off by more than 2%%", missed, k);

    /* overfit one batch of 16 to 100% */
    n = 16;
    nx = (size_t)n * c.in_c * c.in_h * c.in_w;
    float *xb = malloc(nx * 4);
    int32_t lb[16];
    fill(xb, nx);
    for (int i = 0; i < n; i++)
        lb[i] = i % 4;
    for (int step = 0; step < 300; step++) {
        tfr_model_forward(m, xb, n, lb, 1, &loss, &err);
        tfr_model_backward(m, 1e-4f, &err);
        tfr_model_sgd(m, 0.05f, 0.9f, 0.0f, &err);
    }
    tfr_model_forward(m, xb, n, lb, 1, &loss, &err);
    const float *lg;
    EXPECT_OK(tfr_model_logits(m, &lg, &err), &err);
    int right = 0;
    for (int i = 0; lg && i < n; i++) {
        int best = 0;
        for (int j = 1; j < 4; j++)
            if (lg[i * 4 + j] > lg[i * 4 + best])
                best = j;
        right += best == lb[i];
    }
    EXPECT_EQ_I(right, n);
    EXPECT(loss < 0.1f);

    /* checkpoint round trip: bit-exact, same outputs; damage is refused */
    const char *dir = test_tmpdir("nn");
    char path[600];
    snprintf(path, sizeof path, "%s/ckpt.tfrc", dir);
    tfr_train_state st = {.epoch = 3, .step = 300, .seed = 42, .stream_epoch = 3,
                          .best_val_acc = 0.5, .have_schedule = 1, .epochs = 12, .lr_every = 0,
                          .cosine = 1, .warmup_epochs = 2, .lr = 0.1f, .lr_decay = 0.5f},
                    st2;
    EXPECT_OK(tfr_checkpoint_save(path, m, &st, &err), &err);
    tfr_model *m2 = NULL;
    EXPECT_OK(tfr_checkpoint_load(path, &m2, &st2, &err), &err);
    if (m2) {
        float *p1, *p2;
        EXPECT_OK(tfr_model_params(m, &p1, &err), &err);
        EXPECT_OK(tfr_model_params(m2, &p2, &err), &err);
        EXPECT(p1 && p2 && !memcmp(p1, p2, np * 4));
        EXPECT(st2.epoch == 3 && st2.step == 300 && st2.seed == 42 && st2.best_val_acc == 0.5);
        EXPECT(st2.have_schedule && st2.epochs == 12 && st2.cosine == 1 && st2.lr == 0.1f &&
               st2.warmup_epochs == 2 && st2.lr_decay == 0.5f && st2.lr_every == 0);
        float l1, l2;
        tfr_model_forward(m, xb, n, lb, 0, &l1, &err);
        tfr_model_forward(m2, xb, n, lb, 0, &l2, &err);
        EXPECT(l1 == l2);
        EXPECT_EQ_I(tfr_model_config(m2)->block, block);
        tfr_model_free(m2);
    }
    size_t fn;
    uint8_t *fb = test_read_file(path, &fn);
    fb[fn / 2] ^= 1;
    test_write_file(path, fb, fn);
    EXPECT_STATUS(tfr_checkpoint_load(path, &m2, &st2, &err), TFR_ERR_CORRUPT);
    test_write_file(path, fb, fn / 3);
    EXPECT(tfr_checkpoint_load(path, &m2, &st2, &err) != TFR_OK);
    free(fb);

    /* TensorBoard events: a TFRecord of Event protos, version first */
    tfr_events *ev;
    EXPECT_OK(tfr_events_open(dir, &ev, &err), &err);
    if (ev) {
        EXPECT_OK(tfr_events_scalar(ev, "loss", 1, 2.5f, &err), &err);
        EXPECT_OK(tfr_events_scalar(ev, "accuracy", 2, 0.75f, &err), &err);
        EXPECT_OK(tfr_events_flush(ev, &err), &err);
        char evpath[4400];
        snprintf(evpath, sizeof evpath, "%s", tfr_events_path(ev));
        EXPECT_CONTAINS(evpath, "/events.out.tfevents.");
        tfr_record_reader *r;
        EXPECT_OK(tfr_record_reader_open(evpath, NULL, &r, &err), &err); /* readable while open */
        const uint8_t *d;
        size_t len;
        int k2 = 0;
        while (r && !tfr_record_reader_next(r, &d, &len, &err)) {
            Tensorflow__Event *evp = tensorflow__event__unpack(NULL, len, d);
            EXPECT(evp != NULL);
            if (evp && k2 == 0)
                EXPECT(evp->what_case == TENSORFLOW__EVENT__WHAT_FILE_VERSION &&
                       !strcmp(evp->file_version, "brain.Event:2"));
            if (evp && k2 == 2)
                EXPECT(evp->what_case == TENSORFLOW__EVENT__WHAT_SUMMARY && evp->step == 2 &&
                       evp->summary->n_value == 1 &&
                       !strcmp(evp->summary->value[0]->tag, "accuracy") &&
                       evp->summary->value[0]->simple_value == 0.75f);
            tensorflow__event__free_unpacked(evp, NULL);
            k2++;
        }
        EXPECT_EQ_I(k2, 3);
        tfr_reader_stats rst;
        tfr_record_reader_stats(r, &rst);
        EXPECT_EQ_I(rst.compression, TFR_COMPRESS_NONE);
        tfr_record_reader_close(r);
        tfr_events_close(ev);
    }
    test_rmtree(dir);
    free(x);
    free(xb);
    tfr_model_free(m);
}

/* a checkpoint whose bytes at off are replaced by the 4 or 8 bytes of v, with
 * its CRC recomputed (CRC-32C authenticates nothing) */
static int crafted(const char *from, const char *to, size_t off, uint64_t v, int wide)
{
    size_t n;
    uint8_t *b = test_read_file(from, &n);
    if (!b || n < off + 8 + 4)
        return -1;
    if (wide) {
        memcpy(b + off, &v, 8);
    } else {
        int32_t w = (int32_t)v;
        memcpy(b + off, &w, 4);
    }
    uint32_t crc = tfr_crc32c(b, n - 4);
    memcpy(b + n - 4, &crc, 4);
    int r = test_write_file(to, b, n);
    free(b);
    return r;
}

/*
 * Checkpoints from other people are checked before they are trusted: config
 * words that would build a huge or endless model, and parameter counts that
 * the file's length does not hold, are refused before any model is built.
 */
static void check_checkpoint_bounds(void)
{
    const char *dir = test_tmpdir("nn_ckpt_bounds");
    char good[700], bad[700];
    snprintf(good, sizeof good, "%s/good.tfrc", dir);
    snprintf(bad, sizeof bad, "%s/bad.tfrc", dir);
    tfr_error err;
    tfr_resnet_config c;
    EXPECT_OK(tfr_resnet_preset("tiny", &c, &err), &err);
    tfr_model *m;
    EXPECT_OK(tfr_model_new(&c, 1, &m, &err), &err);
    tfr_train_state st = {0};
    EXPECT_OK(tfr_checkpoint_save(good, m, &st, &err), &err);
    tfr_model_free(m);
    static const struct {
        size_t off;
        uint64_t v;
        int wide;
        const char *what;
    } cases[] = {
        {12 + 4 * 7, 1000000000, 0, "blocks"},   /* levels[0]: a billion blocks */
        {12 + 4 * 4, 4096, 0, "parameters"},     /* width 4096: billions of parameters */
        {12 + 4 * 0, 1u << 30, 0, "config"},     /* a 2^30-pixel-high input */
        {12 + 4 * 5, 1000, 0, "config"},         /* 1000 levels */
        {12 + 4 * 15, 2, 0, "config"},           /* a block kind that does not exist */
        {76, (uint64_t)1 << 40, 1, "declares"},  /* 2^40 parameters */
        {84, UINT64_MAX / 2, 1, "declares"},     /* statistics overflow the length */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        EXPECT(crafted(good, bad, cases[i].off, cases[i].v, cases[i].wide) == 0);
        tfr_model *x = NULL;
        EXPECT_STATUS(tfr_checkpoint_load(bad, &x, &st, &err), TFR_ERR_FORMAT);
        EXPECT(x == NULL);
        EXPECT_CONTAINS(err.msg, cases[i].what);
        EXPECT_CONTAINS(err.path, "bad.tfrc");
    }
    /* the library refuses such configs itself too */
    c.levels[0] = 1000000000;
    EXPECT_STATUS(tfr_model_new(&c, 1, &m, &err), TFR_ERR_ARG);
    test_rmtree(dir);
}

/*
 * A checkpoint carries what the model means: class names (shifted by the
 * label offset) and the input normalization survive save and load; a
 * version 1 file (no meta section) still loads, without them; a meta
 * section whose counts or lengths run past its bytes is refused.
 */
static void check_checkpoint_meta(void)
{
    const char *dir = test_tmpdir("nn_ckpt_meta");
    char path[700], v1[700], bad[700];
    snprintf(path, sizeof path, "%s/m.tfrc", dir);
    snprintf(v1, sizeof v1, "%s/v1.tfrc", dir);
    snprintf(bad, sizeof bad, "%s/bad.tfrc", dir);
    tfr_error err;
    tfr_resnet_config c;
    EXPECT_OK(tfr_resnet_preset("tiny", &c, &err), &err);
    tfr_model *m;
    EXPECT_OK(tfr_model_new(&c, 3, &m, &err), &err);
    if (!m)
        return;
    const char *names[3] = {"cat", "dog \xc3\xa9", "bird"};
    EXPECT(c.classes == 4);
    EXPECT_STATUS(tfr_model_set_class_names(m, names, 3, 2, &err), TFR_ERR_ARG); /* 2 + 3 > 4 */
    EXPECT_OK(tfr_model_set_class_names(m, names, 3, 1, &err), &err);
    tfr_model_set_normalization(m, 0.3f, 0.2f);
    tfr_train_state st = {0};
    EXPECT_OK(tfr_checkpoint_save(path, m, &st, &err), &err);
    tfr_model *m2 = NULL;
    EXPECT_OK(tfr_checkpoint_load(path, &m2, &st, &err), &err);
    if (m2) {
        int first = -1;
        EXPECT(tfr_model_class_names(m2, &first) == 3 && first == 1);
        EXPECT(tfr_model_class_name(m2, 0) == NULL);
        EXPECT(tfr_model_class_name(m2, 1) && !strcmp(tfr_model_class_name(m2, 1), "cat"));
        EXPECT(tfr_model_class_name(m2, 2) && !strcmp(tfr_model_class_name(m2, 2), names[1]));
        EXPECT(tfr_model_class_name(m2, 3) && !strcmp(tfr_model_class_name(m2, 3), "bird"));
        EXPECT(tfr_model_class_name(m2, 4) == NULL);
        float mean = 0, std = 0;
        EXPECT(tfr_model_normalization(m2, &mean, &std) == 1 && mean == 0.3f && std == 0.2f);
        tfr_model_free(m2);
    }
    /* version 1: the same file without the meta section */
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    size_t np = tfr_model_num_params(m), ns;
    tfr_model_block_view(m, TFR_BLOCK_STATS, &ns);
    size_t body = 8 + 4 + 64 + 16 + 40 + 8 + (2 * np + ns) * sizeof(float);
    EXPECT(b && n > body + 8);
    if (b && n > body + 8) {
        uint32_t ver = 1, crc;
        memcpy(b + 8, &ver, 4);
        crc = tfr_crc32c(b, body);
        memcpy(b + body, &crc, 4);
        EXPECT(test_write_file(v1, b, body + 4) == 0);
        m2 = NULL;
        EXPECT_OK(tfr_checkpoint_load(v1, &m2, &st, &err), &err);
        if (m2) {
            float mean, std;
            EXPECT(tfr_model_class_names(m2, NULL) == 0);
            EXPECT(tfr_model_normalization(m2, &mean, &std) == 0);
            tfr_model_free(m2);
        }
        /* crafted meta: name count past the classes, a name length past the section */
        const struct { size_t off; uint64_t v; } cases[] = {
            {body + 20, 100},              /* nnames */
            {body + 16, 3},                /* first: 3 + 3 names > 4 classes */
            {body + 24, 1u << 20},         /* the first name's length */
            {body, 1u << 30},              /* the section's length */
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            EXPECT(crafted(path, bad, cases[i].off, cases[i].v, 0) == 0);
            m2 = NULL;
            EXPECT_STATUS(tfr_checkpoint_load(bad, &m2, &st, &err), TFR_ERR_FORMAT);
            EXPECT(m2 == NULL);
            EXPECT_CONTAINS(err.path, "bad.tfrc");
        }
    }
    free(b);
    tfr_model_free(m);
    test_rmtree(dir);
}

/* A label that is not a class is refused, never folded into class 0 (TF
 * and PyTorch raise too); the loss kernel alone gives NaN, not a loss. */
static void check_labels(void)
{
    tfr_resnet_config c;
    tfr_error err;
    EXPECT_OK(tfr_resnet_preset("tiny", &c, &err), &err);
    tfr_model *m;
    EXPECT_OK(tfr_model_new(&c, 5, &m, &err), &err);
    if (!m)
        return;
    size_t nx = (size_t)2 * c.in_c * c.in_h * c.in_w;
    float *x = calloc(nx, sizeof *x);
    uint8_t *x8 = calloc(nx, 1);
    float loss;
    const int32_t bad[3][2] = {{0, c.classes}, {-1, 0}, {0, 1000000}};
    for (int i = 0; i < 3; i++) {
        EXPECT_STATUS(tfr_model_forward(m, x, 2, bad[i], 1, &loss, &err), TFR_ERR_ARG);
        EXPECT_CONTAINS(err.msg, "not a class of this model");
        EXPECT_STATUS(tfr_model_forward_u8(m, x8, 2, NULL, 0.5f, 0.25f, bad[i], 1, &loss, &err),
                      TFR_ERR_ARG);
    }
    const int32_t good[2] = {0, c.classes - 1};
    EXPECT_OK(tfr_model_forward(m, x, 2, good, 1, &loss, &err), &err);
    EXPECT(isfinite(loss));
    float lg[2 * 4] = {0}, dl[2 * 4];
    const int32_t out_of_range[2] = {1, 4};
    EXPECT(isnan(softmax_ce_cpu(2, 4, lg, out_of_range, 0, dl)));
    for (int j = 0; j < 4; j++)
        EXPECT(dl[4 + j] == 0.0f); /* no gradient toward any class */
    free(x);
    free(x8);
    tfr_model_free(m);
}

/* the CPU table, counting its fused batch norms */
static int fused_calls;
static tfr_status (*real_bn_relu_fwd)(tfr_backend *, int, int, int, const float *, const float *,
                                      const float *, float *, float *, float *, float *, float *,
                                      int, float, float, tfr_error *);
static tfr_status count_bn_relu_fwd(tfr_backend *b, int n, int c, int hw, const float *x,
                                    const float *g, const float *be, float *y, float *mean,
                                    float *is, float *rm, float *rv, int train, float mom,
                                    float eps, tfr_error *err)
{
    fused_calls++;
    return real_bn_relu_fwd(b, n, c, hw, x, g, be, y, mean, is, rm, rv, train, mom, eps, err);
}

/* 25 SGD steps of the fmnist preset on a table; losses and final parameters */
static float *train_on(const tfr_ops *ops, float *loss, size_t *np)
{
    tfr_resnet_config c;
    tfr_error err;
    tfr_model *m = NULL;
    EXPECT_OK(tfr_resnet_preset("fmnist", &c, &err), &err);
    EXPECT_OK(tfr_model_new(&c, 3, &m, &err), &err);
    if (!m)
        return NULL;
    EXPECT_OK(tfr_model_set_backend(m, ops, &(tfr_backend_opts){0}, &err), &err);
    const int n = 16;
    size_t nx = (size_t)n * 784;
    float *x = malloc(nx * 4);
    int32_t lab[16];
    fill(x, nx);
    for (int i = 0; i < n; i++)
        lab[i] = i % 10;
    for (int t = 0; t < 25; t++) {
        EXPECT_OK(tfr_model_forward(m, x, n, lab, 1, &loss[t], &err), &err);
        EXPECT_OK(tfr_model_backward(m, 5e-4f, &err), &err);
        EXPECT_OK(tfr_model_sgd(m, 0.05f, 0.9f, 1e-4f, &err), &err);
    }
    float *w, *out = NULL;
    *np = tfr_model_num_params(m);
    if (tfr_model_params(m, &w, &err) == TFR_OK && (out = malloc(*np * 4)))
        memcpy(out, w, *np * 4);
    tfr_model_free(m);
    free(x);
    return out;
}

static void check_fusion(void)
{
    tfr_ops fused = *tfr_ops_cpu(), apart = *tfr_ops_cpu();
    real_bn_relu_fwd = fused.bn_relu_fwd;
    fused.bn_relu_fwd = count_bn_relu_fwd;
    apart.bn_relu_fwd = NULL;
    apart.bn_relu_bwd = NULL;
    float la[25], lb[25];
    size_t na = 0, nb = 0;
    uint64_t keep = rs;
    float *wa = train_on(&fused, la, &na);
    rs = keep; /* the same data */
    float *wb = train_on(&apart, lb, &nb);
    EXPECT(fused_calls >= 25 * 3); /* every BN + ReLU of the preset, each step */
    EXPECT(wa && wb && na == nb);
    if (wa && wb && na == nb) {
        if (memcmp(la, lb, sizeof la))
            FAILF("fused batch norm + ReLU: losses differ from the ops apart (%g vs %g at the end)",
                  la[24], lb[24]);
        if (memcmp(wa, wb, na * 4))
            FAILF("fused batch norm + ReLU: parameters differ from the ops apart");
        EXPECT(la[24] < la[0]);
    }
    free(wa);
    free(wb);
}

int main(void)
{
    check_fusion();
    check_labels();
    check_checkpoint_bounds();
    check_checkpoint_meta();
    check_conv(1, 3);
    check_conv(2, 3);
    check_conv(2, 1);
    check_conv(1, 1);
    check_bn();
    check_small_layers();
    check_network(TFR_RESNET_BOTTLENECK);
    check_network(TFR_RESNET_BASIC);
    check_basic_shape();
    check_auto_bf16();
    return test_failures() ? 1 : 0;
}
