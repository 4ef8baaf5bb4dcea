/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched partition`'s model (src/cli/partition-model.c): names, the
 * partitions file (round trip, hostile and bounded input), overlaps of CPUs
 * and memory nodes, members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "cli/partition-model.h"

static CpuSet cs(const char *s) {
        CpuSet c;
        assert_int_equal(cpuset_parse(s, &c), 0);
        return c;
}

static void test_names(void **state _unused_) {
        const char *why = NULL;
        assert_true(partition_name_valid("p0", &why));
        assert_true(partition_name_valid("web_db-1.a", &why));
        assert_false(partition_name_valid("", &why));
        assert_non_null(why);
        assert_false(partition_name_valid("-x", &why));
        assert_false(partition_name_valid(".hidden", &why));
        assert_false(partition_name_valid("a/b", &why));
        assert_false(partition_name_valid("a b", &why));
        assert_false(partition_name_valid("a\nb", &why));
        char longname[PARTITION_NAME_MAX + 2];
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        assert_false(partition_name_valid(longname, &why));
        longname[PARTITION_NAME_MAX] = 0;
        assert_true(partition_name_valid(longname, &why));
}

static void test_round_trip(void **state _unused_) {
        PartitionSet s = {};
        CpuSet c0 = cs("0"), c1 = cs("1-3"), m0 = cs("0");
        char *m[] = { "web", "db" };
        assert_int_equal(partition_add(&s, "p0", &c0, &m0, m, 2), 0);
        assert_int_equal(partition_add(&s, "p1", &c1, NULL, NULL, 0), 0);
        assert_int_equal(partition_add(&s, "p0", &c1, NULL, NULL, 0), -EEXIST);
        char *text = partition_set_format(&s);
        assert_non_null(text);
        PartitionSet t;
        const char *why;
        assert_int_equal(partition_set_parse(text, &t, &why), 0);
        assert_int_equal(t.n, 2);
        assert_string_equal(t.p[0].name, "p0");
        assert_true(cpuset_equal(&t.p[0].cpus, &c0));
        assert_true(t.p[0].have_mems);
        assert_true(cpuset_equal(&t.p[0].mems, &m0));
        assert_int_equal(t.p[0].n_members, 2);
        assert_string_equal(t.p[0].members[1], "db");
        assert_false(t.p[1].have_mems);
        assert_true(cpuset_equal(&t.p[1].cpus, &c1));
        assert_int_equal(t.p[1].n_members, 0);
        char *again = partition_set_format(&t);
        assert_string_equal(text, again);
        free(again);
        free(text);
        partition_set_done(&t);
        partition_set_done(&s);
        /* No file, an empty one: no partitions. */
        assert_int_equal(partition_set_parse(NULL, &t, &why), 0);
        assert_int_equal(t.n, 0);
        assert_int_equal(partition_set_parse("", &t, &why), 0);
        assert_int_equal(t.n, 0);
}

static void test_hostile_file(void **state _unused_) {
        static const char *const bad[] = {
                "not json",
                "[]",
                "{\"version\":2,\"partitions\":[]}",
                "{\"version\":1}",
                "{\"version\":1,\"partitions\":{}}",
                "{\"version\":1,\"partitions\":[1]}",
                "{\"version\":1,\"partitions\":[{\"cpus\":\"0\",\"members\":[]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"../x\",\"cpus\":\"0\",\"members\":[]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"zero\",\"members\":[]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"\",\"members\":[]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"0\",\"mems\":7,\"members\":[]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"0\"}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"0\",\"members\":[\"a b\"]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"0\",\"members\":[3]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"0\",\"members\":[]},"
                "{\"name\":\"p\",\"cpus\":\"1\",\"members\":[]}]}",
                "{\"version\":1,\"partitions\":[{\"name\":\"p\",\"cpus\":\"0\",\"members\":[]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                PartitionSet t = { .n = 99 };
                const char *why = NULL;
                assert_int_equal(partition_set_parse(bad[i], &t, &why), -EBADMSG);
                assert_non_null(why);
                assert_int_equal(t.n, 99);   /* untouched */
        }
        /* Deep nesting is refused by the tokenizer's depth, not the stack. */
        size_t depth = 100000;
        char *deep = malloc(2 * depth + 1);
        assert_non_null(deep);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[2 * depth] = 0;
        PartitionSet t;
        const char *why;
        assert_int_equal(partition_set_parse(deep, &t, &why), -EBADMSG);
        free(deep);
        /* Past 1 MiB: refused before parsing. */
        char *big = malloc(PARTITION_FILE_MAX + 2);
        assert_non_null(big);
        memset(big, ' ', PARTITION_FILE_MAX + 1);
        big[PARTITION_FILE_MAX + 1] = 0;
        assert_int_equal(partition_set_parse(big, &t, &why), -EBADMSG);
        free(big);
}

static void test_overlap(void **state _unused_) {
        PartitionSet s = {};
        CpuSet c0 = cs("0-1"), c1 = cs("4-5"), m0 = cs("0");
        assert_int_equal(partition_add(&s, "a", &c0, &m0, NULL, 0), 0);
        assert_int_equal(partition_add(&s, "b", &c1, NULL, NULL, 0), 0);
        const char *what = NULL;
        unsigned which = 0;
        CpuSet q = cs("1-2");
        Partition *o = partition_overlap(&s, &q, NULL, NULL, &what, &which);
        assert_non_null(o);
        assert_string_equal(o->name, "a");
        assert_string_equal(what, "CPU");
        assert_int_equal(which, 1);
        q = cs("2-3");
        assert_null(partition_overlap(&s, &q, NULL, NULL, &what, &which));
        q = cs("5,900");
        o = partition_overlap(&s, &q, NULL, NULL, &what, &which);
        assert_non_null(o);
        assert_string_equal(o->name, "b");
        assert_int_equal(which, 5);
        /* A partition does not overlap itself (move). */
        q = cs("0");
        assert_null(partition_overlap(&s, &q, NULL, partition_find(&s, "a"), &what, &which));
        /* Memory nodes: only against partitions that have mems. */
        CpuSet mq = cs("0");
        q = cs("2");
        o = partition_overlap(&s, &q, &mq, NULL, &what, &which);
        assert_non_null(o);
        assert_string_equal(what, "memory node");
        assert_int_equal(which, 0);
        assert_null(partition_overlap(&s, &q, &mq, partition_find(&s, "a"), &what, &which));
        mq = cs("1");
        assert_null(partition_overlap(&s, &q, &mq, NULL, &what, &which));
        partition_set_done(&s);
}

static void test_members(void **state _unused_) {
        PartitionSet s = {};
        CpuSet c0 = cs("0"), c1 = cs("1");
        char *m[] = { "web", "db", "web" };
        assert_int_equal(partition_add(&s, "a", &c0, NULL, m, 3), 0);
        assert_int_equal(partition_find(&s, "a")->n_members, 2);   /* repeats once */
        assert_int_equal(partition_add(&s, "b", &c1, NULL, NULL, 0), 0);
        Partition *a = partition_find(&s, "a"), *b = partition_find(&s, "b");
        assert_ptr_equal(partition_of_member(&s, "db", NULL), a);
        assert_null(partition_of_member(&s, "db", a));
        assert_null(partition_of_member(&s, "nosuch", NULL));
        assert_int_equal(partition_member_add(b, "x"), 1);
        assert_int_equal(partition_member_add(b, "x"), 0);
        assert_int_equal(partition_member_drop(&s, "web"), 1);
        assert_int_equal(partition_member_drop(&s, "web"), 0);
        assert_int_equal(a->n_members, 1);
        assert_string_equal(a->members[0], "db");
        assert_int_equal(partition_remove(&s, "a"), 0);
        assert_int_equal(partition_remove(&s, "a"), -ENOENT);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.p[0].name, "b");
        assert_ptr_equal(partition_of_member(&s, "x", NULL), &s.p[0]);
        for (unsigned i = 1; i < PARTITION_MEMBERS_MAX; i++) {
                char n[16];
                snprintf(n, sizeof n, "d%u", i);
                assert_int_equal(partition_member_add(&s.p[0], n), 1);
        }
        assert_int_equal(partition_member_add(&s.p[0], "one-more"), -E2BIG);
        partition_set_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_hostile_file),
                cmocka_unit_test(test_overlap),
                cmocka_unit_test(test_members),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
