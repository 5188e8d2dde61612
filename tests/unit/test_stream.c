/*
 * tests/unit/test_stream.c - the streaming reader: every record exactly once
 * per epoch for 1..8 threads, interleave 1..4 and world 1..3; same seed ->
 * same batches whatever the thread count; shuffle quality; exact resume;
 * augmentations against direct references; corrupt shards; equal batch
 * counts per rank; shutdown mid-epoch; options structs of a foreign size
 * refused; float tensors and uint8 images read at other sizes than stored
 * (larger, smaller, pad-crop; pixels where they belong); records declaring
 * huge tensors refused or skipped.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "util/alloc.h"
#include <png.h>

#include "tfrecord/dataset.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"

static char dir[600];
#define S 8 /* image side */

/* record id -> an 8x8x3 image that encodes the id in pixel 0 */
static void make_image(int id, uint8_t *px)
{
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            uint8_t *p = px + (y * S + x) * 3;
            p[0] = (uint8_t)(x * 30 + y);
            p[1] = (uint8_t)(y * 30 + x);
            p[2] = (uint8_t)(id * 7);
        }
    px[0] = (uint8_t)(id & 255);
    px[1] = (uint8_t)(id >> 8);
}

static int id_of(const uint8_t *px)
{
    return px[0] | (px[1] << 8);
}

/* write_set writes an index beside each file (seekable 4 KiB chunks) when set */
static int g_index;

/* files[f] holds counts[f] records; ids are consecutive; label = id % 10 */
static int write_set(const char *name, const int *counts, int nf, char paths[][700])
{
    tfr_error err;
    tfr_example_builder *b;
    tfr_example_builder_new(&b, &err);
    int id = 0;
    for (int f = 0; f < nf; f++) {
        snprintf(paths[f], 700, "%s/%s-%05d-of-%05d.tfrecord.gz", dir, name, f, nf);
        tfr_writer_opts o;
        tfr_writer_opts_init(&o);
        o.sync = 0;
        char ipath[720];
        if (g_index) {
            snprintf(ipath, sizeof ipath, "%s.index", paths[f]);
            o.index_path = ipath;
            o.seekable = 1;
            o.chunk_bytes = 4096;
        }
        tfr_record_writer *w;
        EXPECT_OK(tfr_record_writer_open(paths[f], &o, &w, &err), &err);
        for (int i = 0; i < counts[f]; i++, id++) {
            uint8_t px[S * S * 3];
            make_image(id, px);
            tfr_example_builder_reset(b);
            tfr_example_add_bytes(b, "image/raw", px, sizeof px, &err);
            tfr_example_add_int64(b, "image/height", S, &err);
            tfr_example_add_int64(b, "image/width", S, &err);
            tfr_example_add_int64(b, "image/channels", 3, &err);
            tfr_example_add_int64(b, "image/class/label", id / 24 % 10, &err); /* grouped classes */
            const uint8_t *d;
            size_t n;
            tfr_example_builder_serialize(b, &d, &n, &err);
            EXPECT_OK(tfr_record_writer_append(w, d, n, &err), &err);
        }
        EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
    }
    tfr_example_builder_free(b);
    return id;
}

typedef struct run_out {
    int      *ids;     /* in order */
    int      *labels;
    uint64_t *epochs;
    int       n;
    int       batches;
    tfr_status end;
    tfr_error  err;
} run_out;

static void base_opts(tfr_stream_opts *o, const char **src, int nsrc)
{
    tfr_stream_opts_init(o);
    o->sources = src;
    o->nsources = nsrc;
    o->batch_size = 16;
    o->seed = 42;
    o->shuffle_buffer = 64;
}

/* Runs the stream to the end (or max_batches) collecting ids. */
static run_out run(const tfr_stream_opts *o, int max_batches, tfr_stream_state *state)
{
    run_out r;
    memset(&r, 0, sizeof r);
    tfr_error_clear(&r.err);
    tfr_stream *s = NULL;
    r.end = tfr_stream_open(o, &s, &r.err);
    if (r.end)
        return r;
    int cap = 4096;
    r.ids = malloc(sizeof(int) * (size_t)cap);
    r.labels = malloc(sizeof(int) * (size_t)cap);
    r.epochs = malloc(sizeof(uint64_t) * (size_t)cap);
    const tfr_batch *b;
    while (max_batches < 0 || r.batches < max_batches) {
        r.end = tfr_stream_next(s, &b, &r.err);
        if (r.end)
            break;
        r.batches++;
        for (int i = 0; i < b->n && r.n < cap; i++) {
            const uint8_t *px = (const uint8_t *)b->data + (size_t)i * S * S * 3;
            r.ids[r.n] = id_of(px);
            r.labels[r.n] = b->labels[i];
            r.epochs[r.n] = b->epoch;
            r.n++;
        }
    }
    if (state)
        tfr_stream_get_state(s, state);
    tfr_stream_close(s);
    return r;
}

static void free_run(run_out *r)
{
    free(r->ids);
    free(r->labels);
    free(r->epochs);
}

/* every id in [0, total) exactly once per epoch over the given runs */
static void check_exactly_once(run_out *runs, int nruns, int total, int epochs, const char *what)
{
    int *seen = calloc((size_t)total * (size_t)epochs, sizeof *seen);
    for (int k = 0; k < nruns; k++)
        for (int i = 0; i < runs[k].n; i++) {
            int id = runs[k].ids[i];
            if (id < 0 || id >= total || runs[k].epochs[i] >= (uint64_t)epochs) {
                FAILF("%s: bad id %d / epoch %llu", what, id, (unsigned long long)runs[k].epochs[i]);
                continue;
            }
            if (runs[k].labels[i] != id / 24 % 10)
                FAILF("%s: id %d has label %d", what, id, runs[k].labels[i]);
            seen[runs[k].epochs[i] * (uint64_t)total + (uint64_t)id]++;
        }
    int bad = 0;
    for (int i = 0; i < total * epochs; i++)
        if (seen[i] != 1 && bad++ < 3)
            FAILF("%s: id %d of epoch %d seen %d times", what, i % total, i / total, seen[i]);
    free(seen);
}

/* tfrecord-write's three layouts read back through the stream */
static void test_layouts(void)
{
    char tree[700];
    snprintf(tree, sizeof tree, "%s/pngtree", dir);
    uint8_t imgs[12][S * S * 3];
    for (int i = 0; i < 12; i++) {
        make_image(i, imgs[i]);
        char d[800], p[900];
        snprintf(d, sizeof d, "%s/c%d", tree, i % 2);
        test_system("mkdir -p '%s'", d);
        snprintf(p, sizeof p, "%s/img%02d.png", d, i);
        png_image pi;
        memset(&pi, 0, sizeof pi);
        pi.version = PNG_IMAGE_VERSION;
        pi.width = S;
        pi.height = S;
        pi.format = PNG_FORMAT_RGB;
        png_image_write_to_file(&pi, p, 0, imgs[i], 0, NULL);
    }
    static const tfr_layout layouts[3] = {TFR_LAYOUT_RAW, TFR_LAYOUT_TENSOR, TFR_LAYOUT_JPEG};
    for (int li = 0; li < 3; li++) {
        char out[800];
        snprintf(out, sizeof out, "%s/layout%d", dir, li);
        tfr_write_opts wo;
        tfr_write_opts_init(&wo);
        const char *roots[1] = {tree};
        wo.roots = roots;
        wo.nroots = 1;
        wo.out_dir = out;
        wo.layout = layouts[li];
        wo.progress = 0;
        if (layouts[li] == TFR_LAYOUT_TENSOR)
            wo.normalize = TFR_NORM_RESCALE;
        tfr_write_report *rep;
        tfr_error err;
        EXPECT_OK(tfr_write_dataset(&wo, &rep, &err), &err);
        tfr_write_report_free(rep);
        char man[900];
        snprintf(man, sizeof man, "%s/manifest.json", out);
        const char *src[1] = {man};
        tfr_stream_opts o;
        tfr_stream_opts_init(&o);
        o.sources = src;
        o.nsources = 1;
        o.batch_size = 12;
        o.format = layouts[li] == TFR_LAYOUT_TENSOR ? TFR_BATCH_F32_NHWC : TFR_BATCH_U8_NHWC;
        tfr_stream *s;
        const tfr_batch *b;
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        if (!s)
            continue;
        EXPECT_EQ_U(tfr_stream_epoch_records(s), 12); /* from the manifest */
        EXPECT_OK(tfr_stream_next(s, &b, &err), &err);
        int matched = 0;
        for (int i = 0; b && i < b->n; i++) {
            /* find the source image this sample came from */
            int best = -1;
            double bestd = 1e9;
            for (int k = 0; k < 12; k++) {
                double d = 0;
                for (int j = 0; j < S * S * 3; j++) {
                    double v = o.format == TFR_BATCH_U8_NHWC
                                   ? ((const uint8_t *)b->data)[(size_t)i * S * S * 3 + j]
                                   : ((const float *)b->data)[(size_t)i * S * S * 3 + j] * 255.0;
                    double dv = fabs(v - imgs[k][j]);
                    d = dv > d ? dv : d;
                }
                if (d < bestd) {
                    bestd = d;
                    best = k;
                }
            }
            double tol = layouts[li] == TFR_LAYOUT_JPEG ? 40 : 1e-3;
            if (best >= 0 && bestd <= tol && b->labels[i] == best % 2)
                matched++;
        }
        EXPECT_EQ_I(matched, 12);
        tfr_stream_close(s);
    }
}

/* ---- tensor layout at another size than stored ----------------------------- */

#define TS 12 /* stored tensor side */

/* record id's float tensor: unique, exact values; 0 is never a pixel */
static float tensor_px(int id, int y, int x, int c)
{
    return (float)((id + 1) * 10000 + y * 100 + x) + 0.25f * (float)c;
}

/* one TFRecord of the tensor layout: img = float HxWxC tensor, label = uint8 scalar */
static void append_tensor_record(tfr_example_builder *b, tfr_record_writer *w, const uint8_t *img,
                                 size_t img_len, int label)
{
    tfr_error err;
    uint8_t lab = (uint8_t)label, *ld = NULL;
    size_t ll = 0;
    EXPECT_OK(tfr_tensor_serialize(TFR_DT_UINT8, 0, NULL, &lab, &ld, &ll, &err), &err);
    tfr_example_builder_reset(b);
    tfr_example_add_bytes(b, "img", img, img_len, &err);
    tfr_example_add_bytes(b, "label", ld, ll, &err);
    const uint8_t *d;
    size_t n;
    EXPECT_OK(tfr_example_builder_serialize(b, &d, &n, &err), &err);
    EXPECT_OK(tfr_record_writer_append(w, d, n, &err), &err);
    free(ld);
}

/*
 * A TensorProto{float, shape [100000, 100000, 3], 4 bytes of content}: 120 GB
 * declared in a 30-byte record.
 */
static size_t huge_tensor(uint8_t *buf)
{
    static const uint8_t shape[] = {
        0x12, 4, 0x08, 0xa0, 0x8d, 0x06, /* dim { size: 100000 } (varint a0 8d 06) */
        0x12, 4, 0x08, 0xa0, 0x8d, 0x06, /* dim { size: 100000 } */
        0x12, 2, 0x08, 3,                /* dim { size: 3 } */
    };
    size_t n = 0;
    buf[n++] = 0x08; /* dtype: */
    buf[n++] = 1;    /* DT_FLOAT */
    buf[n++] = 0x12; /* tensor_shape */
    buf[n++] = (uint8_t)sizeof shape;
    memcpy(buf + n, shape, sizeof shape);
    n += sizeof shape;
    buf[n++] = 0x22; /* tensor_content */
    buf[n++] = 4;
    memset(buf + n, 0, 4);
    return n + 4;
}

/* count tensor records of TS x TS x 3; huge_at >= 0 puts a crafted one there */
static void write_tensor_set(const char *path, int count, int huge_at, size_t *huge_off)
{
    tfr_error err;
    tfr_example_builder *b;
    EXPECT_OK(tfr_example_builder_new(&b, &err), &err);
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.sync = 0;
    o.compression = TFR_COMPRESS_NONE; /* so that offsets are file offsets */
    tfr_record_writer *w;
    EXPECT_OK(tfr_record_writer_open(path, &o, &w, &err), &err);
    static float px[TS * TS * 3];
    const int64_t shape[3] = {TS, TS, 3};
    for (int id = 0; id < count; id++) {
        uint8_t *t = NULL, craft[64];
        size_t tl;
        if (id == huge_at) {
            tl = huge_tensor(craft);
            t = craft;
            *huge_off = (size_t)tfr_record_writer_bytes(w);
        } else {
            for (int y = 0; y < TS; y++)
                for (int x = 0; x < TS; x++)
                    for (int c = 0; c < 3; c++)
                        px[(y * TS + x) * 3 + c] = tensor_px(id, y, x, c);
            EXPECT_OK(tfr_tensor_serialize(TFR_DT_FLOAT, 3, shape, px, &t, &tl, &err), &err);
        }
        append_tensor_record(b, w, t, tl, id % 5);
        if (t != craft)
            free(t);
    }
    EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
    tfr_example_builder_free(b);
}

/*
 * Tensors stored at TS x TS read at W x H: the output is the centred window
 * (zeros where the tensor is smaller), shifted by the pad-crop offsets, in
 * the batch's order. The window's shift is found from the first pixel that
 * falls inside the tensor and every pixel is checked against it.
 */
static void check_tensor_sizes(const char *path)
{
    static const int sizes[][2] = {{16, 16}, {40, 40}, {8, 8}, {20, 10}, {TS, TS}};
    static const tfr_batch_format fmts[2] = {TFR_BATCH_F32_NHWC, TFR_BATCH_F32_NCHW};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int fi = 0; fi < 2; fi++)
            for (int P = 0; P <= 3; P += 3) {
                const int W = sizes[si][0], H = sizes[si][1];
                char what[96];
                snprintf(what, sizeof what, "tensor %dx%d -> %dx%d %s pad %d", TS, TS, W, H,
                         fi ? "nchw" : "nhwc", P);
                const char *src[1] = {path};
                tfr_stream_opts o;
                base_opts(&o, src, 1);
                o.width = W;
                o.height = H;
                o.format = fmts[fi];
                o.pad_crop = P;
                o.threads = 2;
                o.batch_size = 5;
                tfr_stream *s = NULL;
                tfr_error err;
                EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
                if (!s)
                    continue;
                const tfr_batch *b;
                tfr_status st;
                int seen = 0, bad = 0, shifts = 0, lastx = 1 << 20;
                while ((st = tfr_stream_next(s, &b, &err)) == TFR_OK) {
                    EXPECT(b->w == W && b->h == H && b->c == 3);
                    for (int i = 0; i < b->n; i++, seen++) {
                        const float *im = (const float *)b->data + (size_t)i * W * H * 3;
                        /* index of (y, x, c) in the batch layout */
#define AT(y, x, c) (fi ? ((size_t)(c) * H + (y)) * W + (x) : ((size_t)(y) * W + (x)) * 3 + (c))
                        int ox = 0, oy = 0, id = -1;
                        for (int y = 0; y < H && id < 0; y++)
                            for (int x = 0; x < W && id < 0; x++) {
                                float v = im[AT(y, x, 0)];
                                if (v != 0) {
                                    int iv = (int)v;
                                    id = iv / 10000 - 1;
                                    oy = iv % 10000 / 100 - y;
                                    ox = iv % 100 - x;
                                }
                            }
                        /* the centred window, moved by at most P either way */
                        int cx = (TS - W) / 2, cy = (TS - H) / 2;
                        if (id < 0 || id >= 20 || b->labels[i] != id % 5 || ox < cx - P ||
                            ox > cx + P || oy < cy - P || oy > cy + P) {
                            if (!bad++)
                                FAILF("%s: image %d: id %d, label %d, shift (%d, %d) not "
                                      "near (%d, %d)", what, seen, id, b->labels[i], ox, oy, cx, cy);
                            continue;
                        }
                        if (ox != lastx)
                            shifts++;
                        lastx = ox;
                        for (int y = 0; y < H; y++)
                            for (int x = 0; x < W; x++)
                                for (int c = 0; c < 3; c++) {
                                    int sy = y + oy, sx = x + ox;
                                    float want = sy >= 0 && sy < TS && sx >= 0 && sx < TS
                                                     ? tensor_px(id, sy, sx, c)
                                                     : 0.0f;
                                    float got = im[AT(y, x, c)];
                                    if (got != want && !bad++)
                                        FAILF("%s: image %d (id %d) at (%d, %d, %d): %g, want %g",
                                              what, seen, id, y, x, c, (double)got, (double)want);
                                }
#undef AT
                    }
                }
                EXPECT_STATUS(st, TFR_ERR_EOF);
                EXPECT_EQ_I(seen, 20);
                if (P)
                    EXPECT(shifts > 1); /* the offsets are drawn, not fixed */
                tfr_stream_close(s);
            }
}

/* a record declaring a huge tensor: refused with file and offset, or skipped and counted */
static void check_huge_tensor(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/huge-00000-of-00001.tfrecord", dir);
    size_t off = 0;
    write_tensor_set(path, 20, 7, &off);
    EXPECT(off > 0);
    const char *src[1] = {path};
    for (int sized = 0; sized < 2; sized++) {
        tfr_stream_opts o;
        base_opts(&o, src, 1);
        o.format = TFR_BATCH_F32_NHWC;
        o.threads = 2;
        o.batch_size = 4;
        o.width = o.height = sized ? 16 : 0; /* 0: the size comes from record 0 */
        tfr_stream *s = NULL;
        tfr_error err;
        tfr_error_clear(&err);
        const tfr_batch *b;
        tfr_status st = tfr_stream_open(&o, &s, &err);
        EXPECT_OK(st, &err);
        while (s && (st = tfr_stream_next(s, &b, &err)) == TFR_OK)
            ;
        EXPECT_STATUS(st, TFR_ERR_FORMAT);
        EXPECT_CONTAINS(err.path, "huge-00000");
        EXPECT_EQ_I(err.offset, (long long)off);
        EXPECT_CONTAINS(err.msg, "larger than");
        tfr_stream_close(s);

        o.record.skip_corrupt = 1;
        s = NULL;
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        int got = 0;
        while (s && (st = tfr_stream_next(s, &b, &err)) == TFR_OK) {
            EXPECT(b->w == (sized ? 16 : TS) && b->h == b->w);
            got += b->n;
        }
        EXPECT_STATUS(st, TFR_ERR_EOF);
        EXPECT_EQ_I(got, 19);
        if (s) {
            tfr_stream_stats stats;
            tfr_stream_get_stats(s, &stats);
            EXPECT_EQ_U(stats.corrupt_skipped, 1);
        }
        tfr_stream_close(s);
    }
    /* the same record first: the size probe refuses it too, naming the file */
    char first[700];
    snprintf(first, sizeof first, "%s/hugefirst-00000-of-00001.tfrecord", dir);
    write_tensor_set(first, 3, 0, &off);
    src[0] = first;
    tfr_stream_opts o;
    base_opts(&o, src, 1);
    o.format = TFR_BATCH_F32_NHWC;
    tfr_stream *s = NULL;
    tfr_error err;
    EXPECT_STATUS(tfr_stream_open(&o, &s, &err), TFR_ERR_FORMAT);
    EXPECT(s == NULL);
    EXPECT_CONTAINS(err.path, "hugefirst-00000");
    EXPECT_CONTAINS(err.msg, "larger than");
}

/* uint8 records of S x S read at other sizes, with and without pad-crop */
static void check_u8_sizes(const char *const *src, int nsrc)
{
    static const int sizes[][2] = {{16, 16}, {40, 24}, {5, 5}, {S, S}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int fmt = 0; fmt < 2; fmt++)
            for (int P = 0; P <= 3; P += 3) {
                tfr_stream_opts o;
                base_opts(&o, (const char **)src, nsrc);
                o.width = sizes[si][0];
                o.height = sizes[si][1];
                o.format = fmt ? TFR_BATCH_F32_NCHW : TFR_BATCH_U8_NHWC;
                o.pad_crop = P;
                o.threads = 2;
                tfr_stream *s = NULL;
                tfr_error err;
                EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
                const tfr_batch *b;
                tfr_status st = TFR_ERR_EOF;
                int got = 0;
                while (s && (st = tfr_stream_next(s, &b, &err)) == TFR_OK) {
                    EXPECT(b->w == o.width && b->h == o.height && b->c == 3);
                    got += b->n;
                }
                EXPECT_STATUS(st, TFR_ERR_EOF);
                EXPECT_EQ_I(got, 90);
                tfr_stream_close(s);
            }
}

/*
 * defer_flip: the same flip bits as an applied flip (the CPU path), and the
 * same pixels once the consumer mirrors them (what the GPU path does).
 */
static void test_deferred_flips(const char **src, int nsrc)
{
    const tfr_batch_format fmts[2] = {TFR_BATCH_U8_NHWC, TFR_BATCH_F32_NCHW};
    for (int fi = 0; fi < 2; fi++) {
        tfr_stream *sa = NULL, *sd = NULL;
        tfr_stream_opts oa, od;
        base_opts(&oa, src, nsrc);
        oa.random_flip = 1;
        oa.pad_crop = 1;
        oa.format = fmts[fi];
        oa.threads = 2;
        od = oa;
        od.defer_flip = 1;
        od.threads = 3;
        tfr_error err;
        EXPECT_OK(tfr_stream_open(&oa, &sa, &err), &err);
        EXPECT_OK(tfr_stream_open(&od, &sd, &err), &err);
        if (!sa || !sd) {
            tfr_stream_close(sa);
            tfr_stream_close(sd);
            return;
        }
        int flipped = 0, kept = 0, mismatches = 0;
        const tfr_batch *a, *d;
        while (tfr_stream_next(sa, &a, &err) == TFR_OK) {
            EXPECT_OK(tfr_stream_next(sd, &d, &err), &err);
            if (d->n != a->n)
                FAILF("batch %llu: %d images, deferred %d", (unsigned long long)a->index, a->n,
                      d->n);
            size_t el = fmts[fi] == TFR_BATCH_U8_NHWC ? 1 : sizeof(float);
            size_t img = (size_t)S * S * 3 * el;
            for (int i = 0; i < a->n && i < d->n; i++) {
                if (a->flips[i] != d->flips[i] || a->labels[i] != d->labels[i]) {
                    mismatches++;
                    continue;
                }
                a->flips[i] ? flipped++ : kept++;
                const uint8_t *pa = (const uint8_t *)a->data + i * img;
                const uint8_t *pd = (const uint8_t *)d->data + i * img;
                /* mirror the deferred image and compare pixel by pixel */
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++)
                        for (int k = 0; k < 3; k++) {
                            int sx = d->flips[i] ? S - 1 - x : x;
                            size_t ia, id;
                            if (fmts[fi] == TFR_BATCH_U8_NHWC) {
                                ia = (size_t)(y * S + x) * 3 + k;
                                id = (size_t)(y * S + sx) * 3 + k;
                            } else {
                                ia = (size_t)(k * S + y) * S + x;
                                id = (size_t)(k * S + y) * S + sx;
                            }
                            if (memcmp(pa + ia * el, pd + id * el, el))
                                mismatches++;
                        }
            }
        }
        EXPECT_STATUS(tfr_stream_next(sd, &d, &err), TFR_ERR_EOF);
        if (mismatches)
            FAILF("format %d: %d differences between applied and deferred flips", fi, mismatches);
        if (flipped < 20 || kept < 20)
            FAILF("format %d: %d images flipped, %d kept: the flip is not random", fi, flipped,
                  kept);
        tfr_stream_close(sa);
        tfr_stream_close(sd);
    }
}

/* how many of n taken buffers differ from their copies; frees both */
static int kept_changed(uint8_t **kept, uint8_t **copy, const size_t *bytes, int n)
{
    int changed = 0;
    for (int i = 0; i < n; i++) {
        changed += memcmp(kept[i], copy[i], bytes[i]) != 0;
        tfr_stream_free_data(kept[i]);
        free(copy[i]);
    }
    return changed;
}

/*
 * tfr_stream_take_data: the taken pixels are the batch's and stay as they
 * were while the stream goes on (every slot of the ring taken several
 * times over: 15 batches, a ring of a few); the batches after a take equal
 * those of a stream nothing was taken from; a second take, or one before
 * any batch, gives NULL.
 */
static void test_take_data(const char **src, int nsrc)
{
    tfr_stream_opts o;
    base_opts(&o, src, nsrc);
    o.threads = 3;
    o.epochs = 2;
    o.random_flip = 1;
    tfr_stream *a = NULL, *b = NULL;
    tfr_error e;
    EXPECT_OK(tfr_stream_open(&o, &a, &e), &e);
    EXPECT_OK(tfr_stream_open(&o, &b, &e), &e);
    if (!a || !b) {
        tfr_stream_close(a);
        tfr_stream_close(b);
        return;
    }
    EXPECT(tfr_stream_take_data(a) == NULL);
    enum { MAXB = 64 };
    uint8_t *kept[MAXB], *copy[MAXB];
    size_t bytes[MAXB];
    int nb = 0;
    const tfr_batch *x, *y;
    while (nb < MAXB && tfr_stream_next(a, &x, &e) == TFR_OK) {
        EXPECT_OK(tfr_stream_next(b, &y, &e), &e);
        bytes[nb] = (size_t)x->n * x->h * x->w * x->c;
        EXPECT(y && y->n == x->n && !memcmp(x->data, y->data, bytes[nb]));
        kept[nb] = tfr_stream_take_data(a);
        EXPECT(kept[nb] == x->data);
        EXPECT(tfr_stream_take_data(a) == NULL); /* once */
        copy[nb] = malloc(bytes[nb]);
        memcpy(copy[nb], kept[nb], bytes[nb]);
        nb++;
    }
    EXPECT_STATUS(tfr_stream_next(b, &y, &e), TFR_ERR_EOF);
    EXPECT(nb > 10);
    int changed = kept_changed(kept, copy, bytes, nb);
    if (changed)
        FAILF("take_data: %d of %d taken batches changed while the stream went on", changed, nb);
    tfr_stream_close(a);
    tfr_stream_close(b);
}

/*
 * tfr_stream_give_data: buffers given back are filled again for later
 * batches instead of new ones (one allocation fewer per batch than taking
 * and freeing: tfr_alloc_count over a whole run); the batches still equal
 * those of a stream nothing was taken from, and taken buffers that were not
 * given back stay as they were.
 */
static uint64_t give_run(const tfr_stream_opts *o, int give, int keep_every, int *nbatches)
{
    tfr_stream *a = NULL, *b = NULL;
    tfr_error e;
    tfr_alloc_fail_at(0); /* counts from here */
    EXPECT_OK(tfr_stream_open(o, &a, &e), &e);
    EXPECT_OK(tfr_stream_open(o, &b, &e), &e);
    if (!a || !b) {
        tfr_stream_close(a);
        tfr_stream_close(b);
        return 0;
    }
    enum { MAXB = 64 };
    uint8_t *kept[MAXB], *copy[MAXB];
    size_t bytes[MAXB];
    int nk = 0, nb = 0;
    const tfr_batch *x, *y;
    while (tfr_stream_next(a, &x, &e) == TFR_OK) {
        EXPECT_OK(tfr_stream_next(b, &y, &e), &e);
        size_t n = (size_t)x->n * x->h * x->w * x->c;
        EXPECT(y && y->n == x->n && !memcmp(x->data, y->data, n));
        uint8_t *t = tfr_stream_take_data(a);
        EXPECT(t == x->data);
        if (keep_every && nb % keep_every == 0 && nk < MAXB) {
            kept[nk] = t;
            bytes[nk] = n;
            copy[nk] = malloc(n);
            memcpy(copy[nk++], t, n);
        } else if (give) {
            tfr_stream_give_data(a, t);
        } else {
            tfr_stream_free_data(t);
        }
        nb++;
    }
    EXPECT_STATUS(tfr_stream_next(b, &y, &e), TFR_ERR_EOF);
    tfr_stream_close(a);
    tfr_stream_close(b);
    uint64_t allocs = tfr_alloc_count();
    int changed = kept_changed(kept, copy, bytes, nk);
    if (changed)
        FAILF("give_data: %d of %d kept batches changed", changed, nk);
    *nbatches = nb;
    return allocs;
}

static void test_give_data(const char **src, int nsrc)
{
    tfr_stream_opts o;
    base_opts(&o, src, nsrc);
    o.threads = 1; /* the same allocations in every run */
    o.epochs = 2;
    o.random_flip = 1;
    int nf = 0, ng = 0, nk = 0;
    uint64_t freed = give_run(&o, 0, 0, &nf), given = give_run(&o, 1, 0, &ng);
    EXPECT(nf > 10 && ng == nf);
    if (freed - given < (uint64_t)nf - 2)
        FAILF("give_data: %llu allocations taking and freeing, %llu giving back, over %d batches",
              (unsigned long long)freed, (unsigned long long)given, nf);
    o.threads = 3;
    give_run(&o, 1, 3, &nk); /* some kept, the rest given back */
    EXPECT_EQ_I(nk, nf);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", test_tmpdir("stream"));
    char p6[6][700], p2[2][700], pu[3][700];
    int c6[6] = {40, 40, 40, 40, 40, 40};
    int total = write_set("even", c6, 6, p6);
    const char *src6[1];
    char glob6[700];
    snprintf(glob6, sizeof glob6, "%s/even-*", dir);
    src6[0] = glob6;
    test_deferred_flips(src6, 1);
    test_take_data(src6, 1);
    test_give_data(src6, 1);

    /* exactly once per epoch: threads x interleave x world */
    int threads[] = {1, 2, 8}, inter[] = {1, 2, 4};
    for (int ti = 0; ti < 3; ti++)
        for (int ii = 0; ii < 3; ii++)
            for (int world = 1; world <= 3; world++) {
                run_out runs[3];
                for (int rank = 0; rank < world; rank++) {
                    tfr_stream_opts o;
                    base_opts(&o, src6, 1);
                    o.threads = threads[ti];
                    o.interleave = inter[ii];
                    o.epochs = 2;
                    o.world = world;
                    o.rank = rank;
                    runs[rank] = run(&o, -1, NULL);
                    EXPECT_STATUS(runs[rank].end, TFR_ERR_EOF);
                }
                char what[64];
                snprintf(what, sizeof what, "t%d i%d w%d", threads[ti], inter[ii], world);
                check_exactly_once(runs, world, total, 2, what);
                for (int rank = 0; rank < world; rank++) {
                    if (runs[rank].batches != runs[0].batches)
                        FAILF("%s: rank %d has %d batches, rank 0 %d", what, rank,
                              runs[rank].batches, runs[0].batches);
                    free_run(&runs[rank]);
                }
            }

    /* whole files per rank or split_records: 3 files x 40, world 2. Whole
     * files stop both ranks at the smaller share (one file, 40 a rank);
     * split_records gives each 60, every record exactly once */
    {
        char p3[3][700];
        int c3[3] = {40, 40, 40};
        int total3 = write_set("three", c3, 3, p3);
        const char *src[3] = {p3[0], p3[1], p3[2]};
        for (int split = 0; split <= 1; split++) {
            run_out runs[2];
            for (int rank = 0; rank < 2; rank++) {
                tfr_stream_opts o;
                base_opts(&o, src, 3);
                o.world = 2;
                o.rank = rank;
                o.epochs = 2;
                o.split_records = split;
                tfr_stream *st = NULL;
                tfr_error e;
                EXPECT_OK(tfr_stream_open(&o, &st, &e), &e);
                if (st)
                    EXPECT_EQ_U(tfr_stream_epoch_records(st), split ? 60u : 40u);
                tfr_stream_close(st);
                runs[rank] = run(&o, -1, NULL);
                EXPECT_STATUS(runs[rank].end, TFR_ERR_EOF);
                EXPECT_EQ_I(runs[rank].n, split ? 120 : 80);
            }
            if (split)
                check_exactly_once(runs, 2, total3, 2, "split_records w2");
            for (int rank = 0; rank < 2; rank++)
                free_run(&runs[rank]);
        }
        /* unequal files, whole files per rank: the share follows each
         * epoch's file order, so the count is not known ahead */
        char q3[3][700];
        int u3[3] = {50, 30, 20};
        write_set("uneq", u3, 3, q3);
        const char *usrc[3] = {q3[0], q3[1], q3[2]};
        tfr_stream_opts o;
        base_opts(&o, usrc, 3);
        o.world = 2;
        tfr_stream *st = NULL;
        tfr_error e;
        EXPECT_OK(tfr_stream_open(&o, &st, &e), &e);
        if (st)
            EXPECT_EQ_U(tfr_stream_epoch_records(st), 0u);
        tfr_stream_close(st);
    }

    /* the exact split (evaluation across ranks): 119 records in 3 files,
     * 2 and 3 ranks, read every-world-th-record (no index) and by ranges
     * (indexed): every record exactly once, each rank tot / world plus one
     * for the first tot % world, and epoch_records says each rank's own */
    for (int indexed = 0; indexed <= 1; indexed++) {
        char px[3][700];
        int cx[3] = {41, 40, 38};
        g_index = indexed;
        int totx = write_set(indexed ? "exacti" : "exact", cx, 3, px);
        g_index = 0;
        const char *src[3] = {px[0], px[1], px[2]};
        for (int world = 2; world <= 3; world++) {
            run_out runs[3];
            for (int rank = 0; rank < world; rank++) {
                tfr_stream_opts o;
                base_opts(&o, src, 3);
                o.world = world;
                o.rank = rank;
                o.epochs = 2;
                o.threads = 2;
                o.split_records = TFR_SPLIT_EXACT;
                const int want = totx / world + (rank < totx % world);
                tfr_stream *st = NULL;
                tfr_error e;
                EXPECT_OK(tfr_stream_open(&o, &st, &e), &e);
                if (st)
                    EXPECT_EQ_U(tfr_stream_epoch_records(st), (uint64_t)want);
                tfr_stream_close(st);
                runs[rank] = run(&o, -1, NULL);
                EXPECT_STATUS(runs[rank].end, TFR_ERR_EOF);
                EXPECT_EQ_I(runs[rank].n, 2 * want);
            }
            char what[64];
            snprintf(what, sizeof what, "exact split w%d%s", world, indexed ? " indexed" : "");
            check_exactly_once(runs, world, totx, 2, what);
            for (int rank = 0; rank < world; rank++)
                free_run(&runs[rank]);
        }
    }
    {
        tfr_stream_opts o;
        base_opts(&o, src6, 1);
        o.split_records = 3;
        tfr_stream *st = NULL;
        tfr_error e;
        EXPECT_STATUS(tfr_stream_open(&o, &st, &e), TFR_ERR_ARG);
        EXPECT(strstr(e.msg, "split_records") != NULL);
    }

    /* record-mode rank split (fewer files than ranks): 2 files x 45 */
    int c2[2] = {45, 45};
    int total2 = write_set("two", c2, 2, p2);
    {
        const char *src[2] = {p2[0], p2[1]};
        run_out runs[3];
        for (int rank = 0; rank < 3; rank++) {
            tfr_stream_opts o;
            base_opts(&o, src, 2);
            o.world = 3;
            o.rank = rank;
            o.threads = 2;
            runs[rank] = run(&o, -1, NULL);
        }
        check_exactly_once(runs, 3, total2, 1, "record mode w3");
        for (int rank = 0; rank < 3; rank++)
            free_run(&runs[rank]);
    }
    /* range split (fewer files than ranks, every file indexed): 2 files x 150
     * cut into equal record ranges of the epoch's file order */
    char pr[2][700], p1[1][700];
    int cr[2] = {150, 150}, c1[1] = {300};
    g_index = 1;
    int totalr = write_set("ranged", cr, 2, pr);
    write_set("one", c1, 1, p1);
    g_index = 0;
    for (int world = 3; world <= 4; world++) {
        const char *src[2] = {pr[0], pr[1]};
        run_out runs[4];
        for (int rank = 0; rank < world; rank++) {
            tfr_stream_opts o;
            base_opts(&o, src, 2);
            o.world = world;
            o.rank = rank;
            o.threads = 2;
            o.epochs = 2;
            runs[rank] = run(&o, -1, NULL);
            EXPECT_STATUS(runs[rank].end, TFR_ERR_EOF);
            EXPECT_EQ_I(runs[rank].n, 2 * totalr / world);
        }
        check_exactly_once(runs, world, totalr, 2, world == 3 ? "range mode w3" : "range mode w4");
        for (int rank = 0; rank < world; rank++)
            free_run(&runs[rank]);
    }
    {
        /* each rank reads only its range: damage in rank 0's part of one
         * shard fails rank 0, naming the file, and no other rank */
        size_t n;
        uint8_t *b = test_read_file(p1[0], &n);
        for (size_t k = n / 6; b && k < n / 6 + 32; k++)
            b[k] ^= 0xa5;
        EXPECT(b && test_write_file(p1[0], b, n) == 0);
        free(b);
        const char *src[1] = {p1[0]};
        for (int rank = 0; rank < 3; rank++) {
            tfr_stream_opts o;
            base_opts(&o, src, 1);
            o.world = 3;
            o.rank = rank;
            run_out r = run(&o, -1, NULL);
            if (rank == 0) {
                EXPECT_STATUS(r.end, TFR_ERR_CORRUPT);
                EXPECT_CONTAINS(r.err.path, "one-00000");
            } else {
                EXPECT_STATUS(r.end, TFR_ERR_EOF);
                EXPECT_EQ_I(r.n, 100);
            }
            free_run(&r);
        }
        /* an index of another file is left out (a warning) and the ranks take
         * every world-th record, each exactly once */
        char ip[720], ip2[720];
        snprintf(ip, sizeof ip, "%s.index", pr[0]);
        snprintf(ip2, sizeof ip2, "%s.index", pr[1]);
        uint8_t *ib = test_read_file(ip, &n);
        EXPECT(ib && test_write_file(ip2, ib, n) == 0); /* (the two differ in size) */
        free(ib);
        const char *src2[2] = {pr[0], pr[1]};
        run_out runs[3];
        for (int rank = 0; rank < 3; rank++) {
            tfr_stream_opts o;
            base_opts(&o, src2, 2);
            o.world = 3;
            o.rank = rank;
            runs[rank] = run(&o, -1, NULL);
            EXPECT_STATUS(runs[rank].end, TFR_ERR_EOF);
        }
        check_exactly_once(runs, 3, totalr, 1, "stale index w3");
        for (int rank = 0; rank < 3; rank++)
            free_run(&runs[rank]);
    }
    /* uneven files: every rank gets the same number of records, no duplicates */
    int cu[3] = {50, 10, 30};
    write_set("uneven", cu, 3, pu);
    {
        const char *src[3] = {pu[0], pu[1], pu[2]};
        run_out runs[2];
        int seen[90] = {0};
        for (int rank = 0; rank < 2; rank++) {
            tfr_stream_opts o;
            base_opts(&o, src, 3);
            o.world = 2;
            o.rank = rank;
            runs[rank] = run(&o, -1, NULL);
            for (int i = 0; i < runs[rank].n; i++)
                if (runs[rank].ids[i] >= 0 && runs[rank].ids[i] < 90)
                    seen[runs[rank].ids[i]]++;
        }
        EXPECT_EQ_I(runs[0].n, runs[1].n);
        EXPECT_EQ_I(runs[0].batches, runs[1].batches);
        EXPECT(runs[0].n > 0);
        for (int i = 0; i < 90; i++)
            EXPECT(seen[i] <= 1);
        free_run(&runs[0]);
        free_run(&runs[1]);
    }

    /* determinism: same seed, any thread count -> same stream; other seed differs */
    {
        tfr_stream_opts o;
        base_opts(&o, src6, 1);
        o.threads = 1;
        o.random_flip = 1;
        o.pad_crop = 1;
        o.format = TFR_BATCH_U8_NHWC;
        o.epochs = 2;
        run_out a = run(&o, -1, NULL);
        o.threads = 8;
        run_out b = run(&o, -1, NULL);
        EXPECT(a.n == b.n && !memcmp(a.ids, b.ids, sizeof(int) * (size_t)a.n));
        o.seed = 43;
        run_out c = run(&o, -1, NULL);
        EXPECT(a.n == c.n && memcmp(a.ids, c.ids, sizeof(int) * (size_t)a.n));
        /* epoch 1 order differs from epoch 0 */
        EXPECT(memcmp(a.ids, a.ids + total, sizeof(int) * (size_t)total));
        free_run(&a);
        free_run(&b);
        free_run(&c);
    }

    /*
     * on_demand: the same stream, batch for batch; and while the consumer
     * holds a batch (is not in tfr_stream_next) nothing more is read: the
     * decode threads and the compute threads take turns.
     */
    {
        tfr_stream_opts o;
        base_opts(&o, src6, 1);
        o.threads = 2;
        o.random_flip = 1;
        o.format = TFR_BATCH_U8_NHWC;
        o.epochs = 2;
        run_out a = run(&o, -1, NULL);
        o.on_demand = 1;
        run_out b = run(&o, -1, NULL);
        EXPECT_STATUS(b.end, TFR_ERR_EOF);
        EXPECT(a.n == b.n && a.batches == b.batches &&
               !memcmp(a.ids, b.ids, sizeof(int) * (size_t)a.n) &&
               !memcmp(a.labels, b.labels, sizeof(int) * (size_t)a.n));
        free_run(&a);
        free_run(&b);
        /* one decode thread, batches of 4 jobs: it stops the moment a batch
         * is complete, with jobs of the next batch queued */
        o.threads = 1;
        o.batch_size = 64;
        tfr_stream *st = NULL;
        tfr_error err;
        EXPECT_OK(tfr_stream_open(&o, &st, &err), &err);
        const tfr_batch *bt;
        uint64_t seen[3];
        for (int k = 0; st && k < 3; k++) {
            EXPECT_OK(tfr_stream_next(st, &bt, &err), &err);
            /* a job taken before the gate closed may still finish */
            struct timespec ts = {0, 30 * 1000 * 1000};
            nanosleep(&ts, NULL);
            tfr_stream_stats ss;
            tfr_stream_get_stats(st, &ss);
            seen[0] = ss.records_decoded;
            nanosleep(&ts, NULL);
            nanosleep(&ts, NULL);
            tfr_stream_get_stats(st, &ss);
            seen[1] = ss.records_decoded;
            EXPECT_EQ_I((int)seen[0], (int)seen[1]);
            /* no prefetch: exactly the batches returned (without the gate the
             * queued jobs of the next ones decode too) */
            EXPECT_EQ_I((int)seen[1], (k + 1) * 64);
        }
        tfr_stream_close(st);
    }

    /* shuffle quality: Spearman rho of output position vs id ~ 0; class mix */
    {
        tfr_stream_opts o;
        base_opts(&o, src6, 1);
        o.shuffle_buffer = 1000;
        run_out a = run(&o, -1, NULL);
        double n = a.n, d2 = 0;
        for (int i = 0; i < a.n; i++)
            d2 += (double)(i - a.ids[i]) * (i - a.ids[i]);
        double rho = 1 - 6 * d2 / (n * (n * n - 1));
        EXPECT(fabs(rho) < 0.2);
        int cls[10] = {0};
        for (int i = 0; i < 64; i++)
            cls[a.labels[i]]++;
        int distinct = 0, maxc = 0;
        for (int k = 0; k < 10; k++) {
            distinct += cls[k] > 0;
            maxc = cls[k] > maxc ? cls[k] : maxc;
        }
        EXPECT(distinct >= 7 && maxc <= 20); /* each class is 10% of the data */
        free_run(&a);
        /* no shuffle at all: file order exactly (rho = 1) */
        o.shuffle_buffer = 1;
        o.shuffle_files = 0;
        o.interleave = 1;
        a = run(&o, -1, NULL);
        int in_order = a.n == total;
        for (int i = 0; i < a.n; i++)
            in_order &= a.ids[i] == i;
        EXPECT(in_order);
        free_run(&a);
    }

    /* resume: stop after 7 batches, reopen from the state -> the same rest */
    {
        tfr_stream_opts o;
        base_opts(&o, src6, 1);
        o.epochs = 3;
        o.random_flip = 1;
        run_out full = run(&o, -1, NULL);
        for (int stop_at = 7; stop_at <= 32; stop_at += 25) {
            tfr_stream_state st;
            run_out head = run(&o, stop_at, &st);
            EXPECT_EQ_U(st.seed, 42);
            tfr_stream_opts o2 = o;
            o2.start_epoch = st.epoch;
            o2.skip_records = st.records;
            run_out tail = run(&o2, -1, NULL);
            EXPECT_EQ_I(head.n + tail.n, full.n);
            EXPECT(!memcmp(full.ids, head.ids, sizeof(int) * (size_t)head.n));
            EXPECT(!memcmp(full.ids + head.n, tail.ids, sizeof(int) * (size_t)tail.n));
            free_run(&head);
            free_run(&tail);
        }
        free_run(&full);
    }

    /* augmentations against direct references */
    {
        const char *src[1] = {p6[0]};
        tfr_stream_opts o;
        base_opts(&o, src, 1);
        o.random_flip = 1;
        o.batch_size = 40;
        tfr_stream *s;
        tfr_error err;
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        const tfr_batch *b;
        int flipped = 0, plain = 0;
        if (s && !tfr_stream_next(s, &b, &err)) {
            for (int i = 0; i < b->n; i++) {
                const uint8_t *px = (const uint8_t *)b->data + (size_t)i * S * S * 3;
                /* the id pixel is at x=0 (plain) or x=7 (mirrored) */
                int id_plain = px[0] | (px[1] << 8);
                int id_flip = px[7 * 3] | (px[7 * 3 + 1] << 8);
                uint8_t ref[S * S * 3], mir[S * S * 3];
                if (id_plain < 40) {
                    make_image(id_plain, ref);
                    if (!memcmp(ref, px, sizeof ref))
                        plain++;
                }
                if (id_flip < 40) {
                    make_image(id_flip, ref);
                    for (int y = 0; y < S; y++)
                        for (int x = 0; x < S; x++)
                            memcpy(mir + (y * S + x) * 3, ref + (y * S + S - 1 - x) * 3, 3);
                    if (!memcmp(mir, px, sizeof mir))
                        flipped++;
                }
            }
            EXPECT_EQ_I(plain + flipped, 40);
            EXPECT(plain > 5 && flipped > 5);
        }
        tfr_stream_close(s);

        /* pad-and-crop: a shifted copy with zeros, shift within [-P, P] */
        o.random_flip = 0;
        o.pad_crop = 2;
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        int shifted_ok = 0;
        if (s && !tfr_stream_next(s, &b, &err)) {
            for (int i = 0; i < b->n; i++) {
                const uint8_t *px = (const uint8_t *)b->data + (size_t)i * S * S * 3;
                int match = 0;
                for (int id = 0; id < 40 && !match; id++) {
                    uint8_t ref[S * S * 3];
                    make_image(id, ref);
                    for (int dy = -2; dy <= 2 && !match; dy++)
                        for (int dx = -2; dx <= 2 && !match; dx++) {
                            int ok = 1;
                            for (int y = 0; y < S && ok; y++)
                                for (int x = 0; x < S && ok; x++) {
                                    int sx = x + dx, sy = y + dy;
                                    const uint8_t *q = px + (y * S + x) * 3;
                                    if (sx < 0 || sy < 0 || sx >= S || sy >= S)
                                        ok = !q[0] && !q[1] && !q[2];
                                    else
                                        ok = !memcmp(q, ref + (sy * S + sx) * 3, 3);
                                }
                            match = ok;
                        }
                }
                shifted_ok += match;
            }
            EXPECT_EQ_I(shifted_ok, b->n);
        }
        tfr_stream_close(s);

        /* center crop 0.5 of 8x8 into 4x4: exactly the middle 4x4 */
        o.pad_crop = 0;
        o.center_crop = 0.5f;
        o.width = o.height = 4;
        o.shuffle_buffer = 1;
        o.shuffle_files = 0;
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        if (s && !tfr_stream_next(s, &b, &err)) {
            uint8_t ref[S * S * 3];
            make_image(0, ref);
            const uint8_t *px = b->data;
            int ok = b->w == 4 && b->h == 4;
            for (int y = 0; y < 4 && ok; y++)
                ok = !memcmp(px + y * 4 * 3, ref + ((y + 2) * S + 2) * 3, 12);
            EXPECT(ok);
        }
        tfr_stream_close(s);

        /* float NHWC and NCHW: (x/255 - mean) / std */
        o.center_crop = 0;
        o.width = o.height = 0;
        o.mean[0] = 0.5f; o.mean[1] = 0.25f; o.mean[2] = 0.0f;
        o.std[0] = 0.5f; o.std[1] = 2.0f; o.std[2] = 1.0f;
        for (int fmt = 1; fmt <= 2; fmt++) {
            o.format = (tfr_batch_format)fmt;
            EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
            if (s && !tfr_stream_next(s, &b, &err)) {
                uint8_t ref[S * S * 3];
                make_image(1, ref); /* second record in file order */
                const float *f = (const float *)b->data + S * S * 3;
                double maxd = 0;
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++)
                        for (int k = 0; k < 3; k++) {
                            double want = (ref[(y * S + x) * 3 + k] / 255.0 - o.mean[k]) / o.std[k];
                            double got = fmt == TFR_BATCH_F32_NHWC ? f[(y * S + x) * 3 + k]
                                                                   : f[(k * S + y) * S + x];
                            maxd = fabs(got - want) > maxd ? fabs(got - want) : maxd;
                        }
                EXPECT(maxd < 1e-6);
            }
            tfr_stream_close(s);
        }
    }

    /* corrupt shard: error with the file by default; skipped and counted on request */
    {
        size_t n;
        uint8_t *d = test_read_file(p6[3], &n);
        char bad[700];
        snprintf(bad, sizeof bad, "%s/bad-00000-of-00001.tfrecord", dir);
        /* a plain copy of the records, then one flipped data byte in record 5 */
        tfr_record_reader *r;
        tfr_error err;
        tfr_record_reader_open(p6[3], NULL, &r, &err);
        tfr_writer_opts wo;
        tfr_writer_opts_init(&wo);
        wo.compression = TFR_COMPRESS_NONE;
        wo.sync = 0;
        tfr_record_writer *w;
        tfr_record_writer_open(bad, &wo, &w, &err);
        const uint8_t *rec;
        size_t len;
        size_t off5 = 0, pos = 0;
        for (int i = 0; !tfr_record_reader_next(r, &rec, &len, &err); i++) {
            if (i == 5)
                off5 = pos;
            tfr_record_writer_append(w, rec, len, &err);
            pos += len + 16;
        }
        tfr_record_reader_close(r);
        tfr_record_writer_close(w, NULL, &err);
        free(d);
        d = test_read_file(bad, &n);
        d[off5 + 20] ^= 0x40;
        test_write_file(bad, d, n);
        free(d);
        const char *src[1] = {bad};
        tfr_stream_opts o;
        base_opts(&o, src, 1);
        run_out a = run(&o, -1, NULL);
        EXPECT_STATUS(a.end, TFR_ERR_CORRUPT);
        EXPECT_CONTAINS(a.err.path, "bad-00000");
        EXPECT_CONTAINS(a.err.msg, "CRC");
        free_run(&a);
        o.record.skip_corrupt = 1;
        tfr_stream *s;
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        int got = 0;
        const tfr_batch *b;
        tfr_status st;
        while (s && (st = tfr_stream_next(s, &b, &err)) == TFR_OK)
            got += b->n;
        tfr_stream_stats stats;
        if (s) {
            tfr_stream_get_stats(s, &stats);
            EXPECT_EQ_I(got, 39);
            EXPECT_EQ_U(stats.corrupt_skipped, 1);
        }
        tfr_stream_close(s);
    }

    /* shutdown mid-epoch, with everything in flight (checked by ASan/LSan) */
    {
        tfr_stream_opts o;
        base_opts(&o, src6, 1);
        o.epochs = 0; /* forever */
        o.batch_size = 4;
        o.threads = 4;
        run_out a = run(&o, 3, NULL);
        EXPECT_EQ_I(a.batches, 3);
        free_run(&a);
        /* bad options are refused */
        tfr_stream *s;
        tfr_error err;
        o.rank = 3;
        o.world = 2;
        EXPECT_STATUS(tfr_stream_open(&o, &s, &err), TFR_ERR_ARG);
        /* options of another size, or reader options not made by _init */
        base_opts(&o, src6, 1);
        EXPECT_EQ_U(o.struct_size, sizeof o);
        EXPECT_EQ_U(o.record.struct_size, sizeof o.record);
        o.struct_size = sizeof o + 8;
        EXPECT_STATUS(tfr_stream_open(&o, &s, &err), TFR_ERR_ARG);
        EXPECT(s == NULL);
        EXPECT_CONTAINS(err.msg, "tfr_stream_opts: options struct of");
        EXPECT_CONTAINS(err.msg, "rebuild against its headers");
        o.struct_size = sizeof o;
        o.record.struct_size = sizeof o.record - 8;
        EXPECT_STATUS(tfr_stream_open(&o, &s, &err), TFR_ERR_ARG);
        EXPECT(s == NULL);
        EXPECT_CONTAINS(err.msg, "tfr_reader_opts: options struct of");
        tfr_reader_opts_init(&o.record);
        EXPECT_OK(tfr_stream_open(&o, &s, &err), &err);
        tfr_stream_close(s);
        const char *none[1] = {"/nonexistent/shards-*"};
        base_opts(&o, none, 1);
        EXPECT_STATUS(tfr_stream_open(&o, &s, &err), TFR_ERR_IO);
    }
    test_layouts();

    /* tensors stored at one size, read at others; records declaring huge tensors */
    {
        char tp[700];
        snprintf(tp, sizeof tp, "%s/tensor-00000-of-00001.tfrecord", dir);
        size_t unused = 0;
        write_tensor_set(tp, 20, -1, &unused);
        check_tensor_sizes(tp);
        check_huge_tensor();
        const char *src2[2] = {p2[0], p2[1]};
        check_u8_sizes(src2, 2);
    }
    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
