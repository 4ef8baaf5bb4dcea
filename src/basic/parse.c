/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/parse.h"

static bool only_space(const char *p) {
        while (*p && isspace((unsigned char) *p))
                p++;
        return *p == 0;
}

int safe_atoi64(const char *s, int64_t *ret) {
        char *end;
        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (end == s || !only_space(end))
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        char *end;
        if (!s)
                return -EINVAL;
        while (isspace((unsigned char) *s))
                s++;
        if (*s == '-' || !*s)
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (end == s || !only_space(end))
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        int64_t v;
        int r = safe_atoi64(s, &v);
        if (r < 0)
                return r;
        if (v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_seconds(const char *s, double bare_unit_s, double *ret) {
        static const struct { const char *suffix; double s; } units[] = {
                { "us", 1e-6 }, { "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
        };
        if (!s || !(isdigit((unsigned char) *s) || (*s == '.' && isdigit((unsigned char) s[1]))))
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno == ERANGE || !isfinite(v))
                return -ERANGE;
        /* strtod takes hex and exponents; a duration is plain decimal. */
        for (const char *p = s; p < end; p++)
                if (!isdigit((unsigned char) *p) && *p != '.')
                        return -EINVAL;
        double unit = *end ? 0 : bare_unit_s;
        for (size_t i = 0; unit == 0 && i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix))
                        unit = units[i].s;
        if (unit == 0)
                return -EINVAL;
        if (v * unit > 1e9)
                return -ERANGE;
        *ret = v * unit;
        return 0;
}

int safe_atod(const char *s, double *ret) {
        char *end;
        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        double v = strtod(s, &end);
        if (errno == ERANGE)
                return -ERANGE;
        if (end == s || !only_space(end))
                return -EINVAL;
        *ret = v;
        return 0;
}

bool cpuset_isset(const CpuSet *set, unsigned cpu) {
        return cpu < 64 * CPUSET_WORDS && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

void cpuset_set(CpuSet *set, unsigned cpu) {
        if (cpu < 64 * CPUSET_WORDS)
                set->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

unsigned cpuset_count(const CpuSet *set) {
        unsigned n = 0;
        for (size_t i = 0; i < CPUSET_WORDS; i++)
                n += (unsigned) __builtin_popcountll(set->bits[i]);
        return n;
}

bool cpuset_equal(const CpuSet *a, const CpuSet *b) {
        return memcmp(a->bits, b->bits, sizeof a->bits) == 0;
}

static int parse_cpu_number(const char *s, size_t len, unsigned *ret) {
        if (len == 0 || len > 9)
                return -EINVAL;
        unsigned v = 0;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v >= 64 * CPUSET_WORDS)
                return -ERANGE;
        *ret = v;
        return 0;
}

int cpuset_parse(const char *s, CpuSet *ret) {
        CpuSet set = {};
        const char *p = s;

        while (isspace((unsigned char) *p))
                p++;
        while (*p && !only_space(p)) {
                size_t n = strcspn(p, ",\n \t");
                const char *dash = memchr(p, '-', n);
                unsigned lo, hi;
                int r;
                if (dash) {
                        r = parse_cpu_number(p, (size_t) (dash - p), &lo);
                        if (r < 0)
                                return r;
                        r = parse_cpu_number(dash + 1, n - (size_t) (dash - p) - 1, &hi);
                        if (r < 0)
                                return r;
                        if (hi < lo)
                                return -EINVAL;
                } else {
                        r = parse_cpu_number(p, n, &lo);
                        if (r < 0)
                                return r;
                        hi = lo;
                }
                for (unsigned c = lo; c <= hi; c++)
                        cpuset_set(&set, c);
                p += n;
                if (*p == ',') {
                        p++;
                        if (!*p || only_space(p))
                                return -EINVAL; /* trailing comma */
                }
        }
        *ret = set;
        return 0;
}

char *cpuset_format(const CpuSet *set) {
        size_t cap = 16, len = 0;
        char *buf = malloc(cap);
        if (!buf)
                return NULL;
        buf[0] = 0;
        unsigned max = 64 * CPUSET_WORDS;
        for (unsigned c = 0; c < max; c++) {
                if (!cpuset_isset(set, c))
                        continue;
                unsigned e = c;
                while (e + 1 < max && cpuset_isset(set, e + 1))
                        e++;
                char item[32];
                int k = e == c ? snprintf(item, sizeof item, "%s%u", len ? "," : "", c)
                               : snprintf(item, sizeof item, "%s%u-%u", len ? "," : "", c, e);
                if (len + (size_t) k + 1 > cap) {
                        cap = (len + (size_t) k + 1) * 2;
                        char *n = realloc(buf, cap);
                        if (!n) {
                                free(buf);
                                return NULL;
                        }
                        buf = n;
                }
                memcpy(buf + len, item, (size_t) k + 1);
                len += (size_t) k;
                c = e;
        }
        return buf;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct { const char *suffix; uint64_t factor; } table[] = {
                { "",  1 },
                { "B", 1 },
                { "K", UINT64_C(1) << 10 }, { "KiB", UINT64_C(1) << 10 }, { "k", UINT64_C(1) << 10 },
                { "M", UINT64_C(1) << 20 }, { "MiB", UINT64_C(1) << 20 },
                { "G", UINT64_C(1) << 30 }, { "GiB", UINT64_C(1) << 30 },
                { "T", UINT64_C(1) << 40 }, { "TiB", UINT64_C(1) << 40 },
        };
        char *end;
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(end, table[i].suffix)) {
                        if (v > UINT64_MAX / table[i].factor)
                                return -ERANGE;
                        *ret = v * table[i].factor;
                        return 0;
                }
        return -EINVAL;
}

char *strstrip(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}
