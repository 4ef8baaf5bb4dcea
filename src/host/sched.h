/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Per-thread scheduling levers: nice, SCHED_FIFO/RR (and back to OTHER),
 * CPU affinity.  All take a kernel thread id (tid).  Errors: -errno
 * (-EPERM when privilege is missing, -ESRCH when the thread is gone). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/parse.h"

typedef struct ThreadSched {
        int nice;          /* -20..19 */
        int policy;        /* SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR */
        int rt_priority;   /* 1..99 for FIFO/RR, 0 otherwise */
        CpuSet affinity;
        uint64_t start_time; /* field 22 of /proc/PID/task/TID/stat: tells a reused tid apart */
} ThreadSched;

int thread_sched_get(pid_t tid, ThreadSched *ret);
int thread_set_nice(pid_t tid, int nice);
/* policy SCHED_FIFO/SCHED_RR with prio 1..99, or SCHED_OTHER/BATCH/IDLE with prio 0. */
int thread_set_policy(pid_t tid, int policy, int prio);
int thread_set_affinity(pid_t tid, const CpuSet *set);
/* Apply nice+policy+affinity of a saved ThreadSched, only when start_time still matches. */
int thread_sched_restore(pid_t tid, const ThreadSched *saved);

const char *sched_policy_to_string(int policy);    /* "other", "batch", "idle", "fifo", "rr" */
int sched_policy_from_string(const char *s);       /* -EINVAL if unknown */

/* Cumulative CPU time (utime+stime) of a thread in ns, from /proc/PID/task/TID/stat. */
int thread_cpu_time_ns(pid_t pid, pid_t tid, uint64_t *ret);
/* Of a whole process (all threads), from /proc/PID/stat. */
int process_cpu_time_ns(pid_t pid, uint64_t *ret);

/* RT throttling: true when /proc/sys/kernel/sched_rt_runtime_us != -1. */
bool rt_throttling_enabled(void);
/* PROC_ROOT/sys/kernel/sched_rt_runtime_us (proc_root NULL: /proc): -1
 * when RT throttling is off.  -errno when missing or unreadable. */
int rt_runtime_read(const char *proc_root, int64_t *ret);

/* The fields of /proc/PID[/task/TID]/stat xvsched uses.  comm may hold
 * spaces and parentheses: the parser takes it up to the LAST ')'. */
typedef struct ProcStat {
        char comm[64];
        char state;              /* field 3 */
        pid_t ppid;              /* field 4 */
        uint64_t utime_ticks;    /* field 14, clock ticks */
        uint64_t stime_ticks;    /* field 15 */
        int nice;                /* field 19 */
        uint64_t start_time;     /* field 22, clock ticks after boot */
        int processor;           /* field 39, -1 if absent */
        unsigned rt_priority;    /* field 40, 0 if absent */
        unsigned policy;         /* field 41, 0 if absent */
} ProcStat;

/* Parse one stat line.  -EBADMSG when it is not one. */
int proc_stat_parse(const char *line, ProcStat *ret);
/* Read PROC_ROOT/PID/task/TID/stat (tid > 0) or PROC_ROOT/PID/stat (tid 0);
 * proc_root NULL = "/proc".  -ESRCH when the file does not exist. */
int proc_stat_read(const char *proc_root, pid_t pid, pid_t tid, ProcStat *ret);
/* Clock ticks to ns (sysconf(_SC_CLK_TCK)). */
uint64_t clock_ticks_to_ns(uint64_t ticks);
