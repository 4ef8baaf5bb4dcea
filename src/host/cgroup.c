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

static const char *const knob_table[_CGROUP_KNOB_MAX] = {
        [CGROUP_KNOB_WEIGHT] = "weight",
        [CGROUP_KNOB_CAP] = "cap",
        [CGROUP_KNOB_CPUS] = "cpus",
        [CGROUP_KNOB_MEMS] = "mems",
        [CGROUP_KNOB_MEMORY_MAX] = "memory",
        [CGROUP_KNOB_IO_WEIGHT] = "ioweight",
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
                        log_debug("cgroup: %s is %s", root, h->backend->name);
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
        return DISPATCH(h, knob_path, cg, k, ret);
}

int cgroup_get_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        return DISPATCH(h, get_weight, cg, ret);
}

int cgroup_set_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        if (weight < CGROUP_WEIGHT_MIN || weight > CGROUP_WEIGHT_MAX)
                return -ERANGE;
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
        return DISPATCH(h, set_memory_max, cg, bytes);
}

int cgroup_get_io_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        return DISPATCH(h, get_io_weight, cg, ret);
}

int cgroup_set_io_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        if (weight < CGROUP_WEIGHT_MIN || weight > CGROUP_WEIGHT_MAX)
                return -ERANGE;
        return DISPATCH(h, set_io_weight, cg, weight);
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
        return DISPATCH(h, create, cg);
}

int cgroup_attach_pid(const CgroupHost *h, const char *cg, pid_t pid) {
        if (pid <= 0)
                return -EINVAL;
        return DISPATCH(h, attach_pid, cg, pid);
}

int cgroup_remove(const CgroupHost *h, const char *cg) {
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

/* ---- RT group runtime (CONFIG_RT_GROUP_SCHED) ----
 *
 * Generic over both versions: it only needs the cpu controller's directory
 * and the files cpu.rt_runtime_us / cpu.rt_period_us.  Where they do not
 * exist there is no per-group RT budget and nothing to do. */

static int rt_read(const CgroupHost *h, const char *cg, int64_t *ret_runtime, uint64_t *ret_period) {
        _cleanup_free_ char *line = NULL;
        int64_t rt;
        uint64_t period;
        int r = cgroup_read_line(h, CGROUP_CTRL_CPU, cg, "cpu.rt_runtime_us", &line);
        if (r < 0)
                return r;
        r = safe_atoi64(line, &rt);
        if (r < 0)
                return -EBADMSG;
        r = cgroup_read_u64(h, CGROUP_CTRL_CPU, cg, "cpu.rt_period_us", &period);
        if (r < 0)
                return r == -EINVAL || r == -ERANGE ? -EBADMSG : r;
        if (period == 0)
                return -EBADMSG;
        *ret_runtime = rt;
        *ret_period = period;
        return 0;
}

/* Sum of the RT bandwidth of cg's children other than `skip`, in µs at `period`. */
static int rt_children_sum(const CgroupHost *h, const char *cg, const char *skip, uint64_t period, uint64_t *ret) {
        _cleanup_free_ char *d = NULL;
        int r = cgroup_file(h, CGROUP_CTRL_CPU, cg, NULL, &d);
        if (r < 0)
                return r;
        DIR *dir = opendir(d);
        if (!dir)
                return negative_errno();
        uint64_t sum = 0;
        struct dirent *de;
        r = 0;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.' || (skip && streq(de->d_name, skip)))
                        continue;
                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                _cleanup_free_ char *child = NULL;
                if (asprintf(&child, "%s/%s", streq(cg, "/") ? "" : cg, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                int64_t rt;
                uint64_t cp;
                if (rt_read(h, child, &rt, &cp) < 0 || rt <= 0)
                        continue;
                sum += ((uint64_t) rt * period + cp - 1) / cp;
        }
        closedir(dir);
        if (r < 0)
                return r;
        *ret = sum;
        return 0;
}

/* Split cg into its prefixes: "/a/b" → "/a", "/a/b". */
static int cg_prefixes(const char *cg, char ***ret, size_t *ret_n) {
        size_t n = 0;
        char **v = NULL;
        for (const char *p = cg; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                p += strcspn(p, "/");
                char **nv = realloc(v, (n + 1) * sizeof *v);
                if (!nv)
                        goto oom;
                v = nv;
                v[n] = strndup(cg, (size_t) (p - cg));
                if (!v[n])
                        goto oom;
                n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
oom:
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return -ENOMEM;
}

static void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int cgroup_ensure_rt_runtime(const CgroupHost *h, const char *cg, uint64_t us) {
        if (!h || us == 0 || us > INT64_MAX)
                return -EINVAL;
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        if (!h->ctrl_dir[CGROUP_CTRL_CPU])
                return 0;
        r = cgroup_file_exists(h, CGROUP_CTRL_CPU, "/", "cpu.rt_runtime_us");
        if (r <= 0)
                return r;   /* no RT group scheduling: nothing to grow */

        char **pre;
        size_t n;
        r = cg_prefixes(cg, &pre, &n);
        if (r < 0)
                return r;
        if (n == 0) {
                strv_free_n(pre, n);
                return 0;   /* the root's budget is the global sched_rt_runtime_us */
        }

        int64_t *cur = calloc(n, sizeof *cur);
        uint64_t *period = calloc(n, sizeof *period), *need = calloc(n, sizeof *need);
        int changed = 0;
        if (!cur || !period || !need) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                r = rt_read(h, pre[i], &cur[i], &period[i]);
                if (r < 0)
                        goto finish;
        }

        /* What each level needs, bottom up: the leaf `us` (at least); an
         * ancestor the sum of its other children plus what its child on our
         * path needs, rescaled to its own period. */
        for (size_t j = n; j-- > 0;) {
                uint64_t want;
                if (j == n - 1)
                        want = us;
                else {
                        uint64_t others;
                        const char *child = pre[j + 1] + strlen(pre[j]) + 1;
                        r = rt_children_sum(h, pre[j], child, period[j], &others);
                        if (r < 0)
                                goto finish;
                        want = others + (need[j + 1] * period[j] + period[j + 1] - 1) / period[j + 1];
                }
                need[j] = cur[j] > 0 && (uint64_t) cur[j] > want ? (uint64_t) cur[j] : want;
        }

        /* Grow top down: the kernel checks each write against the parent. */
        for (size_t j = 0; j < n; j++) {
                if (cur[j] >= 0 && need[j] <= (uint64_t) cur[j])
                        continue;
                if (cur[j] < 0)
                        continue;   /* -1: unlimited, nothing to grow */
                char buf[32];
                snprintf(buf, sizeof buf, "%" PRIu64, need[j]);
                r = cgroup_write(h, CGROUP_CTRL_CPU, pre[j], "cpu.rt_runtime_us", buf);
                if (r < 0) {
                        /* Our numbers are well formed: the kernel's EINVAL
                         * here means the parent's budget is spent. */
                        if (r == -EINVAL)
                                r = -EBUSY;
                        /* All or nothing: give back what the upper levels got. */
                        for (size_t u = j; u-- > 0;) {
                                if (cur[u] < 0 || need[u] <= (uint64_t) cur[u])
                                        continue;
                                snprintf(buf, sizeof buf, "%" PRId64, cur[u]);
                                (void) cgroup_write(h, CGROUP_CTRL_CPU, pre[u], "cpu.rt_runtime_us", buf);
                        }
                        goto finish;
                }
                changed++;
        }
        r = changed;
finish:
        free(cur);
        free(period);
        free(need);
        strv_free_n(pre, n);
        return r;
}

int cgroup_rt_runtime_save(const CgroupHost *h, const char *cg, char **ret) {
        if (!h || !ret)
                return -EINVAL;
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        if (!h->ctrl_dir[CGROUP_CTRL_CPU])
                return -EOPNOTSUPP;
        r = cgroup_file_exists(h, CGROUP_CTRL_CPU, "/", "cpu.rt_runtime_us");
        if (r < 0)
                return r;
        if (r == 0)
                return -EOPNOTSUPP;

        char **pre;
        size_t n;
        r = cg_prefixes(cg, &pre, &n);
        if (r < 0)
                return r;
        _cleanup_free_ char *esc = cgroup_escape_path(cg);
        size_t cap = 32 * n + 2;
        _cleanup_free_ char *out = malloc(cap);
        if (!esc || !out) {
                strv_free_n(pre, n);
                return -ENOMEM;
        }
        size_t len = 0;
        out[0] = 0;
        for (size_t i = 0; i < n; i++) {
                int64_t rt;
                uint64_t period;
                r = rt_read(h, pre[i], &rt, &period);
                if (r < 0) {
                        strv_free_n(pre, n);
                        return r;
                }
                len += (size_t) snprintf(out + len, cap - len, "%s%" PRId64, i ? "," : "", rt);
        }
        strv_free_n(pre, n);
        char *res;
        if (asprintf(&res, "%s@%s", out, cg) < 0)
                return -ENOMEM;
        *ret = res;
        return 0;
}

int cgroup_rt_runtime_restore(const CgroupHost *h, const char *saved) {
        if (!h || !saved)
                return -EINVAL;
        const char *at = strchr(saved, '@');
        if (!at)
                return -EINVAL;
        const char *cg = at + 1;
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;

        char **pre;
        size_t n;
        r = cg_prefixes(cg, &pre, &n);
        if (r < 0)
                return r;
        int64_t *v = calloc(n ?: 1, sizeof *v);
        if (!v) {
                strv_free_n(pre, n);
                return -ENOMEM;
        }
        _cleanup_free_ char *nums = strndup(saved, (size_t) (at - saved));
        size_t k = 0;
        if (!nums) {
                r = -ENOMEM;
                goto finish;
        }
        if (*nums) {
                char *save = NULL;
                for (char *t = strtok_r(nums, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        if (k >= n || safe_atoi64(t, &v[k]) < 0) {
                                r = -EINVAL;
                                goto finish;
                        }
                        k++;
                }
        }
        if (k != n) {
                r = -EINVAL;
                goto finish;
        }

        /* Shrink bottom up.  A parent cannot drop below the sum of its
         * children's budgets (the kernel says EINVAL): where a sibling still
         * holds budget, keep the parent at that sum; restoring the sibling's
         * own save later takes it the rest of the way.  Try every level and
         * report the first failure. */
        r = 0;
        for (size_t j = n; j-- > 0;) {
                int64_t cur, target = v[j];
                uint64_t period, sum;
                int q = rt_read(h, pre[j], &cur, &period);
                if (q >= 0 && target >= 0 && rt_children_sum(h, pre[j], NULL, period, &sum) >= 0 &&
                    sum > (uint64_t) target && sum <= INT64_MAX)
                        target = (int64_t) sum;
                if (q >= 0 && cur == target)
                        continue;
                char buf[32];
                snprintf(buf, sizeof buf, "%" PRId64, target);
                q = cgroup_write(h, CGROUP_CTRL_CPU, pre[j], "cpu.rt_runtime_us", buf);
                if (q < 0 && r == 0)
                        r = q;
        }
finish:
        free(v);
        strv_free_n(pre, n);
        return r;
}
