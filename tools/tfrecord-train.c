/*
 * tools/tfrecord-train.c - train the pre-activation ResNet on
 * TFRecord shards (CPU: OpenMP + BLAS), or evaluate a checkpoint.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mpi.h"
#include "tfrecord/manifest.h"
#include "tfrecord/nn.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-train";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s --train SHARDS [--val SHARDS] [options]\n"
        "       %s --evaluate CHECKPOINT|DIR --val SHARDS [--labels FILE]\n"
        "         (the model's normalization and class names come from its checkpoint;\n"
        "         --mean/--std and --labels FILE, line i naming output i, override them)\n"
        "SHARDS: a file, folder, glob ('shards/train-*') or manifest.json; repeatable.\n"
        "model\n"
        "  --preset fmnist|homework|tiny   (default fmnist: 28x28x1, 10 classes)\n"
        "  --recipe fmnist      the best measured Fashion-MNIST settings (README): --preset\n"
        "                       fmnist --block basic --width 48 --levels 2,2,2 --epochs 28\n"
        "                       --batch 128 --lr 0.1 --cosine --warmup 2 --weight-decay 5e-4\n"
        "                       --flip --pad-crop 2 --erase 0.5 --label-smoothing 0.1\n"
        "                       --device auto --precision bf16 (options after it override it)\n"
        "  --levels 4,6,3,2     blocks per level: 1..8 levels of 1..64 blocks\n"
        "  --block bottleneck|basic  pre-activation bottlenecks (1x1, 3x3, 1x1; the default)\n"
        "                       or basic blocks (two 3x3 convolutions, as ResNet-18's)\n"
        "  --width N            tail channels, a multiple of 4 in 4..4096 (level i has\n"
        "                       4*N*2^i channels with bottlenecks, N*2^i with basic blocks)\n"
        "  --input HxWxC        input size, H and W 4..8192, C 1 or 3   --classes N (2..100000)\n"
        "training\n"
        "  --epochs N (1)  --batch N (128)  --lr F (0.01)  --lr-decay F (0.1)  --lr-every N (64)\n"
        "  --cosine  --warmup N (epochs)  --momentum F (0.9)  --l2 F (5e-4, dense layer)\n"
        "  --weight-decay F (0)  --flip  --pad-crop P  --mean F (0.5)  --std F (0.25)\n"
        "  --seed S  --shuffle-buffer N (8192)\n"
        "  --label-smoothing E  train against (1 - E) one-hot + E / classes, 0 <= E < 1\n"
        "                       (default 0; the losses shown stay plain cross-entropy)\n"
        "  --erase P            random erasing: with probability P (0..1) a random rectangle\n"
        "                       of 2-33%% of each training image is set to the mean\n"
        "  --tta-flip           validation (and --evaluate) averages each image's and its\n"
        "                       mirror's probabilities\n"
        "  --replicas N         train as N data-parallel ranks would, in this process: each\n"
        "                       step takes --batch / N images from each of N rank streams and\n"
        "                       averages their gradients (the same updates, bit for bit, as\n"
        "                       mpirun -np N; see README, data-parallel training)\n"
        "  --threads T  threads for decode and compute (on the CPU they take turns, never\n"
        "               2T at once); 0 = the CPUs this process may use (default)\n"
        "  under mpirun/srun every rank trains a replica: --batch is the global batch,\n"
        "  divided among the ranks; rank 0 alone prints and writes\n"
        "  ranges: epochs >= 1, batch 1..65536, lr > 0, lr-decay 0 < F <= 1, lr-every >= 0\n"
        "  (0 = no decay), warmup >= 0, momentum 0 <= F < 1, l2 and weight-decay >= 0,\n"
        "  pad-crop 0..1024, mean 0..1, std > 0, threads 0..1024, shuffle-buffer 0..2^30\n"
        "output\n"
        "  --logdir DIR         TensorBoard events, history.csv, steps.csv, history.png (loss,\n"
        "                       accuracy and learning rate per epoch, redrawn every epoch)\n"
        "  --plot FILE.png      draw that chart here instead (needs --logdir)\n"
        "  --log-every N        TensorBoard batch_loss every N steps, 0..2^30 (default 20;\n"
        "                       0 = epochs only)\n"
        "  --checkpoint-dir DIR one checkpoint per epoch, 'latest' points at the newest\n"
        "  --resume DIR|FILE    continue a run exactly where its checkpoint left it\n"
        "  --device cpu|onednn|cuda|cuda:N|auto   where to train (default cpu, the reference\n"
        "                        kernels; onednn: the CPU through oneDNN, NHWC, faster;\n"
        "                        auto: a GPU if present, else onednn where built, else cpu)\n"
        "  --precision tf32|fp32|bf16 CUDA math: TF32 tensor cores (default), IEEE fp32, or\n"
        "                             bf16 activations with fp32 weights and accumulation;\n"
        "                             onednn: fp32 (default), or bf16 inputs to the 3x3\n"
        "                             convolutions with fp32 accumulation (AMX, AVX512-BF16);\n"
        "                             cpu: fp32 only (bf16 with auto there means fp32)\n"
        "  --workspace-mb N           cuDNN workspace limit per convolution, 1..1048576\n"
        "                             (default 256)\n"
        "  --json               one JSON object on stdout at the end: the untrained\n"
        "                       baseline, every epoch (values that do not exist are null),\n"
        "                       the last checkpoint; with --evaluate, the accuracy, loss,\n"
        "                       class names and confusion matrix\n"
        "  -q, --quiet          the epoch lines only (no input, model or progress lines)\n"
        "  -h, --help  --version\n",
        prog, prog);
}

/* Class names from labels.txt beside the first shard (up to n of them), if
 * there is one: *names NULL and *got 0 when not. Free with tfr_labels_free. */
/*
 * The name of each of m's outputs for --evaluate, into (*names)[0..classes):
 * --labels FILE (line i names output i), else the checkpoint's, else the
 * validation shards' labels.txt shifted by their label offset. NULL where
 * unnamed.
 */
static tfr_status eval_names(const tfr_model *m, const tfr_train_inputs *vin, const char *file,
                             char ***names, int *n, tfr_error *err)
{
    int K = tfr_model_config(m)->classes;
    *n = K;
    if (!(*names = calloc((size_t)K, sizeof **names)))
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    char **v = NULL;
    int nv = 0, first = 0;
    tfr_status st = TFR_OK;
    if (file)
        st = tfr_labels_load(file, K, &v, &nv, err);
    else if (tfr_model_class_names(m, NULL)) {
        for (int k = 0; k < K; k++) {
            const char *s = tfr_model_class_name(m, k);
            if (s && !((*names)[k] = strdup(s)))
                return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        }
        return TFR_OK;
    } else
        st = tfr_train_inputs_class_names(vin, &v, &nv, &first, err);
    for (int i = 0; !st && i < nv; i++)
        if (first + i < K) {
            (*names)[first + i] = v[i];
            v[i] = NULL;
        }
    tfr_labels_free(v, nv);
    return st;
}

/*
 * The model's classes and input from the data, unless given: a preset that
 * disagrees with the data's classes or channels is an error saying what the
 * data holds; another input size is said (the stream resizes). 0 ok, 1 error
 * (printed).
 */
static int shape_from_data(tfr_resnet_config *cfg, const char *const *train, int ntrain,
                           const char *preset, int classes_given, int input_given, int quiet)
{
    tfr_error err;
    char buf[4400];
    tfr_train_inputs tin;
    tfr_train_data_info di;
    if (tfr_train_inputs_resolve(train, ntrain, 1, &tin, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    tfr_status st = tfr_train_inputs_probe(&tin, &di, &err);
    tfr_train_inputs_free(&tin);
    if (st) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    if (!classes_given && di.classes >= 2) {
        if (preset && cfg->classes != di.classes) {
            fprintf(stderr, "%s: error: --preset %s is a %d-class model, but the data holds %d "
                            "classes (its manifest.json): give --classes %d, or leave --preset "
                            "out to shape the model after the data\n",
                    prog, preset, cfg->classes, di.classes, di.classes);
            return 1;
        }
        cfg->classes = di.classes;
    }
    if (!input_given && di.channels) {
        if (preset && cfg->in_c != di.channels) {
            fprintf(stderr, "%s: error: --preset %s takes %d-channel images, but %s holds %s "
                            "ones: give --input %dx%dx%d\n",
                    prog, preset, cfg->in_c, di.file, di.channels == 1 ? "grayscale" : "RGB",
                    cfg->in_h, cfg->in_w, di.channels);
            return 1;
        }
        cfg->in_c = di.channels;
        /* the data's size when it is one a model of this kind takes */
        if (!preset && di.height >= 4 && di.width >= 4 && di.height <= 256 && di.width <= 256) {
            cfg->in_h = di.height;
            cfg->in_w = di.width;
        }
        if ((cfg->in_h != di.height || cfg->in_w != di.width) && !quiet)
            printf("input %dx%dx%d: the first image, in %s, is %dx%d (HxW); the stream resizes "
                   "(--input HxWxC to choose)\n",
                   cfg->in_h, cfg->in_w, cfg->in_c, di.file, di.height, di.width);
    }
    return 0;
}

/* ---- the report: tfr_train's events as text ---------------------------------- */

typedef struct report {
    const tfr_train_opts *o; /* quiet: the epoch lines (results) only */
    int tty;                 /* the step line: progress on and stderr a terminal */
    int json;                /* stdout: one JSON object at the end, nothing else */
    int nepochs;
    char *epochs;            /* json: the epochs' objects, comma-separated */
    size_t elen, ecap;
    char baseline[160], checkpoint[4200];
} report;

/* a JSON number, or null for a value that does not exist */
static const char *jnum(double v, char *b, size_t n)
{
    if (isfinite(v))
        snprintf(b, n, "%.6g", v);
    else
        snprintf(b, n, "null");
    return b;
}

static void json_epoch(report *r, const tfr_train_event *ev)
{
    char a[32], b2[32], c[32], d[32], line[512];
    const double secs = ev->seconds;
    int n = snprintf(line, sizeof line,
                     "%s{\"epoch\":%llu,\"step\":%llu,\"loss\":%s,\"accuracy\":%s,"
                     "\"val_loss\":%s,\"val_accuracy\":%s,\"lr\":%.6g,\"images\":%llu,"
                     "\"seconds\":%.3f,\"input_wait_seconds\":%.3f,\"comm_seconds\":%.3f}",
                     r->nepochs ? "," : "", (unsigned long long)ev->epoch,
                     (unsigned long long)ev->step, jnum(ev->loss, a, sizeof a),
                     jnum(ev->accuracy, b2, sizeof b2), jnum(ev->val_loss, c, sizeof c),
                     jnum(ev->val_accuracy, d, sizeof d), ev->lr, (unsigned long long)ev->images,
                     secs, ev->input_wait, ev->comm_wait);
    if (r->elen + (size_t)n + 1 > r->ecap) {
        size_t cap = r->ecap ? r->ecap * 2 : 4096;
        while (cap < r->elen + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(r->epochs, cap);
        if (!p)
            return;
        r->epochs = p;
        r->ecap = cap;
    }
    memcpy(r->epochs + r->elen, line, (size_t)n + 1);
    r->elen += (size_t)n;
    r->nepochs++;
}

static void fmt_time(double s, char *b, size_t n)
{
    long t = s < 0 || s > 1e7 ? 0 : (long)(s + 0.5);
    snprintf(b, n, "%02ld:%02ld", t / 60, t % 60);
}

static void on_train_event(void *user, const tfr_train_event *ev)
{
    report *r = user;
    const int quiet = r->o->quiet || r->json;
    switch (ev->kind) {
    case TFR_TRAIN_INPUT:
        if (!quiet && ev->text)
            fputs(ev->text, stdout);
        break;
    case TFR_TRAIN_RESUMED:
        if (!quiet)
            printf("resumed from %s: %llu epochs done, step %llu\n", ev->path,
                   (unsigned long long)ev->epoch, (unsigned long long)ev->step);
        if (ev->text) /* a warning: shown with -q and --json too */
            fprintf(stderr, "%s: warning: %s\n", prog, ev->text);
        break;
    case TFR_TRAIN_MODEL: {
        const tfr_resnet_config *c = tfr_model_config(ev->model);
        if (!quiet)
            printf("model: pre-activation %s ResNet, %dx%dx%d -> %d classes, width %d, "
                   "%zu parameters, %.1f MFLOP per image\ndevice: %s\n",
                   tfr_resnet_block_name(c), c->in_h, c->in_w, c->in_c, c->classes, c->width,
                   tfr_model_num_params(ev->model), tfr_model_flops(ev->model) / 1e6,
                   tfr_model_device(ev->model));
        break;
    }
    case TFR_TRAIN_BASELINE:
        snprintf(r->baseline, sizeof r->baseline,
                 "{\"on\":\"%s\",\"loss\":%.6g,\"accuracy\":%.6g,\"chance_loss\":%.6g,"
                 "\"chance_accuracy\":%.6g}", ev->on_val ? "validation" : "training", ev->loss,
                 ev->accuracy, ev->chance_loss, ev->chance_accuracy);
        if (!quiet)
            printf("before training: %s accuracy %.4f (chance %.4f), cross-entropy %.4f "
                   "(chance %.4f)\n",
                   ev->on_val ? "validation" : "training", ev->accuracy, ev->chance_accuracy,
                   ev->loss, ev->chance_loss);
        break;
    case TFR_TRAIN_STEP: {
        const uint64_t k = ev->epoch_step, nsteps = ev->epoch_steps;
        if (r->tty && (k % 5 == 0 || (nsteps && k == nsteps))) {
            double el = ev->seconds;
            char eta[32];
            fmt_time(nsteps && k ? el / k * (double)(nsteps - k) : 0, eta, sizeof eta);
            fprintf(stderr, "\repoch %llu/%d  step %llu/%llu  loss %.4f  acc %.4f  %.0f img/s  "
                            "ETA %s\033[K",
                    (unsigned long long)ev->epoch, ev->epochs, (unsigned long long)k,
                    (unsigned long long)nsteps, ev->loss, ev->accuracy, ev->images / el, eta);
        }
        break;
    }
    case TFR_TRAIN_PASS_END:
        if (r->tty)
            fputc('\n', stderr);
        break;
    case TFR_TRAIN_EPOCH: {
        const double secs = ev->seconds;
        if (r->json) {
            json_epoch(r, ev);
            break;
        }
        /* the epoch's results: printed with -q too; no validation, no val columns */
        char val[96] = "";
        if (isfinite(ev->val_loss))
            snprintf(val, sizeof val, " | val loss %.4f val accuracy %.4f", ev->val_loss,
                     ev->val_accuracy);
        char comm[48] = "";
        if (r->o->comm)
            snprintf(comm, sizeof comm, ", all-reduce %.1f%%",
                     secs > 0 ? 100 * ev->comm_wait / secs : 0.0);
        printf("epoch %llu/%d: loss %.4f accuracy %.4f%s | lr %.5g | %.0f images/s, %.1f s, "
               "input wait %.1f%%%s\n",
               (unsigned long long)ev->epoch, ev->epochs, ev->loss, ev->accuracy, val, ev->lr,
               secs > 0 ? ev->images / secs : 0.0, secs, secs > 0 ? 100 * ev->input_wait / secs : 0.0,
               comm);
        break;
    }
    case TFR_TRAIN_CHECKPOINT:
        snprintf(r->checkpoint, sizeof r->checkpoint, "%s", ev->path);
        break;
    }
}

int main(int argc, char **argv)
{
    tfr_train_opts o;
    tfr_train_opts_init(&o);
    cli_start(prog, argv);
    tfr_log_set_prog(prog);
    tfr_error err;
    tfr_error_clear(&err);
    const char *train[64], *val[64], *evaluate = NULL, *labels_file = NULL;
    int mean_given = 0, std_given = 0;
    int ntrain = 0, nval = 0, width = 0, classes = 0, input[3] = {0, 0, 0};
    int levels[TFR_MAX_LEVELS], nlevels = 0, block = -1;
    int recipe_bf16 = 0; /* the precision is the recipe's: bf16 where the device has it */
    const char *preset = "fmnist";
    int preset_given = 0;
    enum { O_TRAIN = 256, O_VAL, O_EVAL, O_PRESET, O_LEVELS, O_WIDTH, O_INPUT, O_CLASSES, O_EPOCHS,
           O_BATCH, O_LR, O_DECAY, O_EVERY, O_COSINE, O_WARMUP, O_MOM, O_L2, O_WD, O_FLIP, O_PAD,
           O_MEAN, O_STD, O_SEED, O_THREADS, O_SHUF, O_LOGDIR, O_CKPT, O_RESUME, O_DEVICE, O_PREC, O_WS,
           O_LABELS, O_PLOT, O_LOGEVERY, O_JSON, O_RECIPE, O_TTA, O_ERASE, O_REPLICAS,
           O_SMOOTH, O_BLOCK };
    int json = 0;
    static const struct option lo[] = {
        {"train", required_argument, 0, O_TRAIN}, {"val", required_argument, 0, O_VAL},
        {"evaluate", required_argument, 0, O_EVAL}, {"preset", required_argument, 0, O_PRESET},
        {"recipe", required_argument, 0, O_RECIPE}, {"tta-flip", no_argument, 0, O_TTA},
        {"erase", required_argument, 0, O_ERASE}, {"replicas", required_argument, 0, O_REPLICAS},
        {"label-smoothing", required_argument, 0, O_SMOOTH},
        {"levels", required_argument, 0, O_LEVELS}, {"width", required_argument, 0, O_WIDTH},
        {"block", required_argument, 0, O_BLOCK},
        {"input", required_argument, 0, O_INPUT}, {"classes", required_argument, 0, O_CLASSES},
        {"epochs", required_argument, 0, O_EPOCHS}, {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR}, {"lr-decay", required_argument, 0, O_DECAY},
        {"lr-every", required_argument, 0, O_EVERY}, {"cosine", no_argument, 0, O_COSINE},
        {"warmup", required_argument, 0, O_WARMUP}, {"momentum", required_argument, 0, O_MOM},
        {"l2", required_argument, 0, O_L2}, {"weight-decay", required_argument, 0, O_WD},
        {"flip", no_argument, 0, O_FLIP}, {"pad-crop", required_argument, 0, O_PAD},
        {"mean", required_argument, 0, O_MEAN}, {"std", required_argument, 0, O_STD},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
        {"shuffle-buffer", required_argument, 0, O_SHUF},
        {"logdir", required_argument, 0, O_LOGDIR},
        {"checkpoint-dir", required_argument, 0, O_CKPT},
        {"resume", required_argument, 0, O_RESUME}, {"quiet", no_argument, 0, 'q'},
        {"device", required_argument, 0, O_DEVICE}, {"precision", required_argument, 0, O_PREC},
        {"workspace-mb", required_argument, 0, O_WS},
        {"labels", required_argument, 0, O_LABELS},
        {"plot", required_argument, 0, O_PLOT},
        {"log-every", required_argument, 0, O_LOGEVERY},
        {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'h'}, CLI_VERSION_OPTION, {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(argc, argv, "qh", lo, usage)) != -1) {
        switch (c) {
        case O_TRAIN:
            if (ntrain == 64)
                cli_fail("--train", "given more than 64 times");
            train[ntrain++] = optarg;
            break;
        case O_VAL:
            if (nval == 64)
                cli_fail("--val", "given more than 64 times");
            val[nval++] = optarg;
            break;
        case O_EVAL: evaluate = optarg; break;
        case O_PRESET: preset = optarg; preset_given = 1; break;
        case O_RECIPE: /* as if its options stood here */
            if (strcmp(optarg, "fmnist"))
                cli_fail("--recipe", "unknown recipe '%s' (fmnist)", optarg);
            preset = "fmnist";
            preset_given = 1;
            block = TFR_RESNET_BASIC;
            width = 48;
            nlevels = 3;
            levels[0] = levels[1] = levels[2] = 2;
            o.epochs = 28;
            o.batch = 128;
            o.lr = 0.1f;
            o.cosine = 1;
            o.warmup_epochs = 2;
            o.weight_decay = 5e-4f;
            o.flip = 1;
            o.pad_crop = 2;
            o.erase = 0.5f;
            o.label_smoothing = 0.1f;
            if (tfr_device_parse("auto", &o.device, &err))
                cli_fail("--recipe", "%s", err.msg);
            o.device.precision = TFR_PRECISION_BF16;
            recipe_bf16 = 1;
            break;
        case O_LEVELS: nlevels = cli_int_list("--levels", optarg, levels, TFR_MAX_LEVELS, 1, 64); break;
        case O_BLOCK:
            if (!strcmp(optarg, "bottleneck"))
                block = TFR_RESNET_BOTTLENECK;
            else if (!strcmp(optarg, "basic"))
                block = TFR_RESNET_BASIC;
            else
                cli_fail("--block", "'%s' is not one of bottleneck, basic", optarg);
            break;
        case O_WIDTH:
            width = cli_int("--width", optarg, 4, 4096);
            if (width % 4)
                cli_fail("--width", "%d is not a multiple of 4", width);
            break;
        case O_INPUT:
            cli_dims("--input", optarg, "HxWxC", input, 1, 8192);
            for (int i = 0; i < 2; i++)
                if (input[i] < 4) /* the network's smallest input */
                    cli_fail("--input", "%s=%d is out of range (4..8192)", i ? "W" : "H", input[i]);
            if (input[2] != 1 && input[2] != 3)
                cli_fail("--input", "C=%d is not one of 1, 3", input[2]);
            break;
        case O_CLASSES: classes = cli_int("--classes", optarg, 2, 100000); break;
        case O_EPOCHS: o.epochs = cli_int("--epochs", optarg, 1, INT_MAX); break;
        case O_BATCH: o.batch = cli_int("--batch", optarg, 1, 65536); break;
        case O_LR: o.lr = cli_float("--lr", optarg, 0, INFINITY, CLI_GT_LO); break;
        case O_DECAY: o.lr_decay = cli_float("--lr-decay", optarg, 0, 1, CLI_GT_LO); break;
        case O_EVERY: o.lr_every = cli_int("--lr-every", optarg, 0, INT_MAX); break;
        case O_COSINE: o.cosine = 1; break;
        case O_WARMUP: o.warmup_epochs = cli_int("--warmup", optarg, 0, INT_MAX); break;
        case O_MOM: o.momentum = cli_float("--momentum", optarg, 0, 1, CLI_LT_HI); break;
        case O_L2: o.l2 = cli_float("--l2", optarg, 0, INFINITY, 0); break;
        case O_WD: o.weight_decay = cli_float("--weight-decay", optarg, 0, INFINITY, 0); break;
        case O_FLIP: o.flip = 1; break;
        case O_TTA: o.tta_flip = 1; break;
        case O_ERASE: o.erase = cli_float("--erase", optarg, 0, 1, 0); break;
        case O_SMOOTH: o.label_smoothing = cli_float("--label-smoothing", optarg, 0, 1, CLI_LT_HI); break;
        case O_REPLICAS: o.replicas = cli_int("--replicas", optarg, 1, 64); break;
        case O_PAD: o.pad_crop = cli_int("--pad-crop", optarg, 0, 1024); break;
        case O_MEAN: o.mean = cli_float("--mean", optarg, 0, 1, 0); mean_given = 1; break;
        case O_STD: o.std = cli_float("--std", optarg, 0, INFINITY, CLI_GT_LO); std_given = 1; break;
        case O_LABELS: labels_file = optarg; break;
        case O_PLOT: o.plot = optarg; break;
        case O_JSON: json = 1; o.progress = 0; break;
        case O_LOGEVERY: o.log_every = cli_int("--log-every", optarg, 0, 1 << 30); break;
        case O_SEED: o.seed = cli_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_THREADS: o.threads = cli_int("--threads", optarg, 0, 1024); break;
        case O_SHUF:
            o.shuffle_buffer = (size_t)cli_u64("--shuffle-buffer", optarg, 0, 1u << 30);
            break;
        case O_LOGDIR: o.logdir = optarg; break;
        case O_CKPT: o.checkpoint_dir = optarg; break;
        case O_RESUME: o.resume = optarg; break;
        case O_WS:
            o.device.workspace_limit = (size_t)cli_int("--workspace-mb", optarg, 1, 1 << 20) << 20;
            break;
        case O_DEVICE:
        case O_PREC:
            recipe_bf16 &= c == O_DEVICE;
            if (c == O_DEVICE ? tfr_device_parse(optarg, &o.device, &err)
                              : tfr_precision_parse(optarg, &o.device.precision, &err))
                cli_fail(c == O_DEVICE ? "--device" : "--precision", "%s", err.msg);
            break;
        case 'q': o.quiet = 1; o.progress = 0; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (o.plot && !o.logdir)
        cli_fail("--plot", "needs --logdir DIR (the chart is drawn from DIR/history.csv)");
    o.threads = cli_threads(o.threads);
    char buf[4400];
    if (evaluate) {
        if (!nval) {
            cli_usage_fail("--evaluate needs --val SHARDS (the images to score)");
        }
        tfr_model *m;
        tfr_train_state ts;
        tfr_eval_result r;
        tfr_train_inputs vin;
        if (tfr_train_inputs_resolve(val, nval, 0, &vin, &err)) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        if (!o.quiet && !json)
            fputs(vin.text, stdout);
        const char *const *vsrc = (const char *const *)vin.sources;
        char **names = NULL;
        int nnames = 0;
        char ckpt[4400];
        if (tfr_train_checkpoint_path(evaluate, ckpt, sizeof ckpt, &err) ||
            tfr_checkpoint_load(ckpt, &m, &ts, &err) ||
            (tfr_device_moves(&o.device) && tfr_model_set_device(m, &o.device, &err)) ||
            eval_names(m, &vin, labels_file, &names, &nnames, &err)) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        {
            float mm = o.mean, ms = o.std; /* the model's normalization, unless given */
            if (tfr_model_normalization(m, &mm, &ms)) {
                o.mean = mean_given ? o.mean : mm;
                o.std = std_given ? o.std : ms;
            }
        }
        if (tfr_evaluate_flip(m, vsrc, nval, o.batch, o.threads, o.mean, o.std, o.tta_flip, &r,
                              &err)) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        if (json) {
            printf("{\"format\":1,\"checkpoint\":");
            tfr_json_str(stdout, ckpt);
            printf(",\"epoch\":%llu,\"images\":%llu,\"accuracy\":%.6f,\"loss\":%.6f,"
                   "\"classes\":[", (unsigned long long)ts.epoch, (unsigned long long)r.images,
                   r.accuracy, r.loss);
            for (int i = 0; i < r.classes; i++) {
                fputs(i ? "," : "", stdout);
                if (i < nnames && names[i])
                    tfr_json_str(stdout, names[i]);
                else
                    fputs("null", stdout);
            }
            printf("],\"confusion\":[");
            for (int i = 0; i < r.classes; i++) {
                printf("%s[", i ? "," : "");
                for (int j = 0; j < r.classes; j++)
                    printf("%s%llu", j ? "," : "",
                           (unsigned long long)r.confusion[(size_t)i * r.classes + j]);
                putchar(']');
            }
            printf("]}\n");
            tfr_labels_free(names, nnames);
            tfr_eval_result_free(&r);
            tfr_model_free(m);
            tfr_train_inputs_free(&vin);
            return 0;
        }
        printf("%s (epoch %llu): %llu images, accuracy %.4f, cross-entropy %.4f\n", ckpt,
               (unsigned long long)ts.epoch, (unsigned long long)r.images, r.accuracy, r.loss);
        printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
        for (int j = 0; j < r.classes; j++)
            printf(" %6d", j);
        printf("\n");
        for (int i = 0; i < r.classes; i++) {
            printf("%3d %-10.10s", i, i < nnames && names[i] ? names[i] : "");
            for (int j = 0; j < r.classes; j++)
                printf(" %6llu", (unsigned long long)r.confusion[(size_t)i * r.classes + j]);
            printf("\n");
        }
        tfr_labels_free(names, nnames);
        tfr_eval_result_free(&r);
        tfr_model_free(m);
        tfr_train_inputs_free(&vin);
        return 0;
    }
    if (!ntrain) {
        if (o.resume)
            cli_usage_fail("--resume %s continues a run: give its --train SHARDS too", o.resume);
        cli_usage_fail("needs --train SHARDS (or --evaluate CHECKPOINT --val SHARDS)");
    }
    if (tfr_resnet_preset(preset, &o.cfg, &err))
        cli_fail("--preset", "%s", err.msg);
    if (nlevels) {
        o.cfg.nlevels = nlevels;
        for (int i = 0; i < nlevels; i++)
            o.cfg.levels[i] = levels[i];
    }
    if (recipe_bf16 && o.device.kind == TFR_DEVICE_CPU) /* --recipe fmnist --device cpu */
        o.device.precision = TFR_PRECISION_FP32;
    if (width)
        o.cfg.width = width;
    if (block >= 0)
        o.cfg.block = block;
    if (classes)
        o.cfg.classes = classes;
    if (input[0]) {
        o.cfg.in_h = input[0];
        o.cfg.in_w = input[1];
        o.cfg.in_c = input[2];
    }
    if (!o.resume && shape_from_data(&o.cfg, train, ntrain, preset_given ? preset : NULL,
                                     classes > 0, input[0] > 0, o.quiet))
        return 1;
    o.train = train;
    o.ntrain = ntrain;
    o.val = val;
    o.nval = nval;
    /* data-parallel ranks, when an MPI launcher started this process */
    tfr_train_comm comm;
    char why[256];
    if (tfr_mpi_start(&argc, &argv, &comm, why, sizeof why)) {
        fprintf(stderr, "%s: error: %s\n", prog, why);
        return 1;
    }
    static char rank_prog[64];
    /* TFR_MPI_ONE_RANK=1: one rank through the collectives all the same
     * (mpirun -np 1: the NCCL path checked on one GPU) */
    const char *one = getenv("TFR_MPI_ONE_RANK");
    if (comm.world > 1 || (comm.sum_f32 && one && !strcmp(one, "1"))) {
        snprintf(rank_prog, sizeof rank_prog, "%s[rank %d]", prog, comm.rank);
        tfr_log_set_prog(rank_prog);
        if (o.batch % comm.world) {
            if (comm.rank == 0)
                fprintf(stderr, "%s: error: --batch %d is the global batch: it must divide "
                                "among the %d ranks\n", prog, o.batch, comm.world);
            tfr_mpi_finish();
            return 2;
        }
        o.comm = &comm;
    }
    const int lead = comm.rank == 0;
    int W = comm.world > 1 ? comm.world : o.replicas > 1 ? o.replicas : 1;
    /* GPU ranks average on the device with NCCL where built (not rank-ordered) */
    const int on_gpu = o.device.kind == TFR_DEVICE_CUDA || o.device.kind == TFR_DEVICE_AUTO;
    if (W > 1 && lead && !o.quiet && !json)
        printf("data parallel: %d %s (%s), global batch %d = %d x %d, gradients averaged %s "
               "every step%s\n", W, comm.world > 1 ? "ranks" : "replicas in this process",
               comm.world > 1 ? tfr_mpi_name() : "--replicas", o.batch, W, o.batch / W,
               comm.world > 1 && on_gpu && tfr_mpi_nccl()
                   ? "by NCCL on a GPU (in rank order on the CPU)"
                   : "in rank order",
               comm.world > 1 && on_gpu && o.device.index < 0
                   ? "; rank r on cuda:(its rank on its machine)"
                   : "");
    report rep = {&o, o.progress && isatty(STDERR_FILENO), json, 0, NULL, 0, 0, "", ""};
    o.on_event = lead ? on_train_event : NULL; /* the other ranks are quiet */
    o.user = &rep;
    if (tfr_train(&o, &err)) {
        fprintf(stderr, "%s: error: %s\n", comm.world > 1 ? rank_prog : prog,
                tfr_error_text(&err, buf, sizeof buf));
        free(rep.epochs);
        tfr_mpi_abort(1); /* every other rank stops too */
        return 1;
    }
    tfr_mpi_finish();
    if (!lead) {
        free(rep.epochs);
        return 0;
    }
    if (json) {
        printf("{\"format\":1,\"baseline\":%s,\"epochs\":[%s],\"checkpoint\":",
               rep.baseline[0] ? rep.baseline : "null", rep.epochs ? rep.epochs : "");
        if (rep.checkpoint[0])
            tfr_json_str(stdout, rep.checkpoint);
        else
            fputs("null", stdout);
        printf("}\n");
    }
    free(rep.epochs);
    return 0;
}
