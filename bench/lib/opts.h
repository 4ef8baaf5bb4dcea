/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* A duration: a non-negative decimal number with an optional unit
 * (ns, us, ms, s, m, h).  A bare number is in default_unit_ns.
 * "10ms", "1.5s", "250us", "0.5" (with seconds as default).
 * Returns 0, -EINVAL (not a number, unknown unit), -ERANGE (too large). */
int parse_duration(const char *s, uint64_t default_unit_ns, uint64_t *ret);

/* A byte size: "512", "4K", "256M", "1G" (K/M/G/T, also KiB/MiB/GiB/TiB). */
int parse_bytes(const char *s, uint64_t *ret);

/* A plain non-negative integer, optionally with k/M/G decimal multipliers
 * ("10M" = 10,000,000) for loop counts. */
int parse_count(const char *s, uint64_t *ret);

/* Format a duration for humans ("12.345 ms") into buf. */
const char *format_ns(char *buf, unsigned len, double ns);
