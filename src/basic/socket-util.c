/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/macros.h"
#include "basic/socket-util.h"

int fd_poll_until(int fd, short events, usec_t deadline) {
        for (;;) {
                usec_t n = now_usec();
                if (n >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = fd, .events = events };
                /* at most a minute per poll: the deadline is re-read after */
                int k = poll(&p, 1, (int) MIN((deadline - n + 999) / 1000, (usec_t) 60000));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        continue;
                if (p.revents & POLLNVAL)
                        return -EBADF;
                return p.revents;
        }
}

int unix_connect_until(const char *path, usec_t deadline, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (!path || !ret_fd)
                return -EINVAL;
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        for (;;) {
                if (connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0)
                        break;
                int r = -errno;
                if (r == -EINTR)
                        continue;
                if (r == -EAGAIN) {
                        /* a full backlog: a listener that does not accept */
                        usec_t n = now_usec();
                        if (n >= deadline) {
                                r = -ETIMEDOUT;
                        } else {
                                (void) poll(NULL, 0, (int) MIN((deadline - n + 999) / 1000, (usec_t) 20));
                                continue;
                        }
                } else if (r == -EINPROGRESS) {
                        int k = fd_poll_until(fd, POLLOUT, deadline);
                        int err = 0;
                        socklen_t len = sizeof err;
                        if (k >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                                err = errno;
                        if (k >= 0 && !err)
                                break;
                        r = k < 0 ? k : -err;
                }
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}
