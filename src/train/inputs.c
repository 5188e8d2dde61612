/*
 * train/inputs.c - which shards a training or validation source means.
 *
 * A folder or manifest holds every split tfrecord-write made. Training on
 * "out/" must not mean training on its test split, so a source that names
 * no split takes the conventional one ("train"; for validation
 * "validation", else "val", else "test"), and a training source that would
 * still take a validation or test split (a glob, a file list, a set without
 * a train split) is refused with the command that fixes it. (A validation
 * source of one split is taken whatever its name: tfrecord-write calls the
 * only split of a single tree "train".)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfrecord/example.h"
#include "tfrecord/image.h"
#include "tfrecord/layout.h"
#include "tfrecord/manifest.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "tfrecord/train.h"
#include "train/train_impl.h"
#include "util/alloc.h"

static int is_eval_split(const char *s)
{
    return !strcmp(s, "validation") || !strcmp(s, "val") || !strcmp(s, "test");
}

void tfr_train_inputs_free(tfr_train_inputs *in)
{
    if (!in)
        return;
    for (int i = 0; i < in->n; i++)
        free(in->sources[i]);
    free(in->sources);
    free(in->text);
    memset(in, 0, sizeof *in);
}

/* Appends a formatted line to *text (grown as needed). */
static int add_line(char **text, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int add_line(char **text, size_t *len, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k < 0)
        return -1;
    size_t add = strlen(line);
    char *t = tfr_realloc(*text, *len + add + 2);
    if (!t)
        return -1;
    memcpy(t + *len, line, add);
    t[*len + add] = '\n';
    t[*len + add + 1] = 0;
    *text = t;
    *len += add + 1;
    return 0;
}

tfr_status tfr_train_inputs_resolve(const char *const *src, int n, int training,
                                    tfr_train_inputs *out, tfr_error *err)
{
    static const char *const train_names[] = {"train"};
    static const char *const val_names[] = {"validation", "val", "test"};
    const char *role = training ? "train" : "val";
    memset(out, 0, sizeof *out);
    out->sources = tfr_calloc(n > 0 ? (size_t)n : 1, sizeof *out->sources);
    if (!out->sources)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_status st = TFR_OK;
    size_t tl = 0;
    for (int i = 0; i < n && !st; i++) {
        char res[4500], chosen[32];
        if ((st = tfr_shardset_default_split(src[i], training ? train_names : val_names,
                                             training ? 1 : 3, res, sizeof res, chosen,
                                             sizeof chosen, err)))
            break;
        if (!(out->sources[i] = tfr_strdup(res))) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        out->n = i + 1;
        tfr_shard_source *v = NULL;
        size_t nv = 0;
        const char *one[1] = {res};
        if ((st = tfr_shardset_expand(one, 1, &v, &nv, err)))
            break;
        tfr_split_count sc[16];
        size_t ns = tfr_shardset_splits(v, nv, sc, 16);
        /* a split the role must not take, unless the source named it */
        for (size_t k = 0; k < ns && k < 16 && !st; k++) {
            int wrong = training && is_eval_split(sc[k].name);
            if (wrong && !v[0].selected) {
                /* the fix names the set's folder (a glob or a file cannot take a split) */
                char dir[4400];
                snprintf(dir, sizeof dir, "%s", v[0].path);
                char *slash = strrchr(dir, '/');
                if (slash)
                    slash[1] = 0;
                else
                    snprintf(dir, sizeof dir, "./");
                st = tfr_fail(err, TFR_ERR_ARG, src[i],
                              "--%s %s would include the '%s' split (%zu shard%s)%s; name the "
                              "split to use, e.g. --%s '%s:%s'",
                              role, src[i], sc[k].name, sc[k].shards, sc[k].shards == 1 ? "" : "s",
                              ", which is for evaluation", role, dir, "train");
            }
        }
        for (size_t k = 0; k < ns && k < 16 && !st; k++) {
            char recs[48];
            if (sc[k].complete)
                snprintf(recs, sizeof recs, "%llu records", (unsigned long long)sc[k].records);
            else
                snprintf(recs, sizeof recs, "records uncounted");
            char what[1100];
            if (sc[k].name[0] && v[0].selected && !chosen[0])
                snprintf(what, sizeof what, "split %s, named by %s", sc[k].name, src[i]);
            else if (sc[k].name[0])
                snprintf(what, sizeof what, "split %s of %s%s%s", sc[k].name, src[i],
                         chosen[0] ? ", the default for --" : "", chosen[0] ? role : "");
            else
                snprintf(what, sizeof what, "%s", src[i]);
            if (add_line(&out->text, &tl, "%s: %s in %zu shard%s (%s)", role, recs, sc[k].shards,
                         sc[k].shards == 1 ? "" : "s", what))
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        }
        tfr_shardset_free(v, nv);
    }
    if (st)
        tfr_train_inputs_free(out);
    return st;
}

/* The labels source i's manifest says it holds: [*first, *first + *n); *n 0 when unknown. */
static tfr_status label_range(const char *source, int *first, int *n, char *mp, size_t mn,
                              tfr_error *err)
{
    *first = *n = 0;
    mp[0] = 0;
    tfr_shard_source *v = NULL;
    size_t nv = 0;
    const char *one[1] = {source};
    tfr_status st = tfr_shardset_expand(one, 1, &v, &nv, err);
    if (st)
        return st;
    /* the manifest of the first file's folder, when there is one */
    char dir[4400];
    snprintf(dir, sizeof dir, "%s", v[0].path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    tfr_shardset_free(v, nv);
    if (!tfr_manifest_in(dir))
        return TFR_OK;
    snprintf(mp, mn, "%s/%s", dir, TFR_MANIFEST_NAME);
    tfr_manifest *m = NULL;
    if ((st = tfr_manifest_load(mp, &m, err)))
        return st;
    *first = m->options.label_offset;
    *n = m->nclasses;
    tfr_manifest_free(m);
    return TFR_OK;
}

tfr_status tfr_train_inputs_class_names(const tfr_train_inputs *in, char ***names, int *n,
                                        int *first, tfr_error *err)
{
    *names = NULL;
    *n = *first = 0;
    if (in->n == 0)
        return TFR_OK;
    int nc;
    char mp[4500], lp[4600];
    tfr_status st = label_range(in->sources[0], first, &nc, mp, sizeof mp, err);
    if (st)
        return st;
    if (mp[0]) {
        if (tfr_labels_beside(mp, lp, sizeof lp))
            return TFR_OK;
    } else {
        /* no manifest: a labels.txt beside the first file still names them */
        tfr_shard_source *v = NULL;
        size_t nv = 0;
        const char *one[1] = {in->sources[0]};
        if ((st = tfr_shardset_expand(one, 1, &v, &nv, err)))
            return st;
        int bad = tfr_labels_beside(v[0].path, lp, sizeof lp);
        tfr_shardset_free(v, nv);
        if (bad)
            return TFR_OK;
    }
    if (access(lp, F_OK) != 0)
        return TFR_OK;
    return tfr_labels_load(lp, 0, names, n, err);
}

tfr_status tfr_train_inputs_check_classes(const tfr_train_inputs *in, int classes, tfr_error *err)
{
    for (int i = 0; i < in->n; i++) {
        int first, n;
        char mp[4500];
        tfr_status st = label_range(in->sources[i], &first, &n, mp, sizeof mp, err);
        if (st)
            return st;
        if (n > 0 && first + n > classes)
            return tfr_fail(err, TFR_ERR_ARG, mp,
                            "the labels of these shards run from %d to %d (%d classes%s), but the "
                            "model has %d classes (labels 0..%d): give --classes %d",
                            first, first + n - 1, n,
                            first ? ", written with --label-offset" : "", classes, classes - 1,
                            first + n);
    }
    return TFR_OK;
}

tfr_status tfr_train_inputs_probe(const tfr_train_inputs *in, tfr_train_data_info *out,
                                  tfr_error *err)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < in->n; i++) {
        int first, n;
        char mp[4500];
        tfr_status st = label_range(in->sources[i], &first, &n, mp, sizeof mp, err);
        if (st)
            return st;
        if (n > 0 && first + n > out->classes)
            out->classes = first + n;
    }
    if (in->n == 0)
        return TFR_OK;
    /* the first record's image, as stored */
    tfr_shard_source *v = NULL;
    size_t nv = 0;
    const char *one[1] = {in->sources[0]};
    tfr_status st = tfr_shardset_expand(one, 1, &v, &nv, err);
    if (st)
        return st;
    tfr_record_reader *r = NULL;
    tfr_example *ex = NULL;
    tfr_image_ctx *ctx = NULL;
    const uint8_t *d;
    size_t len;
    tfr_layout_image li;
    if (!(st = tfr_record_reader_open(v[0].path, NULL, &r, err)) &&
        !(st = tfr_record_reader_next(r, &d, &len, err)) &&
        !(st = tfr_example_new(&ex, err)) && !(st = tfr_example_parse(ex, d, len, err)) &&
        !(st = tfr_layout_find_image(ex, NULL, &li, err))) {
        if (li.kind == TFR_PAYLOAD_RAW) {
            out->height = li.height;
            out->width = li.width;
            out->channels = li.channels;
        } else if (li.kind == TFR_PAYLOAD_ENCODED) {
            tfr_image_info info;
            if (!(st = tfr_image_ctx_new(&ctx, err)) &&
                !(st = tfr_image_probe(ctx, li.data, li.len, &info, err))) {
                int swap = info.orientation >= 5;
                out->height = swap ? info.width : info.height;
                out->width = swap ? info.height : info.width;
                out->channels = info.components == 1 || info.components == 2 ? 1 : 3;
            }
        } else {
            tfr_tensor t;
            if (!(st = tfr_tensor_parse_bounded(li.data, li.len, TFR_DT_FLOAT,
                                                TFR_STREAM_TENSOR_MIN_BYTES, &t, err))) {
                if (t.rank == 3 && t.shape[0] <= 65535 && t.shape[1] <= 65535) {
                    out->height = (int)t.shape[0];
                    out->width = (int)t.shape[1];
                    out->channels = (int)t.shape[2];
                }
                tfr_tensor_clear(&t);
            }
        }
        snprintf(out->file, sizeof out->file, "%s", v[0].path);
    }
    if (st == TFR_ERR_EOF)
        st = TFR_OK; /* an empty first file: nothing to shape after */
    if (st && err && !err->path[0])
        snprintf(err->path, sizeof err->path, "%s", v[0].path);
    tfr_image_ctx_free(ctx);
    tfr_example_free(ex);
    tfr_record_reader_close(r);
    tfr_shardset_free(v, nv);
    return st;
}
