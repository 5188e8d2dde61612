/*
 * tests/fuzz/fuzz_onnx.c - the ONNX reader behind `tfrecord-export --show`
 * (tfr_onnx_summarize), on any bytes as a model file.
 *
 * A failure has a message; a summary is self-consistent: its op counts add
 * up to at most its node count, every described value has a rank within
 * bounds, every metadata entry has a key and a value, and it frees cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tfrecord/onnx.h"
#include "tfrecord/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file(0, "model.onnx", data, size);
    tfr_onnx_summary s;
    tfr_error err;
    if (tfr_onnx_summarize(path, &s, &err) != TFR_OK) {
        if (!err.msg[0] || s.nmeta || s.meta_keys)
            abort();
        return 0;
    }
    if (s.bytes != size || s.nnodes < 0 || s.ninputs < 0 || s.noutputs < 0)
        abort();
    long counted = 0;
    for (int i = 0; i < s.nop_types && i < 32; i++)
        counted += s.ops[i].count;
    if (counted > s.nnodes || (s.nnodes > 0 && s.nop_types < 1))
        abort();
    for (int i = 0; i < s.ninputs && i < 8; i++)
        if (s.inputs[i].rank < -1 || s.inputs[i].rank > TFR_ONNX_MAX_RANK)
            abort();
    for (int i = 0; i < s.nmeta; i++)
        if (!s.meta_keys[i] || !s.meta_values[i] ||
            tfr_onnx_summary_meta(&s, s.meta_keys[i]) == NULL)
            abort();
    tfr_onnx_summary_free(&s);
    tfr_onnx_summary_free(&s); /* safe twice */
    return 0;
}
