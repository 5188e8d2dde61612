/*
 * util/fsio.h - whole-file reads, atomic writes and mkdir -p (internal).
 *
 * Atomic write: the bytes go to a temporary file in the same folder
 * ("<path>.tmp.<pid>" unless the caller names one), which is flushed,
 * fsynced (unless TFR_ATOMIC_NOSYNC), closed and renamed onto path. On any
 * failure the temporary is removed, so nothing named path appears unless it
 * is complete. The folder itself is not fsynced (no caller asks for it).
 */
#ifndef TFR_FSIO_H
#define TFR_FSIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tfrecord/error.h"
#include "tfrecord/util.h"

/*
 * Reads all of path into a new buffer, NUL-terminated (the NUL is not
 * counted in *n); the caller frees *out. A file of more than limit bytes is
 * refused with TFR_ERR_FORMAT before it is read in full, so memory stays
 * bounded. what names the file in messages ("cannot open <what>: ..."); NULL
 * gives plain "cannot open: ...". Errors: TFR_ERR_IO (errno set),
 * TFR_ERR_NOMEM, TFR_ERR_FORMAT; *out is NULL and *n 0 after any of them.
 * Works on pipes and other files without a size.
 */
tfr_status tfr_read_file(const char *path, size_t limit, const char *what,
                         uint8_t **out, size_t *n, /* OUT */
                         tfr_error *err);

/* Writes all of buf to fd, retrying on EINTR and short writes. 0 or -1/errno. */
int tfr_write_all(int fd, const void *buf, size_t n);

enum {
    TFR_ATOMIC_NOSYNC = 1u, /* skip the fsync before the rename */
    TFR_ATOMIC_DIRECT = 2u, /* write straight to path: no temporary, no rename */
    TFR_ATOMIC_STDIO  = 4u  /* open a FILE * (af->f), created as fopen(..., "w")
                               would (mode 0666 before umask); else only af->fd,
                               created with mode 0644 */
};

typedef struct tfr_atomic_file {
    int      fd;    /* the temporary's descriptor; -1 when not open */
    FILE    *f;     /* stdio over fd with TFR_ATOMIC_STDIO, else NULL */
    unsigned flags;
    char    *path;  /* final name */
    char    *tmp;   /* the name being written (== path in direct mode) */
} tfr_atomic_file;

/*
 * Creates the temporary for path: tmp_path when not NULL, else
 * "<path>.tmp.<pid>". On failure af holds nothing (abort and commit are
 * no-ops) and err names the temporary ("cannot create").
 */
tfr_status tfr_atomic_open(tfr_atomic_file *af, const char *path, const char *tmp_path,
                           unsigned flags, tfr_error *err);

/*
 * Flushes (stdio errors seen so far fail here as "write"), fsyncs, closes and
 * renames into place. Releases af in every case; on failure the temporary
 * is unlinked and err names the step: "write", "fsync", "close" (on the
 * temporary) or "rename" (on path).
 */
tfr_status tfr_atomic_commit(tfr_atomic_file *af, tfr_error *err);

/* Closes and unlinks the temporary and releases af. Safe after open failed. */
void tfr_atomic_abort(tfr_atomic_file *af);

/* tfr_atomic_open (tmp_path as there) + write all of data + tfr_atomic_commit. */
tfr_status tfr_write_file_atomic(const char *path, const char *tmp_path, const void *data,
                                 size_t n, unsigned flags, tfr_error *err);

/* tfr_mkdir_p is public: tfrecord/util.h */

#endif
