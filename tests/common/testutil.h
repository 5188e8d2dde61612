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

/*
 * Data-parallel ranks as threads of this process: rank r's tfr_train_comm
 * (test_comm_of) sums meet at a barrier and add in rank order, as
 * tools/mpi.c does across processes. With dev set the comm also has
 * mean_dev_f32, reading the "device" buffers on the host (an emulated
 * device): the rank-order sum times 1 / world. What each rank brought to
 * every 2-value f64 sum (the evaluation's [loss sum, images]) is kept.
 */
struct tfr_train_comm;
struct tfr_train_opts;
typedef struct test_comm test_comm;
test_comm  *test_comm_new(int world, int dev);
struct tfr_train_comm *test_comm_of(test_comm *c, int rank);
/* runs tfr_train(&opts[r]) for every rank, each in its own thread, with
 * opts[r].comm set to rank r's comm; statuses in st[r], messages in errs[r] */
void        test_comm_train(test_comm *c, struct tfr_train_opts *opts, tfr_status *st,
                            tfr_error *errs);
/* rank r's value in its k-th 2-value sum (-1 when none); how many it made */
double      test_comm_pair(const test_comm *c, int rank, int k);
int         test_comm_pairs(const test_comm *c, int rank);
/* how many device means rank r asked for */
int         test_comm_dev_calls(const test_comm *c, int rank);
/* (a comm with dev) gradients also in buckets of at least `floats` during
 * the backward pass (mean_dev_start), averaged at once; how many rank r gave */
void        test_comm_buckets(test_comm *c, size_t floats);
int         test_comm_bucket_calls(const test_comm *c, int rank);
void        test_comm_free(test_comm *c);

#endif
