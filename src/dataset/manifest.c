/*
 * dataset/manifest.c - the owner of manifest.json and labels.txt (read,
 * write, check, merge) and of shard-set expansion (see tfrecord/manifest.h).
 *
 * manifest.json layout (format 1), written in this order:
 *   tool, version, format, created, fingerprint, complete,
 *   [worker_index, num_workers] (a worker's part) | [merged_from_workers],
 *   options {layout, channels, width, height, resize, flip, normalize,
 *            quality, compression, level, chunk_bytes, seed, label_offset},
 *   features [{key, dtype, shape, meaning}] (tfr_layout_features),
 *   classes [...], splits {name: {records, shards, class_counts}},
 *   shards [{file, split, records, bytes, uncompressed_bytes, crc32c,
 *            [index {file, seekable, chunks}]}],
 *   skipped [{path, reason}]
 */
#include "tfrecord/layout.h"
#include "tfrecord/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/manifest_impl.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/fsio.h"

/* ---- writing ------------------------------------------------------------- */

static void emit(FILE *f, const tfr_manifest *m)
{
    fputs("{\n  \"tool\": \"tfrecord-write\",\n  \"version\": ", f);
    tfr_json_str(f, m->version);
    fputs(",\n  \"format\": 1,\n  \"created\": ", f);
    tfr_json_str(f, m->created);
    fprintf(f, ",\n  \"fingerprint\": \"%s\",\n  \"complete\": %s,\n", m->fingerprint,
            m->complete ? "true" : "false");
    if (!m->complete && m->num_workers > 1)
        fprintf(f, "  \"worker_index\": %d,\n  \"num_workers\": %d,\n", m->worker_index,
                m->num_workers);
    if (m->merged_from_workers)
        fprintf(f, "  \"merged_from_workers\": %d,\n", m->merged_from_workers);
    const tfr_manifest_options *o = &m->options;
    fprintf(f, "  \"options\": {\"layout\": \"%s\", \"channels\": %d, \"width\": %d, "
               "\"height\": %d, \"resize\": \"%s\", \"flip\": \"%s\", \"normalize\": \"%s\", "
               "\"quality\": %d, \"compression\": \"%s\", \"level\": %d, \"chunk_bytes\": %llu, "
               "\"seed\": %llu, \"label_offset\": %d},\n",
            o->layout, o->channels, o->width, o->height, o->resize, o->flip, o->normalize,
            o->quality, o->compression, o->level, (unsigned long long)o->chunk_bytes,
            (unsigned long long)o->seed, o->label_offset);
    /* what each record holds, for readers that must declare it (tf.data) */
    for (int l = TFR_LAYOUT_JPEG; l <= TFR_LAYOUT_TENSOR; l++) {
        if (strcmp(o->layout, tfr_layout_name((tfr_layout)l)))
            continue;
        size_t nf;
        const tfr_layout_feature *ft = tfr_layout_features((tfr_layout)l, &nf);
        fputs("  \"features\": [", f);
        for (size_t i = 0; i < nf; i++) {
            fputs(i ? ",\n    {\"key\": " : "\n    {\"key\": ", f);
            tfr_json_str(f, ft[i].key);
            fprintf(f, ", \"dtype\": \"%s\", \"shape\": %s, \"meaning\": ", ft[i].dtype,
                    ft[i].shape);
            tfr_json_str(f, ft[i].meaning);
            fputc('}', f);
        }
        fputs("],\n", f);
    }
    fputs("  \"classes\": [", f);
    for (int i = 0; i < m->nclasses; i++) {
        fputs(i ? ", " : "", f);
        tfr_json_str(f, m->classes[i]);
    }
    fputs("],\n  \"splits\": {", f);
    for (int sp = 0; sp < m->nsplits; sp++) {
        const tfr_manifest_split *s = &m->splits[sp];
        fprintf(f, "%s\n    ", sp ? "," : "");
        tfr_json_str(f, s->name);
        fprintf(f, ": {\"records\": %llu, \"shards\": %d, \"class_counts\": [",
                (unsigned long long)s->records, s->shards);
        for (int c = 0; c < m->nclasses; c++)
            fprintf(f, "%s%llu", c ? ", " : "",
                    (unsigned long long)(s->class_counts ? s->class_counts[c] : 0));
        fputs("]}", f);
    }
    fputs("\n  },\n  \"shards\": [", f);
    for (size_t i = 0; i < m->nshards; i++) {
        const tfr_manifest_shard *sh = &m->shards[i];
        fputs(i ? ",\n    " : "\n    ", f);
        tfr_manifest_json_shard(f, sh->file, sh->split, sh->records, sh->bytes,
                                sh->uncompressed_bytes, sh->crc32c, 1);
        if (sh->indexed) {
            fputs(", \"index\": {\"file\": ", f);
            char ip[600];
            snprintf(ip, sizeof ip, "index/%s.index", sh->file);
            tfr_json_str(f, ip);
            fprintf(f, ", \"seekable\": %s, \"chunks\": %lld}", sh->index_seekable ? "true" : "false",
                    (long long)sh->index_chunks);
        }
        fputc('}', f);
    }
    fputs("\n  ],\n  \"skipped\": [", f);
    for (size_t i = 0; i < m->nskipped; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        tfr_manifest_json_skip(f, &m->skipped[i], 1);
    }
    fputs("\n  ]\n}\n", f);
}

/* Renders into memory, then writes path atomically. */
static tfr_status save_rendered(const char *path, void (*render)(FILE *f, const void *ctx),
                                const void *ctx, tfr_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    render(f, ctx);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    }
    tfr_status st = tfr_write_file_atomic(path, NULL, buf, len, TFR_ATOMIC_STDIO, err);
    free(buf);
    return st;
}

static void render_manifest(FILE *f, const void *m) { emit(f, m); }

tfr_status tfr_manifest_save(const char *path, const tfr_manifest *m, tfr_error *err)
{
    return save_rendered(path, render_manifest, m, err);
}

void tfr_manifest_json_shard(FILE *f, const char *file, const char *split, long long records,
                             long long bytes, long long uncompressed, uint32_t crc, int pretty)
{
    const char *c = pretty ? ", " : ",", *k = pretty ? ": " : ":";
    fprintf(f, "{\"file\"%s", k);
    tfr_json_str(f, file);
    fprintf(f, "%s\"split\"%s", c, k);
    tfr_json_str(f, split);
    fprintf(f, "%s\"records\"%s%lld%s\"bytes\"%s%lld%s\"uncompressed_bytes\"%s%lld%s"
               "\"crc32c\"%s\"%08x\"",
            c, k, records, c, k, bytes, c, k, uncompressed, c, k, crc);
}

void tfr_manifest_json_skip(FILE *f, const tfr_skip *s, int pretty)
{
    fputs(pretty ? "{\"path\": " : "{\"path\":", f);
    tfr_json_str(f, s->path);
    fputs(pretty ? ", \"reason\": " : ",\"reason\":", f);
    tfr_json_str(f, s->reason);
    fputc('}', f);
}

/* ---- reading ------------------------------------------------------------- */

void tfr_manifest_free(tfr_manifest *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nclasses; i++)
        free(m->classes[i]);
    free(m->classes);
    for (int i = 0; i < m->nsplits; i++)
        free(m->splits[i].class_counts);
    for (size_t i = 0; i < m->nshards; i++)
        free(m->shards[i].file);
    free(m->shards);
    for (size_t i = 0; i < m->nskipped; i++) {
        free(m->skipped[i].path);
        free(m->skipped[i].reason);
    }
    free(m->skipped);
    free(m);
}

/* A whole number in [lo, hi] (JSON numbers are doubles: exact up to 2^53,
 * which bounds every range asked for here). */
static int get_int(const tfr_json *j, const char *key, double lo, double hi, int64_t dflt,
                   int64_t *out)
{
    const tfr_json *v = tfr_json_get(j, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (v->type != TFR_JSON_NUMBER || !(v->num >= lo && v->num <= hi) || v->num != floor(v->num))
        return -1;
    *out = (int64_t)v->num;
    return 0;
}

/* A whole number in [0, 2^64), exactly as written (a seed is any uint64). */
static int get_u64(const tfr_json *j, const char *key, uint64_t *out)
{
    const tfr_json *v = tfr_json_get(j, key);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (v->type != TFR_JSON_NUMBER || !v->is_u64)
        return -1;
    *out = v->u64;
    return 0;
}

static void copy_str(char *dst, size_t n, const tfr_json *j, const char *key)
{
    const char *s = tfr_json_get_str(j, key);
    snprintf(dst, n, "%s", s ? s : "");
}

#define MAX_COUNT 9007199254740992.0 /* 2^53 */

/* a manifest of ours that is damaged: a wrong type or a value out of range */
static tfr_status bad(tfr_error *err, const char *path, const char *what)
{
    return tfr_fail(err, TFR_ERR_CORRUPT, path, "%s", what);
}

static tfr_status parse_options(const tfr_json *o, tfr_manifest_options *out, const char *path,
                                tfr_error *err)
{
    memset(out, 0, sizeof *out);
    if (!o)
        return TFR_OK;
    if (o->type != TFR_JSON_OBJECT)
        return bad(err, path, "\"options\" is not an object");
    copy_str(out->layout, sizeof out->layout, o, "layout");
    copy_str(out->resize, sizeof out->resize, o, "resize");
    copy_str(out->flip, sizeof out->flip, o, "flip");
    copy_str(out->normalize, sizeof out->normalize, o, "normalize");
    copy_str(out->compression, sizeof out->compression, o, "compression");
    int64_t ch, w, h, q, lv, lo, cb;
    uint64_t sd;
    if (get_int(o, "channels", 0, 4, 0, &ch) || get_int(o, "width", 0, 1 << 30, 0, &w) ||
        get_int(o, "height", 0, 1 << 30, 0, &h) || get_int(o, "quality", 0, 100, 0, &q) ||
        get_int(o, "level", -1, 12, 0, &lv) ||
        get_int(o, "label_offset", -2147483648.0, 2147483647.0, 0, &lo) ||
        get_int(o, "chunk_bytes", 0, MAX_COUNT, 0, &cb) ||
        get_u64(o, "seed", &sd))
        return bad(err, path, "an option in \"options\" is out of range");
    out->channels = (int)ch;
    out->width = (int)w;
    out->height = (int)h;
    out->quality = (int)q;
    out->level = (int)lv;
    out->label_offset = (int)lo;
    out->chunk_bytes = (uint64_t)cb;
    out->seed = sd;
    return TFR_OK;
}

static tfr_status parse(const tfr_json *j, const char *path, tfr_manifest *m, tfr_error *err)
{
    const tfr_json *shards = tfr_json_get(j, "shards");
    if (!shards || shards->type != TFR_JSON_ARRAY)
        return tfr_fail(err, TFR_ERR_FORMAT, path,
                        "no \"shards\" list; not a tfrecord-write manifest");
    copy_str(m->version, sizeof m->version, j, "version");
    copy_str(m->created, sizeof m->created, j, "created");
    copy_str(m->fingerprint, sizeof m->fingerprint, j, "fingerprint");
    const tfr_json *c = tfr_json_get(j, "complete");
    m->complete = !c || (c->type == TFR_JSON_BOOL && c->boolean);
    int64_t wi, nw, mw;
    if (get_int(j, "worker_index", 0, 1 << 20, 0, &wi) ||
        get_int(j, "num_workers", 0, 1 << 20, 0, &nw) ||
        get_int(j, "merged_from_workers", 0, 1 << 20, 0, &mw))
        return bad(err, path, "worker numbers out of range");
    m->worker_index = (int)wi;
    m->num_workers = (int)nw;
    m->merged_from_workers = (int)mw;
    tfr_status st = parse_options(tfr_json_get(j, "options"), &m->options, path, err);
    if (st)
        return st;
    const tfr_json *cl = tfr_json_get(j, "classes");
    size_t n = 0;
    for (const tfr_json *x = cl && cl->type == TFR_JSON_ARRAY ? cl->child : NULL; x; x = x->next)
        n++;
    if (n > (1u << 24))
        return bad(err, path, "too many classes");
    m->classes = tfr_calloc(n ? n : 1, sizeof *m->classes);
    if (!m->classes)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    for (const tfr_json *x = n ? cl->child : NULL; x; x = x->next) {
        if (x->type != TFR_JSON_STRING)
            return bad(err, path, "a class name is not a string");
        if (!(m->classes[m->nclasses++] = tfr_strdup(x->str)))
            return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    }
    const tfr_json *sp = tfr_json_get(j, "splits");
    for (const tfr_json *x = sp && sp->type == TFR_JSON_OBJECT ? sp->child : NULL; x;
         x = x->next) {
        if (m->nsplits == TFR_MAX_SPLITS)
            return bad(err, path, "more than 8 splits");
        tfr_manifest_split *s = &m->splits[m->nsplits++];
        snprintf(s->name, sizeof s->name, "%s", x->key);
        int64_t rec, nsh;
        if (get_int(x, "records", 0, MAX_COUNT, 0, &rec) ||
            get_int(x, "shards", 0, 1 << 24, 0, &nsh))
            return bad(err, path, "a split's counts are out of range");
        s->records = (uint64_t)rec;
        s->shards = (int)nsh;
        s->class_counts = tfr_calloc((size_t)(m->nclasses ? m->nclasses : 1), sizeof *s->class_counts);
        if (!s->class_counts)
            return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
        const tfr_json *cc = tfr_json_get(x, "class_counts");
        int ci = 0;
        for (const tfr_json *v = cc && cc->type == TFR_JSON_ARRAY ? cc->child : NULL;
             v && ci < m->nclasses; v = v->next, ci++) {
            if (v->type != TFR_JSON_NUMBER || !(v->num >= 0 && v->num <= MAX_COUNT))
                return bad(err, path, "a class count is out of range");
            s->class_counts[ci] = (uint64_t)v->num;
        }
    }
    n = 0;
    for (const tfr_json *x = shards->child; x; x = x->next)
        n++;
    m->shards = tfr_calloc(n ? n : 1, sizeof *m->shards);
    if (!m->shards)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    for (const tfr_json *x = shards->child; x; x = x->next) {
        const char *f = tfr_json_get_str(x, "file");
        if (!f || !*f || strchr(f, '/') || !strcmp(f, ".") || !strcmp(f, ".."))
            return bad(err, path, "a shard has no file name, or one with a '/'");
        tfr_manifest_shard *s = &m->shards[m->nshards++];
        if (!(s->file = tfr_strdup(f)))
            return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
        copy_str(s->split, sizeof s->split, x, "split");
        if (get_int(x, "records", 0, MAX_COUNT, -1, &s->records) ||
            get_int(x, "bytes", 0, MAX_COUNT, -1, &s->bytes) ||
            get_int(x, "uncompressed_bytes", 0, MAX_COUNT, -1, &s->uncompressed_bytes))
            return tfr_fail(err, TFR_ERR_CORRUPT, path, "shard %s: counts out of range", f);
        const char *crc = tfr_json_get_str(x, "crc32c");
        s->crc32c = crc ? (uint32_t)strtoul(crc, NULL, 16) : 0;
        const tfr_json *ix = tfr_json_get(x, "index");
        if (ix && ix->type == TFR_JSON_OBJECT) {
            const tfr_json *sk = tfr_json_get(ix, "seekable");
            s->indexed = 1;
            s->index_seekable = sk && sk->type == TFR_JSON_BOOL && sk->boolean;
            if (get_int(ix, "chunks", 0, MAX_COUNT, 0, &s->index_chunks))
                return tfr_fail(err, TFR_ERR_CORRUPT, path, "shard %s: index chunks out of range",
                                f);
        }
    }
    const tfr_json *sk = tfr_json_get(j, "skipped");
    n = 0;
    for (const tfr_json *x = sk && sk->type == TFR_JSON_ARRAY ? sk->child : NULL; x; x = x->next)
        n++;
    m->skipped = tfr_calloc(n ? n : 1, sizeof *m->skipped);
    if (!m->skipped)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    for (const tfr_json *x = n ? sk->child : NULL; x; x = x->next) {
        const char *p = tfr_json_get_str(x, "path"), *r = tfr_json_get_str(x, "reason");
        tfr_skip *s = &m->skipped[m->nskipped++];
        if (!(s->path = tfr_strdup(p ? p : "")) || !(s->reason = tfr_strdup(r ? r : "")))
            return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    }
    return TFR_OK;
}

tfr_status tfr_manifest_load(const char *path, tfr_manifest **out, tfr_error *err)
{
    *out = NULL;
    tfr_json *j = NULL;
    tfr_status st = tfr_json_load(path, &j, err);
    if (st)
        return st;
    tfr_manifest *m = tfr_calloc(1, sizeof *m);
    if (!m) {
        tfr_json_free(j);
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    }
    st = parse(j, path, m, err);
    tfr_json_free(j);
    if (st) {
        tfr_manifest_free(m);
        return st;
    }
    *out = m;
    return TFR_OK;
}

const tfr_manifest_shard *tfr_manifest_find(const tfr_manifest *m, const char *file)
{
    for (size_t i = 0; m && i < m->nshards; i++)
        if (!strcmp(m->shards[i].file, file))
            return &m->shards[i];
    return NULL;
}

int tfr_manifest_in(const char *dir)
{
    char mp[4400];
    return !tfr_path_join(mp, sizeof mp, dir, TFR_MANIFEST_NAME, NULL) && access(mp, F_OK) == 0;
}

/* ---- merging the parts of a --num-workers run --------------------------- */

void tfr_manifest_part_name(char *out, size_t n, int index, int count)
{
    snprintf(out, n, "manifest.part-%05d-of-%05d.json", index, count);
}

static int shard_cmp(const void *a, const void *b)
{
    return strcmp(((const tfr_manifest_shard *)a)->file, ((const tfr_manifest_shard *)b)->file);
}

static int split_of(tfr_manifest *m, const char *name)
{
    for (int i = 0; i < m->nsplits; i++)
        if (!strcmp(m->splits[i].name, name))
            return i;
    return -1;
}

static tfr_status merge_parts(const char *dir, tfr_manifest **parts, int k, tfr_manifest *out,
                              tfr_error *err)
{
    const tfr_manifest *p0 = parts[0];
    char path[4400];
    snprintf(out->version, sizeof out->version, "%s", p0->version);
    snprintf(out->created, sizeof out->created, "%s", p0->created);
    snprintf(out->fingerprint, sizeof out->fingerprint, "%s", p0->fingerprint);
    out->complete = 1;
    out->merged_from_workers = k;
    out->options = p0->options;
    out->nclasses = p0->nclasses;
    out->classes = p0->classes;  /* borrowed: given back before parts are freed */
    out->nskipped = p0->nskipped;
    out->skipped = p0->skipped;
    size_t total = 0;
    for (int i = 0; i < k; i++)
        total += parts[i]->nshards;
    out->shards = tfr_calloc(total ? total : 1, sizeof *out->shards);
    if (!out->shards)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    for (int i = 0; i < k; i++) {
        for (size_t s = 0; s < parts[i]->nshards; s++) {
            const tfr_manifest_shard *sh = &parts[i]->shards[s];
            struct stat sb;
            if (tfr_path_join(path, sizeof path, dir, sh->file, NULL) || stat(path, &sb) != 0 ||
                (int64_t)sb.st_size != sh->bytes)
                return tfr_fail(err, TFR_ERR_CORRUPT, path,
                                "shard listed by worker %d is missing or has the wrong size", i);
            out->shards[out->nshards++] = *sh; /* file borrowed likewise */
        }
        /* splits: records and class counts summed over the workers */
        for (int q = 0; q < parts[i]->nsplits; q++) {
            const tfr_manifest_split *ps = &parts[i]->splits[q];
            int sp = split_of(out, ps->name);
            if (sp < 0) {
                if (out->nsplits == TFR_MAX_SPLITS)
                    continue;
                sp = out->nsplits++;
                snprintf(out->splits[sp].name, sizeof out->splits[sp].name, "%s", ps->name);
                out->splits[sp].shards = ps->shards;
                out->splits[sp].class_counts =
                    tfr_calloc((size_t)(out->nclasses ? out->nclasses : 1), sizeof(uint64_t));
                if (!out->splits[sp].class_counts)
                    return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            }
            out->splits[sp].records += ps->records;
            for (int c = 0; c < out->nclasses && c < parts[i]->nclasses; c++)
                out->splits[sp].class_counts[c] += ps->class_counts[c];
        }
    }
    qsort(out->shards, out->nshards, sizeof *out->shards, shard_cmp);
    if (tfr_path_join(path, sizeof path, dir, TFR_MANIFEST_NAME, NULL))
        return tfr_fail(err, TFR_ERR_ARG, dir, "path too long");
    return tfr_manifest_save(path, out, err);
}

tfr_status tfr_manifest_merge(const char *dir, tfr_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tfr_fail_errno(err, TFR_ERR_IO, dir, "cannot open");
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int i, n;
        if (sscanf(e->d_name, "manifest.part-%d-of-%d.json", &i, &n) == 2 && n > 0) {
            if (k && n != k) {
                closedir(d);
                return tfr_fail(err, TFR_ERR_FORMAT, dir,
                                "partial manifests from runs with different --num-workers");
            }
            k = n;
        }
    }
    closedir(d);
    if (!k)
        return tfr_fail(err, TFR_ERR_ARG, dir, "no manifest.part-*-of-*.json to merge");
    if (k > (1 << 20))
        return tfr_fail(err, TFR_ERR_FORMAT, dir, "%d workers: too many", k);
    tfr_manifest **parts = tfr_calloc((size_t)k, sizeof *parts);
    if (!parts)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_status st = TFR_OK;
    char path[4400], name[128];
    for (int i = 0; i < k && !st; i++) {
        tfr_manifest_part_name(name, sizeof name, i, k);
        if (tfr_path_join(path, sizeof path, dir, name, NULL) || access(path, R_OK) != 0) {
            st = tfr_fail(err, TFR_ERR_IO, dir, "worker %d of %d has not finished (%s missing)",
                          i, k, name);
            break;
        }
        if ((st = tfr_manifest_load(path, &parts[i], err)))
            break;
        if (!parts[0]->fingerprint[0] || strcmp(parts[i]->fingerprint, parts[0]->fingerprint))
            st = tfr_fail(err, TFR_ERR_FORMAT, path,
                          "worker %d ran with other inputs or options than worker 0", i);
    }
    if (!st) {
        tfr_manifest merged;
        memset(&merged, 0, sizeof merged);
        st = merge_parts(dir, parts, k, &merged, err);
        /* only the split counts and the shard array are merged's own */
        for (int i = 0; i < merged.nsplits; i++)
            free(merged.splits[i].class_counts);
        free(merged.shards);
    }
    for (int i = 0; i < k; i++)
        tfr_manifest_free(parts[i]);
    free(parts);
    return st;
}

/* ---- labels.txt ------------------------------------------------------------ */

typedef struct labels_ctx {
    char *const *names;
    int          n;
} labels_ctx;

static void render_labels(FILE *f, const void *p)
{
    const labels_ctx *l = p;
    for (int i = 0; i < l->n; i++)
        fprintf(f, "%s\n", l->names[i]);
}

tfr_status tfr_labels_save(const char *path, char *const *names, int n, tfr_error *err)
{
    labels_ctx l = {names, n};
    return save_rendered(path, render_labels, &l, err);
}

void tfr_labels_free(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

tfr_status tfr_labels_load(const char *path, int max, char ***names, int *n, tfr_error *err)
{
    *names = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return tfr_fail_errno(err, TFR_ERR_IO, path, "cannot open");
    char **v = NULL, *line = NULL;
    size_t lcap = 0;
    int cnt = 0, cap = 0;
    tfr_status st = TFR_OK;
    ssize_t got;
    while ((max <= 0 || cnt < max) && (got = getline(&line, &lcap, f)) >= 0) {
        if (got > 4096) {
            st = tfr_fail(err, TFR_ERR_FORMAT, path, "line %d is longer than 4096 bytes",
                          cnt + 1);
            break;
        }
        line[strcspn(line, "\r\n")] = 0;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = tfr_realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[cnt] = tfr_strdup(line))) {
            st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
            break;
        }
        cnt++;
    }
    if (!st && ferror(f))
        st = tfr_fail_errno(err, TFR_ERR_IO, path, "read");
    free(line);
    fclose(f);
    if (st) {
        tfr_labels_free(v, cnt);
        return st;
    }
    *names = v;
    *n = cnt;
    return TFR_OK;
}

int tfr_labels_beside(const char *file, char *out, size_t n)
{
    char *t = tfr_strdup(file);
    if (!t)
        return -1;
    int r = tfr_path_join(out, n, dirname(t), TFR_LABELS_NAME, NULL);
    free(t);
    return r;
}

/* ---- shard-set expansion ----------------------------------------------------- */

typedef struct dircache {
    char         *dir;
    tfr_manifest *m;     /* NULL: none or unreadable */
    int           parts; /* manifest.part-* files and no manifest.json */
} dircache;

typedef struct expander {
    tfr_shard_source *v;
    size_t            n, cap;
    dircache         *dc;
    size_t            ndc;
    int               source; /* index of the source being expanded */
} expander;

/* The split in a shard's name: the prefix of "<split>-00003-of-00016...". */
static void name_split(const char *base, char *out, size_t n)
{
    out[0] = 0;
    const char *p = strstr(base, "-of-");
    while (p) {
        /* "-NNNNN-of-NNNNN": digits on both sides */
        const char *d = p;
        while (d > base && d[-1] >= '0' && d[-1] <= '9')
            d--;
        if (d < p && d > base && d[-1] == '-' && p[4] >= '0' && p[4] <= '9') {
            size_t len = (size_t)(d - 1 - base);
            if (len < n) {
                memcpy(out, base, len);
                out[len] = 0;
            }
            return;
        }
        p = strstr(p + 1, "-of-");
    }
}

/* "PATH:SPLIT" where PATH exists and the whole does not: 1 with both cut. */
static int cut_split(const char *src, char *path, size_t pn, char *split, size_t sn)
{
    const char *c = strrchr(src, ':');
    if (!c || !c[1] || strchr(c + 1, '/') || access(src, F_OK) == 0)
        return 0;
    size_t len = (size_t)(c - src);
    if (len == 0 || len >= pn || strlen(c + 1) >= sn)
        return 0;
    memcpy(path, src, len);
    path[len] = 0;
    if (access(path, F_OK) != 0)
        return 0;
    snprintf(split, sn, "%s", c + 1);
    return 1;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int tfr_manifest_parts_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        int i, n;
        found = sscanf(e->d_name, "manifest.part-%d-of-%d.json", &i, &n) == 2;
    }
    closedir(d);
    return found;
}

/*
 * The manifest of dir, read once per expansion, into *out. A manifest.json
 * that is there but does not load (damaged, or no memory) is an error: the
 * state of such a set is unknown, so its files are not taken.
 */
static tfr_status manifest_of(expander *x, const char *dir, const dircache **out, tfr_error *err)
{
    for (size_t i = 0; i < x->ndc; i++)
        if (!strcmp(x->dc[i].dir, dir)) {
            *out = &x->dc[i];
            return TFR_OK;
        }
    dircache *nd = tfr_realloc(x->dc, (x->ndc + 1) * sizeof *nd);
    if (!nd)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    x->dc = nd;
    dircache *c = &x->dc[x->ndc];
    c->m = NULL;
    c->parts = 0;
    if (!(c->dir = tfr_strdup(dir)))
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    x->ndc++;
    char mp[4400];
    if (!tfr_path_join(mp, sizeof mp, dir, TFR_MANIFEST_NAME, NULL) && access(mp, F_OK) == 0) {
        tfr_status st = tfr_manifest_load(mp, &c->m, err);
        if (st)
            return st;
    } else {
        c->parts = tfr_manifest_parts_in(dir);
    }
    *out = c;
    return TFR_OK;
}

/* Appends path (taking ownership) with its count from the folder's manifest. */
static tfr_status push(expander *x, char *path, tfr_error *err)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        tfr_shard_source *nv = tfr_realloc(x->v, cap * sizeof *nv);
        if (!nv) {
            free(path);
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        }
        x->v = nv;
        x->cap = cap;
    }
    int64_t records = -1;
    char *t1 = tfr_strdup(path), *t2 = tfr_strdup(path);
    const dircache *dc = NULL;
    tfr_status st = t1 && t2 ? manifest_of(x, dirname(t1), &dc, err)
                             : tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    if (!st && ((dc->m && !dc->m->complete) || dc->parts))
        st = tfr_fail(err, TFR_ERR_CORRUPT, path,
                      "part of an unfinished shard set: the tfrecord-write run that made %s "
                      "did not finish (%s); run it again", dc->dir,
                      dc->parts ? "worker manifests, no merged manifest.json"
                                : "its manifest.json is not complete");
    char split[32] = "";
    if (!st) {
        const char *base = basename(t2);
        const tfr_manifest_shard *sh = tfr_manifest_find(dc->m, base);
        if (sh) {
            records = sh->records;
            snprintf(split, sizeof split, "%s", sh->split);
        } else {
            name_split(base, split, sizeof split);
        }
    }
    free(t1);
    free(t2);
    if (st) {
        free(path);
        return st;
    }
    tfr_shard_source *v = &x->v[x->n];
    memset(v, 0, sizeof *v);
    v->path = path;
    v->records = records;
    memcpy(v->split, split, sizeof split);
    v->source = x->source;
    x->n++;
    return TFR_OK;
}

static tfr_status expand_manifest(expander *x, const char *src, tfr_error *err)
{
    tfr_manifest *m = NULL;
    tfr_status st = tfr_manifest_load(src, &m, err);
    if (st)
        return st;
    if (!m->complete) {
        tfr_manifest_free(m);
        return tfr_fail(err, TFR_ERR_CORRUPT, src,
                        "the shard set is unfinished: the tfrecord-write run that wrote this "
                        "manifest did not complete; run it again");
    }
    char *t = tfr_strdup(src);
    if (!t) {
        tfr_manifest_free(m);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    const char *dir = dirname(t);
    size_t before = x->n;
    for (size_t i = 0; !st && i < m->nshards; i++) {
        char p[4400];
        if (tfr_path_join(p, sizeof p, dir, m->shards[i].file, NULL))
            continue;
        char *dup = tfr_strdup(p);
        st = dup ? push(x, dup, err) : tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    free(t);
    tfr_manifest_free(m);
    if (!st && x->n == before)
        st = tfr_fail(err, TFR_ERR_FORMAT, src, "manifest lists no shards");
    return st;
}

size_t tfr_shardset_splits(const tfr_shard_source *s, size_t n, tfr_split_count *out, size_t max)
{
    size_t ns = 0;
    tfr_split_count tmp;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        for (; k < ns && k < max; k++)
            if (!strcmp(out[k].name, s[i].split))
                break;
        if (k == ns) {
            tfr_split_count *c = ns < max ? &out[ns] : &tmp;
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%s", s[i].split);
            c->complete = 1;
            ns++;
            if (k >= max)
                continue;
        }
        if (k >= max)
            continue;
        out[k].shards++;
        if (s[i].records >= 0)
            out[k].records += (uint64_t)s[i].records;
        else
            out[k].complete = 0;
    }
    return ns;
}

tfr_status tfr_shardset_default_split(const char *source, const char *const *names, int nnames,
                                      char *out, size_t on, char *chosen, size_t cn,
                                      tfr_error *err)
{
    if (cn)
        chosen[0] = 0;
    char path[4400], want[32];
    struct stat sb;
    int set = !cut_split(source, path, sizeof path, want, sizeof want) && !strpbrk(source, "*?[") &&
              stat(source, &sb) == 0 && (S_ISDIR(sb.st_mode) || ends_with(source, TFR_MANIFEST_NAME));
    if (set) {
        tfr_shard_source *v = NULL;
        size_t n = 0;
        const char *one[1] = {source};
        tfr_status st = tfr_shardset_expand(one, 1, &v, &n, err);
        if (st)
            return st;
        for (int k = 0; k < nnames; k++) {
            size_t i = 0;
            while (i < n && strcmp(v[i].split, names[k]))
                i++;
            if (i < n) {
                tfr_shardset_free(v, n);
                if ((size_t)snprintf(out, on, "%s:%s", source, names[k]) >= on)
                    return tfr_fail(err, TFR_ERR_ARG, source, "path too long");
                if (cn)
                    snprintf(chosen, cn, "%s", names[k]);
                return TFR_OK;
            }
        }
        tfr_shardset_free(v, n);
    }
    if ((size_t)snprintf(out, on, "%s", source) >= on)
        return tfr_fail(err, TFR_ERR_ARG, source, "path too long");
    return TFR_OK;
}

char *tfr_shardset_describe(const char *const *sources, int n, tfr_error *err)
{
    size_t cap = 256, len = 0;
    char *text = tfr_malloc(cap);
    if (!text) {
        tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    text[0] = 0;
    for (int i = 0; i < n; i++) {
        tfr_shard_source *v = NULL;
        size_t nv = 0;
        const char *one[1] = {sources[i]};
        if (tfr_shardset_expand(one, 1, &v, &nv, err)) {
            free(text);
            return NULL;
        }
        tfr_split_count sc[16];
        size_t ns = tfr_shardset_splits(v, nv, sc, 16);
        char line[2400];
        size_t k = (size_t)snprintf(line, sizeof line, "%s:", sources[i]);
        for (size_t q = 0; q < ns && q < 16 && k < sizeof line; q++) {
            char cnt[32];
            if (sc[q].complete)
                snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)sc[q].records);
            else
                snprintf(cnt, sizeof cnt, "?");
            k += (size_t)snprintf(line + k, sizeof line - k, "%s %s %s", q ? "," : "",
                                  sc[q].name[0] ? sc[q].name : "(no split)", cnt);
        }
        if (k < sizeof line)
            k += (size_t)snprintf(line + k, sizeof line - k, " records in %zu shard%s%s%s%s\n",
                                  nv, nv == 1 ? "" : "s",
                                  ns > 1 ? " (every split; " : "", ns > 1 ? sources[i] : "",
                                  ns > 1 ? ":NAME reads one)" : "");
        if (k >= sizeof line)
            k = sizeof line - 1;
        tfr_shardset_free(v, nv);
        if (len + k + 1 > cap) {
            char *t = tfr_realloc(text, (cap = (len + k + 1) * 2));
            if (!t) {
                free(text);
                tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                return NULL;
            }
            text = t;
        }
        memcpy(text + len, line, k + 1);
        len += k;
    }
    return text;
}

void tfr_shardset_free(tfr_shard_source *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i].path);
    free(s);
}

tfr_status tfr_shardset_expand(const char *const *sources, int nsources,
                               tfr_shard_source **out, size_t *n, tfr_error *err)
{
    *out = NULL;
    *n = 0;
    expander x;
    memset(&x, 0, sizeof x);
    tfr_status st = TFR_OK;
    for (int i = 0; !st && i < nsources; i++) {
        const char *src = sources[i];
        char path[4400], want[32];
        int sel = cut_split(src, path, sizeof path, want, sizeof want);
        if (sel)
            src = path;
        x.source = i;
        size_t before = x.n;
        if (ends_with(src, TFR_MANIFEST_NAME)) {
            st = expand_manifest(&x, src, err);
        } else {
            char **list = NULL;
            size_t ln = 0;
            if ((st = tfr_paths_expand(&src, 1, &list, &ln, err)))
                break;
            for (size_t k = 0; !st && k < ln; k++) {
                st = push(&x, list[k], err);
                list[k] = NULL;
            }
            tfr_paths_free(list, ln);
        }
        if (st || !sel)
            continue;
        /* keep the named split; what the set has, for the error */
        tfr_split_count sc[16];
        size_t ns = tfr_shardset_splits(x.v + before, x.n - before, sc, 16);
        size_t keep = before;
        for (size_t k = before; k < x.n; k++) {
            if (!strcmp(x.v[k].split, want)) {
                x.v[k].selected = 1;
                x.v[keep++] = x.v[k];
            } else {
                free(x.v[k].path);
            }
        }
        x.n = keep;
        if (keep == before) {
            char names[400] = "";
            size_t used = 0;
            for (size_t k = 0; k < ns && k < 16 && used < sizeof names; k++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'",
                                         k ? ", " : "", sc[k].name);
            st = tfr_fail(err, TFR_ERR_ARG, src, "no split '%s' in this shard set (its splits: %s)",
                          want, names[0] ? names : "none");
        }
    }
    for (size_t i = 0; i < x.ndc; i++) {
        free(x.dc[i].dir);
        tfr_manifest_free(x.dc[i].m);
    }
    free(x.dc);
    if (!st && !x.n)
        st = tfr_fail(err, TFR_ERR_ARG, NULL, "no input files");
    if (st) {
        tfr_shardset_free(x.v, x.n);
        return st;
    }
    *out = x.v;
    *n = x.n;
    return TFR_OK;
}
