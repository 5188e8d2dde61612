/*
 * src/python/_native.c - tfrecord_tools._native, the CPython extension over
 * the public stream API (tfrecord/stream.h): Stream, an iterator of
 * (images, labels) NumPy arrays, and DataError; io.c has the rest.
 *
 * The options go into tfr_stream_opts field by field through
 * tfr_stream_opts_init, so a field added to the struct keeps its default
 * here. The GIL is released while the library opens the sources and while
 * it waits for a batch. By default (copy=True) each batch's pixels are
 * taken out of the stream (tfr_stream_take_data: the stream fills another
 * buffer next time) and the array owns them through a capsule, so the
 * arrays are fresh without a copy; where the take fails they are copied.
 * When such an array dies while its stream is open, its buffer goes back
 * to the stream (tfr_stream_give_data) for a later batch.
 * With copy=False the arrays view the stream's own buffer, which the next
 * batch overwrites (the documented lifetime rule).
 *
 * Its own allocations use the interpreter's PyMem_* (tracemalloc sees
 * them). The module links libtfrecord statically and only what the stream needs,
 * so importing it never loads the CUDA libraries of a CUDA build.
 */
#include "native.h"

#include <structmember.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL tfr_py_ARRAY_API
#include <numpy/arrayobject.h>

#include <stdlib.h>
#include <string.h>

#include "tfrecord/stream.h"

static PyObject *DataError; /* tfrecord_tools.DataError, an OSError */

/* Raises DataError (a ValueError for bad options, MemoryError for memory)
 * from e, with path, record and offset attributes (None where unknown). */
PyObject *tfr_py_raise(const tfr_error *e)
{
    char buf[4600];
    tfr_error_text(e, buf, sizeof buf);
    if (e->code == TFR_ERR_NOMEM)
        return PyErr_NoMemory();
    if (e->code == TFR_ERR_ARG && !e->path[0]) {
        PyErr_SetString(PyExc_ValueError, buf);
        return NULL;
    }
    /* OSError(errno, text) when the OS said why, else OSError(text) */
    PyObject *args = e->sys_errno ? Py_BuildValue("(is)", e->sys_errno, buf)
                                  : Py_BuildValue("(s)", buf);
    PyObject *exc = args ? PyObject_Call(DataError, args, NULL) : NULL;
    Py_XDECREF(args);
    if (!exc)
        return NULL;
    PyObject *path = e->path[0] ? PyUnicode_DecodeFSDefault(e->path) : Py_NewRef(Py_None);
    PyObject *rec = e->record >= 0 ? PyLong_FromLongLong(e->record) : Py_NewRef(Py_None);
    PyObject *off = e->offset >= 0 ? PyLong_FromLongLong(e->offset) : Py_NewRef(Py_None);
    PyObject *code = PyUnicode_FromString(tfr_status_str(e->code));
    if (path && rec && off && code) {
        PyObject_SetAttrString(exc, "filename", path);
        PyObject_SetAttrString(exc, "path", path);
        PyObject_SetAttrString(exc, "record", rec);
        PyObject_SetAttrString(exc, "offset", off);
        PyObject_SetAttrString(exc, "kind", code);
    }
    Py_XDECREF(path);
    Py_XDECREF(rec);
    Py_XDECREF(off);
    Py_XDECREF(code);
    PyErr_SetObject(DataError, exc);
    Py_DECREF(exc);
    return NULL;
}

/*
 * Where a taken batch's buffer goes when its array dies: back to the stream
 * that gave it while that is open (tfr_stream_give_data: the next batches
 * reuse it, so a training loop that drops each batch before the next but
 * one faults in no new pages), else freed. The Stream and each of its live
 * batch capsules hold a reference; only touched with the GIL held.
 */
typedef struct batch_home {
    tfr_stream        *s; /* NULL once the stream is closed */
    Py_ssize_t         refs;
    unsigned long long given; /* buffers given back (stats()["batches_given_back"]) */
} batch_home;

static void home_release(batch_home *h)
{
    if (h && --h->refs == 0)
        PyMem_Free(h);
}

typedef struct {
    PyObject_HEAD
    tfr_stream      *s;
    batch_home      *home;
    tfr_stream_opts  o;
    char           **sources; /* owned copies, o.sources points here */
    int              nsources;
    char            *image_key, *label_key;
    int              copy;
    int              busy;    /* a call runs without the GIL */
    int              done;    /* EOF seen */
} StreamObject;

static void free_strings(StreamObject *self)
{
    for (int i = 0; i < self->nsources; i++)
        PyMem_Free(self->sources[i]);
    PyMem_Free(self->sources);
    self->sources = NULL;
    self->nsources = 0;
    PyMem_Free(self->image_key);
    PyMem_Free(self->label_key);
    self->image_key = self->label_key = NULL;
}

static void Stream_dealloc(StreamObject *self)
{
    if (self->home)
        self->home->s = NULL;
    home_release(self->home);
    self->home = NULL;
    tfr_stream_close(self->s); /* safe mid-epoch */
    self->s = NULL;
    free_strings(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

char *tfr_py_path(PyObject *o, const char *what)
{
    PyObject *b = NULL;
    if (PyUnicode_Check(o)) {
        b = PyUnicode_EncodeFSDefault(o);
    } else if (PyBytes_Check(o)) {
        b = Py_NewRef(o);
    } else {
        PyObject *p = PyOS_FSPath(o); /* pathlib.Path */
        if (!p) {
            PyErr_Format(PyExc_TypeError, "%s: expected a str or path, got %.80s", what,
                         Py_TYPE(o)->tp_name);
            return NULL;
        }
        b = PyUnicode_Check(p) ? PyUnicode_EncodeFSDefault(p) : Py_NewRef(p);
        Py_DECREF(p);
    }
    if (!b)
        return NULL;
    size_t len = (size_t)PyBytes_GET_SIZE(b) + 1;
    char *s = PyMem_Malloc(len);
    if (s)
        memcpy(s, PyBytes_AS_STRING(b), len);
    else
        PyErr_NoMemory();
    Py_DECREF(b);
    return s;
}

/* source: one str/path or a sequence of them; split: appended as ":split" */
static int set_sources(StreamObject *self, PyObject *source, const char *split)
{
    PyObject *seq;
    if (PyUnicode_Check(source) || PyBytes_Check(source) || PyObject_HasAttrString(source, "__fspath__"))
        seq = PyTuple_Pack(1, source);
    else
        seq = PySequence_Fast(source, "source: a path or a list of paths");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > 4096) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "source: give 1 to 4096 paths");
        return -1;
    }
    self->sources = PyMem_Calloc((size_t)n, sizeof(char *));
    if (!self->sources) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        char *p = tfr_py_path(PySequence_Fast_GET_ITEM(seq, i), "source");
        if (!p) {
            Py_DECREF(seq);
            return -1;
        }
        if (split && *split) {
            size_t len = strlen(p) + strlen(split) + 2;
            char *q = PyMem_Malloc(len);
            if (!q) {
                PyMem_Free(p);
                Py_DECREF(seq);
                PyErr_NoMemory();
                return -1;
            }
            snprintf(q, len, "%s:%s", p, split);
            PyMem_Free(p);
            p = q;
        }
        self->sources[self->nsources++] = p;
    }
    Py_DECREF(seq);
    self->o.sources = (const char *const *)self->sources;
    self->o.nsources = self->nsources;
    return 0;
}

/* mean/std: a number or a sequence of 1 or 3 numbers */
static int set_triple(PyObject *v, float out[3], const char *what)
{
    if (!v || v == Py_None)
        return 0;
    if (PyNumber_Check(v)) {
        double d = PyFloat_AsDouble(v);
        if (d == -1 && PyErr_Occurred())
            return -1;
        out[0] = out[1] = out[2] = (float)d;
        return 0;
    }
    PyObject *seq = PySequence_Fast(v, what);
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != 1 && n != 3) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "%s: give 1 or 3 values, not %zd", what, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < 3; i++) {
        double d = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, n == 1 ? 0 : i));
        if (d == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        out[i] = (float)d;
    }
    Py_DECREF(seq);
    return 0;
}

/* size: None, an int (square) or (height, width) */
static int set_size(PyObject *v, int *h, int *w)
{
    if (!v || v == Py_None)
        return 0;
    if (PyLong_Check(v)) {
        long s = PyLong_AsLong(v);
        if (s < 1 || s > 65536) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "size: %ld is out of range (1..65536)", s);
            return -1;
        }
        *h = *w = (int)s;
        return 0;
    }
    long a, b;
    if (!PyArg_ParseTuple(v, "ll;size: an int or (height, width)", &a, &b))
        return -1;
    if (a < 1 || a > 65536 || b < 1 || b > 65536) {
        PyErr_Format(PyExc_ValueError, "size: (%ld, %ld) is out of range (1..65536)", a, b);
        return -1;
    }
    *h = (int)a;
    *w = (int)b;
    return 0;
}

static int get_u64(PyObject *d, const char *key, uint64_t *out)
{
    PyObject *v = PyDict_GetItemString(d, key); /* borrowed */
    if (!v) {
        PyErr_Format(PyExc_KeyError, "state: no '%s'", key);
        return -1;
    }
    unsigned long long x = PyLong_AsUnsignedLongLong(v);
    if (x == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = x;
    return 0;
}

static int Stream_init(StreamObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"source", "batch_size", "size", "channels", "format", "layout",
                             "flip", "pad_crop", "random_resized_crop", "center_crop", "mean",
                             "std", "shuffle_buffer", "shuffle_files", "interleave", "seed",
                             "epochs", "rank", "world", "threads", "prefetch", "split",
                             "drop_remainder", "skip_corrupt", "num_classes", "image_key",
                             "label_key", "state", "copy", "split_records", "random_erase", NULL};
    PyObject *source, *size = NULL, *mean = NULL, *std = NULL, *state = NULL;
    PyObject *image_key = NULL, *label_key = NULL;
    int batch = 32, channels = 3, flip = 0, pad = 0, shuffle_files = 1, interleave = 4;
    int rank = 0, world = 1, threads = 0, prefetch = 2, drop = 0, skip = 0, classes = 0, copy = 1;
    PyObject *split_records = NULL;
    long long epochs = 1;
    unsigned long long seed = 0;
    Py_ssize_t shuffle = 1024;
    double rrc = 0, center = 0, erase = 0;
    const char *format = "uint8", *layout = NULL, *split = NULL;
    if (self->s || self->sources) {
        PyErr_SetString(PyExc_RuntimeError, "Stream.__init__ called twice");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$iOiszpiddOOnpiKLiiiizppiOOOpOd", kwlist, &source,
                                     &batch, &size, &channels, &format, &layout, &flip, &pad,
                                     &rrc, &center, &mean, &std, &shuffle, &shuffle_files,
                                     &interleave, &seed, &epochs, &rank, &world, &threads,
                                     &prefetch, &split, &drop, &skip, &classes, &image_key,
                                     &label_key, &state, &copy, &split_records, &erase))
        return -1;
    tfr_stream_opts *o = &self->o;
    tfr_stream_opts_init(o);
    if (set_sources(self, source, split) || set_size(size, &o->height, &o->width) ||
        set_triple(mean, o->mean, "mean") || set_triple(std, o->std, "std"))
        return -1;
    if (!strcmp(format, "uint8")) {
        if (layout && strcmp(layout, "NHWC")) {
            PyErr_SetString(PyExc_ValueError, "format 'uint8' is NHWC only");
            return -1;
        }
        o->format = TFR_BATCH_U8_NHWC;
        if (mean || std) {
            PyErr_SetString(PyExc_ValueError, "mean and std need format='float32'");
            return -1;
        }
    } else if (!strcmp(format, "float32")) {
        if (!layout || !strcmp(layout, "NCHW"))
            o->format = TFR_BATCH_F32_NCHW;
        else if (!strcmp(layout, "NHWC"))
            o->format = TFR_BATCH_F32_NHWC;
        else {
            PyErr_Format(PyExc_ValueError, "layout: '%s' is not 'NCHW' or 'NHWC'", layout);
            return -1;
        }
    } else {
        PyErr_Format(PyExc_ValueError, "format: '%s' is not 'uint8' or 'float32'", format);
        return -1;
    }
    if (epochs < 0) {
        PyErr_SetString(PyExc_ValueError, "epochs: 0 (forever) or more");
        return -1;
    }
    if (shuffle < 0) {
        PyErr_SetString(PyExc_ValueError, "shuffle_buffer: 0 or more");
        return -1;
    }
    o->batch_size = batch;
    o->channels = channels;
    o->random_flip = flip;
    o->pad_crop = pad;
    o->rrc_min_scale = (float)rrc;
    o->center_crop = (float)center;
    o->random_erase = (float)erase;
    o->shuffle_buffer = (size_t)shuffle;
    o->shuffle_files = shuffle_files;
    o->interleave = interleave;
    o->seed = seed;
    o->epochs = (int)(epochs > 1 << 30 ? 1 << 30 : epochs);
    o->rank = rank;
    o->world = world;
    /* split_records: False, True (capped: equal shares) or "exact" (every
     * record by exactly one rank: for evaluation) */
    if (split_records && PyUnicode_Check(split_records)) {
        if (PyUnicode_CompareWithASCIIString(split_records, "exact")) {
            PyErr_SetString(PyExc_ValueError, "split_records: True, False or \"exact\"");
            return -1;
        }
        o->split_records = TFR_SPLIT_EXACT;
    } else if (split_records) {
        int t = PyObject_IsTrue(split_records);
        if (t < 0)
            return -1;
        o->split_records = t;
    }
    o->threads = threads;
    o->prefetch = prefetch;
    o->drop_remainder = drop;
    o->record.skip_corrupt = skip;
    o->num_classes = classes;
    if (image_key && image_key != Py_None && !(o->image_key = self->image_key = tfr_py_path(image_key, "image_key")))
        return -1;
    if (label_key && label_key != Py_None && !(o->label_key = self->label_key = tfr_py_path(label_key, "label_key")))
        return -1;
    if (state && state != Py_None) {
        if (!PyDict_Check(state)) {
            PyErr_SetString(PyExc_TypeError, "state: a dict from Stream.state()");
            return -1;
        }
        if (get_u64(state, "seed", &o->seed) || get_u64(state, "epoch", &o->start_epoch) ||
            get_u64(state, "records", &o->skip_records))
            return -1;
    }
    self->copy = copy;
    tfr_error e;
    tfr_error_clear(&e);
    tfr_status st;
    tfr_stream *s = NULL;
    Py_BEGIN_ALLOW_THREADS
    st = tfr_stream_open(o, &s, &e);
    Py_END_ALLOW_THREADS
    if (st) {
        tfr_py_raise(&e);
        return -1;
    }
    if (!(self->home = PyMem_Malloc(sizeof *self->home))) {
        tfr_stream_close(s);
        PyErr_NoMemory();
        return -1;
    }
    self->home->s = s;
    self->home->refs = 1;
    self->home->given = 0;
    self->s = s;
    return 0;
}

/* the capsule of a batch taken from the stream: its array is gone */
static void free_batch(PyObject *cap)
{
    void *data = PyCapsule_GetPointer(cap, "tfrecord_tools.batch");
    batch_home *h = PyCapsule_GetContext(cap);
    if (h && h->s) {
        tfr_stream_give_data(h->s, data);
        h->given++;
    } else
        tfr_stream_free_data(data);
    home_release(h);
}

static PyObject *Stream_next(StreamObject *self)
{
    if (!self->s) {
        if (!self->done)
            PyErr_SetString(PyExc_ValueError, "the stream is closed");
        return NULL; /* StopIteration once done */
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the stream is in use by another thread");
        return NULL;
    }
    const tfr_batch *b = NULL;
    tfr_error e;
    tfr_error_clear(&e);
    tfr_status st;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    st = tfr_stream_next(self->s, &b, &e);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (st == TFR_ERR_EOF) {
        self->done = 1;
        return NULL;
    }
    if (st)
        return tfr_py_raise(&e);
    npy_intp dims[4] = {b->n, b->h, b->w, b->c};
    int type = NPY_UINT8;
    if (b->format == TFR_BATCH_F32_NCHW) {
        dims[1] = b->c;
        dims[2] = b->h;
        dims[3] = b->w;
    }
    if (b->format != TFR_BATCH_U8_NHWC)
        type = NPY_FLOAT32;
    PyObject *img;
    void *owned = self->copy ? tfr_stream_take_data(self->s) : NULL;
    if (owned) {
        /* the stream's buffer, now this array's alone */
        PyObject *cap = PyCapsule_New(owned, "tfrecord_tools.batch", free_batch);
        if (!cap) {
            tfr_stream_free_data(owned);
            return NULL;
        }
        PyCapsule_SetContext(cap, self->home);
        self->home->refs++;
        img = PyArray_SimpleNewFromData(4, dims, type, owned);
        if (!img || PyArray_SetBaseObject((PyArrayObject *)img, cap)) {
            Py_XDECREF(img);
            if (!img)
                Py_DECREF(cap);
            img = NULL;
        }
    } else if (self->copy) {
        img = PyArray_SimpleNew(4, dims, type);
        if (img)
            memcpy(PyArray_DATA((PyArrayObject *)img), b->data,
                   (size_t)PyArray_NBYTES((PyArrayObject *)img));
    } else {
        /* a view of the stream's buffer, kept alive by the stream itself */
        img = PyArray_SimpleNewFromData(4, dims, type, b->data);
        if (img && PyArray_SetBaseObject((PyArrayObject *)img, Py_NewRef((PyObject *)self))) {
            Py_DECREF(img);
            img = NULL;
        }
    }
    npy_intp n = b->n;
    PyObject *lab = PyArray_SimpleNew(1, &n, NPY_INT64);
    if (!img || !lab) {
        Py_XDECREF(img);
        Py_XDECREF(lab);
        return NULL;
    }
    int64_t *lp = PyArray_DATA((PyArrayObject *)lab);
    for (int i = 0; i < b->n; i++)
        lp[i] = b->labels[i];
    PyObject *out = PyTuple_Pack(2, img, lab);
    Py_DECREF(img);
    Py_DECREF(lab);
    return out;
}

static PyObject *Stream_iter(PyObject *self) { return Py_NewRef(self); }

static PyObject *Stream_state(StreamObject *self, PyObject *unused)
{
    if (!self->s) {
        PyErr_SetString(PyExc_ValueError, "the stream is closed");
        return NULL;
    }
    tfr_stream_state st;
    tfr_stream_get_state(self->s, &st);
    return Py_BuildValue("{s:K,s:K,s:K}", "seed", (unsigned long long)st.seed, "epoch",
                         (unsigned long long)st.epoch, "records", (unsigned long long)st.records);
}

static PyObject *Stream_stats(StreamObject *self, PyObject *unused)
{
    if (!self->s) {
        PyErr_SetString(PyExc_ValueError, "the stream is closed");
        return NULL;
    }
    tfr_stream_stats st;
    tfr_stream_get_stats(self->s, &st);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:d,s:K}", "records_read",
                         (unsigned long long)st.records_read, "records_decoded",
                         (unsigned long long)st.records_decoded, "corrupt_skipped",
                         (unsigned long long)st.corrupt_skipped, "batches",
                         (unsigned long long)st.batches, "bytes_read",
                         (unsigned long long)st.bytes_read, "wait_seconds", st.wait_seconds,
                         "batches_given_back", self->home ? self->home->given : 0ULL);
}

static PyObject *Stream_epoch_records(StreamObject *self, PyObject *unused)
{
    if (!self->s) {
        PyErr_SetString(PyExc_ValueError, "the stream is closed");
        return NULL;
    }
    uint64_t n = tfr_stream_epoch_records(self->s);
    if (!n)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(n);
}

static Py_ssize_t Stream_len(StreamObject *self)
{
    if (!self->s) {
        PyErr_SetString(PyExc_ValueError, "the stream is closed");
        return -1;
    }
    uint64_t n = tfr_stream_epoch_records(self->s);
    if (!n) {
        PyErr_SetString(PyExc_TypeError, "the number of records is not known (no manifest.json "
                                         "counts or index for these shards)");
        return -1;
    }
    uint64_t bs = (uint64_t)self->o.batch_size;
    uint64_t per = self->o.drop_remainder ? n / bs : (n + bs - 1) / bs;
    return (Py_ssize_t)per;
}

static PyObject *Stream_close(StreamObject *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the stream is in use by another thread");
        return NULL;
    }
    tfr_stream *s = self->s;
    self->s = NULL;
    if (self->home)
        self->home->s = NULL; /* batches alive from now on are freed, not given back */
    Py_BEGIN_ALLOW_THREADS
    tfr_stream_close(s);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Stream_enter(PyObject *self, PyObject *unused) { return Py_NewRef(self); }

static PyObject *Stream_exit(StreamObject *self, PyObject *args)
{
    PyObject *r = Stream_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyMethodDef Stream_methods[] = {
    {"state", (PyCFunction)Stream_state, METH_NOARGS,
     "state() -> {'seed', 'epoch', 'records'}: where the stream stands after the last batch;\n"
     "Stream(..., state=s) resumes exactly there."},
    {"stats", (PyCFunction)Stream_stats, METH_NOARGS, "stats() -> dict of counters"},
    {"epoch_records", (PyCFunction)Stream_epoch_records, METH_NOARGS,
     "epoch_records() -> records per epoch for this rank, or None when unknown"},
    {"close", (PyCFunction)Stream_close, METH_NOARGS, "close(): stop the threads, free memory"},
    {"__enter__", Stream_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Stream_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMappingMethods Stream_as_mapping = {.mp_length = (lenfunc)Stream_len};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tfrecord_tools._native.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The streaming reader; see tfrecord_tools.Stream.",
    .tp_iter = Stream_iter,
    .tp_iternext = (iternextfunc)Stream_next,
    .tp_methods = Stream_methods,
    .tp_as_mapping = &Stream_as_mapping,
    .tp_init = (initproc)Stream_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, .m_name = "tfrecord_tools._native",
    .m_doc = "The C side of tfrecord_tools.", .m_size = -1, .m_methods = tfr_py_io_methods};

PyMODINIT_FUNC PyInit__native(void)
{
    import_array();
    if (PyType_Ready(&StreamType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m)
        return NULL;
    DataError = PyErr_NewExceptionWithDoc(
        "tfrecord_tools.DataError",
        "A shard could not be read: a bad CRC, a truncated record, an image that does not "
        "decode. Attributes: path, record, offset (None where unknown), kind.",
        PyExc_OSError, NULL);
    if (!DataError || PyModule_AddObjectRef(m, "DataError", DataError) < 0 ||
        PyModule_AddObjectRef(m, "Stream", (PyObject *)&StreamType) < 0 ||
        tfr_py_io_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
