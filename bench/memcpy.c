/* SPDX-License-Identifier: GPL-2.0-or-later */
/* memcpy: N copies of a buffer per repetition (paper 001, L:M:N = 0:0:1):
 * 256K/512K/1M, i.e. around the L2/L3 boundary; in a guest the paper saw
 * +20 %, and +67-71 % when two copies ran at once (memory bus). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reps.h"

const char wl_memcpy_usage[] =
        "Usage: xvbench memcpy [--size S] [--loops N] [--reps R] [common options]\n"
        "\n"
        "Copy a buffer of S bytes N times per repetition, timed with the TSC.\n"
        "  --size S    buffer size (default 1M; the paper: 256K, 512K, 1M)\n"
        "  --loops N   copies per repetition (default 1000)\n"
        "  --reps R    repetitions, each kept (default 10)\n"
        "  --warmup N  discarded repetitions before (default 1)\n";

enum { OPT_SIZE = OPT_WL, OPT_LOOPS, OPT_REPS };

typedef struct MemcpyParam {
        void *src, *dst;
        size_t size;
        uint64_t loops;
} MemcpyParam;

static int memcpy_body(void *userdata) {
        MemcpyParam *p = userdata;
        for (uint64_t i = 0; i < p->loops; i++) {
                memcpy(p->dst, p->src, p->size);
                /* The copy must happen every time: make dst observable. */
                __asm__ volatile("" : : "r"(p->dst) : "memory");
        }
        return 0;
}

int wl_memcpy_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "size", required_argument, NULL, OPT_SIZE },
                { "loops", required_argument, NULL, OPT_LOOPS },
                { "reps", required_argument, NULL, OPT_REPS },
                {}
        };
        uint64_t size = 1 << 20, loops = 1000, reps = 10;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_SIZE:
                        if (opt_bytes(b, "size", optarg, &size) < 0)
                                return EXIT_USAGE;
                        if (size > (1ull << 34))
                                return bench_usage(b, "--size is at most 16G");
                        break;
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

        MemcpyParam p = { .size = size, .loops = loops };
        if (posix_memalign(&p.src, 64, size) != 0 || posix_memalign(&p.dst, 64, size) != 0) {
                free(p.src);
                return bench_fail(b, ENOMEM, "cannot allocate 2 x %zu bytes", p.size);
        }
        memset(p.src, 0x5a, size);
        memset(p.dst, 0, size);

        RepRun run = { .reps = (unsigned) reps, .warmup = bench_warmup(b, 1) };
        bench_start(b);
        r = reps_run(b, &run, memcpy_body, &p);
        bench_stop(b);
        free(p.src);
        free(p.dst);
        if (r < 0) {
                reps_free(&run);
                return bench_fail(b, r, "measurement failed");
        }
        report_begin(b);
        out_begin(b, "params");
        out_u64(b, "size_bytes", size);
        out_u64(b, "loops", loops);
        out_u64(b, "reps", reps);
        out_end(b);
        out_begin(b, "results");
        reps_report(b, &run, loops, size * loops);
        out_end(b);
        reps_free(&run);
        return report_end(b);
}
