/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An interrupted guest kernel call as the journal keeps it (the pause
 * entry's "kcall" field, docs/agentless.md "Killed mid-call"):
 * journal_set_field() persists and removes it and leaves the entry as it
 * was on a failure; vm_kcall_parse() takes the guard's record and refuses a
 * malformed one (nothing is done with it); vm_kcall_decide() restores the
 * registers only where the vCPU is back at the breakpoint or never left the
 * function's entry, and lets the call return anywhere else. */

#include <errno.h>
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
#include "lever/vm-kcall.h"

static char dir[64];

static void cleanup_dir(void) {
        char p[128];
        snprintf(p, sizeof p, "%s/state.json", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/lock", dir);
        unlink(p);
        assert_int_equal(rmdir(dir), 0);
}

static void test_set_field(void **state) {
        (void) state;
        snprintf(dir, sizeof dir, "/tmp/xv-test-vm-kcall-XXXXXX");
        assert_non_null(mkdtemp(dir));
        Journal *j;
        assert_int_equal(journal_open(dir, &j), 0);
        JournalOwner o = { .name = "cli", .pid = 100, .start_time = 7 };
        JournalVm vm = { .domain = "d", .qemu_pid = 200, .qemu_start = 9, .qmp_socket = "/run/q.sock" };
        assert_int_equal(journal_record(j, journal_entry_pause_new(&o, &vm)), 1);
        const char *key = "pause:/run/q.sock:200:9";
        json_object *k = json_object_new_object();
        json_object_object_add(k, "step", json_object_new_string("breakpoint"));
        assert_int_equal(journal_set_field(j, key, "kcall", k), 0);
        /* no such entry; the key itself is not a field to set */
        assert_int_equal(journal_set_field(j, "pause:other", "kcall", json_object_new_object()), -ENOENT);
        assert_int_equal(journal_set_field(j, key, "key", json_object_new_string("x")), -EINVAL);
        journal_free(j);

        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(journal_size(j), 1);
        json_object *e = journal_entry(j, 0), *v;
        assert_string_equal(journal_field_str(e, "key"), key);
        assert_true(json_object_object_get_ex(e, "kcall", &v));
        assert_string_equal(journal_field_str(v, "step"), "breakpoint");
        /* replaced, then removed (NULL) */
        k = json_object_new_object();
        json_object_object_add(k, "step", json_object_new_string("call"));
        assert_int_equal(journal_set_field(j, key, "kcall", k), 0);
        assert_int_equal(journal_set_field(j, key, "kcall", NULL), 0);
        journal_free(j);
        assert_int_equal(journal_open(dir, &j), 0);
        assert_false(json_object_object_get_ex(journal_entry(j, 0), "kcall", &v));
        assert_int_equal(journal_field_int(journal_entry(j, 0), "owner_pid", 0), 100);
        journal_free(j);
        cleanup_dir();
}

/* The register block the guard records: 140 bytes, hex. */
static json_object *record(const char *step, int vcpu, size_t regs_len) {
        json_object *k = json_object_new_object();
        json_object_object_add(k, "step", json_object_new_string(step));
        json_object_object_add(k, "gdb_socket", json_object_new_string("/tmp/xvsched-gdb.AbCdEf/gdb"));
        json_object_object_add(k, "bp", json_object_new_string("0xffffffff8e2592eb"));
        json_object_object_add(k, "bp_orig", json_object_new_int(0xc3));
        json_object_object_add(k, "fn", json_object_new_string("0xffffffff8e2b5670"));
        if (vcpu) {
                char hex[2 * 256 + 1];
                for (size_t i = 0; i < regs_len; i++)
                        snprintf(hex + 2 * i, 3, "%02x", (unsigned) (i & 0xff));
                hex[2 * regs_len] = 0;
                json_object_object_add(k, "vcpu", json_object_new_int(vcpu));
                json_object_object_add(k, "regs", json_object_new_string(hex));
        }
        return k;
}

static void test_parse(void **state) {
        (void) state;
        VmKcallState st;
        json_object *k = record("breakpoint", 0, 0);
        assert_int_equal(vm_kcall_parse(k, &st), 0);
        assert_int_equal(st.step, 1);
        assert_true(st.bp == UINT64_C(0xffffffff8e2592eb));
        assert_true(st.fn == UINT64_C(0xffffffff8e2b5670));
        assert_int_equal(st.bp_orig, 0xc3);
        assert_string_equal(st.gdb_socket, "/tmp/xvsched-gdb.AbCdEf/gdb");
        json_object_put(k);

        k = record("call", 2, 140);
        assert_int_equal(vm_kcall_parse(k, &st), 0);
        assert_int_equal(st.step, 2);
        assert_int_equal(st.vcpu, 2);
        assert_int_equal(st.regs_len, 140);
        assert_int_equal(st.regs[139], 139);
        json_object_put(k);

        /* only the stub was up: no address needed */
        k = json_object_new_object();
        json_object_object_add(k, "step", json_object_new_string("stub"));
        json_object_object_add(k, "gdb_socket", json_object_new_string("/tmp/xvsched-gdb.AbCdEf/gdb"));
        assert_int_equal(vm_kcall_parse(k, &st), 0);
        assert_int_equal(st.step, 3);
        json_object_object_del(k, "gdb_socket");
        assert_int_equal(vm_kcall_parse(k, &st), -EBADMSG);
        json_object_put(k);

        /* malformed: a short register block, no vCPU, an unknown step, a
         * bare number for an address, the breakpoint missing */
        k = record("call", 2, 100);
        assert_int_equal(vm_kcall_parse(k, &st), -EBADMSG);
        json_object_put(k);
        k = record("call", 0, 0);
        assert_int_equal(vm_kcall_parse(k, &st), -EBADMSG);
        json_object_put(k);
        k = record("jump", 0, 0);
        assert_int_equal(vm_kcall_parse(k, &st), -EBADMSG);
        json_object_put(k);
        k = record("breakpoint", 0, 0);
        json_object_object_add(k, "bp", json_object_new_string("12345"));
        assert_int_equal(vm_kcall_parse(k, &st), -EBADMSG);
        json_object_object_del(k, "bp");
        assert_int_equal(vm_kcall_parse(k, &st), -EBADMSG);
        json_object_put(k);
}

static void test_decide(void **state) {
        (void) state;
        const uint64_t bp = 0xffffffff81000100, fn = 0xffffffff81200000, rsp = 0xffffc90000083e90;
        /* returned to the breakpoint (or not set up yet): restore */
        assert_int_equal(vm_kcall_decide(bp, rsp, bp, fn, rsp), VM_KCALL_RESTORE);
        /* set up, never started: restore */
        assert_int_equal(vm_kcall_decide(fn, rsp - 8, bp, fn, rsp), VM_KCALL_RESTORE);
        /* a few instructions in, deeper in a callee, at the entry with
         * another stack (a recursive call): let it return first */
        assert_int_equal(vm_kcall_decide(fn + 4, rsp - 8, bp, fn, rsp), VM_KCALL_WAIT);
        assert_int_equal(vm_kcall_decide(0xffffffff81300000, rsp - 64, bp, fn, rsp), VM_KCALL_WAIT);
        assert_int_equal(vm_kcall_decide(fn, rsp - 72, bp, fn, rsp), VM_KCALL_WAIT);
        /* at the breakpoint address on another stack depth: not back yet */
        assert_int_equal(vm_kcall_decide(bp, rsp - 8, bp, fn, rsp), VM_KCALL_WAIT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_field),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_decide),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
