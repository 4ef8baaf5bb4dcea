/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared by the files of src/vmi/ only. */

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

uint64_t vmi_now_us(void);
int vmi_set_error(Vmi *v, int r, const char *fmt, ...) _printf_(3, 4);
