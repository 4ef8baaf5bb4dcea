/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's pure bookkeeping (src/daemon/match.c) on synthetic task
 * lists: which processes a rule names, what is still to do, and what
 * becomes of a journaled stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "basic/macros.h"
#include "daemon/match.h"

#define MS 1000000ull

static GuestTask task(pid_t pid, pid_t tid, const char *comm, const char *cmdline, char state, uint64_t cpu_ns) {
        GuestTask g = { .pid = pid, .tid = tid, .state = state, .cpu_ns = cpu_ns, .nice = 0,
                        .start_time_ns = (uint64_t) pid * 1000 * MS };
        snprintf(g.comm, sizeof g.comm, "%s", comm);
        snprintf(g.cmdline, sizeof g.cmdline, "%s", cmdline);
        return g;
}

static void test_rule_matches(void **st) {
        (void) st;
        GuestTask g = task(42, 42, "postgres", "postgres -D /var/lib/pg", 'S', 0);
        TaskRule comm = { .match = TASK_MATCH_COMM, .pattern = "postgres" };
        TaskRule comm_prefix = { .match = TASK_MATCH_COMM, .pattern = "postgre" };
        TaskRule glob = { .match = TASK_MATCH_CMDLINE, .pattern = "postgres *" };
        TaskRule glob_no = { .match = TASK_MATCH_CMDLINE, .pattern = "mysql*" };
        TaskRule pid = { .match = TASK_MATCH_PID, .pattern = "42" };
        TaskRule pid_no = { .match = TASK_MATCH_PID, .pattern = "4" };
        assert_true(task_rule_matches(&comm, &g));
        assert_false(task_rule_matches(&comm_prefix, &g));   /* comm is exact */
        assert_true(task_rule_matches(&glob, &g));
        assert_false(task_rule_matches(&glob_no, &g));
        assert_true(task_rule_matches(&pid, &g));
        assert_false(task_rule_matches(&pid_no, &g));
}

/* Leaders only (not the agent, not kthreads), every thread's CPU summed,
 * runnable if any thread runs. */
static void test_match_aggregates_threads(void **st) {
        (void) st;
        GuestTask l[] = {
                task(10, 10, "db", "db", 'S', 100),
                task(10, 11, "db-worker", "db", 'R', 50),   /* a thread of 10: counted, not matched itself */
                task(12, 13, "db", "db", 'S', 7),          /* a thread named db of another process: not a leader */
                task(12, 12, "other", "other", 'S', 1000),
                task(20, 20, "db", "db", 'S', 5),
                task(30, 30, "db", "db", 'S', 0),
                task(40, 40, "db", "db", 'S', 0),
        };
        l[5].is_agent = true;
        l[6].is_kthread = true;
        TaskRule tr = { .match = TASK_MATCH_COMM, .pattern = "db" };
        TaskObs o;
        TaskRt rt = {};
        match_task(&tr, l, ELEMENTSOF(l), &o, &rt);
        assert_true(o.present);
        assert_int_equal(o.n_pids, 2);
        assert_int_equal(o.pids[0], 10);
        assert_int_equal(o.pids[1], 20);
        assert_int_equal(o.cpu_ns, 155);
        assert_true(o.runnable);
        assert_false(o.stopped);
        assert_int_equal(rt.n_pids, 2);
        assert_int_equal(rt.pids[1], 20);
        assert_int_equal(rt.pid_start[0], 10 * 1000 * MS);
        assert_int_equal(rt.pid_start[1], 20 * 1000 * MS);

        /* nothing matches: absent, and the old pids are forgotten */
        TaskRule none = { .match = TASK_MATCH_COMM, .pattern = "nope" };
        match_task(&none, l, ELEMENTSOF(l), &o, &rt);
        assert_false(o.present);
        assert_int_equal(o.cpu_ns, 0);
        assert_int_equal(rt.n_pids, 0);
}

/* At most POLICY_MAX_PIDS processes, the first in list order. */
static void test_match_bounded(void **st) {
        (void) st;
        GuestTask l[POLICY_MAX_PIDS + 4];
        for (size_t k = 0; k < ELEMENTSOF(l); k++)
                l[k] = task((pid_t) (100 + k), (pid_t) (100 + k), "w", "w", k == 0 ? 'T' : 'S', 1);
        TaskRule tr = { .match = TASK_MATCH_COMM, .pattern = "w" };
        TaskObs o;
        TaskRt rt = {};
        match_task(&tr, l, ELEMENTSOF(l), &o, &rt);
        assert_int_equal(o.n_pids, POLICY_MAX_PIDS);
        assert_int_equal(o.pids[POLICY_MAX_PIDS - 1], 100 + POLICY_MAX_PIDS - 1);
        assert_int_equal(o.cpu_ns, POLICY_MAX_PIDS);
        assert_false(o.stopped);   /* the state of the last one matched */
}

static TaskRt held(const pid_t *pids, size_t n) {
        TaskRt rt = {};
        memcpy(rt.pids, pids, n * sizeof *pids);
        rt.n_pids = n;
        return rt;
}

/* A stop plan stops what is not stopped yet, once; a run plan resumes
 * what we stopped. */
static void test_actions_stop_once(void **st) {
        (void) st;
        pid_t pids[] = { 5, 6, 7 };
        TaskRt rt = held(pids, 3);
        TaskPlan stop = { .stop = true, .control = true };
        TaskActions a;
        task_actions(&stop, &rt, false, false, &a);
        assert_int_equal(a.n_stop, 3);
        assert_false(a.resume);
        assert_false(a.renice);
        task_rt_stopped(&rt, 5);
        task_rt_stopped(&rt, 7);
        task_actions(&stop, &rt, false, false, &a);
        assert_int_equal(a.n_stop, 1);
        assert_int_equal(rt.pids[a.stop[0]], 6);
        task_rt_stopped(&rt, 6);
        task_actions(&stop, &rt, false, false, &a);
        assert_int_equal(a.n_stop, 0);

        /* not ours to control: nothing stopped, what we hold is resumed */
        TaskPlan nocontrol = { .stop = true, .control = false };
        task_actions(&nocontrol, &rt, false, false, &a);
        assert_int_equal(a.n_stop, 0);
        assert_true(a.resume);
        TaskPlan run = {};
        task_actions(&run, &rt, false, false, &a);
        assert_true(a.resume);
        rt.n_stopped = 0;
        task_actions(&run, &rt, false, false, &a);
        assert_false(a.resume);

        /* a pid listed twice is stopped once */
        pid_t dup[] = { 9, 9 };
        TaskRt rt2 = held(dup, 2);
        task_actions(&stop, &rt2, false, false, &a);
        assert_int_equal(a.n_stop, 1);
}

static void test_actions_stopped_is_bounded(void **st) {
        (void) st;
        TaskRt rt = {};
        for (pid_t p = 0; p < POLICY_MAX_PIDS + 3; p++)
                task_rt_stopped(&rt, 100 + p);
        assert_int_equal(rt.n_stopped, POLICY_MAX_PIDS);
}

/* SCHED_IDLE once per process, only for the idle class, never where the
 * view cannot; bounded by the room left. */
static void test_actions_idle_once(void **st) {
        (void) st;
        pid_t pids[] = { 5, 6 };
        TaskRt rt = held(pids, 2);
        TaskPlan idle = { .idle_policy = true, .set_nice = true, .nice = 19 };
        TaskActions a;
        task_actions(&idle, &rt, true, false, &a);
        assert_int_equal(a.n_idle, 0);   /* no_sched */
        task_actions(&idle, &rt, false, false, &a);
        assert_int_equal(a.n_idle, 2);
        rt.idle_pids[rt.n_idle_pids++] = 5;
        task_actions(&idle, &rt, false, false, &a);
        assert_int_equal(a.n_idle, 1);
        assert_int_equal(rt.pids[a.idle[0]], 6);
        TaskPlan normal = { .set_nice = true, .nice = 0 };
        task_actions(&normal, &rt, false, false, &a);
        assert_int_equal(a.n_idle, 0);

        rt.n_idle_pids = POLICY_MAX_PIDS - 1;   /* room for one */
        for (size_t k = 0; k < rt.n_idle_pids; k++)
                rt.idle_pids[k] = 1000 + (pid_t) k;
        task_actions(&idle, &rt, false, false, &a);
        assert_int_equal(a.n_idle, 1);
}

/* A renice only when the value or the processes change. */
static void test_actions_renice_on_change(void **st) {
        (void) st;
        pid_t pids[] = { 5, 6 };
        TaskRt rt = held(pids, 2);
        TaskPlan p = { .set_nice = true, .nice = -5 };
        TaskActions a;
        task_actions(&p, &rt, false, true, &a);
        assert_false(a.renice);          /* no_nice */
        task_actions(&p, &rt, false, false, &a);
        assert_true(a.renice);
        task_rt_reniced(&rt, -5);
        assert_true(rt.nice_set);
        task_actions(&p, &rt, false, false, &a);
        assert_false(a.renice);
        p.nice = 3;
        task_actions(&p, &rt, false, false, &a);
        assert_true(a.renice);
        p.nice = -5;
        rt.pids[1] = 8;                  /* a new process */
        task_actions(&p, &rt, false, false, &a);
        assert_true(a.renice);
        task_rt_reniced(&rt, -5);
        rt.n_pids = 1;                   /* one fewer */
        task_actions(&p, &rt, false, false, &a);
        assert_true(a.renice);
        TaskPlan none = { .set_nice = false, .nice = 7 };
        task_actions(&none, &rt, false, false, &a);
        assert_false(a.renice);
}

/* A renice to the value every thread already has is no call at all (on the
 * vmi view each is a VM pause and a guest kernel call); one thread off it,
 * or another value, and the renice is made. */
static void test_actions_nice_already(void **st) {
        (void) st;
        GuestTask l[] = {
                task(10, 10, "web", "web", 'S', 1),
                task(10, 11, "web", "web", 'S', 1),
                task(20, 20, "web", "web", 'R', 1),
        };
        TaskRule tr = { .match = TASK_MATCH_COMM, .pattern = "web" };
        TaskObs o;
        TaskRt rt = {};
        TaskActions a;
        TaskPlan p = { .set_nice = true, .nice = 0 };
        match_task(&tr, l, ELEMENTSOF(l), &o, &rt);
        task_actions(&p, &rt, false, false, &a);
        assert_false(a.renice);
        assert_true(a.nice_already);
        p.nice = 19;                     /* another value: a renice */
        task_actions(&p, &rt, false, false, &a);
        assert_true(a.renice);
        assert_false(a.nice_already);
        p.nice = 0;
        l[1].nice = 5;                   /* one thread off it: a renice */
        match_task(&tr, l, ELEMENTSOF(l), &o, &rt);
        task_actions(&p, &rt, false, false, &a);
        assert_true(a.renice);
        l[1].nice = 0;
        TaskRule none = { .match = TASK_MATCH_COMM, .pattern = "nope" };
        match_task(&none, l, ELEMENTSOF(l), &o, &rt);
        assert_false(rt.nice_seen_uniform); /* nothing seen: nothing known */
}

/* No weight change while the group is held at cpu.idle 1 (the kernel
 * refuses it: one refusal and warning per tick before) or fixed by the
 * rule; otherwise when planned and held differ. */
static void test_domain_weight_due(void **st) {
        (void) st;
        assert_true(domain_weight_due(200, 100, false, false));
        assert_false(domain_weight_due(100, 100, false, false));
        assert_false(domain_weight_due(200, 100, true, false));
        assert_false(domain_weight_due(200, 100, false, true));
}

static void test_ops_have(void **st) {
        (void) st;
        WorkerOp ops[] = { { .kind = WORKER_OP_STOP, .pid = 5 }, { .kind = WORKER_OP_CONT, .pid = 6 } };
        assert_true(ops_have(ops, 2, WORKER_OP_CONT, 6));
        assert_false(ops_have(ops, 2, WORKER_OP_CONT, 5));
        assert_false(ops_have(ops, 0, WORKER_OP_CONT, 6));
}

/* A round's stops go first, the rest keep their order: a stop must not
 * wait behind a renice through a guest kernel call (seconds in a busy
 * guest: the idle class's stop came after the foreground's renice). */
static void test_ops_stops_first(void **st) {
        (void) st;
        WorkerOp ops[] = { { .kind = WORKER_OP_NICE, .pid = 1 }, { .kind = WORKER_OP_SCHED, .pid = 2 },
                           { .kind = WORKER_OP_STOP, .pid = 3 }, { .kind = WORKER_OP_CONT, .pid = 4 },
                           { .kind = WORKER_OP_STOP, .pid = 5 }, { .kind = WORKER_OP_NICE, .pid = 6 } };
        ops_stops_first(ops, ELEMENTSOF(ops));
        WorkerOpKind kinds[] = { WORKER_OP_STOP, WORKER_OP_STOP, WORKER_OP_NICE, WORKER_OP_SCHED, WORKER_OP_CONT,
                                 WORKER_OP_NICE };
        pid_t pids[] = { 3, 5, 1, 2, 4, 6 };
        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                assert_int_equal(ops[i].kind, kinds[i]);
                assert_int_equal(ops[i].pid, pids[i]);
        }
        ops_stops_first(ops, 0);
        ops_stops_first(ops, 1);
        assert_int_equal(ops[0].pid, 3);
}

/* After a resume/renice refused with -EBUSY (no idle vCPU), the round's
 * later ones are skipped; stops never are. */
static void test_op_skip_busy(void **st) {
        (void) st;
        WorkerOp stop_busy = { .kind = WORKER_OP_STOP, .result = -EBUSY };
        WorkerOp nice_busy = { .kind = WORKER_OP_NICE, .result = -EBUSY };
        WorkerOp nice_perm = { .kind = WORKER_OP_NICE, .result = -EPERM };
        WorkerOp stop = { .kind = WORKER_OP_STOP }, cont = { .kind = WORKER_OP_CONT }, nice = { .kind = WORKER_OP_NICE };
        assert_false(op_skip_busy(NULL, 0, &nice));
        assert_false(op_skip_busy(&stop_busy, 1, &nice));   /* a stop's EBUSY is a held siglock, not a busy guest */
        assert_false(op_skip_busy(&nice_perm, 1, &nice));
        assert_true(op_skip_busy(&nice_busy, 1, &nice));
        assert_true(op_skip_busy(&nice_busy, 1, &cont));
        assert_false(op_skip_busy(&nice_busy, 1, &stop));
        WorkerOp done[] = { nice_perm, stop_busy, nice_busy };
        assert_true(op_skip_busy(done, 3, &cont));
        assert_false(op_skip_busy(done, 2, &cont));
}

/* Renices and resumes through guest kernel calls wait for an idle guest
 * (before: the first renice was tried at once in a busy guest and held the
 * VM paused for over a minute at load 30); other views never wait unless
 * a call was refused. */
static void test_kcall_deferred(void **st) {
        (void) st;
        assert_true(kcall_deferred(true, false, false));
        assert_false(kcall_deferred(true, false, true));
        assert_true(kcall_deferred(true, true, true));
        assert_false(kcall_deferred(false, false, false));
        assert_true(kcall_deferred(false, true, false));
}

/* The guest idled: its own CPU sum grew by less than 90 % of its vCPUs. */
static void test_guest_idled(void **st) {
        (void) st;
        assert_false(guest_idled(95 * MS, 100 * MS, 1));
        assert_false(guest_idled(100 * MS, 100 * MS, 1));
        assert_true(guest_idled(50 * MS, 100 * MS, 1));
        assert_true(guest_idled(0, 100 * MS, 1));
        assert_true(guest_idled(150 * MS, 100 * MS, 2));
        assert_false(guest_idled(190 * MS, 100 * MS, 2));
        assert_false(guest_idled(0, 0, 1));
        assert_false(guest_idled(0, 100 * MS, 0));
}

/* A poll that costs the guest nothing (vmi) is due every tick; an agent's
 * only on actions, no view, 1 s gone by, or a change of its vCPU use: a
 * busy domain whose vCPU stays at 100 % was asked once a second, so a
 * task that woke beside it was seen up to a second late. */
static void test_guest_poll_due(void **st) {
        (void) st;
        PollDue p = { .view_ok = true, .has_vcpus = true, .since_poll_ns = 100 * MS, .max_ns = 1000 * MS,
                      .vcpu_change = 0.0, .change = 0.15 };
        assert_false(guest_poll_due(&p));
        PollDue q = p;
        q.cheap_poll = true;
        assert_true(guest_poll_due(&q));
        q = p, q.n_pending = 1;
        assert_true(guest_poll_due(&q));
        q = p, q.view_ok = false;
        assert_true(guest_poll_due(&q));
        q = p, q.has_vcpus = false;
        assert_true(guest_poll_due(&q));
        q = p, q.since_poll_ns = 1000 * MS;
        assert_true(guest_poll_due(&q));
        q = p, q.vcpu_change = -0.2;
        assert_true(guest_poll_due(&q));
        q = p, q.vcpu_change = 0.1;
        assert_false(guest_poll_due(&q));
}

/* A journaled stop no task holds: resumed again while the list shows it
 * stopped, dropped once it runs, is gone, is another process with its pid,
 * or its QEMU restarted. */
static void test_stop_entry_fate(void **st) {
        (void) st;
        TaskRule trs[] = { { .domain = 0 }, { .domain = 1 } };
        Rules r = { .tasks = trs, .n_tasks = 2, .n_domains = 2 };
        TaskRt rts[2] = {};
        task_rt_stopped(&rts[1], 50);                 /* held, but in domain 1 */
        GuestTask l[] = { task(50, 50, "x", "x", 'T', 0), task(50, 51, "x", "x", 'S', 0) };
        uint64_t start = l[0].start_time_ns;
        assert_int_equal(stop_entry_fate(&r, rts, 0, true, 50, start, l, 2), STOP_ENTRY_RESUME);
        assert_int_equal(stop_entry_fate(&r, rts, 1, true, 50, start, l, 2), STOP_ENTRY_HELD);
        assert_int_equal(stop_entry_fate(&r, rts, 0, false, 50, start, l, 2), STOP_ENTRY_DONE);  /* other QEMU */
        assert_int_equal(stop_entry_fate(&r, rts, 0, true, 50, start + 5 * MS, l, 2), STOP_ENTRY_RESUME); /* within 10 ms */
        assert_int_equal(stop_entry_fate(&r, rts, 0, true, 50, start + 500 * MS, l, 2), STOP_ENTRY_DONE); /* pid reused */
        assert_int_equal(stop_entry_fate(&r, rts, 0, true, 50, 0, l, 2), STOP_ENTRY_DONE);
        assert_int_equal(stop_entry_fate(&r, rts, 0, true, 51, start, l, 2), STOP_ENTRY_DONE);  /* gone */
        l[0].state = 'S';
        assert_int_equal(stop_entry_fate(&r, rts, 0, true, 50, start, l, 2), STOP_ENTRY_DONE);  /* running */
        assert_true(tasks_hold_stopped(&r, rts, 1, 50));
        assert_false(tasks_hold_stopped(&r, rts, 0, 50));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rule_matches),        cmocka_unit_test(test_match_aggregates_threads),
                cmocka_unit_test(test_match_bounded),       cmocka_unit_test(test_actions_stop_once),
                cmocka_unit_test(test_actions_stopped_is_bounded), cmocka_unit_test(test_actions_idle_once),
                cmocka_unit_test(test_actions_renice_on_change), cmocka_unit_test(test_actions_nice_already),
                cmocka_unit_test(test_domain_weight_due), cmocka_unit_test(test_ops_have),
                cmocka_unit_test(test_stop_entry_fate),
                cmocka_unit_test(test_ops_stops_first),     cmocka_unit_test(test_op_skip_busy),
                cmocka_unit_test(test_guest_idled),         cmocka_unit_test(test_guest_poll_due),
                cmocka_unit_test(test_kcall_deferred),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
