/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QMP client against recorded QEMU 7.2 replies (fixtures/qmp/), served
 * by a fake monitor on a socketpair, plus hostile peers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "qmp/qmp.h"

/* A fake monitor: sends the greeting, then for each request line replies
 * with the fixture named after the command, the request's id patched in.
 * Modes let it misbehave. */
typedef enum { FAKE_GOOD, FAKE_EVENTS, FAKE_WRONG_ID, FAKE_GARBAGE, FAKE_SILENT, FAKE_HUGE, FAKE_NO_GREETING } FakeMode;

typedef struct Fake {
        int fd;
        FakeMode mode;
} Fake;

static char *fixture(const char *name) {
        char path[256];
        snprintf(path, sizeof path, "fixtures/qmp/%s.json", name);
        char *s = NULL;
        if (read_full_file(path, 1 << 20, &s, NULL) < 0)
                return NULL;
        s[strcspn(s, "\n")] = 0;
        return s;
}

static void send_line(int fd, const char *s) {
        (void) !send(fd, s, strlen(s), MSG_NOSIGNAL);
        (void) !send(fd, "\n", 1, MSG_NOSIGNAL);
}

static void *fake_main(void *p) {
        Fake *f = p;
        if (f->mode == FAKE_NO_GREETING) {
                send_line(f->fd, "{\"hello\": 1}");
                return NULL;
        }
        char *g = fixture("greeting");
        send_line(f->fd, g);
        free(g);
        char buf[4096];
        size_t len = 0;
        for (;;) {
                ssize_t k = read(f->fd, buf + len, sizeof buf - len - 1);
                if (k <= 0)
                        break;
                len += (size_t) k;
                buf[len] = 0;
                char *nl;
                while ((nl = strchr(buf, '\n'))) {
                        *nl = 0;
                        json_object *req = json_tokener_parse(buf), *cmd, *id;
                        json_object_object_get_ex(req, "execute", &cmd);
                        json_object_object_get_ex(req, "id", &id);
                        char *text = fixture(json_object_get_string(cmd));
                        if (!text)
                                text = fixture("bogus");
                        json_object *rep = json_tokener_parse(text);
                        free(text);
                        if (f->mode == FAKE_WRONG_ID)
                                json_object_object_add(rep, "id", json_object_new_string("nope"));
                        else
                                json_object_object_add(rep, "id", json_object_get(id));
                        if (f->mode == FAKE_EVENTS)
                                for (int i = 0; i < 5; i++)
                                        send_line(f->fd, "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}");
                        bool after_caps = strcmp(json_object_get_string(cmd), "qmp_capabilities") != 0;
                        if (f->mode == FAKE_GARBAGE && after_caps)
                                send_line(f->fd, "{\"return\": [1, 2");
                        else if (f->mode == FAKE_SILENT && after_caps)
                                ;
                        else if (f->mode == FAKE_HUGE && after_caps) {
                                size_t n = QMP_MAX_LINE + 10;
                                char *big = malloc(n);
                                memset(big, 'x', n);
                                (void) !send(f->fd, big, n, MSG_NOSIGNAL);
                                free(big);
                        } else
                                send_line(f->fd, json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN));
                        json_object_put(rep);
                        json_object_put(req);
                        size_t rest = len - (size_t) (nl + 1 - buf);
                        memmove(buf, nl + 1, rest + 1);
                        len = rest;
                }
        }
        return NULL;
}

static QmpClient *connect_fake(FakeMode mode, pthread_t *th, Fake *f, int *ret_r) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        f->fd = sv[1];
        f->mode = mode;
        pthread_create(th, NULL, fake_main, f);
        QmpClient *q = NULL;
        *ret_r = qmp_connect_fd(sv[0], 300, &q);
        return q;
}

static void finish(QmpClient *q, pthread_t th, Fake *f) {
        qmp_free(q);
        shutdown(f->fd, SHUT_RDWR);
        pthread_join(th, NULL);
        close(f->fd);
}

static void test_good(void **state) {
        (void) state;
        pthread_t th;
        Fake f;
        int r;
        QmpClient *q = connect_fake(FAKE_GOOD, &th, &f, &r);
        assert_int_equal(r, 0);
        assert_string_equal(qmp_version(q), "7.2.22");

        QmpCpu *cpus;
        size_t n;
        assert_int_equal(qmp_query_cpus_fast(q, &cpus, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(cpus[0].index, 0);
        assert_int_equal(cpus[0].thread_id, 5052);
        assert_int_equal(cpus[1].thread_id, 5053);
        free(cpus);

        pid_t *io;
        assert_int_equal(qmp_query_iothreads(q, &io, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(io[0], 5049);
        free(io);

        char *name;
        assert_int_equal(qmp_query_name(q, &name), 0);
        assert_string_equal(name, "capt");
        free(name);

        bool running;
        char *status;
        assert_int_equal(qmp_query_status(q, &running, &status), 0);
        assert_false(running);
        assert_string_equal(status, "prelaunch");
        free(status);

        /* An error reply keeps the client usable. */
        assert_int_equal(qmp_execute(q, "bogus", NULL, NULL), -EREMOTEIO);
        assert_non_null(strstr(qmp_last_error(q), "CommandNotFound"));
        assert_int_equal(qmp_query_name(q, &name), 0);
        free(name);
        finish(q, th, &f);
}

static void test_events_skipped(void **state) {
        (void) state;
        pthread_t th;
        Fake f;
        int r;
        QmpClient *q = connect_fake(FAKE_EVENTS, &th, &f, &r);
        assert_int_equal(r, 0);
        char *name;
        assert_int_equal(qmp_query_name(q, &name), 0);
        assert_string_equal(name, "capt");
        free(name);
        finish(q, th, &f);
}

static void test_hostile(void **state) {
        (void) state;
        static const struct { FakeMode mode; int at_connect, at_query; } cases[] = {
                { FAKE_WRONG_ID, -EPROTO, 0 },
                { FAKE_NO_GREETING, -EPROTO, 0 },
                { FAKE_GARBAGE, 0, -EPROTO },
                { FAKE_SILENT, 0, -ETIMEDOUT },
                { FAKE_HUGE, 0, -EMSGSIZE },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                pthread_t th;
                Fake f;
                int r;
                QmpClient *q = connect_fake(cases[i].mode, &th, &f, &r);
                assert_int_equal(r, cases[i].at_connect);
                if (r == 0) {
                        char *name = NULL;
                        assert_int_equal(qmp_query_name(q, &name), cases[i].at_query);
                        assert_null(name);
                }
                finish(q, th, &f);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_events_skipped),
                cmocka_unit_test(test_hostile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
