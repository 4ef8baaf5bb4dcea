/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lever_apply(): thread levers (sched syscalls, or the hypervisor's API),
 * group levers (the domain's own cgroup, or the hypervisor's API), each
 * change recorded in the transaction first (lever-txn.c). */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "host/autogroup.h"
#include "host/cgroup.h"
#include "host/proc.h"
#include "host/sched.h"
#include "lever/lever-internal.h"

/* Through the hypervisor's own API: -EOPNOTSUPP (and nothing recorded) when
 * the backend has no such lever, so the caller takes the direct path. */
static int apply_via_backend_lever(LeverContext *c, LeverTxn *t, Domain *d, const LeverSetting *s, const char *lever,
                                   const char *value) {
        const HvBackend *b = hv_backend_by_name(d->backend);
        if (!b || !b->lever_set || !b->lever_save)
                return -EOPNOTSUPP;
        _cleanup_free_ char *saved = NULL;
        int r = b->lever_save(c->hv, d, lever, &saved);
        if (r < 0)
                return r == -EOPNOTSUPP ? r : lever_fail(c, s, r, "%s: cannot read the current value: %s", b->name, lever_errno_reason(r));
        /* many hosts: the domain's own host is where the undo goes */
        const char *uri = d->libvirt_uri && (d->remote || c->hv->n_libvirt_uris > 0) ? d->libvirt_uri : c->hv->libvirt_uri;
        r = lever_txn_record(c, t, journal_entry_hv_new(lever_owner(c), d->name, b->name, uri, d->uuid, lever, saved));
        if (r < 0)
                return lever_fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
        if (c->dry_run) {
                lever_note(c, "%s=%s: would use %s's API (%s)", lever_key_to_string(s->key), s->value, b->name, lever);
                return 0;
        }
        r = b->lever_set(c->hv, d, lever, value);
        if (r == -EOPNOTSUPP) {
                /* Nothing changed: forget the record so the direct path records its own. */
                lever_txn_forget_last(c, t);
                return -EOPNOTSUPP;
        }
        if (r < 0)
                return lever_fail(c, s, r, "%s refused it: %s", b->name, lever_errno_reason(r));
        lever_note(c, "%s=%s: via %s's API (%s)", lever_key_to_string(s->key), s->value, b->name, lever);
        return 0;
}

static int apply_via_backend(LeverContext *c, LeverTxn *t, Domain *d, const LeverSetting *s) {
        char value[64];
        switch (s->key) {
        case LEVER_MEMS:
                return -EOPNOTSUPP; /* libvirt's numatune cannot always change live: write cpuset.mems */
        case LEVER_IDLE:
                return -EOPNOTSUPP; /* libvirt has no tunable for cpu.idle: its machine group's file */
        case LEVER_CAP: snprintf(value, sizeof value, "%g", s->v.cap); break;
        case LEVER_MEMORY: snprintf(value, sizeof value, "%llu", (unsigned long long) s->v.bytes); break;
        default: snprintf(value, sizeof value, "%u", s->v.weight); break;
        }
        return apply_via_backend_lever(c, t, d, s, lever_key_to_string(s->key), value);
}

/* With CONFIG_SCHED_AUTOGROUP on, the kernel first shares the CPU between
 * sessions ("autogroups") of tasks in the root cgroup, and nice only ranks
 * threads inside one: a daemonized QEMU is a session of its own, so a nice
 * on its threads alone does nothing against another VM.  Give the session
 * the same nice too — when the session holds only this domain. */
static int apply_autogroup_nice(LeverContext *c, LeverTxn *t, Domain *d, const LeverSetting *s) {
        if (!autogroup_enabled(c->hv->proc_root))
                return 0;
        size_t n = d->n_pids ? d->n_pids : (d->pid > 0 ? 1 : 0);
        for (size_t i = 0; i < n; i++) {
                pid_t pid = d->n_pids ? d->pids[i] : d->pid;
                long id;
                int old;
                if (autogroup_read(c->hv->proc_root, pid, &id, &old) < 0)
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
                _cleanup_free_ pid_t *all = NULL;
                size_t n_all = 0;
                if (proc_pids(c->hv->proc_root, &all, &n_all) < 0)
                        n_all = 0;
                for (size_t a = 0; a < n_all && !shared; a++) {
                        pid_t other = all[a];
                        long oid;
                        int onice;
                        if (other == pid || autogroup_read(c->hv->proc_root, other, &oid, &onice) < 0 || oid != id)
                                continue;
                        bool ours = other == d->pid;
                        for (size_t k = 0; k < d->n_pids; k++)
                                ours |= d->pids[k] == other;
                        shared = !ours;
                }
                if (shared) {
                        lever_note(c, "warning: pid %d shares its autogroup (session) with other processes: nice only ranks "
                                "threads inside it", (int) pid);
                        continue;
                }
                ThreadSched ts;
                if (thread_sched_get(pid, &ts) < 0)
                        continue;
                int r = lever_txn_record(c, t, journal_entry_autogroup_new(lever_owner(c), d->name, pid, ts.start_time, old));
                if (r < 0)
                        return lever_fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
                if (c->dry_run)
                        continue;
                r = autogroup_write(c->hv->proc_root, pid, s->v.nice);
                if (r < 0)
                        return lever_fail(c, s, r, "autogroup of pid %d: %s", (int) pid, lever_errno_reason(r));
                lever_note(c, "nice=%s: also the autogroup (session) of pid %d, /autogroup-%ld", s->value, (int) pid, id);
        }
        return 0;
}

static int apply_thread_lever(LeverContext *c, LeverTxn *t, Domain *d, const LeverSetting *s) {
        size_t n = 0, n_direct = 0;
        unsigned handled = 0; /* classes the hypervisor's API took care of */
        if (s->key == LEVER_RT && (s->v.rt.policy == SCHED_FIFO || s->v.rt.policy == SCHED_RR)) {
                int r = lever_ensure_rt_budgets(c, t, d, s);
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
                        /* a remote domain's threads are not here: libvirt knows them */
                        if (!(c->thread_mask & (1u << pins[i].class)) || (!d->remote && domain_count_class(d, pins[i].class) == 0))
                                continue;
                        int r = apply_via_backend_lever(c, t, d, s, pins[i].lever, list);
                        if (r == -EOPNOTSUPP)
                                continue;
                        if (r < 0)
                                return r;
                        handled |= 1u << pins[i].class;
                        n += d->remote ? 1 : domain_count_class(d, pins[i].class);
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
                        return lever_fail(c, s, r, "thread %d: %s", (int) th->tid, lever_errno_reason(r));
                r = lever_txn_record(c, t, journal_entry_thread_new(lever_owner(c), d->name, th->tid, &ts));
                if (r < 0)
                        return lever_fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
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
                        return lever_fail(c, s, r, "thread %d (%s): %s", (int) th->tid, th->comm, lever_errno_reason(r));
                n++, n_direct++;
        }
        if (n == 0) {
                char classes[64] = "";
                for (int k = 0; k < _THREAD_CLASS_MAX; k++)
                        if (c->thread_mask & (1u << k))
                                snprintf(classes + strlen(classes), sizeof classes - strlen(classes), "%s%s",
                                         classes[0] ? "," : "", thread_class_to_string((ThreadClass) k));
                return lever_fail(c, s, -ENOENT, "domain '%s' has no %s threads on this host", d->name, classes);
        }
        if (n_direct > 0)
                lever_note(c, "%s=%s: %zu thread(s) via sched syscalls", lever_key_to_string(s->key), s->value, n_direct);
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
static int ensure_own_cgroup(LeverContext *c, LeverTxn *t, Domain *d, const CgroupHost *h, const LeverSetting *s) {
        if (!cgroup_shared(h, d->cgroup, d))
                return 0;
        if (d->pid <= 0)
                return lever_fail(c, s, -ESRCH, "domain '%s' has no process on this host", d->name);
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
                lever_note(c, "would create cgroup %s and move domain '%s' into it", cg, d->name);
                return 0;
        }
        int r = cgroup_create(h, cg);
        if (r < 0)
                return lever_fail(c, s, r, "cannot create cgroup %s: %s", cg, lever_errno_reason(r));

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
                        return lever_fail(c, s, r, "cannot read the cgroups of pid %d: %s", (int) pid, lever_errno_reason(r));
                r = lever_txn_record(c, t, journal_entry_move_new(lever_owner(c), d->name, cgroup_host_root(h), pid,
                                                                  ts.start_time, saved, cg));
                if (r < 0)
                        return lever_fail(c, s, r, "cannot record the original cgroups in the state file: %s", strerror(-r));
                r = cgroup_attach_pid(h, cg, pid);
                if (r < 0)
                        return lever_fail(c, s, r, "cannot move pid %d into %s: %s", (int) pid, cg, lever_errno_reason(r));
        }
        /* Joining a v1 cpuset group resets every thread's affinity to the
         * group's CPUs: put back what the threads had, so the move itself
         * changes nothing but the group. */
        for (size_t i = 0; i < n_aff; i++)
                (void) thread_set_affinity(affinity[i].tid, &affinity[i].set);
        free(d->cgroup);
        d->cgroup = strdup(cg);
        lever_note(c, "domain '%s' had no cgroup of its own: moved into %s", d->name, cg);
        return d->cgroup ? 0 : -ENOMEM;
}

static int cgroup_set_typed(const CgroupHost *h, const char *cg, const LeverSetting *s) {
        switch (s->key) {
        case LEVER_WEIGHT: return cgroup_set_weight(h, cg, s->v.weight);
        case LEVER_CAP: return cgroup_set_cap(h, cg, s->v.cap);
        case LEVER_MEMS: return cgroup_set_mems(h, cg, &s->v.cpus);
        case LEVER_MEMORY: return cgroup_set_memory_max(h, cg, s->v.bytes);
        case LEVER_IOWEIGHT: return cgroup_set_io_weight(h, cg, s->v.weight);
        case LEVER_IDLE: return cgroup_set_idle(h, cg, s->v.idle);
        default: return -EINVAL;
        }
}

static int apply_group_lever(LeverContext *c, LeverTxn *t, Domain *d, const CgroupHost *h, const LeverSetting *s) {
        int r = apply_via_backend(c, t, d, s);
        if (r != -EOPNOTSUPP)
                return r;
        if (d->remote)  /* its host's cgroups are not here */
                return lever_fail(c, s, r, "libvirt on %s cannot set it for this domain", d->libvirt_uri ? d->libvirt_uri : "its host");

        if (s->key == LEVER_IDLE) {
                /* cpu.idle idles every process of the group: only a group
                 * the domain has to itself, and never one made for it here
                 * (the daemon's idle class asks for it on every domain). */
                if (cgroup_shared(h, d->cgroup, d))
                        return lever_fail(c, s, -EBUSY, "domain '%s' has no cgroup of its own (%s is shared with other "
                                          "processes): cpu.idle there would idle them too; weight= gives it one",
                                          d->name, d->cgroup ? d->cgroup : "none");
                r = cgroup_idle_check(h, d->cgroup);
                if (r == -EOPNOTSUPP)
                        return lever_fail(c, s, r, "this kernel has no cpu.idle (Linux 5.15 or later has it) in cgroup %s",
                                          d->cgroup);
                if (r < 0)
                        return lever_fail(c, s, r, "cgroup %s: %s", d->cgroup, lever_errno_reason(r));
        } else {
                r = ensure_own_cgroup(c, t, d, h, s);
                if (r < 0)
                        return r;
                bool idle = false;
                if (s->key == LEVER_WEIGHT && d->cgroup && cgroup_get_idle(h, d->cgroup, &idle) >= 0 && idle)
                        return lever_fail(c, s, -EBUSY, "cgroup %s is at cpu.idle 1 (idle=yes): the kernel takes no weight "
                                          "for an idle group; idle=no first", d->cgroup);
        }
        CgroupKnob k = lever_key_to_knob(s->key);
        if (c->dry_run) {
                lever_note(c, "%s=%s: would write cgroup %s", lever_key_to_string(s->key), s->value, d->cgroup ? d->cgroup : "(new)");
                return 0;
        }
        _cleanup_free_ char *saved = NULL, *file = NULL;
        r = cgroup_knob_save(h, d->cgroup, k, &saved);
        if (r < 0)
                return lever_fail(c, s, r, "cgroup %s: %s", d->cgroup, lever_errno_reason(r));
        (void) cgroup_knob_path(h, d->cgroup, k, &file);
        r = lever_txn_record(c, t, journal_entry_cgroup_new(lever_owner(c), d->name, cgroup_host_root(h), d->cgroup,
                                                            cgroup_knob_to_string(k), saved));
        if (r < 0)
                return lever_fail(c, s, r, "cannot record the original value in the state file: %s", strerror(-r));
        r = cgroup_set_typed(h, d->cgroup, s);
        if (r < 0 && cgroup_last_refusal()) /* systemd said no: its words, not errno's */
                return lever_fail(c, s, r, "%s", cgroup_last_refusal());
        if (r < 0)
                return lever_fail(c, s, r, "%s: %s", file ? file : d->cgroup, lever_errno_reason(r));
        lever_note(c, "%s=%s: cgroup v%d %s", lever_key_to_string(s->key), s->value, (int) cgroup_host_version(h),
             file ? file : d->cgroup);
        return 0;
}

int lever_apply(LeverContext *c, Domain *d, const LeverSetting *settings, size_t n) {
        c->error[0] = 0;

        /* Validate everything before touching anything. */
        bool need_cgroup = false;
        int rr = lever_settings_validate(c, d, settings, n, &need_cgroup);
        if (rr < 0)
                return rr;
        rr = lever_check_rt(c, d, settings, n);
        if (rr < 0)
                return rr;

        CgroupHost *h = NULL;
        if (need_cgroup) {
                int r = cgroup_host_open(c->hv->cgroup_root, &h);
                if (r < 0)
                        return lever_fail(c, NULL, r, "cannot open the cgroup hierarchy at %s: %s", c->hv->cgroup_root,
                                    lever_errno_reason(r));
        }

        LeverTxn t;
        int r = lever_txn_begin(&t);
        /* idle= last: a weight= of the same call may give the domain its own
         * group first; but idle=no first on a group at cpu.idle 1 now: the
         * kernel takes no weight for an idle group. */
        bool idle_off = false, idle_now = false;
        for (size_t i = 0; i < n; i++)
                idle_off |= settings[i].key == LEVER_IDLE && !settings[i].v.idle;
        if (idle_off && h && d->cgroup && cgroup_get_idle(h, d->cgroup, &idle_now) < 0)
                idle_now = false;
        for (int pass = 0; pass < 3; pass++)
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        const LeverSetting *s = &settings[i];
                        int want = s->key != LEVER_IDLE ? 1 : !s->v.idle && idle_now ? 0 : 2;
                        if (want != pass)
                                continue;
                        r = lever_is_thread_lever(s->key) ? apply_thread_lever(c, &t, d, s) : apply_group_lever(c, &t, d, h, s);
                }
        for (size_t i = 0; r >= 0 && !c->dry_run && i < n; i++) /* once every lever is in place (cpus=) */
                if (settings[i].key == LEVER_RT)
                        lever_warn_rt(c, d, &settings[i]);
        if (r < 0 && !c->dry_run)
                lever_txn_rollback(c, &t);
        lever_txn_done(&t);
        cgroup_host_free(h);
        return r;
}

/* A remote domain (many hosts): weight, cap and vCPU pinning as its host's
 * libvirt says, in the scales `set` writes them (see lv_lever_set). */
static void read_remote(const HvOptions *o, const Domain *d, DomainLevers *l) {
        const HvBackend *b = hv_backend_by_name(d->backend);
        if (!b || !b->lever_save)
                return;
        _cleanup_free_ char *w = NULL, *cap = NULL, *pins = NULL;
        unsigned weight;
        /* "weight.read": in xvsched's scale, by the remote host's cgroup version */
        if (b->lever_save(o, d, "weight.read", &w) >= 0 && safe_atou(w, &weight) >= 0) {
                l->weight = weight;
                l->have_weight = true;
        }
        long long period, quota;
        if (b->lever_save(o, d, "cap", &cap) >= 0 && sscanf(cap, "%lld %lld", &period, &quota) == 2 && period > 0) {
                l->cap = quota > 0 ? (double) quota * 100.0 / (double) period : 0;
                l->have_cap = true;
        }
        if (b->lever_save(o, d, "cpus.vcpu", &pins) >= 0) {
                /* "L0;L1;...": every vCPU's; shown as their union */
                char *save = NULL;
                for (char *t = strtok_r(pins, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
                        CpuSet s;
                        if (cpuset_parse(t, &s) < 0)
                                continue;
                        for (unsigned cpu = 0; cpu < 64 * CPUSET_WORDS; cpu++)
                                if (cpuset_isset(&s, cpu))
                                        cpuset_set(&l->cpus, cpu);
                        l->have_cpus = true;
                }
        }
}

int lever_read_domain(const HvOptions *o, const Domain *d, DomainLevers *ret) {
        DomainLevers l = {};
        if (d->remote)
                read_remote(o, d, &l);
        if (!d->remote && d->cgroup && !streq(d->cgroup, "/")) {
                CgroupHost *h = NULL;
                if (cgroup_host_open(o->cgroup_root, &h) >= 0) {
                        l.have_cgroup = true;
                        l.have_weight = cgroup_get_weight(h, d->cgroup, &l.weight) >= 0;
                        l.have_cap = cgroup_get_cap(h, d->cgroup, &l.cap) >= 0;
                        l.have_cpus = cgroup_get_cpus(h, d->cgroup, &l.cpus) >= 0;
                        l.have_mems = cgroup_get_mems(h, d->cgroup, &l.mems) >= 0;
                        l.have_memory = cgroup_get_memory_max(h, d->cgroup, &l.memory) >= 0;
                        l.have_ioweight = cgroup_get_io_weight(h, d->cgroup, &l.ioweight) >= 0;
                        l.have_idle = cgroup_get_idle(h, d->cgroup, &l.idle) >= 0;
                        cgroup_host_free(h);
                }
        }
        *ret = l;
        return 0;
}
