/*
 * tests/common/testutil.h - assertion macros and helpers for unit tests.
 * A failed EXPECT prints file:line and the values, and the test goes on;
 * main returns test_failures() ? 1 : 0.
 */
#ifndef TFR_TESTUTIL_H
#define TFR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tfrecord/error.h"

extern int tfr_test_failures;

static inline int test_failures(void) { return tfr_test_failures; }

#define FAILF(...)                                                           \
    do {                                                                     \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                 \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
        tfr_test_failures++;                                                 \
    } while (0)

#define EXPECT(cond)                                                         \
    do {                                                                     \
        if (!(cond))                                                         \
            FAILF("expected %s", #cond);                                     \
    } while (0)

#define EXPECT_EQ_U(a, b)                                                    \
    do {                                                                     \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
        if (a_ != b_)                                                        \
            FAILF("%s == %s: %llu (0x%llx) != %llu (0x%llx)", #a, #b, a_, a_, b_, b_); \
    } while (0)

#define EXPECT_EQ_I(a, b)                                                    \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        if (a_ != b_)                                                        \
            FAILF("%s == %s: %lld != %lld", #a, #b, a_, b_);                 \
    } while (0)

#define EXPECT_STR(a, b)                                                     \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        if (!a_ || !b_ || strcmp(a_, b_))                                    \
            FAILF("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",  \
                  b_ ? b_ : "(null)");                                       \
    } while (0)

#define EXPECT_OK(call, errp)                                                \
    do {                                                                     \
        tfr_status s_ = (call);                                              \
        if (s_ != TFR_OK) {                                                  \
            char b_[4400];                                                   \
            FAILF("%s -> %s: %s", #call, tfr_status_str(s_),                 \
                  tfr_error_text((errp), b_, sizeof b_));                    \
        }                                                                    \
    } while (0)

#define EXPECT_STATUS(call, want)                                            \
    do {                                                                     \
        tfr_status s_ = (call);                                              \
        if (s_ != (want))                                                    \
            FAILF("%s -> %s, expected %s", #call, tfr_status_str(s_),        \
                  tfr_status_str(want));                                     \
    } while (0)

#define EXPECT_CONTAINS(hay, needle)                                         \
    do {                                                                     \
        const char *h_ = (hay);                                              \
        if (!h_ || !strstr(h_, (needle)))                                    \
            FAILF("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", (needle)); \
    } while (0)

/* Deterministic PRNG (splitmix64) for test data. */
uint64_t test_rand(uint64_t *state);
void     test_fill_random(void *buf, size_t n, uint64_t seed);

/* A fresh temporary directory (removed by test_rmtree). Returns static storage. */
const char *test_tmpdir(const char *tag);
int         test_rmtree(const char *path);
int         test_write_file(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'd, caller frees); NULL on failure. */
uint8_t    *test_read_file(const char *path, size_t *n);
/* Runs a shell command, returns its exit status (or -1). */
int         test_system(const char *fmt, ...);
/* A TFRecord file of n raw-layout 8x8x3 Examples of 4 classes (which colour
 * dominates, or none), with noise drawn from seed. */
void        test_write_colour_shard(const char *path, int n, uint64_t seed);

#endif
