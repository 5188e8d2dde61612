/*
 * record/reader.c - streaming TFRecord reader for plain, ZLIB and GZIP files.
 *
 * Layers: raw file bytes (raw buffer) -> inflate (one or more gzip members)
 * -> a window of uncompressed bytes (ubuf) -> record framing. Memory is
 * bounded by the two buffers plus the largest real record: a record's buffer
 * grows only as its bytes arrive, so a corrupt length never causes an
 * allocation of that size; and a record over VERIFY_BYTES is first read
 * through with only its CRC computed (the source marked: file offset, a copy
 * of the inflate state) and read again into the buffer only when the CRC
 * holds, so a lying length over a gzip bomb costs no more than that.
 * Resync after a bad length CRC scans each window once in place
 * (tfr_header_scan: one 8-byte CRC per offset).
 *
 * Stricter than TensorFlow on purpose: a file cut inside a record header, a
 * gzip member without its trailer and bytes after the last member are all
 * reported (TensorFlow ends silently on the first two). A defect in the
 * compressed stream is reported only after every intact record before it
 * has been returned.
 *
 * Inflating goes through the engine table (record/codec.h); this file calls
 * no compression library itself.
 */

#include "record/codec.h"
#include "record_impl.h"
#include "util/alloc.h"
#include "util/opts.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct tfr_record_reader {
    int             fd;
    char           *path;
    tfr_reader_opts o;
    tfr_compression comp;
    uint64_t        file_size;

    /* compressed input; in/in_len is the cursor */
    uint8_t       *raw;
    size_t         raw_cap;
    const uint8_t *in;
    size_t         in_len;
    uint64_t       raw_base;   /* file offset of raw[0] */
    int            raw_eof;

    const tfr_codec *codec;
    void            *zs;       /* the engine's inflate state, made at the first member */
    int              in_member;

    /* uncompressed window */
    uint8_t *ubuf;
    size_t   ucap, upos, ulen;
    uint64_t ubase;      /* stream offset of ubuf[0] */
    int      src_end;    /* no more uncompressed bytes will come */
    tfr_status src_err;  /* why the source ended early, reported in order */
    tfr_error  src_err_e;

    uint8_t *rec;
    size_t   rec_cap;
    uint8_t *head;       /* a long record's first bytes, kept across its check pass */
    uint64_t rec_index;  /* index of the next record in the file */
    uint64_t last_off;

    tfr_status sticky;
    tfr_error  sticky_err;
    int        at_eof;
    tfr_reader_stats st;
    tfr_skip_fn skip_fn;
    void       *skip_user;

    struct prefetch *pf; /* opts.prefetch: the reading thread and its blocks */

    /* a range of an indexed shard (tfr_record_reader_open_range) */
    int      raw_chunk;   /* inflating from a chunk: bare deflate, no trailer */
    uint64_t range_end;   /* stream offset where the range ends; UINT64_MAX: none */
    uint64_t range_last;  /* the record number it ends before; UINT64_MAX: none */
    uint64_t range_first, range_first_len; /* record begin, as the index has it */
};

void tfr_reader_opts_init(tfr_reader_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->compression = TFR_COMPRESS_AUTO;
    o->skip_corrupt = 0;
    o->max_record_bytes = (uint64_t)2 << 30;
    o->buf_bytes = 256u << 10;
}

/* ---- compressed input ------------------------------------------------- */

static uint64_t raw_offset(const tfr_record_reader *r)
{
    return r->raw_base + (uint64_t)(r->in - r->raw);
}

/* Makes at least n raw bytes available when the file has them; returns count. */
static size_t raw_ensure(tfr_record_reader *r, size_t n)
{
    while (r->in_len < n && !r->raw_eof) {
        size_t have = r->in_len;
        size_t consumed = (size_t)(r->in - r->raw);
        if (consumed) {
            memmove(r->raw, r->in, have);
            r->raw_base += consumed;
            r->in = r->raw;
        }
        ssize_t k = read(r->fd, r->raw + have, r->raw_cap - have);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            r->src_err = tfr_fail_errno(&r->src_err_e, TFR_ERR_IO, r->path, "read");
            r->raw_eof = 1;
            break;
        }
        if (k == 0)
            r->raw_eof = 1;
        r->in_len = have + (size_t)k;
    }
    return r->in_len;
}

__attribute__((format(printf, 4, 5)))
static void src_fail(tfr_record_reader *r, tfr_status code, uint64_t raw_off,
                     const char *fmt, ...)
{
    if (!r->src_err) {
        char m[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m, sizeof m, fmt, ap);
        va_end(ap);
        tfr_fail(&r->src_err_e, code, r->path, "%s", m);
        r->src_err_e.raw_offset = (long long)raw_off;
        r->src_err = code;
    }
    r->src_end = 1;
}

/* Fills ubuf[ulen..ucap) with more uncompressed bytes, or sets src_end. */
static void refill(tfr_record_reader *r)
{
    if (r->comp == TFR_COMPRESS_NONE) {
        for (;;) {
            ssize_t k = read(r->fd, r->ubuf + r->ulen, r->ucap - r->ulen);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                r->src_err = tfr_fail_errno(&r->src_err_e, TFR_ERR_IO, r->path, "read");
                r->src_end = 1;
            } else if (k == 0) {
                r->src_end = 1;
            }
            if (k > 0)
                r->ulen += (size_t)k;
            return;
        }
    }
    const int gz = r->comp == TFR_COMPRESS_GZIP;
    const char *kind = gz ? "gzip" : "zlib";
    size_t start = r->ulen;
    while (r->ulen < r->ucap && !r->src_end) {
        if (!r->in_member) {
            size_t have = raw_ensure(r, 2);
            if (have == 0) {
                r->src_end = 1; /* clean end after a whole member */
                break;
            }
            int more_ok = gz ? (have >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b)
                             : r->st.gzip_members == 0;
            if (!more_ok) {
                uint64_t off = raw_offset(r);
                r->st.trailing_bytes = r->file_size > off ? r->file_size - off : have;
                if (r->st.gzip_members)
                    src_fail(r, TFR_ERR_CORRUPT, off,
                             "%llu bytes of trailing data after %s member %d",
                             (unsigned long long)r->st.trailing_bytes, kind,
                             r->st.gzip_members);
                else
                    src_fail(r, TFR_ERR_CORRUPT, off, "not a %s stream (bad header)",
                             kind);
                break;
            }
            if (!r->zs) {
                tfr_error e;
                if (r->codec->inflate_new(gz ? TFR_WRAP_GZIP : TFR_WRAP_ZLIB, &r->zs, &e)) {
                    src_fail(r, e.code, raw_offset(r), "%s", e.msg);
                    break;
                }
            } else {
                r->codec->inflate_reset(r->zs); /* the next of concatenated members */
            }
            r->in_member = 1;
        }
        if (r->in_len == 0)
            raw_ensure(r, 1);
        tfr_codec_io io = {r->in, r->in_len, r->ubuf + r->ulen, r->ucap - r->ulen};
        tfr_error e;
        tfr_codec_rc rc = r->codec->inflate(r->zs, &io, &e);
        r->in = io.in;
        r->in_len = io.in_len;
        r->ulen = r->ucap - io.out_len;
        if (rc == TFR_CODEC_END && r->raw_chunk) {
            r->src_end = 1; /* the deflate data ends; the trailer is not ours to check */
            break;
        }
        if (rc == TFR_CODEC_END) {
            r->st.gzip_members++;
            r->in_member = 0;
            continue;
        }
        if (rc == TFR_CODEC_OK || rc == TFR_CODEC_NEED) {
            if (r->in_len == 0 && r->raw_eof && io.out_len != 0) {
                r->st.missing_trailer = 1;
                src_fail(r, TFR_ERR_CORRUPT, raw_offset(r),
                         "%s stream is cut off: the file ends inside compressed member %lld "
                         "(missing end of data or trailer)",
                         kind, (long long)r->st.gzip_members + 1);
                break;
            }
            if (r->ulen > start && r->in_len == 0)
                break; /* deliver what we have before reading more */
            continue;
        }
        src_fail(r, e.code, raw_offset(r), "%s data damaged: %s", kind, e.msg);
    }
}

/* Makes n bytes available at ubuf+upos if the stream has them; returns count. */
static size_t ensure(tfr_record_reader *r, size_t n)
{
    while (r->ulen - r->upos < n && !r->src_end) {
        if (r->ucap - r->upos < n || r->ulen == r->ucap) {
            size_t have = r->ulen - r->upos;
            memmove(r->ubuf, r->ubuf + r->upos, have);
            r->ubase += r->upos;
            r->upos = 0;
            r->ulen = have;
        }
        refill(r);
    }
    return r->ulen - r->upos;
}

static uint64_t cur_off(const tfr_record_reader *r) { return r->ubase + r->upos; }

/* ---- open / close ----------------------------------------------------- */

tfr_status tfr_record_reader_open(const char *path, const tfr_reader_opts *opts,
                                  tfr_record_reader **out, tfr_error *err)
{
    tfr_status st = TFR_OK;
    if (out)
        *out = NULL;
    if (!path || !out)
        return tfr_fail(err, TFR_ERR_ARG, path, "record reader: NULL argument");
    TFR_CHECK_OPTS(tfr_reader_opts, opts, err);
    tfr_record_reader *r = tfr_calloc(1, sizeof *r);
    if (!r)
        return tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
    r->fd = -1;
    r->range_end = r->range_first = r->range_last = UINT64_MAX;
    tfr_error_clear(&r->sticky_err);
    tfr_error_clear(&r->src_err_e);
    if (opts)
        r->o = *opts;
    else
        tfr_reader_opts_init(&r->o);
    if (r->o.buf_bytes < 4096)
        r->o.buf_bytes = 4096;
    if (r->o.max_record_bytes == 0)
        r->o.max_record_bytes = (uint64_t)2 << 30;
    r->path = tfr_strdup(path);
    r->ucap = r->o.buf_bytes;
    r->ubuf = tfr_malloc(r->ucap);
    if (!r->path || !r->ubuf) {
        st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
        goto fail;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        st = tfr_fail_errno(err, TFR_ERR_IO, path, "cannot open");
        goto fail;
    }
    struct stat sb;
    if (fstat(r->fd, &sb) != 0) {
        st = tfr_fail_errno(err, TFR_ERR_IO, path, "stat");
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        errno = EISDIR;
        st = tfr_fail_errno(err, TFR_ERR_IO, path, "cannot read");
        goto fail;
    }
    r->file_size = (uint64_t)sb.st_size;
    r->comp = r->o.compression;
    if (r->comp == TFR_COMPRESS_AUTO) {
        uint8_t h[12];
        ssize_t k = pread(r->fd, h, sizeof h, 0);
        if (k < 0) {
            st = tfr_fail_errno(err, TFR_ERR_IO, path, "read");
            goto fail;
        }
        r->comp = TFR_COMPRESS_NONE;
        if (k == 12 && tfr_crc_mask(tfr_crc32c(h, 8)) == tfr_get_le32(h + 8))
            r->comp = TFR_COMPRESS_NONE; /* a valid plain record header */
        else if (k >= 2 && h[0] == 0x1f && h[1] == 0x8b)
            r->comp = TFR_COMPRESS_GZIP;
        else if (k >= 2 && (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 &&
                 ((unsigned)h[0] * 256 + h[1]) % 31 == 0)
            r->comp = TFR_COMPRESS_ZLIB;
    }
    r->st.compression = r->comp;
    r->st.file_bytes = r->file_size;
    if (r->comp != TFR_COMPRESS_NONE) {
        r->raw_cap = r->o.buf_bytes;
        r->raw = tfr_malloc(r->raw_cap);
        if (!r->raw) {
            st = tfr_fail(err, TFR_ERR_NOMEM, path, "out of memory");
            goto fail;
        }
        r->in = r->raw;
        r->in_len = 0;
        r->codec = tfr_codec_find(r->o.engine ? r->o.engine : "auto");
        if (!r->codec) {
            st = tfr_fail(err, TFR_ERR_ARG, path, "deflate engine '%s' is not built in (this "
                          "build has: %s, auto)", r->o.engine, tfr_writer_engines());
            goto fail;
        }
    }
    *out = r;
    return TFR_OK;
fail:
    tfr_record_reader_close(r);
    return st;
}

tfr_status tfr_record_reader_open_range(const char *path, const tfr_reader_opts *opts,
                                        const tfr_record_index *ix, uint64_t begin, uint64_t end,
                                        tfr_record_reader **out, tfr_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !ix || !out)
        return tfr_fail(err, TFR_ERR_ARG, path, "record reader: NULL argument");
    TFR_CHECK_OPTS(tfr_reader_opts, opts, err);
    tfr_index_span sp;
    tfr_status st = tfr_index_span_of(ix, begin, end, path, &sp, err);
    if (st)
        return st;
    tfr_reader_opts o;
    if (opts)
        o = *opts;
    else
        tfr_reader_opts_init(&o);
    if (o.compression != TFR_COMPRESS_AUTO && o.compression != sp.comp)
        return tfr_fail(err, TFR_ERR_ARG, path, "the index is of a %s shard, %s was asked for",
                        tfr_compression_name(sp.comp), tfr_compression_name(o.compression));
    o.compression = sp.comp;
    tfr_record_reader *r;
    if ((st = tfr_record_reader_open(path, &o, &r, err)))
        return st;
    if (r->file_size != sp.bytes) {
        st = tfr_fail(err, TFR_ERR_ARG, path, "the index is of a %llu-byte file, this one has "
                      "%llu bytes (rebuild the index)", (unsigned long long)sp.bytes,
                      (unsigned long long)r->file_size);
        goto fail;
    }
    r->rec_index = begin;
    r->range_end = sp.end;
    r->range_last = end;
    r->range_first = sp.first;
    r->range_first_len = sp.first_len;
    if (begin == end) {
        r->at_eof = 1;
        *out = r;
        return TFR_OK;
    }
    if (sp.file_off && lseek(r->fd, (off_t)sp.file_off, SEEK_SET) < 0) {
        st = tfr_fail_errno(err, TFR_ERR_IO, path, "seek");
        goto fail;
    }
    r->ubase = sp.stream_off;
    if (sp.raw) {
        r->raw_base = sp.file_off;
        if ((st = r->codec->inflate_new(TFR_WRAP_RAW, &r->zs, err)))
            goto fail;
        r->in_member = 1;
        r->raw_chunk = 1;
    }
    /* inflate up to the record (within one chunk when the shard is seekable) */
    while (cur_off(r) < sp.first) {
        size_t a = ensure(r, 1);
        if (a == 0) {
            if (r->src_err) {
                st = r->src_err;
                if (err)
                    *err = r->src_err_e;
            } else
                st = tfr_fail(err, TFR_ERR_CORRUPT, path, "the stream ends at offset %llu, "
                              "before record %llu (offset %llu in the index)",
                              (unsigned long long)cur_off(r), (unsigned long long)begin,
                              (unsigned long long)sp.first);
            if (err)
                tfr_error_at(err, (long long)begin, (long long)sp.first, -1);
            goto fail;
        }
        uint64_t left = sp.first - cur_off(r);
        r->upos += a < left ? a : (size_t)left;
    }
    *out = r;
    return TFR_OK;
fail:
    tfr_record_reader_close(r);
    return st;
}

static void prefetch_stop(tfr_record_reader *r);

void tfr_record_reader_close(tfr_record_reader *r)
{
    if (!r)
        return;
    prefetch_stop(r);
    if (r->fd >= 0)
        close(r->fd);
    if (r->zs)
        r->codec->inflate_free(r->zs);
    free(r->raw);
    free(r->ubuf);
    free(r->rec);
    free(r->head);
    free(r->path);
    free(r);
}

void tfr_record_reader_on_skip(tfr_record_reader *r, tfr_skip_fn fn, void *user)
{
    if (r && !r->pf) { /* (before the first next(): the thread is not started yet) */
        r->skip_fn = fn;
        r->skip_user = user;
    }
}

static const tfr_reader_stats *prefetch_stats(const tfr_record_reader *r);
static uint64_t prefetch_offset(const tfr_record_reader *r);

void tfr_record_reader_stats(const tfr_record_reader *r, tfr_reader_stats *out)
{
    if (!r || !out)
        return;
    if (r->pf) {
        *out = *prefetch_stats(r);
        return;
    }
    *out = r->st;
    out->bytes = cur_off(r);
}

uint64_t tfr_record_reader_offset(const tfr_record_reader *r)
{
    return !r ? 0 : r->pf ? prefetch_offset(r) : r->last_off;
}

/* ---- records ---------------------------------------------------------- */

/* Returns a fatal error with record context; it becomes sticky. */
static tfr_status fatal(tfr_record_reader *r, tfr_error *src, uint64_t rec_off,
                        tfr_error *err)
{
    if (src != &r->sticky_err)
        r->sticky_err = *src;
    r->sticky_err.record = (long long)r->rec_index;
    r->sticky_err.offset = (long long)rec_off;
    if (r->sticky_err.raw_offset < 0 && r->comp != TFR_COMPRESS_NONE)
        r->sticky_err.raw_offset = (long long)raw_offset(r);
    if (r->comp == TFR_COMPRESS_NONE)
        r->sticky_err.raw_offset = -1;
    r->sticky = r->sticky_err.code ? r->sticky_err.code : TFR_ERR_CORRUPT;
    if (err)
        *err = r->sticky_err;
    return r->sticky;
}

/*
 * A record-level defect at rec_off. In skip mode it is reported and counted
 * and TFR_OK is returned so the caller goes on; otherwise it is fatal.
 */
__attribute__((format(printf, 4, 5)))
static tfr_status defect(tfr_record_reader *r, uint64_t rec_off, tfr_error *err,
                         const char *fmt, ...)
{
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    tfr_error e;
    tfr_error_clear(&e);
    tfr_fail(&e, TFR_ERR_CORRUPT, r->path, "%s", m);
    if (!r->o.skip_corrupt)
        return fatal(r, &e, rec_off, err);
    e.record = (long long)r->rec_index;
    e.offset = (long long)rec_off;
    if (r->comp != TFR_COMPRESS_NONE)
        e.raw_offset = (long long)raw_offset(r);
    r->st.corrupt_skipped++;
    if (r->skip_fn)
        r->skip_fn(r->skip_user, &e);
    return TFR_OK;
}

/* The end of the stream at rec_off: a deferred source error, or EOF. */
static tfr_status stream_end(tfr_record_reader *r, uint64_t rec_off, tfr_error *err)
{
    if (r->src_err)
        return fatal(r, &r->src_err_e, rec_off, err);
    r->at_eof = 1;
    return TFR_ERR_EOF;
}

/* ---- long records: check first, keep only what is real --------------- */

#define VERIFY_BYTES ((size_t)16 << 20) /* longer records are read twice */

/* Where the source stands when the window is empty: enough to read on again. */
typedef struct src_mark {
    off_t      fd_pos;    /* file offset of the next read() */
    uint64_t   ubase;
    void      *zs;        /* copy of the inflate state, inside a member */
    int        in_member, src_end, gzip_members, missing_trailer;
    uint64_t   trailing_bytes;
    tfr_status src_err;
} src_mark;

/* Takes the mark; 0 when the source cannot be read again (no seek, no memory). */
static int mark_take(tfr_record_reader *r, src_mark *m)
{
    memset(m, 0, sizeof *m);
    if (r->comp == TFR_COMPRESS_NONE) {
        m->fd_pos = lseek(r->fd, 0, SEEK_CUR);
    } else {
        m->fd_pos = (off_t)raw_offset(r);
        if (lseek(r->fd, 0, SEEK_CUR) < 0)
            m->fd_pos = -1;
    }
    if (m->fd_pos < 0)
        return 0;
    if (r->in_member && r->zs) {
        tfr_error e;
        if (r->codec->inflate_copy(r->zs, &m->zs, &e))
            return 0;
    }
    m->ubase = r->ubase + r->ulen;
    m->in_member = r->in_member;
    m->src_end = r->src_end;
    m->src_err = r->src_err;
    m->gzip_members = r->st.gzip_members;
    m->missing_trailer = r->st.missing_trailer;
    m->trailing_bytes = r->st.trailing_bytes;
    return 1;
}

/* Puts the source back at the mark with an empty window; 0 if seeking fails. */
static int mark_restore(tfr_record_reader *r, src_mark *m)
{
    if (lseek(r->fd, m->fd_pos, SEEK_SET) < 0)
        return 0;
    if (r->comp != TFR_COMPRESS_NONE) {
        r->in = r->raw;
        r->in_len = 0;
        r->raw_base = (uint64_t)m->fd_pos;
        r->raw_eof = 0;
        if (m->zs) {
            r->codec->inflate_free(r->zs);
            r->zs = m->zs;
            m->zs = NULL;
        }
    }
    r->in_member = m->in_member;
    r->src_end = m->src_end;
    r->src_err = m->src_err;
    if (!m->src_err)
        tfr_error_clear(&r->src_err_e);
    r->st.gzip_members = m->gzip_members;
    r->st.missing_trailer = m->missing_trailer;
    r->st.trailing_bytes = m->trailing_bytes;
    r->ubase = m->ubase;
    r->upos = r->ulen = 0;
    return 1;
}

static void mark_drop(tfr_record_reader *r, src_mark *m)
{
    if (m->zs)
        r->codec->inflate_free(m->zs);
    m->zs = NULL;
}

/*
 * A record of n data bytes (need = n + 4) starts at ubuf+upos and is longer
 * than the window. Reads it through computing its CRC and keeping nothing.
 * Returns 1 when it is whole and its CRC holds: the source is then back at
 * the record's start, ready to read it again into the record buffer.
 * Returns 0 otherwise, with the record consumed and *got its bytes (a
 * truncated record when *got < need, else a CRC mismatch). Returns -1, with
 * nothing consumed, when the source cannot be read twice.
 */
static int verify_long(tfr_record_reader *r, uint64_t n, size_t need, size_t *got)
{
    size_t head = r->ulen - r->upos;
    if (!r->head && !(r->head = tfr_malloc(r->ucap)))
        return -1;
    memcpy(r->head, r->ubuf + r->upos, head);
    size_t save_pos = r->upos;
    r->upos = r->ulen;
    src_mark m;
    if (!mark_take(r, &m)) {
        r->upos = save_pos;
        return -1;
    }
    uint32_t crc = 0;
    uint8_t foot[4];
    size_t g = 0;
    const uint8_t *p = r->head;
    size_t a = head;
    for (;;) {
        size_t k = need - g < a ? need - g : a;
        size_t data = g < n ? (n - g < k ? (size_t)(n - g) : k) : 0;
        crc = tfr_crc32c_extend(crc, p, data);
        for (size_t j = data; j < k; j++)
            foot[g + j - n] = p[j];
        g += k;
        if (p != r->head)
            r->upos += k;
        if (g == need)
            break;
        a = ensure(r, 1);
        if (a == 0)
            break;
        p = r->ubuf + r->upos;
    }
    *got = g;
    if (g == need && tfr_crc_mask(crc) == tfr_get_le32(foot)) {
        if (mark_restore(r, &m)) {
            memcpy(r->ubuf, r->head, head);
            r->ulen = head;
            r->ubase -= head;
            r->st.records_verified++;
            return 1;
        }
        /* cannot read it again: report what cannot be returned */
        tfr_fail(&r->src_err_e, TFR_ERR_IO, r->path, "cannot seek back to a long record");
        r->src_err = TFR_ERR_IO;
        r->src_end = 1;
        *got = 0;
    }
    mark_drop(r, &m);
    return 0;
}

static tfr_status next_direct(tfr_record_reader *r, const uint8_t **data, size_t *len,
                              tfr_error *err)
{
    if (r->sticky) {
        if (err)
            *err = r->sticky_err;
        return r->sticky;
    }
    if (r->at_eof)
        return TFR_ERR_EOF;
    for (;;) {
        uint64_t off = cur_off(r);
        if (r->rec_index >= r->range_last || off >= r->range_end) {
            /* the range is read: by its count and its end offset alike,
             * unless the index and the shard disagree */
            int agree = r->range_end == UINT64_MAX ? ensure(r, 1) == 0
                                                   : off == r->range_end &&
                                                         r->rec_index == r->range_last;
            if (!agree && !r->o.skip_corrupt) {
                tfr_error e;
                char where[96];
                if (r->range_end == UINT64_MAX)
                    snprintf(where, sizeof where, "the index has %llu records",
                             (unsigned long long)r->range_last);
                else
                    snprintf(where, sizeof where, "the index has record %llu at offset %llu",
                             (unsigned long long)r->range_last,
                             (unsigned long long)r->range_end);
                tfr_fail(&e, TFR_ERR_CORRUPT, r->path, "the shard and its index disagree: "
                         "record %llu starts at offset %llu, %s (rebuild the index)",
                         (unsigned long long)r->rec_index, (unsigned long long)off, where);
                return fatal(r, &e, off, err);
            }
            if (r->range_end == UINT64_MAX && agree)
                return stream_end(r, off, err);
            r->at_eof = 1;
            return TFR_ERR_EOF;
        }
        size_t avail = ensure(r, 12);
        if (avail == 0)
            return stream_end(r, off, err);
        if (avail < 12) {
            if (r->src_err)
                return fatal(r, &r->src_err_e, off, err);
            r->st.trailing_bytes = avail;
            tfr_status s = defect(r, off, err,
                                  "truncated record header: the data ends %zu bytes "
                                  "into a 12-byte header", avail);
            if (s)
                return s;
            r->upos = r->ulen;
            r->at_eof = 1;
            return TFR_ERR_EOF;
        }
        const uint8_t *h = r->ubuf + r->upos;
        if (tfr_crc_mask(tfr_crc32c(h, 8)) != tfr_get_le32(h + 8)) {
            tfr_status s = defect(
                r, off, err,
                "%s", off == 0 ? "length CRC mismatch (is this a TFRecord file, and is "
                                "the compression right?)"
                              : "length CRC mismatch: record header damaged");
            if (s)
                return s;
            /*
             * resync: the next offset with a valid header, or the first one
             * with fewer than 12 bytes behind it. Each window is scanned in
             * place once; ensure() slides only its last 11 bytes and refills.
             */
            uint64_t skipped = 1;
            r->upos++;
            for (;;) {
                size_t a = ensure(r, 12);
                if (a < 12)
                    break;
                size_t i = tfr_header_scan(r->ubuf + r->upos, a - 11, r->o.max_record_bytes,
                                           &r->st.resync_checks);
                r->st.resync_windows++;
                r->upos += i;
                skipped += i;
                if (i < a - 11)
                    break;
            }
            r->st.bytes_skipped += skipped;
            continue;
        }
        uint64_t n = tfr_get_le64(h);
        if (n > r->o.max_record_bytes || n >= SIZE_MAX - 16)
        {
            /* a valid length CRC: the length is real, so this is not skippable */
            tfr_error e;
            tfr_error_clear(&e);
            tfr_fail(&e, TFR_ERR_CORRUPT, r->path,
                     "record length %llu exceeds the limit of %llu bytes",
                     (unsigned long long)n, (unsigned long long)r->o.max_record_bytes);
            return fatal(r, &e, off, err);
        }
        r->upos += 12;
        size_t need = (size_t)n + 4;
        const uint8_t *body;
        if (r->comp == TFR_COMPRESS_NONE && off + 12 + need > r->file_size) {
            /* known short before reading: plain files have a size */
            uint64_t have = r->file_size > off + 12 ? r->file_size - off - 12 : 0;
            r->upos = r->ulen;
            r->src_end = 1;
            tfr_status s = defect(r, off, err,
                                  "truncated record: length %llu needs %llu bytes (data and "
                                  "CRC), only %llu follow",
                                  (unsigned long long)n, (unsigned long long)n + 4,
                                  (unsigned long long)have);
            if (s)
                return s;
            r->at_eof = 1;
            return TFR_ERR_EOF;
        }
        if (need > VERIFY_BYTES && need > r->ucap && ensure(r, 1) > 0) {
            size_t got = 0;
            if (verify_long(r, n, need, &got) == 0) {
                if (got < need && r->src_err)
                    return fatal(r, &r->src_err_e, off, err);
                tfr_status s = got < need
                    ? defect(r, off, err,
                             "truncated record: length %llu needs %llu bytes (data and CRC), "
                             "only %zu follow",
                             (unsigned long long)n, (unsigned long long)n + 4, got)
                    : defect(r, off, err, "data CRC mismatch (record of %llu bytes)",
                             (unsigned long long)n);
                if (s)
                    return s;
                if (got < need) {
                    r->at_eof = 1;
                    return TFR_ERR_EOF;
                }
                r->rec_index++;
                continue;
            }
        }
        if (ensure(r, need <= r->ucap ? need : 1) >= need) {
            body = r->ubuf + r->upos; /* whole record in the window: no copy */
            r->upos += need;
        } else {
            size_t got = 0;
            for (;;) {
                size_t a = r->ulen - r->upos;
                if (a == 0) {
                    a = ensure(r, 1);
                    if (a == 0)
                        break;
                }
                size_t k = need - got < a ? need - got : a;
                if (got + k > r->rec_cap) {
                    size_t cap = r->rec_cap ? r->rec_cap : 65536;
                    while (cap < got + k)
                        cap *= 2;
                    if (cap > need)
                        cap = need;
                    uint8_t *p = tfr_realloc(r->rec, cap);
                    if (!p) {
                        tfr_error e;
                        tfr_fail(&e, TFR_ERR_NOMEM, r->path,
                                 "out of memory for a record of %llu bytes",
                                 (unsigned long long)n);
                        return fatal(r, &e, off, err);
                    }
                    r->rec = p;
                    r->rec_cap = cap;
                    if (cap > r->st.record_buf_bytes)
                        r->st.record_buf_bytes = cap;
                }
                memcpy(r->rec + got, r->ubuf + r->upos, k);
                r->upos += k;
                got += k;
                if (got == need)
                    break;
            }
            if (got < need) {
                if (r->src_err)
                    return fatal(r, &r->src_err_e, off, err);
                tfr_status s = defect(r, off, err,
                                      "truncated record: length %llu needs %llu bytes (data "
                                      "and CRC), only %zu follow",
                                      (unsigned long long)n, (unsigned long long)n + 4, got);
                if (s)
                    return s;
                r->at_eof = 1;
                return TFR_ERR_EOF;
            }
            body = r->rec;
        }
        if (tfr_crc_mask(tfr_crc32c(body, (size_t)n)) != tfr_get_le32(body + n)) {
            tfr_status s = defect(r, off, err,
                                  "data CRC mismatch (record of %llu bytes)",
                                  (unsigned long long)n);
            if (s)
                return s;
            r->rec_index++;
            continue;
        }
        if (off == r->range_first && n != r->range_first_len) {
            tfr_error e;
            tfr_fail(&e, TFR_ERR_CORRUPT, r->path, "record %llu is %llu bytes long, the index "
                     "says %llu (rebuild the index)", (unsigned long long)r->rec_index,
                     (unsigned long long)n, (unsigned long long)r->range_first_len);
            return fatal(r, &e, off, err);
        }
        r->last_off = off;
        r->rec_index++;
        r->st.records++;
        *data = body;
        *len = (size_t)n;
        return TFR_OK;
    }
}

/* ---- prefetch: a thread reads ahead ------------------------------------ */

/*
 * The thread runs next_direct() and copies records into two blocks of about
 * buf_bytes each (a block grows to hold one longer record); the caller
 * takes them in order. Skipped defects are kept in the block with the
 * position they came before, and passed to the caller's callback on the
 * caller's thread; the block that ends the file carries the end (EOF or the
 * error) and the reader's final stats.
 */
typedef struct pf_rec {
    size_t   at, len;
    uint64_t off;
} pf_rec;

typedef struct pf_skip {
    size_t    before; /* delivered before record `before` of the block */
    tfr_error e;
} pf_skip;

typedef struct pf_block {
    uint8_t *data;
    size_t   len, cap;
    pf_rec  *rec;
    size_t   n, ncap;
    pf_skip *skip;
    size_t   nskip, skcap;
    int      last;        /* the file ends after this block: end, end_err */
    tfr_status end;
    tfr_error  end_err;
    tfr_reader_stats st;  /* the reader's stats when the block was done */
    int      full;        /* filled, not yet taken back by the reader thread */
} pf_block;

struct prefetch {
    pthread_t       th;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int             stop, started;
    pf_block        b[2];
    int             cur;          /* the caller's block */
    size_t          pos, spos;    /* its next record and skip event */
    int             have;         /* the caller holds block cur */
    tfr_skip_fn     fn;           /* the caller's callback */
    void           *user;
    tfr_reader_stats st;
    uint64_t        off;
    int             done;
    tfr_status      end;
    tfr_error       end_err;
    tfr_status      fail;         /* no memory in the thread */
    pf_block       *filling;
};

static int pf_grow(void **p, size_t *cap, size_t need, size_t el)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = tfr_realloc(*p, c * el);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void pf_on_skip(void *user, const tfr_error *e)
{
    struct prefetch *pf = user;
    pf_block *b = pf->filling;
    if (pf_grow((void **)&b->skip, &b->skcap, b->nskip + 1, sizeof *b->skip)) {
        pf->fail = TFR_ERR_NOMEM;
        return;
    }
    b->skip[b->nskip].before = b->n;
    b->skip[b->nskip].e = *e;
    b->nskip++;
}

static void *pf_main(void *arg)
{
    tfr_record_reader *r = arg;
    struct prefetch *pf = r->pf;
    for (int k = 0;; k ^= 1) {
        pf_block *b = &pf->b[k];
        pthread_mutex_lock(&pf->mu);
        while (b->full && !pf->stop)
            pthread_cond_wait(&pf->cv, &pf->mu);
        int stop = pf->stop;
        pthread_mutex_unlock(&pf->mu);
        if (stop)
            return NULL;
        b->len = b->n = b->nskip = 0;
        b->last = 0;
        pf->filling = b;
        while (b->len < r->o.buf_bytes) {
            const uint8_t *d;
            size_t n;
            tfr_error e;
            tfr_status st = next_direct(r, &d, &n, &e);
            /* (+1: an empty record still points into a buffer) */
            if (!st && (pf_grow((void **)&b->data, &b->cap, b->len + n + 1, 1) ||
                        pf_grow((void **)&b->rec, &b->ncap, b->n + 1, sizeof *b->rec))) {
                st = tfr_fail(&e, TFR_ERR_NOMEM, r->path, "out of memory for read-ahead");
            }
            if (!st && pf->fail)
                st = tfr_fail(&e, pf->fail, r->path, "out of memory for read-ahead");
            if (st) {
                b->last = 1;
                b->end = st;
                b->end_err = e;
                break;
            }
            if (n)
                memcpy(b->data + b->len, d, n);
            b->rec[b->n] = (pf_rec){b->len, n, r->last_off};
            b->len += n;
            b->n++;
        }
        b->st = r->st;
        b->st.bytes = cur_off(r);
        pthread_mutex_lock(&pf->mu);
        b->full = 1;
        pthread_cond_broadcast(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
        if (b->last)
            return NULL;
    }
}

static tfr_status prefetch_start(tfr_record_reader *r, tfr_error *err)
{
    struct prefetch *pf = tfr_calloc(1, sizeof *pf);
    if (!pf)
        return tfr_fail(err, TFR_ERR_NOMEM, r->path, "out of memory");
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    pf->fn = r->skip_fn;
    pf->user = r->skip_user;
    pf->st = r->st;
    r->skip_fn = pf_on_skip;
    r->skip_user = pf;
    r->pf = pf;
    if (pthread_create(&pf->th, NULL, pf_main, r) != 0) {
        r->pf = NULL;
        r->skip_fn = pf->fn;
        r->skip_user = pf->user;
        pthread_mutex_destroy(&pf->mu);
        pthread_cond_destroy(&pf->cv);
        free(pf);
        return tfr_fail(err, TFR_ERR_NOMEM, r->path, "cannot start the read-ahead thread");
    }
    pf->started = 1;
    return TFR_OK;
}

static void prefetch_stop(tfr_record_reader *r)
{
    struct prefetch *pf = r->pf;
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = 1;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    if (pf->started)
        pthread_join(pf->th, NULL);
    for (int k = 0; k < 2; k++) {
        free(pf->b[k].data);
        free(pf->b[k].rec);
        free(pf->b[k].skip);
    }
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    r->skip_fn = pf->fn;
    r->skip_user = pf->user;
    free(pf);
    r->pf = NULL;
}

static const tfr_reader_stats *prefetch_stats(const tfr_record_reader *r) { return &r->pf->st; }
static uint64_t prefetch_offset(const tfr_record_reader *r) { return r->pf->off; }

static tfr_status prefetch_next(tfr_record_reader *r, const uint8_t **data, size_t *len,
                                tfr_error *err)
{
    struct prefetch *pf = r->pf;
    for (;;) {
        if (pf->done) {
            if (err && pf->end != TFR_ERR_EOF)
                *err = pf->end_err;
            return pf->end;
        }
        if (!pf->have) {
            pthread_mutex_lock(&pf->mu);
            while (!pf->b[pf->cur].full)
                pthread_cond_wait(&pf->cv, &pf->mu);
            pthread_mutex_unlock(&pf->mu);
            pf->have = 1;
            pf->pos = pf->spos = 0;
        }
        pf_block *b = &pf->b[pf->cur];
        while (pf->spos < b->nskip && b->skip[pf->spos].before <= pf->pos) {
            if (pf->fn)
                pf->fn(pf->user, &b->skip[pf->spos].e);
            pf->spos++;
        }
        if (pf->pos < b->n) {
            const pf_rec *x = &b->rec[pf->pos++];
            *data = b->data + x->at;
            *len = x->len;
            pf->off = x->off;
            if (pf->pos == b->n && !b->last)
                pf->st = b->st;
            return TFR_OK;
        }
        pf->st = b->st;
        if (b->last) {
            pf->done = 1;
            pf->end = b->end;
            pf->end_err = b->end_err;
            continue;
        }
        /* hand the block back and take the other one */
        pthread_mutex_lock(&pf->mu);
        b->full = 0;
        pthread_cond_broadcast(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
        pf->cur ^= 1;
        pf->have = 0;
    }
}

tfr_status tfr_record_reader_next(tfr_record_reader *r, const uint8_t **data, size_t *len,
                                  tfr_error *err)
{
    if (!r || !data || !len)
        return tfr_fail(err, TFR_ERR_ARG, NULL, "record reader: NULL argument");
    if (r->o.prefetch && !r->pf && !r->sticky && !r->at_eof) {
        tfr_status st = prefetch_start(r, err);
        if (st)
            return st;
    }
    return r->pf ? prefetch_next(r, data, len, err) : next_direct(r, data, len, err);
}
