/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "host/cgroup.h"
#include "host/sched.h"
#include "lever/lever.h"
#include "lever/vm-pause.h"

static const char *const lever_names[_LEVER_MAX] = {
        [LEVER_NICE] = "nice",     [LEVER_RT] = "rt",    [LEVER_CPUS] = "cpus",
        [LEVER_WEIGHT] = "weight", [LEVER_CAP] = "cap",  [LEVER_MEMS] = "mems",
        [LEVER_MEMORY] = "memory", [LEVER_IOWEIGHT] = "ioweight",
};

const char *lever_key_to_string(LeverKey k) {
        return k >= 0 && k < _LEVER_MAX ? lever_names[k] : NULL;
}

LeverKey lever_key_from_string(const char *s) {
        for (int i = 0; i < _LEVER_MAX; i++)
                if (streq(s, lever_names[i]))
                        return (LeverKey) i;
        return _LEVER_INVALID;
}

bool lever_is_thread_lever(LeverKey k) {
        return k == LEVER_NICE || k == LEVER_RT || k == LEVER_CPUS;
}

static CgroupKnob lever_to_knob(LeverKey k) {
        switch (k) {
        case LEVER_WEIGHT: return CGROUP_KNOB_WEIGHT;
        case LEVER_CAP: return CGROUP_KNOB_CAP;
        case LEVER_MEMS: return CGROUP_KNOB_MEMS;
        case LEVER_MEMORY: return CGROUP_KNOB_MEMORY_MAX;
        case LEVER_IOWEIGHT: return CGROUP_KNOB_IO_WEIGHT;
        default: return _CGROUP_KNOB_INVALID;
        }
}

int thread_mask_from_string(const char *s, unsigned *ret) {
        unsigned mask = 0;
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (streq(tok, "all")) {
                        mask |= THREAD_MASK_ALL;
                        continue;
                }
                ThreadClass c = thread_class_from_string(tok);
                if (c < 0)
                        return -EINVAL;
                mask |= 1u << c;
        }
        if (!mask)
                return -EINVAL;
        *ret = mask;
        return 0;
}

int lever_setting_parse(const char *kv, LeverSetting *ret, const char **ret_reason) {
        LeverSetting s = {};
        const char *eq = strchr(kv, '=');
        char key[32];
        *ret_reason = "expected KEY=VALUE";
        if (!eq || eq == kv || (size_t) (eq - kv) >= sizeof key)
                return -EINVAL;
        memcpy(key, kv, (size_t) (eq - kv));
        key[eq - kv] = 0;
        const char *v = eq + 1;
        s.key = lever_key_from_string(key);
        if (s.key < 0) {
                *ret_reason = "unknown key (known: nice, rt, cpus, weight, cap, mems, memory, ioweight)";
                return -EINVAL;
        }
        snprintf(s.value, sizeof s.value, "%s", v);

        switch (s.key) {
        case LEVER_NICE:
                *ret_reason = "must be an integer from -20 to 19";
                if (safe_atoi(v, &s.v.nice) < 0 || s.v.nice < -20 || s.v.nice > 19)
                        return -EINVAL;
                break;
        case LEVER_RT: {
                *ret_reason = "must be fifo:N, rr:N (N from 1 to 99) or off";
                if (streq(v, "off")) {
                        s.v.rt.policy = SCHED_OTHER;
                        break;
                }
                const char *colon = strchr(v, ':');
                if (!colon)
                        return -EINVAL;
                if (strneq(v, "fifo:", 5))
                        s.v.rt.policy = SCHED_FIFO;
                else if (strneq(v, "rr:", 3))
                        s.v.rt.policy = SCHED_RR;
                else
                        return -EINVAL;
                if (safe_atoi(colon + 1, &s.v.rt.priority) < 0 || s.v.rt.priority < 1 || s.v.rt.priority > 99)
                        return -EINVAL;
                break;
        }
        case LEVER_CPUS:
        case LEVER_MEMS:
                *ret_reason = "must be a non-empty list like 0-3,8";
                if (cpuset_parse(v, &s.v.cpus) < 0 || cpuset_count(&s.v.cpus) == 0)
                        return -EINVAL;
                break;
        case LEVER_WEIGHT:
        case LEVER_IOWEIGHT:
                *ret_reason = "must be an integer from 1 to 10000 (default 100)";
                if (safe_atou(v, &s.v.weight) < 0 || s.v.weight < CGROUP_WEIGHT_MIN || s.v.weight > CGROUP_WEIGHT_MAX)
                        return -EINVAL;
                break;
        case LEVER_CAP:
                *ret_reason = "must be a percentage of one CPU above 0 (e.g. 25, 150), or 0/none for no cap";
                if (streq(v, "none") || streq(v, "off")) {
                        s.v.cap = 0;
                        break;
                }
                if (safe_atod(v, &s.v.cap) < 0 || !isfinite(s.v.cap) || s.v.cap < 0 || s.v.cap > 100.0 * 4096)
                        return -EINVAL;
                if (s.v.cap > 0 && s.v.cap < 1) {
                        *ret_reason = "below 1 %, the smallest cap (the kernel's 1 ms quota per 100 ms period)";
                        return -EINVAL;
                }
                break;
        case LEVER_MEMORY:
                *ret_reason = "must be a size like 512M or 2G, or max";
                if (streq(v, "max"))
                        s.v.bytes = UINT64_MAX;
                else if (parse_size(v, &s.v.bytes) < 0 || s.v.bytes < 4096)
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }
        *ret_reason = NULL;
        *ret = s;
        return 0;
}

void lever_context_done(LeverContext *c) {
        free(c->notes);
        c->notes = NULL;
        free(c->failed);
        c->failed = NULL;
}

static void note(LeverContext *c, const char *fmt, ...) _printf_(2, 3);
static void note(LeverContext *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *line = NULL;
        int k = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        char *n = NULL;
        if (asprintf(&n, "%s%s\n", c->notes ? c->notes : "", line) >= 0) {
                free(c->notes);
                c->notes = n;
        }
        free(line);
}

static int fail(LeverContext *c, const LeverSetting *s, int r, const char *fmt, ...) _printf_(4, 5);
static int fail(LeverContext *c, const LeverSetting *s, int r, const char *fmt, ...) {
        char why[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        if (s)
                snprintf(c->error, sizeof c->error, "%s=%s: %s", lever_key_to_string(s->key), s->value, why);
        else
                snprintf(c->error, sizeof c->error, "%s", why);
        return r < 0 ? r : -EINVAL;
}

static const char *errno_reason(int r) {
        switch (-r) {
        case EPERM:
        case EACCES: return "insufficient privilege (run as root)";
        case EROFS:
        case ENOENT:
        case EOPNOTSUPP: return "not supported here";
        case ESRCH: return "the thread or process is gone";
        case EINVAL: return "the kernel rejected the value";
        case EBUSY: return "busy (the kernel refused while tasks depend on the old value)";
        default: return strerror(-r);
        }
}

/* ---- entries: what was there before, and how to put it back ---- */

static const char *current_owner = "cli";

/* A journal key, built whole: keys name what they restore (a cgroup path
 * has no length limit worth trusting), and a truncated key would make two
 * objects collide into one entry, the second original never recorded.
 * NULL only when out of memory. */
static char *key_new(const char *fmt, ...) _printf_(1, 2);
static char *key_new(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *key = NULL;
        int k = vasprintf(&key, fmt, ap);
        va_end(ap);
        return k < 0 ? NULL : key;
}

static json_object *entry_new(const char *type, const char *key, const Domain *d) {
        if (!key)
                return NULL;
        /* Each owner keeps its own original: a value the operator set by
         * hand and the daemon then changed goes back to the operator's
         * value when the daemon exits, and to the first original on reset. */
        _cleanup_free_ char *owned = streq(current_owner, "cli") ? strdup(key) : key_new("%s:%s", current_owner, key);
        json_object *e = owned ? json_object_new_object() : NULL;
        if (!e)
                return NULL;
        json_object_object_add(e, "key", json_object_new_string(owned));
        json_object_object_add(e, "type", json_object_new_string(type));
        json_object_object_add(e, "domain", json_object_new_string(d->name));
        json_object_object_add(e, "owner", json_object_new_string(current_owner));
        return e;
}

static json_object *thread_entry(const Domain *d, pid_t tid, const ThreadSched *ts) {
        _cleanup_free_ char *key = key_new("thread:%d:%llu", (int) tid, (unsigned long long) ts->start_time);
        json_object *e = entry_new("thread", key, d);
        if (!e)
                return NULL;
        _cleanup_free_ char *aff = cpuset_format(&ts->affinity);
        json_object_object_add(e, "tid", json_object_new_int(tid));
        json_object_object_add(e, "start_time", json_object_new_int64((int64_t) ts->start_time));
        json_object_object_add(e, "nice", json_object_new_int(ts->nice));
        json_object_object_add(e, "policy", json_object_new_string(sched_policy_to_string(ts->policy)));
        json_object_object_add(e, "rt_priority", json_object_new_int(ts->rt_priority));
        json_object_object_add(e, "affinity", json_object_new_string(aff ? aff : ""));
        return e;
}

static int restore_thread(json_object *e) {
        ThreadSched ts = {};
        pid_t tid = (pid_t) journal_field_int(e, "tid", 0);
        const char *pol = journal_field_str(e, "policy"), *aff = journal_field_str(e, "affinity");
        ts.nice = (int) journal_field_int(e, "nice", 0);
        ts.rt_priority = (int) journal_field_int(e, "rt_priority", 0);
        ts.start_time = (uint64_t) journal_field_int(e, "start_time", 0);
        ts.policy = pol ? sched_policy_from_string(pol) : -EINVAL;
        if (tid <= 0 || ts.policy < 0 || !aff || cpuset_parse(aff, &ts.affinity) < 0)
                return -EBADMSG;
        return thread_sched_restore(tid, &ts);
}

static int restore_cgroup(json_object *e) {
        const char *root = journal_field_str(e, "root"), *cg = journal_field_str(e, "cgroup"), *knob = journal_field_str(e, "knob"),
                   *saved = journal_field_str(e, "saved");
        if (!root || !cg || !knob || !saved || cgroup_knob_from_string(knob) < 0)
                return -EBADMSG;
        CgroupHost *h = NULL;
        int r = cgroup_host_open(root, &h);
        if (r < 0)
                return r;
        r = cgroup_knob_restore(h, cg, cgroup_knob_from_string(knob), saved);
        cgroup_host_free(h);
        return r;
}

static int restore_move(json_object *e) {
        const char *root = journal_field_str(e, "root"), *saved = journal_field_str(e, "saved"), *created = journal_field_str(e, "created");
        pid_t pid = (pid_t) journal_field_int(e, "pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "start_time", 0);
        if (!root || !saved || !created || pid <= 0)
                return -EBADMSG;
        CgroupHost *h = NULL;
        int r = cgroup_host_open(root, &h);
        if (r < 0)
                return r;
        ThreadSched ts;
        if (thread_sched_get(pid, &ts) >= 0 && ts.start_time == start)
                r = cgroup_attach_pid_saved(h, pid, saved);
        else
                r = 0; /* the process is gone: nothing to move back */
        if (r >= 0) {
                int k = cgroup_remove(h, created);
                if (k < 0 && k != -EBUSY && k != -ENOENT)
                        r = k;
        }
        cgroup_host_free(h);
        return r;
}

static int restore_rt_budget(json_object *e) {
        const char *root = journal_field_str(e, "root"), *saved = journal_field_str(e, "saved");
        if (!root || !saved)
                return -EBADMSG;
        CgroupHost *h = NULL;
        int r = cgroup_host_open(root, &h);
        if (r < 0)
                return r;
        r = cgroup_rt_runtime_restore(h, saved);
        cgroup_host_free(h);
        return r;
}

/* "/autogroup-12 nice 0" -> id 12, nice 0 */
static int read_autogroup(const char *proc_root, pid_t pid, long *ret_id, int *ret_nice) {
        char path[128];
        snprintf(path, sizeof path, "%s/%d/autogroup", proc_root, (int) pid);
        _cleanup_free_ char *line = NULL;
        int r = read_one_line(path, &line);
        if (r < 0)
                return r;
        long id;
        int nice;
        if (sscanf(line, "/autogroup-%ld nice %d", &id, &nice) != 2)
                return -EBADMSG;
        *ret_id = id;
        *ret_nice = nice;
        return 0;
}

static int write_autogroup(const char *proc_root, pid_t pid, int nice) {
        char path[128], v[16];
        snprintf(path, sizeof path, "%s/%d/autogroup", proc_root, (int) pid);
        snprintf(v, sizeof v, "%d", nice);
        return write_string_file(path, v);
}

static int restore_autogroup(const HvOptions *o, json_object *e) {
        pid_t pid = (pid_t) journal_field_int(e, "pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "start_time", 0);
        ThreadSched ts;
        if (pid <= 0)
                return -EBADMSG;
        int r = thread_sched_get(pid, &ts);
        if (r < 0)
                return r;
        if (ts.start_time != start)
                return -ESTALE;
        return write_autogroup(o->proc_root, pid, (int) journal_field_int(e, "nice", 0));
}

static int restore_hv(const HvOptions *o, json_object *e) {
        const char *backend = journal_field_str(e, "backend"), *lever = journal_field_str(e, "lever"), *saved = journal_field_str(e, "saved");
        const HvBackend *b = backend ? hv_backend_by_name(backend) : NULL;
        if (!b || !b->lever_restore || !lever || !saved)
                return -EBADMSG;
        HvOptions opts = *o;
        opts.libvirt_uri = journal_field_str(e, "uri");
        _cleanup_(domain_freep) Domain *d = domain_new(journal_field_str(e, "domain") ?: "", backend);
        if (!d)
                return -ENOMEM;
        if (journal_field_str(e, "uuid"))
                d->uuid = strdup(journal_field_str(e, "uuid"));
        return b->lever_restore(&opts, d, lever, saved);
}

/* What restore_entry() answers for an entry type the lever layer does not
 * own (guest-stop, ...): lever_reset() leaves such entries to their owner. */
#define RESTORE_NOT_OURS (-EMEDIUMTYPE)

/* Restore one entry.  A new type owned here gets its line below; its
 * restore function must answer -EBADMSG, and act on nothing, for an entry
 * that has no fields but "type" (entry_ours() probes with one). */
static int restore_entry(const HvOptions *o, json_object *e) {
        const char *type = journal_field_str(e, "type");
        if (!type)
                return -EBADMSG;
        if (streq(type, "thread"))
                return restore_thread(e);
        if (streq(type, "cgroup"))
                return restore_cgroup(e);
        if (streq(type, "move"))
                return restore_move(e);
        if (streq(type, "hv"))
                return restore_hv(o, e);
        if (streq(type, "rtbudget"))
                return restore_rt_budget(e);
        if (streq(type, "autogroup"))
                return restore_autogroup(o, e);
        if (streq(type, "pause"))
                return vm_pause_undo(e);   /* a VM xvsched paused: cont over QMP if it is the same QEMU */
        return RESTORE_NOT_OURS;
}

/* Does the lever layer restore entries of e's type?  Probed without acting:
 * an entry of that type with no fields is answered -EBADMSG. */
static bool entry_ours(const HvOptions *o, json_object *e) {
        const char *type = journal_field_str(e, "type");
        if (!type)
                return true;   /* malformed: ours to report */
        json_object *probe = json_object_new_object();
        if (!probe)
                return true;
        json_object_object_add(probe, "type", json_object_new_string(type));
        int r = restore_entry(o, probe);
        json_object_put(probe);
        return r != RESTORE_NOT_OURS;
}

/* Gone objects are restored by definition. */
static bool restore_gone(int r) {
        return r == -ESRCH || r == -ESTALE || r == -ENOENT;
}

/* ---- one apply transaction ---- */

typedef struct Txn {
        json_object *before;   /* array: state before this call, newest last */
        json_object *created;  /* array of journal keys this call added */
} Txn;

/* Record `e` (consumed) as the original in the journal, and a copy as this
 * call's "before" state. */
static int txn_record(LeverContext *c, Txn *t, json_object *e) {
        if (c->dry_run) {
                json_object_put(e);
                return 0;
        }
        const char *key = journal_field_str(e, "key");
        json_object_array_add(t->before, json_object_get(e));
        _cleanup_free_ char *k = strdup(key);
        int r = journal_record(c->journal, e);
        if (r < 0) {
                json_object_array_del_idx(t->before, json_object_array_length(t->before) - 1, 1);
                return r;
        }
        if (r > 0 && k)
                json_object_array_add(t->created, json_object_new_string(k));
        return 0;
}

static void txn_rollback(LeverContext *c, Txn *t) {
        for (size_t i = json_object_array_length(t->before); i > 0; i--) {
                json_object *e = json_object_array_get_idx(t->before, i - 1);
                int r = restore_entry(c->hv, e);
                if (r < 0 && !restore_gone(r))
                        log_warning_errno(r, "could not roll back %s: %m", journal_field_str(e, "key"));
        }
        for (size_t i = 0; i < json_object_array_length(t->created); i++)
                (void) journal_remove(c->journal, json_object_get_string(json_object_array_get_idx(t->created, i)));
}

/* Through the hypervisor's own API: -EOPNOTSUPP (and nothing recorded) when
 * the backend has no such lever, so the caller takes the direct path. */
static int apply_via_backend_lever(LeverContext *c, Txn *t, Domain *d, const LeverSetting *s, const char *lever,
                                   const char *value) {
        const HvBackend *b = hv_backend_by_name(d->backend);
        if (!b || !b->lever_set || !b->lever_save)
                return -EOPNOTSUPP;
        _cleanup_free_ char *saved = NULL;
        int r = b->lever_save(c->hv, d, lever, &saved);
        if (r < 0)
                return r == -EOPNOTSUPP ? r : fail(c, s, r, "%s: cannot read the current value: %s", b->name, errno_reason(r));
        _cleanup_free_ char *key = key_new("hv:%s:%s:%s", b->name, d->uuid ? d->uuid : d->name, lever);
        json_object *e = entry_new("hv", key, d);
        if (!e)
                return -ENOMEM;
        json_object_object_add(e, "backend", json_object_new_string(b->name));
        if (c->hv->libvirt_uri)
                json_object_object_add(e, "uri", json_object_new_string(c->hv->libvirt_uri));
        if (d->uuid)
                json_object_object_add(e, "uuid", json_object_new_string(d->uuid));
        json_object_object_add(e, "lever", json_object_new_string(lever));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        r = txn_record(c, t, e);
        if (r < 0)
                return fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
        if (c->dry_run) {
                note(c, "%s=%s: would use %s's API (%s)", lever_key_to_string(s->key), s->value, b->name, lever);
                return 0;
        }
        r = b->lever_set(c->hv, d, lever, value);
        if (r == -EOPNOTSUPP) {
                /* Nothing changed: forget the record so the direct path records its own. */
                size_t nb = json_object_array_length(t->before), nc = json_object_array_length(t->created);
                _cleanup_free_ char *recorded = nb > 0 ? strdup(journal_field_str(json_object_array_get_idx(t->before, nb - 1), "key") ?: "")
                                                       : NULL;
                if (nb > 0)
                        json_object_array_del_idx(t->before, nb - 1, 1);
                if (recorded && nc > 0 && streq(json_object_get_string(json_object_array_get_idx(t->created, nc - 1)), recorded)) {
                        (void) journal_remove(c->journal, recorded);
                        json_object_array_del_idx(t->created, nc - 1, 1);
                }
                return -EOPNOTSUPP;
        }
        if (r < 0)
                return fail(c, s, r, "%s refused it: %s", b->name, errno_reason(r));
        note(c, "%s=%s: via %s's API (%s)", lever_key_to_string(s->key), s->value, b->name, lever);
        return 0;
}

static int apply_via_backend(LeverContext *c, Txn *t, Domain *d, const LeverSetting *s) {
        char value[64];
        switch (s->key) {
        case LEVER_MEMS:
                return -EOPNOTSUPP; /* libvirt's numatune cannot always change live: write cpuset.mems */
        case LEVER_CAP: snprintf(value, sizeof value, "%g", s->v.cap); break;
        case LEVER_MEMORY: snprintf(value, sizeof value, "%llu", (unsigned long long) s->v.bytes); break;
        default: snprintf(value, sizeof value, "%u", s->v.weight); break;
        }
        return apply_via_backend_lever(c, t, d, s, lever_key_to_string(s->key), value);
}

/* A thread must leave RT before its group's budget goes back (the kernel
 * answers EBUSY otherwise), and entries are restored newest first: when a
 * selected thread's original was recorded before its group's budget (a
 * cpus= set earlier), make that entry newer than the budget's. */
static int rt_threads_after_budgets(LeverContext *c, const Domain *d, const LeverSetting *s) {
        size_t n = journal_size(c->journal), n_keys = 0;
        _cleanup_free_ char **keys = calloc(n ? n : 1, sizeof *keys);
        if (!keys)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                json_object *e = journal_entry(c->journal, k);
                const char *type = journal_field_str(e, "type"), *key = journal_field_str(e, "key");
                pid_t tid = (pid_t) journal_field_int(e, "tid", 0);
                if (!type || !streq(type, "thread") || !key)
                        continue;
                for (size_t i = 0; i < d->n_threads; i++)
                        if (d->threads[i].tid == tid && (c->thread_mask & (1u << d->threads[i].class))) {
                                keys[n_keys++] = strdup(key); /* NULL: reported below */
                                break;
                        }
        }
        int r = 0;
        for (size_t k = 0; k < n_keys; k++) {
                int q = keys[k] ? journal_move_last(c->journal, keys[k]) : -ENOMEM;
                if (q < 0 && r >= 0)
                        r = fail(c, s, q, "cannot record the order of restores in the state file: %s", strerror(-q));
        }
        for (size_t k = 0; k < n_keys; k++)
                free(keys[k]);
        return r;
}

/* With CONFIG_RT_GROUP_SCHED (v1), a thread in a group whose RT budget is 0
 * cannot become FIFO/RR.  Give each group of the selected threads a budget,
 * recorded first so that it is restored after the threads left RT.  RT
 * throttling stays on: the budget is a share of the global one, never all. */
static int ensure_rt_budgets(LeverContext *c, Txn *t, Domain *d, const LeverSetting *s) {
        CgroupHost *h = NULL;
        if (cgroup_host_open(c->hv->cgroup_root, &h) < 0)
                return 0; /* no cgroups: nothing stands in the way */
        int r = 0;
        char **done = NULL;
        size_t n_done = 0;
        for (size_t i = 0; r >= 0 && i < d->n_threads; i++) {
                if (!(c->thread_mask & (1u << d->threads[i].class)))
                        continue;
                _cleanup_free_ char *cg = NULL, *saved = NULL;
                if (cgroup_pid_path(h, c->hv->proc_root, d->threads[i].tid, &cg) < 0 || streq(cg, "/"))
                        continue;
                bool seen = false;
                for (size_t k = 0; k < n_done; k++)
                        seen |= streq(done[k], cg);
                if (seen)
                        continue;
                r = cgroup_rt_runtime_save(h, cg, &saved);
                if (r == -EOPNOTSUPP || r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0) {
                        r = fail(c, s, r, "cannot read the RT budget of %s: %s", cg, errno_reason(r));
                        break;
                }
                _cleanup_free_ char *key = key_new("rtbudget:%s:%s", cgroup_host_root(h), cg);
                json_object *e = entry_new("rtbudget", key, d);
                if (!e) {
                        r = -ENOMEM;
                        break;
                }
                json_object_object_add(e, "root", json_object_new_string(cgroup_host_root(h)));
                json_object_object_add(e, "cgroup", json_object_new_string(cg));
                json_object_object_add(e, "saved", json_object_new_string(saved));
                r = txn_record(c, t, e);
                if (r < 0) {
                        r = fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
                        break;
                }
                if (!c->dry_run) {
                        /* Ask for half of each period; settle for less when
                         * siblings already hold the rest. */
                        uint64_t us = 500000;
                        for (r = cgroup_ensure_rt_runtime(h, cg, us); r == -EBUSY && us > 50000;
                             r = cgroup_ensure_rt_runtime(h, cg, us))
                                us /= 2;
                        if (r < 0) {
                                r = fail(c, s, r, "cannot give cgroup %s an RT budget: %s", cg, errno_reason(r));
                                break;
                        }
                        if (r > 0)
                                note(c, "rt: cgroup %s gets an RT budget of %llu us per period", cg, (unsigned long long) us);
                }
                char **nd = realloc(done, (n_done + 1) * sizeof *nd);
                if (!nd) {
                        r = -ENOMEM;
                        break;
                }
                done = nd;
                done[n_done++] = TAKE_PTR(cg);
                r = 0;
        }
        if (r >= 0 && n_done > 0 && !c->dry_run)
                r = rt_threads_after_budgets(c, d, s);
        for (size_t k = 0; k < n_done; k++)
                free(done[k]);
        free(done);
        cgroup_host_free(h);
        return r;
}

/* With CONFIG_SCHED_AUTOGROUP on, the kernel first shares the CPU between
 * sessions ("autogroups") of tasks in the root cgroup, and nice only ranks
 * threads inside one: a daemonized QEMU is a session of its own, so a nice
 * on its threads alone does nothing against another VM.  Give the session
 * the same nice too — when the session holds only this domain. */
static int apply_autogroup_nice(LeverContext *c, Txn *t, Domain *d, const LeverSetting *s) {
        _cleanup_free_ char *enabled = NULL;
        if (read_one_line("/proc/sys/kernel/sched_autogroup_enabled", &enabled) < 0 || !streq(enabled, "1"))
                return 0;
        size_t n = d->n_pids ? d->n_pids : (d->pid > 0 ? 1 : 0);
        for (size_t i = 0; i < n; i++) {
                pid_t pid = d->n_pids ? d->pids[i] : d->pid;
                long id;
                int old;
                if (read_autogroup(c->hv->proc_root, pid, &id, &old) < 0)
                        continue;
                /* Autogroups only apply in the root cpu cgroup. */
                CgroupHost *h = NULL;
                _cleanup_free_ char *cg = NULL;
                if (cgroup_host_open(c->hv->cgroup_root, &h) >= 0) {
                        (void) cgroup_pid_path(h, c->hv->proc_root, pid, &cg);
                        cgroup_host_free(h);
                }
                if (cg && !streq(cg, "/"))
                        continue;
                /* Shared with processes outside the domain? */
                bool shared = false;
                DIR *dir = opendir(c->hv->proc_root);
                struct dirent *de;
                while (dir && !shared && (de = readdir(dir))) {
                        int other;
                        long oid;
                        int onice;
                        if (safe_atoi(de->d_name, &other) < 0 || other == pid)
                                continue;
                        if (read_autogroup(c->hv->proc_root, other, &oid, &onice) < 0 || oid != id)
                                continue;
                        bool ours = other == d->pid;
                        for (size_t k = 0; k < d->n_pids; k++)
                                ours |= d->pids[k] == other;
                        shared = !ours;
                }
                if (dir)
                        closedir(dir);
                if (shared) {
                        note(c, "warning: pid %d shares its autogroup (session) with other processes: nice only ranks "
                                "threads inside it", (int) pid);
                        continue;
                }
                ThreadSched ts;
                if (thread_sched_get(pid, &ts) < 0)
                        continue;
                _cleanup_free_ char *key = key_new("autogroup:%d:%llu", (int) pid, (unsigned long long) ts.start_time);
                json_object *e = entry_new("autogroup", key, d);
                if (!e)
                        return -ENOMEM;
                json_object_object_add(e, "pid", json_object_new_int(pid));
                json_object_object_add(e, "start_time", json_object_new_int64((int64_t) ts.start_time));
                json_object_object_add(e, "nice", json_object_new_int(old));
                int r = txn_record(c, t, e);
                if (r < 0)
                        return fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
                if (c->dry_run)
                        continue;
                r = write_autogroup(c->hv->proc_root, pid, s->v.nice);
                if (r < 0)
                        return fail(c, s, r, "autogroup of pid %d: %s", (int) pid, errno_reason(r));
                note(c, "nice=%s: also the autogroup (session) of pid %d, /autogroup-%ld", s->value, (int) pid, id);
        }
        return 0;
}

static int apply_thread_lever(LeverContext *c, Txn *t, Domain *d, const LeverSetting *s) {
        size_t n = 0, n_direct = 0;
        unsigned handled = 0; /* classes the hypervisor's API took care of */
        if (s->key == LEVER_RT && s->v.rt.policy != SCHED_OTHER) {
                int r = ensure_rt_budgets(c, t, d, s);
                if (r < 0)
                        return r;
        }
        if (s->key == LEVER_CPUS) {
                /* libvirt pins vCPUs and the emulator itself (vcpupin,
                 * emulatorpin), keeping its cgroups' cpusets in step. */
                _cleanup_free_ char *list = cpuset_format(&s->v.cpus);
                static const struct { ThreadClass class; const char *lever; } pins[] = {
                        { THREAD_VCPU, "cpus.vcpu" },
                        { THREAD_EMULATOR, "cpus.emulator" },
                };
                for (size_t i = 0; list && i < ELEMENTSOF(pins); i++) {
                        if (!(c->thread_mask & (1u << pins[i].class)) || domain_count_class(d, pins[i].class) == 0)
                                continue;
                        int r = apply_via_backend_lever(c, t, d, s, pins[i].lever, list);
                        if (r == -EOPNOTSUPP)
                                continue;
                        if (r < 0)
                                return r;
                        handled |= 1u << pins[i].class;
                        n += domain_count_class(d, pins[i].class);
                }
        }
        for (size_t i = 0; i < d->n_threads; i++) {
                DomainThread *th = &d->threads[i];
                if (!(c->thread_mask & (1u << th->class)) || (handled & (1u << th->class)))
                        continue;
                ThreadSched ts;
                int r = thread_sched_get(th->tid, &ts);
                if (r == -ESRCH || r == -ENOENT)
                        continue; /* exited since discovery */
                if (r < 0)
                        return fail(c, s, r, "thread %d: %s", (int) th->tid, errno_reason(r));
                json_object *e = thread_entry(d, th->tid, &ts);
                if (!e)
                        return -ENOMEM;
                r = txn_record(c, t, e);
                if (r < 0)
                        return fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
                if (c->dry_run) {
                        n++, n_direct++;
                        continue;
                }
                switch (s->key) {
                case LEVER_NICE:
                        r = thread_set_nice(th->tid, s->v.nice);
                        break;
                case LEVER_RT:
                        r = thread_set_policy(th->tid, s->v.rt.policy, s->v.rt.priority);
                        break;
                case LEVER_CPUS:
                        r = thread_set_affinity(th->tid, &s->v.cpus);
                        break;
                default:
                        r = -EINVAL;
                }
                if (r == -ESRCH)
                        continue;
                if (r < 0)
                        return fail(c, s, r, "thread %d (%s): %s", (int) th->tid, th->comm, errno_reason(r));
                n++, n_direct++;
        }
        if (n == 0) {
                char classes[64] = "";
                for (int k = 0; k < _THREAD_CLASS_MAX; k++)
                        if (c->thread_mask & (1u << k))
                                snprintf(classes + strlen(classes), sizeof classes - strlen(classes), "%s%s",
                                         classes[0] ? "," : "", thread_class_to_string((ThreadClass) k));
                return fail(c, s, -ENOENT, "domain '%s' has no %s threads on this host", d->name, classes);
        }
        if (n_direct > 0)
                note(c, "%s=%s: %zu thread(s) via sched syscalls", lever_key_to_string(s->key), s->value, n_direct);
        if (s->key == LEVER_NICE)
                return apply_autogroup_nice(c, t, d, s);
        return 0;
}

static void sanitize_name(const char *in, char *out, size_t size) {
        size_t i = 0;
        for (; in[i] && i + 1 < size; i++)
                out[i] = (strchr("._-", in[i]) || (in[i] >= '0' && in[i] <= '9') || ((in[i] | 0x20) >= 'a' && (in[i] | 0x20) <= 'z'))
                                 ? in[i]
                                 : '_';
        out[i] = 0;
}

/* Does cgroup `cg` hold processes that are not the domain's?  Then changing
 * its knobs would change them too. */
static bool cgroup_shared(const CgroupHost *h, const char *cg, const Domain *d) {
        if (!cg || streq(cg, "/"))
                return true;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        if (cgroup_host_procs_path(h, cg, &path) < 0)
                return true;
        if (read_full_file(path, 16 << 20, &buf, NULL) < 0)
                return false; /* libvirt's domain group holds no processes itself, its children do */
        for (char *save = NULL, *tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
                int pid;
                if (safe_atoi(tok, &pid) < 0)
                        continue;
                bool ours = pid == d->pid;
                for (size_t i = 0; i < d->n_pids; i++)
                        ours |= d->pids[i] == pid;
                if (!ours)
                        return true;
        }
        return false;
}

/* Make sure the domain has a cgroup of its own; create /xvsched-NAME and
 * move its processes there when it does not. */
static int ensure_own_cgroup(LeverContext *c, Txn *t, Domain *d, const CgroupHost *h, const LeverSetting *s) {
        if (!cgroup_shared(h, d->cgroup, d))
                return 0;
        if (d->pid <= 0)
                return fail(c, s, -ESRCH, "domain '%s' has no process on this host", d->name);
        char name[200], cg[256];
        sanitize_name(d->name, name, sizeof name);
        /* At the top level, beside the host's own tasks: a parent group of
         * ours would cap all domains together at one parent's weight. */
        /* (Where systemd owns the tree: a transient scope in xvsched.slice.) */
        _cleanup_free_ char *own = NULL;
        if (cgroup_own_group_path(h, name, &own) < 0)
                return -ENOMEM;
        snprintf(cg, sizeof cg, "%s", own);
        if (c->dry_run) {
                note(c, "would create cgroup %s and move domain '%s' into it", cg, d->name);
                return 0;
        }
        int r = cgroup_create(h, cg);
        if (r < 0)
                return fail(c, s, r, "cannot create cgroup %s: %s", cg, errno_reason(r));

        _cleanup_free_ struct { pid_t tid; CpuSet set; } *affinity = calloc(d->n_threads ? d->n_threads : 1, sizeof *affinity);
        size_t n_aff = 0;
        if (!affinity)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (thread_sched_get(d->threads[i].tid, &ts) >= 0) {
                        affinity[n_aff].tid = d->threads[i].tid;
                        affinity[n_aff++].set = ts.affinity;
                }
        }

        size_t n = d->n_pids ? d->n_pids : 1;
        for (size_t i = 0; i < n; i++) {
                pid_t pid = d->n_pids ? d->pids[i] : d->pid;
                ThreadSched ts;
                _cleanup_free_ char *saved = NULL;
                r = thread_sched_get(pid, &ts);
                if (r >= 0)
                        r = cgroup_pid_save_paths(h, c->hv->proc_root, pid, &saved);
                if (r == -ESRCH || r == -ENOENT)
                        continue;
                if (r < 0)
                        return fail(c, s, r, "cannot read the cgroups of pid %d: %s", (int) pid, errno_reason(r));
                _cleanup_free_ char *key = key_new("move:%d:%llu", (int) pid, (unsigned long long) ts.start_time);
                json_object *e = entry_new("move", key, d);
                if (!e)
                        return -ENOMEM;
                json_object_object_add(e, "root", json_object_new_string(cgroup_host_root(h)));
                json_object_object_add(e, "pid", json_object_new_int(pid));
                json_object_object_add(e, "start_time", json_object_new_int64((int64_t) ts.start_time));
                json_object_object_add(e, "saved", json_object_new_string(saved));
                json_object_object_add(e, "created", json_object_new_string(cg));
                r = txn_record(c, t, e);
                if (r < 0)
                        return fail(c, s, r, "cannot record the original cgroups in the state file: %s", strerror(-r));
                r = cgroup_attach_pid(h, cg, pid);
                if (r < 0)
                        return fail(c, s, r, "cannot move pid %d into %s: %s", (int) pid, cg, errno_reason(r));
        }
        /* Joining a v1 cpuset group resets every thread's affinity to the
         * group's CPUs: put back what the threads had, so the move itself
         * changes nothing but the group. */
        for (size_t i = 0; i < n_aff; i++)
                (void) thread_set_affinity(affinity[i].tid, &affinity[i].set);
        free(d->cgroup);
        d->cgroup = strdup(cg);
        note(c, "domain '%s' had no cgroup of its own: moved into %s", d->name, cg);
        return d->cgroup ? 0 : -ENOMEM;
}

static int cgroup_set_typed(const CgroupHost *h, const char *cg, const LeverSetting *s) {
        switch (s->key) {
        case LEVER_WEIGHT: return cgroup_set_weight(h, cg, s->v.weight);
        case LEVER_CAP: return cgroup_set_cap(h, cg, s->v.cap);
        case LEVER_MEMS: return cgroup_set_mems(h, cg, &s->v.cpus);
        case LEVER_MEMORY: return cgroup_set_memory_max(h, cg, s->v.bytes);
        case LEVER_IOWEIGHT: return cgroup_set_io_weight(h, cg, s->v.weight);
        default: return -EINVAL;
        }
}

static int apply_group_lever(LeverContext *c, Txn *t, Domain *d, const CgroupHost *h, const LeverSetting *s) {
        int r = apply_via_backend(c, t, d, s);
        if (r != -EOPNOTSUPP)
                return r;

        r = ensure_own_cgroup(c, t, d, h, s);
        if (r < 0)
                return r;
        CgroupKnob k = lever_to_knob(s->key);
        if (c->dry_run) {
                note(c, "%s=%s: would write cgroup %s", lever_key_to_string(s->key), s->value, d->cgroup ? d->cgroup : "(new)");
                return 0;
        }
        _cleanup_free_ char *saved = NULL, *file = NULL;
        r = cgroup_knob_save(h, d->cgroup, k, &saved);
        if (r < 0)
                return fail(c, s, r, "cgroup %s: %s", d->cgroup, errno_reason(r));
        (void) cgroup_knob_path(h, d->cgroup, k, &file);
        _cleanup_free_ char *key = key_new("cgroup:%s:%s:%s", cgroup_host_root(h), d->cgroup, cgroup_knob_to_string(k));
        json_object *e = entry_new("cgroup", key, d);
        if (!e)
                return -ENOMEM;
        json_object_object_add(e, "root", json_object_new_string(cgroup_host_root(h)));
        json_object_object_add(e, "cgroup", json_object_new_string(d->cgroup));
        json_object_object_add(e, "knob", json_object_new_string(cgroup_knob_to_string(k)));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        r = txn_record(c, t, e);
        if (r < 0)
                return fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
        r = cgroup_set_typed(h, d->cgroup, s);
        if (r < 0)
                return fail(c, s, r, "%s: %s", file ? file : d->cgroup, errno_reason(r));
        note(c, "%s=%s: cgroup v%d %s", lever_key_to_string(s->key), s->value, (int) cgroup_host_version(h),
             file ? file : d->cgroup);
        return 0;
}

static int online_cpus(CpuSet *ret) {
        _cleanup_free_ char *line = NULL;
        int r = read_one_line("/sys/devices/system/cpu/online", &line);
        return r < 0 ? r : cpuset_parse(line, ret);
}

static int online_nodes(CpuSet *ret) {
        _cleanup_free_ char *line = NULL;
        int r = read_one_line("/sys/devices/system/node/online", &line);
        if (r == -ENOENT) { /* no NUMA support built in: one node */
                *ret = (CpuSet) {};
                cpuset_set(ret, 0);
                return 0;
        }
        return r < 0 ? r : cpuset_parse(line, ret);
}

static bool cpuset_subset(const CpuSet *a, const CpuSet *b) {
        for (size_t i = 0; i < CPUSET_WORDS; i++)
                if (a->bits[i] & ~b->bits[i])
                        return false;
        return true;
}

int lever_rt_check(int64_t rt_runtime_us, const CpuSet *online, const CpuSet *rt_cpus, const char **ret_reason) {
        if (rt_runtime_us < 0) {
                *ret_reason = "RT throttling is off (kernel.sched_rt_runtime_us = -1): a busy RT thread would starve "
                              "the host";
                return -EPERM;
        }
        if (cpuset_count(rt_cpus) > 0 && cpuset_subset(online, rt_cpus)) {
                *ret_reason = "the RT threads may run on every online CPU, leaving none to the host";
                return -EPERM;
        }
        *ret_reason = NULL;
        return 0;
}

int lever_rt_runtime_read(const char *proc_root, int64_t *ret) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/sys/kernel/sched_rt_runtime_us", proc_root ? proc_root : "/proc") < 0)
                return -ENOMEM;
        /* Missing or unreadable: whether throttling is on cannot be told
         * (the caller refuses unless forced). */
        return read_i64_file(path, ret);
}

static bool policy_is_rt(int policy) {
        return policy == SCHED_FIFO || policy == SCHED_RR;
}

/* Before anything changes: will the RT threads, as they are after this
 * call, leave the host a CPU and RT throttling?  The RT threads are the
 * domain's selected threads that are RT after the call (rt= given, or
 * already RT and cpus= given), on their CPUs after the call, and every
 * other thread xvsched made RT (journal), on its CPUs now. */
static int check_rt(LeverContext *c, const Domain *d, const LeverSetting *settings, size_t n) {
        const LeverSetting *rt = NULL, *cpus = NULL;
        for (size_t i = 0; i < n; i++) {
                if (settings[i].key == LEVER_RT)
                        rt = &settings[i];
                if (settings[i].key == LEVER_CPUS)
                        cpus = &settings[i];
        }
        if (rt && !policy_is_rt(rt->v.rt.policy))
                return 0; /* rt=off: never refused */
        if (!rt && !cpus)
                return 0;
        CpuSet rt_cpus = {};
        bool any = false;
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (!(c->thread_mask & (1u << d->threads[i].class)) || thread_sched_get(d->threads[i].tid, &ts) < 0)
                        continue;
                if (!rt && !policy_is_rt(ts.policy))
                        continue;
                const CpuSet *set = cpus ? &cpus->v.cpus : &ts.affinity;
                for (size_t w = 0; w < CPUSET_WORDS; w++)
                        rt_cpus.bits[w] |= set->bits[w];
                any = true;
        }
        if (!any)
                return 0; /* no thread becomes or stays RT here */
        for (size_t i = 0; c->journal && i < journal_size(c->journal); i++) {
                json_object *e = journal_entry(c->journal, i);
                const char *type = journal_field_str(e, "type");
                pid_t tid = (pid_t) journal_field_int(e, "tid", 0);
                if (!type || !streq(type, "thread") || tid <= 0)
                        continue;
                bool ours = false;
                for (size_t k = 0; k < d->n_threads; k++)
                        ours |= d->threads[k].tid == tid && (c->thread_mask & (1u << d->threads[k].class));
                ThreadSched ts;
                if (ours || thread_sched_get(tid, &ts) < 0 || ts.start_time != (uint64_t) journal_field_int(e, "start_time", 0) ||
                    !policy_is_rt(ts.policy))
                        continue;
                for (size_t w = 0; w < CPUSET_WORDS; w++)
                        rt_cpus.bits[w] |= ts.affinity.bits[w];
        }

        const LeverSetting *s = rt ? rt : cpus;
        const char *how = "pin the RT threads with cpus=LIST leaving a CPU to the host";
        int64_t runtime;
        int r = lever_rt_runtime_read(c->hv ? c->hv->proc_root : NULL, &runtime);
        if (r < 0)
                return c->rt_force ? 0
                                   : fail(c, s, -EPERM, "cannot tell whether RT throttling is on: "
                                                        "kernel.sched_rt_runtime_us cannot be read (%s); refused "
                                                        "(override with --rt-force)",
                                          strerror(-r));
        CpuSet online;
        if (online_cpus(&online) < 0) {
                online = (CpuSet) {};
                for (long k = 0; k < sysconf(_SC_NPROCESSORS_ONLN) && k < CPUSET_WORDS * 64; k++)
                        cpuset_set(&online, (unsigned) k);
        }
        const char *why;
        r = lever_rt_check(runtime, &online, &rt_cpus, &why);
        if (r >= 0)
                return 0;
        if (runtime < 0)
                how = "turn it on: sysctl kernel.sched_rt_runtime_us=950000";
        _cleanup_free_ char *list = cpuset_format(&rt_cpus);
        if (c->rt_force) {
                note(c, "warning: %s=%s: %s (RT CPUs %s); forced (--rt-force / rt_force)", lever_key_to_string(s->key),
                     s->value, why, list ? list : "?");
                return 0;
        }
        return fail(c, s, -EPERM, "%s (RT CPUs %s): refused (%s, or override with --rt-force; rt_force = yes in "
                                  "xvsched.conf)", why, list ? list : "?", how);
}

static void warn_rt(LeverContext *c, Domain *d, const LeverSetting *s) {
        if (s->v.rt.policy != SCHED_FIFO && s->v.rt.policy != SCHED_RR)
                return;
        CpuSet isolated = {};
        _cleanup_free_ char *iso = NULL;
        if (read_one_line("/sys/devices/system/cpu/isolated", &iso) >= 0)
                (void) cpuset_parse(iso, &isolated);
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (!(c->thread_mask & (1u << d->threads[i].class)) || thread_sched_get(d->threads[i].tid, &ts) < 0)
                        continue;
                if (!cpuset_subset(&ts.affinity, &isolated)) {
                        _cleanup_free_ char *list = cpuset_format(&ts.affinity);
                        note(c, "warning: RT threads of '%s' share CPUs %s with host work (not isolated); RT throttling "
                                "keeps a share for others", d->name, list ? list : "?");
                        return;
                }
        }
}

int lever_apply(LeverContext *c, Domain *d, const LeverSetting *settings, size_t n) {
        c->error[0] = 0;
        current_owner = c->owner ? c->owner : "cli";

        /* Validate everything before touching anything. */
        bool seen[_LEVER_MAX] = {};
        bool need_cgroup = false;
        CpuSet online, nodes;
        for (size_t i = 0; i < n; i++) {
                const LeverSetting *s = &settings[i];
                if (seen[s->key])
                        return fail(c, s, -EINVAL, "given more than once");
                seen[s->key] = true;
                if (lever_is_thread_lever(s->key) && d->n_threads == 0)
                        return fail(c, s, -ESRCH, "domain '%s' has no threads on this host%s", d->name,
                                    d->vcpu_source && streq(d->vcpu_source, "remote") ? " (remote URI)" : "");
                if (s->key == LEVER_CPUS && online_cpus(&online) >= 0 && !cpuset_subset(&s->v.cpus, &online)) {
                        _cleanup_free_ char *o = cpuset_format(&online);
                        return fail(c, s, -EINVAL, "not a subset of the online CPUs (%s)", o ? o : "?");
                }
                if (s->key == LEVER_MEMS && online_nodes(&nodes) >= 0 && !cpuset_subset(&s->v.cpus, &nodes)) {
                        _cleanup_free_ char *o = cpuset_format(&nodes);
                        return fail(c, s, -EINVAL, "not a subset of the online memory nodes (%s)", o ? o : "?");
                }
                if (s->key == LEVER_CAP && s->v.cap > 100.0 * (double) sysconf(_SC_NPROCESSORS_ONLN))
                        return fail(c, s, -EINVAL, "more than all %ld CPUs", sysconf(_SC_NPROCESSORS_ONLN));
                need_cgroup |= !lever_is_thread_lever(s->key);
        }

        int rr = check_rt(c, d, settings, n);
        if (rr < 0)
                return rr;

        CgroupHost *h = NULL;
        if (need_cgroup) {
                int r = cgroup_host_open(c->hv->cgroup_root, &h);
                if (r < 0)
                        return fail(c, NULL, r, "cannot open the cgroup hierarchy at %s: %s", c->hv->cgroup_root,
                                    errno_reason(r));
        }

        Txn t = { .before = json_object_new_array(), .created = json_object_new_array() };
        int r = t.before && t.created ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const LeverSetting *s = &settings[i];
                r = lever_is_thread_lever(s->key) ? apply_thread_lever(c, &t, d, s) : apply_group_lever(c, &t, d, h, s);
        }
        for (size_t i = 0; r >= 0 && !c->dry_run && i < n; i++) /* once every lever is in place (cpus=) */
                if (settings[i].key == LEVER_RT)
                        warn_rt(c, d, &settings[i]);
        if (r < 0 && !c->dry_run)
                txn_rollback(c, &t);
        json_object_put(t.before);
        json_object_put(t.created);
        cgroup_host_free(h);
        return r;
}

static void reset_failed(LeverContext *c, const char *key, const char *why) {
        char *n = NULL;
        if (asprintf(&n, "%s%s: %s\n", c->failed ? c->failed : "", key, why) >= 0) {
                free(c->failed);
                c->failed = n;
        }
}

/* A "pause" entry whose owner (pid + start time) is another process that
 * is alive. */
static bool pause_held_by_other(json_object *e) {
        const char *type = journal_field_str(e, "type");
        json_object *v;
        if (!type || !streq(type, "pause") || !json_object_object_get_ex(e, "owner_pid", &v))
                return false;
        pid_t pid = (pid_t) json_object_get_int(v);
        uint64_t start = json_object_object_get_ex(e, "owner_start", &v) ? (uint64_t) json_object_get_int64(v) : 0;
        if (pid <= 0 || start == 0 || pid == getpid())
                return false;
        return host_process_alive(pid, start);
}

int lever_reset(LeverContext *c, const char *domain) {
        int restored = 0, first_error = 0;
        size_t n_failed = 0;
        free(c->failed);
        c->failed = NULL;
        c->error[0] = 0;
        /* Newest first; entries that stay (failed, or not ours) only ever
         * sit below the index still to visit, so removing is safe. */
        for (size_t i = journal_size(c->journal); i > 0; i--) {
                json_object *e = journal_entry(c->journal, i - 1);
                const char *dom = journal_field_str(e, "domain"), *owner = journal_field_str(e, "owner");
                if (domain && (!dom || !streq(dom, domain)))
                        continue;
                if (c->owner && !streq(owner ? owner : "cli", c->owner))
                        continue;
                const char *k = journal_field_str(e, "key");
                _cleanup_free_ char *key = strdup(k ?: "(no key)");
                if (!key)
                        return -ENOMEM;
                if (!entry_ours(c->hv, e))
                        continue;   /* left to its owner (guest-stop, ...): not a failure */
                if (pause_held_by_other(e)) {
                        /* a live xvsched (`ps` mid-scan, a daemon) holds
                         * this pause and resumes it itself: continuing the
                         * VM now would run it under that process's write */
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "left: its owner, xvsched pid %d, is running and holds this pause",
                                     (int) json_object_get_int(json_object_object_get(e, "owner_pid"))) < 0)
                                return -ENOMEM;
                        reset_failed(c, key, why);
                        n_failed++;
                        if (!first_error)
                                first_error = -EBUSY;
                        continue;
                }
                if (c->dry_run) {
                        note(c, "would restore %s", key);
                        continue;
                }
                int r = k ? restore_entry(c->hv, e) : -EBADMSG;
                if (r >= 0 || restore_gone(r)) {
                        if (r >= 0)
                                restored++;
                        r = journal_remove(c->journal, key);
                        if (r >= 0)
                                continue;
                        reset_failed(c, key, "restored, but the state file could not be updated");
                } else
                        reset_failed(c, key, r == -EBADMSG ? "not a valid state entry" : errno_reason(r));
                log_debug_errno(r, "cannot restore %s: %m", key);
                n_failed++;
                if (!first_error)
                        first_error = r;
        }
        if (n_failed > 0) {
                /* The caller prints c->failed (one line each); the summary: */
                snprintf(c->error, sizeof c->error, "%zu value%s could not be restored (kept in the state file), %d restored",
                         n_failed, n_failed == 1 ? "" : "s", restored);
                return first_error;
        }
        return restored;
}

int lever_read_domain(const HvOptions *o, const Domain *d, DomainLevers *ret) {
        DomainLevers l = {};
        if (d->cgroup && !streq(d->cgroup, "/")) {
                CgroupHost *h = NULL;
                if (cgroup_host_open(o->cgroup_root, &h) >= 0) {
                        l.have_cgroup = true;
                        l.have_weight = cgroup_get_weight(h, d->cgroup, &l.weight) >= 0;
                        l.have_cap = cgroup_get_cap(h, d->cgroup, &l.cap) >= 0;
                        l.have_cpus = cgroup_get_cpus(h, d->cgroup, &l.cpus) >= 0;
                        l.have_mems = cgroup_get_mems(h, d->cgroup, &l.mems) >= 0;
                        l.have_memory = cgroup_get_memory_max(h, d->cgroup, &l.memory) >= 0;
                        l.have_ioweight = cgroup_get_io_weight(h, d->cgroup, &l.ioweight) >= 0;
                        cgroup_host_free(h);
                }
        }
        *ret = l;
        return 0;
}
