/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Lever settings: KEY=VALUE parsed, and a whole set validated against the
 * domain and the host before anything changes. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/cpus.h"
#include "lever/lever-internal.h"

static const char *const lever_names[_LEVER_MAX] = {
        [LEVER_NICE] = "nice",     [LEVER_RT] = "rt",    [LEVER_CPUS] = "cpus",
        [LEVER_WEIGHT] = "weight", [LEVER_CAP] = "cap",  [LEVER_MEMS] = "mems",
        [LEVER_MEMORY] = "memory", [LEVER_IOWEIGHT] = "ioweight", [LEVER_IDLE] = "idle",
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

CgroupKnob lever_key_to_knob(LeverKey k) {
        switch (k) {
        case LEVER_WEIGHT: return CGROUP_KNOB_WEIGHT;
        case LEVER_CAP: return CGROUP_KNOB_CAP;
        case LEVER_MEMS: return CGROUP_KNOB_MEMS;
        case LEVER_MEMORY: return CGROUP_KNOB_MEMORY_MAX;
        case LEVER_IOWEIGHT: return CGROUP_KNOB_IO_WEIGHT;
        case LEVER_IDLE: return CGROUP_KNOB_IDLE;
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
                *ret_reason = "unknown key (known: nice, rt, cpus, weight, cap, mems, memory, ioweight, idle)";
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
                *ret_reason = "must be fifo:N, rr:N (N from 1 to 99), idle or off";
                if (streq(v, "off")) {
                        s.v.rt.policy = SCHED_OTHER;
                        break;
                }
                if (streq(v, "idle")) { /* the host's SCHED_IDLE: below every normal thread */
                        s.v.rt.policy = SCHED_IDLE;
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
        case LEVER_IDLE:
                *ret_reason = "must be yes or no";
                if (streq(v, "yes") || streq(v, "1") || streq(v, "on"))
                        s.v.idle = true;
                else if (streq(v, "no") || streq(v, "0") || streq(v, "off"))
                        s.v.idle = false;
                else
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }
        *ret_reason = NULL;
        *ret = s;
        return 0;
}

int lever_settings_validate(LeverContext *c, const Domain *d, const LeverSetting *settings, size_t n, bool *ret_need_cgroup) {
        bool seen[_LEVER_MAX] = {};
        bool need_cgroup = false;
        CpuSet online, nodes;
        for (size_t i = 0; i < n; i++) {
                const LeverSetting *s = &settings[i];
                if (seen[s->key])
                        return lever_fail(c, s, -EINVAL, "given more than once");
                seen[s->key] = true;
                if (d->remote && (s->key == LEVER_NICE || s->key == LEVER_RT || s->key == LEVER_MEMS || s->key == LEVER_IDLE))
                        return lever_fail(c, s, -EOPNOTSUPP, "domain '%s' is on another host (%s): there only weight, cap, "
                                          "cpus, memory and ioweight act, through libvirt's API", d->name,
                                          d->libvirt_uri ? d->libvirt_uri : "remote");
                if (d->remote)
                        continue; /* its host's CPUs and threads are not these: libvirt checks */
                if (lever_is_thread_lever(s->key) && d->n_threads == 0)
                        return lever_fail(c, s, -ESRCH, "domain '%s' has no threads on this host%s", d->name,
                                          d->vcpu_source && streq(d->vcpu_source, "remote") ? " (remote URI)" : "");
                if (s->key == LEVER_CPUS && host_online_cpus(NULL, &online) >= 0 && !cpuset_subset(&s->v.cpus, &online)) {
                        _cleanup_free_ char *o = cpuset_format(&online);
                        return lever_fail(c, s, -EINVAL, "not a subset of the online CPUs (%s)", o ? o : "?");
                }
                if (s->key == LEVER_MEMS && host_online_nodes(NULL, &nodes) >= 0 && !cpuset_subset(&s->v.cpus, &nodes)) {
                        _cleanup_free_ char *o = cpuset_format(&nodes);
                        return lever_fail(c, s, -EINVAL, "not a subset of the online memory nodes (%s)", o ? o : "?");
                }
                if (s->key == LEVER_CAP && s->v.cap > 100.0 * (double) sysconf(_SC_NPROCESSORS_ONLN))
                        return lever_fail(c, s, -EINVAL, "more than all %ld CPUs", sysconf(_SC_NPROCESSORS_ONLN));
                need_cgroup |= !lever_is_thread_lever(s->key);
        }
        *ret_need_cgroup = need_cgroup;
        return 0;
}
