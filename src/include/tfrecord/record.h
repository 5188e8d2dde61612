/*
 * tfrecord/record.h - write and read TFRecord files (plain, ZLIB, GZIP).
 *
 * Framing: u64 len | u32 masked_crc32c(len) | data | u32 masked_crc32c(data),
 * little-endian, no file header. GZIP output is one gzip member over the
 * whole file, which TFRecordDataset(..., compression_type="GZIP") reads
 * unchanged; the reader also accepts several concatenated members.
 */
#ifndef TFRECORD_RECORD_H
#define TFRECORD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CRC-32C (Castagnoli) -------------------------------------------- */

/*
 * Extends crc (0 to start) over data[0..n). Uses the SSE4.2 crc32
 * instruction when the CPU has it (chosen once, at first call), else a
 * portable slicing-by-8 table. Thread-safe.
 */
TFR_API uint32_t tfr_crc32c_extend(uint32_t crc, const void *data, size_t n);
static inline uint32_t tfr_crc32c(const void *data, size_t n)
{
    return tfr_crc32c_extend(0, data, n);
}
/* The two implementations, for tests and benchmarks. hw returns the sw value
 * when the CPU lacks SSE4.2. */
TFR_API uint32_t tfr_crc32c_sw(uint32_t crc, const void *data, size_t n);
TFR_API uint32_t tfr_crc32c_hw(uint32_t crc, const void *data, size_t n);
/* 1 when tfr_crc32c_extend uses the hardware instruction. */
TFR_API int tfr_crc32c_has_hw(void);

/* TFRecord's CRC mask: rotate right 15, add 0xa282ead8. */
static inline uint32_t tfr_crc_mask(uint32_t c)
{
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}
static inline uint32_t tfr_crc_unmask(uint32_t m)
{
    uint32_t r = m - 0xa282ead8u;
    return (r >> 17) | (r << 15);
}

/* ---- compression ------------------------------------------------------ */

typedef enum tfr_compression {
    TFR_COMPRESS_NONE = 0,
    TFR_COMPRESS_ZLIB,
    TFR_COMPRESS_GZIP,
    TFR_COMPRESS_AUTO      /* reader only: detect from the first bytes */
} tfr_compression;

/* "none", "zlib", "gzip", "auto" */
TFR_API const char *tfr_compression_name(tfr_compression c);
/* Parses "none"/""/"zlib"/"gzip"/"auto" (case-insensitive); TFR_ERR_ARG otherwise. */
TFR_API tfr_status tfr_compression_parse(const char *s, tfr_compression *out);

/* ---- writer ----------------------------------------------------------- */

/* Options of a record writer. Start from tfr_writer_opts_init (struct_size:
 * see tfrecord/error.h). */
typedef struct tfr_writer_opts {
    size_t struct_size;          /* sizeof(tfr_writer_opts), set by _init */
    tfr_compression compression; /* default TFR_COMPRESS_GZIP */
    int    level;       /* -1 (zlib default, 6) or 0..9; default -1 */
    /*
     * 0 (default): one deflate stream fed with Z_NO_FLUSH and one Z_FINISH,
     * exactly as TensorFlow's ZlibOutputBuffer writes (memLevel 9).
     * > 0: the stream is cut into independent deflate blocks of this many
     * uncompressed bytes, each primed with the previous 32 KiB as a
     * dictionary and compressed on up to `threads` threads (OpenMP). The
     * result is still ONE gzip/zlib member that every TensorFlow version
     * reads; bytes are the same for any thread count. A block that deflate
     * shrinks by less than 1/32 (JPEG bytes) is stored instead, so readers
     * copy it rather than inflate it.
     */
    size_t chunk_bytes;
    int    threads;     /* for chunked mode; 0 = tfr_compute_threads() */
    int    sync;        /* fsync before rename; default 1 */
    int    direct;      /* write straight to path (no temporary, no rename), for
                           logs read while they grow; default 0 */
    /*
     * The deflate engine: NULL or "zlib" (default: what TensorFlow writes,
     * byte for byte), "isal" (ISA-L, when built in: several times faster at
     * about zlib's ratio) or "auto" (the fastest built in). Every engine
     * writes a standard gzip/zlib stream; level keeps its meaning as a
     * ratio/speed trade-off (the engine maps it, see tfr_writer_engines).
     */
    const char *engine;
    /*
     * Seekable shards. index_path: write an index of the shard there when
     * it is closed (tfr_record_index_*): every record's uncompressed offset
     * and length and, in chunked mode, where each chunk starts in the file
     * and in the stream. seekable (chunked mode): no chunk is primed with
     * the one before, so reading can start at any chunk (ratio about 1 %
     * lower at 1 MiB chunks); the file is still one standard member.
     */
    const char *index_path;
    int         seekable;
} tfr_writer_opts;

/* ---- shard indexes: record i without reading the records before it ---- */

/*
 * An index, as the writer writes it with tfr_writer_opts.index_path (the
 * format is in src/record/index.c and the README). Loading checks every
 * line (counts, order, offsets inside the shard); TFR_ERR_FORMAT names the
 * line otherwise.
 */
typedef struct tfr_record_index tfr_record_index;
TFR_API tfr_status tfr_record_index_load(const char *path, tfr_record_index **out, tfr_error *err);
TFR_API void       tfr_record_index_free(tfr_record_index *ix);
/*
 * Writes an index (atomically): the shard's size and compression, whether
 * reading may start at any chunk, recs[2i], recs[2i+1] = record i's stream
 * offset and length, chunks[2j], chunks[2j+1] = chunk j's file and stream
 * offsets. The record writer calls it (index_path); tfrecord-inspect
 * --index builds one for any uncompressed or single-member file.
 */
TFR_API tfr_status tfr_record_index_save(const char *path, uint64_t bytes, tfr_compression comp,
                                         int seekable, const uint64_t *recs, size_t nrec,
                                         const uint64_t *chunks, size_t nchk, int sync,
                                         tfr_error *err);
/* DALI's index of an uncompressed shard (its tfrecord2idx format, one
 * "OFFSET SIZE" line per record, SIZE counting the 16 framing bytes), for
 * fn.readers.tfrecord(index_path=...). TFR_ERR_ARG for a compressed shard,
 * which DALI cannot read. */
TFR_API tfr_status tfr_record_index_save_dali(const tfr_record_index *ix, const char *path,
                                              tfr_error *err);
/*
 * Where a shard's index is, by the writer's convention: DIR/index/NAME.index
 * (tfrecord-write --index) or else SHARD.index beside it. 1 with the path
 * in out when one of them exists, else 0.
 */
TFR_API int        tfr_record_index_locate(const char *shard, char *out, size_t n);
/*
 * The index of shard (located as above), loaded and checked to be of this
 * file (its size): TFR_OK with *out NULL when the shard has none;
 * TFR_ERR_ARG naming the index when it is of another file (rebuild it).
 */
TFR_API tfr_status tfr_record_index_of(const char *shard, tfr_record_index **out,
                                       tfr_error *err);
/* The shard's record count, without a scan. */
TFR_API uint64_t   tfr_record_index_count(const tfr_record_index *ix);
/*
 * Record i of shard (0-based), its CRCs checked: *data (malloc'd, caller
 * frees) and *len. An uncompressed shard is read at the record; a seekable
 * compressed one is inflated from the chunk that holds the record's start,
 * any other from the stream's start. TFR_ERR_ARG when the index is of
 * another file (its size differs) or i is past the last record;
 * TFR_ERR_CORRUPT with record and offset when the bytes are damaged.
 */
TFR_API tfr_status tfr_record_read_at(const char *shard, const tfr_record_index *ix, uint64_t i,
                                      uint8_t **data, size_t *len, tfr_error *err);

/* The engines built into this library, fastest last: "zlib" or "zlib isal". */
TFR_API const char *tfr_writer_engines(void);

typedef struct tfr_record_writer tfr_record_writer;   /* opaque */

/* Sets every field of *opts to its default. Call before changing fields. */
TFR_API void tfr_writer_opts_init(tfr_writer_opts *opts);

/*
 * Creates "<path>.tmp.<pid>"; close() renames it to path. opts may be NULL
 * (defaults); TFR_ERR_ARG when its struct_size is not this library's. On
 * success returns TFR_OK and sets *out; on failure returns the error, fills
 * *err and sets *out to NULL. A writer must not be shared between threads;
 * use one per file.
 */
TFR_API tfr_status tfr_record_writer_open(const char *path, const tfr_writer_opts *opts,
                                          tfr_record_writer **out, /* OUT */
                                          tfr_error *err);

/*
 * Appends one record; data is copied, the caller keeps it. Errors are sticky:
 * after one, every call repeats it and close() discards the file.
 */
TFR_API tfr_status tfr_record_writer_append(tfr_record_writer *w, const void *data,
                                            size_t len, tfr_error *err);

/*
 * Pushes buffered records to the file so that readers see them (plain and
 * single-stream ZLIB/GZIP; chunked mode flushes at close only).
 */
TFR_API tfr_status tfr_record_writer_flush(tfr_record_writer *w, tfr_error *err);

/* Records appended and uncompressed bytes written so far. */
TFR_API uint64_t tfr_record_writer_count(const tfr_record_writer *w);
TFR_API uint64_t tfr_record_writer_bytes(const tfr_record_writer *w);
/* Compressed bytes on disk so far (all of it after close has finished). */
TFR_API uint64_t tfr_record_writer_file_bytes(const tfr_record_writer *w);

/* What close() reports about the finished file. */
typedef struct tfr_writer_result {
    uint64_t records;
    uint64_t bytes;       /* uncompressed (framed) bytes */
    uint64_t file_bytes;  /* size on disk */
    uint32_t file_crc32c; /* CRC-32C of the bytes on disk */
    int      indexed;     /* 1: an index was written (index_path) */
    int      seekable;    /* 1: a reader can start at any chunk the index lists */
    uint64_t chunks;      /* chunks the index lists (0 for uncompressed shards) */
} tfr_writer_result;

/*
 * Finishes the stream, fsyncs and renames into place. Frees w in every case;
 * w may be NULL. On failure the temporary file is removed, so nothing named
 * path is left behind. res may be NULL.
 */
TFR_API tfr_status tfr_record_writer_close(tfr_record_writer *w, tfr_writer_result *res,
                                           tfr_error *err);

/* Discards the writer and its temporary file. w may be NULL. */
TFR_API void tfr_record_writer_abort(tfr_record_writer *w);

/* ---- reader ----------------------------------------------------------- */

/* Options of a record reader. Start from tfr_reader_opts_init (struct_size:
 * see tfrecord/error.h). */
typedef struct tfr_reader_opts {
    size_t struct_size;          /* sizeof(tfr_reader_opts), set by _init */
    tfr_compression compression; /* default TFR_COMPRESS_AUTO */
    /*
     * 0 (default): the first defect stops the reader with an error.
     * 1: a record whose data CRC fails is reported and skipped; after a bad
     * length CRC the reader scans forward for the next valid record header.
     * Each skipped record is counted; see tfr_record_reader_stats.
     */
    int      skip_corrupt;
    uint64_t max_record_bytes;   /* refuse longer records; default 2 GiB */
    size_t   buf_bytes;          /* read buffer; default 256 KiB */
    const char *engine;          /* inflater: NULL or "auto" (the fastest built in),
                                    or one of tfr_writer_engines(); every engine
                                    checks the same CRCs and trailers */
    /*
     * 1: a thread reads, inflates and checks ahead, so the caller's work on
     * each record overlaps the reading of the next ones (it starts at the
     * first next()). Records, errors, offsets and skip callbacks come in the
     * same order and on the caller's thread; stats are current at each block
     * of about buf_bytes and complete after the end. Memory: two blocks of
     * about buf_bytes, or of the longest record, beside the reader's own.
     */
    int prefetch;
} tfr_reader_opts;

TFR_API void tfr_reader_opts_init(tfr_reader_opts *opts);

typedef struct tfr_record_reader tfr_record_reader;   /* opaque */

/* What the reader has seen so far; complete after TFR_ERR_EOF. */
typedef struct tfr_reader_stats {
    tfr_compression compression;  /* detected or given */
    uint64_t records;             /* good records returned */
    uint64_t bytes;               /* uncompressed bytes consumed */
    uint64_t file_bytes;          /* size of the file on disk */
    uint64_t corrupt_skipped;     /* records skipped in skip_corrupt mode */
    uint64_t bytes_skipped;       /* uncompressed bytes skipped while resyncing */
    int      gzip_members;        /* gzip/zlib members seen (0 for plain) */
    int      missing_trailer;     /* stream ended without its gzip/zlib trailer */
    uint64_t trailing_bytes;      /* bytes after the last whole record or member */
    /* work and memory, for tests and tuning */
    uint64_t resync_checks;       /* header positions whose length CRC was computed while resyncing */
    uint64_t resync_windows;      /* buffer windows scanned (and refilled) while resyncing */
    uint64_t records_verified;    /* long records CRC-checked before being kept (read twice) */
    uint64_t record_buf_bytes;    /* peak size of the buffer for records longer than the window */
} tfr_reader_stats;

/*
 * Memory bound. A reader holds its read window (buf_bytes of uncompressed
 * data, plus buf_bytes of compressed input for ZLIB/GZIP) and, for records
 * longer than the window, one record buffer. That buffer grows geometrically
 * as the record's bytes arrive, never beyond the declared length or
 * max_record_bytes; a record longer than 16 MiB is first read through once
 * with its CRC computed and nothing kept, and is buffered (read a second
 * time) only when its data CRC holds. So peak memory is about the window
 * plus the largest real record (or 16 MiB, if more), never a declared
 * length: a header that claims 1 GiB in a 1 MB file, even one whose data
 * inflates to 1 GiB, costs at most ~16 MiB before it is reported as
 * truncated or corrupt (file, record index, offset).
 *
 * Resync (skip_corrupt, after a bad length CRC) scans the window in place,
 * one 8-byte CRC per position, refilling it only when it is used up; the
 * bytes passed over are counted in bytes_skipped.
 */

/*
 * Opens path for reading. Nothing is read before the first next() except the
 * magic bytes when compression is AUTO. opts may be NULL (defaults);
 * TFR_ERR_ARG when its struct_size is not this library's.
 */
TFR_API tfr_status tfr_record_reader_open(const char *path, const tfr_reader_opts *opts,
                                          tfr_record_reader **out, /* OUT */
                                          tfr_error *err);

/*
 * Reads the next record. On TFR_OK, *data and *len give to the record's bytes,
 * valid until the next call or close. Returns TFR_ERR_EOF at a clean end.
 * Any defect (CRC mismatch, truncation, damaged gzip, trailing garbage)
 * returns TFR_ERR_CORRUPT with err naming the path, record index and offset
 * (uncompressed, plus the compressed position for compressed files). In
 * skip_corrupt mode, skippable record defects are reported through
 * on_skip (when set) and reading goes on. After a fatal error every call
 * repeats it.
 */
TFR_API tfr_status tfr_record_reader_next(tfr_record_reader *r, const uint8_t **data,
                                          size_t *len, tfr_error *err);

/*
 * Opens records [begin, end) of an indexed shard (tfr_record_index_load) as
 * a reader: next() returns them in order, then TFR_ERR_EOF. Reading starts
 * at the seekable chunk that holds record begin (inflating from the
 * stream's start for other compressed shards; at the record itself for
 * uncompressed ones) and stops where record end starts, so a range costs
 * about its own bytes plus at most one chunk. Every record's framing and
 * CRCs are checked and errors carry the record's number in the whole file;
 * the gzip trailer is checked only by a range that runs from the stream's
 * start to its end. ix may be freed once this returns. TFR_ERR_ARG when the
 * range is past the last record, or the index is of another file (its size
 * differs) or another compression than opts asks for.
 */
TFR_API tfr_status tfr_record_reader_open_range(const char *path, const tfr_reader_opts *opts,
                                                const tfr_record_index *ix, uint64_t begin,
                                                uint64_t end, tfr_record_reader **out,
                                                tfr_error *err);

/* Offset of the last returned record's header in the uncompressed stream. */
TFR_API uint64_t tfr_record_reader_offset(const tfr_record_reader *r);

/* Called with each skipped defect in skip_corrupt mode (optional). */
typedef void (*tfr_skip_fn)(void *user, const tfr_error *defect);
TFR_API void tfr_record_reader_on_skip(tfr_record_reader *r, tfr_skip_fn fn, void *user);

TFR_API void tfr_record_reader_stats(const tfr_record_reader *r, tfr_reader_stats *out);

/* Frees r; r may be NULL. */
TFR_API void tfr_record_reader_close(tfr_record_reader *r);

#ifdef __cplusplus
}
#endif

#endif /* TFRECORD_RECORD_H */
