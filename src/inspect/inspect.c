/*
 * inspect/inspect.c - the engine behind tfrecord-inspect: one pass over
 * every record of every file, collecting counts, schema, labels, image
 * headers and defects. A defect in one file never hides the next file.
 */
#include "tfrecord/inspect.h"

#include <ctype.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfrecord/image.h"
#include "tfrecord/layout.h"
#include "tfrecord/manifest.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/opts.h"

void tfr_inspect_opts_init(tfr_inspect_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->compression = TFR_COMPRESS_AUTO;
    o->max_errors = 20;
}

typedef struct ctx {
    tfr_inspect_report     *r;
    const tfr_inspect_opts *o;
    size_t keys_cap, labels_cap, notes_cap, defects_cap;
    long   label_idx_cache;
    int    label_auto;
    int    label_seen;   /* some record has the label key */
    size_t key_hint[16]; /* the report key of feature i in the last record (+1; 0 none) */
} ctx;

static void add_defect(ctx *c, const tfr_error *e)
{
    tfr_inspect_report *r = c->r;
    r->ndefects++;
    if (c->o->max_errors > 0 && r->defects_kept >= (size_t)c->o->max_errors)
        return;
    if (r->defects_kept == c->defects_cap) {
        size_t cap = c->defects_cap ? c->defects_cap * 2 : 16;
        tfr_error *d = tfr_realloc(r->defects, cap * sizeof *d);
        if (!d)
            return;
        r->defects = d;
        c->defects_cap = cap;
    }
    r->defects[r->defects_kept++] = *e;
}

__attribute__((format(printf, 2, 3)))
static void add_note(ctx *c, const char *fmt, ...)
{
    char buf[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tfr_inspect_report *r = c->r;
    if (r->nnotes == c->notes_cap) {
        size_t cap = c->notes_cap ? c->notes_cap * 2 : 8;
        char **n = tfr_realloc(r->notes, cap * sizeof *n);
        if (!n)
            return;
        r->notes = n;
        c->notes_cap = cap;
    }
    r->notes[r->nnotes] = tfr_strdup(buf);
    if (r->notes[r->nnotes])
        r->nnotes++;
}

/* The report's entry for key, made on first sight; feature position pos
 * (records usually list their features in one order) is tried first. */
static tfr_inspect_key *get_key(ctx *c, size_t pos, const char *key, tfr_feature_kind kind)
{
    tfr_inspect_report *r = c->r;
    size_t *hint = pos < sizeof c->key_hint / sizeof *c->key_hint ? &c->key_hint[pos] : NULL;
    if (hint && *hint && *hint <= r->nkeys && !strcmp(r->keys[*hint - 1].key, key)) {
        if (r->keys[*hint - 1].kind != kind)
            r->keys[*hint - 1].mixed_kinds = 1;
        return &r->keys[*hint - 1];
    }
    for (size_t i = 0; i < r->nkeys; i++)
        if (!strcmp(r->keys[i].key, key)) {
            if (r->keys[i].kind != kind)
                r->keys[i].mixed_kinds = 1;
            if (hint)
                *hint = i + 1;
            return &r->keys[i];
        }
    if (r->nkeys == c->keys_cap) {
        size_t cap = c->keys_cap ? c->keys_cap * 2 : 16;
        tfr_inspect_key *k = tfr_realloc(r->keys, cap * sizeof *k);
        if (!k)
            return NULL;
        r->keys = k;
        c->keys_cap = cap;
    }
    tfr_inspect_key *k = &r->keys[r->nkeys];
    memset(k, 0, sizeof *k);
    k->key = tfr_strdup(key);
    if (!k->key)
        return NULL;
    k->kind = kind;
    k->min_count = UINT64_MAX;
    k->min_value = INFINITY;
    k->max_value = -INFINITY;
    k->min_w = k->min_h = INT32_MAX;
    k->tensor_min = INFINITY;
    k->tensor_max = -INFINITY;
    r->nkeys++;
    if (hint)
        *hint = r->nkeys;
    return k;
}

static void count_label(ctx *c, int64_t label, const uint8_t *text, size_t tn)
{
    tfr_inspect_report *r = c->r;
    /* binary search; labels are few and kept sorted */
    size_t lo = 0, hi = r->nlabels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->labels[mid].label < label)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < r->nlabels && r->labels[lo].label == label) {
        r->labels[lo].count++;
        return;
    }
    if (r->nlabels == c->labels_cap) {
        size_t cap = c->labels_cap ? c->labels_cap * 2 : 64;
        tfr_inspect_label *l = tfr_realloc(r->labels, cap * sizeof *l);
        if (!l)
            return;
        r->labels = l;
        c->labels_cap = cap;
    }
    memmove(r->labels + lo + 1, r->labels + lo, (r->nlabels - lo) * sizeof *r->labels);
    r->labels[lo].label = label;
    r->labels[lo].count = 1;
    r->labels[lo].text = text ? tfr_strndup((const char *)text, tn) : NULL;
    r->nlabels++;
}

/* Label key: given, or the first int64 scalar label key (tfrecord/layout.h). */
static long find_label(ctx *c, const tfr_example *ex)
{
    if (c->o->label_key)
        return tfr_example_find(ex, c->o->label_key);
    if (c->r->label_key)
        return tfr_example_find(ex, c->r->label_key);
    const char *key = tfr_layout_int64_label_key(ex);
    if (!key)
        key = tfr_layout_tensor_label_key(ex);
    if (!key)
        return -1;
    c->r->label_key = tfr_strdup(key);
    return tfr_example_find(ex, key);
}

/* A bytes value that parses as a TensorProto: dtype, shape and range. */
static int scan_tensor(tfr_inspect_key *k, const uint8_t *p, size_t n)
{
    tfr_tensor t;
    if (!n || tfr_tensor_parse_bounded(p, n, TFR_DT_INVALID, (size_t)64 << 20, &t, NULL))
        return 0;
    if (!k->n_tensor++) {
        k->tensor_dtype = (int)t.dtype;
        k->tensor_rank = t.rank;
        memcpy(k->tensor_shape, t.shape, sizeof k->tensor_shape);
    } else {
        if (k->tensor_dtype != (int)t.dtype)
            k->tensor_dtype = -1;
        if (k->tensor_rank >= 0 &&
            (k->tensor_rank != t.rank ||
             memcmp(k->tensor_shape, t.shape, (size_t)t.rank * sizeof *t.shape)))
            k->tensor_rank = -1;
    }
    size_t ne = (size_t)tfr_tensor_num_elements(&t);
    for (size_t i = 0; i < ne; i++) {
        double v;
        switch (t.dtype) {
        case TFR_DT_FLOAT: v = ((const float *)t.data)[i]; break;
        case TFR_DT_DOUBLE: v = ((const double *)t.data)[i]; break;
        case TFR_DT_INT32: v = ((const int32_t *)t.data)[i]; break;
        case TFR_DT_UINT8: v = ((const uint8_t *)t.data)[i]; break;
        case TFR_DT_INT64: v = (double)((const int64_t *)t.data)[i]; break;
        default: v = NAN; break;
        }
        if (v < k->tensor_min)
            k->tensor_min = v;
        if (v > k->tensor_max)
            k->tensor_max = v;
    }
    tfr_tensor_clear(&t);
    return 1;
}

static void scan_example(ctx *c, const tfr_example *ex)
{
    size_t nf = tfr_example_num_features(ex);
    for (size_t i = 0; i < nf; i++) {
        tfr_feature_kind kind = tfr_example_kind(ex, i);
        tfr_inspect_key *k = get_key(c, i, tfr_example_key(ex, i), kind);
        if (!k)
            continue;
        size_t n = tfr_example_count(ex, i);
        k->present++;
        if (n < k->min_count)
            k->min_count = n;
        if (n > k->max_count)
            k->max_count = n;
        if (kind == TFR_FEATURE_INT64) {
            const int64_t *v;
            tfr_example_int64_at(ex, i, &v, &n);
            for (size_t j = 0; j < n; j++) {
                double d = (double)v[j];
                if (d < k->min_value) k->min_value = d;
                if (d > k->max_value) k->max_value = d;
            }
        } else if (kind == TFR_FEATURE_FLOAT) {
            const float *v;
            tfr_example_float_at(ex, i, &v, &n);
            for (size_t j = 0; j < n; j++) {
                double d = v[j];
                if (d < k->min_value) k->min_value = d;
                if (d > k->max_value) k->max_value = d;
            }
        } else if (kind == TFR_FEATURE_BYTES) {
            for (size_t j = 0; j < n; j++) {
                const uint8_t *p;
                size_t bn;
                tfr_example_bytes_at(ex, i, j, &p, &bn);
                int w, h, ch;
                const char *fmt = tfr_image_sniff(p, bn, &w, &h, &ch);
                if (!fmt) {
                    if (!scan_tensor(k, p, bn))
                        k->n_other_bytes++;
                    continue;
                }
                if (fmt[0] == 'j')
                    k->n_jpeg++;
                else
                    k->n_png++;
                if (w > 0 && h > 0) {
                    if (w < k->min_w) k->min_w = w;
                    if (w > k->max_w) k->max_w = w;
                    if (h < k->min_h) k->min_h = h;
                    if (h > k->max_h) k->max_h = h;
                }
                if (ch > 0 && ch < 31)
                    k->channels_seen |= 1 << ch;
            }
        }
    }
    long li = find_label(c, ex);
    if (li >= 0)
        c->label_seen = 1;
    if (li >= 0 && tfr_example_kind(ex, (size_t)li) == TFR_FEATURE_BYTES) {
        /* a serialized integer tensor (the tensor layout's label) */
        int64_t v;
        if (tfr_layout_find_label(ex, c->o->label_key ? c->o->label_key : c->r->label_key, &v,
                                  NULL) == TFR_OK)
            count_label(c, v, NULL, 0);
    } else if (li >= 0 && tfr_example_kind(ex, (size_t)li) == TFR_FEATURE_INT64 &&
        tfr_example_count(ex, (size_t)li) >= 1) {
        const int64_t *v;
        size_t n;
        tfr_example_int64_at(ex, (size_t)li, &v, &n);
        const uint8_t *t = NULL;
        size_t tn = 0;
        tfr_layout_class_text(ex, &t, &tn);
        count_label(c, v[0], t, tn);
    }
}

/* Compares counts with a manifest.json written by tfrecord-write, if any. */
static void check_manifests(ctx *c)
{
    tfr_inspect_report *r = c->r;
    char **dirs = tfr_calloc(r->nfiles ? r->nfiles : 1, sizeof *dirs);
    size_t ndirs = 0;
    for (size_t i = 0; i < r->nfiles; i++) {
        char *tmp = tfr_strdup(r->files[i].path);
        char *d = tfr_strdup(dirname(tmp));
        free(tmp);
        int seen = 0;
        for (size_t k = 0; k < ndirs; k++)
            if (!strcmp(dirs[k], d))
                seen = 1;
        if (seen)
            free(d);
        else
            dirs[ndirs++] = d;
    }
    for (size_t k = 0; k < ndirs; k++) {
        char mpath[4200];
        snprintf(mpath, sizeof mpath, "%s/%s", dirs[k], TFR_MANIFEST_NAME);
        tfr_manifest *m = NULL;
        tfr_error e;
        tfr_error_clear(&e);
        FILE *probe = fopen(mpath, "rb");
        if (!probe) {
            if (tfr_manifest_parts_in(dirs[k])) {
                add_note(c, "%s: unfinished shard set: worker manifests but no merged %s "
                            "(tfrecord-write --merge-manifests after every worker finished)",
                         dirs[k], TFR_MANIFEST_NAME);
                r->ndefects++;
            }
            continue;
        }
        fclose(probe);
        if (tfr_manifest_load(mpath, &m, &e)) {
            char b[4400];
            add_note(c, "%s", tfr_error_text(&e, b, sizeof b));
            /* JSON that is not one of our manifests is no defect of the shards */
            if (e.code != TFR_ERR_FORMAT)
                r->ndefects++;
            continue;
        }
        if (!m->complete) {
            add_note(c, "%s: unfinished shard set: the tfrecord-write run that wrote it did not "
                        "finish; run it again", mpath);
            r->ndefects++;
        }
        for (size_t si = 0; si < m->nshards; si++) {
            const char *name = m->shards[si].file;
            char fpath[4400];
            snprintf(fpath, sizeof fpath, "%s/%s", dirs[k], name);
            long long want = m->shards[si].records;
            long long wbytes = m->shards[si].bytes;
            int found = 0;
            for (size_t i = 0; i < r->nfiles; i++) {
                tfr_inspect_file *f = &r->files[i];
                char *t1 = tfr_strdup(f->path);
                int same = !strcmp(basename(t1), name);
                char *t2 = tfr_strdup(f->path);
                same = same && !strcmp(dirname(t2), dirs[k]);
                free(t1);
                free(t2);
                if (!same)
                    continue;
                found = 1;
                f->manifest_records = want;
                f->manifest_bytes = wbytes;
                if (want >= 0 && (uint64_t)want != f->st.records) {
                    add_note(c, "%s: %llu records, manifest.json says %lld", f->path,
                             (unsigned long long)f->st.records, want);
                    r->ndefects++;
                }
                if (wbytes >= 0 && (uint64_t)wbytes != f->st.file_bytes) {
                    add_note(c, "%s: %llu bytes on disk, manifest.json says %lld", f->path,
                             (unsigned long long)f->st.file_bytes, wbytes);
                    r->ndefects++;
                }
            }
            if (!found) {
                FILE *x = fopen(fpath, "rb");
                if (!x) {
                    add_note(c, "%s: listed in manifest.json but missing", fpath);
                    r->ndefects++;
                } else {
                    fclose(x);
                }
            }
        }
        tfr_manifest_free(m);
    }
    for (size_t k = 0; k < ndirs; k++)
        free(dirs[k]);
    free(dirs);
}

typedef struct skip_ctx {
    ctx *c;
} skip_ctx;

/* The index tfrecord-write --index left for file: DIR/index/NAME.index. */
static int existing_index(const char *file, char *out, size_t n)
{
    const char *slash = strrchr(file, '/');
    int dl = slash ? (int)(slash - file) : 1;
    if (snprintf(out, n, "%.*s/index/%s.index", dl, slash ? file : ".", slash ? slash + 1 : file) >=
        (int)n)
        return 0;
    return access(out, F_OK) == 0;
}

/* An index that disagrees with the file (its size, a record's offset or
 * length, the count) is a defect: a reader through it would go wrong. */
static void check_index(ctx *c, const char *file, const char *ixpath, uint64_t bytes,
                        const uint64_t *rec, size_t nrec)
{
    tfr_record_index *ix = NULL;
    tfr_error e;
    if (tfr_record_index_load(ixpath, &ix, &e)) {
        add_defect(c, &e);
        return;
    }
    const char *why = NULL;
    char buf[400];
    if (tfr_record_index_count(ix) != nrec) {
        snprintf(buf, sizeof buf, "it lists %llu records, the file has %zu",
                 (unsigned long long)tfr_record_index_count(ix), nrec);
        why = buf;
    } else {
        /* the offsets: read record k through the index and compare lengths */
        for (size_t k = 0; k < nrec && !why; k += nrec / 16 + 1) {
            uint8_t *d = NULL;
            size_t dn = 0;
            if (tfr_record_read_at(file, ix, k, &d, &dn, &e)) {
                snprintf(buf, sizeof buf, "record %zu through it: %s", k, e.msg);
                why = buf;
            } else if (dn != rec[2 * k + 1]) {
                snprintf(buf, sizeof buf, "record %zu through it has %zu bytes, not %llu", k, dn,
                         (unsigned long long)rec[2 * k + 1]);
                why = buf;
            }
            free(d);
        }
    }
    (void)bytes;
    if (why) {
        const char *base = strrchr(file, '/');
        tfr_fail(&e, TFR_ERR_FORMAT, ixpath, "the index of %.60s disagrees with it: %.150s",
                 base ? base + 1 : file, why);
        add_defect(c, &e);
    }
    tfr_record_index_free(ix);
}

/* What a file is when its first bytes say it is not TFRecords (a known
 * magic, and read as a record length they would run past the file's end),
 * else NULL. Compressed files are left to the reader. */
static const char *not_a_record_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t h[8] = {0};
    size_t n = fread(h, 1, sizeof h, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | h[i];
    if (n < 8 || size < 0 || len <= (uint64_t)size)
        return NULL; /* it could be a record */
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return "a JPEG image";
    if (n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8))
        return "a PNG image";
    if (n >= 4 && !memcmp(h, "GIF8", 4))
        return "a GIF image";
    if (n >= 4 && !memcmp(h, "PK\x03\x04", 4))
        return "a zip archive";
    if (n >= 4 && !memcmp(h, "%PDF", 4))
        return "a PDF document";
    if (n >= 5 && (!memcmp(h, "{\"", 2) || !memcmp(h, "[{", 2)))
        return "a JSON file";
    return NULL;
}

static void on_skip(void *user, const tfr_error *e)
{
    add_defect(((skip_ctx *)user)->c, e);
}

tfr_status tfr_inspect(const char *const *files, size_t nfiles,
                       const tfr_inspect_opts *opts, tfr_inspect_report **out,
                       tfr_error *err)
{
    if (!out || (!files && nfiles))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "inspect: NULL argument");
    TFR_CHECK_OPTS(tfr_inspect_opts, opts, err);
    tfr_inspect_opts dflt;
    if (!opts) {
        tfr_inspect_opts_init(&dflt);
        opts = &dflt;
    }
    tfr_inspect_report *r = tfr_calloc(1, sizeof *r);
    tfr_example *ex = NULL;
    if (!r || tfr_example_new(&ex, err)) {
        free(r);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    r->files = tfr_calloc(nfiles ? nfiles : 1, sizeof *r->files);
    if (!r->files) {
        tfr_example_free(ex);
        free(r);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    ctx c = {.r = r, .o = opts};
    double t0 = tfr_now();
    double total = 0;
    for (size_t i = 0; i < nfiles; i++) {
        FILE *f = fopen(files[i], "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            total += (double)ftell(f);
            fclose(f);
        }
    }
    tfr_progress *bar = tfr_progress_new("inspect", total / 1e6, "MB", opts->progress);
    double done_before = 0;
    int shown = 0;
    for (size_t i = 0; i < nfiles; i++) {
        tfr_inspect_file *f = &r->files[i];
        r->nfiles++;
        f->path = tfr_strdup(files[i]);
        f->manifest_records = -1;
        f->manifest_bytes = -1;
        tfr_reader_opts ro;
        tfr_reader_opts_init(&ro);
        ro.compression = opts->compression;
        ro.skip_corrupt = 1;
        ro.prefetch = 1; /* inflating and CRCs overlap the parse and the statistics */
        tfr_record_reader *rd = NULL;
        tfr_error e;
        tfr_error_clear(&e);
        const char *what = not_a_record_file(files[i]);
        if (what) {
            f->failed = 1;
            tfr_fail(&e, TFR_ERR_FORMAT, files[i], "%s, not a TFRecord file", what);
            add_defect(&c, &e);
            continue;
        }
        if (tfr_record_reader_open(files[i], &ro, &rd, &e)) {
            f->failed = 1;
            add_defect(&c, &e);
            continue;
        }
        skip_ctx sc = {&c};
        tfr_record_reader_on_skip(rd, on_skip, &sc);
        uint64_t *irec = NULL; /* (offset, length) of each record: opts->index_dir, or */
        size_t nirec = 0, icap = 0; /* to check an index the writer left beside the file */
        int ibad = 0;
        char have_ix[4400];
        int check_ix = existing_index(files[i], have_ix, sizeof have_ix);
        const uint8_t *d;
        size_t n;
        tfr_status s;
        uint64_t k = 0;
        while ((s = tfr_record_reader_next(rd, &d, &n, &e)) == TFR_OK) {
            if ((opts->index_dir || check_ix) && !ibad) {
                if (nirec == icap) {
                    size_t nc = icap ? icap * 2 : 4096;
                    uint64_t *v = tfr_realloc(irec, nc * 2 * sizeof *v);
                    if (!v)
                        ibad = 1;
                    else
                        irec = v, icap = nc;
                }
                if (!ibad) {
                    irec[2 * nirec] = tfr_record_reader_offset(rd);
                    irec[2 * nirec + 1] = n;
                    nirec++;
                }
            }
            if (tfr_example_parse_view(ex, d, n, &e)) { /* used before the next record */
                f->bad_examples++;
                tfr_error_at(&e, (long long)(k), (long long)tfr_record_reader_offset(rd), -1);
                snprintf(e.path, sizeof e.path, "%s", files[i]);
                add_defect(&c, &e);
            } else {
                scan_example(&c, ex);
                if (opts->on_example) {
                    tfr_status hs = opts->on_example(opts->user, files[i], k, ex, err);
                    if (hs) {
                        free(irec);
                        tfr_record_reader_close(rd);
                        tfr_progress_finish(bar);
                        tfr_example_free(ex);
                        tfr_inspect_report_free(r);
                        return hs;
                    }
                }
                if (shown < opts->show && opts->show_out) {
                    fprintf(opts->show_out, "--- %s record %llu (offset %llu)\n", files[i],
                            (unsigned long long)k,
                            (unsigned long long)tfr_record_reader_offset(rd));
                    tfr_example_print(ex, opts->show_out);
                    shown++;
                }
            }
            k++;
            if ((k & 1023) == 0 && bar) {
                tfr_reader_stats st;
                tfr_record_reader_stats(rd, &st);
                (void)st;
                tfr_progress_update(bar, done_before / 1e6);
            }
        }
        if (s != TFR_ERR_EOF) {
            f->failed = 1;
            add_defect(&c, &e);
        }
        tfr_record_reader_stats(rd, &f->st);
        tfr_record_reader_close(rd);
        if (check_ix && !ibad && !f->failed)
            check_index(&c, files[i], have_ix, f->st.file_bytes, irec, nirec);
        if (opts->index_dir) {
            const char *why = ibad ? "out of memory"
                              : f->failed || f->st.corrupt_skipped ? "it has defects"
                              : f->st.compression != TFR_COMPRESS_NONE && f->st.gzip_members > 1
                                  ? "it has several members (only one member or none is indexed)"
                                  : NULL;
            const char *base = strrchr(files[i], '/');
            char ip[4400];
            tfr_error ie;
            if (!why && snprintf(ip, sizeof ip, "%s/%s.index", opts->index_dir,
                                 base ? base + 1 : files[i]) >= (int)sizeof ip)
                why = "the index path is too long";
            if (!why && tfr_record_index_save(ip, f->st.file_bytes, f->st.compression,
                                              f->st.compression == TFR_COMPRESS_NONE, irec, nirec,
                                              NULL, 0, 1, &ie))
                why = ie.msg;
            if (why)
                add_note(&c, "%s: not indexed: %s", files[i], why);
            else
                r->indexed++;
        }
        free(irec);
        r->records += f->st.records;
        r->bytes += f->st.bytes;
        r->file_bytes += f->st.file_bytes;
        done_before += (double)f->st.file_bytes;
        tfr_progress_update(bar, done_before / 1e6);
    }
    tfr_progress_finish(bar);
    if (opts->label_key && !c.label_seen && r->records) {
        char keys[1024] = "";
        for (size_t i = 0, at = 0; i < r->nkeys && at < sizeof keys - 64; i++)
            at += (size_t)snprintf(keys + at, sizeof keys - at, "%s%s", i ? ", " : "",
                                   r->keys[i].key);
        tfr_status ks = tfr_fail(err, TFR_ERR_ARG, NULL, "--label-key %s: no record has it (the "
                                 "keys are: %s)", opts->label_key, keys);
        tfr_example_free(ex);
        tfr_inspect_report_free(r);
        return ks;
    }
    check_manifests(&c);
    r->seconds = tfr_now() - t0;
    tfr_example_free(ex);
    *out = r;
    return TFR_OK;
}

void tfr_inspect_report_free(tfr_inspect_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i].path);
    free(r->files);
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i].key);
    free(r->keys);
    for (size_t i = 0; i < r->nlabels; i++)
        free(r->labels[i].text);
    free(r->labels);
    for (size_t i = 0; i < r->nnotes; i++)
        free(r->notes[i]);
    free(r->notes);
    free(r->defects);
    free(r->label_key);
    free(r);
}
