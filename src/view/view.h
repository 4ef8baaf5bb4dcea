/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A guest view: what runs inside one domain, and how to control it.
 * Backends behind one vtable (style of libvirt's backends):
 *   agent  xvagent over the domain's virtio-serial channel
 *   vmi    introspection of the guest kernel's memory (no guest change)
 * The policy loop and `xvsched ps --via` use this interface only, so a
 * domain can switch views (and fall back from one to the other).
 *
 * Tasks and CPUs are the model's GuestTask and GuestCpu
 * (src/model/guest-task.h): every view reports the same fields.
 *
 * Errors are -errno.  Optional slots left NULL mean "this view cannot"
 * (-EOPNOTSUPP from the wrappers): the policy loop never stops a task in a
 * domain whose view cannot also resume it (guest_view_can_stop()). */

#include <stdbool.h>
#include <stddef.h>

#include "model/domain.h"
#include "model/guest-task.h"

typedef struct GuestView GuestView;

/* Per-instance capabilities (GuestViewOps.caps). */
enum {
        GUEST_VIEW_CAP_STOP = 1u << 0,   /* stop() works on this domain */
        GUEST_VIEW_CAP_CONT = 1u << 1,   /* cont() works on this domain */
        GUEST_VIEW_CAP_NICE = 1u << 2,
        GUEST_VIEW_CAP_CPUS = 1u << 3,   /* cpus() works on this domain */
};

typedef struct GuestViewOps {
        const char *name;
        /* Attach to the domain (bounded in time).  -ENOTCONN when the domain
         * offers no way in (no agent channel; no readable RAM). */
        int (*open)(const Domain *d, void **ret_state);
        /* Optional: one line saying why open() failed with r (NULL slot:
         * strerror). */
        const char *(*open_error)(int r);
        void (*close)(void *state);
        /* Every thread of the guest; the agent itself (if any) flagged
         * is_agent.  *ret is malloc'd. */
        int (*tasks)(void *state, GuestTask **ret, size_t *ret_n);
        /* Optional: control of one thread group. */
        int (*stop)(void *state, pid_t pid);
        int (*cont)(void *state, pid_t pid);
        int (*nice)(void *state, pid_t pid, int nice);
        /* Optional: keep held changes alive (the agent's lease); called every tick. */
        int (*keepalive)(void *state);
        /* Optional: undo every change this view holds (resume, restore nice). */
        int (*release)(void *state);
        /* Optional: one-line description of the last failure. */
        const char *(*last_error)(void *state);
        /* Optional: what each guest CPU runs now.  *ret malloc'd. */
        int (*cpus)(void *state, GuestCpu **ret, size_t *ret_n);
        /* Optional: what this instance can do (GUEST_VIEW_CAP_*), e.g. the
         * vmi view stops only where it can also resume.  NULL: every
         * non-NULL control slot works. */
        unsigned (*caps)(void *state);
        /* Optional: one-line description of the control path in use
         * ("agent", "vmi stop + agent cont", ...). */
        const char *(*control_path)(void *state);
        /* Optional: scheduling policy of every thread of pid (SCHED_OTHER,
         * SCHED_BATCH, SCHED_IDLE with priority 0; FIFO/RR with 1..99). */
        int (*sched)(void *state, pid_t pid, int policy, int priority);
        /* Optional: how long a control call may wait for the guest.  Not
         * quick (the default: commands, release): as long as it takes, in
         * bounds.  Quick (the daemon's rounds): a call that would wait for
         * the guest (the vmi view's kernel call, which needs an idle vCPU)
         * fails with -EBUSY soon instead, so that the round and the task
         * list it brings are not held for seconds; the caller asks again. */
        void (*set_quick)(void *state, bool quick);
} GuestViewOps;

extern const GuestViewOps guest_view_agent;
/* qemu-guest-agent through guest-exec (src/view/view-qga.c, docs/qga.md). */
extern const GuestViewOps guest_view_qga;

/* Choosing a view by name (agent, qga, vmi, auto) is the registry's job
 * (src/view-registry/), above this layer and src/vmi/. */

int guest_view_open(const GuestViewOps *ops, const Domain *d, GuestView **ret);
/* One line saying why opening through ops failed with r. */
const char *guest_view_open_error(const GuestViewOps *ops, int r);
void guest_view_free(GuestView *v);
static inline void guest_view_freep(GuestView **v) {
        guest_view_free(*v);
}
const char *guest_view_name(const GuestView *v);
const char *guest_view_last_error(const GuestView *v);

int guest_view_tasks(GuestView *v, GuestTask **ret, size_t *ret_n);
int guest_view_stop(GuestView *v, pid_t pid);
int guest_view_cont(GuestView *v, pid_t pid);
int guest_view_nice(GuestView *v, pid_t pid, int nice);
int guest_view_sched(GuestView *v, pid_t pid, int policy, int priority);
int guest_view_keepalive(GuestView *v);
int guest_view_release(GuestView *v);
/* See GuestViewOps.set_quick; a no-op for views without waits. */
void guest_view_set_quick(GuestView *v, bool quick);
/* Can this view both stop and resume tasks?  (Consults caps() when set.) */
bool guest_view_can_stop(const GuestView *v);
unsigned guest_view_caps(const GuestView *v);
int guest_view_cpus(GuestView *v, GuestCpu **ret, size_t *ret_n);
const char *guest_view_control_path(const GuestView *v);
