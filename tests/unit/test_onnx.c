/*
 * tests/unit/test_onnx.c - tfr_onnx_export and tfr_onnx_summarize, read back
 * with the protobuf-c code generated from proto/onnx.proto:
 *  - the caller's model is unchanged by an export that folds and rounds;
 *  - unfolded, every weight and BN statistic is an initializer holding the
 *    model's exact bits, in ONNX's (K, C, R, S) and (K, C) layouts;
 *  - folded, each conv's kernel and bias equal the BN folding computed here
 *    in double (scale = gamma / sqrt(var + eps), bias = beta - mean * scale),
 *    and the BNs that follow an Add stay BatchNormalization;
 *  - conv attributes (kernel, stride, pads) follow the model; the input is
 *    uint8 NHWC or float NCHW with a symbolic batch;
 *  - the summary an export returns equals the file's;
 *  - bad options fail before anything is written.
 * ONNX Runtime and onnx.checker check the same files in test_onnx_cli.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "testutil.h"
#include "tfrecord/onnx.h"

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!strcmp(g->initializer[i]->name, name))
            return g->initializer[i];
    return NULL;
}

static const Onnx__NodeProto *find_node(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->name && !strcmp(g->node[i]->name, name))
            return g->node[i];
    return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; n && i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

static Onnx__ModelProto *load(const char *path)
{
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    Onnx__ModelProto *mp = b ? onnx__model_proto__unpack(NULL, n, b) : NULL;
    free(b);
    if (!mp)
        FAILF("%s does not parse as onnx.ModelProto", path);
    return mp;
}

static int count_op(const Onnx__GraphProto *g, const char *op)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += !strcmp(g->node[i]->op_type, op);
    return n;
}

int main(void)
{
    const char *dir = test_tmpdir("onnx");
    char path[700], pf[700], pu[700];
    snprintf(pu, sizeof pu, "%s/unfolded.onnx", dir);
    snprintf(pf, sizeof pf, "%s/folded.onnx", dir);
    tfr_error err;
    tfr_resnet_config cfg;
    tfr_model *m;
    EXPECT_OK(tfr_resnet_preset("tiny", &cfg, &err), &err);
    EXPECT_OK(tfr_model_new(&cfg, 5, &m, &err), &err);
    /* BN parameters and statistics away from their initial 1 / 0, so that
     * folding changes every number it touches */
    float *P, *S;
    size_t ns;
    EXPECT_OK(tfr_model_params(m, &P, &err), &err);
    EXPECT_OK(tfr_model_bn_stats(m, &S, &ns, &err), &err);
    size_t np = tfr_model_num_params(m);
    tfr_param_group gr[256];
    int ng = tfr_model_param_groups(m, gr, 256);
    uint64_t rs = 11;
    for (int i = 0; i < ng; i++)
        if (!strncmp(gr[i].name, "bn", 2))
            for (size_t j = 0; j < gr[i].count; j++)
                P[gr[i].offset + j] = (float)(0.5 + (test_rand(&rs) % 1000) / 1000.0);
    for (size_t j = 0; j < ns; j++) /* means in [-0.5, 0.5), variances in [0.2, 1.2) */
        S[j] = (float)((test_rand(&rs) % 1000) / 1000.0) - 0.5f;
    /* the second half of each BN's statistics are variances: make them positive */
    float *Sv;
    EXPECT_OK(tfr_model_bn_stats(m, &Sv, &ns, &err), &err);
    const char *names[4] = {"cat", "dog", NULL, "bird \"quoted\""};
    EXPECT_OK(tfr_model_set_class_names(m, names, 4, 0, &err), &err);
    tfr_model_set_normalization(m, 0.4f, 0.3f);

    /* BN layers: gamma groups, in order; their statistics follow s_off order */
    float *P0 = malloc(np * sizeof *P0), *S0 = malloc(ns * sizeof *S0);
    {
        /* variances positive: walk the gamma groups, each BN has c means then c variances */
        size_t off = 0;
        for (int i = 0; i < ng; i++)
            if (strstr(gr[i].name, "/gamma")) {
                size_t c = gr[i].count;
                for (size_t j = 0; j < c; j++)
                    Sv[off + c + j] = 0.2f + (float)((test_rand(&rs) % 1000) / 1000.0);
                off += 2 * c;
            }
        EXPECT_EQ_U(off, ns);
    }
    memcpy(P0, P, np * sizeof *P0);
    memcpy(S0, S, ns * sizeof *S0);

    /* unfolded: the model's exact values */
    tfr_onnx_opts o;
    tfr_onnx_opts_init(&o);
    EXPECT_EQ_I(o.fold_bn, 1);
    EXPECT_EQ_I(o.opset, 13);
    o.fold_bn = 0;
    tfr_onnx_summary su;
    EXPECT_OK(tfr_onnx_export(m, pu, &o, &su, &err), &err);
    Onnx__ModelProto *mu = load(pu);
    /* folded and rounded, into another file: the model stays as it was */
    tfr_onnx_opts_init(&o);
    o.round_weights = 1;
    tfr_onnx_summary sr;
    snprintf(path, sizeof path, "%s/rounded.onnx", dir);
    EXPECT_OK(tfr_onnx_export(m, path, &o, &sr, &err), &err);
    EXPECT(!memcmp(P, P0, np * sizeof *P0));
    EXPECT(!memcmp(S, S0, ns * sizeof *S0));
    tfr_onnx_summary_free(&sr);
    tfr_onnx_opts_init(&o);
    tfr_onnx_summary sf;
    EXPECT_OK(tfr_onnx_export(m, pf, &o, &sf, &err), &err);
    Onnx__ModelProto *mf = load(pf);

    if (mu && mf) {
        const Onnx__GraphProto *gu = mu->graph, *gf = mf->graph;
        EXPECT_EQ_I(mu->ir_version, 7);
        EXPECT_EQ_I(mu->n_opset_import, 1);
        EXPECT_EQ_I(mu->opset_import[0]->version, 13);
        EXPECT_STR(mu->producer_name, "tfrecord-tools");
        /* every parameter group as an initializer with the model's bits */
        size_t total = 0;
        for (int i = 0; i < ng; i++) {
            const Onnx__TensorProto *t = find_init(gu, gr[i].name);
            if (!t) {
                FAILF("no initializer %s", gr[i].name);
                continue;
            }
            size_t n = 1;
            for (size_t d = 0; d < t->n_dims; d++)
                n *= (size_t)t->dims[d];
            EXPECT_EQ_U(n, gr[i].count);
            EXPECT_EQ_U(t->raw_data.len, gr[i].count * sizeof(float));
            EXPECT(t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
            EXPECT(!memcmp(t->raw_data.data, P0 + gr[i].offset, gr[i].count * sizeof(float)));
            total += gr[i].count;
        }
        EXPECT_EQ_U(total, np);
        /* conv01: 3x3, stride 1, pad 1 over the 3 input channels; a 4-D kernel */
        const Onnx__TensorProto *k1 = find_init(gu, "conv01/kernel");
        EXPECT(k1 && k1->n_dims == 4 && k1->dims[0] == cfg.width && k1->dims[1] == 3 &&
               k1->dims[2] == 3 && k1->dims[3] == 3);
        const Onnx__NodeProto *c1 = find_node(gu, "conv01");
        const Onnx__AttributeProto *ks = find_attr(c1, "kernel_shape"), *pd = find_attr(c1, "pads"),
                                   *st = find_attr(c1, "strides");
        EXPECT(ks && ks->n_ints == 2 && ks->ints[0] == 3 && ks->ints[1] == 3);
        EXPECT(pd && pd->n_ints == 4 && pd->ints[0] == 1 && pd->ints[3] == 1);
        EXPECT(st && st->n_ints == 2 && st->ints[0] == 1);
        /* the second level starts with a stride-2 1x1 conv (conv06 in tiny) */
        int stride2 = 0;
        for (size_t i = 0; i < gu->n_node; i++) {
            const Onnx__AttributeProto *s2 = find_attr(gu->node[i], "strides");
            stride2 += s2 && s2->ints[0] == 2;
        }
        EXPECT(stride2 >= 2); /* the block's conv and its projection */
        /* input: uint8 [batch, 8, 8, 3] */
        EXPECT_EQ_I(gu->n_input, 1);
        const Onnx__TypeProto__Tensor *tt = gu->input[0]->type->tensor_type;
        EXPECT_STR(gu->input[0]->name, "pixels");
        EXPECT(tt->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
        EXPECT(tt->shape->n_dim == 4 && tt->shape->dim[0]->value_case ==
                                            ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
        EXPECT(tt->shape->dim[1]->dim_value == 8 && tt->shape->dim[3]->dim_value == 3);
        EXPECT_EQ_I(gu->n_output, 2);
        EXPECT_STR(gu->output[0]->name, "logits");
        EXPECT_STR(gu->output[1]->name, "probabilities");

        /* folded: conv kernels scaled per filter, a bias where a BN was */
        int nbn_u = count_op(gu, "BatchNormalization"), nbn_f = count_op(gf, "BatchNormalization");
        const char *nf = tfr_onnx_summary_meta(&sf, "folded_batch_norms");
        EXPECT(nf && atoi(nf) > 0 && nbn_u - nbn_f == atoi(nf));
        EXPECT(nbn_f > 0); /* a BN after an Add (the blocks' pre-activation) cannot fold */
        EXPECT_EQ_I(count_op(gf, "Conv"), count_op(gu, "Conv"));
        const float eps = 1e-5f;
        int checked = 0;
        for (size_t i = 0; i < gf->n_node; i++) {
            const Onnx__NodeProto *nd = gf->node[i];
            if (strcmp(nd->op_type, "Conv") || nd->n_input < 3)
                continue;
            /* the conv's unfolded output feeds a BN in the unfolded graph */
            const Onnx__NodeProto *bn = NULL;
            for (size_t j = 0; j < gu->n_node; j++)
                if (!strcmp(gu->node[j]->op_type, "BatchNormalization") &&
                    !strcmp(gu->node[j]->input[0], nd->name))
                    bn = gu->node[j];
            if (!bn) {
                FAILF("folded %s has a bias but no BN follows it unfolded", nd->name);
                continue;
            }
            const Onnx__TensorProto *wu = find_init(gu, nd->input[1]),
                                    *wf = find_init(gf, nd->input[1]),
                                    *bf = find_init(gf, nd->input[2]),
                                    *g = find_init(gu, bn->input[1]), *be = find_init(gu, bn->input[2]),
                                    *mu_ = find_init(gu, bn->input[3]),
                                    *var = find_init(gu, bn->input[4]);
            if (!wu || !wf || !bf || !g || !be || !mu_ || !var) {
                FAILF("%s: an initializer is missing", nd->name);
                continue;
            }
            size_t K = (size_t)wu->dims[0], per = wu->raw_data.len / sizeof(float) / K;
            const float *Wu = (const float *)wu->raw_data.data, *Wf = (const float *)wf->raw_data.data,
                        *Bf = (const float *)bf->raw_data.data, *G = (const float *)g->raw_data.data,
                        *Be = (const float *)be->raw_data.data, *M = (const float *)mu_->raw_data.data,
                        *V = (const float *)var->raw_data.data;
            double worst = 0;
            for (size_t k = 0; k < K; k++) {
                double scale = G[k] / sqrt((double)V[k] + eps);
                for (size_t j = 0; j < per; j++)
                    worst = fmax(worst, fabs(Wf[k * per + j] - Wu[k * per + j] * scale));
                worst = fmax(worst, fabs(Bf[k] - (Be[k] - M[k] * scale)));
            }
            if (worst > 1e-6)
                FAILF("%s: folded values off by %g", nd->name, worst);
            checked++;
        }
        EXPECT_EQ_I(checked, atoi(nf ? nf : "0"));

        /* metadata: names (JSON, null where unnamed), normalization */
        const char *cn = tfr_onnx_summary_meta(&sf, "class_names");
        EXPECT(cn && !strcmp(cn, "[\"cat\",\"dog\",null,\"bird \\\"quoted\\\"\"]"));
        const char *pp = tfr_onnx_summary_meta(&sf, "preprocessing");
        EXPECT(pp && strstr(pp, "\"mean\":0.400000006") && strstr(pp, "\"std\":0.300000012"));
    }

    /* the summary returned by an export is the file's */
    tfr_onnx_summary rf;
    EXPECT_OK(tfr_onnx_summarize(pf, &rf, &err), &err);
    EXPECT_EQ_U(rf.bytes, sf.bytes);
    EXPECT_EQ_U(rf.params, sf.params);
    EXPECT_EQ_I(rf.nnodes, sf.nnodes);
    EXPECT_EQ_I(rf.nop_types, sf.nop_types);
    EXPECT_EQ_I(rf.nmeta, sf.nmeta);
    EXPECT_STR(rf.inputs[0].name, "pixels");
    EXPECT_EQ_I(rf.inputs[0].rank, 4);
    EXPECT_EQ_I(rf.inputs[0].dims[0], -1);
    EXPECT_STR(rf.inputs[0].dim_param[0], "batch");
    EXPECT_EQ_I(rf.opset, 13);
    /* unfolded: parameters, BN statistics and the three normalization
     * constants (255, mean, std); folded: fewer BNs */
    EXPECT_EQ_U(su.params, np + ns + 3);
    EXPECT(sf.params < su.params);
    tfr_onnx_summary_free(&rf);
    tfr_onnx_summary_free(&rf);

    /* float input, opset 17: IR 8, float [batch, 3, 8, 8] */
    tfr_onnx_opts_init(&o);
    o.input = TFR_ONNX_FLOAT;
    o.opset = 17;
    snprintf(path, sizeof path, "%s/float.onnx", dir);
    tfr_onnx_summary sl;
    EXPECT_OK(tfr_onnx_export(m, path, &o, &sl, &err), &err);
    EXPECT_STR(sl.inputs[0].name, "input");
    EXPECT_STR(sl.inputs[0].elem, "float32");
    EXPECT(sl.inputs[0].dims[1] == 3 && sl.inputs[0].dims[2] == 8);
    EXPECT_EQ_I(sl.ir_version, 8);
    EXPECT_EQ_I(sl.opset, 17);
    tfr_onnx_summary_free(&sl);

    /* bad options: refused before a file is made */
    snprintf(path, sizeof path, "%s/never.onnx", dir);
    tfr_onnx_opts_init(&o);
    o.opset = 12;
    EXPECT_STATUS(tfr_onnx_export(m, path, &o, NULL, &err), TFR_ERR_ARG);
    o.opset = 13;
    o.input = (tfr_onnx_input)7;
    EXPECT_STATUS(tfr_onnx_export(m, path, &o, NULL, &err), TFR_ERR_ARG);
    EXPECT(access(path, F_OK) != 0);
    /* an unwritable place: an error naming it, nothing left */
    snprintf(path, sizeof path, "%s/no/such/dir/m.onnx", dir);
    EXPECT_STATUS(tfr_onnx_export(m, path, NULL, NULL, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.path, "no/such/dir");
    /* not ONNX */
    EXPECT_STATUS(tfr_onnx_summarize(TFR_SRC_DIR "/README.md", &rf, &err), TFR_ERR_FORMAT);

    onnx__model_proto__free_unpacked(mu, NULL);
    onnx__model_proto__free_unpacked(mf, NULL);
    tfr_onnx_summary_free(&su);
    tfr_onnx_summary_free(&sf);
    free(P0);
    free(S0);
    tfr_model_free(m);
    test_rmtree(dir);
    return test_failures() ? 1 : 0;
}
