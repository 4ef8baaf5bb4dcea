/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched run CONFIG`, and its control commands `status`, `reload`, `stop`. */

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

int cmd_run(int argc, char **argv) {
        DaemonOptions o = { .hv = arg.hv, .state_dir = arg.state_dir, .dry_run = arg.dry_run };
        for (int i = 1; i < argc; i++) {
                if (strneq(argv[i], "interval=", 9)) {
                        unsigned ms;
                        if (safe_atou(argv[i] + 9, &ms) < 0 || ms < 10 || ms > 10000)
                                return log_error_errno(-EINVAL, "%s: expected interval=MS from 10 to 10000", argv[i]);
                        o.interval_ms = ms;
                } else if (strneq(argv[i], "timeline=", 9))
                        o.timeline = argv[i] + 9;
                else if (strneq(argv[i], "ticks=", 6)) {
                        if (safe_atou(argv[i] + 6, &o.max_ticks) < 0 || o.max_ticks == 0)
                                return log_error_errno(-EINVAL, "%s: expected ticks=N (N > 0)", argv[i]);
                } else if (!o.config_path)
                        o.config_path = argv[i];
                else
                        return log_error_errno(-EINVAL, "run: unexpected argument '%s'", argv[i]);
        }
        if (!o.config_path)
                o.config_path = "/etc/xvsched/xvsched.conf";
        return daemon_run(&o);
}

int cmd_check(int argc, char **argv) {
        if (argc != 2)
                return log_error_errno(-EINVAL, "usage: xvsched check CONFIG");
        Rules r = {};
        char err[512];
        if (config_parse_file(argv[1], &r, err, sizeof err) < 0)
                return log_error_errno(-EINVAL, "%s", err);
        printf("%s: %zu domains, %zu tasks, every %u ms\n", argv[1], r.n_domains, r.n_tasks, r.interval_ms);
        rules_done(&r);
        return 0;
}

int cmd_status(int argc, char **argv _unused_) {
        if (argc != 1)
                return log_error_errno(-EINVAL, "usage: xvsched status");
        return daemon_control(arg.state_dir, "status", arg.json);
}

int cmd_reload(int argc, char **argv _unused_) {
        if (argc != 1)
                return log_error_errno(-EINVAL, "usage: xvsched reload");
        return daemon_control(arg.state_dir, "reload", arg.json);
}
