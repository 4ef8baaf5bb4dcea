/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Deadline-bound socket steps shared by every client of a peer we do not
 * trust to answer: QMP, xvagent, qemu-guest-agent.  Deadlines are absolute
 * CLOCK_MONOTONIC times in microseconds (basic/time-util.h). */

#include "basic/time-util.h"

/* poll() one fd for events until the deadline, across EINTR.  Returns the
 * revents (> 0), -ETIMEDOUT at the deadline, -EBADF for POLLNVAL, -errno. */
int fd_poll_until(int fd, short events, usec_t deadline);

/* A non-blocking, close-on-exec stream connection to the UNIX socket at
 * path, made before the deadline.  A listener whose backlog is full answers
 * a non-blocking connect with EAGAIN (not EINPROGRESS): tried again every
 * 20 ms until the deadline.  A listener that never accepts still completes
 * the connect; the caller's first read bounds that case.  Returns 0 and the
 * fd in *ret_fd, or -ENAMETOOLONG, -ETIMEDOUT, -errno (*ret_fd untouched). */
int unix_connect_until(const char *path, usec_t deadline, int *ret_fd);
