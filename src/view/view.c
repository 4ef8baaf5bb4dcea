/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "view/view.h"

struct GuestView {
        const GuestViewOps *ops;
        void *state;
};

int guest_view_open(const GuestViewOps *ops, const Domain *d, GuestView **ret) {
        GuestView *v = calloc(1, sizeof *v);
        if (!v)
                return -ENOMEM;
        v->ops = ops;
        int r = ops->open(d, &v->state);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        return 0;
}

const char *guest_view_open_error(const GuestViewOps *ops, int r) {
        const char *why = ops->open_error ? ops->open_error(r) : NULL;
        return why && *why ? why : strerror(-r);
}

void guest_view_free(GuestView *v) {
        if (!v)
                return;
        v->ops->close(v->state);
        free(v);
}

const char *guest_view_name(const GuestView *v) {
        return v->ops->name;
}

const char *guest_view_last_error(const GuestView *v) {
        return v->ops->last_error ? v->ops->last_error(v->state) : "";
}

int guest_view_tasks(GuestView *v, GuestTask **ret, size_t *ret_n) {
        return v->ops->tasks(v->state, ret, ret_n);
}

int guest_view_stop(GuestView *v, pid_t pid) {
        return v->ops->stop ? v->ops->stop(v->state, pid) : -EOPNOTSUPP;
}

int guest_view_cont(GuestView *v, pid_t pid) {
        return v->ops->cont ? v->ops->cont(v->state, pid) : -EOPNOTSUPP;
}

int guest_view_nice(GuestView *v, pid_t pid, int nice) {
        return v->ops->nice ? v->ops->nice(v->state, pid, nice) : -EOPNOTSUPP;
}

int guest_view_sched(GuestView *v, pid_t pid, int policy, int priority) {
        return v->ops->sched ? v->ops->sched(v->state, pid, policy, priority) : -EOPNOTSUPP;
}

int guest_view_keepalive(GuestView *v) {
        return v->ops->keepalive ? v->ops->keepalive(v->state) : 0;
}

int guest_view_release(GuestView *v) {
        return v->ops->release ? v->ops->release(v->state) : 0;
}

unsigned guest_view_caps(const GuestView *v) {
        if (v->ops->caps)
                return v->ops->caps(v->state);
        return (v->ops->stop ? GUEST_VIEW_CAP_STOP : 0) | (v->ops->cont ? GUEST_VIEW_CAP_CONT : 0) |
               (v->ops->nice ? GUEST_VIEW_CAP_NICE : 0) | (v->ops->cpus ? GUEST_VIEW_CAP_CPUS : 0);
}

bool guest_view_can_stop(const GuestView *v) {
        if (!v->ops->stop || !v->ops->cont)
                return false;
        unsigned c = guest_view_caps(v);
        return (c & GUEST_VIEW_CAP_STOP) && (c & GUEST_VIEW_CAP_CONT);
}

int guest_view_cpus(GuestView *v, GuestCpu **ret, size_t *ret_n) {
        return v->ops->cpus ? v->ops->cpus(v->state, ret, ret_n) : -EOPNOTSUPP;
}

void guest_view_set_quick(GuestView *v, bool quick) {
        if (v->ops->set_quick)
                v->ops->set_quick(v->state, quick);
}

const char *guest_view_control_path(const GuestView *v) {
        if (v->ops->control_path)
                return v->ops->control_path(v->state);
        return guest_view_can_stop(v) ? v->ops->name : "none";
}
