/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Attach (the steps of vmi.h, each in its own file), errors, re-validation. */
#include <bpf/btf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "vmi/vmi-internal.h"

/* The last error of this thread, so that a failed vmi_attach() (which
 * frees its Vmi) can still be described: vmi_last_error(NULL). */
static __thread char last_error[256];

int vmi_set_error(Vmi *v, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->error, sizeof v->error, fmt, ap);
        va_end(ap);
        snprintf(last_error, sizeof last_error, "%s", v->error);
        log_debug("vmi: %s", v->error);
        return r;
}

const char *vmi_last_error(const Vmi *v) {
        return v ? v->error : last_error;
}

/* ---- attach --------------------------------------------------------------- */

void vmi_free(Vmi *v) {
        if (!v)
                return;
        btf__free(v->btf);
        free(v->prev);
        free(v->pf_buf);
        free(v);
}

int vmi_attach(VmiMem *mem, const VmiOptions *opt, Vmi **ret) {
        Vmi *v = calloc(1, sizeof *v);
        if (!v)
                return -ENOMEM;
        _cleanup_(vmi_freep) Vmi *guard = v;
        v->mem = mem;
        if (opt)
                v->opt = *opt;
        if (v->opt.max_tasks == 0)
                v->opt.max_tasks = VMI_MAX_TASKS_DEFAULT;
        for (int i = 0; i < VMI_MAX_CPUS; i++)
                v->cpu_vcpu[i] = -1;

        uint64_t t0 = now_usec();
        int r;
        if (v->opt.profile) {
                /* The user's profile instead of the guest's BTF: a kernel
                 * built without BTF.  init_task is then searched from 0. */
                r = vmi_layout_from_profile(v->opt.profile, &v->L);
                if (r < 0)
                        return vmi_set_error(v, r, "the profile lacks members the walk needs");
        } else {
                r = vmi_btf_locate(mem, &v->btf, &v->btf_gpa, &v->btf_size, &v->stats.btf);
                if (r < 0) {
                        const VmiBtfStats *b = &v->stats.btf;
                        return vmi_set_error(v, r, "no parsable kernel BTF in guest RAM (%" PRIu64 " BTF headers: %"
                                             PRIu64 " split (modules'), %" PRIu64 " not BTF, %" PRIu64
                                             " not the kernel's; %" PRIu64 " of %" PRIu64 " candidates looked at%s)",
                                             b->headers, b->split, b->bad, b->no_task_struct, b->looked, b->candidates,
                                             b->over_budget ? "; read/parse bound reached" : "");
                }
                r = vmi_layout_from_btf(v->btf, &v->L);
                if (r < 0)
                        return vmi_set_error(v, r, "the guest's BTF lacks members the walk needs");
        }
        uint64_t t1 = now_usec();
        v->stats.btf_us = t1 - t0;

        r = vmi_find_init_task(v);
        if (r == -E2BIG)
                return r;   /* vmi_find_init_task said why */
        if (r < 0)
                return vmi_set_error(v, r, "init_task (swapper/0 with pid 0 and a pid 1 after it) not found");
        if (v->opt.system_map) {
                /* A System.map must agree with what the guest shows: its
                 * init_task, moved by KASLR in 2 MiB steps. */
                uint64_t link = 0;
                if (vmi_profile_symbol(v->opt.system_map, "init_task", &link) < 0)
                        return vmi_set_error(v, -ENOENT, "the System.map has no init_task");
                uint64_t slide = v->init_task_va - link;
                if (slide % (2u << 20))
                        return vmi_set_error(v, -EBADMSG, "the System.map does not match this kernel (init_task %#" PRIx64
                                             " in the map, %#" PRIx64 " in the guest)", link, v->init_task_va);
                v->kaslr_slide = slide;
                uint64_t off;
                if (v->L.pcpu_runqueues < 0 && vmi_profile_symbol(v->opt.system_map, "runqueues", &off) >= 0)
                        v->L.pcpu_runqueues = (int64_t) off;
                if (v->L.pcpu_current_task < 0 && vmi_profile_symbol(v->opt.system_map, "current_task", &off) >= 0)
                        v->L.pcpu_current_task = (int64_t) off;
        }
        uint64_t t2 = now_usec();
        v->stats.init_task_us = t2 - t1;

        r = vmi_find_cpus_task_group(v);
        if (r < 0)
                log_debug_errno(r, "vmi: run queues through the root task group: %m");
        if (v->opt.regs && v->opt.n_regs > 0) {
                r = vmi_apply_gs(v, v->opt.regs, v->opt.n_regs);
                if (r < 0)
                        return r;
        }
        if (v->ncpus == 0)
                return vmi_set_error(v, -ENOENT, "no run queue found (no usable task group and no vCPU in kernel mode)");
        /* QEMU's vCPU n is the guest's CPU n (CPUs are numbered in APIC
         * order): assume it for CPUs no GS base confirmed, unless one
         * contradicted it. */
        bool identity = true;
        for (int i = 0; i < v->ncpus; i++)
                if (v->cpu_vcpu[i] >= 0 && v->cpu_vcpu[i] != i)
                        identity = false;
        if (identity && v->opt.max_cpus > 0)
                for (int i = 0; i < v->ncpus && i < v->opt.max_cpus; i++)
                        v->cpu_vcpu[i] = i;
        v->stats.cpus_us = now_usec() - t2;
        v->stats.attach_us = now_usec() - t0;
        log_debug("vmi: attached: BTF at %#" PRIx64 " (%zu bytes), init_task pa %#" PRIx64 " va %#" PRIx64
                  ", page_offset_base %#" PRIx64 ", %d CPUs via %s",
                  v->btf_gpa, v->btf_size, v->init_task_pa, v->init_task_va, v->page_offset_base, v->ncpus,
                  v->cpus_how);
        *ret = TAKE_PTR(guard);
        return 0;
}

/* ---- re-validation, rate-limited re-attach ----------------------------- */

bool vmi_reattach_allowed(VmiReattach *rl, uint64_t now_us) {
        if (rl->interval_us == 0)
                rl->interval_us = VMI_REATTACH_MIN_US;
        if (rl->attempts > 0 && now_us - rl->last_us < rl->interval_us) {
                rl->refused++;
                return false;
        }
        /* quiet for long enough: start again from the shortest interval */
        if (rl->attempts > 0 && now_us - rl->last_us >= 2 * VMI_REATTACH_MAX_US)
                rl->interval_us = VMI_REATTACH_MIN_US;
        else if (rl->attempts > 0)
                rl->interval_us = MIN(rl->interval_us * 2, VMI_REATTACH_MAX_US);
        rl->attempts++;
        rl->last_us = now_us;
        return true;
}

/* Is init_task still where attach found it, by structure rather than by
 * name: pid 0, and its pid 1 leads back to it with the same direct map and
 * kernel-image offsets?  (A guest can rename its init_task at will.) */
static bool same_kernel(Vmi *v) {
        const VmiLayout *L = &v->L;
        size_t n = (size_t) (L->span_hi - L->span_lo);
        _cleanup_free_ uint8_t *a = malloc(n), *b = malloc(n);
        if (!a || !b || vmi_mem_read(v->mem, v->init_task_pa + (uint64_t) L->span_lo, a, n) < 0 ||
            rd32(a, L->t_pid - L->span_lo) != 0 || rd32(a, L->t_tgid - L->span_lo) != 0)
                return false;
        uint64_t pob = v->page_offset_base, va = v->init_task_va, kv = v->kimage_voffset;
        bool la57 = v->la57;
        bool same = vmi_derive_from_init(v, v->init_task_pa, a, b) >= 0 && v->page_offset_base == pob &&
                    v->init_task_va == va && v->kimage_voffset == kv;
        v->page_offset_base = pob;
        v->init_task_va = va;
        v->kimage_voffset = kv;
        v->la57 = la57;
        return same;
}

int vmi_revalidate(Vmi **v, VmiMem *mem, const VmiOptions *opt, VmiReattach *rl, uint64_t now_us) {
        char comm[16];
        Vmi *old = *v;
        if (vmi_mem_read(mem, old->init_task_pa + (uint64_t) old->L.t_comm, comm, sizeof comm) >= 0 &&
            memcmp(comm, "swapper/0", 10) == 0)
                return 0;
        if (same_kernel(old)) {
                old->stats.renamed_init++;
                return 0;   /* renamed, not moved: nothing to search for */
        }
        if (!vmi_reattach_allowed(rl, now_us)) {
                snprintf(last_error, sizeof last_error,
                         "init_task moved (guest reboot, or a guest rewriting it); next re-attach in %" PRIu64 " ms",
                         (rl->interval_us - (now_us - rl->last_us)) / 1000);
                return -EAGAIN;
        }
        Vmi *n = NULL;
        int r = vmi_attach(mem, opt, &n);
        if (r < 0)
                return r;
        vmi_free(*v);
        *v = n;
        return 1;
}
