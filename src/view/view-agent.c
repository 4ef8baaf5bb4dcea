/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent guest view: xvagent over the domain's channel.  Every held
 * change lives under the agent's lease, renewed by keepalive each tick. */
#include <errno.h>
#include <stdlib.h>

#include "view/agent-client.h"
#include "view/view.h"

#define VIEW_AGENT_LEASE_S 5.0
/* Generous: a starved or emulated (TCG) guest answers late, and the
 * daemon calls views from a worker thread, so waiting blocks nothing. */
#define VIEW_AGENT_TIMEOUT (8 * USEC_PER_SEC)

static int va_open(const Domain *d, void **ret) {
        if (!d->agent_socket)
                return -ENOTCONN;
        AgentClient *c = NULL;
        int r = agent_client_connect(d->agent_socket, VIEW_AGENT_TIMEOUT, &c);
        if (r < 0)
                return r;
        r = agent_client_lease(c, VIEW_AGENT_LEASE_S);
        if (r < 0) {
                agent_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static const char *va_open_error(int r) {
        return r == -ENOTCONN ? "the domain has no xvagent channel" : agent_client_last_error(NULL);
}

static void va_close(void *s) {
        agent_client_free(s);
}

static int va_tasks(void *s, GuestTask **ret, size_t *ret_n) {
        return agent_client_tasks(s, ret, ret_n);
}

static int va_stop(void *s, pid_t pid) {
        return agent_client_stop(s, pid);
}

static int va_cont(void *s, pid_t pid) {
        return agent_client_cont(s, pid);
}

static int va_nice(void *s, pid_t pid, int nice) {
        return agent_client_nice(s, pid, nice);
}

static int va_sched(void *s, pid_t pid, int policy, int priority) {
        return agent_client_sched(s, pid, policy, priority);
}

static int va_keepalive(void *s) {
        return agent_client_lease(s, VIEW_AGENT_LEASE_S);
}

static int va_release(void *s) {
        return agent_client_release(s);
}

static const char *va_last_error(void *s) {
        return agent_client_last_error(s);
}

const GuestViewOps guest_view_agent = {
        .name = "agent",
        .open = va_open,
        .open_error = va_open_error,
        .close = va_close,
        .tasks = va_tasks,
        .stop = va_stop,
        .cont = va_cont,
        .nice = va_nice,
        .sched = va_sched,
        .keepalive = va_keepalive,
        .release = va_release,
        .last_error = va_last_error,
};
