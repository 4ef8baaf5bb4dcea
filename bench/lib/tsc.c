/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <cpuid.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/tsc.h"

bool tsc_use_rdtscp = false;

uint64_t tsc_read_cpu(unsigned *ret_cpu) {
        if (tsc_use_rdtscp)
                return tsc_rdtscp(ret_cpu);
        uint64_t t = tsc_rdtsc_fenced();
        if (ret_cpu) {
                int c = sched_getcpu();
                *ret_cpu = c < 0 ? 0 : (unsigned) c;
        }
        return t;
}

uint64_t tsc_cycles_to_ns(uint64_t cycles, uint64_t hz) {
        if (hz == 0)
                return 0;
        unsigned __int128 v = (unsigned __int128) cycles * 1000000000u + hz / 2;
        v /= hz;
        return v > UINT64_MAX ? UINT64_MAX : (uint64_t) v;
}

uint64_t tsc_ns_to_cycles(uint64_t ns, uint64_t hz) {
        unsigned __int128 v = (unsigned __int128) ns * hz + 500000000u;
        v /= 1000000000u;
        return v > UINT64_MAX ? UINT64_MAX : (uint64_t) v;
}

void tsc_info_init(TscInfo *ret, uint64_t hz) {
        unsigned a, b, c, d;
        TscInfo t = { .hz = hz };

        if (__get_cpuid(0x80000001, &a, &b, &c, &d))
                t.have_rdtscp = d & (1u << 27);
        if (__get_cpuid_max(0x80000000, NULL) >= 0x80000007 &&
            __get_cpuid(0x80000007, &a, &b, &c, &d))
                t.invariant = d & (1u << 8);
        tsc_use_rdtscp = t.have_rdtscp;
        *ret = t;
}

/* One (TSC, CLOCK_MONOTONIC) pair: the TSC read bracketed by two clock
 * reads; of a few tries keep the narrowest bracket and use its midpoint. */
static void sample_pair(uint64_t *ret_tsc, uint64_t *ret_ns) {
        uint64_t best = UINT64_MAX;
        for (int i = 0; i < 7; i++) {
                uint64_t a = now_ns(CLOCK_MONOTONIC);
                uint64_t t = tsc_rdtsc_fenced();
                uint64_t b = now_ns(CLOCK_MONOTONIC);
                if (b - a < best) {
                        best = b - a;
                        *ret_tsc = t;
                        *ret_ns = a + (b - a) / 2;
                }
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

int tsc_calibrate(TscInfo *ret, uint64_t duration_ns) {
        unsigned a, b, c, d;
        enum { ROUNDS = 5 };
        uint64_t hz[ROUNDS];

        if (!__get_cpuid(1, &a, &b, &c, &d) || !(d & (1u << 4)))
                return -ENOTSUP;
        TscInfo t;
        tsc_info_init(&t, 0);
        if (duration_ns < ROUNDS * 1000000ull)
                duration_ns = ROUNDS * 1000000ull;

        uint64_t begin = now_ns(CLOCK_MONOTONIC);
        for (int r = 0; r < ROUNDS; r++) {
                uint64_t t0, n0, t1, n1;
                sample_pair(&t0, &n0);
                sleep_ns(duration_ns / ROUNDS);
                sample_pair(&t1, &n1);
                if (t1 <= t0 || n1 <= n0)
                        return -EIO;
                hz[r] = (uint64_t) ((unsigned __int128) (t1 - t0) * 1000000000u / (n1 - n0));
        }
        qsort(hz, ROUNDS, sizeof hz[0], cmp_u64);
        t.hz = hz[ROUNDS / 2];
        t.calib_rounds = ROUNDS;
        t.calib_ns = now_ns(CLOCK_MONOTONIC) - begin;
        t.spread_ppm = (uint64_t) ((unsigned __int128) (hz[ROUNDS - 1] - hz[0]) * 1000000u / t.hz);
        *ret = t;
        return 0;
}
