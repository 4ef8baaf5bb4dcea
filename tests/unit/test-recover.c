/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What recovery keeps and what it drops (issue 9, defects 2, 3, 5 and 9):
 * a guest-stop or pause entry goes only when its process runs again or is
 * gone; a missing domain, a silent agent, a failed cont or an entry
 * without a key keep it; pauses are resumed before stops; another live
 * owner's entries are left alone; nothing is continued without a start
 * time that matches.  The typed constructors refuse what could not be
 * resumed safely. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "daemon/recover.h"
#include "lever/journal.h"
#include "lever/vm-pause.h"

static char tmpdir[64];

static void mktmp(void) {
        strcpy(tmpdir, "/tmp/xvsched-recover-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
}

static void rmtmp(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
}

/* A journal holding exactly `entries` (a JSON array), written by hand so
 * that malformed entries can be in it. */
static Journal *journal_with(const char *entries) {
        char path[128], text[8192];
        snprintf(path, sizeof path, "%s/state.json", tmpdir);
        snprintf(text, sizeof text, "{\"version\":1,\"entries\":%s}\n", entries);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        Journal *j = NULL;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        return j;
}

static bool has_key(const Journal *j, const char *key) {
        return journal_has(j, key);
}

/* The fake world: what each resume answers, keyed by the entry's "pid"
 * (stops) or "qemu_pid" (pauses); the order of the calls. */
typedef struct Fake {
        int answer[16];      /* by pid 0..15 */
        bool alive[16];      /* owner alive, by owner_pid */
        char order[256];
} Fake;

static int64_t get(json_object *e, const char *k) {
        json_object *v;
        return json_object_object_get_ex(e, k, &v) ? json_object_get_int64(v) : -1;
}

static int fake_stop(json_object *e, void *u) {
        Fake *f = u;
        int pid = (int) get(e, "pid");
        snprintf(f->order + strlen(f->order), sizeof f->order - strlen(f->order), "s%d ", pid);
        return f->answer[pid];
}

static int fake_pause(json_object *e, void *u) {
        Fake *f = u;
        int pid = (int) get(e, "qemu_pid");
        snprintf(f->order + strlen(f->order), sizeof f->order - strlen(f->order), "p%d ", pid);
        return f->answer[pid];
}

static bool fake_alive(json_object *e, void *u) {
        Fake *f = u;
        int64_t o = get(e, "owner_pid");
        return o >= 0 && o < 16 && f->alive[o];
}

#define STOP(key, pid, owner) \
        "{\"key\":\"" key "\",\"type\":\"guest-stop\",\"domain\":\"d\",\"pid\":" #pid ",\"start_time_ns\":5,\"owner_pid\":" #owner "}"
#define PAUSE(key, qemu, owner) \
        "{\"key\":\"" key "\",\"type\":\"pause\",\"domain\":\"d\",\"qemu_pid\":" #qemu ",\"owner_pid\":" #owner "}"

static void test_done_decision(void **state) {
        (void) state;
        assert_true(recover_entry_done(0));
        assert_true(recover_entry_done(1));
        assert_true(recover_entry_done(-ESRCH));    /* gone */
        assert_true(recover_entry_done(-ESTALE));   /* pid reused */
        assert_false(recover_entry_done(-ENXIO));   /* domain not found */
        assert_false(recover_entry_done(-ENOTCONN)); /* view / agent not reachable */
        assert_false(recover_entry_done(-EIO));     /* cont failed */
        assert_false(recover_entry_done(-ETIMEDOUT));
        assert_false(recover_entry_done(-EBADMSG)); /* malformed: kept, reported */
        assert_false(recover_entry_done(-ENOKEY));  /* no start time: never resumed blindly */
}

static void test_keep_and_drop(void **state) {
        (void) state;
        mktmp();
        Journal *j = journal_with("["
                STOP("gstop:run", 2, 9) ","
                STOP("gstop:gone", 3, 9) ","
                STOP("gstop:nodomain", 4, 9) ","
                STOP("gstop:contfail", 5, 9) ","
                "{\"type\":\"guest-stop\",\"domain\":\"d\",\"pid\":6,\"owner_pid\":9},"
                STOP("gstop:reused", 7, 9) ","
                "{\"key\":\"thread:1:1\",\"type\":\"thread\",\"domain\":\"d\"}"
                "]");
        Fake f = { .answer = { [2] = 0, [3] = -ESRCH, [4] = -ENXIO, [5] = -EIO, [6] = 0, [7] = -ESTALE } };
        RecoverOps ops = { .resume_stop = fake_stop, .resume_pause = fake_pause, .owner_alive = fake_alive, .userdata = &f };
        RecoverResult res;
        int k = recover_guest(j, &ops, 0, &res);
        assert_int_equal(k, 3);
        assert_int_equal(res.resumed, 1);
        assert_int_equal(res.gone, 2);
        assert_int_equal(res.kept, 3);
        assert_false(has_key(j, "gstop:run"));
        assert_false(has_key(j, "gstop:gone"));
        assert_false(has_key(j, "gstop:reused"));
        assert_true(has_key(j, "gstop:nodomain"));
        assert_true(has_key(j, "gstop:contfail"));
        assert_true(has_key(j, "thread:1:1"));          /* not a guest entry: left to lever_reset */
        assert_int_equal(journal_size(j), 4);           /* ...and the keyless one, not acted on */
        assert_null(strstr(f.order, "s6 "));
        journal_free(j);

        /* what stayed is on disk: a new open sees it, and a second pass
         * drops what has become resumable */
        assert_int_equal(journal_open(tmpdir, &j), 0);
        assert_int_equal(journal_size(j), 4);
        f.answer[4] = 0;
        f.answer[5] = -ESRCH;
        k = recover_guest(j, &ops, 0, &res);
        assert_int_equal(k, 1);   /* the keyless entry */
        assert_int_equal(journal_size(j), 2);
        journal_free(j);
        rmtmp();
}

static void test_pauses_first_and_owners(void **state) {
        (void) state;
        mktmp();
        Journal *j = journal_with("["
                STOP("gstop:a", 2, 9) ","
                PAUSE("pause:a", 3, 9) ","
                STOP("gstop:live", 4, 8) ","
                PAUSE("pause:live", 5, 8) ","
                STOP("gstop:mine", 6, 7) ","
                "{\"key\":\"gstop:noowner\",\"type\":\"guest-stop\",\"domain\":\"d\",\"pid\":10}"
                "]");
        Fake f = { .alive = { [8] = true, [7] = true } };
        RecoverOps ops = { .resume_stop = fake_stop, .resume_pause = fake_pause, .owner_alive = fake_alive, .userdata = &f };
        RecoverResult res;
        /* dead owners only: owner 8 and 7 live; an entry without an owner counts as dead */
        assert_int_equal(recover_guest(j, &ops, 0, &res), 0);
        assert_int_equal(res.skipped, 3);
        assert_string_equal(f.order, "p3 s10 s2 ");   /* the pause before any stop */
        assert_true(has_key(j, "gstop:live"));
        assert_true(has_key(j, "pause:live"));
        assert_true(has_key(j, "gstop:mine"));
        /* an owner cleaning up after itself: only its own */
        f.order[0] = 0;
        assert_int_equal(recover_guest(j, &ops, 7, &res), 0);
        assert_string_equal(f.order, "s6 ");
        assert_false(has_key(j, "gstop:mine"));
        assert_true(has_key(j, "gstop:live"));
        journal_free(j);
        rmtmp();
}

static pid_t dead_pid(void) {
        pid_t p = fork();
        assert_true(p >= 0);
        if (p == 0)
                _exit(0);
        assert_int_equal(waitpid(p, NULL, 0), p);
        return p;
}


/* An old entry (no QEMU pid) found by its domain's name: resolved only on a
 * unique match.  Two domains of that name: no agent of either is asked,
 * the entry is kept (-ENOTUNIQ); one of them: its agent is asked. */
static int listener(const char *path) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 4), 0);
        return fd;
}

static bool was_connected(int fd) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
                close(c);
        return c >= 0;
}

static void test_unique_name(void **state) {
        (void) state;
        mktmp();
        char a[128], b[128], spec_a[256], spec_b[256];
        snprintf(a, sizeof a, "%s/a.sock", tmpdir);
        snprintf(b, sizeof b, "%s/b.sock", tmpdir);
        int fa = listener(a), fb = listener(b);
        snprintf(spec_a, sizeof spec_a, "dup=pid:%d,agent=%s", (int) getpid(), a);
        snprintf(spec_b, sizeof spec_b, "dup=pid:%d,agent=%s", (int) getppid(), b);
        char *specs[] = { spec_a, spec_b, NULL };
        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.backend = "local";
        hv.local_specs = specs;
        hv.n_local_specs = 2;
        RecoverOps ops;
        recover_ops_default(&ops, &hv);

        Journal *j = journal_with("[{\"key\":\"guest-stop:dup:42\",\"type\":\"guest-stop\",\"owner_pid\":999999999,"
                                  "\"domain\":\"g\",\"match\":\"dup\",\"pid\":42,\"start_time_ns\":5}]");
        json_object *e = journal_entry(j, 0);
        assert_int_equal(ops.resume_stop(e, ops.userdata), -ENOTUNIQ);
        assert_false(was_connected(fa));
        assert_false(was_connected(fb));
        RecoverResult res = {};
        assert_int_equal(recover_guest(j, &ops, 0, &res), 1);
        assert_int_equal(res.kept, 1);
        assert_true(has_key(j, "guest-stop:dup:42"));
        assert_false(was_connected(fa));
        assert_false(was_connected(fb));

        /* one domain of that name: its agent is the one asked (it never
         * answers here, so the entry stays all the same) */
        specs[1] = NULL;
        hv.n_local_specs = 1;
        int r = ops.resume_stop(e, ops.userdata);
        assert_false(recover_entry_done(r));
        assert_true(was_connected(fa));
        assert_false(was_connected(fb));
        journal_free(j);
        close(fa);
        close(fb);
        rmtmp();
}

/* The real operations on what needs no guest: a QEMU that is gone (or a
 * pid that is another process now) means nothing to resume; an entry
 * without its QEMU, whose domain cannot be found, is kept; a bare pid or a
 * malformed pause is never acted on. */
static void test_default_ops(void **state) {
        (void) state;
        RecoverOps ops;
        HvOptions hv = HV_OPTIONS_DEFAULT;
        hv.backend = "local";    /* no specs: finds nothing, quickly */
        recover_ops_default(&ops, &hv);
        char buf[512];
        pid_t gone = dead_pid();

        snprintf(buf, sizeof buf, "{\"type\":\"pause\",\"qmp_socket\":\"/nonexistent\",\"qemu_pid\":%d,\"qemu_start\":1}",
                 (int) gone);
        json_object *e = json_tokener_parse(buf);
        assert_int_equal(ops.resume_pause(e, ops.userdata), -ESRCH);
        json_object_put(e);
        /* our own pid, with another start time: another process */
        snprintf(buf, sizeof buf, "{\"type\":\"pause\",\"qmp_socket\":\"/nonexistent\",\"qemu_pid\":%d,\"qemu_start\":1}",
                 (int) getpid());
        e = json_tokener_parse(buf);
        assert_int_equal(ops.resume_pause(e, ops.userdata), -ESRCH);
        json_object_put(e);
        e = json_tokener_parse("{\"type\":\"pause\"}");
        assert_int_equal(ops.resume_pause(e, ops.userdata), -EBADMSG);
        json_object_put(e);

        snprintf(buf, sizeof buf, "{\"type\":\"guest-stop\",\"pid\":42,\"start_time_ns\":5,\"qemu_pid\":%d,\"qemu_start\":1,"
                 "\"agent_socket\":\"/nonexistent\"}", (int) gone);
        e = json_tokener_parse(buf);
        assert_int_equal(ops.resume_stop(e, ops.userdata), -ESRCH);
        json_object_put(e);
        e = json_tokener_parse("{\"type\":\"guest-stop\",\"pid\":42,\"start_time_ns\":5,\"domain\":\"nosuchdomain\"}");
        int r = ops.resume_stop(e, ops.userdata);
        assert_false(recover_entry_done(r));   /* domain missing: kept */
        json_object_put(e);
        e = json_tokener_parse("{\"type\":\"guest-stop\",\"pid\":1,\"start_time_ns\":5}");
        assert_int_equal(ops.resume_stop(e, ops.userdata), -EBADMSG);
        json_object_put(e);

        /* owners: a dead one, a live one with the wrong start time, none */
        snprintf(buf, sizeof buf, "{\"owner_pid\":%d,\"owner_start\":0}", (int) gone);
        e = json_tokener_parse(buf);
        assert_false(ops.owner_alive(e, ops.userdata));
        json_object_put(e);
        snprintf(buf, sizeof buf, "{\"owner_pid\":%d,\"owner_start\":1}", (int) getpid());
        e = json_tokener_parse(buf);
        assert_false(ops.owner_alive(e, ops.userdata));
        json_object_put(e);
        snprintf(buf, sizeof buf, "{\"owner_pid\":%d,\"owner_start\":0}", (int) getpid());
        e = json_tokener_parse(buf);
        assert_true(ops.owner_alive(e, ops.userdata));
        json_object_put(e);
        assert_true(host_process_alive(getpid(), 0));
        assert_false(host_process_alive(gone, 0));
}

static void test_constructors(void **state) {
        (void) state;
        JournalOwner o = { .name = "daemon", .pid = 100, .start_time = 7 };
        JournalVm vm = { .domain = "db", .qemu_pid = 200, .qemu_start = 9, .qmp_socket = "/run/q.sock",
                         .agent_socket = "/run/a.sock" };
        /* no start time, pid 0/1: refused (could not be resumed safely) */
        assert_null(journal_entry_guest_stop_new(&o, &vm, 42, 0));
        assert_null(journal_entry_guest_stop_new(&o, &vm, 1, 5));
        json_object *e = journal_entry_guest_stop_new(&o, &vm, 42, 123456789);
        assert_non_null(e);
        assert_string_equal(json_object_get_string(json_object_object_get(e, "key")), "gstop:db:42:123456789");
        assert_string_equal(json_object_get_string(json_object_object_get(e, "type")), "guest-stop");
        assert_int_equal(get(e, "owner_pid"), 100);
        assert_int_equal(get(e, "owner_start"), 7);
        assert_int_equal(get(e, "qemu_pid"), 200);
        assert_int_equal(get(e, "qemu_start"), 9);
        assert_string_equal(json_object_get_string(json_object_object_get(e, "match")), "db");
        json_object_put(e);
        e = journal_entry_pause_new(&o, &vm);
        assert_non_null(e);
        assert_string_equal(json_object_get_string(json_object_object_get(e, "key")), "pause:/run/q.sock:200:9");
        json_object_put(e);
        vm.qemu_start = 0;
        assert_null(journal_entry_pause_new(&o, &vm));
        vm.qemu_start = 9;
        vm.qmp_socket = NULL;
        assert_null(journal_entry_pause_new(&o, &vm));

        /* the agent rounds start times down to clock ticks (10 ms) */
        assert_true(journal_guest_start_same(1000000000, 1000000000));
        assert_true(journal_guest_start_same(1000000000, 1009999999));
        assert_false(journal_guest_start_same(1000000000, 1010000000));
        assert_false(journal_guest_start_same(0, 0));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_done_decision),
                cmocka_unit_test(test_keep_and_drop),
                cmocka_unit_test(test_pauses_first_and_owners),
                cmocka_unit_test(test_default_ops),
                cmocka_unit_test(test_constructors),
                cmocka_unit_test(test_unique_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
