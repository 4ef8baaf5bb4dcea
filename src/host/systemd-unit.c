/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup v2 under systemd: units, their cgroup properties, sd-bus calls.
 * The interface and the mapping are described in systemd-unit.h. */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "host/cgroup-internal.h"
#include "host/systemd-unit.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"

/* ---- pure ---- */

bool systemd_owns_tree(const char *proc_root, const char *run_root) {
        _cleanup_free_ char *comm_path = NULL, *comm = NULL, *run = NULL;
        if (asprintf(&comm_path, "%s/1/comm", proc_root ?: "/proc") < 0 ||
            asprintf(&run, "%s/systemd/system", run_root ?: "/run") < 0)
                return false;
        if (read_one_line(comm_path, &comm) < 0 || !streq(strstrip(comm), "systemd"))
                return false;
        struct stat st;
        return stat(run, &st) >= 0 && S_ISDIR(st.st_mode);
}

static const struct {
        const char *suffix;
        const char *interface;
} unit_types[] = {
        { ".service", "org.freedesktop.systemd1.Service" },
        { ".scope", "org.freedesktop.systemd1.Scope" },
        { ".slice", "org.freedesktop.systemd1.Slice" },
        { ".socket", "org.freedesktop.systemd1.Socket" },
        { ".mount", "org.freedesktop.systemd1.Mount" },
        { ".swap", "org.freedesktop.systemd1.Swap" },
};

static const char *unit_interface(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(unit_types); i++) {
                size_t s = strlen(unit_types[i].suffix);
                if (n > s && strneq(name + n - s, unit_types[i].suffix, s))
                        return unit_types[i].interface;
        }
        return NULL;
}

int systemd_unit_of_cgroup(const char *cg, char **ret_unit, char **ret_unit_cg) {
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        /* Only slices hold units (from the root down, without a gap): the
         * first unit that is not a slice is the one, and anything below it
         * is its own subtree (a user manager's units under user@UID.service,
         * a delegate's groups), never the system manager's units, which
         * may have the same names.  Below a group that is no unit, no unit. */
        const char *best = NULL;
        size_t best_n = 0;
        for (const char *p = cg; *p;) {
                while (*p == '/')
                        p++;
                size_t n = strcspn(p, "/");
                if (n == 0)
                        break;
                const char *iface = unit_interface(p, n);
                if (!iface)
                        break;
                best = p;
                best_n = n;
                if (!streq(iface, "org.freedesktop.systemd1.Slice"))
                        break;
                p += n;
        }
        if (!best)
                return -ENOENT;
        /* cg_escape(): a name starting with '_' (or one that could be taken
         * for a cgroup file) got a '_' in front. */
        const char *name = best;
        size_t n = best_n;
        if (name[0] == '_') {
                name++;
                n--;
        }
        if (n == 0)
                return -ENOENT;
        _cleanup_free_ char *unit = strndup(name, n), *unit_cg = strndup(cg, (size_t) (best + best_n - cg));
        if (!unit || !unit_cg)
                return -ENOMEM;
        if (ret_unit)
                *ret_unit = TAKE_PTR(unit);
        if (ret_unit_cg)
                *ret_unit_cg = TAKE_PTR(unit_cg);
        return 0;
}

const char *systemd_knob_property(CgroupKnob k) {
        static const char *const props[_CGROUP_KNOB_MAX] = {
                [CGROUP_KNOB_WEIGHT] = "CPUWeight",
                [CGROUP_KNOB_CAP] = "CPUQuotaPerSecUSec",
                [CGROUP_KNOB_CPUS] = "AllowedCPUs",
                [CGROUP_KNOB_MEMS] = "AllowedMemoryNodes",
                [CGROUP_KNOB_MEMORY_MAX] = "MemoryMax",
                [CGROUP_KNOB_IO_WEIGHT] = "IOWeight",
                [CGROUP_KNOB_IDLE] = "CPUWeight", /* 0: systemd's CPUWeight=idle */
        };
        return k >= 0 && k < _CGROUP_KNOB_MAX ? props[k] : NULL;
}

static bool knob_is_set(CgroupKnob k) {
        return k == CGROUP_KNOB_CPUS || k == CGROUP_KNOB_MEMS;
}

uint64_t systemd_idle_to_weight(bool idle, uint64_t cur) {
        if (idle)
                return SYSTEMD_WEIGHT_IDLE;
        return cur == SYSTEMD_WEIGHT_IDLE ? SYSTEMD_UNSET : cur;
}

int systemd_cap_to_quota(double percent, uint64_t period_usec, uint64_t *ret) {
        if (!isfinite(percent) || percent < 0)
                return -EINVAL;
        if (percent > CGROUP_CAP_MAX)
                return -ERANGE;
        if (percent == 0) {
                *ret = SYSTEMD_UNSET;
                return 0;
        }
        /* systemd writes cpu.max as quota_per_sec * period / 1 s. */
        uint64_t period = period_usec == SYSTEMD_UNSET || period_usec == 0 ? 100000 : period_usec;
        double per_sec = round(percent * 10000.0);
        if (per_sec * (double) period / 1e6 < 1000)
                return -ERANGE;
        *ret = (uint64_t) per_sec;
        return 0;
}

double systemd_quota_to_cap(uint64_t quota_per_sec_usec) {
        return quota_per_sec_usec == SYSTEMD_UNSET ? 0.0 : (double) quota_per_sec_usec / 10000.0;
}

size_t systemd_cpuset_to_mask(const CpuSet *set, uint8_t *buf, size_t size) {
        size_t n = 0;
        for (size_t i = 0; i < size && i < CPUSET_WORDS * 8; i++) {
                buf[i] = (uint8_t) (set->bits[i / 8] >> ((i % 8) * 8));
                if (buf[i])
                        n = i + 1;
        }
        return n;
}

int systemd_mask_to_cpuset(const uint8_t *buf, size_t n, CpuSet *ret) {
        CpuSet s = {};
        for (size_t i = 0; i < n; i++) {
                if (!buf[i])
                        continue;
                if (i >= CPUSET_WORDS * 8)
                        return -ERANGE;
                s.bits[i / 8] |= (uint64_t) buf[i] << ((i % 8) * 8);
        }
        *ret = s;
        return 0;
}

bool systemd_props_is_saved(const char *s) {
        return s && strneq(s, "unit:", 5);
}

static bool prop_name_ok(const char *s, size_t n) {
        if (n == 0 || n >= sizeof ((UnitProp *) NULL)->name)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

static bool unit_name_ok(const char *s) {
        if (!*s || strlen(s) > 255)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == '/' || (unsigned char) *p >= 0x7f)
                        return false;
        return unit_interface(s, strlen(s)) != NULL;
}

int systemd_props_format(const char *unit, const UnitProp *p, size_t n, char **ret) {
        if (!unit || !unit_name_ok(unit) || n == 0 || n > SYSTEMD_PROPS_MAX)
                return -EINVAL;
        size_t cap = 64 + strlen(unit) + n * (40 + CPUSET_WORDS * 8 * 2);
        _cleanup_free_ char *out = malloc(cap);
        if (!out)
                return -ENOMEM;
        size_t len = (size_t) snprintf(out, cap, "unit:");
        for (size_t i = 0; i < n; i++) {
                if (!prop_name_ok(p[i].name, strlen(p[i].name)))
                        return -EINVAL;
                len += (size_t) snprintf(out + len, cap - len, "%s%s=%s:", i ? "," : "", p[i].name, p[i].is_set ? "ay" : "t");
                if (p[i].is_set) {
                        uint8_t mask[CPUSET_WORDS * 8];
                        size_t m = systemd_cpuset_to_mask(&p[i].set, mask, sizeof mask);
                        for (size_t j = 0; j < m; j++)
                                len += (size_t) snprintf(out + len, cap - len, "%02x", mask[j]);
                } else
                        len += (size_t) snprintf(out + len, cap - len, "%" PRIu64, p[i].u);
        }
        snprintf(out + len, cap - len, " %s", unit);
        *ret = TAKE_PTR(out);
        return 0;
}

static int hexval(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int systemd_props_parse(const char *s, char **ret_unit, UnitProp *ret, size_t *ret_n) {
        if (!systemd_props_is_saved(s))
                return -EINVAL;
        const char *p = s + 5, *sp = strchr(p, ' ');
        if (!sp || !unit_name_ok(sp + 1))
                return -EINVAL;
        UnitProp props[SYSTEMD_PROPS_MAX] = {};
        size_t n = 0;
        while (p < sp) {
                if (n >= SYSTEMD_PROPS_MAX)
                        return -EINVAL;
                size_t len = strcspn(p, ",");
                const char *end = p + len < sp ? p + len : sp;
                const char *eq = memchr(p, '=', (size_t) (end - p));
                if (!eq || !prop_name_ok(p, (size_t) (eq - p)))
                        return -EINVAL;
                memcpy(props[n].name, p, (size_t) (eq - p));
                const char *v = eq + 1;
                if (end - v >= 2 && strneq(v, "t:", 2)) {
                        v += 2;
                        if (v == end || end - v > 20)
                                return -EINVAL;
                        char num[24];
                        memcpy(num, v, (size_t) (end - v));
                        num[end - v] = 0;
                        for (const char *q = num; *q; q++)
                                if (*q < '0' || *q > '9')
                                        return -EINVAL;
                        if (safe_atou64(num, &props[n].u) < 0)
                                return -EINVAL;
                } else if (end - v >= 3 && strneq(v, "ay:", 3)) {
                        v += 3;
                        size_t hex = (size_t) (end - v);
                        if (hex % 2 || hex / 2 > CPUSET_WORDS * 8)
                                return -EINVAL;
                        uint8_t mask[CPUSET_WORDS * 8];
                        for (size_t j = 0; j < hex / 2; j++) {
                                int hi = hexval(v[2 * j]), lo = hexval(v[2 * j + 1]);
                                if (hi < 0 || lo < 0)
                                        return -EINVAL;
                                mask[j] = (uint8_t) (hi << 4 | lo);
                        }
                        props[n].is_set = true;
                        if (systemd_mask_to_cpuset(mask, hex / 2, &props[n].set) < 0)
                                return -EINVAL;
                } else
                        return -EINVAL;
                n++;
                p = end;
                if (p < sp && *p == ',') {
                        p++;
                        if (p == sp)
                                return -EINVAL;
                }
        }
        if (n == 0)
                return -EINVAL;
        char *unit = strdup(sp + 1);
        if (!unit)
                return -ENOMEM;
        if (ret_unit)
                *ret_unit = unit;
        else
                free(unit);
        memcpy(ret, props, n * sizeof *props);
        *ret_n = n;
        return 0;
}

/* ---- D-Bus ---- */

struct SystemdBus {
        sd_bus *bus;
};

/* The message of systemd's last error answer on this thread (one line). */
static _Thread_local char last_message[256];

/* systemd's own error names are not in libsystemd's errno map. */
static int bus_errno(const sd_bus_error *e, int r) {
        static const struct {
                const char *name;
                int err;
        } map[] = {
                { "org.freedesktop.systemd1.NoSuchUnit", ENOENT },
                { "org.freedesktop.systemd1.LoadFailed", ENOENT },
                { "org.freedesktop.systemd1.UnitExists", EEXIST },
                { "org.freedesktop.systemd1.UnitMasked", ERFKILL },
                { "org.freedesktop.systemd1.JobTypeNotApplicable", EBADR },
                { "org.freedesktop.systemd1.TransactionIsDestructive", EDEADLK },
                { "org.freedesktop.DBus.Error.PropertyReadOnly", EROFS },
                { "org.freedesktop.DBus.Error.UnknownProperty", EOPNOTSUPP },
                { "org.freedesktop.DBus.Error.NoReply", ETIMEDOUT },
        };
        if (e && sd_bus_error_is_set(e)) {
                log_debug("systemd: %s: %s", e->name, e->message ?: "");
                /* systemd's words, bounded, on one line. */
                snprintf(last_message, sizeof last_message, "%s", e->message && *e->message ? e->message : e->name);
                for (char *q = last_message; *q; q++)
                        if ((unsigned char) *q < ' ' || *q == 0x7f)
                                *q = ' ';
                for (size_t i = 0; i < ELEMENTSOF(map); i++)
                        if (sd_bus_error_has_name(e, map[i].name))
                                return -map[i].err;
                int k = sd_bus_error_get_errno(e);
                if (k > 0)
                        return -k;
        }
        return r < 0 ? r : -EIO;
}

int systemd_bus_open(SystemdBus **ret) {
        SystemdBus *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        int r = sd_bus_open_system(&b->bus);
        if (r < 0) {
                log_debug("systemd: cannot connect to the system bus: %s", strerror(-r));
                free(b);
                return -ENOTCONN;
        }
        (void) sd_bus_set_method_call_timeout(b->bus, SYSTEMD_CALL_TIMEOUT_USEC);
        *ret = b;
        return 0;
}

void systemd_bus_free(SystemdBus *b) {
        if (!b)
                return;
        sd_bus_flush_close_unref(b->bus);
        free(b);
}

/* LoadUnit → the unit's object path. */
static int unit_path(SystemdBus *b, const char *unit, char **ret) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(b->bus, SD_DEST, SD_PATH, SD_MANAGER, "LoadUnit", &e, &reply, "s", unit);
        if (r < 0) {
                r = bus_errno(&e, r);
                sd_bus_error_free(&e);
                return r;
        }
        const char *path;
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0) {
                *ret = strdup(path);
                r = *ret ? 0 : -ENOMEM;
        }
        sd_bus_message_unref(reply);
        return r;
}

static int get_prop(SystemdBus *b, const char *unit, const char *path, UnitProp *p) {
        const char *iface = unit_interface(unit, strlen(unit));
        if (!iface)
                return -EINVAL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;
        if (!p->is_set) {
                r = sd_bus_get_property_trivial(b->bus, SD_DEST, path, iface, p->name, &e, 't', &p->u);
        } else {
                sd_bus_message *reply = NULL;
                r = sd_bus_get_property(b->bus, SD_DEST, path, iface, p->name, &e, &reply, "ay");
                if (r >= 0) {
                        const void *mask;
                        size_t n;
                        r = sd_bus_message_read_array(reply, 'y', &mask, &n);
                        if (r >= 0)
                                r = systemd_mask_to_cpuset(mask, n, &p->set);
                        sd_bus_message_unref(reply);
                }
        }
        if (r < 0 && sd_bus_error_is_set(&e))
                r = bus_errno(&e, r);
        sd_bus_error_free(&e);
        return r < 0 ? r : 0;
}

int systemd_unit_get_knob(SystemdBus *b, const char *unit, CgroupKnob k, UnitProp *ret, size_t *ret_n) {
        const char *name = systemd_knob_property(k);
        if (!b || !unit || !name || !unit_interface(unit, strlen(unit)))
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = unit_path(b, unit, &path);
        if (r < 0)
                return r;
        UnitProp p[SYSTEMD_PROPS_MAX] = {};
        size_t n = 1;
        snprintf(p[0].name, sizeof p[0].name, "%s", name);
        p[0].is_set = knob_is_set(k);
        if (k == CGROUP_KNOB_CAP) {
                snprintf(p[1].name, sizeof p[1].name, "CPUQuotaPeriodUSec");
                n = 2;
        }
        for (size_t i = 0; i < n; i++) {
                r = get_prop(b, unit, path, &p[i]);
                if (r < 0)
                        return r;
        }
        memcpy(ret, p, n * sizeof *p);
        *ret_n = n;
        return 0;
}

static int append_props(sd_bus_message *m, const UnitProp *p, size_t n) {
        int r = sd_bus_message_open_container(m, 'a', "(sv)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = sd_bus_message_open_container(m, 'r', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", p[i].name);
                if (r >= 0 && p[i].is_set) {
                        uint8_t mask[CPUSET_WORDS * 8];
                        size_t len = systemd_cpuset_to_mask(&p[i].set, mask, sizeof mask);
                        r = sd_bus_message_open_container(m, 'v', "ay");
                        if (r >= 0)
                                r = sd_bus_message_append_array(m, 'y', mask, len);
                        if (r >= 0)
                                r = sd_bus_message_close_container(m);
                } else if (r >= 0)
                        r = sd_bus_message_append(m, "v", "t", p[i].u);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int call(SystemdBus *b, sd_bus_message *m, sd_bus_message **ret_reply) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call(b->bus, m, SYSTEMD_CALL_TIMEOUT_USEC, &e, ret_reply);
        if (r < 0)
                r = bus_errno(&e, r);
        sd_bus_error_free(&e);
        return r;
}

static _Thread_local char last_refusal[512];

const char *systemd_last_refusal(void) {
        return last_refusal[0] ? last_refusal : NULL;
}

int systemd_unit_set(SystemdBus *b, const char *unit, const UnitProp *p, size_t n) {
        last_refusal[0] = 0;
        if (!b || !unit || !unit_name_ok(unit) || n == 0)
                return -EINVAL;
        last_message[0] = 0;
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(b->bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "SetUnitProperties");
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", unit, 1);
        if (r >= 0)
                r = append_props(m, p, n);
        if (r >= 0)
                r = call(b, m, NULL);
        sd_bus_message_unref(m);
        for (size_t i = 0; i < n; i++) {
                if (p[i].is_set) {
                        _cleanup_free_ char *s = cpuset_format(&p[i].set);
                        log_debug("systemd: %s %s=%s: %s", unit, p[i].name, s ?: "?", r < 0 ? strerror(-r) : "ok");
                } else
                        log_debug("systemd: %s %s=%" PRIu64 ": %s", unit, p[i].name, p[i].u,
                                  r < 0 ? strerror(-r) : "ok");
        }
        /* systemd answered no: its reason, for the caller's one line. */
        if (r < 0 && last_message[0]) {
                _cleanup_free_ char *v = p[0].is_set ? cpuset_format(&p[0].set) : NULL;
                char num[32];
                snprintf(num, sizeof num, "%" PRIu64, p[0].u);
                snprintf(last_refusal, sizeof last_refusal, "systemd refused %s=%s%s on %s: %s", p[0].name,
                         p[0].is_set ? (v ?: "?") : num, n > 1 ? " (and more)" : "", unit, last_message);
        }
        return r < 0 ? r : 0;
}

int systemd_unit_delegated(SystemdBus *b, const char *unit, bool *ret) {
        const char *iface = unit ? unit_interface(unit, strlen(unit)) : NULL;
        if (!b || !iface || !ret)
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = unit_path(b, unit, &path);
        if (r < 0)
                return r;
        if (streq(iface, "org.freedesktop.systemd1.Slice")) {
                *ret = false;   /* slices have no Delegate= */
                return 0;
        }
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int v = 0;
        r = sd_bus_get_property_trivial(b->bus, SD_DEST, path, iface, "Delegate", &e, 'b', &v);
        if (r < 0)
                r = bus_errno(&e, r);
        sd_bus_error_free(&e);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int systemd_unit_cgroup(SystemdBus *b, const char *unit, char **ret) {
        const char *iface = unit ? unit_interface(unit, strlen(unit)) : NULL;
        if (!b || !iface || !ret)
                return -EINVAL;
        _cleanup_free_ char *path = NULL;
        int r = unit_path(b, unit, &path);
        if (r < 0)
                return r;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        char *s = NULL;
        r = sd_bus_get_property_string(b->bus, SD_DEST, path, iface, "ControlGroup", &e, &s);
        if (r < 0)
                r = bus_errno(&e, r);
        sd_bus_error_free(&e);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static int append_pids(sd_bus_message *m, const pid_t *pids, size_t n) {
        int r = sd_bus_message_open_container(m, 'a', "u");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(m, "u", (uint32_t) pids[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Wait until pid is in the unit's group (the start job runs after the call
 * returns): SYSTEMD_CALL_TIMEOUT_USEC in all, whatever each bus call takes
 * (a manager that stops answering costs one call's timeout more, not one
 * per try); -ESRCH when the process is gone. */
static int wait_in_unit(SystemdBus *b, const char *unit, pid_t pid) {
        uint64_t end = now_usec() + SYSTEMD_CALL_TIMEOUT_USEC;
        for (;;) {
                _cleanup_free_ char *cg = NULL, *now = NULL;
                int r = systemd_unit_cgroup(b, unit, &cg);
                if (r >= 0 && *cg && cgroup_pid_line_path(NULL, pid, NULL, &now) >= 0 && streq(cg, now))
                        return 0;
                if (kill(pid, 0) < 0 && errno == ESRCH)
                        return -ESRCH;
                if (now_usec() >= end)
                        return r == -ETIMEDOUT ? r : -ETIMEDOUT;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
}

int systemd_scope_start(SystemdBus *b, const char *scope, const char *slice, const pid_t *pids, size_t n) {
        if (!b || !scope || !slice || !pids || n == 0 || !unit_name_ok(scope) || !unit_name_ok(slice))
                return -EINVAL;
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(b->bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", scope, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)", "Slice", "s", slice, "Description", "s",
                                          "xvsched: a domain without a cgroup of its own");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "PIDs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "au");
        if (r >= 0)
                r = append_pids(m, pids, n);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r >= 0)
                r = call(b, m, NULL);
        sd_bus_message_unref(m);
        log_debug("systemd: start %s in %s with pid %d (+%zu): %s", scope, slice, (int) pids[0], n - 1,
                  r < 0 ? strerror(-r) : "ok");
        if (r < 0)
                return r;
        return wait_in_unit(b, scope, pids[0]);
}

int systemd_scope_attach(SystemdBus *b, const char *scope, const pid_t *pids, size_t n) {
        if (!b || !scope || !pids || n == 0 || !unit_name_ok(scope))
                return -EINVAL;
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(b->bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "AttachProcessesToUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", scope, "");
        if (r >= 0)
                r = append_pids(m, pids, n);
        if (r >= 0)
                r = call(b, m, NULL);
        sd_bus_message_unref(m);
        log_debug("systemd: attach pid %d (+%zu) to %s: %s", (int) pids[0], n - 1, scope, r < 0 ? strerror(-r) : "ok");
        return r < 0 ? r : 0;
}

int systemd_unit_stop(SystemdBus *b, const char *unit) {
        if (!b || !unit || !unit_name_ok(unit))
                return -EINVAL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(b->bus, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit", &e, NULL, "ss", unit, "fail");
        if (r < 0)
                r = bus_errno(&e, r);
        sd_bus_error_free(&e);
        log_debug("systemd: stop %s: %s", unit, r < 0 ? strerror(-r) : "ok");
        return r == -ENOENT ? 0 : r < 0 ? r : 0;
}
