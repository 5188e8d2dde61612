/*
 * train/runlog.c - a training run's log in LOGDIR: history.csv (one row per
 * epoch), steps.csv (one row per step, the loss also in %a so runs can be
 * compared bit for bit) and TensorBoard runs laid out as Keras' TensorBoard
 * callback writes them: LOGDIR/train and LOGDIR/validation with the same
 * tags (epoch_loss, epoch_accuracy, at step = epoch, the untrained model at
 * step 0), so TensorBoard draws training and validation on one chart;
 * batch_loss every log_every steps; the first batch of each epoch and the
 * validation confusion matrix as images; every parameter tensor and its
 * gradient as histograms; and the hparams session in LOGDIR itself. Both
 * CSVs are appended to, so a resumed run continues them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfrecord/image.h"
#include "tfrecord/util.h"
#include "train/train_impl.h"
#include "util/alloc.h"
#include "util/fsio.h"

struct tfr_runlog {
    tfr_events *root, *train, *val;
    FILE       *hist, *steps;
    int         log_every;
};

void tfr_runlog_close(tfr_runlog *l, int success)
{
    if (!l)
        return;
    if (l->root) {
        tfr_error e;
        tfr_events_hparams_end(l->root, success, tfr_wall_time(), &e);
    }
    if (l->hist)
        fclose(l->hist);
    if (l->steps)
        fclose(l->steps);
    tfr_events_close(l->root);
    tfr_events_close(l->train);
    tfr_events_close(l->val);
    free(l);
}

tfr_status tfr_runlog_open(const char *logdir, int log_every, tfr_runlog **out, tfr_error *err)
{
    tfr_status st = TFR_OK;
    *out = NULL;
    tfr_runlog *l = tfr_calloc(1, sizeof *l);
    if (!l)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    l->log_every = log_every;
    if ((st = tfr_mkdir_p(logdir, err)) || (st = tfr_events_open_run(logdir, NULL, &l->root, err)) ||
        (st = tfr_events_open_run(logdir, "train", &l->train, err)) ||
        (st = tfr_events_open_run(logdir, "validation", &l->val, err)))
        goto fail;
    char p[4400];
    tfr_path_join(p, sizeof p, logdir, "history.csv", NULL);
    int exists = access(p, F_OK) == 0;
    l->hist = fopen(p, "a");
    if (l->hist && !exists)
        fprintf(l->hist, "epoch,step,lr,loss,accuracy,val_loss,val_accuracy,images_per_s,seconds,"
                         "input_wait\n");
    tfr_path_join(p, sizeof p, logdir, "steps.csv", NULL);
    exists = access(p, F_OK) == 0;
    l->steps = fopen(p, "a");
    if (l->steps && !exists)
        fprintf(l->steps, "step,epoch,loss_hex,loss\n");
    if (!l->hist || !l->steps) {
        st = tfr_fail_errno(err, TFR_ERR_IO, p, "cannot open");
        goto fail;
    }
    *out = l;
    return TFR_OK;
fail:
    tfr_events_close(l->root);
    l->root = NULL; /* no session end for a session never started */
    tfr_runlog_close(l, 0);
    return st;
}

void tfr_runlog_hparams(tfr_runlog *l, const tfr_train_opts *o, const tfr_model *m,
                        tfr_error *err)
{
    const tfr_resnet_config *c = tfr_model_config(m);
    char levels[64] = "", input[32];
    for (int i = 0, at = 0; i < c->nlevels && at < (int)sizeof levels - 8; i++)
        at += snprintf(levels + at, sizeof levels - (size_t)at, "%s%d", i ? "," : "", c->levels[i]);
    snprintf(input, sizeof input, "%dx%dx%d", c->in_h, c->in_w, c->in_c);
    const tfr_hparam hp[] = {
        {"lr", 0, o->lr, NULL, 0},
        {"batch", 0, o->batch, NULL, 0},
        {"epochs", 0, o->epochs, NULL, 0},
        {"schedule", 1, 0, o->cosine ? "cosine" : o->lr_every ? "staircase" : "constant", 0},
        {"warmup_epochs", 0, o->warmup_epochs, NULL, 0},
        {"momentum", 0, o->momentum, NULL, 0},
        {"l2", 0, o->l2, NULL, 0},
        {"weight_decay", 0, o->weight_decay, NULL, 0},
        {"flip", 2, 0, NULL, o->flip},
        {"pad_crop", 0, o->pad_crop, NULL, 0},
        {"seed", 0, (double)o->seed, NULL, 0},
        {"width", 0, c->width, NULL, 0},
        {"levels", 1, 0, levels, 0},
        {"block", 1, 0, tfr_resnet_block_name(c), 0},
        {"input", 1, 0, input, 0},
        {"classes", 0, c->classes, NULL, 0},
        {"parameters", 0, (double)tfr_model_num_params(m), NULL, 0},
        {"device", 1, 0, tfr_model_device(m), 0},
    };
    tfr_events_hparams_start(l->root, hp, (int)(sizeof hp / sizeof *hp),
                             o->checkpoint_dir ? o->checkpoint_dir : "", tfr_wall_time(), err);
    tfr_events_flush(l->root, err);
}

void tfr_runlog_baseline(tfr_runlog *l, double loss, double acc, int on_val, tfr_error *err)
{
    tfr_events *e = on_val ? l->val : l->train;
    tfr_events_scalar(e, "epoch_loss", 0, (float)loss, err);
    tfr_events_scalar(e, "epoch_accuracy", 0, (float)acc, err);
    tfr_events_flush(e, err);
}

void tfr_runlog_step(tfr_runlog *l, uint64_t step, uint64_t epoch, float loss, float lr,
                     tfr_error *err)
{
    fprintf(l->steps, "%llu,%llu,%a,%.6f\n", (unsigned long long)step, (unsigned long long)epoch,
            loss, loss);
    if (l->log_every > 0 && step % (uint64_t)l->log_every == 0) {
        tfr_events_scalar(l->train, "batch_loss", (int64_t)step, loss, err);
        tfr_events_scalar(l->train, "batch_learning_rate", (int64_t)step, lr, err);
    }
}

static void put_image(tfr_events *e, const char *tag, uint64_t step, const tfr_image *im,
                      tfr_error *err)
{
    uint8_t *png;
    size_t n;
    if (tfr_image_encode_png(im, &png, &n, err))
        return;
    tfr_events_image(e, tag, (int64_t)step, png, n, im->w, im->h, im->c, err);
    free(png);
}

void tfr_runlog_batch_images(tfr_runlog *l, uint64_t epoch, const tfr_batch *b, float mean,
                             float std, int flip_pending, tfr_error *err)
{
    const int n = b->n < 16 ? b->n : 16, cols = n < 8 ? n : 8, rows = (n + cols - 1) / cols;
    const int W = b->w, H = b->h, C = b->c;
    if (n <= 0 || W <= 0 || H <= 0 || (C != 1 && C != 3))
        return;
    int scale = 1; /* small images (28x28) are enlarged, pixel for pixel */
    while ((W > H ? W : H) * (scale + 1) <= 64)
        scale++;
    const int gap = 2, cw = W * scale, ch = H * scale;
    tfr_image grid = {0};
    if (tfr_image_alloc(&grid, cols * cw + (cols + 1) * gap, rows * ch + (rows + 1) * gap, C, err))
        return;
    memset(grid.px, 0x40, (size_t)grid.w * grid.h * C);
    const size_t plane = (size_t)W * H;
    for (int i = 0; i < n; i++) {
        int gx = gap + (i % cols) * (cw + gap), gy = gap + (i / cols) * (ch + gap);
        int flip = flip_pending && b->flips && b->flips[i];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    int sx = flip ? W - 1 - x : x;
                    double v;
                    if (b->format == TFR_BATCH_U8_NHWC)
                        v = ((const uint8_t *)b->data)[(size_t)i * plane * C +
                                                       ((size_t)y * W + sx) * C + c];
                    else {
                        const float *f = (const float *)b->data + (size_t)i * plane * C;
                        float x01 = b->format == TFR_BATCH_F32_NCHW
                                        ? f[(size_t)c * plane + (size_t)y * W + sx]
                                        : f[((size_t)y * W + sx) * C + c];
                        v = (x01 * std + mean) * 255.0;
                    }
                    uint8_t u = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            grid.px[((size_t)(gy + y * scale + dy) * grid.w + gx + x * scale + dx) *
                                        C + c] = u;
                }
    }
    put_image(l->train, "first_batch", epoch, &grid, err);
    tfr_image_free(&grid);
}

void tfr_runlog_confusion(tfr_runlog *l, uint64_t epoch, const tfr_eval_result *er,
                          const tfr_model *m, tfr_error *err)
{
    const int K = er->classes;
    if (K < 1 || K > 1000 || !er->confusion)
        return;
    int cell = K <= 12 ? 28 : K <= 40 ? 12 : K <= 200 ? 3 : 1;
    int names = K <= 40, lab = names ? 100 : 0, top = 18;
    tfr_image im;
    if (tfr_canvas_new(&im, lab + K * cell + 8, top + K * cell + 8, 0xffffffu, err))
        return;
    tfr_draw_text(&im, 4, 2, "rows: true class, columns: predicted (row share)", 0x202020u, 0);
    for (int i = 0; i < K; i++) {
        uint64_t row = 0;
        for (int j = 0; j < K; j++)
            row += er->confusion[(size_t)i * K + j];
        for (int j = 0; j < K; j++) {
            double f = row ? (double)er->confusion[(size_t)i * K + j] / (double)row : 0;
            int v = 255 - (int)lround(f * 255); /* white (none) to blue (all) */
            uint32_t c = ((uint32_t)v << 16) | ((uint32_t)(v + (255 - v) / 4) << 8) | 255u;
            tfr_draw_rect(&im, lab + j * cell, top + i * cell, cell - (cell > 3), cell - (cell > 3),
                          c);
        }
        if (names) {
            char t[32];
            const char *nm = tfr_model_class_name(m, i);
            snprintf(t, sizeof t, "%d %.12s", i, nm ? nm : "");
            tfr_draw_text(&im, 2, top + i * cell + (cell - 13) / 2, t, 0x202020u, 0);
        }
    }
    put_image(l->val, "confusion_matrix", epoch, &im, err);
    tfr_image_free(&im);
}

void tfr_runlog_histograms(tfr_runlog *l, uint64_t epoch, tfr_model *m, tfr_error *err)
{
    tfr_param_group g[512];
    int n = tfr_model_param_groups(m, g, 512);
    n = n < 512 ? n : 512;
    float *p, *gr;
    if (tfr_model_params(m, &p, err) || tfr_model_grads(m, &gr, err))
        return;
    for (int i = 0; i < n; i++) {
        char tag[64];
        tfr_events_histogram(l->train, g[i].name, (int64_t)epoch, p + g[i].offset, g[i].count, 30,
                             err);
        snprintf(tag, sizeof tag, "%.31s/gradient", g[i].name);
        tfr_events_histogram(l->train, tag, (int64_t)epoch, gr + g[i].offset, g[i].count, 30, err);
    }
}

void tfr_runlog_epoch(tfr_runlog *l, const tfr_train_event *ev, int have_val, tfr_error *err)
{
    const uint64_t epoch = ev->epoch, step = ev->step, images = ev->images;
    const float lr = ev->lr;
    const double loss = ev->loss, acc = ev->accuracy, val_loss = ev->val_loss,
                 val_acc = ev->val_accuracy, secs = ev->seconds, waited = ev->input_wait;
    /* a value that does not exist is an empty field, never "nan" */
    char vl[32] = "", va[32] = "";
    if (have_val && isfinite(val_loss))
        snprintf(vl, sizeof vl, "%.6f", val_loss);
    if (have_val && isfinite(val_acc))
        snprintf(va, sizeof va, "%.6f", val_acc);
    fprintf(l->hist, "%llu,%llu,%.6g,%.6f,%.6f,%s,%s,%.1f,%.2f,%.4f\n", (unsigned long long)epoch,
            (unsigned long long)step, lr, loss, acc, vl, va, secs > 0 ? images / secs : 0.0, secs,
            secs > 0 ? waited / secs : 0.0);
    fflush(l->hist);
    fflush(l->steps);
    int64_t e1 = (int64_t)epoch;
    tfr_events_scalar(l->train, "epoch_loss", e1, (float)loss, err);
    tfr_events_scalar(l->train, "epoch_accuracy", e1, (float)acc, err);
    tfr_events_scalar(l->train, "epoch_learning_rate", e1, lr, err);
    tfr_events_scalar(l->train, "epoch_images_per_second", e1, (float)(secs > 0 ? images / secs : 0),
                      err);
    if (have_val) {
        tfr_events_scalar(l->val, "epoch_loss", e1, (float)val_loss, err);
        tfr_events_scalar(l->val, "epoch_accuracy", e1, (float)val_acc, err);
    }
    tfr_events_flush(l->train, err);
    tfr_events_flush(l->val, err);
}
