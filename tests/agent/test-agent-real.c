/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvagent against real processes on this machine, through the real client:
 *   test-agent-real PATH-TO-XVAGENT
 * A sleeper and a two-threaded busy loop are listed with the right states;
 * stop → T and CPU time stops; cont → it grows; nice and policy show in
 * /proc; dropping the host side resumes and restores within the lease;
 * SIGTERM restores everything; malformed lines get error replies. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "view/agent-client.h"

static int failures;
static char dir[64], sock[128];
static pid_t agent_pid, sleeper, busy;

#define CHECK(cond, ...)                                                  \
        do {                                                              \
                if (cond)                                                 \
                        printf("ok - " __VA_ARGS__), printf("\n");        \
                else {                                                    \
                        printf("FAIL - " __VA_ARGS__), printf("  [%s:%d: %s]\n", __FILE__, __LINE__, #cond); \
                        failures++;                                       \
                }                                                         \
        } while (0)

static void msleep(unsigned ms) {
        struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Field n (1-based, n >= 3) of /proc/PID/task/TID/stat, parsed after the last ')'. */
static long long stat_field(pid_t pid, pid_t tid, int n, char *ret_state) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int) pid, (int) tid);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
                return -1;
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
                return -1;
        buf[k] = 0;
        char *p = strrchr(buf, ')');
        if (!p)
                return -1;
        p += 2;
        for (int f = 3; f < n; f++) {
                p = strchr(p, ' ');
                if (!p)
                        return -1;
                p++;
        }
        if (ret_state)
                *ret_state = *p;
        return strtoll(p, NULL, 10);
}

static char state_of(pid_t pid) {
        char s = '?';
        stat_field(pid, pid, 3, &s);
        return s;
}

static void *spin(void *arg) {
        (void) arg;
        prctl(PR_SET_NAME, "xvbusy2");
        for (volatile unsigned long i = 0;; i++)
                ;
        return NULL;
}

static pid_t spawn_busy(void) {
        pid_t p = fork();
        if (p == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                prctl(PR_SET_NAME, "xvbusy");
                pthread_t t;
                pthread_create(&t, NULL, spin, NULL);
                for (volatile unsigned long i = 0;; i++)
                        ;
        }
        return p;
}

static void *idle_thread(void *arg) {
        (void) arg;
        for (;;)
                pause();
        return NULL;
}

/* A process with n sleeping threads: large replies, slower than the socket. */
static pid_t spawn_many(unsigned n) {
        int p[2];
        if (pipe(p) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                pthread_attr_t a;
                pthread_attr_init(&a);
                pthread_attr_setstacksize(&a, 64 * 1024);
                for (unsigned i = 1; i < n; i++) {
                        pthread_t t;
                        if (pthread_create(&t, &a, idle_thread, NULL) != 0)
                                _exit(1);
                }
                (void) !write(p[1], "x", 1);
                for (;;)
                        pause();
        }
        close(p[1]);
        char c;
        ssize_t k = read(p[0], &c, 1);
        close(p[0]);
        return k == 1 ? pid : -1;
}

static pid_t spawn(char *const argv[]) {
        pid_t p = fork();
        if (p == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execv(argv[0], argv);
                _exit(127);
        }
        return p;
}

static AgentClient *connect_agent(void) {
        AgentClient *c = NULL;
        for (int i = 0; i < 100; i++) {
                if (agent_client_connect(sock, 5 * USEC_PER_SEC, &c) >= 0)
                        return c;
                msleep(50);
        }
        fprintf(stderr, "cannot connect to the agent: %s\n", agent_client_last_error(NULL));
        return NULL;
}

static const GuestTask *find(const GuestTask *t, size_t n, pid_t tid) {
        for (size_t i = 0; i < n; i++)
                if (t[i].tid == tid)
                        return &t[i];
        return NULL;
}

/* Sum of cpu_ns of the busy process's threads as the agent reports them. */
static uint64_t busy_cpu(AgentClient *c, char *ret_state, int *ret_threads, int *ret_nice) {
        GuestTask *t;
        size_t n;
        if (agent_client_tasks(c, &t, &n) < 0) {
                printf("# tasks failed: %s\n", agent_client_last_error(c));
                return 0;
        }
        uint64_t sum = 0;
        int threads = 0;
        char st = '?';
        for (size_t i = 0; i < n; i++)
                if (t[i].pid == busy) {
                        sum += t[i].cpu_ns;
                        threads++;
                        if (st == '?' || t[i].state == 'T')
                                st = t[i].state;
                        if (ret_nice)
                                *ret_nice = t[i].nice;
                }
        free(t);
        if (ret_state)
                *ret_state = st;
        if (ret_threads)
                *ret_threads = threads;
        return sum;
}

static bool all_threads_state(pid_t pid, char want) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        for (int tid = pid; tid < pid + 64; tid++) {
                char s;
                if (stat_field(pid, tid, 3, &s) >= 0 && s != want && !(want == 'r' && s != 'T' && s != 't'))
                        return false;
        }
        return true;
}

/* Signals take effect when the thread next runs: on a loaded machine that
 * can take a while, so wait (up to ms) instead of sleeping a fixed time. */
static bool wait_state(pid_t pid, char want, unsigned ms) {
        for (unsigned i = 0; i <= ms / 10; i++) {
                if (all_threads_state(pid, want))
                        return true;
                msleep(10);
        }
        return false;
}

static pid_t busy_thread2(void) {
        for (int tid = busy + 1; tid < busy + 64; tid++)
                if (stat_field(busy, tid, 3, NULL) >= 0)
                        return tid;
        return 0;
}

static void raw_garbage(void) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                CHECK(false, "raw connect");
                return;
        }
        static char big[10000];
        memset(big, 'a', sizeof big);
        big[sizeof big - 1] = '\n';
        const char *lines = "{\n[1,2]\n{\"execute\":42}\n{\"execute\":\"stop\",\"arguments\":{\"pid\":\"x\"}}\n\xff{\"execute\":\"nope\"}\n";
        (void) !write(fd, lines, strlen(lines));
        (void) !write(fd, big, sizeof big);
        char buf[4096];
        size_t len = 0;
        int lines_seen = 0;
        while (lines_seen < 6 && len < sizeof buf - 1) {
                ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                        break;
                for (ssize_t i = 0; i < k; i++)
                        if (buf[len + i] == '\n')
                                lines_seen++;
                len += (size_t) k;
        }
        buf[len] = 0;
        close(fd);
        CHECK(lines_seen == 6 && strstr(buf, "ParseError") && strstr(buf, "InvalidRequest") &&
              strstr(buf, "InvalidParameter") && strstr(buf, "CommandNotFound") && strstr(buf, "TooLarge"),
              "malformed lines get one error reply each (%d lines)", lines_seen);
}

static int start_agent(const char *xvagent) {
        char listen[160];
        snprintf(listen, sizeof listen, "unix:%s", sock);
        char *argv[] = { (char *) xvagent, "--listen", listen, "--lease", "1", NULL };
        agent_pid = spawn(argv);
        return agent_pid > 0 ? 0 : -1;
}

/* --port on a pseudo-terminal: the same code path as a virtio-serial port
 * (a character device, raw mode, hang-up when the host side goes away). */
static void port_section(const char *xvagent) {
        int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
                CHECK(false, "pty");
                return;
        }
        char *pts = ptsname(m);
        char *argv[] = { (char *) xvagent, "--port", pts, "--lease", "1", NULL };
        pid_t ap = spawn(argv);
        /* Wait until the agent has put the port in raw mode (no echo). */
        struct termios t;
        for (int i = 0; i < 200; i++) {
                if (tcgetattr(m, &t) == 0 && !(t.c_lflag & ECHO))
                        break;
                msleep(10);
        }
        AgentClient *c;
        CHECK(!(t.c_lflag & ECHO) && agent_client_connect_fd(m, 5 * USEC_PER_SEC, &c) == 0, "agent on a pty port (%s)", pts);
        AgentHello h;
        CHECK(agent_client_hello(c, &h) == 0 && h.pid == ap, "hello over the port");
        GuestTask *tt = NULL;
        size_t n = 0;
        CHECK(agent_client_tasks(c, &tt, &n) == 0 && find(tt, n, sleeper), "tasks over the port");
        free(tt);
        CHECK(agent_client_stop(c, sleeper) == 0 && wait_state(sleeper, 'T', 3000), "stop over the port");
        agent_client_free(c);   /* closes the master: the port hangs up */
        msleep(1600);
        CHECK(state_of(sleeper) == 'S', "resumed within the lease after the port hung up");
        long long c0 = stat_field(ap, ap, 14, NULL) + stat_field(ap, ap, 15, NULL);
        msleep(1000);
        long long c1 = stat_field(ap, ap, 14, NULL) + stat_field(ap, ap, 15, NULL);
        CHECK(c0 >= 0 && c1 - c0 <= 5, "no busy loop on a hung-up port (%lld ticks in 1 s)", c1 - c0);
        kill(ap, SIGTERM);
        int status;
        waitpid(ap, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "port agent exits 0 on SIGTERM");
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-XVAGENT\n", argv[0]);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        strcpy(dir, "/tmp/test-agent-real-XXXXXX");
        if (!mkdtemp(dir))
                return 1;
        snprintf(sock, sizeof sock, "%s/agent.sock", dir);
        if (geteuid() != 0) {
                /* Restoring a nice value back down needs CAP_SYS_NICE, as in a guest. */
                printf("SKIP: needs root (the agent runs as root in guests)\n");
                return 77;
        }

        char *sleep_argv[] = { "/bin/sleep", "1000", NULL };
        sleeper = spawn(sleep_argv);
        busy = spawn_busy();
        if (start_agent(argv[1]) < 0)
                return 1;
        AgentClient *c = connect_agent();
        if (!c)
                return 1;
        msleep(200);

        AgentHello h;
        CHECK(agent_client_hello(c, &h) == 0 && h.protocol == 1 && h.pid == agent_pid, "hello: protocol 1, pid %d", (int) h.pid);

        /* ---- listing ---- */
        GuestTask *t;
        size_t n;
        int r = agent_client_tasks(c, &t, &n);
        CHECK(r == 0 && n > 3, "tasks lists %zu threads", n);
        const GuestTask *s = r == 0 ? find(t, n, sleeper) : NULL;
        CHECK(s && s->state == 'S' && strcmp(s->comm, "sleep") == 0 && strcmp(s->cmdline, "/bin/sleep 1000") == 0 &&
              s->pid == sleeper && s->nice == 0 && s->policy == SCHED_OTHER,
              "sleeper: state %c comm '%s' cmdline '%s'", s ? s->state : '?', s ? s->comm : "", s ? s->cmdline : "");
        const GuestTask *b = r == 0 ? find(t, n, busy) : NULL;
        CHECK(b && b->state == 'R' && strcmp(b->comm, "xvbusy") == 0, "busy loop: state %c comm '%s'", b ? b->state : '?',
              b ? b->comm : "");
        int agent_entries = 0, agent_in_list = 0;
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (t[i].is_agent)
                        agent_entries++;
                else if (t[i].pid == agent_pid)
                        agent_in_list++;
        }
        CHECK(agent_entries == 1 && agent_in_list == 0 && t[n - 1].is_agent && t[n - 1].pid == agent_pid,
              "the agent is reported once, separately, never as a task");
        if (r == 0)
                free(t);

        int threads = 0;
        char st;
        uint64_t c0 = busy_cpu(c, &st, &threads, NULL);
        CHECK(threads == 2 && st == 'R', "busy loop has 2 threads, running (delta mode)");

        /* ---- big replies (bigger than the socket buffer) ---- */
        pid_t many = spawn_many(2000);
        agent_client_set_delta(c, false);
        int big_ok = 0;
        for (int i = 0; i < 3; i++) {
                GuestTask *bt = NULL;
                size_t bn = 0;
                if (agent_client_tasks(c, &bt, &bn) == 0 && bn > 2000)
                        big_ok++;
                else
                        printf("# big tasks failed: %s\n", agent_client_last_error(c));
                free(bt);
        }
        agent_client_set_delta(c, true);
        CHECK(big_ok == 3, "full lists of 2000+ threads (~0.5 MB replies), three in a row");
        kill(many, SIGKILL);
        waitpid(many, NULL, 0);

        /* ---- stop / cont ---- */
        CHECK(agent_client_stop(c, busy) == 0, "stop %d", (int) busy);
        CHECK(wait_state(busy, 'T', 3000), "every thread of the busy loop is in state T in /proc");
        uint64_t c1 = busy_cpu(c, &st, NULL, NULL);
        CHECK(st == 'T', "agent reports state T");
        msleep(500);
        uint64_t c2 = busy_cpu(c, &st, NULL, NULL);
        CHECK(c2 == c1 && c1 >= c0, "CPU time stopped growing while stopped (%llu -> %llu ns)",
              (unsigned long long) c1, (unsigned long long) c2);
        CHECK(agent_client_cont(c, busy) == 0, "cont");
        msleep(500);
        uint64_t c3 = busy_cpu(c, &st, NULL, NULL);
        CHECK(c3 > c2 + 100000000ULL && st == 'R', "CPU time grows again after cont (%llu -> %llu ns)",
              (unsigned long long) c2, (unsigned long long) c3);

        /* Stopping via a thread id stops the group. */
        pid_t t2 = busy_thread2();
        CHECK(t2 > 0 && agent_client_stop(c, t2) == 0 && wait_state(busy, 'T', 3000), "stop by thread id stops the group");
        CHECK(agent_client_cont(c, busy) == 0 && wait_state(busy, 'r', 3000), "cont resumes every thread");

        /* ---- nice, policy ---- */
        CHECK(agent_client_nice(c, busy, 7) == 2, "nice 7 on both threads");
        CHECK(stat_field(busy, busy, 19, NULL) == 7 && stat_field(busy, t2, 19, NULL) == 7, "/proc shows nice 7");
        int nice = 0;
        busy_cpu(c, NULL, NULL, &nice);
        CHECK(nice == 7, "agent reports nice 7");
        CHECK(agent_client_sched(c, busy, SCHED_BATCH, 0) == 2 && stat_field(busy, busy, 41, NULL) == SCHED_BATCH,
              "policy batch shows in /proc");

        /* ---- errors ---- */
        CHECK(agent_client_stop(c, 1) == -EPERM, "stopping init is refused");
        CHECK(agent_client_stop(c, agent_pid) == -EPERM, "stopping the agent is refused");
        CHECK(agent_client_stop(c, 0x3ffffe) == -ESRCH, "stopping a missing pid: -ESRCH (%s)", agent_client_last_error(c));
        raw_garbage();
        AgentStats as;
        CHECK(agent_client_stats(c, &as) == 0 && as.bad_requests >= 4 && as.held_nice >= 2, "agent alive, counted %llu bad requests",
              (unsigned long long) as.bad_requests);
        CHECK(agent_client_release(c) >= 3 && stat_field(busy, busy, 19, NULL) == 0 && stat_field(busy, busy, 41, NULL) == 0,
              "release restores nice and policy");

        /* ---- the lease: drop the host side while stopped ---- */
        struct timespec t0, t1;
        CHECK(agent_client_stop(c, busy) == 0 && agent_client_nice(c, busy, 11) == 2, "stop + nice 11 again");
        clock_gettime(CLOCK_MONOTONIC, &t0);   /* the last request: the lease runs from here */
        CHECK(wait_state(busy, 'T', 500), "stopped");
        agent_client_free(c);   /* the host goes away */
        c = NULL;
        while (state_of(busy) == 'T') {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (t1.tv_sec - t0.tv_sec > 5)
                        break;
                msleep(20);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        CHECK(state_of(busy) != 'T' && dt >= 0.95 && dt < 2.5, "resumed %.2f s after the last request (lease 1 s)", dt);
        CHECK(stat_field(busy, busy, 19, NULL) == 0 && stat_field(busy, t2, 19, NULL) == 0, "nice restored to 0");

        /* ---- SIGTERM restores ---- */
        c = connect_agent();
        CHECK(c && agent_client_lease(c, 60) == 0, "reconnect, lease 60 s");
        CHECK(c && agent_client_stop(c, busy) == 0 && agent_client_stop(c, sleeper) == 0 && agent_client_nice(c, busy, 5) == 2 &&
              agent_client_sched(c, sleeper, SCHED_IDLE, 0) == 1, "stop both, nice, idle policy");
        CHECK(wait_state(busy, 'T', 3000) && wait_state(sleeper, 'T', 3000), "both stopped");
        kill(agent_pid, SIGTERM);
        int status;
        waitpid(agent_pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent exits 0 on SIGTERM");
        CHECK(wait_state(busy, 'r', 3000) && wait_state(sleeper, 'S', 3000), "SIGTERM resumed everything (busy %c, sleeper %c)",
              state_of(busy), state_of(sleeper));
        CHECK(stat_field(busy, busy, 19, NULL) == 0 && stat_field(sleeper, sleeper, 41, NULL) == 0,
              "SIGTERM restored nice and policy");
        CHECK(access(sock, F_OK) < 0, "socket removed on exit");

        port_section(argv[1]);

        /* ---- the client after the agent is gone ---- */
        GuestTask *tt;
        size_t nn;
        r = agent_client_tasks(c, &tt, &nn);
        CHECK(r < 0 && strlen(agent_client_last_error(c)) > 0, "agent gone: %d (%s)", r, agent_client_last_error(c));
        agent_client_free(c);

        kill(busy, SIGKILL);
        kill(sleeper, SIGKILL);
        waitpid(busy, NULL, 0);
        waitpid(sleeper, NULL, 0);
        rmdir(dir);
        printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
        return failures ? 1 : 0;
}
