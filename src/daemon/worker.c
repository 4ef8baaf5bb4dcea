/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "daemon/match.h"
#include "daemon/worker.h"
#include "host/sched.h"
#include "view-registry/view-registry.h"

struct Worker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Domain *domain;            /* a copy of what the worker needs */
        char view_want[8];
        GuestView *view;           /* touched only by the worker thread while it runs */
        uint64_t retry_ns;         /* CLOCK_MONOTONIC of the next open; 0 = now */
        uint64_t retry_delay_ns;   /* the last delay used; 0 = none since a good round */
        char last_error[160];      /* why there is no view */
        bool busy, quit;
        /* the round in flight */
        WorkerOp ops[WORKER_MAX_OPS];
        size_t n_ops;
        bool keepalive;
        WorkerResult result;
};

uint64_t worker_retry_delay_ns(uint64_t prev_ns) {
        if (prev_ns < WORKER_RETRY_MIN_NS)
                return WORKER_RETRY_MIN_NS;
        return prev_ns >= WORKER_RETRY_MAX_NS / 2 ? WORKER_RETRY_MAX_NS : prev_ns * 2;
}

/* A view failed (to open, or a round): the next open waits longer each
 * time, so a guest that makes every open fail (a hostile agent, a kernel
 * the vmi view cannot read) costs a bounded share of host CPU. */
static void retry_later(Worker *w) {
        w->retry_delay_ns = worker_retry_delay_ns(w->retry_delay_ns);
        w->retry_ns = now_nsec() + w->retry_delay_ns;
}

static void open_view(Worker *w, WorkerResult *res) {
        if (w->view || now_nsec() < w->retry_ns)
                return;
        if (guest_view_open_by_name(w->view_want, w->domain, &w->view, res->error, sizeof res->error) < 0) {
                w->view = NULL;
                retry_later(w);
        }
}

/* Test hook (documented in docs/policy.md): while the file
 * XVSCHED_TEST_VIEW_FAIL names exists, every round's task list fails as a
 * broken view's would, so the path that drops a view can be tested. */
static bool test_view_fail(void) {
        const char *f = getenv("XVSCHED_TEST_VIEW_FAIL");
        return f && *f && access(f, F_OK) == 0;
}

/* One round, on the worker thread, without the lock held. */
static void round_run(Worker *w, WorkerOp *ops, size_t n_ops, bool keepalive, WorkerResult *res) {
        open_view(w, res);
        if (!w->view) {
                for (size_t i = 0; i < n_ops; i++)
                        ops[i].result = -ENOTCONN;
                if (res->error[0])
                        snprintf(w->last_error, sizeof w->last_error, "%s", res->error);
                else   /* not tried this round: still the last reason */
                        snprintf(res->error, sizeof res->error, "%s", w->last_error);
                uint64_t now = now_nsec();
                res->retry_in_ms = w->retry_ns > now ? (w->retry_ns - now) / 1000000 : 0;
                return;
        }
        /* A round never waits seconds for a guest kernel call: the task list
         * it brings would be that late, and the policy blind meanwhile. */
        guest_view_set_quick(w->view, true);
        for (size_t i = 0; i < n_ops; i++) {
                WorkerOp *op = &ops[i];
                if (op_skip_busy(ops, i, op)) {   /* no idle vCPU for a kernel call now: not again this round */
                        op->result = -EBUSY;
                        continue;
                }
                op->result = op->kind == WORKER_OP_STOP   ? guest_view_stop(w->view, op->pid)
                             : op->kind == WORKER_OP_CONT ? guest_view_cont(w->view, op->pid)
                             : op->kind == WORKER_OP_NICE ? guest_view_nice(w->view, op->pid, op->nice)
                                                          : guest_view_sched(w->view, op->pid, op->nice, 0);
        }
        if (keepalive)
                (void) guest_view_keepalive(w->view);
        res->tasks_result = guest_view_tasks(w->view, &res->tasks, &res->n_tasks);
        if (res->tasks_result >= 0 && test_view_fail()) {
                free(res->tasks);
                res->tasks_result = -EIO;
        }
        res->t_ns = now_nsec();
        for (size_t i = 0; res->tasks_result >= 0 && i < res->n_tasks; i++)
                res->guest_cpu_ns += res->tasks[i].cpu_ns;
        for (size_t i = 0; i < w->domain->n_threads; i++) {
                uint64_t ns;
                if (w->domain->threads[i].class == THREAD_VCPU &&
                    thread_cpu_time_ns(w->domain->pid, w->domain->threads[i].tid, &ns) >= 0)
                        res->vcpu_ns += ns;
        }
        if (res->tasks_result < 0) {
                snprintf(res->error, sizeof res->error, "%s view failed: %s", guest_view_name(w->view),
                         res->tasks_result == -EIO && test_view_fail() ? "XVSCHED_TEST_VIEW_FAIL"
                                                                       : guest_view_last_error(w->view));
                res->tasks = NULL;
                res->n_tasks = 0;
                /* Drop it, undoing what it held (a lease-less view's stops are
                 * resumed now; an agent that went silent undoes them by its
                 * lease).  What this misses stays in the daemon's journal and
                 * is resumed when the view is back (settle_guest_stops). */
                guest_view_set_quick(w->view, false);
                (void) guest_view_release(w->view);
                guest_view_free(w->view);
                w->view = NULL;
                retry_later(w);
                res->retry_in_ms = w->retry_delay_ns / 1000000;
                snprintf(w->last_error, sizeof w->last_error, "%s", res->error);
                return;
        }
        w->retry_delay_ns = 0;
        w->last_error[0] = 0;   /* a good round: the next failure retries after the shortest delay */
        res->view_ok = true;
        res->can_stop = guest_view_can_stop(w->view);
        res->has_lease = streq(guest_view_name(w->view), "agent");
        snprintf(res->view_name, sizeof res->view_name, "%s", guest_view_name(w->view));
        snprintf(res->control_path, sizeof res->control_path, "%s", guest_view_control_path(w->view));
}

static void *worker_main(void *p) {
        Worker *w = p;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->busy && !w->quit)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->quit)
                        break;
                WorkerOp ops[WORKER_MAX_OPS];
                size_t n_ops = w->n_ops;
                memcpy(ops, w->ops, n_ops * sizeof *ops);
                bool keepalive = w->keepalive;
                pthread_mutex_unlock(&w->lock);

                WorkerResult res = { .valid = true };
                round_run(w, ops, n_ops, keepalive, &res);
                memcpy(res.ops, ops, n_ops * sizeof *ops);
                res.n_ops = n_ops;

                pthread_mutex_lock(&w->lock);
                free(w->result.tasks);
                w->result = res;
                w->busy = false;
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int worker_start(const Domain *d, const char *view, Worker **ret) {
        Worker *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->domain = domain_new(d->name, d->backend);
        if (!w->domain) {
                free(w);
                return -ENOMEM;
        }
        w->domain->pid = d->pid;
        w->domain->qmp_socket = d->qmp_socket ? strdup(d->qmp_socket) : NULL;
        w->domain->agent_socket = d->agent_socket ? strdup(d->agent_socket) : NULL;
        w->domain->uuid = d->uuid ? strdup(d->uuid) : NULL;               /* libvirt: pause through libvirt */
        w->domain->libvirt_uri = d->libvirt_uri ? strdup(d->libvirt_uri) : NULL;
        if (d->qga_channel.present)   /* the qga view: its socket, or libvirt's agent API */
                w->domain->qga_channel = (DomainChannel) { .present = true,
                                                           .type = d->qga_channel.type ? strdup(d->qga_channel.type) : NULL,
                                                           .path = d->qga_channel.path ? strdup(d->qga_channel.path) : NULL };
        for (size_t i = 0; i < d->n_threads; i++)
                (void) domain_add_thread(w->domain, d->threads[i].tid, d->threads[i].class, d->threads[i].vcpu,
                                         d->threads[i].comm);
        snprintf(w->view_want, sizeof w->view_want, "%s", view);
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        /* The first round only opens the view and lists the tasks. */
        w->busy = true;
        int r = -pthread_create(&w->thread, NULL, worker_main, w);
        if (r < 0) {
                domain_free(w->domain);
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

bool worker_collect(Worker *w, WorkerResult *ret) {
        pthread_mutex_lock(&w->lock);
        bool idle = !w->busy;
        if (idle) {
                *ret = w->result;
                w->result = (WorkerResult) {};
        }
        pthread_mutex_unlock(&w->lock);
        return idle;
}

void worker_submit(Worker *w, const WorkerOp *ops, size_t n_ops, bool keepalive) {
        pthread_mutex_lock(&w->lock);
        n_ops = MIN(n_ops, (size_t) WORKER_MAX_OPS);
        memcpy(w->ops, ops, n_ops * sizeof *ops);
        w->n_ops = n_ops;
        w->keepalive = keepalive;
        w->busy = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

int worker_stop(Worker *w, const WorkerOp *final, size_t n_final) {
        if (!w)
                return 0;
        pthread_mutex_lock(&w->lock);
        w->quit = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);

        int ret = 0;
        if (!w->view && n_final > 0) {
                /* Reconnect once to resume what we stopped. */
                w->retry_ns = 0;
                WorkerResult res = {};
                open_view(w, &res);
        }
        if (w->view)   /* the undo at exit may wait for the guest, in bounds */
                guest_view_set_quick(w->view, false);
        for (size_t i = 0; i < n_final; i++) {
                int r = !w->view ? -ENOTCONN
                        : final[i].kind == WORKER_OP_CONT ? guest_view_cont(w->view, final[i].pid)
                        : final[i].kind == WORKER_OP_STOP ? guest_view_stop(w->view, final[i].pid)
                        : final[i].kind == WORKER_OP_NICE ? guest_view_nice(w->view, final[i].pid, final[i].nice)
                                                          : guest_view_sched(w->view, final[i].pid, final[i].nice, 0);
                if (r < 0 && r != -ESRCH && ret == 0)
                        ret = r;
        }
        if (w->view) {
                int r = guest_view_release(w->view);
                if (r < 0 && ret == 0)
                        ret = r;
                guest_view_free(w->view);
        }
        free(w->result.tasks);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        domain_free(w->domain);
        free(w);
        return ret;
}
