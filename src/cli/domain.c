/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched list` and `xvsched show DOMAIN`: what discovery found, with each
 * thread class's scheduling settings and the domain's cgroup levers. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "cli/cli.h"
#include "host/sched.h"
#include "lever/lever.h"
#include "view/qga-client.h"
#include "view-registry/view-registry.h"
#include "vmi/routes.h"

static json_object *json_cpuset(const CpuSet *s) {
        _cleanup_free_ char *t = cpuset_format(s);
        return json_object_new_string(t ? t : "");
}

/* Summary of a thread class: "nice 0, other" or "mixed". */
typedef struct ClassSummary {
        size_t n;
        bool mixed;
        ThreadSched first;
} ClassSummary;

static void summarize(const Domain *d, ClassSummary ret[_THREAD_CLASS_MAX]) {
        memset(ret, 0, sizeof(ClassSummary) * _THREAD_CLASS_MAX);
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (thread_sched_get(d->threads[i].tid, &ts) < 0)
                        continue;
                ClassSummary *c = &ret[d->threads[i].class];
                if (c->n == 0)
                        c->first = ts;
                else if (ts.nice != c->first.nice || ts.policy != c->first.policy ||
                         ts.rt_priority != c->first.rt_priority || !cpuset_equal(&ts.affinity, &c->first.affinity))
                        c->mixed = true;
                c->n++;
        }
}

static json_object *levers_json(const DomainLevers *l) {
        json_object *o = json_object_new_object();
        if (l->have_weight)
                json_object_object_add(o, "weight", json_object_new_int((int) l->weight));
        if (l->have_cap)
                json_object_object_add(o, "cap_pct", json_object_new_double(l->cap));
        if (l->have_cpus)
                json_object_object_add(o, "cpus", json_cpuset(&l->cpus));
        if (l->have_mems)
                json_object_object_add(o, "mems", json_cpuset(&l->mems));
        if (l->have_memory)
                json_object_object_add(o, "memory_max_bytes",
                                       l->memory == UINT64_MAX ? NULL : json_object_new_int64((int64_t) l->memory));
        if (l->have_ioweight)
                json_object_object_add(o, "ioweight", json_object_new_int((int) l->ioweight));
        if (l->have_idle)
                json_object_object_add(o, "idle", json_object_new_boolean(l->idle));
        return o;
}

/* Which guest view and control paths a domain has, and why not: one
 * phrase each (`xvsched list`, docs/vmi.md "Paths"). */
typedef struct DomainPaths {
        char agent[160];   /* the xvagent channel */
        char qga[320];     /* qemu-guest-agent's channel, and whether it allows guest-exec */
        char vmi[200];     /* introspection: attaches, or why not */
        char pause[64];    /* how the VM is paused (for vmi's stop) */
        char stop[200];    /* what can stop a guest process */
} DomainPaths;

static void channel_phrase(const Domain *d, const DomainChannel *c, const char *sock, bool libvirt_owned, char *buf,
                           size_t size) {
        const char *st = c->state && streq(c->state, "disconnected") ? ", guest side closed" : "";
        if (!c->present && !sock)
                snprintf(buf, size, "no channel");
        else if (!c->present)
                snprintf(buf, size, "channel (%s)", sock);
        else if (libvirt_owned)
                snprintf(buf, size, "channel (libvirt%s)", st);
        else if (d->remote)
                snprintf(buf, size, "channel on the remote host (not reachable here)");
        else if (!c->path)
                snprintf(buf, size, "channel of type %s (not a unix socket)", c->type ? c->type : "?");
        else
                snprintf(buf, size, "channel (%s%s)", c->path, st);
}

/* Ask the domain's qemu-guest-agent (guest-sync, guest-info) whether it
 * lets us guest-exec, within QGA_PROBE_TIMEOUT: a raw QGA socket takes one
 * client, so a daemon that holds it makes the probe wait that long.  Appends
 * the answer to buf; true when guest-exec is allowed. */
#define QGA_PROBE_TIMEOUT (2 * USEC_PER_SEC)
static bool qga_probe(const Domain *d, bool libvirt, char *buf, size_t size) {
        size_t len = strlen(buf);
        if (libvirt && !qga_command_hook_present())
                cli_qga_hook_install();
        if (len >= size - 1 || (!libvirt && !d->qga_channel.path))
                return false;
        QgaClient *c = NULL;
        int r = libvirt ? qga_client_connect_hook(d, QGA_PROBE_TIMEOUT, &c)
                        : qga_client_connect(d->qga_channel.path, QGA_PROBE_TIMEOUT, &c);
        if (r >= 0) {
                qga_client_free(c);
                snprintf(buf + len, size - len, ", guest-exec allowed");
                return true;
        }
        const char *why = qga_client_last_error(NULL);
        if (r == -EACCES)
                snprintf(buf + len, size - len, ", forbids guest-exec");
        else
                snprintf(buf + len, size - len, ", no answer (%s)", why && *why ? why : strerror(-r));
        return false;
}

static void domain_paths(const Domain *d, DomainPaths *p) {
        bool libvirt = streq(d->backend, "libvirt");
        if (libvirt)
                channel_phrase(d, &d->xvagent_channel, d->agent_socket, false, p->agent, sizeof p->agent);
        else
                snprintf(p->agent, sizeof p->agent, d->agent_socket ? "channel (%s)" : "no channel",
                         d->agent_socket);
        bool qga_exec = false;
        if (libvirt || d->qga_channel.present)
                channel_phrase(d, &d->qga_channel, NULL, libvirt, p->qga, sizeof p->qga);
        else
                snprintf(p->qga, sizeof p->qga, "-");
        if (d->qga_channel.present)
                qga_exec = qga_probe(d, libvirt, p->qga, sizeof p->qga);

        if (d->qmp_socket)
                snprintf(p->pause, sizeof p->pause, "qmp");
        else if (libvirt && d->uuid)
                snprintf(p->pause, sizeof p->pause, "libvirt");
        else
                snprintf(p->pause, sizeof p->pause, "none (no monitor)");

        bool vmi_ok = false;
        bool can_pause = d->qmp_socket || (libvirt && d->uuid);
        if (d->remote)
                snprintf(p->vmi, sizeof p->vmi, "no (remote host: its guest memory is not here)");
        else if (streq(d->backend, "local"))
                snprintf(p->vmi, sizeof p->vmi, "no (not a VM)");
        else if (d->pid <= 0)
                snprintf(p->vmi, sizeof p->vmi, "no (no QEMU process)");
        else {
                GuestView *v = NULL;
                char err[192] = "";
                /* Whether introspection attaches; not whether the agent
                 * answers (its port takes one client: a running daemon's
                 * would make every list wait), so without the agent socket. */
                Domain probe = *d;
                probe.agent_socket = NULL;
                int r = guest_view_open_by_name("vmi", &probe, &v, err, sizeof err);
                if (r >= 0) {
                        vmi_ok = true;
                        snprintf(p->vmi, sizeof p->vmi, "ok");
                        guest_view_free(v);
                } else {
                        const char *why = err[0] ? err : strerror(-r);
                        if (strneq(why, "no vmi view: ", 13))
                                why += 13;   /* the registry's prefix: said by "vmi: no" already */
                        snprintf(p->vmi, sizeof p->vmi, "no (%s)", why);
                }
        }

        bool agent = d->agent_socket != NULL;
        /* A QGA that lets us guest-exec: stop through it (--via qga; a
         * libvirt domain's through libvirt's agent API). */
        const char *qga = qga_exec ? ", qga" : "";
        if (agent && vmi_ok && can_pause)
                snprintf(p->stop, sizeof p->stop, "agent, vmi%s", qga);
        else if (agent)
                snprintf(p->stop, sizeof p->stop, "agent%s", qga);
        else if (*qga)
                snprintf(p->stop, sizeof p->stop, "qga");
        else if (d->qga_channel.present)
                snprintf(p->stop, sizeof p->stop, "none (no xvagent; qemu-guest-agent cannot guest-exec)");
        else
                snprintf(p->stop, sizeof p->stop, "none (no xvagent to resume a stopped process)");
}

static json_object *paths_json(const DomainPaths *p) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "agent", json_object_new_string(p->agent));
        json_object_object_add(o, "qga", json_object_new_string(p->qga));
        json_object_object_add(o, "vmi", json_object_new_string(p->vmi));
        json_object_object_add(o, "pause", json_object_new_string(p->pause));
        json_object_object_add(o, "stop", json_object_new_string(p->stop));
        return o;
}

static json_object *channel_json(const DomainChannel *c) {
        if (!c->present)
                return NULL;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", c->type ? json_object_new_string(c->type) : NULL);
        json_object_object_add(o, "path", c->path ? json_object_new_string(c->path) : NULL);
        json_object_object_add(o, "state", c->state ? json_object_new_string(c->state) : NULL);
        return o;
}

static json_object *domain_json(const Domain *d, const double *pct, double total, bool threads) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(d->name));
        char host[256];
        hv_domain_host(d, host, sizeof host);
        json_object_object_add(o, "host", json_object_new_string(host));
        json_object_object_add(o, "backend", json_object_new_string(d->backend));
        if (d->uuid)
                json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
        json_object_object_add(o, "pid", json_object_new_int(d->pid));
        json_object_object_add(o, "cgroup", d->cgroup ? json_object_new_string(d->cgroup) : NULL);
        json_object_object_add(o, "qmp_socket", d->qmp_socket ? json_object_new_string(d->qmp_socket) : NULL);
        json_object_object_add(o, "agent_socket", d->agent_socket ? json_object_new_string(d->agent_socket) : NULL);
        json_object_object_add(o, "vcpu_source", d->vcpu_source ? json_object_new_string(d->vcpu_source) : NULL);
        if (d->libvirt_uri) {
                json_object_object_add(o, "libvirt_uri", json_object_new_string(d->libvirt_uri));
                json_object_object_add(o, "remote", json_object_new_boolean(d->remote));
                json_object_object_add(o, "xvagent_channel", channel_json(&d->xvagent_channel));
                json_object_object_add(o, "qga_channel", channel_json(&d->qga_channel));
        }
        DomainPaths paths;
        domain_paths(d, &paths);
        json_object_object_add(o, "paths", paths_json(&paths));
        json_object_object_add(o, "cpu_pct", json_object_new_double(total));

        json_object *vcpus = json_object_new_array();
        for (size_t i = 0; i < d->n_threads; i++)
                if (d->threads[i].class == THREAD_VCPU)
                        json_object_array_add(vcpus, json_object_new_int(d->threads[i].tid));
        json_object_object_add(o, "vcpu_tids", vcpus);

        ClassSummary cs[_THREAD_CLASS_MAX];
        summarize(d, cs);
        json_object *classes = json_object_new_object();
        for (int c = 0; c < _THREAD_CLASS_MAX; c++) {
                json_object *co = json_object_new_object();
                json_object_object_add(co, "threads", json_object_new_int((int) cs[c].n));
                if (cs[c].n > 0 && !cs[c].mixed) {
                        json_object_object_add(co, "nice", json_object_new_int(cs[c].first.nice));
                        json_object_object_add(co, "policy", json_object_new_string(sched_policy_to_string(cs[c].first.policy)));
                        json_object_object_add(co, "rt_priority", json_object_new_int(cs[c].first.rt_priority));
                        json_object_object_add(co, "affinity", json_cpuset(&cs[c].first.affinity));
                } else if (cs[c].mixed)
                        json_object_object_add(co, "mixed", json_object_new_boolean(true));
                json_object_object_add(classes, thread_class_to_string((ThreadClass) c), co);
        }
        json_object_object_add(o, "classes", classes);

        DomainLevers l;
        lever_read_domain(&arg.hv, d, &l);
        json_object_object_add(o, "levers", levers_json(&l));

        if (threads) {
                json_object *ta = json_object_new_array();
                for (size_t i = 0; i < d->n_threads; i++) {
                        const DomainThread *t = &d->threads[i];
                        json_object *to = json_object_new_object();
                        json_object_object_add(to, "tid", json_object_new_int(t->tid));
                        json_object_object_add(to, "comm", json_object_new_string(t->comm));
                        json_object_object_add(to, "class", json_object_new_string(thread_class_to_string(t->class)));
                        if (t->vcpu >= 0)
                                json_object_object_add(to, "vcpu", json_object_new_int(t->vcpu));
                        ThreadSched ts;
                        if (thread_sched_get(t->tid, &ts) >= 0) {
                                json_object_object_add(to, "nice", json_object_new_int(ts.nice));
                                json_object_object_add(to, "policy", json_object_new_string(sched_policy_to_string(ts.policy)));
                                json_object_object_add(to, "rt_priority", json_object_new_int(ts.rt_priority));
                                json_object_object_add(to, "affinity", json_cpuset(&ts.affinity));
                        }
                        if (pct)
                                json_object_object_add(to, "cpu_pct", json_object_new_double(pct[i]));
                        json_object_array_add(ta, to);
                }
                json_object_object_add(o, "threads", ta);
        }
        return o;
}

static void fmt_levers(const DomainLevers *l, char *buf, size_t size) {
        char w[16] = "-", c[16] = "-";
        _cleanup_free_ char *cpus = l->have_cpus ? cpuset_format(&l->cpus) : NULL;
        if (l->have_weight)
                snprintf(w, sizeof w, "%u", l->weight);
        if (l->have_cap)
                snprintf(c, sizeof c, l->cap > 0 ? "%.0f%%" : "none", l->cap);
        snprintf(buf, size, "%-7s %-6s %-8s", w, c, cpus ? cpus : "-");
}

static json_object *route_json(const CliRouteStatus *rs) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "kernel", rs->readable ? json_object_new_string(rs->kernel) : NULL);
        json_object_object_add(o, "route", json_object_new_string(ROUTE_KCALL));
        json_object_object_add(o, "status", json_object_new_string(!rs->readable ? "unknown"
                                                                  : rs->disabled   ? "disabled"
                                                                  : rs->soaked     ? "ok"
                                                                                   : "not soaked"));
        json_object_object_add(o, "reason", rs->soaked ? json_object_new_string(rs->reason) : NULL);
        json_object_object_add(o, "detail", json_object_new_string(rs->status));
        return o;
}

int cmd_list(int argc, char **argv _unused_) {
        if (argc > 1)
                return cli_usage_error("list takes no arguments (did you mean 'show %s'?)", argv[1]);
        bool routes = cli_option("routes") != NULL;
        DomainList l = {};
        int r = cli_discover(&l);
        if (r < 0)
                return r;
        double **pct = NULL, *total = NULL;
        r = cli_measure_cpu(&l, arg.window_ms, &pct, &total);
        if (r < 0) {
                domain_list_done(&l);
                return log_error_errno(r, "out of memory");
        }
        if (arg.json) {
                json_object *a = json_object_new_array();
                for (size_t i = 0; i < l.n; i++) {
                        json_object *o = domain_json(l.domains[i], pct[i], total[i], false);
                        if (routes) {
                                CliRouteStatus rs;
                                cli_route_status(l.domains[i], &rs);
                                json_object_object_add(o, "agentless_route", route_json(&rs));
                        }
                        json_object_array_add(a, o);
                }
                cli_print_json(a);
        } else {
                /* Many hosts, or a remote one: each row starts with its host. */
                bool hosts = arg.hv.n_libvirt_uris > 0;
                for (size_t i = 0; i < l.n; i++)
                        hosts |= l.domains[i]->remote;
                if (hosts)
                        printf("%-21s ", "HOST");
                printf("%-16s %-8s %8s %5s %7s %6s  %-7s %-6s %-8s %s\n", "NAME", "BACKEND", "PID", "VCPUS", "THREADS",
                       "CPU%", "WEIGHT", "CAP", "CPUSET", "CGROUP");
                for (size_t i = 0; i < l.n; i++) {
                        const Domain *d = l.domains[i];
                        DomainLevers lv;
                        lever_read_domain(&arg.hv, d, &lv);
                        char levers[64];
                        fmt_levers(&lv, levers, sizeof levers);
                        if (hosts) {
                                char host[256];
                                hv_domain_host(d, host, sizeof host);
                                printf("%-21s ", host);
                        }
                        printf("%-16s %-8s %8d %5zu %7zu %6.1f  %s %s\n", d->name, d->backend, (int) d->pid,
                               domain_count_class(d, THREAD_VCPU), d->n_threads, total[i], levers,
                               d->cgroup ? d->cgroup : "-");
                        DomainPaths p;
                        domain_paths(d, &p);
                        printf("  paths: agent: %s; qga: %s; vmi: %s; pause: %s; stop: %s\n", p.agent, p.qga, p.vmi,
                               p.pause, p.stop);
                        if (routes) {
                                CliRouteStatus rs;
                                cli_route_status(d, &rs);
                                printf("  kernel: %s; route %s: %s\n", rs.readable ? rs.kernel : "unknown", ROUTE_KCALL,
                                       rs.status);
                        }
                }
        }
        cli_free_cpu(&l, pct, total);
        domain_list_done(&l);
        return arg.hosts_failed ? CLI_EXIT_FAILURE : 0;   /* the others were listed; the line said which host */
}

int cmd_show(int argc, char **argv) {
        if (argc != 2)
                return cli_usage_error("usage: xvsched show DOMAIN");
        DomainList l;
        Domain *d;
        int r = cli_discover_one(argv[1], &l, &d);
        if (r < 0)
                return r;
        /* Measure just this one domain. */
        DomainList one = { .domains = &d, .n = 1 };
        double **pct = NULL, *total = NULL;
        r = cli_measure_cpu(&one, arg.window_ms, &pct, &total);
        if (r < 0) {
                domain_list_done(&l);
                return log_error_errno(r, "out of memory");
        }
        if (arg.json)
                cli_print_json(domain_json(d, pct[0], total[0], true));
        else {
                DomainLevers lv;
                lever_read_domain(&arg.hv, d, &lv);
                char host[256];
                hv_domain_host(d, host, sizeof host);
                printf("Domain:    %s (%s)\n", d->name, d->backend);
                printf("Host:      %s\n", host);
                if (d->uuid)
                        printf("UUID:      %s\n", d->uuid);
                printf("PID:       %d\n", (int) d->pid);
                printf("Cgroup:    %s\n", d->cgroup ? d->cgroup : "-");
                printf("QMP:       %s\n", d->qmp_socket ? d->qmp_socket : "-");
                printf("Agent:     %s\n", d->agent_socket ? d->agent_socket : "-");
                if (d->libvirt_uri)
                        printf("libvirt:   %s%s\n", d->libvirt_uri, d->remote ? " (remote)" : "");
                DomainPaths p;
                domain_paths(d, &p);
                printf("Paths:     agent: %s\n           qga: %s\n           vmi: %s\n           pause: %s\n"
                       "           stop: %s\n",
                       p.agent, p.qga, p.vmi, p.pause, p.stop);
                printf("vCPUs by:  %s\n", d->vcpu_source ? d->vcpu_source : "-");
                printf("CPU:       %.1f %% of one CPU\n", total[0]);
                char levers[64];
                fmt_levers(&lv, levers, sizeof levers);
                _cleanup_free_ char *mems = lv.have_mems ? cpuset_format(&lv.mems) : NULL;
                char mem[32] = "-", io[16] = "-";
                if (lv.have_memory)
                        snprintf(mem, sizeof mem, lv.memory == UINT64_MAX ? "max" : "%llu MiB",
                                 (unsigned long long) (lv.memory >> 20));
                if (lv.have_ioweight)
                        snprintf(io, sizeof io, "%u", lv.ioweight);
                printf("Levers:    WEIGHT CAP    CPUSET   MEMS %s  MEMORY %s  IOWEIGHT %s  IDLE %s\n", mems ? mems : "-", mem, io,
                       lv.have_idle ? (lv.idle ? "yes" : "no") : "-");
                printf("           %s\n", levers);
                printf("\n%8s %-9s %4s %-18s %5s %-6s %4s %-8s %6s\n", "TID", "CLASS", "VCPU", "COMM", "NICE", "POLICY",
                       "PRIO", "AFFINITY", "CPU%");
                for (size_t i = 0; i < d->n_threads; i++) {
                        const DomainThread *t = &d->threads[i];
                        ThreadSched ts;
                        if (thread_sched_get(t->tid, &ts) < 0)
                                continue;
                        _cleanup_free_ char *aff = cpuset_format(&ts.affinity);
                        char vcpu[12] = "-";
                        if (t->vcpu >= 0)
                                snprintf(vcpu, sizeof vcpu, "%d", t->vcpu);
                        printf("%8d %-9s %4s %-18s %5d %-6s %4d %-8s %6.1f\n", (int) t->tid, thread_class_to_string(t->class),
                               vcpu, t->comm, ts.nice, sched_policy_to_string(ts.policy), ts.rt_priority, aff ? aff : "?",
                               pct[0][i]);
                }
        }
        cli_free_cpu(&one, pct, total);
        domain_list_done(&l);
        return 0;
}
