/*
 * example/layout.c - the owner of every Example key (see tfrecord/layout.h):
 * the three layouts tfrecord-write stores, and the key auto-detection every
 * reader uses on our files and foreign ones.
 */
#include "tfrecord/layout.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- the keys ------------------------------------------------------------- */

#define K_ENCODED    "image/encoded"
#define K_RAW        "image/raw"
#define K_FORMAT     "image/format"
#define K_HEIGHT     "image/height"
#define K_WIDTH      "image/width"
#define K_CHANNELS   "image/channels"
#define K_COLORSPACE "image/colorspace"
#define K_LABEL      "image/class/label"
#define K_TEXT       "image/class/text"
#define K_FILENAME   "image/filename"
#define K_T_IMAGE    "img"
#define K_T_LABEL    "label"

static const char *const image_keys[] = {K_ENCODED, "image_raw", K_RAW, K_T_IMAGE, "image"};
static const char *const label_keys[] = {K_LABEL, K_T_LABEL, "labels", "class", "target",
                                         "species", "y"};
#define COUNT(a) (sizeof(a) / sizeof *(a))

const char *tfr_layout_name(tfr_layout l)
{
    switch (l) {
    case TFR_LAYOUT_JPEG: return "jpeg";
    case TFR_LAYOUT_RAW: return "raw";
    case TFR_LAYOUT_TENSOR: return "tensor";
    }
    return NULL;
}

/* ---- encoding ------------------------------------------------------------- */

struct tfr_layout_encoder {
    tfr_layout           layout;
    tfr_example_builder *b;
    uint8_t             *tbuf;   /* serialized image tensor (tensor layout) */
    size_t               tcap;
    uint8_t              lbuf[32]; /* serialized label tensor */
};

tfr_status tfr_layout_encoder_new(tfr_layout layout, tfr_layout_encoder **out, tfr_error *err)
{
    *out = NULL;
    if (!tfr_layout_name(layout))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "unknown layout %d", (int)layout);
    tfr_layout_encoder *e = tfr_calloc(1, sizeof *e);
    if (!e)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    e->layout = layout;
    tfr_status st = tfr_example_builder_new(&e->b, err);
    if (st) {
        free(e);
        return st;
    }
    *out = e;
    return TFR_OK;
}

void tfr_layout_encoder_free(tfr_layout_encoder *e)
{
    if (!e)
        return;
    tfr_example_builder_free(e->b);
    free(e->tbuf);
    free(e);
}

/* the TF-models keys beside the image (jpeg and raw layouts) */
#define COMMON_FEATURES                                                                     \
    {K_FORMAT, "bytes", "[]", "the image's format: \"JPEG\" or \"RAW\""},                       \
    {K_HEIGHT, "int64", "[]", "height in pixels"},                                           \
    {K_WIDTH, "int64", "[]", "width in pixels"},                                             \
    {K_CHANNELS, "int64", "[]", "channels: 1 or 3"},                                         \
    {K_COLORSPACE, "bytes", "[]", "\"Grayscale\" or \"RGB\""},                                 \
    {K_LABEL, "int64", "[]", "the class: its index in labels.txt plus label_offset"},        \
    {K_TEXT, "bytes", "[]", "the class's name (its folder)"},                               \
    {K_FILENAME, "bytes", "[]", "the image's path below its root"}

static const tfr_layout_feature jpeg_features[] = {
    {K_ENCODED, "bytes", "[]", "the image file's bytes: JPEG (tf.io.decode_jpeg)"},
    COMMON_FEATURES};
static const tfr_layout_feature raw_features[] = {
    {K_RAW, "bytes", "[]", "uint8 pixels, height x width x channels, row-major "
                            "(tf.io.decode_raw)"},
    COMMON_FEATURES};
static const tfr_layout_feature tensor_features[] = {
    {K_T_IMAGE, "bytes", "[]", "a float32 height x width x channels tensor "
                                "(tf.io.parse_tensor(x, tf.float32))"},
    {K_T_LABEL, "bytes", "[]", "the class as a uint8 scalar tensor "
                                "(tf.io.parse_tensor(x, tf.uint8))"}};

const tfr_layout_feature *tfr_layout_features(tfr_layout l, size_t *n)
{
    switch (l) {
    case TFR_LAYOUT_JPEG: *n = COUNT(jpeg_features); return jpeg_features;
    case TFR_LAYOUT_RAW: *n = COUNT(raw_features); return raw_features;
    default: *n = COUNT(tensor_features); return tensor_features;
    }
}

static tfr_status add_common(tfr_example_builder *b, const tfr_layout_sample *s, tfr_error *err)
{
    tfr_status st;
    if ((st = tfr_example_add_int64(b, K_HEIGHT, s->height, err)) ||
        (st = tfr_example_add_int64(b, K_WIDTH, s->width, err)) ||
        (st = tfr_example_add_int64(b, K_CHANNELS, s->channels, err)) ||
        (st = tfr_example_add_string(b, K_COLORSPACE, s->channels == 1 ? "Grayscale" : "RGB",
                                     err)) ||
        (st = tfr_example_add_int64(b, K_LABEL, s->label, err)) ||
        (st = tfr_example_add_string(b, K_TEXT, s->class_text, err)) ||
        (st = tfr_example_add_string(b, K_FILENAME, s->filename, err)))
        return st;
    return TFR_OK;
}

static tfr_status encode_tensor(tfr_layout_encoder *e, const tfr_layout_sample *s, tfr_error *err)
{
    if (s->label < 0 || s->label > 255)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "label %lld does not fit the tensor layout's uint8 label",
                        (long long)s->label);
    int64_t shape[3] = {s->height, s->width, s->channels};
    size_t need = tfr_tensor_serialized_size(TFR_DT_FLOAT, 3, shape) + 16;
    if (need > e->tcap) {
        uint8_t *p = tfr_realloc(e->tbuf, need);
        if (!p)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        e->tbuf = p;
        e->tcap = need;
    }
    size_t ilen, llen;
    uint8_t lab = (uint8_t)s->label;
    tfr_status st;
    if ((st = tfr_tensor_serialize_to(TFR_DT_FLOAT, 3, shape, s->image, e->tbuf, &ilen, err)) ||
        (st = tfr_tensor_serialize_to(TFR_DT_UINT8, 0, NULL, &lab, e->lbuf, &llen, err)) ||
        (st = tfr_example_add_bytes(e->b, K_T_IMAGE, e->tbuf, ilen, err)) ||
        (st = tfr_example_add_bytes(e->b, K_T_LABEL, e->lbuf, llen, err)))
        return st;
    return TFR_OK;
}

tfr_status tfr_layout_encode(tfr_layout_encoder *e, const tfr_layout_sample *s,
                             const uint8_t **data, size_t *len, tfr_error *err)
{
    if (s->width < 1 || s->height < 1 || (s->channels != 1 && s->channels != 3))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "bad image shape %dx%dx%d", s->height, s->width,
                        s->channels);
    tfr_example_builder_reset(e->b);
    tfr_status st;
    switch (e->layout) {
    case TFR_LAYOUT_JPEG:
        if ((st = tfr_example_add_bytes(e->b, K_ENCODED, s->image, s->image_len, err)) ||
            (st = tfr_example_add_string(e->b, K_FORMAT, "JPEG", err)) ||
            (st = add_common(e->b, s, err)))
            return st;
        break;
    case TFR_LAYOUT_RAW:
        if ((st = tfr_example_add_bytes(e->b, K_RAW, s->image,
                                        (size_t)s->width * s->height * s->channels, err)) ||
            (st = tfr_example_add_string(e->b, K_FORMAT, "RAW", err)) ||
            (st = add_common(e->b, s, err)))
            return st;
        break;
    case TFR_LAYOUT_TENSOR:
        if ((st = encode_tensor(e, s, err)))
            return st;
        break;
    }
    return tfr_example_builder_serialize(e->b, data, len, err);
}

/* ---- decoding ------------------------------------------------------------- */

/* JPEG (FF D8 FF) or PNG signature: the encoded-image test of every reader */
static int is_encoded(const uint8_t *p, size_t n)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) ||
           (n >= 8 && !memcmp(p, png_sig, 8));
}

tfr_status tfr_layout_find_image(const tfr_example *ex, const char *key, tfr_layout_image *out,
                                 tfr_error *err)
{
    memset(out, 0, sizeof *out);
    long k = -1;
    if (key)
        k = tfr_example_find(ex, key);
    for (size_t i = 0; !key && k < 0 && i < COUNT(image_keys); i++) {
        k = tfr_example_find(ex, image_keys[i]);
        if (k >= 0)
            key = image_keys[i];
    }
    const uint8_t *p;
    size_t n;
    if (k < 0 || !tfr_example_bytes_at(ex, (size_t)k, 0, &p, &n))
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "no image bytes (tried image/encoded, "
                                                   "image_raw, image/raw, img; set image_key)");
    out->key = key;
    out->data = p;
    out->len = n;
    if (is_encoded(p, n)) {
        out->kind = TFR_PAYLOAD_ENCODED;
        return TFR_OK;
    }
    /* raw pixels with shape keys */
    int64_t hh = 0, ww = 0, cc = 0;
    tfr_error e2;
    if (!tfr_example_get_int64_scalar(ex, K_HEIGHT, &hh, &e2) &&
        !tfr_example_get_int64_scalar(ex, K_WIDTH, &ww, &e2) &&
        !tfr_example_get_int64_scalar(ex, K_CHANNELS, &cc, &e2)) {
        /* each factor is bounded before the product, so it cannot overflow */
        if (hh <= 0 || ww <= 0 || (cc != 1 && cc != 3) || hh > INT32_MAX || ww > INT32_MAX ||
            (uint64_t)hh * (uint64_t)ww * (uint64_t)cc != n)
            return tfr_fail(err, TFR_ERR_FORMAT, NULL, "raw image: %zu bytes for %lldx%lldx%lld",
                            n, (long long)hh, (long long)ww, (long long)cc);
        out->kind = TFR_PAYLOAD_RAW;
        out->height = (int)hh;
        out->width = (int)ww;
        out->channels = (int)cc;
        return TFR_OK;
    }
    out->kind = TFR_PAYLOAD_TENSOR;
    return TFR_OK;
}

tfr_status tfr_layout_find_label(const tfr_example *ex, const char *key, int64_t *label,
                                 tfr_error *err)
{
    long k = -1;
    if (key)
        k = tfr_example_find(ex, key);
    for (size_t i = 0; !key && k < 0 && i < COUNT(label_keys); i++) {
        k = tfr_example_find(ex, label_keys[i]);
        if (k >= 0)
            key = label_keys[i];
    }
    if (k < 0)
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "no label key (tried image/class/label, label; "
                                                   "set label_key)");
    const int64_t *v;
    size_t n;
    if (tfr_example_int64_at(ex, (size_t)k, &v, &n) && n >= 1) {
        *label = v[0];
        return TFR_OK;
    }
    const uint8_t *p;
    if (tfr_example_bytes_at(ex, (size_t)k, 0, &p, &n)) {
        tfr_tensor t;
        /* a label is a scalar (or a short vector): never let one expand */
        tfr_status st = tfr_tensor_parse_bounded(p, n, TFR_DT_INVALID, 4096, &t, err);
        if (st)
            return st;
        int64_t lv = 0;
        if (tfr_tensor_num_elements(&t) >= 1) {
            switch (t.dtype) {
            case TFR_DT_UINT8: lv = ((uint8_t *)t.data)[0]; break;
            case TFR_DT_INT32: lv = ((int32_t *)t.data)[0]; break;
            case TFR_DT_INT64: lv = ((int64_t *)t.data)[0]; break;
            default: break;
            }
        }
        tfr_tensor_clear(&t);
        *label = lv;
        return TFR_OK;
    }
    return tfr_fail(err, TFR_ERR_FORMAT, NULL, "label \"%s\" is neither int64 nor a tensor", key);
}

const char *tfr_layout_int64_label_key(const tfr_example *ex)
{
    for (size_t i = 0; i < COUNT(label_keys); i++) {
        long k = tfr_example_find(ex, label_keys[i]);
        if (k >= 0 && tfr_example_kind(ex, (size_t)k) == TFR_FEATURE_INT64 &&
            tfr_example_count(ex, (size_t)k) == 1)
            return label_keys[i];
    }
    return NULL;
}

const char *tfr_layout_tensor_label_key(const tfr_example *ex)
{
    for (size_t i = 0; i < COUNT(label_keys); i++) {
        long k = tfr_example_find(ex, label_keys[i]);
        if (k >= 0 && tfr_example_kind(ex, (size_t)k) == TFR_FEATURE_BYTES &&
            tfr_example_count(ex, (size_t)k) == 1)
            return label_keys[i];
    }
    return NULL;
}

static int bytes_of(const tfr_example *ex, const char *key, const uint8_t **p, size_t *n)
{
    long k = tfr_example_find(ex, key);
    return k >= 0 && tfr_example_bytes_at(ex, (size_t)k, 0, p, n);
}

int tfr_layout_class_text(const tfr_example *ex, const uint8_t **p, size_t *n)
{
    return bytes_of(ex, K_TEXT, p, n);
}

int tfr_layout_filename(const tfr_example *ex, const uint8_t **p, size_t *n)
{
    return bytes_of(ex, K_FILENAME, p, n);
}
