/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's sd_notify(3) messages (src/daemon/notify.c), received on a
 * real datagram socket named by $NOTIFY_SOCKET as systemd would make it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/notify.h"

typedef struct {
        int fd;
        char path[108];
} Listener;

static int setup(void **st) {
        static Listener l;
        snprintf(l.path, sizeof l.path, "/tmp/xvsched-test-notify-%d.sock", (int) getpid());
        unlink(l.path);
        l.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(l.fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, l.path);
        assert_int_equal(bind(l.fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(setenv("NOTIFY_SOCKET", l.path, 1), 0);
        *st = &l;
        return 0;
}

static int teardown(void **st) {
        Listener *l = *st;
        close(l->fd);
        unlink(l->path);
        unsetenv("NOTIFY_SOCKET");
        return 0;
}

/* One datagram, within a second, as a string. */
static void receive(Listener *l, char *buf, size_t size) {
        struct pollfd p = { .fd = l->fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 1000), 1);
        ssize_t n = recv(l->fd, buf, size - 1, 0);
        assert_true(n > 0);
        buf[n] = 0;
}

static void assert_nothing_pending(Listener *l) {
        struct pollfd p = { .fd = l->fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 0), 0);
}

static void test_ready(void **st) {
        Listener *l = *st;
        char buf[512];
        assert_true(daemon_notify_ready(NULL) > 0);
        receive(l, buf, sizeof buf);
        assert_string_equal(buf, "READY=1");
        assert_true(daemon_notify_ready("2 domains, 3 tasks, every 100 ms") > 0);
        receive(l, buf, sizeof buf);
        assert_string_equal(buf, "READY=1\nSTATUS=2 domains, 3 tasks, every 100 ms");
        assert_nothing_pending(l);
}

static void test_reloading_stopping(void **st) {
        Listener *l = *st;
        char buf[512];
        assert_true(daemon_notify_reloading() > 0);
        receive(l, buf, sizeof buf);
        assert_true(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
        char *end;
        unsigned long long usec = strtoull(buf + 27, &end, 10);
        assert_true(usec > 0);
        assert_int_equal(*end, 0);
        assert_true(daemon_notify_stopping() > 0);
        receive(l, buf, sizeof buf);
        assert_string_equal(buf, "STOPPING=1");
        /* the variable stays for the next message (a reload, then READY=1) */
        assert_non_null(getenv("NOTIFY_SOCKET"));
}

/* Not started by systemd: nothing to tell, no error. */
static void test_no_manager(void **st) {
        Listener *l = *st;
        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(daemon_notify_ready(NULL), 0);
        assert_int_equal(daemon_notify_stopping(), 0);
        assert_nothing_pending(l);
        setenv("NOTIFY_SOCKET", l->path, 1);
}

/* A manager that went away: an error to the caller, the daemon goes on. */
static void test_gone(void **st) {
        Listener *l = *st;
        setenv("NOTIFY_SOCKET", "/tmp/xvsched-test-notify-nobody-listens.sock", 1);
        assert_true(daemon_notify_ready(NULL) < 0);
        setenv("NOTIFY_SOCKET", l->path, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready),
                cmocka_unit_test(test_reloading_stopping),
                cmocka_unit_test(test_no_manager),
                cmocka_unit_test(test_gone),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
