/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What xvsched needs from a QEMU command line. */

#include <stddef.h>

typedef struct QemuArgs {
        char *name;          /* -name NAME[,...] or -name guest=NAME,... */
        char *qmp_socket;    /* -qmp unix:PATH,... or -chardev socket,id=X,path=P + -mon chardev=X,mode=control */
        char *agent_socket;  /* -chardev socket,id=X,path=P + -device virtserialport,chardev=X,name=org.xvsched.agent.0 */
        char *qga_socket;    /* the same for qemu-guest-agent's port, name=org.qemu.guest_agent.0 */
} QemuArgs;

#define XVSCHED_AGENT_PORT_NAME "org.xvsched.agent.0"
#define QEMU_GUEST_AGENT_PORT_NAME "org.qemu.guest_agent.0"

int qemu_args_parse(char *const *argv, size_t argc, QemuArgs *ret);
void qemu_args_done(QemuArgs *a);

/* Value of KEY in a QEMU option string "a=b,key=v,,w" (",," is a literal comma).
 * When the first element has no '=', it is returned for key == NULL (the
 * "implied" key, e.g. the driver in -device or the backend in -chardev).
 * Returns a malloc'd string, or NULL if absent (errno = ENOENT) or OOM. */
char *qemu_opt_get(const char *opts, const char *key);
