/*
 * example/tensor.c - tf.io.serialize_tensor / tf.io.parse_tensor.
 *
 * serialize_tensor writes TensorProto{dtype=1, tensor_shape=2 (always
 * present, one Dim{size} per axis), tensor_content=4 (raw little-endian
 * row-major bytes)} in field-number order; protobuf-c packs in that order and
 * emits a present-but-empty submessage, which gives TensorFlow's bytes, e.g.
 * uint8 scalar 7 -> 08 04 12 00 22 01 07.
 */
#include "tfrecord/example.h"

#include <stdlib.h>
#include <string.h>

#include "tensor.pb-c.h"
#include "util/alloc.h"

size_t tfr_dtype_size(tfr_dtype t)
{
    switch (t) {
    case TFR_DT_FLOAT:  return 4;
    case TFR_DT_DOUBLE: return 8;
    case TFR_DT_INT32:  return 4;
    case TFR_DT_UINT8:  return 1;
    case TFR_DT_INT64:  return 8;
    default:            return 0;
    }
}

const char *tfr_dtype_name(tfr_dtype t)
{
    switch (t) {
    case TFR_DT_FLOAT:  return "float32";
    case TFR_DT_DOUBLE: return "float64";
    case TFR_DT_INT32:  return "int32";
    case TFR_DT_UINT8:  return "uint8";
    case TFR_DT_INT64:  return "int64";
    default:            return "invalid";
    }
}

int64_t tfr_tensor_num_elements(const tfr_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    return n;
}

void tfr_tensor_clear(tfr_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* Fills the protobuf-c structs over caller storage; returns the element count. */
static int build_proto(tfr_dtype dtype, int rank, const int64_t *shape,
                       const void *data, Tensorflow__TensorProto *tp,
                       Tensorflow__TensorShapeProto *sp,
                       Tensorflow__TensorShapeProto__Dim *dims,
                       Tensorflow__TensorShapeProto__Dim **dimp, size_t *nbytes)
{
    size_t es = tfr_dtype_size(dtype);
    if (!es || rank < 0 || rank > TFR_TENSOR_MAX_RANK || (rank && !shape))
        return -1;
    uint64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return -1;
        n *= (uint64_t)shape[i];
    }
    tensorflow__tensor_proto__init(tp);
    tensorflow__tensor_shape_proto__init(sp);
    for (int i = 0; i < rank; i++) {
        tensorflow__tensor_shape_proto__dim__init(&dims[i]);
        dims[i].size = shape[i];
        dimp[i] = &dims[i];
    }
    sp->n_dim = (size_t)rank;
    sp->dim = dimp;
    tp->dtype = (Tensorflow__DataType)dtype;
    tp->tensor_shape = sp;
    tp->tensor_content.len = (size_t)n * es;
    tp->tensor_content.data = (uint8_t *)data;
    if (n && !data)
        return -1;
    *nbytes = (size_t)n * es;
    return 0;
}

size_t tfr_tensor_serialized_size(tfr_dtype dtype, int rank, const int64_t *shape)
{
    Tensorflow__TensorProto tp;
    Tensorflow__TensorShapeProto sp;
    Tensorflow__TensorShapeProto__Dim dims[TFR_TENSOR_MAX_RANK];
    Tensorflow__TensorShapeProto__Dim *dimp[TFR_TENSOR_MAX_RANK];
    size_t nb;
    static const uint8_t dummy[1];
    if (build_proto(dtype, rank, shape, dummy, &tp, &sp, dims, dimp, &nb))
        return 0;
    return tensorflow__tensor_proto__get_packed_size(&tp);
}

tfr_status tfr_tensor_serialize_to(tfr_dtype dtype, int rank, const int64_t *shape,
                                   const void *data, uint8_t *buf, size_t *len,
                                   tfr_error *err)
{
    Tensorflow__TensorProto tp;
    Tensorflow__TensorShapeProto sp;
    Tensorflow__TensorShapeProto__Dim dims[TFR_TENSOR_MAX_RANK];
    Tensorflow__TensorShapeProto__Dim *dimp[TFR_TENSOR_MAX_RANK];
    size_t nb;
    if (!buf || !len ||
        build_proto(dtype, rank, shape, data, &tp, &sp, dims, dimp, &nb))
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "serialize_tensor: bad dtype %d, rank %d or shape", (int)dtype, rank);
    *len = tensorflow__tensor_proto__pack(&tp, buf);
    return TFR_OK;
}

tfr_status tfr_tensor_serialize(tfr_dtype dtype, int rank, const int64_t *shape,
                                const void *data, uint8_t **out, size_t *len,
                                tfr_error *err)
{
    if (!out || !len)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "serialize_tensor: NULL argument");
    *out = NULL;
    size_t n = tfr_tensor_serialized_size(dtype, rank, shape);
    if (!n)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "serialize_tensor: bad dtype %d, rank %d or shape", (int)dtype, rank);
    uint8_t *buf = tfr_malloc(n);
    if (!buf)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_status st = tfr_tensor_serialize_to(dtype, rank, shape, data, buf, len, err);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    return TFR_OK;
}

/* Copies the *_val form into t->data, repeating the last value as TF does. */
static void fill_vals(tfr_tensor *t, const void *vals, size_t nvals, size_t vsize)
{
    size_t es = tfr_dtype_size(t->dtype);
    size_t n = t->nbytes / es;
    uint8_t *d = t->data;
    for (size_t i = 0; i < n; i++) {
        size_t k = i < nvals ? i : nvals - 1;
        const uint8_t *src = (const uint8_t *)vals + k * vsize;
        switch (t->dtype) {
        case TFR_DT_FLOAT: { float v; memcpy(&v, src, 4); memcpy(d + i * 4, &v, 4); break; }
        case TFR_DT_DOUBLE: { double v; memcpy(&v, src, 8); memcpy(d + i * 8, &v, 8); break; }
        case TFR_DT_INT32: { int32_t v; memcpy(&v, src, 4); memcpy(d + i * 4, &v, 4); break; }
        case TFR_DT_UINT8: { int32_t v; memcpy(&v, src, 4); d[i] = (uint8_t)v; break; }
        case TFR_DT_INT64: { int64_t v; memcpy(&v, src, 8); memcpy(d + i * 8, &v, 8); break; }
        default: break;
        }
    }
}

tfr_status tfr_tensor_parse(const void *data, size_t len, tfr_dtype expect,
                            tfr_tensor *t, tfr_error *err)
{
    return tfr_tensor_parse_bounded(data, len, expect, SIZE_MAX, t, err);
}

/* protobuf-c's allocations through the library's, noting a failure */
static void *pb_alloc(void *data, size_t n)
{
    void *p = tfr_malloc(n);
    if (!p)
        *(int *)data = 1;
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    free(p);
}

tfr_status tfr_tensor_parse_bounded(const void *data, size_t len, tfr_dtype expect,
                                    size_t max_bytes, tfr_tensor *t, tfr_error *err)
{
    if (!t || (!data && len))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "parse_tensor: NULL argument");
    memset(t, 0, sizeof *t);
    int oom = 0;
    ProtobufCAllocator pa = {pb_alloc, pb_free, &oom};
    Tensorflow__TensorProto *tp = tensorflow__tensor_proto__unpack(&pa, len, data);
    if (!tp && oom)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory parsing a %zu-byte tensor", len);
    if (!tp)
        return tfr_fail(err, TFR_ERR_CORRUPT, NULL,
                        "not a valid serialized tensor (protobuf decode failed, %zu bytes)",
                        len);
    tfr_status st = TFR_OK;
    tfr_dtype dt = (tfr_dtype)tp->dtype;
    size_t es = tfr_dtype_size(dt);
    if (!es) {
        st = tfr_fail(err, TFR_ERR_FORMAT, NULL, "serialized tensor has unsupported dtype %d",
                      (int)tp->dtype);
        goto done;
    }
    if (expect != TFR_DT_INVALID && expect != dt) {
        st = tfr_fail(err, TFR_ERR_FORMAT, NULL,
                      "type mismatch between parsed tensor (%s) and dtype (%s)",
                      tfr_dtype_name(dt), tfr_dtype_name(expect));
        goto done;
    }
    Tensorflow__TensorShapeProto *sp = tp->tensor_shape;
    if (sp && sp->unknown_rank) {
        st = tfr_fail(err, TFR_ERR_FORMAT, NULL, "serialized tensor has unknown rank");
        goto done;
    }
    size_t rank = sp ? sp->n_dim : 0;
    if (rank > TFR_TENSOR_MAX_RANK) {
        st = tfr_fail(err, TFR_ERR_FORMAT, NULL, "tensor rank %zu above %d", rank,
                      TFR_TENSOR_MAX_RANK);
        goto done;
    }
    uint64_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        int64_t s = sp->dim[i]->size;
        if (s < 0 || (s && n > (UINT64_MAX / 16) / (uint64_t)s)) {
            st = tfr_fail(err, TFR_ERR_FORMAT, NULL, "tensor dimension %zu has bad size %lld",
                          i, (long long)s);
            goto done;
        }
        t->shape[i] = s;
        n *= (uint64_t)s;
    }
    t->dtype = dt;
    t->rank = (int)rank;
    t->nbytes = (size_t)(n * es);
    if (t->nbytes > max_bytes) {
        st = tfr_fail(err, TFR_ERR_FORMAT, NULL,
                      "tensor of %llu elements (%zu bytes) is larger than the %zu bytes allowed",
                      (unsigned long long)n, t->nbytes, max_bytes);
        goto done;
    }
    if (!tp->tensor_content.len && t->nbytes > TFR_TENSOR_MAX_EXPAND) {
        /* TensorFlow fills the shape from the last value: refuse to let a
         * few bytes declare gigabytes */
        st = tfr_fail(err, TFR_ERR_FORMAT, NULL,
                      "tensor declares %llu elements (%zu bytes) from %zu bytes of values; "
                      "more than %zu bytes is refused",
                      (unsigned long long)n, t->nbytes, len, TFR_TENSOR_MAX_EXPAND);
        goto done;
    }
    if (tp->tensor_content.len) {
        if (tp->tensor_content.len != t->nbytes) {
            st = tfr_fail(err, TFR_ERR_CORRUPT, NULL,
                          "tensor content size was %zu and expected %zu",
                          tp->tensor_content.len, t->nbytes);
            goto done;
        }
        t->data = tfr_malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        memcpy(t->data, tp->tensor_content.data, t->nbytes);
        goto done;
    }
    t->data = tfr_calloc(1, t->nbytes ? t->nbytes : 1);
    if (!t->data) {
        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    const void *vals = NULL;
    size_t nv = 0, vs = 0;
    switch (dt) {
    case TFR_DT_FLOAT:  vals = tp->float_val;  nv = tp->n_float_val;  vs = 4; break;
    case TFR_DT_DOUBLE: vals = tp->double_val; nv = tp->n_double_val; vs = 8; break;
    case TFR_DT_INT32:
    case TFR_DT_UINT8:  vals = tp->int_val;    nv = tp->n_int_val;    vs = 4; break;
    case TFR_DT_INT64:  vals = tp->int64_val;  nv = tp->n_int64_val;  vs = 8; break;
    default: break;
    }
    if (nv > n) {
        st = tfr_fail(err, TFR_ERR_CORRUPT, NULL, "tensor has %zu values for %llu elements",
                      nv, (unsigned long long)n);
        goto done;
    }
    if (nv)
        fill_vals(t, vals, nv, vs);
done:
    if (st)
        tfr_tensor_clear(t);
    tensorflow__tensor_proto__free_unpacked(tp, &pa);
    return st;
}
