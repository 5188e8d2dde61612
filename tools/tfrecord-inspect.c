/*
 * tools/tfrecord-inspect.c - is this shard set sound? Counts, schema, labels,
 * image formats and sizes, and every defect, in one pass.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tfrecord/inspect.h"
#include "tfrecord/manifest.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-inspect";

static tfr_status on_example(void *user, const char *file, uint64_t record, const tfr_example *ex,
                             tfr_error *err)
{
    return tfr_pictures_add(user, file, record, ex, err);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options] PATH...\n"
            "PATH is a TFRecord file, a directory of shards or a glob ('shards/train-*').\n"
            "Reads every record: verifies both CRCs, parses each tf.train.Example,\n"
            "and prints counts, sizes, compression, the schema, a label histogram,\n"
            "image formats and sizes (from headers), and every defect found.\n\n"
            "  --verify            exit 1 when any defect is found (CI mode)\n"
            "  --max-errors N      defects to list, N >= 0 (default 20, 0 = all)\n"
            "  --show N            print the first N Examples, N >= 0\n"
            "  --json              one JSON object on stdout instead of text\n"
            "  --index DIR         write an index of every sound file (uncompressed, or one\n"
            "                      gzip/zlib member) to DIR/NAME.index: its record count\n"
            "                      and each record's offset, for reading record i directly\n"
            "  --spec              print a tf.data reader for these files instead: the\n"
            "                      tf.io.parse_single_example feature description, the\n"
            "                      decode_jpeg / tf.io.parse_tensor lines, TFRecordDataset\n"
            "  --label-key KEY     int64 key for the histogram (default: auto)\n"
            "  --compression C     auto|none|zlib|gzip (default auto: from magic bytes)\n"
            "pictures (every run also prints the image sizes and pixel statistics)\n"
            "  --contact-sheet FILE.png  a PNG with a row per class: its label, name, count and\n"
            "                      --per-class N images drawn uniformly from the whole set\n"
            "  --per-class N       images per class on the sheet, 1..64 (default 8)\n"
            "  --cell N            pixels per image on the sheet, 8..512 (default 64)\n"
            "  --dump DIR N        the first N images as PNG files FILESTEM-rRECORD-labelL.png\n"
            "  --sample N          images decoded for the pixel mean/std, drawn uniformly,\n"
            "                      0..67108864 (default 200; 0 = no statistics)\n"
            "  --decode-all        exact pixel statistics over every image\n"
            "  --seed S            the sampling seed (default 0)\n"
            "  -q, --quiet         no progress bar\n"
            "  -h, --help          this text\n"
            "  --version           print the version\n",
            prog);
}

int main(int argc, char **argv)
{
    tfr_inspect_opts o;
    tfr_inspect_opts_init(&o);
    o.progress = 1;
    int verify = 0, json = 0;
    cli_init(prog);
    tfr_log_set_prog(prog);
    enum { OPT_VERIFY = 256, OPT_MAXERR, OPT_SHOW, OPT_JSON, OPT_LABEL, OPT_COMP, OPT_VERSION,
           OPT_SHEET, OPT_PERCLASS, OPT_CELL, OPT_DUMP, OPT_SAMPLE, OPT_ALL, OPT_SEED, OPT_SPEC, OPT_INDEX };
    int spec = 0;
    tfr_pictures_opts po;
    tfr_pictures_opts_init(&po);
    po.sample = 200;
    static const struct option lo[] = {
        {"verify", no_argument, 0, OPT_VERIFY},
        {"max-errors", required_argument, 0, OPT_MAXERR},
        {"show", required_argument, 0, OPT_SHOW},
        {"json", no_argument, 0, OPT_JSON},
        {"label-key", required_argument, 0, OPT_LABEL},
        {"compression", required_argument, 0, OPT_COMP},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, CLI_VERSION_OPTION,
        {"contact-sheet", required_argument, 0, OPT_SHEET},
        {"per-class", required_argument, 0, OPT_PERCLASS},
        {"cell", required_argument, 0, OPT_CELL},
        {"dump", required_argument, 0, OPT_DUMP},
        {"sample", required_argument, 0, OPT_SAMPLE},
        {"decode-all", no_argument, 0, OPT_ALL},
        {"seed", required_argument, 0, OPT_SEED},
        {"spec", no_argument, 0, OPT_SPEC},
        {"index", required_argument, 0, OPT_INDEX},
        {0, 0, 0, 0}};
    static const char *const comps[] = {"auto", "none", "zlib", "gzip"};
    static const tfr_compression comp_vals[] = {TFR_COMPRESS_AUTO, TFR_COMPRESS_NONE,
                                                TFR_COMPRESS_ZLIB, TFR_COMPRESS_GZIP};
    int c;
    while ((c = cli_getopt(argc, argv, "qh", lo, usage)) != -1) {
        switch (c) {
        case OPT_VERIFY: verify = 1; break;
        case OPT_MAXERR: o.max_errors = cli_int("--max-errors", optarg, 0, INT_MAX); break;
        case OPT_SHOW: o.show = cli_int("--show", optarg, 0, INT_MAX); break;
        case OPT_JSON: json = 1; break;
        case OPT_LABEL: o.label_key = optarg; break;
        case OPT_COMP:
            o.compression = comp_vals[cli_enum("--compression", optarg, comps, 4)];
            break;
        case OPT_SHEET: po.sheet_path = optarg; break;
        case OPT_PERCLASS: po.per_class = cli_int("--per-class", optarg, 1, 64); break;
        case OPT_CELL: po.cell = cli_int("--cell", optarg, 8, 512); break;
        case OPT_DUMP:
            po.dump_dir = optarg;
            if (optind >= argc)
                cli_fail("--dump", "needs a folder and a count: --dump DIR N");
            po.dump = cli_int("--dump", argv[optind++], 1, 1000000);
            break;
        case OPT_SAMPLE: po.sample = cli_u64("--sample", optarg, 0, (uint64_t)1 << 26); break;
        case OPT_ALL: po.decode_all = 1; break;
        case OPT_SPEC: spec = 1; po.sample = 0; break;
        case OPT_INDEX: o.index_dir = optarg; break;
        case OPT_SEED: po.seed = cli_u64("--seed", optarg, 0, UINT64_MAX); break;
        case 'q': o.progress = 0; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (optind >= argc)
        cli_usage_fail("needs a PATH: a TFRecord file, a folder of shards or a glob");
    tfr_error err;
    tfr_error_clear(&err);
    char **files = NULL;
    size_t nfiles = 0;
    char buf[4400];
    /* as the readers see the sources (SOURCE:SPLIT, manifests); a set they
     * refuse (unfinished, damaged manifest) is still inspected file by file */
    const char *const *args = (const char *const *)argv + optind;
    tfr_shard_source *ss = NULL;
    size_t nss = 0;
    if (tfr_shardset_expand(args, argc - optind, &ss, &nss, &err) == TFR_OK) {
        files = calloc(nss ? nss : 1, sizeof *files);
        if (!files) {
            fprintf(stderr, "%s: error: out of memory\n", prog);
            return 1;
        }
        for (size_t i = 0; i < nss; i++) {
            files[i] = ss[i].path;
            ss[i].path = NULL;
        }
        nfiles = nss;
        tfr_shardset_free(ss, nss);
    } else if (err.code == TFR_ERR_NOMEM ||
               tfr_paths_expand(args, argc - optind, &files, &nfiles, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    o.show_out = json ? stderr : stdout;
    /* row titles from the set's labels.txt (shifted by its label offset) */
    char **names = NULL;
    int nnames = 0;
    if (nfiles) {
        char lp[4400], mp[4400];
        if (!tfr_labels_beside(files[0], lp, sizeof lp) && access(lp, F_OK) == 0)
            tfr_labels_load(lp, 0, &names, &nnames, NULL);
        tfr_manifest *m = NULL;
        if (names && !tfr_labels_beside(files[0], mp, sizeof mp)) {
            char *slash = strrchr(mp, '/');
            snprintf(slash ? slash + 1 : mp, sizeof mp - (size_t)(slash ? slash + 1 - mp : 0), "%s",
                     TFR_MANIFEST_NAME);
            if (access(mp, F_OK) == 0 && tfr_manifest_load(mp, &m, NULL) == TFR_OK) {
                po.label_offset = m->options.label_offset;
                tfr_manifest_free(m);
            }
        }
    }
    po.class_names = (const char *const *)names;
    po.nclass_names = nnames;
    po.image_key = NULL;
    po.label_key = o.label_key;
    if (o.index_dir && tfr_mkdir_p(o.index_dir, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        tfr_paths_free(files, nfiles);
        tfr_labels_free(names, nnames);
        return 1;
    }
    if (po.dump && tfr_mkdir_p(po.dump_dir, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        tfr_paths_free(files, nfiles);
        tfr_labels_free(names, nnames);
        return 1;
    }
    tfr_pictures *pics = NULL;
    tfr_pictures_report pr;
    memset(&pr, 0, sizeof pr);
    if (tfr_pictures_new(&po, &pics, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        tfr_paths_free(files, nfiles);
        tfr_labels_free(names, nnames);
        return 1;
    }
    o.on_example = on_example;
    o.user = pics;
    tfr_inspect_report *r = NULL;
    if (tfr_inspect((const char *const *)files, nfiles, &o, &r, &err) ||
        tfr_pictures_finish(pics, &pr, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        tfr_paths_free(files, nfiles);
        tfr_pictures_free(pics);
        tfr_labels_free(names, nnames);
        return err.code == TFR_ERR_ARG ? 2 : 1;
    }
    tfr_pictures_free(pics);
    tfr_labels_free(names, nnames);
    if (spec) {
        tfr_inspect_print_spec(r, stdout);
    } else if (json) {
        tfr_inspect_print_json_pictures(r, &pr, &po, stdout);
    } else {
        /* a shard set's splits, when a source holds several (an unfinished
         * or damaged set has no such line: the report below says why) */
        tfr_error e2;
        char *what = tfr_shardset_describe((const char *const *)argv + optind, argc - optind, &e2);
        if (what && strstr(what, "(every split;"))
            fputs(what, stdout);
        free(what);
        tfr_inspect_print_text(r, stdout);
        tfr_pictures_print_text(&pr, &po, stdout);
        if (o.index_dir)
            printf("indexed %zu of %zu files into %s/\n", r->indexed, r->nfiles, o.index_dir);
    }
    tfr_pictures_report_clear(&pr);
    /* a file that could not be opened at all is an error in every mode */
    int unreadable = 0;
    for (size_t i = 0; i < r->nfiles; i++)
        if (r->files[i].failed && r->files[i].st.file_bytes == 0 && r->files[i].st.records == 0 &&
            r->files[i].st.compression == TFR_COMPRESS_NONE)
            unreadable = 1;
    int rc = (verify && r->ndefects) ? 1 : 0;
    if (unreadable)
        rc = 1;
    if (r->ndefects && !json)
        fprintf(stderr, "%s: %llu defect%s found\n", prog, (unsigned long long)r->ndefects,
                r->ndefects == 1 ? "" : "s");
    tfr_inspect_report_free(r);
    tfr_paths_free(files, nfiles);
    return rc;
}
