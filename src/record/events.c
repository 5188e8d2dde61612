/*
 * record/events.c - TensorBoard event files: uncompressed TFRecords of
 * tensorflow.Event protos, written with the project's record writer.
 *
 * File: events.out.tfevents.<%010d unix time>.<host>.<pid>.0.v2. Record 0 is
 * the file_version event "brain.Event:2"; each scalar is one Event (wall
 * time, step, a Summary with one simple_value). The file is written in place
 * (direct mode, no fsync): TensorBoard reads it while training runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "event.pb-c.h"
#include "tfrecord/events.h"
#include "tfrecord/record.h"
#include "tfrecord/util.h"
#include "util/alloc.h"

struct tfr_events {
    tfr_record_writer *w;
    char               path[4400];
};

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static tfr_status write_event(tfr_events *e, Tensorflow__Event *ev, tfr_error *err)
{
    size_t n = tensorflow__event__get_packed_size(ev);
    uint8_t *buf = tfr_malloc(n ? n : 1);
    if (!buf)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tensorflow__event__pack(ev, buf);
    tfr_status st = tfr_record_writer_append(e->w, buf, n, err);
    free(buf);
    return st;
}

tfr_status tfr_events_open(const char *logdir, tfr_events **out, tfr_error *err)
{
    *out = NULL;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    tfr_events *e = tfr_calloc(1, sizeof *e);
    if (!e)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    char name[512];
    snprintf(name, sizeof name, "events.out.tfevents.%010lld.%s.%ld.0.v2", (long long)time(NULL),
             host, (long)getpid());
    if (tfr_path_join(e->path, sizeof e->path, logdir, name, NULL)) {
        free(e);
        return tfr_fail(err, TFR_ERR_ARG, logdir, "path too long");
    }
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    o.compression = TFR_COMPRESS_NONE; /* TensorBoard event files are plain TFRecords */
    o.direct = 1;
    o.sync = 0;
    tfr_status st = tfr_record_writer_open(e->path, &o, &e->w, err);
    if (st) {
        free(e);
        return st;
    }
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.what_case = TENSORFLOW__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    if ((st = write_event(e, &ev, err)) || (st = tfr_record_writer_flush(e->w, err))) {
        tfr_events_close(e);
        return st;
    }
    *out = e;
    return TFR_OK;
}

tfr_status tfr_events_scalar(tfr_events *e, const char *tag, int64_t step, float value,
                             tfr_error *err)
{
    Tensorflow__Summary__Value v = TENSORFLOW__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = value;
    Tensorflow__Summary__Value *vp = &v;
    Tensorflow__Summary sum = TENSORFLOW__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = &vp;
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = step;
    ev.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(e, &ev, err);
}

tfr_status tfr_events_flush(tfr_events *e, tfr_error *err)
{
    return tfr_record_writer_flush(e->w, err);
}

const char *tfr_events_path(const tfr_events *e) { return e->path; }

void tfr_events_close(tfr_events *e)
{
    if (!e)
        return;
    tfr_error err;
    tfr_record_writer_close(e->w, NULL, &err);
    free(e);
}
