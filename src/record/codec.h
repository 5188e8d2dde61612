/*
 * record/codec.h - the compression seam: one table of functions per deflate
 * engine (internal, not API).
 *
 * The record writer and reader own the TFRecord side (staging, chunk
 * boundaries, the gzip/zlib header and trailer of chunked output, member
 * detection, error offsets); an engine owns the deflate bytes. An engine is
 * one file (codec_<name>.c) that defines a const tfr_codec, plus one line in
 * the table in codec.c. Every entry must be filled; an engine that lacks a
 * role forwards to tfr_codec_zlib's function for it.
 *
 * States are opaque (void *) and belong to one thread at a time. Engines
 * report failures through the tfr_error they are given, with no path: the
 * caller adds the file name and offsets. Engines never print.
 *
 * Byte identity: the writer's single-stream mode must produce what
 * TensorFlow's ZlibOutputBuffer produces (zlib, memLevel 9), and chunk output
 * must depend only on (dict, input, level, last), never on threads or buffer
 * sizes; test_reference_outputs holds the bytes.
 */
#ifndef TFR_CODEC_H
#define TFR_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "tfrecord/error.h"

/* The container around the deflate data. */
typedef enum tfr_codec_wrap {
    TFR_WRAP_RAW = 0, /* bare deflate (RFC 1951), as in chunks */
    TFR_WRAP_ZLIB,    /* RFC 1950: 2-byte header, Adler-32 trailer */
    TFR_WRAP_GZIP     /* RFC 1952: 10-byte header, CRC-32 + ISIZE trailer */
} tfr_codec_wrap;

typedef enum tfr_codec_flush {
    TFR_FLUSH_NONE = 0, /* buffer as the engine likes */
    TFR_FLUSH_SYNC,     /* emit everything so far, end on a byte boundary */
    TFR_FLUSH_FINISH    /* end the stream (trailer included) */
} tfr_codec_flush;

/* What one step did. */
typedef enum tfr_codec_rc {
    TFR_CODEC_OK = 0,   /* progress (input consumed and/or output produced); call again */
    TFR_CODEC_NEED,     /* no progress possible: give more input or more output room */
    TFR_CODEC_END,      /* end of the stream / member, trailer checked or written */
    TFR_CODEC_ERROR     /* err is filled (code and message, no path) */
} tfr_codec_rc;

/* A step's buffers; the engine advances in/out past what it used. */
typedef struct tfr_codec_io {
    const uint8_t *in;
    size_t         in_len;
    uint8_t       *out;
    size_t         out_len;
} tfr_codec_io;

typedef struct tfr_codec {
    const char *name; /* "zlib" */
    /* 1: a stream's bytes do not depend on the output room of each step
     * (zlib); 0: they may (ISA-L ends blocks where the output fills), which
     * is still deterministic in the writer, whose staging buffer is fixed */
    int stable_stream;

    /* ---- streaming compression (the writer's single-stream mode) ---- */
    /* wrap ZLIB or GZIP; level -1 (6) or 0..9. TFR_ERR_NOMEM on failure. */
    tfr_status (*deflate_new)(tfr_codec_wrap wrap, int level, void **state, tfr_error *err);
    /*
     * Compresses from io->in into io->out. Returns OK or NEED while going on;
     * with TFR_FLUSH_FINISH, END once the trailer is out (call again with
     * fresh output room until then); ERROR on an engine failure.
     */
    tfr_codec_rc (*deflate)(void *state, tfr_codec_io *io, tfr_codec_flush flush,
                            tfr_error *err);
    void (*deflate_free)(void *state); /* state may be NULL */

    /* ---- independent chunks (the writer's parallel mode) ---- */
    /* wrap says which check the chunks report: CRC-32 (GZIP) or Adler-32 (ZLIB). */
    tfr_status (*chunk_new)(tfr_codec_wrap wrap, int level, void **state, tfr_error *err);
    /* Output room chunk() needs for n input bytes. */
    size_t (*chunk_bound)(void *state, size_t n);
    /*
     * Raw-deflates in[0..n), primed with dict[0..dict_len) (the up to 32 KiB
     * of stream right before in), into out[0..out_cap), out_cap >=
     * chunk_bound(n). A chunk that is not last ends on a byte boundary (sync
     * flush, no final block); the last one ends the deflate stream. So
     * consecutive chunks concatenate into one deflate stream. Sets *out_len
     * and *check (the chunk's CRC-32 or Adler-32, started from
     * tfr_codec_check_init).
     */
    tfr_status (*chunk)(void *state, const uint8_t *dict, size_t dict_len, const uint8_t *in,
                        size_t n, int last, uint8_t *out, size_t out_cap, size_t *out_len,
                        uint32_t *check, tfr_error *err);
    void (*chunk_free)(void *state); /* state may be NULL */
    /* check(A then B) from check(A), check(B) and len(B). */
    uint32_t (*check_combine)(tfr_codec_wrap wrap, uint32_t a, uint32_t b, uint64_t len_b);

    /* ---- streaming decompression (the reader) ---- */
    /* wrap ZLIB or GZIP (one member at a time). TFR_ERR_NOMEM on failure. */
    tfr_status (*inflate_new)(tfr_codec_wrap wrap, void **state, tfr_error *err);
    /*
     * Decompresses from io->in into io->out. OK: progress, call again. NEED:
     * no progress without more input (or output room); with no input left
     * inside a member that means the data is cut off. END: the member and its
     * trailer are complete; io->in points just past it; call inflate_reset
     * before the next member. ERROR: damaged data (TFR_ERR_CORRUPT) or no
     * memory (TFR_ERR_NOMEM); the message says what the engine saw.
     */
    tfr_codec_rc (*inflate)(void *state, tfr_codec_io *io, tfr_error *err);
    void (*inflate_reset)(void *state); /* ready for a new member, same wrap */
    /*
     * *copy = an independent state that goes on exactly where state is now
     * (window included), so the reader can read a span twice: once to check
     * a long record's CRC without keeping its bytes, then again to keep them.
     * TFR_ERR_NOMEM on failure (*copy NULL). Free it with inflate_free.
     */
    tfr_status (*inflate_copy)(void *state, void **copy, tfr_error *err);
    void (*inflate_free)(void *state);  /* state may be NULL */
} tfr_codec;

/* The engines. */
extern const tfr_codec tfr_codec_zlib;
#ifdef TFR_HAVE_ISAL
extern const tfr_codec tfr_codec_isal; /* libisal: TFR_HAVE_ISAL */
#endif

/* The engine the writer and reader use (the first in the table: zlib). */
const tfr_codec *tfr_codec_default(void);
/* The fastest engine built in (the last in the table): "auto". */
const tfr_codec *tfr_codec_fastest(void);
/* The engine called name ("auto": the fastest), or NULL when it is not built in. */
const tfr_codec *tfr_codec_find(const char *name);
/* The i-th built-in engine, or NULL past the last (tests run every one). */
const tfr_codec *tfr_codec_at(size_t i);

/* A check value before any data: CRC-32 starts at 0, Adler-32 at 1. */
static inline uint32_t tfr_codec_check_init(tfr_codec_wrap wrap)
{
    return wrap == TFR_WRAP_ZLIB ? 1u : 0u;
}

#endif
