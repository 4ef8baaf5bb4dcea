/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The idle= lever (cpu.idle of a domain's own cgroup): the knob on v1 and
 * v2 fixture trees, systemd's CPUWeight=idle mapping, the setting's parse,
 * and lever_apply() on a v2 tree in a temporary directory: set and reset,
 * refused for a shared group and for a kernel without cpu.idle with the
 * state file as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "host/cgroup.h"
#include "host/systemd-unit.h"
#include "hv/hv.h"
#include "lever/journal.h"
#include "lever/lever.h"

#define FIXTURES "fixtures"   /* the tests run in tests/unit/ */

static char tmpdir[64];

static void setup_dir(void) {
        strcpy(tmpdir, "/tmp/xvsched-test-idle-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
}

static void cleanup_dir(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
}

static void mkfile(const char *rel, const char *content) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static void mkdirs(const char *rel) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        assert_int_equal(mkdir(p, 0755), 0);
}

/* Contents of TMPDIR/rel without the trailing newline; NULL when missing. */
static char *slurp(const char *rel) {
        static char buf[4096];
        char p[256], *s = NULL;
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        if (read_full_file(p, sizeof buf - 1, &s, NULL) < 0)
                return NULL;
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '\n')
                s[--n] = 0;
        snprintf(buf, sizeof buf, "%s", s);
        free(s);
        return buf;
}

/* The knob on copies of the fixture trees: NAME "cgroup-v1" or "cgroup-v2",
 * CG a group with cpu.idle "0", NOIDLE one with the cpu controller's weight
 * file but no cpu.idle (a kernel before 5.15), IDLE_FILE cg's file. */
static void check_knob(const char *name, const char *cg, const char *noidle, const char *idle_file) {
        setup_dir();
        char cmd[256], root[128], rel[256];
        snprintf(cmd, sizeof cmd, "cp -a " FIXTURES "/%s '%s'/", name, tmpdir);
        assert_int_equal(system(cmd), 0);
        snprintf(root, sizeof root, "%s/%s", tmpdir, name);
        snprintf(rel, sizeof rel, "%s/%s", name, idle_file);
        CgroupHost *h;
        assert_int_equal(cgroup_host_open(root, &h), 0);

        assert_string_equal(cgroup_knob_to_string(CGROUP_KNOB_IDLE), "idle");
        assert_int_equal(cgroup_knob_from_string("idle"), CGROUP_KNOB_IDLE);
        char *path = NULL;
        assert_int_equal(cgroup_knob_path(h, cg, CGROUP_KNOB_IDLE, &path), 0);
        assert_non_null(strstr(path, "/cpu.idle"));
        free(path);

        assert_int_equal(cgroup_idle_check(h, cg), 0);
        assert_int_equal(cgroup_idle_check(h, noidle), -EOPNOTSUPP);
        assert_int_equal(cgroup_idle_check(h, "/nosuch"), -ENOENT);

        bool idle = true;
        assert_int_equal(cgroup_get_idle(h, cg, &idle), 0);
        assert_false(idle);
        char *saved = NULL;
        assert_int_equal(cgroup_knob_save(h, cg, CGROUP_KNOB_IDLE, &saved), 0);
        assert_string_equal(saved, "0");
        assert_int_equal(cgroup_set_idle(h, cg, true), 0);
        assert_string_equal(slurp(rel), "1");
        assert_int_equal(cgroup_get_idle(h, cg, &idle), 0);
        assert_true(idle);
        assert_int_equal(cgroup_knob_restore(h, cg, CGROUP_KNOB_IDLE, saved), 0);
        assert_string_equal(slurp(rel), "0");
        free(saved);
        /* a value the kernel never writes there */
        mkfile(rel, "2\n");
        assert_int_equal(cgroup_get_idle(h, cg, &idle), -ERANGE);
        /* no cpu.idle: reading says so, and nothing is created by a read */
        assert_int_equal(cgroup_get_idle(h, noidle, &idle), -ENOENT);

        cgroup_host_free(h);
        cleanup_dir();
}

static void test_knob_v1(void **state) {
        (void) state;
        check_knob("cgroup-v1", "/machine/qemu-1-a.libvirt-qemu", "/machine",
                   "cpu,cpuacct/machine/qemu-1-a.libvirt-qemu/cpu.idle");
}

static void test_knob_v2(void **state) {
        (void) state;
        check_knob("cgroup-v2", "/machine.slice/vm-a.scope", "/machine.slice", "machine.slice/vm-a.scope/cpu.idle");
}

static void test_systemd_weight(void **state) {
        (void) state;
        /* systemd's CPUWeight=idle is 0 on the bus; leaving idle unsets it,
         * any real weight is kept. */
        assert_string_equal(systemd_knob_property(CGROUP_KNOB_IDLE), "CPUWeight");
        assert_true(systemd_idle_to_weight(true, 100) == SYSTEMD_WEIGHT_IDLE);
        assert_true(systemd_idle_to_weight(true, SYSTEMD_UNSET) == SYSTEMD_WEIGHT_IDLE);
        assert_true(systemd_idle_to_weight(false, SYSTEMD_WEIGHT_IDLE) == SYSTEMD_UNSET);
        assert_true(systemd_idle_to_weight(false, 300) == 300);
        assert_true(systemd_idle_to_weight(false, SYSTEMD_UNSET) == SYSTEMD_UNSET);
}

static void test_parse(void **state) {
        (void) state;
        LeverSetting s;
        const char *why;
        static const char *const yes[] = { "idle=yes", "idle=1", "idle=on" };
        static const char *const no[] = { "idle=no", "idle=0", "idle=off" };
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(lever_setting_parse(yes[i], &s, &why), 0);
                assert_int_equal(s.key, LEVER_IDLE);
                assert_true(s.v.idle);
                assert_int_equal(lever_setting_parse(no[i], &s, &why), 0);
                assert_false(s.v.idle);
        }
        assert_int_equal(lever_setting_parse("idle=maybe", &s, &why), -EINVAL);
        assert_string_equal(why, "must be yes or no");
        assert_int_equal(lever_setting_parse("idle=", &s, &why), -EINVAL);
        assert_false(lever_is_thread_lever(LEVER_IDLE));
        assert_string_equal(lever_key_to_string(LEVER_IDLE), "idle");
}

static char *state_file(void) {
        char p[256], *s = NULL;
        snprintf(p, sizeof p, "%s/state.json", tmpdir);
        if (read_full_file(p, 1 << 20, &s, NULL) < 0)
                return strdup("");
        return s;
}

/* A refused idle=: the error names why, nothing in the tree or the state
 * file changed. */
static void check_refused(LeverContext *c, Domain *d, const char *cg, const char *want, int want_r) {
        free(d->cgroup);
        d->cgroup = cg ? strdup(cg) : NULL;
        LeverSetting s;
        const char *why;
        assert_int_equal(lever_setting_parse("idle=yes", &s, &why), 0);
        char *before = state_file();
        assert_int_equal(lever_apply(c, d, &s, 1), want_r);
        assert_non_null(strstr(c->error, want));
        assert_non_null(strstr(c->error, "idle=yes"));
        char *after = state_file();
        assert_string_equal(before, after);
        free(before);
        free(after);
        lever_context_done(c);
}

static void test_apply(void **state) {
        (void) state;
        setup_dir();
        /* a v2 tree: /grp holds only this process, /shared another one too,
         * /old has cpu.weight but no cpu.idle */
        mkdirs("cg");
        mkdirs("cg/grp");
        mkdirs("cg/shared");
        mkdirs("cg/old");
        mkfile("cg/cgroup.controllers", "cpuset cpu io memory\n");
        mkfile("cg/cgroup.subtree_control", "cpu\n");
        char procs[64];
        snprintf(procs, sizeof procs, "%d\n", (int) getpid());
        mkfile("cg/grp/cgroup.procs", procs);
        mkfile("cg/grp/cpu.weight", "100\n");
        mkfile("cg/grp/cpu.idle", "0\n");
        mkfile("cg/old/cgroup.procs", procs);
        mkfile("cg/old/cpu.weight", "100\n");
        snprintf(procs, sizeof procs, "%d\n1\n", (int) getpid());
        mkfile("cg/shared/cgroup.procs", procs);
        mkfile("cg/shared/cpu.weight", "100\n");
        mkfile("cg/shared/cpu.idle", "0\n");

        char cgroot[128];
        snprintf(cgroot, sizeof cgroot, "%s/cg", tmpdir);
        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.cgroup_root = cgroot;
        Domain *d = domain_new("me", "local");
        d->pid = getpid();
        d->cgroup = strdup("/grp");

        Journal *j;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        LeverContext c = { .hv = &hv, .journal = j, .thread_mask = THREAD_MASK_ALL };
        LeverSetting s;
        const char *why;
        assert_int_equal(lever_setting_parse("idle=yes", &s, &why), 0);
        assert_int_equal(lever_apply(&c, d, &s, 1), 0);
        assert_string_equal(slurp("cg/grp/cpu.idle"), "1");
        assert_int_equal(journal_size(j), 1);
        assert_non_null(strstr(c.notes, "cpu.idle"));
        lever_context_done(&c);
        /* idle=no while set: the first original stays the one restored */
        assert_int_equal(lever_setting_parse("idle=no", &s, &why), 0);
        assert_int_equal(lever_apply(&c, d, &s, 1), 0);
        assert_string_equal(slurp("cg/grp/cpu.idle"), "0");
        assert_int_equal(lever_setting_parse("idle=yes", &s, &why), 0);
        assert_int_equal(lever_apply(&c, d, &s, 1), 0);
        assert_int_equal(journal_size(j), 1);
        DomainLevers l;
        assert_int_equal(lever_read_domain(&hv, d, &l), 0);
        assert_true(l.have_idle);
        assert_true(l.idle);
        /* the kernel refuses a weight for an idle group (EINVAL): said first */
        char *before = state_file();
        assert_int_equal(lever_setting_parse("weight=200", &s, &why), 0);
        assert_int_equal(lever_apply(&c, d, &s, 1), -EBUSY);
        assert_non_null(strstr(c.error, "weight=200: cgroup /grp is at cpu.idle 1"));
        assert_string_equal(slurp("cg/grp/cpu.weight"), "100");
        char *after = state_file();
        assert_string_equal(before, after);
        free(before);
        free(after);
        lever_context_done(&c);
        assert_int_equal(lever_reset(&c, "me"), 1);
        assert_string_equal(slurp("cg/grp/cpu.idle"), "0");
        assert_int_equal(journal_size(j), 0);
        lever_context_done(&c);

        check_refused(&c, d, "/shared", "no cgroup of its own", -EBUSY);
        assert_string_equal(slurp("cg/shared/cpu.idle"), "0");
        check_refused(&c, d, "/", "no cgroup of its own", -EBUSY);
        check_refused(&c, d, NULL, "no cgroup of its own", -EBUSY);
        check_refused(&c, d, "/old", "this kernel has no cpu.idle", -EOPNOTSUPP);
        assert_null(slurp("cg/old/cpu.idle"));
        assert_int_equal(journal_size(j), 0);

        journal_free(j);
        domain_free(d);
        cleanup_dir();
}

/* `set D weight=200 idle=no` on a group at cpu.idle 1: idle=no goes
 * first (the kernel takes no weight for an idle group), so the call is not
 * refused with "idle=no first"; reset puts back both, newest first. */
static void test_apply_idle_off_with_weight(void **state) {
        (void) state;
        setup_dir();
        mkdirs("cg");
        mkdirs("cg/grp");
        mkfile("cg/cgroup.controllers", "cpuset cpu io memory\n");
        mkfile("cg/cgroup.subtree_control", "cpu\n");
        char procs[64];
        snprintf(procs, sizeof procs, "%d\n", (int) getpid());
        mkfile("cg/grp/cgroup.procs", procs);
        mkfile("cg/grp/cpu.weight", "100\n");
        mkfile("cg/grp/cpu.idle", "1\n");   /* idle before us */

        char cgroot[128];
        snprintf(cgroot, sizeof cgroot, "%s/cg", tmpdir);
        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.cgroup_root = cgroot;
        Domain *d = domain_new("me", "local");
        d->pid = getpid();
        d->cgroup = strdup("/grp");
        Journal *j;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        LeverContext c = { .hv = &hv, .journal = j, .thread_mask = THREAD_MASK_ALL };
        LeverSetting s[2];
        const char *why;
        assert_int_equal(lever_setting_parse("weight=200", &s[0], &why), 0);
        assert_int_equal(lever_setting_parse("idle=no", &s[1], &why), 0);
        assert_int_equal(lever_apply(&c, d, s, 2), 0);
        assert_string_equal(slurp("cg/grp/cpu.idle"), "0");
        assert_string_equal(slurp("cg/grp/cpu.weight"), "200");
        assert_int_equal(journal_size(j), 2);
        lever_context_done(&c);
        assert_int_equal(lever_reset(&c, "me"), 2);
        assert_string_equal(slurp("cg/grp/cpu.weight"), "100");
        assert_string_equal(slurp("cg/grp/cpu.idle"), "1");
        lever_context_done(&c);
        journal_free(j);
        domain_free(d);
        cleanup_dir();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_knob_v1),
                cmocka_unit_test(test_knob_v2),
                cmocka_unit_test(test_systemd_weight),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_apply),
                cmocka_unit_test(test_apply_idle_off_with_weight),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
