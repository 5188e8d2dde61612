/*
 * tests/fuzz/fuzz_checkpoint.c - the checkpoint loader (tfrecord-train's
 * --resume, tfrecord-label, tfrecord-retrain --backbone).
 *
 * The last four bytes of the input are replaced by the CRC-32C of the rest,
 * as anyone can compute it, so the fuzzer reaches the config and size
 * checks behind the checksum. A model that loads must have the parameter
 * count the file holds and must run a forward pass on one image (when it is
 * small enough to run in a fuzzing budget), and export as an ONNX model
 * that tfr_onnx_summarize reads back with the model's parameter count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tfrecord/checkpoint.h"
#include "tfrecord/model.h"
#include "tfrecord/onnx.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size + 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    if (size >= 4) {
        uint32_t crc = tfr_crc32c(buf, size - 4);
        memcpy(buf + size - 4, &crc, 4);
    }
    const char *path = fz_file(0, "model.ckpt", buf, size);
    free(buf);

    tfr_model *m = NULL;
    tfr_train_state st;
    tfr_error err;
    if (tfr_checkpoint_load(path, &m, &st, &err) != TFR_OK) {
        if (m || !err.msg[0])
            abort();
        return 0;
    }
    const tfr_resnet_config *c = tfr_model_config(m);
    size_t np = tfr_model_num_params(m);
    if (size < 148 + 2 * np * sizeof(float) + 4)
        abort(); /* the parameters (and their momentum) came from the file */
    if (tfr_model_flops(m) < 2e7) {
        size_t px = (size_t)c->in_h * c->in_w * c->in_c;
        float *x = calloc(px ? px : 1, sizeof *x);
        int32_t label = 0;
        float loss;
        if (!x)
            abort();
        if (tfr_model_forward(m, x, 1, &label, 0, &loss, &err) == TFR_OK) {
            const float *logits;
            if (tfr_model_logits(m, &logits, &err))
                abort();
        }
        free(x);
        /* ONNX: unfolded, every parameter and BN statistic is an initializer */
        char out[700];
        snprintf(out, sizeof out, "%s/model.onnx", fz_dir());
        tfr_onnx_opts o;
        tfr_onnx_opts_init(&o);
        o.fold_bn = 0;
        tfr_onnx_summary s;
        if (tfr_onnx_export(m, out, &o, &s, &err) == TFR_OK) {
            tfr_onnx_summary re;
            if (tfr_onnx_summarize(out, &re, &err) != TFR_OK || re.params != s.params ||
                re.bytes != s.bytes || s.params < np || s.nnodes != re.nnodes)
                abort();
            tfr_onnx_summary_free(&re);
            tfr_onnx_summary_free(&s);
        } else if (!err.msg[0]) {
            abort();
        }
    }
    tfr_model_free(m);
    return 0;
}
