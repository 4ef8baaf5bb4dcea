/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvsched.conf: the example parses; every kind of mistake is one line
 * naming file, line and problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <sched.h>
#include <string.h>

#include "daemon/config.h"

static void test_example(void **state) {
        (void) state;
        Rules r;
        char err[256];
        int k = config_parse_file("../../examples/web-db-backup.conf", &r, err, sizeof err);
        if (k < 0)
                fail_msg("%s", err);
        assert_int_equal(r.n_domains, 2);
        assert_int_equal(r.n_tasks, 3);
        assert_int_equal(r.interval_ms, 100);
        assert_string_equal(r.tasks[2].name, "backup");
        assert_int_equal(r.tasks[2].class, TASK_CLASS_IDLE);
        assert_string_equal(r.domains[r.tasks[2].domain].name, "db");
        assert_true(r.tasks[0].priority > r.tasks[1].priority);
        rules_done(&r);
}

static void test_full(void **state) {
        (void) state;
        Rules r;
        char err[256];
        const char *conf = "# comment\n[daemon]\ninterval = 0.05s\nbusy_threshold = 10\ntimeline = /tmp/t.jsonl\n\n"
                           "[domain rt1]\nmatch = guest-rt\nview = agent\ncpus = 1\nweight = 400\nrt = fifo:50\n"
                           "rt_threads = vcpu,io\n"
                           "[task probe]   # trailing comment\ndomain = rt1\ncmdline = /usr/bin/probe *\nclass = rt\n"
                           "priority = 90\n";
        if (config_parse_string(conf, "x.conf", &r, err, sizeof err) < 0)
                fail_msg("%s", err);
        assert_int_equal(r.interval_ms, 50);
        assert_true(r.busy_threshold > 0.099 && r.busy_threshold < 0.101);
        assert_string_equal(r.timeline, "/tmp/t.jsonl");
        assert_string_equal(r.domains[0].match, "guest-rt");
        assert_int_equal(r.domains[0].n_fixed, 2);
        assert_string_equal(r.domains[0].fixed[0], "cpus=1");
        assert_int_equal(r.domains[0].rt_policy, SCHED_FIFO);
        assert_int_equal(r.domains[0].rt_priority, 50);
        assert_int_equal(r.domains[0].rt_on_demand, 0);   /* the rt-class task */
        assert_int_equal(r.tasks[0].match, TASK_MATCH_CMDLINE);
        rules_done(&r);
}

static void expect_error(const char *conf, const char *want) {
        Rules r;
        char err[256] = "";
        assert_true(config_parse_string(conf, "bad.conf", &r, err, sizeof err) < 0);
        if (!strstr(err, want))
                fail_msg("expected '%s' in '%s'", want, err);
}

static void test_errors(void **state) {
        (void) state;
        expect_error("", "bad.conf:0: no [domain] or [task] sections");
        expect_error("[daemon]\ninterval = 5ms\n", "bad.conf:2: interval = 5ms: expected 10ms to 10s");
        expect_error("[domain a]\nfrob = 1\n", "bad.conf:2: unknown key 'frob' in [domain a]");
        expect_error("[domain a]\n[domain a]\n", "bad.conf:2: domain 'a' defined twice (first on line 1)");
        expect_error("[vm a]\n", "bad.conf:1: unknown section [vm]");
        expect_error("[domain a]\nweight = 0\n", "bad.conf:2: weight = 0: must be an integer from 1 to 10000");
        expect_error("[domain a]\n\n[task t]\ndomain = b\ncomm = x\n", "bad.conf:4: task 't': no [domain b] section");
        expect_error("[domain a]\n[task t]\ndomain = a\ncomm = x\npid = 3\n", "bad.conf:5: task 't' has both comm and pid");
        expect_error("[domain a]\n[task t]\ndomain = a\ncomm = x\nclass = idle\nclass = normal\n",
                     "bad.conf:6: 'class' given twice");
        expect_error("[domain a]\n[task t]\ndomain = a\ncomm = x\n[task u]\ndomain = a\ncomm = x\nclass = idle\n",
                     "task 'u' names the same process as task 't' (line 2) with another class");
        expect_error("[domain a]\n[task t]\ndomain = a\n", "bad.conf:2: task 't' names no process");
        expect_error("[domain a]\n[task t]\ndomain = a\ncomm = waytoolongprocessname\n", "a process name of 1 to 15");
        expect_error("[domain a]\n[task t]\ndomain = a\ncomm = x\nshare = 60\n[task u]\ndomain = a\ncomm = y\nshare = 50\n",
                     "the shares add up to 110.0 %");
        expect_error("[domain a]\nrt_when = nobody\n[task t]\ndomain = a\ncomm = x\n",
                     "bad.conf:1: domain 'a': rt_when = nobody names no task");
        expect_error("[domain a]\nrt = idle:3\n", "bad.conf:2: rt = idle:3");
        expect_error("[domain a]\njust words\n", "bad.conf:2: expected KEY = VALUE");
        expect_error("weight = 3\n", "bad.conf:1: 'weight' outside any section");
        expect_error("[domain a\n", "bad.conf:1: section header without ']'");
        expect_error("[domain a]\n[task t]\ndomain = a\ncomm = x\nclass = idle\nburst = yes\n", "idle class takes no");
        Rules r;
        char err[256];
        assert_true(config_parse_file("/nonexistent/xvsched.conf", &r, err, sizeof err) < 0);
        assert_non_null(strstr(err, "/nonexistent/xvsched.conf: cannot read"));
}

/* [hosts]: URIs one a line, errors one line with file:line; NAME@HOST
 * binds a domain rule to one host (config_rules_for_host). */
static void test_hosts(void **state) {
        (void) state;
        Rules r;
        ConfigDaemon c = {};
        char err[256];
        const char *conf = "[hosts]\nqemu+tcp://127.0.0.1:16601/system\nqemu+ssh://root@h2/system?keyfile=/k  # two\n\n"
                           "[domain web]\nweight = 300\n"
                           "[domain db@h2]\nweight = 200\n"
                           "[domain x]\nmatch = other@127.0.0.1:16601\nrt = fifo:5\n"
                           "[task t]\ndomain = db@h2\ncomm = pg\nclass = rt\n"
                           "[task u]\ndomain = web\ncomm = w\n";
        if (config_parse_string_daemon(conf, "h.conf", &r, &c, err, sizeof err) < 0)
                fail_msg("%s", err);
        assert_int_equal(c.n_hosts, 2);
        assert_string_equal(c.hosts[0], "qemu+tcp://127.0.0.1:16601/system");
        assert_string_equal(c.hosts[1], "qemu+ssh://root@h2/system?keyfile=/k");
        assert_null(c.hosts[2]);
        assert_null(config_rule_host(&r.domains[0]));
        assert_string_equal(config_rule_host(&r.domains[1]), "h2");

        Rules h2 = {}, h1 = {};
        assert_int_equal(config_rules_for_host(&r, "h2", &h2), 0);
        assert_int_equal(h2.n_domains, 2);          /* web, db */
        assert_string_equal(h2.domains[1].name, "db@h2");
        assert_string_equal(h2.domains[1].match, "db");
        assert_int_equal(h2.n_tasks, 2);
        assert_string_equal(h2.tasks[0].name, "t");
        assert_int_equal(h2.tasks[0].domain, 1);
        assert_int_equal(h2.domains[1].rt_on_demand, 0);
        assert_int_equal(h2.tasks[1].domain, 0);
        assert_int_equal(config_rules_for_host(&r, "127.0.0.1:16601", &h1), 0);
        assert_int_equal(h1.n_domains, 2);          /* web, x */
        assert_string_equal(h1.domains[1].match, "other");
        assert_int_equal(h1.n_tasks, 1);
        assert_string_equal(h1.tasks[0].name, "u");
        assert_int_equal(h1.tasks[0].domain, 0);
        assert_int_equal(h1.domains[0].n_fixed, 1);
        assert_string_equal(h1.domains[0].fixed[0], "weight=300");
        rules_done(&h1);
        rules_done(&h2);
        rules_done(&r);
        config_daemon_done(&c);

        expect_error("[hosts]\nh1\n[domain a]\n", "bad.conf:2: [hosts]: 'h1' is not a libvirt URI");
        expect_error("[hosts]\nqemu:///system\n\nqemu:///system\n[domain a]\n",
                     "bad.conf:4: [hosts]: qemu:///system given twice (first on line 2)");
        expect_error("[hosts]\n[domain a]\n", "bad.conf:1: [hosts] lists no URI");
        expect_error("[hosts]\nqemu:///system\n[hosts]\n", "bad.conf:3: [hosts] given twice (first on line 1)");
        expect_error("[hosts x]\n", "bad.conf:1: [hosts] takes no name");
        expect_error("qemu:///system\n", "bad.conf:1: expected KEY = VALUE");
        expect_error("[hosts]\nqemu+tcp://h 1/system\n", "bad.conf:2: [hosts]: 'qemu+tcp://h 1/system' is not");
        expect_error("[domain a@]\n", "bad.conf:1: [domain] needs a NAME");
        expect_error("[domain a]\nmatch = b@h/1\n", "bad.conf:2: match = b@h/1: expected NAME or NAME@HOST");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hosts),
                cmocka_unit_test(test_example),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
