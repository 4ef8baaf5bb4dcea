/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fnmatch.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/guard.h"
#include "daemon/recover.h"
#include "daemon/worker.h"
#include "view/pause-hook.h"
#include "view/view.h"
#include "host/sched.h"
#include "lever/journal.h"
#include "lever/lever.h"
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
} DomainRt;

typedef struct TaskRt {
        pid_t pids[POLICY_MAX_PIDS];
        size_t n_pids;
        uint64_t pid_start[POLICY_MAX_PIDS];  /* guest start time of each of pids (ns after boot) */
        pid_t stopped[POLICY_MAX_PIDS];  /* what we stopped, to resume exactly these */
        size_t n_stopped;
        bool stop_refused_logged;
        int nice;
        bool nice_set;
        pid_t nice_pids[POLICY_MAX_PIDS];
        size_t n_nice_pids;
        pid_t idle_pids[POLICY_MAX_PIDS];   /* made SCHED_IDLE in the guest */
        size_t n_idle_pids;
} TaskRt;

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
         * the main thread. */
        pthread_mutex_t journal_lock;
        bool guest_changes_left;   /* release_all() left guest stops or pauses in the journal */
        FILE *timeline;
        char control_path[256];
        int epoll_fd, timer_fd, signal_fd, control_fd;
        ControlClient clients[CONTROL_MAX_CLIENTS];
        uint64_t t0_ns, last_discovery_ns;
        bool quit;
        double cost_observe_us, cost_decide_us, cost_act_us;
} Daemon;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* ---- setup and teardown of one rule set ---- */

static void rules_runtime_free(Daemon *d) {
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

static int rules_runtime_init(Daemon *d, Rules *rules) {
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

/* ---- levers through the journal ---- */

static int apply_levers(Daemon *d, DomainRt *dr, const char *const *kv, size_t n, const char *threads) {
        if (d->opt->dry_run) {
                for (size_t i = 0; i < n; i++)
                        printf("plan: %s: set %s%s%s\n", dr->domain->name, kv[i], threads ? " --threads=" : "",
                               threads ? threads : "");
                return 0;
        }
        LeverSetting s[8];
        if (n > ELEMENTSOF(s))
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                const char *why;
                if (lever_setting_parse(kv[i], &s[i], &why) < 0)
                        return log_error_errno(-EINVAL, "%s: %s: %s", dr->domain->name, kv[i], why);
        }
        LeverContext c = { .hv = &d->opt->hv, .journal = d->journal, .thread_mask = THREAD_MASK_ALL, .owner = "daemon",
                           .rt_force = d->rules.domains[dr - d->doms].rt_force };
        if (threads && thread_mask_from_string(threads, &c.thread_mask) < 0)
                c.thread_mask = 1u << THREAD_VCPU;
        pthread_mutex_lock(&d->journal_lock);
        int r = lever_apply(&c, dr->domain, s, n);
        pthread_mutex_unlock(&d->journal_lock);
        if (r < 0)
                log_warning("%s: %s", dr->domain->name, c.error);
        for (const char *p = r >= 0 ? c.notes : NULL; p && *p;) { /* warnings at warning level */
                size_t len = strcspn(p, "\n");
                if (strneq(p, "warning: ", 9))
                        log_warning("%s: %.*s", dr->domain->name, (int) len - 9, p + 9);
                else
                        log_debug("%s: %.*s", dr->domain->name, (int) len, p);
                p += len + (p[len] == '\n');
        }
        lever_context_done(&c);
        return r;
}

/* ---- guest stops in the journal (for views without a lease) ---- */


static void queue_op(DomainRt *dr, WorkerOpKind kind, pid_t pid, int nice);

/* Record the stop of guest pid (started start_ns after the guest's boot)
 * before it is made: the guard, the next start or this daemon's exit
 * resumes it from the entry.  < 0: not recorded, so not to be stopped. */
static int journal_guest_stop(Daemon *d, size_t di, pid_t pid, uint64_t start_ns) {
        const DomainRt *dr = &d->doms[di];
        JournalOwner o = guard_owner("daemon");
        ProcStat st;
        JournalVm vm = { .domain = d->rules.domains[di].name, .match = d->rules.domains[di].match,
                         .qemu_pid = dr->domain->pid,
                         .qemu_start = proc_stat_read(NULL, dr->domain->pid, 0, &st) >= 0 ? st.start_time : 0,
                         .qmp_socket = dr->domain->qmp_socket, .agent_socket = dr->domain->agent_socket };
        if (vm.qemu_start == 0 || start_ns == 0)
                return -ENODATA;   /* nothing to tell this process from a later one with its pid */
        if (!guard_running())
                return -ENOTCONN;  /* the guard died: no stop that nothing would undo */
        json_object *e = journal_entry_guest_stop_new(&o, &vm, pid, start_ns);
        if (!e)
                return -ENOMEM;
        pthread_mutex_lock(&d->journal_lock);
        int r = journal_record_guest(d->journal, e);
        pthread_mutex_unlock(&d->journal_lock);
        return r < 0 ? r : 0;
}

static json_object *get_member(json_object *e, const char *k) {
        json_object *v;
        return json_object_object_get_ex(e, k, &v) ? v : NULL;
}

/* This daemon's guest-stop entries of domain di that no task holds stopped
 * any more (resumed, a stop that failed, a view that was dropped, a domain
 * that restarted): each goes once the fresh task list shows its process
 * running or gone, and is resumed again while it shows it stopped.  So no
 * stop is forgotten, and no entry outlives its process. */
static void settle_guest_stops(Daemon *d, size_t di, const GuestTask *tasks, size_t n) {
        DomainRt *dr = &d->doms[di];
        const char *dname = d->rules.domains[di].name;
        pthread_mutex_lock(&d->journal_lock);
        for (size_t i = journal_size(d->journal); i > 0; i--) {
                json_object *e = journal_entry(d->journal, i - 1), *v;
                if (!(v = get_member(e, "type")) || !streq(json_object_get_string(v), "guest-stop") ||
                    !(v = get_member(e, "owner_pid")) || json_object_get_int(v) != getpid() ||
                    !(v = get_member(e, "domain")) || !streq(json_object_get_string(v), dname) ||
                    !get_member(e, "key"))
                        continue;
                pid_t pid = (pid_t) json_object_get_int(get_member(e, "pid"));
                uint64_t start = (uint64_t) json_object_get_int64(get_member(e, "start_time_ns"));
                bool held = false;
                for (size_t t = 0; t < d->rules.n_tasks && !held; t++)
                        if (d->rules.tasks[t].domain == di)
                                for (size_t k = 0; k < d->tasks[t].n_stopped; k++)
                                        held |= d->tasks[t].stopped[k] == pid;
                if (held)
                        continue;
                bool stopped = false;
                if (dr->domain && json_object_get_int(get_member(e, "qemu_pid")) == dr->domain->pid)
                        for (size_t k = 0; k < n; k++)
                                if (tasks[k].pid == pid && tasks[k].tid == pid &&
                                    journal_guest_start_same(tasks[k].start_time_ns, start))
                                        stopped = tasks[k].state == 'T';
                if (stopped) {
                        bool queued = false;
                        for (size_t k = 0; k < dr->n_pending; k++)
                                queued |= dr->pending[k].kind == WORKER_OP_CONT && dr->pending[k].pid == pid;
                        if (!queued)
                                queue_op(dr, WORKER_OP_CONT, pid, 0);
                        continue;
                }
                _cleanup_free_ char *key = strdup(json_object_get_string(get_member(e, "key")));
                if (key)
                        (void) journal_remove(d->journal, key);
        }
        pthread_mutex_unlock(&d->journal_lock);
}

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
                log_debug("discovery failed: %s", strerror(-r));
                return;
        }
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
                if (!dr->worker && worker_start(take, d->rules.domains[i].view, &dr->worker) < 0)
                        log_warning("%s: cannot start its guest view worker", d->rules.domains[i].name);
        }
        domain_list_done(&l);
        domain_list_done(&full);
}

static bool task_matches(const TaskRule *t, const GuestTask *g) {
        switch (t->match) {
        case TASK_MATCH_COMM:
                return streq(g->comm, t->pattern);
        case TASK_MATCH_CMDLINE:
                return fnmatch(t->pattern, g->cmdline, 0) == 0;
        case TASK_MATCH_PID: {
                char buf[16];
                snprintf(buf, sizeof buf, "%d", (int) g->pid);
                return streq(buf, t->pattern);
        }
        }
        return false;
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
                uint64_t v = 0, now = now_ns();
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
        if (res.error[0] && !streq(res.error, dr->view_error))
                log_notice("%s: %s", d->rules.domains[di].name, res.error);
        snprintf(dr->view_error, sizeof dr->view_error, "%s", res.error);
        dr->view_retry_at_ns = res.view_ok ? 0 : now_ns() + res.retry_in_ms * 1000000ull;
        if (dr->view_ok && !was_ok)
                log_info("%s: guest view %s", d->rules.domains[di].name, dr->view_name);
        o->view_ok = dr->view_ok;
        o->can_stop = dr->can_stop;
        if (!dr->view_ok) {
                /* A view that failed was dropped: the agent's lease undoes
                 * what it held; the worker released what a lease-less view
                 * held, and its journal entries stay until the view is back
                 * and shows those processes running (settle_guest_stops). */
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
        o->t_ns = res.t_ns;
        o->guest_cpu_ns = res.guest_cpu_ns;
        o->vcpu_ns = res.vcpu_ns;

        for (size_t t = 0; t < d->rules.n_tasks; t++) {
                const TaskRule *tr = &d->rules.tasks[t];
                if (tr->domain != di)
                        continue;
                TaskObs *to = &d->snap.tasks[t];
                *to = (TaskObs) {};
                /* Thread-group leaders that match... */
                for (size_t k = 0; k < n && to->n_pids < POLICY_MAX_PIDS; k++)
                        if (!tasks[k].is_agent && !tasks[k].is_kthread && tasks[k].tid == tasks[k].pid &&
                            task_matches(tr, &tasks[k])) {
                                d->tasks[t].pid_start[to->n_pids] = tasks[k].start_time_ns;
                                to->pids[to->n_pids++] = tasks[k].pid;
                                to->stopped = tasks[k].state == 'T';
                                to->nice = tasks[k].nice;
                        }
                /* ...and every thread of them. */
                for (size_t k = 0; k < n; k++)
                        for (size_t p = 0; p < to->n_pids; p++)
                                if (tasks[k].pid == to->pids[p]) {
                                        to->cpu_ns += tasks[k].cpu_ns;
                                        to->runnable |= tasks[k].state == 'R';
                                }
                to->present = to->n_pids > 0;
                memcpy(d->tasks[t].pids, to->pids, sizeof to->pids);
                d->tasks[t].n_pids = to->n_pids;
        }
        if (!d->opt->dry_run)
                settle_guest_stops(d, di, tasks, n);
}

static void observe(Daemon *d) {
        uint64_t now = now_ns();
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
        d->snap.t_ns = now_ns();
}

/* ---- act ---- */

static void queue_op(DomainRt *dr, WorkerOpKind kind, pid_t pid, int nice) {
        if (dr->n_pending < WORKER_MAX_OPS)
                dr->pending[dr->n_pending++] = (WorkerOp) { .kind = kind, .pid = pid, .nice = nice };
}

/* Guest-side actions go to the domain's worker with its next round, and
 * only for domains whose worker just delivered (we know their state). */
static void act_task(Daemon *d, size_t t) {
        const TaskRule *tr = &d->rules.tasks[t];
        DomainRt *dr = &d->doms[tr->domain];
        const TaskPlan *tp = &d->plan.tasks[t];
        TaskRt *rt = &d->tasks[t];
        if (!dr->collected || !dr->view_ok)
                return;
        const char *dname = d->rules.domains[tr->domain].name;

        if (tp->stop && tp->control) {
                for (size_t p = 0; p < rt->n_pids; p++) {
                        bool already = false;
                        for (size_t k = 0; k < rt->n_stopped; k++)
                                already |= rt->stopped[k] == rt->pids[p];
                        if (already || rt->n_stopped >= POLICY_MAX_PIDS)
                                continue;
                        if (d->opt->dry_run) {
                                printf("plan: %s/%s: stop pid %d (%s)\n", dname, tr->name, (int) rt->pids[p], tp->why);
                                continue;
                        }
                        /* Never a stop that could not be journaled (no lease would end it). */
                        int r = dr->has_lease ? 0 : journal_guest_stop(d, tr->domain, rt->pids[p], rt->pid_start[p]);
                        if (r < 0) {
                                if (!rt->stop_refused_logged)
                                        log_warning("%s/%s: not stopping guest pid %d: cannot record it in the state file: %s",
                                                    dname, tr->name, (int) rt->pids[p],
                                                    r == -ENODATA ? "no start time for it" : strerror(-r));
                                rt->stop_refused_logged = true;
                                continue;
                        }
                        queue_op(dr, WORKER_OP_STOP, rt->pids[p], 0);
                        rt->stopped[rt->n_stopped++] = rt->pids[p];
                }
        } else if (rt->n_stopped > 0) {
                for (size_t k = 0; k < rt->n_stopped; k++) {
                        if (d->opt->dry_run) {
                                printf("plan: %s/%s: resume pid %d\n", dname, tr->name, (int) rt->stopped[k]);
                                continue;
                        }
                        /* its entry goes when the task list shows it running */
                        queue_op(dr, WORKER_OP_CONT, rt->stopped[k], 0);
                }
                rt->n_stopped = 0;
        }

        /* SCHED_IDLE for idle-class tasks, once per process. */
        if (tp->idle_policy && tp->set_nice && !dr->no_sched)
                for (size_t p = 0; p < rt->n_pids; p++) {
                        bool done = false;
                        for (size_t k = 0; k < rt->n_idle_pids; k++)
                                done |= rt->idle_pids[k] == rt->pids[p];
                        if (done || rt->n_idle_pids >= POLICY_MAX_PIDS)
                                continue;
                        if (d->opt->dry_run)
                                printf("plan: %s/%s: SCHED_IDLE for pid %d\n", dname, tr->name, (int) rt->pids[p]);
                        else
                                queue_op(dr, WORKER_OP_SCHED, rt->pids[p], SCHED_IDLE);
                        rt->idle_pids[rt->n_idle_pids++] = rt->pids[p];
                }

        if (tp->set_nice && !dr->no_nice) {
                bool same_pids = rt->n_nice_pids == rt->n_pids &&
                                 memcmp(rt->nice_pids, rt->pids, rt->n_pids * sizeof *rt->pids) == 0;
                if (rt->nice_set && rt->nice == tp->nice && same_pids)
                        return;
                for (size_t p = 0; p < rt->n_pids; p++) {
                        if (d->opt->dry_run)
                                printf("plan: %s/%s: nice pid %d to %d\n", dname, tr->name, (int) rt->pids[p], tp->nice);
                        else
                                queue_op(dr, WORKER_OP_NICE, rt->pids[p], tp->nice);
                }
                rt->nice = tp->nice;
                rt->nice_set = true;
                memcpy(rt->nice_pids, rt->pids, sizeof rt->pids);
                rt->n_nice_pids = rt->n_pids;
        }
}

static void act_domain(Daemon *d, size_t i) {
        DomainRt *dr = &d->doms[i];
        const DomainRule *rule = &d->rules.domains[i];
        const DomainPlan *dp = &d->plan.domains[i];
        if (!dr->domain)
                return;
        if (!dr->fixed_applied) {
                if (rule->n_fixed > 0)
                        (void) apply_levers(d, dr, (const char *const *) rule->fixed, rule->n_fixed, NULL);
                dr->fixed_applied = true;
        }
        bool fixed_weight = false;
        for (size_t k = 0; k < rule->n_fixed; k++)
                fixed_weight |= strneq(rule->fixed[k], "weight=", 7);
        if (!fixed_weight && dp->weight != dr->weight) {
                char kv[32];
                snprintf(kv, sizeof kv, "weight=%u", dp->weight);
                const char *one[] = { kv };
                if (apply_levers(d, dr, one, 1, NULL) >= 0)
                        dr->weight = dp->weight;
        }
        if (rule->rt_policy && dp->rt != dr->rt && !(dp->rt && dr->rt_refused)) {
                char kv[32];
                if (dp->rt)
                        snprintf(kv, sizeof kv, "rt=%s:%d", rule->rt_policy == SCHED_RR ? "rr" : "fifo", rule->rt_priority);
                else
                        snprintf(kv, sizeof kv, "rt=off");
                const char *one[] = { kv };
                int r = apply_levers(d, dr, one, 1, rule->rt_threads);
                if (r >= 0)
                        dr->rt = dp->rt;
                dr->rt_refused = r == -EPERM;
        }
}

static void act(Daemon *d) {
        for (size_t i = 0; i < d->rules.n_domains; i++)
                act_domain(d, i);
        for (size_t t = 0; t < d->rules.n_tasks; t++)
                act_task(d, t);
        /* Start the next round of every idle worker that has a reason to
         * ask its guest: actions to deliver, no view yet, a change in the
         * domain's vCPU use seen from the host, or GUEST_POLL_MAX_MS gone
         * by.  A domain without vCPU threads (local) is asked every tick. */
        uint64_t now = now_ns();
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                DomainRt *dr = &d->doms[i];
                if (!dr->worker || !dr->collected)
                        continue;
                bool has_vcpus = dr->domain && domain_count_class(dr->domain, THREAD_VCPU) > 0;
                bool due = dr->n_pending > 0 || !dr->view_ok || !has_vcpus ||
                           now - dr->polled_ns >= GUEST_POLL_MAX_MS * 1000000ull ||
                           fabs(dr->vcpu_frac - dr->vcpu_frac_polled) >= GUEST_POLL_CHANGE;
                if (!due)
                        continue; /* the idle worker hands back an empty round next tick: nothing new */
                bool keepalive = now - dr->keepalive_ns >= KEEPALIVE_EVERY_MS * 1000000ull;
                if (keepalive)
                        dr->keepalive_ns = now;
                worker_submit(dr->worker, dr->pending, dr->n_pending, keepalive);
                dr->n_pending = 0;
                dr->polled_ns = now;
                dr->vcpu_frac_polled = dr->vcpu_frac;
        }
}

/* ---- timeline ---- */

static const char *task_state(const Daemon *d, size_t t) {
        const TaskObs *o = &d->snap.tasks[t];
        const TaskState *s = &d->state.tasks[t];
        if (!o->present)
                return "absent";
        if (d->tasks[t].n_stopped > 0 || o->stopped)
                return "stopped";
        if (s->cpu_frac >= d->rules.busy_threshold)
                return "running";
        if (o->runnable)
                return "runnable";
        return "sleeping";
}

static json_object *status_json(const Daemon *d) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tick", json_object_new_int64((int64_t) d->state.tick));
        json_object_object_add(o, "t_ms", json_object_new_int64((int64_t) ((d->snap.t_ns - d->t0_ns) / 1000000)));
        json_object_object_add(o, "interval_ms", json_object_new_int((int) d->rules.interval_ms));
        json_object *tasks = json_object_new_array();
        for (size_t t = 0; t < d->rules.n_tasks; t++) {
                const TaskRule *tr = &d->rules.tasks[t];
                json_object *to = json_object_new_object();
                json_object_object_add(to, "task", json_object_new_string(tr->name));
                json_object_object_add(to, "domain", json_object_new_string(d->rules.domains[tr->domain].name));
                json_object_object_add(to, "class", json_object_new_string(task_class_to_string(tr->class)));
                json_object_object_add(to, "priority", json_object_new_int(tr->priority));
                json_object_object_add(to, "state", json_object_new_string(task_state(d, t)));
                json_object_object_add(to, "busy", json_object_new_boolean(d->state.tasks[t].busy));
                json_object_object_add(to, "cpu_pct", json_object_new_double(round(d->state.tasks[t].cpu_frac * 1000) / 10));
                if (tr->share_pct > 0) {
                        json_object_object_add(to, "target_share_pct", json_object_new_double(tr->share_pct));
                        json_object_object_add(to, "share_pct",
                                               json_object_new_double(round(d->state.tasks[t].share_ewma * 1000) / 10));
                }
                json_object_object_add(to, "stopped_by_xvsched", json_object_new_boolean(d->tasks[t].n_stopped > 0));
                json_object_object_add(to, "nice", d->tasks[t].nice_set ? json_object_new_int(d->tasks[t].nice) : NULL);
                json_object_object_add(to, "why", json_object_new_string(d->plan.tasks[t].why ? d->plan.tasks[t].why : ""));
                json_object *pids = json_object_new_array();
                for (size_t p = 0; p < d->tasks[t].n_pids; p++)
                        json_object_array_add(pids, json_object_new_int(d->tasks[t].pids[p]));
                json_object_object_add(to, "pids", pids);
                json_object_array_add(tasks, to);
        }
        json_object_object_add(o, "tasks", tasks);
        json_object *doms = json_object_new_array();
        for (size_t i = 0; i < d->rules.n_domains; i++) {
                const DomainRt *dr = &d->doms[i];
                json_object *dobj = json_object_new_object();
                json_object_object_add(dobj, "domain", json_object_new_string(d->rules.domains[i].name));
                json_object_object_add(dobj, "present", json_object_new_boolean(dr->domain != NULL));
                json_object_object_add(dobj, "fresh", json_object_new_boolean(d->snap.domains[i].fresh));
                json_object_object_add(dobj, "view", dr->view_ok ? json_object_new_string(dr->view_name) : NULL);
                json_object_object_add(dobj, "control_path", dr->view_ok ? json_object_new_string(dr->control_path) : NULL);
                if (dr->view_error[0])
                        json_object_object_add(dobj, "view_error", json_object_new_string(dr->view_error));
                if (!dr->view_ok && dr->view_retry_at_ns) {
                        uint64_t now = now_ns();
                        json_object_object_add(dobj, "view_retry_in_ms",
                                               json_object_new_int64(dr->view_retry_at_ns > now
                                                                             ? (int64_t) ((dr->view_retry_at_ns - now) / 1000000)
                                                                             : 0));
                }
                json_object_object_add(dobj, "weight", json_object_new_int((int) d->plan.domains[i].weight));
                json_object_object_add(dobj, "rt", json_object_new_boolean(d->plan.domains[i].rt));
                json_object_object_add(dobj, "rt_budget_spent", json_object_new_boolean(d->plan.domains[i].rt_budget_spent));
                json_object_object_add(dobj, "steal_scale", json_object_new_double(round(d->state.domains[i].steal_scale * 1000) / 1000));
                json_object_array_add(doms, dobj);
        }
        json_object_object_add(o, "domains", doms);
        json_object *cost = json_object_new_object();
        json_object_object_add(cost, "observe_us", json_object_new_double(round(d->cost_observe_us)));
        json_object_object_add(cost, "decide_us", json_object_new_double(round(d->cost_decide_us * 10) / 10));
        json_object_object_add(cost, "act_us", json_object_new_double(round(d->cost_act_us)));
        json_object_object_add(o, "cost", cost);
        return o;
}

static void write_timeline(Daemon *d) {
        if (!d->timeline)
                return;
        json_object *o = status_json(d);
        fprintf(d->timeline, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        fflush(d->timeline);
        json_object_put(o);
}

static void tick(Daemon *d) {
        guard_tick();
        uint64_t a = now_ns();
        observe(d);
        uint64_t b = now_ns();
        decide(&d->rules, &d->state, &d->snap, &d->plan);
        uint64_t c = now_ns();
        act(d);
        uint64_t e = now_ns();
        d->cost_observe_us = (double) (b - a) / 1000;
        d->cost_decide_us = (double) (c - b) / 1000;
        d->cost_act_us = (double) (e - c) / 1000;
        write_timeline(d);
}

/* Resume everything, restore every lever.  Used on exit and reload. */
static int release_all(Daemon *d) {
        int ret = 0;
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
                dr->n_pending = 0;
        }
        if (!d->opt->dry_run) {
                pthread_mutex_lock(&d->journal_lock);
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
                pthread_mutex_unlock(&d->journal_lock);
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

/* After a crash: resume the guest stops and VM pauses a dead xvsched left
 * (recover_guest(): the guard's work, should the guard have died too),
 * then let lever_reset() restore the host levers. */
static int recover(Daemon *d) {
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

/* Every configured domain must exist at start (and at reload). */
static int check_domains(const DaemonOptions *o, const Rules *rules, const char *path, char *err, size_t size) {
        DomainList l = {};
        int r = hv_discover(&o->hv, &l, NULL);
        if (r < 0) {
                snprintf(err, size, "%s: discovery failed: %s", path, strerror(-r));
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

/* ---- control socket ---- */

static void client_drop(Daemon *d, ControlClient *cl) {
        if (!cl->used)
                return;
        (void) epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, cl->fd, NULL);
        close(cl->fd);
        free(cl->out);
        *cl = (ControlClient) {};
}

static void clients_drop_all(Daemon *d) {
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                client_drop(d, &d->clients[i]);
}

/* Send what the socket takes now; drop the client when all is sent, or
 * when it cannot take any. */
static void client_flush(Daemon *d, ControlClient *cl) {
        while (cl->sent < cl->n_out) {
                ssize_t k = send(cl->fd, cl->out + cl->sent, cl->n_out - cl->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;   /* EPOLLOUT brings us back, the deadline ends it */
                if (k <= 0)
                        break;
                cl->sent += (size_t) k;
        }
        client_drop(d, cl);
}

/* Queue the reply (o is consumed) and send what goes out at once. */
static void control_reply(Daemon *d, ControlClient *cl, json_object *o) {
        const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
        size_t n = s ? strlen(s) : 0;
        if (!s || n + 1 > CONTROL_MAX_REPLY)
                s = "{\"error\":\"the reply is too large\"}", n = strlen(s);
        cl->out = malloc(n + 1);
        if (!cl->out) {
                json_object_put(o);
                client_drop(d, cl);
                return;
        }
        memcpy(cl->out, s, n);
        cl->out[n] = '\n';
        cl->n_out = n + 1;
        json_object_put(o);
        cl->deadline_ns = now_ns() + CONTROL_REPLY_MS * 1000000ull;
        struct epoll_event ev = { .events = EPOLLOUT, .data.fd = cl->fd };
        (void) epoll_ctl(d->epoll_fd, EPOLL_CTL_MOD, cl->fd, &ev);
        client_flush(d, cl);
}

static int reload(Daemon *d, char *err, size_t size) {
        Rules rules = {};
        int r = config_parse_file(d->config_path, &rules, err, size);
        if (r >= 0)
                r = check_domains(d->opt, &rules, d->config_path, err, size);
        if (r < 0) {
                rules_done(&rules);
                log_error("reload: %s (keeping the old rules)", err);
                return r;
        }
        (void) release_all(d);
        rules_runtime_free(d);
        r = rules_runtime_init(d, &rules);
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

static json_object *control_request(Daemon *d, const char *buf) {
        json_object *req = json_tokener_parse(buf), *cmd;
        json_object *rep = json_object_new_object();
        if (!req || !json_object_object_get_ex(req, "command", &cmd) || !json_object_is_type(cmd, json_type_string)) {
                json_object_object_add(rep, "error", json_object_new_string("expected {\"command\": ...}"));
        } else if (streq(json_object_get_string(cmd), "status")) {
                json_object_put(rep);
                rep = status_json(d);
                json_object_object_add(rep, "config", json_object_new_string(d->config_path));
        } else if (streq(json_object_get_string(cmd), "reload")) {
                char err[512] = "";
                if (reload(d, err, sizeof err) < 0)
                        json_object_object_add(rep, "error", json_object_new_string(err[0] ? err : "reload failed"));
                else
                        json_object_object_add(rep, "reloaded", json_object_new_string(d->config_path));
        } else if (streq(json_object_get_string(cmd), "stop")) {
                d->quit = true;
                json_object_object_add(rep, "stopping", json_object_new_boolean(true));
        } else
                json_object_object_add(rep, "error", json_object_new_string("unknown command (status, reload, stop)"));
        json_object_put(req);
        return rep;
}

/* A new connection: accept every waiting one, keep root's. */
static void handle_control(Daemon *d) {
        for (;;) {
                _cleanup_close_ int fd = accept4(d->control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        return;
                /* Only root may talk to the daemon. */
                struct ucred cred;
                socklen_t len = sizeof cred;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0)
                        continue;
                ControlClient *cl = NULL, *oldest = NULL;
                for (size_t i = 0; i < CONTROL_MAX_CLIENTS && !cl; i++) {
                        if (!d->clients[i].used)
                                cl = &d->clients[i];
                        else if (!oldest || d->clients[i].since_ns < oldest->since_ns)
                                oldest = &d->clients[i];
                }
                if (!cl) {
                        log_debug("control: %d clients at once, dropping the oldest", CONTROL_MAX_CLIENTS);
                        client_drop(d, oldest);
                        cl = oldest;
                }
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
                if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                        continue;
                uint64_t now = now_ns();
                *cl = (ControlClient) { .used = true, .fd = TAKE_FD(fd), .since_ns = now,
                                        .deadline_ns = now + CONTROL_REQUEST_MS * 1000000ull };
        }
}

static ControlClient *client_by_fd(Daemon *d, int fd) {
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                if (d->clients[i].used && d->clients[i].fd == fd)
                        return &d->clients[i];
        return NULL;
}

/* One request line per connection; whatever else it sends is ignored. */
static void handle_client(Daemon *d, int fd) {
        ControlClient *cl = client_by_fd(d, fd);
        if (!cl)
                return;
        if (cl->out) {
                client_flush(d, cl);
                return;
        }
        for (;;) {
                ssize_t k = recv(cl->fd, cl->in + cl->n_in, sizeof cl->in - 1 - cl->n_in, MSG_DONTWAIT);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (k <= 0) {
                        client_drop(d, cl);
                        return;
                }
                cl->n_in += (size_t) k;
                cl->in[cl->n_in] = 0;
                if (memchr(cl->in, '\n', cl->n_in))
                        break;
                if (cl->n_in >= sizeof cl->in - 1) {
                        log_debug("control: request longer than %d bytes, dropped", CONTROL_MAX_LINE);
                        client_drop(d, cl);
                        return;
                }
        }
        control_reply(d, cl, control_request(d, cl->in));
}

/* Drop clients past their deadline; the ms until the next one (-1: none). */
static int clients_expire(Daemon *d) {
        uint64_t now = now_ns(), next = UINT64_MAX;
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
                ControlClient *cl = &d->clients[i];
                if (!cl->used)
                        continue;
                if (now >= cl->deadline_ns) {
                        log_debug("control: client %s in time, dropped", cl->out ? "took not its reply" : "sent no request");
                        client_drop(d, cl);
                } else
                        next = MIN(next, cl->deadline_ns - now);
        }
        return next == UINT64_MAX ? -1 : (int) MIN(next / 1000000ull + 1, (uint64_t) INT32_MAX);
}

static int control_open(Daemon *d, const char *state_dir) {
        snprintf(d->control_path, sizeof d->control_path, "%s/control.sock", state_dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(d->control_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, d->control_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        (void) unlink(d->control_path); /* we hold the journal lock: no other daemon uses it */
        /* Created 0600 by bind itself (no chmod on a path, which would follow
         * a symlink put there in between); the directory is root's alone
         * (journal_open checked it). */
        mode_t old_umask = umask(0177);
        int k = bind(fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old_umask);
        if (k < 0 || listen(fd, 16) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        d->control_fd = fd;
        return 0;
}

static const char *state_dir_of(const DaemonOptions *o) {
        const char *s = o->state_dir ? o->state_dir : getenv("XVSCHED_STATE_DIR");
        return s && *s ? s : XVSCHED_STATE_DIR_DEFAULT;
}

int daemon_run(const DaemonOptions *o) {
        Daemon d = { .opt = o, .epoll_fd = -1, .timer_fd = -1, .signal_fd = -1, .control_fd = -1,
                     .journal_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP };
        char err[512];
        Rules rules = {};
        int r = config_parse_file(o->config_path, &rules, err, sizeof err);
        if (r < 0)
                return log_error_errno(r, "%s", err);
        r = check_domains(o, &rules, o->config_path, err, sizeof err);
        if (r < 0) {
                rules_done(&rules);
                return log_error_errno(r, "%s", err);
        }
        d.config_path = strdup(o->config_path);
        r = rules_runtime_init(&d, &rules);
        rules_done(&rules);
        if (r < 0 || !d.config_path) {
                rules_runtime_free(&d);
                free(d.config_path);
                return log_error_errno(-ENOMEM, "out of memory");
        }

        r = journal_open(o->state_dir, &d.journal);
        if (r == -EBUSY)
                r = log_error_errno(r, "another xvsched holds the state file (is a daemon running already?)");
        else if (r == JOURNAL_UNSAFE_DIR)
                r = log_error_errno(r, "state directory %s must be a directory (not a symlink) owned by root and not "
                                       "writable by group or others; refusing to use it", state_dir_of(o));
        else if (r < 0)
                r = log_error_errno(r, "cannot open the state file: %m");
        if (r >= 0 && !o->dry_run)
                r = recover(&d);
        if (r >= 0)
                r = control_open(&d, state_dir_of(o));
        if (r < 0) {
                if (r != -EBUSY)
                        log_error_errno(r, "cannot open the control socket: %m");
                goto out;
        }
        if (!o->dry_run) {
                /* Before any stop or pause, and before the view workers (it forks). */
                r = guard_start(o->state_dir, &o->hv);
                if (r < 0) {
                        r = log_error_errno(r, "cannot start the guard process: %m");
                        goto out;
                }
                guard_pause_hook_install(d.journal, &d.journal_lock, "daemon", o->state_dir, &o->hv);
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
        struct itimerspec its = { .it_interval = { .tv_sec = d.rules.interval_ms / 1000,
                                                   .tv_nsec = (long) (d.rules.interval_ms % 1000) * 1000000L } };
        its.it_value = its.it_interval;
        timerfd_settime(d.timer_fd, 0, &its, NULL);
        int fds[] = { d.timer_fd, d.signal_fd, d.control_fd };
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
                epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, fds[i], &ev);
        }

        log_notice("running %s: %zu domains, %zu tasks, every %u ms%s", o->config_path, d.rules.n_domains,
                   d.rules.n_tasks, d.rules.interval_ms, o->dry_run ? " (dry run: nothing changes)" : "");
        d.t0_ns = now_ns();
        tick(&d);
        while (!d.quit) {
                struct epoll_event ev[4];
                int n = epoll_wait(d.epoll_fd, ev, ELEMENTSOF(ev), clients_expire(&d));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(negative_errno(), "event loop: %m");
                        break;
                }
                for (int i = 0; i < n && !d.quit; i++) {
                        if (ev[i].data.fd == d.timer_fd) {
                                uint64_t expirations;
                                if (read(d.timer_fd, &expirations, sizeof expirations) > 0) {
                                        tick(&d);
                                        if (o->max_ticks && d.state.tick >= o->max_ticks)
                                                d.quit = true;
                                }
                        } else if (ev[i].data.fd == d.signal_fd) {
                                struct signalfd_siginfo si;
                                if (read(d.signal_fd, &si, sizeof si) != sizeof si)
                                        continue;
                                if (si.ssi_signo == SIGHUP)
                                        (void) reload(&d, err, sizeof err);
                                else {
                                        log_notice("got %s: restoring and exiting", strsignal((int) si.ssi_signo));
                                        d.quit = true;
                                }
                        } else if (ev[i].data.fd == d.control_fd)
                                handle_control(&d);
                        else
                                handle_client(&d, ev[i].data.fd);
                }
        }
        {
                int k = release_all(&d);
                if (r >= 0)
                        r = k;
        }
out:
        rules_runtime_free(&d);
        if (d.timeline)
                fclose(d.timeline);
        clients_drop_all(&d);
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

int daemon_control(const char *state_dir, const char *command, bool json) {
        DaemonOptions o = { .state_dir = state_dir };
        char path[256];
        snprintf(path, sizeof path, "%s/control.sock", state_dir_of(&o));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return log_error_errno(negative_errno(), "no xvsched daemon answers at %s: %m", path);
        char req[128];
        snprintf(req, sizeof req, "{\"command\":\"%s\"}\n", command);
        if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
                return log_error_errno(negative_errno(), "cannot talk to the daemon: %m");
        _cleanup_free_ char *buf = malloc(1 << 20);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int k = poll(&p, 1, 10000);
                if (k <= 0)
                        return log_error_errno(-ETIMEDOUT, "the daemon did not answer");
                ssize_t got = recv(fd, buf + n, (1 << 20) - 1 - n, 0);
                if (got <= 0)
                        break;
                n += (size_t) got;
                if (memchr(buf, '\n', n) || n >= (1 << 20) - 1)
                        break;
        }
        buf[n] = 0;
        json_object *rep = json_tokener_parse(buf), *e;
        if (!rep)
                return log_error_errno(-EBADMSG, "the daemon's reply is not JSON");
        if (json_object_object_get_ex(rep, "error", &e)) {
                log_error("%s", json_object_get_string(e));
                json_object_put(rep);
                return -EINVAL;
        }
        if (json || !streq(command, "status")) {
                if (json)
                        puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                else if (streq(command, "reload"))
                        printf("reloaded\n");
                else
                        printf("stopping (the daemon restores everything before it exits)\n");
                json_object_put(rep);
                return 0;
        }
        json_object *v, *tasks, *doms;
        json_object_object_get_ex(rep, "config", &v);
        printf("config: %s\n", v ? json_object_get_string(v) : "?");
        json_object_object_get_ex(rep, "tick", &v);
        printf("tick:   %s", json_object_get_string(v));
        json_object_object_get_ex(rep, "interval_ms", &v);
        printf(" (every %s ms)\n\n", json_object_get_string(v));
        printf("%-12s %-8s %6s %5s  %-24s %s\n", "DOMAIN", "VIEW", "WEIGHT", "RT", "CONTROL", "NOTE");
        json_object_object_get_ex(rep, "domains", &doms);
        for (size_t i = 0; doms && i < json_object_array_length(doms); i++) {
                json_object *x = json_object_array_get_idx(doms, i), *a, *b, *c, *dd, *ve, *cp = NULL, *rs = NULL,
                            *ri = NULL;
                json_object_object_get_ex(x, "control_path", &cp);
                json_object_object_get_ex(x, "rt_budget_spent", &rs);
                json_object_object_get_ex(x, "view_retry_in_ms", &ri);
                json_object_object_get_ex(x, "domain", &a);
                json_object_object_get_ex(x, "view", &b);
                json_object_object_get_ex(x, "weight", &c);
                json_object_object_get_ex(x, "rt", &dd);
                bool has_err = json_object_object_get_ex(x, "view_error", &ve);
                char retry[48] = "";
                if (ri)
                        snprintf(retry, sizeof retry, "%snext try in %.1f s", has_err ? "; " : "",
                                 json_object_get_int64(ri) / 1000.0);
                printf("%-12s %-8s %6s %5s  %-24s %s%s%s\n", json_object_get_string(a), b ? json_object_get_string(b) : "-",
                       json_object_get_string(c),
                       json_object_get_boolean(dd) ? "on" : json_object_get_boolean(rs) ? "spent" : "off",
                       cp ? json_object_get_string(cp) : "-", has_err ? json_object_get_string(ve) : "", retry,
                       json_object_get_boolean(rs) ? (has_err || ri ? "; RT budget of this window spent"
                                                                      : "RT budget of this window spent")
                                                   : "");
        }
        printf("\n%-12s %-10s %-7s %4s %-9s %6s %6s %5s  %s\n", "TASK", "DOMAIN", "CLASS", "PRIO", "STATE", "CPU%",
               "SHARE", "NICE", "WHY");
        json_object_object_get_ex(rep, "tasks", &tasks);
        for (size_t i = 0; tasks && i < json_object_array_length(tasks); i++) {
                json_object *x = json_object_array_get_idx(tasks, i), *a, *b, *c, *pr, *st, *cpu, *sh, *ni, *why;
                json_object_object_get_ex(x, "task", &a);
                json_object_object_get_ex(x, "domain", &b);
                json_object_object_get_ex(x, "class", &c);
                json_object_object_get_ex(x, "priority", &pr);
                json_object_object_get_ex(x, "state", &st);
                json_object_object_get_ex(x, "cpu_pct", &cpu);
                bool has_share = json_object_object_get_ex(x, "share_pct", &sh);
                json_object_object_get_ex(x, "nice", &ni);
                json_object_object_get_ex(x, "why", &why);
                char share[16] = "-";
                if (has_share)
                        snprintf(share, sizeof share, "%.1f", json_object_get_double(sh));
                printf("%-12s %-10s %-7s %4d %-9s %6.1f %6s %5s  %s\n", json_object_get_string(a), json_object_get_string(b),
                       json_object_get_string(c), json_object_get_int(pr), json_object_get_string(st),
                       json_object_get_double(cpu), share, ni ? json_object_get_string(ni) : "-", json_object_get_string(why));
        }
        json_object_put(rep);
        return 0;
}
