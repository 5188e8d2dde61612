/*
 * tfrecord/events.h - TensorBoard event files: plain (uncompressed) TFRecord
 * files of tensorflow.Event protos, as tf.summary writes them.
 *
 * The first record is the file_version event "brain.Event:2"; each scalar is
 * one Event with a wall time, a step and a one-value Summary. A writer must
 * not be shared between threads.
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
/* Appends one scalar summary; tag is copied into the record. */
TFR_API tfr_status tfr_events_scalar(tfr_events *e, const char *tag, int64_t step, float value,
                                     tfr_error *err);
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
