/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "reps.h"

int reps_run(Bench *b, RepRun *run, rep_fn_t fn, void *userdata) {
        run->rep = calloc(run->reps ? run->reps : 1, sizeof(Rep));
        if (!run->rep)
                return -ENOMEM;
        for (unsigned i = 0; i < run->warmup + run->reps; i++) {
                Rep r;
                uint64_t t0 = tsc_begin(&r.cpu_begin);
                int k = fn(userdata);
                uint64_t t1 = tsc_end(&r.cpu_end);
                if (k < 0)
                        return k;
                r.cycles = t1 - t0;
                r.ns = tsc_cycles_to_ns(r.cycles, b->tsc.hz);
                if (i < run->warmup) {
                        run->warmup_ns += r.ns;
                        continue;
                }
                if (r.cpu_begin != r.cpu_end)
                        run->migrations++;
                run->rep[i - run->warmup] = r;
        }
        return 0;
}

void reps_report(Bench *b, const RepRun *run, uint64_t ops_per_rep, uint64_t bytes_per_rep) {
        double *v = calloc(run->reps ? run->reps : 1, sizeof(double));
        Summary s;

        out_u64(b, "repetitions_count", run->reps);
        out_u64(b, "warmup_repetitions", run->warmup);
        out_u64(b, "warmup_ns", run->warmup_ns);
        out_u64(b, "migrations", run->migrations);
        out_list_begin(b, "repetitions");
        for (unsigned i = 0; i < run->reps; i++) {
                const Rep *r = &run->rep[i];
                out_item_begin(b);
                out_u64(b, "cycles", r->cycles);
                out_u64(b, "ns", r->ns);
                out_u64(b, "cpu_begin", r->cpu_begin);
                out_u64(b, "cpu_end", r->cpu_end);
                out_bool(b, "migrated", r->cpu_begin != r->cpu_end);
                out_item_end(b);
        }
        out_list_end(b);
        if (!v)
                return;
        for (unsigned i = 0; i < run->reps; i++)
                v[i] = (double) run->rep[i].ns;
        summarize(v, run->reps, &s);
        out_summary(b, "rep", &s, "ns");
        if (ops_per_rep) {
                for (unsigned i = 0; i < run->reps; i++)
                        v[i] = (double) run->rep[i].ns / (double) ops_per_rep;
                summarize(v, run->reps, &s);
                out_summary(b, "per_op", &s, "ns");
        }
        if (bytes_per_rep) {
                for (unsigned i = 0; i < run->reps; i++)
                        v[i] = run->rep[i].ns ? (double) bytes_per_rep / (1024.0 * 1024.0) /
                                                        ((double) run->rep[i].ns / 1e9)
                                              : 0;
                summarize(v, run->reps, &s);
                out_summary(b, "throughput", &s, "mib_per_s");
        }
        free(v);
}

void reps_free(RepRun *run) {
        free(run->rep);
        run->rep = NULL;
}
