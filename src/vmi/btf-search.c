/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's own BTF, found in guest RAM among every other BTF blob there
 * (each loaded module's split BTF, page-cache copies of .ko files, BPF
 * programs' BTF): by header and content, largest first, within bounds.
 *
 *   1. one scan of RAM for the header prefix; each match is checked in the
 *      window the scan read (a read of its own only at a window's end): sections laid out as
 *      libbpf and the kernel write them (types at 0, strings right after,
 *      <= VMI_BTF_MAX_SIZE, all in RAM), a first type of a known kind,
 *      strings ending in NUL, and not split: a split BTF (a module's) has
 *      no "" at the start of its own strings and names beyond them.  What
 *      passes is a candidate; the VMI_BTF_MAX_LOOK largest are kept (no cap
 *      on how many are seen: a guest with hundreds of modules only has more
 *      small blobs);
 *   2. those, largest first, are checked again with three small reads (the
 *      guest runs on; and what lay beyond the scan's window);
 *   3. the survivors are read in full (at most VMI_BTF_MAX_READ_BYTES in
 *      all) and must name "task_struct" among their own strings (memmem);
 *   4. only then libbpf parses (at most VMI_BTF_MAX_PARSES), and the first
 *      BTF with struct task_struct and struct rq wins. */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "vmi/vmi-internal.h"

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap) {
        (void) level;
        (void) fmt;
        (void) ap;
        return 0;
}

static const uint8_t btf_magic[8] = { 0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00 };

#define BTF_HDR_LEN 24
#define BTF_KIND_LAST 19   /* BTF_KIND_ENUM64; later kinds are newer than the kernels we know */

typedef struct BtfCand {
        uint64_t gpa;
        uint64_t size;
} BtfCand;

typedef struct BtfScan {
        VmiMem *mem;
        VmiBtfStats *st;
        BtfCand cand[VMI_BTF_MAX_LOOK];   /* largest first; equal sizes in RAM order */
        size_t n;
} BtfScan;

/* Header words: magic/version/flags, hdr_len, type_off, type_len, str_off,
 * str_len.  Plausible: sections as libbpf writes them and the kernel
 * accepts them (types first at 0, strings right after, no gap). */
static uint64_t btf_plausible_size(const VmiMem *mem, uint64_t gpa, const uint32_t h[6]) {
        if (h[2] != 0 || h[3] < 12 || (h[3] & 3) || h[4] != h[3] || h[5] == 0)
                return 0;
        uint64_t size = BTF_HDR_LEN + (uint64_t) h[4] + h[5];
        if (size > VMI_BTF_MAX_SIZE || !vmi_mem_valid(mem, gpa, size))
                return 0;
        return size;
}

typedef enum BtfVerdict {
        BTF_OK,
        BTF_MAYBE,      /* the cheap checks pass */
        BTF_BAD,        /* not (or no longer) a BTF blob */
        BTF_SPLIT,      /* a module's split BTF */
        BTF_NO_TASK,    /* a BTF, but not the kernel's */
        BTF_BUDGET,     /* the read or parse budget is spent */
} BtfVerdict;

/* The cheap checks, on what is known of the blob: the first type (first,
 * or NULL), the first and the last byte of the string section (-1 when
 * not known). */
static BtfVerdict btf_cheap(const uint32_t h[6], const uint32_t *first, int s0, int s_end) {
        if (first) {
                unsigned kind = (first[1] >> 24) & 0x1f;
                if (kind == 0 || kind > BTF_KIND_LAST)
                        return BTF_BAD;
        }
        if (s_end > 0)
                return BTF_BAD;
        /* A split BTF's string offsets continue its base's: its own section
         * starts with a name (the "" at offset 0 is the base's), and its
         * types name strings beyond its own section. */
        if (s0 > 0 || (first && first[0] >= h[5]))
                return BTF_SPLIT;
        return BTF_MAYBE;
}

static void btf_count(VmiBtfStats *st, BtfVerdict v) {
        if (v == BTF_BAD)
                st->bad++;
        else if (v == BTF_SPLIT)
                st->split++;
        else if (v == BTF_NO_TASK)
                st->no_task_struct++;
}

static int btf_hit(void *u, uint64_t gpa, const uint8_t *p, size_t avail) {
        BtfScan *s = u;
        uint32_t h[6];
        s->st->headers++;
        /* From the window the scan read: a hostile guest's millions of
         * headers cost no reads of their own; what lies beyond the window
         * is checked later, for the few kept. */
        if (avail >= sizeof h)
                memcpy(h, p, sizeof h);
        else if (vmi_mem_read(s->mem, gpa, h, sizeof h) < 0)
                return 0;
        uint64_t size = btf_plausible_size(s->mem, gpa, h);
        if (size == 0) {
                s->st->bad++;
                return 0;
        }
        uint32_t first[3];
        bool have_first = avail >= BTF_HDR_LEN + sizeof first;
        if (have_first)
                memcpy(first, p + BTF_HDR_LEN, sizeof first);
        uint64_t s0_at = BTF_HDR_LEN + (uint64_t) h[4], end_at = size - 1;
        BtfVerdict v = btf_cheap(h, have_first ? first : NULL, s0_at < avail ? p[s0_at] : -1,
                                 end_at < avail ? p[end_at] : -1);
        if (v != BTF_MAYBE) {
                btf_count(s->st, v);
                return 0;
        }
        s->st->candidates++;
        size_t i = s->n;
        while (i > 0 && s->cand[i - 1].size < size)
                i--;
        if (i >= VMI_BTF_MAX_LOOK)
                return 0;
        size_t last = MIN(s->n, (size_t) VMI_BTF_MAX_LOOK - 1);
        memmove(&s->cand[i + 1], &s->cand[i], (last - i) * sizeof s->cand[0]);
        s->cand[i] = (BtfCand) { gpa, size };
        if (s->n < VMI_BTF_MAX_LOOK)
                s->n++;
        return 0;
}

static BtfVerdict btf_look(BtfScan *s, const BtfCand *c, struct btf **ret) {
        VmiMem *mem = s->mem;
        uint32_t h[6], first[3];
        uint8_t s0, s_end;
        /* The guest runs on: read the header again. */
        if (vmi_mem_read(mem, c->gpa, h, sizeof h) < 0 || memcmp(h, btf_magic, sizeof btf_magic) != 0 ||
            btf_plausible_size(mem, c->gpa, h) != c->size)
                return BTF_BAD;
        uint64_t strs = c->gpa + BTF_HDR_LEN + h[4];
        if (vmi_mem_read(mem, c->gpa + BTF_HDR_LEN, first, sizeof first) < 0 || vmi_mem_read(mem, strs, &s0, 1) < 0 ||
            vmi_mem_read(mem, strs + h[5] - 1, &s_end, 1) < 0)
                return BTF_BAD;
        BtfVerdict v = btf_cheap(h, first, s0, s_end);
        if (v != BTF_MAYBE)
                return v;
        if (s->st->read_bytes + c->size > VMI_BTF_MAX_READ_BYTES || s->st->parsed >= VMI_BTF_MAX_PARSES)
                return BTF_BUDGET;
        _cleanup_free_ uint8_t *data = malloc(c->size);
        if (!data)
                return BTF_BUDGET;
        s->st->read_bytes += c->size;
        if (vmi_mem_read(mem, c->gpa, data, c->size) < 0 || memcmp(data, h, sizeof h) != 0)
                return BTF_BAD;
        /* The kernel's BTF names task_struct in its own strings. */
        static const char want[] = "\0task_struct";   /* and the NUL after it */
        if (!memmem(data + BTF_HDR_LEN + h[4], h[5], want, sizeof want))
                return BTF_NO_TASK;
        s->st->parsed++;
        libbpf_print_fn_t old = libbpf_set_print(libbpf_quiet);
        struct btf *b = btf__new(data, (uint32_t) c->size);
        libbpf_set_print(old);
        if (!b)
                return BTF_BAD;
        if (btf__find_by_name_kind(b, "task_struct", BTF_KIND_STRUCT) <= 0 ||
            btf__find_by_name_kind(b, "rq", BTF_KIND_STRUCT) <= 0) {
                btf__free(b);
                return BTF_NO_TASK;
        }
        *ret = b;
        return BTF_OK;
}

int vmi_btf_locate(VmiMem *mem, struct btf **ret_btf, uint64_t *ret_gpa, size_t *ret_size, VmiBtfStats *ret_stats) {
        VmiBtfStats st = {};
        _cleanup_free_ BtfScan *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->mem = mem;
        s->st = &st;
        int r = vmi_mem_scan(mem, 0, btf_magic, sizeof btf_magic, btf_hit, s);
        if (r < 0) {
                if (ret_stats)
                        *ret_stats = st;
                return r;
        }
        r = -ENOENT;
        for (size_t i = 0; i < s->n; i++) {
                struct btf *b = NULL;
                st.looked++;
                BtfVerdict verdict = btf_look(s, &s->cand[i], &b);
                log_debug("vmi: BTF candidate %zu at %#" PRIx64 " (%" PRIu64 " bytes): %s", i, s->cand[i].gpa,
                          s->cand[i].size,
                          verdict == BTF_OK ? "the kernel's" : verdict == BTF_SPLIT ? "split (a module's)" :
                          verdict == BTF_NO_TASK ? "no task_struct" : verdict == BTF_BUDGET ? "over budget" :
                          "not BTF");
                if (verdict == BTF_OK) {
                        *ret_btf = b;
                        *ret_gpa = s->cand[i].gpa;
                        *ret_size = (size_t) s->cand[i].size;
                        r = 0;
                        break;
                }
                if (verdict == BTF_BUDGET) {
                        st.over_budget = true;
                        break;
                }
                btf_count(&st, verdict);
        }
        if (ret_stats)
                *ret_stats = st;
        return r;
}
