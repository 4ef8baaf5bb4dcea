/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of src/vmi/ on synthetic kernel memory (fake-kernel.c) and
 * recorded QMP/HMP text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>
#include <string.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-kernel.h"
#include "vmi/mem.h"
#include "vmi/vmi.h"

typedef struct Fixture {
        FakeKernel fk;
        VmiMem *mem;
        Vmi *vmi;
} Fixture;

static Fixture *fixture_new(const FakeSpec *spec, bool attach) {
        Fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        assert_int_equal(fake_kernel_build(&f->fk, spec), 0);
        assert_int_equal(vmi_mem_open_buffer(f->fk.image, f->fk.size, true, &f->mem), 0);
        if (attach) {
                VmiOptions o = { .cmdline = true, .max_cpus = spec->ncpus };
                int r = vmi_attach(f->mem, &o, &f->vmi);
                if (r < 0)
                        fprintf(stderr, "attach: %s\n", vmi_last_error(NULL));
                assert_int_equal(r, 0);
        }
        return f;
}

static void fixture_free(Fixture *f) {
        vmi_free(f->vmi);
        vmi_mem_free(f->mem);
        fake_kernel_done(&f->fk);
        free(f);
}

static const FakeSpec small = { .processes = 5, .threads = 3, .kthreads = 4, .ncpus = 2 };

static void test_layout(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        const VmiLayout *L = &f->vmi->L;
        assert_int_equal(L->task_size, FK_TASK_SIZE);
        assert_int_equal(L->t_state, FK_T_STATE);
        assert_int_equal(L->t_state_size, 4);
        assert_int_equal(L->t_tasks, FK_T_TASKS);           /* inside an anonymous struct */
        assert_int_equal(L->t_pid, FK_T_PID);
        assert_int_equal(L->t_thread_group, FK_T_THREAD_GROUP);
        assert_int_equal(L->t_comm, FK_T_COMM);
        assert_int_equal(L->t_sum_exec, FK_T_SE + FK_SE_SUM_EXEC);
        assert_int_equal(L->t_se_cfs_rq, FK_T_SE + FK_SE_CFS_RQ);
        assert_int_equal(L->t_pending_sig, FK_T_PENDING + FK_PENDING_SIGNAL);
        assert_int_equal(L->t_cpu, FK_T_TI_CPU);
        assert_int_equal(L->rq_cfs, FK_RQ_CFS);
        assert_int_equal(L->pcpu_runqueues, FK_PCPU_RUNQUEUES);
        assert_int_equal(L->pcpu_current_task, 0x1000);
        assert_int_equal(L->mm_arg_end, FK_MM_ARG_END);
        fixture_free(f);
}

static void test_attach(void **state) {
        (void) state;
        FakeSpec s = small;
        s.decoy_btf = true;
        Fixture *f = fixture_new(&s, true);
        Vmi *v = f->vmi;
        assert_int_equal(v->btf_gpa, FK_PA_BTF);
        assert_true(v->stats.btf.headers >= 2);
        assert_int_equal(v->init_task_pa, FK_PA_INIT_TASK);
        assert_int_equal(v->page_offset_base, f->fk.page_offset_base);
        assert_int_equal(v->kimage_voffset, f->fk.kimage_voffset);
        assert_int_equal(v->init_task_va, f->fk.kimage_voffset + FK_PA_INIT_TASK);
        assert_int_equal(v->kernel_pgd_pa, FK_PA_PGT);
        assert_int_equal(v->ncpus, 2);
        assert_string_equal(v->cpus_how, "task-group");
        assert_int_equal(v->rq_va[1], f->fk.page_offset_base + FK_PA_PERCPU + FK_PERCPU_UNIT + FK_PCPU_RUNQUEUES);
        assert_int_equal(v->cpu_vcpu[1], 1);
        fixture_free(f);
}

static const FakeTask *fk_find(const FakeKernel *fk, int tid) {
        for (size_t i = 0; i < fk->n_tasks; i++)
                if (fk->tasks[i].pid == tid)
                        return &fk->tasks[i];
        return NULL;
}

static void check_scan(Fixture *f, VmiTask *t, size_t n) {
        assert_int_equal(n, f->fk.n_tasks);
        for (size_t i = 0; i < n; i++) {
                const FakeTask *e = fk_find(&f->fk, t[i].t.tid);
                assert_non_null(e);
                assert_int_equal(t[i].t.pid, e->tgid);
                assert_string_equal(t[i].t.comm, e->comm);
                assert_int_equal(t[i].t.state, e->state == 0 ? 'R' : 'S');
                assert_int_equal(t[i].t.cpu, e->cpu);
                assert_int_equal(t[i].t.is_kthread, e->kthread);
                assert_int_equal(t[i].t.cpu_ns, 1000000u * (uint64_t) e->pid);
                assert_int_equal(t[i].t.nice, 0);
                if (e->kthread || e->pid == 1)
                        continue;
                assert_string_equal(t[i].t.cmdline, f->fk.cmdline);
        }
}

static void test_scan(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        VmiTask *t = NULL;
        size_t n = 0;
        /* mapped RAM: windows used in place */
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        check_scan(f, t, n);
        free(t);
        assert_true(f->vmi->stats.direct_windows >= n);
        assert_int_equal(f->vmi->stats.prefetch_misses, 0);
        /* as for a process source: copied windows, prefetched */
        f->vmi->opt.copy_windows = true;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        check_scan(f, t, n);
        free(t);
        /* the second scan is served from the prefetch and gives the same */
        uint64_t misses = f->vmi->stats.prefetch_misses;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        check_scan(f, t, n);
        assert_int_equal(f->vmi->stats.prefetch_misses, misses);
        assert_true(f->vmi->stats.prefetch_hits >= n);
        free(t);
        fixture_free(f);
}

static void test_scan_big(void **state) {
        (void) state;
        FakeSpec s = { .processes = 100, .threads = 19, .kthreads = 30, .ncpus = 4 };
        Fixture *f = fixture_new(&s, true);
        VmiTask *t = NULL;
        size_t n = 0;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        assert_int_equal(n, 1 + 30 + 100 * 19);
        check_scan(f, t, n);
        free(t);
        assert_int_equal(f->vmi->ncpus, 4);
        fixture_free(f);
}

static void test_worker_names(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        FakeKernel *fk = &f->fk;
        const FakeTask *k = fk_find(fk, 2);   /* "kworker/1" */
        uint64_t kthread = 0x706000, worker = 0x706100;
        fk_w32(fk, k->pa + FK_T_FLAGS, 0x00200000u | 0x20u);   /* PF_KTHREAD | PF_WQ_WORKER */
        fk_w64(fk, k->pa + 256, fk_dm(fk, kthread));           /* worker_private */
        fk_w64(fk, kthread + 8, fk_dm(fk, worker));             /* kthread.data */
        fk_w64(fk, worker + 8, fk_dm(fk, 0x706200));            /* pool */
        memcpy(fk->image + worker + 16, "events_unbound", 15);  /* desc */
        VmiTask *t = NULL;
        size_t n = 0;
        for (int round = 0; round < 2; round++) {   /* the second from the cache */
                if (round == 1)
                        fk_w64(fk, worker, 0xffff888000001000);   /* current_work: running one */
                assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
                for (size_t i = 0; i < n; i++)
                        if (t[i].t.tid == 2)
                                assert_string_equal(t[i].t.comm, round == 0 ? "kworker/1-event" : "kworker/1+event");
                free(t);
        }
        fixture_free(f);
}

static void test_scan_many_threads(void **state) {
        (void) state;
        /* one process with more threads than the first seen-map holds */
        FakeSpec s = { .processes = 1, .threads = 2900, .kthreads = 2, .ncpus = 1 };
        Fixture *f = fixture_new(&s, true);
        VmiTask *t = NULL;
        size_t n = 0;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        assert_int_equal(n, 1 + 2 + 2900);
        check_scan(f, t, n);
        free(t);
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        assert_int_equal(n, 1 + 2 + 2900);
        free(t);
        fixture_free(f);
}

static void test_scan_torn_and_hostile(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        VmiTask *t = NULL;
        size_t n = 0;
        FakeKernel *fk = &f->fk;
        const FakeTask *p1 = fk_find(fk, 1);
        uint64_t saved = fk_r64(fk, p1->pa + FK_T_TASKS);

        /* a cycle back to pid 1: detected (no hang) */
        fk_w64(fk, p1->pa + FK_T_TASKS, fk_dm(fk, p1->pa + FK_T_TASKS));
        assert_int_equal(vmi_scan(f->vmi, &t, &n), -EAGAIN);
        /* a pointer outside RAM */
        fk_w64(fk, p1->pa + FK_T_TASKS, fk_dm(fk, FK_IMAGE_SIZE + 0x1000));
        assert_int_equal(vmi_scan(f->vmi, &t, &n), -EAGAIN);
        /* a user pointer, an unaligned pointer */
        fk_w64(fk, p1->pa + FK_T_TASKS, 0x1000);
        assert_int_equal(vmi_scan(f->vmi, &t, &n), -EAGAIN);
        fk_w64(fk, p1->pa + FK_T_TASKS, saved + 3);
        assert_int_equal(vmi_scan(f->vmi, &t, &n), -EAGAIN);
        assert_int_equal(vmi_scan_retry(f->vmi, 3, &t, &n), -EAGAIN);
        fk_w64(fk, p1->pa + FK_T_TASKS, saved);
        assert_int_equal(vmi_scan_retry(f->vmi, 3, &t, &n), 0);
        free(t);

        /* a thread ring that never comes back to its leader */
        const FakeTask *last = &fk->tasks[fk->n_tasks - 1];
        saved = fk_r64(fk, last->pa + FK_T_THREAD_GROUP);
        fk_w64(fk, last->pa + FK_T_THREAD_GROUP, fk_dm(fk, last->pa + FK_T_THREAD_GROUP));
        assert_int_equal(vmi_scan(f->vmi, &t, &n), -EAGAIN);
        fk_w64(fk, last->pa + FK_T_THREAD_GROUP, saved);

        /* bounded: max_tasks */
        f->vmi->opt.max_tasks = 5;
        int r = vmi_scan(f->vmi, &t, &n);
        assert_true(r == -E2BIG || r == -ELOOP);
        f->vmi->opt.max_tasks = 0x10000;

        /* garbage pid */
        fk_w32(fk, p1->pa + FK_T_PID, 0xffffffffu);
        assert_int_equal(vmi_scan(f->vmi, &t, &n), -EAGAIN);
        fk_w32(fk, p1->pa + FK_T_PID, 1);

        /* a comm without NUL stays a C string */
        const FakeTask *k = fk_find(fk, 2);
        memset(fk->image + k->pa + FK_T_COMM, 'A', 16);
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (t[i].t.tid == 2)
                        assert_int_equal(strlen(t[i].t.comm), 15);
        free(t);
        fixture_free(f);
}

static void test_new_task_seen(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        f->vmi->opt.copy_windows = true;   /* exercise the prefetch */
        VmiTask *t = NULL;
        size_t n = 0, n0;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        free(t);
        n0 = n;
        /* unlink the last process (all of its threads): the prefetched
         * windows must not resurrect it */
        FakeKernel *fk = &f->fk;
        const FakeTask *last = &fk->tasks[fk->n_tasks - 1];
        const FakeTask *leader = fk_find(fk, last->tgid);
        uint64_t prev = fk_r64(fk, leader->pa + FK_T_TASKS + 8), next = fk_r64(fk, leader->pa + FK_T_TASKS);
        /* prev->next = next; next->prev = prev (next is init_task in the kernel image) */
        fk_w64(fk, prev - fk->page_offset_base, next);
        fk_w64(fk, FK_PA_INIT_TASK + FK_T_TASKS + 8, prev);
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        assert_int_equal(n, n0 - (size_t) small.threads);
        free(t);
        fixture_free(f);
}

static void test_cpus(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        VmiCpu *c = NULL;
        size_t n = 0;
        assert_int_equal(vmi_read_cpus(f->vmi, &c, &n), 0);
        assert_int_equal(n, 2);
        const FakeTask *last = &f->fk.tasks[f->fk.n_tasks - 1];
        assert_false(c[0].idle);
        assert_int_equal(c[0].tid, last->pid);
        assert_int_equal(c[0].pid, last->tgid);
        assert_string_equal(c[0].comm, last->comm);
        assert_int_equal(c[0].nr_running, 1);
        assert_true(c[1].idle);
        assert_string_equal(c[1].comm, "swapper/1");
        free(c);
        /* a torn rq: not the CPU it claims */
        fk_w32(&f->fk, FK_PA_PERCPU + FK_PERCPU_UNIT + FK_PCPU_RUNQUEUES + FK_RQ_CPU, 7);
        assert_int_equal(vmi_read_cpus(f->vmi, &c, &n), -EAGAIN);
        fixture_free(f);
}

/* ---- hostile guests: bounded work per attach and per round ---------------- */

static long status_kb(const char *key) {
        FILE *fp = fopen("/proc/self/status", "re");
        assert_non_null(fp);
        char line[256];
        long v = -1;
        while (fgets(line, sizeof line, fp))
                if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
                        v = strtol(line + strlen(key) + 1, NULL, 10);
        fclose(fp);
        return v;
}

static void reset_peak(void) {
        FILE *cr = fopen("/proc/self/clear_refs", "we");
        if (cr) {
                fputs("5", cr);
                fclose(cr);
        }
}

/* RAM full of "swapper/0" tasks with pid 0 (init_task itself renamed): the
 * search gives up at a bound with a clear error instead of trying them all. */
static void test_hostile_candidates(void **state) {
        (void) state;
        const size_t size = 64u << 20;
        FakeKernel fk = {};
        assert_int_equal(fake_kernel_build(&fk, &small), 0);
        uint8_t *img = calloc(1, size);
        assert_non_null(img);
        memcpy(img, fk.image, fk.size);
        memcpy(img + FK_PA_INIT_TASK + FK_T_COMM, "swapper/X", 10);
        size_t n = 0;
        for (uint64_t pa = FK_IMAGE_SIZE; pa + FK_TASK_SIZE <= size; pa += 256, n++) {
                memcpy(img + pa + FK_T_COMM, "swapper/0", 10);
                uint64_t next = fk.page_offset_base + pa + 4096 + FK_T_TASKS;
                memcpy(img + pa + FK_T_TASKS, &next, 8);
        }
        assert_true(n > 4 * VMI_INIT_MAX_CANDIDATES);
        VmiMem *m;
        assert_int_equal(vmi_mem_open_buffer(img, size, false, &m), 0);
        Vmi *v = NULL;
        assert_int_equal(vmi_attach(m, NULL, &v), -E2BIG);
        assert_null(v);
        assert_non_null(strstr(vmi_last_error(NULL), "swapper/0"));
        assert_non_null(strstr(vmi_last_error(NULL), "giving up"));
        /* a few strings without pid 0 are not candidates: the real one is still found */
        memcpy(img + FK_PA_INIT_TASK + FK_T_COMM, "swapper/0", 10);
        assert_int_equal(vmi_attach(m, NULL, &v), 0);
        vmi_free(v);
        vmi_mem_free(m);
        free(img);
        fake_kernel_done(&fk);
}

/* A guest rewriting init_task's comm every round: the structure still
 * holds, so nothing is searched; when it really moved, re-attaches are
 * rate-limited (N polls -> at most K attaches), and each refused poll says
 * so. */
static void test_reattach_rate(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        VmiOptions o = { .cmdline = true, .max_cpus = small.ncpus };
        VmiReattach rl = {};
        uint64_t t = 1000000;
        memcpy(f->fk.image + FK_PA_INIT_TASK + FK_T_COMM, "evil", 5);
        for (int i = 0; i < 100; i++, t += 100000)
                assert_int_equal(vmi_revalidate(&f->vmi, f->mem, &o, &rl, t), 0);
        assert_int_equal(rl.attempts, 0);
        assert_int_equal(f->vmi->stats.renamed_init, 100);
        VmiTask *tasks;
        size_t n;
        assert_int_equal(vmi_scan_retry(f->vmi, 3, &tasks, &n), 0);
        assert_true(n == f->fk.n_tasks);
        free(tasks);

        /* now also unlinked from pid 1: not the kernel attach found */
        uint64_t prev = fk_r64(&f->fk, f->fk.tasks[0].pa + FK_T_TASKS + 8);
        fk_w64(&f->fk, f->fk.tasks[0].pa + FK_T_TASKS + 8, 0);
        int eagain = 0;
        for (int i = 0; i < 100; i++, t += 100000) {   /* 10 s of polls */
                int r = vmi_revalidate(&f->vmi, f->mem, &o, &rl, t);
                assert_true(r < 0);
                if (r == -EAGAIN) {
                        eagain++;
                        assert_non_null(strstr(vmi_last_error(NULL), "next re-attach in"));
                }
        }
        print_message("100 polls: %" PRIu64 " attaches, %d refused\n", rl.attempts, eagain);
        assert_true(rl.attempts >= 1 && rl.attempts <= 5);
        assert_int_equal(eagain, 100 - (int) rl.attempts);
        /* back in place and named: valid again, no attach */
        fk_w64(&f->fk, f->fk.tasks[0].pa + FK_T_TASKS + 8, prev);
        memcpy(f->fk.image + FK_PA_INIT_TASK + FK_T_COMM, "swapper/0", 10);
        uint64_t before = rl.attempts;
        assert_int_equal(vmi_revalidate(&f->vmi, f->mem, &o, &rl, t), 0);
        assert_int_equal(rl.attempts, before);
        fixture_free(f);
}

/* The task window comes from the guest's BTF (up to 64 KiB): the prefetch
 * copies at most VMI_PREFETCH_MAX_BYTES, and the scan is still complete. */
static void test_prefetch_cap(void **state) {
        (void) state;
        FakeSpec s = { .processes = 900, .threads = 3, .kthreads = 50, .ncpus = 2 };
        Fixture *f = fixture_new(&s, false);
        VmiOptions o = { .max_cpus = 2, .copy_windows = true };
        assert_int_equal(vmi_attach(f->mem, &o, &f->vmi), 0);
        VmiTask *t;
        size_t n, n2;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        free(t);
        assert_true(n > 2000);
        f->vmi->L.span_hi = f->vmi->L.span_lo + 65536;
        assert_int_equal(vmi_scan(f->vmi, &t, &n2), 0);
        free(t);
        assert_int_equal(n2, n);
        assert_true(f->vmi->stats.prefetch_bytes > 0);
        assert_true(f->vmi->stats.prefetch_bytes <= VMI_PREFETCH_MAX_BYTES);
        assert_true(f->vmi->pf_cap <= VMI_PREFETCH_MAX_BYTES);
        fixture_free(f);
}

/* Attach through a shared RAM file (memfd, as QEMU's share=on RAM) whose
 * init_task was renamed: the search reads all of RAM, but through the
 * file, so neither our RSS nor the file's allocation grows with it. */
static void test_shared_ram_scan(void **state) {
        (void) state;
        const uint64_t size = UINT64_C(512) << 20;
        int fd = memfd_create("guest-ram", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        FakeKernel fk = {};
        assert_int_equal(fake_kernel_build(&fk, &small), 0);
        assert_int_equal(pwrite(fd, fk.image, fk.size, 0), (ssize_t) fk.size);
        VmiMem *m;
        assert_int_equal(vmi_mem_open_fd(fd, size, true, &m), 0);
        Vmi *v = NULL;
        assert_int_equal(vmi_attach(m, NULL, &v), 0);   /* the real one: found, as before */
        VmiTask *t;
        size_t n;
        assert_int_equal(vmi_scan(v, &t, &n), 0);
        assert_int_equal(n, fk.n_tasks);
        free(t);
        vmi_free(v);
        v = NULL;

        const char bad[10] = "swapper/X";
        assert_int_equal(pwrite(fd, bad, sizeof bad, FK_PA_INIT_TASK + FK_T_COMM), (ssize_t) sizeof bad);
        reset_peak();
        long rss0 = status_kb("VmRSS");
        assert_int_equal(vmi_attach(m, NULL, &v), -ENOENT);
        long growth_kb = status_kb("VmHWM") - rss0;
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        print_message("whole-RAM search: RSS growth %ld KiB, RAM file allocated %lld KiB of %" PRIu64 "\n", growth_kb,
                      (long long) st.st_blocks / 2, size >> 10);
        assert_true(growth_kb < 64 * 1024);
        assert_true((uint64_t) st.st_blocks * 512 < (UINT64_C(64) << 20));
        vmi_mem_free(m);
        close(fd);
        fake_kernel_done(&fk);
}

static void test_gs_route(void **state) {
        (void) state;
        FakeSpec s = small;
        s.ncpus = 3;
        Fixture *f = fixture_new(&s, false);
        /* no usable root task group: the per-CPU areas come from GS */
        fk_w64(&f->fk, FK_PA_ROOT_TG + FK_TG_CFS_RQ, 0);
        fk_w64(&f->fk, FK_PA_INIT_TASK + FK_T_SE + FK_SE_CFS_RQ, 0);
        VmiVcpuRegs regs[3] = {
                { .index = 0, .gs_base = 0, .cpl = 3 },   /* user mode */
                { .index = 1, .gs_base = f->fk.page_offset_base + FK_PA_PERCPU + FK_PERCPU_UNIT, .cpl = 0 },
                { .index = 2, .gs_base = 0x7f0000001000, .cpl = 3 },
        };
        VmiOptions o = { .max_cpus = 3, .regs = regs, .n_regs = 3 };
        assert_int_equal(vmi_attach(f->mem, &o, &f->vmi), 0);
        assert_string_equal(f->vmi->cpus_how, "gs");
        assert_int_equal(f->vmi->ncpus, 3);
        assert_int_equal(f->vmi->cpu_vcpu[1], 1);
        assert_int_equal(f->vmi->rq_va[2], f->fk.page_offset_base + FK_PA_PERCPU + 2 * FK_PERCPU_UNIT + FK_PCPU_RUNQUEUES);
        fixture_free(f);
}

static void test_gs_contradiction(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, false);
        /* vCPU 0's GS says it runs CPU 1: fine, mapping recorded */
        VmiVcpuRegs regs[1] = { { .index = 0, .gs_base = f->fk.page_offset_base + FK_PA_PERCPU + FK_PERCPU_UNIT, .cpl = 0 } };
        VmiOptions o = { .max_cpus = 2, .regs = regs, .n_regs = 1 };
        assert_int_equal(vmi_attach(f->mem, &o, &f->vmi), 0);
        assert_int_equal(f->vmi->cpu_vcpu[1], 0);
        assert_int_equal(f->vmi->cpu_vcpu[0], -1);   /* not the identity: unknown */
        assert_int_equal(f->vmi->gs_checked, 1);
        fixture_free(f);
}

static void test_inject(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        FakeKernel *fk = &f->fk;
        const FakeTask *u = &fk->tasks[fk->n_tasks - 1];
        uint64_t va = fk_dm(fk, u->pa);
        bool pending;
        char st;
        assert_int_equal(vmi_task_stop_state(f->vmi, va, u->pid, &pending, &st), 0);
        assert_false(pending);
        /* siglock held: refused, nothing written */
        fk_w32(fk, FK_PA_SIGHAND + FK_SH_SIGLOCK, 1);
        assert_int_equal(vmi_inject_sigstop(f->vmi, va, u->pid), -EBUSY);
        assert_int_equal(fk_r64(fk, u->pa + FK_T_PENDING + FK_PENDING_SIGNAL), 0);
        fk_w32(fk, FK_PA_SIGHAND + FK_SH_SIGLOCK, 0);
        /* wrong tid: the task is not who we think */
        assert_int_equal(vmi_inject_sigstop(f->vmi, va, u->pid + 1), -ESRCH);
        assert_int_equal(vmi_inject_sigstop(f->vmi, va, u->pid), 0);
        assert_int_equal(fk_r64(fk, u->pa + FK_T_PENDING + FK_PENDING_SIGNAL), UINT64_C(1) << 18);
        assert_int_equal(fk_r64(fk, u->pa + FK_T_TI_FLAGS) & 4, 4);
        assert_int_equal(vmi_task_stop_state(f->vmi, va, u->pid, &pending, &st), 0);
        assert_true(pending);
        /* kernel threads and init are refused */
        const FakeTask *k = fk_find(fk, 2);
        assert_int_equal(vmi_inject_sigstop(f->vmi, fk_dm(fk, k->pa), 2), -EPERM);
        const FakeTask *init = fk_find(fk, 1);
        assert_int_equal(vmi_inject_sigstop(f->vmi, fk_dm(fk, init->pa), 1), -EPERM);
        /* a read-only source refuses writes */
        VmiMem *ro;
        assert_int_equal(vmi_mem_open_buffer(fk->image, fk->size, false, &ro), 0);
        assert_int_equal(vmi_mem_write(ro, 0x1000, "x", 1), -EROFS);
        vmi_mem_free(ro);
        fixture_free(f);
}

/* An ISF profile written from the layout the BTF gave, with nested types
 * for the dotted members, as Volatility's tools write them. */
static char *isf_from_layout(const VmiLayout *L) {
        json_object *ut = json_object_new_object(), *bt = json_object_new_object(), *sym = json_object_new_object();
        json_object *types[16];
        const char *names[16];
        size_t nt = 0;
#define TYPE(n, size)                                                                     \
        ({                                                                                \
                json_object *t = json_object_new_object();                                \
                json_object_object_add(t, "size", json_object_new_int(size));             \
                json_object_object_add(t, "fields", json_object_new_object());            \
                json_object_object_add(ut, n, t);                                         \
                names[nt] = n;                                                            \
                types[nt++] = t;                                                          \
                t;                                                                        \
        })
#define FIELD(t, n, off, kind, tname)                                                     \
        do {                                                                              \
                if ((off) < 0)                                                            \
                        break;                                                            \
                json_object *f = json_object_new_object(), *ty = json_object_new_object(), *fl; \
                json_object_object_add(f, "offset", json_object_new_int(off));            \
                json_object_object_add(ty, "kind", json_object_new_string(kind));         \
                json_object_object_add(ty, "name", json_object_new_string(tname));        \
                json_object_object_add(f, "type", ty);                                    \
                json_object_object_get_ex(t, "fields", &fl);                              \
                json_object_object_add(fl, n, f);                                         \
        } while (0)
        json_object *task = TYPE("task_struct", L->task_size), *ti = TYPE("thread_info", 64),
                    *se = TYPE("sched_entity", 256), *sp = TYPE("sigpending", 24);
        FIELD(task, "__state", L->t_state, "base", "unsigned int");
        FIELD(task, "thread_info", 0, "struct", "thread_info");
        FIELD(ti, "flags", L->t_ti_flags, "base", "unsigned long");
        FIELD(ti, "cpu", L->t_cpu, "base", "unsigned int");
        FIELD(task, "se", 0, "struct", "sched_entity");
        FIELD(se, "sum_exec_runtime", L->t_sum_exec, "base", "unsigned long");
        FIELD(se, "cfs_rq", L->t_se_cfs_rq, "pointer", "");
        FIELD(task, "pending", 0, "struct", "sigpending");
        FIELD(sp, "signal", L->t_pending_sig, "base", "unsigned long");
        static const struct { const char *n; size_t off; } flat[] = {
                { "flags", offsetof(VmiLayout, t_flags) },           { "on_cpu", offsetof(VmiLayout, t_on_cpu) },
                { "on_rq", offsetof(VmiLayout, t_on_rq) },           { "static_prio", offsetof(VmiLayout, t_static_prio) },
                { "rt_priority", offsetof(VmiLayout, t_rt_priority) }, { "policy", offsetof(VmiLayout, t_policy) },
                { "tasks", offsetof(VmiLayout, t_tasks) },           { "pid", offsetof(VmiLayout, t_pid) },
                { "tgid", offsetof(VmiLayout, t_tgid) },             { "thread_group", offsetof(VmiLayout, t_thread_group) },
                { "thread_node", offsetof(VmiLayout, t_thread_node) }, { "comm", offsetof(VmiLayout, t_comm) },
                { "start_boottime", offsetof(VmiLayout, t_start_time) }, { "mm", offsetof(VmiLayout, t_mm) },
                { "active_mm", offsetof(VmiLayout, t_active_mm) },   { "sighand", offsetof(VmiLayout, t_sighand) },
                { "signal", offsetof(VmiLayout, t_signal) },         { "exit_state", offsetof(VmiLayout, t_exit_state) },
                { "worker_private", offsetof(VmiLayout, t_worker_private) },
        };
        for (size_t i = 0; i < sizeof flat / sizeof flat[0]; i++)
                FIELD(task, flat[i].n, *(const int32_t *) ((const char *) L + flat[i].off), "base", "unsigned long");
        json_object *sig = TYPE("signal_struct", 1024), *sh = TYPE("sighand_struct", 2048), *mm = TYPE("mm_struct", 2048),
                    *rq = TYPE("rq", 4096), *cfs = TYPE("cfs_rq", 512), *tg = TYPE("task_group", 512),
                    *kt = TYPE("kthread", 256), *wk = TYPE("worker", 256);
        FIELD(sig, "thread_head", L->sig_thread_head, "base", "unsigned long");
        FIELD(sh, "siglock", L->sh_siglock, "base", "unsigned int");
        FIELD(mm, "pgd", L->mm_pgd, "pointer", "");
        FIELD(mm, "arg_start", L->mm_arg_start, "base", "unsigned long");
        FIELD(mm, "arg_end", L->mm_arg_end, "base", "unsigned long");
        FIELD(rq, "cpu", L->rq_cpu, "base", "unsigned int");
        FIELD(rq, "curr", L->rq_curr, "pointer", "");
        FIELD(rq, "idle", L->rq_idle, "pointer", "");
        FIELD(rq, "nr_running", L->rq_nr_running, "base", "unsigned int");
        FIELD(rq, "cfs", L->rq_cfs, "struct", "cfs_rq");
        FIELD(cfs, "tg", L->cfs_rq_tg, "pointer", "");
        FIELD(tg, "cfs_rq", L->tg_cfs_rq, "pointer", "");
        FIELD(kt, "data", L->kthread_data, "pointer", "");
        FIELD(wk, "desc", L->worker_desc, "base", "char");
        FIELD(wk, "current_work", L->worker_current_work, "pointer", "");
        FIELD(wk, "pool", L->worker_pool, "pointer", "");
#undef FIELD
#undef TYPE
        (void) names;
        (void) types;
        json_object *u4 = json_object_new_object(), *u8 = json_object_new_object();
        json_object_object_add(u4, "size", json_object_new_int(4));
        json_object_object_add(u8, "size", json_object_new_int(8));
        json_object_object_add(bt, "unsigned int", u4);
        json_object_object_add(bt, "unsigned long", u8);
        json_object *rqs = json_object_new_object(), *cur = json_object_new_object();
        json_object_object_add(rqs, "address", json_object_new_int64(L->pcpu_runqueues));
        json_object_object_add(cur, "address", json_object_new_int64(L->pcpu_current_task));
        json_object_object_add(sym, "runqueues", rqs);
        json_object_object_add(sym, "current_task", cur);
        json_object *root = json_object_new_object();
        json_object_object_add(root, "user_types", ut);
        json_object_object_add(root, "base_types", bt);
        json_object_object_add(root, "symbols", sym);
        char *text = strdup(json_object_to_json_string(root));
        json_object_put(root);
        return text;
}

static char *write_temp(const char *text) {
        char *path = strdup("/tmp/xvsched-test-profile-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        return path;
}

/* A kernel without BTF, described by an ISF profile: the same layout, the
 * same scan. */
static void test_isf_profile(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        VmiLayout from_btf = f->vmi->L;
        _cleanup_free_ char *text = isf_from_layout(&from_btf);
        _cleanup_free_ char *path = write_temp(text);
        VmiProfile *isf = NULL;
        assert_int_equal(vmi_profile_load_isf(path, &isf), 0);
        VmiLayout from_isf;
        assert_int_equal(vmi_layout_from_profile(isf, &from_isf), 0);
        assert_memory_equal(&from_isf, &from_btf, sizeof from_isf);

        /* Wipe the BTF from guest RAM: attaching needs the profile now. */
        vmi_free(f->vmi);
        f->vmi = NULL;
        memset(f->fk.image + FK_PA_BTF, 0, f->fk.btf_size);
        assert_true(vmi_attach(f->mem, NULL, &f->vmi) < 0);
        VmiOptions o = { .cmdline = true, .max_cpus = small.ncpus, .profile = isf };
        assert_int_equal(vmi_attach(f->mem, &o, &f->vmi), 0);
        VmiTask *t = NULL;
        size_t n = 0;
        assert_int_equal(vmi_scan(f->vmi, &t, &n), 0);
        check_scan(f, t, n);
        free(t);
        vmi_profile_free(isf);
        unlink(path);

        /* Garbage is refused. */
        _cleanup_free_ char *bad = write_temp("{\"symbols\": {}}");
        assert_int_equal(vmi_profile_load_isf(bad, &isf), -EBADMSG);
        unlink(bad);
        fixture_free(f);
}

/* A System.map must agree with the guest's init_task, moved in 2 MiB steps. */
static void test_system_map(void **state) {
        (void) state;
        Fixture *f = fixture_new(&small, true);
        uint64_t init_va = f->vmi->init_task_va;
        char text[256];
        snprintf(text, sizeof text, "ffffffff81000000 T _text\n%016llx D init_task\n000000000001f000 D runqueues\n",
                 (unsigned long long) (init_va - 0x1a00000));
        _cleanup_free_ char *path = write_temp(text);
        VmiProfile *map = NULL;
        assert_int_equal(vmi_profile_load_system_map(path, &map), 0);
        vmi_free(f->vmi);
        f->vmi = NULL;
        VmiOptions o = { .max_cpus = small.ncpus, .system_map = map };
        assert_int_equal(vmi_attach(f->mem, &o, &f->vmi), 0);
        assert_int_equal(f->vmi->kaslr_slide, 0x1a00000);
        vmi_profile_free(map);
        unlink(path);

        /* A map of another kernel (init_task not 2 MiB away) is refused. */
        snprintf(text, sizeof text, "%016llx D init_task\n", (unsigned long long) (init_va - 0x1234));
        _cleanup_free_ char *other = write_temp(text);
        assert_int_equal(vmi_profile_load_system_map(other, &map), 0);
        vmi_free(f->vmi);
        f->vmi = NULL;
        o.system_map = map;
        assert_true(vmi_attach(f->mem, &o, &f->vmi) < 0);
        assert_non_null(strstr(vmi_last_error(NULL), "does not match"));
        vmi_profile_free(map);
        unlink(other);
        _cleanup_free_ char *garbage = write_temp("not a map\n");
        assert_int_equal(vmi_profile_load_system_map(garbage, &map), -EBADMSG);
        unlink(garbage);
        fixture_free(f);
}

static void test_no_btf(void **state) {
        (void) state;
        uint8_t *img = calloc(1, 1 << 20);
        assert_non_null(img);
        /* headers that look right but are not BTF */
        static const uint8_t hdr[8] = { 0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00 };
        for (int i = 0; i < 8; i++) {
                memcpy(img + 4096 * (size_t) i, hdr, 8);
                uint32_t lens[4] = { 0, 0x100, 0x100, (uint32_t) (i * 0x10000000u) };
                memcpy(img + 4096 * (size_t) i + 8, lens, sizeof lens);
        }
        VmiMem *m;
        Vmi *v = NULL;
        assert_int_equal(vmi_mem_open_buffer(img, 1 << 20, false, &m), 0);
        assert_int_equal(vmi_attach(m, NULL, &v), -ENOENT);
        assert_non_null(strstr(vmi_last_error(NULL), "BTF"));
        vmi_mem_free(m);
        free(img);
}

static void test_mem_regions(void **state) {
        (void) state;
        static uint8_t low[8192], high[8192];
        for (size_t i = 0; i < sizeof low; i++) {
                low[i] = (uint8_t) i;
                high[i] = (uint8_t) (i ^ 0xff);
        }
        VmiRegion r[3] = {
                { .gpa = 0, .size = 4096, .local = low },
                { .gpa = 4096, .size = 4096, .local = low + 4096 },   /* adjacent block */
                { .gpa = UINT64_C(1) << 32, .size = 8192, .local = high },
        };
        VmiMem *m;
        assert_int_equal(vmi_mem_open_regions(r, 3, false, &m), 0);
        assert_int_equal(m->ram_size, 16384);
        assert_int_equal(m->gpa_end, (UINT64_C(1) << 32) + 8192);
        uint8_t buf[64];
        assert_int_equal(vmi_mem_read(m, 4096 - 32, buf, 64), 0);   /* across adjacent regions */
        assert_memory_equal(buf, low + 4096 - 32, 64);
        assert_int_equal(vmi_mem_read(m, 8192 - 8, buf, 16), -EFAULT);   /* into the hole */
        assert_int_equal(vmi_mem_read(m, UINT64_C(0xc0000000), buf, 8), -EFAULT);
        assert_int_equal(vmi_mem_read(m, (UINT64_C(1) << 32) + 8, buf, 8), 0);
        assert_memory_equal(buf, high + 8, 8);
        assert_int_equal(vmi_mem_read(m, UINT64_MAX - 4, buf, 8), -EFAULT);
        VmiIov iov[2] = { { 100, buf, 8 }, { (UINT64_C(1) << 32) + 16, buf + 8, 8 } };
        assert_int_equal(vmi_mem_readv(m, iov, 2), 0);
        assert_memory_equal(buf, low + 100, 8);
        assert_memory_equal(buf + 8, high + 16, 8);
        iov[1].gpa = 3u << 30;
        assert_int_equal(vmi_mem_readv(m, iov, 2), -EFAULT);
        vmi_mem_free(m);
}

static void test_parsers(void **state) {
        (void) state;
        static const char ramblock[] =
                "              Block Name    PSize              Offset               Used              Total\n"
                "                  pc.ram    4 KiB  0x0000000000000000 0x0000000100000000 0x0000000100000000\n"
                "    /rom@etc/acpi/tables    4 KiB  0x0000000100080000 0x0000000000020000 0x0000000000200000\n"
                "                 pc.bios    4 KiB  0x0000000100000000 0x0000000000040000 0x0000000000040000\n";
        char name[64];
        uint64_t size;
        assert_int_equal(vmi_parse_ramblock(ramblock, name, sizeof name, &size), 0);
        assert_string_equal(name, "pc.ram");
        assert_int_equal(size, UINT64_C(0x100000000));
        assert_int_equal(vmi_parse_ramblock("garbage\n", name, sizeof name, &size), -ENODATA);

        static const char mtree[] =
                "FlatView #0\n AS \"I/O\", root: io\n  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n"
                "FlatView #1\n AS \"memory\", root: system\n AS \"cpu-memory-0\", root: system\n"
                " Root memory region: system\n"
                "  0000000000000000-00000000000bffff (prio 0, ram): pc.ram\n"
                "  00000000000c0000-00000000000dffff (prio 1, rom): pc.ram @00000000000c0000\n"
                "  00000000000e0000-00000000000fffff (prio 1, rom): pc.bios @0000000000020000\n"
                "  0000000000100000-00000000bfffffff (prio 0, ram): pc.ram @0000000000100000\n"
                "  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
                "  0000000100000000-000000013fffffff (prio 0, ram): pc.ram @00000000c0000000\n"
                "FlatView #2\n AS \"cpu-smm-0\", root: memory\n"
                "  0000000000000000-00000000000bffff (prio 0, ram): pc.ram\n";
        VmiRamRange *rr = NULL;
        size_t n = 0;
        assert_int_equal(vmi_parse_mtree(mtree, "pc.ram", &rr, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(rr[0].gpa, 0);
        assert_int_equal(rr[0].size, 0xe0000);
        assert_int_equal(rr[1].gpa, 0x100000);
        assert_int_equal(rr[1].offset, 0x100000);
        assert_int_equal(rr[1].size, UINT64_C(0xc0000000) - 0x100000);
        assert_int_equal(rr[2].gpa, UINT64_C(0x100000000));
        assert_int_equal(rr[2].offset, UINT64_C(0xc0000000));
        assert_int_equal(rr[2].size, UINT64_C(0x40000000));
        free(rr);
        assert_int_equal(vmi_parse_mtree(mtree, "nope", &rr, &n), -ENODATA);

        VmiRamRange pc[2];
        assert_int_equal(vmi_pc_layout(UINT64_C(256) << 20, false, pc, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(pc[0].size, UINT64_C(256) << 20);
        assert_int_equal(vmi_pc_layout(UINT64_C(4) << 30, false, pc, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(pc[0].size, UINT64_C(3) << 30);
        assert_int_equal(pc[1].gpa, UINT64_C(4) << 30);
        assert_int_equal(pc[1].offset, UINT64_C(3) << 30);
        assert_int_equal(pc[1].size, UINT64_C(1) << 30);
        assert_int_equal(vmi_pc_layout(UINT64_C(4) << 30, true, pc, &n), 0);
        assert_int_equal(pc[0].size, UINT64_C(2) << 30);
        assert_int_equal(pc[1].size, UINT64_C(2) << 30);
        assert_int_equal(vmi_pc_layout(UINT64_C(0xa0000000), true, pc, &n), 0);
        assert_int_equal(n, 1);

        static const char regs[] =
                "CPU#0\nRAX=0000000000000000 RBX=00000000338e9c60\n"
                "RIP=0000000000525c4b RFL=00000246 [---Z-P-] CPL=3 II=0 A20=1 SMM=0 HLT=0\n"
                "GS =0000 0000000000000000 00000000 00000000\n"
                "CR0=80050033 CR2=0000000015d4a750 CR3=0000000002bce000 CR4=000006f0\n"
                "CPU#1\nRIP=ffffffffa9c592eb RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
                "GS =0000 ffff89388f700000 00000000 00000000\n"
                "CR0=80050033 CR2=000000000f821000 CR3=0000000002bcc000 CR4=000006e0\n";
        VmiVcpuRegs *vr = NULL;
        assert_int_equal(vmi_parse_info_registers(regs, &vr, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(vr[0].cpl, 3);
        assert_int_equal(vr[0].gs_base, 0);
        assert_int_equal(vr[0].cr3, 0x2bce000);
        assert_int_equal(vr[1].cpl, 0);
        assert_true(vr[1].halted);
        assert_int_equal(vr[1].gs_base, UINT64_C(0xffff89388f700000));
        free(vr);
        assert_int_equal(vmi_parse_info_registers("nothing", &vr, &n), -ENODATA);
}

static void test_state_chars(void **state) {
        (void) state;
        assert_int_equal(vmi_state_char(0, 0), 'R');
        assert_int_equal(vmi_state_char(1, 0), 'S');
        assert_int_equal(vmi_state_char(0x2001, 0), 'S');   /* TASK_FREEZABLE | INTERRUPTIBLE */
        assert_int_equal(vmi_state_char(2, 0), 'D');
        assert_int_equal(vmi_state_char(0x402, 0), 'I');
        assert_int_equal(vmi_state_char(0x104, 0), 'T');    /* TASK_STOPPED */
        assert_int_equal(vmi_state_char(0x108, 0), 't');
        assert_int_equal(vmi_state_char(0, 32), 'Z');
        assert_int_equal(vmi_state_char(0, 16), 'X');
        assert_int_equal(vmi_state_char(0x40, 0), 'P');
        assert_int_equal(vmi_state_char(0xffffffffu, 0), 'P');   /* garbage still maps to a letter */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_layout),
                cmocka_unit_test(test_attach),
                cmocka_unit_test(test_scan),
                cmocka_unit_test(test_scan_big),
                cmocka_unit_test(test_worker_names),
                cmocka_unit_test(test_scan_many_threads),
                cmocka_unit_test(test_scan_torn_and_hostile),
                cmocka_unit_test(test_new_task_seen),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_gs_route),
                cmocka_unit_test(test_gs_contradiction),
                cmocka_unit_test(test_inject),
                cmocka_unit_test(test_no_btf), cmocka_unit_test(test_isf_profile), cmocka_unit_test(test_system_map),
                cmocka_unit_test(test_mem_regions),
                cmocka_unit_test(test_parsers),
                cmocka_unit_test(test_state_chars),
                cmocka_unit_test(test_hostile_candidates),
                cmocka_unit_test(test_reattach_rate),
                cmocka_unit_test(test_prefetch_cap),
                cmocka_unit_test(test_shared_ram_scan),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
