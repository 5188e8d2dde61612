/*
 * tests/bench/bench_train.c - CPU training speed:
 *  (a) conv2d forward+backward GFLOP/s for the ResNet's layer shapes beside
 *      BLAS sgemm GFLOP/s on the same-sized matrices, in the same run;
 *      and, in a build with oneDNN, the "onednn" backend's convolution on the
 *      same shapes;
 *  (b) training images/s (forward + backward + SGD, random data, no input
 *      pipeline) for the Fashion-MNIST preset and a 64x64x3 model, on the
 *      reference CPU backend and on "onednn", each with batch norm and its
 *      ReLU fused and apart, in the same run;
 *  (c) both presets (fmnist, homework) beside PyTorch training the same
 *      network with the same batch, thread count and step on the CPU, in
 *      NCHW and channels_last (tests/bench/torch_resnet.py --device cpu),
 *      images/s and CPU seconds per image, as ratios against PyTorch's
 *      faster layout; and tfrecord-train --recipe fmnist's network (basic
 *      blocks, width 48, levels 2,2,2) the same way in fp32, then in bf16
 *      (onednn's bf16 convolutions beside PyTorch's CPU bf16 autocast).
 *      Prints "skipped: no torch" without python3-torch.
 *
 *   bench_train [BATCH [PYTHON]]   (default 128; PYTHON, or $TFR_TORCH_PYTHON,
 *                                   else the first of python3, /usr/bin/python3
 *                                   that imports torch)
 */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/backend.h"
#include "nn/nn_impl.h"
#include "testutil.h"
#include "tfrecord/nn.h"
#include "tfrecord/util.h"

static void fillr(float *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((test_rand(&seed) >> 40) / 16777216.0 - 0.5);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int omp_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void conv_case(int n, int c, int h, int k, int r, int stride)
{
    tfr_conv2d cv;
    tfr_conv2d_setup(&cv, n, c, h, h, k, r, r, stride, r / 2);
    size_t nx = (size_t)n * c * h * h, nw = (size_t)k * c * r * r;
    size_t ny = (size_t)n * k * cv.p * cv.q, ncol = (size_t)c * r * r * n * cv.p * cv.q;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4);
    float *dx = calloc(nx, 4), *dw = calloc(nw, 4), *col = malloc(ncol * 4), *tmp = malloc(ny * 4);
    float *part = malloc(tfr_conv2d_dw_scratch(&cv) * 4);
    fillr(x, nx, 1);
    fillr(w, nw, 2);
    fillr(dy, ny, 3);
    double flops = 3 * 2.0 * k * (double)c * r * r * n * cv.p * cv.q; /* fwd, dW, dX */
    int reps = 1 + (int)(2e9 / flops);
    conv2d_fwd_cpu(&cv, x, w, y, col, tmp);
    double t0 = tfr_now();
    for (int i = 0; i < reps; i++) {
        conv2d_fwd_cpu(&cv, x, w, y, col, tmp);
        conv2d_bwd_cpu(&cv, x, w, dy, dx, dw, col, tmp, part);
    }
    double tc = (tfr_now() - t0) / reps;
    free(part);
    /* the same three GEMMs alone, by BLAS with its own threads */
    openblas_set_num_threads(omp_threads());
    int M = k, N = n * cv.p * cv.q, K = c * r * r;
    t0 = tfr_now();
    for (int i = 0; i < reps; i++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, w, K, col, N, 0, tmp, N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1, tmp, N, col, N, 1, dw, K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1, w, K, tmp, N, 0, col, N);
    }
    double tg = (tfr_now() - t0) / reps;
    openblas_set_num_threads(1);
    printf("bench_train conv %dx%dx%d -> %d, %dx%d/%d, batch %d: %.1f GFLOP/s fwd+bwd, sgemm %.1f "
           "GFLOP/s, ratio %.2f\n", c, h, h, k, r, r, stride, n, flops / tc / 1e9, flops / tg / 1e9,
           tg / tc);
    tfr_error err;
    const tfr_ops *dn = tfr_ops_onednn(&err);
    tfr_backend *be = NULL;
    if (dn && dn->create(NULL, &be, &err) == TFR_OK) {
        dn->conv2d_fwd(be, &cv, x, w, y, &err); /* primitives made at first use */
        dn->conv2d_bwd(be, &cv, x, w, dy, dx, dw, &err);
        t0 = tfr_now();
        for (int i = 0; i < reps; i++) {
            dn->conv2d_fwd(be, &cv, x, w, y, &err);
            dn->conv2d_bwd(be, &cv, x, w, dy, dx, dw, &err);
        }
        double td = (tfr_now() - t0) / reps;
        printf("bench_train conv %dx%dx%d -> %d, %dx%d/%d, batch %d: onednn %.1f GFLOP/s, "
               "%.2f of sgemm, %.1fx the reference\n", c, h, h, k, r, r, stride, n,
               flops / td / 1e9, tg / td, tc / td);
        dn->destroy(be);
    }
    free(x); free(w); free(y); free(dy); free(dx); free(dw); free(col); free(tmp);
}

/* training images/s on an op table; `apart` runs batch norm and ReLU as
 * two ops (the table without its fused bn_relu), `bf16` asks for bf16
 * convolutions. *cpu_per_image, when given, gets the process CPU seconds
 * per image. */
static double train_case(const char *name, const tfr_resnet_config *c, int batch,
                         const tfr_ops *table, int apart, int bf16, double *cpu_per_image)
{
    tfr_model *m;
    tfr_error err;
    tfr_ops ops = *table;
    if (apart)
        ops.bn_relu_fwd = NULL, ops.bn_relu_bwd = NULL;
    char device[32];
    snprintf(device, sizeof device, "%s%s", table->name, apart ? ", apart" : bf16 ? " bf16" : "");
    tfr_backend_opts bo = {0};
    if (bf16)
        bo.math = TFR_MATH_BF16;
    if (tfr_model_new(c, 1, &m, &err) || tfr_model_set_backend(m, &ops, &bo, &err)) {
        printf("bench_train model %s on %s: %s\n", name, device, err.msg);
        return 0;
    }
    size_t nx = (size_t)batch * c->in_c * c->in_h * c->in_w;
    float *x = malloc(nx * 4);
    int32_t *lab = malloc((size_t)batch * 4);
    fillr(x, nx, 9);
    for (int i = 0; i < batch; i++)
        lab[i] = i % c->classes;
    float loss;
    tfr_model_forward(m, x, batch, lab, 1, &loss, &err); /* warm-up */
    tfr_model_backward(m, 5e-4f, &err);
    int steps = 0;
    double t0 = tfr_now(), c0 = cpu_now();
    while (tfr_now() - t0 < 5 || steps < 3) {
        tfr_model_forward(m, x, batch, lab, 1, &loss, &err);
        tfr_model_backward(m, 5e-4f, &err);
        tfr_model_sgd(m, 0.01f, 0.9f, 0, &err);
        steps++;
    }
    double t = tfr_now() - t0;
    double ips = steps * batch / t;
    if (cpu_per_image)
        *cpu_per_image = (cpu_now() - c0) / ((double)steps * batch);
    printf("bench_train model %-8s %dx%dx%d width %d on %-14s: %.0f images/s training (%.1f "
           "GFLOP/s counting fwd+bwd as 3x forward)\n",
           name, c->in_h, c->in_w, c->in_c, c->width, device, ips,
           ips * 3 * tfr_model_flops(m) / 1e9);
    free(x);
    free(lab);
    tfr_model_free(m);
    return ips;
}

/* the reference backend, then oneDNN's where built, each with batch norm
 * and ReLU fused and apart, in the same run */
static void train_both(const char *name, tfr_resnet_config *c, int batch)
{
    tfr_error err;
    const tfr_ops *cpu = tfr_ops_cpu(), *dn = tfr_ops_onednn(&err);
    double a0 = train_case(name, c, batch, cpu, 1, 0, NULL),
           a = train_case(name, c, batch, cpu, 0, 0, NULL);
    if (a0 > 0 && a > 0)
        printf("bench_train model %-8s cpu fused / apart: %.2fx\n", name, a / a0);
    if (!dn)
        return;
    double b0 = train_case(name, c, batch, dn, 1, 0, NULL),
           b = train_case(name, c, batch, dn, 0, 0, NULL);
    if (b0 > 0 && b > 0)
        printf("bench_train model %-8s onednn fused / apart: %.2fx; onednn / cpu: %.2fx\n", name,
               b / b0, b / a);
}

/* the interpreter that imports torch, or NULL */
static const char *torch_python(const char *given)
{
    static char pick[256];
    const char *env = getenv("TFR_TORCH_PYTHON");
    const char *cands[] = {given, env, "python3", "/usr/bin/python3"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (!cands[i] || !*cands[i])
            continue;
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) {
            snprintf(pick, sizeof pick, "%s", cands[i]);
            return pick;
        }
    }
    return NULL;
}

/* PyTorch's training images/s (and CPU s/image, parameter count) for a
 * preset in one layout; 0 when it failed */
static double torch_case(const char *py, const char *preset, const char *layout, int batch,
                         int threads, int bf16, double *cpu_per_image, long *params)
{
    char cmd[1024], line[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tests/bench/torch_resnet.py --device cpu --preset %s "
             "--layout %s --batch %d --threads %d --precision %s --seconds 5 2>/dev/null",
             py, TFR_SRC_DIR, preset, layout, batch, threads, bf16 ? "bf16" : "fp32");
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    double ips = 0, cpu = 0;
    while (fgets(line, sizeof line, p)) {
        const char *k;
        if ((k = strstr(line, "\"images_per_s\": ")))
            ips = atof(k + 16);
        if ((k = strstr(line, "\"cpu_s\": ")))
            cpu = atof(k + 9);
        if ((k = strstr(line, "\"steps\": ")) && ips > 0)
            *cpu_per_image = cpu / (atof(k + 9) * batch);
        if ((k = strstr(line, "\"params\": ")))
            *params = atol(k + 10);
    }
    pclose(p);
    printf("bench_train torch %-8s %-13s %s batch %d, %d threads: %.0f images/s, %.2f ms "
           "CPU/image\n", preset, layout, bf16 ? "bf16" : "fp32", batch, threads, ips,
           *cpu_per_image * 1e3);
    return ips;
}

/* (c): this project's backends beside PyTorch on one preset (or c, the
 * network torch_resnet.py calls `preset`), fp32 or bf16 */
static void versus_torch(const char *py, const char *preset, const tfr_resnet_config *cfg,
                         int batch, int bf16)
{
    tfr_resnet_config c;
    tfr_error err;
    if (cfg)
        c = *cfg;
    else
        tfr_resnet_preset(preset, &c, &err);
    tfr_model *m;
    if (tfr_model_new(&c, 1, &m, &err))
        return;
    long ours = (long)tfr_model_num_params(m), theirs = 0;
    tfr_model_free(m);
    int threads = omp_threads();
    double tc[2] = {0, 0}, tcpu[2] = {0, 0};
    const char *layouts[2] = {"nchw", "channels_last"};
    for (int i = 0; i < 2; i++)
        tc[i] = torch_case(py, preset, layouts[i], batch, threads, bf16, &tcpu[i], &theirs);
    if (theirs != ours)
        printf("bench_train torch %s: WARNING: %ld parameters in PyTorch's network, %ld here\n",
               preset, theirs, ours);
    int best = tc[1] > tc[0];
    /* the reference table has no bf16 */
    const tfr_ops *tables[2] = {bf16 ? NULL : tfr_ops_cpu(), tfr_ops_onednn(&err)};
    for (int i = 0; i < 2; i++) {
        if (!tables[i])
            continue;
        double cpu = 0, ips = train_case(preset, &c, batch, tables[i], 0, bf16, &cpu);
        if (ips > 0 && tc[best] > 0)
            printf("bench_train vs torch %-8s %-6s %s: %.0f images/s, %.2f ms CPU/image; %.2fx "
                   "torch %s (%.0f images/s), %.2fx torch %s; CPU/image %.2fx torch %s's\n",
                   preset, tables[i]->name, bf16 ? "bf16" : "fp32", ips, cpu * 1e3,
                   ips / tc[best], layouts[best],
                   tc[best], tc[!best] > 0 ? ips / tc[!best] : 0, layouts[!best],
                   tcpu[best] / cpu, layouts[best]);
    }
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 128;
    openblas_set_num_threads(1); /* as the model runs it */
    /* layer shapes of the fmnist preset (14x14 after the tail) and a 64x64 model */
    conv_case(batch, 1, 28, 16, 3, 1);
    conv_case(batch, 64, 14, 16, 1, 1);
    conv_case(batch, 16, 14, 16, 3, 1);
    conv_case(batch, 32, 7, 32, 3, 1);
    conv_case(batch / 2, 32, 32, 32, 3, 1);
    tfr_resnet_config c;
    tfr_error err;
    tfr_resnet_preset("fmnist", &c, &err);
    train_both("fmnist", &c, batch);
    tfr_resnet_preset("homework", &c, &err);
    c.width = 16;
    c.nlevels = 3;
    c.levels[0] = c.levels[1] = c.levels[2] = 1;
    train_both("64x64", &c, batch);
    const char *py = torch_python(argc > 2 ? argv[2] : NULL);
    if (!py) {
        printf("bench_train vs torch: skipped: no torch\n");
        return 0;
    }
    versus_torch(py, "fmnist", NULL, batch, 0);
    versus_torch(py, "homework", NULL, batch, 0);
    /* tfrecord-train --recipe fmnist's network (torch_resnet.py --preset recipe) */
    tfr_resnet_preset("fmnist", &c, &err);
    c.block = TFR_RESNET_BASIC;
    c.width = 48;
    c.levels[0] = c.levels[1] = c.levels[2] = 2;
    versus_torch(py, "recipe", &c, batch, 0);
    versus_torch(py, "recipe", &c, batch, 1);
    return 0;
}
