/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The worker's retry delay after a failed view (issue 9 follow-up): 1 s,
 * doubled after each failure, never above 60 s; a good round (the caller
 * passes 0 again) starts over at 1 s.  So a guest that makes every open of
 * its view fail costs at most one open a minute once the delay has grown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/worker.h"

#define S (1000ull * 1000 * 1000)

static void test_backoff(void **state) {
        (void) state;
        assert_true(worker_retry_delay_ns(0) == 1 * S);
        uint64_t d = 0, sum = 0;
        uint64_t want[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
                d = worker_retry_delay_ns(d);
                assert_true(d == want[i] * S);
                sum += d;
        }
        /* bounded: opens in the first ten minutes after the first failure */
        unsigned opens = 0;
        d = 0;
        for (uint64_t t = 0; t < 600 * S; t += d, opens++)
                d = worker_retry_delay_ns(d);
        assert_true(opens <= 16);
        /* never above the cap, never overflowing */
        assert_true(worker_retry_delay_ns(WORKER_RETRY_MAX_NS) == WORKER_RETRY_MAX_NS);
        assert_true(worker_retry_delay_ns(UINT64_MAX) == WORKER_RETRY_MAX_NS);
        assert_true(worker_retry_delay_ns(WORKER_RETRY_MAX_NS / 2 + 1) == WORKER_RETRY_MAX_NS);
        /* anything below the floor (a reset after a good round) starts at 1 s */
        assert_true(worker_retry_delay_ns(1) == WORKER_RETRY_MIN_NS);
        (void) sum;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backoff),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
