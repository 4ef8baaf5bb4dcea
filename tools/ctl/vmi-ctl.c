/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vmi-ctl: drive the vmi guest view against a running QEMU (tests, demos).
 *
 *   vmi-ctl --pid P [--qmp SOCK] [--agent SOCK] COMMAND
 *     info                attach and print what was found
 *     ps                  one line per thread: PID TID STATE CPU NICE CPU_NS COMM CMDLINE
 *     cpus                one line per CPU: CPU VCPU PID TID IDLE NR_RUNNING COMM
 *     stop PID | cont PID
 *     crosscheck N        N rounds: vmi view vs the agent's before and after (pid, tid, comm, state)
 *     cpucheck N          N rounds: each CPU's rq->curr vs the agent's /proc (state R, cpu)
 *     cycles PID N        N stop/resume cycles of a thread group, checked through the
 *                         vmi view (state T while stopped, CPU time frozen)
 * Exit 0 on success; errors on stderr. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "view/view.h"
#include "view-registry/view-registry.h"
#include "vmi/mem.h"
#include "vmi/vmi.h"
#include "qmp/qmp.h"

static pid_t arg_pid;
static const char *arg_qmp, *arg_agent;
static unsigned arg_hold_ms = 20;
static bool arg_quick;

static uint64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

static Domain *make_domain(void) {
        Domain *d = domain_new("vmi-ctl", "qmp");
        if (!d)
                exit(1);
        d->pid = arg_pid;
        d->qmp_socket = arg_qmp ? strdup(arg_qmp) : NULL;
        d->agent_socket = arg_agent ? strdup(arg_agent) : NULL;
        return d;
}

static GuestView *open_view(const GuestViewOps *ops, Domain *d) {
        GuestView *v = NULL;
        int r = guest_view_open(ops, d, &v);
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: cannot open the %s view: %s (%s)\n", ops->name, strerror(-r),
                        ops == &guest_view_vmi ? vmi_last_error(NULL) : agent_client_last_error(NULL));
                exit(1);
        }
        return v;
}

static int cmd_info(void) {
        _cleanup_(qmp_freep) QmpClient *q = NULL;
        if (arg_qmp && qmp_connect(arg_qmp, 3000, &q) < 0)
                q = NULL;
        _cleanup_free_ VmiVcpuRegs *regs = NULL;
        size_t n_regs = 0;
        if (q) {
                _cleanup_free_ char *out = NULL;
                if (qmp_hmp(q, "info registers -a", &out) >= 0)
                        (void) vmi_parse_info_registers(out, &regs, &n_regs);
        }
        uint64_t t0 = now_us();
        _cleanup_(vmi_mem_freep) VmiMem *m = NULL;
        int r = vmi_mem_open_process(arg_pid, q, true, &m);
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: guest RAM of pid %d: %s\n", (int) arg_pid, strerror(-r));
                return 1;
        }
        uint64_t t1 = now_us();
        VmiOptions o = { .regs = regs, .n_regs = n_regs, .max_cpus = (int) n_regs };
        _cleanup_(vmi_freep) Vmi *v = NULL;
        r = vmi_attach(m, &o, &v);
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: attach: %s: %s\n", strerror(-r), vmi_last_error(NULL));
                return 1;
        }
        printf("ram_layout %s\n", m->how);
        for (size_t i = 0; i < m->n_regions; i++)
                printf("ram_region gpa=%#" PRIx64 " size=%#" PRIx64 " hva=%#" PRIx64 " mapped=%d\n", m->regions[i].gpa,
                       m->regions[i].size, m->regions[i].hva, m->regions[i].local != NULL);
        const VmiBtfStats *bs = &v->stats.btf;
        printf("btf gpa=%#" PRIx64 " size=%zu headers=%" PRIu64 " split=%" PRIu64 " not_btf=%" PRIu64
               " candidates=%" PRIu64 " looked=%" PRIu64 " not_kernel=%" PRIu64 " read=%" PRIu64 " parsed=%" PRIu64 "\n",
               v->btf_gpa, v->btf_size, bs->headers, bs->split, bs->bad, bs->candidates, bs->looked, bs->no_task_struct,
               bs->read_bytes, bs->parsed);
        printf("init_task pa=%#" PRIx64 " va=%#" PRIx64 "\n", v->init_task_pa, v->init_task_va);
        printf("page_offset_base %#" PRIx64 "\n", v->page_offset_base);
        printf("kimage_voffset %#" PRIx64 "\n", v->kimage_voffset);
        printf("kernel_pgd_pa %#" PRIx64 "\n", v->kernel_pgd_pa);
        printf("cpus %d via %s, %d confirmed by GS\n", v->ncpus, v->cpus_how, v->gs_checked);
        for (int i = 0; i < v->ncpus; i++)
                printf("rq cpu=%d va=%#" PRIx64 " vcpu=%d\n", i, v->rq_va[i], v->cpu_vcpu[i]);
        printf("offsets task_struct: state=%d tasks=%d pid=%d tgid=%d comm=%d pending.signal=%d span=%d..%d\n",
               v->L.t_state, v->L.t_tasks, v->L.t_pid, v->L.t_tgid, v->L.t_comm, v->L.t_pending_sig, v->L.span_lo,
               v->L.span_hi);
        printf("percpu runqueues=%" PRId64 " current_task=%" PRId64 "\n", v->L.pcpu_runqueues, v->L.pcpu_current_task);
        printf("time_us ram=%" PRIu64 " btf=%" PRIu64 " init_task=%" PRIu64 " cpus=%" PRIu64 " attach=%" PRIu64 "\n",
               t1 - t0, v->stats.btf_us, v->stats.init_task_us, v->stats.cpus_us, v->stats.attach_us);
        return 0;
}

static int cmd_ps(void) {
        _cleanup_(domain_freep) Domain *d = make_domain();
        _cleanup_(guest_view_freep) GuestView *v = open_view(&guest_view_vmi, d);
        _cleanup_free_ GuestTask *t = NULL;
        size_t n;
        int r = guest_view_tasks(v, &t, &n);
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: tasks: %s: %s\n", strerror(-r), guest_view_last_error(v));
                return 1;
        }
        for (size_t i = 0; i < n; i++)
                printf("%d\t%d\t%c\t%d\t%d\t%" PRIu64 "\t%s\t%s\n", (int) t[i].pid, (int) t[i].tid, t[i].state, t[i].cpu,
                       t[i].nice, t[i].cpu_ns, t[i].comm, t[i].cmdline);
        return 0;
}

static int cmd_cpus(void) {
        _cleanup_(domain_freep) Domain *d = make_domain();
        _cleanup_(guest_view_freep) GuestView *v = open_view(&guest_view_vmi, d);
        _cleanup_free_ GuestCpu *c = NULL;
        size_t n;
        int r = guest_view_cpus(v, &c, &n);
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: cpus: %s: %s\n", strerror(-r), guest_view_last_error(v));
                return 1;
        }
        for (size_t i = 0; i < n; i++)
                printf("%d\t%d\t%d\t%d\t%d\t%u\t%s\n", c[i].cpu, c[i].vcpu, (int) c[i].pid, (int) c[i].tid, c[i].idle,
                       c[i].nr_running, c[i].comm);
        return 0;
}

static int cmd_stopcont(bool stop, pid_t pid) {
        _cleanup_(domain_freep) Domain *d = make_domain();
        _cleanup_(guest_view_freep) GuestView *v = open_view(&guest_view_vmi, d);
        printf("control_path %s\n", guest_view_control_path(v));
        guest_view_set_quick(v, arg_quick);
        uint64_t t0 = now_us();
        int r = stop ? guest_view_stop(v, pid) : guest_view_cont(v, pid);
        printf("call_ms %" PRIu64 "\n", (now_us() - t0) / 1000);   /* the call alone, not the attach */
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: %s %d: %s: %s\n", stop ? "stop" : "cont", (int) pid, strerror(-r),
                        guest_view_last_error(v));
                return 1;
        }
        return 0;
}

static const GuestTask *find_tid(const GuestTask *t, size_t n, pid_t tid) {
        for (size_t i = 0; i < n; i++)
                if (t[i].tid == tid)
                        return &t[i];
        return NULL;
}

static bool same_task(const GuestTask *x, const GuestTask *a) {
        return x && a && x->pid == a->pid && streq(x->comm, a->comm) && x->state == a->state;
}

/* Agent view vs vmi view, N rounds: agent, vmi, agent, vmi, agent, ...
 * Each vmi scan lies between two agent snapshots; a task matches when the
 * vmi view has its tid with the same pid, comm and state as either of them
 * (a kworker's description or a state that changed in between is
 * ambiguous, not wrong).  Prints the totals. */
static int cmd_crosscheck(unsigned rounds) {
        _cleanup_(domain_freep) Domain *d = make_domain();
        _cleanup_(guest_view_freep) GuestView *vv = open_view(&guest_view_vmi, d);
        _cleanup_(guest_view_freep) GuestView *av = open_view(&guest_view_agent, d);
        uint64_t total = 0, match = 0, missing = 0, extra = 0;
        _cleanup_free_ GuestTask *a0 = NULL;
        size_t n0 = 0;
        int r = guest_view_tasks(av, &a0, &n0);
        if (r < 0) {
                fprintf(stderr, "vmi-ctl: agent tasks: %s: %s\n", strerror(-r), guest_view_last_error(av));
                return 1;
        }
        for (unsigned k = 0; k < rounds; k++) {
                _cleanup_free_ GuestTask *m = NULL, *a1 = NULL;
                size_t nm, n1;
                r = guest_view_tasks(vv, &m, &nm);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: vmi tasks: %s: %s\n", strerror(-r), guest_view_last_error(vv));
                        return 1;
                }
                r = guest_view_tasks(av, &a1, &n1);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: agent tasks: %s: %s\n", strerror(-r), guest_view_last_error(av));
                        return 1;
                }
                for (size_t i = 0; i < n1; i++) {
                        const GuestTask *a = &a1[i];
                        if (a->is_agent || streq(a->comm, "xvagent"))
                                continue;
                        const GuestTask *before = find_tid(a0, n0, a->tid);
                        if (!before)
                                continue;   /* born between the snapshots */
                        total++;
                        const GuestTask *x = find_tid(m, nm, a->tid);
                        if (!x) {
                                missing++;
                                printf("missing %d %s %c\n", (int) a->tid, a->comm, a->state);
                        } else if (same_task(x, a) || same_task(x, before))
                                match++;
                        else
                                printf("differs tid=%d agent=(%d,%s,%c)/(%d,%s,%c) vmi=(%d,%s,%c)\n", (int) a->tid,
                                       (int) before->pid, before->comm, before->state, (int) a->pid, a->comm, a->state,
                                       (int) x->pid, x->comm, x->state);
                }
                for (size_t i = 0; i < nm; i++)
                        if (!streq(m[i].comm, "xvagent") && !find_tid(a0, n0, m[i].tid) && !find_tid(a1, n1, m[i].tid)) {
                                extra++;
                                printf("extra %d %s %c\n", (int) m[i].tid, m[i].comm, m[i].state);
                        }
                free(a0);
                a0 = TAKE_PTR(a1);
                n0 = n1;
        }
        printf("crosscheck rounds=%u tasks=%" PRIu64 " match=%" PRIu64 " missing=%" PRIu64 " extra=%" PRIu64
               " match_permille=%" PRIu64 "\n",
               rounds, total, match, missing, extra, total ? match * 1000 / total : 0);
        return 0;
}

/* rq->curr of every CPU against the guest's own /proc (through the agent):
 * a CPU agrees when its current thread is one /proc shows running (R) on
 * that CPU, or when it is idle and /proc shows nothing running there. */
static int cmd_cpucheck(unsigned rounds) {
        _cleanup_(domain_freep) Domain *d = make_domain();
        _cleanup_(guest_view_freep) GuestView *vv = open_view(&guest_view_vmi, d);
        _cleanup_(guest_view_freep) GuestView *av = open_view(&guest_view_agent, d);
        uint64_t total = 0, agree = 0, unstable = 0;
        for (unsigned k = 0; k < rounds; k++) {
                _cleanup_free_ GuestTask *a = NULL;
                _cleanup_free_ GuestCpu *c = NULL;
                size_t na, nc;
                int r = guest_view_cpus(vv, &c, &nc);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: cpus: %s: %s\n", strerror(-r), guest_view_last_error(vv));
                        return 1;
                }
                r = guest_view_tasks(av, &a, &na);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: agent tasks: %s\n", strerror(-r));
                        return 1;
                }
                /* the agent's read takes a while: compare only CPUs whose
                 * current thread was the same before and after it */
                _cleanup_free_ GuestCpu *c2 = NULL;
                size_t nc2;
                r = guest_view_cpus(vv, &c2, &nc2);
                if (r < 0 || nc2 != nc) {
                        fprintf(stderr, "vmi-ctl: cpus: %s\n", strerror(r < 0 ? -r : EIO));
                        return 1;
                }
                for (size_t i = 0; i < nc; i++) {
                        bool ok;
                        /* the agent finishing its reply is our own doing */
                        if (!c[i].idle && streq(c[i].comm, "xvagent"))
                                continue;
                        if (c[i].tid != c2[i].tid || c[i].idle != c2[i].idle) {
                                unstable++;
                                continue;
                        }
                        const GuestTask *x = c[i].idle ? NULL : find_tid(a, na, c[i].tid);
                        if (c[i].idle) {
                                ok = true;
                                for (size_t j = 0; j < na; j++)
                                        if (!a[j].is_agent && !streq(a[j].comm, "xvagent") && a[j].state == 'R' &&
                                            a[j].cpu == c[i].cpu)
                                                ok = false;
                        } else
                                ok = x && x->state == 'R' && x->cpu == c[i].cpu;
                        total++;
                        agree += ok;
                        printf("cpu %d vcpu %d curr %d %s idle=%d nr_running=%u proc=%c/%d %s\n", c[i].cpu, c[i].vcpu,
                               (int) c[i].tid, c[i].comm, c[i].idle, c[i].nr_running, x ? x->state : '-', x ? x->cpu : -1,
                               ok ? "agree" : "DISAGREE");
                }
                sleep_ms(50);
        }
        printf("cpucheck rounds=%u samples=%" PRIu64 " unstable=%" PRIu64 " agree=%" PRIu64 " agree_permille=%" PRIu64 "\n",
               rounds, total, unstable, agree, total ? agree * 1000 / total : 0);
        return 0;
}

static int task_of(GuestView *v, pid_t tid, GuestTask *ret) {
        _cleanup_free_ GuestTask *t = NULL;
        size_t n;
        int r = guest_view_tasks(v, &t, &n);
        if (r < 0)
                return r;
        const GuestTask *x = find_tid(t, n, tid);
        if (!x)
                return -ESRCH;
        *ret = *x;
        return 0;
}

/* Wait until the state of tid satisfies want (T or not T); timeout_ms. */
static int wait_state(GuestView *v, pid_t tid, bool stopped, unsigned timeout_ms, GuestTask *ret) {
        uint64_t end = now_us() + (uint64_t) timeout_ms * 1000;
        for (;;) {
                int r = task_of(v, tid, ret);
                if (r < 0 && r != -EAGAIN)
                        return r;
                if (r >= 0 && (ret->state == 'T') == stopped)
                        return 0;
                if (now_us() > end)
                        return -ETIMEDOUT;
                sleep_ms(2);
        }
}

static int cmd_cycles(pid_t pid, unsigned n) {
        _cleanup_(domain_freep) Domain *d = make_domain();
        _cleanup_(guest_view_freep) GuestView *v = open_view(&guest_view_vmi, d);
        if (!guest_view_can_stop(v)) {
                fprintf(stderr, "vmi-ctl: this domain offers no stop (control path %s): %s\n", guest_view_control_path(v),
                        guest_view_last_error(v));
                return 1;
        }
        uint64_t t_stop = 0, t_cont = 0, frozen_ok = 0, max_stop_us = 0;
        uint64_t start = now_us();
        for (unsigned i = 0; i < n; i++) {
                GuestTask a, b, c;
                uint64_t t0 = now_us();
                int r = guest_view_stop(v, pid);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: cycle %u: stop: %s: %s\n", i, strerror(-r), guest_view_last_error(v));
                        return 1;
                }
                r = wait_state(v, pid, true, 5000, &a);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: cycle %u: %d did not stop: %s\n", i, (int) pid, strerror(-r));
                        return 1;
                }
                uint64_t t1 = now_us();
                t_stop += t1 - t0;
                max_stop_us = MAX(max_stop_us, t1 - t0);
                /* T is set before the task has switched away, and its last
                 * slice is accounted at the switch (late when the host
                 * preempts the vCPU in between): wait until no CPU runs it
                 * (rq->curr), then sample, hold and compare */
                for (int k = 0; k < 1000; k++) {
                        _cleanup_free_ GuestCpu *cpus = NULL;
                        size_t nc = 0;
                        bool running = false;
                        if (guest_view_cpus(v, &cpus, &nc) >= 0)
                                for (size_t j = 0; j < nc; j++)
                                        running = running || cpus[j].tid == pid;
                        else
                                running = true;
                        if (!running)
                                break;
                        sleep_ms(2);
                }
                if (task_of(v, pid, &a) < 0)
                        return 1;
                sleep_ms(arg_hold_ms);
                r = task_of(v, pid, &b);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: cycle %u: %s\n", i, strerror(-r));
                        return 1;
                }
                if (b.state == 'T' && b.cpu_ns == a.cpu_ns)
                        frozen_ok++;
                else
                        printf("cycle %u: not frozen: state %c cpu_ns %" PRIu64 " -> %" PRIu64 "\n", i, b.state, a.cpu_ns,
                               b.cpu_ns);
                uint64_t t2 = now_us();
                r = guest_view_cont(v, pid);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: cycle %u: cont: %s: %s\n", i, strerror(-r), guest_view_last_error(v));
                        return 1;
                }
                r = wait_state(v, pid, false, 5000, &c);
                if (r < 0) {
                        fprintf(stderr, "vmi-ctl: cycle %u: %d did not resume: %s\n", i, (int) pid, strerror(-r));
                        return 1;
                }
                t_cont += now_us() - t2;
        }
        /* it ends running: CPU time grows again */
        GuestTask e, f;
        sleep_ms(100);
        if (task_of(v, pid, &e) < 0)
                return 1;
        sleep_ms(500);
        if (task_of(v, pid, &f) < 0)
                return 1;
        printf("cycles n=%u frozen=%" PRIu64 " stop_to_T_us_avg=%" PRIu64 " stop_to_T_us_max=%" PRIu64
               " cont_to_running_us_avg=%" PRIu64 " total_s=%.1f end_state=%c end_cpu_ns_delta=%" PRIu64 "\n",
               n, frozen_ok, n ? t_stop / n : 0, max_stop_us, n ? t_cont / n : 0, (double) (now_us() - start) / 1e6,
               f.state, f.cpu_ns - e.cpu_ns);
        return frozen_ok == n && f.state != 'T' && f.cpu_ns > e.cpu_ns ? 0 : 1;
}

static void usage(void) {
        fputs("Usage: vmi-ctl --pid PID [--qmp SOCK] [--agent SOCK] [--hold-ms MS] [--quick]\n"
              "               info | ps | cpus | stop PID | cont PID | crosscheck N | cpucheck N | cycles PID N\n",
              stderr);
        exit(2);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "pid", required_argument, NULL, 'p' },
                { "qmp", required_argument, NULL, 'q' },
                { "agent", required_argument, NULL, 'a' },
                { "hold-ms", required_argument, NULL, 'H' },
                { "quick", no_argument, NULL, 'Q' },   /* stop/cont as the daemon's rounds make them */
                {},
        };
        int c;
        /* debug lines (e.g. each guest kernel call's pause time) on stderr */
        if (getenv("VMI_CTL_DEBUG"))
                log_set_max_level(LOG_DEBUG);
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'p': arg_pid = atoi(optarg); break;
                case 'q': arg_qmp = optarg; break;
                case 'a': arg_agent = optarg; break;
                case 'H': arg_hold_ms = (unsigned) atoi(optarg); break;
                case 'Q': arg_quick = true; break;
                default: usage();
                }
        if (arg_pid <= 0 || optind >= argc)
                usage();
        const char *cmd = argv[optind];
        const char *a1 = optind + 1 < argc ? argv[optind + 1] : NULL;
        const char *a2 = optind + 2 < argc ? argv[optind + 2] : NULL;
        if (streq(cmd, "info"))
                return cmd_info();
        if (streq(cmd, "ps"))
                return cmd_ps();
        if (streq(cmd, "cpus"))
                return cmd_cpus();
        if ((streq(cmd, "stop") || streq(cmd, "cont")) && a1)
                return cmd_stopcont(streq(cmd, "stop"), atoi(a1));
        if (streq(cmd, "crosscheck"))
                return cmd_crosscheck(a1 ? (unsigned) atoi(a1) : 10);
        if (streq(cmd, "cpucheck"))
                return cmd_cpucheck(a1 ? (unsigned) atoi(a1) : 10);
        if (streq(cmd, "cycles") && a1 && a2)
                return cmd_cycles(atoi(a1), (unsigned) atoi(a2));
        usage();
}
