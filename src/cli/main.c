/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvsched: system-wide process priorities across virtual machines.
 * This file holds the global options and the command table. */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "cli/cli.h"
#include "lever/lever.h"

CliOptions arg = {
        .hv = HV_OPTIONS_DEFAULT,
        .thread_mask = THREAD_MASK_ALL,
        .window_ms = 250,
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc _unused_, char **argv _unused_) {
        printf("xvsched %s\n", XVSCHED_VERSION);
        return 0;
}

static const Command commands[] = {
        { "list", "", "list every domain with its threads and levers", cmd_list },
        { "show", "DOMAIN", "one domain in detail: threads, classes, levers, CPU use", cmd_show },
        { "set", "DOMAIN KEY=VALUE...", "change levers, all or nothing (nice rt cpus weight cap mems memory ioweight)", cmd_set },
        { "reset", "DOMAIN|--all", "restore every value xvsched changed", cmd_reset },
        { "run", "[CONFIG] [interval=MS] [timeline=FILE]", "the policy loop: enforce the rules of CONFIG", cmd_run },
        { "status", "", "the running daemon's rules, tasks, states and shares", cmd_status },
        { "reload", "", "make the daemon read its config again (keeps the old rules on error)", cmd_reload },
        { "timeline", "FILE [svg=OUT|png=OUT]", "render the daemon's timeline as text and a picture", cmd_timeline },
        { "check", "CONFIG", "parse a config file and report the first problem", cmd_check },
        { "ps", "DOMAIN [via=agent|vmi|auto]", "guest processes, through the agent or by introspection", cmd_ps },
        { "stop", "[DOMAIN PID|COMM [for=S]]", "stop a guest process (held while this runs), or, alone, the daemon", cmd_stop },
        { "cont", "DOMAIN PID|COMM", "resume a stopped guest process", cmd_cont },
        { "nice", "DOMAIN PID|COMM N [for=S]", "renice a guest process, held while this runs", cmd_nice },
        { "version", "", "print the version", cmd_version },
        { "help", "", "this help", cmd_help },
};

static int cmd_help(int argc _unused_, char **argv _unused_) {
        printf("Usage: xvsched [OPTIONS] COMMAND [ARGS]\n\n"
               "System-wide process priorities across virtual machines.\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                char left[64];
                snprintf(left, sizeof left, "%s %s", commands[i].name, commands[i].usage);
                printf("  %-28s %s\n", left, commands[i].summary);
        }
        printf("\nOptions:\n"
               "  -c, --connect=URI        libvirt URI (default: libvirt's default, qemu:///system as root)\n"
               "  -b, --backend=NAME       only this discovery backend: libvirt, qmp, local\n"
               "  -l, --local=NAME=SPEC    treat a cgroup (cgroup:/path) or a process tree (pid:PID) as a domain;\n"
               "                           ,agent=PATH names its xvagent socket\n"
               "      --domains=FILE       read local domain specs from FILE (one NAME=SPEC per line, # comments)\n"
               "  -t, --threads=CLASSES    thread levers act on: vcpu, emulator, io, all (default all)\n"
               "  -j, --json               JSON output\n"
               "  -n, --dry-run            say what would change, change nothing\n"
               "      --rt-force           set rt= even with RT throttling off or RT threads on every CPU\n"
               "  -w, --window=MS          CPU usage measurement window (default 250)\n"
               "      --state-dir=DIR      where the undo journal lives (default $XVSCHED_STATE_DIR or /run/xvsched)\n"
               "      --cgroup-root=DIR    cgroup hierarchy root (default /sys/fs/cgroup)\n"
               "  -v, --verbose            debug messages\n"
               "  -h, --help               this help\n"
               "\nSee xvsched(1).\n");
        return 0;
}

static char **local_specs;
static size_t n_local_specs;

static int add_local_spec(const char *spec, const char *where) {
        _cleanup_free_ char *name = NULL, *kind = NULL, *a = NULL;
        if (hv_local_spec_parse(spec, &name, &kind, &a, NULL) < 0)
                return log_error_errno(-EINVAL, "%s: invalid local domain '%s' (expected NAME=cgroup:/path or "
                                                "NAME=pid:PID, optionally with ,agent=/path/of/socket)",
                                       where, spec);
        char **n = realloc(local_specs, (n_local_specs + 1) * sizeof *n);
        if (!n)
                return log_error_errno(-ENOMEM, "out of memory");
        local_specs = n;
        local_specs[n_local_specs] = strdup(spec);
        if (!local_specs[n_local_specs])
                return log_error_errno(-ENOMEM, "out of memory");
        n_local_specs++;
        return 0;
}

static int read_domains_file(const char *path) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(path, 1 << 20, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "cannot read %s: %m", path);
        unsigned line = 0;
        for (char *p = text; p && *p;) {
                char *nl = strchr(p, '\n');
                if (nl)
                        *nl = 0;
                line++;
                char *s = strstrip(p);
                if (*s && *s != '#') {
                        char where[300];
                        snprintf(where, sizeof where, "%s:%u", path, line);
                        r = add_local_spec(s, where);
                        if (r < 0)
                                return r;
                }
                p = nl ? nl + 1 : NULL;
        }
        return 0;
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_STATE_DIR = 0x100, ARG_CGROUP_ROOT, ARG_DOMAINS, ARG_ALL, ARG_RT_FORCE };
        static const struct option options[] = {
                { "connect", required_argument, NULL, 'c' },
                { "backend", required_argument, NULL, 'b' },
                { "local", required_argument, NULL, 'l' },
                { "domains", required_argument, NULL, ARG_DOMAINS },
                { "threads", required_argument, NULL, 't' },
                { "json", no_argument, NULL, 'j' },
                { "dry-run", no_argument, NULL, 'n' },
                { "window", required_argument, NULL, 'w' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "cgroup-root", required_argument, NULL, ARG_CGROUP_ROOT },
                { "all", no_argument, NULL, ARG_ALL },
                { "rt-force", no_argument, NULL, ARG_RT_FORCE },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c, r;
        while ((c = getopt_long(argc, argv, "c:b:l:t:jnw:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg.hv.libvirt_uri = optarg;
                        break;
                case 'b':
                        if (!hv_backend_by_name(optarg))
                                return log_error_errno(-EINVAL, "--backend=%s: unknown backend (known: libvirt, qmp, local)", optarg);
                        arg.hv.backend = optarg;
                        break;
                case 'l':
                        r = add_local_spec(optarg, "--local");
                        if (r < 0)
                                return r;
                        break;
                case ARG_DOMAINS:
                        r = read_domains_file(optarg);
                        if (r < 0)
                                return r;
                        break;
                case 't':
                        if (thread_mask_from_string(optarg, &arg.thread_mask) < 0)
                                return log_error_errno(-EINVAL, "--threads=%s: expected vcpu, emulator, io or all (comma-separated)", optarg);
                        arg.threads_given = true;
                        break;
                case 'j':
                        arg.json = true;
                        break;
                case 'n':
                        arg.dry_run = true;
                        break;
                case 'w':
                        if (safe_atou(optarg, &arg.window_ms) < 0 || arg.window_ms < 10 || arg.window_ms > 60000)
                                return log_error_errno(-EINVAL, "--window=%s: expected milliseconds from 10 to 60000", optarg);
                        break;
                case ARG_STATE_DIR:
                        arg.state_dir = optarg;
                        break;
                case ARG_CGROUP_ROOT:
                        arg.hv.cgroup_root = optarg;
                        break;
                case ARG_ALL:
                        arg.all = true;
                        break;
                case ARG_RT_FORCE:
                        arg.rt_force = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        return cmd_help(0, NULL), 0;
                default:
                        return -EINVAL;
                }
        arg.hv.local_specs = local_specs;
        arg.hv.n_local_specs = n_local_specs;
        return 1;
}

int main(int argc, char **argv) {
        /* Before anything is opened: no lock or pipe on fd 0-2 (a guard
         * keeps fd 2 as its stderr). */
        if (fd_ensure_std() < 0)
                return 1;
        log_set_program("xvsched");

        /* GNU getopt permutes: options may come before or after the
         * command ("xvsched set web weight=400 --json"); a negative number
         * as an argument needs "--" before it. */
        int r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 1 : 0;
        int cargc = argc - optind;
        char **cargv = argv + optind;
        if (cargc == 0) {
                cmd_help(0, NULL);
                return 1;
        }

        /* Unique prefix match, like bpftool. */
        const Command *cmd = NULL;
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (streq(commands[i].name, cargv[0])) {
                        cmd = &commands[i];
                        break;
                }
                if (strneq(commands[i].name, cargv[0], strlen(cargv[0]))) {
                        if (cmd) {
                                log_error("'%s' is ambiguous (%s, %s, ...)", cargv[0], cmd->name, commands[i].name);
                                return 1;
                        }
                        cmd = &commands[i];
                }
        }
        if (!cmd) {
                log_error("unknown command '%s' (try 'xvsched help')", cargv[0]);
                return 1;
        }
        optind = 0; /* commands may parse their own options */
        r = cmd->run(cargc, cargv);
        for (size_t i = 0; i < n_local_specs; i++)
                free(local_specs[i]);
        free(local_specs);
        return r < 0 ? 1 : r;
}
