/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <sys/resource.h>

#include "lib/clock.h"

void sleep_ns(uint64_t ns) {
        struct timespec ts = ns_to_ts(ns);
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static uint64_t tv_ns(const struct timeval *tv) {
        return (uint64_t) tv->tv_sec * NSEC_PER_SEC + (uint64_t) tv->tv_usec * NSEC_PER_USEC;
}

static uint64_t usage_ns(int who, uint64_t *ret_user, uint64_t *ret_sys) {
        struct rusage ru = {};
        getrusage(who, &ru);
        uint64_t u = tv_ns(&ru.ru_utime), s = tv_ns(&ru.ru_stime);
        if (ret_user)
                *ret_user = u;
        if (ret_sys)
                *ret_sys = s;
        return u + s;
}

uint64_t cpu_self_ns(uint64_t *ret_user, uint64_t *ret_sys) {
        return usage_ns(RUSAGE_SELF, ret_user, ret_sys);
}
uint64_t cpu_children_ns(uint64_t *ret_user, uint64_t *ret_sys) {
        return usage_ns(RUSAGE_CHILDREN, ret_user, ret_sys);
}
