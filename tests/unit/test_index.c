/*
 * tests/unit/test_index.c - shard indexes and record i without a scan: for
 * uncompressed, GZIP and ZLIB shards, in seekable chunks, primed chunks and
 * one stream, with every engine, the index counts the records and
 * tfr_record_read_at returns exactly what the sequential reader returns
 * (first, last and scattered records, records across chunk boundaries);
 * seekable chunks are several; an index of another file, damaged record
 * bytes and damaged index lines are errors that say so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/codec.h"
#include "testutil.h"
#include "tfrecord/inspect.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

#define NREC 3000

static size_t rec_len(int i) { return (size_t)((i * 7919u) % 3001u); }

static void rec_fill(int i, uint8_t *p, size_t n)
{
    uint64_t s = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
    for (size_t k = 0; k < n; k++) { /* compressible but not trivial */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[k] = (uint8_t)((s >> 60) + 'a');
    }
}

static void write_shard(const char *path, const char *index, tfr_compression comp,
                        size_t chunk, int seekable, const char *engine)
{
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.compression = comp;
    o.chunk_bytes = chunk;
    o.seekable = seekable;
    o.index_path = index;
    o.engine = engine;
    o.sync = 0;
    tfr_record_writer *w;
    tfr_error err;
    EXPECT_OK(tfr_record_writer_open(path, &o, &w, &err), &err);
    uint8_t buf[3100];
    for (int i = 0; w && i < NREC; i++) {
        rec_fill(i, buf, rec_len(i));
        EXPECT_OK(tfr_record_writer_append(w, buf, rec_len(i), &err), &err);
    }
    EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
}

static void check_at(const char *path, const tfr_record_index *ix, int i)
{
    uint8_t *d = NULL, want[3100];
    size_t n = 0;
    tfr_error err;
    EXPECT_OK(tfr_record_read_at(path, ix, (uint64_t)i, &d, &n, &err), &err);
    rec_fill(i, want, rec_len(i));
    if (!d || n != rec_len(i) || memcmp(d, want, n))
        FAILF("%s: record %d differs (%zu bytes, %zu expected)", path, i, n, rec_len(i));
    free(d);
}

/* records [a, b) through a range reader: exactly those, in order, then EOF */
static void check_range(const char *path, const tfr_record_index *ix, uint64_t a, uint64_t b)
{
    tfr_record_reader *r = NULL;
    tfr_error err;
    EXPECT_OK(tfr_record_reader_open_range(path, NULL, ix, a, b, &r, &err), &err);
    const uint8_t *d;
    size_t n;
    uint8_t want[3100];
    uint64_t i = a;
    tfr_status st = TFR_ERR_ARG;
    while (r && (st = tfr_record_reader_next(r, &d, &n, &err)) == TFR_OK) {
        rec_fill((int)i, want, rec_len((int)i));
        if (i >= b || n != rec_len((int)i) || memcmp(d, want, n)) {
            FAILF("%s: range %llu..%llu: record %llu differs or is past the range", path,
                  (unsigned long long)a, (unsigned long long)b, (unsigned long long)i);
            break;
        }
        i++;
    }
    if (r && st != TFR_ERR_EOF)
        FAILF("%s: range %llu..%llu: %s", path, (unsigned long long)a, (unsigned long long)b,
              err.msg);
    if (i != b)
        FAILF("%s: range %llu..%llu ended at %llu", path, (unsigned long long)a,
              (unsigned long long)b, (unsigned long long)i);
    tfr_record_reader_close(r);
}

/* the index file's text with line `line` (1-based) replaced */
static void edit_index(const char *from, const char *to, int line, const char *text)
{
    size_t n;
    char *b = (char *)test_read_file(from, &n);
    FILE *f = fopen(to, "w");
    int ln = 1;
    for (size_t i = 0; b && i < n; ln++) {
        size_t e = i;
        while (e < n && b[e] != '\n')
            e++;
        if (ln == line)
            fprintf(f, "%s\n", text);
        else
            fprintf(f, "%.*s\n", (int)(e - i), b + i);
        i = e + 1;
    }
    fclose(f);
    free(b);
}

int main(void)
{
    const char *dir = test_tmpdir("index");
    char path[700], ipath[720];
    const tfr_compression comps[3] = {TFR_COMPRESS_NONE, TFR_COMPRESS_GZIP, TFR_COMPRESS_ZLIB};
    const struct { size_t chunk; int seekable; } modes[3] = {{65536, 1}, {65536, 0}, {0, 0}};
    tfr_error err;
    for (size_t e = 0; tfr_codec_at(e); e++)
        for (int c = 0; c < 3; c++)
            for (int m = 0; m < 3; m++) {
                if (comps[c] == TFR_COMPRESS_NONE && m)
                    continue;
                snprintf(path, sizeof path, "%s/s%zu%d%d.tfrecord", dir, e, c, m);
                snprintf(ipath, sizeof ipath, "%s.index", path);
                write_shard(path, ipath, comps[c], modes[m].chunk, modes[m].seekable,
                            tfr_codec_at(e)->name);
                tfr_record_index *ix = NULL;
                EXPECT_OK(tfr_record_index_load(ipath, &ix, &err), &err);
                if (!ix)
                    continue;
                EXPECT(tfr_record_index_count(ix) == NREC);
                /* every record, as the sequential reader gives it */
                tfr_record_reader *r;
                EXPECT_OK(tfr_record_reader_open(path, NULL, &r, &err), &err);
                const uint8_t *d;
                size_t n;
                int k = 0;
                while (r && tfr_record_reader_next(r, &d, &n, &err) == TFR_OK)
                    k++;
                EXPECT_EQ_I(k, NREC);
                tfr_record_reader_close(r);
                const int at[] = {0, 1, 2, 777, 1500, 2998, 2999};
                for (size_t a = 0; a < sizeof at / sizeof *at; a++)
                    check_at(path, ix, at[a]);
                for (int i = 5; i < NREC; i += 97)
                    check_at(path, ix, i);
                uint8_t *x;
                EXPECT_STATUS(tfr_record_read_at(path, ix, NREC, &x, &n, &err), TFR_ERR_ARG);
                /* ranges: empty, whole, split in two and in three, one record, the tail */
                const uint64_t rg[][2] = {{0, 0}, {0, NREC}, {0, 1500}, {1500, NREC},
                                          {0, 1000}, {1000, 2000}, {2000, NREC}, {777, 778},
                                          {2999, NREC}, {NREC, NREC}, {123, 2877}};
                for (size_t g = 0; g < sizeof rg / sizeof *rg; g++)
                    check_range(path, ix, rg[g][0], rg[g][1]);
                tfr_record_reader *rr = NULL;
                EXPECT_STATUS(tfr_record_reader_open_range(path, NULL, ix, 5, NREC + 1, &rr, &err),
                              TFR_ERR_ARG);
                EXPECT_STATUS(tfr_record_reader_open_range(path, NULL, ix, 9, 8, &rr, &err),
                              TFR_ERR_ARG);
                tfr_reader_opts ro;
                tfr_reader_opts_init(&ro);
                ro.compression = comps[c] == TFR_COMPRESS_NONE ? TFR_COMPRESS_GZIP
                                                               : TFR_COMPRESS_NONE;
                EXPECT_STATUS(tfr_record_reader_open_range(path, &ro, ix, 0, 9, &rr, &err),
                              TFR_ERR_ARG);
                EXPECT_CONTAINS(err.msg, "the index is of a");
                EXPECT(rr == NULL);
                tfr_record_index_free(ix);
                /* seekable chunks: several, and the index says so */
                size_t in;
                char *t = (char *)test_read_file(ipath, &in);
                if (t && comps[c] != TFR_COMPRESS_NONE && modes[m].chunk) {
                    EXPECT(strstr(t, "\nc ") != NULL);
                    EXPECT(strstr(t, modes[m].seekable ? "seekable 1" : "seekable 0") != NULL);
                }
                free(t);
            }

    /* a range of a seekable shard starts at its chunk: damage before that
     * chunk does not touch it, while a primed shard must inflate through it */
    for (int seekable = 1; seekable >= 0; seekable--) {
        snprintf(path, sizeof path, "%s/damaged%d.tfrecord.gz", dir, seekable);
        snprintf(ipath, sizeof ipath, "%s.index", path);
        write_shard(path, ipath, TFR_COMPRESS_GZIP, 65536, seekable, NULL);
        tfr_record_index *ix = NULL;
        EXPECT_OK(tfr_record_index_load(ipath, &ix, &err), &err);
        size_t n;
        uint8_t *b = test_read_file(path, &n);
        if (!ix || !b)
            continue;
        for (size_t k = n / 5; k < n / 5 + 64; k++)
            b[k] ^= 0x5a;
        EXPECT(test_write_file(path, b, n) == 0);
        free(b);
        tfr_record_reader *r = NULL;
        EXPECT_OK(tfr_record_reader_open_range(path, NULL, ix, 0, NREC, &r, &err), &err);
        const uint8_t *d;
        size_t dn;
        tfr_status st = TFR_ERR_ARG;
        while (r && (st = tfr_record_reader_next(r, &d, &dn, &err)) == TFR_OK)
            ;
        EXPECT(r && st == TFR_ERR_CORRUPT);
        tfr_record_reader_close(r);
        if (seekable) {
            check_range(path, ix, 2000, NREC);
        } else {
            r = NULL;
            st = tfr_record_reader_open_range(path, NULL, ix, 2000, NREC, &r, &err);
            while (st == TFR_OK && (st = tfr_record_reader_next(r, &d, &dn, &err)) == TFR_OK)
                ;
            EXPECT_STATUS(st, TFR_ERR_CORRUPT);
            EXPECT_CONTAINS(err.path, "damaged0");
            tfr_record_reader_close(r);
        }
        /* an index whose record 2500 is a byte shorter than the shard's (still in
         * order, so it loads): reading there says the index is wrong */
        tfr_record_index_free(ix);
        char wrong[740], line[64];
        snprintf(wrong, sizeof wrong, "%s.wrong", ipath);
        size_t tn;
        char *t = (char *)test_read_file(ipath, &tn);
        char *rl = t ? strstr(t, "\nr ") : NULL; /* record 0's line */
        int ln = 1;
        for (char *q = t; rl && q < rl; q++)
            ln += *q == '\n';
        unsigned long long ro_, rn_;
        char *r2500 = rl;
        for (int k = 0; r2500 && k < 2500; k++)
            r2500 = strchr(r2500 + 1, '\n');
        if (r2500 && sscanf(r2500, "\nr %llu %llu", &ro_, &rn_) == 2) {
            snprintf(line, sizeof line, "r %llu %llu", ro_, rn_ - 1);
            edit_index(ipath, wrong, ln + 1 + 2500, line);
            ix = NULL;
            EXPECT_OK(tfr_record_index_load(wrong, &ix, &err), &err);
            r = NULL;
            st = ix ? tfr_record_reader_open_range(path, NULL, ix, 2500, 2600, &r, &err) : 1;
            if (seekable) { /* (the primed shard's damage comes first) */
                EXPECT_OK(st, &err);
                if (r)
                    EXPECT_STATUS(tfr_record_reader_next(r, &d, &dn, &err), TFR_ERR_CORRUPT);
                EXPECT_CONTAINS(err.msg, "the index says");
                EXPECT(err.record == 2500);
            } else { /* the damage before it is met on the way */
                while (st == TFR_OK && (st = tfr_record_reader_next(r, &d, &dn, &err)) == TFR_OK)
                    ;
                EXPECT_STATUS(st, TFR_ERR_CORRUPT);
            }
            tfr_record_reader_close(r);
            tfr_record_index_free(ix);
        } else {
            FAILF("%s: no line for record 2500", ipath);
        }
        free(t);
    }

    /* an index of another file; damaged records; damaged index lines */
    snprintf(path, sizeof path, "%s/plain.tfrecord", dir);
    snprintf(ipath, sizeof ipath, "%s.index", path);
    write_shard(path, ipath, TFR_COMPRESS_NONE, 0, 0, NULL);
    tfr_record_index *ix = NULL;
    EXPECT_OK(tfr_record_index_load(ipath, &ix, &err), &err);
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    if (ix && b) {
        uint8_t *x;
        size_t xn;
        b[n / 2] ^= 0x40; /* inside some record */
        EXPECT(test_write_file(path, b, n) == 0);
        int bad = 0;
        for (int i = 0; i < NREC; i++) {
            tfr_status s = tfr_record_read_at(path, ix, (uint64_t)i, &x, &xn, &err);
            if (s == TFR_OK) {
                free(x);
                continue;
            }
            bad++;
            EXPECT(s == TFR_ERR_CORRUPT);
            /* the flipped byte is in a length, a CRC or the data */
            EXPECT(strstr(err.msg, "CRC mismatch") || strstr(err.msg, "length is not"));
            EXPECT(err.record == i);
        }
        EXPECT_EQ_I(bad, 1);
        EXPECT(test_write_file(path, b, n - 1) == 0); /* another file */
        EXPECT_STATUS(tfr_record_read_at(path, ix, 0, &x, &xn, &err), TFR_ERR_ARG);
        EXPECT_CONTAINS(err.msg, "rebuild the index");
    }
    free(b);
    tfr_record_index_free(ix);
    /* an index that makes records 999 and 1000 one (it still loads): a range
     * that ends there, or runs to the end, finds the extra record and says so */
    write_shard(path, ipath, TFR_COMPRESS_NONE, 0, 0, NULL);
    {
        size_t tn;
        char *t = (char *)test_read_file(ipath, &tn);
        char merged[740];
        snprintf(merged, sizeof merged, "%s.merged", ipath);
        FILE *f = fopen(merged, "w");
        unsigned long long prev_off = 0, prev_len = 0;
        int k = 0; /* record lines seen */
        for (char *q = t; t && f && q < t + tn;) {
            char *e = strchr(q, '\n');
            unsigned long long a = 0, l = 0;
            int rec = *q == 'r' && sscanf(q, "r %llu %llu", &a, &l) == 2;
            if (!strncmp(q, "records ", 8))
                fprintf(f, "records %d\n", NREC - 1);
            else if (rec && k == 999)
                prev_off = a, prev_len = l;
            else if (rec && k == 1000)
                fprintf(f, "r %llu %llu\n", prev_off, prev_len + 16 + l);
            else
                fprintf(f, "%.*s\n", (int)(e - q), q);
            k += rec;
            q = e + 1;
        }
        if (f)
            fclose(f);
        free(t);
        ix = NULL;
        EXPECT_OK(tfr_record_index_load(merged, &ix, &err), &err);
        const uint64_t rg[2][2] = {{500, 1000}, {900, NREC - 1}};
        for (int g = 0; ix && g < 2; g++) {
            tfr_record_reader *r = NULL;
            EXPECT_OK(tfr_record_reader_open_range(path, NULL, ix, rg[g][0], rg[g][1], &r, &err),
                      &err);
            const uint8_t *d;
            size_t dn;
            tfr_status st = TFR_ERR_ARG;
            uint64_t got = 0;
            while (r && (st = tfr_record_reader_next(r, &d, &dn, &err)) == TFR_OK)
                got++;
            EXPECT_STATUS(st, TFR_ERR_CORRUPT);
            EXPECT_CONTAINS(err.msg, "disagree");
            EXPECT(got == rg[g][1] - rg[g][0]);
            tfr_record_reader_close(r);
        }
        tfr_record_index_free(ix);
    }
    char bad_ix[700];
    snprintf(bad_ix, sizeof bad_ix, "%s/bad.index", dir);
    const struct { int line; const char *text; const char *msg; } cases[] = {
        {1, "tfrecord-index 2", "version"},
        {5, "records 99999999", "more records"},
        {7, "r 5 x", "a record line"},
        {8, "r 0 0", "out of order"},
        {3, "compression brotli", "unknown compression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        edit_index(ipath, bad_ix, cases[i].line, cases[i].text);
        ix = NULL;
        EXPECT_STATUS(tfr_record_index_load(bad_ix, &ix, &err), TFR_ERR_FORMAT);
        EXPECT(ix == NULL);
        EXPECT_CONTAINS(err.msg, cases[i].msg);
        EXPECT_CONTAINS(err.path, "bad.index");
    }
    /* indexes of files other writers made (TensorFlow, Hadoop, TFX): built by
     * tfrecord-inspect's pass, every record read back through them */
    {
        char g1[700], g2[700], idir[720];
        snprintf(g1, sizeof g1, "%s/*.tfrecord*", TFR_GOLDEN_DIR);
        snprintf(g2, sizeof g2, "%s/*.gz", TFR_GOLDEN_DIR);
        snprintf(idir, sizeof idir, "%s/golden-index", dir);
        const char *args[2] = {g1, g2};
        char **files = NULL;
        size_t nf = 0;
        EXPECT_OK(tfr_mkdir_p(idir, &err), &err);
        if (tfr_paths_expand(args, 2, &files, &nf, &err) == TFR_OK && nf) {
            tfr_inspect_opts io;
            tfr_inspect_opts_init(&io);
            io.index_dir = idir;
            tfr_inspect_report *r = NULL;
            EXPECT_OK(tfr_inspect((const char *const *)files, nf, &io, &r, &err), &err);
            EXPECT(r && r->indexed == nf);
            for (size_t f = 0; r && f < nf; f++) {
                const char *base = strrchr(files[f], '/');
                char ip[1500];
                snprintf(ip, sizeof ip, "%s/%s.index", idir, base ? base + 1 : files[f]);
                tfr_record_index *gx = NULL;
                EXPECT_OK(tfr_record_index_load(ip, &gx, &err), &err);
                tfr_record_reader *rd = NULL;
                EXPECT_OK(tfr_record_reader_open(files[f], NULL, &rd, &err), &err);
                const uint8_t *d;
                size_t dn;
                uint64_t k = 0;
                while (gx && rd && tfr_record_reader_next(rd, &d, &dn, &err) == TFR_OK) {
                    uint8_t *x = NULL;
                    size_t xn = 0;
                    EXPECT_OK(tfr_record_read_at(files[f], gx, k, &x, &xn, &err), &err);
                    if (!x || xn != dn || memcmp(x, d, dn))
                        FAILF("%s: record %llu through the index differs", files[f],
                              (unsigned long long)k);
                    free(x);
                    k++;
                }
                EXPECT(gx && k == tfr_record_index_count(gx) && k > 0);
                tfr_record_reader_close(rd);
                tfr_record_index_free(gx);
            }
            tfr_inspect_report_free(r);
        } else {
            printf("SKIP golden files: none in %s\n", TFR_GOLDEN_DIR);
        }
        tfr_paths_free(files, nf);
    }
    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
