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
#include <sys/stat.h>
#include <sys/types.h>

#include "model/domain.h"

/* The connections discovery and the levers use (today: the libvirt
 * connection), owned by the caller: hv_context_new() at start,
 * hv_context_free() (closes them) at exit.  Shared by threads (it has its
 * own lock).  A process forked from the owner (the guard) never uses the
 * owner's connection: it opens its own.  HvOptions.ctx NULL: each call
 * opens and closes its own connection. */
typedef struct HvContext HvContext;
HvContext *hv_context_new(void);
void hv_context_free(HvContext *c);
static inline void hv_context_freep(HvContext **c) {
        hv_context_free(*c);
        *c = NULL;
}

typedef struct HvOptions {
        const char *backend;        /* "libvirt", "qmp", "local", or NULL for all */
        const char *libvirt_uri;    /* NULL: libvirt's default (qemu:///system as root) */
        char **libvirt_uris;        /* many hosts (-c repeated, [hosts]): discovery asks each of them */
        size_t n_libvirt_uris;      /* 0: only libvirt_uri */
        int connect_timeout_ms;     /* each host's discovery ends within this (0: HV_CONNECT_TIMEOUT_MS) */
        char **local_specs;         /* "NAME=cgroup:/path" or "NAME=pid:PID" [",agent=PATH"] */
        size_t n_local_specs;
        const char *proc_root;      /* "/proc" */
        const char *cgroup_root;    /* "/sys/fs/cgroup" */
        int qmp_timeout_ms;
        bool quick;                 /* names and pids only: no monitor queries (threads classed by name) */
        HvContext *ctx;             /* connections, the caller's (NULL: one per call) */
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

/* Many hosts.  A host that does not answer (a TCP port that accepts and
 * never speaks, an ssh that hangs) costs at most connect_timeout_ms, once:
 * its connection attempt goes on in a thread of its own, and while it is in
 * flight the host is reported as not answering at once. */
#define HV_CONNECT_TIMEOUT_MS 5000
/* Where a libvirt URI's hypervisor runs, for a row's HOST column: the URI's
 * host[:port] ("h1", "127.0.0.1:16509"), or "localhost" for one without a
 * host (qemu:///system).  Pure. */
void hv_uri_host(const char *uri, char *buf, size_t size);
/* A domain's host (its libvirt URI's, else "localhost"). */
void hv_domain_host(const Domain *d, char *buf, size_t size);

/* Like hv_discover(); with o->n_libvirt_uris > 0 the libvirt backend asks
 * every URI at once, and a host that fails or does not answer within the
 * timeout does not fail the discovery: *ret_failed (may be NULL) gets one
 * "URI: reason" line per such host (a NULL-terminated array, malloc'd;
 * NULL when none) and the others' domains are listed. */
int hv_discover_hosts(const HvOptions *o, DomainList *ret, char **ret_note, char ***ret_failed);
void hv_strv_free(char **v);
static inline void hv_strv_freep(char ***v) {
        hv_strv_free(*v);
        *v = NULL;
}
/* All backends (or the one named in o->backend).  A QEMU process that libvirt
 * manages is reported once, by libvirt.  ret_note (may be NULL) receives a
 * malloc'd human-readable note about backends that were not available. */
int hv_discover(const HvOptions *o, DomainList *ret, char **ret_note);

/* Parse "NAME=cgroup:/path" or "NAME=pid:PID", each optionally followed by
 * ",agent=/path/of/xvagent.sock" (the local backend's domain spec);
 * -EINVAL on anything else.  ret_agent may be NULL; it gets NULL when no
 * agent is named. */
int hv_local_spec_parse(const char *spec, char **ret_name, char **ret_kind, char **ret_arg, char **ret_agent);

/* Is a process a QEMU that root may act on?  Pure: the caller gathers the
 * facts (see the qmp backend).  Trusted when
 *   - its real and effective uid are 0 or one of trusted_uids (the libvirt
 *     and qemu users), and
 *   - exe_path (where /proc/PID/exe points, " (deleted)" already stripped)
 *     is absolute with the basename qemu-system-* or qemu-kvm, and
 *   - the running executable (exe, fstat of /proc/PID/exe) is a regular
 *     file owned by root and not writable by group or others, and
 *   - at_path (lstat of exe_path) is that same file; NULL only when the
 *     running executable was deleted (st_nlink 0: QEMU upgraded under a
 *     running VM), and
 *   - dir (stat of exe_path's directory) is a directory owned by root and
 *     not writable by group or others (so not /tmp, not a user's home).
 * Returns 0 when trusted, else -EPERM with *ret_why (may be NULL) set to a
 * static phrase saying which check failed. */
int hv_qemu_trusted(uid_t ruid, uid_t euid, const uid_t *trusted_uids, size_t n_trusted, const char *exe_path,
                    const struct stat *exe, const struct stat *at_path, const struct stat *dir, const char **ret_why);
/* Uids besides root whose QEMU processes are trusted: those of the users
 * "libvirt-qemu" and "qemu" where they exist.  Returns how many (<= max). */
size_t hv_qemu_trusted_uids(uid_t *ret, size_t max);

/* ---- a libvirt domain's run state, through libvirt (any URI, remote too) ----
 * The domain is named by its UUID on the connection o names (o->libvirt_uri,
 * o->ctx).  -ENOENT: no such domain (any more); -ENOTCONN: libvirt not
 * reachable; -EIO: libvirt refused (its message at debug level). */

/* 1: running; 0: paused by a user (virDomainSuspend, a monitor `stop`);
 * -ESTALE: in another state (shut off, paused for an I/O error or a
 * migration...: not a pause of ours to end), named in *ret_state (may be
 * NULL, malloc'd). */
int hv_libvirt_run_state(const HvOptions *o, const char *uuid, char **ret_state);
/* virDomainSuspend. */
int hv_libvirt_suspend(const HvOptions *o, const char *uuid);
/* virDomainResume, confirmed by the run state, repeated until the domain
 * runs or deadline_ms passed; only a user pause is resumed (-ESTALE, as
 * hv_libvirt_run_state(), for any other state; 0 when it runs already). */
int hv_libvirt_resume_confirmed(const HvOptions *o, const char *uuid, int deadline_ms, char **ret_state);
/* An HMP command through libvirt's monitor passthrough
 * (virDomainQemuMonitorCommand), e.g. "info registers -a"; *ret malloc'd. */
int hv_libvirt_hmp(const HvOptions *o, const char *uuid, const char *command, char **ret);

/* The guest agent channels of a libvirt domain's XML (pure): the
 * <channel> elements whose target is the xvagent port
 * (org.xvsched.agent.0) and QEMU's guest agent (org.qemu.guest_agent.0).
 * Fills d->xvagent_channel and d->qga_channel (replacing what they held).
 * -EBADMSG: not a domain XML. */
int hv_libvirt_parse_channels(const char *xml, size_t len, Domain *d);

/* Helpers shared by backends. */
/* The libvirt backend over o->libvirt_uris (see hv_discover_hosts()). */
int hv_libvirt_discover_many(const HvOptions *o, DomainList *l, char ***ret_failed);
int hv_read_cmdline(const char *proc_root, pid_t pid, char ***ret_argv, size_t *ret_argc);
void strv_free_n(char **v, size_t n);
/* Fill vCPU/iothread classes from QMP when the domain has a socket; falls
 * back to thread names.  Never fails the discovery: returns 0 and notes the
 * source in d->vcpu_source. */
int hv_classify_threads_qmp(const HvOptions *o, Domain *d);

/* The threads of d's process (or of each of d->pids, a process that exited
 * meanwhile skipped) from PROC_ROOT, classed by name, in tid order; replaces
 * d->threads.  -ESRCH when d has no process (or its single one is gone). */
int hv_scan_threads(const char *proc_root, Domain *d);
/* The cgroup a domain owns: the main process's cpu cgroup, or its parent
 * when that is libvirt's per-thread "emulator" group. */
int hv_domain_cgroup(const HvOptions *o, pid_t pid, char **ret);
