/*
 * tools/tfrecord-export.c - a trained model as an ONNX file for ONNX Runtime,
 * TensorRT and the other engines that read ONNX; --show summarizes an ONNX
 * file.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tfrecord/checkpoint.h"
#include "tfrecord/onnx.h"
#include "tfrecord/util.h"

static const char *const prog = "tfrecord-export";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s CHECKPOINT|MODEL_DIR --onnx OUT.onnx [options]\n"
            "       %s --show MODEL.onnx [--json]\n"
            "Writes a trained model (tfrecord-train's checkpoint, or tfrecord-retrain's --out\n"
            "folder) as an ONNX graph: input \"pixels\", uint8 [batch, H, W, C], decoded and\n"
            "resized to the model's input size and normalized in the graph as it was\n"
            "trained; outputs \"logits\" and \"probabilities\", [batch, classes]; the class\n"
            "names, the preprocessing and where the model came from in its metadata.\n"
            "  --onnx FILE       the ONNX file to write (atomically)\n"
            "  --no-fold-bn      keep every BatchNormalization (default: each that follows\n"
            "                    a convolution is folded into it)\n"
            "  --round-weights   weights to 256 levels per tensor (after folding), as\n"
            "                    TensorFlow's weights_rounded mode; compresses better\n"
            "  --input KIND      pixels (default) or float: \"input\", float32 [batch, C, H, W],\n"
            "                    normalized by the caller as (x / 255 - mean) / std\n"
            "  --opset N         ONNX opset, 13..17 (default 13)\n"
            "  --labels FILE     class names, line i for output i (default: the model's)\n"
            "  --show FILE       summarize an ONNX file: inputs, outputs, ops, parameters, size\n"
            "  --json            the summary as one JSON object\n"
            "  -h, --help  --version\n",
            prog, prog);
}

static void print_value(FILE *f, const tfr_onnx_value *v)
{
    fprintf(f, "%s %s [", v->name, v->elem);
    for (int i = 0; i < v->rank; i++) {
        if (i)
            fputs(", ", f);
        if (v->dims[i] >= 0)
            fprintf(f, "%" PRId64, v->dims[i]);
        else
            fputs(v->dim_param[i][0] ? v->dim_param[i] : "?", f);
    }
    fputs(v->rank < 0 ? "unknown shape]" : "]", f);
}

/* the dimensions as trtexec writes a shape: 1x28x28x1 (batch b) */
static void print_shape(FILE *f, const tfr_onnx_value *v, int b)
{
    for (int i = 0; i < v->rank; i++)
        fprintf(f, "%s%" PRId64, i ? "x" : "", v->dims[i] >= 0 ? v->dims[i] : (int64_t)b);
}

static void json_value(FILE *f, const tfr_onnx_value *v)
{
    fputs("{\"name\":", f);
    tfr_json_str(f, v->name);
    fprintf(f, ",\"type\":\"%s\",\"shape\":[", v->elem);
    for (int i = 0; i < v->rank; i++) {
        if (i)
            fputc(',', f);
        if (v->dims[i] >= 0)
            fprintf(f, "%" PRId64, v->dims[i]);
        else
            tfr_json_str(f, v->dim_param[i]);
    }
    fputs("]}", f);
}

static void report(const char *path, const tfr_onnx_summary *s, int json)
{
    if (json) {
        printf("{\"file\":");
        tfr_json_str(stdout, path);
        printf(",\"bytes\":%" PRIu64 ",\"ir_version\":%" PRId64 ",\"opset\":%" PRId64
               ",\"producer\":",
               s->bytes, s->ir_version, s->opset);
        tfr_json_str(stdout, s->producer);
        printf(",\"inputs\":[");
        for (int i = 0; i < s->ninputs && i < 8; i++) {
            if (i)
                putchar(',');
            json_value(stdout, &s->inputs[i]);
        }
        printf("],\"outputs\":[");
        for (int i = 0; i < s->noutputs && i < 8; i++) {
            if (i)
                putchar(',');
            json_value(stdout, &s->outputs[i]);
        }
        printf("],\"nodes\":%d,\"ops\":{", s->nnodes);
        for (int i = 0; i < s->nop_types && i < 32; i++) {
            printf("%s", i ? "," : "");
            tfr_json_str(stdout, s->ops[i].op_type);
            printf(":%d", s->ops[i].count);
        }
        printf("},\"initializers\":%d,\"parameters\":%" PRIu64 ",\"metadata\":{", s->ninitializers,
               s->params);
        for (int i = 0; i < s->nmeta; i++) {
            printf("%s", i ? "," : "");
            tfr_json_str(stdout, s->meta_keys[i]);
            putchar(':');
            tfr_json_str(stdout, s->meta_values[i]);
        }
        printf("}}\n");
        return;
    }
    printf("%s: ONNX IR %" PRId64 ", opset %" PRId64 ", %s, %.2f MB\n", path, s->ir_version,
           s->opset, s->producer[0] ? s->producer : "unknown producer", s->bytes / 1e6);
    for (int i = 0; i < s->ninputs && i < 8; i++) {
        printf("  input   ");
        print_value(stdout, &s->inputs[i]);
        putchar('\n');
    }
    for (int i = 0; i < s->noutputs && i < 8; i++) {
        printf("  output  ");
        print_value(stdout, &s->outputs[i]);
        putchar('\n');
    }
    printf("  %d nodes:", s->nnodes);
    for (int i = 0; i < s->nop_types && i < 32; i++)
        printf(" %s %d%s", s->ops[i].op_type, s->ops[i].count,
               i + 1 < s->nop_types && i < 31 ? "," : "");
    printf("\n  %" PRIu64 " parameters in %d initializers\n", s->params, s->ninitializers);
    for (int i = 0; i < s->nmeta; i++) {
        const char *v = s->meta_values[i];
        size_t n = strlen(v);
        printf("  %-24s %.*s%s\n", s->meta_keys[i], n > 100 ? 100 : (int)n, v,
               n > 100 ? "..." : "");
    }
}

int main(int argc, char **argv)
{
    const char *out = NULL, *show = NULL, *labels = NULL;
    int json = 0;
    tfr_onnx_opts o;
    tfr_onnx_opts_init(&o);
    cli_init(prog);
    static const char *const inputs[] = {"pixels", "float"};
    static const struct option lo[] = {{"onnx", required_argument, 0, 'o'},
                                       {"no-fold-bn", no_argument, 0, 'F'},
                                       {"round-weights", no_argument, 0, 'R'},
                                       {"input", required_argument, 0, 'i'},
                                       {"opset", required_argument, 0, 'O'},
                                       {"labels", required_argument, 0, 'L'},
                                       {"show", required_argument, 0, 's'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       CLI_VERSION_OPTION,
                                       {0, 0, 0, 0}};
    int c;
    while ((c = cli_getopt(argc, argv, "o:h", lo, usage)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'F': o.fold_bn = 0; break;
        case 'R': o.round_weights = 1; break;
        case 'i': o.input = (tfr_onnx_input)cli_enum("--input", optarg, inputs, 2); break;
        case 'O': o.opset = cli_int("--opset", optarg, 13, 17); break;
        case 'L': labels = optarg; break;
        case 's': show = optarg; break;
        case 'j': json = 1; break;
        default: return 2;
        }
    }
    tfr_error err;
    tfr_error_clear(&err);
    char buf[4400];
    tfr_onnx_summary s;
    if (show) {
        if (out || optind < argc)
            cli_usage_fail("--show takes only an ONNX file (and --json)");
        if (tfr_onnx_summarize(show, &s, &err)) {
            fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
            return 1;
        }
        report(show, &s, json);
        tfr_onnx_summary_free(&s);
        return 0;
    }
    if (optind >= argc)
        cli_usage_fail("needs a CHECKPOINT or MODEL_DIR to export");
    if (optind + 1 < argc)
        cli_usage_fail("one model at a time ('%s' is extra)", argv[optind + 1]);
    if (!out)
        cli_usage_fail("needs --onnx OUT.onnx");
    tfr_model *m;
    tfr_train_state ts;
    char mp[4400];
    if (cli_load_model(argv[optind], labels, &m, &ts, mp, sizeof mp))
        return 1;
    uint32_t crc;
    o.source = mp;
    o.state = &ts;
    if (tfr_checkpoint_checksum(mp, &crc, &err) == TFR_OK)
        o.source_crc = &crc;
    tfr_error_clear(&err);
    tfr_status st = tfr_onnx_export(m, out, &o, &s, &err);
    tfr_model_free(m);
    if (st) {
        fprintf(stderr, "%s: error: %s\n", prog, tfr_error_text(&err, buf, sizeof buf));
        return 1;
    }
    report(out, &s, json);
    if (!json && s.ninputs > 0) {
        const tfr_onnx_value *in = &s.inputs[0];
        printf("TensorRT: trtexec --onnx=%s --minShapes=%s:", out, in->name);
        print_shape(stdout, in, 1);
        printf(" --optShapes=%s:", in->name);
        print_shape(stdout, in, 32);
        printf(" --maxShapes=%s:", in->name);
        print_shape(stdout, in, 256);
        printf(" --saveEngine=model.plan\n");
    }
    tfr_onnx_summary_free(&s);
    return 0;
}
