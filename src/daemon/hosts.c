/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Many hosts in one daemon (`xvsched run -c A -c B`, or [hosts]): one loop
 * per host, each a Daemon of its own (rules, state, workers, timer) on a
 * thread of its own, so a host that stops answering stalls only its own
 * loop.  Rules stay per host (CPU contention is local): each loop gets the
 * rules not bound to a host and those bound to it (NAME@HOST).
 *
 * The process's Daemon keeps what is one per process: the journal (and its
 * lock, shared by the loops), the guard, the control socket, signals, the
 * timeline file.  Each loop publishes its status after every tick; the
 * control socket's "status" joins them.  At exit and reload every loop
 * stops (its guest views undo what they hold) and the process's Daemon
 * restores the journal, every host's entries, each on its own host. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/config.h"
#include "daemon/daemon-internal.h"

#define HOST_LABEL_MAX 256

typedef struct HostLoop {
        DaemonOptions opt;          /* the process's, with this host's URI only */
        char label[HOST_LABEL_MAX]; /* the HOST column's spelling */
        Daemon d;
        pthread_t thread;
        bool started;
        int wake_fd;                /* eventfd: stop */
        int done_fd;                /* the set's: written when --ticks is reached */
        atomic_bool quit;
        pthread_mutex_t lock;       /* the fields below */
        char *status;               /* its last status (JSON text); NULL before its first tick */
        uint64_t last_tick_ns;
        bool done;
} HostLoop;

struct HostSet {
        HostLoop *loops;
        size_t n;
        int event_fd;
};

static void host_label(const char *uri, char *buf, size_t size) {
        hv_uri_host(uri, buf, size);
}

/* ---- the check, at start and reload ---- */

static bool uri_failed(char **failed, const char *uri, const char **ret_line) {
        size_t n = strlen(uri);
        for (size_t i = 0; failed && failed[i]; i++)
                if (strneq(failed[i], uri, n) && failed[i][n] == ':') {
                        if (ret_line)
                                *ret_line = failed[i];
                        return true;
                }
        return false;
}

int hosts_check(const DaemonOptions *o, const Rules *rules, const char *path, char *err, size_t size) {
        size_t n = o->hv.n_libvirt_uris;
        char (*labels)[HOST_LABEL_MAX] = calloc(n ? n : 1, sizeof *labels);
        if (!labels) {
                snprintf(err, size, "out of memory");
                return -ENOMEM;
        }
        char all[512] = "";
        bool local = false;
        for (size_t i = 0; i < n; i++) {
                host_label(o->hv.libvirt_uris[i], labels[i], sizeof labels[i]);
                local = local || streq(labels[i], "localhost");
                for (size_t k = 0; k < i; k++)
                        if (streq(labels[k], labels[i])) {
                                snprintf(err, size, "hosts %s and %s are both %s: name each host once",
                                         o->hv.libvirt_uris[k], o->hv.libvirt_uris[i], labels[i]);
                                free(labels);
                                return -EINVAL;
                        }
                snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? ", " : "", labels[i]);
        }
        int r = 0;
        for (size_t i = 0; i < rules->n_domains && r == 0; i++) {
                const char *bound = config_rule_host(&rules->domains[i]);
                bool known = !bound;
                for (size_t k = 0; bound && k < n; k++)
                        known = known || streq(labels[k], bound);
                if (!known) {
                        snprintf(err, size, "%s:%u: domain '%s' is bound to host %s, which is none of the daemon's (%s)",
                                 path, rules->domains[i].line, rules->domains[i].name, bound, all);
                        r = -ENOENT;
                }
        }
        if (r < 0) {
                free(labels);
                return r;
        }

        HvOptions hv = o->hv;
        if (!local)
                hv.backend = "libvirt";   /* this machine's QEMUs are no host of the daemon's */
        DomainList l = {};
        _cleanup_(hv_strv_freep) char **failed = NULL;
        r = hv_discover_hosts(&hv, &l, NULL, &failed);
        if (r < 0) {
                snprintf(err, size, "%s: discovery failed: %s", path, strerror(-r));
                free(labels);
                return r;
        }
        size_t n_failed = 0;
        for (size_t i = 0; i < n; i++) {
                const char *line;
                if (uri_failed(failed, o->hv.libvirt_uris[i], &line)) {
                        n_failed++;
                        log_warning("cannot reach %s (its loop starts and keeps asking)", line);
                }
        }
        if (n_failed == n) {
                snprintf(err, size, "%s: no host answered (first: %s)", path, failed && failed[0] ? failed[0] : "?");
                domain_list_done(&l);
                free(labels);
                return -ETIMEDOUT;
        }
        for (size_t i = 0; i < rules->n_domains && r == 0; i++) {
                const DomainRule *dr = &rules->domains[i];
                const char *bound = config_rule_host(dr);
                size_t len = bound ? (size_t) (bound - 1 - dr->match) : strlen(dr->match);
                size_t on_any = 0;
                bool unsure = false;
                for (size_t h = 0; h < n && r == 0; h++) {
                        if (bound && !streq(bound, labels[h]))
                                continue;
                        if (uri_failed(failed, o->hv.libvirt_uris[h], NULL)) {
                                unsure = true;
                                continue;
                        }
                        size_t here = 0;
                        for (size_t k = 0; k < l.n; k++) {
                                char dh[HOST_LABEL_MAX];
                                hv_domain_host(l.domains[k], dh, sizeof dh);
                                here += streq(dh, labels[h]) && strlen(l.domains[k]->name) == len &&
                                        strneq(l.domains[k]->name, dr->match, len);
                        }
                        if (here > 1) {
                                snprintf(err, size, "%s:%u: %zu domains are named '%.*s' on %s: rename one", path, dr->line,
                                         here, (int) len, dr->match, labels[h]);
                                r = -ENOTUNIQ;
                        }
                        on_any += here;
                }
                if (r == 0 && on_any == 0 && !unsure) {
                        char known[512] = "";
                        for (size_t k = 0; k < l.n; k++) {
                                char dh[HOST_LABEL_MAX];
                                hv_domain_host(l.domains[k], dh, sizeof dh);
                                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s@%s", k ? ", " : "",
                                         l.domains[k]->name, dh);
                        }
                        snprintf(err, size, "%s:%u: domain '%.*s' does not exist on %s%s (known: %s)", path, dr->line,
                                 (int) len, dr->match, bound ? bound : "any host", bound ? "" : " of the daemon's",
                                 l.n ? known : "none");
                        r = -ENOENT;
                }
        }
        domain_list_done(&l);
        free(labels);
        return r;
}

/* ---- one host's loop ---- */

static void host_publish(HostLoop *h) {
        json_object *o = daemon_status_json(&h->d);
        char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
        json_object_put(o);
        pthread_mutex_lock(&h->lock);
        if (s) {
                free(h->status);
                h->status = s;
        }
        h->last_tick_ns = now_nsec();
        pthread_mutex_unlock(&h->lock);
}

static void *host_main(void *p) {
        HostLoop *h = p;
        Daemon *d = &h->d;
        int ep = epoll_create1(EPOLL_CLOEXEC), tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (ep < 0 || tfd < 0) {
                log_error("%s: cannot set up its loop: %m", h->label);
                goto out;
        }
        struct itimerspec its = { .it_interval = { .tv_sec = d->rules.interval_ms / 1000,
                                                   .tv_nsec = (long) (d->rules.interval_ms % 1000) * 1000000L } };
        its.it_value = its.it_interval;
        (void) timerfd_settime(tfd, 0, &its, NULL);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = tfd };
        (void) epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
        ev.data.fd = h->wake_fd;
        (void) epoll_ctl(ep, EPOLL_CTL_ADD, h->wake_fd, &ev);

        log_info("%s: loop running: %zu domains, %zu tasks, every %u ms", h->label, d->rules.n_domains, d->rules.n_tasks,
                 d->rules.interval_ms);
        d->t0_ns = now_nsec();
        daemon_tick(d);
        host_publish(h);
        while (!atomic_load(&h->quit)) {
                struct epoll_event e[2];
                int n = epoll_wait(ep, e, ELEMENTSOF(e), -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("%s: its loop: %m", h->label);
                        break;
                }
                for (int i = 0; i < n; i++) {
                        uint64_t x;
                        if (e[i].data.fd != tfd || read(tfd, &x, sizeof x) <= 0 || atomic_load(&h->quit))
                                continue;
                        pthread_mutex_lock(&h->lock);
                        bool done = h->done;
                        pthread_mutex_unlock(&h->lock);
                        if (done)
                                continue;
                        daemon_tick(d);
                        host_publish(h);
                        if (d->opt->max_ticks && d->state.tick >= d->opt->max_ticks) {
                                pthread_mutex_lock(&h->lock);
                                h->done = true;
                                pthread_mutex_unlock(&h->lock);
                                x = 1;
                                (void) !write(h->done_fd, &x, sizeof x);
                        }
                }
        }
out:
        /* its guest views undo what they hold; the journal is the process's */
        (void) daemon_release_views(d);
        if (ep >= 0)
                close(ep);
        if (tfd >= 0)
                close(tfd);
        return NULL;
}

static void host_loop_done(HostLoop *h) {
        if (h->started) {
                atomic_store(&h->quit, true);
                uint64_t x = 1;
                (void) !write(h->wake_fd, &x, sizeof x);
                pthread_join(h->thread, NULL);
                h->started = false;
        }
        daemon_rules_free(&h->d);
        if (h->wake_fd >= 0)
                close(h->wake_fd);
        h->wake_fd = -1;
        free(h->status);
        h->status = NULL;
        pthread_mutex_destroy(&h->lock);
}

void hosts_stop(Daemon *d) {
        HostSet *s = d->hosts;
        if (!s)
                return;
        /* all at once: each loop's next wake-up sees it */
        for (size_t i = 0; i < s->n; i++)
                if (s->loops[i].started) {
                        atomic_store(&s->loops[i].quit, true);
                        uint64_t x = 1;
                        (void) !write(s->loops[i].wake_fd, &x, sizeof x);
                }
        for (size_t i = 0; i < s->n; i++)
                host_loop_done(&s->loops[i]);
        free(s->loops);
        if (s->event_fd >= 0)
                close(s->event_fd);
        free(s);
        d->hosts = NULL;
}

/* event_fd: the earlier set's (a reload: the main loop watches it), or -1. */
static int hosts_start_with(Daemon *d, const Rules *rules, int event_fd) {
        const HvOptions *hv = &d->opt->hv;
        HostSet *s = calloc(1, sizeof *s);
        if (!s) {
                if (event_fd >= 0)
                        close(event_fd);
                return -ENOMEM;
        }
        s->event_fd = event_fd >= 0 ? event_fd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->loops = calloc(hv->n_libvirt_uris, sizeof *s->loops);
        d->hosts = s;
        if (s->event_fd < 0 || !s->loops)
                return s->event_fd < 0 ? negative_errno() : -ENOMEM;
        for (size_t i = 0; i < hv->n_libvirt_uris; i++)
                s->loops[i].wake_fd = -1;
        int r = 0;
        for (size_t i = 0; i < hv->n_libvirt_uris && r >= 0; i++) {
                HostLoop *h = &s->loops[i];
                pthread_mutex_init(&h->lock, NULL);
                s->n++;
                h->opt = *d->opt;
                h->opt.hv.libvirt_uri = hv->libvirt_uris[i];
                h->opt.hv.libvirt_uris = NULL;
                h->opt.hv.n_libvirt_uris = 0;
                host_label(hv->libvirt_uris[i], h->label, sizeof h->label);
                if (!streq(h->label, "localhost")) {
                        /* a remote host's domains are libvirt's there; this
                         * machine's QEMUs and local domains are not its */
                        h->opt.hv.backend = "libvirt";
                        h->opt.hv.local_specs = NULL;
                        h->opt.hv.n_local_specs = 0;
                }
                h->d = (Daemon) { .opt = &h->opt, .journal = d->journal, .journal_lock = d->journal_lock,
                                  .timeline = d->timeline, .metrics = d->metrics, .host = h->label,
                                  .config_path = d->config_path,
                                  .epoll_fd = -1, .timer_fd = -1, .signal_fd = -1, .control_fd = -1 };
                h->done_fd = s->event_fd;
                h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (h->wake_fd < 0) {
                        r = negative_errno();
                        break;
                }
                Rules mine = {};
                r = config_rules_for_host(rules, h->label, &mine);
                if (r >= 0)
                        r = daemon_rules_init(&h->d, &mine);
                rules_done(&mine);
                if (r < 0)
                        break;
                int k = pthread_create(&h->thread, NULL, host_main, h);
                if (k != 0) {
                        r = -k;
                        break;
                }
                h->started = true;
        }
        if (r < 0)
                hosts_stop(d);
        return r;
}

int hosts_start(Daemon *d, const Rules *rules) {
        return hosts_start_with(d, rules, -1);
}

int hosts_event_fd(const Daemon *d) {
        return d->hosts ? d->hosts->event_fd : -1;
}

/* Every loop reached --ticks. */
bool hosts_done(Daemon *d) {
        HostSet *s = d->hosts;
        uint64_t x;
        if (!s)
                return true;
        (void) !read(s->event_fd, &x, sizeof x);
        bool all = true;
        for (size_t i = 0; i < s->n; i++) {
                pthread_mutex_lock(&s->loops[i].lock);
                all = all && s->loops[i].done;
                pthread_mutex_unlock(&s->loops[i].lock);
        }
        return all;
}

/* The loops' last statuses joined: "hosts" (each loop's tick, and how long
 * ago it ticked: a host that stopped answering holds only its own loop),
 * and every host's domains and tasks, each with its "host". */
json_object *hosts_status_json(Daemon *d) {
        HostSet *s = d->hosts;
        json_object *o = json_object_new_object(), *hosts = json_object_new_array(), *tasks = json_object_new_array(),
                    *doms = json_object_new_array(), *cost = json_object_new_object();
        int64_t tick = 0, interval = 0;
        double c_obs = 0, c_dec = 0, c_act = 0;
        uint64_t now = now_nsec();
        for (size_t i = 0; s && i < s->n; i++) {
                HostLoop *h = &s->loops[i];
                pthread_mutex_lock(&h->lock);
                json_object *st = h->status ? json_tokener_parse(h->status) : NULL;
                uint64_t last = h->last_tick_ns;
                pthread_mutex_unlock(&h->lock);
                json_object *ho = json_object_new_object(), *v;
                json_object_object_add(ho, "host", json_object_new_string(h->label));
                json_object_object_add(ho, "uri", json_object_new_string(h->opt.hv.libvirt_uri));
                int64_t t = st && (v = get_member(st, "tick")) ? json_object_get_int64(v) : 0;
                json_object_object_add(ho, "tick", json_object_new_int64(t));
                json_object_object_add(ho, "interval_ms", json_object_new_int((int) h->d.rules.interval_ms));
                json_object_object_add(ho, "last_tick_ms_ago",
                                       last ? json_object_new_int64((int64_t) ((now - last) / 1000000)) : NULL);
                tick = MAX(tick, t);
                if (!interval)
                        interval = h->d.rules.interval_ms;
                if (st && (v = get_member(st, "cost"))) {
                        json_object *x;
                        c_obs = MAX(c_obs, (x = get_member(v, "observe_us")) ? json_object_get_double(x) : 0);
                        c_dec = MAX(c_dec, (x = get_member(v, "decide_us")) ? json_object_get_double(x) : 0);
                        c_act = MAX(c_act, (x = get_member(v, "act_us")) ? json_object_get_double(x) : 0);
                        json_object_object_add(ho, "cost", json_object_get(v));
                }
                const char *keys[] = { "tasks", "domains" };
                json_object *into[] = { tasks, doms };
                for (size_t k = 0; st && k < ELEMENTSOF(keys); k++)
                        if ((v = get_member(st, keys[k])) && json_object_is_type(v, json_type_array))
                                for (size_t j = 0; j < json_object_array_length(v); j++)
                                        json_object_array_add(into[k], json_object_get(json_object_array_get_idx(v, j)));
                json_object_put(st);
                json_object_array_add(hosts, ho);
        }
        json_object_object_add(o, "tick", json_object_new_int64(tick));
        json_object_object_add(o, "t_ms", json_object_new_int64((int64_t) ((now - d->t0_ns) / 1000000)));
        json_object_object_add(o, "interval_ms", json_object_new_int((int) interval));
        json_object_object_add(o, "hosts", hosts);
        json_object_object_add(o, "tasks", tasks);
        json_object_object_add(o, "domains", doms);
        json_object_object_add(cost, "observe_us", json_object_new_double(c_obs));
        json_object_object_add(cost, "decide_us", json_object_new_double(c_dec));
        json_object_object_add(cost, "act_us", json_object_new_double(c_act));
        json_object_object_add(o, "cost", cost);
        return o;
}

/* The new rules checked on every host first (the old ones stay on failure);
 * then every loop stops, the journal is restored, and new loops start.  The
 * hosts are those the daemon started with. */
int hosts_reload(Daemon *d, char *err, size_t size) {
        Rules rules = {};
        int r = config_parse_file(d->config_path, &rules, err, size);
        if (r >= 0)
                r = hosts_check(d->opt, &rules, d->config_path, err, size);
        if (r < 0) {
                rules_done(&rules);
                log_error("reload: %s (keeping the old rules)", err);
                return r;
        }
        /* the main loop watches the set's eventfd: the new set keeps it */
        int efd = d->hosts ? d->hosts->event_fd : -1;
        if (d->hosts)
                d->hosts->event_fd = -1;
        hosts_stop(d);
        (void) daemon_release_journal(d);
        r = hosts_start_with(d, &rules, efd);
        rules_done(&rules);
        if (r < 0) {
                snprintf(err, size, "cannot start the hosts' loops: %s", strerror(-r));
                log_error("reload: %s: exiting", err);
                d->quit = true;
                return r;
        }
        log_notice("reloaded %s: %zu hosts", d->config_path, d->opt->hv.n_libvirt_uris);
        return 0;
}
