/*
 * train/train_impl.h - what the training driver's files share: the stream
 * and forward pass that training and evaluation both use (evaluate.c), and
 * the run log (runlog.c). Not API; included from src/train/ only.
 */
#ifndef TFR_TRAIN_IMPL_H
#define TFR_TRAIN_IMPL_H

#include <stdint.h>

#include "tfrecord/nn.h"
#include "tfrecord/stream.h"

/* ---- evaluate.c: shared by the loop and tfr_evaluate ------------------------ */

/* Index of the largest of v[0..n). */
int tfr_train_argmax(const float *v, int n);

/* 1 when the model runs on a device: it gets uint8 batches and normalizes
 * (and flips) them there */
int tfr_train_on_device(const tfr_model *m);

/* Stream options for model m: its input size, the batch format its device
 * reads (uint8 NHWC on a device, float NCHW on the CPU), the normalization. */
void tfr_train_stream_defaults(tfr_stream_opts *so, const tfr_model *m, int batch, int threads,
                               float mean, float std);

/* A forward pass on a stream batch, in the format tfr_train_stream_defaults
 * asked for. */
tfr_status tfr_train_forward(tfr_model *m, const tfr_batch *b, float mean, float std, int train,
                             float *loss, tfr_error *err);

/* ---- inputs.c ------------------------------------------------------------------ */

/* Before the first step: the labels a source's manifest.json says it holds
 * (classes, --label-offset) must all be classes of a model of `classes`;
 * TFR_ERR_ARG naming the manifest and the --classes that fits, else. */
tfr_status tfr_train_inputs_check_classes(const tfr_train_inputs *in, int classes,
                                          tfr_error *err);

/* ---- runlog.c: history.csv, steps.csv and TensorBoard scalars --------------- */

typedef struct tfr_runlog tfr_runlog;

/*
 * Creates logdir (mkdir -p), a new event file in it, and opens history.csv
 * and steps.csv for appending (each gets its header when new), so a resumed
 * run continues the same files. On failure *out is NULL and everything
 * opened is closed.
 */
tfr_status tfr_runlog_open(const char *logdir, tfr_runlog **out, tfr_error *err);

/* One optimizer step: a steps.csv row; every 20th step the loss and learning
 * rate as scalars. Event write errors fill err but do not stop training. */
void tfr_runlog_step(tfr_runlog *l, uint64_t step, uint64_t epoch, float loss, float lr,
                     tfr_error *err);

/* One finished epoch, from its TFR_TRAIN_EPOCH event: a history.csv row, both
 * CSVs flushed, the epoch scalars (val_* when have_val) flushed. As
 * tfr_runlog_step for errors. */
void tfr_runlog_epoch(tfr_runlog *l, const tfr_train_event *ev, int have_val, tfr_error *err);

/* Closes the files; l may be NULL. */
void tfr_runlog_close(tfr_runlog *l);

#endif /* TFR_TRAIN_IMPL_H */
