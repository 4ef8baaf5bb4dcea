/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/parse.h"

static void test_safe_ato(void **state) {
        (void) state;
        int i;
        unsigned u;
        uint64_t u64;
        double d;
        assert_int_equal(safe_atoi(" -20", &i), 0);
        assert_int_equal(i, -20);
        assert_int_equal(safe_atoi("19\n", &i), 0);
        assert_int_equal(i, 19);
        assert_int_equal(safe_atoi("", &i), -EINVAL);
        assert_int_equal(safe_atoi("12x", &i), -EINVAL);
        assert_int_equal(safe_atoi("99999999999", &i), -ERANGE);
        assert_int_equal(safe_atou("-1", &u), -EINVAL);
        assert_int_equal(safe_atou64("18446744073709551615", &u64), 0);
        assert_true(u64 == UINT64_MAX);
        assert_int_equal(safe_atou64("18446744073709551616", &u64), -ERANGE);
        assert_int_equal(safe_atod("25.5", &d), 0);
        assert_true(d == 25.5);
        assert_int_equal(safe_atod("abc", &d), -EINVAL);
}

static void test_cpuset(void **state) {
        (void) state;
        CpuSet s;
        assert_int_equal(cpuset_parse("0-3,8,10-11\n", &s), 0);
        assert_int_equal(cpuset_count(&s), 7);
        assert_true(cpuset_isset(&s, 8));
        assert_false(cpuset_isset(&s, 9));
        char *f = cpuset_format(&s);
        assert_string_equal(f, "0-3,8,10-11");
        free(f);
        assert_int_equal(cpuset_parse("", &s), 0);
        assert_int_equal(cpuset_count(&s), 0);
        f = cpuset_format(&s);
        assert_string_equal(f, "");
        free(f);
        assert_int_equal(cpuset_parse("3-1", &s), -EINVAL);
        assert_int_equal(cpuset_parse("1,", &s), -EINVAL);
        assert_int_equal(cpuset_parse("a", &s), -EINVAL);
        assert_int_equal(cpuset_parse("-1", &s), -EINVAL);
        assert_int_equal(cpuset_parse("1024", &s), -ERANGE);
        assert_int_equal(cpuset_parse("1023", &s), 0);
        CpuSet a, b;
        cpuset_parse("1,2,3", &a);
        cpuset_parse("1-3", &b);
        assert_true(cpuset_equal(&a, &b));
}

static void test_size(void **state) {
        (void) state;
        uint64_t v;
        assert_int_equal(parse_size("512", &v), 0);
        assert_true(v == 512);
        assert_int_equal(parse_size("4K", &v), 0);
        assert_true(v == 4096);
        assert_int_equal(parse_size("256M", &v), 0);
        assert_true(v == 256ull << 20);
        assert_int_equal(parse_size("1GiB", &v), 0);
        assert_true(v == 1ull << 30);
        assert_int_equal(parse_size("1X", &v), -EINVAL);
        assert_int_equal(parse_size("M", &v), -EINVAL);
        assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
}

static void test_seconds(void **state) {
        (void) state;
        double d;
        assert_int_equal(parse_seconds("5", 1, &d), 0);
        assert_true(d == 5);
        assert_int_equal(parse_seconds("5s", 1, &d), 0);
        assert_true(d == 5);
        assert_int_equal(parse_seconds("500ms", 1, &d), 0);
        assert_true(d > 0.4999 && d < 0.5001);
        assert_int_equal(parse_seconds("100", 0.001, &d), 0);
        assert_true(d > 0.0999 && d < 0.1001);
        assert_int_equal(parse_seconds("1.5s", 0.001, &d), 0);
        assert_true(d == 1.5);
        assert_int_equal(parse_seconds("2m", 1, &d), 0);
        assert_true(d == 120);
        assert_int_equal(parse_seconds("", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("s", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("5 s", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("5x", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds(" 5", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("nan", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("inf", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("-1s", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("0x10", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("1e3", 1, &d), -EINVAL);
        assert_int_equal(parse_seconds("9999999999h", 1, &d), -ERANGE);
}

static void test_strstrip(void **state) {
        (void) state;
        char buf[] = "  a b \n";
        assert_string_equal(strstrip(buf), "a b");
}

static void test_fileio(void **state) {
        (void) state;
        char path[] = "/tmp/xvsched-fileio-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        char *buf;
        size_t n;
        assert_int_equal(write_string_file(path, "12345678"), 0);
        assert_int_equal(read_full_file(path, 8, &buf, &n), 0);  /* exactly max bytes */
        assert_int_equal(n, 8);
        free(buf);
        assert_int_equal(read_full_file(path, 7, &buf, &n), -EFBIG);
        /* A shorter write replaces the whole value. */
        assert_int_equal(write_string_file(path, "9"), 0);
        assert_int_equal(read_one_line(path, &buf), 0);
        assert_string_equal(buf, "9");
        free(buf);
        uint64_t u;
        assert_int_equal(read_u64_file(path, &u), 0);
        assert_true(u == 9);
        assert_int_equal(write_file_atomic(path, "x\n", 2), 0);
        assert_int_equal(read_u64_file(path, &u), -EINVAL);
        unlink(path);
        assert_int_equal(read_one_line(path, &buf), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_safe_ato),
                cmocka_unit_test(test_cpuset),
                cmocka_unit_test(test_size),
                cmocka_unit_test(test_seconds),
                cmocka_unit_test(test_strstrip),
                cmocka_unit_test(test_fileio),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
