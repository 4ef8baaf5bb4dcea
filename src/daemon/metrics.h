/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Prometheus metrics (`[daemon] metrics = ADDRESS:PORT`, docs/metrics.md).
 *
 * The daemon's loop publishes a MetricsSnapshot after each tick (a copy:
 * nothing in it points into the daemon); an HTTP server (libmicrohttpd, its
 * own thread) renders the last published snapshot for each GET /metrics.
 * The loop only takes the snapshots' lock to pick one and to publish it
 * (an index), never while a render runs; a client
 * that never reads, never finishes its request or opens hundreds of
 * connections costs the server's thread at most its limits, never the loop.
 *
 * metrics_render() is pure (snapshot -> text exposition format 0.0.4), for
 * the tests. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Label values are cut to this many bytes (at a character boundary) before
 * escaping: guest-given text (a VM's name, a view's error) is untrusted. */
#define METRICS_LABEL_MAX 128

/* The tick's phases, each a histogram of seconds. */
typedef enum MetricsPhase { METRICS_PHASE_OBSERVE, METRICS_PHASE_DECIDE, METRICS_PHASE_ACT, _METRICS_PHASE_MAX } MetricsPhase;

/* Upper bounds (seconds) of the histogram's buckets; +Inf is implied. */
#define METRICS_N_BUCKETS 12
extern const double metrics_buckets[METRICS_N_BUCKETS];

typedef struct MetricsHistogram {
        uint64_t counts[METRICS_N_BUCKETS + 1]; /* per bucket, not cumulative; the last is (last bound, +Inf) */
        uint64_t count;
        double sum;
} MetricsHistogram;

void metrics_histogram_observe(MetricsHistogram *h, double seconds);

/* Errors by kind, counted process-wide (any thread) whether or not metrics
 * are served. */
typedef enum MetricsError {
        METRICS_ERROR_DISCOVERY,   /* hypervisor discovery failed */
        METRICS_ERROR_VIEW,        /* a guest view failed (a new error from its worker) */
        METRICS_ERROR_GUEST_OP,    /* a stop, resume, nice or policy change in a guest failed */
        METRICS_ERROR_LEVER,       /* a host lever could not be applied */
        METRICS_ERROR_JOURNAL,     /* a guest stop not made: it could not be journaled */
        METRICS_ERROR_WORKER,      /* a view worker could not be started */
        _METRICS_ERROR_MAX,
} MetricsError;

const char *metrics_error_to_string(MetricsError e);
void metrics_count_error(MetricsError e);

typedef struct MetricsDomain {
        char host[METRICS_LABEL_MAX + 1];         /* many hosts: its host (label host); "" = one host, no label */
        char name[METRICS_LABEL_MAX + 1];         /* the rule's name (label domain) */
        char vm[METRICS_LABEL_MAX + 1];           /* the discovered VM's name; "" while absent */
        char view[METRICS_LABEL_MAX + 1];         /* "" without a view */
        char control_path[METRICS_LABEL_MAX + 1];
        bool present, view_ok, rt;
        unsigned weight;                          /* applied; 0 = none yet */
        double cap_cpus;                          /* fixed cap in CPUs; < 0 = none */
        bool have_vcpu;
        double vcpu_seconds;                      /* host CPU of its vCPU threads */
        double steal_scale;
} MetricsDomain;

/* A task's state, as `xvsched status` says it. */
typedef enum MetricsTaskState {
        METRICS_TASK_ABSENT,
        METRICS_TASK_SLEEPING,
        METRICS_TASK_RUNNABLE,
        METRICS_TASK_RUNNING,
        METRICS_TASK_STOPPED,
        _METRICS_TASK_STATE_MAX,
} MetricsTaskState;

const char *metrics_task_state_to_string(MetricsTaskState s);

typedef struct MetricsTask {
        char host[METRICS_LABEL_MAX + 1];         /* as MetricsDomain's */
        char name[METRICS_LABEL_MAX + 1];
        char domain[METRICS_LABEL_MAX + 1];
        MetricsTaskState state;
        bool present;
        double cpu_seconds;             /* its processes' CPU, as the guest counts it */
        double stopped_seconds;         /* time it was held stopped by xvsched */
        bool has_target;
        double share, target_share;     /* ratios 0..1 */
        int priority;
} MetricsTask;

typedef struct MetricsSnapshot {
        uint64_t ticks;
        double interval_seconds;
        double start_time_seconds;      /* unix time the daemon started */
        MetricsHistogram phase[_METRICS_PHASE_MAX];
        uint64_t errors[_METRICS_ERROR_MAX];
        double publish_seconds;         /* time the loop spent publishing snapshots */
        MetricsDomain *domains;
        size_t n_domains, a_domains;
        MetricsTask *tasks;
        size_t n_tasks, a_tasks;
} MetricsSnapshot;

void metrics_snapshot_done(MetricsSnapshot *s);

/* Copies src into dst (at most max bytes, cut at a UTF-8 character
 * boundary; bytes that are not UTF-8 become '?'). */
void metrics_label_copy(char *dst, size_t max, const char *src);

/* The text exposition format (version 0.0.4) of s: a malloc'd string in
 * *ret, its length in *ret_len.  Label values are escaped (\\, \", \n). */
int metrics_render(const MetricsSnapshot *s, char **ret, size_t *ret_len);

/* "PORT", "ADDRESS:PORT" (IPv4, or "localhost") or "[IPv6]:PORT"; no port
 * alone means 127.0.0.1.  -EINVAL with a one-line reason in err. */
int metrics_parse_address(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len, char *err, size_t err_size);

/* ---- the server (metrics.c; the daemon's side is in daemon-internal.h) ---- */

typedef struct MetricsServer MetricsServer;

/* Listens on address (already checked by the config's parser) and serves
 * /metrics from its own thread.  -errno, with a one-line reason in err. */
int metrics_server_start(const char *address, MetricsServer **ret, char *err, size_t err_size);
void metrics_server_stop(MetricsServer *m);
/* The loop's side: a snapshot to fill in (neither the published one nor
 * one being rendered; its arrays are reused, its contents stale), then
 * publish it.  last: the published one (the loop reads it, never writes). */
MetricsSnapshot *metrics_server_begin(MetricsServer *m);
const MetricsSnapshot *metrics_server_last(MetricsServer *m);
void metrics_server_publish(MetricsServer *m);
