/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The client of the daemon's control socket (`xvsched daemon
 * status|reload|stop`): one request, the reply printed as text or JSON. */

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "cli/cli.h"
#include "lever/journal.h"

int daemon_control_query(const char *state_dir, const char *command, int timeout_ms, bool quiet, char **ret) {
        char path[256];
        snprintf(path, sizeof path, "%s/control.sock", journal_state_dir(state_dir));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        /* Non-blocking: a unix connect() to a listener whose backlog is full
         * (a daemon that does not accept) would block for good. */
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = negative_errno();
                if (r == -EAGAIN)
                        return quiet ? -ETIMEDOUT
                                     : log_error_errno(-ETIMEDOUT, "the daemon at %s accepts no connection (busy?)", path);
                return quiet ? r : log_error_errno(r, "no xvsched daemon answers at %s: %m", path);
        }
        char req[128];
        snprintf(req, sizeof req, "{\"command\":\"%s\"}\n", command);
        if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
                int r = negative_errno();
                return quiet ? r : log_error_errno(r, "cannot talk to the daemon: %m");
        }
        _cleanup_free_ char *buf = malloc(1 << 20);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        /* timeout_ms bounds the whole reply, not each read: a peer that
         * sends a byte now and then must not hold the caller for good. */
        int64_t deadline = now_msec() + timeout_ms;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - now_msec();
                int k = left > 0 ? poll(&p, 1, (int) left) : 0;
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return quiet ? -ETIMEDOUT : log_error_errno(-ETIMEDOUT, "the daemon did not answer");
                ssize_t got = recv(fd, buf + n, (1 << 20) - 1 - n, 0);
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (got <= 0)
                        break;
                n += (size_t) got;
                if (memchr(buf, '\n', n) || n >= (1 << 20) - 1)
                        break;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

int daemon_control(const char *state_dir, const char *command, bool json) {
        _cleanup_free_ char *buf = NULL;
        int r = daemon_control_query(state_dir, command, 10000, false, &buf);
        if (r < 0)
                return r;
        json_object *rep = json_tokener_parse(buf), *e;
        if (!rep)
                return log_error_errno(-EBADMSG, "the daemon's reply is not JSON");
        if (json_object_object_get_ex(rep, "error", &e)) {
                log_error("%s", json_object_get_string(e));
                json_object_put(rep);
                return -EINVAL;
        }
        if (json || !streq(command, "status")) {
                if (json)
                        puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                else if (streq(command, "reload"))
                        printf("reloaded\n");
                else
                        printf("stopping (the daemon restores everything before it exits)\n");
                json_object_put(rep);
                return 0;
        }
        json_object *v, *tasks, *doms;
        json_object_object_get_ex(rep, "config", &v);
        printf("config: %s\n", v ? json_object_get_string(v) : "?");
        /* many hosts: a loop each, each row says its host */
        json_object *hosts = NULL;
        bool many = json_object_object_get_ex(rep, "hosts", &hosts) && json_object_is_type(hosts, json_type_array);
        if (many) {
                printf("hosts:  %zu, a loop each\n", json_object_array_length(hosts));
                for (size_t i = 0; i < json_object_array_length(hosts); i++) {
                        json_object *h = json_object_array_get_idx(hosts, i), *hn, *ht, *hi, *ha;
                        json_object_object_get_ex(h, "host", &hn);
                        json_object_object_get_ex(h, "tick", &ht);
                        json_object_object_get_ex(h, "interval_ms", &hi);
                        bool ago = json_object_object_get_ex(h, "last_tick_ms_ago", &ha) && ha;
                        printf("  %-22s tick %s (every %s ms), last %s%s\n", json_object_get_string(hn),
                               json_object_get_string(ht), json_object_get_string(hi), ago ? json_object_get_string(ha) : "-",
                               ago ? " ms ago" : "");
                }
                printf("\n%-22s ", "HOST");
        } else {
                json_object_object_get_ex(rep, "tick", &v);
                printf("tick:   %s", json_object_get_string(v));
                json_object_object_get_ex(rep, "interval_ms", &v);
                printf(" (every %s ms)\n\n", json_object_get_string(v));
        }
        printf("%-12s %-8s %6s %5s  %-24s %s\n", "DOMAIN", "VIEW", "WEIGHT", "RT", "CONTROL", "NOTE");
        json_object_object_get_ex(rep, "domains", &doms);
        for (size_t i = 0; doms && i < json_object_array_length(doms); i++) {
                json_object *x = json_object_array_get_idx(doms, i), *a, *b, *c, *dd, *ve, *cp = NULL, *rs = NULL,
                            *ri = NULL, *vi = NULL;
                json_object_object_get_ex(x, "vcpu_idle", &vi);
                json_object_object_get_ex(x, "control_path", &cp);
                json_object_object_get_ex(x, "rt_budget_spent", &rs);
                json_object_object_get_ex(x, "view_retry_in_ms", &ri);
                json_object_object_get_ex(x, "domain", &a);
                json_object_object_get_ex(x, "view", &b);
                json_object_object_get_ex(x, "weight", &c);
                json_object_object_get_ex(x, "rt", &dd);
                bool has_err = json_object_object_get_ex(x, "view_error", &ve);
                json_object *xh = NULL;
                if (many && json_object_object_get_ex(x, "host", &xh))
                        printf("%-22s ", json_object_get_string(xh));
                char retry[48] = "";
                if (ri)
                        snprintf(retry, sizeof retry, "%snext try in %.1f s", has_err ? "; " : "",
                                 json_object_get_int64(ri) / 1000.0);
                printf("%-12s %-8s %6s %5s  %-24s %s%s%s\n", json_object_get_string(a), b ? json_object_get_string(b) : "-",
                       json_object_get_string(c),
                       json_object_get_boolean(dd)   ? "on"
                       : json_object_get_boolean(rs) ? "spent"
                       : json_object_get_boolean(vi) ? "idle" /* vCPUs at the host's SCHED_IDLE */
                                                     : "off",
                       cp ? json_object_get_string(cp) : "-", has_err ? json_object_get_string(ve) : "", retry,
                       json_object_get_boolean(rs) ? (has_err || ri ? "; RT budget of this window spent"
                                                                      : "RT budget of this window spent")
                                                   : "");
        }
        if (many)
                printf("\n%-22s", "HOST");
        printf("%s%-12s %-10s %-7s %4s %-9s %6s %6s %5s  %s\n", many ? " " : "\n", "TASK", "DOMAIN", "CLASS", "PRIO", "STATE", "CPU%",
               "SHARE", "NICE", "WHY");
        json_object_object_get_ex(rep, "tasks", &tasks);
        for (size_t i = 0; tasks && i < json_object_array_length(tasks); i++) {
                json_object *x = json_object_array_get_idx(tasks, i), *a, *b, *c, *pr, *st, *cpu, *sh, *ni, *why;
                json_object_object_get_ex(x, "task", &a);
                json_object_object_get_ex(x, "domain", &b);
                json_object_object_get_ex(x, "class", &c);
                json_object_object_get_ex(x, "priority", &pr);
                json_object_object_get_ex(x, "state", &st);
                json_object_object_get_ex(x, "cpu_pct", &cpu);
                bool has_share = json_object_object_get_ex(x, "share_pct", &sh);
                json_object_object_get_ex(x, "nice", &ni);
                json_object_object_get_ex(x, "why", &why);
                json_object *xh = NULL;
                if (many && json_object_object_get_ex(x, "host", &xh))
                        printf("%-22s ", json_object_get_string(xh));
                char share[16] = "-";
                if (has_share)
                        snprintf(share, sizeof share, "%.1f", json_object_get_double(sh));
                printf("%-12s %-10s %-7s %4d %-9s %6.1f %6s %5s  %s\n", json_object_get_string(a), json_object_get_string(b),
                       json_object_get_string(c), json_object_get_int(pr), json_object_get_string(st),
                       json_object_get_double(cpu), share, ni ? json_object_get_string(ni) : "-", json_object_get_string(why));
        }
        json_object_put(rep);
        return 0;
}
