/*
 * util/paths.c - expand command-line paths (files, shard directories, globs)
 * into a sorted file list.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "tfrecord/util.h"
#include "util/alloc.h"

typedef struct list {
    char **v;
    size_t n, cap;
} list;

static int push(list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = tfr_realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = tfr_strdup(s);
    return l->v[l->n++] ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A name in a directory that may be a record file: not hidden, not a
 * temporary, not one of the side files a shard set carries.
 */
static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

/* what a writer leaves while it runs: never a record file to read */
static int temporary(const char *name)
{
    return strstr(name, ".tmp.") || ends_with(name, ".incomplete") || ends_with(name, ".tmp");
}

static int shard_like(const char *name)
{
    static const char *side[] = {".json", ".txt", ".md", ".csv", ".idx", ".index",
                                 ".tfindex", ".py", ".sh", ".png", ".jpg", ".jpeg"};
    if (name[0] == '.' || temporary(name))
        return 0;
    if (!strncasecmp(name, "README", 6) || !strcmp(name, "_SUCCESS"))
        return 0;
    for (size_t i = 0; i < sizeof side / sizeof *side; i++)
        if (ends_with(name, side[i]))
            return 0;
    return 1;
}

void tfr_paths_free(char **files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

tfr_status tfr_paths_expand(const char *const *args, int nargs, char ***files,
                            size_t *nfiles, tfr_error *err)
{
    list l = {0};
    *files = NULL;
    *nfiles = 0;
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i];
        struct stat sb;
        size_t before = l.n;
        if (stat(a, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                DIR *d = opendir(a);
                if (!d) {
                    tfr_paths_free(l.v, l.n);
                    return tfr_fail_errno(err, TFR_ERR_IO, a, "cannot open directory");
                }
                struct dirent *e;
                size_t start = l.n;
                while ((e = readdir(d))) {
                    if (!shard_like(e->d_name))
                        continue;
                    char p[4096];
                    size_t al = strlen(a);
                    snprintf(p, sizeof p, "%s%s%s", a, al && a[al - 1] == '/' ? "" : "/",
                             e->d_name);
                    struct stat fs;
                    if (stat(p, &fs) == 0 && S_ISREG(fs.st_mode) && push(&l, p)) {
                        closedir(d);
                        tfr_paths_free(l.v, l.n);
                        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                    }
                }
                closedir(d);
                if (l.n > start)
                    qsort(l.v + start, l.n - start, sizeof *l.v, cmp);
                if (l.n == before) {
                    tfr_paths_free(l.v, l.n);
                    return tfr_fail(err, TFR_ERR_IO, a,
                                    "no record files in this directory");
                }
            } else if (push(&l, a)) {
                tfr_paths_free(l.v, l.n);
                return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            }
            continue;
        }
        int saved = errno;
        glob_t g;
        int rc = strpbrk(a, "*?[") ? glob(a, 0, NULL, &g) : GLOB_NOMATCH;
        if (rc != 0) {
            if (rc != GLOB_NOMATCH)
                globfree(&g);
            tfr_paths_free(l.v, l.n);
            errno = saved;
            if (strpbrk(a, "*?["))
                return tfr_fail(err, TFR_ERR_IO, a, "no file matches this pattern");
            return tfr_fail_errno(err, TFR_ERR_IO, a, "cannot open");
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            struct stat fs;
            const char *base = strrchr(g.gl_pathv[k], '/');
            if (temporary(base ? base + 1 : g.gl_pathv[k]))
                continue;
            if (stat(g.gl_pathv[k], &fs) == 0 && S_ISREG(fs.st_mode))
                push(&l, g.gl_pathv[k]);
        }
        globfree(&g);
        if (l.n == before) {
            tfr_paths_free(l.v, l.n);
            return tfr_fail(err, TFR_ERR_IO, a, "no regular file matches this pattern");
        }
    }
    *files = l.v;
    *nfiles = l.n;
    return TFR_OK;
}

int tfr_path_join(char *out, size_t n, const char *a, const char *b, const char *c)
{
    int k = snprintf(out, n, "%s%s%s%s", a, b && *b ? "/" : "", b ? b : "", c ? c : "");
    return k < 0 || (size_t)k >= n ? -1 : 0;
}
