/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The introspection guest view: tasks and run queues read from the guest
 * kernel's memory; stop by SIGSTOP injection while the VM is paused; resume
 * through the domain's agent.  Without an agent this view cannot resume, so
 * it offers no stop either (caps()); nor without a way to pause the VM
 * while it writes: its QMP socket, or, for a libvirt domain (whose monitor
 * belongs to libvirtd), libvirt itself through the operations the program
 * installed (guest_vm_ops_set(): virDomainSuspend/Resume, registers through
 * the monitor passthrough).
 *
 * QMP is used only briefly (attach: RAM layout, GS bases; stop: pause and
 * continue) and never held: QEMU's monitor socket takes one client. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "view/pause-hook.h"
#include "view/view.h"
#include "qmp/qmp-resume.h"
#include "qmp/qmp.h"
#include "vmi/kcall.h"
#include "vmi/mem.h"
#include "vmi/routes.h"
#include "vmi/vmi.h"

#define VV_QMP_TIMEOUT_MS 3000
#define VV_AGENT_TIMEOUT (5 * USEC_PER_SEC)
#define VV_SCAN_TRIES 3
#define VV_LOCK_TRIES 50
#define VV_MAX_HELD 4096
#define VV_RESUME_DEADLINE_MS 5000

#define VV_MAX_VCPU_TIDS 64

typedef struct VmiView {
        pid_t pid;
        char *name;
        char *qmp_socket;
        char *agent_socket;
        char *uuid;              /* paused through libvirt (GuestVmOps): the domain's UUID */
        char *libvirt_uri;       /* ... on this connection */
        char *pause_id;          /* ... and the pause known as "libvirt:UUID" */
        int n_vcpus;
        /* The host threads of the vCPUs, one per vCPU (MTTCG, KVM); else
         * none: whether a vCPU halted is then not known from the host. */
        pid_t vcpu_tids[VV_MAX_VCPU_TIDS];
        size_t n_vcpu_tids;
        VmiMem *mem;
        Vmi *vmi;
        bool can_resume;
        bool can_pause;          /* QMP answered at open (stop pauses the VM through it) */
        AgentClient *agent;      /* opened by the first cont, kept (reconnects by itself) */
        pid_t *held;             /* thread groups this view stopped */
        size_t n_held;
        uint64_t last_pause_us;
        VmiReattach reattach;    /* re-attaches after init_task moved, rate-limited */
        bool resume_pending;     /* paused by this view, not confirmed running yet */
        /* Profiles the user named ($XVSCHED_VMI_PROFILE: an ISF/JSON file for
         * a kernel without BTF; $XVSCHED_VMI_SYSTEM_MAP: checked at attach). */
        VmiProfile *profile, *system_map;
        /* Agentless resume and renice: guest kernel calls through QEMU's
         * gdbstub (src/vmi/kcall.c, docs/agentless.md), when there is no
         * agent and the VM's QMP socket is ours. */
        bool kcall;
        bool quick;              /* guest_view_set_quick(): one short look for an idle vCPU, one try */
        uint64_t fn_send_sig, fn_set_user_nice;
        QmpClient *paused_q;     /* with_vm_paused()'s connection, during fn */
        struct { pid_t pid; int nice; } *niced;   /* original nice values, restored at release */
        size_t n_niced;
        VmiKcallStats last_kcall;
        uint64_t last_kcall_us;  /* vmi_kcall's own duration */
        uint64_t last_setup_us, last_teardown_us;  /* gdbstub start + connect, close + stop */
        char error[256];
        /* The guest kernel has the kcall route disabled (routes.h): the
         * control path, "vmi (kcall disabled on KERNEL: REASON)". */
        char route_off[ROUTE_KERNEL_MAX + ROUTE_REASON_MAX + 64];
} VmiView;

static int vv_error(VmiView *s, int r, const char *fmt, ...) _printf_(3, 4);
static int vv_error(VmiView *s, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->error, sizeof s->error, fmt, ap);
        va_end(ap);
        log_debug("vmi view: %s", s->error);
        return r;
}

static int vv_resume(VmiView *s, QmpClient **q);

static void vv_close(void *p) {
        VmiView *s = p;
        if (!s)
                return;
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        if (s->resume_pending)
                (void) vv_resume(s, &q);
        agent_client_free(s->agent);
        vmi_free(s->vmi);
        vmi_mem_free(s->mem);
        vmi_profile_free(s->profile);
        vmi_profile_free(s->system_map);
        free(s->name);
        free(s->qmp_socket);
        free(s->agent_socket);
        free(s->uuid);
        free(s->libvirt_uri);
        free(s->pause_id);
        free(s->held);
        free(s->niced);
        free(s);
}

/* What the pause hook and the VM operations know this VM's pause by. */
static GuestPause vv_pause_of(const VmiView *s) {
        if (s->uuid)
                return (GuestPause) { .domain = s->name, .qmp_socket = s->pause_id, .qemu_pid = s->pid,
                                      .libvirt_uri = s->libvirt_uri, .uuid = s->uuid };
        return (GuestPause) { .domain = s->name, .qmp_socket = s->qmp_socket, .qemu_pid = s->pid };
}

static int vv_qmp(VmiView *s, QmpClient **ret) {
        if (!s->qmp_socket)
                return -ENOTCONN;
        return qmp_connect(s->qmp_socket, VV_QMP_TIMEOUT_MS, ret);
}

/* Is the kcall route disabled on this guest's kernel (STATE_DIR/routes.json,
 * docs/agentless.md "Routes disabled per kernel")?  Then the view makes no
 * guest kernel call, as with $XVSCHED_VMI_KCALL=0, and says why. */
static bool vv_route_disabled(VmiView *s) {
        char rel[VMI_RELEASE_SIZE], err[512];
        RouteStore st;
        if (route_store_load(NULL, &st, err, sizeof err) < 0)
                log_debug("vmi view: %s", err);   /* treated as empty */
        bool any = false;
        for (size_t i = 0; i < st.n; i++)
                any |= st.e[i].verdict == ROUTE_VERDICT_DISABLED && streq(st.e[i].route, ROUTE_KCALL);
        route_store_done(&st);
        RouteEntry e;
        /* the release costs a scan of guest RAM: only when some kernel has the route disabled */
        if (!any || vmi_kernel_release(s->vmi, rel) < 0 ||
            route_verdict_lookup(NULL, ROUTE_KCALL, rel, &e, err, sizeof err) <= 0 ||
            e.verdict != ROUTE_VERDICT_DISABLED)
                return false;
        snprintf(s->route_off, sizeof s->route_off, "vmi (kcall disabled on %s: %s)", rel,
                 e.reason[0] ? e.reason : "no reason given");
        vv_error(s, -EOPNOTSUPP, "guest kernel calls disabled on %s: %s", rel, e.reason[0] ? e.reason : "no reason given");
        return true;
}

static void vv_add_vcpu_tid(VmiView *s, pid_t tid) {
        for (size_t k = 0; k < s->n_vcpu_tids; k++)
                if (s->vcpu_tids[k] == tid)
                        return;
        if (s->n_vcpu_tids < VV_MAX_VCPU_TIDS)
                s->vcpu_tids[s->n_vcpu_tids++] = tid;
}

/* From QMP, for a domain discovered without its threads. */
static void vv_set_vcpu_tids(VmiView *s, const QmpCpu *cpus, size_t n) {
        s->n_vcpu_tids = 0;
        for (size_t i = 0; i < n; i++)
                vv_add_vcpu_tid(s, cpus[i].thread_id);
        if (s->n_vcpu_tids != n)
                s->n_vcpu_tids = 0;
}

static int vv_open(const Domain *d, void **ret) {
        if (d && d->remote)
                return -EREMOTE;   /* vv_open_error() says why */
        if (!d || d->pid <= 0)
                return -ENOTCONN;
        VmiView *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->pid = d->pid;
        s->n_vcpus = (int) domain_count_class(d, THREAD_VCPU);
        for (size_t i = 0; i < d->n_threads; i++)
                if (d->threads[i].class == THREAD_VCPU)
                        vv_add_vcpu_tid(s, d->threads[i].tid);
        if ((int) s->n_vcpu_tids != s->n_vcpus)   /* one thread for all vCPUs (single-threaded TCG) */
                s->n_vcpu_tids = 0;
        if (!(s->name = strdup(d->name ? d->name : "")) ||
            (d->qmp_socket && !(s->qmp_socket = strdup(d->qmp_socket))) ||
            (d->agent_socket && !(s->agent_socket = strdup(d->agent_socket)))) {
                vv_close(s);
                return -ENOMEM;
        }
        if (!d->qmp_socket && d->uuid && d->libvirt_uri && streq(d->backend, "libvirt")) {
                /* libvirt owns the monitor: pause and registers through libvirt */
                if (!(s->uuid = strdup(d->uuid)) || !(s->libvirt_uri = strdup(d->libvirt_uri)) ||
                    asprintf(&s->pause_id, "libvirt:%s", d->uuid) < 0) {
                        s->pause_id = NULL;
                        vv_close(s);
                        return -ENOMEM;
                }
        }

        _cleanup_(qmp_freep) QmpClient *q = NULL;
        _cleanup_free_ VmiVcpuRegs *regs = NULL;
        size_t n_regs = 0;
        if (vv_qmp(s, &q) >= 0) {
                _cleanup_free_ char *out = NULL;
                s->can_pause = true;
                if (qmp_hmp(q, "info registers -a", &out) >= 0)
                        (void) vmi_parse_info_registers(out, &regs, &n_regs);
                if (s->n_vcpus <= 0) {
                        _cleanup_free_ QmpCpu *cpus = NULL;
                        size_t n = 0;
                        if (qmp_query_cpus_fast(q, &cpus, &n) >= 0) {
                                s->n_vcpus = (int) n;
                                vv_set_vcpu_tids(s, cpus, n);
                        }
                }
        } else {
                q = NULL;
                GuestPause p = vv_pause_of(s);
                if (s->uuid && guest_vm_can_pause(&p)) {
                        _cleanup_free_ char *out = NULL;
                        s->can_pause = true;
                        if (guest_vm_hmp(&p, "info registers -a", &out) >= 0)
                                (void) vmi_parse_info_registers(out, &regs, &n_regs);
                }
        }

        int r = vmi_mem_open_process(d->pid, q, true, &s->mem);
        if (r < 0) {
                vv_close(s);
                return r == -EPERM || r == -EACCES ? r : -ENOTCONN;
        }
        const char *isf = getenv("XVSCHED_VMI_PROFILE"), *map = getenv("XVSCHED_VMI_SYSTEM_MAP");
        if (isf && *isf && (r = vmi_profile_load_isf(isf, &s->profile)) < 0) {
                log_debug_errno(r, "vmi view: cannot load the ISF profile %s: %m", isf);
                vv_close(s);
                return r;
        }
        if (map && *map && (r = vmi_profile_load_system_map(map, &s->system_map)) < 0) {
                log_debug_errno(r, "vmi view: cannot load the System.map %s: %m", map);
                vv_close(s);
                return r;
        }
        VmiOptions o = { .cmdline = true, .max_cpus = s->n_vcpus, .regs = regs, .n_regs = n_regs,
                         .profile = s->profile, .system_map = s->system_map };
        r = vmi_attach(s->mem, &o, &s->vmi);
        if (r < 0) {
                log_debug_errno(r, "vmi view: attach to pid %d failed: %s", (int) d->pid, vmi_last_error(NULL));
                vv_close(s);
                return r;
        }
        s->vmi->opt.regs = NULL;   /* not kept */
        s->vmi->opt.n_regs = 0;

        /* Test hook: leave the agent out (the agentless route on a test
         * guest that has one), only with a test's own state directory. */
        const char *no_agent = getenv("XVSCHED_TEST_VMI_NO_AGENT"), *sd = getenv("XVSCHED_STATE_DIR");
        if (no_agent && streq(no_agent, "1") && sd && *sd && s->agent_socket) {
                free(s->agent_socket);
                s->agent_socket = NULL;
        }
        if (s->agent_socket) {
                /* resume goes through the agent: offer stop only if it answers */
                for (int i = 0; i < 2 && !s->can_resume; i++) {
                        AgentClient *c = NULL;
                        r = agent_client_connect(s->agent_socket, VV_AGENT_TIMEOUT, &c);
                        if (r >= 0) {
                                s->can_resume = true;
                                agent_client_free(c);
                        } else
                                vv_error(s, r, "the agent does not answer (%s): no stop without a resume path",
                                         agent_client_last_error(NULL));
                }
        }
        if (!s->can_resume && s->qmp_socket && s->can_pause) {
                const char *k = getenv("XVSCHED_VMI_KCALL");
                if (k && streq(k, "0"))
                        vv_error(s, -EOPNOTSUPP, "guest kernel calls disabled ($XVSCHED_VMI_KCALL=0)");
                else if (vv_route_disabled(s))
                        ;   /* said by vv_route_disabled() */
                else if ((r = vmi_ksym_lookup(s->vmi, "send_sig", &s->fn_send_sig)) < 0 ||
                         (r = vmi_ksym_lookup(s->vmi, "set_user_nice", &s->fn_set_user_nice)) < 0)
                        vv_error(s, r, "no agentless resume: %s", vmi_last_error(s->vmi));
                else {
                        log_debug("vmi view: send_sig at %#" PRIx64 ", set_user_nice at %#" PRIx64,
                                  s->fn_send_sig, s->fn_set_user_nice);
                        s->kcall = true;
                        s->can_resume = true;
                }
        }
        *ret = s;
        return 0;
}

/* Resume the VM this view paused and confirm it runs (query-status, `cont`
 * again after any error, until VV_RESUME_DEADLINE_MS); only then does the
 * hook hear of it (and the journal entry go).  A VM that would not run
 * stays marked: every later call of the view, and its close, try again;
 * should xvsched die first, the guard or the next start resumes it from
 * the journal. */
static int vv_resume(VmiView *s, QmpClient **q) {
        _cleanup_free_ char *status = NULL;
        GuestPause p = vv_pause_of(s);
        int r;
        if (s->uuid) {
                r = guest_vm_resume(&p, VV_RESUME_DEADLINE_MS, &status);
                if (r == -ENOENT) {
                        log_debug("vmi view: the domain is gone: no pause to end");
                        r = 0;
                }
        } else
                r = qmp_resume_confirmed(q, s->qmp_socket, VV_RESUME_DEADLINE_MS, &status);
        if (r == -ESTALE) {
                /* stopped in another state (shutdown, error): not a pause of ours any more */
                log_debug("vmi view: the VM is in state '%s' now: leaving it", status ? status : "?");
                r = 0;
        }
        if (r < 0) {
                s->resume_pending = true;
                if (s->uuid)
                        return vv_error(s, r, "the VM did not run again after a pause (libvirt: %s): retrying",
                                        strerror(-r));
                return vv_error(s, r, "the VM did not run again after a pause (QMP %s): retrying",
                                *q ? qmp_last_error(*q) : "unreachable");
        }
        s->resume_pending = false;
        guest_pause_after(&p);
        return 0;
}

static int vv_resume_pending(VmiView *s) {
        if (!s->resume_pending)
                return 0;
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        return vv_resume(s, &q);
}

/* Run fn with the VM paused; restores the run state it found.  The pause
 * is recorded (the program's hook journals it) before QMP `stop`: no
 * record, no pause.  After an error of `stop` QEMU may have stopped all
 * the same, so the state is asked again and the VM resumed either way. */
static int with_vm_paused(VmiView *s, int (*fn)(VmiView *s, void *u), void *u) {
        int r = vv_resume_pending(s);
        if (r < 0)
                return r;
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        bool running = false;
        GuestPause p = vv_pause_of(s);
        if (s->uuid) {
                r = guest_vm_run_state(&p, NULL);
                if (r < 0 && r != -ESTALE)
                        return vv_error(s, r, "cannot read the VM's run state through libvirt: %s",
                                        r == -ENOENT ? "the domain is gone" : strerror(-r));
                running = r == 1;
        } else {
                r = vv_qmp(s, &q);
                if (r < 0)
                        return vv_error(s, r, "no QMP connection to pause the VM");
                r = qmp_query_status(q, &running, NULL);
                if (r < 0)
                        return vv_error(s, r, "QMP query-status failed: %s", qmp_last_error(q));
        }
        uint64_t t0 = now_usec();
        int k;
        if (!running) {
                /* Our own pause still owed a resume (a view before this one
                 * could not resume it and was dropped)?  Then it is this
                 * pause now, and ends like one. */
                r = guest_pause_adopt(&p);
                if (r < 0)
                        return vv_error(s, r, "this VM's pause is held by another thread of this process");
                if (r == 0)
                        return fn(s, u); /* paused by someone else: leave it as it is */
                log_debug("vmi view: the VM is still paused by this process: resuming it after this scan");
                k = fn(s, u);
        } else {
                r = guest_pause_before(&p);
                if (r < 0)
                        return vv_error(s, r, "cannot record the pause in the state file (%s), so no pause",
                                        strerror(-r));
                r = s->uuid ? guest_vm_pause(&p) : qmp_stop(q);
                if (r < 0 && s->uuid)
                        k = vv_error(s, r, "pausing the VM through libvirt failed: %s",
                                     r == -ENOENT ? "the domain is gone" : strerror(-r));
                else if (r < 0)
                        k = vv_error(s, r, "QMP stop failed: %s", qmp_last_error(q));
                else {
                        /* Test hook (documented in docs/policy.md): die with
                         * the VM paused, as a kill -9 at the worst moment
                         * would.  Honoured only with a state directory of
                         * the test's own ($XVSCHED_STATE_DIR). */
                        const char *die = getenv("XVSCHED_TEST_DIE_IN_PAUSE");
                        const char *sd = getenv("XVSCHED_STATE_DIR");
                        if (die && streq(die, "1") && sd && *sd)
                                raise(SIGKILL);
                        s->paused_q = q;
                        k = fn(s, u);
                        s->paused_q = NULL;
                }
        }
        r = vv_resume(s, &q);
        guest_pause_release(&p);
        s->last_pause_us = now_usec() - t0;
        log_debug("vmi view: VM paused %" PRIu64 " us", s->last_pause_us);
        return r < 0 ? r : k;
}

typedef struct ScanArgs {
        VmiTask *t;
        size_t n;
} ScanArgs;

static int scan_paused(VmiView *s, void *u) {
        ScanArgs *a = u;
        return vmi_scan(s->vmi, &a->t, &a->n);
}

/* A consistent scan: retried unpaused, then once with the VM paused. */
/* The cheap per-scan re-validation of what attach cached: init_task must
 * still be where it was (vmi_revalidate).  After a guest reboot (new kernel
 * layout, new KASLR offsets) it is not: attach again, but not more often
 * than the rate limit allows (a guest rewriting its init_task must not make
 * every round search all of its RAM). */
static int vv_revalidate(VmiView *s) {
        uint64_t now = now_usec();
        VmiOptions o = { .cmdline = true, .max_cpus = s->n_vcpus, .profile = s->profile, .system_map = s->system_map };
        int r = vmi_revalidate(&s->vmi, s->mem, &o, &s->reattach, now);
        if (r == -EAGAIN)
                return vv_error(s, -EAGAIN, "the guest kernel changed: %s", vmi_last_error(NULL));
        if (r < 0)
                return vv_error(s, r, "the guest kernel changed and re-attaching failed: %s", vmi_last_error(NULL));
        if (r > 0)
                log_debug("vmi view: guest kernel changed (reboot?), attached again");
        return r;
}

static int vv_scan(VmiView *s, VmiTask **ret, size_t *ret_n) {
        int r = vv_resume_pending(s);
        if (r < 0)
                return r;
        r = vv_revalidate(s);
        if (r < 0)
                return r;
        r = vmi_scan_retry(s->vmi, VV_SCAN_TRIES, ret, ret_n);
        if (r != -EAGAIN)
                return r < 0 ? vv_error(s, r, "%s", vmi_last_error(s->vmi)) : r;
        ScanArgs a = {};
        r = with_vm_paused(s, scan_paused, &a);
        if (r < 0)
                return r == -EAGAIN ? vv_error(s, -EBADMSG, "task list inconsistent even with the VM paused") : r;
        *ret = a.t;
        *ret_n = a.n;
        return 0;
}

static int vv_tasks(void *p, GuestTask **ret, size_t *ret_n) {
        VmiView *s = p;
        _cleanup_free_ VmiTask *t = NULL;
        size_t n = 0;
        int r = vv_scan(s, &t, &n);
        if (r < 0)
                return r;
        GuestTask *g = malloc(MAX(n, (size_t) 1) * sizeof *g);
        if (!g)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                g[i] = t[i].t;
        *ret = g;
        *ret_n = n;
        return 0;
}

static int vv_cpus(void *p, GuestCpu **ret, size_t *ret_n) {
        VmiView *s = p;
        _cleanup_free_ VmiCpu *c = NULL;
        size_t n = 0;
        int r = vv_revalidate(s);
        if (r < 0)
                return r;
        r = -EAGAIN;
        for (int i = 0; i < VV_SCAN_TRIES && r == -EAGAIN; i++)
                r = vmi_read_cpus(s->vmi, &c, &n);
        if (r < 0)
                return vv_error(s, r, "cannot read the run queues");
        GuestCpu *g = calloc(MAX(n, (size_t) 1), sizeof *g);
        if (!g)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                g[i] = (GuestCpu) { .cpu = c[i].cpu, .vcpu = c[i].vcpu, .pid = c[i].pid, .tid = c[i].tid,
                                    .idle = c[i].idle, .nr_running = c[i].nr_running };
                memcpy(g[i].comm, c[i].comm, sizeof g[i].comm);
        }
        *ret = g;
        *ret_n = n;
        return 0;
}

typedef struct StopArgs {
        uint64_t va;
        pid_t tid;
} StopArgs;

static int inject_paused(VmiView *s, void *u) {
        StopArgs *a = u;
        return vmi_inject_sigstop(s->vmi, a->va, a->tid);
}

static int held_add(VmiView *s, pid_t pid) {
        for (size_t i = 0; i < s->n_held; i++)
                if (s->held[i] == pid)
                        return 0;
        if (s->n_held >= VV_MAX_HELD)
                return -E2BIG;
        pid_t *n = realloc(s->held, (s->n_held + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        s->held = n;
        s->held[s->n_held++] = pid;
        return 0;
}

static void held_remove(VmiView *s, pid_t pid) {
        for (size_t i = 0; i < s->n_held; i++)
                if (s->held[i] == pid) {
                        s->held[i] = s->held[--s->n_held];
                        return;
                }
}

/* The thread group of thread pid among the view's tasks (0: not there). */
static pid_t tgid_of(const VmiTask *t, size_t n, pid_t pid) {
        for (size_t i = 0; i < n; i++)
                if (t[i].t.tid == pid)
                        return t[i].t.pid;
        return 0;
}

static int vv_stop(void *p, pid_t pid) {
        VmiView *s = p;
        if (!s->can_resume)
                return vv_error(s, -EOPNOTSUPP, "no way to resume in this domain (no agent), so no stop");
        if (!s->can_pause)
                return vv_error(s, -EOPNOTSUPP, "no way to pause the VM while injecting (no QMP socket, no libvirt), so no stop");
        if (pid <= 1)
                return vv_error(s, -EPERM, "refusing to stop pid %d", (int) pid);
        _cleanup_free_ VmiTask *t = NULL;
        size_t n = 0;
        int r = vv_scan(s, &t, &n);
        if (r < 0)
                return r;
        /* the thread group of pid; inject into a thread that runs or is
         * runnable (it sees TIF_SIGPENDING on its next return to user mode
         * and stops the whole group), else the leader */
        const VmiTask *target = NULL, *leader = NULL;
        pid_t tgid = tgid_of(t, n, pid);
        if (tgid == 0)
                return vv_error(s, -ESRCH, "no thread %d in the guest", (int) pid);
        for (size_t i = 0; i < n; i++) {
                if (t[i].t.pid != tgid)
                        continue;
                if (t[i].t.is_kthread)
                        return vv_error(s, -EPERM, "refusing to stop kernel thread %d", (int) pid);
                if (t[i].t.tid == tgid)
                        leader = &t[i];
                if (!target && t[i].t.state == 'R')
                        target = &t[i];
        }
        if (!target)
                target = leader;
        if (!target)
                return vv_error(s, -ESRCH, "thread group %d has no live thread", (int) tgid);

        r = held_add(s, tgid);
        if (r < 0)
                return r;
        StopArgs a = { .va = target->va, .tid = target->t.tid };
        for (int i = 0; i < VV_LOCK_TRIES; i++) {
                r = with_vm_paused(s, inject_paused, &a);
                if (r != -EBUSY)
                        break;
                /* siglock held: let the guest run a little and retry */
                struct timespec ts = { 0, 1000000 };
                nanosleep(&ts, NULL);
        }
        if (r < 0) {
                held_remove(s, tgid);
                if (s->error[0] == 0 || r == -EBUSY || r == -ESRCH || r == -EPERM)
                        vv_error(s, r, "%s", vmi_last_error(s->vmi));
                return r;
        }
        return 0;
}

/* ---- guest kernel calls through the gdbstub ---- */

#define VV_GDB_TIMEOUT_MS 2000
#define VV_KCALL_TRIES 3
/* Quick mode (the daemon's rounds): looks for an idle vCPU with the guest
 * running 2, 4 and 8 ms between them, then -EBUSY. */
#define VV_QUICK_IDLE_TRIES 4
/* How long the host waits for a vCPU thread that sleeps before a call's
 * pause (quick: then refused without one; else: the pause comes anyway). */
#define VV_QUICK_SLEEP_WAIT_MS 30
#define VV_SLEEP_WAIT_MS 1500

typedef struct KcallArgs {
        uint64_t va;             /* the task, checked again while paused */
        pid_t tid;
        uint64_t fn;
        uint64_t args[3];
        uint64_t rax;
} KcallArgs;

/* The call's state goes into the journal with the pause, before each
 * change (the pause hook; docs/agentless.md, "Killed mid-call"). */
static int kcall_note(const GuestKcall *k, void *userdata) {
        VmiView *s = userdata;
        GuestPause p = vv_pause_of(s);
        if (k->step != GUEST_KCALL_NONE)
                return guest_pause_kcall(&p, k);
        /* no call in flight, but the stub is still up until `gdbserver none` */
        GuestKcall stub = { .step = GUEST_KCALL_STUB, .gdb_socket = k->gdb_socket, .bp_orig = -1 };
        return guest_pause_kcall(&p, &stub);
}

/* QEMU's gdbstub on a UNIX socket in a directory of our own (mode 0700,
 * given to QEMU's user), for one call; stopped again after it. */
static int kcall_paused(VmiView *s, void *u) {
        KcallArgs *a = u;
        QmpClient *q = s->paused_q;
        if (!q)
                return vv_error(s, -EOPNOTSUPP, "no QMP connection for the gdbstub");
        bool pending;
        char state;
        uint64_t t_setup = now_usec();
        int r = vmi_task_stop_state(s->vmi, a->va, a->tid, &pending, &state);
        if (r < 0)
                return vv_error(s, -ESRCH, "thread %d is gone", (int) a->tid);
        char dir[] = "/tmp/xvsched-gdb.XXXXXX";
        if (!mkdtemp(dir))
                return vv_error(s, -errno, "cannot make a directory for the gdbstub's socket: %m");
        char path[sizeof dir + 16], cmd[sizeof path + 64];
        snprintf(path, sizeof path, "%s/gdb", dir);
        struct stat st;
        char proc[32];
        snprintf(proc, sizeof proc, "/proc/%d", (int) s->pid);
        if (stat(proc, &st) >= 0 && st.st_uid != geteuid() && chown(dir, st.st_uid, (gid_t) -1) < 0)
                log_debug("vmi view: cannot give %s to uid %u: %m", dir, (unsigned) st.st_uid);
        /* The stub is a change to the VM's QEMU too: journaled first, so that
         * whoever resumes this pause after a SIGKILL stops it (a stub left
         * listening makes every later `gdbserver` fail: "duplicate yank
         * instance"). */
        GuestPause p = vv_pause_of(s);
        GuestKcall stub = { .step = GUEST_KCALL_STUB, .gdb_socket = path, .bp_orig = -1 };
        r = guest_pause_kcall(&p, &stub);
        if (r < 0) {
                rmdir(dir);
                return vv_error(s, r, "cannot record the gdbstub with the pause (%s): no call", strerror(-r));
        }
        snprintf(cmd, sizeof cmd, "gdbserver unix:%s,server=on,wait=off", path);
        _cleanup_free_ char *out = NULL;
        r = qmp_hmp(q, cmd, &out);
        if (r < 0 || !out || !strstr(out, "Waiting for gdb connection")) {
                (void) guest_pause_kcall(&p, &(GuestKcall) { .step = GUEST_KCALL_NONE });
                rmdir(dir);
                return vv_error(s, r < 0 ? r : -EIO, "QEMU did not start its gdbstub: %s",
                                r < 0 ? qmp_last_error(q) : out ? out : "?");
        }
        /* SIGTERM, SIGINT, SIGHUP wait until the vCPU's registers are back
         * (this thread only; pending ones act after the call) */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        GdbRemote *g = NULL;
        r = gdb_remote_connect(path, VV_GDB_TIMEOUT_MS, &g);
        uint64_t t0 = now_usec();
        s->last_setup_us = t0 - t_setup;
        if (r < 0)
                vv_error(s, r, "cannot connect to QEMU's gdbstub at %s: %s", path, strerror(-r));
        else {
                VmiKcallOptions o = { .note = kcall_note, .userdata = s, .gdb_socket = path,
                                      .idle_tries = s->quick ? VV_QUICK_IDLE_TRIES : 0 };
                r = vmi_kcall(s->vmi, g, a->fn, a->args, &o, &a->rax, &s->last_kcall);
                s->last_kcall_us = now_usec() - t0;
                if (r < 0)
                        vv_error(s, r, "guest kernel call failed: %s", vmi_last_error(s->vmi));
        }
        uint64_t t1 = now_usec();
        gdb_remote_free(g);
        vmi_kcall_test_die("stub");   /* test hook: the call done, the stub still up */
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        _cleanup_free_ char *out2 = NULL;
        if (qmp_hmp(q, "gdbserver none", &out2) < 0)
                log_debug("vmi view: stopping the gdbstub failed: %s", qmp_last_error(q));
        else if (!g || !s->last_kcall.in_flight)
                /* nothing left in QEMU: forget the record (a call still in
                 * flight keeps it for whoever resumes the pause) */
                (void) guest_pause_kcall(&p, &(GuestKcall) { .step = GUEST_KCALL_NONE });
        unlink(path);
        rmdir(dir);
        s->last_teardown_us = now_usec() - t1;
        return r;
}

/* The task of thread group pid's leader (and every thread when all).  On
 * an error *ret_tasks is NULL: the callers free it with _cleanup_free_ (a
 * freed pointer left there was freed twice: a guest task gone before its
 * resume or renice aborted the daemon, "double free or corruption"). */
static int kcall_target(VmiView *s, pid_t pid, VmiTask **ret_tasks, size_t *ret_n) {
        int r = vv_scan(s, ret_tasks, ret_n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < *ret_n; i++)
                if ((*ret_tasks)[i].t.tid == pid) {
                        if ((*ret_tasks)[i].t.is_kthread || pid <= 1) {
                                free(*ret_tasks);
                                *ret_tasks = NULL;
                                *ret_n = 0;
                                return vv_error(s, -EPERM, "refusing kernel thread or init %d", (int) pid);
                        }
                        return 0;
                }
        free(*ret_tasks);
        *ret_tasks = NULL;
        *ret_n = 0;
        return vv_error(s, -ESRCH, "no thread %d in the guest", (int) pid);
}

/* The state letter of a host thread of the VM's QEMU ('?' if unreadable). */
static char vcpu_thread_state(pid_t pid, pid_t tid) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int) pid, (int) tid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return '?';
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return '?';
        buf[n] = 0;
        const char *e = strrchr(buf, ')');   /* comm may hold ')' */
        return e && e[1] == ' ' && e[2] ? e[2] : '?';
}

/* A guest kernel call starts at a vCPU idle in hlt (src/vmi/kcall.c).  A
 * halted vCPU's host thread sleeps (TCG: on its halt condition; KVM: in
 * KVM_RUN), so the host can wait, at no cost to the guest, for a moment
 * when one does, and pause then: the call then rarely finds no idle vCPU.
 * true: one sleeps now (or this cannot be known: one thread for all
 * vCPUs); false: all ran for max_ms. */
static bool wait_vcpu_sleeping(const VmiView *s, int max_ms) {
        if (s->n_vcpu_tids == 0)
                return true;
        uint64_t t0 = now_usec();
        for (;;) {
                for (size_t i = 0; i < s->n_vcpu_tids; i++) {
                        char st = vcpu_thread_state(s->pid, s->vcpu_tids[i]);
                        if (st == 'S' || st == '?') {
                                log_debug("vmi view: vCPU thread %d sleeps (%c) after %" PRIu64 " us",
                                          (int) s->vcpu_tids[i], st, now_usec() - t0);
                                return true;
                        }
                }
                if (now_usec() - t0 >= (uint64_t) max_ms * 1000)
                        return false;
                struct timespec ts = { 0, 500000 };
                nanosleep(&ts, NULL);
        }
}

static int kcall_on(VmiView *s, const VmiTask *t, uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a0_is_task,
                    uint64_t *ret_rax) {
        KcallArgs a = { .va = t->va, .tid = t->t.tid, .fn = fn };
        /* send_sig(sig, task, priv) / set_user_nice(task, nice) */
        if (a0_is_task) {
                a.args[0] = t->va;
                a.args[1] = a1;
        } else {
                a.args[0] = a1;
                a.args[1] = t->va;
                a.args[2] = a2;
        }
        int r = -EBUSY;
        /* no idle vCPU (a guest busy for ~1.5 s): a few more tries, so that
         * a release (resume, nice restored) rarely fails for it; in quick
         * mode one, and the daemon asks again once the guest idled */
        for (int i = 0; i < (s->quick ? 1 : VV_KCALL_TRIES) && r == -EBUSY; i++) {
                /* quick: every vCPU ran for 30 ms straight: refused with no
                 * pause at all (the guest is busy now; asked again later) */
                if (!wait_vcpu_sleeping(s, s->quick ? VV_QUICK_SLEEP_WAIT_MS : VV_SLEEP_WAIT_MS) && s->quick)
                        return vv_error(s, -EBUSY, "no vCPU idle: every vCPU thread of the VM ran for %d ms "
                                        "(the guest is busy now)", VV_QUICK_SLEEP_WAIT_MS);
                s->last_kcall = (VmiKcallStats) {};
                s->last_setup_us = s->last_teardown_us = 0;
                r = with_vm_paused(s, kcall_paused, &a);
        }
        uint64_t ran = s->last_kcall.wait_us + s->last_kcall.call_us;
        log_debug("vmi view: kcall %#" PRIx64 " on thread %d: VM stopped %" PRIu64 " us (%" PRIu64
                  " us in the stub), ran %" PRIu64 " us until a vCPU left hlt and %" PRIu64
                  " us in the call, %u step-overs; gdbstub setup %" PRIu64 " us, teardown %" PRIu64 " us",
                  fn, (int) t->t.tid, s->last_pause_us > ran ? s->last_pause_us - ran : 0, s->last_kcall.stopped_us,
                  s->last_kcall.wait_us, s->last_kcall.call_us, s->last_kcall.step_overs, s->last_setup_us,
                  s->last_teardown_us);
        if (r >= 0 && ret_rax)
                *ret_rax = a.rax;
        return r;
}

static int kcall_cont(VmiView *s, pid_t pid) {
        _cleanup_free_ VmiTask *t = NULL;
        size_t n = 0;
        int r = kcall_target(s, pid, &t, &n);
        if (r < 0)
                return r;
        pid_t tgid = tgid_of(t, n, pid);
        for (size_t i = 0; i < n; i++)
                if (t[i].t.tid == tgid) {
                        uint64_t rax = 0;
                        r = kcall_on(s, &t[i], s->fn_send_sig, SIGCONT, 1, 0, &rax);
                        if (r < 0)
                                return r;
                        if ((int) rax != 0)
                                return vv_error(s, -EIO, "send_sig(SIGCONT) in the guest returned %d", (int) rax);
                        return 0;
                }
        return vv_error(s, -ESRCH, "thread group %d has no leader", (int) tgid);
}

static int nice_group(VmiView *s, pid_t pid, int nice, bool record) {
        if (!s->kcall)
                return vv_error(s, -EOPNOTSUPP, "no agentless renice in this domain (%s)",
                                s->error[0] ? s->error : "an agent is there: use --via agent");
        if (nice < -20 || nice > 19)
                return -EINVAL;
        _cleanup_free_ VmiTask *t = NULL;
        size_t n = 0;
        int r = kcall_target(s, pid, &t, &n);
        if (r < 0)
                return r;
        pid_t tgid = tgid_of(t, n, pid);
        bool known = !record;
        for (size_t i = 0; i < s->n_niced; i++)
                known = known || s->niced[i].pid == tgid;
        for (size_t i = 0; i < n; i++) {
                if (t[i].t.pid != tgid)
                        continue;
                if (!known && t[i].t.tid == tgid) {
                        if (s->n_niced >= VV_MAX_HELD)
                                return -E2BIG;
                        void *m = realloc(s->niced, (s->n_niced + 1) * sizeof *s->niced);
                        if (!m)
                                return -ENOMEM;
                        s->niced = m;
                        s->niced[s->n_niced].pid = tgid;
                        s->niced[s->n_niced++].nice = t[i].t.nice;
                        known = true;
                }
                r = kcall_on(s, &t[i], s->fn_set_user_nice, (uint64_t) (int64_t) nice, 0, 1, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vv_nice(void *p, pid_t pid, int nice) {
        return nice_group(p, pid, nice, true);
}

static int vv_cont(void *p, pid_t pid) {
        VmiView *s = p;
        if (s->kcall) {
                int r = kcall_cont(s, pid);
                if (r >= 0 || r == -ESRCH)
                        held_remove(s, pid);
                return r;
        }
        if (!s->can_resume || !s->agent_socket)
                return vv_error(s, -EOPNOTSUPP, "no agent in this domain: cannot resume");
        int r = 0;
        /* Kept open between calls: a fresh connection per resume costs a
         * sync and a hello, and the guest side needs time to see each
         * hang-up.  The client reconnects by itself after a failure; one
         * transport failure is retried. */
        for (int attempt = 0; attempt < 2; attempt++) {
                if (!s->agent) {
                        r = agent_client_connect(s->agent_socket, VV_AGENT_TIMEOUT, &s->agent);
                        if (r < 0) {
                                s->agent = NULL;
                                vv_error(s, r, "cannot reach the agent to resume %d: %s", (int) pid,
                                         agent_client_last_error(NULL));
                                continue;
                        }
                }
                r = agent_client_cont(s->agent, pid);
                if (r >= 0 || r == -ESRCH || r == -EPERM || r == -EINVAL)
                        break;
                vv_error(s, r, "agent cont %d: %s", (int) pid, agent_client_last_error(s->agent));
        }
        if (r >= 0 || r == -ESRCH)
                held_remove(s, pid);
        return r;
}

static int vv_release(void *p) {
        VmiView *s = p;
        int ret = 0;
        while (s->n_niced > 0) {
                s->n_niced--;
                int r = nice_group(s, s->niced[s->n_niced].pid, s->niced[s->n_niced].nice, false);
                if (r < 0 && r != -ESRCH)
                        ret = ret < 0 ? ret : r;
        }
        while (s->n_held > 0) {
                pid_t pid = s->held[s->n_held - 1];
                int r = vv_cont(s, pid);
                if (r < 0 && r != -ESRCH) {
                        ret = ret < 0 ? ret : r;
                        held_remove(s, pid);
                }
        }
        return ret;
}

static unsigned vv_caps(void *p) {
        VmiView *s = p;
        unsigned c = GUEST_VIEW_CAP_CPUS;
        if (s->can_resume)
                c |= GUEST_VIEW_CAP_CONT;
        if (s->can_resume && s->can_pause)
                c |= GUEST_VIEW_CAP_STOP;
        if (s->kcall)
                c |= GUEST_VIEW_CAP_NICE;
        return c;
}

static const char *vv_control_path(void *p) {
        VmiView *s = p;
        if (s->kcall)
                return "vmi-sigstop+gdbstub-kcall (send_sig, set_user_nice)";
        if (s->can_resume && s->can_pause)
                return s->uuid ? "vmi-sigstop(libvirt pause)+agent-cont" : "vmi-sigstop+agent-cont";
        if (s->route_off[0] && !s->can_resume)
                return s->route_off;
        return s->can_resume ? "agent-cont only (no QMP to pause the VM)" : "none";
}

/* Introspection reads the QEMU process's RAM: a domain of a remote libvirt
 * URI has none on this host. */
static const char *vv_open_error(int r) {
        return r == -EREMOTE ? "remote host: introspection reads the guest's RAM, which is not on this host "
                               "(use --via qga)"
                             : NULL;
}

static const char *vv_last_error(void *p) {
        VmiView *s = p;
        return s->error;
}

static void vv_set_quick(void *p, bool quick) {
        VmiView *s = p;
        s->quick = quick;
}

const GuestViewOps guest_view_vmi = {
        .name = "vmi",
        .open = vv_open,
        .close = vv_close,
        .tasks = vv_tasks,
        .stop = vv_stop,
        .cont = vv_cont,
        .nice = vv_nice,
        .release = vv_release,
        .last_error = vv_last_error,
        .open_error = vv_open_error,
        .cpus = vv_cpus,
        .caps = vv_caps,
        .control_path = vv_control_path,
        .set_quick = vv_set_quick,
};
