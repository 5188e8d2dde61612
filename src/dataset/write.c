/*
 * dataset/write.c - tfrecord-write's engine: scan -> plan shards -> a
 * pipeline over windows of images (read, decode, resize, flip, encode one
 * Example: tasks on all threads) whose records are appended in order to a
 * chunked GZIP writer whose chunks are compressed by tasks of the same
 * threads (see run_pipeline).
 *
 * Determinism: the item order comes from the seed, shard boundaries from
 * the counts, chunk boundaries from byte positions. Nothing depends on the
 * thread count or on timing, so the shards are byte-identical on 1 or N
 * threads.
 *
 * Atomicity: shards are written as NAME.incomplete (itself through a
 * temporary) and renamed to NAME only after every shard of this run is
 * finished; then labels.txt, then manifest.json. A killed run leaves only
 * .incomplete / .tmp files, which the next run removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tfrecord/dataset.h"
#include "dataset/scan_impl.h"
#include "tfrecord/example.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/opts.h"
#include "util/rng.h"

void tfr_write_opts_init(tfr_write_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    tfr_writer_opts_init(&o->record);
    o->record.chunk_bytes = 1u << 20;
    o->channels = 0;
    o->resize = TFR_RESIZE_STRETCH;
    o->layout = TFR_LAYOUT_JPEG;
    o->quality = 95;
    o->shard_bytes = 150ull * 1000 * 1000;
    o->seed = 12345;
    o->num_workers = 1;
    o->progress = 1;
    o->max_pixels = TFR_DEFAULT_MAX_PIXELS;
}

tfr_status tfr_parse_splits(const char *s, tfr_split_spec *out, int *n, tfr_error *err)
{
    *n = 0;
    double total = 0;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p || eq - p >= 32 || *n == TFR_MAX_SPLITS)
            return tfr_fail(err, TFR_ERR_ARG, NULL,
                            "--split wants NAME=PERCENT,... (e.g. train=80,validation=10,test=10)");
        tfr_split_spec *sp = &out[(*n)++];
        memset(sp, 0, sizeof *sp);
        snprintf(sp->name, sizeof sp->name, "%.*s", (int)(eq - p), p);
        char *end;
        sp->percent = strtod(eq + 1, &end);
        if (end != p + len || sp->percent < 0)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "--split: bad percentage in '%.*s'", (int)len, p);
        for (int i = 0; i < *n - 1; i++)
            if (!strcmp(out[i].name, sp->name))
                return tfr_fail(err, TFR_ERR_ARG, NULL, "--split: '%s' given twice", sp->name);
        total += sp->percent;
        p += len;
        if (*p == ',')
            p++;
    }
    if (*n == 0 || fabs(total - 100) > 1e-6)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--split percentages sum to %g, not 100", total);
    return TFR_OK;
}

/* ---- plan -------------------------------------------------------------- */

typedef struct witem {
    uint32_t scan;   /* index into scan.items */
    uint8_t  flip;
} witem;

typedef struct shard {
    int     split;
    int     index, count;   /* i of n within the split */
    size_t  first, n;       /* range of the split's item order */
    char    name[300];
    int     mine;
    tfr_writer_result res;
} shard;

typedef struct plan {
    witem  *order[TFR_MAX_SPLITS];
    size_t  norder[TFR_MAX_SPLITS];
    shard  *shards;
    size_t  nshards;
} plan;

static const char *ext_of(tfr_compression c)
{
    return c == TFR_COMPRESS_GZIP ? ".tfrecord.gz" : c == TFR_COMPRESS_ZLIB ? ".tfrecord.zlib"
                                                                            : ".tfrecord";
}

/* Rough output bytes of one item, for automatic shard counts. */
static double est_bytes(const tfr_write_opts *o, const tfr_scan_item *it)
{
    double px = (double)o->width * o->height * (o->channels ? o->channels : 3);
    if (o->layout == TFR_LAYOUT_JPEG)
        return o->width ? px * 0.25 + 200 : (double)it->size + 200;
    double per = o->layout == TFR_LAYOUT_TENSOR ? 4 : 1;
    if (o->width)
        return px * per + 200;
    return (double)it->size * 8 * per + 200; /* unknown size: JPEG ~ 1:8 */
}

static tfr_status make_plan(const tfr_write_opts *o, const tfr_scan *s, plan *pl, tfr_error *err)
{
    memset(pl, 0, sizeof *pl);
    int copies = o->flip == TFR_FLIP_BOTH ? 2 : 1;
    size_t cap = 0;
    for (int sp = 0; sp < s->nsplits; sp++) {
        size_t n = 0;
        for (size_t i = 0; i < s->nitems; i++)
            n += s->items[i].split == sp;
        n *= (size_t)copies;
        witem *v = tfr_malloc((n ? n : 1) * sizeof *v);
        if (!v)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < s->nitems; i++) {
            if (s->items[i].split != sp)
                continue;
            for (int c = 0; c < copies; c++) {
                v[k].scan = (uint32_t)i;
                if (o->flip == TFR_FLIP_BOTH)
                    v[k].flip = (uint8_t)c;
                else if (o->flip == TFR_FLIP_RANDOM) {
                    uint64_t h = tfr_fnv1a(o->seed * 0x9e3779b97f4a7c15ull + 1, s->items[i].rel,
                                           strlen(s->items[i].rel));
                    v[k].flip = (uint8_t)(tfr_mix64(h) & 1);
                } else
                    v[k].flip = 0;
                k++;
            }
        }
        /* Fisher-Yates with a stream seeded by (seed, split name) */
        uint64_t st = tfr_fnv1a(o->seed ^ 0x5eed5eed5eedull, s->split_names[sp],
                                strlen(s->split_names[sp]));
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(tfr_splitmix64(&st) % i);
            witem t = v[i - 1];
            v[i - 1] = v[j];
            v[j] = t;
        }
        pl->order[sp] = v;
        pl->norder[sp] = n;
        if (n == 0)
            continue;
        int S = o->shards;
        for (int q = 0; q < o->nsplits; q++)
            if (!strcmp(o->splits[q].name, s->split_names[sp]) && o->splits[q].shards > 0)
                S = o->splits[q].shards;
        if (S <= 0) {
            double tot = 0;
            for (size_t i = 0; i < n; i++)
                tot += est_bytes(o, &s->items[v[i].scan]);
            S = (int)ceil(tot / (double)(o->shard_bytes ? o->shard_bytes : 150000000));
            if (S < 1)
                S = 1;
        }
        if ((size_t)S > n)
            S = (int)n; /* never an empty shard */
        if (S > 99999)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "%d shards is more than 99999", S);
        shard *ns = tfr_realloc(pl->shards, (pl->nshards + (size_t)S) * sizeof *ns);
        if (!ns)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        pl->shards = ns;
        cap += (size_t)S;
        for (int k2 = 0; k2 < S; k2++) {
            shard *sh = &pl->shards[pl->nshards];
            memset(sh, 0, sizeof *sh);
            sh->split = sp;
            sh->index = k2;
            sh->count = S;
            sh->first = n * (size_t)k2 / (size_t)S;
            sh->n = n * (size_t)(k2 + 1) / (size_t)S - sh->first;
            snprintf(sh->name, sizeof sh->name, "%s-%05d-of-%05d%s", s->split_names[sp], k2, S,
                     ext_of(o->record.compression));
            sh->mine = (int)(pl->nshards % (size_t)o->num_workers) == o->worker_index;
            pl->nshards++;
        }
    }
    (void)cap;
    return TFR_OK;
}

static void free_plan(plan *pl)
{
    for (int i = 0; i < TFR_MAX_SPLITS; i++)
        free(pl->order[i]);
    free(pl->shards);
}

/* ---- fingerprint ------------------------------------------------------- */

static void fp_str(uint64_t *h, const char *s)
{
    *h = tfr_fnv1a(*h, s, strlen(s) + 1);
}

static void fp_num(uint64_t *h, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    fp_str(h, b);
}

static uint64_t fingerprint(const tfr_write_opts *o, const tfr_scan *s)
{
    uint64_t h = TFR_FNV_INIT;
    fp_str(&h, "tfrecord-write " TFR_VERSION);
    fp_num(&h, o->layout); fp_num(&h, o->channels); fp_num(&h, o->width); fp_num(&h, o->height);
    fp_num(&h, o->resize); fp_num(&h, o->flip); fp_num(&h, o->normalize); fp_num(&h, o->quality);
    fp_num(&h, o->shards); fp_num(&h, (double)o->shard_bytes); fp_num(&h, o->record.compression);
    fp_num(&h, o->record.level); fp_num(&h, (double)o->record.chunk_bytes);
    if (o->index) /* seekable chunks are other bytes */
        fp_str(&h, "index");
    fp_num(&h, (double)o->seed);
    /* not the worker count: K workers write the same bytes as one run, so a
     * merged set and a single run's are the same set */
    fp_num(&h, o->label_offset);
    /* only when set: the default keeps the fingerprints of earlier runs */
    if (o->max_pixels != TFR_DEFAULT_MAX_PIXELS)
        fp_num(&h, (double)o->max_pixels);
    if (o->record.engine) { /* another engine writes other bytes: "auto" is the fastest */
        const char *e = o->record.engine, *all = tfr_writer_engines(), *sp = strrchr(all, ' ');
        if (!strcmp(e, "auto"))
            e = sp ? sp + 1 : all;
        if (strcmp(e, "zlib"))
            fp_str(&h, e);
    }
    for (int i = 0; i < o->nsplits; i++) {
        fp_str(&h, o->splits[i].name);
        fp_num(&h, o->splits[i].percent);
        fp_num(&h, o->splits[i].shards);
    }
    for (int i = 0; i < s->nclasses; i++)
        fp_str(&h, s->classes[i]);
    for (size_t i = 0; i < s->nitems; i++) {
        const tfr_scan_item *it = &s->items[i];
        fp_str(&h, it->rel);
        fp_num(&h, (double)it->size);
        fp_num(&h, (double)it->mtime_ns);
        fp_num(&h, it->cls);
        fp_str(&h, s->split_names[it->split]);
    }
    return h;
}

/* ---- per-thread processing ------------------------------------------------ */

typedef struct tctx {
    tfr_image_ctx       *img;
    tfr_layout_encoder  *enc;
    tfr_image            a, r;
    uint8_t             *file;
    size_t               file_cap;
    float               *fbuf;
    size_t               fcap;
} tctx;

typedef struct result {
    uint8_t *rec;
    size_t   len;
    int      ok;
    int      oom;        /* failed for want of memory: the run's failure, not the image's */
    int      passthrough;
    int      not_image;  /* neither JPEG nor PNG by content: skipped, as the scan would */
    unsigned why;        /* jpeg layout: 1 << tfr_reencode_reason of a re-encode */
    char     reason[256];
} result;

static void tctx_free(tctx *t)
{
    tfr_image_ctx_free(t->img);
    tfr_layout_encoder_free(t->enc);
    tfr_image_free(&t->a);
    tfr_image_free(&t->r);
    free(t->file);
    free(t->fbuf);
}

/*
 * The whole file in t->file, with one open and (as a rule) one read: the
 * scan's size plus one byte is asked for, so a read that reaches the size
 * but not the extra byte is the end of the file, a full one means it grew
 * (reading goes on), and one short of the size is read on until end of file.
 */
static int read_whole(tctx *t, const char *path, uint64_t size, size_t *n, char *reason,
                      size_t rn, int *oom)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(reason, rn, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t got = 0, want = (size_t)size + 1;
    for (;;) {
        if (want + 1 > t->file_cap) {
            uint8_t *p = tfr_realloc(t->file, want + 1);
            if (!p) {
                snprintf(reason, rn, "out of memory for %zu bytes", want);
                *oom = 1;
                close(fd);
                return -1;
            }
            t->file = p;
            t->file_cap = want + 1;
        }
        ssize_t k = read(fd, t->file + got, want - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(reason, rn, "read error: %s", strerror(errno));
            close(fd);
            return -1;
        }
        got += (size_t)k;
        if (k == 0 && got < (size_t)size) {
            snprintf(reason, rn, "file shrank while reading (%zu of %llu bytes)", got,
                     (unsigned long long)size);
            close(fd);
            return -1;
        }
        /* short of the size the scan saw: a file system that reads in
         * pieces, so read on; at or past it, a short read is the end */
        if (k == 0 || (got < want && got >= (size_t)size))
            break;
        if (got < want)
            continue;
        want = want * 2 > want + (1u << 20) ? want + (1u << 20) : want * 2; /* it grew */
    }
    close(fd);
    *n = got;
    return 0;
}

/* One image -> one serialized Example in res; never fails the run itself. */
static void process(tctx *t, const tfr_write_opts *o, const tfr_scan *s, const witem *wi,
                    result *res)
{
    const tfr_scan_item *it = &s->items[wi->scan];
    tfr_error e;
    tfr_error_clear(&e);
    res->ok = 0;
    res->oom = 0;
    res->not_image = 0;
    res->rec = NULL;
    size_t n;
    if (read_whole(t, it->path, it->size, &n, res->reason, sizeof res->reason, &res->oom))
        return;
    if (tfr_image_format_of(t->file, n) == TFR_IMG_UNKNOWN) {
        res->not_image = 1;
        snprintf(res->reason, sizeof res->reason, "%s",
                 n ? TFR_SKIP_NOT_IMAGE : "empty file (0 bytes)");
        return;
    }
    tfr_image_info info = {0};
    tfr_decode_opts d;
    tfr_decode_opts_init(&d);
    d.channels = o->channels ? o->channels : 3;
    d.strict = o->strict;
    d.max_pixels = o->max_pixels;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    tfr_status st;
    int passthrough = 0;
    tfr_layout_sample smp = {.label = (int64_t)it->cls + o->label_offset,
                             .class_text = s->classes[it->cls],
                             .filename = it->rel};
    if (o->layout == TFR_LAYOUT_JPEG) {
        /* the header says what the bytes hold: the channels to keep, and
         * whether the file can go through as it is */
        if ((st = tfr_image_probe(t->img, t->file, n, &info, &e)))
            goto fail;
        int src_c = info.format == TFR_IMG_JPEG && !info.cmyk && info.components == 1 ? 1
                    : info.format == TFR_IMG_PNG && info.components <= 2        ? 1
                                                                                : 3;
        int want = o->channels ? o->channels : src_c;
        d.channels = want;
        unsigned why = 0;
        if (o->width)
            why |= 1u << TFR_REENCODE_SIZE;
        if (wi->flip)
            why |= 1u << TFR_REENCODE_FLIP;
        if (info.format == TFR_IMG_PNG)
            why |= 1u << TFR_REENCODE_PNG;
        else if (info.cmyk)
            why |= 1u << TFR_REENCODE_CMYK;
        else if (want != src_c)
            why |= 1u << (want == 3 ? TFR_REENCODE_TO_RGB : TFR_REENCODE_TO_GRAY);
        if (info.orientation > 1 && !why)
            why |= 1u << TFR_REENCODE_ORIENT;
        if (!why) {
            /* validate with the cheapest decode (1/8 scale) before passing through */
            d.min_w = d.min_h = 1;
            d.apply_orientation = 0;
            if ((st = tfr_image_decode(t->img, t->file, n, &d, &t->a, &info, &e)))
                goto fail;
            d.min_w = d.min_h = 0;
            d.apply_orientation = 1;
            passthrough = 1;
        }
        res->why = why;
    }
    res->passthrough = passthrough;
    if (passthrough) {
        smp.image = t->file;
        smp.image_len = n;
        smp.width = info.width;
        smp.height = info.height;
        smp.channels = d.channels;
    } else {
        if (o->width) {
            d.min_w = o->width;
            d.min_h = o->height;
        }
        if ((st = tfr_image_decode(t->img, t->file, n, &d, &t->a, &info, &e)))
            goto fail;
        tfr_image *im = &t->a;
        if (o->width && (im->w != o->width || im->h != o->height)) {
            if ((st = tfr_image_resize(im, o->width, o->height, o->resize, &t->r, &e)))
                goto fail;
            im = &t->r;
        }
        if (wi->flip)
            tfr_image_flip_h(im);
        smp.width = im->w;
        smp.height = im->h;
        smp.channels = im->c;
        if (o->layout == TFR_LAYOUT_JPEG) {
            if ((st = tfr_image_encode_jpeg(t->img, im, o->quality, &enc, &enc_len, &e)))
                goto fail;
            smp.image = enc;
            smp.image_len = enc_len;
        } else if (o->layout == TFR_LAYOUT_RAW) {
            smp.image = im->px;
        } else {
            size_t cnt = (size_t)im->w * im->h * im->c;
            if (cnt > t->fcap) {
                float *f = tfr_realloc(t->fbuf, cnt * sizeof *f);
                if (!f) {
                    st = tfr_fail(&e, TFR_ERR_NOMEM, NULL, "out of memory");
                    goto fail;
                }
                t->fbuf = f;
                t->fcap = cnt;
            }
            tfr_image_to_float(im, o->normalize, t->fbuf);
            smp.image = t->fbuf;
        }
    }
    {
        const uint8_t *data;
        size_t len;
        if ((st = tfr_layout_encode(t->enc, &smp, &data, &len, &e)))
            goto fail;
        res->rec = tfr_malloc(len ? len : 1);
        if (!res->rec) {
            free(enc);
            snprintf(res->reason, sizeof res->reason, "out of memory");
            res->oom = 1;
            return;
        }
        memcpy(res->rec, data, len);
        res->len = len;
        res->ok = 1;
    }
    free(enc);
    return;
fail:
    free(enc);
    res->oom = st == TFR_ERR_NOMEM;
    {
        /* the pixel limit's refusal says which option moves it */
        int over = st == TFR_ERR_FORMAT &&
                   (uint64_t)info.width * (uint64_t)info.height > o->max_pixels;
        const char *hint = over ? "; --max-pixels raises it" : "";
        int room = (int)(sizeof res->reason - 1 - strlen(hint));
        snprintf(res->reason, sizeof res->reason, "%.*s%s", room,
                 e.msg[0] ? e.msg : tfr_status_str(st), hint);
    }
}

/* ---- the pipeline ---------------------------------------------------------- */

static tfr_status add_skip(tfr_scan *s, const char *path, const char *reason, tfr_error *err);

/*
 * Windows of images (64 per thread) go through two stages at once: the
 * images of window k+1 are read, decoded and encoded as OpenMP tasks while
 * one thread appends window k's records in order, and the chunks those
 * appends fill are compressed as tasks of the same team (the record
 * writer's taskloop), so every thread takes whichever work is there:
 * images, chunks, or both across a shard's end. The order of records and
 * of chunk boundaries is the plan's, so the bytes are those of one thread.
 */
typedef struct pipe_ctx {
    const tfr_write_opts *o;
    tfr_scan             *s;
    plan                 *pl;
    tctx                 *tc;
    uint64_t            (*counts)[TFR_MAX_SPLITS];
    tfr_write_report     *r;
    tfr_progress         *bar;
    int                   nt;
    size_t                window;
    result               *res[2];
    size_t                not_images;
    uint64_t              not_image_bytes;
    tfr_error            *err;
    char                  ipath[4500]; /* the open shard's index (the writer keeps the pointer) */
} pipe_ctx;

typedef struct pwin {
    size_t si, w0, wn; /* shard, first item in it, items */
} pwin;

static tfr_status shard_open(pipe_ctx *pc, size_t si, tfr_record_writer **w)
{
    const tfr_write_opts *o = pc->o;
    shard *sh = &pc->pl->shards[si];
    char path[4400];
    if (tfr_path_join(path, sizeof path, o->out_dir, sh->name, ".incomplete"))
        return tfr_fail(pc->err, TFR_ERR_ARG, o->out_dir, "output path too long");
    tfr_writer_opts wo = o->record;
    wo.threads = pc->nt; /* the job's threads compress each shard's chunks */
    if (o->index) {
        char idir[4400];
        if (tfr_path_join(idir, sizeof idir, o->out_dir, "index", NULL) ||
            tfr_path_join(pc->ipath, sizeof pc->ipath, idir, sh->name, ".index"))
            return tfr_fail(pc->err, TFR_ERR_ARG, o->out_dir, "output path too long");
        tfr_status st = tfr_mkdir_p(idir, pc->err);
        if (st)
            return st;
        wo.index_path = pc->ipath;
        wo.seekable = 1;
    }
    return tfr_record_writer_open(path, &wo, w, pc->err);
}

static tfr_status shard_close(pipe_ctx *pc, size_t si, tfr_record_writer **wp)
{
    const tfr_write_opts *o = pc->o;
    shard *sh = &pc->pl->shards[si];
    tfr_error *err = pc->err;
    tfr_record_writer *w = *wp;
    *wp = NULL;
    tfr_status st = tfr_record_writer_close(w, &sh->res, err);
    if (st)
        return st;
    if (o->index && o->record.compression == TFR_COMPRESS_NONE) {
        /* DALI's index too: uncompressed shards are what DALI reads */
        char ip[4500], dp[4500];
        tfr_record_index *ix = NULL;
        if (tfr_path_join(ip, sizeof ip, o->out_dir, "index", NULL) ||
            tfr_path_join(dp, sizeof dp, ip, sh->name, ".idx") ||
            tfr_path_join(ip, sizeof ip, o->out_dir, "index/", sh->name) ||
            strlen(ip) + 7 > sizeof ip)
            return tfr_fail(err, TFR_ERR_ARG, o->out_dir, "output path too long");
        strcat(ip, ".index");
        st = tfr_record_index_load(ip, &ix, err);
        if (!st)
            st = tfr_record_index_save_dali(ix, dp, err);
        tfr_record_index_free(ix);
        if (st)
            return st;
    }
    if (sh->res.records == 0)
        tfr_log(TFR_LOG_WARN, "%s: every image of this shard was skipped; it is empty", sh->name);
    return TFR_OK;
}

/* Window x's records, in order, into w (its shard's writer). */
static tfr_status append_window(pipe_ctx *pc, const pwin *x, result *res, tfr_record_writer *w)
{
    const tfr_write_opts *o = pc->o;
    tfr_scan *s = pc->s;
    shard *sh = &pc->pl->shards[x->si];
    const witem *ord = pc->pl->order[sh->split] + sh->first + x->w0;
    tfr_error *err = pc->err;
    tfr_write_report *r = pc->r;
    tfr_status st = TFR_OK;
    for (size_t k = 0; k < x->wn; k++) {
        const witem *wi = &ord[k];
        const tfr_scan_item *it = &s->items[wi->scan];
        if (!res[k].ok && res[k].not_image) {
            if (!(o->flip == TFR_FLIP_BOTH && wi->flip)) {
                if ((st = add_skip(s, it->path, res[k].reason, err)))
                    return st;
                pc->not_images++;
                pc->not_image_bytes += it->size;
            }
            continue;
        }
        if (!res[k].ok) {
            if (res[k].oom)
                return tfr_fail(err, TFR_ERR_NOMEM, it->path, "%s", res[k].reason);
            if (o->strict)
                return tfr_fail(err, TFR_ERR_FORMAT, it->path, "%s (--strict)", res[k].reason);
            /* a bad image appears once in the report, even when flipped twice */
            if (!(o->flip == TFR_FLIP_BOTH && wi->flip) &&
                (st = add_skip(s, it->path, res[k].reason, err)))
                return st;
            tfr_log(TFR_LOG_INFO, "skipped %s: %s", it->path, res[k].reason);
            continue;
        }
        st = tfr_record_writer_append(w, res[k].rec, res[k].len, err);
        free(res[k].rec);
        res[k].rec = NULL;
        if (st)
            return st;
        pc->counts[it->cls][sh->split]++;
        if (o->layout == TFR_LAYOUT_JPEG) {
            if (res[k].passthrough)
                r->passed_through++;
            else
                r->reencoded++;
            for (int q = 0; q < TFR_REENCODE_REASONS; q++)
                r->reencoded_why[q] += (res[k].why >> q) & 1;
        }
    }
    return TFR_OK;
}

/* Window x's images as tasks, results into res. */
static void spawn_window(pipe_ctx *pc, const pwin *x, result *res)
{
    const shard *sh = &pc->pl->shards[x->si];
    const witem *ord = pc->pl->order[sh->split] + sh->first + x->w0;
    for (size_t k = 0; k < x->wn; k++) {
#pragma omp task firstprivate(k) shared(pc, ord, res)
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            process(&pc->tc[tid], pc->o, pc->s, &ord[k], &res[k]);
        }
    }
}

static tfr_status run_pipeline(pipe_ctx *pc, tfr_record_writer **open_w)
{
    size_t nwin = 0;
    for (size_t si = 0; si < pc->pl->nshards; si++)
        if (pc->pl->shards[si].mine)
            nwin += (pc->pl->shards[si].n + pc->window - 1) / pc->window;
    pwin *wins = tfr_malloc((nwin ? nwin : 1) * sizeof *wins);
    if (!wins)
        return tfr_fail(pc->err, TFR_ERR_NOMEM, NULL, "out of memory");
    size_t k = 0;
    for (size_t si = 0; si < pc->pl->nshards; si++) {
        const shard *sh = &pc->pl->shards[si];
        for (size_t w0 = 0; sh->mine && w0 < sh->n; w0 += pc->window)
            wins[k++] = (pwin){si, w0, sh->n - w0 < pc->window ? sh->n - w0 : pc->window};
    }
    tfr_status st = TFR_OK;
    uint64_t done_items = 0;
    /* the calling thread drives (so every file operation stays on it);
     * the others take tasks at the region's closing barrier */
#pragma omp parallel num_threads(pc->nt)
#pragma omp master
    {
        if (nwin)
            spawn_window(pc, &wins[0], pc->res[0]);
#pragma omp taskwait
        for (size_t i = 0; i < nwin && !st; i++) {
            const pwin *x = &wins[i];
            if (i + 1 < nwin)
                spawn_window(pc, &wins[i + 1], pc->res[(i + 1) & 1]);
            if (x->w0 == 0)
                st = shard_open(pc, x->si, &open_w[x->si]);
            if (!st)
                st = append_window(pc, x, pc->res[i & 1], open_w[x->si]);
            if (!st && x->w0 + x->wn == pc->pl->shards[x->si].n)
                st = shard_close(pc, x->si, &open_w[x->si]);
            done_items += x->wn;
            tfr_progress_update(pc->bar, (double)done_items);
#pragma omp taskwait
        }
    }
    free(wins);
    return st;
}

/* The report's shard list with the names (numbers are filled in later). */
static tfr_status report_shards(tfr_write_report *r, const plan *pl, tfr_error *err)
{
    r->shards = tfr_calloc(pl->nshards ? pl->nshards : 1, sizeof *r->shards);
    if (!r->shards)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < pl->nshards; i++) {
        if (!(r->shards[i].file = tfr_strdup(pl->shards[i].name)))
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        r->nshards = i + 1;
    }
    return TFR_OK;
}

tfr_status tfr_worker_index_from_env(int num_workers, int *index, char *from, size_t fn,
                                     tfr_error *err)
{
    static const char *const vars[] = {"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX",
                                       "OMPI_COMM_WORLD_RANK", "PMI_RANK"};
    for (size_t k = 0; k < sizeof vars / sizeof vars[0]; k++) {
        const char *v = getenv(vars[k]);
        if (!v || !*v)
            continue;
        char *end;
        errno = 0;
        long i = strtol(v, &end, 10);
        long base = 0;
        if (k == 0 && getenv("SLURM_ARRAY_TASK_MIN")) /* arrays may start at any index */
            base = strtol(getenv("SLURM_ARRAY_TASK_MIN"), NULL, 10);
        if (errno || *end || i - base < 0 || i - base >= num_workers)
            return tfr_fail(err, TFR_ERR_ARG, NULL,
                            "%s=%s%s is not a worker index in 0..%d (--num-workers %d)", vars[k],
                            v, base ? " (minus SLURM_ARRAY_TASK_MIN)" : "", num_workers - 1,
                            num_workers);
        *index = (int)(i - base);
        snprintf(from, fn, "%s", vars[k]);
        return TFR_OK;
    }
    return tfr_fail(err, TFR_ERR_ARG, NULL,
                    "--num-workers %d without --worker-index: give it, or run under a scheduler "
                    "that sets SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, OMPI_COMM_WORLD_RANK or "
                    "PMI_RANK", num_workers);
}

/* ---- output directory housekeeping ------------------------------------- */

static int is_temp_shard(const char *name)
{
    size_t n = strlen(name);
    int temp = (n > 11 && !strcmp(name + n - 11, ".incomplete")) || strstr(name, ".tmp.");
    return temp && strstr(name, "-of-") && strstr(name, ".tfrecord");
}

/* Removes temporaries a killed run left behind. */
static void clean_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_temp_shard(e->d_name) ||
            (!strncmp(e->d_name, "manifest", 8) && strstr(e->d_name, ".tmp.")) ||
            (!strncmp(e->d_name, "labels.txt.tmp.", 15))) {
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

static int file_size_is(const char *path, uint64_t want)
{
    struct stat sb;
    return stat(path, &sb) == 0 && (uint64_t)sb.st_size == want;
}

/* Removes the shards m lists and the manifest itself; frees m. Returns 0. */
static int remove_set(const char *dir, const char *mpath, tfr_manifest *m)
{
    for (size_t i = 0; i < m->nshards; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, m->shards[i].file);
        unlink(p);
    }
    unlink(mpath);
    tfr_manifest_free(m);
    return 0;
}

/*
 * 1: OUT holds a complete run with this fingerprint. 0: nothing there (or
 * an incomplete run). -1: a different complete run (err filled).
 */
static int check_existing(const tfr_write_opts *o, const char *fp, const char *mname,
                          tfr_error *err)
{
    char mpath[4400];
    snprintf(mpath, sizeof mpath, "%s/%s", o->out_dir, mname);
    if (access(mpath, F_OK) != 0)
        return 0;
    tfr_manifest *m = NULL;
    tfr_error e;
    if (tfr_manifest_load(mpath, &m, &e))
        return 0; /* unreadable manifest: rewrite everything */
    if (!m->complete && o->num_workers <= 1) {
        /* an unfinished run's set: never up to date, replaced without --force */
        return remove_set(o->out_dir, mpath, m);
    }
    int same = !strcmp(m->fingerprint, fp);
    int intact = 1;
    for (size_t i = 0; i < m->nshards; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", o->out_dir, m->shards[i].file);
        if (m->shards[i].bytes < 0 || !file_size_is(p, (uint64_t)m->shards[i].bytes))
            intact = 0;
    }
    if (same && intact) {
        tfr_manifest_free(m);
        return 1;
    }
    if (!o->force && intact) {
        tfr_manifest_free(m);
        tfr_fail(err, TFR_ERR_ARG, mpath,
                 "the output folder holds a complete shard set made from other inputs or "
                 "options; use --force to replace it, or choose another folder");
        return -1;
    }
    /* replacing: remove the old set's shards so no stale shard survives */
    return remove_set(o->out_dir, mpath, m);
}

/* Fills each shard's result from a manifest (for the up-to-date report). */
static void load_results(const char *dir, const char *mname, plan *pl)
{
    char mpath[4400];
    tfr_manifest *m = NULL;
    tfr_error e;
    if (tfr_path_join(mpath, sizeof mpath, dir, mname, NULL) || tfr_manifest_load(mpath, &m, &e))
        return;
    for (size_t i = 0; i < pl->nshards; i++) {
        const tfr_manifest_shard *x = tfr_manifest_find(m, pl->shards[i].name);
        if (!x)
            continue;
        tfr_writer_result *r = &pl->shards[i].res;
        r->records = x->records > 0 ? (uint64_t)x->records : 0;
        r->file_bytes = x->bytes > 0 ? (uint64_t)x->bytes : 0;
        r->bytes = x->uncompressed_bytes > 0 ? (uint64_t)x->uncompressed_bytes : 0;
        r->file_crc32c = x->crc32c;
    }
    tfr_manifest_free(m);
}

/* ---- manifest ------------------------------------------------------------ */

static const char *resize_name(tfr_resize_mode m)
{
    return m == TFR_RESIZE_CROP ? "crop" : m == TFR_RESIZE_PAD ? "pad" : "stretch";
}
static const char *flip_name(tfr_flip f)
{
    return f == TFR_FLIP_RANDOM ? "random" : f == TFR_FLIP_BOTH ? "both" : "none";
}
static const char *norm_name(tfr_normalize n)
{
    return n == TFR_NORM_RESCALE ? "rescale" : n == TFR_NORM_SAMPLEWISE ? "samplewise" : "none";
}

/*
 * The manifest of this run (a worker's part when partial). Borrows the
 * scan's strings and the plan's names: free with manifest_release.
 */
static tfr_status build_manifest(const tfr_write_opts *o, const tfr_scan *s, const plan *pl,
                                 const char *fp, uint64_t (*class_counts)[TFR_MAX_SPLITS],
                                 int partial, tfr_manifest *m, tfr_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->version, sizeof m->version, "%s", TFR_VERSION);
    time_t now = time(NULL);
    strftime(m->created, sizeof m->created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(m->fingerprint, sizeof m->fingerprint, "%s", fp);
    m->complete = !partial;
    m->worker_index = o->worker_index;
    m->num_workers = o->num_workers;
    tfr_manifest_options *mo = &m->options;
    snprintf(mo->layout, sizeof mo->layout, "%s", tfr_layout_name(o->layout));
    snprintf(mo->resize, sizeof mo->resize, "%s", resize_name(o->resize));
    snprintf(mo->flip, sizeof mo->flip, "%s", flip_name(o->flip));
    snprintf(mo->normalize, sizeof mo->normalize, "%s", norm_name(o->normalize));
    snprintf(mo->compression, sizeof mo->compression, "%s", tfr_compression_name(o->record.compression));
    mo->channels = o->channels;
    mo->width = o->width;
    mo->height = o->height;
    mo->quality = o->quality;
    mo->level = o->record.level;
    mo->label_offset = o->label_offset;
    mo->chunk_bytes = o->record.chunk_bytes;
    mo->seed = o->seed;
    m->classes = s->classes;
    m->nclasses = s->nclasses;
    for (int sp = 0; sp < s->nsplits; sp++) {
        uint64_t rec = 0;
        int nsh = 0;
        for (size_t i = 0; i < pl->nshards; i++)
            if (pl->shards[i].split == sp && (pl->shards[i].mine || !partial)) {
                rec += pl->shards[i].res.records;
                nsh = pl->shards[i].count;
            }
        if (!nsh)
            continue;
        tfr_manifest_split *ms = &m->splits[m->nsplits++];
        snprintf(ms->name, sizeof ms->name, "%s", s->split_names[sp]);
        ms->records = rec;
        ms->shards = nsh;
        ms->class_counts = tfr_calloc((size_t)(s->nclasses ? s->nclasses : 1), sizeof(uint64_t));
        if (!ms->class_counts)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        for (int c = 0; c < s->nclasses; c++)
            ms->class_counts[c] = class_counts[c][sp];
    }
    m->shards = tfr_calloc(pl->nshards ? pl->nshards : 1, sizeof *m->shards);
    if (!m->shards)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < pl->nshards; i++) {
        const shard *sh = &pl->shards[i];
        if (partial && !sh->mine)
            continue;
        tfr_manifest_shard *x = &m->shards[m->nshards++];
        x->file = (char *)sh->name;
        snprintf(x->split, sizeof x->split, "%s", s->split_names[sh->split]);
        x->records = (int64_t)sh->res.records;
        x->bytes = (int64_t)sh->res.file_bytes;
        x->uncompressed_bytes = (int64_t)sh->res.bytes;
        x->crc32c = sh->res.file_crc32c;
        x->indexed = sh->res.indexed;
        x->index_seekable = sh->res.seekable;
        x->index_chunks = (int64_t)sh->res.chunks;
    }
    m->skipped = s->skipped;
    m->nskipped = s->nskipped;
    return TFR_OK;
}

static void manifest_release(tfr_manifest *m)
{
    for (int i = 0; i < m->nsplits; i++)
        free(m->splits[i].class_counts);
    free(m->shards);
}

/* ---- the job --------------------------------------------------------------- */

static tfr_status add_skip(tfr_scan *s, const char *path, const char *reason, tfr_error *err)
{
    tfr_skip *n = tfr_realloc(s->skipped, (s->nskipped + 1) * sizeof *n);
    if (!n)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    s->skipped = n;
    n[s->nskipped].path = tfr_strdup(path);
    n[s->nskipped].reason = tfr_strdup(reason);
    s->nskipped++;
    return TFR_OK;
}

static int skip_cmp(const void *a, const void *b)
{
    return strcmp(((const tfr_skip *)a)->path, ((const tfr_skip *)b)->path);
}

static tfr_status check_opts(const tfr_write_opts *o, tfr_error *err)
{
    if (!o)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "write: NULL options");
    TFR_CHECK_OPTS(tfr_write_opts, o, err);
    TFR_CHECK_OPTS(tfr_writer_opts, &o->record, err);
    if (!o->out_dir || !o->nroots)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "a dataset root and an output folder are needed");
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--channels must be 1 or 3 (0: as stored)");
    if ((o->width > 0) != (o->height > 0) || o->width < 0 || o->height < 0 ||
        o->width > 65535 || o->height > 65535)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--size wants WxH with both sides in 1..65535");
    if (o->quality < 1 || o->quality > 100)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--quality must be in 1..100");
    if (o->max_pixels < 1)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--max-pixels must be at least 1");
    if (o->normalize != TFR_NORM_NONE && o->layout != TFR_LAYOUT_TENSOR)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "--normalize applies to the tensor layout (float pixels) only");
    if (o->num_workers < 1 || o->worker_index < 0 || o->worker_index >= o->num_workers)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--worker-index must be in 0..num-workers-1");
    if (o->record.compression == TFR_COMPRESS_AUTO)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "--compression must be gzip, zlib or none");
    return TFR_OK;
}

tfr_status tfr_write_dataset(const tfr_write_opts *o, tfr_write_report **out, tfr_error *err)
{
    tfr_status st = check_opts(o, err);
    if (st)
        return st;
    *out = NULL;
    double t0 = tfr_now();
    tfr_scan s;
    plan pl;
    memset(&pl, 0, sizeof pl);
    tctx *tc = NULL;
    int nt = tfr_threads_or_default(o->threads);
    tfr_write_report *r = tfr_calloc(1, sizeof *r);
    if (!r)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_scan_opts so;
    tfr_scan_opts_init(&so);
    so.roots = o->roots;
    so.nroots = o->nroots;
    memcpy(so.splits, o->splits, sizeof so.splits);
    so.nsplits = o->nsplits;
    so.labels_from = o->labels_from;
    so.out_dir = o->out_dir;
    so.content_later = 1; /* process() looks at the bytes it reads */
    if ((st = tfr_scan_run(&so, &s, err))) {
        free(r);
        return st;
    }
    uint64_t (*counts)[TFR_MAX_SPLITS] = tfr_calloc((size_t)(s.nclasses ? s.nclasses : 1),
                                                sizeof *counts);
    tfr_record_writer **open_w = NULL;
    result *res = NULL;
    tfr_progress *bar = NULL;
    size_t not_images = 0;        /* candidates whose bytes are no image */
    uint64_t not_image_bytes = 0;
    if (!counts) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    if (s.nitems == 0) {
        st = tfr_fail(err, TFR_ERR_ARG, o->roots[0], "no JPEG or PNG images found (%zu other files)",
                      s.nskipped);
        goto done;
    }
    if (o->layout == TFR_LAYOUT_TENSOR && s.nclasses + o->label_offset > 256) {
        st = tfr_fail(err, TFR_ERR_ARG, NULL,
                      "the tensor layout stores labels as uint8: %d classes do not fit",
                      s.nclasses + o->label_offset);
        goto done;
    }
    if ((st = make_plan(o, &s, &pl, err)))
        goto done;
    double t_plan = tfr_now();
    r->scan_seconds = t_plan - t0;
    char fp[17];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)fingerprint(o, &s));
    char mname[64];
    if (o->num_workers > 1)
        tfr_manifest_part_name(mname, sizeof mname, o->worker_index, o->num_workers);
    else
        snprintf(mname, sizeof mname, "%s", TFR_MANIFEST_NAME);
    if (tfr_mkdir_p(o->out_dir, err) != TFR_OK) { /* with its parents, as mkdir -p */
        st = err ? err->code : TFR_ERR_IO;
        goto done;
    }
    int ex = check_existing(o, fp, mname, err);
    if (ex < 0) {
        st = TFR_ERR_ARG;
        goto done;
    }
    if (ex == 1 && !o->force) {
        r->up_to_date = 1;
        load_results(o->out_dir, mname, &pl);
        /* nothing is read, so the report's image count comes from the
         * first bytes of each file, as a scan that checks content gives it */
        for (size_t i = 0; i < s.nitems; i++) {
            char buf[300];
            const char *why = tfr_scan_not_image(s.items[i].path, s.items[i].size, buf, sizeof buf);
            if (!why)
                continue;
            if ((st = add_skip(&s, s.items[i].path, why, err)))
                goto done;
            not_images++;
            not_image_bytes += s.items[i].size;
        }
        if (s.nskipped)
            qsort(s.skipped, s.nskipped, sizeof *s.skipped, skip_cmp);
        goto report;
    }
    clean_temps(o->out_dir);

    tc = tfr_calloc((size_t)nt, sizeof *tc);
    if (!tc) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    for (int i = 0; i < nt; i++)
        if ((st = tfr_image_ctx_new(&tc[i].img, err)) ||
            (st = tfr_layout_encoder_new(o->layout, &tc[i].enc, err)))
            goto done;

    uint64_t total_items = 0;
    for (size_t i = 0; i < pl.nshards; i++)
        if (pl.shards[i].mine)
            total_items += pl.shards[i].n;
    bar = tfr_progress_new("write", (double)total_items, "img", o->progress);
    const size_t window = (size_t)nt * 64;
    res = tfr_calloc(2 * window, sizeof *res); /* one window appended, the next in work */
    open_w = tfr_calloc(pl.nshards ? pl.nshards : 1, sizeof *open_w);
    if (!res || !open_w) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    {
        pipe_ctx pc = {.o = o, .s = &s, .pl = &pl, .tc = tc, .counts = counts, .r = r,
                       .bar = bar, .nt = nt, .window = window, .err = err};
        pc.res[0] = res;
        pc.res[1] = res + window;
        double tp = tfr_now();
        st = run_pipeline(&pc, open_w);
        r->images_seconds = tfr_now() - tp;
        not_images += pc.not_images;
        not_image_bytes += pc.not_image_bytes;
        if (st)
            goto done;
    }
    tfr_progress_finish(bar);
    bar = NULL;
    if (not_images == s.nitems && o->num_workers <= 1) {
        st = tfr_fail(err, TFR_ERR_ARG, o->roots[0], "no JPEG or PNG images found (%zu other files)",
                      s.nskipped);
        goto done;
    }
    {
        /* a class whose files all turned out not to be images (a class
         * folder with no files at all was reported by the scan) */
        uint64_t *cand = tfr_calloc((size_t)(s.nclasses ? s.nclasses : 1), sizeof *cand);
        for (size_t i = 0; cand && i < s.nitems; i++)
            cand[s.items[i].cls]++;
        for (int c = 0; cand && c < s.nclasses; c++) {
            uint64_t got = 0;
            for (int q = 0; q < TFR_MAX_SPLITS; q++)
                got += counts[c][q];
            if (cand[c] && !got && o->num_workers <= 1)
                tfr_log(TFR_LOG_WARN, "class '%s' has no images that could be written",
                        s.classes[c]);
        }
        free(cand);
    }
    if (s.nskipped)
        qsort(s.skipped, s.nskipped, sizeof *s.skipped, skip_cmp);
    /*
     * The commit (tfrecord/manifest.h): manifest.json saying "complete":
     * false first, so that from the first rename on a reader can tell the
     * set is unfinished; then the shards into place, labels.txt, and last
     * the manifest saying true. A worker's part manifest is never complete.
     */
    /* what the report needs is allocated first: after the commit nothing may fail */
    if ((st = report_shards(r, &pl, err)))
        goto done;
    char lp[4400], mp[4400];
    tfr_path_join(lp, sizeof lp, o->out_dir, TFR_LABELS_NAME, NULL);
    tfr_path_join(mp, sizeof mp, o->out_dir, mname, NULL);
    tfr_manifest m;
    if ((st = build_manifest(o, &s, &pl, fp, counts, o->num_workers > 1, &m, err))) {
        manifest_release(&m);
        goto done;
    }
    const int complete = m.complete;
    m.complete = 0;
    st = tfr_manifest_save(mp, &m, err);
    m.complete = complete;
    if (st) {
        manifest_release(&m);
        goto done;
    }
    for (size_t si = 0; si < pl.nshards; si++) {
        if (!pl.shards[si].mine)
            continue;
        char from[4400], to[4400];
        tfr_path_join(to, sizeof to, o->out_dir, pl.shards[si].name, NULL);
        tfr_path_join(from, sizeof from, o->out_dir, pl.shards[si].name, ".incomplete");
        if (rename(from, to) != 0) {
            st = tfr_fail_errno(err, TFR_ERR_IO, to, "rename");
            manifest_release(&m);
            goto done;
        }
    }
    if (!(st = tfr_labels_save(lp, s.classes, s.nclasses, err)) && complete)
        st = tfr_manifest_save(mp, &m, err);
    manifest_release(&m);
    if (st)
        goto done;
report:
    r->nclasses = s.nclasses;
    r->classes = s.classes;
    s.classes = NULL;
    s.nclasses = 0;
    r->images_found = s.nitems - not_images;
    r->nsplits = s.nsplits;
    for (int i = 0; i < s.nsplits; i++)
        snprintf(r->split_names[i], 32, "%s", s.split_names[i]);
    if (!r->shards && (st = report_shards(r, &pl, err)))
        goto done;
    {
        for (size_t i = 0; i < pl.nshards; i++) {
            tfr_shard_info *x = &r->shards[i];
            snprintf(x->split, sizeof x->split, "%s", s.split_names[pl.shards[i].split]);
            x->records = pl.shards[i].res.records;
            x->bytes = pl.shards[i].res.file_bytes;
            x->raw_bytes = pl.shards[i].res.bytes;
            x->crc32c = pl.shards[i].res.file_crc32c;
            x->written = pl.shards[i].mine && !r->up_to_date;
            r->shards_written += (size_t)x->written;
            r->records += x->records;
            r->split_records[pl.shards[i].split] += x->records;
            r->file_bytes += x->bytes;
            r->raw_bytes += x->raw_bytes;
        }
    }
    for (size_t i = 0; i < s.nitems; i++)
        r->input_bytes += s.items[i].size;
    r->input_bytes -= not_image_bytes;
    r->skipped = s.skipped;
    r->nskipped = s.nskipped;
    r->ignored = s.ignored;
    s.skipped = NULL;
    s.nskipped = 0;
    memcpy(r->fingerprint, fp, sizeof fp);
    r->seconds = tfr_now() - t0;
    r->num_workers = o->num_workers;
    r->worker_index = o->worker_index;
done:
    tfr_progress_finish(bar);
    if (open_w) {
        for (size_t i = 0; i < pl.nshards; i++)
            tfr_record_writer_abort(open_w[i]);
        free(open_w);
    }
    if (st) {
        /* nothing complete-looking stays behind */
        for (size_t i = 0; i < pl.nshards; i++) {
            char p[4400];
            if (!tfr_path_join(p, sizeof p, o->out_dir, pl.shards[i].name, ".incomplete"))
                unlink(p);
        }
    }
    if (res) {
        for (size_t k = 0; k < 2 * (size_t)nt * 64; k++)
            free(res[k].rec);
        free(res);
    }
    if (tc) {
        for (int i = 0; i < nt; i++)
            tctx_free(&tc[i]);
        free(tc);
    }
    free(counts);
    free_plan(&pl);
    tfr_scan_free(&s);
    if (st) {
        tfr_write_report_free(r);
        return st;
    }
    *out = r;
    return TFR_OK;
}

void tfr_write_report_free(tfr_write_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nclasses; i++)
        free(r->classes[i]);
    free(r->classes);
    for (size_t i = 0; i < r->nshards; i++)
        free(r->shards[i].file);
    free(r->shards);
    for (size_t i = 0; i < r->nskipped; i++) {
        free(r->skipped[i].path);
        free(r->skipped[i].reason);
    }
    free(r->skipped);
    free(r);
}
