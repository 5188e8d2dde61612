/*
 * nn/checkpoint.c - checkpoints: save, load and checksum a model with its
 * training state.
 *
 * Checkpoint layout (little-endian):
 *   "TFRCKPT\0" | u32 version | i32 config[16] | u64 nparams | u64 nstats |
 *   u64 epoch, step, seed, stream_epoch, stream_records | f64 best_val_acc |
 *   f32 params[nparams] | f32 momentum[nparams] | f32 stats[nstats] | u32 crc32c
 * The CRC-32C covers every byte before it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn_impl.h"
#include "tfrecord/checkpoint.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "util/fsio.h"

#define MAGIC "TFRCKPT"
#define VERSION 1u
/* far above any model this trainer builds; bounds what a bad path can cost */
#define CKPT_MAX_BYTES ((size_t)1 << (sizeof(size_t) > 4 ? 36 : 31))

static void config_words(const tfr_resnet_config *c, int32_t w[16])
{
    memset(w, 0, 16 * sizeof *w);
    w[0] = c->in_h; w[1] = c->in_w; w[2] = c->in_c; w[3] = c->classes; w[4] = c->width;
    w[5] = c->nlevels; w[6] = c->tail_pool;
    for (int i = 0; i < TFR_MAX_LEVELS; i++)
        w[7 + i] = c->levels[i];
}

typedef struct wbuf {
    FILE    *f;
    uint32_t crc;
    int      bad;
} wbuf;

static void put(wbuf *b, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, b->f) != n)
        b->bad = 1;
    b->crc = tfr_crc32c_extend(b->crc, p, n);
}

tfr_status tfr_checkpoint_save(const char *path, const tfr_model *cm, const tfr_train_state *st,
                               tfr_error *err)
{
    /* the device's newest values, read without sending them back afterwards */
    tfr_status fetched = tfr_model_to_host((tfr_model *)cm, err);
    if (fetched)
        return fetched;
    tfr_atomic_file af;
    tfr_status st0 = tfr_atomic_open(&af, path, NULL, TFR_ATOMIC_STDIO, err);
    if (st0)
        return st0;
    FILE *f = af.f;
    wbuf b = {f, 0, 0};
    put(&b, MAGIC, 8);
    uint32_t ver = VERSION;
    put(&b, &ver, 4);
    int32_t cw[16];
    config_words(tfr_model_config(cm), cw);
    put(&b, cw, sizeof cw);
    size_t np, ns;
    const float *params = tfr_model_block_view(cm, TFR_BLOCK_PARAMS, &np);
    const float *mom = tfr_model_block_view(cm, TFR_BLOCK_MOM, &np);
    const float *stats = tfr_model_block_view(cm, TFR_BLOCK_STATS, &ns);
    uint64_t np64 = np, ns64 = ns;
    put(&b, &np64, 8);
    put(&b, &ns64, 8);
    uint64_t s5[5] = {st->epoch, st->step, st->seed, st->stream_epoch, st->stream_records};
    put(&b, s5, sizeof s5);
    put(&b, &st->best_val_acc, 8);
    put(&b, params, np * sizeof(float));
    put(&b, mom, np * sizeof(float));
    put(&b, stats, ns * sizeof(float));
    uint32_t crc = b.crc;
    put(&b, &crc, 4);
    if (b.bad) {
        tfr_status s = tfr_fail_errno(err, TFR_ERR_IO, af.tmp, "write");
        tfr_atomic_abort(&af);
        return s;
    }
    return tfr_atomic_commit(&af, err);
}

static uint8_t *read_all(const char *path, size_t *n, tfr_error *err)
{
    uint8_t *buf;
    if (tfr_read_file(path, CKPT_MAX_BYTES, "checkpoint", &buf, n, err))
        return NULL;
    if (*n == 0) {
        free(buf);
        tfr_fail(err, TFR_ERR_CORRUPT, path, "cannot read checkpoint");
        return NULL;
    }
    return buf;
}

tfr_status tfr_checkpoint_load(const char *path, tfr_model **out, tfr_train_state *st,
                               tfr_error *err)
{
    *out = NULL;
    size_t n;
    uint8_t *buf = read_all(path, &n, err);
    if (!buf)
        return err ? err->code : TFR_ERR_IO;
    tfr_status s = TFR_OK;
    const size_t head = 8 + 4 + 64 + 16 + 40 + 8;
    uint32_t ver, crc;
    if (n < head + 4 || memcmp(buf, MAGIC, 8)) {
        s = tfr_fail(err, TFR_ERR_FORMAT, path, "not a tfrecord-train checkpoint");
        goto done;
    }
    memcpy(&crc, buf + n - 4, 4);
    if (tfr_crc32c(buf, n - 4) != crc) {
        s = tfr_fail(err, TFR_ERR_CORRUPT, path, "checkpoint CRC mismatch (truncated or damaged)");
        goto done;
    }
    memcpy(&ver, buf + 8, 4);
    if (ver != VERSION) {
        s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint version %u, expected %u", ver, VERSION);
        goto done;
    }
    int32_t cw[16];
    memcpy(cw, buf + 12, sizeof cw);
    tfr_resnet_config c;
    memset(&c, 0, sizeof c);
    c.in_h = cw[0]; c.in_w = cw[1]; c.in_c = cw[2]; c.classes = cw[3]; c.width = cw[4];
    c.nlevels = cw[5]; c.tail_pool = cw[6];
    for (int i = 0; i < TFR_MAX_LEVELS; i++)
        c.levels[i] = cw[7 + i];
    uint64_t np, ns, s5[5];
    memcpy(&np, buf + 76, 8);
    memcpy(&ns, buf + 84, 8);
    memcpy(s5, buf + 92, 40);
    memcpy(&st->best_val_acc, buf + 132, 8);
    st->epoch = s5[0]; st->step = s5[1]; st->seed = s5[2];
    st->stream_epoch = s5[3]; st->stream_records = s5[4];
    /* the sizes the file declares must be the file's length before anything
     * is built from its config: a recomputed CRC authenticates nothing */
    if (np > TFR_MODEL_MAX_PARAMS || ns > TFR_MODEL_MAX_PARAMS ||
        n != head + (2 * np + ns) * sizeof(float) + 4) {
        s = tfr_fail(err, TFR_ERR_FORMAT, path,
                     "checkpoint declares %llu parameters and %llu statistics for %zu bytes",
                     (unsigned long long)np, (unsigned long long)ns, n);
        goto done;
    }
    tfr_model *m;
    if ((s = tfr_model_new_bounded(&c, 0, (size_t)np, &m, err))) {
        if (s == TFR_ERR_ARG) /* a config this library would not build */
            s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint config: %s", err ? err->msg : "bad");
        goto done;
    }
    size_t mnp, mns;
    float *params, *mom, *stats;
    if ((s = tfr_model_block(m, TFR_BLOCK_PARAMS, &params, &mnp, err)) ||
        (s = tfr_model_block(m, TFR_BLOCK_MOM, &mom, &mnp, err)) ||
        (s = tfr_model_block(m, TFR_BLOCK_STATS, &stats, &mns, err))) {
        tfr_model_free(m);
        goto done;
    }
    if (np != mnp || ns != mns ||
        n != head + (2 * np + ns) * sizeof(float) + 4) {
        tfr_model_free(m);
        s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint sizes do not match its config");
        goto done;
    }
    const uint8_t *p = buf + head;
    memcpy(params, p, np * sizeof(float));
    memcpy(mom, p + np * sizeof(float), np * sizeof(float));
    memcpy(stats, p + 2 * np * sizeof(float), ns * sizeof(float));
    *out = m;
done:
    free(buf);
    return s;
}

tfr_status tfr_checkpoint_checksum(const char *path, uint32_t *crc, tfr_error *err)
{
    size_t n;
    uint8_t *buf = read_all(path, &n, err);
    if (!buf)
        return err ? err->code : TFR_ERR_IO;
    /* over the content only: a CRC taken over data followed by its own CRC is
     * the same constant for every file (the CRC residue) */
    *crc = tfr_crc32c(buf, n >= 4 ? n - 4 : n);
    free(buf);
    return TFR_OK;
}
