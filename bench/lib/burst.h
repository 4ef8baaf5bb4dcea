/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The burst workload's pure parts (paper 002 §5.5): the list of burst
 * lengths, the calibration arithmetic and the summary of the responses. */

#include <stddef.h>
#include <stdint.h>

/* "5ms,10ms,20ms,50ms" -> up to max positive durations (a bare number is
 * in default_unit_ns).  Returns how many (>= 1), -EINVAL (an empty item, a
 * bad number or unit, zero) or -ERANGE (more than max, or too large). */
int burst_parse_list(const char *s, uint64_t default_unit_ns, uint64_t *ret, size_t max);

/* Work units that take burst_ns at the calibrated speed: `units` took
 * best_ns.  At least 1; saturates instead of overflowing; 0 if the
 * calibration is empty (units or best_ns 0). */
uint64_t burst_units(uint64_t burst_ns, uint64_t units, uint64_t best_ns);

typedef struct BurstSummary {
        size_t n;
        uint64_t median_ns, p95_ns, max_ns;     /* response, nearest rank */
        double slowdown_median, slowdown_p95, slowdown_max;     /* response / burst */
} BurstSummary;

/* Sorts resp[0..n) in place.  n == 0 (or burst_ns == 0 for the slowdowns)
 * gives zeros. */
void burst_summarize(uint64_t *resp, size_t n, uint64_t burst_ns, BurstSummary *ret);
