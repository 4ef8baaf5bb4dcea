/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of xvbench's statistics, TSC conversion, parsers and JSON
 * writer, on data whose answers are known. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/clock.h"
#include "lib/json.h"
#include "lib/opts.h"
#include "lib/stats.h"
#include "lib/tsc.h"

static void test_percentile_rank(void **state) {
        (void) state;
        /* Nearest rank: ceil(p/100 * n), 1-based -> 0-based index. */
        assert_int_equal(percentile_rank(100, 50), 49);
        assert_int_equal(percentile_rank(100, 90), 89);
        assert_int_equal(percentile_rank(100, 99), 98);
        assert_int_equal(percentile_rank(100, 99.9), 99);
        assert_int_equal(percentile_rank(1000, 99.9), 998);     /* exact rank, no rounding up */
        assert_int_equal(percentile_rank(10000, 99.99), 9998);
        assert_int_equal(percentile_rank(1, 50), 0);
        assert_int_equal(percentile_rank(3, 50), 1);
        assert_int_equal(percentile_rank(4, 50), 1);
        assert_int_equal(percentile_rank(10, 0), 0);
        assert_int_equal(percentile_rank(10, 100), 9);
}

static void test_exact_percentiles(void **state) {
        (void) state;
        LatStats s;
        assert_int_equal(lat_init(&s, 1000, 1000000, 1000, false), 0);
        /* 1000 samples: 1..1000 us, added in a scrambled order. */
        for (unsigned i = 0; i < 1000; i++)
                lat_add(&s, (uint64_t) ((i * 7919) % 1000 + 1) * 1000);
        assert_true(lat_percentiles_exact(&s));
        assert_int_equal(s.count, 1000);
        assert_int_equal(s.min, 1000);
        assert_int_equal(s.max, 1000000);
        assert_int_equal(lat_percentile(&s, 50), 500000);
        assert_int_equal(lat_percentile(&s, 90), 900000);
        assert_int_equal(lat_percentile(&s, 99), 990000);
        assert_int_equal(lat_percentile(&s, 99.9), 999000);
        assert_int_equal(lat_percentile(&s, 99.99), 1000000);
        assert_true(fabs(s.mean - 500500.0) < 1e-6);
        /* Population stddev of 1..1000 (x1000): sqrt((n^2-1)/12) * 1000. */
        assert_true(fabs(lat_stddev(&s) - xv_sqrt((1000.0 * 1000.0 - 1) / 12.0) * 1000.0) < 1e-3);
        lat_free(&s);
}

static void test_stddev_known(void **state) {
        (void) state;
        LatStats s;
        static const uint64_t v[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
        assert_int_equal(lat_init(&s, 1, 100, 8, false), 0);
        for (size_t i = 0; i < 8; i++)
                lat_add(&s, v[i]);
        assert_true(fabs(s.mean - 5.0) < 1e-12);
        assert_true(fabs(lat_stddev(&s) - 2.0) < 1e-12);
        lat_free(&s);
        assert_true(fabs(xv_sqrt(2.0) - 1.4142135623730951) < 1e-15);
        assert_true(fabs(xv_sqrt(0.25) - 0.5) < 1e-15);
        assert_true(xv_sqrt(0) == 0);
        assert_true(fabs(xv_sqrt(1e18) - 1e9) < 1e-3);
}

static void test_histogram_buckets_and_overflow(void **state) {
        (void) state;
        LatStats s;
        /* 1 us buckets over 10 us. */
        assert_int_equal(lat_init(&s, 1000, 10000, 0, false), 0);
        assert_int_equal(s.hist.nbuckets, 10);
        lat_add(&s, 0);         /* bucket 0 */
        lat_add(&s, 999);       /* bucket 0 */
        lat_add(&s, 1000);      /* bucket 1 */
        lat_add(&s, 9999);      /* bucket 9 */
        lat_add(&s, 10000);     /* overflow: >= range */
        lat_add(&s, 5000000);   /* overflow */
        assert_int_equal(s.hist.counts[0], 2);
        assert_int_equal(s.hist.counts[1], 1);
        assert_int_equal(s.hist.counts[9], 1);
        assert_int_equal(s.hist.overflow, 2);
        uint64_t total = s.hist.overflow;
        for (size_t i = 0; i < s.hist.nbuckets; i++)
                total += s.hist.counts[i];
        assert_int_equal(total, s.count);
        assert_false(lat_percentiles_exact(&s));
        /* From the histogram: the bucket's upper edge, capped at max;
         * ranks among the overflowed samples answer max. */
        assert_int_equal(lat_percentile(&s, 1), 1000);          /* rank 1 in bucket 0 */
        assert_int_equal(lat_percentile(&s, 50), 2000);         /* rank 3 in bucket 1 */
        assert_int_equal(lat_percentile(&s, 60), 10000);        /* rank 4 in bucket 9 */
        assert_int_equal(lat_percentile(&s, 99), 5000000);      /* rank 6: overflow -> max */
        lat_free(&s);

        /* The upper edge never exceeds the observed max. */
        assert_int_equal(lat_init(&s, 1000, 10000, 0, false), 0);
        lat_add(&s, 1500);
        assert_int_equal(lat_percentile(&s, 50), 1500);
        lat_free(&s);
        /* range rounds up to whole buckets */
        assert_int_equal(lat_init(&s, 1000, 10500, 0, false), 0);
        assert_int_equal(s.hist.nbuckets, 11);
        lat_free(&s);
        assert_int_equal(lat_init(&s, 0, 10, 0, false), -EINVAL);
}

static void test_sample_cap_falls_back(void **state) {
        (void) state;
        LatStats s;
        assert_int_equal(lat_init(&s, 1000, 100000, 4, false), 0);
        for (uint64_t i = 1; i <= 10; i++)
                lat_add(&s, i * 1000 + 1);
        assert_false(lat_percentiles_exact(&s));
        assert_true(s.samples_dropped);
        /* rank 5 of 10 lies in the bucket [5us, 6us): upper edge 6000 */
        assert_int_equal(lat_percentile(&s, 50), 6000);
        lat_free(&s);
}

static void test_merge(void **state) {
        (void) state;
        LatStats a, b, all;
        assert_int_equal(lat_init(&a, 1000, 10000, 0, true), 0);
        assert_int_equal(lat_init(&b, 1000, 10000, 0, false), 0);
        assert_int_equal(lat_init(&all, 1000, 10000, 100, false), 0);
        for (uint64_t i = 0; i < 20; i++) {
                uint64_t v = i * 613 % 12000;
                lat_add(i % 3 ? &a : &b, v);
                lat_add(&all, v);
        }
        LatStats m;
        assert_int_equal(lat_init(&m, 1000, 10000, 0, false), 0);
        lat_merge(&m, &a);
        lat_merge(&m, &b);
        assert_int_equal(m.count, all.count);
        assert_int_equal(m.min, all.min);
        assert_int_equal(m.max, all.max);
        assert_int_equal(m.hist.overflow, all.hist.overflow);
        assert_true(fabs(m.mean - all.mean) < 1e-9);
        assert_true(fabs(lat_stddev(&m) - lat_stddev(&all)) < 1e-6);
        for (size_t i = 0; i < m.hist.nbuckets; i++)
                assert_int_equal(m.hist.counts[i], all.hist.counts[i]);
        lat_free(&a);
        lat_free(&b);
        lat_free(&all);
        lat_free(&m);
}

static void test_summarize(void **state) {
        (void) state;
        static const double v[] = { 4, 1, 3, 2 };
        Summary s;
        summarize(v, 4, &s);
        assert_int_equal(s.n, 4);
        assert_true(s.min == 1 && s.max == 4 && s.mean == 2.5 && s.median == 2.5);
        /* sample stddev of 1..4 */
        assert_true(fabs(s.stddev - xv_sqrt(5.0 / 3.0)) < 1e-12);
        summarize(v, 3, &s);
        assert_true(s.median == 3);
        summarize(v, 0, &s);
        assert_int_equal(s.n, 0);
}

static void test_tsc_conversion(void **state) {
        (void) state;
        assert_int_equal(tsc_cycles_to_ns(3000000000ull, 3000000000ull), 1000000000ull);
        assert_int_equal(tsc_cycles_to_ns(2500, 2500000000ull), 1000);
        assert_int_equal(tsc_cycles_to_ns(1, 2500000000ull), 0);        /* 0.4 ns rounds down */
        assert_int_equal(tsc_cycles_to_ns(2, 2500000000ull), 1);        /* 0.8 ns rounds up */
        assert_int_equal(tsc_cycles_to_ns(3, 2000000000ull), 2);        /* 1.5 ns rounds half up */
        /* Large counts must not overflow: 2^63 cycles at 3.4 GHz. */
        uint64_t big = 1ull << 63;
        uint64_t ns = tsc_cycles_to_ns(big, 3400000000ull);
        assert_int_equal(ns, (uint64_t) ((unsigned __int128) big * 1000000000u / 3400000000ull) +
                                     (((unsigned __int128) big * 1000000000u % 3400000000ull) >= 1700000000ull));
        assert_int_equal(tsc_ns_to_cycles(1000, 2400000000ull), 2400);
        assert_int_equal(tsc_cycles_to_ns(tsc_ns_to_cycles(123456789, 2893212000ull), 2893212000ull), 123456789);
        assert_int_equal(tsc_cycles_to_ns(5, 0), 0);
}

static void test_tsc_calibration(void **state) {
        (void) state;
        /* On the machine itself: the calibrated frequency must agree with
         * CLOCK_MONOTONIC over a fresh interval within 1 %. */
        TscInfo t;
        int r = tsc_calibrate(&t, 20 * NSEC_PER_MSEC);
        if (r == -ENOTSUP)
                skip();
        assert_int_equal(r, 0);
        assert_true(t.hz > 100000000ull);
        uint64_t c0 = tsc_rdtsc_fenced(), n0 = now_ns(CLOCK_MONOTONIC);
        sleep_ns(20 * NSEC_PER_MSEC);
        uint64_t c1 = tsc_rdtsc_fenced(), n1 = now_ns(CLOCK_MONOTONIC);
        double measured = (double) tsc_cycles_to_ns(c1 - c0, t.hz), actual = (double) (n1 - n0);
        assert_true(fabs(measured - actual) / actual < 0.01);
}

static void test_parse_duration(void **state) {
        (void) state;
        uint64_t v;
        assert_int_equal(parse_duration("10ms", NSEC_PER_USEC, &v), 0);
        assert_int_equal(v, 10000000);
        assert_int_equal(parse_duration("10", NSEC_PER_USEC, &v), 0);
        assert_int_equal(v, 10000);
        assert_int_equal(parse_duration("1.5s", NSEC_PER_USEC, &v), 0);
        assert_int_equal(v, 1500000000);
        assert_int_equal(parse_duration("250us", NSEC_PER_SEC, &v), 0);
        assert_int_equal(v, 250000);
        assert_int_equal(parse_duration("2m", NSEC_PER_SEC, &v), 0);
        assert_int_equal(v, 120000000000ull);
        assert_int_equal(parse_duration(".5", NSEC_PER_SEC, &v), 0);
        assert_int_equal(v, 500000000);
        assert_int_equal(parse_duration("10parsecs", NSEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_duration("-1s", NSEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_duration("0x10", NSEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_duration("1e3", NSEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_duration("", NSEC_PER_SEC, &v), -EINVAL);
        assert_int_equal(parse_duration("99999999999h", NSEC_PER_SEC, &v), -ERANGE);

        assert_int_equal(parse_bytes("256K", &v), 0);
        assert_int_equal(v, 262144);
        assert_int_equal(parse_bytes("1G", &v), 0);
        assert_int_equal(v, 1ull << 30);
        assert_int_equal(parse_bytes("4Q", &v), -EINVAL);
        assert_int_equal(parse_bytes("1.5M", &v), -EINVAL);
        assert_int_equal(parse_count("10M", &v), 0);
        assert_int_equal(v, 10000000);
        assert_int_equal(parse_count("10Mi", &v), -EINVAL);
}

static char *json_render(void (*fn)(Json *j), int *ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        Json j;
        json_init(&j, f);
        fn(&j);
        *ret = json_finish(&j);
        fclose(f);
        return buf;
}

static void doc_ok(Json *j) {
        json_begin_object(j, NULL);
        json_string(j, "s", "a\"b\\c\n\x01\x7f");
        json_u64(j, "u", UINT64_MAX);
        json_i64(j, "i", -5);
        json_double(j, "nan", NAN);
        json_double(j, "inf", INFINITY);
        json_double(j, "d", 0.25);
        json_bool(j, "t", true);
        json_null(j, "n");
        json_begin_array(j, "a", true);
        json_u64(j, NULL, 1);
        json_begin_array(j, NULL, true);
        json_u64(j, NULL, 2);
        json_end_array(j);
        json_end_array(j);
        json_begin_array(j, "e", false);
        json_end_array(j);
        json_begin_object(j, "o");
        json_end_object(j);
        json_end_object(j);
}

static void doc_key_in_array(Json *j) {
        json_begin_array(j, NULL, false);
        json_u64(j, "k", 1);
        json_end_array(j);
}

static void doc_unclosed(Json *j) {
        json_begin_object(j, NULL);
        json_begin_object(j, "x");
        json_end_object(j);
}

static void test_json_writer(void **state) {
        (void) state;
        int r;
        char *s = json_render(doc_ok, &r);
        assert_int_equal(r, 0);
        assert_string_equal(s,
                            "{\n"
                            "  \"s\": \"a\\\"b\\\\c\\n\\u0001\\u007f\",\n"
                            "  \"u\": 18446744073709551615,\n"
                            "  \"i\": -5,\n"
                            "  \"nan\": null,\n"
                            "  \"inf\": null,\n"
                            "  \"d\": 0.25,\n"
                            "  \"t\": true,\n"
                            "  \"n\": null,\n"
                            "  \"a\": [1, [2]],\n"
                            "  \"e\": [],\n"
                            "  \"o\": {}\n"
                            "}\n");
        free(s);
        s = json_render(doc_key_in_array, &r);
        assert_int_equal(r, -EINVAL);
        free(s);
        s = json_render(doc_unclosed, &r);
        assert_int_equal(r, -EINVAL);
        free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_percentile_rank),
                cmocka_unit_test(test_exact_percentiles),
                cmocka_unit_test(test_stddev_known),
                cmocka_unit_test(test_histogram_buckets_and_overflow),
                cmocka_unit_test(test_sample_cap_falls_back),
                cmocka_unit_test(test_merge),
                cmocka_unit_test(test_summarize),
                cmocka_unit_test(test_tsc_conversion),
                cmocka_unit_test(test_tsc_calibration),
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_json_writer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
