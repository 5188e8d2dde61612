/*
 * retrain/bncache.c - the bottleneck cache and its staleness rules.
 *
 * CACHE/bottlenecks.tfrecord.gz holds one record per image, {bottleneck:
 * float_list, label: int64, filename: bytes}; CACHE/cache.json names the
 * fingerprint (backbone checkpoint's CRC-32C, input size, normalization),
 * the classes and each image's identity (path, size, CRC-32C of its bytes).
 * A different fingerprint, or records that do not read back cleanly, and
 * the whole cache is rebuilt; otherwise only new or changed images go
 * through the backbone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retrain/retrain_impl.h"
#include "tfrecord/example.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/fsio.h"

void tfr_bncache_fingerprint(char *fp, size_t n, uint32_t backbone_crc,
                             const tfr_resnet_config *c, float mean, float std)
{
    snprintf(fp, n, "backbone %08x; %dx%dx%d; mean %g std %g; v1", backbone_crc, c->in_h, c->in_w,
             c->in_c, mean, std);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const tfr_bncache_entry *)a)->rel, ((const tfr_bncache_entry *)b)->rel);
}

tfr_bncache_entry *tfr_bncache_find(const tfr_bncache *c, const char *rel)
{
    tfr_bncache_entry key = {.rel = (char *)rel};
    return c->n ? bsearch(&key, c->e, c->n, sizeof *c->e, entry_cmp) : NULL;
}

void tfr_bncache_free(tfr_bncache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].rel);
        free(c->e[i].vec);
    }
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

int tfr_bncache_load(const char *dir, const char *fp, int dim, tfr_bncache *c, char *reason,
                     size_t rn)
{
    char mp[4400], sp[4400];
    tfr_path_join(mp, sizeof mp, dir, "cache.json", NULL);
    tfr_path_join(sp, sizeof sp, dir, "bottlenecks.tfrecord.gz", NULL);
    tfr_json *m = NULL;
    tfr_error e;
    if (access(mp, F_OK) != 0) {
        snprintf(reason, rn, "no cache yet");
        return 0;
    }
    if (tfr_json_load(mp, &m, &e)) {
        snprintf(reason, rn, "cache.json unreadable (%.160s)", e.msg);
        return 0;
    }
    const char *old = tfr_json_get_str(m, "fingerprint");
    if (!old || strcmp(old, fp)) {
        snprintf(reason, rn, "the backbone or the preprocessing changed");
        tfr_json_free(m);
        return 0;
    }
    const tfr_json *imgs = tfr_json_get(m, "images");
    size_t n = 0;
    for (const tfr_json *x = imgs ? imgs->child : NULL; x; x = x->next)
        n++;
    c->e = tfr_calloc(n ? n : 1, sizeof *c->e);
    c->n = 0;
    for (const tfr_json *x = imgs ? imgs->child : NULL; x && c->e; x = x->next) {
        const char *rel = tfr_json_get_str(x, "path"), *crc = tfr_json_get_str(x, "crc32c");
        if (!rel || !crc)
            continue;
        /* a size outside what a file can have (or no size) makes the entry
         * match nothing: converting such a double to uint64_t is undefined */
        double sz = tfr_json_get_num(x, "size", -1);
        if (!(sz >= 0 && sz <= 9007199254740992.0))
            continue;
        tfr_bncache_entry *en = &c->e[c->n++];
        en->rel = tfr_strdup(rel);
        en->size = (uint64_t)sz;
        en->crc = (uint32_t)strtoul(crc, NULL, 16);
    }
    tfr_json_free(m);
    if (c->n)
        qsort(c->e, c->n, sizeof *c->e, entry_cmp);
    /* the vectors: every record must read back, or nothing is trusted */
    tfr_record_reader *r;
    tfr_example *ex = NULL;
    int ok = !tfr_record_reader_open(sp, NULL, &r, &e) && !tfr_example_new(&ex, &e);
    size_t got = 0;
    if (ok) {
        const uint8_t *d;
        size_t len;
        tfr_status st;
        while ((st = tfr_record_reader_next(r, &d, &len, &e)) == TFR_OK) {
            const float *v;
            size_t vn;
            const uint8_t *fnm;
            size_t fl;
            if (tfr_example_parse(ex, d, len, &e) ||
                tfr_example_get_float(ex, "bottleneck", &v, &vn, &e) || vn != (size_t)dim ||
                tfr_example_get_bytes_scalar(ex, "filename", &fnm, &fl, &e)) {
                ok = 0;
                break;
            }
            char name[4400];
            snprintf(name, sizeof name, "%.*s", (int)(fl < 4399 ? fl : 4399), (const char *)fnm);
            tfr_bncache_entry *en = tfr_bncache_find(c, name);
            if (en && !en->vec) {
                en->vec = tfr_malloc((size_t)dim * sizeof(float));
                if (en->vec)
                    memcpy(en->vec, v, (size_t)dim * sizeof(float));
                got++;
            }
        }
        if (st != TFR_ERR_EOF)
            ok = 0;
        tfr_record_reader_close(r);
    }
    tfr_example_free(ex);
    if (!ok || got != c->n) {
        snprintf(reason, rn, "the cached bottlenecks do not read back cleanly (%.160s)",
                 ok ? "records missing" : e.msg);
        tfr_bncache_free(c);
        return 0;
    }
    return 1;
}

float *tfr_bncache_take(tfr_bncache *c, const char *rel, uint64_t size, uint32_t crc)
{
    tfr_bncache_entry *en = tfr_bncache_find(c, rel);
    if (!en || !en->vec || en->size != size || en->crc != crc)
        return NULL;
    float *v = en->vec;
    en->vec = NULL;
    return v;
}

tfr_status tfr_bncache_save(const char *dir, const char *fp, int dim, const tfr_retrain_image *im,
                            size_t n, const tfr_scan *s, tfr_error *err)
{
    char sp[4400], mp[4400];
    if (tfr_path_join(sp, sizeof sp, dir, "bottlenecks.tfrecord.gz", NULL) ||
        tfr_path_join(mp, sizeof mp, dir, "cache.json", NULL))
        return tfr_fail(err, TFR_ERR_ARG, dir, "path too long");
    /* the manifest goes first out of the way: a crash never pairs new data with old */
    unlink(mp);
    tfr_record_writer *w;
    tfr_status st = tfr_record_writer_open(sp, NULL, &w, err);
    if (st)
        return st;
    tfr_example_builder *b;
    if ((st = tfr_example_builder_new(&b, err))) {
        tfr_record_writer_abort(w);
        return st;
    }
    for (size_t i = 0; i < n && !st; i++) {
        tfr_example_builder_reset(b);
        const uint8_t *d;
        size_t len;
        if (!(st = tfr_example_add_float_list(b, "bottleneck", im[i].vec, (size_t)dim, err)) &&
            !(st = tfr_example_add_int64(b, "label", im[i].it->cls, err)) &&
            !(st = tfr_example_add_string(b, "filename", im[i].it->rel, err)) &&
            !(st = tfr_example_builder_serialize(b, &d, &len, err)))
            st = tfr_record_writer_append(w, d, len, err);
    }
    tfr_example_builder_free(b);
    if (st) {
        tfr_record_writer_abort(w);
        return st;
    }
    if ((st = tfr_record_writer_close(w, NULL, err)))
        return st;
    tfr_atomic_file af;
    if ((st = tfr_atomic_open(&af, mp, NULL, TFR_ATOMIC_STDIO, err)))
        return st;
    FILE *f = af.f;
    fprintf(f, "{\n  \"tool\": \"tfrecord-retrain\",\n  \"fingerprint\": \"%s\",\n  \"feature_dim\": %d,\n"
               "  \"classes\": [", fp, dim);
    for (int i = 0; i < s->nclasses; i++) {
        fputs(i ? ", " : "", f);
        tfr_json_str(f, s->classes[i]);
    }
    fputs("],\n  \"images\": [", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
        tfr_json_str(f, im[i].it->rel);
        fprintf(f, ", \"size\": %llu, \"crc32c\": \"%08x\"}", (unsigned long long)im[i].it->size,
                im[i].crc);
    }
    fputs("\n  ]\n}\n", f);
    return tfr_atomic_commit(&af, err); /* the temporary is removed on failure */
}
