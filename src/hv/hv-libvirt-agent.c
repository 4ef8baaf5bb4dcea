/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-guest-agent through libvirt (see hv-libvirt-agent.h, docs/qga.md). */
#include <errno.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "hv/hv-libvirt-agent.h"

typedef struct LibvirtAgent {
        virConnectPtr conn;
        virDomainPtr dom;
} LibvirtAgent;

static void ignore_error(void *userdata, virErrorPtr e) {
        (void) userdata;
        (void) e;
}

/* libvirt's last error as -errno, its message in err. */
static int last_error(char *err, size_t err_size, int fallback) {
        virErrorPtr e = virGetLastError();
        const char *msg = e && e->message ? e->message : "libvirt failed";
        snprintf(err, err_size, "%s", msg);
        int r = fallback;
        if (e) {
                if (e->code == VIR_ERR_NO_DOMAIN)
                        r = -ENOENT;
                else if (e->code == VIR_ERR_OPERATION_TIMEOUT || strstr(msg, "timed out") ||
                         strstr(msg, "not responding"))
                        r = -ETIMEDOUT;
                else if (strstr(msg, "disabled"))
                        r = -EACCES;
                else if (strstr(msg, "has not been found"))   /* the agent's CommandNotFound */
                        r = -EOPNOTSUPP;
                else if (e->code == VIR_ERR_AGENT_UNRESPONSIVE || strstr(msg, "not configured") ||
                         strstr(msg, "not connected") || e->code == VIR_ERR_OPERATION_INVALID)
                        r = -ENOTCONN;
                else if (e->code == VIR_ERR_NO_CONNECT || e->code == VIR_ERR_SYSTEM_ERROR)
                        r = -ENOTCONN;
        }
        virResetLastError();
        return r;
}

void hv_libvirt_agent_close(void *handle) {
        LibvirtAgent *a = handle;
        if (!a)
                return;
        if (a->dom)
                virDomainFree(a->dom);
        if (a->conn)
                virConnectClose(a->conn);
        free(a);
}

int hv_libvirt_agent_open(const Domain *d, void *userdata, void **ret_handle, char *err, size_t err_size) {
        const char *uri = d->libvirt_uri ? d->libvirt_uri : userdata;
        virSetErrorFunc(NULL, ignore_error);
        LibvirtAgent *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        /* bounded: a remote host that accepts and never answers (many hosts) */
        a->conn = hv_libvirt_open_within(uri, 0, err, err_size);
        virSetErrorFunc(NULL, ignore_error);
        if (!a->conn) {
                hv_libvirt_agent_close(a);
                return -ENOTCONN;
        }
        a->dom = d->uuid ? virDomainLookupByUUIDString(a->conn, d->uuid) : virDomainLookupByName(a->conn, d->name);
        if (!a->dom) {
                int r = last_error(err, err_size, -ENOENT);
                hv_libvirt_agent_close(a);
                return r;
        }
        *ret_handle = a;
        return 0;
}

int hv_libvirt_agent_command(void *handle, const char *json, int timeout_s, char **ret_reply, char *err,
                             size_t err_size) {
        LibvirtAgent *a = handle;
        if (!a || !json || timeout_s < 1)
                return -EINVAL;
        char *reply = virDomainQemuAgentCommand(a->dom, json, timeout_s, 0);
        if (!reply) {
                int r = last_error(err, err_size, -EREMOTEIO);
                log_debug("libvirt agent command failed: %s", err);
                return r;
        }
        *ret_reply = reply;
        return 0;
}
