/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What the daemon's files share (not an interface of the daemon layer):
 * the Daemon struct, the per-domain and per-task runtime, and the steps of
 * one tick.  daemon.c runs the loop and owns the rule set's runtime,
 * observe.c discovers domains and reads guests, act.c applies the plan,
 * status.c writes the status and timeline, release.c undoes everything
 * (exit, reload, recovery at start), control.c serves the control socket. */

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "basic/time-util.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/match.h"
#include "daemon/metrics.h"
#include "daemon/worker.h"
#include "lever/journal.h"
#include "policy/policy.h"

#define REDISCOVER_EVERY_MS 2000
#define KEEPALIVE_EVERY_MS 1000
/* Asking a guest costs its CPU (an agent poll is ~1-4 ms of a TCG vCPU).
 * The host sees each domain's vCPU use for free, so the guest is asked
 * when that changes, when actions are due, and at least this often. */
#define GUEST_POLL_MAX_MS 1000
#define GUEST_POLL_CHANGE 0.15
#define CONTROL_MAX_LINE 4096
/* Control clients never hold the loop: their sockets are non-blocking, a
 * request must arrive within CONTROL_REQUEST_MS of the connect and its reply
 * be taken within CONTROL_REPLY_MS, else the client is dropped; at most
 * CONTROL_MAX_CLIENTS at once (a new one pushes out the oldest). */
#define CONTROL_MAX_CLIENTS 8
#define CONTROL_REQUEST_MS 1000
#define CONTROL_REPLY_MS 2000
#define CONTROL_MAX_REPLY (4u << 20)

typedef struct ControlClient {
        bool used;
        int fd;
        uint64_t since_ns, deadline_ns;
        char in[CONTROL_MAX_LINE];
        size_t n_in;
        char *out;                 /* the reply once the request is handled */
        size_t n_out, sent;
} ControlClient;

typedef struct DomainRt {
        Domain *domain;            /* NULL while not found */
        Worker *worker;            /* talks to the guest view; NULL while the domain is absent */
        bool collected;            /* its worker delivered a round this tick */
        bool view_ok, can_stop, has_lease;
        char view_name[16];
        char control_path[64];
        char view_error[160];
        uint64_t view_retry_at_ns; /* no view: when its worker tries to open one again (CLOCK_MONOTONIC) */
        bool no_nice;              /* the view cannot renice (vmi): do not ask again */
        bool no_sched;             /* nor change policies */
        bool nice_busy;            /* a renice was refused for want of an idle vCPU (a guest kernel call):
                                    * none again until the guest idled with its watched work idle */
        bool guest_idled;          /* its guest idled over the last fresh round (match.h guest_idled) */
        uint64_t guest_cpu_ns, guest_t_ns; /* that round's guest CPU sum and time */
        WorkerOp pending[WORKER_MAX_OPS];
        size_t n_pending;
        uint64_t keepalive_ns;
        uint64_t polled_ns;        /* when its last round was submitted */
        double vcpu_frac_polled;   /* host vCPU use (of one CPU) at that time */
        double vcpu_frac;          /* over the last tick */
        uint64_t vcpu_ns, vcpu_t_ns;
        bool fixed_applied;
        unsigned weight;           /* applied; 0 = never set */
        bool rt;
        bool rt_refused;           /* RT refused as unsafe for the host (lever_rt_check): said once, not retried */
        bool vcpu_idle;            /* its vCPU threads at the host's SCHED_IDLE (rt=idle, journaled) */
        bool vcpu_idle_failed;     /* rt=idle failed: said once, not retried until the domain restarts */
        bool group_idle;           /* with them, its own cgroup at cpu.idle 1 (idle=yes, journaled) */
        bool group_idle_refused;   /* idle=yes refused (no own group, no cpu.idle): said once, not retried */
} DomainRt;

typedef struct Daemon {
        const DaemonOptions *opt;
        char *config_path;
        Rules rules;
        PolicyState state;
        Plan plan;
        Snapshot snap;
        DomainRt *doms;
        TaskRt *tasks;
        Journal *journal;
        /* The journal is also written by the views' worker threads (a VM
         * pause is recorded before it is made, guard.c's hook): every use
         * of journal holds this lock.  Recursive, since a hook may run on
         * the main thread.  Many hosts: every host's loop shares the
         * process's journal and this lock. */
        pthread_mutex_t *journal_lock;
        bool guest_changes_left;   /* daemon_release_all() left guest stops or pauses in the journal */
        FILE *timeline;
        char control_path[256];
        int epoll_fd, timer_fd, signal_fd, control_fd;
        ControlClient clients[CONTROL_MAX_CLIENTS];
        uint64_t t0_ns, last_discovery_ns;
        bool quit;
        double cost_observe_us, cost_decide_us, cost_act_us;
        MetricsServer *metrics;    /* [daemon] metrics; NULL = none */
        /* Many hosts (hosts.c): the process's Daemon holds the host loops
         * (hosts, no rules of its own); each loop is a Daemon of its own,
         * running on a thread, with host set (the HOST column's spelling,
         * shown in its status, timeline and metrics).  NULL with one host. */
        struct HostSet *hosts;
        const char *host;
        bool discovery_failing;    /* the last discovery failed (said once) */
        uint64_t metrics_t_ns;     /* its snapshot's time at its last metrics publish */
} Daemon;

static inline json_object *get_member(json_object *e, const char *k) {
        json_object *v;
        return json_object_object_get_ex(e, k, &v) ? v : NULL;
}

/* daemon.c: one rule set's runtime, and one tick without the guard's
 * part (guard_tick(): the process's, not a host loop's). */
int daemon_rules_init(Daemon *d, Rules *rules);
void daemon_rules_free(Daemon *d);
void daemon_tick(Daemon *d);

/* daemon.c: parse, check and swap in the config file's rules (SIGHUP and
 * the control socket's "reload"); the old rules stay on failure (err says
 * why). */
int daemon_reload(Daemon *d, char *err, size_t size);

/* observe.c: discovery, host CPU use, the views' rounds -> d->snap. */
void daemon_observe(Daemon *d);

/* act.c: d->plan -> host levers (through the journal) and guest ops
 * queued for each domain's worker; starts the workers' next rounds. */
void daemon_act(Daemon *d);
/* Every domain's vCPUs out of SCHED_IDLE (exit, reload): before its guest is
 * asked to undo anything, so a starved guest answers in time. */
void daemon_vcpu_idle_off(Daemon *d);
void daemon_settle_guest_stops(Daemon *d, size_t di, const GuestTask *tasks, size_t n);

/* status.c */
json_object *daemon_status_json(const Daemon *d);
void daemon_write_timeline(Daemon *d);

/* metrics-server.c: a snapshot for the metrics server after each tick */
void daemon_metrics_publish(Daemon *d);

/* release.c: daemon_release_all() = daemon_release_views() (this loop's
 * guest views undo what they hold) + daemon_release_journal() (every guest
 * change and host lever this process journaled, on every host). */
int daemon_release_all(Daemon *d);
int daemon_release_views(Daemon *d);
int daemon_release_journal(Daemon *d);
int daemon_recover(Daemon *d);

/* control.c: the control socket (status, reload, stop) */
int control_open(Daemon *d, const char *state_dir);
void control_accept(Daemon *d);
void control_handle_client(Daemon *d, int fd);
int control_expire(Daemon *d);
void control_drop_all(Daemon *d);

/* hosts.c: many hosts in one process, a loop (thread) per host. */
typedef struct HostSet HostSet;
/* Check rules against every host (one line naming file:line, or the host
 * that does not answer, in err). */
int hosts_check(const DaemonOptions *o, const Rules *rules, const char *path, char *err, size_t size);
/* Start one loop per host of d->opt->hv.libvirt_uris with its share of rules. */
int hosts_start(Daemon *d, const Rules *rules);
/* Stop every loop (each undoes its guest views' holds; the caller then
 * daemon_release_journal()s).  Frees d->hosts. */
void hosts_stop(Daemon *d);
/* readable when a loop stopped by itself (--ticks): then hosts_done() */
int hosts_event_fd(const Daemon *d);
bool hosts_done(Daemon *d);
json_object *hosts_status_json(Daemon *d);
int hosts_reload(Daemon *d, char *err, size_t size);
