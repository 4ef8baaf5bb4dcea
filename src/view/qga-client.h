/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Host-side client of qemu-guest-agent (QGA, port org.qemu.guest_agent.0),
 * the agent most guests already run (docs/qga.md).
 *
 * QGA has no process list, no signal and no lease.  xvsched gets all three
 * from guest-exec: one POSIX sh reader of /proc per poll (one guest-exec,
 * then guest-exec-status until it exited), `kill -STOP/-CONT` and `renice`
 * for control, and a guest-side sh watchdog that resumes stopped processes
 * and restores nice values when the host stops renewing a heartbeat file.
 *
 * Transports (a small vtable):
 *   socket   the raw QGA UNIX socket (raw QEMU's -chardev socket for the
 *            port; Proxmox's /var/run/qemu-server/ID.qga; qemu-ga -m
 *            unix-listen).  Resynchronised with guest-sync-delimited (and
 *            QGA's 0xFF delimiter) on every (re)connect and after any error.
 *   command  a function the program installs (qga_command_hook_set()):
 *            libvirt's virDomainQemuAgentCommand (src/hv/hv-libvirt-agent.c),
 *            since libvirtd owns the agent socket of its domains.  This layer
 *            does not know libvirt.
 *
 * The guest is untrusted: every call has a deadline, replies are bounded in
 * size (QGA_REPLY_MAX), parsed with a bounded nesting depth and type-checked;
 * a garbled, hanging or flooding agent gives a one-line error
 * (qga_client_last_error()) and -EBADMSG, -ETIMEDOUT or -EMSGSIZE.
 *
 * Errors: -ETIMEDOUT, -ECONNRESET, -EBADMSG, -EMSGSIZE (transport; the
 * socket is dropped and the next call reconnects and resyncs); -EACCES (the
 * agent has the command disabled, e.g. RHEL's allow-list or --block-rpcs);
 * -EOPNOTSUPP (the agent does not know the command); -EREMOTEIO (any other
 * error the agent reported); -ESRCH, -EPERM from control scripts.
 *
 * Not thread-safe: one client per thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/macros.h"
#include "basic/time-util.h"
#include "model/domain.h"
#include "model/guest-task.h"


#define QGA_PORT_NAME "org.qemu.guest_agent.0"
/* Bytes of one reply (the reader's base64 output is most of it). */
#define QGA_REPLY_MAX (8u * 1024 * 1024)
/* Threads in one task list. */
#define QGA_MAX_TASKS 65536u
/* The guest-side watchdog's lease: without a renewal for this long (in
 * the watchdog's 1 s steps), it resumes and restores everything. */
#define QGA_LEASE_S 10

typedef struct QgaClient QgaClient;

/* A transport for one domain's agent: send one command (a JSON object),
 * get back its whole reply ({"return": ...} or {"error": ...}) as a
 * malloc'd string.  timeout_s >= 1. */
typedef struct QgaCommandHook {
        int (*open)(const Domain *d, void *userdata, void **ret_handle, char *err, size_t err_size);
        int (*command)(void *handle, const char *json, int timeout_s, char **ret_reply, char *err, size_t err_size);
        void (*close)(void *handle);
        void *userdata;
} QgaCommandHook;

/* Process-wide; h is copied.  NULL: none (libvirt domains then have no QGA
 * path).  The CLI and the daemon install libvirt's. */
void qga_command_hook_set(const QgaCommandHook *h);
bool qga_command_hook_present(void);

/* Connect to a raw QGA socket, sync, and read guest-info. */
int qga_client_connect(const char *socket_path, usec_t timeout, QgaClient **ret);
/* Use a connected stream fd (takes ownership).  Cannot reconnect. */
int qga_client_connect_fd(int fd, usec_t timeout, QgaClient **ret);
/* Through the installed command hook (libvirt). */
int qga_client_connect_hook(const Domain *d, usec_t timeout, QgaClient **ret);
/* The last failed connect of this thread: qga_client_last_error(NULL). */
const char *qga_client_last_error(const QgaClient *c);
void qga_client_free(QgaClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(QgaClient *, qga_client_free);
void qga_client_set_timeout(QgaClient *c, usec_t timeout);
/* Bytes of one reply (default QGA_REPLY_MAX; tests use less). */
void qga_client_set_reply_max(QgaClient *c, size_t max);

/* Does the agent offer guest-exec and guest-exec-status (guest-info's
 * "enabled")?  0, or -EACCES with the reason in last_error. */
int qga_client_check_exec(QgaClient *c);

/* Run argv[0] with arguments (guest-exec, capture-output), wait for it with
 * guest-exec-status until it exited or the deadline.  *ret_out gets its
 * standard output (malloc'd, NUL-terminated; at most max_out bytes else
 * -EMSGSIZE), *ret_status its exit code (128+N for signal N). */
int qga_client_exec(QgaClient *c, const char *const *argv, size_t max_out, char **ret_out, size_t *ret_out_len,
                    int *ret_status);

/* Every thread of the guest (one guest-exec of the sh reader); qemu-ga's
 * own threads are flagged is_agent; the reader itself is left out.  Also
 * renews the watchdog's heartbeat when one runs. */
int qga_client_tasks(QgaClient *c, GuestTask **ret, size_t *ret_n);
/* SIGSTOP / SIGCONT a thread group, held under the watchdog's lease
 * (QGA_LEASE_S unless set).  The first stop starts the watchdog. */
int qga_client_stop(QgaClient *c, pid_t pid);
int qga_client_cont(QgaClient *c, pid_t pid);
/* Nice of every thread of pid; the first original of each thread is kept
 * and restored by release or the watchdog.  Returns threads changed. */
int qga_client_nice(QgaClient *c, pid_t pid, int nice);
/* Renew the heartbeat (one guest-exec). */
int qga_client_keepalive(QgaClient *c);
/* Resume every stop and restore every nice this host holds.  Returns how many. */
int qga_client_release(QgaClient *c);
/* Lease in seconds (1..3600) for watchdogs started from now on. */
void qga_client_set_lease(QgaClient *c, unsigned seconds);
/* The transport in use: "qga socket PATH" or "qga libvirt". */
const char *qga_client_transport(const QgaClient *c);

/* Pure: parse the reader's output (docs/qga.md, "The reader").  Lines of
 * threads whose thread group is skip_pid are left out.  Checks every field
 * as the agent view does (pid/tid range, comm length, one-letter state, cpu
 * time, nice -20..19, policy, rt priority); a malformed line, a missing end
 * marker or more than max_tasks threads fail the whole list with -EBADMSG
 * or -E2BIG and a reason in err.  Sorted by tid. */
int qga_parse_tasks(const char *text, size_t len, pid_t skip_pid, size_t max_tasks, GuestTask **ret, size_t *ret_n,
                    char *err, size_t err_size);
/* Pure: strict base64 (RFC 4648, padding required).  *ret malloc'd, NUL-terminated. */
int qga_base64_decode(const char *in, size_t len, char **ret, size_t *ret_len);
