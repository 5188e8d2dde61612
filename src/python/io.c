/*
 * src/python/io.c - the rest of tfrecord_tools._native over the public
 * library: records(path) (raw record bytes, every CRC checked),
 * parse_example(bytes) (features as NumPy arrays or lists of bytes),
 * write(roots, out, **options) and inspect(paths) (the reports, as the
 * tools print them with --json).
 *
 * The GIL is released while the library reads, writes or inspects.
 */
#include "native.h"

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL tfr_py_ARRAY_API
#include <numpy/arrayobject.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/dataset.h"
#include "tfrecord/example.h"
#include "tfrecord/inspect.h"
#include "tfrecord/layout.h"
#include "tfrecord/record.h"

/* ---- records(path): an iterator of bytes -------------------------------- */

typedef struct {
    PyObject_HEAD
    tfr_record_reader *r;
    int                busy;
} RecordsObject;

static void Records_dealloc(RecordsObject *self)
{
    tfr_record_reader_close(self->r);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_compression(const char *s, tfr_compression *c)
{
    if (tfr_compression_parse(s, c) == TFR_OK)
        return 0;
    PyErr_Format(PyExc_ValueError, "compression: '%s' is not auto, none, zlib or gzip", s);
    return -1;
}

static PyObject *Records_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "compression", "skip_corrupt", NULL};
    PyObject *path;
    const char *comp = "auto";
    int skip = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$sp:records", kwlist, &path, &comp, &skip))
        return NULL;
    tfr_reader_opts o;
    tfr_reader_opts_init(&o);
    if (parse_compression(comp, &o.compression))
        return NULL;
    o.skip_corrupt = skip;
    char *p = tfr_py_path(path, "path");
    if (!p)
        return NULL;
    RecordsObject *self = (RecordsObject *)type->tp_alloc(type, 0);
    if (!self) {
        PyMem_Free(p);
        return NULL;
    }
    tfr_error e;
    tfr_status st;
    Py_BEGIN_ALLOW_THREADS
    st = tfr_record_reader_open(p, &o, &self->r, &e);
    Py_END_ALLOW_THREADS
    PyMem_Free(p);
    if (st) {
        Py_DECREF(self);
        return tfr_py_raise(&e);
    }
    return (PyObject *)self;
}

static PyObject *Records_next(RecordsObject *self)
{
    if (!self->r)
        return NULL;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "records: used from two threads at once");
        return NULL;
    }
    const uint8_t *d;
    size_t n;
    tfr_error e;
    tfr_status st;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    st = tfr_record_reader_next(self->r, &d, &n, &e);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (st == TFR_ERR_EOF)
        return NULL; /* StopIteration */
    if (st)
        return tfr_py_raise(&e);
    return PyBytes_FromStringAndSize((const char *)d, (Py_ssize_t)n);
}

static PyObject *Records_iter(PyObject *self) { return Py_NewRef(self); }

static PyObject *Records_stats(RecordsObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->r)
        Py_RETURN_NONE;
    tfr_reader_stats s;
    tfr_record_reader_stats(self->r, &s);
    return Py_BuildValue("{s:s,s:K,s:K,s:K,s:K,s:K}", "compression",
                         tfr_compression_name(s.compression), "records",
                         (unsigned long long)s.records, "bytes", (unsigned long long)s.bytes,
                         "file_bytes", (unsigned long long)s.file_bytes, "corrupt_skipped",
                         (unsigned long long)s.corrupt_skipped, "offset",
                         (unsigned long long)tfr_record_reader_offset(self->r));
}

static PyObject *Records_close(RecordsObject *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "records: close() while another thread reads");
        return NULL;
    }
    tfr_record_reader_close(self->r);
    self->r = NULL;
    Py_RETURN_NONE;
}

static PyObject *Records_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    return Py_NewRef(self);
}

static PyObject *Records_exit(RecordsObject *self, PyObject *args)
{
    (void)args;
    return Records_close(self, NULL);
}

static PyMethodDef Records_methods[] = {
    {"stats", (PyCFunction)Records_stats, METH_NOARGS,
     "stats() -> {'compression', 'records', 'bytes', 'file_bytes', 'corrupt_skipped', "
     "'offset'} so far"},
    {"close", (PyCFunction)Records_close, METH_NOARGS, "close(): release the file"},
    {"__enter__", Records_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Records_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyTypeObject RecordsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tfrecord_tools._native.records",
    .tp_basicsize = sizeof(RecordsObject),
    .tp_dealloc = (destructor)Records_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "records(path, *, compression='auto', skip_corrupt=False): the records of one "
              "TFRecord file as bytes, every length and data CRC checked (DataError names the "
              "file, record and offset of a defect; skip_corrupt=True skips bad records).",
    .tp_iter = Records_iter,
    .tp_iternext = (iternextfunc)Records_next,
    .tp_methods = Records_methods,
    .tp_new = Records_new,
};

/* ---- parse_example(bytes) -> dict --------------------------------------- */

static PyObject *array_of(const void *v, size_t n, int type, size_t elem)
{
    npy_intp dims[1] = {(npy_intp)n};
    PyObject *a = PyArray_SimpleNew(1, dims, type);
    if (a && n)
        memcpy(PyArray_DATA((PyArrayObject *)a), v, n * elem);
    return a;
}

static PyObject *feature_value(const tfr_example *ex, size_t i)
{
    switch (tfr_example_kind(ex, i)) {
    case TFR_FEATURE_INT64: {
        const int64_t *v;
        size_t n;
        tfr_example_int64_at(ex, i, &v, &n);
        return array_of(v, n, NPY_INT64, sizeof *v);
    }
    case TFR_FEATURE_FLOAT: {
        const float *v;
        size_t n;
        tfr_example_float_at(ex, i, &v, &n);
        return array_of(v, n, NPY_FLOAT32, sizeof *v);
    }
    case TFR_FEATURE_BYTES: {
        size_t n = tfr_example_count(ex, i);
        PyObject *l = PyList_New((Py_ssize_t)n);
        for (size_t j = 0; l && j < n; j++) {
            const uint8_t *p;
            size_t len;
            tfr_example_bytes_at(ex, i, j, &p, &len);
            PyObject *b = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
            if (!b) {
                Py_CLEAR(l);
                break;
            }
            PyList_SET_ITEM(l, (Py_ssize_t)j, b);
        }
        return l;
    }
    default: /* a Feature with no list: TensorFlow reads it as empty */
        return PyList_New(0);
    }
}

static PyObject *py_parse_example(PyObject *mod, PyObject *arg)
{
    (void)mod;
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    tfr_example *ex = NULL;
    tfr_error e;
    tfr_status st = tfr_example_new(&ex, &e);
    if (!st)
        st = tfr_example_parse(ex, buf.buf, (size_t)buf.len, &e);
    PyBuffer_Release(&buf);
    if (st) {
        tfr_example_free(ex);
        return tfr_py_raise(&e);
    }
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < tfr_example_num_features(ex); i++) {
        PyObject *v = feature_value(ex, i);
        /* a key given twice: the last one, as protobuf maps and TensorFlow do */
        if (!v || PyDict_SetItemString(d, tfr_example_key(ex, i), v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    tfr_example_free(ex);
    return d;
}

/* ---- reports as dicts --------------------------------------------------- */

/* json.loads of what print wrote into a memory stream */
typedef void (*print_fn)(const void *report, FILE *f);

static PyObject *report_dict(const void *report, print_fn print)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return PyErr_NoMemory();
    print(report, f);
    if (fclose(f) != 0) {
        free(text);
        return PyErr_NoMemory();
    }
    PyObject *json = PyImport_ImportModule("json");
    PyObject *d = json ? PyObject_CallMethod(json, "loads", "s#", text, (Py_ssize_t)len) : NULL;
    Py_XDECREF(json);
    free(text);
    return d;
}

static void print_write(const void *r, FILE *f) { tfr_write_report_print_json(r, f); }
static void print_inspect(const void *r, FILE *f) { tfr_inspect_print_json(r, f); }

/* a str/path or a sequence of them -> PyMem_Malloc'd array of strings */
typedef struct {
    char **v;
    int    n;
} strlist;

static void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++)
        PyMem_Free(l->v[i]);
    PyMem_Free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strlist_from(PyObject *o, const char *what, strlist *l)
{
    PyObject *seq;
    if (PyUnicode_Check(o) || PyBytes_Check(o) || PyObject_HasAttrString(o, "__fspath__"))
        seq = PyTuple_Pack(1, o);
    else
        seq = PySequence_Fast(o, what);
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > 65536) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "%s: give 1 to 65536 paths", what);
        return -1;
    }
    l->v = PyMem_Calloc((size_t)n, sizeof(char *));
    if (!l->v) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        char *s = tfr_py_path(PySequence_Fast_GET_ITEM(seq, i), what);
        if (!s) {
            Py_DECREF(seq);
            strlist_free(l);
            return -1;
        }
        l->v[l->n++] = s;
    }
    Py_DECREF(seq);
    return 0;
}

static int pick(const char *what, const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    char all[160] = "";
    for (int i = 0; i < n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? ", " : "", names[i]);
    PyErr_Format(PyExc_ValueError, "%s: '%s' is not one of %s", what, s, all);
    return -1;
}

static PyObject *py_write(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwlist[] = {"roots", "out", "splits", "size", "resize", "channels", "flip",
                             "layout", "normalize", "quality", "shards", "shard_bytes",
                             "compression", "index", "seed", "threads", "strict", "force",
                             "max_pixels", "labels_from", NULL};
    PyObject *roots_o, *out_o, *size_o = Py_None, *labels_o = Py_None;
    const char *splits = NULL, *resize = "stretch", *flip = "none", *layout = "jpeg",
               *norm = "none", *comp = "gzip";
    tfr_write_opts o;
    tfr_write_opts_init(&o);
    unsigned long long shard_bytes = o.shard_bytes, seed = o.seed, max_pixels = o.max_pixels;
    int channels = o.channels, quality = o.quality, shards = o.shards, index = 0, threads = 0,
        strict = 0, force = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$zOssssiiKspKippKO:write", kwlist, &roots_o,
                                     &out_o, &splits, &size_o, &resize, &channels, &flip,
                                     &layout, &norm, &quality, &shards, &shard_bytes, &comp,
                                     &index, &seed, &threads, &strict, &force, &max_pixels,
                                     &labels_o))
        return NULL;
    static const char *const layouts[] = {"jpeg", "raw", "tensor"};
    static const char *const resizes[] = {"stretch", "crop", "pad"};
    static const char *const flips[] = {"none", "random", "both"};
    static const char *const norms[] = {"none", "rescale", "samplewise"};
    int li, ri, fi, ni;
    if (pick("layout", layout, layouts, 3, &li) || pick("resize", resize, resizes, 3, &ri) ||
        pick("flip", flip, flips, 3, &fi) || pick("normalize", norm, norms, 3, &ni) ||
        parse_compression(comp, &o.record.compression))
        return NULL;
    if (o.record.compression == TFR_COMPRESS_AUTO) {
        PyErr_SetString(PyExc_ValueError, "compression: auto is for reading; give none, zlib or gzip");
        return NULL;
    }
    if (channels != 0 && channels != 1 && channels != 3) {
        PyErr_Format(PyExc_ValueError, "channels: %d is not 0 (as stored), 1 or 3", channels);
        return NULL;
    }
    if (quality < 1 || quality > 100 || shards < 0 || threads < 0 || max_pixels < 1) {
        PyErr_SetString(PyExc_ValueError, quality < 1 || quality > 100 ? "quality: 1..100"
                                          : max_pixels < 1 ? "max_pixels: at least 1"
                                          : "shards and threads: 0 or more");
        return NULL;
    }
    if (size_o != Py_None) {
        long h, w;
        if (PyLong_Check(size_o)) {
            h = w = PyLong_AsLong(size_o);
        } else if (!PyArg_ParseTuple(size_o, "ll;size: an int or (height, width)", &h, &w)) {
            return NULL;
        }
        if ((h == -1 || w == -1) && PyErr_Occurred())
            return NULL;
        if (h < 1 || h > 65535 || w < 1 || w > 65535) {
            PyErr_Format(PyExc_ValueError, "size: (%ld, %ld) is out of range (1..65535)", h, w);
            return NULL;
        }
        o.width = (int)w;
        o.height = (int)h;
    }
    strlist roots = {0};
    char *out = NULL, *labels = NULL;
    tfr_error e;
    if (splits && tfr_parse_splits(splits, o.splits, &o.nsplits, &e)) {
        PyErr_Format(PyExc_ValueError, "splits: %s", e.msg);
        return NULL;
    }
    if (strlist_from(roots_o, "roots", &roots) || !(out = tfr_py_path(out_o, "out")) ||
        (labels_o != Py_None && !(labels = tfr_py_path(labels_o, "labels_from")))) {
        strlist_free(&roots);
        PyMem_Free(out);
        return NULL;
    }
    o.roots = (const char *const *)roots.v;
    o.nroots = roots.n;
    o.out_dir = out;
    o.labels_from = labels;
    o.layout = (tfr_layout)li;
    o.resize = (tfr_resize_mode)ri;
    o.flip = (tfr_flip)fi;
    o.normalize = (tfr_normalize)ni;
    o.channels = channels;
    o.quality = quality;
    o.shards = shards;
    o.shard_bytes = shard_bytes;
    o.index = index;
    o.seed = seed;
    o.threads = threads;
    o.strict = strict;
    o.force = force;
    o.max_pixels = max_pixels;
    o.progress = 0;
    tfr_write_report *rep = NULL;
    tfr_status st;
    Py_BEGIN_ALLOW_THREADS
    st = tfr_write_dataset(&o, &rep, &e);
    Py_END_ALLOW_THREADS
    strlist_free(&roots);
    PyMem_Free(out);
    PyMem_Free(labels);
    if (st) {
        tfr_write_report_free(rep);
        return tfr_py_raise(&e);
    }
    PyObject *d = report_dict(rep, print_write);
    tfr_write_report_free(rep);
    return d;
}

static PyObject *py_inspect(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwlist[] = {"paths", "compression", "label_key", "max_errors", "verify", NULL};
    PyObject *paths_o;
    const char *comp = "auto", *label_key = NULL;
    int max_errors = 20, verify = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$szip:inspect", kwlist, &paths_o, &comp,
                                     &label_key, &max_errors, &verify))
        return NULL;
    tfr_inspect_opts o;
    tfr_inspect_opts_init(&o);
    if (parse_compression(comp, &o.compression))
        return NULL;
    if (max_errors < 0) {
        PyErr_SetString(PyExc_ValueError, "max_errors: 0 (all) or more");
        return NULL;
    }
    o.max_errors = max_errors;
    o.label_key = label_key;
    strlist paths = {0};
    if (strlist_from(paths_o, "paths", &paths))
        return NULL;
    tfr_inspect_report *rep = NULL;
    tfr_error e;
    tfr_status st;
    Py_BEGIN_ALLOW_THREADS
    st = tfr_inspect((const char *const *)paths.v, (size_t)paths.n, &o, &rep, &e);
    Py_END_ALLOW_THREADS
    strlist_free(&paths);
    if (st) {
        tfr_inspect_report_free(rep);
        return tfr_py_raise(&e);
    }
    if (verify && rep->ndefects) {
        /* tfrecord-inspect --verify: the first defect raised, with its file,
         * record and offset, and how many there were */
        tfr_error first;
        if (rep->defects_kept) {
            first = rep->defects[0];
        } else {
            tfr_error_clear(&first);
            first.code = TFR_ERR_CORRUPT;
        }
        char tail[64];
        snprintf(tail, sizeof tail, " (%llu defect%s in all)", (unsigned long long)rep->ndefects,
                 rep->ndefects == 1 ? "" : "s");
        size_t keep = sizeof first.msg - 1 - strlen(tail), len = strlen(first.msg);
        first.msg[len < keep ? len : keep] = 0;
        strcat(first.msg, tail);
        tfr_inspect_report_free(rep);
        return tfr_py_raise(&first);
    }
    PyObject *d = report_dict(rep, print_inspect);
    tfr_inspect_report_free(rep);
    return d;
}

PyMethodDef tfr_py_io_methods[] = {
    {"parse_example", py_parse_example, METH_O,
     "parse_example(data) -> {key: value}: a serialized tf.train.Example; int64 and float "
     "lists as 1-D int64 / float32 NumPy arrays, bytes lists as lists of bytes. DataError for "
     "bytes that are not an Example."},
    {"write", (PyCFunction)(void (*)(void))py_write, METH_VARARGS | METH_KEYWORDS,
     "write(roots, out, *, splits=None, size=None, resize='stretch', channels=0, flip='none', "
     "layout='jpeg', normalize='none', quality=95, shards=0, shard_bytes=150e6, "
     "compression='gzip', index=False, seed=12345, threads=0, strict=False, force=False, "
     "max_pixels=..., labels_from=None) -> dict: tfrecord-write; the report as "
     "`tfrecord-write --json` prints it."},
    {"inspect", (PyCFunction)(void (*)(void))py_inspect, METH_VARARGS | METH_KEYWORDS,
     "inspect(paths, *, compression='auto', label_key=None, max_errors=20, verify=False) -> "
     "dict: tfrecord-inspect; every record of every file read and its CRCs checked, the report "
     "as `tfrecord-inspect --json` prints it (defects are in it; verify=True raises DataError "
     "for the first, as `tfrecord-inspect --verify` exits 1)."},
    {NULL, NULL, 0, NULL}};

int tfr_py_io_init(PyObject *m)
{
    if (PyType_Ready(&RecordsType) < 0)
        return -1;
    return PyModule_AddObjectRef(m, "records", (PyObject *)&RecordsType);
}
