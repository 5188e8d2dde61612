/*
 * tools/cli.c - the one strict option-value parser every tool uses.
 *
 * The scanners below work on (pointer, length) so that list items need no
 * copies; each returns SCAN_OK, SCAN_NAN (not a number of the wanted shape)
 * or SCAN_RANGE (a number, but too large for its type), and the public
 * functions turn those into the one-line messages of cli.h.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfrecord/checkpoint.h"
#include "tfrecord/manifest.h"
#include "tfrecord/train.h"
#include "tfrecord/util.h"

enum { SCAN_OK, SCAN_NAN, SCAN_RANGE };

static const char *prog_name = "?";

void cli_init(const char *prog) { prog_name = prog; }

static char **start_argv;

void cli_start(const char *prog, char **argv)
{
    prog_name = prog;
    start_argv = argv;
}

int cli_threads(int threads)
{
    int n = threads;
    if (n <= 0) { /* OMP_NUM_THREADS when it is a plain number, else the CPUs we may use */
        const char *e = getenv("OMP_NUM_THREADS");
        char *end;
        long v = e ? strtol(e, &end, 10) : 0;
        n = e && *e && !*end && v > 0 && v <= 1024 ? (int)v : tfr_cpu_count();
    }
    /* libgomp reads its wait policy once, as it loads, before main(): start
     * again with it set (argv as getopt left it: options first, the same
     * command). One thread never waits for another: no restart. If the exec
     * fails, run on with OpenMP's default. */
    if (n > 1 && start_argv && !getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT") &&
        setenv("GOMP_SPINCOUNT", CLI_SPINCOUNT, 1) == 0) {
        fflush(NULL);
        execv("/proc/self/exe", start_argv);
    }
    tfr_set_compute_threads(n);
    return n;
}

static void try_help(void)
{
    fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
}

void cli_usage_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    try_help();
    exit(2);
}

/* edit distance, for "did you mean" (names are short) */
static int distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int s = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
            d[i][j] = s < x ? (s < y ? s : y) : (x < y ? x : y);
        }
    return d[la][lb];
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
               void (*usage)(FILE *))
{
    char opts[64];
    snprintf(opts, sizeof opts, ":%s", shortopts); /* ':' reports a missing value apart */
    opterr = 0;
    int prev = optind;
    int c = getopt_long(argc, argv, opts, lo, NULL);
    if (c == 'h' && strchr(shortopts, 'h')) {
        if (usage)
            usage(stdout);
        exit(0);
    }
    if (c == CLI_VERSION) {
        printf("%s %s\n", prog_name, TFR_VERSION);
        exit(0);
    }
    if (c != '?' && c != ':')
        return c;
    /* the argument getopt stopped at */
    const char *arg = optind > prev && optind - 1 < argc ? argv[optind - 1] : argv[prev];
    if (optopt && optopt < 256 && (c == ':' || !lo || arg[1] != '-'))
        fprintf(stderr, c == ':' ? "%s: option '-%c' needs a value\n"
                                 : "%s: unknown option '-%c'\n", prog_name, optopt);
    else if (c == ':')
        fprintf(stderr, "%s: option '%s' needs a value\n", prog_name, arg);
    else {
        char name[128];
        snprintf(name, sizeof name, "%s", arg + (arg[0] == '-') + (arg[1] == '-'));
        name[strcspn(name, "=")] = 0;
        const char *best = NULL;
        int bd = 99, nmatch = 0;
        for (const struct option *o = lo; o && o->name; o++) {
            int dd = distance(name, o->name);
            if (!strncmp(o->name, name, strlen(name)))
                nmatch++, dd = dd < 2 ? dd : 2; /* a prefix of several options */
            if (dd < bd) {
                bd = dd;
                best = o->name;
            }
        }
        if (nmatch > 1)
            fprintf(stderr, "%s: option '--%s' is ambiguous\n", prog_name, name);
        else if (best && bd <= 2 + (int)strlen(name) / 6)
            fprintf(stderr, "%s: unknown option '--%s'; did you mean --%s?\n", prog_name, name, best);
        else
            fprintf(stderr, "%s: unknown option '%s'\n", prog_name, arg);
    }
    try_help();
    exit(2);
}

void cli_fail(const char *opt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog_name);
    if (opt)
        fprintf(stderr, "%s: ", opt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    try_help();
    exit(2);
}

/* [-]digits into a sign and a magnitude (overflow past 2^64 is SCAN_RANGE) */
static int scan_digits(const char *s, size_t n, int *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = n > 0 && s[0] == '-';
    i = (size_t)*neg;
    if (i == n)
        return SCAN_NAN;
    uint64_t v = 0;
    int over = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SCAN_NAN;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = 1;
        else
            v = v * 10 + d;
    }
    *mag = v;
    return over ? SCAN_RANGE : SCAN_OK;
}

/* An int in lo..hi; *out is set on SCAN_OK; out-of-range values are SCAN_RANGE. */
static int scan_int(const char *s, size_t n, int lo, int hi, int *out)
{
    int neg;
    uint64_t mag;
    int r = scan_digits(s, n, &neg, &mag);
    if (r != SCAN_OK)
        return r;
    if (mag > (uint64_t)INT64_MAX)
        return SCAN_RANGE;
    int64_t v = neg ? -(int64_t)mag : (int64_t)mag;
    if (v < lo || v > hi)
        return SCAN_RANGE;
    *out = (int)v;
    return SCAN_OK;
}

static void int_range(char *buf, size_t size, long long lo, long long hi, long long max)
{
    if (hi == max)
        snprintf(buf, size, ">= %lld", lo);
    else
        snprintf(buf, size, "%lld..%lld", lo, hi);
}

static _Noreturn void int_fail(const char *opt, const char *shown, int r, int lo, int hi)
{
    char rng[64];
    int_range(rng, sizeof rng, lo, hi, 2147483647LL);
    if (r == SCAN_NAN)
        cli_fail(opt, "'%s' is not a number", shown);
    cli_fail(opt, "%s is out of range (%s)", shown, rng);
}

int cli_int(const char *opt, const char *s, int lo, int hi)
{
    int v = 0;
    int r = scan_int(s, strlen(s), lo, hi, &v);
    if (r != SCAN_OK)
        int_fail(opt, s, r, lo, hi);
    return v;
}

uint64_t cli_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    int neg;
    uint64_t v = 0;
    int r = scan_digits(s, strlen(s), &neg, &v);
    if (r == SCAN_NAN)
        cli_fail(opt, "'%s' is not a number", s);
    if (r == SCAN_RANGE || (neg && v) || v < lo || v > hi) {
        if (hi == UINT64_MAX)
            cli_fail(opt, "%s is out of range (>= %llu)", s, (unsigned long long)lo);
        cli_fail(opt, "%s is out of range (%llu..%llu)", s, (unsigned long long)lo,
                 (unsigned long long)hi);
    }
    return v;
}

/* "a, b, c" from names, or from numbers when names is NULL, into buf */
static const char *join_list(char *buf, size_t size, const char *const *names, const int *nums,
                             int n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < size; i++)
        len += names ? (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", names[i])
                     : (size_t)snprintf(buf + len, size - len, "%s%d", i ? ", " : "", nums[i]);
    return buf;
}

int cli_int_choice(const char *opt, const char *s, const int *set, int n)
{
    int v = 0;
    int r = scan_int(s, strlen(s), -2147483647 - 1, 2147483647, &v);
    if (r == SCAN_NAN)
        cli_fail(opt, "'%s' is not a number", s);
    for (int i = 0; r == SCAN_OK && i < n; i++)
        if (set[i] == v)
            return v;
    char list[256];
    cli_fail(opt, "%s is not one of %s", s, join_list(list, sizeof list, NULL, set, n));
}

/* A float as strtof reads it, decimal only; n < 128 */
static int scan_float(const char *s, size_t n, float *out)
{
    char buf[128];
    if (n == 0 || n >= sizeof buf || strspn(s, "0123456789.eE+-") < n ||
        strcspn(s, "0123456789") >= n)
        return SCAN_NAN;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    float v = strtof(buf, &end);
    if (end != buf + n)
        return SCAN_NAN;
    if (errno == ERANGE || !isfinite(v))
        return SCAN_RANGE;
    *out = v;
    return SCAN_OK;
}

static int float_in(float v, double lo, double hi, int flags)
{
    return (flags & CLI_GT_LO ? v > lo : v >= lo) && (flags & CLI_LT_HI ? v < hi : v <= hi);
}

static _Noreturn void float_fail(const char *opt, const char *shown, int r, double lo, double hi,
                                 int flags)
{
    if (r == SCAN_NAN)
        cli_fail(opt, "'%s' is not a number", shown);
    char rng[96];
    const char *gl = flags & CLI_GT_LO ? "<" : "<=", *lh = flags & CLI_LT_HI ? "<" : "<=";
    if (isinf(hi))
        snprintf(rng, sizeof rng, "%s %g", flags & CLI_GT_LO ? ">" : ">=", lo);
    else if (!flags)
        snprintf(rng, sizeof rng, "%g..%g", lo, hi);
    else
        snprintf(rng, sizeof rng, "%g %s x %s %g", lo, gl, lh, hi);
    cli_fail(opt, "%s is out of range (%s)", shown, rng);
}

float cli_float(const char *opt, const char *s, double lo, double hi, int flags)
{
    float v = 0;
    int r = scan_float(s, strlen(s), &v);
    if (r == SCAN_OK && !float_in(v, lo, hi, flags))
        r = SCAN_RANGE;
    if (r != SCAN_OK)
        float_fail(opt, s, r, lo, hi, flags);
    return v;
}

/* "1TiB", "200MB", "4096" for a range bound */
static void bytes_str(char *buf, size_t size, uint64_t v)
{
    static const char *const bin[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        uint64_t u = 1ull << (10 * (4 - i));
        if (v && v % u == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(v / u), bin[i]);
            return;
        }
    }
    snprintf(buf, size, "%llu", (unsigned long long)v);
}

uint64_t cli_bytes(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    static const struct { const char *name; double mul; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1e3}, {"kb", 1e3}, {"m", 1e6}, {"mb", 1e6},
        {"g", 1e9}, {"gb", 1e9}, {"t", 1e12}, {"tb", 1e12}, {"kib", 1024.0},
        {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
    size_t n = strspn(s, "0123456789.");
    char num[64];
    double mul = -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcasecmp(s + n, units[i].name))
            mul = units[i].mul;
    if (n == 0 || n >= sizeof num || strcspn(s, "0123456789") >= n || mul < 0)
        cli_fail(opt, "'%s' is not a size (like 200MB, 1MiB or 4096)", s);
    memcpy(num, s, n);
    num[n] = 0;
    char *end;
    double v = strtod(num, &end) * mul;
    if (end != num + n)
        cli_fail(opt, "'%s' is not a size (like 200MB, 1MiB or 4096)", s);
    /* range first: a negative or huge double has no uint64_t value */
    if (!(v >= 0 && v < 18446744073709551616.0) || (uint64_t)v < lo || (uint64_t)v > hi) {
        char a[32], b[32];
        bytes_str(a, sizeof a, lo);
        bytes_str(b, sizeof b, hi);
        cli_fail(opt, "%s is out of range (%s..%s)", s, a, b);
    }
    return (uint64_t)v;
}

void cli_dims(const char *opt, const char *s, const char *form, int *out, int lo, int hi)
{
    int parts = 1;
    for (const char *f = form; *f; f++)
        parts += *f == 'x';
    const char *p = s;
    for (int i = 0; i < parts; i++) {
        size_t n = strcspn(p, "xX");
        int last = i == parts - 1;
        if (last != (p[n] == 0))
            cli_fail(opt, "'%s' is not %s", s, form);
        int r = scan_int(p, n, lo, hi, &out[i]);
        if (r == SCAN_NAN)
            cli_fail(opt, "'%s' is not %s", s, form);
        if (r == SCAN_RANGE) {
            /* the part's name: the i-th run of letters in form between the x's */
            const char *f = form;
            for (int k = 0; k < i; k++)
                f = strchr(f, 'x') + 1;
            char rng[64];
            int_range(rng, sizeof rng, lo, hi, 2147483647LL);
            cli_fail(opt, "%.*s=%.*s is out of range (%s)", (int)strcspn(f, "x"), f, (int)n, p,
                     rng);
        }
        p += n + !last;
    }
}

int cli_int_list(const char *opt, const char *s, int *out, int max, int lo, int hi)
{
    int count = 0;
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, ",");
        if (count == max)
            cli_fail(opt, "'%s' has more than %d numbers", s, max);
        int r = scan_int(p, n, lo, hi, &out[count]);
        if (r == SCAN_NAN)
            cli_fail(opt, "'%s' is not a comma list of numbers (like 4,6,3,2)", s);
        if (r == SCAN_RANGE) {
            char rng[64];
            int_range(rng, sizeof rng, lo, hi, 2147483647LL);
            cli_fail(opt, "%.*s is out of range (%s)", (int)n, p, rng);
        }
        count++;
        if (!p[n])
            return count;
        p += n + 1;
    }
}

void cli_named_floats(const char *opt, const char *s, const char *const *names, int n,
                      float *out, double lo, double hi, int flags)
{
    char form[256];
    size_t len = 0;
    form[0] = 0;
    for (int i = 0; i < n && len < sizeof form; i++)
        len += (size_t)snprintf(form + len, sizeof form - len, "%s%s=F", i ? "," : "", names[i]);
    const char *p = s;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(names[i]);
        if (strncmp(p, names[i], k) || p[k] != '=')
            cli_fail(opt, "'%s' is not %s", s, form);
        p += k + 1;
        size_t m = strcspn(p, ",");
        int last = i == n - 1;
        if (last != (p[m] == 0))
            cli_fail(opt, "'%s' is not %s", s, form);
        int r = scan_float(p, m, &out[i]);
        if (r == SCAN_OK && !float_in(out[i], lo, hi, flags))
            r = SCAN_RANGE;
        if (r == SCAN_NAN)
            cli_fail(opt, "'%s' is not %s", s, form);
        if (r == SCAN_RANGE) {
            char shown[160];
            snprintf(shown, sizeof shown, "%s=%.*s", names[i], (int)m, p);
            float_fail(opt, shown, r, lo, hi, flags);
        }
        p += m + !last;
    }
}

int cli_enum(const char *opt, const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(s, names[i]))
            return i;
    char list[256];
    cli_fail(opt, "'%s' is not one of %s", s, join_list(list, sizeof list, names, NULL, n));
}

int cli_load_model(const char *model, const char *labels, tfr_model **m, tfr_train_state *ts,
                   char *path, size_t n)
{
    char lp[4400] = "", buf[4400];
    struct stat sb;
    tfr_error err;
    tfr_error_clear(&err);
    *m = NULL;
    if (stat(model, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        tfr_path_join(path, n, model, "model.tfrc", NULL);
        tfr_path_join(lp, sizeof lp, model, TFR_LABELS_NAME, NULL);
        /* a --checkpoint-dir folder: the newest checkpoint, its 'latest' */
        if (access(path, F_OK) != 0 && tfr_train_checkpoint_path(model, path, n, &err)) {
            fprintf(stderr, "%s: error: %s: no model.tfrc (tfrecord-retrain --out) and %s\n",
                    prog_name, model, tfr_error_text(&err, buf, sizeof buf));
            return -1;
        }
    } else {
        snprintf(path, n, "%s", model);
    }
    if (tfr_checkpoint_load(path, m, ts, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog_name, tfr_error_text(&err, buf, sizeof buf));
        return -1;
    }
    /* --labels, else the checkpoint's names, else labels.txt beside model.tfrc */
    const char *from = labels ? labels : tfr_model_class_names(*m, NULL) ? NULL : lp;
    if (!from || !from[0] || (!labels && access(from, F_OK) != 0))
        return 0;
    char **lines = NULL;
    int nlines = 0;
    if (tfr_labels_load(from, tfr_model_config(*m)->classes, &lines, &nlines, &err) ||
        tfr_model_set_class_names(*m, (const char *const *)lines, nlines, 0, &err)) {
        fprintf(stderr, "%s: error: %s\n", prog_name, tfr_error_text(&err, buf, sizeof buf));
        tfr_labels_free(lines, nlines);
        tfr_model_free(*m);
        *m = NULL;
        return -1;
    }
    tfr_labels_free(lines, nlines);
    return 0;
}
