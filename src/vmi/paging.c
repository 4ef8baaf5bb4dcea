/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest-virtual to guest-physical: the linear maps, else a page walk. */
#include <errno.h>
#include <stdbool.h>

#include "basic/macros.h"
#include "vmi/vmi-internal.h"

int vmi_page_walk(Vmi *v, uint64_t pgd_pa, uint64_t va, uint64_t *ret_pa) {
        const uint64_t addr_mask = UINT64_C(0x000ffffffffff000);
        int levels = v->la57 ? 5 : 4;
        uint64_t table = pgd_pa & addr_mask;
        for (int l = levels; l >= 1; l--) {
                unsigned shift = 12 + 9 * (unsigned) (l - 1);
                uint64_t idx = (va >> shift) & 511, e;
                int r = vmi_mem_read(v->mem, table + idx * 8, &e, 8);
                if (r < 0)
                        return r;
                if (!(e & 1))
                        return -EFAULT;
                if (l <= 3 && l >= 2 && (e & 0x80)) {   /* 1 GiB or 2 MiB page */
                        uint64_t psize = UINT64_C(1) << shift;
                        uint64_t base = e & addr_mask & ~(psize - 1);
                        *ret_pa = base | (va & (psize - 1));
                        return 0;
                }
                table = e & addr_mask;
        }
        *ret_pa = table | (va & 0xfff);
        return 0;
}

int vmi_kva_to_pa(Vmi *v, uint64_t va, uint64_t *ret_pa) {
        uint64_t pa;
        if (v->page_offset_base && va >= v->page_offset_base && va - v->page_offset_base < v->mem->gpa_end)
                pa = va - v->page_offset_base;
        else if (va >= KIMAGE_START && va < KIMAGE_END && v->kimage_voffset && va - v->kimage_voffset < v->mem->gpa_end)
                pa = va - v->kimage_voffset;
        else if (v->kernel_pgd_pa && va >= UINT64_C(0xff00000000000000)) {
                int r = vmi_page_walk(v, v->kernel_pgd_pa, va, &pa);
                if (r < 0)
                        return r;
        } else
                return -EFAULT;
        if (!vmi_mem_valid(v->mem, pa, 1))
                return -EFAULT;
        *ret_pa = pa;
        return 0;
}

int vmi_read_kva(Vmi *v, uint64_t va, void *buf, size_t len) {
        uint8_t *out = buf;
        while (len > 0) {
                uint64_t pa;
                int r = vmi_kva_to_pa(v, va, &pa);
                if (r < 0)
                        return r;
                /* Direct map and kernel image are physically contiguous; a
                 * page-walked address only up to its page end. */
                size_t n = len;
                bool linear = (v->page_offset_base && va >= v->page_offset_base && va - v->page_offset_base < v->mem->gpa_end) ||
                              (va >= KIMAGE_START && va < KIMAGE_END && v->kimage_voffset);
                if (!linear)
                        n = MIN(len, (size_t) (4096 - (va & 4095)));
                r = vmi_mem_read(v->mem, pa, out, n);
                if (r < 0)
                        return r;
                out += n;
                va += n;
                len -= n;
        }
        return 0;
}
