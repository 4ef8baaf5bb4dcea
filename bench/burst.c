/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst: a short-running process (paper 002 §5.5): sleep, then use a
 * little CPU, again and again; how long does each burst take from its
 * wake-up on?
 *
 * Each cycle runs every --burst length once, in the order given:
 *   next = now + sleep; clock_nanosleep(TIMER_ABSTIME, next);
 *   burst; end = now;
 *   response = end - next   (from the wake-up the process asked for, so
 *                            a late wake-up counts; reported apart too)
 *   slowdown = response / burst
 *
 * What a burst is (--measure):
 *   work     a fixed amount of work: the number of work units that take
 *            the burst length on this CPU, calibrated at the start as the
 *            fastest of CALIB_CHUNKS chunks timed with the thread's own
 *            CPU clock.  Preemption, by another process of the same
 *            kernel or by the host's other VMs (which a guest's clocks
 *            cannot see), makes it take longer; it never shortens it.
 *   cputime  spin until the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID)
 *            has advanced by the burst: preemption inside the same
 *            kernel does not shorten it, but in a guest the CPU clock
 *            also runs while the host runs another VM, so there this
 *            measures less work under contention.
 * The CPU time each burst took (thread clock) is reported as well. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "lib/burst.h"
#include "lib/clock.h"
#include "xvbench.h"

const char wl_burst_usage[] =
        "Usage: xvbench burst [--burst T[,T...]] [--sleep T] [--loops N | --duration D]\n"
        "                     [--measure work|cputime] [common options]\n"
        "\n"
        "A short-running process (paper 002 section 5.5): sleep, then use a little\n"
        "CPU; report the response (wake-up to end of the burst) and the slowdown\n"
        "(response / burst) per burst length.\n"
        "  --burst T,...  CPU burst length(s); each cycle runs each once, in order\n"
        "                 (default 10ms; bare number: ms; at most 16, each <= 10s)\n"
        "  --sleep T      sleep before each burst (default 100ms; bare number: ms)\n"
        "  --loops N      N cycles (default 50), or\n"
        "  --duration D   cycles until D has passed (bare number: s)\n"
        "  --measure M    work: a fixed amount of work calibrated to take T on this\n"
        "                 CPU (default; host preemption of a guest lengthens it);\n"
        "                 cputime: until the thread's CPU clock advanced by T\n"
        "  --warmup N     cycles excluded at the start (default 1)\n";

enum { OPT_BURST = OPT_WL, OPT_SLEEP, OPT_LOOPS, OPT_DURATION, OPT_MEASURE };

#define MAX_BURSTS 16
#define MAX_CYCLES 100000u
#define MAX_BURST_NS (10 * NSEC_PER_SEC)
#define CALIB_CHUNKS 30
#define CALIB_CHUNK_NS NSEC_PER_MSEC

typedef struct BurstParam {
        uint64_t burst_ns[MAX_BURSTS];
        size_t n_bursts;
        uint64_t sleep_ns, loops, duration_ns;
        bool cputime;
        unsigned warmup;
} BurstParam;

typedef struct BurstLen {
        uint64_t units;         /* work mode: units per burst */
        uint64_t *resp, *cpu;   /* per recorded cycle */
        size_t n;
        LatStats response, wake;
} BurstLen;

static volatile uint64_t sink;

/* One unit: 256 rounds of an LCG with a shift (no memory traffic). */
static void work(uint64_t units) {
        uint64_t x = sink | 1;
        for (uint64_t u = 0; u < units; u++)
                for (int i = 0; i < 256; i++) {
                        x = x * 6364136223846793005ull + 1442695040888963407ull;
                        x ^= x >> 29;
                }
        sink = x;
}

static void spin_cputime(uint64_t ns) {
        uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        do
                work(4);
        while (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0 < ns);
}

/* Units per chunk (a chunk takes >= CALIB_CHUNK_NS), and the fastest of
 * CALIB_CHUNKS chunks, by the thread's CPU clock. */
static void calibrate(uint64_t *ret_units, uint64_t *ret_best) {
        uint64_t units = 16, t;
        for (;;) {
                uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
                work(units);
                t = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
                if (t >= CALIB_CHUNK_NS || units >= (UINT64_C(1) << 40))
                        break;
                units *= 2;
        }
        uint64_t best = t;
        for (int i = 0; i < CALIB_CHUNKS; i++) {
                uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
                work(units);
                t = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
                if (t > 0 && t < best)
                        best = t;
        }
        *ret_units = units;
        *ret_best = best ? best : 1;
}

static int run_cycles(Bench *b, const BurstParam *p, BurstLen *bl, size_t cap, uint64_t *ret_cycles) {
        uint64_t cycles = 0;
        bench_start(b);
        uint64_t deadline = p->duration_ns ? b->start_mono + p->duration_ns : UINT64_MAX;
        for (;;) {
                for (size_t i = 0; i < p->n_bursts; i++) {
                        uint64_t next = now_ns(CLOCK_MONOTONIC) + p->sleep_ns;
                        struct timespec ts = ns_to_ts(next);
                        int r;
                        while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
                                ;
                        if (r != 0)
                                return -r;
                        uint64_t woke = now_ns(CLOCK_MONOTONIC);
                        uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
                        if (p->cputime)
                                spin_cputime(p->burst_ns[i]);
                        else
                                work(bl[i].units);
                        uint64_t end = now_ns(CLOCK_MONOTONIC);
                        uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
                        if (cycles < p->warmup)
                                continue;
                        BurstLen *l = &bl[i];
                        if (l->n < cap) {
                                l->resp[l->n] = end - next;
                                l->cpu[l->n] = c1 - c0;
                                l->n++;
                        }
                        lat_add(&l->response, end - next);
                        lat_add(&l->wake, woke > next ? woke - next : 0);
                }
                cycles++;
                if (p->duration_ns ? now_ns(CLOCK_MONOTONIC) >= deadline || cycles >= cap + p->warmup
                                   : cycles >= p->loops + p->warmup)
                        break;
        }
        bench_stop(b);
        *ret_cycles = cycles;
        return 0;
}

int wl_burst_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "burst", required_argument, NULL, OPT_BURST },
                { "sleep", required_argument, NULL, OPT_SLEEP },
                { "loops", required_argument, NULL, OPT_LOOPS },
                { "duration", required_argument, NULL, OPT_DURATION },
                { "measure", required_argument, NULL, OPT_MEASURE },
                {}
        };
        BurstParam p = { .burst_ns = { 10 * NSEC_PER_MSEC }, .n_bursts = 1, .sleep_ns = 100 * NSEC_PER_MSEC,
                         .loops = 50 };
        bool have_loops = false;
        int c, r;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_BURST:
                        r = burst_parse_list(optarg, NSEC_PER_MSEC, p.burst_ns, MAX_BURSTS);
                        if (r < 0)
                                return bench_usage(b, "invalid --burst '%s' (up to %d positive durations, "
                                                      "comma-separated; bare = ms)", optarg, MAX_BURSTS);
                        p.n_bursts = (size_t) r;
                        for (size_t i = 0; i < p.n_bursts; i++)
                                if (p.burst_ns[i] > MAX_BURST_NS)
                                        return bench_usage(b, "--burst: each length must be at most 10s");
                        break;
                case OPT_SLEEP:
                        if (opt_duration(b, "sleep", optarg, NSEC_PER_MSEC, &p.sleep_ns) < 0)
                                return EXIT_USAGE;
                        if (p.sleep_ns > 60 * NSEC_PER_SEC)
                                return bench_usage(b, "--sleep must be at most 60s");
                        break;
                case OPT_LOOPS:
                        if (opt_count(b, "loops", optarg, 1, MAX_CYCLES, &p.loops) < 0)
                                return EXIT_USAGE;
                        have_loops = true;
                        break;
                case OPT_DURATION:
                        if (opt_duration(b, "duration", optarg, NSEC_PER_SEC, &p.duration_ns) < 0)
                                return EXIT_USAGE;
                        if (p.duration_ns == 0)
                                return bench_usage(b, "--duration must be positive");
                        break;
                case OPT_MEASURE:
                        if (streq(optarg, "work"))
                                p.cputime = false;
                        else if (streq(optarg, "cputime"))
                                p.cputime = true;
                        else
                                return bench_usage(b, "unknown --measure '%s' (work or cputime)", optarg);
                        break;
                }
        }
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        if (have_loops && p.duration_ns)
                return bench_usage(b, "--duration and --loops exclude each other");
        p.warmup = bench_warmup(b, 1);
        if (p.warmup > MAX_CYCLES)
                return bench_usage(b, "--warmup must be at most %u", MAX_CYCLES);

        /* Samples kept: every recorded cycle (a --duration run stops when
         * they are full). */
        uint64_t min_cycle = p.sleep_ns;
        for (size_t i = 0; i < p.n_bursts; i++)
                min_cycle += p.burst_ns[i];
        size_t cap = p.duration_ns ? (size_t) MIN((uint64_t) MAX_CYCLES, p.duration_ns / min_cycle + 1)
                                   : (size_t) p.loops;
        r = bench_open_output(b);
        if (r)
                return r;

        BurstLen bl[MAX_BURSTS] = {};
        int ret = EXIT_FAIL;
        for (size_t i = 0; i < p.n_bursts; i++) {
                bl[i].resp = calloc(cap, sizeof(uint64_t));
                bl[i].cpu = calloc(cap, sizeof(uint64_t));
                if (!bl[i].resp || !bl[i].cpu ||
                    lat_init(&bl[i].response, NSEC_PER_USEC, b->hist_range_ns, 0, false) < 0 ||
                    lat_init(&bl[i].wake, NSEC_PER_USEC, b->hist_range_ns, 0, false) < 0) {
                        ret = bench_fail(b, ENOMEM, "cannot allocate the statistics");
                        goto out;
                }
        }

        uint64_t calib_units = 0, calib_best = 0;
        if (!p.cputime) {
                calibrate(&calib_units, &calib_best);
                for (size_t i = 0; i < p.n_bursts; i++)
                        bl[i].units = burst_units(p.burst_ns[i], calib_units, calib_best);
        }

        uint64_t cycles = 0;
        r = run_cycles(b, &p, bl, cap, &cycles);
        if (r < 0) {
                ret = bench_fail(b, r, "sleep failed");
                goto out;
        }

        report_begin(b);
        out_begin(b, "params");
        out_u64_array(b, "burst_ns", p.burst_ns, p.n_bursts);
        out_u64(b, "sleep_ns", p.sleep_ns);
        if (p.duration_ns)
                out_u64(b, "duration_ns", p.duration_ns);
        else
                out_u64(b, "loops", p.loops);
        out_str(b, "measure", p.cputime ? "cputime" : "work");
        out_u64(b, "warmup", p.warmup);
        out_end(b);
        out_begin(b, "results");
        out_u64(b, "cycles", cycles);
        if (!p.cputime) {
                out_begin(b, "calibration");
                out_u64(b, "chunk_units", calib_units);
                out_u64(b, "best_chunk_ns", calib_best);
                out_double(b, "units_per_ms", (double) calib_units * 1e6 / (double) calib_best);
                out_end(b);
        }
        out_list_begin(b, "bursts");
        for (size_t i = 0; i < p.n_bursts; i++) {
                BurstLen *l = &bl[i];
                BurstSummary cpu, s;
                burst_summarize(l->cpu, l->n, p.burst_ns[i], &cpu);
                burst_summarize(l->resp, l->n, p.burst_ns[i], &s);
                out_item_begin(b);
                out_u64(b, "burst_ns", p.burst_ns[i]);
                if (!p.cputime)
                        out_u64(b, "work_units", l->units);
                out_u64(b, "count", s.n);
                out_u64(b, "response_median_ns", s.median_ns);
                out_u64(b, "response_p95_ns", s.p95_ns);
                out_u64(b, "response_max_ns", s.max_ns);
                out_double(b, "slowdown_median", s.slowdown_median);
                out_double(b, "slowdown_p95", s.slowdown_p95);
                out_double(b, "slowdown_max", s.slowdown_max);
                out_u64(b, "cpu_median_ns", cpu.median_ns);
                out_latency(b, "response", &l->response);
                out_distribution(b, "wake_latency", &l->wake);
                out_item_end(b);
        }
        out_list_end(b);
        out_end(b);
        ret = report_end(b);
out:
        for (size_t i = 0; i < p.n_bursts; i++) {
                free(bl[i].resp);
                free(bl[i].cpu);
                lat_free(&bl[i].response);
                lat_free(&bl[i].wake);
        }
        return ret;
}
