/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cgroup front end: host detection, the one weight scale, path helpers
 * and dispatch into the v1/v2 backends. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "host/cgroup-internal.h"
#include "host/systemd-unit.h"

static const char *const knob_table[_CGROUP_KNOB_MAX] = {
        [CGROUP_KNOB_WEIGHT] = "weight",
        [CGROUP_KNOB_CAP] = "cap",
        [CGROUP_KNOB_CPUS] = "cpus",
        [CGROUP_KNOB_MEMS] = "mems",
        [CGROUP_KNOB_MEMORY_MAX] = "memory",
        [CGROUP_KNOB_IO_WEIGHT] = "ioweight",
        [CGROUP_KNOB_IDLE] = "idle",
};

const char *cgroup_knob_to_string(CgroupKnob k) {
        return k >= 0 && k < _CGROUP_KNOB_MAX ? knob_table[k] : NULL;
}

CgroupKnob cgroup_knob_from_string(const char *s) {
        if (!s)
                return _CGROUP_KNOB_INVALID;
        for (int i = 0; i < _CGROUP_KNOB_MAX; i++)
                if (streq(s, knob_table[i]))
                        return (CgroupKnob) i;
        return _CGROUP_KNOB_INVALID;
}

static const char *const controller_table[_CGROUP_CTRL_MAX] = {
        [CGROUP_CTRL_CPU] = "cpu",
        [CGROUP_CTRL_CPUACCT] = "cpuacct",
        [CGROUP_CTRL_CPUSET] = "cpuset",
        [CGROUP_CTRL_MEMORY] = "memory",
        [CGROUP_CTRL_BLKIO] = "blkio",
};

const char *cgroup_controller_to_string(CgroupController c) {
        return c >= 0 && c < _CGROUP_CTRL_MAX ? controller_table[c] : NULL;
}

CgroupController cgroup_controller_from_string(const char *s) {
        for (int i = 0; s && i < _CGROUP_CTRL_MAX; i++)
                if (streq(s, controller_table[i]))
                        return (CgroupController) i;
        return (CgroupController) -1;
}

/* ---- the one scale ---- */

uint64_t cgroup_weight_to_shares(unsigned weight) {
        uint64_t s = (uint64_t) weight * 1024 / 100;
        return s < 2 ? 2 : s > 262144 ? 262144 : s;
}

unsigned cgroup_shares_to_weight(uint64_t shares) {
        if (shares > UINT64_MAX / 100 - 512)
                return CGROUP_WEIGHT_MAX;
        uint64_t w = (shares * 100 + 512) / 1024;   /* round to nearest */
        return w < CGROUP_WEIGHT_MIN ? CGROUP_WEIGHT_MIN : w > CGROUP_WEIGHT_MAX ? CGROUP_WEIGHT_MAX : (unsigned) w;
}

unsigned cgroup_io_weight_to_blkio(unsigned weight) {
        uint64_t b = (uint64_t) weight * 5;
        return b < 10 ? 10 : b > 1000 ? 1000 : (unsigned) b;
}

unsigned cgroup_blkio_to_io_weight(unsigned blkio) {
        unsigned w = (blkio + 2) / 5;   /* round to nearest */
        return w < CGROUP_WEIGHT_MIN ? CGROUP_WEIGHT_MIN : w > CGROUP_WEIGHT_MAX ? CGROUP_WEIGHT_MAX : w;
}

/* ---- paths ---- */

int cgroup_path_check(const char *cg) {
        if (!cg || cg[0] != '/')
                return -EINVAL;
        for (const char *p = cg; *p;) {
                while (*p == '/')
                        p++;
                size_t n = strcspn(p, "/");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return -EINVAL;
                p += n;
        }
        return 0;
}

int cgroup_file(const CgroupHost *h, CgroupController c, const char *cg, const char *file, char **ret) {
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        if (c < 0 || c >= _CGROUP_CTRL_MAX)
                return -EINVAL;
        const char *dir = h->ctrl_dir[c];
        if (!dir)
                return -ENOENT;

        size_t n = strlen(cg);
        while (n > 0 && cg[n - 1] == '/')
                n--;
        char *p;
        if (asprintf(&p, "%s%.*s%s%s", dir, (int) n, cg, file ? "/" : "", file ?: "") < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int cgroup_read_line(const CgroupHost *h, CgroupController c, const char *cg, const char *file, char **ret) {
        _cleanup_free_ char *p = NULL, *line = NULL;
        int r = cgroup_file(h, c, cg, file, &p);
        if (r < 0)
                return r;
        r = read_one_line(p, &line);
        if (r < 0)
                return r;
        strstrip(line);
        *ret = TAKE_PTR(line);
        return 0;
}

int cgroup_read_u64(const CgroupHost *h, CgroupController c, const char *cg, const char *file, uint64_t *ret) {
        _cleanup_free_ char *line = NULL;
        int r = cgroup_read_line(h, c, cg, file, &line);
        if (r < 0)
                return r;
        return safe_atou64(line, ret);
}

/* Like write_string_file(), plus O_TRUNC: cgroupfs ignores it, and it makes
 * fixture trees (regular files) behave like the kernel's files. */
static int write_value(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        size_t n = strlen(value);
        ssize_t k;
        do
                k = write(fd, value, n);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        return (size_t) k == n ? 0 : -EIO;
}

int cgroup_write(const CgroupHost *h, CgroupController c, const char *cg, const char *file, const char *value) {
        _cleanup_free_ char *p = NULL;
        int r = cgroup_file(h, c, cg, file, &p);
        if (r < 0)
                return r;
        r = write_value(p, value);
        log_debug("cgroup: write '%s' to %s: %s", value, p, r < 0 ? strerror(-r) : "ok");
        return r;
}

int cgroup_file_exists(const CgroupHost *h, CgroupController c, const char *cg, const char *file) {
        _cleanup_free_ char *d = NULL, *p = NULL;
        int r = cgroup_file(h, c, cg, NULL, &d);
        if (r < 0)
                return r;
        r = cgroup_file(h, c, cg, file, &p);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(d, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (stat(p, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 1;
}

int cgroup_read_raw(const CgroupHost *h, CgroupController c, const char *cg, const char *file, char **ret) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        int r = cgroup_file(h, c, cg, file, &p);
        if (r < 0)
                return r;
        r = read_full_file(p, 1 << 16, &buf, NULL);
        if (r < 0)
                return r;
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        for (char *q = buf; *q; q++) {
                if (*q == '\n')
                        *q = ';';
                else if ((unsigned char) *q < ' ' && *q != '\t')
                        return -EBADMSG;   /* not something we can keep printable */
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

int cgroup_write_raw(const CgroupHost *h, CgroupController c, const char *cg, const char *file, const char *raw) {
        if (!raw)
                return -EINVAL;
        if (!*raw)
                return cgroup_write(h, c, cg, file, "\n");
        for (const char *p = raw; *p;) {
                size_t n = strcspn(p, ";");
                _cleanup_free_ char *line = strndup(p, n);
                if (!line)
                        return -ENOMEM;
                int r = cgroup_write(h, c, cg, file, line);
                if (r < 0)
                        return r;
                p += n;
                if (*p == ';')
                        p++;
        }
        return 0;
}

int cgroup_mkdir_p(const CgroupHost *h, CgroupController c, const char *cg,
                   int (*hook)(const CgroupHost *h, const char *cg_prefix, void *userdata), void *userdata) {
        _cleanup_free_ char *copy = strdup(cg);
        if (!copy)
                return -ENOMEM;
        size_t len = strlen(copy);
        for (size_t i = 1; i <= len; i++) {
                if (copy[i] != '/' && copy[i] != 0)
                        continue;
                if (copy[i - 1] == '/')
                        continue;   /* "//" or the root */
                char saved = copy[i];
                copy[i] = 0;
                _cleanup_free_ char *d = NULL;
                int r = cgroup_file(h, c, copy, NULL, &d);
                if (r < 0)
                        return r;
                if (mkdir(d, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                if (hook) {
                        r = hook(h, copy, userdata);
                        if (r < 0)
                                return r;
                }
                copy[i] = saved;
        }
        return 0;
}

static bool line_matches(const char *controller, const char *controllers, const char *hier_id) {
        if (!controller)
                return streq(hier_id, "0") && !*controllers;
        for (const char *p = controllers; *p;) {
                size_t n = strcspn(p, ",");
                if (n == strlen(controller) && strneq(p, controller, n))
                        return true;
                p += n;
                if (*p == ',')
                        p++;
        }
        return false;
}

char *cgroup_parent(const char *cg) {
        size_t n = strlen(cg);
        while (n > 1 && cg[n - 1] == '/')
                n--;
        while (n > 0 && cg[n - 1] != '/')
                n--;
        while (n > 1 && cg[n - 1] == '/')
                n--;
        return n <= 1 ? strdup("/") : strndup(cg, n);
}

int cgroup_pid_line_path(const char *proc_root, pid_t pid, const char *controller, char **ret) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        if (pid <= 0)
                return -EINVAL;
        if (asprintf(&p, "%s/%d/cgroup", proc_root ?: "/proc", (int) pid) < 0)
                return -ENOMEM;
        int r = read_full_file(p, 1 << 20, &buf, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;

        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* "ID:CONTROLLERS:PATH"; PATH may itself contain ':' */
                char *c1 = strchr(line, ':');
                if (!c1)
                        return -EBADMSG;
                char *c2 = strchr(c1 + 1, ':');
                if (!c2 || c2[1] != '/')
                        return -EBADMSG;
                *c1 = *c2 = 0;
                unsigned id;
                if (safe_atou(line, &id) < 0)
                        return -EBADMSG;
                if (!line_matches(controller, c1 + 1, line))
                        continue;
                char *path = c2 + 1;
                size_t n = strlen(path);
                static const char deleted[] = " (deleted)";
                if (n >= sizeof deleted && streq(path + n - (sizeof deleted - 1), deleted))
                        path[n - (sizeof deleted - 1)] = 0;
                char *res = strdup(path);
                if (!res)
                        return -ENOMEM;
                *ret = res;
                return 0;
        }
        return -ENODATA;
}

char *cgroup_escape_path(const char *p) {
        char *r = malloc(strlen(p) * 2 + 1), *o = r;
        if (!r)
                return NULL;
        for (; *p; p++) {
                if (*p == ';' || *p == '\\')
                        *o++ = '\\';
                *o++ = *p;
        }
        *o = 0;
        return r;
}

char *cgroup_unescape_next(const char **pp) {
        const char *p = *pp;
        char *r = malloc(strlen(p) + 1), *o = r;
        if (!r)
                return NULL;
        for (; *p && *p != ';'; p++) {
                if (*p == '\\' && p[1])
                        p++;
                *o++ = *p;
        }
        *o = 0;
        *pp = *p == ';' ? p + 1 : p;
        return r;
}

/* ---- the host ---- */

int cgroup_host_open(const char *root, CgroupHost **ret) {
        static const CgroupBackend *const backends[] = { &cgroup_v2_backend, &cgroup_v1_backend };
        if (!root || !ret)
                return -EINVAL;

        struct stat st;
        if (stat(root, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        for (size_t i = 0; i < ELEMENTSOF(backends); i++) {
                CgroupHost *h = calloc(1, sizeof *h);
                if (!h)
                        return -ENOMEM;
                h->root = strdup(root);
                if (!h->root) {
                        cgroup_host_free(h);
                        return -ENOMEM;
                }
                size_t n = strlen(h->root);
                while (n > 1 && h->root[n - 1] == '/')
                        h->root[--n] = 0;
                h->backend = backends[i];
                int r = backends[i]->open(h);
                if (r >= 0) {
                        (void) cgroup_sd_open(h);
                        log_debug("cgroup: %s is %s%s", root, h->backend->name, h->sd_bus ? " (systemd's)" : "");
                        *ret = h;
                        return 0;
                }
                cgroup_host_free(h);
                if (r != -ENOMEDIUM)
                        return r;
        }
        return -ENOMEDIUM;
}

void cgroup_host_free(CgroupHost *h) {
        if (!h)
                return;
        for (size_t i = 0; i < _CGROUP_CTRL_MAX; i++)
                free(h->ctrl_dir[i]);
        systemd_bus_free(h->sd_bus);
        free(h->root);
        free(h);
}

CgroupVersion cgroup_host_version(const CgroupHost *h) {
        return h->backend->version;
}

const char *cgroup_host_root(const CgroupHost *h) {
        return h->root;
}

#define DISPATCH(h, slot, ...)                                                  \
        ({                                                                      \
                int _r;                                                         \
                if (!(h))                                                       \
                        _r = -EINVAL;                                           \
                else if (!(h)->backend->slot) {                                 \
                        log_debug("cgroup %s: %s not supported", (h)->backend->name, #slot); \
                        _r = -EOPNOTSUPP;                                       \
                } else                                                          \
                        _r = (h)->backend->slot((h), __VA_ARGS__);              \
                _r;                                                             \
        })

int cgroup_pid_path(const CgroupHost *h, const char *proc_root, pid_t pid, char **ret) {
        if (!h || !ret)
                return -EINVAL;
        return cgroup_pid_line_path(proc_root, pid, h->backend->pid_controller, ret);
}

int cgroup_host_procs_path(const CgroupHost *h, const char *cg, char **ret) {
        if (!h || !ret)
                return -EINVAL;
        return cgroup_file(h, CGROUP_CTRL_CPU, cg, "cgroup.procs", ret);
}

int cgroup_knob_path(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        if (k < 0 || k >= _CGROUP_KNOB_MAX)
                return -EINVAL;
        if (k == CGROUP_KNOB_IDLE && h) /* the same name on v1 and v2 */
                return cgroup_file(h, CGROUP_CTRL_CPU, cg, "cpu.idle", ret);
        return DISPATCH(h, knob_path, cg, k, ret);
}

int cgroup_get_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        return DISPATCH(h, get_weight, cg, ret);
}

int cgroup_set_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        if (weight < CGROUP_WEIGHT_MIN || weight > CGROUP_WEIGHT_MAX)
                return -ERANGE;
        int r = h ? cgroup_route_set(h, cg, CGROUP_KNOB_WEIGHT, &(CgroupValue) { .u = weight }) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, set_weight, cg, weight);
}

int cgroup_get_cap(const CgroupHost *h, const char *cg, double *ret_percent) {
        return DISPATCH(h, get_cap, cg, ret_percent);
}

int cgroup_set_cap(const CgroupHost *h, const char *cg, double percent) {
        if (!isfinite(percent) || percent < 0)
                return -EINVAL;
        if (percent > CGROUP_CAP_MAX)
                return -ERANGE;
        int r = h ? cgroup_route_set(h, cg, CGROUP_KNOB_CAP, &(CgroupValue) { .cap = percent }) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, set_cap, cg, percent);
}

static int get_cpuset(const CgroupHost *h, const char *cg, const char *file, CpuSet *ret) {
        if (!h || !ret)
                return -EINVAL;
        _cleanup_free_ char *line = NULL;
        int r = cgroup_read_line(h, CGROUP_CTRL_CPUSET, cg, file, &line);
        if (r < 0)
                return r;
        return cpuset_parse(line, ret);
}

static int set_cpuset(const CgroupHost *h, const char *cg, const char *file, const CpuSet *set) {
        if (!h || !set)
                return -EINVAL;
        int r = cgroup_route_set(h, cg, streq(file, "cpuset.cpus") ? CGROUP_KNOB_CPUS : CGROUP_KNOB_MEMS,
                                 &(CgroupValue) { .set = set });
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_free_ char *s = cpuset_format(set);
        if (!s)
                return -ENOMEM;
        return cgroup_write(h, CGROUP_CTRL_CPUSET, cg, file, *s ? s : "\n");
}

int cgroup_get_cpus(const CgroupHost *h, const char *cg, CpuSet *ret) {
        return get_cpuset(h, cg, "cpuset.cpus", ret);
}

int cgroup_set_cpus(const CgroupHost *h, const char *cg, const CpuSet *set) {
        return set_cpuset(h, cg, "cpuset.cpus", set);
}

int cgroup_get_mems(const CgroupHost *h, const char *cg, CpuSet *ret) {
        return get_cpuset(h, cg, "cpuset.mems", ret);
}

int cgroup_set_mems(const CgroupHost *h, const char *cg, const CpuSet *set) {
        return set_cpuset(h, cg, "cpuset.mems", set);
}

int cgroup_get_memory_max(const CgroupHost *h, const char *cg, uint64_t *ret) {
        return DISPATCH(h, get_memory_max, cg, ret);
}

int cgroup_set_memory_max(const CgroupHost *h, const char *cg, uint64_t bytes) {
        int r = h ? cgroup_route_set(h, cg, CGROUP_KNOB_MEMORY_MAX, &(CgroupValue) { .u = bytes }) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, set_memory_max, cg, bytes);
}

int cgroup_get_io_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        return DISPATCH(h, get_io_weight, cg, ret);
}

int cgroup_set_io_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        if (weight < CGROUP_WEIGHT_MIN || weight > CGROUP_WEIGHT_MAX)
                return -ERANGE;
        int r = h ? cgroup_route_set(h, cg, CGROUP_KNOB_IO_WEIGHT, &(CgroupValue) { .u = weight }) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, set_io_weight, cg, weight);
}

int cgroup_get_idle(const CgroupHost *h, const char *cg, bool *ret) {
        if (!h || !ret)
                return -EINVAL;
        uint64_t v;
        int r = cgroup_read_u64(h, CGROUP_CTRL_CPU, cg, "cpu.idle", &v);
        if (r < 0)
                return r;
        if (v > 1)
                return -ERANGE;
        *ret = v == 1;
        return 0;
}

int cgroup_set_idle(const CgroupHost *h, const char *cg, bool idle) {
        if (!h)
                return -EINVAL;
        int r = cgroup_route_set(h, cg, CGROUP_KNOB_IDLE, &(CgroupValue) { .u = idle });
        if (r != 0)
                return r < 0 ? r : 0;
        return cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.idle", idle ? "1" : "0");
}

int cgroup_idle_check(const CgroupHost *h, const char *cg) {
        if (!h)
                return -EINVAL;
        int r = cgroup_file_exists(h, CGROUP_CTRL_CPU, cg, "cpu.idle");
        if (r != 0)
                return r < 0 ? r : 0;
        /* No cpu.idle: a kernel without it when the group has the cpu
         * controller's other files (v1 always; v2 once cpu is enabled). */
        r = cgroup_file_exists(h, CGROUP_CTRL_CPU, cg, h->backend->version == CGROUP_V1 ? "cpu.shares" : "cpu.weight");
        if (r < 0)
                return r;
        return r > 0 ? -EOPNOTSUPP : 0;
}

static CgroupController knob_controller(CgroupKnob k) {
        switch (k) {
        case CGROUP_KNOB_CPUS:
        case CGROUP_KNOB_MEMS:
                return CGROUP_CTRL_CPUSET;
        case CGROUP_KNOB_MEMORY_MAX:
                return CGROUP_CTRL_MEMORY;
        case CGROUP_KNOB_IO_WEIGHT:
                return CGROUP_CTRL_BLKIO;
        default:
                return CGROUP_CTRL_CPU;
        }
}

/* The generic raw form: the lines of the knob's file, joined by ';'. */
static int knob_file_name(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        _cleanup_free_ char *p = NULL;
        int r = cgroup_knob_path(h, cg, k, &p);
        if (r < 0)
                return r;
        const char *slash = strrchr(p, '/');
        char *name = strdup(slash ? slash + 1 : p);
        if (!name)
                return -ENOMEM;
        *ret = name;
        return 0;
}

int cgroup_knob_save(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        if (!h || !ret || k < 0 || k >= _CGROUP_KNOB_MAX)
                return -EINVAL;
        int q = cgroup_route_save(h, cg, k, ret);
        if (q != 0)
                return q < 0 ? q : 0;
        if (h->backend->knob_save) {
                int r = h->backend->knob_save(h, cg, k, ret);
                if (r != -EOPNOTSUPP)
                        return r;
        }
        _cleanup_free_ char *name = NULL;
        int r = knob_file_name(h, cg, k, &name);
        if (r < 0)
                return r;
        return cgroup_read_raw(h, knob_controller(k), cg, name, ret);
}

int cgroup_knob_restore(const CgroupHost *h, const char *cg, CgroupKnob k, const char *saved) {
        if (!h || !saved || k < 0 || k >= _CGROUP_KNOB_MAX)
                return -EINVAL;
        int q = cgroup_route_restore(h, cg, k, saved);
        if (q != 0)
                return q < 0 ? q : 0;
        if (h->backend->knob_restore) {
                int r = h->backend->knob_restore(h, cg, k, saved);
                if (r != -EOPNOTSUPP)
                        return r;
        }
        _cleanup_free_ char *name = NULL;
        int r = knob_file_name(h, cg, k, &name);
        if (r < 0)
                return r;
        return cgroup_write_raw(h, knob_controller(k), cg, name, saved);
}

int cgroup_get_cpu_usage_ns(const CgroupHost *h, const char *cg, uint64_t *ret) {
        return DISPATCH(h, get_cpu_usage_ns, cg, ret);
}

int cgroup_create(const CgroupHost *h, const char *cg) {
        int r = h ? cgroup_scope_create(h, cg) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, create, cg);
}

int cgroup_attach_pid(const CgroupHost *h, const char *cg, pid_t pid) {
        if (pid <= 0)
                return -EINVAL;
        int r = h ? cgroup_scope_attach(h, cg, pid) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, attach_pid, cg, pid);
}

int cgroup_remove(const CgroupHost *h, const char *cg) {
        int r = h ? cgroup_scope_remove(h, cg) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return DISPATCH(h, remove, cg);
}

int cgroup_pid_save_paths(const CgroupHost *h, const char *proc_root, pid_t pid, char **ret) {
        if (pid <= 0)
                return -EINVAL;
        return DISPATCH(h, pid_save_paths, proc_root, pid, ret);
}

int cgroup_attach_pid_saved(const CgroupHost *h, pid_t pid, const char *saved) {
        if (pid <= 0 || !saved)
                return -EINVAL;
        return DISPATCH(h, attach_pid_saved, pid, saved);
}
