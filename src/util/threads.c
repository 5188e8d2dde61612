/*
 * util/threads.c - how many threads "all cores" means, and the compute
 * pool's size (see tfrecord/util.h).
 *
 * The CPU count is the process's affinity mask capped by its CPU quota: a
 * container limited to 2 CPUs on a 64-core host has 64 CPUs in its mask and
 * 2 CPUs of time; starting 64 threads there only adds contention.
 */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tfrecord/util.h"
#include "util/threads.h"

/* a cgroup v2 cpu.max ("max 100000" or "QUOTA PERIOD"): CPUs, or 0 for none */
static double cpu_max_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char q[32] = "";
    double quota = 0, period = 0;
    int n = fscanf(f, "%31s %lf", q, &period);
    fclose(f);
    if (n != 2 || !strcmp(q, "max") || period <= 0)
        return 0;
    char *end;
    quota = strtod(q, &end);
    if (*end || quota <= 0)
        return 0;
    return quota / period;
}

/* a cgroup v1 cpu.cfs_quota_us beside its cpu.cfs_period_us */
static double cfs_quota_dir(const char *dir) /* strlen(dir) < 4200 */
{
    char p[4300];
    double quota = -1, period = 0;
    if (snprintf(p, sizeof p, "%s/cpu.cfs_quota_us", dir) >= (int)sizeof p)
        return 0;
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lf", &quota) != 1)
        quota = -1;
    fclose(f);
    if (snprintf(p, sizeof p, "%s/cpu.cfs_period_us", dir) >= (int)sizeof p)
        return 0;
    if (!(f = fopen(p, "r")))
        return 0;
    if (fscanf(f, "%lf", &period) != 1)
        period = 0;
    fclose(f);
    return quota > 0 && period > 0 ? quota / period : 0;
}

double tfr_cpu_quota_at(const char *proc_cgroup, const char *root)
{
    FILE *f = fopen(proc_cgroup, "r");
    if (!f)
        return 0;
    char line[4096];
    double best = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        /* "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1) */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *ctl = c1 + 1, *rel = c2 + 1;
        int v2 = !*ctl;
        int v1cpu = 0;
        for (const char *t = ctl; *t;) {
            size_t k = strcspn(t, ",");
            if (k == 3 && !strncmp(t, "cpu", 3))
                v1cpu = 1;
            t += k + (t[k] == ',');
        }
        if (!v2 && !v1cpu)
            continue;
        /* the quota may sit on any ancestor: the smallest one binds */
        char path[4096];
        snprintf(path, sizeof path, "%s", rel);
        for (;;) {
            char dir[4200];
            if (v2)
                snprintf(dir, sizeof dir, "%s%s/cpu.max", root, path);
            else
                snprintf(dir, sizeof dir, "%s/cpu%s", root, path);
            double q = v2 ? cpu_max_file(dir) : cfs_quota_dir(dir);
            if (q > 0 && (best == 0 || q < best))
                best = q;
            char *slash = strrchr(path, '/');
            if (!slash || slash == path)
                break;
            *slash = 0;
        }
    }
    fclose(f);
    return best;
}

int tfr_cpu_count(void)
{
    static int cached;
    int n = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (n > 0)
        return n;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    double q = tfr_cpu_quota_at("/proc/self/cgroup", "/sys/fs/cgroup");
    if (q > 0 && ceil(q) < n)
        n = (int)ceil(q);
    if (n < 1)
        n = 1;
    __atomic_store_n(&cached, n, __ATOMIC_RELAXED);
    return n;
}

int tfr_threads_or_default(int threads)
{
    return threads > 0 ? threads : tfr_compute_threads();
}

void tfr_set_compute_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : tfr_cpu_count());
#else
    (void)n;
#endif
}

int tfr_compute_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *tfr_wait_policy(char *buf, size_t n)
{
    const char *pol = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if (pol && *pol && !strncasecmp(pol, "passive", 7))
        snprintf(buf, n, "passive wait");
    else if (pol && *pol && !strncasecmp(pol, "active", 6) && !(spin && *spin))
        snprintf(buf, n, "active wait");
    else if (spin && *spin)
        snprintf(buf, n, "spin %s then sleep", spin);
    else
        snprintf(buf, n, "OpenMP's default wait");
    return buf;
}
