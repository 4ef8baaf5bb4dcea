/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A synthetic Linux guest memory image for unit tests and fuzzers: a BTF
 * blob (built with libbpf) describing a small task_struct, rq, cfs_rq,
 * task_group, signal/sighand/mm structs and a ".data..percpu" DATASEC; a
 * "kernel image" (init_task "swapper/0", the root task group) mapped at a
 * randomized kernel-image address; a randomized direct map holding the
 * tasks (processes and their threads), per-CPU run queues, idle tasks, and
 * one process's page tables and argument page. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_IMAGE_SIZE (8u << 20)
#define FK_MAX_TASKS 3000
#define FK_MAX_CPUS 4

/* Offsets the fake kernel uses (its BTF says the same). */
enum {
        FK_TASK_SIZE = 512,
        FK_T_TI_FLAGS = 0, FK_T_TI_CPU = 24,
        FK_T_STATE = 32, FK_T_ON_CPU = 40, FK_T_FLAGS = 44, FK_T_ON_RQ = 48, FK_T_STATIC_PRIO = 52,
        FK_T_RT_PRIORITY = 56, FK_T_POLICY = 60,
        FK_T_SE = 64, FK_SE_CFS_RQ = 0, FK_SE_SUM_EXEC = 8,
        FK_T_TASKS = 128, FK_T_PID = 144, FK_T_TGID = 148, FK_T_THREAD_GROUP = 152, FK_T_START = 168,
        FK_T_MM = 176, FK_T_ACTIVE_MM = 184, FK_T_COMM = 192, FK_T_EXIT_STATE = 208, FK_T_SIGNAL = 216,
        FK_T_SIGHAND = 224, FK_T_PENDING = 232, FK_PENDING_SIGNAL = 16,
        FK_RQ_SIZE = 256, FK_RQ_NR_RUNNING = 0, FK_RQ_CPU = 8, FK_RQ_CURR = 16, FK_RQ_IDLE = 24, FK_RQ_CFS = 64,
        FK_CFS_RQ_TG = 8,
        FK_TG_CFS_RQ = 16,
        FK_SH_SIGLOCK = 4,
        FK_MM_PGD = 80, FK_MM_ARG_START = 200, FK_MM_ARG_END = 208,
        FK_PCPU_RUNQUEUES = 0x2000,
};

/* Physical placement. */
#define FK_PA_BTF        UINT64_C(0x100000)
#define FK_PA_INIT_TASK  UINT64_C(0x180000)
#define FK_PA_ROOT_TG    UINT64_C(0x181000)
#define FK_PA_PERCPU     UINT64_C(0x200000)   /* + cpu * FK_PERCPU_UNIT */
#define FK_PERCPU_UNIT   UINT64_C(0x40000)
#define FK_PA_CFS_ARRAY  UINT64_C(0x300000)
#define FK_PA_SIGHAND    UINT64_C(0x301000)
#define FK_PA_IDLE       UINT64_C(0x302000)   /* + cpu * FK_TASK_SIZE (cpu >= 1) */
#define FK_PA_TASKS      UINT64_C(0x400000)   /* + k * FK_TASK_SIZE */
#define FK_PA_PGT        UINT64_C(0x700000)   /* 4 page-table pages */
#define FK_PA_ARGS       UINT64_C(0x704000)
#define FK_PA_MM         UINT64_C(0x705000)
#define FK_USER_ARGS_VA  UINT64_C(0x400000)

typedef struct FakeTask {
        int pid, tgid;
        char comm[16];
        uint32_t state;
        bool kthread;
        int cpu;
        uint64_t pa;
} FakeTask;

typedef struct FakeKernel {
        uint8_t *image;           /* FK_IMAGE_SIZE bytes, guest-physical 0.. */
        size_t size;
        uint64_t page_offset_base;
        uint64_t kimage_voffset;
        int ncpus;
        FakeTask tasks[FK_MAX_TASKS];
        size_t n_tasks;
        size_t btf_size;
        const char *cmdline;      /* what every user process's cmdline reads as */
} FakeKernel;

typedef struct FakeSpec {
        int processes;            /* user processes besides init and the kernel threads */
        int threads;              /* threads per user process (>= 1) */
        int kthreads;
        int ncpus;                /* 1..FK_MAX_CPUS */
        bool decoy_btf;           /* a BTF-looking header that is not BTF, before the real one */
} FakeSpec;

/* Build the image (malloc'd into fk->image).  Returns 0 or -errno. */
int fake_kernel_build(FakeKernel *fk, const FakeSpec *spec);
void fake_kernel_done(FakeKernel *fk);

uint64_t fk_dm(const FakeKernel *fk, uint64_t pa);   /* direct-map VA of pa */
uint64_t fk_kimg(const FakeKernel *fk, uint64_t pa); /* kernel-image VA of pa */
void fk_w32(FakeKernel *fk, uint64_t pa, uint32_t v);
void fk_w64(FakeKernel *fk, uint64_t pa, uint64_t v);
uint64_t fk_r64(const FakeKernel *fk, uint64_t pa);
