/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Lever settings, the undo journal, and the all-or-nothing apply with
 * rollback (on a child process of the test, against a cgroup v2 tree in a
 * temporary directory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "host/sched.h"
#include "hv/hv.h"
#include "lever/journal.h"
#include "lever/lever.h"

static void test_parse(void **state) {
        (void) state;
        LeverSetting s;
        const char *why;
        assert_int_equal(lever_setting_parse("nice=-20", &s, &why), 0);
        assert_int_equal(s.key, LEVER_NICE);
        assert_int_equal(s.v.nice, -20);
        assert_int_equal(lever_setting_parse("nice=20", &s, &why), -EINVAL);
        assert_non_null(strstr(why, "-20 to 19"));
        assert_int_equal(lever_setting_parse("rt=fifo:50", &s, &why), 0);
        assert_int_equal(s.v.rt.policy, SCHED_FIFO);
        assert_int_equal(s.v.rt.priority, 50);
        assert_int_equal(lever_setting_parse("rt=rr:1", &s, &why), 0);
        assert_int_equal(s.v.rt.policy, SCHED_RR);
        assert_int_equal(lever_setting_parse("rt=off", &s, &why), 0);
        assert_int_equal(s.v.rt.policy, SCHED_OTHER);
        assert_int_equal(lever_setting_parse("rt=fifo:0", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("rt=fifo:100", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("rt=idle:1", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("rt=idle", &s, &why), 0);
        assert_int_equal(s.v.rt.policy, SCHED_IDLE);
        assert_int_equal(s.v.rt.priority, 0);
        assert_int_equal(lever_setting_parse("weight=10000", &s, &why), 0);
        assert_int_equal(lever_setting_parse("weight=10001", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("weight=0", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("cap=25", &s, &why), 0);
        assert_true(s.v.cap == 25.0);
        assert_int_equal(lever_setting_parse("cap=none", &s, &why), 0);
        assert_true(s.v.cap == 0);
        assert_int_equal(lever_setting_parse("cap=-1", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("cap=nan", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("cpus=0-1", &s, &why), 0);
        assert_int_equal(cpuset_count(&s.v.cpus), 2);
        assert_int_equal(lever_setting_parse("cpus=", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("memory=512M", &s, &why), 0);
        assert_true(s.v.bytes == 512ull << 20);
        assert_int_equal(lever_setting_parse("memory=max", &s, &why), 0);
        assert_true(s.v.bytes == UINT64_MAX);
        assert_int_equal(lever_setting_parse("memory=12Q", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("ioweight=100", &s, &why), 0);
        assert_int_equal(lever_setting_parse("color=red", &s, &why), -EINVAL);
        assert_non_null(strstr(why, "unknown key"));
        assert_int_equal(lever_setting_parse("nice", &s, &why), -EINVAL);
        assert_int_equal(lever_setting_parse("=3", &s, &why), -EINVAL);
}

static void test_thread_mask(void **state) {
        (void) state;
        unsigned m;
        assert_int_equal(thread_mask_from_string("vcpu", &m), 0);
        assert_int_equal(m, 1u << THREAD_VCPU);
        assert_int_equal(thread_mask_from_string("emulator,io", &m), 0);
        assert_int_equal(m, (1u << THREAD_EMULATOR) | (1u << THREAD_IO));
        assert_int_equal(thread_mask_from_string("all", &m), 0);
        assert_int_equal(m, THREAD_MASK_ALL);
        assert_int_equal(thread_mask_from_string("gpu", &m), -EINVAL);
        assert_int_equal(thread_mask_from_string("", &m), -EINVAL);
}

static char tmpdir[64];

static void mkfile(const char *rel, const char *content) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static void test_journal(void **state) {
        (void) state;
        strcpy(tmpdir, "/tmp/xvsched-test-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        Journal *j;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        assert_int_equal(journal_size(j), 0);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "key", json_object_new_string("k1"));
        json_object_object_add(e, "v", json_object_new_int(1));
        assert_int_equal(journal_record(j, e), 1);
        /* The first original wins. */
        e = json_object_new_object();
        json_object_object_add(e, "key", json_object_new_string("k1"));
        json_object_object_add(e, "v", json_object_new_int(2));
        assert_int_equal(journal_record(j, e), 0);
        assert_int_equal(journal_record(j, json_object_new_object()), -EINVAL);  /* no key */
        journal_free(j);

        /* Persisted; a second open sees it. */
        assert_int_equal(journal_open(tmpdir, &j), 0);
        assert_int_equal(journal_size(j), 1);
        json_object *v;
        assert_true(json_object_object_get_ex(journal_entry(j, 0), "v", &v));
        assert_int_equal(json_object_get_int(v), 1);
        assert_true(journal_has(j, "k1"));
        assert_int_equal(journal_remove(j, "k1"), 0);
        assert_int_equal(journal_remove(j, "k1"), -ENOENT);
        journal_free(j);

        /* A garbled state file is refused and left alone. */
        mkfile("state.json", "{\"version\": 7}");
        assert_int_equal(journal_open(tmpdir, &j), -EBADMSG);
        char *text;
        char p[128];
        snprintf(p, sizeof p, "%s/state.json", tmpdir);
        assert_int_equal(read_full_file(p, 4096, &text, NULL), 0);
        assert_string_equal(text, "{\"version\": 7}");
        free(text);
        unlink(p);
}

static void test_apply_rollback(void **state) {
        (void) state;
        strcpy(tmpdir, "/tmp/xvsched-test-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));

        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                pause();
                _exit(0);
        }

        /* A cgroup v2 tree whose group holds only the child and lacks cpu.max. */
        char p[256];
        snprintf(p, sizeof p, "%s/cg", tmpdir);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/cg/grp", tmpdir);
        mkdir(p, 0755);
        mkfile("cg/cgroup.controllers", "cpuset cpu io memory\n");
        mkfile("cg/cgroup.subtree_control", "cpu\n");
        char procs[32];
        snprintf(procs, sizeof procs, "%d\n", (int) child);
        mkfile("cg/grp/cgroup.procs", procs);
        mkfile("cg/grp/cpu.weight", "100\n");

        char cgroot[128];
        snprintf(cgroot, sizeof cgroot, "%s/cg", tmpdir);
        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.cgroup_root = cgroot;

        Domain *d = domain_new("kid", "local");
        d->pid = child;
        d->cgroup = strdup("/grp");
        assert_int_equal(hv_scan_threads("/proc", d), 0);

        ThreadSched before;
        assert_int_equal(thread_sched_get(child, &before), 0);

        Journal *j;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        LeverContext c = { .hv = &hv, .journal = j, .thread_mask = THREAD_MASK_ALL };
        LeverSetting s[3];
        const char *why;
        assert_int_equal(lever_setting_parse("nice=7", &s[0], &why), 0);
        assert_int_equal(lever_setting_parse("weight=400", &s[1], &why), 0);
        assert_int_equal(lever_setting_parse("cap=25", &s[2], &why), 0);

        /* nice and weight apply, cap fails (no cpu.max): all three undone. */
        assert_true(lever_apply(&c, d, s, 3) < 0);
        assert_non_null(strstr(c.error, "cap=25"));
        ThreadSched now;
        assert_int_equal(thread_sched_get(child, &now), 0);
        assert_int_equal(now.nice, before.nice);
        char *w;
        snprintf(p, sizeof p, "%s/cg/grp/cpu.weight", tmpdir);
        assert_int_equal(read_one_line(p, &w), 0);
        assert_string_equal(w, "100");
        free(w);
        assert_int_equal(journal_size(j), 0);
        lever_context_done(&c);

        /* Without the cap it lands, is journaled, and reset restores it. */
        assert_int_equal(lever_apply(&c, d, s, 2), 0);
        assert_int_equal(thread_sched_get(child, &now), 0);
        assert_int_equal(now.nice, 7);
        assert_int_equal(read_one_line(p, &w), 0);
        assert_string_equal(w, "400");
        free(w);
        assert_int_equal(journal_size(j), 2);
        /* A second set keeps the first original. */
        assert_int_equal(lever_setting_parse("nice=9", &s[0], &why), 0);
        assert_int_equal(lever_apply(&c, d, s, 1), 0);
        assert_int_equal(journal_size(j), 2);

        assert_int_equal(lever_reset(&c, "kid"), 2);
        assert_int_equal(thread_sched_get(child, &now), 0);
        assert_int_equal(now.nice, before.nice);
        assert_int_equal(read_one_line(p, &w), 0);
        assert_string_equal(w, "100");
        free(w);
        assert_int_equal(journal_size(j), 0);

        /* The same key twice is refused before anything happens. */
        LeverSetting twice[2];
        assert_int_equal(lever_setting_parse("nice=1", &twice[0], &why), 0);
        assert_int_equal(lever_setting_parse("nice=2", &twice[1], &why), 0);
        assert_true(lever_apply(&c, d, twice, 2) < 0);
        assert_non_null(strstr(c.error, "more than once"));

        lever_context_done(&c);
        journal_free(j);
        domain_free(d);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_thread_mask),
                cmocka_unit_test(test_journal),
                cmocka_unit_test(test_apply_rollback),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
