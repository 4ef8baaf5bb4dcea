/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "host/proc.h"
#include "hv/hv.h"
#include "lever/vm-pause.h"
#include "qmp/qmp-resume.h"

#define PAUSE_UNDO_DEADLINE_MS 3000

/* A pause made through libvirt: resumed through libvirt, over the URI it
 * was made on (remote ones too), the domain named by its UUID, on a
 * connection of this call's own (the guard is a forked process). */
static int pause_undo_libvirt(json_object *e) {
        json_object *v;
        const char *uri = json_object_object_get_ex(e, "libvirt_uri", &v) ? json_object_get_string(v) : NULL;
        const char *uuid = json_object_object_get_ex(e, "uuid", &v) ? json_object_get_string(v) : NULL;
        pid_t pid = json_object_object_get_ex(e, "qemu_pid", &v) ? (pid_t) json_object_get_int(v) : 0;
        uint64_t start = json_object_object_get_ex(e, "qemu_start", &v) ? (uint64_t) json_object_get_int64(v) : 0;
        if (!uuid || !*uuid || !uri || !*uri)
                return -EBADMSG;
        /* The QEMU recorded (when it is on this host) must be the one that
         * still runs: a domain started again since is not paused by us. */
        if (pid > 0 && start > 0 && !host_process_alive(pid, start))
                return -ESRCH;
        HvOptions o = HV_OPTIONS_DEFAULT;
        o.libvirt_uri = uri;
        _cleanup_free_ char *state = NULL;
        int r = hv_libvirt_resume_confirmed(&o, uuid, PAUSE_UNDO_DEADLINE_MS, &state);
        if (r == -ENOENT)
                return -ESRCH;   /* the domain is gone (or not running): nothing paused any more */
        if (r == -ESTALE)
                log_debug("pause of %s on %s: the domain is '%s', not paused by a user: leaving it", uuid, uri,
                          state ? state : "?");
        return r;
}

int vm_pause_undo(json_object *e) {
        json_object *v;
        if (json_object_object_get_ex(e, "via", &v) && json_object_is_type(v, json_type_string) &&
            streq(json_object_get_string(v), "libvirt"))
                return pause_undo_libvirt(e);
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
