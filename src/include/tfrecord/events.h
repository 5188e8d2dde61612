/*
 * tfrecord/events.h - TensorBoard event files: plain (uncompressed) TFRecord
 * files of tensorflow.Event protos, as tf.summary writes them.
 *
 * The first record is the file_version event "brain.Event:2"; each summary is
 * one Event with a wall time, a step and a one-value Summary: a scalar
 * (simple_value), an image (Summary.Image, PNG), a histogram
 * (HistogramProto), or the hparams plugin's session start and end. This is
 * the format tf.summary's v1 writers produce, which TensorBoard 2.x reads
 * (it converts images and histograms to its plugins' tensors on load). A
 * writer must not be shared between threads.
 */
#ifndef TFRECORD_EVENTS_H
#define TFRECORD_EVENTS_H

#include <stdint.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tfr_events tfr_events;   /* opaque */

/*
 * Creates LOGDIR/events.out.tfevents.<time>.<host>.<pid>.0.v2 (uncompressed
 * TFRecords) and writes the file_version event. On success sets *out; on
 * failure fills *err and sets *out to NULL. logdir must exist.
 */
TFR_API tfr_status tfr_events_open(const char *logdir, tfr_events **out, tfr_error *err);
/* A run of its own: LOGDIR/RUN/ (made when missing) gets the event file,
 * as Keras' TensorBoard callback writes LOGDIR/train and LOGDIR/validation.
 * run NULL or "" is logdir itself. */
TFR_API tfr_status tfr_events_open_run(const char *logdir, const char *run, tfr_events **out,
                                       tfr_error *err);
/* Appends one scalar summary; tag is copied into the record. */
TFR_API tfr_status tfr_events_scalar(tfr_events *e, const char *tag, int64_t step, float value,
                                     tfr_error *err);
/* An image summary: png holds an encoded PNG of w x h with channels 1 or 3. */
TFR_API tfr_status tfr_events_image(tfr_events *e, const char *tag, int64_t step, const uint8_t *png,
                                    size_t n, int w, int h, int channels, tfr_error *err);
/* A histogram of v[0..n) in `buckets` equal-width buckets between its min
 * and max (tf.summary.histogram's default is 30); non-finite values are
 * left out of the buckets and of num. */
TFR_API tfr_status tfr_events_histogram(tfr_events *e, const char *tag, int64_t step, const float *v,
                                        size_t n, int buckets, tfr_error *err);
/* One hyperparameter of a run, for the HParams tab. */
typedef struct tfr_hparam {
    const char *name;
    int         kind;      /* 0 number, 1 string, 2 bool */
    double      number;
    const char *string;
    int         boolean;
} tfr_hparam;
/* The hparams plugin's session start (tag _hparams_/session_start_info) and
 * end (_hparams_/session_end_info, success or failure), written to the
 * run's root folder; times in seconds since the epoch. */
TFR_API tfr_status tfr_events_hparams_start(tfr_events *e, const tfr_hparam *hp, int n,
                                            const char *model_uri, double start_time,
                                            tfr_error *err);
TFR_API tfr_status tfr_events_hparams_end(tfr_events *e, int success, double end_time,
                                          tfr_error *err);
/* Seconds since the epoch (wall clock), as the events' wall_time. */
TFR_API double tfr_wall_time(void);
/* Pushes what was appended to the file, so TensorBoard sees it now. */
TFR_API tfr_status tfr_events_flush(tfr_events *e, tfr_error *err);
/* Flushes and closes the file and frees e; e may be NULL. Errors are dropped. */
TFR_API void       tfr_events_close(tfr_events *e);
/* The file's path; valid until tfr_events_close(). */
TFR_API const char *tfr_events_path(const tfr_events *e);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_EVENTS_H */
