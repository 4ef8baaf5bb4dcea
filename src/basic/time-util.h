/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* One monotonic clock for the whole project: deadlines, tick times and
 * latencies all come from CLOCK_MONOTONIC (never the wall clock, which an
 * operator or NTP may step).  Header-only: the static guest binaries can use
 * it too. */

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;
typedef uint64_t nsec_t;

#ifndef USEC_PER_SEC
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#endif
#ifndef USEC_PER_MSEC
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#endif
#define NSEC_PER_SEC ((nsec_t) 1000000000ULL)
#define NSEC_PER_MSEC ((nsec_t) 1000000ULL)
#define NSEC_PER_USEC ((nsec_t) 1000ULL)

static inline nsec_t now_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (nsec_t) ts.tv_sec * NSEC_PER_SEC + (nsec_t) ts.tv_nsec;
}

static inline usec_t now_usec(void) {
        return now_nsec() / NSEC_PER_USEC;
}

/* Signed, so that "deadline - now_msec()" goes negative once it has passed. */
static inline int64_t now_msec(void) {
        return (int64_t) (now_nsec() / NSEC_PER_MSEC);
}
