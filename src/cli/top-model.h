/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* `xvsched top`'s model: what one frame shows (domains, under each its
 * watched tasks, the daemon's tick and cost), how it is merged from
 * discovery and the daemon's status reply, sorted, filtered, and laid out
 * as lines of text for a terminal of a given size.  Pure: no terminal, no
 * sockets, no /proc (top.c gathers and draws), so that the unit tests
 * (tests/unit/test-top-model.c) see every case. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Below this the frame is one line saying the terminal is too small. */
#define TOP_MIN_WIDTH 40
#define TOP_MIN_HEIGHT 5
/* Longer lines are cut (a terminal wider than this shows blank space). */
#define TOP_MAX_WIDTH 400
#define TOP_FILTER_MAX 64

typedef struct TopTask {
        char *name;
        char *state;            /* running, runnable, sleeping, stopped, absent */
        char *class;            /* normal, idle, rt, ... */
        int priority;
        double cpu_pct;         /* of one CPU; < 0: unknown */
        double share_pct;       /* achieved share; < 0: no share rule */
        double target_pct;      /* the rule's share; < 0: none */
        bool has_nice;
        int nice;               /* in-guest nice xvsched set */
        bool stopped_by_xvsched;
        char *why;
} TopTask;

typedef struct TopDomain {
        char *name;             /* the rule's name (daemon), else the discovered name */
        char *matched;          /* the discovered domain a rule matched, when its name differs; or NULL */
        char *backend;          /* NULL: not discovered (this frame) */
        int pid;
        unsigned n_vcpus;
        double vcpu_pct;        /* host CPU of its vCPU threads, % of one CPU; < 0: unknown */
        int weight;             /* xvsched's scale; < 0: unknown */
        double cap_pct;         /* 0: no cap; < 0: unknown */
        char *cpus;             /* the cpuset; NULL: unknown */
        bool has_nice;          /* the vCPU threads' nice, when they share one */
        int nice;
        char *sched;            /* the vCPU threads' policy: "other", "fifo:50", "mixed"; NULL: unknown */
        char *state;            /* watched, no view, absent, unwatched; NULL: no daemon */
        char *note;             /* view and control path, or the discovered channels; errors */
        bool watched;           /* a rule of the daemon names it */
        TopTask *tasks;
        size_t n_tasks;
} TopDomain;

typedef struct TopModel {
        TopDomain *domains;
        size_t n_domains;
        bool daemon;            /* a daemon answered */
        char *config;
        int64_t tick;
        int interval_ms;
        double observe_us, decide_us, act_us;   /* < 0: unknown */
        char *message;          /* a line for the header: why no daemon, a discovery error */
} TopModel;

typedef enum TopSortKey {
        TOP_SORT_CPU,           /* domains by vCPU use, tasks by CPU */
        TOP_SORT_NAME,
        TOP_SORT_WEIGHT,        /* domains by weight, tasks by priority */
        TOP_SORT_PRIO,          /* domains by their highest task priority, tasks by priority */
        _TOP_SORT_MAX,
} TopSortKey;

const char *top_sort_key_to_string(TopSortKey k);
TopSortKey top_sort_key_next(TopSortKey k);

/* A new domain with every figure unknown; NULL on ENOMEM. */
TopDomain *top_model_add_domain(TopModel *m, const char *name);
TopTask *top_domain_add_task(TopDomain *d, const char *name);
void top_model_done(TopModel *m);
/* Set a string member (freeing the old one); -ENOMEM. s NULL clears it. */
int top_set_string(char **p, const char *s);

/* Merge the daemon's status reply (the control socket's JSON text, one
 * object) into m, which holds the discovered domains: each rule's domain
 * joins the discovered domain it matched (its "matched" name; an older
 * daemon without it: the same name), or is added; discovered domains no rule
 * names become "unwatched".  -EBADMSG when text is not a status object
 * (m is left as it was, apart from message). */
int top_model_apply_status(TopModel *m, const char *text);

void top_model_sort(TopModel *m, TopSortKey key, bool reverse);

/* The filter: a case-insensitive substring.  A domain is shown when its
 * name (or matched name) contains it, or one of its tasks is shown; a task
 * when its domain's name contains it, or its own name, state or class
 * does.  NULL or "" shows everything. */
bool top_domain_visible(const TopDomain *d, const char *filter);
bool top_task_visible(const TopDomain *d, const TopTask *t, const char *filter);

typedef enum TopLineKind {
        TOP_LINE_HEADER,
        TOP_LINE_COLUMNS,
        TOP_LINE_DOMAIN,
        TOP_LINE_TASK,
        TOP_LINE_FOOTER,
        TOP_LINE_SMALL,         /* the whole frame: "terminal too small" */
} TopLineKind;

typedef struct TopLine {
        TopLineKind kind;
        char text[TOP_MAX_WIDTH + 1];   /* printable ASCII, at most the width */
} TopLine;

typedef struct TopView {
        TopSortKey sort;
        bool reverse;
        const char *filter;
        bool paused;
        double delay_s;
        const char *clock;      /* "HH:MM:SS", or NULL */
        const char *prompt;     /* non-NULL while the filter is typed: the text so far */
        size_t scroll;          /* first row shown; clamped by top_render */
} TopView;

/* How many rows (domains and tasks) the filter shows. */
size_t top_rows(const TopModel *m, const char *filter);

/* The frame for a width x height terminal: at most height lines into
 * lines[] (the caller's, height entries), each at most width characters.
 * Returns how many.  v->scroll is clamped to the rows there are. */
size_t top_render(const TopModel *m, TopView *v, int width, int height, TopLine *lines);

/* Column layout (exposed for the tests): which columns fit in width, and
 * the one cell formatter.  top_layout() returns how many columns it chose
 * into ret_cols (indexes into the column table, in order) with their
 * widths. */
#define TOP_MAX_COLUMNS 16
size_t top_layout(int width, int *ret_cols, int *ret_widths);
const char *top_column_title(int col);
/* s cut or padded to exactly width characters (non-printable bytes become
 * '?'); a cut string ends in '~'.  buf holds width + 1. */
void top_cell(char *buf, const char *s, int width, bool right);
