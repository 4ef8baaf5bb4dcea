/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup v1 and v2 backends against copies of the fixture trees, and once
 * for real on /sys/fs/cgroup when running as root. */

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "host/cgroup-internal.h"
#include "host/cgroup.h"
#include "host/systemd-unit.h"

#define FIXTURES "fixtures"   /* the tests run in tests/unit/ */

typedef struct Fixture {
        char dir[64];          /* the mkdtemp copy */
        char root[128];        /* dir/cgroup-vN */
        char proc[128];        /* dir/proc */
        CgroupHost *h;
} Fixture;

static int copy_tree(Fixture *f, const char *name) {
        strcpy(f->dir, "/tmp/xvsched-test-cgroup-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cp -a " FIXTURES "/%s " FIXTURES "/proc '%s'/", name, f->dir);
        if (system(cmd) != 0)
                return -1;
        snprintf(f->root, sizeof f->root, "%s/%s", f->dir, name);
        snprintf(f->proc, sizeof f->proc, "%s/proc", f->dir);
        return 0;
}

static int setup_tree(void **state, const char *name) {
        Fixture *f = calloc(1, sizeof *f);
        if (!f || copy_tree(f, name) < 0)
                return -1;
        if (cgroup_host_open(f->root, &f->h) < 0)
                return -1;
        *state = f;
        return 0;
}

static int setup_v1(void **state) {
        return setup_tree(state, "cgroup-v1");
}

static int setup_v2(void **state) {
        return setup_tree(state, "cgroup-v2");
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (!f)
                return 0;
        cgroup_host_free(f->h);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        int r = system(cmd);
        free(f);
        return r == 0 ? 0 : -1;
}

/* Contents of ROOT/rel, trailing newline dropped. */
static char *slurp(const Fixture *f, const char *rel) {
        static char buf[4096];
        char p[512];
        char *s = NULL;
        snprintf(p, sizeof p, "%s/%s", f->root, rel);
        if (read_full_file(p, sizeof buf - 1, &s, NULL) < 0)
                return NULL;
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '\n')
                s[--n] = 0;
        snprintf(buf, sizeof buf, "%s", s);
        free(s);
        return buf;
}

static bool exists(const Fixture *f, const char *rel) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", f->root, rel);
        return access(p, F_OK) >= 0;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

#define QEMU "/machine/qemu-1-a.libvirt-qemu"

/* ---- host detection ---- */

static void test_open(void **state) {
        (void) state;
        CgroupHost *h = NULL;
        assert_int_equal(cgroup_host_open(FIXTURES "/cgroup-v1", &h), 0);
        assert_int_equal(cgroup_host_version(h), CGROUP_V1);   /* the empty unified/ does not make it v2 */
        assert_string_equal(cgroup_host_root(h), FIXTURES "/cgroup-v1");
        cgroup_host_free(h);

        assert_int_equal(cgroup_host_open(FIXTURES "/cgroup-v2/", &h), 0);
        assert_int_equal(cgroup_host_version(h), CGROUP_V2);
        assert_string_equal(cgroup_host_root(h), FIXTURES "/cgroup-v2");
        cgroup_host_free(h);

        h = NULL;
        assert_int_equal(cgroup_host_open(FIXTURES "/no-such-dir", &h), -ENOENT);
        assert_int_equal(cgroup_host_open(FIXTURES "/proc", &h), -ENOMEDIUM);
        assert_int_equal(cgroup_host_open(FIXTURES "/cgroup-v2/cpu.stat", &h), -ENOTDIR);
        assert_null(h);
        cgroup_host_free(NULL);
}

static void test_v1_comount_without_symlinks(void **state) {
        Fixture *f = *state;
        char p[256];
        snprintf(p, sizeof p, "%s/cpu", f->root);
        assert_int_equal(unlink(p), 0);
        snprintf(p, sizeof p, "%s/cpuacct", f->root);
        assert_int_equal(unlink(p), 0);

        CgroupHost *h;
        assert_int_equal(cgroup_host_open(f->root, &h), 0);
        assert_int_equal(cgroup_host_version(h), CGROUP_V1);
        unsigned w;
        assert_int_equal(cgroup_get_weight(h, QEMU, &w), 0);
        assert_int_equal(w, 200);
        uint64_t ns;
        assert_int_equal(cgroup_get_cpu_usage_ns(h, QEMU, &ns), 0);
        assert_int_equal(ns, 123456789);
        _cleanup_free_ char *path = NULL;
        assert_int_equal(cgroup_knob_path(h, "/machine", CGROUP_KNOB_WEIGHT, &path), 0);
        assert_true(ends_with(path, "/cpu,cpuacct/machine/cpu.shares"));
        /* cgroup.procs of the cpu hierarchy: its real mount, not ROOT/cpu */
        _cleanup_free_ char *procs = NULL, *procs_root = NULL;
        assert_int_equal(cgroup_host_procs_path(h, QEMU, &procs), 0);
        assert_true(ends_with(procs, "/cpu,cpuacct" QEMU "/cgroup.procs"));
        assert_int_equal(access(procs, R_OK), 0);
        assert_int_equal(cgroup_host_procs_path(h, "/", &procs_root), 0);
        assert_true(ends_with(procs_root, "/cpu,cpuacct/cgroup.procs"));
        assert_int_equal(cgroup_host_procs_path(h, "/a/../b", &path), -EINVAL);
        cgroup_host_free(h);
}

/* ---- v1 ---- */

static void test_v1_weight(void **state) {
        Fixture *f = *state;
        unsigned w = 0;
        assert_int_equal(cgroup_get_weight(f->h, "/", &w), 0);
        assert_int_equal(w, 100);
        assert_int_equal(cgroup_get_weight(f->h, QEMU, &w), 0);
        assert_int_equal(w, 200);
        assert_int_equal(cgroup_get_weight(f->h, QEMU "/", &w), 0);   /* trailing slash */
        assert_int_equal(w, 200);

        assert_int_equal(cgroup_set_weight(f->h, QEMU, 400), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.shares"), "4096");
        assert_int_equal(cgroup_get_weight(f->h, QEMU, &w), 0);
        assert_int_equal(w, 400);
        assert_int_equal(cgroup_set_weight(f->h, QEMU, 1), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.shares"), "10");

        /* bad values are refused before anything is written */
        assert_int_equal(cgroup_set_weight(f->h, QEMU, 0), -ERANGE);
        assert_int_equal(cgroup_set_weight(f->h, QEMU, 10001), -ERANGE);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.shares"), "10");

        w = 77;
        assert_int_equal(cgroup_get_weight(f->h, "/garbage", &w), -EINVAL);
        assert_int_equal(cgroup_get_weight(f->h, "/missing", &w), -ENOENT);
        assert_int_equal(cgroup_set_weight(f->h, "/missing", 100), -ENOENT);
        assert_int_equal(cgroup_get_weight(f->h, "machine", &w), -EINVAL);
        assert_int_equal(cgroup_get_weight(f->h, "/machine/../garbage", &w), -EINVAL);
        assert_int_equal(cgroup_get_weight(f->h, "/./machine", &w), -EINVAL);
        assert_int_equal(cgroup_get_weight(f->h, NULL, &w), -EINVAL);
        assert_int_equal(w, 77);   /* untouched on failure */

        _cleanup_free_ char *p = NULL;
        assert_int_equal(cgroup_knob_path(f->h, QEMU, CGROUP_KNOB_WEIGHT, &p), 0);
        assert_true(ends_with(p, "/cpu,cpuacct" QEMU "/cpu.shares"));
        assert_int_equal(cgroup_knob_path(f->h, QEMU, _CGROUP_KNOB_MAX, &p), -EINVAL);
}

static void test_v1_cap(void **state) {
        Fixture *f = *state;
        double c = -1;
        assert_int_equal(cgroup_get_cap(f->h, "/machine", &c), 0);
        assert_true(c == 0);
        assert_int_equal(cgroup_get_cap(f->h, QEMU, &c), 0);
        assert_true(fabs(c - 50) < 1e-9);

        assert_int_equal(cgroup_set_cap(f->h, QEMU, 25), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.cfs_quota_us"), "25000");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.cfs_period_us"), "100000");
        assert_int_equal(cgroup_set_cap(f->h, QEMU, 250), 0);   /* 2.5 CPUs */
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.cfs_quota_us"), "250000");
        assert_int_equal(cgroup_set_cap(f->h, QEMU, 0), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.cfs_quota_us"), "-1");
        assert_int_equal(cgroup_get_cap(f->h, QEMU, &c), 0);
        assert_true(c == 0);

        /* the period is kept */
        assert_int_equal(cgroup_set_cap(f->h, QEMU "/vcpu1", 10), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu1/cpu.cfs_quota_us"), "25000");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu1/cpu.cfs_period_us"), "250000");
        assert_int_equal(cgroup_get_cap(f->h, QEMU "/vcpu1", &c), 0);
        assert_true(fabs(c - 10) < 1e-9);

        assert_int_equal(cgroup_set_cap(f->h, QEMU, 0.5), -ERANGE);   /* 500 µs < 1 ms */
        assert_int_equal(cgroup_set_cap(f->h, QEMU, -1), -EINVAL);
        assert_int_equal(cgroup_set_cap(f->h, QEMU, NAN), -EINVAL);
        assert_int_equal(cgroup_set_cap(f->h, QEMU, INFINITY), -EINVAL);
        assert_int_equal(cgroup_set_cap(f->h, QEMU, 1e9), -ERANGE);
        assert_int_equal(cgroup_get_cap(f->h, "/garbage", &c), -EINVAL);
        assert_int_equal(cgroup_get_cap(f->h, "/missing", &c), -ENOENT);
}

static void test_v1_cpuset_memory(void **state) {
        Fixture *f = *state;
        CpuSet s, want = {};
        assert_int_equal(cgroup_get_cpus(f->h, QEMU, &s), 0);
        cpuset_set(&want, 2);
        cpuset_set(&want, 3);
        assert_true(cpuset_equal(&s, &want));

        CpuSet one = {};
        cpuset_set(&one, 0);
        cpuset_set(&one, 1);
        cpuset_set(&one, 5);
        assert_int_equal(cgroup_set_cpus(f->h, QEMU, &one), 0);
        assert_string_equal(slurp(f, "cpuset" QEMU "/cpuset.cpus"), "0-1,5");
        assert_int_equal(cgroup_get_cpus(f->h, QEMU, &s), 0);
        assert_true(cpuset_equal(&s, &one));

        assert_int_equal(cgroup_get_mems(f->h, QEMU, &s), 0);
        assert_int_equal(cpuset_count(&s), 1);
        assert_true(cpuset_isset(&s, 0));
        assert_int_equal(cgroup_set_mems(f->h, QEMU, &want), 0);
        assert_string_equal(slurp(f, "cpuset" QEMU "/cpuset.mems"), "2-3");
        assert_int_equal(cgroup_get_cpus(f->h, "/empty", &s), 0);
        assert_int_equal(cpuset_count(&s), 0);
        assert_int_equal(cgroup_get_cpus(f->h, "/missing", &s), -ENOENT);

        uint64_t m = 0;
        assert_int_equal(cgroup_get_memory_max(f->h, "/", &m), 0);
        assert_true(m == UINT64_MAX);
        assert_int_equal(cgroup_get_memory_max(f->h, QEMU, &m), 0);
        assert_int_equal(m, 536870912);
        assert_int_equal(cgroup_set_memory_max(f->h, QEMU, UINT64_C(1) << 30), 0);
        assert_string_equal(slurp(f, "memory" QEMU "/memory.limit_in_bytes"), "1073741824");
        assert_int_equal(cgroup_set_memory_max(f->h, QEMU, UINT64_MAX), 0);
        assert_string_equal(slurp(f, "memory" QEMU "/memory.limit_in_bytes"), "-1");
        assert_int_equal(cgroup_set_memory_max(f->h, QEMU, (uint64_t) INT64_MAX + 1), -ERANGE);
        assert_int_equal(cgroup_get_memory_max(f->h, QEMU "/vcpu0", &m), -ENOENT);

        uint64_t ns;
        assert_int_equal(cgroup_get_cpu_usage_ns(f->h, QEMU, &ns), 0);
        assert_int_equal(ns, 123456789);
        assert_int_equal(cgroup_get_cpu_usage_ns(f->h, "/garbage", &ns), -EINVAL);
}

static void test_v1_io_weight(void **state) {
        Fixture *f = *state;
        unsigned w = 0;
        /* blkio.weight (CFQ scale 10..1000, default 500) */
        assert_int_equal(cgroup_get_io_weight(f->h, "/machine", &w), 0);
        assert_int_equal(w, 100);
        assert_int_equal(cgroup_set_io_weight(f->h, "/machine", 50), 0);
        assert_string_equal(slurp(f, "blkio/machine/blkio.weight"), "250");
        assert_int_equal(cgroup_set_io_weight(f->h, "/machine", 10000), 0);
        assert_string_equal(slurp(f, "blkio/machine/blkio.weight"), "1000");
        assert_int_equal(cgroup_get_io_weight(f->h, "/machine", &w), 0);
        assert_int_equal(w, 200);

        /* only blkio.bfq.weight (BFQ scale 1..1000, default 100) */
        _cleanup_free_ char *p = NULL;
        assert_int_equal(cgroup_knob_path(f->h, QEMU, CGROUP_KNOB_IO_WEIGHT, &p), 0);
        assert_true(ends_with(p, "/blkio" QEMU "/blkio.bfq.weight"));
        assert_int_equal(cgroup_get_io_weight(f->h, QEMU, &w), 0);
        assert_int_equal(w, 100);
        assert_int_equal(cgroup_set_io_weight(f->h, QEMU, 300), 0);
        assert_string_equal(slurp(f, "blkio" QEMU "/blkio.bfq.weight"), "300");
        assert_int_equal(cgroup_set_io_weight(f->h, QEMU, 5000), 0);
        assert_string_equal(slurp(f, "blkio" QEMU "/blkio.bfq.weight"), "1000");

        assert_int_equal(cgroup_get_io_weight(f->h, "/nothing", &w), -EOPNOTSUPP);
        assert_int_equal(cgroup_set_io_weight(f->h, "/nothing", 100), -EOPNOTSUPP);
        assert_int_equal(cgroup_knob_path(f->h, "/nothing", CGROUP_KNOB_IO_WEIGHT, &p), -EOPNOTSUPP);
        assert_int_equal(cgroup_get_io_weight(f->h, "/missing", &w), -ENOENT);
        assert_int_equal(cgroup_get_io_weight(f->h, "/garbage", &w), -EINVAL);
        assert_int_equal(cgroup_set_io_weight(f->h, "/machine", 0), -ERANGE);
        assert_int_equal(cgroup_set_io_weight(f->h, "/machine", 10001), -ERANGE);
}

static void test_v1_save_restore(void **state) {
        Fixture *f = *state;
        char *saved[_CGROUP_KNOB_MAX] = {};

        for (int k = 0; k < _CGROUP_KNOB_MAX; k++)
                assert_int_equal(cgroup_knob_save(f->h, QEMU, (CgroupKnob) k, &saved[k]), 0);
        assert_string_equal(saved[CGROUP_KNOB_WEIGHT], "2048");
        assert_string_equal(saved[CGROUP_KNOB_CAP], "50000 100000");
        assert_string_equal(saved[CGROUP_KNOB_CPUS], "2-3");
        assert_string_equal(saved[CGROUP_KNOB_MEMS], "0");
        assert_string_equal(saved[CGROUP_KNOB_MEMORY_MAX], "536870912");
        assert_string_equal(saved[CGROUP_KNOB_IO_WEIGHT], "100");

        CpuSet s = {};
        cpuset_set(&s, 0);
        assert_int_equal(cgroup_set_weight(f->h, QEMU, 5000), 0);
        assert_int_equal(cgroup_set_cap(f->h, QEMU, 0), 0);
        assert_int_equal(cgroup_set_cpus(f->h, QEMU, &s), 0);
        assert_int_equal(cgroup_set_memory_max(f->h, QEMU, UINT64_MAX), 0);
        assert_int_equal(cgroup_set_io_weight(f->h, QEMU, 7), 0);
        /* a different period as well: restore must put both back */
        char p[512];
        snprintf(p, sizeof p, "%s/cpu,cpuacct" QEMU "/cpu.cfs_period_us", f->root);
        assert_int_equal(write_string_file(p, "333333"), 0);

        for (int k = 0; k < _CGROUP_KNOB_MAX; k++)
                assert_int_equal(cgroup_knob_restore(f->h, QEMU, (CgroupKnob) k, saved[k]), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.shares"), "2048");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.cfs_quota_us"), "50000");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.cfs_period_us"), "100000");
        assert_string_equal(slurp(f, "cpuset" QEMU "/cpuset.cpus"), "2-3");
        assert_string_equal(slurp(f, "memory" QEMU "/memory.limit_in_bytes"), "536870912");
        assert_string_equal(slurp(f, "blkio" QEMU "/blkio.bfq.weight"), "100");
        for (int k = 0; k < _CGROUP_KNOB_MAX; k++) {
                char *again = NULL;
                assert_int_equal(cgroup_knob_save(f->h, QEMU, (CgroupKnob) k, &again), 0);
                assert_string_equal(again, saved[k]);
                free(again);
                free(saved[k]);
        }

        /* an unlimited cap with its own period */
        char *c = NULL;
        assert_int_equal(cgroup_knob_save(f->h, QEMU "/vcpu1", CGROUP_KNOB_CAP, &c), 0);
        assert_string_equal(c, "-1 250000");
        assert_int_equal(cgroup_set_cap(f->h, QEMU "/vcpu1", 40), 0);
        assert_int_equal(cgroup_knob_restore(f->h, QEMU "/vcpu1", CGROUP_KNOB_CAP, c), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu1/cpu.cfs_quota_us"), "-1");
        free(c);

        /* an empty cpuset survives the trip */
        c = NULL;
        assert_int_equal(cgroup_knob_save(f->h, "/empty", CGROUP_KNOB_CPUS, &c), 0);
        assert_string_equal(c, "");
        assert_int_equal(cgroup_knob_restore(f->h, "/empty", CGROUP_KNOB_CPUS, c), 0);
        assert_string_equal(slurp(f, "cpuset/empty/cpuset.cpus"), "");
        free(c);

        c = NULL;
        assert_int_equal(cgroup_knob_restore(f->h, QEMU, CGROUP_KNOB_CAP, "50000"), -EINVAL);
        assert_int_equal(cgroup_knob_restore(f->h, QEMU, CGROUP_KNOB_CAP, "0 100000"), -EINVAL);
        assert_int_equal(cgroup_knob_restore(f->h, QEMU, CGROUP_KNOB_CAP, "x y"), -EINVAL);
        assert_int_equal(cgroup_knob_save(f->h, "/missing", CGROUP_KNOB_WEIGHT, &c), -ENOENT);
        assert_int_equal(cgroup_knob_save(f->h, "/garbage", CGROUP_KNOB_CAP, &c), -EINVAL);
        assert_int_equal(cgroup_knob_save(f->h, "/nothing", CGROUP_KNOB_IO_WEIGHT, &c), -EOPNOTSUPP);
        assert_int_equal(cgroup_knob_save(f->h, QEMU, _CGROUP_KNOB_INVALID, &c), -EINVAL);
        assert_int_equal(cgroup_knob_restore(f->h, QEMU, CGROUP_KNOB_WEIGHT, NULL), -EINVAL);
        assert_null(c);
}

static void test_v1_pid_path(void **state) {
        Fixture *f = *state;
        char *p = NULL;
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1000, &p), 0);
        assert_string_equal(p, QEMU "/emulator");
        free(p);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1001, &p), 0);   /* a vCPU thread */
        assert_string_equal(p, QEMU "/vcpu0");
        free(p);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1005, &p), 0);
        assert_string_equal(p, "/we;ird:pa\\\\th");
        free(p);
        p = NULL;
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1004, &p), -ENODATA);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1003, &p), -EBADMSG);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 999999, &p), -ESRCH);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 0, &p), -EINVAL);
        assert_null(p);

        /* the real /proc: this process is somewhere in the cpu hierarchy */
        assert_int_equal(cgroup_pid_path(f->h, NULL, getpid(), &p), 0);
        assert_true(p[0] == '/');
        free(p);
}

static void test_v1_save_paths(void **state) {
        Fixture *f = *state;
        char *s = NULL;
        assert_int_equal(cgroup_pid_save_paths(f->h, f->proc, 1000, &s), 0);
        assert_string_equal(s, "cpu:" QEMU "/emulator;cpuset:" QEMU "/emulator;memory:" QEMU ";blkio:" QEMU);
        free(s);
        assert_int_equal(cgroup_pid_save_paths(f->h, f->proc, 1005, &s), 0);
        assert_string_equal(s, "cpu:/we\\;ird:pa\\\\\\\\th");
        free(s);
        s = NULL;
        assert_int_equal(cgroup_pid_save_paths(f->h, f->proc, 999999, &s), -ESRCH);
        assert_null(s);

        assert_int_equal(cgroup_attach_pid_saved(f->h, 4242, "cpu:/machine;cpuset:/machine;memory:/;blkio:" QEMU), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct/machine/cgroup.procs"), "4242");
        assert_string_equal(slurp(f, "cpuset/machine/cgroup.procs"), "4242");
        assert_string_equal(slurp(f, "memory/cgroup.procs"), "4242");
        assert_string_equal(slurp(f, "blkio" QEMU "/cgroup.procs"), "4242");

        /* validated before anything moves */
        assert_int_equal(cgroup_attach_pid_saved(f->h, 4343, "cpu:/;freezer:/"), -EINVAL);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 4343, "cpu:/;memory"), -EINVAL);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 4343, "cpu:relative"), -EINVAL);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 4343, "cpu:/../x"), -EINVAL);
        assert_string_equal(slurp(f, "cpu,cpuacct/cgroup.procs"), "");
        assert_int_equal(cgroup_attach_pid_saved(f->h, 4343, "cpu:/missing"), -ENOENT);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 0, "cpu:/"), -EINVAL);
}

static void test_v1_create_attach_remove(void **state) {
        Fixture *f = *state;
        assert_int_equal(cgroup_create(f->h, "/xvsched/dom-a"), 0);
        assert_true(exists(f, "cpu,cpuacct/xvsched/dom-a"));
        assert_true(exists(f, "cpuset/xvsched/dom-a"));
        assert_true(exists(f, "memory/xvsched/dom-a"));
        assert_true(exists(f, "blkio/xvsched/dom-a"));
        assert_int_equal(cgroup_create(f->h, "/xvsched/dom-a"), 0);   /* idempotent */

        /* a cpuset group with empty cpus/mems gets the parent's */
        assert_int_equal(cgroup_create(f->h, "/empty"), 0);
        assert_string_equal(slurp(f, "cpuset/empty/cpuset.cpus"), "0-3");
        assert_string_equal(slurp(f, "cpuset/empty/cpuset.mems"), "0");

        assert_int_equal(cgroup_attach_pid(f->h, "/machine", 77), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct/machine/cgroup.procs"), "77");
        assert_string_equal(slurp(f, "cpuset/machine/cgroup.procs"), "77");
        assert_string_equal(slurp(f, "memory/machine/cgroup.procs"), "77");
        assert_string_equal(slurp(f, "blkio/machine/cgroup.procs"), "77");
        assert_int_equal(cgroup_attach_pid(f->h, "/machine", 0), -EINVAL);
        assert_int_equal(cgroup_attach_pid(f->h, "/missing", 5), -ENOENT);

        assert_int_equal(cgroup_remove(f->h, "/xvsched/dom-a"), 0);
        assert_false(exists(f, "cpu,cpuacct/xvsched/dom-a"));
        assert_false(exists(f, "cpuset/xvsched/dom-a"));
        assert_true(exists(f, "cpuset/xvsched"));
        assert_int_equal(cgroup_remove(f->h, "/xvsched/dom-a"), 0);   /* gone is fine */
        assert_int_equal(cgroup_remove(f->h, "/machine"), -EBUSY);
        assert_int_equal(cgroup_remove(f->h, "/"), -EBUSY);
        assert_int_equal(cgroup_create(f->h, "/a/../b"), -EINVAL);
        assert_int_equal(cgroup_create(f->h, "rel"), -EINVAL);
}

static void test_v1_rt_runtime(void **state) {
        Fixture *f = *state;
        char *saved0 = NULL, *saved1 = NULL;
        assert_int_equal(cgroup_rt_runtime_save(f->h, QEMU "/vcpu0", &saved0), 0);
        assert_string_equal(saved0, "0,0,0@" QEMU "/vcpu0");
        assert_int_equal(cgroup_rt_runtime_save(f->h, QEMU "/vcpu1", &saved1), 0);

        assert_int_equal(cgroup_ensure_rt_runtime(f->h, QEMU "/vcpu0", 100000), 3);
        assert_string_equal(slurp(f, "cpu,cpuacct/machine/cpu.rt_runtime_us"), "100000");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.rt_runtime_us"), "100000");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu0/cpu.rt_runtime_us"), "100000");
        assert_string_equal(slurp(f, "cpu,cpuacct/cpu.rt_runtime_us"), "950000");   /* the root is the global budget */
        assert_int_equal(cgroup_ensure_rt_runtime(f->h, QEMU "/vcpu0", 100000), 0);   /* already enough */
        assert_int_equal(cgroup_ensure_rt_runtime(f->h, QEMU "/vcpu0", 50000), 0);    /* never shrinks */

        /* the sibling: the parents grow by its share */
        assert_int_equal(cgroup_ensure_rt_runtime(f->h, QEMU "/vcpu1", 100000), 3);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu1/cpu.rt_runtime_us"), "100000");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.rt_runtime_us"), "200000");
        assert_string_equal(slurp(f, "cpu,cpuacct/machine/cpu.rt_runtime_us"), "200000");

        assert_int_equal(cgroup_rt_runtime_restore(f->h, saved1), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu1/cpu.rt_runtime_us"), "0");
        /* vcpu0 still holds its budget: the parents keep exactly that */
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.rt_runtime_us"), "100000");
        assert_string_equal(slurp(f, "cpu,cpuacct/machine/cpu.rt_runtime_us"), "100000");
        assert_int_equal(cgroup_rt_runtime_restore(f->h, saved0), 0);
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/vcpu0/cpu.rt_runtime_us"), "0");
        assert_string_equal(slurp(f, "cpu,cpuacct" QEMU "/cpu.rt_runtime_us"), "0");
        assert_string_equal(slurp(f, "cpu,cpuacct/machine/cpu.rt_runtime_us"), "0");
        free(saved0);
        free(saved1);

        assert_int_equal(cgroup_ensure_rt_runtime(f->h, QEMU, 0), -EINVAL);
        assert_int_equal(cgroup_ensure_rt_runtime(f->h, "/", 1000), 0);
        assert_int_equal(cgroup_ensure_rt_runtime(f->h, "/missing", 1000), -ENOENT);
        assert_int_equal(cgroup_rt_runtime_restore(f->h, "0,0"), -EINVAL);
        assert_int_equal(cgroup_rt_runtime_restore(f->h, "0@" QEMU), -EINVAL);   /* two levels, one value */
        assert_int_equal(cgroup_rt_runtime_restore(f->h, "0,x@" QEMU), -EINVAL);
}

/* ---- v2 ---- */

#define VMA "/machine.slice/vm-a.scope"

static void test_v2_levers(void **state) {
        Fixture *f = *state;
        unsigned w = 0;
        assert_int_equal(cgroup_get_weight(f->h, VMA, &w), 0);
        assert_int_equal(w, 400);
        assert_int_equal(cgroup_set_weight(f->h, VMA, 250), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpu.weight"), "250");
        assert_int_equal(cgroup_get_weight(f->h, "/bad.slice", &w), -ERANGE);
        assert_int_equal(cgroup_get_weight(f->h, "/missing", &w), -ENOENT);
        assert_int_equal(cgroup_set_weight(f->h, VMA, 0), -ERANGE);
        _cleanup_free_ char *procs = NULL;
        assert_int_equal(cgroup_host_procs_path(f->h, VMA, &procs), 0);
        assert_true(ends_with(procs, "/cgroup-v2" VMA "/cgroup.procs"));

        double c = -1;
        assert_int_equal(cgroup_get_cap(f->h, VMA, &c), 0);
        assert_true(fabs(c - 50) < 1e-9);
        assert_int_equal(cgroup_get_cap(f->h, "/machine.slice", &c), 0);
        assert_true(c == 0);
        assert_int_equal(cgroup_set_cap(f->h, VMA, 25), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpu.max"), "25000 100000");
        assert_int_equal(cgroup_set_cap(f->h, VMA, 0), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpu.max"), "max 100000");
        assert_int_equal(cgroup_get_cap(f->h, "/bad.slice", &c), -EBADMSG);
        assert_int_equal(cgroup_set_cap(f->h, VMA, 0.1), -ERANGE);

        CpuSet s, want = {};
        cpuset_set(&want, 0);
        cpuset_set(&want, 1);
        assert_int_equal(cgroup_get_cpus(f->h, VMA, &s), 0);
        assert_true(cpuset_equal(&s, &want));
        assert_int_equal(cgroup_get_cpus(f->h, "/machine.slice", &s), 0);   /* empty: inherit */
        assert_int_equal(cpuset_count(&s), 0);
        assert_int_equal(cgroup_get_cpus(f->h, "/bad.slice", &s), -EINVAL);
        cpuset_set(&want, 7);
        assert_int_equal(cgroup_set_cpus(f->h, VMA, &want), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpuset.cpus"), "0-1,7");
        assert_int_equal(cgroup_set_mems(f->h, VMA, &want), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpuset.mems"), "0-1,7");

        uint64_t m;
        assert_int_equal(cgroup_get_memory_max(f->h, VMA, &m), 0);
        assert_int_equal(m, UINT64_C(1) << 30);
        assert_int_equal(cgroup_get_memory_max(f->h, "/machine.slice", &m), 0);
        assert_true(m == UINT64_MAX);
        assert_int_equal(cgroup_set_memory_max(f->h, VMA, UINT64_MAX), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/memory.max"), "max");
        assert_int_equal(cgroup_set_memory_max(f->h, VMA, 4096), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/memory.max"), "4096");
        assert_int_equal(cgroup_get_memory_max(f->h, "/bad.slice", &m), -EINVAL);

        /* io.weight (iocost), then only io.bfq.weight, then neither */
        assert_int_equal(cgroup_get_io_weight(f->h, "/machine.slice", &w), 0);
        assert_int_equal(w, 100);
        assert_int_equal(cgroup_set_io_weight(f->h, "/machine.slice", 3000), 0);
        assert_string_equal(slurp(f, "machine.slice/io.weight"), "default 3000");
        assert_int_equal(cgroup_get_io_weight(f->h, VMA, &w), 0);
        assert_int_equal(w, 100);
        assert_int_equal(cgroup_set_io_weight(f->h, VMA, 3000), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/io.bfq.weight"), "default 1000");
        assert_int_equal(cgroup_get_io_weight(f->h, "/bad.slice", &w), -EOPNOTSUPP);
        assert_int_equal(cgroup_set_io_weight(f->h, "/bad.slice", 5), -EOPNOTSUPP);

        uint64_t ns;
        assert_int_equal(cgroup_get_cpu_usage_ns(f->h, VMA, &ns), 0);
        assert_int_equal(ns, 123456000);
        assert_int_equal(cgroup_get_cpu_usage_ns(f->h, "/", &ns), 0);
        assert_int_equal(ns, UINT64_C(9000000000));
        assert_int_equal(cgroup_get_cpu_usage_ns(f->h, "/bad.slice", &ns), -EBADMSG);

        _cleanup_free_ char *p = NULL;
        assert_int_equal(cgroup_knob_path(f->h, VMA, CGROUP_KNOB_CAP, &p), 0);
        assert_true(ends_with(p, "/cgroup-v2" VMA "/cpu.max"));
}

static void test_v2_save_restore(void **state) {
        Fixture *f = *state;
        char *saved[_CGROUP_KNOB_MAX] = {};
        for (int k = 0; k < _CGROUP_KNOB_MAX; k++)
                assert_int_equal(cgroup_knob_save(f->h, VMA, (CgroupKnob) k, &saved[k]), 0);
        assert_string_equal(saved[CGROUP_KNOB_WEIGHT], "400");
        assert_string_equal(saved[CGROUP_KNOB_CAP], "50000 100000");
        assert_string_equal(saved[CGROUP_KNOB_CPUS], "0-1");
        assert_string_equal(saved[CGROUP_KNOB_MEMORY_MAX], "1073741824");
        assert_string_equal(saved[CGROUP_KNOB_IO_WEIGHT], "default 100");

        CpuSet s = {};
        cpuset_set(&s, 3);
        assert_int_equal(cgroup_set_weight(f->h, VMA, 1), 0);
        assert_int_equal(cgroup_set_cap(f->h, VMA, 0), 0);
        assert_int_equal(cgroup_set_cpus(f->h, VMA, &s), 0);
        assert_int_equal(cgroup_set_mems(f->h, VMA, &s), 0);
        assert_int_equal(cgroup_set_memory_max(f->h, VMA, UINT64_MAX), 0);
        assert_int_equal(cgroup_set_io_weight(f->h, VMA, 9), 0);
        for (int k = 0; k < _CGROUP_KNOB_MAX; k++)
                assert_int_equal(cgroup_knob_restore(f->h, VMA, (CgroupKnob) k, saved[k]), 0);
        for (int k = 0; k < _CGROUP_KNOB_MAX; k++) {
                char *again = NULL;
                assert_int_equal(cgroup_knob_save(f->h, VMA, (CgroupKnob) k, &again), 0);
                assert_string_equal(again, saved[k]);
                free(again);
                free(saved[k]);
        }
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpu.max"), "50000 100000");

        /* multi-line files keep their lines, ';'-joined, without newlines */
        char *io = NULL;
        assert_int_equal(cgroup_knob_save(f->h, "/machine.slice", CGROUP_KNOB_IO_WEIGHT, &io), 0);
        assert_string_equal(io, "default 100;8:0 200");
        free(io);
        char *cpus = NULL;
        assert_int_equal(cgroup_knob_save(f->h, "/machine.slice", CGROUP_KNOB_CPUS, &cpus), 0);
        assert_string_equal(cpus, "");
        free(cpus);
        /* io is offered at the root but not enabled for /bad.slice: save
         * says which level gets it (v2 without systemd: from the root
         * down), set enables it, restore takes it away again. */
        char *x = NULL;
        assert_int_equal(cgroup_knob_save(f->h, "/bad.slice", CGROUP_KNOB_IO_WEIGHT, &x), 0);
        assert_string_equal(x, "subtree:io;/");
        assert_int_equal(cgroup_set_io_weight(f->h, "/bad.slice", 50), -EOPNOTSUPP);   /* a fixture grows no files */
        assert_string_equal(slurp(f, "cgroup.subtree_control"), "+io");
        assert_int_equal(cgroup_knob_restore(f->h, "/bad.slice", CGROUP_KNOB_IO_WEIGHT, x), 0);
        assert_string_equal(slurp(f, "cgroup.subtree_control"), "-io");
        free(x);
        x = NULL;
        /* io enabled, and still neither io.weight nor io.bfq.weight (no
         * iocost, no BFQ): not supported here */
        char p[256];
        snprintf(p, sizeof p, "%s/cgroup.subtree_control", f->root);
        assert_int_equal(write_string_file(p, "cpu memory io"), 0);
        assert_int_equal(cgroup_knob_save(f->h, "/bad.slice", CGROUP_KNOB_IO_WEIGHT, &x), -EOPNOTSUPP);
        /* a controller the parent does not offer is not enabled */
        snprintf(p, sizeof p, "%s/cgroup.controllers", f->root);
        assert_int_equal(write_string_file(p, "cpuset cpu memory"), 0);
        snprintf(p, sizeof p, "%s/cgroup.subtree_control", f->root);
        assert_int_equal(write_string_file(p, "cpu memory"), 0);
        assert_int_equal(cgroup_knob_save(f->h, "/bad.slice", CGROUP_KNOB_IO_WEIGHT, &x), -EOPNOTSUPP);
        assert_int_equal(cgroup_knob_save(f->h, "/missing", CGROUP_KNOB_CAP, &x), -ENOENT);
        assert_null(x);
}

static void test_v2_pid(void **state) {
        Fixture *f = *state;
        char *p = NULL;
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1002, &p), 0);
        assert_string_equal(p, VMA);   /* " (deleted)" dropped */
        free(p);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1000, &p), 0);   /* hybrid file: the 0:: line */
        assert_string_equal(p, "/");
        free(p);
        p = NULL;
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1004, &p), -ENODATA);
        assert_int_equal(cgroup_pid_path(f->h, f->proc, 1003, &p), -EBADMSG);
        assert_null(p);

        char *s = NULL;
        assert_int_equal(cgroup_pid_save_paths(f->h, f->proc, 1002, &s), 0);
        assert_string_equal(s, "unified:" VMA);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 31337, s), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cgroup.procs"), "31337");
        free(s);
        assert_int_equal(cgroup_pid_save_paths(f->h, f->proc, 1005, &s), 0);
        assert_string_equal(s, "unified:/we\\;ird:pa\\\\\\\\th");
        assert_int_equal(cgroup_attach_pid_saved(f->h, 31337, s), -ENOENT);   /* unescaped, then not there */
        free(s);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 31337, "cpu:/"), -EINVAL);
        assert_int_equal(cgroup_attach_pid_saved(f->h, 31337, "unified:/;unified:/"), -EINVAL);
}

static void test_v2_create(void **state) {
        Fixture *f = *state;
        assert_int_equal(cgroup_create(f->h, "/machine.slice/new.scope"), 0);
        assert_true(exists(f, "machine.slice/new.scope"));
        /* fixture files are plain files: each "+ctrl" write replaces the
         * content, the last one enabled is io */
        assert_string_equal(slurp(f, "machine.slice/cgroup.subtree_control"), "+io");
        assert_string_equal(slurp(f, "cgroup.subtree_control"), "+io");
        assert_int_equal(cgroup_attach_pid(f->h, VMA, 555), 0);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cgroup.procs"), "555");
        assert_int_equal(cgroup_remove(f->h, "/machine.slice/new.scope"), 0);
        assert_false(exists(f, "machine.slice/new.scope"));
        assert_int_equal(cgroup_remove(f->h, VMA), -EBUSY);

        /* no cpu.rt_runtime_us here: nothing to grow */
        assert_int_equal(cgroup_ensure_rt_runtime(f->h, VMA, 1000), 0);
        char *s = NULL;
        assert_int_equal(cgroup_rt_runtime_save(f->h, VMA, &s), -EOPNOTSUPP);
        assert_null(s);
}

/* ---- for real ---- */

static int real_skip_reason(const char **why) {
        if (geteuid() != 0) {
                *why = "not root";
                return 1;
        }
        if (access("/sys/fs/cgroup", W_OK) < 0) {
                *why = "/sys/fs/cgroup not writable";
                return 1;
        }
        return 0;
}

/* What a real test leaves behind if an assertion fails half way: the
 * teardown kills the child and removes the groups, so a failure neither
 * hangs the run (the child holds its stdout) nor litters the host. */
static struct {
        pid_t child;
        char root[64];
        char cg[64];
} real;

static pid_t real_fork(void) {
        pid_t child = fork();
        if (child == 0) {
                for (;;)
                        pause();
        }
        real.child = child;
        return child;
}

static int real_teardown(void **state) {
        (void) state;
        if (real.child > 0) {
                kill(real.child, SIGKILL);
                waitpid(real.child, NULL, 0);
                real.child = 0;
        }
        if (real.cg[0]) {
                CgroupHost *h;
                if (cgroup_host_open(real.root, &h) >= 0) {
                        char sub[96];
                        snprintf(sub, sizeof sub, "%s/vcpu0", real.cg);
                        (void) cgroup_remove(h, sub);
                        snprintf(sub, sizeof sub, "%s/vcpu1", real.cg);
                        (void) cgroup_remove(h, sub);
                        (void) cgroup_remove(h, real.cg);
                        cgroup_host_free(h);
                }
                real.cg[0] = 0;
        }
        return 0;
}

static void test_real(void **state) {
        (void) state;
        const char *why;
        if (real_skip_reason(&why)) {
                print_message("skipping real cgroup test: %s\n", why);
                skip();
        }
        CgroupHost *h;
        int r = cgroup_host_open("/sys/fs/cgroup", &h);
        if (r < 0) {
                print_message("skipping real cgroup test: open: %s\n", strerror(-r));
                skip();
        }
        char cg[64];
        snprintf(cg, sizeof cg, "/xvsched-unit-%d", (int) getpid());
        snprintf(real.root, sizeof real.root, "/sys/fs/cgroup");
        snprintf(real.cg, sizeof real.cg, "%s", cg);
        r = cgroup_create(h, cg);
        if (r == -EROFS || r == -EACCES || r == -EPERM) {
                cgroup_host_free(h);
                print_message("skipping real cgroup test: create: %s\n", strerror(-r));
                skip();
        }
        assert_int_equal(r, 0);

        pid_t child = real_fork();
        assert_true(child > 0);

        char *saved_paths = NULL;
        assert_int_equal(cgroup_pid_save_paths(h, NULL, child, &saved_paths), 0);
        assert_int_equal(cgroup_attach_pid(h, cg, child), 0);
        char *p = NULL;
        assert_int_equal(cgroup_pid_path(h, NULL, child, &p), 0);
        assert_string_equal(p, cg);
        free(p);

        char *saved[_CGROUP_KNOB_MAX] = {};
        for (int k = CGROUP_KNOB_WEIGHT; k <= CGROUP_KNOB_CPUS; k++)
                assert_int_equal(cgroup_knob_save(h, cg, (CgroupKnob) k, &saved[k]), 0);

        /* weight, checked in the kernel's own file */
        assert_int_equal(cgroup_set_weight(h, cg, 300), 0);
        assert_int_equal(cgroup_knob_path(h, cg, CGROUP_KNOB_WEIGHT, &p), 0);
        char *raw = NULL;
        assert_int_equal(read_one_line(p, &raw), 0);
        assert_string_equal(raw, cgroup_host_version(h) == CGROUP_V1 ? "3072" : "300");
        free(raw);
        free(p);
        unsigned w;
        assert_int_equal(cgroup_get_weight(h, cg, &w), 0);
        assert_int_equal(w, 300);

        /* cap 25 % */
        assert_int_equal(cgroup_set_cap(h, cg, 25), 0);
        double c;
        assert_int_equal(cgroup_get_cap(h, cg, &c), 0);
        assert_true(fabs(c - 25) < 1e-6);
        assert_int_equal(cgroup_knob_path(h, cg, CGROUP_KNOB_CAP, &p), 0);
        assert_int_equal(read_one_line(p, &raw), 0);
        assert_string_equal(raw, cgroup_host_version(h) == CGROUP_V1 ? "25000" : "25000 100000");
        free(raw);
        free(p);

        /* cpus: the first CPU only */
        CpuSet all, one = {};
        assert_int_equal(cgroup_get_cpus(h, cg, &all), 0);
        unsigned first = 0;
        while (first < 64 * CPUSET_WORDS && !cpuset_isset(&all, first))
                first++;
        if (first < 64 * CPUSET_WORDS) {
                cpuset_set(&one, first);
                assert_int_equal(cgroup_set_cpus(h, cg, &one), 0);
                CpuSet back;
                assert_int_equal(cgroup_get_cpus(h, cg, &back), 0);
                assert_true(cpuset_equal(&back, &one));
        }

        /* restore exactly */
        for (int k = CGROUP_KNOB_WEIGHT; k <= CGROUP_KNOB_CPUS; k++) {
                assert_int_equal(cgroup_knob_restore(h, cg, (CgroupKnob) k, saved[k]), 0);
                char *again = NULL;
                assert_int_equal(cgroup_knob_save(h, cg, (CgroupKnob) k, &again), 0);
                assert_string_equal(again, saved[k]);
                free(again);
                free(saved[k]);
        }

        /* RT group budget (v1 with CONFIG_RT_GROUP_SCHED): FIFO is refused
         * in a group without budget, allowed once it has some. */
        char *rt = NULL;
        if (cgroup_rt_runtime_save(h, cg, &rt) >= 0) {
                struct sched_param sp = { .sched_priority = 1 };
                if (strneq(rt, "0@", 2))
                        assert_int_equal(sched_setscheduler(child, SCHED_FIFO, &sp), -1);
                r = cgroup_ensure_rt_runtime(h, cg, 10000);
                if (r >= 0) {
                        assert_int_equal(sched_setscheduler(child, SCHED_FIFO, &sp), 0);
                        sp.sched_priority = 0;
                        assert_int_equal(sched_setscheduler(child, SCHED_OTHER, &sp), 0);
                        assert_int_equal(cgroup_rt_runtime_restore(h, rt), 0);
                        /* more than the whole pool: refused, nothing kept */
                        assert_int_equal(cgroup_ensure_rt_runtime(h, cg, 990000), -EBUSY);
                        char *after = NULL;
                        assert_int_equal(cgroup_rt_runtime_save(h, cg, &after), 0);
                        assert_string_equal(after, rt);
                        free(after);
                } else
                        print_message("RT budget not available here: %s\n", strerror(-r));
                free(rt);
        }

        /* nested groups, as libvirt's vcpuN: the parent grows by each child's share */
        char sub0[96], sub1[96];
        snprintf(sub0, sizeof sub0, "%s/vcpu0", cg);
        snprintf(sub1, sizeof sub1, "%s/vcpu1", cg);
        assert_int_equal(cgroup_create(h, sub0), 0);
        assert_int_equal(cgroup_create(h, sub1), 0);
        char *rt0 = NULL, *rt1 = NULL;
        if (cgroup_rt_runtime_save(h, sub0, &rt0) >= 0) {
                assert_int_equal(cgroup_rt_runtime_save(h, sub1, &rt1), 0);
                r = cgroup_ensure_rt_runtime(h, sub0, 10000);
                if (r >= 0) {
                        assert_int_equal(cgroup_ensure_rt_runtime(h, sub1, 10000), 2);
                        char *top = NULL;
                        assert_int_equal(cgroup_rt_runtime_save(h, sub1, &top), 0);
                        char want[128];
                        snprintf(want, sizeof want, "20000,10000@%s", sub1);
                        assert_string_equal(top, want);
                        free(top);
                        assert_int_equal(cgroup_rt_runtime_restore(h, rt1), 0);
                        assert_int_equal(cgroup_rt_runtime_restore(h, rt0), 0);
                }
                free(rt0);
                free(rt1);
        }
        assert_int_equal(cgroup_remove(h, sub0), 0);
        assert_int_equal(cgroup_remove(h, sub1), 0);

        assert_int_equal(cgroup_remove(h, cg), -EBUSY);   /* the child is still in it */
        assert_int_equal(cgroup_attach_pid_saved(h, child, saved_paths), 0);
        free(saved_paths);
        kill(child, SIGKILL);
        assert_int_equal(waitpid(child, NULL, 0), child);
        real.child = 0;
        assert_int_equal(cgroup_remove(h, cg), 0);
        real.cg[0] = 0;
        cgroup_host_free(h);
}

/* The v2 mount of a hybrid host (no controllers): create, attach, move
 * back and remove work there too. */
static void test_real_v2_unified(void **state) {
        (void) state;
        const char *why;
        if (real_skip_reason(&why)) {
                print_message("skipping real v2 test: %s\n", why);
                skip();
        }
        CgroupHost *h;
        if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) < 0 ||
            cgroup_host_open("/sys/fs/cgroup/unified", &h) < 0) {
                print_message("skipping real v2 test: no v2 mount at /sys/fs/cgroup/unified\n");
                skip();
        }
        assert_int_equal(cgroup_host_version(h), CGROUP_V2);
        char cg[64];
        snprintf(cg, sizeof cg, "/xvsched-unit-v2-%d", (int) getpid());
        snprintf(real.root, sizeof real.root, "/sys/fs/cgroup/unified");
        snprintf(real.cg, sizeof real.cg, "%s", cg);
        int r = cgroup_create(h, cg);
        if (r == -EROFS || r == -EACCES || r == -EPERM) {
                cgroup_host_free(h);
                print_message("skipping real v2 test: create: %s\n", strerror(-r));
                skip();
        }
        assert_int_equal(r, 0);
        pid_t child = real_fork();
        assert_true(child > 0);
        char *saved = NULL, *p = NULL;
        assert_int_equal(cgroup_pid_save_paths(h, NULL, child, &saved), 0);
        assert_true(strneq(saved, "unified:/", 9));
        assert_int_equal(cgroup_attach_pid(h, cg, child), 0);
        assert_int_equal(cgroup_pid_path(h, NULL, child, &p), 0);
        assert_string_equal(p, cg);
        free(p);
        unsigned w;
        assert_int_equal(cgroup_get_weight(h, cg, &w), -ENOENT);   /* no cpu controller here */
        assert_int_equal(cgroup_remove(h, cg), -EBUSY);
        assert_int_equal(cgroup_attach_pid_saved(h, child, saved), 0);
        free(saved);
        kill(child, SIGKILL);
        assert_int_equal(waitpid(child, NULL, 0), child);
        real.child = 0;
        assert_int_equal(cgroup_remove(h, cg), 0);
        real.cg[0] = 0;
        cgroup_host_free(h);
}

/* ---- cgroup v2 under systemd: the pure parts ---- */

static void test_sd_unit_of_cgroup(void **state) {
        (void) state;
        char *u = NULL, *ucg = NULL;
        assert_int_equal(systemd_unit_of_cgroup("/system.slice/x.service", &u, &ucg), 0);
        assert_string_equal(u, "x.service");
        assert_string_equal(ucg, "/system.slice/x.service");
        free(u), free(ucg);
        assert_int_equal(systemd_unit_of_cgroup("/system.slice/x.service/sub/deeper", &u, &ucg), 0);
        assert_string_equal(u, "x.service");
        assert_string_equal(ucg, "/system.slice/x.service");
        free(u), free(ucg);
        assert_int_equal(systemd_unit_of_cgroup("/machine.slice/machine-qemu\\x2d1\\x2da.scope/libvirt/vcpu0", &u, &ucg), 0);
        assert_string_equal(u, "machine-qemu\\x2d1\\x2da.scope");
        assert_string_equal(ucg, "/machine.slice/machine-qemu\\x2d1\\x2da.scope");
        free(u), free(ucg);
        assert_int_equal(systemd_unit_of_cgroup("/qemu.slice/100.scope", &u, NULL), 0);
        assert_string_equal(u, "100.scope");
        free(u);
        assert_int_equal(systemd_unit_of_cgroup("/system.slice", &u, NULL), 0);
        assert_string_equal(u, "system.slice");
        free(u);
        /* systemd's cg_escape(): "_cpu.service" is the unit cpu.service */
        assert_int_equal(systemd_unit_of_cgroup("/a.slice/_cpu.service", &u, NULL), 0);
        assert_string_equal(u, "cpu.service");
        free(u);
        u = NULL;
        /* Only slices hold units: a unit-named group below a service or a
         * scope is in that unit's own subtree (a user manager's units under
         * user@UID.service, a delegate's groups), never a unit of the system
         * manager, which may well have a unit of that name (dbus.service). */
        assert_int_equal(systemd_unit_of_cgroup("/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service",
                                                &u, &ucg), 0);
        assert_string_equal(u, "user@1000.service");
        assert_string_equal(ucg, "/user.slice/user-1000.slice/user@1000.service");
        free(u), free(ucg);
        assert_int_equal(systemd_unit_of_cgroup("/machine.slice/m.scope/libvirt/x.service", &u, &ucg), 0);
        assert_string_equal(u, "m.scope");
        assert_string_equal(ucg, "/machine.slice/m.scope");
        free(u), free(ucg);
        /* ... and a unit-named group below a group made by hand is no unit */
        u = NULL;
        assert_int_equal(systemd_unit_of_cgroup("/mine/x.service", &u, NULL), -ENOENT);
        assert_int_equal(systemd_unit_of_cgroup("/system.slice/mine/x.service", &u, &ucg), 0);
        assert_string_equal(u, "system.slice");
        assert_string_equal(ucg, "/system.slice");
        free(u), free(ucg);
        u = NULL;
        assert_int_equal(systemd_unit_of_cgroup("/xvsched-a", &u, NULL), -ENOENT);
        assert_int_equal(systemd_unit_of_cgroup("/", &u, NULL), -ENOENT);
        assert_int_equal(systemd_unit_of_cgroup("/a/.service", &u, NULL), -ENOENT);   /* no name */
        assert_int_equal(systemd_unit_of_cgroup("/a/../x.service", &u, NULL), -EINVAL);
        assert_int_equal(systemd_unit_of_cgroup("x.service", &u, NULL), -EINVAL);
        assert_null(u);
}

static void test_sd_plan(void **state) {
        (void) state;
        CgroupPlan p;
        /* v2 without systemd: the file, controllers from the root down */
        assert_int_equal(cgroup_plan_decide(false, "/system.slice/x.service", "x.service", "/system.slice/x.service", false, &p), 0);
        assert_int_equal(p.route, CGROUP_ROUTE_FILE);
        assert_string_equal(p.enable_from, "/");
        assert_null(p.unit);
        cgroup_plan_done(&p);
        /* systemd's unit: its properties */
        assert_int_equal(cgroup_plan_decide(true, "/system.slice/x.service", "x.service", "/system.slice/x.service", false, &p), 0);
        assert_int_equal(p.route, CGROUP_ROUTE_UNIT);
        assert_string_equal(p.unit, "x.service");
        assert_null(p.enable_from);
        cgroup_plan_done(&p);
        /* a delegated scope and its subtree: the files, enabling from the scope's group down */
        const char *scope = "/machine.slice/machine-qemu\\x2d1\\x2da.scope";
        assert_int_equal(cgroup_plan_decide(true, "/machine.slice/machine-qemu\\x2d1\\x2da.scope/libvirt/vcpu0",
                                            "machine-qemu\\x2d1\\x2da.scope", scope, true, &p), 0);
        assert_int_equal(p.route, CGROUP_ROUTE_FILE);
        assert_string_equal(p.enable_from, scope);
        assert_string_equal(p.unit, "machine-qemu\\x2d1\\x2da.scope");
        cgroup_plan_done(&p);
        assert_int_equal(cgroup_plan_decide(true, scope, "machine-qemu\\x2d1\\x2da.scope", scope, true, &p), 0);
        assert_int_equal(p.route, CGROUP_ROUTE_FILE);
        cgroup_plan_done(&p);
        /* below a unit that is not delegated, or no unit at all: the file, nothing enabled */
        assert_int_equal(cgroup_plan_decide(true, "/system.slice/x.service/sub", "x.service", "/system.slice/x.service", false, &p), 0);
        assert_int_equal(p.route, CGROUP_ROUTE_FILE);
        assert_null(p.enable_from);
        cgroup_plan_done(&p);
        assert_int_equal(cgroup_plan_decide(true, "/xvsched-a", NULL, NULL, false, &p), 0);
        assert_int_equal(p.route, CGROUP_ROUTE_FILE);
        assert_null(p.enable_from);
        cgroup_plan_done(&p);
        assert_int_equal(cgroup_plan_decide(true, "../x", NULL, NULL, false, &p), -EINVAL);
}

static void check_levels(const char *cg, const char *from, const char *want) {
        char **v = NULL;
        assert_int_equal(cgroup_enable_levels(cg, from, &v), 0);
        char got[512] = "";
        for (size_t i = 0; v[i]; i++) {
                strcat(got, i ? " " : "");
                strcat(got, v[i]);
                free(v[i]);
        }
        free(v);
        assert_string_equal(got, want);
}

static void test_sd_enable_levels(void **state) {
        (void) state;
        check_levels("/a/b/c", "/", "/ /a /a/b");
        check_levels("/a/b/c", "/a", "/a /a/b");
        check_levels("/a/b/c", "/a/b", "/a/b");
        check_levels("/a/b/c", "/a/b/c", "");
        check_levels("/a/b/c", "/x", "");
        check_levels("/ab/c", "/a", "");   /* "/a" is not a prefix of "/ab" */
        check_levels("/a//b/", "/", "/ /a");
        check_levels("/", "/", "");
        char **v = NULL;
        assert_int_equal(cgroup_enable_levels("a/b", "/", &v), -EINVAL);
        assert_int_equal(cgroup_enable_levels("/a/b", NULL, &v), -EINVAL);
        assert_null(v);
        assert_string_equal(cgroup_v2_knob_controller(CGROUP_KNOB_WEIGHT), "cpu");
        assert_string_equal(cgroup_v2_knob_controller(CGROUP_KNOB_CAP), "cpu");
        assert_string_equal(cgroup_v2_knob_controller(CGROUP_KNOB_CPUS), "cpuset");
        assert_string_equal(cgroup_v2_knob_controller(CGROUP_KNOB_MEMS), "cpuset");
        assert_string_equal(cgroup_v2_knob_controller(CGROUP_KNOB_MEMORY_MAX), "memory");
        assert_string_equal(cgroup_v2_knob_controller(CGROUP_KNOB_IO_WEIGHT), "io");
}

static void test_sd_properties(void **state) {
        (void) state;
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_WEIGHT), "CPUWeight");
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_CAP), "CPUQuotaPerSecUSec");
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_CPUS), "AllowedCPUs");
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_MEMS), "AllowedMemoryNodes");
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_MEMORY_MAX), "MemoryMax");
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_IO_WEIGHT), "IOWeight");
        assert_null(systemd_knob_property(_CGROUP_KNOB_MAX));

        /* cap % → CPUQuotaPerSecUSec: 25 % = 250 ms per second = cpu.max "25000 100000" */
        uint64_t q = 0;
        assert_int_equal(systemd_cap_to_quota(25, SYSTEMD_UNSET, &q), 0);
        assert_int_equal(q, 250000);
        assert_int_equal(systemd_cap_to_quota(250, 100000, &q), 0);
        assert_int_equal(q, 2500000);
        assert_int_equal(systemd_cap_to_quota(0, SYSTEMD_UNSET, &q), 0);
        assert_true(q == SYSTEMD_UNSET);
        assert_int_equal(systemd_cap_to_quota(1, SYSTEMD_UNSET, &q), 0);   /* 1 ms per 100 ms: the minimum */
        assert_int_equal(q, 10000);
        assert_int_equal(systemd_cap_to_quota(0.5, SYSTEMD_UNSET, &q), -ERANGE);
        assert_int_equal(systemd_cap_to_quota(5, 10000, &q), -ERANGE);       /* 0.5 ms per 10 ms period */
        assert_int_equal(systemd_cap_to_quota(-1, SYSTEMD_UNSET, &q), -EINVAL);
        assert_int_equal(systemd_cap_to_quota(NAN, SYSTEMD_UNSET, &q), -EINVAL);
        assert_int_equal(systemd_cap_to_quota(CGROUP_CAP_MAX + 1, SYSTEMD_UNSET, &q), -ERANGE);
        assert_true(fabs(systemd_quota_to_cap(250000) - 25) < 1e-9);
        assert_true(systemd_quota_to_cap(SYSTEMD_UNSET) == 0);

        /* AllowedCPUs as systemd's byte mask */
        CpuSet s = {}, back;
        uint8_t mask[CPUSET_WORDS * 8];
        assert_int_equal(systemd_cpuset_to_mask(&s, mask, sizeof mask), 0);
        cpuset_set(&s, 0);
        cpuset_set(&s, 1);
        cpuset_set(&s, 9);
        assert_int_equal(systemd_cpuset_to_mask(&s, mask, sizeof mask), 2);
        assert_int_equal(mask[0], 0x03);
        assert_int_equal(mask[1], 0x02);
        assert_int_equal(systemd_mask_to_cpuset(mask, 2, &back), 0);
        assert_true(cpuset_equal(&s, &back));
        cpuset_set(&s, 1023);
        assert_int_equal(systemd_cpuset_to_mask(&s, mask, sizeof mask), 128);
        assert_int_equal(mask[127], 0x80);
        assert_int_equal(systemd_mask_to_cpuset(mask, 128, &back), 0);
        assert_true(cpuset_equal(&s, &back));
        uint8_t big[129] = { [128] = 1 };
        assert_int_equal(systemd_mask_to_cpuset(big, sizeof big, &back), -ERANGE);   /* CPU 1024 */
}

static void test_sd_saved_form(void **state) {
        (void) state;
        UnitProp p[2] = {};
        snprintf(p[0].name, sizeof p[0].name, "CPUQuotaPerSecUSec");
        p[0].u = SYSTEMD_UNSET;
        snprintf(p[1].name, sizeof p[1].name, "CPUQuotaPeriodUSec");
        p[1].u = 50000;
        char *s = NULL;
        assert_int_equal(systemd_props_format("x.service", p, 2, &s), 0);
        assert_string_equal(s, "unit:CPUQuotaPerSecUSec=t:18446744073709551615,CPUQuotaPeriodUSec=t:50000 x.service");
        assert_true(systemd_props_is_saved(s));
        char *unit = NULL;
        UnitProp q[SYSTEMD_PROPS_MAX];
        size_t n = 0;
        assert_int_equal(systemd_props_parse(s, &unit, q, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(unit, "x.service");
        assert_string_equal(q[0].name, "CPUQuotaPerSecUSec");
        assert_true(q[0].u == SYSTEMD_UNSET && !q[0].is_set);
        assert_int_equal(q[1].u, 50000);
        free(unit), free(s);

        UnitProp c = { .is_set = true };
        snprintf(c.name, sizeof c.name, "AllowedCPUs");
        cpuset_set(&c.set, 0);
        cpuset_set(&c.set, 9);
        assert_int_equal(systemd_props_format("getty@tty1.service", &c, 1, &s), 0);
        assert_string_equal(s, "unit:AllowedCPUs=ay:0102 getty@tty1.service");
        assert_int_equal(systemd_props_parse(s, &unit, q, &n), 0);
        assert_int_equal(n, 1);
        assert_true(q[0].is_set && cpuset_equal(&q[0].set, &c.set));
        assert_string_equal(unit, "getty@tty1.service");
        free(unit), free(s);
        c.set = (CpuSet) {};
        assert_int_equal(systemd_props_format("a.scope", &c, 1, &s), 0);
        assert_string_equal(s, "unit:AllowedCPUs=ay: a.scope");   /* unset: the empty mask */
        assert_int_equal(systemd_props_parse(s, NULL, q, &n), 0);
        assert_true(q[0].is_set && cpuset_count(&q[0].set) == 0);
        free(s);

        /* one clear refusal for anything else */
        static const char *const bad[] = {
                "unit:", "unit:CPUWeight=t:1", "unit: x.service", "unit:CPUWeight=t: x.service",
                "unit:CPUWeight=q:1 x.service", "unit:AllowedCPUs=ay:0 x.service", "unit:AllowedCPUs=ay:zz x.service",
                "unit:A=t:1,B=t:2,C=t:3 x.service", "unit:CPUWeight=t:1 x.txt", "unit:CPUWeight=t:1 ",
                "unit:CPUWeight=t:99999999999999999999999 x.service", "unit:CPUWeight=t:1, x.service",
                "unit:CPU-Weight=t:1 x.service", "unit:CPUWeight=t:-1 x.service", "unit:CPUWeight=t:1 a/b.service",
                "unit:=t:1 x.service", "400", "subtree:cpu;/",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unit = NULL;
                if (systemd_props_parse(bad[i], &unit, q, &n) != -EINVAL)
                        fail_msg("accepted: '%s'", bad[i]);
                assert_null(unit);
        }
        assert_int_equal(systemd_props_format("x.service", p, 0, &s), -EINVAL);
        assert_int_equal(systemd_props_format("no spaces.service", p, 1, &s), -EINVAL);
        assert_int_equal(systemd_props_format("x.txt", p, 1, &s), -EINVAL);
}

static void test_sd_owns_tree(void **state) {
        (void) state;
        char dir[] = "/tmp/xvsched-test-sd-XXXXXX", p[512], proc[64], run[64];
        assert_non_null(mkdtemp(dir));
        snprintf(proc, sizeof proc, "%s/proc", dir);
        snprintf(run, sizeof run, "%s/run", dir);
        snprintf(p, sizeof p, "mkdir -p %s/1 %s/systemd", proc, run);
        assert_int_equal(system(p), 0);
        snprintf(p, sizeof p, "printf 'systemd\\n' > %s/1/comm", proc);
        assert_int_equal(system(p), 0);
        assert_false(systemd_owns_tree(proc, run));   /* no /run/systemd/system */
        snprintf(p, sizeof p, "%s/systemd/system", run);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_true(systemd_owns_tree(proc, run));
        snprintf(p, sizeof p, "%s/1/comm", proc);
        assert_int_equal(write_string_file(p, "init\n"), 0);
        assert_false(systemd_owns_tree(proc, run));   /* sysvinit, runit, a container's shell */
        snprintf(p, sizeof p, "rm -rf '%s'", dir);
        assert_int_equal(system(p), 0);
}

/* Removing our own transient scope while processes are still in it (a
 * domain's second process not moved back yet, or one whose old group is
 * gone): StopUnit would have systemd kill them (a scope's KillMode is
 * control-group).  So a scope that still holds a process is left alone:
 * -EBUSY, as rmdir of a busy group, and no call on the bus.  The bus here
 * is a stand-in that fails every call: reaching it is the defect. */
static void test_sd_scope_remove_busy(void **state) {
        Fixture *f = *state;
        static void *fake_bus[8];   /* a SystemdBus whose sd_bus is NULL */
        char p[512];
        snprintf(p, sizeof p, "mkdir -p '%s/xvsched.slice/xvsched-a.scope' && printf '555\\n556\\n' > "
                              "'%s/xvsched.slice/xvsched-a.scope/cgroup.procs'", f->root, f->root);
        assert_int_equal(system(p), 0);
        f->h->sd_bus = (struct SystemdBus *) fake_bus;
        int r = cgroup_remove(f->h, "/xvsched.slice/xvsched-a.scope");
        f->h->sd_bus = NULL;
        assert_int_equal(r, -EBUSY);
        assert_true(exists(f, "xvsched.slice/xvsched-a.scope"));
        assert_string_equal(slurp(f, "xvsched.slice/xvsched-a.scope/cgroup.procs"), "555\n556");
}

/* ---- a systemd manager that answers StartTransientUnit and then never
 * answers again (hung, or swamped), on a private bus ---- */

static int fake_start(sd_bus_message *m, void *u _unused_, sd_bus_error *e _unused_) {
        return sd_bus_reply_method_return(m, "o", "/org/freedesktop/systemd1/job/1");
}

static int fake_hang(sd_bus_message *m _unused_, void *u _unused_, sd_bus_error *e _unused_) {
        return 1;   /* no reply: the caller's timeout is all it has */
}

static const sd_bus_vtable fake_manager[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("StartTransientUnit", "ssa(sv)a(sa(sv))", "o", fake_start, 0),
        SD_BUS_METHOD("LoadUnit", "s", "o", fake_hang, 0),
        SD_BUS_VTABLE_END,
};

static void fake_manager_run(const char *address) {
        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                     fake_manager, NULL) < 0 ||
            sd_bus_request_name(bus, "org.freedesktop.systemd1", 0) < 0)
                _exit(1);
        for (;;) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        _exit(1);
                if (r == 0)
                        (void) sd_bus_wait(bus, UINT64_MAX);
        }
}

/* StartTransientUnit went through, then waiting for the pid to show up in
 * the scope asked the bus 500 times, each call with its own 5 s timeout:
 * over an hour against a hung manager, with the lever's caller (and its
 * journal lock) waiting.  The wait must be bounded as a whole. */
static void test_sd_scope_start_bus_hangs(void **state) {
        (void) state;
        if (access("/usr/bin/dbus-daemon", X_OK) < 0) {
                print_message("skipped: no dbus-daemon\n");
                return;
        }
        FILE *f = popen("dbus-daemon --session --fork --print-address=1 --print-pid=1", "r");
        assert_non_null(f);
        char address[512] = "", pidline[32] = "";
        assert_non_null(fgets(address, sizeof address, f));
        assert_non_null(fgets(pidline, sizeof pidline, f));
        pclose(f);
        address[strcspn(address, "\n")] = 0;
        pid_t daemon_pid = atoi(pidline);
        assert_true(daemon_pid > 0);
        pid_t fake = fork();
        assert_true(fake >= 0);
        if (fake == 0)
                fake_manager_run(address);
        usleep(300 * 1000);   /* the fake takes its name */
        pid_t tester = fork();
        assert_true(tester >= 0);
        if (tester == 0) {
                setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
                SystemdBus *b = NULL;
                if (systemd_bus_open(&b) < 0)
                        _exit(2);
                pid_t me = getpid();
                int r = systemd_scope_start(b, "xvsched-t.scope", "xvsched.slice", &me, 1);
                _exit(r < 0 ? 0 : 3);
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int status = 0;
        pid_t w = 0;
        for (int i = 0; i < 400 && (w = waitpid(tester, &status, WNOHANG)) == 0; i++)
                usleep(100 * 1000);   /* 40 s */
        if (w == 0) {
                kill(tester, SIGKILL);
                waitpid(tester, &status, 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        kill(fake, SIGKILL);
        waitpid(fake, NULL, 0);
        kill(daemon_pid, SIGTERM);
        print_message("scope start against a hung manager: %s after %.1f s\n", w == 0 ? "killed" : "returned",
                      (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
        assert_true(w == tester);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sd_own_group_fixture(void **state) {
        Fixture *f = *state;
        /* a fixture tree is never systemd's: groups and levers as on plain v2 */
        assert_false(cgroup_host_systemd(f->h));
        char *cg = NULL;
        assert_int_equal(cgroup_own_group_path(f->h, "web", &cg), 0);
        assert_string_equal(cg, "/xvsched-web");
        free(cg);
        cg = NULL;
        assert_int_equal(cgroup_own_group_path(f->h, "a/b", &cg), -EINVAL);
        assert_int_equal(cgroup_own_group_path(f->h, "", &cg), -EINVAL);
        assert_null(cg);
        /* a unit-looking save on a host without the bus: refused, nothing written */
        assert_int_equal(cgroup_knob_restore(f->h, VMA, CGROUP_KNOB_WEIGHT, "unit:CPUWeight=t:100 vm-a.scope"), -ENOTCONN);
        assert_string_equal(slurp(f, "machine.slice/vm-a.scope/cpu.weight"), "400");
        assert_int_equal(cgroup_knob_restore(f->h, VMA, CGROUP_KNOB_WEIGHT, "unit:CPUWeight=t:x vm-a.scope"), -ENOTCONN);
        assert_int_equal(cgroup_knob_restore(f->h, VMA, CGROUP_KNOB_WEIGHT, "subtree:nope;/"), -EINVAL);
        assert_int_equal(cgroup_knob_restore(f->h, VMA, CGROUP_KNOB_WEIGHT, "subtree:cpu;../x"), -EINVAL);
        assert_string_equal(slurp(f, "cgroup.subtree_control"), "cpu memory");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_open),
                cmocka_unit_test_setup_teardown(test_v1_comount_without_symlinks, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_weight, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_cap, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_cpuset_memory, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_io_weight, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_save_restore, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_pid_path, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_save_paths, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_create_attach_remove, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v1_rt_runtime, setup_v1, teardown),
                cmocka_unit_test_setup_teardown(test_v2_levers, setup_v2, teardown),
                cmocka_unit_test_setup_teardown(test_v2_save_restore, setup_v2, teardown),
                cmocka_unit_test_setup_teardown(test_v2_pid, setup_v2, teardown),
                cmocka_unit_test_setup_teardown(test_v2_create, setup_v2, teardown),
                cmocka_unit_test(test_sd_unit_of_cgroup),
                cmocka_unit_test(test_sd_plan),
                cmocka_unit_test(test_sd_enable_levels),
                cmocka_unit_test(test_sd_properties),
                cmocka_unit_test(test_sd_saved_form),
                cmocka_unit_test(test_sd_owns_tree),
                cmocka_unit_test_setup_teardown(test_sd_own_group_fixture, setup_v2, teardown),
                cmocka_unit_test_setup_teardown(test_sd_scope_remove_busy, setup_v2, teardown),
                cmocka_unit_test(test_sd_scope_start_bus_hangs),
                cmocka_unit_test_teardown(test_real, real_teardown),
                cmocka_unit_test_teardown(test_real_v2_unified, real_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
