/*
 * tools/cli.h - the one strict option-value parser every tool uses.
 *
 * Each function parses one option's value and returns it, or prints one
 * line to stderr and exits with status 2 (bad usage):
 *
 *   tfrecord-train: --width: 'x' is not a number
 *   tfrecord-write: --quality: 300 is out of range (1..100)
 *   tfrecord-write: --layout: 'foo' is not one of jpeg, raw, tensor
 *
 * Numbers are decimal: ints are [-]digits, floats what strtof reads in
 * decimal (1, -0.5, .5, 1e-3). An empty string, blanks, trailing junk,
 * overflow, hex, NaN and infinities are refused.
 * `opt` is the option as the user writes it ("--batch"). Tools only: these
 * call exit(), which the library never does.
 */
#ifndef TFR_TOOLS_CLI_H
#define TFR_TOOLS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/* Sets the tool name the messages start with; call first in main(). */
void cli_init(const char *prog);

/*
 * cli_init, for the tools that compute on OpenMP threads; keeps argv for
 * cli_threads. Unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, a
 * tool with more than one thread starts itself again (in cli_threads) with
 * GOMP_SPINCOUNT=CLI_SPINCOUNT, so that an idle OpenMP thread spins
 * 20000 rounds (tens of microseconds) and then sleeps instead of spinning for a
 * millisecond (libgomp's default). On a shared machine (other processes on
 * the same cores: a CI runner, a shared node, a container's quota) the
 * default's spinning takes the CPU from the threads with work and makes 2
 * threads slower than 1 (tests/bench/bench_threads.sh). A shorter spin
 * (1000) sleeps between the many short parallel regions of a training
 * step: the wake-ups cost oneDNN's training a third of its speed, idle or
 * loaded. OMP_WAIT_POLICY=active restores the spinning.
 */
#define CLI_SPINCOUNT "20000"
void cli_start(const char *prog, char **argv);

/*
 * The one --threads rule: N threads do all of a tool's work (0: the
 * number OMP_NUM_THREADS gives, else every CPU this process may use,
 * tfr_cpu_count()); sizes the OpenMP pool
 * to N and returns N. Call once, after the options are parsed and before
 * any other work (it may start the process again, see cli_start).
 */
int cli_threads(int threads);

/*
 * getopt_long with the tools' one convention. Errors go to stderr as
 * "PROG: message" and a line pointing at --help, and exit 2: an unknown
 * option ("did you mean --batch?" when one is close), a missing value.
 * -h/--help prints usage to stdout and exits 0; --version (add
 * CLI_VERSION_OPTION to the long options) prints "PROG VERSION" and exits
 * 0. Returns what getopt_long returns otherwise (-1 at the end).
 */
#define CLI_VERSION 0x7ffe
#define CLI_VERSION_OPTION {"version", no_argument, 0, CLI_VERSION}
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
               void (*usage)(FILE *));

/* "PROG: <fmt...>" and "Try 'PROG --help' for more information.", exit 2:
 * for a missing operand or required option ("needs --train SHARDS"). */
_Noreturn void cli_usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "PROG: OPT: <fmt...>" (or "PROG: <fmt...>" when opt is NULL) and exits 2. */
_Noreturn void cli_fail(const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An integer in lo..hi. */
int cli_int(const char *opt, const char *s, int lo, int hi);
/* An unsigned 64-bit integer in lo..hi (no sign accepted). */
uint64_t cli_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi);
/* An integer that is one of set[0..n) ("--channels: 2 is not one of 1, 3"). */
int cli_int_choice(const char *opt, const char *s, const int *set, int n);

/*
 * A finite float (parsed as strtof does) in lo..hi; flags make either bound
 * exclusive: --lr is cli_float("--lr", s, 0, INFINITY, CLI_GT_LO).
 */
enum { CLI_GT_LO = 1, CLI_LT_HI = 2 };
float cli_float(const char *opt, const char *s, double lo, double hi, int flags);

/*
 * A byte count: a decimal number (fraction allowed) and an optional unit,
 * any case: B, K/KB/M/MB/G/GB/T/TB (powers of 1000), KiB/MiB/GiB/TiB (of
 * 1024). "200MB" = 200000000, "1MiB" = 1048576, "1.5k" = 1500; the result
 * is truncated to whole bytes and must lie in lo..hi.
 */
uint64_t cli_bytes(const char *opt, const char *s, uint64_t lo, uint64_t hi);

/*
 * Sizes like "WxH" or "HxWxC": form names the parts, separated by 'x'; s must
 * have as many integers, each in lo..hi, separated by 'x' or 'X'; they go
 * to out[0..parts) in order.
 */
void cli_dims(const char *opt, const char *s, const char *form, int *out, int lo, int hi);

/* A comma list of 1..max integers, each in lo..hi ("4,6,3,2"); returns the count. */
int cli_int_list(const char *opt, const char *s, int *out, int max, int lo, int hi);

/*
 * "name0=F,name1=F,...": exactly these names, in this order, each with a
 * float in lo..hi (flags as for cli_float), into out[0..n).
 */
void cli_named_floats(const char *opt, const char *s, const char *const *names, int n,
                      float *out, double lo, double hi, int flags);

/* The index of s in names[0..n) (case-insensitive). */
int cli_enum(const char *opt, const char *s, const char *const *names, int n);

/*
 * Loads a trained model: MODEL is a checkpoint, a folder holding
 * model.tfrc (tfrecord-retrain --out), or a --checkpoint-dir folder (its
 * newest checkpoint, named by 'latest'). Its class names, line i for output
 * i, come from labels (a file) when given, else from the checkpoint, else
 * from labels.txt in MODEL's folder; they are set on the model. path (n
 * bytes) receives the checkpoint's path. On failure prints
 * "PROG: error: ..." and returns -1.
 */
struct tfr_model;
struct tfr_train_state;
int cli_load_model(const char *model, const char *labels, struct tfr_model **m,
                   struct tfr_train_state *ts, char *path, size_t n);

#endif /* TFR_TOOLS_CLI_H */
