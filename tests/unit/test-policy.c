/* SPDX-License-Identifier: GPL-2.0-or-later */
/* decide() on synthetic snapshots: the policies of paper 002 without VMs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <sched.h>
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
        int r = config_parse_string(conf, "test.conf", &w->rules, err, sizeof err);
        if (r < 0)
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

/* One tick in which each task used frac[i] of a CPU (and is runnable when
 * frac > 0 and not stopped by the previous plan). */
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

static const char web_db_backup[] = "[domain web]\n[domain db]\n"
                                    "[task db]\ndomain = db\ncomm = postgres\npriority = 80\n"
                                    "[task web]\ndomain = web\ncomm = lighttpd\npriority = 60\n"
                                    "[task backup]\ndomain = db\ncomm = tar\nclass = idle\n";

static void test_idle_class(void **state) {
        (void) state;
        World w;
        world_init(&w, web_db_backup);
        double busy[] = { 0.5, 0.5, 1.0 };
        for (int i = 0; i < 3; i++)
                step(&w, busy);
        assert_true(w.plan.tasks[2].stop);      /* backup stopped while db and web run */
        assert_false(w.plan.tasks[0].stop);
        assert_int_equal(w.plan.tasks[2].nice, 19);

        /* Everyone else goes quiet: backup resumes only after the hysteresis. */
        double quiet[] = { 0, 0, 1.0 };
        step(&w, quiet);
        assert_true(w.plan.tasks[2].stop);
        step(&w, quiet);
        step(&w, quiet);
        assert_false(w.plan.tasks[2].stop);
        /* db's domain keeps its weight for the tick of the resume (the VM
         * carries it out), then, with only background work running, drops
         * to weight 1. */
        assert_true(w.plan.domains[1].weight > 1);
        step(&w, quiet);
        assert_false(w.plan.tasks[2].stop);
        assert_int_equal(w.plan.domains[1].weight, 1);
        assert_true(w.plan.tasks[2].idle_policy);
        assert_false(w.plan.tasks[0].idle_policy);

        /* web wakes: backup stops at once. */
        double web_wakes[] = { 0, 0.8, 1.0 };
        step(&w, web_wakes);
        assert_true(w.plan.tasks[2].stop);
        world_done(&w);
}

static void test_idle_class_needs_control(void **state) {
        (void) state;
        World w;
        world_init(&w, web_db_backup);
        w.snap.domains[1].can_stop = false;  /* e.g. introspection without a way to resume */
        double busy[] = { 0.5, 0.5, 1.0 };
        step(&w, busy);
        step(&w, busy);
        assert_false(w.plan.tasks[2].stop);
        assert_false(w.plan.tasks[2].control);
        assert_int_equal(w.plan.tasks[2].nice, 19); /* nice still applies */
        world_done(&w);
}

static void test_priority_weights(void **state) {
        (void) state;
        World w;
        world_init(&w, web_db_backup);
        double all[] = { 0.5, 0.5, 0 };
        step(&w, all);
        step(&w, all);
        assert_int_equal(w.plan.domains[1].weight, policy_priority_to_weight(80));  /* db */
        assert_int_equal(w.plan.domains[0].weight, policy_priority_to_weight(60));  /* web */
        assert_true(w.plan.domains[1].weight > w.plan.domains[0].weight);
        assert_int_equal(w.plan.tasks[0].nice, policy_priority_to_nice(80));
        assert_true(w.plan.tasks[0].nice < w.plan.tasks[1].nice);
        world_done(&w);
}

static void test_throttle(void **state) {
        (void) state;
        World w;
        world_init(&w, "[domain a]\n[domain b]\n"
                       "[task hi]\ndomain = a\ncomm = hi\npriority = 80\n"
                       "[task lo]\ndomain = b\ncomm = lo\npriority = 20\n");
        /* hi is runnable but gets 10 %, lo takes 90 %: after two starved
         * ticks (the first tick only takes the baseline) lo is stopped for
         * throttle_ticks. */
        double f[] = { 0.1, 0.9 };
        step(&w, f);
        step(&w, f);
        assert_false(w.plan.tasks[1].stop);
        step(&w, f);
        assert_true(w.plan.tasks[1].stop);
        assert_string_equal(w.plan.tasks[1].why, "throttled: a higher-priority task was starved");
        double hi_alone[] = { 1.0, 0.9 };
        step(&w, hi_alone);
        step(&w, hi_alone);
        step(&w, hi_alone);
        assert_false(w.plan.tasks[1].stop);   /* released after the throttle */
        world_done(&w);
}

static void test_share_feedback(void **state) {
        (void) state;
        World w;
        world_init(&w, "[domain a]\n[domain b]\n[domain c]\n"
                       "[task x]\ndomain = a\ncomm = x\nshare = 50\n"
                       "[task y]\ndomain = b\ncomm = y\nshare = 30%\n"
                       "[task z]\ndomain = c\ncomm = z\nshare = 20\n");
        /* A toy CPU: each task gets a share proportional to its domain's weight. */
        double f[3] = { 0.33, 0.33, 0.33 };
        for (int tick = 0; tick < 200; tick++) {
                step(&w, f);
                double total = 0;
                for (int i = 0; i < 3; i++)
                        total += w.plan.domains[i].weight;
                for (int i = 0; i < 3; i++)
                        f[i] = w.plan.domains[i].weight / total;
        }
        assert_true(f[0] > 0.45 && f[0] < 0.55);
        assert_true(f[1] > 0.25 && f[1] < 0.35);
        assert_true(f[2] > 0.15 && f[2] < 0.25);
        world_done(&w);
}

static void test_burst_and_rt(void **state) {
        (void) state;
        World w;
        world_init(&w, "[domain a]\nrt = fifo:20\nrt_when = probe\n[domain b]\n"
                       "[task probe]\ndomain = a\ncomm = probe\npriority = 50\nburst = yes\n"
                       "[task other]\ndomain = a\ncomm = other\n"
                       "[task bg]\ndomain = b\ncomm = bg\n");
        double idle[] = { 0, 0.3, 0.9 };
        step(&w, idle);
        step(&w, idle);
        step(&w, idle);
        step(&w, idle);
        assert_false(w.plan.domains[0].rt);  /* probe sleeps: no RT */
        assert_int_equal(w.plan.tasks[0].nice, -20);
        assert_int_equal(w.plan.tasks[1].nice, 19);
        assert_true(w.plan.domains[0].weight >= 4 * w.plan.domains[1].weight);
        double wake[] = { 0.2, 0.3, 0.9 };
        step(&w, wake);
        assert_true(w.plan.domains[0].rt);   /* boosted while probe is busy */
        world_done(&w);
}

static void test_stale_domain_keeps_state(void **state) {
        (void) state;
        World w;
        world_init(&w, web_db_backup);
        double busy[] = { 0.9, 0.5, 1.0 };
        step(&w, busy);
        step(&w, busy);
        assert_true(w.plan.tasks[2].stop);
        /* db's guest does not answer this tick: no news is not "idle". */
        w.snap.domains[1].fresh = false;
        double none[] = { 0, 0.5, 0 };
        for (int i = 0; i < 5; i++)
                step(&w, none);
        assert_true(w.state.tasks[0].busy);
        assert_true(w.plan.tasks[2].stop);
        world_done(&w);
}

static void test_mappings(void **state) {
        (void) state;
        assert_int_equal(policy_priority_to_weight(50), 100);
        assert_int_equal(policy_priority_to_weight(60), 200);
        assert_int_equal(policy_priority_to_weight(70), 400);  /* 20 steps: paper 002's 4:1 */
        assert_int_equal(policy_priority_to_weight(40), 50);
        assert_int_equal(policy_priority_to_weight(0), 3);
        assert_int_equal(policy_priority_to_weight(99), 2986);
        assert_int_equal(policy_priority_to_nice(50), 0);
        assert_int_equal(policy_priority_to_nice(99), -20);
        assert_int_equal(policy_priority_to_nice(0), 19);
        for (int p = 1; p <= 99; p++) {
                assert_true(policy_priority_to_weight(p) >= policy_priority_to_weight(p - 1));
                assert_true(policy_priority_to_nice(p) <= policy_priority_to_nice(p - 1));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_idle_class),      cmocka_unit_test(test_idle_class_needs_control),
                cmocka_unit_test(test_priority_weights), cmocka_unit_test(test_throttle),
                cmocka_unit_test(test_share_feedback),  cmocka_unit_test(test_burst_and_rt),
                cmocka_unit_test(test_stale_domain_keeps_state), cmocka_unit_test(test_mappings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
