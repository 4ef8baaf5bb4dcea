/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qemu-guest-agent guest view (docs/qga.md): the process list and
 * stop/cont/nice through guest-exec, held under a guest-side watchdog's
 * lease that keepalive renews.
 *
 * The way in: a libvirt domain's agent goes through the program's command
 * hook (libvirt owns the socket; src/hv/hv-libvirt-agent.c); any other
 * domain's through its socket (raw QEMU's chardev, Proxmox's ID.qga, a
 * local domain's ,qga=PATH). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "view/qga-client.h"
#include "view/view.h"

/* Generous, as the agent view's: a TCG guest runs the reader slowly, and
 * the daemon calls views from a worker thread. */
#define VIEW_QGA_TIMEOUT (10 * USEC_PER_SEC)

static _Thread_local char open_error[512];

static int vq_open(const Domain *d, void **ret) {
        QgaClient *c = NULL;
        int r;
        if (!d->qga_channel.present) {
                snprintf(open_error, sizeof open_error, "the domain has no qemu-guest-agent channel (%s)",
                         QGA_PORT_NAME);
                return -ENOTCONN;
        }
        if (d->backend && streq(d->backend, "libvirt"))
                r = qga_client_connect_hook(d, VIEW_QGA_TIMEOUT, &c);
        else if (d->qga_channel.path)
                r = qga_client_connect(d->qga_channel.path, VIEW_QGA_TIMEOUT, &c);
        else {
                snprintf(open_error, sizeof open_error, "the domain's qemu-guest-agent channel is not a UNIX socket");
                return -ENOTCONN;
        }
        if (r < 0) {
                snprintf(open_error, sizeof open_error, "%s", qga_client_last_error(NULL));
                return r;
        }
        *ret = c;
        return 0;
}

static const char *vq_open_error(int r) {
        (void) r;
        return open_error;
}

static void vq_close(void *s) {
        qga_client_free(s);
}

static int vq_tasks(void *s, GuestTask **ret, size_t *ret_n) {
        return qga_client_tasks(s, ret, ret_n);
}

static int vq_stop(void *s, pid_t pid) {
        return qga_client_stop(s, pid);
}

static int vq_cont(void *s, pid_t pid) {
        return qga_client_cont(s, pid);
}

static int vq_nice(void *s, pid_t pid, int nice) {
        return qga_client_nice(s, pid, nice);
}

static int vq_keepalive(void *s) {
        return qga_client_keepalive(s);
}

static int vq_release(void *s) {
        return qga_client_release(s);
}

static const char *vq_last_error(void *s) {
        return qga_client_last_error(s);
}

static const char *vq_control_path(void *s) {
        return qga_client_transport(s);
}

const GuestViewOps guest_view_qga = {
        .name = "qga",
        .open = vq_open,
        .open_error = vq_open_error,
        .close = vq_close,
        .tasks = vq_tasks,
        .stop = vq_stop,
        .cont = vq_cont,
        .nice = vq_nice,
        .keepalive = vq_keepalive,
        .release = vq_release,
        .last_error = vq_last_error,
        .control_path = vq_control_path,
};
