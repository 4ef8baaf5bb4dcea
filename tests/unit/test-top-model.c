/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched top`'s model (src/cli/top-model.c): merging discovery with the
 * daemon's status reply, sorting, filtering, the column layout, cutting
 * cells, and frames at every terminal size down to 1x1. */
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
#include "cli/top-model.h"

/* A status reply as the daemon writes it (src/daemon/status.c): rule
 * domain "fg" matched the discovered domain "ifg"; "gone" is absent. */
static const char status_json[] =
        "{\"tick\":1234,\"t_ms\":5000,\"interval_ms\":100,\"config\":\"/etc/xvsched/x.conf\","
        "\"tasks\":["
        "{\"task\":\"work\",\"domain\":\"fg\",\"class\":\"normal\",\"priority\":80,\"state\":\"running\",\"busy\":true,"
        "\"cpu_pct\":91.5,\"target_share_pct\":70,\"share_pct\":68.2,\"stopped_by_xvsched\":false,\"nice\":-5,"
        "\"why\":\"\",\"pids\":[42]},"
        "{\"task\":\"backup\",\"domain\":\"fg\",\"class\":\"idle\",\"priority\":0,\"state\":\"stopped\",\"busy\":false,"
        "\"cpu_pct\":0.0,\"stopped_by_xvsched\":true,\"nice\":null,\"why\":\"idle class: work is busy\",\"pids\":[43]},"
        "{\"task\":\"ghost\",\"domain\":\"gone\",\"class\":\"normal\",\"priority\":10,\"state\":\"absent\",\"cpu_pct\":0,"
        "\"why\":\"\"}"
        "],"
        "\"domains\":["
        "{\"domain\":\"fg\",\"present\":true,\"matched\":\"ifg\",\"vcpu_pct\":95.0,\"fresh\":true,\"view\":\"agent\","
        "\"control_path\":\"agent\",\"weight\":200,\"rt\":false,\"rt_budget_spent\":false,\"steal_scale\":1.0},"
        "{\"domain\":\"gone\",\"present\":false,\"matched\":null,\"vcpu_pct\":0,\"fresh\":false,\"view\":null,"
        "\"control_path\":null,\"view_error\":\"no such domain\",\"view_retry_in_ms\":1500,\"weight\":100,"
        "\"rt\":false,\"rt_budget_spent\":false}"
        "],"
        "\"cost\":{\"observe_us\":350.0,\"decide_us\":12.3,\"act_us\":40.0}}";

static TopDomain *discovered(TopModel *m, const char *name, double cpu, int weight) {
        TopDomain *d = top_model_add_domain(m, name);
        assert_non_null(d);
        assert_int_equal(top_set_string(&d->backend, "qmp"), 0);
        d->vcpu_pct = cpu;
        d->weight = weight;
        d->n_vcpus = 1;
        return d;
}

static const TopDomain *by_name(const TopModel *m, const char *name) {
        for (size_t i = 0; i < m->n_domains; i++)
                if (streq(m->domains[i].name, name))
                        return &m->domains[i];
        return NULL;
}

static void test_apply_status(void **st) {
        (void) st;
        TopModel m = {};
        discovered(&m, "ifg", 97.0, 400);
        discovered(&m, "other", 3.0, 100);
        assert_int_equal(top_model_apply_status(&m, status_json), 0);
        assert_true(m.daemon);
        assert_int_equal(m.tick, 1234);
        assert_int_equal(m.interval_ms, 100);
        assert_float_equal(m.observe_us, 350, 0.01);
        assert_float_equal(m.decide_us, 12.3, 0.01);
        assert_string_equal(m.config, "/etc/xvsched/x.conf");
        assert_int_equal(m.n_domains, 3);

        const TopDomain *fg = by_name(&m, "fg");
        assert_non_null(fg);
        assert_string_equal(fg->matched, "ifg");   /* one row: the rule's and the discovered domain */
        assert_true(fg->watched);
        assert_string_equal(fg->state, "watched");
        assert_string_equal(fg->note, "view agent, control agent");
        assert_int_equal(fg->weight, 400);          /* the host's figure wins over the plan's */
        assert_float_equal(fg->vcpu_pct, 97.0, 0.01);
        assert_int_equal(fg->n_tasks, 2);
        assert_string_equal(fg->tasks[0].name, "work");
        assert_float_equal(fg->tasks[0].share_pct, 68.2, 0.01);
        assert_float_equal(fg->tasks[0].target_pct, 70, 0.01);
        assert_true(fg->tasks[0].has_nice);
        assert_int_equal(fg->tasks[0].nice, -5);
        assert_int_equal(fg->tasks[0].priority, 80);
        assert_false(fg->tasks[1].has_nice);
        assert_true(fg->tasks[1].stopped_by_xvsched);
        assert_float_equal(fg->tasks[1].share_pct, -1, 0);   /* no share rule */
        assert_string_equal(fg->tasks[1].why, "idle class: work is busy");

        const TopDomain *other = by_name(&m, "other");
        assert_non_null(other);
        assert_false(other->watched);
        assert_string_equal(other->state, "unwatched");

        const TopDomain *gone = by_name(&m, "gone");
        assert_non_null(gone);
        assert_null(gone->backend);
        assert_string_equal(gone->state, "absent");
        assert_string_equal(gone->note, "no such domain; next try in 1.5 s");
        assert_int_equal(gone->weight, 100);        /* not discovered: the daemon's */
        assert_int_equal(gone->n_tasks, 1);
        top_model_done(&m);
}

static void test_apply_status_old_daemon(void **st) {
        (void) st;
        /* A daemon without "matched": the rule's name is the discovered one. */
        TopModel m = {};
        discovered(&m, "db", 50, 100);
        assert_int_equal(top_model_apply_status(&m,
                                                "{\"tick\":1,\"interval_ms\":500,\"tasks\":[],\"domains\":["
                                                "{\"domain\":\"db\",\"present\":true,\"view\":\"qga\","
                                                "\"control_path\":\"qga\",\"weight\":300,\"rt\":true}]}"),
                         0);
        assert_int_equal(m.n_domains, 1);
        assert_null(m.domains[0].matched);
        assert_true(m.domains[0].watched);
        assert_string_equal(m.domains[0].note, "view qga, control qga; RT on");
        assert_float_equal(m.observe_us, -1, 0);    /* no cost: unknown */
        top_model_done(&m);
}

/* A daemon of many hosts (src/daemon/hosts.c): one rule on two hosts is two
 * rows, each NAME@HOST like discovery's remote rows, with its own tasks. */
static void test_apply_status_hosts(void **st) {
        (void) st;
        TopModel m = {};
        discovered(&m, "twin@h1", 10, 100);
        discovered(&m, "twin@h2", 20, 100);
        discovered(&m, "pg@h2", 5, 100);
        assert_int_equal(top_model_apply_status(&m,
                                                "{\"tick\":7,\"interval_ms\":200,\"hosts\":[{\"host\":\"h1\",\"tick\":7},"
                                                "{\"host\":\"h2\",\"tick\":5}],\"tasks\":["
                                                "{\"task\":\"w\",\"host\":\"h1\",\"domain\":\"twin\",\"state\":\"running\"},"
                                                "{\"task\":\"w\",\"host\":\"h2\",\"domain\":\"twin\",\"state\":\"sleeping\"},"
                                                "{\"task\":\"q\",\"host\":\"h2\",\"domain\":\"db@h2\",\"state\":\"running\"}],"
                                                "\"domains\":["
                                                "{\"domain\":\"twin\",\"host\":\"h1\",\"present\":true,\"matched\":\"twin\"},"
                                                "{\"domain\":\"twin\",\"host\":\"h2\",\"present\":true,\"matched\":\"twin\"},"
                                                "{\"domain\":\"db@h2\",\"host\":\"h2\",\"present\":true,\"matched\":\"pg\"}]}"),
                         0);
        assert_int_equal(m.n_domains, 3);
        const TopDomain *t1 = by_name(&m, "twin@h1"), *t2 = by_name(&m, "twin@h2"), *db = by_name(&m, "db@h2");
        assert_non_null(t1);
        assert_non_null(t2);
        assert_non_null(db);
        assert_true(t1->watched && t2->watched && db->watched);
        assert_string_equal(db->matched, "pg@h2");
        assert_int_equal(t1->n_tasks, 1);
        assert_string_equal(t1->tasks[0].state, "running");
        assert_int_equal(t2->n_tasks, 1);
        assert_string_equal(t2->tasks[0].state, "sleeping");
        assert_int_equal(db->n_tasks, 1);
        top_model_done(&m);
}

static void test_apply_status_bad(void **st) {
        (void) st;
        static const char *bad[] = { "", "nonsense", "[]", "{\"error\":\"unknown command\"}",
                                     "{\"domains\":{},\"tasks\":[]}", "{\"domains\":[],\"tasks\":7}" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TopModel m = {};
                discovered(&m, "a", 1, 1);
                assert_int_equal(top_model_apply_status(&m, bad[i]), -EBADMSG);
                assert_false(m.daemon);
                assert_int_equal(m.n_domains, 1);
                assert_false(m.domains[0].watched);
                assert_non_null(m.message);
                top_model_done(&m);
        }
        /* Members of the wrong type are skipped, not trusted. */
        TopModel m = {};
        assert_int_equal(top_model_apply_status(&m, "{\"tasks\":[{\"task\":5,\"domain\":\"x\"},7],"
                                                    "\"domains\":[{\"domain\":[1]},{\"domain\":\"x\",\"weight\":\"big\"}],"
                                                    "\"tick\":\"soon\"}"),
                         0);
        assert_int_equal(m.n_domains, 1);
        assert_int_equal(m.domains[0].weight, -1);
        assert_int_equal(m.domains[0].n_tasks, 0);
        top_model_done(&m);
}

static void test_sort(void **st) {
        (void) st;
        TopModel m = {};
        discovered(&m, "b", 10, 300);
        discovered(&m, "a", -1, 100);   /* CPU not known yet */
        discovered(&m, "c", 50, 200);
        TopDomain *b = &m.domains[0];
        TopTask *t = top_domain_add_task(b, "low");
        t->priority = 10, t->cpu_pct = 80;
        t = top_domain_add_task(b, "high");
        t->priority = 90, t->cpu_pct = 5;

        top_model_sort(&m, TOP_SORT_CPU, false);
        assert_string_equal(m.domains[0].name, "c");
        assert_string_equal(m.domains[1].name, "b");
        assert_string_equal(m.domains[2].name, "a");   /* unknown last */
        assert_string_equal(m.domains[1].tasks[0].name, "low");
        top_model_sort(&m, TOP_SORT_CPU, true);
        assert_string_equal(m.domains[0].name, "b");
        assert_string_equal(m.domains[1].name, "c");
        assert_string_equal(m.domains[2].name, "a");   /* unknown last, reversed too */

        top_model_sort(&m, TOP_SORT_NAME, false);
        assert_string_equal(m.domains[0].name, "a");
        assert_string_equal(m.domains[2].name, "c");
        assert_string_equal(m.domains[1].tasks[0].name, "high");
        top_model_sort(&m, TOP_SORT_NAME, true);
        assert_string_equal(m.domains[0].name, "c");

        top_model_sort(&m, TOP_SORT_WEIGHT, false);
        assert_string_equal(m.domains[0].name, "b");
        assert_string_equal(m.domains[1].name, "c");
        assert_string_equal(m.domains[0].tasks[0].name, "high");   /* tasks by priority */

        top_model_sort(&m, TOP_SORT_PRIO, false);
        assert_string_equal(m.domains[0].name, "b");   /* the only one with tasks */

        TopSortKey k = TOP_SORT_CPU;
        for (int i = 0; i < _TOP_SORT_MAX; i++)
                k = top_sort_key_next(k);
        assert_int_equal(k, TOP_SORT_CPU);   /* s cycles through every key */
        assert_string_equal(top_sort_key_to_string(TOP_SORT_WEIGHT), "weight");
        top_model_done(&m);
}

static void test_filter(void **st) {
        (void) st;
        TopModel m = {};
        discovered(&m, "ifg", 1, 1);
        assert_int_equal(top_model_apply_status(&m, status_json), 0);
        const TopDomain *fg = by_name(&m, "fg"), *gone = by_name(&m, "gone");
        assert_true(top_domain_visible(fg, NULL));
        assert_true(top_domain_visible(fg, ""));
        /* By the domain's name, either of them: every task shows. */
        assert_true(top_domain_visible(fg, "IFG"));
        assert_true(top_task_visible(fg, &fg->tasks[1], "ifg"));
        /* By a task's name: its domain and only that task. */
        assert_true(top_domain_visible(fg, "back"));
        assert_true(top_task_visible(fg, &fg->tasks[1], "back"));
        assert_false(top_task_visible(fg, &fg->tasks[0], "back"));
        assert_false(top_domain_visible(gone, "back"));
        /* By state or class. */
        assert_true(top_task_visible(fg, &fg->tasks[1], "stopped"));
        assert_false(top_task_visible(fg, &fg->tasks[0], "stopped"));
        assert_true(top_task_visible(fg, &fg->tasks[1], "idle"));
        assert_int_equal(top_rows(&m, NULL), 5);   /* fg + 2 tasks, gone + 1 task */
        assert_int_equal(top_rows(&m, "back"), 2);
        assert_int_equal(top_rows(&m, "nothing-like-it"), 0);
        top_model_done(&m);
}

static void test_cell(void **st) {
        (void) st;
        char buf[64];
        top_cell(buf, "abc", 6, false);
        assert_string_equal(buf, "abc   ");
        top_cell(buf, "abc", 6, true);
        assert_string_equal(buf, "   abc");
        top_cell(buf, "abcdefgh", 5, false);
        assert_string_equal(buf, "abcd~");   /* cut, and says so */
        top_cell(buf, "abcdefgh", 5, true);
        assert_string_equal(buf, "abcd~");
        top_cell(buf, "abcde", 5, false);
        assert_string_equal(buf, "abcde");   /* exactly fits: not cut */
        top_cell(buf, "a\x1b[2Jb\tc\xc3\xa9", 10, false);
        assert_string_equal(buf, "a?[2Jb?c??");   /* a guest's name cannot drive the terminal */
        top_cell(buf, NULL, 3, false);
        assert_string_equal(buf, "   ");
        top_cell(buf, "xyz", 1, false);
        assert_string_equal(buf, "~");
        top_cell(buf, "xyz", 0, false);
        assert_string_equal(buf, "");
}

static void test_layout(void **st) {
        (void) st;
        int cols[TOP_MAX_COLUMNS], widths[TOP_MAX_COLUMNS];
        /* Wide: every column, the last (view/control, why) takes the rest. */
        size_t n = top_layout(200, cols, widths);
        assert_int_equal(n, 13);
        int total = -1;
        for (size_t i = 0; i < n; i++)
                total += widths[i] + 1;
        assert_int_equal(total, 200);
        assert_string_equal(top_column_title(cols[n - 1]), "VIEW/CONTROL, WHY");
        /* Narrow: name, state and CPU stay. */
        n = top_layout(TOP_MIN_WIDTH, cols, widths);
        bool name = false, cpu = false, state = false;
        for (size_t i = 0; i < n; i++) {
                name |= streq(top_column_title(cols[i]), "DOMAIN/TASK");
                cpu |= streq(top_column_title(cols[i]), "CPU%");
                state |= streq(top_column_title(cols[i]), "STATE");
        }
        assert_true(name && cpu && state);
        /* Never wider than the terminal, and fewer columns only as it narrows. */
        size_t last = 0;
        for (int w = TOP_MIN_WIDTH; w <= TOP_MAX_WIDTH; w++) {
                n = top_layout(w, cols, widths);
                total = -1;
                for (size_t i = 0; i < n; i++)
                        total += widths[i] + 1;
                assert_true(total <= w);
                assert_true(n >= last);
                last = n;
        }
}

static void check_frame(const TopLine *lines, size_t n, int width, int height) {
        assert_true(n <= (size_t) MAX(height, 0));
        for (size_t i = 0; i < n; i++) {
                assert_true(strlen(lines[i].text) <= (size_t) width);
                for (const char *p = lines[i].text; *p; p++)
                        assert_true(*p >= 0x20 && *p < 0x7f);
        }
}

static bool frame_has(const TopLine *lines, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strstr(lines[i].text, s))
                        return true;
        return false;
}

static void test_render(void **st) {
        (void) st;
        TopModel m = {};
        discovered(&m, "ifg", 97, 400);
        discovered(&m, "other", 3, 100);
        assert_int_equal(top_model_apply_status(&m, status_json), 0);
        top_model_sort(&m, TOP_SORT_CPU, false);
        TopLine lines[40];
        TopView v = { .sort = TOP_SORT_CPU, .delay_s = 2, .clock = "08:40:12" };

        size_t n = top_render(&m, &v, 120, 40, lines);
        assert_int_equal(n, 40);   /* the footer on the last line */
        check_frame(lines, n, 120, 40);
        assert_int_equal(lines[0].kind, TOP_LINE_HEADER);
        assert_non_null(strstr(lines[0].text, "tick 1234 every 100 ms"));
        assert_non_null(strstr(lines[0].text, "observe 350 us, decide 12.3 us, act 40 us"));
        assert_non_null(strstr(lines[1].text, "3 domains, 3 tasks (1 stopped by xvsched)  sort: cpu"));
        assert_int_equal(lines[2].kind, TOP_LINE_COLUMNS);
        assert_int_equal(lines[3].kind, TOP_LINE_DOMAIN);
        assert_true(strncmp(lines[3].text, "fg=ifg ", 7) == 0);
        assert_int_equal(lines[4].kind, TOP_LINE_TASK);
        assert_true(strncmp(lines[4].text, "  work ", 7) == 0);
        assert_non_null(strstr(lines[4].text, "68.2"));
        assert_non_null(strstr(lines[5].text, "by xvsched: idle class"));
        assert_int_equal(lines[5].text[strlen(lines[5].text) - 1], '~');   /* cut at 120, and says so */
        n = top_render(&m, &v, 160, 40, lines);
        assert_non_null(strstr(lines[5].text, "by xvsched: idle class: work is busy"));
        n = top_render(&m, &v, 120, 40, lines);
        assert_true(frame_has(lines, n, "unwatched"));
        assert_int_equal(lines[39].kind, TOP_LINE_FOOTER);
        assert_non_null(strstr(lines[39].text, "q quit"));

        /* Paused, filtered, typing. */
        v.paused = true;
        v.filter = "back";
        v.prompt = "back";
        n = top_render(&m, &v, 120, 40, lines);
        assert_true(strncmp(lines[1].text, "PAUSED  ", 8) == 0);
        assert_non_null(strstr(lines[1].text, "filter: back"));
        assert_true(frame_has(lines, n, "  backup"));
        assert_false(frame_has(lines, n, "  work"));
        assert_false(frame_has(lines, n, "other"));
        assert_non_null(strstr(lines[39].text, "filter: back_"));

        /* Five lines: one row, scrolled; scrolling past the end is clamped. */
        v = (TopView) { .sort = TOP_SORT_CPU, .scroll = 1000 };
        n = top_render(&m, &v, 80, 5, lines);
        assert_int_equal(n, 5);
        assert_int_equal(v.scroll, 5);   /* 6 rows, 1 shown */
        assert_non_null(strstr(lines[4].text, "(more rows)"));
        v.scroll = 1;
        n = top_render(&m, &v, 80, 5, lines);
        assert_true(strncmp(lines[3].text, "  work", 6) == 0);

        /* Too small: one line that fits. */
        n = top_render(&m, &v, 10, 3, lines);
        assert_int_equal(n, 1);
        assert_int_equal(lines[0].kind, TOP_LINE_SMALL);
        assert_string_equal(lines[0].text, "too small");
        n = top_render(&m, &v, 39, 40, lines);
        assert_int_equal(n, 1);
        assert_string_equal(lines[0].text, "terminal too small (39x40, need 40x5)");
        n = top_render(&m, &v, 120, 4, lines);
        assert_int_equal(n, 1);
        assert_int_equal(top_render(&m, &v, 0, 0, lines), 0);
        top_model_done(&m);
}

static void test_render_empty(void **st) {
        (void) st;
        /* No domain, no daemon: a frame, not an error. */
        TopModel m = {};
        TopLine lines[5];
        TopView v = { .delay_s = 2 };
        assert_int_equal(top_render(&m, &v, 80, 5, lines), 5);
        assert_string_equal(lines[0].text, "xvsched top  no daemon: read-only discovery");
        assert_true(strncmp(lines[1].text, "0 domains, 0 tasks", 18) == 0);
        assert_int_equal(lines[2].kind, TOP_LINE_COLUMNS);
        assert_string_equal(lines[3].text, "");
        assert_int_equal(lines[4].kind, TOP_LINE_FOOTER);
        assert_int_equal(top_rows(&m, "x"), 0);
        top_model_sort(&m, TOP_SORT_NAME, true);
        top_model_done(&m);
}

static void test_render_every_size(void **st) {
        (void) st;
        TopModel m = {};
        TopDomain *d = discovered(&m, "a-domain-with-a-name-longer-than-its-column", 12.5, 10000);
        assert_int_equal(top_set_string(&d->note, "view vmi, control vmi+qmp; \x1b]0;owned\x07 and a long error text"), 0);
        TopTask *t = top_domain_add_task(d, "\x1b[31mred");
        t->cpu_pct = 100;
        t->target_pct = 33.3;
        t->share_pct = 30;
        assert_int_equal(top_set_string(&t->why, "why not"), 0);
        discovered(&m, "b", -1, -1);
        TopLine *lines = calloc(60, sizeof *lines);
        assert_non_null(lines);
        for (int h = 1; h <= 60; h++)
                for (int w = 1; w <= TOP_MAX_WIDTH + 20; w += (w < 130 ? 1 : 37)) {
                        TopView v = { .filter = (w % 3) ? NULL : "a", .scroll = (size_t) w, .prompt = (h % 2) ? NULL : "x" };
                        size_t n = top_render(&m, &v, w, h, lines);
                        check_frame(lines, n, MIN(w, TOP_MAX_WIDTH), h);
                        assert_true(n >= 1);
                }
        free(lines);
        top_model_done(&m);
}

/* A status reply's figures and strings are the daemon's (or whatever
 * answers on its socket): a header longer than its buffer is cut, not
 * written past it (huge costs, a long config path, then a message). */
static void test_render_huge_header(void **st) {
        (void) st;
        char *json = malloc(32768);
        assert_non_null(json);
        static char config[20001];
        memset(config, 'c', sizeof config - 1);
        config[sizeof config - 1] = 0;
        snprintf(json, 32768,
                 "{\"tick\":9223372036854775807,\"interval_ms\":1e300,\"config\":\"/%s\",\"tasks\":[],\"domains\":[],"
                 "\"cost\":{\"observe_us\":1e308,\"decide_us\":-1e308,\"act_us\":1e308}}",
                 config);
        TopModel m = {};
        assert_int_equal(top_model_apply_status(&m, json), 0);
        assert_int_equal(m.interval_ms, -1);   /* out of range: unknown */
        assert_int_equal(top_set_string(&m.message, "h2: no answer in time"), 0);
        TopLine lines[8];
        for (int w = TOP_MIN_WIDTH; w <= TOP_MAX_WIDTH; w += 120) {
                TopView v = { .delay_s = 2, .clock = "12:00:00" };
                size_t n = top_render(&m, &v, w, 8, lines);
                check_frame(lines, n, w, 8);
                assert_true(strncmp(lines[0].text, "xvsched top  12:00:00  daemon: tick 9223372036854775807", 54) == 0 ||
                            w < 60);
        }
        free(json);
        top_model_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_apply_status),
                cmocka_unit_test(test_apply_status_old_daemon),
                cmocka_unit_test(test_apply_status_hosts),
                cmocka_unit_test(test_apply_status_bad),
                cmocka_unit_test(test_sort),
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_cell),
                cmocka_unit_test(test_layout),
                cmocka_unit_test(test_render),
                cmocka_unit_test(test_render_empty),
                cmocka_unit_test(test_render_every_size),
                cmocka_unit_test(test_render_huge_header),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
