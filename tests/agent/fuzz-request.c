/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: xvagent's request path (JSON reader, request checks,
 * every command, the writer, lease expiry) against a fixture /proc tree.
 * Side effects go to stub AgentOps: nothing is ever signalled.
 * Oracle: every reply is one line of valid JSON (checked with the agent's own
 * strict reader when it fits its input limit). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "basic/log.h"

static int stub_kill(pid_t pid, int sig, void *u) {
        (void) sig, (void) u;
        return pid == 777 ? -EPERM : 0;
}
static int stub_get_nice(pid_t tid, int *ret, void *u) {
        (void) u;
        *ret = (int) (tid % 5);
        return 0;
}
static int stub_set_nice(pid_t tid, int nice, void *u) {
        (void) tid, (void) nice, (void) u;
        return 0;
}
static int stub_get_sched(pid_t tid, int *p, int *prio, void *u) {
        (void) tid, (void) u;
        *p = 0;
        *prio = 0;
        return 0;
}
static int stub_set_sched(pid_t tid, int p, int prio, void *u) {
        (void) tid, (void) p, (void) prio, (void) u;
        return 0;
}
static const AgentOps stub_ops = { stub_kill, stub_get_nice, stub_set_nice, stub_get_sched, stub_set_sched };

static void put(const char *root, const char *rel, const char *content) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        mkdir(path, 0755);
                        *p = '/';
                }
        FILE *f = fopen(path, "w");
        if (!f)
                abort();
        fputs(content, f);
        fclose(f);
}

#define STAT(tid, comm, st, flags) STATN(tid, comm, st, flags, "1")
#define STATN(tid, comm, st, flags, n) \
        #tid " (" comm ") " st " 1 1 1 0 -1 " flags " 0 0 0 0 5 7 0 0 20 0 " n " 0 100 1 1 1 1 1 1 1 1 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

static char root[64];

static void make_tree(void) {
        strcpy(root, "/tmp/xvagent-fuzz-XXXXXX");
        if (!mkdtemp(root))
                abort();
        put(root, "100/status", "Name:\tx\nTgid:\t100\n");
        put(root, "100/cmdline", "a\0b c\0");
        put(root, "100/stat", STATN(100, "we ) ird (", "R", "0", "2"));
        put(root, "100/task/100/stat", STATN(100, "we ) ird (", "R", "0", "2"));
        put(root, "100/task/101/stat", STATN(101, "t2", "S", "0", "2"));
        put(root, "101/status", "Name:\tx\nTgid:\t100\n");
        put(root, "2/status", "Name:\tk\nTgid:\t2\n");
        put(root, "2/stat", STAT(2, "kthreadd", "S", "2097152"));
        put(root, "2/task/2/stat", STAT(2, "kthreadd", "S", "2097152"));
        put(root, "777/status", "Name:\tx\nTgid:\t777\n");
        put(root, "777/stat", STAT(777, "denied", "S", "0"));
        put(root, "777/task/777/stat", STAT(777, "denied", "S", "0"));
        put(root, "1/status", "Name:\tinit\nTgid:\t1\n");
        put(root, "1/stat", STAT(1, "init", "S", "0"));
        put(root, "1/task/1/stat", STAT(1, "init", "S", "0"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Agent a;
        static AgentSession s;
        static JsonWriter w;
        static JsonDoc check;
        static uint64_t now = 1000000;
        if (!root[0]) {
                log_set_max_level(0);
                make_tree();
                agent_init(&a, &stub_ops, NULL, root, now);
                agent_session_init(&a, &s);
                jw_init(&w, AGENT_MAX_REPLY);
        }
        const char *p = (const char *) data, *end = p + size;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                jw_reset(&w);
                agent_handle_line(&a, &s, p, len, now, &w);
                if (jw_error(&w) || w.len == 0 || w.buf[w.len - 1] != '\n')
                        abort();
                const char *r = w.buf;
                size_t rl = w.len - 1;
                if (*r == '\xff')
                        r++, rl--;
                if (memchr(r, '\n', rl))
                        abort();
                if (rl <= JSON_MAX_INPUT && json_parse(&check, r, rl) < 0) {
                        fprintf(stderr, "invalid reply: %.*s (%s)\n", (int) rl, r, check.error);
                        abort();
                }
                now += 700000;
                agent_tick(&a, now);
                p += len + (nl ? 1 : 0);
        }
        return 0;
}
