/*
 * nn/cuda/ops_cuda.cu - the CUDA backend: device selection, handles,
 * streams, memory and transfers, and the op table handed to the model.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/cuda_common.h"

tfr_status tfr_cuda_fail(tfr_error *err, tfr_status code, const char *call, const char *file,
                         int line, const char *what)
{
    const char *base = strrchr(file, '/');
    return tfr_fail(err, code, NULL, "%s failed (%s:%d): %s", call, base ? base + 1 : file, line,
                    what);
}

/* the NVIDIA driver's library can be loaded */
static int tfr_cuda_driver_present(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        h = dlopen("libcuda.so.1", RTLD_LAZY);
    if (h)
        dlclose(h);
    return h != NULL;
}

const char *tfr_cudnn_message(cudnnStatus_t e, char *buf, size_t n)
{
    char last[384] = "";
#if CUDNN_MAJOR >= 9
    cudnnGetLastErrorString(last, sizeof last);
#endif
    snprintf(buf, n, "%s%s%s", cudnnGetErrorString(e), last[0] ? ": " : "", last);
    return buf;
}

/*
 * "no CUDA device" only when there is none: no device, or no driver at all
 * (libcuda.so.1 absent, as on a machine without an NVIDIA GPU); any other
 * failure (a driver older than this build's CUDA runtime, a device in use
 * or broken) says what it is, so that it is not taken for "no GPU here".
 */
extern "C" tfr_status tfr_cuda_probe(int *devices, tfr_error *err)
{
    *devices = 0;
    cudaError_t e = cudaGetDeviceCount(devices);
    if (e != cudaSuccess) {
        *devices = 0;
        int no_driver = e == cudaErrorInsufficientDriver && !tfr_cuda_driver_present();
        if (e == cudaErrorNoDevice || no_driver)
            return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL, "no CUDA device: %s",
                            no_driver ? "no NVIDIA driver (libcuda.so.1) on this machine"
                                      : cudaGetErrorString(e));
        return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,
                        "CUDA is installed but unusable: %s (%s)%s", cudaGetErrorString(e),
                        cudaGetErrorName(e),
                        e == cudaErrorInsufficientDriver
                            ? ": the NVIDIA driver is older than this build's CUDA runtime"
                            : "");
    }
    if (*devices < 1)
        return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL, "no CUDA device");
    return TFR_OK;
}

tfr_status tfr_cuda_grow(tfr_backend *b, void **p, size_t *cap, size_t bytes, tfr_error *err)
{
    if (bytes <= *cap)
        return TFR_OK;
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    cudaFree(*p);
    *p = NULL;
    *cap = 0;
    CUDA_TRY(cudaMalloc(p, bytes));
    *cap = bytes;
    return TFR_OK;
}

tfr_status tfr_cuda_scratch(tfr_backend *b, size_t bytes, tfr_error *err)
{
    return tfr_cuda_grow(b, (void **)&b->scratch, &b->scratch_cap, bytes, err);
}

static void cu_destroy(tfr_backend *b)
{
    if (!b)
        return;
    cudaSetDevice(b->device);
    if (b->compute)
        cudaStreamSynchronize(b->compute);
    if (b->copy)
        cudaStreamSynchronize(b->copy);
    for (int i = 0; i < TFR_INPUT_SLOTS; i++) {
        tfr_input_slot *s = &b->slots[i];
        cudaFreeHost(s->pinned);
        cudaFree(s->dev);
        if (s->copied)
            cudaEventDestroy(s->copied);
        if (s->consumed)
            cudaEventDestroy(s->consumed);
        cudaFreeHost(b->label_slots[i].pinned);
        if (b->label_slots[i].copied)
            cudaEventDestroy(b->label_slots[i].copied);
    }
    tfr_cuda_dnn_destroy(b);
    if (b->blas)
        cublasDestroy(b->blas);
    cudaFree(b->ws);
    cudaFree(b->scratch);
    for (int i = 0; i < b->wcache.n; i++)
        cudaFree(b->wcache.e[i].copy);
    free(b->wcache.e);
    cudaFree(b->dwbf);
    cudaFree(b->f32act);
    cudaFreeHost(b->ll_host);
    cudaFree(b->bnpart);
    cudaFree(b->bnsums);
    cudaFree(b->labels);
    cudaFree(b->loss_rows);
    cudaFree(b->loss);
    cudaFreeHost(b->loss_host);
    if (b->compute)
        cudaStreamDestroy(b->compute);
    if (b->copy)
        cudaStreamDestroy(b->copy);
    free(b);
}

static tfr_status setup(tfr_backend *b, tfr_error *err)
{
    int n = 0;
    tfr_status st = tfr_cuda_probe(&n, err);
    if (st)
        return st;
    if (b->device < 0 || b->device >= n)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "no CUDA device %d (%d present)", b->device, n);
    CUDA_TRY(cudaSetDevice(b->device));
    cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, b->device));
    snprintf(b->desc, sizeof b->desc, "cuda:%d %.200s (sm_%d%d, %.0f GiB), %s", b->device, prop.name,
             prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30),
             b->math == TFR_MATH_TF32 ? "tf32" : b->math == TFR_MATH_BF16 ? "bf16" : "fp32");
    if (b->bf && prop.major < 8)
        return tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,
                        "bf16 needs an sm_80 or newer GPU; %s is sm_%d%d", prop.name, prop.major,
                        prop.minor);
    CUDA_TRY(cudaStreamCreateWithFlags(&b->compute, cudaStreamNonBlocking));
    CUDA_TRY(cudaStreamCreateWithFlags(&b->copy, cudaStreamNonBlocking));
    for (int i = 0; i < TFR_INPUT_SLOTS; i++) {
        CUDA_TRY(cudaEventCreateWithFlags(&b->slots[i].copied, cudaEventDisableTiming));
        CUDA_TRY(cudaEventCreateWithFlags(&b->slots[i].consumed, cudaEventDisableTiming));
        CUDA_TRY(cudaEventCreateWithFlags(&b->label_slots[i].copied, cudaEventDisableTiming));
    }
    CUDA_TRY(cudaMalloc((void **)&b->loss, sizeof(float)));
    CUDA_TRY(cudaMallocHost((void **)&b->loss_host, sizeof(float)));
    if ((st = tfr_cuda_dnn_create(b, err)))
        return st;
    CUBLAS_TRY(cublasCreate(&b->blas));
    CUBLAS_TRY(cublasSetStream(b->blas, b->compute));
    /* fp32: cuBLAS's default math is IEEE fp32 already (pedantic only
     * forbids faster fp32 kernels); tf32 and bf16: tensor cores */
    CUBLAS_TRY(cublasSetMathMode(b->blas, b->math == TFR_MATH_FP32 ? CUBLAS_DEFAULT_MATH
                                                                    : CUBLAS_TF32_TENSOR_OP_MATH));
    return TFR_OK;
}

static tfr_status cu_create(const tfr_backend_opts *o, tfr_backend **out, tfr_error *err)
{
    *out = NULL;
    tfr_backend *b = (tfr_backend *)calloc(1, sizeof *b);
    if (!b)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    b->device = o ? o->device : 0;
    b->math = o ? o->math : TFR_MATH_TF32;
    b->bf = b->math == TFR_MATH_BF16;
    b->staged = -1;
    b->ws_limit = o && o->workspace_limit ? o->workspace_limit : (size_t)256 << 20;
    tfr_status st = setup(b, err);
    if (st) {
        cu_destroy(b);
        return st;
    }
    *out = b;
    return TFR_OK;
}

static const char *cu_describe(const tfr_backend *b) { return b->desc; }
static size_t cu_act_bytes(const tfr_backend *b) { return b->bf ? 2 : sizeof(float); }

static void *cu_alloc(tfr_backend *b, size_t bytes, tfr_error *err)
{
    void *p = NULL;
    /* on this backend's device whatever is current (a model moving between
     * GPUs frees on the old one and allocates on the new) */
    cudaError_t e = cudaSetDevice(b->device);
    if (e != cudaSuccess) {
        tfr_cuda_fail(err, tfr_cuda_code(e), "cudaSetDevice", __FILE__, __LINE__,
                      cudaGetErrorString(e));
        return NULL;
    }
    e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        tfr_cuda_fail(err, tfr_cuda_code(e), "cudaMalloc", __FILE__, __LINE__,
                      cudaGetErrorString(e));
        return NULL;
    }
    e = cudaMemsetAsync(p, 0, bytes ? bytes : 1, b->compute);
    if (e != cudaSuccess) {
        cudaFree(p);
        tfr_cuda_fail(err, tfr_cuda_code(e), "cudaMemsetAsync", __FILE__, __LINE__,
                      cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

static void cu_release(tfr_backend *b, void *p)
{
    tfr_wcache_forget(&b->wcache);
    if (p) {
        cudaSetDevice(b->device);
        cudaStreamSynchronize(b->compute);
        cudaFree(p);
    }
}

static tfr_status cu_upload(tfr_backend *b, void *dst, const void *src, size_t bytes,
                            tfr_error *err)
{
    tfr_wcache_written(&b->wcache, dst, bytes);
    CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, b->compute));
    /* the caller may free or change src as soon as this returns */
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    return TFR_OK;
}

static tfr_status cu_download(tfr_backend *b, void *dst, const void *src, size_t bytes,
                              tfr_error *err)
{
    CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, b->compute));
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    return TFR_OK;
}

static tfr_status cu_copy(tfr_backend *b, void *dst, const void *src, size_t bytes,
                          tfr_error *err)
{
    tfr_wcache_written(&b->wcache, dst, bytes);
    CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, b->compute));
    return TFR_OK;
}

static tfr_status cu_zero(tfr_backend *b, void *p, size_t bytes, tfr_error *err)
{
    tfr_wcache_written(&b->wcache, p, bytes);
    CUDA_TRY(cudaMemsetAsync(p, 0, bytes, b->compute));
    return TFR_OK;
}

static tfr_status cu_sync(tfr_backend *b, tfr_error *err)
{
    CUDA_TRY(cudaStreamSynchronize(b->compute));
    CUDA_TRY(cudaGetLastError());
    return TFR_OK;
}

static int cu_device_count(void)
{
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

static void *cu_native_stream(tfr_backend *b) { return (void *)b->compute; }

static tfr_status cu_activate(tfr_backend *b, tfr_error *err)
{
    CUDA_TRY(cudaSetDevice(b->device));
    return TFR_OK;
}

static tfr_ops make_table(void)
{
    tfr_ops t;
    memset(&t, 0, sizeof t);
    t.name = "cuda";
    t.host_memory = 0;
    t.create = cu_create;
    t.destroy = cu_destroy;
    t.describe = cu_describe;
    t.act_bytes = cu_act_bytes;
    t.alloc = cu_alloc;
    t.release = cu_release;
    t.upload = cu_upload;
    t.download = cu_download;
    t.copy = cu_copy;
    t.zero = cu_zero;
    t.sync = cu_sync;
    t.activate = cu_activate;
    t.device_count = cu_device_count;
    t.native_stream = cu_native_stream;
    t.filter_layout = tfr_cuda_filter_layout;
    t.input_f32 = tfr_cuda_input_f32;
    t.input_u8 = tfr_cuda_input_u8;
    t.stage_u8 = tfr_cuda_stage_u8;
    t.act_to_host = tfr_cuda_act_to_host;
    t.conv2d_fwd = tfr_cuda_conv_fwd;
    t.conv2d_bwd = tfr_cuda_conv_bwd;
    t.bn_fwd = tfr_cuda_bn_fwd;
    t.bn_bwd = tfr_cuda_bn_bwd;
    t.relu_fwd = tfr_cuda_relu_fwd;
    t.relu_bwd = tfr_cuda_relu_bwd;
    t.pool_fwd = tfr_cuda_pool_fwd;
    t.pool_bwd = tfr_cuda_pool_bwd;
    t.add_fwd = tfr_cuda_add_fwd;
    t.add_bwd = tfr_cuda_add_bwd;
    t.gap_fwd = tfr_cuda_gap_fwd;
    t.gap_bwd = tfr_cuda_gap_bwd;
    t.dense_fwd = tfr_cuda_dense_fwd;
    t.dense_bwd = tfr_cuda_dense_bwd;
    t.axpy = tfr_cuda_axpy;
    t.softmax_ce = tfr_cuda_softmax_ce;
    t.loss_logits = tfr_cuda_loss_logits;
    t.sgd = tfr_cuda_sgd;
    return t;
}

extern "C" const tfr_ops *tfr_cuda_ops_table(void)
{
    static const tfr_ops table = make_table();
    return &table;
}
