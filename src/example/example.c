/*
 * example/example.c - tf.train.Example encode (builder) and decode (parser)
 * over the protobuf-c code generated from proto/feature.proto.
 *
 * The builder assembles the protobuf-c structs over the caller's buffers (no
 * copies of values) and packs once. The parser unpacks with an arena
 * allocator, so parsing a stream of records costs no malloc in steady state.
 */
#include "tfrecord/example.h"

#include <stdlib.h>
#include <string.h>

#include "example.pb-c.h"
#include "feature.pb-c.h"
#include "util/alloc.h"
#include "util/arena.h"

const char *tfr_feature_kind_name(tfr_feature_kind k)
{
    switch (k) {
    case TFR_FEATURE_BYTES: return "bytes";
    case TFR_FEATURE_FLOAT: return "float";
    case TFR_FEATURE_INT64: return "int64";
    default:                return "none";
    }
}

/* ---- builder ----------------------------------------------------------- */

typedef struct bfeat {
    char                             *key;
    Tensorflow__Feature               feat;
    Tensorflow__BytesList             bl;
    Tensorflow__FloatList             fl;
    Tensorflow__Int64List             il;
    Tensorflow__Features__FeatureEntry entry;
    ProtobufCBinaryData              *bins; /* for bytes lists */
    size_t                            bins_cap;
    int64_t                           i64;     /* storage for add_int64 */
    int                               own_i64; /* il.value points at i64 */
} bfeat;

struct tfr_example_builder {
    bfeat   *f;
    size_t   n, cap;
    Tensorflow__Features__FeatureEntry **entries;
    uint8_t *out;
    size_t   out_cap;
};

tfr_status tfr_example_builder_new(tfr_example_builder **out, tfr_error *err)
{
    if (!out)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example builder: NULL argument");
    *out = tfr_calloc(1, sizeof **out);
    return *out ? TFR_OK : tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
}

void tfr_example_builder_free(tfr_example_builder *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->cap; i++) {
        free(b->f[i].key);
        free(b->f[i].bins);
    }
    free(b->f);
    free(b->entries);
    free(b->out);
    free(b);
}

void tfr_example_builder_reset(tfr_example_builder *b)
{
    if (b)
        b->n = 0;
}

static tfr_status add_feat(tfr_example_builder *b, const char *key, bfeat **out,
                           tfr_error *err)
{
    if (!b || !key)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example builder: NULL argument");
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->f[i].key, key))
            return tfr_fail(err, TFR_ERR_ARG, NULL, "feature \"%s\" added twice", key);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        bfeat *f = tfr_realloc(b->f, cap * sizeof *f);
        if (!f)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        memset(f + b->cap, 0, (cap - b->cap) * sizeof *f);
        b->f = f;
        b->cap = cap;
    }
    bfeat *f = &b->f[b->n];
    size_t kl = strlen(key);
    char *k = tfr_realloc(f->key, kl + 1);
    if (!k)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    memcpy(k, key, kl + 1);
    f->key = k;
    tensorflow__feature__init(&f->feat);
    tensorflow__features__feature_entry__init(&f->entry);
    f->entry.key = f->key;
    f->entry.value = &f->feat;
    f->own_i64 = 0;
    b->n++;
    *out = f;
    return TFR_OK;
}

tfr_status tfr_example_add_bytes_list(tfr_example_builder *b, const char *key,
                                      const void *const *vals, const size_t *lens,
                                      size_t n, tfr_error *err)
{
    bfeat *f;
    tfr_status st = add_feat(b, key, &f, err);
    if (st)
        return st;
    if (n > f->bins_cap) {
        ProtobufCBinaryData *p = tfr_realloc(f->bins, n * sizeof *p);
        if (!p) {
            b->n--;
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        }
        f->bins = p;
        f->bins_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        f->bins[i].data = (uint8_t *)vals[i];
        f->bins[i].len = lens[i];
    }
    tensorflow__bytes_list__init(&f->bl);
    f->bl.n_value = n;
    f->bl.value = f->bins;
    f->feat.kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST;
    f->feat.bytes_list = &f->bl;
    return TFR_OK;
}

tfr_status tfr_example_add_bytes(tfr_example_builder *b, const char *key,
                                 const void *val, size_t len, tfr_error *err)
{
    return tfr_example_add_bytes_list(b, key, &val, &len, 1, err);
}

tfr_status tfr_example_add_string(tfr_example_builder *b, const char *key,
                                  const char *s, tfr_error *err)
{
    return tfr_example_add_bytes(b, key, s, s ? strlen(s) : 0, err);
}

tfr_status tfr_example_add_int64_list(tfr_example_builder *b, const char *key,
                                      const int64_t *v, size_t n, tfr_error *err)
{
    bfeat *f;
    tfr_status st = add_feat(b, key, &f, err);
    if (st)
        return st;
    tensorflow__int64_list__init(&f->il);
    f->il.n_value = n;
    f->il.value = (int64_t *)v;
    f->feat.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST;
    f->feat.int64_list = &f->il;
    return TFR_OK;
}

tfr_status tfr_example_add_int64(tfr_example_builder *b, const char *key,
                                 int64_t v, tfr_error *err)
{
    bfeat *f;
    tfr_status st = add_feat(b, key, &f, err);
    if (st)
        return st;
    /* the value lives in the feature slot itself */
    f->i64 = v;
    f->own_i64 = 1;
    tensorflow__int64_list__init(&f->il);
    f->il.n_value = 1;
    f->il.value = &f->i64;
    f->feat.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST;
    f->feat.int64_list = &f->il;
    return TFR_OK;
}

tfr_status tfr_example_add_float_list(tfr_example_builder *b, const char *key,
                                      const float *v, size_t n, tfr_error *err)
{
    bfeat *f;
    tfr_status st = add_feat(b, key, &f, err);
    if (st)
        return st;
    tensorflow__float_list__init(&f->fl);
    f->fl.n_value = n;
    f->fl.value = (float *)v;
    f->feat.kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST;
    f->feat.float_list = &f->fl;
    return TFR_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    const Tensorflow__Features__FeatureEntry *x = *(Tensorflow__Features__FeatureEntry *const *)a;
    const Tensorflow__Features__FeatureEntry *y = *(Tensorflow__Features__FeatureEntry *const *)b;
    return strcmp(x->key, y->key);
}

tfr_status tfr_example_builder_serialize(tfr_example_builder *b,
                                         const uint8_t **data, size_t *len,
                                         tfr_error *err)
{
    if (!b || !data || !len)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example builder: NULL argument");
    Tensorflow__Features__FeatureEntry **e =
        tfr_realloc(b->entries, (b->n ? b->n : 1) * sizeof *e);
    if (!e)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    b->entries = e;
    for (size_t i = 0; i < b->n; i++) {
        b->f[i].entry.key = b->f[i].key;
        b->f[i].entry.value = &b->f[i].feat;
        switch (b->f[i].feat.kind_case) { /* re-point after a realloc of f */
        case TENSORFLOW__FEATURE__KIND_BYTES_LIST:
            b->f[i].feat.bytes_list = &b->f[i].bl;
            b->f[i].bl.value = b->f[i].bins;
            break;
        case TENSORFLOW__FEATURE__KIND_FLOAT_LIST:
            b->f[i].feat.float_list = &b->f[i].fl;
            break;
        case TENSORFLOW__FEATURE__KIND_INT64_LIST:
            b->f[i].feat.int64_list = &b->f[i].il;
            if (b->f[i].own_i64)
                b->f[i].il.value = &b->f[i].i64;
            break;
        default:
            break;
        }
        e[i] = &b->f[i].entry;
    }
    qsort(e, b->n, sizeof *e, entry_cmp);
    Tensorflow__Features feats = TENSORFLOW__FEATURES__INIT;
    feats.n_feature = b->n;
    feats.feature = e;
    Tensorflow__Example ex = TENSORFLOW__EXAMPLE__INIT;
    ex.features = &feats;
    size_t n = tensorflow__example__get_packed_size(&ex);
    if (n > b->out_cap) {
        uint8_t *p = tfr_realloc(b->out, n);
        if (!p)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        b->out = p;
        b->out_cap = n;
    }
    size_t k = tensorflow__example__pack(&ex, b->out);
    if (k != n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example pack size mismatch");
    *data = b->out;
    *len = n;
    return TFR_OK;
}

/* ---- parser ------------------------------------------------------------ */

struct tfr_example {
    tfr_arena            arena;
    ProtobufCAllocator   alloc;
    Tensorflow__Example *msg;
    int                  oom;  /* the last parse ran out of memory */
};

/* protobuf-c reports any failure as NULL: remember which were ours */
static void *arena_alloc(void *data, size_t n)
{
    tfr_example *ex = data;
    void *p = tfr_arena_alloc(&ex->arena, n);
    if (!p)
        ex->oom = 1;
    return p;
}
static void  arena_free(void *data, void *p) { (void)data; (void)p; }

tfr_status tfr_example_new(tfr_example **out, tfr_error *err)
{
    if (!out)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example: NULL argument");
    tfr_example *ex = tfr_calloc(1, sizeof *ex);
    if (!ex)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_arena_init(&ex->arena, 64 << 10);
    ex->alloc.alloc = arena_alloc;
    ex->alloc.free = arena_free;
    ex->alloc.allocator_data = ex;
    *out = ex;
    return TFR_OK;
}

void tfr_example_free(tfr_example *ex)
{
    if (!ex)
        return;
    tfr_arena_free(&ex->arena);
    free(ex);
}

tfr_status tfr_example_parse(tfr_example *ex, const void *data, size_t len,
                             tfr_error *err)
{
    if (!ex || (!data && len))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example: NULL argument");
    tfr_arena_reset(&ex->arena);
    ex->oom = 0;
    ex->msg = tensorflow__example__unpack(&ex->alloc, len, data);
    if (!ex->msg && ex->oom)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory parsing a %zu-byte Example", len);
    if (!ex->msg)
        return tfr_fail(err, TFR_ERR_CORRUPT, NULL,
                        "not a valid tf.train.Example (protobuf decode failed, %zu bytes)",
                        len);
    /* a key-less or value-less map entry is legal protobuf: normalize */
    Tensorflow__Features *f = ex->msg->features;
    for (size_t i = 0; f && i < f->n_feature; i++)
        if (!f->feature[i]->key)
            f->feature[i]->key = "";
    return TFR_OK;
}

static Tensorflow__Features__FeatureEntry *entry(const tfr_example *ex, size_t i)
{
    if (!ex || !ex->msg || !ex->msg->features || i >= ex->msg->features->n_feature)
        return NULL;
    return ex->msg->features->feature[i];
}

size_t tfr_example_num_features(const tfr_example *ex)
{
    return ex && ex->msg && ex->msg->features ? ex->msg->features->n_feature : 0;
}

const char *tfr_example_key(const tfr_example *ex, size_t i)
{
    Tensorflow__Features__FeatureEntry *e = entry(ex, i);
    return e ? e->key : NULL;
}

tfr_feature_kind tfr_example_kind(const tfr_example *ex, size_t i)
{
    Tensorflow__Features__FeatureEntry *e = entry(ex, i);
    if (!e || !e->value)
        return TFR_FEATURE_NONE;
    switch (e->value->kind_case) {
    case TENSORFLOW__FEATURE__KIND_BYTES_LIST: return TFR_FEATURE_BYTES;
    case TENSORFLOW__FEATURE__KIND_FLOAT_LIST: return TFR_FEATURE_FLOAT;
    case TENSORFLOW__FEATURE__KIND_INT64_LIST: return TFR_FEATURE_INT64;
    default:                                   return TFR_FEATURE_NONE;
    }
}

size_t tfr_example_count(const tfr_example *ex, size_t i)
{
    Tensorflow__Features__FeatureEntry *e = entry(ex, i);
    if (!e || !e->value)
        return 0;
    switch (e->value->kind_case) {
    case TENSORFLOW__FEATURE__KIND_BYTES_LIST:
        return e->value->bytes_list ? e->value->bytes_list->n_value : 0;
    case TENSORFLOW__FEATURE__KIND_FLOAT_LIST:
        return e->value->float_list ? e->value->float_list->n_value : 0;
    case TENSORFLOW__FEATURE__KIND_INT64_LIST:
        return e->value->int64_list ? e->value->int64_list->n_value : 0;
    default:
        return 0;
    }
}

long tfr_example_find(const tfr_example *ex, const char *key)
{
    size_t n = tfr_example_num_features(ex);
    for (size_t i = n; i-- > 0;)
        if (!strcmp(ex->msg->features->feature[i]->key, key))
            return (long)i;
    return -1;
}

int tfr_example_int64_at(const tfr_example *ex, size_t i, const int64_t **v, size_t *n)
{
    if (tfr_example_kind(ex, i) != TFR_FEATURE_INT64)
        return 0;
    Tensorflow__Int64List *l = entry(ex, i)->value->int64_list;
    *v = l ? l->value : NULL;
    *n = l ? l->n_value : 0;
    return 1;
}

int tfr_example_float_at(const tfr_example *ex, size_t i, const float **v, size_t *n)
{
    if (tfr_example_kind(ex, i) != TFR_FEATURE_FLOAT)
        return 0;
    Tensorflow__FloatList *l = entry(ex, i)->value->float_list;
    *v = l ? l->value : NULL;
    *n = l ? l->n_value : 0;
    return 1;
}

int tfr_example_bytes_at(const tfr_example *ex, size_t i, size_t j,
                         const uint8_t **p, size_t *n)
{
    if (tfr_example_kind(ex, i) != TFR_FEATURE_BYTES)
        return 0;
    Tensorflow__BytesList *l = entry(ex, i)->value->bytes_list;
    if (!l || j >= l->n_value)
        return 0;
    *p = l->value[j].data;
    *n = l->value[j].len;
    return 1;
}

static tfr_status lookup(const tfr_example *ex, const char *key,
                         tfr_feature_kind want, size_t *idx, tfr_error *err)
{
    long i = ex && key ? tfr_example_find(ex, key) : -1;
    if (i < 0)
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "feature \"%s\" is missing",
                        key ? key : "(null)");
    tfr_feature_kind k = tfr_example_kind(ex, (size_t)i);
    if (k != want)
        return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                        "feature \"%s\" is a %s list, expected %s", key,
                        tfr_feature_kind_name(k), tfr_feature_kind_name(want));
    *idx = (size_t)i;
    return TFR_OK;
}

tfr_status tfr_example_get_int64(const tfr_example *ex, const char *key,
                                 const int64_t **v, size_t *n, tfr_error *err)
{
    size_t i = 0;
    tfr_status st = lookup(ex, key, TFR_FEATURE_INT64, &i, err);
    if (!st)
        tfr_example_int64_at(ex, i, v, n);
    return st;
}

tfr_status tfr_example_get_float(const tfr_example *ex, const char *key,
                                 const float **v, size_t *n, tfr_error *err)
{
    size_t i = 0;
    tfr_status st = lookup(ex, key, TFR_FEATURE_FLOAT, &i, err);
    if (!st)
        tfr_example_float_at(ex, i, v, n);
    return st;
}

tfr_status tfr_example_get_bytes(const tfr_example *ex, const char *key, size_t j,
                                 const uint8_t **p, size_t *n, tfr_error *err)
{
    size_t i = 0;
    tfr_status st = lookup(ex, key, TFR_FEATURE_BYTES, &i, err);
    if (st)
        return st;
    if (!tfr_example_bytes_at(ex, i, j, p, n))
        return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                        "feature \"%s\" has %zu values, index %zu requested", key,
                        tfr_example_count(ex, i), j);
    return TFR_OK;
}

tfr_status tfr_example_get_int64_scalar(const tfr_example *ex, const char *key,
                                        int64_t *out, tfr_error *err)
{
    const int64_t *v;
    size_t n;
    tfr_status st = tfr_example_get_int64(ex, key, &v, &n, err);
    if (st)
        return st;
    if (n != 1)
        return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                        "feature \"%s\" has %zu values, expected 1", key, n);
    *out = v[0];
    return TFR_OK;
}

tfr_status tfr_example_get_bytes_scalar(const tfr_example *ex, const char *key,
                                        const uint8_t **p, size_t *n, tfr_error *err)
{
    size_t i = 0;
    tfr_status st = lookup(ex, key, TFR_FEATURE_BYTES, &i, err);
    if (st)
        return st;
    if (tfr_example_count(ex, i) != 1)
        return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                        "feature \"%s\" has %zu values, expected 1", key,
                        tfr_example_count(ex, i));
    tfr_example_bytes_at(ex, i, 0, p, n);
    return TFR_OK;
}
