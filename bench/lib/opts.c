/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/parse.h"
#include "lib/clock.h"
#include "lib/opts.h"

int parse_duration(const char *s, uint64_t default_unit_ns, uint64_t *ret) {
        static const struct { const char *unit; uint64_t ns; } units[] = {
                { "ns", 1 }, { "us", NSEC_PER_USEC }, { "ms", NSEC_PER_MSEC },
                { "s", NSEC_PER_SEC }, { "m", 60 * NSEC_PER_SEC }, { "h", 3600 * NSEC_PER_SEC },
        };
        if (!s || !(isdigit((unsigned char) *s) || (*s == '.' && isdigit((unsigned char) s[1]))))
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno == ERANGE || !isfinite(v) || v < 0)
                return -ERANGE;
        /* strtod accepts hex and exponents; a duration is plain decimal. */
        for (const char *p = s; p < end; p++)
                if (!isdigit((unsigned char) *p) && *p != '.')
                        return -EINVAL;
        uint64_t unit = 0;
        if (*end == 0)
                unit = default_unit_ns;
        else
                for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
                        if (strcmp(end, units[i].unit) == 0)
                                unit = units[i].ns;
        if (unit == 0)
                return -EINVAL;
        double ns = v * (double) unit;
        if (ns >= 1.8e19)
                return -ERANGE;
        *ret = (uint64_t) (ns + 0.5);
        return 0;
}

int parse_bytes(const char *s, uint64_t *ret) {
        return parse_size(s, ret);
}

int parse_count(const char *s, uint64_t *ret) {
        static const struct { const char *suffix; uint64_t f; } mult[] = {
                { "", 1 }, { "k", 1000 }, { "K", 1000 }, { "M", 1000000 }, { "G", 1000000000 },
        };
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++)
                if (strcmp(end, mult[i].suffix) == 0) {
                        if (v > UINT64_MAX / mult[i].f)
                                return -ERANGE;
                        *ret = v * mult[i].f;
                        return 0;
                }
        return -EINVAL;
}

const char *format_ns(char *buf, unsigned len, double ns) {
        if (ns < 10e3)
                snprintf(buf, len, "%.0f ns", ns);
        else if (ns < 10e6)
                snprintf(buf, len, "%.3f us", ns / 1e3);
        else if (ns < 10e9)
                snprintf(buf, len, "%.3f ms", ns / 1e6);
        else
                snprintf(buf, len, "%.3f s", ns / 1e9);
        return buf;
}
