/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Repetitions timed with the TSC (paper 001: every loop repeated 10 times,
 * each value kept).  Warm-up repetitions run first and are discarded. */

#include <stdbool.h>
#include <stdint.h>

#include "xvbench.h"

typedef struct Rep {
        uint64_t cycles;
        uint64_t ns;
        unsigned cpu_begin, cpu_end;
} Rep;

/* One repetition's body.  Returns 0 or -errno. */
typedef int (*rep_fn_t)(void *userdata);

typedef struct RepRun {
        unsigned reps, warmup;
        Rep *rep;               /* reps entries */
        uint64_t warmup_ns;     /* total of the discarded warm-up repetitions */
        unsigned migrations;
} RepRun;

/* Runs warmup + reps repetitions.  Returns 0 or -errno from fn. */
int reps_run(Bench *b, RepRun *run, rep_fn_t fn, void *userdata);
/* "repetitions" list, and summaries: rep_ns; per_op_ns when ops_per_rep > 0;
 * mib_per_s when bytes_per_rep > 0. */
void reps_report(Bench *b, const RepRun *run, uint64_t ops_per_rep, uint64_t bytes_per_rep);
void reps_free(RepRun *run);
