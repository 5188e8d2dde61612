/*
 * nn/cuda/kernels.cu - the CUDA backend's own kernels: one thread per
 * output element (grid-stride loops) running the bodies in
 * nn/elementwise.h, which the CPU tests check on machines without a GPU.
 */
#include <string.h>

#include "nn/cuda/cuda_common.h"
#include "nn/elementwise.h"

#define FOR_EACH(count) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (count); \
         i += (size_t)gridDim.x * blockDim.x)

__global__ void k_nchw_to_nhwc(size_t count, int c, int h, int w, const float *src, float *dst)
{
    FOR_EACH(count) ew_nchw_to_nhwc(i, c, h, w, src, dst);
}

__global__ void k_nhwc_to_nchw(size_t count, int c, int h, int w, const float *src, float *dst)
{
    FOR_EACH(count) ew_nhwc_to_nchw(i, c, h, w, src, dst);
}

__global__ void k_input_u8(size_t count, int c, int h, int w, const uint8_t *src,
                           const uint8_t *flip, float scale, float offset, float *dst)
{
    FOR_EACH(count) ew_input_u8(i, c, h, w, 1, src, flip, scale, offset, dst);
}

__global__ void k_bn_infer(size_t count, int c, const float *x, const float *gamma,
                           const float *beta, const float *rm, const float *rv, float eps, float *y)
{
    FOR_EACH(count) ew_bn_infer(i, c, x, gamma, beta, rm, rv, eps, y);
}

__global__ void k_bn_infer_stats(size_t count, const float *rm, const float *rv, float eps,
                                 float *mean, float *invstd)
{
    FOR_EACH(count) ew_bn_infer_stats(i, rm, rv, eps, mean, invstd);
}

__global__ void k_relu_fwd(size_t count, const float *x, float *y)
{
    FOR_EACH(count) ew_relu_fwd(i, x, y);
}

__global__ void k_relu_bwd(size_t count, const float *y, const float *dy, float *dx)
{
    FOR_EACH(count) ew_relu_bwd(i, y, dy, dx);
}

__global__ void k_pool_fwd(size_t count, int c, int h, int w, const float *x, float *y,
                           int32_t *idx)
{
    FOR_EACH(count) ew_pool_fwd(i, c, h, w, x, y, idx);
}

__global__ void k_pool_bwd(size_t count, const int32_t *idx, const float *dy, float *dx)
{
    FOR_EACH(count) ew_pool_bwd(i, idx, dy, dx);
}

__global__ void k_add_fwd(size_t count, const float *a, const float *b, float *y)
{
    FOR_EACH(count) ew_add_fwd(i, a, b, y);
}

__global__ void k_add_bwd(size_t count, const float *dy, float *da, float *db)
{
    FOR_EACH(count) ew_add_bwd(i, dy, da, db);
}

__global__ void k_gap_fwd(size_t count, int c, int hw, const float *x, float *y)
{
    FOR_EACH(count) ew_gap_fwd(i, c, hw, x, y);
}

__global__ void k_gap_bwd(size_t count, int c, int hw, const float *dy, float *dx)
{
    FOR_EACH(count) ew_gap_bwd(i, c, hw, dy, dx);
}

__global__ void k_bias_rows(size_t count, int k, const float *bias, float *y)
{
    FOR_EACH(count) ew_bias_rows(i, k, bias, y);
}

__global__ void k_bias_grad(size_t count, int n, int k, const float *dy, float *db)
{
    FOR_EACH(count) ew_bias_grad(i, n, k, dy, db);
}

__global__ void k_axpy(size_t count, float a, const float *x, float *y)
{
    FOR_EACH(count) ew_axpy(i, a, x, y);
}

__global__ void k_softmax_ce(size_t count, int k, const float *logits, const int32_t *labels,
                             float *loss_rows, float *dlogits)
{
    FOR_EACH(count) ew_softmax_ce_row(i, (int)count, k, logits, labels, loss_rows, dlogits);
}

__global__ void k_mean(int n, const float *v, float *out)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        ew_mean(n, v, out);
}

__global__ void k_sgd(size_t count, float *w, const float *g, float *v, float lr, float mu,
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

tfr_status cu_filter_layout(tfr_backend *b, const tfr_conv2d *cv, const float *src, float *dst,
                            int to_backend, tfr_error *err)
{
    size_t count = (size_t)cv->k * cv->c * cv->r * cv->s;
    if (to_backend)
        LAUNCH(k_nchw_to_nhwc, count, cv->c, cv->r, cv->s, src, dst);
    else
        LAUNCH(k_nhwc_to_nchw, count, cv->c, cv->r, cv->s, src, dst);
    return TFR_OK;
}

tfr_status cu_input_f32(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                        tfr_error *err)
{
    size_t count = (size_t)n * c * h * w;
    tfr_status st = tfr_cuda_scratch(b, count * sizeof(float), err);
    if (st)
        return st;
    /* pageable source: returns once the bytes are staged, so x may be reused */
    CUDA_TRY(cudaMemcpyAsync(b->scratch, x, count * sizeof(float), cudaMemcpyHostToDevice,
                             b->compute));
    LAUNCH(k_nchw_to_nhwc, count, c, h, w, b->scratch, y);
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
 * The batch goes through the next of TFR_INPUT_SLOTS pinned buffers: the
 * host waits only until that buffer's previous copy has left, the copy
 * stream only until the compute stream has read the previous contents of
 * the device buffer, and the compute stream only for this batch's copy.
 */
tfr_status cu_input_u8(tfr_backend *b, int n, int c, int h, int w, const uint8_t *x,
                       const uint8_t *flip, float mean, float std, float *y, tfr_error *err)
{
    size_t px = (size_t)n * c * h * w, need = px + (size_t)n;
    tfr_input_slot *s = &b->slots[b->next_slot];
    b->next_slot = (b->next_slot + 1) % TFR_INPUT_SLOTS;
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
    CUDA_TRY(cudaStreamWaitEvent(b->compute, s->copied, 0));
    const float scale = 1.0f / (255.0f * std), offset = mean / std;
    LAUNCH(k_input_u8, px, c, h, w, s->dev, flip ? s->dev + px : (const uint8_t *)NULL, scale,
           offset, y);
    CUDA_TRY(cudaEventRecord(s->consumed, b->compute));
    s->used = 1;
    return TFR_OK;
}

tfr_status cu_act_to_host(tfr_backend *b, int n, int c, int h, int w, const float *x,
                          float *host, tfr_error *err)
{
    size_t count = (size_t)n * c * h * w;
    tfr_status st = tfr_cuda_scratch(b, count * sizeof(float), err);
    if (st)
        return st;
    LAUNCH(k_nhwc_to_nchw, count, c, h, w, x, b->scratch);
    CUDA_TRY(cudaMemcpyAsync(host, b->scratch, count * sizeof(float), cudaMemcpyDeviceToHost,
                             b->compute));
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    return TFR_OK;
}

tfr_status cu_bn_infer(tfr_backend *b, int n, int c, int hw, const float *x, const float *gamma,
                       const float *beta, float *y, float *mean, float *invstd,
                       const float *run_mean, const float *run_var, float eps, tfr_error *err)
{
    size_t count = (size_t)n * hw * c;
    LAUNCH(k_bn_infer, count, c, x, gamma, beta, run_mean, run_var, eps, y);
    if (mean && invstd)
        LAUNCH(k_bn_infer_stats, (size_t)c, run_mean, run_var, eps, mean, invstd);
    return TFR_OK;
}

tfr_status cu_relu_fwd(tfr_backend *b, size_t count, const float *x, float *y, tfr_error *err)
{
    LAUNCH(k_relu_fwd, count, x, y);
    return TFR_OK;
}

tfr_status cu_relu_bwd(tfr_backend *b, size_t count, const float *y, const float *dy, float *dx,
                       tfr_error *err)
{
    LAUNCH(k_relu_bwd, count, y, dy, dx);
    return TFR_OK;
}

tfr_status cu_pool_fwd(tfr_backend *b, int n, int c, int h, int w, const float *x, float *y,
                       int32_t *idx, tfr_error *err)
{
    size_t count = (size_t)n * (h / 2) * (w / 2) * c;
    LAUNCH(k_pool_fwd, count, c, h, w, x, y, idx);
    return TFR_OK;
}

tfr_status cu_pool_bwd(tfr_backend *b, int n, int c, int h, int w, const int32_t *idx,
                       const float *dy, float *dx, tfr_error *err)
{
    size_t count = (size_t)n * (h / 2) * (w / 2) * c;
    LAUNCH(k_pool_bwd, count, idx, dy, dx);
    return TFR_OK;
}

tfr_status cu_add_fwd(tfr_backend *b, size_t count, const float *a, const float *c, float *y,
                      tfr_error *err)
{
    LAUNCH(k_add_fwd, count, a, c, y);
    return TFR_OK;
}

tfr_status cu_add_bwd(tfr_backend *b, size_t count, const float *dy, float *da, float *dc,
                      tfr_error *err)
{
    LAUNCH(k_add_bwd, count, dy, da, dc);
    return TFR_OK;
}

tfr_status cu_gap_fwd(tfr_backend *b, int n, int c, int hw, const float *x, float *y,
                      tfr_error *err)
{
    LAUNCH(k_gap_fwd, (size_t)n * c, c, hw, x, y);
    return TFR_OK;
}

tfr_status cu_gap_bwd(tfr_backend *b, int n, int c, int hw, const float *dy, float *dx,
                      tfr_error *err)
{
    LAUNCH(k_gap_bwd, (size_t)n * hw * c, c, hw, dy, dx);
    return TFR_OK;
}

tfr_status cu_bias_rows(tfr_backend *b, int n, int k, const float *bias, float *y,
                        tfr_error *err)
{
    LAUNCH(k_bias_rows, (size_t)n * k, k, bias, y);
    return TFR_OK;
}

tfr_status cu_bias_grad(tfr_backend *b, int n, int k, const float *dy, float *db,
                        tfr_error *err)
{
    LAUNCH(k_bias_grad, (size_t)k, n, k, dy, db);
    return TFR_OK;
}

tfr_status cu_axpy(tfr_backend *b, size_t count, float a, const float *x, float *y,
                   tfr_error *err)
{
    LAUNCH(k_axpy, count, a, x, y);
    return TFR_OK;
}

tfr_status cu_softmax_ce(tfr_backend *b, int n, int k, const float *logits,
                         const int32_t *labels, float *dlogits, float *loss, tfr_error *err)
{
    if ((size_t)n > b->labels_cap) {
        CUDA_TRY(cudaStreamSynchronize(b->compute));
        cudaFree(b->labels);
        cudaFree(b->loss_rows);
        b->labels = NULL;
        b->loss_rows = NULL;
        b->labels_cap = 0;
        CUDA_TRY(cudaMalloc((void **)&b->labels, (size_t)n * sizeof(int32_t)));
        CUDA_TRY(cudaMalloc((void **)&b->loss_rows, (size_t)n * sizeof(float)));
        b->labels_cap = (size_t)n;
    }
    CUDA_TRY(cudaMemcpyAsync(b->labels, labels, (size_t)n * sizeof(int32_t),
                             cudaMemcpyHostToDevice, b->compute));
    LAUNCH(k_softmax_ce, (size_t)n, k, logits, b->labels, b->loss_rows, dlogits);
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

tfr_status cu_sgd(tfr_backend *b, size_t count, float *w, const float *g, float *v, float lr,
                  float momentum, float weight_decay, tfr_error *err)
{
    LAUNCH(k_sgd, count, w, g, v, lr, momentum, weight_decay);
    return TFR_OK;
}
