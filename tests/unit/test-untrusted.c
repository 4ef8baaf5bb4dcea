/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Untrusted QEMU look-alikes: which processes the qmp backend may adopt
 * (hv_qemu_trusted, pure), and a QMP connect that a listener which never
 * accepts, or whose backlog is full, cannot hang. */
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
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "basic/macros.h"
#include "hv/hv.h"
#include "qmp/qmp.h"

static const uid_t libvirt_uids[] = { 999 };

static struct stat file_st(uid_t uid, mode_t mode, ino_t ino, nlink_t nlink) {
        return (struct stat) { .st_mode = S_IFREG | mode, .st_uid = uid, .st_dev = 8, .st_ino = ino, .st_nlink = nlink };
}

static struct stat dir_st(uid_t uid, mode_t mode) {
        return (struct stat) { .st_mode = S_IFDIR | mode, .st_uid = uid, .st_dev = 8, .st_ino = 2, .st_nlink = 2 };
}

static int judge(uid_t ruid, uid_t euid, const char *path, const struct stat *exe, const struct stat *at,
                 const struct stat *dir) {
        const char *why = NULL;
        int r = hv_qemu_trusted(ruid, euid, libvirt_uids, 1, path, exe, at, dir, &why);
        if (r < 0)
                assert_non_null(why);
        return r;
}

static void test_trusted(void **state) {
        (void) state;
        struct stat exe = file_st(0, 0755, 100, 1), dir = dir_st(0, 0755);
        /* Root's and libvirt-qemu's QEMU from /usr/bin. */
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-system-x86_64", &exe, &exe, &dir), 0);
        assert_int_equal(judge(999, 999, "/usr/bin/qemu-system-x86_64", &exe, &exe, &dir), 0);
        assert_int_equal(judge(0, 0, "/usr/libexec/qemu-kvm", &exe, &exe, &dir), 0);
        /* Upgraded under a running VM: the file has no name left. */
        struct stat gone = file_st(0, 0755, 100, 0);
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-system-x86_64", &gone, NULL, &dir), 0);
}

static void test_owner(void **state) {
        (void) state;
        struct stat exe = file_st(0, 0755, 100, 1), dir = dir_st(0, 0755);
        /* A user's process running the real binary. */
        assert_int_equal(judge(65534, 65534, "/usr/bin/qemu-system-x86_64", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(1000, 0, "/usr/bin/qemu-system-x86_64", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(0, 1000, "/usr/bin/qemu-system-x86_64", &exe, &exe, &dir), -EPERM);
        /* Without a libvirt user list, 999 is just a user. */
        assert_int_equal(hv_qemu_trusted(999, 999, NULL, 0, "/usr/bin/qemu-system-x86_64", &exe, &exe, &dir, NULL),
                         -EPERM);
}

static void test_name(void **state) {
        (void) state;
        struct stat exe = file_st(0, 0755, 100, 1), dir = dir_st(0, 0755);
        assert_int_equal(judge(0, 0, "/usr/bin/python3.11", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-system-", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-kvmx", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-system-x86_64 (deleted)", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(0, 0, "qemu-system-x86_64", &exe, &exe, &dir), -EPERM);
        assert_int_equal(judge(0, 0, NULL, &exe, &exe, &dir), -EPERM);
}

static void test_executable(void **state) {
        (void) state;
        struct stat dir = dir_st(0, 0755);
        const char *p = "/usr/bin/qemu-system-x86_64";
        struct stat user = file_st(1000, 0755, 100, 1);
        assert_int_equal(judge(0, 0, p, &user, &user, &dir), -EPERM);
        struct stat gw = file_st(0, 0775, 100, 1), ww = file_st(0, 0757, 100, 1);
        assert_int_equal(judge(0, 0, p, &gw, &gw, &dir), -EPERM);
        assert_int_equal(judge(0, 0, p, &ww, &ww, &dir), -EPERM);
        struct stat fifo = file_st(0, 0755, 100, 1);
        fifo.st_mode = S_IFIFO | 0755;
        assert_int_equal(judge(0, 0, p, &fifo, &fifo, &dir), -EPERM);
        assert_int_equal(judge(0, 0, p, NULL, NULL, &dir), -EPERM);
}

static void test_path_mismatch(void **state) {
        (void) state;
        struct stat dir = dir_st(0, 0755);
        const char *p = "/usr/bin/qemu-system-x86_64";
        struct stat exe = file_st(0, 0755, 100, 1), other = file_st(0, 0755, 101, 1);
        /* The path names another file than the one running. */
        assert_int_equal(judge(0, 0, p, &exe, &other, &dir), -EPERM);
        other = file_st(0, 0755, 100, 1);
        other.st_dev = 9;
        assert_int_equal(judge(0, 0, p, &exe, &other, &dir), -EPERM);
        /* The path cannot be looked at, yet the file still has a name. */
        assert_int_equal(judge(0, 0, p, &exe, NULL, &dir), -EPERM);
}

static void test_directory(void **state) {
        (void) state;
        struct stat exe = file_st(0, 0755, 100, 1);
        /* /tmp: root's, but world-writable (sticky or not). */
        struct stat tmp = dir_st(0, 01777);
        assert_int_equal(judge(0, 0, "/tmp/qemu-system-x86_64", &exe, &exe, &tmp), -EPERM);
        struct stat gw = dir_st(0, 0775);
        assert_int_equal(judge(0, 0, "/opt/q/qemu-system-x86_64", &exe, &exe, &gw), -EPERM);
        struct stat home = dir_st(1000, 0755);
        assert_int_equal(judge(0, 0, "/home/u/qemu-system-x86_64", &exe, &exe, &home), -EPERM);
        struct stat notdir = file_st(0, 0755, 3, 1);
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-system-x86_64", &exe, &exe, &notdir), -EPERM);
        assert_int_equal(judge(0, 0, "/usr/bin/qemu-system-x86_64", &exe, &exe, NULL), -EPERM);
        /* Deleted from a world-writable directory. */
        struct stat gone = file_st(0, 0755, 100, 0);
        assert_int_equal(judge(0, 0, "/tmp/qemu-system-x86_64", &gone, NULL, &tmp), -EPERM);
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A listener that never accepts, at a fresh path; with fill, its backlog
 * is full too (a blocking connect would wait for ever). */
typedef struct Listener {
        char path[108];
        int fd;
        int clients[8];
        size_t n_clients;
} Listener;

static void listener_open(Listener *l, bool fill) {
        snprintf(l->path, sizeof l->path, "/tmp/xv-test-untrusted-%d-%d.sock", (int) getpid(), fill);
        unlink(l->path);
        l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(l->fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", l->path);
        assert_int_equal(bind(l->fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(l->fd, 0), 0);
        l->n_clients = 0;
        if (!fill)
                return;
        for (;;) {
                assert_true(l->n_clients < ELEMENTSOF(l->clients));
                int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                assert_true(c >= 0);
                if (connect(c, (struct sockaddr *) &sa, sizeof sa) < 0) {
                        assert_int_equal(errno, EAGAIN); /* full now */
                        close(c);
                        return;
                }
                l->clients[l->n_clients++] = c;
        }
}

static void listener_close(Listener *l) {
        for (size_t i = 0; i < l->n_clients; i++)
                close(l->clients[i]);
        close(l->fd);
        unlink(l->path);
}

static void check_connect_bounded(bool fill) {
        Listener l;
        listener_open(&l, fill);
        alarm(20); /* a hang is a failure, not a stuck test run */
        long long t0 = now_ms();
        QmpClient *q = NULL;
        int r = qmp_connect(l.path, 300, &q);
        long long took = now_ms() - t0;
        alarm(0);
        assert_int_equal(r, -ETIMEDOUT);
        assert_null(q);
        assert_true(took >= 250);
        assert_true(took < 10000);
        listener_close(&l);
}

static void test_connect_never_accepts(void **state) {
        (void) state;
        check_connect_bounded(false);
}

static void test_connect_backlog_full(void **state) {
        (void) state;
        check_connect_bounded(true);
}

static void test_connect_nobody_there(void **state) {
        (void) state;
        QmpClient *q = NULL;
        assert_int_equal(qmp_connect("/nonexistent/xv-test.sock", 300, &q), -ENOENT);
        assert_null(q);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_trusted),
                cmocka_unit_test(test_owner),
                cmocka_unit_test(test_name),
                cmocka_unit_test(test_executable),
                cmocka_unit_test(test_path_mismatch),
                cmocka_unit_test(test_directory),
                cmocka_unit_test(test_connect_never_accepts),
                cmocka_unit_test(test_connect_backlog_full),
                cmocka_unit_test(test_connect_nobody_there),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
