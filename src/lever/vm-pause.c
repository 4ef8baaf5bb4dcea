/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "basic/time-util.h"
#include "host/proc.h"
#include "hv/hv.h"
#include "lever/vm-kcall.h"
#include "lever/vm-pause.h"
#include "qmp/qmp-resume.h"

#define PAUSE_UNDO_DEADLINE_MS 3000
/* libvirt's client has no timeout: a libvirtd that accepts and never
 * answers (stuck, SIGSTOPped, a remote host gone quiet) holds a call, even
 * virConnectOpen, for ever.  So the libvirt resume runs in a child of its
 * own, killed after this long (connect, lookup, resume, confirm). */
#define PAUSE_UNDO_LIBVIRT_LIMIT_MS (PAUSE_UNDO_DEADLINE_MS + 5000)

/* hv_libvirt_resume_confirmed() in a child, bounded: -ETIMEDOUT when it
 * did not finish in time (the child is killed; the entry is kept and
 * tried again).  The child reports its result and the state it saw
 * through a pipe. */
static int resume_bounded(const char *uri, const char *uuid, char **ret_state) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t child = fork();
        if (child < 0) {
                int k = -errno;
                close(p[0]);
                close(p[1]);
                return k;
        }
        if (child == 0) {
                close(p[0]);
                HvOptions o = HV_OPTIONS_DEFAULT;
                o.libvirt_uri = uri;
                char *state = NULL;
                int r = hv_libvirt_resume_confirmed(&o, uuid, PAUSE_UNDO_DEADLINE_MS, &state);
                char buf[128] = {};
                int n = snprintf(buf, sizeof buf, "%d %s", r, state ? state : "");
                (void) !write(p[1], buf, n < 0 ? 0 : (size_t) n >= sizeof buf ? sizeof buf - 1 : (size_t) n);
                _exit(0);
        }
        close(p[1]);
        char buf[128] = {};
        size_t len = 0;
        uint64_t end = (uint64_t) now_msec() + PAUSE_UNDO_LIBVIRT_LIMIT_MS;
        int r = -ETIMEDOUT;
        for (;;) {
                uint64_t now = (uint64_t) now_msec();
                if (now >= end)
                        break;
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                int k = poll(&pfd, 1, (int) (end - now));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                ssize_t got = read(p[0], buf + len, sizeof buf - 1 - len);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0) {
                        r = len > 0 ? 0 : -EPROTO;   /* EOF: the child is done (or died) */
                        break;
                }
                len += (size_t) got;
                if (len >= sizeof buf - 1) {
                        r = 0;
                        break;
                }
        }
        close(p[0]);
        if (r == -ETIMEDOUT) {
                log_debug("libvirt resume of %s on %s: no answer in %d ms: killed, to be tried again", uuid, uri,
                          PAUSE_UNDO_LIBVIRT_LIMIT_MS);
                (void) kill(child, SIGKILL);
        }
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return r;
        char *sp = strchr(buf, ' ');
        if (!sp)
                return -EPROTO;
        *sp = 0;
        if (safe_atoi(buf, &r) < 0 || r > 0)
                return -EPROTO;
        if (ret_state && sp[1] && !(*ret_state = strdup(sp + 1)))
                return -ENOMEM;
        return r;
}

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
        _cleanup_free_ char *state = NULL;
        int r = resume_bounded(uri, uuid, &state);
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
        /* A guest kernel call in flight when its process died: finished or
         * undone before the VM runs (vm-kcall.h).  Not reachable: the entry
         * stays (and the VM paused) for the next try. */
        json_object *kc;
        if (json_object_object_get_ex(e, "kcall", &kc)) {
                _cleanup_free_ char *msg = NULL;
                r = vm_kcall_finish(q, pid, kc, &msg);
                if (r == -EBADMSG)
                        log_debug("pause %s: a malformed guest kernel call record: ignored", sock);
                else if (r < 0)
                        return r;
        }
        _cleanup_free_ char *status = NULL;
        r = qmp_resume_confirmed(&q, NULL, PAUSE_UNDO_DEADLINE_MS, &status);
        if (r == -ESTALE)
                log_debug("pause %s: the VM is '%s', not paused: leaving it", sock, status ? status : "?");
        return r;
}
