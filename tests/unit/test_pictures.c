/*
 * tests/unit/test_pictures.c - the contact sheet, image dump, pixel
 * statistics and size histogram (tfr_pictures_*), on trees whose pixels are
 * known: each class a solid colour, stored losslessly (raw and tensor
 * layouts). The sheet PNG decodes (libpng) to the size the report gives and
 * every cell of a class's row holds that class's colour; the statistics
 * equal the ones computed from the known pixels; a class whose first half
 * is black and second half white shows both on the sheet (drawn from the
 * whole set, not its first records); float tensors come back to 0..255.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "tfrecord/dataset.h"
#include "tfrecord/image.h"
#include "tfrecord/inspect.h"
#include "tfrecord/layout.h"
#include "tfrecord/util.h"

static char root[700];

typedef struct klass {
    const char *name;
    int         c;           /* channels */
    uint8_t     px[3];
    int         n;
} klass;

/* class k's images: n solid 20x10 PNGs (the "half" class: black, then white) */
static void make_tree(const klass *ks, int nk, int half_n)
{
    snprintf(root, sizeof root, "%s/tree", test_tmpdir("pictures"));
    tfr_error err;
    for (int k = 0; k < nk; k++) {
        char d[800];
        snprintf(d, sizeof d, "%s/%s", root, ks[k].name);
        EXPECT_OK(tfr_mkdir_p(d, &err), &err);
        for (int i = 0; i < ks[k].n; i++) {
            tfr_image im = {0};
            EXPECT_OK(tfr_image_alloc(&im, 20, 10, ks[k].c, &err), &err);
            for (int p = 0; p < 200; p++)
                memcpy(im.px + p * ks[k].c, ks[k].px, (size_t)ks[k].c);
            char f[900];
            snprintf(f, sizeof f, "%s/%04d.png", d, i);
            EXPECT_OK(tfr_image_write_png(f, &im, &err), &err);
            tfr_image_free(&im);
        }
    }
    char d[800];
    snprintf(d, sizeof d, "%s/zz_half", root);
    EXPECT_OK(tfr_mkdir_p(d, &err), &err);
    for (int i = 0; i < half_n; i++) {
        tfr_image im = {0};
        EXPECT_OK(tfr_image_alloc(&im, 20, 10, 1, &err), &err);
        memset(im.px, i < half_n / 2 ? 0 : 255, 200);
        char f[900];
        snprintf(f, sizeof f, "%s/%04d.png", d, i);
        EXPECT_OK(tfr_image_write_png(f, &im, &err), &err);
        tfr_image_free(&im);
    }
}

static void write_set(const char *out, tfr_layout layout)
{
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    const char *roots[1] = {root};
    o.roots = roots;
    o.nroots = 1;
    o.out_dir = out;
    o.layout = layout;
    o.shards = 2;
    o.progress = 0;
    o.channels = 3;
    if (layout == TFR_LAYOUT_TENSOR)
        o.normalize = TFR_NORM_RESCALE;
    tfr_write_report *r = NULL;
    tfr_error err;
    EXPECT_OK(tfr_write_dataset(&o, &r, &err), &err);
    tfr_write_report_free(r);
}

static tfr_status feed(void *user, const char *file, uint64_t record, const tfr_example *ex,
                       tfr_error *err)
{
    return tfr_pictures_add(user, file, record, ex, err);
}

/* Runs inspect + pictures over the shards of dir. */
static void run(const char *dir, tfr_pictures_opts *po, tfr_pictures_report *pr)
{
    tfr_error err;
    char **files = NULL;
    size_t nf = 0;
    char glob[800];
    snprintf(glob, sizeof glob, "%s/*.tfrecord*", dir);
    const char *args[1] = {glob};
    EXPECT_OK(tfr_paths_expand(args, 1, &files, &nf, &err), &err);
    tfr_pictures *p = NULL;
    EXPECT_OK(tfr_pictures_new(po, &p, &err), &err);
    tfr_inspect_opts io;
    tfr_inspect_opts_init(&io);
    io.on_example = feed;
    io.user = p;
    tfr_inspect_report *r = NULL;
    EXPECT_OK(tfr_inspect((const char *const *)files, nf, &io, &r, &err), &err);
    EXPECT(r && r->ndefects == 0);
    EXPECT_OK(tfr_pictures_finish(p, pr, &err), &err);
    tfr_inspect_report_free(r);
    tfr_pictures_free(p);
    tfr_paths_free(files, nf);
}

/* the mean colour of the cell's central 6x6 pixels */
static void cell_colour(const tfr_image *sh, int x, int y, double out[3])
{
    out[0] = out[1] = out[2] = 0;
    for (int yy = y - 3; yy < y + 3; yy++)
        for (int xx = x - 3; xx < x + 3; xx++)
            for (int c = 0; c < 3; c++)
                out[c] += sh->px[((size_t)yy * sh->w + xx) * 3 + c] / 36.0;
}

static void check_sheet(const char *path, const tfr_pictures_report *pr, const klass *ks, int nk,
                        int per_class, int cell)
{
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    EXPECT(b != NULL);
    if (!b)
        return;
    tfr_image_ctx *ctx;
    tfr_error err;
    EXPECT_OK(tfr_image_ctx_new(&ctx, &err), &err);
    tfr_image sh = {0};
    tfr_decode_opts d;
    tfr_decode_opts_init(&d);
    tfr_image_info info;
    EXPECT_OK(tfr_image_decode(ctx, b, n, &d, &sh, &info, &err), &err);
    EXPECT(info.format == TFR_IMG_PNG);
    EXPECT_EQ_I(sh.w, pr->sheet_w);
    EXPECT_EQ_I(sh.h, pr->sheet_h);
    EXPECT_EQ_I(pr->sheet_w, pr->sheet_text_col + per_class * (cell + 2) + 2);
    EXPECT_EQ_I(pr->sheet_rows, nk + 1);
    /* rows are sorted by label: the classes in name order, then zz_half */
    for (int k = 0; k <= nk; k++) {
        int y = pr->sheet_header + k * pr->sheet_row_h + 2 + cell / 2;
        int cells = k < nk ? (ks[k].n < per_class ? ks[k].n : per_class) : per_class;
        int white = 0, black = 0;
        for (int i = 0; i < cells; i++) {
            int x = pr->sheet_text_col + 2 + i * (cell + 2) + cell / 2;
            double got[3];
            cell_colour(&sh, x, y, got);
            if (k == nk) {
                white += got[0] > 250;
                black += got[0] < 5;
                continue;
            }
            for (int c = 0; c < 3; c++) {
                double want = ks[k].px[ks[k].c == 1 ? 0 : c];
                if (fabs(got[c] - want) > 2)
                    FAILF("row %d cell %d channel %d: %.1f, the class colour is %.0f", k, i, c,
                          got[c], want);
            }
        }
        if (k == nk) {
            EXPECT_EQ_I(white + black, per_class);
            EXPECT(white > 0 && black > 0); /* from the whole class, not its first half */
        } else if (cells < per_class) {
            /* an empty cell past the class's images keeps the background */
            int x = pr->sheet_text_col + 2 + cells * (cell + 2) + cell / 2;
            double got[3];
            cell_colour(&sh, x, y, got);
            EXPECT(fabs(got[0] - 0x20) < 1 && fabs(got[1] - 0x20) < 1);
        }
    }
    tfr_image_free(&sh);
    tfr_image_ctx_free(ctx);
    free(b);
}

int main(void)
{
    const klass ks[3] = {{"a_red", 3, {255, 0, 0}, 12}, {"b_green", 3, {0, 200, 0}, 5},
                         {"c_gray", 1, {128, 128, 128}, 9}};
    const int half_n = 400;
    make_tree(ks, 3, half_n);
    char raw[800], tens[800], sheet[800], dump[800];
    const char *dir = test_tmpdir("pictures");
    snprintf(raw, sizeof raw, "%s/raw", dir);
    snprintf(tens, sizeof tens, "%s/tensor", dir);
    snprintf(sheet, sizeof sheet, "%s/sheet.png", dir);
    snprintf(dump, sizeof dump, "%s/dump", dir);
    write_set(raw, TFR_LAYOUT_RAW);
    write_set(tens, TFR_LAYOUT_TENSOR);

    /* the expected statistics, from the known pixels (x / 255, gray = R=G=B) */
    double s[3] = {0}, q[3] = {0}, npx = 0;
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 3; c++) {
            double x = ks[k].px[ks[k].c == 1 ? 0 : c] / 255.0;
            s[c] += ks[k].n * 200 * x;
            q[c] += ks[k].n * 200 * x * x;
        }
    for (int c = 0; c < 3; c++) {
        s[c] += half_n / 2 * 200.0; /* the white half */
        q[c] += half_n / 2 * 200.0;
    }
    npx = 200.0 * (12 + 5 + 9 + half_n);

    tfr_pictures_opts po;
    tfr_pictures_opts_init(&po);
    po.sheet_path = sheet;
    po.per_class = 8;
    po.cell = 32;
    po.decode_all = 1;
    po.dump_dir = dump;
    po.dump = 3;
    tfr_error err;
    tfr_pictures *p = NULL;
    EXPECT_OK(tfr_mkdir_p(dump, &err), &err);
    tfr_pictures_report pr;
    run(raw, &po, &pr);
    EXPECT(pr.stats_exact && pr.stats_channels == 3);
    EXPECT(pr.stats_pixels == (uint64_t)npx);
    double all_s = 0, all_q = 0;
    for (int c = 0; c < 3; c++) {
        double m = s[c] / npx, sd = sqrt(q[c] / npx - m * m);
        if (fabs(pr.mean[c] - m) > 1e-9 || fabs(pr.std[c] - sd) > 1e-9)
            FAILF("channel %d: mean %.6f std %.6f, the pixels give %.6f %.6f", c, pr.mean[c],
                  pr.std[c], m, sd);
        all_s += s[c];
        all_q += q[c];
    }
    double ma = all_s / (3 * npx);
    EXPECT(fabs(pr.mean_all - ma) < 1e-9);
    EXPECT(fabs(pr.std_all - sqrt(all_q / (3 * npx) - ma * ma)) < 1e-9);
    EXPECT(pr.nsizes == 1 && pr.sizes[0].w == 20 && pr.sizes[0].h == 10 &&
           pr.sizes[0].count == (uint64_t)(12 + 5 + 9 + half_n));
    EXPECT(pr.float_mappings == 0 && pr.undecodable == 0 && pr.dumped == 3);
    check_sheet(sheet, &pr, ks, 3, 8, 32);
    tfr_pictures_report_clear(&pr);
    /* the dump: three PNG files named by shard, record and label, of the stored size */
    {
        char **files = NULL;
        size_t nf = 0;
        char glob[900];
        snprintf(glob, sizeof glob, "%s/*-r00000*-label*.png", dump);
        const char *args[1] = {glob};
        EXPECT_OK(tfr_paths_expand(args, 1, &files, &nf, &err), &err);
        EXPECT_EQ_I((int)nf, 3);
        tfr_image_ctx *ctx;
        EXPECT_OK(tfr_image_ctx_new(&ctx, &err), &err);
        for (size_t i = 0; i < nf; i++) {
            size_t n;
            uint8_t *b = test_read_file(files[i], &n);
            tfr_image im = {0};
            EXPECT(b && tfr_image_decode(ctx, b, n, NULL, &im, NULL, &err) == TFR_OK &&
                   im.w == 20 && im.h == 10);
            tfr_image_free(&im);
            free(b);
        }
        tfr_image_ctx_free(ctx);
        tfr_paths_free(files, nf);
    }

    /* sampled statistics: a uniform sample lands near the exact values */
    tfr_pictures_opts_init(&po);
    po.sample = 300;
    run(raw, &po, &pr);
    EXPECT(!pr.stats_exact && pr.stats_images == 300);
    EXPECT(fabs(pr.mean_all - ma) < 0.06);
    tfr_pictures_report_clear(&pr);

    /* the tensor layout: floats in 0..1 come back as x * 255 */
    tfr_pictures_opts_init(&po);
    po.sheet_path = sheet;
    po.cell = 32;
    po.sample = 0;
    run(tens, &po, &pr);
    EXPECT(pr.float_mappings == TFR_FLOAT_UNIT);
    check_sheet(sheet, &pr, ks, 3, 8, 32);
    tfr_pictures_report_clear(&pr);

    /*
     * record order as fed: 1000 records of one class, the first 500 black,
     * the rest white. Drawn from the whole class, 8 samples include white
     * ones (taking the first 8 would give black only); a second class with
     * 3 records shows all 3.
     */
    {
        tfr_layout_encoder *enc;
        tfr_example *ex;
        EXPECT_OK(tfr_layout_encoder_new(TFR_LAYOUT_RAW, &enc, &err), &err);
        EXPECT_OK(tfr_example_new(&ex, &err), &err);
        snprintf(sheet, sizeof sheet, "%s/order.png", dir);
        tfr_pictures_opts_init(&po);
        po.sheet_path = sheet;
        po.cell = 16;
        po.sample = 0;
        p = NULL;
        EXPECT_OK(tfr_pictures_new(&po, &p, &err), &err);
        uint8_t px[4 * 4];
        for (int i = 0; i < 1003 && p; i++) {
            memset(px, i < 500 ? 0 : 255, sizeof px);
            tfr_layout_sample sm = {.image = px, .width = 4, .height = 4, .channels = 1,
                                    .label = i < 1000 ? 7 : 9};
            const uint8_t *d;
            size_t n;
            EXPECT_OK(tfr_layout_encode(enc, &sm, &d, &n, &err), &err);
            EXPECT_OK(tfr_example_parse(ex, d, n, &err), &err);
            EXPECT_OK(tfr_pictures_add(p, "mem.tfrecord", (uint64_t)i, ex, &err), &err);
        }
        EXPECT_OK(tfr_pictures_finish(p, &pr, &err), &err);
        EXPECT_EQ_I((int)pr.classes, 2);
        size_t n;
        uint8_t *b = test_read_file(sheet, &n);
        tfr_image_ctx *ctx;
        EXPECT_OK(tfr_image_ctx_new(&ctx, &err), &err);
        tfr_image sh = {0};
        EXPECT(b && tfr_image_decode(ctx, b, n, NULL, &sh, NULL, &err) == TFR_OK);
        int white = 0, black = 0;
        for (int row = 0; row < 2 && sh.px; row++) {
            int y = pr.sheet_header + row * pr.sheet_row_h + 2 + 8;
            for (int i = 0; i < 8; i++) {
                int x = pr.sheet_text_col + 2 + i * 18 + 8;
                uint8_t v = sh.px[((size_t)y * sh.w + x) * 3];
                if (row == 0) {
                    white += v == 255;
                    black += v == 0;
                } else {
                    EXPECT(i < 3 ? v == 255 : v == 0x20); /* 3 images, then background */
                }
            }
        }
        EXPECT(white + black == 8 && white > 0 && black > 0);
        EXPECT(white >= 2 && black >= 2); /* P(fewer) under uniform sampling: ~7% */
        tfr_image_free(&sh);
        tfr_image_ctx_free(ctx);
        free(b);
        tfr_pictures_report_clear(&pr);
        tfr_pictures_free(p);
        tfr_example_free(ex);
        tfr_layout_encoder_free(enc);
    }

    /* bad options */
    p = NULL;
    tfr_pictures_opts_init(&po);
    po.per_class = 0;
    EXPECT_STATUS(tfr_pictures_new(&po, &p, &err), TFR_ERR_ARG);
    tfr_pictures_opts_init(&po);
    po.dump = 3; /* no folder */
    EXPECT_STATUS(tfr_pictures_new(&po, &p, &err), TFR_ERR_ARG);
    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
