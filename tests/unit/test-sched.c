/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-thread levers on this test's own threads, and /proc stat parsing. */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/parse.h"
#include "host/sched.h"

#define PROC "fixtures/proc"   /* the tests run in tests/unit/ */

static pid_t gettid_(void) {
        return (pid_t) syscall(SYS_gettid);
}

static void test_policy_names(void **state) {
        (void) state;
        static const int policies[] = { SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR };
        for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
                const char *s = sched_policy_to_string(policies[i]);
                assert_non_null(s);
                assert_int_equal(sched_policy_from_string(s), policies[i]);
        }
        assert_string_equal(sched_policy_to_string(SCHED_FIFO), "fifo");
        assert_null(sched_policy_to_string(12345));
        assert_int_equal(sched_policy_from_string("deadline"), -EINVAL);
        assert_int_equal(sched_policy_from_string(NULL), -EINVAL);
}

static void test_stat_parse(void **state) {
        (void) state;
        ProcStat st;
        /* comm with spaces and parentheses: the parser must use the last ')' */
        assert_int_equal(proc_stat_read(PROC, 2000, 0, &st), 0);
        assert_string_equal(st.comm, "a) (b");
        assert_int_equal(st.state, 'R');
        assert_int_equal(st.utime_ticks, 250);
        assert_int_equal(st.stime_ticks, 150);
        assert_int_equal(st.nice, 19);
        assert_int_equal(st.start_time, 987654);
        assert_int_equal(st.processor, 3);
        assert_int_equal(st.rt_priority, 0);
        assert_int_equal(st.policy, 0);

        assert_int_equal(proc_stat_read(PROC, 1000, 1001, &st), 0);
        assert_string_equal(st.comm, "CPU 0/KVM");
        assert_int_equal(st.utime_ticks, 200);
        assert_int_equal(st.stime_ticks, 120);
        assert_int_equal(st.start_time, 123460);
        assert_int_equal(st.rt_priority, 1);
        assert_int_equal(st.policy, SCHED_FIFO);

        ProcStat untouched = { .state = 'Z' };
        st = untouched;
        assert_int_equal(proc_stat_read(PROC, 2001, 0, &st), -EBADMSG);   /* too short */
        assert_int_equal(proc_stat_read(PROC, 2002, 0, &st), -EBADMSG);   /* no comm */
        assert_int_equal(proc_stat_read(PROC, 999999, 0, &st), -ESRCH);
        assert_int_equal(proc_stat_read(PROC, 1000, 999999, &st), -ESRCH);
        assert_int_equal(proc_stat_read(PROC, 0, 0, &st), -EINVAL);
        assert_int_equal(st.state, 'Z');

        assert_int_equal(proc_stat_parse("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", &st), -EBADMSG);
        assert_int_equal(proc_stat_parse("1 (x) S 1 2 3 4 5 6 7 8 9 10 zz 12 13 14 15 16 17 18 19 20 21 22", &st), -EBADMSG);
        assert_int_equal(proc_stat_parse("1 (x)S 1", &st), -EBADMSG);
        assert_int_equal(proc_stat_parse("1 (x) S 1 1 1 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 55", &st), 0);
        assert_int_equal(st.utime_ticks, 7);
        assert_int_equal(st.start_time, 55);
        assert_int_equal(st.processor, -1);   /* absent in this old-style line */
}

static void test_cpu_time(void **state) {
        (void) state;
        assert_int_equal(clock_ticks_to_ns(0), 0);
        long hz = sysconf(_SC_CLK_TCK);
        assert_true(clock_ticks_to_ns((uint64_t) hz) == UINT64_C(1000000000));
        assert_true(clock_ticks_to_ns((uint64_t) hz * 3600 * 24 * 365) == UINT64_C(1000000000) * 3600 * 24 * 365);

        /* burn some CPU and watch our own thread's time grow */
        uint64_t a, b, pa, pb;
        assert_int_equal(thread_cpu_time_ns(getpid(), gettid_(), &a), 0);
        assert_int_equal(process_cpu_time_ns(getpid(), &pa), 0);
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        volatile uint64_t x = 0;
        do {
                for (int i = 0; i < 1000000; i++)
                        x += (uint64_t) i;
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        } while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 100000000L);
        assert_int_equal(thread_cpu_time_ns(getpid(), gettid_(), &b), 0);
        assert_int_equal(process_cpu_time_ns(getpid(), &pb), 0);
        assert_true(b > a);
        /* The kernel reports thread and process utime+stime each scaled
         * from its own tick samples (cputime_adjust), so the process sum
         * can trail one thread's by a tick or two; allow that much. */
        assert_true(pb + clock_ticks_to_ns(2) >= b);
        assert_true(pb > pa);

        assert_int_equal(thread_cpu_time_ns(getpid(), 0, &a), -EINVAL);
        assert_int_equal(thread_cpu_time_ns(getpid(), 999999999, &a), -ESRCH);
}

static void test_nice(void **state) {
        (void) state;
        pid_t tid = gettid_();
        ThreadSched s;
        assert_int_equal(thread_sched_get(tid, &s), 0);
        int orig = s.nice;
        assert_true(s.policy == SCHED_OTHER || s.policy == SCHED_BATCH || s.policy == SCHED_IDLE);
        assert_int_equal(s.rt_priority, 0);
        assert_true(s.start_time > 0);
        assert_true(cpuset_count(&s.affinity) > 0);

        /* raising nice needs no privilege; only this thread changes */
        int up = orig < 19 ? orig + 1 : 19;
        assert_int_equal(thread_set_nice(tid, up), 0);
        errno = 0;
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t) tid), up);
        ThreadSched s2;
        assert_int_equal(thread_sched_get(tid, &s2), 0);
        assert_int_equal(s2.nice, up);
        assert_true(s2.start_time == s.start_time);

        /* and back (lowering needs CAP_SYS_NICE, or an RLIMIT_NICE that allows it) */
        int r = thread_set_nice(tid, orig);
        if (r == -EPERM || r == -EACCES)
                print_message("cannot lower nice back here (no CAP_SYS_NICE)\n");
        else {
                assert_int_equal(r, 0);
                assert_int_equal(getpriority(PRIO_PROCESS, (id_t) tid), orig);
        }

        assert_int_equal(thread_set_nice(tid, 20), -EINVAL);
        assert_int_equal(thread_set_nice(tid, -21), -EINVAL);
        assert_int_equal(thread_set_nice(0, 0), -EINVAL);
        assert_int_equal(thread_set_nice(999999999, 0), -ESRCH);
}

static void test_affinity(void **state) {
        (void) state;
        pid_t tid = gettid_();
        ThreadSched s;
        assert_int_equal(thread_sched_get(tid, &s), 0);

        CpuSet one = {};
        unsigned first = 0;
        while (!cpuset_isset(&s.affinity, first))
                first++;
        cpuset_set(&one, first);
        assert_int_equal(thread_set_affinity(tid, &one), 0);
        ThreadSched s2;
        assert_int_equal(thread_sched_get(tid, &s2), 0);
        assert_true(cpuset_equal(&s2.affinity, &one));
        assert_int_equal(sched_getcpu(), (int) first);

        assert_int_equal(thread_set_affinity(tid, &s.affinity), 0);
        assert_int_equal(thread_sched_get(tid, &s2), 0);
        assert_true(cpuset_equal(&s2.affinity, &s.affinity));

        CpuSet empty = {};
        assert_int_equal(thread_set_affinity(tid, &empty), -EINVAL);
        CpuSet far = {};
        cpuset_set(&far, 64 * CPUSET_WORDS - 1);   /* a CPU this host does not have */
        assert_int_equal(thread_set_affinity(tid, &far), -EINVAL);
        assert_int_equal(thread_set_affinity(999999999, &one), -ESRCH);
}

static void test_policy(void **state) {
        (void) state;
        pid_t tid = gettid_();
        assert_int_equal(thread_set_policy(tid, SCHED_FIFO, 0), -EINVAL);
        assert_int_equal(thread_set_policy(tid, SCHED_FIFO, 100), -EINVAL);
        assert_int_equal(thread_set_policy(tid, SCHED_OTHER, 5), -EINVAL);
        assert_int_equal(thread_set_policy(tid, 6 /* SCHED_DEADLINE */, 0), -EINVAL);
        assert_int_equal(thread_set_policy(999999999, SCHED_OTHER, 0), -ESRCH);

        ThreadSched s;
        assert_int_equal(thread_sched_get(tid, &s), 0);
        /* BATCH and back to OTHER need no privilege */
        assert_int_equal(thread_set_policy(tid, SCHED_BATCH, 0), 0);
        assert_int_equal(sched_getscheduler(tid), SCHED_BATCH);
        assert_int_equal(thread_set_policy(tid, s.policy, 0), 0);
        assert_int_equal(sched_getscheduler(tid), s.policy);
}

/* A helper thread to go RT and back: never the main test thread. */
struct rt_arg {
        pid_t tid;
        volatile int stop;
        volatile int ready;
};

static void *spin(void *p) {
        struct rt_arg *a = p;
        a->tid = gettid_();
        a->ready = 1;
        while (!a->stop)
                usleep(1000);
        return NULL;
}

static void test_rt_and_restore(void **state) {
        (void) state;
        struct rt_arg a = {};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, spin, &a), 0);
        while (!a.ready)
                usleep(1000);

        ThreadSched saved;
        assert_int_equal(thread_sched_get(a.tid, &saved), 0);
        int r = thread_set_policy(a.tid, SCHED_FIFO, 10);
        if (r == -EPERM) {
                /* no CAP_SYS_NICE, or a v1 cpu cgroup without RT budget */
                print_message("SCHED_FIFO refused here (EPERM): RT half skipped\n");
        } else {
                assert_int_equal(r, 0);
                ThreadSched rt;
                assert_int_equal(thread_sched_get(a.tid, &rt), 0);
                assert_int_equal(rt.policy, SCHED_FIFO);
                assert_int_equal(rt.rt_priority, 10);
                ProcStat st;
                assert_int_equal(proc_stat_read(NULL, getpid(), a.tid, &st), 0);
                assert_int_equal(st.policy, SCHED_FIFO);
                assert_int_equal(st.rt_priority, 10);
        }
        /* a nice change to undo, where restore is allowed to lower it again */
        if (geteuid() == 0)
                assert_int_equal(thread_set_nice(a.tid, saved.nice < 19 ? saved.nice + 1 : 19), 0);

        /* restore puts back policy 0 / prio 0 and the nice */
        assert_int_equal(thread_sched_restore(a.tid, &saved), 0);
        ThreadSched after;
        assert_int_equal(thread_sched_get(a.tid, &after), 0);
        assert_int_equal(after.policy, saved.policy);
        assert_int_equal(after.rt_priority, 0);
        assert_int_equal(after.nice, saved.nice);
        assert_true(cpuset_equal(&after.affinity, &saved.affinity));

        /* a reused tid (different start_time) is refused */
        ThreadSched stale = saved;
        stale.start_time++;
        assert_int_equal(thread_sched_restore(a.tid, &stale), -ESTALE);

        a.stop = 1;
        assert_int_equal(pthread_join(t, NULL), 0);
        usleep(10000);
        assert_int_equal(thread_sched_restore(a.tid, &saved), -ESRCH);
        assert_int_equal(thread_sched_restore(0, &saved), -EINVAL);
}

static void test_rt_throttling(void **state) {
        (void) state;
        long v = -2;
        FILE *f = fopen("/proc/sys/kernel/sched_rt_runtime_us", "re");
        if (f) {
                assert_int_equal(fscanf(f, "%ld", &v), 1);
                fclose(f);
                assert_true(rt_throttling_enabled() == (v != -1));
        } else
                assert_true(rt_throttling_enabled());
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_names),
                cmocka_unit_test(test_stat_parse),
                cmocka_unit_test(test_cpu_time),
                cmocka_unit_test(test_nice),
                cmocka_unit_test(test_affinity),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_rt_and_restore),
                cmocka_unit_test(test_rt_throttling),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
