/*
 * record/events.c - TensorBoard event files: uncompressed TFRecords of
 * tensorflow.Event protos, written with the project's record writer.
 *
 * File: events.out.tfevents.<%010d unix time>.<host>.<pid>.0.v2. Record 0 is
 * the file_version event "brain.Event:2"; each scalar is one Event (wall
 * time, step, a Summary with one simple_value). The file is written in place
 * (direct mode, no fsync): TensorBoard reads it while training runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "event.pb-c.h"
#include "hparams.pb-c.h"
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

double tfr_wall_time(void) { return wall_time(); }

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

tfr_status tfr_events_open_run(const char *logdir, const char *run, tfr_events **out,
                               tfr_error *err)
{
    *out = NULL;
    if (!run || !*run)
        return tfr_events_open(logdir, out, err);
    char dir[4400];
    if (tfr_path_join(dir, sizeof dir, logdir, run, NULL))
        return tfr_fail(err, TFR_ERR_ARG, logdir, "path too long");
    tfr_status st = tfr_mkdir_p(dir, err);
    return st ? st : tfr_events_open(dir, out, err);
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


/* one Summary.Value in one Event */
static tfr_status write_value(tfr_events *e, Tensorflow__Summary__Value *v, int64_t step,
                              tfr_error *err)
{
    Tensorflow__Summary sum = TENSORFLOW__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = &v;
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = step;
    ev.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(e, &ev, err);
}

tfr_status tfr_events_scalar(tfr_events *e, const char *tag, int64_t step, float value,
                             tfr_error *err)
{
    Tensorflow__Summary__Value v = TENSORFLOW__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = value;
    return write_value(e, &v, step, err);
}

tfr_status tfr_events_image(tfr_events *e, const char *tag, int64_t step, const uint8_t *png,
                            size_t n, int w, int h, int channels, tfr_error *err)
{
    Tensorflow__Summary__Image im = TENSORFLOW__SUMMARY__IMAGE__INIT;
    im.height = h;
    im.width = w;
    im.colorspace = channels;
    im.encoded_image_string.data = (uint8_t *)png;
    im.encoded_image_string.len = n;
    Tensorflow__Summary__Value v = TENSORFLOW__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_IMAGE;
    v.image = &im;
    return write_value(e, &v, step, err);
}

tfr_status tfr_events_histogram(tfr_events *e, const char *tag, int64_t step, const float *v,
                                size_t n, int buckets, tfr_error *err)
{
    if (buckets < 1 || buckets > 10000)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "histogram: 1..10000 buckets");
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0, num = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
            sum += v[i];
            sq += (double)v[i] * v[i];
            num++;
        }
    if (num == 0)
        lo = hi = 0;
    double *limit = tfr_calloc((size_t)buckets, sizeof *limit);
    double *count = tfr_calloc((size_t)buckets, sizeof *count);
    if (!limit || !count) {
        free(limit);
        free(count);
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    }
    double width = hi > lo ? (hi - lo) / buckets : 0;
    for (int b = 0; b < buckets; b++)
        limit[b] = width > 0 ? lo + width * (b + 1) : hi + b; /* one value: its own bucket */
    limit[buckets - 1] = hi > lo ? hi : limit[buckets - 1];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        int b = width > 0 ? (int)((v[i] - lo) / width) : 0;
        if (b >= buckets)
            b = buckets - 1;
        while (b > 0 && v[i] <= limit[b - 1]) /* (limit[b-1], limit[b]] exactly */
            b--;
        while (b < buckets - 1 && v[i] > limit[b])
            b++;
        count[b]++;
    }
    Tensorflow__HistogramProto hp = TENSORFLOW__HISTOGRAM_PROTO__INIT;
    hp.min = lo;
    hp.max = hi;
    hp.num = num;
    hp.sum = sum;
    hp.sum_squares = sq;
    hp.n_bucket_limit = (size_t)buckets;
    hp.bucket_limit = limit;
    hp.n_bucket = (size_t)buckets;
    hp.bucket = count;
    Tensorflow__Summary__Value sv = TENSORFLOW__SUMMARY__VALUE__INIT;
    sv.tag = (char *)tag;
    sv.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_HISTO;
    sv.histo = &hp;
    tfr_status st = write_value(e, &sv, step, err);
    free(limit);
    free(count);
    return st;
}

/* a Value of the hparams plugin: its data in the metadata, a float 0 tensor */
static tfr_status write_hparams(tfr_events *e, const char *tag, Tensorboard__Hparams__HParamsPluginData *pd,
                                tfr_error *err)
{
    size_t n = tensorboard__hparams__hparams_plugin_data__get_packed_size(pd);
    uint8_t *buf = tfr_malloc(n ? n : 1);
    if (!buf)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tensorboard__hparams__hparams_plugin_data__pack(pd, buf);
    Tensorflow__SummaryMetadata__PluginData plug = TENSORFLOW__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    plug.plugin_name = "hparams";
    plug.content.data = buf;
    plug.content.len = n;
    Tensorflow__SummaryMetadata md = TENSORFLOW__SUMMARY_METADATA__INIT;
    md.plugin_data = &plug;
    float zero = 0;
    Tensorflow__TensorProto t = TENSORFLOW__TENSOR_PROTO__INIT;
    t.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
    t.n_float_val = 1;
    t.float_val = &zero;
    Tensorflow__TensorShapeProto shape = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
    t.tensor_shape = &shape;
    Tensorflow__Summary__Value v = TENSORFLOW__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.metadata = &md;
    v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_TENSOR;
    v.tensor = &t;
    tfr_status st = write_value(e, &v, 0, err);
    free(buf);
    return st;
}

tfr_status tfr_events_hparams_start(tfr_events *e, const tfr_hparam *hp, int n,
                                    const char *model_uri, double start_time, tfr_error *err)
{
    if (n < 0 || n > 256)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "hparams: 0..256 values");
    Tensorboard__Hparams__SessionStartInfo__HparamsEntry ent[256], *ep[256];
    Tensorboard__Hparams__HParamValue val[256];
    for (int i = 0; i < n; i++) {
        tensorboard__hparams__session_start_info__hparams_entry__init(&ent[i]);
        tensorboard__hparams__hparam_value__init(&val[i]);
        ent[i].key = (char *)hp[i].name;
        ent[i].value = &val[i];
        ep[i] = &ent[i];
        if (hp[i].kind == 1) {
            val[i].kind_case = TENSORBOARD__HPARAMS__HPARAM_VALUE__KIND_STRING_VALUE;
            val[i].string_value = (char *)(hp[i].string ? hp[i].string : "");
        } else if (hp[i].kind == 2) {
            val[i].kind_case = TENSORBOARD__HPARAMS__HPARAM_VALUE__KIND_BOOL_VALUE;
            val[i].bool_value = hp[i].boolean != 0;
        } else {
            val[i].kind_case = TENSORBOARD__HPARAMS__HPARAM_VALUE__KIND_NUMBER_VALUE;
            val[i].number_value = hp[i].number;
        }
    }
    Tensorboard__Hparams__SessionStartInfo si = TENSORBOARD__HPARAMS__SESSION_START_INFO__INIT;
    si.n_hparams = (size_t)n;
    si.hparams = ep;
    si.model_uri = (char *)(model_uri ? model_uri : "");
    si.start_time_secs = start_time;
    Tensorboard__Hparams__HParamsPluginData pd = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pd.version = 0;
    pd.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_SESSION_START_INFO;
    pd.session_start_info = &si;
    return write_hparams(e, "_hparams_/session_start_info", &pd, err);
}

tfr_status tfr_events_hparams_end(tfr_events *e, int success, double end_time, tfr_error *err)
{
    Tensorboard__Hparams__SessionEndInfo ei = TENSORBOARD__HPARAMS__SESSION_END_INFO__INIT;
    ei.status = success ? TENSORBOARD__HPARAMS__STATUS__STATUS_SUCCESS
                        : TENSORBOARD__HPARAMS__STATUS__STATUS_FAILURE;
    ei.end_time_secs = end_time;
    Tensorboard__Hparams__HParamsPluginData pd = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__INIT;
    pd.data_case = TENSORBOARD__HPARAMS__HPARAMS_PLUGIN_DATA__DATA_SESSION_END_INFO;
    pd.session_end_info = &ei;
    return write_hparams(e, "_hparams_/session_end_info", &pd, err);
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
