/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Exported-symbol lookup in guest memory and calls of guest kernel
 * functions through QEMU's gdbstub (kcall.h, docs/agentless.md). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "vmi/kcall.h"
#include "vmi/vmi-internal.h"

/* ---- the exported-symbol table ---- */

int vmi_ksymtab_find(const uint8_t *buf, size_t len, uint64_t base_va, uint64_t name_va, uint64_t text_lo,
                     uint64_t text_hi, uint64_t *ret) {
        if (len < 12 || (base_va & 3) != 0)
                return -EINVAL;
        uint64_t found = 0;
        int n = 0;
        /* entry at e: value_offset at e, name_offset at e+4 (both PREL32) */
        for (size_t off = 0; off + 12 <= len; off += 4) {
                int32_t name_rel;
                memcpy(&name_rel, buf + off + 4, 4);
                uint64_t field = base_va + off + 4;
                if (field + (uint64_t) (int64_t) name_rel != name_va)
                        continue;
                int32_t value_rel;
                memcpy(&value_rel, buf + off, 4);
                uint64_t value = base_va + off + (uint64_t) (int64_t) value_rel;
                if (value < text_lo || value >= text_hi)
                        continue;
                if (n > 0 && value != found)
                        return -ENOTUNIQ;
                found = value;
                n++;
        }
        if (n == 0)
                return -ENOENT;
        *ret = found;
        return 0;
}

typedef struct KsymScan {
        Vmi *v;
        size_t name_len;
        uint8_t *win;
        uint64_t result;
        int last;                 /* the last hit's result, for the error */
        unsigned hits;
        bool data;                /* a data symbol: its value lies above its name */
} KsymScan;

#define KSYM_MAX_HITS 64

static int ksym_hit(void *u, uint64_t gpa, const uint8_t *p, size_t avail) {
        KsymScan *s = u;
        Vmi *v = s->v;
        (void) p;
        (void) avail;
        if (++s->hits > KSYM_MAX_HITS)
                return -E2BIG;
        uint64_t name_pa = gpa + 1;           /* the pattern starts at the NUL before */
        uint64_t name_va = name_pa + v->kimage_voffset;
        if (!v->kimage_voffset || name_va < KIMAGE_START || name_va >= KIMAGE_END)
                return 0;                     /* not in the kernel image */
        uint64_t lo_pa = name_pa > VMI_KSYMTAB_WINDOW ? (name_pa - VMI_KSYMTAB_WINDOW) & ~UINT64_C(3) : 0;
        while (lo_pa < name_pa && !vmi_mem_valid(v->mem, lo_pa, 4096))
                lo_pa = (lo_pa + 4096) & ~UINT64_C(4095);
        size_t len = (size_t) (name_pa - lo_pa) & ~(size_t) 3;
        if (len < 12 || vmi_mem_read(v->mem, lo_pa, s->win, len) < 0)
                return 0;
        /* text: the kernel image below the name (text precedes rodata);
         * data: above it (.data follows .rodata, where __ksymtab_strings is) */
        uint64_t fn;
        int r = vmi_ksymtab_find(s->win, len, lo_pa + v->kimage_voffset, name_va, s->data ? name_va : KIMAGE_START,
                                 s->data ? KIMAGE_END : name_va, &fn);
        s->last = r;
        if (r == -ENOTUNIQ)
                return r;
        if (r < 0)
                return 0;
        s->result = fn;
        return 1;
}

int vmi_ksym_scan(Vmi *v, const char *name, bool data, uint64_t *ret) {
        size_t n = strlen(name);
        if (n == 0 || n > 120)
                return -EINVAL;
        char pat[128];
        pat[0] = 0;
        memcpy(pat + 1, name, n);
        pat[n + 1] = 0;
        KsymScan s = { .v = v, .name_len = n, .last = -ENOENT, .data = data };
        if (!(s.win = malloc(VMI_KSYMTAB_WINDOW)))
                return -ENOMEM;
        /* the strings lie in the kernel image's rodata, below init_task */
        uint64_t start = v->init_task_pa > (64u << 20) ? v->init_task_pa - (64u << 20) : 0;
        int r = vmi_mem_scan(v->mem, start, pat, n + 2, ksym_hit, &s);
        free(s.win);
        if (r > 0)
                *ret = s.result;
        return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int vmi_ksym_lookup(Vmi *v, const char *name, uint64_t *ret) {
        int r = vmi_ksym_scan(v, name, false, ret);
        if (r == -ENOTUNIQ)
                return vmi_set_error(v, r, "several exported-symbol entries name %s (a lying guest?)", name);
        if (r == -E2BIG)
                return vmi_set_error(v, r, "more than %d copies of the name %s in guest memory", KSYM_MAX_HITS, name);
        if (r == -ENOENT)
                return vmi_set_error(v, r, "no exported symbol %s in the guest kernel", name);
        if (r < 0)
                return vmi_set_error(v, r, "scanning guest memory for %s failed", name);
        return 0;
}

int vmi_task_nice(Vmi *v, uint64_t task_va, pid_t tid, int *ret) {
        bool pending;
        char state;
        int r = vmi_task_stop_state(v, task_va, tid, &pending, &state);
        if (r < 0)
                return r;
        if (v->L.t_static_prio < 0)
                return -EOPNOTSUPP;
        int32_t sp;
        r = vmi_read_kva(v, task_va + (uint64_t) v->L.t_static_prio, &sp, 4);
        if (r < 0)
                return r;
        if (sp < 100 || sp > 139)
                return -EBADMSG;
        *ret = sp - 120;
        return 0;
}

/* ---- the call ---- */

/* x86-64 register block (gdb's core registers; QEMU's order) */
#define R_RAX 0
#define R_RDX 3
#define R_RSI 4
#define R_RDI 5
#define R_RSP 7
#define OFF_RIP 128
#define OFF_EFLAGS 136
#define OFF_CS 140
#define OFF_GS_BASE 172
#define REGS_MIN 180
#define REGS_RESTORE 140     /* rax..r15, rip, eflags: what the call changes */
#define REGS_MAX 4096
#define EFLAGS_IF (1u << 9)

typedef struct Regs {
        uint8_t b[REGS_MAX];
        size_t len;
} Regs;

static uint64_t reg(const Regs *r, int i) {
        return rd64(r->b, i * 8);
}
static void set_reg(Regs *r, int i, uint64_t x) {
        memcpy(r->b + i * 8, &x, 8);
}
static uint64_t rip_of(const Regs *r) {
        return rd64(r->b, OFF_RIP);
}

typedef struct Kc {
        Vmi *v;
        GdbRemote *g;
        const VmiKcallOptions *opt;
        VmiKcallStats st;
        uint64_t t_stopped;       /* the VM stopped since */
        uint64_t bp;
        int bp_orig;              /* the byte at bp before the breakpoint, -1: unknown */
        uint64_t fn;
        bool bp_in;
        bool noted;               /* a note other than NONE was recorded */
        bool regs_back;           /* the registers saved were written back (or never changed) */
} Kc;

/* The test hook XVSCHED_TEST_KCALL_DIE names this step, and a test's own
 * state directory is set (never in a normal run). */
static bool test_die_at(const char *step) {
        const char *die = getenv("XVSCHED_TEST_KCALL_DIE"), *sd = getenv("XVSCHED_STATE_DIR");
        return die && streq(die, step) && sd && *sd;
}

void vmi_kcall_test_die(const char *step) {
        if (test_die_at(step)) {
                log_debug("kcall: test hook: dying at step %s", step);
                raise(SIGKILL);
        }
}

/* Record the call's state before its next change (VmiKcallOptions.note). */
static int note(Kc *k, GuestKcallStep step, int vcpu, const Regs *saved) {
        if (!k->opt || !k->opt->note)
                return 0;
        GuestKcall n = { .step = step, .gdb_socket = k->opt->gdb_socket, .bp = k->bp, .bp_orig = k->bp_orig,
                         .vcpu = vcpu, .fn = k->fn, .regs = saved ? saved->b : NULL,
                         .regs_len = saved ? REGS_RESTORE : 0 };
        int r = k->opt->note(&n, k->opt->userdata);
        if (r < 0 && step == GUEST_KCALL_NONE)
                return r;   /* the caller's error stays the one reported */
        if (r < 0)
                return vmi_set_error(k->v, r, "cannot record the call's state before changing the VM (%s): "
                                     "not changed", strerror(-r));
        if (step != GUEST_KCALL_NONE)
                k->noted = true;
        return 0;
}

static int read_regs(Kc *k, int thread, Regs *r) {
        int e = gdb_remote_select(k->g, thread);
        if (e < 0)
                return e;
        e = gdb_remote_read_regs(k->g, r->b, sizeof r->b, &r->len);
        if (e < 0)
                return e;
        if (r->len < REGS_MIN)
                return vmi_set_error(k->v, -EPROTO, "the stub's register block has %zu bytes (not x86-64?)", r->len);
        return 0;
}

/* Is this vCPU's current task its CPU's idle task? (rq->curr == rq->idle
 * through the per-CPU run queue at its GS base) */
static bool runs_idle(Kc *k, const Regs *r) {
        const VmiLayout *L = &k->v->L;
        uint64_t gs = rd64(r->b, OFF_GS_BASE);
        if (L->pcpu_runqueues < 0 || !kptr_ok(gs))
                return false;
        uint64_t rq = gs + (uint64_t) L->pcpu_runqueues, curr, idle;
        if (vmi_read_kva(k->v, rq + (uint64_t) L->rq_curr, &curr, 8) < 0 ||
            vmi_read_kva(k->v, rq + (uint64_t) L->rq_idle, &idle, 8) < 0)
                return false;
        return kptr_ok(curr) && curr == idle;
}

/* In the kernel, interrupts on, just after a hlt, in the idle task. */
static bool at_idle_hlt(Kc *k, const Regs *r) {
        uint64_t rip = rip_of(r);
        uint8_t prev = 0;
        bool kernel = (rd32(r->b, OFF_CS) & 3) == 0, irq = rd32(r->b, OFF_EFLAGS) & EFLAGS_IF;
        bool hlt = kernel && kptr_ok(rip & ~UINT64_C(7)) && vmi_read_kva(k->v, rip - 1, &prev, 1) >= 0 && prev == 0xf4;
        bool idle = hlt && runs_idle(k, r);
        if (!(kernel && irq && hlt && idle))
                log_debug("kcall: rip %#" PRIx64 ": kernel %d, IF %d, after hlt %d, idle task %d", rip, kernel, irq,
                          hlt, idle);
        return kernel && irq && hlt && idle;
}

static void stopped_now(Kc *k) {
        k->t_stopped = now_usec();
}
static void running_now(Kc *k) {
        if (k->t_stopped)
                k->st.stopped_us += now_usec() - k->t_stopped;
        k->t_stopped = 0;
}

static int do_continue(Kc *k) {
        running_now(k);
        return gdb_remote_continue(k->g);
}

/* Wait for a stop; at the timeout interrupt and wait for that stop
 * (returns -ETIMEDOUT then, the VM stopped). */
static int wait_stop(Kc *k, int timeout_ms, GdbStop *st) {
        int r = gdb_remote_wait_stop(k->g, timeout_ms, st);
        if (r == -ETIMEDOUT) {
                if ((r = gdb_remote_interrupt(k->g)) < 0 || (r = gdb_remote_wait_stop(k->g, 2000, st)) < 0) {
                        stopped_now(k);
                        return vmi_set_error(k->v, r < 0 ? r : -EIO, "the gdbstub did not stop the VM: %s",
                                             gdb_remote_last_error(k->g));
                }
                stopped_now(k);
                return -ETIMEDOUT;
        }
        stopped_now(k);
        if (r < 0)
                return vmi_set_error(k->v, r, "waiting for the VM to stop: %s", gdb_remote_last_error(k->g));
        return 0;
}

/* Another vCPU stopped at the breakpoint: step it past (the others stay
 * stopped), put the breakpoint back. */
static int step_over(Kc *k, int thread) {
        GdbStop st;
        int r = gdb_remote_breakpoint(k->g, false, k->bp);
        if (r < 0)
                return r;
        k->bp_in = false;
        running_now(k);
        r = gdb_remote_step(k->g, thread);
        if (r < 0)
                return r;
        r = wait_stop(k, 1000, &st);
        if (r < 0)
                return r == -ETIMEDOUT ? vmi_set_error(k->v, -ETIMEDOUT, "stepping vCPU thread %d past the breakpoint "
                                                       "did not finish", thread) : r;
        r = gdb_remote_breakpoint(k->g, true, k->bp);
        if (r < 0)
                return r;
        k->bp_in = true;
        k->st.step_overs++;
        return 0;
}

static int find_idle(Kc *k, const int *threads, size_t n, uint64_t *ret_rip) {
        unsigned max_tries = k->opt && k->opt->idle_tries > 0 ? MIN(k->opt->idle_tries, VMI_KCALL_IDLE_TRIES)
                                                              : VMI_KCALL_IDLE_TRIES;
        for (unsigned tries = 0; tries < max_tries; tries++) {
                k->st.idle_tries = tries + 1;
                for (size_t i = 0; i < n; i++) {
                        Regs r;
                        int e = read_regs(k, threads[i], &r);
                        if (e < 0)
                                return e;
                        if (at_idle_hlt(k, &r)) {
                                *ret_rip = rip_of(&r);
                                return 0;
                        }
                }
                if (tries + 1 == max_tries)
                        break;   /* no look after this run: do not make it */
                /* none idle now: let the guest run 2 ms, look again */
                GdbStop st;
                int e = do_continue(k);
                if (e < 0)
                        return e;
                e = wait_stop(k, MIN(2 << tries, 100), &st);
                if (e < 0 && e != -ETIMEDOUT)
                        return e;
        }
        return vmi_set_error(k->v, -EBUSY, "no vCPU idle in hlt in %u looks (a guest that is busy now, or "
                             "never idles)", max_tries);
}

static int kcall_run(Kc *k, uint64_t fn, const uint64_t args[3], const VmiKcallOptions *opt, uint64_t *ret_rax) {
        int wake_ms = opt && opt->wake_ms > 0 ? opt->wake_ms : 2000;
        int call_ms = opt && opt->call_ms > 0 ? opt->call_ms : 2000;
        int threads[GDB_MAX_THREADS];
        size_t n = 0;
        GdbStop st;
        int r = gdb_remote_threads(k->g, threads, ELEMENTSOF(threads), &n);
        if (r < 0)
                return vmi_set_error(k->v, r, "the gdbstub lists no vCPUs: %s", gdb_remote_last_error(k->g));
        if (n == 0)
                return vmi_set_error(k->v, -ENODEV, "the gdbstub lists no vCPUs");

        /* 1. the breakpoint just after an idle hlt */
        r = find_idle(k, threads, n, &k->bp);
        if (r < 0)
                return r;
        uint8_t orig;
        k->bp_orig = gdb_remote_read_mem(k->g, k->bp, &orig, 1) >= 0 ? orig : -1;
        if ((r = note(k, GUEST_KCALL_BREAKPOINT, 0, NULL)) < 0)
                return r;
        r = gdb_remote_breakpoint(k->g, true, k->bp);
        if (r < 0)
                return vmi_set_error(k->v, r, "cannot set a breakpoint: %s", gdb_remote_last_error(k->g));
        k->bp_in = true;

        /* 2. the first vCPU that leaves hlt, in the idle task */
        int thread = 0;
        Regs saved;
        uint64_t t0 = now_usec();
        for (int ev = 0; ev < VMI_KCALL_MAX_EVENTS && !thread; ev++) {
                int left = wake_ms - (int) ((now_usec() - t0) / USEC_PER_MSEC);
                if (left <= 0)
                        return vmi_set_error(k->v, -ETIMEDOUT, "no vCPU left hlt within %d ms", wake_ms);
                if ((r = do_continue(k)) < 0)
                        return r;
                vmi_kcall_test_die("wake");
                r = wait_stop(k, left, &st);
                k->st.wait_us = now_usec() - t0;
                if (r == -ETIMEDOUT)
                        return vmi_set_error(k->v, -ETIMEDOUT, "no vCPU left hlt within %d ms", wake_ms);
                if (r < 0)
                        return r;
                if (st.thread <= 0)
                        continue;          /* stopped for another reason: go on */
                if ((r = read_regs(k, st.thread, &saved)) < 0)
                        return r;
                if (rip_of(&saved) != k->bp)
                        continue;
                if (!at_idle_hlt(k, &saved)) {
                        if ((r = step_over(k, st.thread)) < 0)
                                return r;
                        continue;
                }
                thread = st.thread;
        }
        if (!thread)
                return vmi_set_error(k->v, -ETIMEDOUT, "no vCPU left hlt after %d stops", VMI_KCALL_MAX_EVENTS);
        k->st.vcpu = thread;

        /* 3. the call: return address (the breakpoint) at RSP-8 */
        uint64_t rsp = reg(&saved, R_RSP);
        if (!kptr_ok(rsp))
                return vmi_set_error(k->v, -EBADMSG, "vCPU thread %d: RSP %#" PRIx64 " is not a kernel stack", thread, rsp);
        if ((r = note(k, GUEST_KCALL_CALL, thread, &saved)) < 0)
                return r;
        k->regs_back = false;
        r = gdb_remote_write_mem(k->g, rsp - 8, &k->bp, 8);
        if (r < 0)
                return vmi_set_error(k->v, r, "cannot write the return address: %s", gdb_remote_last_error(k->g));
        Regs call = saved;
        set_reg(&call, R_RDI, args[0]);
        set_reg(&call, R_RSI, args[1]);
        set_reg(&call, R_RDX, args[2]);
        set_reg(&call, R_RSP, rsp - 8);
        memcpy(call.b + OFF_RIP, &fn, 8);
        r = gdb_remote_write_regs(k->g, call.b, REGS_RESTORE);
        if (r < 0)
                return vmi_set_error(k->v, r, "cannot set the call's registers: %s", gdb_remote_last_error(k->g));
        Regs check;
        if ((r = read_regs(k, thread, &check)) < 0)
                return r;
        if (rip_of(&check) != fn || reg(&check, R_RSP) != rsp - 8) {
                if (gdb_remote_write_regs(k->g, saved.b, REGS_RESTORE) >= 0)
                        k->regs_back = true;
                return vmi_set_error(k->v, -EIO, "the stub did not take the call's registers");
        }
        vmi_kcall_test_die("setup");
        if (test_die_at("inside")) {
                /* test: a few instructions into the function, then die */
                for (int i = 0; i < 3; i++)
                        if (gdb_remote_step(k->g, thread) < 0 || gdb_remote_wait_stop(k->g, 2000, &st) < 0)
                                break;
                vmi_kcall_test_die("inside");
        }

        /* 4. back at the breakpoint on that vCPU with RSP restored */
        t0 = now_usec();
        Regs done;
        bool back = false;
        for (int ev = 0; ev < VMI_KCALL_MAX_EVENTS && !back; ev++) {
                int left = call_ms - (int) ((now_usec() - t0) / USEC_PER_MSEC);
                if (left <= 0)
                        left = 1;
                if ((r = do_continue(k)) < 0)
                        return r;
                vmi_kcall_test_die("call");
                r = wait_stop(k, left, &st);
                k->st.call_us = now_usec() - t0;
                if (r == -ETIMEDOUT) {
                        Regs now;
                        if (read_regs(k, thread, &now) >= 0 && rip_of(&now) == k->bp && reg(&now, R_RSP) == rsp) {
                                /* it came back as the deadline passed */
                                done = now;
                                back = true;
                                break;
                        }
                        if (read_regs(k, thread, &now) >= 0 && rip_of(&now) == fn && reg(&now, R_RSP) == rsp - 8) {
                                /* never started (still halted?): undo cleanly */
                                if (gdb_remote_write_regs(k->g, saved.b, REGS_RESTORE) >= 0)
                                        k->regs_back = true;
                                return vmi_set_error(k->v, -ETIME, "the call did not start within %d ms; "
                                                     "registers restored", call_ms);
                        }
                        /* given up on purpose: nothing for a recovery to finish */
                        k->regs_back = true;
                        return vmi_set_error(k->v, -ETIME, "the call did not return within %d ms: the vCPU is left to "
                                             "finish it (it returns to where it was, RSP intact; the caller-saved "
                                             "registers are not restored)", call_ms);
                }
                if (r < 0)
                        return r;
                if (st.thread <= 0)
                        continue;
                if ((r = read_regs(k, st.thread, &done)) < 0)
                        return r;
                if (rip_of(&done) != k->bp)
                        continue;
                if (st.thread == thread && reg(&done, R_RSP) == rsp) {
                        back = true;
                        break;
                }
                if ((r = step_over(k, st.thread)) < 0)
                        return r;
        }
        if (!back)
                return vmi_set_error(k->v, -ETIME, "the call did not return after %d stops", VMI_KCALL_MAX_EVENTS);
        *ret_rax = reg(&done, R_RAX);
        vmi_kcall_test_die("return");
        if ((r = gdb_remote_select(k->g, thread)) < 0 || (r = gdb_remote_write_regs(k->g, saved.b, REGS_RESTORE)) < 0)
                return vmi_set_error(k->v, r, "cannot restore vCPU thread %d's registers: %s", thread,
                                     gdb_remote_last_error(k->g));
        k->regs_back = true;
        return 0;
}

int vmi_kcall(Vmi *v, GdbRemote *g, uint64_t fn, const uint64_t args[3], const VmiKcallOptions *opt,
              uint64_t *ret_rax, VmiKcallStats *ret_stats) {
        Kc k = { .v = v, .g = g, .opt = opt, .fn = fn, .bp_orig = -1, .regs_back = true };
        stopped_now(&k);
        if (fn < KIMAGE_START || fn >= KIMAGE_END)
                return vmi_set_error(v, -EINVAL, "%#" PRIx64 " is not kernel text", fn);
        char reply[256];
        int r = gdb_remote_command(g, "?", reply, sizeof reply);
        if (r < 0)
                return vmi_set_error(v, r, "the gdbstub does not answer: %s", gdb_remote_last_error(g));
        uint64_t rax = 0;
        r = kcall_run(&k, fn, args, opt, &rax);
        if (k.bp_in && gdb_remote_breakpoint(g, false, k.bp) >= 0)
                k.bp_in = false;
        else if (k.bp_in && r >= 0)
                r = vmi_set_error(v, -EIO, "cannot remove the breakpoint: %s", gdb_remote_last_error(g));
        /* Nothing in flight any more: forget the recorded state.  Still in
         * flight (the stub stopped answering): the record stays, and
         * whoever resumes the pause finishes the call first. */
        if (k.noted && !k.bp_in && k.regs_back)
                (void) note(&k, GUEST_KCALL_NONE, 0, NULL);
        k.st.in_flight = k.noted && !(!k.bp_in && k.regs_back);
        running_now(&k);   /* the caller counts from here */
        if (ret_stats)
                *ret_stats = k.st;
        if (r < 0)
                return r;
        *ret_rax = rax;
        return 0;
}
