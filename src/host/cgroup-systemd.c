/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup v2: which way a lever goes — the group's file (v2 without
 * systemd; a foreign group; a delegated unit's subtree, enabling the
 * controllers it needs on the way) or systemd's unit properties (a unit's
 * own group where systemd owns the tree).  docs/levers.md has the table. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "host/cgroup-internal.h"
#include "host/systemd-unit.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define OWN_SLICE "xvsched.slice"
#define OWN_SLICE_CG "/" OWN_SLICE

/* ---- pure ---- */

void cgroup_plan_done(CgroupPlan *p) {
        free(p->unit);
        free(p->enable_from);
        *p = (CgroupPlan) {};
}

int cgroup_plan_decide(bool systemd, const char *cg, const char *unit, const char *unit_cg, bool delegated,
                       CgroupPlan *ret) {
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        CgroupPlan p = { .route = CGROUP_ROUTE_FILE };
        if (!systemd)
                p.enable_from = strdup("/");
        else if (unit && unit_cg && delegated) {
                p.unit = strdup(unit);
                p.enable_from = strdup(unit_cg);
        } else if (unit && unit_cg && streq(cg, unit_cg)) {
                p.route = CGROUP_ROUTE_UNIT;
                p.unit = strdup(unit);
        } else {
                *ret = p;   /* no unit, or below a unit that is not delegated */
                return 0;
        }
        if ((!systemd && !p.enable_from) || (systemd && !p.unit) || (delegated && systemd && !p.enable_from)) {
                cgroup_plan_done(&p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static bool is_prefix(const char *prefix, const char *cg) {
        if (streq(prefix, "/"))
                return true;
        size_t n = strlen(prefix);
        return strneq(prefix, cg, n) && (cg[n] == '/' || cg[n] == 0);
}

int cgroup_enable_levels(const char *cg, const char *from, char ***ret) {
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        if (!from || cgroup_path_check(from) < 0)
                return -EINVAL;
        size_t n = 0, len = 0;
        char **v = calloc(1, sizeof *v);
        _cleanup_free_ char *pre = malloc(strlen(cg) + 2);
        if (!v || !pre) {
                free(v);
                return -ENOMEM;
        }
        strcpy(pre, "/");
        /* "/", then "/a", "/a/b", ... up to cg's parent */
        for (const char *p = cg;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;   /* pre is cg itself */
                if (is_prefix(from, pre)) {
                        char **nv = realloc(v, (n + 2) * sizeof *v);
                        if (!nv)
                                goto oom;
                        v = nv;
                        v[n] = strdup(pre);
                        if (!v[n])
                                goto oom;
                        v[++n] = NULL;
                }
                size_t c = strcspn(p, "/");
                len += (size_t) sprintf(pre + len, "/%.*s", (int) c, p);
                p += c;
        }
        *ret = v;
        return 0;
oom:
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return -ENOMEM;
}

const char *cgroup_v2_knob_controller(CgroupKnob k) {
        switch (k) {
        case CGROUP_KNOB_WEIGHT:
        case CGROUP_KNOB_CAP:
        case CGROUP_KNOB_IDLE:
                return "cpu";
        case CGROUP_KNOB_CPUS:
        case CGROUP_KNOB_MEMS:
                return "cpuset";
        case CGROUP_KNOB_MEMORY_MAX:
                return "memory";
        case CGROUP_KNOB_IO_WEIGHT:
                return "io";
        default:
                return NULL;
        }
}

/* ---- facts ---- */

int cgroup_sd_open(CgroupHost *h) {
        if (h->backend->version != CGROUP_V2)
                return 0;
        struct statfs sfs;
        if (statfs(h->root, &sfs) < 0 || (uint64_t) sfs.f_type != CGROUP2_SUPER_MAGIC)
                return 0;   /* a fixture tree, or not the kernel's */
        if (!systemd_owns_tree(NULL, NULL))
                return 0;
        SystemdBus *b;
        int r = systemd_bus_open(&b);
        if (r < 0) {
                log_debug("cgroup: systemd runs but its bus does not answer (%s): levers write files", strerror(-r));
                return 0;
        }
        h->sd_bus = b;
        log_debug("cgroup: %s belongs to systemd: unit properties over D-Bus", h->root);
        return 1;
}

static void strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static int plan_for(const CgroupHost *h, const char *cg, CgroupPlan *ret) {
        if (!h->sd_bus)
                return cgroup_plan_decide(false, cg, NULL, NULL, false, ret);
        _cleanup_free_ char *unit = NULL, *unit_cg = NULL;
        int r = systemd_unit_of_cgroup(cg, &unit, &unit_cg);
        if (r == -ENOENT)
                return cgroup_plan_decide(true, cg, NULL, NULL, false, ret);
        if (r < 0)
                return r;
        bool delegated = false;
        r = systemd_unit_delegated(h->sd_bus, unit, &delegated);
        if (r < 0)
                return r;
        return cgroup_plan_decide(true, cg, unit, unit_cg, delegated, ret);
}

static bool word_in(const char *list, const char *word) {
        size_t wn = strlen(word);
        for (const char *p = list; *p;) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n == wn && strneq(p, word, n))
                        return true;
                p += n;
        }
        return false;
}

/* Levels on cg's path whose cgroup.subtree_control lacks ctrl, top down.
 * Sets *ret_allowed to whether all of them may be changed (lie at or below
 * plan->enable_from).  An empty list: the controller is there. */
static int missing_levels(const CgroupHost *h, const char *cg, const char *ctrl, const CgroupPlan *plan,
                          char ***ret, bool *ret_allowed) {
        char **all;
        int r = cgroup_enable_levels(cg, "/", &all);
        if (r < 0)
                return r;
        size_t n = 0;
        char **miss = calloc(1, sizeof *miss);
        bool allowed = true;
        if (!miss) {
                strv_free(all);
                return -ENOMEM;
        }
        for (size_t i = 0; all[i]; i++) {
                _cleanup_free_ char *sc = NULL;
                r = cgroup_read_line(h, CGROUP_CTRL_CPU, all[i], "cgroup.subtree_control", &sc);
                if (r < 0)
                        goto fail;
                if (word_in(sc, ctrl))
                        continue;
                if (!plan->enable_from || !is_prefix(plan->enable_from, all[i]))
                        allowed = false;
                if (!miss[0]) {
                        /* The top one needs it offered by its parent. */
                        _cleanup_free_ char *avail = NULL;
                        r = cgroup_read_line(h, CGROUP_CTRL_CPU, all[i], "cgroup.controllers", &avail);
                        if (r < 0)
                                goto fail;
                        if (!word_in(avail, ctrl))
                                allowed = false;
                }
                char **nv = realloc(miss, (n + 2) * sizeof *nv);
                if (!nv) {
                        r = -ENOMEM;
                        goto fail;
                }
                miss = nv;
                miss[n] = strdup(all[i]);
                miss[++n] = NULL;
                if (!miss[n - 1]) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        strv_free(all);
        *ret = miss;
        *ret_allowed = allowed;
        return 0;
fail:
        strv_free(all);
        strv_free(miss);
        return r;
}

/* Whether cg already has the knob's file (1), has not (0; the controller
 * is not enabled for it), or <0 (no such group: the caller's write says so). */
static int knob_file_present(const CgroupHost *h, const char *cg, CgroupKnob k) {
        static const char *const files[_CGROUP_KNOB_MAX][2] = {
                [CGROUP_KNOB_WEIGHT] = { "cpu.weight" },
                [CGROUP_KNOB_CAP] = { "cpu.max" },
                [CGROUP_KNOB_CPUS] = { "cpuset.cpus" },
                [CGROUP_KNOB_MEMS] = { "cpuset.mems" },
                [CGROUP_KNOB_MEMORY_MAX] = { "memory.max" },
                [CGROUP_KNOB_IO_WEIGHT] = { "io.weight", "io.bfq.weight" },
                [CGROUP_KNOB_IDLE] = { "cpu.idle" },
        };
        if (k < 0 || k >= _CGROUP_KNOB_MAX)
                return -EINVAL;
        for (size_t i = 0; i < 2 && files[k][i]; i++) {
                int r = cgroup_file_exists(h, CGROUP_CTRL_CPU, cg, files[k][i]);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* ---- the unit route ---- */

/* systemd's refusal of the last unit route set or restore on this thread. */
static _Thread_local char route_refusal[512];

const char *cgroup_last_refusal(void) {
        return route_refusal[0] ? route_refusal : NULL;
}

static void note_refusal(void) {
        const char *why = systemd_last_refusal();
        snprintf(route_refusal, sizeof route_refusal, "%s", why ?: "");
}

static int unit_props_for(const CgroupHost *h, const char *unit, CgroupKnob k, const CgroupValue *v, UnitProp *p) {
        *p = (UnitProp) {};
        snprintf(p->name, sizeof p->name, "%s", systemd_knob_property(k));
        switch (k) {
        case CGROUP_KNOB_WEIGHT:
        case CGROUP_KNOB_IO_WEIGHT:
        case CGROUP_KNOB_MEMORY_MAX:
                p->u = v->u;
                return 0;
        case CGROUP_KNOB_CPUS:
        case CGROUP_KNOB_MEMS:
                p->is_set = true;
                p->set = *v->set;
                return 0;
        case CGROUP_KNOB_CAP: {
                UnitProp cur[SYSTEMD_PROPS_MAX];
                size_t n;
                int r = systemd_unit_get_knob(h->sd_bus, unit, k, cur, &n);
                if (r < 0)
                        return r;
                return systemd_cap_to_quota(v->cap, n > 1 ? cur[1].u : SYSTEMD_UNSET, &p->u);
        }
        case CGROUP_KNOB_IDLE: {
                /* systemd's CPUWeight=idle is 0 on the bus; not idle: an
                 * idle unit's weight back to unset, any other kept. */
                UnitProp cur[SYSTEMD_PROPS_MAX];
                size_t n;
                int r = systemd_unit_get_knob(h->sd_bus, unit, k, cur, &n);
                if (r < 0)
                        return r;
                p->u = systemd_idle_to_weight(v->u != 0, cur[0].u);
                return 0;
        }
        default:
                return -EINVAL;
        }
}

int cgroup_route_set(const CgroupHost *h, const char *cg, CgroupKnob k, const CgroupValue *v) {
        route_refusal[0] = 0;
        if (h->backend->version != CGROUP_V2)
                return 0;
        CgroupPlan plan;
        int r = plan_for(h, cg, &plan);
        if (r < 0)
                return r;
        if (plan.route == CGROUP_ROUTE_UNIT) {
                UnitProp p;
                r = unit_props_for(h, plan.unit, k, v, &p);
                if (r >= 0) {
                        r = systemd_unit_set(h->sd_bus, plan.unit, &p, 1);
                        if (r < 0)
                                note_refusal();
                }
                cgroup_plan_done(&plan);
                return r < 0 ? r : 1;
        }
        /* The file: enable what is missing on the allowed part of the path. */
        const char *ctrl = cgroup_v2_knob_controller(k);
        char **miss = NULL;
        bool allowed;
        if (knob_file_present(h, cg, k) != 0) {
                cgroup_plan_done(&plan);
                return 0;
        }
        r = ctrl ? missing_levels(h, cg, ctrl, &plan, &miss, &allowed) : -EINVAL;
        if (r >= 0 && miss[0] && allowed) {
                char buf[16];
                snprintf(buf, sizeof buf, "+%s", ctrl);
                for (size_t i = 0; miss[i] && r >= 0; i++)
                        r = cgroup_write(h, CGROUP_CTRL_CPU, miss[i], "cgroup.subtree_control", buf);
        }
        strv_free(miss);
        cgroup_plan_done(&plan);
        /* A controller that cannot be enabled here: the write below fails
         * with the kernel's ENOENT, as without a plan. */
        return r < 0 ? r : 0;
}

int cgroup_route_save(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        if (h->backend->version != CGROUP_V2)
                return 0;
        CgroupPlan plan;
        int r = plan_for(h, cg, &plan);
        if (r < 0)
                return r;
        if (plan.route == CGROUP_ROUTE_UNIT) {
                UnitProp p[SYSTEMD_PROPS_MAX];
                size_t n;
                r = systemd_unit_get_knob(h->sd_bus, plan.unit, k, p, &n);
                if (r >= 0)
                        r = systemd_props_format(plan.unit, p, n, ret);
                cgroup_plan_done(&plan);
                return r < 0 ? r : 1;
        }
        const char *ctrl = cgroup_v2_knob_controller(k);
        char **miss = NULL;
        bool allowed;
        if (knob_file_present(h, cg, k) != 0) {
                cgroup_plan_done(&plan);
                return 0;
        }
        r = ctrl ? missing_levels(h, cg, ctrl, &plan, &miss, &allowed) : -EINVAL;
        cgroup_plan_done(&plan);
        if (r < 0 || !miss[0] || !allowed) {
                strv_free(miss);
                return r < 0 ? r : 0;
        }
        /* "subtree:CTRL;GROUP;GROUP..." (groups escaped): restore takes the
         * controller away again, bottom up, and with it the file. */
        size_t len = strlen("subtree:") + strlen(ctrl) + 1;
        for (size_t i = 0; miss[i]; i++)
                len += 2 * strlen(miss[i]) + 1;
        char *s = malloc(len);
        if (!s) {
                strv_free(miss);
                return -ENOMEM;
        }
        size_t o = (size_t) sprintf(s, "subtree:%s", ctrl);
        for (size_t i = 0; miss[i]; i++) {
                _cleanup_free_ char *e = cgroup_escape_path(miss[i]);
                if (!e) {
                        free(s);
                        strv_free(miss);
                        return -ENOMEM;
                }
                o += (size_t) sprintf(s + o, ";%s", e);
        }
        strv_free(miss);
        *ret = s;
        return 1;
}

static int restore_unit(const CgroupHost *h, const char *saved) {
        if (!h->sd_bus)
                return -ENOTCONN;
        _cleanup_free_ char *unit = NULL;
        UnitProp want[SYSTEMD_PROPS_MAX], cur[SYSTEMD_PROPS_MAX], diff[SYSTEMD_PROPS_MAX];
        size_t n, m, k = 0;
        int r = systemd_props_parse(saved, &unit, want, &n);
        if (r < 0)
                return r;
        /* Set only what differs now, so an untouched property gets no
         * drop-in; which knob it was follows from the first name. */
        CgroupKnob knob = _CGROUP_KNOB_INVALID;
        for (int i = 0; i < _CGROUP_KNOB_MAX; i++)
                if (streq(systemd_knob_property((CgroupKnob) i), want[0].name))
                        knob = (CgroupKnob) i;
        if (knob < 0 || systemd_unit_get_knob(h->sd_bus, unit, knob, cur, &m) < 0 || m != n) {
                memcpy(diff, want, n * sizeof *want);
                k = n;
        } else
                for (size_t i = 0; i < n; i++) {
                        bool same = streq(cur[i].name, want[i].name) && cur[i].is_set == want[i].is_set &&
                                    (want[i].is_set ? cpuset_equal(&cur[i].set, &want[i].set) : cur[i].u == want[i].u);
                        if (!same)
                                diff[k++] = want[i];
                }
        if (k == 0)
                return 0;
        r = systemd_unit_set(h->sd_bus, unit, diff, k);
        if (r < 0)
                note_refusal();
        return r;
}

static int restore_subtree(const CgroupHost *h, const char *saved) {
        const char *p = saved + strlen("subtree:");
        size_t cn = strcspn(p, ";");
        if (cn == 0 || cn > 8 || p[cn] != ';')
                return -EINVAL;
        char ctrl[16];
        snprintf(ctrl, sizeof ctrl, "-%.*s", (int) cn, p);
        bool known = false;
        for (int i = 0; i < _CGROUP_KNOB_MAX; i++)
                known |= streq(cgroup_v2_knob_controller((CgroupKnob) i), ctrl + 1);
        if (!known)
                return -EINVAL;
        p += cn + 1;
        char *lv[64];
        size_t n = 0;
        int r = 0;
        while (*p) {
                if (n >= ELEMENTSOF(lv)) {
                        r = -EINVAL;
                        break;
                }
                lv[n] = cgroup_unescape_next(&p);
                if (!lv[n]) {
                        r = -ENOMEM;
                        break;
                }
                if (cgroup_path_check(lv[n++]) < 0) {
                        r = -EINVAL;
                        break;
                }
        }
        /* Bottom up; try every level, report the first failure. */
        for (size_t i = n; r == 0 && i-- > 0;) {
                int q = cgroup_write(h, CGROUP_CTRL_CPU, lv[i], "cgroup.subtree_control", ctrl);
                if (q < 0 && q != -ENOENT && r == 0)
                        r = q;
        }
        for (size_t i = 0; i < n; i++)
                free(lv[i]);
        return r;
}

int cgroup_route_restore(const CgroupHost *h, const char *cg _unused_, CgroupKnob k _unused_, const char *saved) {
        route_refusal[0] = 0;
        if (systemd_props_is_saved(saved)) {
                int r = restore_unit(h, saved);
                return r < 0 ? r : 1;
        }
        if (strneq(saved, "subtree:", 8)) {
                if (h->backend->version != CGROUP_V2)
                        return -EINVAL;
                int r = restore_subtree(h, saved);
                return r < 0 ? r : 1;
        }
        return 0;
}

/* ---- own groups as transient scopes ---- */

/* "/xvsched.slice/NAME.scope" → "NAME.scope"; NULL otherwise. */
static const char *own_scope(const CgroupHost *h, const char *cg) {
        if (!h->sd_bus || !strneq(cg, OWN_SLICE_CG "/", strlen(OWN_SLICE_CG) + 1))
                return NULL;
        const char *name = cg + strlen(OWN_SLICE_CG) + 1;
        size_t n = strlen(name);
        if (strchr(name, '/') || n <= 6 || !streq(name + n - 6, ".scope"))
                return NULL;
        return name;
}

int cgroup_scope_create(const CgroupHost *h, const char *cg) {
        return own_scope(h, cg) ? 1 : 0;
}

int cgroup_scope_attach(const CgroupHost *h, const char *cg, pid_t pid) {
        const char *scope = own_scope(h, cg);
        if (!scope)
                return 0;
        _cleanup_free_ char *now = NULL;
        int r = systemd_unit_cgroup(h->sd_bus, scope, &now);
        if (r >= 0 && streq(now, cg))
                r = systemd_scope_attach(h->sd_bus, scope, &pid, 1);
        else {
                r = systemd_scope_start(h->sd_bus, scope, OWN_SLICE, &pid, 1);
                if (r == -EEXIST)
                        r = systemd_scope_attach(h->sd_bus, scope, &pid, 1);
        }
        return r < 0 ? r : 1;
}

int cgroup_scope_remove(const CgroupHost *h, const char *cg) {
        const char *scope = own_scope(h, cg);
        if (!scope)
                return 0;
        /* StopUnit kills what is still in the scope (KillMode=control-group):
         * a process not moved back yet (a domain's other processes, whose
         * entries come later) must not die for it.  So only an empty scope
         * is stopped; a busy one is -EBUSY, as rmdir of a busy group.  (An
         * empty scope is mostly gone already: systemd collects it.) */
        _cleanup_free_ char *procs = NULL;
        int r = cgroup_read_raw(h, CGROUP_CTRL_CPU, cg, "cgroup.procs", &procs);
        if (r >= 0 && procs[strspn(procs, "; \t\n")])
                return -EBUSY;
        r = systemd_unit_stop(h->sd_bus, scope);
        return r < 0 ? r : 1;
}

int cgroup_own_group_path(const CgroupHost *h, const char *name, char **ret) {
        if (!h || !name || !*name || !ret || strchr(name, '/'))
                return -EINVAL;
        char *p;
        if (h->sd_bus ? asprintf(&p, OWN_SLICE_CG "/xvsched-%s.scope", name) < 0 : asprintf(&p, "/xvsched-%s", name) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

bool cgroup_host_systemd(const CgroupHost *h) {
        return h && h->sd_bus;
}
