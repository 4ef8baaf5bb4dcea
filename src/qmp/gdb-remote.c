/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A bounded GDB remote serial protocol client (gdb-remote.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/socket-util.h"
#include "basic/time-util.h"
#include "qmp/gdb-remote.h"

#define GDB_RBUF (2 * GDB_MAX_PACKET + 64)
#define GDB_NAK_RETRIES 3

struct GdbRemote {
        int fd;
        int timeout_ms;
        char *rbuf;           /* received, not yet decoded */
        size_t rlen;
        char *pkt;            /* the last decoded packet */
        char *wbuf;
        bool broken;
        char error[256];
};

static int gr_error(GdbRemote *g, int r, const char *fmt, ...) _printf_(3, 4);
static int gr_error(GdbRemote *g, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->error, sizeof g->error, fmt, ap);
        va_end(ap);
        log_debug("gdb-remote: %s", g->error);
        if (r != -ETIMEDOUT && r != -EREMOTEIO && r != -EOPNOTSUPP)
                g->broken = true;
        return r;
}

/* ---- codec ---- */

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int gdb_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t len) {
        if (hex_len != 2 * len)
                return -EBADMSG;
        for (size_t i = 0; i < len; i++) {
                int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
                if (a < 0 || b < 0)
                        return -EBADMSG;
                out[i] = (uint8_t) (a << 4 | b);
        }
        return 0;
}

void gdb_hex_encode(const uint8_t *in, size_t len, char *out) {
        static const char d[] = "0123456789abcdef";
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = d[in[i] >> 4];
                out[2 * i + 1] = d[in[i] & 15];
        }
        out[2 * len] = 0;
}

int gdb_packet_encode(const char *payload, char *out, size_t size) {
        size_t n = 0;
        unsigned sum = 0;
        if (size < 1)
                return -ENOBUFS;
        out[n++] = '$';
        for (const char *p = payload; *p; p++) {
                char c = *p;
                if (c == '#' || c == '$' || c == '}' || c == '*') {
                        if (n + 2 >= size)
                                return -ENOBUFS;
                        out[n++] = '}';
                        sum += '}';
                        c ^= 0x20;
                }
                if (n + 1 >= size)
                        return -ENOBUFS;
                out[n++] = c;
                sum += (unsigned char) c;
        }
        if (n + 4 > size)
                return -ENOBUFS;
        snprintf(out + n, 4, "#%02x", sum & 0xff);
        return (int) n + 3;
}

int gdb_packet_decode(const char *in, size_t len, char *out, size_t size, size_t *ret_consumed) {
        const char *start = memchr(in, '$', len);
        if (!start)
                return 0;
        size_t i = (size_t) (start - in) + 1;
        const char *hash = memchr(in + i, '#', len - i);
        if (!hash)
                return 0;
        size_t end = (size_t) (hash - in);
        if (end + 3 > len)
                return 0;
        int h1 = hexval(in[end + 1]), h2 = hexval(in[end + 2]);
        if (h1 < 0 || h2 < 0)
                return -EBADMSG;
        unsigned sum = 0;
        for (size_t k = i; k < end; k++)
                sum += (unsigned char) in[k];
        if ((sum & 0xff) != (unsigned) (h1 << 4 | h2))
                return -EBADMSG;
        size_t n = 0;
        for (size_t k = i; k < end; k++) {
                char c = in[k];
                if (c == '}') {
                        if (++k >= end)
                                return -EBADMSG;
                        c = (char) (in[k] ^ 0x20);
                } else if (c == '*') {
                        /* run length: the previous character, in[k+1] - 29 more times */
                        if (n == 0 || ++k >= end)
                                return -EBADMSG;
                        int rep = (unsigned char) in[k] - 29;
                        if (rep < 3 || rep > 97)
                                return -EBADMSG;
                        if (n + (size_t) rep >= size)
                                return -EMSGSIZE;
                        memset(out + n, out[n - 1], (size_t) rep);
                        n += (size_t) rep;
                        continue;
                }
                if (n + 1 >= size)
                        return -EMSGSIZE;
                out[n++] = c;
        }
        out[n] = 0;
        *ret_consumed = end + 3;
        return 1;
}

int gdb_parse_stop(const char *p, GdbStop *ret) {
        GdbStop s = {};
        if (!p || !strchr("TSWX", p[0]) || p[0] == 0)
                return -EBADMSG;
        int a = hexval(p[1]), b = a >= 0 ? hexval(p[2]) : -1;
        if (a < 0 || b < 0)
                return -EBADMSG;
        s.kind = p[0];
        s.signal = a << 4 | b;
        if (s.kind == 'T') {
                /* n1:r1;n2:r2;... look for thread:ID (hex, maybe "pP.T") */
                const char *t = strstr(p + 3, "thread:");
                if (t) {
                        t += 7;
                        const char *dot = t[0] == 'p' ? strchr(t, '.') : NULL;
                        if (dot)
                                t = dot + 1;
                        long v = 0;
                        int digits = 0;
                        for (; hexval(*t) >= 0 && digits < 8; t++, digits++)
                                v = v * 16 + hexval(*t);
                        if (digits == 0 || (*t != ';' && *t != 0))
                                return -EBADMSG;
                        s.thread = (int) v;
                }
        }
        *ret = s;
        return 0;
}

/* ---- transport ---- */

int gdb_remote_connect(const char *path, int timeout_ms, GdbRemote **ret) {
        _cleanup_free_ GdbRemote *g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->fd = -1;
        g->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
        if (!(g->rbuf = malloc(GDB_RBUF)) || !(g->pkt = malloc(GDB_MAX_PACKET + 1)) ||
            !(g->wbuf = malloc(2 * GDB_MAX_PACKET + 8))) {
                free(g->rbuf);
                free(g->pkt);
                free(g->wbuf);
                return -ENOMEM;
        }
        int r = unix_connect_until(path, now_usec() + (usec_t) g->timeout_ms * USEC_PER_MSEC, &g->fd);
        if (r < 0) {
                free(g->rbuf);
                free(g->pkt);
                free(g->wbuf);
                return r;
        }
        *ret = TAKE_PTR(g);
        return 0;
}

void gdb_remote_free(GdbRemote *g) {
        if (!g)
                return;
        if (g->fd >= 0)
                close(g->fd);
        free(g->rbuf);
        free(g->pkt);
        free(g->wbuf);
        free(g);
}

const char *gdb_remote_last_error(const GdbRemote *g) {
        return g ? g->error : "";
}

static int send_all(GdbRemote *g, const char *buf, size_t len, usec_t deadline) {
        while (len > 0) {
                ssize_t k = send(g->fd, buf, len, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return gr_error(g, -errno, "send: %s", strerror(errno));
                        int r = fd_poll_until(g->fd, POLLOUT, deadline);
                        if (r < 0)
                                return gr_error(g, r, "send: %s", strerror(-r));
                        continue;
                }
                buf += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Read more bytes into rbuf before the deadline. */
static int fill(GdbRemote *g, usec_t deadline) {
        if (g->rlen >= GDB_RBUF)
                return gr_error(g, -EMSGSIZE, "a packet longer than %u bytes", GDB_MAX_PACKET);
        for (;;) {
                ssize_t k = recv(g->fd, g->rbuf + g->rlen, GDB_RBUF - g->rlen, 0);
                if (k > 0) {
                        g->rlen += (size_t) k;
                        return 0;
                }
                if (k == 0)
                        return gr_error(g, -ECONNRESET, "the stub closed the connection");
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return gr_error(g, -errno, "recv: %s", strerror(errno));
                int r = fd_poll_until(g->fd, POLLIN, deadline);
                if (r == -ETIMEDOUT)
                        return -ETIMEDOUT;   /* the caller says what it waited for */
                if (r < 0)
                        return gr_error(g, r, "poll: %s", strerror(-r));
        }
}

static void consume(GdbRemote *g, size_t n) {
        memmove(g->rbuf, g->rbuf + n, g->rlen - n);
        g->rlen -= n;
}

/* The next packet into g->pkt (acked). */
static int read_packet(GdbRemote *g, usec_t deadline) {
        for (;;) {
                size_t used = 0;
                int r = gdb_packet_decode(g->rbuf, g->rlen, g->pkt, GDB_MAX_PACKET + 1, &used);
                if (r < 0) {
                        (void) send_all(g, "-", 1, deadline);
                        return gr_error(g, r, r == -EMSGSIZE ? "a packet longer than %u bytes"
                                                             : "a malformed packet (checksum or escape)",
                                        GDB_MAX_PACKET);
                }
                if (r > 0) {
                        consume(g, used);
                        return send_all(g, "+", 1, deadline);
                }
                /* drop noise before a '$' (acks of ours already handled) */
                const char *d = memchr(g->rbuf, '$', g->rlen);
                if (!d)
                        g->rlen = 0;
                else if (d != g->rbuf)
                        consume(g, (size_t) (d - g->rbuf));
                r = fill(g, deadline);
                if (r < 0)
                        return r;
        }
}

/* Send a packet and wait for its '+' (retransmitted after a '-'). */
static int send_packet(GdbRemote *g, const char *payload, usec_t deadline) {
        if (g->broken)
                return gr_error(g, -ENOTCONN, "the connection failed before");
        int n = gdb_packet_encode(payload, g->wbuf, 2 * GDB_MAX_PACKET + 8);
        if (n < 0)
                return gr_error(g, n, "command too long");
        for (int attempt = 0; attempt < GDB_NAK_RETRIES; attempt++) {
                int r = send_all(g, g->wbuf, (size_t) n, deadline);
                if (r < 0)
                        return r;
                for (;;) {
                        if (g->rlen == 0 && (r = fill(g, deadline)) < 0)
                                return r == -ETIMEDOUT ? gr_error(g, -ETIMEDOUT, "no ack within %d ms", g->timeout_ms) : r;
                        if (g->rbuf[0] == '+') {
                                consume(g, 1);
                                return 0;
                        }
                        if (g->rbuf[0] == '-') {
                                consume(g, 1);
                                break;
                        }
                        if (g->rbuf[0] == '$') {
                                /* a packet before the ack (an asynchronous stop
                                 * reply): the ack follows; leave the packet */
                                const char *plus = memchr(g->rbuf, '+', g->rlen);
                                const char *hash = memchr(g->rbuf, '#', g->rlen);
                                if (plus && hash && plus > hash + 2) {
                                        size_t at = (size_t) (plus - g->rbuf);
                                        memmove(g->rbuf + at, g->rbuf + at + 1, g->rlen - at - 1);
                                        g->rlen--;
                                        return 0;
                                }
                                if ((r = fill(g, deadline)) < 0)
                                        return r == -ETIMEDOUT ? gr_error(g, -ETIMEDOUT, "no ack within %d ms",
                                                                          g->timeout_ms) : r;
                                continue;
                        }
                        consume(g, 1);   /* noise */
                }
        }
        return gr_error(g, -EPROTO, "the stub refused the packet %d times", GDB_NAK_RETRIES);
}

static usec_t deadline_of(const GdbRemote *g) {
        return now_usec() + (usec_t) g->timeout_ms * USEC_PER_MSEC;
}

int gdb_remote_command(GdbRemote *g, const char *cmd, char *reply, size_t size) {
        usec_t deadline = deadline_of(g);
        int r = send_packet(g, cmd, deadline);
        if (r < 0)
                return r;
        for (int skipped = 0;; skipped++) {
                r = read_packet(g, deadline);
                if (r == -ETIMEDOUT)
                        return gr_error(g, -ETIMEDOUT, "no reply to '%.8s' within %d ms", cmd, g->timeout_ms);
                if (r < 0)
                        return r;
                GdbStop st;
                if (cmd[0] != '?' && gdb_parse_stop(g->pkt, &st) >= 0 && (st.kind == 'T' || st.kind == 'S')) {
                        if (skipped >= GDB_MAX_SKIPPED)
                                return gr_error(g, -EPROTO, "more than %d stop replies in a row", GDB_MAX_SKIPPED);
                        continue;
                }
                break;
        }
        size_t n = strlen(g->pkt);
        if (n >= size)
                return gr_error(g, -EMSGSIZE, "reply to '%.8s' longer than %zu bytes", cmd, size - 1);
        memcpy(reply, g->pkt, n + 1);
        return 0;
}

int gdb_remote_command_ok(GdbRemote *g, const char *cmd) {
        char reply[64];
        int r = gdb_remote_command(g, cmd, reply, sizeof reply);
        if (r < 0)
                return r;
        if (streq(reply, "OK"))
                return 0;
        if (reply[0] == 0)
                return gr_error(g, -EOPNOTSUPP, "'%.8s' is not supported by the stub", cmd);
        if (reply[0] == 'E')
                return gr_error(g, -EREMOTEIO, "'%.12s' failed: %s", cmd, reply);
        return gr_error(g, -EPROTO, "unexpected reply to '%.8s': %.16s", cmd, reply);
}

int gdb_remote_threads(GdbRemote *g, int *ret, size_t max, size_t *ret_n) {
        _cleanup_free_ char *reply = malloc(GDB_MAX_PACKET + 1);
        if (!reply)
                return -ENOMEM;
        size_t n = 0;
        const char *cmd = "qfThreadInfo";
        for (int round = 0; round < GDB_MAX_THREADS; round++, cmd = "qsThreadInfo") {
                int r = gdb_remote_command(g, cmd, reply, GDB_MAX_PACKET + 1);
                if (r < 0)
                        return r;
                if (reply[0] == 'l')
                        break;
                if (reply[0] != 'm')
                        return gr_error(g, -EPROTO, "unexpected thread list: %.16s", reply);
                for (char *p = reply + 1; *p;) {
                        char *dot = p[0] == 'p' ? strchr(p, '.') : NULL;
                        if (dot)
                                p = dot + 1;
                        long v = 0;
                        int digits = 0;
                        for (; hexval(*p) >= 0 && digits < 8; p++, digits++)
                                v = v * 16 + hexval(*p);
                        if (digits == 0 || (*p != ',' && *p != 0))
                                return gr_error(g, -EPROTO, "bad thread id in the list");
                        if (n >= max)
                                return gr_error(g, -E2BIG, "more than %zu threads", max);
                        ret[n++] = (int) v;
                        if (*p == ',')
                                p++;
                }
        }
        *ret_n = n;
        return 0;
}

int gdb_remote_select(GdbRemote *g, int thread) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "Hg%x", (unsigned) thread);
        return gdb_remote_command_ok(g, cmd);
}

int gdb_remote_read_regs(GdbRemote *g, uint8_t *buf, size_t size, size_t *ret_len) {
        int r = gdb_remote_command(g, "g", g->wbuf, GDB_MAX_PACKET + 1);
        if (r < 0)
                return r;
        size_t n = strlen(g->wbuf);
        if (n == 0 || n % 2 != 0 || n / 2 > size || g->wbuf[0] == 'E')
                return gr_error(g, -EPROTO, "bad register block (%zu hex digits)", n);
        /* 'x' marks an unavailable register: treat as zero */
        for (size_t i = 0; i < n; i++)
                if (g->wbuf[i] == 'x')
                        g->wbuf[i] = '0';
        if (gdb_hex_decode(g->wbuf, n, buf, n / 2) < 0)
                return gr_error(g, -EPROTO, "register block is not hex");
        *ret_len = n / 2;
        return 0;
}

int gdb_remote_write_regs(GdbRemote *g, const uint8_t *buf, size_t len) {
        if (len == 0 || len > GDB_MAX_PACKET / 2 - 2)
                return -EINVAL;
        _cleanup_free_ char *cmd = malloc(2 * len + 2);
        if (!cmd)
                return -ENOMEM;
        cmd[0] = 'G';
        gdb_hex_encode(buf, len, cmd + 1);
        return gdb_remote_command_ok(g, cmd);
}

int gdb_remote_read_mem(GdbRemote *g, uint64_t addr, void *buf, size_t len) {
        if (len == 0 || len > GDB_MAX_MEM)
                return -EINVAL;
        char cmd[48], reply[2 * GDB_MAX_MEM + 1];
        snprintf(cmd, sizeof cmd, "m%" PRIx64 ",%zx", addr, len);
        int r = gdb_remote_command(g, cmd, reply, sizeof reply);
        if (r < 0)
                return r;
        if (reply[0] == 'E')
                return gr_error(g, -EFAULT, "cannot read %zu bytes at %#" PRIx64 ": %s", len, addr, reply);
        if (gdb_hex_decode(reply, strlen(reply), buf, len) < 0)
                return gr_error(g, -EPROTO, "bad memory reply at %#" PRIx64, addr);
        return 0;
}

int gdb_remote_write_mem(GdbRemote *g, uint64_t addr, const void *buf, size_t len) {
        if (len == 0 || len > GDB_MAX_MEM)
                return -EINVAL;
        char cmd[48 + 2 * GDB_MAX_MEM + 1];
        int k = snprintf(cmd, sizeof cmd, "M%" PRIx64 ",%zx:", addr, len);
        gdb_hex_encode(buf, len, cmd + k);
        return gdb_remote_command_ok(g, cmd);
}

int gdb_remote_breakpoint(GdbRemote *g, bool insert, uint64_t addr) {
        char cmd[48];
        snprintf(cmd, sizeof cmd, "%c0,%" PRIx64 ",1", insert ? 'Z' : 'z', addr);
        return gdb_remote_command_ok(g, cmd);
}

int gdb_remote_continue(GdbRemote *g) {
        return send_packet(g, "c", deadline_of(g));
}

int gdb_remote_step(GdbRemote *g, int thread) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "vCont;s:%x", (unsigned) thread);
        return send_packet(g, cmd, deadline_of(g));
}

int gdb_remote_wait_stop(GdbRemote *g, int timeout_ms, GdbStop *ret) {
        usec_t deadline = now_usec() + (usec_t) MAX(timeout_ms, 0) * USEC_PER_MSEC;
        for (int other = 0; other < GDB_MAX_SKIPPED; other++) {
                int r = read_packet(g, deadline);
                if (r < 0)
                        return r;
                GdbStop st;
                if (gdb_parse_stop(g->pkt, &st) < 0)
                        continue;   /* e.g. an 'O' console packet */
                if (st.kind == 'W' || st.kind == 'X')
                        return gr_error(g, -ECHILD, "the target exited (%s)", g->pkt);
                *ret = st;
                return 0;
        }
        return gr_error(g, -EPROTO, "no stop reply among %d packets", GDB_MAX_SKIPPED);
}

int gdb_remote_interrupt(GdbRemote *g) {
        if (g->broken)
                return -ENOTCONN;
        return send_all(g, "\x03", 1, deadline_of(g));
}
