/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Real time: RT that could starve the host is refused before anything
 * changes (lever_rt_check()), groups get an RT budget before their threads
 * become FIFO/RR (CONFIG_RT_GROUP_SCHED), and RT threads that share CPUs
 * with host work are warned about. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cgroup.h"
#include "host/cpus.h"
#include "host/sched.h"
#include "lever/lever-internal.h"

/* A thread must leave RT before its group's budget goes back (the kernel
 * answers EBUSY otherwise), and entries are restored newest first: when a
 * selected thread's original was recorded before its group's budget (a
 * cpus= set earlier), make that entry newer than the budget's. */
static int rt_threads_after_budgets(LeverContext *c, const Domain *d, const LeverSetting *s) {
        size_t n = journal_size(c->journal), n_keys = 0;
        _cleanup_free_ char **keys = calloc(n ? n : 1, sizeof *keys);
        if (!keys)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                json_object *e = journal_entry(c->journal, k);
                const char *type = journal_field_str(e, "type"), *key = journal_field_str(e, "key");
                pid_t tid = (pid_t) journal_field_int(e, "tid", 0);
                if (!type || !streq(type, "thread") || !key)
                        continue;
                for (size_t i = 0; i < d->n_threads; i++)
                        if (d->threads[i].tid == tid && (c->thread_mask & (1u << d->threads[i].class))) {
                                keys[n_keys++] = strdup(key); /* NULL: reported below */
                                break;
                        }
        }
        int r = 0;
        for (size_t k = 0; k < n_keys; k++) {
                int q = keys[k] ? journal_move_last(c->journal, keys[k]) : -ENOMEM;
                if (q < 0 && r >= 0)
                        r = lever_fail(c, s, q, "cannot record the order of restores in the state file: %s", strerror(-q));
        }
        for (size_t k = 0; k < n_keys; k++)
                free(keys[k]);
        return r;
}

/* With CONFIG_RT_GROUP_SCHED (v1), a thread in a group whose RT budget is 0
 * cannot become FIFO/RR.  Give each group of the selected threads a budget,
 * recorded first so that it is restored after the threads left RT.  RT
 * throttling stays on: the budget is a share of the global one, never all. */
int lever_ensure_rt_budgets(LeverContext *c, LeverTxn *t, Domain *d, const LeverSetting *s) {
        CgroupHost *h = NULL;
        if (cgroup_host_open(c->hv->cgroup_root, &h) < 0)
                return 0; /* no cgroups: nothing stands in the way */
        int r = 0;
        char **done = NULL;
        size_t n_done = 0;
        for (size_t i = 0; r >= 0 && i < d->n_threads; i++) {
                if (!(c->thread_mask & (1u << d->threads[i].class)))
                        continue;
                _cleanup_free_ char *cg = NULL, *saved = NULL;
                if (cgroup_pid_path(h, c->hv->proc_root, d->threads[i].tid, &cg) < 0 || streq(cg, "/"))
                        continue;
                bool seen = false;
                for (size_t k = 0; k < n_done; k++)
                        seen |= streq(done[k], cg);
                if (seen)
                        continue;
                r = cgroup_rt_runtime_save(h, cg, &saved);
                if (r == -EOPNOTSUPP || r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0) {
                        r = lever_fail(c, s, r, "cannot read the RT budget of %s: %s", cg, lever_errno_reason(r));
                        break;
                }
                r = lever_txn_record(c, t, journal_entry_rtbudget_new(lever_owner(c), d->name, cgroup_host_root(h), cg, saved));
                if (r < 0) {
                        r = lever_fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
                        break;
                }
                if (!c->dry_run) {
                        /* Ask for half of each period; settle for less when
                         * siblings already hold the rest. */
                        uint64_t us = 500000;
                        for (r = cgroup_ensure_rt_runtime(h, cg, us); r == -EBUSY && us > 50000;
                             r = cgroup_ensure_rt_runtime(h, cg, us))
                                us /= 2;
                        if (r < 0) {
                                r = lever_fail(c, s, r, "cannot give cgroup %s an RT budget: %s", cg, lever_errno_reason(r));
                                break;
                        }
                        if (r > 0)
                                lever_note(c, "rt: cgroup %s gets an RT budget of %llu us per period", cg, (unsigned long long) us);
                }
                char **nd = realloc(done, (n_done + 1) * sizeof *nd);
                if (!nd) {
                        r = -ENOMEM;
                        break;
                }
                done = nd;
                done[n_done++] = TAKE_PTR(cg);
                r = 0;
        }
        if (r >= 0 && n_done > 0 && !c->dry_run)
                r = rt_threads_after_budgets(c, d, s);
        for (size_t k = 0; k < n_done; k++)
                free(done[k]);
        free(done);
        cgroup_host_free(h);
        return r;
}

int lever_rt_check(int64_t rt_runtime_us, const CpuSet *online, const CpuSet *rt_cpus, const char **ret_reason) {
        if (rt_runtime_us < 0) {
                *ret_reason = "RT throttling is off (kernel.sched_rt_runtime_us = -1): a busy RT thread would starve "
                              "the host";
                return -EPERM;
        }
        if (cpuset_count(rt_cpus) > 0 && cpuset_subset(online, rt_cpus)) {
                *ret_reason = "the RT threads may run on every online CPU, leaving none to the host";
                return -EPERM;
        }
        *ret_reason = NULL;
        return 0;
}

int lever_rt_runtime_read(const char *proc_root, int64_t *ret) {
        /* Missing or unreadable: whether throttling is on cannot be told
         * (the caller refuses unless forced). */
        return rt_runtime_read(proc_root, ret);
}

static bool policy_is_rt(int policy) {
        return policy == SCHED_FIFO || policy == SCHED_RR;
}

/* Before anything changes: will the RT threads, as they are after this
 * call, leave the host a CPU and RT throttling?  The RT threads are the
 * domain's selected threads that are RT after the call (rt= given, or
 * already RT and cpus= given), on their CPUs after the call, and every
 * other thread xvsched made RT (journal), on its CPUs now. */
int lever_check_rt(LeverContext *c, const Domain *d, const LeverSetting *settings, size_t n) {
        const LeverSetting *rt = NULL, *cpus = NULL;
        for (size_t i = 0; i < n; i++) {
                if (settings[i].key == LEVER_RT)
                        rt = &settings[i];
                if (settings[i].key == LEVER_CPUS)
                        cpus = &settings[i];
        }
        if (rt && !policy_is_rt(rt->v.rt.policy))
                return 0; /* rt=off: never refused */
        if (!rt && !cpus)
                return 0;
        CpuSet rt_cpus = {};
        bool any = false;
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (!(c->thread_mask & (1u << d->threads[i].class)) || thread_sched_get(d->threads[i].tid, &ts) < 0)
                        continue;
                if (!rt && !policy_is_rt(ts.policy))
                        continue;
                const CpuSet *set = cpus ? &cpus->v.cpus : &ts.affinity;
                for (size_t w = 0; w < CPUSET_WORDS; w++)
                        rt_cpus.bits[w] |= set->bits[w];
                any = true;
        }
        if (!any)
                return 0; /* no thread becomes or stays RT here */
        for (size_t i = 0; c->journal && i < journal_size(c->journal); i++) {
                json_object *e = journal_entry(c->journal, i);
                const char *type = journal_field_str(e, "type");
                pid_t tid = (pid_t) journal_field_int(e, "tid", 0);
                if (!type || !streq(type, "thread") || tid <= 0)
                        continue;
                bool ours = false;
                for (size_t k = 0; k < d->n_threads; k++)
                        ours |= d->threads[k].tid == tid && (c->thread_mask & (1u << d->threads[k].class));
                ThreadSched ts;
                if (ours || thread_sched_get(tid, &ts) < 0 || ts.start_time != (uint64_t) journal_field_int(e, "start_time", 0) ||
                    !policy_is_rt(ts.policy))
                        continue;
                for (size_t w = 0; w < CPUSET_WORDS; w++)
                        rt_cpus.bits[w] |= ts.affinity.bits[w];
        }

        const LeverSetting *s = rt ? rt : cpus;
        const char *how = "pin the RT threads with cpus=LIST leaving a CPU to the host";
        int64_t runtime;
        int r = lever_rt_runtime_read(c->hv ? c->hv->proc_root : NULL, &runtime);
        if (r < 0)
                return c->rt_force ? 0
                                   : lever_fail(c, s, -EPERM, "cannot tell whether RT throttling is on: "
                                                        "kernel.sched_rt_runtime_us cannot be read (%s); refused "
                                                        "(override with --rt-force)",
                                          strerror(-r));
        CpuSet online;
        if (host_online_cpus(NULL, &online) < 0) {
                online = (CpuSet) {};
                for (long k = 0; k < sysconf(_SC_NPROCESSORS_ONLN) && k < CPUSET_WORDS * 64; k++)
                        cpuset_set(&online, (unsigned) k);
        }
        const char *why;
        r = lever_rt_check(runtime, &online, &rt_cpus, &why);
        if (r >= 0)
                return 0;
        if (runtime < 0)
                how = "turn it on: sysctl kernel.sched_rt_runtime_us=950000";
        _cleanup_free_ char *list = cpuset_format(&rt_cpus);
        if (c->rt_force) {
                lever_note(c, "warning: %s=%s: %s (RT CPUs %s); forced (--rt-force / rt_force)", lever_key_to_string(s->key),
                     s->value, why, list ? list : "?");
                return 0;
        }
        return lever_fail(c, s, -EPERM, "%s (RT CPUs %s): refused (%s, or override with --rt-force; rt_force = yes in "
                                  "xvsched.conf)", why, list ? list : "?", how);
}

void lever_warn_rt(LeverContext *c, Domain *d, const LeverSetting *s) {
        if (s->v.rt.policy != SCHED_FIFO && s->v.rt.policy != SCHED_RR)
                return;
        CpuSet isolated;
        if (host_isolated_cpus(NULL, &isolated) < 0)
                isolated = (CpuSet) {};
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (!(c->thread_mask & (1u << d->threads[i].class)) || thread_sched_get(d->threads[i].tid, &ts) < 0)
                        continue;
                if (!cpuset_subset(&ts.affinity, &isolated)) {
                        _cleanup_free_ char *list = cpuset_format(&ts.affinity);
                        lever_note(c, "warning: RT threads of '%s' share CPUs %s with host work (not isolated); RT throttling "
                                "keeps a share for others", d->name, list ? list : "?");
                        return;
                }
        }
}
