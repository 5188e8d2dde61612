/*
 * nn/backend.c - picks a backend's op table. The only file that knows
 * whether the CUDA backend was built in.
 */
#ifdef TFR_HAVE_CUDA
#define TFR_OPS_CUDA_IMPL
#endif
#include "nn/backend.h"

static const tfr_ops *stand_in;

void tfr_ops_cuda_stand_in(const tfr_ops *ops) { stand_in = ops; }

const tfr_ops *tfr_ops_cuda(tfr_error *err)
{
    if (stand_in)
        return stand_in;
#ifdef TFR_HAVE_CUDA
    int n = 0;
    if (tfr_cuda_probe(&n, err))
        return NULL;
    return tfr_cuda_ops_table();
#else
    tfr_fail(err, TFR_ERR_UNAVAILABLE, NULL,
             "no CUDA backend: this build has none (configure with the CUDA toolkit, cuDNN and "
             "cuBLAS present, -DTFR_CUDA=ON)");
    return NULL;
#endif
}
