/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "basic/log.h"
#include "basic/macros.h"

#ifndef XVSCHED_VERSION
#define XVSCHED_VERSION "0"
#endif

/* ---- real operations ---- */

static int real_kill(pid_t pid, int sig, void *userdata) {
        (void) userdata;
        return RET_NERRNO(kill(pid, sig));
}

static int real_get_nice(pid_t tid, int *ret, void *userdata) {
        (void) userdata;
        errno = 0;
        int v = getpriority(PRIO_PROCESS, (id_t) tid);
        if (v == -1 && errno != 0)
                return negative_errno();
        *ret = v;
        return 0;
}

static int real_set_nice(pid_t tid, int nice, void *userdata) {
        (void) userdata;
        return RET_NERRNO(setpriority(PRIO_PROCESS, (id_t) tid, nice));
}

static int real_get_sched(pid_t tid, int *ret_policy, int *ret_prio, void *userdata) {
        (void) userdata;
        int p = sched_getscheduler(tid);
        if (p < 0)
                return negative_errno();
        struct sched_param sp;
        if (sched_getparam(tid, &sp) < 0)
                return negative_errno();
        *ret_policy = p & ~SCHED_RESET_ON_FORK;
        *ret_prio = sp.sched_priority;
        return 0;
}

static int real_set_sched(pid_t tid, int policy, int prio, void *userdata) {
        (void) userdata;
        struct sched_param sp = { .sched_priority = prio };
        return RET_NERRNO(sched_setscheduler(tid, policy, &sp));
}

const AgentOps agent_ops_real = {
        .kill = real_kill,
        .get_nice = real_get_nice,
        .set_nice = real_set_nice,
        .get_sched = real_get_sched,
        .set_sched = real_set_sched,
};

uint64_t now_monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t ns_per_tick(void) {
        static uint64_t v;
        if (!v) {
                long hz = sysconf(_SC_CLK_TCK);
                v = hz > 0 ? 1000000000ULL / (uint64_t) hz : 10000000ULL;
        }
        return v;
}

/* ---- lifecycle ---- */

int agent_init(Agent *a, const AgentOps *ops, void *userdata, const char *proc_root, uint64_t now_usec) {
        *a = (Agent) {
                .ops = ops,
                .userdata = userdata,
                .self_pid = getpid(),
                .start_usec = now_usec,
                .lease_usec = AGENT_DEFAULT_LEASE_USEC,
                .last_renew_usec = now_usec,
        };
        if (strlen(proc_root) >= sizeof a->proc_root)
                return -ENAMETOOLONG;
        strcpy(a->proc_root, proc_root);

        /* Keep stat files open between polls, within the fd limit (leave
         * room for connections and the occasional open()). */
        struct rlimit rl;
        size_t max_fds = 0;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 128)
                max_fds = MIN((size_t) rl.rlim_cur - 128, (size_t) AGENT_MAX_CACHED_FDS);
        else if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
                max_fds = AGENT_MAX_CACHED_FDS;
        proc_fd_cache_init(&a->fd_cache, max_fds);

        uint32_t e = 0;
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (read(fd, &e, sizeof e) != sizeof e)
                        e = 0;
                close(fd);
        }
        a->epoch = e ^ (uint32_t) now_usec ^ ((uint32_t) a->self_pid << 16);
        return 0;
}

void agent_done(Agent *a) {
        if (a->n_held > 0)
                agent_restore_all(a, "exit");
        proc_fd_cache_done(&a->fd_cache);
        free(a->held);
        a->held = NULL;
        a->n_held = a->cap_held = 0;
}

void agent_session_init(Agent *a, AgentSession *s) {
        *s = (AgentSession) { .id = ++a->next_session };
}

void agent_session_done(AgentSession *s) {
        proc_snapshot_free(&s->last);
        s->have_last = false;
}

/* ---- held state ---- */

static Held *held_find(Agent *a, HeldKind kind, pid_t id) {
        for (size_t i = 0; i < a->n_held; i++) {
                Held *h = &a->held[i];
                if (h->kind == kind && (kind == HELD_STOP ? h->pid : h->tid) == id)
                        return h;
        }
        return NULL;
}

static int held_add(Agent *a, const Held *h) {
        if (a->n_held >= AGENT_MAX_HELD)
                return -ENOSPC;
        if (a->n_held >= a->cap_held) {
                size_t ncap = a->cap_held ? a->cap_held * 2 : 16;
                Held *n = realloc(a->held, ncap * sizeof *n);
                if (!n)
                        return -ENOMEM;
                a->held = n;
                a->cap_held = ncap;
        }
        a->held[a->n_held++] = *h;
        return 0;
}

static void held_remove(Agent *a, Held *h) {
        size_t i = (size_t) (h - a->held);
        memmove(&a->held[i], &a->held[i + 1], (a->n_held - i - 1) * sizeof *h);
        a->n_held--;
}

/* Is the thread still the one we changed (not a reused id)? */
static bool same_task(Agent *a, pid_t pid, pid_t tid, uint64_t start_ticks) {
        ProcTask t;
        if (proc_read_task(a->proc_root, pid, tid, &t) < 0)
                return false;
        return t.start_ticks == start_ticks;
}

static int held_undo(Agent *a, const Held *h) {
        if (!same_task(a, h->pid, h->kind == HELD_STOP ? h->pid : h->tid, h->start_ticks))
                return -ESRCH;
        switch (h->kind) {
        case HELD_STOP:
                return a->ops->kill(h->pid, SIGCONT, a->userdata);
        case HELD_NICE:
                return a->ops->set_nice(h->tid, h->orig_nice, a->userdata);
        case HELD_SCHED:
                return a->ops->set_sched(h->tid, h->orig_policy, h->orig_prio, a->userdata);
        }
        return -EINVAL;
}

size_t agent_restore_all(Agent *a, const char *why) {
        size_t n = 0;
        /* Undo in reverse order: a thread changed twice ends at its first value. */
        while (a->n_held > 0) {
                Held h = a->held[--a->n_held];
                int r = held_undo(a, &h);
                if (r < 0 && r != -ESRCH)
                        log_warning_errno(r, "Failed to restore %s of %d (%s): %m",
                                          h.kind == HELD_STOP ? "stop" : h.kind == HELD_NICE ? "nice" : "policy",
                                          (int) (h.kind == HELD_STOP ? h.pid : h.tid), why);
                else if (r >= 0)
                        n++;
        }
        a->stats.restored += n;
        if (n > 0)
                log_info("Restored %zu change(s) (%s).", n, why);
        return n;
}

uint64_t agent_deadline(const Agent *a) {
        if (a->n_held == 0)
                return UINT64_MAX;
        return a->last_renew_usec + a->lease_usec;
}

size_t agent_tick(Agent *a, uint64_t now_usec) {
        if (a->n_held == 0 || now_usec < agent_deadline(a))
                return 0;
        a->stats.lease_expiries++;
        log_notice("Host silent for %" PRIu64 " ms, past the lease: restoring.",
                   (now_usec - a->last_renew_usec) / 1000);
        a->lease_epoch++;   /* every session must sync before it changes anything again */
        return agent_restore_all(a, "lease expired");
}

/* ---- replies ---- */

typedef struct Request {
        Agent *a;
        AgentSession *s;
        const JsonDoc *doc;
        const JsonNode *id;
        const JsonNode *args;
        JsonWriter *out;
        uint64_t now;
        bool replied;
} Request;

static void begin_reply(JsonWriter *out) {
        jw_begin_object(out);
}

static void end_reply(JsonWriter *out, const JsonDoc *doc, const JsonNode *id) {
        if (id) {
                jw_key(out, "id");
                jw_node(out, doc, id);
        }
        jw_end_object(out);
        jw_raw(out, "\n", 1);
}

static void error_reply_id(JsonWriter *out, const JsonDoc *doc, const JsonNode *id, const char *cls,
                           const char *desc) {
        begin_reply(out);
        jw_key(out, "error");
        jw_begin_object(out);
        jw_key(out, "class");
        jw_string(out, cls);
        jw_key(out, "desc");
        jw_string(out, desc);
        jw_end_object(out);
        end_reply(out, doc, id);
}

void agent_error_reply(JsonWriter *out, const char *cls, const char *desc) {
        error_reply_id(out, NULL, NULL, cls, desc);
}

_printf_(3, 4) static int req_error(Request *q, const char *cls, const char *fmt, ...) {
        char desc[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(desc, sizeof desc, fmt, ap);
        va_end(ap);
        error_reply_id(q->out, q->doc, q->id, cls, desc);
        q->replied = true;
        q->a->stats.errors++;
        return -EINVAL;
}

static const char *errno_class(int r) {
        switch (-r) {
        case ESRCH:
        case ENOENT:
                return "NotFound";
        case EPERM:
        case EACCES:
                return "PermissionDenied";
        case EINVAL:
        case ERANGE:
                return "InvalidParameter";
        case E2BIG:
        case ENOSPC:
                return "TooLarge";
        default:
                return "GenericError";
        }
}

static int req_errno(Request *q, int r, const char *what, long id) {
        return req_error(q, errno_class(r), "%s %ld: %s", what, id, strerror(-r));
}

/* Start a successful reply; the caller writes the value and calls req_end(). */
static void req_begin(Request *q) {
        begin_reply(q->out);
        jw_key(q->out, "return");
}

static int req_end(Request *q) {
        end_reply(q->out, q->doc, q->id);
        q->replied = true;
        return 0;
}

/* ---- argument checking ---- */

static int check_args(Request *q, const char *const *allowed) {
        for (const JsonNode *c = json_first(q->doc, q->args); c; c = json_next(q->doc, c)) {
                bool ok = false;
                for (const char *const *k = allowed; *k; k++)
                        if (streq(*k, c->key))
                                ok = true;
                if (!ok)
                        return req_error(q, "InvalidParameter", "unknown argument '%.64s'", c->key);
        }
        return 0;
}

/* Returns 1 if present, 0 if absent and optional. */
static int arg_int(Request *q, const char *name, bool required, int64_t min, int64_t max, int64_t *ret) {
        const JsonNode *n = json_get(q->doc, q->args, name);
        if (!n) {
                if (required)
                        return req_error(q, "InvalidParameter", "missing argument '%s'", name);
                return 0;
        }
        if (n->type != JSON_NUMBER || !n->is_int)
                return req_error(q, "InvalidParameter", "argument '%s' must be an integer, not %s", name,
                                 n->type == JSON_NUMBER ? "a fraction" : json_type_name(n->type));
        if (n->integer < min || n->integer > max)
                return req_error(q, "InvalidParameter", "argument '%s' out of range [%" PRIi64 ", %" PRIi64 "]",
                                 name, min, max);
        *ret = n->integer;
        return 1;
}

static int arg_string(Request *q, const char *name, bool required, const char **ret) {
        const JsonNode *n = json_get(q->doc, q->args, name);
        if (!n) {
                if (required)
                        return req_error(q, "InvalidParameter", "missing argument '%s'", name);
                return 0;
        }
        if (n->type != JSON_STRING)
                return req_error(q, "InvalidParameter", "argument '%s' must be a string, not %s", name,
                                 json_type_name(n->type));
        *ret = n->str;
        return 1;
}

static int arg_bool(Request *q, const char *name, bool *ret) {
        const JsonNode *n = json_get(q->doc, q->args, name);
        if (!n)
                return 0;
        if (n->type != JSON_BOOL)
                return req_error(q, "InvalidParameter", "argument '%s' must be a boolean, not %s", name,
                                 json_type_name(n->type));
        *ret = n->boolean;
        return 1;
}

#define PID_MAX_LIMIT (1 << 22)

/* "pid" (a thread group; a thread id selects its group) or, where allowed,
 * "tid" (that one thread).  Returns 0 and sets *ret_pid (the tgid) and
 * *ret_tid (0 if the whole group). */
static int arg_target(Request *q, bool allow_tid, pid_t *ret_pid, pid_t *ret_tid) {
        int64_t pid = 0, tid = 0;
        int r = arg_int(q, "pid", false, 1, PID_MAX_LIMIT, &pid);
        if (r < 0)
                return r;
        if (allow_tid) {
                int r2 = arg_int(q, "tid", false, 1, PID_MAX_LIMIT, &tid);
                if (r2 < 0)
                        return r2;
                if (r > 0 && r2 > 0)
                        return req_error(q, "InvalidParameter", "give 'pid' or 'tid', not both");
        }
        if (pid == 0 && tid == 0)
                return req_error(q, "InvalidParameter", allow_tid ? "missing argument 'pid' or 'tid'"
                                                                  : "missing argument 'pid'");
        int tgid = proc_get_tgid(q->a->proc_root, (pid_t) (pid ? pid : tid));
        if (tgid < 0)
                return req_errno(q, tgid, pid ? "no such process" : "no such thread", (long) (pid ? pid : tid));
        if (tgid == q->a->self_pid)
                return req_error(q, "PermissionDenied", "refusing to act on the agent itself");
        *ret_pid = (pid_t) tgid;
        *ret_tid = (pid_t) tid;
        return 0;
}

/* ---- commands ---- */

static int cmd_sync(Request *q) {
        static const char *const allowed[] = { "id", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        int64_t id;
        if (arg_int(q, "id", true, INT64_MIN, INT64_MAX, &id) < 0)
                return -EINVAL;
        /* Like guest-sync-delimited: the host discards everything up to the
         * 0xFF, then lines until it sees its id. */
        q->s->synced_epoch = q->a->lease_epoch;   /* a live host starts over, on this session */
        jw_raw(q->out, "\xff", 1);
        req_begin(q);
        jw_int(q->out, id);
        return req_end(q);
}

static const char *const command_names[] = {
        "sync", "hello", "tasks", "stop", "cont", "nice", "sched", "lease", "release", "stats", NULL,
};

static int cmd_hello(Request *q) {
        static const char *const allowed[] = { NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        struct utsname u;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof u);
        char boot_id[64] = "";
        char path[300];
        snprintf(path, sizeof path, "/proc/sys/kernel/random/boot_id");
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t k = read(fd, boot_id, sizeof boot_id - 1);
                boot_id[k > 0 ? k : 0] = 0;
                boot_id[strcspn(boot_id, "\n")] = 0;
                close(fd);
        }
        JsonWriter *w = q->out;
        req_begin(q);
        jw_begin_object(w);
        jw_key(w, "protocol");
        jw_int(w, AGENT_PROTOCOL_VERSION);
        jw_key(w, "agent");
        jw_string(w, "xvagent");
        jw_key(w, "version");
        jw_string(w, XVSCHED_VERSION);
        jw_key(w, "kernel");
        jw_string(w, u.release);
        jw_key(w, "machine");
        jw_string(w, u.machine);
        jw_key(w, "hostname");
        jw_string(w, u.nodename);
        jw_key(w, "cpus");
        jw_int(w, sysconf(_SC_NPROCESSORS_ONLN));
        jw_key(w, "boot_id");
        jw_string(w, boot_id);
        jw_key(w, "pid");
        jw_int(w, q->a->self_pid);
        jw_key(w, "hz");
        jw_int(w, (int64_t) (1000000000ULL / ns_per_tick()));
        jw_key(w, "lease_ms");
        jw_uint(w, q->a->lease_usec / 1000);
        jw_key(w, "commands");
        jw_begin_array(w);
        for (const char *const *c = command_names; *c; c++)
                jw_string(w, *c);
        jw_end_array(w);
        jw_end_object(w);
        return req_end(q);
}

static void write_task(JsonWriter *w, const ProcSnapshot *s, const ProcTask *t, bool cmdline) {
        jw_begin_object(w);
        jw_key(w, "pid");
        jw_int(w, t->pid);
        jw_key(w, "tid");
        jw_int(w, t->tid);
        jw_key(w, "comm");
        jw_string(w, t->comm);
        if (cmdline) {
                jw_key(w, "cmdline");
                jw_stringn(w, proc_task_cmdline(s, t), t->cmdline_len);
        }
        jw_key(w, "state");
        jw_stringn(w, &t->state, 1);
        jw_key(w, "cpu");
        jw_int(w, t->cpu);
        jw_key(w, "cpu_ns");
        jw_uint(w, t->cpu_ticks * ns_per_tick());
        jw_key(w, "nice");
        jw_int(w, t->nice);
        jw_key(w, "policy");
        jw_string(w, sched_policy_to_string(t->policy));
        jw_key(w, "rt_priority");
        jw_int(w, t->rt_priority);
        jw_key(w, "start_ns");
        jw_uint(w, t->start_ticks * ns_per_tick());
        if (t->kthread) {
                jw_key(w, "kthread");
                jw_bool(w, true);
        }
        jw_end_object(w);
}

static void format_token(const Agent *a, const AgentSession *s, char *buf, size_t size) {
        snprintf(buf, size, "%08" PRIx32 "-%" PRIx64 "-%" PRIx64, a->epoch, s->id, s->generation);
}

static int cmd_tasks(Request *q) {
        static const char *const allowed[] = { "since", "cmdline", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        const char *since = NULL;
        bool cmdline = true;
        if (arg_string(q, "since", false, &since) < 0 || arg_bool(q, "cmdline", &cmdline) < 0)
                return -EINVAL;

        ProcSnapshot snap;
        int r = proc_snapshot(q->a->proc_root, AGENT_MAX_TASKS, cmdline ? TASK_CMDLINE_MAX : 0,
                              q->s->have_last ? &q->s->last : NULL, &q->a->fd_cache, &snap);
        if (r < 0)
                return req_error(q, errno_class(r), "cannot read %s: %s", q->a->proc_root, strerror(-r));

        char token[64];
        format_token(q->a, q->s, token, sizeof token);
        bool delta = since && q->s->have_last && streq(since, token);

        q->s->generation++;
        format_token(q->a, q->s, token, sizeof token);

        JsonWriter *w = q->out;
        req_begin(q);
        jw_begin_object(w);
        jw_key(w, "token");
        jw_string(w, token);
        jw_key(w, "full");
        jw_bool(w, !delta);
        jw_key(w, "hz");
        jw_int(w, (int64_t) (1000000000ULL / ns_per_tick()));

        size_t n_threads = 0, agent_threads = 0;
        jw_key(w, "tasks");
        jw_begin_array(w);
        const ProcSnapshot *old = &q->s->last;
        size_t j = 0;
        for (size_t i = 0; i < snap.n; i++) {
                const ProcTask *t = &snap.tasks[i];
                if (t->pid == q->a->self_pid) {
                        agent_threads++;
                        continue;
                }
                n_threads++;
                if (delta) {
                        while (j < old->n && old->tasks[j].tid < t->tid)
                                j++;
                        if (j < old->n && old->tasks[j].tid == t->tid && !proc_task_changed(&old->tasks[j], t))
                                continue;
                }
                write_task(w, &snap, t, cmdline);
        }
        jw_end_array(w);

        if (delta) {
                jw_key(w, "gone");
                jw_begin_array(w);
                size_t k = 0;
                for (size_t i = 0; i < old->n; i++) {
                        pid_t tid = old->tasks[i].tid;
                        if (old->tasks[i].pid == q->a->self_pid)
                                continue;
                        while (k < snap.n && snap.tasks[k].tid < tid)
                                k++;
                        if (k >= snap.n || snap.tasks[k].tid != tid)
                                jw_int(w, tid);
                }
                jw_end_array(w);
        }
        jw_key(w, "n_threads");
        jw_uint(w, n_threads);

        /* The agent reports itself here, never in "tasks": it is always
         * running while it answers, and must not make a guest look busy. */
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        jw_key(w, "agent");
        jw_begin_object(w);
        jw_key(w, "pid");
        jw_int(w, q->a->self_pid);
        jw_key(w, "threads");
        jw_uint(w, agent_threads);
        jw_key(w, "cpu_ns");
        jw_uint(w, (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
        jw_end_object(w);
        jw_end_object(w);
        req_end(q);

        proc_snapshot_free(&q->s->last);
        q->s->last = snap;
        q->s->have_last = true;
        return 0;
}

static int cmd_stop(Request *q) {
        static const char *const allowed[] = { "pid", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        pid_t pid, tid;
        if (arg_target(q, false, &pid, &tid) < 0)
                return -EINVAL;
        if (pid == 1)
                return req_error(q, "PermissionDenied", "refusing to stop init");
        ProcTask t;
        int r = proc_read_task(q->a->proc_root, pid, pid, &t);
        if (r < 0)
                return req_errno(q, r, "cannot read process", pid);
        if (t.kthread)
                return req_error(q, "PermissionDenied", "refusing to stop kernel thread %d", (int) pid);

        bool added = false;
        if (!held_find(q->a, HELD_STOP, pid)) {
                Held h = { .kind = HELD_STOP, .pid = pid, .tid = pid, .start_ticks = t.start_ticks };
                r = held_add(q->a, &h);
                if (r < 0)
                        return req_errno(q, r, "cannot hold process", pid);
                added = true;
        }
        r = q->a->ops->kill(pid, SIGSTOP, q->a->userdata);
        if (r < 0) {
                if (added)
                        held_remove(q->a, held_find(q->a, HELD_STOP, pid));
                return req_errno(q, r, "cannot stop process", pid);
        }
        req_begin(q);
        jw_begin_object(q->out);
        jw_key(q->out, "pid");
        jw_int(q->out, pid);
        jw_end_object(q->out);
        return req_end(q);
}

static int cmd_cont(Request *q) {
        static const char *const allowed[] = { "pid", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        pid_t pid, tid;
        if (arg_target(q, false, &pid, &tid) < 0)
                return -EINVAL;
        int r = q->a->ops->kill(pid, SIGCONT, q->a->userdata);
        if (r < 0)
                return req_errno(q, r, "cannot resume process", pid);
        Held *h = held_find(q->a, HELD_STOP, pid);
        if (h)
                held_remove(q->a, h);
        req_begin(q);
        jw_begin_object(q->out);
        jw_key(q->out, "pid");
        jw_int(q->out, pid);
        jw_end_object(q->out);
        return req_end(q);
}

/* The threads a nice/sched request applies to: one, or all of a group. */
static int list_threads(Agent *a, pid_t pid, pid_t tid, pid_t **ret, size_t *ret_n) {
        if (tid > 0) {
                pid_t *v = malloc(sizeof *v);
                if (!v)
                        return -ENOMEM;
                v[0] = tid;
                *ret = v;
                *ret_n = 1;
                return 0;
        }
        char path[300];
        snprintf(path, sizeof path, "%s/%d/task", a->proc_root, (int) pid);
        DIR *d = opendir(path);
        if (!d)
                return errno == ENOENT ? -ESRCH : negative_errno();
        pid_t *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                char *e;
                long t = strtol(de->d_name, &e, 10);
                if (*e || t <= 0 || t > PID_MAX_LIMIT)
                        continue;
                if (n >= AGENT_MAX_HELD) {
                        free(v);
                        closedir(d);
                        return -E2BIG;
                }
                if (n >= cap) {
                        cap = cap ? cap * 2 : 16;
                        pid_t *nv = realloc(v, cap * sizeof *nv);
                        if (!nv) {
                                free(v);
                                closedir(d);
                                return -ENOMEM;
                        }
                        v = nv;
                }
                v[n++] = (pid_t) t;
        }
        closedir(d);
        *ret = v;
        *ret_n = n;
        return 0;
}

typedef struct Change {
        bool nice;
        int value;                /* nice */
        int policy, prio;         /* sched */
} Change;

static int apply_change(Request *q, pid_t pid, pid_t tid, const Change *c) {
        Agent *a = q->a;
        pid_t *tids = NULL;
        size_t n = 0;
        int r = list_threads(a, pid, tid, &tids, &n);
        if (r < 0)
                return req_errno(q, r, "cannot list threads of", pid);
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
                ProcTask t;
                r = proc_read_task(a->proc_root, pid, tids[i], &t);
                if (r < 0) {
                        if (tid > 0)
                                break;
                        r = 0;
                        continue;   /* thread exited meanwhile */
                }
                HeldKind kind = c->nice ? HELD_NICE : HELD_SCHED;
                Held *h = held_find(a, kind, tids[i]);
                if (h && h->start_ticks != t.start_ticks) {
                        held_remove(a, h);   /* tid reused */
                        h = NULL;
                }
                if (!h) {
                        Held nh = { .kind = kind, .pid = pid, .tid = tids[i], .start_ticks = t.start_ticks };
                        if (c->nice)
                                r = a->ops->get_nice(tids[i], &nh.orig_nice, a->userdata);
                        else
                                r = a->ops->get_sched(tids[i], &nh.orig_policy, &nh.orig_prio, a->userdata);
                        if (r < 0)
                                break;
                        r = held_add(a, &nh);
                        if (r < 0)
                                break;
                        h = &a->held[a->n_held - 1];
                }
                if (c->nice)
                        r = a->ops->set_nice(tids[i], c->value, a->userdata);
                else
                        r = a->ops->set_sched(tids[i], c->policy, c->prio, a->userdata);
                if (r < 0)
                        break;
                /* Back at the original value: nothing left to restore. */
                if ((c->nice && h->orig_nice == c->value) ||
                    (!c->nice && h->orig_policy == c->policy && h->orig_prio == c->prio))
                        held_remove(a, h);
                done++;
        }
        free(tids);
        if (r < 0)
                return req_errno(q, r, c->nice ? "cannot renice thread" : "cannot set policy of thread",
                                 (long) (tid ? tid : pid));
        if (done == 0)
                return req_error(q, "NotFound", "no threads left in process %d", (int) pid);
        req_begin(q);
        jw_begin_object(q->out);
        jw_key(q->out, "pid");
        jw_int(q->out, pid);
        jw_key(q->out, "threads");
        jw_uint(q->out, done);
        jw_end_object(q->out);
        return req_end(q);
}

static int cmd_nice(Request *q) {
        static const char *const allowed[] = { "pid", "tid", "nice", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        int64_t v;
        if (arg_int(q, "nice", true, -20, 19, &v) < 0)
                return -EINVAL;
        pid_t pid, tid;
        if (arg_target(q, true, &pid, &tid) < 0)
                return -EINVAL;
        Change c = { .nice = true, .value = (int) v };
        return apply_change(q, pid, tid, &c);
}

static int cmd_sched(Request *q) {
        static const char *const allowed[] = { "pid", "tid", "policy", "priority", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        const char *ps;
        if (arg_string(q, "policy", true, &ps) < 0)
                return -EINVAL;
        int policy = sched_policy_from_string(ps);
        if (policy < 0 || policy == SCHED_DEADLINE)
                return req_error(q, "InvalidParameter", "policy must be other, batch, idle, fifo or rr");
        bool rt = policy == SCHED_FIFO || policy == SCHED_RR;
        int64_t prio = 0;
        if (arg_int(q, "priority", false, rt ? 1 : 0, rt ? 99 : 0, &prio) < 0)
                return -EINVAL;
        if (rt && prio == 0)
                return req_error(q, "InvalidParameter", "policy %s needs a priority in [1, 99]", ps);
        pid_t pid, tid;
        if (arg_target(q, true, &pid, &tid) < 0)
                return -EINVAL;
        Change c = { .nice = false, .policy = policy, .prio = (int) prio };
        return apply_change(q, pid, tid, &c);
}

static int cmd_lease(Request *q) {
        static const char *const allowed[] = { "seconds", NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        const JsonNode *n = json_get(q->doc, q->args, "seconds");
        if (n) {
                if (n->type != JSON_NUMBER)
                        return req_error(q, "InvalidParameter", "argument 'seconds' must be a number, not %s",
                                         json_type_name(n->type));
                double usec = n->number * 1e6;
                if (!(usec >= (double) AGENT_MIN_LEASE_USEC && usec <= (double) AGENT_MAX_LEASE_USEC))
                        return req_error(q, "InvalidParameter", "argument 'seconds' out of range [0.1, 3600]");
                q->a->lease_usec = (uint64_t) usec;
        }
        req_begin(q);
        jw_begin_object(q->out);
        jw_key(q->out, "seconds");
        jw_double(q->out, (double) q->a->lease_usec / 1e6);
        jw_key(q->out, "held");
        jw_uint(q->out, q->a->n_held);
        jw_end_object(q->out);
        return req_end(q);
}

static int cmd_release(Request *q) {
        static const char *const allowed[] = { NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        size_t n = agent_restore_all(q->a, "release");
        req_begin(q);
        jw_begin_object(q->out);
        jw_key(q->out, "restored");
        jw_uint(q->out, n);
        jw_end_object(q->out);
        return req_end(q);
}

static int cmd_stats(Request *q) {
        static const char *const allowed[] = { NULL };
        if (check_args(q, allowed) < 0)
                return -EINVAL;
        Agent *a = q->a;
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        struct rusage ru = {};
        getrusage(RUSAGE_SELF, &ru);
        size_t stops = 0, nices = 0, scheds = 0;
        for (size_t i = 0; i < a->n_held; i++)
                switch (a->held[i].kind) {
                case HELD_STOP: stops++; break;
                case HELD_NICE: nices++; break;
                case HELD_SCHED: scheds++; break;
                }
        JsonWriter *w = q->out;
        req_begin(q);
        jw_begin_object(w);
        jw_key(w, "pid");
        jw_int(w, a->self_pid);
        jw_key(w, "cpu_ns");
        jw_uint(w, (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
        jw_key(w, "uptime_ns");
        jw_uint(w, (q->now - a->start_usec) * 1000);
        jw_key(w, "max_rss_kb");
        jw_int(w, ru.ru_maxrss);
        jw_key(w, "requests");
        jw_uint(w, a->stats.requests);
        jw_key(w, "errors");
        jw_uint(w, a->stats.errors);
        jw_key(w, "bad_requests");
        jw_uint(w, a->stats.bad_requests);
        jw_key(w, "bytes_in");
        jw_uint(w, a->bytes_in);
        jw_key(w, "bytes_out");
        jw_uint(w, a->bytes_out);
        jw_key(w, "clients");
        jw_uint(w, a->n_clients);
        jw_key(w, "lease_ms");
        jw_uint(w, a->lease_usec / 1000);
        jw_key(w, "lease_expiries");
        jw_uint(w, a->stats.lease_expiries);
        jw_key(w, "restored");
        jw_uint(w, a->stats.restored);
        jw_key(w, "held_stops");
        jw_uint(w, stops);
        jw_key(w, "held_nice");
        jw_uint(w, nices);
        jw_key(w, "held_sched");
        jw_uint(w, scheds);
        jw_end_object(w);
        return req_end(q);
}

typedef struct Command {
        const char *name;
        int (*fn)(Request *q);
} Command;

static const Command commands[] = {
        { "sync", cmd_sync },
        { "hello", cmd_hello },
        { "tasks", cmd_tasks },
        { "stop", cmd_stop },
        { "cont", cmd_cont },
        { "nice", cmd_nice },
        { "sched", cmd_sched },
        { "lease", cmd_lease },
        { "release", cmd_release },
        { "stats", cmd_stats },
};

bool agent_handle_line(Agent *a, AgentSession *s, const char *line, size_t len, uint64_t now_usec,
                       JsonWriter *out) {
        /* A JsonDoc is ~24 KiB: keep it off the stack of small threads. */
        static JsonDoc doc;
        size_t before = out->len;
        int r = json_parse(&doc, line, len);
        if (r < 0) {
                a->stats.bad_requests++;
                char desc[128];
                snprintf(desc, sizeof desc, "%s at offset %zu", doc.error ? doc.error : "invalid JSON",
                         doc.error_offset);
                agent_error_reply(out, r == -E2BIG ? "TooLarge" : "ParseError", desc);
                return false;
        }
        Request q = { .a = a, .s = s, .doc = &doc, .out = out, .now = now_usec };
        const JsonNode *root = json_root(&doc);
        if (root->type != JSON_OBJECT) {
                a->stats.bad_requests++;
                agent_error_reply(out, "InvalidRequest", "a request must be a JSON object");
                return false;
        }
        const JsonNode *id = json_get(&doc, root, "id");
        if (id && (id->type == JSON_OBJECT || id->type == JSON_ARRAY || (id->type == JSON_STRING && id->str_len > 64))) {
                a->stats.bad_requests++;
                agent_error_reply(out, "InvalidRequest", "'id' must be a number or a short string");
                return false;
        }
        q.id = id;
        const JsonNode *exec = NULL;
        for (const JsonNode *c = json_first(&doc, root); c; c = json_next(&doc, c)) {
                if (streq(c->key, "execute"))
                        exec = c;
                else if (streq(c->key, "arguments"))
                        q.args = c;
                else if (!streq(c->key, "id")) {
                        a->stats.bad_requests++;
                        req_error(&q, "InvalidRequest", "unknown member '%.64s'", c->key);
                        return false;
                }
        }
        if (!exec || exec->type != JSON_STRING) {
                a->stats.bad_requests++;
                req_error(&q, "InvalidRequest", "'execute' must be a string");
                return false;
        }
        if (q.args && q.args->type != JSON_OBJECT) {
                a->stats.bad_requests++;
                req_error(&q, "InvalidRequest", "'arguments' must be an object");
                return false;
        }

        /* A well-formed request from the host renews the lease, even one
         * that fails: the host is alive.  Garbage does not. */
        a->last_renew_usec = now_usec;
        a->stats.requests++;

        const Command *cmd = NULL;
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, exec->str))
                        cmd = &commands[i];
        if (!cmd) {
                req_error(&q, "CommandNotFound", "unknown command '%.64s'", exec->str);
                return true;
        }
        if (s->synced_epoch != a->lease_epoch && (cmd->fn == cmd_stop || cmd->fn == cmd_nice || cmd->fn == cmd_sched)) {
                req_error(&q, "LeaseExpired", "the lease expired and every change was undone: sync first");
                return true;
        }
        cmd->fn(&q);
        if (!q.replied) {
                /* Defensive: every handler replies; never leave the host waiting. */
                jw_truncate(out, before);
                req_error(&q, "GenericError", "internal error: no reply");
        }
        if (jw_error(out)) {
                int e = jw_error(out);
                jw_truncate(out, before);
                req_error(&q, "TooLarge", "reply too large: %s", strerror(-e));
        }
        return true;
}
