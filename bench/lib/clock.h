/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

#define NSEC_PER_USEC 1000ull
#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

static inline uint64_t ts_to_ns(const struct timespec *ts) {
        return (uint64_t) ts->tv_sec * NSEC_PER_SEC + (uint64_t) ts->tv_nsec;
}
static inline struct timespec ns_to_ts(uint64_t ns) {
        return (struct timespec) { .tv_sec = (time_t) (ns / NSEC_PER_SEC),
                                   .tv_nsec = (long) (ns % NSEC_PER_SEC) };
}
static inline uint64_t now_ns(clockid_t clk) {
        struct timespec ts;
        clock_gettime(clk, &ts);
        return ts_to_ns(&ts);
}
/* Relative sleep that resumes after signals. */
void sleep_ns(uint64_t ns);
/* CPU time of this process (user + sys), and of its waited-for children. */
uint64_t cpu_self_ns(uint64_t *ret_user, uint64_t *ret_sys);
uint64_t cpu_children_ns(uint64_t *ret_user, uint64_t *ret_sys);
