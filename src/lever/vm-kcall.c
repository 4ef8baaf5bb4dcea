/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Finishing or undoing a guest kernel call interrupted by the death of the
 * process that made it (vm-kcall.h, docs/agentless.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "lever/vm-kcall.h"
#include "qmp/gdb-remote.h"

/* x86-64 register block as QEMU's stub sends it (src/vmi/kcall.c) */
#define R_RSP 7
#define OFF_RIP 128
#define REGS_RESTORE 140
#define KC_GDB_TIMEOUT_MS 2000
#define KC_MAX_EVENTS 256
#define KC_MAX_REMOVES 8

VmKcallAction vm_kcall_decide(uint64_t rip, uint64_t rsp, uint64_t bp, uint64_t fn, uint64_t saved_rsp) {
        if (rip == bp && rsp == saved_rsp)
                return VM_KCALL_RESTORE;   /* returned (or not set up yet) */
        if (rip == fn && rsp == saved_rsp - 8)
                return VM_KCALL_RESTORE;   /* set up, never started */
        return VM_KCALL_WAIT;
}

static int parse_u64(const char *s, uint64_t *ret) {
        if (!s || strncmp(s, "0x", 2) != 0 || !s[2])
                return -EBADMSG;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s + 2, &end, 16);
        if (errno || *end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int vm_kcall_parse(json_object *kcall, VmKcallState *ret) {
        VmKcallState st = { .bp_orig = -1 };
        json_object *v;
        const char *step = json_object_object_get_ex(kcall, "step", &v) && json_object_is_type(v, json_type_string)
                                   ? json_object_get_string(v) : NULL;
        const char *sock = json_object_object_get_ex(kcall, "gdb_socket", &v) && json_object_is_type(v, json_type_string)
                                   ? json_object_get_string(v) : NULL;
        const char *bp = json_object_object_get_ex(kcall, "bp", &v) ? json_object_get_string(v) : NULL;
        const char *fn = json_object_object_get_ex(kcall, "fn", &v) ? json_object_get_string(v) : NULL;
        if (!step || !sock || strlen(sock) >= sizeof st.gdb_socket)
                return -EBADMSG;
        strcpy(st.gdb_socket, sock);
        if (streq(step, "stub")) {
                st.step = 3;
                *ret = st;
                return 0;
        }
        if (parse_u64(bp, &st.bp) < 0 || parse_u64(fn, &st.fn) < 0 || st.bp == 0)
                return -EBADMSG;
        if (json_object_object_get_ex(kcall, "bp_orig", &v) && json_object_is_type(v, json_type_int)) {
                int64_t b = json_object_get_int64(v);
                st.bp_orig = b >= 0 && b <= 255 ? (int) b : -1;
        }
        if (streq(step, "breakpoint"))
                st.step = 1;
        else if (streq(step, "call")) {
                st.step = 2;
                const char *regs = json_object_object_get_ex(kcall, "regs", &v) && json_object_is_type(v, json_type_string)
                                           ? json_object_get_string(v) : NULL;
                int64_t vcpu = json_object_object_get_ex(kcall, "vcpu", &v) && json_object_is_type(v, json_type_int)
                                       ? json_object_get_int64(v) : 0;
                size_t n = regs ? strlen(regs) : 0;
                if (vcpu <= 0 || vcpu > GDB_MAX_THREADS || n != 2 * REGS_RESTORE ||
                    gdb_hex_decode(regs, n, st.regs, n / 2) < 0)
                        return -EBADMSG;
                st.vcpu = (int) vcpu;
                st.regs_len = n / 2;
        } else
                return -EBADMSG;
        *ret = st;
        return 0;
}

typedef struct Fin {
        GdbRemote *g;
        const VmKcallState *st;
        char msg[256];
} Fin;

static int fin_error(Fin *f, int r, const char *fmt, ...) _printf_(3, 4);
static int fin_error(Fin *f, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->msg, sizeof f->msg, fmt, ap);
        va_end(ap);
        return r;
}

static uint64_t u64_at(const uint8_t *b, size_t off) {
        uint64_t x;
        memcpy(&x, b + off, 8);
        return x;
}

static int regs_of(Fin *f, int thread, uint64_t *rip, uint64_t *rsp) {
        uint8_t b[4096];
        size_t len = 0;
        int r = gdb_remote_select(f->g, thread);
        if (r >= 0)
                r = gdb_remote_read_regs(f->g, b, sizeof b, &len);
        if (r < 0)
                return r;
        if (len < REGS_RESTORE)
                return -EPROTO;
        *rip = u64_at(b, OFF_RIP);
        *rsp = u64_at(b, R_RSP * 8);
        return 0;
}

/* Step another vCPU past the breakpoint (the others stay stopped).  The
 * z0 may find no breakpoint on the first vCPU (see finish()): stepping
 * overrides breakpoints anyway. */
static int step_over(Fin *f, int thread) {
        GdbStop s;
        int r = gdb_remote_breakpoint(f->g, false, f->st->bp);
        if (r < 0 && r != -EREMOTEIO)
                return r;
        if ((r = gdb_remote_step(f->g, thread)) < 0)
                return r;
        r = gdb_remote_wait_stop(f->g, 1000, &s);
        if (r == -ETIMEDOUT && gdb_remote_interrupt(f->g) >= 0)
                r = gdb_remote_wait_stop(f->g, KC_GDB_TIMEOUT_MS, &s);
        if (r < 0)
                return r;
        return gdb_remote_breakpoint(f->g, true, f->st->bp);
}

/* Inside the call: run until the vCPU is back at the breakpoint.  1: back;
 * 0: not back in time (the VM stopped again); -errno. */
static int wait_return(Fin *f) {
        const VmKcallState *st = f->st;
        uint64_t saved_rsp = u64_at(st->regs, R_RSP * 8);
        int r = gdb_remote_breakpoint(f->g, true, st->bp);
        if (r < 0)
                return r;
        uint64_t t0 = now_usec();
        for (int ev = 0; ev < KC_MAX_EVENTS; ev++) {
                int left = VM_KCALL_FINISH_MS - (int) ((now_usec() - t0) / USEC_PER_MSEC);
                if (left <= 0)
                        break;
                GdbStop s;
                if ((r = gdb_remote_continue(f->g)) < 0)
                        return r;
                r = gdb_remote_wait_stop(f->g, left, &s);
                if (r == -ETIMEDOUT) {
                        if ((r = gdb_remote_interrupt(f->g)) < 0 ||
                            (r = gdb_remote_wait_stop(f->g, KC_GDB_TIMEOUT_MS, &s)) < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                uint64_t rip, rsp;
                if ((r = regs_of(f, st->vcpu, &rip, &rsp)) < 0)
                        return r;
                if (rip == st->bp && rsp == saved_rsp)
                        return 1;
                if (s.thread <= 0)
                        continue;
                if (s.thread != st->vcpu && (r = regs_of(f, s.thread, &rip, &rsp)) < 0)
                        return r;
                /* another vCPU (or this one, deeper) at the breakpoint: past it */
                if (rip == st->bp && (r = step_over(f, s.thread)) < 0)
                        return r;
        }
        return 0;
}

static int finish(Fin *f) {
        const VmKcallState *st = f->st;
        char reply[256];
        int r = gdb_remote_command(f->g, "?", reply, sizeof reply);
        if (r < 0)
                return fin_error(f, r, "the gdbstub does not answer: %s", gdb_remote_last_error(f->g));
        const char *done = "breakpoints removed; no register had been changed";
        if (st->step == 2) {
                uint64_t rip, rsp, saved_rsp = u64_at(st->regs, R_RSP * 8);
                if ((r = regs_of(f, st->vcpu, &rip, &rsp)) < 0)
                        return fin_error(f, r, "cannot read vCPU thread %d's registers: %s", st->vcpu,
                                         gdb_remote_last_error(f->g));
                bool restore = true;
                done = "vCPU registers restored, breakpoints removed";
                if (vm_kcall_decide(rip, rsp, st->bp, st->fn, saved_rsp) == VM_KCALL_WAIT) {
                        r = wait_return(f);
                        if (r < 0)
                                return fin_error(f, r, "letting the call return failed: %s",
                                                 gdb_remote_last_error(f->g));
                        restore = r > 0;
                        done = restore ? "the call returned; vCPU registers restored, breakpoints removed"
                                       : "the call did not return in time: left to return into the idle loop "
                                         "(caller-saved registers not restored), breakpoints removed";
                }
                if (restore && ((r = gdb_remote_select(f->g, st->vcpu)) < 0 ||
                                (r = gdb_remote_write_regs(f->g, st->regs, st->regs_len)) < 0))
                        return fin_error(f, r, "cannot restore vCPU thread %d's registers: %s", st->vcpu,
                                         gdb_remote_last_error(f->g));
        }
        /* Every gdb breakpoint out, on every vCPU: `D` (detach).  z0 is not
         * enough after the client that set it died: QEMU 7.2 then answered
         * E22 (its z0 removes vCPU by vCPU and stops at the first that has
         * none) while another vCPU kept stopping at the address.  Detaching
         * removes them all (gdb_process_breakpoint_remove_all(); KVM puts
         * the saved bytes back) and, with no process attached, continues
         * the VM. */
        if ((r = gdb_remote_command_ok(f->g, "D")) < 0)
                return fin_error(f, r, "cannot remove the breakpoints (detach): %s", gdb_remote_last_error(f->g));
        snprintf(f->msg, sizeof f->msg, "%s", done);
        return 0;
}

/* The byte under the breakpoint, as the monitor sees guest memory now: an
 * int3 where there was none before would be a breakpoint left in memory
 * (KVM patches one in; QEMU puts the saved byte back when it removes it).
 * Only said (debug log): guest text may change by itself (static keys). */
static void check_byte(QmpClient *q, const VmKcallState *st) {
        if (st->bp_orig < 0 || st->bp_orig == 0xcc)
                return;
        char cmd[64];
        _cleanup_free_ char *out = NULL;
        snprintf(cmd, sizeof cmd, "x /1bx %#" PRIx64, st->bp);
        if (qmp_hmp(q, cmd, &out) >= 0 && out && strstr(out, "0xcc"))
                log_debug("kcall recovery: %#" PRIx64 " holds 0xcc (was %#x) after the breakpoints went", st->bp,
                          st->bp_orig);
}

/* The dead process's socket and directory, when they are of the form
 * kcall_paused() makes (never anything else a record names). */
static void remove_old_socket(const char *path) {
        const char *pre = "/tmp/xvsched-gdb.";
        size_t n = strlen(pre);
        if (strncmp(path, pre, n) != 0 || strlen(path) != n + 6 + 4 || !streq(path + n + 6, "/gdb") ||
            strchr(path + n, '.') || memchr(path + n, '/', 6))
                return;
        char dir[64];
        snprintf(dir, sizeof dir, "%.*s", (int) (n + 6), path);
        (void) unlink(path);
        (void) rmdir(dir);
}

int vm_kcall_finish(QmpClient *q, pid_t qemu_pid, json_object *kcall, char **ret_msg) {
        VmKcallState st;
        int r = vm_kcall_parse(kcall, &st);
        if (r < 0)
                return r;
        Fin f = { .st = &st };
        if (st.step == 3) {
                /* only the stub was up: stop it (it keeps no breakpoint) */
                _cleanup_free_ char *o = NULL;
                r = qmp_hmp(q, "gdbserver none", &o);
                if (r >= 0)
                        remove_old_socket(st.gdb_socket);
                log_debug("kcall recovery (step stub): %s", r >= 0 ? "gdbstub stopped" : qmp_last_error(q));
                if (ret_msg)
                        *ret_msg = strdup(r >= 0 ? "gdbstub stopped" : "cannot stop the gdbstub");
                return r;
        }
        char dir[] = "/tmp/xvsched-gdb.XXXXXX", path[sizeof dir + 8], cmd[sizeof path + 64];
        if (!mkdtemp(dir))
                return -errno;
        snprintf(path, sizeof path, "%s/gdb", dir);
        struct stat sb;
        char proc[32];
        snprintf(proc, sizeof proc, "/proc/%d", (int) qemu_pid);
        if (stat(proc, &sb) >= 0 && sb.st_uid != geteuid() && chown(dir, sb.st_uid, (gid_t) -1) < 0)
                log_debug("kcall recovery: cannot give %s to uid %u: %m", dir, (unsigned) sb.st_uid);
        /* A new stub session.  The dead client's stub still listens: QEMU
         * makes the new chardev (id "gdb") before it drops the old one, so
         * the old one goes first (`gdbserver none`; its breakpoints stay,
         * they are the accelerator's).  Connecting stops the VM if it runs. */
        _cleanup_free_ char *out0 = NULL, *out = NULL, *out2 = NULL;
        if (qmp_hmp(q, "gdbserver none", &out0) < 0)
                log_debug("kcall recovery: stopping the old gdbstub failed: %s", qmp_last_error(q));
        snprintf(cmd, sizeof cmd, "gdbserver unix:%s,server=on,wait=off", path);
        r = qmp_hmp(q, cmd, &out);
        if (r < 0 || !out || !strstr(out, "Waiting for gdb connection")) {
                r = fin_error(&f, r < 0 ? r : -EIO, "QEMU did not start its gdbstub: %s",
                              r < 0 ? qmp_last_error(q) : out ? out : "?");
        } else {
                r = gdb_remote_connect(path, KC_GDB_TIMEOUT_MS, &f.g);
                if (r < 0)
                        fin_error(&f, r, "cannot connect to QEMU's gdbstub: %s", strerror(-r));
                else
                        r = finish(&f);
                gdb_remote_free(f.g);
                if (qmp_hmp(q, "gdbserver none", &out2) < 0)
                        log_debug("kcall recovery: stopping the gdbstub failed: %s", qmp_last_error(q));
                if (r >= 0)
                        check_byte(q, &st);
        }
        (void) unlink(path);
        (void) rmdir(dir);
        if (r >= 0)
                remove_old_socket(st.gdb_socket);
        log_debug("kcall recovery (step %s, breakpoint %#" PRIx64 "): %s", st.step == 2 ? "call" : "breakpoint",
                  st.bp, f.msg);
        if (ret_msg)
                *ret_msg = strdup(f.msg);
        return r;
}
