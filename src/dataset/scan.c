/*
 * dataset/scan.c - walk a class-per-directory tree (or a flat folder with a
 * labels file) into a sorted list of images, classes and skipped files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfrecord/dataset.h"
#include "dataset/scan_impl.h"
#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/opts.h"
#include "util/rng.h"

typedef struct vec {
    void  *v;
    size_t n, cap, elem;
} vec;

static void *vec_push(vec *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void *p = tfr_realloc(a->v, cap * a->elem);
        if (!p)
            return NULL;
        a->v = p;
        a->cap = cap;
    }
    void *slot = (char *)a->v + a->n * a->elem;
    memset(slot, 0, a->elem);
    a->n++;
    return slot;
}

typedef struct dirid {
    dev_t dev;
    ino_t ino;
} dirid;

typedef struct walker {
    vec         files;    /* tfr_scan_item, cls/split filled by caller */
    vec         skipped;  /* tfr_skip */
    vec         seen;     /* dirid of every directory entered */
    uint64_t    hidden, ignored;
    tfr_error  *err;
    const char *root;
    int         content_later;
} walker;

static tfr_status nomem(walker *w)
{
    return tfr_fail(w->err, TFR_ERR_NOMEM, NULL, "out of memory");
}

static int add_skip(walker *w, const char *path, const char *reason)
{
    tfr_skip *s = vec_push(&w->skipped);
    if (!s)
        return -1;
    s->path = tfr_strdup(path);
    s->reason = tfr_strdup(reason);
    if (s->path && s->reason)
        return 0;
    free(s->path);
    free(s->reason);
    w->skipped.n--;
    return -1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

typedef struct dent {
    char         *name;
    unsigned char type; /* readdir's d_type (DT_UNKNOWN when the file system does not say) */
} dent;

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const dent *)a)->name, ((const dent *)b)->name);
}

/*
 * Sorted names in dir (no . and ..); NULL + errno on failure. With types,
 * *types[i] is names[i]'s d_type (free it with free).
 */
static char **list_dir(const char *dir, size_t *n, unsigned char **types)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    vec v = {.elem = sizeof(dent)};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        dent *slot = vec_push(&v);
        if (!slot || !(slot->name = tfr_strdup(e->d_name))) {
            closedir(d);
            for (size_t i = 0; i + (slot ? 1 : 0) < v.n; i++)
                free(((dent *)v.v)[i].name);
            free(v.v);
            errno = ENOMEM;
            return NULL;
        }
        slot->type = e->d_type;
    }
    closedir(d);
    *n = v.n;
    char **names = tfr_calloc(v.n ? v.n : 1, sizeof *names);
    unsigned char *ty = types ? tfr_calloc(v.n ? v.n : 1, 1) : NULL;
    if (!names || (types && !ty)) {
        for (size_t i = 0; i < v.n; i++)
            free(((dent *)v.v)[i].name);
        free(v.v);
        free(names);
        free(ty);
        errno = ENOMEM;
        return NULL;
    }
    if (v.n) /* glibc declares qsort's argument nonnull */
        qsort(v.v, v.n, sizeof(dent), dent_cmp);
    for (size_t i = 0; i < v.n; i++) {
        names[i] = ((dent *)v.v)[i].name;
        if (ty)
            ty[i] = ((dent *)v.v)[i].type;
    }
    free(v.v);
    if (types)
        *types = ty;
    return names;
}

/* 1 if this directory was entered before (a loop or a second link to it). */
static int seen_dir(walker *w, const struct stat *sb)
{
    /* open-addressing hash set of (dev, ino), grown at half load */
    if (w->seen.n * 2 >= w->seen.cap) {
        size_t cap = w->seen.cap ? w->seen.cap * 2 : 1024;
        dirid *nt = tfr_calloc(cap, sizeof *nt);
        if (!nt)
            return 0;
        dirid *old = w->seen.v;
        for (size_t i = 0; i < w->seen.cap; i++)
            if (old[i].ino || old[i].dev) {
                size_t h = (size_t)tfr_mix64((uint64_t)old[i].dev * 31 + (uint64_t)old[i].ino) & (cap - 1);
                while (nt[h].ino || nt[h].dev)
                    h = (h + 1) & (cap - 1);
                nt[h] = old[i];
            }
        free(old);
        w->seen.v = nt;
        w->seen.cap = cap;
    }
    dirid *t = w->seen.v;
    size_t mask = w->seen.cap - 1;
    size_t h = (size_t)tfr_mix64((uint64_t)sb->st_dev * 31 + (uint64_t)sb->st_ino) & mask;
    while (t[h].ino || t[h].dev) {
        if (t[h].dev == sb->st_dev && t[h].ino == sb->st_ino)
            return 1;
        h = (h + 1) & mask;
    }
    t[h].dev = sb->st_dev;
    t[h].ino = sb->st_ino;
    w->seen.n++;
    return 0;
}

/* Adds a regular file as a candidate; its content is checked later, in
 * parallel. sb NULL: its size and time are read then too (stat_later). */
static tfr_status take_file(walker *w, const char *path, const char *rel, const struct stat *sb,
                            int cls)
{
    tfr_scan_item *it = vec_push(&w->files);
    if (!it)
        return nomem(w);
    it->path = tfr_strdup(path);
    it->rel = tfr_strdup(rel);
    it->cls = cls;
    it->size = sb ? (uint64_t)sb->st_size : 0;
    it->mtime_ns = sb ? (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec : INT64_MIN;
    if (!it->path || !it->rel)
        return nomem(w);
    return TFR_OK;
}

/*
 * Files that come with image folders and are not images: OS debris
 * (Thumbs.db, desktop.ini; ._* and .DS_Store are hidden) and notes, lists
 * and archives by extension. They are "ignored (not an image)", counted
 * apart from damaged images.
 */
static int is_debris(const char *name)
{
    static const char *const names[] = {"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"};
    static const char *const ext[] = {"txt", "md", "json", "csv", "tsv", "xml", "html", "htm",
                                      "ini", "db", "log", "pdf", "zip", "tar", "gz", "py", "sh",
                                      "yaml", "yml", "mat", "npy", "npz"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcasecmp(name, names[i]))
            return 1;
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot + 1, ext[i]))
            return 1;
    return !strncasecmp(name, "readme", 6) || !strncasecmp(name, "license", 7);
}

/* "dir/name", with one slash whatever dir ends with */
static void join(char *out, size_t n, const char *dir, const char *name)
{
    size_t l = strlen(dir);
    snprintf(out, n, "%s%s%s", dir, l && dir[l - 1] == '/' ? "" : "/", name);
}

/* Why a file is not an image, from its first bytes; NULL when it is one.
 * open_it 0: the size alone (the caller reads the content later). */
static const char *sniff(const char *path, uint64_t size, int open_it, char *buf, size_t n)
{
    if (size == 0)
        return "empty file (0 bytes)";
    if (!open_it)
        return NULL;
    unsigned char head[8];
    ssize_t k = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        k = read(fd, head, sizeof head);
        close(fd);
    }
    if (k < 0) {
        snprintf(buf, n, "unreadable: %s", strerror(errno));
        return buf;
    }
    if (k == 0)
        return "empty file (0 bytes)";
    if (tfr_image_format_of(head, (size_t)k) == TFR_IMG_UNKNOWN)
        return TFR_SKIP_NOT_IMAGE;
    return NULL;
}

const char *tfr_scan_not_image(const char *path, uint64_t size, char *buf, size_t n)
{
    return sniff(path, size, 1, buf, n);
}

/*
 * Keeps the candidates [first, n) whose first bytes are JPEG or PNG, moves
 * the others to the skip list. The reads run on all threads.
 */
static tfr_status sniff_range(walker *w, size_t first)
{
    tfr_scan_item *it = w->files.v;
    size_t n = w->files.n - first;
    if (n == 0)
        return TFR_OK;
    char (*why)[300] = tfr_calloc(n, sizeof *why);
    if (!why)
        return nomem(w);
#pragma omp parallel for schedule(dynamic, 64)
    for (size_t i = 0; i < n; i++) {
        char buf[300];
        tfr_scan_item *x = &it[first + i];
        if (x->mtime_ns == INT64_MIN) { /* listed by readdir alone: its size and time now */
            struct stat sb;
            if (stat(x->path, &sb) != 0) {
                snprintf(why[i], sizeof why[i], "%s", strerror(errno));
                continue;
            }
            x->size = (uint64_t)sb.st_size;
            x->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        }
        const char *r = sniff(x->path, x->size, !w->content_later, buf, sizeof buf);
        if (r)
            snprintf(why[i], sizeof why[i], "%s", r);
    }
    size_t keep = first;
    tfr_status st = TFR_OK;
    for (size_t i = 0; i < n; i++) {
        tfr_scan_item x = it[first + i];
        if (why[i][0]) {
            if (!st && add_skip(w, x.path, why[i]))
                st = nomem(w);
            free(x.path);
            free(x.rel);
        } else {
            it[keep++] = x;
        }
    }
    w->files.n = keep;
    free(why);
    return st;
}

/* Walks dir recursively; every image found gets class cls. Regular files
 * that readdir names as such are stat'ed later, in parallel (sniff_range),
 * when the content check is the caller's. */
static tfr_status walk(walker *w, const char *dir, const char *rel, int cls, int depth)
{
    if (depth > 64)
        return add_skip(w, dir, "folder nesting deeper than 64 levels") ? nomem(w) : TFR_OK;
    size_t n;
    unsigned char *types = NULL;
    char **names = list_dir(dir, &n, &types);
    if (!names && errno == ENOMEM) /* not the folder's fault: never a skip */
        return nomem(w);
    if (!names)
        return add_skip(w, dir, strerror(errno)) ? nomem(w) : TFR_OK;
    tfr_status st = TFR_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (names[i][0] == '.') {
            w->hidden++;
            continue;
        }
        char path[4096], r[4096];
        join(path, sizeof path, dir, names[i]);
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        if (types[i] == DT_REG && w->content_later) {
            if (is_debris(names[i])) {
                w->ignored++;
                if (add_skip(w, path, TFR_SKIP_IGNORED))
                    st = nomem(w);
                continue;
            }
            st = take_file(w, path, r, NULL, cls);
            continue;
        }
        struct stat sb;
        if (stat(path, &sb) != 0) {
            struct stat lsb;
            const char *why = lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode)
                                  ? "broken symbolic link" : strerror(errno);
            if (add_skip(w, path, why))
                st = nomem(w);
            continue;
        }
        if (S_ISREG(sb.st_mode) && is_debris(names[i])) {
            w->ignored++;
            if (add_skip(w, path, TFR_SKIP_IGNORED))
                st = nomem(w);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (seen_dir(w, &sb)) {
                if (add_skip(w, path, "folder already scanned (symbolic link loop or second link)"))
                    st = nomem(w);
                continue;
            }
            st = walk(w, path, r, cls, depth + 1);
        } else if (S_ISREG(sb.st_mode)) {
            st = take_file(w, path, r, &sb, cls);
        }
    }
    free_list(names, n);
    free(types);
    return st;
}

/* ---- labels file (Tiny ImageNet val_annotations.txt style) ------------- */

typedef struct lm_ent {
    const char *file, *cls;
    size_t      line;
} lm_ent;

typedef struct label_map {
    char  **file, **cls;
    size_t  n;
    lm_ent *sorted;
} label_map;

/* entries sorted by (file name, line): the last line for a name wins */
static int lm_cmp(const void *a, const void *b)
{
    const lm_ent *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

static tfr_status load_labels(const char *path, label_map *m, tfr_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tfr_fail_errno(err, TFR_ERR_IO, path, "cannot open labels file");
    vec fv = {.elem = sizeof(char *)}, cv = {.elem = sizeof(char *)};
    char line[8192];
    long ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *save, *a = strtok_r(line, " \t\r\n,", &save);
        if (!a || a[0] == '#')
            continue;
        char *b = strtok_r(NULL, " \t\r\n,", &save);
        if (!b) {
            fclose(f);
            return tfr_fail(err, TFR_ERR_FORMAT, path,
                            "line %ld: expected 'FILE CLASS' (whitespace or comma separated)", ln);
        }
        char **x = vec_push(&fv), **y = vec_push(&cv);
        if (!x || !y || !(*x = tfr_strdup(a)) || !(*y = tfr_strdup(b))) {
            fclose(f);
            return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        }
    }
    fclose(f);
    m->file = fv.v;
    m->cls = cv.v;
    m->n = fv.n;
    m->sorted = tfr_malloc((m->n ? m->n : 1) * sizeof *m->sorted);
    if (!m->sorted)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < m->n; i++)
        m->sorted[i] = (lm_ent){m->file[i], m->cls[i], i};
    if (m->n)
        qsort(m->sorted, m->n, sizeof *m->sorted, lm_cmp);
    return TFR_OK;
}

static const char *lm_find(const label_map *m, const char *base)
{
    size_t lo = 0, hi = m->n, hit = (size_t)-1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->sorted[mid].file, base);
        if (c <= 0) {
            if (!c)
                hit = mid;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return hit == (size_t)-1 ? NULL : m->sorted[hit].cls;
}

static void lm_free(label_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->file[i]);
        free(m->cls[i]);
    }
    free(m->file);
    free(m->cls);
    free(m->sorted);
}

/* ---- the scan ------------------------------------------------------------ */

static int split_index(tfr_scan *s, const char *name)
{
    for (int i = 0; i < s->nsplits; i++)
        if (!strcmp(s->split_names[i], name))
            return i;
    if (s->nsplits == TFR_MAX_SPLITS)
        return -1;
    snprintf(s->split_names[s->nsplits], 32, "%s", name);
    return s->nsplits++;
}

/* The deepest existing ancestor of path, resolved, with the rest appended. */
static int canonical(const char *path, char *out, size_t n)
{
    char head[PATH_MAX], tail[PATH_MAX] = "";
    snprintf(head, sizeof head, "%s", path);
    for (;;) {
        char real[PATH_MAX];
        if (realpath(head, real)) {
            if ((size_t)snprintf(out, n, "%s%s", real, tail) >= n)
                return -1;
            return 0;
        }
        char *slash = strrchr(head, '/');
        char t2[PATH_MAX];
        if (!slash) {
            /* a relative name with no existing part: under the working folder */
            if (!realpath(".", real) ||
                (size_t)snprintf(out, n, "%s/%s%s", real, head, tail) >= n)
                return -1;
            return 0;
        }
        snprintf(t2, sizeof t2, "%s%s", slash, tail);
        snprintf(tail, sizeof tail, "%s", t2);
        if (slash == head) {
            if ((size_t)snprintf(out, n, "%s", tail) >= n)
                return -1;
            return 0;
        }
        *slash = 0;
    }
}

/* The output folder must not be the root or inside it. */
static tfr_status check_out_dir(const char *root, const char *out_dir, tfr_error *err)
{
    char r[PATH_MAX], o[PATH_MAX];
    if (canonical(root, r, sizeof r) || canonical(out_dir, o, sizeof o))
        return TFR_OK; /* paths too long to compare: the scan reports them */
    size_t rn = strlen(r);
    if (!strncmp(o, r, rn) && (o[rn] == 0 || o[rn] == '/' || !strcmp(r, "/")))
        return tfr_fail(err, TFR_ERR_ARG, out_dir,
                        "the output folder is %sthe dataset root %s: its shards would be "
                        "scanned as images of a class; choose a folder outside it",
                        o[rn] ? "inside " : "", root);
    return TFR_OK;
}

/*
 * "NAME=PATH" names a split when NAME is a short word without '/' and the
 * whole string is not itself an existing path. Fills name (32 bytes).
 */
static int split_prefix(const char *arg, char *name)
{
    const char *eq = strchr(arg, '=');
    struct stat sb;
    if (!eq || eq == arg || eq - arg >= 32 || stat(arg, &sb) == 0)
        return 0;
    for (const char *p = arg; p < eq; p++)
        if (*p == '/')
            return 0;
    snprintf(name, 32, "%.*s", (int)(eq - arg), arg);
    return 1;
}

double tfr_split_hash(const char *rel)
{
    uint64_t h = tfr_mix64(tfr_fnv1a(TFR_FNV_INIT, rel, strlen(rel)));
    return (double)(h >> 11) * (100.0 / 9007199254740992.0); /* 53 bits -> [0,100) */
}

/* class names found per root before labels are known: index into a name list */
static int class_id(vec *names, const char *name)
{
    char **v = names->v;
    for (size_t i = 0; i < names->n; i++)
        if (!strcmp(v[i], name))
            return (int)i;
    char **slot = vec_push(names);
    if (!slot)
        return -1;
    if (!(*slot = tfr_strdup(name))) {
        names->n--;
        return -1;
    }
    return (int)(names->n - 1);
}

void tfr_scan_opts_init(tfr_scan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

tfr_status tfr_scan_run(const tfr_scan_opts *o, tfr_scan *s, tfr_error *err)
{
    memset(s, 0, sizeof *s);
    TFR_CHECK_OPTS(tfr_scan_opts, o, err);
    walker w = {.files = {.elem = sizeof(tfr_scan_item)},
                .skipped = {.elem = sizeof(tfr_skip)},
                .seen = {.elem = sizeof(dirid)},
                .err = err,
                .content_later = o->content_later};
    vec names = {.elem = sizeof(char *)};
    vec item_split = {.elem = sizeof(int)}; /* explicit split per item, -1 = hash */
    vec root_cls = {.elem = sizeof(int)};   /* class ids of the current root */
    tfr_status st = TFR_OK;
    label_map lm = {0};
    const char *lm_split = NULL;
    char lm_split_buf[32];
    if (o->labels_from) {
        const char *file = o->labels_from;
        if (split_prefix(o->labels_from, lm_split_buf)) {
            lm_split = lm_split_buf;
            file = strchr(o->labels_from, '=') + 1;
        }
        if ((st = load_labels(file, &lm, err)))
            goto done;
    }
    /* hash splits apply to roots without an explicit split */
    double hash_total = 0;
    for (int i = 0; i < o->nsplits; i++)
        hash_total += o->splits[i].percent;
    for (int i = 0; i < o->nsplits; i++)
        if (o->splits[i].percent > 0)
            split_index(s, o->splits[i].name);

    for (int r = 0; r < o->nroots; r++) {
        const char *root = o->roots[r], *split = NULL;
        char splitname[32];
        struct stat sb;
        if (split_prefix(root, splitname)) {
            split = splitname;
            root = strchr(root, '=') + 1;
        }
        if (stat(root, &sb) != 0) {
            st = tfr_fail_errno(err, TFR_ERR_IO, root, "dataset root");
            goto done;
        }
        if (!S_ISDIR(sb.st_mode)) {
            st = tfr_fail(err, TFR_ERR_ARG, root, "dataset root is not a directory");
            goto done;
        }
        if (o->out_dir && (st = check_out_dir(root, o->out_dir, err)))
            goto done;
        int sidx = -1;
        if (split && (sidx = split_index(s, split)) < 0) {
            st = tfr_fail(err, TFR_ERR_ARG, NULL, "too many splits (at most %d)", TFR_MAX_SPLITS);
            goto done;
        }
        size_t first = w.files.n;
        w.root = root;
        seen_dir(&w, &sb);
        int use_labels = lm.n && (!lm_split || (split && !strcmp(split, lm_split)));
        if (use_labels) {
            if ((st = walk(&w, root, "", -1, 0)) || (st = sniff_range(&w, first)))
                goto done;
            /* class from the labels file, by base name */
            tfr_scan_item *it = w.files.v;
            size_t keep = first;
            for (size_t i = first; i < w.files.n; i++) {
                const char *base = strrchr(it[i].rel, '/');
                base = base ? base + 1 : it[i].rel;
                const char *cls = lm_find(&lm, base);
                if (!cls) {
                    int bad = add_skip(&w, it[i].path, "not listed in the labels file");
                    free(it[i].path);
                    free(it[i].rel);
                    if (bad) {
                        for (size_t k = i + 1; k < w.files.n; k++) {
                            free(it[k].path);
                            free(it[k].rel);
                        }
                        w.files.n = keep;
                        st = nomem(&w);
                        goto done;
                    }
                    continue;
                }
                it[i].cls = class_id(&names, cls);
                if (it[i].cls < 0) {
                    /* [first, keep) are kept; [i, n) still own their names */
                    for (size_t k = i; k < w.files.n; k++) {
                        free(it[k].path);
                        free(it[k].rel);
                    }
                    w.files.n = keep;
                    st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                    goto done;
                }
                it[keep++] = it[i];
            }
            w.files.n = keep;
        } else {
            size_t n;
            char **entries = list_dir(root, &n, NULL);
            if (!entries) {
                st = tfr_fail_errno(err, TFR_ERR_IO, root, "cannot list");
                goto done;
            }
            int nclass_dirs = 0;
            for (size_t i = 0; i < n && !st; i++) {
                char path[4096];
                join(path, sizeof path, root, entries[i]);
                if (entries[i][0] == '.') {
                    w.hidden++;
                    continue;
                }
                struct stat cb;
                if (stat(path, &cb) != 0) {
                    if (add_skip(&w, path, "broken symbolic link or unreadable"))
                        st = nomem(&w);
                    continue;
                }
                if (S_ISDIR(cb.st_mode)) {
                    nclass_dirs++;
                    int cid = class_id(&names, entries[i]);
                    int *rc = cid < 0 ? NULL : vec_push(&root_cls);
                    if (!rc) {
                        st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                        break;
                    }
                    *rc = cid;
                    if (seen_dir(&w, &cb))
                        continue;
                    st = walk(&w, path, entries[i], cid, 1);
                } else if (S_ISREG(cb.st_mode)) {
                    if (add_skip(&w, path, "not inside a class folder"))
                        st = nomem(&w);
                }
            }
            free_list(entries, n);
            if (!st)
                st = sniff_range(&w, first);
            if (st)
                goto done;
            /* an empty class is worth a warning, not an error */
            size_t ncls = names.n;
            size_t *per = tfr_calloc(ncls ? ncls : 1, sizeof *per);
            if (!per) {
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                goto done;
            }
            tfr_scan_item *fi = w.files.v;
            for (size_t i = first; per && i < w.files.n; i++)
                per[fi[i].cls]++;
            char **cn = names.v;
            int *rcv = root_cls.v;
            for (size_t q = 0; per && q < root_cls.n; q++)
                if (rcv[q] >= 0 && !per[rcv[q]])
                    tfr_log(TFR_LOG_WARN, "class '%s' in %s has no images", cn[rcv[q]], root);
            root_cls.n = 0;
            free(per);
            if (nclass_dirs == 0) {
                st = tfr_fail(err, TFR_ERR_ARG, root,
                              "no class folders: expected ROOT/<class>/<image> "
                              "(or give --labels-from FILE for a flat folder)");
                goto done;
            }
        }
        for (size_t i = first; i < w.files.n; i++) {
            int *slot = vec_push(&item_split);
            if (!slot) {
                st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
                goto done;
            }
            *slot = sidx;
        }
    }

    /* classes sorted by byte order, remap ids */
    {
        char **nm = names.v;
        size_t nn = names.n;
        int *remap = tfr_malloc((nn ? nn : 1) * sizeof *remap);
        s->classes = tfr_malloc((nn ? nn : 1) * sizeof(char *));
        if (!remap || !s->classes) {
            free(remap);
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
            goto done;
        }
        memcpy(s->classes, nm, nn * sizeof(char *));
        qsort(s->classes, nn, sizeof(char *), name_cmp);
        for (size_t i = 0; i < nn; i++) {
            char **hit = bsearch(&nm[i], s->classes, nn, sizeof(char *), name_cmp);
            remap[i] = (int)(hit - s->classes);
        }
        s->nclasses = (int)nn;
        free(names.v);
        names.v = NULL;
        names.n = 0;
        tfr_scan_item *it = w.files.v;
        int *sp = item_split.v;
        for (size_t i = 0; i < w.files.n; i++) {
            it[i].cls = remap[it[i].cls];
            if (sp[i] >= 0) {
                it[i].split = sp[i];
            } else if (hash_total <= 0) {
                it[i].split = split_index(s, "train");
            } else {
                double h = tfr_split_hash(it[i].rel), acc = 0;
                it[i].split = o->nsplits - 1;
                for (int k = 0; k < o->nsplits; k++) {
                    acc += o->splits[k].percent;
                    if (h < acc) {
                        it[i].split = k;
                        break;
                    }
                }
                it[i].split = split_index(s, o->splits[it[i].split].name);
            }
        }
        free(remap);
    }
    s->items = w.files.v;
    s->nitems = w.files.n;
    w.files.v = NULL;
    s->skipped = w.skipped.v;
    s->nskipped = w.skipped.n;
    w.skipped.v = NULL;
    s->hidden = w.hidden;
    s->ignored = w.ignored;
done:
    lm_free(&lm);
    free(item_split.v);
    free(root_cls.v);
    free(w.seen.v);
    {
        char **nm = names.v;
        for (size_t i = 0; i < names.n; i++)
            free(nm[i]);
        free(names.v);
    }
    if (st) {
        tfr_scan_item *it = w.files.v;
        for (size_t i = 0; i < w.files.n; i++) {
            free(it[i].path);
            free(it[i].rel);
        }
        free(w.files.v);
        tfr_skip *sk = w.skipped.v;
        for (size_t i = 0; i < w.skipped.n; i++) {
            free(sk[i].path);
            free(sk[i].reason);
        }
        free(w.skipped.v);
        tfr_scan_free(s);
    }
    return st;
}

void tfr_scan_free(tfr_scan *s)
{
    for (size_t i = 0; i < s->nitems; i++) {
        free(s->items[i].path);
        free(s->items[i].rel);
    }
    free(s->items);
    for (int i = 0; i < s->nclasses; i++)
        free(s->classes[i]);
    free(s->classes);
    for (size_t i = 0; i < s->nskipped; i++) {
        free(s->skipped[i].path);
        free(s->skipped[i].reason);
    }
    free(s->skipped);
    memset(s, 0, sizeof *s);
}
