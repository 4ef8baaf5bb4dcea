/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Reading threads from /proc (or a fixture tree with the same layout). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TASK_COMM_MAX 64        /* the kernel's is 16, kernel threads' names can be longer */
#define TASK_CMDLINE_MAX 256

typedef struct ProcTask {
        pid_t pid;               /* thread group */
        pid_t tid;
        char comm[TASK_COMM_MAX];
        char state;
        int cpu;                 /* CPU it last ran on */
        uint64_t cpu_ticks;      /* utime + stime, clock ticks */
        int nice;
        int policy;              /* SCHED_* */
        int rt_priority;
        uint64_t start_ticks;    /* since boot, clock ticks */
        unsigned num_threads;    /* of its thread group */
        bool kthread;
        uint64_t cmdline_hash;   /* for delta comparison */
        uint32_t cmdline_off;    /* into ProcSnapshot.strings */
        uint32_t cmdline_len;
} ProcTask;

typedef struct ProcSnapshot {
        ProcTask *tasks;         /* sorted by tid */
        size_t n, cap;
        char *strings;           /* cmdlines */
        size_t strings_len, strings_cap;
} ProcSnapshot;

/* Open stat files kept between snapshots: re-reading an open /proc stat
 * file with pread() skips the path walk, which dominates in slow (TCG)
 * guests.  Keys are thread ids (task/TID/stat) or -pid (PID/stat).  An fd
 * whose task is gone reads ESRCH and is replaced; entries not used by a
 * snapshot are closed at its end. */
typedef struct ProcFdEntry {
        int key;
        int fd;
        uint32_t gen;
} ProcFdEntry;

typedef struct ProcFdCache {
        ProcFdEntry *slots;      /* open addressing; key 0 = empty */
        size_t n, cap;           /* cap is a power of two */
        size_t max_fds;          /* 0: no caching */
        uint32_t gen;
} ProcFdCache;

void proc_fd_cache_init(ProcFdCache *c, size_t max_fds);
void proc_fd_cache_done(ProcFdCache *c);

/* Parse one /proc/.../stat line.  comm may contain anything, including
 * spaces, parentheses and newlines: it runs from the first '(' to the last ')'.
 * Returns 0 or -EINVAL.  Sets tid (field 1), comm, state, cpu, cpu_ticks, nice,
 * policy, rt_priority, start_ticks and kthread (PF_KTHREAD in flags). */
int proc_parse_stat(const char *buf, size_t len, ProcTask *ret);

/* Read the thread group leader of tid from <root>/<tid>/status ("Tgid:").
 * Returns the tgid (> 0) or -errno (-ESRCH if the task is gone). */
int proc_get_tgid(const char *root, pid_t tid);

/* Read one thread.  -ESRCH if it is gone. */
int proc_read_task(const char *root, pid_t pid, pid_t tid, ProcTask *ret);

/* Snapshot every thread under root (at most max_tasks; -E2BIG beyond).
 * Threads that vanish while reading are skipped.  cmdline_max bounds each
 * command line (arguments joined by spaces); 0 skips reading command lines.
 * Single-threaded processes are read from <root>/PID/stat alone; others
 * thread by thread from <root>/PID/task/TID/stat.  Kernel threads have no
 * command line.  With prev (an earlier snapshot), a process that is still
 * the same (start time) and has not exec'd (comm) keeps its command line
 * instead of having it read again. */
int proc_snapshot(const char *root, size_t max_tasks, size_t cmdline_max, const ProcSnapshot *prev,
                  ProcFdCache *cache, ProcSnapshot *ret);
void proc_snapshot_free(ProcSnapshot *s);
const char *proc_task_cmdline(const ProcSnapshot *s, const ProcTask *t);

/* Whether two readings of the same thread differ in anything the host sees. */
bool proc_task_changed(const ProcTask *a, const ProcTask *b);

const char *sched_policy_to_string(int policy);
int sched_policy_from_string(const char *s);   /* -EINVAL if unknown */
