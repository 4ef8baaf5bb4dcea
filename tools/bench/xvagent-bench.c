/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvagent-bench: round-trip time of `tasks` against a real xvagent for
 * 50, 500 and 2000 extra threads, full vs delta mode, and the agent's own
 * CPU use when polled every 10 ms and 100 ms.
 *   xvagent-bench [--agent PATH] [--socket PATH] [--threads 50,500,2000]
 *                 [--iterations N] [--poll-seconds S]
 * With --socket it talks to a running agent (e.g. one in a guest, through
 * QEMU's chardev socket) instead of starting one; the thread counts are then
 * not spawned (the guest's population is measured as is). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/parse.h"
#include "view/agent-client.h"

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

static void *sleeper(void *arg) {
        (void) arg;
        for (;;)
                pause();
        return NULL;
}

/* A process with n threads in total, all asleep. */
static pid_t spawn_threads(unsigned n) {
        int p[2];
        if (pipe(p) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                prctl(PR_SET_NAME, "bench-threads");
                pthread_attr_t a;
                pthread_attr_init(&a);
                pthread_attr_setstacksize(&a, 64 * 1024);
                for (unsigned i = 1; i < n; i++) {
                        pthread_t t;
                        if (pthread_create(&t, &a, sleeper, NULL) != 0)
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

typedef struct Result {
        double median_us, p90_us, max_us;
        double bytes;
        size_t tasks;
} Result;

static int measure(AgentClient *c, bool delta, unsigned iterations, Result *ret) {
        agent_client_set_delta(c, delta);
        uint64_t *t = calloc(iterations, sizeof *t);
        AgentStats s0, s1;
        GuestTask *tasks;
        size_t n = 0;
        /* Warm up (and, for delta, get a token). */
        int r = agent_client_tasks(c, &tasks, &n);
        if (r < 0)
                goto fail;
        free(tasks);
        if ((r = agent_client_stats(c, &s0)) < 0)
                goto fail;
        for (unsigned i = 0; i < iterations; i++) {
                uint64_t a = now_ns();
                r = agent_client_tasks(c, &tasks, &n);
                if (r < 0)
                        goto fail;
                t[i] = now_ns() - a;
                free(tasks);
        }
        if ((r = agent_client_stats(c, &s1)) < 0)
                goto fail;
        qsort(t, iterations, sizeof *t, cmp_u64);
        *ret = (Result) {
                .median_us = (double) t[iterations / 2] / 1e3,
                .p90_us = (double) t[iterations * 9 / 10] / 1e3,
                .max_us = (double) t[iterations - 1] / 1e3,
                /* minus the stats reply, roughly 400 bytes */
                .bytes = (double) (s1.bytes_out - s0.bytes_out - 400) / iterations,
                .tasks = n,
        };
        free(t);
        return 0;
fail:
        fprintf(stderr, "xvagent-bench: %s\n", agent_client_last_error(c));
        free(t);
        return r;
}

static int poll_cpu(AgentClient *c, unsigned period_ms, double seconds, double *ret_pct, double *ret_rtt_us) {
        agent_client_set_delta(c, true);
        AgentStats s0, s1;
        int r = agent_client_stats(c, &s0);
        if (r < 0)
                return r;
        uint64_t start = now_ns(), next = start, sum_rtt = 0, n = 0;
        uint64_t end = start + (uint64_t) (seconds * 1e9);
        while (now_ns() < end) {
                GuestTask *t;
                size_t k;
                uint64_t a = now_ns();
                if ((r = agent_client_tasks(c, &t, &k)) < 0)
                        return r;
                sum_rtt += now_ns() - a;
                n++;
                free(t);
                next += (uint64_t) period_ms * 1000000ULL;
                struct timespec ts = { (time_t) (next / 1000000000ULL), (long) (next % 1000000000ULL) };
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                        ;
        }
        uint64_t wall = now_ns() - start;
        if ((r = agent_client_stats(c, &s1)) < 0)
                return r;
        *ret_pct = 100.0 * (double) (s1.cpu_ns - s0.cpu_ns) / (double) wall;
        *ret_rtt_us = (double) sum_rtt / (double) n / 1e3;
        return 0;
}

int main(int argc, char **argv) {
        const char *agent = "build/agent/xvagent", *socket_path = NULL;
        char threads_arg[128] = "50,500,2000";
        unsigned iterations = 50;
        double poll_seconds = 5;
        static const struct option options[] = {
                { "agent", required_argument, NULL, 'a' },
                { "socket", required_argument, NULL, 's' },
                { "threads", required_argument, NULL, 't' },
                { "iterations", required_argument, NULL, 'n' },
                { "poll-seconds", required_argument, NULL, 'p' },
                {}
        };
        int o;
        while ((o = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (o) {
                case 'a': agent = optarg; break;
                case 's': socket_path = optarg; break;
                case 't': snprintf(threads_arg, sizeof threads_arg, "%s", optarg); break;
                case 'n':
                        if (safe_atou(optarg, &iterations) < 0 || iterations < 5)
                                return 2;
                        break;
                case 'p':
                        if (safe_atod(optarg, &poll_seconds) < 0 || poll_seconds <= 0)
                                return 2;
                        break;
                default:
                        return 2;
                }

        char dir[] = "/tmp/xvagent-bench-XXXXXX", sock[128];
        pid_t agent_pid = 0;
        if (!socket_path) {
                if (!mkdtemp(dir))
                        return 1;
                snprintf(sock, sizeof sock, "%s/s", dir);
                char listen[160];
                snprintf(listen, sizeof listen, "unix:%s", sock);
                agent_pid = fork();
                if (agent_pid == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGTERM);
                        execl(agent, agent, "--listen", listen, NULL);
                        _exit(127);
                }
                socket_path = sock;
        }
        AgentClient *c = NULL;
        for (int i = 0; i < 100 && agent_client_connect(socket_path, 10 * USEC_PER_SEC, &c) < 0; i++)
                usleep(50000);
        if (!c) {
                fprintf(stderr, "xvagent-bench: cannot connect: %s\n", agent_client_last_error(NULL));
                return 1;
        }

        printf("%-8s %-6s %8s %10s %10s %10s %10s\n", "threads", "mode", "listed", "median_us", "p90_us", "max_us", "bytes");
        char *save = NULL;
        for (char *tok = strtok_r(threads_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                unsigned nthreads = 0;
                if (safe_atou(tok, &nthreads) < 0)
                        return 2;
                pid_t child = 0;
                if (agent_pid > 0 && nthreads > 0 && (child = spawn_threads(nthreads)) < 0)
                        return 1;
                for (int d = 0; d < 2; d++) {
                        Result res;
                        if (measure(c, d, iterations, &res) < 0)
                                return 1;
                        printf("%-8u %-6s %8zu %10.0f %10.0f %10.0f %10.0f\n", nthreads, d ? "delta" : "full", res.tasks,
                               res.median_us, res.p90_us, res.max_us, res.bytes);
                }
                if (child > 0) {
                        kill(child, SIGKILL);
                        waitpid(child, NULL, 0);
                }
        }

        printf("\n%-10s %12s %12s\n", "poll_ms", "agent_cpu_%", "mean_rtt_us");
        pid_t child = agent_pid > 0 ? spawn_threads(50) : 0;
        unsigned periods[] = { 10, 100 };
        for (size_t i = 0; i < 2; i++) {
                double pct, rtt;
                if (poll_cpu(c, periods[i], poll_seconds, &pct, &rtt) < 0) {
                        fprintf(stderr, "xvagent-bench: %s\n", agent_client_last_error(c));
                        return 1;
                }
                printf("%-10u %12.2f %12.0f\n", periods[i], pct, rtt);
        }
        if (child > 0) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
        }
        agent_client_free(c);
        if (agent_pid > 0) {
                kill(agent_pid, SIGTERM);
                waitpid(agent_pid, NULL, 0);
                rmdir(dir);
        }
        return 0;
}
