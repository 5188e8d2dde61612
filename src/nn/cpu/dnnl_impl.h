/*
 * nn/cpu/dnnl_impl.h - convolutions through oneDNN for the "onednn" CPU
 * backend (internal: nn/cpu/ only; see conv_dnnl.c). Built when CMake finds
 * libdnnl (TFR_HAVE_DNNL).
 */
#ifndef TFR_DNNL_IMPL_H
#define TFR_DNNL_IMPL_H

#include "nn/nn_impl.h"
#include "tfrecord/error.h"

typedef struct tfr_dnnl tfr_dnnl;

/* A CPU engine and stream; TFR_ERR_UNAVAILABLE when oneDNN cannot make one.
 * bf16: convolution passes read bf16 inputs where this CPU has kernels for
 * them (conv_dnnl.c says which). */
tfr_status tfr_dnnl_new(tfr_dnnl **out, int bf16, tfr_error *err);
void       tfr_dnnl_free(tfr_dnnl *d);
/* "oneDNN 2.6.3" */
const char *tfr_dnnl_version(const tfr_dnnl *d);
/* Convolution passes (3 per shape) made so far in float32 and in bf16. */
void tfr_dnnl_passes(const tfr_dnnl *d, size_t *f32, size_t *bf16);
/* The semantics of conv2d_fwd_cpu / conv2d_bwd_cpu (nn_impl.h): y is
 * written; dw and dx (may be NULL) are added to. */
tfr_status tfr_dnnl_conv_fwd(tfr_dnnl *d, const tfr_conv2d *cv, const float *x, const float *w,
                             float *y, tfr_error *err);
tfr_status tfr_dnnl_conv_bwd(tfr_dnnl *d, const tfr_conv2d *cv, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, tfr_error *err);

#endif
