/*
 * inspect/pictures.c - what the images of a shard set look like (see
 * tfrecord/inspect.h): a contact sheet with per_class images of each class
 * drawn uniformly from the whole set, the first images as PNG files, the
 * per-channel pixel mean and standard deviation, and the image sizes.
 *
 * Sampling is one pass, in record order, with bounded memory: each class
 * keeps a reservoir of per_class thumbnails (record k of a class replaces
 * a random one of them with probability per_class / (k + 1)), and the
 * statistics keep a reservoir of `sample` per-image sums. An image is
 * decoded only when a reservoir takes it: about N (1 + ln(n / N)) decodes
 * for n records, not n.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/image.h"
#include "tfrecord/inspect.h"
#include "tfrecord/layout.h"
#include "util/alloc.h"
#include "util/opts.h"
#include "util/rng.h"

#define MAX_SIZES 64 /* distinct image sizes counted one by one */
#define TEXT_COL 150 /* the label column of the sheet, pixels */
#define PAD 2
#define BG 0x202020u
#define FG 0xe8e8e8u
#define DIM 0x9a9a9au

void tfr_pictures_opts_init(tfr_pictures_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->per_class = 8;
    o->cell = 64;
    o->max_rows = 200;
    o->sample = 1000;
    o->max_pixels = TFR_DEFAULT_MAX_PIXELS;
}

typedef struct cls {
    int64_t    label;
    uint64_t   seen;
    tfr_image *thumb;      /* per_class slots */
    int        nthumb;
    char      *text;       /* image/class/text, first seen */
} cls;

typedef struct stat_item {
    double   s[3], q[3];   /* sums of x/255 and of its square, per channel */
    uint64_t npx;
    int      colour;
} stat_item;

struct tfr_pictures {
    tfr_pictures_opts o;
    tfr_image_ctx    *ctx;
    tfr_image         dec, tmp;      /* scratch */
    cls              *cls;
    size_t            ncls, clscap;
    uint64_t          classes_dropped; /* records of classes past max_rows */
    uint64_t          records, images;
    stat_item        *items;         /* the statistics reservoir */
    uint64_t          nitems, stat_seen;
    stat_item         exact;         /* decode_all */
    uint64_t          rng;
    tfr_size_count    sizes[MAX_SIZES];
    size_t            nsizes;
    uint64_t          sizes_other;
    unsigned          float_maps;
    uint64_t          undecodable;
    tfr_error         first_error;
    uint64_t          dumped;
    tfr_status        fail;          /* an allocation failed: sticky */
};

tfr_status tfr_pictures_new(const tfr_pictures_opts *o, tfr_pictures **out, tfr_error *err)
{
    *out = NULL;
    TFR_CHECK_OPTS(tfr_pictures_opts, o, err);
    if (o->per_class < 1 || o->per_class > 64 || o->cell < 8 || o->cell > 512 ||
        o->max_rows < 1 || o->max_rows > 100000 || o->dump < 0 || (o->dump && !o->dump_dir) ||
        o->max_pixels < 1 || o->sample > ((uint64_t)1 << 26))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "pictures: bad options (per_class 1..64, cell "
                        "8..512, max_rows 1..100000, sample up to 2^26, dump needs a folder)");
    tfr_pictures *p = tfr_calloc(1, sizeof *p);
    if (!p)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    p->o = *o;
    p->rng = o->seed * TFR_GOLDEN64 + 0x5eed;
    tfr_error_clear(&p->first_error);
    if (o->sample && !o->decode_all &&
        !(p->items = tfr_calloc((size_t)o->sample, sizeof *p->items))) {
        free(p);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for %llu samples",
                        (unsigned long long)o->sample);
    }
    tfr_status st = tfr_image_ctx_new(&p->ctx, err);
    if (st) {
        tfr_pictures_free(p);
        return st;
    }
    *out = p;
    return TFR_OK;
}

void tfr_pictures_free(tfr_pictures *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ncls; i++) {
        for (int k = 0; k < p->o.per_class; k++)
            tfr_image_free(&p->cls[i].thumb[k]);
        free(p->cls[i].thumb);
        free(p->cls[i].text);
    }
    free(p->cls);
    free(p->items);
    tfr_image_free(&p->dec);
    tfr_image_free(&p->tmp);
    tfr_image_ctx_free(p->ctx);
    free(p);
}

/* ---- the image of one record, as 8-bit pixels --------------------------------- */

/* The float tensor mapped to 0..255, by the range of its values. */
static unsigned map_floats(const float *v, size_t n, uint8_t *out)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
    unsigned how;
    double a, b; /* out = a * x + b */
    if (lo >= 0 && hi <= 1.0001f)
        how = TFR_FLOAT_UNIT, a = 255, b = 0;
    else if (lo >= -1.0001f && hi <= 1.0001f)
        how = TFR_FLOAT_SIGNED, a = 127.5, b = 127.5;
    else if (lo >= 0 && hi <= 255.5f)
        how = TFR_FLOAT_BYTE, a = 1, b = 0;
    else {
        how = TFR_FLOAT_STRETCH;
        a = hi > lo ? 255.0 / ((double)hi - lo) : 0;
        b = -a * lo;
    }
    for (size_t i = 0; i < n; i++) {
        double x = isfinite(v[i]) ? a * v[i] + b : 0;
        out[i] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x + 0.5);
    }
    return how;
}

/* Decodes the record's image into p->dec (gray or RGB, as stored). */
static tfr_status decode(tfr_pictures *p, const tfr_example *ex, tfr_error *err)
{
    tfr_layout_image li;
    tfr_status st = tfr_layout_find_image(ex, p->o.image_key, &li, err);
    if (st)
        return st;
    if (li.kind == TFR_PAYLOAD_ENCODED) {
        tfr_image_info info;
        if ((st = tfr_image_probe(p->ctx, li.data, li.len, &info, err)))
            return st;
        tfr_decode_opts d;
        tfr_decode_opts_init(&d);
        d.channels = info.components == 1 || info.components == 2 ? 1 : 3;
        d.max_pixels = p->o.max_pixels;
        return tfr_image_decode(p->ctx, li.data, li.len, &d, &p->dec, NULL, err);
    }
    if (li.kind == TFR_PAYLOAD_RAW) {
        if ((uint64_t)li.width * (uint64_t)li.height > p->o.max_pixels)
            return tfr_fail(err, TFR_ERR_FORMAT, NULL, "%dx%d raw image is over the limit of %llu "
                            "pixels", li.width, li.height, (unsigned long long)p->o.max_pixels);
        if ((st = tfr_image_alloc(&p->dec, li.width, li.height, li.channels, err)))
            return st;
        memcpy(p->dec.px, li.data, li.len);
        return TFR_OK;
    }
    tfr_tensor t;
    size_t bound = (size_t)(p->o.max_pixels > SIZE_MAX / 12 ? SIZE_MAX / 12 : p->o.max_pixels) * 12;
    if ((st = tfr_tensor_parse_bounded(li.data, li.len, TFR_DT_FLOAT, bound, &t, err)))
        return st;
    if (t.rank != 3 || t.shape[0] < 1 || t.shape[1] < 1 || t.shape[0] > 65535 ||
        t.shape[1] > 65535 || (t.shape[2] != 1 && t.shape[2] != 3)) {
        tfr_tensor_clear(&t);
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "image tensor must be HxWxC with C 1 or 3");
    }
    if (!(st = tfr_image_alloc(&p->dec, (int)t.shape[1], (int)t.shape[0], (int)t.shape[2], err)))
        p->float_maps |= map_floats(t.data, t.nbytes / sizeof(float), p->dec.px);
    tfr_tensor_clear(&t);
    return st;
}

/* The header size of the record's image without decoding its pixels. */
static int image_size(tfr_pictures *p, const tfr_example *ex, int *w, int *h)
{
    tfr_layout_image li;
    if (tfr_layout_find_image(ex, p->o.image_key, &li, NULL))
        return 0;
    if (li.kind == TFR_PAYLOAD_RAW) {
        *w = li.width;
        *h = li.height;
        return 1;
    }
    if (li.kind == TFR_PAYLOAD_ENCODED) {
        int c;
        return tfr_image_sniff(li.data, li.len, w, h, &c) && *w > 0 && *h > 0;
    }
    /* a tensor's shape: parse it (bounded like the decode) */
    tfr_tensor t;
    if (tfr_tensor_parse_bounded(li.data, li.len, TFR_DT_FLOAT, (size_t)64 << 20, &t, NULL))
        return 0;
    int ok = t.rank == 3 && t.shape[0] > 0 && t.shape[1] > 0 && t.shape[0] <= INT32_MAX &&
             t.shape[1] <= INT32_MAX;
    *h = ok ? (int)t.shape[0] : 0;
    *w = ok ? (int)t.shape[1] : 0;
    tfr_tensor_clear(&t);
    return ok;
}

static void count_size(tfr_pictures *p, int w, int h)
{
    for (size_t i = 0; i < p->nsizes; i++)
        if (p->sizes[i].w == w && p->sizes[i].h == h) {
            p->sizes[i].count++;
            return;
        }
    if (p->nsizes < MAX_SIZES)
        p->sizes[p->nsizes++] = (tfr_size_count){w, h, 1};
    else
        p->sizes_other++;
}

static void stat_of(const tfr_image *im, stat_item *it)
{
    memset(it, 0, sizeof *it);
    size_t n = (size_t)im->w * im->h;
    it->npx = n;
    it->colour = im->c == 3;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            double x = im->px[i * im->c + (im->c == 3 ? c : 0)] / 255.0;
            it->s[c] += x;
            it->q[c] += x * x;
        }
}

static void stat_add(stat_item *to, const stat_item *it)
{
    for (int c = 0; c < 3; c++) {
        to->s[c] += it->s[c];
        to->q[c] += it->q[c];
    }
    to->npx += it->npx;
    to->colour |= it->colour;
}

/* A thumbnail of p->dec that fits a cell, aspect kept. */
static tfr_status thumbnail(tfr_pictures *p, tfr_image *out, tfr_error *err)
{
    int cell = p->o.cell, w = p->dec.w, h = p->dec.h;
    double sc = (double)cell / (w > h ? w : h);
    int tw = (int)lround(w * sc), th = (int)lround(h * sc);
    tw = tw < 1 ? 1 : tw;
    th = th < 1 ? 1 : th;
    return tfr_image_resize(&p->dec, tw, th, TFR_RESIZE_STRETCH, out, err);
}

static cls *class_of(tfr_pictures *p, int64_t label, tfr_error *err)
{
    for (size_t i = 0; i < p->ncls; i++) /* linear: max_rows classes at most */
        if (p->cls[i].label == label)
            return &p->cls[i];
    if (p->ncls >= (size_t)p->o.max_rows)
        return NULL;
    if (p->ncls == p->clscap) {
        size_t cap = p->clscap ? p->clscap * 2 : 16;
        cls *v = tfr_realloc(p->cls, cap * sizeof *v);
        if (!v) {
            tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            return NULL;
        }
        p->cls = v;
        p->clscap = cap;
    }
    cls *c = &p->cls[p->ncls];
    memset(c, 0, sizeof *c);
    c->label = label;
    if (!(c->thumb = tfr_calloc((size_t)p->o.per_class, sizeof *c->thumb))) {
        tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    p->ncls++;
    return c;
}

/* "train-00000-of-00002" from ".../train-00000-of-00002.tfrecord.gz" */
static void file_stem(const char *file, char *out, size_t n)
{
    const char *b = strrchr(file, '/');
    snprintf(out, n, "%s", b ? b + 1 : file);
    char *dot = strstr(out, ".tfrecord");
    if (dot)
        *dot = 0;
    else if ((dot = strrchr(out, '.')) && dot != out)
        *dot = 0;
}

static tfr_status dump_one(tfr_pictures *p, const char *file, uint64_t record, int64_t label,
                           int has_label, tfr_error *err)
{
    char stem[256], path[4400];
    file_stem(file, stem, sizeof stem);
    if (has_label)
        snprintf(path, sizeof path, "%s/%s-r%06llu-label%lld.png", p->o.dump_dir, stem,
                 (unsigned long long)record, (long long)label);
    else
        snprintf(path, sizeof path, "%s/%s-r%06llu.png", p->o.dump_dir, stem,
                 (unsigned long long)record);
    return tfr_image_write_png(path, &p->dec, err);
}

static void note_bad(tfr_pictures *p, const tfr_error *e, const char *file, uint64_t record)
{
    if (!p->undecodable++) {
        p->first_error = *e;
        snprintf(p->first_error.path, sizeof p->first_error.path, "%s", file);
        p->first_error.record = (long long)record;
    }
}

tfr_status tfr_pictures_add(tfr_pictures *p, const char *file, uint64_t record,
                            const tfr_example *ex, tfr_error *err)
{
    if (p->fail)
        return p->fail;
    p->records++;
    int w, h;
    if (!image_size(p, ex, &w, &h))
        return TFR_OK; /* no image (or no readable header): not a picture */
    p->images++;
    count_size(p, w, h);
    int64_t label = 0;
    int has_label = tfr_layout_find_label(ex, p->o.label_key, &label, NULL) == TFR_OK;

    /* who wants this record's pixels */
    cls *c = NULL;
    int slot = -1;
    if (p->o.sheet_path) {
        tfr_error e;
        tfr_error_clear(&e);
        c = class_of(p, has_label ? label : INT64_MIN, &e);
        if (!c && e.code == TFR_ERR_NOMEM)
            return p->fail = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        if (!c) {
            p->classes_dropped++;
        } else {
            if (!c->text) {
                const uint8_t *t;
                size_t tn;
                if (tfr_layout_class_text(ex, &t, &tn) && tn)
                    c->text = tfr_strndup((const char *)t, tn < 200 ? tn : 200);
            }
            uint64_t k = c->seen++;
            if (k < (uint64_t)p->o.per_class) {
                slot = (int)k;
            } else {
                uint64_t s = p->rng ^ tfr_mix64((uint64_t)c->label * TFR_GOLDEN64 + k);
                uint64_t j = tfr_mix64(s) % (k + 1);
                slot = j < (uint64_t)p->o.per_class ? (int)j : -1;
            }
        }
    }
    int stat_slot = -1, stat_now = 0;
    if (p->o.decode_all) {
        stat_now = 1;
    } else if (p->o.sample) {
        uint64_t k = p->stat_seen++;
        if (k < p->o.sample)
            stat_slot = (int)k;
        else {
            uint64_t j = tfr_splitmix64(&p->rng) % (k + 1);
            stat_slot = j < p->o.sample ? (int)j : -1;
        }
    }
    int dump_now = p->o.dump && p->dumped < (uint64_t)p->o.dump;
    if (slot < 0 && stat_slot < 0 && !stat_now && !dump_now)
        return TFR_OK;

    tfr_error e;
    tfr_error_clear(&e);
    tfr_status st = decode(p, ex, &e);
    if (st == TFR_ERR_NOMEM)
        return p->fail = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory decoding an image");
    if (st) { /* a damaged image is counted, never a reason to stop */
        note_bad(p, &e, file, record);
        return TFR_OK;
    }
    if (slot >= 0) {
        if ((st = thumbnail(p, &c->thumb[slot], &e)))
            return p->fail = tfr_fail(err, st, NULL, "%s", e.msg);
        if (slot >= c->nthumb)
            c->nthumb = slot + 1;
    }
    if (stat_now || stat_slot >= 0) {
        stat_item it;
        stat_of(&p->dec, &it);
        if (stat_now)
            stat_add(&p->exact, &it);
        else
            p->items[stat_slot] = it;
        if (stat_slot >= 0 && (uint64_t)stat_slot >= p->nitems)
            p->nitems = (uint64_t)stat_slot + 1;
    }
    if (dump_now) {
        if ((st = dump_one(p, file, record, label, has_label, &e))) {
            *err = e;
            return p->fail = st;
        }
        p->dumped++;
    }
    return TFR_OK;
}

/* ---- the sheet ---------------------------------------------------------------- */

static int by_label(const void *a, const void *b)
{
    const cls *x = a, *y = b;
    return x->label < y->label ? -1 : x->label > y->label;
}

static int by_count(const void *a, const void *b)
{
    const tfr_size_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->w != y->w ? x->w - y->w : x->h - y->h;
}

static const char *class_name(const tfr_pictures *p, const cls *c)
{
    int64_t i = c->label - p->o.label_offset;
    if (c->label != INT64_MIN && i >= 0 && i < p->o.nclass_names && p->o.class_names[i])
        return p->o.class_names[i];
    return c->text;
}

static tfr_status draw_sheet(tfr_pictures *p, tfr_pictures_report *r, tfr_error *err)
{
    int cell = p->o.cell, rowh = cell + PAD * 2;
    int th = tfr_text_height(0);
    if (rowh < 3 * th + 4)
        rowh = 3 * th + 4;
    int header = 2 * th + 10;
    int W = TEXT_COL + p->o.per_class * (cell + PAD) + PAD;
    int rows = (int)p->ncls;
    int H = header + rows * rowh + (p->classes_dropped ? th + 6 : 0) + 4;
    tfr_image im;
    tfr_status st = tfr_canvas_new(&im, W, H, BG, err);
    if (st)
        return st;
    char line[512];
    snprintf(line, sizeof line, "%llu images, %zu classes%s: %d per class drawn uniformly "
             "from the whole set", (unsigned long long)p->images, p->ncls,
             p->classes_dropped ? " shown" : "", p->o.per_class);
    tfr_draw_text(&im, 6, 4, line, FG, 1);
    if (p->float_maps) {
        snprintf(line, sizeof line, "float tensors shown as%s%s%s%s",
                 p->float_maps & TFR_FLOAT_UNIT ? " x*255 (values in 0..1)" : "",
                 p->float_maps & TFR_FLOAT_SIGNED ? " (x+1)*127.5 (values in -1..1)" : "",
                 p->float_maps & TFR_FLOAT_BYTE ? " x (values in 0..255)" : "",
                 p->float_maps & TFR_FLOAT_STRETCH ? " stretched min..max per image" : "");
        tfr_draw_text(&im, 6, 4 + th + 2, line, DIM, 0);
    }
    for (int i = 0; i < rows; i++) {
        const cls *c = &p->cls[i];
        int y = header + i * rowh;
        tfr_draw_rect(&im, 0, y, W, 1, 0x383838u);
        char name[64];
        const char *nm = class_name(p, c);
        if (c->label == INT64_MIN)
            snprintf(line, sizeof line, "(no label)");
        else
            snprintf(line, sizeof line, "%lld", (long long)c->label);
        tfr_draw_text(&im, 6, y + 4, line, FG, 1);
        if (nm) {
            snprintf(name, sizeof name, "%.22s", nm);
            tfr_draw_text(&im, 6, y + 4 + th, name, FG, 0);
        }
        snprintf(line, sizeof line, "%llu images", (unsigned long long)c->seen);
        tfr_draw_text(&im, 6, y + 4 + 2 * th, line, DIM, 0);
        for (int k = 0; k < c->nthumb; k++) {
            const tfr_image *t = &c->thumb[k];
            if (!t->px)
                continue;
            int x0 = TEXT_COL + PAD + k * (cell + PAD) + (cell - t->w) / 2;
            int y0 = y + PAD + (cell - t->h) / 2;
            tfr_draw_image(&im, x0, y0, t);
        }
    }
    if (p->classes_dropped) {
        snprintf(line, sizeof line, "... and %llu images of more classes (max rows %d)",
                 (unsigned long long)p->classes_dropped, p->o.max_rows);
        tfr_draw_text(&im, 6, header + rows * rowh + 4, line, DIM, 0);
    }
    st = tfr_image_write_png(p->o.sheet_path, &im, err);
    r->sheet_w = W;
    r->sheet_h = H;
    r->sheet_rows = rows;
    r->sheet_header = header;
    r->sheet_row_h = rowh;
    r->sheet_text_col = TEXT_COL;
    tfr_image_free(&im);
    return st;
}

tfr_status tfr_pictures_finish(tfr_pictures *p, tfr_pictures_report *r, tfr_error *err)
{
    memset(r, 0, sizeof *r);
    if (p->fail)
        return tfr_fail(err, p->fail, NULL, "pictures: an earlier step failed");
    r->records = p->records;
    r->images = p->images;
    r->undecodable = p->undecodable;
    r->first_error = p->first_error;
    r->float_mappings = p->float_maps;
    r->dumped = p->dumped;
    r->classes = p->ncls;
    r->classes_dropped_images = p->classes_dropped;
    /* statistics */
    stat_item tot = p->exact;
    uint64_t nimg = 0;
    if (p->o.decode_all) {
        r->stats_exact = 1;
        nimg = p->images - p->undecodable;
    } else {
        for (uint64_t i = 0; i < p->nitems; i++)
            if (p->items[i].npx) {
                stat_add(&tot, &p->items[i]);
                nimg++;
            }
        r->stats_exact = p->stat_seen <= p->o.sample;
    }
    r->stats_images = nimg;
    r->stats_pixels = tot.npx;
    r->stats_channels = tot.colour ? 3 : 1;
    if (tot.npx) {
        double n = (double)tot.npx, sa = 0, qa = 0;
        for (int c = 0; c < 3; c++) {
            r->mean[c] = tot.s[c] / n;
            double v = tot.q[c] / n - r->mean[c] * r->mean[c];
            r->std[c] = sqrt(v > 0 ? v : 0);
            sa += tot.s[c];
            qa += tot.q[c];
        }
        int nc = r->stats_channels;
        if (nc == 1) {
            sa = tot.s[0];
            qa = tot.q[0];
        }
        r->mean_all = sa / (n * nc);
        double v = qa / (n * nc) - r->mean_all * r->mean_all;
        r->std_all = sqrt(v > 0 ? v : 0);
        /* a sample's standard error: the spread of the images' own means */
        if (!p->o.decode_all && nimg > 1) {
            double ms = 0, mq = 0;
            for (uint64_t i = 0; i < p->nitems; i++) {
                const stat_item *it = &p->items[i];
                if (!it->npx)
                    continue;
                double m = nc == 1 ? it->s[0] / (double)it->npx
                                   : (it->s[0] + it->s[1] + it->s[2]) / (3.0 * (double)it->npx);
                ms += m;
                mq += m * m;
            }
            double k = (double)nimg, vm = (mq - ms * ms / k) / (k - 1);
            r->mean_stderr = sqrt(vm > 0 ? vm / k : 0);
        }
    }
    /* sizes, the most common first */
    if (p->nsizes) {
        r->sizes = tfr_calloc(p->nsizes, sizeof *r->sizes);
        if (!r->sizes)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        memcpy(r->sizes, p->sizes, p->nsizes * sizeof *r->sizes);
        qsort(r->sizes, p->nsizes, sizeof *r->sizes, by_count);
        r->nsizes = p->nsizes;
    }
    r->sizes_other = p->sizes_other;
    if (p->o.sheet_path) {
        qsort(p->cls, p->ncls, sizeof *p->cls, by_label);
        tfr_status st = draw_sheet(p, r, err);
        if (st) {
            tfr_pictures_report_clear(r);
            return st;
        }
    }
    return TFR_OK;
}

void tfr_pictures_report_clear(tfr_pictures_report *r)
{
    free(r->sizes);
    r->sizes = NULL;
    r->nsizes = 0;
}
