/*
 * stream/stream.c - the streaming reader (see tfrecord/stream.h): threads,
 * queues and the batch ring.
 *
 * Threads: one sequencer reads records in the deterministic order of
 * stream/order.c (file shuffle, rank split, interleave, shuffle buffer,
 * epoch caps) and hands each record,
 * with its batch and slot, to a bounded job queue; T workers parse, decode
 * and augment straight into a ring of batch buffers; next() returns the
 * ring entries in order. Back-pressure: the sequencer waits for a free ring
 * entry before it starts a batch and for room in the queue before a job,
 * so memory is bounded by the shuffle buffer, the queue and the ring.
 */
#include "tfrecord/stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream_impl.h"
#include "tfrecord/augment.h"
#include "tfrecord/example.h"
#include "tfrecord/image.h"
#include "tfrecord/layout.h"
#include "tfrecord/manifest.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/opts.h"

void tfr_stream_opts_init(tfr_stream_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    tfr_reader_opts_init(&o->record);
    o->epochs = 1;
    o->shuffle_files = 1;
    o->interleave = 4;
    o->shuffle_buffer = 1024;
    o->seed = 0;
    o->prefetch = 2;
    o->max_pixels = TFR_DEFAULT_MAX_PIXELS;
    o->batch_size = 32;
    o->channels = 3;
    o->std[0] = o->std[1] = o->std[2] = 1;
    o->world = 1;
}

/*
 * A job is a run of consecutive slots of one batch: up to JOB_RECORDS
 * records packed in one buffer, so the queue is locked once per run, not
 * once per record.
 */
#define JOB_RECORDS 16
typedef struct job {
    uint64_t gb;      /* global batch number */
    int      slot;    /* first slot */
    int      count;
    uint64_t epoch, seq; /* seq of the first record */
    uint8_t *data;    /* the records, back to back */
    size_t   len, cap;
    size_t   off[JOB_RECORDS + 1];
    int      file[JOB_RECORDS];
    uint64_t rec[JOB_RECORDS]; /* offset of each record in its file (uncompressed) */
} job;

typedef struct bentry {
    uint64_t gb;
    int      in_use, closed, dropped;
    int      expected, filled;
    uint64_t epoch, index, seq_end;
    uint8_t *data;
    int32_t *labels;
    uint8_t *flips;
    uint8_t *valid;
} bentry;

typedef struct held {   /* a record in the shuffle buffer */
    uint8_t *data;
    size_t   len;
    int      file;
    uint64_t rec;
} held;

struct tfr_stream {
    tfr_stream_opts o;
    char          **files;
    size_t          nfiles;
    int64_t        *counts;      /* records per file, -1 unknown */
    tfr_record_index **indexes;  /* per file or NULL; kept when ranks split by ranges */
    int             W, H, C;
    size_t          img_bytes;   /* per image in the output format */
    size_t          tensor_max;  /* bytes a record's float tensor may decode to */
    int             in_float;    /* the records hold float tensors */

    pthread_mutex_t mu;
    pthread_cond_t  job_cv, space_cv, batch_cv, gate_cv;
    int             waiting;     /* on_demand: the consumer is in tfr_stream_next */
    job            *q;
    size_t          qcap, qhead, qcount;
    bentry         *ring;
    int             R;
    uint64_t        next_gb;     /* sequencer: next batch number to open */
    uint64_t        cur_gb;      /* consumer: next batch to return */
    int             seq_done;    /* sequencer finished every epoch */
    int             stop;
    tfr_status      fail;
    tfr_error       fail_err;

    pthread_t       seq_thread;
    pthread_t      *workers;
    int             nworkers, started;

    int             have_prev;
    int             taken;       /* the returned batch's data was taken */
    void           *spare[2];    /* taken buffers given back, for the next takes */
    int             nspare;
    uint64_t        prev_gb;
    tfr_batch       out;
    tfr_stream_state state;
    tfr_stream_stats stats;
    uint64_t        epoch_cap0;
};

/* stop and fail are written under s->mu but also polled without it */
static int halted(tfr_stream *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&s->fail, __ATOMIC_ACQUIRE);
}

static void set_fail(tfr_stream *s, const tfr_error *e)
{
    /* caller holds s->mu */
    if (!s->fail) {
        s->fail_err = *e;
        __atomic_store_n(&s->fail, e->code ? e->code : TFR_ERR_CORRUPT, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&s->batch_cv);
    pthread_cond_broadcast(&s->space_cv);
    pthread_cond_broadcast(&s->job_cv);
}

static void fail_with(tfr_stream *s, const tfr_error *e)
{
    pthread_mutex_lock(&s->mu);
    set_fail(s, e);
    pthread_mutex_unlock(&s->mu);
}

/* ---- sources ------------------------------------------------------------ */

/* The shard files (tfrecord/manifest.h) with their record counts where known. */
static tfr_status expand_sources(tfr_stream *s, tfr_error *err)
{
    tfr_shard_source *src = NULL;
    size_t n = 0;
    tfr_status st = tfr_shardset_expand(s->o.sources, s->o.nsources, &src, &n, err);
    if (st)
        return st;
    s->files = tfr_calloc(n, sizeof *s->files);
    s->counts = tfr_calloc(n, sizeof *s->counts);
    if (!s->files || !s->counts) {
        tfr_shardset_free(src, n);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        s->files[i] = src[i].path; /* taken over */
        s->counts[i] = src[i].records;
        src[i].path = NULL;
    }
    s->nfiles = n;
    tfr_shardset_free(src, n);
    return TFR_OK;
}

/* ---- decoding one record -------------------------------------------------- */

typedef struct wctx {
    tfr_example   *ex;
    tfr_image_ctx *img;
    tfr_image      a, b;
    float         *f, *g;    /* the stored tensor; the tensor at the output size */
    size_t         fcap, gcap; /* their capacities, in floats */
} wctx;

/* a * b * c, or SIZE_MAX when the product does not fit */
static size_t mul3_sat(size_t a, size_t b, size_t c)
{
    if (b && a > SIZE_MAX / b)
        return SIZE_MAX;
    size_t ab = a * b;
    if (c && ab > SIZE_MAX / c)
        return SIZE_MAX;
    return ab * c;
}

/* Grows *buf to hold n floats (kept when large enough). 0 ok, -1 no memory. */
static int reserve_f32(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    if (n > SIZE_MAX / sizeof(float))
        return -1;
    float *p = tfr_realloc(*buf, n * sizeof *p);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* The label of a record (int64 feature or scalar tensor), as an int32. */
static tfr_status get_label(const tfr_stream *s, const tfr_example *ex, int32_t *out, tfr_error *err)
{
    int64_t v;
    tfr_status st = tfr_layout_find_label(ex, s->o.label_key, &v, err);
    if (st)
        return st;
    if (s->o.num_classes > 0 && (v < 0 || v >= s->o.num_classes))
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "label %lld is not one of the %d classes (0..%d) the model has (--classes)",
                        (long long)v, s->o.num_classes, s->o.num_classes - 1);
    if (v < INT32_MIN || v > INT32_MAX)
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "label %lld does not fit in 32 bits",
                        (long long)v);
    *out = (int32_t)v;
    return TFR_OK;
}

/*
 * The image of a record into w->a (uint8) or, for float tensors, w->f with
 * *fw x *fh x *fc. Returns 1 for float, 0 for uint8, 2 for an encoded image
 * already cropped and resized to the output size (into w->b: the region
 * decoder reads only what the crop needs), -1 on error.
 */
static int get_image(tfr_stream *s, wctx *w, tfr_rng *r, int *fw, int *fh, int *fc,
                     tfr_error *err)
{
    tfr_layout_image li;
    if (tfr_layout_find_image(w->ex, s->o.image_key, &li, err))
        return -1;
    const uint8_t *p = li.data;
    size_t n = li.len;
    if (li.kind == TFR_PAYLOAD_ENCODED) {
        tfr_decode_opts d;
        tfr_decode_opts_init(&d);
        d.channels = s->C;
        d.max_pixels = s->o.max_pixels;
        tfr_image_info info;
        if (s->W > 0 && (s->o.center_crop > 0 || s->o.rrc_min_scale > 0) &&
            !tfr_image_probe(w->img, p, n, &info, NULL)) {
            /* the crop is drawn on the decoded (oriented) size */
            int iw = info.width, ih = info.height;
            if (info.orientation >= 5 && info.orientation <= 8) {
                iw = info.height;
                ih = info.width;
            }
            tfr_region g = s->o.center_crop > 0
                               ? tfr_augment_center_crop(iw, ih, s->o.center_crop)
                               : tfr_augment_random_resized_crop(iw, ih, s->o.rrc_min_scale, r);
            return tfr_image_decode_region(w->img, p, n, &d, g.x0, g.y0, g.w, g.h, s->W, s->H,
                                           &w->b, NULL, err) ? -1 : 2;
        }
        if (s->W && !s->o.center_crop && !s->o.rrc_min_scale) {
            d.min_w = s->W;
            d.min_h = s->H;
        }
        return tfr_image_decode(w->img, p, n, &d, &w->a, NULL, err) ? -1 : 0;
    }
    if (li.kind == TFR_PAYLOAD_RAW) {
        if ((uint64_t)li.width * (uint64_t)li.height > s->o.max_pixels) {
            tfr_fail(err, TFR_ERR_FORMAT, NULL, "%dx%d raw image is over the limit of %llu pixels",
                     li.width, li.height, (unsigned long long)s->o.max_pixels);
            return -1;
        }
        if (tfr_image_alloc(&w->a, li.width, li.height, s->C, err))
            return -1;
        size_t np = (size_t)li.height * li.width;
        if (li.channels == s->C)
            memcpy(w->a.px, p, n);
        else if (li.channels == 1)
            for (size_t i = 0; i < np; i++)
                w->a.px[i * 3] = w->a.px[i * 3 + 1] = w->a.px[i * 3 + 2] = p[i];
        else
            for (size_t i = 0; i < np; i++)
                w->a.px[i] = (uint8_t)((p[i * 3] * 299 + p[i * 3 + 1] * 587 + p[i * 3 + 2] * 114 + 500) / 1000);
        return 0;
    }
    /* a serialized float tensor (the homework layout), bounded before any
     * allocation so that a record cannot declare gigabytes per thread */
    tfr_tensor t;
    if (tfr_tensor_parse_bounded(p, n, TFR_DT_FLOAT, s->tensor_max, &t, err))
        return -1;
    if (t.rank != 3 || t.shape[0] < 1 || t.shape[1] < 1 || t.shape[0] > INT32_MAX ||
        t.shape[1] > INT32_MAX || (t.shape[2] != 1 && t.shape[2] != 3)) {
        tfr_tensor_clear(&t);
        tfr_fail(err, TFR_ERR_FORMAT, NULL,
                 "image tensor must be HxWxC with H, W >= 1 and C 1 or 3");
        return -1;
    }
    /* the parse bounded nbytes, so the element count cannot overflow */
    size_t cnt = t.nbytes / sizeof(float);
    if (reserve_f32(&w->f, &w->fcap, cnt)) {
        tfr_tensor_clear(&t);
        tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for a %zu-byte tensor", t.nbytes);
        return -1;
    }
    memcpy(w->f, t.data, t.nbytes);
    *fh = (int)t.shape[0];
    *fw = (int)t.shape[1];
    *fc = (int)t.shape[2];
    tfr_tensor_clear(&t);
    return 1;
}

/*
 * One record -> the batch slot (pixels, label, flip bit). Random choices,
 * in this order: pad-crop offsets or the random resized crop, then the flip.
 */
/* Random erasing: region g of the output image at dst set to the mean */
static void erase(const tfr_stream *s, tfr_region g, uint8_t *dst)
{
    const int W = s->W, H = s->H, C = s->C;
    const int x0 = (int)g.x0, y0 = (int)g.y0, x1 = x0 + (int)g.w, y1 = y0 + (int)g.h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            for (int c = 0; c < C; c++) {
                if (s->o.format == TFR_BATCH_U8_NHWC) {
                    float v = s->o.mean[c] * 255.0f + 0.5f;
                    dst[((size_t)y * W + x) * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                } else if (s->o.format == TFR_BATCH_F32_NCHW) {
                    ((float *)(void *)dst)[((size_t)c * H + y) * W + x] = 0.0f;
                } else {
                    ((float *)(void *)dst)[((size_t)y * W + x) * C + c] = 0.0f;
                }
            }
}

static tfr_status process(tfr_stream *s, wctx *w, const job *j, uint8_t *dst, int32_t *label,
                          uint8_t *flipped, tfr_error *err)
{
    /* the job's bytes outlive this record's processing: no copy of the image */
    tfr_status st = tfr_example_parse_view(w->ex, j->data, j->len, err);
    if (st)
        return st;
    if ((st = get_label(s, w->ex, label, err)))
        return st;
    int fw = 0, fh = 0, fc = 0;
    tfr_rng r = tfr_rng_for(s->o.seed, j->epoch, j->seq + 1);
    int kind = get_image(s, w, &r, &fw, &fh, &fc, err);
    if (kind < 0)
        return err ? err->code : TFR_ERR_FORMAT;
    const int W = s->W, H = s->H, C = s->C;
    const tfr_pixel_order order =
        s->o.format == TFR_BATCH_F32_NCHW ? TFR_ORDER_CHW : TFR_ORDER_HWC;
    if (kind == 1) {
        if (s->o.format == TFR_BATCH_U8_NHWC)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "the records hold float tensors: ask for a "
                                                    "float batch format");
        if (fc != C)
            return tfr_fail(err, TFR_ERR_FORMAT, NULL, "tensor has %d channels, %d wanted", fc, C);
        if (s->o.center_crop > 0 || s->o.rrc_min_scale > 0)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "crops that resize need decoded images, "
                                                    "not float tensors");
        const float *img = w->f;
        if (s->o.pad_crop > 0 || fw != W || fh != H) {
            /* the centred W x H window of the stored tensor (zeros where it
             * is smaller), shifted by the pad-crop offsets when asked; written
             * to w->g, which is sized for the output, not the stored tensor */
            int P = s->o.pad_crop, dx = 0, dy = 0;
            if (P)
                tfr_augment_pad_offsets(P, &r, &dx, &dy);
            dx += (fw - W) / 2;
            dy += (fh - H) / 2;
            if (reserve_f32(&w->g, &w->gcap, mul3_sat((size_t)W, (size_t)H, (size_t)C)))
                return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for a %dx%dx%d tensor",
                                H, W, C);
            tfr_augment_pad_crop(w->f, fw, fh, C, sizeof(float), P, dx, dy, w->g, W, H);
            img = w->g;
        }
        int flip = tfr_augment_flip_draw(s->o.random_flip, &r);
        *flipped = (uint8_t)flip;
        tfr_augment_copy_f32(img, W, H, C, flip && !s->o.defer_flip, order, (float *)(void *)dst);
        return TFR_OK;
    }
    tfr_image *im = kind == 2 ? &w->b : &w->a;
    if (kind == 2) {
        /* decoded, cropped and resized by get_image */
    } else if (s->o.center_crop > 0 || s->o.rrc_min_scale > 0) {
        tfr_region g = s->o.center_crop > 0
                           ? tfr_augment_center_crop(im->w, im->h, s->o.center_crop)
                           : tfr_augment_random_resized_crop(im->w, im->h, s->o.rrc_min_scale, &r);
        if ((st = tfr_image_resize_region(im, g.x0, g.y0, g.w, g.h, W, H, &w->b, err)))
            return st;
        im = &w->b;
    } else if (im->w != W || im->h != H) {
        if ((st = tfr_image_resize(im, W, H, TFR_RESIZE_STRETCH, &w->b, err)))
            return st;
        im = &w->b;
    }
    if (s->o.pad_crop > 0) {
        int P = s->o.pad_crop, dx, dy;
        tfr_augment_pad_offsets(P, &r, &dx, &dy);
        tfr_image *o = im == &w->b ? &w->a : &w->b;
        if ((st = tfr_image_alloc(o, W, H, C, err)))
            return st;
        tfr_augment_pad_crop(im->px, im->w, im->h, C, 1, P, dx, dy, o->px, W, H);
        im = o;
    }
    /* the flip is done while writing the output: one pass, no extra copy */
    const int flip = tfr_augment_flip_draw(s->o.random_flip, &r);
    *flipped = (uint8_t)flip;
    const int apply = flip && !s->o.defer_flip;
    if (s->o.format == TFR_BATCH_U8_NHWC)
        tfr_augment_copy_u8(im->px, W, H, C, apply, dst);
    else
        tfr_augment_normalize_u8(im->px, W, H, C, apply, s->o.mean, s->o.std, order,
                                 (float *)(void *)dst);
    if (s->o.random_erase > 0)
        erase(s, tfr_augment_erase_draw(W, H, s->o.random_erase, &r), dst);
    return TFR_OK;
}

/* ---- workers ------------------------------------------------------------ */

/* Under s->mu: batch b is complete. With on_demand the gate closes the
 * moment the consumer's batch is ready, so no thread takes more work while
 * the consumer computes. */
static void batch_ready(tfr_stream *s, const bentry *b)
{
    if (s->o.on_demand && b->gb == s->cur_gb)
        __atomic_store_n(&s->waiting, 0, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&s->batch_cv);
}

static void *worker_main(void *arg)
{
    tfr_stream *s = arg;
    wctx w;
    memset(&w, 0, sizeof w);
    tfr_error e;
    tfr_error_clear(&e);
    if (tfr_example_new(&w.ex, &e) || tfr_image_ctx_new(&w.img, &e)) {
        pthread_mutex_lock(&s->mu);
        set_fail(s, &e);
        pthread_mutex_unlock(&s->mu);
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while ((!s->qcount || (s->o.on_demand && !s->waiting)) && !s->stop)
            pthread_cond_wait(&s->job_cv, &s->mu);
        if (s->stop) { /* close frees what is left in the queue */
            pthread_mutex_unlock(&s->mu);
            break;
        }
        job j = s->q[s->qhead];
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qcount--;
        pthread_cond_signal(&s->space_cv);
        bentry *b = &s->ring[j.gb % (uint64_t)s->R];
        pthread_mutex_unlock(&s->mu);

        int skipped = 0, failed = 0;
        for (int k = 0; k < j.count; k++) {
            tfr_error_clear(&e);
            job one = j;
            one.seq = j.seq + (uint64_t)k;
            one.data = j.data ? j.data + j.off[k] : NULL; /* all empty: no buffer */
            one.len = j.off[k + 1] - j.off[k];
            int slot = j.slot + k;
            tfr_status st = halted(s) ? TFR_ERR_ARG
                                      : process(s, &w, &one, b->data + (size_t)slot * s->img_bytes,
                                                &b->labels[slot], &b->flips[slot], &e);
            b->valid[slot] = st == TFR_OK;
            if (st && !halted(s)) {
                /* only a record's own defects are skipped: never running out
                 * of memory or a request the records cannot meet */
                if (s->o.record.skip_corrupt && (st == TFR_ERR_CORRUPT || st == TFR_ERR_FORMAT)) {
                    skipped++;
                } else if (!failed) {
                    failed = 1;
                    snprintf(e.path, sizeof e.path, "%s", s->files[j.file[k]]);
                    e.offset = (long long)j.rec[k]; /* the record's offset in the file */
                    pthread_mutex_lock(&s->mu);
                    set_fail(s, &e);
                    pthread_mutex_unlock(&s->mu);
                }
            }
        }
        free(j.data);
        pthread_mutex_lock(&s->mu);
        s->stats.corrupt_skipped += (uint64_t)skipped;
        s->stats.records_decoded += (uint64_t)j.count;
        b->filled += j.count;
        if (b->closed && b->filled == b->expected)
            batch_ready(s, b);
        pthread_mutex_unlock(&s->mu);
    }
out:
    tfr_example_free(w.ex);
    tfr_image_ctx_free(w.img);
    tfr_image_free(&w.a);
    tfr_image_free(&w.b);
    free(w.f);
    free(w.g);
    return NULL;
}

/* ---- sequencer ---------------------------------------------------------- */

typedef struct seqstate {
    uint64_t epoch, seq, cap;
    int      slot;        /* next slot in the open batch */
    bentry  *open;
    uint64_t batch_index;
    job      pending;     /* records gathered for the next job */
} seqstate;

/* Queues the pending job (waits for room). 0, or -1 when stopping. */
static int flush_job(tfr_stream *s, seqstate *q)
{
    job *p = &q->pending;
    if (!p->count)
        return 0;
    pthread_mutex_lock(&s->mu);
    while (s->qcount == s->qcap && !s->stop && !s->fail)
        pthread_cond_wait(&s->space_cv, &s->mu);
    if (s->stop || s->fail) {
        pthread_mutex_unlock(&s->mu);
        free(p->data);
        memset(p, 0, sizeof *p);
        return -1;
    }
    s->q[(s->qhead + s->qcount) % s->qcap] = *p;
    s->qcount++;
    s->stats.records_read += (uint64_t)p->count;
    s->stats.bytes_read += p->len;
    pthread_cond_signal(&s->job_cv);
    pthread_mutex_unlock(&s->mu);
    memset(p, 0, sizeof *p);
    return 0;
}

/* Opens a new batch in the ring (waits for a free entry). 0, or -1 when stopping. */
static int open_batch(tfr_stream *s, seqstate *q)
{
    pthread_mutex_lock(&s->mu);
    bentry *b = &s->ring[s->next_gb % (uint64_t)s->R];
    while (b->in_use && !s->stop && !s->fail)
        pthread_cond_wait(&s->space_cv, &s->mu);
    if (s->stop || s->fail) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    b->gb = s->next_gb++;
    b->in_use = 1;
    b->closed = b->dropped = 0;
    b->expected = s->o.batch_size;
    b->filled = 0;
    b->epoch = q->epoch;
    b->index = q->batch_index++;
    pthread_mutex_unlock(&s->mu);
    q->open = b;
    q->slot = 0;
    return 0;
}

static void close_batch(tfr_stream *s, seqstate *q)
{
    if (!q->open)
        return;
    flush_job(s, q);
    pthread_mutex_lock(&s->mu);
    bentry *b = q->open;
    b->expected = q->slot;
    b->seq_end = q->seq;
    b->dropped = q->slot < s->o.batch_size && s->o.drop_remainder;
    b->closed = 1;
    if (b->filled == b->expected)
        batch_ready(s, b);
    pthread_mutex_unlock(&s->mu);
    q->open = NULL;
    q->slot = 0;
}

/* Hands one record (ownership of data) to the workers. 0, 1 = epoch cap reached, -1 stop. */
static int emit(tfr_stream *s, seqstate *q, held h, uint64_t skip)
{
    if (q->cap && q->seq >= q->cap) {
        free(h.data);
        return 1;
    }
    if (q->seq < skip) { /* resuming: these were consumed before */
        q->seq++;
        free(h.data);
        return 0;
    }
    if (!q->open && open_batch(s, q)) {
        free(h.data);
        return -1;
    }
    job *p = &q->pending;
    if (!p->count) {
        p->gb = q->open->gb;
        p->slot = q->slot;
        p->epoch = q->epoch;
        p->seq = q->seq;
        p->len = 0;
    }
    if (p->len + h.len > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        while (cap < p->len + h.len)
            cap *= 2;
        uint8_t *nd = tfr_realloc(p->data, cap);
        if (!nd) {
            free(h.data);
            tfr_error e;
            tfr_fail(&e, TFR_ERR_NOMEM, NULL, "out of memory for a %zu-byte job of records", cap);
            fail_with(s, &e);
            return -1;
        }
        p->data = nd;
        p->cap = cap;
    }
    if (h.len) /* an empty record (a bad Example, later) leaves data unset */
        memcpy(p->data + p->len, h.data, h.len);
    p->off[p->count] = p->len;
    p->len += h.len;
    p->file[p->count] = h.file;
    p->rec[p->count] = h.rec;
    p->count++;
    p->off[p->count] = p->len;
    free(h.data);
    q->seq++;
    q->slot++;
    if (q->slot == s->o.batch_size)
        close_batch(s, q);
    else if (p->count == JOB_RECORDS && flush_job(s, q))
        return -1;
    return 0;
}

static void on_skip(void *user, const tfr_error *e)
{
    tfr_stream *s = user;
    (void)e;
    pthread_mutex_lock(&s->mu);
    s->stats.corrupt_skipped++;
    pthread_mutex_unlock(&s->mu);
}


/* Reads the records in order (stream/order.c) and hands them to the workers. */
static void *sequencer_main(void *arg)
{
    tfr_stream *s = arg;
    const tfr_stream_opts *o = &s->o;
    tfr_error e;
    tfr_error_clear(&e);
    tfr_order_config oc = {
        .files = s->files, .counts = s->counts, .nfiles = s->nfiles, .seed = o->seed,
        .shuffle_files = o->shuffle_files, .interleave = o->interleave,
        .shuffle_buffer = o->shuffle_buffer, .rank = o->rank, .world = o->world,
        .split_records = o->split_records,
        .indexes = s->indexes,
        .record = o->record, .on_skip = on_skip, .user = s};
    tfr_order *ord = NULL;
    if (tfr_order_new(&oc, &ord, &e)) {
        fail_with(s, &e);
        goto out;
    }
    int stopping = 0;
    for (uint64_t epoch = o->start_epoch; !stopping && (o->epochs <= 0 || epoch < (uint64_t)o->epochs);
         epoch++) {
        seqstate q = {.epoch = epoch, .seq = 0, .cap = tfr_order_start_epoch(ord, epoch), .slot = 0};
        uint64_t skip = epoch == o->start_epoch ? o->skip_records : 0;
        for (;;) {
            if (o->on_demand && !__atomic_load_n(&s->waiting, __ATOMIC_ACQUIRE)) {
                pthread_mutex_lock(&s->mu);
                while (!s->waiting && !s->stop && !s->fail)
                    pthread_cond_wait(&s->gate_cv, &s->mu);
                pthread_mutex_unlock(&s->mu);
            }
            if (halted(s)) {
                stopping = 1;
                break;
            }
            tfr_order_record r;
            tfr_status st = tfr_order_next(ord, &r, &e);
            if (st == TFR_ERR_EOF)
                break;
            if (st) {
                fail_with(s, &e);
                stopping = 1;
                break;
            }
            held h = {r.data, r.len, r.file, r.rec};
            int rc = emit(s, &q, h, skip);
            if (rc < 0)
                stopping = 1;
            if (rc != 0)
                break; /* stopping, or the epoch cap is reached */
        }
        tfr_order_end_epoch(ord);
        if (!stopping)
            close_batch(s, &q);
        free(q.pending.data);
        q.pending.data = NULL;
        if (stopping && q.open) {
            pthread_mutex_lock(&s->mu);
            q.open->closed = 1;
            q.open->expected = q.slot;
            q.open->dropped = 1;
            pthread_mutex_unlock(&s->mu);
        }
    }
out:
    pthread_mutex_lock(&s->mu);
    s->seq_done = 1;
    pthread_cond_broadcast(&s->batch_cv);
    pthread_mutex_unlock(&s->mu);
    tfr_order_free(ord);
    return NULL;
}

/* ---- open / next / close -------------------------------------------------- */

/*
 * The most bytes a record's float tensor may decode to: TFR_STREAM_TENSOR_MAX_MULT
 * times the output image in float32, or TFR_STREAM_TENSOR_MIN_BYTES, whichever
 * is larger (only the floor before the size is known). Larger stored tensors
 * are TFR_ERR_FORMAT before anything is allocated.
 */
static size_t tensor_bound(int W, int H, int C)
{
    size_t out = mul3_sat((size_t)W, (size_t)H, (size_t)C);
    size_t b = mul3_sat(out, sizeof(float), TFR_STREAM_TENSOR_MAX_MULT);
    return b > TFR_STREAM_TENSOR_MIN_BYTES ? b : TFR_STREAM_TENSOR_MIN_BYTES;
}

/* The first record's image size, when the caller gave none. */
static tfr_status probe_size(tfr_stream *s, tfr_error *err)
{
    tfr_record_reader *r;
    tfr_status st = tfr_record_reader_open(s->files[0], &s->o.record, &r, err);
    if (st)
        return st;
    const uint8_t *d;
    size_t len;
    wctx w;
    memset(&w, 0, sizeof w);
    if ((st = tfr_record_reader_next(r, &d, &len, err))) {
        if (st == TFR_ERR_EOF)
            st = tfr_fail(err, TFR_ERR_FORMAT, s->files[0],
                          "first file is empty: give width and height");
        tfr_record_reader_close(r);
        return st;
    }
    if (!(st = tfr_example_new(&w.ex, err)) && !(st = tfr_image_ctx_new(&w.img, err)) &&
        !(st = tfr_example_parse(w.ex, d, len, err))) {
        int fw, fh, fc;
        int kind = get_image(s, &w, NULL, &fw, &fh, &fc, err); /* no size yet: no crop */
        if (kind < 0)
            st = err ? err->code : TFR_ERR_FORMAT;
        else if (kind == 1) {
            s->W = fw;
            s->H = fh;
            s->in_float = 1;
        } else {
            s->W = w.a.w;
            s->H = w.a.h;
        }
    }
    if (st && err && !err->path[0])
        snprintf(err->path, sizeof err->path, "%s", s->files[0]);
    tfr_example_free(w.ex);
    tfr_image_ctx_free(w.img);
    tfr_image_free(&w.a);
    tfr_image_free(&w.b);
    free(w.f);
    free(w.g);
    tfr_record_reader_close(r);
    return st;
}

/*
 * Record counts for the rank caps: from the manifest, else each shard's
 * index (no scan), else by reading the file. The indexes are kept when
 * there are fewer files than ranks (the ranks then split by record ranges);
 * an index of another file, or one the manifest disagrees with, is left
 * out with a warning.
 */
static tfr_status count_unknown(tfr_stream *s, tfr_error *err)
{
    const int keep = s->nfiles < (size_t)s->o.world || s->o.split_records;
    if (keep && !(s->indexes = tfr_calloc(s->nfiles, sizeof *s->indexes)))
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < s->nfiles; i++) {
        tfr_record_index *ix = NULL;
        tfr_error e;
        if (tfr_record_index_of(s->files[i], &ix, &e) != TFR_OK) {
            tfr_log(TFR_LOG_WARN, "%s: %s; reading the shard without it", e.path, e.msg);
        } else if (ix && s->counts[i] >= 0 &&
                   tfr_record_index_count(ix) != (uint64_t)s->counts[i]) {
            tfr_log(TFR_LOG_WARN, "%s: its index has %llu records, the manifest %lld; reading "
                    "the shard without it", s->files[i],
                    (unsigned long long)tfr_record_index_count(ix), (long long)s->counts[i]);
            tfr_record_index_free(ix);
            ix = NULL;
        }
        if (ix && s->counts[i] < 0)
            s->counts[i] = (int64_t)tfr_record_index_count(ix);
        if (keep)
            s->indexes[i] = ix;
        else
            tfr_record_index_free(ix);
        if (s->counts[i] >= 0)
            continue;
        tfr_record_reader *r;
        tfr_status st = tfr_record_reader_open(s->files[i], &s->o.record, &r, err);
        if (st)
            return st;
        const uint8_t *d;
        size_t len;
        int64_t n = 0;
        while ((st = tfr_record_reader_next(r, &d, &len, err)) == TFR_OK)
            n++;
        tfr_record_reader_close(r);
        if (st != TFR_ERR_EOF)
            return st;
        s->counts[i] = n;
    }
    return TFR_OK;
}

tfr_status tfr_stream_open(const tfr_stream_opts *opts, tfr_stream **out, tfr_error *err)
{
    *out = NULL;
    if (!opts || opts->nsources <= 0)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "stream: no sources");
    TFR_CHECK_OPTS(tfr_stream_opts, opts, err);
    TFR_CHECK_OPTS(tfr_reader_opts, &opts->record, err);
    if (opts->batch_size <= 0 || (opts->channels != 1 && opts->channels != 3) ||
        opts->world < 1 || opts->rank < 0 || opts->rank >= opts->world || opts->width < 0 ||
        opts->height < 0 || (opts->width > 0) != (opts->height > 0) || opts->pad_crop < 0 ||
        opts->rrc_min_scale < 0 || opts->rrc_min_scale > 1 || !(opts->center_crop >= 0) ||
        !(opts->random_erase >= 0) || opts->random_erase > 1 ||
        opts->center_crop > 1 || opts->max_pixels < 1 || opts->num_classes < 0 ||
        opts->split_records < 0 || opts->split_records > TFR_SPLIT_EXACT)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "stream: bad options (batch size, channels, "
                        "rank/world, split_records, size, crop, erase or max_pixels)");
    for (int k = 0; k < opts->channels; k++)
        if (!(opts->std[k] > 0))
            return tfr_fail(err, TFR_ERR_ARG, NULL, "stream: std must be > 0");
    tfr_stream *s = tfr_calloc(1, sizeof *s);
    if (!s)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    s->o = *opts;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->job_cv, NULL);
    pthread_cond_init(&s->space_cv, NULL);
    pthread_cond_init(&s->batch_cv, NULL);
    pthread_cond_init(&s->gate_cv, NULL);
    tfr_status st = expand_sources(s, err);
    if (st)
        goto fail;
    s->C = opts->channels;
    s->W = opts->width;
    s->H = opts->height;
    s->tensor_max = tensor_bound(s->W, s->H, s->C);
    if (!s->W && (st = probe_size(s, err)))
        goto fail;
    if ((uint64_t)s->W * (uint64_t)s->H > s->o.max_pixels) {
        st = tfr_fail(err, TFR_ERR_ARG, NULL, "stream: output size %dx%d is over the limit of "
                      "%llu pixels (max_pixels)", s->W, s->H, (unsigned long long)s->o.max_pixels);
        goto fail;
    }
    if (s->o.world > 1 && (st = count_unknown(s, err)))
        goto fail;
    size_t elem = s->o.format == TFR_BATCH_U8_NHWC ? 1 : sizeof(float);
    s->img_bytes = mul3_sat((size_t)s->W, (size_t)s->H, (size_t)s->C * elem);
    if (s->img_bytes == SIZE_MAX || s->img_bytes > SIZE_MAX / (size_t)opts->batch_size) {
        st = tfr_fail(err, TFR_ERR_ARG, NULL, "stream: %dx%d images in batches of %d do not fit "
                      "in memory", s->W, s->H, opts->batch_size);
        goto fail;
    }
    s->tensor_max = tensor_bound(s->W, s->H, s->C);
    int T = tfr_threads_or_default(opts->threads);
    s->nworkers = T;
    s->R = (opts->prefetch > 0 ? opts->prefetch : 1) + 2;
    s->ring = tfr_calloc((size_t)s->R, sizeof *s->ring);
    s->qcap = (size_t)T * 4 + 4;
    s->q = tfr_calloc(s->qcap, sizeof *s->q);
    s->workers = tfr_calloc((size_t)T, sizeof *s->workers);
    if (!s->ring || !s->q || !s->workers) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->R; i++) {
        bentry *b = &s->ring[i];
        b->data = tfr_malloc(s->img_bytes * (size_t)opts->batch_size);
        b->labels = tfr_malloc(sizeof(int32_t) * (size_t)opts->batch_size);
        b->flips = tfr_malloc((size_t)opts->batch_size);
        b->valid = tfr_malloc((size_t)opts->batch_size);
        if (!b->data || !b->labels || !b->flips || !b->valid) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for %d batches of %d images",
                          s->R, opts->batch_size);
            goto fail;
        }
    }
    s->state.seed = opts->seed;
    s->state.epoch = opts->start_epoch;
    s->state.records = opts->skip_records;
    s->cur_gb = 0;
    {
        uint64_t tot = 0;
        int known = 1;
        for (size_t i = 0; i < s->nfiles; i++) {
            if (s->counts[i] < 0)
                known = 0;
            else
                tot += (uint64_t)s->counts[i];
        }
        /* whole files per rank: the share is the smallest rank's, which
         * depends on the epoch's file order unless every file holds as
         * many records (then floor(files / world) files' worth) */
        const int file_mode =
            opts->world > 1 && s->nfiles >= (size_t)opts->world && !opts->split_records;
        for (size_t i = 1; file_mode && known && i < s->nfiles; i++)
            if (s->counts[i] != s->counts[0])
                known = 0;
        /* exact split: this rank's own share, floor or ceiling of tot / world */
        const uint64_t W = (uint64_t)opts->world, exact = tot / W + ((uint64_t)opts->rank < tot % W);
        s->epoch_cap0 = !known      ? 0
                        : file_mode ? s->nfiles / (size_t)opts->world * (uint64_t)s->counts[0]
                        : opts->world > 1 && opts->split_records == TFR_SPLIT_EXACT ? exact
                        : opts->world > 1 ? tot / W
                                          : tot;
    }
    for (int i = 0; i < T; i++)
        if (pthread_create(&s->workers[i], NULL, worker_main, s) == 0)
            s->started++;
    if (s->started < T || pthread_create(&s->seq_thread, NULL, sequencer_main, s) != 0) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "cannot start threads");
        goto fail;
    }
    s->started |= 1 << 30;
    *out = s;
    return TFR_OK;
fail:
    tfr_stream_close(s);
    return st;
}

tfr_status tfr_stream_next(tfr_stream *s, const tfr_batch **out, tfr_error *err)
{
    *out = NULL;
    double t0 = tfr_now();
    pthread_mutex_lock(&s->mu);
    if (s->have_prev) {
        s->ring[s->prev_gb % (uint64_t)s->R].in_use = 0;
        s->have_prev = 0;
        pthread_cond_broadcast(&s->space_cv);
    }
    s->taken = 0;
    for (;;) {
        if (s->fail) {
            if (err)
                *err = s->fail_err;
            tfr_status st = s->fail;
            __atomic_store_n(&s->waiting, 0, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&s->mu);
            return st;
        }
        bentry *b = &s->ring[s->cur_gb % (uint64_t)s->R];
        if (b->in_use && b->gb == s->cur_gb && b->closed && b->filled == b->expected) {
            int n = 0;
            for (int i = 0; i < b->expected; i++) {
                if (!b->valid[i])
                    continue;
                if (n != i) {
                    memmove(b->data + (size_t)n * s->img_bytes, b->data + (size_t)i * s->img_bytes,
                            s->img_bytes);
                    b->labels[n] = b->labels[i];
                    b->flips[n] = b->flips[i];
                }
                n++;
            }
            s->state.epoch = b->epoch;
            s->state.records = b->seq_end;
            s->cur_gb++;
            if (b->dropped || n == 0) {
                b->in_use = 0;
                pthread_cond_broadcast(&s->space_cv);
                continue;
            }
            s->out.n = n;
            s->out.h = s->H;
            s->out.w = s->W;
            s->out.c = s->C;
            s->out.format = s->o.format;
            s->out.data = b->data;
            s->out.labels = b->labels;
            s->out.flips = b->flips;
            s->out.epoch = b->epoch;
            s->out.index = b->index;
            s->have_prev = 1;
            s->prev_gb = b->gb;
            s->stats.batches++;
            s->stats.wait_seconds += tfr_now() - t0;
            __atomic_store_n(&s->waiting, 0, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&s->mu);
            *out = &s->out;
            return TFR_OK;
        }
        if (s->seq_done && s->cur_gb >= s->next_gb) {
            __atomic_store_n(&s->waiting, 0, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&s->mu);
            return TFR_ERR_EOF;
        }
        if (s->o.on_demand && !s->waiting) { /* open the gate while we wait */
            __atomic_store_n(&s->waiting, 1, __ATOMIC_RELEASE);
            pthread_cond_broadcast(&s->job_cv);
            pthread_cond_broadcast(&s->gate_cv);
        }
        pthread_cond_wait(&s->batch_cv, &s->mu);
    }
}

void *tfr_stream_take_data(tfr_stream *s)
{
    pthread_mutex_lock(&s->mu);
    void *got = NULL;
    if (s->have_prev && !s->taken) {
        /* the slot is the consumer's until the next call: no worker writes it */
        bentry *b = &s->ring[s->prev_gb % (uint64_t)s->R];
        uint8_t *fresh = s->nspare ? s->spare[--s->nspare]
                                   : tfr_malloc(s->img_bytes * (size_t)s->o.batch_size);
        if (fresh) {
            got = b->data;
            b->data = fresh;
            s->taken = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

void tfr_stream_free_data(void *data) { free(data); }

void tfr_stream_give_data(tfr_stream *s, void *data)
{
    if (!data)
        return;
    pthread_mutex_lock(&s->mu);
    int kept = s->nspare < (int)(sizeof s->spare / sizeof s->spare[0]);
    if (kept)
        s->spare[s->nspare++] = data;
    pthread_mutex_unlock(&s->mu);
    if (!kept)
        free(data);
}

void tfr_stream_get_state(const tfr_stream *s, tfr_stream_state *st)
{
    *st = s->state;
}

void tfr_stream_get_stats(const tfr_stream *s, tfr_stream_stats *st)
{
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    *st = s->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
}

uint64_t tfr_stream_epoch_records(const tfr_stream *s)
{
    return s->epoch_cap0;
}

void tfr_stream_close(tfr_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&s->job_cv);
    pthread_cond_broadcast(&s->space_cv);
    pthread_cond_broadcast(&s->batch_cv);
    pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started & (1 << 30))
        pthread_join(s->seq_thread, NULL);
    int nw = s->started & ~(1 << 30);
    for (int i = 0; i < nw; i++)
        pthread_join(s->workers[i], NULL);
    for (size_t i = 0; s->q && i < s->qcount; i++)
        free(s->q[(s->qhead + i) % s->qcap].data);
    for (int i = 0; i < s->nspare; i++)
        free(s->spare[i]);
    for (int i = 0; s->ring && i < s->R; i++) {
        free(s->ring[i].data);
        free(s->ring[i].labels);
        free(s->ring[i].flips);
        free(s->ring[i].valid);
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        free(s->files[i]);
        if (s->indexes)
            tfr_record_index_free(s->indexes[i]);
    }
    free(s->indexes);
    free(s->files);
    free(s->counts);
    free(s->ring);
    free(s->q);
    free(s->workers);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->job_cv);
    pthread_cond_destroy(&s->space_cv);
    pthread_cond_destroy(&s->batch_cv);
    pthread_cond_destroy(&s->gate_cv);
    free(s);
}
