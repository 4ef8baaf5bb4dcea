/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/socket-util.h"
#include "basic/time-util.h"
#include "qmp/qmp.h"

struct QmpClient {
        int fd;
        int timeout_ms;
        unsigned next_id;
        char *buf;          /* received, not yet consumed bytes */
        size_t len, cap;
        char version[64];
        char error[256];
};

void qmp_free(QmpClient *q) {
        if (!q)
                return;
        if (q->fd >= 0)
                close(q->fd);
        free(q->buf);
        free(q);
}

const char *qmp_version(const QmpClient *q) {
        return q->version;
}

const char *qmp_last_error(const QmpClient *q) {
        return q->error;
}

static int set_error(QmpClient *q, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(QmpClient *q, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(q->error, sizeof q->error, fmt, ap);
        va_end(ap);
        return r;
}

/* Read one line (without '\n') within the deadline.  *ret is malloc'd. */
static int read_line(QmpClient *q, long long deadline, char **ret) {
        for (;;) {
                char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
                if (nl) {
                        size_t n = (size_t) (nl - q->buf);
                        char *line = strndup(q->buf, n);
                        if (!line)
                                return -ENOMEM;
                        memmove(q->buf, nl + 1, q->len - n - 1);
                        q->len -= n + 1;
                        *ret = line;
                        return 0;
                }
                if (q->len >= QMP_MAX_LINE)
                        return set_error(q, -EMSGSIZE, "QMP line longer than %u bytes", QMP_MAX_LINE);
                if (q->cap - q->len < 4096) {
                        size_t ncap = q->cap ? q->cap * 2 : 16384;
                        if (ncap > QMP_MAX_LINE + 4096)
                                ncap = QMP_MAX_LINE + 4096;
                        char *n = realloc(q->buf, ncap);
                        if (!n)
                                return -ENOMEM;
                        q->buf = n;
                        q->cap = ncap;
                }
                long long left = deadline - now_msec();
                if (left <= 0)
                        return set_error(q, -ETIMEDOUT, "no reply from QEMU within %d ms", q->timeout_ms);
                struct pollfd p = { .fd = q->fd, .events = POLLIN };
                int k = poll(&p, 1, (int) left);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        continue;
                ssize_t got = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
                if (got < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return negative_errno();
                }
                if (got == 0)
                        return set_error(q, -ECONNRESET, "QEMU closed the monitor connection");
                q->len += (size_t) got;
        }
}

/* Send within the deadline: a peer that does not read cannot block us. */
static int send_all(QmpClient *q, const char *s, size_t n, long long deadline) {
        while (n > 0) {
                ssize_t k = send(q->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return negative_errno();
                        long long left = deadline - now_msec();
                        if (left <= 0)
                                return -ETIMEDOUT;
                        struct pollfd p = { .fd = q->fd, .events = POLLOUT };
                        if (poll(&p, 1, (int) left) < 0 && errno != EINTR)
                                return negative_errno();
                        continue;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Parse a line as a JSON object; -EPROTO if it is not one. */
static int parse_object(QmpClient *q, const char *line, json_object **ret) {
        json_tokener *tok = json_tokener_new_ex(64);
        if (!tok)
                return -ENOMEM;
        json_object *o = json_tokener_parse_ex(tok, line, (int) strlen(line));
        enum json_tokener_error e = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!o || e != json_tokener_success || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return set_error(q, -EPROTO, "malformed QMP message: %.60s", line);
        }
        *ret = o;
        return 0;
}

static int execute_until(QmpClient *q, const char *command, json_object *args, json_object **ret_return,
                         long long deadline) {
        char id[32];
        snprintf(id, sizeof id, "xv-%u", ++q->next_id);

        json_object *cmd = json_object_new_object();
        if (!cmd) {
                json_object_put(args);
                return -ENOMEM;
        }
        json_object_object_add(cmd, "execute", json_object_new_string(command));
        if (args)
                json_object_object_add(cmd, "arguments", args);
        json_object_object_add(cmd, "id", json_object_new_string(id));
        const char *s = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
        _cleanup_free_ char *wire = NULL;
        if (asprintf(&wire, "%s\n", s) < 0) {
                json_object_put(cmd);
                return -ENOMEM;
        }
        json_object_put(cmd);

        q->error[0] = 0;
        int r = send_all(q, wire, strlen(wire), deadline);
        if (r < 0)
                return set_error(q, r, "cannot send to QEMU: %s", strerror(-r));

        for (unsigned skipped = 0; skipped <= QMP_MAX_EVENTS; skipped++) {
                _cleanup_free_ char *line = NULL;
                r = read_line(q, deadline, &line);
                if (r < 0)
                        return r;
                json_object *o;
                r = parse_object(q, line, &o);
                if (r < 0)
                        return r;
                json_object *v;
                if (json_object_object_get_ex(o, "event", &v)) {
                        json_object_put(o);
                        continue;
                }
                json_object *rid;
                if (!json_object_object_get_ex(o, "id", &rid) || !json_object_is_type(rid, json_type_string) ||
                    !streq(json_object_get_string(rid), id)) {
                        json_object_put(o);
                        return set_error(q, -EPROTO, "QMP reply with a wrong or missing id (wanted %s)", id);
                }
                if (json_object_object_get_ex(o, "error", &v)) {
                        json_object *cls = NULL, *desc = NULL;
                        json_object_object_get_ex(v, "class", &cls);
                        json_object_object_get_ex(v, "desc", &desc);
                        set_error(q, -EREMOTEIO, "%s: %s", cls ? json_object_get_string(cls) : "Error",
                                  desc ? json_object_get_string(desc) : "(no description)");
                        json_object_put(o);
                        return -EREMOTEIO;
                }
                if (!json_object_object_get_ex(o, "return", &v)) {
                        json_object_put(o);
                        return set_error(q, -EPROTO, "QMP reply has neither return nor error");
                }
                if (ret_return)
                        *ret_return = json_object_get(v);
                json_object_put(o);
                return 0;
        }
        return set_error(q, -EPROTO, "more than %u QMP events before the reply", QMP_MAX_EVENTS);
}

int qmp_execute(QmpClient *q, const char *command, json_object *args, json_object **ret_return) {
        return execute_until(q, command, args, ret_return, now_msec() + q->timeout_ms);
}

static int timeout_or_default(int timeout_ms) {
        return timeout_ms > 0 ? timeout_ms : QMP_DEFAULT_TIMEOUT_MS;
}

/* Greeting and capabilities negotiation, all of it before the deadline. */
static int handshake(int fd, int timeout_ms, long long deadline, QmpClient **ret) {
        QmpClient *q = calloc(1, sizeof *q);
        if (!q) {
                close(fd);
                return -ENOMEM;
        }
        q->fd = fd;
        q->timeout_ms = timeout_ms;

        _cleanup_free_ char *line = NULL;
        json_object *greeting = NULL, *v;
        int r = read_line(q, deadline, &line);
        if (r >= 0)
                r = parse_object(q, line, &greeting);
        if (r >= 0 && !json_object_object_get_ex(greeting, "QMP", &v))
                r = set_error(q, -EPROTO, "no QMP greeting (is this a QMP socket?)");
        if (r >= 0) {
                json_object *ver, *qemu, *maj, *min, *mic;
                if (json_object_object_get_ex(v, "version", &ver) && json_object_object_get_ex(ver, "qemu", &qemu) &&
                    json_object_object_get_ex(qemu, "major", &maj) && json_object_object_get_ex(qemu, "minor", &min) &&
                    json_object_object_get_ex(qemu, "micro", &mic))
                        snprintf(q->version, sizeof q->version, "%d.%d.%d", json_object_get_int(maj),
                                 json_object_get_int(min), json_object_get_int(mic));
        }
        json_object_put(greeting);
        if (r >= 0)
                r = execute_until(q, "qmp_capabilities", NULL, NULL, deadline);
        if (r < 0) {
                log_debug("QMP handshake failed: %s", q->error);
                qmp_free(q);
                return r;
        }
        *ret = q;
        return 0;
}

int qmp_connect_fd(int fd, int timeout_ms, QmpClient **ret) {
        timeout_ms = timeout_or_default(timeout_ms);
        return handshake(fd, timeout_ms, now_msec() + timeout_ms, ret);
}

int qmp_connect(const char *path, int timeout_ms, QmpClient **ret) {
        timeout_ms = timeout_or_default(timeout_ms);
        long long deadline = now_msec() + timeout_ms;
        /* The connect, the greeting and qmp_capabilities share one deadline:
         * a listener that never accepts or never greets cannot hang us. */
        int fd;
        int r = unix_connect_until(path, (usec_t) deadline * USEC_PER_MSEC, &fd);
        if (r < 0) {
                log_debug("cannot connect to QMP socket %s: %s", path, strerror(-r));
                return r;
        }
        return handshake(fd, timeout_ms, deadline, ret);
}

static int get_int_member(json_object *o, const char *key, int64_t *ret) {
        json_object *v;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_int))
                return -EPROTO;
        *ret = json_object_get_int64(v);
        return 0;
}

int qmp_query_cpus_fast(QmpClient *q, QmpCpu **ret, size_t *ret_n) {
        json_object *a;
        int r = qmp_execute(q, "query-cpus-fast", NULL, &a);
        if (r < 0)
                return r;
        if (!json_object_is_type(a, json_type_array)) {
                json_object_put(a);
                return set_error(q, -EPROTO, "query-cpus-fast did not return an array");
        }
        size_t n = json_object_array_length(a);
        QmpCpu *cpus = calloc(n ? n : 1, sizeof *cpus);
        if (!cpus) {
                json_object_put(a);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int64_t idx, tid;
                json_object *e = json_object_array_get_idx(a, i);
                if (get_int_member(e, "cpu-index", &idx) < 0 || get_int_member(e, "thread-id", &tid) < 0 ||
                    idx < 0 || idx > 65535 || tid <= 0 || tid > INT32_MAX) {
                        free(cpus);
                        json_object_put(a);
                        return set_error(q, -EPROTO, "query-cpus-fast entry %zu lacks a valid cpu-index/thread-id", i);
                }
                cpus[i] = (QmpCpu) { .index = (int) idx, .thread_id = (pid_t) tid };
        }
        json_object_put(a);
        *ret = cpus;
        *ret_n = n;
        return 0;
}

int qmp_query_iothreads(QmpClient *q, pid_t **ret, size_t *ret_n) {
        json_object *a;
        int r = qmp_execute(q, "query-iothreads", NULL, &a);
        if (r < 0)
                return r;
        if (!json_object_is_type(a, json_type_array)) {
                json_object_put(a);
                return set_error(q, -EPROTO, "query-iothreads did not return an array");
        }
        size_t n = json_object_array_length(a);
        pid_t *tids = calloc(n ? n : 1, sizeof *tids);
        if (!tids) {
                json_object_put(a);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int64_t tid;
                if (get_int_member(json_object_array_get_idx(a, i), "thread-id", &tid) < 0 || tid <= 0 ||
                    tid > INT32_MAX) {
                        free(tids);
                        json_object_put(a);
                        return set_error(q, -EPROTO, "query-iothreads entry %zu lacks a valid thread-id", i);
                }
                tids[i] = (pid_t) tid;
        }
        json_object_put(a);
        *ret = tids;
        *ret_n = n;
        return 0;
}

int qmp_query_name(QmpClient *q, char **ret) {
        json_object *o, *v;
        int r = qmp_execute(q, "query-name", NULL, &o);
        if (r < 0)
                return r;
        r = -ENODATA;
        if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "name", &v) &&
            json_object_is_type(v, json_type_string)) {
                *ret = strdup(json_object_get_string(v));
                r = *ret ? 0 : -ENOMEM;
        }
        json_object_put(o);
        return r;
}

int qmp_query_status(QmpClient *q, bool *ret_running, char **ret_status) {
        json_object *o, *run, *st;
        int r = qmp_execute(q, "query-status", NULL, &o);
        if (r < 0)
                return r;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "running", &run) ||
            !json_object_is_type(run, json_type_boolean) || !json_object_object_get_ex(o, "status", &st) ||
            !json_object_is_type(st, json_type_string)) {
                json_object_put(o);
                return set_error(q, -EPROTO, "query-status reply lacks running/status");
        }
        if (ret_status) {
                *ret_status = strdup(json_object_get_string(st));
                if (!*ret_status) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        if (ret_running)
                *ret_running = json_object_get_boolean(run);
        json_object_put(o);
        return 0;
}

int qmp_stop(QmpClient *q) {
        return qmp_execute(q, "stop", NULL, NULL);
}

int qmp_cont(QmpClient *q) {
        return qmp_execute(q, "cont", NULL, NULL);
}

int qmp_hmp(QmpClient *q, const char *command_line, char **ret_output) {
        json_object *args = json_object_new_object(), *o;
        if (!args)
                return -ENOMEM;
        json_object_object_add(args, "command-line", json_object_new_string(command_line));
        int r = qmp_execute(q, "human-monitor-command", args, &o);
        if (r < 0)
                return r;
        if (!json_object_is_type(o, json_type_string)) {
                json_object_put(o);
                return set_error(q, -EPROTO, "human-monitor-command did not return a string");
        }
        *ret_output = strdup(json_object_get_string(o));
        json_object_put(o);
        return *ret_output ? 0 : -ENOMEM;
}

int qmp_peer_pid(const QmpClient *q, pid_t *ret) {
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (!q || getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
                return q ? negative_errno() : -EINVAL;
        *ret = cr.pid;
        return 0;
}
