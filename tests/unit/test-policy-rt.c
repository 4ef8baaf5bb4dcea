/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RT on demand's budget in decide(): a guest whose task claims to be busy
 * all the time gets at most rt_budget of RT in each rt_window, then normal
 * scheduling until the window ends.  Time is the snapshot's, so these run
 * without a clock. */
#include <errno.h>
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

#define MS 1000000ull

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

/* One tick of tick_ms in which task 0 claims to be busy (runnable) or not,
 * using no CPU at all: a guest can say so whatever it does. */
static void step(World *w, uint64_t tick_ms, bool busy) {
        w->t += tick_ms * MS;
        w->snap.t_ns = w->t;
        for (size_t i = 0; i < w->rules.n_domains; i++)
                w->snap.domains[i].t_ns = w->t;
        w->snap.tasks[0].runnable = busy;
        if (busy)
                w->snap.tasks[0].cpu_ns += tick_ms * MS;
        decide(&w->rules, &w->state, &w->snap, &w->plan);
}

static const char on_demand[] = "[domain a]\nrt = fifo:20\nrt_when = probe\n"
                                "[task probe]\ndomain = a\ncomm = probe\n";

/* A task busy all the time: with the defaults (half of each 1 s window),
 * RT for 5 ticks of 100 ms out of every 10, never more. */
static void test_default_budget(void **state) {
        (void) state;
        World w;
        world_init(&w, on_demand);
        assert_int_equal(policy_rt_budget_ns(&w.rules), 500 * MS);
        unsigned on_total = 0;
        for (int window = 0; window < 10; window++) {
                unsigned on = 0;
                for (int k = 0; k < 10; k++) {
                        step(&w, 100, true);
                        on += w.plan.domains[0].rt;
                        if (!w.plan.domains[0].rt)
                                assert_true(w.plan.domains[0].rt_budget_spent);
                }
                assert_int_equal(on, 5);
                on_total += on;
        }
        assert_int_equal(on_total, 50);
        world_done(&w);
}

/* Configured: 200 ms per 2 s window, ticks of 50 ms; the budget holds per
 * window whatever the phase; an idle task does not use it. */
static void test_configured_budget(void **state) {
        (void) state;
        World w;
        world_init(&w, "[daemon]\nrt_budget = 200ms\nrt_window = 2s\n"
                       "[domain a]\nrt = rr:5\nrt_when = probe\n"
                       "[task probe]\ndomain = a\ncomm = probe\n");
        assert_int_equal(w.rules.rt_budget_ms, 200);
        assert_int_equal(w.rules.rt_window_ms, 2000);
        assert_int_equal(policy_rt_budget_ns(&w.rules), 200 * MS);
        /* Idle for the first 1.5 s: no RT, no budget used. */
        for (int k = 0; k < 30; k++) {
                step(&w, 50, false);
                assert_false(w.plan.domains[0].rt);
                assert_false(w.plan.domains[0].rt_budget_spent);
        }
        /* Busy from here on: in any 2 s window, at most 200 ms of RT. */
        bool planned[400] = {};
        for (int k = 0; k < 400; k++) {
                step(&w, 50, true);
                planned[k] = w.plan.domains[0].rt;
        }
        /* The first busy ticks still have the first window's budget. */
        assert_true(planned[0]);
        for (int k = 0; k + 40 <= 400; k++) {
                unsigned on = 0;
                for (int i = k; i < k + 40; i++)
                        on += planned[i];
                /* 4 ticks per fixed window; a sliding one spans two */
                assert_true(on <= 8);
        }
        unsigned on = 0;
        for (int k = 0; k < 400; k++)
                on += planned[k];
        assert_true(on >= 36 && on <= 44); /* 10 windows of 4 ticks, give or take the ends */
        world_done(&w);
}

/* Ticks longer than the window: each new window starts with its budget. */
static void test_long_ticks(void **state) {
        (void) state;
        World w;
        world_init(&w, "[daemon]\ninterval = 2s\n" "[domain a]\nrt = fifo:20\nrt_when = probe\n"
                       "[task probe]\ndomain = a\ncomm = probe\n");
        step(&w, 2000, true);
        assert_true(w.plan.domains[0].rt);
        /* The 2 s just passed at RT were charged to windows now over. */
        step(&w, 2000, true);
        assert_true(w.plan.domains[0].rt);
        assert_true(w.state.domains[0].rt_used_ns <= 1000 * MS);
        world_done(&w);
}

/* Always-on RT (no rt_when, no rt task) is the operator's own choice and is
 * not budgeted; the host-side checks (lever_rt_check) guard it. */
static void test_always_rt_not_budgeted(void **state) {
        (void) state;
        World w;
        world_init(&w, "[domain a]\nrt = fifo:20\n[task probe]\ndomain = a\ncomm = probe\n");
        for (int k = 0; k < 30; k++) {
                step(&w, 100, true);
                assert_true(w.plan.domains[0].rt);
        }
        world_done(&w);
}

static void test_config_keys(void **state) {
        (void) state;
        Rules r;
        char err[256];
        assert_int_equal(config_parse_string("[daemon]\nrt_budget = 2s\nrt_window = 1s\n[domain a]\n", "t.conf", &r, err,
                                             sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "rt_budget"));
        /* a budget as long as its window is no budget at all */
        assert_int_equal(config_parse_string("[daemon]\nrt_budget = 1s\nrt_window = 1s\n[domain a]\n", "t.conf", &r, err,
                                             sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "not below rt_window"));
        assert_int_equal(config_parse_string("[daemon]\nrt_window = 5ms\n[domain a]\n", "t.conf", &r, err, sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "t.conf:2: rt_window = 5ms"));
        assert_int_equal(config_parse_string("[domain a]\nrt = fifo:10\nrt_force = maybe\n", "t.conf", &r, err, sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "t.conf:3: rt_force = maybe"));
        assert_int_equal(config_parse_string("[domain a]\nrt = fifo:10\nrt_force = yes\n[domain b]\n", "t.conf", &r, err,
                                             sizeof err),
                         0);
        assert_true(r.domains[0].rt_force);
        assert_false(r.domains[1].rt_force);
        assert_int_equal(r.rt_window_ms, 1000);
        assert_int_equal(policy_rt_budget_ns(&r), 500 * MS);
        rules_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_budget),
                cmocka_unit_test(test_configured_budget),
                cmocka_unit_test(test_long_ticks),
                cmocka_unit_test(test_always_rt_not_budgeted),
                cmocka_unit_test(test_config_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
