/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The local backend: a cgroup or a process tree named on the command line
 * ("NAME=cgroup:/path", "NAME=pid:PID") is a domain, so containers and plain
 * processes get the same levers as VMs (and tests can run without VMs).
 * Its threads have no vCPU class: every thread is an "emulator" thread. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "host/cgroup.h"
#include "host/proc.h"
#include "hv/hv.h"

int hv_local_spec_parse(const char *spec, char **ret_name, char **ret_kind, char **ret_arg, char **ret_agent) {
        /* An optional ",agent=PATH" names the xvagent socket of the domain
         * (xvagent --listen unix:PATH inside a container, say). */
        _cleanup_free_ char *main_part = NULL, *agent = NULL, *no_qga = NULL;
        /* And an optional last ",qga=PATH" the socket of its qemu-guest-agent
         * (qemu-ga -m unix-listen -p PATH), read by local_spec_qga(). */
        const char *q = strstr(spec, ",qga=");
        if (q) {
                if (q[5] != '/')
                        return -EINVAL;
                if (!(no_qga = strndup(spec, (size_t) (q - spec))))
                        return -ENOMEM;
                spec = no_qga;
        }
        const char *comma = strstr(spec, ",agent=");
        if (comma) {
                if (comma[7] != '/')
                        return -EINVAL;
                agent = strdup(comma + 7);
                main_part = strndup(spec, (size_t) (comma - spec));
        } else
                main_part = strdup(spec);
        if (!main_part || (comma && !agent))
                return -ENOMEM;
        spec = main_part;

        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec)
                return -EINVAL;
        const char *colon = strchr(eq + 1, ':');
        if (!colon || !colon[1])
                return -EINVAL;
        size_t kind_len = (size_t) (colon - eq - 1);
        if (!((kind_len == 6 && strneq(eq + 1, "cgroup", 6)) || (kind_len == 3 && strneq(eq + 1, "pid", 3))))
                return -EINVAL;
        if (kind_len == 3) {
                int pid;
                if (safe_atoi(colon + 1, &pid) < 0 || pid <= 0)
                        return -EINVAL;
        } else if (colon[1] != '/' || strstr(colon + 1, "/..") || strstr(colon + 1, "//"))
                return -EINVAL;
        char *name = strndup(spec, (size_t) (eq - spec));
        char *kind = strndup(eq + 1, kind_len);
        char *arg = strdup(colon + 1);
        if (!name || !kind || !arg) {
                free(name);
                free(kind);
                free(arg);
                return -ENOMEM;
        }
        *ret_name = name;
        *ret_kind = kind;
        *ret_arg = arg;
        if (ret_agent)
                *ret_agent = TAKE_PTR(agent);
        return 0;
}

static int add_pid(Domain *d, pid_t pid) {
        for (size_t i = 0; i < d->n_pids; i++)
                if (d->pids[i] == pid)
                        return 0;
        pid_t *n = realloc(d->pids, (d->n_pids + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        d->pids = n;
        d->pids[d->n_pids++] = pid;
        return 0;
}

static int add_process_tree(const HvOptions *o, Domain *d, pid_t root) {
        _cleanup_free_ pid_t *tree = NULL;
        size_t n = 0;
        int r = proc_tree(o->proc_root, root, &tree, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = add_pid(d, tree[i]);
        return r;
}

static int add_cgroup_procs(const HvOptions *o, Domain *d, const char *cg) {
        CgroupHost *h = NULL;
        int r = cgroup_host_open(o->cgroup_root, &h);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        r = cgroup_host_procs_path(h, cg, &path);
        cgroup_host_free(h);
        if (r < 0)
                return r;
        _cleanup_free_ char *buf = NULL;
        r = read_full_file(path, 16 << 20, &buf, NULL);
        if (r < 0)
                return r;
        for (char *save = NULL, *tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
                int pid;
                if (safe_atoi(tok, &pid) < 0 || pid <= 0)
                        return -EBADMSG;
                r = add_pid(d, pid);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int local_spec_qga(const char *spec, DomainChannel *ret) {
        const char *q = strstr(spec, ",qga=");
        if (!q)
                return 0;
        *ret = (DomainChannel) { .present = true, .type = strdup("unix"), .path = strdup(q + 5) };
        return ret->type && ret->path ? 0 : -ENOMEM;
}

static int local_discover(const HvOptions *o, DomainList *l) {
        for (size_t i = 0; i < o->n_local_specs; i++) {
                _cleanup_free_ char *name = NULL, *kind = NULL, *arg = NULL, *agent = NULL;
                int r = hv_local_spec_parse(o->local_specs[i], &name, &kind, &arg, &agent);
                if (r < 0)
                        return r;
                _cleanup_(domain_freep) Domain *d = domain_new(name, "local");
                if (!d)
                        return -ENOMEM;
                if (streq(kind, "pid")) {
                        int pid;
                        (void) safe_atoi(arg, &pid);
                        r = add_process_tree(o, d, pid);   /* -ESRCH: no such process */
                        if (r < 0)
                                return r;
                        (void) hv_domain_cgroup(o, pid, &d->cgroup);
                } else {
                        r = add_cgroup_procs(o, d, arg);
                        if (r < 0)
                                return r;
                        d->cgroup = strdup(arg);
                        if (!d->cgroup)
                                return -ENOMEM;
                }
                d->pid = d->n_pids > 0 ? d->pids[0] : 0;
                d->agent_socket = TAKE_PTR(agent);
                r = local_spec_qga(o->local_specs[i], &d->qga_channel);
                if (r < 0)
                        return r;
                if (d->n_pids > 0) {
                        r = hv_scan_threads(o->proc_root, d);
                        if (r < 0 && r != -ESRCH)
                                return r;
                }
                r = domain_list_add(l, TAKE_PTR(d));
                if (r < 0)
                        return r;
        }
        return 0;
}

const HvBackend hv_backend_local = {
        .name = "local",
        .discover = local_discover,
};
