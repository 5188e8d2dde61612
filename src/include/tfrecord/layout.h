/*
 * tfrecord/layout.h - the one table of Example layouts, both directions.
 *
 * Encode (what tfrecord-write stores):
 *   jpeg   TF-models keys: image/encoded (JPEG bytes), image/format "JPEG",
 *          image/height, image/width, image/channels, image/colorspace
 *          ("RGB" or "Grayscale"), image/class/label (int64),
 *          image/class/text, image/filename.
 *   raw    the same keys with image/raw (uint8 HWC pixels) for image/encoded
 *          and image/format "RAW".
 *   tensor img = serialized float32 HxWxC TensorProto (tf.io.serialize_tensor),
 *          label = serialized uint8 scalar TensorProto.
 *
 * Decode (what every reader accepts, ours and foreign files):
 *   image  the first present of image/encoded, image_raw, image/raw, img,
 *          image (or a key the caller names). Its bytes are an encoded image
 *          (JPEG or PNG, by magic bytes), raw uint8 pixels when the Example
 *          has image/height, image/width and image/channels, or else a
 *          serialized float tensor.
 *   label  the first present of image/class/label, label, labels, class,
 *          target, species, y (or a key the caller names): an int64 feature,
 *          or a serialized integer scalar tensor (the tensor layout).
 *
 * No other file of the library names an Example key.
 */
#ifndef TFRECORD_LAYOUT_H
#define TFRECORD_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"
#include "tfrecord/example.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tfr_layout {
    TFR_LAYOUT_JPEG = 0, /* TF-models keys, image/encoded = JPEG bytes */
    TFR_LAYOUT_RAW,      /* image/raw = uint8 HWC pixels */
    TFR_LAYOUT_TENSOR    /* img = float32 HWC TensorProto, label = uint8 TensorProto */
} tfr_layout;

/* "jpeg", "raw", "tensor"; NULL for an unknown value */
TFR_API const char *tfr_layout_name(tfr_layout l);

/* ---- encoding ------------------------------------------------------------ */

/* One image and its label, as a layout stores it. */
typedef struct tfr_layout_sample {
    const void *image;      /* jpeg: JPEG bytes; raw: uint8 HWC; tensor: float32 HWC */
    size_t      image_len;  /* bytes of image (jpeg); raw and tensor: from the shape */
    int         width, height, channels;
    int64_t     label;      /* tensor layout: 0..255 */
    const char *class_text; /* jpeg and raw: image/class/text */
    const char *filename;   /* jpeg and raw: image/filename */
} tfr_layout_sample;

typedef struct tfr_layout_encoder tfr_layout_encoder; /* opaque: builder + scratch */

TFR_API tfr_status tfr_layout_encoder_new(tfr_layout layout, tfr_layout_encoder **out, tfr_error *err);
TFR_API void       tfr_layout_encoder_free(tfr_layout_encoder *e); /* NULL ok */

/*
 * Serializes one Example of the encoder's layout. *data stays valid until
 * the next encode or free; the sample's buffers are only read during the
 * call. TFR_ERR_ARG for a label the layout cannot store or a bad shape.
 * One encoder per thread.
 */
TFR_API tfr_status tfr_layout_encode(tfr_layout_encoder *e, const tfr_layout_sample *s,
                                     const uint8_t **data, size_t *len, tfr_error *err);

/* What a layout stores, key by key, for readers that must declare it
 * (tf.io.parse_single_example, manifest.json's "features"): dtype is the
 * Feature kind ("int64", "float", "bytes"), shape "[]" for one value. */
typedef struct tfr_layout_feature {
    const char *key, *dtype, *shape, *meaning;
} tfr_layout_feature;
TFR_API const tfr_layout_feature *tfr_layout_features(tfr_layout l, size_t *n);

/* ---- decoding ------------------------------------------------------------ */

typedef enum tfr_payload {
    TFR_PAYLOAD_ENCODED = 1, /* JPEG or PNG bytes */
    TFR_PAYLOAD_RAW,         /* uint8 HWC pixels; width, height, channels set */
    TFR_PAYLOAD_TENSOR       /* a serialized TensorProto (tfr_tensor_parse) */
} tfr_payload;

typedef struct tfr_layout_image {
    tfr_payload    kind;
    const char    *key;      /* the feature it came from (static or the caller's) */
    const uint8_t *data;     /* points into the parsed Example */
    size_t         len;
    int            width, height, channels; /* RAW only: from the shape keys */
} tfr_layout_image;

/*
 * Finds the image of a parsed Example (key NULL: auto, see the top of this
 * file). RAW shapes are checked against the byte count (channels 1 or 3).
 * TFR_ERR_FORMAT names what was tried when nothing fits.
 */
TFR_API tfr_status tfr_layout_find_image(const tfr_example *ex, const char *key, tfr_layout_image *out,
                                         tfr_error *err);

/*
 * The label: an int64 feature's first value, or the first element of a
 * serialized integer tensor (uint8, int32, int64). key NULL: auto.
 */
TFR_API tfr_status tfr_layout_find_label(const tfr_example *ex, const char *key, int64_t *label,
                                         tfr_error *err);

/*
 * The auto-detected label key of ex among int64 features with exactly one
 * value (for histograms), or NULL. Static storage.
 */
TFR_API const char *tfr_layout_int64_label_key(const tfr_example *ex);
/* The same for a label stored as a serialized tensor (the tensor layout):
 * the first label key holding bytes, or NULL. Static storage. */
TFR_API const char *tfr_layout_tensor_label_key(const tfr_example *ex);

/* The class name (image/class/text) and file name (image/filename) when
 * present: 1 with *p, *n pointing into ex, else 0. */
TFR_API int tfr_layout_class_text(const tfr_example *ex, const uint8_t **p, size_t *n);
TFR_API int tfr_layout_filename(const tfr_example *ex, const uint8_t **p, size_t *n);

#ifdef __cplusplus
}
#endif

#endif
