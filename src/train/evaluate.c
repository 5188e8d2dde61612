/*
 * train/evaluate.c - tfr_evaluate (accuracy, mean cross-entropy and the
 * confusion matrix of a model over a shard set) and the stream set-up and
 * forward pass it shares with the training loop.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"
#include "tfrecord/util.h"
#include "util/alloc.h"

int tfr_train_argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

int tfr_train_on_device(const tfr_model *m) { return tfr_model_device_kind(m) != TFR_DEVICE_CPU; }

void tfr_train_stream_defaults(tfr_stream_opts *so, const tfr_model *m, int batch, int threads,
                               float mean, float std)
{
    const tfr_resnet_config *c = tfr_model_config(m);
    tfr_stream_opts_init(so);
    so->batch_size = batch;
    /* one rule: the run's threads decode (and, on the CPU, compute); on the
     * CPU they take turns (on_demand), so never twice as many run at once */
    so->threads = threads > 0 ? threads : tfr_compute_threads();
    so->on_demand = !tfr_train_on_device(m);
    so->width = c->in_w;
    so->height = c->in_h;
    so->channels = c->in_c == 1 ? 1 : 3;
    so->num_classes = c->classes; /* a label the model has no class for stops the stream */
    so->format = tfr_train_on_device(m) ? TFR_BATCH_U8_NHWC : TFR_BATCH_F32_NCHW;
    for (int k = 0; k < 3; k++) {
        so->mean[k] = mean;
        so->std[k] = std;
    }
}

tfr_status tfr_train_forward(tfr_model *m, const tfr_batch *b, float mean, float std, int train,
                             float *loss, tfr_error *err)
{
    if (tfr_train_on_device(m))
        return tfr_model_forward_u8(m, b->data, b->n, NULL, mean, std, b->labels, train, loss, err);
    return tfr_model_forward(m, b->data, b->n, b->labels, train, loss, err);
}

/* softmax of logits l (k) added to p */
static void add_softmax(const float *l, int k, double *p)
{
    float mx = l[tfr_train_argmax(l, k)];
    double z = 0;
    for (int j = 0; j < k; j++)
        z += exp((double)l[j] - mx);
    for (int j = 0; j < k; j++)
        p[j] += exp((double)l[j] - mx) / z;
}

/* the batch mirrored left-right into out (float NCHW or NHWC) */
static void mirror(const tfr_batch *b, float *out)
{
    const float *x = b->data;
    if (b->format == TFR_BATCH_F32_NCHW) {
        const size_t rows = (size_t)b->n * b->c * b->h;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < b->w; j++)
                out[r * b->w + j] = x[r * b->w + (b->w - 1 - j)];
    } else {
        const size_t rows = (size_t)b->n * b->h;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < b->w; j++)
                memcpy(out + (r * b->w + j) * b->c, x + (r * b->w + (b->w - 1 - j)) * b->c,
                       (size_t)b->c * sizeof(float));
    }
}

/* the second, mirrored pass of flip averaging: probabilities into p */
static tfr_status mirrored_pass(tfr_model *m, const tfr_batch *b, float mean, float std,
                                float *buf, uint8_t *ones, double *p, tfr_error *err)
{
    const int k = tfr_model_config(m)->classes;
    tfr_status st;
    if (tfr_train_on_device(m)) {
        st = tfr_model_forward_u8(m, b->data, b->n, ones, mean, std, b->labels, 0, NULL, err);
    } else {
        mirror(b, buf);
        st = tfr_model_forward(m, buf, b->n, b->labels, 0, NULL, err);
    }
    const float *lg;
    if (st || (st = tfr_model_logits(m, &lg, err)))
        return st;
    for (int i = 0; i < b->n; i++)
        add_softmax(lg + (size_t)i * k, k, p + (size_t)i * k);
    return TFR_OK;
}

static tfr_status evaluate(tfr_model *m, const char *const *src, int nsrc, int batch, int threads,
                           float mean, float std, int flip, int rank, int world,
                           tfr_eval_result *res, tfr_error *err)
{
    memset(res, 0, sizeof *res);
    const tfr_resnet_config *c = tfr_model_config(m);
    tfr_stream_opts so;
    tfr_train_stream_defaults(&so, m, batch, threads, mean, std);
    so.sources = src;
    so.nsources = nsrc;
    so.shuffle_buffer = 1;
    so.shuffle_files = 0;
    so.rank = rank;
    so.world = world;
    so.split_records = world > 1 ? TFR_SPLIT_EXACT : 0; /* every record by one rank */
    res->classes = c->classes;
    res->confusion = tfr_calloc((size_t)c->classes * c->classes, sizeof *res->confusion);
    if (!res->confusion)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    tfr_stream *s;
    tfr_status st = tfr_stream_open(&so, &s, err);
    if (st) {
        tfr_eval_result_free(res);
        return st;
    }
    const tfr_batch *b;
    double loss_sum = 0;
    uint64_t right = 0;
    /* flip averaging: mean probabilities per image, the mirrored batch, all-1 flips */
    const int k = c->classes;
    double *prob = NULL;
    float *buf = NULL;
    uint8_t *ones = NULL;
    if (flip) {
        size_t px = (size_t)batch * c->in_c * c->in_h * c->in_w;
        prob = tfr_malloc((size_t)batch * k * sizeof *prob);
        buf = tfr_malloc(px * sizeof *buf);
        ones = tfr_malloc((size_t)batch);
        if (!prob || !buf || !ones)
            st = tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory for flip averaging");
        else
            memset(ones, 1, (size_t)batch);
    }
    while (!st && (st = tfr_stream_next(s, &b, err)) == TFR_OK) {
        float loss;
        const float *lg;
        /* on a device one wait brings back the loss and the logits */
        if ((st = tfr_train_forward(m, b, mean, std, 0, NULL, err)) ||
            (st = tfr_model_loss_logits(m, &loss, &lg, err)))
            break;
        if (flip) {
            memset(prob, 0, (size_t)b->n * k * sizeof *prob);
            for (int i = 0; i < b->n; i++)
                add_softmax(lg + (size_t)i * k, k, prob + (size_t)i * k);
            if ((st = mirrored_pass(m, b, mean, std, buf, ones, prob, err)))
                break;
            loss = 0;
        }
        for (int i = 0; i < b->n; i++) {
            int y = b->labels[i], p;
            if (flip) {
                const double *q = prob + (size_t)i * k;
                p = 0;
                for (int j = 1; j < k; j++)
                    if (q[j] > q[p])
                        p = j;
                double py = y >= 0 && y < k ? q[y] / 2 : 0;
                loss += (float)(-log(py > 1e-30 ? py : 1e-30) / b->n);
            } else {
                p = tfr_train_argmax(lg + (size_t)i * k, k);
            }
            right += p == y;
            if (y >= 0 && y < k)
                res->confusion[(size_t)y * k + p]++;
        }
        loss_sum += (double)loss * b->n;
        res->images += (uint64_t)b->n;
    }
    free(prob);
    free(buf);
    free(ones);
    tfr_stream_close(s);
    if (st != TFR_ERR_EOF) {
        tfr_eval_result_free(res);
        return st;
    }
    if (res->images) {
        res->accuracy = (double)right / (double)res->images;
        res->loss = loss_sum / (double)res->images;
    }
    return TFR_OK;
}

tfr_status tfr_evaluate_flip(tfr_model *m, const char *const *src, int nsrc, int batch,
                             int threads, float mean, float std, int flip, tfr_eval_result *res,
                             tfr_error *err)
{
    return tfr_train_evaluate_share(m, src, nsrc, batch, threads, mean, std, flip, 0, 1, res, err);
}

tfr_status tfr_train_evaluate_share(tfr_model *m, const char *const *src, int nsrc, int batch,
                                    int threads, float mean, float std, int flip, int rank,
                                    int world, tfr_eval_result *res, tfr_error *err)
{
    int prev = tfr_compute_threads();
    if (threads > 0)
        tfr_set_compute_threads(threads);
    tfr_status st = evaluate(m, src, nsrc, batch, threads, mean, std, flip, rank, world, res, err);
    tfr_set_compute_threads(prev);
    return st;
}

tfr_status tfr_evaluate(tfr_model *m, const char *const *src, int nsrc, int batch, int threads,
                        float mean, float std, tfr_eval_result *res, tfr_error *err)
{
    return tfr_evaluate_flip(m, src, nsrc, batch, threads, mean, std, 0, res, err);
}

void tfr_eval_result_free(tfr_eval_result *r)
{
    free(r->confusion);
    r->confusion = NULL;
}
