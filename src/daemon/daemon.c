/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's loop (daemon_run): setup, the event loop (timer, signals,
 * control socket), one tick = observe -> decide -> act -> timeline, and the
 * rule set's runtime (start, reload, teardown). */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/config.h"
#include "daemon/daemon-internal.h"
#include "daemon/guard.h"
#include "daemon/notify.h"
#include "hv/hv-libvirt-events.h"
#include "lever/journal.h"
#include "policy/policy.h"
#include "view/pause-hook.h"

/* ---- setup and teardown of one rule set ---- */

void daemon_rules_free(Daemon *d) {
        for (size_t i = 0; d->doms && i < d->rules.n_domains; i++) {
                (void) worker_stop(d->doms[i].worker, NULL, 0);
                domain_free(d->doms[i].domain);
        }
        free(d->doms);
        free(d->tasks);
        free(d->snap.tasks);
        free(d->snap.domains);
        d->doms = NULL;
        d->tasks = NULL;
        d->snap = (Snapshot) {};
        policy_state_done(&d->state);
        plan_done(&d->plan);
        rules_done(&d->rules);
}

int daemon_rules_init(Daemon *d, Rules *rules) {
        d->rules = *rules;
        *rules = (Rules) {};
        if (d->opt->interval_ms > 0)
                d->rules.interval_ms = d->opt->interval_ms;
        d->doms = calloc(d->rules.n_domains ? d->rules.n_domains : 1, sizeof *d->doms);
        d->tasks = calloc(d->rules.n_tasks ? d->rules.n_tasks : 1, sizeof *d->tasks);
        d->snap.tasks = calloc(d->rules.n_tasks ? d->rules.n_tasks : 1, sizeof *d->snap.tasks);
        d->snap.domains = calloc(d->rules.n_domains ? d->rules.n_domains : 1, sizeof *d->snap.domains);
        if (!d->doms || !d->tasks || !d->snap.tasks || !d->snap.domains)
                return -ENOMEM;
        int r = policy_state_init(&d->state, &d->rules);
        if (r >= 0)
                r = plan_init(&d->plan, &d->rules);
        return r;
}

void daemon_tick(Daemon *d) {
        uint64_t a = now_nsec();
        daemon_observe(d);
        uint64_t b = now_nsec();
        decide(&d->rules, &d->state, &d->snap, &d->plan);
        uint64_t c = now_nsec();
        daemon_act(d);
        uint64_t e = now_nsec();
        d->cost_observe_us = (double) (b - a) / 1000;
        d->cost_decide_us = (double) (c - b) / 1000;
        d->cost_act_us = (double) (e - c) / 1000;
        daemon_write_timeline(d);
        daemon_metrics_publish(d);
}

static void tick(Daemon *d) {
        guard_tick();
        daemon_tick(d);
}

/* ---- the rule set: checked at start, swapped at reload ---- */

/* Every configured domain must exist at start (and at reload). */
static int check_domains(const DaemonOptions *o, const Rules *rules, const char *path, char *err, size_t size) {
        DomainList l = {};
        int r = hv_discover(&o->hv, &l, NULL);
        if (r < 0) {
                /* a host that does not answer: named, one line */
                snprintf(err, size, "%s: discovery failed%s%s: %s", path, o->hv.libvirt_uri ? " at " : "",
                         o->hv.libvirt_uri ? o->hv.libvirt_uri : "", r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
                return r;
        }
        r = 0;
        for (size_t i = 0; i < rules->n_domains && r == 0; i++) {
                if (domain_list_count(&l, rules->domains[i].match) > 1) {
                        snprintf(err, size, "%s:%u: %zu domains are named '%s' here: rename one, or pick a backend with -b",
                                 path, rules->domains[i].line, domain_list_count(&l, rules->domains[i].match),
                                 rules->domains[i].match);
                        r = -ENOTUNIQ;
                        break;
                }
                if (!domain_list_find(&l, rules->domains[i].match)) {
                        char known[512] = "";
                        for (size_t k = 0; k < l.n; k++)
                                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                                         l.domains[k]->name);
                        snprintf(err, size, "%s:%u: domain '%s' does not exist here (known: %s)", path,
                                 rules->domains[i].line, rules->domains[i].match, l.n ? known : "none");
                        r = -ENOENT;
                }
        }
        domain_list_done(&l);
        return r;
}

/* One host: the rules bound to another (NAME@HOST) are an error; those
 * bound to this one lose their "@HOST". */
static int bind_one_host(const DaemonOptions *o, Rules *rules, const char *path, char *err, size_t size) {
        char label[256];
        hv_uri_host(o->hv.libvirt_uri, label, sizeof label);
        bool any = false;
        for (size_t i = 0; i < rules->n_domains; i++) {
                const char *bound = config_rule_host(&rules->domains[i]);
                if (bound && !streq(bound, label)) {
                        snprintf(err, size, "%s:%u: domain '%s' is bound to host %s, not this daemon's (%s)", path,
                                 rules->domains[i].line, rules->domains[i].name, bound, label);
                        return -ENOENT;
                }
                any = any || bound;
        }
        if (!any)
                return 0;
        Rules mine = {};
        int r = config_rules_for_host(rules, label, &mine);
        if (r < 0) {
                snprintf(err, size, "out of memory");
                return r;
        }
        rules_done(rules);
        *rules = mine;
        return 0;
}

static int reload_rules(Daemon *d, char *err, size_t size) {
        Rules rules = {};
        if (d->hosts)
                return hosts_reload(d, err, size);
        int r = config_parse_file(d->config_path, &rules, err, size);
        if (r >= 0)
                r = bind_one_host(d->opt, &rules, d->config_path, err, size);
        if (r >= 0)
                r = check_domains(d->opt, &rules, d->config_path, err, size);
        if (r < 0) {
                rules_done(&rules);
                log_error("reload: %s (keeping the old rules)", err);
                return r;
        }
        (void) daemon_release_all(d);
        daemon_rules_free(d);
        r = daemon_rules_init(d, &rules);
        rules_done(&rules);
        if (r < 0)
                return r;
        struct itimerspec its = { .it_interval = { .tv_sec = d->rules.interval_ms / 1000,
                                                   .tv_nsec = (long) (d->rules.interval_ms % 1000) * 1000000L } };
        its.it_value = its.it_interval;
        (void) timerfd_settime(d->timer_fd, 0, &its, NULL);
        d->last_discovery_ns = 0;
        log_notice("reloaded %s: %zu domains, %zu tasks", d->config_path, d->rules.n_domains, d->rules.n_tasks);
        return 0;
}

/* The service manager sees the reload from start to end (sd_notify(3)). */
int daemon_reload(Daemon *d, char *err, size_t size) {
        (void) daemon_notify_reloading();
        int r = reload_rules(d, err, size);
        (void) daemon_notify_ready(NULL);
        return r;
}

int daemon_run(const DaemonOptions *given) {
        /* The hosts: -c (each one given) wins over the config's [hosts]. */
        DaemonOptions eff = *given;
        const DaemonOptions *o = &eff;
        pthread_mutex_t journal_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
        Daemon d = { .opt = o, .epoll_fd = -1, .timer_fd = -1, .signal_fd = -1, .control_fd = -1,
                     .journal_lock = &journal_lock };
        char err[512];
        Rules rules = {};
        _cleanup_(config_daemon_done) ConfigDaemon dconf = {};
        int r = config_parse_file_daemon(o->config_path, &rules, &dconf, err, sizeof err);
        if (r < 0)
                return log_error_errno(r, "%s", err);
        if (!given->hv.libvirt_uri && given->hv.n_libvirt_uris == 0 && dconf.n_hosts > 0) {
                eff.hv.libvirt_uri = dconf.hosts[0];
                eff.hv.libvirt_uris = dconf.n_hosts > 1 ? dconf.hosts : NULL;
                eff.hv.n_libvirt_uris = dconf.n_hosts > 1 ? dconf.n_hosts : 0;
        }
        bool many = eff.hv.n_libvirt_uris > 1;
        if (many)
                r = hosts_check(o, &rules, o->config_path, err, sizeof err);
        else {
                r = bind_one_host(o, &rules, o->config_path, err, sizeof err);
                if (r >= 0)
                        r = check_domains(o, &rules, o->config_path, err, sizeof err);
        }
        if (r < 0) {
                rules_done(&rules);
                return log_error_errno(r, "%s", err);
        }
        d.config_path = strdup(o->config_path);
        /* many hosts: the loops take their rules once the process is set up */
        r = many ? 0 : daemon_rules_init(&d, &rules);
        if (!many)
                rules_done(&rules);
        if (r < 0 || !d.config_path) {
                daemon_rules_free(&d);
                rules_done(&rules);
                free(d.config_path);
                return log_error_errno(-ENOMEM, "out of memory");
        }

        r = journal_open(o->state_dir, &d.journal);
        if (r == -EBUSY)
                r = log_error_errno(r, "another xvsched holds the state file (is a daemon running already?)");
        else if (r == JOURNAL_UNSAFE_DIR)
                r = log_error_errno(r, "state directory %s must be a directory (not a symlink) owned by root and not "
                                       "writable by group or others; refusing to use it", journal_state_dir(o->state_dir));
        else if (r < 0)
                r = log_error_errno(r, "cannot open the state file: %m");
        if (r >= 0 && !o->dry_run)
                r = daemon_recover(&d);
        if (r >= 0) {
                r = control_open(&d, journal_state_dir(o->state_dir));
                if (r < 0)
                        log_error_errno(r, "cannot open the control socket: %m");
        }
        if (r < 0)
                goto out;   /* each failure above said why, in one line */
        if (!o->dry_run) {
                /* Before any stop or pause, and before the view workers (it forks). */
                r = guard_start(o->state_dir, &o->hv);
                if (r < 0) {
                        r = log_error_errno(r, "cannot start the guard process: %m");
                        goto out;
                }
                guard_pause_hook_install(d.journal, d.journal_lock, "daemon", o->state_dir, &o->hv);
                /* The vmi view's agentless cont/nice call guest kernel functions
                 * through the gdbstub (docs/agentless.md; a call interrupted by
                 * a SIGKILL is journaled with its pause and finished by the
                 * guard or the next start).  agentless_calls = no turns them
                 * off: set after recovery and the guard's fork, which may
                 * still resume an earlier run's agentless stop. */
                if (!dconf.agentless_calls && setenv("XVSCHED_VMI_KCALL", "0", 1) < 0) {
                        r = log_error_errno(-errno, "cannot set XVSCHED_VMI_KCALL: %m");
                        goto out;
                }
        } else
                guard_pause_hook_install_refusing();   /* a dry run pauses no VM */

        const char *timeline = o->timeline ? o->timeline : d.rules.timeline;
        if (timeline) {
                /* root writes here: no symlink, only a regular file of root's or ours */
                int tfd = -1;
                r = open_append_safe(timeline, &tfd);
                if (r >= 0 && !(d.timeline = fdopen(tfd, "ae"))) {
                        r = negative_errno();
                        close(tfd);
                }
                if (r < 0) {
                        r = log_error_errno(r, "cannot open the timeline %s: %s", timeline,
                                            r == -ELOOP ? "it is a symlink"
                                            : r == -EPERM ? "not a regular file owned by root"
                                                          : strerror(-r));
                        goto out;
                }
        }

        /* After the guard's fork: the metrics server is a thread. */
        if (dconf.metrics && (r = metrics_server_start(dconf.metrics, &d.metrics, err, sizeof err)) < 0) {
                log_error_errno(r, "%s", err);
                goto out;
        }
        /* After the guard's fork too: libvirt's event loop (a thread), so
         * that a call to a host gone silent ends by keepalive (docs/hosts.md) */
        (void) hv_libvirt_events_start();

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        d.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        d.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        d.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (d.signal_fd < 0 || d.timer_fd < 0 || d.epoll_fd < 0) {
                r = log_error_errno(negative_errno(), "cannot set up the event loop: %m");
                goto out;
        }
        /* Many hosts: this thread's timer is the guard's (the loops tick on their own). */
        unsigned timer_ms = many ? 500 : d.rules.interval_ms;
        struct itimerspec its = { .it_interval = { .tv_sec = timer_ms / 1000,
                                                   .tv_nsec = (long) (timer_ms % 1000) * 1000000L } };
        its.it_value = its.it_interval;
        timerfd_settime(d.timer_fd, 0, &its, NULL);
        int fds[] = { d.timer_fd, d.signal_fd, d.control_fd };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
                epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, fds[i], &ev);
        }

        d.t0_ns = now_nsec();
        if (many) {
                log_notice("running %s: %zu hosts, a loop each%s", o->config_path, eff.hv.n_libvirt_uris,
                           o->dry_run ? " (dry run: nothing changes)" : "");
                /* the signals are blocked above: the loops' threads inherit that */
                r = hosts_start(&d, &rules);
                rules_done(&rules);
                if (r < 0) {
                        r = log_error_errno(r, "cannot start the hosts' loops: %m");
                        goto out;
                }
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = hosts_event_fd(&d) };
                epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev);
                char status[128];
                snprintf(status, sizeof status, "%zu hosts", eff.hv.n_libvirt_uris);
                (void) daemon_notify_ready(status);
        } else {
                log_notice("running %s: %zu domains, %zu tasks, every %u ms%s", o->config_path, d.rules.n_domains,
                           d.rules.n_tasks, d.rules.interval_ms, o->dry_run ? " (dry run: nothing changes)" : "");
                tick(&d);
                char status[128];
                snprintf(status, sizeof status, "%zu domains, %zu tasks, every %u ms", d.rules.n_domains,
                         d.rules.n_tasks, d.rules.interval_ms);
                (void) daemon_notify_ready(status);   /* recovery done, the loop runs */
        }
        while (!d.quit) {
                struct epoll_event ev[4];
                int n = epoll_wait(d.epoll_fd, ev, ELEMENTSOF(ev), control_expire(&d));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(negative_errno(), "event loop: %m");
                        break;
                }
                for (int i = 0; i < n && !d.quit; i++) {
                        if (ev[i].data.fd == d.timer_fd) {
                                uint64_t expirations;
                                if (read(d.timer_fd, &expirations, sizeof expirations) <= 0)
                                        continue;
                                if (many)
                                        guard_tick();
                                else {
                                        tick(&d);
                                        if (o->max_ticks && d.state.tick >= o->max_ticks)
                                                d.quit = true;
                                }
                        } else if (ev[i].data.fd == d.signal_fd) {
                                struct signalfd_siginfo si;
                                if (read(d.signal_fd, &si, sizeof si) != sizeof si)
                                        continue;
                                if (si.ssi_signo == SIGHUP)
                                        (void) daemon_reload(&d, err, sizeof err);
                                else {
                                        log_notice("got %s: restoring and exiting", strsignal((int) si.ssi_signo));
                                        d.quit = true;
                                }
                        } else if (ev[i].data.fd == d.control_fd)
                                control_accept(&d);
                        else if (d.hosts && ev[i].data.fd == hosts_event_fd(&d)) {
                                if (hosts_done(&d))
                                        d.quit = true;
                        }
                        else
                                control_handle_client(&d, ev[i].data.fd);
                }
        }
        (void) daemon_notify_stopping();
        {
                /* many hosts: every loop stops (its views undo), then the journal */
                int k = 0;
                if (many) {
                        hosts_stop(&d);
                        k = daemon_release_journal(&d);
                } else
                        k = daemon_release_all(&d);
                if (r >= 0)
                        r = k;
        }
out:
        if (d.hosts) {
                /* a failure after the loops started */
                hosts_stop(&d);
                (void) daemon_release_journal(&d);
        }
        rules_done(&rules);
        metrics_server_stop(d.metrics);
        daemon_rules_free(&d);
        if (d.timeline)
                fclose(d.timeline);
        control_drop_all(&d);
        if (d.control_fd >= 0) {
                close(d.control_fd);
                unlink(d.control_path);
        }
        if (d.epoll_fd >= 0)
                close(d.epoll_fd);
        if (d.timer_fd >= 0)
                close(d.timer_fd);
        if (d.signal_fd >= 0)
                close(d.signal_fd);
        guest_pause_hook_set(NULL);
        journal_free(d.journal);
        /* the guard exits at once, or (guest changes left) resumes them now */
        guard_finish(!d.guest_changes_left);
        free(d.config_path);
        return r < 0 ? r : 0;
}
