/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kcall-soak: the soak of agentless control (issue 12, docs/agentless.md)
 * through the vmi view of a running QEMU with no agent.  Each cycle:
 *
 *   stop/resume  guest_view_stop (SIGSTOP injected while the VM is paused),
 *                the target reaches T and its CPU time stops growing;
 *                guest_view_cont (send_sig(SIGCONT) called in the guest
 *                kernel through QEMU's gdbstub), the target leaves T;
 *   renice       guest_view_nice 5 then 0 (set_user_nice through the
 *                gdbstub), every thread of the group reads back 5, then 0;
 *
 * and after each action the VM's run state (QMP query-status: running), and
 * after each half-cycle every other task's stop state (T/t) and nice value
 * against the task list before it.  One line per cycle on stdout, a
 * summary line at the end; "soak: action NAME" / "soak: end" on stderr
 * around each action so that the view's debug lines (pause times) can be
 * attributed to it.
 *
 *   kcall-soak --pid QEMU_PID --qmp SOCK [--hold-ms MS] [--max-s S] [--max-fail N] TGID CYCLES
 *
 * Exit 0 when every cycle passed every check. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "qmp/qmp.h"
#include "view-registry/view-registry.h"
#include "view/view.h"

static pid_t arg_pid;
static const char *arg_qmp;
static unsigned arg_hold_ms = 20, arg_max_s, arg_max_fail = 20;

static uint64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

static const GuestTask *find_tid(const GuestTask *t, size_t n, pid_t tid) {
        for (size_t i = 0; i < n; i++)
                if (t[i].tid == tid)
                        return &t[i];
        return NULL;
}

static bool stopped(char s) {
        return s == 'T' || s == 't';
}

typedef struct Snap {
        GuestTask *t;
        size_t n;
} Snap;

static void snap_done(Snap *s) {
        free(s->t);
        *s = (Snap) {};
}

static int snap(GuestView *v, Snap *s) {
        snap_done(s);
        int r = -EAGAIN;
        for (int i = 0; i < 5 && r < 0; i++) {
                r = guest_view_tasks(v, &s->t, &s->n);
                if (r < 0)
                        sleep_ms(50);
        }
        return r;
}

/* Other tasks (not of thread group tgid) present in both lists whose stop
 * state or nice value differs; each printed. */
static unsigned others_changed(const Snap *a, const Snap *b, pid_t tgid, unsigned cycle, const char *phase) {
        unsigned k = 0;
        for (size_t i = 0; i < a->n; i++) {
                const GuestTask *x = &a->t[i], *y;
                if (x->pid == tgid || x->is_agent || !(y = find_tid(b->t, b->n, x->tid)))
                        continue;
                if (y->pid != x->pid || y->start_time_ns != x->start_time_ns)
                        continue; /* tid reused */
                if (stopped(x->state) != stopped(y->state) || x->nice != y->nice) {
                        printf("cycle %u %s: other task %d (%s) changed: state %c -> %c, nice %d -> %d\n", cycle, phase,
                               (int) x->tid, x->comm, x->state, y->state, x->nice, y->nice);
                        k++;
                }
        }
        return k;
}

static unsigned vm_unknown;

/* The VM runs (not paused, not in 'debug'): 1, else 0 (printed).  QMP takes
 * one client at a time and QEMU's main loop may be slow to accept under
 * load: a check that cannot connect is tried three times, then counted as
 * unknown (vm_unknown), not as "not running". */
static int vm_running(unsigned cycle, const char *after) {
        int r = 0;
        for (int i = 0; i < 3; i++) {
                _cleanup_(qmp_freep) QmpClient *q = NULL;
                _cleanup_free_ char *status = NULL;
                bool running = false;
                r = qmp_connect(arg_qmp, 5000, &q);
                if (r < 0)
                        continue;
                r = qmp_query_status(q, &running, &status);
                if (r < 0)
                        continue;
                if (running)
                        return 1;
                printf("cycle %u: after %s the VM is not running: %s\n", cycle, after, status ? status : "?");
                return 0;
        }
        printf("cycle %u: after %s the VM's run state is unknown (QMP: %s)\n", cycle, after, strerror(-r));
        vm_unknown++;
        return 1;
}

/* Wait until tid is (not) stopped; the task on success. */
static int wait_state(GuestView *v, pid_t tid, bool want_stopped, unsigned timeout_ms, GuestTask *ret) {
        uint64_t end = now_us() + (uint64_t) timeout_ms * 1000;
        for (;;) {
                Snap s = {};
                int r = snap(v, &s);
                const GuestTask *x = r >= 0 ? find_tid(s.t, s.n, tid) : NULL;
                if (x && stopped(x->state) == want_stopped) {
                        *ret = *x;
                        snap_done(&s);
                        return 0;
                }
                snap_done(&s);
                if (r >= 0 && !x)
                        return -ESRCH;
                if (now_us() > end)
                        return -ETIMEDOUT;
                sleep_ms(5);
        }
}

/* Every thread of tgid has nice value want (within timeout_ms). */
static int wait_nice(GuestView *v, pid_t tgid, int want, unsigned timeout_ms, int *ret_seen) {
        uint64_t end = now_us() + (uint64_t) timeout_ms * 1000;
        for (;;) {
                Snap s = {};
                int r = snap(v, &s);
                unsigned threads = 0, ok = 0;
                for (size_t i = 0; r >= 0 && i < s.n; i++)
                        if (s.t[i].pid == tgid) {
                                threads++;
                                ok += s.t[i].nice == want;
                                if (s.t[i].nice != want)
                                        *ret_seen = s.t[i].nice;
                        }
                snap_done(&s);
                if (threads > 0 && ok == threads)
                        return 0;
                if (r >= 0 && threads == 0)
                        return -ESRCH;
                if (now_us() > end)
                        return -ETIMEDOUT;
                sleep_ms(5);
        }
}

static int act(GuestView *v, const char *name, pid_t pid, int nice) {
        fprintf(stderr, "soak: action %s\n", name);
        int r = streq(name, "stop") ? guest_view_stop(v, pid) :
                streq(name, "cont") ? guest_view_cont(v, pid) :
                                      guest_view_nice(v, pid, nice);
        fprintf(stderr, "soak: end %d\n", r);
        return r;
}

/* One stop/resume: 0 passed, -1 failed (printed). */
static int stop_cycle(GuestView *v, pid_t pid, unsigned i, unsigned *ret_vm_bad) {
        GuestTask a, b, c;
        int r = act(v, "stop", pid, 0);
        *ret_vm_bad += !vm_running(i, "stop");
        if (r < 0) {
                printf("cycle %u: stop: %s: %s\n", i, strerror(-r), guest_view_last_error(v));
                return -1;
        }
        r = wait_state(v, pid, true, 10000, &a);
        if (r < 0) {
                printf("cycle %u: %d did not stop: %s\n", i, (int) pid, strerror(-r));
                (void) act(v, "cont", pid, 0);
                return -1;
        }
        /* T is set before the task has switched away (its last slice is
         * accounted at the switch): wait until no CPU runs it */
        for (int k = 0; k < 1000; k++) {
                _cleanup_free_ GuestCpu *cpus = NULL;
                size_t nc = 0;
                bool running = guest_view_cpus(v, &cpus, &nc) < 0;
                for (size_t j = 0; j < nc; j++)
                        running = running || cpus[j].tid == pid;
                if (!running)
                        break;
                sleep_ms(2);
        }
        int fa = wait_state(v, pid, true, 2000, &a);
        sleep_ms(arg_hold_ms);
        int fb = wait_state(v, pid, true, 2000, &b);
        bool frozen = fa >= 0 && fb >= 0 && a.cpu_ns == b.cpu_ns;
        if (!frozen)
                printf("cycle %u: not frozen while stopped: cpu_ns %" PRIu64 " -> %" PRIu64 "\n", i, a.cpu_ns, b.cpu_ns);
        r = act(v, "cont", pid, 0);
        *ret_vm_bad += !vm_running(i, "cont");
        if (r < 0) {
                printf("cycle %u: cont: %s: %s\n", i, strerror(-r), guest_view_last_error(v));
                return -1;
        }
        r = wait_state(v, pid, false, 10000, &c);
        if (r < 0) {
                printf("cycle %u: %d did not resume: %s\n", i, (int) pid, strerror(-r));
                return -1;
        }
        return frozen ? 0 : -1;
}

static int nice_cycle(GuestView *v, pid_t pid, unsigned i, unsigned *ret_vm_bad) {
        static const int values[2] = { 5, 0 };
        int ret = 0;
        for (int k = 0; k < 2; k++) {
                int r = act(v, k == 0 ? "nice" : "renice0", pid, values[k]);
                *ret_vm_bad += !vm_running(i, k == 0 ? "nice" : "renice0");
                if (r < 0) {
                        printf("cycle %u: nice %d: %s: %s\n", i, values[k], strerror(-r), guest_view_last_error(v));
                        ret = -1;
                        continue; /* still try to restore 0 */
                }
                int seen = values[k];
                r = wait_nice(v, pid, values[k], 5000, &seen);
                if (r < 0) {
                        printf("cycle %u: nice %d not read back (%s; a thread has %d)\n", i, values[k], strerror(-r), seen);
                        ret = -1;
                }
        }
        return ret;
}

static int soak(pid_t pid, unsigned n) {
        _cleanup_(domain_freep) Domain *d = domain_new("kcall-soak", "qmp");
        if (!d)
                return 1;
        d->pid = arg_pid;
        d->qmp_socket = strdup(arg_qmp);
        GuestView *v = NULL;
        int r = guest_view_open(&guest_view_vmi, d, &v);
        if (r < 0) {
                fprintf(stderr, "kcall-soak: cannot open the vmi view: %s (%s)\n", strerror(-r),
                        guest_view_open_error(&guest_view_vmi, r));
                return 1;
        }
        printf("control path: %s\n", guest_view_control_path(v));
        fflush(stdout);
        if (!guest_view_can_stop(v)) {
                fprintf(stderr, "kcall-soak: this domain offers no stop: %s\n", guest_view_last_error(v));
                guest_view_free(v);
                return 1;
        }
        unsigned done = 0, stop_ok = 0, stop_fail = 0, nice_ok = 0, nice_fail = 0, others = 0, vm_bad = 0, snap_fail = 0;
        uint64_t start = now_us();
        Snap s0 = {}, s1 = {};
        for (unsigned i = 0; i < n; i++) {
                if (arg_max_s && now_us() - start > (uint64_t) arg_max_s * 1000000) {
                        printf("time limit %u s reached after %u cycles\n", arg_max_s, done);
                        break;
                }
                if (stop_fail + nice_fail >= arg_max_fail) {
                        printf("%u failures: giving up after %u cycles\n", stop_fail + nice_fail, done);
                        break;
                }
                unsigned oc = 0;
                bool snaps = snap(v, &s0) >= 0;
                int rs = stop_cycle(v, pid, i, &vm_bad);
                snaps = snaps && snap(v, &s1) >= 0;
                if (snaps)
                        oc += others_changed(&s0, &s1, pid, i, "stop/resume");
                int rn = nice_cycle(v, pid, i, &vm_bad);
                snaps = snaps && snap(v, &s0) >= 0;
                if (snaps)
                        oc += others_changed(&s1, &s0, pid, i, "renice");
                snap_fail += !snaps;
                stop_ok += rs == 0;
                stop_fail += rs < 0;
                nice_ok += rn == 0;
                nice_fail += rn < 0;
                others += oc;
                done++;
                printf("cycle %u stop/resume %s renice %s others_changed %u t=%.1fs\n", i, rs == 0 ? "ok" : "FAIL",
                       rn == 0 ? "ok" : "FAIL", oc, (double) (now_us() - start) / 1e6);
                fflush(stdout);
        }
        snap_done(&s0);
        snap_done(&s1);
        /* it ends running with nice 0: CPU time grows again */
        GuestTask e = {}, f = {};
        int se = wait_state(v, pid, false, 5000, &e);
        sleep_ms(1000);
        int sf = wait_state(v, pid, false, 5000, &f);
        guest_view_free(v);
        bool end_ok = se >= 0 && sf >= 0 && f.cpu_ns > e.cpu_ns && f.nice == 0;
        printf("soak cycles=%u asked=%u stop_resume_ok=%u stop_resume_fail=%u renice_ok=%u renice_fail=%u "
               "others_changed=%u vm_not_running=%u vm_state_unknown=%u snapshot_fail=%u end_state=%c end_nice=%d end_running=%s "
               "total_s=%.1f\n",
               done, n, stop_ok, stop_fail, nice_ok, nice_fail, others, vm_bad, vm_unknown, snap_fail, sf >= 0 ? f.state : '?',
               f.nice, end_ok ? "yes" : "no", (double) (now_us() - start) / 1e6);
        return done == n && stop_fail == 0 && nice_fail == 0 && others == 0 && vm_bad == 0 && end_ok ? 0 : 1;
}

static void usage(void) {
        fputs("Usage: kcall-soak --pid QEMU_PID --qmp SOCK [--hold-ms MS] [--max-s S] [--max-fail N] TGID CYCLES\n",
              stderr);
        exit(2);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "pid", required_argument, NULL, 'p' },
                { "qmp", required_argument, NULL, 'q' },
                { "hold-ms", required_argument, NULL, 'H' },
                { "max-s", required_argument, NULL, 'm' },
                { "max-fail", required_argument, NULL, 'f' },
                {},
        };
        int c;
        /* the view's debug lines (each pause and guest kernel call) on stderr */
        if (getenv("KCALL_SOAK_DEBUG"))
                log_set_max_level(LOG_DEBUG);
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'p': arg_pid = atoi(optarg); break;
                case 'q': arg_qmp = optarg; break;
                case 'H': arg_hold_ms = (unsigned) atoi(optarg); break;
                case 'm': arg_max_s = (unsigned) atoi(optarg); break;
                case 'f': arg_max_fail = (unsigned) atoi(optarg); break;
                default: usage();
                }
        if (arg_pid <= 0 || !arg_qmp || argc - optind != 2)
                usage();
        int tgid = atoi(argv[optind]), n = atoi(argv[optind + 1]);
        if (tgid <= 1 || n <= 0)
                usage();
        return soak(tgid, (unsigned) n);
}
