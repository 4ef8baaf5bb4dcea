/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host readers of src/host/ (autogroup.c, cpus.c, proc.c) against fixture
 * trees the test writes into a temporary directory. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "host/autogroup.h"
#include "host/cpus.h"
#include "host/proc.h"
#include "host/sched.h"

static char root[] = "/tmp/xv-test-host-XXXXXX";

static void put(const char *rel, const char *content) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        /* mkdir -p of the parent */
        for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                (void) mkdir(path, 0755);
                *p = '/';
        }
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

/* A stat line with pid and ppid (start time 100 + pid). */
static void put_stat(int pid, int ppid) {
        char rel[64], line[256];
        snprintf(rel, sizeof rel, "proc/%d/stat", pid);
        snprintf(line, sizeof line,
                 "%d (p %d) S %d %d %d 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 %d 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n", pid, pid,
                 ppid, pid, pid, 100 + pid);
        put(rel, line);
}

static int setup(void **state) {
        (void) state;
        assert_non_null(mkdtemp(root));
        put_stat(10, 1);
        put_stat(11, 10);
        put_stat(12, 11);
        put_stat(13, 1);
        put_stat(14, 12);
        put("proc/15/stat", "15 no-parens S 12\n");   /* malformed: skipped */
        put("proc/self/stat", "x\n");                 /* not a pid */
        put("proc/10/autogroup", "/autogroup-7 nice -5\n");
        put("proc/13/autogroup", "/autogroup-8 nice 0\n");
        put("proc/sys/kernel/sched_autogroup_enabled", "1\n");
        put("sys/devices/system/cpu/online", "0-3,8\n");
        put("sys/devices/system/cpu/isolated", "\n");
        return 0;
}

static int teardown(void **state) {
        (void) state;
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_stat_ppid(void **state) {
        (void) state;
        ProcStat st;
        char proc[300];
        snprintf(proc, sizeof proc, "%s/proc", root);
        assert_int_equal(proc_stat_read(proc, 11, 0, &st), 0);
        assert_int_equal(st.ppid, 10);
        assert_int_equal(st.start_time, 111);
        assert_int_equal(proc_stat_parse("1 (x) S -4 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21", &st), -EBADMSG);
        assert_int_equal(proc_stat_parse("1 (x) S 0 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21", &st), 0);
        assert_int_equal(st.ppid, 0);
}

static void test_pids_and_tree(void **state) {
        (void) state;
        char proc[300];
        snprintf(proc, sizeof proc, "%s/proc", root);
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        assert_int_equal(proc_pids(proc, &pids, &n), 0);
        assert_int_equal(n, 6);   /* 10..15; "self" and "sys" are not pids */
        for (size_t i = 0; i < n; i++)
                assert_true(pids[i] >= 10 && pids[i] <= 15);

        _cleanup_free_ pid_t *tree = NULL;
        assert_int_equal(proc_tree(proc, 10, &tree, &n), 0);
        assert_int_equal(n, 4);   /* 10 and its descendants 11, 12, 14; not 13, not the malformed 15 */
        assert_int_equal(tree[0], 10);
        bool seen[16] = {};
        for (size_t i = 0; i < n; i++)
                seen[tree[i]] = true;
        assert_true(seen[10] && seen[11] && seen[12] && seen[14] && !seen[13] && !seen[15]);

        pid_t *none = NULL;
        assert_int_equal(proc_tree(proc, 99, &none, &n), -ESRCH);
        assert_null(none);
        char missing[320];
        snprintf(missing, sizeof missing, "%s/nothing", root);
        assert_int_equal(proc_pids(missing, &none, &n), -ENOENT);
}

static void test_tree_grow(void **state) {
        (void) state;
        /* Children listed before their parents: still found, in passes. */
        const pid_t all[] = { 5, 4, 3, 2, 9 }, ppids[] = { 4, 3, 2, 1, 8 };
        pid_t *set = malloc(sizeof *set);
        assert_non_null(set);
        set[0] = 2;
        size_t n = 1;
        assert_int_equal(proc_tree_grow(&set, &n, all, ppids, ELEMENTSOF(all)), 0);
        assert_int_equal(n, 4);   /* 2, 3, 4, 5 */
        /* A cycle in the input (pid reuse seen mid-scan) ends too. */
        const pid_t call[] = { 20, 21 }, cppids[] = { 21, 20 };
        set[0] = 20;
        n = 1;
        assert_int_equal(proc_tree_grow(&set, &n, call, cppids, ELEMENTSOF(call)), 0);
        assert_int_equal(n, 2);
        free(set);
}

static void test_autogroup(void **state) {
        (void) state;
        long id;
        int nice;
        assert_int_equal(autogroup_parse("/autogroup-12 nice 0", &id, &nice), 0);
        assert_int_equal(id, 12);
        assert_int_equal(nice, 0);
        assert_int_equal(autogroup_parse("/autogroup-3 nice -20", &id, &nice), 0);
        assert_int_equal(nice, -20);
        assert_int_equal(autogroup_parse("/autogroup-3 nice 20", &id, &nice), -EBADMSG);
        assert_int_equal(autogroup_parse("/autogroup-3 nice 1x", &id, &nice), -EBADMSG);
        assert_int_equal(autogroup_parse("/autogroup- nice 1", &id, &nice), -EBADMSG);
        assert_int_equal(autogroup_parse("", &id, &nice), -EBADMSG);
        assert_int_equal(autogroup_parse(NULL, &id, &nice), -EBADMSG);

        char proc[300];
        snprintf(proc, sizeof proc, "%s/proc", root);
        assert_true(autogroup_enabled(proc));
        assert_int_equal(autogroup_read(proc, 10, &id, &nice), 0);
        assert_int_equal(id, 7);
        assert_int_equal(nice, -5);
        assert_int_equal(autogroup_read(proc, 11, &id, &nice), -ENOENT);
        assert_int_equal(autogroup_write(proc, 10, 3), 0);
        _cleanup_free_ char *line = NULL;
        char path[400];
        snprintf(path, sizeof path, "%s/10/autogroup", proc);
        assert_int_equal(read_one_line(path, &line), 0);
        assert_string_equal(line, "3");
        assert_int_equal(autogroup_write(proc, 10, 20), -EINVAL);
        assert_int_equal(autogroup_write(proc, 0, 1), -EINVAL);
        char missing[320];
        snprintf(missing, sizeof missing, "%s/nothing", root);
        assert_false(autogroup_enabled(missing));
}

static void test_rt_runtime(void **state) {
        (void) state;
        char proc[300];
        int64_t v;
        snprintf(proc, sizeof proc, "%s/proc", root);
        assert_int_equal(rt_runtime_read(proc, &v), -ENOENT);   /* cannot be told */
        put("proc/sys/kernel/sched_rt_runtime_us", "-1\n");
        assert_int_equal(rt_runtime_read(proc, &v), 0);
        assert_int_equal(v, -1);
        put("proc/sys/kernel/sched_rt_runtime_us", "950000\n");
        assert_int_equal(rt_runtime_read(proc, &v), 0);
        assert_int_equal(v, 950000);
}

static void test_cpus(void **state) {
        (void) state;
        char sys[300];
        snprintf(sys, sizeof sys, "%s/sys", root);
        CpuSet set;
        assert_int_equal(host_online_cpus(sys, &set), 0);
        assert_int_equal(cpuset_count(&set), 5);
        assert_true(cpuset_isset(&set, 8));
        /* No node/online (no NUMA support): node 0 alone. */
        assert_int_equal(host_online_nodes(sys, &set), 0);
        assert_int_equal(cpuset_count(&set), 1);
        assert_true(cpuset_isset(&set, 0));
        put("sys/devices/system/node/online", "0-1\n");
        assert_int_equal(host_online_nodes(sys, &set), 0);
        assert_int_equal(cpuset_count(&set), 2);
        /* Nothing isolated; a missing file is nothing isolated too. */
        assert_int_equal(host_isolated_cpus(sys, &set), 0);
        assert_int_equal(cpuset_count(&set), 0);
        put("sys/devices/system/cpu/isolated", "2-3\n");
        assert_int_equal(host_isolated_cpus(sys, &set), 0);
        assert_int_equal(cpuset_count(&set), 2);
        put("sys/devices/system/cpu/online", "3-1\n");
        CpuSet keep = set;
        assert_int_equal(host_online_cpus(sys, &set), -EINVAL);
        assert_true(cpuset_equal(&set, &keep));   /* untouched on failure */
        char missing[320];
        snprintf(missing, sizeof missing, "%s/nothing", root);
        assert_int_equal(host_online_cpus(missing, &set), -ENOENT);
        assert_int_equal(host_isolated_cpus(missing, &set), 0);
        assert_int_equal(cpuset_count(&set), 0);
        /* The real host answers too. */
        assert_int_equal(host_online_cpus(NULL, &set), 0);
        assert_true(cpuset_count(&set) >= 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stat_ppid),
                cmocka_unit_test(test_pids_and_tree),
                cmocka_unit_test(test_tree_grow),
                cmocka_unit_test(test_autogroup),
                cmocka_unit_test(test_rt_runtime),
                cmocka_unit_test(test_cpus),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
