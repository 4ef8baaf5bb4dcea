/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RT that could starve the host is refused: lever_rt_check() on given
 * facts (throttling, online CPUs, the RT threads' CPUs), and
 * lever_rt_runtime_read() from a fake /proc. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lever/lever.h"

static CpuSet set(const char *list) {
        CpuSet s = {};
        if (*list)
                assert_int_equal(cpuset_parse(list, &s), 0);
        return s;
}

static void test_check(void **state) {
        (void) state;
        const char *why = "unset";
        CpuSet online = set("0-1"), four = set("0-3");

        /* Throttling on, one CPU left to the host: fine. */
        CpuSet rt = set("1");
        assert_int_equal(lever_rt_check(950000, &online, &rt, &why), 0);
        assert_null(why);

        /* Every online CPU: refused. */
        rt = set("0-1");
        assert_int_equal(lever_rt_check(950000, &online, &rt, &why), -EPERM);
        assert_non_null(strstr(why, "every online CPU"));
        /* More than online (an offline CPU in the mask) still covers them. */
        rt = set("0-7");
        assert_int_equal(lever_rt_check(950000, &online, &rt, &why), -EPERM);
        /* 0-2 of 0-3 leaves CPU 3. */
        rt = set("0-2");
        assert_int_equal(lever_rt_check(950000, &four, &rt, &why), 0);
        /* Two domains' RT threads together on 0-1 and 2-3: none left. */
        rt = set("0-1,2-3");
        assert_int_equal(lever_rt_check(950000, &four, &rt, &why), -EPERM);

        /* Throttling off: refused even when pinned. */
        rt = set("1");
        assert_int_equal(lever_rt_check(-1, &online, &rt, &why), -EPERM);
        assert_non_null(strstr(why, "throttling is off"));
        /* A single CPU host: any RT thread covers it. */
        CpuSet one = set("0");
        rt = set("0");
        assert_int_equal(lever_rt_check(950000, &one, &rt, &why), -EPERM);
        /* No RT thread at all: nothing to refuse (but throttling off still is). */
        rt = set("");
        assert_int_equal(lever_rt_check(950000, &online, &rt, &why), 0);
}

static void test_runtime_read(void **state) {
        (void) state;
        char dir[] = "/tmp/test-lever-rt-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[256];
        int64_t v = 0;

        /* No such file: whether throttling is on cannot be told (no
         * fail-open to the kernel's default). */
        v = 12345;
        assert_int_equal(lever_rt_runtime_read(dir, &v), -ENOENT);
        assert_int_equal(v, 12345);

        snprintf(path, sizeof path, "%s/sys", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/sys/kernel", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof path, "%s/sys/kernel/sched_rt_runtime_us", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("-1\n", f);
        fclose(f);
        assert_int_equal(lever_rt_runtime_read(dir, &v), 0);
        assert_int_equal(v, -1);
        const char *why;
        CpuSet online = set("0-3"), rt = set("2");
        assert_int_equal(lever_rt_check(v, &online, &rt, &why), -EPERM);

        f = fopen(path, "w");
        fputs("500000\n", f);
        fclose(f);
        assert_int_equal(lever_rt_runtime_read(dir, &v), 0);
        assert_int_equal(v, 500000);
        assert_int_equal(lever_rt_check(v, &online, &rt, &why), 0);

        f = fopen(path, "w");
        fputs("garbage\n", f);
        fclose(f);
        assert_true(lever_rt_runtime_read(dir, &v) < 0);

        unlink(path);
        snprintf(path, sizeof path, "%s/sys/kernel", dir);
        rmdir(path);
        snprintf(path, sizeof path, "%s/sys", dir);
        rmdir(path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_runtime_read),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
