/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Attach: BTF, layout, init_task, direct map, kernel image, run queues. */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "vmi/vmi-internal.h"

#define GIB (UINT64_C(1) << 30)
#define BTF_MAX_SIZE (64u << 20)
#define SCAN_CHUNK (4u << 20)
#define KIMAGE_START UINT64_C(0xffffffff80000000)
#define KIMAGE_END UINT64_C(0xffffffffff000000)

uint64_t vmi_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

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

/* ---- layout from BTF ---------------------------------------------------- */

static int find_member(const struct btf *btf, uint32_t type_id, const char *name, int depth, uint32_t *ret_bits,
                       uint32_t *ret_type) {
        if (depth > 8)
                return -ELOOP;
        int id = btf__resolve_type(btf, type_id);
        if (id < 0)
                return -ENOENT;
        const struct btf_type *t = btf__type_by_id(btf, id);
        if (!t || !(btf_is_struct(t) || btf_is_union(t)))
                return -ENOENT;
        const struct btf_member *m = btf_members(t);
        for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
                const char *mn = btf__name_by_offset(btf, m->name_off);
                uint32_t bits = btf_member_bit_offset(t, i);
                if (mn && streq(mn, name)) {
                        *ret_bits = bits;
                        *ret_type = m->type;
                        return 0;
                }
                if (!mn || !*mn) {
                        uint32_t b2, ty2;
                        if (find_member(btf, m->type, name, depth + 1, &b2, &ty2) >= 0) {
                                *ret_bits = bits + b2;
                                *ret_type = ty2;
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

/* Byte offset of a dotted member path ("se.sum_exec_runtime") in struct sname. */
static int32_t member_off(const struct btf *btf, const char *sname, const char *path, int32_t *ret_size) {
        int id = btf__find_by_name_kind(btf, sname, BTF_KIND_STRUCT);
        if (id <= 0)
                return VMI_NO_OFF;
        uint32_t type = (uint32_t) id, total = 0;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        char *save = NULL;
        for (char *c = strtok_r(buf, ".", &save); c; c = strtok_r(NULL, ".", &save)) {
                uint32_t bits, ty;
                if (find_member(btf, type, c, 0, &bits, &ty) < 0)
                        return VMI_NO_OFF;
                if (bits % 8)
                        return VMI_NO_OFF;   /* bitfields are not used */
                total += bits / 8;
                type = ty;
        }
        if (ret_size) {
                long long s = btf__resolve_size(btf, type);
                *ret_size = s > 0 && s < INT32_MAX ? (int32_t) s : 0;
        }
        return total < INT32_MAX ? (int32_t) total : VMI_NO_OFF;
}

static int64_t percpu_off(const struct btf *btf, const char *var) {
        int id = btf__find_by_name_kind(btf, ".data..percpu", BTF_KIND_DATASEC);
        if (id <= 0)
                return VMI_NO_OFF;
        const struct btf_type *t = btf__type_by_id(btf, id);
        const struct btf_var_secinfo *vs = btf_var_secinfos(t);
        for (unsigned i = 0; i < btf_vlen(t); i++, vs++) {
                const struct btf_type *vt = btf__type_by_id(btf, vs->type);
                if (!vt)
                        continue;
                const char *n = btf__name_by_offset(btf, vt->name_off);
                if (n && streq(n, var))
                        return vs->offset;
        }
        return VMI_NO_OFF;
}

static int32_t struct_size(const struct btf *btf, const char *name) {
        int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
        if (id <= 0)
                return 0;
        const struct btf_type *t = btf__type_by_id(btf, id);
        return t && t->size < (1u << 20) ? (int32_t) t->size : 0;
}

static void span_add(int32_t *lo, int32_t *hi, int32_t off, int32_t size) {
        if (off < 0)
                return;
        *lo = MIN(*lo, off);
        *hi = MAX(*hi, off + size);
}

/* Where member offsets come from: the guest's BTF, or a profile the user
 * gave (an ISF/JSON file).  The layout code below asks only these three. */
typedef struct TypeSource {
        int32_t (*struct_size)(const void *src, const char *name);
        int32_t (*member_off)(const void *src, const char *sname, const char *path, int32_t *ret_size);
        int64_t (*percpu_off)(const void *src, const char *var);
        const void *src;
} TypeSource;

static int32_t btf_struct_size(const void *src, const char *name) {
        return struct_size(src, name);
}
static int32_t btf_member_off(const void *src, const char *sname, const char *path, int32_t *ret_size) {
        return member_off(src, sname, path, ret_size);
}
static int64_t btf_percpu_off(const void *src, const char *var) {
        return percpu_off(src, var);
}

static int layout_from(const TypeSource *ts, VmiLayout *ret);

int vmi_layout_from_btf(const struct btf *btf, VmiLayout *ret) {
        TypeSource ts = { btf_struct_size, btf_member_off, btf_percpu_off, btf };
        return layout_from(&ts, ret);
}

int vmi_layout_from_profile(const VmiProfile *p, VmiLayout *ret) {
        TypeSource ts = { vmi_profile_struct_size, vmi_profile_member_off, vmi_profile_percpu_off, p };
        return layout_from(&ts, ret);
}

#define struct_size(b, n) ts->struct_size(ts->src, (n))
#define member_off(b, s, p, z) ts->member_off(ts->src, (s), (p), (z))
#define percpu_off(b, v) ts->percpu_off(ts->src, (v))

static int layout_from(const TypeSource *ts, VmiLayout *ret) {
        VmiLayout L = {};
        int32_t sz = 0;
        L.task_size = struct_size(btf, "task_struct");
        L.t_state = member_off(btf, "task_struct", "__state", &sz);
        if (L.t_state < 0)
                L.t_state = member_off(btf, "task_struct", "state", &sz);
        L.t_state_size = sz == 8 ? 8 : 4;
        L.t_ti_flags = member_off(btf, "task_struct", "thread_info.flags", NULL);
        L.t_cpu = member_off(btf, "task_struct", "thread_info.cpu", NULL);
        if (L.t_cpu < 0)
                L.t_cpu = member_off(btf, "task_struct", "cpu", NULL);
        L.t_flags = member_off(btf, "task_struct", "flags", NULL);
        L.t_on_cpu = member_off(btf, "task_struct", "on_cpu", NULL);
        L.t_on_rq = member_off(btf, "task_struct", "on_rq", NULL);
        L.t_static_prio = member_off(btf, "task_struct", "static_prio", NULL);
        L.t_rt_priority = member_off(btf, "task_struct", "rt_priority", NULL);
        L.t_policy = member_off(btf, "task_struct", "policy", NULL);
        L.t_tasks = member_off(btf, "task_struct", "tasks", NULL);
        L.t_pid = member_off(btf, "task_struct", "pid", NULL);
        L.t_tgid = member_off(btf, "task_struct", "tgid", NULL);
        L.t_thread_group = member_off(btf, "task_struct", "thread_group", NULL);
        L.t_thread_node = member_off(btf, "task_struct", "thread_node", NULL);
        L.t_comm = member_off(btf, "task_struct", "comm", NULL);
        L.t_sum_exec = member_off(btf, "task_struct", "se.sum_exec_runtime", NULL);
        L.t_se_cfs_rq = member_off(btf, "task_struct", "se.cfs_rq", NULL);
        L.t_start_time = member_off(btf, "task_struct", "start_boottime", NULL);
        if (L.t_start_time < 0)
                L.t_start_time = member_off(btf, "task_struct", "start_time", NULL);
        L.t_mm = member_off(btf, "task_struct", "mm", NULL);
        L.t_active_mm = member_off(btf, "task_struct", "active_mm", NULL);
        L.t_sighand = member_off(btf, "task_struct", "sighand", NULL);
        L.t_signal = member_off(btf, "task_struct", "signal", NULL);
        L.t_pending_sig = member_off(btf, "task_struct", "pending.signal", NULL);
        L.t_exit_state = member_off(btf, "task_struct", "exit_state", NULL);
        L.sig_thread_head = member_off(btf, "signal_struct", "thread_head", NULL);
        L.sh_siglock = member_off(btf, "sighand_struct", "siglock", NULL);
        L.mm_pgd = member_off(btf, "mm_struct", "pgd", NULL);
        L.mm_arg_start = member_off(btf, "mm_struct", "arg_start", NULL);
        L.mm_arg_end = member_off(btf, "mm_struct", "arg_end", NULL);
        L.rq_cpu = member_off(btf, "rq", "cpu", NULL);
        L.rq_curr = member_off(btf, "rq", "curr", NULL);
        L.rq_idle = member_off(btf, "rq", "idle", NULL);
        L.rq_nr_running = member_off(btf, "rq", "nr_running", NULL);
        L.rq_cfs = member_off(btf, "rq", "cfs", NULL);
        L.cfs_rq_tg = member_off(btf, "cfs_rq", "tg", NULL);
        L.tg_cfs_rq = member_off(btf, "task_group", "cfs_rq", NULL);
        L.t_worker_private = member_off(btf, "task_struct", "worker_private", NULL);
        if (L.t_worker_private < 0)
                L.t_worker_private = member_off(btf, "task_struct", "set_child_tid", NULL);   /* < 5.17 */
        L.kthread_data = member_off(btf, "kthread", "data", NULL);
        L.worker_desc = member_off(btf, "worker", "desc", NULL);
        L.worker_current_work = member_off(btf, "worker", "current_work", NULL);
        L.worker_pool = member_off(btf, "worker", "pool", NULL);
        L.pcpu_runqueues = percpu_off(btf, "runqueues");
        L.pcpu_current_task = percpu_off(btf, "current_task");

        /* Required for the walk. */
        if (L.task_size <= 0 || L.t_state < 0 || L.t_flags < 0 || L.t_tasks < 0 || L.t_pid < 0 || L.t_tgid < 0 ||
            L.t_comm < 0 || L.t_ti_flags < 0 || (L.t_thread_group < 0 && (L.t_thread_node < 0 || L.t_signal < 0)) ||
            L.rq_cpu < 0 || L.rq_curr < 0 || L.rq_idle < 0 || L.rq_nr_running < 0)
                return -ENOENT;

        int32_t lo = INT32_MAX, hi = 0;
        span_add(&lo, &hi, L.t_state, L.t_state_size);
        span_add(&lo, &hi, L.t_ti_flags, 8);
        span_add(&lo, &hi, L.t_cpu, 4);
        span_add(&lo, &hi, L.t_flags, 4);
        span_add(&lo, &hi, L.t_on_cpu, 4);
        span_add(&lo, &hi, L.t_on_rq, 4);
        span_add(&lo, &hi, L.t_static_prio, 4);
        span_add(&lo, &hi, L.t_rt_priority, 4);
        span_add(&lo, &hi, L.t_policy, 4);
        span_add(&lo, &hi, L.t_tasks, 16);
        span_add(&lo, &hi, L.t_pid, 4);
        span_add(&lo, &hi, L.t_tgid, 4);
        span_add(&lo, &hi, L.t_thread_group, 16);
        span_add(&lo, &hi, L.t_thread_node, 16);
        span_add(&lo, &hi, L.t_comm, 16);
        span_add(&lo, &hi, L.t_sum_exec, 8);
        span_add(&lo, &hi, L.t_se_cfs_rq, 8);
        span_add(&lo, &hi, L.t_start_time, 8);
        span_add(&lo, &hi, L.t_mm, 8);
        span_add(&lo, &hi, L.t_active_mm, 8);
        span_add(&lo, &hi, L.t_sighand, 8);
        span_add(&lo, &hi, L.t_signal, 8);
        span_add(&lo, &hi, L.t_pending_sig, 8);
        span_add(&lo, &hi, L.t_exit_state, 4);
        span_add(&lo, &hi, L.t_worker_private, 8);
        if (hi > L.task_size || hi - lo > (1 << 16))
                return -EBADMSG;
        L.span_lo = lo;
        L.span_hi = hi;
        lo = INT32_MAX;
        hi = 0;
        span_add(&lo, &hi, L.rq_cpu, 4);
        span_add(&lo, &hi, L.rq_curr, 8);
        span_add(&lo, &hi, L.rq_idle, 8);
        span_add(&lo, &hi, L.rq_nr_running, 4);
        if (hi - lo > (1 << 16))
                return -EBADMSG;
        L.rq_lo = lo;
        L.rq_hi = hi;
        *ret = L;
        return 0;
}

#undef struct_size
#undef member_off
#undef percpu_off

/* ---- BTF in guest RAM --------------------------------------------------- */

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

/* Call fn(hit_gpa) for each occurrence of pat, scanning regions from gpa
 * `start` (wrapping).  fn returns > 0 to stop. */
typedef int (*scan_fn)(void *u, uint64_t gpa);

static int scan_pattern(VmiMem *mem, uint64_t start, const void *pat, size_t plen, scan_fn fn, void *u) {
        _cleanup_free_ uint8_t *buf = NULL;
        if (mem->n_regions == 0)
                return -ENODATA;
        /* Order: from `start` to the end of its region and the following
         * regions, then from the beginning up to `start`. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < mem->n_regions; i++) {
                        const VmiRegion *rg = &mem->regions[i];
                        uint64_t a = rg->gpa, b = rg->gpa + rg->size;
                        if (pass == 0) {
                                if (b <= start)
                                        continue;
                                a = MAX(a, start);
                        } else {
                                if (a >= start)
                                        continue;
                                b = MIN(b, start + plen);
                        }
                        for (uint64_t off = a; off < b; off += SCAN_CHUNK) {
                                size_t len = (size_t) MIN((uint64_t) SCAN_CHUNK + plen - 1, b - off);
                                if (len < plen)
                                        break;
                                /* Through the RAM file where there is one: touching
                                 * a mapping of all of RAM would make it ours (RSS)
                                 * and fill its holes. */
                                if (!buf && !(buf = malloc(SCAN_CHUNK + plen)))
                                        return -ENOMEM;
                                const uint8_t *p = NULL;
                                int r = vmi_mem_scan_window(mem, off, len, buf, &p);
                                if (r < 0)
                                        return r;
                                if (r == 0) {
                                        if (((const uint8_t *) pat)[0] != 0)
                                                continue;   /* a hole: zeros */
                                        memset(buf, 0, len);
                                        p = buf;
                                }
                                /* memchr on the first byte, then compare: glibc's
                                 * memmem is slow on RAM that is mostly zeros */
                                const uint8_t *q = p, *e = p + len - plen + 1;
                                const uint8_t first = ((const uint8_t *) pat)[0];
                                while (q < e && (q = memchr(q, first, (size_t) (e - q)))) {
                                        if (memcmp(q, pat, plen) == 0) {
                                                int r = fn(u, off + (uint64_t) (q - p));
                                                if (r != 0)
                                                        return r;
                                        }
                                        q++;
                                }
                        }
                }
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
        int r = scan_pattern(mem, 0, btf_magic, sizeof btf_magic, btf_hit, &s);
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

/* ---- address translation ------------------------------------------------ */

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

/* ---- init_task and the address space ------------------------------------ */

static bool kptr_ok(uint64_t p) {
        return p >= UINT64_C(0xff00000000000000) && (p & 7) == 0;
}

typedef struct InitScan {
        Vmi *v;
        uint8_t *span;
        uint8_t *span1;
        bool found;
        uint64_t hits;         /* "swapper/0" strings seen */
        uint64_t candidates;   /* of them with pid 0 and tgid 0 (each tried through pid 1) */
} InitScan;

/* Given init_task at physical pa (its window in s->span), derive the
 * direct-map base and the kernel-image offset through pid 1. */
static int derive_from_init(Vmi *v, uint64_t pa, const uint8_t *span, uint8_t *span1) {
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

static int init_hit(void *u, uint64_t gpa) {
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
        if (derive_from_init(v, pa, s->span, s->span1) < 0)
                return 0;
        s->found = true;
        return 1;
}

static int find_init_task(Vmi *v) {
        static const char pat[] = "swapper/0";   /* with its NUL */
        size_t n = (size_t) (v->L.span_hi - v->L.span_lo);
        _cleanup_free_ uint8_t *a = malloc(n), *b = malloc(n);
        if (!a || !b)
                return -ENOMEM;
        InitScan s = { .v = v, .span = a, .span1 = b };
        int r = scan_pattern(v->mem, v->btf_gpa, pat, sizeof pat, init_hit, &s);
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

/* ---- run queues ---------------------------------------------------------- */

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

static int find_cpus_task_group(Vmi *v) {
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

        uint64_t t0 = vmi_now_us();
        int r;
        if (v->opt.profile) {
                /* The user's profile instead of the guest's BTF: a kernel
                 * built without BTF.  init_task is then searched from 0. */
                r = vmi_layout_from_profile(v->opt.profile, &v->L);
                if (r < 0)
                        return vmi_set_error(v, r, "the profile lacks members the walk needs");
        } else {
                r = vmi_btf_locate(mem, &v->btf, &v->btf_gpa, &v->btf_size, &v->stats.btf_candidates);
                if (r < 0)
                        return vmi_set_error(v, r, "no parsable kernel BTF in guest RAM (%" PRIu64 " candidates)",
                                             v->stats.btf_candidates);
                r = vmi_layout_from_btf(v->btf, &v->L);
                if (r < 0)
                        return vmi_set_error(v, r, "the guest's BTF lacks members the walk needs");
        }
        uint64_t t1 = vmi_now_us();
        v->stats.btf_us = t1 - t0;

        r = find_init_task(v);
        if (r == -E2BIG)
                return r;   /* find_init_task said why */
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
        uint64_t t2 = vmi_now_us();
        v->stats.init_task_us = t2 - t1;

        r = find_cpus_task_group(v);
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
        v->stats.cpus_us = vmi_now_us() - t2;
        v->stats.attach_us = vmi_now_us() - t0;
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
        bool same = derive_from_init(v, v->init_task_pa, a, b) >= 0 && v->page_offset_base == pob &&
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
