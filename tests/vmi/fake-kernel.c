/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-kernel.h"

#define FK_PAGE_OFFSET_BASE UINT64_C(0xffff9a8b40000000)   /* 1 GiB aligned, "randomized" */
#define FK_KIMAGE_VOFFSET   UINT64_C(0xffffffffa6e00000)   /* kernel-image VA - PA */
#define PF_KTHREAD 0x00200000u

uint64_t fk_dm(const FakeKernel *fk, uint64_t pa) {
        return fk->page_offset_base + pa;
}

uint64_t fk_kimg(const FakeKernel *fk, uint64_t pa) {
        return fk->kimage_voffset + pa;
}

void fk_w32(FakeKernel *fk, uint64_t pa, uint32_t v) {
        memcpy(fk->image + pa, &v, 4);
}

void fk_w64(FakeKernel *fk, uint64_t pa, uint64_t v) {
        memcpy(fk->image + pa, &v, 8);
}

uint64_t fk_r64(const FakeKernel *fk, uint64_t pa) {
        uint64_t v;
        memcpy(&v, fk->image + pa, 8);
        return v;
}

static int field(struct btf *b, const char *name, int type, int byte_off) {
        return btf__add_field(b, name, type, (uint32_t) byte_off * 8, 0);
}

/* The BTF of the fake kernel; *ret malloc'd raw blob. */
static int build_btf(void **ret, size_t *ret_size) {
        struct btf *b = btf__new_empty();
        if (!b)
                return -ENOMEM;
        int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
        int u32 = btf__add_int(b, "unsigned int", 4, 0);
        int u64 = btf__add_int(b, "long long unsigned int", 8, 0);
        int ch = btf__add_int(b, "char", 1, BTF_INT_CHAR);
        int vp = btf__add_ptr(b, 0);
        int comm = btf__add_array(b, u32, ch, 16);
        int desc = btf__add_array(b, u32, ch, 24);

        int lh = btf__add_struct(b, "list_head", 16);
        field(b, "next", vp, 0);
        field(b, "prev", vp, 8);
        int ti = btf__add_struct(b, "thread_info", 32);
        field(b, "flags", u64, 0);
        field(b, "syscall_work", u64, 8);
        field(b, "status", u32, 16);
        field(b, "cpu", u32, 24);
        int se = btf__add_struct(b, "sched_entity", 64);
        field(b, "cfs_rq", vp, FK_SE_CFS_RQ);
        field(b, "sum_exec_runtime", u64, FK_SE_SUM_EXEC);
        int sigset = btf__add_struct(b, "sigset_t_s", 8);   /* typedef'd struct in reality */
        field(b, "sig", u64, 0);
        int sigset_td = btf__add_typedef(b, "sigset_t", sigset);
        int sp = btf__add_struct(b, "sigpending", 24);
        field(b, "list", lh, 0);
        field(b, "signal", sigset_td, FK_PENDING_SIGNAL);
        /* an anonymous struct inside task_struct, as randomized_struct_fields makes */
        int anon = btf__add_struct(b, NULL, 64);
        field(b, "tasks", lh, FK_T_TASKS - FK_T_TASKS);
        field(b, "pid", i32, FK_T_PID - FK_T_TASKS);
        field(b, "tgid", i32, FK_T_TGID - FK_T_TASKS);
        field(b, "thread_group", lh, FK_T_THREAD_GROUP - FK_T_TASKS);
        int ts = btf__add_struct(b, "task_struct", FK_TASK_SIZE);
        field(b, "thread_info", ti, FK_T_TI_FLAGS);
        field(b, "__state", u32, FK_T_STATE);
        field(b, "on_cpu", i32, FK_T_ON_CPU);
        field(b, "flags", u32, FK_T_FLAGS);
        field(b, "on_rq", i32, FK_T_ON_RQ);
        field(b, "static_prio", i32, FK_T_STATIC_PRIO);
        field(b, "rt_priority", u32, FK_T_RT_PRIORITY);
        field(b, "policy", u32, FK_T_POLICY);
        field(b, "se", se, FK_T_SE);
        field(b, "", anon, FK_T_TASKS);
        field(b, "start_boottime", u64, FK_T_START);
        field(b, "mm", vp, FK_T_MM);
        field(b, "active_mm", vp, FK_T_ACTIVE_MM);
        field(b, "comm", comm, FK_T_COMM);
        field(b, "exit_state", i32, FK_T_EXIT_STATE);
        field(b, "signal", vp, FK_T_SIGNAL);
        field(b, "sighand", vp, FK_T_SIGHAND);
        field(b, "pending", sp, FK_T_PENDING);
        field(b, "worker_private", vp, 256);
        btf__add_struct(b, "sighand_struct", 64);
        field(b, "count", i32, 0);
        field(b, "siglock", i32, FK_SH_SIGLOCK);
        btf__add_struct(b, "signal_struct", 64);
        field(b, "thread_head", lh, 16);
        btf__add_struct(b, "mm_struct", 256);
        field(b, "pgd", vp, FK_MM_PGD);
        field(b, "arg_start", u64, FK_MM_ARG_START);
        field(b, "arg_end", u64, FK_MM_ARG_END);
        int cfs = btf__add_struct(b, "cfs_rq", 64);
        field(b, "load", u64, 0);
        field(b, "tg", vp, FK_CFS_RQ_TG);
        int rq = btf__add_struct(b, "rq", FK_RQ_SIZE);
        field(b, "nr_running", u32, FK_RQ_NR_RUNNING);
        field(b, "cpu", i32, FK_RQ_CPU);
        field(b, "curr", vp, FK_RQ_CURR);
        field(b, "idle", vp, FK_RQ_IDLE);
        field(b, "cfs", cfs, FK_RQ_CFS);
        btf__add_struct(b, "task_group", 64);
        field(b, "css", u64, 0);
        field(b, "cfs_rq", vp, FK_TG_CFS_RQ);
        btf__add_struct(b, "kthread", 32);
        field(b, "data", vp, 8);
        btf__add_struct(b, "worker", 64);
        field(b, "current_work", vp, 0);
        field(b, "pool", vp, 8);
        field(b, "desc", desc, 16);
        (void) ts;
        int v_rq = btf__add_var(b, "runqueues", BTF_VAR_GLOBAL_ALLOCATED, rq);
        int v_cur = btf__add_var(b, "current_task", BTF_VAR_GLOBAL_ALLOCATED, vp);
        int sec = btf__add_datasec(b, ".data..percpu", FK_PCPU_RUNQUEUES + FK_RQ_SIZE);
        int r = sec < 0 ? sec : 0;
        if (r >= 0)
                r = btf__add_datasec_var_info(b, v_cur, 0x1000, 8);
        if (r >= 0)
                r = btf__add_datasec_var_info(b, v_rq, FK_PCPU_RUNQUEUES, FK_RQ_SIZE);
        if (r < 0 || i32 < 0 || v_rq < 0 || v_cur < 0) {
                btf__free(b);
                return r < 0 ? r : -EINVAL;
        }
        uint32_t size;
        const void *raw = btf__raw_data(b, &size);
        void *copy = raw ? malloc(size) : NULL;
        if (!copy) {
                btf__free(b);
                return -ENOMEM;
        }
        memcpy(copy, raw, size);
        btf__free(b);
        *ret = copy;
        *ret_size = size;
        return 0;
}

static void put_task(FakeKernel *fk, uint64_t pa, const FakeTask *t, uint64_t mm_va, uint64_t sighand_va) {
        fk_w32(fk, pa + FK_T_PID, (uint32_t) t->pid);
        fk_w32(fk, pa + FK_T_TGID, (uint32_t) t->tgid);
        memcpy(fk->image + pa + FK_T_COMM, t->comm, 16);
        fk_w32(fk, pa + FK_T_STATE, t->state);
        fk_w32(fk, pa + FK_T_FLAGS, t->kthread ? PF_KTHREAD : 0x400100);
        fk_w32(fk, pa + FK_T_TI_CPU, (uint32_t) t->cpu);
        fk_w32(fk, pa + FK_T_STATIC_PRIO, 120);
        fk_w64(fk, pa + FK_T_SE + FK_SE_SUM_EXEC, 1000000u * (uint64_t) t->pid);
        fk_w64(fk, pa + FK_T_START, 5000u * (uint64_t) t->pid);
        fk_w64(fk, pa + FK_T_MM, mm_va);
        fk_w64(fk, pa + FK_T_SIGHAND, sighand_va);
}

/* Page tables mapping FK_USER_ARGS_VA to FK_PA_ARGS (4 levels). */
static void build_user_mapping(FakeKernel *fk) {
        uint64_t va = FK_USER_ARGS_VA;
        uint64_t l4 = FK_PA_PGT, l3 = l4 + 0x1000, l2 = l4 + 0x2000, l1 = l4 + 0x3000;
        fk_w64(fk, l4 + ((va >> 39) & 511) * 8, l3 | 0x67);
        fk_w64(fk, l3 + ((va >> 30) & 511) * 8, l2 | 0x67);
        fk_w64(fk, l2 + ((va >> 21) & 511) * 8, l1 | 0x67);
        fk_w64(fk, l1 + ((va >> 12) & 511) * 8, FK_PA_ARGS | 0x67);
        static const char args[] = "prog\0--flag\0value";
        memcpy(fk->image + FK_PA_ARGS, args, sizeof args);
        fk->cmdline = "prog --flag value";
        uint64_t mm = FK_PA_MM;
        fk_w64(fk, mm + FK_MM_PGD, fk_dm(fk, l4));
        fk_w64(fk, mm + FK_MM_ARG_START, va);
        fk_w64(fk, mm + FK_MM_ARG_END, va + sizeof args);
}

int fake_kernel_build(FakeKernel *fk, const FakeSpec *spec) {
        memset(fk, 0, sizeof *fk);
        fk->size = FK_IMAGE_SIZE;
        fk->image = calloc(1, FK_IMAGE_SIZE);
        if (!fk->image)
                return -ENOMEM;
        fk->page_offset_base = FK_PAGE_OFFSET_BASE;
        fk->kimage_voffset = FK_KIMAGE_VOFFSET;
        fk->ncpus = spec->ncpus < 1 ? 1 : spec->ncpus > FK_MAX_CPUS ? FK_MAX_CPUS : spec->ncpus;

        void *btf;
        size_t btf_size;
        int r = build_btf(&btf, &btf_size);
        if (r < 0)
                return r;
        if (FK_PA_BTF + btf_size > FK_PA_INIT_TASK) {
                free(btf);
                return -E2BIG;
        }
        memcpy(fk->image + FK_PA_BTF, btf, btf_size);
        fk->btf_size = btf_size;
        if (spec->decoy_btf) {
                /* the right header, garbage after it */
                memcpy(fk->image + FK_PA_BTF - 0x10000, btf, 24);
                memset(fk->image + FK_PA_BTF - 0x10000 + 24, 0x5a, 64);
        }
        free(btf);

        build_user_mapping(fk);
        uint64_t sighand = fk_dm(fk, FK_PA_SIGHAND);

        /* init_task */
        uint64_t init = FK_PA_INIT_TASK;
        FakeTask it = { .pid = 0, .tgid = 0, .comm = "swapper/0", .kthread = true, .cpu = 0 };
        put_task(fk, init, &it, 0, sighand);
        fk_w64(fk, init + FK_T_SE + FK_SE_CFS_RQ, fk_dm(fk, FK_PA_PERCPU + FK_PCPU_RUNQUEUES + FK_RQ_CFS));

        /* run queues, idle tasks, the root task group */
        for (int c = 0; c < fk->ncpus; c++) {
                uint64_t rq = FK_PA_PERCPU + (uint64_t) c * FK_PERCPU_UNIT + FK_PCPU_RUNQUEUES;
                uint64_t idle_va;
                if (c == 0)
                        idle_va = fk_kimg(fk, init);
                else {
                        uint64_t ipa = FK_PA_IDLE + (uint64_t) c * FK_TASK_SIZE;
                        FakeTask t = { .pid = 0, .tgid = 0, .kthread = true, .cpu = c };
                        snprintf(t.comm, sizeof t.comm, "swapper/%d", c & 7);
                        put_task(fk, ipa, &t, 0, sighand);
                        idle_va = fk_dm(fk, ipa);
                }
                fk_w32(fk, rq + FK_RQ_CPU, (uint32_t) c);
                fk_w64(fk, rq + FK_RQ_IDLE, idle_va);
                fk_w64(fk, rq + FK_RQ_CURR, idle_va);
                fk_w64(fk, rq + FK_RQ_CFS + FK_CFS_RQ_TG, fk_kimg(fk, FK_PA_ROOT_TG));
                fk_w64(fk, FK_PA_CFS_ARRAY + 8 * (uint64_t) c, fk_dm(fk, rq + FK_RQ_CFS));
        }
        fk_w64(fk, FK_PA_ROOT_TG + FK_TG_CFS_RQ, fk_dm(fk, FK_PA_CFS_ARRAY));

        /* tasks: init (pid 1), kernel threads, user processes with threads */
        int pid = 1;
        uint64_t prev_tasks = fk_kimg(fk, init + FK_T_TASKS);
        uint64_t head = prev_tasks;
        uint64_t *prev_next_slot_pa = NULL;
        (void) prev_next_slot_pa;
        uint64_t prev_pa_next = init + FK_T_TASKS;   /* where to write the "next" of the previous */
        int nproc = 1 + spec->kthreads + spec->processes;
        int threads = spec->threads < 1 ? 1 : spec->threads;
        for (int p = 0; p < nproc; p++) {
                bool kth = p >= 1 && p <= spec->kthreads;
                bool user = p > spec->kthreads;
                int nthr = user ? threads : 1;
                if (fk->n_tasks + (size_t) nthr > FK_MAX_TASKS)
                        break;
                size_t first = fk->n_tasks;
                int tgid = pid;
                for (int k = 0; k < nthr; k++) {
                        FakeTask *t = &fk->tasks[fk->n_tasks];
                        t->pa = FK_PA_TASKS + (uint64_t) fk->n_tasks * FK_TASK_SIZE;
                        t->pid = pid++;
                        t->tgid = tgid;
                        t->kthread = kth;
                        t->cpu = t->pid % fk->ncpus;
                        t->state = (t->pid % 3 == 0) ? 0 : 1;     /* R or S */
                        if (p == 0)
                                snprintf(t->comm, sizeof t->comm, "init");
                        else if (kth)
                                snprintf(t->comm, sizeof t->comm, "kworker/%d", (p & 0xfff));
                        else
                                snprintf(t->comm, sizeof t->comm, "proc%d.%d", (p & 0xfff), (k & 0xff));
                        put_task(fk, t->pa, t, kth ? 0 : fk_dm(fk, FK_PA_MM), sighand);
                        fk->n_tasks++;
                }
                /* thread_group: a ring through the group */
                for (int k = 0; k < nthr; k++) {
                        FakeTask *t = &fk->tasks[first + (size_t) k];
                        FakeTask *n = &fk->tasks[first + (size_t) ((k + 1) % nthr)];
                        FakeTask *pv = &fk->tasks[first + (size_t) ((k + nthr - 1) % nthr)];
                        fk_w64(fk, t->pa + FK_T_THREAD_GROUP, fk_dm(fk, n->pa + FK_T_THREAD_GROUP));
                        fk_w64(fk, t->pa + FK_T_THREAD_GROUP + 8, fk_dm(fk, pv->pa + FK_T_THREAD_GROUP));
                }
                /* tasks: leaders only */
                FakeTask *l = &fk->tasks[first];
                uint64_t me = fk_dm(fk, l->pa + FK_T_TASKS);
                fk_w64(fk, prev_pa_next, me);
                fk_w64(fk, l->pa + FK_T_TASKS + 8, prev_tasks);
                prev_tasks = me;
                prev_pa_next = l->pa + FK_T_TASKS;
        }
        fk_w64(fk, prev_pa_next, head);
        fk_w64(fk, init + FK_T_TASKS + 8, prev_tasks);

        /* CPU 0 runs the last user thread */
        if (fk->n_tasks > 0) {
                FakeTask *t = &fk->tasks[fk->n_tasks - 1];
                t->state = 0;
                t->cpu = 0;
                fk_w32(fk, t->pa + FK_T_STATE, 0);
                fk_w32(fk, t->pa + FK_T_TI_CPU, 0);
                fk_w64(fk, FK_PA_PERCPU + FK_PCPU_RUNQUEUES + FK_RQ_CURR, fk_dm(fk, t->pa));
                fk_w32(fk, FK_PA_PERCPU + FK_PCPU_RUNQUEUES + FK_RQ_NR_RUNNING, 1);
        }
        return 0;
}

void fake_kernel_done(FakeKernel *fk) {
        free(fk->image);
        fk->image = NULL;
}
