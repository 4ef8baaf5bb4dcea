/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Discovery: who are the domains on this host, and what are their threads.
 * Backends sit behind one small vtable (style of libvirt's cgroup backends):
 * `discover` is mandatory; the lever slots are optional and only the libvirt
 * backend fills them (an empty slot means "act on threads and cgroups
 * directly").  Errors are -errno; -ENOTCONN means "backend not available on
 * this host" (no libvirtd, say), which hv_discover() tolerates when the
 * backend was not asked for explicitly. */

#include <stdbool.h>

#include "model/domain.h"

typedef struct HvOptions {
        const char *backend;        /* "libvirt", "qmp", "local", or NULL for all */
        const char *libvirt_uri;    /* NULL: libvirt's default (qemu:///system as root) */
        char **local_specs;         /* "NAME=cgroup:/path" or "NAME=pid:PID" [",agent=PATH"] */
        size_t n_local_specs;
        const char *proc_root;      /* "/proc" */
        const char *cgroup_root;    /* "/sys/fs/cgroup" */
        int qmp_timeout_ms;
        bool quick;                 /* names and pids only: no monitor queries (threads classed by name) */
} HvOptions;

#define HV_OPTIONS_DEFAULT { .proc_root = "/proc", .cgroup_root = "/sys/fs/cgroup", .qmp_timeout_ms = 3000 }

typedef struct HvBackend {
        const char *name;
        int (*discover)(const HvOptions *o, DomainList *l);

        /* Optional levers through the hypervisor's own API.  `lever` is one of
         * "weight", "cap", "memory", "ioweight", "cpus.vcpu", "cpus.emulator" with values in
         * xvsched's one scale (see docs/levers.md).  save returns an opaque
         * string that restore writes back exactly. */
        int (*lever_save)(const HvOptions *o, const Domain *d, const char *lever, char **ret_saved);
        int (*lever_set)(const HvOptions *o, const Domain *d, const char *lever, const char *value);
        int (*lever_restore)(const HvOptions *o, const Domain *d, const char *lever, const char *saved);
} HvBackend;

extern const HvBackend hv_backend_libvirt;
extern const HvBackend hv_backend_qmp;
extern const HvBackend hv_backend_local;

const HvBackend *hv_backend_by_name(const char *name);
/* All backends (or the one named in o->backend).  A QEMU process that libvirt
 * manages is reported once, by libvirt.  ret_note (may be NULL) receives a
 * malloc'd human-readable note about backends that were not available. */
int hv_discover(const HvOptions *o, DomainList *ret, char **ret_note);

/* Parse "NAME=cgroup:/path" or "NAME=pid:PID", each optionally followed by
 * ",agent=/path/of/xvagent.sock" (the local backend's domain spec);
 * -EINVAL on anything else.  ret_agent may be NULL; it gets NULL when no
 * agent is named. */
int hv_local_spec_parse(const char *spec, char **ret_name, char **ret_kind, char **ret_arg, char **ret_agent);

/* Helpers shared by backends. */
int hv_read_cmdline(const char *proc_root, pid_t pid, char ***ret_argv, size_t *ret_argc);
void strv_free_n(char **v, size_t n);
/* Fill vCPU/iothread classes from QMP when the domain has a socket; falls
 * back to thread names.  Never fails the discovery: returns 0 and notes the
 * source in d->vcpu_source. */
int hv_classify_threads_qmp(const HvOptions *o, Domain *d);
/* The cgroup a domain owns: the main process's cpu cgroup, or its parent
 * when that is libvirt's per-thread "emulator" group. */
int hv_domain_cgroup(const HvOptions *o, pid_t pid, char **ret);
