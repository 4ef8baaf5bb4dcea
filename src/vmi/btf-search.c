/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's own BTF, found in guest RAM. */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "vmi/vmi-internal.h"

#define BTF_MAX_SIZE (64u << 20)

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap) {
        (void) level;
        (void) fmt;
        (void) ap;
        return 0;
}

static const uint8_t btf_magic[8] = { 0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00 };

static int try_btf_candidate(VmiMem *mem, uint64_t gpa, struct btf **ret, size_t *ret_size) {
        uint32_t h[6];   /* magic/version/flags, hdr_len, type_off, type_len, str_off, str_len */
        int r = vmi_mem_read(mem, gpa, h, sizeof h);
        if (r < 0)
                return r;
        uint64_t end = MAX((uint64_t) h[2] + h[3], (uint64_t) h[4] + h[5]);
        uint64_t size = 24 + end;
        if (h[3] == 0 || h[5] == 0 || size > BTF_MAX_SIZE || !vmi_mem_valid(mem, gpa, size) || (h[2] & 3) ||
            (uint64_t) h[2] + h[3] > h[4])
                return -EBADMSG;
        /* Cheap checks before reading megabytes: the first type has a known
         * kind, the string section starts and ends with NUL. */
        uint32_t first[3];
        uint8_t s0, s1;
        if (vmi_mem_read(mem, gpa + 24 + h[2], first, sizeof first) < 0 ||
            vmi_mem_read(mem, gpa + 24 + h[4], &s0, 1) < 0 ||
            vmi_mem_read(mem, gpa + 24 + h[4] + h[5] - 1, &s1, 1) < 0)
                return -EBADMSG;
        unsigned kind = (first[1] >> 24) & 0x1f;
        if (kind == 0 || kind > 19 || s0 != 0 || s1 != 0)
                return -EBADMSG;
        _cleanup_free_ uint8_t *data = malloc(size);
        if (!data)
                return -ENOMEM;
        r = vmi_mem_read(mem, gpa, data, size);
        if (r < 0)
                return r;
        libbpf_print_fn_t old = libbpf_set_print(libbpf_quiet);
        struct btf *b = btf__new(data, (uint32_t) size);
        libbpf_set_print(old);
        if (!b)
                return -EBADMSG;
        if (btf__find_by_name_kind(b, "task_struct", BTF_KIND_STRUCT) <= 0 ||
            btf__find_by_name_kind(b, "rq", BTF_KIND_STRUCT) <= 0) {
                btf__free(b);
                return -EBADMSG;
        }
        *ret = b;
        *ret_size = size;
        return 0;
}
typedef struct BtfScan {
        VmiMem *mem;
        struct btf *btf;
        uint64_t gpa;
        size_t size;
        uint64_t candidates;
} BtfScan;

static int btf_hit(void *u, uint64_t gpa) {
        BtfScan *s = u;
        if (++s->candidates > 64)
                return -E2BIG;
        if (try_btf_candidate(s->mem, gpa, &s->btf, &s->size) < 0)
                return 0;
        s->gpa = gpa;
        return 1;
}

int vmi_btf_locate(VmiMem *mem, struct btf **ret_btf, uint64_t *ret_gpa, size_t *ret_size, uint64_t *ret_candidates) {
        BtfScan s = { .mem = mem };
        int r = vmi_mem_scan(mem, 0, btf_magic, sizeof btf_magic, btf_hit, &s);
        if (ret_candidates)
                *ret_candidates = s.candidates;
        if (r < 0)
                return r;
        if (!s.btf)
                return -ENOENT;
        *ret_btf = s.btf;
        *ret_gpa = s.gpa;
        *ret_size = s.size;
        return 0;
}
