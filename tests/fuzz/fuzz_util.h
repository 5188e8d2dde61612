/*
 * tests/fuzz/fuzz_util.h - helpers shared by the libFuzzer targets: a
 * per-process scratch folder for the inputs that the library reads by path,
 * a splitter of one input into parts, and TFRecord framing with valid CRCs
 * (so that a target can send the fuzzer's bytes past the checksums).
 */
#ifndef TFR_FUZZ_UTIL_H
#define TFR_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfrecord/record.h"
#include "tfrecord/util.h"

/* A folder of this process under /dev/shm (or TMPDIR, /tmp), made once. */
static inline const char *fz_dir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/tfr-fuzz-%ld", base ? base : "/tmp", (long)getpid());
        tfr_error e;
        if (tfr_mkdir_p(dir, &e)) {
            fprintf(stderr, "fuzz: cannot make %s\n", dir);
            abort();
        }
    }
    return dir;
}

/* Writes n bytes to dir/name; returns the path (static buffer per slot). */
static inline const char *fz_file(int slot, const char *name, const void *p, size_t n)
{
    static char paths[4][600];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fz_dir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
        fprintf(stderr, "fuzz: cannot write %s\n", paths[slot]);
        abort();
    }
    return paths[slot];
}

/* A growable byte buffer; on allocation failure the target gives up (the
 * harness's own memory, not the library's). */
typedef struct fz_buf {
    uint8_t *p;
    size_t   n, cap;
} fz_buf;

static inline void fz_put(fz_buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 64;
        uint8_t *q = realloc(b->p, cap);
        if (!q)
            abort();
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static inline uint32_t fz_mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

/* Appends one TFRecord (length, masked CRCs) holding p[0..n). */
static inline void fz_record(fz_buf *b, const void *p, size_t n)
{
    uint8_t h[12];
    uint64_t len = n;
    for (int i = 0; i < 8; i++)
        h[i] = (uint8_t)(len >> (8 * i));
    uint32_t c = fz_mask(tfr_crc32c(h, 8));
    for (int i = 0; i < 4; i++)
        h[8 + i] = (uint8_t)(c >> (8 * i));
    fz_put(b, h, 12);
    fz_put(b, p, n);
    c = fz_mask(tfr_crc32c(p, n));
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(c >> (8 * i));
    fz_put(b, t, 4);
}

/*
 * The next part of data, cut at the separator "TFRZ" (absent: the rest).
 * Returns 0 when no part is left.
 */
static inline int fz_next_part(const uint8_t **data, size_t *size, const uint8_t **part, size_t *n)
{
    if (!*data)
        return 0;
    const uint8_t *p = *data;
    size_t left = *size;
    const uint8_t *sep = left >= 4 ? memmem(p, left, "TFRZ", 4) : NULL;
    *part = p;
    if (sep) {
        *n = (size_t)(sep - p);
        *data = sep + 4;
        *size = left - *n - 4;
    } else {
        *n = left;
        *data = NULL;
        *size = 0;
    }
    return 1;
}

#endif
