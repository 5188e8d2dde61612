/*
 * image/decode.c - JPEG (TurboJPEG) and PNG (libpng simplified API) decoding
 * to packed 8-bit gray or RGB, with DCT-domain downscaling, CMYK/YCCK
 * conversion and EXIF orientation; decoding of a region with resizing
 * (libjpeg's scanline cropping).
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
/* jpeglib.h after stdio.h: it uses FILE */
#include <jpeglib.h>

#include "image/image_impl.h"
#include "tfrecord/image.h"
#include "util/alloc.h"
#include "util/opts.h"

struct tfr_image_ctx {
    tjhandle  dec, enc;
    tfr_image tmp;   /* CMYK scratch / pre-orientation pixels */
    tfr_image win;   /* decoded pixels before a region's resize */
    tfr_image line;  /* a scanline read past the region */
};

void tfr_decode_opts_init(tfr_decode_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->channels = 3;
    o->apply_orientation = 1;
    o->max_pixels = TFR_DEFAULT_MAX_PIXELS;
}

tfr_status tfr_image_ctx_new(tfr_image_ctx **out, tfr_error *err)
{
    tfr_image_ctx *c = tfr_calloc(1, sizeof *c);
    if (!c)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    c->dec = tjInitDecompress();
    c->enc = tjInitCompress();
    if (!c->dec || !c->enc) {
        tfr_image_ctx_free(c);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "TurboJPEG init failed: %s",
                        tjGetErrorStr2(NULL));
    }
    *out = c;
    return TFR_OK;
}

void tfr_image_ctx_free(tfr_image_ctx *c)
{
    if (!c)
        return;
    if (c->dec)
        tjDestroy(c->dec);
    if (c->enc)
        tjDestroy(c->enc);
    tfr_image_free(&c->tmp);
    tfr_image_free(&c->win);
    tfr_image_free(&c->line);
    free(c);
}

/* ---- JPEG markers: EXIF orientation, Adobe transform ------------------- */

static unsigned rd16(const uint8_t *p, int le) { return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int exif_orientation(const uint8_t *t, size_t n)
{
    if (n < 8)
        return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 1;
    if (rd16(t + 2, le) != 42)
        return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n - 2 || ifd < 8)
        return 1;
    unsigned cnt = rd16(t + ifd, le);
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            break;
        if (rd16(t + e, le) == 0x0112 && rd16(t + e + 2, le) == 3) {
            unsigned v = rd16(t + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

/* Scans the markers before the first scan for APP1/Exif and APP14/Adobe. */
static void jpeg_markers(const uint8_t *p, size_t n, int *orientation, int *adobe)
{
    *orientation = 1;
    *adobe = 0;
    size_t pos = 2, sl;
    uint8_t m;
    const uint8_t *seg;
    while (tfr_jpeg_next_segment(p, n, &pos, &m, &seg, &sl)) {
        if (m == 0xe1 && sl >= 6 && !memcmp(seg, "Exif\0\0", 6))
            *orientation = exif_orientation(seg + 6, sl - 6);
        else if (m == 0xee && sl >= 5 && !memcmp(seg, "Adobe", 5))
            *adobe = 1;
    }
}

static int swaps_axes(int orientation) { return orientation >= 5 && orientation <= 8; }

static tfr_status tj_fail(tfr_error *err, tjhandle h, const char *what)
{
    const char *m = tjGetErrorStr2(h);
    return tfr_fail(err, TFR_ERR_CORRUPT, NULL, "%s: %s", what, m ? m : "unknown error");
}

static tfr_status probe_jpeg(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                             tfr_image_info *info, tfr_error *err)
{
    int w = 0, h = 0, subsamp = -1, cs = -1;
    if (tjDecompressHeader3(ctx->dec, data, (unsigned long)n, &w, &h, &subsamp, &cs) != 0)
        return tj_fail(err, ctx->dec, "JPEG header unreadable");
    if (w <= 0 || h <= 0)
        return tfr_fail(err, TFR_ERR_CORRUPT, NULL,
                        "truncated JPEG: the file ends before the frame header");
    info->format = TFR_IMG_JPEG;
    info->width = w;
    info->height = h;
    info->cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    info->components = cs == TJCS_GRAY ? 1 : info->cmyk ? 4 : 3;
    int adobe;
    jpeg_markers(data, n, &info->orientation, &adobe);
    /* SOF2 (progressive) appears before the first scan */
    for (size_t i = 2; i + 1 < n && i < 65536; i++)
        if (data[i] == 0xff && (data[i + 1] == 0xc2 || data[i + 1] == 0xc6 ||
                                data[i + 1] == 0xca || data[i + 1] == 0xce)) {
            info->progressive = 1;
            break;
        } else if (data[i] == 0xff && data[i + 1] == 0xda) {
            break;
        }
    return TFR_OK;
}

/*
 * The decompression-bomb guard, on the header's size before any allocation:
 * a few hundred bytes can declare 46000x46000, and libjpeg pads a truncated
 * image with gray, so without it such a file costs 6 GB and most of a minute
 * before it is found damaged. The declared size is what counts, not the DCT
 * scaled one, as in Pillow: the limit says which files are read at all.
 */
static tfr_status check_pixels(const char *fmt, const tfr_image_info *info,
                               const tfr_decode_opts *o, tfr_error *err)
{
    uint64_t np = (uint64_t)info->width * (uint64_t)info->height;
    if (np <= o->max_pixels)
        return TFR_OK;
    return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                    "%s declares %dx%d = %llu pixels, over the limit of %llu pixels "
                    "(decompression-bomb guard)",
                    fmt, info->width, info->height, (unsigned long long)np,
                    (unsigned long long)o->max_pixels);
}

/*
 * The first message libjpeg gave while decoding (TurboJPEG keeps the first
 * warning, or the fatal error). libjpeg "warns" about truncation (and pads
 * the image with gray), bad Huffman codes and bogus markers alike, and
 * TurboJPEG reports some fatal errors after a warning with the warning
 * code. Only stray bytes before a marker are harmless; everything else is a
 * damaged image.
 */
static int jpeg_benign(const char *m) { return m && strstr(m, "extraneous bytes before marker"); }

static tfr_status jpeg_warning(const char *m, const tfr_decode_opts *o, tfr_image_info *info,
                               tfr_error *err)
{
    if (!jpeg_benign(m) || o->strict) {
        int truncated = m && strstr(m, "Premature end");
        return tfr_fail(err, TFR_ERR_CORRUPT, NULL, "%s: %s",
                        truncated ? "truncated JPEG" : "damaged JPEG", m ? m : "unknown error");
    }
    info->warning = 1;
    snprintf(info->warning_msg, sizeof info->warning_msg, "%.*s",
             (int)sizeof info->warning_msg - 1, m);
    return TFR_OK;
}

static tfr_status decode_jpeg(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                              const tfr_decode_opts *o, tfr_image *out,
                              tfr_image_info *info, tfr_error *err)
{
    tfr_status st = probe_jpeg(ctx, data, n, info, err);
    if (!st)
        st = check_pixels("JPEG", info, o, err);
    if (st)
        return st;
    /* every buffer below is of the scaled size (sw x sh), ctx->tmp included */
    int orient = o->apply_orientation ? info->orientation : 1;
    /* smallest DCT scale that still covers the requested size */
    int sw = info->width, sh = info->height;
    if (o->min_w > 0 && o->min_h > 0) {
        int nsf = 0;
        tjscalingfactor *sf = tjGetScalingFactors(&nsf);
        int need_w = swaps_axes(orient) ? o->min_h : o->min_w;
        int need_h = swaps_axes(orient) ? o->min_w : o->min_h;
        long best = (long)sw * sh;
        for (int i = 0; sf && i < nsf; i++) {
            if (sf[i].num > sf[i].denom)
                continue;
            int tw = TJSCALED(info->width, sf[i]), th = TJSCALED(info->height, sf[i]);
            if (tw >= need_w && th >= need_h && (long)tw * th < best) {
                best = (long)tw * th;
                sw = tw;
                sh = th;
            }
        }
    }
    int adobe, dummy;
    jpeg_markers(data, n, &dummy, &adobe);
    tfr_image *dst = orient != 1 ? &ctx->tmp : out;
    int pf, outc = o->channels;
    tfr_image *cm = NULL;
    if (info->cmyk) {
        /* TurboJPEG cannot convert CMYK to RGB: decode CMYK, convert below */
        cm = orient != 1 ? out : &ctx->tmp;
        if ((st = tfr_image_alloc(cm, sw, sh, 4, err)))
            return st;
        pf = TJPF_CMYK;
    } else {
        if ((st = tfr_image_alloc(dst, sw, sh, outc, err)))
            return st;
        pf = outc == 1 ? TJPF_GRAY : TJPF_RGB;
    }
    uint8_t *buf = cm ? cm->px : dst->px;
    int flags = o->strict ? TJFLAG_STOPONWARNING : 0;
    if (tjDecompress2(ctx->dec, data, (unsigned long)n, buf, sw, 0, sh, pf, flags) != 0) {
        if ((st = jpeg_warning(tjGetErrorStr2(ctx->dec), o, info, err)))
            return st;
    }
    if (cm) {
        if ((st = tfr_image_alloc(dst, sw, sh, outc, err)))
            return st;
        size_t np = (size_t)sw * sh;
        const uint8_t *s = cm->px;
        uint8_t *d = dst->px;
        for (size_t i = 0; i < np; i++, s += 4) {
            unsigned C = s[0], M = s[1], Y = s[2], K = s[3];
            if (!adobe) { /* plain CMYK: ink amounts */
                C = 255 - C; M = 255 - M; Y = 255 - Y; K = 255 - K;
            }
            unsigned r = (C * K + 127) / 255, g = (M * K + 127) / 255, b = (Y * K + 127) / 255;
            if (outc == 3) {
                d[0] = (uint8_t)r; d[1] = (uint8_t)g; d[2] = (uint8_t)b;
                d += 3;
            } else {
                *d++ = (uint8_t)((r * 299 + g * 587 + b * 114 + 500) / 1000);
            }
        }
    }
    if (orient != 1)
        return tfr_image_orient(dst, orient, out, err);
    return TFR_OK;
}

/*
 * A TurboJPEG 2.x decompressor is left in a broken state by an error inside
 * libjpeg (the next, valid image fails with "Bogus DQT index"), so the
 * handle is replaced after every failure.
 */
static void reset_decoder(tfr_image_ctx *ctx)
{
    tjhandle h = tjInitDecompress();
    if (h) {
        tjDestroy(ctx->dec);
        ctx->dec = h;
    }
}

/* Reads a PNG's header into img and info; the caller frees img on success. */
static tfr_status png_begin(png_image *img, const uint8_t *data, size_t n, tfr_image_info *info,
                            tfr_error *err)
{
    memset(img, 0, sizeof *img);
    img->version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(img, data, n))
        return tfr_fail(err, TFR_ERR_CORRUPT, NULL, "PNG header unreadable: %s", img->message);
    info->format = TFR_IMG_PNG;
    info->width = (int)img->width;
    info->height = (int)img->height;
    info->components = (int)PNG_IMAGE_SAMPLE_CHANNELS(img->format);
    info->orientation = 1;
    return TFR_OK;
}

static tfr_status decode_png(const uint8_t *data, size_t n, const tfr_decode_opts *o,
                             tfr_image *out, tfr_image_info *info, tfr_error *err)
{
    png_image img;
    tfr_status hs = png_begin(&img, data, n, info, err);
    if (hs)
        return hs;
    /* png_begin read IHDR only: check it before finish_read allocates rows */
    if ((hs = check_pixels("PNG", info, o, err))) {
        png_image_free(&img);
        return hs;
    }
    img.format = o->channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    tfr_status st = tfr_image_alloc(out, (int)img.width, (int)img.height, o->channels, err);
    if (st) {
        png_image_free(&img);
        return st;
    }
    if (!png_image_finish_read(&img, NULL, out->px, 0, NULL)) {
        tfr_status s = tfr_fail(err, TFR_ERR_CORRUPT, NULL, "PNG decode failed: %s", img.message);
        png_image_free(&img);
        return s;
    }
    if (img.warning_or_error & PNG_IMAGE_WARNING) {
        info->warning = 1;
        snprintf(info->warning_msg, sizeof info->warning_msg, "%s", img.message);
        if (o->strict)
            return tfr_fail(err, TFR_ERR_CORRUPT, NULL, "PNG warning: %s", img.message);
    }
    return TFR_OK;
}

tfr_status tfr_image_probe(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                           tfr_image_info *info, tfr_error *err)
{
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    switch (tfr_image_format_of(data, n)) {
    case TFR_IMG_JPEG: {
        tfr_status st = probe_jpeg(ctx, data, n, info, err);
        if (st)
            reset_decoder(ctx);
        return st;
    }
    case TFR_IMG_PNG: {
        png_image img;
        tfr_status st = png_begin(&img, data, n, info, err);
        if (!st)
            png_image_free(&img);
        return st;
    }
    default:
        return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                        n == 0 ? "empty file" : "not a JPEG or PNG image");
    }
}

tfr_status tfr_image_decode(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                            const tfr_decode_opts *opts, tfr_image *out,
                            tfr_image_info *info, tfr_error *err)
{
    TFR_CHECK_OPTS(tfr_decode_opts, opts, err);
    tfr_decode_opts d;
    if (!opts) {
        tfr_decode_opts_init(&d);
        opts = &d;
    }
    if (!ctx || !out || (!data && n))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "image decode: NULL argument");
    if (opts->channels != 1 && opts->channels != 3)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "channels must be 1 or 3");
    if (opts->max_pixels < 1)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "max_pixels must be at least 1 (UINT64_MAX lifts the limit)");
    tfr_image_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    info->orientation = 1;
    switch (tfr_image_format_of(data, n)) {
    case TFR_IMG_JPEG: {
        tfr_status st = decode_jpeg(ctx, data, n, opts, out, info, err);
        if (st)
            reset_decoder(ctx);
        return st;
    }
    case TFR_IMG_PNG:
        return decode_png(data, n, opts, out, info, err);
    default:
        if (n == 0)
            return tfr_fail(err, TFR_ERR_FORMAT, NULL, "empty file (0 bytes)");
        if (n >= 4 && (!memcmp(data, "GIF8", 4) || !memcmp(data, "BM", 2) ||
                       !memcmp(data, "RIFF", 4)))
            return tfr_fail(err, TFR_ERR_FORMAT, NULL,
                            "unsupported image format (GIF/BMP/WebP); JPEG and PNG are read");
        return tfr_fail(err, TFR_ERR_FORMAT, NULL, "not a JPEG or PNG image (by content)");
    }
}

tfr_status tfr_image_encode_jpeg(tfr_image_ctx *ctx, const tfr_image *im, int quality,
                                 uint8_t **out, size_t *len, tfr_error *err)
{
    *out = NULL;
    if (quality < 1 || quality > 100)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "JPEG quality %d not in 1..100", quality);
    int samp = im->c == 1 ? TJSAMP_GRAY : quality >= 90 ? TJSAMP_444 : TJSAMP_420;
    unsigned long cap = tjBufSize(im->w, im->h, samp);
    unsigned char *buf = tfr_malloc(cap);
    if (!buf)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    unsigned long size = cap;
    if (tjCompress2(ctx->enc, im->px, im->w, 0, im->h, im->c == 1 ? TJPF_GRAY : TJPF_RGB, &buf,
                    &size, samp, quality, TJFLAG_NOREALLOC) != 0) {
        free(buf);
        return tfr_fail(err, TFR_ERR_IO, NULL, "JPEG encode failed: %s", tjGetErrorStr2(ctx->enc));
    }
    *out = buf;
    *len = size;
    return TFR_OK;
}

/* ---- a region: libjpeg with scanline cropping ---------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int     strict;
    char    msg[JMSG_LENGTH_MAX]; /* the first warning, or the fatal error */
} jpeg_err;

static void jerr_exit(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)(void *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

/*
 * Warnings as TurboJPEG sees them: the first one decides (jpeg_warning).
 * One that makes the image an error stops the decode at once: nothing after
 * it could make the image good again.
 */
static void jerr_emit(j_common_ptr c, int level)
{
    if (level >= 0) /* trace messages */
        return;
    jpeg_err *e = (jpeg_err *)(void *)c->err;
    if (c->err->num_warnings++ == 0) {
        c->err->format_message(c, e->msg);
        if (e->strict || !jpeg_benign(e->msg))
            longjmp(e->jump, 1);
    }
}

/*
 * Decodes at least the columns [span[0], span[1]) of the rows [span[2],
 * span[3]) into win, whose first column is *ox and first row *oy. libjpeg
 * starts a crop at an iMCU boundary, and its fancy upsampling treats the
 * edges of a crop (and the first row after a skip) as image edges, so the
 * window reaches one iMCU further on each side than the span: the pixels of
 * the span are then those of the whole decode. The rows above and below are
 * skipped, which still entropy-decodes them, so damage there is found; the
 * last row is read, not skipped, because a skip to the end of the image
 * decodes nothing.
 */
static tfr_status jpeg_window(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                              const tfr_decode_opts *o, const int span[4], tfr_image *win,
                              int *ox, int *oy, tfr_image_info *info, tfr_error *err)
{
    struct jpeg_decompress_struct ci;
    jpeg_err je;
    memset(&je, 0, sizeof je);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jerr_exit;
    je.pub.emit_message = jerr_emit;
    je.strict = o->strict;
    jpeg_create_decompress(&ci);
    if (setjmp(je.jump)) {
        jpeg_destroy_decompress(&ci);
        tfr_decode_opts strict = *o;
        strict.strict = 1; /* every way here is an error */
        return jpeg_warning(je.msg, &strict, info, err);
    }
    jpeg_mem_src(&ci, data, (unsigned long)n);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = o->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&ci);
    const int W = (int)ci.output_width, H = (int)ci.output_height;
    const int mx = ci.max_h_samp_factor * DCTSIZE, my = ci.max_v_samp_factor * DCTSIZE;
    int c0 = span[0] - mx < 0 ? 0 : span[0] - mx, c1 = span[1] + mx > W ? W : span[1] + mx;
    int r0 = span[2] - my < 0 ? 0 : span[2] - my, r1 = span[3] + my > H ? H : span[3] + my;
    JDIMENSION x0 = (JDIMENSION)c0, cw = (JDIMENSION)(c1 - c0);
    jpeg_crop_scanline(&ci, &x0, &cw);
    const size_t stride = (size_t)cw * (size_t)o->channels;
    if (tfr_image_alloc(win, (int)cw, r1 - r0, o->channels, err) ||
        tfr_image_alloc(&ctx->line, (int)cw, 1, o->channels, err)) {
        jpeg_destroy_decompress(&ci);
        return err ? err->code : TFR_ERR_NOMEM;
    }
    if (r0 > 0)
        jpeg_skip_scanlines(&ci, (JDIMENSION)r0);
    while (ci.output_scanline < (JDIMENSION)r1) {
        JSAMPROW rp[16];
        JDIMENSION want = (JDIMENSION)r1 - ci.output_scanline;
        if (want > 16)
            want = 16;
        for (JDIMENSION i = 0; i < want; i++)
            rp[i] = win->px + (size_t)(ci.output_scanline - (JDIMENSION)r0 + i) * stride;
        jpeg_read_scanlines(&ci, rp, want);
    }
    if (r1 < H) {
        if (H - r1 > 1)
            jpeg_skip_scanlines(&ci, (JDIMENSION)(H - r1 - 1));
        JSAMPROW rp = ctx->line.px;
        while (ci.output_scanline < ci.output_height)
            jpeg_read_scanlines(&ci, &rp, 1);
    }
    jpeg_finish_decompress(&ci);
    int warned = je.pub.num_warnings > 0;
    jpeg_destroy_decompress(&ci);
    *ox = (int)x0;
    *oy = r0;
    return warned ? jpeg_warning(je.msg, o, info, err) : TFR_OK;
}

tfr_status tfr_image_decode_region(tfr_image_ctx *ctx, const uint8_t *data, size_t n,
                                   const tfr_decode_opts *opts, double x0, double y0, double cw,
                                   double ch, int w, int h, tfr_image *out, tfr_image_info *info,
                                   tfr_error *err)
{
    TFR_CHECK_OPTS(tfr_decode_opts, opts, err);
    tfr_decode_opts d;
    if (!opts) {
        tfr_decode_opts_init(&d);
        opts = &d;
    }
    d = *opts;
    d.min_w = d.min_h = 0;
    tfr_image_info local;
    if (!info)
        info = &local;
    if (!ctx || !out || (!data && n))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "image decode: NULL argument");
    tfr_status st;
    if (tfr_image_format_of(data, n) == TFR_IMG_JPEG && (d.channels == 1 || d.channels == 3) &&
        d.max_pixels >= 1) {
        memset(info, 0, sizeof *info);
        if ((st = probe_jpeg(ctx, data, n, info, err))) {
            reset_decoder(ctx);
            return st;
        }
        if (!info->cmyk && (info->orientation == 1 || !d.apply_orientation)) {
            if ((st = check_pixels("JPEG", info, &d, err)))
                return st;
            int span[4], ox, oy;
            if (tfr_resample_span(info->width, info->height, x0, y0, cw, ch, w, h, span))
                return tfr_fail(err, TFR_ERR_ARG, NULL, "resize region outside the image");
            if ((st = jpeg_window(ctx, data, n, &d, span, &ctx->win, &ox, &oy, info, err)))
                return st;
            return tfr_resample_window(&ctx->win, ox, oy, info->width, info->height, x0, y0,
                                       cw, ch, w, h, out, err);
        }
    }
    /* everything else: the whole image, then its region */
    if ((st = tfr_image_decode(ctx, data, n, &d, &ctx->win, info, err)))
        return st;
    return tfr_image_resize_region(&ctx->win, x0, y0, cw, ch, w, h, out, err);
}
