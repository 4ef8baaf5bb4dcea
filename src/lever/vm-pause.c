/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "host/proc.h"
#include "lever/vm-pause.h"
#include "qmp/qmp-resume.h"

#define PAUSE_UNDO_DEADLINE_MS 3000

int vm_pause_undo(json_object *e) {
        json_object *v;
        const char *sock = json_object_object_get_ex(e, "qmp_socket", &v) ? json_object_get_string(v) : NULL;
        pid_t pid = json_object_object_get_ex(e, "qemu_pid", &v) ? (pid_t) json_object_get_int(v) : 0;
        uint64_t start = json_object_object_get_ex(e, "qemu_start", &v) ? (uint64_t) json_object_get_int64(v) : 0;
        if (!sock || !*sock || pid <= 0 || start == 0)
                return -EBADMSG;
        if (!host_process_alive(pid, start))
                return -ESRCH;   /* that QEMU is gone: its VM is not paused any more */
        /* Connect, then make sure the socket is that very QEMU's (its
         * pid, and that pid still the QEMU recorded): checking the process
         * and then connecting by path would let another process's socket
         * put there in between receive the `cont`.  No reconnects by path
         * after that. */
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        int r = qmp_connect(sock, PAUSE_UNDO_DEADLINE_MS, &q);
        if (r < 0)
                return r;
        pid_t peer = 0;
        r = qmp_peer_pid(q, &peer);
        if (r < 0)
                return r;
        if (!host_process_alive(pid, start))
                return -ESRCH;   /* that QEMU went while we connected */
        if (peer != pid) {
                log_debug("pause %s: the socket is pid %d's, not QEMU %d's: no cont through it", sock, (int) peer,
                          (int) pid);
                return -EPERM;   /* kept: not this socket's to resume */
        }
        _cleanup_free_ char *status = NULL;
        r = qmp_resume_confirmed(&q, NULL, PAUSE_UNDO_DEADLINE_MS, &status);
        if (r == -ESTALE)
                log_debug("pause %s: the VM is '%s', not paused: leaving it", sock, status ? status : "?");
        return r;
}
