/*
 * train/train.c - the training driver behind tfrecord-train: streams batches
 * from the shards, runs SGD on the CPU model, validates, checkpoints and
 * logs. One data stream per epoch, opened at (seed, epoch), so a resumed
 * run sees exactly the batches an uninterrupted one would. Also the
 * learning-rate schedule, resuming and the per-epoch checkpoints; the
 * evaluation pass is evaluate.c, the CSV and TensorBoard log runlog.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/backend.h"
#include "tfrecord/nn.h"
#include "tfrecord/stream.h"
#include "tfrecord/manifest.h"
#include "tfrecord/util.h"
#include "train/train_impl.h"
#include "util/alloc.h"
#include "util/fsio.h"
#include "util/opts.h"
#include "util/rng.h"

void tfr_train_opts_init(tfr_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->epochs = 1;
    o->batch = 128;
    o->lr = 0.01f;
    o->lr_decay = 0.1f;
    o->lr_every = 64;
    o->momentum = 0.9f;
    o->l2 = 5e-4f;
    o->mean = 0.5f;
    o->std = 0.25f;
    o->log_every = 20;
    o->shuffle_buffer = 8192;
    o->progress = 1;
}

static float lr_at(const tfr_train_opts *o, uint64_t epoch, double frac_epoch)
{
    double t = (double)epoch + frac_epoch;
    double lr = o->lr;
    if (o->cosine)
        lr = o->lr * 0.5 * (1 + cos(M_PI * t / (o->epochs > 0 ? o->epochs : 1)));
    else if (o->lr_every > 0)
        lr = o->lr * pow(o->lr_decay, floor((double)epoch / o->lr_every));
    if (o->warmup_epochs > 0 && t < o->warmup_epochs)
        lr *= t / o->warmup_epochs;
    return (float)lr;
}

tfr_status tfr_train_checkpoint_path(const char *r, char *path, size_t n, tfr_error *err)
{
    struct stat sb;
    if (stat(r, &sb) != 0)
        return tfr_fail_errno(err, TFR_ERR_IO, r, "cannot open checkpoint");
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(path, n, "%s", r);
        return TFR_OK;
    }
    char lp[4400], name[1024] = "";
    tfr_path_join(lp, sizeof lp, r, "latest", NULL);
    FILE *f = fopen(lp, "r");
    if (!f || !fgets(name, sizeof name, f)) {
        if (f)
            fclose(f);
        return tfr_fail(err, TFR_ERR_IO, lp, "no 'latest' checkpoint pointer in this folder");
    }
    fclose(f);
    name[strcspn(name, "\r\n")] = 0;
    if (tfr_path_join(path, n, r, name, NULL))
        return tfr_fail(err, TFR_ERR_ARG, r, "path too long");
    return TFR_OK;
}

/* the next training batch; *waited accumulates the time spent waiting */
static tfr_status next_batch(tfr_stream *s, const tfr_batch **b, double *waited, tfr_error *err)
{
    double t = tfr_now();
    tfr_status st = tfr_stream_next(s, b, err);
    *waited += tfr_now() - t;
    return st;
}

/* hands batch b to the device ahead of its step, with the flips the stream
 * drew for its images (the CPU path applies the same ones in the stream) */
static tfr_status stage(tfr_model *m, const tfr_batch *b, int flip, tfr_error *err)
{
    return tfr_model_stage_u8(m, b->data, b->n, flip ? b->flips : NULL, err);
}

/* hands ev to the caller's report, if it asked for one */
static void emit(const tfr_train_opts *o, tfr_train_event *ev)
{
    ev->epochs = o->epochs;
    if (o->on_event)
        o->on_event(o->user, ev);
}

/* ---- data parallel: ranks of a comm, or replicas in this process ---------- */

#define TFR_MAX_REPLICAS 64

typedef struct par {
    const tfr_train_comm *cm; /* NULL: R replicas here */
    int    R, W;              /* streams here; ranks in all */
    float *acc_g, *acc_s, *s0;
} par;

typedef struct epoch_sums {
    double   loss_sum, waited, comm;
    uint64_t seen, right, k;
    float    lr;
} epoch_sums;

/* a bucket of finished gradients to the comm's device mean */
typedef struct bucket_ctx {
    const tfr_train_comm *cm;
    void                 *stream;
} bucket_ctx;

static tfr_status bucket_ready(void *user, float *grads, size_t n, tfr_error *err)
{
    const bucket_ctx *b = user;
    return b->cm->mean_dev_start(b->cm->user, grads, n, b->stream, err);
}

/* acc = src (first) or acc += src: the rank-order sum of tfr_train_comm */
static void add_block(float *acc, const float *src, size_t n, int first)
{
    if (first)
        memcpy(acc, src, n * sizeof *acc);
    else
        for (size_t i = 0; i < n; i++)
            acc[i] += src[i];
}

static void scale_block(float *v, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        v[i] *= s;
}

/*
 * One epoch of data-parallel steps: a batch of batch / W from each local
 * stream, forward and backward with each, then the gradients and the
 * batch-norm running statistics summed in rank order (here, or by the comm
 * across processes), scaled by 1 / W, and one SGD step.
 */
static tfr_status par_epoch(const tfr_train_opts *o, const char *const *src, int nsrc,
                            tfr_model *m, tfr_train_state *ts, tfr_runlog *rl, uint64_t epoch,
                            par *p, epoch_sums *es, tfr_error *err)
{
    const tfr_resnet_config *c = tfr_model_config(m);
    const int lb = o->batch / p->W;
    tfr_stream *ss[TFR_MAX_REPLICAS] = {0};
    tfr_status st = TFR_OK;
    for (int a = 0; a < p->R && !st; a++) {
        tfr_stream_opts so;
        tfr_train_stream_defaults(&so, m, lb, o->threads, o->mean, o->std);
        so.sources = src;
        so.nsources = nsrc;
        so.seed = ts->seed;
        so.start_epoch = epoch;
        so.epochs = (int)epoch + 1;
        so.shuffle_buffer = o->shuffle_buffer;
        so.random_flip = o->flip;
        so.defer_flip = 0; /* the stream flips: each replica's batch is its own */
        so.pad_crop = o->pad_crop;
        so.random_erase = o->erase;
        so.rank = p->cm ? p->cm->rank : a;
        so.world = p->W;
        so.split_records = 1; /* every rank the same share, none lost but W - 1 */
        st = tfr_stream_open(&so, &ss[a], err);
    }
    uint64_t per_rank = st ? 0 : tfr_stream_epoch_records(ss[0]);
    uint64_t nsteps = per_rank ? (per_rank + (uint64_t)lb - 1) / (uint64_t)lb : 0;
    const double t0 = tfr_now();
    memset(es, 0, sizeof *es);
    while (!st) {
        const tfr_batch *b[TFR_MAX_REPLICAS];
        int ended = 0;
        for (int a = 0; a < p->R && !st; a++) {
            st = next_batch(ss[a], &b[a], &es->waited, err);
            if (st == TFR_ERR_EOF) {
                ended++;
                st = TFR_OK;
            }
        }
        if (st)
            break;
        /* every rank steps, or none: the shares are equal by construction */
        double going = ended ? 0 : 1, tc = tfr_now();
        if (p->cm && (st = p->cm->sum_f64(p->cm->user, &going, 1, err)))
            break;
        es->comm += tfr_now() - tc;
        if (going == 0 && ended == (p->cm ? 1 : p->R))
            break;
        if ((p->cm && going != p->W) || (!p->cm && ended)) {
            st = tfr_fail(err, TFR_ERR_FORMAT, NULL, "the ranks' shares of epoch %llu differ: "
                          "some ranks have batches left and others none",
                          (unsigned long long)epoch + 1);
            break;
        }
        es->lr = lr_at(o, epoch, nsteps ? (double)es->k / nsteps : 0);
        float *g, *stats;
        size_t ng, nstat;
        if (p->R > 1) {
            if ((st = tfr_model_bn_stats(m, &stats, &nstat, err)))
                break;
            memcpy(p->s0, stats, nstat * sizeof *stats);
        }
        float loss = 0;
        /* GPU ranks: the means on the device; rest: the gradients [0, rest)
         * not handed over in buckets during the backward pass */
        const int dev_mean = p->cm && p->cm->mean_dev_f32 && tfr_train_on_device(m);
        size_t rest = tfr_model_num_params(m);
        for (int a = 0; a < p->R && !st; a++) {
            if (a > 0) { /* each replica starts from the step's running statistics */
                if ((st = tfr_model_bn_stats(m, &stats, &nstat, err)))
                    break;
                memcpy(stats, p->s0, nstat * sizeof *stats);
            }
            const float *lg;
            float l;
            if ((st = tfr_train_forward(m, b[a], o->mean, o->std, 1, NULL, err)) ||
                (st = tfr_model_loss_logits(m, &l, &lg, err)))
                break;
            for (int i = 0; i < b[a]->n; i++)
                es->right += tfr_train_argmax(lg + (size_t)i * c->classes, c->classes) ==
                             b[a]->labels[i];
            es->loss_sum += (double)l * b[a]->n;
            es->seen += (uint64_t)b[a]->n;
            loss = l;
            if (dev_mean && p->cm->mean_dev_start) {
                /* buckets of the gradients start their means as backward goes */
                bucket_ctx bc = {p->cm, NULL};
                if ((st = tfr_model_dev_blocks(m, &g, &ng, &stats, &nstat, &bc.stream, err)) ||
                    (st = tfr_model_backward_buckets(
                         m, o->l2, p->cm->bucket_floats ? p->cm->bucket_floats : (size_t)4 << 20,
                         bucket_ready, &bc, &rest, err)))
                    break;
            } else if ((st = tfr_model_backward(m, o->l2, err))) {
                break;
            }
            if (p->R > 1) {
                if ((st = (ng = tfr_model_num_params(m), tfr_model_grads(m, &g, err))) ||
                    (st = tfr_model_bn_stats(m, &stats, &nstat, err)))
                    break;
                add_block(p->acc_g, g, ng, a == 0);
                add_block(p->acc_s, stats, nstat, a == 0);
            }
        }
        if (st)
            break;
        if (dev_mean) {
            /* on the device (NCCL): the means queued behind the backward pass
             * (the gradients not yet handed over in buckets) */
            void *stream;
            double t1 = tfr_now();
            if ((st = tfr_model_dev_blocks(m, &g, &ng, &stats, &nstat, &stream, err)) ||
                (st = p->cm->mean_dev_f32(p->cm->user, g, rest, stats, nstat, stream, err)))
                break;
            es->comm += tfr_now() - t1;
        } else {
            if ((st = (ng = tfr_model_num_params(m), tfr_model_grads(m, &g, err))) ||
                (st = tfr_model_bn_stats(m, &stats, &nstat, err)))
                break;
            if (p->R > 1) {
                memcpy(g, p->acc_g, ng * sizeof *g);
                memcpy(stats, p->acc_s, nstat * sizeof *stats);
            } else {
                double t1 = tfr_now();
                if ((st = p->cm->sum_f32(p->cm->user, g, ng, err)) ||
                    (st = p->cm->sum_f32(p->cm->user, stats, nstat, err)))
                    break;
                es->comm += tfr_now() - t1;
            }
            const float inv = 1.0f / (float)p->W;
            scale_block(g, ng, inv);
            scale_block(stats, nstat, inv);
        }
        if ((st = tfr_model_sgd(m, es->lr, o->momentum, o->weight_decay, err)))
            break;
        es->k++;
        ts->step++;
        if (rl)
            tfr_runlog_step(rl, ts->step, epoch + 1, loss, es->lr, err);
        if (o->on_event) {
            tfr_train_event ev = {.kind = TFR_TRAIN_STEP, .epoch = epoch + 1, .step = ts->step,
                                  .epoch_step = es->k, .epoch_steps = nsteps, .images = es->seen,
                                  .seconds = tfr_now() - t0, .loss = es->loss_sum / es->seen,
                                  .accuracy = (double)es->right / es->seen, .lr = es->lr};
            emit(o, &ev);
        }
    }
    for (int a = 0; a < p->R; a++)
        tfr_stream_close(ss[a]);
    if (!st && p->cm) { /* the epoch's numbers over every rank's images */
        double v[3] = {es->loss_sum, (double)es->right, (double)es->seen};
        if (!(st = p->cm->sum_f64(p->cm->user, v, 3, err))) {
            es->loss_sum = v[0];
            es->right = (uint64_t)v[1];
            es->seen = (uint64_t)v[2];
        }
    }
    return st;
}

/*
 * Evaluation of src: the whole set in this process, or under a comm each
 * rank its own share of the records (split exactly, batches of
 * batch / world as in training) and the sums (images, loss, the confusion
 * matrix) added over the ranks in rank order. Every rank gets the whole
 * result; accuracy and confusion equal one process's, the loss up to the
 * order of its additions.
 */
static tfr_status evaluate_set(const tfr_train_opts *o, const par *p, tfr_model *m,
                               const char *const *src, int nsrc, tfr_eval_result *er,
                               tfr_error *err)
{
    if (!p->cm)
        return tfr_evaluate_flip(m, src, nsrc, o->batch, o->threads, o->mean, o->std,
                                 o->tta_flip, er, err);
    tfr_status st = tfr_train_evaluate_share(m, src, nsrc, o->batch / p->W, o->threads, o->mean,
                                             o->std, o->tta_flip, p->cm->rank, p->W, er, err);
    if (st)
        return st;
    double v[2] = {er->loss * (double)er->images, (double)er->images};
    if ((st = p->cm->sum_f64(p->cm->user, v, 2, err)))
        goto fail;
    /* the confusion matrix, in slices (uint64 counts are exact in doubles
     * below 2^53) */
    const size_t cells = (size_t)er->classes * er->classes;
    enum { SLICE = 4096 };
    double buf[SLICE];
    uint64_t right = 0;
    for (size_t at = 0; at < cells; at += SLICE) {
        const size_t n = cells - at < SLICE ? cells - at : SLICE;
        for (size_t i = 0; i < n; i++)
            buf[i] = (double)er->confusion[at + i];
        if ((st = p->cm->sum_f64(p->cm->user, buf, n, err)))
            goto fail;
        for (size_t i = 0; i < n; i++) {
            er->confusion[at + i] = (uint64_t)buf[i];
            if ((at + i) / (size_t)er->classes == (at + i) % (size_t)er->classes)
                right += er->confusion[at + i];
        }
    }
    er->images = (uint64_t)v[1];
    er->loss = er->images ? v[0] / v[1] : 0;
    er->accuracy = er->images ? (double)right / (double)er->images : 0;
    return TFR_OK;
fail:
    tfr_eval_result_free(er);
    return st;
}

static tfr_status train_run(const tfr_train_opts *o, tfr_error *err)
{
    tfr_status st = TFR_OK;
    tfr_model *m = NULL;
    tfr_train_state ts = {0};
    tfr_runlog *rl = NULL;
    ts.seed = o->seed;
    ts.have_schedule = 1;
    /* which splits: never the test split by accident */
    tfr_train_inputs tin, vin;
    memset(&vin, 0, sizeof vin);
    if ((st = tfr_train_inputs_resolve(o->train, o->ntrain, 1, &tin, err)))
        return st;
    if ((st = tfr_train_inputs_resolve(o->val, o->nval, 0, &vin, err))) {
        tfr_train_inputs_free(&tin);
        return st;
    }
    {
        tfr_train_event ev = {.kind = TFR_TRAIN_INPUT, .text = tin.text};
        emit(o, &ev);
        if (vin.text) {
            ev.text = vin.text;
            emit(o, &ev);
        }
    }
    const char *const *train_src = (const char *const *)tin.sources;
    const char *const *val_src = (const char *const *)vin.sources;
    /* data parallel: the ranks of o->comm, or o->replicas streams here */
    par dp = {0};
    /* a comm of world 1 runs the data-parallel loop too (one rank through
     * the collectives: what a one-GPU check of the NCCL path needs) */
    dp.cm = o->comm && o->comm->world >= 1 ? o->comm : NULL;
    dp.R = dp.cm ? 1 : o->replicas > 1 ? o->replicas : 1;
    dp.W = dp.cm ? dp.cm->world : dp.R;
    const int lead = !dp.cm || dp.cm->rank == 0; /* logs and checkpoints */
    if (dp.cm && o->replicas > 1) {
        st = tfr_fail(err, TFR_ERR_ARG, NULL, "replicas are for one process: under a comm "
                                              "every rank is one replica");
        goto done;
    }
    if (dp.R > TFR_MAX_REPLICAS || (dp.W > 1 && o->batch % dp.W)) {
        st = dp.R > TFR_MAX_REPLICAS
                 ? tfr_fail(err, TFR_ERR_ARG, NULL, "at most %d replicas", TFR_MAX_REPLICAS)
                 : tfr_fail(err, TFR_ERR_ARG, NULL, "--batch %d is the global batch: it must "
                            "divide among the %d ranks", o->batch, dp.W);
        goto done;
    }
    if (dp.cm && (dp.cm->rank < 0 || dp.cm->rank >= dp.cm->world || !dp.cm->sum_f32 ||
                 !dp.cm->sum_f64)) {
        st = tfr_fail(err, TFR_ERR_ARG, NULL, "comm: rank %d of %d, or no sum functions",
                      dp.cm->rank, dp.cm->world);
        goto done;
    }
    if (o->resume) {
        char path[4400];
        if ((st = tfr_train_checkpoint_path(o->resume, path, sizeof path, err)) ||
            (st = tfr_checkpoint_load(path, &m, &ts, err)))
            goto done;
        /* a schedule that changed on resume is said, with what it becomes */
        char said[640] = "";
        if (ts.have_schedule &&
            ((o->cosine && ts.epochs != o->epochs) || ts.cosine != o->cosine || ts.lr != o->lr ||
             ts.lr_every != o->lr_every || ts.lr_decay != o->lr_decay ||
             ts.warmup_epochs != o->warmup_epochs)) {
            tfr_train_opts was = *o;
            was.epochs = ts.epochs;
            was.cosine = ts.cosine;
            was.lr = ts.lr;
            was.lr_every = ts.lr_every;
            was.lr_decay = ts.lr_decay;
            was.warmup_epochs = ts.warmup_epochs;
            snprintf(said, sizeof said,
                     "the learning-rate schedule changed (the run had --lr %g, %s, --epochs %d; "
                     "now --lr %g, %s, --epochs %d): epoch %llu starts at lr %.5g instead of "
                     "%.5g%s",
                     ts.lr, ts.cosine ? "--cosine" : ts.lr_every ? "staircase" : "constant",
                     ts.epochs, o->lr, o->cosine ? "--cosine" : o->lr_every ? "staircase" : "constant",
                     o->epochs, (unsigned long long)ts.epoch + 1, lr_at(o, ts.epoch, 0),
                     lr_at(&was, ts.epoch, 0),
                     o->cosine && ts.epochs != o->epochs
                         ? " (the cosine now spans all the new epochs, so the rate jumps)" : "");
        }
        tfr_train_event ev = {.kind = TFR_TRAIN_RESUMED, .path = path, .epoch = ts.epoch,
                              .step = ts.step, .text = said[0] ? said : NULL};
        emit(o, &ev);
    } else if ((st = tfr_model_new(&o->cfg, o->seed, &m, err))) {
        goto done;
    }
    if (tfr_device_moves(&o->device) &&
        (st = tfr_model_set_device_rank(m, &o->device, dp.cm ? dp.cm->local_rank : 0, err)))
        goto done;
    const tfr_resnet_config *c = tfr_model_config(m);
    if ((st = tfr_train_inputs_check_classes(&tin, c->classes, err)) ||
        (st = tfr_train_inputs_check_classes(&vin, c->classes, err)))
        goto done;
    /* what the model means travels in its checkpoints: the normalization it
     * is trained with and the names of its classes (labels.txt, shifted by
     * the manifest's label offset) */
    tfr_model_set_normalization(m, o->mean, o->std);
    if ((st = tfr_model_set_label_smoothing(m, o->label_smoothing, err)))
        goto done;
    if (!tfr_model_class_names(m, NULL)) {
        char **names;
        int nn, first;
        if ((st = tfr_train_inputs_class_names(&tin, &names, &nn, &first, err)))
            goto done;
        int use = nn < c->classes - first ? nn : c->classes - first; /* never past the model */
        st = use > 0 ? tfr_model_set_class_names(m, (const char *const *)names, use, first, err)
                     : TFR_OK;
        tfr_labels_free(names, nn);
        if (st)
            goto done;
    }
    if (lead && o->logdir && (st = tfr_runlog_open(o->logdir, o->log_every, &rl, err)))
        goto done;
    if (lead && o->checkpoint_dir && (st = tfr_mkdir_p(o->checkpoint_dir, err)))
        goto done;
    if (dp.R > 1) {
        size_t ng = tfr_model_num_params(m), nstat;
        float *stats;
        if ((st = tfr_model_bn_stats(m, &stats, &nstat, err)))
            goto done;
        dp.acc_g = tfr_malloc(ng * sizeof(float));
        dp.acc_s = tfr_malloc((nstat ? nstat : 1) * sizeof(float));
        dp.s0 = tfr_malloc((nstat ? nstat : 1) * sizeof(float));
        if (!dp.acc_g || !dp.acc_s || !dp.s0) {
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for %d replicas' sums", dp.R);
            goto done;
        }
    }
    tfr_train_event mev = {.kind = TFR_TRAIN_MODEL, .model = m};
    emit(o, &mev);
    if (rl)
        tfr_runlog_hparams(rl, o, m, err);
    const char *const *vsrc = o->nval ? val_src : train_src;
    int nvsrc = o->nval ? o->nval : o->ntrain;
    /* under a comm every rank evaluates its share of the validation set and
     * the sums are reduced (evaluate_set) */
    if (!o->resume) {
        /* the sanity check: an untrained model is at chance */
        tfr_eval_result er;
        if ((st = evaluate_set(o, &dp, m, vsrc, nvsrc, &er, err)))
            goto done;
        tfr_train_event ev = {.kind = TFR_TRAIN_BASELINE, .loss = er.loss,
                              .accuracy = er.accuracy, .chance_loss = log((double)c->classes),
                              .chance_accuracy = 1.0 / c->classes, .on_val = o->nval > 0};
        emit(o, &ev);
        if (rl)
            tfr_runlog_baseline(rl, er.loss, er.accuracy, o->nval > 0, err);
        tfr_eval_result_free(&er);
    }
    for (uint64_t epoch = ts.epoch; epoch < (uint64_t)o->epochs; epoch++) {
        epoch_sums es;
        const double t_epoch = tfr_now();
        if (dp.W > 1 || dp.cm) {
            if ((st = par_epoch(o, train_src, o->ntrain, m, &ts, rl, epoch, &dp, &es, err)))
                goto done;
            tfr_train_event pev = {.kind = TFR_TRAIN_PASS_END, .epoch = epoch + 1,
                                   .step = ts.step};
            emit(o, &pev);
        } else {
        tfr_stream_opts so;
        tfr_train_stream_defaults(&so, m, o->batch, o->threads, o->mean, o->std);
        so.sources = train_src;
        so.nsources = o->ntrain;
        so.seed = ts.seed;
        so.start_epoch = epoch;
        so.epochs = (int)epoch + 1;
        so.shuffle_buffer = o->shuffle_buffer;
        /* the stream draws every flip; on a device they are applied there */
        so.random_flip = o->flip;
        so.defer_flip = tfr_train_on_device(m);
        so.pad_crop = o->pad_crop;
        so.random_erase = o->erase;
        tfr_stream *s;
        if ((st = tfr_stream_open(&so, &s, err)))
            goto done;
        uint64_t per_epoch = tfr_stream_epoch_records(s);
        uint64_t nsteps = per_epoch ? (per_epoch + (uint64_t)o->batch - 1) / (uint64_t)o->batch : 0;
        double t0 = tfr_now(), loss_sum = 0, waited = 0;
        uint64_t seen = 0, right = 0, k = 0;
        const tfr_batch *b;
        float lr = lr_at(o, epoch, 0);
        /* On a device step k+1's batch is fetched and its copy started while
         * step k runs, and the host waits once per step, for the loss. */
        const int dev = tfr_train_on_device(m);
        /* set when st is the stream's TFR_ERR_ARG on uint8 batches: for options it
         * accepted at open, tfr_stream_next has no other such error than records
         * of float tensors, which it does not turn into uint8 */
        int refused = 0;
        int32_t *lab = tfr_malloc((size_t)o->batch * sizeof *lab);
        if (!lab)
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
        if (!st) {
            st = next_batch(s, &b, &waited, err);
            refused = dev && st == TFR_ERR_ARG;
            if (!st && rl) /* what the model sees this epoch */
                tfr_runlog_batch_images(rl, epoch + 1, b, o->mean, o->std, so.defer_flip, err);
        }
        if (!st && dev)
            st = stage(m, b, o->flip, err);
        while (st == TFR_OK) {
            lr = lr_at(o, epoch, nsteps ? (double)k / nsteps : 0);
            const int n = b->n;
            memcpy(lab, b->labels, (size_t)n * sizeof *lab);
            float loss;
            tfr_status nst = TFR_OK;
            if ((st = dev ? tfr_model_forward_u8(m, NULL, n, NULL, o->mean, o->std, lab, 1, NULL,
                                                 err)
                          : tfr_train_forward(m, b, o->mean, o->std, 1, &loss, err)) ||
                (st = tfr_model_backward(m, o->l2, err)) ||
                (st = tfr_model_sgd(m, lr, o->momentum, o->weight_decay, err)))
                break;
            const float *lg;
            if (dev) {
                /* the next batch moves to the device behind this step's
                 * work; then one wait brings back the loss and the logits */
                nst = next_batch(s, &b, &waited, err);
                if ((!nst && (st = stage(m, b, o->flip, err))) ||
                    (st = tfr_model_loss_logits(m, &loss, &lg, err)))
                    break;
            } else if ((st = tfr_model_logits(m, &lg, err))) {
                break;
            }
            for (int i = 0; i < n; i++)
                right += tfr_train_argmax(lg + (size_t)i * c->classes, c->classes) == lab[i];
            loss_sum += (double)loss * n;
            seen += (uint64_t)n;
            k++;
            ts.step++;
            if (rl)
                tfr_runlog_step(rl, ts.step, epoch + 1, loss, lr, err);
            if (o->on_event) {
                tfr_train_event ev = {.kind = TFR_TRAIN_STEP, .epoch = epoch + 1, .step = ts.step,
                                      .epoch_step = k, .epoch_steps = nsteps, .images = seen,
                                      .seconds = tfr_now() - t0, .loss = loss_sum / seen,
                                      .accuracy = (double)right / seen, .lr = lr};
                emit(o, &ev);
            }
            st = dev ? nst : next_batch(s, &b, &waited, err);
            refused = dev && st == TFR_ERR_ARG;
        }
        free(lab);
        tfr_stream_close(s);
        tfr_train_event pev = {.kind = TFR_TRAIN_PASS_END, .epoch = epoch + 1, .step = ts.step};
        emit(o, &pev);
        if (refused)
            tfr_fail(err, TFR_ERR_ARG, NULL, "these shards hold float tensors (--layout tensor); "
                                             "the CUDA path reads jpeg or raw layouts: train them "
                                             "with --device cpu");
        if (st != TFR_ERR_EOF)
            goto done;
        st = TFR_OK;
        es.loss_sum = loss_sum;
        es.seen = seen;
        es.right = right;
        es.waited = waited;
        es.lr = lr;
        }
        double secs = tfr_now() - t_epoch;
        double tl = es.seen ? es.loss_sum / es.seen : 0;
        double ta = es.seen ? (double)es.right / es.seen : 0;
        ts.epoch = epoch + 1;
        ts.stream_epoch = epoch + 1;
        ts.stream_records = 0;
        tfr_eval_result er = {0};
        double vl = NAN, va = NAN;
        if (o->nval) {
            if ((st = evaluate_set(o, &dp, m, val_src, o->nval, &er, err)))
                goto done;
            vl = er.loss;
            va = er.accuracy;
            if (va > ts.best_val_acc)
                ts.best_val_acc = va;
            if (rl)
                tfr_runlog_confusion(rl, epoch + 1, &er, m, err);
            tfr_eval_result_free(&er);
        }
        tfr_train_event eev = {.kind = TFR_TRAIN_EPOCH, .epoch = epoch + 1, .step = ts.step,
                               .loss = tl, .accuracy = ta, .val_loss = vl, .val_accuracy = va,
                               .lr = es.lr, .images = es.seen, .seconds = secs,
                               .input_wait = es.waited, .comm_wait = es.comm};
        emit(o, &eev);
        if (rl) {
            tfr_runlog_epoch(rl, &eev, o->nval > 0, err);
            tfr_runlog_histograms(rl, epoch + 1, m, err);
            char hp[4400], pp[4400];
            tfr_error pe;
            if (!tfr_path_join(hp, sizeof hp, o->logdir, "history.csv", NULL) &&
                !tfr_path_join(pp, sizeof pp, o->logdir, "history.png", NULL) &&
                tfr_history_plot(hp, o->plot ? o->plot : pp, NULL, &pe)) {
                char pb[4500];
                tfr_log(TFR_LOG_WARN, "no plot: %s", tfr_error_text(&pe, pb, sizeof pb));
            }
        }
        if (o->checkpoint_dir && lead) {
            char name[64], line[72], p[4400], lp[4400];
            snprintf(name, sizeof name, "epoch-%04llu.tfrc", (unsigned long long)epoch + 1);
            int nl = snprintf(line, sizeof line, "%s\n", name); /* what "latest" holds */
            if (tfr_path_join(p, sizeof p, o->checkpoint_dir, name, NULL) ||
                tfr_path_join(lp, sizeof lp, o->checkpoint_dir, "latest", NULL)) {
                st = tfr_fail(err, TFR_ERR_ARG, o->checkpoint_dir, "path too long");
                goto done;
            }
            ts.have_schedule = 1; /* the schedule this run follows */
            ts.epochs = o->epochs;
            ts.lr_every = o->lr_every;
            ts.cosine = o->cosine;
            ts.warmup_epochs = o->warmup_epochs;
            ts.lr = o->lr;
            ts.lr_decay = o->lr_decay;
            if ((st = tfr_checkpoint_save(p, m, &ts, err)))
                goto done;
            if ((st = tfr_write_file_atomic(lp, NULL, line, (size_t)nl, TFR_ATOMIC_STDIO, err)))
                goto done;
            tfr_train_event cev = {.kind = TFR_TRAIN_CHECKPOINT, .path = p, .epoch = epoch + 1,
                                   .step = ts.step};
            emit(o, &cev);
        }
    }
done:
    free(dp.acc_g);
    free(dp.acc_s);
    free(dp.s0);
    tfr_runlog_close(rl, st == TFR_OK);
    tfr_model_free(m);
    tfr_train_inputs_free(&tin);
    tfr_train_inputs_free(&vin);
    return st;
}

tfr_status tfr_train(const tfr_train_opts *o, tfr_error *err)
{
    TFR_CHECK_OPTS(tfr_train_opts, o, err);
    int prev = tfr_compute_threads();
    if (o->threads > 0)
        tfr_set_compute_threads(o->threads);
    tfr_status st = train_run(o, err);
    tfr_set_compute_threads(prev);
    return st;
}
