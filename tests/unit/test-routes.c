/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agentless routes' per-kernel verdicts (src/vmi/routes.c): the
 * routes.json parser and writer (round trip, malformed, oversized, hostile
 * strings), the lookup, the file checks of the loader; and the guest kernel
 * release from init_uts_ns (src/vmi/uts.c, its pure part). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "vmi/routes.h"
#include "vmi/vmi.h"

#define K "vmi-sigstop+gdbstub-kcall"

static int parse(const char *t, RouteStore *s, const char **why) {
        *why = NULL;
        return route_store_parse(t, t ? strlen(t) : 0, s, why);
}

static void test_valid_names(void **state _unused_) {
        assert_true(route_kernel_valid("6.1.0-57-amd64"));
        assert_true(route_kernel_valid("6.12.117+deb13-amd64"));
        assert_true(route_kernel_valid("5.15.0~rc1_x"));
        assert_false(route_kernel_valid(""));
        assert_false(route_kernel_valid(NULL));
        assert_false(route_kernel_valid("6.1 amd64"));
        assert_false(route_kernel_valid("6.1/../x"));
        assert_false(route_kernel_valid("6.1\n"));
        char big[80];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        assert_false(route_kernel_valid(big));
        big[64] = 0;
        assert_true(route_kernel_valid(big));
        assert_true(route_name_known(K));
        assert_false(route_name_known("vmi-sigstop"));
        assert_true(route_text_valid("", 10));
        assert_true(route_text_valid("renice_fail=1 (2 s)", 256));
        assert_false(route_text_valid("a\x1b[31mred", 256));
        assert_false(route_text_valid("caf\xc3\xa9", 256));
        assert_false(route_text_valid("01234567890", 10));
}

static void test_round_trip(void **state _unused_) {
        RouteStore s = {};
        RouteEntry e = { .verdict = ROUTE_VERDICT_DISABLED, .when = 1796050000 };
        strcpy(e.kernel, "6.12.117+deb13-amd64");
        strcpy(e.route, K);
        strcpy(e.reason, "renice_fail=1 \"quoted\" \\ back");
        strcpy(e.source, "soak-kcall");
        assert_int_equal(route_store_set(&s, &e), 0);
        strcpy(e.kernel, "6.1.0-57-amd64");
        e.verdict = ROUTE_VERDICT_OK;
        strcpy(e.reason, "cycles=1000");
        assert_int_equal(route_store_set(&s, &e), 0);
        assert_int_equal(s.n, 2);
        /* same route and kernel: replaced, not added */
        strcpy(e.reason, "cycles=2000");
        assert_int_equal(route_store_set(&s, &e), 0);
        assert_int_equal(s.n, 2);

        char *text = route_store_format(&s);
        assert_non_null(text);
        RouteStore t;
        const char *why;
        assert_int_equal(parse(text, &t, &why), 0);
        assert_int_equal(t.n, 2);
        const RouteEntry *a = route_store_find(&t, K, "6.12.117+deb13-amd64");
        assert_non_null(a);
        assert_int_equal(a->verdict, ROUTE_VERDICT_DISABLED);
        assert_string_equal(a->reason, "renice_fail=1 \"quoted\" \\ back");
        assert_string_equal(a->source, "soak-kcall");
        assert_int_equal(a->when, 1796050000);
        const RouteEntry *b = route_store_find(&t, K, "6.1.0-57-amd64");
        assert_non_null(b);
        assert_int_equal(b->verdict, ROUTE_VERDICT_OK);
        assert_string_equal(b->reason, "cycles=2000");
        assert_null(route_store_find(&t, K, "6.1.0-58-amd64"));
        assert_null(route_store_find(&t, "other", "6.1.0-57-amd64"));
        free(text);
        route_store_done(&t);
        route_store_done(&s);
}

static void test_set_refuses_bad(void **state _unused_) {
        RouteStore s = {};
        RouteEntry e = { .verdict = ROUTE_VERDICT_DISABLED };
        strcpy(e.kernel, "6.1 x");
        strcpy(e.route, K);
        assert_int_equal(route_store_set(&s, &e), -EINVAL);
        strcpy(e.kernel, "6.1");
        strcpy(e.route, "nope");
        assert_int_equal(route_store_set(&s, &e), -EINVAL);
        strcpy(e.route, K);
        strcpy(e.reason, "tab\there");
        assert_int_equal(route_store_set(&s, &e), -EINVAL);
        e.reason[0] = 0;
        e.verdict = (RouteVerdict) 7;
        assert_int_equal(route_store_set(&s, &e), -EINVAL);
        assert_int_equal(s.n, 0);
        /* ROUTE_MAX entries at most */
        e.verdict = ROUTE_VERDICT_OK;
        for (int i = 0; i < ROUTE_MAX; i++) {
                snprintf(e.kernel, sizeof e.kernel, "k%d", i);
                assert_int_equal(route_store_set(&s, &e), 0);
        }
        strcpy(e.kernel, "one-more");
        assert_int_equal(route_store_set(&s, &e), -E2BIG);
        assert_int_equal(s.n, ROUTE_MAX);
        route_store_done(&s);
}

static void test_malformed(void **state _unused_) {
        static const char *bad[] = {
                "{",
                "[]",
                "null",
                "{\"version\":2,\"routes\":[]}",
                "{\"version\":\"1\",\"routes\":[]}",
                "{\"version\":1}",
                "{\"version\":1,\"routes\":{}}",
                "{\"version\":1,\"routes\":[1]}",
                "{\"version\":1,\"routes\":[{}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K "\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K "\",\"verdict\":\"maybe\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"x\",\"verdict\":\"ok\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1 \",\"route\":\"" K "\",\"verdict\":\"ok\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":7,\"route\":\"" K "\",\"verdict\":\"ok\"}]}",
                /* hostile strings: an escape sequence, a NUL, a newline, a non-ASCII byte */
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K
                "\",\"verdict\":\"disabled\",\"reason\":\"\\u001b[2J\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\\u0000x\",\"route\":\"" K "\",\"verdict\":\"ok\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K
                "\",\"verdict\":\"ok\",\"source\":\"a\\nb\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K
                "\",\"verdict\":\"ok\",\"reason\":\"\\u00e9\"}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K "\",\"verdict\":\"ok\",\"when\":-5}]}",
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K "\",\"verdict\":\"ok\",\"when\":\"x\"}]}",
                /* the same route and kernel twice */
                "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K "\",\"verdict\":\"ok\"},"
                "{\"kernel\":\"6.1\",\"route\":\"" K "\",\"verdict\":\"disabled\"}]}",
                "{\"version\":1,\"routes\":[]} trailing",
                /* deeper than the tokener allows */
                "{\"version\":1,\"routes\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RouteStore s = { .n = 99 };
                const char *why;
                int r = parse(bad[i], &s, &why);
                if (r != -EBADMSG)
                        fail_msg("accepted #%zu: %s", i, bad[i]);
                assert_non_null(why);
                assert_int_equal(s.n, 99);   /* untouched */
        }
        /* an embedded NUL in the text itself */
        RouteStore s;
        const char *why;
        assert_int_equal(route_store_parse("{\"version\":1,\0\"routes\":[]}", 26, &s, &why), -EBADMSG);
        /* empty is no entries; unknown keys are ignored */
        assert_int_equal(parse("", &s, &why), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(parse("{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K
                               "\",\"verdict\":\"ok\",\"extra\":[1,2]}],\"x\":1}\n",
                               &s, &why),
                         0);
        assert_int_equal(s.n, 1);
        route_store_done(&s);
}

static void test_oversized(void **state _unused_) {
        /* a reason one byte too long */
        char reason[ROUTE_REASON_MAX + 2];
        memset(reason, 'r', sizeof reason - 1);
        reason[sizeof reason - 1] = 0;
        char *t = NULL;
        assert_true(asprintf(&t, "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K
                                 "\",\"verdict\":\"disabled\",\"reason\":\"%s\"}]}",
                             reason) > 0);
        RouteStore s;
        const char *why;
        assert_int_equal(parse(t, &s, &why), -EBADMSG);
        free(t);
        reason[ROUTE_REASON_MAX] = 0;   /* exactly the maximum */
        assert_true(asprintf(&t, "{\"version\":1,\"routes\":[{\"kernel\":\"6.1\",\"route\":\"" K
                                 "\",\"verdict\":\"disabled\",\"reason\":\"%s\"}]}",
                             reason) > 0);
        assert_int_equal(parse(t, &s, &why), 0);
        assert_int_equal(strlen(s.e[0].reason), ROUTE_REASON_MAX);
        route_store_done(&s);
        free(t);
        /* more than ROUTE_MAX entries */
        size_t cap = (ROUTE_MAX + 2) * 100 + 64, len = 0;
        char *big = malloc(cap);
        assert_non_null(big);
        len += (size_t) snprintf(big + len, cap - len, "{\"version\":1,\"routes\":[");
        for (int i = 0; i <= ROUTE_MAX; i++)
                len += (size_t) snprintf(big + len, cap - len, "%s{\"kernel\":\"k%d\",\"route\":\"" K "\",\"verdict\":\"ok\"}",
                                         i ? "," : "", i);
        len += (size_t) snprintf(big + len, cap - len, "]}");
        assert_true(len < cap);
        assert_int_equal(parse(big, &s, &why), -EBADMSG);
        free(big);
        /* more than ROUTE_FILE_MAX bytes: refused before parsing */
        char *huge = malloc(ROUTE_FILE_MAX + 2);
        assert_non_null(huge);
        memset(huge, ' ', ROUTE_FILE_MAX + 1);
        huge[ROUTE_FILE_MAX + 1] = 0;
        assert_int_equal(route_store_parse(huge, ROUTE_FILE_MAX + 1, &s, &why), -EBADMSG);
        free(huge);
}

static void write_at(const char *dir, const char *text, mode_t mode) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, ROUTE_FILE);
        unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void test_load_and_lookup(void **state _unused_) {
        char dir[] = "/tmp/test-routes.XXXXXX";
        assert_non_null(mkdtemp(dir));
        RouteStore s;
        RouteEntry e;
        char err[512];
        /* no file: empty, no error */
        assert_int_equal(route_store_load(dir, &s, err, sizeof err), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(route_verdict_lookup(dir, K, "6.1", &e, err, sizeof err), 0);
        assert_string_equal(err, "");

        /* written by the writer, found by the lookup */
        RouteEntry w = { .verdict = ROUTE_VERDICT_DISABLED, .when = 5 };
        strcpy(w.kernel, "6.1.0-57-amd64");
        strcpy(w.route, K);
        strcpy(w.reason, "stop_resume_fail=2");
        strcpy(w.source, "manual");
        assert_int_equal(route_store_set(&s, &w), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        assert_true(dfd >= 0);
        assert_int_equal(route_store_save_at(dfd, &s), 0);
        route_store_done(&s);
        assert_int_equal(route_verdict_lookup(dir, K, "6.1.0-57-amd64", &e, err, sizeof err), 1);
        assert_int_equal(e.verdict, ROUTE_VERDICT_DISABLED);
        assert_string_equal(e.reason, "stop_resume_fail=2");
        assert_int_equal(route_verdict_lookup(dir, K, "6.1.0-58-amd64", &e, err, sizeof err), 0);

        /* the state directory through a symlink: not followed */
        char link[600];
        snprintf(link, sizeof link, "%s.link", dir);
        assert_int_equal(symlink(dir, link), 0);
        assert_true(route_store_load(link, &s, err, sizeof err) < 0);
        assert_non_null(strstr(err, "not a directory"));
        assert_int_equal(s.n, 0);
        assert_int_equal(unlink(link), 0);

        /* $XVSCHED_STATE_DIR when no directory is given */
        setenv("XVSCHED_STATE_DIR", dir, 1);
        assert_int_equal(route_verdict_lookup(NULL, K, "6.1.0-57-amd64", &e, err, sizeof err), 1);
        unsetenv("XVSCHED_STATE_DIR");

        /* malformed: one line of error, treated as empty (not soaked) */
        write_at(dir, "{\"version\":1,\"routes\":[{\"kernel\":\"6.1.0-57-amd64\"", 0644);
        assert_int_equal(route_store_load(dir, &s, err, sizeof err), -EBADMSG);
        assert_int_equal(s.n, 0);
        assert_non_null(strstr(err, "malformed"));
        assert_null(strchr(err, '\n'));
        assert_int_equal(route_verdict_lookup(dir, K, "6.1.0-57-amd64", &e, err, sizeof err), 0);
        assert_non_null(strstr(err, "malformed"));

        /* writable by others: not trusted */
        write_at(dir, "{\"version\":1,\"routes\":[]}", 0666);
        assert_int_equal(route_store_load(dir, &s, err, sizeof err), -EPERM);

        /* a symlink: not followed */
        char path[512], target[512];
        snprintf(path, sizeof path, "%s/%s", dir, ROUTE_FILE);
        snprintf(target, sizeof target, "%s/other.json", dir);
        unlink(path);
        write_at(dir, "{\"version\":1,\"routes\":[]}", 0644);
        assert_int_equal(rename(path, target), 0);
        assert_int_equal(symlink(target, path), 0);
        assert_true(route_store_load(dir, &s, err, sizeof err) < 0);
        assert_non_null(strstr(err, "symlink"));
        unlink(path);

        /* a FIFO: refused without blocking */
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(route_store_load(dir, &s, err, sizeof err), -EPERM);
        unlink(path);

        /* bigger than ROUTE_FILE_MAX */
        char *huge = malloc(ROUTE_FILE_MAX + 2);
        assert_non_null(huge);
        memset(huge, ' ', ROUTE_FILE_MAX + 1);
        huge[ROUTE_FILE_MAX + 1] = 0;
        write_at(dir, huge, 0644);
        free(huge);
        assert_int_equal(route_store_load(dir, &s, err, sizeof err), -EFBIG);
        unlink(path);
        unlink(target);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);
}

/* init_uts_ns as the kernel lays it out: name at name_off, new_utsname's
 * six char[65]. */
static void fake_uts(uint8_t *buf, size_t len, int name_off, const char *sys, const char *release) {
        memset(buf, 0, len);
        memcpy(buf + name_off, sys, strlen(sys) + 1);
        memcpy(buf + name_off + 65, "host", 5);
        memcpy(buf + name_off + 130, release, strnlen(release, 65));
}

static void test_uts_release(void **state _unused_) {
        uint8_t buf[16 + 390];
        char out[VMI_RELEASE_SIZE];
        fake_uts(buf, sizeof buf, 0, "Linux", "6.1.0-57-amd64");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), 0);
        assert_string_equal(out, "6.1.0-57-amd64");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, -1, out), 0);   /* guessed */
        assert_string_equal(out, "6.1.0-57-amd64");
        /* the old layout (before 5.11: a struct kref first, 4 bytes: one
         * refcount_t/atomic_t; new_utsname's chars need no alignment) */
        fake_uts(buf, sizeof buf, 4, "Linux", "4.19.0-27-amd64");
        buf[0] = 2;   /* the kref's count */
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, -1, out), 0);
        assert_string_equal(out, "4.19.0-27-amd64");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), -ENOENT);   /* BTF says 0: no "Linux" there */
        /* not Linux */
        fake_uts(buf, sizeof buf, 0, "Linuxx", "6.1");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, -1, out), -ENOENT);
        /* hostile releases: no NUL within 65 bytes, empty, control or non-ASCII bytes, a space */
        fake_uts(buf, sizeof buf, 0, "Linux", "");
        memset(buf + 130, 'A', 65);
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), -EBADMSG);
        fake_uts(buf, sizeof buf, 0, "Linux", "");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), -EBADMSG);
        fake_uts(buf, sizeof buf, 0, "Linux", "6.1\x1b[2J");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), -EBADMSG);
        fake_uts(buf, sizeof buf, 0, "Linux", "6.1\xff");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), -EBADMSG);
        fake_uts(buf, sizeof buf, 0, "Linux", "6.1 x");
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), -EBADMSG);
        /* exactly 64 characters and its NUL: accepted */
        char r64[65];
        memset(r64, '1', 64);
        r64[64] = 0;
        fake_uts(buf, sizeof buf, 0, "Linux", r64);
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 0, out), 0);
        assert_int_equal(strlen(out), 64);
        /* a buffer too short for the struct, a name offset past it */
        assert_int_equal(vmi_uts_release_parse(buf, 200, 0, out), -ENOENT);
        assert_int_equal(vmi_uts_release_parse(buf, sizeof buf, 4096, out), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_names),  cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_set_refuses_bad), cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_oversized),    cmocka_unit_test(test_load_and_lookup),
                cmocka_unit_test(test_uts_release),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
