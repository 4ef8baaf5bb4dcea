/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guard resumes a dead daemon's guest stop through a slow agent (issue 9,
 * scripts/soak-kill.sh): an emulated guest on a loaded host answers each
 * request a second or two late, and a new host is noticed late (the agent
 * looks for it every second at most).  The guard's calls must wait as long
 * as the daemon's own agent view does: with 3 s for the connection (sync and
 * hello), every pass timed out the same way and the process stayed stopped
 * long past the lease. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/guard.h"
#include "host/sched.h"
#include "lever/journal.h"

#define REPLY_DELAY_MS 1600

static char tmpdir[64];
static char sock_path[128];
static int listen_fd = -1;
static volatile int got_cont;      /* pid in the cont request, 0: none yet */
static volatile bool quit;

static void nap_ms(long ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

static uint64_t start_of(pid_t pid) {
        ProcStat st;
        assert_int_equal(proc_stat_read(NULL, pid, 0, &st), 0);
        return st.start_time;
}

static void say(int fd, const char *s) {
        size_t n = strlen(s), off = 0;
        while (off < n) {
                ssize_t k = send(fd, s + off, n - off, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                off += (size_t) k;
        }
}

/* The number after "key": in line, or -1. */
static long long num_after(const char *line, const char *key) {
        const char *p = strstr(line, key);
        return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* One request line, answered REPLY_DELAY_MS late. */
static void answer(int fd, const char *line) {
        long long id = num_after(line, "\"id\":");
        char buf[1024];
        nap_ms(REPLY_DELAY_MS);
        if (strstr(line, "\"execute\":\"sync\""))
                snprintf(buf, sizeof buf, "\xff{\"return\":%lld,\"id\":%lld}\n", num_after(line, "{\"id\":"), id);
        else if (strstr(line, "\"execute\":\"hello\""))
                snprintf(buf, sizeof buf, "{\"return\":{\"protocol\":1,\"version\":\"1\",\"pid\":9,\"hz\":100},\"id\":%lld}\n", id);
        else if (strstr(line, "\"execute\":\"tasks\""))
                snprintf(buf, sizeof buf,
                         "{\"return\":{\"token\":\"t1\",\"full\":true,\"hz\":100,\"tasks\":[{\"pid\":100,\"tid\":100,"
                         "\"comm\":\"bg\",\"state\":\"T\",\"cpu\":0,\"cpu_ns\":0,\"nice\":0,\"policy\":\"other\","
                         "\"rt_priority\":0,\"start_ns\":1000000000}],\"n_threads\":1,"
                         "\"agent\":{\"pid\":9,\"threads\":1,\"cpu_ns\":1}},\"id\":%lld}\n", id);
        else if (strstr(line, "\"execute\":\"cont\"")) {
                got_cont = (int) num_after(line, "\"pid\":");
                snprintf(buf, sizeof buf, "{\"return\":{\"pid\":%d},\"id\":%lld}\n", got_cont, id);
        } else
                snprintf(buf, sizeof buf, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"x\"},\"id\":%lld}\n", id);
        say(fd, buf);
}

/* A slow agent: one connection at a time (as QEMU's chardev), each request
 * answered late, in order. */
static void *agent_main(void *arg) {
        (void) arg;
        while (!quit) {
                struct pollfd p = { .fd = listen_fd, .events = POLLIN };
                if (poll(&p, 1, 100) <= 0)
                        continue;
                int fd = accept(listen_fd, NULL, NULL);
                if (fd < 0)
                        continue;
                char line[4096];
                size_t len = 0;
                while (!quit) {
                        char c;
                        ssize_t k = recv(fd, &c, 1, 0);
                        if (k <= 0)
                                break;
                        if (c == '\xff') {
                                len = 0;
                                continue;
                        }
                        if (c != '\n') {
                                if (len < sizeof line - 1)
                                        line[len++] = c;
                                continue;
                        }
                        line[len] = 0;
                        len = 0;
                        answer(fd, line);
                }
                close(fd);
        }
        return NULL;
}

/* A "daemon" that records a guest stop with its guard running and dies. */
static pid_t parent_dies_holding(pid_t qemu, pid_t *ret_guard) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                if (guard_start(tmpdir, NULL) < 0)
                        _exit(1);
                pid_t g = guard_pid();
                Journal *j = NULL;
                if (journal_open(tmpdir, &j) < 0)
                        _exit(1);
                JournalOwner o = guard_owner("daemon");
                JournalVm vm = { .domain = "slow", .qemu_pid = qemu, .qemu_start = start_of(qemu),
                                 .agent_socket = sock_path };
                if (journal_record_guest(j, journal_entry_guest_stop_new(&o, &vm, 100, 1000000000ULL)) != 1)
                        _exit(1);
                journal_free(j);
                if (write(p[1], &g, sizeof g) != sizeof g)
                        _exit(1);
                _exit(0);   /* SIGKILLed, as far as the guard can tell */
        }
        close(p[1]);
        assert_int_equal(read(p[0], ret_guard, sizeof *ret_guard), (ssize_t) sizeof *ret_guard);
        close(p[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return pid;
}

static void test_slow_agent(void **state) {
        (void) state;
        strcpy(tmpdir, "/tmp/xvsched-guard-agent-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        snprintf(sock_path, sizeof sock_path, "%s/agent.sock", tmpdir);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock_path);
        assert_int_equal(bind(listen_fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(listen_fd, 8), 0);

        pid_t qemu = fork();   /* stands in for the guest's QEMU */
        assert_true(qemu >= 0);
        if (qemu == 0) {
                pause();
                _exit(0);
        }
        nap_ms(50);
        pid_t guard = 0;
        (void) parent_dies_holding(qemu, &guard);
        assert_true(guard > 0);

        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, agent_main, NULL), 0);
        /* sync, hello, tasks, cont: 4 answers of 1.6 s after the guard's
         * start (it waits for its parent to be gone first) */
        for (int i = 0; i < 250 && !got_cont; i++)
                nap_ms(100);
        int cont = got_cont;
        quit = true;
        pthread_join(t, NULL);
        kill(guard, SIGKILL);
        kill(qemu, SIGKILL);
        (void) waitpid(qemu, NULL, 0);
        close(listen_fd);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(cont, 100);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_slow_agent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
