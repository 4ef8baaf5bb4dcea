/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Time-stamp counter: fenced reads and calibration against CLOCK_MONOTONIC.
 *
 * tsc_begin()/tsc_end() follow Intel's "How to benchmark code execution
 * times" recipe, with LFENCE instead of CPUID (CPUID always exits to the
 * hypervisor, which would dominate short measurements inside a guest):
 *   begin: RDTSCP; LFENCE   (RDTSCP waits for earlier instructions, LFENCE
 *                            keeps later ones from starting before the read)
 *   end:   RDTSCP; LFENCE
 * RDTSCP also returns IA32_TSC_AUX, which Linux sets to (node << 12 | cpu):
 * comparing it between begin and end detects a migration.  CPUs (or TCG
 * CPU models) without RDTSCP fall back to LFENCE; RDTSC; LFENCE and
 * sched_getcpu(). */

#include <stdbool.h>
#include <stdint.h>

typedef struct TscInfo {
        uint64_t hz;            /* calibrated frequency */
        bool have_rdtscp;
        bool invariant;         /* CPUID 0x80000007 EDX bit 8 */
        uint64_t calib_ns;      /* how long the calibration ran */
        unsigned calib_rounds;
        uint64_t spread_ppm;    /* (max - min) / median of the rounds */
} TscInfo;

extern bool tsc_use_rdtscp;

static inline uint64_t tsc_rdtscp(unsigned *ret_cpu) {
        uint32_t lo, hi, aux;
        __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
        if (ret_cpu)
                *ret_cpu = aux & 0xfff;
        return ((uint64_t) hi << 32) | lo;
}

static inline uint64_t tsc_rdtsc_fenced(void) {
        uint32_t lo, hi;
        __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
        return ((uint64_t) hi << 32) | lo;
}

/* Read the TSC and the current CPU.  Cheap when RDTSCP exists. */
uint64_t tsc_read_cpu(unsigned *ret_cpu);

static inline uint64_t tsc_begin(unsigned *ret_cpu) {
        return tsc_read_cpu(ret_cpu);
}
static inline uint64_t tsc_end(unsigned *ret_cpu) {
        return tsc_read_cpu(ret_cpu);
}

/* Fill *ret with the CPU features (RDTSCP, invariant TSC) and a frequency
 * measured over about duration_ns: the median of several rounds, each taking
 * TSC and CLOCK_MONOTONIC readings at both ends with the tightest bracket.
 * Returns 0, or -ENOTSUP when the CPU has no TSC, -EIO if it does not tick. */
int tsc_calibrate(TscInfo *ret, uint64_t duration_ns);

/* Probe CPU features only (no calibration); hz is set from the argument. */
void tsc_info_init(TscInfo *ret, uint64_t hz);

/* cycles -> ns, rounded to nearest; exact for any 64-bit cycle count. */
uint64_t tsc_cycles_to_ns(uint64_t cycles, uint64_t hz);
/* ns -> cycles, rounded to nearest. */
uint64_t tsc_ns_to_cycles(uint64_t ns, uint64_t hz);
