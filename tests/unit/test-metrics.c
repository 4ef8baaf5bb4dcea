/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics' text exposition format (src/daemon/metrics.c): names, HELP
 * and TYPE lines, label escaping of untrusted text, cumulative histogram
 * buckets with _sum and _count, the listen address's parser and the config
 * key; and the server itself on a loopback port (404, 405, a published
 * snapshot, a request too large). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/metrics.h"

static MetricsSnapshot *example(void) {
        static MetricsSnapshot s;
        static MetricsDomain doms[2];
        static MetricsTask tasks[2];
        s = (MetricsSnapshot) { .ticks = 42, .interval_seconds = 0.1, .start_time_seconds = 1700000000,
                                .domains = doms, .n_domains = 2, .tasks = tasks, .n_tasks = 2 };
        doms[0] = (MetricsDomain) { .name = "web", .vm = "web", .view = "agent", .control_path = "agent",
                                    .present = true, .view_ok = true, .weight = 200, .cap_cpus = 1.5,
                                    .have_vcpu = true, .vcpu_seconds = 12.5, .steal_scale = 0.75 };
        doms[1] = (MetricsDomain) { .name = "db", .cap_cpus = -1, .steal_scale = 1 };
        tasks[0] = (MetricsTask) { .name = "nginx", .domain = "web", .state = METRICS_TASK_RUNNING, .present = true,
                                   .cpu_seconds = 3.25, .stopped_seconds = 0.5, .has_target = true, .share = 0.6,
                                   .target_share = 0.7, .priority = 80 };
        tasks[1] = (MetricsTask) { .name = "pg", .domain = "db", .state = METRICS_TASK_ABSENT, .priority = 50 };
        return &s;
}

static char *render(const MetricsSnapshot *s) {
        char *text;
        size_t len;
        assert_int_equal(metrics_render(s, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        return text;
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == 0))
                        return true;
        return false;
}

#define assert_line(text, line)                                                  \
        do {                                                                     \
                if (!has_line(text, line))                                       \
                        fail_msg("no line '%s' in:\n%s", line, text);            \
        } while (0)

static void test_names_and_types(void **st) {
        (void) st;
        char *t = render(example());
        assert_line(t, "# TYPE xvsched_task_cpu_seconds_total counter");
        assert_line(t, "# TYPE xvsched_tick_seconds histogram");
        assert_line(t, "# TYPE xvsched_errors_total counter");
        assert_line(t, "# TYPE xvsched_domain_info gauge");
        assert_line(t, "# TYPE xvsched_domain_vcpu_cpu_seconds_total counter");
        assert_line(t, "# TYPE xvsched_task_state gauge");
        assert_line(t, "xvsched_ticks_total 42");
        assert_line(t, "xvsched_interval_seconds 0.1");
        assert_line(t, "xvsched_domain_info{domain=\"web\",vm=\"web\",view=\"agent\",control_path=\"agent\"} 1");
        assert_line(t, "xvsched_domain_weight{domain=\"web\"} 200");
        assert_line(t, "xvsched_domain_cap_cpus{domain=\"web\"} 1.5");
        assert_line(t, "xvsched_domain_vcpu_cpu_seconds_total{domain=\"web\"} 12.5");
        assert_line(t, "xvsched_domain_steal_scale{domain=\"web\"} 0.75");
        assert_line(t, "xvsched_domain_present{domain=\"db\"} 0");
        assert_line(t, "xvsched_task_cpu_seconds_total{domain=\"web\",task=\"nginx\"} 3.25");
        assert_line(t, "xvsched_task_stopped_seconds_total{domain=\"web\",task=\"nginx\"} 0.5");
        assert_line(t, "xvsched_task_share_ratio{domain=\"web\",task=\"nginx\"} 0.6");
        assert_line(t, "xvsched_task_target_share_ratio{domain=\"web\",task=\"nginx\"} 0.7");
        assert_line(t, "xvsched_task_state{domain=\"web\",task=\"nginx\",state=\"running\"} 1");
        assert_line(t, "xvsched_task_state{domain=\"web\",task=\"nginx\",state=\"stopped\"} 0");
        assert_line(t, "xvsched_task_state{domain=\"db\",task=\"pg\",state=\"absent\"} 1");
        assert_line(t, "xvsched_errors_total{kind=\"guest_op\"} 0");
        /* what is not known is left out, not made up */
        assert_null(strstr(t, "xvsched_domain_cap_cpus{domain=\"db\"}"));
        assert_null(strstr(t, "xvsched_domain_weight{domain=\"db\"}"));
        assert_null(strstr(t, "xvsched_domain_vcpu_cpu_seconds_total{domain=\"db\"}"));
        assert_null(strstr(t, "xvsched_task_cpu_seconds_total{domain=\"db\""));
        assert_null(strstr(t, "xvsched_task_share_ratio{domain=\"db\""));

        /* Every sample's family has HELP and TYPE before it, each family
         * once; every line is a comment or NAME[{...}] VALUE. */
        char families[64][80];
        size_t n_families = 0;
        for (char *save = NULL, *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strncmp(line, "# HELP ", 7) == 0) {
                        char name[80];
                        assert_int_equal(sscanf(line + 7, "%79s", name), 1);
                        for (size_t i = 0; i < n_families; i++)
                                assert_string_not_equal(families[i], name);
                        assert_true(n_families < 64);
                        snprintf(families[n_families++], sizeof families[0], "%s", name);
                        continue;
                }
                if (strncmp(line, "# TYPE ", 7) == 0) {
                        assert_true(n_families > 0);
                        assert_int_equal(strncmp(line + 7, families[n_families - 1], strlen(families[n_families - 1])), 0);
                        continue;
                }
                assert_true(n_families > 0);
                const char *fam = families[n_families - 1];
                assert_int_equal(strncmp(line, fam, strlen(fam)), 0);
                assert_int_equal(strncmp(line, "xvsched_", 8), 0);
                const char *sp = strrchr(line, ' ');
                assert_non_null(sp);
                char *end;
                (void) strtod(sp + 1, &end);
                if (*end != 0)
                        fail_msg("not a number at the end of '%s'", line);
        }
        free(t);
}

/* Many hosts: each domain's and task's samples carry host first; one
 * host (host "") none, as test_names_and_types checks. */
static void test_host_label(void **st) {
        (void) st;
        MetricsSnapshot *s = example();
        snprintf(s->domains[0].host, sizeof s->domains[0].host, "h1");
        snprintf(s->tasks[0].host, sizeof s->tasks[0].host, "127.0.0.1:16509");
        char *t = render(s);
        assert_line(t, "xvsched_domain_info{host=\"h1\",domain=\"web\",vm=\"web\",view=\"agent\",control_path=\"agent\"} 1");
        assert_line(t, "xvsched_domain_weight{host=\"h1\",domain=\"web\"} 200");
        assert_line(t, "xvsched_domain_present{domain=\"db\"} 0");
        assert_line(t, "xvsched_task_cpu_seconds_total{host=\"127.0.0.1:16509\",domain=\"web\",task=\"nginx\"} 3.25");
        assert_line(t, "xvsched_task_state{host=\"127.0.0.1:16509\",domain=\"web\",task=\"nginx\",state=\"running\"} 1");
        assert_line(t, "xvsched_task_state{domain=\"db\",task=\"pg\",state=\"absent\"} 1");
        free(t);
        s->domains[0].host[0] = s->tasks[0].host[0] = 0;
}

static void test_escaping(void **st) {
        (void) st;
        MetricsSnapshot *s = example();
        /* a VM's name is untrusted: backslash, quote, newline; and bytes
         * that are not UTF-8 */
        snprintf(s->domains[0].vm, sizeof s->domains[0].vm, "a\\b\"c\nd\xff" "e");
        char *t = render(s);
        assert_line(t, "xvsched_domain_info{domain=\"web\",vm=\"a\\\\b\\\"c\\nd?e\",view=\"agent\",control_path=\"agent\"} 1");
        free(t);

        /* Bounded: a label value is at most METRICS_LABEL_MAX bytes before
         * escaping, and a cut does not split a character. */
        char big[4096];
        memset(big, '"', sizeof big - 1);
        big[sizeof big - 1] = 0;
        char copy[METRICS_LABEL_MAX + 1];
        metrics_label_copy(copy, METRICS_LABEL_MAX, big);
        assert_int_equal(strlen(copy), METRICS_LABEL_MAX);
        memcpy(s->domains[0].vm, copy, sizeof copy);
        t = render(s);
        const char *p = strstr(t, "vm=\"");
        assert_non_null(p);
        size_t n = 0;
        for (p += 4; *p != ',' || p[-1] != '"' || p[-2] == '\\'; p++)
                n++;
        assert_int_equal(n, 2 * METRICS_LABEL_MAX + 1); /* 128 \" and the closing quote */
        free(t);

        char eur[METRICS_LABEL_MAX + 1];
        memset(big, 'x', sizeof big);
        memcpy(big + METRICS_LABEL_MAX - 2, "\xe2\x82\xac", 4); /* € across the bound */
        metrics_label_copy(eur, METRICS_LABEL_MAX, big);
        assert_int_equal(strlen(eur), METRICS_LABEL_MAX - 2);
        metrics_label_copy(eur, METRICS_LABEL_MAX, "\xed\xa0\x80" "ok\xc0\xaf"); /* a surrogate, an overlong '/' */
        assert_string_equal(eur, "???ok??");
        metrics_label_copy(eur, METRICS_LABEL_MAX, "gr\xc3\xbc\xc3\x9f");
        assert_string_equal(eur, "gr\xc3\xbc\xc3\x9f");
}

static void test_histogram(void **st) {
        (void) st;
        MetricsSnapshot *s = example();
        MetricsHistogram *h = &s->phase[METRICS_PHASE_OBSERVE];
        metrics_histogram_observe(h, 0.00005);  /* first bucket */
        metrics_histogram_observe(h, 0.0001);   /* on a bound: that bucket (le) */
        metrics_histogram_observe(h, 0.003);    /* 0.005 */
        metrics_histogram_observe(h, 7);        /* +Inf only */
        metrics_histogram_observe(h, -1);       /* a clock step: 0 */
        char *t = render(s);
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"observe\",le=\"0.0001\"} 3");
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"observe\",le=\"0.00025\"} 3");
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"observe\",le=\"0.0025\"} 3");
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"observe\",le=\"0.005\"} 4");
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"observe\",le=\"1\"} 4");
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"observe\",le=\"+Inf\"} 5");
        assert_line(t, "xvsched_tick_seconds_count{phase=\"observe\"} 5");
        assert_line(t, "xvsched_tick_seconds_sum{phase=\"observe\"} 7.00315");
        assert_line(t, "xvsched_tick_seconds_bucket{phase=\"act\",le=\"+Inf\"} 0");
        assert_line(t, "xvsched_tick_seconds_count{phase=\"decide\"} 0");

        /* cumulative: never decreasing, and +Inf is the count */
        for (const char *ph = "observe"; ph; ph = NULL) {
                double last = -1;
                char key[64];
                snprintf(key, sizeof key, "xvsched_tick_seconds_bucket{phase=\"%s\"", ph);
                size_t seen = 0;
                for (const char *p = strstr(t, key); p; p = strstr(p + 1, key)) {
                        char line[256];
                        snprintf(line, sizeof line, "%.*s", (int) strcspn(p, "\n"), p);
                        double v = strtod(strrchr(line, ' ') + 1, NULL);
                        assert_true(v >= last);
                        last = v;
                        seen++;
                }
                assert_int_equal(seen, METRICS_N_BUCKETS + 1);
                assert_true(last == 5);
        }
        free(t);
        metrics_count_error(METRICS_ERROR_LEVER);
        assert_string_equal(metrics_error_to_string(METRICS_ERROR_GUEST_OP), "guest_op");
}

static void test_address(void **st) {
        (void) st;
        struct sockaddr_storage sa;
        socklen_t len;
        char err[256];
        assert_int_equal(metrics_parse_address("9477", &sa, &len, err, sizeof err), 0);
        assert_int_equal(sa.ss_family, AF_INET);
        assert_int_equal(((struct sockaddr_in *) &sa)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        assert_int_equal(ntohs(((struct sockaddr_in *) &sa)->sin_port), 9477);
        assert_int_equal(metrics_parse_address("localhost:1", &sa, &len, err, sizeof err), 0);
        assert_int_equal(((struct sockaddr_in *) &sa)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        assert_int_equal(metrics_parse_address("0.0.0.0:9477", &sa, &len, err, sizeof err), 0);
        assert_int_equal(((struct sockaddr_in *) &sa)->sin_addr.s_addr, 0);
        assert_int_equal(metrics_parse_address("[::1]:9477", &sa, &len, err, sizeof err), 0);
        assert_int_equal(sa.ss_family, AF_INET6);
        assert_int_equal(len, sizeof(struct sockaddr_in6));
        const char *bad[] = { "", ":", "9477:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1", "host.example:9477",
                              "::1:9477", "[::1]9477", "[::1", "[nope]:1", "1.2.3:80", "127.0.0.1:80x",
                              "127.0.0.1:99999999999999999999" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                err[0] = 0;
                if (metrics_parse_address(bad[i], &sa, &len, err, sizeof err) != -EINVAL)
                        fail_msg("'%s' was taken", bad[i]);
                assert_true(err[0] && !strchr(err, '\n'));
        }

        Rules r = {};
        ConfigDaemon dc = {};
        assert_int_equal(config_parse_string_daemon("[daemon]\nmetrics = 127.0.0.1:9477\n[domain a]\n", "m.conf", &r, &dc,
                                                    err, sizeof err),
                         0);
        assert_string_equal(dc.metrics, "127.0.0.1:9477");
        rules_done(&r);
        config_daemon_done(&dc);
        assert_int_equal(config_parse_string("[daemon]\nmetrics = 9477\n[domain a]\n", "m.conf", &r, err, sizeof err), 0);
        rules_done(&r);
        assert_true(config_parse_string_daemon("[daemon]\nmetrics = 127.0.0.1:http\n[domain a]\n", "m.conf", &r, &dc,
                                               err, sizeof err) < 0);
        assert_null(dc.metrics);
        assert_non_null(strstr(err, "m.conf:2: metrics = 127.0.0.1:http"));
        assert_null(strchr(err, '\n'));

        /* agentless_calls, the other ConfigDaemon key: on unless turned off
         * (a call killed midway is finished by the guard, docs/agentless.md) */
        assert_int_equal(config_parse_string_daemon("[domain a]\n", "a.conf", &r, &dc, err, sizeof err), 0);
        assert_true(dc.agentless_calls);
        rules_done(&r);
        config_daemon_done(&dc);
        assert_int_equal(config_parse_string_daemon("[daemon]\nagentless_calls = no\n[domain a]\n", "a.conf", &r, &dc,
                                                    err, sizeof err),
                         0);
        assert_false(dc.agentless_calls);
        rules_done(&r);
        config_daemon_done(&dc);
        assert_int_equal(config_parse_string_daemon("[daemon]\nagentless_calls = yes\n[domain a]\n", "a.conf", &r, &dc,
                                                    err, sizeof err),
                         0);
        assert_true(dc.agentless_calls);
        rules_done(&r);
        config_daemon_done(&dc);
        assert_true(config_parse_string_daemon("[daemon]\nagentless_calls = maybe\n", "a.conf", &r, &dc, err, sizeof err) < 0);
        assert_non_null(strstr(err, "a.conf:2: agentless_calls = maybe: expected yes or no"));
}

/* ---- the server, on a loopback port ---- */

static int connect_to(unsigned port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct timeval tv = { .tv_sec = 5 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        return fd;
}

/* One request, the whole answer (the server closes: Connection: close). */
static char *http(unsigned port, const char *request) {
        int fd = connect_to(port);
        assert_int_equal(write(fd, request, strlen(request)), (ssize_t) strlen(request));
        size_t cap = 1 << 20, n = 0;
        char *buf = malloc(cap);
        ssize_t k;
        while (n < cap - 1 && (k = read(fd, buf + n, cap - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        close(fd);
        return buf;
}

static void test_server(void **st) {
        (void) st;
        char err[256], addr[64];
        MetricsServer *m = NULL;
        unsigned port = 0;
        /* a free port: try a few */
        for (unsigned p = 20000 + (unsigned) getpid() % 20000, i = 0; i < 50 && !m; i++, p++) {
                snprintf(addr, sizeof addr, "127.0.0.1:%u", p);
                if (metrics_server_start(addr, &m, err, sizeof err) == 0)
                        port = p;
        }
        assert_non_null(m);

        /* the port is taken now: a second server says so in one line */
        MetricsServer *m2 = NULL;
        assert_true(metrics_server_start(addr, &m2, err, sizeof err) < 0);
        assert_non_null(strstr(err, "cannot listen there"));
        assert_null(m2);

        MetricsSnapshot *s = metrics_server_begin(m);
        MetricsTask t = { .name = "job", .domain = "vm\"1", .state = METRICS_TASK_STOPPED, .present = true,
                          .cpu_seconds = 1.5 };
        s->tasks = malloc(sizeof t);
        memcpy(s->tasks, &t, sizeof t);
        s->n_tasks = s->a_tasks = 1;
        s->ticks = 7;
        metrics_server_publish(m);

        char *r = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_non_null(strstr(r, "HTTP/1.1 200"));
        assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
        assert_non_null(strstr(r, "\nxvsched_ticks_total 7\n"));
        assert_non_null(strstr(r, "xvsched_task_cpu_seconds_total{domain=\"vm\\\"1\",task=\"job\"} 1.5\n"));
        free(r);
        r = http(port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_non_null(strstr(r, "HTTP/1.1 404"));
        free(r);
        r = http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
        assert_non_null(strstr(r, "HTTP/1.1 405"));
        assert_non_null(strstr(r, "Allow: GET, HEAD"));
        free(r);
        /* a request larger than the server takes: refused, not buffered */
        size_t big = 64 * 1024;
        char *req = malloc(big + 128);
        int o = snprintf(req, 128, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(req + o, 'a', big);
        strcpy(req + o + big, "\r\n\r\n");
        int fd = connect_to(port);
        (void) !write(fd, req, strlen(req));   /* the server may close before it is all sent */
        char head[64] = "";
        (void) !read(fd, head, sizeof head - 1);
        close(fd);
        free(req);
        assert_true(strstr(head, "HTTP/1.1 431") || strstr(head, "HTTP/1.1 413") || head[0] == 0);
        /* still serving */
        r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
        assert_non_null(strstr(r, " 200 "));
        free(r);
        metrics_server_stop(m);
}

/* A scraper thread against a loop that publishes as fast as it can: every
 * scrape is one whole snapshot (the tick count and the task's figure,
 * written together, agree), never a half-filled one. */
static volatile bool scraping_done;
static unsigned scrape_port;

static void *scraper(void *arg) {
        unsigned *n_ok = arg;
        for (int i = 0; i < 100; i++) {
                char *r = http(scrape_port, "GET /metrics HTTP/1.0\r\n\r\n");
                const char *t = strstr(r, "\nxvsched_ticks_total ");
                const char *c = strstr(r, "\nxvsched_task_cpu_seconds_total{domain=\"d\",task=\"t\"} ");
                if (t && c) {
                        unsigned long a = strtoul(t + strlen("\nxvsched_ticks_total "), NULL, 10);
                        unsigned long b = strtoul(strchr(c, '}') + 2, NULL, 10);
                        if (a != b) {
                                fprintf(stderr, "torn snapshot: ticks %lu, cpu %lu\n", a, b);
                                abort();
                        }
                        (*n_ok)++;
                }
                free(r);
        }
        scraping_done = true;
        return NULL;
}

static void test_server_concurrent(void **st) {
        (void) st;
        char err[256], addr[64];
        MetricsServer *m = NULL;
        for (unsigned p = 40000 + (unsigned) getpid() % 20000, i = 0; i < 50 && !m; i++, p++) {
                snprintf(addr, sizeof addr, "127.0.0.1:%u", p);
                if (metrics_server_start(addr, &m, err, sizeof err) == 0)
                        scrape_port = p;
        }
        assert_non_null(m);
        pthread_t th;
        unsigned n_ok = 0;
        scraping_done = false;
        assert_int_equal(pthread_create(&th, NULL, scraper, &n_ok), 0);
        unsigned long k = 0;
        while (!scraping_done) {
                const MetricsSnapshot *last = metrics_server_last(m);
                MetricsSnapshot *s = metrics_server_begin(m);
                assert_ptr_not_equal(s, last);
                if (s->a_tasks < 1) {
                        s->tasks = calloc(1, sizeof *s->tasks);
                        s->a_tasks = 1;
                }
                s->n_tasks = 1;
                snprintf(s->tasks[0].name, sizeof s->tasks[0].name, "t");
                snprintf(s->tasks[0].domain, sizeof s->tasks[0].domain, "d");
                s->tasks[0].present = true;
                s->ticks = ++k;
                s->tasks[0].cpu_seconds = (double) k;
                metrics_server_publish(m);
                assert_ptr_equal(metrics_server_last(m), s);
        }
        pthread_join(th, NULL);
        assert_int_equal(n_ok, 100);
        assert_true(k > 1);
        metrics_server_stop(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_and_types),
                cmocka_unit_test(test_host_label),
                cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_histogram),
                cmocka_unit_test(test_address),
                cmocka_unit_test(test_server),
                cmocka_unit_test(test_server_concurrent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
