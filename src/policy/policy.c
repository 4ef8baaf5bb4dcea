/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "policy/policy.h"

static const char *const task_class_table[_TASK_CLASS_MAX] = {
        [TASK_CLASS_NORMAL] = "normal",
        [TASK_CLASS_IDLE] = "idle",
        [TASK_CLASS_RT] = "rt",
};

const char *task_class_to_string(TaskClass c) {
        return c >= 0 && c < _TASK_CLASS_MAX ? task_class_table[c] : NULL;
}

TaskClass task_class_from_string(const char *s) {
        for (int i = 0; i < _TASK_CLASS_MAX; i++)
                if (streq(s, task_class_table[i]))
                        return (TaskClass) i;
        return _TASK_CLASS_INVALID;
}

void rules_done(Rules *r) {
        for (size_t i = 0; i < r->n_domains; i++) {
                DomainRule *d = &r->domains[i];
                free(d->name);
                free(d->match);
                free(d->view);
                for (size_t k = 0; k < d->n_fixed; k++)
                        free(d->fixed[k]);
                free(d->fixed);
                free(d->rt_threads);
        }
        for (size_t i = 0; i < r->n_tasks; i++) {
                free(r->tasks[i].name);
                free(r->tasks[i].pattern);
        }
        free(r->domains);
        free(r->tasks);
        free(r->timeline);
        *r = (Rules) {};
}

int policy_state_init(PolicyState *s, const Rules *r) {
        *s = (PolicyState) {};
        s->tasks = calloc(r->n_tasks ? r->n_tasks : 1, sizeof *s->tasks);
        s->domains = calloc(r->n_domains ? r->n_domains : 1, sizeof *s->domains);
        if (!s->tasks || !s->domains) {
                policy_state_done(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < r->n_domains; i++) {
                s->domains[i].share_gain = 1.0;
                s->domains[i].steal_scale = 1.0;
                s->domains[i].vcpu_frac = -1;
        }
        return 0;
}

void policy_state_done(PolicyState *s) {
        free(s->tasks);
        free(s->domains);
        *s = (PolicyState) {};
}

int plan_init(Plan *p, const Rules *r) {
        *p = (Plan) {};
        p->tasks = calloc(r->n_tasks ? r->n_tasks : 1, sizeof *p->tasks);
        p->domains = calloc(r->n_domains ? r->n_domains : 1, sizeof *p->domains);
        if (!p->tasks || !p->domains) {
                plan_done(p);
                return -ENOMEM;
        }
        return 0;
}

void plan_done(Plan *p) {
        free(p->tasks);
        free(p->domains);
        *p = (Plan) {};
}

unsigned policy_priority_to_weight(int priority) {
        /* 50 is the default weight 100; every 10 steps doubles it, so 20
         * steps are the 4:1 of paper 002 (WEIGHT 256 vs 64).  Steeper
         * starves the lower VM so far that even its agent answers late. */
        double w = 100.0 * pow(2.0, (priority - 50) / 10.0);
        if (w < 1)
                return 1;
        if (w > 10000)
                return 10000;
        return (unsigned) lround(w);
}

int policy_priority_to_nice(int priority) {
        if (priority >= 50)
                return -(int) lround((priority - 50) * 20.0 / 49.0);
        return (int) lround((50 - priority) * 19.0 / 50.0);
}

#define SHARE_EWMA_ALPHA 0.2
#define SHARE_GAIN_MIN 0.05
#define SHARE_GAIN_MAX 20.0
#define BURST_WEIGHT_FACTOR 4

/* RT on demand's budget.  The RT planned for the tick that just ended
 * ([last_t, t], while ds->rt_on) is charged to the window it fell in;
 * windows are rt_window_ms long, back to back from the first tick. */
static void rt_budget_charge(const Rules *r, DomainState *ds, bool started, uint64_t last_t, uint64_t t) {
        uint64_t win = (uint64_t) (r->rt_window_ms ? r->rt_window_ms : POLICY_RT_WINDOW_MS_DEFAULT) * 1000000u;
        if (!ds->rt_window_started) {
                ds->rt_window_started = true;
                ds->rt_window_start_ns = t;
                ds->rt_used_ns = 0;
                return;
        }
        bool charge = ds->rt_on && started && t > last_t;
        uint64_t end = ds->rt_window_start_ns + win;
        if (t < end) {
                if (charge)
                        ds->rt_used_ns += t - last_t;
                return;
        }
        /* A new window: only the part of the tick after its start counts. */
        uint64_t start = end + (t - end) / win * win;
        ds->rt_window_start_ns = start;
        ds->rt_used_ns = charge ? t - MAX(last_t, start) : 0;
}

uint64_t policy_rt_budget_ns(const Rules *r) {
        unsigned win = r->rt_window_ms ? r->rt_window_ms : POLICY_RT_WINDOW_MS_DEFAULT;
        unsigned budget = r->rt_budget_ms ? r->rt_budget_ms : win / 2;
        return (uint64_t) MIN(budget, win) * 1000000u;
}

/* 0. Steal correction per domain (see DomainObs). */
static void correct_steal(const Rules *r, PolicyState *s, const Snapshot *snap) {
        for (size_t d = 0; d < r->n_domains; d++) {
                const DomainObs *o = &snap->domains[d];
                DomainState *ds = &s->domains[d];
                if (!o->present || !o->view_ok) {
                        ds->seen = false;
                        ds->steal_scale = 1.0;
                        continue;
                }
                if (!o->fresh)
                        continue;
                uint64_t t = o->t_ns ? o->t_ns : snap->t_ns;
                ds->vcpu_frac = ds->seen && o->vcpu_ns > 0 && o->vcpu_ns >= ds->last_vcpu_ns && t > ds->last_fresh_t_ns
                                        ? (double) (o->vcpu_ns - ds->last_vcpu_ns) / (double) (t - ds->last_fresh_t_ns)
                                        : -1;
                ds->last_fresh_t_ns = t;
                if (ds->seen && o->vcpu_ns > 0 && o->guest_cpu_ns > ds->last_guest_cpu_ns &&
                    o->vcpu_ns >= ds->last_vcpu_ns) {
                        double scale = (double) (o->vcpu_ns - ds->last_vcpu_ns) /
                                       (double) (o->guest_cpu_ns - ds->last_guest_cpu_ns);
                        ds->steal_scale = scale > 1.0 ? 1.0 : scale;
                } else if (o->vcpu_ns == 0)
                        ds->steal_scale = 1.0;
                ds->seen = true;
                ds->last_guest_cpu_ns = o->guest_cpu_ns;
                ds->last_vcpu_ns = o->vcpu_ns;
        }
}

/* 1. Who is busy: CPU used this tick, or runnable and not stopped.
 * Busy at once, idle only after idle_hysteresis quiet ticks. */
static void update_busy(const Rules *r, PolicyState *s, const Snapshot *snap) {
        for (size_t i = 0; i < r->n_tasks; i++) {
                TaskState *ts = &s->tasks[i];
                const TaskObs *o = &snap->tasks[i];
                const DomainObs *dobs = &snap->domains[r->tasks[i].domain];
                if (dobs->present && dobs->view_ok && !dobs->fresh)
                        continue; /* a slow guest: keep what we know until it answers */
                if (!o->present) {
                        ts->seen = false;
                        ts->cpu_frac = 0;
                        ts->busy = false;
                        ts->starved_ticks = 0;
                        ts->throttled = 0;
                        continue;
                }
                uint64_t t = dobs->t_ns ? dobs->t_ns : snap->t_ns;
                double tdt = ts->seen && t > ts->last_t_ns ? (double) (t - ts->last_t_ns) / 1e9 : 0;
                double frac = 0;
                if (tdt > 0 && o->cpu_ns >= ts->last_cpu_ns)
                        frac = (double) (o->cpu_ns - ts->last_cpu_ns) / (tdt * 1e9) *
                               s->domains[r->tasks[i].domain].steal_scale;
                ts->cpu_frac = frac;
                ts->last_cpu_ns = o->cpu_ns;
                ts->last_t_ns = t;
                bool first = !ts->seen;
                ts->seen = true;

                bool raw_busy = frac >= r->busy_threshold || (o->runnable && !o->stopped);
                if (raw_busy) {
                        ts->busy = true;
                        ts->idle_ticks = 0;
                } else if (first || ++ts->idle_ticks >= r->idle_hysteresis)
                        ts->busy = false;

                if (o->runnable && !o->stopped && tdt > 0 && frac < r->starved_fraction)
                        ts->starved_ticks++;
                else
                        ts->starved_ticks = 0;
                if (ts->throttled > 0)
                        ts->throttled--;
        }
}

static bool any_normal_busy(const Rules *r, const PolicyState *s) {
        bool any = false;
        for (size_t i = 0; i < r->n_tasks; i++)
                if (r->tasks[i].class != TASK_CLASS_IDLE && s->tasks[i].busy)
                        any = true;
        return any;
}

/* 2. Priority throttle: a higher-priority task runnable but starved
 * for two ticks stops every lower one that keeps taking CPU. */
static void throttle_below_starved(const Rules *r, PolicyState *s) {
        for (size_t h = 0; h < r->n_tasks; h++) {
                if (s->tasks[h].starved_ticks < 2 || r->tasks[h].class == TASK_CLASS_IDLE)
                        continue;
                for (size_t l = 0; l < r->n_tasks; l++)
                        if (r->tasks[l].class == TASK_CLASS_NORMAL && r->tasks[l].priority < r->tasks[h].priority &&
                            s->tasks[l].cpu_frac >= r->busy_threshold && s->tasks[l].throttled == 0)
                                s->tasks[l].throttled = r->throttle_ticks;
        }
}

/* 3. Each task: run or stop, and its in-guest nice. */
static void plan_tasks(const Rules *r, PolicyState *s, const Snapshot *snap, Plan *p, bool normal_busy) {
        for (size_t i = 0; i < r->n_tasks; i++) {
                const TaskRule *tr = &r->tasks[i];
                const TaskObs *o = &snap->tasks[i];
                const DomainObs *dobs = &snap->domains[tr->domain];
                TaskState *ts = &s->tasks[i];
                TaskPlan *tp = &p->tasks[i];
                *tp = (TaskPlan) { .why = "runs" };

                tp->control = o->present && dobs->present && dobs->view_ok && dobs->can_stop;
                if (tr->class == TASK_CLASS_IDLE && normal_busy) {
                        tp->stop = true;
                        tp->why = "idle class: other watched work is busy";
                } else if (ts->throttled > 0) {
                        tp->stop = true;
                        tp->why = "throttled: a higher-priority task was starved";
                }
                if (tp->stop && !tp->control) {
                        tp->stop = false;
                        tp->why = o->present ? "would stop, but this domain's view cannot stop and resume"
                                             : "absent";
                }

                bool domain_has_burst = false;
                for (size_t k = 0; k < r->n_tasks; k++)
                        if (r->tasks[k].domain == tr->domain && r->tasks[k].burst)
                                domain_has_burst = true;
                tp->idle_policy = tr->class == TASK_CLASS_IDLE;
                if (tr->class == TASK_CLASS_IDLE)
                        tp->nice = 19;
                else if (tr->burst)
                        tp->nice = -20;
                else if (domain_has_burst)
                        tp->nice = 19;
                else
                        tp->nice = policy_priority_to_nice(tr->priority);
                tp->set_nice = o->present && dobs->present && dobs->view_ok;
                ts->stopped = tp->stop;
        }
}

/* 4. Share feedback: achieved shares among the share tasks.  What a
 * domain gets is measured on the host (its vCPUs' CPU) and split
 * among its share tasks by the guest's own figures, so the guest's
 * overhead (its agent, its kernel) counts against its share as the
 * host sees it.  True when there were new figures and contention (the
 * domains' share gains follow then). */
static bool update_shares(const Rules *r, PolicyState *s, const Snapshot *snap, double dt) {
        double total = 0;
        bool share_mode = false, share_fresh = false;
        for (size_t i = 0; i < r->n_tasks; i++)
                if (r->tasks[i].share_pct > 0 && snap->domains[r->tasks[i].domain].fresh)
                        share_fresh = true;
        double *basis = calloc(r->n_tasks ? r->n_tasks : 1, sizeof *basis);
        for (size_t i = 0; basis && i < r->n_tasks; i++) {
                if (r->tasks[i].share_pct <= 0)
                        continue;
                share_mode = true;
                const DomainState *ds = &s->domains[r->tasks[i].domain];
                double in_domain = 0;
                for (size_t k = 0; k < r->n_tasks; k++)
                        if (r->tasks[k].share_pct > 0 && r->tasks[k].domain == r->tasks[i].domain)
                                in_domain += s->tasks[k].cpu_frac;
                basis[i] = ds->vcpu_frac >= 0 && in_domain > 0 ? ds->vcpu_frac * s->tasks[i].cpu_frac / in_domain
                                                                : s->tasks[i].cpu_frac;
                total += basis[i];
        }
        share_fresh &= share_mode && dt > 0 && total > 0.2; /* new figures, and contention */
        if (share_fresh)
                for (size_t i = 0; i < r->n_tasks; i++)
                        if (r->tasks[i].share_pct > 0) {
                                double achieved = basis[i] / total;
                                TaskState *ts = &s->tasks[i];
                                ts->share_ewma = ts->share_ewma == 0 ? achieved
                                                                     : ts->share_ewma * (1 - SHARE_EWMA_ALPHA) +
                                                                               achieved * SHARE_EWMA_ALPHA;
                        }
        free(basis);
        return share_fresh;
}

/* 5a. A domain's weight: its highest busy priority, 1 while only idle-class
 * work runs (not while it is being resumed), burst boost, or the share target with its feedback gain. */
static unsigned plan_weight(const Rules *r, PolicyState *s, const Snapshot *snap, const Plan *p, size_t d,
                            bool share_fresh) {
        DomainState *ds = &s->domains[d];
        int busy_prio = -1, top_prio = -1;
        bool idle_running = false, idle_resuming = false, has_burst = false;
        double target = 0, achieved = 0;
        for (size_t i = 0; i < r->n_tasks; i++) {
                const TaskRule *tr = &r->tasks[i];
                if (tr->domain != d)
                        continue;
                has_burst |= tr->burst;
                if (tr->share_pct > 0) {
                        target += tr->share_pct / 100.0;
                        achieved += s->tasks[i].share_ewma;
                }
                if (tr->class == TASK_CLASS_IDLE) {
                        /* A task still stopped that this plan lets run is
                         * being resumed: the VM must get the CPU to carry
                         * that out (a guest kernel call, QMP, its agent),
                         * so weight 1 waits until the resume is seen. */
                        if (snap->tasks[i].present && !p->tasks[i].stop && snap->tasks[i].stopped)
                                idle_resuming = true;
                        else if (snap->tasks[i].present && !p->tasks[i].stop)
                                idle_running = true;
                        continue;
                }
                top_prio = MAX(top_prio, tr->priority);
                if (s->tasks[i].busy && !p->tasks[i].stop)
                        busy_prio = MAX(busy_prio, tr->priority);
        }
        /* Only idle-class work runs here: weight 1, the cgroup analog
         * of SCHED_IDLE, so that any other work preempts it before the
         * next tick can stop it. */
        unsigned w;
        if (busy_prio >= 0)
                w = policy_priority_to_weight(busy_prio);
        else if (idle_running && !idle_resuming)
                w = 1;
        else if (top_prio >= 0)
                w = policy_priority_to_weight(top_prio); /* ready for its top task to wake */
        else
                w = 100;
        if (has_burst)
                w = MIN(10000u, w * BURST_WEIGHT_FACTOR);
        if (target > 0) {
                if (share_fresh && achieved > 0) {
                        double step = pow(target / achieved, 0.1);
                        ds->share_gain *= step < 0.95 ? 0.95 : step > 1.05 ? 1.05 : step;
                        ds->share_gain = ds->share_gain < SHARE_GAIN_MIN   ? SHARE_GAIN_MIN
                                         : ds->share_gain > SHARE_GAIN_MAX ? SHARE_GAIN_MAX
                                                                           : ds->share_gain;
                }
                double ws = target * 1000.0 * ds->share_gain;
                w = ws < 1 ? 1 : ws > 10000 ? 10000 : (unsigned) lround(ws);
        }
        return w;
}

/* 5b. RT on demand: a guest decides when its task looks busy, so
 * it gets at most rt_budget of RT per window, then normal
 * scheduling until the window ends. */
static void plan_rt(const Rules *r, PolicyState *s, const Snapshot *snap, size_t d, DomainPlan *dp) {
        const DomainRule *dr = &r->domains[d];
        DomainState *ds = &s->domains[d];
        bool on_demand = dr->rt_on_demand >= 0;
        bool want = dr->rt_policy != 0 &&
                    (!on_demand || (snap->tasks[dr->rt_on_demand].present && s->tasks[dr->rt_on_demand].busy));
        dp->rt_budget_spent = false;
        if (on_demand) {
                rt_budget_charge(r, ds, s->started, s->last_t_ns, snap->t_ns);
                if (want && ds->rt_used_ns >= policy_rt_budget_ns(r)) {
                        want = false;
                        dp->rt_budget_spent = true;
                }
        }
        dp->rt = want;
        ds->rt_on = dp->rt;
}

/* 5c. Host SCHED_IDLE for the vCPUs of a domain that only idle-class work
 * keeps busy: an idle-class task there is busy and runs (not planned
 * stopped), every other task of the domain is idle, stopped or absent, and
 * RT is not wanted (a higher class wins).  Then any other VM's wake-up
 * preempts its vCPUs at once, with no poll.  The stop path still acts:
 * once other watched work is busy the idle-class task is planned stopped
 * and the vCPUs are normal again in the same tick, so that the guest (its
 * agent) gets the CPU to carry out the stop, as the domain's weight goes
 * back from 1.  Where the view cannot stop, the task is not planned
 * stopped, and SCHED_IDLE is what holds it back. */
static bool plan_vcpu_idle(const Rules *r, const PolicyState *s, const Snapshot *snap, const Plan *p, size_t d,
                           const DomainPlan *dp) {
        if (r->vcpu_idle_off || dp->rt || !snap->domains[d].present)
                return false;
        bool idle_busy = false;
        for (size_t i = 0; i < r->n_tasks; i++) {
                const TaskRule *tr = &r->tasks[i];
                if (tr->domain != d || !snap->tasks[i].present || !s->tasks[i].busy || p->tasks[i].stop)
                        continue;
                if (tr->class != TASK_CLASS_IDLE)
                        return false; /* other watched work runs here */
                idle_busy = true;
        }
        return idle_busy;
}

/* 5. Each domain: weight, rt and host SCHED_IDLE. */
static void plan_domains(const Rules *r, PolicyState *s, const Snapshot *snap, Plan *p, bool share_fresh) {
        for (size_t d = 0; d < r->n_domains; d++) {
                DomainPlan *dp = &p->domains[d];
                unsigned w = plan_weight(r, s, snap, p, d, share_fresh);
                dp->weight = w;
                s->domains[d].weight = w;
                plan_rt(r, s, snap, d, dp);
                dp->vcpu_idle = plan_vcpu_idle(r, s, snap, p, d, dp);
        }
}

void decide(const Rules *r, PolicyState *s, const Snapshot *snap, Plan *p) {
        double dt = s->started && snap->t_ns > s->last_t_ns ? (double) (snap->t_ns - s->last_t_ns) / 1e9 : 0;
        p->elapsed_s = dt;

        correct_steal(r, s, snap);
        update_busy(r, s, snap);
        throttle_below_starved(r, s);
        plan_tasks(r, s, snap, p, any_normal_busy(r, s));
        bool share_fresh = update_shares(r, s, snap, dt);
        plan_domains(r, s, snap, p, share_fresh);

        s->started = true;
        s->last_t_ns = snap->t_ns;
        s->tick++;
}
