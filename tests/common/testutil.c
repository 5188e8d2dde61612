/*
 * tests/common/testutil.c - helpers for unit tests.
 */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tfrecord/example.h"
#include "tfrecord/record.h"
#include "tfrecord/train.h"

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

/* ---- data-parallel ranks as threads ---- */
#define TEST_COMM_MAX 8

typedef struct test_rank {
    test_comm     *c;
    int            rank;
    tfr_train_comm comm;
    tfr_train_opts *o;
    tfr_status     st;
    tfr_error     *err;
    double         pair[16];
    int            npair, ndev, nbucket;
} test_rank;

struct test_comm {
    int               world;
    pthread_barrier_t bar;
    void             *data[TEST_COMM_MAX];
    size_t            n[TEST_COMM_MAX];
    int               mismatch;
    test_rank         r[TEST_COMM_MAX];
};

/* every rank's n values (float or double) summed in rank order into its own */
static tfr_status comm_sum(test_rank *r, void *data, size_t n, int f64, float scale,
                           tfr_error *err)
{
    test_comm *c = r->c;
    c->data[r->rank] = data;
    c->n[r->rank] = n;
    pthread_barrier_wait(&c->bar);
    for (int k = 1; k < c->world; k++)
        if (c->n[k] != c->n[0])
            c->mismatch = 1;
    const size_t el = f64 ? sizeof(double) : sizeof(float);
    void *tmp = malloc(n * el + 1);
    for (size_t i = 0; i < n && !c->mismatch; i++) {
        if (f64) {
            double v = ((double *)c->data[0])[i];
            for (int k = 1; k < c->world; k++)
                v += ((double *)c->data[k])[i];
            ((double *)tmp)[i] = v;
        } else {
            float v = ((float *)c->data[0])[i];
            for (int k = 1; k < c->world; k++)
                v += ((float *)c->data[k])[i];
            ((float *)tmp)[i] = scale ? v * scale : v;
        }
    }
    pthread_barrier_wait(&c->bar); /* every rank has read every buffer */
    int bad = c->mismatch;
    if (!bad)
        memcpy(data, tmp, n * el);
    free(tmp);
    return bad ? tfr_fail(err, TFR_ERR_ARG, NULL, "rank %d: the ranks summed different counts",
                          r->rank)
               : TFR_OK;
}

static tfr_status comm_f32(void *user, float *data, size_t n, tfr_error *err)
{
    return comm_sum(user, data, n, 0, 0, err);
}

static tfr_status comm_f64(void *user, double *data, size_t n, tfr_error *err)
{
    test_rank *r = user;
    if (n == 2 && r->npair < 16)
        r->pair[r->npair++] = data[1];
    return comm_sum(r, data, n, 1, 0, err);
}

static tfr_status comm_dev(void *user, float *a, size_t na, float *b, size_t nb, void *stream,
                           tfr_error *err)
{
    test_rank *r = user;
    const float inv = 1.0f / (float)r->c->world;
    r->ndev++;
    tfr_status st = comm_sum(r, a, na, 0, inv, err);
    return st ? st : comm_sum(r, b, nb, 0, inv, err);
}

static tfr_status comm_bucket(void *user, float *g, size_t n, void *stream, tfr_error *err)
{
    test_rank *r = user;
    r->nbucket++;
    return comm_sum(r, g, n, 0, 1.0f / (float)r->c->world, err);
}

void test_comm_buckets(test_comm *c, size_t floats)
{
    for (int k = 0; k < c->world; k++) {
        c->r[k].comm.mean_dev_start = comm_bucket;
        c->r[k].comm.bucket_floats = floats;
    }
}

int test_comm_bucket_calls(const test_comm *c, int rank) { return c->r[rank].nbucket; }

test_comm *test_comm_new(int world, int dev)
{
    if (world < 1 || world > TEST_COMM_MAX)
        return NULL;
    test_comm *c = calloc(1, sizeof *c);
    c->world = world;
    pthread_barrier_init(&c->bar, NULL, (unsigned)world);
    for (int k = 0; k < world; k++) {
        test_rank *r = &c->r[k];
        r->c = c;
        r->rank = k;
        r->comm.rank = k;
        r->comm.world = world;
        r->comm.local_rank = k;
        r->comm.sum_f32 = comm_f32;
        r->comm.sum_f64 = comm_f64;
        r->comm.mean_dev_f32 = dev ? comm_dev : NULL;
        r->comm.user = r;
    }
    return c;
}

tfr_train_comm *test_comm_of(test_comm *c, int rank) { return &c->r[rank].comm; }

static void *rank_thread(void *arg)
{
    test_rank *r = arg;
    r->st = tfr_train(r->o, r->err);
    return NULL;
}

void test_comm_train(test_comm *c, tfr_train_opts *opts, tfr_status *st, tfr_error *errs)
{
    pthread_t th[TEST_COMM_MAX];
    for (int k = 0; k < c->world; k++) {
        c->r[k].o = &opts[k];
        c->r[k].err = &errs[k];
        opts[k].comm = &c->r[k].comm;
        pthread_create(&th[k], NULL, rank_thread, &c->r[k]);
    }
    for (int k = 0; k < c->world; k++) {
        pthread_join(th[k], NULL);
        st[k] = c->r[k].st;
    }
}

double test_comm_pair(const test_comm *c, int rank, int k)
{
    return k < c->r[rank].npair ? c->r[rank].pair[k] : -1;
}

int test_comm_pairs(const test_comm *c, int rank) { return c->r[rank].npair; }
int test_comm_dev_calls(const test_comm *c, int rank) { return c->r[rank].ndev; }

void test_comm_free(test_comm *c)
{
    if (!c)
        return;
    pthread_barrier_destroy(&c->bar);
    free(c);
}
