/*
 * tests/fuzz/fuzz_stream.c - one shard through the whole stream: record
 * reading, Example parsing, the layout's image and label, decode, augment
 * and batch, with the output size, format and augmentation also chosen by
 * the fuzzer.
 *
 * Bytes 0-3 are the options: width and height (0 = the first image's size;
 * both 0 or both set), channels, batch format, flips, skip_corrupt, pad
 * crop, random resized or center crop, batch size, decode threads and
 * shuffle buffer. Bit 7 of byte 3 makes the rest the shard file itself;
 * otherwise the rest is cut at "TFRZ" and each part framed as one record
 * with valid CRCs, so the fuzzer works on Examples and images.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "tfrecord/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tfr_log_set_level(TFR_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const uint8_t a = data[0], b = data[1], c = data[2], d = data[3];
    data += 4;
    size -= 4;
    fz_buf file = {0};
    if (d & 128) {
        fz_put(&file, data, size);
    } else {
        const uint8_t *part;
        size_t n;
        while (fz_next_part(&data, &size, &part, &n))
            fz_record(&file, part, n);
    }
    const char *path = fz_file(0, "shard.tfrecord", file.p, file.n);
    free(file.p);

    tfr_stream_opts o;
    tfr_stream_opts_init(&o);
    const char *src[1] = {path};
    o.sources = src;
    o.nsources = 1;
    o.epochs = 1;
    o.width = a % 41;   /* 0 .. 40 */
    o.height = o.width ? 1 + b % 40 : 0;
    o.channels = (c & 1) ? 1 : 3;
    o.format = (tfr_batch_format)((c >> 1) % 3);
    o.random_flip = (c >> 3) & 1;
    o.defer_flip = (c >> 4) & 1;
    o.record.skip_corrupt = (c >> 5) & 1;
    switch (c >> 6) {
    case 1: o.pad_crop = 1 + (b >> 6); break;
    case 2: o.rrc_min_scale = 0.08f + (b >> 4) / 16.0f; break;
    case 3: o.center_crop = 0.5f + (b >> 4) / 32.0f; break;
    default: break;
    }
    o.batch_size = 1 + (d & 3);
    o.threads = 1 + ((d >> 2) & 1);
    o.shuffle_buffer = (d >> 3) & 3;
    o.drop_remainder = (d >> 5) & 1;
    o.seed = d;

    tfr_stream *s = NULL;
    tfr_error err;
    if (tfr_stream_open(&o, &s, &err) != TFR_OK) {
        if (s || !err.msg[0])
            abort();
        return 0;
    }
    const tfr_batch *bt;
    tfr_status st;
    uint64_t images = 0;
    while ((st = tfr_stream_next(s, &bt, &err)) == TFR_OK) {
        if (bt->n < 1 || bt->n > o.batch_size || bt->c != o.channels || bt->format != o.format ||
            (o.width && (bt->w != o.width || bt->h != o.height)) ||
            (o.drop_remainder && !o.record.skip_corrupt && bt->n != o.batch_size)) {
            fprintf(stderr, "batch n=%d %dx%dx%d format %d for %dx%dx%d format %d batch %d%s\n",
                    bt->n, bt->w, bt->h, bt->c, (int)bt->format, o.width, o.height, o.channels,
                    (int)o.format, o.batch_size, o.drop_remainder ? " drop_remainder" : "");
            abort();
        }
        size_t elem = o.format == TFR_BATCH_U8_NHWC ? 1 : sizeof(float);
        uint32_t sum = tfr_crc32c(bt->data, (size_t)bt->n * bt->w * bt->h * bt->c * elem);
        sum ^= tfr_crc32c(bt->labels, (size_t)bt->n * sizeof *bt->labels);
        sum ^= tfr_crc32c(bt->flips, (size_t)bt->n);
        (void)sum;
        for (int i = 0; i < bt->n; i++)
            if (bt->flips[i] > 1 || (!o.random_flip && bt->flips[i]))
                abort();
        images += (uint64_t)bt->n;
    }
    if (st != TFR_ERR_EOF && !err.msg[0])
        abort();
    tfr_stream_stats ss;
    tfr_stream_get_stats(s, &ss);
    if (images > ss.records_read)
        abort();
    tfr_stream_close(s);
    return 0;
}
