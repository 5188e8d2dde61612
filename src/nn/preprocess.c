/*
 * nn/preprocess.c - an encoded image as a model's input (tfr_model_preprocess
 * in tfrecord/model.h): decoded with the model's channel count, resized to
 * its input size over the whole image, and converted to normalized floats
 * (NCHW) exactly as tfrecord-retrain prepares the images it trains on
 * (tfr_augment_model_input with brightness 1), so tfrecord-label sees what
 * the head was trained on. tfr_model_preprocess_u8 stops before the
 * normalization: the pixels an exported ONNX model's "pixels" input takes.
 */
#include <string.h>

#include "tfrecord/model.h"

#include "tfrecord/augment.h"
#include "tfrecord/image.h"

/* the decoded image resized to the model's input, into *b */
static tfr_status decode_resized(const tfr_model *m, const uint8_t *data, size_t n, tfr_image *b,
                                 tfr_error *err)
{
    const tfr_resnet_config *c = tfr_model_config(m);
    tfr_image a = {0};
    tfr_image_ctx *ctx = NULL;
    tfr_status st = tfr_image_ctx_new(&ctx, err);
    if (st)
        return st;
    tfr_decode_opts o;
    tfr_decode_opts_init(&o);
    o.channels = c->in_c == 1 ? 1 : 3;
    o.min_w = c->in_w;
    o.min_h = c->in_h;
    if (!(st = tfr_image_decode(ctx, data, n, &o, &a, NULL, err)))
        st = tfr_image_resize_region(&a, 0, 0, a.w, a.h, c->in_w, c->in_h, b, err);
    tfr_image_free(&a);
    tfr_image_ctx_free(ctx);
    return st;
}

tfr_status tfr_model_preprocess(const tfr_model *m, const uint8_t *data, size_t n, float mean,
                                float std, float *out, tfr_error *err)
{
    tfr_image b = {0};
    tfr_status st = decode_resized(m, data, n, &b, err);
    if (!st)
        tfr_augment_model_input(&b, 1.0f, mean, std, out);
    tfr_image_free(&b);
    return st;
}

tfr_status tfr_model_preprocess_u8(const tfr_model *m, const uint8_t *data, size_t n,
                                   uint8_t *out, tfr_error *err)
{
    tfr_image b = {0};
    tfr_status st = decode_resized(m, data, n, &b, err);
    if (!st)
        memcpy(out, b.px, (size_t)b.w * b.h * b.c);
    tfr_image_free(&b);
    return st;
}
