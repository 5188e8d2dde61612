/*
 * tests/unit/test_util.c - the JSON reader/writer the manifests rely on
 * (escapes, \u surrogates, nesting, error offsets, round trip through the
 * writer), path expansion (files, shard folders, globs, errors) and the
 * file helpers (bounded whole-file reads, atomic writes that leave no
 * temporary behind, mkdir -p).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tfrecord/manifest.h"
#include "tfrecord/util.h"
#include "util/fsio.h"
#include "util/threads.h"

static void test_json(void)
{
    tfr_error err;
    tfr_json *j = NULL;
    const char *doc = " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\","
                      " \"o\": {\"k\": \"v\"}, \"e\": []} ";
    EXPECT_OK(tfr_json_parse(doc, &j, &err), &err);
    if (j) {
        const tfr_json *a = tfr_json_get(j, "a");
        EXPECT(a && a->type == TFR_JSON_ARRAY && a->child && a->child->num == 1);
        EXPECT(a && a->child->next->num == -2500);
        EXPECT(a && a->child->next->next->type == TFR_JSON_BOOL && a->child->next->next->boolean);
        EXPECT_STR(tfr_json_get_str(j, "s"), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
        EXPECT_STR(tfr_json_get_str(tfr_json_get(j, "o"), "k"), "v");
        EXPECT(tfr_json_get_num(j, "missing", 42) == 42);
        /* writer -> reader round trip */
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        tfr_json_write(f, j);
        fclose(f);
        tfr_json *k = NULL;
        EXPECT_OK(tfr_json_parse(buf, &k, &err), &err);
        EXPECT_STR(tfr_json_get_str(k, "s"), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
        tfr_json_free(k);
        free(buf);
    }
    tfr_json_free(j);
    /* numbers beyond long long are written as doubles (UBSan checks the
     * conversion), integers as integers */
    EXPECT_OK(tfr_json_parse("[1e300, -1e300, 9.3e18, 18446744073709551615, 12345, "
                             "18446744073709551616, 9007199254740993]",
                             &j, &err),
              &err);
    if (j) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        tfr_json_write(f, j);
        fclose(f);
        /* integers below 2^64 are kept exactly (seeds are any uint64) */
        EXPECT_STR(buf, "[1.0000000000000001e+300, -1.0000000000000001e+300, 9.3e+18, "
                        "18446744073709551615, 12345, 1.8446744073709552e+19, "
                        "9007199254740993]");
        free(buf);
        const tfr_json *c = j->child;
        EXPECT(c && !c->is_u64);
        for (int i = 0; c && i < 3; i++)
            c = c->next;
        EXPECT(c && c->is_u64 && c->u64 == UINT64_MAX);
    }
    tfr_json_free(j);
    /* numbers follow RFC 8259's grammar: no infinities, NaN, hex, leading
     * zeros or bare dots, and nothing that overflows a double */
    static const char *bad[] = {"{", "{\"a\" 1}", "[1,]", "\"\\q\"", "{} x", "", "[\"\x01\"]",
                                "-inf", "[-nan]", "0x10", "01", "[1.]", "[.5]", "-", "1e",
                                "1e+", "[1e400]", "[-1e400]", "[--1]", "[1.5e3.2]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EXPECT_STATUS(tfr_json_parse(bad[i], &j, &err), TFR_ERR_CORRUPT);
        EXPECT_CONTAINS(err.msg, "at byte");
    }
    /* deep nesting is refused, not a stack overflow */
    char deep[300];
    memset(deep, '[', 200);
    deep[200] = 0;
    EXPECT_STATUS(tfr_json_parse(deep, &j, &err), TFR_ERR_CORRUPT);
    /* strings with control and invalid UTF-8 bytes come out as valid JSON */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    tfr_json_str(f, "tab\there \x01 bad\xff end");
    fclose(f);
    EXPECT_STR(buf, "\"tab\\there \\u0001 bad\\u00ff end\"");
    free(buf);
}

/* A manifest's seed is any uint64, kept exactly through save and load;
 * anything that is not one is refused as damage, not converted. */
static void test_manifest_seed(void)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("manifest"));
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    tfr_error err;
    static const struct {
        const char *seed;
        int ok;
        uint64_t want;
    } cases[] = {
        {"18446744073709551615", 1, UINT64_MAX},
        {"9007199254740993", 1, 9007199254740993ull}, /* 2^53 + 1: a double rounds it */
        {"0", 1, 0},
        {"18446744073709551616", 0, 0},
        {"11640700000000000000.0", 0, 0},
        {"1.16407e19", 0, 0},
        {"-1", 0, 0},
        {"1.5", 0, 0},
        {"\"7\"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[400];
        int n = snprintf(doc, sizeof doc,
                         "{\"shards\": [], \"options\": {\"seed\": %s, \"width\": 8}}",
                         cases[i].seed);
        test_write_file(path, doc, (size_t)n);
        tfr_manifest *m = NULL;
        tfr_status st = tfr_manifest_load(path, &m, &err);
        if (cases[i].ok) {
            EXPECT_OK(st, &err);
            EXPECT(m && m->options.seed == cases[i].want && m->options.width == 8);
            /* and back out and in again, unchanged */
            if (m && tfr_manifest_save(path, m, &err) == TFR_OK) {
                tfr_manifest *k = NULL;
                EXPECT_OK(tfr_manifest_load(path, &k, &err), &err);
                EXPECT(k && k->options.seed == cases[i].want);
                tfr_manifest_free(k);
            }
        } else {
            EXPECT_STATUS(st, TFR_ERR_CORRUPT);
            EXPECT_CONTAINS(err.path, "manifest.json");
            EXPECT_CONTAINS(err.msg, "out of range");
        }
        tfr_manifest_free(m);
    }
    test_rmtree(dir);
}

static void test_paths(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("paths"));
    const char *names[] = {"train-00001-of-00002.tfrecord.gz", "train-00000-of-00002.tfrecord.gz",
                           "manifest.json", "labels.txt", ".hidden.tfrecord", "x.tfrecord.gz.tmp.12"};
    for (size_t i = 0; i < 6; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        test_write_file(p, "", 0);
    }
    tfr_error err;
    char **files;
    size_t nf;
    const char *args[1] = {dir};
    EXPECT_OK(tfr_paths_expand(args, 1, &files, &nf, &err), &err);
    EXPECT_EQ_U(nf, 2);
    if (nf == 2) {
        EXPECT_CONTAINS(files[0], "train-00000-of-00002");
        EXPECT_CONTAINS(files[1], "train-00001-of-00002");
    }
    tfr_paths_free(files, nf);
    char glob[700];
    snprintf(glob, sizeof glob, "%s/train-*", dir);
    const char *g[1] = {glob};
    EXPECT_OK(tfr_paths_expand(g, 1, &files, &nf, &err), &err);
    EXPECT_EQ_U(nf, 2);
    tfr_paths_free(files, nf);
    snprintf(glob, sizeof glob, "%s/nothing-*", dir);
    EXPECT_STATUS(tfr_paths_expand(g, 1, &files, &nf, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.msg, "no file matches");
    test_rmtree(dir);
}

/* entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void test_fsio(void)
{
    char dir[600], p[800], q[800];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("fsio"));
    tfr_error err;
    uint8_t *buf;
    size_t n;

    /* whole-file reads: exact bytes, a NUL after them, the limit, errors */
    snprintf(p, sizeof p, "%s/data.bin", dir);
    uint8_t data[100000];
    test_fill_random(data, sizeof data, 7);
    test_write_file(p, data, sizeof data);
    EXPECT_OK(tfr_read_file(p, sizeof data, NULL, &buf, &n, &err), &err);
    EXPECT_EQ_U(n, sizeof data);
    EXPECT(buf && !memcmp(buf, data, sizeof data) && buf[n] == 0);
    free(buf);
    EXPECT_STATUS(tfr_read_file(p, sizeof data - 1, NULL, &buf, &n, &err), TFR_ERR_FORMAT);
    EXPECT(buf == NULL && n == 0);
    EXPECT_CONTAINS(err.path, "data.bin");
    EXPECT_CONTAINS(err.msg, "limit");
    snprintf(q, sizeof q, "%s/missing", dir);
    EXPECT_STATUS(tfr_read_file(q, 100, "checkpoint", &buf, &n, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.msg, "cannot open checkpoint");
    EXPECT_STATUS(tfr_read_file(dir, 100, NULL, &buf, &n, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.msg, "cannot read");
    EXPECT_OK(tfr_read_file("/dev/null", 10, NULL, &buf, &n, &err), &err);
    EXPECT(buf && n == 0 && buf[0] == 0);
    free(buf);

    /* atomic writes: the final file only, with the bytes given */
    snprintf(p, sizeof p, "%s/out.txt", dir);
    EXPECT_OK(tfr_write_file_atomic(p, NULL, "hello\n", 6, 0, &err), &err);
    uint8_t *got = test_read_file(p, &n);
    EXPECT(got && n == 6 && !memcmp(got, "hello\n", 6));
    free(got);
    EXPECT_EQ_I(count_entries(dir), 2);
    tfr_atomic_file af;
    EXPECT_OK(tfr_atomic_open(&af, p, NULL, TFR_ATOMIC_STDIO | TFR_ATOMIC_NOSYNC, &err), &err);
    EXPECT(af.f != NULL);
    EXPECT_CONTAINS(af.tmp, "out.txt.tmp.");
    fputs("again\n", af.f);
    EXPECT_OK(tfr_atomic_commit(&af, &err), &err);
    got = test_read_file(p, &n);
    EXPECT(got && n == 6 && !memcmp(got, "again\n", 6));
    free(got);
    /* abort: the old file stays, the temporary goes */
    snprintf(q, sizeof q, "%s/named.tmp", dir);
    EXPECT_OK(tfr_atomic_open(&af, p, q, 0, &err), &err);
    EXPECT(access(q, F_OK) == 0);
    tfr_write_all(af.fd, "x", 1);
    tfr_atomic_abort(&af);
    tfr_atomic_abort(&af); /* twice is harmless */
    EXPECT(access(q, F_OK) != 0);
    EXPECT_EQ_I(count_entries(dir), 2);
    /* a failing rename (onto a non-empty folder) leaves neither name behind */
    char sub[800], inner[900];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(inner, sizeof inner, "%s/sub/keep", dir);
    EXPECT_OK(tfr_mkdir_p(sub, &err), &err);
    test_write_file(inner, "k", 1);
    EXPECT_STATUS(tfr_write_file_atomic(sub, NULL, "y", 1, 0, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.msg, "rename");
    EXPECT_EQ_I(count_entries(dir), 3);
    /* direct: no temporary, the file is the one named */
    snprintf(q, sizeof q, "%s/direct.log", dir);
    EXPECT_OK(tfr_atomic_open(&af, q, NULL, TFR_ATOMIC_DIRECT, &err), &err);
    EXPECT(access(q, F_OK) == 0 && !strcmp(af.tmp, q));
    EXPECT_OK(tfr_atomic_commit(&af, &err), &err);
    EXPECT(access(q, F_OK) == 0);
    /* cannot create: the error names the temporary */
    snprintf(q, sizeof q, "%s/no/such/folder/x", dir);
    EXPECT_STATUS(tfr_atomic_open(&af, q, NULL, 0, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.path, "x.tmp.");
    EXPECT_CONTAINS(err.msg, "cannot create");
    tfr_atomic_abort(&af);

    /* mkdir -p: nested, repeated, trailing slash; a file in the way fails */
    snprintf(q, sizeof q, "%s/a/b//c/", dir);
    EXPECT_OK(tfr_mkdir_p(q, &err), &err);
    EXPECT_OK(tfr_mkdir_p(q, &err), &err);
    struct stat sb;
    snprintf(q, sizeof q, "%s/a/b/c", dir);
    EXPECT(stat(q, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(q, sizeof q, "%s/out.txt/d", dir);
    EXPECT_STATUS(tfr_mkdir_p(q, &err), TFR_ERR_IO);
    EXPECT_CONTAINS(err.path, "out.txt");
    test_rmtree(dir);
}

static void put_text(const char *dir, const char *rel, const char *text)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    tfr_error err;
    EXPECT_OK(tfr_mkdir_p(p, &err), &err);
    *slash = '/';
    EXPECT(test_write_file(p, text, strlen(text)) == 0);
}

/* The CPU count: the affinity mask capped by the cgroup quota, v2 (the
 * smallest cpu.max of the cgroup and its ancestors) and v1. */
static void test_cpus(void)
{
    const char *d = test_tmpdir("util_cpus");
    char pc[700], root[700];
    snprintf(pc, sizeof pc, "%s/proc-cgroup", d);
    snprintf(root, sizeof root, "%s/sys", d);
    /* v2: no quota at the leaf, 1.5 CPUs on the parent, 4 on the grandparent */
    put_text(d, "proc-cgroup", "0::/a/b/c\n");
    put_text(d, "sys/a/b/c/cpu.max", "max 100000\n");
    put_text(d, "sys/a/b/cpu.max", "150000 100000\n");
    put_text(d, "sys/a/cpu.max", "400000 100000\n");
    EXPECT(tfr_cpu_quota_at(pc, root) == 1.5);
    put_text(d, "sys/a/b/cpu.max", "max 100000\n");
    EXPECT(tfr_cpu_quota_at(pc, root) == 4.0);
    put_text(d, "sys/a/cpu.max", "max\n");
    EXPECT(tfr_cpu_quota_at(pc, root) == 0); /* none */
    /* v1: the cpu controller's line, quota over period */
    put_text(d, "proc-cgroup", "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n0::/\n");
    put_text(d, "sys/cpu/docker/abc/cpu.cfs_quota_us", "200000\n");
    put_text(d, "sys/cpu/docker/abc/cpu.cfs_period_us", "100000\n");
    EXPECT(tfr_cpu_quota_at(pc, root) == 2.0);
    put_text(d, "sys/cpu/docker/abc/cpu.cfs_quota_us", "-1\n");
    EXPECT(tfr_cpu_quota_at(pc, root) == 0);
    EXPECT(tfr_cpu_quota_at("/nonexistent/cgroup", root) == 0);
    /* this process: at least one CPU, never more than the machine has */
    int n = tfr_cpu_count();
    EXPECT(n >= 1 && n <= sysconf(_SC_NPROCESSORS_ONLN));
    EXPECT(tfr_threads_or_default(0) == n && tfr_threads_or_default(3) == 3);
    int prev = tfr_compute_threads();
    tfr_set_compute_threads(3);
    EXPECT(tfr_compute_threads() == 3);
    tfr_set_compute_threads(prev);
    test_rmtree(d);
}

int main(void)
{
    test_cpus();
    test_json();
    test_manifest_seed();
    test_paths();
    test_fsio();
    return test_failures() ? 1 : 0;
}
