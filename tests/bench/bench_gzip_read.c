/*
 * tests/bench/bench_gzip_read.c - reading GZIP shards with every CRC checked
 * and every Example parsed (what tfrecord-inspect --verify does), through
 * the zlib engine and through "auto" (the fastest built in), the latter also
 * with the reader's read-ahead thread (inflate and CRCs overlapping the
 * parse, as tfrecord-inspect reads), beside
 * decompressors that check nothing of the records, on the same files in the
 * same run, rounds interleaved: `gzip -dc`, `igzip -dc` and
 * `libdeflate-gunzip -c` when installed, and their loops in-process
 * (isal_inflate through 256 KiB buffers as igzip does; libdeflate on the
 * whole file as libdeflate-gunzip does) when the libraries are. Min and
 * median wall seconds, median CPU seconds, MB/s of uncompressed data. Also
 * CRC-32C GB/s, hardware vs table.
 *
 *   bench_gzip_read [SHARD...]   (default: 4 synthetic shards of 50 MB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef TFR_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#ifdef TFR_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

/* wall and CPU seconds of one pass */
typedef struct pass {
    double wall, cpu;
} pass;

static double cpu_now(int children)
{
    struct rusage ru;
    getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* every record CRC-checked and every Example parsed, through one engine */
static pass read_ours(char **files, int n, const char *name, double *mb)
{
    char engine[16];
    snprintf(engine, sizeof engine, "%.*s", (int)strcspn(name, ","), name);
    tfr_example *ex;
    tfr_error err;
    tfr_example_new(&ex, &err);
    double c0 = cpu_now(0), t0 = tfr_now();
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        tfr_reader_opts o;
        tfr_reader_opts_init(&o);
        o.engine = engine;
        o.prefetch = strstr(name, "read ahead") != NULL;
        tfr_record_reader *r;
        if (tfr_record_reader_open(files[i], &o, &r, &err)) {
            fprintf(stderr, "%s: %s\n", files[i], err.msg);
            exit(1);
        }
        const uint8_t *d;
        size_t len;
        tfr_status s;
        while ((s = tfr_record_reader_next(r, &d, &len, &err)) == TFR_OK) {
            if (tfr_example_parse_view(ex, d, len, &err)) { /* as inspect --verify */
                fprintf(stderr, "parse: %s\n", err.msg);
                exit(1);
            }
        }
        if (s != TFR_ERR_EOF) {
            char b[4400];
            fprintf(stderr, "%s\n", tfr_error_text(&err, b, sizeof b));
            exit(1);
        }
        tfr_reader_stats st;
        tfr_record_reader_stats(r, &st);
        bytes += st.bytes;
        tfr_record_reader_close(r);
    }
    pass p = {tfr_now() - t0, cpu_now(0) - c0};
    tfr_example_free(ex);
    *mb = (double)bytes / 1e6;
    return p;
}

/* a command per file, output to /dev/null (CPU: the children's) */
static pass read_cmd(const char *cmd, char **files, int n)
{
    double c0 = cpu_now(1), t0 = tfr_now();
    for (int i = 0; i < n; i++)
        if (test_system("%s '%s' > /dev/null", cmd, files[i]) != 0) {
            fprintf(stderr, "%s %s failed\n", cmd, files[i]);
            exit(1);
        }
    return (pass){tfr_now() - t0, cpu_now(1) - c0};
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        exit(1);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

#ifdef TFR_HAVE_ISAL
/* what `igzip -dc FILE > /dev/null` does: read 256 KiB blocks, inflate
 * every member into a 256 KiB buffer, check the gzip trailers, no CRC-32C
 * and no parse */
static pass read_isal_only(char **files, int n)
{
    enum { B = 256 << 10 };
    static struct inflate_state z;
    uint8_t *in = malloc(B), *out = malloc(B);
    double c0 = cpu_now(0), t0 = tfr_now();
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "rb");
        isal_inflate_init(&z);
        z.crc_flag = ISAL_GZIP;
        size_t k;
        z.avail_in = 0;
        for (;;) {
            if (z.avail_in == 0) {
                if ((k = fread(in, 1, B, f)) == 0)
                    break;
                z.next_in = in;
                z.avail_in = (uint32_t)k;
            }
            z.next_out = out;
            z.avail_out = B;
            if (isal_inflate(&z) < 0) {
                fprintf(stderr, "isal_inflate: %s damaged\n", files[i]);
                exit(1);
            }
            if (z.block_state == ISAL_BLOCK_FINISH) {
                uint8_t *ni = z.next_in;
                uint32_t ai = z.avail_in;
                isal_inflate_reset(&z);
                z.crc_flag = ISAL_GZIP;
                z.next_in = ni;
                z.avail_in = ai;
            }
        }
        fclose(f);
    }
    pass p = {tfr_now() - t0, cpu_now(0) - c0};
    free(in);
    free(out);
    return p;
}
#endif

#ifdef TFR_HAVE_LIBDEFLATE
/* what `libdeflate-gunzip -c FILE > /dev/null` does: the whole file in
 * memory, each member decompressed whole into a buffer its ISIZE sizes */
static pass read_libdeflate(char **files, int n)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    double c0 = cpu_now(0), t0 = tfr_now();
    for (int i = 0; i < n; i++) {
        size_t zn, off = 0;
        uint8_t *z = slurp(files[i], &zn);
        size_t cap = zn >= 4 ? (size_t)z[zn - 4] | (size_t)z[zn - 3] << 8 |
                                   (size_t)z[zn - 2] << 16 | (size_t)z[zn - 1] << 24
                             : 0;
        uint8_t *out = malloc(cap + 1);
        while (off < zn) {
            size_t used = 0, got = 0;
            if (libdeflate_gzip_decompress_ex(d, z + off, zn - off, out, cap + 1, &used, &got) !=
                LIBDEFLATE_SUCCESS) {
                fprintf(stderr, "libdeflate: %s damaged (or members of other sizes)\n",
                        files[i]);
                exit(1);
            }
            off += used;
        }
        free(out);
        free(z);
    }
    pass p = {tfr_now() - t0, cpu_now(0) - c0};
    libdeflate_free_decompressor(d);
    return p;
}
#endif

static int on_path(const char *tool)
{
    return test_system("command -v %s >/dev/null 2>&1", tool) == 0;
}

#define MAXW 12
typedef struct way {
    const char *name;
    pass        p[5];
} way;

static int pcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(const way *w, int runs, double *min, double *med, double *cpu)
{
    double t[5], c[5];
    for (int i = 0; i < runs; i++) {
        t[i] = w->p[i].wall;
        c[i] = w->p[i].cpu;
    }
    qsort(t, (size_t)runs, sizeof *t, pcmp);
    qsort(c, (size_t)runs, sizeof *c, pcmp);
    *min = t[0];
    *med = t[runs / 2];
    *cpu = c[runs / 2];
}

int main(int argc, char **argv)
{
    char **files;
    int n;
    const char *dir = NULL;
    if (argc > 1) {
        files = argv + 1;
        n = argc - 1;
    } else {
        /* synthetic: Examples holding ~30 KB JPEG-like payloads (half random) */
        dir = test_tmpdir("bench-read");
        n = 4;
        files = calloc((size_t)n, sizeof *files);
        tfr_example_builder *b;
        tfr_error err;
        tfr_example_builder_new(&b, &err);
        uint8_t *payload = malloc(40000);
        uint64_t seed = 1;
        for (int f = 0; f < n; f++) {
            files[f] = malloc(600);
            snprintf(files[f], 600, "%s/train-%05d-of-%05d.tfrecord.gz", dir, f, n);
            tfr_writer_opts o;
            tfr_writer_opts_init(&o);
            o.sync = 0;
            o.chunk_bytes = 1 << 20;
            tfr_record_writer *w;
            tfr_record_writer_open(files[f], &o, &w, &err);
            for (size_t bytes = 0; bytes < 50000000;) {
                size_t len = 20000 + test_rand(&seed) % 20000;
                test_fill_random(payload, len / 2, test_rand(&seed));
                for (size_t i = len / 2; i < len; i++)
                    payload[i] = (uint8_t)(i % 17 + (i / 512) % 3);
                tfr_example_builder_reset(b);
                tfr_example_add_bytes(b, "image/encoded", payload, len, &err);
                tfr_example_add_int64(b, "image/class/label", (int64_t)(bytes % 1000), &err);
                tfr_example_add_string(b, "image/format", "JPEG", &err);
                const uint8_t *d;
                size_t dl;
                tfr_example_builder_serialize(b, &d, &dl, &err);
                tfr_record_writer_append(w, d, dl, &err);
                bytes += dl + 16;
            }
            tfr_record_writer_close(w, NULL, &err);
        }
        free(payload);
        tfr_example_builder_free(b);
    }
    /* warm the page cache, then 5 rounds of every way in turn */
    double mb = 0;
    read_cmd("gzip -dc", files, n);
    way w[MAXW];
    int nw = 0;
    const char *engines[4] = {"zlib", "auto", "auto, read ahead", NULL};
    for (int e = 0; engines[e]; e++)
        w[nw++].name = engines[e];
    w[nw++].name = "tfrecord-inspect --verify";
    w[nw++].name = "gzip -dc";
    if (on_path("igzip"))
        w[nw++].name = "igzip -dc";
    if (on_path("libdeflate-gunzip"))
        w[nw++].name = "libdeflate-gunzip -c";
#ifdef TFR_HAVE_ISAL
    w[nw++].name = "isal_inflate only";
#endif
#ifdef TFR_HAVE_LIBDEFLATE
    w[nw++].name = "libdeflate whole file";
#endif
    const int runs = 5;
    for (int k = 0; k < runs; k++) {
        for (int i = 0; i < nw; i++) {
            const char *nm = w[i].name;
            if (!strncmp(nm, "zlib", 4) || !strncmp(nm, "auto", 4))
                w[i].p[k] = read_ours(files, n, nm, &mb);
            else if (!strcmp(nm, "tfrecord-inspect --verify"))
                w[i].p[k] = read_cmd(TFR_BIN_DIR "/tfrecord-inspect -q --verify --sample 0", files, n);
            else if (!strcmp(nm, "isal_inflate only")) {
#ifdef TFR_HAVE_ISAL
                w[i].p[k] = read_isal_only(files, n);
#endif
            } else if (!strcmp(nm, "libdeflate whole file")) {
#ifdef TFR_HAVE_LIBDEFLATE
                w[i].p[k] = read_libdeflate(files, n);
#endif
            } else {
                char cmd[64];
                snprintf(cmd, sizeof cmd, "%.*s", (int)strcspn(nm, " "), nm);
                strcat(cmd, strstr(nm, " -c") && !strstr(nm, "-dc") ? " -c" : " -dc");
                w[i].p[k] = read_cmd(cmd, files, n);
            }
        }
    }
    printf("bench_gzip_read  shards=%d MB=%.0f (uncompressed), %d runs; tfrecord = every CRC "
           "checked, every Example parsed\n", n, mb, runs);
    printf("  %-32s %8s %8s %8s %8s\n", "way", "min s", "med s", "cpu s", "MB/s");
    double med_of[MAXW];
    for (int i = 0; i < nw; i++) {
        double mn, md, cpu;
        stats(&w[i], runs, &mn, &md, &cpu);
        med_of[i] = md;
        char label[64];
        snprintf(label, sizeof label, "%s%s", i < 3 ? "reader, engine " : "", w[i].name);
        printf("  %-32s %8.3f %8.3f %8.2f %8.0f\n", label, mn, md, cpu, mb / md);
    }
    for (int e = 0; e < 4; e++)
        for (int i = 4; i < nw; i++)
            printf("  ratio %-26s vs %-22s %.2f\n", w[e].name, w[i].name,
                   med_of[i] / med_of[e]);

    /* CRC-32C */
    size_t len = 64 << 20;
    uint8_t *buf = malloc(len);
    test_fill_random(buf, len, 3);
    double th = 1e9, ts = 1e9;
    volatile uint32_t sink = 0;
    for (int k = 0; k < 3; k++) {
        double t0 = tfr_now();
        sink ^= tfr_crc32c_hw(0, buf, len);
        double t1 = tfr_now();
        sink ^= tfr_crc32c_sw(0, buf, len);
        double t2 = tfr_now();
        th = t1 - t0 < th ? t1 - t0 : th;
        ts = t2 - t1 < ts ? t2 - t1 : ts;
    }
    printf("bench_crc32c     MB=%zu  hw %.2f GB/s (%s)  table %.2f GB/s  ratio %.1f\n",
           len >> 20, (double)len / th / 1e9, tfr_crc32c_has_hw() ? "SSE4.2" : "no SSE4.2",
           (double)len / ts / 1e9, ts / th);
    free(buf);
    if (dir)
        test_rmtree(dir);
    return 0;
}
