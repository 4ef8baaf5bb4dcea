/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* cgroup v2 under systemd: the unit a cgroup belongs to, the unit
 * properties that stand for xvsched's cgroup levers, and the few D-Bus calls
 * of systemd's manager that set them (libsystemd's sd-bus).
 *
 * On a host where systemd owns the unified hierarchy (PID 1 is systemd,
 * /run/systemd/system exists, the system bus answers) a unit's cgroup
 * files are systemd's: the cpu, cpuset and io controllers are enabled only
 * along the path of a unit that asks for them, and systemd rewrites what
 * it owns on its next realization.  So a lever on a unit's own group is a
 * runtime unit property (SetUnitProperties, runtime=true):
 *
 *   weight    CPUWeight            t   weight (1..10000); unset = UINT64_MAX
 *   cap       CPUQuotaPerSecUSec   t   cap% x 10000 µs per second; none = UINT64_MAX
 *             (CPUQuotaPeriodUSec  t   saved and restored with it, never changed)
 *   cpus      AllowedCPUs          ay  CPU bit mask, byte i bit j = CPU 8i+j; empty = unset
 *   mems      AllowedMemoryNodes   ay  the same for NUMA nodes
 *   memory    MemoryMax            t   bytes; none = UINT64_MAX
 *   ioweight  IOWeight             t   weight (1..10000); unset = UINT64_MAX
 *
 * The saved form of a unit's properties (in the state file) is one
 * printable line: "unit:NAME=SIG:VALUE[,NAME=SIG:VALUE...] UNIT", SIG "t"
 * (decimal) or "ay" (lower-case hex bytes, "" for the empty array).  Unit
 * names hold no spaces; property names no ',' '=' ':' or space.
 *
 * Errors: -errno; a D-Bus error systemd answers is mapped with
 * sd_bus_error_get_errno() (e.g. -ENOENT for a unit that is not loaded,
 * -EINVAL for a refused value, -EPERM/-EACCES without privilege);
 * -ENOTCONN when the system bus cannot be reached.  Calls time out after
 * SYSTEMD_CALL_TIMEOUT_USEC. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/parse.h"
#include "host/cgroup.h"

#define SYSTEMD_CALL_TIMEOUT_USEC (5ULL * 1000 * 1000)
/* systemd's "unset" for t properties (CGROUP_WEIGHT_INVALID, USEC_INFINITY,
 * CGROUP_LIMIT_MAX). */
#define SYSTEMD_UNSET UINT64_MAX
/* CPUWeight=idle on the bus (CGROUP_WEIGHT_IDLE, systemd >= 252): systemd
 * writes cpu.idle 1 instead of a cpu.weight. */
#define SYSTEMD_WEIGHT_IDLE UINT64_C(0)
#define SYSTEMD_PROPS_MAX 2

typedef struct UnitProp {
        char name[32];          /* "CPUWeight" */
        bool is_set;            /* SIG "ay" (a CpuSet) rather than "t" */
        uint64_t u;             /* "t" */
        CpuSet set;             /* "ay" */
} UnitProp;

/* ---- pure ---- */

/* Whether systemd owns the cgroup tree: PID 1's comm is "systemd" and
 * /run/systemd/system is a directory.  (The bus is checked when used.)
 * proc_root/run_root: "/proc", "/run" on a real host (NULL = those). */
bool systemd_owns_tree(const char *proc_root, const char *run_root);

/* The unit whose cgroup cg is or lies in: from the root down, slices, then
 * the first component that names a unit that is not a slice (.service,
 * .scope, .socket, .mount, .swap), else the last slice (a leading '_' that
 * systemd adds to escape a name is dropped).  Only slices hold units, so
 * unit-named groups below a service or scope (a user manager's units, a
 * delegate's groups) or below a group that is no unit are not units.  ret_unit_cg gets the
 * path of that unit's own group (either may be NULL).  -ENOENT when no
 * component is a unit (the root, a group made by hand); -EINVAL for a bad
 * path. */
int systemd_unit_of_cgroup(const char *cg, char **ret_unit, char **ret_unit_cg);

/* The property a knob maps to (the first one, the one that is set). */
const char *systemd_knob_property(CgroupKnob k);

/* Scaling: cap (percent of one CPU, 0 = none) → CPUQuotaPerSecUSec, given
 * the unit's CPUQuotaPeriodUSec (SYSTEMD_UNSET = systemd's default 100 ms):
 * -ERANGE when the quota per period would be under the kernel's 1 ms or the
 * cap above CGROUP_CAP_MAX, -EINVAL for a negative or non-finite one. */
int systemd_cap_to_quota(double percent, uint64_t period_usec, uint64_t *ret);
double systemd_quota_to_cap(uint64_t quota_per_sec_usec);   /* 0 = none */
/* The idle lever as CPUWeight, given the unit's CPUWeight now: idle → 0
 * (systemd's "idle"); not idle → unset where it is idle now, else kept. */
uint64_t systemd_idle_to_weight(bool idle, uint64_t cur);

/* A CpuSet as systemd's "ay" mask and back (n bytes, trailing zero bytes
 * dropped; the empty set is 0 bytes). */
size_t systemd_cpuset_to_mask(const CpuSet *set, uint8_t *buf, size_t size);
int systemd_mask_to_cpuset(const uint8_t *buf, size_t n, CpuSet *ret);

/* The saved form above. */
int systemd_props_format(const char *unit, const UnitProp *p, size_t n, char **ret);
/* -EINVAL unless s is a well-formed saved form with 1..SYSTEMD_PROPS_MAX
 * properties. */
int systemd_props_parse(const char *s, char **ret_unit, UnitProp *ret, size_t *ret_n);
bool systemd_props_is_saved(const char *s);   /* starts with "unit:" */

/* ---- over D-Bus ---- */

typedef struct SystemdBus SystemdBus;

/* Connect to the system bus.  -ENOTCONN when it does not answer. */
int systemd_bus_open(SystemdBus **ret);
void systemd_bus_free(SystemdBus *b);

/* Read the knob's properties of a unit (loading it if needed): the one
 * systemd_knob_property() names, and for cap also CPUQuotaPeriodUSec. */
int systemd_unit_get_knob(SystemdBus *b, const char *unit, CgroupKnob k, UnitProp *ret, size_t *ret_n);
/* SetUnitProperties(unit, runtime=true, props): all in one call, so
 * systemd takes all or none. */
int systemd_unit_set(SystemdBus *b, const char *unit, const UnitProp *p, size_t n);
/* After systemd_unit_set() failed because systemd answered with an error
 * ("Unit x.service not found."): one line naming the property, the unit and
 * systemd's words; NULL when the last call on this thread succeeded or failed
 * without an answer from systemd. */
const char *systemd_last_refusal(void);
/* Whether the unit has Delegate=yes (its subtree is its own to write). */
int systemd_unit_delegated(SystemdBus *b, const char *unit, bool *ret);
/* StartTransientUnit(scope, "fail", Slice=slice, PIDs=[pids],
 * Description=...), then wait until the first pid is in the scope's group
 * (SYSTEMD_CALL_TIMEOUT_USEC in all, -ETIMEDOUT; -ESRCH when that process
 * is gone).  -EEXIST when the unit is already active: then
 * AttachProcessesToUnit moves the pids instead. */
int systemd_scope_start(SystemdBus *b, const char *scope, const char *slice, const pid_t *pids, size_t n);
int systemd_scope_attach(SystemdBus *b, const char *scope, const pid_t *pids, size_t n);
/* StopUnit(unit, "fail"); a unit that is not loaded is fine. */
int systemd_unit_stop(SystemdBus *b, const char *unit);
/* The unit's ControlGroup property ("" when it has none). */
int systemd_unit_cgroup(SystemdBus *b, const char *unit, char **ret);
