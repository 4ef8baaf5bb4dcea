/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched route list|disable|enable`: the per-kernel verdicts on the
 * agentless control routes (src/vmi/routes.h, docs/agentless.md "Routes
 * disabled per kernel"), and what `xvsched list --routes` shows of them. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "cli/cli.h"
#include "lever/journal.h"
#include "vmi/mem.h"
#include "vmi/routes.h"
#include "vmi/vmi.h"

const CliOption route_options[] = {
        { "why", "TEXT", "disable (required), enable: the reason shown with the route (printable ASCII, at most 256 bytes)", false },
        { "source", "NAME", "disable, enable: who decided (default manual; scripts/soak-kcall.sh: soak-kcall)", false },
        {},
};

const CliOption list_options[] = {
        { "routes", NULL, "also read each guest's kernel release from its memory and show the agentless routes' "
                          "verdicts there (attaches introspection; never pauses a VM)", false },
        {},
};

static void fmt_when(int64_t when, char *buf, size_t size) {
        time_t t = (time_t) when;
        struct tm tm;
        if (when <= 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "-");
}

static int route_list(void) {
        RouteStore s;
        char err[512];
        const char *dir = route_state_dir(arg.state_dir);
        int r = route_store_load(dir, &s, err, sizeof err);
        if (r < 0)
                log_error("%s", err);   /* one line; listed as empty */
        if (arg.json) {
                json_object *a = json_object_new_array();
                for (size_t i = 0; i < s.n; i++) {
                        const RouteEntry *e = &s.e[i];
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "kernel", json_object_new_string(e->kernel));
                        json_object_object_add(o, "route", json_object_new_string(e->route));
                        json_object_object_add(o, "verdict", json_object_new_string(route_verdict_to_string(e->verdict)));
                        json_object_object_add(o, "reason", json_object_new_string(e->reason));
                        json_object_object_add(o, "when", json_object_new_int64(e->when));
                        json_object_object_add(o, "source", json_object_new_string(e->source));
                        json_object_array_add(a, o);
                }
                cli_print_json(a);
        } else {
                printf("%-28s %-26s %-8s %-20s %-12s %s\n", "KERNEL", "ROUTE", "VERDICT", "WHEN", "SOURCE", "REASON");
                for (size_t i = 0; i < s.n; i++) {
                        const RouteEntry *e = &s.e[i];
                        char when[32];
                        fmt_when(e->when, when, sizeof when);
                        printf("%-28s %-26s %-8s %-20s %-12s %s\n", e->kernel, e->route,
                               route_verdict_to_string(e->verdict), when, e->source[0] ? e->source : "-",
                               e->reason[0] ? e->reason : "-");
                }
        }
        route_store_done(&s);
        return r < 0 ? CLI_EXIT_FAILURE : 0;
}

/* disable/enable: checked in full before anything is written; the state
 * directory opened as the journal's (owned by us, no symlink); a malformed
 * routes.json is refused, not overwritten. */
static int route_set(int argc, char **argv, RouteVerdict verdict) {
        const char *verb = argv[1];
        if (argc != 4)
                return cli_usage_error("usage: xvsched route %s ROUTE KERNEL%s", verb,
                                       verdict == ROUTE_VERDICT_DISABLED ? " --why TEXT" : " [--why TEXT]");
        const char *route = argv[2], *kernel = argv[3], *why = cli_option("why"), *source = cli_option("source");
        if (!route_name_known(route))
                return cli_usage_error("route %s: unknown route '%.64s' (known: %s)", verb, route, ROUTE_KCALL);
        if (!route_kernel_valid(kernel))
                return cli_usage_error("route %s: '%.80s' is not a kernel release (1 to %d of A-Z a-z 0-9 . _ + ~ -)",
                                       verb, kernel, ROUTE_KERNEL_MAX);
        if (verdict == ROUTE_VERDICT_DISABLED && (!why || !*why))
                return cli_usage_error("route disable: --why TEXT is required (the reason shown with the route)");
        if (why && !route_text_valid(why, ROUTE_REASON_MAX))
                return cli_usage_error("route %s: --why: at most %d printable ASCII bytes, no control characters", verb,
                                       ROUTE_REASON_MAX);
        if (source && (!*source || !route_text_valid(source, ROUTE_SOURCE_MAX) || strchr(source, ' ')))
                return cli_usage_error("route %s: --source: 1 to %d printable ASCII bytes, no spaces", verb,
                                       ROUTE_SOURCE_MAX);
        RouteEntry e = { .verdict = verdict, .when = (int64_t) time(NULL) };
        snprintf(e.kernel, sizeof e.kernel, "%s", kernel);
        snprintf(e.route, sizeof e.route, "%s", route);
        snprintf(e.reason, sizeof e.reason, "%s", why ? why : "enabled by hand");
        snprintf(e.source, sizeof e.source, "%s", source ? source : "manual");
        if (arg.dry_run) {
                printf("would mark %s %s on %s\n", route, route_verdict_to_string(verdict), kernel);
                return 0;
        }

        const char *dir = route_state_dir(arg.state_dir);
        _cleanup_close_ int fd = -EBADF;
        int r = journal_state_dir_open(dir, &fd);
        if (r < 0)
                return log_error_errno(r, "cannot use the state directory %s: %s", dir,
                                       r == JOURNAL_UNSAFE_DIR ? "not a directory owned by us and writable only by us"
                                                               : strerror(-r));
        /* One writer at a time (the soak script and a user, say). */
        _cleanup_close_ int lk = openat(fd, "routes.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (lk < 0 || lockf(lk, F_LOCK, 0) < 0)
                return log_error_errno(-errno, "cannot lock %s/routes.lock: %m", dir);
        RouteStore s;
        char err[512];
        r = route_store_load(dir, &s, err, sizeof err);
        if (r < 0)
                return log_error_errno(r, "%s (nothing changed; fix or remove it first)", err);
        r = route_store_set(&s, &e);
        if (r >= 0)
                r = route_store_save_at(fd, &s);
        route_store_done(&s);
        if (r < 0)
                return log_error_errno(r, "cannot write %s/%s: %s (nothing changed)", dir, ROUTE_FILE, strerror(-r));
        printf("%s %s on %s%s%s\n", route, verdict == ROUTE_VERDICT_DISABLED ? "disabled" : "enabled", kernel,
               why ? ": " : "", why ? why : "");
        return 0;
}

int cmd_route(int argc, char **argv) {
        if (argc < 2)
                return cli_usage_error("usage: xvsched route list|disable ROUTE KERNEL --why TEXT|enable ROUTE KERNEL");
        if ((cli_option("why") || cli_option("source")) && streq(argv[1], "list"))
                return cli_usage_error("route list: --why and --source belong to disable and enable");
        if (streq(argv[1], "list")) {
                if (argc != 2)
                        return cli_usage_error("route list takes no arguments");
                return route_list();
        }
        if (streq(argv[1], "disable"))
                return route_set(argc, argv, ROUTE_VERDICT_DISABLED);
        if (streq(argv[1], "enable"))
                return route_set(argc, argv, ROUTE_VERDICT_OK);
        return cli_usage_error("route: unknown action '%.64s' (list, disable, enable)", argv[1]);
}

void cli_route_status(const Domain *d, CliRouteStatus *ret) {
        *ret = (CliRouteStatus) {};
        snprintf(ret->kernel, sizeof ret->kernel, "unknown");
        if (d->remote || d->pid <= 0 || streq(d->backend, "local")) {
                snprintf(ret->status, sizeof ret->status, "no guest memory here");
                return;
        }
        /* Read-only, no QMP: nothing pauses the VM. */
        VmiMem *mem = NULL;
        Vmi *v = NULL;
        int r = vmi_mem_open_process(d->pid, NULL, true, &mem);
        if (r >= 0) {
                VmiOptions o = { .max_cpus = (int) domain_count_class(d, THREAD_VCPU) };
                r = vmi_attach(mem, &o, &v);
        }
        if (r >= 0)
                r = vmi_kernel_release(v, ret->kernel);
        if (r < 0) {
                const char *why = v ? vmi_last_error(v) : vmi_last_error(NULL);
                snprintf(ret->status, sizeof ret->status, "kernel not readable (%s)", why && *why ? why : strerror(-r));
        } else {
                ret->readable = true;
                RouteEntry e;
                char err[512];
                int k = route_verdict_lookup(arg.state_dir, ROUTE_KCALL, ret->kernel, &e, err, sizeof err);
                if (k <= 0 && err[0])
                        snprintf(ret->status, sizeof ret->status, "not soaked (%.300s)", err);
                else if (k <= 0)
                        snprintf(ret->status, sizeof ret->status, "not soaked");
                else if (e.verdict == ROUTE_VERDICT_DISABLED) {
                        ret->disabled = true;
                        snprintf(ret->status, sizeof ret->status, "disabled: %s", e.reason);
                } else
                        snprintf(ret->status, sizeof ret->status, "ok");
                if (k > 0)
                        snprintf(ret->reason, sizeof ret->reason, "%s", e.reason);
                ret->soaked = k > 0;
        }
        vmi_free(v);
        vmi_mem_free(mem);
}
