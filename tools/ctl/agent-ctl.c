/* SPDX-License-Identifier: GPL-2.0-or-later */
/* agent-ctl: a debug CLI over the agent client, for tests and by hand.
 *   agent-ctl [-t TIMEOUT_MS] SOCKET hello|tasks|stats|release
 *   agent-ctl SOCKET stop|cont PID
 *   agent-ctl SOCKET nice PID N
 *   agent-ctl SOCKET sched PID other|batch|idle|fifo|rr [PRIO]
 *   agent-ctl SOCKET lease SECONDS
 *   agent-ctl SOCKET pidof COMM        first thread group whose comm is COMM
 *   agent-ctl SOCKET state PID         state letter of the group leader
 *   agent-ctl SOCKET cpu PID           sum of cpu_ns over the group's threads
 *   agent-ctl SOCKET nice-of PID       nice of the group leader
 *   agent-ctl SOCKET reconnect N [S]   N cycles (at most S seconds, default 60) of
 *                                      connect (sync, hello), stats, disconnect; the
 *                                      next connect follows at once.  Prints one line
 *                                      of counts; fails if any cycle failed.
 *   agent-ctl SOCKET burst N [S]       the same with raw sockets, 100 ms apart (the
 *                                      agent has seen the host go): each cycle sends
 *                                      0xFF, sync, hello and stats at once and waits
 *                                      for the three replies.
 * Exit status 0 on success, 1 on failure (message on stderr). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/parse.h"
#include "view/agent-client.h"

static int fail(AgentClient *c, const char *what, int r) {
        fprintf(stderr, "agent-ctl: %s: %s (%s)\n", what, strerror(-r), agent_client_last_error(c));
        return 1;
}

static int get_pid(const char *s, pid_t *ret) {
        int v;
        if (safe_atoi(s, &v) < 0 || v <= 0) {
                fprintf(stderr, "agent-ctl: invalid pid '%s'\n", s);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* Quick connect/request/disconnect cycles: the guest sees the host go and
 * come back at once, again and again.  A cycle over 1.5 s needed the
 * client's sync resend. */
static int reconnect_loop(const char *sock, usec_t timeout, char **a, int na) {
        unsigned n, max_s = 60;
        if (na < 1 || na > 2 || safe_atou(a[0], &n) < 0 || n == 0 || (na == 2 && safe_atou(a[1], &max_s) < 0))
                return 2;
        uint64_t t0 = now_msec(), worst = 0;
        unsigned done = 0, failed = 0, slow = 0;
        while (done < n && now_msec() - t0 < (uint64_t) max_s * 1000) {
                uint64_t t = now_msec();
                AgentClient *c;
                AgentStats s;
                int r = agent_client_connect(sock, timeout, &c);
                if (r < 0)
                        fprintf(stderr, "agent-ctl: cycle %u: cannot connect: %s (%s)\n", done, strerror(-r),
                                agent_client_last_error(NULL));
                else {
                        r = agent_client_stats(c, &s);
                        if (r < 0)
                                fprintf(stderr, "agent-ctl: cycle %u: stats: %s (%s)\n", done, strerror(-r),
                                        agent_client_last_error(c));
                        agent_client_free(c);
                }
                uint64_t ms = now_msec() - t;
                worst = ms > worst ? ms : worst;
                failed += r < 0;
                slow += r >= 0 && ms > 1500;
                done++;
        }
        printf("cycles %u failed %u slow %u max_ms %llu seconds %llu\n", done, failed, slow,
               (unsigned long long) worst, (unsigned long long) ((now_msec() - t0) / 1000));
        return failed > 0 || done == 0;
}

/* One burst cycle: 1 if all three replies came within timeout, 0 if not,
 * -errno if the socket failed. */
static int burst_cycle(const char *sock, usec_t timeout, unsigned long long id) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(sock) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, sock);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        char req[512], buf[8192], want[3][48];
        int n = snprintf(req, sizeof req,
                         "\xff{\"execute\":\"sync\",\"arguments\":{\"id\":%llu},\"id\":%llu}\n"
                         "{\"execute\":\"hello\",\"id\":%llu}\n{\"execute\":\"stats\",\"id\":%llu}\n",
                         id, id, id + 1, id + 2);
        for (int k = 0; k < 3; k++)
                snprintf(want[k], sizeof want[k], "\"id\":%llu}", id + (unsigned long long) k);
        if (write(fd, req, (size_t) n) != n) {
                int r = -errno;
                close(fd);
                return r;
        }
        /* Replies are small; keep the tail of what came so far. */
        size_t len = 0;
        bool seen[3] = {};
        uint64_t end = now_msec() + timeout / USEC_PER_MSEC;
        int r = 0;
        for (;;) {
                uint64_t t = now_msec();
                if (t >= end)
                        break;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, (int) (end - t)) <= 0)
                        continue;
                ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                        break;
                len += (size_t) k;
                buf[len] = 0;
                for (int i = 0; i < 3; i++)
                        seen[i] = seen[i] || strstr(buf, want[i]);
                if (seen[0] && seen[1] && seen[2]) {
                        r = 1;
                        break;
                }
                char *nl = strrchr(buf, '\n');
                if (nl) {   /* drop complete lines already looked at */
                        len = strlen(nl + 1);
                        memmove(buf, nl + 1, len + 1);
                }
                if (len >= sizeof buf - 1)
                        len = 0;
        }
        close(fd);
        return r;
}

static int burst_loop(const char *sock, usec_t timeout, char **a, int na) {
        unsigned n, max_s = 60;
        if (na < 1 || na > 2 || safe_atou(a[0], &n) < 0 || n == 0 || (na == 2 && safe_atou(a[1], &max_s) < 0))
                return 2;
        uint64_t t0 = now_msec(), worst = 0;
        unsigned done = 0, failed = 0;
        unsigned long long id = ((unsigned long long) getpid() << 20) + 1;
        while (done < n && now_msec() - t0 < (uint64_t) max_s * 1000) {
                if (done > 0)
                        usleep(100 * 1000);
                uint64_t t = now_msec();
                int r = burst_cycle(sock, timeout, id);
                id += 3;
                uint64_t ms = now_msec() - t;
                worst = ms > worst ? ms : worst;
                if (r <= 0) {
                        failed++;
                        fprintf(stderr, "agent-ctl: burst %u: %s after %llu ms\n", done,
                                r < 0 ? strerror(-r) : "replies missing", (unsigned long long) ms);
                }
                done++;
        }
        printf("bursts %u failed %u max_ms %llu seconds %llu\n", done, failed, (unsigned long long) worst,
               (unsigned long long) ((now_msec() - t0) / 1000));
        return failed > 0 || done == 0;
}

int main(int argc, char **argv) {
        usec_t timeout = 10 * USEC_PER_SEC;
        int i = 1;
        if (argc > 2 && strcmp(argv[1], "-t") == 0) {
                unsigned ms;
                if (safe_atou(argv[2], &ms) < 0)
                        return 2;
                timeout = (usec_t) ms * USEC_PER_MSEC;
                i = 3;
        }
        if (argc - i < 2) {
                fprintf(stderr, "usage: agent-ctl [-t MS] SOCKET COMMAND [ARGS]\n");
                return 2;
        }
        if (getenv("AGENT_CTL_DEBUG"))
                log_set_max_level(LOG_LEVEL_DEBUG);
        const char *sock = argv[i], *cmd = argv[i + 1];
        char **a = argv + i + 2;
        int na = argc - i - 2;

        if (strcmp(cmd, "reconnect") == 0)
                return reconnect_loop(sock, timeout, a, na);
        if (strcmp(cmd, "burst") == 0)
                return burst_loop(sock, timeout, a, na);

        AgentClient *c;
        int r = agent_client_connect(sock, timeout, &c);
        if (r < 0) {
                fprintf(stderr, "agent-ctl: cannot connect to %s: %s (%s)\n", sock, strerror(-r), agent_client_last_error(NULL));
                return 1;
        }
        int ret = 0;
        pid_t pid = 0;
        if (strcmp(cmd, "hello") == 0) {
                AgentHello h;
                r = agent_client_hello(c, &h);
                if (r < 0)
                        ret = fail(c, cmd, r);
                else
                        printf("protocol %d\nversion %s\nkernel %s\nmachine %s\nhostname %s\ncpus %u\nboot_id %s\npid %d\nhz %u\nlease_ms %llu\n",
                               h.protocol, h.version, h.kernel, h.machine, h.hostname, h.cpus, h.boot_id, (int) h.pid, h.hz,
                               (unsigned long long) h.lease_ms);
        } else if (strcmp(cmd, "tasks") == 0 || strcmp(cmd, "pidof") == 0 || strcmp(cmd, "state") == 0 ||
                   strcmp(cmd, "cpu") == 0 || strcmp(cmd, "nice-of") == 0) {
                if (strcmp(cmd, "tasks") != 0 && (na != 1 || (strcmp(cmd, "pidof") != 0 && get_pid(a[0], &pid) < 0))) {
                        agent_client_free(c);
                        return 2;
                }
                GuestTask *t;
                size_t n;
                r = agent_client_tasks(c, &t, &n);
                if (r < 0)
                        ret = fail(c, cmd, r);
                else {
                        unsigned long long sum = 0;
                        bool found = false;
                        if (strcmp(cmd, "tasks") == 0)
                                printf("%7s %7s %-16s %s %3s %14s %4s %-6s %3s %s\n", "PID", "TID", "COMM", "S", "CPU", "CPU_NS",
                                       "NI", "POLICY", "RTP", "CMDLINE");
                        for (size_t k = 0; k < n; k++) {
                                const GuestTask *x = &t[k];
                                if (strcmp(cmd, "tasks") == 0)
                                        printf("%7d %7d %-16s %c %3d %14llu %4d %-6s %3d %s%s%s\n", (int) x->pid, (int) x->tid,
                                               x->comm, x->state, x->cpu, (unsigned long long) x->cpu_ns, x->nice,
                                               agent_client_policy_to_string(x->policy), x->rt_priority, x->cmdline,
                                               x->is_agent ? " [agent]" : "", x->is_kthread ? " [kthread]" : "");
                                else if (strcmp(cmd, "pidof") == 0 && !found && !x->is_agent && strcmp(x->comm, a[0]) == 0) {
                                        printf("%d\n", (int) x->pid);
                                        found = true;
                                } else if (x->pid == pid && !x->is_agent) {
                                        sum += x->cpu_ns;
                                        if (x->tid == pid) {
                                                found = true;
                                                if (strcmp(cmd, "state") == 0)
                                                        printf("%c\n", x->state);
                                                else if (strcmp(cmd, "nice-of") == 0)
                                                        printf("%d\n", x->nice);
                                        }
                                }
                        }
                        if (strcmp(cmd, "cpu") == 0 && found)
                                printf("%llu\n", sum);
                        if (strcmp(cmd, "tasks") != 0 && !found) {
                                fprintf(stderr, "agent-ctl: %s %s: not found\n", cmd, a[0]);
                                ret = 1;
                        }
                        free(t);
                }
        } else if (strcmp(cmd, "stop") == 0 || strcmp(cmd, "cont") == 0) {
                if (na != 1 || get_pid(a[0], &pid) < 0)
                        ret = 2;
                else if ((r = (cmd[0] == 's' ? agent_client_stop : agent_client_cont)(c, pid)) < 0)
                        ret = fail(c, cmd, r);
        } else if (strcmp(cmd, "nice") == 0) {
                int v;
                if (na != 2 || get_pid(a[0], &pid) < 0 || safe_atoi(a[1], &v) < 0)
                        ret = 2;
                else if ((r = agent_client_nice(c, pid, v)) < 0)
                        ret = fail(c, cmd, r);
                else
                        printf("%d thread(s)\n", r);
        } else if (strcmp(cmd, "sched") == 0) {
                static const char *const names[] = { "other", "fifo", "rr", "batch", "", "idle" };
                int policy = -1, prio = 0;
                for (int k = 0; na >= 2 && k < 6; k++)
                        if (strcmp(a[1], names[k]) == 0 && names[k][0])
                                policy = k;
                if (na < 2 || get_pid(a[0], &pid) < 0 || policy < 0 || (na > 2 && safe_atoi(a[2], &prio) < 0))
                        ret = 2;
                else if ((r = agent_client_sched(c, pid, policy, prio)) < 0)
                        ret = fail(c, cmd, r);
                else
                        printf("%d thread(s)\n", r);
        } else if (strcmp(cmd, "lease") == 0) {
                double s;
                if (na != 1 || safe_atod(a[0], &s) < 0)
                        ret = 2;
                else if ((r = agent_client_lease(c, s)) < 0)
                        ret = fail(c, cmd, r);
        } else if (strcmp(cmd, "release") == 0) {
                if ((r = agent_client_release(c)) < 0)
                        ret = fail(c, cmd, r);
                else
                        printf("%d restored\n", r);
        } else if (strcmp(cmd, "stats") == 0) {
                AgentStats s;
                if ((r = agent_client_stats(c, &s)) < 0)
                        ret = fail(c, cmd, r);
                else
                        printf("pid %d\ncpu_ns %llu\nuptime_ns %llu\nmax_rss_kb %llu\nrequests %llu\nerrors %llu\n"
                               "bad_requests %llu\nbytes_in %llu\nbytes_out %llu\nlease_ms %llu\nlease_expiries %llu\n"
                               "restored %llu\nheld_stops %llu\nheld_nice %llu\nheld_sched %llu\n",
                               (int) s.pid, (unsigned long long) s.cpu_ns, (unsigned long long) s.uptime_ns,
                               (unsigned long long) s.max_rss_kb, (unsigned long long) s.requests,
                               (unsigned long long) s.errors, (unsigned long long) s.bad_requests,
                               (unsigned long long) s.bytes_in, (unsigned long long) s.bytes_out,
                               (unsigned long long) s.lease_ms, (unsigned long long) s.lease_expiries,
                               (unsigned long long) s.restored, (unsigned long long) s.held_stops,
                               (unsigned long long) s.held_nice, (unsigned long long) s.held_sched);
        } else {
                fprintf(stderr, "agent-ctl: unknown command '%s'\n", cmd);
                ret = 2;
        }
        agent_client_free(c);
        return ret;
}
