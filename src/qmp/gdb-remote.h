/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A small client of the GDB remote serial protocol, for QEMU's gdbstub
 * (started at run time through HMP `gdbserver unix:PATH,server=on,wait=off`,
 * stopped with `gdbserver none`).  Only what calling a guest kernel function
 * needs: `?`, qfThreadInfo/qsThreadInfo, Hg (a thread is a vCPU, QEMU
 * numbers them cpu_index + 1), g/G (QEMU answers p/P only after an XML
 * target description was negotiated, so whole register blocks), m/M, Z0/z0,
 * c, vCont;s:T, the interrupt byte 0x03 and stop replies.
 *
 * Everything from the stub is untrusted: every packet must arrive before the
 * call's deadline, be at most GDB_MAX_PACKET bytes after decoding and carry
 * a valid checksum; anything else fails the call (-ETIMEDOUT, -EMSGSIZE,
 * -EBADMSG, -ECONNRESET) and the client is unusable afterwards.
 * Errors: -errno. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDB_MAX_PACKET (64u << 10)
#define GDB_MAX_THREADS 1024
/* Stop replies that arrive while a command that does not resume waits for
 * its answer (QEMU sends one when the VM stops): skipped, at most this many. */
#define GDB_MAX_SKIPPED 64
/* A 'm'/'M' transfers at most this many bytes. */
#define GDB_MAX_MEM 1024

typedef struct GdbRemote GdbRemote;

typedef struct GdbStop {
        char kind;          /* 'T' or 'S' (stopped), 'W'/'X' (exited), 0 unknown */
        int signal;         /* 5 (SIGTRAP): breakpoint or step; 2: interrupt */
        int thread;         /* "thread:N;" in a T reply, else 0 */
} GdbStop;

int gdb_remote_connect(const char *path, int timeout_ms, GdbRemote **ret);
void gdb_remote_free(GdbRemote *g);
static inline void gdb_remote_freep(GdbRemote **g) {
        gdb_remote_free(*g);
}
/* One line on the last failure ("" when none). */
const char *gdb_remote_last_error(const GdbRemote *g);

/* One command and its reply (NUL-terminated in reply, at most size-1
 * bytes).  Stop replies arriving meanwhile are skipped unless the command
 * itself is '?'.  Each step must finish within the client's timeout. */
int gdb_remote_command(GdbRemote *g, const char *cmd, char *reply, size_t size);
/* "OK" expected; "Enn" gives -EREMOTEIO, "" (unsupported) -EOPNOTSUPP. */
int gdb_remote_command_ok(GdbRemote *g, const char *cmd);

/* The stub's threads (vCPUs).  At most max. */
int gdb_remote_threads(GdbRemote *g, int *ret, size_t max, size_t *ret_n);
int gdb_remote_select(GdbRemote *g, int thread);
/* The selected thread's registers, as the stub sends them (x86-64: 16 GPRs
 * rax rbx rcx rdx rsi rdi rbp rsp r8..r15, rip, eflags(4), cs ss ds es fs gs
 * (4 each), fs_base gs_base k_gs_base, ...). */
int gdb_remote_read_regs(GdbRemote *g, uint8_t *buf, size_t size, size_t *ret_len);
/* Write the first len bytes of the register block (QEMU writes as many
 * registers as the bytes cover). */
int gdb_remote_write_regs(GdbRemote *g, const uint8_t *buf, size_t len);
int gdb_remote_read_mem(GdbRemote *g, uint64_t addr, void *buf, size_t len);
int gdb_remote_write_mem(GdbRemote *g, uint64_t addr, const void *buf, size_t len);
/* Z0/z0: a software breakpoint (x86 kind 1). */
int gdb_remote_breakpoint(GdbRemote *g, bool insert, uint64_t addr);
/* Resume: every vCPU ('c'), or step one thread while the others stay
 * stopped ("vCont;s:T").  No reply: wait with gdb_remote_wait_stop(). */
int gdb_remote_continue(GdbRemote *g);
int gdb_remote_step(GdbRemote *g, int thread);
/* Wait for a stop reply until timeout_ms: -ETIMEDOUT when none came (the
 * client stays usable: interrupt and wait again). */
int gdb_remote_wait_stop(GdbRemote *g, int timeout_ms, GdbStop *ret);
/* Send the interrupt byte (the stub stops the VM and sends a stop reply). */
int gdb_remote_interrupt(GdbRemote *g);

/* ---- the codec, pure (exposed for tests) ---- */

/* "$payload#cs" with '#', '$', '}' and '*' escaped.  Returns the length
 * written (without the NUL), -ENOBUFS when it does not fit. */
int gdb_packet_encode(const char *payload, char *out, size_t size);
/* The first packet in in[0..len): payload decoded (escapes, run-length)
 * into out (NUL-terminated, at most size-1 bytes), *ret_consumed = bytes of
 * in used up to the checksum (acks and noise before '$' included).
 * Returns 1 (a packet), 0 (incomplete: read more), -EBADMSG (checksum,
 * bad escape or run length), -EMSGSIZE (does not fit). */
int gdb_packet_decode(const char *in, size_t len, char *out, size_t size, size_t *ret_consumed);
/* A stop reply: "T05thread:01;...", "S05", "W00", "X09". -EBADMSG if not. */
int gdb_parse_stop(const char *payload, GdbStop *ret);
/* Hex to bytes: exactly len bytes from 2*len hex digits.  -EBADMSG. */
int gdb_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t len);
void gdb_hex_encode(const uint8_t *in, size_t len, char *out);
