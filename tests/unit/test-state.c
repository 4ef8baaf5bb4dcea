/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The state directory and what lever_reset() does with the journal in it
 * (issue 9, defects 4 and 9): a state directory that is not root's alone is
 * refused; symlinks planted in it are never followed; reset restores all it
 * can past an entry it cannot restore and keeps exactly the failed ones;
 * keys are never truncated into collisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "host/sched.h"
#include "lever/journal.h"
#include "lever/lever.h"

static char tmpdir[64];

static void mktmp(void) {
        strcpy(tmpdir, "/tmp/xvsched-state-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
}

static char *at(const char *rel) {
        static char p[4][2048];
        static int n;
        char *b = p[n++ % 4];
        snprintf(b, sizeof p[0], "%s/%s", tmpdir, rel);
        return b;
}

static void mkfile(const char *rel, const char *content) {
        FILE *f = fopen(at(rel), "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static char *slurp(const char *rel) {
        char *t = NULL;
        assert_int_equal(read_full_file(at(rel), 1 << 20, &t, NULL), 0);
        return t;
}

static void rm_rf(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
}

static json_object *entry(const char *key, const char *type) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "key", json_object_new_string(key));
        json_object_object_add(e, "type", json_object_new_string(type));
        json_object_object_add(e, "domain", json_object_new_string("kid"));
        json_object_object_add(e, "owner", json_object_new_string("cli"));
        return e;
}

static json_object *cgroup_entry(const char *key, const char *root, const char *cg, const char *saved) {
        json_object *e = entry(key, "cgroup");
        json_object_object_add(e, "root", json_object_new_string(root));
        json_object_object_add(e, "cgroup", json_object_new_string(cg));
        json_object_object_add(e, "knob", json_object_new_string("weight"));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        return e;
}

static void fake_cgroup_v2(void) {
        assert_int_equal(mkdir(at("cg"), 0755), 0);
        mkfile("cg/cgroup.controllers", "cpuset cpu io memory\n");
        mkfile("cg/cgroup.subtree_control", "cpu\n");
}

/* Defect 4: one entry that cannot be restored blocks nothing. */
static void test_reset_continues(void **state) {
        (void) state;
        mktmp();
        fake_cgroup_v2();
        assert_int_equal(mkdir(at("cg/grp"), 0755), 0);
        mkfile("cg/grp/cpu.weight", "400\n");
        /* A group whose knob cannot be written (a directory stands there). */
        assert_int_equal(mkdir(at("cg/bad"), 0755), 0);
        assert_int_equal(mkdir(at("cg/bad/cpu.weight"), 0755), 0);

        /* A thread that is gone. */
        pid_t dead = fork();
        assert_true(dead >= 0);
        if (dead == 0)
                _exit(0);
        ThreadSched ts;
        assert_int_equal(thread_sched_get(getpid(), &ts), 0);   /* any start time: the tid is gone */
        assert_int_equal(waitpid(dead, NULL, 0), dead);

        assert_int_equal(mkdir(at("state"), 0700), 0);
        Journal *j;
        assert_int_equal(journal_open(at("state"), &j), 0);
        char cgroot[128];
        snprintf(cgroot, sizeof cgroot, "%s/cg", tmpdir);
        /* Oldest first; reset goes newest first and used to stop at the
         * guest-stop entry (-EBADMSG) before reaching anything else. */
        assert_int_equal(journal_record(j, cgroup_entry("cgroup:good", cgroot, "/grp", "100")), 1);
        json_object *t = entry("thread:dead", "thread");
        json_object_object_add(t, "tid", json_object_new_int(dead));
        json_object_object_add(t, "start_time", json_object_new_int64((int64_t) ts.start_time));
        json_object_object_add(t, "nice", json_object_new_int(0));
        json_object_object_add(t, "policy", json_object_new_string("other"));
        json_object_object_add(t, "rt_priority", json_object_new_int(0));
        json_object_object_add(t, "affinity", json_object_new_string("0"));
        assert_int_equal(journal_record(j, t), 1);
        assert_int_equal(journal_record(j, cgroup_entry("cgroup:bad", cgroot, "/bad", "100")), 1);
        assert_int_equal(journal_record(j, entry("thread:garbled", "thread")), 1);   /* no fields */
        json_object *g = entry("gstop:kid:42", "guest-stop");
        json_object_object_add(g, "pid", json_object_new_int(42));
        assert_int_equal(journal_record(j, g), 1);

        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.cgroup_root = cgroot;
        LeverContext c = { .hv = &hv, .journal = j };
        assert_true(lever_reset(&c, NULL) < 0);

        /* Restored past the failures: */
        char *w = slurp("cg/grp/cpu.weight");
        assert_string_equal(w, "100");
        free(w);
        /* Kept: exactly the two failures and the entry that is not ours. */
        assert_int_equal(journal_size(j), 3);
        assert_true(journal_has(j, "cgroup:bad"));
        assert_true(journal_has(j, "thread:garbled"));
        assert_true(journal_has(j, "gstop:kid:42"));
        /* Each failure named, with its reason; the guest-stop entry is none. */
        assert_non_null(c.failed);
        assert_non_null(strstr(c.failed, "cgroup:bad: "));
        assert_non_null(strstr(c.failed, "thread:garbled: "));
        assert_null(strstr(c.failed, "gstop"));
        size_t lines = 0;
        for (const char *p = c.failed; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, 2);
        assert_non_null(strstr(c.error, "2 values could not be restored"));
        lever_context_done(&c);
        journal_free(j);

        /* Persisted so. */
        assert_int_equal(journal_open(at("state"), &j), 0);
        assert_int_equal(journal_size(j), 3);
        assert_false(journal_has(j, "cgroup:good"));
        assert_false(journal_has(j, "thread:dead"));

        /* Only the entry that is not ours left: a success, and it stays. */
        assert_int_equal(journal_remove(j, "cgroup:bad"), 0);
        assert_int_equal(journal_remove(j, "thread:garbled"), 0);
        c = (LeverContext) { .hv = &hv, .journal = j };
        assert_int_equal(lever_reset(&c, NULL), 0);
        assert_null(c.failed);
        assert_int_equal(journal_size(j), 1);
        assert_true(journal_has(j, "gstop:kid:42"));
        lever_context_done(&c);
        journal_free(j);
        rm_rf();
}

/* Defect 9: a state directory anyone else can write to, or someone else
 * owns, is refused; nothing is created in it. */
static void test_state_dir_refused(void **state) {
        (void) state;
        mktmp();
        Journal *j = NULL;
        assert_int_equal(mkdir(at("state"), 0700), 0);

        assert_int_equal(chmod(at("state"), 0777), 0);
        assert_int_equal(journal_open(at("state"), &j), JOURNAL_UNSAFE_DIR);
        assert_int_equal(chmod(at("state"), 0720), 0);   /* group-writable */
        assert_int_equal(journal_open(at("state"), &j), JOURNAL_UNSAFE_DIR);
        assert_int_equal(access(at("state/lock"), F_OK), -1);

        assert_int_equal(chmod(at("state"), 0700), 0);
        assert_int_equal(chown(at("state"), 65534, 65534), 0);
        assert_int_equal(journal_open(at("state"), &j), JOURNAL_UNSAFE_DIR);
        assert_int_equal(access(at("state/lock"), F_OK), -1);

        /* A symlink to a good directory is refused too. */
        assert_int_equal(mkdir(at("real"), 0700), 0);
        assert_int_equal(symlink(at("real"), at("link")), 0);
        assert_int_equal(journal_open(at("link"), &j), JOURNAL_UNSAFE_DIR);
        assert_int_equal(access(at("real/lock"), F_OK), -1);

        /* Owned by us, 0755: fine; a missing one is created 0700. */
        assert_int_equal(chown(at("state"), 0, 0), 0);
        assert_int_equal(chmod(at("state"), 0755), 0);
        assert_int_equal(journal_open(at("state"), &j), 0);
        journal_free(j);
        assert_int_equal(journal_open(at("new/sub"), &j), 0);
        journal_free(j);
        struct stat st;
        assert_int_equal(stat(at("new/sub"), &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        rm_rf();
}

/* Defect 9: state.json.tmp and lock planted as symlinks are not followed. */
static void test_symlinks_not_followed(void **state) {
        (void) state;
        mktmp();
        assert_int_equal(mkdir(at("state"), 0700), 0);
        mkfile("victim", "precious\n");
        assert_int_equal(symlink(at("victim"), at("state/state.json.tmp")), 0);

        Journal *j;
        assert_int_equal(journal_open(at("state"), &j), 0);
        assert_int_equal(journal_record(j, entry("k1", "thread")), 1);
        journal_free(j);
        char *v = slurp("victim");
        assert_string_equal(v, "precious\n");
        free(v);
        struct stat st;
        assert_int_equal(lstat(at("state/state.json"), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(lstat(at("state/state.json.tmp"), &st), -1);
        assert_int_equal(journal_open(at("state"), &j), 0);
        assert_true(journal_has(j, "k1"));
        journal_free(j);

        /* write_file_atomic() (by path) the same. */
        assert_int_equal(symlink(at("victim"), at("other.tmp")), 0);
        assert_int_equal(write_file_atomic(at("other"), "x\n", 2), 0);
        v = slurp("victim");
        assert_string_equal(v, "precious\n");
        free(v);

        /* A planted lock symlink: refused, its target never created. */
        assert_int_equal(mkdir(at("state2"), 0700), 0);
        assert_int_equal(symlink(at("created-by-root"), at("state2/lock")), 0);
        assert_int_equal(journal_open(at("state2"), &j), -ELOOP);
        assert_int_equal(access(at("created-by-root"), F_OK), -1);

        /* A planted state.json symlink: not read through (nor replaced). */
        assert_int_equal(mkdir(at("state3"), 0700), 0);
        mkfile("fake.json", "{\"version\":1,\"entries\":[{\"key\":\"planted\",\"type\":\"thread\"}]}\n");
        assert_int_equal(symlink(at("fake.json"), at("state3/state.json")), 0);
        assert_int_equal(journal_open(at("state3"), &j), -EBADMSG);
        rm_rf();
}

/* Defect 9: two cgroup paths that differ only after 512 characters get two
 * keys, and both originals are recorded and restored. */
static void test_long_cgroup_key(void **state) {
        (void) state;
        mktmp();
        fake_cgroup_v2();
        char rel[1024] = "cg", cg[2][1024];
        for (int i = 0; i < 3; i++) {
                size_t n = strlen(rel);
                rel[n++] = '/';
                memset(rel + n, 'a' + i, 200);
                rel[n + 200] = 0;
                assert_int_equal(mkdir(at(rel), 0755), 0);
        }
        for (int i = 0; i < 2; i++) {
                char f[1100];
                snprintf(f, sizeof f, "%s/%c", rel, 'x' + i);
                assert_int_equal(mkdir(at(f), 0755), 0);
                snprintf(f, sizeof f, "%s/%c/cpu.weight", rel, 'x' + i);
                mkfile(f, "100\n");
                snprintf(cg[i], sizeof cg[i], "%s/%c", rel + 2, 'x' + i);
        }
        assert_true(strlen(cg[0]) > 600);

        char cgroot[128];
        snprintf(cgroot, sizeof cgroot, "%s/cg", tmpdir);
        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.cgroup_root = cgroot;
        assert_int_equal(mkdir(at("state"), 0700), 0);
        Journal *j;
        assert_int_equal(journal_open(at("state"), &j), 0);
        LeverContext c = { .hv = &hv, .journal = j, .thread_mask = THREAD_MASK_ALL };
        LeverSetting s;
        const char *why;
        assert_int_equal(lever_setting_parse("weight=400", &s, &why), 0);
        for (int i = 0; i < 2; i++) {
                Domain *d = domain_new(i ? "d1" : "d0", "local");
                d->pid = getpid();
                d->cgroup = strdup(cg[i]);
                assert_int_equal(lever_apply(&c, d, &s, 1), 0);
                lever_context_done(&c);
                domain_free(d);
        }
        assert_int_equal(journal_size(j), 2);
        for (int i = 0; i < 2; i++) {
                json_object *k;
                assert_true(json_object_object_get_ex(journal_entry(j, (size_t) i), "key", &k));
                assert_non_null(strstr(json_object_get_string(k), cg[i]));
        }
        /* Both restored. */
        assert_int_equal(lever_reset(&c, NULL), 2);
        for (int i = 0; i < 2; i++) {
                char f[1100];
                snprintf(f, sizeof f, "%s/%c/cpu.weight", rel, 'x' + i);
                char *w = slurp(f);
                assert_string_equal(w, "100");
                free(w);
        }
        lever_context_done(&c);
        journal_free(j);
        rm_rf();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reset_continues),
                cmocka_unit_test(test_state_dir_refused),
                cmocka_unit_test(test_symlinks_not_followed),
                cmocka_unit_test(test_long_cgroup_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
