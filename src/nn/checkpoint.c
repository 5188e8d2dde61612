/*
 * nn/checkpoint.c - checkpoints: save, load and checksum a model with its
 * training state.
 *
 * Checkpoint layout (little-endian):
 *   "TFRCKPT\0" | u32 version | i32 config[16] | u64 nparams | u64 nstats |
 *   u64 epoch, step, seed, stream_epoch, stream_records | f64 best_val_acc |
 *   f32 params[nparams] | f32 momentum[nparams] | f32 stats[nstats] |
 *   (version 2) u32 meta_bytes | meta | u32 crc32c
 * meta: f32 mean, std | i32 have_norm, first, nnames | nnames x (u32 len |
 * len bytes of UTF-8) | i32 have_schedule, epochs, lr_every, cosine,
 * warmup_epochs | f32 lr, lr_decay: the input normalization, the class
 * names of outputs first .. first + nnames - 1 (tfr_model_set_class_names)
 * and the run's learning-rate schedule.
 * config: in_h, in_w, in_c, classes, width, nlevels, tail_pool, levels[8],
 * block (0 bottleneck, 1 basic; 0 in files written before basic blocks).
 * The CRC-32C covers every byte before it. Version 1 files (no meta) load.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn_impl.h"
#include "tfrecord/checkpoint.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/fsio.h"

#define MAGIC "TFRCKPT"
#define VERSION 2u
#define NAME_MAX_BYTES 4096 /* per class name */
/* far above any model this trainer builds; bounds what a bad path can cost */
#define CKPT_MAX_BYTES ((size_t)1 << (sizeof(size_t) > 4 ? 36 : 31))

static void config_words(const tfr_resnet_config *c, int32_t w[16])
{
    memset(w, 0, 16 * sizeof *w);
    w[0] = c->in_h; w[1] = c->in_w; w[2] = c->in_c; w[3] = c->classes; w[4] = c->width;
    w[5] = c->nlevels; w[6] = c->tail_pool;
    for (int i = 0; i < TFR_MAX_LEVELS; i++)
        w[7 + i] = c->levels[i];
    w[15] = c->block; /* 0 (bottleneck) in the files written before basic blocks */
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
    {
        float norm[2] = {0, 0};
        int32_t hdr[3];
        hdr[0] = tfr_model_normalization(cm, &norm[0], &norm[1]);
        int first;
        int nn = tfr_model_class_names(cm, &first);
        hdr[1] = first;
        hdr[2] = nn;
        uint32_t mb = sizeof norm + sizeof hdr;
        for (int i = 0; i < nn; i++) {
            const char *s = tfr_model_class_name(cm, first + i);
            size_t l = s ? strlen(s) : 0;
            mb += 4 + (uint32_t)(l > NAME_MAX_BYTES ? NAME_MAX_BYTES : l);
        }
        mb += 5 * 4 + 2 * 4; /* the schedule */
        put(&b, &mb, 4);
        put(&b, norm, sizeof norm);
        put(&b, hdr, sizeof hdr);
        for (int i = 0; i < nn; i++) {
            const char *s = tfr_model_class_name(cm, first + i);
            size_t l = s ? strlen(s) : 0;
            uint32_t l32 = (uint32_t)(l > NAME_MAX_BYTES ? NAME_MAX_BYTES : l);
            put(&b, &l32, 4);
            put(&b, s ? s : "", l32);
        }
        int32_t sc[5] = {st->have_schedule, st->epochs, st->lr_every, st->cosine,
                         st->warmup_epochs};
        float sf[2] = {st->lr, st->lr_decay};
        put(&b, sc, sizeof sc);
        put(&b, sf, sizeof sf);
    }
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

/* The meta section: normalization and class names, each length checked
 * against the bytes the section has. */
static tfr_status read_meta(tfr_model *m, tfr_train_state *st, const uint8_t *p, uint32_t mb,
                            const char *path, tfr_error *err)
{
    float norm[2];
    int32_t hdr[3];
    if (mb < sizeof norm + sizeof hdr)
        return tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint meta section of %u bytes is short",
                        mb);
    memcpy(norm, p, sizeof norm);
    memcpy(hdr, p + sizeof norm, sizeof hdr);
    if (hdr[0] && norm[1] > 0 && isfinite(norm[0]) && isfinite(norm[1]))
        tfr_model_set_normalization(m, norm[0], norm[1]);
    int classes = tfr_model_config(m)->classes, first = hdr[1], nn = hdr[2];
    if (first < 0 || nn < 0 || first > classes || nn > classes - first)
        return tfr_fail(err, TFR_ERR_FORMAT, path,
                        "checkpoint names %d classes from output %d of %d", nn, first, classes);
    char **names = tfr_calloc(nn ? (size_t)nn : 1, sizeof *names);
    if (!names)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    size_t at = sizeof norm + sizeof hdr;
    tfr_status s = TFR_OK;
    for (int i = 0; i < nn && !s; i++) {
        uint32_t l;
        if (mb - at < 4 || (memcpy(&l, p + at, 4), l > NAME_MAX_BYTES) || mb - at - 4 < l) {
            s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint class name %d runs past its "
                         "section", i);
            break;
        }
        if (!(names[i] = tfr_strndup((const char *)p + at + 4, l)))
            s = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        at += 4 + l;
    }
    if (!s && mb - at == 28) { /* the schedule */
        int32_t sc[5];
        float sf[2];
        memcpy(sc, p + at, sizeof sc);
        memcpy(sf, p + at + sizeof sc, sizeof sf);
        st->have_schedule = sc[0] != 0;
        st->epochs = sc[1];
        st->lr_every = sc[2];
        st->cosine = sc[3];
        st->warmup_epochs = sc[4];
        st->lr = sf[0];
        st->lr_decay = sf[1];
        at += 28;
    }
    if (!s && at != mb)
        s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint meta section has %u bytes, its "
                     "names %zu", mb, at);
    if (!s && nn)
        s = tfr_model_set_class_names(m, (const char *const *)names, nn, first, err);
    for (int i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    return s;
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
    if (ver != 1 && ver != VERSION) {
        s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint version %u, expected 1..%u", ver,
                     VERSION);
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
    c.block = cw[15];
    uint64_t np, ns, s5[5];
    memcpy(&np, buf + 76, 8);
    memcpy(&ns, buf + 84, 8);
    memcpy(s5, buf + 92, 40);
    memcpy(&st->best_val_acc, buf + 132, 8);
    st->epoch = s5[0]; st->step = s5[1]; st->seed = s5[2];
    st->stream_epoch = s5[3]; st->stream_records = s5[4];
    /* the sizes the file declares must be the file's length before anything
     * is built from its config: a recomputed CRC authenticates nothing */
    size_t body = 0, meta_at = 0;
    uint32_t mb = 0;
    if (np <= TFR_MODEL_MAX_PARAMS && ns <= TFR_MODEL_MAX_PARAMS) {
        body = head + (2 * np + ns) * sizeof(float);
        if (ver >= 2 && n >= body + 8) {
            memcpy(&mb, buf + body, 4);
            meta_at = body + 4;
            body += 4 + (size_t)mb;
        }
    }
    if (np > TFR_MODEL_MAX_PARAMS || ns > TFR_MODEL_MAX_PARAMS || (ver >= 2 && !meta_at) ||
        n != body + 4) {
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
    if (np != mnp || ns != mns || n != body + 4) {
        tfr_model_free(m);
        s = tfr_fail(err, TFR_ERR_FORMAT, path, "checkpoint sizes do not match its config");
        goto done;
    }
    const uint8_t *p = buf + head;
    memcpy(params, p, np * sizeof(float));
    memcpy(mom, p + np * sizeof(float), np * sizeof(float));
    memcpy(stats, p + 2 * np * sizeof(float), ns * sizeof(float));
    st->have_schedule = 0;
    if (meta_at && (s = read_meta(m, st, buf + meta_at, mb, path, err))) {
        tfr_model_free(m);
        goto done;
    }
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
