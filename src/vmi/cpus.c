/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Every CPU's run queue: through the root task group, checked (or found)
 * through the vCPUs' GS bases. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "vmi/vmi-internal.h"

/* Read rq at va and check rq->cpu == cpu and rq->idle is a "swapper/cpu" task. */
static int check_rq(Vmi *v, uint64_t rq, int cpu) {
        const VmiLayout *L = &v->L;
        uint8_t buf[64];
        uint32_t c;
        uint64_t idle;
        if (!kptr_ok(rq) || vmi_read_kva(v, rq + (uint64_t) L->rq_cpu, &c, 4) < 0 || (int) c != cpu ||
            vmi_read_kva(v, rq + (uint64_t) L->rq_idle, &idle, 8) < 0 || !kptr_ok(idle) ||
            vmi_read_kva(v, idle + (uint64_t) L->t_comm, buf, 16) < 0)
                return -EBADMSG;
        char want[32];
        snprintf(want, sizeof want, "swapper/%d", cpu);
        buf[15] = 0;
        if (!streq((char *) buf, want))
                return -EBADMSG;
        return 0;
}

int vmi_find_cpus_task_group(Vmi *v) {
        const VmiLayout *L = &v->L;
        if (L->t_se_cfs_rq < 0 || L->rq_cfs < 0 || L->cfs_rq_tg < 0 || L->tg_cfs_rq < 0)
                return -EOPNOTSUPP;
        uint64_t cfs0, tg, arr;
        int r = vmi_read_kva(v, v->init_task_va + (uint64_t) L->t_se_cfs_rq, &cfs0, 8);
        if (r < 0)
                return r;
        if (!kptr_ok(cfs0) || cfs0 < (uint64_t) L->rq_cfs)
                return -EBADMSG;
        r = check_rq(v, cfs0 - (uint64_t) L->rq_cfs, 0);
        if (r < 0)
                return r;
        if (vmi_read_kva(v, cfs0 + (uint64_t) L->cfs_rq_tg, &tg, 8) < 0 || !kptr_ok(tg) ||
            vmi_read_kva(v, tg + (uint64_t) L->tg_cfs_rq, &arr, 8) < 0 || !kptr_ok(arr))
                return -EBADMSG;
        int max = v->opt.max_cpus > 0 ? MIN(v->opt.max_cpus, VMI_MAX_CPUS) : VMI_MAX_CPUS;
        int n = 0;
        for (int i = 0; i < max; i++) {
                uint64_t c;
                if (vmi_read_kva(v, arr + 8 * (uint64_t) i, &c, 8) < 0 || !kptr_ok(c) || c < (uint64_t) L->rq_cfs)
                        break;
                if (check_rq(v, c - (uint64_t) L->rq_cfs, i) < 0)
                        break;
                v->rq_va[i] = c - (uint64_t) L->rq_cfs;
                n++;
        }
        if (n == 0)
                return -ENOENT;
        v->ncpus = n;
        v->cpus_how = "task-group";
        return 0;
}

int vmi_parse_info_registers(const char *text, VmiVcpuRegs **ret, size_t *ret_n) {
        VmiVcpuRegs *a = NULL;
        size_t n = 0;
        for (const char *p = text; p && *p;) {
                const char *eol = strchr(p, '\n');
                int idx;
                if (sscanf(p, "CPU#%d", &idx) == 1 && idx >= 0 && idx < VMI_MAX_CPUS) {
                        if (n >= VMI_MAX_CPUS)
                                break;
                        VmiVcpuRegs *na = realloc(a, (n + 1) * sizeof *a);
                        if (!na) {
                                free(a);
                                return -ENOMEM;
                        }
                        a = na;
                        a[n++] = (VmiVcpuRegs) { .index = idx, .cpl = -1 };
                } else if (n > 0) {
                        VmiVcpuRegs *c = &a[n - 1];
                        const char *s;
                        unsigned sel;
                        uint64_t x;
                        if (strneq(p, "GS =", 4) && sscanf(p + 4, "%x %" SCNx64, &sel, &x) == 2)
                                c->gs_base = x;
                        if ((s = strstr(p, "CR3=")) && (!eol || s < eol) && sscanf(s + 4, "%" SCNx64, &x) == 1)
                                c->cr3 = x;
                        if ((s = strstr(p, "CPL=")) && (!eol || s < eol))
                                c->cpl = atoi(s + 4);
                        if ((s = strstr(p, "HLT=")) && (!eol || s < eol))
                                c->halted = s[4] == '1';
                }
                p = eol ? eol + 1 : NULL;
        }
        if (n == 0) {
                free(a);
                return -ENODATA;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

int vmi_apply_gs(Vmi *v, const VmiVcpuRegs *regs, size_t n) {
        const VmiLayout *L = &v->L;
        if (L->pcpu_runqueues < 0)
                return -EOPNOTSUPP;
        int kernel = 0;
        uint64_t known_base = 0;
        int known_cpu = -1;
        for (size_t i = 0; i < n; i++) {
                uint64_t g = regs[i].gs_base;
                if (!kptr_ok(g) || g < UINT64_C(0xff00000000000000))
                        continue;
                uint64_t rq = g + (uint64_t) L->pcpu_runqueues;
                uint32_t c;
                if (vmi_read_kva(v, rq + (uint64_t) L->rq_cpu, &c, 4) < 0 || c >= VMI_MAX_CPUS ||
                    check_rq(v, rq, (int) c) < 0)
                        continue;
                kernel++;
                if (regs[i].index >= 0 && regs[i].index < VMI_MAX_CPUS)
                        v->cpu_vcpu[c] = regs[i].index;
                if ((int) c < v->ncpus) {
                        if (v->rq_va[c] == rq)
                                v->gs_checked++;
                        else
                                return vmi_set_error(v, -EBADMSG, "GS base of vCPU %d gives rq %#" PRIx64
                                                     " for CPU %u, the task group gives %#" PRIx64,
                                                     regs[i].index, rq, c, v->rq_va[c]);
                }
                known_base = g;
                known_cpu = (int) c;
        }
        if (v->ncpus == 0 && known_cpu >= 0) {
                /* No task-group route: the per-CPU areas of an embedded first
                 * chunk are equally spaced; try power-of-two unit sizes from
                 * the known base and keep every CPU whose rq->cpu matches. */
                int max = v->opt.max_cpus > 0 ? MIN(v->opt.max_cpus, VMI_MAX_CPUS) : 64;
                for (unsigned sh = 12; sh <= 24; sh++) {
                        uint64_t unit = UINT64_C(1) << sh;
                        int found = 0;
                        for (int c = 0; c < max; c++) {
                                uint64_t base = known_base + (uint64_t) (c - known_cpu) * unit;
                                if (check_rq(v, base + (uint64_t) L->pcpu_runqueues, c) < 0)
                                        break;
                                v->rq_va[c] = base + (uint64_t) L->pcpu_runqueues;
                                found++;
                        }
                        if (found > known_cpu) {
                                v->ncpus = found;
                                v->cpus_how = "gs";
                                break;
                        }
                }
        }
        return kernel;
}
