/*
 * tests/bench/bench_index.c - record i of a GZIP shard through its index
 * (tfr_record_read_at) against reading the shard from its start to record i
 * (the sequential reader, every CRC checked), in the same run, for i near
 * the end, the middle and the start; for a seekable shard (1 MiB chunks not
 * primed by the one before) and for a primed one, where the index can only
 * skip the parsing. Prints min/median wall ms over the repeats, CPU ms, the
 * speed-up, and the seekable shard's size beside the primed one's. Then one
 * rank's share of the shard in a world of 4 (the stream's split when there
 * are fewer shards than ranks): records [3n/4, n) through a range reader
 * against the whole shard read keeping every 4th record (the split without
 * an index), same run.
 *
 *   bench_index [MB] [REPEATS]   (default 150 MB of records, 7 repeats)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_shard(const char *path, const char *index, int seekable, uint64_t nrec)
{
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.chunk_bytes = 1 << 20;
    o.seekable = seekable;
    o.index_path = index;
    o.sync = 0;
    tfr_record_writer *w;
    tfr_error err;
    if (tfr_record_writer_open(path, &o, &w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    uint8_t buf[5000];
    uint64_t s = 7;
    for (uint64_t i = 0; i < nrec; i++) {
        size_t n = 1000 + (size_t)(i * 7919 % 4000);
        for (size_t k = 0; k < n; k++) { /* about half compressible, like JPEG records */
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            buf[k] = k & 1 ? (uint8_t)(s >> 56) : (uint8_t)(k >> 4);
        }
        tfr_record_writer_append(w, buf, n, &err);
    }
    tfr_record_writer_close(w, NULL, &err);
}

/* the sequential reader from the start through record i */
static void scan_to(const char *path, uint64_t i)
{
    tfr_record_reader *r;
    tfr_error err;
    tfr_record_reader_open(path, NULL, &r, &err);
    const uint8_t *d;
    size_t n;
    for (uint64_t k = 0; k <= i; k++)
        if (tfr_record_reader_next(r, &d, &n, &err)) {
            fprintf(stderr, "scan: %s\n", err.msg);
            exit(1);
        }
    tfr_record_reader_close(r);
}

static void one(const char *label, const char *path, const tfr_record_index *ix, uint64_t i,
                int reps)
{
    double ta[64], tb[64], ca = 0, cb = 0;
    for (int r = 0; r < reps; r++) { /* alternate: A B A B, so drift hits both */
        double c0 = cpu_now(), t0 = tfr_now();
        uint8_t *d;
        size_t n;
        tfr_error err;
        if (tfr_record_read_at(path, ix, i, &d, &n, &err)) {
            fprintf(stderr, "read_at: %s\n", err.msg);
            exit(1);
        }
        free(d);
        ta[r] = (tfr_now() - t0) * 1e3;
        ca += (cpu_now() - c0) * 1e3;
        c0 = cpu_now();
        t0 = tfr_now();
        scan_to(path, i);
        tb[r] = (tfr_now() - t0) * 1e3;
        cb += (cpu_now() - c0) * 1e3;
    }
    qsort(ta, (size_t)reps, sizeof *ta, cmp_d);
    qsort(tb, (size_t)reps, sizeof *tb, cmp_d);
    printf("%-9s record %8llu: index %8.2f ms (min %7.2f, cpu %7.2f) | scan %8.1f ms (min %7.1f, "
           "cpu %7.1f) | %6.1fx\n",
           label, (unsigned long long)i, ta[reps / 2], ta[0], ca / reps, tb[reps / 2], tb[0],
           cb / reps, tb[reps / 2] / ta[reps / 2]);
}

/* one rank's share: 1 = the last quarter through a range reader, 0 = every
 * 4th record of the whole shard; returns the records kept */
static uint64_t share(const char *path, const tfr_record_index *ix, int ranged)
{
    uint64_t n = tfr_record_index_count(ix), kept = 0, k = 0;
    tfr_record_reader *r;
    tfr_error err;
    tfr_status st = ranged ? tfr_record_reader_open_range(path, NULL, ix, n - n / 4, n, &r, &err)
                           : tfr_record_reader_open(path, NULL, &r, &err);
    if (st) {
        fprintf(stderr, "share: %s\n", err.msg);
        exit(1);
    }
    const uint8_t *d;
    size_t len;
    while ((st = tfr_record_reader_next(r, &d, &len, &err)) == TFR_OK)
        kept += ranged || k++ % 4 == 3;
    if (st != TFR_ERR_EOF) {
        fprintf(stderr, "share: %s\n", err.msg);
        exit(1);
    }
    tfr_record_reader_close(r);
    return kept;
}

static void shares(const char *path, const tfr_record_index *ix, int reps)
{
    double ta[64], tb[64], ca = 0, cb = 0;
    uint64_t ka = 0, kb = 0;
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_now(), t0 = tfr_now();
        ka = share(path, ix, 1);
        ta[r] = (tfr_now() - t0) * 1e3;
        ca += (cpu_now() - c0) * 1e3;
        c0 = cpu_now();
        t0 = tfr_now();
        kb = share(path, ix, 0);
        tb[r] = (tfr_now() - t0) * 1e3;
        cb += (cpu_now() - c0) * 1e3;
    }
    qsort(ta, (size_t)reps, sizeof *ta, cmp_d);
    qsort(tb, (size_t)reps, sizeof *tb, cmp_d);
    printf("rank 3 of 4: range %8.1f ms (min %7.1f, cpu %7.1f, %llu records) | every 4th %8.1f ms "
           "(min %7.1f, cpu %7.1f, %llu records) | %5.2fx\n",
           ta[reps / 2], ta[0], ca / reps, (unsigned long long)ka, tb[reps / 2], tb[0], cb / reps,
           (unsigned long long)kb, tb[reps / 2] / ta[reps / 2]);
}

int main(int argc, char **argv)
{
    double mb = argc > 1 ? atof(argv[1]) : 150;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    if (reps < 1 || reps > 64)
        reps = 7;
    uint64_t nrec = (uint64_t)(mb * 1e6 / 3000);
    const char *dir = test_tmpdir("bench_index");
    char sp[700], si[720], pp[700], pi[720];
    snprintf(sp, sizeof sp, "%s/seekable.tfrecord.gz", dir);
    snprintf(si, sizeof si, "%s.index", sp);
    snprintf(pp, sizeof pp, "%s/primed.tfrecord.gz", dir);
    snprintf(pi, sizeof pi, "%s.index", pp);
    write_shard(sp, si, 1, nrec);
    write_shard(pp, pi, 0, nrec);
    size_t a, b;
    free(test_read_file(sp, &a));
    free(test_read_file(pp, &b));
    printf("%llu records, %.0f MB of records; seekable shard %.1f MB, primed %.1f MB "
           "(seekable/primed %.4f)\n",
           (unsigned long long)nrec, mb, a / 1e6, b / 1e6, (double)a / (double)b);
    tfr_record_index *sx, *px;
    tfr_error err;
    if (tfr_record_index_load(si, &sx, &err) || tfr_record_index_load(pi, &px, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const uint64_t at[3] = {nrec - 1, nrec / 2, 10};
    for (int k = 0; k < 3; k++)
        one("seekable", sp, sx, at[k], reps);
    one("primed", pp, px, nrec - 1, reps);
    shares(sp, sx, reps);
    tfr_record_index_free(sx);
    tfr_record_index_free(px);
    test_rmtree(dir);
    return 0;
}
