/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one weight scale: xvsched weight <-> v1 cpu.shares, io weight <-> blkio.weight. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "host/cgroup.h"

static void test_weight_to_shares(void **state) {
        (void) state;
        assert_int_equal(cgroup_weight_to_shares(100), 1024);      /* default ↔ default */
        assert_int_equal(cgroup_weight_to_shares(1), 10);          /* 10.24 floors */
        assert_int_equal(cgroup_weight_to_shares(50), 512);
        assert_int_equal(cgroup_weight_to_shares(400), 4096);
        assert_int_equal(cgroup_weight_to_shares(10000), 102400);
        /* the clamp, reached only outside the scale */
        assert_int_equal(cgroup_weight_to_shares(0), 2);
        assert_int_equal(cgroup_weight_to_shares(30000), 262144);
        assert_int_equal(cgroup_weight_to_shares(UINT32_MAX), 262144);
}

static void test_shares_to_weight(void **state) {
        (void) state;
        assert_int_equal(cgroup_shares_to_weight(1024), 100);
        assert_int_equal(cgroup_shares_to_weight(2), 1);           /* 0.195 → clamped to 1 */
        assert_int_equal(cgroup_shares_to_weight(0), 1);
        assert_int_equal(cgroup_shares_to_weight(10), 1);          /* 0.98 → 1 */
        assert_int_equal(cgroup_shares_to_weight(15), 1);          /* 1.46 → 1 */
        assert_int_equal(cgroup_shares_to_weight(16), 2);          /* 1.56 → 2 */
        assert_int_equal(cgroup_shares_to_weight(512), 50);
        assert_int_equal(cgroup_shares_to_weight(2048), 200);
        assert_int_equal(cgroup_shares_to_weight(1000), 98);       /* 97.66 → 98 */
        assert_int_equal(cgroup_shares_to_weight(102400), 10000);
        assert_int_equal(cgroup_shares_to_weight(262144), 10000);  /* 25600 → clamped */
        assert_int_equal(cgroup_shares_to_weight(UINT64_MAX), 10000);
}

static void test_weight_round_trip(void **state) {
        (void) state;
        /* every point of the scale survives a trip through cpu.shares */
        for (unsigned w = CGROUP_WEIGHT_MIN; w <= CGROUP_WEIGHT_MAX; w++)
                assert_int_equal(cgroup_shares_to_weight(cgroup_weight_to_shares(w)), w);
        /* and shares → weight → shares moves by less than one weight step (10.24) */
        for (uint64_t s = 11; s <= 102400; s++) {
                uint64_t back = cgroup_weight_to_shares(cgroup_shares_to_weight(s));
                assert_true(back + 11 > s && back < s + 11);
        }
}

static void test_io_weight(void **state) {
        (void) state;
        assert_int_equal(cgroup_io_weight_to_blkio(100), 500);     /* default ↔ CFQ default */
        assert_int_equal(cgroup_io_weight_to_blkio(1), 10);
        assert_int_equal(cgroup_io_weight_to_blkio(2), 10);
        assert_int_equal(cgroup_io_weight_to_blkio(3), 15);
        assert_int_equal(cgroup_io_weight_to_blkio(200), 1000);
        assert_int_equal(cgroup_io_weight_to_blkio(201), 1000);
        assert_int_equal(cgroup_io_weight_to_blkio(10000), 1000);
        assert_int_equal(cgroup_io_weight_to_blkio(0), 10);
        assert_int_equal(cgroup_io_weight_to_blkio(UINT32_MAX), 1000);

        assert_int_equal(cgroup_blkio_to_io_weight(500), 100);
        assert_int_equal(cgroup_blkio_to_io_weight(10), 2);
        assert_int_equal(cgroup_blkio_to_io_weight(1000), 200);
        assert_int_equal(cgroup_blkio_to_io_weight(12), 2);        /* 2.4 → 2 */
        assert_int_equal(cgroup_blkio_to_io_weight(13), 3);        /* 2.6 → 3 */
        assert_int_equal(cgroup_blkio_to_io_weight(0), 1);
        assert_int_equal(cgroup_blkio_to_io_weight(1), 1);

        /* exact round trip where blkio can express the weight: 2..200 */
        for (unsigned w = 2; w <= 200; w++)
                assert_int_equal(cgroup_blkio_to_io_weight(cgroup_io_weight_to_blkio(w)), w);
        /* blkio → weight → blkio is within 2 (one step of 5 rounds) */
        for (unsigned b = 10; b <= 1000; b++) {
                unsigned back = cgroup_io_weight_to_blkio(cgroup_blkio_to_io_weight(b));
                assert_true(back + 3 > b && back < b + 3);
        }
}

static void test_knob_names(void **state) {
        (void) state;
        for (int k = 0; k < _CGROUP_KNOB_MAX; k++) {
                const char *s = cgroup_knob_to_string((CgroupKnob) k);
                assert_non_null(s);
                assert_int_equal(cgroup_knob_from_string(s), k);
        }
        assert_string_equal(cgroup_knob_to_string(CGROUP_KNOB_MEMORY_MAX), "memory");
        assert_string_equal(cgroup_knob_to_string(CGROUP_KNOB_IO_WEIGHT), "ioweight");
        assert_null(cgroup_knob_to_string(_CGROUP_KNOB_MAX));
        assert_null(cgroup_knob_to_string(_CGROUP_KNOB_INVALID));
        assert_int_equal(cgroup_knob_from_string("shares"), _CGROUP_KNOB_INVALID);
        assert_int_equal(cgroup_knob_from_string(NULL), _CGROUP_KNOB_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_weight_to_shares),
                cmocka_unit_test(test_shares_to_weight),
                cmocka_unit_test(test_weight_round_trip),
                cmocka_unit_test(test_io_weight),
                cmocka_unit_test(test_knob_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
