/*
 * nn/onnx.c - THE owner of the ONNX format (proto/onnx.proto): a model's
 * graph as an ONNX ModelProto, written atomically, and the summary of any
 * ONNX file (tfrecord/onnx.h).
 *
 * The export works on a copy of the model (tfr_model_with_head with the
 * model's own dense layer), folded and rounded there, so the caller's model
 * is never changed. Every protobuf-c structure lives in one arena; the
 * initializers point straight into the copy's parameter and statistics
 * blocks (raw_data, little-endian float32, as ONNX stores it), so a model is
 * held once in memory while it is packed to the file.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"
#include "onnx.pb-c.h"
#include "tfrecord/onnx.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/fsio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ONNX raw_data is little-endian; this file writes host floats as they are"
#endif

/* protobuf's own 2 GiB message limit, which ONNX readers enforce */
#define ONNX_MAX_BYTES ((size_t)INT32_MAX)

void tfr_onnx_opts_init(tfr_onnx_opts *o)
{
    memset(o, 0, sizeof *o);
    o->fold_bn = 1;
    o->input = TFR_ONNX_PIXELS;
    o->opset = 13;
}

/* ---- building the graph in an arena ------------------------------------------ */

typedef struct builder {
    tfr_arena a;
    int       oom;
    Onnx__GraphProto *g;
    size_t    node_cap, init_cap;
} builder;

static void *b_alloc(builder *b, size_t n)
{
    void *p = tfr_arena_alloc(&b->a, n ? n : 1);
    if (!p) {
        b->oom = 1;
        return NULL;
    }
    memset(p, 0, n ? n : 1);
    return p;
}

static char *b_str(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *b_str(builder *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? b_alloc(b, (size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

static Onnx__AttributeProto *attr_new(builder *b, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *at = b_alloc(b, sizeof *at);
    if (!at)
        return NULL;
    onnx__attribute_proto__init(at);
    at->name = (char *)name;
    at->has_type = 1;
    at->type = type;
    return at;
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v)
{
    Onnx__AttributeProto *at = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (at) {
        at->has_i = 1;
        at->i = v;
    }
    return at;
}

static Onnx__AttributeProto *attr_float(builder *b, const char *name, float v)
{
    Onnx__AttributeProto *at = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (at) {
        at->has_f = 1;
        at->f = v;
    }
    return at;
}

static Onnx__AttributeProto *attr_ints(builder *b, const char *name, int n, const int64_t *v)
{
    Onnx__AttributeProto *at = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *c = b_alloc(b, (size_t)n * sizeof *c);
    if (!at || !c)
        return NULL;
    memcpy(c, v, (size_t)n * sizeof *c);
    at->n_ints = (size_t)n;
    at->ints = c;
    return at;
}

/* A node of op_type reading the NULL-terminated inputs; its one output is
 * named out. Attributes are added by the caller (node_attr). */
static Onnx__NodeProto *node_add(builder *b, const char *op_type, const char *name,
                                 const char *out, const char *const *in)
{
    Onnx__GraphProto *g = b->g;
    if (b->oom)
        return NULL;
    if (g->n_node == b->node_cap) {
        size_t cap = b->node_cap ? b->node_cap * 2 : 64;
        Onnx__NodeProto **v = b_alloc(b, cap * sizeof *v);
        if (!v)
            return NULL;
        if (g->n_node)
            memcpy(v, g->node, g->n_node * sizeof *v);
        g->node = v;
        b->node_cap = cap;
    }
    Onnx__NodeProto *nd = b_alloc(b, sizeof *nd);
    size_t nin = 0;
    while (in[nin])
        nin++;
    char **ins = b_alloc(b, nin * sizeof *ins), **outs = b_alloc(b, sizeof *outs);
    if (!nd || !ins || !outs)
        return NULL;
    onnx__node_proto__init(nd);
    nd->op_type = (char *)op_type;
    nd->name = (char *)name;
    for (size_t i = 0; i < nin; i++)
        ins[i] = (char *)in[i];
    nd->n_input = nin;
    nd->input = ins;
    outs[0] = (char *)out;
    nd->n_output = 1;
    nd->output = outs;
    g->node[g->n_node++] = nd;
    return nd;
}

static void node_attrs(builder *b, Onnx__NodeProto *nd, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    Onnx__AttributeProto **v = nd ? b_alloc(b, (size_t)n * sizeof *v) : NULL;
    for (int i = 0; i < n; i++) {
        Onnx__AttributeProto *at = va_arg(ap, Onnx__AttributeProto *);
        if (v)
            v[i] = at;
        if (!at)
            b->oom = 1;
    }
    va_end(ap);
    if (v && !b->oom) {
        nd->n_attribute = (size_t)n;
        nd->attribute = v;
    }
}

/* A float32 initializer over data (not copied: it must outlive the pack). */
static void init_add(builder *b, const char *name, int rank, const int64_t *dims,
                     const float *data, size_t count)
{
    Onnx__GraphProto *g = b->g;
    if (b->oom)
        return;
    if (g->n_initializer == b->init_cap) {
        size_t cap = b->init_cap ? b->init_cap * 2 : 64;
        Onnx__TensorProto **v = b_alloc(b, cap * sizeof *v);
        if (!v)
            return;
        if (g->n_initializer)
            memcpy(v, g->initializer, g->n_initializer * sizeof *v);
        g->initializer = v;
        b->init_cap = cap;
    }
    Onnx__TensorProto *t = b_alloc(b, sizeof *t);
    int64_t *d = b_alloc(b, (size_t)(rank ? rank : 1) * sizeof *d);
    if (!t || !d)
        return;
    onnx__tensor_proto__init(t);
    for (int i = 0; i < rank; i++)
        d[i] = dims[i];
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->name = (char *)name;
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
    g->initializer[g->n_initializer++] = t;
}

/* A tensor-typed graph input or output; a dims entry < 0 is the symbolic "batch". */
static Onnx__ValueInfoProto *value_info(builder *b, const char *name, int elem, int rank,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *v = b_alloc(b, sizeof *v);
    Onnx__TypeProto *tp = b_alloc(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = b_alloc(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = b_alloc(b, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dv = b_alloc(b, (size_t)rank * sizeof *dv);
    if (!v || !tp || !tt || !sh || !dv)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = b_alloc(b, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "batch";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        dv[i] = d;
    }
    sh->n_dim = (size_t)rank;
    sh->dim = dv;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = (char *)name;
    v->type = tp;
    return v;
}

/* ---- metadata ------------------------------------------------------------------ */

/* JSON text rendered by fn into a string of the arena */
static char *b_json(builder *b, void (*fn)(FILE *f, const void *ctx), const void *ctx)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        b->oom = 1;
        return NULL;
    }
    fn(f, ctx);
    int bad = ferror(f);
    char *s = NULL;
    if (fclose(f) == 0 && !bad && (s = b_alloc(b, len + 1)))
        memcpy(s, buf, len + 1);
    else
        b->oom = 1;
    free(buf);
    return s;
}

static void json_names(FILE *f, const void *ctx)
{
    const tfr_model *m = ctx;
    int K = tfr_model_config(m)->classes;
    fputc('[', f);
    for (int k = 0; k < K; k++) {
        const char *nm = tfr_model_class_name(m, k);
        if (k)
            fputc(',', f);
        if (nm)
            tfr_json_str(f, nm);
        else
            fputs("null", f);
    }
    fputc(']', f);
}

typedef struct prep_ctx {
    const tfr_resnet_config *c;
    float mean, std;
    int   in_graph;
} prep_ctx;

static void json_prep(FILE *f, const void *ctx)
{
    const prep_ctx *p = ctx;
    const tfr_resnet_config *c = p->c;
    fprintf(f,
            "{\"input\":\"%s\",\"dtype\":\"%s\",\"layout\":\"%s\",\"height\":%d,\"width\":%d,"
            "\"channels\":%d,\"color\":\"%s\",\"resize\":\"the whole image to %dx%d, no crop\","
            "\"normalization\":\"(x / 255 - mean) / std\",\"mean\":%.9g,\"std\":%.9g,"
            "\"normalized_in_graph\":%s}",
            p->in_graph ? "pixels" : "input", p->in_graph ? "uint8" : "float32",
            p->in_graph ? "NHWC" : "NCHW", c->in_h, c->in_w, c->in_c,
            c->in_c == 1 ? "grayscale" : "RGB", c->in_w, c->in_h, (double)p->mean,
            (double)p->std, p->in_graph ? "true" : "false");
}

static void json_arch(FILE *f, const void *ctx)
{
    const tfr_resnet_config *c = ctx;
    fprintf(f,
            "{\"network\":\"pre-activation %s ResNet\",\"input\":[%d,%d,%d],"
            "\"classes\":%d,\"width\":%d,\"levels\":[",
            tfr_resnet_block_name(c), c->in_h, c->in_w, c->in_c, c->classes, c->width);
    for (int i = 0; i < c->nlevels; i++)
        fprintf(f, "%s%d", i ? "," : "", c->levels[i]);
    fprintf(f, "],\"tail_pool\":%d,\"block\":\"%s\"}", c->tail_pool, tfr_resnet_block_name(c));
}

static void meta_add(builder *b, Onnx__ModelProto *mp, size_t *cap, const char *key,
                     const char *value)
{
    if (b->oom || !value) {
        b->oom |= !value;
        return;
    }
    if (mp->n_metadata_props == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        Onnx__StringStringEntryProto **v = b_alloc(b, nc * sizeof *v);
        if (!v)
            return;
        if (mp->n_metadata_props)
            memcpy(v, mp->metadata_props, mp->n_metadata_props * sizeof *v);
        mp->metadata_props = v;
        *cap = nc;
    }
    Onnx__StringStringEntryProto *e = b_alloc(b, sizeof *e);
    if (!e)
        return;
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key;
    e->value = (char *)value;
    mp->metadata_props[mp->n_metadata_props++] = e;
}

/* ---- the network ------------------------------------------------------------- */

/* Adds the graph of the model (its parameter and statistics blocks P, S)
 * reading tensor `x0`; returns the name of the logits tensor. */
static void build_network(builder *b, const tfr_model *m, const float *P, const float *S,
                          int fold, const char *x0)
{
    int nn = tfr_model_graph(m, NULL, 0);
    tfr_graph_node *nodes = tfr_calloc((size_t)nn, sizeof *nodes);
    /* nn + 1 tensors: tensor 0 is the input, op i writes tensor i + 1 */
    const char **tname = tfr_calloc((size_t)nn + 2, sizeof *tname);
    if (!nodes || !tname) {
        b->oom = 1;
        goto done;
    }
    tfr_model_graph(m, nodes, nn);
    tname[0] = x0;
    int nconv = 0, nbn = 0, nrelu = 0, npool = 0, nadd = 0;
    for (int i = 0; i < nn && !b->oom; i++) {
        const tfr_graph_node *o = &nodes[i];
        const char *x = tname[o->in];
        switch (o->kind) {
        case TFR_NODE_CONV: {
            ++nconv;
            /* a BN folded into this conv gives it a bias; the conv's output
             * then stands for the BN's */
            const tfr_graph_node *bn = NULL;
            for (int j = i + 1; j < nn && fold; j++)
                if (nodes[j].kind == TFR_NODE_BN && nodes[j].folds_into == i)
                    bn = &nodes[j];
            const char *w = b_str(b, "conv%02d/kernel", nconv);
            int64_t wd[4] = {o->k, o->in_c, o->r, o->r};
            init_add(b, w, 4, wd, P + o->w_off, (size_t)o->k * o->in_c * o->r * o->r);
            const char *bias = NULL;
            if (bn) {
                bias = b_str(b, "conv%02d/bias", nconv);
                int64_t bd[1] = {o->k};
                /* folded: gamma 1, mean 0, var 1 - eps; what is left is beta */
                init_add(b, bias, 1, bd, P + bn->b_off, (size_t)o->k);
            }
            const char *name = b_str(b, "conv%02d", nconv);
            const char *in[] = {x, w, bias, NULL};
            Onnx__NodeProto *nd = node_add(b, "Conv", name, name, in);
            int64_t ks[2] = {o->r, o->r}, st[2] = {o->stride, o->stride},
                    pd[4] = {o->pad, o->pad, o->pad, o->pad}, dl[2] = {1, 1};
            node_attrs(b, nd, 5, attr_ints(b, "kernel_shape", 2, ks),
                       attr_ints(b, "strides", 2, st), attr_ints(b, "pads", 4, pd),
                       attr_ints(b, "dilations", 2, dl), attr_int(b, "group", 1));
            tname[o->out] = name;
            break;
        }
        case TFR_NODE_BN: {
            nbn++;
            if (fold && o->folds_into >= 0) {
                tname[o->out] = x; /* the conv's output, with its bias */
                break;
            }
            const char *g = b_str(b, "bn%02d/gamma", nbn), *be = b_str(b, "bn%02d/beta", nbn),
                       *mu = b_str(b, "bn%02d/moving_mean", nbn),
                       *var = b_str(b, "bn%02d/moving_variance", nbn);
            int64_t d[1] = {o->c};
            init_add(b, g, 1, d, P + o->w_off, (size_t)o->c);
            init_add(b, be, 1, d, P + o->b_off, (size_t)o->c);
            init_add(b, mu, 1, d, S + o->s_off, (size_t)o->c);
            init_add(b, var, 1, d, S + o->s_off + (size_t)o->c, (size_t)o->c);
            const char *name = b_str(b, "bn%02d", nbn);
            const char *in[] = {x, g, be, mu, var, NULL};
            Onnx__NodeProto *nd = node_add(b, "BatchNormalization", name, name, in);
            node_attrs(b, nd, 1, attr_float(b, "epsilon", TFR_BN_EPS));
            tname[o->out] = name;
            break;
        }
        case TFR_NODE_RELU: {
            const char *name = b_str(b, "relu%02d", ++nrelu);
            const char *in[] = {x, NULL};
            node_add(b, "Relu", name, name, in);
            tname[o->out] = name;
            break;
        }
        case TFR_NODE_POOL: {
            const char *name = b_str(b, "maxpool%02d", ++npool);
            const char *in[] = {x, NULL};
            Onnx__NodeProto *nd = node_add(b, "MaxPool", name, name, in);
            int64_t ks[2] = {2, 2};
            node_attrs(b, nd, 2, attr_ints(b, "kernel_shape", 2, ks),
                       attr_ints(b, "strides", 2, ks));
            tname[o->out] = name;
            break;
        }
        case TFR_NODE_ADD: {
            const char *name = b_str(b, "add%02d", ++nadd);
            const char *in[] = {x, tname[o->in2], NULL};
            node_add(b, "Add", name, name, in);
            tname[o->out] = name;
            break;
        }
        case TFR_NODE_GAP: {
            const char *in[] = {x, NULL}, *in2[] = {"global_pool", NULL};
            node_add(b, "GlobalAveragePool", "global_pool", "global_pool", in);
            Onnx__NodeProto *nd = node_add(b, "Flatten", "features", "features", in2);
            node_attrs(b, nd, 1, attr_int(b, "axis", 1));
            tname[o->out] = "features";
            break;
        }
        case TFR_NODE_DENSE: {
            int64_t wd[2] = {o->k, o->in_c}, bd[1] = {o->k};
            init_add(b, "dense/kernel", 2, wd, P + o->w_off, (size_t)o->k * o->in_c);
            init_add(b, "dense/bias", 1, bd, P + o->b_off, (size_t)o->k);
            const char *in[] = {x, "dense/kernel", "dense/bias", NULL};
            Onnx__NodeProto *nd = node_add(b, "Gemm", "dense", "logits", in);
            node_attrs(b, nd, 1, attr_int(b, "transB", 1));
            tname[o->out] = "logits";
            break;
        }
        }
        if (!tname[o->out])
            b->oom = 1;
    }
    {
        const char *in[] = {"logits", NULL};
        Onnx__NodeProto *nd = node_add(b, "Softmax", "softmax", "probabilities", in);
        node_attrs(b, nd, 1, attr_int(b, "axis", 1));
    }
done:
    free(nodes);
    free(tname);
}

/* ---- summaries ------------------------------------------------------------------ */

static const char *elem_name(int t)
{
    static const char *const names[] = {"undefined", "float32", "uint8",  "int8",
                                        "uint16",    "int16",   "int32",  "int64",
                                        "string",    "bool",    "float16", "float64",
                                        "uint32",    "uint64",  "complex64", "complex128",
                                        "bfloat16"};
    return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

static void describe_value(const Onnx__ValueInfoProto *v, tfr_onnx_value *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", v->name ? v->name : "");
    out->rank = -1;
    const Onnx__TypeProto *tp = v->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        snprintf(out->elem, sizeof out->elem, "non-tensor");
        return;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    snprintf(out->elem, sizeof out->elem, "%s", elem_name(tt->has_elem_type ? tt->elem_type : 0));
    if (!tt->shape)
        return;
    out->rank = (int)(tt->shape->n_dim < TFR_ONNX_MAX_RANK ? tt->shape->n_dim : TFR_ONNX_MAX_RANK);
    for (int i = 0; i < out->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        out->dims[i] = -1;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            out->dims[i] = d->dim_value;
        else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 d->dim_param)
            snprintf(out->dim_param[i], sizeof out->dim_param[i], "%s", d->dim_param);
    }
}

static char *dup_str(const char *s) { return tfr_strdup(s ? s : ""); }

static tfr_status summarize(const Onnx__ModelProto *mp, uint64_t bytes, const char *path,
                            tfr_onnx_summary *out, tfr_error *err)
{
    memset(out, 0, sizeof *out);
    const Onnx__GraphProto *g = mp->graph;
    if (!g)
        return tfr_fail(err, TFR_ERR_FORMAT, path, "an ONNX model without a graph");
    out->bytes = bytes;
    out->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
        if ((!os->domain || !os->domain[0] || !strcmp(os->domain, "ai.onnx")) && os->has_version)
            out->opset = os->version;
    }
    snprintf(out->producer, sizeof out->producer, "%s%s%s",
             mp->producer_name ? mp->producer_name : "",
             mp->producer_version ? " " : "", mp->producer_version ? mp->producer_version : "");
    out->ninputs = (int)g->n_input;
    out->noutputs = (int)g->n_output;
    for (size_t i = 0; i < g->n_input && i < 8; i++)
        describe_value(g->input[i], &out->inputs[i]);
    for (size_t i = 0; i < g->n_output && i < 8; i++)
        describe_value(g->output[i], &out->outputs[i]);
    out->nnodes = (int)g->n_node;
    for (size_t i = 0; i < g->n_node; i++) {
        const char *op = g->node[i]->op_type ? g->node[i]->op_type : "";
        int j = 0;
        while (j < out->nop_types && j < 32 && strcmp(out->ops[j].op_type, op))
            j++;
        if (j == out->nop_types) {
            out->nop_types++;
            if (j < 32)
                snprintf(out->ops[j].op_type, sizeof out->ops[j].op_type, "%s", op);
        }
        if (j < 32)
            out->ops[j].count++;
    }
    out->ninitializers = (int)g->n_initializer;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        uint64_t n = 1;
        for (size_t d = 0; d < t->n_dims; d++)
            n = t->dims[d] > 0 && n <= UINT64_MAX / (uint64_t)t->dims[d] ? n * (uint64_t)t->dims[d]
                                                                           : 0;
        out->params += n;
    }
    if (mp->n_metadata_props) {
        out->meta_keys = tfr_calloc(mp->n_metadata_props, sizeof *out->meta_keys);
        out->meta_values = tfr_calloc(mp->n_metadata_props, sizeof *out->meta_values);
        if (!out->meta_keys || !out->meta_values)
            goto oom;
        for (size_t i = 0; i < mp->n_metadata_props; i++) {
            out->meta_keys[i] = dup_str(mp->metadata_props[i]->key);
            out->meta_values[i] = dup_str(mp->metadata_props[i]->value);
            out->nmeta = (int)i + 1;
            if (!out->meta_keys[i] || !out->meta_values[i])
                goto oom;
        }
    }
    return TFR_OK;
oom:
    tfr_onnx_summary_free(out);
    return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
}

void tfr_onnx_summary_free(tfr_onnx_summary *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nmeta; i++) {
        free(s->meta_keys ? s->meta_keys[i] : NULL);
        free(s->meta_values ? s->meta_values[i] : NULL);
    }
    free(s->meta_keys);
    free(s->meta_values);
    s->meta_keys = s->meta_values = NULL;
    s->nmeta = 0;
}

const char *tfr_onnx_summary_meta(const tfr_onnx_summary *s, const char *key)
{
    for (int i = 0; i < s->nmeta; i++)
        if (s->meta_keys[i] && !strcmp(s->meta_keys[i], key))
            return s->meta_values[i];
    return NULL;
}

/* protobuf-c's allocator, through util/alloc.h */
static void *pb_alloc(void *ud, size_t n)
{
    (void)ud;
    return tfr_malloc(n ? n : 1);
}
static void pb_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

tfr_status tfr_onnx_summarize(const char *path, tfr_onnx_summary *out, tfr_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t n;
    tfr_status st = tfr_read_file(path, ONNX_MAX_BYTES, "ONNX model", &data, &n, err);
    if (st)
        return st;
    ProtobufCAllocator al = {pb_alloc, pb_free, NULL};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&al, n, data);
    if (n == 0)
        st = tfr_fail(err, TFR_ERR_FORMAT, path, "an empty file, not an ONNX model");
    else if (!mp)
        st = tfr_fail(err, TFR_ERR_FORMAT, path,
                      "not an ONNX model: %zu bytes that do not parse as an onnx.ModelProto "
                      "(truncated or another format)", n);
    else if (!mp->graph || (!mp->has_ir_version && !mp->n_opset_import))
        st = tfr_fail(err, TFR_ERR_FORMAT, path,
                      "not an ONNX model: no graph, IR version or opset import");
    else
        st = summarize(mp, n, path, out, err);
    if (mp)
        onnx__model_proto__free_unpacked(mp, &al);
    free(data);
    return st;
}

/* ---- export ------------------------------------------------------------------- */

typedef struct file_sink {
    ProtobufCBuffer base;
    FILE *f;
    int   bad;
} file_sink;

static void sink_append(ProtobufCBuffer *pb, size_t len, const uint8_t *data)
{
    file_sink *s = (file_sink *)pb;
    if (!s->bad && len && fwrite(data, 1, len, s->f) != len)
        s->bad = 1;
}

tfr_status tfr_onnx_export(const tfr_model *m, const char *path, const tfr_onnx_opts *o,
                           tfr_onnx_summary *summary, tfr_error *err)
{
    tfr_onnx_opts def;
    if (!o) {
        tfr_onnx_opts_init(&def);
        o = &def;
    }
    if (summary)
        memset(summary, 0, sizeof *summary);
    if (o->opset < 13 || o->opset > 17)
        return tfr_fail(err, TFR_ERR_ARG, path, "opset %d: 13..17 are supported", o->opset);
    if (o->input != TFR_ONNX_PIXELS && o->input != TFR_ONNX_FLOAT)
        return tfr_fail(err, TFR_ERR_ARG, path, "unknown input kind %d", (int)o->input);
    const tfr_resnet_config *cfg = tfr_model_config(m);

    /* a CPU copy to fold and round: the dense layer's own values as its head */
    tfr_status st = tfr_model_to_host((tfr_model *)m, err);
    if (st)
        return st;
    tfr_graph_node last;
    int nn = tfr_model_graph(m, NULL, 0);
    {
        tfr_graph_node *all = tfr_calloc((size_t)nn, sizeof *all);
        if (!all)
            return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
        tfr_model_graph(m, all, nn);
        last = all[nn - 1];
        free(all);
    }
    size_t np;
    const float *P0 = tfr_model_block_view(m, TFR_BLOCK_PARAMS, &np);
    tfr_model *cp = NULL;
    if ((st = tfr_model_with_head(m, cfg->classes, P0 + last.w_off, P0 + last.b_off, &cp, err)))
        return st;
    int folded = 0;
    if ((o->fold_bn && (st = tfr_model_fold_bn(cp, &folded, err))) ||
        (o->round_weights && (st = tfr_model_round_weights(cp, err)))) {
        tfr_model_free(cp);
        return st;
    }
    size_t ns;
    const float *P = tfr_model_block_view(cp, TFR_BLOCK_PARAMS, &np);
    const float *S = tfr_model_block_view(cp, TFR_BLOCK_STATS, &ns);

    builder b;
    memset(&b, 0, sizeof b);
    tfr_arena_init(&b.a, 64 << 10);
    Onnx__ModelProto mp;
    Onnx__GraphProto g;
    onnx__model_proto__init(&mp);
    onnx__graph_proto__init(&g);
    b.g = &g;
    g.name = "tfrecord_resnet";

    float mean = 0.5f, std = 0.25f;
    int have_norm = tfr_model_normalization(m, &mean, &std);
    const int pixels = o->input == TFR_ONNX_PIXELS;
    float c255 = 255.0f;
    if (pixels) {
        /* uint8 NHWC -> float NCHW -> (x / 255 - mean) / std, in the order
         * and precision the library normalizes in */
        const char *in[] = {"pixels", NULL};
        Onnx__NodeProto *nd = node_add(&b, "Cast", "to_float", "pixels_float", in);
        node_attrs(&b, nd, 1, attr_int(&b, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT));
        const char *in2[] = {"pixels_float", NULL};
        int64_t perm[4] = {0, 3, 1, 2};
        nd = node_add(&b, "Transpose", "to_nchw", "pixels_nchw", in2);
        node_attrs(&b, nd, 1, attr_ints(&b, "perm", 4, perm));
        init_add(&b, "norm/255", 0, NULL, &c255, 1);
        init_add(&b, "norm/mean", 0, NULL, &mean, 1);
        init_add(&b, "norm/std", 0, NULL, &std, 1);
        const char *d1[] = {"pixels_nchw", "norm/255", NULL}, *s1[] = {"scaled", "norm/mean", NULL},
                   *d2[] = {"centered", "norm/std", NULL};
        node_add(&b, "Div", "scale", "scaled", d1);
        node_add(&b, "Sub", "center", "centered", s1);
        node_add(&b, "Div", "normalize", "normalized", d2);
    }
    build_network(&b, cp, P, S, o->fold_bn, pixels ? "normalized" : "input");

    Onnx__ValueInfoProto *ins[1], *outs[2];
    int64_t id_pix[4] = {-1, cfg->in_h, cfg->in_w, cfg->in_c},
            id_flt[4] = {-1, cfg->in_c, cfg->in_h, cfg->in_w}, od[2] = {-1, cfg->classes};
    ins[0] = pixels ? value_info(&b, "pixels", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 4, id_pix)
                    : value_info(&b, "input", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, id_flt);
    outs[0] = value_info(&b, "logits", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, od);
    outs[1] = value_info(&b, "probabilities", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, od);
    if (!ins[0] || !outs[0] || !outs[1])
        b.oom = 1;
    g.n_input = 1;
    g.input = ins;
    g.n_output = 2;
    g.output = outs;
    g.doc_string = pixels ? "pixels: uint8 [batch, H, W, C], decoded and resized to the model's "
                            "input size; normalized in the graph"
                          : "input: float32 [batch, C, H, W], normalized as (x / 255 - mean) / std";

    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1;
    opset.version = o->opset;
    mp.has_ir_version = 1;
    mp.ir_version = o->opset >= 15 ? 8 : 7; /* the IR version that introduced the opset */
    mp.n_opset_import = 1;
    mp.opset_import = opsets;
    mp.producer_name = "tfrecord-tools";
    mp.producer_version = TFR_VERSION;
    mp.has_model_version = 1;
    mp.model_version = o->state ? (int64_t)o->state->step : 0;
    mp.doc_string = "pre-activation ResNet trained with tfrecord-tools; outputs "
                    "logits and softmax probabilities, [batch, classes]";
    mp.graph = &g;

    size_t mcap = 0;
    prep_ctx pc = {cfg, mean, std, pixels};
    meta_add(&b, &mp, &mcap, "class_names", b_json(&b, json_names, m));
    meta_add(&b, &mp, &mcap, "preprocessing", b_json(&b, json_prep, &pc));
    meta_add(&b, &mp, &mcap, "normalization_known",
             have_norm ? "true" : "false (the model predates recorded normalization: 0.5, 0.25)");
    meta_add(&b, &mp, &mcap, "architecture", b_json(&b, json_arch, cfg));
    meta_add(&b, &mp, &mcap, "folded_batch_norms", b_str(&b, "%d", folded));
    meta_add(&b, &mp, &mcap, "rounded_weights", o->round_weights ? "true" : "false");
    if (o->source)
        meta_add(&b, &mp, &mcap, "source_checkpoint", b_str(&b, "%s", o->source));
    if (o->source_crc)
        meta_add(&b, &mp, &mcap, "source_crc32c", b_str(&b, "%08x", *o->source_crc));
    if (o->state) {
        meta_add(&b, &mp, &mcap, "epochs", b_str(&b, "%" PRIu64, o->state->epoch));
        meta_add(&b, &mp, &mcap, "steps", b_str(&b, "%" PRIu64, o->state->step));
        if (o->state->best_val_acc > 0)
            meta_add(&b, &mp, &mcap, "best_validation_accuracy",
                     b_str(&b, "%.6f", o->state->best_val_acc));
    }

    if (b.oom) {
        st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory building the ONNX graph");
        goto out;
    }
    size_t bytes = onnx__model_proto__get_packed_size(&mp);
    if (bytes > ONNX_MAX_BYTES) {
        st = tfr_fail(err, TFR_ERR_ARG, path,
                      "the model is %zu bytes as ONNX, over protobuf's 2 GiB limit", bytes);
        goto out;
    }
    /* the summary first: once the file is in place the export has succeeded */
    if (summary && (st = summarize(&mp, bytes, path, summary, err)))
        goto out;
    tfr_atomic_file af;
    if ((st = tfr_atomic_open(&af, path, NULL, TFR_ATOMIC_STDIO, err)))
        goto out;
    file_sink sink = {{sink_append}, af.f, 0};
    size_t wrote = onnx__model_proto__pack_to_buffer(&mp, &sink.base);
    if (sink.bad || wrote != bytes) {
        st = tfr_fail_errno(err, TFR_ERR_IO, af.tmp, "write");
        tfr_atomic_abort(&af);
        goto out;
    }
    st = tfr_atomic_commit(&af, err);
out:
    if (st && summary)
        tfr_onnx_summary_free(summary);
    tfr_arena_free(&b.a);
    tfr_model_free(cp);
    return st;
}
