/*
 * tfrecord/util.h - small utilities the tools share: JSON output and a
 * minimal JSON reader (manifests), a terminal progress bar, shard path
 * expansion, logging.
 */
#ifndef TFRECORD_UTIL_H
#define TFRECORD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tfrecord/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- logging ------------------------------------------------------------ */

typedef enum tfr_log_level { TFR_LOG_QUIET = 0, TFR_LOG_WARN, TFR_LOG_INFO, TFR_LOG_DEBUG } tfr_log_level;
TFR_API void tfr_log_set_level(tfr_log_level l); /* the only global mutable state */
TFR_API tfr_log_level tfr_log_get_level(void);
/* "prog: warning: ..." on stderr when the level allows */
TFR_API void tfr_log(tfr_log_level l, const char *fmt, ...)
#if defined(__GNUC__)
            __attribute__((format(printf, 2, 3)))
#endif
            ;
TFR_API void tfr_log_set_prog(const char *prog);

/* ---- JSON writing ------------------------------------------------------- */

/* Writes s as a JSON string literal (quotes included), escaping as needed;
 * bytes that are not valid UTF-8 become \u00XX. */
TFR_API void tfr_json_str(FILE *f, const char *s);
TFR_API void tfr_json_strn(FILE *f, const char *s, size_t n);

/* ---- JSON reading (small documents: manifests) ---------------------------- */

typedef enum tfr_json_type {
    TFR_JSON_NULL, TFR_JSON_BOOL, TFR_JSON_NUMBER, TFR_JSON_STRING,
    TFR_JSON_ARRAY, TFR_JSON_OBJECT
} tfr_json_type;

typedef struct tfr_json tfr_json;
struct tfr_json {
    tfr_json_type type;
    double        num;
    int           is_u64;   /* NUMBER written as a plain integer in [0, 2^64) */
    uint64_t      u64;      /* its exact value then (num may have rounded it) */
    int           boolean;
    char         *str;      /* STRING value; object member name in key */
    char         *key;
    tfr_json     *child;    /* first element / member */
    tfr_json     *next;     /* next sibling */
};

/* Parses text (NUL-terminated). On error TFR_ERR_CORRUPT with the byte offset. */
TFR_API tfr_status tfr_json_parse(const char *text, tfr_json **out, tfr_error *err);
/* Reads and parses a file. */
TFR_API tfr_status tfr_json_load(const char *path, tfr_json **out, tfr_error *err);
TFR_API void       tfr_json_free(tfr_json *j);
/* Member of an object, NULL if absent or j is not an object. */
TFR_API const tfr_json *tfr_json_get(const tfr_json *j, const char *key);
TFR_API const char     *tfr_json_get_str(const tfr_json *j, const char *key); /* NULL if not a string */
TFR_API double          tfr_json_get_num(const tfr_json *j, const char *key, double dflt);
/* Writes j as compact JSON. */
TFR_API void            tfr_json_write(FILE *f, const tfr_json *j);

/* ---- progress bar ------------------------------------------------------- */

typedef struct tfr_progress tfr_progress;
/*
 * A one-line bar with rate and ETA on stderr, only when stderr is a
 * terminal and enabled is non-zero; otherwise every call is a no-op.
 * total may be 0 (unknown). unit names what is counted ("img", "MB").
 */
TFR_API tfr_progress *tfr_progress_new(const char *label, double total, const char *unit,
                                       int enabled);
TFR_API void          tfr_progress_update(tfr_progress *p, double done); /* thread-safe */
TFR_API void          tfr_progress_finish(tfr_progress *p);              /* frees */

/* ---- paths ------------------------------------------------------------------ */

/*
 * Expands command-line paths into a sorted list of files: a file is taken
 * as is; a directory gives the regular files in it except hidden files,
 * temporaries and side files (*.json, *.txt, *.md, README, indexes);
 * anything else is tried as a glob. A path
 * that matches nothing is TFR_ERR_IO naming it. *files is malloc'd: free
 * with tfr_paths_free.
 */
TFR_API tfr_status tfr_paths_expand(const char *const *args, int nargs, char ***files,
                                    size_t *nfiles, tfr_error *err);
TFR_API void       tfr_paths_free(char **files, size_t n);

/*
 * Creates dir and every missing parent with mode 0755; existing folders are
 * fine. Fails with TFR_ERR_IO naming the component that could not be made
 * (or that exists and is not a folder).
 */
TFR_API tfr_status tfr_mkdir_p(const char *dir, tfr_error *err);

/* out = a "/" b c (b and c may be NULL); -1 when it does not fit in n. */
TFR_API int tfr_path_join(char *out, size_t n, const char *a, const char *b, const char *c);

/*
 * Threads. The CPU kernels run on the OpenMP pool, of tfr_compute_threads()
 * threads: tfr_set_compute_threads' number, else OpenMP's default
 * (OMP_NUM_THREADS, else every CPU of the affinity mask). Every `threads`
 * option of this library means that number at 0. The tools size the pool
 * to --threads, else OMP_NUM_THREADS, else tfr_cpu_count(): the CPUs this
 * process may use, its affinity mask (taskset, cpusets) capped by its
 * cgroup CPU quota (a container's --cpus), at least 1.
 */
TFR_API int  tfr_cpu_count(void);
/* threads when > 0, else tfr_compute_threads() */
TFR_API int  tfr_threads_or_default(int threads);
/* Sizes the OpenMP compute pool (omp_set_num_threads); 0 = tfr_cpu_count(). */
TFR_API void tfr_set_compute_threads(int n);
TFR_API int  tfr_compute_threads(void);
/* How idle OpenMP threads wait, from the environment libgomp read at start:
 * "spin 20000 then sleep", "passive wait", ... into buf; returns buf. */
TFR_API const char *tfr_wait_policy(char *buf, size_t n);

/* Monotonic seconds. */
TFR_API double tfr_now(void);

/* "1.5 MB", "320 B" into buf; returns buf. */
TFR_API const char *tfr_human_bytes(double b, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
