/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "daemon/match.h"
#include "lever/journal.h"

bool task_rule_matches(const TaskRule *t, const GuestTask *g) {
        switch (t->match) {
        case TASK_MATCH_COMM:
                return streq(g->comm, t->pattern);
        case TASK_MATCH_CMDLINE:
                return fnmatch(t->pattern, g->cmdline, 0) == 0;
        case TASK_MATCH_PID: {
                char buf[16];
                snprintf(buf, sizeof buf, "%d", (int) g->pid);
                return streq(buf, t->pattern);
        }
        }
        return false;
}

void match_task(const TaskRule *tr, const GuestTask *tasks, size_t n, TaskObs *to, TaskRt *rt) {
        *to = (TaskObs) {};
        /* Thread-group leaders that match... */
        for (size_t k = 0; k < n && to->n_pids < POLICY_MAX_PIDS; k++)
                if (!tasks[k].is_agent && !tasks[k].is_kthread && tasks[k].tid == tasks[k].pid &&
                    task_rule_matches(tr, &tasks[k])) {
                        rt->pid_start[to->n_pids] = tasks[k].start_time_ns;
                        to->pids[to->n_pids++] = tasks[k].pid;
                        to->stopped = tasks[k].state == 'T';
                        to->nice = tasks[k].nice;
                }
        /* ...and every thread of them. */
        rt->nice_seen_uniform = to->n_pids > 0;
        rt->nice_seen = to->nice;
        for (size_t k = 0; k < n; k++)
                for (size_t p = 0; p < to->n_pids; p++)
                        if (tasks[k].pid == to->pids[p]) {
                                to->cpu_ns += tasks[k].cpu_ns;
                                to->runnable |= tasks[k].state == 'R';
                                rt->nice_seen_uniform &= tasks[k].nice == rt->nice_seen;
                        }
        to->present = to->n_pids > 0;
        memcpy(rt->pids, to->pids, sizeof to->pids);
        rt->n_pids = to->n_pids;
}

static bool pid_in(const pid_t *set, size_t n, pid_t pid) {
        for (size_t k = 0; k < n; k++)
                if (set[k] == pid)
                        return true;
        return false;
}

/* Was pids[p] listed before, at an index in idx[0..n)? */
static bool index_listed(const pid_t *pids, const size_t *idx, size_t n, size_t p) {
        for (size_t k = 0; k < n; k++)
                if (pids[idx[k]] == pids[p])
                        return true;
        return false;
}

void task_actions(const TaskPlan *tp, const TaskRt *rt, bool no_sched, bool no_nice, TaskActions *ret) {
        TaskActions a = {};
        if (tp->stop && tp->control) {
                for (size_t p = 0; p < rt->n_pids; p++)
                        if (!pid_in(rt->stopped, rt->n_stopped, rt->pids[p]) && !index_listed(rt->pids, a.stop, a.n_stop, p))
                                a.stop[a.n_stop++] = p;
        } else
                a.resume = rt->n_stopped > 0;

        /* SCHED_IDLE for idle-class tasks, once per process. */
        if (tp->idle_policy && tp->set_nice && !no_sched)
                for (size_t p = 0; p < rt->n_pids && rt->n_idle_pids + a.n_idle < POLICY_MAX_PIDS; p++)
                        if (!pid_in(rt->idle_pids, rt->n_idle_pids, rt->pids[p]) && !index_listed(rt->pids, a.idle, a.n_idle, p))
                                a.idle[a.n_idle++] = p;

        if (tp->set_nice && !no_nice) {
                bool same_pids = rt->n_nice_pids == rt->n_pids &&
                                 memcmp(rt->nice_pids, rt->pids, rt->n_pids * sizeof *rt->pids) == 0;
                a.renice = !(rt->nice_set && rt->nice == tp->nice && same_pids);
                /* Already there (the task list shows it): no call into the
                 * guest, which on the vmi view is a VM pause and a kernel
                 * call, and nothing to restore at exit. */
                if (a.renice && rt->nice_seen_uniform && rt->nice_seen == tp->nice) {
                        a.renice = false;
                        a.nice_already = true;
                }
        }
        *ret = a;
}

void task_rt_stopped(TaskRt *rt, pid_t pid) {
        if (rt->n_stopped < POLICY_MAX_PIDS)
                rt->stopped[rt->n_stopped++] = pid;
}

void task_rt_reniced(TaskRt *rt, int nice) {
        rt->nice = nice;
        rt->nice_set = true;
        memcpy(rt->nice_pids, rt->pids, sizeof rt->pids);
        rt->n_nice_pids = rt->n_pids;
}

bool tasks_hold_stopped(const Rules *r, const TaskRt *tasks, size_t di, pid_t pid) {
        for (size_t t = 0; t < r->n_tasks; t++)
                if (r->tasks[t].domain == di && pid_in(tasks[t].stopped, tasks[t].n_stopped, pid))
                        return true;
        return false;
}

bool ops_have(const WorkerOp *ops, size_t n, WorkerOpKind kind, pid_t pid) {
        for (size_t k = 0; k < n; k++)
                if (ops[k].kind == kind && ops[k].pid == pid)
                        return true;
        return false;
}

void ops_stops_first(WorkerOp *ops, size_t n) {
        /* stable insertion of each stop after the stops before it */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (ops[i].kind != WORKER_OP_STOP)
                        continue;
                WorkerOp op = ops[i];
                memmove(&ops[k + 1], &ops[k], (i - k) * sizeof *ops);
                ops[k++] = op;
        }
}

bool op_skip_busy(const WorkerOp *done, size_t n_done, const WorkerOp *op) {
        if (op->kind == WORKER_OP_STOP)
                return false;
        for (size_t k = 0; k < n_done; k++)
                if (done[k].kind != WORKER_OP_STOP && done[k].result == -EBUSY)
                        return true;
        return false;
}

bool domain_weight_due(unsigned planned, unsigned held, bool fixed_weight, bool group_idle) {
        return !fixed_weight && !group_idle && planned != held;
}

bool kcall_deferred(bool kcall_view, bool nice_busy, bool guest_idled) {
        return nice_busy || (kcall_view && !guest_idled);
}

bool guest_idled(uint64_t dcpu_ns, uint64_t dt_ns, unsigned n_vcpus) {
        return dt_ns > 0 && n_vcpus > 0 && (double) dcpu_ns < 0.9 * (double) dt_ns * n_vcpus;
}

bool guest_poll_due(const PollDue *p) {
        return p->cheap_poll || p->n_pending > 0 || !p->view_ok || !p->has_vcpus || p->since_poll_ns >= p->max_ns ||
               fabs(p->vcpu_change) >= p->change;
}

StopEntryFate stop_entry_fate(const Rules *r, const TaskRt *held, size_t di, bool same_qemu, pid_t pid,
                              uint64_t start_ns, const GuestTask *tasks, size_t n) {
        if (tasks_hold_stopped(r, held, di, pid))
                return STOP_ENTRY_HELD;
        bool stopped = false;
        if (same_qemu)
                for (size_t k = 0; k < n; k++)
                        if (tasks[k].pid == pid && tasks[k].tid == pid && journal_guest_start_same(tasks[k].start_time_ns, start_ns))
                                stopped = tasks[k].state == 'T';
        return stopped ? STOP_ENTRY_RESUME : STOP_ENTRY_DONE;
}
