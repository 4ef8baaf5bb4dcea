/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The policy: decide() is a pure function of (rules, previous state,
 * snapshot) -> (plan, next state).  No I/O, no clock of its own: the
 * daemon, the tests and --dry-run run the same code on real or synthetic
 * snapshots.
 *
 * What it combines (papers 002, 003, 004):
 *   idle class     a task that runs only while every non-idle watched task
 *                  in every domain is idle; stopped otherwise (with
 *                  hysteresis).  Between ticks two more lines hold: in its
 *                  guest it is SCHED_IDLE (nice 19 where the view cannot),
 *                  and a domain where only idle-class work runs is at
 *                  weight 1 with its vCPU threads at the host's SCHED_IDLE,
 *                  so other VMs' work preempts it at once.
 *   priority       each domain's weight follows its highest-priority *busy*
 *                  task; in-guest nice follows each task's priority; a lower
 *                  task that keeps taking CPU while a higher one is runnable
 *                  and starved is throttled (stopped for a few ticks).
 *   burst boost    a bursty task's domain weight x4 and its nice -20 while
 *                  the domain's other tasks are at 19 (paper 002 §5.5).
 *   share          target CPU shares across VMs, reached by weights with
 *                  feedback from the achieved shares (EWMA).
 *   real time      a domain's vCPU threads at SCHED_FIFO, always or only
 *                  while a named task is busy (boost on demand).  On demand
 *                  is held to a budget: at most rt_budget_ms of RT in each
 *                  rt_window_ms window, then normal until the window ends,
 *                  so a guest cannot keep its vCPUs at FIFO by looking busy.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define POLICY_PRIORITY_MAX 99
#define POLICY_MAX_PIDS 16

typedef enum TaskClass {
        TASK_CLASS_NORMAL,
        TASK_CLASS_IDLE,
        TASK_CLASS_RT,
        _TASK_CLASS_MAX,
        _TASK_CLASS_INVALID = -1,
} TaskClass;

const char *task_class_to_string(TaskClass c);
TaskClass task_class_from_string(const char *s);

typedef enum TaskMatch {
        TASK_MATCH_COMM,
        TASK_MATCH_CMDLINE,   /* fnmatch() glob against the command line */
        TASK_MATCH_PID,
} TaskMatch;

typedef struct TaskRule {
        char *name;
        size_t domain;        /* index into Rules.domains */
        TaskMatch match;
        char *pattern;
        TaskClass class;
        int priority;         /* 0..99, higher wins; default 50 */
        double share_pct;     /* target share, 0 = none */
        bool burst;
        unsigned line;        /* where it was defined, for messages */
} TaskRule;

typedef struct DomainRule {
        char *name;           /* name in rules and timelines */
        char *match;          /* discovered domain name (default: name) */
        char *view;           /* "agent", "vmi", "auto" */
        char **fixed;         /* fixed levers "KEY=VALUE" applied once */
        size_t n_fixed;
        int rt_policy;        /* SCHED_FIFO/RR for the rt policy, 0 = none */
        int rt_priority;
        char *rt_threads;     /* thread classes raised ("vcpu" default) */
        long rt_on_demand;    /* task index: rt only while it is busy; -1 = always */
        bool rt_force;        /* RT even where it could starve the host (see lever_rt_check) */
        unsigned line;
} DomainRule;

typedef struct Rules {
        unsigned interval_ms;         /* default 100, 10..10000 */
        double busy_threshold;        /* CPU fraction of a tick that makes a task busy (0.05) */
        unsigned idle_hysteresis;     /* idle ticks before a busy task counts as idle (3) */
        unsigned throttle_ticks;      /* how long a throttled task stays stopped (3) */
        double starved_fraction;      /* a runnable task under this CPU fraction is starved (0.5) */
        char *timeline;               /* path of the JSON-lines timeline, NULL = none */
        unsigned rt_budget_ms;        /* RT on demand: at most this much RT ... (0: half the window) */
        unsigned rt_window_ms;        /* ... in each window of this length (0: 1000) */
        bool vcpu_idle_off;           /* [daemon] vcpu_idle = no: never SCHED_IDLE vCPUs (DomainPlan.vcpu_idle) */
        DomainRule *domains;
        size_t n_domains;
        TaskRule *tasks;
        size_t n_tasks;
} Rules;

void rules_done(Rules *r);

/* What observe() saw this tick. */
typedef struct TaskObs {
        bool present;          /* matched a guest process */
        bool runnable;         /* some thread in state R */
        bool stopped;          /* in state T (by us or anyone) */
        uint64_t cpu_ns;       /* cumulative CPU of the matched processes */
        int nice;
        pid_t pids[POLICY_MAX_PIDS];
        size_t n_pids;
} TaskObs;

typedef struct DomainObs {
        bool present;          /* discovered this tick */
        bool fresh;            /* its tasks were read this tick (else: keep what is known) */
        uint64_t t_ns;         /* when they were read */
        bool view_ok;          /* its guest view answered */
        bool can_stop;         /* the view can stop *and* resume tasks */
        uint64_t cpu_ns;       /* host CPU of its QEMU */
        /* Steal correction: a guest counts time its vCPU was not running on
         * the host as time its task ran.  The host CPU of its vCPU threads
         * over the guest's own total tells how much of it was real. */
        uint64_t guest_cpu_ns; /* sum of every guest task's CPU (the view's figures) */
        uint64_t vcpu_ns;      /* host CPU of its vCPU threads, read with them; 0 = unknown */
} DomainObs;

typedef struct Snapshot {
        uint64_t t_ns;         /* monotonic time of the observation */
        TaskObs *tasks;        /* Rules.n_tasks entries */
        DomainObs *domains;    /* Rules.n_domains entries */
} Snapshot;

/* Carried from tick to tick; owned by the caller, updated by decide(). */
typedef struct TaskState {
        bool seen;
        uint64_t last_cpu_ns;
        uint64_t last_t_ns;     /* when last_cpu_ns was read */
        double cpu_frac;        /* this tick: CPU / wall */
        double share_ewma;      /* achieved share among the share tasks, 0..1 */
        bool busy;              /* smoothed */
        unsigned idle_ticks;    /* consecutive idle ticks */
        unsigned starved_ticks; /* consecutive runnable-and-starved ticks */
        unsigned throttled;     /* ticks left stopped by the priority throttle */
        bool stopped;           /* the plan of the last tick stopped it */
} TaskState;

typedef struct DomainState {
        bool seen;
        uint64_t last_guest_cpu_ns, last_vcpu_ns;
        double steal_scale;     /* real / guest-reported CPU over the last fresh tick (1 = no steal) */
        double vcpu_frac;       /* host CPU of its vCPUs over the last fresh tick, of one CPU; <0 unknown */
        uint64_t last_fresh_t_ns;
        double share_gain;      /* feedback multiplier on the share weight */
        unsigned weight;        /* last planned weight */
        bool rt_on;
        /* RT on demand's budget: RT time planned in the current window. */
        bool rt_window_started;
        uint64_t rt_window_start_ns;
        uint64_t rt_used_ns;
} DomainState;

typedef struct PolicyState {
        bool started;
        uint64_t last_t_ns;
        uint64_t tick;
        TaskState *tasks;
        DomainState *domains;
} PolicyState;

int policy_state_init(PolicyState *s, const Rules *r);
void policy_state_done(PolicyState *s);

/* The plan: what the world should look like after this tick. */
typedef struct TaskPlan {
        bool stop;             /* stopped (true) or running (false) */
        bool control;          /* this task is ours to stop/resume (present, view can) */
        int nice;
        bool set_nice;
        bool idle_policy;      /* SCHED_IDLE inside the guest (idle class) */
        const char *why;       /* static: "idle class: db busy", ... */
} TaskPlan;

typedef struct DomainPlan {
        unsigned weight;       /* 1..10000 */
        bool rt;               /* the rt policy is on */
        bool rt_budget_spent;  /* on demand, wanted, but this window's RT budget is spent */
        /* Only idle-class work keeps this domain busy (an idle-class task
         * present, busy and not stopped; every other task of the domain
         * idle, stopped or absent; no RT wanted): its vCPU threads at the
         * host's SCHED_IDLE, so any other VM's wake-up preempts them at
         * once, without waiting for a tick. */
        bool vcpu_idle;
} DomainPlan;

typedef struct Plan {
        TaskPlan *tasks;
        DomainPlan *domains;
        double elapsed_s;      /* length of the tick observed */
} Plan;

int plan_init(Plan *p, const Rules *r);
void plan_done(Plan *p);

/* The mappings, exposed for tests and docs. */
unsigned policy_priority_to_weight(int priority);  /* 50 -> 100, +10 -> x2; 3..2986 */
int policy_priority_to_nice(int priority);          /* 99 -> -20, 50 -> 0, 0 -> 19 */

#define POLICY_RT_WINDOW_MS_DEFAULT 1000
/* RT on demand's budget per window, in ns (rt_budget_ms, or half the window). */
uint64_t policy_rt_budget_ns(const Rules *r);

void decide(const Rules *r, PolicyState *s, const Snapshot *snap, Plan *ret);
