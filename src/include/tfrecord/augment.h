/*
 * tfrecord/augment.h - data augmentation as pure functions over an image
 * and a random-number state the caller passes in: flips, pad-crop, random
 * resized crop, center crop, retrain.py's crop/scale and brightness, and the
 * conversion of pixels to normalized floats.
 *
 * Every random choice comes from a tfr_rng seeded by the caller (the stream
 * seeds one per record from (seed, epoch, position)), so the same seed makes
 * the same choices on any thread and any device. The draw order of each
 * function is part of its contract: changing it changes training data.
 */
#ifndef TFRECORD_AUGMENT_H
#define TFRECORD_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A splitmix64 stream. */
typedef struct tfr_rng {
    uint64_t state;
} tfr_rng;

/* The stream for one item: independent for each (seed, epoch, item). */
TFR_API tfr_rng  tfr_rng_for(uint64_t seed, uint64_t epoch, uint64_t item);
TFR_API uint64_t tfr_rng_u64(tfr_rng *r);
TFR_API double   tfr_rng_uniform(tfr_rng *r); /* [0, 1), 53 bits */

/* A rectangle of source pixels, possibly fractional. */
typedef struct tfr_region {
    double x0, y0, w, h;
} tfr_region;

/* The central fraction f of a w x h image (f > 1 counts as 1). No draws. */
TFR_API tfr_region tfr_augment_center_crop(int w, int h, double f);

/*
 * Inception-style random resized crop: area in [min_scale, 1] of the image,
 * aspect ratio log-uniform in [3/4, 4/3]; up to 10 tries (2 draws each, 2
 * more for the position of the one that fits), else the whole image.
 * min_scale is float, and 1 - min_scale is taken in float, as the stream
 * always has.
 */
TFR_API tfr_region tfr_augment_random_resized_crop(int w, int h, float min_scale, tfr_rng *r);

/*
 * TF for Poets' retrain.py distortion: keep 1 / (1 + crop * u1) of each
 * side, shrunk again by 1 + scale * u2, at a uniform position (u3, u4).
 * crop and scale are fractions (0.1 = 10%).
 */
TFR_API tfr_region tfr_augment_crop_scale(int w, int h, double crop, double scale, tfr_rng *r);

/* Pad-crop offsets: dx, then dy, each uniform in 0..2P (two draws). */
TFR_API void tfr_augment_pad_offsets(int P, tfr_rng *r, int *dx, int *dy);

/*
 * Pads src (sw x sh, c channels of elem bytes) by P on every side with
 * zeros and copies the W x H window at (dx, dy) of the padded image to dst.
 * src and dst must not overlap.
 */
TFR_API void tfr_augment_pad_crop(const void *src, int sw, int sh, int c, size_t elem, int P, int dx,
                                  int dy, void *dst, int W, int H);

/* A horizontal flip with p = 0.5: one draw when enabled, else 0 and none. */
TFR_API int tfr_augment_flip_draw(int enabled, tfr_rng *r);

/*
 * Random erasing (Zhong et al., 2017): with probability p (one draw) a
 * rectangle of area in [0.02, 0.33] of the W x H image and aspect ratio
 * log-uniform in [0.3, 3.3] (2 draws per try, up to 10 tries, 2 more for
 * the position of the one that fits). w = 0 when nothing is erased.
 */
TFR_API tfr_region tfr_augment_erase_draw(int W, int H, float p, tfr_rng *r);

/* Mirrors left-right in place. */
TFR_API void tfr_image_flip_h(tfr_image *im);

/* A brightness factor uniform in [1 - amount, 1 + amount] (one draw). */
TFR_API float tfr_augment_brightness_draw(double amount, tfr_rng *r);

typedef enum tfr_pixel_order {
    TFR_ORDER_HWC = 0,
    TFR_ORDER_CHW
} tfr_pixel_order;

/* Copies W x H x C uint8 pixels to dst (HWC), mirrored when flip. */
TFR_API void tfr_augment_copy_u8(const uint8_t *px, int W, int H, int C, int flip, uint8_t *dst);

/*
 * Writes W x H x C pixels as floats (x / 255 - mean[k]) / std[k] in order,
 * mirrored when flip; computed as x * (1 / (255 std)) - mean / std.
 */
TFR_API void tfr_augment_normalize_u8(const uint8_t *px, int W, int H, int C, int flip,
                                      const float *mean, const float *std, tfr_pixel_order order,
                                      float *dst);

/* Copies W x H x C floats (HWC) to dst in order, mirrored when flip. */
TFR_API void tfr_augment_copy_f32(const float *src, int W, int H, int C, int flip,
                                  tfr_pixel_order order, float *dst);

/*
 * A model input (CHW) as retrain.py prepares it: each pixel times
 * brightness, clamped to 255, then (v / 255 - mean) / std.
 */
TFR_API void tfr_augment_model_input(const tfr_image *im, float brightness, float mean, float std,
                                     float *dst);

typedef enum tfr_normalize {
    TFR_NORM_NONE = 0,   /* float values 0..255 */
    TFR_NORM_RESCALE,    /* x / 255 */
    TFR_NORM_SAMPLEWISE  /* (x - mean) / (std + 1e-6) over the whole image (Keras) */
} tfr_normalize;

/* Writes w*h*c floats (HWC) from im into out. */
TFR_API void tfr_image_to_float(const tfr_image *im, tfr_normalize n, float *out);

#ifdef __cplusplus
}
#endif

#endif
