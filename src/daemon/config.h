/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* xvsched.conf (see xvsched.conf(5) and examples/):
 *
 *   [daemon]          interval, busy_threshold, idle_hysteresis, throttle_ticks, rt_budget,
 *                     rt_window, timeline
 *   [domain NAME]     match, view, rt, rt_threads, rt_when, rt_force, and fixed levers (weight, cap, cpus,
 *                     mems, memory, ioweight, nice)
 *   [task NAME]       domain, comm | cmdline | pid, class, priority, share, burst
 *   [hosts]           libvirt URIs, one a line (many hosts: the daemon runs a loop per host)
 *
 * A domain's name or match may be NAME@HOST: that rule acts on HOST only
 * (HOST as `xvsched list` spells it, hv_uri_host()); config_rules_for_host()
 * gives one host's rules.
 *
 * Errors are one line naming file, line and problem, in *ret_error. */

#include "policy/policy.h"

int config_parse_file(const char *path, Rules *ret, char *ret_error, size_t error_size);

/* [daemon] settings of the daemon itself, not of the policy
 * (config_parse_file and config_parse_string check and drop them). */
typedef struct ConfigDaemon {
        char *metrics;                /* metrics = ADDRESS:PORT (checked), NULL = none */
        bool agentless_calls;         /* agentless_calls = yes: the vmi view may call guest kernel functions */
        char **hosts;                 /* [hosts]: URIs, NULL-terminated; NULL = none */
        size_t n_hosts;
} ConfigDaemon;
void config_daemon_done(ConfigDaemon *c);
int config_parse_file_daemon(const char *path, Rules *ret, ConfigDaemon *ret_daemon, char *ret_error, size_t error_size);
int config_parse_string_daemon(const char *text, const char *name, Rules *ret, ConfigDaemon *ret_daemon, char *ret_error,
                               size_t error_size);
int config_parse_string(const char *text, const char *name, Rules *ret, char *ret_error, size_t error_size);

/* The rules that act on the host spelled host ("h1", "127.0.0.1:16509",
 * "localhost"): every domain rule not bound to a host, and those bound to
 * this one (NAME@HOST in its match, "@HOST" dropped from the copy's match),
 * with their tasks.  A deep copy in *ret (rules_done() it); it may hold no
 * domain. */
int config_rules_for_host(const Rules *src, const char *host, Rules *ret);
/* The host a domain rule is bound to (after its match's '@'), or NULL. */
const char *config_rule_host(const DomainRule *d);
