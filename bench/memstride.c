/* SPDX-License-Identifier: GPL-2.0-or-later */
/* memstride: time to write a buffer at a stride (paper 003 (4): 1 GB at
 * 4 KB, i.e. one write per page).  The first pass faults every page in and
 * is reported on its own (first_touch_ns); the repetitions then write the
 * already-mapped buffer, so they measure TLB and cache behaviour (and, in a
 * guest, two-dimensional page walks). */
#include <errno.h>
#include <sys/mman.h>

#include "lib/clock.h"
#include "reps.h"

const char wl_memstride_usage[] =
        "Usage: xvbench memstride [--size S] [--stride S] [--loops N] [--reps R]\n"
        "                         [common options]\n"
        "\n"
        "Write one byte every --stride bytes of a --size buffer, --loops passes\n"
        "per repetition, timed with the TSC.\n"
        "  --size S    buffer size (default 1G, as in the paper)\n"
        "  --stride S  distance between writes (default 4K)\n"
        "  --loops N   passes per repetition (default 1)\n"
        "  --reps R    repetitions, each kept (default 10)\n"
        "  --warmup N  discarded repetitions after the first-touch pass (default 0)\n";

enum { OPT_SIZE = OPT_WL, OPT_STRIDE, OPT_LOOPS, OPT_REPS };

typedef struct StrideParam {
        volatile unsigned char *buf;
        uint64_t size, stride, loops;
        unsigned pass;
} StrideParam;

static int stride_body(void *userdata) {
        StrideParam *p = userdata;
        for (uint64_t l = 0; l < p->loops; l++) {
                unsigned char v = (unsigned char) ++p->pass;
                for (uint64_t off = 0; off < p->size; off += p->stride)
                        p->buf[off] = v;
        }
        return 0;
}

int wl_memstride_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "size", required_argument, NULL, OPT_SIZE },
                { "stride", required_argument, NULL, OPT_STRIDE },
                { "loops", required_argument, NULL, OPT_LOOPS },
                { "reps", required_argument, NULL, OPT_REPS },
                {}
        };
        StrideParam p = { .size = 1ull << 30, .stride = 4096, .loops = 1 };
        uint64_t reps = 10;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_SIZE:
                        if (opt_bytes(b, "size", optarg, &p.size) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_STRIDE:
                        if (opt_bytes(b, "stride", optarg, &p.stride) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_LOOPS:
                        if (opt_count(b, "loops", optarg, 1, 1000000000, &p.loops) < 0)
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
        if (p.stride > p.size)
                return bench_usage(b, "--stride is larger than --size");
        int r = bench_open_output(b);
        if (r)
                return r;
        if ((r = bench_need_tsc(b)))
                return r;

        void *m = mmap(NULL, p.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                return bench_fail(b, errno, "cannot map %llu bytes", (unsigned long long) p.size);
        p.buf = m;

        bench_start(b);
        /* First touch: one pass that takes the page faults. */
        uint64_t saved_loops = p.loops;
        p.loops = 1;
        unsigned cpu0, cpu1;
        uint64_t t0 = tsc_begin(&cpu0);
        stride_body(&p);
        uint64_t t1 = tsc_end(&cpu1);
        p.loops = saved_loops;
        uint64_t first_ns = tsc_cycles_to_ns(t1 - t0, b->tsc.hz);

        RepRun run = { .reps = (unsigned) reps, .warmup = bench_warmup(b, 0) };
        r = reps_run(b, &run, stride_body, &p);
        bench_stop(b);
        munmap(m, p.size);
        if (r < 0) {
                reps_free(&run);
                return bench_fail(b, r, "measurement failed");
        }
        uint64_t writes = (p.size + p.stride - 1) / p.stride;
        report_begin(b);
        out_begin(b, "params");
        out_u64(b, "size_bytes", p.size);
        out_u64(b, "stride_bytes", p.stride);
        out_u64(b, "loops", p.loops);
        out_u64(b, "reps", reps);
        out_end(b);
        out_begin(b, "results");
        out_u64(b, "writes_per_pass", writes);
        out_u64(b, "first_touch_ns", first_ns);
        out_bool(b, "first_touch_migrated", cpu0 != cpu1);
        reps_report(b, &run, writes * p.loops, 0);
        out_end(b);
        reps_free(&run);
        return report_end(b);
}
