/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
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
#include "basic/time-util.h"
#include "view/agent-client.h"

#define DEFAULT_MAX_FOREIGN 32
#define DEFAULT_MAX_TASKS 65536
#define READ_CHUNK 65536
#define PID_LIMIT (1 << 22)
#define JSON_DEPTH 16
/* The largest legitimate reply is a full tasks list.  One task with a
 * 15-byte comm and a 255-byte printable command line is about 470 bytes of
 * JSON (12 members, keys included); 512 per task on average plus 64 KiB for
 * the rest gives the default line limit: 32 MiB + 64 KiB for 65,536 tasks. */
#define BYTES_PER_TASK 512
#define LINE_SLACK (64u << 10)
/* What json-c may build from one line, counted before it builds anything:
 * a tasks reply holds one object per task plus a few (reply, return value,
 * arrays, agent), and at most 14 values per task (12 members and a "gone"
 * entry).  2 MiB of "{}," (700,000 objects) used to cost 531 MB. */
#define CONTAINERS_PER_REPLY 16
#define VALUES_PER_TASK 16
#define VALUES_PER_REPLY 256

static size_t default_max_line(size_t max_tasks) {
        return max_tasks * BYTES_PER_TASK + LINE_SLACK;
}

struct AgentClient {
        int fd;
        char *path;                 /* NULL: cannot reconnect */
        usec_t timeout;
        AgentLimits limits;
        bool synced;
        bool delta;
        uint64_t next_id;

        char *rbuf;                 /* bytes read, not yet consumed */
        size_t rlen, rcap;
        size_t consumed;            /* of the line handed out last */

        char error[512];

        GuestTask *cache;           /* last full list (sorted by tid), for delta mode */
        size_t n_cache;
        char token[80];
        bool have_token;
};

_printf_(3, 4) static int set_error(AgentClient *c, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof c->error, fmt, ap);
        va_end(ap);
        log_debug("agent: %s", c->error);
        return r;
}

static void invalidate_cache(AgentClient *c) {
        c->have_token = false;
        c->token[0] = 0;
}

void agent_client_disconnect(AgentClient *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -EBADF;
        c->synced = false;
        c->rlen = c->consumed = 0;
        invalidate_cache(c);
}

/* Drop the connection after a transport or protocol failure. */
_printf_(3, 4) static int drop(AgentClient *c, int r, const char *fmt, ...) {
        /* Format aside first: callers pass c->error itself as an argument. */
        char msg[sizeof c->error];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        memcpy(c->error, msg, sizeof msg);
        log_debug("agent: %s; dropping the connection", c->error);
        agent_client_disconnect(c);
        return r;
}

static uint64_t random_id_seed(void) {
        uint64_t v = 0;
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (read(fd, &v, sizeof v) != sizeof v)
                        v = 0;
                close(fd);
        }
        v ^= now_usec() ^ ((uint64_t) getpid() << 32);
        /* Keep ids exact in any JSON implementation (< 2^53), far from wrapping. */
        return (v & ((1ULL << 52) - 1)) | 1;
}

static AgentClient *client_new(usec_t timeout) {
        AgentClient *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->fd = -EBADF;
        c->timeout = timeout ? timeout : AGENT_CLIENT_DEFAULT_TIMEOUT;
        c->limits = (AgentLimits) {
                .max_line = default_max_line(DEFAULT_MAX_TASKS),
                .max_foreign_lines = DEFAULT_MAX_FOREIGN,
                .max_tasks = DEFAULT_MAX_TASKS,
        };
        c->delta = true;
        c->next_id = random_id_seed();
        return c;
}

void agent_client_free(AgentClient *c) {
        if (!c)
                return;
        agent_client_disconnect(c);
        free(c->path);
        free(c->rbuf);
        free(c->cache);
        free(c);
}

void agent_client_set_timeout(AgentClient *c, usec_t timeout) {
        c->timeout = timeout ? timeout : AGENT_CLIENT_DEFAULT_TIMEOUT;
}

void agent_client_set_limits(AgentClient *c, const AgentLimits *l) {
        if (l->max_tasks) {
                c->limits.max_tasks = MIN(l->max_tasks, (size_t) PID_LIMIT);
                /* the line limit follows the task limit unless given */
                c->limits.max_line = default_max_line(c->limits.max_tasks);
        }
        if (l->max_line)
                c->limits.max_line = MIN(l->max_line, (size_t) INT32_MAX);
        if (l->max_foreign_lines)
                c->limits.max_foreign_lines = l->max_foreign_lines;
}

/* Containers (objects and arrays) and values json-c may build from one
 * reply line. */
static size_t max_containers(const AgentClient *c) {
        return c->limits.max_tasks + CONTAINERS_PER_REPLY;
}

static size_t max_values(const AgentClient *c) {
        return c->limits.max_tasks * VALUES_PER_TASK + VALUES_PER_REPLY;
}

void agent_client_set_delta(AgentClient *c, bool delta) {
        c->delta = delta;
        if (!delta)
                invalidate_cache(c);
}

void agent_client_set_id_seed(AgentClient *c, uint64_t seed) {
        c->next_id = seed;
}

/* agent_client_connect() frees the client it could not set up; keep its message. */
static _Thread_local char connect_error[512];

const char *agent_client_last_error(const AgentClient *c) {
        return c ? c->error : connect_error;
}

bool agent_client_is_connected(const AgentClient *c) {
        return c && c->fd >= 0;
}

/* ---- transport ---- */

static int connect_unix(AgentClient *c, usec_t deadline) {
        int fd;
        int r = unix_connect_until(c->path, deadline, &fd);
        if (r < 0)
                return set_error(c, r, "cannot connect to %s: %s", c->path, strerror(-r));
        c->fd = fd;
        c->synced = false;
        c->rlen = c->consumed = 0;
        invalidate_cache(c);
        return 0;
}

static int ensure_connected(AgentClient *c, usec_t deadline) {
        if (c->fd >= 0)
                return 0;
        if (!c->path)
                return set_error(c, -ENOTCONN, "not connected (the connection was dropped: %s)",
                                 c->error[0] ? c->error : "closed");
        return connect_unix(c, deadline);
}

static int write_all(AgentClient *c, const char *buf, size_t len, usec_t deadline) {
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
                                        return drop(c, p, p == -ETIMEDOUT ? "timed out writing to the agent (not reading)"
                                                                          : "poll failed");
                                if (p & (POLLERR | POLLHUP) && !(p & POLLOUT))
                                        return drop(c, -ECONNRESET, "agent channel hung up");
                                continue;
                        }
                        int r = negative_errno();
                        return drop(c, r == -EPIPE ? -ECONNRESET : r, "write to the agent failed: %s", strerror(-r));
                }
                buf += k;
                len -= (size_t) k;
        }
        return 0;
}

/* The next line (without '\n'; a '\r' before it and anything up to a 0xFF
 * inside it are dropped).  With want_delim, first discard everything up to
 * and including a 0xFF byte.  The line stays valid until the next call. */
static int read_line(AgentClient *c, usec_t deadline, bool want_delim, char **ret, size_t *ret_len) {
        if (c->consumed > 0) {
                memmove(c->rbuf, c->rbuf + c->consumed, c->rlen - c->consumed);
                c->rlen -= c->consumed;
                c->consumed = 0;
        }
        /* Give back what a long line made us allocate. */
        if (c->rcap > 16 * READ_CHUNK && c->rlen <= READ_CHUNK) {
                char *n = realloc(c->rbuf, 2 * READ_CHUNK);
                if (n) {
                        c->rbuf = n;
                        c->rcap = 2 * READ_CHUNK;
                }
        }
        size_t scanned = 0, discarded = 0;
        for (;;) {
                if (want_delim) {
                        char *d = c->rlen > 0 ? memchr(c->rbuf, 0xFF, c->rlen) : NULL;
                        if (d) {
                                size_t skip = (size_t) (d - c->rbuf) + 1;
                                memmove(c->rbuf, c->rbuf + skip, c->rlen - skip);
                                c->rlen -= skip;
                                want_delim = false;
                                scanned = 0;
                        } else {
                                discarded += c->rlen;
                                c->rlen = 0;
                                if (discarded > c->limits.max_line)
                                        return drop(c, -EPROTO, "no sync delimiter in %zu bytes", discarded);
                        }
                }
                if (!want_delim) {
                        char *nl = c->rlen > scanned ? memchr(c->rbuf + scanned, '\n', c->rlen - scanned) : NULL;
                        if (nl) {
                                size_t len = (size_t) (nl - c->rbuf);
                                c->consumed = len + 1;
                                char *line = c->rbuf;
                                char *ff = NULL;
                                for (char *p = line; p < line + len; p++)
                                        if ((unsigned char) *p == 0xFF)
                                                ff = p;
                                if (ff) {
                                        len -= (size_t) (ff + 1 - line);
                                        line = ff + 1;
                                }
                                if (len > 0 && line[len - 1] == '\r')
                                        len--;
                                if (len > c->limits.max_line)
                                        return drop(c, -EMSGSIZE, "reply line longer than %zu bytes", c->limits.max_line);
                                *ret = line;
                                *ret_len = len;
                                return 0;
                        }
                        scanned = c->rlen;
                        if (c->rlen > c->limits.max_line)
                                return drop(c, -EMSGSIZE, "reply line longer than %zu bytes", c->limits.max_line);
                }
                if (c->rcap - c->rlen < READ_CHUNK) {
                        size_t ncap = c->rcap ? c->rcap * 2 : 2 * READ_CHUNK;
                        while (ncap - c->rlen < READ_CHUNK)
                                ncap *= 2;
                        /* never more than one line at the limit needs */
                        ncap = MIN(ncap, MAX(c->limits.max_line + 2 * READ_CHUNK, c->rlen + READ_CHUNK));
                        char *n = realloc(c->rbuf, ncap);
                        if (!n)
                                return drop(c, -ENOMEM, "out of memory");
                        c->rbuf = n;
                        c->rcap = ncap;
                }
                ssize_t k = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return drop(c, negative_errno(), "read from the agent failed: %s", strerror(errno));
                        int p = fd_poll_until(c->fd, POLLIN, deadline);
                        if (p == -ETIMEDOUT)
                                return set_error(c, p, "timed out waiting for the agent");   /* the caller decides */
                        if (p < 0)
                                return drop(c, p, "poll failed");
                        continue;
                }
                if (k == 0)
                        return drop(c, -ECONNRESET, "agent channel closed");
                c->rlen += (size_t) k;
        }
}

/* ---- replies ---- */

static int class_to_errno(const char *cls) {
        static const struct {
                const char *cls;
                int r;
        } map[] = {
                { "NotFound", -ESRCH },
                { "PermissionDenied", -EPERM },
                { "InvalidParameter", -EINVAL },
                { "InvalidRequest", -EINVAL },
                { "ParseError", -EINVAL },
                { "CommandNotFound", -EOPNOTSUPP },
                { "TooLarge", -E2BIG },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(map[i].cls, cls))
                        return map[i].r;
        return -EREMOTEIO;
}

/* Safe string for messages: printable ASCII only, bounded. */
static void sanitize(char *dst, size_t size, const char *src) {
        size_t o = 0;
        for (; *src && o + 1 < size; src++)
                dst[o++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
        dst[o] = 0;
}

/* Count what json-c would build from a line, without building it: objects
 * and arrays, values, nesting.  Strings are skipped by the JSON lexical rule
 * (a backslash escapes the next byte); json-c checks everything else after
 * this said the line is small enough.  Returns 0, -E2BIG (too many objects,
 * arrays or values, or nested deeper than JSON_DEPTH), or -EBADMSG
 * (unbalanced brackets). */
static int precount_json(const char *line, size_t len, size_t max_containers, size_t max_values) {
        size_t containers = 0, values = 1;
        int depth = 0;
        bool in_str = false;
        for (size_t i = 0; i < len; i++) {
                char ch = line[i];
                if (in_str) {
                        if (ch == '\\')
                                i++;
                        else if (ch == '"')
                                in_str = false;
                        continue;
                }
                switch (ch) {
                case '"':
                        in_str = true;
                        break;
                case '{':
                case '[':
                        if (++containers > max_containers || ++depth > JSON_DEPTH)
                                return -E2BIG;
                        break;
                case '}':
                case ']':
                        if (--depth < 0)
                                return -EBADMSG;
                        break;
                case ',':
                        if (++values > max_values)
                                return -E2BIG;
                        break;
                }
        }
        return 0;
}

static json_object *parse_json_line(const char *line, size_t len) {
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
        json_object *o = json_tokener_parse_ex(tok, line, (int) len);
        bool ok = o && json_tokener_get_error(tok) == json_tokener_success;
        if (ok) {
                size_t end = json_tokener_get_parse_end(tok);
                for (size_t i = end; i < len; i++)
                        if (line[i] != ' ' && line[i] != '\t')
                                ok = false;
        }
        json_tokener_free(tok);
        if (!ok) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* Returns 1 and the reply's "return" value (a new reference) if the line is
 * our reply; 0 if it is not ours (no id or another id: skip it); a mapped
 * -errno if it is our error reply (c->error set); -EBADMSG if malformed. */
static int parse_reply(AgentClient *c, const char *line, size_t len, uint64_t id_lo, uint64_t id_hi,
                       json_object **ret, uint64_t *ret_id) {
        int k = precount_json(line, len, max_containers(c), max_values(c));
        if (k == -E2BIG)
                return set_error(c, -EMSGSIZE, "agent reply has more than %zu objects or %zu values, or nests deeper than %d",
                                 max_containers(c), max_values(c), JSON_DEPTH);
        if (k < 0)
                return set_error(c, -EBADMSG, "agent sent invalid JSON");
        json_object *o = parse_json_line(line, len);
        if (!o)
                return set_error(c, -EBADMSG, "agent sent invalid JSON");
        int r;
        json_object *jid, *jret = NULL, *jerr = NULL;
        if (!json_object_is_type(o, json_type_object)) {
                r = set_error(c, -EBADMSG, "agent reply is not an object");
                goto out;
        }
        if (!json_object_object_get_ex(o, "id", &jid) || !json_object_is_type(jid, json_type_int) ||
            json_object_get_int64(jid) < 0 || (uint64_t) json_object_get_int64(jid) < id_lo ||
            (uint64_t) json_object_get_int64(jid) > id_hi) {
                r = 0;
                goto out;
        }
        *ret_id = (uint64_t) json_object_get_int64(jid);
        bool has_ret = json_object_object_get_ex(o, "return", &jret);
        bool has_err = json_object_object_get_ex(o, "error", &jerr);
        if (has_ret == has_err) {
                r = set_error(c, -EBADMSG, "agent reply has %s", has_ret ? "both return and error" : "neither return nor error");
                goto out;
        }
        if (has_err) {
                json_object *jcls, *jdesc;
                if (!json_object_is_type(jerr, json_type_object) ||
                    !json_object_object_get_ex(jerr, "class", &jcls) || !json_object_is_type(jcls, json_type_string) ||
                    !json_object_object_get_ex(jerr, "desc", &jdesc) || !json_object_is_type(jdesc, json_type_string)) {
                        r = set_error(c, -EBADMSG, "agent error reply is malformed");
                        goto out;
                }
                char cls[64], desc[300];
                sanitize(cls, sizeof cls, json_object_get_string(jcls));
                sanitize(desc, sizeof desc, json_object_get_string(jdesc));
                if (streq(cls, "LeaseExpired")) {
                        /* We were silent past the lease and the agent undid
                         * everything: it takes changes again after a sync
                         * (transact() syncs and sends the request once more). */
                        c->synced = false;
                        r = set_error(c, -EKEYEXPIRED, "agent: %s: %s", cls, desc);
                        goto out;
                }
                r = set_error(c, class_to_errno(cls), "agent: %s: %s", cls, desc);
                goto out;
        }
        *ret = json_object_get(jret);
        r = 1;
out:
        json_object_put(o);
        return r;
}

static bool is_protocol_error(int r) {
        return r == -EBADMSG || r == -EPROTO || r == -EMSGSIZE;
}

/* Wait for the reply to an id in [id_lo, id_hi].  Returns 0, the return
 * value and the id, a remote -errno (connection kept), or a transport or
 * protocol -errno (dropped).  With soft_timeout, -ETIMEDOUT keeps the
 * connection (the caller retries). */
static int wait_reply(AgentClient *c, uint64_t id_lo, uint64_t id_hi, usec_t deadline, bool want_delim,
                      bool soft_timeout, json_object **ret, uint64_t *ret_id) {
        size_t foreign = 0, foreign_bytes = 0;
        for (;;) {
                char *line = NULL;
                size_t len = 0;
                int r = read_line(c, deadline, want_delim, &line, &len);
                if (r == -ETIMEDOUT && !soft_timeout)
                        return drop(c, r, "%s", c->error);
                if (r < 0)
                        return r;
                want_delim = false;
                /* Blank lines count too: a real agent never sends them. */
                uint64_t id = 0;
                r = len == 0 ? 0 : parse_reply(c, line, len, id_lo, id_hi, ret, &id);
                if (r > 0) {
                        if (ret_id)
                                *ret_id = id;
                        return 0;
                }
                if (is_protocol_error(r))
                        return drop(c, r, "%s", c->error);
                if (r < 0)
                        return r;
                if (++foreign > c->limits.max_foreign_lines)
                        return drop(c, -EPROTO, "more than %zu lines without our id", c->limits.max_foreign_lines);
                /* CPU per call: at most one line's limit of lines not ours */
                foreign_bytes += len;
                if (foreign_bytes > c->limits.max_line)
                        return drop(c, -EPROTO, "more than %zu bytes of lines without our id", c->limits.max_line);
        }
}

static int send_request(AgentClient *c, const char *prefix, const char *cmd, json_object *args, uint64_t id,
                        usec_t deadline) {
        json_object *req = json_object_new_object();
        if (!req)
                return -ENOMEM;
        json_object_object_add(req, "execute", json_object_new_string(cmd));
        if (args)
                json_object_object_add(req, "arguments", json_object_get(args));
        json_object_object_add(req, "id", json_object_new_int64((int64_t) id));
        const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        _cleanup_free_ char *buf = NULL;
        int r;
        if (!s || asprintf(&buf, "%s%s\n", prefix, s) < 0)
                r = -ENOMEM;
        else
                r = write_all(c, buf, strlen(buf), deadline);
        json_object_put(req);
        return r;
}

/* Sync, resending (with a new id) every SYNC_RESEND: a request can be lost
 * when it races with the guest (re)opening its port, or with an agent that
 * is just starting.  A late reply to any of our sync ids counts. */
#define SYNC_RESEND (USEC_PER_SEC)

static int do_sync(AgentClient *c, usec_t deadline) {
        int r = ensure_connected(c, deadline);
        if (r < 0)
                return r;
        uint64_t first = c->next_id;
        for (;;) {
                uint64_t id = c->next_id++;
                json_object *args = json_object_new_object();
                if (!args)
                        return -ENOMEM;
                json_object_object_add(args, "id", json_object_new_int64((int64_t) id));
                /* The leading 0xFF makes the agent drop any partial line we left. */
                r = send_request(c, "\xff", "sync", args, id, deadline);
                json_object_put(args);
                if (r < 0)
                        return r;
                usec_t n = now_usec();
                usec_t until = MIN(deadline, n + SYNC_RESEND);
                json_object *v = NULL;
                uint64_t got = 0;
                r = wait_reply(c, first, id, until, true, until < deadline, &v, &got);
                if (r == -ETIMEDOUT && c->fd >= 0)
                        continue;   /* resend */
                if (r < 0) {
                        if (c->fd >= 0)   /* an error reply to sync: not an agent we can talk to */
                                return drop(c, -EPROTO, "sync failed: %s", c->error);
                        return r;
                }
                bool ok = json_object_is_type(v, json_type_int) && (uint64_t) json_object_get_int64(v) == got;
                json_object_put(v);
                if (!ok)
                        return drop(c, -EBADMSG, "sync returned the wrong value");
                c->synced = true;
                return 0;
        }
}

int agent_client_sync(AgentClient *c) {
        if (!c)
                return -EINVAL;
        c->error[0] = 0;
        c->synced = false;
        return do_sync(c, now_usec() + c->timeout);
}

/* One command: connect and sync if needed, send, wait.  Takes no ownership of args. */
static int transact(AgentClient *c, const char *cmd, json_object *args, json_object **ret) {
        if (!c)
                return -EINVAL;
        c->error[0] = 0;
        usec_t deadline = now_usec() + c->timeout;
        if (!c->synced || c->fd < 0) {
                int r = do_sync(c, deadline);
                if (r < 0)
                        return r;
        }
        json_object *v = NULL;
        for (int attempt = 0;; attempt++) {
                uint64_t id = c->next_id++;
                int r = send_request(c, "", cmd, args, id, deadline);
                if (r < 0)
                        return r;
                r = wait_reply(c, id, id, deadline, false, false, &v, NULL);
                if (r == -EKEYEXPIRED && attempt == 0) {
                        /* Refused, nothing changed: sync, then once more. */
                        r = do_sync(c, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r < 0)
                        return r;
                break;
        }
        if (ret)
                *ret = v;
        else
                json_object_put(v);
        return 0;
}

/* ---- typed field access: every field checked for type and range ---- */

static int get_i64(AgentClient *c, json_object *o, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *ret) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v)) {
                if (required)
                        return set_error(c, -EBADMSG, "agent reply lacks '%s'", key);
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return set_error(c, -EBADMSG, "agent reply: '%s' is not an integer", key);
        errno = 0;
        int64_t x = json_object_get_int64(v);
        /* json-c keeps values past INT64_MAX as uint64 and saturates here. */
        if (x < min || x > max || (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t) INT64_MAX))
                return set_error(c, -EBADMSG, "agent reply: '%s' out of range", key);
        *ret = x;
        return 1;
}

static int get_str(AgentClient *c, json_object *o, const char *key, bool required, char *buf, size_t size) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v)) {
                if (required)
                        return set_error(c, -EBADMSG, "agent reply lacks '%s'", key);
                if (size > 0)
                        buf[0] = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return set_error(c, -EBADMSG, "agent reply: '%s' is not a string", key);
        const char *s = json_object_get_string(v);
        size_t l = strnlen(s, (size_t) json_object_get_string_len(v));
        l = MIN(l, size - 1);
        /* Truncate on a UTF-8 character boundary. */
        while (l > 0 && l < strlen(s) && ((unsigned char) s[l] & 0xC0) == 0x80)
                l--;
        memcpy(buf, s, l);
        buf[l] = 0;
        return 1;
}

static int get_bool(AgentClient *c, json_object *o, const char *key, bool required, bool *ret) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v)) {
                if (required)
                        return set_error(c, -EBADMSG, "agent reply lacks '%s'", key);
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return set_error(c, -EBADMSG, "agent reply: '%s' is not a boolean", key);
        *ret = json_object_get_boolean(v);
        return 1;
}

#define GET_I64(c, o, key, req, min, max, dst)                                       \
        ({                                                                        \
                int64_t _v;                                                       \
                int _r = get_i64((c), (o), (key), (req), (min), (max), &_v);      \
                if (_r > 0)                                                       \
                        (dst) = _v;                                               \
                _r;                                                               \
        })

static const char *const policy_names[] = {
        [SCHED_OTHER] = "other", [SCHED_FIFO] = "fifo", [SCHED_RR] = "rr",
        [SCHED_BATCH] = "batch", [SCHED_IDLE] = "idle", [6] = "deadline",
};

const char *agent_client_policy_to_string(int policy) {
        if (policy >= 0 && (size_t) policy < ELEMENTSOF(policy_names) && policy_names[policy])
                return policy_names[policy];
        return "unknown";
}

static int policy_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(policy_names); i++)
                if (policy_names[i] && streq(policy_names[i], s))
                        return (int) i;
        return -1;
}

static int parse_task(AgentClient *c, json_object *o, GuestTask *t) {
        if (!json_object_is_type(o, json_type_object))
                return set_error(c, -EBADMSG, "agent reply: a task is not an object");
        *t = (GuestTask) {};
        char state[4], policy[16];
        bool kthread = false;
        if (GET_I64(c, o, "pid", true, 1, PID_LIMIT, t->pid) < 0 ||
            GET_I64(c, o, "tid", true, 1, PID_LIMIT, t->tid) < 0 ||
            get_str(c, o, "comm", true, t->comm, sizeof t->comm) < 0 ||
            get_str(c, o, "cmdline", false, t->cmdline, sizeof t->cmdline) < 0 ||
            get_str(c, o, "state", true, state, sizeof state) < 0 ||
            GET_I64(c, o, "cpu", true, 0, 1 << 20, t->cpu) < 0 ||
            GET_I64(c, o, "cpu_ns", true, 0, INT64_MAX, t->cpu_ns) < 0 ||
            GET_I64(c, o, "nice", true, -20, 19, t->nice) < 0 ||
            get_str(c, o, "policy", true, policy, sizeof policy) < 0 ||
            GET_I64(c, o, "rt_priority", true, 0, 99, t->rt_priority) < 0 ||
            GET_I64(c, o, "start_ns", true, 0, INT64_MAX, t->start_time_ns) < 0 ||
            get_bool(c, o, "kthread", false, &kthread) < 0)
                return -EBADMSG;
        if (strlen(state) != 1 || !((state[0] >= 'A' && state[0] <= 'Z') || (state[0] >= 'a' && state[0] <= 'z')))
                return set_error(c, -EBADMSG, "agent reply: bad task state");
        t->state = state[0];
        t->policy = policy_from_string(policy);
        t->is_kthread = kthread;
        return 0;
}

static int cmp_task(const void *a, const void *b) {
        const GuestTask *x = a, *y = b;
        return (x->tid > y->tid) - (x->tid < y->tid);
}

static int cmp_pid(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;
        return (x > y) - (x < y);
}

/* Apply a tasks reply to the cache.  Returns 0, -EBADMSG, -E2BIG, -ENOMEM,
 * or -ESTALE if the merged list disagrees with the agent's count. */
static int apply_tasks(AgentClient *c, json_object *v, bool sent_since, GuestTask *ret_agent) {
        if (!json_object_is_type(v, json_type_object))
                return set_error(c, -EBADMSG, "agent reply: tasks is not an object");
        char token[sizeof c->token];
        bool full;
        int64_t n_threads = 0;
        json_object *jtasks, *jgone = NULL, *jagent;
        if (get_str(c, v, "token", true, token, sizeof token) < 0 || get_bool(c, v, "full", true, &full) < 0 ||
            GET_I64(c, v, "n_threads", true, 0, (int64_t) c->limits.max_tasks, n_threads) < 0)
                return -EBADMSG;
        if (!json_object_object_get_ex(v, "tasks", &jtasks) || !json_object_is_type(jtasks, json_type_array))
                return set_error(c, -EBADMSG, "agent reply: 'tasks' is not an array");
        if (!full && !sent_since)
                return set_error(c, -EBADMSG, "agent sent a delta we did not ask for");
        if (!full && (!json_object_object_get_ex(v, "gone", &jgone) || !json_object_is_type(jgone, json_type_array)))
                return set_error(c, -EBADMSG, "agent reply: delta without a 'gone' array");
        if (!json_object_object_get_ex(v, "agent", &jagent) || !json_object_is_type(jagent, json_type_object))
                return set_error(c, -EBADMSG, "agent reply: no 'agent' object");

        GuestTask a = { .is_agent = true, .state = 'S', .policy = -1 };
        strcpy(a.comm, "xvagent");
        if (GET_I64(c, jagent, "pid", true, 1, PID_LIMIT, a.pid) < 0 ||
            GET_I64(c, jagent, "cpu_ns", true, 0, INT64_MAX, a.cpu_ns) < 0)
                return -EBADMSG;
        a.tid = a.pid;

        size_t n = json_object_array_length(jtasks);
        size_t n_gone = jgone ? json_object_array_length(jgone) : 0;
        if (n > c->limits.max_tasks || n_gone > c->limits.max_tasks)
                return set_error(c, -E2BIG, "agent reply: more than %zu tasks", c->limits.max_tasks);

        _cleanup_free_ GuestTask *upd = calloc(n ? n : 1, sizeof *upd);
        _cleanup_free_ pid_t *gone = calloc(n_gone ? n_gone : 1, sizeof *gone);
        if (!upd || !gone)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (parse_task(c, json_object_array_get_idx(jtasks, i), &upd[i]) < 0)
                        return -EBADMSG;
        for (size_t i = 0; i < n_gone; i++) {
                json_object *g = json_object_array_get_idx(jgone, i);
                if (!json_object_is_type(g, json_type_int) || json_object_get_int64(g) < 1 ||
                    json_object_get_int64(g) > PID_LIMIT)
                        return set_error(c, -EBADMSG, "agent reply: bad 'gone' entry");
                gone[i] = (pid_t) json_object_get_int64(g);
        }
        qsort(upd, n, sizeof *upd, cmp_task);
        for (size_t i = 1; i < n; i++)
                if (upd[i].tid == upd[i - 1].tid)
                        return set_error(c, -EBADMSG, "agent reply: thread %d listed twice", (int) upd[i].tid);
        for (size_t i = 0; i < n; i++)
                if (upd[i].pid == a.pid)
                        return set_error(c, -EBADMSG, "agent reply: the agent listed among the tasks");
        qsort(gone, n_gone, sizeof *gone, cmp_pid);

        size_t old_n = full ? 0 : c->n_cache;
        if (old_n + n > c->limits.max_tasks)
                return set_error(c, -E2BIG, "more than %zu tasks", c->limits.max_tasks);
        GuestTask *merged = malloc((old_n + n + 1) * sizeof *merged);
        if (!merged)
                return -ENOMEM;
        size_t m = 0, i = 0, j = 0;
        while (i < old_n || j < n) {
                if (j >= n || (i < old_n && c->cache[i].tid < upd[j].tid)) {
                        if (!bsearch(&c->cache[i].tid, gone, n_gone, sizeof *gone, cmp_pid))
                                merged[m++] = c->cache[i];
                        i++;
                } else {
                        if (i < old_n && c->cache[i].tid == upd[j].tid)
                                i++;
                        merged[m++] = upd[j++];
                }
        }
        free(c->cache);
        c->cache = merged;
        c->n_cache = m;
        strcpy(c->token, token);
        c->have_token = true;
        if ((int64_t) m != n_threads) {
                invalidate_cache(c);
                return set_error(c, -ESTALE, "merged %zu tasks, agent counts %" PRIi64, m, n_threads);
        }
        *ret_agent = a;
        return 0;
}

int agent_client_tasks(AgentClient *c, GuestTask **ret, size_t *ret_n) {
        if (!c || !ret || !ret_n)
                return -EINVAL;
        for (int attempt = 0;; attempt++) {
                json_object *args = json_object_new_object();
                if (!args)
                        return -ENOMEM;
                bool since = c->delta && c->have_token && c->fd >= 0 && c->synced;
                if (since)
                        json_object_object_add(args, "since", json_object_new_string(c->token));
                json_object *v = NULL;
                int r = transact(c, "tasks", args, &v);
                json_object_put(args);
                if (r < 0)
                        return r;
                GuestTask agent;
                r = apply_tasks(c, v, since, &agent);
                json_object_put(v);
                if (r == -ESTALE && attempt == 0)
                        continue;   /* out of step: ask for the full list once */
                if (r < 0) {
                        if (r == -EBADMSG || r == -E2BIG || r == -ESTALE)
                                return drop(c, r == -ESTALE ? -EBADMSG : r, "%s", c->error);
                        return r;
                }
                GuestTask *out = malloc((c->n_cache + 1) * sizeof *out);
                if (!out)
                        return -ENOMEM;
                if (c->n_cache > 0)
                        memcpy(out, c->cache, c->n_cache * sizeof *out);
                out[c->n_cache] = agent;
                *ret = out;
                *ret_n = c->n_cache + 1;
                return 0;
        }
}

/* ---- simple commands ---- */

static int pid_command(AgentClient *c, const char *cmd, const char *key, pid_t pid, json_object *extra,
                       int64_t *ret_threads) {
        if (!c || pid <= 0 || pid > PID_LIMIT) {
                json_object_put(extra);
                return -EINVAL;
        }
        json_object *args = extra ? extra : json_object_new_object();
        if (!args)
                return -ENOMEM;
        json_object_object_add(args, key, json_object_new_int64(pid));
        json_object *v = NULL;
        int r = transact(c, cmd, args, &v);
        json_object_put(args);
        if (r < 0)
                return r;
        int64_t rpid = 0, threads = 0;
        if (!json_object_is_type(v, json_type_object) ||
            GET_I64(c, v, "pid", true, 1, PID_LIMIT, rpid) < 0 ||
            GET_I64(c, v, "threads", ret_threads != NULL, 0, PID_LIMIT, threads) < 0) {
                json_object_put(v);
                return drop(c, -EBADMSG, "agent reply to %s is malformed", cmd);
        }
        json_object_put(v);
        (void) rpid;   /* the thread group; may differ from pid if that was a thread */
        if (ret_threads)
                *ret_threads = threads;
        return 0;
}

int agent_client_stop(AgentClient *c, pid_t pid) {
        return pid_command(c, "stop", "pid", pid, NULL, NULL);
}

int agent_client_cont(AgentClient *c, pid_t pid) {
        return pid_command(c, "cont", "pid", pid, NULL, NULL);
}

static int nice_common(AgentClient *c, const char *key, pid_t id, int nice) {
        if (nice < -20 || nice > 19)
                return -EINVAL;
        json_object *args = json_object_new_object();
        if (!args)
                return -ENOMEM;
        json_object_object_add(args, "nice", json_object_new_int(nice));
        int64_t threads = 0;
        int r = pid_command(c, "nice", key, id, args, &threads);
        return r < 0 ? r : (int) threads;
}

int agent_client_nice(AgentClient *c, pid_t pid, int nice) {
        return nice_common(c, "pid", pid, nice);
}

int agent_client_nice_thread(AgentClient *c, pid_t tid, int nice) {
        return nice_common(c, "tid", tid, nice);
}

int agent_client_sched(AgentClient *c, pid_t pid, int policy, int priority) {
        const char *name = agent_client_policy_to_string(policy);
        bool rt = policy == SCHED_FIFO || policy == SCHED_RR;
        if (streq(name, "unknown") || policy == 6 || (rt ? priority < 1 || priority > 99 : priority != 0))
                return -EINVAL;
        json_object *args = json_object_new_object();
        if (!args)
                return -ENOMEM;
        json_object_object_add(args, "policy", json_object_new_string(name));
        if (rt)
                json_object_object_add(args, "priority", json_object_new_int(priority));
        int64_t threads = 0;
        int r = pid_command(c, "sched", "pid", pid, args, &threads);
        return r < 0 ? r : (int) threads;
}

int agent_client_lease(AgentClient *c, double seconds) {
        if (!c || !(seconds >= 0.1 && seconds <= 3600))
                return -EINVAL;
        json_object *args = json_object_new_object();
        if (!args)
                return -ENOMEM;
        json_object_object_add(args, "seconds", json_object_new_double(seconds));
        json_object *v = NULL;
        int r = transact(c, "lease", args, &v);
        json_object_put(args);
        if (r < 0)
                return r;
        bool ok = json_object_is_type(v, json_type_object);
        json_object_put(v);
        if (!ok)
                return drop(c, -EBADMSG, "agent reply to lease is malformed");
        return 0;
}

int agent_client_release(AgentClient *c) {
        json_object *v = NULL;
        int r = transact(c, "release", NULL, &v);
        if (r < 0)
                return r;
        int64_t n = 0;
        if (!json_object_is_type(v, json_type_object) || GET_I64(c, v, "restored", true, 0, INT32_MAX, n) < 0) {
                json_object_put(v);
                return drop(c, -EBADMSG, "agent reply to release is malformed");
        }
        json_object_put(v);
        return (int) n;
}

int agent_client_hello(AgentClient *c, AgentHello *ret) {
        if (!ret)
                return -EINVAL;
        json_object *v = NULL;
        int r = transact(c, "hello", NULL, &v);
        if (r < 0)
                return r;
        AgentHello h = {};
        if (!json_object_is_type(v, json_type_object) ||
            GET_I64(c, v, "protocol", true, 0, INT32_MAX, h.protocol) < 0 ||
            get_str(c, v, "version", true, h.version, sizeof h.version) < 0 ||
            get_str(c, v, "kernel", false, h.kernel, sizeof h.kernel) < 0 ||
            get_str(c, v, "machine", false, h.machine, sizeof h.machine) < 0 ||
            get_str(c, v, "hostname", false, h.hostname, sizeof h.hostname) < 0 ||
            GET_I64(c, v, "cpus", false, 0, 1 << 20, h.cpus) < 0 ||
            get_str(c, v, "boot_id", false, h.boot_id, sizeof h.boot_id) < 0 ||
            GET_I64(c, v, "pid", true, 1, PID_LIMIT, h.pid) < 0 ||
            GET_I64(c, v, "hz", false, 0, 1000000, h.hz) < 0 ||
            GET_I64(c, v, "lease_ms", false, 0, INT64_MAX, h.lease_ms) < 0) {
                json_object_put(v);
                return drop(c, -EBADMSG, "agent reply to hello is malformed: %s", c->error);
        }
        json_object_put(v);
        *ret = h;
        return 0;
}

int agent_client_stats(AgentClient *c, AgentStats *ret) {
        if (!ret)
                return -EINVAL;
        json_object *v = NULL;
        int r = transact(c, "stats", NULL, &v);
        if (r < 0)
                return r;
        AgentStats s = {};
        if (!json_object_is_type(v, json_type_object) ||
            GET_I64(c, v, "pid", true, 1, PID_LIMIT, s.pid) < 0 ||
            GET_I64(c, v, "cpu_ns", true, 0, INT64_MAX, s.cpu_ns) < 0 ||
            GET_I64(c, v, "uptime_ns", false, 0, INT64_MAX, s.uptime_ns) < 0 ||
            GET_I64(c, v, "max_rss_kb", false, 0, INT64_MAX, s.max_rss_kb) < 0 ||
            GET_I64(c, v, "requests", false, 0, INT64_MAX, s.requests) < 0 ||
            GET_I64(c, v, "errors", false, 0, INT64_MAX, s.errors) < 0 ||
            GET_I64(c, v, "bad_requests", false, 0, INT64_MAX, s.bad_requests) < 0 ||
            GET_I64(c, v, "bytes_in", false, 0, INT64_MAX, s.bytes_in) < 0 ||
            GET_I64(c, v, "bytes_out", false, 0, INT64_MAX, s.bytes_out) < 0 ||
            GET_I64(c, v, "lease_ms", false, 0, INT64_MAX, s.lease_ms) < 0 ||
            GET_I64(c, v, "lease_expiries", false, 0, INT64_MAX, s.lease_expiries) < 0 ||
            GET_I64(c, v, "restored", false, 0, INT64_MAX, s.restored) < 0 ||
            GET_I64(c, v, "held_stops", false, 0, INT64_MAX, s.held_stops) < 0 ||
            GET_I64(c, v, "held_nice", false, 0, INT64_MAX, s.held_nice) < 0 ||
            GET_I64(c, v, "held_sched", false, 0, INT64_MAX, s.held_sched) < 0) {
                json_object_put(v);
                return drop(c, -EBADMSG, "agent reply to stats is malformed: %s", c->error);
        }
        json_object_put(v);
        *ret = s;
        return 0;
}

/* ---- constructors ---- */

int agent_client_connect_fd(int fd, usec_t timeout, AgentClient **ret) {
        if (fd < 0 || !ret)
                return -EINVAL;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return negative_errno();
        AgentClient *c = client_new(timeout);
        if (!c)
                return -ENOMEM;
        c->fd = fd;
        *ret = c;
        return 0;
}

int agent_client_connect(const char *socket_path, usec_t timeout, AgentClient **ret) {
        if (!socket_path || !ret)
                return -EINVAL;
        _cleanup_agent_client_ AgentClient *c = client_new(timeout);
        if (!c)
                return -ENOMEM;
        c->path = strdup(socket_path);
        if (!c->path)
                return -ENOMEM;
        AgentHello h;
        int r = agent_client_hello(c, &h);
        if (r < 0) {
                snprintf(connect_error, sizeof connect_error, "%s", c->error);
                return r;
        }
        if (h.protocol != AGENT_CLIENT_PROTOCOL) {
                snprintf(connect_error, sizeof connect_error, "agent %s speaks protocol %d, we speak %d",
                         socket_path, h.protocol, AGENT_CLIENT_PROTOCOL);
                log_debug("%s", connect_error);
                return -EPROTO;
        }
        connect_error[0] = 0;
        *ret = TAKE_PTR(c);
        return 0;
}
