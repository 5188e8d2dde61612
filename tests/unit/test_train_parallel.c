/*
 * tests/unit/test_train_parallel.c - data-parallel training in one process
 * (tfr_train_opts.replicas) against a reference written here from the
 * definition: the same model stepped by hand, each step's gradient the
 * mean of the gradients of batch/N images from each of N rank streams
 * (each replica with its own batch-norm statistics, from the step's running
 * statistics), the running statistics the mean of the replicas'. The
 * comm path (MPI ranks) is checked against replicas bit for bit by
 * tests/integration/test_mpi_cli.sh; here two ranks in two threads, with a
 * comm over a barrier, check that evaluation is split between the ranks
 * (each evaluates its own share, no record twice or never) and reduced.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tfrecord/example.h"
#include "tfrecord/nn.h"
#include "tfrecord/record.h"
#include "tfrecord/stream.h"
#include "train/train_impl.h"

static tfr_error err;


enum { N = 3, BATCH = 48, RECORDS = 200, EPOCHS = 2 };

static void base_opts(tfr_train_opts *o, const char *const *train)
{
    tfr_train_opts_init(o);
    o->train = train;
    o->ntrain = 1;
    EXPECT_OK(tfr_resnet_preset("tiny", &o->cfg, &err), &err);
    o->epochs = EPOCHS;
    o->batch = BATCH;
    o->lr = 0.05f;
    o->seed = 7;
    o->threads = 1;
    o->progress = 0;
    o->quiet = 1;
}

/* The reference: N rank streams per epoch, the mean gradient by hand (in
 * double), one SGD step. Returns the images it trained on. */
static uint64_t reference(const tfr_train_opts *o, tfr_model *m)
{
    size_t np = tfr_model_num_params(m), ns;
    float *g, *st;
    EXPECT_OK(tfr_model_bn_stats(m, &st, &ns, &err), &err);
    double *gs = calloc(np, sizeof *gs), *ss = calloc(ns, sizeof *ss);
    float *s0 = malloc(ns * sizeof *s0);
    uint64_t images = 0;
    for (int e = 0; e < o->epochs; e++) {
        tfr_stream *s[N];
        for (int r = 0; r < N; r++) {
            tfr_stream_opts so;
            tfr_train_stream_defaults(&so, m, o->batch / N, o->threads, o->mean, o->std);
            so.sources = o->train;
            so.nsources = o->ntrain;
            so.seed = o->seed;
            so.start_epoch = (uint64_t)e;
            so.epochs = e + 1;
            so.shuffle_buffer = o->shuffle_buffer;
            so.rank = r;
            so.world = N;
            so.split_records = 1;
            EXPECT_OK(tfr_stream_open(&so, &s[r], &err), &err);
        }
        for (;;) {
            const tfr_batch *b[N];
            int ended = 0;
            for (int r = 0; r < N; r++) {
                tfr_status x = tfr_stream_next(s[r], &b[r], &err);
                ended += x == TFR_ERR_EOF;
                if (x && x != TFR_ERR_EOF)
                    EXPECT_OK(x, &err);
            }
            EXPECT(ended == 0 || ended == N); /* the ranks' shares are equal */
            if (ended)
                break;
            EXPECT_OK(tfr_model_bn_stats(m, &st, &ns, &err), &err);
            memcpy(s0, st, ns * sizeof *st);
            memset(gs, 0, np * sizeof *gs);
            memset(ss, 0, ns * sizeof *ss);
            for (int r = 0; r < N; r++) {
                EXPECT_OK(tfr_model_bn_stats(m, &st, &ns, &err), &err);
                memcpy(st, s0, ns * sizeof *st);
                float loss;
                EXPECT_OK(tfr_model_forward(m, b[r]->data, b[r]->n, b[r]->labels, 1, &loss, &err),
                          &err);
                EXPECT_OK(tfr_model_backward(m, o->l2, &err), &err);
                EXPECT_OK(tfr_model_grads(m, &g, &err), &err);
                for (size_t i = 0; i < np; i++)
                    gs[i] += g[i];
                EXPECT_OK(tfr_model_bn_stats(m, &st, &ns, &err), &err);
                for (size_t i = 0; i < ns; i++)
                    ss[i] += st[i];
                images += (uint64_t)b[r]->n;
            }
            EXPECT_OK(tfr_model_grads(m, &g, &err), &err);
            for (size_t i = 0; i < np; i++)
                g[i] = (float)(gs[i] / N);
            EXPECT_OK(tfr_model_bn_stats(m, &st, &ns, &err), &err);
            for (size_t i = 0; i < ns; i++)
                st[i] = (float)(ss[i] / N);
            EXPECT_OK(tfr_model_sgd(m, o->lr, o->momentum, o->weight_decay, &err), &err);
        }
        for (int r = 0; r < N; r++)
            tfr_stream_close(s[r]);
    }
    free(gs);
    free(ss);
    free(s0);
    return images;
}

static uint64_t trained_images;
static void count_images(void *user, const tfr_train_event *ev)
{
    (void)user;
    if (ev->kind == TFR_TRAIN_EPOCH)
        trained_images += ev->images;
}

/* max |a - b| / (1 + |b|) over the parameters and running statistics */
static double model_diff(tfr_model *a, tfr_model *b)
{
    double d = 0;
    for (int blk = 0; blk < 2; blk++) {
        float *x, *y;
        size_t n, n2;
        if (blk) {
            EXPECT_OK(tfr_model_bn_stats(a, &x, &n, &err), &err);
            EXPECT_OK(tfr_model_bn_stats(b, &y, &n2, &err), &err);
        } else {
            n = tfr_model_num_params(a);
            n2 = tfr_model_num_params(b);
            EXPECT_OK(tfr_model_params(a, &x, &err), &err);
            EXPECT_OK(tfr_model_params(b, &y, &err), &err);
        }
        EXPECT(n == n2);
        for (size_t i = 0; i < n && n == n2; i++) {
            double e = fabs((double)x[i] - y[i]) / (1 + fabs((double)y[i]));
            if (e > d)
                d = e;
        }
    }
    return d;
}

static void test_replicas_against_the_reference(void)
{
    const char *dir = test_tmpdir("train_parallel");
    char tr[700], ck[700], ck1[700], p[800];
    snprintf(tr, sizeof tr, "%s/train.tfrecord", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(ck1, sizeof ck1, "%s/ck1", dir);
    test_write_colour_shard(tr, RECORDS, 3);
    const char *train[] = {tr};
    tfr_train_opts o;
    base_opts(&o, train);
    o.replicas = N;
    o.checkpoint_dir = ck;
    o.on_event = count_images;
    trained_images = 0;
    EXPECT_OK(tfr_train(&o, &err), &err);
    tfr_model *got = NULL, *ref = NULL, *one = NULL;
    tfr_train_state ts;
    snprintf(p, sizeof p, "%s/epoch-%04d.tfrc", ck, EPOCHS);
    EXPECT_OK(tfr_checkpoint_load(p, &got, &ts, &err), &err);
    /* every record once per epoch, but the RECORDS % N the equal shares leave out */
    EXPECT_EQ_U(trained_images, (uint64_t)EPOCHS * (RECORDS - RECORDS % N));
    EXPECT_OK(tfr_model_new(&o.cfg, o.seed, &ref, &err), &err);
    uint64_t ref_images = reference(&o, ref);
    EXPECT_EQ_U(ref_images, trained_images);
    double d = model_diff(got, ref);
    if (d > 2e-5)
        FAILF("replicas and the hand-averaged reference differ by %g", d);
    /* and the check can tell: one process on the whole batch is another run */
    base_opts(&o, train);
    o.checkpoint_dir = ck1;
    EXPECT_OK(tfr_train(&o, &err), &err);
    snprintf(p, sizeof p, "%s/epoch-%04d.tfrc", ck1, EPOCHS);
    EXPECT_OK(tfr_checkpoint_load(p, &one, &ts, &err), &err);
    double d1 = model_diff(one, ref);
    if (!(d1 > 100 * d && d1 > 1e-3))
        FAILF("a single process differs from the reference by only %g (replicas: %g)", d1, d);
    tfr_model_free(got);
    tfr_model_free(ref);
    tfr_model_free(one);
}

static void test_arguments(void)
{
    const char *dir = test_tmpdir("train_parallel_args");
    char tr[700];
    snprintf(tr, sizeof tr, "%s/train.tfrecord", dir);
    test_write_colour_shard(tr, 32, 4);
    const char *train[] = {tr};
    tfr_train_opts o;
    base_opts(&o, train);
    o.epochs = 1;
    o.replicas = 5; /* 48 does not divide among 5 */
    EXPECT_STATUS(tfr_train(&o, &err), TFR_ERR_ARG);
    EXPECT_CONTAINS(err.msg, "global batch");
    tfr_train_comm comm = {.rank = 0, .world = 2};
    o.replicas = 2;
    o.comm = &comm;
    EXPECT_STATUS(tfr_train(&o, &err), TFR_ERR_ARG);
    o.replicas = 0;
    EXPECT_STATUS(tfr_train(&o, &err), TFR_ERR_ARG); /* no sum functions */
}

/* ---- two ranks in two threads: a comm over a barrier ---- */
typedef struct tshared {
    pthread_barrier_t bar;
    void             *data[2];
    size_t            n[2];
    int               mismatch;
    /* what each rank brought to the evaluation's sum ([loss sum, images]:
     * the only 2-value sum of the loop) */
    double            eval_images[2][8];
    int               neval[2];
} tshared;

typedef struct trank {
    tshared         *sh;
    int              rank;
    tfr_train_opts   o;
    tfr_train_comm   comm;
    tfr_error        err;
    tfr_status       st;
    double           val_acc, val_loss, base_acc;
} trank;

static tfr_status tsum(trank *r, void *data, size_t n, int f64, tfr_error *e)
{
    tshared *s = r->sh;
    s->data[r->rank] = data;
    s->n[r->rank] = n;
    pthread_barrier_wait(&s->bar);
    const size_t el = f64 ? sizeof(double) : sizeof(float);
    void *tmp = malloc(n * el + 1);
    if (s->n[0] != s->n[1])
        s->mismatch = 1;
    for (size_t i = 0; i < n && !s->mismatch; i++) { /* rank order */
        if (f64)
            ((double *)tmp)[i] = ((double *)s->data[0])[i] + ((double *)s->data[1])[i];
        else
            ((float *)tmp)[i] = ((float *)s->data[0])[i] + ((float *)s->data[1])[i];
    }
    pthread_barrier_wait(&s->bar);
    if (!s->mismatch)
        memcpy(data, tmp, n * el);
    free(tmp);
    return s->mismatch ? tfr_fail(e, TFR_ERR_ARG, NULL, "ranks summed different sizes") : TFR_OK;
}

static tfr_status tsum_f32(void *user, float *data, size_t n, tfr_error *e)
{
    return tsum(user, data, n, 0, e);
}

static tfr_status tsum_f64(void *user, double *data, size_t n, tfr_error *e)
{
    trank *r = user;
    if (n == 2 && r->sh->neval[r->rank] < 8)
        r->sh->eval_images[r->rank][r->sh->neval[r->rank]++] = data[1];
    return tsum(r, data, n, 1, e);
}

static void record_val(void *user, const tfr_train_event *ev)
{
    trank *r = user;
    if (ev->kind == TFR_TRAIN_EPOCH) {
        r->val_acc = ev->val_accuracy;
        r->val_loss = ev->val_loss;
    } else if (ev->kind == TFR_TRAIN_BASELINE) {
        r->base_acc = ev->accuracy;
    }
}

static void *rank_main(void *arg)
{
    trank *r = arg;
    r->st = tfr_train(&r->o, &r->err);
    return NULL;
}

static void test_split_evaluation(void)
{
    const char *dir = test_tmpdir("train_parallel_eval");
    char tr[700], va[700];
    snprintf(tr, sizeof tr, "%s/train.tfrecord", dir);
    snprintf(va, sizeof va, "%s/val.tfrecord", dir);
    test_write_colour_shard(tr, 64, 5);
    test_write_colour_shard(va, 97, 6); /* odd: shares of 49 and 48 */
    const char *train[] = {tr}, *val[] = {va};
    static tshared sh;
    memset(&sh, 0, sizeof sh);
    pthread_barrier_init(&sh.bar, NULL, 2);
    static trank r[2];
    for (int k = 0; k < 2; k++) {
        memset(&r[k], 0, sizeof r[k]);
        r[k].sh = &sh;
        r[k].rank = k;
        base_opts(&r[k].o, train);
        r[k].o.val = val;
        r[k].o.nval = 1;
        r[k].o.epochs = 1;
        r[k].o.batch = 16;
        r[k].comm = (tfr_train_comm){.rank = k, .world = 2, .sum_f32 = tsum_f32,
                                      .sum_f64 = tsum_f64, .user = &r[k]};
        r[k].o.comm = &r[k].comm;
        r[k].o.on_event = record_val;
        r[k].o.user = &r[k];
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        pthread_create(&th[k], NULL, rank_main, &r[k]);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&sh.bar);
    EXPECT_OK(r[0].st, &r[0].err);
    EXPECT_OK(r[1].st, &r[1].err);
    /* two evaluations (the untrained baseline, epoch 1), each rank its share */
    EXPECT_EQ_I(sh.neval[0], 2);
    EXPECT_EQ_I(sh.neval[1], 2);
    for (int e = 0; e < 2; e++) {
        EXPECT(sh.eval_images[0][e] == 49);
        EXPECT(sh.eval_images[1][e] == 48);
    }
    /* every rank has the whole result, and it is one process's (replicas
     * evaluate the whole set): accuracy exactly, the loss to its rounding */
    EXPECT(r[0].val_acc == r[1].val_acc && r[0].val_loss == r[1].val_loss);
    trank one;
    memset(&one, 0, sizeof one);
    base_opts(&one.o, train);
    one.o.val = val;
    one.o.nval = 1;
    one.o.epochs = 1;
    one.o.batch = 16;
    one.o.replicas = 2;
    one.o.on_event = record_val;
    one.o.user = &one;
    EXPECT_OK(tfr_train(&one.o, &err), &err);
    if (r[0].val_acc != one.val_acc || r[0].base_acc != one.base_acc)
        FAILF("split evaluation: accuracy %.6f (baseline %.6f), one process %.6f (%.6f)",
              r[0].val_acc, r[0].base_acc, one.val_acc, one.base_acc);
    if (!(fabs(r[0].val_loss - one.val_loss) <= 1e-6 * fabs(one.val_loss)))
        FAILF("split evaluation: loss %.9f, one process %.9f", r[0].val_loss, one.val_loss);
    printf("split evaluation: 2 ranks of 49 + 48 images, accuracy %.4f as one process\n",
           r[0].val_acc);
    test_rmtree(dir);
}

int main(void)
{
    test_replicas_against_the_reference();
    test_arguments();
    test_split_evaluation();
    return test_failures() ? 1 : 0;
}
