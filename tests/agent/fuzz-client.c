/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the host's agent client.  The input is everything a
 * hostile agent sends back; the client syncs (id 1), asks for tasks (id 2),
 * then hello, stats, stop, nice and tasks again (delta) while it stays
 * connected.  Must never crash, leak or block. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/log.h"
#include "view/agent-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        int buf = 1 << 20;
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        size_t off = 0;
        while (off < size) {
                ssize_t k = send(sv[1], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k <= 0)
                        break;
                off += (size_t) k;
        }
        shutdown(sv[1], SHUT_WR);

        AgentClient *c;
        if (agent_client_connect_fd(sv[0], 200 * USEC_PER_MSEC, &c) < 0)
                abort();
        agent_client_set_id_seed(c, 1);
        AgentLimits l = { .max_line = 1 << 16, .max_foreign_lines = 8, .max_tasks = 4096 };
        agent_client_set_limits(c, &l);

        GuestTask *t = NULL;
        size_t n = 0;
        if (agent_client_tasks(c, &t, &n) >= 0) {
                if (n == 0 || !t[n - 1].is_agent)
                        abort();
                free(t);
        }
        AgentHello h;
        AgentStats s;
        (void) agent_client_hello(c, &h);
        (void) agent_client_stats(c, &s);
        (void) agent_client_stop(c, 42);
        (void) agent_client_nice(c, 42, 5);
        if (agent_client_tasks(c, &t, &n) >= 0)
                free(t);
        if (strlen(agent_client_last_error(c)) >= 512)
                abort();
        agent_client_free(c);
        close(sv[1]);
        return 0;
}
