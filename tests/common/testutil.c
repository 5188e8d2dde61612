/*
 * tests/common/testutil.c - helpers for unit tests.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tfrecord/example.h"
#include "tfrecord/record.h"

int tfr_test_failures = 0;

uint64_t test_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void test_fill_random(void *buf, size_t n, uint64_t seed)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = test_rand(&seed);
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(p + i, &r, k);
    }
}

const char *test_tmpdir(const char *tag)
{
    static char buf[512];
    const char *base = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/tfr-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(1);
    }
    return buf;
}

int test_rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return -1;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                test_rmtree(sub);
            }
            closedir(d);
        }
        return rmdir(path);
    }
    return unlink(path);
}

int test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t k = n ? fwrite(data, 1, n, f) : 0;
    int rc = fclose(f);
    return (k == n && rc == 0) ? 0 : -1;
}

uint8_t *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    fclose(f);
    *n = len;
    return buf;
}

int test_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

void test_write_colour_shard(const char *path, int n, uint64_t seed)
{
    tfr_error e;
    tfr_example_builder *b;
    EXPECT_OK(tfr_example_builder_new(&b, &e), &e);
    tfr_writer_opts o;
    tfr_writer_opts_init(&o);
    tfr_record_writer *w;
    EXPECT_OK(tfr_record_writer_open(path, &o, &w, &e), &e);
    for (int i = 0; i < n; i++) {
        uint8_t px[8 * 8 * 3];
        int label = (int)(test_rand(&seed) % 4);
        for (int j = 0; j < 64; j++)
            for (int k = 0; k < 3; k++)
                px[j * 3 + k] = (uint8_t)((test_rand(&seed) % 128) + (label == k + 1 ? 80 : 60));
        tfr_example_builder_reset(b);
        tfr_example_add_bytes(b, "image/raw", px, sizeof px, &e);
        tfr_example_add_int64(b, "image/height", 8, &e);
        tfr_example_add_int64(b, "image/width", 8, &e);
        tfr_example_add_int64(b, "image/channels", 3, &e);
        tfr_example_add_int64(b, "image/class/label", label, &e);
        const uint8_t *d;
        size_t len;
        EXPECT_OK(tfr_example_builder_serialize(b, &d, &len, &e), &e);
        EXPECT_OK(tfr_record_writer_append(w, d, len, &e), &e);
    }
    EXPECT_OK(tfr_record_writer_close(w, NULL, &e), &e);
    tfr_example_builder_free(b);
}
