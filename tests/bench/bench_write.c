/*
 * tests/bench/bench_write.c - tfrecord-write throughput against baselines
 * measured in the same run:
 *  (a) Fashion-MNIST JPEG tree, jpeg layout pass-through: images/s for 1 and
 *      2 threads, beside (i) reading the files + framing + GZIP on one thread
 *      (the floor of pass-through) and (ii) libjpeg-turbo decoding the files
 *      alone on one thread;
 *  (b) large photos resized to 224x224 (jpeg layout, re-encoded): beside decode (same DCT
 *      scaling) + resize alone on one thread.
 *
 *   bench_write [N_FMNIST] [N_PHOTOS]    (defaults 20000 and 150)
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "testutil.h"
#include "tfrecord/dataset.h"
#include "tfrecord/image.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

typedef struct flist {
    char **p;
    int    n;
} flist;

static void flist_free(flist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->p[i]);
    free(l->p);
}

static void collect(const char *dir, flist *l)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".jpg")) {
            l->p = realloc(l->p, (size_t)(l->n + 1) * sizeof *l->p);
            l->p[l->n++] = strdup(p);
        } else {
            collect(p, l);
        }
    }
    closedir(d);
}

static double run_writer_engine(const char *root, const char *out, int threads,
                                tfr_layout layout, int size, int channels, const char *engine,
                                uint64_t *raw, uint64_t *file)
{
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    const char *roots[1] = {root};
    o.roots = roots;
    o.nroots = 1;
    o.out_dir = out;
    o.threads = threads;
    o.layout = layout;
    o.width = o.height = size;
    o.channels = channels;
    o.progress = 0;
    o.force = 1;
    o.shards = 1;
    o.record.engine = engine;
    tfr_write_report *r;
    tfr_error err;
    double t0 = tfr_now();
    if (tfr_write_dataset(&o, &r, &err)) {
        fprintf(stderr, "write: %s\n", err.msg);
        exit(1);
    }
    double t = tfr_now() - t0;
    *raw = r->raw_bytes;
    *file = r->file_bytes;
    tfr_write_report_free(r);
    return t;
}

static double run_writer(const char *root, const char *out, int threads, tfr_layout layout,
                         int size, int channels, uint64_t *raw, uint64_t *file)
{
    return run_writer_engine(root, out, threads, layout, size, channels, NULL, raw, file);
}

static double med3(double *v)
{
    double a = v[0], b = v[1], c = v[2];
    return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

/* read + frame + GZIP, one thread: the floor of the pass-through path */
static double read_compress(const flist *l, const char *out)
{
    double t0 = tfr_now();
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.chunk_bytes = 0;
    tfr_record_writer *w;
    tfr_error err;
    tfr_record_writer_open(out, &o, &w, &err);
    for (int i = 0; i < l->n; i++) {
        size_t n;
        uint8_t *b = test_read_file(l->p[i], &n);
        tfr_record_writer_append(w, b, n, &err);
        free(b);
    }
    tfr_record_writer_close(w, NULL, &err);
    return tfr_now() - t0;
}

/* libjpeg-turbo alone, one thread, full decode */
static double decode_only(const flist *l, int channels)
{
    tjhandle h = tjInitDecompress();
    uint8_t *px = NULL;
    size_t cap = 0;
    double t0 = tfr_now();
    for (int i = 0; i < l->n; i++) {
        size_t n;
        uint8_t *b = test_read_file(l->p[i], &n);
        int w, hh, ss, cs;
        tjDecompressHeader3(h, b, (unsigned long)n, &w, &hh, &ss, &cs);
        size_t need = (size_t)w * hh * 3;
        if (need > cap)
            px = realloc(px, cap = need);
        tjDecompress2(h, b, (unsigned long)n, px, w, 0, hh, channels == 1 ? TJPF_GRAY : TJPF_RGB, 0);
        free(b);
    }
    double t = tfr_now() - t0;
    free(px);
    tjDestroy(h);
    return t;
}

/* the library's decode (DCT scaling) + resize, one thread */
static double decode_resize(const flist *l, int size)
{
    tfr_image_ctx *ctx;
    tfr_error err;
    tfr_image_ctx_new(&ctx, &err);
    tfr_image a = {0}, r = {0};
    tfr_decode_opts d;
    tfr_decode_opts_init(&d);
    d.min_w = d.min_h = size;
    double t0 = tfr_now();
    for (int i = 0; i < l->n; i++) {
        size_t n;
        uint8_t *b = test_read_file(l->p[i], &n);
        tfr_image_decode(ctx, b, n, &d, &a, NULL, &err);
        tfr_image_resize(&a, size, size, TFR_RESIZE_STRETCH, &r, &err);
        free(b);
    }
    double t = tfr_now() - t0;
    tfr_image_free(&a);
    tfr_image_free(&r);
    tfr_image_ctx_free(ctx);
    return t;
}

static void make_photos(const char *dir, int n)
{
    tjhandle h = tjInitCompress();
    int w = 1600, hh = 1200;
    uint8_t *px = malloc((size_t)w * hh * 3);
    uint64_t s = 9;
    for (int i = 0; i < n; i++) {
        char d[1024], p[1200];
        snprintf(d, sizeof d, "%s/class%d", dir, i % 5);
        test_system("mkdir -p '%s'", d);
        int fx = 1 + (int)(test_rand(&s) % 7), fy = 1 + (int)(test_rand(&s) % 5);
        for (int y = 0; y < hh; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *q = px + ((size_t)y * w + x) * 3;
                uint64_t r = test_rand(&s);
                /* smooth shapes plus a little sensor noise, like a photo */
                int cx = x - w / 2, cy = y - hh / 2;
                int ring = ((cx * cx + cy * cy) / (2000 * fx)) & 1;
                q[0] = (uint8_t)((x * fx / 14 + ring * 60 + (r & 3)) & 255);
                q[1] = (uint8_t)((y * fy / 10 + ((r >> 8) & 3)) & 255);
                q[2] = (uint8_t)(((x + y) / 18 + ring * 90 + ((r >> 16) & 3)) & 255);
            }
        unsigned char *j = NULL;
        unsigned long jn = 0;
        tjCompress2(h, px, w, 0, hh, TJPF_RGB, &j, &jn, TJSAMP_420, 90, 0);
        snprintf(p, sizeof p, "%s/img%04d.jpg", d, i);
        test_write_file(p, j, jn);
        tjFree(j);
    }
    free(px);
    tjDestroy(h);
}

int main(int argc, char **argv)
{
    int nf = argc > 1 ? atoi(argv[1]) : 20000;
    int np = argc > 2 ? atoi(argv[2]) : 150;
    char base[600];
    snprintf(base, sizeof base, "%s", test_tmpdir("bench-write"));
    char tree[700], out[700], tmp[700];
    snprintf(tree, sizeof tree, "%s/fm", base);
    snprintf(out, sizeof out, "%s/out", base);
    snprintf(tmp, sizeof tmp, "%s/floor.tfrecord.gz", base);
    uint64_t raw, file;
    if (test_system("'%s/fashion-mnist-tree' --limit %d '%s' > /dev/null", TFR_BIN_DIR, nf, tree)) {
        printf("bench_write fmnist skipped: fashion-mnist-tree failed (is dataset-fashion-mnist "
               "installed?)\n");
    } else {
        char train[800];
        snprintf(train, sizeof train, "%s/train", tree);
        flist l = {0};
        collect(train, &l);
        read_compress(&l, tmp); /* warm the cache */
        double t_floor = read_compress(&l, tmp);
        double t_dec = decode_only(&l, 1);
        double t1 = run_writer(train, out, 1, TFR_LAYOUT_JPEG, 0, 1, &raw, &file);
        double t2 = run_writer(train, out, 2, TFR_LAYOUT_JPEG, 0, 1, &raw, &file);
        printf("bench_write fmnist  images=%d gzip level 6  1 thread %.0f img/s  2 threads %.0f "
               "img/s (x%.2f)  read+gzip floor %.0f img/s (ours/floor time %.2f)  decode-only %.0f "
               "img/s  records %.1f MB -> %.1f MB (saved %.0f%%)\n",
               l.n, l.n / t1, l.n / t2, t1 / t2, l.n / t_floor, t1 / t_floor, l.n / t_dec,
               raw / 1e6, file / 1e6, 100.0 * (1 - (double)file / (double)raw));
        flist_free(&l);
    }

    char photos[700];
    snprintf(photos, sizeof photos, "%s/photos", base);
    make_photos(photos, np);
    flist lp = {0};
    collect(photos, &lp);
    decode_resize(&lp, 224); /* warm */
    double t_dr = decode_resize(&lp, 224);
    double t_full = decode_only(&lp, 3);
    /* medians of 3, the baseline measured between the writer's runs */
    double p1v[3], p2v[3], pav[3], drv[3];
    for (int k = 0; k < 3; k++) {
        p1v[k] = run_writer(photos, out, 1, TFR_LAYOUT_JPEG, 224, 3, &raw, &file);
        drv[k] = decode_resize(&lp, 224);
        pav[k] = run_writer_engine(photos, out, 1, TFR_LAYOUT_JPEG, 224, 3, "auto", &raw, &file);
        p2v[k] = run_writer(photos, out, 2, TFR_LAYOUT_JPEG, 224, 3, &raw, &file);
    }
    double p1 = med3(p1v), p2 = med3(p2v), pa = med3(pav);
    t_dr = med3(drv);
    printf("bench_write photos  images=%d 1600x1200->224x224 jpeg q95, medians of 3  1 thread %.1f "
           "img/s  2 threads %.1f img/s (x%.2f)  decode+resize alone %.1f img/s (ours/baseline "
           "time %.2f; engine auto %.2f)  full-size decode alone %.1f img/s\n",
           lp.n, lp.n / p1, lp.n / p2, p1 / p2, lp.n / t_dr, p1 / t_dr, pa / t_dr, lp.n / t_full);
    flist_free(&lp);
    test_rmtree(base);
    return 0;
}
