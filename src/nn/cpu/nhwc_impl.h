/*
 * nn/cpu/nhwc_impl.h - CPU kernels for activations (N, H, W, C), the layout
 * of the "onednn" backend (internal: nn/cpu/ only; see kernels_nhwc.c).
 * The semantics of the NCHW twins in nn_impl.h; gradients are ADDED.
 */
#ifndef TFR_NHWC_IMPL_H
#define TFR_NHWC_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* rows (positions of N*H*W) per batch-norm partial sum */
#define NHWC_BN_ROWS 256

/* doubles of scratch the batch-norm ops need for (n, c, hw) */
size_t nhwc_bn_scratch_total(int n, int c, int hw);
/* relu: the ReLU of the output in the same pass (batchnorm_relu_fwd_cpu) */
void nhwc_bn_fwd(int n, int c, int hw, const float *x, const float *gamma, const float *beta,
                 float *y, float *mean, float *invstd, float *run_mean, float *run_var,
                 int train, float momentum, float eps, int relu, double *scratch);
/* y: NULL, or the fused ReLU's output (dy is then the gradient at it) */
void nhwc_bn_bwd(int n, int c, int hw, const float *x, const float *gamma, const float *mean,
                 const float *invstd, const float *y, const float *dy, float *dx, float *dgamma,
                 float *dbeta, double *scratch);
/* 2x2 stride-2 (floor); idx: offset of each output's maximum in x */
void nhwc_pool_fwd(int n, int c, int h, int w, const float *x, float *y, int32_t *idx);
void nhwc_pool_bwd(int n, int c, int h, int w, const int32_t *idx, const float *dy, float *dx);
/* y (N, C) */
void nhwc_gap_fwd(int n, int c, int hw, const float *x, float *y);
void nhwc_gap_bwd(int n, int c, int hw, const float *dy, float *dx);
void nhwc_from_nchw(int n, int c, int h, int w, const float *x, float *y);
void nhwc_to_nchw(int n, int c, int h, int w, const float *x, float *y);

#endif
