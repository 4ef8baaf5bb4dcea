/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvbench: the papers' workloads and latency probes.  See docs/bench.md. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "xvbench.h"

const Workload workloads[] = {
#define X(n, s) { #n, s, wl_##n##_usage, wl_##n##_run },
        XVBENCH_WORKLOADS(X)
#undef X
};
const size_t n_workloads = ELEMENTSOF(workloads);

const Workload *workload_find(const char *name) {
        for (size_t i = 0; i < n_workloads; i++)
                if (streq(workloads[i].name, name))
                        return &workloads[i];
        return NULL;
}

static void help(void) {
        printf("Usage: xvbench WORKLOAD [OPTIONS]\n"
               "       xvbench help [WORKLOAD]\n"
               "       xvbench --version\n"
               "\nWorkloads:\n");
        for (size_t i = 0; i < n_workloads; i++)
                printf("  %-10s %s\n", workloads[i].name, workloads[i].summary);
        printf("\nCommon options (every workload):\n"
               "  --json[=FILE]       write the report as JSON (to FILE, or stdout)\n"
               "  --max-latency T     exit with status 3 if a latency exceeds T (bare number: us)\n"
               "  --hist-range T      latency histogram range, 1 us buckets (default 100ms)\n"
               "  --warmup N          warm-up iterations excluded from the results\n"
               "  --quiet             no text report, no warnings\n"
               "  --help              this workload's usage\n"
               "\nExit status: 0 ok, 1 failed, 2 bad command line, 3 --max-latency exceeded.\n");
}

int main(int argc, char **argv) {
        log_set_program("xvbench");
        Bench b = { .argc = argc, .argv = argv, .out = stdout };

        if (argc < 2) {
                help();
                return EXIT_USAGE;
        }
        const char *cmd = argv[1];
        if (streq(cmd, "--version") || streq(cmd, "-V") || streq(cmd, "version")) {
                printf("xvbench %s\n", XVSCHED_VERSION);
                return EXIT_OK;
        }
        if (streq(cmd, "help") || streq(cmd, "--help") || streq(cmd, "-h")) {
                if (argc < 3) {
                        help();
                        return EXIT_OK;
                }
                const Workload *w = workload_find(argv[2]);
                if (!w) {
                        log_error("unknown workload '%s' (see 'xvbench help')", argv[2]);
                        return EXIT_USAGE;
                }
                fputs(w->usage, stdout);
                return EXIT_OK;
        }
        b.wl = workload_find(cmd);
        if (!b.wl) {
                log_error("unknown workload '%s' (see 'xvbench help')", cmd);
                return EXIT_USAGE;
        }
        b.hist_range_ns = 100 * 1000 * 1000;
        /* The workload sees argv from its own name on, as getopt expects. */
        int r = b.wl->run(&b, argc - 1, argv + 1);
        if (b.out_close) {
                /* Failed before the report was written: leave no empty file. */
                fclose(b.out);
                if (r == EXIT_FAIL)
                        unlink(b.json_path);
        }
        return r;
}
