/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* qemu-guest-agent of a libvirt domain through libvirt
 * (virDomainQemuAgentCommand): libvirtd owns the agent socket, and this
 * works over any URI, remote ones too.  The signatures are those of the
 * view layer's QgaCommandHook (src/view/qga-client.h), which this layer
 * does not include: the program installs them there (hv_libvirt_agent_*
 * as open/command/close, the default URI as userdata). */

#include <stddef.h>

#include "model/domain.h"

/* Connect to d->libvirt_uri (else userdata, a const char * URI or NULL for
 * libvirt's default) and find the domain by d->uuid (else by name).
 * -ENOTCONN: libvirt not reachable; -ENOENT: no such domain. */
int hv_libvirt_agent_open(const Domain *d, void *userdata, void **ret_handle, char *err, size_t err_size);
/* One command (a JSON object) and its whole reply ({"return": ...}).
 * libvirt reports the agent's errors as its own: -EACCES when the command
 * is disabled in the guest, -ETIMEDOUT when the agent does not answer,
 * -ENOTCONN when it is not connected, -ENOENT when the domain is gone,
 * -EREMOTEIO otherwise; err gets libvirt's message. */
int hv_libvirt_agent_command(void *handle, const char *json, int timeout_s, char **ret_reply, char *err,
                             size_t err_size);
void hv_libvirt_agent_close(void *handle);

/* virConnectOpen(uri) within timeout_ms (0: HV_CONNECT_TIMEOUT_MS): libvirt
 * has no timeout of its own for a host that accepts and never answers.
 * One process-wide connection per URI, kept; while an earlier attempt on
 * uri is still in flight, NULL at once (no second thread left waiting).
 * NULL with err set on failure (hv-libvirt.c). */
struct _virConnect;
struct _virConnect *hv_libvirt_open_within(const char *uri, int timeout_ms, char *err, size_t err_size);
