/*
 * image/sniff.c - image format and dimensions from the first bytes of a
 * file: JPEG (SOFn marker) and PNG (IHDR), no pixel decoding.
 */
#include <string.h>

#include "image/image_impl.h"
#include "tfrecord/image.h"

static int be16(const uint8_t *p) { return (p[0] << 8) | p[1]; }

const char *tfr_image_sniff(const uint8_t *p, size_t n, int *w, int *h, int *channels)
{
    *w = *h = *channels = -1;
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        size_t pos = 2, sl;
        uint8_t m;
        const uint8_t *seg;
        while (tfr_jpeg_next_segment(p, n, &pos, &m, &seg, &sl))
            if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
                if (sl >= 6) { /* SOFn: precision, height, width, components */
                    *h = be16(seg + 1);
                    *w = be16(seg + 3);
                    *channels = seg[5];
                }
                break;
            }
        return "jpeg";
    }
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(p, png_sig, 8)) {
        if (n >= 26 && !memcmp(p + 12, "IHDR", 4)) {
            *w = (int)(((uint32_t)p[16] << 24) | ((uint32_t)p[17] << 16) | (p[18] << 8) | p[19]);
            *h = (int)(((uint32_t)p[20] << 24) | ((uint32_t)p[21] << 16) | (p[22] << 8) | p[23]);
            static const int ch[7] = {1, 0, 3, 3, 2, 0, 4}; /* by color type */
            *channels = p[25] <= 6 ? ch[p[25]] : -1;
        }
        return "png";
    }
    return NULL;
}
