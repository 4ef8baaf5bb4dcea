/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the burst workload's pure parts (bench/lib/burst.c): the
 * list of burst lengths, the calibration arithmetic, the summary. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/burst.h"
#include "lib/clock.h"

static void test_parse_list(void **state) {
        (void) state;
        uint64_t v[4];
        assert_int_equal(burst_parse_list("5ms,10ms,20ms,50ms", NSEC_PER_MSEC, v, 4), 4);
        assert_int_equal(v[0], 5 * NSEC_PER_MSEC);
        assert_int_equal(v[3], 50 * NSEC_PER_MSEC);
        /* bare numbers in the default unit; other units as given */
        assert_int_equal(burst_parse_list("7,250us,1.5ms", NSEC_PER_MSEC, v, 4), 3);
        assert_int_equal(v[0], 7 * NSEC_PER_MSEC);
        assert_int_equal(v[1], 250 * NSEC_PER_USEC);
        assert_int_equal(v[2], 1500 * NSEC_PER_USEC);
        assert_int_equal(burst_parse_list("3", NSEC_PER_MSEC, v, 1), 1);
        assert_int_equal(v[0], 3 * NSEC_PER_MSEC);
        /* bad: empty items, zero, bad units, too many, too long, NULL */
        assert_int_equal(burst_parse_list("", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list("5ms,", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list(",5ms", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list("5ms,,6ms", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list("0", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list("5parsecs", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list("-5ms", NSEC_PER_MSEC, v, 4), -EINVAL);
        assert_int_equal(burst_parse_list("1,2,3,4,5", NSEC_PER_MSEC, v, 4), -ERANGE);
        assert_int_equal(burst_parse_list("1111111111111111111111111111111111111111111111111111111111111111111ms",
                                          NSEC_PER_MSEC, v, 4), -ERANGE);
        assert_int_equal(burst_parse_list(NULL, NSEC_PER_MSEC, v, 4), -EINVAL);
}

static void test_units(void **state) {
        (void) state;
        /* 2048 units took 1 ms: 5 ms is 10240 units, 10 ms 20480 */
        assert_int_equal(burst_units(5 * NSEC_PER_MSEC, 2048, NSEC_PER_MSEC), 10240);
        assert_int_equal(burst_units(10 * NSEC_PER_MSEC, 2048, NSEC_PER_MSEC), 20480);
        /* rounds to nearest, at least one unit */
        assert_int_equal(burst_units(1500, 1, 1000), 2);
        assert_int_equal(burst_units(1, 1, NSEC_PER_SEC), 1);
        /* no calibration: 0; huge: saturates */
        assert_int_equal(burst_units(NSEC_PER_MSEC, 0, 1000), 0);
        assert_int_equal(burst_units(NSEC_PER_MSEC, 100, 0), 0);
        assert_true(burst_units(UINT64_MAX, UINT64_MAX, 1) == UINT64_MAX);
}

static void test_summarize(void **state) {
        (void) state;
        BurstSummary s;
        /* 20 responses to a 10 ms burst: 10..29 ms, shuffled */
        uint64_t r[20];
        for (size_t i = 0; i < 20; i++)
                r[i] = (10 + (i * 7) % 20) * NSEC_PER_MSEC;
        burst_summarize(r, 20, 10 * NSEC_PER_MSEC, &s);
        assert_int_equal(s.n, 20);
        assert_int_equal(r[0], 10 * NSEC_PER_MSEC);     /* sorted in place */
        assert_int_equal(r[19], 29 * NSEC_PER_MSEC);
        assert_int_equal(s.median_ns, 19 * NSEC_PER_MSEC);      /* nearest rank 10 of 20 */
        assert_int_equal(s.p95_ns, 28 * NSEC_PER_MSEC);         /* rank 19 of 20 */
        assert_int_equal(s.max_ns, 29 * NSEC_PER_MSEC);
        assert_float_equal(s.slowdown_median, 1.9, 1e-9);
        assert_float_equal(s.slowdown_p95, 2.8, 1e-9);
        assert_float_equal(s.slowdown_max, 2.9, 1e-9);

        uint64_t one[1] = { 7 * NSEC_PER_MSEC };
        burst_summarize(one, 1, 5 * NSEC_PER_MSEC, &s);
        assert_int_equal(s.median_ns, 7 * NSEC_PER_MSEC);
        assert_int_equal(s.p95_ns, 7 * NSEC_PER_MSEC);
        assert_float_equal(s.slowdown_max, 1.4, 1e-9);

        burst_summarize(one, 0, 5 * NSEC_PER_MSEC, &s);
        assert_int_equal(s.n, 0);
        assert_int_equal(s.median_ns, 0);
        assert_float_equal(s.slowdown_median, 0, 0);
        burst_summarize(one, 1, 0, &s);
        assert_int_equal(s.max_ns, 7 * NSEC_PER_MSEC);
        assert_float_equal(s.slowdown_max, 0, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_list),
                cmocka_unit_test(test_units),
                cmocka_unit_test(test_summarize),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
