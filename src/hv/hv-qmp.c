/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qmp backend: QEMU processes found in /proc, whoever started them.
 * Name from -name, QMP socket from -qmp or -chardev + -mon, the xvagent
 * channel from a virtserialport named org.xvsched.agent.0. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int domain_from_process(const HvOptions *o, pid_t pid, Domain **ret) {
        char **argv = NULL;
        size_t argc = 0;
        int r = hv_read_cmdline(o->proc_root, pid, &argv, &argc);
        if (r < 0)
                return r;
        if (argc == 0 || !is_qemu_binary(argv[0])) {
                strv_free_n(argv, argc);
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
        int r = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                int pid;
                if (safe_atoi(de->d_name, &pid) < 0 || pid <= 0)
                        continue;
                Domain *d = NULL;
                int k = domain_from_process(o, pid, &d);
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
