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

/* ---- two ranks in two threads (testutil's comm over a barrier) ---- */
typedef struct val_seen {
    double acc, loss, base_acc;
} val_seen;

static void record_val(void *user, const tfr_train_event *ev)
{
    val_seen *v = user;
    if (ev->kind == TFR_TRAIN_EPOCH) {
        v->acc = ev->val_accuracy;
        v->loss = ev->val_loss;
    } else if (ev->kind == TFR_TRAIN_BASELINE) {
        v->base_acc = ev->accuracy;
    }
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
    tfr_train_opts o[3];
    val_seen seen[3] = {{0}};
    for (int k = 0; k < 3; k++) {
        base_opts(&o[k], train);
        o[k].val = val;
        o[k].nval = 1;
        o[k].epochs = 1;
        o[k].batch = 16;
        o[k].on_event = record_val;
        o[k].user = &seen[k];
    }
    test_comm *c = test_comm_new(2, 0);
    tfr_status st[2];
    tfr_error errs[2];
    test_comm_train(c, o, st, errs);
    EXPECT_OK(st[0], &errs[0]);
    EXPECT_OK(st[1], &errs[1]);
    /* two evaluations (the untrained baseline, epoch 1), each rank its share */
    EXPECT_EQ_I(test_comm_pairs(c, 0), 2);
    EXPECT_EQ_I(test_comm_pairs(c, 1), 2);
    for (int e = 0; e < 2; e++) {
        EXPECT(test_comm_pair(c, 0, e) == 49);
        EXPECT(test_comm_pair(c, 1, e) == 48);
    }
    test_comm_free(c);
    /* every rank has the whole result, and it is one process's (replicas
     * evaluate the whole set): accuracy exactly, the loss to its rounding */
    EXPECT(seen[0].acc == seen[1].acc && seen[0].loss == seen[1].loss);
    o[2].replicas = 2;
    EXPECT_OK(tfr_train(&o[2], &err), &err);
    if (seen[0].acc != seen[2].acc || seen[0].base_acc != seen[2].base_acc)
        FAILF("split evaluation: accuracy %.6f (baseline %.6f), one process %.6f (%.6f)",
              seen[0].acc, seen[0].base_acc, seen[2].acc, seen[2].base_acc);
    if (!(fabs(seen[0].loss - seen[2].loss) <= 1e-6 * fabs(seen[2].loss)))
        FAILF("split evaluation: loss %.9f, one process %.9f", seen[0].loss, seen[2].loss);
    printf("split evaluation: 2 ranks of 49 + 48 images, accuracy %.4f as one process\n",
           seen[0].acc);
    test_rmtree(dir);
}

/*
 * A comm of world 1 (one rank through the collectives, as a one-GPU check
 * of the NCCL path runs) trains the model of the plain loop, bit for bit.
 */
static void test_world_of_one(void)
{
    const char *dir = test_tmpdir("train_parallel_one");
    char tr[700], ca[700], cb[700];
    snprintf(tr, sizeof tr, "%s/train.tfrecord", dir);
    snprintf(ca, sizeof ca, "%s/plain", dir);
    snprintf(cb, sizeof cb, "%s/comm", dir);
    test_write_colour_shard(tr, 100, 9);
    const char *train[] = {tr};
    tfr_train_opts o[2];
    for (int k = 0; k < 2; k++) {
        base_opts(&o[k], train);
        o[k].flip = 1;
        o[k].pad_crop = 1;
        o[k].checkpoint_dir = k ? cb : ca;
    }
    EXPECT_OK(tfr_train(&o[0], &err), &err);
    test_comm *c = test_comm_new(1, 0);
    tfr_status st[1];
    tfr_error errs[1];
    test_comm_train(c, &o[1], st, errs);
    EXPECT_OK(st[0], &errs[0]);
    test_comm_free(c);
    char pa[800], pb[800];
    snprintf(pa, sizeof pa, "%s/epoch-%04d.tfrc", ca, EPOCHS);
    snprintf(pb, sizeof pb, "%s/epoch-%04d.tfrc", cb, EPOCHS);
    size_t na = 0, nb = 0;
    uint8_t *a = test_read_file(pa, &na), *b = test_read_file(pb, &nb);
    EXPECT(a && b && na > 1000);
    if (a && b && (na != nb || memcmp(a, b, na)))
        FAILF("a comm of world 1 trained another model than the plain loop");
    free(a);
    free(b);
    test_rmtree(dir);
}

int main(void)
{
    test_replicas_against_the_reference();
    test_arguments();
    test_split_evaluation();
    test_world_of_one();
    return test_failures() ? 1 : 0;
}
