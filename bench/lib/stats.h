/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Latency statistics: running count/min/max/mean/variance (Welford), a
 * histogram of fixed-width buckets with an overflow count, and optionally
 * every sample for exact percentiles.
 *
 * Percentiles use the nearest-rank definition: the p-th percentile of n
 * sorted samples is the sample of rank ceil(p/100 * n) (1-based).  When the
 * samples are not all kept, the rank is located in the histogram and the
 * bucket's upper edge is returned (never more than the observed max); a rank
 * that falls among the overflowed samples returns the max. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Hist {
        uint64_t width_ns;      /* bucket width */
        size_t nbuckets;        /* range = width_ns * nbuckets */
        uint64_t *counts;
        uint64_t overflow;      /* samples >= range */
        bool shared;            /* counts live in a MAP_SHARED mapping */
} Hist;

typedef struct LatStats {
        uint64_t count, min, max;
        double mean, m2;
        Hist hist;
        uint64_t *samples;      /* NULL when not kept */
        size_t nsamples, cap;
        bool samples_dropped;   /* more than cap samples arrived */
        bool sorted;
} LatStats;

/* range_ns is rounded up to a multiple of width_ns.  sample_cap 0 keeps no
 * samples; otherwise up to sample_cap are kept (allocated up front, so that
 * recording never allocates).  shared puts the struct's buffers in MAP_SHARED
 * memory so that forked children can record into them.
 * Returns 0 or -ENOMEM / -EINVAL. */
int lat_init(LatStats *s, uint64_t width_ns, uint64_t range_ns, size_t sample_cap, bool shared);
void lat_free(LatStats *s);
void lat_add(LatStats *s, uint64_t ns);
/* Merge the summary and histogram of `from` (samples are not merged: the
 * result then answers percentiles from the histogram). */
void lat_merge(LatStats *into, const LatStats *from);
double lat_stddev(const LatStats *s);
/* Exact when every sample was kept, else from the histogram.  0 if empty. */
uint64_t lat_percentile(LatStats *s, double p);
bool lat_percentiles_exact(const LatStats *s);
/* Histogram-only percentile (exposed for the tests). */
uint64_t hist_percentile(const Hist *h, uint64_t count, uint64_t max, double p);

/* Summary of a small set of values (repetitions). */
typedef struct Summary {
        size_t n;
        double min, max, mean, stddev, median;
} Summary;
void summarize(const double *v, size_t n, Summary *ret);

double xv_sqrt(double x);
/* Nearest-rank index (0-based) of percentile p among n samples. */
size_t percentile_rank(size_t n, double p);
