/*
 * train/runlog.c - a training run's log in LOGDIR: history.csv (one row per
 * epoch), steps.csv (one row per step, the loss also in %a so runs can be
 * compared bit for bit) and TensorBoard scalars. Both CSVs are appended to,
 * so a resumed run continues them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tfrecord/util.h"
#include "train/train_impl.h"
#include "util/alloc.h"
#include "util/fsio.h"

struct tfr_runlog {
    tfr_events *ev;
    FILE       *hist, *steps;
};

void tfr_runlog_close(tfr_runlog *l)
{
    if (!l)
        return;
    if (l->hist)
        fclose(l->hist);
    if (l->steps)
        fclose(l->steps);
    tfr_events_close(l->ev);
    free(l);
}

tfr_status tfr_runlog_open(const char *logdir, tfr_runlog **out, tfr_error *err)
{
    tfr_status st = TFR_OK;
    *out = NULL;
    tfr_runlog *l = tfr_calloc(1, sizeof *l);
    if (!l)
        return tfr_fail(err, TFR_ERR_NOMEM, NULL, "out of memory");
    if ((st = tfr_mkdir_p(logdir, err)))
        goto fail;
    if ((st = tfr_events_open(logdir, &l->ev, err)))
        goto fail;
    char p[4400];
    tfr_path_join(p, sizeof p, logdir, "history.csv", NULL);
    int exists = access(p, F_OK) == 0;
    l->hist = fopen(p, "a");
    if (l->hist && !exists)
        fprintf(l->hist, "epoch,step,lr,loss,accuracy,val_loss,val_accuracy,images_per_s,seconds,"
                         "input_wait\n");
    tfr_path_join(p, sizeof p, logdir, "steps.csv", NULL);
    exists = access(p, F_OK) == 0;
    l->steps = fopen(p, "a");
    if (l->steps && !exists)
        fprintf(l->steps, "step,epoch,loss_hex,loss\n");
    if (!l->hist || !l->steps) {
        st = tfr_fail_errno(err, TFR_ERR_IO, p, "cannot open");
        goto fail;
    }
    *out = l;
    return TFR_OK;
fail:
    tfr_runlog_close(l);
    return st;
}

void tfr_runlog_step(tfr_runlog *l, uint64_t step, uint64_t epoch, float loss, float lr,
                     tfr_error *err)
{
    fprintf(l->steps, "%llu,%llu,%a,%.6f\n", (unsigned long long)step, (unsigned long long)epoch,
            loss, loss);
    if (step % 20 == 0) {
        tfr_events_scalar(l->ev, "train/loss", (int64_t)step, loss, err);
        tfr_events_scalar(l->ev, "train/learning_rate", (int64_t)step, lr, err);
    }
}

void tfr_runlog_epoch(tfr_runlog *l, const tfr_train_event *ev, int have_val, tfr_error *err)
{
    const uint64_t epoch = ev->epoch, step = ev->step, images = ev->images;
    const float lr = ev->lr;
    const double loss = ev->loss, acc = ev->accuracy, val_loss = ev->val_loss,
                 val_acc = ev->val_accuracy, secs = ev->seconds, waited = ev->input_wait;
    fprintf(l->hist, "%llu,%llu,%.6g,%.6f,%.6f,%.6f,%.6f,%.1f,%.2f,%.4f\n",
            (unsigned long long)epoch, (unsigned long long)step, lr, loss, acc, val_loss, val_acc,
            images / secs, secs, secs > 0 ? waited / secs : 0.0);
    fflush(l->hist);
    fflush(l->steps);
    int64_t e1 = (int64_t)epoch;
    tfr_events_scalar(l->ev, "epoch/loss", e1, (float)loss, err);
    tfr_events_scalar(l->ev, "epoch/accuracy", e1, (float)acc, err);
    tfr_events_scalar(l->ev, "epoch/learning_rate", e1, lr, err);
    tfr_events_scalar(l->ev, "epoch/images_per_second", e1, (float)(images / secs), err);
    if (have_val) {
        tfr_events_scalar(l->ev, "epoch/val_loss", e1, (float)val_loss, err);
        tfr_events_scalar(l->ev, "epoch/val_accuracy", e1, (float)val_acc, err);
    }
    tfr_events_flush(l->ev, err);
}
