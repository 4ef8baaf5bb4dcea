/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-guest-agent client: transports (raw socket, installed hook), the
 * protocol (guest-sync-delimited, replies), guest-exec, the reader's parser
 * and the control scripts.  See qga-client.h and docs/qga.md. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/socket-util.h"
#include "view/qga-client.h"
#include "view/qga-scripts.h"

#define JSON_DEPTH 16
#define READ_CHUNK 65536
#define PID_LIMIT 4194304
#define USER_HZ 100              /* clock ticks in /proc/PID/stat on every Linux architecture we run */
#define PF_KTHREAD 0x00200000
#define COMM_STAT_MAX 64         /* a kworker's name in stat, with its workqueue */
/* Bytes of other lines (a stale reply, an error for the 0xFF) a sync skips. */
#define SYNC_SKIP_MAX (64u * 1024)
#define QGA_PENDING_MAX 8

struct QgaClient {
        char *path;              /* socket transport; NULL for fd or hook */
        int fd;
        bool synced;
        char *rbuf;
        size_t rlen, rcap;

        QgaCommandHook hook;     /* hook transport when hook.command */
        void *handle;

        usec_t timeout;
        size_t reply_max;
        unsigned lease;
        uint64_t seed, counter;
        bool exec_ok;            /* guest-info said guest-exec is enabled */
        bool held;               /* a stop or nice may be held in the guest */
        usec_t last_beat;
        /* Command lines known from earlier polls: the reader skips them. */
        GuestTask *known;        /* thread-group leaders: pid, start time, comm, cmdline */
        size_t n_known;
        /* guest-exec'd pids whose exit was not seen (a deadline passed, the
         * transport failed): their status is collected before the next
         * reader starts, so that a slow guest never runs two readers at once
         * and qemu-ga does not keep their records for ever. */
        int64_t pending[QGA_PENDING_MAX];
        size_t n_pending;
        char key[300];           /* the agent's identity for the pending pids ("" for an fd) */
        char transport[320];
        char error[512];
};

static _Thread_local char connect_error[512];

/* Pending guest-exec'd pids outlive their client: the daemon drops a view
 * whose poll failed and opens a new one later, and a CLI run may follow
 * another.  Kept per agent (socket path, libvirt domain), process-wide. */
#define PENDING_AGENTS 32
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
        char key[300];
        int64_t pids[QGA_PENDING_MAX];
        size_t n;
} pending_table[PENDING_AGENTS];
static size_t pending_next;

static void pending_save(const QgaClient *c) {
        if (!c->key[0] || c->n_pending == 0)
                return;
        pthread_mutex_lock(&pending_lock);
        size_t slot = PENDING_AGENTS;
        for (size_t i = 0; i < PENDING_AGENTS && slot == PENDING_AGENTS; i++)
                if (streq(pending_table[i].key, c->key))
                        slot = i;
        for (size_t i = 0; i < PENDING_AGENTS && slot == PENDING_AGENTS; i++)
                if (!pending_table[i].key[0])
                        slot = i;
        if (slot == PENDING_AGENTS)
                slot = pending_next++ % PENDING_AGENTS;   /* forget the oldest agent's */
        snprintf(pending_table[slot].key, sizeof pending_table[slot].key, "%s", c->key);
        memcpy(pending_table[slot].pids, c->pending, c->n_pending * sizeof c->pending[0]);
        pending_table[slot].n = c->n_pending;
        pthread_mutex_unlock(&pending_lock);
}

static void pending_adopt(QgaClient *c) {
        if (!c->key[0])
                return;
        pthread_mutex_lock(&pending_lock);
        for (size_t i = 0; i < PENDING_AGENTS; i++)
                if (streq(pending_table[i].key, c->key)) {
                        memcpy(c->pending, pending_table[i].pids, pending_table[i].n * sizeof c->pending[0]);
                        c->n_pending = pending_table[i].n;
                        pending_table[i].key[0] = 0;
                        pending_table[i].n = 0;
                }
        pthread_mutex_unlock(&pending_lock);
}

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static QgaCommandHook hook;

void qga_command_hook_set(const QgaCommandHook *h) {
        pthread_mutex_lock(&hook_lock);
        hook = h ? *h : (QgaCommandHook) {};
        pthread_mutex_unlock(&hook_lock);
}

bool qga_command_hook_present(void) {
        pthread_mutex_lock(&hook_lock);
        bool r = hook.command != NULL;
        pthread_mutex_unlock(&hook_lock);
        return r;
}

static void sanitize(char *dst, size_t size, const char *src) {
        size_t o = 0;
        for (; *src && o + 1 < size; src++)
                dst[o++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
        dst[o] = 0;
}

_printf_(3, 4) static int set_error(QgaClient *c, int r, const char *fmt, ...) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        sanitize(c ? c->error : connect_error, sizeof c->error, buf);
        log_debug("qga: %s", c ? c->error : connect_error);
        return r;
}

const char *qga_client_last_error(const QgaClient *c) {
        return c ? c->error : connect_error;
}

const char *qga_client_transport(const QgaClient *c) {
        return c->transport;
}

void qga_client_set_timeout(QgaClient *c, usec_t timeout) {
        c->timeout = timeout ? timeout : 10 * USEC_PER_SEC;
}

void qga_client_set_reply_max(QgaClient *c, size_t max) {
        c->reply_max = max ? max : QGA_REPLY_MAX;
}

void qga_client_set_lease(QgaClient *c, unsigned seconds) {
        if (seconds >= 1 && seconds <= 3600)
                c->lease = seconds;
}

static void drop(QgaClient *c) {
        if (c->fd >= 0) {
                close(c->fd);
                c->fd = -1;
        }
        c->synced = false;
        c->rlen = 0;
}

/* A raw QGA socket takes one client at a time (QEMU's chardev, qemu-ga's
 * unix-listen): let go of it after each operation, so that other clients
 * (Proxmox's qm, vm exec, an operator's socat) are not shut out while
 * xvsched holds a stop.  The next call reconnects and resyncs. */
static void let_go(QgaClient *c) {
        if (c->path)
                drop(c);
}

void qga_client_free(QgaClient *c) {
        if (!c)
                return;
        pending_save(c);
        if (c->fd >= 0)
                close(c->fd);
        if (c->hook.close && c->handle)
                c->hook.close(c->handle);
        free(c->path);
        free(c->rbuf);
        free(c->known);
        free(c);
}

static QgaClient *client_new(usec_t timeout) {
        QgaClient *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->fd = -1;
        qga_client_set_timeout(c, timeout);
        c->reply_max = QGA_REPLY_MAX;
        c->lease = QGA_LEASE_S;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->seed = ((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) ts.tv_sec ^ ((uint64_t) getpid() << 40);
        return c;
}

/* ---- socket transport ---- */

static int connect_unix(QgaClient *c, usec_t deadline) {
        int fd;
        int r = unix_connect_until(c->path, deadline, &fd);
        if (r < 0)
                return set_error(c, r, "cannot connect to %s: %s", c->path, strerror(-r));
        c->fd = fd;
        c->synced = false;
        c->rlen = 0;
        return 0;
}

static int write_all(QgaClient *c, const char *buf, size_t len, usec_t deadline) {
        while (len > 0) {
                ssize_t k = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0 && errno == ENOTSOCK)
                        k = write(c->fd, buf, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                int p = fd_poll_until(c->fd, POLLOUT, deadline);
                                if (p < 0)
                                        return set_error(c, p, "%s writing to qemu-guest-agent",
                                                         p == -ETIMEDOUT ? "timed out" : "poll failed");
                                if (p & (POLLERR | POLLHUP) && !(p & POLLOUT))
                                        return set_error(c, -ECONNRESET, "qemu-guest-agent channel hung up");
                                continue;
                        }
                        int r = negative_errno();
                        return set_error(c, r == -EPIPE ? -ECONNRESET : r, "write to qemu-guest-agent failed: %s",
                                         strerror(-r));
                }
                buf += k;
                len -= (size_t) k;
        }
        return 0;
}

/* The next '\n'-terminated line, NUL-terminated in *ret (malloc'd), 0xFF
 * bytes removed.  With want_delim, first discard everything up to and
 * including a 0xFF.  *discarded (when given) grows by the bytes thrown away
 * and the bytes of the line with its newline, so that a sync can bound what
 * it skips (a flood without a delimiter, or of empty lines). */
static int read_line(QgaClient *c, usec_t deadline, bool want_delim, char **ret, size_t *ret_len, size_t *discarded) {
        bool have_delim = !want_delim;
        size_t dummy = 0;
        if (!discarded)
                discarded = &dummy;
        for (;;) {
                /* scan what we have */
                size_t i = 0;
                if (!have_delim) {
                        char *ff = memchr(c->rbuf ? c->rbuf : "", 0xff, c->rlen);
                        if (ff) {
                                size_t cut = (size_t) (ff - c->rbuf) + 1;
                                memmove(c->rbuf, c->rbuf + cut, c->rlen - cut);
                                c->rlen -= cut;
                                *discarded += cut;
                                have_delim = true;
                        } else {
                                *discarded += c->rlen;
                                c->rlen = 0;
                                if (*discarded > SYNC_SKIP_MAX)
                                        return set_error(c, -EPROTO,
                                                         "qemu-guest-agent never answered our sync (%zu bytes without "
                                                         "its delimiter)", *discarded);
                        }
                }
                if (have_delim) {
                        char *nl = c->rlen ? memchr(c->rbuf, '\n', c->rlen) : NULL;
                        if (nl) {
                                size_t n = (size_t) (nl - c->rbuf);
                                char *line = malloc(n + 1);
                                if (!line)
                                        return -ENOMEM;
                                size_t o = 0;
                                for (i = 0; i < n; i++)
                                        if ((unsigned char) c->rbuf[i] != 0xff && c->rbuf[i] != '\r')
                                                line[o++] = c->rbuf[i];
                                line[o] = 0;
                                memmove(c->rbuf, nl + 1, c->rlen - n - 1);
                                c->rlen -= n + 1;
                                *discarded += n + 1;
                                *ret = line;
                                *ret_len = o;
                                return 0;
                        }
                        if (c->rlen > c->reply_max)
                                return set_error(c, -EMSGSIZE, "qemu-guest-agent reply longer than %zu bytes",
                                                 c->reply_max);
                }
                if (c->rcap - c->rlen < READ_CHUNK) {
                        size_t ncap = c->rcap ? c->rcap * 2 : 2 * READ_CHUNK;
                        char *n = realloc(c->rbuf, ncap);
                        if (!n)
                                return -ENOMEM;
                        c->rbuf = n;
                        c->rcap = ncap;
                }
                int p = fd_poll_until(c->fd, POLLIN, deadline);
                if (p < 0)
                        return set_error(c, p, "%s waiting for qemu-guest-agent",
                                         p == -ETIMEDOUT ? "timed out" : "poll failed");
                ssize_t k = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        int r = negative_errno();
                        return set_error(c, r, "read from qemu-guest-agent failed: %s", strerror(-r));
                }
                if (k == 0)
                        return set_error(c, -ECONNRESET, "qemu-guest-agent channel closed");
                c->rlen += (size_t) k;
        }
}

static json_object *parse_json(const char *s, size_t len) {
        if (len > INT32_MAX)
                return NULL;
        json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
        if (!tok)
                return NULL;
        int flags = JSON_TOKENER_STRICT;
#ifdef JSON_TOKENER_VALIDATE_UTF8
        flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
        json_tokener_set_flags(tok, flags);
        json_object *o = json_tokener_parse_ex(tok, s, (int) len);
        bool ok = o && json_tokener_get_error(tok) == json_tokener_success;
        if (ok)
                for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
                                ok = false;
        json_tokener_free(tok);
        if (!ok) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* A whole reply: 0 and *ret (a new reference to "return"), or the agent's
 * error mapped to -errno, or -EBADMSG. */
static int interpret_reply(QgaClient *c, const char *cmd, const char *text, size_t len, json_object **ret) {
        json_object *o = parse_json(text, len);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return set_error(c, -EBADMSG, "qemu-guest-agent: %s: reply is not a JSON object", cmd);
        }
        json_object *v, *e;
        if (json_object_object_get_ex(o, "return", &v)) {
                *ret = json_object_get(v);
                json_object_put(o);
                return 0;
        }
        if (json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_object)) {
                json_object *jc = NULL, *jd = NULL;
                json_object_object_get_ex(e, "class", &jc);
                json_object_object_get_ex(e, "desc", &jd);
                const char *cls = jc && json_object_is_type(jc, json_type_string) ? json_object_get_string(jc) : "";
                const char *desc = jd && json_object_is_type(jd, json_type_string) ? json_object_get_string(jd) : "";
                int r = -EREMOTEIO;
                if (streq(cls, "CommandNotFound"))
                        r = -EOPNOTSUPP;
                else if (strstr(desc, "disabled") || streq(cls, "CommandDisabled"))
                        r = -EACCES;
                set_error(c, r, "qemu-guest-agent refused %s: %.200s", cmd, desc[0] ? desc : cls);
                json_object_put(o);
                return r;
        }
        json_object_put(o);
        return set_error(c, -EBADMSG, "qemu-guest-agent: %s: reply has neither 'return' nor 'error'", cmd);
}

static bool is_transport_error(int r) {
        return r == -ETIMEDOUT || r == -ECONNRESET || r == -EBADMSG || r == -EMSGSIZE || r == -EPIPE || r == -EIO ||
               r == -EBADF;
}

static int do_sync(QgaClient *c, usec_t deadline) {
        uint64_t id = (c->seed ^ ++c->counter) & 0x3fffffffffffULL;
        char req[160];
        int n = snprintf(req, sizeof req, "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%" PRIu64 "}}\n",
                         id);
        int r = write_all(c, req, (size_t) n, deadline);
        if (r < 0)
                return r;
        size_t skipped = 0;
        for (;;) {
                _cleanup_free_ char *line = NULL;
                size_t len;
                r = read_line(c, deadline, true, &line, &len, &skipped);
                if (r < 0)
                        return r;
                json_object *v = NULL;
                r = interpret_reply(c, "guest-sync-delimited", line, len, &v);
                if (r == 0 && json_object_is_type(v, json_type_int) && (uint64_t) json_object_get_int64(v) == id) {
                        json_object_put(v);
                        c->synced = true;
                        return 0;
                }
                json_object_put(v);
                if (r == -EOPNOTSUPP || r == -EACCES)
                        return set_error(c, r, "qemu-guest-agent has no guest-sync-delimited");
                if (skipped > SYNC_SKIP_MAX)
                        return set_error(c, -EPROTO, "qemu-guest-agent never answered our sync (%zu bytes of other replies)",
                                         skipped);
        }
}

/* One command: json is the whole request; done by deadline (a caller that
 * makes several calls passes one deadline for all of them). */
static int transact(QgaClient *c, const char *cmd, const char *json, usec_t deadline, json_object **ret) {
        usec_t n0 = now_usec();
        if (n0 >= deadline)
                return set_error(c, -ETIMEDOUT, "%s: timed out (%.1f s) before it was sent", cmd,
                                 (double) c->timeout / 1e6);
        if (c->hook.command) {
                usec_t left = deadline - n0;
                int secs = (int) MAX((left + USEC_PER_SEC - 1) / USEC_PER_SEC, (usec_t) 1);
                char err[400] = "";
                _cleanup_free_ char *reply = NULL;
                int r = c->hook.command(c->handle, json, secs, &reply, err, sizeof err);
                if (r < 0)
                        return set_error(c, r, "%s: %s", cmd, err[0] ? err : strerror(-r));
                if (!reply)
                        return set_error(c, -EBADMSG, "%s: empty reply", cmd);
                size_t len = strnlen(reply, c->reply_max + 1);
                if (len > c->reply_max)
                        return set_error(c, -EMSGSIZE, "qemu-guest-agent reply longer than %zu bytes", c->reply_max);
                return interpret_reply(c, cmd, reply, len, ret);
        }
        if (c->fd < 0) {
                if (!c->path)
                        return set_error(c, -ENOTCONN, "not connected (%s)", c->error[0] ? c->error : "closed");
                int r = connect_unix(c, deadline);
                if (r < 0)
                        return r;
        }
        int r = 0;
        if (!c->synced) {
                r = do_sync(c, deadline);
                /* QEMU's chardev and qemu-ga -m unix-listen serve one client:
                 * the others wait in the backlog, unanswered */
                if (r == -ETIMEDOUT)
                        set_error(c, r, "timed out waiting for qemu-guest-agent to answer our sync (a silent agent, "
                                        "or another client holds its socket)");
        }
        if (r >= 0)
                r = write_all(c, json, strlen(json), deadline);
        if (r >= 0)
                r = write_all(c, "\n", 1, deadline);
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        if (r >= 0)
                r = read_line(c, deadline, false, &line, &len, NULL);
        if (r >= 0)
                r = interpret_reply(c, cmd, line, len, ret);
        if (r < 0 && (is_transport_error(r) || r == -EPROTO || r == -ENOMEM))
                drop(c);
        return r;
}

/* Build {"execute":cmd,"arguments":args} (args may be NULL; consumed). */
static int call_until(QgaClient *c, const char *cmd, json_object *args, usec_t deadline, json_object **ret) {
        json_object *req = json_object_new_object();
        if (!req) {
                json_object_put(args);
                return -ENOMEM;
        }
        json_object_object_add(req, "execute", json_object_new_string(cmd));
        if (args)
                json_object_object_add(req, "arguments", args);
        const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        int r = s ? transact(c, cmd, s, deadline, ret) : -ENOMEM;
        json_object_put(req);
        return r;
}

static int call(QgaClient *c, const char *cmd, json_object *args, json_object **ret) {
        return call_until(c, cmd, args, now_usec() + c->timeout, ret);
}

int qga_client_check_exec(QgaClient *c) {
        json_object *info = NULL;
        int r = call(c, "guest-info", NULL, &info);
        if (r < 0)
                return r;
        json_object *cmds;
        if (!json_object_is_type(info, json_type_object) || !json_object_object_get_ex(info, "supported_commands", &cmds) ||
            !json_object_is_type(cmds, json_type_array) || json_object_array_length(cmds) > 4096) {
                json_object_put(info);
                return set_error(c, -EBADMSG, "qemu-guest-agent: guest-info: no list of supported commands");
        }
        bool exec = false, status = false;
        for (size_t i = 0; i < json_object_array_length(cmds); i++) {
                json_object *e = json_object_array_get_idx(cmds, i), *jn, *je;
                if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "name", &jn) ||
                    !json_object_is_type(jn, json_type_string) || !json_object_object_get_ex(e, "enabled", &je) ||
                    !json_object_is_type(je, json_type_boolean))
                        continue;
                const char *name = json_object_get_string(jn);
                if (streq(name, "guest-exec"))
                        exec = json_object_get_boolean(je);
                else if (streq(name, "guest-exec-status"))
                        status = json_object_get_boolean(je);
        }
        json_object_put(info);
        if (!exec || !status)
                return set_error(c, -EACCES, "qemu-guest-agent forbids %s (disabled by its allow-list or --block-rpcs)",
                                 !exec ? "guest-exec" : "guest-exec-status");
        c->exec_ok = true;
        return 0;
}

static int finish_connect(QgaClient *c, QgaClient **ret) {
        /* A ping first: a silent or garbled agent fails here with its own reason. */
        json_object *v = NULL;
        int r = call(c, "guest-ping", NULL, &v);
        json_object_put(v);
        if (r >= 0)
                r = qga_client_check_exec(c);
        let_go(c);
        if (r < 0) {
                snprintf(connect_error, sizeof connect_error, "%s", c->error);
                qga_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int qga_client_connect(const char *socket_path, usec_t timeout, QgaClient **ret) {
        QgaClient *c = client_new(timeout);
        if (!c || !(c->path = strdup(socket_path))) {
                qga_client_free(c);
                return -ENOMEM;
        }
        snprintf(c->transport, sizeof c->transport, "qga socket %s", socket_path);
        snprintf(c->key, sizeof c->key, "socket:%s", socket_path);
        pending_adopt(c);
        return finish_connect(c, ret);
}

int qga_client_connect_fd(int fd, usec_t timeout, QgaClient **ret) {
        QgaClient *c = client_new(timeout);
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        snprintf(c->transport, sizeof c->transport, "qga fd");
        return finish_connect(c, ret);
}

int qga_client_connect_hook(const Domain *d, usec_t timeout, QgaClient **ret) {
        pthread_mutex_lock(&hook_lock);
        QgaCommandHook h = hook;
        pthread_mutex_unlock(&hook_lock);
        if (!h.command) {
                snprintf(connect_error, sizeof connect_error, "no way to reach this domain's qemu-guest-agent");
                return -ENOTCONN;
        }
        QgaClient *c = client_new(timeout);
        if (!c)
                return -ENOMEM;
        c->hook = h;
        snprintf(c->transport, sizeof c->transport, "qga libvirt");
        snprintf(c->key, sizeof c->key, "libvirt:%s:%s", d->libvirt_uri ? d->libvirt_uri : "",
                 d->uuid ? d->uuid : d->name ? d->name : "");
        pending_adopt(c);
        if (h.open) {
                char err[400] = "";
                int r = h.open(d, h.userdata, &c->handle, err, sizeof err);
                if (r < 0) {
                        set_error(NULL, r, "%s", err[0] ? err : strerror(-r));
                        c->hook.close = NULL;
                        qga_client_free(c);
                        return r;
                }
        }
        return finish_connect(c, ret);
}

/* ---- base64 ---- */

static int b64_value(unsigned char ch) {
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

int qga_base64_decode(const char *in, size_t len, char **ret, size_t *ret_len) {
        if (len % 4)
                return -EBADMSG;
        char *out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                for (int k = 0; k < 4; k++) {
                        v[k] = b64_value((unsigned char) in[i + k]);
                        bool last = i + 4 == len;
                        if (v[k] < 0 && !(in[i + k] == '=' && last && k >= 2 && (k == 3 || in[i + 3] == '='))) {
                                free(out);
                                return -EBADMSG;
                        }
                }
                out[o++] = (char) ((v[0] << 2) | (v[1] >> 4));
                if (v[2] >= 0)
                        out[o++] = (char) (((v[1] & 15) << 4) | (v[2] >> 2));
                if (v[2] >= 0 && v[3] >= 0)
                        out[o++] = (char) (((v[2] & 3) << 6) | v[3]);
                else if (v[2] < 0 && v[3] >= 0) {
                        free(out);
                        return -EBADMSG;
                }
        }
        out[o] = 0;
        *ret = out;
        *ret_len = o;
        return 0;
}

/* ---- guest-exec ---- */

static void pending_add(QgaClient *c, int64_t pid) {
        for (size_t i = 0; i < c->n_pending; i++)
                if (c->pending[i] == pid)
                        return;
        if (c->n_pending == QGA_PENDING_MAX) {   /* forget the oldest */
                memmove(c->pending, c->pending + 1, (QGA_PENDING_MAX - 1) * sizeof c->pending[0]);
                c->n_pending--;
        }
        c->pending[c->n_pending++] = pid;
}

/* Ask after every pending guest-exec'd pid once: forget those that exited
 * (qemu-ga drops its record when it reports the exit) or that qemu-ga no
 * longer knows.  Returns how many still run (the first in *ret_pid), or a
 * transport error. */
static int pending_reap(QgaClient *c, int64_t *ret_pid) {
        usec_t deadline = now_usec() + c->timeout;
        size_t k = 0;
        int running = 0;
        for (size_t i = 0; i < c->n_pending; i++) {
                json_object *sa = json_object_new_object(), *st = NULL, *jx;
                if (!sa)
                        return -ENOMEM;
                json_object_object_add(sa, "pid", json_object_new_int64(c->pending[i]));
                int r = call_until(c, "guest-exec-status", sa, deadline, &st);
                if (r < 0 && (is_transport_error(r) || r == -EPROTO || r == -ENOTCONN || r == -ENOMEM || r == -ETIMEDOUT)) {
                        /* keep the rest for the next time */
                        memmove(c->pending + k, c->pending + i, (c->n_pending - i) * sizeof c->pending[0]);
                        c->n_pending = k + (c->n_pending - i);
                        return r;
                }
                bool still = r >= 0 && json_object_is_type(st, json_type_object) &&
                             json_object_object_get_ex(st, "exited", &jx) && json_object_is_type(jx, json_type_boolean) &&
                             !json_object_get_boolean(jx);
                json_object_put(st);
                if (still) {
                        if (running++ == 0 && ret_pid)
                                *ret_pid = c->pending[i];
                        c->pending[k++] = c->pending[i];
                }
        }
        c->n_pending = k;
        return running;
}

static int get_int(json_object *o, const char *key, bool required, int64_t min, int64_t max, int64_t *ret) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v))
                return required ? -EBADMSG : 0;
        if (!json_object_is_type(v, json_type_int))
                return -EBADMSG;
        errno = 0;
        int64_t x = json_object_get_int64(v);
        if (errno || x < min || x > max)
                return -EBADMSG;
        *ret = x;
        return 1;
}

static void nap(usec_t us) {
        struct timespec ts = { .tv_sec = (time_t) (us / USEC_PER_SEC), .tv_nsec = (long) (us % USEC_PER_SEC) * 1000 };
        nanosleep(&ts, NULL);
}

int qga_client_exec(QgaClient *c, const char *const *argv, size_t max_out, char **ret_out, size_t *ret_out_len,
                    int *ret_status) {
        if (!argv || !argv[0])
                return -EINVAL;
        usec_t deadline = now_usec() + c->timeout;
        json_object *args = json_object_new_object(), *arr = json_object_new_array();
        if (!args || !arr) {
                json_object_put(args);
                json_object_put(arr);
                return -ENOMEM;
        }
        json_object_object_add(args, "path", json_object_new_string(argv[0]));
        for (size_t i = 1; argv[i]; i++)
                json_object_array_add(arr, json_object_new_string(argv[i]));
        json_object_object_add(args, "arg", arr);
        json_object_object_add(args, "capture-output", json_object_new_boolean(true));
        json_object *v = NULL;
        int r = call_until(c, "guest-exec", args, deadline, &v);
        if (r < 0)
                return r;
        int64_t pid = 0;
        if (!json_object_is_type(v, json_type_object) || get_int(v, "pid", true, 1, INT32_MAX, &pid) < 0) {
                json_object_put(v);
                return set_error(c, -EBADMSG, "qemu-guest-agent: guest-exec: reply without a pid");
        }
        json_object_put(v);

        usec_t wait = 2 * USEC_PER_MSEC;
        for (;;) {
                nap(wait);
                wait = MIN(wait * 2, 50 * USEC_PER_MSEC);
                json_object *sa = json_object_new_object();
                if (!sa)
                        return -ENOMEM;
                json_object_object_add(sa, "pid", json_object_new_int64(pid));
                json_object *st = NULL;
                r = call_until(c, "guest-exec-status", sa, deadline, &st);
                if (r < 0) {
                        pending_add(c, pid);   /* still running, or its status not yet collected */
                        return r;
                }
                json_object *jx, *jout, *jtr;
                if (!json_object_is_type(st, json_type_object) || !json_object_object_get_ex(st, "exited", &jx) ||
                    !json_object_is_type(jx, json_type_boolean)) {
                        json_object_put(st);
                        return set_error(c, -EBADMSG, "qemu-guest-agent: guest-exec-status: no 'exited'");
                }
                if (!json_object_get_boolean(jx)) {
                        json_object_put(st);
                        if (now_usec() >= deadline) {
                                pending_add(c, pid);
                                return set_error(c, -ETIMEDOUT, "guest command (pid %" PRId64 ") still running after %.1f s",
                                                 pid, (double) c->timeout / 1e6);
                        }
                        continue;
                }
                int64_t code = 0, sig = 0;
                if (get_int(st, "exitcode", false, INT32_MIN, INT32_MAX, &code) < 0 ||
                    get_int(st, "signal", false, 0, 1024, &sig) < 0) {
                        json_object_put(st);
                        return set_error(c, -EBADMSG, "qemu-guest-agent: guest-exec-status: bad exit code");
                }
                if (json_object_object_get_ex(st, "out-truncated", &jtr) && json_object_get_boolean(jtr)) {
                        json_object_put(st);
                        return set_error(c, -EMSGSIZE, "guest command output truncated by qemu-guest-agent");
                }
                _cleanup_free_ char *out = NULL;
                size_t out_len = 0;
                if (json_object_object_get_ex(st, "out-data", &jout)) {
                        if (!json_object_is_type(jout, json_type_string)) {
                                json_object_put(st);
                                return set_error(c, -EBADMSG, "qemu-guest-agent: out-data is not a string");
                        }
                        size_t b64 = (size_t) json_object_get_string_len(jout);
                        if (b64 / 4 * 3 > max_out) {
                                json_object_put(st);
                                return set_error(c, -EMSGSIZE, "guest command output longer than %zu bytes", max_out);
                        }
                        r = qga_base64_decode(json_object_get_string(jout), b64, &out, &out_len);
                        if (r < 0) {
                                json_object_put(st);
                                return set_error(c, r, "qemu-guest-agent: out-data is not base64");
                        }
                } else if (!(out = strdup("")))
                        r = -ENOMEM;
                json_object_put(st);
                if (r < 0)
                        return r;
                *ret_status = sig ? 128 + (int) sig : (int) code;
                if (ret_out_len)
                        *ret_out_len = out_len;
                *ret_out = TAKE_PTR(out);
                return 0;
        }
}

/* ---- the reader's output ---- */

static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        if (!*s)
                return -EBADMSG;
        uint64_t x = 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                x = x * 10 + (uint64_t) (*s - '0');
        }
        if (x > max)
                return -EBADMSG;
        *ret = x;
        return 0;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret) {
        bool neg = *s == '-';
        uint64_t u;
        if (parse_u64(s + neg, (uint64_t) INT64_MAX, &u) < 0)
                return -EBADMSG;
        int64_t x = neg ? -(int64_t) u : (int64_t) u;
        if (x < min || x > max)
                return -EBADMSG;
        *ret = x;
        return 0;
}

static int cmp_task(const void *a, const void *b) {
        const GuestTask *x = a, *y = b;
        return (x->tid > y->tid) - (x->tid < y->tid);
}

_printf_(4, 5) static int perr(char *err, size_t size, int r, const char *fmt, ...) {
        if (err && size) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, size, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* "S TGID TID (COMM) STATE F4 ... F41 ..." → t. */
static int parse_stat_line(char *line, GuestTask *t, char *err, size_t size) {
        char *sp = strchr(line, ' ');
        if (!sp)
                return perr(err, size, -EBADMSG, "reader: short line");
        *sp = 0;
        uint64_t tgid, tid;
        if (parse_u64(line, PID_LIMIT, &tgid) < 0 || tgid == 0)
                return perr(err, size, -EBADMSG, "reader: bad pid");
        char *rest = sp + 1;
        char *open = strchr(rest, '('), *close = strrchr(rest, ')');
        if (!open || !close || close < open || open == rest || open[-1] != ' ' || close[1] != ' ')
                return perr(err, size, -EBADMSG, "reader: stat line without (comm)");
        open[-1] = 0;
        if (parse_u64(rest, PID_LIMIT, &tid) < 0 || tid == 0)
                return perr(err, size, -EBADMSG, "reader: bad tid");
        /* The kernel's comm is 15 bytes; a workqueue worker's name in stat
         * is longer ("kworker/u8:1-events_unbound"): kept to 15. */
        size_t comm_len = (size_t) (close - open - 1);
        if (comm_len > COMM_STAT_MAX)
                return perr(err, size, -EBADMSG, "reader: comm longer than %d bytes", COMM_STAT_MAX);
        *t = (GuestTask) { .pid = (pid_t) tgid, .tid = (pid_t) tid, .policy = -1 };
        for (size_t i = 0; i < MIN(comm_len, (size_t) GUEST_COMM_MAX - 1); i++) {
                unsigned char ch = (unsigned char) open[1 + i];
                t->comm[i] = (char) (ch >= 0x20 && ch < 0x7f ? ch : '?');
        }
        /* fields 3.. after the comm */
        char *f[40];
        size_t n = 0;
        char *save = NULL;
        for (char *tok = strtok_r(close + 2, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                if (n < ELEMENTSOF(f))
                        f[n] = tok;
                n++;
        }
        if (n < 39)
                return perr(err, size, -EBADMSG, "reader: stat line of tid %d has %zu fields", t->tid, n + 2);
        /* f[k] is field k+3 */
        if (strlen(f[0]) != 1 || !((f[0][0] >= 'A' && f[0][0] <= 'Z') || (f[0][0] >= 'a' && f[0][0] <= 'z')))
                return perr(err, size, -EBADMSG, "reader: bad state of tid %d", t->tid);
        t->state = f[0][0];
        uint64_t flags, utime, stime, start, cpu, rtprio, policy;
        int64_t nice;
        if (parse_u64(f[6], UINT32_MAX, &flags) < 0 || parse_u64(f[11], UINT64_MAX / 2, &utime) < 0 ||
            parse_u64(f[12], UINT64_MAX / 2, &stime) < 0 || parse_i64(f[16], -20, 19, &nice) < 0 ||
            parse_u64(f[19], UINT64_MAX / 2, &start) < 0 || parse_u64(f[36], 1 << 20, &cpu) < 0 ||
            parse_u64(f[37], 99, &rtprio) < 0 || parse_u64(f[38], 6, &policy) < 0)
                return perr(err, size, -EBADMSG, "reader: bad numbers in the stat line of tid %d", t->tid);
        uint64_t ticks = utime + stime;
        if (ticks > (uint64_t) INT64_MAX / (1000000000 / USER_HZ) || start > (uint64_t) INT64_MAX / (1000000000 / USER_HZ))
                return perr(err, size, -EBADMSG, "reader: cpu time of tid %d out of range", t->tid);
        bool rt = policy == SCHED_FIFO || policy == SCHED_RR;
        if (policy == 4 || (rt ? rtprio < 1 : rtprio != 0))
                return perr(err, size, -EBADMSG, "reader: policy %" PRIu64 " with priority %" PRIu64 " (tid %d)", policy,
                            rtprio, t->tid);
        t->cpu_ns = ticks * (1000000000 / USER_HZ);
        t->start_time_ns = start * (1000000000 / USER_HZ);
        t->nice = (int) nice;
        t->cpu = (int) cpu;
        t->rt_priority = (int) rtprio;
        t->policy = (int) policy;
        t->is_kthread = flags & PF_KTHREAD;
        return 0;
}

typedef struct Cmdline {
        pid_t pid;
        char cmdline[GUEST_CMDLINE_MAX];
} Cmdline;

static int cmp_cmdline(const void *a, const void *b) {
        const Cmdline *x = a, *y = b;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

int qga_parse_tasks(const char *text, size_t len, pid_t skip_pid, size_t max_tasks, GuestTask **ret, size_t *ret_n,
                    char *err, size_t err_size) {
        if (memchr(text, 0, len))
                return perr(err, err_size, -EBADMSG, "reader: output holds a NUL byte");
        _cleanup_free_ char *buf = strndup(text, len);
        if (!buf)
                return -ENOMEM;
        _cleanup_free_ GuestTask *tasks = NULL;
        _cleanup_free_ Cmdline *cmds = NULL;
        size_t n = 0, cap = 0, n_cmds = 0, cap_cmds = 0;
        bool header = false, end = false;
        pid_t agents[4];
        size_t n_agents = 0;
        char *save = NULL;
        int r;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (end)
                        return perr(err, err_size, -EBADMSG, "reader: output after the end marker");
                if (!header) {
                        if (!streq(line, "XVQGA1"))
                                return perr(err, err_size, -EBADMSG, "reader: output does not start with XVQGA1");
                        header = true;
                } else if (streq(line, "E"))
                        end = true;
                else if (strneq(line, "A ", 2)) {
                        /* qemu-ga (the reader's parent) and the watchdog: by
                         * pid, not by a name that any process can take */
                        uint64_t pid;
                        if (parse_u64(line + 2, PID_LIMIT, &pid) < 0 || pid == 0)
                                return perr(err, err_size, -EBADMSG, "reader: bad agent pid");
                        if (n_agents >= ELEMENTSOF(agents))
                                return perr(err, err_size, -EBADMSG, "reader: too many agent pids");
                        agents[n_agents++] = (pid_t) pid;
                }
                else if (strneq(line, "S ", 2)) {
                        GuestTask t;
                        r = parse_stat_line(line + 2, &t, err, err_size);
                        if (r < 0)
                                return r;
                        if (t.pid == skip_pid)
                                continue;
                        if (n >= max_tasks)
                                return perr(err, err_size, -E2BIG, "reader: more than %zu threads", max_tasks);
                        if (n == cap) {
                                size_t nc = cap ? cap * 2 : 256;
                                GuestTask *g = realloc(tasks, nc * sizeof *g);
                                if (!g)
                                        return -ENOMEM;
                                tasks = g;
                                cap = nc;
                        }
                        tasks[n++] = t;
                } else if (strneq(line, "C ", 2)) {
                        char *sp = strchr(line + 2, ' ');
                        uint64_t pid;
                        if (sp)
                                *sp = 0;
                        if (parse_u64(line + 2, PID_LIMIT, &pid) < 0)
                                return perr(err, err_size, -EBADMSG, "reader: bad pid in a command line");
                        const char *cmd = sp ? sp + 1 : "";
                        char clean[GUEST_CMDLINE_MAX];
                        size_t o = 0;
                        for (; *cmd && o + 1 < sizeof clean; cmd++)
                                clean[o++] = ((unsigned char) *cmd >= 0x20 && *cmd != 0x7f) ? *cmd : '?';
                        while (o > 0 && clean[o - 1] == ' ')
                                o--;
                        clean[o] = 0;
                        if (n_cmds >= max_tasks)
                                return perr(err, err_size, -E2BIG, "reader: more than %zu command lines", max_tasks);
                        if (n_cmds == cap_cmds) {
                                size_t nc = cap_cmds ? cap_cmds * 2 : 64;
                                Cmdline *g = realloc(cmds, nc * sizeof *g);
                                if (!g)
                                        return -ENOMEM;
                                cmds = g;
                                cap_cmds = nc;
                        }
                        cmds[n_cmds].pid = (pid_t) pid;
                        memcpy(cmds[n_cmds++].cmdline, clean, o + 1);
                } else
                        return perr(err, err_size, -EBADMSG, "reader: unexpected line");
        }
        if (!end)
                return perr(err, err_size, -EBADMSG, "reader: output %s", header ? "cut short (no end marker)" : "empty");
        /* command lines to every thread of their process */
        if (n_cmds > 0)
                qsort(cmds, n_cmds, sizeof *cmds, cmp_cmdline);
        for (size_t i = 0; i < n; i++) {
                Cmdline key = { .pid = tasks[i].pid };
                const Cmdline *m = n_cmds ? bsearch(&key, cmds, n_cmds, sizeof *cmds, cmp_cmdline) : NULL;
                if (m)
                        memcpy(tasks[i].cmdline, m->cmdline, sizeof tasks[i].cmdline);
        }
        /* qemu-ga's threads and the watchdog are the agent */
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < n_agents; k++)
                        if (tasks[i].pid == agents[k])
                                tasks[i].is_agent = true;
        if (n > 0)
                qsort(tasks, n, sizeof *tasks, cmp_task);
        for (size_t i = 1; i < n; i++)
                if (tasks[i].tid == tasks[i - 1].tid)
                        return perr(err, err_size, -EBADMSG, "reader: thread %d listed twice", tasks[i].tid);
        *ret = TAKE_PTR(tasks);
        *ret_n = n;
        return 0;
}

/* ---- operations ---- */

static void token(QgaClient *c, char *buf, size_t size) {
        snprintf(buf, size, "%" PRIx64 "-%" PRIu64, c->seed, ++c->counter);
}

/* Run script with args through /bin/sh; the output's first line as a number. */
static int run_script(QgaClient *c, const char *what, const char *script, const char *const *args, size_t max_out,
                      char **ret_out, size_t *ret_len) {
        const char *argv[12] = { "/bin/sh", "-c", script, "xvsched-qga" };
        size_t k = 4;
        for (size_t i = 0; args && args[i] && k + 1 < ELEMENTSOF(argv); i++)
                argv[k++] = args[i];
        argv[k] = NULL;
        int status = 0;
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        int r = qga_client_exec(c, argv, max_out, &out, &len, &status);
        let_go(c);
        if (r < 0)
                return r;
        c->last_beat = now_usec();
        switch (status) {
        case 0:
                break;
        case 3:
                return set_error(c, -ESRCH, "%s: no such guest process", what);
        case 4:
                return set_error(c, -EPERM, "%s: not allowed (init, a kernel thread or qemu-guest-agent itself)", what);
        case 5:
                return set_error(c, -EPERM, "%s: the signal failed in the guest", what);
        case 90:
        case 91:
                return set_error(c, -EIO, "%s: no safe state directory in the guest (/run/xvsched-qga)", what);
        case 126:
        case 127:
                return set_error(c, -ENOEXEC, "%s: the guest has no /bin/sh or a tool it needs", what);
        default:
                return set_error(c, -EREMOTEIO, "%s: the guest script failed (status %d)", what, status);
        }
        if (ret_out) {
                *ret_out = TAKE_PTR(out);
                if (ret_len)
                        *ret_len = len;
                return 0;
        }
        int64_t v = 0;
        char *nl = strchr(out, '\n');
        if (nl)
                *nl = 0;
        if (parse_i64(out, 0, INT32_MAX, &v) < 0)
                return set_error(c, -EBADMSG, "%s: unexpected output from the guest script", what);
        return (int) v;
}

/* Up to this many known pids go to the reader (its argument stays far
 * below the kernel's 128 KiB per argument). */
#define KNOWN_ARG_MAX 8000u

static const GuestTask *find_known(const QgaClient *c, pid_t pid) {
        size_t lo = 0, hi = c->n_known;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (c->known[mid].pid == pid)
                        return &c->known[mid];
                if (c->known[mid].pid < pid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* Fill the command lines the reader left out from the cache (same pid,
 * start time and comm: not a reused pid, not an exec since), then keep
 * every leader's non-empty command line for the next poll. */
static int apply_known(QgaClient *c, GuestTask *t, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (t[i].cmdline[0] || t[i].is_kthread)
                        continue;
                /* the leader of t[i]'s group (sorted by tid; the leader's tid is its pid) */
                const GuestTask *k = find_known(c, t[i].pid);
                GuestTask key = { .tid = t[i].pid };
                const GuestTask *leader = bsearch(&key, t, n, sizeof *t, cmp_task);
                if (k && leader && k->start_time_ns == leader->start_time_ns && streq(k->comm, leader->comm))
                        memcpy(t[i].cmdline, k->cmdline, sizeof t[i].cmdline);
        }
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
                m += t[i].tid == t[i].pid && t[i].cmdline[0] && !t[i].is_kthread;
        GuestTask *known = calloc(m ? m : 1, sizeof *known);
        if (!known)
                return -ENOMEM;
        m = 0;
        for (size_t i = 0; i < n; i++)
                if (t[i].tid == t[i].pid && t[i].cmdline[0] && !t[i].is_kthread)
                        known[m++] = t[i];   /* sorted by tid == pid */
        free(c->known);
        c->known = known;
        c->n_known = m;
        return 0;
}

int qga_client_tasks(QgaClient *c, GuestTask **ret, size_t *ret_n) {
        if (c->n_pending > 0) {
                int64_t busy = 0;
                int k = pending_reap(c, &busy);
                let_go(c);
                if (k < 0)
                        return k;
                if (k > 0)
                        return set_error(c, -EBUSY,
                                         "the previous guest command (pid %" PRId64 ") is still running in the guest; "
                                         "not starting another reader", busy);
        }
        char tok[64] = "";
        if (c->held)
                token(c, tok, sizeof tok);
        _cleanup_free_ char *known = malloc((size_t) MIN(c->n_known, KNOWN_ARG_MAX) * 12 + 1);
        if (!known)
                return -ENOMEM;
        size_t o = 0;
        for (size_t i = 0; i < c->n_known && i < KNOWN_ARG_MAX; i++)
                o += (size_t) sprintf(known + o, "%s%d", o ? " " : "", (int) c->known[i].pid);
        known[o] = 0;
        const char *args[] = { tok, known, NULL };
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        /* base64 of the output must fit in one reply */
        size_t max_out = c->reply_max / 4 * 3;
        max_out = max_out > 8192 ? max_out - 4096 : max_out / 2;
        int r = run_script(c, "listing tasks", QGA_SH_READER, args, max_out, &out, &len);
        if (r < 0)
                return r;
        char err[200] = "";
        GuestTask *t = NULL;
        size_t n = 0;
        r = qga_parse_tasks(out, len, 0, QGA_MAX_TASKS, &t, &n, err, sizeof err);
        if (r < 0)
                return set_error(c, r, "%s", err);
        r = apply_known(c, t, n);
        if (r < 0) {
                free(t);
                return r;
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

int qga_client_stop(QgaClient *c, pid_t pid) {
        if (pid <= 0)
                return -EINVAL;
        char p[16], lease[16], tok[64];
        snprintf(p, sizeof p, "%d", (int) pid);
        snprintf(lease, sizeof lease, "%u", c->lease);
        token(c, tok, sizeof tok);
        c->held = true;
        const char *args[] = { p, lease, tok, QGA_SH_WATCHDOG, NULL };
        int r = run_script(c, "stop", QGA_SH_STOP, args, 4096, NULL, NULL);
        return r < 0 ? r : 0;
}

int qga_client_cont(QgaClient *c, pid_t pid) {
        if (pid <= 0)
                return -EINVAL;
        char p[16], tok[64];
        snprintf(p, sizeof p, "%d", (int) pid);
        token(c, tok, sizeof tok);
        const char *args[] = { p, tok, NULL };
        int r = run_script(c, "cont", QGA_SH_CONT, args, 4096, NULL, NULL);
        return r < 0 ? r : 0;
}

int qga_client_nice(QgaClient *c, pid_t pid, int nice) {
        if (pid <= 0 || nice < -20 || nice > 19)
                return -EINVAL;
        char p[16], v[16], lease[16], tok[64];
        snprintf(p, sizeof p, "%d", (int) pid);
        snprintf(v, sizeof v, "%d", nice);
        snprintf(lease, sizeof lease, "%u", c->lease);
        token(c, tok, sizeof tok);
        c->held = true;
        const char *args[] = { p, v, lease, tok, QGA_SH_WATCHDOG, NULL };
        return run_script(c, "nice", QGA_SH_NICE, args, 4096, NULL, NULL);
}

int qga_client_keepalive(QgaClient *c) {
        /* Every call renews the heartbeat; renew only when nothing did for a
         * third of the lease, and only while something may be held. */
        if (!c->held || now_usec() - c->last_beat < (usec_t) c->lease * USEC_PER_SEC / 3)
                return 0;
        char tok[64];
        token(c, tok, sizeof tok);
        const char *args[] = { tok, NULL };
        int r = run_script(c, "keepalive", QGA_SH_BEAT, args, 4096, NULL, NULL);
        return r < 0 ? r : 0;
}

int qga_client_release(QgaClient *c) {
        int r = run_script(c, "release", QGA_SH_RELEASE, NULL, 4096, NULL, NULL);
        if (r >= 0)
                c->held = false;
        return r;
}
