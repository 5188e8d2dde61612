/*
 * util/progress.c - a terminal progress bar: label, bar, count, rate, ETA.
 * Redraws at most 10 times a second; silent when stderr is not a terminal.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfrecord/util.h"
#include "util/alloc.h"

struct tfr_progress {
    char            label[64];
    char            unit[16];
    double          total, done, start, last_draw;
    pthread_mutex_t mu;
};

tfr_progress *tfr_progress_new(const char *label, double total, const char *unit,
                               int enabled)
{
    if (!enabled || !isatty(STDERR_FILENO))
        return NULL;
    tfr_progress *p = tfr_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->start = tfr_now();
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void fmt_time(double s, char *buf, size_t n)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void draw(tfr_progress *p, int final)
{
    double el = tfr_now() - p->start;
    double rate = el > 0 ? p->done / el : 0;
    char bar[31], eta[32], els[32];
    int width = 30;
    double frac = p->total > 0 ? p->done / p->total : 0;
    if (frac > 1)
        frac = 1;
    int fill = (int)(frac * width);
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill && !final ? '>' : ' ');
    bar[width] = 0;
    fmt_time(el, els, sizeof els);
    if (p->total > 0 && rate > 0)
        fmt_time((p->total - p->done) / rate, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "--:--");
    if (p->total > 0)
        fprintf(stderr, "\r%s [%s] %.0f/%.0f %s  %.1f %s/s  %s ETA %s\033[K", p->label, bar,
                p->done, p->total, p->unit, rate, p->unit, els, final ? "done" : eta);
    else
        fprintf(stderr, "\r%s %.0f %s  %.1f %s/s  %s\033[K", p->label, p->done, p->unit,
                rate, p->unit, els);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

void tfr_progress_update(tfr_progress *p, double done)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->done = done;
    double now = tfr_now();
    if (now - p->last_draw >= 0.1) {
        p->last_draw = now;
        draw(p, 0);
    }
    pthread_mutex_unlock(&p->mu);
}

void tfr_progress_finish(tfr_progress *p)
{
    if (!p)
        return;
    draw(p, 1);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
