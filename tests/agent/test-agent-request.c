/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvagent's request handling against a fixture /proc tree and recording
 * operations: malformed, oversized and mistyped requests, every command,
 * delta mode, and the safety lease. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent.h"
#include "basic/log.h"

/* ---- recording operations ---- */

static int nice_of[1000];
static int policy_of[1000], prio_of[1000];
static int stopped[1000];
static int fail_kill_errno;

static int rec_kill(pid_t pid, int sig, void *u) {
        (void) u;
        if (fail_kill_errno)
                return -fail_kill_errno;
        stopped[pid] = sig == SIGSTOP;
        return 0;
}
static int rec_get_nice(pid_t tid, int *ret, void *u) {
        (void) u;
        *ret = nice_of[tid];
        return 0;
}
static int rec_set_nice(pid_t tid, int nice, void *u) {
        (void) u;
        nice_of[tid] = nice;
        return 0;
}
static int rec_get_sched(pid_t tid, int *p, int *prio, void *u) {
        (void) u;
        *p = policy_of[tid];
        *prio = prio_of[tid];
        return 0;
}
static int rec_set_sched(pid_t tid, int p, int prio, void *u) {
        (void) u;
        policy_of[tid] = p;
        prio_of[tid] = prio;
        return 0;
}
static const AgentOps rec_ops = { rec_kill, rec_get_nice, rec_set_nice, rec_get_sched, rec_set_sched };

/* ---- fixture tree ---- */

static char root[64];

static void put(const char *rel, const char *content, size_t len) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        mkdir(path, 0755);
                        *p = '/';
                }
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fwrite(content, 1, len, f);
        fclose(f);
}
#define PUT(rel, s) put(rel, s, strlen(s))

/* <pid>/task/<tid>/stat, and <pid>/stat for the leader (nthreads in field 20). */
static void put_stat_n(int pid, int tid, const char *comm, char state, unsigned flags, unsigned utime, int nthreads) {
        char rel[64], buf[512];
        snprintf(rel, sizeof rel, "%d/task/%d/stat", pid, tid);
        snprintf(buf, sizeof buf, "%d (%s) %c 1 1 1 0 -1 %u 0 0 0 0 %u 7 0 0 20 0 %d 0 %d 1 1 1 1 1 1 1 1 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
                 tid, comm, state, flags, utime, nthreads, 100 + tid);
        PUT(rel, buf);
        if (pid == tid) {
                snprintf(rel, sizeof rel, "%d/stat", pid);
                PUT(rel, buf);
        }
        snprintf(rel, sizeof rel, "%d/status", tid);
        snprintf(buf, sizeof buf, "Name:\tx\nUmask:\t0022\nTgid:\t%d\nPid:\t%d\n", pid, tid);
        PUT(rel, buf);
}

static void put_stat(int pid, int tid, const char *comm, char state, unsigned flags, unsigned utime) {
        put_stat_n(pid, tid, comm, state, flags, utime, 1);
}

static int setup(void **state) {
        (void) state;
        strcpy(root, "/tmp/test-agent-request-XXXXXX");
        assert_non_null(mkdtemp(root));
        put_stat(1, 1, "init", 'S', 0, 0);
        put_stat(2, 2, "kthreadd", 'S', 0x200000, 0);
        put_stat_n(100, 100, "we ) ird (", 'R', 0, 5, 2);
        put_stat_n(100, 101, "worker", 'S', 0, 0, 2);
        put("100/cmdline", "prog\0--flag\0x y\0", 16);
        put_stat(200, 200, "sleep", 'S', 0, 0);
        PUT("200/cmdline", "sleep\0001000");
        memset(nice_of, 0, sizeof nice_of);
        memset(stopped, 0, sizeof stopped);
        nice_of[101] = 3;
        return 0;
}

static int teardown(void **state) {
        (void) state;
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static Agent agent;
static AgentSession session;
static JsonWriter out;
static JsonDoc reply;
static uint64_t now = 10 * 1000000ULL;

static void start(void) {
        assert_int_equal(agent_init(&agent, &rec_ops, NULL, root, now), 0);
        agent_session_init(&agent, &session);
        jw_init(&out, AGENT_MAX_REPLY);
}

static void stop_agent(void) {
        agent_session_done(&session);
        agent_done(&agent);
        jw_free(&out);
}

/* Send one line on session sess; returns the parsed reply's root. */
static const JsonNode *req_on(AgentSession *sess, const char *line) {
        jw_reset(&out);
        agent_handle_line(&agent, sess, line, strlen(line), now, &out);
        assert_int_equal(jw_error(&out), 0);
        assert_true(out.len > 0);
        assert_int_equal(out.buf[out.len - 1], '\n');
        const char *s = out.buf;
        size_t n = out.len - 1;
        if (*s == '\xff')
                s++, n--;
        assert_null(memchr(s, '\n', n));
        if (json_parse(&reply, s, n) < 0)
                fail_msg("reply is not JSON: %s", out.buf);
        return json_root(&reply);
}

static const JsonNode *req(const char *line) {
        return req_on(&session, line);
}

static const char *error_class(const JsonNode *r) {
        const JsonNode *e = json_get(&reply, r, "error");
        if (!e)
                return NULL;
        return json_get(&reply, e, "class")->str;
}

static const JsonNode *ret(const JsonNode *r) {
        const JsonNode *v = json_get(&reply, r, "return");
        if (!v)
                fail_msg("expected success, got %s", out.buf);
        return v;
}

static void expect_error(const char *line, const char *cls) {
        const JsonNode *r = req(line);
        const char *c = error_class(r);
        if (!c || strcmp(c, cls) != 0)
                fail_msg("%s: expected %s, got %s", line, cls, out.buf);
}

/* ---- tests ---- */

static void test_malformed(void **state) {
        (void) state;
        start();
        expect_error("{", "ParseError");
        expect_error("nonsense", "ParseError");
        expect_error("{\"execute\":\"hello\",}", "ParseError");
        expect_error("[\"execute\"]", "InvalidRequest");
        expect_error("\"hello\"", "InvalidRequest");
        expect_error("{}", "InvalidRequest");
        expect_error("{\"execute\":1}", "InvalidRequest");
        expect_error("{\"execute\":null}", "InvalidRequest");
        expect_error("{\"execute\":\"hello\",\"arguments\":[]}", "InvalidRequest");
        expect_error("{\"execute\":\"hello\",\"extra\":1}", "InvalidRequest");
        expect_error("{\"execute\":\"hello\",\"id\":{\"a\":1}}", "InvalidRequest");
        expect_error("{\"execute\":\"hello\",\"id\":[1]}", "InvalidRequest");
        expect_error("{\"execute\":\"frobnicate\"}", "CommandNotFound");
        expect_error("{\"execute\":\"hello\",\"arguments\":{\"x\":1}}", "InvalidParameter");

        /* Oversized and too deep. */
        char big[AGENT_MAX_LINE + 100];
        memset(big, ' ', sizeof big);
        memcpy(big, "{\"execute\":\"hello\"}", 19);
        big[sizeof big - 1] = 0;
        expect_error(big, "TooLarge");
        expect_error("{\"execute\":\"hello\",\"arguments\":{\"a\":[[[[[[[[[1]]]]]]]]]}}", "TooLarge");

        /* Garbage does not renew the lease; a well-formed request does. */
        agent.last_renew_usec = 0;
        req("{");
        assert_int_equal(agent.last_renew_usec, 0);
        req("{\"execute\":\"nope\"}");
        assert_int_equal(agent.last_renew_usec, now);
        assert_true(agent.stats.bad_requests >= 14);
        stop_agent();
}

static void test_ids_and_sync(void **state) {
        (void) state;
        start();
        const JsonNode *r = req("{\"execute\":\"hello\",\"id\":12345678901}");
        assert_int_equal(json_get(&reply, r, "id")->integer, 12345678901LL);
        const JsonNode *v = ret(r);
        assert_int_equal(json_get(&reply, v, "protocol")->integer, AGENT_PROTOCOL_VERSION);
        assert_int_equal(json_get(&reply, v, "pid")->integer, getpid());
        r = req("{\"execute\":\"hello\",\"id\":\"abc\"}");
        assert_string_equal(json_get(&reply, r, "id")->str, "abc");
        r = req("{\"id\":7,\"execute\":\"nope\"}");
        assert_int_equal(json_get(&reply, r, "id")->integer, 7);   /* errors carry the id too */

        r = req("{\"execute\":\"sync\",\"arguments\":{\"id\":424242},\"id\":424242}");
        assert_int_equal(out.buf[0], '\xff');
        assert_int_equal(ret(r)->integer, 424242);
        expect_error("{\"execute\":\"sync\"}", "InvalidParameter");
        expect_error("{\"execute\":\"sync\",\"arguments\":{\"id\":\"x\"}}", "InvalidParameter");
        expect_error("{\"execute\":\"sync\",\"arguments\":{\"id\":1.5}}", "InvalidParameter");
        stop_agent();
}

static void test_wrong_types(void **state) {
        (void) state;
        start();
        expect_error("{\"execute\":\"stop\"}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":\"100\"}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":100.5}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":-1}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":0}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":99999999999999999999}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":true}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":100,\"sig\":9}}", "InvalidParameter");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"tid\":100}}", "InvalidParameter");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"pid\":100}}", "InvalidParameter");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"pid\":100,\"nice\":20}}", "InvalidParameter");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"pid\":100,\"nice\":-21}}", "InvalidParameter");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"pid\":100,\"tid\":101,\"nice\":1}}", "InvalidParameter");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"nice\":1}}", "InvalidParameter");
        expect_error("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":\"turbo\"}}", "InvalidParameter");
        expect_error("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":\"deadline\"}}", "InvalidParameter");
        expect_error("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":\"fifo\"}}", "InvalidParameter");
        expect_error("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":\"fifo\",\"priority\":100}}", "InvalidParameter");
        expect_error("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":\"other\",\"priority\":5}}", "InvalidParameter");
        expect_error("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":1}}", "InvalidParameter");
        expect_error("{\"execute\":\"lease\",\"arguments\":{\"seconds\":0}}", "InvalidParameter");
        expect_error("{\"execute\":\"lease\",\"arguments\":{\"seconds\":1e9}}", "InvalidParameter");
        expect_error("{\"execute\":\"lease\",\"arguments\":{\"seconds\":\"5\"}}", "InvalidParameter");
        expect_error("{\"execute\":\"tasks\",\"arguments\":{\"since\":5}}", "InvalidParameter");
        expect_error("{\"execute\":\"tasks\",\"arguments\":{\"cmdline\":1}}", "InvalidParameter");
        /* Nothing happened. */
        assert_int_equal(agent.n_held, 0);
        assert_false(stopped[100]);
        stop_agent();
}

static void test_stop_cont(void **state) {
        (void) state;
        start();
        const JsonNode *r = req("{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}");
        assert_int_equal(json_get(&reply, ret(r), "pid")->integer, 100);
        assert_true(stopped[100]);
        assert_int_equal(agent.n_held, 1);
        /* A thread id selects its group; stopping twice holds once. */
        r = req("{\"execute\":\"stop\",\"arguments\":{\"pid\":101}}");
        assert_int_equal(json_get(&reply, ret(r), "pid")->integer, 100);
        assert_int_equal(agent.n_held, 1);
        ret(req("{\"execute\":\"cont\",\"arguments\":{\"pid\":100}}"));
        assert_false(stopped[100]);
        assert_int_equal(agent.n_held, 0);

        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":1}}", "PermissionDenied");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":2}}", "PermissionDenied");
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":4000}}", "NotFound");
        expect_error("{\"execute\":\"cont\",\"arguments\":{\"pid\":4000}}", "NotFound");
        agent.self_pid = 200;
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":200}}", "PermissionDenied");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"pid\":200,\"nice\":3}}", "PermissionDenied");
        agent.self_pid = getpid();
        fail_kill_errno = EPERM;
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":200}}", "PermissionDenied");
        fail_kill_errno = 0;
        assert_int_equal(agent.n_held, 0);   /* a failed stop is not held */
        stop_agent();
}

static void test_nice_sched(void **state) {
        (void) state;
        start();
        const JsonNode *r = req("{\"execute\":\"nice\",\"arguments\":{\"pid\":100,\"nice\":10}}");
        assert_int_equal(json_get(&reply, ret(r), "threads")->integer, 2);
        assert_int_equal(nice_of[100], 10);
        assert_int_equal(nice_of[101], 10);
        ret(req("{\"execute\":\"nice\",\"arguments\":{\"tid\":101,\"nice\":-5}}"));
        assert_int_equal(nice_of[101], -5);
        assert_int_equal(agent.n_held, 2);
        /* Back to its original value: no longer held. */
        ret(req("{\"execute\":\"nice\",\"arguments\":{\"tid\":101,\"nice\":3}}"));
        assert_int_equal(agent.n_held, 1);
        r = req("{\"execute\":\"sched\",\"arguments\":{\"pid\":100,\"policy\":\"fifo\",\"priority\":10}}");
        assert_int_equal(json_get(&reply, ret(r), "threads")->integer, 2);
        assert_int_equal(policy_of[100], 1);
        assert_int_equal(prio_of[101], 10);
        ret(req("{\"execute\":\"sched\",\"arguments\":{\"tid\":101,\"policy\":\"idle\"}}"));
        assert_int_equal(policy_of[101], 5);

        r = req("{\"execute\":\"stats\"}");
        assert_int_equal(json_get(&reply, ret(r), "held_nice")->integer, 1);
        assert_int_equal(json_get(&reply, ret(r), "held_sched")->integer, 2);

        r = req("{\"execute\":\"release\"}");
        assert_int_equal(json_get(&reply, ret(r), "restored")->integer, 3);
        assert_int_equal(nice_of[100], 0);
        assert_int_equal(nice_of[101], 3);
        assert_int_equal(policy_of[100], 0);
        assert_int_equal(policy_of[101], 0);
        assert_int_equal(prio_of[101], 0);
        stop_agent();
}

static void test_lease(void **state) {
        (void) state;
        start();
        ret(req("{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}"));
        ret(req("{\"execute\":\"nice\",\"arguments\":{\"pid\":200,\"nice\":19}}"));
        assert_int_equal(agent_deadline(&agent), now + AGENT_DEFAULT_LEASE_USEC);
        const JsonNode *r = req("{\"execute\":\"lease\",\"arguments\":{\"seconds\":2}}");
        assert_true(json_get(&reply, ret(r), "seconds")->number == 2.0);
        assert_int_equal(agent_tick(&agent, now + 1999999), 0);
        assert_true(stopped[100]);
        /* Any request renews. */
        now += 1500000;
        req("{\"execute\":\"stats\"}");
        assert_int_equal(agent_tick(&agent, now + 1999999), 0);
        assert_int_equal(agent_tick(&agent, now + 2000000), 2);
        assert_false(stopped[100]);
        assert_int_equal(nice_of[200], 0);
        assert_int_equal(agent.stats.lease_expiries, 1);
        assert_int_equal(agent_deadline(&agent), UINT64_MAX);

        /* A dead host's request read after the restore (it sat in the port)
         * changes nothing until a host syncs again. */
        expect_error("{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}", "LeaseExpired");
        expect_error("{\"execute\":\"nice\",\"arguments\":{\"pid\":200,\"nice\":19}}", "LeaseExpired");
        assert_false(stopped[100]);
        assert_int_equal(nice_of[200], 0);
        assert_int_equal(agent_deadline(&agent), UINT64_MAX);
        ret(req("{\"execute\":\"stats\"}"));   /* reading is fine */
        ret(req("{\"execute\":\"sync\",\"arguments\":{\"id\":7}}"));

        /* A reused pid (different start time) is not touched. */
        ret(req("{\"execute\":\"stop\",\"arguments\":{\"pid\":200}}"));
        put_stat(200, 200, "sleep", 'S', 0, 0);
        char rel[64], buf[512];
        snprintf(rel, sizeof rel, "200/task/200/stat");
        snprintf(buf, sizeof buf, "200 (other) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999 1 1 1 1 1 1 1 1 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
        PUT(rel, buf);
        assert_int_equal(agent_tick(&agent, now + 10000000), 0);
        assert_true(stopped[200]);
        put_stat(200, 200, "sleep", 'S', 0, 0);
        stopped[200] = 0;

        /* Exit restores too. */
        ret(req("{\"execute\":\"sync\",\"arguments\":{\"id\":8}}"));
        ret(req("{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}"));
        stop_agent();
        assert_false(stopped[100]);
}

/* After a lease restore, a change counts only on a session that synced
 * since: another host's sync does not make a dead host's request good.  A
 * host that died with a stop still unread on its connection (--listen: one
 * connection per host, read in any order) must not stop the process again
 * once a live host has synced on its own connection. */
static void test_lease_sessions(void **state) {
        (void) state;
        start();
        AgentSession dead, live, fresh;
        agent_session_init(&agent, &dead);
        agent_session_init(&agent, &live);
        ret(req_on(&dead, "{\"execute\":\"sync\",\"arguments\":{\"id\":1}}"));
        ret(req_on(&dead, "{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}"));
        assert_true(stopped[100]);
        /* the lease runs out: restored */
        assert_int_equal(agent_tick(&agent, now + AGENT_DEFAULT_LEASE_USEC), 1);
        assert_false(stopped[100]);
        now += AGENT_DEFAULT_LEASE_USEC;

        /* a live host syncs on its own session ... */
        ret(req_on(&live, "{\"execute\":\"sync\",\"arguments\":{\"id\":2}}"));
        /* ... the dead host's stop, read now, still changes nothing */
        const JsonNode *r = req_on(&dead, "{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}");
        assert_non_null(error_class(r));
        assert_string_equal(error_class(r), "LeaseExpired");
        r = req_on(&dead, "{\"execute\":\"nice\",\"arguments\":{\"pid\":200,\"nice\":19}}");
        assert_string_equal(error_class(r), "LeaseExpired");
        assert_false(stopped[100]);
        assert_int_equal(nice_of[200], 0);
        assert_int_equal(agent_deadline(&agent), UINT64_MAX);

        /* a session that began after the restore syncs first too */
        agent_session_init(&agent, &fresh);
        r = req_on(&fresh, "{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}");
        assert_string_equal(error_class(r), "LeaseExpired");

        /* the live host's own changes take */
        ret(req_on(&live, "{\"execute\":\"stop\",\"arguments\":{\"pid\":100}}"));
        assert_true(stopped[100]);
        /* a second expiry: the live host must sync again as well */
        assert_int_equal(agent_tick(&agent, now + AGENT_DEFAULT_LEASE_USEC), 1);
        now += AGENT_DEFAULT_LEASE_USEC;
        r = req_on(&live, "{\"execute\":\"sched\",\"arguments\":{\"pid\":200,\"policy\":\"idle\"}}");
        assert_string_equal(error_class(r), "LeaseExpired");
        ret(req_on(&live, "{\"execute\":\"sync\",\"arguments\":{\"id\":3}}"));
        ret(req_on(&live, "{\"execute\":\"sched\",\"arguments\":{\"pid\":200,\"policy\":\"idle\"}}"));

        agent_session_done(&dead);
        agent_session_done(&live);
        agent_session_done(&fresh);
        stop_agent();
}

static const JsonNode *find_task(const JsonNode *tasks, int tid) {
        for (const JsonNode *t = json_first(&reply, tasks); t; t = json_next(&reply, t))
                if (json_get(&reply, t, "tid")->integer == tid)
                        return t;
        return NULL;
}

static void test_tasks_delta(void **state) {
        (void) state;
        start();
        const JsonNode *v = ret(req("{\"execute\":\"tasks\"}"));
        assert_true(json_get(&reply, v, "full")->boolean);
        assert_int_equal(json_get(&reply, v, "n_threads")->integer, 5);
        const JsonNode *tasks = json_get(&reply, v, "tasks");
        assert_int_equal(tasks->n_children, 5);
        const JsonNode *t = find_task(tasks, 100);
        assert_non_null(t);
        assert_string_equal(json_get(&reply, t, "comm")->str, "we ) ird (");
        assert_string_equal(json_get(&reply, t, "cmdline")->str, "prog --flag x y");
        assert_string_equal(json_get(&reply, t, "state")->str, "R");
        assert_int_equal(json_get(&reply, t, "pid")->integer, 100);
        assert_int_equal(json_get(&reply, t, "cpu_ns")->integer, 12 * (1000000000 / sysconf(_SC_CLK_TCK)));
        assert_int_equal(json_get(&reply, find_task(tasks, 101), "pid")->integer, 100);
        assert_true(json_get(&reply, find_task(tasks, 2), "kthread")->boolean);
        assert_null(json_get(&reply, find_task(tasks, 1), "kthread"));
        char token[64];
        snprintf(token, sizeof token, "%s", json_get(&reply, v, "token")->str);

        /* Nothing changed: an empty delta. */
        char line[256];
        snprintf(line, sizeof line, "{\"execute\":\"tasks\",\"arguments\":{\"since\":\"%s\"}}", token);
        v = ret(req(line));
        assert_false(json_get(&reply, v, "full")->boolean);
        assert_int_equal(json_get(&reply, v, "tasks")->n_children, 0);
        assert_int_equal(json_get(&reply, v, "gone")->n_children, 0);
        assert_int_equal(json_get(&reply, v, "n_threads")->integer, 5);
        snprintf(token, sizeof token, "%s", json_get(&reply, v, "token")->str);

        /* One thread ran, one process exited, one appeared. */
        put_stat_n(100, 101, "worker", 'R', 0, 50, 2);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/200'", root);
        assert_int_equal(system(cmd), 0);
        put_stat(300, 300, "new", 'D', 0, 0);
        snprintf(line, sizeof line, "{\"execute\":\"tasks\",\"arguments\":{\"since\":\"%s\",\"cmdline\":true}}", token);
        v = ret(req(line));
        assert_false(json_get(&reply, v, "full")->boolean);
        tasks = json_get(&reply, v, "tasks");
        assert_int_equal(tasks->n_children, 2);
        assert_non_null(find_task(tasks, 101));
        assert_string_equal(json_get(&reply, find_task(tasks, 300), "state")->str, "D");
        const JsonNode *gone = json_get(&reply, v, "gone");
        assert_int_equal(gone->n_children, 1);
        assert_int_equal(json_first(&reply, gone)->integer, 200);

        /* A stale or foreign token gets the full list. */
        v = ret(req(line));
        assert_true(json_get(&reply, v, "full")->boolean);
        assert_null(json_get(&reply, v, "gone"));
        v = ret(req("{\"execute\":\"tasks\",\"arguments\":{\"since\":\"bogus\",\"cmdline\":false}}"));
        assert_true(json_get(&reply, v, "full")->boolean);
        assert_null(json_get(&reply, find_task(json_get(&reply, v, "tasks"), 100), "cmdline"));
        stop_agent();
        put_stat(200, 200, "sleep", 'S', 0, 0);
}

int main(void) {
        log_set_max_level(LOG_LEVEL_ERR);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ids_and_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_cont, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nice_sched, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lease_sessions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tasks_delta, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
