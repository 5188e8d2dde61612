/*
 * example/wire.c - tf.train.Example straight from the protobuf wire format.
 *
 * The messages (proto/feature.proto, proto/example.proto):
 *   Example   { Features features = 1; }
 *   Features  { map<string, Feature> feature = 1; }   entry: key = 1, value = 2
 *   Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
 *                            Int64List int64_list = 3; } }
 *   BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1; }
 *   Int64List { repeated int64 value = 1; }  (float and int64 packed or not)
 *
 * The rules are protobuf-c's (example_impl.h), so this decoder accepts
 * exactly what the generated unpack accepts and yields the same values;
 * tests/fuzz/fuzz_example.c and test_example compare the two. It skips the
 * generic machinery (descriptor lookups, a scan pass that stores every
 * member, per-message allocations, unknown fields kept) and so parses an
 * Example several times faster. Every length is checked against the bytes
 * that remain before it is used; nothing is allocated before the bytes it
 * describes are known to be there.
 */
#include "example/example_impl.h"

#include <limits.h>
#include <string.h>

enum { WT_VARINT = 0, WT_64 = 1, WT_LEN = 2, WT_32 = 5 };

typedef struct field {
    uint32_t       num;
    int            wt;
    const uint8_t *p; /* LEN: the payload; VARINT: the varint; 64/32: the bytes */
    size_t         n;
} field;

/* The next field of [*at, end): 1, 0 at the end, -1 when malformed. */
static int next_field(const uint8_t **at, const uint8_t *end, field *f)
{
    const uint8_t *d = *at;
    size_t rem = (size_t)(end - d);
    if (!rem)
        return 0;
    if ((d[0] & 0xf8) == 0) /* field number 0 in the first byte */
        return -1;
    f->wt = d[0] & 7;
    uint32_t tag = (uint32_t)(d[0] & 0x7f) >> 3;
    size_t used = 1;
    if (d[0] & 0x80) {
        size_t maxr = rem > 5 ? 5 : rem, r;
        unsigned shift = 4;
        for (r = 1; r < maxr; r++) {
            if (d[r] & 0x80) {
                tag |= (uint32_t)(d[r] & 0x7f) << shift;
                shift += 7;
            } else {
                tag |= (uint32_t)d[r] << shift;
                break;
            }
        }
        if (r == maxr)
            return -1;
        used = r + 1;
    }
    f->num = tag;
    d += used;
    rem -= used;
    switch (f->wt) {
    case WT_VARINT: {
        size_t maxl = rem < 10 ? rem : 10, i;
        for (i = 0; i < maxl; i++)
            if (!(d[i] & 0x80))
                break;
        if (i == maxl)
            return -1;
        f->p = d;
        f->n = i + 1;
        break;
    }
    case WT_64:
    case WT_32: {
        size_t k = f->wt == WT_64 ? 8 : 4;
        if (rem < k)
            return -1;
        f->p = d;
        f->n = k;
        break;
    }
    case WT_LEN: {
        size_t hmax = rem < 5 ? rem : 5, i, val = 0;
        unsigned shift = 0;
        for (i = 0; i < hmax; i++) {
            val |= ((size_t)d[i] & 0x7f) << shift;
            shift += 7;
            if (!(d[i] & 0x80))
                break;
        }
        if (i == hmax || val > INT_MAX || i + 1 + val > rem)
            return -1;
        f->p = d + i + 1;
        f->n = val;
        *at = d + i + 1 + val;
        return 1;
    }
    default: /* groups and reserved wire types */
        return -1;
    }
    *at = d + f->n;
    return 1;
}

/* a varint of n bytes (n <= 10, terminated), bits past 64 dropped */
static uint64_t varint(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    return v;
}

/*
 * A list message (kind BYTES, FLOAT or INT64): counts its values into *cnt
 * and, when out is given, stores them (copies, in the arena for bytes).
 * 0, or -1 when malformed, -2 out of memory.
 */
static int list(tfr_example *ex, tfr_feature_kind kind, const uint8_t *p, size_t n, void *out,
                size_t *cnt)
{
    const uint8_t *at = p, *end = p + n;
    size_t k = 0;
    field f;
    int r;
    while ((r = next_field(&at, end, &f)) > 0) {
        if (f.num != 1)
            continue; /* unknown field */
        if (kind == TFR_FEATURE_BYTES) {
            if (f.wt != WT_LEN)
                return -1;
            if (out) {
                tfr_xbytes *b = (tfr_xbytes *)out + k;
                b->n = f.n;
                b->p = NULL;
                if (f.n && ex->view) {
                    b->p = f.p;
                } else if (f.n) {
                    uint8_t *c = tfr_arena_alloc(&ex->arena, f.n);
                    if (!c)
                        return -2;
                    memcpy(c, f.p, f.n);
                    b->p = c;
                }
            }
            k++;
        } else if (kind == TFR_FEATURE_FLOAT) {
            if (f.wt == WT_32) {
                if (out)
                    memcpy((float *)out + k, f.p, 4);
                k++;
            } else if (f.wt == WT_LEN) {
                if (f.n % 4)
                    return -1;
                if (out && f.n)
                    memcpy((float *)out + k, f.p, f.n);
                k += f.n / 4;
            } else {
                return -1;
            }
        } else {
            if (f.wt == WT_VARINT) {
                if (out)
                    ((int64_t *)out)[k] = (int64_t)varint(f.p, f.n);
                k++;
            } else if (f.wt == WT_LEN) {
                const uint8_t *q = f.p, *qe = f.p + f.n;
                while (q < qe) {
                    size_t maxl = (size_t)(qe - q) < 10 ? (size_t)(qe - q) : 10, i;
                    for (i = 0; i < maxl; i++)
                        if (!(q[i] & 0x80))
                            break;
                    if (i == maxl)
                        return -1;
                    if (out)
                        ((int64_t *)out)[k] = (int64_t)varint(q, i + 1);
                    k++;
                    q += i + 1;
                }
            } else {
                return -1;
            }
        }
    }
    if (r < 0)
        return -1;
    *cnt = k;
    return 0;
}

static const tfr_feature_kind kind_of_field[4] = {TFR_FEATURE_NONE, TFR_FEATURE_BYTES,
                                                  TFR_FEATURE_FLOAT, TFR_FEATURE_INT64};

/* A Feature: the last list of the oneof (every one checked). 0 / -1. */
static int feature(tfr_example *ex, const uint8_t *p, size_t n, tfr_feature_kind *kind,
                   const uint8_t **lp, size_t *ln)
{
    const uint8_t *at = p, *end = p + n;
    field f;
    int r;
    *kind = TFR_FEATURE_NONE;
    while ((r = next_field(&at, end, &f)) > 0) {
        if (f.num < 1 || f.num > 3)
            continue;
        if (f.wt != WT_LEN)
            return -1;
        size_t cnt;
        if (list(ex, kind_of_field[f.num], f.p, f.n, NULL, &cnt))
            return -1;
        *kind = kind_of_field[f.num];
        *lp = f.p;
        *ln = f.n;
    }
    return r < 0 ? -1 : 0;
}

/* One map entry into x: the last key; values merged as protobuf-c merges them. */
static int entry(tfr_example *ex, const uint8_t *p, size_t n, tfr_xfeat *x)
{
    const uint8_t *at = p, *end = p + n, *key = NULL, *lp = NULL;
    size_t keyn = 0, ln = 0;
    tfr_feature_kind kind = TFR_FEATURE_NONE;
    int seen = 0; /* a value came before */
    field f;
    int r;
    while ((r = next_field(&at, end, &f)) > 0) {
        if (f.num == 1) {
            if (f.wt != WT_LEN)
                return -1;
            key = f.p;
            keyn = f.n;
        } else if (f.num == 2) {
            if (f.wt != WT_LEN)
                return -1;
            tfr_feature_kind k;
            const uint8_t *q = NULL;
            size_t qn = 0;
            if (feature(ex, f.p, f.n, &k, &q, &qn))
                return -1;
            if (seen && kind == TFR_FEATURE_NONE && k == TFR_FEATURE_NONE)
                ex->pbc_refuses = 1;
            seen = 1;
            if (k != TFR_FEATURE_NONE) { /* a later Feature without a list keeps this one */
                kind = k;
                lp = q;
                ln = qn;
            }
        }
    }
    if (r < 0)
        return -1;
    char *kc = tfr_arena_alloc(&ex->arena, keyn + 1);
    if (!kc)
        return -2;
    if (keyn)
        memcpy(kc, key, keyn);
    kc[keyn] = 0;
    x->key = kc;
    x->kind = kind;
    x->n = 0;
    x->v = NULL;
    if (kind == TFR_FEATURE_NONE)
        return 0;
    size_t cnt = 0;
    list(ex, kind, lp, ln, NULL, &cnt); /* checked by feature() */
    size_t el = kind == TFR_FEATURE_BYTES ? sizeof(tfr_xbytes)
                : kind == TFR_FEATURE_FLOAT ? sizeof(float) : sizeof(int64_t);
    void *v = NULL;
    if (cnt && !(v = tfr_arena_alloc(&ex->arena, cnt * el)))
        return -2;
    int rc = list(ex, kind, lp, ln, v, &cnt);
    if (rc)
        return rc;
    x->n = cnt;
    x->v = v;
    return 0;
}

/* The entries of every Features (field 1) of the Example, in order: two
 * passes, the first checking the structure and counting the entries. */
int tfr_example_decode_wire(tfr_example *ex, const uint8_t *data, size_t len)
{
    /* pass 1: the structure checked down to the map entries, entries counted */
    size_t nent = 0;
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *at = data, *end = data + len;
        field f;
        int r;
        while ((r = next_field(&at, end, &f)) > 0) {
            if (f.num != 1)
                continue;
            if (f.wt != WT_LEN)
                return -1;
            const uint8_t *fa = f.p, *fe = f.p + f.n;
            field g;
            int s;
            while ((s = next_field(&fa, fe, &g)) > 0) {
                if (g.num != 1)
                    continue;
                if (g.wt != WT_LEN)
                    return -1;
                if (pass == 0) {
                    nent++;
                } else {
                    int rc = entry(ex, g.p, g.n, &ex->f[ex->nf]);
                    if (rc)
                        return rc;
                    ex->nf++;
                }
            }
            if (s < 0)
                return -1;
        }
        if (r < 0)
            return -1;
        if (pass == 0) {
            ex->nf = 0;
            /* bounded by the input: every entry takes at least two bytes */
            if (tfr_example_reserve(ex, nent))
                return -2;
        }
    }
    return 0;
}
