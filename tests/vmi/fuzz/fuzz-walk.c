/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the whole introspection path on a mutated synthetic
 * guest memory image.  The input is a list of patches
 *   [region u8][offset u32][len u8][bytes...]
 * written over the fake kernel's image (its BTF, init_task, run queues,
 * task group, tasks, page tables, mm); then attach (BTF search and parse,
 * init_task, direct map, kernel image, CPUs), scan, run queues and SIGSTOP
 * injection run on it.  Anything but a clean error or a result is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake-kernel.h"
#include "vmi/mem.h"
#include "vmi/vmi.h"

static FakeKernel fk;
static uint8_t *work;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        FakeSpec s = { .processes = 12, .threads = 3, .kthreads = 6, .ncpus = 2 };
        if (fake_kernel_build(&fk, &s) < 0)
                abort();
        work = malloc(fk.size);
        if (!work)
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const struct { uint64_t pa, len; } regions[8] = {
                { FK_PA_BTF, fk.btf_size },
                { FK_PA_INIT_TASK, FK_TASK_SIZE },
                { FK_PA_PERCPU + FK_PCPU_RUNQUEUES, FK_PERCPU_UNIT + FK_RQ_SIZE },
                { FK_PA_ROOT_TG, 64 },
                { FK_PA_CFS_ARRAY, 0x3000 },                          /* array, sighand, idle tasks */
                { FK_PA_TASKS, fk.n_tasks * FK_TASK_SIZE },
                { FK_PA_PGT, 0x6000 },                                /* page tables, args, mm */
                { 0, FK_IMAGE_SIZE },
        };
        memcpy(work, fk.image, fk.size);
        size_t i = 0;
        while (i + 6 <= size) {
                unsigned reg = data[i] & 7;
                uint32_t off;
                memcpy(&off, data + i + 1, 4);
                size_t len = data[i + 5] % 33;
                i += 6;
                len = len > size - i ? size - i : len;
                uint64_t pa = regions[reg].pa + off % regions[reg].len;
                if (pa + len > fk.size)
                        len = fk.size - pa;
                memcpy(work + pa, data + i, len);
                i += len;
        }
        VmiMem *m = NULL;
        if (vmi_mem_open_buffer(work, fk.size, true, &m) < 0)
                abort();
        VmiVcpuRegs regs[2] = {
                { .index = 0, .gs_base = fk.page_offset_base + FK_PA_PERCPU, .cpl = 0 },
                { .index = 1, .gs_base = 0, .cpl = 3 },
        };
        VmiOptions o = { .cmdline = true, .max_cpus = 4, .max_tasks = 4096, .regs = regs, .n_regs = 2 };
        Vmi *v = NULL;
        if (vmi_attach(m, &o, &v) >= 0) {
                for (int k = 0; k < 3; k++) {   /* in place; copied; copied from the prefetch */
                        v->opt.copy_windows = k > 0;
                        VmiTask *t = NULL;
                        size_t n = 0;
                        if (vmi_scan(v, &t, &n) >= 0) {
                                for (size_t j = 0; j < n; j++)
                                        if (strlen(t[j].t.comm) > 15 || strlen(t[j].t.cmdline) >= sizeof t[j].t.cmdline)
                                                abort();
                                if (n > 0) {
                                        bool pending;
                                        char st;
                                        (void) vmi_inject_sigstop(v, t[n - 1].va, t[n - 1].t.tid);
                                        (void) vmi_task_stop_state(v, t[n - 1].va, t[n - 1].t.tid, &pending, &st);
                                }
                                free(t);
                        }
                }
                VmiCpu *c = NULL;
                size_t nc = 0;
                if (vmi_read_cpus(v, &c, &nc) >= 0)
                        free(c);
                uint8_t b[64];
                (void) vmi_read_kva(v, v->init_task_va, b, sizeof b);
                uint64_t pa;
                (void) vmi_page_walk(v, FK_PA_PGT, FK_USER_ARGS_VA, &pa);
                vmi_free(v);
        }
        vmi_mem_free(m);
        return 0;
}
