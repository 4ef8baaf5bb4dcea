/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "model/domain.h"

static const char *const thread_class_table[_THREAD_CLASS_MAX] = {
        [THREAD_VCPU] = "vcpu",
        [THREAD_EMULATOR] = "emulator",
        [THREAD_IO] = "io",
};

const char *thread_class_to_string(ThreadClass c) {
        return c >= 0 && c < _THREAD_CLASS_MAX ? thread_class_table[c] : NULL;
}

ThreadClass thread_class_from_string(const char *s) {
        for (int i = 0; i < _THREAD_CLASS_MAX; i++)
                if (s && streq(s, thread_class_table[i]))
                        return (ThreadClass) i;
        return _THREAD_CLASS_INVALID;
}

Domain *domain_new(const char *name, const char *backend) {
        Domain *d = calloc(1, sizeof *d);
        if (!d)
                return NULL;
        d->name = strdup(name);
        if (!d->name) {
                free(d);
                return NULL;
        }
        d->backend = backend;
        d->id = -1;
        return d;
}

void domain_channel_done(DomainChannel *c) {
        free(c->type);
        free(c->path);
        free(c->state);
        *c = (DomainChannel) {};
}

void domain_free(Domain *d) {
        if (!d)
                return;
        free(d->libvirt_uri);
        domain_channel_done(&d->xvagent_channel);
        domain_channel_done(&d->qga_channel);
        free(d->name);
        free(d->uuid);
        free(d->pids);
        free(d->threads);
        free(d->cgroup);
        free(d->qmp_socket);
        free(d->agent_socket);
        free(d->vcpu_source);
        free(d);
}

int domain_add_thread(Domain *d, pid_t tid, ThreadClass c, int vcpu, const char *comm) {
        DomainThread *n = realloc(d->threads, (d->n_threads + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        d->threads = n;
        DomainThread *t = &d->threads[d->n_threads++];
        *t = (DomainThread) { .tid = tid, .class = c, .vcpu = vcpu };
        snprintf(t->comm, sizeof t->comm, "%s", comm ? comm : "");
        return 0;
}

int vcpu_index_from_comm(const char *comm) {
        unsigned idx;
        char accel[8];
        int consumed = 0;
        if (sscanf(comm, "CPU %u/%7[A-Za-z]%n", &idx, accel, &consumed) != 2 || comm[consumed] != 0)
                return -1;
        if (!streq(accel, "KVM") && !streq(accel, "TCG") && !streq(accel, "HVF") && !streq(accel, "WHPX"))
                return -1;
        return idx > 4096 ? -1 : (int) idx;
}

static ThreadClass class_from_comm(const char *comm, int *ret_vcpu) {
        int v = vcpu_index_from_comm(comm);
        *ret_vcpu = v;
        if (v >= 0)
                return THREAD_VCPU;
        if (strneq(comm, "IO ", 3) || strneq(comm, "vhost-", 6) || strneq(comm, "iothread", 8))
                return THREAD_IO;
        return THREAD_EMULATOR;
}

static int tid_compare(const void *a, const void *b) {
        pid_t x = ((const DomainThread *) a)->tid, y = ((const DomainThread *) b)->tid;
        return (x > y) - (x < y);
}

int domain_add_thread_by_comm(Domain *d, pid_t tid, const char *comm) {
        int vcpu;
        ThreadClass c = class_from_comm(comm ? comm : "", &vcpu);
        return domain_add_thread(d, tid, c, vcpu, comm);
}

void domain_sort_threads(Domain *d) {
        if (d->n_threads > 1)
                qsort(d->threads, d->n_threads, sizeof *d->threads, tid_compare);
}

int domain_set_vcpu_tids(Domain *d, const pid_t *tids, size_t n) {
        int disagree = 0;
        for (size_t i = 0; i < d->n_threads; i++) {
                DomainThread *t = &d->threads[i];
                int idx = -1;
                for (size_t j = 0; j < n; j++)
                        if (tids[j] == t->tid)
                                idx = (int) j;
                int by_name = vcpu_index_from_comm(t->comm);
                if (idx >= 0) {
                        /* An unnamed QEMU (no debug-threads) calls every thread
                         * "qemu-system-x86": that is not a disagreement. */
                        if (by_name >= 0 && by_name != idx)
                                disagree++;
                        t->class = THREAD_VCPU;
                        t->vcpu = idx;
                } else if (t->class == THREAD_VCPU) {
                        disagree++;
                        t->class = THREAD_EMULATOR;
                        t->vcpu = -1;
                }
        }
        return disagree;
}

size_t domain_count_class(const Domain *d, ThreadClass c) {
        size_t n = 0;
        for (size_t i = 0; i < d->n_threads; i++)
                n += d->threads[i].class == c;
        return n;
}

void domain_list_done(DomainList *l) {
        for (size_t i = 0; i < l->n; i++)
                domain_free(l->domains[i]);
        free(l->domains);
        l->domains = NULL;
        l->n = 0;
}

int domain_list_add(DomainList *l, Domain *d) {
        Domain **n = realloc(l->domains, (l->n + 1) * sizeof *n);
        if (!n) {
                domain_free(d);
                return -ENOMEM;
        }
        l->domains = n;
        l->domains[l->n++] = d;
        return 0;
}

Domain *domain_list_find(const DomainList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (l->domains[i] && streq(l->domains[i]->name, name))
                        return l->domains[i];
        return NULL;
}

size_t domain_list_count(const DomainList *l, const char *name) {
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                n += l->domains[i] && streq(l->domains[i]->name, name);
        return n;
}
