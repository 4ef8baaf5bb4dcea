/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest kernel's release string ("6.1.0-57-amd64") from its memory:
 * init_uts_ns.name.release (vmi.h, vmi_kernel_release). */
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "vmi/kcall.h"
#include "vmi/vmi-internal.h"

/* struct new_utsname (UAPI, fixed): six char[65]: sysname, nodename,
 * release, version, machine, domainname. */
#define UTS_LEN 65
#define UTS_RELEASE_OFF (2 * UTS_LEN)
#define UTS_SIZE (6 * UTS_LEN)
/* Where struct uts_namespace keeps its name when the BTF does not say:
 * first (5.11 on), or after a struct kref (before): 4 bytes (one
 * refcount_t), and new_utsname's chars need no alignment. */
static const int32_t uts_name_guess[] = { 0, 4 };

static bool release_ok(const uint8_t *p, char *out) {
        size_t n = strnlen((const char *) p, UTS_LEN);
        if (n == 0 || n >= UTS_LEN)
                return false;   /* empty, or no NUL within the field */
        for (size_t i = 0; i < n; i++)
                if (p[i] <= 0x20 || p[i] >= 0x7f)
                        return false;
        memcpy(out, p, n + 1);
        return true;
}

int vmi_uts_release_parse(const uint8_t *buf, size_t len, int32_t name_off, char out[VMI_RELEASE_SIZE]) {
        const int32_t *offs = name_off >= 0 ? &name_off : uts_name_guess;
        size_t n_offs = name_off >= 0 ? 1 : ELEMENTSOF(uts_name_guess);
        for (size_t i = 0; i < n_offs; i++) {
                int32_t o = offs[i];
                if (o < 0 || (size_t) o > len || len - (size_t) o < UTS_SIZE)
                        continue;
                const uint8_t *u = buf + o;
                if (memcmp(u, "Linux", 6) != 0)   /* sysname, with its NUL */
                        continue;
                if (release_ok(u + UTS_RELEASE_OFF, out))
                        return 0;
                return -EBADMSG;
        }
        return -ENOENT;
}

/* Offset of uts_namespace.name from the BTF, or -1. */
static int32_t btf_uts_name_off(const struct btf *btf) {
        if (!btf)
                return -1;
        int id = btf__find_by_name_kind(btf, "uts_namespace", BTF_KIND_STRUCT);
        if (id <= 0)
                return -1;
        const struct btf_type *t = btf__type_by_id(btf, (uint32_t) id);
        if (!t)
                return -1;
        const struct btf_member *m = btf_members(t);
        for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
                const char *mn = btf__name_by_offset(btf, m->name_off);
                uint32_t bits = btf_member_bit_offset(t, i);
                if (mn && streq(mn, "name") && bits % 8 == 0 && bits / 8 < 4096)
                        return (int32_t) (bits / 8);
        }
        return -1;
}

int vmi_kernel_release(Vmi *v, char out[VMI_RELEASE_SIZE]) {
        snprintf(out, VMI_RELEASE_SIZE, "unknown");
        uint64_t va;
        int r = vmi_ksym_scan(v, "init_uts_ns", true, &va);
        if (r < 0)
                return vmi_set_error(v, r, "no exported init_uts_ns in the guest kernel");
        int32_t name_off = btf_uts_name_off(v->btf);
        uint8_t buf[16 + UTS_SIZE];
        r = vmi_read_kva(v, va, buf, sizeof buf);
        if (r < 0)
                return vmi_set_error(v, r, "cannot read init_uts_ns at %#llx", (unsigned long long) va);
        char rel[VMI_RELEASE_SIZE];
        r = vmi_uts_release_parse(buf, sizeof buf, name_off, rel);
        if (r < 0)
                return vmi_set_error(v, r, "init_uts_ns holds no plausible kernel release");
        memcpy(out, rel, sizeof rel);
        log_debug("vmi: guest kernel release %s (init_uts_ns at %#llx, name at +%d)", out, (unsigned long long) va,
                  (int) name_off);
        return 0;
}
