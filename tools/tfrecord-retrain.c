/*
 * tools/tfrecord-retrain.c - freeze a trained network, cache each image's
 * bottleneck once, and train a new last layer for new classes in seconds.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tfrecord/nn.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-retrain";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s --backbone CHECKPOINT --images DIR --cache DIR --out DIR [options]\n"
        "DIR of --images: one folder per class. Bottlenecks (the features before the last\n"
        "layer) are cached in --cache; a second run computes only new or changed images.\n"
        "  --steps N (4000)  --lr F (0.01)  --batch N (100)\n"
        "  --eval-every N (10) print the training and validation accuracy every N steps\n"
        "                      steps >= 1, lr > 0, batch 1..65536, eval-every >= 1\n"
        "  --split validation=10,test=10   percentages by a stable hash of each path (an image\n"
        "                      tree; shards written with train and validation/test splits\n"
        "                      keep them)\n"
        "                      (each >= 0, sum < 100)\n"
        "  --flip  --random-crop P  --random-scale P  --random-brightness P\n"
        "                      distortions (percent, 0..100); they bypass the cache for training\n"
        "  --mean F --std F    input normalization (default: the backbone's, from its\n"
        "                      checkpoint; 0.5, 0.25 for an older one)\n"
        "                      mean 0..1, std > 0\n"
        "  --seed S  --logdir DIR (TensorBoard)  --fold-bn  --round-weights\n"
        "  --print-misclassified  list the test images the new layer gets wrong\n"
        "  --device cpu|onednn|cuda|cuda:N|auto  --precision tf32|fp32|bf16\n"
        "                      where the backbone computes bottlenecks (default cpu)\n"
        "  --threads T         threads for decode and compute, 0..1024, 0 = the CPUs this\n"
        "                      process may use (default)\n"
        "  --json              one JSON object on stdout (values not computed are null)\n"
        "  -q, --quiet         the results only  -h, --help  --version\n", prog);
}

/* ---- the report: tfr_retrain's events as text ------------------------------- */

typedef struct report {
    const tfr_retrain_opts *o; /* quiet: the results only; progress: the bottleneck bar */
    tfr_progress *bar;
    int json;                  /* nothing on stdout but the JSON */
} report;

static void on_retrain_event(void *user, const tfr_retrain_event *ev)
{
    report *r = user;
    const tfr_retrain_opts *o = r->o;
    const tfr_retrain_result *res = ev->res;
    switch (ev->kind) {
    case TFR_RETRAIN_DEVICE:
        if (!o->quiet)
            printf("backbone on %s\n", ev->device);
        break;
    case TFR_RETRAIN_CACHE:
        if (!o->quiet)
            printf("bottlenecks: %llu images in %d classes; %llu cached, %llu to compute%s%s%s\n",
                   (unsigned long long)ev->images, res->classes, (unsigned long long)res->reused,
                   (unsigned long long)res->computed, res->rebuilt ? " (cache rebuilt: " : "",
                   res->rebuilt ? res->rebuild_reason : "", res->rebuilt ? ")" : "");
        if (!o->quiet)
            printf("splits: %llu train, %llu validation, %llu test (%s)\n",
                   (unsigned long long)res->n_train, (unsigned long long)res->n_val,
                   (unsigned long long)res->n_test,
                   res->writer_splits ? "the shards' own splits"
                                      : "by a stable hash of each name: --split");
        break;
    case TFR_RETRAIN_BOTTLENECKS_BEGIN:
        r->bar = tfr_progress_new("bottlenecks", (double)ev->total, "img",
                                  o->progress && !o->quiet);
        break;
    case TFR_RETRAIN_BOTTLENECKS:
        tfr_progress_update(r->bar, (double)ev->done);
        break;
    case TFR_RETRAIN_BOTTLENECKS_END:
        tfr_progress_finish(r->bar);
        r->bar = NULL;
        break;
    case TFR_RETRAIN_DISTORTIONS:
        if (!o->quiet)
            printf("distortions are on: every training batch goes through the backbone (a "
                   "cached bottleneck holds one fixed view of an image), so training is slower\n");
        break;
    case TFR_RETRAIN_EVAL:
        if (!o->quiet && (ev->step % o->eval_every == 0 || ev->step == ev->steps))
            printf("step %d: train accuracy %.1f%%, cross-entropy %.4f, validation "
                   "accuracy %.1f%% (N=%llu)\n", ev->step, 100.0 * ev->batch_right / ev->batch,
                   ev->cross_entropy, 100 * ev->val_accuracy, (unsigned long long)res->n_val);
        break;
    case TFR_RETRAIN_TRAINED:
        if (!r->json) { /* the result: printed with -q too */
            printf("final test accuracy %.1f%% (N=%llu) after %d steps in %.2f s; always the "
                   "majority class: %.1f%%, chance: %.1f%%\n",
                   100 * res->test_accuracy, (unsigned long long)res->n_test, ev->steps,
                   res->seconds_training, 100 * res->majority_accuracy, 100 * res->chance_accuracy);
            if (!(res->test_accuracy > res->majority_accuracy))
                fprintf(stderr, "%s: warning: the test accuracy does not beat always answering "
                        "the training split's most common class: the new layer learned nothing "
                        "useful (more steps, another --lr, more images per class?)\n", prog);
        }
        break;
    case TFR_RETRAIN_MISCLASSIFIED:
        if (!r->json)
            printf("misclassified: %s (%s, predicted %s)\n", ev->path, ev->truth, ev->predicted);
        break;
    case TFR_RETRAIN_FOLDED:
        if (!o->quiet)
            printf("folded %d batch norms into their convolutions: largest logit change %.2g\n",
                   res->folded, res->fold_max_diff);
        break;
    case TFR_RETRAIN_ROUNDED:
        if (!o->quiet)
            printf("rounded weights to 256 levels: parameters gzip %zu -> %zu bytes; "
                   "test accuracy %.1f%% -> %.1f%%\n", res->gzip_bytes, res->gzip_bytes_rounded,
                   100 * res->test_accuracy, 100 * res->rounded_accuracy);
        break;
    case TFR_RETRAIN_WROTE:
        if (!o->quiet)
            printf("wrote %s and %s\n", ev->model_path, ev->labels_path);
        break;
    }
}

int main(int argc, char **argv)
{
    tfr_retrain_opts o;
    tfr_retrain_opts_init(&o);
    cli_start(prog, argv);
    tfr_log_set_prog(prog);
    int json = 0, threads = 0;
    enum { O_BB = 256, O_IMG, O_CACHE, O_OUT, O_STEPS, O_LR, O_BATCH, O_EVERY, O_SPLIT, O_FLIP,
           O_CROP, O_SCALE, O_BRIGHT, O_MEAN, O_STD, O_SEED, O_LOGDIR, O_FOLD, O_ROUND, O_JSON,
           O_DEVICE, O_PREC, O_THREADS, O_MISS };
    static const struct option lo[] = {
        {"backbone", required_argument, 0, O_BB}, {"images", required_argument, 0, O_IMG},
        {"cache", required_argument, 0, O_CACHE}, {"out", required_argument, 0, O_OUT},
        {"steps", required_argument, 0, O_STEPS}, {"lr", required_argument, 0, O_LR},
        {"batch", required_argument, 0, O_BATCH}, {"eval-every", required_argument, 0, O_EVERY},
        {"split", required_argument, 0, O_SPLIT}, {"flip", no_argument, 0, O_FLIP},
        {"random-crop", required_argument, 0, O_CROP},
        {"random-scale", required_argument, 0, O_SCALE},
        {"random-brightness", required_argument, 0, O_BRIGHT},
        {"mean", required_argument, 0, O_MEAN}, {"std", required_argument, 0, O_STD},
        {"seed", required_argument, 0, O_SEED}, {"logdir", required_argument, 0, O_LOGDIR},
        {"fold-bn", no_argument, 0, O_FOLD}, {"round-weights", no_argument, 0, O_ROUND},
        {"json", no_argument, 0, O_JSON}, {"quiet", no_argument, 0, 'q'},
        {"device", required_argument, 0, O_DEVICE}, {"precision", required_argument, 0, O_PREC},
        {"threads", required_argument, 0, O_THREADS},
        {"print-misclassified", no_argument, 0, O_MISS},
        {"help", no_argument, 0, 'h'}, CLI_VERSION_OPTION, {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(argc, argv, "qh", lo, usage)) != -1) {
        switch (c) {
        case O_BB: o.backbone = optarg; break;
        case O_IMG: o.images = optarg; break;
        case O_CACHE: o.cache_dir = optarg; break;
        case O_OUT: o.out_dir = optarg; break;
        case O_STEPS: o.steps = cli_int("--steps", optarg, 1, INT_MAX); break;
        case O_LR: o.lr = cli_float("--lr", optarg, 0, INFINITY, CLI_GT_LO); break;
        case O_BATCH: o.batch = cli_int("--batch", optarg, 1, 65536); break;
        case O_EVERY: o.eval_every = cli_int("--eval-every", optarg, 1, INT_MAX); break;
        case O_SPLIT: {
            static const char *const names[] = {"validation", "test"};
            float vt[2];
            cli_named_floats("--split", optarg, names, 2, vt, 0, 100, CLI_LT_HI);
            if (vt[0] + vt[1] >= 100)
                cli_fail("--split", "'%s': validation + test must be below 100", optarg);
            o.val_percent = vt[0];
            o.test_percent = vt[1];
            break;
        }
        case O_FLIP: o.flip = 1; break;
        case O_CROP: o.random_crop = cli_float("--random-crop", optarg, 0, 100, 0); break;
        case O_SCALE: o.random_scale = cli_float("--random-scale", optarg, 0, 100, 0); break;
        case O_BRIGHT:
            o.random_brightness = cli_float("--random-brightness", optarg, 0, 100, 0);
            break;
        case O_MEAN: o.mean = cli_float("--mean", optarg, 0, 1, 0); break;
        case O_STD: o.std = cli_float("--std", optarg, 0, INFINITY, CLI_GT_LO); break;
        case O_SEED: o.seed = cli_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_LOGDIR: o.logdir = optarg; break;
        case O_FOLD: o.fold_bn = 1; break;
        case O_ROUND: o.round_weights = 1; break;
        case O_JSON: json = 1; o.quiet = 1; break;
        case O_DEVICE:
        case O_PREC: {
            tfr_error e;
            tfr_error_clear(&e);
            if (c == O_DEVICE ? tfr_device_parse(optarg, &o.device, &e)
                              : tfr_precision_parse(optarg, &o.device.precision, &e))
                cli_fail(c == O_DEVICE ? "--device" : "--precision", "%s", e.msg);
            break;
        }
        case O_MISS: o.print_misclassified = 1; break;
        case O_THREADS: threads = cli_int("--threads", optarg, 0, 1024); break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (!o.backbone)
        cli_usage_fail("needs --backbone CHECKPOINT (a tfrecord-train checkpoint)");
    if (!o.images)
        cli_usage_fail("needs --images DIR (a class-per-directory tree or shards)");
    if (optind != argc)
        cli_usage_fail("unexpected argument '%s'", argv[optind]);
    cli_threads(threads);
    o.progress = !o.quiet;
    report rep = {&o, NULL, json};
    o.on_event = on_retrain_event;
    o.user = &rep;
    tfr_retrain_result r;
    tfr_error err;
    tfr_error_clear(&err);
    char buf[4400];
    if (tfr_retrain(&o, &r, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    if (json) {
        /* a value that was not computed is null, never 0 */
        char va[32] = "null", ta[32] = "null", fd[32] = "null", ra[32] = "null", gz[32] = "null",
             gzr[32] = "null";
        if (!isnan(r.val_accuracy))
            snprintf(va, sizeof va, "%.6f", r.val_accuracy);
        if (!isnan(r.test_accuracy))
            snprintf(ta, sizeof ta, "%.6f", r.test_accuracy);
        char mj[32] = "null";
        if (!isnan(r.majority_accuracy))
            snprintf(mj, sizeof mj, "%.6f", r.majority_accuracy);
        if (o.fold_bn)
            snprintf(fd, sizeof fd, "%.3g", r.fold_max_diff);
        if (o.round_weights) {
            if (!isnan(r.rounded_accuracy))
                snprintf(ra, sizeof ra, "%.6f", r.rounded_accuracy);
            snprintf(gz, sizeof gz, "%zu", r.gzip_bytes);
            snprintf(gzr, sizeof gzr, "%zu", r.gzip_bytes_rounded);
        }
        printf("{\"format\":1,\"computed\":%llu,\"reused\":%llu,\"rebuilt\":%s,\"rebuild_reason\":",
               (unsigned long long)r.computed, (unsigned long long)r.reused,
               r.rebuilt ? "true" : "false");
        if (r.rebuilt)
            tfr_json_str(stdout, r.rebuild_reason);
        else
            fputs("null", stdout);
        printf(",\"classes\":%d,\"writer_splits\":%s,\"train\":%llu,\"validation\":%llu,"
               "\"test\":%llu,\"validation_accuracy\":%s,\"test_accuracy\":%s,"
               "\"majority_accuracy\":%s,\"chance_accuracy\":%.6f,\"folded\":%d,"
               "\"fold_max_diff\":%s,\"rounded_accuracy\":%s,\"gzip_bytes\":%s,"
               "\"gzip_bytes_rounded\":%s,\"seconds_bottlenecks\":%.3f,\"seconds_training\":%.3f}\n",
               r.classes, r.writer_splits ? "true" : "false", (unsigned long long)r.n_train,
               (unsigned long long)r.n_val, (unsigned long long)r.n_test, va, ta, mj,
               r.chance_accuracy, r.folded, fd, ra,
               gz, gzr, r.seconds_bottlenecks, r.seconds_training);
    }
    return 0;
}
