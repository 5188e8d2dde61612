/*
 * image/image.c - the pixel buffer every image function fills or reads
 * (tfrecord/image.h), and the format test by magic bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "tfrecord/image.h"
#include "util/alloc.h"

void tfr_image_free(tfr_image *im)
{
    if (!im)
        return;
    free(im->px);
    im->px = NULL;
    im->cap = 0;
    im->w = im->h = im->c = 0;
}

tfr_status tfr_image_alloc(tfr_image *im, int w, int h, int c, tfr_error *err)
{
    if (w <= 0 || h <= 0 || (c != 1 && c != 3 && c != 4) || (size_t)w * h > ((size_t)1 << 31))
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "unsupported image size %dx%dx%d", w, h, c);
    size_t need = (size_t)w * h * c;
    if (need > im->cap) {
        uint8_t *p = tfr_realloc(im->px, need);
        if (!p)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for a %dx%d image", w, h);
        im->px = p;
        im->cap = need;
    }
    im->w = w;
    im->h = h;
    im->c = c;
    return TFR_OK;
}

tfr_image_format tfr_image_format_of(const uint8_t *p, size_t n)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return TFR_IMG_JPEG;
    if (n >= 8 && !memcmp(p, png_sig, 8))
        return TFR_IMG_PNG;
    return TFR_IMG_UNKNOWN;
}
