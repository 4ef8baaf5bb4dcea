/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvagent: the in-guest agent.  See docs/agent.md and xvagent(1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"

#define MAX_CONNS 8
#define RAW_CHUNK 65536
#define OUT_HIGH_WATER (256u * 1024)
#define WRITE_STALL_USEC (10ULL * 1000000)
#define PORT_RETRY_MIN_USEC (100ULL * 1000)
#define PORT_RETRY_MAX_USEC (1000ULL * 1000)

typedef struct Conn {
        int fd;
        bool is_port;
        char raw[RAW_CHUNK];
        size_t raw_len, raw_off;
        char line[AGENT_MAX_LINE + 1];
        size_t line_len;
        bool discarding;
        JsonWriter out;
        size_t out_off;
        uint64_t last_write_usec;
        AgentSession session;
} Conn;

static struct {
        const char *port_path;
        const char *port_name;
        const char *listen;
        const char *proc_root;
        double lease_s;
} arg = {
        .port_name = AGENT_PORT_NAME,
        .proc_root = "/proc",
        .lease_s = 0,
};

static Agent agent;
static Conn *conns[MAX_CONNS];
static int listen_fd = -1;

/* The virtio-serial port, reopened after the host goes away. */
static struct {
        char path[PATH_MAX];
        bool found;
        Conn *conn;
        uint64_t retry_at;
        uint64_t backoff;
        bool warned;
        bool tty;
        bool host_gone;          /* virtio-serial: open, but no host connected */
        uint64_t check_at;       /* when to look whether the host is back */
} port;

static void help(void) {
        printf("Usage: xvagent [OPTIONS]\n\n"
               "The xvsched guest agent: lists, stops, resumes and renices guest\n"
               "processes for the host, over a virtio-serial port or a socket.\n\n"
               "  --port PATH        virtio-serial port device (default: find the port named\n"
               "                     %s in /sys/class/virtio-ports)\n"
               "  --port-name NAME   find the port by this name instead\n"
               "  --listen ADDR      listen on unix:PATH or tcp:HOST:PORT instead of a port\n"
               "  --lease SECONDS    initial safety lease (default 5)\n"
               "  --proc DIR         procfs to read (default /proc; for tests)\n"
               "  -v, --verbose      log debug messages\n"
               "  -h, --help         show this help\n"
               "      --version      show the version\n",
               AGENT_PORT_NAME);
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_PORT = 0x100, ARG_PORT_NAME, ARG_LISTEN, ARG_LEASE, ARG_PROC, ARG_VERSION };
        static const struct option options[] = {
                { "port", required_argument, NULL, ARG_PORT },
                { "port-name", required_argument, NULL, ARG_PORT_NAME },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "lease", required_argument, NULL, ARG_LEASE },
                { "proc", required_argument, NULL, ARG_PROC },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;
        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0)
                switch (c) {
                case ARG_PORT:
                        arg.port_path = optarg;
                        break;
                case ARG_PORT_NAME:
                        arg.port_name = optarg;
                        break;
                case ARG_LISTEN:
                        arg.listen = optarg;
                        break;
                case ARG_LEASE:
                        if (safe_atod(optarg, &arg.lease_s) < 0 || arg.lease_s < 0.1 || arg.lease_s > 3600)
                                return log_error_errno(-EINVAL, "Invalid --lease '%s' (0.1 to 3600 seconds).", optarg);
                        break;
                case ARG_PROC:
                        arg.proc_root = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("xvagent %s (protocol %d)\n", XVSCHED_VERSION, AGENT_PROTOCOL_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument '%s'.", argv[optind]);
        if (arg.port_path && arg.listen)
                return log_error_errno(-EINVAL, "--port and --listen are exclusive.");
        return 1;
}

/* ---- connections ---- */

static Conn *conn_new(int fd, bool is_port) {
        Conn *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->fd = fd;
        c->is_port = is_port;
        jw_init(&c->out, AGENT_MAX_REPLY);
        agent_session_init(&agent, &c->session);
        c->last_write_usec = now_monotonic_usec();
        return c;
}

static void conn_free(Conn *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        jw_free(&c->out);
        agent_session_done(&c->session);
        free(c);
}

static bool conn_out_pending(const Conn *c) {
        return c->out_off < c->out.len;
}

static void conn_process(Conn *c) {
        uint64_t now = now_monotonic_usec();
        if (!conn_out_pending(c))
                c->last_write_usec = now;   /* the stall clock starts when output is queued */
        while (c->raw_off < c->raw_len) {
                if (c->out.len - c->out_off > OUT_HIGH_WATER)
                        return;   /* let the host read first: no unbounded growth */
                unsigned char b = (unsigned char) c->raw[c->raw_off++];
                if (b == 0xFF) {
                        /* The host resets our parser, as with qemu-ga. */
                        c->line_len = 0;
                        c->discarding = false;
                        continue;
                }
                if (c->discarding) {
                        if (b == '\n') {
                                c->discarding = false;
                                agent.stats.bad_requests++;
                                agent_error_reply(&c->out, "TooLarge", "request line too long");
                        }
                        continue;
                }
                if (b != '\n') {
                        if (c->line_len >= AGENT_MAX_LINE) {
                                c->discarding = true;
                                c->line_len = 0;
                        } else
                                c->line[c->line_len++] = (char) b;
                        continue;
                }
                size_t l = c->line_len;
                c->line_len = 0;
                if (l > 0 && c->line[l - 1] == '\r')
                        l--;
                bool blank = true;
                for (size_t i = 0; i < l; i++)
                        if (c->line[i] != ' ' && c->line[i] != '\t')
                                blank = false;
                if (blank)
                        continue;
                agent_handle_line(&agent, &c->session, c->line, l, now, &c->out);
        }
        if (c->raw_off >= c->raw_len)
                c->raw_off = c->raw_len = 0;
}

/* Returns 0, or -errno if the connection is gone. */
static int conn_flush(Conn *c) {
        while (conn_out_pending(c)) {
                ssize_t k = write(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return negative_errno();
                }
                c->out_off += (size_t) k;
                agent.bytes_out += (uint64_t) k;
                c->last_write_usec = now_monotonic_usec();
        }
        c->out_off = 0;
        jw_reset(&c->out);
        c->last_write_usec = now_monotonic_usec();
        return 0;
}

/* Process input and write replies until input is used up or the host must
 * read first.  Returns 0, or -errno if the connection is gone. */
static int conn_pump(Conn *c) {
        for (;;) {
                conn_process(c);
                int r = conn_flush(c);
                if (r < 0)
                        return r;
                if (conn_out_pending(c) || c->raw_off >= c->raw_len)
                        return 0;
        }
}

/* Returns 0, or -errno/-EPIPE (EOF) if the connection is gone. */
static int conn_read(Conn *c) {
        ssize_t k = read(c->fd, c->raw, sizeof c->raw);
        if (k < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                return negative_errno();
        }
        if (k == 0)
                return -EPIPE;
        c->raw_len = (size_t) k;
        c->raw_off = 0;
        agent.bytes_in += (uint64_t) k;
        if (c->is_port)
                port.backoff = 0;   /* a host talks: look again soon if it goes */
        return conn_pump(c);
}

/* ---- the port ---- */

static int find_port(const char *name, char *ret, size_t size) {
        DIR *d = opendir("/sys/class/virtio-ports");
        if (!d)
                return -ENOENT;
        struct dirent *de;
        int r = -ENOENT;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char path[PATH_MAX], buf[256];
                snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t k = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (k <= 0)
                        continue;
                buf[k] = 0;
                buf[strcspn(buf, "\n")] = 0;
                if (streq(buf, name)) {
                        snprintf(ret, size, "/dev/%s", de->d_name);
                        r = 0;
                        break;
                }
        }
        closedir(d);
        return r;
}

static void port_schedule_retry(uint64_t now) {
        port.backoff = port.backoff ? MIN(port.backoff * 2, PORT_RETRY_MAX_USEC) : PORT_RETRY_MIN_USEC;
        port.retry_at = now + port.backoff;
}

static void port_close(const char *why) {
        if (port.conn) {
                log_debug("Port %s: %s, closing.", port.path, why);
                conn_free(port.conn);
                port.conn = NULL;
                agent.n_clients--;
        }
        port_schedule_retry(now_monotonic_usec());
}

/* The host side of a virtio-serial port went away, or seems to have: the
 * guest learns that the host connected or left from control messages, which
 * its driver handles apart from (and often after) the data.  A host that
 * disconnects and connects again at once can therefore have its requests
 * read while the guest still thinks no host is there: writing the reply then
 * says EAGAIN and poll() says POLLHUP, until the guest hears of the new host.
 * So on a hangup keep what we have: the pending reply goes out when the port
 * takes it again (QEMU throws away what the guest writes while no host is
 * connected; a host that connects later skips it, as it skips everything
 * before its sync reply), the partial line stays (a host's leading 0xFF
 * resets it).  Only a host that stopped reading, or a failed port, loses
 * its pending output (forget).  The delta state is dropped either way: at
 * worst the next tasks reply is a full list.
 *
 * Keep the port open: closing it makes the guest driver discard what the
 * host may already have sent again, and a closed port is what QEMU reports
 * to the host as "agent not running".  Poll the port now and then (POLLHUP is
 * level triggered: waiting on it would spin) until the host is back. */
static void port_host_gone(const char *why, bool forget) {
        Conn *c = port.conn;
        log_debug("Port %s: %s, waiting for the host%s.", port.path, why,
                  forget ? "" : conn_out_pending(c) ? " (reply kept)" : "");
        if (forget) {
                c->raw_len = c->raw_off = 0;
                c->line_len = 0;
                c->discarding = false;
                c->out_off = 0;
                jw_reset(&c->out);
        }
        agent_session_done(&c->session);
        agent_session_init(&agent, &c->session);
        port.host_gone = true;
        port_schedule_retry(now_monotonic_usec());
        port.check_at = port.retry_at;
}

/* Is the host back?  Surely if the port no longer reports POLLHUP.  With
 * POLLHUP, POLLIN may mean a request that came before the guest heard of its
 * host (virtio-serial also sets POLLIN with no host: the read then says end
 * of file, and we wait longer next time); with a reply pending, wait until
 * the port is writable. */
static void port_check_host(uint64_t now) {
        if (!port.conn || !port.host_gone || now < port.check_at)
                return;
        struct pollfd p = { .fd = port.conn->fd, .events = POLLIN | POLLOUT };
        int k = poll(&p, 1, 0);
        bool hup = k > 0 && (p.revents & (POLLHUP | POLLERR));
        if (k >= 0 && (!hup || ((p.revents & POLLIN) && !conn_out_pending(port.conn)))) {
                log_debug("Port %s: %s.", port.path, hup ? "input while hung up, reading" : "host connected");
                port.host_gone = false;
                if (!hup)
                        port.backoff = 0;
                port.conn->last_write_usec = now;
                return;
        }
        port_schedule_retry(now);
        port.check_at = port.retry_at;
}

static void port_try_open(uint64_t now) {
        if (port.conn || now < port.retry_at)
                return;
        if (!arg.port_path && !port.found) {
                if (find_port(arg.port_name, port.path, sizeof port.path) < 0) {
                        if (!port.warned)
                                log_warning("No virtio-serial port named %s yet, waiting.", arg.port_name);
                        port.warned = true;
                        port.backoff = PORT_RETRY_MAX_USEC / 2;
                        port_schedule_retry(now);
                        return;
                }
                port.found = true;
                log_info("Using port %s (%s).", port.path, arg.port_name);
        }
        int fd = open(port.path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (!port.warned)
                        log_warning_errno(errno, "Cannot open %s, retrying: %m", port.path);
                port.warned = true;
                if (!arg.port_path)
                        port.found = false;   /* look it up again: it may be renamed */
                port_schedule_retry(now);
                return;
        }
        if (isatty(fd)) {
                /* A console-like port: raw bytes, no echo, no line editing. */
                struct termios t;
                if (tcgetattr(fd, &t) == 0) {
                        cfmakeraw(&t);
                        tcsetattr(fd, TCSANOW, &t);
                }
        }
        port.tty = isatty(fd);
        /* Host not connected: virtio-serial reports POLLHUP (reads give EOF).
         * A terminal that hung up stays so: close it and open it again
         * later.  A virtio-serial port stays open (see port_host_gone()). */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        bool hup = poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLIN);
        if (hup && port.tty) {
                close(fd);
                port_schedule_retry(now);
                return;
        }
        port.conn = conn_new(fd, true);
        if (!port.conn) {
                close(fd);
                port_schedule_retry(now);
                return;
        }
        agent.n_clients++;
        port.warned = false;
        port.backoff = 0;
        port.host_gone = false;
        log_debug("Port %s open.", port.path);
        if (hup)
                port_host_gone("no host connected", false);
}

/* ---- listening ---- */

static int listen_on(const char *addr) {
        int fd, r;
        if (strneq(addr, "unix:", 5)) {
                const char *path = addr + 5;
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                if (!*path || strlen(path) >= sizeof sa.sun_path)
                        return log_error_errno(-EINVAL, "Invalid socket path '%s'.", path);
                strcpy(sa.sun_path, path);
                struct stat st;
                if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                        unlink(path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return log_error_errno(errno, "socket(): %m");
                mode_t old = umask(0077);
                r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
                umask(old);
                if (r < 0) {
                        r = log_error_errno(errno, "Cannot bind %s: %m", path);
                        close(fd);
                        return r;
                }
        } else if (strneq(addr, "tcp:", 4)) {
                char host[256];
                const char *hp = addr + 4, *colon = strrchr(hp, ':');
                if (!colon || (size_t) (colon - hp) >= sizeof host || !colon[1])
                        return log_error_errno(-EINVAL, "Invalid address '%s' (tcp:HOST:PORT).", addr);
                memcpy(host, hp, (size_t) (colon - hp));
                host[colon - hp] = 0;
                char *h = host;
                if (h[0] == '[' && h[strlen(h) - 1] == ']') {
                        h[strlen(h) - 1] = 0;
                        h++;
                }
                /* Numeric addresses only: a static binary in a busybox
                 * initramfs has no NSS for getaddrinfo(). */
                union {
                        struct sockaddr sa;
                        struct sockaddr_in in;
                        struct sockaddr_in6 in6;
                } sa = {};
                socklen_t salen;
                unsigned pnum;
                if (safe_atou(colon + 1, &pnum) < 0 || pnum > 65535)
                        return log_error_errno(-EINVAL, "Invalid port in '%s'.", addr);
                if (!*h || streq(h, "localhost") || inet_pton(AF_INET, h, &sa.in.sin_addr) == 1) {
                        sa.in.sin_family = AF_INET;
                        sa.in.sin_port = htons((uint16_t) pnum);
                        if (streq(h, "localhost"))
                                sa.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                        salen = sizeof sa.in;
                } else if (inet_pton(AF_INET6, h, &sa.in6.sin6_addr) == 1) {
                        sa.in6.sin6_family = AF_INET6;
                        sa.in6.sin6_port = htons((uint16_t) pnum);
                        salen = sizeof sa.in6;
                } else
                        return log_error_errno(-EINVAL, "Invalid host in '%s' (numeric address, or localhost).", addr);
                fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return log_error_errno(errno, "socket(): %m");
                int one = 1;
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                r = bind(fd, &sa.sa, salen);
                if (r < 0) {
                        r = log_error_errno(errno, "Cannot bind %s: %m", addr);
                        close(fd);
                        return r;
                }
        } else
                return log_error_errno(-EINVAL, "Invalid address '%s' (unix:PATH or tcp:HOST:PORT).", addr);

        if (listen(fd, 8) < 0) {
                r = log_error_errno(errno, "listen(): %m");
                close(fd);
                return r;
        }
        return fd;
}

static void accept_conns(void) {
        for (;;) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                size_t i;
                for (i = 0; i < MAX_CONNS; i++)
                        if (!conns[i])
                                break;
                if (i == MAX_CONNS) {
                        log_warning("Too many connections, refusing one.");
                        close(fd);
                        continue;
                }
                conns[i] = conn_new(fd, false);
                if (!conns[i]) {
                        close(fd);
                        continue;
                }
                agent.n_clients++;
                log_debug("Client %zu connected.", i);
        }
}

static void drop_conn(size_t i, const char *why) {
        log_debug("Client %zu: %s, dropping.", i, why);
        conn_free(conns[i]);
        conns[i] = NULL;
        agent.n_clients--;
}

/* ---- main loop ---- */

static int setup_signals(void) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return negative_errno();
        signal(SIGPIPE, SIG_IGN);
        int fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

/* Add c to the poll set; returns its events. */
static short conn_events(Conn *c) {
        /* Read only when everything read so far is answered and sent:
         * a host that does not read cannot make us buffer without end. */
        return conn_out_pending(c) ? POLLOUT : POLLIN;
}

static int run(int sfd) {
        for (;;) {
                uint64_t now = now_monotonic_usec();
                agent_tick(&agent, now);
                if (!arg.listen) {
                        port_try_open(now);
                        port_check_host(now);
                }

                struct pollfd pfd[2 + MAX_CONNS + 1];
                Conn *pconn[2 + MAX_CONNS + 1] = {};
                nfds_t n = 0;
                pfd[n++] = (struct pollfd) { .fd = sfd, .events = POLLIN };
                if (listen_fd >= 0)
                        pfd[n++] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
                nfds_t first_conn = n;
                if (port.conn && !port.host_gone) {
                        pconn[n] = port.conn;
                        pfd[n++] = (struct pollfd) { .fd = port.conn->fd, .events = conn_events(port.conn) };
                }
                for (size_t i = 0; i < MAX_CONNS; i++)
                        if (conns[i]) {
                                pconn[n] = conns[i];
                                pfd[n++] = (struct pollfd) { .fd = conns[i]->fd, .events = conn_events(conns[i]) };
                        }

                uint64_t deadline = agent_deadline(&agent);
                if (!arg.listen && !port.conn)
                        deadline = MIN(deadline, port.retry_at);
                if (port.conn && port.host_gone)
                        deadline = MIN(deadline, port.check_at);
                for (nfds_t i = first_conn; i < n; i++)
                        if (conn_out_pending(pconn[i]))
                                deadline = MIN(deadline, pconn[i]->last_write_usec + WRITE_STALL_USEC);
                int timeout = -1;
                if (deadline != UINT64_MAX)
                        timeout = deadline <= now ? 0 : (int) MIN((deadline - now + 999) / 1000, 60000);

                int k = poll(pfd, n, timeout);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll(): %m");
                }
                if (pfd[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof si) == sizeof si) {
                                log_info("Got signal %u, restoring and exiting.", si.ssi_signo);
                                return 0;
                        }
                }
                if (listen_fd >= 0 && pfd[1].revents)
                        accept_conns();

                for (nfds_t i = first_conn; i < n; i++) {
                        Conn *c = pconn[i];
                        short re = pfd[i].revents;
                        int r = 0;
                        const char *why = NULL;
                        if (re & POLLOUT) {
                                r = conn_flush(c);
                                if (r >= 0 && !conn_out_pending(c))
                                        r = conn_pump(c);   /* input held back by the high-water mark */
                                if (r < 0)
                                        why = "write failed";
                        } else if (re & POLLIN) {
                                r = conn_read(c);
                                if (r < 0)
                                        why = r == -EPIPE ? "end of file" : "connection failed";
                        } else if (re & (POLLHUP | POLLERR | POLLNVAL))
                                why = "hung up";
                        /* A fresh clock: handling the request may have taken a while,
                         * and last_write_usec must never be ahead of it. */
                        uint64_t t = now_monotonic_usec();
                        if (!why && conn_out_pending(c) && t > c->last_write_usec &&
                            t - c->last_write_usec > WRITE_STALL_USEC)
                                why = "host not reading";
                        if (!why)
                                continue;
                        /* A hangup or end of file may only mean the guest has not heard
                         * of a new host yet: keep the reply (see port_host_gone()). */
                        bool hangup = r == -EPIPE || (!(re & (POLLIN | POLLOUT)) && (re & POLLHUP));
                        if (c->is_port && !port.tty && r != -EIO && r != -EBADF && !(re & (POLLERR | POLLNVAL)))
                                port_host_gone(why, !hangup);
                        else if (c->is_port)
                                port_close(why);
                        else
                                for (size_t j = 0; j < MAX_CONNS; j++)
                                        if (conns[j] == c)
                                                drop_conn(j, why);
                }
        }
}

int main(int argc, char **argv) {
        log_set_program("xvagent");
        int r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 1 : 0;

        /* Room to keep every thread's stat file open (see ProcFdCache). */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 65536 : MIN(rl.rlim_max, (rlim_t) 65536);
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        r = agent_init(&agent, &agent_ops_real, NULL, arg.proc_root, now_monotonic_usec());
        if (r < 0)
                return log_error_errno(r, "Cannot initialise: %m"), 1;
        if (arg.lease_s > 0)
                agent.lease_usec = (uint64_t) (arg.lease_s * 1e6);

        int sfd = setup_signals();
        if (sfd < 0)
                return log_error_errno(sfd, "Cannot set up signals: %m"), 1;

        if (arg.listen) {
                listen_fd = listen_on(arg.listen);
                if (listen_fd < 0)
                        return 1;
                log_info("Listening on %s.", arg.listen);
        } else if (arg.port_path)
                snprintf(port.path, sizeof port.path, "%s", arg.port_path);

        r = run(sfd);

        /* Whatever happened, never leave a guest process stopped or reniced. */
        agent_done(&agent);
        if (port.conn)
                conn_free(port.conn);
        for (size_t i = 0; i < MAX_CONNS; i++)
                conn_free(conns[i]);
        if (listen_fd >= 0) {
                close(listen_fd);
                if (strneq(arg.listen, "unix:", 5))
                        unlink(arg.listen + 5);
        }
        close(sfd);
        return r < 0 ? 1 : 0;
}
