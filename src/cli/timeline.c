/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched timeline FILE [--svg OUT|--png OUT] [--from S] [--to S]`: the daemon's
 * JSON-lines timeline as text (one row per task, one column per tick) and,
 * through gnuplot, as a picture in the style of paper 002's Figure 8: a bar
 * per task, drawn where it ran, hatched where xvsched had it stopped. */

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "cli/cli.h"

#define TIMELINE_MAX_BYTES (256u << 20)
#define TIMELINE_MAX_TASKS 64
#define TEXT_COLUMNS 100

typedef enum { ST_ABSENT, ST_SLEEPING, ST_STOPPED, ST_RUNNABLE, ST_RUNNING, _ST_MAX } State;
static const char state_char[_ST_MAX] = { ' ', '.', 'S', '+', '#' };
static const char *const state_name[_ST_MAX] = { "absent", "sleeping", "stopped", "runnable", "running" };

typedef struct Tick {
        double t_s;
        unsigned char state[TIMELINE_MAX_TASKS];
        float cpu[TIMELINE_MAX_TASKS];
} Tick;

typedef struct Timeline {
        char *names[TIMELINE_MAX_TASKS];
        size_t n_tasks;
        Tick *ticks;
        size_t n_ticks;
} Timeline;

static void timeline_done(Timeline *tl) {
        for (size_t i = 0; i < tl->n_tasks; i++)
                free(tl->names[i]);
        free(tl->ticks);
}

static State state_from(const char *s) {
        for (int i = 0; i < _ST_MAX; i++)
                if (streq(s, state_name[i]))
                        return (State) i;
        return ST_ABSENT;
}

/* Names come from a file that anyone who can write it controls, and end up
 * in a terminal and in gnuplot's input: only the characters the config
 * allows in names ([A-Za-z0-9_.-], 1 to 64 of them) are accepted. */
static bool plain_name(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 64)
                return false;
        for (; *s; s++)
                if (!strchr("._-", *s) && !(*s >= '0' && *s <= '9') && !((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z'))
                        return false;
        return true;
}

static int task_index(Timeline *tl, const char *domain, const char *task) {
        char name[160];
        snprintf(name, sizeof name, "%s/%s", domain, task);
        for (size_t i = 0; i < tl->n_tasks; i++)
                if (streq(tl->names[i], name))
                        return (int) i;
        if (tl->n_tasks >= TIMELINE_MAX_TASKS)
                return -E2BIG;
        tl->names[tl->n_tasks] = strdup(name);
        return tl->names[tl->n_tasks] ? (int) tl->n_tasks++ : -ENOMEM;
}

/* Open a timeline without following a symlink, and as root only a regular
 * file that root owns and nobody else may write: its names are drawn by a
 * program root runs.  Reads at most `max` bytes. */
static int timeline_read(const char *path, size_t max, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ELOOP)
                        return log_error_errno(-ELOOP, "%s: is a symlink: refused (give the file itself)", path);
                return log_error_errno(negative_errno(), "%s: cannot read: %m", path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return log_error_errno(negative_errno(), "%s: cannot read: %m", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(-EINVAL, "%s: not a regular file: refused", path);
        if (geteuid() == 0 && st.st_uid != 0) {
                struct passwd *pw = getpwuid(st.st_uid);
                return log_error_errno(-EPERM, "%s: owned by %s (uid %u), not root: refused (root draws only its own "
                                               "timelines; copy it, or run as that user)",
                                       path, pw ? pw->pw_name : "?", (unsigned) st.st_uid);
        }
        if (geteuid() == 0 && ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0)))
                return log_error_errno(-EPERM, "%s: writable by %s (mode %04o): refused", path,
                                       st.st_mode & S_IWOTH ? "others" : "its group", (unsigned) (st.st_mode & 07777));
        if ((uint64_t) st.st_size > max)
                return log_error_errno(-EFBIG, "%s: cannot read: larger than %zu MiB", path, max >> 20);
        size_t cap = (size_t) st.st_size + 1, n = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return log_error_errno(-ENOMEM, "out of memory");
        for (;;) {
                if (n + 1 >= cap) {
                        if (cap > max)
                                return log_error_errno(-EFBIG, "%s: cannot read: larger than %zu MiB", path, max >> 20);
                        char *b = realloc(buf, cap * 2);
                        if (!b)
                                return log_error_errno(-ENOMEM, "out of memory");
                        buf = b;
                        cap *= 2;
                }
                ssize_t k = read(fd, buf + n, cap - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return log_error_errno(negative_errno(), "%s: cannot read: %m", path);
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int timeline_load(const char *path, double from, double to, Timeline *tl) {
        _cleanup_free_ char *text = NULL;
        int r = timeline_read(path, TIMELINE_MAX_BYTES, &text);
        if (r < 0)
                return r;
        size_t cap = 0;
        unsigned line = 0;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                line++;
                json_object *o = json_tokener_parse(l), *v, *tasks;
                if (!o || !json_object_object_get_ex(o, "t_ms", &v) || !json_object_object_get_ex(o, "tasks", &tasks) ||
                    !json_object_is_type(tasks, json_type_array)) {
                        json_object_put(o);
                        return log_error_errno(-EBADMSG, "%s:%u: not a timeline line (needs t_ms and tasks)", path, line);
                }
                double t = json_object_get_double(v) / 1000.0;
                if (t < from || (to > 0 && t > to)) {
                        json_object_put(o);
                        continue;
                }
                if (tl->n_ticks == cap) {
                        cap = cap ? cap * 2 : 1024;
                        Tick *n = realloc(tl->ticks, cap * sizeof *n);
                        if (!n) {
                                json_object_put(o);
                                return log_error_errno(-ENOMEM, "out of memory");
                        }
                        tl->ticks = n;
                }
                Tick *tk = &tl->ticks[tl->n_ticks++];
                memset(tk, 0, sizeof *tk);
                tk->t_s = t;
                for (size_t i = 0; i < json_object_array_length(tasks); i++) {
                        json_object *x = json_object_array_get_idx(tasks, i), *task, *dom, *st, *cpu;
                        if (!json_object_object_get_ex(x, "task", &task) || !json_object_object_get_ex(x, "domain", &dom) ||
                            !json_object_object_get_ex(x, "state", &st))
                                continue;
                        const char *bad = !json_object_is_type(dom, json_type_string) ||
                                                          !plain_name(json_object_get_string(dom))
                                                  ? "domain"
                                          : !json_object_is_type(task, json_type_string) ||
                                                          !plain_name(json_object_get_string(task))
                                                  ? "task"
                                                  : NULL;
                        if (bad) {
                                json_object_put(o);
                                return log_error_errno(-EBADMSG, "%s:%u: tasks[%zu]: %s name is not 1 to 64 letters, "
                                                                 "digits, '.', '_' or '-': refused", path, line, i, bad);
                        }
                        int k = task_index(tl, json_object_get_string(dom), json_object_get_string(task));
                        if (k < 0) {
                                json_object_put(o);
                                return log_error_errno(k, "%s:%u: more than %d tasks", path, line, TIMELINE_MAX_TASKS);
                        }
                        tk->state[k] = (unsigned char) state_from(json_object_get_string(st));
                        if (json_object_object_get_ex(x, "cpu_pct", &cpu))
                                tk->cpu[k] = (float) json_object_get_double(cpu);
                }
                json_object_put(o);
        }
        if (tl->n_ticks == 0)
                return log_error_errno(-ENODATA, "%s: no ticks%s", path, from > 0 || to > 0 ? " in that time range" : "");
        return 0;
}

static void print_text(const Timeline *tl) {
        double t0 = tl->ticks[0].t_s, t1 = tl->ticks[tl->n_ticks - 1].t_s;
        size_t cols = MIN((size_t) TEXT_COLUMNS, tl->n_ticks);
        size_t width = 8;
        for (size_t i = 0; i < tl->n_tasks; i++)
                width = MAX(width, strlen(tl->names[i]));
        printf("%-*s  %.1f s .. %.1f s, %zu ticks, one column = %.2f s\n", (int) width, "", t0, t1, tl->n_ticks,
               (t1 - t0) / (double) cols);
        for (size_t i = 0; i < tl->n_tasks; i++) {
                printf("%-*s |", (int) width, tl->names[i]);
                for (size_t c = 0; c < cols; c++) {
                        /* The strongest state in this column's ticks. */
                        size_t a = c * tl->n_ticks / cols, b = (c + 1) * tl->n_ticks / cols;
                        unsigned char best = ST_ABSENT;
                        for (size_t k = a; k < b; k++)
                                best = MAX(best, tl->ticks[k].state[i]);
                        putchar(state_char[best]);
                }
                printf("|\n");
        }
        printf("%-*s  # running  + runnable  S stopped by xvsched  . sleeping  (blank) absent\n\n", (int) width, "");
        printf("%-*s %9s %9s %9s %9s %8s\n", (int) width, "TASK", "RUNNING%", "RUNNABLE%", "STOPPED%", "SLEEPING%", "CPU%");
        for (size_t i = 0; i < tl->n_tasks; i++) {
                size_t count[_ST_MAX] = {};
                double cpu = 0;
                for (size_t k = 0; k < tl->n_ticks; k++) {
                        count[tl->ticks[k].state[i]]++;
                        cpu += tl->ticks[k].cpu[i];
                }
                double n = (double) tl->n_ticks;
                printf("%-*s %9.1f %9.1f %9.1f %9.1f %8.1f\n", (int) width, tl->names[i], 100.0 * (double) count[ST_RUNNING] / n,
                       100.0 * (double) count[ST_RUNNABLE] / n, 100.0 * (double) count[ST_STOPPED] / n,
                       100.0 * (double) count[ST_SLEEPING] / n, cpu / n);
        }
}

/* Segments of one state per task as gnuplot vectors: "x y dx 0". */
static void write_segments(FILE *f, const Timeline *tl, State want) {
        for (size_t i = 0; i < tl->n_tasks; i++) {
                double y = (double) (tl->n_tasks - i);
                size_t k = 0;
                while (k < tl->n_ticks) {
                        if (tl->ticks[k].state[i] != want) {
                                k++;
                                continue;
                        }
                        size_t e = k;
                        while (e + 1 < tl->n_ticks && tl->ticks[e + 1].state[i] == want)
                                e++;
                        double x0 = tl->ticks[k].t_s, x1 = e + 1 < tl->n_ticks ? tl->ticks[e + 1].t_s : tl->ticks[e].t_s + 0.1;
                        fprintf(f, "%.3f %.1f %.3f 0\n", x0, y, x1 - x0);
                        k = e + 1;
                }
        }
        fprintf(f, "\n\n");
}

/* gnuplot gets no name inside its script: the task labels are read from a
 * data file (ytic()), the output path and the data files are arguments
 * (ARG1..ARG3), and the script itself holds only numbers and fixed text. */
static int write_script(const char *path, const Timeline *tl, bool png) {
        FILE *f = fopen(path, "wxe");
        if (!f)
                return negative_errno();
        fprintf(f, "set terminal %s noenhanced size 1000,%zu\n", png ? "png" : "svg", 120 + 45 * tl->n_tasks);
        fprintf(f, "set output ARG1\n"
                   "set xlabel 'time (s)'\n"
                   "set yrange [0.3:%zu.7]\n"
                   "set key outside top center horizontal\n"
                   "set grid xtics\n", tl->n_tasks);
        fprintf(f, "plot ARG3 using (NaN):1:ytic(2) notitle, \\\n"
                   "     ARG2 index 0 using 1:2:3:4 with vectors nohead lw 14 lc rgb '#2b6cb0' title 'running', \\\n"
                   "     ARG2 index 1 using 1:2:3:4 with vectors nohead lw 14 lc rgb '#f6ad55' title 'runnable', \\\n"
                   "     ARG2 index 2 using 1:2:3:4 with vectors nohead lw 4 lc rgb '#c53030' title 'stopped by xvsched'\n");
        return fclose(f) < 0 ? negative_errno() : 0;
}

static int render(const Timeline *tl, const char *out, bool png) {
        char dir[] = "/tmp/xvsched-timeline-XXXXXX";
        if (!mkdtemp(dir))
                return log_error_errno(negative_errno(), "cannot make a temporary directory: %m");
        char data[64], labels[64], script[64];
        snprintf(data, sizeof data, "%s/seg.dat", dir);
        snprintf(labels, sizeof labels, "%s/labels.dat", dir);
        snprintf(script, sizeof script, "%s/plot.gp", dir);
        int r = 0;
        FILE *f = fopen(data, "wxe");
        if (f) {
                static const State order[] = { ST_RUNNING, ST_RUNNABLE, ST_STOPPED };
                for (size_t i = 0; i < ELEMENTSOF(order); i++)
                        write_segments(f, tl, order[i]);
                r = fclose(f) < 0 ? negative_errno() : 0;
        } else
                r = negative_errno();
        /* Names were checked to be plain (timeline_load): one word each. */
        if (r >= 0 && (f = fopen(labels, "wxe"))) {
                for (size_t i = 0; i < tl->n_tasks; i++)
                        fprintf(f, "%zu %s\n", tl->n_tasks - i, tl->names[i]);
                r = fclose(f) < 0 ? negative_errno() : 0;
        } else if (r >= 0)
                r = negative_errno();
        if (r >= 0)
                r = write_script(script, tl, png);
        if (r < 0) {
                log_error_errno(r, "cannot write the plot's files in %s: %m", dir);
                goto finish;
        }

        pid_t pid = fork();
        if (pid < 0) {
                r = log_error_errno(negative_errno(), "fork: %m");
                goto finish;
        }
        if (pid == 0) {
                execlp("gnuplot", "gnuplot", "-c", script, out, data, labels, (char *) NULL);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                r = log_error_errno(-EIO, "gnuplot failed%s", WIFEXITED(status) && WEXITSTATUS(status) == 127
                                                                       ? " (not installed: apt-get install gnuplot-nox)"
                                                                       : "");
        else
                printf("wrote %s\n", out);
finish:
        unlink(data);
        unlink(labels);
        unlink(script);
        rmdir(dir);
        return r;
}

const CliOption timeline_options[] = {
        { "svg", "OUT", "also draw it as an SVG picture into OUT (a new file; needs gnuplot)", true },
        { "png", "OUT", "also draw it as a PNG picture into OUT (a new file; needs gnuplot)", true },
        { "from", "DURATION", "start at this time of the timeline (a bare number is seconds)", true },
        { "to", "DURATION", "end at this time of the timeline (a bare number is seconds)", true },
        {},
};

int cmd_timeline(int argc, char **argv) {
        const char *svg = cli_option("svg"), *png = cli_option("png");
        double from = 0, to = 0;
        int r = cli_duration_option("from", 1, 0, 1e9, &from);
        if (r == 0)
                r = cli_duration_option("to", 1, 0, 1e9, &to);
        if (r != 0)
                return r;
        if (svg && png)
                return cli_usage_error("--svg and --png: give one");
        if (argc != 2)
                return cli_usage_error("usage: xvsched timeline FILE [--svg OUT|--png OUT] [--from S] [--to S]");
        const char *file = argv[1], *out = svg ?: png;
        Timeline tl = {};
        r = timeline_load(file, from, to, &tl);
        if (r >= 0) {
                print_text(&tl);
                if (out)
                        r = render(&tl, out, png != NULL);
        }
        timeline_done(&tl);
        return r;
}
