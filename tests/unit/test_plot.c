/*
 * tests/unit/test_plot.c - tfr_history_plot: the PNG decodes (libpng) to
 * the size it reports, each epoch's training and validation values are
 * marked in their colours where the axes put them, a row without
 * validation values has no validation mark, a history without validation
 * has no validation colour at all, and a file that is not a history is
 * refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/image.h"
#include "tfrecord/train.h"

#define C_TRAIN 0x1f77b4u
#define C_VAL 0xff7f0eu

static tfr_image load(const char *path)
{
    tfr_image im = {0};
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    tfr_image_ctx *ctx;
    tfr_error err;
    EXPECT_OK(tfr_image_ctx_new(&ctx, &err), &err);
    EXPECT(b && tfr_image_decode(ctx, b, n, NULL, &im, NULL, &err) == TFR_OK);
    tfr_image_ctx_free(ctx);
    free(b);
    return im;
}

static uint32_t at(const tfr_image *im, int x, int y)
{
    const uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static int px_x(const int *a, const double *r, double v)
{
    return a[0] + (int)lround((v - r[0]) / (r[1] - r[0]) * (a[2] - 1));
}
static int px_y(const int *a, const double *r, double v)
{
    return a[1] + a[3] - 1 - (int)lround((v - r[0]) / (r[1] - r[0]) * (a[3] - 1));
}

static int count_colour(const tfr_image *im, uint32_t c)
{
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            n += at(im, x, y) == c;
    return n;
}

int main(void)
{
    const char *dir = test_tmpdir("plot");
    char csv[700], png[700];
    snprintf(csv, sizeof csv, "%s/history.csv", dir);
    snprintf(png, sizeof png, "%s/history.png", dir);
    const double loss[5] = {2.0, 1.4, 1.0, 0.7, 0.5}, acc[5] = {0.3, 0.5, 0.7, 0.8, 0.9};
    const double vloss[5] = {2.1, 1.6, NAN, 0.9, 0.8}, vacc[5] = {0.25, 0.45, NAN, 0.75, 0.85};
    FILE *f = fopen(csv, "w");
    fprintf(f, "epoch,step,lr,loss,accuracy,val_loss,val_accuracy,images_per_s,seconds,input_wait\n");
    for (int i = 0; i < 5; i++) {
        if (isnan(vloss[i]))
            fprintf(f, "%d,%d,0.1,%g,%g,,,100,1,0\n", i + 1, 10 * (i + 1), loss[i], acc[i]);
        else
            fprintf(f, "%d,%d,0.1,%g,%g,%g,%g,100,1,0\n", i + 1, 10 * (i + 1), loss[i], acc[i],
                    vloss[i], vacc[i]);
    }
    fclose(f);
    tfr_history_plot_info info;
    tfr_error err;
    EXPECT_OK(tfr_history_plot(csv, png, &info, &err), &err);
    EXPECT(info.epochs == 5 && info.have_val);
    tfr_image im = load(png);
    EXPECT_EQ_I(im.w, info.width);
    EXPECT_EQ_I(im.h, info.height);
    EXPECT(info.loss_range[0] <= 0.5 && info.loss_range[1] >= 2.1);
    EXPECT(info.acc_range[0] <= 0.25 && info.acc_range[1] >= 0.9 && info.acc_range[1] <= 1);
    for (int i = 0; i < 5 && im.px; i++) {
        int xl = px_x(info.loss_area, info.epoch_range, i + 1);
        int xa = px_x(info.acc_area, info.epoch_range, i + 1);
        int yl = px_y(info.loss_area, info.loss_range, loss[i]);
        int ya = px_y(info.acc_area, info.acc_range, acc[i]);
        /* the marks are 5x5: their corners are the series' colour */
        if (at(&im, xl + 2, yl + 2) != C_TRAIN || at(&im, xa - 2, ya - 2) != C_TRAIN)
            FAILF("epoch %d: no training mark at its loss/accuracy", i + 1);
        if (isnan(vloss[i])) {
            int vy = px_y(info.loss_area, info.loss_range, 1.2);
            for (int y = info.loss_area[1]; y < info.loss_area[1] + info.loss_area[3]; y++)
                if (at(&im, xl, y) == C_VAL && abs(y - vy) > 60)
                    FAILF("epoch %d has no validation value but a mark at y %d", i + 1, y);
            continue;
        }
        int vyl = px_y(info.loss_area, info.loss_range, vloss[i]);
        int vya = px_y(info.acc_area, info.acc_range, vacc[i]);
        if (at(&im, xl + 2, vyl - 2) != C_VAL || at(&im, xa + 2, vya + 2) != C_VAL)
            FAILF("epoch %d: no validation mark", i + 1);
    }
    tfr_image_free(&im);

    /* no validation set: no validation colour anywhere */
    f = fopen(csv, "w");
    fprintf(f, "epoch,step,lr,loss,accuracy,val_loss,val_accuracy\n1,5,0.1,1.5,0.4,,\n"
               "2,10,0.05,1.1,0.6,,\n");
    fclose(f);
    EXPECT_OK(tfr_history_plot(csv, png, &info, &err), &err);
    EXPECT(!info.have_val && info.epochs == 2);
    im = load(png);
    EXPECT(count_colour(&im, C_VAL) == 0);
    EXPECT(count_colour(&im, C_TRAIN) > 50);
    tfr_image_free(&im);

    /* not a history; an empty one */
    f = fopen(csv, "w");
    fprintf(f, "a,b\n1,2\n");
    fclose(f);
    EXPECT_STATUS(tfr_history_plot(csv, png, NULL, &err), TFR_ERR_FORMAT);
    EXPECT_CONTAINS(err.msg, "not a history.csv");
    f = fopen(csv, "w");
    fprintf(f, "epoch,step,lr,loss,accuracy\n");
    fclose(f);
    EXPECT_STATUS(tfr_history_plot(csv, png, NULL, &err), TFR_ERR_FORMAT);
    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
