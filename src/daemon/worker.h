/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* One thread per domain talks to its guest view, so that a slow guest (a
 * starved VM whose agent answers late, a TCG guest) never stalls the loop.
 *
 * Each tick the loop collects the worker's last result (the task list and
 * whether its queued actions worked) and hands it the next round: the
 * actions this tick decided (stop, cont, nice), then a fresh task list.
 * A worker still busy with the previous round is simply skipped: the loop
 * goes on with what it knows, and decides again next tick.
 *
 * The worker owns the view: it opens it (retrying, with an increasing
 * delay), and on a failure releases it (resumes what it stopped, restores
 * nice) and closes it. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "view/view.h"
#include "model/domain.h"

typedef enum WorkerOpKind { WORKER_OP_STOP, WORKER_OP_CONT, WORKER_OP_NICE, WORKER_OP_SCHED } WorkerOpKind;

typedef struct WorkerOp {
        WorkerOpKind kind;
        pid_t pid;
        int nice;                 /* NICE: the value; SCHED: the policy (priority 0) */
        int result;               /* filled by the worker */
} WorkerOp;

#define WORKER_MAX_OPS 64

typedef struct WorkerResult {
        bool valid;               /* a round finished since the last collect */
        bool view_ok;             /* a view is open */
        bool can_stop;
        bool has_lease;
        char view_name[16];
        char control_path[64];    /* how this view stops and resumes ("agent", "vmi stop + agent cont", "none") */
        char error[160];          /* last failure, "" if none */
        uint64_t retry_in_ms;     /* no view: the next open is tried in this many ms */
        GuestTask *tasks;         /* owned by the caller after collect */
        uint64_t t_ns;            /* CLOCK_MONOTONIC when the list was read */
        uint64_t guest_cpu_ns;    /* sum of the tasks' CPU */
        uint64_t vcpu_ns;         /* host CPU of the domain's vCPU threads, read right after; 0 = unknown */
        size_t n_tasks;
        int tasks_result;
        WorkerOp ops[WORKER_MAX_OPS];
        size_t n_ops;
} WorkerResult;

typedef struct Worker Worker;

/* A view that failed is opened again after a delay: 1 s, doubled after
 * each failure up to 60 s, back to 1 s after a good round.  Pure: the delay
 * after one of prev_ns (0: the first failure). */
#define WORKER_RETRY_MIN_NS (1000ull * 1000 * 1000)
#define WORKER_RETRY_MAX_NS (60ull * 1000 * 1000 * 1000)
uint64_t worker_retry_delay_ns(uint64_t prev_ns);

/* view: "agent", "vmi" or "auto" (agent when the domain has a channel, else
 * vmi; falls back to vmi when the agent cannot be opened). */
int worker_start(const Domain *d, const char *view, Worker **ret);
/* Stops the thread (waits for the round in flight), then runs `final` ops
 * (resume what is stopped) and the view's release on the calling thread.
 * Returns the first failure of those. */
int worker_stop(Worker *w, const WorkerOp *final, size_t n_final);

/* Non-blocking: if the worker is idle, move its result into *ret (caller
 * frees ret->tasks) and return true; false if it is still busy. */
bool worker_collect(Worker *w, WorkerResult *ret);
/* Queue a round (ops then a task list).  Only call after a successful
 * collect (the worker is idle).  keepalive: renew the lease too. */
void worker_submit(Worker *w, const WorkerOp *ops, size_t n_ops, bool keepalive);
