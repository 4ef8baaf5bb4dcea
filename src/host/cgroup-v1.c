/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup v1: one hierarchy per controller, ROOT/<controller> (or a
 * co-mount such as ROOT/cpu,cpuacct, usually with symlinks). */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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

/* A file every hierarchy of that controller has, to tell it from a stray directory. */
static const char *const signature[_CGROUP_CTRL_MAX] = {
        [CGROUP_CTRL_CPU] = "cpu.shares",
        [CGROUP_CTRL_CPUACCT] = "cpuacct.usage",
        [CGROUP_CTRL_CPUSET] = "cpuset.cpus",
        [CGROUP_CTRL_MEMORY] = "memory.limit_in_bytes",
        [CGROUP_CTRL_BLKIO] = "cgroup.procs",
};

/* Smallest v1 memory limit value that means "unlimited" (PAGE_COUNTER_MAX
 * times the page size, for any page size up to 2 MiB). */
#define V1_MEMORY_UNLIMITED (UINT64_C(0x7fffffffffffffff) & ~((UINT64_C(1) << 21) - 1))

static bool is_hierarchy(const char *dir, CgroupController c) {
        _cleanup_free_ char *p = NULL;
        struct stat st;
        if (asprintf(&p, "%s/%s", dir, signature[c]) < 0)
                return false;
        return stat(dir, &st) >= 0 && S_ISDIR(st.st_mode) && access(p, F_OK) >= 0;
}

static bool name_lists(const char *name, const char *controller) {
        for (const char *p = name; *p;) {
                size_t n = strcspn(p, ",");
                if (n == strlen(controller) && strneq(p, controller, n))
                        return true;
                p += n;
                if (*p == ',')
                        p++;
        }
        return false;
}

static int find_controller(const char *root, CgroupController c, char **ret) {
        const char *name = cgroup_controller_to_string(c);
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", root, name) < 0)
                return -ENOMEM;
        if (!is_hierarchy(p, c)) {
                /* a co-mount without the usual symlinks: "cpu,cpuacct" */
                free(p);
                p = NULL;
                DIR *d = opendir(root);
                if (!d)
                        return negative_errno();
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (!strchr(de->d_name, ',') || !name_lists(de->d_name, name))
                                continue;
                        if (asprintf(&p, "%s/%s", root, de->d_name) < 0) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        if (is_hierarchy(p, c))
                                break;
                        free(p);
                        p = NULL;
                }
                closedir(d);
                if (!p)
                        return 0;
        }
        /* Canonical so co-mounted controllers compare equal. */
        char *real = realpath(p, NULL);
        *ret = real ?: TAKE_PTR(p);
        return 1;
}

static int v1_open(CgroupHost *h) {
        for (CgroupController c = 0; c < _CGROUP_CTRL_MAX; c++) {
                int r = find_controller(h->root, c, &h->ctrl_dir[c]);
                if (r < 0)
                        return r;
                for (CgroupController e = 0; r > 0 && e < c; e++)
                        if (h->ctrl_dir[e] && streq(h->ctrl_dir[e], h->ctrl_dir[c]))
                                h->ctrl_dup[c] = true;
        }
        if (!h->ctrl_dir[CGROUP_CTRL_CPU])
                return -ENOMEDIUM;
        return 0;
}

/* Which io weight file this group has: 1 blkio.weight, 2 blkio.bfq.weight. */
static int io_file(const CgroupHost *h, const char *cg, const char **ret) {
        int r = cgroup_file_exists(h, CGROUP_CTRL_BLKIO, cg, "blkio.weight");
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = "blkio.weight";
                return 1;
        }
        r = cgroup_file_exists(h, CGROUP_CTRL_BLKIO, cg, "blkio.bfq.weight");
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = "blkio.bfq.weight";
                return 2;
        }
        return -EOPNOTSUPP;
}

static int v1_knob_path(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        switch (k) {
        case CGROUP_KNOB_WEIGHT:
                return cgroup_file(h, CGROUP_CTRL_CPU, cg, "cpu.shares", ret);
        case CGROUP_KNOB_CAP:
                return cgroup_file(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_quota_us", ret);
        case CGROUP_KNOB_CPUS:
                return cgroup_file(h, CGROUP_CTRL_CPUSET, cg, "cpuset.cpus", ret);
        case CGROUP_KNOB_MEMS:
                return cgroup_file(h, CGROUP_CTRL_CPUSET, cg, "cpuset.mems", ret);
        case CGROUP_KNOB_MEMORY_MAX:
                return cgroup_file(h, CGROUP_CTRL_MEMORY, cg, "memory.limit_in_bytes", ret);
        case CGROUP_KNOB_IO_WEIGHT: {
                const char *f;
                int r = io_file(h, cg, &f);
                if (r < 0)
                        return r;
                return cgroup_file(h, CGROUP_CTRL_BLKIO, cg, f, ret);
        }
        default:
                return -EINVAL;
        }
}

static int v1_get_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        uint64_t shares;
        int r = cgroup_read_u64(h, CGROUP_CTRL_CPU, cg, "cpu.shares", &shares);
        if (r < 0)
                return r;
        *ret = cgroup_shares_to_weight(shares);
        return 0;
}

static int v1_set_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRIu64, cgroup_weight_to_shares(weight));
        return cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.shares", buf);
}

static int read_quota_period(const CgroupHost *h, const char *cg, int64_t *ret_quota, uint64_t *ret_period) {
        _cleanup_free_ char *q = NULL;
        int64_t quota;
        uint64_t period;
        int r = cgroup_read_line(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_quota_us", &q);
        if (r < 0)
                return r;
        r = safe_atoi64(q, &quota);
        if (r < 0)
                return r;
        if (quota < -1 || quota == 0)
                return -EBADMSG;
        r = cgroup_read_u64(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_period_us", &period);
        if (r < 0)
                return r;
        if (period == 0)
                return -EBADMSG;
        *ret_quota = quota;
        *ret_period = period;
        return 0;
}

static int v1_get_cap(const CgroupHost *h, const char *cg, double *ret) {
        int64_t quota;
        uint64_t period;
        int r = read_quota_period(h, cg, &quota, &period);
        if (r < 0)
                return r;
        *ret = quota < 0 ? 0.0 : (double) quota * 100.0 / (double) period;
        return 0;
}

static int v1_set_cap(const CgroupHost *h, const char *cg, double percent) {
        int64_t quota;
        uint64_t period;
        int r = read_quota_period(h, cg, &quota, &period);
        if (r < 0)
                return r;
        if (percent == 0)
                return cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_quota_us", "-1");
        double q = round(percent * (double) period / 100.0);
        if (q < 1000 || q > (double) INT64_MAX / 2)
                return -ERANGE;   /* the kernel's minimum quota is 1 ms */
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRId64, (int64_t) q);
        return cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_quota_us", buf);
}

static int v1_get_memory_max(const CgroupHost *h, const char *cg, uint64_t *ret) {
        uint64_t v;
        int r = cgroup_read_u64(h, CGROUP_CTRL_MEMORY, cg, "memory.limit_in_bytes", &v);
        if (r < 0)
                return r;
        *ret = v >= V1_MEMORY_UNLIMITED ? UINT64_MAX : v;
        return 0;
}

static int v1_set_memory_max(const CgroupHost *h, const char *cg, uint64_t bytes) {
        char buf[32];
        if (bytes == UINT64_MAX)
                return cgroup_write(h, CGROUP_CTRL_MEMORY, cg, "memory.limit_in_bytes", "-1");
        if (bytes > INT64_MAX)
                return -ERANGE;
        snprintf(buf, sizeof buf, "%" PRIu64, bytes);
        return cgroup_write(h, CGROUP_CTRL_MEMORY, cg, "memory.limit_in_bytes", buf);
}

static int v1_get_io_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        const char *f;
        unsigned v;
        int r = io_file(h, cg, &f);
        if (r < 0)
                return r;
        int which = r;
        _cleanup_free_ char *line = NULL;
        r = cgroup_read_line(h, CGROUP_CTRL_BLKIO, cg, f, &line);
        if (r < 0)
                return r;
        r = safe_atou(line, &v);
        if (r < 0)
                return r;
        if (which == 1)
                *ret = cgroup_blkio_to_io_weight(v);
        else
                *ret = MAX(MIN(v, CGROUP_WEIGHT_MAX), CGROUP_WEIGHT_MIN);
        return 0;
}

static int v1_set_io_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        const char *f;
        int r = io_file(h, cg, &f);
        if (r < 0)
                return r;
        char buf[32];
        snprintf(buf, sizeof buf, "%u", r == 1 ? cgroup_io_weight_to_blkio(weight) : MAX(MIN(weight, 1000u), 1u));
        return cgroup_write(h, CGROUP_CTRL_BLKIO, cg, f, buf);
}

/* The cap is two files: save "QUOTA PERIOD", restore both. */
static int v1_knob_save(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        if (k != CGROUP_KNOB_CAP)
                return -EOPNOTSUPP;
        int64_t quota;
        uint64_t period;
        int r = read_quota_period(h, cg, &quota, &period);
        if (r < 0)
                return r;
        char *s;
        if (asprintf(&s, "%" PRId64 " %" PRIu64, quota, period) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int v1_knob_restore(const CgroupHost *h, const char *cg, CgroupKnob k, const char *saved) {
        if (k != CGROUP_KNOB_CAP)
                return -EOPNOTSUPP;
        _cleanup_free_ char *copy = strdup(saved);
        if (!copy)
                return -ENOMEM;
        char *sp = strchr(copy, ' ');
        if (!sp)
                return -EINVAL;
        *sp = 0;
        int64_t quota;
        uint64_t period;
        if (safe_atoi64(copy, &quota) < 0 || safe_atou64(sp + 1, &period) < 0 ||
            quota < -1 || quota == 0 || period == 0)
                return -EINVAL;
        /* Lift the quota first so the period change cannot clash with it
         * (or with the parent's bandwidth), then put both back. */
        int r = cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_quota_us", "-1");
        if (r < 0)
                return r;
        r = cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_period_us", sp + 1);
        if (r < 0)
                return r;
        if (quota == -1)
                return 0;
        return cgroup_write(h, CGROUP_CTRL_CPU, cg, "cpu.cfs_quota_us", copy);
}

static int v1_get_cpu_usage_ns(const CgroupHost *h, const char *cg, uint64_t *ret) {
        return cgroup_read_u64(h, CGROUP_CTRL_CPUACCT, cg, "cpuacct.usage", ret);
}

/* A v1 cpuset group starts with empty cpus and mems, and no task can join
 * it until both are set: inherit the parent's. */
static int cpuset_fill(const CgroupHost *h, const char *cg, void *userdata _unused_) {
        static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
        _cleanup_free_ char *parent = cgroup_parent(cg);
        if (!parent)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *cur = NULL, *up = NULL;
                int r = cgroup_read_line(h, CGROUP_CTRL_CPUSET, cg, files[i], &cur);
                if (r == -ENOENT)
                        continue;   /* not a cpuset hierarchy (fixtures) */
                if (r < 0)
                        return r;
                if (*cur)
                        continue;
                r = cgroup_read_line(h, CGROUP_CTRL_CPUSET, parent, files[i], &up);
                if (r < 0)
                        return r;
                r = cgroup_write(h, CGROUP_CTRL_CPUSET, cg, files[i], *up ? up : "\n");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v1_create(const CgroupHost *h, const char *cg) {
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        for (CgroupController c = 0; c < _CGROUP_CTRL_MAX; c++) {
                if (!h->ctrl_dir[c] || h->ctrl_dup[c])
                        continue;
                r = cgroup_mkdir_p(h, c, cg, c == CGROUP_CTRL_CPUSET ? cpuset_fill : NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v1_attach_pid(const CgroupHost *h, const char *cg, pid_t pid) {
        char buf[32];
        int ret = 0;
        snprintf(buf, sizeof buf, "%d", (int) pid);
        for (CgroupController c = 0; c < _CGROUP_CTRL_MAX; c++) {
                if (!h->ctrl_dir[c] || h->ctrl_dup[c])
                        continue;
                int r = cgroup_write(h, c, cg, "cgroup.procs", buf);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

static int v1_remove(const CgroupHost *h, const char *cg) {
        int ret = cgroup_path_check(cg);
        if (ret < 0)
                return ret;
        if (streq(cg, "/"))
                return -EBUSY;
        for (CgroupController c = 0; c < _CGROUP_CTRL_MAX; c++) {
                if (!h->ctrl_dir[c] || h->ctrl_dup[c])
                        continue;
                _cleanup_free_ char *d = NULL;
                int r = cgroup_file(h, c, cg, NULL, &d);
                if (r >= 0 && rmdir(d) < 0 && errno != ENOENT)
                        r = errno == ENOTEMPTY ? -EBUSY : negative_errno();
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

static int v1_pid_save_paths(const CgroupHost *h, const char *proc_root, pid_t pid, char **ret) {
        _cleanup_free_ char *out = strdup("");
        if (!out)
                return -ENOMEM;
        for (CgroupController c = 0; c < _CGROUP_CTRL_MAX; c++) {
                if (!h->ctrl_dir[c] || h->ctrl_dup[c])
                        continue;
                _cleanup_free_ char *path = NULL, *esc = NULL;
                int r = cgroup_pid_line_path(proc_root, pid, cgroup_controller_to_string(c), &path);
                if (r == -ENODATA)
                        continue;   /* mounted here, not seen by the process (another namespace) */
                if (r < 0)
                        return r;
                esc = cgroup_escape_path(path);
                if (!esc)
                        return -ENOMEM;
                char *n;
                if (asprintf(&n, "%s%s%s:%s", out, *out ? ";" : "", cgroup_controller_to_string(c), esc) < 0)
                        return -ENOMEM;
                free(out);
                out = n;
        }
        if (!*out)
                return -ENODATA;
        *ret = TAKE_PTR(out);
        return 0;
}

static int v1_attach_pid_saved(const CgroupHost *h, pid_t pid, const char *saved) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", (int) pid);

        /* Validate everything before moving anything. */
        for (const char *p = saved; *p;) {
                _cleanup_free_ char *e = cgroup_unescape_next(&p);
                if (!e)
                        return -ENOMEM;
                char *colon = strchr(e, ':');
                if (!colon)
                        return -EINVAL;
                *colon = 0;
                CgroupController c = cgroup_controller_from_string(e);
                if ((int) c < 0 || cgroup_path_check(colon + 1) < 0)
                        return -EINVAL;
        }
        int ret = 0;
        for (const char *p = saved; *p;) {
                _cleanup_free_ char *e = cgroup_unescape_next(&p);
                if (!e)
                        return -ENOMEM;
                char *colon = strchr(e, ':');
                *colon = 0;
                CgroupController c = cgroup_controller_from_string(e);
                int r = cgroup_write(h, c, colon + 1, "cgroup.procs", buf);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

const CgroupBackend cgroup_v1_backend = {
        .name = "cgroup-v1",
        .version = CGROUP_V1,
        .open = v1_open,
        .knob_path = v1_knob_path,
        .get_weight = v1_get_weight,
        .set_weight = v1_set_weight,
        .get_cap = v1_get_cap,
        .set_cap = v1_set_cap,
        .get_memory_max = v1_get_memory_max,
        .set_memory_max = v1_set_memory_max,
        .get_io_weight = v1_get_io_weight,
        .set_io_weight = v1_set_io_weight,
        .knob_save = v1_knob_save,
        .knob_restore = v1_knob_restore,
        .get_cpu_usage_ns = v1_get_cpu_usage_ns,
        .create = v1_create,
        .attach_pid = v1_attach_pid,
        .remove = v1_remove,
        .pid_controller = "cpu",
        .pid_save_paths = v1_pid_save_paths,
        .attach_pid_saved = v1_attach_pid_saved,
};
