/*
 * tfrecord/error.h - status codes and the error record every fallible call fills.
 *
 * Fallible functions return tfr_status (TFR_OK == 0) and take a tfr_error *
 * as their last argument; it may be NULL. Whoever detects a failure fills it;
 * callers may add context (path, record, offset) but never replace the cause.
 *
 * Options structs (every tfr_*_opts with an _init): the first member is
 * `size_t struct_size`, which _init sets to sizeof the struct. Always call
 * _init, then change fields; never build one with an initializer list or
 * memset. The call that takes the struct refuses any other struct_size with
 * TFR_ERR_ARG ("tfr_stream_opts: options struct of N bytes, this library
 * expects M: rebuild against its headers"), so a program compiled against
 * an older or newer header fails clearly instead of reading fields from the
 * wrong places. Structs copied as a whole keep the field; a NULL options
 * pointer still means the defaults where a call allows it.
 */
#ifndef TFRECORD_ERROR_H
#define TFRECORD_ERROR_H

#include <stddef.h>

/*
 * TFR_API marks what libtfrecord exports; the library is built with
 * -fvisibility=hidden, so every other function stays inside it.
 */
#ifndef TFR_API
#if defined(__GNUC__) || defined(__clang__)
#define TFR_API __attribute__((visibility("default")))
#else
#define TFR_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tfr_status {
    TFR_OK = 0,
    TFR_ERR_IO,          /* OS call failed; err->sys_errno is set */
    TFR_ERR_CORRUPT,     /* bad CRC, truncated record, broken gzip member */
    TFR_ERR_FORMAT,      /* readable but unsupported: PNG named .jpg, CMYK */
    TFR_ERR_NOMEM,
    TFR_ERR_ARG,         /* caller bug or bad option: NULL handle, out of range */
    TFR_ERR_UNAVAILABLE, /* not built in, or no CUDA device */
    TFR_ERR_EOF          /* end of stream: not a failure, returned by readers */
} tfr_status;

typedef struct tfr_error {
    tfr_status code;
    int        sys_errno;   /* errno at the failure, 0 if none */
    long long  record;      /* record index, -1 if none */
    long long  offset;      /* byte offset in the uncompressed stream, -1 if none */
    long long  raw_offset;  /* byte offset in the file (compressed), -1 if unknown */
    char       path[4096];
    char       msg[256];    /* one line, no trailing newline */
} tfr_error;

/* Static name of a status: "ok", "I/O error", "corrupt data", ... */
TFR_API const char *tfr_status_str(tfr_status s);

/* Resets *e to "no error" (code TFR_OK, record/offset -1, empty strings). */
TFR_API void tfr_error_clear(tfr_error *e);

/*
 * Formats e as one line into buf and returns buf:
 * "shards/train-00003-of-00008.tfrecord.gz: record 1207, offset 8812032: data CRC mismatch"
 */
TFR_API const char *tfr_error_text(const tfr_error *e, char *buf, size_t size);

/*
 * Fills *e (when e is not NULL) and returns code. path may be NULL. The
 * message is printf-formatted. record/offset are set to -1.
 */
TFR_API tfr_status tfr_fail(tfr_error *e, tfr_status code, const char *path,
                            const char *fmt, ...)
#if defined(__GNUC__)
            __attribute__((format(printf, 4, 5)))
#endif
            ;

/* As tfr_fail with code (TFR_ERR_NOMEM instead when errno is ENOMEM), the
 * current errno saved, and ": strerror" appended. */
TFR_API tfr_status tfr_fail_errno(tfr_error *e, tfr_status code, const char *path,
                                  const char *what);

/* Sets the record index and offsets of an already filled error; returns e->code. */
TFR_API tfr_status tfr_error_at(tfr_error *e, long long record, long long offset,
                                long long raw_offset);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_ERROR_H */
