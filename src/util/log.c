/*
 * util/log.c - leveled logging to stderr; the level is the library's only
 * global mutable state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "tfrecord/util.h"

static volatile tfr_log_level level = TFR_LOG_WARN;
static const char *prog = "tfrecord";

void tfr_log_set_level(tfr_log_level l) { level = l; }
tfr_log_level tfr_log_get_level(void) { return level; }
void tfr_log_set_prog(const char *p) { prog = p ? p : "tfrecord"; }

void tfr_log(tfr_log_level l, const char *fmt, ...)
{
    if (l > level)
        return;
    char msg[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *tag = l == TFR_LOG_WARN ? "warning: " : "";
    fprintf(stderr, "%s: %s%s\n", prog, tag, msg);
}

double tfr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *tfr_human_bytes(double b, char *buf, size_t n)
{
    static const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%.0f %s", b, u[i]);
    else
        snprintf(buf, n, "%.1f %s", b, u[i]);
    return buf;
}
