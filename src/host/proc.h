/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Processes of the host as /proc shows them: which pids there are, whether
 * one is still the process it was, and the tree below a pid.  proc_root is
 * "/proc" on a real host, a fixture directory in tests (NULL = "/proc").
 * One /proc/PID/stat parser serves all of them (proc_stat_read(),
 * host/sched.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The pids of PROC_ROOT (its numeric entries, > 0), in directory order;
 * *ret freed by the caller (NULL when there are none).  -errno when the
 * directory cannot be read. */
int proc_pids(const char *proc_root, pid_t **ret, size_t *ret_n);

/* Is host process pid alive (not a zombie) with this start time (clock
 * ticks after boot; 0 = any)? */
bool host_process_alive(pid_t pid, uint64_t start_time);

/* Add to the set *pids (n of *n, *pids realloc()ed) every descendant of the
 * pids already in it, given each process's parent: pids[i] has parent
 * ppids[i] (all[]/all_ppids[], n_all of them, as one /proc scan saw them).
 * Pure.  -ENOMEM (the set keeps what was added). */
int proc_tree_grow(pid_t **pids, size_t *n, const pid_t *all, const pid_t *all_ppids, size_t n_all);

/* The process tree at root: root and every descendant, from one scan of
 * PROC_ROOT (a process whose stat cannot be read is skipped: it exited).
 * -ESRCH when root is not there; -errno when /proc cannot be read. */
int proc_tree(const char *proc_root, pid_t root, pid_t **ret, size_t *ret_n);

/* One thread of a host process: its tid and its name (/proc/PID/task/TID/comm). */
typedef struct ProcThread {
        pid_t tid;
        char comm[16];
} ProcThread;

/* The threads of process pid under PROC_ROOT, in directory order (a thread
 * that exits while they are read is left out); *ret freed by the caller.
 * -ESRCH when the process is not there, -errno otherwise. */
int proc_threads(const char *proc_root, pid_t pid, ProcThread **ret, size_t *ret_n);
