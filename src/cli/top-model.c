/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched top`'s model: merge, sort, filter and lay out a frame
 * (top-model.h).  No terminal here: top.c draws the lines. */

#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "basic/macros.h"
#include "cli/top-model.h"

static const char *const sort_names[_TOP_SORT_MAX] = {
        [TOP_SORT_CPU] = "cpu",
        [TOP_SORT_NAME] = "name",
        [TOP_SORT_WEIGHT] = "weight",
        [TOP_SORT_PRIO] = "prio",
};

const char *top_sort_key_to_string(TopSortKey k) {
        return k >= 0 && k < _TOP_SORT_MAX ? sort_names[k] : "?";
}

TopSortKey top_sort_key_next(TopSortKey k) {
        return (TopSortKey) ((k + 1) % _TOP_SORT_MAX);
}

int top_set_string(char **p, const char *s) {
        char *n = NULL;
        if (s) {
                n = strdup(s);
                if (!n)
                        return -ENOMEM;
        }
        free(*p);
        *p = n;
        return 0;
}

TopDomain *top_model_add_domain(TopModel *m, const char *name) {
        TopDomain *n = realloc(m->domains, (m->n_domains + 1) * sizeof *n);
        if (!n)
                return NULL;
        m->domains = n;
        TopDomain *d = &m->domains[m->n_domains];
        *d = (TopDomain) { .vcpu_pct = -1, .weight = -1, .cap_pct = -1 };
        d->name = strdup(name);
        if (!d->name)
                return NULL;
        m->n_domains++;
        return d;
}

TopTask *top_domain_add_task(TopDomain *d, const char *name) {
        TopTask *n = realloc(d->tasks, (d->n_tasks + 1) * sizeof *n);
        if (!n)
                return NULL;
        d->tasks = n;
        TopTask *t = &d->tasks[d->n_tasks];
        *t = (TopTask) { .cpu_pct = -1, .share_pct = -1, .target_pct = -1 };
        t->name = strdup(name);
        if (!t->name)
                return NULL;
        d->n_tasks++;
        return t;
}

static void task_done(TopTask *t) {
        free(t->name);
        free(t->state);
        free(t->class);
        free(t->why);
}

static void domain_done(TopDomain *d) {
        free(d->name);
        free(d->matched);
        free(d->backend);
        free(d->cpus);
        free(d->sched);
        free(d->state);
        free(d->note);
        for (size_t i = 0; i < d->n_tasks; i++)
                task_done(&d->tasks[i]);
        free(d->tasks);
}

void top_model_done(TopModel *m) {
        for (size_t i = 0; i < m->n_domains; i++)
                domain_done(&m->domains[i]);
        free(m->domains);
        free(m->config);
        free(m->message);
        *m = (TopModel) {};
}

/* ---- the daemon's status reply ---- */

static json_object *member(json_object *o, const char *k) {
        json_object *v;
        return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *member_string(json_object *o, const char *k) {
        json_object *v = member(o, k);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static double member_double(json_object *o, const char *k, double dflt) {
        json_object *v = member(o, k);
        return v && (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))
                       ? json_object_get_double(v)
                       : dflt;
}

static bool member_int(json_object *o, const char *k, int *ret) {
        json_object *v = member(o, k);
        if (!v || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int(v);
        return true;
}

static bool member_bool(json_object *o, const char *k) {
        json_object *v = member(o, k);
        return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

_printf_(3, 4) static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t n = strlen(buf);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + n, size - n, fmt, ap);
        va_end(ap);
}

static TopDomain *find_domain(TopModel *m, const char *name, bool watched) {
        for (size_t i = 0; i < m->n_domains; i++)
                if (m->domains[i].watched == watched && streq(m->domains[i].name, name))
                        return &m->domains[i];
        return NULL;
}

/* A daemon of many hosts: each row names its loop's host, and a domain of
 * another host is NAME@HOST here (as list's HOST column says it, and as
 * discovery's rows are named), so that twins on two hosts stay two rows. */
static const char *with_host(json_object *x, const char *name, char *buf, size_t size) {
        const char *host = member_string(x, "host");
        if (!name || !host || streq(host, "localhost") || strchr(name, '@'))
                return name;
        snprintf(buf, size, "%s@%s", name, host);
        return buf;
}

static int apply_domain(TopModel *m, json_object *x) {
        char rbuf[512], mbuf[512];
        const char *rule = with_host(x, member_string(x, "domain"), rbuf, sizeof rbuf);
        if (!rule)
                return 0;
        const char *matched = with_host(x, member_string(x, "matched"), mbuf, sizeof mbuf);
        TopDomain *d = NULL;
        for (size_t i = 0; i < m->n_domains && !d; i++)
                if (!m->domains[i].watched && m->domains[i].backend &&
                    streq(m->domains[i].name, matched ? matched : rule))
                        d = &m->domains[i];
        if (d && !streq(d->name, rule)) {
                char *disc = d->name;
                d->name = strdup(rule);
                if (!d->name) {
                        d->name = disc;
                        return -ENOMEM;
                }
                free(d->matched);
                d->matched = disc;
        }
        if (!d)
                d = top_model_add_domain(m, rule);
        if (!d)
                return -ENOMEM;
        d->watched = true;

        const char *view = member_string(x, "view"), *path = member_string(x, "control_path"),
                   *err = member_string(x, "view_error");
        const char *state = !member_bool(x, "present") ? "absent" : view ? "watched" : "no view";
        if (top_set_string(&d->state, state) < 0)
                return -ENOMEM;
        char note[512] = "";
        if (view)
                append(note, sizeof note, "view %s, control %s", view, path ? path : "-");
        if (err)
                append(note, sizeof note, "%s%s", note[0] ? "; " : "", err);
        json_object *retry = member(x, "view_retry_in_ms");
        if (retry)
                append(note, sizeof note, "%snext try in %.1f s", note[0] ? "; " : "",
                       json_object_get_double(retry) / 1000.0);
        if (member_bool(x, "rt"))
                append(note, sizeof note, "%sRT on", note[0] ? "; " : "");
        if (member_bool(x, "rt_budget_spent"))
                append(note, sizeof note, "%sRT budget spent", note[0] ? "; " : "");
        if (top_set_string(&d->note, note) < 0)
                return -ENOMEM;
        /* What the host says (discovery read the cgroup) wins over the
         * daemon's plan. */
        int w;
        if (d->weight < 0 && member_int(x, "weight", &w) && w > 0)
                d->weight = w;
        if (d->vcpu_pct < 0)
                d->vcpu_pct = member_double(x, "vcpu_pct", -1);
        return 0;
}

static int apply_task(TopModel *m, json_object *x) {
        char dbuf[512];
        const char *name = member_string(x, "task"), *dom = with_host(x, member_string(x, "domain"), dbuf, sizeof dbuf);
        if (!name || !dom)
                return 0;
        TopDomain *d = find_domain(m, dom, true);
        if (!d)
                return 0;
        TopTask *t = top_domain_add_task(d, name);
        if (!t)
                return -ENOMEM;
        if (top_set_string(&t->state, member_string(x, "state")) < 0 ||
            top_set_string(&t->class, member_string(x, "class")) < 0 ||
            top_set_string(&t->why, member_string(x, "why")) < 0)
                return -ENOMEM;
        (void) member_int(x, "priority", &t->priority);
        t->cpu_pct = member_double(x, "cpu_pct", -1);
        t->share_pct = member_double(x, "share_pct", -1);
        t->target_pct = member_double(x, "target_share_pct", -1);
        t->has_nice = member_int(x, "nice", &t->nice);
        t->stopped_by_xvsched = member_bool(x, "stopped_by_xvsched");
        return 0;
}

int top_model_apply_status(TopModel *m, const char *text) {
        json_object *o = json_tokener_parse(text);
        json_object *doms = member(o, "domains"), *tasks = member(o, "tasks"), *cost = member(o, "cost");
        if (!o || !json_object_is_type(o, json_type_object) || !doms || !json_object_is_type(doms, json_type_array) ||
            !tasks || !json_object_is_type(tasks, json_type_array)) {
                json_object_put(o);
                (void) top_set_string(&m->message, "the daemon's status reply is not a status");
                return -EBADMSG;
        }
        int r = 0;
        for (size_t i = 0; r >= 0 && i < json_object_array_length(doms); i++)
                r = apply_domain(m, json_object_array_get_idx(doms, i));
        for (size_t i = 0; r >= 0 && i < json_object_array_length(tasks); i++)
                r = apply_task(m, json_object_array_get_idx(tasks, i));
        for (size_t i = 0; r >= 0 && i < m->n_domains; i++)
                if (!m->domains[i].watched)
                        r = top_set_string(&m->domains[i].state, "unwatched");
        if (r >= 0)
                r = top_set_string(&m->config, member_string(o, "config"));
        m->daemon = true;
        json_object *tick = member(o, "tick");
        m->tick = tick ? json_object_get_int64(tick) : -1;
        double interval = member_double(o, "interval_ms", -1);
        m->interval_ms = interval >= 0 && interval <= INT_MAX ? (int) interval : -1;   /* a double past int: unknown */
        m->observe_us = member_double(cost, "observe_us", -1);
        m->decide_us = member_double(cost, "decide_us", -1);
        m->act_us = member_double(cost, "act_us", -1);
        json_object_put(o);
        return r;
}

/* ---- sorting and filtering ---- */

static TopSortKey sort_key;
static int sort_sign;

static int cmp_double_desc(double a, double b) {
        /* Unknown (< 0) last, whatever the direction. */
        if ((a < 0) != (b < 0))
                return a < 0 ? 2 : -2;
        return a > b ? -1 : a < b ? 1 : 0;
}

static int max_priority(const TopDomain *d) {
        int p = -1;
        for (size_t i = 0; i < d->n_tasks; i++)
                p = MAX(p, d->tasks[i].priority);
        return p;
}

static int signed_cmp(int c) {
        /* +-2 is "unknown last": not reversed. */
        return c == 2 || c == -2 ? c : c * sort_sign;
}

static int cmp_domain(const void *a, const void *b) {
        const TopDomain *x = a, *y = b;
        int c = 0;
        switch (sort_key) {
        case TOP_SORT_CPU:
                c = cmp_double_desc(x->vcpu_pct, y->vcpu_pct);
                break;
        case TOP_SORT_WEIGHT:
                c = cmp_double_desc(x->weight, y->weight);
                break;
        case TOP_SORT_PRIO:
                c = cmp_double_desc(max_priority(x), max_priority(y));
                break;
        default:
                break;
        }
        c = signed_cmp(c);
        if (c == 0)
                c = strcmp(x->name, y->name) * (sort_key == TOP_SORT_NAME ? sort_sign : 1);
        return c;
}

static int cmp_task(const void *a, const void *b) {
        const TopTask *x = a, *y = b;
        int c = 0;
        switch (sort_key) {
        case TOP_SORT_CPU:
                c = cmp_double_desc(x->cpu_pct, y->cpu_pct);
                break;
        case TOP_SORT_WEIGHT:
        case TOP_SORT_PRIO:
                c = cmp_double_desc(x->priority, y->priority);
                break;
        default:
                break;
        }
        c = signed_cmp(c);
        if (c == 0)
                c = strcmp(x->name, y->name) * (sort_key == TOP_SORT_NAME ? sort_sign : 1);
        return c;
}

void top_model_sort(TopModel *m, TopSortKey key, bool reverse) {
        sort_key = key;
        sort_sign = reverse ? -1 : 1;
        if (m->n_domains > 1)
                qsort(m->domains, m->n_domains, sizeof *m->domains, cmp_domain);
        for (size_t i = 0; i < m->n_domains; i++)
                if (m->domains[i].n_tasks > 1)
                        qsort(m->domains[i].tasks, m->domains[i].n_tasks, sizeof *m->domains[i].tasks, cmp_task);
}

static bool has(const char *s, const char *filter) {
        return s && strcasestr(s, filter);
}

static bool domain_name_matches(const TopDomain *d, const char *filter) {
        return !filter || !*filter || has(d->name, filter) || has(d->matched, filter);
}

bool top_task_visible(const TopDomain *d, const TopTask *t, const char *filter) {
        return domain_name_matches(d, filter) || has(t->name, filter) || has(t->state, filter) || has(t->class, filter);
}

bool top_domain_visible(const TopDomain *d, const char *filter) {
        if (domain_name_matches(d, filter))
                return true;
        for (size_t i = 0; i < d->n_tasks; i++)
                if (top_task_visible(d, &d->tasks[i], filter))
                        return true;
        return false;
}

/* ---- layout ---- */

enum {
        COL_NAME,
        COL_STATE,
        COL_VCPU,
        COL_CPU,
        COL_SHARE,
        COL_TARGET,
        COL_WEIGHT,
        COL_CAP,
        COL_CPUS,
        COL_NICE,
        COL_CLASS,
        COL_PRIO,
        COL_NOTE,
        _COL_MAX,
};

static const struct {
        const char *title;
        int width;      /* the note's: its least */
        bool right;
        int drop;       /* the lowest goes first when the width is short; 0: never */
} columns[_COL_MAX] = {
        [COL_NAME] = { "DOMAIN/TASK", 16, false, 0 },
        [COL_STATE] = { "STATE", 9, false, 11 },
        [COL_VCPU] = { "VCPU", 4, true, 4 },
        [COL_CPU] = { "CPU%", 6, true, 0 },
        [COL_SHARE] = { "SHARE", 6, true, 8 },
        [COL_TARGET] = { "TGT", 5, true, 2 },
        [COL_WEIGHT] = { "WEIGHT", 6, true, 9 },
        [COL_CAP] = { "CAP", 5, true, 5 },
        [COL_CPUS] = { "CPUS", 8, false, 1 },
        [COL_NICE] = { "NICE", 4, true, 3 },
        [COL_CLASS] = { "CLASS", 8, false, 7 },
        [COL_PRIO] = { "PRIO", 4, true, 6 },
        [COL_NOTE] = { "VIEW/CONTROL, WHY", 10, false, 10 },
};

const char *top_column_title(int col) {
        return col >= 0 && col < _COL_MAX ? columns[col].title : "?";
}

size_t top_layout(int width, int *ret_cols, int *ret_widths) {
        bool keep[_COL_MAX];
        for (int c = 0; c < _COL_MAX; c++)
                keep[c] = true;
        for (;;) {
                int need = -1, low = -1;
                for (int c = 0; c < _COL_MAX; c++) {
                        if (!keep[c])
                                continue;
                        need += columns[c].width + 1;
                        if (columns[c].drop > 0 && (low < 0 || columns[c].drop < columns[low].drop))
                                low = c;
                }
                if (need <= width || low < 0)
                        break;
                keep[low] = false;
        }
        size_t n = 0;
        int used = 0;
        for (int c = 0; c < _COL_MAX; c++)
                if (keep[c]) {
                        ret_cols[n] = c;
                        ret_widths[n] = columns[c].width;
                        used += columns[c].width + (n ? 1 : 0);
                        n++;
                }
        /* The note takes what is left (it is last). */
        if (n > 0 && ret_cols[n - 1] == COL_NOTE)
                ret_widths[n - 1] += MAX(width - used, 0);
        return n;
}

void top_cell(char *buf, const char *s, int width, bool right) {
        if (width <= 0) {
                buf[0] = 0;
                return;
        }
        s = s ? s : "";
        size_t len = strlen(s);
        bool cut = len > (size_t) width;
        size_t n = cut ? (size_t) width : len;
        size_t pad = (size_t) width - n;
        char *p = buf;
        if (right) {
                memset(p, ' ', pad);
                p += pad;
        }
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) s[i];
                p[i] = ch >= 0x20 && ch < 0x7f ? (char) ch : '?';
        }
        if (cut)
                p[n - 1] = '~';
        p += n;
        if (!right) {
                memset(p, ' ', pad);
                p += pad;
        }
        *p = 0;
}

/* ---- the frame ---- */

static void fmt_pct(char *buf, size_t size, double v) {
        if (v < 0)
                snprintf(buf, size, "-");
        else
                snprintf(buf, size, "%.1f", v);
}

/* The cells of a domain (t NULL) or a task row. */
static void row_cells(const TopDomain *d, const TopTask *t, char cells[_COL_MAX][TOP_MAX_WIDTH + 1]) {
        for (int c = 0; c < _COL_MAX; c++)
                cells[c][0] = 0;
        const size_t sz = TOP_MAX_WIDTH + 1;
        if (!t) {
                if (d->matched)
                        snprintf(cells[COL_NAME], sz, "%s=%s", d->name, d->matched);
                else
                        snprintf(cells[COL_NAME], sz, "%s", d->name);
                snprintf(cells[COL_STATE], sz, "%s", d->state ? d->state : d->backend ? d->backend : "-");
                if (d->backend)
                        snprintf(cells[COL_VCPU], sz, "%u", d->n_vcpus);
                else
                        snprintf(cells[COL_VCPU], sz, "-");
                fmt_pct(cells[COL_CPU], sz, d->vcpu_pct);
                if (d->weight >= 0)
                        snprintf(cells[COL_WEIGHT], sz, "%d", d->weight);
                else
                        snprintf(cells[COL_WEIGHT], sz, "-");
                if (d->cap_pct > 0)
                        snprintf(cells[COL_CAP], sz, "%.0f%%", d->cap_pct);
                else
                        snprintf(cells[COL_CAP], sz, d->cap_pct == 0 ? "none" : "-");
                snprintf(cells[COL_CPUS], sz, "%s", d->cpus ? d->cpus : "-");
                if (d->has_nice)
                        snprintf(cells[COL_NICE], sz, "%d", d->nice);
                else
                        snprintf(cells[COL_NICE], sz, "-");
                snprintf(cells[COL_CLASS], sz, "%s", d->sched ? d->sched : "-");
                snprintf(cells[COL_NOTE], sz, "%s", d->note ? d->note : "");
                return;
        }
        snprintf(cells[COL_NAME], sz, "  %s", t->name);
        snprintf(cells[COL_STATE], sz, "%s", t->state ? t->state : "-");
        fmt_pct(cells[COL_CPU], sz, t->cpu_pct);
        if (t->target_pct >= 0) {
                fmt_pct(cells[COL_SHARE], sz, t->share_pct);
                snprintf(cells[COL_TARGET], sz, "%g", t->target_pct);
        }
        if (t->has_nice)
                snprintf(cells[COL_NICE], sz, "%d", t->nice);
        snprintf(cells[COL_CLASS], sz, "%s", t->class ? t->class : "-");
        snprintf(cells[COL_PRIO], sz, "%d", t->priority);
        snprintf(cells[COL_NOTE], sz, "%s%s", t->stopped_by_xvsched ? "by xvsched: " : "", t->why ? t->why : "");
}

static void put_line(TopLine *l, TopLineKind kind, const char *text, int width) {
        l->kind = kind;
        top_cell(l->text, text, MIN(width, TOP_MAX_WIDTH), false);
        /* No trailing blanks: the terminal keeps its own. */
        size_t n = strlen(l->text);
        while (n > 0 && l->text[n - 1] == ' ')
                l->text[--n] = 0;
}

static void layout_row(const int *cols, const int *widths, size_t n_cols, char cells[_COL_MAX][TOP_MAX_WIDTH + 1],
                       char *out, int width) {
        size_t pos = 0;
        char cell[TOP_MAX_WIDTH + 1];
        for (size_t i = 0; i < n_cols && pos < (size_t) width; i++) {
                int w = MIN(widths[i], width - (int) pos);
                top_cell(cell, cells[cols[i]], w, columns[cols[i]].right);
                memcpy(out + pos, cell, strlen(cell));
                pos += strlen(cell);
                if (i + 1 < n_cols && pos < (size_t) width)
                        out[pos++] = ' ';
        }
        out[pos] = 0;
}

size_t top_rows(const TopModel *m, const char *filter) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_domains; i++) {
                const TopDomain *d = &m->domains[i];
                if (!top_domain_visible(d, filter))
                        continue;
                n++;
                for (size_t k = 0; k < d->n_tasks; k++)
                        n += top_task_visible(d, &d->tasks[k], filter);
        }
        return n;
}

size_t top_render(const TopModel *m, TopView *v, int width, int height, TopLine *lines) {
        char buf[TOP_MAX_WIDTH * 2 + 1];
        if (height <= 0 || width <= 0)
                return 0;
        width = MIN(width, TOP_MAX_WIDTH);
        if (width < TOP_MIN_WIDTH || height < TOP_MIN_HEIGHT) {
                snprintf(buf, sizeof buf, "terminal too small (%dx%d, need %dx%d)", width, height, TOP_MIN_WIDTH,
                         TOP_MIN_HEIGHT);
                put_line(&lines[0], TOP_LINE_SMALL, width >= 18 ? buf : "too small", width);
                return 1;
        }
        size_t n = 0;

        /* Header: the daemon, its tick and what a tick costs. */
        /* The daemon's figures and strings can be longer than buf: append()
         * cuts them (snprintf's return is what it would have written). */
        buf[0] = 0;
        append(buf, sizeof buf, "xvsched top%s%s  ", v->clock ? "  " : "", v->clock ? v->clock : "");
        if (m->daemon) {
                append(buf, sizeof buf, "daemon: tick %lld every %d ms, cost observe %.0f us, decide %.1f us, act %.0f us",
                       (long long) m->tick, m->interval_ms, m->observe_us, m->decide_us, m->act_us);
                if (m->config)
                        append(buf, sizeof buf, ", config %s", m->config);
        } else
                append(buf, sizeof buf, "no daemon: read-only discovery");
        if (m->message)
                append(buf, sizeof buf, " (%s)", m->message);
        put_line(&lines[n++], TOP_LINE_HEADER, buf, width);

        size_t n_tasks = 0, n_stopped = 0;
        for (size_t i = 0; i < m->n_domains; i++)
                for (size_t t = 0; t < m->domains[i].n_tasks; t++) {
                        n_tasks++;
                        n_stopped += m->domains[i].tasks[t].stopped_by_xvsched;
                }
        snprintf(buf, sizeof buf, "%s%zu domains, %zu tasks (%zu stopped by xvsched)  sort: %s%s  filter: %s  every %.1f s",
                 v->paused ? "PAUSED  " : "", m->n_domains, n_tasks, n_stopped, top_sort_key_to_string(v->sort),
                 v->reverse ? " (reversed)" : "", v->filter && *v->filter ? v->filter : "-", v->delay_s);
        put_line(&lines[n++], TOP_LINE_HEADER, buf, width);

        int cols[TOP_MAX_COLUMNS], widths[TOP_MAX_COLUMNS];
        size_t n_cols = top_layout(width, cols, widths);
        char cells[_COL_MAX][TOP_MAX_WIDTH + 1];
        for (int c = 0; c < _COL_MAX; c++)
                snprintf(cells[c], sizeof cells[c], "%s", columns[c].title);
        layout_row(cols, widths, n_cols, cells, buf, width);
        put_line(&lines[n++], TOP_LINE_COLUMNS, buf, width);

        /* The rows between the column titles and the footer. */
        size_t room = (size_t) height - 4, rows = top_rows(m, v->filter);
        if (v->scroll > (rows > room ? rows - room : 0))
                v->scroll = rows > room ? rows - room : 0;
        size_t row = 0;
        for (size_t i = 0; i < m->n_domains; i++) {
                const TopDomain *d = &m->domains[i];
                if (!top_domain_visible(d, v->filter))
                        continue;
                for (ssize_t t = -1; t < (ssize_t) d->n_tasks; t++) {
                        const TopTask *task = t < 0 ? NULL : &d->tasks[t];
                        if (task && !top_task_visible(d, task, v->filter))
                                continue;
                        if (row++ < v->scroll || n >= (size_t) height - 1)
                                continue;
                        row_cells(d, task, cells);
                        layout_row(cols, widths, n_cols, cells, buf, width);
                        put_line(&lines[n++], task ? TOP_LINE_TASK : TOP_LINE_DOMAIN, buf, width);
                }
        }
        while (n < (size_t) height - 1)
                put_line(&lines[n++], TOP_LINE_TASK, "", width);

        if (v->prompt)
                snprintf(buf, sizeof buf, "filter: %s_   (Enter keeps it, Esc drops it)", v->prompt);
        else
                snprintf(buf, sizeof buf, "q quit  s sort  r reverse  / filter  p pause  arrows scroll%s",
                         rows > room ? "  (more rows)" : "");
        put_line(&lines[n++], TOP_LINE_FOOTER, buf, width);
        return n;
}
