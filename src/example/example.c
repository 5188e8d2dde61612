/*
 * example/example.c - tf.train.Example encode (builder) and decode (parser)
 * over the protobuf-c code generated from proto/feature.proto.
 *
 * The builder assembles the protobuf-c structs over the caller's buffers (no
 * copies of values) and packs once. The parser is example/wire.c, a direct
 * decoder of the wire format; protobuf-c's unpack stays here as the
 * reference it is tested against. Both use an arena, so parsing a stream of
 * records costs no malloc in steady state.
 */
#include "tfrecord/example.h"

#include <stdlib.h>
#include <string.h>

#include "example.pb-c.h"
#include "feature.pb-c.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "example/example_impl.h"

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

/* protobuf-c reports any failure as NULL: remember which were ours */
static void *arena_alloc(void *data, size_t n)
{
    tfr_example *ex = data;
    void *p = tfr_arena_alloc(&ex->arena, n);
    if (!p)
        ex->oom = 1;
    return p;
}
static void arena_free(void *data, void *p) { (void)data; (void)p; }

tfr_status tfr_example_new(tfr_example **out, tfr_error *err)
{
    if (!out)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example: NULL argument");
    tfr_example *ex = tfr_calloc(1, sizeof *ex);
    ProtobufCAllocator *a = tfr_calloc(1, sizeof *a);
    if (!ex || !a) {
        free(ex);
        free(a);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    tfr_arena_init(&ex->arena, 64 << 10);
    a->alloc = arena_alloc;
    a->free = arena_free;
    a->allocator_data = ex;
    ex->pbc = a;
    *out = ex;
    return TFR_OK;
}

void tfr_example_free(tfr_example *ex)
{
    if (!ex)
        return;
    tfr_arena_free(&ex->arena);
    free(ex->f);
    free(ex->pbc);
    free(ex);
}

int tfr_example_reserve(tfr_example *ex, size_t n)
{
    if (n <= ex->fcap)
        return 0;
    tfr_xfeat *nf = tfr_realloc(ex->f, n * sizeof *nf);
    if (!nf)
        return -1;
    ex->f = nf;
    ex->fcap = n;
    return 0;
}

/* The reference decoder: protobuf-c's generated unpack, then the same arrays. */
int tfr_example_decode_pbc(tfr_example *ex, const uint8_t *data, size_t len)
{
    Tensorflow__Example *msg = tensorflow__example__unpack(ex->pbc, len, data);
    if (!msg)
        return ex->oom ? -2 : -1;
    Tensorflow__Features *f = msg->features;
    size_t n = f ? f->n_feature : 0;
    if (tfr_example_reserve(ex, n))
        return -2;
    for (size_t i = 0; i < n; i++) {
        Tensorflow__Features__FeatureEntry *e = f->feature[i];
        tfr_xfeat *x = &ex->f[i];
        x->key = e->key ? e->key : ""; /* a key-less entry is legal protobuf */
        x->kind = TFR_FEATURE_NONE;
        x->n = 0;
        x->v = NULL;
        Tensorflow__Feature *v = e->value;
        if (!v)
            continue;
        if (v->kind_case == TENSORFLOW__FEATURE__KIND_BYTES_LIST && v->bytes_list) {
            size_t k = v->bytes_list->n_value;
            tfr_xbytes *b = k ? tfr_arena_alloc(&ex->arena, k * sizeof *b) : NULL;
            if (k && !b)
                return -2;
            for (size_t j = 0; j < k; j++) {
                b[j].p = v->bytes_list->value[j].data;
                b[j].n = v->bytes_list->value[j].len;
            }
            x->kind = TFR_FEATURE_BYTES;
            x->n = k;
            x->v = b;
        } else if (v->kind_case == TENSORFLOW__FEATURE__KIND_FLOAT_LIST && v->float_list) {
            x->kind = TFR_FEATURE_FLOAT;
            x->n = v->float_list->n_value;
            x->v = v->float_list->value;
        } else if (v->kind_case == TENSORFLOW__FEATURE__KIND_INT64_LIST && v->int64_list) {
            x->kind = TFR_FEATURE_INT64;
            x->n = v->int64_list->n_value;
            x->v = v->int64_list->value;
        }
    }
    ex->nf = n;
    return 0;
}

static tfr_status parse_with(tfr_example *ex, const void *data, size_t len, tfr_error *err,
                             int (*decode)(tfr_example *, const uint8_t *, size_t), int view)
{
    if (!ex || (!data && len))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "example: NULL argument");
    ex->view = view;
    tfr_arena_reset(&ex->arena);
    ex->oom = 0;
    ex->pbc_refuses = 0;
    ex->nf = 0;
    int rc = decode(ex, data ? data : (const void *)"", len);
    if (rc) {
        ex->nf = 0; /* nothing of a failed parse is visible */
        if (rc == -2)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory parsing a %zu-byte Example",
                            len);
        return tfr_fail(err, TFR_ERR_CORRUPT, NULL,
                        "not a valid tf.train.Example (protobuf decode failed, %zu bytes)", len);
    }
    return TFR_OK;
}

tfr_status tfr_example_parse(tfr_example *ex, const void *data, size_t len, tfr_error *err)
{
    return parse_with(ex, data, len, err, tfr_example_decode_wire, 0);
}

tfr_status tfr_example_parse_view(tfr_example *ex, const void *data, size_t len, tfr_error *err)
{
    return parse_with(ex, data, len, err, tfr_example_decode_wire, 1);
}

tfr_status tfr_example_parse_reference(tfr_example *ex, const void *data, size_t len,
                                       tfr_error *err)
{
    return parse_with(ex, data, len, err, tfr_example_decode_pbc, 0);
}

int tfr_example_same(const tfr_example *a, const tfr_example *b)
{
    if (a->nf != b->nf)
        return 0;
    for (size_t i = 0; i < a->nf; i++) {
        const tfr_xfeat *x = &a->f[i], *y = &b->f[i];
        if (strcmp(x->key, y->key) || x->kind != y->kind || x->n != y->n)
            return 0;
        if (x->kind == TFR_FEATURE_BYTES) {
            const tfr_xbytes *p = x->v, *q = y->v;
            for (size_t j = 0; j < x->n; j++)
                if (p[j].n != q[j].n || (p[j].n && memcmp(p[j].p, q[j].p, p[j].n)))
                    return 0;
        } else if (x->n && memcmp(x->v, y->v,
                                  x->n * (x->kind == TFR_FEATURE_FLOAT ? 4 : 8))) {
            return 0;
        }
    }
    return 1;
}

static const tfr_xfeat *entry(const tfr_example *ex, size_t i)
{
    return ex && i < ex->nf ? &ex->f[i] : NULL;
}

size_t tfr_example_num_features(const tfr_example *ex)
{
    return ex ? ex->nf : 0;
}

const char *tfr_example_key(const tfr_example *ex, size_t i)
{
    const tfr_xfeat *e = entry(ex, i);
    return e ? e->key : NULL;
}

tfr_feature_kind tfr_example_kind(const tfr_example *ex, size_t i)
{
    const tfr_xfeat *e = entry(ex, i);
    return e ? e->kind : TFR_FEATURE_NONE;
}

size_t tfr_example_count(const tfr_example *ex, size_t i)
{
    const tfr_xfeat *e = entry(ex, i);
    return e ? e->n : 0;
}

long tfr_example_find(const tfr_example *ex, const char *key)
{
    size_t n = tfr_example_num_features(ex);
    for (size_t i = n; i-- > 0;)
        if (!strcmp(ex->f[i].key, key))
            return (long)i;
    return -1;
}

int tfr_example_int64_at(const tfr_example *ex, size_t i, const int64_t **v, size_t *n)
{
    const tfr_xfeat *e = entry(ex, i);
    if (!e || e->kind != TFR_FEATURE_INT64)
        return 0;
    *v = e->v;
    *n = e->n;
    return 1;
}

int tfr_example_float_at(const tfr_example *ex, size_t i, const float **v, size_t *n)
{
    const tfr_xfeat *e = entry(ex, i);
    if (!e || e->kind != TFR_FEATURE_FLOAT)
        return 0;
    *v = e->v;
    *n = e->n;
    return 1;
}

int tfr_example_bytes_at(const tfr_example *ex, size_t i, size_t j,
                         const uint8_t **p, size_t *n)
{
    const tfr_xfeat *e = entry(ex, i);
    if (!e || e->kind != TFR_FEATURE_BYTES || j >= e->n)
        return 0;
    const tfr_xbytes *b = e->v;
    *p = b[j].p;
    *n = b[j].n;
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
