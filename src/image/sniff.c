/*
 * image/sniff.c - image format and dimensions from the first bytes of a
 * file: JPEG (SOFn marker) and PNG (IHDR), no pixel decoding.
 */
#include <string.h>

#include "tfrecord/inspect.h"

static int be16(const uint8_t *p) { return (p[0] << 8) | p[1]; }

const char *tfr_image_sniff(const uint8_t *p, size_t n, int *w, int *h, int *channels)
{
    *w = *h = *channels = -1;
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        size_t i = 2;
        while (i + 4 <= n) {
            if (p[i] != 0xff) {
                i++;
                continue;
            }
            uint8_t m = p[i + 1];
            if (m == 0xff) {
                i++;
                continue;
            }
            if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
                i += 2;
                continue;
            }
            if (m == 0xd9 || m == 0xda)
                break; /* end of image or start of scan before any SOF */
            int len = be16(p + i + 2);
            if (len < 2)
                break;
            if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
                if (i + 10 <= n) {
                    *h = be16(p + i + 5);
                    *w = be16(p + i + 7);
                    *channels = p[i + 9];
                }
                break;
            }
            i += 2 + (size_t)len;
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
