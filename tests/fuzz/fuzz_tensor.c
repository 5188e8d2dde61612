/*
 * tests/fuzz/fuzz_tensor.c - the TensorProto parser (tensor_content and the
 * *_val broadcast forms), unbounded and with a caller's bound.
 *
 * Byte 0 chooses the dtype expected (any, float, double, int32, uint8,
 * int64) and the bound (none, 0, 64 bytes, 4 KiB). A decoded tensor must
 * be as large as its shape says and never larger than the bound; a
 * re-serialized one must parse back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/example.h"
#include "tfrecord/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const tfr_dtype dts[8] = {TFR_DT_INVALID, TFR_DT_FLOAT, TFR_DT_DOUBLE, TFR_DT_INT32,
                                     TFR_DT_UINT8,   TFR_DT_INT64, TFR_DT_FLOAT,  TFR_DT_INVALID};
    static const size_t bounds[4] = {0, 0, 64, 4096};
    const uint8_t mode = data[0];
    const tfr_dtype want = dts[mode & 7];
    const int bounded = (mode >> 3) & 3;
    data++;
    size--;

    tfr_tensor t;
    tfr_error err;
    tfr_status st = bounded ? tfr_tensor_parse_bounded(data, size, want, bounds[bounded], &t, &err)
                            : tfr_tensor_parse(data, size, want, &t, &err);
    if (st) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    if (want != TFR_DT_INVALID && t.dtype != want)
        abort();
    if (t.rank < 0 || t.rank > TFR_TENSOR_MAX_RANK)
        abort();
    int64_t ne = tfr_tensor_num_elements(&t);
    if (ne < 0 || (size_t)ne * tfr_dtype_size(t.dtype) != t.nbytes)
        abort();
    if (bounded && t.nbytes > bounds[bounded])
        abort();
    if (!bounded && t.nbytes > TFR_TENSOR_MAX_EXPAND && t.nbytes > size)
        abort();
    /* round trip: serialize and parse again, same shape and bytes */
    uint8_t *buf = NULL;
    size_t len = 0;
    if (t.nbytes <= (1u << 20) &&
        tfr_tensor_serialize(t.dtype, t.rank, t.shape, t.data, &buf, &len, &err) == TFR_OK) {
        if (len != tfr_tensor_serialized_size(t.dtype, t.rank, t.shape))
            abort();
        tfr_tensor u;
        if (tfr_tensor_parse(buf, len, t.dtype, &u, &err))
            abort();
        if (u.rank != t.rank || memcmp(u.shape, t.shape, sizeof(int64_t) * (size_t)t.rank) ||
            u.nbytes != t.nbytes || (t.nbytes && memcmp(u.data, t.data, t.nbytes)))
            abort();
        tfr_tensor_clear(&u);
        free(buf);
    }
    tfr_tensor_clear(&t);
    return 0;
}
