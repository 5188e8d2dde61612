/*
 * util/error.c - tfr_error filling and formatting.
 */
#include "tfrecord/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tfr_status_str(tfr_status s)
{
    switch (s) {
    case TFR_OK:              return "ok";
    case TFR_ERR_IO:          return "I/O error";
    case TFR_ERR_CORRUPT:     return "corrupt data";
    case TFR_ERR_FORMAT:      return "unsupported format";
    case TFR_ERR_NOMEM:       return "out of memory";
    case TFR_ERR_ARG:         return "invalid argument";
    case TFR_ERR_UNAVAILABLE: return "unavailable";
    case TFR_ERR_EOF:         return "end of stream";
    }
    return "unknown status";
}

void tfr_error_clear(tfr_error *e)
{
    if (!e)
        return;
    e->code = TFR_OK;
    e->sys_errno = 0;
    e->record = -1;
    e->offset = -1;
    e->raw_offset = -1;
    e->path[0] = '\0';
    e->msg[0] = '\0';
}

static void set_path(tfr_error *e, const char *path)
{
    if (path && path != e->path)
        snprintf(e->path, sizeof e->path, "%s", path);
    else if (!path)
        e->path[0] = '\0';
}

tfr_status tfr_fail(tfr_error *e, tfr_status code, const char *path,
                    const char *fmt, ...)
{
    if (!e)
        return code;
    int saved = errno;
    char msg[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_path(e, path);
    memcpy(e->msg, msg, sizeof msg);
    e->code = code;
    e->sys_errno = 0;
    e->record = -1;
    e->offset = -1;
    e->raw_offset = -1;
    errno = saved;
    return code;
}

tfr_status tfr_fail_errno(tfr_error *e, tfr_status code, const char *path,
                          const char *what)
{
    int saved = errno;
    if (saved == ENOMEM) /* the OS (or our allocator) ran out of memory */
        code = TFR_ERR_NOMEM;
    if (!e)
        return code;
    tfr_fail(e, code, path, "%s: %s", what, strerror(saved));
    e->sys_errno = saved;
    return code;
}

tfr_status tfr_error_at(tfr_error *e, long long record, long long offset,
                        long long raw_offset)
{
    if (!e)
        return TFR_ERR_ARG;
    e->record = record;
    e->offset = offset;
    e->raw_offset = raw_offset;
    return e->code;
}

const char *tfr_error_text(const tfr_error *e, char *buf, size_t size)
{
    if (!buf || size == 0)
        return "";
    if (!e) {
        snprintf(buf, size, "ok");
        return buf;
    }
    size_t n = 0;
    buf[0] = '\0';
#define APPEND(...)                                                          \
    do {                                                                     \
        if (n < size) {                                                      \
            int k_ = snprintf(buf + n, size - n, __VA_ARGS__);               \
            if (k_ > 0)                                                      \
                n += (size_t)k_;                                             \
        }                                                                    \
    } while (0)
    if (e->path[0])
        APPEND("%s: ", e->path);
    if (e->record >= 0)
        APPEND("record %lld, ", e->record);
    if (e->offset >= 0)
        APPEND("offset %lld", e->offset);
    if (e->raw_offset >= 0 && e->raw_offset != e->offset)
        APPEND("%s(compressed %lld)", e->offset >= 0 ? " " : "", e->raw_offset);
    if (e->record >= 0 || e->offset >= 0 || e->raw_offset >= 0) {
        /* drop a trailing ", " left by a record with no offset */
        if (n >= 2 && n < size && buf[n - 2] == ',' && buf[n - 1] == ' ')
            n -= 2, buf[n] = '\0';
        APPEND(": ");
    }
    APPEND("%s", e->msg[0] ? e->msg : tfr_status_str(e->code));
#undef APPEND
    return buf;
}
