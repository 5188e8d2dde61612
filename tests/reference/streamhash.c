/*
 * tests/reference/streamhash.c - prints one line per batch of a stream:
 * epoch, index, shape, and FNV-1a digests of its pixels and labels, so that
 * two builds (or two thread counts) can be compared batch by batch.
 *
 * usage: tfr-streamhash [--format u8|nhwc|nchw] [--size WxH] [--channels C]
 *        [--flip] [--pad-crop P] [--rrc MIN] [--center-crop F] [--threads T]
 *        [--seed S] [--batch N] [--shuffle-buffer N] [--epochs N] SHARDS...
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/stream.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int main(int argc, char **argv)
{
    tfr_stream_opts o;
    tfr_stream_opts_init(&o);
    o.threads = 2;
    static const struct option lo[] = {
        {"format", 1, 0, 'f'}, {"size", 1, 0, 's'}, {"channels", 1, 0, 'c'},
        {"flip", 0, 0, 'F'},   {"pad-crop", 1, 0, 'p'}, {"rrc", 1, 0, 'r'},
        {"center-crop", 1, 0, 'C'}, {"threads", 1, 0, 't'}, {"seed", 1, 0, 'S'},
        {"batch", 1, 0, 'b'},  {"shuffle-buffer", 1, 0, 'B'}, {"epochs", 1, 0, 'e'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'f':
            o.format = !strcmp(optarg, "u8") ? TFR_BATCH_U8_NHWC
                     : !strcmp(optarg, "nhwc") ? TFR_BATCH_F32_NHWC : TFR_BATCH_F32_NCHW;
            break;
        case 's': sscanf(optarg, "%dx%d", &o.width, &o.height); break;
        case 'c': o.channels = atoi(optarg); break;
        case 'F': o.random_flip = 1; break;
        case 'p': o.pad_crop = atoi(optarg); break;
        case 'r': o.rrc_min_scale = (float)atof(optarg); break;
        case 'C': o.center_crop = (float)atof(optarg); break;
        case 't': o.threads = atoi(optarg); break;
        case 'S': o.seed = strtoull(optarg, NULL, 10); break;
        case 'b': o.batch_size = atoi(optarg); break;
        case 'B': o.shuffle_buffer = strtoull(optarg, NULL, 10); break;
        case 'e': o.epochs = atoi(optarg); break;
        default: return 2;
        }
    }
    o.sources = (const char *const *)argv + optind;
    o.nsources = argc - optind;
    tfr_error err = {0};
    tfr_stream *s = NULL;
    char buf[4400];
    if (tfr_stream_open(&o, &s, &err)) {
        printf("open: %s\n", tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    const tfr_batch *b;
    tfr_status st;
    while ((st = tfr_stream_next(s, &b, &err)) == TFR_OK) {
        size_t px = (size_t)b->n * b->h * b->w * b->c *
                    (b->format == TFR_BATCH_U8_NHWC ? 1 : sizeof(float));
        printf("epoch %llu batch %llu n %d %dx%dx%d data %016llx labels %016llx\n",
               (unsigned long long)b->epoch, (unsigned long long)b->index, b->n, b->h, b->w, b->c,
               (unsigned long long)fnv(0xcbf29ce484222325ull, b->data, px),
               (unsigned long long)fnv(0xcbf29ce484222325ull, b->labels,
                                       (size_t)b->n * sizeof *b->labels));
    }
    int rc = 0;
    if (st != TFR_ERR_EOF) {
        printf("next: %s\n", tfr_error_text(&err, buf, sizeof buf));
        rc = 1;
    }
    tfr_stream_stats ss;
    tfr_stream_get_stats(s, &ss);
    printf("records %llu corrupt_skipped %llu batches %llu\n",
           (unsigned long long)ss.records_read, (unsigned long long)ss.corrupt_skipped,
           (unsigned long long)ss.batches);
    tfr_stream_close(s);
    return rc;
}
