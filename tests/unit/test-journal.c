/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal's typed constructors for host lever entries: every field
 * they write reads back through journal_field_str()/journal_field_int(),
 * keys are built whole and carry the owner, bad input is refused, and an
 * entry survives a write and a read of the state file. */

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/macros.h"
#include "lever/journal.h"

static void assert_common(json_object *e, const char *key, const char *type, const char *domain, const char *owner) {
        assert_non_null(e);
        assert_string_equal(journal_field_str(e, "key"), key);
        assert_string_equal(journal_field_str(e, "type"), type);
        assert_string_equal(journal_field_str(e, "domain"), domain);
        assert_string_equal(journal_field_str(e, "owner"), owner);
}

static void test_thread(void **state) {
        (void) state;
        ThreadSched ts = { .nice = -3, .policy = SCHED_FIFO, .rt_priority = 42, .start_time = 123456789012ull };
        cpuset_set(&ts.affinity, 0);
        cpuset_set(&ts.affinity, 1);
        cpuset_set(&ts.affinity, 5);
        json_object *e = journal_entry_thread_new(NULL, "web", 4321, &ts);
        assert_common(e, "thread:4321:123456789012", "thread", "web", "cli");
        assert_int_equal(journal_field_int(e, "tid", 0), 4321);
        assert_int_equal(journal_field_int(e, "start_time", 0), 123456789012ll);
        assert_int_equal(journal_field_int(e, "nice", 0), -3);
        assert_string_equal(journal_field_str(e, "policy"), "fifo");
        assert_int_equal(journal_field_int(e, "rt_priority", 0), 42);
        assert_string_equal(journal_field_str(e, "affinity"), "0-1,5");
        json_object_put(e);

        /* Another owner keeps its own original: its key says whose. */
        e = journal_entry_thread_new("daemon", "web", 4321, &ts);
        assert_common(e, "daemon:thread:4321:123456789012", "thread", "web", "daemon");
        json_object_put(e);

        assert_null(journal_entry_thread_new(NULL, "web", 0, &ts));
        assert_null(journal_entry_thread_new(NULL, NULL, 1, &ts));
        assert_null(journal_entry_thread_new(NULL, "web", 1, NULL));
        ts.policy = 12345;   /* no name for it: refused, never a NULL string */
        assert_null(journal_entry_thread_new(NULL, "web", 1, &ts));
}

static void test_cgroup(void **state) {
        (void) state;
        /* Keys are built whole: two long paths that share a long prefix
         * never collide into one entry. */
        char long_a[1100], long_b[1100];
        memset(long_a, 'a', sizeof long_a - 2);
        long_a[0] = '/';
        long_a[sizeof long_a - 2] = 'x';
        long_a[sizeof long_a - 1] = 0;
        memcpy(long_b, long_a, sizeof long_b);
        long_b[sizeof long_b - 2] = 'y';
        json_object *a = journal_entry_cgroup_new("cli", "db", "/sys/fs/cgroup", long_a, "weight", "100");
        json_object *b = journal_entry_cgroup_new("cli", "db", "/sys/fs/cgroup", long_b, "weight", "100");
        assert_non_null(a);
        assert_non_null(b);
        assert_string_not_equal(journal_field_str(a, "key"), journal_field_str(b, "key"));
        assert_string_equal(journal_field_str(a, "cgroup"), long_a);
        json_object_put(a);
        json_object_put(b);

        json_object *e = journal_entry_cgroup_new(NULL, "db", "/sys/fs/cgroup", "/xvsched-db", "cap", "max 100000");
        assert_common(e, "cgroup:/sys/fs/cgroup:/xvsched-db:cap", "cgroup", "db", "cli");
        assert_string_equal(journal_field_str(e, "root"), "/sys/fs/cgroup");
        assert_string_equal(journal_field_str(e, "cgroup"), "/xvsched-db");
        assert_string_equal(journal_field_str(e, "knob"), "cap");
        assert_string_equal(journal_field_str(e, "saved"), "max 100000");
        json_object_put(e);
        assert_null(journal_entry_cgroup_new(NULL, "db", "/r", "/g", "weight", NULL));
        assert_null(journal_entry_cgroup_new(NULL, "db", NULL, "/g", "weight", "1"));
}

static void test_move_rtbudget_autogroup(void **state) {
        (void) state;
        json_object *e = journal_entry_move_new("daemon", "vm1", "/sys/fs/cgroup", 77, 5000, "0::/user.slice\n", "/xvsched-vm1");
        assert_common(e, "daemon:move:77:5000", "move", "vm1", "daemon");
        assert_string_equal(journal_field_str(e, "root"), "/sys/fs/cgroup");
        assert_int_equal(journal_field_int(e, "pid", 0), 77);
        assert_int_equal(journal_field_int(e, "start_time", 0), 5000);
        assert_string_equal(journal_field_str(e, "saved"), "0::/user.slice\n");
        assert_string_equal(journal_field_str(e, "created"), "/xvsched-vm1");
        json_object_put(e);
        assert_null(journal_entry_move_new(NULL, "vm1", "/r", -1, 1, "s", "/c"));
        assert_null(journal_entry_move_new(NULL, "vm1", "/r", 1, 1, "s", NULL));

        e = journal_entry_rtbudget_new(NULL, "vm1", "/sys/fs/cgroup/cpu", "/machine/vm1", "/machine 0\n");
        assert_common(e, "rtbudget:/sys/fs/cgroup/cpu:/machine/vm1", "rtbudget", "vm1", "cli");
        assert_string_equal(journal_field_str(e, "root"), "/sys/fs/cgroup/cpu");
        assert_string_equal(journal_field_str(e, "cgroup"), "/machine/vm1");
        assert_string_equal(journal_field_str(e, "saved"), "/machine 0\n");
        json_object_put(e);
        assert_null(journal_entry_rtbudget_new(NULL, "vm1", "/r", NULL, "s"));

        e = journal_entry_autogroup_new(NULL, "vm1", 88, 6000, -7);
        assert_common(e, "autogroup:88:6000", "autogroup", "vm1", "cli");
        assert_int_equal(journal_field_int(e, "pid", 0), 88);
        assert_int_equal(journal_field_int(e, "start_time", 0), 6000);
        assert_int_equal(journal_field_int(e, "nice", 99), -7);
        json_object_put(e);
        assert_null(journal_entry_autogroup_new(NULL, "vm1", 0, 1, 0));
}

static void test_hv(void **state) {
        (void) state;
        json_object *e = journal_entry_hv_new(NULL, "web", "libvirt", "qemu:///system", "0f0e-uuid", "weight", "1024");
        assert_common(e, "hv:libvirt:0f0e-uuid:weight", "hv", "web", "cli");
        assert_string_equal(journal_field_str(e, "backend"), "libvirt");
        assert_string_equal(journal_field_str(e, "uri"), "qemu:///system");
        assert_string_equal(journal_field_str(e, "uuid"), "0f0e-uuid");
        assert_string_equal(journal_field_str(e, "lever"), "weight");
        assert_string_equal(journal_field_str(e, "saved"), "1024");
        json_object_put(e);
        /* No uuid, no uri: the key names the domain; the fields are absent. */
        e = journal_entry_hv_new("daemon", "web", "libvirt", NULL, NULL, "cpus.vcpu", "0-3");
        assert_common(e, "daemon:hv:libvirt:web:cpus.vcpu", "hv", "web", "daemon");
        assert_null(journal_field_str(e, "uri"));
        assert_null(journal_field_str(e, "uuid"));
        json_object_put(e);
        assert_null(journal_entry_hv_new(NULL, "web", NULL, NULL, NULL, "weight", "1"));
        assert_null(journal_entry_hv_new(NULL, "web", "libvirt", NULL, NULL, "weight", NULL));
}

/* A pause through libvirt says how to resume it; one over QMP says nothing
 * of libvirt. */
static void test_pause(void **state) {
        (void) state;
        JournalOwner o = { .name = "daemon", .pid = 100, .start_time = 7 };
        JournalVm vm = { .domain = "lv", .qemu_pid = 200, .qemu_start = 9, .qmp_socket = "/run/q.sock" };
        json_object *e = journal_entry_pause_new(&o, &vm);
        assert_non_null(e);
        assert_string_equal(journal_field_str(e, "key"), "pause:/run/q.sock:200:9");
        assert_string_equal(journal_field_str(e, "type"), "pause");
        assert_int_equal(journal_field_int(e, "owner_pid", 0), 100);
        assert_int_equal(journal_field_int(e, "qemu_start", 0), 9);
        assert_null(journal_field_str(e, "via"));
        assert_null(journal_field_str(e, "uuid"));
        json_object_put(e);
        vm.uuid = "u-1";
        vm.libvirt_uri = "qemu+ssh://h/system";
        e = journal_entry_pause_new(&o, &vm);
        assert_non_null(e);
        assert_string_equal(journal_field_str(e, "via"), "libvirt");
        assert_string_equal(journal_field_str(e, "uuid"), "u-1");
        assert_string_equal(journal_field_str(e, "libvirt_uri"), "qemu+ssh://h/system");
        json_object_put(e);
        vm.libvirt_uri = NULL;
        e = journal_entry_pause_new(&o, &vm);
        assert_string_equal(journal_field_str(e, "via"), "libvirt");
        assert_null(journal_field_str(e, "libvirt_uri"));
        json_object_put(e);
        vm.qmp_socket = NULL;
        assert_null(journal_entry_pause_new(&o, &vm));
}

/* Typed entries go through the state file unchanged. */
static void test_persisted(void **state) {
        (void) state;
        char dir[] = "/tmp/xv-test-journal-XXXXXX";
        assert_non_null(mkdtemp(dir));
        Journal *j;
        assert_int_equal(journal_open(dir, &j), 0);
        ThreadSched ts = { .nice = 5, .policy = SCHED_OTHER };
        cpuset_set(&ts.affinity, 2);
        assert_int_equal(journal_record(j, journal_entry_thread_new(NULL, "vm", 10, &ts)), 1);
        assert_int_equal(journal_record(j, journal_entry_autogroup_new("daemon", "vm", 10, 3, 1)), 1);
        /* The first original of a key wins. */
        ts.nice = 6;
        assert_int_equal(journal_record(j, journal_entry_thread_new(NULL, "vm", 10, &ts)), 0);
        journal_free(j);
        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(journal_size(j), 2);
        json_object *e = journal_entry(j, 0);
        assert_common(e, "thread:10:0", "thread", "vm", "cli");
        assert_int_equal(journal_field_int(e, "nice", 0), 5);
        assert_string_equal(journal_field_str(e, "affinity"), "2");
        e = journal_entry(j, 1);
        assert_common(e, "daemon:autogroup:10:3", "autogroup", "vm", "daemon");
        assert_int_equal(journal_field_int(e, "nice", 0), 1);
        journal_free(j);
        char p[128];
        snprintf(p, sizeof p, "%s/state.json", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/lock", dir);
        unlink(p);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_thread),
                cmocka_unit_test(test_cgroup),
                cmocka_unit_test(test_move_rtbudget_autogroup),
                cmocka_unit_test(test_hv),
                cmocka_unit_test(test_pause),
                cmocka_unit_test(test_persisted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
