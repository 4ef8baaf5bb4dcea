/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Member offsets (VmiLayout) from the guest's BTF or from a user's profile. */
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "vmi/vmi-internal.h"

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
