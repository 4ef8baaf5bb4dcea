/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "basic/time-util.h"
#include "cli/cli.h"
#include "host/sched.h"
#include "hv/hv-libvirt-events.h"

int cli_usage_error(const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        log_error("%s", buf);
        return CLI_EXIT_USAGE;
}

int cli_duration_option(const char *name, double bare_unit_s, double min_s, double max_s, double *ret) {
        const char *v = cli_option(name);
        double d;
        if (!v)
                return 0;
        if (parse_seconds(v, bare_unit_s, &d) < 0 || d < min_s || d > max_s)
                return cli_usage_error("--%s %s: expected a duration from %g s to %g s (5s, 500ms; a bare number is %s)",
                                       name, v, min_s, max_s, bare_unit_s == 1 ? "seconds" : "milliseconds");
        *ret = d;
        return 0;
}

int cli_discover(DomainList *ret) {
        _cleanup_free_ char *note = NULL;
        _cleanup_(hv_strv_freep) char **failed = NULL;
        /* libvirt's keepalive: a call to a host that goes silent ends (docs/hosts.md) */
        (void) hv_libvirt_events_start();
        int r = hv_discover_hosts(&arg.hv, ret, &note, &failed);
        /* Many hosts: one line per host that failed; the others are listed. */
        for (size_t i = 0; r >= 0 && failed && failed[i]; i++) {
                log_error("cannot reach %s", failed[i]);
                arg.hosts_failed = true;
        }
        if (r == -ENOTCONN)
                return log_error_errno(r, "cannot reach %s%s%s", arg.hv.backend ? arg.hv.backend : "the hypervisor",
                                       arg.hv.libvirt_uri ? " at " : "", arg.hv.libvirt_uri ? arg.hv.libvirt_uri : "");
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "%s%s%s: no answer within %d ms", arg.hv.backend ? arg.hv.backend : "libvirt",
                                       arg.hv.libvirt_uri ? " at " : "", arg.hv.libvirt_uri ? arg.hv.libvirt_uri : "",
                                       arg.hv.connect_timeout_ms > 0 ? arg.hv.connect_timeout_ms : HV_CONNECT_TIMEOUT_MS);
        if (r == -ESRCH)
                return log_error_errno(r, "a local domain's process does not exist");
        if (r < 0)
                return log_error_errno(r, "discovery failed: %m");
        if (note)
                log_debug("%s", note);
        return 0;
}

/* NAME@HOST (many hosts): the one domain NAME on HOST (as the HOST column
 * says it), NULL when there is none or more than one. */
static Domain *find_on_host(const DomainList *l, const char *spec) {
        const char *at = strrchr(spec, '@');
        if (!at || at == spec || !at[1])
                return NULL;
        Domain *found = NULL;
        for (size_t i = 0; i < l->n; i++) {
                char host[256];
                hv_domain_host(l->domains[i], host, sizeof host);
                if (strlen(l->domains[i]->name) != (size_t) (at - spec) || !strneq(l->domains[i]->name, spec, (size_t) (at - spec)) ||
                    !streq(host, at + 1))
                        continue;
                if (found)
                        return NULL;
                found = l->domains[i];
        }
        return found;
}

Domain *cli_find_domain(const DomainList *l, const char *name) {
        if (domain_list_count(l, name) > 1) {
                char which[512] = "";
                for (size_t i = 0; i < l->n; i++)
                        if (streq(l->domains[i]->name, name)) {
                                char host[128];
                                hv_domain_host(l->domains[i], host, sizeof host);
                                snprintf(which + strlen(which), sizeof which - strlen(which), "%s%s pid %d on %s",
                                         which[0] ? ", " : "", l->domains[i]->backend, (int) l->domains[i]->pid, host);
                        }
                log_error("%zu domains are named '%s' (%s): rename one, pick a backend with -b, or name one as NAME@HOST",
                          domain_list_count(l, name), name, which);
                return NULL;
        }
        Domain *d = domain_list_find(l, name);
        if (d)
                return d;
        d = find_on_host(l, name);
        if (d)
                return d;
        char known[1024] = "";
        for (size_t i = 0; i < l->n; i++) {
                size_t len = strlen(known);
                snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", l->domains[i]->name);
        }
        log_error("no domain named '%s' (known: %s)", name, l->n ? known : "none");
        return NULL;
}

int cli_discover_one(const char *name, DomainList *l, Domain **ret) {
        *l = (DomainList) {};
        int r = cli_discover(l);
        if (r < 0)
                return r;
        Domain *d = cli_find_domain(l, name);
        if (!d) {
                domain_list_done(l);
                return -ENOENT;
        }
        *ret = d;
        return 0;
}

void cli_print_json(json_object *o) {
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

/* A thread's CPU time in ns, looked up under the domain's process(es). */
uint64_t cli_thread_cpu_ns(const Domain *d, pid_t tid) {
        uint64_t ns = 0;
        if (d->n_pids == 0)
                (void) thread_cpu_time_ns(d->pid, tid, &ns);
        else
                for (size_t i = 0; i < d->n_pids && ns == 0; i++)
                        (void) thread_cpu_time_ns(d->pids[i], tid, &ns);
        return ns;
}

int cli_measure_cpu(const DomainList *l, unsigned window_ms, double ***ret_pct, double **ret_total) {
        double **pct = calloc(l->n ? l->n : 1, sizeof *pct);
        double *total = calloc(l->n ? l->n : 1, sizeof *total);
        unsigned long long **before = calloc(l->n ? l->n : 1, sizeof *before);
        if (!pct || !total || !before) {
                free(pct);
                free(total);
                free(before);
                return -ENOMEM;
        }
        for (size_t i = 0; i < l->n; i++) {
                const Domain *d = l->domains[i];
                pct[i] = calloc(d->n_threads ? d->n_threads : 1, sizeof **pct);
                before[i] = calloc(d->n_threads ? d->n_threads : 1, sizeof **before);
                for (size_t t = 0; before[i] && t < d->n_threads; t++)
                        before[i][t] = cli_thread_cpu_ns(d, d->threads[t].tid);
        }
        double t0 = ((double) now_nsec() / 1e9);
        nanosleep(&(struct timespec) { .tv_sec = window_ms / 1000, .tv_nsec = (long) (window_ms % 1000) * 1000000L }, NULL);
        double elapsed = ((double) now_nsec() / 1e9) - t0;
        for (size_t i = 0; i < l->n; i++) {
                const Domain *d = l->domains[i];
                for (size_t t = 0; pct[i] && before[i] && t < d->n_threads; t++) {
                        unsigned long long after = cli_thread_cpu_ns(d, d->threads[t].tid);
                        double p = after >= before[i][t] ? (double) (after - before[i][t]) / 1e9 / elapsed * 100.0 : 0;
                        pct[i][t] = p;
                        total[i] += p;
                }
                free(before[i]);
        }
        free(before);
        *ret_pct = pct;
        *ret_total = total;
        return 0;
}

void cli_free_cpu(const DomainList *l, double **pct, double *total) {
        if (pct)
                for (size_t i = 0; i < l->n; i++)
                        free(pct[i]);
        free(pct);
        free(total);
}
