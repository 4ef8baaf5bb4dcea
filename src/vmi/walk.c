/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The task walk, run queues and SIGSTOP injection. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "vmi/vmi-internal.h"

#define PF_EXITING 0x00000004u
#define PF_WQ_WORKER 0x00000020u
#define WORKER_DESC_LEN 24
#define PF_KTHREAD 0x00200000u
#define TASK_REPORT 0x7fu
#define TASK_IDLE 0x402u
#define PID_MAX_LIMIT 4194304
#define TIF_SIGPENDING 2
#define SIGSTOP_BIT (UINT64_C(1) << (19 - 1))
#define NICE_BASE 120

char vmi_state_char(uint32_t state, uint32_t exit_state) {
        static const char chars[] = "RSDTtXZPI";
        if (state == TASK_IDLE)
                return 'I';
        uint32_t s = (state | exit_state) & TASK_REPORT;
        int i = 0;
        while (s) {
                i++;
                s >>= 1;
        }
        return chars[i];
}

/* ---- a small open-addressing map: guest address -> index ----------------- */

typedef struct AddrMap {
        uint64_t *keys;      /* 0 = empty */
        uint32_t *vals;
        size_t mask;
} AddrMap;

static void addrmap_done(AddrMap *m) {
        free(m->keys);
        free(m->vals);
        *m = (AddrMap) {};
}

static int addrmap_init(AddrMap *m, size_t n) {
        size_t cap = 64;
        while (cap < 2 * n + 2)
                cap *= 2;
        m->keys = calloc(cap, sizeof *m->keys);
        m->vals = malloc(cap * sizeof *m->vals);
        if (!m->keys || !m->vals) {
                addrmap_done(m);
                return -ENOMEM;
        }
        m->mask = cap - 1;
        return 0;
}

static size_t addr_hash(uint64_t k) {
        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        return (size_t) k;
}

/* Insert; returns false if the key was present (value kept). */
static bool addrmap_put(AddrMap *m, uint64_t k, uint32_t v) {
        for (size_t i = addr_hash(k) & m->mask;; i = (i + 1) & m->mask) {
                if (m->keys[i] == k)
                        return false;
                if (m->keys[i] == 0) {
                        m->keys[i] = k;
                        m->vals[i] = v;
                        return true;
                }
        }
}

static bool addrmap_get(const AddrMap *m, uint64_t k, uint32_t *ret) {
        if (!m->keys)
                return false;
        for (size_t i = addr_hash(k) & m->mask;; i = (i + 1) & m->mask) {
                if (m->keys[i] == k) {
                        *ret = m->vals[i];
                        return true;
                }
                if (m->keys[i] == 0)
                        return false;
        }
}

/* ---- the scan ------------------------------------------------------------- */

typedef struct Scan {
        Vmi *v;
        size_t span;
        AddrMap prev;        /* previous scan: va -> index (prefetched window index * span) */
        bool have_pf;
        bool direct;         /* RAM mapped: windows in place, no prefetch */
        AddrMap seen;
        AddrMap prevmap;     /* previous scan: va -> index in v->prev */
        VmiTask *out;
        size_t n, cap;
        uint8_t *tmp;
} Scan;

static void scan_done(Scan *s) {
        addrmap_done(&s->prev);
        addrmap_done(&s->seen);
        addrmap_done(&s->prevmap);
        free(s->out);
        free(s->tmp);
}

/* The task window of the task at va: from the prefetch, else read now. */
static int get_task(Scan *s, uint64_t va, const uint8_t **ret) {
        Vmi *v = s->v;
        if (!kptr_ok(va))
                return -EBADMSG;
        uint32_t idx;
        if (s->direct) {
                /* RAM is mapped: use the window in place (its fields are
                 * copied out once by parse_task; torn values are caught
                 * like any other) */
                uint64_t pa;
                const uint8_t *p;
                if (vmi_kva_to_pa(v, va + (uint64_t) v->L.span_lo, &pa) >= 0 && (p = vmi_mem_ptr(v->mem, pa, s->span))) {
                        v->stats.direct_windows++;
                        *ret = p;
                        return 0;
                }
        }
        if (s->have_pf && addrmap_get(&s->prev, va, &idx)) {
                v->stats.prefetch_hits++;
                *ret = v->pf_buf + (size_t) idx * s->span;
                return 0;
        }
        v->stats.prefetch_misses++;
        int r = vmi_read_kva(v, va + (uint64_t) v->L.span_lo, s->tmp, s->span);
        if (r < 0)
                return r;
        *ret = s->tmp;
        return 0;
}

/* Batch-read the windows of the tasks of the previous scan, as many as
 * VMI_PREFETCH_MAX_BYTES hold (the span comes from the guest's BTF, up to
 * 64 KiB, and the number of tasks from the guest: up to 4 GiB otherwise);
 * the rest are read one by one. */
static void prefetch(Scan *s) {
        Vmi *v = s->v;
        v->stats.prefetch_bytes = 0;
        if (v->n_prev == 0 || s->span == 0)
                return;
        size_t n_pf = MIN(v->n_prev, (size_t) VMI_PREFETCH_MAX_BYTES / s->span);
        if (n_pf == 0)
                return;
        if (addrmap_init(&s->prev, n_pf) < 0)
                return;
        size_t need = n_pf * s->span;
        if (v->pf_cap > 2 * need) {
                /* shrink after a larger scan */
                free(v->pf_buf);
                v->pf_buf = NULL;
                v->pf_cap = 0;
        }
        if (v->pf_cap < need) {
                uint8_t *b = realloc(v->pf_buf, need);
                if (!b)
                        return;
                v->pf_buf = b;
                v->pf_cap = need;
        }
        VmiIov *iov = malloc(n_pf * sizeof *iov);
        if (!iov)
                return;
        size_t k = 0;
        for (size_t i = 0; i < v->n_prev && k < n_pf; i++) {
                uint64_t pa;
                if (vmi_kva_to_pa(v, v->prev[i].va + (uint64_t) v->L.span_lo, &pa) < 0 ||
                    !vmi_mem_valid(v->mem, pa, s->span))
                        continue;
                if (!addrmap_put(&s->prev, v->prev[i].va, (uint32_t) k))
                        continue;
                iov[k] = (VmiIov) { .gpa = pa, .buf = v->pf_buf + k * s->span, .len = s->span };
                k++;
        }
        s->have_pf = vmi_mem_readv(v->mem, iov, k) >= 0;
        v->stats.prefetch_bytes = k * s->span;
        free(iov);
}

static int read_cmdline(Vmi *v, uint64_t mm, char *buf, size_t size) {
        const VmiLayout *L = &v->L;
        buf[0] = 0;
        if (L->mm_pgd < 0 || L->mm_arg_start < 0 || L->mm_arg_end < 0 || !kptr_ok(mm))
                return -EOPNOTSUPP;
        uint64_t pgd, a, e;
        int r;
        if ((r = vmi_read_kva(v, mm + (uint64_t) L->mm_pgd, &pgd, 8)) < 0 ||
            (r = vmi_read_kva(v, mm + (uint64_t) L->mm_arg_start, &a, 8)) < 0 ||
            (r = vmi_read_kva(v, mm + (uint64_t) L->mm_arg_end, &e, 8)) < 0)
                return r;
        uint64_t pgd_pa;
        if (!kptr_ok(pgd) || (r = vmi_kva_to_pa(v, pgd, &pgd_pa)) < 0)
                return -EBADMSG;
        if (e <= a || a >= UINT64_C(0x0000800000000000))
                return 0;
        size_t len = (size_t) MIN(e - a, (uint64_t) size - 1), got = 0;
        while (got < len) {
                uint64_t va = a + got, pa;
                size_t n = MIN(len - got, (size_t) (4096 - (va & 4095)));
                if (vmi_page_walk(v, pgd_pa, va, &pa) < 0 || vmi_mem_read(v->mem, pa, buf + got, n) < 0)
                        break;   /* paged out: keep what we have */
                got += n;
        }
        buf[got] = 0;
        for (size_t i = 0; i < got; i++)
                if (buf[i] == 0 || (unsigned char) buf[i] < 0x20)
                        buf[i] = ' ';
        while (got > 0 && buf[got - 1] == ' ')
                buf[--got] = 0;
        return 0;
}

static void worker_comm(Scan *s, VmiTask *t, uint64_t wp);

/* Decode one window; -EAGAIN when it does not look like a live task. */
static int parse_task(Scan *s, uint64_t va, const uint8_t *w, VmiTask *t) {
        const VmiLayout *L = &s->v->L;
        int32_t lo = L->span_lo;
        *t = (VmiTask) { .va = va };
        int32_t pid = (int32_t) rd32(w, L->t_pid - lo), tgid = (int32_t) rd32(w, L->t_tgid - lo);
        if (pid <= 0 || pid > PID_MAX_LIMIT || tgid <= 0 || tgid > PID_MAX_LIMIT)
                return -EAGAIN;
        t->t.tid = pid;
        t->t.pid = tgid;
        memcpy(t->t.comm, w + L->t_comm - lo, 15);
        t->t.comm[15] = 0;
        t->raw_state = L->t_state_size == 8 ? (uint32_t) rd64(w, L->t_state - lo) : rd32(w, L->t_state - lo);
        uint32_t exit_state = L->t_exit_state >= 0 ? rd32(w, L->t_exit_state - lo) : 0;
        t->t.state = vmi_state_char(t->raw_state, exit_state);
        t->flags = rd32(w, L->t_flags - lo);
        t->t.is_kthread = t->flags & PF_KTHREAD;
        t->t.cpu = L->t_cpu >= 0 ? (int) rd32(w, L->t_cpu - lo) : -1;
        if (t->t.cpu < 0 || t->t.cpu >= VMI_MAX_CPUS)
                t->t.cpu = -1;
        t->t.cpu_ns = L->t_sum_exec >= 0 ? rd64(w, L->t_sum_exec - lo) : 0;
        int sp = L->t_static_prio >= 0 ? (int) rd32(w, L->t_static_prio - lo) : NICE_BASE;
        t->t.nice = sp >= 100 && sp <= 139 ? sp - NICE_BASE : 0;
        t->t.policy = L->t_policy >= 0 ? (int) rd32(w, L->t_policy - lo) : -1;
        if (t->t.policy < -1 || t->t.policy > 7)
                t->t.policy = -1;
        t->t.rt_priority = L->t_rt_priority >= 0 ? (int) MIN(rd32(w, L->t_rt_priority - lo), 99u) : 0;
        t->t.start_time_ns = L->t_start_time >= 0 ? rd64(w, L->t_start_time - lo) : 0;
        t->on_cpu = L->t_on_cpu >= 0 && rd32(w, L->t_on_cpu - lo) != 0;
        t->on_rq = L->t_on_rq >= 0 && rd32(w, L->t_on_rq - lo) != 0;
        t->t.cmdline[0] = 0;
        if ((t->flags & PF_WQ_WORKER) && L->t_worker_private >= 0)
                worker_comm(s, t, rd64(w, L->t_worker_private - lo));
        return 0;
}

/* The struct worker of a workqueue worker: cached from the previous scan,
 * else read once (worker_private -> kthread.data). */
static void worker_comm(Scan *s, VmiTask *t, uint64_t wp) {
        Vmi *v = s->v;
        const VmiLayout *L = &v->L;
        if (L->kthread_data < 0 || L->worker_desc < 0 || L->worker_current_work < 0 || L->worker_pool < 0)
                return;
        uint64_t worker = 0;
        uint32_t j;
        if (addrmap_get(&s->prevmap, t->va, &j) && v->prev[j].t.tid == t->t.tid && v->prev[j].worker_va)
                worker = v->prev[j].worker_va;
        else if (!kptr_ok(wp) || vmi_read_kva(v, wp + (uint64_t) L->kthread_data, &worker, 8) < 0)
                return;
        if (kptr_ok(worker))
                t->worker_va = worker;
}

/* As /proc does for workqueue workers: comm + "-desc" ("+desc" while
 * running a work item), truncated like any comm.  One batched read of
 * every worker's (pool, current_work, desc) window. */
static void worker_names(Scan *s) {
        Vmi *v = s->v;
        const VmiLayout *L = &v->L;
        if (L->worker_desc < 0 || L->worker_current_work < 0 || L->worker_pool < 0)
                return;
        int32_t lo = MIN(MIN(L->worker_pool, L->worker_current_work), L->worker_desc);
        int32_t hi = MAX(MAX(L->worker_pool, L->worker_current_work) + 8, L->worker_desc + WORKER_DESC_LEN);
        size_t wl = (size_t) (hi - lo), k = 0;
        if (wl > 4096)
                return;
        size_t n = 0;
        for (size_t i = 0; i < s->n; i++)
                n += s->out[i].worker_va != 0;
        if (n == 0)
                return;
        _cleanup_free_ VmiIov *iov = malloc(n * sizeof *iov);
        _cleanup_free_ uint32_t *who = malloc(n * sizeof *who);
        _cleanup_free_ uint8_t *buf = malloc(n * wl);
        if (!iov || !who || !buf)
                return;
        for (size_t i = 0; i < s->n; i++) {
                uint64_t pa;
                if (!s->out[i].worker_va || vmi_kva_to_pa(v, s->out[i].worker_va + (uint64_t) lo, &pa) < 0 ||
                    !vmi_mem_valid(v->mem, pa, wl))
                        continue;
                iov[k] = (VmiIov) { .gpa = pa, .buf = buf + k * wl, .len = wl };
                who[k++] = (uint32_t) i;
        }
        if (vmi_mem_readv(v->mem, iov, k) < 0)
                return;
        for (size_t q = 0; q < k; q++) {
                VmiTask *t = &s->out[who[q]];
                const uint8_t *w = buf + q * wl;
                char desc[WORKER_DESC_LEN + 1];
                memcpy(desc, w + L->worker_desc - lo, WORKER_DESC_LEN);
                desc[WORKER_DESC_LEN] = 0;
                if (!rd64(w, L->worker_pool - lo) || !desc[0])
                        continue;
                char full[64];
                snprintf(full, sizeof full, "%s%c%s", t->t.comm, rd64(w, L->worker_current_work - lo) ? '+' : '-', desc);
                memcpy(t->t.comm, full, sizeof t->t.comm - 1);
                t->t.comm[sizeof t->t.comm - 1] = 0;
        }
}

static int add_task(Scan *s, const VmiTask *t) {
        if (s->n >= s->v->opt.max_tasks)
                return -E2BIG;
        if (2 * (s->n + 1) >= s->seen.mask + 1) {
                /* keep the seen map at most half full (it must never fill) */
                AddrMap nm;
                if (addrmap_init(&nm, s->seen.mask + 1) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n; i++)
                        addrmap_put(&nm, s->out[i].va, (uint32_t) i);
                addrmap_done(&s->seen);
                s->seen = nm;
        }
        if (!addrmap_put(&s->seen, t->va, (uint32_t) s->n))
                return -EAGAIN;   /* seen twice: a torn list, or a cycle */
        if (s->n == s->cap) {
                size_t nc = s->cap ? s->cap * 2 : 256;
                VmiTask *o = realloc(s->out, nc * sizeof *o);
                if (!o)
                        return -ENOMEM;
                s->out = o;
                s->cap = nc;
        }
        s->out[s->n++] = *t;
        return 0;
}

static uint64_t list_next(const VmiLayout *L, const uint8_t *w, int32_t member) {
        return rd64(w, member - L->span_lo);
}

/* Threads of the group led by leader (its window in lw, already added). */
static int walk_threads(Scan *s, const VmiTask *leader, const uint8_t *lw) {
        Vmi *v = s->v;
        const VmiLayout *L = &v->L;
        uint64_t head, node;
        int32_t member;
        if (L->t_thread_group >= 0) {
                member = L->t_thread_group;
                head = leader->va + (uint64_t) member;
                node = list_next(L, lw, member);
        } else {
                member = L->t_thread_node;
                uint64_t sig = rd64(lw, L->t_signal - L->span_lo);
                if (!kptr_ok(sig))
                        return leader->t.state == 'Z' || leader->t.state == 'X' ? 0 : -EAGAIN;
                head = sig + (uint64_t) L->sig_thread_head;
                int r = vmi_read_kva(v, head, &node, 8);
                if (r < 0)
                        return -EAGAIN;
        }
        for (size_t k = 0; node != head; k++) {
                if (k >= v->opt.max_tasks)
                        return -ELOOP;
                if (!kptr_ok(node) || node < (uint64_t) member)
                        return -EAGAIN;
                uint64_t tva = node - (uint64_t) member;
                const uint8_t *w;
                int r = get_task(s, tva, &w);
                if (r < 0)
                        return -EAGAIN;
                node = list_next(L, w, member);
                if (tva == leader->va)
                        continue;   /* thread_node lists hold the leader too */
                VmiTask t;
                r = parse_task(s, tva, w, &t);
                if (r < 0)
                        return r;
                if (t.t.pid != leader->t.pid)
                        return -EAGAIN;
                t.leader_va = leader->va;
                r = add_task(s, &t);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vmi_scan(Vmi *v, VmiTask **ret, size_t *ret_n) {
        const VmiLayout *L = &v->L;
        Scan s = { .v = v, .span = (size_t) (L->span_hi - L->span_lo) };
        int r;
        s.tmp = malloc(s.span);
        if (!s.tmp || addrmap_init(&s.seen, MAX(v->n_prev + v->n_prev / 4, (size_t) 1024)) < 0) {
                scan_done(&s);
                return -ENOMEM;
        }
        v->stats.scans++;
        if (v->n_prev > 0 && addrmap_init(&s.prevmap, v->n_prev) >= 0)
                for (size_t i = 0; i < v->n_prev; i++)
                        addrmap_put(&s.prevmap, v->prev[i].va, (uint32_t) i);
        s.direct = !v->opt.copy_windows;
        for (size_t i = 0; i < v->mem->n_regions; i++)
                if (!v->mem->regions[i].local)
                        s.direct = false;
        if (!s.direct)
                prefetch(&s);

        uint64_t head = v->init_task_va + (uint64_t) L->t_tasks;
        uint64_t node;
        r = vmi_read_kva(v, head, &node, 8);
        if (r < 0)
                goto fail;
        uint64_t prev_node = head;
        for (size_t k = 0; node != head; k++) {
                if (k >= v->opt.max_tasks) {
                        r = -ELOOP;
                        goto fail;
                }
                if (!kptr_ok(node) || node < (uint64_t) L->t_tasks) {
                        r = -EAGAIN;
                        goto fail;
                }
                uint64_t tva = node - (uint64_t) L->t_tasks;
                const uint8_t *w;
                r = get_task(&s, tva, &w);
                if (r < 0) {
                        r = -EAGAIN;
                        goto fail;
                }
                /* torn list: the next one must point back at us */
                if (rd64(w, L->t_tasks + 8 - L->span_lo) != prev_node) {
                        r = -EAGAIN;
                        goto fail;
                }
                VmiTask t;
                r = parse_task(&s, tva, w, &t);
                if (r < 0)
                        goto fail;
                if (t.t.pid != t.t.tid) {   /* only group leaders are on this list */
                        r = -EAGAIN;
                        goto fail;
                }
                t.leader_va = tva;
                uint64_t next = list_next(L, w, L->t_tasks);
                /* keep the window: thread reads may reuse s.tmp */
                _cleanup_free_ uint8_t *lw = NULL;
                if (w == s.tmp) {
                        lw = malloc(s.span);
                        if (!lw) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        memcpy(lw, w, s.span);
                        w = lw;
                }
                r = add_task(&s, &t);
                if (r < 0)
                        goto fail;
                r = walk_threads(&s, &t, w);
                if (r < 0)
                        goto fail;
                prev_node = node;
                node = next;
        }

        worker_names(&s);

        /* cmdlines: reuse the previous scan's for the same task, else read */
        if (v->opt.cmdline) {
                for (size_t i = 0; i < s.n; i++) {
                        VmiTask *t = &s.out[i];
                        uint32_t j;
                        if (t->t.is_kthread)
                                continue;
                        if (addrmap_get(&s.prevmap, t->va, &j) && v->prev[j].t.tid == t->t.tid &&
                            v->prev[j].t.start_time_ns == t->t.start_time_ns) {
                                memcpy(t->t.cmdline, v->prev[j].t.cmdline, sizeof t->t.cmdline);
                                continue;
                        }
                        if (t->leader_va != t->va && addrmap_get(&s.seen, t->leader_va, &j) && j < i) {
                                memcpy(t->t.cmdline, s.out[j].t.cmdline, sizeof t->t.cmdline);
                                continue;
                        }
                        uint64_t mm;
                        if (L->t_mm >= 0 && vmi_read_kva(v, t->va + (uint64_t) L->t_mm, &mm, 8) >= 0 && mm)
                                (void) read_cmdline(v, mm, t->t.cmdline, sizeof t->t.cmdline);
                }
        }

        /* keep this scan for the next one's prefetch and cmdline cache */
        VmiTask *keep = malloc(MAX(s.n, (size_t) 1) * sizeof *keep);
        VmiTask *res = malloc(MAX(s.n, (size_t) 1) * sizeof *res);
        if (!keep || !res) {
                free(keep);
                free(res);
                r = -ENOMEM;
                goto fail;
        }
        memcpy(keep, s.out, s.n * sizeof *keep);
        memcpy(res, s.out, s.n * sizeof *res);
        free(v->prev);
        v->prev = keep;
        v->n_prev = s.n;
        *ret = res;
        *ret_n = s.n;
        scan_done(&s);
        return 0;
fail:
        scan_done(&s);
        return r;
}

int vmi_scan_retry(Vmi *v, unsigned tries, VmiTask **ret, size_t *ret_n) {
        int r = -EAGAIN;
        for (unsigned i = 0; i < MAX(tries, 1u); i++) {
                r = vmi_scan(v, ret, ret_n);
                if (r != -EAGAIN)
                        return r;
                v->stats.scan_retries++;
                /* a torn list may come from a stale prefetch: drop it */
                free(v->prev);
                v->prev = NULL;
                v->n_prev = 0;
        }
        return vmi_set_error(v, r, "the task list stayed torn over %u scans", tries);
}

/* ---- run queues ------------------------------------------------------------ */

int vmi_read_cpus(Vmi *v, VmiCpu **ret, size_t *ret_n) {
        const VmiLayout *L = &v->L;
        int n = v->ncpus;
        if (n <= 0)
                return -ENODATA;
        size_t rs = (size_t) (L->rq_hi - L->rq_lo);
        _cleanup_free_ uint8_t *buf = malloc((size_t) n * rs);
        _cleanup_free_ VmiIov *iov = malloc((size_t) n * 3 * sizeof *iov);
        _cleanup_free_ VmiCpu *c = calloc((size_t) n, sizeof *c);
        _cleanup_free_ uint32_t *ids = malloc((size_t) n * 2 * sizeof *ids);
        if (!buf || !iov || !c || !ids)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                uint64_t pa;
                int r = vmi_kva_to_pa(v, v->rq_va[i] + (uint64_t) L->rq_lo, &pa);
                if (r < 0)
                        return r;
                iov[i] = (VmiIov) { .gpa = pa, .buf = buf + (size_t) i * rs, .len = rs };
        }
        int r = vmi_mem_readv(v->mem, iov, (size_t) n);
        if (r < 0)
                return r;
        size_t k = 0;
        for (int i = 0; i < n; i++) {
                const uint8_t *w = buf + (size_t) i * rs;
                VmiCpu *x = &c[i];
                x->cpu = (int) rd32(w, L->rq_cpu - L->rq_lo);
                if (x->cpu != i)
                        return -EAGAIN;
                x->vcpu = v->cpu_vcpu[i];
                x->rq_va = v->rq_va[i];
                x->nr_running = rd32(w, L->rq_nr_running - L->rq_lo);
                x->curr_va = rd64(w, L->rq_curr - L->rq_lo);
                x->idle = x->curr_va == rd64(w, L->rq_idle - L->rq_lo);
                uint64_t pa;
                if (!kptr_ok(x->curr_va) || vmi_kva_to_pa(v, x->curr_va + (uint64_t) L->t_pid, &pa) < 0)
                        return -EAGAIN;
                iov[k++] = (VmiIov) { .gpa = pa, .buf = &ids[2 * i], .len = 4 };
                if (vmi_kva_to_pa(v, x->curr_va + (uint64_t) L->t_tgid, &pa) < 0)
                        return -EAGAIN;
                iov[k++] = (VmiIov) { .gpa = pa, .buf = &ids[2 * i + 1], .len = 4 };
                if (vmi_kva_to_pa(v, x->curr_va + (uint64_t) L->t_comm, &pa) < 0)
                        return -EAGAIN;
                iov[k++] = (VmiIov) { .gpa = pa, .buf = x->comm, .len = 16 };
        }
        r = vmi_mem_readv(v->mem, iov, k);
        if (r < 0)
                return r;
        for (int i = 0; i < n; i++) {
                c[i].tid = (pid_t) ids[2 * i];
                c[i].pid = (pid_t) ids[2 * i + 1];
                c[i].comm[15] = 0;
                if (c[i].tid < 0 || c[i].tid > PID_MAX_LIMIT || c[i].pid < 0 || c[i].pid > PID_MAX_LIMIT)
                        return -EAGAIN;
        }
        *ret = TAKE_PTR(c);
        *ret_n = (size_t) n;
        return 0;
}

/* ---- SIGSTOP injection ------------------------------------------------------ */

static int write_kva64(Vmi *v, uint64_t va, uint64_t x) {
        uint64_t pa;
        if ((va & 7) != 0)
                return -EINVAL;
        int r = vmi_kva_to_pa(v, va, &pa);
        if (r < 0)
                return r;
        return vmi_mem_write(v->mem, pa, &x, 8);
}

static int read_task_window(Vmi *v, uint64_t va, pid_t tid, uint8_t *w, VmiTask *t) {
        Scan s = { .v = v, .span = (size_t) (v->L.span_hi - v->L.span_lo) };
        if (!kptr_ok(va))
                return -EINVAL;
        int r = vmi_read_kva(v, va + (uint64_t) v->L.span_lo, w, s.span);
        if (r < 0)
                return r;
        r = parse_task(&s, va, w, t);
        if (r < 0 || t->t.tid != tid)
                return -ESRCH;
        return 0;
}

int vmi_task_stop_state(Vmi *v, uint64_t task_va, pid_t tid, bool *ret_pending, char *ret_state) {
        const VmiLayout *L = &v->L;
        if (L->t_pending_sig < 0)
                return -EOPNOTSUPP;
        _cleanup_free_ uint8_t *w = malloc((size_t) (L->span_hi - L->span_lo));
        if (!w)
                return -ENOMEM;
        VmiTask t;
        int r = read_task_window(v, task_va, tid, w, &t);
        if (r < 0)
                return r;
        *ret_pending = rd64(w, L->t_pending_sig - L->span_lo) & SIGSTOP_BIT;
        *ret_state = t.t.state;
        return 0;
}

int vmi_inject_sigstop(Vmi *v, uint64_t task_va, pid_t tid) {
        const VmiLayout *L = &v->L;
        if (L->t_pending_sig < 0 || L->t_sighand < 0 || L->sh_siglock < 0)
                return vmi_set_error(v, -EOPNOTSUPP, "the guest's BTF lacks pending, sighand or siglock");
        _cleanup_free_ uint8_t *w = malloc((size_t) (L->span_hi - L->span_lo));
        if (!w)
                return -ENOMEM;
        VmiTask t;
        int r = read_task_window(v, task_va, tid, w, &t);
        if (r < 0)
                return vmi_set_error(v, r, "thread %d is gone", (int) tid);
        if (t.t.is_kthread || t.t.pid == 1 || (t.flags & PF_EXITING) || t.t.state == 'Z' || t.t.state == 'X')
                return vmi_set_error(v, -EPERM, "thread %d is a kernel thread, init or exiting", (int) tid);
        uint64_t sighand = rd64(w, L->t_sighand - L->span_lo);
        uint32_t lock;
        if (!kptr_ok(sighand) || vmi_read_kva(v, sighand + (uint64_t) L->sh_siglock, &lock, 4) < 0)
                return vmi_set_error(v, -EBADMSG, "thread %d has no readable sighand", (int) tid);
        if (lock != 0)
                return vmi_set_error(v, -EBUSY, "sighand->siglock of thread %d is held", (int) tid);
        uint64_t pending = rd64(w, L->t_pending_sig - L->span_lo);
        uint64_t tif = rd64(w, L->t_ti_flags - L->span_lo);
        r = write_kva64(v, task_va + (uint64_t) L->t_pending_sig, pending | SIGSTOP_BIT);
        if (r < 0)
                return vmi_set_error(v, r, "cannot write the pending set of thread %d", (int) tid);
        r = write_kva64(v, task_va + (uint64_t) L->t_ti_flags, tif | (UINT64_C(1) << TIF_SIGPENDING));
        if (r < 0)
                return vmi_set_error(v, r, "cannot write thread_info.flags of thread %d", (int) tid);
        return 0;
}
