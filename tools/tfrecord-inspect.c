/*
 * tools/tfrecord-inspect.c - is this shard set sound? Counts, schema, labels,
 * image formats and sizes, and every defect, in one pass.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tfrecord/inspect.h"
#include "tfrecord/manifest.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-inspect";

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
            "  --label-key KEY     int64 key for the histogram (default: auto)\n"
            "  --compression C     auto|none|zlib|gzip (default auto: from magic bytes)\n"
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
    enum { OPT_VERIFY = 256, OPT_MAXERR, OPT_SHOW, OPT_JSON, OPT_LABEL, OPT_COMP, OPT_VERSION };
    static const struct option lo[] = {
        {"verify", no_argument, 0, OPT_VERIFY},
        {"max-errors", required_argument, 0, OPT_MAXERR},
        {"show", required_argument, 0, OPT_SHOW},
        {"json", no_argument, 0, OPT_JSON},
        {"label-key", required_argument, 0, OPT_LABEL},
        {"compression", required_argument, 0, OPT_COMP},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0}};
    static const char *const comps[] = {"auto", "none", "zlib", "gzip"};
    static const tfr_compression comp_vals[] = {TFR_COMPRESS_AUTO, TFR_COMPRESS_NONE,
                                                TFR_COMPRESS_ZLIB, TFR_COMPRESS_GZIP};
    int c;
    while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
        switch (c) {
        case OPT_VERIFY: verify = 1; break;
        case OPT_MAXERR: o.max_errors = cli_int("--max-errors", optarg, 0, INT_MAX); break;
        case OPT_SHOW: o.show = cli_int("--show", optarg, 0, INT_MAX); break;
        case OPT_JSON: json = 1; break;
        case OPT_LABEL: o.label_key = optarg; break;
        case OPT_COMP:
            o.compression = comp_vals[cli_enum("--compression", optarg, comps, 4)];
            break;
        case 'q': o.progress = 0; break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("%s %s\n", prog, TFR_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
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
    tfr_inspect_report *r = NULL;
    if (tfr_inspect((const char *const *)files, nfiles, &o, &r, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        tfr_paths_free(files, nfiles);
        return 1;
    }
    if (json) {
        tfr_inspect_print_json(r, stdout);
    } else {
        /* a shard set's splits, when a source holds several (an unfinished
         * or damaged set has no such line: the report below says why) */
        tfr_error e2;
        char *what = tfr_shardset_describe((const char *const *)argv + optind, argc - optind, &e2);
        if (what && strstr(what, "(every split;"))
            fputs(what, stdout);
        free(what);
        tfr_inspect_print_text(r, stdout);
    }
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
