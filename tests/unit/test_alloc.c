/*
 * tests/unit/test_alloc.c - out of memory at every allocation.
 *
 * For each operation (write a small dataset, open and read a stream in both
 * error modes, save and load a checkpoint, read records of every
 * compression, export an ONNX model) the operation first runs untouched, counting the library's
 * allocations (util/alloc.h) and taking a digest of its result. Then it runs
 * again once per allocation N, with the N-th made to fail. Each run must end
 * either with TFR_ERR_NOMEM and a message, or, where the failure could be
 * recovered from, with exactly the untouched result: never a crash, a
 * different result reported as success, an out-of-memory passed off as bad
 * data (or skipped as a corrupt record), or, after a failed write, a shard
 * set that readers accept. Under ASan every such run is also checked for
 * leaks and double frees (at exit, by LeakSanitizer).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tfrecord/checkpoint.h"
#include "tfrecord/dataset.h"
#include "tfrecord/image.h"
#include "tfrecord/manifest.h"
#include "tfrecord/model.h"
#include "tfrecord/onnx.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "tfrecord/util.h"
#include "util/alloc.h"

static char dir[600], tree[700], shards[700];

/* TFR_ALLOC_TRACE=1: the stack of each injected failure (sanitizer builds) */
void __sanitizer_print_stack_trace(void) __attribute__((weak));
static void print_stack(void)
{
    fprintf(stderr, "---- injected failure\n");
    if (__sanitizer_print_stack_trace)
        __sanitizer_print_stack_trace();
}

typedef struct result {
    tfr_status st;
    tfr_error  err;
    uint32_t   digest;
} result;

typedef result (*op_fn)(void *arg);

/* Runs op untouched, then with each allocation failing in turn. */
static void every_failure(const char *name, op_fn op, void *arg)
{
    tfr_alloc_fail_at(0);
    result base = op(arg);
    uint64_t total = tfr_alloc_count();
    if (base.st != TFR_OK) {
        char b[4400];
        FAILF("%s: untouched run failed: %s", name, tfr_error_text(&base.err, b, sizeof b));
        return;
    }
    EXPECT(total > 0);
    int failed = 0, recovered = 0, bad = 0;
    /* a margin past the untouched count: threads may allocate a little more */
    for (uint64_t n = 1; n <= total + total / 8 + 4; n++) {
        tfr_alloc_fail_at(n);
        result r = op(arg);
        int fired = tfr_alloc_fired();
        tfr_alloc_fail_at(0);
        if (!fired) {
            if (r.st != TFR_OK || r.digest != base.digest) {
                FAILF("%s: no failure injected at %llu, yet status %s", name,
                      (unsigned long long)n, tfr_status_str(r.st));
                bad++;
            }
            continue;
        }
        if (r.st == TFR_OK) {
            if (r.digest != base.digest) {
                FAILF("%s: allocation %llu failed, the run reported success with another result",
                      name, (unsigned long long)n);
                bad++;
            }
            recovered++;
            if (getenv("TFR_ALLOC_TRACE"))
                fprintf(stderr, "RECOVERED %s at %llu\n", name, (unsigned long long)n);
        } else if (r.st != TFR_ERR_NOMEM || !r.err.msg[0]) {
            char b[4400];
            FAILF("%s: allocation %llu failed, reported as %s: %s", name, (unsigned long long)n,
                  tfr_status_str(r.st), tfr_error_text(&r.err, b, sizeof b));
            bad++;
        } else {
            failed++;
        }
        if (bad > 10)
            break;
    }
    printf("%-28s %6llu allocations: %d out-of-memory errors, %d recovered, %d wrong\n", name,
           (unsigned long long)total, failed, recovered, bad);
    EXPECT(failed > 0);
}

/* ---- inputs ------------------------------------------------------------- */

static void make_tree(void)
{
    tfr_error err;
    tfr_image_ctx *ctx;
    EXPECT_OK(tfr_image_ctx_new(&ctx, &err), &err);
    for (int i = 0; i < 6; i++) {
        tfr_image im = {0};
        EXPECT_OK(tfr_image_alloc(&im, 12 + i, 10, 3, &err), &err);
        for (size_t k = 0; k < (size_t)im.w * im.h * 3; k++)
            im.px[k] = (uint8_t)(k * 7 + i * 40);
        uint8_t *jpg;
        size_t n;
        EXPECT_OK(tfr_image_encode_jpeg(ctx, &im, 90, &jpg, &n, &err), &err);
        char p[800];
        snprintf(p, sizeof p, "%s/%s", tree, i % 2 ? "cat" : "dog");
        test_system("mkdir -p '%s'", p);
        snprintf(p, sizeof p, "%s/%s/%d.jpg", tree, i % 2 ? "cat" : "dog", i);
        EXPECT(test_write_file(p, jpg, n) == 0);
        free(jpg);
        tfr_image_free(&im);
    }
    /* a file that is not an image: reported and skipped, every time */
    char p[800];
    snprintf(p, sizeof p, "%s/cat/notes.jpg", tree);
    EXPECT(test_write_file(p, "not a jpeg", 10) == 0);
    tfr_image_ctx_free(ctx);
}

/* ---- operations ------------------------------------------------------------ */

static result op_write(void *arg)
{
    (void)arg;
    result r = {0};
    char out[800];
    snprintf(out, sizeof out, "%s/out", dir);
    test_rmtree(out);
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    const char *roots[1] = {tree};
    o.roots = roots;
    o.nroots = 1;
    o.out_dir = out;
    o.width = o.height = 8;
    o.shards = 2;
    o.threads = 2;
    o.record.sync = 0;
    tfr_write_report *rep = NULL;
    r.st = tfr_write_dataset(&o, &rep, &r.err);
    if (r.st == TFR_OK) {
        uint32_t d = 0;
        for (size_t i = 0; i < rep->nshards; i++) {
            d = tfr_crc32c_extend(d, rep->shards[i].file, strlen(rep->shards[i].file));
            d = tfr_crc32c_extend(d, &rep->shards[i].crc32c, 4);
            d = tfr_crc32c_extend(d, &rep->shards[i].records, 8);
        }
        d = tfr_crc32c_extend(d, &rep->nskipped, sizeof rep->nskipped);
        r.digest = d;
    } else {
        /* nothing a reader would take for a finished set */
        const char *src[1] = {out};
        tfr_shard_source *ss = NULL;
        size_t ns = 0;
        tfr_error e2;
        tfr_alloc_fail_at(0);
        if (tfr_shardset_expand(src, 1, &ss, &ns, &e2) == TFR_OK && ns > 0)
            FAILF("a failed write (%s) left a shard set readers accept", r.err.msg);
        tfr_shardset_free(ss, ns);
    }
    tfr_write_report_free(rep);
    return r;
}

typedef struct stream_arg {
    int skip_corrupt;
    int threads;
} stream_arg;

static result op_stream(void *arg)
{
    const stream_arg *a = arg;
    result r = {0};
    tfr_stream_opts o;
    tfr_stream_opts_init(&o);
    const char *src[1] = {shards};
    o.sources = src;
    o.nsources = 1;
    o.batch_size = 2;
    o.width = o.height = 8;
    o.threads = a->threads;
    o.shuffle_buffer = 4;
    o.random_flip = 1;
    o.format = TFR_BATCH_F32_NCHW;
    o.record.skip_corrupt = a->skip_corrupt;
    tfr_stream *s = NULL;
    if ((r.st = tfr_stream_open(&o, &s, &r.err)))
        return r;
    const tfr_batch *b;
    uint32_t d = 0;
    while ((r.st = tfr_stream_next(s, &b, &r.err)) == TFR_OK) {
        d = tfr_crc32c_extend(d, b->data, (size_t)b->n * b->w * b->h * b->c * sizeof(float));
        d = tfr_crc32c_extend(d, b->labels, (size_t)b->n * sizeof *b->labels);
    }
    if (r.st == TFR_ERR_EOF) {
        tfr_stream_stats ss;
        tfr_stream_get_stats(s, &ss);
        d = tfr_crc32c_extend(d, &ss.corrupt_skipped, 8);
        r.st = TFR_OK;
    }
    r.digest = d;
    tfr_stream_close(s);
    return r;
}

static char ckpt[800];

static result op_checkpoint(void *arg)
{
    (void)arg;
    result r = {0};
    tfr_model *m = NULL;
    tfr_train_state st;
    if ((r.st = tfr_checkpoint_load(ckpt, &m, &st, &r.err)))
        return r;
    float *p;
    if ((r.st = tfr_model_params(m, &p, &r.err)) == TFR_OK)
        r.digest = tfr_crc32c(p, tfr_model_num_params(m) * sizeof(float)) ^ (uint32_t)st.step;
    tfr_model_free(m);
    return r;
}

static result op_save(void *arg)
{
    tfr_model *m = arg;
    result r = {0};
    char p[900];
    snprintf(p, sizeof p, "%s/saved.tfrc", dir);
    tfr_train_state st = {.epoch = 1, .step = 7};
    if ((r.st = tfr_checkpoint_save(p, m, &st, &r.err)))
        return r;
    size_t n;
    uint8_t *b = test_read_file(p, &n);
    r.digest = b ? tfr_crc32c(b, n) : 0;
    free(b);
    return r;
}

/* an ONNX export: the file's bytes, or no file at all after a failure */
static result op_onnx(void *arg)
{
    tfr_model *m = arg;
    result r = {0};
    char p[900];
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    unlink(p);
    tfr_onnx_summary s;
    if ((r.st = tfr_onnx_export(m, p, NULL, &s, &r.err))) {
        tfr_alloc_fail_at(0);
        if (access(p, F_OK) == 0)
            FAILF("a failed ONNX export (%s) left %s", r.err.msg, p);
        return r;
    }
    size_t n;
    uint8_t *b = test_read_file(p, &n);
    r.digest = b ? tfr_crc32c(b, n) ^ (uint32_t)s.params : 0;
    free(b);
    tfr_onnx_summary_free(&s);
    return r;
}

typedef struct records_arg {
    char path[800];
    int  skip_corrupt;
} records_arg;

static result op_records(void *arg)
{
    const records_arg *a = arg;
    result r = {0};
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    o.skip_corrupt = a->skip_corrupt;
    tfr_record_reader *rd;
    if ((r.st = tfr_record_reader_open(a->path, &o, &rd, &r.err)))
        return r;
    const uint8_t *d;
    size_t n;
    uint32_t c = 0;
    while ((r.st = tfr_record_reader_next(rd, &d, &n, &r.err)) == TFR_OK)
        c = tfr_crc32c_extend(c, d, n);
    if (r.st == TFR_ERR_EOF)
        r.st = TFR_OK;
    r.digest = c;
    tfr_record_reader_close(rd);
    return r;
}

int main(void)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    if (getenv("TFR_ALLOC_TRACE"))
        tfr_alloc_on_fail(print_stack);
    snprintf(dir, sizeof dir, "%s", test_tmpdir("alloc"));
    snprintf(tree, sizeof tree, "%s/tree", dir);
    make_tree();

    every_failure("write a dataset", op_write, NULL);

    /* the shards the stream reads: a fresh, untouched write */
    tfr_alloc_fail_at(0);
    result w = op_write(NULL);
    EXPECT_OK(w.st, &w.err);
    snprintf(shards, sizeof shards, "%s/out", dir);
    stream_arg sa[3] = {{0, 1}, {1, 1}, {0, 2}};
    every_failure("stream, 1 thread", op_stream, &sa[0]);
    every_failure("stream, skip_corrupt", op_stream, &sa[1]);
    every_failure("stream, 2 threads", op_stream, &sa[2]);

    /* records of each compression, both modes */
    static const tfr_compression comps[3] = {TFR_COMPRESS_GZIP, TFR_COMPRESS_ZLIB,
                                             TFR_COMPRESS_NONE};
    for (int c = 0; c < 3; c++) {
        records_arg ra;
        snprintf(ra.path, sizeof ra.path, "%s/recs-%d", dir, c);
        tfr_writer_opts wo;
        tfr_writer_opts_init(&wo);
        wo.compression = comps[c];
        wo.sync = 0;
        tfr_record_writer *rw;
        tfr_error err;
        EXPECT_OK(tfr_record_writer_open(ra.path, &wo, &rw, &err), &err);
        uint8_t big[300000];
        test_fill_random(big, sizeof big, 5);
        for (int i = 0; i < 5; i++)
            EXPECT_OK(tfr_record_writer_append(rw, big, i == 2 ? sizeof big : 100u * i, &err),
                      &err);
        EXPECT_OK(tfr_record_writer_close(rw, NULL, &err), &err);
        char name[64];
        for (ra.skip_corrupt = 0; ra.skip_corrupt < 2; ra.skip_corrupt++) {
            snprintf(name, sizeof name, "records, %s%s", tfr_compression_name(comps[c]),
                     ra.skip_corrupt ? ", skip" : "");
            every_failure(name, op_records, &ra);
        }
    }

    /* checkpoints */
    tfr_resnet_config cfg;
    tfr_error err;
    EXPECT_OK(tfr_resnet_preset("tiny", &cfg, &err), &err);
    tfr_model *m;
    EXPECT_OK(tfr_model_new(&cfg, 3, &m, &err), &err);
    every_failure("save a checkpoint", op_save, m);
    snprintf(ckpt, sizeof ckpt, "%s/saved.tfrc", dir);
    every_failure("load a checkpoint", op_checkpoint, NULL);
    every_failure("export ONNX", op_onnx, m);
    tfr_model_free(m);

    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
