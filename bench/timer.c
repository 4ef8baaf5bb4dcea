/* SPDX-License-Identifier: GPL-2.0-or-later */
/* timer: wake-up latency of a timer (papers 003 (1) and 004).
 *
 *   periodic  setitimer(ITIMER_REAL, interval) delivers SIGALRM every
 *             interval; latency = handler time - the expiry it serves
 *             (start + k * interval).  A signal that is still pending when
 *             the next expiry comes absorbs it: such expiries are counted as
 *             missed and the next expected time skips past them.
 *   oneshot   the handler re-arms a single-shot timer each time; latency =
 *             handler time - (its own arm time + interval).
 *   abs       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on absolute
 *             deadlines, like cyclictest; overruns skip whole intervals.
 *
 * The handler only stores timestamps into a preallocated, mlocked array;
 * everything else is computed after the run. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lib/clock.h"
#include "lib/rt.h"
#include "xvbench.h"

const char wl_timer_usage[] =
        "Usage: xvbench timer [--mode periodic|oneshot|abs] [--interval T]\n"
        "                     [--duration D | --loops N] [--prio N] [--cpu N]\n"
        "                     [common options]\n"
        "\n"
        "Measure timer wake-up latency against the expected wake-up time.\n"
        "  --mode M      periodic: setitimer SIGALRM every interval (paper 003);\n"
        "                oneshot: the handler re-arms a one-shot timer (paper 003);\n"
        "                abs: clock_nanosleep(TIMER_ABSTIME), as cyclictest (default)\n"
        "  --interval T  timer interval (default 10ms; bare number: us)\n"
        "  --duration D  run for D (bare number: s), or\n"
        "  --loops N     N wake-ups (default 1000)\n"
        "  --prio N      SCHED_FIFO priority 1..99 (default: stay SCHED_OTHER)\n"
        "  --cpu N       pin to CPU N\n"
        "  --warmup N    wake-ups excluded at the start (default 1)\n"
        "  --max-latency T  exit status 3 when a latency exceeds T\n"
        "Memory is locked (mlockall) before measuring; a failure is a warning.\n";

enum { OPT_MODE = OPT_WL, OPT_INTERVAL, OPT_DURATION, OPT_LOOPS, OPT_PRIO, OPT_CPU };

typedef enum { MODE_PERIODIC, MODE_ONESHOT, MODE_ABS } TimerMode;
static const char *const mode_names[] = { "periodic", "oneshot", "abs" };

#define MAX_WAKEUPS 20000000u

/* Shared with the signal handler. */
static uint64_t *wake_ts, *arm_ts;
static volatile sig_atomic_t n_wake;
static size_t cap_wake;
static struct itimerval oneshot_it;
static volatile sig_atomic_t stop_rearm;

static void on_alarm_periodic(int sig) {
        (void) sig;
        int saved = errno;
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        if ((size_t) n_wake < cap_wake)
                wake_ts[n_wake++] = t;
        errno = saved;
}

static void on_alarm_oneshot(int sig) {
        (void) sig;
        int saved = errno;
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        if ((size_t) n_wake < cap_wake) {
                wake_ts[n_wake] = t;
                if ((size_t) n_wake + 1 < cap_wake && !stop_rearm) {
                        arm_ts[n_wake + 1] = now_ns(CLOCK_MONOTONIC);
                        setitimer(ITIMER_REAL, &oneshot_it, NULL);
                }
                n_wake++;
        }
        errno = saved;
}

typedef struct TimerParam {
        TimerMode mode;
        uint64_t interval_ns, duration_ns, loops;
        int prio, cpu;
        unsigned warmup;
} TimerParam;

typedef struct TimerStat {
        LatStats lat;           /* latency against the expected time */
        LatStats period;        /* periodic/abs: time between wake-ups */
        uint64_t wakeups, missed, early;
        bool mlocked;
} TimerStat;

static void record(TimerStat *s, unsigned *seen, unsigned warmup, int64_t lat) {
        if ((*seen)++ < warmup)
                return;
        if (lat < 0) {
                s->early++;
                lat = 0;
        }
        lat_add(&s->lat, (uint64_t) lat);
}

static int run_signal(Bench *b, const TimerParam *p, TimerStat *s, size_t cap) {
        struct sigaction sa = { .sa_handler = p->mode == MODE_PERIODIC ? on_alarm_periodic : on_alarm_oneshot };
        sigset_t block, old;

        cap_wake = cap;
        n_wake = 0;
        sigemptyset(&sa.sa_mask);
        sigemptyset(&block);
        sigaddset(&block, SIGALRM);
        sigprocmask(SIG_BLOCK, &block, &old);
        if (sigaction(SIGALRM, &sa, NULL) < 0)
                return -errno;

        struct timeval iv = { .tv_sec = (time_t) (p->interval_ns / NSEC_PER_SEC),
                              .tv_usec = (suseconds_t) (p->interval_ns % NSEC_PER_SEC / NSEC_PER_USEC) };
        struct itimerval it = { .it_value = iv, .it_interval = p->mode == MODE_PERIODIC ? iv : (struct timeval) {} };
        oneshot_it = (struct itimerval) { .it_value = iv };
        stop_rearm = 0;

        bench_start(b);
        uint64_t deadline = p->duration_ns ? b->start_mono + p->duration_ns : UINT64_MAX;
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        arm_ts[0] = t0;
        if (setitimer(ITIMER_REAL, &it, NULL) < 0)
                return -errno;
        sigset_t wait = old;
        sigdelset(&wait, SIGALRM);
        while ((size_t) n_wake < cap) {
                sigsuspend(&wait);
                if (p->duration_ns && now_ns(CLOCK_MONOTONIC) >= deadline)
                        break;
        }
        stop_rearm = 1;
        struct itimerval off = {};
        setitimer(ITIMER_REAL, &off, NULL);
        bench_stop(b);
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGALRM, SIG_IGN);

        size_t n = (size_t) n_wake;
        unsigned seen = 0;
        s->wakeups = n;
        if (p->mode == MODE_ONESHOT) {
                for (size_t i = 0; i < n; i++)
                        record(s, &seen, p->warmup, (int64_t) (wake_ts[i] - (arm_ts[i] + p->interval_ns)));
                return 0;
        }
        /* Periodic: the k-th expiry is at t0 + k * interval (k >= 1). */
        uint64_t k = 1;
        for (size_t i = 0; i < n; i++) {
                uint64_t now = wake_ts[i];
                uint64_t expected = t0 + k * p->interval_ns;
                /* An expiry between the dequeue and our clock read already
                 * belongs to the next signal: step back (sub-us window). */
                while (now < expected && s->missed > 0 && i > 0 &&
                       t0 + (k - 1) * p->interval_ns > wake_ts[i - 1]) {
                        k--;
                        s->missed--;
                        expected -= p->interval_ns;
                }
                record(s, &seen, p->warmup, (int64_t) (now - expected));
                if (i > 0 && seen > p->warmup)
                        lat_add(&s->period, now - wake_ts[i - 1]);
                /* Expiries up to now were absorbed by this signal. */
                uint64_t next = now > t0 ? (now - t0) / p->interval_ns + 1 : 1;
                if (next > k + 1)
                        s->missed += next - (k + 1);
                k = next > k + 1 ? next : k + 1;
        }
        return 0;
}

static int run_abs(Bench *b, const TimerParam *p, TimerStat *s, size_t cap) {
        unsigned seen = 0;
        bench_start(b);
        uint64_t deadline = p->duration_ns ? b->start_mono + p->duration_ns : UINT64_MAX;
        uint64_t next = now_ns(CLOCK_MONOTONIC) + p->interval_ns, prev = 0;
        for (size_t i = 0; i < cap; i++) {
                struct timespec ts = ns_to_ts(next);
                int r;
                while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
                        ;
                if (r != 0)
                        return -r;
                uint64_t now = now_ns(CLOCK_MONOTONIC);
                record(s, &seen, p->warmup, (int64_t) (now - next));
                if (prev && seen > p->warmup)
                        lat_add(&s->period, now - prev);
                prev = now;
                s->wakeups++;
                next += p->interval_ns;
                while (next <= now) {   /* overrun: skip, as cyclictest does */
                        next += p->interval_ns;
                        s->missed++;
                }
                if (now >= deadline)
                        break;
        }
        bench_stop(b);
        return 0;
}

int wl_timer_run(Bench *b, int argc, char **argv) {
        static const struct option opts[] = {
                { "mode", required_argument, NULL, OPT_MODE },
                { "interval", required_argument, NULL, OPT_INTERVAL },
                { "duration", required_argument, NULL, OPT_DURATION },
                { "loops", required_argument, NULL, OPT_LOOPS },
                { "prio", required_argument, NULL, OPT_PRIO },
                { "cpu", required_argument, NULL, OPT_CPU },
                {}
        };
        TimerParam p = { .mode = MODE_ABS, .interval_ns = 10 * NSEC_PER_MSEC, .loops = 1000, .cpu = -1 };
        bool have_loops = false;
        int c;
        while ((c = bench_getopt(b, argc, argv, opts)) != -1) {
                if (c == OPT_HELP)
                        return EXIT_OK;
                if (c < 0)
                        return -c;
                switch (c) {
                case OPT_MODE:
                        if (strcmp(optarg, "periodic") == 0)
                                p.mode = MODE_PERIODIC;
                        else if (strcmp(optarg, "oneshot") == 0 || strcmp(optarg, "one-shot") == 0)
                                p.mode = MODE_ONESHOT;
                        else if (strcmp(optarg, "abs") == 0)
                                p.mode = MODE_ABS;
                        else
                                return bench_usage(b, "unknown --mode '%s' (periodic, oneshot or abs)", optarg);
                        break;
                case OPT_INTERVAL:
                        if (opt_duration(b, "interval", optarg, NSEC_PER_USEC, &p.interval_ns) < 0)
                                return EXIT_USAGE;
                        if (p.interval_ns < NSEC_PER_USEC || p.interval_ns > 10 * NSEC_PER_SEC)
                                return bench_usage(b, "--interval must be between 1us and 10s");
                        break;
                case OPT_DURATION:
                        if (opt_duration(b, "duration", optarg, NSEC_PER_SEC, &p.duration_ns) < 0)
                                return EXIT_USAGE;
                        if (p.duration_ns == 0)
                                return bench_usage(b, "--duration must be positive");
                        break;
                case OPT_LOOPS:
                        if (opt_count(b, "loops", optarg, 1, MAX_WAKEUPS, &p.loops) < 0)
                                return EXIT_USAGE;
                        have_loops = true;
                        break;
                case OPT_PRIO:
                        if (opt_int(b, "prio", optarg, 1, 99, &p.prio) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_CPU:
                        if (opt_int(b, "cpu", optarg, 0, CPU_SETSIZE - 1, &p.cpu) < 0)
                                return EXIT_USAGE;
                        break;
                }
        }
        if (optind < argc)
                return bench_usage(b, "unexpected argument '%s'", argv[optind]);
        if (have_loops && p.duration_ns)
                return bench_usage(b, "--duration and --loops exclude each other");
        p.warmup = bench_warmup(b, 1);

        uint64_t cap = p.duration_ns ? p.duration_ns / p.interval_ns + 1 : p.loops;
        cap += p.warmup;
        if (cap > MAX_WAKEUPS)
                return bench_usage(b, "more than %u wake-ups: use a longer --interval or a shorter --duration",
                                   MAX_WAKEUPS);
        int r = bench_open_output(b);
        if (r)
                return r;

        if (p.cpu >= 0 && (r = rt_pin_cpu(p.cpu)) < 0)
                return bench_fail(b, r, "cannot pin to CPU %d", p.cpu);

        TimerStat s = {};
        size_t keep = (size_t) cap;
        if (lat_init(&s.lat, NSEC_PER_USEC, b->hist_range_ns, keep, false) < 0 ||
            lat_init(&s.period, NSEC_PER_USEC, b->hist_range_ns + p.interval_ns, 0, false) < 0)
                return bench_fail(b, ENOMEM, "cannot allocate the statistics");
        wake_ts = calloc(keep + 1, sizeof(uint64_t));
        arm_ts = calloc(keep + 1, sizeof(uint64_t));
        if (!wake_ts || !arm_ts)
                return bench_fail(b, ENOMEM, "cannot allocate %zu timestamps", keep);

        r = rt_mlockall();
        s.mlocked = r >= 0;
        if (r < 0)
                bench_warn(b, r, "mlockall failed, page faults may add latency");
        if (p.prio > 0 && (r = rt_set_fifo(p.prio)) < 0)
                return bench_fail(b, r, "cannot set SCHED_FIFO priority %d", p.prio);

        if (p.mode == MODE_ABS)
                r = run_abs(b, &p, &s, (size_t) cap);
        else
                r = run_signal(b, &p, &s, (size_t) cap);
        if (p.prio > 0) {
                struct sched_param sp = {};
                sched_setscheduler(0, SCHED_OTHER, &sp);
        }
        if (r < 0)
                return bench_fail(b, r, "timer measurement failed");

        report_begin(b);
        out_begin(b, "params");
        out_str(b, "mode", mode_names[p.mode]);
        out_u64(b, "interval_ns", p.interval_ns);
        if (p.duration_ns)
                out_u64(b, "duration_ns", p.duration_ns);
        else
                out_u64(b, "loops", p.loops);
        out_i64(b, "prio", p.prio);
        out_i64(b, "cpu", p.cpu);
        out_u64(b, "warmup", p.warmup);
        out_end(b);
        out_begin(b, "results");
        out_u64(b, "wakeups", s.wakeups);
        out_u64(b, "missed_expiries", s.missed);
        out_u64(b, "early_wakeups", s.early);
        out_bool(b, "mlocked", s.mlocked);
        out_latency(b, "latency", &s.lat);
        if (p.mode != MODE_ONESHOT)
                out_latency(b, "wakeup_interval", &s.period);
        out_end(b);
        r = report_end(b);
        lat_free(&s.lat);
        lat_free(&s.period);
        free(wake_ts);
        free(arm_ts);
        return r;
}
