/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A guest view that pauses a VM (the vmi view stops it over QMP while it
 * writes into guest memory) tells the program first, so that the pause is
 * in the journal before it happens and can be undone by whoever outlives
 * the program (the guard, the next start, `xvsched reset`).  The view layer
 * knows nothing of the journal: the program installs a hook.
 *
 * Without a hook (library users such as tools/ctl/vmi-ctl) a view pauses
 * unrecorded; xvsched's CLI and daemon always install one, and when it
 * fails the view does not pause. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct GuestPause {
        const char *domain;        /* the domain's name */
        /* Where `stop` and `cont` go: a QMP socket's path, or, for a VM
         * paused through libvirt (libvirt_uri and uuid set), "libvirt:UUID"
         * (what the pause is known by: its journal key, the holder's id). */
        const char *qmp_socket;
        pid_t qemu_pid;            /* the QEMU process (its start time is the hook's to read) */
        const char *libvirt_uri;   /* through libvirt: the connection's URI (NULL: QMP) */
        const char *uuid;          /* through libvirt: the domain's UUID */
} GuestPause;

struct GuestKcall;

typedef struct GuestPauseHook {
        /* Before QMP `stop`: record the pause.  < 0: do not pause. */
        int (*before)(const GuestPause *p, void *userdata);
        /* After query-status confirmed the VM runs again. */
        void (*after)(const GuestPause *p, void *userdata);
        /* The VM is found paused: is it a pause of this very process that
         * is still owed a resume (a view that could not resume it was
         * dropped)?  1: yes, and the caller holds it now (it runs its work
         * with the VM paused, resumes it, calls after() and release()); 0:
         * no (someone else's pause: leave it); -EBUSY: another thread of
         * this process holds that pause right now. */
        int (*adopt)(const GuestPause *p, void *userdata);
        /* The view is done with a pause it held (from before() returning 0
         * or adopt() returning 1), whether the VM runs again or not: one it
         * could not resume is then retried by the program (its main loop). */
        void (*release)(const GuestPause *p, void *userdata);
        /* A guest kernel call (docs/agentless.md) is about to make its next
         * change in the VM of pause p (which this process holds): record
         * the call's state with the pause, before the change, so that
         * whoever resumes the pause finishes or undoes the call first.
         * < 0: not recorded, the change is not made.  NULL: nothing
         * recorded (a library user without a journal). */
        int (*kcall)(const GuestPause *p, const struct GuestKcall *k, void *userdata);
        void *userdata;
} GuestPauseHook;

/* An in-flight guest kernel call through QEMU's gdbstub, as recorded with
 * its pause (GuestPauseHook.kcall). */
typedef enum GuestKcallStep {
        GUEST_KCALL_NONE = 0,      /* no call in flight (done, or never set up): forget it */
        GUEST_KCALL_BREAKPOINT,    /* a breakpoint (Z0) goes in at bp; no register changed */
        GUEST_KCALL_CALL,          /* vCPU `vcpu`'s registers (regs) saved; the call set up / running */
        GUEST_KCALL_STUB,          /* only QEMU's gdbstub is up (at gdb_socket): no call in flight */
} GuestKcallStep;

#define GUEST_KCALL_MAX_REGS 256

typedef struct GuestKcall {
        GuestKcallStep step;
        const char *gdb_socket;    /* the gdbstub's UNIX socket (its directory is xvsched's) */
        uint64_t bp;               /* the breakpoint's address (a return address: just after a hlt) */
        int bp_orig;               /* the byte at bp before the breakpoint (-1: unknown) */
        int vcpu;                  /* GUEST_KCALL_CALL: the gdb thread (cpu_index + 1) */
        uint64_t fn;               /* the function called */
        const uint8_t *regs;       /* the vCPU's registers as the stub sent them (rax..r15, rip, eflags) */
        size_t regs_len;           /* at most GUEST_KCALL_MAX_REGS */
} GuestKcall;

/* Process-wide (every view, every thread); h is copied.  NULL: none. */
void guest_pause_hook_set(const GuestPauseHook *h);
/* For the views: 0 when there is no hook. */
int guest_pause_before(const GuestPause *p);
void guest_pause_after(const GuestPause *p);
/* 0 when there is no hook (then any pause found is someone else's). */
int guest_pause_adopt(const GuestPause *p);
void guest_pause_release(const GuestPause *p);
/* 0 when there is no hook, or it records no calls. */
int guest_pause_kcall(const GuestPause *p, const GuestKcall *k);

/* ---- pausing a VM whose monitor is not ours ----
 *
 * libvirt owns a libvirt domain's QMP socket: its VM is paused, resumed
 * and asked for its registers through libvirt (src/hv/), which the view
 * layer may not call.  The program installs these operations (the daemon
 * and the CLI, with guard_pause_hook_install()); a view uses them for a
 * pause p whose libvirt_uri and uuid are set.  The hook above journals such
 * a pause exactly like a QMP one, before the pause. */
typedef struct GuestVmOps {
        /* 1: running; 0: paused by a user; -ESTALE: another stopped state
         * (named in *ret_state, may be NULL); other -errno: cannot tell. */
        int (*run_state)(const GuestPause *p, char **ret_state, void *userdata);
        int (*pause)(const GuestPause *p, void *userdata);
        /* Resume and confirm it runs (retrying until deadline_ms); results
         * as qmp_resume_confirmed(). */
        int (*resume)(const GuestPause *p, int deadline_ms, char **ret_state, void *userdata);
        /* HMP "info registers -a" (or any HMP command), *ret malloc'd. */
        int (*hmp)(const GuestPause *p, const char *command, char **ret, void *userdata);
        void *userdata;
} GuestVmOps;

/* Process-wide; ops is copied.  NULL: none (then such VMs are not paused). */
void guest_vm_ops_set(const GuestVmOps *ops);
/* Can p be paused through the installed operations? */
bool guest_vm_can_pause(const GuestPause *p);
/* -EOPNOTSUPP without operations. */
int guest_vm_run_state(const GuestPause *p, char **ret_state);
int guest_vm_pause(const GuestPause *p);
int guest_vm_resume(const GuestPause *p, int deadline_ms, char **ret_state);
int guest_vm_hmp(const GuestPause *p, const char *command, char **ret);
