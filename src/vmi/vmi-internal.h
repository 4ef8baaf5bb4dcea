/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared by the files of src/vmi/ only. */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "basic/macros.h"
#include "vmi/vmi.h"

/* Little-endian loads from a window read out of the guest (offsets come
 * from the layout, which keeps them inside the window). */
static inline uint32_t rd32(const uint8_t *p, int32_t off) {
        uint32_t x;
        memcpy(&x, p + off, 4);
        return x;
}
static inline uint64_t rd64(const uint8_t *p, int32_t off) {
        uint64_t x;
        memcpy(&x, p + off, 8);
        return x;
}

/* A kernel pointer: in the upper half, 8-byte aligned. */
static inline bool kptr_ok(uint64_t p) {
        return p >= UINT64_C(0xff00000000000000) && (p & 7) == 0;
}

/* The kernel-image mapping (KASLR moves the image inside it). */
#define KIMAGE_START UINT64_C(0xffffffff80000000)
#define KIMAGE_END UINT64_C(0xffffffffff000000)

int vmi_set_error(Vmi *v, int r, const char *fmt, ...) _printf_(3, 4);

/* Attach steps (vmi.c calls them in order). */
/* init-task.c: init_task, page_offset_base, kimage_voffset, kernel_pgd_pa. */
int vmi_find_init_task(Vmi *v);
/* Given init_task at physical pa (its window in span; span1 is scratch of
 * the same size), derive the direct-map base and the kernel-image offset
 * through pid 1.  Sets them in v. */
int vmi_derive_from_init(Vmi *v, uint64_t pa, const uint8_t *span, uint8_t *span1);
/* cpus.c: every CPU's rq through the root task group. */
int vmi_find_cpus_task_group(Vmi *v);
