/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmi-bench: costs of introspection against a running QEMU guest.
 *
 *   vmi-bench --pid P --qmp SOCK [--reps N] [--xp] [--label TEXT]
 *
 * Prints one JSON object (stdout):
 *   attach_us (+ ram_us, btf_us, init_task_us, cpus_us): first attach
 *   word_read_ns: one 8-byte guest read (process_vm_readv or memcpy), random tasks
 *   word_read_batched_ns: the same words, 512 per batched call
 *   kva_translate_ns: direct-map kernel VA -> PA; page_walk_ns: a 4-level walk (4 reads)
 *   scan_us_{median,p90,min}, scan_cold_us, tasks: full task scans (median of reps)
 *   rq_read_us_median: every CPU's rq (curr, nr_running) + what curr is
 *   pause_resume_us_median: QMP stop + cont round trip (what a stop costs the VM)
 *   xp_word_read_us, xp_scan_us: the same through QMP `xp` (with --xp) */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/macros.h"
#include "qmp/qmp.h"
#include "vmi/mem.h"
#include "vmi/vmi.h"

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, unsigned p) {
        qsort(v, n, sizeof *v, cmp_u64);
        return v[MIN(n - 1, n * p / 100)];
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "pid", required_argument, NULL, 'p' },
                { "qmp", required_argument, NULL, 'q' },
                { "reps", required_argument, NULL, 'r' },
                { "xp", no_argument, NULL, 'x' },
                { "label", required_argument, NULL, 'l' },
                {},
        };
        pid_t pid = 0;
        const char *qmp_path = NULL, *label = "";
        unsigned reps = 50;
        bool xp = false;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'p': pid = atoi(optarg); break;
                case 'q': qmp_path = optarg; break;
                case 'r': reps = (unsigned) MAX(atoi(optarg), 1); break;
                case 'x': xp = true; break;
                case 'l': label = optarg; break;
                default:
                        fputs("Usage: vmi-bench --pid P --qmp SOCK [--reps N] [--xp] [--label TEXT]\n", stderr);
                        return 2;
                }
        if (pid <= 0 || !qmp_path) {
                fputs("vmi-bench: --pid and --qmp are required\n", stderr);
                return 2;
        }
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        int r = qmp_connect(qmp_path, 10000, &q);
        if (r < 0) {
                fprintf(stderr, "vmi-bench: QMP %s: %s\n", qmp_path, strerror(-r));
                return 1;
        }
        _cleanup_free_ VmiVcpuRegs *regs = NULL;
        size_t n_regs = 0;
        _cleanup_free_ char *out = NULL;
        if (qmp_hmp(q, "info registers -a", &out) >= 0)
                (void) vmi_parse_info_registers(out, &regs, &n_regs);

        /* first attach */
        uint64_t t0 = now_ns();
        _cleanup_(vmi_mem_freep) VmiMem *m = NULL;
        r = vmi_mem_open_process(pid, q, true, &m);
        if (r < 0) {
                fprintf(stderr, "vmi-bench: guest RAM: %s\n", strerror(-r));
                return 1;
        }
        uint64_t t1 = now_ns();
        VmiOptions o = { .cmdline = true, .regs = regs, .n_regs = n_regs, .max_cpus = (int) n_regs };
        _cleanup_(vmi_freep) Vmi *v = NULL;
        r = vmi_attach(m, &o, &v);
        if (r < 0) {
                fprintf(stderr, "vmi-bench: attach: %s\n", vmi_last_error(NULL));
                return 1;
        }
        uint64_t attach_us = (now_ns() - t0) / 1000, ram_us = (t1 - t0) / 1000;
        v->opt.regs = NULL;
        v->opt.n_regs = 0;

        /* scans: the first (cold: no prefetch list, cmdlines read), then warm */
        _cleanup_free_ VmiTask *tasks = NULL;
        size_t n_tasks = 0;
        t0 = now_ns();
        r = vmi_scan_retry(v, 5, &tasks, &n_tasks);
        uint64_t cold_us = (now_ns() - t0) / 1000;
        if (r < 0) {
                fprintf(stderr, "vmi-bench: scan: %s\n", vmi_last_error(v));
                return 1;
        }
        _cleanup_free_ uint64_t *scan_ns = calloc(reps, sizeof *scan_ns);
        if (!scan_ns)
                return 1;
        unsigned ok = 0, torn = 0;
        size_t last_n = n_tasks;
        for (unsigned i = 0; i < reps; i++) {
                VmiTask *t = NULL;
                size_t n = 0;
                t0 = now_ns();
                r = vmi_scan(v, &t, &n);
                uint64_t d = now_ns() - t0;
                if (r == -EAGAIN) {
                        torn++;
                        continue;
                }
                if (r < 0) {
                        fprintf(stderr, "vmi-bench: scan: %s\n", strerror(-r));
                        return 1;
                }
                scan_ns[ok++] = d;
                last_n = n;
                free(t);
        }
        if (ok == 0) {
                fprintf(stderr, "vmi-bench: every scan was torn\n");
                return 1;
        }

        /* word reads: the pid word of random tasks */
        enum { WORDS = 20000, BATCH = 512 };
        _cleanup_free_ uint64_t *gpas = malloc(WORDS * sizeof *gpas);
        _cleanup_free_ uint64_t *vals = malloc(WORDS * sizeof *vals);
        if (!gpas || !vals)
                return 1;
        srand(1);
        for (unsigned i = 0; i < WORDS; i++) {
                uint64_t va = tasks[(size_t) rand() % n_tasks].va + (uint64_t) v->L.t_pid, pa = 0;
                (void) vmi_kva_to_pa(v, va & ~UINT64_C(7), &pa);
                gpas[i] = pa;
        }
        t0 = now_ns();
        for (unsigned i = 0; i < WORDS; i++)
                if (vmi_mem_read(m, gpas[i], &vals[i], 8) < 0)
                        return 1;
        uint64_t word_ns = (now_ns() - t0) / WORDS;
        VmiIov iov[BATCH];
        t0 = now_ns();
        for (unsigned i = 0; i + BATCH <= WORDS; i += BATCH) {
                for (unsigned k = 0; k < BATCH; k++)
                        iov[k] = (VmiIov) { gpas[i + k], &vals[i + k], 8 };
                if (vmi_mem_readv(m, iov, BATCH) < 0)
                        return 1;
        }
        uint64_t batched_ns = (now_ns() - t0) / (WORDS / BATCH * BATCH);

        /* translation */
        uint64_t sink = 0;
        t0 = now_ns();
        for (unsigned i = 0; i < WORDS; i++) {
                uint64_t pa;
                (void) vmi_kva_to_pa(v, tasks[i % n_tasks].va, &pa);
                sink += pa;
        }
        uint64_t xlate_ns = (now_ns() - t0) / WORDS;
        uint64_t walk_ns = 0;
        if (v->kernel_pgd_pa) {
                t0 = now_ns();
                for (unsigned i = 0; i < 2000; i++) {
                        uint64_t pa;
                        (void) vmi_page_walk(v, v->kernel_pgd_pa, tasks[i % n_tasks].va, &pa);
                        sink += pa;
                }
                walk_ns = (now_ns() - t0) / 2000;
        }

        /* run queues */
        enum { RQ_REPS = 1000 };
        _cleanup_free_ uint64_t *rq_ns = calloc(RQ_REPS, sizeof *rq_ns);
        unsigned rq_ok = 0;
        for (unsigned i = 0; rq_ns && i < RQ_REPS; i++) {
                VmiCpu *cpus = NULL;
                size_t n;
                t0 = now_ns();
                r = vmi_read_cpus(v, &cpus, &n);
                uint64_t d = now_ns() - t0;
                if (r >= 0) {
                        rq_ns[rq_ok++] = d;
                        free(cpus);
                }
        }

        /* pause + resume (what a stop costs the guest) */
        enum { PR_REPS = 20 };
        uint64_t pr[PR_REPS];
        unsigned pr_ok = 0;
        for (unsigned i = 0; i < PR_REPS; i++) {
                t0 = now_ns();
                if (qmp_stop(q) < 0 || qmp_cont(q) < 0)
                        break;
                pr[pr_ok++] = now_ns() - t0;
        }

        /* QMP xp */
        uint64_t xp_word_us = 0, xp_scan_us = 0;
        size_t xp_n = 0;
        if (xp) {
                _cleanup_(vmi_mem_freep) VmiMem *xm = NULL;
                r = vmi_mem_open_qmp(q, m->regions, m->n_regions, &xm);
                if (r >= 0) {
                        t0 = now_ns();
                        for (unsigned i = 0; i < 200; i++)
                                if (vmi_mem_read(xm, gpas[i], &vals[i], 8) < 0)
                                        break;
                        xp_word_us = (now_ns() - t0) / 200 / 1000;
                        VmiMem *keep = v->mem;
                        v->mem = xm;
                        free(v->prev);   /* no prefetch: every window through xp */
                        v->prev = NULL;
                        v->n_prev = 0;
                        bool cmd = v->opt.cmdline;
                        v->opt.cmdline = false;
                        VmiTask *t = NULL;
                        t0 = now_ns();
                        r = vmi_scan_retry(v, 3, &t, &xp_n);
                        xp_scan_us = (now_ns() - t0) / 1000;
                        if (r >= 0)
                                free(t);
                        else
                                xp_scan_us = 0;
                        v->mem = keep;
                        v->opt.cmdline = cmd;
                }
        }

        printf("{\"label\":\"%s\",\"tasks\":%zu,\"cpus\":%d,\"ram_layout\":\"%s\",\"attach_us\":%" PRIu64
               ",\"ram_us\":%" PRIu64 ",\"btf_us\":%" PRIu64 ",\"init_task_us\":%" PRIu64 ",\"cpus_us\":%" PRIu64
               ",\"btf_candidates\":%" PRIu64 ",\"word_read_ns\":%" PRIu64 ",\"word_read_batched_ns\":%" PRIu64
               ",\"kva_translate_ns\":%" PRIu64 ",\"page_walk_ns\":%" PRIu64 ",\"scan_cold_us\":%" PRIu64
               ",\"scan_us_median\":%.1f,\"scan_us_p90\":%.1f,\"scan_us_min\":%.1f,\"scans\":%u,\"torn_scans\":%u"
               ",\"rq_read_us_median\":%.1f,\"pause_resume_us_median\":%.1f,\"xp_word_read_us\":%" PRIu64
               ",\"xp_scan_us\":%" PRIu64 ",\"xp_scan_tasks\":%zu,\"sink\":%" PRIu64 "}\n",
               label, last_n, v->ncpus, m->how, attach_us, ram_us, v->stats.btf_us, v->stats.init_task_us,
               v->stats.cpus_us, v->stats.btf.headers, word_ns, batched_ns, xlate_ns, walk_ns, cold_us,
               pct(scan_ns, ok, 50) / 1e3, pct(scan_ns, ok, 90) / 1e3, pct(scan_ns, ok, 0) / 1e3, ok, torn,
               rq_ok ? pct(rq_ns, rq_ok, 50) / 1e3 : 0.0, pr_ok ? pct(pr, pr_ok, 50) / 1e3 : 0.0, xp_word_us,
               xp_scan_us, xp_n, sink & 1);
        return 0;
}
