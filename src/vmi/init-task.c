/* SPDX-License-Identifier: GPL-2.0-or-later */
/* init_task (searched by name and structure), and from it the direct-map
 * base, the kernel-image offset and the kernel page tables. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "basic/macros.h"
#include "vmi/vmi-internal.h"

#define GIB (UINT64_C(1) << 30)

typedef struct InitScan {
        Vmi *v;
        uint8_t *span;
        uint8_t *span1;
        bool found;
        uint64_t hits;         /* "swapper/0" strings seen */
        uint64_t candidates;   /* of them with pid 0 and tgid 0 (each tried through pid 1) */
} InitScan;

int vmi_derive_from_init(Vmi *v, uint64_t pa, const uint8_t *span, uint8_t *span1) {
        const VmiLayout *L = &v->L;
        uint64_t next = rd64(span, L->t_tasks - L->span_lo);
        if (!kptr_ok(next))
                return -EBADMSG;
        uint64_t top = (v->mem->gpa_end >> 30) + 2;
        for (uint64_t k = 0; k <= top; k++) {
                uint64_t base = (next & ~(GIB - 1)) - k * GIB;
                uint64_t t1 = next - (uint64_t) L->t_tasks - base;   /* pa of pid 1 */
                if (next - base < (uint64_t) L->t_tasks || !vmi_mem_valid(v->mem, t1 + (uint64_t) L->span_lo,
                                                                          (size_t) (L->span_hi - L->span_lo)))
                        continue;
                if (vmi_mem_read(v->mem, t1 + (uint64_t) L->span_lo, span1, (size_t) (L->span_hi - L->span_lo)) < 0)
                        continue;
                if (rd32(span1, L->t_pid - L->span_lo) != 1 || rd32(span1, L->t_tgid - L->span_lo) != 1)
                        continue;
                uint64_t prev = rd64(span1, L->t_tasks + 8 - L->span_lo);
                if (prev < KIMAGE_START || prev >= KIMAGE_END || (prev & 7))
                        continue;
                uint64_t init_va = prev - (uint64_t) L->t_tasks;
                if ((init_va & 0xfff) != (pa & 0xfff) || init_va <= pa)
                        continue;
                v->page_offset_base = base;
                v->la57 = base < UINT64_C(0xffff800000000000);
                v->init_task_pa = pa;
                v->init_task_va = init_va;
                v->kimage_voffset = init_va - pa;
                return 0;
        }
        return -ENOENT;
}

static int init_hit(void *u, uint64_t gpa, const uint8_t *p, size_t avail) {
        (void) p;
        (void) avail;
        InitScan *s = u;
        Vmi *v = s->v;
        const VmiLayout *L = &v->L;
        /* A guest can write "swapper/0" all over its RAM: bound the work.
         * The real init_task lies in the kernel image, which the search
         * reaches first (it starts at the BTF, also in the image). */
        if (++s->hits > VMI_INIT_MAX_HITS)
                return -E2BIG;
        if (gpa < (uint64_t) L->t_comm)
                return 0;
        uint64_t pa = gpa - (uint64_t) L->t_comm;
        size_t n = (size_t) (L->span_hi - L->span_lo);
        if (vmi_mem_read(v->mem, pa + (uint64_t) L->span_lo, s->span, n) < 0)
                return 0;
        if (rd32(s->span, L->t_pid - L->span_lo) != 0 || rd32(s->span, L->t_tgid - L->span_lo) != 0)
                return 0;
        if (++s->candidates > VMI_INIT_MAX_CANDIDATES)
                return -E2BIG;
        if (vmi_derive_from_init(v, pa, s->span, s->span1) < 0)
                return 0;
        s->found = true;
        return 1;
}

int vmi_find_init_task(Vmi *v) {
        static const char pat[] = "swapper/0";   /* with its NUL */
        size_t n = (size_t) (v->L.span_hi - v->L.span_lo);
        _cleanup_free_ uint8_t *a = malloc(n), *b = malloc(n);
        if (!a || !b)
                return -ENOMEM;
        InitScan s = { .v = v, .span = a, .span1 = b };
        int r = vmi_mem_scan(v->mem, v->btf_gpa, pat, sizeof pat, init_hit, &s);
        v->stats.init_hits = s.hits;
        v->stats.init_candidates = s.candidates;
        if (r == -E2BIG)
                return vmi_set_error(v, r, "init_task not among the first %" PRIu64 " \"swapper/0\" tasks with pid 0 "
                                     "(%" PRIu64 " strings; bounds %u and %u): giving up",
                                     MIN(s.candidates, (uint64_t) VMI_INIT_MAX_CANDIDATES), s.hits,
                                     VMI_INIT_MAX_CANDIDATES, VMI_INIT_MAX_HITS);
        if (r < 0)
                return r;
        if (!s.found)
                return -ENOENT;
        /* Kernel page tables (optional): the idle task borrows mms lazily
         * (its active_mm is NULL while it does not run), so take pid 1's
         * mm: every process's PGD maps the kernel half. */
        if (v->L.t_mm >= 0 && v->L.mm_pgd >= 0) {
                uint64_t mm = rd64(b, v->L.t_mm - v->L.span_lo), pgd = 0, pa;
                if (kptr_ok(mm) && vmi_read_kva(v, mm + (uint64_t) v->L.mm_pgd, &pgd, 8) >= 0 && kptr_ok(pgd) &&
                    (pgd & 0xfff) == 0 && vmi_kva_to_pa(v, pgd, &pa) >= 0)
                        v->kernel_pgd_pa = pa;
        }
        return 0;
}
