/* SPDX-License-Identifier: GPL-2.0-or-later */
/* decide()'s host SCHED_IDLE for the vCPUs of a domain that only idle-class
 * work keeps busy (DomainPlan.vcpu_idle), on synthetic snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <string.h>

#include "daemon/config.h"
#include "policy/policy.h"

#define TICK_NS 100000000ull

typedef struct World {
        Rules rules;
        PolicyState state;
        Plan plan;
        Snapshot snap;
        uint64_t t;
} World;

static void world_init(World *w, const char *conf) {
        char err[256];
        memset(w, 0, sizeof *w);
        if (config_parse_string(conf, "test.conf", &w->rules, err, sizeof err) < 0)
                fail_msg("%s", err);
        assert_int_equal(policy_state_init(&w->state, &w->rules), 0);
        assert_int_equal(plan_init(&w->plan, &w->rules), 0);
        w->snap.tasks = calloc(w->rules.n_tasks, sizeof *w->snap.tasks);
        w->snap.domains = calloc(w->rules.n_domains, sizeof *w->snap.domains);
        for (size_t i = 0; i < w->rules.n_domains; i++)
                w->snap.domains[i] = (DomainObs) { .present = true, .view_ok = true, .can_stop = true, .fresh = true };
        for (size_t i = 0; i < w->rules.n_tasks; i++)
                w->snap.tasks[i] = (TaskObs) { .present = true, .n_pids = 1, .pids = { (pid_t) (100 + i) } };
}

static void world_done(World *w) {
        free(w->snap.tasks);
        free(w->snap.domains);
        plan_done(&w->plan);
        policy_state_done(&w->state);
        rules_done(&w->rules);
}

/* One tick in which each task used frac[i] of a CPU (runnable when > 0 and
 * not stopped by the previous plan). */
static void step(World *w, const double *frac) {
        w->t += TICK_NS;
        w->snap.t_ns = w->t;
        for (size_t i = 0; i < w->rules.n_domains; i++)
                w->snap.domains[i].t_ns = w->t;
        for (size_t i = 0; i < w->rules.n_tasks; i++) {
                TaskObs *o = &w->snap.tasks[i];
                bool stopped = w->plan.tasks[i].stop;
                double f = stopped ? 0 : frac[i];
                o->cpu_ns += (uint64_t) (f * TICK_NS);
                o->stopped = stopped;
                o->runnable = !stopped && frac[i] > 0;
        }
        decide(&w->rules, &w->state, &w->snap, &w->plan);
}

static void steps(World *w, const double *frac, int n) {
        for (int i = 0; i < n; i++)
                step(w, frac);
}

/* Domain a: fg (normal); domain b: bg (idle class) and other (normal). */
static const char two_vms[] = "[domain a]\n[domain b]\n"
                              "[task fg]\ndomain = a\ncomm = fg\n"
                              "[task bg]\ndomain = b\ncomm = bg\nclass = idle\n"
                              "[task other]\ndomain = b\ncomm = other\n";

static void test_only_idle_work(void **state) {
        (void) state;
        World w;
        world_init(&w, two_vms);
        /* Only bg runs: b's vCPUs at SCHED_IDLE, a's not. */
        double only_bg[] = { 0, 1.0, 0 };
        steps(&w, only_bg, 3);
        assert_false(w.plan.tasks[1].stop);
        assert_true(w.plan.domains[1].vcpu_idle);
        assert_false(w.plan.domains[0].vcpu_idle);
        assert_int_equal(w.plan.domains[1].weight, 1);

        /* Another VM's task is busy: bg is planned stopped, and b's vCPUs
         * are normal again in the same tick (its agent needs the CPU to
         * carry out the stop), as its weight leaves 1. */
        double fg_wakes[] = { 1.0, 1.0, 0 };
        step(&w, fg_wakes);
        assert_true(w.plan.tasks[1].stop);
        assert_false(w.plan.domains[1].vcpu_idle);
        assert_true(w.plan.domains[1].weight > 1);
        steps(&w, fg_wakes, 4);
        assert_false(w.plan.domains[1].vcpu_idle);

        /* fg sleeps again: bg resumed (after fg's hysteresis), b idle again. */
        steps(&w, only_bg, 6);
        assert_false(w.plan.tasks[1].stop);
        assert_true(w.plan.domains[1].vcpu_idle);
        world_done(&w);
}

static void test_other_work_in_the_vm(void **state) {
        (void) state;
        World w;
        world_init(&w, two_vms);
        double only_bg[] = { 0, 1.0, 0 };
        steps(&w, only_bg, 3);
        assert_true(w.plan.domains[1].vcpu_idle);
        /* A normal task of the same VM wakes: undone at once (bg is stopped
         * too, since other watched work is busy). */
        double other[] = { 0, 1.0, 0.5 };
        step(&w, other);
        assert_false(w.plan.domains[1].vcpu_idle);
        steps(&w, other, 5);
        assert_false(w.plan.domains[1].vcpu_idle);
        /* other goes to sleep: idle only after its hysteresis, and only once
         * bg runs again. */
        step(&w, only_bg);
        assert_false(w.plan.domains[1].vcpu_idle);
        steps(&w, only_bg, 6);
        assert_true(w.plan.domains[1].vcpu_idle);
        world_done(&w);
}

static void test_nothing_busy(void **state) {
        (void) state;
        World w;
        world_init(&w, two_vms);
        /* bg present but asleep: the VM is not busy, nothing to gain. */
        double none[] = { 0, 0, 0 };
        steps(&w, none, 5);
        assert_false(w.plan.domains[1].vcpu_idle);
        /* bg absent: never. */
        w.snap.tasks[1].present = false;
        double only_bg[] = { 0, 1.0, 0 };
        steps(&w, only_bg, 5);
        assert_false(w.plan.domains[1].vcpu_idle);
        /* The domain gone: never. */
        w.snap.tasks[1].present = true;
        w.snap.domains[1].present = false;
        steps(&w, only_bg, 5);
        assert_false(w.plan.domains[1].vcpu_idle);
        world_done(&w);
}

/* A view that cannot stop: bg keeps running beside fg, and SCHED_IDLE is
 * what holds it back. */
static void test_view_cannot_stop(void **state) {
        (void) state;
        World w;
        world_init(&w, "[domain a]\n[domain b]\n"
                       "[task fg]\ndomain = a\ncomm = fg\n"
                       "[task bg]\ndomain = b\ncomm = bg\nclass = idle\n");
        w.snap.domains[1].can_stop = false;
        double both[] = { 1.0, 1.0 };
        steps(&w, both, 4);
        assert_false(w.plan.tasks[1].stop);
        assert_true(w.plan.domains[1].vcpu_idle);
        assert_false(w.plan.domains[0].vcpu_idle);
        world_done(&w);
}

/* A higher class wins: RT wanted for the domain, no SCHED_IDLE. */
static void test_rt_wins(void **state) {
        (void) state;
        World w;
        world_init(&w, "[domain a]\n[domain b]\nrt = fifo:10\n"
                       "[task fg]\ndomain = a\ncomm = fg\n"
                       "[task bg]\ndomain = b\ncomm = bg\nclass = idle\n");
        double only_bg[] = { 0, 1.0 };
        steps(&w, only_bg, 4);
        assert_true(w.plan.domains[1].rt);
        assert_false(w.plan.domains[1].vcpu_idle);
        world_done(&w);
}

/* A resume of the idle-class task is carried out by the VM itself (a guest
 * kernel call, QMP, its agent): its domain keeps a normal weight until the
 * task is seen running again, and only then drops to 1.  (At weight 1 on a
 * loaded host, QEMU's main loop starved and the resume timed out for
 * minutes.) */
static void test_resume_not_at_weight_1(void **state) {
        (void) state;
        World w;
        world_init(&w, two_vms);
        double fg_wakes[] = { 1.0, 1.0, 0 };
        steps(&w, fg_wakes, 5);
        assert_true(w.plan.tasks[1].stop);
        /* fg sleeps: after its hysteresis bg is planned to run again, in a
         * tick whose snapshot still shows it stopped. */
        double only_bg[] = { 0, 1.0, 0 };
        int n = 0;
        while (w.plan.tasks[1].stop && n++ < 50)
                step(&w, only_bg);
        assert_false(w.plan.tasks[1].stop);
        assert_true(w.snap.tasks[1].stopped);
        assert_true(w.plan.domains[1].weight > 1);
        /* The resume did not take yet (the snapshot still says T): still
         * not 1. */
        w.t += TICK_NS;
        w.snap.t_ns = w.t;
        for (size_t i = 0; i < w.rules.n_domains; i++)
                w.snap.domains[i].t_ns = w.t;
        w.snap.tasks[1].stopped = true;
        decide(&w.rules, &w.state, &w.snap, &w.plan);
        assert_false(w.plan.tasks[1].stop);
        assert_true(w.plan.domains[1].weight > 1);
        /* Seen running: weight 1. */
        steps(&w, only_bg, 2);
        assert_false(w.snap.tasks[1].stopped);
        assert_int_equal(w.plan.domains[1].weight, 1);
        world_done(&w);
}

static void test_switched_off(void **state) {
        (void) state;
        World w;
        world_init(&w, "[daemon]\nvcpu_idle = no\n"
                       "[domain a]\n[domain b]\n"
                       "[task fg]\ndomain = a\ncomm = fg\n"
                       "[task bg]\ndomain = b\ncomm = bg\nclass = idle\n");
        assert_true(w.rules.vcpu_idle_off);
        double only_bg[] = { 0, 1.0 };
        steps(&w, only_bg, 4);
        assert_false(w.plan.domains[1].vcpu_idle);
        assert_int_equal(w.plan.domains[1].weight, 1); /* the weight still follows */
        world_done(&w);

        char err[256];
        Rules r = {};
        assert_true(config_parse_string("[daemon]\nvcpu_idle = sometimes\n", "x.conf", &r, err, sizeof err) < 0);
        assert_non_null(strstr(err, "vcpu_idle = sometimes: expected yes or no"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_only_idle_work), cmocka_unit_test(test_other_work_in_the_vm),
                cmocka_unit_test(test_nothing_busy),   cmocka_unit_test(test_view_cannot_stop),
                cmocka_unit_test(test_rt_wins),        cmocka_unit_test(test_switched_off),
                cmocka_unit_test(test_resume_not_at_weight_1),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
