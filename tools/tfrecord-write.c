/*
 * tools/tfrecord-write.c - class-per-directory image trees to GZIP TFRecord
 * shards that tf.data.TFRecordDataset(..., compression_type="GZIP") reads.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tfrecord/dataset.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-write";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s [options] DATASET_ROOT OUT_DIR\n"
        "       %s [options] SPLIT=ROOT [SPLIT=ROOT...] OUT_DIR\n"
        "       %s --merge-manifests OUT_DIR\n"
        "Writes ROOT/<class>/<image> (JPEG or PNG, found by content) as tf.train.Example\n"
        "shards OUT_DIR/<split>-00000-of-00008.tfrecord.gz plus labels.txt and manifest.json.\n\n"
        "input\n"
        "  --split train=80,validation=10,test=10   split by a stable hash of each path\n"
        "  --labels-from [SPLIT=]FILE  'FILE CLASS' lines for a flat folder (Tiny ImageNet val)\n"
        "  --label-offset N      first label, 0..1000000 (1 = TF-models ImageNet, 0 = background)\n"
        "  --strict              stop at the first unreadable image (default: skip, report)\n"
        "  --max-pixels N        skip (or, with --strict, stop at) images whose header declares\n"
        "                        more than N pixels, 1..2147483648 (default 178956970, Pillow's\n"
        "                        decompression-bomb limit); checked before decoding\n"
        "per image\n"
        "  --layout jpeg|raw|tensor   jpeg: TF-models keys (default); raw: uint8 pixels;\n"
        "                        tensor: img = float32 TensorProto, label = uint8 TensorProto\n"
        "  --size WxH | N        resize, W and H 1..65535 (area when shrinking, bilinear\n"
        "                        when growing); N means NxN\n"
        "  --resize stretch|crop|pad  how --size keeps the aspect (default stretch)\n"
        "  --channels 1|3        convert every image to grayscale or RGB (default: as\n"
        "                        stored: JPEGs pass through byte for byte unless --size or\n"
        "                        --flip; raw and tensor layouts decode to RGB)\n"
        "  --flip none|random|both    random mirror (by --seed), or store both\n"
        "  --normalize none|rescale|samplewise   tensor layout: x/255, or per-image z-score\n"
        "  --quality Q           JPEG quality when re-encoding, 1..100 (default 95)\n"
        "shards\n"
        "  --shards N | SPLIT=N,...   shards per split, 1..99999 (default: about 150 MB each)\n"
        "  --shard-size SIZE     target shard size for the default, 1..1TiB, e.g. 200MB\n"
        "  --compression gzip|zlib|none   (default gzip)\n"
        "  --level L             deflate level 0..9, -1 = zlib's default (6) (default -1)\n"
        "  --engine E            deflate engine: zlib (default: TensorFlow's bytes), isal\n"
        "                        (ISA-L, levels 0/1-3/4-6/7-9 -> its 0/1/2/3) or auto\n"
        "                        (the fastest built in); every engine writes standard gzip\n"
        "  --index               seekable shards (chunks not primed by the one before) and\n"
        "                        an index of each, OUT_DIR/index/NAME.index: record i of a\n"
        "                        shard without reading those before it\n"
        "  --chunk-size BYTES    parallel deflate chunk, 0..1GiB (default 1MiB); 0 = one deflate\n"
        "                        stream on one thread, byte for byte as TensorFlow writes\n"
        "  --seed S              shuffle and random-flip seed (default 12345)\n"
        "  --threads T           threads for all the work (scan, decode, compression),\n"
        "                        0..1024, 0 = the CPUs this process may use (default);\n"
        "                        output is identical for any T\n"
        "  --force               replace an existing shard set made with other inputs/options\n"
        "  --num-workers K --worker-index I   write only this worker's share of the shards\n"
        "                        (K 1..65536, I 0..K-1)\n"
        "  --merge-manifests     combine the workers' manifests (after all K finished)\n"
        "output\n"
        "  --json                print the report as JSON\n"
        "  -v, --verbose         list every skipped file\n"
        "  -q, --quiet           no progress bar, no warnings\n"
        "  -h, --help, --version\n",
        prog, prog, prog);
}

int main(int argc, char **argv)
{
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    cli_start(prog, argv);
    tfr_log_set_prog(prog);
    int json = 0, verbose = 0, merge = 0;
    int index_given = 0;
    const char *split_arg = NULL, *shards_arg = NULL;
    enum { O_SPLIT = 256, O_LABELS, O_OFFSET, O_STRICT, O_LAYOUT, O_SIZE, O_RESIZE, O_CHANNELS,
           O_FLIP, O_NORM, O_QUALITY, O_SHARDS, O_SHARDSIZE, O_COMP, O_LEVEL, O_CHUNK, O_SEED,
           O_THREADS, O_FORCE, O_WORKERS, O_WINDEX, O_MERGE, O_JSON, O_VERSION, O_MAXPX, O_ENGINE, O_INDEX };
    static const struct option lo[] = {
        {"split", required_argument, 0, O_SPLIT}, {"labels-from", required_argument, 0, O_LABELS},
        {"label-offset", required_argument, 0, O_OFFSET}, {"strict", no_argument, 0, O_STRICT},
        {"max-pixels", required_argument, 0, O_MAXPX},
        {"layout", required_argument, 0, O_LAYOUT}, {"size", required_argument, 0, O_SIZE},
        {"resize", required_argument, 0, O_RESIZE}, {"channels", required_argument, 0, O_CHANNELS},
        {"flip", required_argument, 0, O_FLIP}, {"normalize", required_argument, 0, O_NORM},
        {"quality", required_argument, 0, O_QUALITY}, {"shards", required_argument, 0, O_SHARDS},
        {"shard-size", required_argument, 0, O_SHARDSIZE},
        {"compression", required_argument, 0, O_COMP}, {"level", required_argument, 0, O_LEVEL},
        {"engine", required_argument, 0, O_ENGINE}, {"index", no_argument, 0, O_INDEX},
        {"chunk-size", required_argument, 0, O_CHUNK}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"force", no_argument, 0, O_FORCE},
        {"num-workers", required_argument, 0, O_WORKERS},
        {"worker-index", required_argument, 0, O_WINDEX},
        {"merge-manifests", no_argument, 0, O_MERGE}, {"json", no_argument, 0, O_JSON},
        {"verbose", no_argument, 0, 'v'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, CLI_VERSION_OPTION, {0, 0, 0, 0}};
    /* in enum order: tfr_layout, tfr_resize_mode, tfr_flip, tfr_normalize */
    static const char *const layouts[] = {"jpeg", "raw", "tensor"};
    static const char *const resizes[] = {"stretch", "crop", "pad"};
    static const char *const flips[] = {"none", "random", "both"};
    static const char *const norms[] = {"none", "rescale", "samplewise"};
    static const char *const comps[] = {"gzip", "zlib", "none"};
    static const tfr_compression comp_vals[] = {TFR_COMPRESS_GZIP, TFR_COMPRESS_ZLIB,
                                                TFR_COMPRESS_NONE};
    static const int channels[] = {1, 3};
    int c;
    while ((c = cli_getopt(argc, argv, "vqh", lo, usage)) != -1) {
        switch (c) {
        case O_SPLIT: split_arg = optarg; break;
        case O_LABELS: o.labels_from = optarg; break;
        case O_OFFSET: o.label_offset = cli_int("--label-offset", optarg, 0, 1000000); break;
        case O_STRICT: o.strict = 1; break;
        case O_MAXPX: o.max_pixels = cli_u64("--max-pixels", optarg, 1, 1ull << 31); break;
        case O_LAYOUT: o.layout = (tfr_layout)cli_enum("--layout", optarg, layouts, 3); break;
        case O_SIZE:
            if (strpbrk(optarg, "xX")) {
                int wh[2];
                cli_dims("--size", optarg, "WxH", wh, 1, 65535);
                o.width = wh[0], o.height = wh[1];
            } else {
                o.width = o.height = cli_int("--size", optarg, 1, 65535);
            }
            break;
        case O_RESIZE: o.resize = (tfr_resize_mode)cli_enum("--resize", optarg, resizes, 3); break;
        case O_CHANNELS: o.channels = cli_int_choice("--channels", optarg, channels, 2); break;
        case O_FLIP: o.flip = (tfr_flip)cli_enum("--flip", optarg, flips, 3); break;
        case O_NORM: o.normalize = (tfr_normalize)cli_enum("--normalize", optarg, norms, 3); break;
        case O_QUALITY: o.quality = cli_int("--quality", optarg, 1, 100); break;
        case O_SHARDS: shards_arg = optarg; break;
        case O_SHARDSIZE: o.shard_bytes = cli_bytes("--shard-size", optarg, 1, 1ull << 40); break;
        case O_COMP:
            o.record.compression = comp_vals[cli_enum("--compression", optarg, comps, 3)];
            break;
        case O_LEVEL: o.record.level = cli_int("--level", optarg, -1, 9); break;
        case O_INDEX: o.index = 1; break;
        case O_ENGINE: {
            static const char *const engines[] = {"zlib", "isal", "auto"};
            o.record.engine = engines[cli_enum("--engine", optarg, engines, 3)];
            break;
        }
        case O_CHUNK:
            o.record.chunk_bytes = (size_t)cli_bytes("--chunk-size", optarg, 0, 1ull << 30);
            break;
        case O_SEED: o.seed = cli_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_THREADS: o.threads = cli_int("--threads", optarg, 0, 1024); break;
        case O_FORCE: o.force = 1; break;
        case O_WORKERS: o.num_workers = cli_int("--num-workers", optarg, 1, 65536); break;
        case O_WINDEX:
            o.worker_index = cli_int("--worker-index", optarg, 0, 65535);
            index_given = 1;
            break;
        case O_MERGE: merge = 1; break;
        case O_JSON: json = 1; break;
        case 'v': verbose = 1; tfr_log_set_level(TFR_LOG_INFO); break;
        case 'q': o.progress = 0; tfr_log_set_level(TFR_LOG_QUIET); break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (o.num_workers > 1 && !index_given && !merge) {
        /* a Slurm array, a Kubernetes Indexed Job or mpirun says which worker this is */
        char from[64];
        tfr_error e;
        if (tfr_worker_index_from_env(o.num_workers, &o.worker_index, from, sizeof from, &e))
            cli_fail("--worker-index", "%s", e.msg);
        if (!json && o.progress)
            fprintf(stderr, "%s: worker %d of %d (from %s)\n", prog, o.worker_index,
                    o.num_workers, from);
    }
    if (o.worker_index >= o.num_workers)
        cli_fail("--worker-index", "%d is out of range (0..%d, --num-workers %d)", o.worker_index,
                 o.num_workers - 1, o.num_workers);
    tfr_error err;
    tfr_error_clear(&err);
    char buf[4400];
    if (merge) {
        if (argc - optind != 1)
            cli_usage_fail("--merge-manifests takes one folder: the OUT_DIR the workers shared");
        if (tfr_manifest_merge(argv[optind], &err)) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        printf("%s/manifest.json written\n", argv[optind]);
        return 0;
    }
    o.threads = cli_threads(o.threads);
    if (argc - optind < 2)
        cli_usage_fail(argc - optind ? "needs OUT_DIR after %s" : "needs DATASET_ROOT and OUT_DIR%s",
                       argc - optind ? argv[optind] : "");
    if (split_arg && tfr_parse_splits(split_arg, o.splits, &o.nsplits, &err))
        cli_fail(NULL, "%s", err.msg);
    if (shards_arg && !strchr(shards_arg, '=')) {
        o.shards = cli_int("--shards", shards_arg, 1, 99999);
    } else if (shards_arg) {
        /* SPLIT=N,... : per-split counts, adding splits not named by --split */
        for (const char *t = shards_arg; *t;) {
            size_t len = strcspn(t, ","), nlen = strcspn(t, "=");
            char name[32], num[64];
            if (nlen >= len || nlen == 0 || nlen >= sizeof name || len - nlen > sizeof num)
                cli_fail("--shards", "'%s' is not N or SPLIT=N,...", shards_arg);
            snprintf(name, sizeof name, "%.*s", (int)nlen, t);
            snprintf(num, sizeof num, "%.*s", (int)(len - nlen - 1), t + nlen + 1);
            int n = cli_int("--shards", num, 1, 99999);
            int found = 0;
            for (int i = 0; i < o.nsplits; i++)
                if (!strcmp(o.splits[i].name, name))
                    o.splits[i].shards = n, found = 1;
            if (!found && o.nsplits < TFR_MAX_SPLITS) {
                /* a split of a SPLIT=ROOT argument: percent 0 keeps hashing out of it */
                snprintf(o.splits[o.nsplits].name, 32, "%s", name);
                o.splits[o.nsplits].percent = 0;
                o.splits[o.nsplits++].shards = n;
            }
            t += len + (t[len] == ',');
        }
    }
    o.roots = (const char *const *)argv + optind;
    o.nroots = argc - optind - 1;
    o.out_dir = argv[argc - 1];
    tfr_write_report *r = NULL;
    if (tfr_write_dataset(&o, &r, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    if (json)
        tfr_write_report_print_json(r, stdout);
    else
        tfr_write_report_print_text(r, o.out_dir, verbose, stdout);
    tfr_write_report_free(r);
    return 0;
}
