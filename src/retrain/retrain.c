/*
 * retrain/retrain.c - last-layer retraining behind tfrecord-retrain (TF for
 * Poets' retrain.py, done with a cache that knows what it holds): the image
 * source (a class-per-directory tree or shards), preprocessing and
 * distortions, the backbone passes, and the driver tfr_retrain. The cache
 * format is bncache.c, the head head.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "retrain/retrain_impl.h"
#include "tfrecord/augment.h"
#include "tfrecord/dataset.h"
#include "tfrecord/example.h"
#include "tfrecord/image.h"
#include "tfrecord/layout.h"
#include "tfrecord/manifest.h"
#include "tfrecord/nn.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/fsio.h"
#include "util/opts.h"
#include "util/rng.h"

typedef tfr_retrain_image img;

/* the largest image file read whole: far above any photograph */
#define IMAGE_MAX_BYTES ((size_t)1 << 30)

void tfr_retrain_opts_init(tfr_retrain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->steps = 4000;
    o->lr = 0.01f;
    o->batch = 100;
    o->eval_every = 10;
    o->val_percent = 10;
    o->test_percent = 10;
    o->mean = NAN; /* the backbone's, from its checkpoint (else 0.5, 0.25) */
    o->std = NAN;
    o->progress = 1;
}

/* ---- preprocessing ---------------------------------------------------------- */

typedef struct distort {
    int   flip;
    float crop, scale, brightness; /* fractions; 0 = off */
} distort;

/*
 * Decodes one image into the backbone's input (NCHW floats). With d, the
 * retrain.py distortions in this draw order: crop/scale (4 draws, when
 * either is on), flip (1 when on), brightness (1 when on).
 */
static tfr_status prep(tfr_image_ctx *ctx, const tfr_resnet_config *c, const uint8_t *data,
                       size_t n, float mean, float std, const distort *d, tfr_rng *rng,
                       float *out, tfr_error *err)
{
    tfr_image a = {0}, b = {0};
    tfr_decode_opts o;
    tfr_decode_opts_init(&o);
    o.channels = c->in_c == 1 ? 1 : 3;
    o.min_w = c->in_w;
    o.min_h = c->in_h;
    tfr_status st = tfr_image_decode(ctx, data, n, &o, &a, NULL, err);
    if (st)
        goto done;
    tfr_region g = {0, 0, a.w, a.h};
    if (d && (d->crop > 0 || d->scale > 0))
        g = tfr_augment_crop_scale(a.w, a.h, d->crop, d->scale, rng);
    if ((st = tfr_image_resize_region(&a, g.x0, g.y0, g.w, g.h, c->in_w, c->in_h, &b, err)))
        goto done;
    if (d && tfr_augment_flip_draw(d->flip, rng))
        tfr_image_flip_h(&b);
    float bright = 1.0f;
    if (d && d->brightness > 0)
        bright = tfr_augment_brightness_draw(d->brightness, rng);
    tfr_augment_model_input(&b, bright, mean, std, out);
done:
    tfr_image_free(&a);
    tfr_image_free(&b);
    return st;
}

/* The encoded image: from memory (shard input), or read from its file into
 * *owned, which the caller frees (NULL when nothing was read). */
static tfr_status img_data(const img *g, const uint8_t **data, size_t *n, uint8_t **owned,
                           tfr_error *err)
{
    *owned = NULL;
    if (g->bytes) {
        *data = g->bytes;
        *n = g->nbytes;
        return TFR_OK;
    }
    tfr_status st = tfr_read_file(g->it->path, IMAGE_MAX_BYTES, "image", owned, n, err);
    *data = *owned;
    return st;
}

/* prep() of g's bytes; an error names g's path */
static tfr_status prep_image(tfr_image_ctx *ctx, const tfr_resnet_config *c, const img *g,
                             const tfr_retrain_opts *o, const distort *d, tfr_rng *rng,
                             float *out, tfr_error *err)
{
    const uint8_t *data;
    size_t n;
    uint8_t *owned;
    tfr_status st = img_data(g, &data, &n, &owned, err);
    if (!st && (st = prep(ctx, c, data, n, o->mean, o->std, d, rng, out, err)) && err)
        snprintf(err->path, sizeof err->path, "%s", g->it->path);
    free(owned);
    return st;
}

/* Shards as the image source: every record's encoded image with its label. */
typedef struct shardset {
    uint8_t **bytes;
    size_t   *nbytes;
    size_t    n;
    int       has_train, has_eval; /* the files' splits (tfr_shard_source.split) */
} shardset;

/* the writer's split of a shard as the retrainer's: 0 train, 1 validation, 2 test */
static int split_code(const char *name)
{
    if (!strcmp(name, "validation") || !strcmp(name, "val"))
        return 1;
    if (!strcmp(name, "test"))
        return 2;
    return 0;
}

/* a glob, a file, or a folder with a manifest.json; else a class-per-folder tree */
static int is_shard_source(const char *p)
{
    struct stat sb;
    if (strpbrk(p, "*?["))
        return 1;
    if (stat(p, &sb) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return 1;
    return tfr_manifest_in(p);
}

typedef struct name_pair {
    const char *n;
    size_t      i;
} name_pair;

static int pair_cmp(const void *a, const void *b)
{
    const name_pair *x = a, *y = b;
    int c = strcmp(x->n, y->n);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

/* s->classes: the names in labels.txt beside shard, else (and past its end) class<i> */
static tfr_status class_names(const char *shard, tfr_scan *s, tfr_error *err)
{
    char **names = NULL;
    int nn = 0;
    char lp[4400];
    if (!tfr_labels_beside(shard, lp, sizeof lp)) {
        tfr_error e;
        tfr_status st = tfr_labels_load(lp, s->nclasses, &names, &nn, &e);
        if (st && !(st == TFR_ERR_IO && e.sys_errno == ENOENT)) {
            if (err)
                *err = e;
            return st;
        }
    }
    tfr_status st = TFR_OK;
    s->classes = tfr_calloc((size_t)(s->nclasses ? s->nclasses : 1), sizeof(char *));
    for (int i = 0; s->classes && i < s->nclasses; i++) {
        char line[64];
        snprintf(line, sizeof line, "class%d", i);
        if (!(s->classes[i] = tfr_strdup(i < nn ? names[i] : line)))
            break;
    }
    for (int i = 0; i < s->nclasses; i++)
        if (!s->classes || !s->classes[i]) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            break;
        }
    tfr_labels_free(names, nn);
    return st;
}

static tfr_status load_shards(const char *src, tfr_scan *s, shardset *ss, tfr_error *err)
{
    tfr_shard_source *files = NULL;
    size_t nf = 0;
    const char *args[1] = {src};
    tfr_status st = tfr_shardset_expand(args, 1, &files, &nf, err);
    if (st)
        return st;
    tfr_example *ex = NULL;
    if ((st = tfr_example_new(&ex, err))) {
        tfr_shardset_free(files, nf);
        return st;
    }
    size_t cap = 0;
    int64_t maxlab = -1;
    for (size_t f = 0; f < nf && !st; f++) {
        const char *file = files[f].path;
        const int code = split_code(files[f].split);
        ss->has_train |= !strcmp(files[f].split, "train");
        ss->has_eval |= code != 0;
        tfr_record_reader *r;
        if ((st = tfr_record_reader_open(file, NULL, &r, err)))
            break;
        const uint8_t *d;
        size_t len;
        uint64_t k = 0;
        while ((st = tfr_record_reader_next(r, &d, &len, err)) == TFR_OK) {
            const uint8_t *fnm = NULL;
            size_t fl = 0;
            tfr_layout_image li;
            int64_t lab;
            if (!(st = tfr_example_parse(ex, d, len, err)) &&
                !(st = tfr_layout_find_image(ex, NULL, &li, err)) &&
                li.kind != TFR_PAYLOAD_ENCODED)
                st = tfr_fail(err, TFR_ERR_FORMAT, NULL,
                              "feature \"%s\" holds %s, not an encoded image (JPEG or PNG)",
                              li.key, li.kind == TFR_PAYLOAD_RAW ? "raw pixels" : "a tensor");
            if (st || (st = tfr_layout_find_label(ex, NULL, &lab, err))) {
                snprintf(err->path, sizeof err->path, "%s", file);
                err->record = (long long)k;
                break;
            }
            if (lab < 0 || lab > 100000) {
                st = tfr_fail(err, TFR_ERR_FORMAT, file, "record %llu: label %lld out of range",
                              (unsigned long long)k, (long long)lab);
                break;
            }
            tfr_layout_filename(ex, &fnm, &fl);
            if (s->nitems == cap) {
                cap = cap ? cap * 2 : 1024;
                tfr_scan_item *it = tfr_realloc(s->items, cap * sizeof *it);
                uint8_t **b = tfr_realloc(ss->bytes, cap * sizeof *b);
                size_t *bn = tfr_realloc(ss->nbytes, cap * sizeof *bn);
                if (it)
                    s->items = it;
                if (b)
                    ss->bytes = b;
                if (bn)
                    ss->nbytes = bn;
                if (!it || !b || !bn) {
                    st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                    break;
                }
            }
            tfr_scan_item *it = &s->items[s->nitems];
            memset(it, 0, sizeof *it);
            char id[4400];
            if (fnm && fl)
                snprintf(id, sizeof id, "%.*s", (int)fl, (const char *)fnm);
            else
                snprintf(id, sizeof id, "%s#%llu", file, (unsigned long long)k);
            it->path = tfr_strdup(id);
            it->rel = tfr_strdup(id);
            it->cls = (int)lab;
            it->split = code;
            it->size = li.len;
            ss->bytes[s->nitems] = tfr_malloc(li.len ? li.len : 1);
            if (!it->path || !it->rel || !ss->bytes[s->nitems]) {
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                break;
            }
            memcpy(ss->bytes[s->nitems], li.data, li.len);
            ss->nbytes[s->nitems] = li.len;
            s->nitems++;
            ss->n++;
            maxlab = lab > maxlab ? lab : maxlab;
            k++;
        }
        if (st == TFR_ERR_EOF)
            st = TFR_OK;
        tfr_record_reader_close(r);
    }
    tfr_example_free(ex);
    /* a name seen twice (flip=both shards hold every image twice) gets "#2",
     * "#3", ... so each record keeps its own cache entry */
    name_pair *pp = !st && s->nitems > 1 ? tfr_malloc(s->nitems * sizeof *pp) : NULL;
    if (pp) {
        for (size_t i = 0; i < s->nitems; i++)
            pp[i] = (name_pair){s->items[i].rel, i};
        qsort(pp, s->nitems, sizeof *pp, pair_cmp);
        size_t first = 0, run = 1;
        for (size_t k = 1; k < s->nitems; k++) {
            if (strcmp(pp[k].n, pp[first].n)) {
                first = k;
                run = 1;
                continue;
            }
            /* pp[first] keeps its name, so comparing with it stays valid */
            char buf[4400];
            snprintf(buf, sizeof buf, "%s#%zu", pp[first].n, ++run);
            char *dup = tfr_strdup(buf);
            if (dup) {
                tfr_scan_item *it = &s->items[pp[k].i];
                free(it->rel);
                it->rel = dup;
            }
        }
        free(pp);
    }
    if (!st) {
        s->nclasses = (int)(maxlab + 1);
        st = class_names(files[0].path, s, err);
    }
    tfr_shardset_free(files, nf);
    return st;
}

/* ---- the run ----------------------------------------------------------------- */

/* hands ev to the caller's report, if it asked for one */
static void emit(const tfr_retrain_opts *o, const tfr_retrain_result *res, tfr_retrain_event *ev)
{
    ev->res = res;
    if (o->on_event)
        o->on_event(o->user, ev);
}

/* Computes the bottlenecks of im[which[0..nw)] (distorted by d, from seed,
 * when d is not NULL); with report set, BOTTLENECKS events with done0 +
 * the images done so far. */
static tfr_status bottlenecks(tfr_model *m, const tfr_resnet_config *c, img *im, size_t n,
                              const tfr_retrain_opts *o, const distort *d, uint64_t seed,
                              const size_t *which, size_t nw, const tfr_retrain_result *report,
                              double done0, tfr_error *err)
{
    int dim = tfr_model_feature_dim(m);
    size_t in_sz = (size_t)c->in_c * c->in_h * c->in_w;
    const size_t B = 64;
    float *x = tfr_malloc(B * in_sz * sizeof(float)), *f = tfr_malloc(B * (size_t)dim * sizeof(float));
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    tfr_image_ctx **ctx = tfr_calloc((size_t)nt, sizeof *ctx);
    tfr_status st = (!x || !f || !ctx) ? tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory") : TFR_OK;
    for (int t = 0; !st && t < nt; t++)
        st = tfr_image_ctx_new(&ctx[t], err);
    for (size_t b0 = 0; !st && b0 < nw; b0 += B) {
        size_t bn = nw - b0 < B ? nw - b0 : B;
        tfr_error e2[64];
        int bad[64] = {0};
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t k = 0; k < bn; k++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            tfr_rng r = {seed ^ tfr_mix64(which[b0 + k] + 1)};
            if (prep_image(ctx[t], c, &im[which[b0 + k]], o, d, &r, x + k * in_sz, &e2[k]))
                bad[k] = 1;
        }
        for (size_t k = 0; k < bn; k++)
            if (bad[k]) {
                *err = e2[k];
                st = e2[k].code ? e2[k].code : TFR_ERR_FORMAT;
                break;
            }
        if (st || (st = tfr_model_features(m, x, (int)bn, f, err)))
            break;
        for (size_t k = 0; k < bn; k++) {
            img *g = &im[which[b0 + k]];
            if (!g->vec && !(g->vec = tfr_malloc((size_t)dim * sizeof(float)))) {
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                break;
            }
            memcpy(g->vec, f + k * (size_t)dim, (size_t)dim * sizeof(float));
        }
        if (report) {
            tfr_retrain_event ev = {.kind = TFR_RETRAIN_BOTTLENECKS,
                                    .done = (uint64_t)(done0 + (double)(b0 + bn)), .total = nw};
            emit(o, report, &ev);
        }
    }
    for (int t = 0; ctx && t < nt; t++)
        tfr_image_ctx_free(ctx[t]);
    free(ctx);
    free(x);
    free(f);
    return st;
}

/* The logits of out_m for n inputs x into dst (n x K floats). */
static tfr_status logits_of(tfr_model *out_m, const float *x, size_t n, int K, float *dst,
                            tfr_error *err)
{
    const float *lg;
    tfr_status st;
    if ((st = tfr_model_forward(out_m, x, (int)n, NULL, 0, NULL, err)) ||
        (st = tfr_model_logits(out_m, &lg, err)))
        return st;
    memcpy(dst, lg, n * (size_t)K * sizeof(float));
    return TFR_OK;
}

/* The gzip -6 size of out_m's parameters (what a download of it costs). */
static tfr_status params_gzip_bytes(tfr_model *out_m, uint8_t *zb, uLongf cap, size_t *bytes,
                                    tfr_error *err)
{
    size_t np = tfr_model_num_params(out_m);
    float *pw;
    tfr_status st = tfr_model_params(out_m, &pw, err);
    if (st)
        return st;
    uLongf zl = cap;
    int zr = compress2(zb, &zl, (const Bytef *)pw, (uLong)(np * sizeof(float)), 6);
    if (zr != Z_OK)
        return tfr_fail(err, zr == Z_MEM_ERROR ? TFR_ERR_NOMEM : TFR_ERR_ARG, NULL,
                        "compressing the parameters: zlib error %d", zr);
    *bytes = zl;
    return TFR_OK;
}

/*
 * --fold-bn and --round-weights on the exported model out_m (K classes),
 * with what each costs: the largest logit change folding makes on up to 64
 * test (or any) images, the parameters' gzip size before and after
 * rounding, and the rounded model's test accuracy end to end.
 */
static tfr_status export_changes(tfr_model *out_m, const tfr_resnet_config *c, int K,
                                 const img *im, size_t n, const tfr_retrain_opts *o,
                                 tfr_retrain_result *res, tfr_error *err)
{
    size_t which[64], nw = 0;
    for (size_t i = 0; i < n && nw < 64; i++)
        if (im[i].split == 2 || n < 64)
            which[nw++] = i;
    const size_t in_sz = (size_t)c->in_c * c->in_h * c->in_w;
    const size_t nb = nw ? nw : 1; /* the rounded model's test pass uses one of each */
    float *x = tfr_malloc(nb * in_sz * sizeof(float));
    float *l0 = tfr_malloc(nb * (size_t)K * sizeof(float));
    float *l1 = tfr_malloc(nb * (size_t)K * sizeof(float));
    uint8_t *zb = NULL;
    tfr_image_ctx *ctx = NULL;
    tfr_status st = TFR_OK;
    if (!x || !l0 || !l1) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto cleanup;
    }
    if ((st = tfr_image_ctx_new(&ctx, err)))
        goto cleanup;
    /* outputs before the change */
    for (size_t k = 0; k < nw && !st; k++)
        st = prep_image(ctx, c, &im[which[k]], o, NULL, NULL, x + k * in_sz, err);
    if (st || (nw && (st = logits_of(out_m, x, nw, K, l0, err))))
        goto cleanup;
    if (o->fold_bn) {
        if ((st = tfr_model_fold_bn(out_m, &res->folded, err)))
            goto cleanup;
        if (nw) {
            if ((st = logits_of(out_m, x, nw, K, l1, err)))
                goto cleanup;
            for (size_t i = 0; i < nw * (size_t)K; i++)
                res->fold_max_diff = fmax(res->fold_max_diff, fabs((double)l1[i] - l0[i]));
        }
        tfr_retrain_event fev = {.kind = TFR_RETRAIN_FOLDED};
        emit(o, res, &fev);
    }
    if (o->round_weights) {
        uLongf cap = compressBound((uLong)(tfr_model_num_params(out_m) * sizeof(float)));
        if (!(zb = tfr_malloc(cap))) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            goto cleanup;
        }
        if ((st = params_gzip_bytes(out_m, zb, cap, &res->gzip_bytes, err)) ||
            (st = tfr_model_round_weights(out_m, err)) ||
            (st = params_gzip_bytes(out_m, zb, cap, &res->gzip_bytes_rounded, err)))
            goto cleanup;
        /* test accuracy of the rounded model, end to end through the backbone */
        size_t right = 0, tot = 0;
        for (size_t i = 0; i < n; i++) {
            if (im[i].split != 2)
                continue;
            const float *lg = l1;
            if ((st = prep_image(ctx, c, &im[i], o, NULL, NULL, x, err)) ||
                (st = logits_of(out_m, x, 1, K, l1, err)))
                goto cleanup;
            int best = 0;
            for (int j = 1; j < K; j++)
                if (lg[j] > lg[best])
                    best = j;
            right += best == im[i].it->cls;
            tot++;
        }
        res->rounded_accuracy = tot ? (double)right / tot : NAN;
        tfr_retrain_event rev = {.kind = TFR_RETRAIN_ROUNDED};
        emit(o, res, &rev);
    }
cleanup:
    tfr_image_ctx_free(ctx);
    free(zb);
    free(l1);
    free(l0);
    free(x);
    return st;
}

tfr_status tfr_retrain(const tfr_retrain_opts *o, tfr_retrain_result *res, tfr_error *err)
{
    memset(res, 0, sizeof *res);
    TFR_CHECK_OPTS(tfr_retrain_opts, o, err);
    tfr_status st;
    tfr_model *m = NULL, *out_m = NULL;
    tfr_train_state ts;
    tfr_scan s;
    memset(&s, 0, sizeof s);
    shardset ss = {0};
    tfr_bncache cc = {0};
    img *im = NULL;
    size_t *todo = NULL;
    tfr_head head = {0};
    int *blab = NULL;
    tfr_events *ev = NULL;
    uint32_t bcrc;
    if ((st = tfr_checkpoint_checksum(o->backbone, &bcrc, err)) ||
        (st = tfr_checkpoint_load(o->backbone, &m, &ts, err)))
        return st;
    /* the backbone computes bottlenecks on the device; the head and the
     * exported model stay on the CPU */
    if (tfr_device_moves(&o->device) && (st = tfr_model_set_device(m, &o->device, err))) {
        tfr_model_free(m);
        return st;
    }
    if (tfr_device_moves(&o->device)) {
        tfr_retrain_event dev = {.kind = TFR_RETRAIN_DEVICE, .device = tfr_model_device(m)};
        emit(o, res, &dev);
    }
    /* the normalization the backbone was trained with, unless given */
    tfr_retrain_opts given = *o;
    if (isnan(given.mean) || isnan(given.std)) {
        float bm = 0.5f, bs = 0.25f;
        tfr_model_normalization(m, &bm, &bs);
        if (isnan(given.mean))
            given.mean = bm;
        if (isnan(given.std))
            given.std = bs;
    }
    o = &given;
    const tfr_resnet_config *c = tfr_model_config(m);
    const int dim = tfr_model_feature_dim(m);
    char fp[160];
    tfr_bncache_fingerprint(fp, sizeof fp, bcrc, c, o->mean, o->std);
    /* images */
    int from_shards = is_shard_source(o->images);
    if (from_shards) {
        if ((st = load_shards(o->images, &s, &ss, err)))
            goto done;
    } else {
        tfr_scan_opts so;
        tfr_scan_opts_init(&so);
        const char *roots[1] = {o->images};
        so.roots = roots;
        so.nroots = 1;
        if ((st = tfr_scan_run(&so, &s, err)))
            goto done;
    }
    if (s.nclasses < 2) {
        st = tfr_fail(err, TFR_ERR_ARG, o->images, "retraining needs at least 2 classes");
        goto done;
    }
    res->classes = s.nclasses;
    /* shards keep the splits they were written with: a test image of the
     * writer never becomes a training image here */
    res->writer_splits = from_shards && ss.has_train && ss.has_eval;
    im = tfr_calloc(s.nitems, sizeof *im);
    todo = tfr_malloc((s.nitems ? s.nitems : 1) * sizeof *todo);
    if (!im || !todo) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s.nitems; i++) {
        im[i].it = &s.items[i];
        if (from_shards) {
            im[i].bytes = ss.bytes[i];
            im[i].nbytes = ss.nbytes[i];
        }
        const uint8_t *data;
        size_t len;
        uint8_t *owned;
        if ((st = img_data(&im[i], &data, &len, &owned, err)))
            goto done;
        im[i].crc = tfr_crc32c(data, len);
        free(owned);
        /* copies of one image ("name#2" from flip=both shards) share its split */
        char base[4400];
        snprintf(base, sizeof base, "%s", s.items[i].rel);
        char *hash = from_shards ? strrchr(base, '#') : NULL;
        if (hash && hash[1] && strspn(hash + 1, "0123456789") == strlen(hash + 1))
            *hash = 0;
        /* retrain.py's rule: names that differ only after "_nohash_" (crops,
         * thumbnails, augmented copies of one picture) share a split */
        char *slash = strrchr(base, '/'), *nh = strstr(slash ? slash + 1 : base, "_nohash_");
        if (nh)
            *nh = 0;
        double h = tfr_split_hash(base);
        im[i].split = res->writer_splits ? s.items[i].split
                      : h < o->val_percent               ? 1
                      : h < o->val_percent + o->test_percent ? 2
                                                              : 0;
        res->n_train += im[i].split == 0;
        res->n_val += im[i].split == 1;
        res->n_test += im[i].split == 2;
    }
    /* cache */
    if (o->cache_dir && (st = tfr_mkdir_p(o->cache_dir, err)))
        goto done;
    char reason[256] = "no cache folder given";
    int have = o->cache_dir &&
               tfr_bncache_load(o->cache_dir, fp, dim, &cc, reason, sizeof reason);
    if (!have) {
        res->rebuilt = 1;
        snprintf(res->rebuild_reason, sizeof res->rebuild_reason, "%s", reason);
    }
    size_t ntodo = 0;
    for (size_t i = 0; i < s.nitems; i++) {
        if (have)
            im[i].vec = tfr_bncache_take(&cc, s.items[i].rel, s.items[i].size, im[i].crc);
        if (im[i].vec)
            res->reused++;
        else
            todo[ntodo++] = i;
    }
    res->computed = ntodo;
    tfr_retrain_event cev = {.kind = TFR_RETRAIN_CACHE, .images = s.nitems};
    emit(o, res, &cev);
    double t0 = tfr_now();
    if (ntodo) {
        tfr_retrain_event bev = {.kind = TFR_RETRAIN_BOTTLENECKS_BEGIN, .total = ntodo};
        emit(o, res, &bev);
        st = bottlenecks(m, c, im, s.nitems, o, NULL, 0, todo, ntodo, res, 0, err);
        bev.kind = TFR_RETRAIN_BOTTLENECKS_END;
        emit(o, res, &bev);
        if (st)
            goto done;
        if (o->cache_dir && (st = tfr_bncache_save(o->cache_dir, fp, dim, im, s.nitems, &s, err)))
            goto done;
    }
    res->seconds_bottlenecks = tfr_now() - t0;
    /* train the new head */
    int K = s.nclasses;
    int hbad = tfr_head_alloc(&head, K, dim);
    size_t ntr = 0;
    for (size_t i = 0; i < s.nitems; i++)
        if (im[i].split == 0)
            todo[ntr++] = i;
    if (hbad || !ntr) {
        st = ntr ? tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory")
                 : tfr_fail(err, TFR_ERR_ARG, o->images, "no training images after the split");
        goto done;
    }
    tfr_rng rng = {o->seed * TFR_GOLDEN64 + 11};
    for (size_t i = 0; i < (size_t)K * dim; i++) /* retrain.py: truncated normal, stddev 0.001 */
        head.W[i] = (float)(0.001 * (tfr_rng_uniform(&rng) * 2 - 1));
    distort d = {o->flip, o->random_crop / 100.0f, o->random_scale / 100.0f,
                 o->random_brightness / 100.0f};
    int distorted = d.flip || d.crop > 0 || d.scale > 0 || d.brightness > 0;
    if (distorted) {
        tfr_retrain_event dsev = {.kind = TFR_RETRAIN_DISTORTIONS};
        emit(o, res, &dsev);
    }
    if (o->logdir &&
        ((st = tfr_mkdir_p(o->logdir, err)) || (st = tfr_events_open(o->logdir, &ev, err))))
        goto done;
    t0 = tfr_now();
    size_t *bidx = tfr_malloc((size_t)o->batch * sizeof *bidx);
    float **bvec = tfr_calloc((size_t)o->batch, sizeof *bvec);
    img *dimg = distorted ? tfr_calloc((size_t)o->batch, sizeof *dimg) : NULL;
    blab = tfr_malloc((size_t)o->batch * sizeof *blab);
    if (!bidx || !bvec || !blab || (distorted && !dimg)) {
        free(bidx);
        free(bvec);
        free(dimg);
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    for (int step = 1; step <= o->steps; step++) {
        for (int k = 0; k < o->batch; k++)
            bidx[k] = todo[tfr_rng_u64(&rng) % ntr];
        if (distorted) {
            for (int k = 0; k < o->batch; k++) {
                dimg[k].it = im[bidx[k]].it;
                dimg[k].bytes = im[bidx[k]].bytes;
                dimg[k].nbytes = im[bidx[k]].nbytes;
                free(dimg[k].vec);
                dimg[k].vec = NULL;
            }
            size_t seq[1024];
            for (int k = 0; k < o->batch && k < 1024; k++)
                seq[k] = (size_t)k;
            if ((st = bottlenecks(m, c, dimg, (size_t)o->batch, o, &d, tfr_rng_u64(&rng), seq,
                                  (size_t)o->batch, NULL, 0, err)))
                break;
            for (int k = 0; k < o->batch; k++)
                bvec[k] = dimg[k].vec;
        } else {
            for (int k = 0; k < o->batch; k++)
                bvec[k] = im[bidx[k]].vec;
        }
        for (int k = 0; k < o->batch; k++)
            blab[k] = im[bidx[k]].it->cls;
        int right;
        double ce =
            tfr_head_step(&head, (const float *const *)bvec, blab, o->batch, o->lr, &right);
        if (step % o->eval_every == 0 || step == o->steps) {
            double va = tfr_head_accuracy(&head, im, s.nitems, 1);
            tfr_retrain_event eev = {.kind = TFR_RETRAIN_EVAL, .step = step, .steps = o->steps,
                                     .batch_right = right, .batch = o->batch,
                                     .cross_entropy = ce / o->batch, .val_accuracy = va};
            emit(o, res, &eev);
            if (ev) {
                tfr_events_scalar(ev, "train/accuracy", step, (float)right / o->batch, err);
                tfr_events_scalar(ev, "train/cross_entropy", step, (float)(ce / o->batch), err);
                if (!isnan(va))
                    tfr_events_scalar(ev, "validation/accuracy", step, (float)va, err);
            }
        }
    }
    for (int k = 0; dimg && k < o->batch; k++)
        free(dimg[k].vec);
    free(dimg);
    free(bidx);
    free(bvec);
    if (st)
        goto done;
    res->seconds_training = tfr_now() - t0;
    res->val_accuracy = tfr_head_accuracy(&head, im, s.nitems, 1);
    res->test_accuracy = tfr_head_accuracy(&head, im, s.nitems, 2);
    {
        /* the baselines: the training split's most common class, and chance */
        uint64_t *cnt = tfr_calloc((size_t)K, sizeof *cnt), ntest = 0, hit = 0;
        if (!cnt) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < s.nitems; i++)
            if (im[i].split == 0)
                cnt[im[i].it->cls]++;
        int maj = 0;
        for (int k = 1; k < K; k++)
            if (cnt[k] > cnt[maj])
                maj = k;
        for (size_t i = 0; i < s.nitems; i++)
            if (im[i].split == 2) {
                ntest++;
                hit += im[i].it->cls == maj;
            }
        free(cnt);
        res->majority_accuracy = ntest ? (double)hit / (double)ntest : NAN;
        res->chance_accuracy = 1.0 / K;
    }
    tfr_retrain_event tev = {.kind = TFR_RETRAIN_TRAINED, .steps = o->steps};
    emit(o, res, &tev);
    for (size_t i = 0; o->print_misclassified && i < s.nitems; i++) {
        if (im[i].split != 2)
            continue;
        int p = tfr_head_predict(&head, im[i].vec);
        if (p == im[i].it->cls)
            continue;
        tfr_retrain_event mev = {.kind = TFR_RETRAIN_MISCLASSIFIED, .path = im[i].it->rel,
                                 .truth = s.classes[im[i].it->cls], .predicted = s.classes[p]};
        emit(o, res, &mev);
    }
    /* the complete model: backbone + new head */
    if ((st = tfr_model_with_head(m, K, head.W, head.b, &out_m, err)) ||
        (st = tfr_model_set_class_names(out_m, (const char *const *)s.classes, s.nclasses, 0, err)))
        goto done;
    tfr_model_set_normalization(out_m, o->mean, o->std);
    if ((o->fold_bn || o->round_weights) &&
        (st = export_changes(out_m, c, K, im, s.nitems, o, res, err)))
        goto done;
    if (o->out_dir) {
        char mp[4400], lp[4400];
        if ((st = tfr_mkdir_p(o->out_dir, err)))
            goto done;
        if (tfr_path_join(mp, sizeof mp, o->out_dir, "model.tfrc", NULL) ||
            tfr_path_join(lp, sizeof lp, o->out_dir, TFR_LABELS_NAME, NULL)) {
            st = tfr_fail(err, TFR_ERR_ARG, o->out_dir, "path too long");
            goto done;
        }
        tfr_train_state nts = {0};
        if ((st = tfr_checkpoint_save(mp, out_m, &nts, err)) ||
            (st = tfr_labels_save(lp, s.classes, s.nclasses, err)))
            goto done;
        tfr_retrain_event wev = {.kind = TFR_RETRAIN_WROTE, .model_path = mp, .labels_path = lp};
        emit(o, res, &wev);
    }
done:
    tfr_events_close(ev);
    for (size_t i = 0; im && i < s.nitems; i++)
        free(im[i].vec);
    free(im);
    free(todo);
    free(blab);
    tfr_head_free(&head);
    tfr_bncache_free(&cc);
    for (size_t i = 0; i < ss.n; i++)
        free(ss.bytes[i]);
    free(ss.bytes);
    free(ss.nbytes);
    tfr_scan_free(&s);
    tfr_model_free(out_m);
    tfr_model_free(m);
    return st;
}
