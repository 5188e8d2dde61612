/*
 * tfrecord/onnx.h - a trained model as an ONNX file, for the inference
 * engines that read ONNX (ONNX Runtime, TensorRT's trtexec --onnx, OpenVINO,
 * TVM), and a summary of an ONNX file for a sanity check.
 *
 * The graph (opset 13 by default) is the whole network: Conv (with a bias
 * where a batch norm was folded into it), BatchNormalization, Relu, MaxPool,
 * Add, GlobalAveragePool, Flatten, Gemm and Softmax; the weights are
 * initializers. The input carries the model's preprocessing:
 *   "pixels"  uint8 [batch, H, W, C] (the stream's TFR_BATCH_U8_NHWC), cast,
 *             transposed to NCHW and normalized in the graph as
 *             (x / 255 - mean) / std with the model's mean and std, or
 *   "input"   float32 [batch, C, H, W], normalized by the caller.
 * The images are expected decoded and resized to H x W over the whole image
 * (tfr_model_preprocess); the batch dimension is symbolic ("batch"). The
 * outputs are "logits" and "probabilities" (softmax), both [batch, classes].
 * metadata_props carry the class names (a JSON array, null where an output
 * has no name), the preprocessing (JSON), the architecture and where the
 * model came from.
 */
#ifndef TFRECORD_ONNX_H
#define TFRECORD_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/checkpoint.h"
#include "tfrecord/error.h"
#include "tfrecord/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tfr_onnx_input {
    TFR_ONNX_PIXELS = 0, /* "pixels": uint8 NHWC, normalized in the graph (default) */
    TFR_ONNX_FLOAT       /* "input": float32 NCHW, already normalized */
} tfr_onnx_input;

typedef struct tfr_onnx_opts {
    int            fold_bn;       /* fold each BN that follows a conv into it (default 1) */
    int            round_weights; /* tfr_model_round_weights after folding (default 0) */
    tfr_onnx_input input;         /* default TFR_ONNX_PIXELS */
    int            opset;         /* 13..17 (default 13) */
    /* provenance for metadata_props; each may be left NULL */
    const char            *source;       /* the checkpoint's path */
    const uint32_t        *source_crc;   /* its tfr_checkpoint_checksum */
    const tfr_train_state *state;        /* epochs, steps, best validation accuracy */
} tfr_onnx_opts;

/* Sets every field of *o to its default. */
TFR_API void tfr_onnx_opts_init(tfr_onnx_opts *o);

#define TFR_ONNX_MAX_RANK 8

/* A graph input or output: name, element type and shape (-1 where a
 * dimension is symbolic; dim_param holds its name). */
typedef struct tfr_onnx_value {
    char    name[64];
    char    elem[16];          /* "uint8", "float32", ... */
    int     rank;              /* -1: no shape given */
    int64_t dims[TFR_ONNX_MAX_RANK];
    char    dim_param[TFR_ONNX_MAX_RANK][32];
} tfr_onnx_value;

typedef struct tfr_onnx_op_count {
    char op_type[32];
    int  count;
} tfr_onnx_op_count;

typedef struct tfr_onnx_summary {
    uint64_t bytes;            /* the file's size */
    int64_t  ir_version;
    int64_t  opset;            /* of the default domain; 0 when not imported */
    char     producer[96];     /* producer name and version */
    int      ninputs, noutputs;/* how many the graph has (the first 8 are described) */
    tfr_onnx_value inputs[8], outputs[8];
    int      nnodes;
    int      nop_types;        /* distinct op types (the first 32 are counted) */
    tfr_onnx_op_count ops[32];
    int      ninitializers;
    uint64_t params;           /* elements over all initializers */
    int      nmeta;            /* metadata_props, owned by the summary */
    char   **meta_keys, **meta_values;
} tfr_onnx_summary;

/*
 * Writes m (unchanged; a device copy is fetched first) to path as an ONNX
 * model, atomically: a failed export leaves no file at path (nor changes
 * one that was there). o may be NULL (defaults). When summary is not NULL
 * it describes the file written (free it with tfr_onnx_summary_free).
 * Errors: TFR_ERR_ARG (options), TFR_ERR_NOMEM, TFR_ERR_IO (naming path).
 */
TFR_API tfr_status tfr_onnx_export(const tfr_model *m, const char *path, const tfr_onnx_opts *o,
                                   tfr_onnx_summary *summary /* OUT, may be NULL */,
                                   tfr_error *err);

/*
 * Reads the ONNX model at path (any producer's; at most 2 GiB, ONNX's
 * protobuf limit) and describes it. TFR_ERR_FORMAT for a file that does not
 * parse as an ONNX model or has no graph; TFR_ERR_IO when it cannot be read.
 */
TFR_API tfr_status tfr_onnx_summarize(const char *path, tfr_onnx_summary *out /* OUT */,
                                      tfr_error *err);
/* Releases what a summary owns; safe on a zeroed or freed summary. */
TFR_API void tfr_onnx_summary_free(tfr_onnx_summary *s);
/* The value of metadata key, NULL when it has none. */
TFR_API const char *tfr_onnx_summary_meta(const tfr_onnx_summary *s, const char *key);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_ONNX_H */
