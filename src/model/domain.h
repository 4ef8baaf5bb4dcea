/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The domain model every layer shares: a VM (or a container, or a process
 * tree treated as one) as the host sees it, with its threads sorted into
 * classes.  Discovery backends (src/hv/) fill it in; levers (src/host/)
 * act on it; policies read it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum ThreadClass {
        THREAD_VCPU,
        THREAD_EMULATOR,   /* QEMU's main loop and helpers */
        THREAD_IO,         /* iothreads, vhost workers */
        _THREAD_CLASS_MAX,
        _THREAD_CLASS_INVALID = -1,
} ThreadClass;

const char *thread_class_to_string(ThreadClass c);  /* "vcpu", "emulator", "io" */
ThreadClass thread_class_from_string(const char *s);

typedef struct DomainThread {
        pid_t tid;
        ThreadClass class;
        int vcpu;          /* vCPU index for THREAD_VCPU, else -1 */
        char comm[16];
} DomainThread;

/* A guest agent channel as the domain's definition names it (libvirt's
 * <channel>; a raw QEMU's virtserialport). */
typedef struct DomainChannel {
        bool present;
        char *type;             /* host side: "unix", "pty", ...; NULL when unknown */
        char *path;             /* the host's unix socket, NULL when not a unix channel */
        char *state;            /* "connected" / "disconnected" (the guest side is open), NULL: unknown */
} DomainChannel;

void domain_channel_done(DomainChannel *c);

typedef struct Domain {
        char *name;
        const char *backend;    /* "libvirt", "qmp", "local": static string */
        char *uuid;             /* libvirt UUID, NULL elsewhere */
        int id;                 /* libvirt domain id, -1 elsewhere */
        pid_t pid;              /* main process (QEMU), 0 when there is none */
        pid_t *pids;            /* every process of a local domain (pids[0] == pid) */
        size_t n_pids;
        DomainThread *threads;
        size_t n_threads;
        char *cgroup;           /* cgroup path of the domain ("/machine/qemu-1-a.libvirt-qemu"),
                                 * NULL when it has none of its own */
        char *qmp_socket;       /* QMP monitor socket, NULL if unknown */
        char *agent_socket;     /* host end of the xvagent channel, NULL if none */
        char *vcpu_source;      /* how vCPU threads were found: "qmp", "libvirt", "comm" */
        /* libvirt: the connection's URI (virConnectGetURI: what to reconnect
         * to, remote ones too; the domain is d->uuid on it), NULL elsewhere. */
        char *libvirt_uri;
        bool remote;            /* its host is not this one (no /proc, no sockets of it here) */
        DomainChannel xvagent_channel;   /* org.xvsched.agent.0 */
        DomainChannel qga_channel;       /* org.qemu.guest_agent.0 (libvirt owns its socket) */
} Domain;

Domain *domain_new(const char *name, const char *backend);
void domain_free(Domain *d);
static inline void domain_freep(Domain **d) {
        domain_free(*d);
        *d = NULL;
}
int domain_add_thread(Domain *d, pid_t tid, ThreadClass c, int vcpu, const char *comm);
/* Add thread tid, classed by its name: "CPU n/KVM|TCG" is vCPU n,
 * "IO iothreadN" / "vhost-*" is I/O, the rest emulator.  Used when nothing
 * better is known; callers overwrite classes from QMP or libvirt.  -ENOMEM. */
int domain_add_thread_by_comm(Domain *d, pid_t tid, const char *comm);
/* Threads in tid order. */
void domain_sort_threads(Domain *d);
/* Apply authoritative vCPU thread ids (from QMP or libvirt): those tids
 * become THREAD_VCPU with their index.  Unknown tids are ignored.  Returns
 * the number of threads whose name disagreed with the authority (0 = all
 * names matched, or threads are unnamed). */
int domain_set_vcpu_tids(Domain *d, const pid_t *tids, size_t n);
size_t domain_count_class(const Domain *d, ThreadClass c);

typedef struct DomainList {
        Domain **domains;
        size_t n;
} DomainList;

void domain_list_done(DomainList *l);
int domain_list_add(DomainList *l, Domain *d);   /* takes ownership, even on failure */
Domain *domain_list_find(const DomainList *l, const char *name);
size_t domain_list_count(const DomainList *l, const char *name);

/* Parse a "CPU 3/KVM" or "CPU 3/TCG" thread name; -1 if not a vCPU name. */
int vcpu_index_from_comm(const char *comm);
