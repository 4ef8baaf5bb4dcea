/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared by the command files: global options, discovery, output. */

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "hv/hv.h"
#include "model/domain.h"

typedef struct CliOptions {
        HvOptions hv;
        bool json;
        const char *state_dir;
        unsigned thread_mask;
        bool threads_given;
        bool dry_run;
        bool all;
        bool rt_force;          /* --rt-force: RT even where it could starve the host */
        unsigned window_ms;
        bool hosts_failed;      /* a host of many (-c repeated) did not answer: said, and exit 1 */
} CliOptions;

extern CliOptions arg;

/* Exit codes: 0 ok, 1 failure, 2 usage error (bad command line). */
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

/* A command's own option, parsed in main.c with getopt_long (the global
 * options are accepted after the command too). */
typedef struct CliOption {
        const char *name;       /* long name, without "--"; NULL ends a table */
        const char *arg;        /* argument's name for --help; NULL for a flag */
        const char *help;
        bool legacy;            /* the old "name=VALUE" spelling is accepted, with a warning */
} CliOption;

typedef struct Command {
        const char *name;
        const char *usage;      /* arguments, for help and completion */
        const char *summary;
        int (*run)(int argc, char **argv);   /* argv[0] is the command name, then the positional arguments */
        const CliOption *options;
        bool json;              /* prints data: --json selects JSON */
} Command;

/* The running command's option NAME: its argument ("" for a flag), or NULL
 * when not given. */
const char *cli_option(const char *name);
/* Log one usage error line; returns CLI_EXIT_USAGE for the command to return. */
int cli_usage_error(const char *fmt, ...) _printf_(1, 2);
/* A duration option (see parse_seconds()): 0 and *ret unchanged when not
 * given, CLI_EXIT_USAGE (after one line) when invalid or out of [min, max]. */
int cli_duration_option(const char *name, double bare_unit_s, double min_s, double max_s, double *ret);

/* Discover domains with the global options; on failure logs one line. */
int cli_discover(DomainList *ret);
/* Find a domain; when missing, logs one line listing the known names. */
Domain *cli_find_domain(const DomainList *l, const char *name);
/* Discover, then find NAME in the list (*ret points into *l; the caller
 * frees *l with domain_list_done() on success).  Logs once on failure. */
int cli_discover_one(const char *name, DomainList *l, Domain **ret);
/* Let the qga view reach libvirt domains' agents through libvirt (guest.c). */
void cli_qga_hook_install(void);
/* Print a json object as the command's output (pretty) and free it. */
void cli_print_json(json_object *o);

/* CPU usage: per-thread utime+stime samples over a window. */
typedef struct CpuSample {
        pid_t tid;
        pid_t pid;
        unsigned long long ns;
} CpuSample;
/* Sample every thread of every domain now, sleep window_ms, sample again:
 * ret_pct[i][t] = CPU % of one CPU of domain i's thread t; ret_total[i] = sum. */
uint64_t cli_thread_cpu_ns(const Domain *d, pid_t tid);
int cli_measure_cpu(const DomainList *l, unsigned window_ms, double ***ret_pct, double **ret_total);
void cli_free_cpu(const DomainList *l, double **pct, double *total);

int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_cont(int argc, char **argv);
int cmd_nice(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_daemon_stop(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_partition(int argc, char **argv);
int cmd_route(int argc, char **argv);
/* What `list --routes` shows of a domain (route.c): its guest kernel's
 * release, read from guest memory (no pause), and the kcall route's verdict
 * there (STATE_DIR/routes.json). */
typedef struct CliRouteStatus {
        char kernel[65];
        bool readable, soaked, disabled;
        char reason[257];
        char status[400];      /* "ok", "disabled: REASON", "not soaked", "kernel not readable (...)" */
} CliRouteStatus;
void cli_route_status(const Domain *d, CliRouteStatus *ret);
/* The journal, opened with one error line on failure (lever.c). */
struct Journal;
int cli_open_journal(struct Journal **ret);
/* After a reset restored everything of DOMAIN (NULL: --all): drop it from
 * its partition (partition.c); the journal's lock is held. */
int cli_partition_after_reset(const char *domain);
/* Client of the daemon's control socket (daemon-control.c): send one command,
 * print the reply (JSON if json, else text).  -ECONNREFUSED/-ENOENT when no
 * daemon runs. */
int daemon_control(const char *state_dir, const char *command, bool json);
/* The same request, its reply's text returned (*ret, malloc'd; at most 1 MiB);
 * waits at most timeout_ms for each part of it.  quiet: no error line. */
int daemon_control_query(const char *state_dir, const char *command, int timeout_ms, bool quiet, char **ret);
/* `completion bash`: the script, from the command table. */
int cli_completion_bash(const Command *commands, size_t n, const struct option *global, size_t n_global);

extern const CliOption run_options[];
extern const CliOption ps_options[];
extern const CliOption hold_options[];
extern const CliOption cont_options[];
extern const CliOption timeline_options[];
extern const CliOption top_options[];
extern const CliOption partition_options[];
extern const CliOption route_options[];
extern const CliOption list_options[];
