/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RT group budget (cpu.rt_runtime_us, v1 with CONFIG_RT_GROUP_SCHED): grow a
 * group and its ancestors for an RT thread, save and give it back.  Split
 * out of cgroup.c; the interface is in cgroup.h. */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "basic/parse.h"
#include "host/cgroup-internal.h"

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
