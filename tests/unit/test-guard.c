/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest pauses and stops that outlive who made them (issue 9 follow-up):
 * a dead owner's entry is taken over by the process that makes the same
 * change again; a pause this process still owes a resume is found again
 * (adopted) by the next view and retried from the daemon's loop; the guard
 * keeps retrying what its dead parent left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "daemon/guard.h"
#include "view/pause-hook.h"
#include "host/sched.h"
#include "lever/journal.h"
#include "lever/lever.h"
#include "lever/vm-pause.h"

static char tmpdir[64];

static void mktmp(void) {
        strcpy(tmpdir, "/tmp/xvsched-guard-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
}

static void rm_rf(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
}

static uint64_t start_of(pid_t pid) {
        ProcStat st;
        assert_int_equal(proc_stat_read(NULL, pid, 0, &st), 0);
        return st.start_time;
}

static json_object *stop_entry(pid_t owner, uint64_t owner_start, pid_t qemu, uint64_t qemu_start) {
        JournalOwner o = { .name = "daemon", .pid = owner, .start_time = owner_start };
        JournalVm vm = { .domain = "vm1", .qemu_pid = qemu, .qemu_start = qemu_start, .qmp_socket = "/nonexistent/qmp",
                         .agent_socket = "/nonexistent/agent" };
        json_object *e = journal_entry_guest_stop_new(&o, &vm, 42, 1000000000ULL);
        assert_non_null(e);
        return e;
}

static int64_t owner_pid_of(Journal *j, size_t i) {
        json_object *v;
        assert_true(json_object_object_get_ex(journal_entry(j, i), "owner_pid", &v));
        return json_object_get_int64(v);
}

/* Defect 4: the same key recorded again by a new process while the entry's
 * owner is dead: the new process owns it now (saved), so the dead owner's
 * recovery leaves it alone; a live owner's entry is left as it is. */
static void test_record_takeover(void **state) {
        (void) state;
        mktmp();
        Journal *j = NULL;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        pid_t me = getpid();
        uint64_t my_start = start_of(me);
        /* a dead owner: our pid with another start time (a reused pid) */
        assert_int_equal(journal_record_guest(j, stop_entry(me, my_start + 1, me, my_start)), 1);
        assert_int_equal(owner_pid_of(j, 0), me);
        assert_int_equal(journal_record_guest(j, stop_entry(me, my_start, me, my_start)), 2);
        assert_int_equal(journal_size(j), 1);
        json_object *v;
        assert_true(json_object_object_get_ex(journal_entry(j, 0), "owner_start", &v));
        assert_int_equal((uint64_t) json_object_get_int64(v), my_start);
        journal_free(j);
        /* persisted */
        assert_int_equal(journal_open(tmpdir, &j), 0);
        assert_true(json_object_object_get_ex(journal_entry(j, 0), "owner_start", &v));
        assert_int_equal((uint64_t) json_object_get_int64(v), my_start);
        /* a live owner (our parent): kept as it is */
        assert_int_equal(journal_remove(j, json_object_get_string(json_object_object_get(journal_entry(j, 0), "key"))), 0);
        pid_t pp = getppid();
        assert_int_equal(journal_record_guest(j, stop_entry(pp, start_of(pp), me, my_start)), 1);
        assert_int_equal(journal_record_guest(j, stop_entry(me, my_start, me, my_start)), 0);
        assert_int_equal(owner_pid_of(j, 0), pp);
        journal_free(j);
        rm_rf();
}


/* Run body in a child process (the guard and the hook are process-wide). */
static void in_child(void (*body)(void)) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                body();
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("child: %s %d", WIFSIGNALED(status) ? "signal" : "exit",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

#define CHECK(x)                                                                          \
        do {                                                                              \
                if (!(x)) {                                                               \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
                        _exit(1);                                                         \
                }                                                                         \
        } while (0)

static pid_t spawn_sleeper(void) {
        pid_t pid = fork();
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;)
                        pause();
        }
        return pid;
}

static void kill_wait(pid_t pid) {
        kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

static size_t count_type(Journal *j, const char *type) {
        size_t n = 0;
        for (size_t i = 0; i < journal_size(j); i++) {
                json_object *v;
                if (json_object_object_get_ex(journal_entry(j, i), "type", &v) && strcmp(json_object_get_string(v), type) == 0)
                        n++;
        }
        return n;
}

/* Defect 1: a pause whose view could not resume it and was dropped is this
 * process's still: the next view adopts it (and resumes it after its
 * work) instead of taking it for someone else's; the daemon's loop retries
 * it while no view holds it; one holder at a time. */
static void adopt_body(void) {
        static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
        Journal *j = NULL;
        CHECK(journal_open(tmpdir, &j) == 0);
        CHECK(guard_start(tmpdir, NULL) == 0);
        guard_pause_hook_install(j, &lock, "daemon", tmpdir, NULL);
        pid_t qemu = spawn_sleeper();
        char sock[128];
        snprintf(sock, sizeof sock, "%s/qmp.sock", tmpdir);
        GuestPause p = { .domain = "vm1", .qmp_socket = sock, .qemu_pid = qemu };
        CHECK(guest_pause_before(&p) == 0);
        CHECK(count_type(j, "pause") == 1);
        CHECK(guest_pause_adopt(&p) == -EBUSY);      /* the view holds it */
        CHECK(guest_pause_before(&p) == -EBUSY);     /* no second pause of it */
        CHECK(guard_retry_own_pauses() == 0);        /* held: not touched */
        CHECK(count_type(j, "pause") == 1);
        guest_pause_release(&p);                     /* the view is dropped, resume owed */
        CHECK(guest_pause_adopt(&p) == 1);           /* the next view: ours, not someone else's */
        CHECK(guest_pause_adopt(&p) == -EBUSY);
        guest_pause_release(&p);

        /* a dead owner's pause of another VM: someone else's */
        pid_t other = spawn_sleeper();
        char sock2[128];
        snprintf(sock2, sizeof sock2, "%s/qmp2.sock", tmpdir);
        JournalOwner dead = guard_owner("daemon");
        dead.start_time++;
        JournalVm vm = { .domain = "vm2", .qemu_pid = other, .qemu_start = start_of(other), .qmp_socket = sock2 };
        CHECK(journal_record(j, journal_entry_pause_new(&dead, &vm)) == 1);
        GuestPause p2 = { .domain = "vm2", .qmp_socket = sock2, .qemu_pid = other };
        CHECK(guest_pause_adopt(&p2) == 0);

        /* the loop resumes ours (its QEMU is gone now: nothing left to
         * resume, the entry goes); the dead owner's is not its to touch */
        kill_wait(qemu);
        CHECK(guard_retry_own_pauses() == 0);
        CHECK(count_type(j, "pause") == 1);
        kill_wait(other);
        guest_pause_hook_set(NULL);
        CHECK(journal_remove(j, json_object_get_string(json_object_object_get(journal_entry(j, 0), "key"))) == 0);
        journal_free(j);
        guard_finish(true);
}

static void test_adopt_own_pause(void **state) {
        (void) state;
        mktmp();
        in_child(adopt_body);
        rm_rf();
}

/* A "parent" that records guest stops with its guard running and dies. */
static pid_t parent_dies_holding(pid_t qemu, const char *const *agent_socks, size_t n, pid_t *ret_guard) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                CHECK(guard_start(tmpdir, NULL) == 0);
                pid_t g = guard_pid();
                Journal *j = NULL;
                CHECK(journal_open(tmpdir, &j) == 0);
                JournalOwner o = guard_owner("cli");
                for (size_t i = 0; i < n; i++) {
                        char dom[16];
                        snprintf(dom, sizeof dom, "vm%zu", i);
                        JournalVm vm = { .domain = dom, .qemu_pid = qemu, .qemu_start = start_of(qemu),
                                         .agent_socket = agent_socks[i] };
                        CHECK(journal_record_guest(j, journal_entry_guest_stop_new(&o, &vm, 100 + (pid_t) i,
                                                                                   1000000000ULL)) == 1);
                }
                journal_free(j);
                CHECK(write(p[1], &g, sizeof g) == sizeof g);
                _exit(0);   /* dies without telling its guard */
        }
        close(p[1]);
        assert_int_equal(read(p[0], ret_guard, sizeof *ret_guard), (ssize_t) sizeof *ret_guard);
        close(p[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return pid;
}

static size_t journal_count(void) {
        Journal *j = NULL;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        size_t n = journal_size(j);
        journal_free(j);
        return n;
}

static void nap_ms(long ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

/* Defect 3: the guard does not give up after one pass: a guest stop it
 * could not undo yet (the agent does not answer) is tried again, with
 * backoff, and goes once it can (here: its VM is gone). */
static void test_guard_retries(void **state) {
        (void) state;
        mktmp();
        pid_t qemu = spawn_sleeper();
        char sock[128];
        snprintf(sock, sizeof sock, "%s/no-agent.sock", tmpdir);
        const char *socks[] = { sock };
        pid_t guard = 0;
        (void) parent_dies_holding(qemu, socks, 1, &guard);
        assert_true(guard > 0);
        nap_ms(1500);
        assert_int_equal(journal_count(), 1);   /* not undone yet: kept */
        kill_wait(qemu);
        size_t n = 1;
        for (int i = 0; i < 200 && n > 0; i++) {
                nap_ms(100);
                n = journal_count();
        }
        assert_int_equal(n, 0);   /* a retry saw the VM gone */
        for (int i = 0; i < 100 && kill(guard, 0) == 0; i++)
                nap_ms(100);
        assert_int_not_equal(kill(guard, 0), 0);   /* and the guard is done */
        rm_rf();
}

/* Defect 2: the guard does not hold the journal's lock while it talks to
 * guests: three agents that never answer (3 s each) leave the lock free
 * for a starting xvsched (journal_open waits 5 s). */
static void test_guard_lock_free(void **state) {
        (void) state;
        mktmp();
        char socks[3][128];
        const char *sp[3];
        int fds[3];
        for (int i = 0; i < 3; i++) {
                snprintf(socks[i], sizeof socks[i], "%s/silent%d.sock", tmpdir, i);
                sp[i] = socks[i];
                fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                strcpy(sa.sun_path, socks[i]);
                assert_int_equal(bind(fds[i], (struct sockaddr *) &sa, sizeof sa), 0);
                assert_int_equal(listen(fds[i], 4), 0);   /* never accepts */
        }
        pid_t guard = 0;
        (void) parent_dies_holding(getpid(), sp, 3, &guard);
        nap_ms(500);   /* the guard is at the agents now */
        for (int k = 0; k < 2; k++) {
                Journal *j = NULL;
                assert_int_equal(journal_open(tmpdir, &j), 0);
                assert_int_equal(journal_size(j), 3);
                journal_free(j);
                nap_ms(1000);
        }
        kill(guard, SIGKILL);
        for (int i = 0; i < 3; i++)
                close(fds[i]);
        rm_rf();
}

/* Defect 6: a guard that died is noticed (guard_check), pauses are refused
 * from then on, and telling it "done" does not kill the process with
 * SIGPIPE. */
static void guard_dies_body(void) {
        static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
        signal(SIGPIPE, SIG_DFL);
        CHECK(guard_start(tmpdir, NULL) == 0);
        pid_t g = guard_pid();
        CHECK(g > 0);
        CHECK(guard_check());
        kill(g, SIGKILL);
        /* not reaped: the socket's peer is gone; "done" must not raise SIGPIPE */
        nap_ms(200);
        guard_finish(true);
        CHECK(!guard_running());
        (void) waitpid(g, NULL, 0);

        /* a second process life: the guard dies under a running daemon */
        Journal *j = NULL;
        CHECK(journal_open(tmpdir, &j) == 0);
        CHECK(guard_start(tmpdir, NULL) == 0);
        guard_pause_hook_install(j, &lock, "daemon", tmpdir, NULL);
        g = guard_pid();
        kill(g, SIGKILL);
        bool alive = true;
        for (int i = 0; i < 100 && alive; i++) {
                nap_ms(50);
                alive = guard_check();
        }
        CHECK(!alive);
        CHECK(!guard_running());
        CHECK(guard_start(tmpdir, NULL) == -ECHILD);   /* no fork in a threaded daemon */
        GuestPause p = { .domain = "vm1", .qmp_socket = "/x/qmp", .qemu_pid = getpid() };
        CHECK(guest_pause_before(&p) == -ENOTCONN);
        CHECK(journal_size(j) == 0);
        guard_finish(true);
        guest_pause_hook_set(NULL);
        journal_free(j);
}

static void test_guard_dies(void **state) {
        (void) state;
        mktmp();
        in_child(guard_dies_body);
        rm_rf();
}

/* Defect 5: a dry run's hook refuses every pause (and records nothing). */
static void dry_body(void) {
        guard_pause_hook_install_refusing();
        GuestPause p = { .domain = "vm1", .qmp_socket = "/x/qmp", .qemu_pid = getpid() };
        CHECK(guest_pause_before(&p) < 0);
        CHECK(guest_pause_adopt(&p) == 0);
        CHECK(!guard_running());
        Journal *j = NULL;
        CHECK(journal_open(tmpdir, &j) == 0);
        CHECK(journal_size(j) == 0);
        journal_free(j);
}

static void test_dry_run_refuses(void **state) {
        (void) state;
        mktmp();
        in_child(dry_body);
        rm_rf();
}

/* Defect 7: with fds 0-2 closed at start, nothing opened later lands on
 * them (the guard would keep a lock or the pipe's write end as stderr). */
static void std_body(void) {
        close(0);
        close(1);
        close(2);
        CHECK(fd_ensure_std() == 0);
        for (int fd = 0; fd <= 2; fd++) {
                struct stat st, null;
                CHECK(fstat(fd, &st) == 0);
                CHECK(stat("/dev/null", &null) == 0);
                CHECK(st.st_rdev == null.st_rdev);
        }
        int fd = open("/dev/null", O_RDONLY);
        CHECK(fd > 2);
        close(fd);
        CHECK(fd_ensure_std() == 0);   /* all open: nothing changes */
}

static void test_std_fds(void **state) {
        (void) state;
        in_child(std_body);
}

/* A fake QEMU monitor in a child process (so SO_PEERCRED names it): the VM
 * is "paused" until a `cont`, each of which writes 'C' to marker. */
static pid_t fake_qemu(const char *path, int marker) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid > 0) {
                char c;
                close(ready[1]);
                assert_int_equal(read(ready[0], &c, 1), 1);
                close(ready[0]);
                return pid;
        }
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* made here: SO_PEERCRED names who listened */
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, 4) < 0)
                _exit(1);
        (void) !write(ready[1], "R", 1);
        close(ready[1]);
        bool running = false;
        for (;;) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                        continue;
                FILE *f = fdopen(fd, "r+");
                fprintf(f, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 8}, "
                           "\"package\": \"\"}, \"capabilities\": []}}\r\n");
                fflush(f);
                char line[4096];
                while (fgets(line, sizeof line, f)) {
                        json_object *o = json_tokener_parse(line), *ex = NULL, *id = NULL;
                        if (!o)
                                continue;
                        json_object_object_get_ex(o, "execute", &ex);
                        json_object_object_get_ex(o, "id", &id);
                        const char *cmd = ex ? json_object_get_string(ex) : "";
                        const char *ids = id ? json_object_to_json_string(id) : "null";
                        if (strcmp(cmd, "query-status") == 0)
                                fprintf(f, "{\"return\": {\"status\": \"%s\", \"running\": %s}, \"id\": %s}\r\n",
                                        running ? "running" : "paused", running ? "true" : "false", ids);
                        else {
                                if (strcmp(cmd, "cont") == 0) {
                                        running = true;
                                        (void) !write(marker, "C", 1);
                                }
                                fprintf(f, "{\"return\": {}, \"id\": %s}\r\n", ids);
                        }
                        fflush(f);
                        json_object_put(o);
                }
                fclose(f);
        }
}

static json_object *pause_of(pid_t owner, uint64_t owner_start, pid_t qemu, const char *sock) {
        JournalOwner o = { .name = "cli", .pid = owner, .start_time = owner_start };
        JournalVm vm = { .domain = "vm1", .qemu_pid = qemu, .qemu_start = start_of(qemu), .qmp_socket = sock };
        json_object *e = journal_entry_pause_new(&o, &vm);
        assert_non_null(e);
        return e;
}

static int conts(int marker) {
        char buf[16];
        ssize_t n = read(marker, buf, sizeof buf);
        return n > 0 ? (int) n : 0;
}

/* Defect 8: `reset` leaves a pause whose owner is alive (a running `ps`
 * mid-scan) and reports it; a dead owner's pause is continued. */
static void test_reset_live_pause_owner(void **state) {
        (void) state;
        mktmp();
        int m[2];
        assert_int_equal(pipe2(m, O_NONBLOCK | O_CLOEXEC), 0);
        char sock[128];
        snprintf(sock, sizeof sock, "%s/qmp.sock", tmpdir);
        pid_t qemu = fake_qemu(sock, m[1]);
        pid_t owner = spawn_sleeper();
        Journal *j = NULL;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        assert_int_equal(journal_record(j, pause_of(owner, start_of(owner), qemu, sock)), 1);
        HvOptions hv = {};
        LeverContext c = { .hv = &hv, .journal = j };
        assert_true(lever_reset(&c, NULL) < 0);
        assert_non_null(c.failed);
        assert_non_null(strstr(c.failed, "owner"));
        assert_int_equal(journal_size(j), 1);
        nap_ms(100);
        assert_int_equal(conts(m[0]), 0);   /* not continued under its live owner */
        lever_context_done(&c);
        kill_wait(owner);
        LeverContext c2 = { .hv = &hv, .journal = j };
        assert_int_equal(lever_reset(&c2, NULL), 1);
        assert_int_equal(journal_size(j), 0);
        assert_int_equal(conts(m[0]), 1);
        lever_context_done(&c2);
        journal_free(j);
        kill_wait(qemu);
        close(m[0]);
        close(m[1]);
        rm_rf();
}

/* Defect 9: the `cont` goes only to a socket that is the recorded QEMU's
 * (SO_PEERCRED), not to whatever listens at the path now. */
static void test_pause_undo_peer(void **state) {
        (void) state;
        mktmp();
        int m[2];
        assert_int_equal(pipe2(m, O_NONBLOCK | O_CLOEXEC), 0);
        char sock[128];
        snprintf(sock, sizeof sock, "%s/qmp.sock", tmpdir);
        pid_t impostor = fake_qemu(sock, m[1]);
        pid_t qemu = spawn_sleeper();   /* the QEMU recorded: alive, but not at that socket */
        json_object *e = pause_of(getpid(), start_of(getpid()) + 1, qemu, sock);
        assert_int_equal(vm_pause_undo(e), -EPERM);
        nap_ms(100);
        assert_int_equal(conts(m[0]), 0);
        json_object_put(e);
        /* the real one: continued */
        e = pause_of(getpid(), start_of(getpid()) + 1, impostor, sock);
        assert_int_equal(vm_pause_undo(e), 0);
        assert_int_equal(conts(m[0]), 1);
        json_object_put(e);
        kill_wait(qemu);
        kill_wait(impostor);
        close(m[0]);
        close(m[1]);
        rm_rf();
}

/* Defect 11: the daemon's timeline is opened without following a symlink,
 * only as a regular file of root's (or ours), created 0600. */
static void test_open_append_safe(void **state) {
        (void) state;
        mktmp();
        char p[160], q[160];
        int fd = -1;
        snprintf(p, sizeof p, "%s/timeline", tmpdir);
        assert_int_equal(open_append_safe(p, &fd), 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(write(fd, "x\n", 2), 2);
        close(fd);
        assert_int_equal(open_append_safe(p, &fd), 0);   /* appends */
        close(fd);
        /* a symlink to a file root must not write */
        snprintf(q, sizeof q, "%s/link", tmpdir);
        assert_int_equal(symlink(p, q), 0);
        assert_int_equal(open_append_safe(q, &fd), -ELOOP);
        /* a FIFO (no reader: must not hang either) */
        snprintf(q, sizeof q, "%s/fifo", tmpdir);
        assert_int_equal(mkfifo(q, 0600), 0);
        assert_true(open_append_safe(q, &fd) < 0);
        /* another user's file */
        if (geteuid() == 0) {
                assert_int_equal(chown(p, 65534, 65534), 0);
                assert_int_equal(open_append_safe(p, &fd), -EPERM);
        }
        rm_rf();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_takeover),
                cmocka_unit_test(test_adopt_own_pause),
                cmocka_unit_test(test_guard_retries),
                cmocka_unit_test(test_guard_lock_free),
                cmocka_unit_test(test_guard_dies),
                cmocka_unit_test(test_dry_run_refuses),
                cmocka_unit_test(test_std_fds),
                cmocka_unit_test(test_reset_live_pause_owner),
                cmocka_unit_test(test_pause_undo_peer),
                cmocka_unit_test(test_open_append_safe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
