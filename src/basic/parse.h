/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict number parsers: the whole string must be a number (surrounding
 * whitespace allowed), no overflow.  Return 0 or -EINVAL / -ERANGE. */
int safe_atoi64(const char *s, int64_t *ret);
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi(const char *s, int *ret);
int safe_atou(const char *s, unsigned *ret);
int safe_atod(const char *s, double *ret);

/* A CPU (or memory node) list as the kernel writes it: "0-3,8,10-11".
 * Bits are returned in a uint64_t array of `words` words (max CPU = 64*words-1).
 * Empty string means the empty set.  -EINVAL on garbage, -ERANGE past the max. */
#define CPUSET_WORDS 16   /* 1024 CPUs */
typedef struct CpuSet {
        uint64_t bits[CPUSET_WORDS];
} CpuSet;

int cpuset_parse(const char *s, CpuSet *ret);
/* Format as a canonical kernel list ("0-3,8").  Returns a malloc'd string or NULL. */
char *cpuset_format(const CpuSet *set);
bool cpuset_isset(const CpuSet *set, unsigned cpu);
void cpuset_set(CpuSet *set, unsigned cpu);
unsigned cpuset_count(const CpuSet *set);
bool cpuset_equal(const CpuSet *a, const CpuSet *b);

/* Sizes with binary suffixes: "512", "4K", "256M", "1G", "1T" (also KiB/MiB/GiB). */
int parse_size(const char *s, uint64_t *ret);

/* A duration in seconds: "5", "5s", "500ms", "1.5s", "2m", "250us" (plain
 * decimal, non-negative); a bare number is in units of `bare_unit_s` seconds
 * (1 for seconds, 0.001 for milliseconds).  -EINVAL on garbage, -ERANGE
 * above 1e9 s.  (bench/lib/opts.c has an integer-nanosecond twin.) */
int parse_seconds(const char *s, double bare_unit_s, double *ret);

/* Drop leading/trailing whitespace in place; returns s. */
char *strstrip(char *s);
