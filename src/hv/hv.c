/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "host/cgroup.h"
#include "host/proc.h"
#include "hv/hv.h"
#include "qmp/qmp.h"

static const HvBackend *const backends[] = {
        &hv_backend_libvirt,
        &hv_backend_qmp,
        &hv_backend_local,
};

const HvBackend *hv_backend_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(backends); i++)
                if (streq(backends[i]->name, name))
                        return backends[i];
        return NULL;
}

static bool pid_listed(const DomainList *l, pid_t pid) {
        for (size_t i = 0; i < l->n; i++)
                if (pid > 0 && l->domains[i]->pid == pid)
                        return true;
        return false;
}

void hv_strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

void hv_uri_host(const char *uri, char *buf, size_t size) {
        const char *p = uri ? strstr(uri, "://") : NULL;
        if (size == 0)
                return;
        if (!p) {
                snprintf(buf, size, "localhost");
                return;
        }
        p += 3;
        size_t n = strcspn(p, "/?#");
        const char *at = memchr(p, '@', n);   /* user@host: the host */
        if (at) {
                n -= (size_t) (at + 1 - p);
                p = at + 1;
        }
        if (n == 0) {
                snprintf(buf, size, "localhost");
                return;
        }
        snprintf(buf, size, "%.*s", (int) n, p);
}

void hv_domain_host(const Domain *d, char *buf, size_t size) {
        hv_uri_host(d->libvirt_uri, buf, size);
}

int hv_discover(const HvOptions *o, DomainList *ret, char **ret_note) {
        _cleanup_(hv_strv_freep) char **failed = NULL;
        int r = hv_discover_hosts(o, ret, ret_note, &failed);
        for (size_t i = 0; r >= 0 && failed && failed[i]; i++)
                log_debug("host %s", failed[i]);
        return r;
}

int hv_discover_hosts(const HvOptions *o, DomainList *ret, char **ret_note, char ***ret_failed) {
        DomainList all = {};
        _cleanup_free_ char *note = NULL;
        _cleanup_(hv_strv_freep) char **failed = NULL;
        int r;

        if (o->backend && !hv_backend_by_name(o->backend))
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
                const HvBackend *b = backends[i];
                if (o->backend && !streq(o->backend, b->name))
                        continue;
                /* The local backend only reports what it was told about. */
                if (!o->backend && b == &hv_backend_local && o->n_local_specs == 0)
                        continue;

                DomainList found = {};
                if (b == &hv_backend_libvirt && o->n_libvirt_uris > 0)
                        r = hv_libvirt_discover_many(o, &found, &failed);
                else
                        r = b->discover(o, &found);
                if (r < 0) {
                        domain_list_done(&found);
                        /* a libvirtd that does not answer (ETIMEDOUT) is as absent as none */
                        if (o->backend || (r != -ENOTCONN && r != -ETIMEDOUT)) {
                                domain_list_done(&all);
                                return r;
                        }
                        char *n = NULL;
                        if (asprintf(&n, "%s%s%s backend %s", note ? note : "", note ? "; " : "", b->name,
                                     r == -ETIMEDOUT ? "did not answer in time" : "not available") < 0) {
                                domain_list_done(&all);
                                return -ENOMEM;
                        }
                        free(note);
                        note = n;
                        continue;
                }
                for (size_t j = 0; j < found.n; j++) {
                        Domain *d = TAKE_PTR(found.domains[j]);
                        /* libvirt runs first: a QEMU it manages is its domain. */
                        if (pid_listed(&all, d->pid)) {
                                domain_free(d);
                                continue;
                        }
                        if (domain_list_find(&all, d->name))
                                log_debug("two domains named '%s' (%s and %s)", d->name,
                                          domain_list_find(&all, d->name)->backend, d->backend);
                        r = domain_list_add(&all, d);
                        if (r < 0) {
                                domain_list_done(&found);
                                domain_list_done(&all);
                                return r;
                        }
                }
                domain_list_done(&found);
        }

        *ret = all;
        if (ret_note)
                *ret_note = TAKE_PTR(note);
        if (ret_failed)
                *ret_failed = TAKE_PTR(failed);
        return 0;
}

static bool uid_trusted(uid_t uid, const uid_t *trusted, size_t n) {
        if (uid == 0)
                return true;
        for (size_t i = 0; i < n; i++)
                if (trusted[i] == uid)
                        return true;
        return false;
}

static bool root_only_writable(const struct stat *st) {
        return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int untrusted(const char **ret_why, const char *why) {
        if (ret_why)
                *ret_why = why;
        return -EPERM;
}

int hv_qemu_trusted(uid_t ruid, uid_t euid, const uid_t *trusted_uids, size_t n_trusted, const char *exe_path,
                    const struct stat *exe, const struct stat *at_path, const struct stat *dir, const char **ret_why) {
        if (!uid_trusted(ruid, trusted_uids, n_trusted) || !uid_trusted(euid, trusted_uids, n_trusted))
                return untrusted(ret_why, "owned by a user other than root, libvirt-qemu or qemu");
        if (!exe_path || exe_path[0] != '/')
                return untrusted(ret_why, "its executable has no absolute path");
        const char *base = strrchr(exe_path, '/') + 1;
        bool named = (strneq(base, "qemu-system-", 12) && base[12]) || streq(base, "qemu-kvm");
        if (!named || strpbrk(base, " \t\n"))
                return untrusted(ret_why, "its executable is not named qemu-system-* or qemu-kvm");
        if (!exe || !S_ISREG(exe->st_mode) || !root_only_writable(exe))
                return untrusted(ret_why, "its executable is not a root-owned file that only root can write");
        if (at_path) {
                if (at_path->st_dev != exe->st_dev || at_path->st_ino != exe->st_ino)
                        return untrusted(ret_why, "its executable's path names another file");
        } else if (exe->st_nlink != 0)
                return untrusted(ret_why, "its executable's path cannot be checked");
        if (!dir || !S_ISDIR(dir->st_mode) || !root_only_writable(dir))
                return untrusted(ret_why, "its executable lies in a directory that others than root can write");
        return 0;
}

size_t hv_qemu_trusted_uids(uid_t *ret, size_t max) {
        static const char *const users[] = { "libvirt-qemu", "qemu" };
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(users) && n < max; i++) {
                char buf[4096];
                struct passwd pw, *res = NULL;
                if (getpwnam_r(users[i], &pw, buf, sizeof buf, &res) == 0 && res && res->pw_uid != 0)
                        ret[n++] = res->pw_uid;
        }
        return n;
}

void strv_free_n(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int hv_read_cmdline(const char *proc_root, pid_t pid, char ***ret_argv, size_t *ret_argc) {
        char path[256];
        snprintf(path, sizeof path, "%s/%d/cmdline", proc_root, (int) pid);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_full_file(path, 1 << 20, &buf, &len);
        if (r < 0)
                return r;
        size_t argc = 0;
        for (size_t i = 0; i < len; i++)
                argc += buf[i] == 0;
        if (len > 0 && buf[len - 1] != 0)
                argc++;
        char **argv = calloc(argc + 1, sizeof *argv);
        if (!argv)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < len && k < argc; k++) {
                argv[k] = strdup(buf + i);
                if (!argv[k]) {
                        strv_free_n(argv, k);
                        return -ENOMEM;
                }
                i += strlen(buf + i) + 1;
        }
        *ret_argv = argv;
        *ret_argc = k;
        return 0;
}

static int scan_process_threads(Domain *d, const char *proc_root, pid_t pid) {
        _cleanup_free_ ProcThread *v = NULL;
        size_t n = 0;
        int r = proc_threads(proc_root, pid, &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = domain_add_thread_by_comm(d, v[i].tid, v[i].comm);
                if (r < 0)
                        return r;
        }
        return 0;
}

int hv_scan_threads(const char *proc_root, Domain *d) {
        if (d->pid <= 0 && d->n_pids == 0)
                return -ESRCH;
        free(d->threads);
        d->threads = NULL;
        d->n_threads = 0;
        if (d->n_pids == 0) {
                int r = scan_process_threads(d, proc_root, d->pid);
                if (r < 0)
                        return r;
        } else
                for (size_t i = 0; i < d->n_pids; i++) {
                        int r = scan_process_threads(d, proc_root, d->pids[i]);
                        if (r == -ESRCH)
                                continue; /* one process of a tree exited */
                        if (r < 0)
                                return r;
                }
        domain_sort_threads(d);
        return 0;
}

int hv_classify_threads_qmp(const HvOptions *o, Domain *d) {
        int r = hv_scan_threads(o->proc_root, d);
        if (r < 0)
                return r;
        free(d->vcpu_source);
        d->vcpu_source = strdup("comm");

        if (!d->qmp_socket || o->quick)
                return 0;
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        r = qmp_connect(d->qmp_socket, o->qmp_timeout_ms, &q);
        if (r < 0) {
                log_debug("QMP socket %s of '%s' not usable: %s", d->qmp_socket, d->name, strerror(-r));
                return 0;
        }
        _cleanup_free_ QmpCpu *cpus = NULL;
        size_t n = 0;
        r = qmp_query_cpus_fast(q, &cpus, &n);
        if (r < 0) {
                log_debug("query-cpus-fast on '%s' failed: %s", d->name, qmp_last_error(q));
                return 0;
        }
        _cleanup_free_ pid_t *tids = calloc(n ? n : 1, sizeof *tids);
        if (!tids)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (cpus[i].index >= 0 && (size_t) cpus[i].index < n)
                        tids[cpus[i].index] = cpus[i].thread_id;
        int disagree = domain_set_vcpu_tids(d, tids, n);
        if (disagree > 0)
                log_debug("'%s': %d thread names disagree with QMP's vCPU list; QMP wins", d->name, disagree);
        free(d->vcpu_source);
        d->vcpu_source = strdup("qmp");

        _cleanup_free_ pid_t *io = NULL;
        size_t n_io = 0;
        if (qmp_query_iothreads(q, &io, &n_io) >= 0)
                for (size_t i = 0; i < d->n_threads; i++)
                        for (size_t j = 0; j < n_io; j++)
                                if (d->threads[i].tid == io[j])
                                        d->threads[i].class = THREAD_IO;
        return 0;
}

int hv_domain_cgroup(const HvOptions *o, pid_t pid, char **ret) {
        CgroupHost *h = NULL;
        int r = cgroup_host_open(o->cgroup_root, &h);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        r = cgroup_pid_path(h, o->proc_root, pid, &path);
        cgroup_host_free(h);
        if (r < 0)
                return r;
        /* libvirt puts QEMU's main thread in DOMAIN/emulator. */
        size_t n = strlen(path);
        if (n > 9 && streq(path + n - 9, "/emulator"))
                path[n - 9] = 0;
        *ret = TAKE_PTR(path);
        return 0;
}
