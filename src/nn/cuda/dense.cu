/*
 * nn/cuda/dense.cu - the dense layer on cuBLAS: the three products are the
 * column-major GEMMs spelled out (and checked on the host) in
 * nn/elementwise.h; bias and its gradient are kernels.
 */
#include "nn/cuda/cuda_common.h"
#include "nn/elementwise.h"

static tfr_status gemm(tfr_backend *b, ew_gemm g, tfr_error *err)
{
    const float one = 1.0f;
    CUBLAS_TRY(cublasSgemm(b->blas, g.ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                           g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &one, g.A, g.lda, g.B,
                           g.ldb, &one, g.C, g.ldc));
    return TFR_OK;
}

tfr_status cu_dense_fwd(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                        const float *bias, float *y, tfr_error *err)
{
    tfr_status st = cu_bias_rows(b, n, k, bias, y, err);
    if (st)
        return st;
    return gemm(b, ew_dense_fwd_gemm(n, c, k, x, w, y), err);
}

tfr_status cu_dense_bwd(tfr_backend *b, int n, int c, int k, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db, tfr_error *err)
{
    tfr_status st;
    if ((st = gemm(b, ew_dense_dw_gemm(n, c, k, x, dy, dw), err)) ||
        (st = cu_bias_grad(b, n, k, dy, db, err)))
        return st;
    return dx ? gemm(b, ew_dense_dx_gemm(n, c, k, w, dy, dx), err) : TFR_OK;
}
