/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/burst.h"
#include "lib/opts.h"
#include "lib/stats.h"

int burst_parse_list(const char *s, uint64_t default_unit_ns, uint64_t *ret, size_t max) {
        size_t n = 0;
        char item[64];

        if (!s)
                return -EINVAL;
        for (const char *p = s;;) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t) (e - p) : strlen(p);
                if (len == 0)
                        return -EINVAL;
                if (len >= sizeof item)
                        return -ERANGE;
                if (n >= max)
                        return -ERANGE;
                memcpy(item, p, len);
                item[len] = 0;
                uint64_t v;
                int r = parse_duration(item, default_unit_ns, &v);
                if (r < 0)
                        return r;
                if (v == 0)
                        return -EINVAL;
                ret[n++] = v;
                if (!e)
                        break;
                p = e + 1;
        }
        return (int) n;
}

uint64_t burst_units(uint64_t burst_ns, uint64_t units, uint64_t best_ns) {
        if (units == 0 || best_ns == 0)
                return 0;
        double u = (double) burst_ns * (double) units / (double) best_ns;
        if (u >= 18446744073709549568.0)       /* the largest double below 2^64 */
                return UINT64_MAX;
        uint64_t r = (uint64_t) (u + 0.5);
        return r ? r : 1;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

void burst_summarize(uint64_t *resp, size_t n, uint64_t burst_ns, BurstSummary *ret) {
        *ret = (BurstSummary) { .n = n };
        if (n == 0)
                return;
        qsort(resp, n, sizeof *resp, cmp_u64);
        ret->median_ns = resp[percentile_rank(n, 50)];
        ret->p95_ns = resp[percentile_rank(n, 95)];
        ret->max_ns = resp[n - 1];
        if (burst_ns == 0)
                return;
        ret->slowdown_median = (double) ret->median_ns / (double) burst_ns;
        ret->slowdown_p95 = (double) ret->p95_ns / (double) burst_ns;
        ret->slowdown_max = (double) ret->max_ns / (double) burst_ns;
}
