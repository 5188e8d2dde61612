/*
 * tests/unit/test_memory.c - peak memory of the readers is set by their
 * options, not by what a file declares (the bounds stated in
 * tfrecord/record.h and tfrecord/stream.h).
 *
 * Each crafted input is read in a child process; the child's growth of peak
 * resident memory (getrusage ru_maxrss, after minus before) must stay under
 * the bound computed from the options, plus a fixed allowance for the
 * allocator and sanitizer bookkeeping. The inputs declare far more than
 * that: a record of 1 GiB in a 1 MB file (and one whose data does inflate
 * to 256 MiB), a float tensor of 16000 x 16000 x 3 with one float_val, a
 * JPEG of 46000 x 46000, a raw image whose shape claims 2^40 pixels. The
 * good records around each bad one must still come out (skip mode).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/image.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "tfrecord/util.h"

#define MiB ((size_t)1 << 20)
/* allocator arenas, thread stacks, sanitizer quarantine and shadow */
#define ALLOWANCE (48 * MiB)

static char dir[600];

typedef struct outcome {
    long     peak_kb;   /* growth of ru_maxrss in the child */
    int      status;    /* the last status of the read */
    uint64_t records;   /* records (or images) that came out */
    uint64_t skipped;
} outcome;

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Runs fn in a child; its peak-memory growth and results come back by pipe. */
static outcome in_child(void (*fn)(void *, outcome *), void *arg)
{
    outcome o = {-1, -1, 0, 0};
    int fd[2];
    if (pipe(fd) != 0) {
        FAILF("pipe");
        return o;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        outcome c = {0, 0, 0, 0};
        long before = maxrss_kb();
        fn(arg, &c);
        c.peak_kb = maxrss_kb() - before;
        ssize_t w = write(fd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 3);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &o, sizeof o);
    close(fd[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (got != (ssize_t)sizeof o || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        FAILF("reader child died (status 0x%x)", ws);
    return o;
}

/* ---- files ----------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

/* A record header declaring len bytes, with a valid length CRC. */
static void header(uint8_t h[12], uint64_t len)
{
    put_le(h, len, 8);
    put_le(h + 8, mask(tfr_crc32c(h, 8)), 4);
}

/* gzip of: one good record, a header declaring 1 GiB, then zeros bytes of
 * zeros (real data, which inflates, but far less than declared) */
static void write_gzip_claim(const char *path, size_t zeros)
{
    gzFile g = gzopen(path, "wb1");
    uint8_t h[12], t[4];
    const char good[] = "a good record";
    header(h, sizeof good);
    gzwrite(g, h, 12);
    gzwrite(g, good, sizeof good);
    put_le(t, mask(tfr_crc32c(good, sizeof good)), 4);
    gzwrite(g, t, 4);
    header(h, (uint64_t)1 << 30);
    gzwrite(g, h, 12);
    static uint8_t z[1 << 16];
    for (size_t done = 0; done < zeros; done += sizeof z)
        gzwrite(g, z, sizeof z);
    gzclose(g);
}

typedef struct read_arg {
    const char *path;
    int         skip;
} read_arg;

static void read_records(void *arg, outcome *c)
{
    const read_arg *a = arg;
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.skip_corrupt = a->skip;
    tfr_record_reader *r;
    tfr_error err;
    if ((c->status = tfr_record_reader_open(a->path, &o, &r, &err)))
        return;
    const uint8_t *d;
    size_t n;
    while ((c->status = tfr_record_reader_next(r, &d, &n, &err)) == TFR_OK)
        c->records++;
    tfr_reader_stats st;
    tfr_record_reader_stats(r, &st);
    c->skipped = st.corrupt_skipped;
    tfr_record_reader_close(r);
}

static void check_reader(void)
{
    tfr_reader_opts d;
    tfr_reader_opts_init(&d);
    /* record.h: the window (and its compressed input) plus one record
     * buffer of at most 16 MiB for a record that is not really there */
    const long bound_kb = (long)((2 * d.buf_bytes + 16 * MiB + ALLOWANCE) / 1024);
    char p[800];
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/claim-%d.gz", dir, k);
        write_gzip_claim(p, k ? 256 * MiB : MiB);
        for (int skip = 0; skip < 2; skip++) {
            read_arg a = {p, skip};
            outcome o = in_child(read_records, &a);
            printf("gzip, 1 GiB declared, %3zu MiB real, %s: peak +%ld KiB (bound %ld KiB)\n",
                   k ? (size_t)256 : (size_t)1, skip ? "skip   " : "strict ", o.peak_kb,
                   bound_kb);
            EXPECT(o.peak_kb >= 0 && o.peak_kb < bound_kb);
            EXPECT_EQ_U(o.records, 1); /* the good one, before the defect */
            EXPECT_EQ_I(o.status, skip ? TFR_ERR_EOF : TFR_ERR_CORRUPT);
        }
    }
    /* plain file: a 1 GiB claim in a 1 MB file */
    snprintf(p, sizeof p, "%s/claim.tfrecord", dir);
    FILE *f = fopen(p, "wb");
    uint8_t h[12];
    header(h, (uint64_t)1 << 30);
    fwrite(h, 1, 12, f);
    static uint8_t z[MiB];
    fwrite(z, 1, sizeof z, f);
    fclose(f);
    read_arg a = {p, 0};
    outcome o = in_child(read_records, &a);
    printf("plain, 1 GiB declared in 1 MiB: peak +%ld KiB (bound %ld KiB)\n", o.peak_kb, bound_kb);
    EXPECT(o.peak_kb >= 0 && o.peak_kb < bound_kb);
    EXPECT_EQ_I(o.status, TFR_ERR_CORRUPT);
}

/* ---- the stream -------------------------------------------------------------- */

enum { GOOD_RAW, BOMB_TENSOR, BOMB_JPEG, BOMB_RAW, GOOD_TENSOR };

static uint8_t small_jpeg[4096];
static size_t small_jpeg_len;

/* One Example of the given kind into w. */
static void append(tfr_record_writer *w, tfr_example_builder *b, int kind)
{
    tfr_error err;
    tfr_example_builder_reset(b);
    uint8_t buf[64], *owned = NULL; /* the builder points at the bytes until serialized */
    static uint8_t px[16 * 16 * 3];
    switch (kind) {
    case GOOD_RAW:
    case BOMB_RAW:
        tfr_example_add_bytes(b, "image/raw", px, sizeof px, &err);
        tfr_example_add_int64(b, "image/height", kind == BOMB_RAW ? (int64_t)1 << 20 : 16, &err);
        tfr_example_add_int64(b, "image/width", kind == BOMB_RAW ? (int64_t)1 << 20 : 16, &err);
        tfr_example_add_int64(b, "image/channels", 3, &err);
        break;
    case BOMB_TENSOR: {
        /* TensorProto{DT_FLOAT, shape [16000, 16000, 3], float_val: 0.5}:
         * TensorFlow would broadcast the one value to 3 GB */
        size_t n = 0;
        static const uint8_t shape[] = {0x12, 3, 0x08, 0x80, 0x7d,  /* dim 16000 */
                                        0x12, 3, 0x08, 0x80, 0x7d,  /* dim 16000 */
                                        0x12, 2, 0x08, 3};          /* dim 3 */
        buf[n++] = 0x08;
        buf[n++] = 1;
        buf[n++] = 0x12;
        buf[n++] = sizeof shape;
        memcpy(buf + n, shape, sizeof shape);
        n += sizeof shape;
        buf[n++] = 0x2a; /* float_val, packed */
        buf[n++] = 4;
        float half = 0.5f;
        memcpy(buf + n, &half, 4);
        n += 4;
        tfr_example_add_bytes(b, "img", buf, n, &err);
        break;
    }
    case GOOD_TENSOR: {
        static float fx[16 * 16 * 3];
        const int64_t shape[3] = {16, 16, 3};
        uint8_t *t;
        size_t tl;
        EXPECT_OK(tfr_tensor_serialize(TFR_DT_FLOAT, 3, shape, fx, &t, &tl, &err), &err);
        tfr_example_add_bytes(b, "img", t, tl, &err);
        owned = t;
        break;
    }
    case BOMB_JPEG: {
        /* a real 16x16 JPEG whose frame header says 46000 x 46000 */
        uint8_t *j = malloc(small_jpeg_len);
        memcpy(j, small_jpeg, small_jpeg_len);
        for (size_t i = 0; i + 8 < small_jpeg_len; i++)
            if (j[i] == 0xff && (j[i + 1] == 0xc0 || j[i + 1] == 0xc2)) {
                j[i + 5] = 46000 >> 8;
                j[i + 6] = 46000 & 255;
                j[i + 7] = 46000 >> 8;
                j[i + 8] = 46000 & 255;
                break;
            }
        tfr_example_add_bytes(b, "image/encoded", j, small_jpeg_len, &err);
        owned = j;
        break;
    }
    }
    tfr_example_add_int64(b, "label", 1, &err);
    const uint8_t *d;
    size_t n;
    EXPECT_OK(tfr_example_builder_serialize(b, &d, &n, &err), &err);
    EXPECT_OK(tfr_record_writer_append(w, d, n, &err), &err);
    free(owned);
}

/* good, bad, good records into path */
static void write_shard(const char *path, int good, int bad)
{
    tfr_error err;
    tfr_writer_opts wo;
    tfr_writer_opts_init(&wo);
    wo.sync = 0;
    tfr_record_writer *w;
    tfr_example_builder *b;
    EXPECT_OK(tfr_record_writer_open(path, &wo, &w, &err), &err);
    EXPECT_OK(tfr_example_builder_new(&b, &err), &err);
    append(w, b, good);
    append(w, b, bad);
    append(w, b, good);
    EXPECT_OK(tfr_record_writer_close(w, NULL, &err), &err);
    tfr_example_builder_free(b);
}

typedef struct stream_arg {
    const char *path;
    int         skip;
    tfr_stream_opts o;
} stream_arg;

static void read_stream(void *arg, outcome *c)
{
    stream_arg *a = arg;
    const char *src[1] = {a->path};
    a->o.sources = src;
    a->o.nsources = 1;
    a->o.record.skip_corrupt = a->skip;
    tfr_stream *s;
    tfr_error err;
    if ((c->status = tfr_stream_open(&a->o, &s, &err)))
        return;
    const tfr_batch *bt;
    while ((c->status = tfr_stream_next(s, &bt, &err)) == TFR_OK)
        c->records += (uint64_t)bt->n;
    tfr_stream_stats st;
    tfr_stream_get_stats(s, &st);
    c->skipped = st.corrupt_skipped;
    tfr_stream_close(s);
}

/* stream.h's bound for these options (T threads, one reader per file) */
static size_t stream_bound(const tfr_stream_opts *o)
{
    size_t P = (size_t)o->width * o->height * o->channels;
    size_t e = o->format == TFR_BATCH_U8_NHWC ? 1 : 4;
    size_t R = (size_t)o->prefetch + 2, T = (size_t)o->threads;
    size_t tensor = 16 * 4 * P > TFR_STREAM_TENSOR_MIN_BYTES ? 16 * 4 * P
                                                               : TFR_STREAM_TENSOR_MIN_BYTES;
    size_t per_thread = (size_t)o->max_pixels * 3 + 2 * P + tensor;
    tfr_reader_opts d;
    tfr_reader_opts_init(&d);
    size_t reader = 2 * d.buf_bytes + 16 * MiB;
    size_t records = (o->shuffle_buffer + 4 * T + 4 + R * (size_t)o->batch_size) * 4096;
    return R * (size_t)o->batch_size * P * e + T * per_thread + reader + records;
}

static void check_stream(void)
{
    tfr_error err;
    tfr_image_ctx *ctx;
    EXPECT_OK(tfr_image_ctx_new(&ctx, &err), &err);
    tfr_image im = {0};
    EXPECT_OK(tfr_image_alloc(&im, 16, 16, 3, &err), &err);
    memset(im.px, 128, 16 * 16 * 3);
    uint8_t *j;
    EXPECT_OK(tfr_image_encode_jpeg(ctx, &im, 90, &j, &small_jpeg_len, &err), &err);
    EXPECT(small_jpeg_len <= sizeof small_jpeg);
    memcpy(small_jpeg, j, small_jpeg_len);
    free(j);
    tfr_image_free(&im);
    tfr_image_ctx_free(ctx);

    static const struct {
        const char *what;
        int good, bad;
        tfr_batch_format format;
    } cases[] = {
        {"float tensor 16000x16000x3 (float_val)", GOOD_TENSOR, BOMB_TENSOR, TFR_BATCH_F32_NHWC},
        {"JPEG declaring 46000x46000", GOOD_RAW, BOMB_JPEG, TFR_BATCH_U8_NHWC},
        {"raw image shaped 2^20 x 2^20", GOOD_RAW, BOMB_RAW, TFR_BATCH_U8_NHWC},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char p[800];
        snprintf(p, sizeof p, "%s/bomb-%zu.tfrecord.gz", dir, k);
        write_shard(p, cases[k].good, cases[k].bad);
        for (int skip = 0; skip < 2; skip++) {
            stream_arg a = {p, skip, {0}};
            tfr_stream_opts_init(&a.o);
            a.o.width = a.o.height = 16;
            a.o.batch_size = 2;
            a.o.threads = 2;
            a.o.shuffle_buffer = 4;
            a.o.format = cases[k].format;
            a.o.max_pixels = (uint64_t)1 << 20;
            long bound_kb = (long)((stream_bound(&a.o) + ALLOWANCE) / 1024);
            outcome o = in_child(read_stream, &a);
            printf("stream, %s, %s: peak +%ld KiB (bound %ld KiB)\n", cases[k].what,
                   skip ? "skip" : "strict", o.peak_kb, bound_kb);
            EXPECT(o.peak_kb >= 0 && o.peak_kb < bound_kb);
            if (skip) {
                EXPECT_EQ_I(o.status, TFR_ERR_EOF);
                EXPECT_EQ_U(o.records, 2); /* both good records */
                EXPECT_EQ_U(o.skipped, 1);
            } else {
                EXPECT(o.status == TFR_ERR_FORMAT || o.status == TFR_ERR_CORRUPT);
            }
        }
    }
    /* the output size from the first image, over max_pixels: refused at open */
    char p[800];
    snprintf(p, sizeof p, "%s/first-big.tfrecord.gz", dir);
    write_shard(p, GOOD_RAW, GOOD_RAW);
    stream_arg a = {p, 0, {0}};
    tfr_stream_opts_init(&a.o);
    a.o.max_pixels = 255; /* the 16x16 first image has 256 */
    outcome o = in_child(read_stream, &a);
    EXPECT(o.status == TFR_ERR_FORMAT || o.status == TFR_ERR_ARG);
    a.o.max_pixels = 256;
    o = in_child(read_stream, &a);
    EXPECT_EQ_I(o.status, TFR_ERR_EOF);
    EXPECT_EQ_U(o.records, 3);
}

int main(void)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    snprintf(dir, sizeof dir, "%s", test_tmpdir("memory"));
    check_reader();
    check_stream();
    if (!getenv("TFR_KEEP"))
        test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
