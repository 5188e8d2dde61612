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

/* tfr_evaluate_flip over rank's share of the records of src among world
 * ranks (TFR_SPLIT_EXACT: every record by exactly one rank); the result is
 * that share's, for the caller to sum over the ranks. */
tfr_status tfr_train_evaluate_share(tfr_model *m, const char *const *src, int nsrc, int batch,
                                    int threads, float mean, float std, int flip, int rank,
                                    int world, tfr_eval_result *res, tfr_error *err);

/* ---- inputs.c ------------------------------------------------------------------ */

/* Before the first step: the labels a source's manifest.json says it holds
 * (classes, --label-offset) must all be classes of a model of `classes`;
 * TFR_ERR_ARG naming the manifest and the --classes that fits, else. */
tfr_status tfr_train_inputs_check_classes(const tfr_train_inputs *in, int classes,
                                          tfr_error *err);

/* ---- runlog.c: history.csv, steps.csv and the TensorBoard runs ------------- */

typedef struct tfr_runlog tfr_runlog;

/*
 * Creates logdir (mkdir -p) and opens history.csv and steps.csv for
 * appending (each gets its header when new), so a resumed run continues the
 * same files, and three TensorBoard event files, as Keras' callback lays
 * them out: LOGDIR (the hparams session), LOGDIR/train and LOGDIR/validation
 * (the same tags, so the two overlay on one chart). Step scalars go out
 * every log_every steps (0: none). On failure *out is NULL and everything
 * opened is closed.
 */
tfr_status tfr_runlog_open(const char *logdir, int log_every, tfr_runlog **out, tfr_error *err);

/* The run's hyperparameters, for TensorBoard's HParams tab (session start). */
void tfr_runlog_hparams(tfr_runlog *l, const tfr_train_opts *o, const tfr_model *m,
                        tfr_error *err);
/* The untrained model's loss and accuracy at step 0 of validation/ (on_val)
 * or train/. */
void tfr_runlog_baseline(tfr_runlog *l, double loss, double acc, int on_val, tfr_error *err);

/* One optimizer step: a steps.csv row; every log_every-th step batch_loss and
 * batch_learning_rate in train/. Event write errors fill err but do not stop
 * training (as for every call below). */
void tfr_runlog_step(tfr_runlog *l, uint64_t step, uint64_t epoch, float loss, float lr,
                     tfr_error *err);

/* The epoch's first batch as the model sees it (augmented, flipped; float
 * batches mapped back through mean/std), as a grid image "first_batch" in
 * train/ at step epoch. flip_pending: the flips are still to be applied. */
void tfr_runlog_batch_images(tfr_runlog *l, uint64_t epoch, const tfr_batch *b, float mean,
                             float std, int flip_pending, tfr_error *err);

/* The validation confusion matrix as an image (rows: true class) in
 * validation/ at step epoch. */
void tfr_runlog_confusion(tfr_runlog *l, uint64_t epoch, const tfr_eval_result *er,
                          const tfr_model *m, tfr_error *err);

/* A histogram of every parameter tensor and of its last gradient in train/. */
void tfr_runlog_histograms(tfr_runlog *l, uint64_t epoch, tfr_model *m, tfr_error *err);

/* One finished epoch, from its TFR_TRAIN_EPOCH event: a history.csv row, both
 * CSVs flushed, epoch_loss, epoch_accuracy, epoch_learning_rate and
 * epoch_images_per_second in train/, epoch_loss and epoch_accuracy in
 * validation/ (when have_val), all flushed. */
void tfr_runlog_epoch(tfr_runlog *l, const tfr_train_event *ev, int have_val, tfr_error *err);

/* Writes the hparams session end (success or failure) and closes the files;
 * l may be NULL. */
void tfr_runlog_close(tfr_runlog *l, int success);

#endif /* TFR_TRAIN_IMPL_H */
