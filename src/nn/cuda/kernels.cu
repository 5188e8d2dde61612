/*
 * nn/cuda/kernels.cu - the CUDA backend's own kernels: one thread per
 * output element (grid-stride loops) running the bodies in
 * nn/elementwise.h, which the CPU tests check on machines without a GPU.
 * `bf` selects bf16 activation buffers (the backend's bf16 mode).
 */
#include <string.h>

#include "nn/cuda/cuda_common.h"
#include "nn/elementwise.h"

#define FOR_EACH(count) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (count); \
         i += (size_t)gridDim.x * blockDim.x)

static __global__ void k_nchw_to_nhwc(size_t count, int c, int h, int w, const void *src, int sbf,
                                      void *dst, int dbf)
{
    FOR_EACH(count) ew_nchw_to_nhwc(i, c, h, w, src, sbf, dst, dbf);
}

static __global__ void k_nhwc_to_nchw(size_t count, int c, int h, int w, const void *src, int sbf,
                                      void *dst, int dbf)
{
    FOR_EACH(count) ew_nhwc_to_nchw(i, c, h, w, src, sbf, dst, dbf);
}

static __global__ void k_input_u8(size_t count, int c, int h, int w, const uint8_t *src,
                                  const uint8_t *flip, float scale, float offset, void *dst, int bf)
{
    FOR_EACH(count) ew_input_u8(i, c, h, w, 1, src, flip, scale, offset, dst, bf);
}

static __global__ void k_bn_infer(size_t count, int c, const void *x, const float *gamma,
                                  const float *beta, const float *rm, const float *rv, float eps,
                                  void *y, int bf)
{
    FOR_EACH(count) ew_bn_infer(i, c, x, gamma, beta, rm, rv, eps, y, bf);
}

static __global__ void k_bn_infer_stats(size_t count, const float *rm, const float *rv, float eps,
                                        float *mean, float *invstd)
{
    FOR_EACH(count) ew_bn_infer_stats(i, rm, rv, eps, mean, invstd);
}

static __global__ void k_bn_part(size_t count, int c, size_t rows, const void *x, const void *dy,
                                 const float *mean, const float *invstd, float *p0, float *p1,
                                 int bf)
{
    FOR_EACH(count) ew_bn_part(i, c, rows, x, dy, mean, invstd, p0, p1, bf);
}

static __global__ void k_bn_stats(size_t count, size_t rows, const float *p0, const float *p1,
                                  float eps, float momentum, float *mean, float *invstd, float *rm,
                                  float *rv)
{
    FOR_EACH(count) ew_bn_stats(i, (int)count, rows, p0, p1, eps, momentum, mean, invstd, rm, rv);
}

static __global__ void k_bn_apply(size_t count, int c, const void *x, const float *gamma,
                                  const float *beta, const float *mean, const float *invstd,
                                  void *y, int bf)
{
    FOR_EACH(count) ew_bn_apply(i, c, x, gamma, beta, mean, invstd, y, bf);
}

static __global__ void k_bn_bwd_sums(size_t count, size_t rows, const float *p0, const float *p1,
                                     float *sums, float *dgamma, float *dbeta)
{
    FOR_EACH(count) ew_bn_bwd_sums(i, (int)count, rows, p0, p1, sums, dgamma, dbeta);
}

static __global__ void k_bn_bwd_apply(size_t count, int c, size_t rows, const void *x,
                                      const void *dy, void *dx, const float *gamma,
                                      const float *mean, const float *invstd, const float *sums,
                                      int bf)
{
    FOR_EACH(count) ew_bn_bwd_apply(i, c, rows, x, dy, dx, gamma, mean, invstd, sums, bf);
}

static __global__ void k_relu_fwd(size_t count, const void *x, void *y, int bf)
{
    FOR_EACH(count) ew_relu_fwd(i, x, y, bf);
}

static __global__ void k_relu_bwd(size_t count, const void *y, const void *dy, void *dx, int bf)
{
    FOR_EACH(count) ew_relu_bwd(i, y, dy, dx, bf);
}

static __global__ void k_pool_fwd(size_t count, int c, int h, int w, const void *x, void *y,
                                  int32_t *idx, int bf)
{
    FOR_EACH(count) ew_pool_fwd(i, c, h, w, x, y, idx, bf);
}

static __global__ void k_pool_bwd(size_t count, int c, int h, int w, const int32_t *idx,
                                  const void *dy, void *dx, int bf)
{
    FOR_EACH(count) ew_pool_bwd(i, c, h, w, idx, dy, dx, bf);
}

static __global__ void k_add_fwd(size_t count, const void *a, const void *b, void *y, int bf)
{
    FOR_EACH(count) ew_add_fwd(i, a, b, y, bf);
}

static __global__ void k_add_bwd(size_t count, const void *dy, void *da, void *db, int bf)
{
    FOR_EACH(count) ew_add_bwd(i, dy, da, db, bf);
}

static __global__ void k_gap_fwd(size_t count, int c, int hw, const void *x, void *y, int bf)
{
    FOR_EACH(count) ew_gap_fwd(i, c, hw, x, y, bf);
}

static __global__ void k_gap_bwd(size_t count, int c, int hw, const void *dy, void *dx, int bf)
{
    FOR_EACH(count) ew_gap_bwd(i, c, hw, dy, dx, bf);
}

static __global__ void k_bias_rows(size_t count, int k, const float *bias, void *y, int bf)
{
    FOR_EACH(count) ew_bias_rows(i, k, bias, y, bf);
}

static __global__ void k_bias_grad(size_t count, int n, int k, const void *dy, float *db, int bf)
{
    FOR_EACH(count) ew_bias_grad(i, n, k, dy, db, bf);
}

static __global__ void k_axpy(size_t count, float a, const float *x, float *y)
{
    FOR_EACH(count) ew_axpy(i, a, x, y);
}

static __global__ void k_to_bf16(size_t count, const float *src, uint16_t *dst)
{
    FOR_EACH(count) ew_to_bf16(i, src, dst);
}

static __global__ void k_add_bf16(size_t count, const uint16_t *src, float *dst)
{
    FOR_EACH(count) ew_add_bf16(i, src, dst);
}

static __global__ void k_convert(size_t count, const void *src, int sbf, void *dst, int dbf)
{
    FOR_EACH(count) ew_convert(i, src, sbf, dst, dbf);
}

static __global__ void k_softmax_ce(size_t count, int k, const void *logits, const int32_t *labels,
                                    float smooth, float *loss_rows, void *dlogits, int bf)
{
    FOR_EACH(count)
    ew_softmax_ce_row(i, (int)count, k, logits, labels, smooth, loss_rows, dlogits, bf);
}

static __global__ void k_mean(int n, const float *v, float *out)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        ew_mean(n, v, out);
}

static __global__ void k_sgd(size_t count, float *w, const float *g, float *v, float lr, float mu,
                             float wd)
{
    FOR_EACH(count) ew_sgd(i, w, g, v, lr, mu, wd);
}

#define LAUNCH(kernel, count, ...)                                                         \
    do {                                                                                   \
        if ((count) > 0) {                                                                 \
            kernel<<<tfr_blocks(count), 256, 0, b->compute>>>((count), __VA_ARGS__);       \
            LAUNCH_CHECK();                                                                \
        }                                                                                  \
    } while (0)

tfr_status tfr_cuda_filter_layout(tfr_backend *b, const tfr_conv2d *cv, const float *src,
                                  float *dst, int to_backend, tfr_error *err)
{
    size_t count = (size_t)cv->k * cv->c * cv->r * cv->s;
    tfr_wcache_written(&b->wcache, dst, count * sizeof(float));
    if (to_backend)
        LAUNCH(k_nchw_to_nhwc, count, cv->c, cv->r, cv->s, src, 0, dst, 0);
    else
        LAUNCH(k_nhwc_to_nchw, count, cv->c, cv->r, cv->s, src, 0, dst, 0);
    return TFR_OK;
}

tfr_status tfr_cuda_input_f32(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                              tfr_error *err)
{
    size_t count = (size_t)n * c * h * w;
    tfr_status st = tfr_cuda_scratch(b, count * sizeof(float), err);
    if (st)
        return st;
    /* pageable source: returns once the bytes are staged, so x may be reused */
    CUDA_TRY(cudaMemcpyAsync(b->scratch, x, count * sizeof(float), cudaMemcpyHostToDevice,
                             b->compute));
    LAUNCH(k_nchw_to_nhwc, count, c, h, w, b->scratch, 0, y, b->bf);
    return TFR_OK;
}

static tfr_status slot_reserve(tfr_backend *b, tfr_input_slot *s, size_t need, tfr_error *err)
{
    if (s->cap >= need)
        return TFR_OK;
    if (s->used) {
        CUDA_TRY(cudaEventSynchronize(s->copied));
        CUDA_TRY(cudaEventSynchronize(s->consumed));
    }
    cudaFreeHost(s->pinned);
    cudaFree(s->dev);
    s->pinned = s->dev = NULL;
    s->cap = 0;
    s->used = 0;
    size_t cap = need + need / 4;
    CUDA_TRY(cudaMallocHost((void **)&s->pinned, cap));
    CUDA_TRY(cudaMalloc((void **)&s->dev, cap));
    s->cap = cap;
    return TFR_OK;
}

/*
 * A batch goes through the next of TFR_INPUT_SLOTS pinned buffers: the host
 * waits only until that buffer's previous copy has left, the copy stream
 * only until the compute stream has read the previous contents of the
 * device buffer, and the compute stream only for this batch's copy. Staged
 * ahead of its forward pass (tfrecord-train stages batch k+1 while step k
 * runs), the copy overlaps the compute.
 */
tfr_status tfr_cuda_stage_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                             const uint8_t *flip, tfr_error *err)
{
    if (b->staged >= 0)
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "a batch of %d images is already staged: run it before staging another",
                        b->staged_n);
    size_t px = (size_t)n * c * h * w, need = px + (size_t)n;
    int k = b->next_slot;
    tfr_input_slot *s = &b->slots[k];
    tfr_status st = slot_reserve(b, s, need, err);
    if (st)
        return st;
    if (s->used) {
        CUDA_TRY(cudaEventSynchronize(s->copied));
        CUDA_TRY(cudaStreamWaitEvent(b->copy, s->consumed, 0));
    }
    memcpy(s->pinned, x, px);
    if (flip)
        memcpy(s->pinned + px, flip, (size_t)n);
    CUDA_TRY(cudaMemcpyAsync(s->dev, s->pinned, flip ? need : px, cudaMemcpyHostToDevice,
                             b->copy));
    CUDA_TRY(cudaEventRecord(s->copied, b->copy));
    s->used = 1;
    b->next_slot = (k + 1) % TFR_INPUT_SLOTS;
    b->staged = k;
    b->staged_n = n;
    b->staged_flip = flip != NULL;
    return TFR_OK;
}

tfr_status tfr_cuda_input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                             const uint8_t *flip, float mean, float std, float *y, tfr_error *err)
{
    tfr_status st;
    if (x && b->staged >= 0) /* staging x would replace the batch waiting in its slot */
        return tfr_fail(err, TFR_ERR_ARG, NULL,
                        "a batch of %d images is staged: run it (x NULL) before passing another",
                        b->staged_n);
    if (x && (st = tfr_cuda_stage_u8(b, n, c, h, w, x, flip, err)))
        return st;
    if (b->staged < 0 || b->staged_n != n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "no staged batch of %d images", n);
    tfr_input_slot *s = &b->slots[b->staged];
    size_t px = (size_t)n * c * h * w;
    CUDA_TRY(cudaStreamWaitEvent(b->compute, s->copied, 0));
    const float scale = 1.0f / (255.0f * std), offset = mean / std;
    LAUNCH(k_input_u8, px, c, h, w, s->dev, b->staged_flip ? s->dev + px : (const uint8_t *)NULL,
           scale, offset, y, b->bf);
    CUDA_TRY(cudaEventRecord(s->consumed, b->compute));
    b->staged = -1;
    return TFR_OK;
}

tfr_status tfr_cuda_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                                float *host, tfr_error *err)
{
    size_t count = (size_t)n * c * h * w;
    tfr_status st = tfr_cuda_scratch(b, count * sizeof(float), err);
    if (st)
        return st;
    LAUNCH(k_nhwc_to_nchw, count, c, h, w, x, b->bf, b->scratch, 0);
    CUDA_TRY(cudaMemcpyAsync(host, b->scratch, count * sizeof(float), cudaMemcpyDeviceToHost,
                             b->compute));
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    return TFR_OK;
}

tfr_status tfr_cuda_bn_infer(tfr_backend *b, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta, float *y, float *mean,
                             float *invstd, const float *run_mean, const float *run_var, float eps,
                             tfr_error *err)
{
    size_t count = (size_t)n * hw * c;
    LAUNCH(k_bn_infer, count, c, x, gamma, beta, run_mean, run_var, eps, y, b->bf);
    if (mean && invstd)
        LAUNCH(k_bn_infer_stats, (size_t)c, run_mean, run_var, eps, mean, invstd);
    return TFR_OK;
}

static tfr_status bn_scratch(tfr_backend *b, int c, size_t rows, tfr_error *err)
{
    size_t chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    tfr_status st = tfr_cuda_grow(b, (void **)&b->bnpart, &b->bnpart_cap,
                                  2 * chunks * (size_t)c * sizeof(float), err);
    if (st)
        return st;
    return tfr_cuda_grow(b, (void **)&b->bnsums, &b->bnsums_cap, 2 * (size_t)c * sizeof(float),
                         err);
}

tfr_status tfr_cuda_bn_train_kernels(tfr_backend *b, int n, int c, int hw, const float *x,
                                     const float *gamma, const float *beta, float *y, float *mean,
                                     float *invstd, float *run_mean, float *run_var, float momentum,
                                     float eps, tfr_error *err)
{
    size_t rows = (size_t)n * hw, chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    tfr_status st = bn_scratch(b, c, rows, err);
    if (st)
        return st;
    float *p0 = b->bnpart, *p1 = b->bnpart + chunks * (size_t)c;
    LAUNCH(k_bn_part, chunks * (size_t)c, c, rows, x, (const void *)NULL, (const float *)NULL,
           (const float *)NULL, p0, p1, b->bf);
    LAUNCH(k_bn_stats, (size_t)c, rows, p0, p1, eps, momentum, mean, invstd, run_mean, run_var);
    LAUNCH(k_bn_apply, rows * (size_t)c, c, x, gamma, beta, mean, invstd, y, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_bn_bwd_kernels(tfr_backend *b, int n, int c, int hw, const float *x,
                                   const float *gamma, const float *mean, const float *invstd,
                                   const float *dy, float *dx, float *dgamma, float *dbeta,
                                   tfr_error *err)
{
    size_t rows = (size_t)n * hw, chunks = (rows + TFR_BN_CHUNK - 1) / TFR_BN_CHUNK;
    tfr_status st = bn_scratch(b, c, rows, err);
    if (st)
        return st;
    float *p0 = b->bnpart, *p1 = b->bnpart + chunks * (size_t)c;
    LAUNCH(k_bn_part, chunks * (size_t)c, c, rows, x, dy, mean, invstd, p0, p1, b->bf);
    LAUNCH(k_bn_bwd_sums, (size_t)c, rows, p0, p1, b->bnsums, dgamma, dbeta);
    LAUNCH(k_bn_bwd_apply, rows * (size_t)c, c, rows, x, dy, dx, gamma, mean, invstd, b->bnsums,
           b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_relu_fwd(tfr_backend *b, size_t count, const float *x, float *y, tfr_error *err)
{
    LAUNCH(k_relu_fwd, count, x, y, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_relu_bwd(tfr_backend *b, size_t count, const float *y, const float *dy,
                             float *dx, tfr_error *err)
{
    LAUNCH(k_relu_bwd, count, y, dy, dx, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_pool_fwd(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                             int32_t *idx, tfr_error *err)
{
    size_t count = (size_t)n * (h / 2) * (w / 2) * c;
    LAUNCH(k_pool_fwd, count, c, h, w, x, y, idx, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_pool_bwd(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                             const float *dy, float *dx, tfr_error *err)
{
    size_t count = (size_t)n * (h / 2) * (w / 2) * c;
    LAUNCH(k_pool_bwd, count, c, h, w, idx, dy, dx, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_add_fwd(tfr_backend *b, size_t count, const float *a, const float *c, float *y,
                            tfr_error *err)
{
    LAUNCH(k_add_fwd, count, a, c, y, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_add_bwd(tfr_backend *b, size_t count, const float *dy, float *da, float *dc,
                            tfr_error *err)
{
    LAUNCH(k_add_bwd, count, dy, da, dc, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_gap_fwd(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                            tfr_error *err)
{
    LAUNCH(k_gap_fwd, (size_t)n * c, c, hw, x, y, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_gap_bwd(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                            tfr_error *err)
{
    LAUNCH(k_gap_bwd, (size_t)n * hw * c, c, hw, dy, dx, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_bias_rows(tfr_backend *b, int n, int k, const float *bias, float *y,
                              tfr_error *err)
{
    LAUNCH(k_bias_rows, (size_t)n * k, k, bias, y, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_bias_grad(tfr_backend *b, int n, int k, const float *dy, float *db,
                              tfr_error *err)
{
    LAUNCH(k_bias_grad, (size_t)k, n, k, dy, db, b->bf);
    return TFR_OK;
}

tfr_status tfr_cuda_axpy(tfr_backend *b, size_t count, float a, const float *x, float *y,
                         tfr_error *err)
{
    tfr_wcache_written(&b->wcache, y, count * sizeof(float));
    LAUNCH(k_axpy, count, a, x, y);
    return TFR_OK;
}

tfr_status tfr_cuda_weights_bf16(tfr_backend *b, const float *w, size_t count, const void **out,
                                  tfr_error *err)
{
    *out = NULL;
    int fresh = 0;
    tfr_wcache_entry *e = tfr_wcache_get(&b->wcache, w, count, &fresh);
    if (!e)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    if (!fresh) {
        tfr_status st = tfr_cuda_grow(b, &e->copy, &e->cap, count * sizeof(uint16_t), err);
        if (st)
            return st;
        LAUNCH(k_to_bf16, count, w, (uint16_t *)e->copy);
        e->valid = 1;
        b->wconversions++;
    }
    *out = e->copy;
    return TFR_OK;
}

tfr_status tfr_cuda_convert(tfr_backend *b, size_t count, const void *src, int sbf, void *dst,
                            int dbf, tfr_error *err)
{
    LAUNCH(k_convert, count, src, sbf, dst, dbf);
    return TFR_OK;
}

tfr_status tfr_cuda_add_bf16(tfr_backend *b, size_t count, const void *src, float *dst,
                             tfr_error *err)
{
    LAUNCH(k_add_bf16, count, (const uint16_t *)src, dst);
    return TFR_OK;
}

/* the host labels to b->labels through a pinned slot (a copy from
 * pageable memory would wait for the whole compute stream), b->loss_rows
 * sized for n */
static tfr_status put_labels(tfr_backend *b, int n, const int32_t *labels, tfr_error *err)
{
    tfr_status st;
    if ((st = tfr_cuda_grow(b, (void **)&b->labels, &b->labels_cap, (size_t)n * sizeof(int32_t),
                            err)) ||
        (st = tfr_cuda_grow(b, (void **)&b->loss_rows, &b->loss_rows_cap,
                            (size_t)n * sizeof(float), err)))
        return st;
    tfr_label_slot *ls = &b->label_slots[b->next_label];
    b->next_label = (b->next_label + 1) % TFR_INPUT_SLOTS;
    if (ls->used)
        CUDA_TRY(cudaEventSynchronize(ls->copied));
    if ((size_t)n > ls->cap) {
        cudaFreeHost(ls->pinned);
        ls->pinned = NULL;
        ls->cap = 0;
        CUDA_TRY(cudaMallocHost((void **)&ls->pinned, (size_t)n * sizeof(int32_t)));
        ls->cap = (size_t)n;
    }
    memcpy(ls->pinned, labels, (size_t)n * sizeof(int32_t));
    CUDA_TRY(cudaMemcpyAsync(b->labels, ls->pinned, (size_t)n * sizeof(int32_t),
                             cudaMemcpyHostToDevice, b->compute));
    CUDA_TRY(cudaEventRecord(ls->copied, b->compute));
    ls->used = 1;
    return TFR_OK;
}

tfr_status tfr_cuda_softmax_ce(tfr_backend *b, int n, int k, const float *logits,
                               const int32_t *labels, float smooth, float *dlogits, float *loss,
                               tfr_error *err)
{
    tfr_status st = put_labels(b, n, labels, err);
    if (st)
        return st;
    LAUNCH(k_softmax_ce, (size_t)n, k, logits, b->labels, smooth, b->loss_rows, dlogits, b->bf);
    if (loss) {
        k_mean<<<1, 1, 0, b->compute>>>(n, b->loss_rows, b->loss);
        LAUNCH_CHECK();
        CUDA_TRY(cudaMemcpyAsync(b->loss_host, b->loss, sizeof(float), cudaMemcpyDeviceToHost,
                                 b->compute));
        CUDA_TRY(cudaStreamSynchronize(b->compute));
        *loss = *b->loss_host;
    }
    return TFR_OK;
}

/* the logits (N, K) as floats and their mean plain cross-entropy after
 * them in scratch, one copy of both into pinned memory, one wait */
tfr_status tfr_cuda_loss_logits(tfr_backend *b, int n, int k, const float *logits,
                                const int32_t *labels, float *loss, float *host, tfr_error *err)
{
    const size_t count = (size_t)n * k, bytes = (count + 1) * sizeof(float);
    tfr_status st;
    if ((st = put_labels(b, n, labels, err)) || (st = tfr_cuda_scratch(b, bytes, err)))
        return st;
    if (bytes > b->ll_cap) {
        cudaFreeHost(b->ll_host);
        b->ll_host = NULL;
        b->ll_cap = 0;
        CUDA_TRY(cudaMallocHost((void **)&b->ll_host, bytes));
        b->ll_cap = bytes;
    }
    LAUNCH(k_softmax_ce, (size_t)n, k, logits, b->labels, 0.0f, b->loss_rows, (void *)NULL, b->bf);
    k_mean<<<1, 1, 0, b->compute>>>(n, b->loss_rows, b->scratch + count);
    LAUNCH_CHECK();
    LAUNCH(k_nhwc_to_nchw, count, k, 1, 1, logits, b->bf, b->scratch, 0);
    CUDA_TRY(cudaMemcpyAsync(b->ll_host, b->scratch, bytes, cudaMemcpyDeviceToHost, b->compute));
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    memcpy(host, b->ll_host, count * sizeof(float));
    *loss = b->ll_host[count];
    return TFR_OK;
}

tfr_status tfr_cuda_sgd(tfr_backend *b, size_t count, float *w, const float *g, float *v, float lr,
                        float momentum, float weight_decay, tfr_error *err)
{
    tfr_wcache_written(&b->wcache, w, count * sizeof(float));
    LAUNCH(k_sgd, count, w, g, v, lr, momentum, weight_decay);
    return TFR_OK;
}
