/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The daemon's bookkeeping of guest tasks, pure (no I/O, no clock, no
 * globals) so that unit tests run it on synthetic task lists
 * (tests/unit/test-match.c):
 *
 *   matching      which guest processes a task rule names, and their
 *                 threads' CPU time and state summed into its TaskObs;
 *   held state    what the daemon did to a task's processes (TaskRt): what
 *                 it stopped, made SCHED_IDLE, reniced;
 *   de-duplication  from the plan and the held state, only what is still
 *                 to do (TaskActions): no second stop of a stopped process,
 *                 no second SCHED_IDLE, no renice to the same value;
 *   stop entries  what becomes of a journaled guest stop that no task
 *                 holds any more (held, to resume again, or done). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/worker.h"
#include "model/guest-task.h"
#include "policy/policy.h"

/* What the daemon holds of one task rule's processes. */
typedef struct TaskRt {
        pid_t pids[POLICY_MAX_PIDS];
        size_t n_pids;
        uint64_t pid_start[POLICY_MAX_PIDS];  /* guest start time of each of pids (ns after boot) */
        pid_t stopped[POLICY_MAX_PIDS];  /* what we stopped, to resume exactly these */
        size_t n_stopped;
        bool stop_refused_logged;
        int nice;
        bool nice_set;
        pid_t nice_pids[POLICY_MAX_PIDS];
        size_t n_nice_pids;
        pid_t idle_pids[POLICY_MAX_PIDS];   /* made SCHED_IDLE in the guest */
        size_t n_idle_pids;
        /* What match_task() saw: every thread of pids at nice nice_seen
         * (a renice to that value would change nothing). */
        bool nice_seen_uniform;
        int nice_seen;
} TaskRt;

/* Does guest task g match rule t (comm: exact; cmdline: fnmatch glob;
 * pid: the decimal pid)? */
bool task_rule_matches(const TaskRule *t, const GuestTask *g);

/* The processes of tasks[0..n) that rule tr names: thread-group leaders
 * that match (never the agent, never kernel threads), at most
 * POLICY_MAX_PIDS in list order, and the CPU time and run state of all
 * their threads.  Fills *to (cleared first) and rt's pids, n_pids and
 * pid_start. */
void match_task(const TaskRule *tr, const GuestTask *tasks, size_t n, TaskObs *to, TaskRt *rt);

/* What is left to do for one task, given its plan and what is held. */
typedef struct TaskActions {
        size_t stop[POLICY_MAX_PIDS];  /* indexes into rt->pids not stopped yet, in order */
        size_t n_stop;
        bool resume;                   /* resume every pid in rt->stopped */
        size_t idle[POLICY_MAX_PIDS];  /* indexes into rt->pids to make SCHED_IDLE (as many as rt->idle_pids has room for) */
        size_t n_idle;
        bool renice;                   /* renice every pid in rt->pids to tp->nice */
        bool nice_already;             /* no renice needed: the guest shows every thread at tp->nice */
} TaskActions;

/* no_sched, no_nice: the view cannot change policies, nice values. */
void task_actions(const TaskPlan *tp, const TaskRt *rt, bool no_sched, bool no_nice, TaskActions *ret);

/* After the ops are queued: what is held now. */
void task_rt_stopped(TaskRt *rt, pid_t pid);   /* one more stopped (bounded) */
void task_rt_reniced(TaskRt *rt, int nice);    /* every pid reniced to nice */

/* Does some task of domain di hold pid stopped? */
bool tasks_hold_stopped(const Rules *r, const TaskRt *tasks, size_t di, pid_t pid);

/* Is an op of this kind for pid queued already? */
bool ops_have(const WorkerOp *ops, size_t n, WorkerOpKind kind, pid_t pid);

/* A round's ops in the order the worker runs them: every stop first, the
 * rest after in their order (stable).  A stop is what protects a busy
 * task and is cheap in every view (the vmi view injects SIGSTOP while the
 * VM is paused); a resume or renice through a guest kernel call waits for
 * an idle vCPU, up to seconds in a busy guest, and must not delay it. */
void ops_stops_first(WorkerOp *ops, size_t n);

/* Should the worker skip op (its result -EBUSY without asking the guest),
 * given the ops done before it in the same round?  Yes for a resume,
 * renice or policy change after one of those was refused with -EBUSY (no
 * idle vCPU: the guest is busy now, and each refusal kept the worker
 * seconds); never for a stop. */
bool op_skip_busy(const WorkerOp *done, size_t n_done, const WorkerOp *op);

/* Should a domain's renices and resumes wait?  Where they are guest
 * kernel calls (kcall_view: the vmi view without an agent), each needs a
 * vCPU idle in hlt, and one tried while the guest is busy holds the VM
 * paused and running in turns until it gives up (seconds; over a minute
 * on a loaded host).  So they wait until the guest was seen idle
 * (guest_idled) and, after a refusal (nice_busy), until then too.  Stops
 * never wait. */
/* Is a weight change due for a domain (planned vs held)?  Not with a
 * weight= among its fixed levers, and not while the daemon holds its
 * cgroup at cpu.idle 1: the kernel takes no weight there (EINVAL), and
 * the planned one is applied once the group leaves idle. */
bool domain_weight_due(unsigned planned, unsigned held, bool fixed_weight, bool group_idle);

bool kcall_deferred(bool kcall_view, bool nice_busy, bool guest_idled);

/* Did the guest idle over an interval of dt_ns, by its own accounting
 * (dcpu_ns: the growth of all its tasks' CPU time; a guest counts the time
 * its vCPU was descheduled on the host as its running task's, so this
 * holds on a loaded host too)?  Below 90 % of n_vcpus CPUs. */
bool guest_idled(uint64_t dcpu_ns, uint64_t dt_ns, unsigned n_vcpus);

/* Is a domain's next guest round due?  cheap_poll: asking costs the guest
 * nothing (the vmi view reads its RAM from the host): every tick.
 * Otherwise when actions are queued, there is no view, the domain has no
 * vCPU threads to watch, max_ns went by since the last poll, or its host
 * vCPU use moved by change or more. */
typedef struct PollDue {
        bool cheap_poll;
        size_t n_pending;
        bool view_ok;
        bool has_vcpus;
        uint64_t since_poll_ns, max_ns;
        double vcpu_change, change;
} PollDue;
bool guest_poll_due(const PollDue *p);

typedef enum StopEntryFate {
        STOP_ENTRY_HELD,     /* a task holds it stopped: leave it */
        STOP_ENTRY_RESUME,   /* the task list shows it stopped: resume it (again) */
        STOP_ENTRY_DONE,     /* running or gone: the entry goes */
} StopEntryFate;

/* A journaled stop of guest pid (started start_ns after boot) in domain
 * di; same_qemu: the entry's QEMU is the domain's running one (else the
 * guest restarted and the process is gone).  tasks[0..n): the fresh task
 * list. */
StopEntryFate stop_entry_fate(const Rules *r, const TaskRt *held, size_t di, bool same_qemu, pid_t pid,
                              uint64_t start_ns, const GuestTask *tasks, size_t n);
