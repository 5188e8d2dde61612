/*
 * tests/bench/bench_stream.c - the streaming reader's images/s through the
 * full path (read, shuffle, parse, decode, augment, batch) on 1 and 2
 * decode threads, beside decoding the same JPEGs with libjpeg-turbo alone
 * on one thread (same run), for (a) Fashion-MNIST shards and (b) 224x224
 * JPEG shards, with random flips (the stream's images/s are its steady
 * state over three epochs, from the first batch on; medians of 3 rounds
 * that interleave baseline and stream). Also peak RSS for two
 * shuffle-buffer sizes. Each measurement runs in a child process so its
 * peak RSS is its own.
 *
 *   bench_stream [N_FMNIST] [N_224]     (defaults 20000 and 2000)
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "testutil.h"
#include "tfrecord/dataset.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "tfrecord/util.h"

typedef struct result {
    double images_per_s;
    long   max_rss_kb;
} result;

/*
 * Streams three epochs of dir; returns images/s from the first batch on
 * (steady state: opening, the manifest, the first shuffle-buffer fill and
 * thread start are left out, as they are paid once per run, not per image).
 */
static double stream_once(const char *dir, int threads, size_t shuffle, int flip)
{
    tfr_stream_opts o;
    tfr_stream_opts_init(&o);
    const char *src[1] = {dir};
    o.sources = src;
    o.nsources = 1;
    o.threads = threads;
    o.shuffle_buffer = shuffle;
    o.batch_size = 64;
    o.random_flip = flip;
    o.epochs = 3;
    tfr_stream *s;
    tfr_error err;
    if (tfr_stream_open(&o, &s, &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    const tfr_batch *b;
    uint64_t n = 0;
    double t0 = 0;
    while (!tfr_stream_next(s, &b, &err)) {
        if (t0 == 0)
            t0 = tfr_now();
        else
            n += (uint64_t)b->n;
    }
    double t = tfr_now() - t0;
    tfr_stream_close(s);
    return (double)n / t;
}

/* libjpeg-turbo alone, one thread, over the image bytes of every record */
static double decode_only(const char *dir)
{
    tfr_stream_opts dummy;
    (void)dummy;
    char **files;
    size_t nf;
    tfr_error err;
    const char *args[1] = {dir};
    tfr_paths_expand(args, 1, &files, &nf, &err);
    /* load all JPEG bytes first: the baseline is decoding, not reading */
    uint8_t **jp = NULL;
    size_t *jn = NULL, n = 0, cap = 0;
    tfr_example *ex;
    tfr_example_new(&ex, &err);
    for (size_t f = 0; f < nf; f++) {
        tfr_record_reader *r;
        if (tfr_record_reader_open(files[f], NULL, &r, &err))
            continue;
        const uint8_t *d;
        size_t len;
        while (!tfr_record_reader_next(r, &d, &len, &err)) {
            const uint8_t *p;
            size_t pn;
            if (tfr_example_parse(ex, d, len, &err) ||
                tfr_example_get_bytes_scalar(ex, "image/encoded", &p, &pn, &err))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                jp = realloc(jp, cap * sizeof *jp);
                jn = realloc(jn, cap * sizeof *jn);
            }
            jp[n] = malloc(pn);
            memcpy(jp[n], p, pn);
            jn[n++] = pn;
        }
        tfr_record_reader_close(r);
    }
    tfr_example_free(ex);
    tfr_paths_free(files, nf);
    tjhandle h = tjInitDecompress();
    uint8_t *px = malloc(4096 * 4096 * 3);
    double t0 = tfr_now();
    for (size_t i = 0; i < n; i++) {
        int w, hh, ss, cs;
        tjDecompressHeader3(h, jp[i], (unsigned long)jn[i], &w, &hh, &ss, &cs);
        tjDecompress2(h, jp[i], (unsigned long)jn[i], px, w, 0, hh, TJPF_RGB, 0);
    }
    double t = tfr_now() - t0;
    for (size_t i = 0; i < n; i++)
        free(jp[i]);
    free(jp);
    free(jn);
    free(px);
    tjDestroy(h);
    return (double)n / t;
}

static result in_child(const char *dir, int threads, size_t shuffle, int flip, int baseline)
{
    int fd[2];
    result r = {0, 0};
    if (pipe(fd))
        return r;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        result c;
        c.images_per_s = baseline ? decode_only(dir) : stream_once(dir, threads, shuffle, flip);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        c.max_rss_kb = ru.ru_maxrss;
        if (write(fd[1], &c, sizeof c) != (ssize_t)sizeof c)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r)
        r.images_per_s = 0;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return r;
}

static void make_224(const char *root, int n)
{
    tjhandle h = tjInitCompress();
    uint8_t *px = malloc(224 * 224 * 3);
    uint64_t s = 5;
    for (int i = 0; i < n; i++) {
        char d[1024], p[1200];
        snprintf(d, sizeof d, "%s/class%d", root, i % 10);
        if (i < 10)
            test_system("mkdir -p '%s'", d);
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++) {
                uint8_t *q = px + (y * 224 + x) * 3;
                uint64_t r = test_rand(&s);
                q[0] = (uint8_t)(x + i + (r & 7));
                q[1] = (uint8_t)(y * 2 + ((r >> 8) & 7));
                q[2] = (uint8_t)((x ^ y) + ((r >> 16) & 7));
            }
        unsigned char *j = NULL;
        unsigned long jn = 0;
        tjCompress2(h, px, 224, 0, 224, TJPF_RGB, &j, &jn, TJSAMP_420, 90, 0);
        snprintf(p, sizeof p, "%s/%05d.jpg", d, i);
        test_write_file(p, j, jn);
        tjFree(j);
    }
    free(px);
    tjDestroy(h);
}

/* records/s of the ordering thread's work alone: read, inflate, CRC, parse */
static double reader_only(const char *dir)
{
    char **files;
    size_t nf;
    tfr_error err;
    const char *args[1] = {dir};
    tfr_paths_expand(args, 1, &files, &nf, &err);
    tfr_example *ex;
    tfr_example_new(&ex, &err);
    double t0 = tfr_now();
    uint64_t n = 0;
    for (size_t f = 0; f < nf; f++) {
        tfr_record_reader *r;
        if (tfr_record_reader_open(files[f], NULL, &r, &err))
            continue;
        const uint8_t *d;
        size_t len;
        while (!tfr_record_reader_next(r, &d, &len, &err)) {
            tfr_example_parse(ex, d, len, &err);
            n++;
        }
        tfr_record_reader_close(r);
    }
    double t = tfr_now() - t0;
    tfr_example_free(ex);
    tfr_paths_free(files, nf);
    return (double)n / t;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define ROUNDS 3

/* median of ROUNDS rates (images/s), and the best */
static double median3(double *v, double *best)
{
    qsort(v, ROUNDS, sizeof *v, dcmp);
    *best = v[ROUNDS - 1];
    return v[ROUNDS / 2];
}

static void bench(const char *name, const char *shards)
{
    /* rounds interleave the baseline and the stream, so drift hits both */
    double base[ROUNDS], one[ROUNDS], two[ROUNDS], bb, b1, b2;
    result t2 = {0, 0};
    for (int k = 0; k < ROUNDS; k++) {
        base[k] = in_child(shards, 1, 0, 0, 1).images_per_s;
        one[k] = in_child(shards, 1, 1024, 1, 0).images_per_s;
        t2 = in_child(shards, 2, 1024, 1, 0);
        two[k] = t2.images_per_s;
    }
    double ro = reader_only(shards);
    double mb = median3(base, &bb), m1 = median3(one, &b1), m2 = median3(two, &b2);
    printf("bench_stream %-7s decode-only (libjpeg-turbo, 1 thread) %.0f img/s (best %.0f); "
           "read+inflate+CRC+parse alone %.0f rec/s\n", name, mb, bb, ro);
    printf("bench_stream %-7s threads 1: %.0f img/s (best %.0f), %.2f of decode-only\n", name, m1,
           b1, m1 / mb);
    printf("bench_stream %-7s threads 2: %.0f img/s (best %.0f), x%.2f of 1 thread\n", name, m2,
           b2, m2 / m1);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (int t = 4; t <= 16 && t <= ncpu; t *= 2) {
        result r = in_child(shards, t, 1024, 1, 0);
        printf("bench_stream %-7s threads %d: %.0f img/s (x%.2f of 1 thread)\n", name, t,
               r.images_per_s, r.images_per_s / m1);
    }
    result big = in_child(shards, 2, 16384, 1, 0);
    printf("bench_stream %-7s peak RSS %.0f MB with a 1024-record shuffle buffer, %.0f MB with "
           "16384\n", name, t2.max_rss_kb / 1024.0, big.max_rss_kb / 1024.0);
}

static void write_shards(const char *root, const char *out, int channels)
{
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    const char *roots[1] = {root};
    o.roots = roots;
    o.nroots = 1;
    o.out_dir = out;
    o.channels = channels;
    o.shards = 4;
    o.progress = 0;
    tfr_write_report *r;
    tfr_error err;
    if (tfr_write_dataset(&o, &r, &err)) {
        fprintf(stderr, "write: %s\n", err.msg);
        exit(1);
    }
    tfr_write_report_free(r);
}

int main(int argc, char **argv)
{
    int nf = argc > 1 ? atoi(argv[1]) : 20000;
    int n224 = argc > 2 ? atoi(argv[2]) : 2000;
    char base[600], tree[700], out[700];
    snprintf(base, sizeof base, "%s", test_tmpdir("bench-stream"));
    snprintf(tree, sizeof tree, "%s/fm", base);
    if (test_system("'%s/fashion-mnist-tree' --limit %d '%s' > /dev/null", TFR_BIN_DIR, nf, tree) == 0) {
        char train[800];
        snprintf(train, sizeof train, "%s/train", tree);
        snprintf(out, sizeof out, "%s/fm-shards", base);
        write_shards(train, out, 3);
        bench("fmnist", out);
    } else {
        printf("bench_stream fmnist skipped: fashion-mnist-tree failed\n");
    }
    snprintf(tree, sizeof tree, "%s/224", base);
    make_224(tree, n224);
    snprintf(out, sizeof out, "%s/224-shards", base);
    write_shards(tree, out, 3);
    bench("224x224", out);
    test_rmtree(base);
    return 0;
}
