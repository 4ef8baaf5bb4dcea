/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvagent's JSON reader and writer, and its /proc stat parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "json.h"
#include "proc.h"

static JsonDoc doc;

static int parse(const char *s) {
        return json_parse(&doc, s, strlen(s));
}

static void test_valid(void **state) {
        (void) state;
        assert_int_equal(parse(" {\"a\" : [1, -2, 3.5, -0.5e2, 1E3, true, false, null, \"x\"], \"b\": {}} \r\n"), 0);
        const JsonNode *root = json_root(&doc);
        assert_int_equal(root->type, JSON_OBJECT);
        assert_int_equal(root->n_children, 2);
        const JsonNode *a = json_get(&doc, root, "a");
        assert_non_null(a);
        assert_int_equal(a->n_children, 9);
        const JsonNode *n = json_first(&doc, a);
        assert_true(n->is_int);
        assert_int_equal(n->integer, 1);
        n = json_next(&doc, n);
        assert_int_equal(n->integer, -2);
        n = json_next(&doc, n);
        assert_false(n->is_int);
        assert_true(n->number == 3.5);
        n = json_next(&doc, n);
        assert_true(n->number == -50);
        n = json_next(&doc, n);
        assert_false(n->is_int);
        assert_true(n->number == 1000);
        n = json_next(&doc, n);
        assert_int_equal(n->type, JSON_BOOL);
        assert_true(n->boolean);
        n = json_next(&doc, n);
        assert_false(n->boolean);
        n = json_next(&doc, n);
        assert_int_equal(n->type, JSON_NULL);
        n = json_next(&doc, n);
        assert_string_equal(n->str, "x");
        assert_null(json_next(&doc, n));
        assert_int_equal(json_get(&doc, root, "b")->type, JSON_OBJECT);
        assert_null(json_get(&doc, root, "c"));
        assert_null(json_get(&doc, a, "a"));   /* not an object */

        assert_int_equal(parse("\"\\u00e9\\ud83d\\ude00\\n\\t\\\\\\/\\\"\""), 0);
        assert_string_equal(json_root(&doc)->str, "\xc3\xa9\xf0\x9f\x98\x80\n\t\\/\"");
        assert_int_equal(parse("\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""), 0);
        assert_int_equal(parse("9223372036854775807"), 0);
        assert_true(json_root(&doc)->is_int);
        assert_int_equal(parse("-9223372036854775808"), 0);
        assert_true(json_root(&doc)->is_int);
        assert_int_equal(parse("9223372036854775808"), 0);  /* too big for int64: a number, not an integer */
        assert_false(json_root(&doc)->is_int);
        assert_int_equal(parse("[[[[[[[[1]]]]]]]]"), 0);     /* depth 8 */
}

static void test_invalid(void **state) {
        (void) state;
        static const char *const bad[] = {
                "", " ", "{", "}", "[1,]", "{\"a\":1,}", "[01]", "[-]", "[1.]", "[.5]", "[1e]", "[+1]",
                "NaN", "Infinity", "[1 2]", "{\"a\" 1}", "{a:1}", "{'a':1}", "// c\n1", "/* c */1",
                "tru", "nul", "truex", "\"abc", "\"a\\x\"", "\"a\\u12\"", "\"\\u0000\"", "\"\\ud800\"",
                "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "\"a\nb\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"",
                "\"\xf5\x80\x80\x80\"", "\"\xe2\x82\"", "\"\x80\"", "{\"a\":1,\"a\":2}", "1 1", "[1]x",
                "[[[[[[[[[1]]]]]]]]]", "1e999", "-1e999",
                "\"\x00\"",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                int r = json_parse(&doc, bad[i], i == sizeof bad / sizeof bad[0] - 1 ? 3 : strlen(bad[i]));
                if (r >= 0)
                        fail_msg("accepted invalid JSON #%zu: %s", i, bad[i]);
                assert_non_null(doc.error);
                assert_null(json_root(&doc));
        }
        /* Too deep is -E2BIG, as are too many nodes and too much input. */
        assert_int_equal(parse("[[[[[[[[[1]]]]]]]]]"), -E2BIG);
        char big[JSON_MAX_INPUT + 2];
        memset(big, ' ', sizeof big - 1);
        big[sizeof big - 1] = 0;
        big[0] = '1';
        assert_int_equal(parse(big), -E2BIG);
        char many[2000];
        size_t o = 0;
        many[o++] = '[';
        for (int i = 0; i < 300; i++) {
                many[o++] = '0';
                many[o++] = ',';
        }
        many[o - 1] = ']';
        many[o] = 0;
        assert_int_equal(parse(many), -E2BIG);
}

static void test_writer(void **state) {
        (void) state;
        JsonWriter w;
        jw_init(&w, 1 << 20);
        jw_begin_object(&w);
        jw_key(&w, "s");
        jw_string(&w, "q\"b\\c\n\x01\x7f \xff\xc3\xa9 \xed\xa0\x80");
        jw_key(&w, "a");
        jw_begin_array(&w);
        jw_int(&w, -5);
        jw_uint(&w, UINT64_MAX);
        jw_double(&w, 0.25);
        jw_bool(&w, true);
        jw_null(&w);
        jw_begin_object(&w);
        jw_end_object(&w);
        jw_end_array(&w);
        jw_key(&w, "n");
        jw_string(&w, NULL);
        jw_end_object(&w);
        assert_int_equal(jw_error(&w), 0);
        assert_string_equal(w.buf, "{\"s\":\"q\\\"b\\\\c\\n\\u0001\x7f \\ufffd\xc3\xa9 \\ufffd\\ufffd\\ufffd\","
                                   "\"a\":[-5,18446744073709551615,0.25,true,null,{}],\"n\":null}");
        assert_int_equal(json_parse(&doc, w.buf, w.len), 0);
        assert_string_equal(json_get(&doc, json_root(&doc), "s")->str,
                            "q\"b\\c\n\x01\x7f \xef\xbf\xbd\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");

        /* Echo a parsed node. */
        jw_reset(&w);
        assert_int_equal(parse("{\"x\":[1,\"y\",{\"z\":null}],\"w\":2.5}"), 0);
        jw_node(&w, &doc, json_root(&doc));
        assert_string_equal(w.buf, "{\"x\":[1,\"y\",{\"z\":null}],\"w\":2.5}");

        /* Misuse and the size cap are sticky errors. */
        jw_reset(&w);
        jw_end_object(&w);
        assert_int_equal(jw_error(&w), -EINVAL);
        jw_reset(&w);
        jw_begin_array(&w);
        jw_key(&w, "k");
        assert_int_equal(jw_error(&w), -EINVAL);
        jw_free(&w);

        jw_init(&w, 16);
        jw_string(&w, "0123456789abcdefghij");
        assert_int_equal(jw_error(&w), -E2BIG);
        jw_int(&w, 1);
        assert_int_equal(jw_error(&w), -E2BIG);
        jw_free(&w);
}

static void test_stat(void **state) {
        (void) state;
        ProcTask t;
        const char *s = "1234 (a ) (b c)) R 1 1 1 0 -1 4194560 0 0 0 0 30 12 0 0 20 5 1 0 777 1 1 1 1 1 1 1 1 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_int_equal(proc_parse_stat(s, strlen(s), &t), 0);
        assert_int_equal(t.tid, 1234);
        assert_string_equal(t.comm, "a ) (b c)");
        assert_int_equal(t.state, 'R');
        assert_int_equal(t.cpu_ticks, 42);
        assert_int_equal(t.nice, 5);
        assert_int_equal(t.start_ticks, 777);
        assert_int_equal(t.cpu, 1);
        assert_int_equal(t.policy, 0);
        assert_false(t.kthread);

        s = "2 (kworker/0:0-events) I 2 0 0 0 -1 69238880 0 0 0 0 0 3 0 0 20 0 1 0 5 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 0 99 1 0 0 0\n";
        assert_int_equal(proc_parse_stat(s, strlen(s), &t), 0);
        assert_true(t.kthread);
        assert_int_equal(t.rt_priority, 99);
        assert_int_equal(t.policy, 1);
        assert_string_equal(t.comm, "kworker/0:0-events");

        static const char *const bad[] = {
                "", "1 (x", "1 x) R", "(x) R 1", "x (y) R 1 1", "1 (x) RR 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0",
                "1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",   /* truncated: no policy */
                "1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 99 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
                "-1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (proc_parse_stat(bad[i], strlen(bad[i]), &t) >= 0)
                        fail_msg("accepted bad stat #%zu", i);
        /* A long comm is cut, not overflowed. */
        char longc[600];
        snprintf(longc, sizeof longc, "7 (%0300d) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0", 0);
        assert_int_equal(proc_parse_stat(longc, strlen(longc), &t), 0);
        assert_int_equal(strlen(t.comm), TASK_COMM_MAX - 1);

        assert_string_equal(sched_policy_to_string(1), "fifo");
        assert_string_equal(sched_policy_to_string(42), "unknown");
        assert_int_equal(sched_policy_from_string("rr"), 2);
        assert_int_equal(sched_policy_from_string("RR"), -EINVAL);
}

static void test_snapshot_self(void **state) {
        (void) state;
        ProcSnapshot s;
        /* room for the whole command line: the binary's path may be long (a
         * package build's obj-x86_64-linux-gnu/ under a deep checkout) */
        assert_int_equal(proc_snapshot("/proc", 1 << 20, 4096, NULL, NULL, &s), 0);
        assert_true(s.n > 0);
        bool found = false;
        for (size_t i = 0; i < s.n; i++) {
                if (i > 0)
                        assert_true(s.tasks[i - 1].tid < s.tasks[i].tid);
                if (s.tasks[i].tid == getpid()) {
                        found = true;
                        assert_int_equal(s.tasks[i].state, 'R');
                        assert_non_null(strstr(proc_task_cmdline(&s, &s.tasks[i]), "test-agent-json"));
                }
        }
        assert_true(found);
        proc_snapshot_free(&s);
        assert_int_equal(proc_snapshot("/proc", 1, 0, NULL, NULL, &s), -E2BIG);
        assert_true(proc_snapshot("/nonexistent", 10, 0, NULL, NULL, &s) < 0);
        assert_int_equal(proc_get_tgid("/proc", getpid()), getpid());
        assert_int_equal(proc_get_tgid("/proc", 0x3fffff), -ESRCH);
}

static void test_fd_cache(void **state) {
        (void) state;
        /* The host's other processes come and go (this machine is shared):
         * the checks below hold whatever they do, and name our own two
         * children, one that exits and one that stays. */
        pid_t child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        pid_t stay = fork();
        if (stay == 0) {
                pause();
                _exit(0);
        }
        ProcFdCache cache, small;
        proc_fd_cache_init(&cache, 100000);
        proc_fd_cache_init(&small, 5);
        ProcSnapshot a, b, x;
        assert_int_equal(proc_snapshot("/proc", 1 << 20, 64, NULL, &cache, &a), 0);
        assert_int_equal(proc_snapshot("/proc", 1 << 20, 64, NULL, &small, &x), 0);
        assert_true(small.n <= 5);
        assert_true(cache.n > 5);
        size_t n_before = cache.n;
        bool seen = false;
        for (size_t i = 0; i < a.n; i++)
                if (a.tasks[i].tid == child)
                        seen = true;
        assert_true(seen);

        /* Cached reads give the same threads; an exited child is dropped
         * from the snapshot and its fd closed. */
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        assert_int_equal(proc_snapshot("/proc", 1 << 20, 64, &a, &cache, &b), 0);
        for (size_t i = 0; i < b.n; i++)
                assert_int_not_equal(b.tasks[i].tid, child);
        size_t common = 0, fresh = 0;
        bool stay_kept = false;
        for (size_t i = 0, j = 0; j < b.n;) {
                if (i < a.n && a.tasks[i].tid < b.tasks[j].tid)
                        i++;
                else if (i >= a.n || a.tasks[i].tid > b.tasks[j].tid)
                        fresh++, j++;   /* started since the first snapshot */
                else {
                        if (a.tasks[i].tid == stay)
                                stay_kept = true;
                        /* A kworker's name follows the work it runs
                         * ("kworker/u8:2-writeback"), and a thread may rename
                         * itself: the start time is what must match. */
                        assert_int_equal(a.tasks[i].start_ticks, b.tasks[j].start_ticks);
                        common++, i++, j++;
                }
        }
        assert_true(stay_kept);
        assert_true(common >= 2);                  /* this process and `stay` at least */
        assert_true(cache.n <= n_before + fresh);  /* grows only by threads that are new */
        kill(stay, SIGKILL);
        waitpid(stay, NULL, 0);
        proc_snapshot_free(&a);
        proc_snapshot_free(&b);
        proc_snapshot_free(&x);
        proc_fd_cache_done(&cache);
        proc_fd_cache_done(&small);
        assert_int_equal(cache.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_writer),
                cmocka_unit_test(test_stat),
                cmocka_unit_test(test_snapshot_self),
                cmocka_unit_test(test_fd_cache),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
