/*
 * nn/model.c - the pre-activation bottleneck ResNet as a tape of ops.
 *
 *   tail:   conv3x3(in_c -> width) BN ReLU [maxpool 2x2]
 *   level i (width Ni = 4*width*2^i), blocks[i] bottlenecks:
 *     a = ReLU(BN(x)); b = conv1x1(a -> Ni/4, stride) ; BN ReLU conv3x3(Ni/4) ;
 *     BN ReLU conv1x1(-> Ni); out = b + (projection ? conv1x1(a -> Ni, stride) : x)
 *     the first block of level 0 projects ("special"), the first block of each
 *     later level downsamples (stride 2) and projects
 *   head:   BN ReLU, global average pool, dense(-> classes)
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"
#include "tfrecord/nn.h"

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
    float     *mean, *invstd;  /* BN saved statistics */
    int32_t   *idx;            /* pool argmax */
} op;

struct tfr_model {
    tfr_resnet_config cfg;
    tensor *t;
    int     nt, tcap;
    op     *ops;
    int     nops, ocap;
    float  *params, *grads, *mom, *stats;
    size_t  np, ns;
    int     alloc_n, last_n;
    float  *col, *tmp, *dwp;
    int32_t *labels;
    int     have_labels;
};

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

static int add_tensor(tfr_model *m, int c, int h, int w)
{
    if (m->nt == m->tcap) {
        m->tcap = m->tcap ? m->tcap * 2 : 64;
        tensor *t = realloc(m->t, (size_t)m->tcap * sizeof *t);
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
        op *o = realloc(m->ops, (size_t)m->ocap * sizeof *o);
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
    o->mean = calloc((size_t)x.c, sizeof(float));
    o->invstd = calloc((size_t)x.c, sizeof(float));
    if (!o->mean || !o->invstd)
        return -1;
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
    int b = g_conv(m, a, cout / 4, 1, stride);
    b = g_conv(m, g_unary(m, OP_RELU, g_bn(m, b)), cout / 4, 3, 1);
    b = g_conv(m, g_unary(m, OP_RELU, g_bn(m, b)), cout, 1, 1);
    int sc = project ? g_conv(m, a, cout, 1, stride) : x;
    return g_add(m, b, sc);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_normal(uint64_t *s)
{
    double u1 = ((rng_next(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

tfr_status tfr_model_new(const tfr_resnet_config *c, uint64_t seed, tfr_model **out,
                         tfr_error *err)
{
    *out = NULL;
    if (c->in_h < 4 || c->in_w < 4 || c->in_c < 1 || c->classes < 2 || c->width < 4 ||
        c->width % 4 || c->nlevels < 1 || c->nlevels > TFR_MAX_LEVELS)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "bad model config (input >= 4x4, classes >= 2, width a multiple of 4, "
                        "1..%d levels)", TFR_MAX_LEVELS);
    for (int i = 0; i < c->nlevels; i++)
        if (c->levels[i] < 1)
            return tfr_fail(err, TFR_ERR_ARG, NULL, "level %d has no blocks", i);
    tfr_model *m = calloc(1, sizeof *m);
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
        int ni = 4 * c->width << l;
        for (int b = 0; b < c->levels[l] && x >= 0; b++)
            x = g_block(m, x, ni, (l > 0 && b == 0) ? 2 : 1, b == 0);
    }
    x = g_unary(m, OP_GAP, g_unary(m, OP_RELU, g_bn(m, x)));
    x = g_dense(m, x, c->classes);
    m->params = calloc(m->np, sizeof(float));
    m->grads = calloc(m->np, sizeof(float));
    m->mom = calloc(m->np, sizeof(float));
    m->stats = calloc(m->ns ? m->ns : 1, sizeof(float));
    if (x < 0 || !m->params || !m->grads || !m->mom || !m->stats) {
        tfr_model_free(m);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
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
                m->params[o->w_off + j] = (float)(rng_normal(&rs) * sd);
        } else if (o->kind == OP_BN) {
            for (int j = 0; j < in.c; j++) {
                m->params[o->w_off + (size_t)j] = 1.0f;
                m->stats[o->s_off + (size_t)in.c + (size_t)j] = 1.0f;
            }
        }
    }
    *out = m;
    return TFR_OK;
}

void tfr_model_free(tfr_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nt; i++) {
        free(m->t[i].d);
        free(m->t[i].g);
    }
    for (int i = 0; i < m->nops; i++) {
        free(m->ops[i].mean);
        free(m->ops[i].invstd);
        free(m->ops[i].idx);
    }
    free(m->t);
    free(m->ops);
    free(m->params);
    free(m->grads);
    free(m->mom);
    free(m->stats);
    free(m->col);
    free(m->tmp);
    free(m->dwp);
    free(m->labels);
    free(m);
}

const tfr_resnet_config *tfr_model_config(const tfr_model *m) { return &m->cfg; }
size_t tfr_model_num_params(const tfr_model *m) { return m->np; }
float *tfr_model_params(tfr_model *m) { return m->params; }
float *tfr_model_grads(tfr_model *m) { return m->grads; }

/* for checkpoints (nn internal) */
float *tfr_model_momentum(tfr_model *m) { return m->mom; }
float *tfr_model_stats(tfr_model *m, size_t *n)
{
    *n = m->ns;
    return m->stats;
}

static size_t tsize(const tensor *t, int n) { return (size_t)n * t->c * t->h * t->w; }

static tfr_status ensure_batch(tfr_model *m, int n, tfr_error *err)
{
    if (n <= m->alloc_n)
        goto setup;
    for (int i = 0; i < m->nt; i++) {
        free(m->t[i].d);
        free(m->t[i].g);
        m->t[i].d = malloc(tsize(&m->t[i], n) * sizeof(float));
        m->t[i].g = malloc(tsize(&m->t[i], n) * sizeof(float));
        if (!m->t[i].d || !m->t[i].g)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for batch %d", n);
    }
    size_t colmax = 1, tmpmax = 1, dwmax = 1;
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        if (o->kind == OP_POOL) {
            free(o->idx);
            o->idx = malloc(tsize(&m->t[o->out], n) * sizeof(int32_t));
            if (!o->idx)
                return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        }
        if (o->kind == OP_CONV) {
            tensor *in = &m->t[o->in], *out = &m->t[o->out];
            size_t c = (size_t)in->c * o->r * o->r * n * out->h * out->w;
            size_t t = tsize(out, n);
            colmax = c > colmax ? c : colmax;
            tmpmax = t > tmpmax ? t : tmpmax;
            tfr_conv2d cv;
            tfr_conv2d_setup(&cv, n, in->c, in->h, in->w, o->k, o->r, o->r, o->stride, o->pad);
            size_t d = tfr_conv2d_dw_scratch(&cv);
            dwmax = d > dwmax ? d : dwmax;
        }
    }
    free(m->col);
    free(m->tmp);
    free(m->dwp);
    free(m->labels);
    m->col = malloc(colmax * sizeof(float));
    m->tmp = malloc(tmpmax * sizeof(float));
    m->dwp = malloc(dwmax * sizeof(float));
    m->labels = malloc((size_t)n * sizeof(int32_t));
    if (!m->col || !m->tmp || !m->dwp || !m->labels)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    m->alloc_n = n;
setup:
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        if (o->kind == OP_CONV) {
            tensor *in = &m->t[o->in];
            tfr_conv2d_setup(&o->cv, n, in->c, in->h, in->w, o->k, o->r, o->r, o->stride, o->pad);
        }
    }
    return TFR_OK;
}

tfr_status tfr_model_forward(tfr_model *m, const float *x, int n, const int32_t *labels,
                             int train, float *loss, tfr_error *err)
{
    if (n <= 0)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "empty batch");
    tfr_status st = ensure_batch(m, n, err);
    if (st)
        return st;
    memcpy(m->t[0].d, x, tsize(&m->t[0], n) * sizeof(float));
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        tensor *in = &m->t[o->in], *out = &m->t[o->out];
        switch (o->kind) {
        case OP_CONV:
            conv2d_fwd_cpu(&o->cv, in->d, m->params + o->w_off, out->d, m->col, m->tmp);
            break;
        case OP_BN:
            batchnorm_fwd_cpu(n, in->c, in->h * in->w, in->d, m->params + o->w_off,
                              m->params + o->b_off, out->d, o->mean, o->invstd,
                              m->stats + o->s_off, m->stats + o->s_off + in->c, train, 0.1f, 1e-5f);
            break;
        case OP_RELU:
            relu_fwd_cpu(tsize(in, n), in->d, out->d);
            break;
        case OP_POOL:
            maxpool2_fwd_cpu(n, in->c, in->h, in->w, in->d, out->d, o->idx);
            break;
        case OP_ADD:
            add_fwd_cpu(tsize(in, n), in->d, m->t[o->in2].d, out->d);
            break;
        case OP_GAP:
            gap_fwd_cpu(n, in->c, in->h * in->w, in->d, out->d);
            break;
        case OP_DENSE:
            dense_fwd_cpu(n, in->c, o->k, in->d, m->params + o->w_off, m->params + o->b_off, out->d);
            break;
        }
    }
    m->last_n = n;
    m->have_labels = labels != NULL;
    if (labels) {
        memcpy(m->labels, labels, (size_t)n * sizeof(int32_t));
        if (loss)
            *loss = softmax_ce_cpu(n, m->cfg.classes, m->t[m->nt - 1].d, labels, NULL);
    }
    return TFR_OK;
}

const float *tfr_model_logits(const tfr_model *m)
{
    return m->t[m->nt - 1].d;
}

tfr_status tfr_model_backward(tfr_model *m, float l2, tfr_error *err)
{
    if (!m->have_labels || !m->last_n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "backward needs a forward pass with labels");
    int n = m->last_n;
    for (int i = 0; i < m->nt; i++)
        memset(m->t[i].g, 0, tsize(&m->t[i], n) * sizeof(float));
    memset(m->grads, 0, m->np * sizeof(float));
    tensor *lt = &m->t[m->nt - 1];
    softmax_ce_cpu(n, m->cfg.classes, lt->d, m->labels, lt->g);
    for (int i = m->nops - 1; i >= 0; i--) {
        op *o = &m->ops[i];
        tensor *in = &m->t[o->in], *out = &m->t[o->out];
        switch (o->kind) {
        case OP_CONV:
            conv2d_bwd_cpu(&o->cv, in->d, m->params + o->w_off, out->g, o->in == 0 ? NULL : in->g,
                           m->grads + o->w_off, m->col, m->tmp, m->dwp);
            break;
        case OP_BN:
            batchnorm_bwd_cpu(n, in->c, in->h * in->w, in->d, m->params + o->w_off, o->mean,
                              o->invstd, out->g, in->g, m->grads + o->w_off, m->grads + o->b_off);
            break;
        case OP_RELU:
            relu_bwd_cpu(tsize(in, n), out->d, out->g, in->g);
            break;
        case OP_POOL:
            maxpool2_bwd_cpu(n, in->c, in->h, in->w, o->idx, out->g, in->g);
            break;
        case OP_ADD: {
            size_t cnt = tsize(in, n);
            float *ga = in->g, *gb = m->t[o->in2].g;
            const float *d = out->g;
            for (size_t j = 0; j < cnt; j++) {
                ga[j] += d[j];
                gb[j] += d[j];
            }
            break;
        }
        case OP_GAP:
            gap_bwd_cpu(n, in->c, in->h * in->w, out->g, in->g);
            break;
        case OP_DENSE: {
            float *w = m->params + o->w_off, *dw = m->grads + o->w_off;
            dense_bwd_cpu(n, in->c, o->k, in->d, w, out->g, in->g, dw, m->grads + o->b_off);
            size_t cnt = (size_t)o->k * in->c;
            for (size_t j = 0; j < cnt; j++)
                dw[j] += l2 * w[j];
            break;
        }
        }
    }
    return TFR_OK;
}

void tfr_model_sgd(tfr_model *m, float lr, float momentum, float weight_decay)
{
    float *w = m->params, *g = m->grads, *v = m->mom;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->np; i++) {
        v[i] = momentum * v[i] - lr * (g[i] + weight_decay * w[i]);
        w[i] += v[i];
    }
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
    memcpy(out, m->t[m->nt - 2].d, (size_t)n * m->t[m->nt - 2].c * sizeof(float));
    return TFR_OK;
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
    /* the dense layer is the last op: everything before it lines up */
    const op *d = &m->ops[m->nops - 1];
    memcpy(m->params, bb->params, d->w_off * sizeof(float));
    memcpy(m->stats, bb->stats, m->ns * sizeof(float));
    size_t fd = (size_t)tfr_model_feature_dim(m);
    if (w)
        memcpy(m->params + d->w_off, w, (size_t)classes * fd * sizeof(float));
    else
        memset(m->params + d->w_off, 0, (size_t)classes * fd * sizeof(float));
    if (b)
        memcpy(m->params + d->b_off, b, (size_t)classes * sizeof(float));
    else
        memset(m->params + d->b_off, 0, (size_t)classes * sizeof(float));
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

int tfr_model_fold_bn(tfr_model *m)
{
    const float eps = 1e-5f;
    int folded = 0;
    for (int i = 1; i < m->nops; i++) {
        op *bn = &m->ops[i];
        if (bn->kind != OP_BN)
            continue;
        op *cv = NULL;
        for (int j = 0; j < i; j++)
            if (m->ops[j].kind == OP_CONV && m->ops[j].out == bn->in)
                cv = &m->ops[j];
        if (!cv || !single_reader(m, bn->in))
            continue;
        int k = m->t[bn->in].c;
        size_t per = (size_t)m->t[cv->in].c * cv->r * cv->r;
        float *gamma = m->params + bn->w_off, *beta = m->params + bn->b_off;
        float *rm = m->stats + bn->s_off, *rv = m->stats + bn->s_off + k;
        for (int ch = 0; ch < k; ch++) {
            double scale = gamma[ch] / sqrt((double)rv[ch] + eps);
            float *w = m->params + cv->w_off + (size_t)ch * per;
            for (size_t j = 0; j < per; j++)
                w[j] = (float)(w[j] * scale);
            /* the BN becomes a bias add: x / sqrt((1 - eps) + eps) * 1 + offset */
            beta[ch] = (float)(beta[ch] - rm[ch] * scale);
            gamma[ch] = 1.0f;
            rm[ch] = 0.0f;
            rv[ch] = 1.0f - eps;
        }
        folded++;
    }
    return folded;
}

void tfr_model_round_weights(tfr_model *m)
{
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        if (o->kind != OP_CONV && o->kind != OP_DENSE)
            continue;
        size_t n = (size_t)o->k * m->t[o->in].c * (o->kind == OP_CONV ? o->r * o->r : 1);
        float *w = m->params + o->w_off;
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
}
