/*
 * tests/bench/bench_train_gpu.c - training images/s of the homework ResNet
 * (64x64x3, 200 classes, width 64, levels 4,6,3,2) on the CUDA backend in
 * tf32, bf16 and fp32, beside PyTorch training the same architecture with the same batch,
 * precision and channels_last in the same run (tests/bench/torch_resnet.py,
 * eager and torch.compile), as ratios.
 *
 * Our step is tfrecord-train's: uint8 NHWC batch through the pinned input
 * buffers (the next one staged while a step runs), normalized on the GPU,
 * forward, backward, SGD, the loss read back. The model is checked against the CPU on the first step (loss within
 * 5%) before anything is timed.
 *
 *   bench_train_gpu [STEPS] [python3]      (no GPU: prints SKIP)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/nn.h"
#include "tfrecord/util.h"

static double torch_rate(const char *py, int batch, const char *prec, const char *mode, int steps)
{
    char cmd[1024], line[1024];
    snprintf(cmd, sizeof cmd, "%s %s/tests/bench/torch_resnet.py --batch %d --precision %s "
                              "--mode %s --steps %d 2>/dev/null",
             py, TFR_SRC_DIR, batch, prec, mode, steps);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    double r = 0;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"images_per_s\": ");
        if (k)
            r = atof(k + 16);
    }
    pclose(p);
    return r;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 30;
    const char *py = argc > 2 ? argv[2] : "python3";
    tfr_error err;
    tfr_error_clear(&err);
    tfr_resnet_config cfg;
    tfr_resnet_preset("homework", &cfg, &err);
    const int batches[] = {128, 256};
    const struct { tfr_precision p; const char *name; } precs[] = {
        {TFR_PRECISION_TF32, "tf32"}, {TFR_PRECISION_BF16, "bf16"}, {TFR_PRECISION_FP32, "fp32"}};
    for (int bi = 0; bi < 2; bi++)
        for (int pi = 0; pi < 3; pi++) {
            const int n = batches[bi];
            tfr_model *m, *ref = NULL;
            if (tfr_model_new(&cfg, 1, &m, &err))
                return 1;
            tfr_device_opts d = {TFR_DEVICE_CUDA, 0, precs[pi].p, 0};
            if (tfr_model_set_device(m, &d, &err)) {
                printf("bench_train_gpu SKIP: %s\n", err.msg);
                tfr_model_free(m);
                return 0;
            }
            size_t px = (size_t)n * 64 * 64 * 3;
            uint8_t *x = malloc(px * 3);
            int32_t *lab = malloc((size_t)n * 3 * sizeof *lab);
            test_fill_random(x, px * 3, 5);
            for (int i = 0; i < 3 * n; i++)
                lab[i] = i % 200;
            /* validate: first-step loss equals the CPU's */
            float lg = 0, lc = 0;
            if (bi == 0 && tfr_model_new(&cfg, 1, &ref, &err) == TFR_OK) {
                tfr_model_forward_u8(ref, x, n, NULL, 0.5f, 0.25f, lab, 1, &lc, &err);
                tfr_model_free(ref);
            }
            double t0 = 0;
            int warm = 5;
            /* tfrecord-train's device loop: the next batch staged while a
             * step runs, one wait per step for its loss */
            if (tfr_model_stage_u8(m, x, n, NULL, &err)) {
                fprintf(stderr, "bench_train_gpu: %s\n", err.msg);
                return 1;
            }
            for (int s = 0; s < warm + steps; s++) {
                if (s == warm)
                    t0 = tfr_now();
                float loss;
                if (tfr_model_forward_u8(m, NULL, n, NULL, 0.5f, 0.25f, lab + (s % 3) * n, 1, NULL,
                                         &err) ||
                    tfr_model_backward(m, 5e-4f, &err) || tfr_model_sgd(m, 0.01f, 0.9f, 0, &err) ||
                    tfr_model_stage_u8(m, x + (size_t)((s + 1) % 3) * px, n, NULL, &err) ||
                    tfr_model_loss(m, &loss, &err)) {
                    fprintf(stderr, "bench_train_gpu: %s\n", err.msg);
                    return 1;
                }
                if (s == 0)
                    lg = loss;
            }
            tfr_model_sync(m, &err);
            double ours = (double)n * steps / (tfr_now() - t0);
            if (lc > 0 && (lg / lc > 1.05 || lc / lg > 1.05)) {
                fprintf(stderr, "bench_train_gpu: first-step loss %.5f on the GPU, %.5f on the CPU\n",
                        lg, lc);
                return 1;
            }
            double te = torch_rate(py, n, precs[pi].name, "eager", steps);
            double tc = torch_rate(py, n, precs[pi].name, "compile", steps);
            printf("bench_train_gpu homework 64x64 batch=%d %s  tfr %.0f img/s  torch-eager %.0f "
                   "img/s  ratio %.2f  torch.compile %.0f img/s  ratio %.2f  (%s)\n",
                   n, precs[pi].name, ours, te, te > 0 ? ours / te : 0, tc, tc > 0 ? ours / tc : 0,
                   tfr_model_device(m));
            fflush(stdout);
            free(x);
            free(lab);
            tfr_model_free(m);
        }
    return 0;
}
