/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prime: test every integer 1..max for primality by trial division and
 * print each prime (paper 000).  What matters is less the arithmetic than
 * the write() per prime when the output is a terminal (line buffered): in a
 * guest the paper saw sys time ~10x the host's.  Reports real/user/sys. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "xvbench.h"

const char wl_prime_usage[] =
        "Usage: xvbench prime [--max N] [--output FILE|-] [--line-buffered]\n"
        "                     [common options]\n"
        "\n"
        "Test every integer 1..N for primality (trial division) and print each\n"
        "prime, one per line.  Reports real, user and sys time.\n"
        "  --max N          largest integer tested (default 10000000, as in the paper)\n"
        "  --output FILE|-  where the primes go (default -: standard output; with\n"
        "                   --json on standard output give a FILE, e.g. /dev/null)\n"
        "  --line-buffered  one write() per prime even when the output is not a\n"
        "                   terminal (stdio does that by itself on a terminal)\n";

enum { OPT_MAX = OPT_WL, OPT_OUTPUT, OPT_LINEBUF };

static bool is_prime(uint64_t n) {
        if (n < 2)
                return false;
        if (n % 2 == 0)
                return n == 2;
        for (uint64_t d = 3; d * d <= n; d += 2)
                if (n % d == 0)
                        return false;
        return true;
}

int wl_prime_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "max", required_argument, NULL, OPT_MAX },
                { "output", required_argument, NULL, OPT_OUTPUT },
                { "line-buffered", no_argument, NULL, OPT_LINEBUF },
                {}
        };
        uint64_t max = 10000000;
        const char *output = "-";
        bool linebuf = false;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_MAX:
                        if (opt_count(b, "max", optarg, 1, UINT64_C(1) << 40, &max) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_OUTPUT:
                        output = optarg;
                        break;
                case OPT_LINEBUF:
                        linebuf = true;
                        break;
                }
        }
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        bool to_stdout = strcmp(output, "-") == 0;
        if (to_stdout && b->json_path && strcmp(b->json_path, "-") == 0)
                return bench_usage(b, "the primes and the JSON report would both go to standard output; "
                                      "use --output FILE or --json=FILE");
        int r = bench_open_output(b);
        if (r)
                return r;
        FILE *f = to_stdout ? stdout : fopen(output, "we");
        if (!f)
                return bench_fail(b, errno, "cannot write '%s'", output);
        if (linebuf)
                setvbuf(f, NULL, _IOLBF, 0);

        uint64_t u0, s0, u1, s1, primes = 0, largest = 0;
        cpu_self_ns(&u0, &s0);
        bench_start(b);
        for (uint64_t n = 1; n <= max; n++)
                if (is_prime(n)) {
                        fprintf(f, "%" PRIu64 "\n", n);
                        primes++;
                        largest = n;
                }
        int werr = fflush(f) != 0 || ferror(f) ? errno : 0;
        bench_stop(b);
        cpu_self_ns(&u1, &s1);
        if (!to_stdout && fclose(f) != 0 && !werr)
                werr = errno;
        if (werr)
                return bench_fail(b, werr, "writing the primes to '%s' failed", output);

        uint64_t real = b->end_mono - b->start_mono;
        report_begin(b);
        out_begin(b, "params");
        out_u64(b, "max", max);
        out_str(b, "output", output);
        out_bool(b, "line_buffered", linebuf);
        out_end(b);
        out_begin(b, "results");
        out_u64(b, "primes_found", primes);
        out_u64(b, "largest_prime", largest);
        out_u64(b, "real_ns", real);
        out_u64(b, "user_ns", u1 - u0);
        out_u64(b, "sys_ns", s1 - s0);
        out_double(b, "integers_per_s", real ? (double) max * 1e9 / (double) real : 0);
        out_double(b, "integers_per_cpu_s",
                   (u1 - u0 + s1 - s0) ? (double) max * 1e9 / (double) (u1 - u0 + s1 - s0) : 0);
        out_end(b);
        return report_end(b);
}
