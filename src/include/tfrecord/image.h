/*
 * tfrecord/image.h - decode (JPEG via TurboJPEG, PNG via libpng), resize,
 * flip, normalize and encode 8-bit images.
 *
 * Pixels are packed rows, HWC, uint8. Decoding always gives 1 (gray) or 3
 * (RGB) channels as asked: grayscale JPEGs are expanded, CMYK/YCCK JPEGs are
 * converted (Adobe-inverted when the Adobe marker says so), PNG alpha is
 * dropped, 16-bit PNGs are reduced to 8 bits. EXIF orientation is applied.
 */
#ifndef TFRECORD_IMAGE_H
#define TFRECORD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tfr_image {
    int      w, h, c;  /* c is 1 or 3 */
    uint8_t *px;       /* w*h*c bytes, owned; free with tfr_image_free */
    size_t   cap;      /* allocated bytes (buffers are reused) */
} tfr_image;

TFR_API void tfr_image_free(tfr_image *im); /* frees px, keeps the struct */
/* Makes room for w*h*c pixels; reuses the buffer when large enough. */
TFR_API tfr_status tfr_image_alloc(tfr_image *im, int w, int h, int c, tfr_error *err);

typedef enum tfr_image_format {
    TFR_IMG_UNKNOWN = 0,
    TFR_IMG_JPEG,
    TFR_IMG_PNG
} tfr_image_format;

/* Format from the magic bytes (FF D8 FF, or the 8-byte PNG signature). */
TFR_API tfr_image_format tfr_image_format_of(const uint8_t *p, size_t n);

/* Image format and size from the first bytes of an encoded image, without
 * decoding pixels: returns "jpeg", "png" or NULL; w/h/channels may be -1. */
TFR_API const char *tfr_image_sniff(const uint8_t *p, size_t n, int *w, int *h, int *channels);

/* What the decoder found in the file. */
typedef struct tfr_image_info {
    tfr_image_format format;
    int  width, height;     /* as stored, before orientation and scaling */
    int  components;        /* JPEG: 1, 3 or 4 (CMYK/YCCK); PNG: 1..4 */
    int  cmyk;              /* JPEG stored as CMYK or YCCK */
    int  progressive;
    int  orientation;       /* EXIF orientation 1..8 (1 when absent) */
    int  warning;           /* the decoder warned (damaged but decodable) */
    char warning_msg[128];
} tfr_image_info;

/* Decoder options. Start from tfr_decode_opts_init (struct_size: see
 * tfrecord/error.h). */
typedef struct tfr_decode_opts {
    size_t struct_size;  /* sizeof(tfr_decode_opts), set by _init */
    int channels;        /* 1 or 3 (default 3) */
    /*
     * When > 0, JPEGs are decoded with the smallest DCT scaling factor
     * (1/8 .. 1) that still gives at least min_w x min_h pixels (after
     * orientation): a shrink to 224x224 reads a 12 MP photo at 1/4 or 1/8.
     */
    int min_w, min_h;
    int apply_orientation; /* default 1 */
    int strict;            /* any decoder warning is an error */
    /*
     * Decompression-bomb guard: a JPEG or PNG whose header declares more
     * than max_pixels pixels (width x height as stored, before DCT scaling)
     * is refused with TFR_ERR_FORMAT before any pixel buffer is allocated.
     * Default TFR_DEFAULT_MAX_PIXELS; must be >= 1 (0 is TFR_ERR_ARG: there
     * is no "no limit", pass UINT64_MAX to lift it; tfr_image_alloc's own
     * 2^31-pixel ceiling still applies).
     */
    uint64_t max_pixels;
} tfr_decode_opts;

/* Pillow's Image.MAX_IMAGE_PIXELS (its DecompressionBombWarning limit). */
#define TFR_DEFAULT_MAX_PIXELS 178956970ull

TFR_API void tfr_decode_opts_init(tfr_decode_opts *o);

/* Per-thread decoder/encoder state (TurboJPEG handles, scratch buffers). */
typedef struct tfr_image_ctx tfr_image_ctx;
TFR_API tfr_status tfr_image_ctx_new(tfr_image_ctx **out, tfr_error *err);
TFR_API void       tfr_image_ctx_free(tfr_image_ctx *ctx);

/*
 * Decodes a JPEG or PNG held in memory. TFR_ERR_FORMAT for data that is not
 * JPEG/PNG (text, a GIF, zero bytes); TFR_ERR_CORRUPT for a damaged or
 * truncated image. A truncated JPEG is always an error (libjpeg would pad it
 * with gray); other decoder warnings are errors only with strict.
 * TFR_ERR_FORMAT ("... over the limit of N pixels") when the header declares
 * more than opts->max_pixels; info then holds the declared size.
 * opts may be NULL (defaults); TFR_ERR_ARG when its struct_size is not this
 * library's. info may be NULL.
 */
TFR_API tfr_status tfr_image_decode(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                                    const tfr_decode_opts *opts, tfr_image *out,
                                    tfr_image_info *info, tfr_error *err);

/* Reads only the header: format, size, components, orientation. Allocates
 * no pixels, so no pixel limit applies: the caller sees the declared size. */
TFR_API tfr_status tfr_image_probe(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                                   tfr_image_info *info, tfr_error *err);

/*
 * Decodes an image and resizes its region (x0, y0, cw, ch) to w x h into
 * out: the same bytes as tfr_image_decode (opts->min_w/min_h unused: the
 * full size, EXIF orientation applied) followed by tfr_image_resize_region,
 * for less work. The region is in those oriented pixels: from
 * tfr_image_probe, width x height, swapped for orientations 5..8.
 * Baseline and progressive JPEGs that need no rotation and are not CMYK go
 * through libjpeg's cropping: only the columns the resize reads are
 * transformed and only its rows converted. All of the entropy-coded data
 * is still read, so a damaged or truncated file fails exactly as it does in
 * tfr_image_decode. Other images are decoded whole. TFR_ERR_ARG when the
 * region is not inside the image.
 */
TFR_API tfr_status tfr_image_decode_region(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                                           const tfr_decode_opts *opts, double x0, double y0,
                                           double cw, double ch, int w, int h, tfr_image *out,
                                           tfr_image_info *info, tfr_error *err);

typedef enum tfr_resize_mode {
    TFR_RESIZE_STRETCH = 0, /* to exactly w x h, aspect not kept */
    TFR_RESIZE_CROP,        /* scale to cover w x h, center crop */
    TFR_RESIZE_PAD          /* scale to fit inside w x h, center, pad with 0 */
} tfr_resize_mode;

/*
 * Resizes src into dst (w x h, same channels). Each axis is area-averaged
 * when shrinking and bilinear (half-pixel centers) when growing.
 */
TFR_API tfr_status tfr_image_resize(const tfr_image *src, int w, int h, tfr_resize_mode mode,
                                    tfr_image *dst, tfr_error *err);

/*
 * Resizes the source rectangle (x0, y0, cw, ch), in source pixels and
 * possibly fractional, into dst of w x h (same rules as tfr_image_resize).
 */
TFR_API tfr_status tfr_image_resize_region(const tfr_image *src, double x0, double y0, double cw,
                                           double ch, int w, int h, tfr_image *dst, tfr_error *err);

/* Applies EXIF orientation 1..8 (src and dst must differ). */
TFR_API tfr_status tfr_image_orient(const tfr_image *src, int orientation, tfr_image *dst,
                                    tfr_error *err);

/*
 * Encodes as JPEG (quality 1..100; 4:2:0 chroma for RGB below quality 90,
 * else 4:4:4; grayscale for c == 1). *out is malloc'd, caller frees.
 */
TFR_API tfr_status tfr_image_encode_jpeg(tfr_image_ctx *ctx, const tfr_image *im, int quality,
                                         uint8_t **out, size_t *len, tfr_error *err);

/* Encodes as an 8-bit gray or RGB PNG (libpng). *out is malloc'd. */
TFR_API tfr_status tfr_image_encode_png(const tfr_image *im, uint8_t **out, size_t *len,
                                        tfr_error *err);
/* Writes a PNG file atomically (a temporary name, then renamed). */
TFR_API tfr_status tfr_image_write_png(const char *path, const tfr_image *im, tfr_error *err);

/* ---- drawing on an RGB image (contact sheets, plots) -------------------------
 * Colours are 0xRRGGBB; everything is clipped to the image. Text is ASCII
 * (other bytes show as '?') in libgd's built-in bitmap fonts: size 0 is
 * gdFontSmall (6x13), 1 gdFontMediumBold (7x13). */
TFR_API tfr_status tfr_canvas_new(tfr_image *im, int w, int h, uint32_t rgb, tfr_error *err);
TFR_API void tfr_draw_rect(tfr_image *im, int x, int y, int w, int h, uint32_t rgb); /* filled */
TFR_API void tfr_draw_line(tfr_image *im, int x0, int y0, int x1, int y1, uint32_t rgb);
TFR_API void tfr_draw_text(tfr_image *im, int x, int y, const char *text, uint32_t rgb, int size);
TFR_API int  tfr_text_width(const char *text, int size);
TFR_API int  tfr_text_height(int size);
/* Pastes src (gray or RGB) with its top-left corner at (x, y). */
TFR_API void tfr_draw_image(tfr_image *dst, int x, int y, const tfr_image *src);

#ifdef __cplusplus
}
#endif

#endif
