/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched daemon run CONFIG`, its control commands `daemon status|reload|stop`,
 * and the short `run`, `status`, `reload`. */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "cli/cli.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

const CliOption run_options[] = {
        { "interval", "DURATION", "tick period, 10ms to 10s (a bare number is milliseconds; default: the config's)", true },
        { "timeline", "FILE", "append one JSON line per tick to FILE", true },
        { "ticks", "N", "exit after N ticks", true },
        {},
};

int cmd_run(int argc, char **argv) {
        /* Many hosts (-c repeated, or the config's [hosts]): one loop per
         * host, each with its own rules (CPU contention is local). */
        DaemonOptions o = { .hv = arg.hv, .state_dir = arg.state_dir, .dry_run = arg.dry_run };
        double interval = 0;
        int r = cli_duration_option("interval", 0.001, 0.01, 10, &interval);
        if (r != 0)
                return r;
        if (interval > 0)
                o.interval_ms = (unsigned) (interval * 1000 + 0.5);
        o.timeline = cli_option("timeline");
        const char *ticks = cli_option("ticks");
        if (ticks && (safe_atou(ticks, &o.max_ticks) < 0 || o.max_ticks == 0))
                return cli_usage_error("--ticks %s: expected a number above 0", ticks);
        if (argc > 2)
                return cli_usage_error("usage: xvsched daemon run [CONFIG] [--interval DURATION] [--timeline FILE] [--ticks N]");
        o.config_path = argc == 2 ? argv[1] : "/etc/xvsched/xvsched.conf";
        return daemon_run(&o);
}

/* `xvsched daemon run|status|reload|stop`: the daemon's own noun. */
int cmd_daemon(int argc, char **argv) {
        static const char usage[] = "usage: xvsched daemon run [CONFIG] [--interval DURATION] [--timeline FILE] [--ticks N] | "
                                    "xvsched daemon status|reload|stop";
        if (argc < 2)
                return cli_usage_error("%s", usage);
        if (streq(argv[1], "run"))
                return cmd_run(argc - 1, argv + 1);
        if (!streq(argv[1], "status") && !streq(argv[1], "reload") && !streq(argv[1], "stop"))
                return cli_usage_error("daemon: unknown action '%s' (run, status, reload, stop)", argv[1]);
        for (size_t i = 0; run_options[i].name; i++)
                if (cli_option(run_options[i].name))
                        return cli_usage_error("--%s applies to 'daemon run' only", run_options[i].name);
        if (argc != 2)
                return cli_usage_error("%s", usage);
        return daemon_control(arg.state_dir, argv[1], arg.json);
}

int cmd_check(int argc, char **argv) {
        if (argc != 2)
                return cli_usage_error("usage: xvsched check CONFIG");
        Rules r = {};
        char err[512];
        if (config_parse_file(argv[1], &r, err, sizeof err) < 0)
                return log_error_errno(-EINVAL, "%s", err);
        if (arg.json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "config", json_object_new_string(argv[1]));
                json_object_object_add(o, "domains", json_object_new_int64((int64_t) r.n_domains));
                json_object_object_add(o, "tasks", json_object_new_int64((int64_t) r.n_tasks));
                json_object_object_add(o, "interval_ms", json_object_new_int64(r.interval_ms));
                cli_print_json(o);
        } else
                printf("%s: %zu domains, %zu tasks, every %u ms\n", argv[1], r.n_domains, r.n_tasks, r.interval_ms);
        rules_done(&r);
        return 0;
}

int cmd_status(int argc, char **argv _unused_) {
        if (argc != 1)
                return cli_usage_error("usage: xvsched status (or xvsched daemon status)");
        return daemon_control(arg.state_dir, "status", arg.json);
}

int cmd_reload(int argc, char **argv _unused_) {
        if (argc != 1)
                return cli_usage_error("usage: xvsched reload (or xvsched daemon reload)");
        return daemon_control(arg.state_dir, "reload", arg.json);
}
