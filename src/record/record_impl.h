/*
 * record/record_impl.h - little-endian framing helpers shared by the record
 * writer and reader (internal: src/record/ only).
 */
#ifndef TFR_RECORD_IMPL_H
#define TFR_RECORD_IMPL_H

#include <stdint.h>
#include <string.h>

#include "tfrecord/record.h"

static inline void tfr_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static inline void tfr_put_le64(uint8_t *p, uint64_t v)
{
    tfr_put_le32(p, (uint32_t)v);
    tfr_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t tfr_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t tfr_get_le64(const uint8_t *p)
{
    return (uint64_t)tfr_get_le32(p) | ((uint64_t)tfr_get_le32(p + 4) << 32);
}

/* The 12-byte header of a record of length len. */
static inline void tfr_frame_header(uint8_t hdr[12], uint64_t len)
{
    tfr_put_le64(hdr, len);
    tfr_put_le32(hdr + 8, tfr_crc_mask(tfr_crc32c(hdr, 8)));
}

/*
 * The resync scan: the first i < n such that p[i..i+12) is a record header
 * whose masked length CRC holds and whose length is <= max; n when none is.
 * p must have n + 11 readable bytes. One 8-byte CRC per position (the
 * SSE4.2 instruction when the CPU has it), nothing else; *checks += the
 * positions examined.
 */
size_t tfr_header_scan(const uint8_t *p, size_t n, uint64_t max, uint64_t *checks);

/*
 * Where reading records [begin, end) of an indexed shard starts and stops
 * (record/index.c; the reader's open_range uses it). Reading starts at file
 * offset file_off, which holds stream offset stream_off: a seekable chunk's
 * start (raw: bare deflate, no header or trailer to check), the record
 * itself (uncompressed shards), or the file's start. Record begin's header
 * is at stream offset first, its data first_len bytes long; the range ends
 * where record end starts (UINT64_MAX: at the stream's end).
 */
typedef struct tfr_index_span {
    tfr_compression comp;
    uint64_t bytes;      /* the shard's size, as the index knows it */
    uint64_t file_off, stream_off;
    int      raw;
    uint64_t first, first_len;
    uint64_t end;
} tfr_index_span;

/* TFR_ERR_ARG when begin > end or end is past the last record;
 * TFR_ERR_FORMAT when record begin cannot be inside the shard. */
tfr_status tfr_index_span_of(const tfr_record_index *ix, uint64_t begin, uint64_t end,
                             const char *shard, tfr_index_span *sp, tfr_error *err);

#endif
