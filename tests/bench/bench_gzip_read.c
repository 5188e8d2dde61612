/*
 * tests/bench/bench_gzip_read.c - reading GZIP shards with every CRC checked
 * and every Example parsed, in MB/s of uncompressed data, beside
 * `gzip -dc FILE > /dev/null` on the same files in the same run. Also
 * CRC-32C GB/s, hardware vs table.
 *
 *   bench_gzip_read [SHARD...]   (default: 4 synthetic shards of 50 MB)
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

static double read_ours(char **files, int n, double *mb)
{
    tfr_example *ex;
    tfr_error err;
    tfr_example_new(&ex, &err);
    double t0 = tfr_now();
    uint64_t bytes = 0, recs = 0;
    for (int i = 0; i < n; i++) {
        tfr_record_reader *r;
        if (tfr_record_reader_open(files[i], NULL, &r, &err)) {
            fprintf(stderr, "%s: %s\n", files[i], err.msg);
            exit(1);
        }
        const uint8_t *d;
        size_t len;
        tfr_status s;
        while ((s = tfr_record_reader_next(r, &d, &len, &err)) == TFR_OK) {
            if (tfr_example_parse(ex, d, len, &err)) {
                fprintf(stderr, "parse: %s\n", err.msg);
                exit(1);
            }
            recs++;
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
    double t = tfr_now() - t0;
    tfr_example_free(ex);
    *mb = (double)bytes / 1e6;
    (void)recs;
    return t;
}

static double read_gzip(char **files, int n)
{
    double t0 = tfr_now();
    for (int i = 0; i < n; i++)
        if (test_system("gzip -dc '%s' > /dev/null", files[i]) != 0) {
            fprintf(stderr, "gzip -dc %s failed\n", files[i]);
            exit(1);
        }
    return tfr_now() - t0;
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
    /* warm the page cache, then best of 3 for each */
    double mb = 0, best_ours = 1e9, best_gz = 1e9;
    read_gzip(files, n);
    for (int k = 0; k < 3; k++) {
        double t = read_ours(files, n, &mb);
        if (t < best_ours)
            best_ours = t;
        t = read_gzip(files, n);
        if (t < best_gz)
            best_gz = t;
    }
    printf("bench_gzip_read  shards=%d MB=%.0f  tfr %.0f MB/s (CRC + Example parse)  "
           "gzip -dc %.0f MB/s  ratio %.2f\n",
           n, mb, mb / best_ours, mb / best_gz, best_gz / best_ours);

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
