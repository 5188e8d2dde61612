/*
 * nn/model.c - the pre-activation ResNet as a tape of ops.
 *
 *   tail:   conv3x3(in_c -> width) BN ReLU [maxpool 2x2]
 *   level i (width Ni = 4*width*2^i), blocks[i] bottlenecks:
 *     a = ReLU(BN(x)); b = conv1x1(a -> Ni/4, stride) ; BN ReLU conv3x3(Ni/4) ;
 *     BN ReLU conv1x1(-> Ni); out = b + (projection ? conv1x1(a -> Ni, stride) : x)
 *     the first block of level 0 projects ("special"), the first block of each
 *     later level downsamples (stride 2) and projects
 *   or level i (width Ni = width*2^i), blocks[i] basic blocks:
 *     a = ReLU(BN(x)); b = conv3x3(a -> Ni, stride); BN ReLU conv3x3(Ni);
 *     out = b + (projection ? conv1x1(a -> Ni, stride) : x), projecting where
 *     the block changes the width or the size (the first block of each later level)
 *   head:   BN ReLU, global average pool, dense(-> classes)
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"
#include "nn/nn_impl.h"
#include "tfrecord/model.h"
#include "util/alloc.h"
#include "util/rng.h"

typedef enum opkind { OP_CONV, OP_BN, OP_RELU, OP_POOL, OP_ADD, OP_GAP, OP_DENSE } opkind;

typedef struct tensor {
    int    c, h, w;
    float *d, *g;
} tensor;

typedef struct op {
    opkind     kind;
    int        in, in2, out;
    size_t     w_off, b_off;   /* conv weights; BN gamma/beta; dense W/b */
    size_t     s_off;          /* BN running mean (var follows) in stats */
    int        k, r, stride, pad;
    tfr_conv2d cv;
    float     *mean, *invstd;  /* BN saved statistics (backend memory) */
    int32_t   *idx;            /* pool argmax (backend memory) */
} op;

/* the four parameter-sized blocks (nn_impl.h), kept on the host and on the backend */
enum {
    B_PARAMS = TFR_BLOCK_PARAMS,
    B_GRADS = TFR_BLOCK_GRADS,
    B_MOM = TFR_BLOCK_MOM,
    B_STATS = TFR_BLOCK_STATS,
    B_COUNT = TFR_BLOCKS
};

struct tfr_model {
    tfr_resnet_config cfg;
    tensor *t;                 /* activations and their gradients: backend memory */
    int     nt, tcap;
    op     *ops;
    int     nops, ocap;
    float  *host[B_COUNT];     /* canonical layout ((K, C, R, S) filters) */
    size_t  np, ns;
    int     alloc_n, last_n;
    int     staged_n;          /* images of a batch tfr_model_stage_u8 holds for the next pass */
    float   smooth;            /* label smoothing of the backward pass */
    int32_t *labels;           /* host copy of the last labels */
    int     have_labels;
    float  *logits;            /* host copy of the last logits (device backends) */
    int     logits_stale;      /* the device holds newer logits than `logits` */
    /* the backend; on a host-memory backend dev[b] == host[b] */
    const tfr_ops *be_ops;
    tfr_backend   *be;
    float  *dev[B_COUNT];
    float  *stage;             /* np floats of backend memory for layout conversion */
    float  *gblock;            /* all activation gradients, one block */
    int     host_ok[B_COUNT], dev_ok[B_COUNT];
    /* what the outputs and the input mean (tfr_model_set_class_names) */
    char  **names;             /* classes entries, NULL where unnamed */
    int     nnames, names_first;
    float   mean, std;
    int     have_norm;
};

#define PARAMS(m) ((m)->host[B_PARAMS])

tfr_status tfr_resnet_preset(const char *name, tfr_resnet_config *c, tfr_error *err)
{
    memset(c, 0, sizeof *c);
    c->tail_pool = 1;
    if (!strcmp(name, "fmnist")) {
        c->in_h = c->in_w = 28;
        c->in_c = 1;
        c->classes = 10;
        c->width = 16;
        c->nlevels = 3;
        c->levels[0] = c->levels[1] = c->levels[2] = 1;
    } else if (!strcmp(name, "tiny")) {
        c->in_h = c->in_w = 8;
        c->in_c = 3;
        c->classes = 4;
        c->width = 4;
        c->nlevels = 2;
        c->levels[0] = 1;
        c->levels[1] = 1;
    } else if (!strcmp(name, "homework")) {
        c->in_h = c->in_w = 64;
        c->in_c = 3;
        c->classes = 200;
        c->width = 64;
        c->nlevels = 4;
        c->levels[0] = 4;
        c->levels[1] = 6;
        c->levels[2] = 3;
        c->levels[3] = 2;
    } else {
        return tfr_fail(err, TFR_ERR_ARG, NULL, "unknown preset '%s' (fmnist, tiny, homework)", name);
    }
    return TFR_OK;
}

const char *tfr_resnet_block_name(const tfr_resnet_config *c)
{
    return c->block == TFR_RESNET_BASIC ? "basic" : "bottleneck";
}

static int add_tensor(tfr_model *m, int c, int h, int w)
{
    if (m->nt == m->tcap) {
        m->tcap = m->tcap ? m->tcap * 2 : 64;
        tensor *t = tfr_realloc(m->t, (size_t)m->tcap * sizeof *t);
        if (!t)
            return -1;
        m->t = t;
    }
    m->t[m->nt] = (tensor){c, h, w, NULL, NULL};
    return m->nt++;
}

static op *add_op(tfr_model *m, opkind k, int in, int in2)
{
    if (m->nops == m->ocap) {
        m->ocap = m->ocap ? m->ocap * 2 : 64;
        op *o = tfr_realloc(m->ops, (size_t)m->ocap * sizeof *o);
        if (!o)
            return NULL;
        m->ops = o;
    }
    op *o = &m->ops[m->nops++];
    memset(o, 0, sizeof *o);
    o->kind = k;
    o->in = in;
    o->in2 = in2;
    return o;
}

/* Graph builders return the output tensor id, -1 on OOM. */
static int g_conv(tfr_model *m, int in, int k, int r, int stride)
{
    if (in < 0) /* an earlier builder ran out of memory */
        return -1;
    tensor x = m->t[in];
    int pad = r / 2;
    int p = (x.h + 2 * pad - r) / stride + 1, q = (x.w + 2 * pad - r) / stride + 1;
    op *o = add_op(m, OP_CONV, in, -1);
    if (!o)
        return -1;
    o->k = k;
    o->r = r;
    o->stride = stride;
    o->pad = pad;
    o->w_off = m->np;
    m->np += (size_t)k * x.c * r * r;
    return o->out = add_tensor(m, k, p, q);
}

static int g_bn(tfr_model *m, int in)
{
    if (in < 0) /* an earlier builder ran out of memory */
        return -1;
    tensor x = m->t[in];
    op *o = add_op(m, OP_BN, in, -1);
    if (!o)
        return -1;
    o->w_off = m->np;
    o->b_off = m->np + (size_t)x.c;
    m->np += 2 * (size_t)x.c;
    o->s_off = m->ns;
    m->ns += 2 * (size_t)x.c;
    return o->out = add_tensor(m, x.c, x.h, x.w);
}

static int g_unary(tfr_model *m, opkind k, int in)
{
    if (in < 0) /* an earlier builder ran out of memory */
        return -1;
    tensor x = m->t[in];
    op *o = add_op(m, k, in, -1);
    if (!o)
        return -1;
    if (k == OP_POOL)
        return o->out = add_tensor(m, x.c, x.h / 2, x.w / 2);
    if (k == OP_GAP)
        return o->out = add_tensor(m, x.c, 1, 1);
    return o->out = add_tensor(m, x.c, x.h, x.w);
}

static int g_add(tfr_model *m, int a, int b)
{
    if (a < 0 || b < 0)
        return -1;
    tensor x = m->t[a];
    op *o = add_op(m, OP_ADD, a, b);
    if (!o)
        return -1;
    return o->out = add_tensor(m, x.c, x.h, x.w);
}

static int g_dense(tfr_model *m, int in, int k)
{
    if (in < 0) /* an earlier builder ran out of memory */
        return -1;
    tensor x = m->t[in];
    op *o = add_op(m, OP_DENSE, in, -1);
    if (!o)
        return -1;
    o->k = k;
    o->w_off = m->np;
    m->np += (size_t)k * x.c;
    o->b_off = m->np;
    m->np += (size_t)k;
    return o->out = add_tensor(m, k, 1, 1);
}

static int g_block(tfr_model *m, int x, int cout, int stride, int project)
{
    if (x < 0)
        return -1;
    int a = g_unary(m, OP_RELU, g_bn(m, x));
    if (m->cfg.block == TFR_RESNET_BASIC) {
        int b = g_conv(m, a, cout, 3, stride);
        b = g_conv(m, g_unary(m, OP_RELU, g_bn(m, b)), cout, 3, 1);
        project = stride != 1 || m->t[x].c != cout;
        return g_add(m, b, project ? g_conv(m, a, cout, 1, stride) : x);
    }
    int b = g_conv(m, a, cout / 4, 1, stride);
    b = g_conv(m, g_unary(m, OP_RELU, g_bn(m, b)), cout / 4, 3, 1);
    b = g_conv(m, g_unary(m, OP_RELU, g_bn(m, b)), cout, 1, 1);
    int sc = project ? g_conv(m, a, cout, 1, stride) : x;
    return g_add(m, b, sc);
}

static double rng_normal(uint64_t *s)
{
    double u1 = ((tfr_splitmix64(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    double u2 = tfr_rng_unit(s);
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

tfr_status tfr_model_new(const tfr_resnet_config *c, uint64_t seed, tfr_model **out,
                         tfr_error *err)
{
    return tfr_model_new_bounded(c, seed, TFR_MODEL_MAX_PARAMS, out, err);
}

tfr_status tfr_model_new_bounded(const tfr_resnet_config *c, uint64_t seed, size_t max_params,
                                 tfr_model **out, tfr_error *err)
{
    *out = NULL;
    /* every field bounded before the graph is built: the graph's size and
     * its parameter count follow from them, and both stay far inside size_t */
    if (c->in_h < 4 || c->in_w < 4 || c->in_h > 8192 || c->in_w > 8192 ||
        (c->in_c != 1 && c->in_c != 3) || c->classes < 2 || c->classes > 1000000 ||
        c->width < 4 || c->width > 4096 || c->width % 4 || c->nlevels < 1 ||
        c->nlevels > TFR_MAX_LEVELS || (c->tail_pool != 0 && c->tail_pool != 1) ||
        (c->block != TFR_RESNET_BOTTLENECK && c->block != TFR_RESNET_BASIC))
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "bad model config (input 4..8192 square pixels, 1 or 3 channels, "
                        "2..1000000 classes, width 4..4096 and a multiple of 4, 1..%d levels, "
                        "bottleneck or basic blocks)",
                        TFR_MAX_LEVELS);
    for (int i = 0; i < c->nlevels; i++)
        if (c->levels[i] < 1 || c->levels[i] > 64)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "level %d has %d blocks (1..64)", i,
                            c->levels[i]);
    tfr_model *m = tfr_calloc(1, sizeof *m);
    if (!m)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    /* the kernels parallelize with OpenMP around single-threaded BLAS calls */
    openblas_set_num_threads(1);
    m->cfg = *c;
    int x = add_tensor(m, c->in_c, c->in_h, c->in_w);
    x = g_unary(m, OP_RELU, g_bn(m, g_conv(m, x, c->width, 3, 1)));
    if (c->tail_pool)
        x = g_unary(m, OP_POOL, x);
    for (int l = 0; l < c->nlevels && x >= 0; l++) {
        int ni = (c->block == TFR_RESNET_BASIC ? c->width : 4 * c->width) << l;
        for (int b = 0; b < c->levels[l] && x >= 0; b++)
            x = g_block(m, x, ni, (l > 0 && b == 0) ? 2 : 1, b == 0);
    }
    x = g_unary(m, OP_GAP, g_unary(m, OP_RELU, g_bn(m, x)));
    x = g_dense(m, x, c->classes);
    if (x >= 0 && (m->np > max_params || m->ns > max_params)) {
        size_t np = m->np;
        tfr_model_free(m);
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "the model config makes %zu parameters, more than the %zu allowed", np,
                        max_params);
    }
    int fail = x < 0;
    for (int b = 0; b < B_COUNT; b++) {
        m->host[b] = tfr_calloc(b == B_STATS ? (m->ns ? m->ns : 1) : m->np, sizeof(float));
        fail |= !m->host[b];
    }
    m->be_ops = tfr_ops_cpu();
    if (fail || m->be_ops->create(NULL, &m->be, err)) {
        tfr_model_free(m);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    for (int b = 0; b < B_COUNT; b++) {
        m->dev[b] = m->host[b];
        m->host_ok[b] = m->dev_ok[b] = 1;
    }
    /* He initialization; BN gamma 1, beta 0, running var 1 */
    uint64_t rs = seed * 0x2545f4914f6cdd1dull + 1;
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        tensor in = m->t[o->in];
        if (o->kind == OP_CONV || o->kind == OP_DENSE) {
            size_t fan = o->kind == OP_CONV ? (size_t)in.c * o->r * o->r : (size_t)in.c;
            size_t n = (size_t)o->k * fan;
            /* He for convolutions; the classifier starts small so that the
             * untrained model predicts near-uniformly (loss ~ log(classes)) */
            double sd = o->kind == OP_CONV ? sqrt(2.0 / (double)fan) : 0.01;
            for (size_t j = 0; j < n; j++)
                PARAMS(m)[o->w_off + j] = (float)(rng_normal(&rs) * sd);
        } else if (o->kind == OP_BN) {
            for (int j = 0; j < in.c; j++) {
                PARAMS(m)[o->w_off + (size_t)j] = 1.0f;
                m->host[B_STATS][o->s_off + (size_t)in.c + (size_t)j] = 1.0f;
            }
        }
    }
    *out = m;
    return TFR_OK;
}

/* the backend's device, current for this thread */
static tfr_status activate(tfr_model *m, tfr_error *err)
{
    return m->be && m->be_ops->activate ? m->be_ops->activate(m->be, err) : TFR_OK;
}

/* frees the batch-sized buffers (activations, gradients, saved statistics) */
static void free_batch(tfr_model *m)
{
    if (!m->be)
        return;
    for (int i = 0; i < m->nt; i++) {
        m->be_ops->release(m->be, m->t[i].d);
        m->t[i].d = m->t[i].g = NULL;
    }
    for (int i = 0; i < m->nops; i++) {
        m->be_ops->release(m->be, m->ops[i].mean);
        m->be_ops->release(m->be, m->ops[i].invstd);
        m->be_ops->release(m->be, m->ops[i].idx);
        m->ops[i].mean = m->ops[i].invstd = NULL;
        m->ops[i].idx = NULL;
    }
    m->be_ops->release(m->be, m->gblock);
    m->gblock = NULL;
    free(m->labels);
    free(m->logits);
    m->labels = NULL;
    m->logits = NULL;
    m->logits_stale = 0;
    m->alloc_n = 0;
    m->last_n = 0;
    m->have_labels = 0;
}

/* frees the backend and its copies of the blocks (host copies stay) */
static void free_backend(tfr_model *m)
{
    activate(m, NULL);
    free_batch(m);
    if (!m->be)
        return;
    if (!m->be_ops->host_memory) {
        for (int b = 0; b < B_COUNT; b++)
            m->be_ops->release(m->be, m->dev[b]);
        m->be_ops->release(m->be, m->stage);
    }
    for (int b = 0; b < B_COUNT; b++)
        m->dev[b] = NULL;
    m->stage = NULL;
    m->be_ops->destroy(m->be);
    m->be = NULL;
    m->staged_n = 0; /* a staged batch lives in the backend */
}

void tfr_model_free(tfr_model *m)
{
    if (!m)
        return;
    free_backend(m);
    free(m->t);
    free(m->ops);
    for (int b = 0; b < B_COUNT; b++)
        free(m->host[b]);
    tfr_model_set_class_names(m, NULL, 0, 0, NULL);
    free(m);
}

int tfr_model_param_groups(const tfr_model *m, tfr_param_group *out, int max)
{
    int n = 0, nconv = 0, nbn = 0;
#define GROUP(fmt, idx, off, cnt)                                                             \
    do {                                                                                      \
        if (n < max) {                                                                        \
            snprintf(out[n].name, sizeof out[n].name, fmt, idx);                              \
            out[n].offset = (off);                                                            \
            out[n].count = (cnt);                                                             \
        }                                                                                     \
        n++;                                                                                  \
    } while (0)
    for (int i = 0; i < m->nops; i++) {
        const op *o = &m->ops[i];
        const tensor *in = &m->t[o->in];
        if (o->kind == OP_CONV) {
            nconv++;
            GROUP("conv%02d/kernel", nconv, o->w_off, (size_t)o->k * in->c * o->r * o->r);
        } else if (o->kind == OP_BN) {
            nbn++;
            GROUP("bn%02d/gamma", nbn, o->w_off, (size_t)in->c);
            GROUP("bn%02d/beta", nbn, o->b_off, (size_t)in->c);
        } else if (o->kind == OP_DENSE) {
            GROUP("dense/kernel%s", "", o->w_off, (size_t)o->k * in->c);
            GROUP("dense/bias%s", "", o->b_off, (size_t)o->k);
        }
    }
#undef GROUP
    return n;
}

tfr_status tfr_model_set_class_names(tfr_model *m, const char *const *names, int n, int first,
                                     tfr_error *err)
{
    if (n < 0 || first < 0 || (n > 0 && (!names || (int64_t)first + n > m->cfg.classes)))
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "%d class names from label %d do not fit a model of %d classes", n, first,
                        m->cfg.classes);
    char **v = NULL;
    if (n > 0) {
        if (!(v = tfr_calloc((size_t)m->cfg.classes, sizeof *v)))
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        for (int i = 0; i < n; i++)
            if (names[i] && !(v[first + i] = tfr_strdup(names[i]))) {
                for (int k = 0; k < m->cfg.classes; k++)
                    free(v[k]);
                free(v);
                return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            }
    }
    for (int k = 0; m->names && k < m->cfg.classes; k++)
        free(m->names[k]);
    free(m->names);
    m->names = v;
    m->nnames = n;
    m->names_first = n > 0 ? first : 0;
    return TFR_OK;
}

const char *tfr_model_class_name(const tfr_model *m, int k)
{
    return m->names && k >= 0 && k < m->cfg.classes && m->names[k] && m->names[k][0] ? m->names[k]
                                                                               : NULL;
}

int tfr_model_class_names(const tfr_model *m, int *first)
{
    if (first)
        *first = m->names_first;
    return m->nnames;
}

void tfr_model_set_normalization(tfr_model *m, float mean, float std)
{
    m->mean = mean;
    m->std = std;
    m->have_norm = std > 0;
}

int tfr_model_normalization(const tfr_model *m, float *mean, float *std)
{
    if (m->have_norm) {
        *mean = m->mean;
        *std = m->std;
    }
    return m->have_norm;
}

static size_t block_len(const tfr_model *m, int b) { return b == B_STATS ? m->ns : m->np; }

/* every filter of src (backend memory) converted into dst */
static tfr_status filters(tfr_model *m, const float *src, float *dst, int to_backend,
                          tfr_error *err)
{
    for (int i = 0; i < m->nops; i++) {
        const op *o = &m->ops[i];
        if (o->kind != OP_CONV)
            continue;
        tfr_conv2d cv;
        const tensor *in = &m->t[o->in];
        tfr_conv2d_setup(&cv, 1, in->c, in->h, in->w, o->k, o->r, o->r, o->stride, o->pad);
        tfr_status st = m->be_ops->filter_layout(m->be, &cv, src + o->w_off, dst + o->w_off,
                                                 to_backend, err);
        if (st)
            return st;
    }
    return TFR_OK;
}

/*
 * Makes block b current on the backend (to_dev) or on the host; `writes`:
 * the caller will change it there, so the other copy becomes stale.
 */
static tfr_status block_ready(tfr_model *m, int b, int to_dev, int writes, tfr_error *err)
{
    if (m->be_ops->host_memory)
        return TFR_OK;
    int *ok = to_dev ? m->dev_ok : m->host_ok, *other = to_dev ? m->host_ok : m->dev_ok;
    if (!ok[b]) {
        const tfr_ops *ops = m->be_ops;
        tfr_backend *be = m->be;
        size_t bytes = block_len(m, b) * sizeof(float);
        tfr_status st = activate(m, err);
        if (st)
            return st;
        if (b == B_STATS) /* no layout to change */
            st = to_dev ? ops->upload(be, m->dev[b], m->host[b], bytes, err)
                        : ops->download(be, m->host[b], m->dev[b], bytes, err);
        else if (to_dev)
            (void)((st = ops->upload(be, m->stage, m->host[b], bytes, err)) ||
                   (st = ops->copy(be, m->dev[b], m->stage, bytes, err)) ||
                   (st = filters(m, m->stage, m->dev[b], 1, err)));
        else
            (void)((st = ops->copy(be, m->stage, m->dev[b], bytes, err)) ||
                   (st = filters(m, m->dev[b], m->stage, 0, err)) ||
                   (st = ops->download(be, m->host[b], m->stage, bytes, err)));
        if (st)
            return st;
        ok[b] = 1;
    }
    if (writes)
        other[b] = 0;
    return TFR_OK;
}

static tfr_status dev_ready(tfr_model *m, int b, int writes, tfr_error *err)
{
    return block_ready(m, b, 1, writes, err);
}

static tfr_status host_ready(tfr_model *m, int b, int writes, tfr_error *err)
{
    return block_ready(m, b, 0, writes, err);
}

tfr_status tfr_model_to_host(tfr_model *m, tfr_error *err)
{
    for (int b = 0; b < B_COUNT; b++) {
        tfr_status st = host_ready(m, b, 0, err);
        if (st)
            return st;
    }
    return TFR_OK;
}

/* host access through the public accessors: the caller may write */
static tfr_status host_block(tfr_model *m, int b, float **out, tfr_error *err)
{
    tfr_status st = host_ready(m, b, 1, err);
    *out = st ? NULL : m->host[b];
    return st;
}

tfr_status tfr_model_set_backend(tfr_model *m, const tfr_ops *ops, const tfr_backend_opts *bo,
                                 tfr_error *err)
{
    tfr_status st = tfr_model_to_host(m, err);
    if (st)
        return st;
    tfr_backend *nb;
    if ((st = ops->create(bo, &nb, err)))
        return st;
    free_backend(m); /* makes the old backend's device current to free its blocks */
    m->be_ops = ops;
    m->be = nb;
    for (int b = 0; b < B_COUNT; b++) {
        m->host_ok[b] = 1;
        m->dev_ok[b] = ops->host_memory;
        m->dev[b] = ops->host_memory ? m->host[b] : NULL;
    }
    if (ops->host_memory)
        return TFR_OK;
    /* the new device current again before its blocks are allocated there */
    if ((st = activate(m, err)))
        goto fail;
    for (int b = 0; b < B_COUNT; b++)
        if (!(m->dev[b] = ops->alloc(nb, (block_len(m, b) ? block_len(m, b) : 1) * sizeof(float),
                                     err)))
            goto fail;
    if ((m->stage = ops->alloc(nb, (m->np ? m->np : 1) * sizeof(float), err)))
        return TFR_OK;
fail:
    /* back to the CPU, with the host copies intact */
    st = err->code;
    free_backend(m);
    m->be_ops = tfr_ops_cpu();
    m->be_ops->create(NULL, &m->be, NULL);
    for (int b = 0; b < B_COUNT; b++) {
        m->dev[b] = m->host[b];
        m->host_ok[b] = m->dev_ok[b] = 1;
    }
    return st;
}

tfr_status tfr_model_set_device(tfr_model *m, const tfr_device_opts *d, tfr_error *err)
{
    return tfr_model_set_device_rank(m, d, 0, err);
}

int tfr_device_moves(const tfr_device_opts *d)
{
    return d && (d->kind != TFR_DEVICE_CPU || d->precision == TFR_PRECISION_BF16);
}

tfr_status tfr_model_set_device_rank(tfr_model *m, const tfr_device_opts *d, int local_rank,
                                     tfr_error *err)
{
    const tfr_ops *ops = tfr_ops_cpu(), *cuda = NULL;
    tfr_backend_opts bo = {0};
    if (d && d->kind == TFR_DEVICE_CUDA && !(cuda = tfr_ops_cuda(err)))
        return err->code;
    if (d && d->kind == TFR_DEVICE_ONEDNN && !(ops = tfr_ops_onednn(err)))
        return err->code;
    int auto_fp32 = 0;
    if (d && d->kind == TFR_DEVICE_AUTO) {
        tfr_error quiet; /* no device: the fastest CPU table built in, silently */
        tfr_error_clear(&quiet);
        const tfr_ops *dn;
        if (!(cuda = tfr_ops_cuda(&quiet)) && (dn = tfr_ops_onednn(&quiet)))
            ops = dn;
        /* auto asks for the fastest math there is: on the reference table (a
         * build without oneDNN) that is fp32, which bf16 then means */
        auto_fp32 = !cuda && ops == tfr_ops_cpu();
    }
    if (cuda) {
        ops = cuda;
        bo.device = d->index;
        if (d->index < 0) { /* not named: this rank's device of those visible */
            int n = cuda->device_count ? cuda->device_count() : 1;
            bo.device = n > 0 && local_rank > 0 ? local_rank % n : 0;
        }
        bo.math = d->precision == TFR_PRECISION_FP32   ? TFR_MATH_FP32
                  : d->precision == TFR_PRECISION_BF16 ? TFR_MATH_BF16
                                                       : TFR_MATH_TF32;
        bo.workspace_limit = d->workspace_limit;
    } else if (d && d->precision == TFR_PRECISION_BF16 && !auto_fp32) {
        /* the CPU has no TF32: the default means fp32 there; bf16 is the
         * onednn table's (the reference one refuses it when asked by name) */
        bo.math = TFR_MATH_BF16;
    }
    return tfr_model_set_backend(m, ops, &bo, err);
}

const char *tfr_model_device(const tfr_model *m) { return m->be_ops->describe(m->be); }
tfr_device_kind tfr_model_device_kind(const tfr_model *m)
{
    return m->be_ops->host_memory ? TFR_DEVICE_CPU : TFR_DEVICE_CUDA;
}

const tfr_resnet_config *tfr_model_config(const tfr_model *m) { return &m->cfg; }
size_t tfr_model_num_params(const tfr_model *m) { return m->np; }
tfr_status tfr_model_params(tfr_model *m, float **out, tfr_error *err)
{
    return host_block(m, B_PARAMS, out, err);
}

tfr_status tfr_model_dev_blocks(tfr_model *m, float **grads, size_t *ngrads, float **stats,
                                size_t *nstats, void **stream, tfr_error *err)
{
    tfr_status st;
    *grads = *stats = NULL;
    *stream = NULL;
    if ((st = activate(m, err)) || (st = dev_ready(m, B_GRADS, 1, err)) ||
        (st = dev_ready(m, B_STATS, 1, err)))
        return st;
    *grads = m->dev[B_GRADS];
    *ngrads = block_len(m, B_GRADS);
    *stats = m->dev[B_STATS];
    *nstats = block_len(m, B_STATS);
    if (m->be_ops->native_stream)
        *stream = m->be_ops->native_stream(m->be);
    return TFR_OK;
}

tfr_status tfr_model_grads(tfr_model *m, float **out, tfr_error *err)
{
    return host_block(m, B_GRADS, out, err);
}

tfr_status tfr_model_bn_stats(tfr_model *m, float **out, size_t *n, tfr_error *err)
{
    *n = block_len(m, B_STATS);
    return host_block(m, B_STATS, out, err);
}

tfr_status tfr_model_block(tfr_model *m, int block, float **out, size_t *n, tfr_error *err)
{
    *n = block_len(m, block);
    return host_block(m, block, out, err);
}

const float *tfr_model_block_view(const tfr_model *m, int block, size_t *n)
{
    *n = block_len(m, block);
    return m->host[block];
}

static size_t tsize(const tensor *t, int n) { return (size_t)n * t->c * t->h * t->w; }

/* out of device memory for a batch: say so in terms of the batch */
static tfr_status batch_nomem(tfr_model *m, int n, tfr_error *err)
{
    if (err && err->code == TFR_ERR_NOMEM && !m->be_ops->host_memory) {
        char was[sizeof err->msg];
        snprintf(was, sizeof was, "%s", err->msg);
        tfr_fail(err, TFR_ERR_NOMEM, NULL, "a batch of %d does not fit on %s (%s): try a "
                                           "smaller --batch", n, m->be_ops->describe(m->be), was);
    }
    return err ? err->code : TFR_ERR_NOMEM;
}

static tfr_status ensure_batch(tfr_model *m, int n, tfr_error *err)
{
    const tfr_ops *ops = m->be_ops;
    if (n > m->alloc_n) {
        free_batch(m);
        const size_t ab = ops->act_bytes(m->be);
        size_t gtotal = 0;
        for (int i = 0; i < m->nt; i++)
            gtotal += tsize(&m->t[i], n);
        if (!(m->gblock = ops->alloc(m->be, gtotal * ab, err)))
            return batch_nomem(m, n, err);
        char *g = (char *)m->gblock;
        for (int i = 0; i < m->nt; i++) {
            m->t[i].g = (float *)(void *)g;
            g += tsize(&m->t[i], n) * ab;
            if (!(m->t[i].d = ops->alloc(m->be, tsize(&m->t[i], n) * ab, err)))
                return batch_nomem(m, n, err);
        }
        for (int i = 0; i < m->nops; i++) {
            op *o = &m->ops[i];
            if (o->kind == OP_POOL &&
                !(o->idx = ops->alloc(m->be, tsize(&m->t[o->out], n) * sizeof(int32_t), err)))
                return err->code;
            if (o->kind == OP_BN &&
                (!(o->mean = ops->alloc(m->be, (size_t)m->t[o->in].c * sizeof(float), err)) ||
                 !(o->invstd = ops->alloc(m->be, (size_t)m->t[o->in].c * sizeof(float), err))))
                return err->code;
        }
        m->labels = tfr_malloc((size_t)n * sizeof(int32_t));
        m->logits = tfr_malloc((size_t)n * m->cfg.classes * sizeof(float));
        if (!m->labels || !m->logits)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        m->alloc_n = n;
    }
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        if (o->kind == OP_CONV) {
            tensor *in = &m->t[o->in];
            tfr_conv2d_setup(&o->cv, n, in->c, in->h, in->w, o->k, o->r, o->r, o->stride, o->pad);
        }
    }
    return TFR_OK;
}

#define BN_MOMENTUM 0.1f

static int single_reader(const tfr_model *m, int t);

/* 1 if op i is a batch norm whose output only the ReLU right after it reads,
 * and the backend runs the two as one op (bn_relu_fwd/bwd) */
static int fused_bn_relu(const tfr_model *m, int i)
{
    const op *o = &m->ops[i];
    return o->kind == OP_BN && i + 1 < m->nops && m->ops[i + 1].kind == OP_RELU &&
           m->ops[i + 1].in == o->out && m->be_ops->bn_relu_fwd && m->be_ops->bn_relu_bwd &&
           single_reader(m, o->out);
}

/* the tape, forward; the input tensor is already in place */
static tfr_status run_forward(tfr_model *m, int n, const int32_t *labels, int train, float *loss,
                              tfr_error *err)
{
    const tfr_ops *ops = m->be_ops;
    tfr_backend *be = m->be;
    const float *P = m->dev[B_PARAMS];
    float *S = m->dev[B_STATS];
    tfr_status st = TFR_OK;
    for (int i = 0; i < m->nops && !st; i++) {
        op *o = &m->ops[i];
        tensor *in = &m->t[o->in], *out = &m->t[o->out];
        switch (o->kind) {
        case OP_CONV:
            st = ops->conv2d_fwd(be, &o->cv, in->d, P + o->w_off, out->d, err);
            break;
        case OP_BN:
            if (fused_bn_relu(m, i)) { /* writes the ReLU's output; the ReLU is skipped */
                st = ops->bn_relu_fwd(be, n, in->c, in->h * in->w, in->d, P + o->w_off,
                                      P + o->b_off, m->t[m->ops[i + 1].out].d, o->mean, o->invstd,
                                      S + o->s_off, S + o->s_off + in->c, train, BN_MOMENTUM,
                                      TFR_BN_EPS, err);
                i++;
                break;
            }
            st = ops->bn_fwd(be, n, in->c, in->h * in->w, in->d, P + o->w_off, P + o->b_off, out->d,
                             o->mean, o->invstd, S + o->s_off, S + o->s_off + in->c, train,
                             BN_MOMENTUM, TFR_BN_EPS, err);
            break;
        case OP_RELU:
            st = ops->relu_fwd(be, tsize(in, n), in->d, out->d, err);
            break;
        case OP_POOL:
            st = ops->pool_fwd(be, n, in->c, in->h, in->w, in->d, out->d, o->idx, err);
            break;
        case OP_ADD:
            st = ops->add_fwd(be, tsize(in, n), in->d, m->t[o->in2].d, out->d, err);
            break;
        case OP_GAP:
            st = ops->gap_fwd(be, n, in->c, in->h * in->w, in->d, out->d, err);
            break;
        case OP_DENSE:
            st = ops->dense_fwd(be, n, in->c, o->k, in->d, P + o->w_off, P + o->b_off, out->d, err);
            break;
        }
    }
    if (st)
        return st;
    m->last_n = n;
    m->have_labels = labels != NULL;
    const float *lg = m->t[m->nt - 1].d;
    if (labels) {
        memcpy(m->labels, labels, (size_t)n * sizeof(int32_t));
        if (loss && (st = ops->softmax_ce(be, n, m->cfg.classes, lg, labels, 0, NULL, loss, err)))
            return st;
    }
    m->logits_stale = !ops->host_memory; /* fetched when asked for */
    return st;
}

static tfr_status begin_forward(tfr_model *m, int n, int train, tfr_error *err)
{
    if (n <= 0)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "empty batch");
    tfr_status st;
    (void)((st = activate(m, err)) || (st = ensure_batch(m, n, err)) ||
           (st = dev_ready(m, B_PARAMS, 0, err)) || (st = dev_ready(m, B_STATS, train, err)));
    return st;
}

/* Every label must be one of the model's classes: none is remapped (as
 * TensorFlow's and PyTorch's cross-entropy refuse them too). */
static tfr_status check_labels(const tfr_model *m, const int32_t *labels, int n, tfr_error *err)
{
    for (int i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= m->cfg.classes)
            return tfr_fail(err, TFR_ERR_ARG, NULL,
                            "label %d (image %d of the batch) is not a class of this model: its "
                            "labels are 0..%d (%d classes, --classes)",
                            (int)labels[i], i, m->cfg.classes - 1, m->cfg.classes);
    return TFR_OK;
}

tfr_status tfr_model_forward(tfr_model *m, const float *x, int n, const int32_t *labels,
                             int train, float *loss, tfr_error *err)
{
    tfr_status st = check_labels(m, labels, n, err);
    if (st)
        return st;
    st = begin_forward(m, n, train, err);
    const tensor *t0 = &m->t[0];
    if (st || (st = m->be_ops->input_f32(m->be, n, t0->c, t0->h, t0->w, x, t0->d, err)))
        return st;
    return run_forward(m, n, labels, train, loss, err);
}

tfr_status tfr_model_forward_u8(tfr_model *m, const uint8_t *x, int n, const uint8_t *flip,
                                float mean, float std, const int32_t *labels, int train,
                                float *loss, tfr_error *err)
{
    tfr_status st = check_labels(m, labels, n, err);
    if (st)
        return st;
    /* one staged batch at a time: another batch now would replace it unseen */
    if (x && m->staged_n)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "a batch of %d images is staged (tfr_model_stage_u8): run it, with x "
                        "NULL, before passing another", m->staged_n);
    if (!x && m->staged_n != n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "no staged batch of %d images (%d staged)", n,
                        m->staged_n);
    st = begin_forward(m, n, train, err);
    const tensor *t0 = &m->t[0];
    if (st || (st = m->be_ops->input_u8(m->be, n, t0->c, t0->h, t0->w, x, flip, mean, std, t0->d,
                                        err)))
        return st;
    if (!x)
        m->staged_n = 0;
    return run_forward(m, n, labels, train, loss, err);
}

tfr_status tfr_model_logits(const tfr_model *m, const float **out, tfr_error *err)
{
    *out = NULL;
    if (m->be_ops->host_memory) {
        *out = m->t[m->nt - 1].d;
        return TFR_OK;
    }
    if (m->logits_stale) {
        tfr_model *w = (tfr_model *)m; /* a cache, filled on demand */
        tfr_status st;
        if ((st = activate(w, err)) ||
            (st = w->be_ops->act_to_host(w->be, w->last_n, w->cfg.classes, 1, 1,
                                         w->t[w->nt - 1].d, w->logits, err)))
            return st;
        w->logits_stale = 0;
    }
    *out = m->logits;
    return TFR_OK;
}

tfr_status tfr_model_loss(tfr_model *m, float *loss, tfr_error *err)
{
    if (!m->have_labels || !m->last_n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "the loss needs a forward pass with labels");
    tfr_status st = activate(m, err);
    if (st)
        return st;
    return m->be_ops->softmax_ce(m->be, m->last_n, m->cfg.classes, m->t[m->nt - 1].d, m->labels, 0,
                                 NULL, loss, err);
}

tfr_status tfr_model_loss_logits(tfr_model *m, float *loss, const float **logits, tfr_error *err)
{
    *logits = NULL;
    if (!m->have_labels || !m->last_n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "the loss needs a forward pass with labels");
    const tfr_ops *ops = m->be_ops;
    if (ops->host_memory || !ops->loss_logits || !m->logits_stale) {
        tfr_status st = tfr_model_loss(m, loss, err);
        return st ? st : tfr_model_logits(m, logits, err);
    }
    tfr_status st = activate(m, err);
    if (st || (st = ops->loss_logits(m->be, m->last_n, m->cfg.classes, m->t[m->nt - 1].d,
                                     m->labels, loss, m->logits, err)))
        return st;
    m->logits_stale = 0;
    *logits = m->logits;
    return TFR_OK;
}

tfr_status tfr_model_stage_u8(tfr_model *m, const uint8_t *x, int n, const uint8_t *flip,
                              tfr_error *err)
{
    if (n <= 0)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "empty batch");
    tfr_status st = activate(m, err);
    if (st)
        return st;
    if (m->staged_n)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "a batch of %d images is already staged: run it before staging another",
                        m->staged_n);
    const tensor *t0 = &m->t[0];
    if ((st = m->be_ops->stage_u8(m->be, n, t0->c, t0->h, t0->w, x, flip, err)))
        return st;
    m->staged_n = n;
    return TFR_OK;
}

tfr_status tfr_model_set_label_smoothing(tfr_model *m, float eps, tfr_error *err)
{
    if (!(eps >= 0 && eps < 1))
        return tfr_fail(err, TFR_ERR_ARG, NULL, "label smoothing %g: 0 <= eps < 1", (double)eps);
    m->smooth = eps;
    return TFR_OK;
}

/* the end of the parameters op o owns (0: none) */
static size_t param_end(const tfr_model *m, const op *o)
{
    switch (o->kind) {
    case OP_CONV:
        return o->w_off + (size_t)o->cv.k * o->cv.c * o->cv.r * o->cv.s;
    case OP_BN:
        return o->b_off + (size_t)m->t[o->in].c;
    case OP_DENSE:
        return o->b_off + (size_t)o->k;
    default:
        return 0;
    }
}

tfr_status tfr_model_backward(tfr_model *m, float l2, tfr_error *err)
{
    size_t rest;
    return tfr_model_backward_buckets(m, l2, 0, NULL, NULL, &rest, err);
}

tfr_status tfr_model_backward_buckets(tfr_model *m, float l2, size_t bucket,
                                      tfr_grads_ready_fn ready, void *user, size_t *rest,
                                      tfr_error *err)
{
    *rest = m->np;
    if (!m->have_labels || !m->last_n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "backward needs a forward pass with labels");
    const tfr_ops *ops = m->be_ops;
    tfr_backend *be = m->be;
    int n = m->last_n;
    size_t gtotal = 0;
    for (int i = 0; i < m->nt; i++)
        gtotal += tsize(&m->t[i], m->alloc_n);
    tfr_status st;
    if ((st = activate(m, err)) || (st = dev_ready(m, B_PARAMS, 0, err)) ||
        (st = dev_ready(m, B_GRADS, 1, err)) ||
        (st = ops->zero(be, m->gblock, gtotal * ops->act_bytes(be), err)) ||
        (st = ops->zero(be, m->dev[B_GRADS], m->np * sizeof(float), err)))
        return st;
    const float *P = m->dev[B_PARAMS];
    float *G = m->dev[B_GRADS];
    tensor *lt = &m->t[m->nt - 1];
    if ((st = ops->softmax_ce(be, n, m->cfg.classes, lt->d, m->labels, m->smooth, lt->g, NULL,
                              err)))
        return st;
    /* below[i]: the end of every parameter the ops before i own, so that
     * once op i's backward is queued [below[i], np) is final */
    size_t *below = NULL;
    if (ready) {
        if (!(below = tfr_malloc(((size_t)m->nops + 1) * sizeof *below)))
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        below[0] = 0;
        for (int i = 0; i < m->nops; i++) {
            size_t e = param_end(m, &m->ops[i]);
            below[i + 1] = e > below[i] ? e : below[i];
        }
    }
    size_t hi = m->np; /* [hi, np) handed to ready */
    for (int i = m->nops - 1; i >= 0 && !st; i--) {
        op *o = &m->ops[i];
        tensor *in = &m->t[o->in], *out = &m->t[o->out];
        switch (o->kind) {
        case OP_CONV:
            st = ops->conv2d_bwd(be, &o->cv, in->d, P + o->w_off, out->g,
                                 o->in == 0 ? NULL : in->g, G + o->w_off, err);
            break;
        case OP_BN:
            if (fused_bn_relu(m, i)) {
                const tensor *ry = &m->t[m->ops[i + 1].out];
                st = ops->bn_relu_bwd(be, n, in->c, in->h * in->w, in->d, P + o->w_off, o->mean,
                                      o->invstd, ry->d, ry->g, in->g, G + o->w_off, G + o->b_off,
                                      TFR_BN_EPS, err);
                break;
            }
            st = ops->bn_bwd(be, n, in->c, in->h * in->w, in->d, P + o->w_off, o->mean, o->invstd,
                             out->g, in->g, G + o->w_off, G + o->b_off, TFR_BN_EPS, err);
            break;
        case OP_RELU:
            if (i > 0 && fused_bn_relu(m, i - 1))
                break; /* done by the batch norm before it */
            st = ops->relu_bwd(be, tsize(in, n), out->d, out->g, in->g, err);
            break;
        case OP_POOL:
            st = ops->pool_bwd(be, n, in->c, in->h, in->w, o->idx, out->g, in->g, err);
            break;
        case OP_ADD:
            st = ops->add_bwd(be, tsize(in, n), out->g, in->g, m->t[o->in2].g, err);
            break;
        case OP_GAP:
            st = ops->gap_bwd(be, n, in->c, in->h * in->w, out->g, in->g, err);
            break;
        case OP_DENSE:
            (void)((st = ops->dense_bwd(be, n, in->c, o->k, in->d, P + o->w_off, out->g, in->g,
                                        G + o->w_off, G + o->b_off, err)) ||
                   (st = ops->axpy(be, (size_t)o->k * in->c, l2, P + o->w_off, G + o->w_off,
                                   err)));
            break;
        }
        if (!st && ready && hi - below[i] >= (bucket ? bucket : 1)) { /* below[i] <= hi */
            st = ready(user, G + below[i], hi - below[i], err);
            hi = below[i];
        }
    }
    free(below);
    *rest = hi;
    return st;
}

tfr_status tfr_model_sgd(tfr_model *m, float lr, float momentum, float weight_decay,
                         tfr_error *err)
{
    tfr_status st;
    if ((st = activate(m, err)) || (st = dev_ready(m, B_PARAMS, 1, err)) ||
        (st = dev_ready(m, B_GRADS, 0, err)) ||
        (st = dev_ready(m, B_MOM, 1, err)))
        return st;
    return m->be_ops->sgd(m->be, m->np, m->dev[B_PARAMS], m->dev[B_GRADS], m->dev[B_MOM], lr,
                          momentum, weight_decay, err);
}

tfr_status tfr_model_sync(tfr_model *m, tfr_error *err)
{
    tfr_status st = activate(m, err);
    return st ? st : m->be_ops->sync(m->be, err);
}

double tfr_model_flops(const tfr_model *m)
{
    double f = 0;
    for (int i = 0; i < m->nops; i++) {
        const op *o = &m->ops[i];
        const tensor *in = &m->t[o->in], *out = &m->t[o->out];
        if (o->kind == OP_CONV)
            f += 2.0 * o->k * in->c * o->r * o->r * out->h * out->w;
        else if (o->kind == OP_DENSE)
            f += 2.0 * o->k * in->c;
    }
    return f;
}

int tfr_model_feature_dim(const tfr_model *m)
{
    return m->t[m->nt - 2].c; /* the GAP output feeds the dense layer */
}

tfr_status tfr_model_features(tfr_model *m, const float *x, int n, float *out, tfr_error *err)
{
    tfr_status st = tfr_model_forward(m, x, n, NULL, 0, NULL, err);
    if (st)
        return st;
    const tensor *f = &m->t[m->nt - 2];
    return m->be_ops->act_to_host(m->be, n, f->c, 1, 1, f->d, out, err);
}

tfr_status tfr_model_with_head(const tfr_model *bb, int classes, const float *w, const float *b,
                               tfr_model **out, tfr_error *err)
{
    tfr_resnet_config c = bb->cfg;
    c.classes = classes;
    tfr_model *m;
    tfr_status st = tfr_model_new(&c, 0, &m, err);
    if (st)
        return st;
    /* the backbone's current values (a device copy may be newer) */
    if ((st = tfr_model_to_host((tfr_model *)bb, err))) {
        tfr_model_free(m);
        return st;
    }
    /* the dense layer is the last op: everything before it lines up */
    const op *d = &m->ops[m->nops - 1];
    memcpy(m->host[B_PARAMS], bb->host[B_PARAMS], d->w_off * sizeof(float));
    memcpy(m->host[B_STATS], bb->host[B_STATS], m->ns * sizeof(float));
    size_t fd = (size_t)tfr_model_feature_dim(m);
    if (w)
        memcpy(PARAMS(m) + d->w_off, w, (size_t)classes * fd * sizeof(float));
    else
        memset(PARAMS(m) + d->w_off, 0, (size_t)classes * fd * sizeof(float));
    if (b)
        memcpy(PARAMS(m) + d->b_off, b, (size_t)classes * sizeof(float));
    else
        memset(PARAMS(m) + d->b_off, 0, (size_t)classes * sizeof(float));
    *out = m;
    return TFR_OK;
}

/* 1 if tensor t is read by exactly one op */
static int single_reader(const tfr_model *m, int t)
{
    int n = 0;
    for (int i = 0; i < m->nops; i++)
        n += (m->ops[i].in == t) + (m->ops[i].kind == OP_ADD && m->ops[i].in2 == t);
    return n == 1;
}

/* the conv op that batch norm op i folds into: the op whose output it alone
 * reads, when that is a convolution; else -1 */
static int bn_folds_into(const tfr_model *m, int i)
{
    const op *bn = &m->ops[i];
    if (bn->kind != OP_BN || !single_reader(m, bn->in))
        return -1;
    for (int j = 0; j < i; j++)
        if (m->ops[j].out == bn->in)
            return m->ops[j].kind == OP_CONV ? j : -1;
    return -1;
}

int tfr_model_graph(const tfr_model *m, tfr_graph_node *out, int max)
{
    static const int kinds[] = {[OP_CONV] = TFR_NODE_CONV, [OP_BN] = TFR_NODE_BN,
                                [OP_RELU] = TFR_NODE_RELU, [OP_POOL] = TFR_NODE_POOL,
                                [OP_ADD] = TFR_NODE_ADD,   [OP_GAP] = TFR_NODE_GAP,
                                [OP_DENSE] = TFR_NODE_DENSE};
    for (int i = 0; i < m->nops && i < max; i++) {
        const op *o = &m->ops[i];
        const tensor *y = &m->t[o->out];
        out[i] = (tfr_graph_node){.kind = kinds[o->kind],
                                  .in = o->in,
                                  .in2 = o->kind == OP_ADD ? o->in2 : -1,
                                  .out = o->out,
                                  .c = y->c,
                                  .h = y->h,
                                  .w = y->w,
                                  .in_c = m->t[o->in].c,
                                  .k = o->k,
                                  .r = o->r,
                                  .stride = o->stride,
                                  .pad = o->pad,
                                  .w_off = o->w_off,
                                  .b_off = o->b_off,
                                  .s_off = o->s_off,
                                  .folds_into = bn_folds_into(m, i)};
    }
    return m->nops;
}

tfr_status tfr_model_fold_bn(tfr_model *m, int *nfolded, tfr_error *err)
{
    const float eps = TFR_BN_EPS;
    int folded = 0;
    float *params, *stats;
    tfr_status st;
    *nfolded = 0;
    if ((st = host_block(m, B_PARAMS, &params, err)) || (st = host_block(m, B_STATS, &stats, err)))
        return st;
    for (int i = 1; i < m->nops; i++) {
        op *bn = &m->ops[i];
        int j = bn_folds_into(m, i);
        if (j < 0)
            continue;
        op *cv = &m->ops[j];
        int k = m->t[bn->in].c;
        size_t per = (size_t)m->t[cv->in].c * cv->r * cv->r;
        float *gamma = params + bn->w_off, *beta = params + bn->b_off;
        float *rm = stats + bn->s_off, *rv = stats + bn->s_off + k;
        for (int ch = 0; ch < k; ch++) {
            double scale = gamma[ch] / sqrt((double)rv[ch] + eps);
            float *w = params + cv->w_off + (size_t)ch * per;
            for (size_t e = 0; e < per; e++)
                w[e] = (float)(w[e] * scale);
            /* the BN becomes a bias add: x / sqrt((1 - eps) + eps) * 1 + offset */
            beta[ch] = (float)(beta[ch] - rm[ch] * scale);
            gamma[ch] = 1.0f;
            rm[ch] = 0.0f;
            rv[ch] = 1.0f - eps;
        }
        folded++;
    }
    *nfolded = folded;
    return TFR_OK;
}

tfr_status tfr_model_round_weights(tfr_model *m, tfr_error *err)
{
    float *params;
    tfr_status st = host_block(m, B_PARAMS, &params, err);
    if (st)
        return st;
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        if (o->kind != OP_CONV && o->kind != OP_DENSE)
            continue;
        size_t n = (size_t)o->k * m->t[o->in].c * (o->kind == OP_CONV ? o->r * o->r : 1);
        float *w = params + o->w_off;
        float lo = w[0], hi = w[0];
        for (size_t j = 1; j < n; j++) {
            lo = w[j] < lo ? w[j] : lo;
            hi = w[j] > hi ? w[j] : hi;
        }
        if (!(hi > lo))
            continue;
        double step = ((double)hi - lo) / 256.0;
        for (size_t j = 0; j < n; j++) {
            int b = (int)(((double)w[j] - lo) / step);
            b = b < 0 ? 0 : b > 255 ? 255 : b;
            w[j] = (float)(lo + (b + 0.5) * step);
        }
    }
    return TFR_OK;
}

tfr_status tfr_device_parse(const char *s, tfr_device_opts *d, tfr_error *err)
{
    char *end;
    if (!strcmp(s, "cpu")) {
        d->kind = TFR_DEVICE_CPU;
        d->index = 0;
        return TFR_OK;
    }
    if (!strcmp(s, "onednn")) {
        d->kind = TFR_DEVICE_ONEDNN;
        d->index = 0;
        return TFR_OK;
    }
    if (!strcmp(s, "auto")) {
        d->kind = TFR_DEVICE_AUTO;
        d->index = -1;
        return TFR_OK;
    }
    if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) {
        d->kind = TFR_DEVICE_CUDA;
        d->index = -1;
        return TFR_OK;
    }
    if (!strncmp(s, "cuda:", 5)) {
        long i = strtol(s + 5, &end, 10);
        if (end != s + 5 && !*end && i >= 0 && i < 1024) {
            d->kind = TFR_DEVICE_CUDA;
            d->index = (int)i;
            return TFR_OK;
        }
    }
    return tfr_fail(err, TFR_ERR_ARG, NULL, "unknown device '%s' (cpu, onednn, cuda, cuda:N, auto)", s);
}

tfr_status tfr_precision_parse(const char *s, tfr_precision *p, tfr_error *err)
{
    if (!strcmp(s, "tf32"))
        *p = TFR_PRECISION_TF32;
    else if (!strcmp(s, "fp32"))
        *p = TFR_PRECISION_FP32;
    else if (!strcmp(s, "bf16"))
        *p = TFR_PRECISION_BF16;
    else
        return tfr_fail(err, TFR_ERR_ARG, NULL, "unknown precision '%s' (fp32, tf32, bf16)", s);
    return TFR_OK;
}
