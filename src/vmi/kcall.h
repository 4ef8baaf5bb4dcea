/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Calling the guest kernel's own functions through QEMU's gdbstub
 * (docs/agentless.md): resume a stopped task with send_sig(SIGCONT, task, 1),
 * renice with set_user_nice(task, nice), with nothing installed in the guest.
 *
 * Addresses come from the guest's exported-symbol table, found in its memory
 * without System.map (vmi_ksym_lookup): the name in __ksymtab_strings
 * ("\0name\0"), then the one struct kernel_symbol { int value_offset,
 * name_offset, namespace_offset } (x86-64: PREL32, relative to each field)
 * whose name_offset points at it.  KASLR moves both together.
 *
 * The call (vmi_kcall), with the VM paused and the stub connected:
 *   1. a vCPU idle in `hlt`: CPL 0, byte before RIP 0xf4, RFLAGS.IF, its
 *      current task (GS base + current_task) the idle task (pid 0); its RIP
 *      (just after the hlt) becomes the breakpoint;
 *   2. continue: the first vCPU to leave hlt stops there, running again (a
 *      halted vCPU would run nothing until its next interrupt), still in the
 *      idle task (one that is not — a paravirt spinlock wait halts at the
 *      same address — is stepped past);
 *   3. its registers saved; the return address (the breakpoint, i.e. its own
 *      RIP) written at RSP-8; RDI/RSI/RDX = arguments, RSP -= 8, RIP = the
 *      function; continue;
 *   4. at the breakpoint again on that vCPU with RSP back where it was:
 *      RAX is the result; every general register, RIP and RFLAGS restored;
 *      other vCPUs leaving hlt meanwhile are stepped past the breakpoint;
 *   5. the breakpoint removed.  The VM is left stopped (run state "debug"):
 *      the caller resumes it.
 * Bounded: no idle vCPU in VMI_KCALL_IDLE_TRIES looks, no vCPU leaving hlt
 * within wake_ms, the call not back within call_ms: refused (-EBUSY,
 * -ETIMEDOUT, -ETIME) with vmi_last_error() saying which. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmp/gdb-remote.h"
#include "view/pause-hook.h"
#include "vmi/vmi.h"

#define VMI_KCALL_IDLE_TRIES 20
#define VMI_KCALL_MAX_EVENTS 256
/* The window below a ksymtab_strings hit searched for its kernel_symbol. */
#define VMI_KSYMTAB_WINDOW (8u << 20)

/* Pure: in buf (len bytes, the kernel image at virtual address base_va),
 * the kernel_symbol whose name_offset field points at name_va; its value
 * in *ret.  Exactly one such entry, its value inside [text_lo, text_hi):
 * else -ENOENT (none) or -ENOTUNIQ (several: a lying guest). */
int vmi_ksymtab_find(const uint8_t *buf, size_t len, uint64_t base_va, uint64_t name_va, uint64_t text_lo,
                     uint64_t text_hi, uint64_t *ret);
/* An exported function's address in the guest (scans its RAM); errors
 * with vmi_last_error() set. */
int vmi_ksym_lookup(Vmi *v, const char *name, uint64_t *ret);
/* The same scan for a function (data false) or a data symbol (data true,
 * e.g. init_uts_ns): 0 and *ret, or -ENOENT, -ENOTUNIQ (a lying guest),
 * -E2BIG (too many copies of the name), ...; no error text set. */
int vmi_ksym_scan(Vmi *v, const char *name, bool data, uint64_t *ret);

typedef struct VmiKcallOptions {
        int wake_ms;               /* wait for a vCPU to leave hlt (0: 2000) */
        int call_ms;               /* wait for the call to return (0: 2000) */
        /* Looks for a vCPU idle in hlt, the guest running 2, 4, 8, ... ms
         * (at most 100) between them (0: VMI_KCALL_IDLE_TRIES, ~1.5 s). */
        unsigned idle_tries;
        /* Told before each change the call makes in the VM, so that it can
         * be journaled first (docs/agentless.md, "Killed mid-call"): the
         * breakpoint (GUEST_KCALL_BREAKPOINT), then the vCPU's saved
         * registers (GUEST_KCALL_CALL), and GUEST_KCALL_NONE once nothing is
         * in flight any more (registers back, breakpoint out).  < 0: that
         * change is not made and the call fails.  NULL: not told. */
        int (*note)(const GuestKcall *k, void *userdata);
        void *userdata;
        const char *gdb_socket;    /* passed on in the notes */
} VmiKcallOptions;

/* Test hook: $XVSCHED_TEST_KCALL_DIE = "wake" (the breakpoint in, the VM
 * running until a vCPU leaves hlt), "setup" (the call's registers written,
 * the VM stopped), "inside" (that vCPU stepped 3 instructions into the
 * function, the VM stopped), "call" (the VM running the call), "return"
 * (back at the breakpoint, registers not restored yet) or "stub" (the call
 * done, QEMU's gdbstub still up; the vmi view's): the process raises
 * SIGKILL there.  Honoured only with $XVSCHED_STATE_DIR set (a test's own state). */
void vmi_kcall_test_die(const char *step);

typedef struct VmiKcallStats {
        uint64_t stopped_us;       /* the VM stopped inside vmi_kcall */
        uint64_t wait_us;          /* running until a vCPU left hlt */
        uint64_t call_us;          /* running until the call returned */
        unsigned step_overs;       /* other vCPUs stepped past the breakpoint */
        unsigned idle_tries;
        int vcpu;                  /* the thread (vCPU) that made the call */
        bool in_flight;            /* failed with the breakpoint in or registers not back (recorded) */
} VmiKcallStats;

/* fn(args[0], args[1], args[2]) on a vCPU of the paused VM; *ret_rax its
 * result.  The VM is stopped when this returns (paused or "debug"). */
int vmi_kcall(Vmi *v, GdbRemote *g, uint64_t fn, const uint64_t args[3], const VmiKcallOptions *opt,
              uint64_t *ret_rax, VmiKcallStats *ret_stats);

/* The nice value (-20..19) of a task, from static_prio (read-only). */
int vmi_task_nice(Vmi *v, uint64_t task_va, pid_t tid, int *ret);
