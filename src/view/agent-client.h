/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Host-side client of xvagent, the in-guest agent (protocol: docs/agent.md).
 *
 * The guest is untrusted.  Every call is bounded in time (a per-call
 * timeout, poll() everywhere, never a blocking read or write), in memory
 * (line length, number of unrelated lines and their bytes, number of tasks;
 * objects, arrays and values per line are counted before json-c builds
 * anything) and checks every reply strictly (valid JSON, our id, the expected shape and ranges).  On any
 * transport or protocol failure the connection is dropped; the next call on a
 * client made by agent_client_connect() reconnects and re-syncs (a unique id,
 * preceded by the agent's 0xFF delimiter, like qemu-ga's
 * guest-sync-delimited), so one bad reply never poisons the next exchange.
 *
 * Return values: >= 0 on success, or a negative errno:
 *   transport/protocol (the connection was dropped; the next call reconnects):
 *     -ETIMEDOUT     the agent did not answer in time (silent or half-open)
 *     -ECONNRESET    the channel closed (EOF, hangup)
 *     -EBADMSG       a reply was not valid JSON or had the wrong shape/types
 *     -EMSGSIZE      a reply line was longer than the limit, or held more
 *                    objects/arrays (max_tasks + 16), values
 *                    (16 * max_tasks + 256) or nesting (16) than any reply
 *     -EPROTO        too many lines with foreign ids, or a protocol version
 *                    this client does not speak
 *     -ENOTCONN      no connection and no way to reconnect (agent_client_connect_fd)
 *     other -errno   from connect(), read(), write()
 *   errors the agent reported (the connection stays up):
 *     -EKEYEXPIRED   LeaseExpired: we were silent past the lease and the
 *                    agent undid everything; it takes no change until we
 *                    sync (each call syncs and tries once more by itself,
 *                    so callers see this only if that fails too)
 *     -ESRCH         NotFound: no such process/thread
 *     -EPERM         PermissionDenied (init, kernel thread, the agent itself, EPERM)
 *     -EINVAL        InvalidParameter/InvalidRequest
 *     -EOPNOTSUPP    CommandNotFound (an older agent)
 *     -E2BIG         TooLarge
 *     -EREMOTEIO     any other error class
 *   -ENOMEM, and -EINVAL for invalid arguments to these functions.
 * After a failure agent_client_last_error() describes it in one line.
 *
 * Not thread-safe: one client per thread, or lock around it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/macros.h"
#include "basic/time-util.h"
#include "model/guest-task.h"


#define AGENT_CLIENT_PROTOCOL 1
#define AGENT_CLIENT_DEFAULT_TIMEOUT (5 * USEC_PER_SEC)
#define AGENT_COMM_MAX GUEST_COMM_MAX
#define AGENT_CMDLINE_MAX GUEST_CMDLINE_MAX

typedef struct AgentClient AgentClient;


typedef struct AgentHello {
        int protocol;
        char version[32];
        char kernel[128];
        char machine[32];
        char hostname[65];
        unsigned cpus;
        char boot_id[40];
        pid_t pid;                        /* the agent's pid in the guest */
        unsigned hz;
        uint64_t lease_ms;
} AgentHello;

typedef struct AgentStats {
        pid_t pid;
        uint64_t cpu_ns;                  /* the agent's own CPU time */
        uint64_t uptime_ns;
        uint64_t max_rss_kb;
        uint64_t requests, errors, bad_requests;
        uint64_t bytes_in, bytes_out;
        uint64_t lease_ms, lease_expiries, restored;
        uint64_t held_stops, held_nice, held_sched;
} AgentStats;

typedef struct AgentLimits {
        size_t max_line;                  /* bytes per reply line (default 512 per task + 64 KiB:
                                           * 32 MiB + 64 KiB), and bytes of lines without our id per call */
        size_t max_foreign_lines;         /* lines without our id per call (default 32) */
        size_t max_tasks;                 /* threads per tasks reply (default 65536); setting it
                                           * without max_line sets max_line to 512 per task + 64 KiB */
} AgentLimits;

/* Connect to a UNIX stream socket (QEMU's chardev server socket for the
 * virtio-serial port, or xvagent --listen unix:PATH), sync and check the
 * protocol version (hello).  timeout bounds this and every later call
 * (0: AGENT_CLIENT_DEFAULT_TIMEOUT).  The client reconnects by itself after
 * a failure.  Returns 0, or the errors above (-ENOENT, -ECONNREFUSED, ...). */
int agent_client_connect(const char *socket_path, usec_t timeout, AgentClient **ret);

/* Use an already connected stream fd (takes ownership; made non-blocking).
 * No I/O happens here: the first call syncs.  Such a client cannot
 * reconnect: after a dropped connection calls return -ENOTCONN. */
int agent_client_connect_fd(int fd, usec_t timeout, AgentClient **ret);

/* Closes the connection.  Accepts NULL. */
void agent_client_free(AgentClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentClient *, agent_client_free);
#define _cleanup_agent_client_ _cleanup_(agent_client_freep)

void agent_client_set_timeout(AgentClient *c, usec_t timeout);
void agent_client_set_limits(AgentClient *c, const AgentLimits *limits);
/* Use the agent's delta mode for agent_client_tasks() (default on).  The caller
 * always gets the complete list either way. */
void agent_client_set_delta(AgentClient *c, bool delta);
/* The message of the last failure ("" if none).  Valid until the next call.
 * agent_client_last_error(NULL) describes the last failed agent_client_connect() of this
 * thread. */
const char *agent_client_last_error(const AgentClient *c);
bool agent_client_is_connected(const AgentClient *c);
/* Drop the connection now (the next call reconnects). */
void agent_client_disconnect(AgentClient *c);

/* Discard anything in flight and resynchronise on a fresh unique id (resent
 * with a new id every second until the timeout; a reply to any of them
 * counts). */
int agent_client_sync(AgentClient *c);
int agent_client_hello(AgentClient *c, AgentHello *ret);

/* Every thread in the guest, sorted by tid, plus one entry for the agent
 * (is_agent).  On success *ret is a malloc'd array of *ret_n entries (free()
 * it); on failure neither is touched. */
int agent_client_tasks(AgentClient *c, GuestTask **ret, size_t *ret_n);

/* SIGSTOP / SIGCONT a whole thread group (pid may be any of its threads).
 * Stops are held under the agent's lease. */
int agent_client_stop(AgentClient *c, pid_t pid);
int agent_client_cont(AgentClient *c, pid_t pid);
/* Set the nice value (-20..19) of every thread of pid, or of one thread.
 * Returns the number of threads changed. */
int agent_client_nice(AgentClient *c, pid_t pid, int nice);
int agent_client_nice_thread(AgentClient *c, pid_t tid, int nice);
/* Set the policy (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE with priority 0;
 * SCHED_FIFO, SCHED_RR with 1..99) of every thread of pid.  Returns the
 * number of threads changed. */
int agent_client_sched(AgentClient *c, pid_t pid, int policy, int priority);
/* Set the safety lease (0.1..3600 s).  Every call renews it; when the host
 * is silent past it, the agent undoes every stop, nice and policy change. */
int agent_client_lease(AgentClient *c, double seconds);
/* Undo every change now (e.g. before the daemon exits).  Returns how many. */
int agent_client_release(AgentClient *c);
int agent_client_stats(AgentClient *c, AgentStats *ret);

/* For tests and fuzzers: make request ids predictable (seed, seed+1, ...). */
void agent_client_set_id_seed(AgentClient *c, uint64_t seed);

const char *agent_client_policy_to_string(int policy);
