/*
 * tests/fuzz/fuzz_image.c - the image path on JPEG and PNG bytes: sniff,
 * probe, decode (channels, DCT scaling, orientation, strict, pixel limit),
 * resize in each mode, resize of a region, orientation, JPEG encode and
 * decode back.
 *
 * Bytes 0-3 choose the options; the rest is the image. The pixel limit is
 * at most 4 megapixels here so that every input decodes in well under the
 * fuzzer's timeout (the default limit has its own tests); it is also drawn
 * as low as 16 pixels so the refusal path is exercised.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/image.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"

static tfr_image_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    tfr_error e;
    if (tfr_image_ctx_new(&ctx, &e))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const uint8_t a = data[0], b = data[1], c = data[2], d = data[3];
    data += 4;
    size -= 4;
    tfr_error err;

    int sw, sh, sc;
    const char *kind = tfr_image_sniff(data, size, &sw, &sh, &sc);
    tfr_image_format fmt = tfr_image_format_of(data, size);
    if (kind && fmt == TFR_IMG_UNKNOWN)
        abort();
    tfr_image_info pi;
    int probed = tfr_image_probe(ctx, data, size, &pi, &err) == TFR_OK;

    tfr_decode_opts o;
    tfr_decode_opts_init(&o);
    o.channels = (a & 1) ? 1 : 3;
    o.apply_orientation = (a >> 1) & 1;
    o.strict = (a >> 2) & 1;
    if (a & 8) {
        o.min_w = b & 127;
        o.min_h = c & 127;
    }
    o.max_pixels = (uint64_t)1 << (4 + ((a >> 4) % 15)); /* 16 .. 4 Mi */

    tfr_image im = {0}, r = {0}, g = {0}, q = {0};
    tfr_image_info info;
    if (tfr_image_decode(ctx, data, size, &o, &im, &info, &err) == TFR_OK) {
        if (!probed || pi.width != info.width || pi.height != info.height)
            abort(); /* probe and decode agree on the header */
        if (im.c != o.channels || im.w < 1 || im.h < 1 ||
            (uint64_t)info.width * (uint64_t)info.height > o.max_pixels ||
            (size_t)im.w * im.h * im.c > im.cap)
            abort();
        /* every pixel is readable */
        uint32_t s = tfr_crc32c(im.px, (size_t)im.w * im.h * im.c);
        (void)s;
        int rw = 1 + (b % 48), rh = 1 + (c % 48);
        if (tfr_image_resize(&im, rw, rh, (tfr_resize_mode)(d % 3), &r, &err) == TFR_OK &&
            (r.w != rw || r.h != rh || r.c != im.c))
            abort();
        double x0 = (d & 7) * im.w / 16.0, y0 = ((d >> 3) & 7) * im.h / 16.0;
        double cw = im.w - x0, ch = im.h - y0;
        if (tfr_image_resize_region(&im, x0, y0, cw, ch, rh, rw, &g, &err) == TFR_OK &&
            (g.w != rh || g.h != rw))
            abort();
        int orient = 1 + (b >> 5);
        if (tfr_image_orient(&r, orient, &g, &err) == TFR_OK) {
            int swap = orient >= 5;
            if (g.w != (swap ? r.h : r.w) || g.h != (swap ? r.w : r.h))
                abort();
        }
        uint8_t *jpg = NULL;
        size_t jn = 0;
        if (tfr_image_encode_jpeg(ctx, &r, 1 + (d % 100), &jpg, &jn, &err) == TFR_OK) {
            tfr_decode_opts o2;
            tfr_decode_opts_init(&o2);
            o2.channels = r.c;
            if (tfr_image_decode(ctx, jpg, jn, &o2, &q, NULL, &err) || q.w != r.w || q.h != r.h)
                abort(); /* what we encode decodes back to its size */
            free(jpg);
        }
    } else if (!err.msg[0]) {
        abort();
    }
    tfr_image_free(&im);
    tfr_image_free(&r);
    tfr_image_free(&g);
    tfr_image_free(&q);
    return 0;
}
