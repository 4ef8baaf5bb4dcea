/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest pauses and stops that outlive who made them (issue 9 follow-up):
 * a dead owner's entry is taken over by the process that makes the same
 * change again; a pause this process still owes a resume is found again
 * (adopted) by the next view and retried from the daemon's loop; the guard
 * keeps retrying what its dead parent left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/guard.h"
#include "guest/pause-hook.h"
#include "host/sched.h"
#include "lever/journal.h"
#include "lever/vm-pause.h"

static char tmpdir[64];

static void mktmp(void) {
        strcpy(tmpdir, "/tmp/xvsched-guard-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
}

static void rm_rf(void) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        assert_int_equal(system(cmd), 0);
}

static uint64_t start_of(pid_t pid) {
        ProcStat st;
        assert_int_equal(proc_stat_read(NULL, pid, 0, &st), 0);
        return st.start_time;
}

static json_object *stop_entry(pid_t owner, uint64_t owner_start, pid_t qemu, uint64_t qemu_start) {
        JournalOwner o = { .name = "daemon", .pid = owner, .start_time = owner_start };
        JournalVm vm = { .domain = "vm1", .qemu_pid = qemu, .qemu_start = qemu_start, .qmp_socket = "/nonexistent/qmp",
                         .agent_socket = "/nonexistent/agent" };
        json_object *e = journal_entry_guest_stop_new(&o, &vm, 42, 1000000000ULL);
        assert_non_null(e);
        return e;
}

static int64_t owner_pid_of(Journal *j, size_t i) {
        json_object *v;
        assert_true(json_object_object_get_ex(journal_entry(j, i), "owner_pid", &v));
        return json_object_get_int64(v);
}

/* Defect 4: the same key recorded again by a new process while the entry's
 * owner is dead: the new process owns it now (saved), so the dead owner's
 * recovery leaves it alone; a live owner's entry is left as it is. */
static void test_record_takeover(void **state) {
        (void) state;
        mktmp();
        Journal *j = NULL;
        assert_int_equal(journal_open(tmpdir, &j), 0);
        pid_t me = getpid();
        uint64_t my_start = start_of(me);
        /* a dead owner: our pid with another start time (a reused pid) */
        assert_int_equal(journal_record_guest(j, stop_entry(me, my_start + 1, me, my_start)), 1);
        assert_int_equal(owner_pid_of(j, 0), me);
        assert_int_equal(journal_record_guest(j, stop_entry(me, my_start, me, my_start)), 2);
        assert_int_equal(journal_size(j), 1);
        json_object *v;
        assert_true(json_object_object_get_ex(journal_entry(j, 0), "owner_start", &v));
        assert_int_equal((uint64_t) json_object_get_int64(v), my_start);
        journal_free(j);
        /* persisted */
        assert_int_equal(journal_open(tmpdir, &j), 0);
        assert_true(json_object_object_get_ex(journal_entry(j, 0), "owner_start", &v));
        assert_int_equal((uint64_t) json_object_get_int64(v), my_start);
        /* a live owner (our parent): kept as it is */
        assert_int_equal(journal_remove(j, json_object_get_string(json_object_object_get(journal_entry(j, 0), "key"))), 0);
        pid_t pp = getppid();
        assert_int_equal(journal_record_guest(j, stop_entry(pp, start_of(pp), me, my_start)), 1);
        assert_int_equal(journal_record_guest(j, stop_entry(me, my_start, me, my_start)), 0);
        assert_int_equal(owner_pid_of(j, 0), pp);
        journal_free(j);
        rm_rf();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_takeover),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
