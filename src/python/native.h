/*
 * src/python/native.h - what the two files of tfrecord_tools._native share
 * (_native.c: the module, DataError, Stream; io.c: records, parse_example,
 * write, inspect).
 */
#ifndef TFR_PY_NATIVE_H
#define TFR_PY_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tfrecord/error.h"

/* Raises DataError (ValueError for bad arguments, MemoryError) from e;
 * returns NULL. */
PyObject *tfr_py_raise(const tfr_error *e);

/* A str, bytes or os.PathLike as a PyMem_Malloc'd file-system string, or
 * NULL with TypeError naming what. */
char *tfr_py_path(PyObject *o, const char *what);

/* The functions of io.c, and its types made ready and added to module m. */
extern PyMethodDef tfr_py_io_methods[];
int tfr_py_io_init(PyObject *m);

#endif
