/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What runs inside a guest, as every guest view reports it (the agent, the
 * introspection view): one GuestTask per thread, one GuestCpu per guest
 * CPU.  Plain data, shared by src/view/ (the views' interface and the agent
 * client), src/vmi/ and the policy loop, so that none of them has to include
 * another's headers for the types they exchange. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define GUEST_COMM_MAX 16        /* as the kernel's TASK_COMM_LEN */
#define GUEST_CMDLINE_MAX 256

typedef struct GuestTask {
        pid_t pid;                        /* thread group */
        pid_t tid;
        char comm[GUEST_COMM_MAX];        /* truncated to 15 bytes, NUL-terminated */
        char cmdline[GUEST_CMDLINE_MAX];  /* arguments joined by spaces, truncated */
        char state;                       /* R, S, D, T, t, Z, X, I, ... as in /proc */
        int cpu;                          /* CPU it last ran on */
        uint64_t cpu_ns;                  /* utime + stime */
        int nice;
        int policy;                       /* SCHED_OTHER, SCHED_FIFO, ...; -1 if unknown */
        int rt_priority;
        uint64_t start_time_ns;           /* since guest boot */
        bool is_agent;                    /* the agent itself (one synthetic entry, state 'S') */
        bool is_kthread;
} GuestTask;

/* What one guest CPU runs now (views that can see run queues). */
typedef struct GuestCpu {
        int cpu;                 /* guest CPU number */
        int vcpu;                /* QEMU vCPU index running it, -1 if unknown */
        pid_t pid, tid;          /* the running thread (0, 0: the idle task) */
        char comm[GUEST_COMM_MAX];
        bool idle;
        unsigned nr_running;     /* runnable threads on this CPU's run queue */
} GuestCpu;
