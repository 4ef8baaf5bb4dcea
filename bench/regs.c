/* SPDX-License-Identifier: GPL-2.0-or-later */
/* regs: M register increments per repetition (paper 001, L:M:N = 0:1:0).
 * Pure register work never exits to the hypervisor, so a guest should match
 * the host: that is the paper's point. */
#include "lib/clock.h"
#include "reps.h"

const char wl_regs_usage[] =
        "Usage: xvbench regs [--loops M] [--reps R] [common options]\n"
        "\n"
        "Increment a register M times per repetition, timed with the TSC.\n"
        "  --loops M   increments per repetition (default 100M; k/M/G allowed)\n"
        "  --reps R    repetitions, each kept (default 10)\n"
        "  --warmup N  discarded repetitions before (default 1)\n";

enum { OPT_LOOPS = OPT_WL, OPT_REPS };

static int regs_body(void *userdata) {
        uint64_t m = *(const uint64_t *) userdata, r = 0;
        /* Two registers, no memory: inc the counter, dec the trip count. */
        __asm__ volatile("1:\n\t"
                         "inc %0\n\t"
                         "dec %1\n\t"
                         "jnz 1b"
                         : "+r"(r), "+r"(m));
        return r == 0 ? -1 : 0;
}

int wl_regs_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "loops", required_argument, NULL, OPT_LOOPS },
                { "reps", required_argument, NULL, OPT_REPS },
                {}
        };
        uint64_t loops = 100000000, reps = 10;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_LOOPS:
                        if (opt_count(b, "loops", optarg, 1, UINT64_MAX / 2, &loops) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_REPS:
                        if (opt_count(b, "reps", optarg, 1, 100000, &reps) < 0)
                                return EXIT_USAGE;
                        break;
                }
        }
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        int r = bench_open_output(b);
        if (r)
                return r;
        if ((r = bench_need_tsc(b)))
                return r;

        RepRun run = { .reps = (unsigned) reps, .warmup = bench_warmup(b, 1) };
        bench_start(b);
        r = reps_run(b, &run, regs_body, &loops);
        bench_stop(b);
        if (r < 0) {
                reps_free(&run);
                return bench_fail(b, r, "measurement failed");
        }
        report_begin(b);
        out_begin(b, "params");
        out_u64(b, "loops", loops);
        out_u64(b, "reps", reps);
        out_end(b);
        out_begin(b, "results");
        reps_report(b, &run, loops, 0);
        out_end(b);
        reps_free(&run);
        return report_end(b);
}
