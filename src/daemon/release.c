/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Undo what the daemon holds: everything at exit and reload
 * (daemon_release_all), and what a crashed run left at the next start
 * (daemon_recover). */

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/daemon-internal.h"
#include "daemon/recover.h"
#include "lever/journal.h"
#include "lever/lever.h"

/* This loop's guest views undo what they hold (exit, reload). */
int daemon_release_views(Daemon *d) {
        int ret = 0;
        daemon_vcpu_idle_off(d); /* a guest at SCHED_IDLE would answer the undo late */
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                DomainRt *dr = &d->doms[i];
                WorkerOp final[WORKER_MAX_OPS];
                size_t n = 0;
                for (size_t t = 0; t < d->rules.n_tasks; t++) {
                        TaskRt *rt = &d->tasks[t];
                        if (d->rules.tasks[t].domain != i)
                                continue;
                        for (size_t k = 0; k < rt->n_stopped && n < WORKER_MAX_OPS; k++)
                                final[n++] = (WorkerOp) { .kind = WORKER_OP_CONT, .pid = rt->stopped[k] };
                }
                /* worker_stop also makes the view undo what it holds (release). */
                int r = worker_stop(dr->worker, final, n);
                dr->worker = NULL;
                if (r < 0) {
                        log_warning("%s: the guest view could not undo every change: %s%s", d->rules.domains[i].name,
                                    strerror(-r), dr->has_lease ? " (the agent's lease will)" : "");
                        ret = r;
                }
                for (size_t t = 0; t < d->rules.n_tasks; t++)
                        if (d->rules.tasks[t].domain == i) {
                                d->tasks[t].n_stopped = 0;
                                d->tasks[t].nice_set = false;
                                d->tasks[t].n_idle_pids = 0;
                        }
                dr->view_ok = false;
                dr->fixed_applied = false;
                dr->weight = 0;
                dr->rt = false;
                dr->vcpu_idle = false;
                dr->n_pending = 0;
        }
        return ret;
}

/* Every guest change and host lever of this process's journal, on every
 * host (each entry names its host's URI). */
int daemon_release_journal(Daemon *d) {
        int ret = 0;
        if (!d->opt->dry_run) {
                pthread_mutex_lock(d->journal_lock);
                /* Whatever this daemon stopped or paused in guests and has
                 * not seen running since: the recovery the guard and a
                 * restart use, on this daemon's entries only. */
                RecoverOps ops;
                recover_ops_default(&ops, &d->opt->hv);
                int k = recover_guest(d->journal, &ops, getpid(), NULL);
                d->guest_changes_left = k != 0;
                if (k != 0) {
                        log_warning("%s guest change%s could not be undone now: kept in %s for the guard and the next start",
                                    k > 0 ? "some" : "the", k == 1 ? "" : "s", journal_path(d->journal));
                        ret = ret < 0 ? ret : k < 0 ? k : -EBUSY;
                }
                LeverContext c = { .hv = &d->opt->hv, .journal = d->journal, .owner = "daemon" };
                int r = lever_reset(&c, NULL);
                pthread_mutex_unlock(d->journal_lock);
                if (r < 0) {
                        for (const char *p = c.failed; p && *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n'))
                                log_error("cannot restore %.*s", (int) strcspn(p, "\n"), p);
                        log_error("restoring host levers failed: %s", c.error);
                        ret = r;
                } else if (r > 0)
                        log_info("restored %d host value%s", r, r == 1 ? "" : "s");
                lever_context_done(&c);
        }
        return ret;
}

/* Resume everything, restore every lever.  Used on exit and reload. */
int daemon_release_all(Daemon *d) {
        int r = daemon_release_views(d), k = daemon_release_journal(d);
        return r < 0 ? r : k;
}

/* After a crash: resume the guest stops and VM pauses a dead xvsched left
 * (recover_guest(): the guard's work, should the guard have died too),
 * then let lever_reset() restore the host levers. */
int daemon_recover(Daemon *d) {
        size_t n = 0;
        for (size_t i = 0; i < journal_size(d->journal); i++) {
                json_object *e = journal_entry(d->journal, i), *o = get_member(e, "owner"), *t = get_member(e, "type");
                if ((o && streq(json_object_get_string(o), "daemon")) ||
                    (t && (streq(json_object_get_string(t), "guest-stop") || streq(json_object_get_string(t), "pause"))))
                        n++;
        }
        if (n == 0)
                return 0;
        log_notice("found %zu value%s left by a previous run in %s: restoring them first", n, n == 1 ? "" : "s",
                   journal_path(d->journal));
        RecoverOps ops;
        recover_ops_default(&ops, &d->opt->hv);
        RecoverResult res = {};
        int k = recover_guest(d->journal, &ops, 0, &res);
        if (k != 0)
                log_warning("%u guest change%s of a previous run could not be undone yet: kept for the next try", res.kept,
                            res.kept == 1 ? "" : "s");
        LeverContext c = { .hv = &d->opt->hv, .journal = d->journal, .owner = "daemon" };
        int r = lever_reset(&c, NULL);
        if (r < 0)
                log_error("restoring what a previous run left failed: %s", c.error);
        lever_context_done(&c);
        return r < 0 ? r : 0;
}
