/*
 * image/canvas.c - drawing on an RGB tfr_image (text in libgd's built-in
 * bitmap fonts, rectangles, lines, pasted images) and PNG encoding through
 * libpng: what contact sheets and training plots are made of.
 */
#include <gdfontmb.h>
#include <gdfonts.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/image.h"
#include "util/alloc.h"
#include "util/fsio.h"

tfr_status tfr_canvas_new(tfr_image *im, int w, int h, uint32_t rgb, tfr_error *err)
{
    memset(im, 0, sizeof *im);
    tfr_status st = tfr_image_alloc(im, w, h, 3, err);
    if (st)
        return st;
    tfr_draw_rect(im, 0, 0, w, h, rgb);
    return TFR_OK;
}

static void put(tfr_image *im, int x, int y, uint32_t rgb)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h)
        return;
    uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
    p[0] = (uint8_t)(rgb >> 16);
    p[1] = (uint8_t)(rgb >> 8);
    p[2] = (uint8_t)rgb;
}

void tfr_draw_rect(tfr_image *im, int x, int y, int w, int h, uint32_t rgb)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > im->w ? im->w : x + w, y1 = y + h > im->h ? im->h : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++)
            put(im, xx, yy, rgb);
}

void tfr_draw_line(tfr_image *im, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    /* Bresenham */
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        put(im, x0, y0, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static gdFontPtr font_of(int size) { return size ? gdFontGetMediumBold() : gdFontGetSmall(); }

int tfr_text_width(const char *text, int size) { return (int)strlen(text) * font_of(size)->w; }
int tfr_text_height(int size) { return font_of(size)->h; }

void tfr_draw_text(tfr_image *im, int x, int y, const char *text, uint32_t rgb, int size)
{
    gdFontPtr f = font_of(size);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++, x += f->w) {
        int ch = *c < 128 && *c >= 32 ? *c : '?'; /* the fonts hold ASCII (and Latin-2) */
        if (ch < f->offset || ch >= f->offset + f->nchars)
            continue;
        const char *g = f->data + (size_t)(ch - f->offset) * f->w * f->h;
        for (int gy = 0; gy < f->h; gy++)
            for (int gx = 0; gx < f->w; gx++)
                if (g[gy * f->w + gx])
                    put(im, x + gx, y + gy, rgb);
    }
}

void tfr_draw_image(tfr_image *dst, int x, int y, const tfr_image *src)
{
    for (int sy = 0; sy < src->h; sy++)
        for (int sx = 0; sx < src->w; sx++) {
            const uint8_t *p = src->px + ((size_t)sy * src->w + sx) * src->c;
            uint32_t rgb = src->c == 1 ? (uint32_t)p[0] * 0x010101u
                                       : ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
            put(dst, x + sx, y + sy, rgb);
        }
}

tfr_status tfr_image_encode_png(const tfr_image *im, uint8_t **out, size_t *len, tfr_error *err)
{
    *out = NULL;
    *len = 0;
    if (!im || !im->px || im->w < 1 || im->h < 1 || (im->c != 1 && im->c != 3))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "png: need a 1- or 3-channel image");
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)im->w;
    pi.height = (png_uint_32)im->h;
    pi.format = im->c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t n = 0;
    if (!png_image_write_to_memory(&pi, NULL, &n, 0, im->px, 0, NULL) || n == 0)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "png: %s", pi.message);
    uint8_t *buf = tfr_malloc(n);
    if (!buf)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for a %zu-byte PNG", (size_t)n);
    if (!png_image_write_to_memory(&pi, buf, &n, 0, im->px, 0, NULL)) {
        free(buf);
        return tfr_fail(err, TFR_ERR_ARG, NULL, "png: %s", pi.message);
    }
    *out = buf;
    *len = n;
    return TFR_OK;
}

tfr_status tfr_image_write_png(const char *path, const tfr_image *im, tfr_error *err)
{
    uint8_t *buf;
    size_t n;
    tfr_status st = tfr_image_encode_png(im, &buf, &n, err);
    if (st)
        return st;
    st = tfr_write_file_atomic(path, NULL, buf, n, TFR_ATOMIC_STDIO, err);
    free(buf);
    return st;
}
