/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched top`: a live, full-screen view in the style of virt-top and
 * htop.  Each refresh discovers the domains read-only (names and threads
 * only: no monitor queries, no guest views), samples their vCPU threads'
 * CPU time, reads their levers, and asks a running daemon for its status
 * (rules, watched tasks, tick cost) over the control socket; top-model.c
 * merges, sorts, filters and lays out the frame, this file draws it with
 * ncurses and reads the keys. */

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "basic/time-util.h"
#include "cli/cli.h"
#include "cli/top-model.h"
#include "host/sched.h"
#include "hv/hv-libvirt-events.h"
#include "lever/lever.h"

const CliOption top_options[] = {
        { "delay", "SECONDS", "refresh every SECONDS, 0.1 to 3600 (default 2; 500ms works too); short: -d", false },
        { "once", NULL, "print one frame as text and exit (no terminal needed)", false },
        {},
};

/* How long top waits for the daemon's status: a stuck daemon must not
 * freeze the screen. */
#define TOP_STATUS_TIMEOUT_MS 1000
/* Live, the status is fetched on a thread of its own; a frame waits this
 * long for a fetch it asked for, then shows the last one the thread got:
 * the keys answer while a stuck daemon holds the fetch. */
#define TOP_STATUS_FRAME_WAIT_MS 50
#define TOP_MAX_LINES 2000

typedef struct Sample {
        pid_t tid;
        uint64_t ns;
} Sample;

typedef struct Sampler {
        Sample *prev;
        size_t n_prev;
        uint64_t prev_t_ns;
} Sampler;

static bool prev_sample(const Sampler *s, pid_t tid, uint64_t *ret) {
        for (size_t i = 0; i < s->n_prev; i++)
                if (s->prev[i].tid == tid) {
                        *ret = s->prev[i].ns;
                        return true;
                }
        return false;
}

/* The threads whose CPU and scheduling a domain's row shows: its vCPU
 * threads, or all of them when it has none (a container, a process tree). */
static bool shown_thread(const Domain *d, size_t i, bool all) {
        return all || d->threads[i].class == THREAD_VCPU;
}

/* Their scheduling: one nice and policy when they share them. */
static int fill_sched(TopDomain *td, const Domain *d, bool all) {
        bool first = true, mixed = false;
        ThreadSched one = {};
        for (size_t i = 0; i < d->n_threads; i++) {
                ThreadSched ts;
                if (!shown_thread(d, i, all) || thread_sched_get(d->threads[i].tid, &ts) < 0)
                        continue;
                if (first)
                        one = ts;
                else if (ts.nice != one.nice || ts.policy != one.policy || ts.rt_priority != one.rt_priority)
                        mixed = true;
                first = false;
        }
        if (first)
                return 0;
        if (mixed)
                return top_set_string(&td->sched, "mixed");
        char s[32];
        if (one.rt_priority > 0)
                snprintf(s, sizeof s, "%s:%d", sched_policy_to_string(one.policy), one.rt_priority);
        else {
                snprintf(s, sizeof s, "%s", sched_policy_to_string(one.policy));
                td->has_nice = true;
                td->nice = one.nice;
        }
        return top_set_string(&td->sched, s);
}

static int fill_domain(TopDomain *td, const Domain *d, const HvOptions *o, Sampler *s, Sample **cur, size_t *n_cur,
                       uint64_t now) {
        int r = top_set_string(&td->backend, d->backend);
        if (r < 0)
                return r;
        td->pid = d->pid;
        uint64_t sum = 0;
        bool known = s->prev_t_ns > 0 && now > s->prev_t_ns, all = domain_count_class(d, THREAD_VCPU) == 0;
        size_t n_shown = 0;
        for (size_t i = 0; i < d->n_threads; i++) {
                if (!shown_thread(d, i, all))
                        continue;
                n_shown++;
                td->n_vcpus += d->threads[i].class == THREAD_VCPU;
                uint64_t ns = cli_thread_cpu_ns(d, d->threads[i].tid), before;
                Sample *n = realloc(*cur, (*n_cur + 1) * sizeof *n);
                if (!n)
                        return -ENOMEM;
                *cur = n;
                n[(*n_cur)++] = (Sample) { d->threads[i].tid, ns };
                if (!prev_sample(s, d->threads[i].tid, &before))
                        known = false;   /* a new vCPU thread: no figure until the next frame */
                else if (ns >= before)
                        sum += ns - before;
        }
        if (known && n_shown > 0)
                td->vcpu_pct = (double) sum / (double) (now - s->prev_t_ns) * 100.0;

        DomainLevers lv;
        if (lever_read_domain(o, d, &lv) >= 0) {
                if (lv.have_weight)
                        td->weight = (int) lv.weight;
                if (lv.have_cap)
                        td->cap_pct = lv.cap > 0 ? lv.cap : 0;
                if (lv.have_cpus) {
                        _cleanup_free_ char *c = cpuset_format(&lv.cpus);
                        if (c && top_set_string(&td->cpus, c) < 0)
                                return -ENOMEM;
                }
        }
        r = fill_sched(td, d, all);
        if (r < 0)
                return r;
        /* The paths discovery sees without asking anyone (no daemon, or
         * a domain no rule names). */
        char note[256];
        bool agent = d->agent_socket || d->xvagent_channel.present, qga = d->qga_channel.present;
        snprintf(note, sizeof note, "channels: %s%s%s%s%s", agent ? "xvagent" : "", agent && qga ? ", " : "",
                 qga ? "qga" : "", agent || qga ? "" : "none",
                 d->qmp_socket ? "; qmp" : d->uuid ? "; libvirt" : "");
        return top_set_string(&td->note, note);
}

/* The daemon's status, fetched on a thread (live top): the loop asks, the
 * thread queries the control socket (up to TOP_STATUS_TIMEOUT_MS) and keeps
 * the latest reply; the loop never waits for a stuck daemon. */
typedef struct StatusFetch {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned refs;          /* the loop's and the thread's */
        bool want, busy, stop;
        uint64_t n_done;        /* fetches finished */
        int r;                  /* the latest one's result (n_done > 0) */
        char *text;             /* its reply (r >= 0) */
        char *state_dir;
} StatusFetch;

static void fetch_unref(StatusFetch *f) {
        pthread_mutex_lock(&f->lock);
        unsigned left = --f->refs;
        pthread_mutex_unlock(&f->lock);
        if (left > 0)
                return;
        free(f->text);
        free(f->state_dir);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

static void *fetch_run(void *p) {
        StatusFetch *f = p;
        pthread_mutex_lock(&f->lock);
        for (;;) {
                while (!f->want && !f->stop)
                        pthread_cond_wait(&f->cond, &f->lock);
                if (f->stop)
                        break;
                f->want = false;
                f->busy = true;
                pthread_mutex_unlock(&f->lock);
                char *text = NULL;
                int r = daemon_control_query(f->state_dir, "status", TOP_STATUS_TIMEOUT_MS, true, &text);
                pthread_mutex_lock(&f->lock);
                free(f->text);
                f->text = r >= 0 ? text : NULL;
                if (r < 0)
                        free(text);
                f->r = r;
                f->n_done++;
                f->busy = false;
                pthread_cond_broadcast(&f->cond);
        }
        pthread_mutex_unlock(&f->lock);
        fetch_unref(f);
        return NULL;
}

static int fetch_start(StatusFetch **ret) {
        StatusFetch *f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        pthread_mutex_init(&f->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&f->cond, &ca);
        pthread_condattr_destroy(&ca);
        f->refs = 2;
        if (arg.state_dir && !(f->state_dir = strdup(arg.state_dir))) {
                f->refs = 1;
                fetch_unref(f);
                return -ENOMEM;
        }
        /* its signals are the loop's (SIGINT, SIGTERM, SIGHUP end top there) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int k = pthread_create(&t, &attr, fetch_run, f);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (k != 0) {
                f->refs = 1;
                fetch_unref(f);
                return -k;
        }
        *ret = f;
        return 0;
}

/* The loop is done with f: the thread ends after the fetch it may be in
 * (a stuck daemon's: up to TOP_STATUS_TIMEOUT_MS), or with the process. */
static void fetch_stop(StatusFetch *f) {
        if (!f)
                return;
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
        fetch_unref(f);
}

/* Ask for a fresh status (unless a fetch is in flight already), wait for it
 * at most TOP_STATUS_FRAME_WAIT_MS, and return the latest one: *ret_r and a
 * copy of its text; -EINPROGRESS in *ret_r when none has finished yet. */
static int fetch_latest(StatusFetch *f, int *ret_r, char **ret_text) {
        pthread_mutex_lock(&f->lock);
        uint64_t before = f->n_done;
        if (!f->busy && !f->want) {
                f->want = true;
                pthread_cond_broadcast(&f->cond);
        }
        uint64_t deadline = now_nsec() + (uint64_t) TOP_STATUS_FRAME_WAIT_MS * 1000000ull;
        struct timespec ts = { .tv_sec = (time_t) (deadline / 1000000000ull),
                               .tv_nsec = (long) (deadline % 1000000000ull) };
        while (f->n_done == before)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) == ETIMEDOUT)
                        break;
        int r = f->n_done > 0 ? f->r : -EINPROGRESS;
        char *text = r >= 0 && f->text ? strdup(f->text) : NULL;
        pthread_mutex_unlock(&f->lock);
        if (r >= 0 && !text)
                return -ENOMEM;
        *ret_r = r;
        *ret_text = text;
        return 0;
}

/* One frame's data into m (which starts empty); ask_daemon: its status too
 * (through fetch when given, else asked here and waited for). */
static int gather(Sampler *s, TopModel *m, StatusFetch *fetch, bool ask_daemon) {
        HvOptions o = arg.hv;
        o.quick = true;   /* no monitor queries: QEMU's monitor is the daemon's to use */
        DomainList l = {};
        _cleanup_free_ char *note = NULL;
        _cleanup_(hv_strv_freep) char **failed = NULL;
        /* Many hosts (-c repeated): one that does not answer is said, the
         * others shown. */
        (void) hv_libvirt_events_start();   /* keepalive: a host gone silent ends its calls */
        int r = hv_discover_hosts(&o, &l, &note, &failed);
        char msg[256] = "";
        if (r == -ENOTCONN)
                snprintf(msg, sizeof msg, "cannot reach %s%s%s", o.backend ? o.backend : "the hypervisor",
                         o.libvirt_uri ? " at " : "", o.libvirt_uri ? o.libvirt_uri : "");
        else if (r < 0)
                snprintf(msg, sizeof msg, "discovery failed: %s", strerror(-r));
        else if (failed && failed[0])
                snprintf(msg, sizeof msg, "%s%s", failed[0], failed[1] ? "; and more hosts" : "");
        uint64_t now = now_nsec();
        Sample *cur = NULL;
        size_t n_cur = 0;
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                /* A domain of another host is NAME@HOST, as list's HOST column says it. */
                char name[512], host[256];
                if (l.domains[i]->remote) {
                        hv_domain_host(l.domains[i], host, sizeof host);
                        snprintf(name, sizeof name, "%s@%s", l.domains[i]->name, host);
                } else
                        snprintf(name, sizeof name, "%s", l.domains[i]->name);
                TopDomain *td = top_model_add_domain(m, name);
                if (!td) {
                        r = -ENOMEM;
                        break;
                }
                r = fill_domain(td, l.domains[i], &o, s, &cur, &n_cur, now);
        }
        domain_list_done(&l);
        if (r == -ENOMEM) {
                free(cur);
                return r;
        }
        free(s->prev);
        s->prev = cur;
        s->n_prev = n_cur;
        s->prev_t_ns = now;

        if (!ask_daemon)
                return 0;
        _cleanup_free_ char *text = NULL;
        if (fetch) {
                int k = fetch_latest(fetch, &r, &text);
                if (k < 0)
                        return k;
        } else
                r = daemon_control_query(arg.state_dir, "status", TOP_STATUS_TIMEOUT_MS, true, &text);
        if (r >= 0)
                r = top_model_apply_status(m, text);
        else if (r == -EINPROGRESS && !msg[0])
                snprintf(msg, sizeof msg, "asking the daemon");
        else if (r != -ENOENT && r != -ECONNREFUSED && !msg[0])
                snprintf(msg, sizeof msg, "the daemon did not answer: %s", strerror(-r));
        if (r == -ENOMEM)
                return r;
        if (msg[0] && top_set_string(&m->message, msg) < 0)
                return -ENOMEM;
        return 0;
}

static void clock_now(char buf[16]) {
        time_t t = time(NULL);
        struct tm tm;
        if (!localtime_r(&t, &tm) || strftime(buf, 16, "%H:%M:%S", &tm) == 0)
                buf[0] = 0;
}

/* --once: two samples arg.window_ms apart, one frame on stdout. */
static int top_once(double delay_s) {
        Sampler s = {};
        TopModel m = {};
        int r = gather(&s, &m, NULL, false);   /* the first sample of the vCPU threads only */
        if (r >= 0) {
                top_model_done(&m);
                struct timespec ts = { arg.window_ms / 1000, (long) (arg.window_ms % 1000) * 1000000L };
                nanosleep(&ts, NULL);
                r = gather(&s, &m, NULL, true);
        }
        free(s.prev);
        if (r < 0) {
                top_model_done(&m);
                return log_error_errno(r, "out of memory");
        }
        int width = 120;
        struct winsize ws;
        const char *cols = getenv("COLUMNS");
        unsigned c;
        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                width = ws.ws_col;
        else if (cols && safe_atou(cols, &c) >= 0 && c > 0)
                width = (int) MIN(c, (unsigned) TOP_MAX_WIDTH);
        width = MAX(width, TOP_MIN_WIDTH);
        char clock[16];
        clock_now(clock);
        TopView v = { .sort = TOP_SORT_CPU, .delay_s = delay_s, .clock = clock };
        top_model_sort(&m, v.sort, false);
        /* Room for every row (no domain at all is a frame too, not "too small"). */
        size_t height = MIN(MAX(top_rows(&m, NULL) + 4, (size_t) TOP_MIN_HEIGHT), (size_t) TOP_MAX_LINES);
        TopLine *lines = calloc(height, sizeof *lines);
        if (!lines) {
                top_model_done(&m);
                return log_error_errno(-ENOMEM, "out of memory");
        }
        size_t n = top_render(&m, &v, width, (int) height, lines);
        for (size_t i = 0; i < n; i++)
                if (lines[i].kind != TOP_LINE_FOOTER && (lines[i].kind != TOP_LINE_TASK || lines[i].text[0]))
                        puts(lines[i].text);
        free(lines);
        top_model_done(&m);
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAILURE;
}

static volatile sig_atomic_t quit_signal;

static void on_signal(int sig) {
        quit_signal = sig;
}

static void draw(const TopModel *m, TopView *v) {
        int h = MIN(LINES, TOP_MAX_LINES), w = COLS;
        erase();
        if (h <= 0 || w <= 0) {
                refresh();
                return;
        }
        TopLine *lines = calloc((size_t) h, sizeof *lines);
        if (!lines)
                return;
        char clock[16];
        clock_now(clock);
        v->clock = clock;
        size_t n = top_render(m, v, w, h, lines);
        v->clock = NULL;
        for (size_t i = 0; i < n; i++) {
                attr_t a = lines[i].kind == TOP_LINE_COLUMNS ? A_REVERSE
                           : lines[i].kind == TOP_LINE_DOMAIN || lines[i].kind == TOP_LINE_HEADER ? A_BOLD
                                                                                                    : A_NORMAL;
                attrset(a);
                /* Not the bottom-right cell: writing it would scroll. */
                mvaddnstr((int) i, 0, lines[i].text, (int) i == h - 1 ? w - 1 : w);
        }
        attrset(A_NORMAL);
        free(lines);
        refresh();
}

static int top_live(double delay_s) {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
                return log_error_errno(-ENOTTY, "xvsched top needs a terminal (xvsched top --once prints one frame)");
        SCREEN *scr = newterm(NULL, stdout, stdin);
        if (!scr)
                return log_error_errno(-ENOTTY, "cannot drive the terminal (TERM=%s)", getenv("TERM") ?: "unset");
        /* Messages from below would scribble over the screen: stderr goes
         * to /dev/null while the screen is ours (errors show in the header). */
        int saved_stderr = dup(STDERR_FILENO);
        int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved_stderr >= 0 && null_fd >= 0)
                (void) dup2(null_fd, STDERR_FILENO);
        if (null_fd >= 0)
                close(null_fd);
        struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term, old_hup;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        sigaction(SIGHUP, &sa, &old_hup);
        cbreak();
        noecho();
        keypad(stdscr, TRUE);
        (void) curs_set(0);
        set_escdelay(25);

        Sampler s = {};
        TopModel m = {};
        TopView v = { .sort = TOP_SORT_CPU, .delay_s = delay_s };
        char filter[TOP_FILTER_MAX] = "", typed[TOP_FILTER_MAX] = "", saved[TOP_FILTER_MAX] = "";
        bool typing = false, dirty = true, first = true;
        uint64_t next = 0;
        StatusFetch *fetch = NULL;
        int r = fetch_start(&fetch);
        while (r >= 0 && !quit_signal) {
                uint64_t now = now_nsec();
                if (!v.paused && now >= next) {
                        TopModel nm = {};
                        r = gather(&s, &nm, fetch, true);
                        top_model_done(&m);
                        m = nm;
                        if (r < 0)
                                break;
                        /* The first frame has no CPU figures yet: the second comes soon. */
                        double wait_s = first ? MIN(delay_s, 0.5) : delay_s;
                        first = false;
                        next = now_nsec() + (uint64_t) (wait_s * 1e9);
                        dirty = true;
                }
                if (dirty) {
                        v.filter = typing ? typed : filter;
                        v.prompt = typing ? typed : NULL;
                        top_model_sort(&m, v.sort, v.reverse);
                        draw(&m, &v);
                        dirty = false;
                }
                now = now_nsec();
                int wait_ms = v.paused || next <= now ? 250 : (int) MIN((next - now) / 1000000 + 1, 250u);
                timeout(wait_ms);
                int ch = getch();
                if (ch == ERR)
                        continue;
                dirty = true;
                if (ch == KEY_RESIZE)
                        continue;   /* LINES and COLS are new: redraw */
                if (typing) {
                        size_t len = strlen(typed);
                        if (ch == 27) {
                                typing = false;
                                snprintf(filter, sizeof filter, "%s", saved);
                        } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
                                typing = false;
                                snprintf(filter, sizeof filter, "%s", typed);
                        } else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len > 0)
                                typed[len - 1] = 0;
                        else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof typed) {
                                typed[len] = (char) ch;
                                typed[len + 1] = 0;
                        }
                        v.scroll = 0;
                        continue;
                }
                switch (ch) {
                case 'q':
                case 'Q':
                        quit_signal = -1;
                        break;
                case 's':
                        v.sort = top_sort_key_next(v.sort);
                        break;
                case 'c':
                        v.sort = TOP_SORT_CPU;
                        break;
                case 'n':
                        v.sort = TOP_SORT_NAME;
                        break;
                case 'w':
                        v.sort = TOP_SORT_WEIGHT;
                        break;
                case 'P':
                        v.sort = TOP_SORT_PRIO;
                        break;
                case 'r':
                case 'S':
                        v.reverse = !v.reverse;
                        break;
                case '/':
                        typing = true;
                        snprintf(saved, sizeof saved, "%s", filter);
                        snprintf(typed, sizeof typed, "%s", filter);
                        break;
                case 'p':
                case ' ':
                        v.paused = !v.paused;
                        if (!v.paused)
                                next = 0;   /* fresh figures at once */
                        break;
                case KEY_UP:
                case 'k':
                        v.scroll -= v.scroll > 0;
                        break;
                case KEY_DOWN:
                case 'j':
                        v.scroll++;   /* top_render clamps it */
                        break;
                case KEY_PPAGE:
                        v.scroll -= MIN(v.scroll, (size_t) MAX(LINES - 4, 1));
                        break;
                case KEY_NPAGE:
                        v.scroll += (size_t) MAX(LINES - 4, 1);
                        break;
                case KEY_HOME:
                        v.scroll = 0;
                        break;
                case 12:   /* ^L */
                        clearok(curscr, TRUE);
                        break;
                default:
                        break;
                }
        }
        endwin();
        delscreen(scr);
        fetch_stop(fetch);
        free(s.prev);
        top_model_done(&m);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        if (saved_stderr >= 0) {
                (void) dup2(saved_stderr, STDERR_FILENO);
                close(saved_stderr);
        }
        if (r < 0)
                return r == -ENOMEM ? log_error_errno(r, "out of memory")
                                    : log_error_errno(r, "cannot start the daemon's status thread: %m");
        /* A signal ends top as it would end any program, the terminal restored. */
        if (quit_signal > 0)
                return 128 + quit_signal;
        return 0;
}

int cmd_top(int argc, char **argv) {
        if (argc > 1)
                return cli_usage_error("top takes no arguments (got '%s'; a filter is typed with / inside)", argv[1]);
        double delay_s = 2;
        int r = cli_duration_option("delay", 1, 0.1, 3600, &delay_s);
        if (r != 0)
                return r;
        if (cli_option("once"))
                return top_once(delay_s);
        return top_live(delay_s);
}
