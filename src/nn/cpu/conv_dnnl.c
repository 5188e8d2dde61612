/*
 * nn/cpu/conv_dnnl.c - convolutions through oneDNN (Debian's libdnnl) for
 * the "onednn" CPU backend of ops_cpu.c.
 *
 * The backend's activations are NHWC (kernels_nhwc.c has its other
 * layout-bound ops) and its filters (K, C, R, S), as on the reference
 * backend. Each convolution shape gets three primitives (forward, backward
 * data, backward weights), created at its first use and kept. They read and
 * write the activations in place, as NHWC; only the filters and their
 * gradient go through oneDNN's own blocked format (format "any"), by
 * reorders into scratch buffers shared by all shapes. The gradients are
 * ADDED into dx and dw as the op table asks: the primitive writes a scratch
 * copy and the reorder into the user's buffer carries a sum post-op.
 *
 * bf16 (tfr_dnnl_new's bf16): a pass reads its inputs as bfloat16 (the
 * reorders round the float activations and filters, round to nearest
 * even) and writes float32, accumulating in float32, as PyTorch's CPU
 * autocast does; activations stay float32 in memory, so nothing else in the
 * backend changes. Only filters wider than 1x1 on inputs of 4 channels or
 * more run in bf16: measured on AMX (Sapphire Rapids, 2 threads, oneDNN
 * 2.6.3, batch 128, the fmnist recipe's shapes), their passes take 1.3-4.7x
 * less time in bf16 even with the conversion of their inputs, while a 1x1
 * convolution moves as many bytes as it computes, so its bf16 pass is no
 * faster than its float32 one once its inputs are converted (0.7-1.1x), and
 * a 1-channel input runs slower in bf16 (0.83x). A pass also stays float32
 * where oneDNN has no bf16 kernel for this CPU but its reference one.
 *
 * Results depend on oneDNN's kernels for this CPU and on the thread count
 * (its weight-gradient reduction follows the thread split): bit-identical
 * from run to run with both fixed, and equal to the reference kernels only
 * to rounding (tests/unit/test_nn_onednn.c says how close).
 */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cpu/dnnl_impl.h"
#include "util/alloc.h"

#define SLOTS 3  /* scratch buffers: at most three operands per primitive */

/* One operand of a primitive: the user's buffer (a plain layout) and, when
 * the primitive wants another format or the result is added, its own copy. */
typedef struct darg {
    int              arg;        /* DNNL_ARG_* */
    int              out, add;   /* an output; added into the user's buffer */
    dnnl_memory_t    user, prim; /* prim == user when the formats agree and nothing is added */
    dnnl_primitive_t reorder;    /* user -> prim (inputs), prim -> user (outputs) */
    size_t           bytes;      /* of prim's buffer */
} darg;

typedef struct dprim {
    dnnl_primitive_t p;
    darg             a[3];
} dprim;

typedef struct dconv {
    tfr_conv2d cv;
    dprim      fwd, bwd_data, bwd_w;
    int        bf16[3]; /* forward, backward data, backward weights in bf16 */
} dconv;

struct tfr_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dconv        *conv;
    size_t        nconv, cap;
    void         *slot[SLOTS];
    size_t        slot_bytes[SLOTS];
    char          isa[64];
    int           bf16;        /* bf16 passes where this CPU has them */
    size_t        passes[2];   /* passes made: in float32, in bf16 */
};

static tfr_status dfail(tfr_error *err, dnnl_status_t s, const char *what)
{
    return tfr_fail(err, s == dnnl_out_of_memory ? TFR_ERR_NOMEM : TFR_ERR_UNAVAILABLE, NULL,
                    "oneDNN: %s failed (status %d)", what, (int)s);
}

#define DN(call, what)                                     \
    do {                                                   \
        dnnl_status_t s_ = (call);                         \
        if (s_ != dnnl_success)                            \
            return dfail(err, s_, what);                   \
    } while (0)

tfr_status tfr_dnnl_new(tfr_dnnl **out, int bf16, tfr_error *err)
{
    *out = NULL;
    tfr_dnnl *d = tfr_calloc(1, sizeof *d);
    if (!d)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    d->bf16 = bf16;
    dnnl_status_t s = dnnl_engine_create(&d->eng, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        tfr_dnnl_free(d);
        return dfail(err, s, "creating the CPU engine");
    }
    const dnnl_version_t *v = dnnl_version();
    snprintf(d->isa, sizeof d->isa, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    *out = d;
    return TFR_OK;
}

static void free_prim(dprim *p)
{
    for (int i = 0; i < 3; i++) {
        darg *a = &p->a[i];
        if (a->reorder)
            dnnl_primitive_destroy(a->reorder);
        if (a->prim && a->prim != a->user)
            dnnl_memory_destroy(a->prim);
        if (a->user)
            dnnl_memory_destroy(a->user);
    }
    if (p->p)
        dnnl_primitive_destroy(p->p);
    memset(p, 0, sizeof *p);
}

void tfr_dnnl_free(tfr_dnnl *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nconv; i++) {
        free_prim(&d->conv[i].fwd);
        free_prim(&d->conv[i].bwd_data);
        free_prim(&d->conv[i].bwd_w);
    }
    free(d->conv);
    for (int i = 0; i < SLOTS; i++)
        free(d->slot[i]);
    if (d->stream)
        dnnl_stream_destroy(d->stream);
    if (d->eng)
        dnnl_engine_destroy(d->eng);
    free(d);
}

const char *tfr_dnnl_version(const tfr_dnnl *d) { return d->isa; }

void tfr_dnnl_passes(const tfr_dnnl *d, size_t *f32, size_t *bf16)
{
    *f32 = d->passes[0];
    *bf16 = d->passes[1];
}

/* Binds operand `a` of primitive descriptor pd (its md by query q) to a
 * user buffer of plain layout umd. */
static tfr_status bind(tfr_dnnl *d, darg *a, const_dnnl_primitive_desc_t pd, dnnl_query_t q,
                       const dnnl_memory_desc_t *umd, int arg, int out, int add, tfr_error *err)
{
    a->arg = arg;
    a->out = out;
    a->add = add;
    const dnnl_memory_desc_t *pmd = dnnl_primitive_desc_query_md(pd, q, 0);
    if (!pmd)
        return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL, "oneDNN: no memory descriptor");
    DN(dnnl_memory_create(&a->user, umd, d->eng, DNNL_MEMORY_NONE), "memory");
    if (dnnl_memory_desc_equal(pmd, umd) && !add) {
        a->prim = a->user;
        return TFR_OK;
    }
    DN(dnnl_memory_create(&a->prim, pmd, d->eng, DNNL_MEMORY_NONE), "memory");
    a->bytes = dnnl_memory_desc_get_size(pmd);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (add) {
        DN(dnnl_primitive_attr_create(&attr), "attributes");
        DN(dnnl_post_ops_create(&po), "post-ops");
        DN(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
        DN(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
    }
    dnnl_primitive_desc_t rpd;
    dnnl_status_t s = out ? dnnl_reorder_primitive_desc_create(&rpd, pmd, d->eng, umd, d->eng, attr)
                          : dnnl_reorder_primitive_desc_create(&rpd, umd, d->eng, pmd, d->eng, attr);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return dfail(err, s, "reorder");
    s = dnnl_primitive_create(&a->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (s != dnnl_success)
        return dfail(err, s, "reorder");
    return TFR_OK;
}

/* Grows scratch slot i to n bytes (64-byte aligned). */
static tfr_status slot_at_least(tfr_dnnl *d, int i, size_t n, tfr_error *err)
{
    if (n <= d->slot_bytes[i])
        return TFR_OK;
    void *p = NULL;
    if (posix_memalign(&p, 64, n))
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for %zu bytes of "
                                                  "convolution scratch", n);
    free(d->slot[i]);
    d->slot[i] = p;
    d->slot_bytes[i] = n;
    return TFR_OK;
}

static tfr_status reorder(tfr_dnnl *d, const darg *a, tfr_error *err)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a->out ? a->prim : a->user},
                               {DNNL_ARG_TO, a->out ? a->user : a->prim}};
    DN(dnnl_primitive_execute(a->reorder, d->stream, 2, args), "reorder");
    return TFR_OK;
}

/* Runs p on the user buffers ptr[0..2] (in the order of p->a). */
static tfr_status run(tfr_dnnl *d, dprim *p, void *const ptr[3], tfr_error *err)
{
    dnnl_exec_arg_t args[3];
    for (int i = 0; i < 3; i++) {
        darg *a = &p->a[i];
        DN(dnnl_memory_set_data_handle(a->user, ptr[i]), "memory");
        if (a->prim != a->user) {
            tfr_status st = slot_at_least(d, i, a->bytes, err);
            if (st)
                return st;
            DN(dnnl_memory_set_data_handle(a->prim, d->slot[i]), "memory");
            if (!a->out && (st = reorder(d, a, err)))
                return st;
        }
        args[i] = (dnnl_exec_arg_t){a->arg, a->prim};
    }
    DN(dnnl_primitive_execute(p->p, d->stream, 3, args), "convolution");
    for (int i = 0; i < 3; i++)
        if (p->a[i].out && p->a[i].prim != p->a[i].user) {
            tfr_status st = reorder(d, &p->a[i], err);
            if (st)
                return st;
        }
    DN(dnnl_stream_wait(d->stream), "stream");
    return TFR_OK;
}

/* The descriptor of one pass of cv: activations NHWC, inputs in type t
 * (outputs float32), filters in the primitive's format. */
static dnnl_status_t conv_desc(const tfr_conv2d *cv, int pass, dnnl_data_type_t t,
                               dnnl_convolution_desc_t *cd)
{
    const dnnl_dims_t xd = {cv->n, cv->c, cv->h, cv->w}, wd = {cv->k, cv->c, cv->r, cv->s},
                      yd = {cv->n, cv->k, cv->p, cv->q}, strides = {cv->stride, cv->stride};
    /* symmetric padding: oneDNN sizes the output as tfr_conv2d_setup does,
     * (h + 2 pad - r) / stride + 1 rounded down */
    const dnnl_dims_t pl = {cv->pad, cv->pad}, pr = {cv->pad, cv->pad};
    /* x is an input of the forward and weight passes, y (dy) of the other two */
    dnnl_data_type_t tx = pass == 1 ? dnnl_f32 : t, ty = pass == 0 ? dnnl_f32 : t,
                     tw = pass == 2 ? dnnl_f32 : t;
    dnnl_memory_desc_t x, w, y;
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&x, 4, xd, tx, dnnl_nhwc);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_tag(&w, 4, wd, tw, dnnl_format_tag_any);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_tag(&y, 4, yd, ty, dnnl_nhwc);
    if (s != dnnl_success)
        return s;
    if (pass == 0)
        return dnnl_convolution_forward_desc_init(cd, dnnl_forward_training,
                                                  dnnl_convolution_direct, &x, &w, NULL, &y,
                                                  strides, pl, pr);
    if (pass == 1)
        return dnnl_convolution_backward_data_desc_init(cd, dnnl_convolution_direct, &x, &w, &y,
                                                        strides, pl, pr);
    return dnnl_convolution_backward_weights_desc_init(cd, dnnl_convolution_direct, &x, &w, NULL,
                                                       &y, strides, pl, pr);
}

/* The primitive descriptor of one pass (hint: a forward one of the same
 * type, for the backward passes); NULL where oneDNN has none. */
static dnnl_primitive_desc_t pass_pd(tfr_dnnl *d, const tfr_conv2d *cv, int pass,
                                     dnnl_data_type_t t, const_dnnl_primitive_desc_t hint)
{
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    if (conv_desc(cv, pass, t, &cd) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &cd, NULL, d->eng, hint) != dnnl_success)
        return NULL;
    return pd;
}

/* oneDNN's name of the kernel behind pd ("brgconv:avx512_core_amx_bf16", "ref:any") */
static const char *impl_name(const_dnnl_primitive_desc_t pd)
{
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success)
        return "";
    return name ? name : "";
}

/* The primitives of one convolution shape. */
static tfr_status make_conv(tfr_dnnl *d, const tfr_conv2d *cv, dconv *c, tfr_error *err)
{
    memset(c, 0, sizeof *c);
    c->cv = *cv;
    const dnnl_dims_t xd = {cv->n, cv->c, cv->h, cv->w}, wd = {cv->k, cv->c, cv->r, cv->s},
                      yd = {cv->n, cv->k, cv->p, cv->q};
    dnnl_memory_desc_t xu, wu, yu;
    DN(dnnl_memory_desc_init_by_tag(&xu, 4, xd, dnnl_f32, dnnl_nhwc), "memory descriptor");
    DN(dnnl_memory_desc_init_by_tag(&wu, 4, wd, dnnl_f32, dnnl_oihw), "memory descriptor");
    DN(dnnl_memory_desc_init_by_tag(&yu, 4, yd, dnnl_f32, dnnl_nhwc), "memory descriptor");
    /* float32 passes, and the forward one as the hint of the others */
    dnnl_primitive_desc_t f32[3] = {NULL, NULL, NULL}, b16[3] = {NULL, NULL, NULL}, pd[3];
    f32[0] = pass_pd(d, cv, 0, dnnl_f32, NULL);
    for (int i = 1; i < 3 && f32[0]; i++)
        f32[i] = pass_pd(d, cv, i, dnnl_f32, f32[0]);
    /* bf16 where it pays (see the top of this file) */
    if (d->bf16 && cv->r * cv->s > 1 && cv->c >= 4 &&
        (b16[0] = pass_pd(d, cv, 0, dnnl_bf16, NULL)))
        for (int i = 1; i < 3; i++)
            b16[i] = pass_pd(d, cv, i, dnnl_bf16, b16[0]);
    tfr_status st = TFR_OK;
    for (int i = 0; i < 3; i++) {
        /* oneDNN's reference kernels are orders of magnitude slower than
         * its float32 ones: bf16 only where a real kernel runs it */
        c->bf16[i] = b16[i] && strncmp(impl_name(b16[i]), "ref", 3) != 0;
        pd[i] = c->bf16[i] ? b16[i] : f32[i];
        if (!pd[i] && !st)
            st = tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,
                          "oneDNN: no convolution for %dx%dx%d -> %d, %dx%d filters", cv->c,
                          cv->h, cv->w, cv->k, cv->r, cv->s);
    }
    if (!st) {
        dnnl_status_t s = dnnl_primitive_create(&c->fwd.p, pd[0]);
        if (s == dnnl_success)
            s = dnnl_primitive_create(&c->bwd_data.p, pd[1]);
        if (s == dnnl_success)
            s = dnnl_primitive_create(&c->bwd_w.p, pd[2]);
        if (s != dnnl_success)
            st = dfail(err, s, "creating a convolution");
    }
    if (!st && !(st = bind(d, &c->fwd.a[0], pd[0], dnnl_query_src_md, &xu, DNNL_ARG_SRC, 0, 0,
                           err)) &&
        !(st = bind(d, &c->fwd.a[1], pd[0], dnnl_query_weights_md, &wu, DNNL_ARG_WEIGHTS, 0, 0,
                    err)) &&
        !(st = bind(d, &c->fwd.a[2], pd[0], dnnl_query_dst_md, &yu, DNNL_ARG_DST, 1, 0, err)) &&
        !(st = bind(d, &c->bwd_data.a[0], pd[1], dnnl_query_diff_dst_md, &yu, DNNL_ARG_DIFF_DST, 0,
                    0, err)) &&
        !(st = bind(d, &c->bwd_data.a[1], pd[1], dnnl_query_weights_md, &wu, DNNL_ARG_WEIGHTS, 0,
                    0, err)) &&
        !(st = bind(d, &c->bwd_data.a[2], pd[1], dnnl_query_diff_src_md, &xu, DNNL_ARG_DIFF_SRC, 1,
                    1, err)) &&
        !(st = bind(d, &c->bwd_w.a[0], pd[2], dnnl_query_src_md, &xu, DNNL_ARG_SRC, 0, 0, err)) &&
        !(st = bind(d, &c->bwd_w.a[1], pd[2], dnnl_query_diff_dst_md, &yu, DNNL_ARG_DIFF_DST, 0, 0,
                    err))) {
        st = bind(d, &c->bwd_w.a[2], pd[2], dnnl_query_diff_weights_md, &wu, DNNL_ARG_DIFF_WEIGHTS,
                  1, 1, err);
    }
    for (int i = 0; i < 3; i++) {
        if (f32[i])
            dnnl_primitive_desc_destroy(f32[i]);
        if (b16[i])
            dnnl_primitive_desc_destroy(b16[i]);
    }
    if (st) {
        free_prim(&c->fwd);
        free_prim(&c->bwd_data);
        free_prim(&c->bwd_w);
        return st;
    }
    for (int i = 0; i < 3; i++)
        d->passes[c->bf16[i]]++;
    return TFR_OK;
}

static int same_conv(const tfr_conv2d *a, const tfr_conv2d *b)
{
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w && a->k == b->k &&
           a->r == b->r && a->s == b->s && a->stride == b->stride && a->pad == b->pad;
}

/* The cached primitives of cv's shape, made at its first use. */
static tfr_status find_conv(tfr_dnnl *d, const tfr_conv2d *cv, dconv **out, tfr_error *err)
{
    for (size_t i = 0; i < d->nconv; i++)
        if (same_conv(&d->conv[i].cv, cv)) {
            *out = &d->conv[i];
            return TFR_OK;
        }
    if (d->nconv == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        dconv *p = tfr_realloc(d->conv, nc * sizeof *p);
        if (!p)
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        d->conv = p;
        d->cap = nc;
    }
    tfr_status st = make_conv(d, cv, &d->conv[d->nconv], err);
    if (st)
        return st;
    *out = &d->conv[d->nconv++];
    return TFR_OK;
}

tfr_status tfr_dnnl_conv_fwd(tfr_dnnl *d, const tfr_conv2d *cv, const float *x, const float *w,
                             float *y, tfr_error *err)
{
    dconv *c = NULL;
    tfr_status st = find_conv(d, cv, &c, err);
    if (st)
        return st;
    void *const ptr[3] = {(void *)x, (void *)w, y};
    return run(d, &c->fwd, ptr, err);
}

tfr_status tfr_dnnl_conv_bwd(tfr_dnnl *d, const tfr_conv2d *cv, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, tfr_error *err)
{
    dconv *c = NULL;
    tfr_status st = find_conv(d, cv, &c, err);
    if (st)
        return st;
    void *const pw[3] = {(void *)x, (void *)dy, dw};
    if ((st = run(d, &c->bwd_w, pw, err)))
        return st;
    if (!dx)
        return TFR_OK;
    void *const pd[3] = {(void *)dy, (void *)w, dx};
    return run(d, &c->bwd_data, pd, err);
}
