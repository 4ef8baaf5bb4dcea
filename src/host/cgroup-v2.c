/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup v2: one unified hierarchy at ROOT. */

#include <errno.h>
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

/* Every v2 file goes through the same directory: use CPU as the handle. */
#define U CGROUP_CTRL_CPU

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

static int v2_open(CgroupHost *h) {
        _cleanup_free_ char *p = NULL, *controllers = NULL;
        if (asprintf(&p, "%s/cgroup.controllers", h->root) < 0)
                return -ENOMEM;
        int r = read_one_line(p, &controllers);
        if (r == -ENOENT)
                return -ENOMEDIUM;
        if (r < 0)
                return r;
        if (!word_in(controllers, "cpu")) {
                /* An empty v2 mount beside v1 hierarchies (the "unified"
                 * mount of a hybrid host) is not the hierarchy to use. */
                _cleanup_free_ char *v1 = NULL;
                if (asprintf(&v1, "%s/cpu", h->root) < 0)
                        return -ENOMEM;
                if (access(v1, F_OK) >= 0)
                        return -ENOMEDIUM;
                log_debug("cgroup: %s is v2 without the cpu controller", h->root);
        }
        for (CgroupController c = 0; c < _CGROUP_CTRL_MAX; c++) {
                h->ctrl_dir[c] = strdup(h->root);
                if (!h->ctrl_dir[c])
                        return -ENOMEM;
                h->ctrl_dup[c] = c != U;
        }
        return 0;
}

/* io.weight (blk-iocost), else io.bfq.weight: 1 or 2. */
static int io_file(const CgroupHost *h, const char *cg, const char **ret) {
        int r = cgroup_file_exists(h, U, cg, "io.weight");
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = "io.weight";
                return 1;
        }
        r = cgroup_file_exists(h, U, cg, "io.bfq.weight");
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = "io.bfq.weight";
                return 2;
        }
        return -EOPNOTSUPP;
}

static int v2_knob_path(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret) {
        static const char *const files[_CGROUP_KNOB_MAX] = {
                [CGROUP_KNOB_WEIGHT] = "cpu.weight",
                [CGROUP_KNOB_CAP] = "cpu.max",
                [CGROUP_KNOB_CPUS] = "cpuset.cpus",
                [CGROUP_KNOB_MEMS] = "cpuset.mems",
                [CGROUP_KNOB_MEMORY_MAX] = "memory.max",
        };
        if (k == CGROUP_KNOB_IO_WEIGHT) {
                const char *f;
                int r = io_file(h, cg, &f);
                if (r < 0)
                        return r;
                return cgroup_file(h, U, cg, f, ret);
        }
        if (k < 0 || k >= _CGROUP_KNOB_MAX)
                return -EINVAL;
        return cgroup_file(h, U, cg, files[k], ret);
}

static int v2_get_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        _cleanup_free_ char *line = NULL;
        unsigned w;
        int r = cgroup_read_line(h, U, cg, "cpu.weight", &line);
        if (r < 0)
                return r;
        r = safe_atou(line, &w);
        if (r < 0)
                return r;
        if (w < CGROUP_WEIGHT_MIN || w > CGROUP_WEIGHT_MAX)
                return -ERANGE;
        *ret = w;
        return 0;
}

static int v2_set_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        char buf[32];
        snprintf(buf, sizeof buf, "%u", weight);
        return cgroup_write(h, U, cg, "cpu.weight", buf);
}

/* cpu.max: "max PERIOD" or "QUOTA PERIOD".  *ret_quota = -1 for max. */
static int read_cpu_max(const CgroupHost *h, const char *cg, int64_t *ret_quota, uint64_t *ret_period) {
        _cleanup_free_ char *line = NULL;
        int r = cgroup_read_line(h, U, cg, "cpu.max", &line);
        if (r < 0)
                return r;
        char *sp = strchr(line, ' ');
        if (!sp)
                return -EBADMSG;
        *sp = 0;
        int64_t quota;
        uint64_t period;
        if (streq(line, "max"))
                quota = -1;
        else if (safe_atoi64(line, &quota) < 0 || quota <= 0)
                return -EBADMSG;
        if (safe_atou64(sp + 1, &period) < 0 || period == 0)
                return -EBADMSG;
        *ret_quota = quota;
        *ret_period = period;
        return 0;
}

static int v2_get_cap(const CgroupHost *h, const char *cg, double *ret) {
        int64_t quota;
        uint64_t period;
        int r = read_cpu_max(h, cg, &quota, &period);
        if (r < 0)
                return r;
        *ret = quota < 0 ? 0.0 : (double) quota * 100.0 / (double) period;
        return 0;
}

static int v2_set_cap(const CgroupHost *h, const char *cg, double percent) {
        int64_t quota;
        uint64_t period;
        int r = read_cpu_max(h, cg, &quota, &period);
        if (r < 0)
                return r;
        char buf[64];
        if (percent == 0)
                snprintf(buf, sizeof buf, "max %" PRIu64, period);
        else {
                double q = round(percent * (double) period / 100.0);
                if (q < 1000 || q > (double) INT64_MAX / 2)
                        return -ERANGE;
                snprintf(buf, sizeof buf, "%" PRId64 " %" PRIu64, (int64_t) q, period);
        }
        return cgroup_write(h, U, cg, "cpu.max", buf);
}

static int v2_get_memory_max(const CgroupHost *h, const char *cg, uint64_t *ret) {
        _cleanup_free_ char *line = NULL;
        int r = cgroup_read_line(h, U, cg, "memory.max", &line);
        if (r < 0)
                return r;
        if (streq(line, "max")) {
                *ret = UINT64_MAX;
                return 0;
        }
        return safe_atou64(line, ret);
}

static int v2_set_memory_max(const CgroupHost *h, const char *cg, uint64_t bytes) {
        char buf[32];
        if (bytes == UINT64_MAX)
                return cgroup_write(h, U, cg, "memory.max", "max");
        snprintf(buf, sizeof buf, "%" PRIu64, bytes);
        return cgroup_write(h, U, cg, "memory.max", buf);
}

static int v2_get_io_weight(const CgroupHost *h, const char *cg, unsigned *ret) {
        const char *f;
        int r = io_file(h, cg, &f);
        if (r < 0)
                return r;
        _cleanup_free_ char *p = NULL, *buf = NULL;
        r = cgroup_file(h, U, cg, f, &p);
        if (r < 0)
                return r;
        r = read_full_file(p, 1 << 16, &buf, NULL);
        if (r < 0)
                return r;
        /* "default N" (then per-device "MAJ:MIN N" lines); BFQ also "N". */
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned v;
                line = strstrip(line);
                if (strneq(line, "default ", 8))
                        line += 8;
                else if (strchr(line, ':') || strchr(line, ' '))
                        continue;
                r = safe_atou(line, &v);
                if (r < 0)
                        return r;
                if (v < CGROUP_WEIGHT_MIN || v > CGROUP_WEIGHT_MAX)
                        return -ERANGE;
                *ret = v;
                return 0;
        }
        return -EBADMSG;
}

static int v2_set_io_weight(const CgroupHost *h, const char *cg, unsigned weight) {
        const char *f;
        int r = io_file(h, cg, &f);
        if (r < 0)
                return r;
        char buf[32];
        snprintf(buf, sizeof buf, "default %u", r == 1 ? weight : MAX(MIN(weight, 1000u), 1u));
        return cgroup_write(h, U, cg, f, buf);
}

static int v2_get_cpu_usage_ns(const CgroupHost *h, const char *cg, uint64_t *ret) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        int r = cgroup_file(h, U, cg, "cpu.stat", &p);
        if (r < 0)
                return r;
        r = read_full_file(p, 1 << 16, &buf, NULL);
        if (r < 0)
                return r;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (!strneq(line, "usage_usec ", 11))
                        continue;
                uint64_t us;
                r = safe_atou64(line + 11, &us);
                if (r < 0)
                        return -EBADMSG;
                if (us > UINT64_MAX / 1000)
                        return -ERANGE;
                *ret = us * 1000;
                return 0;
        }
        return -EBADMSG;
}

/* Enable our controllers for the children of cg's parent (the root is
 * exempt from the no-internal-processes rule; other parents must hold no
 * processes).  cpu is required, the others are best effort. */
static int enable_in_parent(const CgroupHost *h, const char *cg, void *userdata _unused_) {
        static const char *const want[] = { "cpu", "cpuset", "memory", "io" };
        _cleanup_free_ char *parent = cgroup_parent(cg), *avail = NULL, *enabled = NULL;
        if (!parent)
                return -ENOMEM;
        int r = cgroup_read_line(h, U, parent, "cgroup.controllers", &avail);
        if (r < 0)
                return r;
        r = cgroup_read_line(h, U, parent, "cgroup.subtree_control", &enabled);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                if (!word_in(avail, want[i]) || word_in(enabled, want[i]))
                        continue;
                char buf[16];
                snprintf(buf, sizeof buf, "+%s", want[i]);
                r = cgroup_write(h, U, parent, "cgroup.subtree_control", buf);
                if (r < 0 && i == 0)
                        return r;
        }
        return 0;
}

static int v2_create(const CgroupHost *h, const char *cg) {
        int r = cgroup_path_check(cg);
        if (r < 0)
                return r;
        return cgroup_mkdir_p(h, U, cg, enable_in_parent, NULL);
}

static int v2_attach_pid(const CgroupHost *h, const char *cg, pid_t pid) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", (int) pid);
        return cgroup_write(h, U, cg, "cgroup.procs", buf);
}

static int v2_remove(const CgroupHost *h, const char *cg) {
        _cleanup_free_ char *d = NULL;
        int r = cgroup_file(h, U, cg, NULL, &d);
        if (r < 0)
                return r;
        if (streq(cg, "/"))
                return -EBUSY;
        if (rmdir(d) < 0 && errno != ENOENT)
                return errno == ENOTEMPTY ? -EBUSY : negative_errno();
        return 0;
}

static int v2_pid_save_paths(const CgroupHost *h _unused_, const char *proc_root, pid_t pid, char **ret) {
        _cleanup_free_ char *path = NULL, *esc = NULL;
        int r = cgroup_pid_line_path(proc_root, pid, NULL, &path);
        if (r < 0)
                return r;
        esc = cgroup_escape_path(path);
        if (!esc)
                return -ENOMEM;
        char *s;
        if (asprintf(&s, "unified:%s", esc) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int v2_attach_pid_saved(const CgroupHost *h, pid_t pid, const char *saved) {
        const char *p = saved;
        _cleanup_free_ char *e = cgroup_unescape_next(&p);
        if (!e)
                return -ENOMEM;
        if (*p || !strneq(e, "unified:", 8) || cgroup_path_check(e + 8) < 0)
                return -EINVAL;
        return v2_attach_pid(h, e + 8, pid);
}

const CgroupBackend cgroup_v2_backend = {
        .name = "cgroup-v2",
        .version = CGROUP_V2,
        .open = v2_open,
        .knob_path = v2_knob_path,
        .get_weight = v2_get_weight,
        .set_weight = v2_set_weight,
        .get_cap = v2_get_cap,
        .set_cap = v2_set_cap,
        .get_memory_max = v2_get_memory_max,
        .set_memory_max = v2_set_memory_max,
        .get_io_weight = v2_get_io_weight,
        .set_io_weight = v2_set_io_weight,
        .get_cpu_usage_ns = v2_get_cpu_usage_ns,
        .create = v2_create,
        .attach_pid = v2_attach_pid,
        .remove = v2_remove,
        .pid_controller = NULL,
        .pid_save_paths = v2_pid_save_paths,
        .attach_pid_saved = v2_attach_pid_saved,
};
