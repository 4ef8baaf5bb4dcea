/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rr: TCP request/response (papers 003 (2) and (5)).
 *
 *   rr server  accept connections, one process per connection; for each
 *              request of req bytes send resp bytes back.
 *   rr client  N processes, each on its own connection, send --size bytes
 *              and wait for --size bytes back, as fast as possible (netperf
 *              TCP_RR): transactions/s and per-transaction latency.
 *   rr ack     N processes (default 20) each send a request every
 *              --interval and time it until the peer's 1-byte reply has been
 *              received and handled (paper 003's network response test).
 *
 * A connection starts with a 16-byte header: magic, request size, response
 * size, flags (all little-endian u32). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/macros.h"
#include "lib/clock.h"
#include "xvbench.h"

const char wl_rr_usage[] =
        "Usage: xvbench rr server [--host ADDR] [--port P] [--duration D]\n"
        "       xvbench rr client [--host ADDR] [--port P] [--size B] [--duration D]\n"
        "                         [--procs N]\n"
        "       xvbench rr ack    [--host ADDR] [--port P] [--size B] [--duration D]\n"
        "                         [--procs N] [--interval T]\n"
        "\n"
        "TCP request/response between two machines (or a guest and its host).\n"
        "  --host ADDR       server: address to listen on (default 0.0.0.0);\n"
        "                    client: server address (default 127.0.0.1); numeric\n"
        "                    IPv4 or IPv6 only (no name service in a static binary)\n"
        "  --port P          TCP port (default 7780)\n"
        "  --size B          request size, and response size in client mode\n"
        "                    (default 1, as netperf TCP_RR)\n"
        "  --duration D      how long (default 10s; server: until killed; bare: s)\n"
        "  --procs N         client processes, one connection each\n"
        "                    (default 1 for client, 20 for ack)\n"
        "  --interval T      ack: time between a process's requests (default 10ms;\n"
        "                    bare number: us)\n"
        "  --connect-timeout T  keep retrying to connect for T (default 5s)\n"
        "  --max-latency T   exit status 3 when a transaction took longer than T\n";

enum { OPT_HOST = OPT_WL, OPT_PORT, OPT_SIZE, OPT_DURATION, OPT_PROCS, OPT_INTERVAL, OPT_CONNECT_TIMEOUT };

#define RR_MAGIC 0x52525658u    /* "XVRR" */
#define MAX_SIZE (16u << 20)
#define MAX_PROCS 256

typedef enum { ROLE_SERVER, ROLE_CLIENT, ROLE_ACK } Role;

typedef struct RrParam {
        Role role;
        const char *host;
        int port;
        uint64_t size, duration_ns, interval_ns, connect_timeout_ns;
        unsigned procs, warmup;
} RrParam;

typedef struct RrChild {        /* in shared memory, one per client process */
        LatStats lat;
        uint64_t transactions;
        int error;              /* errno of a failure */
        char where[32];
} RrChild;

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig) {
        (void) sig;
        stop_flag = 1;
}

static int make_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
        memset(ss, 0, sizeof *ss);
        struct sockaddr_in *in4 = (struct sockaddr_in *) ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t) port);
                *len = sizeof *in4;
                return 0;
        }
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *len = sizeof *in6;
                return 0;
        }
        return -EINVAL;
}

static int write_full(int fd, const void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = write(fd, (const char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return 0;
}

/* Returns 0, -errno, or -ECONNRESET at EOF. */
static int read_full(int fd, void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = read(fd, (char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ECONNRESET;
                done += (size_t) k;
        }
        return 0;
}

static void set_nodelay(int fd) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- server ---- */

static void serve_connection(int fd, uint64_t *served) {
        uint32_t hdr[4];
        if (read_full(fd, hdr, sizeof hdr) < 0 || hdr[0] != RR_MAGIC || hdr[1] == 0 || hdr[1] > MAX_SIZE ||
            hdr[2] == 0 || hdr[2] > MAX_SIZE)
                _exit(1);
        char *req = malloc(hdr[1]), *resp = calloc(1, hdr[2]);
        if (!req || !resp)
                _exit(1);
        set_nodelay(fd);
        for (;;) {
                if (read_full(fd, req, hdr[1]) < 0)
                        break;
                resp[0] = req[0];
                if (write_full(fd, resp, hdr[2]) < 0)
                        break;
                __atomic_add_fetch(served, 1, __ATOMIC_RELAXED);
        }
        _exit(0);
}

static int run_server(Bench *b, const RrParam *p) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (make_addr(p->host, p->port, &ss, &len) < 0)
                return bench_usage(b, "invalid --host '%s' (a numeric IPv4 or IPv6 address)", p->host);
        _cleanup_close_ int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return bench_fail(b, errno, "cannot create a socket");
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(lfd, (struct sockaddr *) &ss, len) < 0 || listen(lfd, 128) < 0)
                return bench_fail(b, errno, "cannot listen on %s port %d", p->host, p->port);

        uint64_t *served = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (served == MAP_FAILED)
                return bench_fail(b, errno, "cannot map shared memory");
        *served = 0;

        struct sigaction sa = { .sa_handler = on_stop };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGALRM, &sa, NULL);
        signal(SIGCHLD, SIG_DFL);
        if (p->duration_ns) {
                struct itimerval it = { .it_value = { .tv_sec = (time_t) (p->duration_ns / NSEC_PER_SEC),
                                                      .tv_usec = (suseconds_t) (p->duration_ns % NSEC_PER_SEC / 1000) } };
                if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
                        it.it_value.tv_usec = 1;
                setitimer(ITIMER_REAL, &it, NULL);
        }

        bench_start(b);
        uint64_t connections = 0;
        pid_t *kids = NULL;
        size_t nkids = 0;
        while (!stop_flag) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        bench_fail(b, errno, "accept failed");
                        break;
                }
                pid_t pid = fork();
                if (pid == 0) {
                        close(lfd);
                        signal(SIGTERM, SIG_DFL);
                        signal(SIGINT, SIG_DFL);
                        serve_connection(fd, served);
                }
                close(fd);
                if (pid < 0)
                        continue;
                connections++;
                pid_t *k = realloc(kids, (nkids + 1) * sizeof(pid_t));
                if (k) {
                        kids = k;
                        kids[nkids++] = pid;
                }
                /* Reap the finished ones now and then. */
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
        }
        for (size_t i = 0; i < nkids; i++)
                kill(kids[i], SIGTERM);
        while (wait(NULL) > 0 || errno == EINTR)
                ;
        free(kids);
        bench_stop(b);

        uint64_t wall = b->end_mono - b->start_mono;
        report_begin(b);
        out_begin(b, "params");
        out_str(b, "role", "server");
        out_str(b, "host", p->host);
        out_u64(b, "port", (uint64_t) p->port);
        out_u64(b, "duration_ns", p->duration_ns);
        out_end(b);
        out_begin(b, "results");
        out_u64(b, "connections", connections);
        out_u64(b, "transactions", *served);
        out_double(b, "transactions_per_s", wall ? (double) *served * 1e9 / (double) wall : 0);
        out_end(b);
        munmap(served, sizeof(uint64_t));
        return report_end(b);
}

/* ---- client / ack ---- */

static int connect_retry(const RrParam *p, const struct sockaddr_storage *ss, socklen_t len) {
        uint64_t deadline = now_ns(CLOCK_MONOTONIC) + p->connect_timeout_ns;
        for (;;) {
                int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                if (connect(fd, (const struct sockaddr *) ss, len) == 0) {
                        set_nodelay(fd);
                        return fd;
                }
                int e = errno;
                close(fd);
                if ((e != ECONNREFUSED && e != ENETUNREACH && e != EHOSTUNREACH && e != ETIMEDOUT) ||
                    now_ns(CLOCK_MONOTONIC) >= deadline)
                        return -e;
                sleep_ns(50 * NSEC_PER_MSEC);
        }
}

static void child_fail(RrChild *c, int err, const char *where) {
        c->error = err < 0 ? -err : err;
        snprintf(c->where, sizeof c->where, "%s", where);
        _exit(1);
}

static void client_child(const RrParam *p, const struct sockaddr_storage *ss, socklen_t len, int go_fd,
                         RrChild *c) {
        int fd = connect_retry(p, ss, len);
        if (fd < 0)
                child_fail(c, fd, "connect");
        uint32_t resp_size = p->role == ROLE_ACK ? 1 : (uint32_t) p->size;
        uint32_t hdr[4] = { RR_MAGIC, (uint32_t) p->size, resp_size, 0 };
        int r = write_full(fd, hdr, sizeof hdr);
        if (r < 0)
                child_fail(c, r, "send");
        char *req = calloc(1, p->size), *resp = malloc(resp_size);
        if (!req || !resp)
                child_fail(c, ENOMEM, "allocate");

        /* Barrier: wait until every process is connected. */
        char x;
        if (read(go_fd, &x, 1) < 0 && errno != EINTR)
                child_fail(c, errno, "start");
        close(go_fd);

        uint64_t start = now_ns(CLOCK_MONOTONIC), deadline = start + p->duration_ns, next = start;
        for (unsigned seen = 0;; seen++) {
                if (p->role == ROLE_ACK) {
                        next += p->interval_ns;
                        struct timespec ts = ns_to_ts(next);
                        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                                ;
                }
                uint64_t t0 = now_ns(CLOCK_MONOTONIC);
                if (t0 >= deadline)
                        break;
                req[0] = (char) seen;
                if ((r = write_full(fd, req, p->size)) < 0)
                        child_fail(c, r, "send");
                if ((r = read_full(fd, resp, resp_size)) < 0)
                        child_fail(c, r, "receive");
                /* "Handled": the reply has been read and checked. */
                if (resp[0] != req[0])
                        child_fail(c, EPROTO, "reply check");
                uint64_t t1 = now_ns(CLOCK_MONOTONIC);
                if (seen < p->warmup)
                        continue;
                lat_add(&c->lat, t1 - t0);
                c->transactions++;
        }
        close(fd);
        _exit(0);
}

static int run_client(Bench *b, const RrParam *p) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (make_addr(p->host, p->port, &ss, &len) < 0)
                return bench_usage(b, "invalid --host '%s' (a numeric IPv4 or IPv6 address)", p->host);

        RrChild *kids = mmap(NULL, p->procs * sizeof(RrChild), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (kids == MAP_FAILED)
                return bench_fail(b, errno, "cannot map shared memory");
        memset(kids, 0, p->procs * sizeof(RrChild));
        for (unsigned i = 0; i < p->procs; i++)
                if (lat_init(&kids[i].lat, NSEC_PER_USEC, b->hist_range_ns, 0, true) < 0)
                        return bench_fail(b, ENOMEM, "cannot allocate the statistics");

        int go[2];
        if (pipe2(go, O_CLOEXEC) < 0)
                return bench_fail(b, errno, "cannot create a pipe");
        signal(SIGPIPE, SIG_IGN);
        fflush(NULL);
        pid_t pids[MAX_PROCS];
        unsigned started = 0;
        for (; started < p->procs; started++) {
                pid_t pid = fork();
                if (pid < 0)
                        break;
                if (pid == 0) {
                        close(go[1]);
                        client_child(p, &ss, len, go[0], &kids[started]);
                }
                pids[started] = pid;
        }
        close(go[0]);
        uint64_t cpu0 = cpu_children_ns(NULL, NULL);
        bench_start(b);
        close(go[1]);           /* go */
        int failed = 0;
        unsigned failed_idx = 0;
        for (unsigned i = 0; i < started; i++) {
                int st;
                while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
                        ;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                        if (!failed)
                                failed_idx = i;
                        failed++;
                }
        }
        bench_stop(b);
        uint64_t cpu = cpu_children_ns(NULL, NULL) - cpu0;

        int ret;
        if (started < p->procs)
                ret = bench_fail(b, errno, "cannot start %u processes", p->procs);
        else if (failed)
                ret = bench_fail(b, kids[failed_idx].error, "%d of %u processes failed; the first at %s to %s port %d",
                                 failed, p->procs, kids[failed_idx].where[0] ? kids[failed_idx].where : "exit",
                                 p->host, p->port);
        else {
                LatStats all;
                if (lat_init(&all, NSEC_PER_USEC, b->hist_range_ns, 0, false) < 0)
                        return bench_fail(b, ENOMEM, "cannot allocate the statistics");
                uint64_t tx = 0;
                for (unsigned i = 0; i < p->procs; i++) {
                        lat_merge(&all, &kids[i].lat);
                        tx += kids[i].transactions;
                }
                uint64_t wall = b->end_mono - b->start_mono;
                report_begin(b);
                out_begin(b, "params");
                out_str(b, "role", p->role == ROLE_ACK ? "ack" : "client");
                out_str(b, "host", p->host);
                out_u64(b, "port", (uint64_t) p->port);
                out_u64(b, "request_bytes", p->size);
                out_u64(b, "response_bytes", p->role == ROLE_ACK ? 1 : p->size);
                out_u64(b, "duration_ns", p->duration_ns);
                out_u64(b, "procs", p->procs);
                if (p->role == ROLE_ACK)
                        out_u64(b, "interval_ns", p->interval_ns);
                out_u64(b, "warmup", p->warmup);
                out_end(b);
                out_begin(b, "results");
                out_u64(b, "transactions", tx);
                out_double(b, "transactions_per_s", wall ? (double) tx * 1e9 / (double) wall : 0);
                out_u64(b, "cpu_ns", cpu);
                out_double(b, "transactions_per_cpu_s", cpu ? (double) tx * 1e9 / (double) cpu : 0);
                uint64_t per[MAX_PROCS];
                for (unsigned i = 0; i < p->procs; i++)
                        per[i] = kids[i].transactions;
                out_u64_array(b, "per_process_transactions", per, p->procs);
                out_latency(b, "latency", &all);
                out_end(b);
                ret = report_end(b);
                lat_free(&all);
        }
        for (unsigned i = 0; i < p->procs; i++)
                lat_free(&kids[i].lat);
        munmap(kids, p->procs * sizeof(RrChild));
        return ret;
}

int wl_rr_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "host", required_argument, NULL, OPT_HOST },
                { "port", required_argument, NULL, OPT_PORT },
                { "size", required_argument, NULL, OPT_SIZE },
                { "duration", required_argument, NULL, OPT_DURATION },
                { "procs", required_argument, NULL, OPT_PROCS },
                { "interval", required_argument, NULL, OPT_INTERVAL },
                { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
                {}
        };
        RrParam p = { .port = 7780, .size = 1, .interval_ns = 10 * NSEC_PER_MSEC,
                      .connect_timeout_ns = 5 * NSEC_PER_SEC };
        bool have_duration = false, have_procs = false;
        uint64_t v;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_HOST:
                        p.host = optarg;
                        break;
                case OPT_PORT:
                        if (opt_int(b, "port", optarg, 1, 65535, &p.port) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_SIZE:
                        if (opt_bytes(b, "size", optarg, &p.size) < 0)
                                return EXIT_USAGE;
                        if (p.size > MAX_SIZE)
                                return bench_usage(b, "--size is at most 16M");
                        break;
                case OPT_DURATION:
                        if (opt_duration(b, "duration", optarg, NSEC_PER_SEC, &p.duration_ns) < 0)
                                return EXIT_USAGE;
                        have_duration = true;
                        break;
                case OPT_PROCS:
                        if (opt_count(b, "procs", optarg, 1, MAX_PROCS, &v) < 0)
                                return EXIT_USAGE;
                        p.procs = (unsigned) v;
                        have_procs = true;
                        break;
                case OPT_INTERVAL:
                        if (opt_duration(b, "interval", optarg, NSEC_PER_USEC, &p.interval_ns) < 0)
                                return EXIT_USAGE;
                        if (p.interval_ns == 0)
                                return bench_usage(b, "--interval must be positive");
                        break;
                case OPT_CONNECT_TIMEOUT:
                        if (opt_duration(b, "connect-timeout", optarg, NSEC_PER_SEC, &p.connect_timeout_ns) < 0)
                                return EXIT_USAGE;
                        break;
                }
        }
        if (optind >= argc)
                return bench_usage(b, "missing role: server, client or ack (see 'xvbench help rr')");
        const char *role = argv[optind++];
        if (strcmp(role, "server") == 0)
                p.role = ROLE_SERVER;
        else if (strcmp(role, "client") == 0)
                p.role = ROLE_CLIENT;
        else if (strcmp(role, "ack") == 0)
                p.role = ROLE_ACK;
        else
                return bench_usage(b, "unknown role '%s' (server, client or ack)", role);
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        if (!p.host)
                p.host = p.role == ROLE_SERVER ? "0.0.0.0" : "127.0.0.1";
        if (!have_duration)
                p.duration_ns = p.role == ROLE_SERVER ? 0 : 10 * NSEC_PER_SEC;
        if (p.role != ROLE_SERVER && p.duration_ns == 0)
                return bench_usage(b, "--duration must be positive");
        if (!have_procs)
                p.procs = p.role == ROLE_ACK ? 20 : 1;
        p.warmup = bench_warmup(b, 1);

        int r = bench_open_output(b);
        if (r)
                return r;
        return p.role == ROLE_SERVER ? run_server(b, &p) : run_client(b, &p);
}
