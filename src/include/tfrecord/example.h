/*
 * tfrecord/example.h - tf.train.Example build/parse and serialized tensors.
 *
 * Examples are encoded with protobuf-c from TensorFlow's own example.proto
 * and feature.proto (package tensorflow). Parsing accepts packed and
 * unpacked repeated scalars, as every protobuf parser must. Tensors follow
 * tf.io.serialize_tensor / tf.io.parse_tensor byte for byte.
 */
#ifndef TFRECORD_EXAMPLE_H
#define TFRECORD_EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tfr_feature_kind {
    TFR_FEATURE_NONE  = 0, /* a Feature with no list set */
    TFR_FEATURE_BYTES = 1,
    TFR_FEATURE_FLOAT = 2,
    TFR_FEATURE_INT64 = 3
} tfr_feature_kind;

/* "none", "bytes", "float", "int64" */
TFR_API const char *tfr_feature_kind_name(tfr_feature_kind k);

/* ---- building ---------------------------------------------------------- */

typedef struct tfr_example_builder tfr_example_builder; /* opaque */

TFR_API tfr_status tfr_example_builder_new(tfr_example_builder **out, tfr_error *err);
TFR_API void       tfr_example_builder_free(tfr_example_builder *b); /* NULL ok */
/* Forgets all features; keeps the memory for the next Example. */
TFR_API void       tfr_example_builder_reset(tfr_example_builder *b);

/*
 * Add one feature. The key is copied; the values are REFERENCED, not copied,
 * and must stay valid until tfr_example_builder_serialize returns. Adding a
 * key twice is TFR_ERR_ARG.
 */
TFR_API tfr_status tfr_example_add_bytes_list(tfr_example_builder *b, const char *key,
                                              const void *const *vals, const size_t *lens,
                                              size_t n, tfr_error *err);
TFR_API tfr_status tfr_example_add_bytes(tfr_example_builder *b, const char *key,
                                         const void *val, size_t len, tfr_error *err);
TFR_API tfr_status tfr_example_add_string(tfr_example_builder *b, const char *key,
                                          const char *s, tfr_error *err);
TFR_API tfr_status tfr_example_add_int64_list(tfr_example_builder *b, const char *key,
                                              const int64_t *v, size_t n, tfr_error *err);
TFR_API tfr_status tfr_example_add_int64(tfr_example_builder *b, const char *key,
                                         int64_t v, tfr_error *err);
TFR_API tfr_status tfr_example_add_float_list(tfr_example_builder *b, const char *key,
                                              const float *v, size_t n, tfr_error *err);

/*
 * Encodes the Example (features sorted by key, so output is deterministic).
 * *data points into the builder and stays valid until the next reset,
 * serialize or free.
 */
TFR_API tfr_status tfr_example_builder_serialize(tfr_example_builder *b,
                                                 const uint8_t **data, size_t *len,
                                                 tfr_error *err);

/* ---- parsing ----------------------------------------------------------- */

typedef struct tfr_example tfr_example; /* opaque; reusable across parses */

TFR_API tfr_status tfr_example_new(tfr_example **out, tfr_error *err);
TFR_API void       tfr_example_free(tfr_example *ex); /* NULL ok */

/*
 * Parses a serialized Example into ex, replacing what it held. All pointers
 * returned by the accessors stay valid until the next parse or free; they
 * do not point into data (data may be freed after this call).
 * Returns TFR_ERR_CORRUPT for bytes that are not a valid Example.
 */
TFR_API tfr_status tfr_example_parse(tfr_example *ex, const void *data, size_t len,
                                     tfr_error *err);
/*
 * As tfr_example_parse, except that bytes values point into data instead
 * of being copied (keys are still copied): they are valid while ex holds
 * this parse and data stays as it was. For loops that use each Example
 * before reading the next record (the stream, tfrecord-inspect); it saves
 * a copy of every image's bytes.
 */
TFR_API tfr_status tfr_example_parse_view(tfr_example *ex, const void *data, size_t len,
                                          tfr_error *err);

/* Features by index, in the order they were encoded. */
TFR_API size_t           tfr_example_num_features(const tfr_example *ex);
TFR_API const char      *tfr_example_key(const tfr_example *ex, size_t i);
TFR_API tfr_feature_kind tfr_example_kind(const tfr_example *ex, size_t i);
TFR_API size_t           tfr_example_count(const tfr_example *ex, size_t i); /* values */
/* Index of key (the last one if repeated, as protobuf maps do), or -1. */
TFR_API long             tfr_example_find(const tfr_example *ex, const char *key);

/* Raw access by index; return 0 when the kind differs. */
TFR_API int tfr_example_int64_at(const tfr_example *ex, size_t i, const int64_t **v, size_t *n);
TFR_API int tfr_example_float_at(const tfr_example *ex, size_t i, const float **v, size_t *n);
TFR_API int tfr_example_bytes_at(const tfr_example *ex, size_t i, size_t j,
                                 const uint8_t **p, size_t *n);

/*
 * Typed access by key. TFR_ERR_FORMAT (message names the key) when the key
 * is missing, has another kind, or (for the _scalar forms) does not hold
 * exactly one value.
 */
TFR_API tfr_status tfr_example_get_int64(const tfr_example *ex, const char *key,
                                         const int64_t **v, size_t *n, tfr_error *err);
TFR_API tfr_status tfr_example_get_float(const tfr_example *ex, const char *key,
                                         const float **v, size_t *n, tfr_error *err);
TFR_API tfr_status tfr_example_get_bytes(const tfr_example *ex, const char *key, size_t j,
                                         const uint8_t **p, size_t *n, tfr_error *err);
TFR_API tfr_status tfr_example_get_int64_scalar(const tfr_example *ex, const char *key,
                                                int64_t *out, tfr_error *err);
TFR_API tfr_status tfr_example_get_bytes_scalar(const tfr_example *ex, const char *key,
                                                const uint8_t **p, size_t *n, tfr_error *err);

/* ---- serialized tensors (tf.io.serialize_tensor) ------------------------ */

typedef enum tfr_dtype {
    TFR_DT_INVALID = 0,
    TFR_DT_FLOAT   = 1,
    TFR_DT_DOUBLE  = 2,
    TFR_DT_INT32   = 3,
    TFR_DT_UINT8   = 4,
    TFR_DT_INT64   = 9
} tfr_dtype;

#define TFR_TENSOR_MAX_RANK 8

/* Bytes per element, 0 for an unsupported dtype. */
TFR_API size_t      tfr_dtype_size(tfr_dtype t);
TFR_API const char *tfr_dtype_name(tfr_dtype t); /* "float32", "uint8", ... */

typedef struct tfr_tensor {
    tfr_dtype dtype;
    int       rank;
    int64_t   shape[TFR_TENSOR_MAX_RANK];
    void     *data;    /* row-major, little-endian; owned (tfr_tensor_clear) */
    size_t    nbytes;
} tfr_tensor;

/*
 * Encodes a tensor as TensorProto{dtype, tensor_shape, tensor_content},
 * exactly as tf.io.serialize_tensor does (an empty tensor_shape is still
 * written for a scalar). *out is malloc'd; the caller frees it.
 */
TFR_API tfr_status tfr_tensor_serialize(tfr_dtype dtype, int rank, const int64_t *shape,
                                        const void *data, uint8_t **out, size_t *len,
                                        tfr_error *err);

/* Exact size tfr_tensor_serialize will produce. */
TFR_API size_t tfr_tensor_serialized_size(tfr_dtype dtype, int rank, const int64_t *shape);

/* As tfr_tensor_serialize, into buf of at least tfr_tensor_serialized_size bytes. */
TFR_API tfr_status tfr_tensor_serialize_to(tfr_dtype dtype, int rank, const int64_t *shape,
                                           const void *data, uint8_t *buf, size_t *len,
                                           tfr_error *err);

/*
 * Decodes a serialized TensorProto (tensor_content, or the float_val /
 * int_val / int64_val / double_val forms, where the last value fills the
 * shape as TensorFlow does). expect = TFR_DT_INVALID accepts any supported
 * dtype; otherwise a different dtype is TFR_ERR_FORMAT ("type mismatch").
 * On success t->data is malloc'd; release with tfr_tensor_clear.
 *
 * Memory stays bounded by what the record holds: tensor_content must be the
 * shape's exact size, and a *_val form, which TensorFlow expands to the
 * whole shape, may expand to at most TFR_TENSOR_MAX_EXPAND bytes; larger
 * shapes are TFR_ERR_FORMAT before anything is allocated.
 */
#define TFR_TENSOR_MAX_EXPAND ((size_t)64 << 20)
TFR_API tfr_status tfr_tensor_parse(const void *data, size_t len, tfr_dtype expect,
                                    tfr_tensor *t, tfr_error *err);
/* As tfr_tensor_parse, with the decoded size capped at max_bytes in every
 * form (the caller knows how much it can use). */
TFR_API tfr_status tfr_tensor_parse_bounded(const void *data, size_t len, tfr_dtype expect,
                                            size_t max_bytes, tfr_tensor *t, tfr_error *err);
TFR_API void       tfr_tensor_clear(tfr_tensor *t);
TFR_API int64_t    tfr_tensor_num_elements(const tfr_tensor *t);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_EXAMPLE_H */
