/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* cgroup levers behind one interface, with two backends (v1, v2).
 *
 * One scale on every host (see docs/levers.md):
 *   weight    1..10000, default 100.  v2 cpu.weight = weight;
 *             v1 cpu.shares = weight * 1024 / 100 (clamped to 2..262144).
 *   cap       percent of one CPU (Xen CAP semantics), 0 = no cap.
 *             v1 cpu.cfs_quota_us = cap * period / 100 (period kept, -1 = none);
 *             v2 cpu.max "QUOTA PERIOD" ("max PERIOD" = none).
 *   cpus/mems cpuset.cpus / cpuset.mems (v2: same names, cpuset controller).
 *   memory    bytes, UINT64_MAX = unlimited (v1 memory.limit_in_bytes; v2 memory.max).
 *   ioweight  1..10000, default 100.  v2 io.weight "default N" (io.bfq.weight
 *             where only BFQ is there); v1 blkio.weight = clamp(N*5, 10, 1000)
 *             (blkio.bfq.weight where that is the file that exists).
 *             BFQ's own files (io.bfq.weight, blkio.bfq.weight) use BFQ's
 *             scale 1..1000, default 100: they get clamp(N, 1, 1000), so the
 *             default stays the default.  Neither file: -EOPNOTSUPP.
 *
 * A cgroup is named by its path inside the hierarchy ("/machine/qemu-1-a.libvirt-qemu"),
 * the same string on v1 (where it is looked up under each controller's mount)
 * and v2.  The hierarchy root is a parameter so unit tests run against
 * fixture trees under tests/unit/fixtures/cgroup-{v1,v2}/.
 *
 * Errors: -errno.  Writes the kernel masks (ENOENT for a missing controller or
 * file, EROFS, EACCES, EPERM) come back unchanged so the caller can say
 * "not supported here" or "insufficient privilege". */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/parse.h"

typedef enum CgroupVersion {
        CGROUP_V1 = 1,
        CGROUP_V2 = 2,
} CgroupVersion;

typedef enum CgroupKnob {
        CGROUP_KNOB_WEIGHT,
        CGROUP_KNOB_CAP,
        CGROUP_KNOB_CPUS,
        CGROUP_KNOB_MEMS,
        CGROUP_KNOB_MEMORY_MAX,
        CGROUP_KNOB_IO_WEIGHT,
        CGROUP_KNOB_IDLE,
        _CGROUP_KNOB_MAX,
        _CGROUP_KNOB_INVALID = -1,
} CgroupKnob;

#define CGROUP_WEIGHT_MIN 1u
#define CGROUP_WEIGHT_MAX 10000u
#define CGROUP_WEIGHT_DEFAULT 100u
/* Largest cap accepted, in percent of one CPU (1024 CPUs). */
#define CGROUP_CAP_MAX 102400.0

typedef struct CgroupHost CgroupHost;

const char *cgroup_knob_to_string(CgroupKnob k);      /* "weight", "cap", "cpus", "mems", "memory", "ioweight", "idle" */
CgroupKnob cgroup_knob_from_string(const char *s);

/* Pure mappings between the xvsched scale and each backend's raw value. */
uint64_t cgroup_weight_to_shares(unsigned weight);
unsigned cgroup_shares_to_weight(uint64_t shares);
unsigned cgroup_io_weight_to_blkio(unsigned weight);
unsigned cgroup_blkio_to_io_weight(unsigned blkio);

/* Open the hierarchy mounted at root ("/sys/fs/cgroup" on a real host).
 * v2 if root/cgroup.controllers exists and lists "cpu"; otherwise v1 with one
 * directory per controller (root/cpu, root/cpuset, root/memory, root/blkio,
 * root/cpuacct; "cpu,cpuacct" co-mounts and symlinks are followed).  A v1 host
 * whose v2 mount (root/unified) is empty is v1. */
int cgroup_host_open(const char *root, CgroupHost **ret);
void cgroup_host_free(CgroupHost *h);
CgroupVersion cgroup_host_version(const CgroupHost *h);
const char *cgroup_host_root(const CgroupHost *h);

/* Path of a process or thread's cgroup for the cpu controller (v1) or the
 * unified hierarchy (v2), read from PROC_ROOT/PID/cgroup (proc_root is
 * "/proc" on a real host, a fixture directory in tests; NULL = "/proc").
 * "/" for the root.  A thread id works as pid (/proc/TID/cgroup is the
 * thread's own).  A trailing " (deleted)" is dropped.  -ESRCH when
 * PROC_ROOT/PID/cgroup does not exist, -EBADMSG on a malformed line,
 * -ENODATA when no line names the hierarchy. */
int cgroup_pid_path(const CgroupHost *h, const char *proc_root, pid_t pid, char **ret);

/* v2 where systemd owns the tree (the kernel's cgroup2 mount, PID 1 is
 * systemd, /run/systemd/system exists, the system bus answered at open).
 * Then the levers on a unit's own group are runtime unit properties over
 * D-Bus (CPUWeight, CPUQuotaPerSecUSec, AllowedCPUs, AllowedMemoryNodes,
 * MemoryMax, IOWeight; src/host/systemd-unit.h), a delegated unit's subtree
 * (Delegate=yes: libvirt's machine.slice scopes) is written directly with
 * the controllers it needs enabled from the unit's group down, and
 * cgroup_knob_save()'s string says which ("unit:..."; "subtree:..." when
 * controllers had to be enabled: restore disables them again).  On v2
 * without systemd a missing controller is enabled from the root down the
 * same way.  docs/levers.md has the table per kind of host. */
bool cgroup_host_systemd(const CgroupHost *h);
/* After a set or restore failed because systemd refused the unit property
 * (an error answer over D-Bus, e.g. "Unit x.service not found."): one line
 * naming the property, the unit and systemd's words; NULL otherwise (the
 * last call on this thread succeeded, wrote a file, or got no answer). */
const char *cgroup_last_refusal(void);

/* The group xvsched makes for a domain without one of its own; NAME is
 * already sanitized (no '/'): "/xvsched-NAME", or where systemd owns the
 * tree "/xvsched.slice/xvsched-NAME.scope", a transient scope that
 * cgroup_attach_pid() starts (StartTransientUnit with the pid) or joins and
 * cgroup_remove() stops. */
int cgroup_own_group_path(const CgroupHost *h, const char *name, char **ret);

/* Absolute path of cgroup `cg`'s cgroup.procs in the hierarchy of the cpu
 * controller (v1: the cpu controller's real mount, e.g. a co-mounted
 * ".../cpu,cpuacct"; v2: the unified root).  -ENOENT when v1 has no cpu
 * hierarchy, -EINVAL for a bad path. */
int cgroup_host_procs_path(const CgroupHost *h, const char *cg, char **ret);

/* Absolute file path of a knob's (first) file for cgroup `cg`; for messages
 * and the state file. */
int cgroup_knob_path(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret);

/* Typed accessors, in the one scale above.  Getters: -ENOENT when the
 * group or file does not exist, -EINVAL/-ERANGE/-EBADMSG when the file holds
 * something unexpected.  Setters: -ERANGE for a weight outside 1..10000,
 * -EINVAL for a negative or non-finite cap, -ERANGE for a cap whose quota
 * would fall under the kernel's 1 ms minimum at the current period or above
 * CGROUP_CAP_MAX.  v2 cpuset.cpus/mems of a new group read as the empty set,
 * which there means "inherit the parent's". */
int cgroup_get_weight(const CgroupHost *h, const char *cg, unsigned *ret);
int cgroup_set_weight(const CgroupHost *h, const char *cg, unsigned weight);
int cgroup_get_cap(const CgroupHost *h, const char *cg, double *ret_percent);   /* 0 = none */
int cgroup_set_cap(const CgroupHost *h, const char *cg, double percent);        /* 0 = none */
int cgroup_get_cpus(const CgroupHost *h, const char *cg, CpuSet *ret);
int cgroup_set_cpus(const CgroupHost *h, const char *cg, const CpuSet *set);
int cgroup_get_mems(const CgroupHost *h, const char *cg, CpuSet *ret);
int cgroup_set_mems(const CgroupHost *h, const char *cg, const CpuSet *set);
int cgroup_get_memory_max(const CgroupHost *h, const char *cg, uint64_t *ret);
int cgroup_set_memory_max(const CgroupHost *h, const char *cg, uint64_t bytes);
int cgroup_get_io_weight(const CgroupHost *h, const char *cg, unsigned *ret);
int cgroup_set_io_weight(const CgroupHost *h, const char *cg, unsigned weight);
/* cpu.idle (Linux >= 5.15, v1's cpu controller and v2 alike): 1 makes the
 * whole group SCHED_IDLE-like against its siblings.  Where systemd owns the
 * tree, a unit's own group takes it as CPUWeight=0 over D-Bus (systemd's
 * "CPUWeight=idle", which writes cpu.idle 1; idle=false puts an idle
 * unit's CPUWeight back to unset).  check: 0 when cg can take it (the file
 * is there, or v2 has not enabled cpu for cg yet); -EOPNOTSUPP when cg has
 * the cpu controller's weight file but no cpu.idle (a kernel before 5.15,
 * or without CONFIG_FAIR_GROUP_SCHED); -ENOENT when cg does not exist. */
int cgroup_get_idle(const CgroupHost *h, const char *cg, bool *ret);
int cgroup_set_idle(const CgroupHost *h, const char *cg, bool idle);
int cgroup_idle_check(const CgroupHost *h, const char *cg);

/* Exact save/restore of a knob's raw file contents (e.g. v1 cap saves
 * "QUOTA PERIOD").  The saved string is opaque, printable, without newlines;
 * restore writes back exactly what was there.  Used by the state file. */
int cgroup_knob_save(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret);
int cgroup_knob_restore(const CgroupHost *h, const char *cg, CgroupKnob k, const char *saved);

/* Cumulative CPU time of a cgroup in ns (v1 cpuacct.usage; v2 cpu.stat usage_usec). */
int cgroup_get_cpu_usage_ns(const CgroupHost *h, const char *cg, uint64_t *ret);

/* Creating our own groups, for domains that have none (a raw QEMU process
 * in the root cgroup).  create: mkdir in every controller (v1; cpuset.cpus and
 * cpuset.mems copied from the parent so tasks can join) or once (v2; enables
 * cpu, cpuset, memory, io in each ancestor's cgroup.subtree_control as
 * needed).  Idempotent: an existing group is fine.
 * attach_pid moves a whole process (cgroup.procs) in every controller.
 * remove: rmdir of the group (not of ancestors create made) in every
 * controller; -EBUSY while tasks remain; a group already gone is fine.
 *
 * v1 and CONFIG_RT_GROUP_SCHED: a new group gets cpu.rt_runtime_us 0 from
 * the kernel and create leaves it so (the RT budget is one finite pool
 * shared by siblings; see cgroup_ensure_rt_runtime()).  Moving an RT thread
 * into such a group fails with -EINVAL.
 * v2: a non-root parent that holds processes cannot enable controllers for
 * children ("no internal processes"): create then fails with -EBUSY. */
int cgroup_create(const CgroupHost *h, const char *cg);
int cgroup_attach_pid(const CgroupHost *h, const char *cg, pid_t pid);
int cgroup_remove(const CgroupHost *h, const char *cg);
/* Per-controller paths of a process (v1 may differ per controller: memory
 * can be elsewhere than cpu).  Returns a malloc'd string such as
 * "cpu:/a;cpuset:/;memory:/b;blkio:/" (v2: "unified:/a") which
 * cgroup_attach_pid_saved() can move the process back to. */
int cgroup_pid_save_paths(const CgroupHost *h, const char *proc_root, pid_t pid, char **ret);
int cgroup_attach_pid_saved(const CgroupHost *h, pid_t pid, const char *saved);

/* RT group budget (v1 with CONFIG_RT_GROUP_SCHED, where a thread in a group
 * whose cpu.rt_runtime_us is 0 cannot become SCHED_FIFO/RR: EPERM).
 * ensure: make cg's budget at least `us` per its cpu.rt_period_us, growing
 * every ancestor top down as far as needed for its children's sum (siblings'
 * budgets included).  Returns the number of groups changed (0: nothing to do,
 * including hierarchies without cpu.rt_runtime_us), -EINVAL for us == 0,
 * -EBUSY when the parent's (ultimately the global) budget is spent (the
 * kernel says EINVAL there; levels already grown are given back).
 * save: "RT1,RT2,...@CG" with the budget of every level from the root's
 * child down to cg; -EOPNOTSUPP without cpu.rt_runtime_us.
 * restore: writes those values back bottom up, except that an ancestor
 * is kept at the sum of its children's budgets where siblings still hold
 * some (the kernel refuses less); restore several saves in reverse order
 * of saving (LIFO) to get every level back exactly.  Call it only after the
 * threads in cg have left SCHED_FIFO/RR (the kernel refuses to take the
 * budget of a group that holds RT threads: -EBUSY). */
int cgroup_ensure_rt_runtime(const CgroupHost *h, const char *cg, uint64_t us);
int cgroup_rt_runtime_save(const CgroupHost *h, const char *cg, char **ret);
int cgroup_rt_runtime_restore(const CgroupHost *h, const char *saved);
