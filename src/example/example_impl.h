/*
 * example/example_impl.h - what a parsed tf.train.Example holds, shared by
 * the two decoders (internal: src/example/).
 *
 * wire.c decodes the protobuf wire format directly (the parser
 * tfr_example_parse uses); example.c keeps the protobuf-c unpack of the
 * generated code as the reference, which tests and the fuzzer compare the
 * wire decoder against. Both fill the same arrays, so every accessor is one
 * implementation, and both follow protobuf-c's rules: the last key of a map
 * entry wins, repeated Feature values merge (a later one that sets a kind
 * replaces an earlier one), the last member of the oneof wins, repeated and
 * packed list values concatenate, unknown fields are skipped, a known field
 * with another wire type is an error. One difference, on purpose: an entry
 * whose value comes twice with no list either time is refused by
 * protobuf-c (its merge of two unset oneofs fails) and accepted here, as
 * protobuf's own C++ parser (TensorFlow's) accepts it; such a decode sets
 * pbc_refuses so that the comparisons know.
 */
#ifndef TFR_EXAMPLE_IMPL_H
#define TFR_EXAMPLE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/example.h"
#include "util/arena.h"

typedef struct tfr_xbytes {
    const uint8_t *p; /* NULL when n is 0, as protobuf-c leaves it */
    size_t         n;
} tfr_xbytes;

typedef struct tfr_xfeat {
    const char      *key;  /* NUL-terminated; "" for a key-less entry */
    tfr_feature_kind kind; /* NONE: no value, or a Feature with no list */
    size_t           n;
    const void      *v;    /* int64_t[n], float[n] or tfr_xbytes[n] */
} tfr_xfeat;

struct tfr_example {
    tfr_arena  arena;
    tfr_xfeat *f;
    size_t     nf, fcap;
    int        oom; /* the last decode ran out of memory */
    int        pbc_refuses; /* the last decode took what protobuf-c refuses (above) */
    int        view;        /* bytes values point into the input (tfr_example_parse_view) */
    void      *pbc; /* the reference decoder's allocator (example.c) */
};

/* Room for n features in ex->f; -1 when out of memory. */
int tfr_example_reserve(tfr_example *ex, size_t n);

/*
 * Decode data into ex (arena already reset). 0: done; -1: not a valid
 * Example; -2: out of memory. Values are copied into the arena (bytes
 * values, by the wire decoder, only unless ex->view).
 */
int tfr_example_decode_wire(tfr_example *ex, const uint8_t *data, size_t len);
int tfr_example_decode_pbc(tfr_example *ex, const uint8_t *data, size_t len);

/* Test hooks: parse with the reference decoder (protobuf-c); 1 when a and
 * b hold the same features (keys, kinds, values bit for bit) in order. */
int tfr_example_same(const tfr_example *a, const tfr_example *b);
tfr_status tfr_example_parse_reference(tfr_example *ex, const void *data, size_t len,
                                       tfr_error *err);

#endif
