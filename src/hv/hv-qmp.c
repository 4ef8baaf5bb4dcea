/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qmp backend: QEMU processes found in /proc, run by root or by the
 * libvirt/qemu user from a QEMU binary only root can have put there (see
 * hv_qemu_trusted()); look-alikes of other users are ignored.
 * Name from -name, QMP socket from -qmp or -chardev + -mon, the xvagent
 * channel from a virtserialport named org.xvsched.agent.0. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "hv/hv.h"
#include "hv/qemu-args.h"

static bool is_qemu_binary(const char *argv0) {
        const char *base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        return strneq(base, "qemu-system-", 12) || strneq(base, "qemu-kvm", 8);
}

#define MAX_TRUSTED_UIDS 4

/* Gather what hv_qemu_trusted() judges from PROC/PID.  0: trusted; -EPERM:
 * not (logged at debug level); other -errno: the process could not be
 * examined (gone, or not ours to look at). */
static int process_trusted(const HvOptions *o, pid_t pid, const uid_t *uids, size_t n_uids) {
        char path[256];
        snprintf(path, sizeof path, "%s/%d/status", o->proc_root, (int) pid);
        _cleanup_free_ char *status = NULL;
        int r = read_full_file(path, 64 << 10, &status, NULL);
        if (r < 0)
                return r;
        const char *u = strstr(status, "\nUid:");
        unsigned ruid, euid;
        if (!u || sscanf(u + 5, "%u %u", &ruid, &euid) != 2)
                return -EBADMSG;

        /* The path and the running file must agree: a process that execs
         * between the two looks reads as a path naming another file. */
        snprintf(path, sizeof path, "%s/%d/exe", o->proc_root, (int) pid);
        _cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        char exe_path[PATH_MAX];
        ssize_t n = readlink(path, exe_path, sizeof exe_path - 1);
        if (n < 0)
                return negative_errno();
        exe_path[n] = 0;
        struct stat exe, at_path, dir;
        if (fstat(fd, &exe) < 0)
                return negative_errno();
        /* QEMU upgraded under a running VM: the link says " (deleted)" and
         * the file has no name left; its old directory is still judged. */
        bool deleted = false;
        if (exe.st_nlink == 0 && n > 10 && streq(exe_path + n - 10, " (deleted)")) {
                exe_path[n - 10] = 0;
                deleted = true;
        }
        bool have_path = !deleted && lstat(exe_path, &at_path) == 0;
        char dir_path[PATH_MAX];
        snprintf(dir_path, sizeof dir_path, "%s", exe_path);
        char *slash = strrchr(dir_path, '/');
        bool have_dir = false;
        if (slash) {
                slash[slash == dir_path] = 0; /* "/qemu-kvm" lies in "/" */
                have_dir = stat(dir_path, &dir) == 0;
        }

        const char *why = NULL;
        r = hv_qemu_trusted((uid_t) ruid, (uid_t) euid, uids, n_uids, exe_path, &exe,
                            have_path ? &at_path : NULL, have_dir ? &dir : NULL, &why);
        if (r < 0)
                log_debug("pid %d: QEMU look-alike (uid %u, euid %u, executable %s%s) ignored: %s", (int) pid, ruid,
                          euid, exe_path, deleted ? " (deleted)" : "", why);
        return r;
}

static int domain_from_process(const HvOptions *o, pid_t pid, const uid_t *uids, size_t n_uids, Domain **ret) {
        char **argv = NULL;
        size_t argc = 0;
        int r = hv_read_cmdline(o->proc_root, pid, &argv, &argc);
        if (r < 0)
                return r;
        if (argc == 0 || !is_qemu_binary(argv[0])) {
                strv_free_n(argv, argc);
                return 0;
        }
        r = process_trusted(o, pid, uids, n_uids);
        if (r < 0) {
                strv_free_n(argv, argc);
                if (r != -EPERM && r != -ENOENT && r != -ESRCH)
                        log_debug("pid %d: cannot check that it is a trusted QEMU (%s); ignored", (int) pid,
                                  strerror(-r));
                return 0;
        }

        QemuArgs a = {};
        r = qemu_args_parse(argv, argc, &a);
        strv_free_n(argv, argc);
        if (r < 0)
                return r;

        char fallback[32];
        snprintf(fallback, sizeof fallback, "qemu-%d", (int) pid);
        Domain *d = domain_new(a.name ? a.name : fallback, "qmp");
        if (!d) {
                qemu_args_done(&a);
                return -ENOMEM;
        }
        d->pid = pid;
        d->qmp_socket = TAKE_PTR(a.qmp_socket);
        d->agent_socket = TAKE_PTR(a.agent_socket);
        if (a.qga_socket) {
                d->qga_channel = (DomainChannel) { .present = true, .type = strdup("unix"),
                                                   .path = TAKE_PTR(a.qga_socket) };
        }
        qemu_args_done(&a);

        r = hv_classify_threads_qmp(o, d);
        if (r < 0) {
                domain_free(d);
                return r == -ESRCH ? 0 : r; /* exited meanwhile */
        }
        (void) hv_domain_cgroup(o, pid, &d->cgroup);
        *ret = d;
        return 1;
}

static int qmp_discover(const HvOptions *o, DomainList *l) {
        DIR *dir = opendir(o->proc_root);
        if (!dir)
                return negative_errno();
        uid_t uids[MAX_TRUSTED_UIDS];
        size_t n_uids = hv_qemu_trusted_uids(uids, ELEMENTSOF(uids));
        int r = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                int pid;
                if (safe_atoi(de->d_name, &pid) < 0 || pid <= 0)
                        continue;
                Domain *d = NULL;
                int k = domain_from_process(o, pid, uids, n_uids, &d);
                if (k == -ENOENT || k == -ESRCH)
                        continue;
                if (k < 0) {
                        log_debug("skipping pid %d: %s", pid, strerror(-k));
                        continue;
                }
                if (k > 0) {
                        r = domain_list_add(l, d);
                        if (r < 0)
                                break;
                }
        }
        closedir(dir);
        return r;
}

const HvBackend hv_backend_qmp = {
        .name = "qmp",
        .discover = qmp_discover,
};
