/*
 * tools/tfrecord-read.c - stream a shard set through the full training input
 * path (shuffle, parse, decode, augment, batch, prefetch) and report
 * images/s and MB/s: the data-loader benchmark a trainer would see.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tfrecord/manifest.h"
#include "tfrecord/stream.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-read";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s [options] SHARDS...\n"
        "SHARDS: files, directories, globs or a manifest.json written by tfrecord-write.\n"
        "  --batch N            batch size, 1..65536 (default 32)\n"
        "  --epochs N           0 = forever (default 1)\n"
        "  --threads T          decode threads, 0..1024, 0 = the CPUs this process may use\n"
        "                       (default)\n"
        "  --shuffle-buffer N   records, 0..1073741824 (default 1024; 0 or 1 = file order)\n"
        "  --interleave K       files read at once, 1..1024 (default 4)\n"
        "  --seed S             stream seed, 0..2^64-1 (default 0)\n"
        "  --size WxH           output size, W and H 1..65535 (default: the first image's)\n"
        "  --channels 1|3       (default 3)\n"
        "  --format u8|nhwc|nchw   uint8 NHWC or float32 (default u8)\n"
        "  --flip               random horizontal flip\n"
        "  --pad-crop P         pad by P pixels, random crop back; 0..1024\n"
        "  --random-resized-crop MIN   area fraction in [MIN, 1], aspect 3/4..4/3; 0 < MIN <= 1\n"
        "  --center-crop F      keep the central fraction F, resize (evaluation); 0 < F <= 1\n"
        "  --rank R --world N   this process's share of the data (N 1..65536, R 0..N-1)\n"
        "  --skip-corrupt       skip and count bad records and images\n"
        "  --max-batches N      stop after N batches (N >= 1)\n"
        "  --json               machine-readable result\n"
        "  -q, --quiet          no progress bar\n"
        "  -h, --help  --version\n",
        prog);
}

int main(int argc, char **argv)
{
    tfr_stream_opts o;
    tfr_stream_opts_init(&o);
    cli_init(prog);
    tfr_log_set_prog(prog);
    int json = 0, quiet = 0;
    long max_batches = -1;
    enum { O_BATCH = 256, O_EPOCHS, O_THREADS, O_SHUF, O_INTER, O_SEED, O_SIZE, O_CH, O_FMT,
           O_FLIP, O_PAD, O_RRC, O_CC, O_RANK, O_WORLD, O_SKIP, O_MAXB, O_JSON };
    static const struct option lo[] = {
        {"batch", required_argument, 0, O_BATCH}, {"epochs", required_argument, 0, O_EPOCHS},
        {"threads", required_argument, 0, O_THREADS},
        {"shuffle-buffer", required_argument, 0, O_SHUF},
        {"interleave", required_argument, 0, O_INTER}, {"seed", required_argument, 0, O_SEED},
        {"size", required_argument, 0, O_SIZE}, {"channels", required_argument, 0, O_CH},
        {"format", required_argument, 0, O_FMT}, {"flip", no_argument, 0, O_FLIP},
        {"pad-crop", required_argument, 0, O_PAD},
        {"random-resized-crop", required_argument, 0, O_RRC},
        {"center-crop", required_argument, 0, O_CC}, {"rank", required_argument, 0, O_RANK},
        {"world", required_argument, 0, O_WORLD}, {"skip-corrupt", no_argument, 0, O_SKIP},
        {"max-batches", required_argument, 0, O_MAXB}, {"json", no_argument, 0, O_JSON},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, CLI_VERSION_OPTION, {0, 0, 0, 0}};
    static const char *const formats[] = {"u8", "nhwc", "nchw"};
    static const tfr_batch_format format_vals[] = {TFR_BATCH_U8_NHWC, TFR_BATCH_F32_NHWC,
                                                   TFR_BATCH_F32_NCHW};
    static const int channels[] = {1, 3};
    int c, wh[2];
    while ((c = cli_getopt(argc, argv, "qh", lo, usage)) != -1) {
        switch (c) {
        case O_BATCH: o.batch_size = cli_int("--batch", optarg, 1, 65536); break;
        case O_EPOCHS: o.epochs = cli_int("--epochs", optarg, 0, INT_MAX); break;
        case O_THREADS: o.threads = cli_int("--threads", optarg, 0, 1024); break;
        case O_SHUF:
            o.shuffle_buffer = (size_t)cli_u64("--shuffle-buffer", optarg, 0, 1u << 30);
            break;
        case O_INTER: o.interleave = cli_int("--interleave", optarg, 1, 1024); break;
        case O_SEED: o.seed = cli_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_SIZE:
            cli_dims("--size", optarg, "WxH", wh, 1, 65535);
            o.width = wh[0], o.height = wh[1];
            break;
        case O_CH: o.channels = cli_int_choice("--channels", optarg, channels, 2); break;
        case O_FMT: o.format = format_vals[cli_enum("--format", optarg, formats, 3)]; break;
        case O_FLIP: o.random_flip = 1; break;
        case O_PAD: o.pad_crop = cli_int("--pad-crop", optarg, 0, 1024); break;
        case O_RRC:
            o.rrc_min_scale = cli_float("--random-resized-crop", optarg, 0, 1, CLI_GT_LO);
            break;
        case O_CC: o.center_crop = cli_float("--center-crop", optarg, 0, 1, CLI_GT_LO); break;
        case O_RANK: o.rank = cli_int("--rank", optarg, 0, 65535); break;
        case O_WORLD: o.world = cli_int("--world", optarg, 1, 65536); break;
        case O_SKIP: o.record.skip_corrupt = 1; break;
        case O_MAXB: max_batches = cli_int("--max-batches", optarg, 1, INT_MAX); break;
        case O_JSON: json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (o.rank >= o.world)
        cli_fail("--rank", "%d is out of range (0..%d, --world %d)", o.rank, o.world - 1, o.world);
    if (optind >= argc)
        cli_usage_fail("needs SHARDS: a file, a folder, a glob or a manifest.json");
    o.sources = (const char *const *)argv + optind;
    o.nsources = argc - optind;
    tfr_error err;
    tfr_error_clear(&err);
    char buf[4400];
    tfr_stream *s;
    double t0 = tfr_now();
    if (!json) {
        /* what the sources hold, split by split, before reading them all */
        char *what = tfr_shardset_describe(o.sources, o.nsources, &err);
        if (!what) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        fputs(what, stdout);
        free(what);
    }
    if (tfr_stream_open(&o, &s, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    uint64_t per_epoch = tfr_stream_epoch_records(s);
    double total = per_epoch && o.epochs ? (double)per_epoch * o.epochs : 0;
    tfr_progress *bar = tfr_progress_new("read", total, "img", !quiet && !json);
    const tfr_batch *b;
    tfr_status st;
    uint64_t images = 0, batches = 0;
    int h = 0, w = 0, ch = 0;
    while ((st = tfr_stream_next(s, &b, &err)) == TFR_OK) {
        images += (uint64_t)b->n;
        h = b->h, w = b->w, ch = b->c;
        if ((++batches & 7) == 0)
            tfr_progress_update(bar, (double)images);
        if (max_batches > 0 && (long)batches >= max_batches)
            break;
    }
    tfr_progress_update(bar, (double)images);
    tfr_progress_finish(bar);
    double secs = tfr_now() - t0;
    tfr_stream_stats stats;
    tfr_stream_get_stats(s, &stats);
    tfr_stream_close(s);
    if (st != TFR_OK && st != TFR_ERR_EOF) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    if (json)
        printf("{\"format\":1,\"images\":%llu,\"batches\":%llu,\"seconds\":%.3f,\"images_per_s\":%.1f,"
               "\"mb_per_s\":%.2f,\"corrupt_skipped\":%llu,\"height\":%d,\"width\":%d,"
               "\"channels\":%d}\n",
               (unsigned long long)images, (unsigned long long)batches, secs, images / secs,
               stats.bytes_read / 1e6 / secs, (unsigned long long)stats.corrupt_skipped, h, w, ch);
    else
        printf("%llu images in %llu batches of %dx%dx%d in %.2f s: %.0f images/s, %.1f MB/s of "
               "records%s\n",
               (unsigned long long)images, (unsigned long long)batches, h, w, ch, secs,
               images / secs, stats.bytes_read / 1e6 / secs,
               stats.corrupt_skipped ? " (some corrupt records skipped)" : "");
    if (stats.corrupt_skipped)
        fprintf(stderr, "%s: %llu corrupt records or images skipped\n", prog,
                (unsigned long long)stats.corrupt_skipped);
    return 0;
}
