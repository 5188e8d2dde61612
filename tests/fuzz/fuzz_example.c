/*
 * tests/fuzz/fuzz_example.c - the Example parser and every accessor, and
 * the layout's lookups (image, label, class text, file name) over it.
 * The same tfr_example is reused across inputs, as the stream reuses one
 * per decode thread, so stale state from an earlier input would show.
 * Differential: the wire decoder (the parser) must accept exactly what
 * protobuf-c's generated unpack accepts, with the same features and values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/example.h"
#include "tfrecord/layout.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "example/example_impl.h"

static tfr_example *ex, *ref;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    tfr_error e;
    if (tfr_example_new(&ex, &e) || tfr_example_new(&ref, &e))
        abort();
    return 0;
}

static uint32_t sink;
static void touch(const void *p, size_t n) { sink ^= tfr_crc32c(p, n); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tfr_error err, rerr;
    tfr_status a = tfr_example_parse(ex, data, size, &err);
    tfr_status b = tfr_example_parse_reference(ref, data, size, &rerr);
    if ((a == TFR_OK) != (b == TFR_OK) && a != TFR_ERR_NOMEM && b != TFR_ERR_NOMEM &&
        !(a == TFR_OK && b == TFR_ERR_CORRUPT && ex->pbc_refuses))
        abort(); /* the decoders disagree on whether this is an Example */
    if (a) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    if (!b && !tfr_example_same(ex, ref))
        abort(); /* the decoders disagree on what it holds */
    if (tfr_example_parse_view(ref, data, size, &rerr) || !tfr_example_same(ex, ref))
        abort(); /* a view parse holds the same values */
    size_t nf = tfr_example_num_features(ex);
    for (size_t i = 0; i < nf + 1; i++) { /* one past the end must be safe */
        const char *key = tfr_example_key(ex, i);
        tfr_feature_kind k = tfr_example_kind(ex, i);
        (void)tfr_feature_kind_name(k);
        size_t cnt = tfr_example_count(ex, i);
        const int64_t *iv;
        const float *fv;
        size_t n;
        if (tfr_example_int64_at(ex, i, &iv, &n)) {
            if (n != cnt)
                abort();
            touch(iv, n * sizeof *iv);
        }
        if (tfr_example_float_at(ex, i, &fv, &n)) {
            if (n != cnt)
                abort();
            touch(fv, n * sizeof *fv);
        }
        for (size_t j = 0; j < cnt + 1 && j < 64; j++) {
            const uint8_t *p;
            if (tfr_example_bytes_at(ex, i, j, &p, &n))
                touch(p, n);
        }
        if (!key)
            continue;
        touch(key, strlen(key));
        if (i < nf && tfr_example_find(ex, key) < 0)
            abort(); /* every key is found (the last of repeated ones) */
        int64_t s;
        const uint8_t *p;
        if (!tfr_example_get_int64(ex, key, &iv, &n, &err))
            touch(iv, n * sizeof *iv);
        if (!tfr_example_get_float(ex, key, &fv, &n, &err))
            touch(fv, n * sizeof *fv);
        if (!tfr_example_get_bytes(ex, key, 0, &p, &n, &err))
            touch(p, n);
        (void)tfr_example_get_int64_scalar(ex, key, &s, &err);
        if (!tfr_example_get_bytes_scalar(ex, key, &p, &n, &err))
            touch(p, n);
    }
    (void)tfr_example_find(ex, "image/encoded");

    tfr_layout_image li;
    if (!tfr_layout_find_image(ex, NULL, &li, &err)) {
        touch(li.data, li.len);
        if (li.kind == TFR_PAYLOAD_RAW &&
            (size_t)li.width * (size_t)li.height * (size_t)li.channels != li.len)
            abort(); /* a raw image's shape is checked against its bytes */
    }
    int64_t label;
    (void)tfr_layout_find_label(ex, NULL, &label, &err);
    (void)tfr_layout_int64_label_key(ex);
    const uint8_t *p;
    size_t n;
    if (tfr_layout_class_text(ex, &p, &n))
        touch(p, n);
    if (tfr_layout_filename(ex, &p, &n))
        touch(p, n);
    return 0;
}
