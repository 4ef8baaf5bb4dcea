/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/stats.h"

double xv_sqrt(double x) {
        /* Newton's method; avoids pulling libm into the static binary. */
        if (!(x > 0))
                return 0;
        /* Start above the root: the iterates then decrease monotonically
         * until rounding stops them. */
        double r = x >= 1 ? x : 1;
        for (int i = 0; i < 2000; i++) {
                double n = 0.5 * (r + x / r);
                if (n >= r)
                        break;
                r = n;
        }
        return r;
}

size_t percentile_rank(size_t n, double p) {
        if (n == 0)
                return 0;
        if (p <= 0)
                return 0;
        if (p >= 100)
                return n - 1;
        /* ceil(p/100 * n) without floating-point surprises at exact ranks
         * (p = 99.9 over 1000 samples is rank 999, not 1000). */
        double x = p * (double) n / 100.0;
        size_t r = (size_t) x;
        if ((double) r < x - 1e-9)
                r++;
        if (r < 1)
                r = 1;
        if (r > n)
                r = n;
        return r - 1;
}

static void *alloc_buf(size_t bytes, bool shared) {
        if (bytes == 0)
                bytes = 1;
        if (!shared)
                return calloc(1, bytes);
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
}

static void free_buf(void *p, size_t bytes, bool shared) {
        if (!p)
                return;
        if (shared)
                munmap(p, bytes ? bytes : 1);
        else
                free(p);
}

int lat_init(LatStats *s, uint64_t width_ns, uint64_t range_ns, size_t sample_cap, bool shared) {
        if (width_ns == 0 || range_ns == 0)
                return -EINVAL;
        uint64_t nb = (range_ns + width_ns - 1) / width_ns;
        if (nb > (1u << 26))
                return -EINVAL;
        *s = (LatStats) { .min = UINT64_MAX };
        s->hist = (Hist) { .width_ns = width_ns, .nbuckets = nb, .shared = shared };
        s->hist.counts = alloc_buf(nb * sizeof(uint64_t), shared);
        if (!s->hist.counts)
                return -ENOMEM;
        if (sample_cap > 0) {
                s->samples = alloc_buf(sample_cap * sizeof(uint64_t), shared);
                if (!s->samples) {
                        free_buf(s->hist.counts, nb * sizeof(uint64_t), shared);
                        s->hist.counts = NULL;
                        return -ENOMEM;
                }
                /* Touch now so that recording does not fault. */
                memset(s->samples, 0, sample_cap * sizeof(uint64_t));
                s->cap = sample_cap;
        }
        return 0;
}

void lat_free(LatStats *s) {
        free_buf(s->hist.counts, s->hist.nbuckets * sizeof(uint64_t), s->hist.shared);
        free_buf(s->samples, s->cap * sizeof(uint64_t), s->hist.shared);
        s->hist.counts = NULL;
        s->samples = NULL;
}

void lat_add(LatStats *s, uint64_t ns) {
        s->count++;
        if (ns < s->min)
                s->min = ns;
        if (ns > s->max)
                s->max = ns;
        double d = (double) ns - s->mean;
        s->mean += d / (double) s->count;
        s->m2 += d * ((double) ns - s->mean);

        uint64_t b = ns / s->hist.width_ns;
        if (b >= s->hist.nbuckets)
                s->hist.overflow++;
        else
                s->hist.counts[b]++;

        if (s->nsamples < s->cap) {
                s->samples[s->nsamples++] = ns;
                s->sorted = false;
        } else
                s->samples_dropped = true;
}

void lat_merge(LatStats *into, const LatStats *from) {
        if (from->count == 0)
                return;
        /* Chan et al.'s parallel variance combination. */
        double na = (double) into->count, nb = (double) from->count, n = na + nb;
        double d = from->mean - into->mean;
        into->m2 += from->m2 + d * d * na * nb / n;
        into->mean += d * nb / n;
        into->count += from->count;
        into->min = into->min < from->min ? into->min : from->min;
        into->max = into->max > from->max ? into->max : from->max;

        size_t nbk = into->hist.nbuckets < from->hist.nbuckets ? into->hist.nbuckets : from->hist.nbuckets;
        for (size_t i = 0; i < nbk; i++)
                into->hist.counts[i] += from->hist.counts[i];
        for (size_t i = nbk; i < from->hist.nbuckets; i++)
                into->hist.overflow += from->hist.counts[i];
        into->hist.overflow += from->hist.overflow;
        into->samples_dropped = true;
}

double lat_stddev(const LatStats *s) {
        if (s->count < 2)
                return 0;
        return xv_sqrt(s->m2 / (double) s->count);
}

bool lat_percentiles_exact(const LatStats *s) {
        return s->cap > 0 && !s->samples_dropped && s->nsamples == s->count;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

uint64_t hist_percentile(const Hist *h, uint64_t count, uint64_t max, double p) {
        if (count == 0)
                return 0;
        uint64_t rank = (uint64_t) percentile_rank((size_t) count, p) + 1;
        uint64_t cum = 0;
        for (size_t i = 0; i < h->nbuckets; i++) {
                cum += h->counts[i];
                if (cum >= rank) {
                        uint64_t upper = (uint64_t) (i + 1) * h->width_ns;
                        return upper < max ? upper : max;
                }
        }
        return max;
}

uint64_t lat_percentile(LatStats *s, double p) {
        if (s->count == 0)
                return 0;
        if (!lat_percentiles_exact(s))
                return hist_percentile(&s->hist, s->count, s->max, p);
        if (!s->sorted) {
                qsort(s->samples, s->nsamples, sizeof(uint64_t), cmp_u64);
                s->sorted = true;
        }
        return s->samples[percentile_rank(s->nsamples, p)];
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

void summarize(const double *v, size_t n, Summary *ret) {
        Summary s = { .n = n };
        if (n == 0) {
                *ret = s;
                return;
        }
        double *t = malloc(n * sizeof(double));
        s.min = s.max = v[0];
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
                sum += v[i];
                if (v[i] < s.min)
                        s.min = v[i];
                if (v[i] > s.max)
                        s.max = v[i];
        }
        s.mean = sum / (double) n;
        double ss = 0;
        for (size_t i = 0; i < n; i++)
                ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.stddev = n > 1 ? xv_sqrt(ss / (double) (n - 1)) : 0;
        if (t) {
                memcpy(t, v, n * sizeof(double));
                qsort(t, n, sizeof(double), cmp_double);
                s.median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
                free(t);
        } else
                s.median = s.mean;
        *ret = s;
}
