/*
 * nn/cuda/dense.cu - the dense layer on cuBLAS: the three products are the
 * column-major GEMMs spelled out (and checked on the host) in
 * nn/elementwise.h; bias and its gradient are kernels. In bf16 mode the
 * products read bf16 activations and a bf16 copy of the weights and
 * accumulate in fp32 (cublasGemmEx), the weight gradient staying fp32; the
 * copy is made once per change of the weights (wcache.h).
 */
#include "nn/cuda/cuda_common.h"
#include "nn/elementwise.h"

static tfr_status gemm(tfr_backend *b, ew_gemm g, tfr_error *err)
{
    const float one = 1.0f;
    const cublasOperation_t ta = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.tb ? CUBLAS_OP_T
                                                                              : CUBLAS_OP_N;
    if (!g.a_bf && !g.b_bf && !g.c_bf) {
        CUBLAS_TRY(cublasSgemm(b->blas, ta, tb, g.m, g.n, g.k, &one, (const float *)g.A, g.lda,
                               (const float *)g.B, g.ldb, &one, (float *)g.C, g.ldc));
        return TFR_OK;
    }
    CUBLAS_TRY(cublasGemmEx(b->blas, ta, tb, g.m, g.n, g.k, &one, g.A,
                            g.a_bf ? CUDA_R_16BF : CUDA_R_32F, g.lda, g.B,
                            g.b_bf ? CUDA_R_16BF : CUDA_R_32F, g.ldb, &one, g.C,
                            g.c_bf ? CUDA_R_16BF : CUDA_R_32F, g.ldc, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
    return TFR_OK;
}

tfr_status tfr_cuda_dense_fwd(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                              const float *bias, float *y, tfr_error *err)
{
    tfr_status st = tfr_cuda_bias_rows(b, n, k, bias, y, err);
    const void *wt = w;
    if (!st && b->bf)
        st = tfr_cuda_weights_bf16(b, w, (size_t)k * c, &wt, err);
    if (st)
        return st;
    return gemm(b, ew_dense_fwd_gemm(n, c, k, x, wt, y, b->bf), err);
}

tfr_status tfr_cuda_dense_bwd(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                              const float *dy, float *dx, float *dw, float *db, tfr_error *err)
{
    tfr_status st;
    if ((st = gemm(b, ew_dense_dw_gemm(n, c, k, x, dy, dw, b->bf), err)) ||
        (st = tfr_cuda_bias_grad(b, n, k, dy, db, err)))
        return st;
    if (!dx)
        return TFR_OK;
    const void *wt = w;
    if (b->bf && (st = tfr_cuda_weights_bf16(b, w, (size_t)k * c, &wt, err)))
        return st;
    return gemm(b, ew_dense_dx_gemm(n, c, k, wt, dy, dx, b->bf), err);
}
