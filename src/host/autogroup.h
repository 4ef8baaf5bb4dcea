/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Autogroups (CONFIG_SCHED_AUTOGROUP): the kernel first shares the CPU
 * between sessions of tasks in the root cpu cgroup, and nice ranks threads
 * only inside one.  A session's own nice is PROC_ROOT/PID/autogroup
 * ("/autogroup-12 nice 0"; proc_root NULL = "/proc"). */

#include <stdbool.h>
#include <sys/types.h>

/* Is /proc/sys/kernel/sched_autogroup_enabled "1"?  (proc_root NULL =
 * "/proc".)  False when the file is missing or unreadable. */
bool autogroup_enabled(const char *proc_root);

/* "/autogroup-12 nice 0" -> id 12, nice 0.  -EBADMSG when it is not such a
 * line.  Pure. */
int autogroup_parse(const char *line, long *ret_id, int *ret_nice);

/* The autogroup of pid and its nice.  -errno (-ENOENT: no such process or
 * no autogroup support), -EBADMSG. */
int autogroup_read(const char *proc_root, pid_t pid, long *ret_id, int *ret_nice);

/* Set the nice of pid's autogroup (-20..19).  -errno. */
int autogroup_write(const char *proc_root, pid_t pid, int nice);
