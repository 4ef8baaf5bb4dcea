/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stones: a Dhrystone-style integer, string and record workload of our own
 * writing (paper 003 (3) used Dhrystone to show that a VM with dedicated
 * cores keeps its CPU throughput).  Not Dhrystone: its numbers are only
 * comparable with themselves, host against guest, one VM against three. */
#include <inttypes.h>
#include <string.h>

#include "lib/clock.h"
#include "xvbench.h"

const char wl_stones_usage[] =
        "Usage: xvbench stones [--duration D] [common options]\n"
        "\n"
        "Run integer arithmetic, string copies and compares, and record\n"
        "assignments through pointers in a loop for D; report iterations/s.\n"
        "  --duration D  how long (default 5s; bare number: seconds)\n";

enum { OPT_DURATION = OPT_WL };

typedef enum { K_IDENT1, K_IDENT2, K_IDENT3, K_IDENT4, K_IDENT5 } Kind;

typedef struct Record {
        struct Record *next;
        Kind kind;
        int int_comp;
        Kind enum_comp;
        char str_comp[31];
} Record;

/* Sinks the optimizer must respect. */
static volatile int sink_int;
static volatile char sink_char;

static Record rec_a, rec_b;
static int arr1[50], arr2[50][50];
static char str1[31], str2[31];

__attribute__((noinline)) static Kind kind_of(Kind k, int v) {
        if (v > 100)
                return K_IDENT1;
        switch (k) {
        case K_IDENT1: return K_IDENT2;
        case K_IDENT2: return v & 1 ? K_IDENT3 : K_IDENT4;
        case K_IDENT3: return K_IDENT2;
        default: return K_IDENT5;
        }
}

__attribute__((noinline)) static void proc_record(Record *r) {
        Record *n = r->next;
        *n = *r;                        /* record assignment */
        r->int_comp = 5;
        n->int_comp = r->int_comp;
        n->next = r->next;
        n->enum_comp = kind_of(r->enum_comp, n->int_comp);
        if (n->enum_comp == K_IDENT1)
                n->int_comp += 6;
        else
                *r = *n;
}

__attribute__((noinline)) static bool func_str(const char *a, const char *b) {
        int i = 2;
        while (i <= 2)
                if (a[i] != b[i + 1])
                        i++;
                else
                        return false;
        return strcmp(a, b) > 0;
}

__attribute__((noinline)) static void proc_arrays(int *a1, int a2[][50], int v1, int v2) {
        int loc = v1 + 5;
        a1[loc] = v2;
        a1[loc + 1] = a1[loc];
        a1[loc + 30] = loc;
        for (int i = loc; i <= loc + 1; i++)
                a2[loc][i] = loc;
        a2[loc][loc - 1] += 1;
        a2[loc + 20][loc] = a1[loc];
}

static void one_iteration(uint64_t i) {
        int a = 2, b = 3, c;
        strcpy(str2, (i & 1) ? "XVBENCH STONES, 2'ND STRING" : "XVBENCH STONES, 2'nd STRING");
        rec_a.enum_comp = K_IDENT2;
        bool lt = !func_str(str1, str2);
        while (a < b) {
                c = 5 * a - b;
                a = a + c / (b + 1);
        }
        proc_arrays(arr1, arr2, a, (int) (i & 31));
        proc_record(&rec_a);
        for (char ch = 'A'; ch <= 'C'; ch++)
                if (ch == str2[(i & 7) + 8])
                        sink_char = ch;
        c = a * b;
        b = c / a;
        c = 7 * (c - b) - a;
        sink_int = c + (lt ? 1 : 0) + rec_a.int_comp;
}

int wl_stones_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "duration", required_argument, NULL, OPT_DURATION },
                {}
        };
        uint64_t duration = 5 * NSEC_PER_SEC;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                if (c == OPT_DURATION) {
                        if (opt_duration(b, "duration", optarg, NSEC_PER_SEC, &duration) < 0)
                                return EXIT_USAGE;
                        if (duration == 0)
                                return bench_usage(b, "--duration must be positive");
                }
        }
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        int r = bench_open_output(b);
        if (r)
                return r;

        rec_a.next = &rec_b;
        rec_a.kind = K_IDENT1;
        rec_a.int_comp = 40;
        strcpy(rec_a.str_comp, "XVBENCH STONES, SOME STRING");
        strcpy(str1, "XVBENCH STONES, 1'ST STRING");

        /* Warm-up: a short run that is not counted. */
        for (uint64_t i = 0; i < 10000; i++)
                one_iteration(i);

        uint64_t cpu0 = cpu_self_ns(NULL, NULL), iters = 0;
        bench_start(b);
        uint64_t deadline = b->start_mono + duration, now;
        do {
                for (int k = 0; k < 4096; k++)
                        one_iteration(iters++);
                now = now_ns(CLOCK_MONOTONIC);
        } while (now < deadline);
        bench_stop(b);
        uint64_t cpu = cpu_self_ns(NULL, NULL) - cpu0, wall = b->end_mono - b->start_mono;

        report_begin(b);
        out_begin(b, "params");
        out_u64(b, "duration_ns", duration);
        out_end(b);
        out_begin(b, "results");
        out_u64(b, "iterations", iters);
        out_u64(b, "wall_ns", wall);
        out_u64(b, "cpu_ns", cpu);
        out_double(b, "stones_per_s", wall ? (double) iters * 1e9 / (double) wall : 0);
        out_double(b, "stones_per_cpu_s", cpu ? (double) iters * 1e9 / (double) cpu : 0);
        out_end(b);
        return report_end(b);
}
