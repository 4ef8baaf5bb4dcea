/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Levers on a domain, all or nothing: `xvsched set DOMAIN KEY=VALUE...`.
 *
 *   nice=-20..19            setpriority() of the selected threads
 *   rt=fifo:N|rr:N|idle|off sched_setscheduler() of the selected threads
 *                           (idle: SCHED_IDLE, below every normal thread)
 *   cpus=LIST               CPU affinity of the selected threads
 *   weight=1..10000         cgroup CPU weight (one scale, see docs/levers.md)
 *   cap=PERCENT             CPU cap in % of one CPU, 0 = none
 *   mems=LIST               cpuset.mems
 *   memory=SIZE|max         memory limit
 *   ioweight=1..10000       I/O weight
 *   idle=yes|no             cpu.idle of the domain's own cgroup (the whole
 *                           group SCHED_IDLE-like against its siblings);
 *                           refused for a group shared with other
 *                           processes: this lever never creates one
 *
 * Thread levers act on the threads of the classes selected (vcpu, emulator,
 * io); group levers act on the domain's cgroup (created under /xvsched-NAME and
 * the domain moved there when it has none of its own), or through the
 * hypervisor's API when its backend offers the lever (libvirt).
 *
 * Every original value is recorded in the journal before it changes; when
 * a lever fails, everything applied in this call is restored. */

#include <stdbool.h>
#include <stdint.h>

#include "basic/parse.h"
#include "hv/hv.h"
#include "lever/journal.h"
#include "model/domain.h"

typedef enum LeverKey {
        LEVER_NICE,
        LEVER_RT,
        LEVER_CPUS,
        LEVER_WEIGHT,
        LEVER_CAP,
        LEVER_MEMS,
        LEVER_MEMORY,
        LEVER_IOWEIGHT,
        LEVER_IDLE,
        _LEVER_MAX,
        _LEVER_INVALID = -1,
} LeverKey;

typedef struct LeverSetting {
        LeverKey key;
        char value[64];          /* the value as given, for messages */
        union {
                int nice;
                struct {
                        int policy;
                        int priority;
                } rt;
                CpuSet cpus;      /* cpus and mems */
                unsigned weight;  /* weight and ioweight */
                double cap;
                uint64_t bytes;
                bool idle;
        } v;
} LeverSetting;

const char *lever_key_to_string(LeverKey k);
LeverKey lever_key_from_string(const char *s);
bool lever_is_thread_lever(LeverKey k);

/* Parse "KEY=VALUE".  On error returns -EINVAL and points *ret_reason at a
 * static explanation ("must be between -20 and 19"). */
int lever_setting_parse(const char *kv, LeverSetting *ret, const char **ret_reason);

/* Which thread classes thread levers act on: a bit mask of 1 << ThreadClass. */
#define THREAD_MASK_ALL ((1u << _THREAD_CLASS_MAX) - 1)
int thread_mask_from_string(const char *s, unsigned *ret);   /* "vcpu", "emulator,io", "all" */

typedef struct LeverContext {
        const HvOptions *hv;
        Journal *journal;
        unsigned thread_mask;
        bool dry_run;
        /* Who records (entries carry it, journal.h): "cli" for `xvsched
         * set`, "daemon" for `xvsched run`; lever_apply() records as "cli"
         * when NULL.  There is no other, hidden owner: each call says whose
         * changes it makes.  lever_reset() with an owner restores only that
         * owner's entries (NULL: all), so the daemon never undoes a value the
         * operator set by hand. */
        const char *owner;
        /* RT the host could not take back (lever_rt_check) is refused unless
         * forced: `xvsched set --rt-force`, `rt_force = yes` in the config. */
        bool rt_force;
        /* Filled by lever_apply for the caller to print: */
        char error[512];          /* "weight=99999: must be 1..10000" */
        char *notes;              /* newline-separated: which path each lever took, warnings
                                   * (lines that start with "warning: ") */
        char *failed;             /* lever_reset: one line per entry kept, "KEY: reason\n" */
} LeverContext;

void lever_context_done(LeverContext *c);

/* Would RT threads starve the host?  Refused (-EPERM, *ret_reason says why)
 * when RT throttling is off (rt_runtime_us -1: nothing takes the CPU back
 * from a busy FIFO thread), or when rt_cpus, the union of the CPUs every RT
 * thread may run on after the change, covers every online CPU (no CPU left
 * where the host's own work runs for sure).  Pure, for tests. */
int lever_rt_check(int64_t rt_runtime_us, const CpuSet *online, const CpuSet *rt_cpus, const char **ret_reason);
/* PROC_ROOT/sys/kernel/sched_rt_runtime_us (proc_root NULL: /proc).  A
 * file that is missing or unreadable answers -errno (-ENOENT, ...): then
 * whether RT throttling is on cannot be told, and RT is refused unless
 * forced. */
int lever_rt_runtime_read(const char *proc_root, int64_t *ret);

/* Apply all settings to d, or none: on failure every change made by this
 * call is undone and c->error says which key, value and why. */
int lever_apply(LeverContext *c, Domain *d, const LeverSetting *settings, size_t n);

/* Restore every journal entry of the domain named (NULL: all), newest first,
 * and drop them from the journal.  Entries whose object is gone (thread
 * exited, cgroup removed) are dropped too.  One entry that cannot be
 * restored stops nothing: every other is still restored, and only the
 * failed ones stay in the journal, each named with its reason in c->failed
 * (c->error sums up).  Entries of types the lever layer does not own
 * (guest-stop, ...) are left alone for their owner and are no failure.
 * Returns the number restored, or -errno of the first failure when any
 * failed. */
int lever_reset(LeverContext *c, const char *domain);

/* The current value of each lever of a domain, for `show`. */
typedef struct DomainLevers {
        bool have_cgroup;
        unsigned weight;
        double cap;
        CpuSet cpus, mems;
        uint64_t memory;
        unsigned ioweight;
        bool idle;
        bool have_weight, have_cap, have_cpus, have_mems, have_memory, have_ioweight, have_idle;
} DomainLevers;
int lever_read_domain(const HvOptions *o, const Domain *d, DomainLevers *ret);
