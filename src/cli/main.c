/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xvsched: system-wide process priorities across virtual machines.
 * This file holds the global options and the command table. */

#include <assert.h>
#include <getopt.h>
#include <signal.h>
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
static int cmd_completion(int argc, char **argv);

static const CliOption no_options[] = { {} };

/* The command table: help, option parsing and the bash completion all come
 * from it.  "run", "status" and "reload" are short for "daemon ..." ("stop"
 * alone is not: it is the guest process command, and refuses without one). */
static const Command commands[] = {
        { "list", "", "list every domain with its threads and levers", cmd_list, list_options, true },
        { "show", "DOMAIN", "one domain in detail: threads, classes, levers, CPU use", cmd_show, no_options, true },
        { "set", "DOMAIN KEY=VALUE...", "change levers, all or nothing (nice rt cpus weight cap mems memory ioweight idle)", cmd_set, no_options, true },
        { "reset", "DOMAIN|--all", "restore every value xvsched changed", cmd_reset, no_options, true },
        { "daemon", "run [CONFIG]|status|reload|stop", "the policy daemon: run it, ask it for its state, reload or stop it", cmd_daemon, run_options, true },
        { "run", "[CONFIG]", "short for 'daemon run': enforce the rules of CONFIG", cmd_run, run_options, false },
        { "status", "", "short for 'daemon status': the running daemon's rules, tasks, states and shares", cmd_status, no_options, true },
        { "reload", "", "short for 'daemon reload': read the config again (keeps the old rules on error)", cmd_reload, no_options, true },
        { "partition", "create|add|remove|move|list|delete [NAME] [DOMAIN...]", "named sets of host CPUs (and memory nodes) that groups of domains share, movable at run time", cmd_partition, partition_options, true },
        { "route", "list|disable|enable ROUTE KERNEL", "the agentless control routes' verdicts per guest kernel (a route disabled on a kernel is not used there)", cmd_route, route_options, true },
        { "top", "", "a live view: domains, their levers and watched tasks (q quits)", cmd_top, top_options, false },
        { "timeline", "FILE", "render the daemon's timeline as text and a picture", cmd_timeline, timeline_options, false },
        { "check", "CONFIG", "parse a config file and report the first problem", cmd_check, no_options, true },
        { "ps", "DOMAIN", "guest processes, through the agent or by introspection", cmd_ps, ps_options, true },
        { "stop", "DOMAIN PID|COMM", "stop a guest process, held while this runs", cmd_stop, hold_options, false },
        { "cont", "DOMAIN PID|COMM", "resume a stopped guest process", cmd_cont, cont_options, false },
        { "nice", "DOMAIN PID|COMM N", "renice a guest process, held while this runs", cmd_nice, hold_options, false },
        { "completion", "bash", "print a bash completion script", cmd_completion, no_options, false },
        { "version", "", "print the version", cmd_version, no_options, false },
        { "help", "", "this help", cmd_help, no_options, false },
};

static int cmd_help(int argc _unused_, char **argv _unused_) {
        printf("Usage: xvsched [OPTIONS] COMMAND [ARGS] [COMMAND OPTIONS]\n\n"
               "System-wide process priorities across virtual machines.\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                char left[64];
                snprintf(left, sizeof left, "%s %s", commands[i].name, commands[i].usage);
                printf("  %-38s %s\n", left, commands[i].summary);
        }
        printf("\nOptions (before or after the command; 'xvsched COMMAND --help' lists a command's own):\n"
               "  -c, --connect=URI        libvirt URI (default: libvirt's default, qemu:///system as root);\n"
               "                           repeat it for many hosts (each row says its host)\n"
               "      --connect-timeout=S  a host that does not answer within S seconds is skipped (default 5)\n"
               "  -b, --backend=NAME       only this discovery backend: libvirt, qmp, local\n"
               "  -l, --local=NAME=SPEC    treat a cgroup (cgroup:/path) or a process tree (pid:PID) as a domain;\n"
               "                           ,agent=PATH names its xvagent socket, a last ,qga=PATH its qemu-ga socket\n"
               "      --domains=FILE       read local domain specs from FILE (one NAME=SPEC per line, # comments)\n"
               "  -t, --threads=CLASSES    thread levers act on: vcpu, emulator, io, all (default all)\n"
               "  -j, --json               JSON output\n"
               "  -n, --dry-run            say what would change, change nothing\n"
               "      --all                reset: every domain\n"
               "      --rt-force           set rt= even with RT throttling off or RT threads on every CPU\n"
               "  -w, --window=MS          CPU usage measurement window (default 250)\n"
               "      --state-dir=DIR      where the undo journal lives (default $XVSCHED_STATE_DIR or /run/xvsched)\n"
               "      --cgroup-root=DIR    cgroup hierarchy root (default /sys/fs/cgroup)\n"
               "  -v, --verbose            debug messages\n"
               "  -V, --version            print the version\n"
               "  -h, --help               this help\n"
               "\nExit status: 0 success, 1 failure, 2 usage error.\nSee xvsched(1).\n");
        return 0;
}

static void command_help(const Command *cmd) {
        printf("Usage: xvsched [OPTIONS] %s%s%s%s\n\n%s\n\nOptions:\n", cmd->name, *cmd->usage ? " " : "", cmd->usage,
               cmd->options && cmd->options[0].name ? " [COMMAND OPTIONS]" : "", cmd->summary);
        for (size_t i = 0; cmd->options && cmd->options[i].name; i++) {
                char left[64];
                snprintf(left, sizeof left, "--%s%s%s", cmd->options[i].name, cmd->options[i].arg ? " " : "",
                         cmd->options[i].arg ?: "");
                printf("  %-28s %s\n", left, cmd->options[i].help);
        }
        if (cmd->json)
                printf("  %-28s %s\n", "-j, --json", "JSON output");
        printf("  %-28s %s\n"
               "\nThe global options (xvsched --help) may come before or after the command.\n"
               "Exit status: 0 success, 1 failure, 2 usage error.\n", "-h, --help", "this help");
}

static char **local_specs;
static size_t n_local_specs;
static char **connect_uris;     /* -c, in order (two or more: many hosts) */
static size_t n_connect_uris;

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

enum { ARG_STATE_DIR = 0x100, ARG_CGROUP_ROOT, ARG_DOMAINS, ARG_ALL, ARG_RT_FORCE, ARG_CONNECT_TIMEOUT, ARG_COMMAND = 0x200 };
static const struct option global_options[] = {
        { "connect", required_argument, NULL, 'c' },
        { "connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT },
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
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        {},
};
#define GLOBAL_SHORT ":c:b:l:t:jnw:vVh"

#define MAX_COMMAND_OPTIONS 8
/* A command option's one-letter form, where the command's habit wants one
 * (top -d, as htop and virt-top spell it). */
static const struct {
        const char *command, *option;
        char letter;
} short_forms[] = {
        { "top", "delay", 'd' },
};
static const Command *current;
static const char *option_values[MAX_COMMAND_OPTIONS];

const char *cli_option(const char *name) {
        for (size_t i = 0; current && current->options && current->options[i].name; i++)
                if (streq(current->options[i].name, name))
                        return option_values[i];
        return NULL;
}

/* getopt_long's '?' or ':': one line naming the option, exit 2. */
static int bad_option(int c, char **argv, const char *where) {
        char shortopt[3] = { '-', (char) optopt, 0 };
        const char *what = c == '?' && optopt > 0 && optopt < 0x100 ? shortopt : argv[optind - 1];
        char prefix[64] = "";
        if (*where)
                snprintf(prefix, sizeof prefix, "%s: ", where);
        where = prefix;
        if (c == ':')
                return cli_usage_error("%soption '%s' needs an argument", where, what);
        return cli_usage_error("%sunknown option '%s' (see 'xvsched %s%s--help')", where, what,
                               current ? current->name : "", current ? " " : "");
}

/* One global option.  Returns 0 to go on, 1 when done (help, version),
 * CLI_EXIT_USAGE or -errno on error. */
static int global_option(int c, const char *value) {
        int r;
        switch (c) {
        case 'c': {
                char **n = realloc(connect_uris, (n_connect_uris + 2) * sizeof *n);
                if (!n)
                        return log_error_errno(-ENOMEM, "out of memory");
                connect_uris = n;
                connect_uris[n_connect_uris++] = (char *) value;
                connect_uris[n_connect_uris] = NULL;
                /* one: that URI as before; many: each host (the first is the default one) */
                arg.hv.libvirt_uri = connect_uris[0];
                arg.hv.libvirt_uris = n_connect_uris > 1 ? connect_uris : NULL;
                arg.hv.n_libvirt_uris = n_connect_uris > 1 ? n_connect_uris : 0;
                return 0;
        }
        case ARG_CONNECT_TIMEOUT: {
                double s;
                if (parse_seconds(value, 1, &s) < 0 || s < 0.1 || s > 300)
                        return cli_usage_error("--connect-timeout=%s: expected a duration from 0.1 s to 300 s", value);
                arg.hv.connect_timeout_ms = (int) (s * 1000 + 0.5);
                return 0;
        }
        case 'b':
                if (!hv_backend_by_name(value))
                        return cli_usage_error("--backend=%s: unknown backend (known: libvirt, qmp, local)", value);
                arg.hv.backend = value;
                return 0;
        case 'l':
                r = add_local_spec(value, "--local");
                return r < 0 ? CLI_EXIT_USAGE : 0;
        case ARG_DOMAINS:
                return read_domains_file(value);
        case 't':
                if (thread_mask_from_string(value, &arg.thread_mask) < 0)
                        return cli_usage_error("--threads=%s: expected vcpu, emulator, io or all (comma-separated)", value);
                arg.threads_given = true;
                return 0;
        case 'j':
                arg.json = true;
                return 0;
        case 'n':
                arg.dry_run = true;
                return 0;
        case 'w':
                if (safe_atou(value, &arg.window_ms) < 0 || arg.window_ms < 10 || arg.window_ms > 60000)
                        return cli_usage_error("--window=%s: expected milliseconds from 10 to 60000", value);
                return 0;
        case ARG_STATE_DIR:
                arg.state_dir = value;
                return 0;
        case ARG_CGROUP_ROOT:
                arg.hv.cgroup_root = value;
                return 0;
        case ARG_ALL:
                arg.all = true;
                return 0;
        case ARG_RT_FORCE:
                arg.rt_force = true;
                return 0;
        case 'v':
                log_set_max_level(LOG_LEVEL_DEBUG);
                return 0;
        case 'V':
                cmd_version(0, NULL);
                return 1;
        case 'h':
                if (current)
                        command_help(current);
                else
                        cmd_help(0, NULL);
                return 1;
        default:
                return CLI_EXIT_USAGE;
        }
}

/* The options before the command: stops at the first non-option. */
static int parse_argv(int argc, char **argv) {
        int c, r;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+" GLOBAL_SHORT, global_options, NULL)) >= 0) {
                if (c == '?' || c == ':')
                        return bad_option(c, argv, "");
                r = global_option(c, optarg);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* The command's own options and the global ones, anywhere after the
 * command (GNU permutation; "--" ends them, needed before a negative
 * number).  Leaves argv[0] (the command) and the positional arguments.
 * An old "KEY=VALUE" spelling of a legacy option is taken with a warning. */
static int parse_command_argv(const Command *cmd, int *argc, char **argv) {
        struct option opts[ELEMENTSOF(global_options) + MAX_COMMAND_OPTIONS];
        char shortopts[sizeof GLOBAL_SHORT + 2 * MAX_COMMAND_OPTIONS] = GLOBAL_SHORT;
        size_t n = 0;
        for (size_t i = 0; cmd->options && cmd->options[i].name; i++) {
                assert(i < MAX_COMMAND_OPTIONS);
                opts[n++] = (struct option) { cmd->options[i].name, cmd->options[i].arg ? required_argument : no_argument,
                                              NULL, ARG_COMMAND + (int) i };
                for (size_t s = 0; s < ELEMENTSOF(short_forms); s++)
                        if (streq(short_forms[s].command, cmd->name) && streq(short_forms[s].option, cmd->options[i].name))
                                strcat(shortopts, cmd->options[i].arg ? (char[]) { short_forms[s].letter, ':', 0 }
                                                                      : (char[]) { short_forms[s].letter, 0 });
        }
        for (size_t i = 0; global_options[i].name; i++)
                opts[n++] = global_options[i];
        opts[n] = (struct option) {};

        int c, r;
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(*argc, argv, shortopts, opts, NULL)) >= 0) {
                if (c == '?' || c == ':')
                        return bad_option(c, argv, cmd->name);
                for (size_t s = 0; c < ARG_COMMAND && s < ELEMENTSOF(short_forms); s++)
                        for (size_t i = 0; short_forms[s].letter == c && cmd->options && cmd->options[i].name; i++)
                                if (streq(short_forms[s].command, cmd->name) && streq(short_forms[s].option, cmd->options[i].name))
                                        c = ARG_COMMAND + (int) i;
                if (c >= ARG_COMMAND) {
                        option_values[c - ARG_COMMAND] = optarg ?: "";
                        continue;
                }
                r = global_option(c, optarg);
                if (r != 0)
                        return r;
        }
        int k = 1;
        for (int i = optind; i < *argc; i++) {
                const char *eq = strchr(argv[i], '=');
                bool taken = false;
                for (size_t o = 0; eq && cmd->options && cmd->options[o].name; o++) {
                        const CliOption *opt = &cmd->options[o];
                        if (!opt->legacy || strlen(opt->name) != (size_t) (eq - argv[i]) ||
                            !strneq(opt->name, argv[i], strlen(opt->name)))
                                continue;
                        log_warning("%s is deprecated; use --%s %s", argv[i], opt->name, eq + 1);
                        if (!option_values[o])
                                option_values[o] = eq + 1;
                        taken = true;
                }
                if (!taken)
                        argv[k++] = argv[i];
        }
        *argc = k;
        return 0;
}

static int cmd_completion(int argc, char **argv) {
        if (argc != 2 || !streq(argv[1], "bash"))
                return cli_usage_error("usage: xvsched completion bash");
        return cli_completion_bash(commands, ELEMENTSOF(commands), global_options, ELEMENTSOF(global_options) - 1);
}

static const Command *find_command(const char *name) {
        /* Unique prefix match, like bpftool. */
        const Command *cmd = NULL;
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (streq(commands[i].name, name))
                        return &commands[i];
                if (strneq(commands[i].name, name, strlen(name))) {
                        if (cmd) {
                                log_error("'%s' is ambiguous (%s, %s, ...)", name, cmd->name, commands[i].name);
                                return NULL;
                        }
                        cmd = &commands[i];
                }
        }
        if (!cmd)
                log_error("unknown command '%s' (try 'xvsched help')", name);
        return cmd;
}

static void free_local_specs(void) {
        for (size_t i = 0; i < n_local_specs; i++)
                free(local_specs[i]);
        free(local_specs);
        free(connect_uris);   /* its strings are argv's */
}

int main(int argc, char **argv) {
        /* Before anything is opened: no lock or pipe on fd 0-2 (a guard
         * keeps fd 2 as its stderr). */
        if (fd_ensure_std() < 0)
                return 1;
        log_set_program("xvsched");
        /* Every socket we write to (QMP, agents, QGA, libvirt's connection,
         * control clients) may be closed by its peer at any moment: that
         * must be an error from write(), never a silent death by SIGPIPE
         * (exit status 141 after a libvirtd restart was seen). */
        (void) signal(SIGPIPE, SIG_IGN);

        int r = parse_argv(argc, argv);
        arg.hv.local_specs = local_specs;
        arg.hv.n_local_specs = n_local_specs;
        if (r != 0) {
                free_local_specs();
                return r == 1 ? 0 : r < 0 ? CLI_EXIT_FAILURE : r;
        }
        int cargc = argc - optind;
        char **cargv = argv + optind;
        if (cargc == 0) {
                cmd_help(0, NULL);
                free_local_specs();
                return CLI_EXIT_USAGE;
        }

        current = find_command(cargv[0]);
        if (!current) {
                free_local_specs();
                return CLI_EXIT_USAGE;
        }
        r = parse_command_argv(current, &cargc, cargv);
        arg.hv.local_specs = local_specs;
        arg.hv.n_local_specs = n_local_specs;
        if (r == 0) {
                /* The libvirt connection: this command's, closed at its end. */
                arg.hv.ctx = hv_context_new();
                r = current->run(cargc, cargv);
                r = r < 0 ? CLI_EXIT_FAILURE : r;
                hv_context_free(arg.hv.ctx);
                arg.hv.ctx = NULL;
        } else
                r = r == 1 ? 0 : r < 0 ? CLI_EXIT_FAILURE : r;
        free_local_specs();
        return r;
}
