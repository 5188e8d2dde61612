/*
 * util/fsio.c - whole-file reads, atomic writes (temp + fsync + rename) and
 * mkdir -p, shared by every module that writes a finished-looking file.
 */
#include "util/alloc.h"
#include "util/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reading ------------------------------------------------------------ */

tfr_status tfr_read_file(const char *path, size_t limit, const char *what,
                         uint8_t **out, size_t *n, tfr_error *err)
{
    *out = NULL;
    *n = 0;
    char verb[96];
    const char *sp = what ? " " : "", *wh = what ? what : "";
    if (limit > SIZE_MAX - 2)
        limit = SIZE_MAX - 2; /* room for the probe byte and the NUL */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(verb, sizeof verb, "cannot open%s%s", sp, wh);
        return tfr_fail_errno(err, TFR_ERR_IO, path, verb);
    }
    /* one byte more than the file holds, so EOF shows without a realloc */
    size_t cap = 65536;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((uint64_t)sb.st_size > (uint64_t)limit) {
            close(fd);
            return tfr_fail(err, TFR_ERR_FORMAT, path, "%s is %llu bytes, more than the limit of %zu",
                            what ? what : "file", (unsigned long long)sb.st_size, limit);
        }
        cap = (size_t)sb.st_size + 1;
    }
    if (cap > limit + 1)
        cap = limit + 1;
    tfr_status st = TFR_OK;
    size_t got = 0;
    uint8_t *buf = tfr_malloc(cap + 1);
    if (!buf) {
        st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
        goto cleanup;
    }
    for (;;) {
        if (got == cap) {
            if (got > limit) {
                st = tfr_fail(err, TFR_ERR_FORMAT, path, "%s is larger than the limit of %zu bytes",
                              what ? what : "file", limit);
                goto cleanup;
            }
            size_t ncap = cap > (limit + 1) / 2 ? limit + 1 : cap * 2;
            uint8_t *nb = tfr_realloc(buf, ncap + 1);
            if (!nb) {
                st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
                goto cleanup;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t k = read(fd, buf + got, cap - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(verb, sizeof verb, "cannot read%s%s", sp, wh);
            st = tfr_fail_errno(err, TFR_ERR_IO, path, verb);
            goto cleanup;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    buf[got] = 0;
    *out = buf;
    *n = got;
    buf = NULL;
cleanup:
    free(buf);
    close(fd);
    return st;
}

/* ---- writing ------------------------------------------------------------ */

int tfr_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void atomic_release(tfr_atomic_file *af)
{
    free(af->path);
    if (af->tmp != af->path)
        free(af->tmp);
    af->path = af->tmp = NULL;
    af->fd = -1;
    af->f = NULL;
}

tfr_status tfr_atomic_open(tfr_atomic_file *af, const char *path, const char *tmp_path,
                           unsigned flags, tfr_error *err)
{
    af->fd = -1;
    af->f = NULL;
    af->flags = flags;
    af->path = af->tmp = NULL;
    if (!path)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "atomic write: NULL path");
    size_t plen = strlen(path);
    af->path = tfr_malloc(plen + 1);
    if (!af->path)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    memcpy(af->path, path, plen + 1);
    if (flags & TFR_ATOMIC_DIRECT) {
        af->tmp = af->path;
    } else if (tmp_path) {
        af->tmp = tfr_strdup(tmp_path);
    } else {
        af->tmp = tfr_malloc(plen + 32);
        if (af->tmp)
            snprintf(af->tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    }
    if (!af->tmp) {
        atomic_release(af);
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    }
    int stdio = (flags & TFR_ATOMIC_STDIO) != 0;
    af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, stdio ? 0666 : 0644);
    if (af->fd < 0) {
        tfr_status st = tfr_fail_errno(err, TFR_ERR_IO, af->tmp, "cannot create");
        atomic_release(af);
        return st;
    }
    if (stdio && !(af->f = fdopen(af->fd, "w"))) {
        tfr_status st = tfr_fail_errno(err, TFR_ERR_IO, af->tmp, "cannot create");
        tfr_atomic_abort(af);
        return st;
    }
    return TFR_OK;
}

tfr_status tfr_atomic_commit(tfr_atomic_file *af, tfr_error *err)
{
    if (!af || !af->tmp)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "atomic write: nothing open");
    tfr_status st = TFR_OK;
    const int direct = (af->flags & TFR_ATOMIC_DIRECT) != 0;
    if (af->f) {
        int bad = ferror(af->f);
        if (fflush(af->f) != 0)
            bad = 1;
        else if (bad)
            errno = EIO; /* an earlier buffered write failed */
        if (bad)
            st = tfr_fail_errno(err, TFR_ERR_IO, af->tmp, "write");
    }
    if (!st && !(af->flags & TFR_ATOMIC_NOSYNC) && fsync(af->fd) != 0)
        st = tfr_fail_errno(err, TFR_ERR_IO, af->tmp, "fsync");
    int crc = af->f ? fclose(af->f) : close(af->fd);
    if (!st && crc != 0)
        st = tfr_fail_errno(err, TFR_ERR_IO, af->tmp, "close");
    if (!st && !direct && rename(af->tmp, af->path) != 0)
        st = tfr_fail_errno(err, TFR_ERR_IO, af->path, "rename");
    if (st && !direct)
        unlink(af->tmp);
    atomic_release(af);
    return st;
}

void tfr_atomic_abort(tfr_atomic_file *af)
{
    if (!af || !af->tmp)
        return;
    if (af->f)
        fclose(af->f);
    else if (af->fd >= 0)
        close(af->fd);
    if (!(af->flags & TFR_ATOMIC_DIRECT))
        unlink(af->tmp);
    atomic_release(af);
}

tfr_status tfr_write_file_atomic(const char *path, const char *tmp_path, const void *data,
                                 size_t n, unsigned flags, tfr_error *err)
{
    tfr_atomic_file af;
    tfr_status st = tfr_atomic_open(&af, path, tmp_path, flags, err);
    if (st)
        return st;
    int bad = af.f ? (n && fwrite(data, 1, n, af.f) != n) : tfr_write_all(af.fd, data, n) != 0;
    if (bad) {
        st = tfr_fail_errno(err, TFR_ERR_IO, af.tmp, "write");
        tfr_atomic_abort(&af);
        return st;
    }
    return tfr_atomic_commit(&af, err);
}

/* ---- folders ------------------------------------------------------------ */

/* mkdir that accepts an existing folder (and only a folder) */
static int mkdir_one(const char *d)
{
    if (mkdir(d, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    struct stat sb;
    if (stat(d, &sb) != 0)
        return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

tfr_status tfr_mkdir_p(const char *dir, tfr_error *err)
{
    if (!dir || !*dir)
        return tfr_fail(err, TFR_ERR_ARG, dir, "mkdir: empty path");
    char *tmp = tfr_strdup(dir);
    if (!tmp)
        return tfr_fail(err, TFR_ERR_NOMEM, dir, "out of memory");
    tfr_status st = TFR_OK;
    for (char *p = tmp + 1; *p && !st; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = 0;
        if (mkdir_one(tmp) != 0)
            st = tfr_fail_errno(err, TFR_ERR_IO, tmp, "cannot create folder");
        *p = '/';
    }
    if (!st && mkdir_one(tmp) != 0)
        st = tfr_fail_errno(err, TFR_ERR_IO, tmp, "cannot create folder");
    free(tmp);
    return st;
}
