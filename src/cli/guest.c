/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Guest processes through the in-guest agent:
 *   xvsched ps DOMAIN
 *   xvsched stop DOMAIN PID|COMM [--for SECONDS]
 *   xvsched cont DOMAIN PID|COMM
 *   xvsched nice DOMAIN PID|COMM N [--for SECONDS]
 *
 * Stops and nice changes are held under the agent's safety lease: they last
 * while this command runs and renews it.  `stop` and `nice` therefore stay
 * in the foreground (until --for expires, or SIGINT/SIGTERM), then undo
 * their change and exit; if xvsched dies instead, the agent undoes it when
 * the lease runs out.  A guest process never stays stopped because the host
 * side went away. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "basic/time-util.h"
#include "cli/cli.h"
#include "daemon/daemon.h"
#include "daemon/guard.h"
#include "hv/hv-libvirt-agent.h"
#include "view/agent-client.h"
#include "view/pause-hook.h"
#include "view/qga-client.h"
#include "view/view.h"
#include "view-registry/view-registry.h"

#define HOLD_LEASE_S 5.0

static int connect_domain_agent(const char *name, AgentClient **ret) {
        DomainList l;
        Domain *d;
        int r = cli_discover_one(name, &l, &d);
        if (r < 0)
                return r;
        if (!d->agent_socket) {
                log_error("domain '%s' has no xvagent channel (a virtio-serial port named org.xvsched.agent.0)", name);
                domain_list_done(&l);
                return -ENOTCONN;
        }
        r = agent_client_connect(d->agent_socket, 3 * USEC_PER_SEC, ret);
        if (r < 0)
                log_error("cannot talk to the agent of '%s' at %s: %s", name, d->agent_socket, agent_client_last_error(NULL));
        domain_list_done(&l);
        return r;
}

/* qemu-guest-agent of libvirt domains goes through libvirt (libvirtd owns
 * the socket): the qga view uses this hook (list's probe too). */
void cli_qga_hook_install(void) {
        QgaCommandHook h = { .open = hv_libvirt_agent_open, .command = hv_libvirt_agent_command,
                             .close = hv_libvirt_agent_close, .userdata = (void *) arg.hv.libvirt_uri };
        qga_command_hook_set(&h);
}

static const char *state_name(char s) {
        switch (s) {
        case 'R': return "running";
        case 'S': return "sleeping";
        case 'D': return "disk-sleep";
        case 'T': return "stopped";
        case 't': return "traced";
        case 'Z': return "zombie";
        case 'I': return "idle";
        default: return "other";
        }
}

static int ps_print(const char *name, const char *via);

const CliOption ps_options[] = {
        { "via", "agent|qga|vmi|auto", "through xvagent, qemu-guest-agent, by introspecting guest memory, or whichever works (default)", true },
        {},
};

const CliOption hold_options[] = {
        { "for", "DURATION", "hold the change this long (5, 5s, 500ms; a bare number is seconds), then undo it", true },
        { "via", "agent|qga|vmi|auto", "the control path (default: xvagent)", true },
        {},
};

const CliOption cont_options[] = {
        { "via", "agent|qga|vmi|auto", "the control path (default: xvagent)", true },
        {},
};

/* --via VIEW of stop/cont/nice: NULL when absent (xvagent, as before). */
static int via_option(const char **ret) {
        const char *via = cli_option("via");
        if (via && !streq(via, "auto") && !guest_view_ops_by_name(via))
                return cli_usage_error("--via %s: expected agent, qga, vmi or auto", via);
        *ret = via;
        return 0;
}

int cmd_ps(int argc, char **argv) {
        const char *via = cli_option("via") ?: "auto";
        if (argc != 2)
                return cli_usage_error("usage: xvsched ps DOMAIN [--via agent|qga|vmi|auto]");
        const char *name = argv[1];
        if (!streq(via, "auto") && !guest_view_ops_by_name(via))
                return cli_usage_error("--via %s: expected agent, qga, vmi or auto", via);

        cli_qga_hook_install();
        /* The vmi view may pause the VM for a consistent task list: journaled
         * first, and resumed by the guard should this command die. */
        guard_pause_hook_install(NULL, NULL, "cli", arg.state_dir, &arg.hv);
        int r = ps_print(name, via);
        guest_pause_hook_set(NULL);
        guard_finish(true);
        return r;
}

static int ps_print(const char *name, const char *via) {
        DomainList l;
        Domain *d;
        int r = cli_discover_one(name, &l, &d);
        if (r < 0)
                return r;
        _cleanup_(guest_view_freep) GuestView *v = NULL;
        char err[256];
        r = guest_view_open_by_name(via, d, &v, err, sizeof err);
        if (r < 0) {
                log_error("%s: %s", name, err);
                domain_list_done(&l);
                return r;
        }
        domain_list_done(&l);

        _cleanup_free_ GuestTask *tasks = NULL;
        size_t n = 0;
        r = guest_view_tasks(v, &tasks, &n);
        if (r < 0)
                return log_error_errno(r, "%s: listing tasks through %s failed: %s", name, guest_view_name(v),
                                       guest_view_last_error(v));
        _cleanup_free_ GuestCpu *cpus = NULL;
        size_t n_cpus = 0;
        if (guest_view_cpus(v, &cpus, &n_cpus) < 0)
                n_cpus = 0;

        if (arg.json) {
                json_object *root = json_object_new_object();
                json_object_object_add(root, "view", json_object_new_string(guest_view_name(v)));
                json_object *a = json_object_new_array();
                for (size_t i = 0; i < n; i++) {
                        const GuestTask *t = &tasks[i];
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "pid", json_object_new_int(t->pid));
                        json_object_object_add(o, "tid", json_object_new_int(t->tid));
                        json_object_object_add(o, "comm", json_object_new_string(t->comm));
                        json_object_object_add(o, "cmdline", json_object_new_string(t->cmdline));
                        json_object_object_add(o, "state", json_object_new_string_len(&t->state, 1));
                        json_object_object_add(o, "cpu", json_object_new_int(t->cpu));
                        json_object_object_add(o, "cpu_ns", json_object_new_int64((int64_t) t->cpu_ns));
                        json_object_object_add(o, "nice", json_object_new_int(t->nice));
                        json_object_object_add(o, "policy", json_object_new_string(agent_client_policy_to_string(t->policy)));
                        json_object_object_add(o, "rt_priority", json_object_new_int(t->rt_priority));
                        json_object_object_add(o, "start_time_ns", json_object_new_int64((int64_t) t->start_time_ns));
                        json_object_object_add(o, "is_agent", json_object_new_boolean(t->is_agent));
                        json_object_object_add(o, "is_kthread", json_object_new_boolean(t->is_kthread));
                        json_object_array_add(a, o);
                }
                json_object_object_add(root, "tasks", a);
                json_object *ca = json_object_new_array();
                for (size_t i = 0; i < n_cpus; i++) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "cpu", json_object_new_int(cpus[i].cpu));
                        json_object_object_add(o, "vcpu", json_object_new_int(cpus[i].vcpu));
                        json_object_object_add(o, "tid", json_object_new_int(cpus[i].tid));
                        json_object_object_add(o, "comm", json_object_new_string(cpus[i].comm));
                        json_object_object_add(o, "idle", json_object_new_boolean(cpus[i].idle));
                        json_object_object_add(o, "nr_running", json_object_new_int((int) cpus[i].nr_running));
                        json_object_array_add(ca, o);
                }
                json_object_object_add(root, "cpus", ca);
                cli_print_json(root);
                return 0;
        }
        printf("view: %s\n", guest_view_name(v));
        for (size_t i = 0; i < n_cpus; i++) {
                if (cpus[i].idle)
                        printf("cpu %d (vCPU %d): idle, %u runnable\n", cpus[i].cpu, cpus[i].vcpu, cpus[i].nr_running);
                else
                        printf("cpu %d (vCPU %d): %s (tid %d), %u runnable\n", cpus[i].cpu, cpus[i].vcpu, cpus[i].comm,
                               (int) cpus[i].tid, cpus[i].nr_running);
        }
        printf("%6s %6s %-16s %-10s %3s %4s %6s %10s  %s\n", "PID", "TID", "COMM", "STATE", "CPU", "NICE", "POLICY",
               "CPU_MS", "CMDLINE");
        for (size_t i = 0; i < n; i++) {
                const GuestTask *t = &tasks[i];
                if (t->is_kthread)
                        continue;
                printf("%6d %6d %-16s %-10s %3d %4d %6s %10llu  %s%s\n", (int) t->pid, (int) t->tid, t->comm,
                       state_name(t->state), t->cpu, t->nice, agent_client_policy_to_string(t->policy),
                       (unsigned long long) (t->cpu_ns / 1000000), t->cmdline,
                       !t->is_agent ? "" : streq(guest_view_name(v), "qga") ? " (qemu-guest-agent)" : " (xvagent)");
        }
        return 0;
}

/* PIDs of the thread groups a PID|COMM argument names among tasks: one
 * entry per thread group, never a guest agent or a kernel thread. */
static int pick_pids(const GuestTask *tasks, size_t n, const char *domain, const char *what, pid_t **ret,
                     size_t *ret_n) {
        int want_pid = -1;
        (void) safe_atoi(what, &want_pid);
        pid_t *pids = calloc(n ? n : 1, sizeof *pids);
        if (!pids)
                return log_error_errno(-ENOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                const GuestTask *t = &tasks[i];
                if (t->is_agent || t->is_kthread || t->tid != t->pid)
                        continue;
                if ((want_pid > 0 && t->pid == want_pid) || (want_pid <= 0 && streq(t->comm, what)))
                        pids[k++] = t->pid;
        }
        if (k == 0) {
                free(pids);
                return log_error_errno(-ESRCH, "%s: no guest process '%s'", domain, what);
        }
        *ret = pids;
        *ret_n = k;
        return 0;
}

/* PIDs of the thread groups a PID|COMM argument names. */
static int resolve(AgentClient *c, const char *domain, const char *what, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ GuestTask *tasks = NULL;
        size_t n = 0;
        int r = agent_client_tasks(c, &tasks, &n);
        if (r < 0)
                return log_error_errno(r, "%s: listing tasks failed: %s", domain, agent_client_last_error(c));
        return pick_pids(tasks, n, domain, what, ret, ret_n);
}

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) {
        got_signal = sig;
}

/* Call renew() every HOLD_LEASE_S / 5 until `seconds` pass (<= 0: until
 * SIGINT, SIGTERM or SIGHUP); stop at renew()'s first failure. */
static int hold_until(double seconds, int (*renew)(void *u), void *u) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        nsec_t start = now_nsec();
        while (!got_signal) {
                int r = renew(u);
                if (r < 0)
                        return r;
                double elapsed = (double) (now_nsec() - start) / 1e9;
                if (seconds > 0 && elapsed >= seconds)
                        break;
                double nap = HOLD_LEASE_S / 5;
                if (seconds > 0 && seconds - elapsed < nap)
                        nap = seconds - elapsed;
                struct timespec ts = { .tv_sec = (time_t) nap, .tv_nsec = (long) ((nap - (double) (time_t) nap) * 1e9) };
                nanosleep(&ts, NULL);
        }
        return 0;
}

static int renew_agent_lease(void *u) {
        AgentClient *c = u;
        int r = agent_client_lease(c, HOLD_LEASE_S);
        if (r < 0)
                return log_error_errno(r, "renewing the agent's lease failed: %s (the agent will undo the change)",
                                       agent_client_last_error(c));
        return 0;
}

/* Stop or renice the processes WHAT names, hold the change under the
 * agent's lease for `seconds` (<= 0: until a signal), then undo it. */
static int held_change(const char *domain, const char *what, bool stop, int nice, double seconds) {
        _cleanup_agent_client_ AgentClient *c = NULL;
        int r = connect_domain_agent(domain, &c);
        if (r < 0)
                return r;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;
        r = resolve(c, domain, what, &pids, &n);
        if (r < 0)
                return r;
        r = agent_client_lease(c, HOLD_LEASE_S);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = stop ? agent_client_stop(c, pids[i]) : agent_client_nice(c, pids[i], nice);
        if (r < 0) {
                log_error("%s: %s '%s' failed: %s", domain, stop ? "stopping" : "renicing", what, agent_client_last_error(c));
                (void) agent_client_release(c);
                return r;
        }
        if (stop)
                printf("stopped %zu process%s '%s' in %s", n, n == 1 ? "" : "es", what, domain);
        else
                printf("reniced %zu process%s '%s' in %s to %d", n, n == 1 ? "" : "es", what, domain, nice);
        printf("; holding %s (Ctrl-C %s)\n", seconds > 0 ? "for the given time" : "until interrupted",
               stop ? "resumes" : "restores");
        fflush(stdout);
        r = hold_until(seconds, renew_agent_lease, c);
        int k = agent_client_release(c);
        if (k < 0)
                return log_error_errno(k, "%s: undoing failed: %s (the agent undoes it when its lease runs out)", domain,
                                       agent_client_last_error(c));
        printf("%s\n", stop ? "resumed" : "restored");
        return r;
}

/* ---- stop/cont/nice through a guest view (--via) ---- */

static int open_view(const char *domain, const char *via, GuestView **ret) {
        DomainList l;
        Domain *d;
        int r = cli_discover_one(domain, &l, &d);
        if (r < 0)
                return r;
        char err[512];
        r = guest_view_open_by_name(via, d, ret, err, sizeof err);
        domain_list_done(&l);
        if (r < 0)
                log_error("%s: %s", domain, err);
        return r;
}

/* PIDs of the thread groups a PID|COMM argument names, from the view. */
static int view_resolve(GuestView *v, const char *domain, const char *what, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ GuestTask *tasks = NULL;
        size_t n = 0;
        int r = guest_view_tasks(v, &tasks, &n);
        if (r < 0)
                return log_error_errno(r, "%s: listing tasks through %s failed: %s", domain, guest_view_name(v),
                                       guest_view_last_error(v));
        return pick_pids(tasks, n, domain, what, ret, ret_n);
}

static int renew_view_hold(void *u) {
        GuestView *v = u;
        int r = guest_view_keepalive(v);
        if (r < 0)
                return log_error_errno(r, "renewing the %s view's hold failed: %s (the guest undoes the change "
                                       "when its lease runs out)", guest_view_name(v), guest_view_last_error(v));
        return 0;
}

static int view_held_change(const char *domain, const char *via, const char *what, bool stop, int nice, double seconds) {
        _cleanup_(guest_view_freep) GuestView *v = NULL;
        int r = open_view(domain, via, &v);
        if (r < 0)
                return r;
        if (stop ? !guest_view_can_stop(v) : !(guest_view_caps(v) & GUEST_VIEW_CAP_NICE))
                return log_error_errno(-EOPNOTSUPP, "%s: the %s view cannot %s guest processes (control path: %s)",
                                       domain, guest_view_name(v), stop ? "stop and resume" : "renice",
                                       guest_view_control_path(v));
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;
        r = view_resolve(v, domain, what, &pids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = stop ? guest_view_stop(v, pids[i]) : guest_view_nice(v, pids[i], nice);
        if (r < 0) {
                log_error("%s: %s '%s' through %s failed: %s", domain, stop ? "stopping" : "renicing", what,
                          guest_view_name(v), guest_view_last_error(v));
                (void) guest_view_release(v);
                return r;
        }
        if (stop)
                printf("stopped %zu process%s '%s' in %s through %s", n, n == 1 ? "" : "es", what, domain,
                       guest_view_control_path(v));
        else
                printf("reniced %zu process%s '%s' in %s to %d through %s", n, n == 1 ? "" : "es", what, domain, nice,
                       guest_view_control_path(v));
        printf("; holding %s (Ctrl-C %s)\n", seconds > 0 ? "for the given time" : "until interrupted",
               stop ? "resumes" : "restores");
        fflush(stdout);
        r = hold_until(seconds, renew_view_hold, v);
        int k = guest_view_release(v);
        if (k < 0)
                return log_error_errno(k, "%s: undoing failed: %s (the guest undoes it when its lease runs out)", domain,
                                       guest_view_last_error(v));
        printf("%s\n", stop ? "resumed" : "restored");
        return r;
}

static int view_change(const char *domain, const char *via, const char *what, bool stop, int nice, double seconds) {
        cli_qga_hook_install();   /* SIGPIPE is ignored for the whole program (main.c) */
        guard_pause_hook_install(NULL, NULL, "cli", arg.state_dir, &arg.hv);
        int r = view_held_change(domain, via, what, stop, nice, seconds);
        guest_pause_hook_set(NULL);
        guard_finish(true);
        return r;
}

static int view_cont(const char *domain, const char *via, const char *what) {
        _cleanup_(guest_view_freep) GuestView *v = NULL;
        int r = open_view(domain, via, &v);
        if (r < 0)
                return r;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;
        r = view_resolve(v, domain, what, &pids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = guest_view_cont(v, pids[i]);
                if (r < 0)
                        return log_error_errno(r, "%s: resuming pid %d through %s failed: %s", domain, (int) pids[i],
                                               guest_view_name(v), guest_view_last_error(v));
        }
        printf("resumed %zu process%s '%s' in %s\n", n, n == 1 ? "" : "es", what, domain);
        return 0;
}

int cmd_stop(int argc, char **argv) {
        /* Once "xvsched stop" alone stopped the daemon: a mistyped command
         * was destructive.  Now it stops nothing. */
        if (argc == 1)
                return cli_usage_error("xvsched stop needs DOMAIN PID|COMM; to stop the daemon: xvsched daemon stop");
        double seconds = 0;
        int r = cli_duration_option("for", 1, 0.001, 86400, &seconds);
        if (r != 0)
                return r;
        const char *via;
        if ((r = via_option(&via)) != 0)
                return r;
        if (argc != 3)
                return cli_usage_error("usage: xvsched stop DOMAIN PID|COMM [--for DURATION] [--via VIEW]");
        if (via)
                return view_change(argv[1], via, argv[2], true, 0, seconds);
        return held_change(argv[1], argv[2], true, 0, seconds);
}

int cmd_cont(int argc, char **argv) {
        const char *via;
        int r = via_option(&via);
        if (r != 0)
                return r;
        if (argc != 3)
                return cli_usage_error("usage: xvsched cont DOMAIN PID|COMM [--via VIEW]");
        if (via) {
                cli_qga_hook_install();
                guard_pause_hook_install(NULL, NULL, "cli", arg.state_dir, &arg.hv);
                r = view_cont(argv[1], via, argv[2]);
                guest_pause_hook_set(NULL);
                guard_finish(true);
                return r;
        }
        _cleanup_agent_client_ AgentClient *c = NULL;
        r = connect_domain_agent(argv[1], &c);
        if (r < 0)
                return r;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;
        r = resolve(c, argv[1], argv[2], &pids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = agent_client_cont(c, pids[i]);
                if (r < 0)
                        return log_error_errno(r, "%s: resuming pid %d failed: %s", argv[1], (int) pids[i], agent_client_last_error(c));
        }
        printf("resumed %zu process%s '%s' in %s\n", n, n == 1 ? "" : "es", argv[2], argv[1]);
        return 0;
}

int cmd_nice(int argc, char **argv) {
        double seconds = 0;
        int r = cli_duration_option("for", 1, 0.001, 86400, &seconds);
        if (r != 0)
                return r;
        int nice;
        const char *via;
        if ((r = via_option(&via)) != 0)
                return r;
        if (argc != 4)
                return cli_usage_error("usage: xvsched nice DOMAIN PID|COMM N [--for DURATION] [--via VIEW] (-- before a negative N)");
        if (safe_atoi(argv[3], &nice) < 0 || nice < -20 || nice > 19)
                return cli_usage_error("nice %s: must be an integer from -20 to 19", argv[3]);
        if (via)
                return view_change(argv[1], via, argv[2], false, nice, seconds);
        return held_change(argv[1], argv[2], false, nice, seconds);
}
