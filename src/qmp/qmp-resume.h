/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Resuming a VM over QMP, and believing only query-status: `cont` may fail
 * or time out while QEMU still acts on it, so the run state is asked again
 * after every error, and `cont` is repeated until QEMU says "running" or the
 * deadline passes.  Shared by the vmi view (after its own pause) and by the
 * recovery of a "pause" journal entry. */

#include "qmp/qmp.h"

/* *q: an open client, or NULL (then connects to path).  A client whose
 * connection broke is closed and opened again (QEMU's monitor takes one
 * client).  Only a VM in state "paused" (a QMP `stop`) is continued; any
 * other stopped state is not ours to end.
 * 0: running.  -ESTALE: the VM is stopped in another state (status in
 * ret_status when non-NULL, malloc'd).  Other -errno: still paused, or QMP
 * unreachable, when the deadline passed. */
int qmp_resume_confirmed(QmpClient **q, const char *path, int deadline_ms, char **ret_status);
