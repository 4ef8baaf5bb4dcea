/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket's server: root's clients, one request line each
 * (status, reload, stop), never holding the loop. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/daemon-internal.h"

/* ---- control socket ---- */

static void client_drop(Daemon *d, ControlClient *cl) {
        if (!cl->used)
                return;
        (void) epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, cl->fd, NULL);
        close(cl->fd);
        free(cl->out);
        *cl = (ControlClient) {};
}

void control_drop_all(Daemon *d) {
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                client_drop(d, &d->clients[i]);
}

/* Send what the socket takes now; drop the client when all is sent, or
 * when it cannot take any. */
static void client_flush(Daemon *d, ControlClient *cl) {
        while (cl->sent < cl->n_out) {
                ssize_t k = send(cl->fd, cl->out + cl->sent, cl->n_out - cl->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;   /* EPOLLOUT brings us back, the deadline ends it */
                if (k <= 0)
                        break;
                cl->sent += (size_t) k;
        }
        client_drop(d, cl);
}

/* Queue the reply (o is consumed) and send what goes out at once. */
static void control_reply(Daemon *d, ControlClient *cl, json_object *o) {
        const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
        size_t n = s ? strlen(s) : 0;
        if (!s || n + 1 > CONTROL_MAX_REPLY)
                s = "{\"error\":\"the reply is too large\"}", n = strlen(s);
        cl->out = malloc(n + 1);
        if (!cl->out) {
                json_object_put(o);
                client_drop(d, cl);
                return;
        }
        memcpy(cl->out, s, n);
        cl->out[n] = '\n';
        cl->n_out = n + 1;
        json_object_put(o);
        cl->deadline_ns = now_nsec() + CONTROL_REPLY_MS * 1000000ull;
        struct epoll_event ev = { .events = EPOLLOUT, .data.fd = cl->fd };
        (void) epoll_ctl(d->epoll_fd, EPOLL_CTL_MOD, cl->fd, &ev);
        client_flush(d, cl);
}

static json_object *control_request(Daemon *d, const char *buf) {
        json_object *req = json_tokener_parse(buf), *cmd;
        json_object *rep = json_object_new_object();
        if (!req || !json_object_object_get_ex(req, "command", &cmd) || !json_object_is_type(cmd, json_type_string)) {
                json_object_object_add(rep, "error", json_object_new_string("expected {\"command\": ...}"));
        } else if (streq(json_object_get_string(cmd), "status")) {
                json_object_put(rep);
                rep = d->hosts ? hosts_status_json(d) : daemon_status_json(d);
                json_object_object_add(rep, "config", json_object_new_string(d->config_path));
        } else if (streq(json_object_get_string(cmd), "reload")) {
                char err[512] = "";
                if (daemon_reload(d, err, sizeof err) < 0)
                        json_object_object_add(rep, "error", json_object_new_string(err[0] ? err : "reload failed"));
                else
                        json_object_object_add(rep, "reloaded", json_object_new_string(d->config_path));
        } else if (streq(json_object_get_string(cmd), "stop")) {
                d->quit = true;
                json_object_object_add(rep, "stopping", json_object_new_boolean(true));
        } else
                json_object_object_add(rep, "error", json_object_new_string("unknown command (status, reload, stop)"));
        json_object_put(req);
        return rep;
}

/* A new connection: accept every waiting one, keep root's. */
void control_accept(Daemon *d) {
        for (;;) {
                _cleanup_close_ int fd = accept4(d->control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        return;
                /* Only root may talk to the daemon. */
                struct ucred cred;
                socklen_t len = sizeof cred;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0)
                        continue;
                ControlClient *cl = NULL, *oldest = NULL;
                for (size_t i = 0; i < CONTROL_MAX_CLIENTS && !cl; i++) {
                        if (!d->clients[i].used)
                                cl = &d->clients[i];
                        else if (!oldest || d->clients[i].since_ns < oldest->since_ns)
                                oldest = &d->clients[i];
                }
                if (!cl) {
                        log_debug("control: %d clients at once, dropping the oldest", CONTROL_MAX_CLIENTS);
                        client_drop(d, oldest);
                        cl = oldest;
                }
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
                if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                        continue;
                uint64_t now = now_nsec();
                *cl = (ControlClient) { .used = true, .fd = TAKE_FD(fd), .since_ns = now,
                                        .deadline_ns = now + CONTROL_REQUEST_MS * 1000000ull };
        }
}

static ControlClient *client_by_fd(Daemon *d, int fd) {
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                if (d->clients[i].used && d->clients[i].fd == fd)
                        return &d->clients[i];
        return NULL;
}

/* One request line per connection; whatever else it sends is ignored. */
void control_handle_client(Daemon *d, int fd) {
        ControlClient *cl = client_by_fd(d, fd);
        if (!cl)
                return;
        if (cl->out) {
                client_flush(d, cl);
                return;
        }
        for (;;) {
                ssize_t k = recv(cl->fd, cl->in + cl->n_in, sizeof cl->in - 1 - cl->n_in, MSG_DONTWAIT);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (k <= 0) {
                        client_drop(d, cl);
                        return;
                }
                cl->n_in += (size_t) k;
                cl->in[cl->n_in] = 0;
                if (memchr(cl->in, '\n', cl->n_in))
                        break;
                if (cl->n_in >= sizeof cl->in - 1) {
                        log_debug("control: request longer than %d bytes, dropped", CONTROL_MAX_LINE);
                        client_drop(d, cl);
                        return;
                }
        }
        control_reply(d, cl, control_request(d, cl->in));
}

/* Drop clients past their deadline; the ms until the next one (-1: none). */
int control_expire(Daemon *d) {
        uint64_t now = now_nsec(), next = UINT64_MAX;
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
                ControlClient *cl = &d->clients[i];
                if (!cl->used)
                        continue;
                if (now >= cl->deadline_ns) {
                        log_debug("control: client %s in time, dropped", cl->out ? "took not its reply" : "sent no request");
                        client_drop(d, cl);
                } else
                        next = MIN(next, cl->deadline_ns - now);
        }
        return next == UINT64_MAX ? -1 : (int) MIN(next / 1000000ull + 1, (uint64_t) INT32_MAX);
}

int control_open(Daemon *d, const char *state_dir) {
        snprintf(d->control_path, sizeof d->control_path, "%s/control.sock", state_dir);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(d->control_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, d->control_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        (void) unlink(d->control_path); /* we hold the journal lock: no other daemon uses it */
        /* Created 0600 by bind itself (no chmod on a path, which would follow
         * a symlink put there in between); the directory is root's alone
         * (journal_open checked it). */
        mode_t old_umask = umask(0177);
        int k = bind(fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old_umask);
        if (k < 0 || listen(fd, 16) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        d->control_fd = fd;
        return 0;
}
