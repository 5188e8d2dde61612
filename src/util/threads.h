/*
 * util/threads.h - the parts of util/threads.c the tests reach.
 */
#ifndef TFR_UTIL_THREADS_H
#define TFR_UTIL_THREADS_H

/*
 * The CPU quota of the cgroups named in proc_cgroup (a /proc/PID/cgroup
 * file), read under root (a /sys/fs/cgroup): the smallest quota/period of
 * the cgroup and its ancestors, v2 cpu.max or v1 cpu.cfs_quota_us; 0 when
 * there is none.
 */
double tfr_cpu_quota_at(const char *proc_cgroup, const char *root);

#endif
