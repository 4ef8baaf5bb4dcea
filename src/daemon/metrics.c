/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prometheus metrics, the pure part: the text exposition format (0.0.4) of
 * a snapshot, label escaping, the tick histogram, the error counters and
 * the listen address's parser.  The server is metrics-server.c. */

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/parse.h"
#include "daemon/metrics.h"

const double metrics_buckets[METRICS_N_BUCKETS] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.05,   0.1,   0.25,   1 };

void metrics_histogram_observe(MetricsHistogram *h, double seconds) {
        if (!(seconds >= 0))   /* NaN too */
                seconds = 0;
        size_t b = 0;
        while (b < METRICS_N_BUCKETS && seconds > metrics_buckets[b])
                b++;
        h->counts[b]++;
        h->count++;
        h->sum += seconds;
}

/* ---- errors ---- */

static _Atomic uint64_t error_counts[_METRICS_ERROR_MAX];

static const char *const error_names[_METRICS_ERROR_MAX] = {
        [METRICS_ERROR_DISCOVERY] = "discovery", [METRICS_ERROR_VIEW] = "view",
        [METRICS_ERROR_GUEST_OP] = "guest_op",   [METRICS_ERROR_LEVER] = "lever",
        [METRICS_ERROR_JOURNAL] = "journal",     [METRICS_ERROR_WORKER] = "worker",
};

const char *metrics_error_to_string(MetricsError e) {
        return e >= 0 && e < _METRICS_ERROR_MAX ? error_names[e] : NULL;
}

void metrics_count_error(MetricsError e) {
        if (e >= 0 && e < _METRICS_ERROR_MAX)
                atomic_fetch_add_explicit(&error_counts[e], 1, memory_order_relaxed);
}

uint64_t metrics_error_count(MetricsError e);
uint64_t metrics_error_count(MetricsError e) {
        return e >= 0 && e < _METRICS_ERROR_MAX ? atomic_load_explicit(&error_counts[e], memory_order_relaxed) : 0;
}

static const char *const task_state_names[_METRICS_TASK_STATE_MAX] = {
        [METRICS_TASK_ABSENT] = "absent",     [METRICS_TASK_SLEEPING] = "sleeping", [METRICS_TASK_RUNNABLE] = "runnable",
        [METRICS_TASK_RUNNING] = "running",   [METRICS_TASK_STOPPED] = "stopped",
};

const char *metrics_task_state_to_string(MetricsTaskState s) {
        return s >= 0 && s < _METRICS_TASK_STATE_MAX ? task_state_names[s] : NULL;
}

void metrics_snapshot_done(MetricsSnapshot *s) {
        free(s->domains);
        free(s->tasks);
        *s = (MetricsSnapshot) {};
}

/* ---- labels ---- */

/* The length of the UTF-8 sequence at s (at most n bytes), 0 if it is not
 * one (overlong forms, surrogates and code points past U+10FFFF too). */
static size_t utf8_len(const unsigned char *s, size_t n) {
        unsigned c = s[0];
        size_t len;
        unsigned cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

void metrics_label_copy(char *dst, size_t max, const char *src) {
        size_t o = 0, n = src ? strlen(src) : 0;
        const unsigned char *s = (const unsigned char *) src;
        for (size_t i = 0; i < n;) {
                size_t l = utf8_len(s + i, n - i);
                if (o + (l ? l : 1) > max)
                        break;
                if (l == 0) {
                        dst[o++] = '?';
                        i++;
                        continue;
                }
                memcpy(dst + o, s + i, l);
                o += l;
                i += l;
        }
        dst[o] = 0;
}

/* A label value: at most METRICS_LABEL_MAX bytes of valid UTF-8 (the
 * snapshot's strings are, but the renderer does not rely on it), with
 * backslash, double quote and newline escaped as the format says. */
static void put_label_value(FILE *f, const char *v) {
        char clean[METRICS_LABEL_MAX + 1];
        metrics_label_copy(clean, METRICS_LABEL_MAX, v);
        for (const char *c = clean; *c; c++) {
                if (*c == '\\')
                        fputs("\\\\", f);
                else if (*c == '"')
                        fputs("\\\"", f);
                else if (*c == '\n')
                        fputs("\\n", f);
                else
                        fputc(*c, f);
        }
}

/* Go's ParseFloat reads all of these; +Inf, -Inf and NaN as the format
 * spells them. */
static void put_value(FILE *f, double v) {
        if (isnan(v))
                fputs("NaN", f);
        else if (isinf(v))
                fputs(v > 0 ? "+Inf" : "-Inf", f);
        else
                fprintf(f, "%.15g", v);
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2",...} value; labels: NULL-terminated pairs (a pair
 * whose value is NULL is left out: the host label of a one-host daemon). */
static void sample(FILE *f, const char *name, const char *const *labels, double v) {
        fputs(name, f);
        if (labels && labels[0]) {
                fputc('{', f);
                bool first = true;
                for (size_t i = 0; labels[i]; i += 2) {
                        if (!labels[i + 1])
                                continue;
                        fprintf(f, "%s%s=\"", first ? "" : ",", labels[i]);
                        first = false;
                        put_label_value(f, labels[i + 1]);
                        fputc('"', f);
                }
                fputc('}', f);
        }
        fputc(' ', f);
        put_value(f, v);
        fputc('\n', f);
}

static const char *const phase_names[_METRICS_PHASE_MAX] = { "observe", "decide", "act" };

static void render_daemon(FILE *f, const MetricsSnapshot *s) {
        family(f, "xvsched_build_info", "gauge", "The running xvsched's version (always 1).");
        sample(f, "xvsched_build_info", (const char *const[]) { "version", XVSCHED_VERSION, NULL }, 1);
        family(f, "xvsched_start_time_seconds", "gauge", "When the daemon started, in seconds since the Unix epoch.");
        sample(f, "xvsched_start_time_seconds", NULL, s->start_time_seconds);
        family(f, "xvsched_interval_seconds", "gauge", "The policy loop's interval.");
        sample(f, "xvsched_interval_seconds", NULL, s->interval_seconds);
        family(f, "xvsched_ticks_total", "counter", "Ticks (observe, decide, act) run since the daemon started.");
        sample(f, "xvsched_ticks_total", NULL, (double) s->ticks);

        family(f, "xvsched_tick_seconds", "histogram", "Time each phase of a tick took.");
        for (size_t p = 0; p < _METRICS_PHASE_MAX; p++) {
                const MetricsHistogram *h = &s->phase[p];
                uint64_t cum = 0;
                char le[32];
                for (size_t b = 0; b <= METRICS_N_BUCKETS; b++) {
                        cum += h->counts[b];
                        if (b < METRICS_N_BUCKETS)
                                snprintf(le, sizeof le, "%.15g", metrics_buckets[b]);
                        else
                                snprintf(le, sizeof le, "+Inf");
                        sample(f, "xvsched_tick_seconds_bucket",
                               (const char *const[]) { "phase", phase_names[p], "le", le, NULL }, (double) cum);
                }
                sample(f, "xvsched_tick_seconds_sum", (const char *const[]) { "phase", phase_names[p], NULL }, h->sum);
                sample(f, "xvsched_tick_seconds_count", (const char *const[]) { "phase", phase_names[p], NULL },
                       (double) h->count);
        }

        family(f, "xvsched_errors_total", "counter", "Errors the daemon met, by kind.");
        for (size_t e = 0; e < _METRICS_ERROR_MAX; e++)
                sample(f, "xvsched_errors_total", (const char *const[]) { "kind", error_names[e], NULL },
                       (double) s->errors[e]);
        family(f, "xvsched_metrics_publish_seconds_total", "counter",
               "Time the loop spent handing these metrics to the HTTP server.");
        sample(f, "xvsched_metrics_publish_seconds_total", NULL, s->publish_seconds);
}

static void render_domains(FILE *f, const MetricsSnapshot *s) {
        family(f, "xvsched_domain_info", "gauge",
               "A configured domain (always 1): the VM it matched, its guest view and how that stops and resumes tasks.");
        for (size_t i = 0; i < s->n_domains; i++) {
                const MetricsDomain *d = &s->domains[i];
                sample(f, "xvsched_domain_info",
                       (const char *const[]) { "host", d->host[0] ? d->host : NULL, "domain", d->name, "vm", d->vm, "view", d->view, "control_path",
                                               d->control_path, NULL },
                       1);
        }
#define DOMAIN_GAUGE(metric, type, help, cond, value)                                                       \
        do {                                                                                             \
                family(f, metric, type, help);                                                           \
                for (size_t i = 0; i < s->n_domains; i++) {                                              \
                        const MetricsDomain *d = &s->domains[i];                                         \
                        if (cond)                                                                        \
                                sample(f, metric, (const char *const[]) { "host", d->host[0] ? d->host : NULL, "domain", d->name, NULL }, value); \
                }                                                                                        \
        } while (0)
        DOMAIN_GAUGE("xvsched_domain_present", "gauge", "1 if the domain's VM is found on this host.", true, d->present);
        DOMAIN_GAUGE("xvsched_domain_view_up", "gauge", "1 if a guest view of the domain is open.", true, d->view_ok);
        DOMAIN_GAUGE("xvsched_domain_weight", "gauge", "The CPU weight xvsched applied to the domain (cgroup cpu.weight).",
                     d->present && d->weight > 0, d->weight);
        DOMAIN_GAUGE("xvsched_domain_cap_cpus", "gauge", "The domain's fixed CPU cap, in CPUs (1 = one CPU's time).",
                     d->cap_cpus >= 0, d->cap_cpus);
        DOMAIN_GAUGE("xvsched_domain_rt", "gauge", "1 while the domain's threads are at a real-time policy.", d->present,
                     d->rt);
        DOMAIN_GAUGE("xvsched_domain_vcpu_cpu_seconds_total", "counter",
                     "Host CPU time of the domain's vCPU threads (restarts with its VM).", d->present && d->have_vcpu,
                     d->vcpu_seconds);
        DOMAIN_GAUGE("xvsched_domain_steal_scale", "gauge",
                     "Real over guest-reported CPU of the domain's tasks (1 = no steal).", d->present, d->steal_scale);
#undef DOMAIN_GAUGE
}

static void render_tasks(FILE *f, const MetricsSnapshot *s) {
#define TASK_METRIC(metric, type, help, cond, value)                                                              \
        do {                                                                                                     \
                family(f, metric, type, help);                                                                   \
                for (size_t i = 0; i < s->n_tasks; i++) {                                                        \
                        const MetricsTask *t = &s->tasks[i];                                                     \
                        if (cond)                                                                                \
                                sample(f, metric, (const char *const[]) { "host", t->host[0] ? t->host : NULL, "domain", t->domain, "task", t->name, NULL }, \
                                       value);                                                                   \
                }                                                                                                \
        } while (0)
        TASK_METRIC("xvsched_task_cpu_seconds_total", "counter",
                    "CPU time of the task's guest processes, as the guest counts it (restarts with them).", t->present,
                    t->cpu_seconds);
        TASK_METRIC("xvsched_task_stopped_seconds_total", "counter", "Time xvsched held the task stopped.", true,
                    t->stopped_seconds);
        TASK_METRIC("xvsched_task_priority", "gauge", "The task's configured priority (0-99).", true, t->priority);
        TASK_METRIC("xvsched_task_share_ratio", "gauge", "The task's achieved CPU share among the share tasks (0-1).",
                    t->has_target, t->share);
        TASK_METRIC("xvsched_task_target_share_ratio", "gauge", "The task's configured target CPU share (0-1).",
                    t->has_target, t->target_share);
#undef TASK_METRIC
        family(f, "xvsched_task_state", "gauge", "1 for the task's state, 0 for the others.");
        for (size_t i = 0; i < s->n_tasks; i++)
                for (size_t k = 0; k < _METRICS_TASK_STATE_MAX; k++)
                        sample(f, "xvsched_task_state",
                               (const char *const[]) { "host", s->tasks[i].host[0] ? s->tasks[i].host : NULL, "domain", s->tasks[i].domain, "task", s->tasks[i].name, "state",
                                                       task_state_names[k], NULL },
                               s->tasks[i].state == (MetricsTaskState) k);
}

int metrics_render(const MetricsSnapshot *s, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        render_daemon(f, s);
        render_domains(f, s);
        render_tasks(f, s);
        bool bad = ferror(f);
        if (fclose(f) != 0 || bad) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* ---- the listen address ---- */

int metrics_parse_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len, char *err, size_t err_size) {
        char host[64] = "127.0.0.1";
        const char *port_s = s;
        bool v6 = false;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || (size_t) (close - s - 1) >= sizeof host) {
                        snprintf(err, err_size, "%.80s: expected [IPV6]:PORT", s);
                        return -EINVAL;
                }
                memcpy(host, s + 1, (size_t) (close - s - 1));
                host[close - s - 1] = 0;
                port_s = close + 2;
                v6 = true;
        } else {
                const char *colon = strrchr(s, ':');
                if (colon) {
                        if ((size_t) (colon - s) >= sizeof host || colon == s) {
                                snprintf(err, err_size, "%.80s: expected ADDRESS:PORT", s);
                                return -EINVAL;
                        }
                        memcpy(host, s, (size_t) (colon - s));
                        host[colon - s] = 0;
                        port_s = colon + 1;
                        if (strchr(host, ':')) {
                                snprintf(err, err_size, "%.80s: an IPv6 address goes in brackets: [ADDRESS]:PORT", s);
                                return -EINVAL;
                        }
                }
                if (streq(host, "localhost"))
                        snprintf(host, sizeof host, "127.0.0.1");
        }
        unsigned port;
        if (safe_atou(port_s, &port) < 0 || port < 1 || port > 65535) {
                snprintf(err, err_size, "%.80s: expected a port from 1 to 65535, as ADDRESS:PORT or PORT", s);
                return -EINVAL;
        }
        *ret = (struct sockaddr_storage) {};
        if (v6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) ret;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
                        snprintf(err, err_size, "%.80s: '%s' is not an IPv6 address", s, host);
                        return -EINVAL;
                }
                *ret_len = sizeof *a;
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) ret;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
                        snprintf(err, err_size, "%.80s: '%s' is not an IPv4 address (names other than localhost are not looked up)",
                                 s, host);
                        return -EINVAL;
                }
                *ret_len = sizeof *a;
        }
        return 0;
}
