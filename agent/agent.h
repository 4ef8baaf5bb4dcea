/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* xvagent's protocol engine: one request line in, one reply line out, plus
 * the safety lease.  No I/O loop here (see main.c), and every side effect on
 * other processes goes through AgentOps so tests and fuzzers can run the real
 * request handling without signalling anything. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"
#include "proc.h"

#define AGENT_PROTOCOL_VERSION 1
#define AGENT_MAX_LINE JSON_MAX_INPUT          /* requests */
#define AGENT_MAX_REPLY (64u << 20)            /* replies */
#define AGENT_MAX_TASKS 65536
#define AGENT_DEFAULT_LEASE_USEC (5ULL * 1000000)
#define AGENT_MIN_LEASE_USEC (100ULL * 1000)
#define AGENT_MAX_LEASE_USEC (3600ULL * 1000000)
#define AGENT_MAX_HELD 4096
#define AGENT_MAX_CACHED_FDS 16384
#define AGENT_PORT_NAME "org.xvsched.agent.0"
#define AGENT_SYNC_DELIMITER '\xff'

typedef struct AgentOps {
        int (*kill)(pid_t pid, int sig, void *userdata);
        int (*get_nice)(pid_t tid, int *ret, void *userdata);
        int (*set_nice)(pid_t tid, int nice, void *userdata);
        int (*get_sched)(pid_t tid, int *ret_policy, int *ret_prio, void *userdata);
        int (*set_sched)(pid_t tid, int policy, int prio, void *userdata);
} AgentOps;

/* The real ones: kill(2), getpriority/setpriority(2), sched_*(2).  -errno. */
extern const AgentOps agent_ops_real;

typedef enum HeldKind {
        HELD_STOP,
        HELD_NICE,
        HELD_SCHED,
} HeldKind;

/* Something the agent changed and must undo when the lease expires. */
typedef struct Held {
        HeldKind kind;
        pid_t pid;                /* thread group (HELD_STOP) */
        pid_t tid;                /* thread (HELD_NICE, HELD_SCHED) */
        uint64_t start_ticks;     /* guards against pid reuse */
        int orig_nice;
        int orig_policy, orig_prio;
} Held;

typedef struct AgentStats {
        uint64_t requests, errors, bad_requests;
        uint64_t lease_expiries, restored;
} AgentStats;

typedef struct Agent {
        const AgentOps *ops;
        void *userdata;
        char proc_root[256];
        pid_t self_pid;
        uint64_t start_usec;      /* CLOCK_MONOTONIC */
        uint64_t lease_usec;
        uint64_t last_renew_usec;
        /* How many times the lease ran out and everything was restored: the
         * host that held those changes is gone.  Requests it sent before it
         * died may still be read later, on its own connection or (the port)
         * in the byte stream before the next host's; a change (stop, nice,
         * sched) is taken only on a session that synced after the last such
         * restore (AgentSession.synced_epoch), else it is refused
         * ("LeaseExpired"): another host's sync does not make a dead host's
         * late stop good. */
        uint64_t lease_epoch;
        Held *held;
        size_t n_held, cap_held;
        uint32_t epoch;           /* makes delta tokens unique per agent run */
        uint64_t next_session;
        AgentStats stats;
        ProcFdCache fd_cache;
        uint64_t bytes_in, bytes_out;   /* maintained by the I/O loop */
        unsigned n_clients;             /* maintained by the I/O loop */
} Agent;

/* Per connection: the last snapshot sent, for delta mode. */
typedef struct AgentSession {
        uint64_t id;
        uint64_t generation;
        uint64_t synced_epoch;    /* Agent.lease_epoch at this session's last sync */
        ProcSnapshot last;
        bool have_last;
} AgentSession;

int agent_init(Agent *a, const AgentOps *ops, void *userdata, const char *proc_root, uint64_t now_usec);
/* Restores everything, frees.  Safe on a zeroed Agent. */
void agent_done(Agent *a);

void agent_session_init(Agent *a, AgentSession *s);
void agent_session_done(AgentSession *s);

/* Handle one request line (without its newline) and append exactly one reply
 * line, newline included, to out (a `sync` reply is preceded by the 0xFF
 * delimiter).  Never fails: every problem becomes an error reply.  Returns
 * true if the request was well formed (and so renewed the lease). */
bool agent_handle_line(Agent *a, AgentSession *s, const char *line, size_t len, uint64_t now_usec,
                       JsonWriter *out);

/* An error reply without an id, for lines the I/O loop rejects itself
 * (too long). */
void agent_error_reply(JsonWriter *out, const char *cls, const char *desc);

/* Restore everything if the lease has run out.  Returns the number of held
 * items undone (0 if the lease is still valid or nothing is held). */
size_t agent_tick(Agent *a, uint64_t now_usec);

/* When agent_tick() must next run, or UINT64_MAX if nothing is held. */
uint64_t agent_deadline(const Agent *a);

/* Undo every stop, nice and policy change.  Returns how many were undone. */
size_t agent_restore_all(Agent *a, const char *why);

uint64_t now_monotonic_usec(void);
