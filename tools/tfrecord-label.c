/*
 * tools/tfrecord-label.c - top-5 labels for images with a trained model
 * (tfrecord-retrain's or tfrecord-train's), with the same preprocessing.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tfrecord/nn.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-label";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s --model DIR|CHECKPOINT [options] IMAGE...\n"
            "Top-K classes of each image (JPEG or PNG) with a trained model, preprocessed as\n"
            "it was trained. DIR holds model.tfrc and labels.txt (tfrecord-retrain --out).\n"
            "  --top K         classes to show, 1..1000 (default 5)\n"
            "  --json          one JSON array on stdout\n"
            "  --logits        with --json: every output's logit too (\"logits\": [...])\n"
            "  --save-input FILE  append each labelled image's model input to FILE as\n"
            "                  uint8 HxWxC pixels before normalization: the \"pixels\"\n"
            "                  input of tfrecord-export's ONNX model, image after image\n"
            "  --mean F --std F  input normalization, mean 0..1, std > 0 (default: the\n"
            "                  model's, from its checkpoint; 0.5 and 0.25 for an older one)\n"
            "  --labels FILE   class names, line i for output i (default: the model's, from\n"
            "                  its checkpoint, else labels.txt beside model.tfrc in DIR)\n"
            "  --threads T     0..1024, 0 = the CPUs this process may use (default 1: one\n"
            "                  image at a time is fastest on one thread for small models)\n"
            "  -h, --help  --version\n",
            prog);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *labels = NULL, *save_input = NULL;
    float mean = NAN, std = NAN;
    int json = 0, top = 5, threads = 1, logits = 0;
    cli_start(prog, argv);
    static const struct option lo[] = {{"model", required_argument, 0, 'm'},
                                       {"mean", required_argument, 0, 'M'},
                                       {"std", required_argument, 0, 'S'},
                                       {"top", required_argument, 0, 'k'},
                                       {"json", no_argument, 0, 'j'},
                                       {"threads", required_argument, 0, 'T'},
                                       {"labels", required_argument, 0, 'L'},
                                       {"logits", no_argument, 0, 'G'},
                                       {"save-input", required_argument, 0, 'I'},
                                       {"help", no_argument, 0, 'h'},
                                       CLI_VERSION_OPTION,
                                       {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(argc, argv, "m:k:jh", lo, usage)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'M': mean = cli_float("--mean", optarg, 0, 1, 0); break;
        case 'S': std = cli_float("--std", optarg, 0, INFINITY, CLI_GT_LO); break;
        case 'k': top = cli_int("--top", optarg, 1, 1000); break;
        case 'j': json = 1; break;
        case 'L': labels = optarg; break;
        case 'G': logits = 1; break;
        case 'I': save_input = optarg; break;
        case 'T': threads = cli_int("--threads", optarg, 0, 1024); break;
        default: return 2;
        }
    }
    if (!model)
        cli_usage_fail("needs --model DIR|CHECKPOINT");
    if (optind >= argc)
        cli_usage_fail("needs an IMAGE to label");
    if (logits && !json)
        cli_usage_fail("--logits needs --json");
    cli_threads(threads);
    char mp[4400], buf[4400];
    tfr_error err;
    tfr_error_clear(&err);
    tfr_model *m;
    tfr_train_state ts;
    if (cli_load_model(model, labels, &m, &ts, mp, sizeof mp))
        return 1;
    const tfr_resnet_config *cfg = tfr_model_config(m);
    int K = cfg->classes;
    /* the normalization the model was trained with, unless given */
    {
        float mm = 0.5f, ms = 0.25f;
        tfr_model_normalization(m, &mm, &ms);
        if (isnan(mean))
            mean = mm;
        if (isnan(std))
            std = ms;
    }
    const char **names = calloc((size_t)K, sizeof *names);
    for (int k = 0; names && k < K; k++)
        names[k] = tfr_model_class_name(m, k);
    int named = 0;
    for (int k = 0; names && k < K; k++)
        named += names[k] != NULL;
    if (!names) {
        fprintf(stderr, "%s: error: out of memory\n", prog);
        tfr_model_free(m);
        return 1;
    }
    if (!named)
        fprintf(stderr, "%s: warning: %s has no class names (give --labels FILE); showing "
                "class numbers\n", prog, mp);
    size_t in_sz = (size_t)cfg->in_c * cfg->in_h * cfg->in_w;
    float *x = malloc(in_sz * sizeof(float));
    uint8_t *px = save_input ? malloc(in_sz) : NULL;
    FILE *sf = NULL;
    if (save_input && !(sf = fopen(save_input, "wb"))) {
        fprintf(stderr, "%s: error: %s: cannot create: %s\n", prog, save_input, strerror(errno));
        free(names);
        free(x);
        free(px);
        tfr_model_free(m);
        return 1;
    }
    int rc = 0, done = 0;
    if (json)
        printf("[");
    for (int a = optind; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        uint8_t *data = NULL;
        long n = 0;
        if (f) {
            fseek(f, 0, SEEK_END);
            n = ftell(f);
            rewind(f);
            data = malloc(n > 0 ? (size_t)n : 1);
            if (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n)
                n = 0;
            fclose(f);
        }
        double t0 = tfr_now();
        if (!data || tfr_model_preprocess(m, data, (size_t)(n > 0 ? n : 0), mean, std, x, &err) ||
            tfr_model_forward(m, x, 1, NULL, 0, NULL, &err)) {
            if (!data)
                tfr_fail_errno(&err, TFR_ERR_IO, argv[a], "cannot open");
            else if (!err.path[0])
                snprintf(err.path, sizeof err.path, "%s", argv[a]);
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            free(data);
            rc = 1;
            continue;
        }
        double ms = (tfr_now() - t0) * 1e3;
        if (sf && (!px || tfr_model_preprocess_u8(m, data, (size_t)n, px, &err) ||
                   fwrite(px, 1, in_sz, sf) != in_sz)) {
            fprintf(stderr, "%s: error: %s: cannot save its input to %s\n", prog, argv[a],
                    save_input);
            free(data);
            rc = 1;
            break;
        }
        free(data);
        const float *lg;
        if (tfr_model_logits(m, &lg, &err)) {
            fprintf(stderr, "%s: error: %s: %s\n", prog, argv[a],
                    tfr_error_text(&err, buf, sizeof buf));
            rc = 1;
            continue;
        }
        double mx = lg[0], s = 0;
        for (int k = 1; k < K; k++)
            mx = lg[k] > mx ? lg[k] : mx;
        double *p = malloc((size_t)K * sizeof *p);
        int *order = malloc((size_t)K * sizeof *order);
        for (int k = 0; k < K; k++) {
            s += p[k] = exp(lg[k] - mx);
            order[k] = k;
        }
        for (int i = 0; i < K; i++) /* partial selection sort for the top entries */
            for (int j = i + 1; j < K && i < top; j++)
                if (p[order[j]] > p[order[i]]) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        int shown = top < K ? top : K;
        if (json) {
            printf("%s{\"image\":", done ? "," : "");
            tfr_json_str(stdout, argv[a]);
            printf(",\"milliseconds\":%.3f,\"top\":[", ms);
            for (int i = 0; i < shown; i++) {
                printf("%s{\"label\":%d,\"name\":", i ? "," : "", order[i]);
                if (names[order[i]])
                    tfr_json_str(stdout, names[order[i]]);
                else
                    printf("null");
                printf(",\"score\":%.6f}", p[order[i]] / s);
            }
            printf("]");
            if (logits) {
                printf(",\"logits\":[");
                for (int k = 0; k < K; k++)
                    printf("%s%.9g", k ? "," : "", (double)lg[k]);
                printf("]");
            }
            printf("}");
        } else {
            printf("%s (evaluated in %.2f ms)\n", argv[a], ms);
            for (int i = 0; i < shown; i++) {
                char unnamed[32];
                snprintf(unnamed, sizeof unnamed, "class %d", order[i]);
                printf("  %-24s %3d  %.5f\n", names[order[i]] ? names[order[i]] : unnamed,
                       order[i], p[order[i]] / s);
            }
        }
        free(p);
        free(order);
        done++;
    }
    if (sf && fclose(sf) != 0) {
        fprintf(stderr, "%s: error: %s: write: %s\n", prog, save_input, strerror(errno));
        rc = 1;
    }
    free(px);
    if (json)
        printf("]\n");
    free(names);
    free(x);
    tfr_model_free(m);
    return rc;
}
