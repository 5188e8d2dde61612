/*
 * tools/tfrecord-write.c - class-per-directory image trees to GZIP TFRecord
 * shards that tf.data.TFRecordDataset(..., compression_type="GZIP") reads.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tfrecord/dataset.h"
#include "tfrecord/util.h"

static const char *prog = "tfrecord-write";

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
        "  --label-offset N      first label (1 = TF-models ImageNet, 0 = background)\n"
        "  --strict              stop at the first unreadable image (default: skip, report)\n"
        "per image\n"
        "  --layout jpeg|raw|tensor   jpeg: TF-models keys (default); raw: uint8 pixels;\n"
        "                        tensor: img = float32 TensorProto, label = uint8 TensorProto\n"
        "  --size WxH            resize (area when shrinking, bilinear when growing)\n"
        "  --resize stretch|crop|pad  how --size keeps the aspect (default stretch)\n"
        "  --channels 3|1        RGB (default) or grayscale\n"
        "  --flip none|random|both    random mirror (by --seed), or store both\n"
        "  --normalize none|rescale|samplewise   tensor layout: x/255, or per-image z-score\n"
        "  --quality Q           JPEG quality when re-encoding (default 95)\n"
        "shards\n"
        "  --shards N | SPLIT=N,...   shards per split (default: about 150 MB each)\n"
        "  --shard-size SIZE     target shard size for the default, e.g. 200MB\n"
        "  --compression gzip|zlib|none   (default gzip)\n"
        "  --level L             deflate level 0..9 (default 6)\n"
        "  --chunk-size BYTES    parallel deflate chunk (default 1MiB); 0 = one deflate\n"
        "                        stream on one thread, byte for byte as TensorFlow writes\n"
        "  --seed S              shuffle and random-flip seed (default 12345)\n"
        "  --threads T           default: all cores; output is identical for any T\n"
        "  --force               replace an existing shard set made with other inputs/options\n"
        "  --num-workers K --worker-index I   write only this worker's share of the shards\n"
        "  --merge-manifests     combine the workers' manifests (after all K finished)\n"
        "output\n"
        "  --json                print the report as JSON\n"
        "  -v, --verbose         list every skipped file\n"
        "  -q, --quiet           no progress bar, no warnings\n"
        "  -h, --help, --version\n",
        prog, prog, prog);
}

static int bad(const char *what, const char *val)
{
    fprintf(stderr, "%s: error: bad %s '%s' (see --help)\n", prog, what, val);
    return 2;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return -1;
    double mul = 1;
    if (!strcasecmp(end, "k") || !strcasecmp(end, "kb")) mul = 1e3;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb")) mul = 1e6;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb")) mul = 1e9;
    else if (!strcasecmp(end, "kib")) mul = 1024;
    else if (!strcasecmp(end, "mib")) mul = 1048576;
    else if (!strcasecmp(end, "gib")) mul = 1073741824;
    else if (*end && strcasecmp(end, "b")) return -1;
    *out = (uint64_t)(v * mul);
    return 0;
}

static int pick(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(v, names[i]))
            return i;
    return -1;
}

int main(int argc, char **argv)
{
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    tfr_log_set_prog(prog);
    int json = 0, verbose = 0, merge = 0;
    const char *split_arg = NULL, *shards_arg = NULL;
    enum { O_SPLIT = 256, O_LABELS, O_OFFSET, O_STRICT, O_LAYOUT, O_SIZE, O_RESIZE, O_CHANNELS,
           O_FLIP, O_NORM, O_QUALITY, O_SHARDS, O_SHARDSIZE, O_COMP, O_LEVEL, O_CHUNK, O_SEED,
           O_THREADS, O_FORCE, O_WORKERS, O_WINDEX, O_MERGE, O_JSON, O_VERSION };
    static const struct option lo[] = {
        {"split", required_argument, 0, O_SPLIT}, {"labels-from", required_argument, 0, O_LABELS},
        {"label-offset", required_argument, 0, O_OFFSET}, {"strict", no_argument, 0, O_STRICT},
        {"layout", required_argument, 0, O_LAYOUT}, {"size", required_argument, 0, O_SIZE},
        {"resize", required_argument, 0, O_RESIZE}, {"channels", required_argument, 0, O_CHANNELS},
        {"flip", required_argument, 0, O_FLIP}, {"normalize", required_argument, 0, O_NORM},
        {"quality", required_argument, 0, O_QUALITY}, {"shards", required_argument, 0, O_SHARDS},
        {"shard-size", required_argument, 0, O_SHARDSIZE},
        {"compression", required_argument, 0, O_COMP}, {"level", required_argument, 0, O_LEVEL},
        {"chunk-size", required_argument, 0, O_CHUNK}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"force", no_argument, 0, O_FORCE},
        {"num-workers", required_argument, 0, O_WORKERS},
        {"worker-index", required_argument, 0, O_WINDEX},
        {"merge-manifests", no_argument, 0, O_MERGE}, {"json", no_argument, 0, O_JSON},
        {"verbose", no_argument, 0, 'v'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    static const char *layouts[] = {"jpeg", "raw", "tensor"};
    static const char *resizes[] = {"stretch", "crop", "pad"};
    static const char *flips[] = {"none", "random", "both"};
    static const char *norms[] = {"none", "rescale", "samplewise"};
    int c, k;
    char *end;
    while ((c = getopt_long(argc, argv, "vqh", lo, NULL)) != -1) {
        switch (c) {
        case O_SPLIT: split_arg = optarg; break;
        case O_LABELS: o.labels_from = optarg; break;
        case O_OFFSET:
            o.label_offset = (int)strtol(optarg, &end, 10);
            if (*end || o.label_offset < 0) return bad("--label-offset", optarg);
            break;
        case O_STRICT: o.strict = 1; break;
        case O_LAYOUT:
            if ((k = pick(optarg, layouts, 3)) < 0) return bad("--layout", optarg);
            o.layout = (tfr_layout)k;
            break;
        case O_SIZE: {
            int w, h;
            char x;
            if (sscanf(optarg, "%d%c%d", &w, &x, &h) == 3 && (x == 'x' || x == 'X'))
                o.width = w, o.height = h;
            else if (sscanf(optarg, "%d%c", &w, &x) == 1)
                o.width = o.height = w;
            else
                return bad("--size (want WxH)", optarg);
            if (o.width <= 0 || o.height <= 0) return bad("--size", optarg);
            break;
        }
        case O_RESIZE:
            if ((k = pick(optarg, resizes, 3)) < 0) return bad("--resize", optarg);
            o.resize = (tfr_resize_mode)k;
            break;
        case O_CHANNELS:
            o.channels = (int)strtol(optarg, &end, 10);
            if (*end || (o.channels != 1 && o.channels != 3)) return bad("--channels", optarg);
            break;
        case O_FLIP:
            if ((k = pick(optarg, flips, 3)) < 0) return bad("--flip", optarg);
            o.flip = (tfr_flip)k;
            break;
        case O_NORM:
            if ((k = pick(optarg, norms, 3)) < 0) return bad("--normalize", optarg);
            o.normalize = (tfr_normalize)k;
            break;
        case O_QUALITY:
            o.quality = (int)strtol(optarg, &end, 10);
            if (*end || o.quality < 1 || o.quality > 100) return bad("--quality", optarg);
            break;
        case O_SHARDS: shards_arg = optarg; break;
        case O_SHARDSIZE:
            if (parse_size(optarg, &o.shard_bytes)) return bad("--shard-size", optarg);
            break;
        case O_COMP:
            if (tfr_compression_parse(optarg, &o.compression) || o.compression == TFR_COMPRESS_AUTO)
                return bad("--compression", optarg);
            break;
        case O_LEVEL:
            o.level = (int)strtol(optarg, &end, 10);
            if (*end || o.level < 0 || o.level > 9) return bad("--level", optarg);
            break;
        case O_CHUNK: {
            uint64_t v = 0;
            if (strcmp(optarg, "0") && parse_size(optarg, &v)) return bad("--chunk-size", optarg);
            o.chunk_bytes = (size_t)v;
            break;
        }
        case O_SEED:
            o.seed = strtoull(optarg, &end, 10);
            if (*end) return bad("--seed", optarg);
            break;
        case O_THREADS:
            o.threads = (int)strtol(optarg, &end, 10);
            if (*end || o.threads < 1) return bad("--threads", optarg);
            break;
        case O_FORCE: o.force = 1; break;
        case O_WORKERS:
            o.num_workers = (int)strtol(optarg, &end, 10);
            if (*end || o.num_workers < 1) return bad("--num-workers", optarg);
            break;
        case O_WINDEX:
            o.worker_index = (int)strtol(optarg, &end, 10);
            if (*end || o.worker_index < 0) return bad("--worker-index", optarg);
            break;
        case O_MERGE: merge = 1; break;
        case O_JSON: json = 1; break;
        case 'v': verbose = 1; tfr_log_set_level(TFR_LOG_INFO); break;
        case 'q': o.progress = 0; tfr_log_set_level(TFR_LOG_QUIET); break;
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("%s %s\n", prog, TFR_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    tfr_error err;
    tfr_error_clear(&err);
    char buf[4400];
    if (merge) {
        if (argc - optind != 1) {
            usage(stderr);
            return 2;
        }
        if (tfr_manifest_merge(argv[optind], &err)) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        printf("%s/manifest.json written\n", argv[optind]);
        return 0;
    }
    if (argc - optind < 2) {
        usage(stderr);
        return 2;
    }
    if (split_arg && tfr_parse_splits(split_arg, o.splits, &o.nsplits, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, err.msg);
        return 2;
    }
    if (shards_arg) {
        if (strchr(shards_arg, '=')) {
            /* SPLIT=N,... : per-split counts, adding splits not named by --split */
            char *dup = strdup(shards_arg), *save = NULL;
            for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(t, '=');
                int n = eq ? (int)strtol(eq + 1, &end, 10) : 0;
                if (!eq || *end || n < 1 || eq - t >= 32) {
                    free(dup);
                    return bad("--shards", shards_arg);
                }
                *eq = 0;
                int found = 0;
                for (int i = 0; i < o.nsplits; i++)
                    if (!strcmp(o.splits[i].name, t))
                        o.splits[i].shards = n, found = 1;
                if (!found && o.nsplits < TFR_MAX_SPLITS) {
                    /* a split of a SPLIT=ROOT argument: percent 0 keeps hashing out of it */
                    snprintf(o.splits[o.nsplits].name, 32, "%s", t);
                    o.splits[o.nsplits].percent = 0;
                    o.splits[o.nsplits++].shards = n;
                }
            }
            free(dup);
        } else {
            o.shards = (int)strtol(shards_arg, &end, 10);
            if (*end || o.shards < 1) return bad("--shards", shards_arg);
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
