/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics' HTTP server (libmicrohttpd, one internal epoll thread) and
 * the loop's side: a snapshot of the daemon after each tick.
 *
 * Three snapshots: the published one, the one the server's thread renders
 * (it marks it busy under the lock, renders without it), and the one the
 * loop fills (neither of those), then publishes by setting an index under
 * the lock.  One render at a time (MHD's one thread), so a free one is always
 * there, and the loop holds the lock for a few instructions, never for a
 * render or a client: MHD's sockets are non-blocking and its limits
 * (connections, per address, request memory, idle timeout) are checked on
 * its own thread. */

#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/daemon-internal.h"
#include "daemon/metrics.h"
#include "lever/lever.h"

#define METRICS_MAX_CONNECTIONS 64
#define METRICS_MAX_PER_IP 16
#define METRICS_TIMEOUT_S 5
#define METRICS_REQUEST_MEMORY (16u * 1024)   /* request line and headers; more is 431/413 */

uint64_t metrics_error_count(MetricsError e);   /* metrics.c */

struct MetricsServer {
        struct MHD_Daemon *mhd;
        pthread_mutex_t lock;
        MetricsSnapshot snaps[3];
        unsigned published;        /* index of the published snapshot */
        unsigned busy[3];          /* renders in progress of each */
        unsigned filling;          /* the loop's (between begin and publish) */
        char address[80];
        /* the loop's own */
        uint64_t ticks;            /* since the daemon started: a reload does not reset it */
        MetricsHistogram phase[_METRICS_PHASE_MAX];
        double publish_seconds;
        double start_time;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text, const char *content_type,
                             bool allow) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        if (allow)
                (void) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

/* On the server's thread.  Answered on the first call, before any body:
 * a request with a body is refused, the body is not read. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls) {
        MetricsServer *m = cls;
        (void) version;
        (void) upload_data;
        (void) upload_data_size;
        (void) req_cls;
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", "text/plain; charset=utf-8", true);
        if (!streq(url, "/metrics"))
                return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n", "text/plain; charset=utf-8",
                             false);
        char *text = NULL;
        size_t len = 0;
        pthread_mutex_lock(&m->lock);
        unsigned i = m->published;
        m->busy[i]++;
        pthread_mutex_unlock(&m->lock);
        int r = metrics_render(&m->snaps[i], &text, &len);
        pthread_mutex_lock(&m->lock);
        m->busy[i]--;
        pthread_mutex_unlock(&m->lock);
        if (r < 0)
                return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", "text/plain; charset=utf-8", false);
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        (void) cls;
        char msg[256];
        vsnprintf(msg, sizeof msg, fmt, ap);
        msg[strcspn(msg, "\n")] = 0;
        log_debug("metrics: %s", msg);
}

int metrics_server_start(const char *address, MetricsServer **ret, char *err, size_t err_size) {
        struct sockaddr_storage sa;
        socklen_t sa_len;
        int r = metrics_parse_address(address, &sa, &sa_len, err, err_size);
        if (r < 0)
                return r;
        MetricsServer *m = calloc(1, sizeof *m);
        if (!m) {
                snprintf(err, err_size, "metrics: out of memory");
                return -ENOMEM;
        }
        pthread_mutex_init(&m->lock, NULL);
        snprintf(m->address, sizeof m->address, "%s", address);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        m->start_time = (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;

        /* Our own socket, so that a failure says why (MHD only says NULL). */
        int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                r = -errno;
        else {
                int one = 1;
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (sa.ss_family == AF_INET6)
                        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
                if (bind(fd, (struct sockaddr *) &sa, sa_len) < 0 || listen(fd, 64) < 0)
                        r = -errno;
        }
        if (r < 0) {
                snprintf(err, err_size, "metrics = %s: cannot listen there: %s", address, strerror(-r));
                goto fail;
        }
        /* The server's thread takes no signal: the loop reads them from its
         * signalfd, which needs them blocked in every thread. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        m->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, m,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) METRICS_MAX_CONNECTIONS,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) METRICS_MAX_PER_IP,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) METRICS_TIMEOUT_S,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) METRICS_REQUEST_MEMORY,
                                  MHD_OPTION_END);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!m->mhd) {
                r = -EIO;
                snprintf(err, err_size, "metrics = %s: the HTTP server did not start", address);
                goto fail;
        }
        *ret = m;
        return 0;
fail:
        if (fd >= 0)
                close(fd);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return r;
}

void metrics_server_stop(MetricsServer *m) {
        if (!m)
                return;
        MHD_stop_daemon(m->mhd);   /* closes the listening socket too */
        pthread_mutex_destroy(&m->lock);
        for (size_t i = 0; i < ELEMENTSOF(m->snaps); i++)
                metrics_snapshot_done(&m->snaps[i]);
        free(m);
}

MetricsSnapshot *metrics_server_begin(MetricsServer *m) {
        pthread_mutex_lock(&m->lock);
        unsigned i = 0;
        while (i == m->published || m->busy[i] > 0)
                i++;   /* < 3: one published, at most one other rendered */
        m->filling = i;
        pthread_mutex_unlock(&m->lock);
        return &m->snaps[i];
}

const MetricsSnapshot *metrics_server_last(MetricsServer *m) {
        return &m->snaps[m->published];
}

void metrics_server_publish(MetricsServer *m) {
        pthread_mutex_lock(&m->lock);
        m->published = m->filling;
        pthread_mutex_unlock(&m->lock);
}

/* ---- the loop's side ---- */

/* As status.c's task_state(). */
static MetricsTaskState task_state(const Daemon *d, size_t t) {
        const TaskObs *o = &d->snap.tasks[t];
        if (!o->present)
                return METRICS_TASK_ABSENT;
        if (d->tasks[t].n_stopped > 0 || o->stopped)
                return METRICS_TASK_STOPPED;
        if (d->state.tasks[t].cpu_frac >= d->rules.busy_threshold)
                return METRICS_TASK_RUNNING;
        if (o->runnable)
                return METRICS_TASK_RUNNABLE;
        return METRICS_TASK_SLEEPING;
}

static double domain_cap(const DomainRule *rule) {
        for (size_t k = 0; k < rule->n_fixed; k++) {
                LeverSetting s;
                const char *why;
                if (strneq(rule->fixed[k], "cap=", 4) && lever_setting_parse(rule->fixed[k], &s, &why) >= 0)
                        return s.v.cap > 0 ? s.v.cap / 100 : -1;
        }
        return -1;
}

static int grow(void **a, size_t *cap, size_t n, size_t size) {
        if (n <= *cap)
                return 0;
        void *p = reallocarray(*a, n, size);
        if (!p)
                return -ENOMEM;
        *a = p;
        *cap = n;
        return 0;
}

/* The time task t was held stopped, as last published (its rule matched
 * by host and name: a reload keeps what is known of tasks that stay). */
static double last_stopped(const MetricsSnapshot *prev, size_t t, const char *host, const char *domain, const char *name) {
        if (t < prev->n_tasks && streq(prev->tasks[t].name, name) && streq(prev->tasks[t].domain, domain) &&
            streq(prev->tasks[t].host, host))
                return prev->tasks[t].stopped_seconds;
        for (size_t i = 0; i < prev->n_tasks; i++)
                if (streq(prev->tasks[i].name, name) && streq(prev->tasks[i].domain, domain) &&
                    streq(prev->tasks[i].host, host))
                        return prev->tasks[i].stopped_seconds;
        return 0;
}

/* Many hosts: each host's loop publishes from its own thread, one at a
 * time, keeping the other hosts' rows of the last snapshot. */
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

static bool other_host(const char *row_host, const Daemon *d) {
        return d->host && !streq(row_host, d->host);
}

static void metrics_publish_locked(Daemon *d);

void daemon_metrics_publish(Daemon *d) {
        if (!d->metrics)
                return;
        pthread_mutex_lock(&publish_lock);
        metrics_publish_locked(d);
        pthread_mutex_unlock(&publish_lock);
}

static void metrics_publish_locked(Daemon *d) {
        MetricsServer *m = d->metrics;
        uint64_t t0 = now_nsec();
        m->ticks++;   /* not d->state.tick: that one restarts with the rules (many hosts: every loop's ticks) */
        const MetricsSnapshot *prev = metrics_server_last(m);
        MetricsSnapshot *s = metrics_server_begin(m);
        size_t kd = 0, kt = 0;   /* the other hosts' rows, kept */
        for (size_t i = 0; i < prev->n_domains; i++)
                kd += other_host(prev->domains[i].host, d);
        for (size_t i = 0; i < prev->n_tasks; i++)
                kt += other_host(prev->tasks[i].host, d);
        if (grow((void **) &s->domains, &s->a_domains, kd + d->rules.n_domains, sizeof *s->domains) < 0 ||
            grow((void **) &s->tasks, &s->a_tasks, kt + d->rules.n_tasks, sizeof *s->tasks) < 0)
                return;   /* the last snapshot stays published */
        kd = kt = 0;
        for (size_t i = 0; i < prev->n_domains; i++)
                if (other_host(prev->domains[i].host, d))
                        s->domains[kd++] = prev->domains[i];
        for (size_t i = 0; i < prev->n_tasks; i++)
                if (other_host(prev->tasks[i].host, d))
                        s->tasks[kt++] = prev->tasks[i];

        metrics_histogram_observe(&m->phase[METRICS_PHASE_OBSERVE], d->cost_observe_us / 1e6);
        metrics_histogram_observe(&m->phase[METRICS_PHASE_DECIDE], d->cost_decide_us / 1e6);
        metrics_histogram_observe(&m->phase[METRICS_PHASE_ACT], d->cost_act_us / 1e6);
        /* each loop's own (many hosts: the loops tick apart) */
        double dt = d->metrics_t_ns && d->snap.t_ns > d->metrics_t_ns ? (double) (d->snap.t_ns - d->metrics_t_ns) / 1e9 : 0;
        d->metrics_t_ns = d->snap.t_ns;

        s->ticks = m->ticks;
        s->interval_seconds = d->rules.interval_ms / 1000.0;
        s->start_time_seconds = m->start_time;
        memcpy(s->phase, m->phase, sizeof s->phase);
        for (size_t e = 0; e < _METRICS_ERROR_MAX; e++)
                s->errors[e] = metrics_error_count((MetricsError) e);
        s->publish_seconds = m->publish_seconds;

        s->n_domains = kd + d->rules.n_domains;
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                const DomainRt *dr = &d->doms[i];
                MetricsDomain *md = &s->domains[kd + i];
                metrics_label_copy(md->host, METRICS_LABEL_MAX, d->host ? d->host : "");
                metrics_label_copy(md->name, METRICS_LABEL_MAX, d->rules.domains[i].name);
                metrics_label_copy(md->vm, METRICS_LABEL_MAX, dr->domain ? dr->domain->name : "");
                metrics_label_copy(md->view, METRICS_LABEL_MAX, dr->view_ok ? dr->view_name : "");
                metrics_label_copy(md->control_path, METRICS_LABEL_MAX, dr->view_ok ? dr->control_path : "");
                md->present = dr->domain != NULL;
                md->view_ok = dr->view_ok;
                md->rt = dr->rt;
                md->weight = dr->weight;
                md->cap_cpus = domain_cap(&d->rules.domains[i]);
                md->have_vcpu = dr->domain && dr->vcpu_t_ns != 0 && domain_count_class(dr->domain, THREAD_VCPU) > 0;
                md->vcpu_seconds = (double) dr->vcpu_ns / 1e9;
                md->steal_scale = d->state.domains[i].steal_scale;
        }
        s->n_tasks = kt + d->rules.n_tasks;
        for (size_t t = 0; t < d->rules.n_tasks; t++) {
                const TaskRule *tr = &d->rules.tasks[t];
                MetricsTask *mt = &s->tasks[kt + t];
                metrics_label_copy(mt->host, METRICS_LABEL_MAX, d->host ? d->host : "");
                metrics_label_copy(mt->name, METRICS_LABEL_MAX, tr->name);
                metrics_label_copy(mt->domain, METRICS_LABEL_MAX, d->rules.domains[tr->domain].name);
                mt->state = task_state(d, t);
                mt->present = d->snap.tasks[t].present;
                mt->cpu_seconds = (double) d->snap.tasks[t].cpu_ns / 1e9;
                mt->stopped_seconds = last_stopped(prev, kt + t, mt->host, mt->domain, mt->name) + (d->tasks[t].n_stopped > 0 ? dt : 0);
                mt->has_target = tr->share_pct > 0;
                mt->target_share = tr->share_pct / 100;
                mt->share = d->state.tasks[t].share_ewma;
                mt->priority = tr->priority;
        }
        metrics_server_publish(m);
        m->publish_seconds += (double) (now_nsec() - t0) / 1e9;
}
