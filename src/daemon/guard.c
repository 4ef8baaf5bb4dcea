/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/guard.h"
#include "daemon/recover.h"
#include "guest/pause-hook.h"
#include "host/sched.h"
#include "lever/vm-pause.h"

#define GUARD_FD 3
#define GUARD_LOCK_TRIES 6          /* journal_open waits 5 s each */
#define GUARD_PARENT_WAIT_MS 2000

static int guard_wfd = -1;

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

        Journal *j = NULL;
        int r = -EBUSY;
        for (int i = 0; i < GUARD_LOCK_TRIES && r == -EBUSY; i++)
                r = journal_open(state_dir, &j);
        if (r < 0) {
                /* a new xvsched holds it: its start recovers what we would */
                log_warning("guard: cannot open the state file: %s", strerror(-r));
                _exit(1);
        }
        RecoverOps ops;
        recover_ops_default(&ops, hv);
        RecoverResult res = {};
        r = recover_guest(j, &ops, 0, &res);
        if (res.resumed + res.gone + res.kept > 0)
                log_notice("guard: pid %d died holding guest changes: %u undone, %u gone, %u kept", (int) parent,
                           res.resumed, res.gone, res.kept);
        journal_free(j);
        _exit(r == 0 ? 0 : 1);
}

int guard_start(const char *state_dir, const HvOptions *hv) {
        if (guard_wfd >= 0)
                return 0;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
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
        log_debug("guard started: pid %d", (int) pid);
        return 0;
}

static unsigned pauses_outstanding;   /* recorded, not yet seen running (under hook_cfg.lock) */

void guard_finish(bool nothing_left) {
        if (guard_wfd < 0)
                return;
        if (nothing_left && __atomic_load_n(&pauses_outstanding, __ATOMIC_SEQ_CST) == 0)
                (void) !write(guard_wfd, "D", 1);
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
} hook_cfg;

static json_object *pause_entry(const GuestPause *p) {
        JournalOwner o = guard_owner(hook_cfg.owner_name);
        JournalVm vm = { .domain = p->domain, .qemu_pid = p->qemu_pid, .qemu_start = process_start_time(p->qemu_pid),
                         .qmp_socket = p->qmp_socket };
        return journal_entry_pause_new(&o, &vm);
}

/* Record (e != NULL) or remove (key). */
static int hook_journal(json_object *e, const char *key) {
        int r;
        if (hook_cfg.lock)
                pthread_mutex_lock(hook_cfg.lock);
        Journal *j = hook_cfg.j, *own = NULL;
        if (!j) {
                r = journal_open(hook_cfg.state_dir, &own);
                j = own;
        }
        if (!j) {
                json_object_put(e);
        } else if (e)
                r = journal_record_guest(j, e);
        else
                r = journal_remove(j, key);
        journal_free(own);
        if (hook_cfg.lock)
                pthread_mutex_unlock(hook_cfg.lock);
        return r;
}

static int hook_remove(const GuestPause *p) {
        json_object *e = pause_entry(p), *k;
        int r = -ENOMEM;
        if (e && json_object_object_get_ex(e, "key", &k))
                r = hook_journal(NULL, json_object_get_string(k));
        json_object_put(e);
        return r;
}

static int hook_before(const GuestPause *p, void *userdata) {
        (void) userdata;
        /* The daemon starts its guard before its threads; a guard is
         * forked here only where the process has one thread (the CLI). */
        if (!guard_running() && hook_cfg.j)
                return -ENOTCONN;
        json_object *e = pause_entry(p);
        if (!e)
                return -EINVAL;
        int r = hook_journal(e, NULL);
        if (r < 0) {
                log_debug_errno(r, "cannot record the pause of %s: %m", p->domain);
                return r;
        }
        if (!guard_running()) {
                r = guard_start(hook_cfg.state_dir, hook_cfg.hv);
                if (r < 0) {
                        log_debug_errno(r, "cannot start the guard: %m");
                        (void) hook_remove(p);
                        return r;
                }
        }
        __atomic_add_fetch(&pauses_outstanding, 1, __ATOMIC_SEQ_CST);
        return 0;
}

static void hook_after(const GuestPause *p, void *userdata) {
        (void) userdata;
        int r = hook_remove(p);
        if (r < 0 && r != -ENOENT)
                log_debug_errno(r, "cannot remove the pause of %s from the state file: %m", p->domain);
        else if (__atomic_load_n(&pauses_outstanding, __ATOMIC_SEQ_CST) > 0)
                __atomic_sub_fetch(&pauses_outstanding, 1, __ATOMIC_SEQ_CST);
}

void guard_pause_hook_install(Journal *j, pthread_mutex_t *lock, const char *owner_name, const char *state_dir,
                              const HvOptions *hv) {
        free(hook_cfg.state_dir);
        hook_cfg.j = j;
        hook_cfg.lock = lock;
        hook_cfg.owner_name = owner_name;
        hook_cfg.state_dir = state_dir ? strdup(state_dir) : NULL;
        hook_cfg.hv = hv;
        GuestPauseHook h = { .before = hook_before, .after = hook_after };
        guest_pause_hook_set(&h);
}
