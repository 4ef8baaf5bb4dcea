/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Undoing a "pause" journal entry (journal_entry_pause_new()): a VM that
 * xvsched paused over QMP and did not see running again.  Used by
 * lever_reset() (`xvsched reset`), the next start's recovery and the guard. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/proc.h"   /* host_process_alive(), which its callers use too */

/* 0: the VM runs (continued now, or it was running).  -ESRCH: the QEMU
 * process is gone, or the pid is another process now (start time): nothing
 * to resume.  -ESTALE: the VM is stopped in another state than a QMP
 * pause (shutdown, error): not ours to end.  -EBADMSG: a malformed entry
 * (acts on nothing).  -EPERM: the socket at qmp_socket is not that QEMU's
 * (SO_PEERCRED pid, checked after connecting): nothing sent through it.
 * Other -errno: QMP unreachable or the VM would not run
 * (keep the entry, try again). */
int vm_pause_undo(json_object *e);

/* A pause made through libvirt (journal_entry_pause_new() with a uuid:
 * "via": "libvirt", "libvirt_uri", "uuid") is resumed through libvirt
 * (virDomainResume, confirmed by the domain's state; only a user pause is
 * resumed, -ESTALE for any other state), and -ESRCH when the domain is gone
 * or its QEMU (qemu_pid, qemu_start, when recorded) is not the one that
 * runs now.  libvirt's client has no timeout of its own, so that resume
 * runs in a child process killed after a few seconds: -ETIMEDOUT (keep
 * the entry, try again). */
