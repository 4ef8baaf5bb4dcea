/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Finishing or undoing a guest kernel call that xvsched was killed in the
 * middle of (docs/agentless.md, "Killed mid-call").  The call's state is
 * kept in its pause's journal entry as "kcall" (recorded before each
 * change the call makes: the breakpoint, then the vCPU's registers), and
 * vm_pause_undo() calls vm_kcall_finish() before it resumes the VM:
 *
 *   step "breakpoint": no register was changed; the breakpoint goes.
 *   step "call": the vCPU's registers were saved (rax..r15, rip, eflags);
 *     where is it now?  At the breakpoint with RSP back at the saved value
 *     (the call returned, or was never set up) or still at the function's
 *     entry with the return address pushed (set up, never started): the
 *     saved registers are written back.  Anywhere else it is inside the
 *     call: the breakpoint is (re)inserted and the VM runs until that vCPU
 *     is back at it (other vCPUs stopping there are stepped past), at most
 *     VM_KCALL_FINISH_MS, then the registers are written back; a call that
 *     does not come back in time is left to return into the idle loop as
 *     the live process would leave it (caller-saved registers not
 *     restored; one line says so).
 *   Then every gdb breakpoint is removed and the VM continued by detaching
 *   (`D`), QEMU's gdbstub stopped and the dead process's socket directory
 *   removed.  The VM runs when this returns 0 (the caller confirms it).
 *
 * QEMU (gdbstub/softmmu.c in 8.0, gdbstub/gdbstub.c in 7.2) keeps a dead
 * client's breakpoints: a closed connection removes nothing (gdb_chr_event
 * acts on CHR_EVENT_OPENED only: it stops the VM), and a new `gdbserver`
 * replaces the chardev but not the breakpoints (TCG: each vCPU's
 * cpu->breakpoints, BP_GDB; KVM: the accelerator's sw-breakpoint list, an
 * int3 patched into guest memory with the byte saved by QEMU).  A VM left
 * so stops in run state "debug" at the next vCPU that reaches the address,
 * and after a plain `cont` again.  Only `D` removed them in a new session
 * (tested on QEMU 7.2: z0 answered E22 there). */

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "qmp/qmp.h"

#define VM_KCALL_FINISH_MS 3000

typedef enum VmKcallAction {
        VM_KCALL_RESTORE,   /* write the saved registers back now */
        VM_KCALL_WAIT,      /* inside the call: let it return to the breakpoint first */
} VmKcallAction;

/* Pure: for a call recorded at step "call", what to do with the vCPU whose
 * registers are now rip and rsp (bp: the breakpoint = the return address,
 * fn: the function, saved_rsp: RSP before the call). */
VmKcallAction vm_kcall_decide(uint64_t rip, uint64_t rsp, uint64_t bp, uint64_t fn, uint64_t saved_rsp);

/* Parse a "kcall" object: 0, or -EBADMSG (then nothing is done with it). */
typedef struct VmKcallState {
        int step;                  /* 1 breakpoint, 2 call, 3 stub (only the gdbstub was up) */
        char gdb_socket[108];
        uint64_t bp, fn;
        int bp_orig;               /* -1: unknown */
        int vcpu;
        uint8_t regs[256];
        size_t regs_len;
} VmKcallState;
int vm_kcall_parse(json_object *kcall, VmKcallState *ret);

/* Finish or undo the call recorded in kcall, in the QEMU (pid qemu_pid)
 * whose monitor q is (checked by the caller).  0: nothing of it is left in
 * the VM (registers back or left as the live process would, breakpoints
 * out, the VM continued); -EBADMSG: a malformed record (nothing done); other -errno: the
 * gdbstub could not be reached or did not do what was asked (the caller
 * keeps the entry and tries again; the VM stays stopped).  One line on
 * what was done or failed in *ret_msg (malloc'd, may be NULL). */
int vm_kcall_finish(QmpClient *q, pid_t qemu_pid, json_object *kcall, char **ret_msg);
