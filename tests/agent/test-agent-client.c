/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's agent client against a fake, hostile agent on a socketpair (or
 * a UNIX socket for reconnects): garbage, wrong ids, floods, silence,
 * hang-ups, remote errors, wrong types, delta merging. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/log.h"
#include "view/agent-client.h"

typedef enum Mode {
        MODE_GOOD,
        MODE_GARBAGE,
        MODE_WRONG_ID,
        MODE_FLOOD_LINE,
        MODE_SILENT,
        MODE_CLOSE,
        MODE_STALE_BEFORE_SYNC,
        MODE_REMOTE_ERROR,
        MODE_BAD_TYPES,
        MODE_DELTA,
        MODE_MISCOUNT,
        MODE_NO_SYNC_REPLY,
        MODE_BAD_PROTOCOL,
        MODE_LOSE_FIRST_SYNC,
        MODE_LATE_FIRST_SYNC,
        MODE_OBJECTS,           /* 2 MiB of {},{},... as tasks */
        MODE_VALUES,            /* 4 MiB of 0,0,... as tasks */
        MODE_FOREIGN_BIG,       /* 3 lines of 30,000 bytes with other ids, then the reply */
} Mode;

typedef struct Fake {
        int fd;
        Mode mode;
        int tasks_calls;
        int sync_calls;
        int64_t first_sync_id;
        char last_request[4096];
        pthread_t thread;
} Fake;

static void say(Fake *f, const char *fmt, ...) {
        char *s;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        size_t off = 0;
        while (off < (size_t) n) {
                ssize_t k = send(f->fd, s + off, (size_t) n - off, MSG_NOSIGNAL);
                if (k <= 0)
                        break;
                off += (size_t) k;
        }
        free(s);
}

#define TASK(pid, tid, comm, state, cpu_ns) \
        "{\"pid\":" #pid ",\"tid\":" #tid ",\"comm\":\"" comm "\",\"cmdline\":\"" comm " -x\",\"state\":\"" state "\"," \
        "\"cpu\":1,\"cpu_ns\":" #cpu_ns ",\"nice\":0,\"policy\":\"other\",\"rt_priority\":0,\"start_ns\":1000}"
#define AGENT_OBJ "\"agent\":{\"pid\":9,\"threads\":1,\"cpu_ns\":12345}"

static void say_repeated(Fake *f, const char *head, const char *unit, size_t bytes, const char *tail) {
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), n = bytes / ul;
        char *b = malloc(hl + n * ul + tl + 1);
        assert_non_null(b);
        memcpy(b, head, hl);
        for (size_t i = 0; i < n; i++)
                memcpy(b + hl + i * ul, unit, ul);
        memcpy(b + hl + n * ul, tail, tl + 1);
        say(f, "%s", b);
        free(b);
}

static void reply_tasks(Fake *f, int64_t id, bool since) {
        f->tasks_calls++;
        char head[256];
        switch (f->mode) {
        case MODE_OBJECTS:
        case MODE_VALUES:
                snprintf(head, sizeof head, "{\"id\":%lld,\"return\":{\"token\":\"t\",\"full\":true,\"n_threads\":1," AGENT_OBJ
                         ",\"tasks\":[", (long long) id);
                if (f->mode == MODE_OBJECTS)
                        say_repeated(f, head, "{},", 2u << 20, "{}]}}\n");
                else
                        say_repeated(f, head, "0,", 4u << 20, "0]}}\n");
                return;
        case MODE_FOREIGN_BIG:
                for (int i = 0; i < 3; i++) {
                        snprintf(head, sizeof head, "{\"id\":%lld,\"return\":\"", (long long) id + 1000 + i);
                        say_repeated(f, head, "x", 30000, "\"}\n");
                }
                say(f, "{\"return\":{\"token\":\"t1\",\"full\":true,\"tasks\":[" TASK(5, 5, "sh", "R", 10) "],\"n_threads\":1," AGENT_OBJ
                       "},\"id\":%lld}\n", (long long) id);
                return;
        case MODE_GARBAGE:
                say(f, "this is not json\n");
                return;
        case MODE_BAD_TYPES:
                say(f, "{\"return\":{\"token\":\"t\",\"full\":true,\"tasks\":[{\"pid\":\"5\",\"tid\":5}],\"n_threads\":1," AGENT_OBJ "},\"id\":%lld}\n",
                    (long long) id);
                return;
        case MODE_DELTA:
        case MODE_MISCOUNT:
                if (since && f->tasks_calls == 2) {
                        say(f, "{\"return\":{\"token\":\"t2\",\"full\":false,\"tasks\":[" TASK(5, 6, "b", "T", 99) "],"
                               "\"gone\":[7],\"n_threads\":%d," AGENT_OBJ "},\"id\":%lld}\n",
                            f->mode == MODE_DELTA ? 2 : 5, (long long) id);
                        return;
                }
                if (f->tasks_calls >= 2) {
                        say(f, "{\"return\":{\"token\":\"t3\",\"full\":true,\"tasks\":[" TASK(5, 5, "a", "S", 1) "," TASK(5, 6, "b", "T", 99)
                               "],\"n_threads\":2," AGENT_OBJ "},\"id\":%lld}\n", (long long) id);
                        return;
                }
                say(f, "{\"return\":{\"token\":\"t1\",\"full\":true,\"tasks\":[" TASK(5, 7, "c", "R", 3) "," TASK(5, 5, "a", "S", 1) ","
                       TASK(5, 6, "b", "R", 2) "],\"n_threads\":3," AGENT_OBJ "},\"id\":%lld}\n", (long long) id);
                return;
        default:
                say(f, "{\"return\":{\"token\":\"t1\",\"full\":true,\"hz\":100,\"tasks\":[" TASK(5, 5, "sh", "R", 10) "," TASK(8, 8, "sleep", "S", 0)
                       "],\"n_threads\":2," AGENT_OBJ ",\"future\":{\"x\":1}},\"id\":%lld}\n", (long long) id);
        }
}

static void *fake_main(void *arg) {
        Fake *f = arg;
        char buf[65536];
        size_t len = 0;
        for (;;) {
                ssize_t k = read(f->fd, buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                        break;
                len += (size_t) k;
                char *nl;
                while ((nl = memchr(buf, '\n', len))) {
                        *nl = 0;
                        char *line = buf;
                        while ((unsigned char) *line == 0xFF)
                                line++;
                        size_t ll = strlen(line) < sizeof f->last_request ? strlen(line) : sizeof f->last_request - 1;
                        memcpy(f->last_request, line, ll);
                        f->last_request[ll] = 0;
                        json_object *o = json_tokener_parse(line);
                        assert_non_null(o);
                        json_object *jexec, *jid, *jargs = NULL, *j;
                        assert_true(json_object_object_get_ex(o, "execute", &jexec));
                        assert_true(json_object_object_get_ex(o, "id", &jid));
                        json_object_object_get_ex(o, "arguments", &jargs);
                        const char *exec = json_object_get_string(jexec);
                        int64_t id = json_object_get_int64(jid);
                        bool since = jargs && json_object_object_get_ex(jargs, "since", &j);

                        if (strcmp(exec, "sync") == 0 && ++f->sync_calls == 1 &&
                            (f->mode == MODE_LOSE_FIRST_SYNC || f->mode == MODE_LATE_FIRST_SYNC)) {
                                f->first_sync_id = id;   /* lost, or answered after the next one arrives */
                        } else if (strcmp(exec, "sync") == 0) {
                                if (f->mode == MODE_LATE_FIRST_SYNC && f->sync_calls == 2)
                                        say(f, "\xff{\"return\":%lld,\"id\":%lld}\n", (long long) f->first_sync_id,
                                            (long long) f->first_sync_id);
                                if (f->mode == MODE_STALE_BEFORE_SYNC)
                                        say(f, "{\"return\":{},\"id\":1}\n{\"return\":77,\"id\":77}\n\xff{\"return\":5,\"id\":5}\nhalf a li");
                                if (f->mode != MODE_NO_SYNC_REPLY)
                                        say(f, "\xff{\"return\":%lld,\"id\":%lld}\n", (long long) id, (long long) id);
                        } else if (f->mode == MODE_WRONG_ID) {
                                for (int i = 0; i < 100; i++)
                                        say(f, "{\"return\":{},\"id\":%lld}\n", (long long) id + 1000 + i);
                        } else if (f->mode == MODE_FLOOD_LINE) {
                                static char junk[1 << 20];
                                memset(junk, 'x', sizeof junk - 1);
                                say(f, "%s", junk);
                        } else if (f->mode == MODE_SILENT) {
                                /* nothing */
                        } else if (f->mode == MODE_CLOSE) {
                                shutdown(f->fd, SHUT_RDWR);
                        } else if (strcmp(exec, "tasks") == 0) {
                                reply_tasks(f, id, since);
                        } else if (strcmp(exec, "hello") == 0) {
                                say(f, "{\"return\":{\"protocol\":%d,\"agent\":\"xvagent\",\"version\":\"0.1.0\",\"kernel\":\"6.1.0\",\"cpus\":2,"
                                       "\"pid\":9,\"hz\":100,\"boot_id\":\"%s\",\"lease_ms\":5000},\"id\":%lld}\n",
                                    f->mode == MODE_BAD_PROTOCOL ? 99 : 1,
                                    "0123456789012345678901234567890123456789-too-long-is-truncated", (long long) id);
                        } else if (strcmp(exec, "stop") == 0 && f->mode == MODE_REMOTE_ERROR) {
                                say(f, "{\"error\":{\"class\":\"NotFound\",\"desc\":\"no such process \\u0001\"},\"id\":%lld}\n", (long long) id);
                        } else if (strcmp(exec, "stop") == 0 || strcmp(exec, "cont") == 0) {
                                say(f, "{\"return\":{\"pid\":%d},\"id\":%lld}\n",
                                    json_object_get_int(json_object_object_get(jargs, "pid")), (long long) id);
                        } else if (strcmp(exec, "nice") == 0 || strcmp(exec, "sched") == 0) {
                                say(f, "{\"return\":{\"pid\":5,\"threads\":2},\"id\":%lld}\n", (long long) id);
                        } else if (strcmp(exec, "stats") == 0) {
                                say(f, "{\"return\":{\"pid\":9,\"cpu_ns\":777,\"requests\":3},\"id\":%lld}\n", (long long) id);
                        } else if (strcmp(exec, "lease") == 0) {
                                say(f, "{\"return\":{\"seconds\":2,\"held\":0},\"id\":%lld}\n", (long long) id);
                        } else if (strcmp(exec, "release") == 0) {
                                say(f, "{\"return\":{\"restored\":4},\"id\":%lld}\n", (long long) id);
                        } else
                                say(f, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"?\"},\"id\":%lld}\n", (long long) id);
                        json_object_put(o);
                        len -= (size_t) (nl + 1 - buf);
                        memmove(buf, nl + 1, len);
                }
        }
        close(f->fd);
        return NULL;
}

static AgentClient *start(Fake *f, Mode mode, usec_t timeout) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        *f = (Fake) { .fd = sv[1], .mode = mode };
        assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
        AgentClient *c;
        assert_int_equal(agent_client_connect_fd(sv[0], timeout, &c), 0);
        AgentLimits l = { .max_line = 65536, .max_foreign_lines = 16 };
        agent_client_set_limits(c, &l);
        return c;
}

static void finish(Fake *f, AgentClient *c) {
        agent_client_free(c);
        pthread_join(f->thread, NULL);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void test_good(void **state) {
        (void) state;
        Fake f;
        AgentClient *c = start(&f, MODE_GOOD, 0);
        AgentHello h;
        assert_int_equal(agent_client_hello(c, &h), 0);
        assert_int_equal(h.protocol, 1);
        assert_int_equal(h.pid, 9);
        assert_string_equal(h.kernel, "6.1.0");
        assert_int_equal(strlen(h.boot_id), sizeof h.boot_id - 1);

        GuestTask *t;
        size_t n;
        assert_int_equal(agent_client_tasks(c, &t, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(t[0].tid, 5);
        assert_string_equal(t[0].comm, "sh");
        assert_string_equal(t[0].cmdline, "sh -x");
        assert_int_equal(t[0].state, 'R');
        assert_int_equal(t[0].cpu_ns, 10);
        assert_int_equal(t[0].policy, 0);
        assert_false(t[0].is_agent);
        assert_int_equal(t[1].pid, 8);
        assert_true(t[2].is_agent);
        assert_int_equal(t[2].pid, 9);
        assert_int_equal(t[2].cpu_ns, 12345);
        free(t);

        assert_int_equal(agent_client_stop(c, 5), 0);
        assert_non_null(strstr(f.last_request, "\"pid\":5"));
        assert_int_equal(agent_client_cont(c, 5), 0);
        assert_int_equal(agent_client_nice(c, 5, -3), 2);
        assert_non_null(strstr(f.last_request, "\"nice\":-3"));
        assert_int_equal(agent_client_nice_thread(c, 6, 4), 2);
        assert_non_null(strstr(f.last_request, "\"tid\":6"));
        assert_int_equal(agent_client_sched(c, 5, SCHED_FIFO, 10), 2);
        assert_non_null(strstr(f.last_request, "\"policy\":\"fifo\""));
        assert_int_equal(agent_client_sched(c, 5, SCHED_FIFO, 0), -EINVAL);
        assert_int_equal(agent_client_sched(c, 5, SCHED_OTHER, 3), -EINVAL);
        assert_int_equal(agent_client_nice(c, 5, 20), -EINVAL);
        assert_int_equal(agent_client_stop(c, 0), -EINVAL);
        assert_int_equal(agent_client_lease(c, 2), 0);
        assert_int_equal(agent_client_lease(c, 0.01), -EINVAL);
        assert_int_equal(agent_client_release(c), 4);
        AgentStats s;
        assert_int_equal(agent_client_stats(c, &s), 0);
        assert_int_equal(s.cpu_ns, 777);
        assert_true(agent_client_is_connected(c));
        finish(&f, c);
}

static void expect_drop(Mode mode, int expected, usec_t timeout) {
        Fake f;
        AgentClient *c = start(&f, mode, timeout);
        GuestTask *t = (GuestTask *) 0x1;
        size_t n = 77;
        uint64_t t0 = now_ms();
        int r = agent_client_tasks(c, &t, &n);
        if (r != expected)
                fail_msg("mode %d: expected %d, got %d (%s)", mode, expected, r, agent_client_last_error(c));
        assert_true(now_ms() - t0 < timeout / 1000 + 2000);
        /* Outputs untouched on failure. */
        assert_ptr_equal(t, (GuestTask *) 0x1);
        assert_int_equal(n, 77);
        assert_true(strlen(agent_client_last_error(c)) > 0);
        assert_false(agent_client_is_connected(c));
        /* No way back on an fd client. */
        assert_int_equal(agent_client_tasks(c, &t, &n), -ENOTCONN);
        finish(&f, c);
}

static void test_hostile(void **state) {
        (void) state;
        expect_drop(MODE_GARBAGE, -EBADMSG, 2 * USEC_PER_SEC);
        expect_drop(MODE_WRONG_ID, -EPROTO, 2 * USEC_PER_SEC);
        expect_drop(MODE_FLOOD_LINE, -EMSGSIZE, 2 * USEC_PER_SEC);
        expect_drop(MODE_CLOSE, -ECONNRESET, 2 * USEC_PER_SEC);
        expect_drop(MODE_BAD_TYPES, -EBADMSG, 2 * USEC_PER_SEC);
        expect_drop(MODE_NO_SYNC_REPLY, -ETIMEDOUT, 300 * USEC_PER_MSEC);

        uint64_t t0 = now_ms();
        expect_drop(MODE_SILENT, -ETIMEDOUT, 300 * USEC_PER_MSEC);
        uint64_t dt = now_ms() - t0;
        assert_true(dt >= 250 && dt < 2000);
}

static long status_kb(const char *key) {
        FILE *fp = fopen("/proc/self/status", "re");
        assert_non_null(fp);
        char line[256];
        long v = -1;
        while (fgets(line, sizeof line, fp))
                if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
                        v = strtol(line + strlen(key) + 1, NULL, 10);
        fclose(fp);
        return v;
}

/* A reply line within the line limit but holding more objects or values
 * than any reply can is refused before json-c builds it: 2 MiB of "{},"
 * used to cost 531 MB.  Peak RSS growth (reset through clear_refs) stays
 * far below that, whatever the machine's load. */
static void test_hostile_size(void **state) {
        (void) state;
        Mode modes[] = { MODE_OBJECTS, MODE_VALUES };
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                Fake f;
                AgentClient *c = start(&f, modes[i], 10 * USEC_PER_SEC);
                /* the task limit and the line limit of before (32 MiB; now 32 MiB + 64 KiB) */
                AgentLimits l = { .max_tasks = 65536, .max_line = 32u << 20 };
                agent_client_set_limits(c, &l);
                FILE *cr = fopen("/proc/self/clear_refs", "we");
                if (cr) {
                        fputs("5", cr);   /* reset the peak */
                        fclose(cr);
                }
                long rss0 = status_kb("VmRSS");
                GuestTask *t = NULL;
                size_t n = 0;
                int r = agent_client_tasks(c, &t, &n);
                long growth_kb = status_kb("VmHWM") - rss0;
                print_message("mode %d: %s; peak RSS growth %ld KiB\n", modes[i], agent_client_last_error(c), growth_kb);
                assert_true(growth_kb < 64 * 1024);
                if (r != -EMSGSIZE && r != -EBADMSG)
                        fail_msg("mode %d: expected -EMSGSIZE or -EBADMSG, got %d (%s)", modes[i], r, agent_client_last_error(c));
                assert_false(agent_client_is_connected(c));
                finish(&f, c);
        }
}

/* Lines with ids not ours cost at most one line limit of bytes per call. */
static void test_foreign_bytes(void **state) {
        (void) state;
        Fake f;
        AgentClient *c = start(&f, MODE_FOREIGN_BIG, 5 * USEC_PER_SEC);   /* 64 KiB line limit, 16 lines */
        GuestTask *t = NULL;
        size_t n = 0;
        int r = agent_client_tasks(c, &t, &n);
        if (r != -EPROTO)
                fail_msg("expected -EPROTO, got %d (%s)", r, agent_client_last_error(c));
        assert_non_null(strstr(agent_client_last_error(c), "bytes of lines without our id"));
        finish(&f, c);
}

static void test_remote_error(void **state) {
        (void) state;
        Fake f;
        AgentClient *c = start(&f, MODE_REMOTE_ERROR, 0);
        assert_int_equal(agent_client_stop(c, 5), -ESRCH);
        assert_non_null(strstr(agent_client_last_error(c), "NotFound"));
        assert_null(strchr(agent_client_last_error(c), '\x01'));   /* sanitised */
        assert_true(agent_client_is_connected(c));
        assert_int_equal(agent_client_cont(c, 5), 0);
        assert_string_equal(agent_client_last_error(c), "");
        finish(&f, c);
}

static void test_stale_before_sync(void **state) {
        (void) state;
        Fake f;
        AgentClient *c = start(&f, MODE_STALE_BEFORE_SYNC, 0);
        agent_client_set_id_seed(c, 1000);
        assert_int_equal(agent_client_sync(c), 0);
        AgentStats s;
        assert_int_equal(agent_client_stats(c, &s), 0);
        finish(&f, c);
}

static void test_sync_resend(void **state) {
        (void) state;
        for (int m = 0; m < 2; m++) {
                Fake f;
                AgentClient *c = start(&f, m ? MODE_LATE_FIRST_SYNC : MODE_LOSE_FIRST_SYNC, 5 * USEC_PER_SEC);
                uint64_t t0 = now_ms();
                assert_int_equal(agent_client_sync(c), 0);
                uint64_t dt = now_ms() - t0;
                assert_true(dt >= 900 && dt < 3000);
                assert_int_equal(f.sync_calls, 2);
                /* The reply to the second sync (late mode) is skipped. */
                AgentStats st;
                assert_int_equal(agent_client_stats(c, &st), 0);
                assert_int_equal(agent_client_stop(c, 5), 0);
                finish(&f, c);
        }
}

static void test_delta(void **state) {
        (void) state;
        for (int m = 0; m < 2; m++) {
                Fake f;
                AgentClient *c = start(&f, m ? MODE_MISCOUNT : MODE_DELTA, 0);
                GuestTask *t;
                size_t n;
                assert_int_equal(agent_client_tasks(c, &t, &n), 0);
                assert_int_equal(n, 4);
                assert_int_equal(t[0].tid, 5);   /* sorted */
                assert_int_equal(t[2].tid, 7);
                free(t);
                assert_int_equal(agent_client_tasks(c, &t, &n), 0);
                assert_non_null(strstr(f.last_request, m ? "\"tasks\",\"arguments\":{}" : "\"since\":\"t1\""));
                assert_int_equal(n, 3);
                assert_int_equal(t[0].tid, 5);
                assert_int_equal(t[0].cpu_ns, 1);
                assert_int_equal(t[1].tid, 6);
                assert_int_equal(t[1].state, 'T');
                assert_int_equal(t[1].cpu_ns, 99);
                assert_true(t[2].is_agent);
                free(t);
                assert_int_equal(f.tasks_calls, m ? 3 : 2);
                finish(&f, c);
        }
        /* Delta off: never sends a token. */
        Fake f;
        AgentClient *c = start(&f, MODE_GOOD, 0);
        agent_client_set_delta(c, false);
        GuestTask *t;
        size_t n;
        for (int i = 0; i < 2; i++) {
                assert_int_equal(agent_client_tasks(c, &t, &n), 0);
                free(t);
                assert_null(strstr(f.last_request, "since"));
        }
        finish(&f, c);
}

/* ---- reconnecting through a UNIX socket path ---- */

typedef struct Server {
        int listen_fd;
        Mode modes[4];
        int accepted;
        Fake fakes[4];
        pthread_t thread;
} Server;

static void *server_main(void *arg) {
        Server *s = arg;
        for (int i = 0; i < 4; i++) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        break;
                s->fakes[i] = (Fake) { .fd = fd, .mode = s->modes[i] };
                s->accepted++;
                fake_main(&s->fakes[i]);
        }
        return NULL;
}

static void test_reconnect(void **state) {
        (void) state;
        char path[] = "/tmp/test-agent-client-XXXXXX";
        assert_non_null(mkdtemp(path));
        char sock[128];
        snprintf(sock, sizeof sock, "%s/s", path);

        AgentClient *c;
        assert_int_equal(agent_client_connect(sock, USEC_PER_SEC, &c), -ENOENT);
        assert_true(strlen(agent_client_last_error(NULL)) > 0);

        Server s = { .modes = { MODE_GARBAGE, MODE_GOOD, MODE_BAD_PROTOCOL } };
        s.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock);
        assert_int_equal(bind(s.listen_fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(s.listen_fd, 4), 0);
        assert_int_equal(pthread_create(&s.thread, NULL, server_main, &s), 0);

        assert_int_equal(agent_client_connect(sock, USEC_PER_SEC, &c), 0);   /* sync + hello work in MODE_GARBAGE */
        GuestTask *t;
        size_t n;
        assert_int_equal(agent_client_tasks(c, &t, &n), -EBADMSG);
        assert_false(agent_client_is_connected(c));
        assert_int_equal(agent_client_tasks(c, &t, &n), 0);   /* reconnected, re-synced */
        assert_true(agent_client_is_connected(c));
        assert_int_equal(n, 3);
        free(t);
        agent_client_disconnect(c);
        assert_int_equal(agent_client_stop(c, 5), 0);   /* the third connection does not care about protocol */
        agent_client_free(c);

        /* A wrong protocol version is refused at connect. */
        shutdown(s.listen_fd, SHUT_RDWR);
        pthread_join(s.thread, NULL);
        close(s.listen_fd);
        assert_int_equal(s.accepted, 3);

        Server s2 = { .modes = { MODE_BAD_PROTOCOL } };
        unlink(sock);
        s2.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(s2.listen_fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(s2.listen_fd, 4), 0);
        assert_int_equal(pthread_create(&s2.thread, NULL, server_main, &s2), 0);
        assert_int_equal(agent_client_connect(sock, USEC_PER_SEC, &c), -EPROTO);
        assert_non_null(strstr(agent_client_last_error(NULL), "protocol 99"));
        shutdown(s2.listen_fd, SHUT_RDWR);
        pthread_join(s2.thread, NULL);
        close(s2.listen_fd);
        unlink(sock);
        rmdir(path);
}

int main(void) {
        log_set_max_level(LOG_LEVEL_ERR);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_hostile_size),
                cmocka_unit_test(test_foreign_bytes),
                cmocka_unit_test(test_remote_error),
                cmocka_unit_test(test_stale_before_sync),
                cmocka_unit_test(test_sync_resend),
                cmocka_unit_test(test_delta),
                cmocka_unit_test(test_reconnect),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
