/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "daemon/guard.h"
#include "daemon/recover.h"
#include "view/agent-client.h"
#include "view/pause-hook.h"
#include "host/sched.h"
#include "lever/vm-pause.h"
#include "daemon/vm-control.h"

#define GUARD_FD 3
#define GUARD_LOCK_TRIES 6          /* journal_open waits 5 s each */
#define GUARD_PARENT_WAIT_MS 2000
#define GUARD_RETRY_FIRST_MS 1000   /* then doubled, up to GUARD_RETRY_MAX_MS */
#define GUARD_RETRY_MAX_MS 60000
#define GUARD_RETRY_FOR_MS (10 * 60 * 1000)
/* Per call, as long as the daemon's own agent view waits (view-agent.c): an
 * emulated guest on a loaded host answers a second or two late and notices
 * a new host late, and a shorter wait failed every pass the same way
 * (tests/unit/test-guard-agent.c). */
#define GUARD_AGENT_TIMEOUT (8 * USEC_PER_SEC)

static int guard_wfd = -1;
static pid_t guard_pid_ = 0;
static bool guard_lost;

static uint64_t process_start_time(pid_t pid) {
        ProcStat st;
        return proc_stat_read(NULL, pid, 0, &st) >= 0 ? st.start_time : 0;
}

JournalOwner guard_owner(const char *name) {
        pid_t pid = getpid();
        return (JournalOwner) { .name = name, .pid = pid, .start_time = process_start_time(pid) };
}

bool guard_running(void) {
        return guard_wfd >= 0;
}

pid_t guard_pid(void) {
        return guard_wfd >= 0 ? guard_pid_ : 0;
}

static void close_all_but(int keep) {
        DIR *d = opendir("/proc/self/fd");
        if (!d) {
                for (int fd = 3; fd < 1024; fd++)
                        if (fd != keep)
                                (void) close(fd);
                return;
        }
        int dfd = dirfd(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                int fd = atoi(de->d_name);
                if (de->d_name[0] == '.' || fd <= 2 || fd == keep || fd == dfd)
                        continue;
                (void) close(fd);
        }
        closedir(d);
}

static void nap_ms(long ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

static bool is_type(json_object *e, const char *type) {
        const char *t = journal_field_str(e, "type");
        return t && streq(t, type);
}

static bool owner_alive(json_object *e) {
        pid_t pid = (pid_t) journal_field_int(e, "owner_pid", 0);
        return pid > 0 && host_process_alive(pid, (uint64_t) journal_field_int(e, "owner_start", 0));
}

/* ---- the guard's resumes: one agent connection per domain ---- */

typedef struct AgentSlot {
        char *sock;
        int r;              /* < 0: connecting or listing failed this pass */
        AgentClient *c;
        GuestTask *t;
        size_t n;
} AgentSlot;

typedef struct GuardPass {
        AgentSlot slots[32];
        size_t n_slots;
        RecoverOps fallback;   /* old entries (no QEMU pid): recover.c's own */
} GuardPass;

static void guard_pass_done(GuardPass *g) {
        for (size_t i = 0; i < g->n_slots; i++) {
                agent_client_free(g->slots[i].c);
                free(g->slots[i].t);
                free(g->slots[i].sock);
        }
        g->n_slots = 0;
}

static AgentSlot *agent_slot(GuardPass *g, const char *sock) {
        for (size_t i = 0; i < g->n_slots; i++)
                if (streq(g->slots[i].sock, sock))
                        return &g->slots[i];
        if (g->n_slots >= ELEMENTSOF(g->slots))
                return NULL;
        AgentSlot *a = &g->slots[g->n_slots];
        *a = (AgentSlot) { .sock = strdup(sock) };
        if (!a->sock)
                return NULL;
        g->n_slots++;
        a->r = agent_client_connect(sock, GUARD_AGENT_TIMEOUT, &a->c);
        if (a->r >= 0)
                a->r = agent_client_tasks(a->c, &a->t, &a->n);
        if (a->r < 0)
                log_debug("guard: agent at %s: %s", sock, strerror(-a->r));
        return a;
}

static int guard_resume_stop(GuardPass *g, json_object *e) {
        pid_t qemu = (pid_t) journal_field_int(e, "qemu_pid", 0);
        uint64_t qemu_start = (uint64_t) journal_field_int(e, "qemu_start", 0);
        const char *sock = journal_field_str(e, "agent_socket");
        pid_t pid = (pid_t) journal_field_int(e, "pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "start_time_ns", 0);
        if (qemu <= 0 || qemu_start == 0 || !sock || start == 0)
                /* an older entry: recover.c's rules (by name; no bare pid) */
                return g->fallback.resume_stop(e, g->fallback.userdata);
        if (pid <= 1)
                return -EBADMSG;
        if (!host_process_alive(qemu, qemu_start))
                return -ESRCH;
        AgentSlot *a = agent_slot(g, sock);
        if (!a)
                return -ENOMEM;
        if (a->r < 0)
                return a->r;   /* asked once this pass, not again per entry */
        const GuestTask *t = NULL;
        for (size_t i = 0; i < a->n; i++)
                if (a->t[i].pid == pid && a->t[i].tid == pid && !a->t[i].is_agent)
                        t = &a->t[i];
        if (!t)
                return -ESRCH;
        if (!journal_guest_start_same(t->start_time_ns, start))
                return -ESTALE;
        if (t->state != 'T')
                return 0;
        return agent_client_cont(a->c, pid);
}

static bool is_parents(json_object *e, pid_t parent, uint64_t parent_start) {
        return journal_field_int(e, "owner_pid", 0) == parent && (uint64_t) journal_field_int(e, "owner_start", 0) == parent_start;
}

/* Copies of the entries the guard is to undo: guest entries whose owner is
 * dead.  NULL: none (or out of memory). */
static json_object *dead_entries(Journal *j) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < journal_size(j); i++) {
                json_object *e = journal_entry(j, i), *copy = NULL;
                if (!(is_type(e, "pause") || is_type(e, "guest-stop")) || !journal_field_str(e, "key") || owner_alive(e))
                        continue;
                if (json_object_deep_copy(e, &copy, NULL) < 0 || json_object_array_add(a, copy) < 0)
                        json_object_put(copy);
        }
        if (a && json_object_array_length(a) == 0) {
                json_object_put(a);
                a = NULL;
        }
        return a;
}

static int open_journal(const char *state_dir, Journal **ret) {
        int r = -EBUSY;
        for (int i = 0; i < GUARD_LOCK_TRIES && r == -EBUSY; i++)
                r = journal_open(state_dir, ret);
        return r;
}

/* One pass: copy the dead owners' entries under the lock, resume them
 * without it (guest I/O may take seconds: a starting xvsched must not wait
 * for it), then take the lock again only to remove the entries done, each
 * only if it is still the very entry copied (a live process may have taken
 * it over meanwhile: journal_record_guest()).  Returns the number of the
 * parent's entries left, or -errno (the journal could not be opened). */
static int guard_pass(const char *state_dir, const HvOptions *hv, pid_t parent, uint64_t parent_start,
                      RecoverResult *res) {
        Journal *j = NULL;
        int r = open_journal(state_dir, &j);
        if (r < 0)
                return r;
        json_object *todo = dead_entries(j);
        journal_free(j);
        j = NULL;
        if (!todo)
                return 0;

        GuardPass g = {};
        recover_ops_default(&g.fallback, hv);
        size_t n = json_object_array_length(todo);
        bool *done = calloc(n, sizeof *done);
        if (!done) {
                json_object_put(todo);
                return -ENOMEM;
        }
        /* pauses first: a paused VM's agent cannot answer */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        json_object *e = json_object_array_get_idx(todo, i);
                        bool pause = is_type(e, "pause");
                        if (pause != (pass == 0))
                                continue;
                        int q = pause ? vm_pause_undo(e) : guard_resume_stop(&g, e);
                        done[i] = recover_entry_done(q);
                        if (!done[i])
                                log_debug("guard: cannot undo %s yet: %s", journal_field_str(e, "key"), recover_reason(q));
                        else if (q >= 0)
                                res->resumed++;
                        else
                                res->gone++;
                }
        guard_pass_done(&g);

        size_t left = 0;
        r = open_journal(state_dir, &j);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(todo, i);
                if (!done[i] || r < 0) {
                        left += is_parents(e, parent, parent_start);
                        continue;
                }
                const char *key = journal_field_str(e, "key");
                json_object *now = NULL;
                for (size_t k = 0; k < journal_size(j) && !now; k++) {
                        const char *kk = journal_field_str(journal_entry(j, k), "key");
                        if (kk && streq(kk, key))
                                now = journal_entry(j, k);
                }
                if (!now || !json_object_equal(now, e))
                        continue;   /* gone, or taken over by a live process: not ours to remove */
                int q = journal_remove(j, key);
                if (q < 0) {
                        log_warning("guard: cannot update the state file: %s", strerror(-q));
                        left += is_parents(e, parent, parent_start);
                }
        }
        journal_free(j);
        free(done);
        json_object_put(todo);
        return r < 0 ? r : (int) left;
}

_Noreturn static void guard_main(const char *state_dir, const HvOptions *hv, pid_t parent, uint64_t parent_start) {
        for (;;) {
                char c;
                ssize_t n = read(GUARD_FD, &c, 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 1 && c == 'D')
                        _exit(0);   /* the parent restored everything itself */
                if (n <= 0)
                        break;      /* EOF (or a broken pipe): the parent is gone */
        }
        /* The pipe closes while the parent exits; its entries count as
         * another's until it is a zombie or gone. */
        for (int i = 0; i < GUARD_PARENT_WAIT_MS / 10 && host_process_alive(parent, parent_start); i++)
                nap_ms(10);

        /* Retry with backoff while the parent's entries are left (an agent
         * that is slow now may answer later), for GUARD_RETRY_FOR_MS. */
        long long end = now_msec() + GUARD_RETRY_FOR_MS;
        long wait = GUARD_RETRY_FIRST_MS;
        RecoverResult res = {};
        int r;
        for (;;) {
                r = guard_pass(state_dir, hv, parent, parent_start, &res);
                if (r <= 0 || now_msec() + wait > end)
                        break;
                nap_ms(wait);
                wait = MIN(wait * 2, (long) GUARD_RETRY_MAX_MS);
        }
        if (r == -EBUSY)
                /* a new xvsched holds it: it adopts what dead owners left */
                log_warning("guard: the state file is held by another xvsched: leaving the rest to it");
        else if (r < 0)
                log_warning("guard: cannot open the state file: %s", strerror(-r));
        if (res.resumed + res.gone > 0 || r > 0)
                log_notice("guard: pid %d died holding guest changes: %u undone, %u gone, %d kept", (int) parent,
                           res.resumed, res.gone, MAX(r, 0));
        _exit(r == 0 ? 0 : 1);
}

int guard_start(const char *state_dir, const HvOptions *hv) {
        if (guard_wfd >= 0)
                return 0;
        if (guard_lost)
                return -ECHILD;   /* forking again in a threaded daemon is not safe */
        int p[2];
        /* a socket, not a pipe: the parent's "done" goes with MSG_NOSIGNAL,
         * so a dead guard cannot kill it with SIGPIPE */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
                return negative_errno();
        pid_t parent = getpid();
        uint64_t parent_start = process_start_time(parent);
        char *dir = state_dir ? strdup(state_dir) : NULL;
        if (state_dir && !dir) {
                close(p[0]);
                close(p[1]);
                return -ENOMEM;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                close(p[0]);
                close(p[1]);
                free(dir);
                return r;
        }
        if (pid == 0) {
                (void) setsid();
                sigset_t all;
                sigfillset(&all);
                sigprocmask(SIG_UNBLOCK, &all, NULL);
                for (int s = 1; s < NSIG; s++)
                        if (s != SIGKILL && s != SIGSTOP)
                                (void) signal(s, SIG_DFL);
                (void) signal(SIGINT, SIG_IGN);
                (void) signal(SIGHUP, SIG_IGN);
                (void) signal(SIGPIPE, SIG_IGN);
                (void) prctl(PR_SET_NAME, "xvsched-guard");
                if (dup2(p[0], GUARD_FD) < 0)
                        _exit(1);
                close_all_but(GUARD_FD);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                        if (null != STDIN_FILENO && null != STDOUT_FILENO)
                                close(null);
                }
                guard_main(dir, hv, parent, parent_start);
        }
        free(dir);
        close(p[0]);
        guard_wfd = p[1];
        guard_pid_ = pid;
        log_debug("guard started: pid %d", (int) pid);
        return 0;
}

static unsigned pauses_outstanding;   /* recorded, not yet seen running (under hook_cfg.lock) */

void guard_finish(bool nothing_left) {
        if (guard_wfd < 0)
                return;
        if (nothing_left && __atomic_load_n(&pauses_outstanding, __ATOMIC_SEQ_CST) == 0)
                (void) send(guard_wfd, "D", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(guard_wfd);
        guard_wfd = -1;
}

/* ---- the pause hook ---- */

static struct {
        Journal *j;
        pthread_mutex_t *lock;
        const char *owner_name;
        char *state_dir;
        const HvOptions *hv;
        bool refuse;   /* dry run: no pause at all */
} hook_cfg;

/* Pauses a thread of this process holds now (a view between before() or
 * adopt() and release(), or guard_tick() resuming one): one holder per key. */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static char *held[64];

static int hold(const char *key) {
        int r = -EBUSY, free_slot = -1;
        pthread_mutex_lock(&held_lock);
        for (size_t i = 0; i < ELEMENTSOF(held); i++) {
                if (held[i] && streq(held[i], key))
                        goto out;
                if (!held[i] && free_slot < 0)
                        free_slot = (int) i;
        }
        r = free_slot < 0 ? -EBUSY : (held[free_slot] = strdup(key)) ? 0 : -ENOMEM;
out:
        pthread_mutex_unlock(&held_lock);
        return r;
}

static void unhold(const char *key) {
        pthread_mutex_lock(&held_lock);
        for (size_t i = 0; i < ELEMENTSOF(held); i++)
                if (held[i] && streq(held[i], key)) {
                        free(held[i]);
                        held[i] = NULL;
                        break;
                }
        pthread_mutex_unlock(&held_lock);
}

static json_object *pause_entry(const GuestPause *p) {
        JournalOwner o = guard_owner(hook_cfg.owner_name);
        JournalVm vm = { .domain = p->domain, .qemu_pid = p->qemu_pid, .qemu_start = process_start_time(p->qemu_pid),
                         .qmp_socket = p->qmp_socket,
                         /* paused through libvirt: how to resume it (vm_pause_undo()) */
                         .uuid = p->uuid, .libvirt_uri = p->libvirt_uri };
        return journal_entry_pause_new(&o, &vm);
}

/* What hold() knows a pause by: its QMP socket and QEMU pid (not the
 * start time, which is gone with the QEMU), malloc'd. */
static char *hold_id(const char *qmp_socket, pid_t qemu_pid) {
        char *id = NULL;
        return asprintf(&id, "%s:%d", qmp_socket ?: "", (int) qemu_pid) < 0 ? NULL : id;
}

/* The key of p's entry, malloc'd (NULL: no valid entry). */
static char *pause_key(const GuestPause *p) {
        json_object *e = pause_entry(p);
        const char *k = e ? journal_field_str(e, "key") : NULL;
        char *key = k ? strdup(k) : NULL;
        json_object_put(e);
        return key;
}

static int hook_lock_journal(Journal **ret_own, Journal **ret_j) {
        if (hook_cfg.lock)
                pthread_mutex_lock(hook_cfg.lock);
        *ret_own = NULL;
        *ret_j = hook_cfg.j;
        if (*ret_j)
                return 0;
        int r = journal_open(hook_cfg.state_dir, ret_own);
        if (r < 0) {
                if (hook_cfg.lock)
                        pthread_mutex_unlock(hook_cfg.lock);
                return r;
        }
        *ret_j = *ret_own;
        return 0;
}

static void hook_unlock_journal(Journal *own) {
        journal_free(own);
        if (hook_cfg.lock)
                pthread_mutex_unlock(hook_cfg.lock);
}

/* Record (e != NULL) or remove (key). */
static int hook_journal(json_object *e, const char *key) {
        Journal *j, *own;
        int r = hook_lock_journal(&own, &j);
        if (r < 0) {
                json_object_put(e);
                return r;
        }
        r = e ? journal_record_guest(j, e) : journal_remove(j, key);
        hook_unlock_journal(own);
        return r;
}

static void outstanding_dec(void);

static int hook_remove(const GuestPause *p) {
        _cleanup_free_ char *key = pause_key(p);
        if (!key)
                return -ENOMEM;
        return hook_journal(NULL, key);
}

static int hook_before(const GuestPause *p, void *userdata) {
        (void) userdata;
        if (hook_cfg.refuse)
                return -EROFS;   /* a dry run changes nothing, not even for a moment */
        /* The daemon starts its guard before its threads; a guard is
         * forked here only where the process has one thread (the CLI).  A
         * daemon whose guard died pauses nothing more. */
        if (!guard_running() && (hook_cfg.j || guard_lost))
                return -ENOTCONN;
        json_object *e = pause_entry(p);
        _cleanup_free_ char *key = e && journal_field_str(e, "key") ? hold_id(p->qmp_socket, p->qemu_pid) : NULL;
        if (!key) {
                json_object_put(e);
                return -EINVAL;
        }
        int r = hold(key);
        if (r < 0) {
                json_object_put(e);
                return r;   /* another thread holds this VM's pause */
        }
        r = hook_journal(e, NULL);
        if (r < 0) {
                unhold(key);
                log_debug_errno(r, "cannot record the pause of %s: %m", p->domain);
                return r;
        }
        if (!guard_running()) {
                r = guard_start(hook_cfg.state_dir, hook_cfg.hv);
                if (r < 0) {
                        log_debug_errno(r, "cannot start the guard: %m");
                        (void) hook_remove(p);
                        unhold(key);
                        return r;
                }
        }
        __atomic_add_fetch(&pauses_outstanding, 1, __ATOMIC_SEQ_CST);
        return 0;
}

static void outstanding_dec(void) {
        unsigned n = __atomic_load_n(&pauses_outstanding, __ATOMIC_SEQ_CST);
        while (n > 0 && !__atomic_compare_exchange_n(&pauses_outstanding, &n, n - 1, false, __ATOMIC_SEQ_CST,
                                                     __ATOMIC_SEQ_CST))
                ;
}

static void hook_after(const GuestPause *p, void *userdata) {
        (void) userdata;
        int r = hook_remove(p);
        if (r >= 0)
                outstanding_dec();
        else if (r != -ENOENT)   /* -ENOENT: guard_tick() resumed it already */
                log_debug_errno(r, "cannot remove the pause of %s from the state file: %m", p->domain);
}

/* This process's own entry of key (same pid and start time)? */
static bool own_entry(Journal *j, const char *key) {
        JournalOwner me = guard_owner(NULL);
        for (size_t i = 0; i < journal_size(j); i++) {
                json_object *e = journal_entry(j, i);
                const char *k = journal_field_str(e, "key");
                if (k && streq(k, key))
                        return journal_field_int(e, "owner_pid", 0) == me.pid && (uint64_t) journal_field_int(e, "owner_start", 0) == me.start_time;
        }
        return false;
}

static int hook_adopt(const GuestPause *p, void *userdata) {
        (void) userdata;
        if (hook_cfg.refuse)
                return 0;
        _cleanup_free_ char *key = pause_key(p), *id = hold_id(p->qmp_socket, p->qemu_pid);
        if (!key || !id)
                return 0;
        int r = hold(id);
        if (r < 0)
                return r;
        Journal *j, *own;
        r = hook_lock_journal(&own, &j);
        if (r >= 0) {
                r = own_entry(j, key) ? 1 : 0;
                hook_unlock_journal(own);
        }
        if (r <= 0)
                unhold(id);
        return r < 0 ? 0 : r;
}

static void hook_release(const GuestPause *p, void *userdata) {
        (void) userdata;
        _cleanup_free_ char *id = hold_id(p->qmp_socket, p->qemu_pid);
        if (id)
                unhold(id);
}

/* A guest kernel call's state, kept in its pause's entry as "kcall" (what
 * vm_pause_undo() finishes or undoes before it resumes the VM). */
static json_object *kcall_json(const GuestKcall *k) {
        static const char *const steps[] = { [GUEST_KCALL_BREAKPOINT] = "breakpoint", [GUEST_KCALL_CALL] = "call",
                                             [GUEST_KCALL_STUB] = "stub" };
        if (k->step <= GUEST_KCALL_NONE || k->step > GUEST_KCALL_STUB || !k->gdb_socket ||
            k->regs_len > GUEST_KCALL_MAX_REGS || (k->step == GUEST_KCALL_CALL && (!k->regs || k->vcpu <= 0)))
                return NULL;
        json_object *o = json_object_new_object();
        char hex[2 * GUEST_KCALL_MAX_REGS + 1], a[32];
        if (!o)
                return NULL;
        json_object_object_add(o, "step", json_object_new_string(steps[k->step]));
        json_object_object_add(o, "gdb_socket", json_object_new_string(k->gdb_socket));
        snprintf(a, sizeof a, "%#" PRIx64, k->bp);
        json_object_object_add(o, "bp", json_object_new_string(a));
        json_object_object_add(o, "bp_orig", json_object_new_int(k->bp_orig));
        snprintf(a, sizeof a, "%#" PRIx64, k->fn);
        json_object_object_add(o, "fn", json_object_new_string(a));
        if (k->step == GUEST_KCALL_CALL) {
                for (size_t i = 0; i < k->regs_len; i++)
                        snprintf(hex + 2 * i, 3, "%02x", k->regs[i]);
                hex[2 * k->regs_len] = 0;
                json_object_object_add(o, "vcpu", json_object_new_int(k->vcpu));
                json_object_object_add(o, "regs", json_object_new_string(hex));
        }
        return o;
}

static int hook_kcall(const GuestPause *p, const GuestKcall *k, void *userdata) {
        (void) userdata;
        if (hook_cfg.refuse)
                return -EROFS;
        _cleanup_free_ char *key = pause_key(p);
        if (!key)
                return -ENOMEM;
        json_object *o = NULL;
        if (k->step != GUEST_KCALL_NONE && !(o = kcall_json(k)))
                return -EINVAL;
        Journal *j, *own;
        int r = hook_lock_journal(&own, &j);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        /* only into this process's own pause: a VM paused by someone else
         * has no entry to carry it (the call is refused) */
        if (!own_entry(j, key)) {
                json_object_put(o);
                r = k->step == GUEST_KCALL_NONE ? 0 : -ENOENT;
        } else
                r = journal_set_field(j, key, "kcall", o);
        hook_unlock_journal(own);
        if (r < 0)
                log_debug_errno(r, "cannot record the guest kernel call's state with the pause of %s: %m", p->domain);
        return r;
}

void guard_pause_hook_install(Journal *j, pthread_mutex_t *lock, const char *owner_name, const char *state_dir,
                              const HvOptions *hv) {
        free(hook_cfg.state_dir);
        hook_cfg.j = j;
        hook_cfg.lock = lock;
        hook_cfg.owner_name = owner_name;
        hook_cfg.state_dir = state_dir ? strdup(state_dir) : NULL;
        hook_cfg.hv = hv;
        hook_cfg.refuse = false;
        GuestPauseHook h = { .before = hook_before, .after = hook_after, .adopt = hook_adopt, .release = hook_release,
                             .kcall = hook_kcall };
        guest_pause_hook_set(&h);
        vm_control_install(hv);   /* libvirt domains: pause, resume, registers through libvirt */
}

void guard_pause_hook_install_refusing(void) {
        free(hook_cfg.state_dir);
        memset(&hook_cfg, 0, sizeof hook_cfg);
        hook_cfg.refuse = true;
        GuestPauseHook h = { .before = hook_before, .after = hook_after, .adopt = hook_adopt, .release = hook_release };
        guest_pause_hook_set(&h);
}

/* ---- the daemon's loop: owed resumes, dead owners, a dead guard ---- */

#define OWN_RETRY_MS 2000
#define DEAD_RETRY_FIRST_MS 5000
#define DEAD_RETRY_MAX_MS 60000

int guard_retry_own_pauses(void) {
        if (!hook_cfg.j)
                return 0;
        JournalOwner me = guard_owner(NULL);
        json_object *todo = json_object_new_array();
        if (!todo)
                return -ENOMEM;
        if (hook_cfg.lock)
                pthread_mutex_lock(hook_cfg.lock);
        for (size_t i = 0; i < journal_size(hook_cfg.j); i++) {
                json_object *e = journal_entry(hook_cfg.j, i), *copy = NULL;
                const char *key = journal_field_str(e, "key");
                if (!key || !is_type(e, "pause") || journal_field_int(e, "owner_pid", 0) != me.pid ||
                    (uint64_t) journal_field_int(e, "owner_start", 0) != me.start_time)
                        continue;
                _cleanup_free_ char *id = hold_id(journal_field_str(e, "qmp_socket"), (pid_t) journal_field_int(e, "qemu_pid", 0));
                if (!id || hold(id) < 0)
                        continue;   /* a view holds it: its to resume */
                if (json_object_deep_copy(e, &copy, NULL) < 0 || json_object_array_add(todo, copy) < 0) {
                        json_object_put(copy);
                        unhold(id);
                }
        }
        if (hook_cfg.lock)
                pthread_mutex_unlock(hook_cfg.lock);
        int left = 0;
        for (size_t i = 0; i < json_object_array_length(todo); i++) {
                json_object *e = json_object_array_get_idx(todo, i);
                const char *key = journal_field_str(e, "key");
                int r = vm_pause_undo(e);
                if (recover_entry_done(r)) {
                        if (hook_cfg.lock)
                                pthread_mutex_lock(hook_cfg.lock);
                        int q = journal_remove(hook_cfg.j, key);
                        if (hook_cfg.lock)
                                pthread_mutex_unlock(hook_cfg.lock);
                        if (q >= 0) {
                                outstanding_dec();
                                log_info("resumed %s (domain %s), a pause a dropped view still owed", key,
                                         journal_field_str(e, "domain") ?: "?");
                        } else
                                left++;
                } else {
                        log_warning("domain %s: the VM this process paused does not run again yet: %s (retrying)",
                                    journal_field_str(e, "domain") ?: "?", recover_reason(r));
                        left++;
                }
                _cleanup_free_ char *id = hold_id(journal_field_str(e, "qmp_socket"), (pid_t) journal_field_int(e, "qemu_pid", 0));
                if (id)
                        unhold(id);
        }
        json_object_put(todo);
        return left;
}

bool guard_check(void) {
        if (guard_wfd < 0 || guard_pid_ <= 0)
                return guard_wfd >= 0;
        int status;
        pid_t r = waitpid(guard_pid_, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno != ECHILD))
                return true;
        /* gone (reaped now, or by someone else: ECHILD) */
        log_error("the guard process (pid %d) died%s: no more agent-less guest stops or VM pauses until restart",
                  (int) guard_pid_, r > 0 && WIFSIGNALED(status) ? " of a signal" : "");
        close(guard_wfd);
        guard_wfd = -1;
        guard_lost = true;
        return false;
}

void guard_tick(void) {
        static long long next_own, next_dead;
        static long dead_wait = DEAD_RETRY_FIRST_MS;
        if (!hook_cfg.j || hook_cfg.refuse)
                return;
        (void) guard_check();
        long long now = now_msec();
        if (now >= next_own) {
                next_own = now + OWN_RETRY_MS;
                (void) guard_retry_own_pauses();
        }
        if (now < next_dead)
                return;
        /* Entries of dead owners (a CLI, a daemon before this one) that are
         * still here: their guard gave up, or could not take the lock that
         * this daemon holds.  This daemon adopts them: recover_guest(),
         * retried with backoff while some are kept. */
        bool any = false;
        if (hook_cfg.lock)
                pthread_mutex_lock(hook_cfg.lock);
        for (size_t i = 0; i < journal_size(hook_cfg.j) && !any; i++) {
                json_object *e = journal_entry(hook_cfg.j, i);
                any = (is_type(e, "pause") || is_type(e, "guest-stop")) && !owner_alive(e);
        }
        int k = 0;
        RecoverResult res = {};
        if (any) {
                RecoverOps ops;
                recover_ops_default(&ops, hook_cfg.hv);
                k = recover_guest(hook_cfg.j, &ops, 0, &res);
        }
        if (hook_cfg.lock)
                pthread_mutex_unlock(hook_cfg.lock);
        if (any && res.resumed + res.gone > 0)
                log_notice("undid %u guest change%s left by a dead xvsched (%u gone)", res.resumed + res.gone,
                           res.resumed + res.gone == 1 ? "" : "s", res.gone);
        dead_wait = k != 0 ? MIN(dead_wait * 2, (long) DEAD_RETRY_MAX_MS) : DEAD_RETRY_FIRST_MS;
        next_dead = now_msec() + dead_wait;
}
