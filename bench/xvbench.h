/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The xvbench program: one binary, one workload per file, a descriptor table
 * built from the X-macro list below, and a shared context (Bench) that holds
 * the common options and routes every result through one output writer:
 * readable text by default, strictly valid JSON with --json. */

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "lib/json.h"
#include "lib/stats.h"
#include "lib/tsc.h"

/* Exit statuses. */
enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,          /* the run failed (environment, I/O, ...) */
        EXIT_USAGE = 2,         /* bad command line */
        EXIT_LATENCY = 3,       /* --max-latency was exceeded */
};

typedef struct Bench Bench;
typedef int (*workload_run_t)(Bench *b, int argc, char **argv);

/* name, one-line summary.  Each workload NAME lives in bench/NAME.c and
 * defines wl_NAME_run() and wl_NAME_usage[]. */
#define XVBENCH_WORKLOADS(X)                                                                     \
        X(prime, "test every integer up to --max for primality, print the primes (paper 000)")    \
        X(regs, "register increments timed with the TSC (paper 001)")                             \
        X(memcpy, "memcpy() of 256K/512K/1M buffers timed with the TSC (paper 001)")              \
        X(randread, "lseek() to a random offset + read(), timed with the TSC (paper 001)")        \
        X(timer, "timer wake-up latency: periodic, one-shot or absolute (papers 003, 004)")       \
        X(rr, "TCP request/response: transactions/s and latency, ack mode (paper 003)")           \
        X(stones, "Dhrystone-style integer/string/record loop, iterations/s (paper 003)")         \
        X(memstride, "time to write a buffer at a stride (paper 003)")                            \
        X(load, "load generators: cpu vm io hdd kernel files udp (papers 003, 004)")              \
        X(burst, "sleep, then a short CPU burst: response and slowdown per burst length (paper 002)")

#define X(n, s)                                                                                   \
        int wl_##n##_run(Bench *b, int argc, char **argv);                                        \
        extern const char wl_##n##_usage[];
XVBENCH_WORKLOADS(X)
#undef X

typedef struct Workload {
        const char *name;
        const char *summary;
        const char *usage;
        workload_run_t run;
} Workload;

const Workload *workload_find(const char *name);
extern const Workload workloads[];
extern const size_t n_workloads;

struct Bench {
        const Workload *wl;
        int argc;
        char **argv;            /* the whole command line, for the envelope */

        /* common options */
        const char *json_path;  /* NULL: text output; "-": JSON on stdout */
        uint64_t max_latency_ns;        /* 0: no limit */
        uint64_t hist_range_ns;
        unsigned warmup;
        bool warmup_set;
        bool quiet;

        bool max_latency_exceeded;

        /* output */
        FILE *out;
        bool out_close;
        Json j;
        int text_depth;

        /* envelope */
        struct timespec start_rt, end_rt;
        uint64_t start_mono, end_mono;
        bool started, stopped;
        TscInfo tsc;
        bool tsc_ok;
};

/* Common long options share these codes; workload options use >= 0x200. */
enum {
        OPT_JSON = 0x100,
        OPT_MAX_LATENCY,
        OPT_HIST_RANGE,
        OPT_WARMUP,
        OPT_QUIET,
        OPT_HELP,
        OPT_WL = 0x200,
};

/* getopt_long over the workload's options plus the common ones, which it
 * handles itself.  Returns a workload option code, -1 at the end, or
 * -EXIT_USAGE after printing one line (unknown option, missing argument,
 * bad common value); OPT_HELP after printing the usage. */
int bench_getopt(Bench *b, int argc, char **argv, const struct option *wl_opts);

/* Print one error line "xvbench: error: WORKLOAD: ..." and return the status. */
int bench_usage(Bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int bench_fail(Bench *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void bench_warn(Bench *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Option value helpers: print one line naming the option on error and
 * return -EXIT_USAGE; else 0. */
int opt_duration(Bench *b, const char *opt, const char *s, uint64_t default_unit_ns, uint64_t *ret);
int opt_bytes(Bench *b, const char *opt, const char *s, uint64_t *ret);
int opt_count(Bench *b, const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int opt_int(Bench *b, const char *opt, const char *s, int min, int max, int *ret);

/* Open the output (after option parsing, before measuring, so that an
 * unwritable file fails at once).  Returns 0 or an exit status. */
int bench_open_output(Bench *b);
/* Calibrate the TSC (once); returns 0 or an exit status. */
int bench_need_tsc(Bench *b);
void bench_start(Bench *b);
void bench_stop(Bench *b);
unsigned bench_warmup(const Bench *b, unsigned dflt);

/* The report: envelope, then sections.  report_end() returns the exit status
 * (EXIT_LATENCY when a latency exceeded --max-latency). */
void report_begin(Bench *b);
int report_end(Bench *b);

void out_begin(Bench *b, const char *key);
void out_end(Bench *b);
void out_list_begin(Bench *b, const char *key);     /* array of objects */
void out_list_end(Bench *b);
void out_item_begin(Bench *b);
void out_item_end(Bench *b);
void out_u64(Bench *b, const char *key, uint64_t v);
void out_i64(Bench *b, const char *key, int64_t v);
void out_double(Bench *b, const char *key, double v);
void out_str(Bench *b, const char *key, const char *v);
void out_bool(Bench *b, const char *key, bool v);
void out_u64_array(Bench *b, const char *key, const uint64_t *v, size_t n);
/* A latency distribution (key_suffix-less object: "count", "min_ns", ...,
 * "histogram").  Also checks --max-latency. */
void out_latency(Bench *b, const char *key, LatStats *s);
/* The same without the --max-latency check (intervals, not latencies). */
void out_distribution(Bench *b, const char *key, LatStats *s);
/* Summary of repetitions; unit is the key suffix ("ns", "mib_per_s"). */
void out_summary(Bench *b, const char *key, const Summary *s, const char *unit);
