/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The observe step: discovery of the configured domains, their host CPU
 * use, and the guest views' rounds (task lists, results of last round's
 * ops) -> the policy's snapshot. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/daemon-internal.h"
#include "daemon/match.h"
#include "host/sched.h"

/* ---- observe ---- */

static void domain_lost(Daemon *d, size_t i) {
        DomainRt *dr = &d->doms[i];
        /* Its guest is gone or restarted: nothing of ours is held there now. */
        (void) worker_stop(dr->worker, NULL, 0);
        dr->worker = NULL;
        dr->view_ok = dr->can_stop = dr->has_lease = false;
        dr->fixed_applied = false;
        dr->weight = 0;
        dr->rt = false;
        dr->rt_refused = false;
        dr->vcpu_idle = dr->vcpu_idle_failed = false;
        dr->n_pending = 0;
        for (size_t t = 0; t < d->rules.n_tasks; t++)
                if (d->rules.tasks[t].domain == i) {
                        d->tasks[t].n_stopped = 0;
                        d->tasks[t].nice_set = false;
                        d->tasks[t].n_idle_pids = 0;
                        d->tasks[t].n_pids = 0;
                }
}

/* Every REDISCOVER_EVERY_MS a quick discovery (names and pids from /proc or
 * libvirt, no monitor queries, so a busy or paused QEMU cannot stall the
 * loop); a full one (vCPU threads from QMP/libvirt) only for a domain that
 * is new or restarted. */
static void discover(Daemon *d) {
        HvOptions quick = d->opt->hv;
        quick.quick = true;
        DomainList l = {}, full = {};
        bool have_full = false;
        int r = hv_discover(&quick, &l, NULL);
        if (r < 0) {
                metrics_count_error(METRICS_ERROR_DISCOVERY);
                /* one line when it starts failing (a host that stopped answering) */
                if (!d->discovery_failing)
                        log_warning("%s%sdiscovery failed: %s; going on with what is known, asking again every %d s",
                                    d->host ? d->host : "", d->host ? ": " : "",
                                    r == -ETIMEDOUT ? "no answer in time" : strerror(-r), REDISCOVER_EVERY_MS / 1000);
                else
                        log_debug("discovery failed: %s", strerror(-r));
                d->discovery_failing = true;
                return;
        }
        if (d->discovery_failing)
                log_notice("%s%sdiscovery answers again", d->host ? d->host : "", d->host ? ": " : "");
        d->discovery_failing = false;
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                DomainRt *dr = &d->doms[i];
                /* Only a unique match is acted on: two domains of one name
                 * leave both alone until one is left. */
                size_t n_named = domain_list_count(&l, d->rules.domains[i].match);
                Domain *found = n_named == 1 ? domain_list_find(&l, d->rules.domains[i].match) : NULL;
                if (!found) {
                        if (dr->domain) {
                                if (n_named > 1)
                                        log_warning("%zu domains are named '%s' now: leaving %s alone until one is left",
                                                    n_named, d->rules.domains[i].match, d->rules.domains[i].name);
                                else
                                        log_notice("domain '%s' is gone", d->rules.domains[i].name);
                                domain_lost(d, i);
                        }
                        domain_free(dr->domain);
                        dr->domain = NULL;
                        continue;
                }
                if (dr->domain && dr->domain->pid == found->pid)
                        continue; /* known: keep the full picture we have */
                if (dr->domain) {
                        log_notice("domain '%s' restarted (pid %d -> %d)", d->rules.domains[i].name,
                                   (int) dr->domain->pid, (int) found->pid);
                        domain_lost(d, i);
                }
                if (!have_full) {
                        (void) hv_discover(&d->opt->hv, &full, NULL);
                        have_full = true;
                }
                Domain *better = domain_list_find(&full, d->rules.domains[i].match);
                DomainList *from = better && better->pid == found->pid ? &full : &l;
                Domain *take = from == &full ? better : found;
                for (size_t k = 0; k < from->n; k++)
                        if (from->domains[k] == take)
                                from->domains[k] = NULL; /* it is ours now */
                domain_free(dr->domain);
                dr->domain = take;
                if (!dr->worker && worker_start(take, d->rules.domains[i].view, &dr->worker) < 0) {
                        metrics_count_error(METRICS_ERROR_WORKER);
                        log_warning("%s: cannot start its guest view worker", d->rules.domains[i].name);
                }
        }
        domain_list_done(&l);
        domain_list_done(&full);
}

static void observe_domain(Daemon *d, size_t di) {
        DomainRt *dr = &d->doms[di];
        DomainObs *o = &d->snap.domains[di];
        dr->collected = false;
        o->present = dr->domain != NULL;
        o->fresh = false;
        if (!dr->domain) {
                o->view_ok = o->can_stop = false;
                for (size_t t = 0; t < d->rules.n_tasks; t++)
                        if (d->rules.tasks[t].domain == di)
                                d->snap.tasks[t] = (TaskObs) {};
                return;
        }
        if (dr->domain->pid > 0) {
                uint64_t ns;
                if (process_cpu_time_ns(dr->domain->pid, &ns) >= 0)
                        o->cpu_ns = ns;
                uint64_t v = 0, now = now_nsec();
                for (size_t k = 0; k < dr->domain->n_threads; k++)
                        if (dr->domain->threads[k].class == THREAD_VCPU &&
                            thread_cpu_time_ns(dr->domain->pid, dr->domain->threads[k].tid, &ns) >= 0)
                                v += ns;
                if (dr->vcpu_t_ns && now > dr->vcpu_t_ns && v >= dr->vcpu_ns)
                        dr->vcpu_frac = (double) (v - dr->vcpu_ns) / (double) (now - dr->vcpu_t_ns);
                dr->vcpu_ns = v;
                dr->vcpu_t_ns = now;
        }
        WorkerResult res;
        if (!dr->worker || !worker_collect(dr->worker, &res))
                return; /* still busy with the last round: keep what we know */
        dr->collected = true;
        if (!res.valid)
                return;
        _cleanup_free_ GuestTask *tasks = res.tasks;
        size_t n = res.n_tasks;

        /* What became of last round's actions. */
        for (size_t k = 0; k < res.n_ops; k++) {
                const WorkerOp *op = &res.ops[k];
                if (op->result >= 0 || op->result == -ESRCH)
                        continue;
                if (op->kind == WORKER_OP_NICE && op->result == -EBUSY) {
                        if (!dr->nice_busy)
                                log_info("%s: no idle vCPU for a guest kernel call (the guest is busy): no renice "
                                         "until it idles", d->rules.domains[di].name);
                        dr->nice_busy = true;
                }
                if (op->kind == WORKER_OP_SCHED && op->result == -EOPNOTSUPP) {
                        dr->no_sched = true;
                        continue;
                }
                if (op->kind == WORKER_OP_NICE && op->result == -EOPNOTSUPP) {
                        if (!dr->no_nice)
                                log_info("%s: the %s view cannot change nice values; leaving them", d->rules.domains[di].name,
                                         res.view_name);
                        dr->no_nice = true;
                        continue;
                }
                for (size_t t = 0; t < d->rules.n_tasks; t++) {
                        TaskRt *rt = &d->tasks[t];
                        if (d->rules.tasks[t].domain != di)
                                continue;
                        if (op->kind == WORKER_OP_STOP)
                                for (size_t s = 0; s < rt->n_stopped; s++)
                                        if (rt->stopped[s] == op->pid) {
                                                /* its entry stays until the task list shows it running */
                                                rt->stopped[s] = rt->stopped[--rt->n_stopped];
                                                break;
                                        }
                        if (op->kind == WORKER_OP_NICE)
                                rt->nice_set = false;
                }
                metrics_count_error(METRICS_ERROR_GUEST_OP);
                log_notice("%s: %s of guest pid %d failed: %s", d->rules.domains[di].name,
                           op->kind == WORKER_OP_STOP ? "stop" : op->kind == WORKER_OP_CONT ? "resume" : "nice",
                           (int) op->pid, strerror(-op->result));
        }

        bool was_ok = dr->view_ok;
        if (!streq(dr->view_name, res.view_name))
                dr->no_nice = dr->no_sched = false;
        dr->view_ok = res.view_ok;
        dr->can_stop = res.can_stop;
        dr->has_lease = res.has_lease;
        snprintf(dr->view_name, sizeof dr->view_name, "%s", res.view_name);
        snprintf(dr->control_path, sizeof dr->control_path, "%s", res.control_path);
        if (res.error[0] && !streq(res.error, dr->view_error)) {
                metrics_count_error(METRICS_ERROR_VIEW);
                log_notice("%s: %s", d->rules.domains[di].name, res.error);
        }
        snprintf(dr->view_error, sizeof dr->view_error, "%s", res.error);
        dr->view_retry_at_ns = res.view_ok ? 0 : now_nsec() + res.retry_in_ms * 1000000ull;
        if (dr->view_ok && !was_ok)
                log_info("%s: guest view %s", d->rules.domains[di].name, dr->view_name);
        o->view_ok = dr->view_ok;
        o->can_stop = dr->can_stop;
        if (!dr->view_ok) {
                /* A view that failed was dropped: the agent's lease undoes
                 * what it held; the worker released what a lease-less view
                 * held, and its journal entries stay until the view is back
                 * and shows those processes running (daemon_settle_guest_stops). */
                for (size_t t = 0; t < d->rules.n_tasks; t++)
                        if (d->rules.tasks[t].domain == di) {
                                d->tasks[t].n_stopped = 0;
                                d->tasks[t].nice_set = false;
                                d->tasks[t].n_idle_pids = 0;
                                d->tasks[t].n_pids = 0;
                                d->snap.tasks[t] = (TaskObs) {};
                        }
                return;
        }
        o->fresh = true;
        unsigned n_vcpus = domain_count_class(dr->domain, THREAD_VCPU);
        dr->guest_idled = dr->guest_t_ns && res.t_ns > dr->guest_t_ns && res.guest_cpu_ns >= dr->guest_cpu_ns &&
                          guest_idled(res.guest_cpu_ns - dr->guest_cpu_ns, res.t_ns - dr->guest_t_ns, n_vcpus);
        dr->guest_cpu_ns = res.guest_cpu_ns;
        dr->guest_t_ns = res.t_ns;
        o->t_ns = res.t_ns;
        o->guest_cpu_ns = res.guest_cpu_ns;
        o->vcpu_ns = res.vcpu_ns;

        for (size_t t = 0; t < d->rules.n_tasks; t++) {
                const TaskRule *tr = &d->rules.tasks[t];
                if (tr->domain != di)
                        continue;
                match_task(tr, tasks, n, &d->snap.tasks[t], &d->tasks[t]);
        }
        if (!d->opt->dry_run)
                daemon_settle_guest_stops(d, di, tasks, n);
}

void daemon_observe(Daemon *d) {
        uint64_t now = now_nsec();
        bool gone = false;
        for (size_t i = 0; i < d->rules.n_domains; i++)
                if (d->doms[i].domain && d->doms[i].domain->pid > 0 && kill(d->doms[i].domain->pid, 0) < 0 &&
                    errno == ESRCH)
                        gone = true;
        if (gone || now - d->last_discovery_ns >= REDISCOVER_EVERY_MS * 1000000ull) {
                discover(d);
                d->last_discovery_ns = now;
        }
        for (size_t i = 0; i < d->rules.n_domains; i++)
                observe_domain(d, i);
        d->snap.t_ns = now_nsec();
}
