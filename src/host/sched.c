/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-thread scheduling levers.  On Linux setpriority(PRIO_PROCESS, tid),
 * sched_setscheduler(tid) and sched_setaffinity(tid) all act on one thread. */

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "host/sched.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

#define NCPUS_MAX (64 * CPUSET_WORDS)

static const struct {
        int policy;
        const char *name;
} policy_table[] = {
        { SCHED_OTHER, "other" },
        { SCHED_BATCH, "batch" },
        { SCHED_IDLE, "idle" },
        { SCHED_FIFO, "fifo" },
        { SCHED_RR, "rr" },
};

const char *sched_policy_to_string(int policy) {
        for (size_t i = 0; i < ELEMENTSOF(policy_table); i++)
                if (policy_table[i].policy == policy)
                        return policy_table[i].name;
        return NULL;
}

int sched_policy_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(policy_table); i++)
                if (streq(s, policy_table[i].name))
                        return policy_table[i].policy;
        return -EINVAL;
}

static bool policy_is_rt(int policy) {
        return policy == SCHED_FIFO || policy == SCHED_RR;
}

/* ---- /proc stat ---- */

int proc_stat_parse(const char *line, ProcStat *ret) {
        if (!line || !ret)
                return -EINVAL;
        const char *open = strchr(line, '(');
        const char *close = strrchr(line, ')');
        if (!open || !close || close < open || close[1] != ' ')
                return -EBADMSG;

        ProcStat st = { .processor = -1 };
        size_t n = MIN((size_t) (close - open - 1), sizeof st.comm - 1);
        memcpy(st.comm, open + 1, n);
        st.comm[n] = 0;

        /* Fields from 3 on, space separated. */
        const char *p = close + 2;
        unsigned field = 3;
        while (*p && *p != '\n') {
                size_t len = strcspn(p, " \n");
                char tok[32];
                if (len == 0 || len >= sizeof tok)
                        return -EBADMSG;
                memcpy(tok, p, len);
                tok[len] = 0;

                int r = 0;
                int64_t i64;
                uint64_t u64;
                switch (field) {
                case 3:
                        if (len != 1)
                                return -EBADMSG;
                        st.state = tok[0];
                        break;
                case 4:
                        r = safe_atoi64(tok, &i64);
                        if (r >= 0 && (i64 < 0 || i64 > INT32_MAX))
                                r = -ERANGE;
                        st.ppid = (pid_t) i64;
                        break;
                case 14:
                        r = safe_atou64(tok, &st.utime_ticks);
                        break;
                case 15:
                        r = safe_atou64(tok, &st.stime_ticks);
                        break;
                case 19:
                        r = safe_atoi64(tok, &i64);
                        if (r >= 0 && (i64 < -20 || i64 > 19))
                                r = -ERANGE;
                        st.nice = (int) i64;
                        break;
                case 22:
                        r = safe_atou64(tok, &st.start_time);
                        break;
                case 39:
                        r = safe_atoi64(tok, &i64);
                        if (r >= 0 && (i64 < -1 || i64 > INT32_MAX))
                                r = -ERANGE;
                        st.processor = (int) i64;
                        break;
                case 40:
                        r = safe_atou64(tok, &u64);
                        if (r >= 0 && u64 > 99)
                                r = -ERANGE;
                        st.rt_priority = (unsigned) u64;
                        break;
                case 41:
                        r = safe_atou64(tok, &u64);
                        if (r >= 0 && u64 > 16)
                                r = -ERANGE;
                        st.policy = (unsigned) u64;
                        break;
                default:
                        break;
                }
                if (r < 0)
                        return -EBADMSG;
                field++;
                p += len;
                if (*p == ' ')
                        p++;
        }
        if (field <= 22)
                return -EBADMSG;   /* too short to hold start_time */
        *ret = st;
        return 0;
}

int proc_stat_read(const char *proc_root, pid_t pid, pid_t tid, ProcStat *ret) {
        _cleanup_free_ char *p = NULL, *line = NULL;
        if (pid <= 0 || tid < 0)
                return -EINVAL;
        int k = tid > 0 ? asprintf(&p, "%s/%d/task/%d/stat", proc_root ?: "/proc", (int) pid, (int) tid)
                        : asprintf(&p, "%s/%d/stat", proc_root ?: "/proc", (int) pid);
        if (k < 0)
                return -ENOMEM;
        int r = read_one_line(p, &line);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        return proc_stat_parse(line, ret);
}

uint64_t clock_ticks_to_ns(uint64_t ticks) {
        static long hz = 0;
        if (hz <= 0) {
                hz = sysconf(_SC_CLK_TCK);
                if (hz <= 0)
                        hz = 100;
        }
        /* split to avoid overflow for large tick counts */
        return ticks / (uint64_t) hz * UINT64_C(1000000000) +
               ticks % (uint64_t) hz * UINT64_C(1000000000) / (uint64_t) hz;
}

int thread_cpu_time_ns(pid_t pid, pid_t tid, uint64_t *ret) {
        ProcStat st;
        if (tid <= 0)
                return -EINVAL;
        int r = proc_stat_read(NULL, pid, tid, &st);
        if (r < 0)
                return r;
        *ret = clock_ticks_to_ns(st.utime_ticks + st.stime_ticks);
        return 0;
}

int process_cpu_time_ns(pid_t pid, uint64_t *ret) {
        ProcStat st;
        int r = proc_stat_read(NULL, pid, 0, &st);
        if (r < 0)
                return r;
        *ret = clock_ticks_to_ns(st.utime_ticks + st.stime_ticks);
        return 0;
}

/* ---- the levers ---- */

static int get_affinity(pid_t tid, CpuSet *ret) {
        size_t ncpus = NCPUS_MAX;
        for (;;) {
                cpu_set_t *set = CPU_ALLOC(ncpus);
                if (!set)
                        return -ENOMEM;
                size_t size = CPU_ALLOC_SIZE(ncpus);
                CPU_ZERO_S(size, set);
                if (sched_getaffinity(tid, size, set) < 0) {
                        int r = negative_errno();
                        CPU_FREE(set);
                        /* EINVAL: the kernel's mask is larger than ours */
                        if (r == -EINVAL && ncpus < (1u << 20)) {
                                ncpus *= 2;
                                continue;
                        }
                        return r;
                }
                CpuSet out = {};
                int r = 0;
                for (size_t c = 0; c < ncpus; c++) {
                        if (!CPU_ISSET_S(c, size, set))
                                continue;
                        if (c >= NCPUS_MAX) {
                                r = -ERANGE;
                                break;
                        }
                        cpuset_set(&out, (unsigned) c);
                }
                CPU_FREE(set);
                if (r < 0)
                        return r;
                *ret = out;
                return 0;
        }
}

int thread_sched_get(pid_t tid, ThreadSched *ret) {
        if (tid <= 0 || !ret)
                return -EINVAL;
        ThreadSched s = {};

        errno = 0;
        int nice = getpriority(PRIO_PROCESS, (id_t) tid);
        if (nice == -1 && errno != 0)
                return negative_errno();
        s.nice = nice;

        int policy = sched_getscheduler(tid);
        if (policy < 0)
                return negative_errno();
        s.policy = policy & ~SCHED_RESET_ON_FORK;

        struct sched_param sp = {};
        if (sched_getparam(tid, &sp) < 0)
                return negative_errno();
        s.rt_priority = sp.sched_priority;

        int r = get_affinity(tid, &s.affinity);
        if (r < 0)
                return r;

        ProcStat st;
        r = proc_stat_read(NULL, tid, tid, &st);
        if (r < 0)
                return r;
        s.start_time = st.start_time;

        *ret = s;
        return 0;
}

int thread_set_nice(pid_t tid, int nice) {
        if (tid <= 0 || nice < -20 || nice > 19)
                return -EINVAL;
        return RET_NERRNO(setpriority(PRIO_PROCESS, (id_t) tid, nice));
}

int thread_set_policy(pid_t tid, int policy, int prio) {
        if (tid <= 0)
                return -EINVAL;
        if (policy_is_rt(policy)) {
                if (prio < 1 || prio > 99)
                        return -EINVAL;
        } else if (policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE) {
                if (prio != 0)
                        return -EINVAL;
        } else
                return -EINVAL;
        struct sched_param sp = { .sched_priority = prio };
        return RET_NERRNO(sched_setscheduler(tid, policy, &sp));
}

int thread_set_affinity(pid_t tid, const CpuSet *set) {
        if (tid <= 0 || !set || cpuset_count(set) == 0)
                return -EINVAL;
        cpu_set_t *cs = CPU_ALLOC(NCPUS_MAX);
        if (!cs)
                return -ENOMEM;
        size_t size = CPU_ALLOC_SIZE(NCPUS_MAX);
        CPU_ZERO_S(size, cs);
        for (unsigned c = 0; c < NCPUS_MAX; c++)
                if (cpuset_isset(set, c))
                        CPU_SET_S(c, size, cs);
        int r = RET_NERRNO(sched_setaffinity(tid, size, cs));
        CPU_FREE(cs);
        return r;
}

int thread_sched_restore(pid_t tid, const ThreadSched *saved) {
        if (tid <= 0 || !saved)
                return -EINVAL;
        ProcStat st;
        int r = proc_stat_read(NULL, tid, tid, &st);
        if (r < 0)
                return r;
        if (st.start_time != saved->start_time)
                return -ESTALE;   /* the tid was reused by another thread */

        /* Best effort: try every lever, report the first failure.  Leaving
         * RT goes to the saved non-RT policy with priority 0 first, then the
         * nice value (which sched_setscheduler keeps, but a caller may have
         * changed it while the thread was RT). */
        int ret = 0;
        r = thread_set_policy(tid, saved->policy, policy_is_rt(saved->policy) ? saved->rt_priority : 0);
        if (r < 0)
                ret = r;
        r = thread_set_nice(tid, saved->nice);
        if (r < 0 && ret == 0)
                ret = r;
        if (cpuset_count(&saved->affinity) > 0) {
                r = thread_set_affinity(tid, &saved->affinity);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int rt_runtime_read(const char *proc_root, int64_t *ret) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/sys/kernel/sched_rt_runtime_us", proc_root ?: "/proc") < 0)
                return -ENOMEM;
        return read_i64_file(path, ret);
}

bool rt_throttling_enabled(void) {
        int64_t v;
        if (rt_runtime_read(NULL, &v) < 0)
                return true;   /* the kernel's default */
        return v != -1;
}
