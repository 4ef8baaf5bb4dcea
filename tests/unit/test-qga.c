/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qemu-guest-agent client: the reader's parser, base64, and the
 * protocol against a fake agent on a socketpair (sync with 0xFF, guest-info,
 * guest-exec + guest-exec-status; an agent that forbids guest-exec, answers
 * garbage, hangs or floods).  The real qemu-ga runs in
 * tests/integration/qga-view.sh. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
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

#include "view/qga-client.h"

/* A stat line's fields after the comm (fields 3..52), with state, flags,
 * utime, stime, nice, starttime, cpu, rt_priority, policy put in. */
static char *stat_line(int tgid, int tid, const char *comm, char state, unsigned flags, int utime, int stime, int nice,
                       int start, int cpu, int rtprio, int policy) {
        char *s = NULL;
        int r = asprintf(&s,
                         "S %d %d (%s) %c 1 %d %d 0 -1 %u 100 0 0 0 %d %d 0 0 20 %d 1 0 %d 1000 100 "
                         "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 %d %d %d 0 0 0 0 0 0 0 0 0 0 0",
                         tgid, tid, comm, state, tgid, tgid, flags, utime, stime, nice, start, cpu, rtprio, policy);
        assert_true(r > 0);
        return s;
}

static char *join(const char *first, ...) {
        size_t len = 0;
        va_list ap;
        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                len += strlen(s) + 1;
        va_end(ap);
        char *out = calloc(1, len + 1), *p = out;
        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                p += sprintf(p, "%s\n", s);
        va_end(ap);
        return out;
}

static void test_parse_good(void **state) {
        (void) state;
        char *init = stat_line(1, 1, "systemd", 'S', 0x400100, 150, 50, 0, 10, 0, 0, 0);
        char *kw = stat_line(12, 12, "kworker/u8:1-events_unbound", 'I', 0x04208060, 0, 3, 0, 20, 1, 0, 0);
        char *web = stat_line(300, 300, "my (odd) web", 'R', 0x400000, 700, 300, 5, 500, 1, 0, 3);
        char *webt = stat_line(300, 301, "worker", 'S', 0x400040, 1, 0, -5, 510, 0, 10, 2);
        char *ga = stat_line(400, 400, "qemu-ga", 'S', 0x400100, 1, 1, 0, 30, 0, 0, 0);
        char *gat = stat_line(400, 401, "gmain", 'S', 0x400040, 0, 0, 0, 31, 0, 0, 0);
        /* a process that calls itself qemu-ga is not the agent: the reader
         * names qemu-ga (its parent) by pid in an A line */
        char *fake = stat_line(500, 500, "qemu-ga", 'R', 0x400000, 1, 1, 0, 40, 0, 0, 0);
        char *text = join("XVQGA1", "A 400", init, "C 1 /sbin/init splash ", kw, web, webt, "C 300 web --port 80 \x01x ",
                          ga, gat, "C 400 /usr/sbin/qemu-ga", fake, "E", NULL);
        GuestTask *t = NULL;
        size_t n = 0;
        char err[200] = "";
        assert_int_equal(qga_parse_tasks(text, strlen(text), 0, 100, &t, &n, err, sizeof err), 0);
        assert_int_equal(n, 7);
        /* sorted by tid */
        assert_int_equal(t[0].tid, 1);
        assert_string_equal(t[0].comm, "systemd");
        assert_string_equal(t[0].cmdline, "/sbin/init splash");
        assert_int_equal(t[0].cpu_ns, 2000000000ULL);
        assert_int_equal(t[0].start_time_ns, 100000000ULL);
        assert_false(t[0].is_kthread);
        assert_int_equal(t[1].tid, 12);
        assert_string_equal(t[1].comm, "kworker/u8:1-ev");   /* kept to 15 bytes */
        assert_true(t[1].is_kthread);
        assert_int_equal(t[1].state, 'I');
        assert_int_equal(t[2].tid, 300);
        assert_string_equal(t[2].comm, "my (odd) web");
        assert_int_equal(t[2].nice, 5);
        assert_int_equal(t[2].policy, 3);
        assert_int_equal(t[2].cpu, 1);
        assert_string_equal(t[2].cmdline, "web --port 80 ?x");
        assert_int_equal(t[3].tid, 301);
        assert_int_equal(t[3].pid, 300);
        assert_int_equal(t[3].nice, -5);
        assert_int_equal(t[3].policy, 2);
        assert_int_equal(t[3].rt_priority, 10);
        assert_string_equal(t[3].cmdline, "web --port 80 ?x");
        assert_true(t[4].is_agent && t[5].is_agent);
        assert_false(t[2].is_agent);
        assert_int_equal(t[6].pid, 500);
        assert_string_equal(t[6].comm, "qemu-ga");
        assert_false(t[6].is_agent);
        free(t);

        /* the reader prints the C lines last (one awk over every command line);
         * a command line of a pid with no thread listed is ignored */
        char *late = join("XVQGA1", init, web, webt, "C 999 ghost", "C 300 web --late", "C 1 init", "E", NULL);
        GuestTask *lt = NULL;
        size_t ln = 0;
        assert_int_equal(qga_parse_tasks(late, strlen(late), 0, 100, &lt, &ln, err, sizeof err), 0);
        assert_int_equal(ln, 3);
        assert_string_equal(lt[0].cmdline, "init");
        assert_string_equal(lt[1].cmdline, "web --late");
        assert_string_equal(lt[2].cmdline, "web --late");
        free(lt);
        free(late);

        /* skip_pid leaves a thread group out */
        assert_int_equal(qga_parse_tasks(text, strlen(text), 300, 100, &t, &n, err, sizeof err), 0);
        assert_int_equal(n, 5);
        free(t);
        free(text);
        free(fake);
        free(init);
        free(kw);
        free(web);
        free(webt);
        free(ga);
        free(gat);
}

static void expect_bad(const char *text, int want, const char *why_part) {
        GuestTask *t = (GuestTask *) 0x1;
        size_t n = 77;
        char err[200] = "";
        assert_int_equal(qga_parse_tasks(text, strlen(text), 0, 3, &t, &n, err, sizeof err), want);
        assert_ptr_equal(t, (GuestTask *) 0x1);   /* untouched on failure */
        assert_int_equal(n, 77);
        if (!strstr(err, why_part))
                fail_msg("error '%s' does not say '%s'", err, why_part);
}

static void test_parse_bad(void **state) {
        (void) state;
        char *ok = stat_line(5, 5, "a", 'S', 0, 0, 0, 0, 0, 0, 0, 0);
        char *t;
        expect_bad("", -EBADMSG, "empty");
        expect_bad("hello\nE\n", -EBADMSG, "XVQGA1");
        t = join("XVQGA1", ok, NULL);
        expect_bad(t, -EBADMSG, "cut short");
        free(t);
        t = join("XVQGA1", ok, "E", "S 1", NULL);
        expect_bad(t, -EBADMSG, "after the end");
        free(t);
        t = join("XVQGA1", "X what", "E", NULL);
        expect_bad(t, -EBADMSG, "unexpected");
        free(t);
        t = join("XVQGA1", "A 0", "E", NULL);
        expect_bad(t, -EBADMSG, "agent pid");
        free(t);
        t = join("XVQGA1", "A 12x", "E", NULL);
        expect_bad(t, -EBADMSG, "agent pid");
        free(t);
        t = join("XVQGA1", "A 1", "A 2", "A 3", "A 4", "A 5", "E", NULL);
        expect_bad(t, -EBADMSG, "too many agent");
        free(t);
        t = join("XVQGA1", ok, ok, "E", NULL);
        expect_bad(t, -EBADMSG, "twice");
        free(t);
        t = join("XVQGA1", ok, "S 6 6 (b) S 1 2", "E", NULL);
        expect_bad(t, -EBADMSG, "fields");
        free(t);
        t = join("XVQGA1", "S 6 6 b S 1 2 3", "E", NULL);
        expect_bad(t, -EBADMSG, "(comm)");
        free(t);
        t = join("XVQGA1", "S 0 6 (b) S 1 2 3", "E", NULL);
        expect_bad(t, -EBADMSG, "pid");
        free(t);
        t = join("XVQGA1", "S 99999999 6 (b) S 1 2 3", "E", NULL);
        expect_bad(t, -EBADMSG, "pid");
        free(t);
        struct {
                char *line;
                const char *why;
        } bad[] = {
                { stat_line(7, 7, "a", '?', 0, 0, 0, 0, 0, 0, 0, 0), "state" },
                { stat_line(7, 7, "a", 'S', 0, 0, 0, 20, 0, 0, 0, 0), "numbers" },     /* nice 20 */
                { stat_line(7, 7, "a", 'S', 0, 0, 0, -21, 0, 0, 0, 0), "numbers" },
                { stat_line(7, 7, "a", 'S', 0, -1, 0, 0, 0, 0, 0, 0), "numbers" },     /* negative cpu time */
                { stat_line(7, 7, "a", 'S', 0, 0, 0, 0, 0, 0, 0, 4), "policy" },       /* no policy 4 */
                { stat_line(7, 7, "a", 'S', 0, 0, 0, 0, 0, 0, 0, 7), "numbers" },
                { stat_line(7, 7, "a", 'S', 0, 0, 0, 0, 0, 0, 5, 0), "policy" },       /* OTHER with rt priority */
                { stat_line(7, 7, "a", 'S', 0, 0, 0, 0, 0, 0, 0, 1), "policy" },       /* FIFO without */
                { stat_line(7, 7, "a", 'S', 0, 0, 0, 0, 0, 0, 100, 1), "numbers" },
                { stat_line(7, 7, "0123456789012345678901234567890123456789012345678901234567890123456789", 'S', 0, 0,
                            0, 0, 0, 0, 0, 0),
                  "comm" },
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                t = join("XVQGA1", bad[i].line, "E", NULL);
                expect_bad(t, -EBADMSG, bad[i].why);
                free(t);
                free(bad[i].line);
        }
        /* more threads than allowed (3 in expect_bad) */
        char *l[4];
        for (int i = 0; i < 4; i++)
                l[i] = stat_line(10 + i, 10 + i, "x", 'S', 0, 0, 0, 0, 0, 0, 0, 0);
        t = join("XVQGA1", l[0], l[1], l[2], l[3], "E", NULL);
        expect_bad(t, -E2BIG, "more than 3");
        free(t);
        for (int i = 0; i < 4; i++)
                free(l[i]);
        /* a NUL byte */
        char nul[] = "XVQGA1\n\0E\n";
        GuestTask *tasks;
        size_t n;
        assert_int_equal(qga_parse_tasks(nul, sizeof nul - 1, 0, 3, &tasks, &n, NULL, 0), -EBADMSG);
        free(ok);
}

static void test_base64(void **state) {
        (void) state;
        char *out;
        size_t len;
        assert_int_equal(qga_base64_decode("aGVsbG8=", 8, &out, &len), 0);
        assert_int_equal(len, 5);
        assert_string_equal(out, "hello");
        free(out);
        assert_int_equal(qga_base64_decode("aGk=", 4, &out, &len), 0);
        assert_string_equal(out, "hi");
        free(out);
        assert_int_equal(qga_base64_decode("aA==", 4, &out, &len), 0);
        assert_string_equal(out, "h");
        free(out);
        assert_int_equal(qga_base64_decode("", 0, &out, &len), 0);
        assert_int_equal(len, 0);
        free(out);
        assert_int_equal(qga_base64_decode("aGVsbG8", 7, &out, &len), -EBADMSG);
        assert_int_equal(qga_base64_decode("aG!s", 4, &out, &len), -EBADMSG);
        assert_int_equal(qga_base64_decode("aA==aGk=", 8, &out, &len), -EBADMSG);   /* padding inside */
        assert_int_equal(qga_base64_decode("a===", 4, &out, &len), -EBADMSG);
        assert_int_equal(qga_base64_decode("aA=x", 4, &out, &len), -EBADMSG);
}

/* ---- a fake agent on a socketpair ---- */

typedef enum FakeMode {
        FAKE_GOOD,
        FAKE_NO_EXEC,         /* guest-info: guest-exec disabled */
        FAKE_EXEC_DISABLED,   /* guest-info says enabled, guest-exec answers "disabled" */
        FAKE_GARBAGE,         /* garbage reply to guest-exec */
        FAKE_HANG,            /* no reply to guest-exec */
        FAKE_FLOOD,           /* endless bytes without a newline to guest-exec */
        FAKE_SYNC_NOISE,      /* before the sync reply: lines without a delimiter, then our sync */
        FAKE_BAD_B64,
        FAKE_SYNC_FLOOD,      /* to the sync: 1 MiB of lines without QGA's 0xFF delimiter, then silence */
        FAKE_SYNC_EMPTY,      /* to the sync: 1 MiB of empty delimited lines, then silence */
        FAKE_SLOW_STATUS,     /* every guest-exec-status answered late (delay_ms) with exited=false */
} FakeMode;

typedef struct Fake {
        int fd;
        FakeMode mode;
        const char *output;   /* the reader's output to return */
        int status_polls;     /* guest-exec-status answers "not exited" this often first (read atomically) */
        int delay_ms;         /* FAKE_SLOW_STATUS */
        int execs;            /* guest-exec calls seen (read atomically) */
        int statuses;         /* guest-exec-status calls seen */
} Fake;

static void fake_send(int fd, const char *s) {
        size_t len = strlen(s);
        while (len > 0) {
                ssize_t k = send(fd, s, len, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                s += k;
                len -= (size_t) k;
        }
}

static char *b64(const char *in) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t len = strlen(in);
        char *out = malloc(len / 3 * 4 + 5), *o = out;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned char) in[i] << 16;
                if (i + 1 < len)
                        v |= (unsigned char) in[i + 1] << 8;
                if (i + 2 < len)
                        v |= (unsigned char) in[i + 2];
                *o++ = tab[v >> 18];
                *o++ = tab[(v >> 12) & 63];
                *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? tab[v & 63] : '=';
        }
        *o = 0;
        return out;
}

static void *fake_main(void *p) {
        Fake *f = p;
        char buf[65536];
        size_t len = 0;
        int polls = 0;
        for (;;) {
                ssize_t k = read(f->fd, buf + len, sizeof buf - len - 1);
                if (k <= 0)
                        break;
                len += (size_t) k;
                char *nl;
                while ((nl = memchr(buf, '\n', len))) {
                        *nl = 0;
                        char *line = buf;
                        while ((unsigned char) *line == 0xff)
                                line++;
                        json_object *req = json_tokener_parse(line), *jx, *ja, *jid;
                        const char *cmd = req && json_object_object_get_ex(req, "execute", &jx) ? json_object_get_string(jx) : "";
                        char out[8192];
                        out[0] = 0;
                        if (streq(cmd, "guest-sync-delimited")) {
                                json_object_object_get_ex(req, "arguments", &ja);
                                json_object_object_get_ex(ja, "id", &jid);
                                if (f->mode == FAKE_SYNC_NOISE)
                                        fake_send(f->fd, "{\"return\": 1}\nnoise\n{\"return\": 17}\n");
                                if (f->mode == FAKE_SYNC_FLOOD || f->mode == FAKE_SYNC_EMPTY) {
                                        static char junk[8192];
                                        for (size_t i = 0; i + 2 < sizeof junk; i += 2) {   /* a NUL stays last */
                                                junk[i] = f->mode == FAKE_SYNC_FLOOD ? 'x' : '\xff';
                                                junk[i + 1] = '\n';
                                        }
                                        for (int i = 0; i < 128; i++)
                                                fake_send(f->fd, junk);
                                        json_object_put(req);
                                        len = 0;
                                        break;   /* and never the reply */
                                }
                                snprintf(out, sizeof out, "\xff{\"return\": %" PRId64 "}\n", json_object_get_int64(jid));
                        } else if (streq(cmd, "guest-ping"))
                                snprintf(out, sizeof out, "{\"return\": {}}\n");
                        else if (streq(cmd, "guest-info"))
                                snprintf(out, sizeof out,
                                         "{\"return\": {\"version\": \"7.2\", \"supported_commands\": ["
                                         "{\"enabled\": %s, \"name\": \"guest-exec\", \"success-response\": true},"
                                         "{\"enabled\": true, \"name\": \"guest-exec-status\", \"success-response\": true},"
                                         "{\"enabled\": true, \"name\": \"guest-ping\", \"success-response\": true}]}}\n",
                                         f->mode == FAKE_NO_EXEC ? "false" : "true");
                        else if (streq(cmd, "guest-exec")) {
                                __atomic_add_fetch(&f->execs, 1, __ATOMIC_SEQ_CST);
                                if (f->mode == FAKE_EXEC_DISABLED)
                                        snprintf(out, sizeof out, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                                                  "\"The command guest-exec has been disabled for this instance\"}}\n");
                                else if (f->mode == FAKE_GARBAGE)
                                        snprintf(out, sizeof out, "{\"return\": {\"pid\": 12,,,\n");
                                else if (f->mode == FAKE_HANG)
                                        ;
                                else if (f->mode == FAKE_FLOOD) {
                                        memset(out, 'x', sizeof out - 1);
                                        out[sizeof out - 1] = 0;
                                        for (int i = 0; i < 64; i++)
                                                fake_send(f->fd, out);
                                        out[0] = 0;
                                } else
                                        snprintf(out, sizeof out, "{\"return\": {\"pid\": 4242}}\n");
                        } else if (streq(cmd, "guest-exec-status")) {
                                __atomic_add_fetch(&f->statuses, 1, __ATOMIC_SEQ_CST);
                                if (f->mode == FAKE_SLOW_STATUS) {
                                        struct timespec d = { .tv_sec = f->delay_ms / 1000,
                                                              .tv_nsec = (long) (f->delay_ms % 1000) * 1000000 };
                                        nanosleep(&d, NULL);
                                        snprintf(out, sizeof out, "{\"return\": {\"exited\": false}}\n");
                                } else if (polls++ < __atomic_load_n(&f->status_polls, __ATOMIC_SEQ_CST))
                                        snprintf(out, sizeof out, "{\"return\": {\"exited\": false}}\n");
                                else if (f->mode == FAKE_BAD_B64)
                                        snprintf(out, sizeof out, "{\"return\": {\"exited\": true, \"exitcode\": 0, "
                                                                  "\"out-data\": \"%%%%%%\"}}\n");
                                else {
                                        char *enc = b64(f->output);
                                        char *reply = NULL;
                                        assert_true(asprintf(&reply, "{\"return\": {\"exited\": true, \"exitcode\": 0, "
                                                                     "\"out-data\": \"%s\"}}\n", enc) > 0);
                                        fake_send(f->fd, reply);
                                        free(reply);
                                        free(enc);
                                }
                        } else
                                snprintf(out, sizeof out, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}}\n");
                        json_object_put(req);
                        fake_send(f->fd, out);
                        size_t used = (size_t) (nl - buf) + 1;
                        memmove(buf, buf + used, len - used);
                        len -= used;
                }
                if (len >= sizeof buf - 1)
                        len = 0;
        }
        close(f->fd);
        return NULL;
}

static int start_fake(Fake *f, pthread_t *th) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        f->fd = sv[1];
        assert_int_equal(pthread_create(th, NULL, fake_main, f), 0);
        return sv[0];
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static const char reader_output[] =
        "XVQGA1\n"
        "S 1 1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 5 5 0 0 20 0 1 0 3 1000 100 1 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        "C 1 /sbin/init \n"
        "E\n";

static void test_protocol_good(void **state) {
        (void) state;
        Fake f = { .mode = FAKE_GOOD, .output = reader_output, .status_polls = 3 };
        pthread_t th;
        int fd = start_fake(&f, &th);
        QgaClient *c = NULL;
        assert_int_equal(qga_client_connect_fd(fd, 2 * USEC_PER_SEC, &c), 0);
        GuestTask *t = NULL;
        size_t n = 0;
        assert_int_equal(qga_client_tasks(c, &t, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(t[0].comm, "init");
        assert_string_equal(t[0].cmdline, "/sbin/init");
        assert_int_equal(t[0].cpu_ns, 100000000ULL);
        free(t);
        qga_client_free(c);
        pthread_join(th, NULL);

        /* stale replies and noise before our sync are skipped */
        f = (Fake) { .mode = FAKE_SYNC_NOISE, .output = reader_output };
        fd = start_fake(&f, &th);
        assert_int_equal(qga_client_connect_fd(fd, 2 * USEC_PER_SEC, &c), 0);
        assert_int_equal(qga_client_tasks(c, &t, &n), 0);
        free(t);
        qga_client_free(c);
        pthread_join(th, NULL);
}

static void test_protocol_no_exec(void **state) {
        (void) state;
        Fake f = { .mode = FAKE_NO_EXEC };
        pthread_t th;
        int fd = start_fake(&f, &th);
        QgaClient *c = NULL;
        double t0 = now_s();
        /* refused at once, not after the (long) deadline: a bound that holds on a loaded host */
        assert_int_equal(qga_client_connect_fd(fd, 20 * USEC_PER_SEC, &c), -EACCES);
        assert_true(now_s() - t0 < 10);
        assert_non_null(strstr(qga_client_last_error(NULL), "forbids guest-exec"));
        assert_null(strchr(qga_client_last_error(NULL), '\n'));
        pthread_join(th, NULL);

        /* guest-info lies; the agent refuses the command itself */
        f = (Fake) { .mode = FAKE_EXEC_DISABLED };
        fd = start_fake(&f, &th);
        assert_int_equal(qga_client_connect_fd(fd, 2 * USEC_PER_SEC, &c), 0);
        GuestTask *t;
        size_t n;
        assert_int_equal(qga_client_tasks(c, &t, &n), -EACCES);
        assert_non_null(strstr(qga_client_last_error(c), "disabled"));
        qga_client_free(c);
        pthread_join(th, NULL);
}

static void test_protocol_hostile(void **state) {
        (void) state;
        struct {
                FakeMode mode;
                int want;
        } cases[] = {
                { FAKE_GARBAGE, -EBADMSG },
                { FAKE_HANG, -ETIMEDOUT },
                { FAKE_FLOOD, -EMSGSIZE },
                { FAKE_BAD_B64, -EBADMSG },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                Fake f = { .mode = cases[i].mode, .output = reader_output };
                pthread_t th;
                int fd = start_fake(&f, &th);
                QgaClient *c = NULL;
                assert_int_equal(qga_client_connect_fd(fd, 500 * USEC_PER_MSEC, &c), 0);
                qga_client_set_reply_max(c, 64 * 1024);
                GuestTask *t = NULL;
                size_t n = 0;
                double t0 = now_s();
                int r = qga_client_tasks(c, &t, &n);
                double took = now_s() - t0;
                if (r != cases[i].want)
                        fail_msg("case %zu: %d (%s), want %d", i, r, qga_client_last_error(c), cases[i].want);
                assert_null(t);
                /* bounded in time: the call's timeout (0.5 s) and some slack for a loaded machine */
                assert_true(took < 5.0);
                const char *e = qga_client_last_error(c);
                assert_true(strlen(e) > 0 && !strchr(e, '\n'));
                /* a dropped fd client does not come back */
                assert_int_equal(qga_client_tasks(c, &t, &n), cases[i].mode == FAKE_BAD_B64 ? -EBADMSG : -ENOTCONN);
                qga_client_free(c);
                pthread_join(th, NULL);
        }
}

/* A sync answered by a flood without our reply: a bounded amount is skipped,
 * then one line (not a spin until the deadline). */
static void test_sync_flood(void **state) {
        (void) state;
        FakeMode modes[] = { FAKE_SYNC_FLOOD, FAKE_SYNC_EMPTY };
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                Fake f = { .mode = modes[i] };
                pthread_t th;
                int fd = start_fake(&f, &th);
                QgaClient *c = NULL;
                int r = qga_client_connect_fd(fd, 5 * USEC_PER_SEC, &c);
                if (r != -EPROTO)
                        fail_msg("mode %d: %d (%s), want -EPROTO", modes[i], r, qga_client_last_error(NULL));
                assert_null(c);
                assert_non_null(strstr(qga_client_last_error(NULL), "never answered our sync"));
                pthread_join(th, NULL);
        }
}

/* guest-exec-status answered slowly: the whole exec (guest-exec and every
 * status poll) keeps one deadline; each call does not get a fresh one. */
static void test_exec_deadline(void **state) {
        (void) state;
        /* Each status answer (exited=false, forever) comes well within the
         * 2 s limit: with a fresh deadline per call the exec would never end;
         * with one deadline it ends after about 2 s. */
        Fake f = { .mode = FAKE_SLOW_STATUS, .delay_ms = 400 };
        pthread_t th;
        int fd = start_fake(&f, &th);
        QgaClient *c = NULL;
        assert_int_equal(qga_client_connect_fd(fd, 2 * USEC_PER_SEC, &c), 0);
        GuestTask *t = NULL;
        size_t n = 0;
        double t0 = now_s();
        assert_int_equal(qga_client_tasks(c, &t, &n), -ETIMEDOUT);
        double took = now_s() - t0;
        /* one deadline: about 2 s; a fresh one per poll: never (the test hangs) */
        if (took >= 15)
                fail_msg("took %.2f s against a 2 s deadline", took);
        qga_client_free(c);
        pthread_join(th, NULL);
}

/* A reader that outlives its deadline: the next poll asks after it and
 * starts no second reader while it runs; once it exited, polls go on. */
static void test_exec_pending(void **state) {
        (void) state;
        Fake f = { .mode = FAKE_GOOD, .output = reader_output, .status_polls = 1 << 30 };
        pthread_t th;
        int fd = start_fake(&f, &th);
        QgaClient *c = NULL;
        assert_int_equal(qga_client_connect_fd(fd, 300 * USEC_PER_MSEC, &c), 0);
        GuestTask *t = NULL;
        size_t n = 0;
        assert_int_equal(qga_client_tasks(c, &t, &n), -ETIMEDOUT);
        assert_int_equal(__atomic_load_n(&f.execs, __ATOMIC_SEQ_CST), 1);
        assert_int_equal(qga_client_tasks(c, &t, &n), -EBUSY);
        assert_non_null(strstr(qga_client_last_error(c), "still running"));
        assert_int_equal(__atomic_load_n(&f.execs, __ATOMIC_SEQ_CST), 1);   /* no second reader */
        /* the reader exits: its status is collected, the next reader runs */
        __atomic_store_n(&f.status_polls, 0, __ATOMIC_SEQ_CST);
        assert_int_equal(qga_client_tasks(c, &t, &n), 0);
        assert_int_equal(n, 1);
        free(t);
        assert_int_equal(__atomic_load_n(&f.execs, __ATOMIC_SEQ_CST), 2);
        qga_client_free(c);
        pthread_join(th, NULL);
}

/* A fake agent on a listening UNIX socket: one connection after another
 * (the client lets go of the socket after each operation). */
typedef struct Listener {
        int lfd;
        Fake *f;
} Listener;

static void *listener_main(void *p) {
        Listener *l = p;
        for (;;) {
                int fd = accept(l->lfd, NULL, NULL);
                if (fd < 0)
                        break;
                l->f->fd = fd;
                fake_main(l->f);
        }
        return NULL;
}

/* The daemon drops a view whose poll failed and opens a new client later:
 * the reader that outlived its deadline is still asked after first, and no
 * second one starts while it runs. */
static void test_exec_pending_across_clients(void **state) {
        (void) state;
        char path[] = "/tmp/test-qga-XXXXXX";
        assert_non_null(mkdtemp(path));
        char sock[sizeof path + 16];
        snprintf(sock, sizeof sock, "%s/qga.sock", path);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(lfd, 4), 0);
        Fake f = { .mode = FAKE_GOOD, .output = reader_output, .status_polls = 1 << 30 };
        Listener l = { .lfd = lfd, .f = &f };
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, listener_main, &l), 0);

        QgaClient *c = NULL;
        GuestTask *t = NULL;
        size_t n = 0;
        assert_int_equal(qga_client_connect(sock, 300 * USEC_PER_MSEC, &c), 0);
        assert_int_equal(qga_client_tasks(c, &t, &n), -ETIMEDOUT);
        qga_client_free(c);
        assert_int_equal(qga_client_connect(sock, 300 * USEC_PER_MSEC, &c), 0);
        assert_int_equal(qga_client_tasks(c, &t, &n), -EBUSY);
        assert_int_equal(__atomic_load_n(&f.execs, __ATOMIC_SEQ_CST), 1);   /* no second reader */
        qga_client_free(c);
        __atomic_store_n(&f.status_polls, 0, __ATOMIC_SEQ_CST);
        assert_int_equal(qga_client_connect(sock, 300 * USEC_PER_MSEC, &c), 0);
        assert_int_equal(qga_client_tasks(c, &t, &n), 0);
        free(t);
        assert_int_equal(__atomic_load_n(&f.execs, __ATOMIC_SEQ_CST), 2);
        qga_client_free(c);

        shutdown(lfd, SHUT_RDWR);
        pthread_join(th, NULL);
        close(lfd);
        unlink(sock);
        rmdir(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),     cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_base64),         cmocka_unit_test(test_protocol_good),
                cmocka_unit_test(test_protocol_no_exec), cmocka_unit_test(test_protocol_hostile),
                cmocka_unit_test(test_sync_flood),     cmocka_unit_test(test_exec_deadline),
                cmocka_unit_test(test_exec_pending),   cmocka_unit_test(test_exec_pending_across_clients),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
