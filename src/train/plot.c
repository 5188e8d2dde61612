/*
 * train/plot.c - a run's history.csv as one PNG: loss and accuracy per
 * epoch, training and validation on the same chart, and the learning rate
 * below them (see tfr_history_plot in tfrecord/train.h).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/image.h"
#include "tfrecord/train.h"
#include "util/alloc.h"

#define MAX_EPOCHS 100000

typedef struct row {
    double epoch, lr, loss, acc, vloss, vacc;
} row;

/* history.csv's columns by name (its header), so older files still plot */
static int col_of(char **names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], want))
            return i;
    return -1;
}

static tfr_status read_history(const char *path, row **out, int *n, tfr_error *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return tfr_fail_errno(err, TFR_ERR_IO, path, "cannot open");
    char line[2048];
    char *names[32];
    int nn = 0;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return tfr_fail(err, TFR_ERR_FORMAT, path, "empty history (no header)");
    }
    line[strcspn(line, "\r\n")] = 0;
    for (char *t = strtok(line, ","); t && nn < 32; t = strtok(NULL, ","))
        names[nn++] = t;
    int ce = col_of(names, nn, "epoch"), cl = col_of(names, nn, "lr"),
        cs = col_of(names, nn, "loss"), ca = col_of(names, nn, "accuracy"),
        cvl = col_of(names, nn, "val_loss"), cva = col_of(names, nn, "val_accuracy");
    if (ce < 0 || cs < 0 || ca < 0) {
        fclose(f);
        return tfr_fail(err, TFR_ERR_FORMAT, path, "not a history.csv: no epoch, loss and "
                        "accuracy columns");
    }
    row *v = NULL;
    int cap = 0, cnt = 0;
    tfr_status st = TFR_OK;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        double x[32];
        int k = 0;
        for (char *p = line; k < 32;) {
            char *end;
            x[k] = strtod(p, &end);
            if (end == p)
                x[k] = NAN; /* an empty field: no value */
            k++;
            char *c = strchr(p, ',');
            if (!c)
                break;
            p = c + 1;
        }
        if (cnt == MAX_EPOCHS) {
            st = tfr_fail(err, TFR_ERR_FORMAT, path, "more than %d rows", MAX_EPOCHS);
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            row *nv = tfr_realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                break;
            }
            v = nv;
        }
#define AT(c) ((c) >= 0 && (c) < k ? x[c] : NAN)
        v[cnt++] = (row){AT(ce), AT(cl), AT(cs), AT(ca), AT(cvl), AT(cva)};
#undef AT
    }
    fclose(f);
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    *n = cnt;
    return TFR_OK;
}

#define W 960
#define PANEL_H 300
#define LR_H 110
#define ML 58 /* left margin: tick labels */
#define MT 24
#define MB 30
#define GAP 24
#define BG 0xffffffu
#define AXIS 0x404040u
#define GRID 0xe4e4e4u
#define TEXT 0x202020u
#define C_TRAIN 0x1f77b4u /* matplotlib's first two colours */
#define C_VAL 0xff7f0eu
#define C_LR 0x2ca02cu

typedef struct panel {
    int x, y, w, h;          /* the plotting area */
    double x0, x1, y0, y1;   /* data range */
} panel;

static int px_x(const panel *p, double v)
{
    return p->x + (int)lround((v - p->x0) / (p->x1 - p->x0) * (p->w - 1));
}
static int px_y(const panel *p, double v)
{
    return p->y + p->h - 1 - (int)lround((v - p->y0) / (p->y1 - p->y0) * (p->h - 1));
}

/* a range with some room, never empty */
static void nice_range(double lo, double hi, double *a, double *b)
{
    if (!(hi > lo)) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
        lo -= d;
        hi += d;
    }
    double m = (hi - lo) * 0.06;
    *a = lo - m;
    *b = hi + m;
}

static void frame(tfr_image *im, const panel *p, const char *title, int ticks_fmt_pct)
{
    tfr_draw_rect(im, p->x, p->y, p->w, p->h, BG);
    char lab[64];
    for (int i = 0; i <= 4; i++) {
        double v = p->y0 + (p->y1 - p->y0) * i / 4.0;
        int y = px_y(p, v);
        tfr_draw_line(im, p->x, y, p->x + p->w - 1, y, GRID);
        if (ticks_fmt_pct)
            snprintf(lab, sizeof lab, "%.3f", v);
        else
            snprintf(lab, sizeof lab, "%.3g", v);
        tfr_draw_text(im, p->x - 4 - tfr_text_width(lab, 0), y - 6, lab, TEXT, 0);
    }
    /* epoch ticks: at most 10 labels */
    double span = p->x1 - p->x0;
    int step = span <= 10 ? 1 : (int)ceil(span / 10);
    for (int e = (int)ceil(p->x0); e <= (int)floor(p->x1); e += step) {
        int x = px_x(p, e);
        tfr_draw_line(im, x, p->y + p->h, x, p->y + p->h + 3, AXIS);
        snprintf(lab, sizeof lab, "%d", e);
        tfr_draw_text(im, x - tfr_text_width(lab, 0) / 2, p->y + p->h + 5, lab, TEXT, 0);
    }
    tfr_draw_line(im, p->x, p->y, p->x, p->y + p->h - 1, AXIS);
    tfr_draw_line(im, p->x, p->y + p->h - 1, p->x + p->w - 1, p->y + p->h - 1, AXIS);
    tfr_draw_text(im, p->x, p->y - 16, title, TEXT, 1);
}

/* one series: lines between consecutive values, a 5x5 mark on each */
static void series(tfr_image *im, const panel *p, const row *v, int n, size_t off, uint32_t c)
{
    int have = 0, lx = 0, ly = 0;
    for (int i = 0; i < n; i++) {
        double y = *(const double *)((const char *)&v[i] + off);
        if (!isfinite(y) || !isfinite(v[i].epoch)) {
            have = 0;
            continue;
        }
        int x = px_x(p, v[i].epoch), yy = px_y(p, y);
        if (have) {
            tfr_draw_line(im, lx, ly, x, yy, c);
            tfr_draw_line(im, lx, ly + 1, x, yy + 1, c);
        }
        tfr_draw_rect(im, x - 2, yy - 2, 5, 5, c);
        lx = x;
        ly = yy;
        have = 1;
    }
}

static void range_of(const row *v, int n, size_t o1, size_t o2, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            size_t off = k ? o2 : o1;
            if (off == (size_t)-1)
                continue;
            double y = *(const double *)((const char *)&v[i] + off);
            if (isfinite(y)) {
                *lo = y < *lo ? y : *lo;
                *hi = y > *hi ? y : *hi;
            }
        }
    if (!isfinite(*lo))
        *lo = 0, *hi = 1;
}

static void legend(tfr_image *im, int x, int y, int have_val)
{
    tfr_draw_rect(im, x, y + 4, 14, 4, C_TRAIN);
    tfr_draw_text(im, x + 18, y, "training", TEXT, 0);
    if (have_val) {
        tfr_draw_rect(im, x + 90, y + 4, 14, 4, C_VAL);
        tfr_draw_text(im, x + 108, y, "validation", TEXT, 0);
    }
}

tfr_status tfr_history_plot(const char *history_csv, const char *png_path, tfr_history_plot_info *info,
                            tfr_error *err)
{
    row *v;
    int n;
    tfr_status st = read_history(history_csv, &v, &n, err);
    if (st)
        return st;
    if (n == 0) {
        free(v);
        return tfr_fail(err, TFR_ERR_FORMAT, history_csv, "no epochs to plot yet");
    }
    int have_val = 0, have_lr = 0;
    double e0 = INFINITY, e1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        have_val |= isfinite(v[i].vloss) || isfinite(v[i].vacc);
        have_lr |= isfinite(v[i].lr);
        if (isfinite(v[i].epoch)) {
            e0 = v[i].epoch < e0 ? v[i].epoch : e0;
            e1 = v[i].epoch > e1 ? v[i].epoch : e1;
        }
    }
    if (!isfinite(e0))
        e0 = 1, e1 = 1;
    double xa = e0 - 0.5, xb = e1 + 0.5;
    int pw = (W - 2 * ML - GAP) / 2;
    int H = MT + 16 + PANEL_H + MB + (have_lr ? LR_H + MB : 0) + 10;
    tfr_image im;
    if ((st = tfr_canvas_new(&im, W, H, BG, err))) {
        free(v);
        return st;
    }
    panel pl = {ML, MT + 16, pw, PANEL_H, xa, xb, 0, 1};
    panel pa = {ML + pw + GAP + ML, MT + 16, pw - ML + ML, PANEL_H, xa, xb, 0, 1};
    pa.w = W - pa.x - 12;
    double lo, hi;
    range_of(v, n, offsetof(row, loss), offsetof(row, vloss), &lo, &hi);
    nice_range(lo, hi, &pl.y0, &pl.y1);
    if (pl.y0 < 0 && lo >= 0)
        pl.y0 = 0;
    range_of(v, n, offsetof(row, acc), offsetof(row, vacc), &lo, &hi);
    nice_range(lo, hi, &pa.y0, &pa.y1);
    pa.y0 = pa.y0 < 0 ? 0 : pa.y0;
    pa.y1 = pa.y1 > 1 ? 1 : pa.y1;
    if (!(pa.y1 > pa.y0))
        pa.y0 = 0, pa.y1 = 1;
    frame(&im, &pl, "loss (cross-entropy) by epoch", 0);
    frame(&im, &pa, "accuracy by epoch", 1);
    series(&im, &pl, v, n, offsetof(row, loss), C_TRAIN);
    series(&im, &pl, v, n, offsetof(row, vloss), C_VAL);
    series(&im, &pa, v, n, offsetof(row, acc), C_TRAIN);
    series(&im, &pa, v, n, offsetof(row, vacc), C_VAL);
    legend(&im, W - 260, 4, have_val);
    panel pr = {ML, MT + 16 + PANEL_H + MB + 16, W - ML - 12, LR_H - 16, xa, xb, 0, 1};
    if (have_lr) {
        range_of(v, n, offsetof(row, lr), (size_t)-1, &lo, &hi);
        nice_range(lo, hi, &pr.y0, &pr.y1);
        if (pr.y0 < 0 && lo >= 0)
            pr.y0 = 0;
        frame(&im, &pr, "learning rate (last step of each epoch)", 0);
        series(&im, &pr, v, n, offsetof(row, lr), C_LR);
    }
    st = tfr_image_write_png(png_path, &im, err);
    if (info) {
        info->width = W;
        info->height = H;
        info->epochs = n;
        info->have_val = have_val;
        info->loss_area[0] = pl.x, info->loss_area[1] = pl.y;
        info->loss_area[2] = pl.w, info->loss_area[3] = pl.h;
        info->acc_area[0] = pa.x, info->acc_area[1] = pa.y;
        info->acc_area[2] = pa.w, info->acc_area[3] = pa.h;
        info->loss_range[0] = pl.y0, info->loss_range[1] = pl.y1;
        info->acc_range[0] = pa.y0, info->acc_range[1] = pa.y1;
        info->epoch_range[0] = xa, info->epoch_range[1] = xb;
    }
    tfr_image_free(&im);
    free(v);
    return st;
}
