/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the QEMU text parsers (`info mtree -f`, `info ramblock`,
 * `info registers -a`) on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/mem.h"
#include "vmi/vmi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        VmiRamRange *r = NULL;
        size_t n;
        if (vmi_parse_mtree(s, "pc.ram", &r, &n) >= 0) {
                for (size_t i = 0; i < n; i++)
                        if (r[i].size == 0)
                                abort();
                free(r);
        }
        char name[64];
        uint64_t sz;
        (void) vmi_parse_ramblock(s, name, sizeof name, &sz);
        VmiVcpuRegs *g = NULL;
        if (vmi_parse_info_registers(s, &g, &n) >= 0)
                free(g);
        free(s);
        return 0;
}
