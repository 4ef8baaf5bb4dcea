/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The act step: host levers through the journal (weights, RT, fixed
 * settings), guest stops journaled for views without a lease, and the guest
 * ops queued for each domain's worker. */

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/daemon-internal.h"
#include "daemon/guard.h"
#include "daemon/match.h"
#include "host/cgroup.h"
#include "host/sched.h"
#include "lever/journal.h"
#include "lever/lever.h"

/* ---- levers through the journal ---- */

static int apply_levers(Daemon *d, DomainRt *dr, const char *const *kv, size_t n, const char *threads) {
        if (d->opt->dry_run) {
                for (size_t i = 0; i < n; i++)
                        printf("plan: %s: set %s%s%s\n", dr->domain->name, kv[i], threads ? " --threads=" : "",
                               threads ? threads : "");
                return 0;
        }
        LeverSetting s[8];
        if (n > ELEMENTSOF(s))
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                const char *why;
                if (lever_setting_parse(kv[i], &s[i], &why) < 0)
                        return log_error_errno(-EINVAL, "%s: %s: %s", dr->domain->name, kv[i], why);
        }
        LeverContext c = { .hv = &d->opt->hv, .journal = d->journal, .thread_mask = THREAD_MASK_ALL, .owner = "daemon",
                           .rt_force = d->rules.domains[dr - d->doms].rt_force };
        if (threads && thread_mask_from_string(threads, &c.thread_mask) < 0)
                c.thread_mask = 1u << THREAD_VCPU;
        pthread_mutex_lock(d->journal_lock);
        int r = lever_apply(&c, dr->domain, s, n);
        pthread_mutex_unlock(d->journal_lock);
        if (r < 0) {
                metrics_count_error(METRICS_ERROR_LEVER);
                log_warning("%s: %s", dr->domain->name, c.error);
        }
        for (const char *p = r >= 0 ? c.notes : NULL; p && *p;) { /* warnings at warning level */
                size_t len = strcspn(p, "\n");
                if (strneq(p, "warning: ", 9))
                        log_warning("%s: %.*s", dr->domain->name, (int) len - 9, p + 9);
                else
                        log_debug("%s: %.*s", dr->domain->name, (int) len, p);
                p += len + (p[len] == '\n');
        }
        lever_context_done(&c);
        return r;
}

/* An op for the domain's worker's next round (dropped past WORKER_MAX_OPS). */
static void queue_op(DomainRt *dr, WorkerOpKind kind, pid_t pid, int nice) {
        if (dr->n_pending < WORKER_MAX_OPS)
                dr->pending[dr->n_pending++] = (WorkerOp) { .kind = kind, .pid = pid, .nice = nice };
}

/* ---- guest stops in the journal (for views without a lease) ---- */

/* Record the stop of guest pid (started start_ns after the guest's boot)
 * before it is made: the guard, the next start or this daemon's exit
 * resumes it from the entry.  < 0: not recorded, so not to be stopped. */
static int journal_guest_stop(Daemon *d, size_t di, pid_t pid, uint64_t start_ns) {
        const DomainRt *dr = &d->doms[di];
        JournalOwner o = guard_owner("daemon");
        ProcStat st;
        JournalVm vm = { .domain = d->rules.domains[di].name, .match = d->rules.domains[di].match,
                         .qemu_pid = dr->domain->pid,
                         .qemu_start = proc_stat_read(NULL, dr->domain->pid, 0, &st) >= 0 ? st.start_time : 0,
                         .qmp_socket = dr->domain->qmp_socket, .agent_socket = dr->domain->agent_socket };
        if (vm.qemu_start == 0 || start_ns == 0)
                return -ENODATA;   /* nothing to tell this process from a later one with its pid */
        if (!guard_running())
                return -ENOTCONN;  /* the guard died: no stop that nothing would undo */
        json_object *e = journal_entry_guest_stop_new(&o, &vm, pid, start_ns);
        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(d->journal_lock);
        int r = journal_record_guest(d->journal, e);
        pthread_mutex_unlock(d->journal_lock);
        return r < 0 ? r : 0;
}

/* This daemon's guest-stop entries of domain di that no task holds stopped
 * any more (resumed, a stop that failed, a view that was dropped, a domain
 * that restarted): each goes once the fresh task list shows its process
 * running or gone, and is resumed again while it shows it stopped.  So no
 * stop is forgotten, and no entry outlives its process. */
void daemon_settle_guest_stops(Daemon *d, size_t di, const GuestTask *tasks, size_t n) {
        DomainRt *dr = &d->doms[di];
        const char *dname = d->rules.domains[di].name;
        pthread_mutex_lock(d->journal_lock);
        for (size_t i = journal_size(d->journal); i > 0; i--) {
                json_object *e = journal_entry(d->journal, i - 1), *v;
                if (!(v = get_member(e, "type")) || !streq(json_object_get_string(v), "guest-stop") ||
                    !(v = get_member(e, "owner_pid")) || json_object_get_int(v) != getpid() ||
                    !(v = get_member(e, "domain")) || !streq(json_object_get_string(v), dname) ||
                    !get_member(e, "key"))
                        continue;
                pid_t pid = (pid_t) json_object_get_int(get_member(e, "pid"));
                uint64_t start = (uint64_t) json_object_get_int64(get_member(e, "start_time_ns"));
                bool same_qemu = dr->domain && json_object_get_int(get_member(e, "qemu_pid")) == dr->domain->pid;
                StopEntryFate f = stop_entry_fate(&d->rules, d->tasks, di, same_qemu, pid, start, tasks, n);
                if (f == STOP_ENTRY_HELD)
                        continue;
                if (f == STOP_ENTRY_RESUME) {
                        if (!ops_have(dr->pending, dr->n_pending, WORKER_OP_CONT, pid))
                                queue_op(dr, WORKER_OP_CONT, pid, 0);
                        continue;
                }
                _cleanup_free_ char *key = strdup(json_object_get_string(get_member(e, "key")));
                if (key)
                        (void) journal_remove(d->journal, key);
        }
        pthread_mutex_unlock(d->journal_lock);
}

/* ---- act ---- */

/* Guest-side actions go to the domain's worker with its next round, and
 * only for domains whose worker just delivered (we know their state). */
static void act_task(Daemon *d, size_t t) {
        const TaskRule *tr = &d->rules.tasks[t];
        DomainRt *dr = &d->doms[tr->domain];
        const TaskPlan *tp = &d->plan.tasks[t];
        TaskRt *rt = &d->tasks[t];
        if (!dr->collected || !dr->view_ok)
                return;
        const char *dname = d->rules.domains[tr->domain].name;
        TaskActions a;
        bool wait = kcall_deferred(strstr(dr->control_path, "kcall") != NULL, dr->nice_busy, dr->guest_idled);
        task_actions(tp, rt, dr->no_sched, dr->no_nice || wait, &a);
        if (wait)
                a.resume = false; /* held stopped until the guest idles: the call needs an idle vCPU */

        for (size_t k = 0; k < a.n_stop && rt->n_stopped < POLICY_MAX_PIDS; k++) {
                size_t p = a.stop[k];
                if (d->opt->dry_run) {
                        printf("plan: %s/%s: stop pid %d (%s)\n", dname, tr->name, (int) rt->pids[p], tp->why);
                        continue;
                }
                /* Never a stop that could not be journaled (no lease would end it). */
                int r = dr->has_lease ? 0 : journal_guest_stop(d, tr->domain, rt->pids[p], rt->pid_start[p]);
                if (r < 0) {
                        metrics_count_error(METRICS_ERROR_JOURNAL);
                        if (!rt->stop_refused_logged)
                                log_warning("%s/%s: not stopping guest pid %d: cannot record it in the state file: %s",
                                            dname, tr->name, (int) rt->pids[p],
                                            r == -ENODATA ? "no start time for it" : strerror(-r));
                        rt->stop_refused_logged = true;
                        continue;
                }
                queue_op(dr, WORKER_OP_STOP, rt->pids[p], 0);
                task_rt_stopped(rt, rt->pids[p]);
        }
        if (a.resume) {
                for (size_t k = 0; k < rt->n_stopped; k++) {
                        if (d->opt->dry_run) {
                                printf("plan: %s/%s: resume pid %d\n", dname, tr->name, (int) rt->stopped[k]);
                                continue;
                        }
                        /* its entry goes when the task list shows it running */
                        queue_op(dr, WORKER_OP_CONT, rt->stopped[k], 0);
                }
                rt->n_stopped = 0;
        }

        /* SCHED_IDLE for idle-class tasks, once per process. */
        for (size_t k = 0; k < a.n_idle; k++) {
                pid_t pid = rt->pids[a.idle[k]];
                if (d->opt->dry_run)
                        printf("plan: %s/%s: SCHED_IDLE for pid %d\n", dname, tr->name, (int) pid);
                else
                        queue_op(dr, WORKER_OP_SCHED, pid, SCHED_IDLE);
                rt->idle_pids[rt->n_idle_pids++] = pid;
        }

        if (a.renice) {
                for (size_t p = 0; p < rt->n_pids; p++) {
                        if (d->opt->dry_run)
                                printf("plan: %s/%s: nice pid %d to %d\n", dname, tr->name, (int) rt->pids[p], tp->nice);
                        else
                                queue_op(dr, WORKER_OP_NICE, rt->pids[p], tp->nice);
                }
                task_rt_reniced(rt, tp->nice);
        } else if (a.nice_already)
                task_rt_reniced(rt, tp->nice);
}

/* Is the domain's cgroup at cpu.idle 1 already (set by someone else)?
 * Then the daemon leaves it alone, on and off. */
static bool group_idle_already(Daemon *d, const Domain *dom) {
        if (dom->remote || !dom->cgroup || streq(dom->cgroup, "/"))
                return false;
        CgroupHost *h = NULL;
        bool idle = false;
        if (cgroup_host_open(d->opt->hv.cgroup_root, &h) >= 0) {
                if (cgroup_get_idle(h, dom->cgroup, &idle) < 0)
                        idle = false;
                cgroup_host_free(h);
        }
        return idle;
}

/* SCHED_IDLE on threads ranks them only inside their own cgroup: a domain
 * with a cgroup of its own also gets cpu.idle 1 there (the idle= lever,
 * journaled like every lever), and its value before when it leaves.  A
 * domain without one (a raw QEMU in the root, a group shared with other
 * processes), a kernel without cpu.idle, a remote domain: one notice line,
 * not tried again until the daemon restarts; the vCPUs' SCHED_IDLE stays. */
static void act_group_idle(Daemon *d, DomainRt *dr, bool on) {
        Domain *dom = dr->domain;
        if (on ? dr->group_idle_refused : !dr->group_idle)
                return;
        /* (group_idle still set: ours from before the domain restarted in the same group) */
        if (on && !dr->group_idle && (dom->remote || group_idle_already(d, dom))) {
                log_debug("%s: cgroup %s left as it is (remote, or cpu.idle 1 already)", dom->name,
                          dom->cgroup ? dom->cgroup : "-");
                dr->group_idle = false;
                return;
        }
        if (d->opt->dry_run) {
                printf("plan: %s: set idle=%s\n", dom->name, on ? "yes" : "no");
                dr->group_idle = on;
                return;
        }
        LeverSetting s;
        const char *why;
        if (lever_setting_parse(on ? "idle=yes" : "idle=no", &s, &why) < 0)
                return;
        LeverContext c = { .hv = &d->opt->hv, .journal = d->journal, .thread_mask = THREAD_MASK_ALL, .owner = "daemon" };
        pthread_mutex_lock(d->journal_lock);
        int r = lever_apply(&c, dom, &s, 1);
        pthread_mutex_unlock(d->journal_lock);
        if (r < 0) {
                if (on)
                        log_notice("%s: vCPUs at SCHED_IDLE, but not the whole cgroup: %s", dom->name, c.error);
                else
                        log_warning("%s: %s (the state file keeps its value for exit)", dom->name, c.error);
                dr->group_idle_refused |= on;
        } else
                log_debug("%s: %s", dom->name, c.notes ? c.notes : "idle");
        dr->group_idle = on && r >= 0;
        lever_context_done(&c);
}

/* The domain's vCPU threads to the host's SCHED_IDLE and back (rt=idle,
 * rt=off), journaled like every thread lever: restored at exit, SIGTERM
 * and the next start after a crash.  Its own cgroup follows (cpu.idle);
 * a failure there leaves the threads' part as it is. */
static void act_vcpu_idle(Daemon *d, DomainRt *dr, bool on) {
        const char *one[] = { on ? "rt=idle" : "rt=off" };
        int r = apply_levers(d, dr, one, 1, "vcpu");
        if (r >= 0)
                dr->vcpu_idle = on;
        else if (on)
                dr->vcpu_idle_failed = true; /* apply_levers said why; leaving is tried again next tick */
        if (!on || r >= 0)
                act_group_idle(d, dr, on);
}

static void act_domain(Daemon *d, size_t i) {
        DomainRt *dr = &d->doms[i];
        const DomainRule *rule = &d->rules.domains[i];
        const DomainPlan *dp = &d->plan.domains[i];
        if (!dr->domain)
                return;
        if (!dr->fixed_applied) {
                if (rule->n_fixed > 0)
                        (void) apply_levers(d, dr, (const char *const *) rule->fixed, rule->n_fixed, NULL);
                dr->fixed_applied = true;
        }
        /* The vCPUs (and the group's cpu.idle) leave idle before the weight
         * changes: the kernel takes no cpu.shares/cpu.weight for an idle
         * group (EINVAL). */
        if (dr->vcpu_idle && !dp->vcpu_idle)
                act_vcpu_idle(d, dr, false);
        bool fixed_weight = false;
        for (size_t k = 0; k < rule->n_fixed; k++)
                fixed_weight |= strneq(rule->fixed[k], "weight=", 7);
        if (domain_weight_due(dp->weight, dr->weight, fixed_weight, dr->group_idle)) {
                char kv[32];
                snprintf(kv, sizeof kv, "weight=%u", dp->weight);
                const char *one[] = { kv };
                if (apply_levers(d, dr, one, 1, NULL) >= 0)
                        dr->weight = dp->weight;
        }
        /* The vCPUs left SCHED_IDLE above, before RT may raise them; they
         * enter it only after RT let them go. */
        if (rule->rt_policy && dp->rt != dr->rt && !(dp->rt && dr->rt_refused)) {
                char kv[32];
                if (dp->rt)
                        snprintf(kv, sizeof kv, "rt=%s:%d", rule->rt_policy == SCHED_RR ? "rr" : "fifo", rule->rt_priority);
                else
                        snprintf(kv, sizeof kv, "rt=off");
                const char *one[] = { kv };
                int r = apply_levers(d, dr, one, 1, rule->rt_threads);
                if (r >= 0)
                        dr->rt = dp->rt;
                dr->rt_refused = r == -EPERM;
        }
        if (!dr->vcpu_idle && dp->vcpu_idle && !dr->vcpu_idle_failed)
                act_vcpu_idle(d, dr, true);
}

void daemon_vcpu_idle_off(Daemon *d) {
        for (size_t i = 0; i < d->rules.n_domains; i++)
                if (d->doms[i].domain && d->doms[i].vcpu_idle)
                        act_vcpu_idle(d, &d->doms[i], false);
}

/* A domain whose renice was refused for want of an idle vCPU is reniced
 * again once its guest idled in a round where none of its watched normal
 * tasks was busy: a kernel call then finds an idle vCPU at once, and the
 * VM's pause for it does not fall on the work it would delay. */
static void nice_busy_update(Daemon *d, size_t i) {
        DomainRt *dr = &d->doms[i];
        if (!dr->nice_busy || !dr->collected || !dr->guest_idled)
                return;
        for (size_t t = 0; t < d->rules.n_tasks; t++)
                if (d->rules.tasks[t].domain == i && d->rules.tasks[t].class != TASK_CLASS_IDLE && d->state.tasks[t].busy)
                        return;
        dr->nice_busy = false;
}

void daemon_act(Daemon *d) {
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                act_domain(d, i);
                nice_busy_update(d, i);
        }
        for (size_t t = 0; t < d->rules.n_tasks; t++)
                act_task(d, t);
        /* Start the next round of every idle worker that has a reason to
         * ask its guest: actions to deliver, no view yet, a change in the
         * domain's vCPU use seen from the host, or GUEST_POLL_MAX_MS gone
         * by.  A domain without vCPU threads (local) is asked every tick. */
        uint64_t now = now_nsec();
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                DomainRt *dr = &d->doms[i];
                if (!dr->worker || !dr->collected)
                        continue;
                PollDue p = { .cheap_poll = streq(dr->view_name, "vmi"), /* reads guest RAM: no cost to the guest */
                              .n_pending = dr->n_pending, .view_ok = dr->view_ok,
                              .has_vcpus = dr->domain && domain_count_class(dr->domain, THREAD_VCPU) > 0,
                              .since_poll_ns = now - dr->polled_ns, .max_ns = GUEST_POLL_MAX_MS * 1000000ull,
                              .vcpu_change = dr->vcpu_frac - dr->vcpu_frac_polled, .change = GUEST_POLL_CHANGE };
                if (!guest_poll_due(&p))
                        continue; /* the idle worker hands back an empty round next tick: nothing new */
                ops_stops_first(dr->pending, dr->n_pending);
                bool keepalive = now - dr->keepalive_ns >= KEEPALIVE_EVERY_MS * 1000000ull;
                if (keepalive)
                        dr->keepalive_ns = now;
                worker_submit(dr->worker, dr->pending, dr->n_pending, keepalive);
                dr->n_pending = 0;
                dr->polled_ns = now;
                dr->vcpu_frac_polled = dr->vcpu_frac;
        }
}
