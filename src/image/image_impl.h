/*
 * image/image_impl.h - JPEG marker walking shared by the decoder and the
 * header sniffer, and the resampler's windows shared with the region
 * decoder (internal).
 */
#ifndef TFR_IMAGE_IMPL_H
#define TFR_IMAGE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/image.h"

/*
 * The source columns [span[0], span[1]) and rows [span[2], span[3]) that
 * resizing the region (x0, y0, cw, ch) of a full_w x full_h image to w x h
 * reads. -1 when the region is not inside the image (or out of memory).
 */
int tfr_resample_span(int full_w, int full_h, double x0, double y0, double cw, double ch, int w,
                      int h, int span[4]);

/*
 * tfr_image_resize_region of a full_w x full_h image of which win holds the
 * columns from ox and the rows from oy, at least the span above: the same
 * bits as resizing the whole image.
 */
tfr_status tfr_resample_window(const tfr_image *win, int ox, int oy, int full_w, int full_h,
                               double x0, double y0, double cw, double ch, int w, int h,
                               tfr_image *dst, tfr_error *err);

/*
 * Steps through the marker segments of a JPEG before its first scan.
 * Start with *pos = 2 (after SOI). Returns 1 with the marker byte and its
 * payload (after the 2-byte length; may be truncated to what p holds) or 0
 * at SOS, EOI or the end of the data.
 */
static inline int tfr_jpeg_next_segment(const uint8_t *p, size_t n, size_t *pos, uint8_t *marker,
                                        const uint8_t **seg, size_t *seglen)
{
    size_t i = *pos;
    while (i + 4 <= n) {
        if (p[i] != 0xff || p[i + 1] == 0xff) {
            i++;
            continue;
        }
        uint8_t m = p[i + 1];
        if (m == 0xda || m == 0xd9)
            return 0;
        if (m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
            i += 2;
            continue;
        }
        size_t len = ((size_t)p[i + 2] << 8) | p[i + 3];
        if (len < 2)
            return 0;
        *marker = m;
        *seg = p + i + 4;
        *seglen = i + 2 + len <= n ? len - 2 : n - (i + 4);
        *pos = i + 2 + len;
        return 1;
    }
    return 0;
}

#endif
