/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libvirt backend: domains of any libvirt URI (local or remote), their
 * QEMU threads (through libvirt's monitor passthrough, so we never compete
 * with libvirtd for QEMU's monitor), the xvagent channel from the domain
 * XML, and the levers libvirt itself offers (scheduler parameters, pinning,
 * blkio and memory tunables), so that libvirt's own view stays true. */

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "basic/time-util.h"
#include "host/cgroup.h"
#include "hv/hv-libvirt-agent.h"
#include "hv/hv-libvirt-events.h"
#include "hv/hv-libvirt-scale.h"
#include "hv/hv.h"
#include "hv/qemu-args.h"

static void silent_error_handler(void *userdata _unused_, virErrorPtr err) {
        /* libvirt prints every error to stderr by default; we report once,
         * at the program's edge, with our own words. */
        log_debug("libvirt: %s", err && err->message ? err->message : "(unknown error)");
}

static const char *last_libvirt_error(void) {
        virErrorPtr e = virGetLastError();
        return e && e->message ? e->message : "unknown libvirt error";
}

/* ---- libvirt's event loop and keepalive (hv-libvirt-events.h) ---- */

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static bool events_wanted, events_registered;
static pid_t events_pid;   /* the process whose thread runs the loop (0: none) */

static void *events_run(void *p _unused_) {
        for (;;)
                if (virEventRunDefaultImpl() < 0) {
                        log_debug("libvirt's event loop: %s", last_libvirt_error());
                        struct timespec ts = { 0, 100000000L };
                        nanosleep(&ts, NULL);
                }
        return NULL;
}

static int events_start_locked(void) {
        if (events_pid == getpid())
                return 0;
        if (events_registered)
                return -ECHILD;   /* registered by the process this one was forked from */
        virSetErrorFunc(NULL, silent_error_handler);
        if (virEventRegisterDefaultImpl() < 0) {
                log_debug("cannot register libvirt's event loop: %s", last_libvirt_error());
                return -EIO;
        }
        events_registered = true;
        /* no signal for this thread: the daemon takes its signals with a signalfd */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int k = pthread_create(&t, &attr, events_run, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (k != 0) {
                log_debug("cannot start libvirt's event loop thread: %s", strerror(k));
                return -k;
        }
        events_pid = getpid();
        return 0;
}

int hv_libvirt_events_start(void) {
        pthread_mutex_lock(&events_lock);
        events_wanted = true;
        int r = events_start_locked();
        pthread_mutex_unlock(&events_lock);
        return r;
}

/* Does this process run the event loop?  Asked before a connection is
 * opened: libvirt registers a connection with the loop when it opens it, and
 * keepalive needs that. */
static bool events_running(void) {
        pthread_mutex_lock(&events_lock);
        bool on = events_wanted && events_pid == getpid();
        pthread_mutex_unlock(&events_lock);
        return on;
}

/* Hosts whose connection was lost (one line when it is, one when a new
 * connection answers), and each host's cgroup version once known; by the
 * connection's URI.  A handful of hosts: a list. */
typedef struct HostNote {
        char *uri;
        bool lost;
        HvCgroupVersion cgroup;
} HostNote;
static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;
static HostNote *notes;
static size_t n_notes;

/* Under notes_lock: uri's note, added when create; NULL when none (or no memory). */
static HostNote *note_find(const char *uri, bool create) {
        for (size_t i = 0; i < n_notes; i++)
                if (streq(notes[i].uri, uri))
                        return &notes[i];
        if (!create)
                return NULL;
        HostNote *n = realloc(notes, (n_notes + 1) * sizeof *n);
        if (!n)
                return NULL;
        notes = n;
        notes[n_notes] = (HostNote) { .uri = strdup(uri) };
        if (!notes[n_notes].uri)
                return NULL;
        return &notes[n_notes++];
}

/* After a call on c failed with libvirt's words why: when c is dead (closed
 * by keepalive, or by the other end), one line for its host, once per loss,
 * and what is known of the host is forgotten (it may come back another). */
static void conn_check_lost(virConnectPtr c, const char *why) {
        if (!c || virConnectIsAlive(c) != 0)
                return;
        _cleanup_free_ char *uri = virConnectGetURI(c);
        if (!uri)
                return;
        pthread_mutex_lock(&notes_lock);
        HostNote *n = note_find(uri, true);
        bool first = n && !n->lost;
        if (n) {
                n->lost = true;
                n->cgroup = HV_CGROUP_UNKNOWN;
        }
        pthread_mutex_unlock(&notes_lock);
        if (!first)
                return;
        char host[256];
        hv_uri_host(uri, host, sizeof host);
        if (why && strstr(why, "keepalive"))
                log_warning("%s: libvirt connection lost: no answer within about %d s (%s)", host,
                            HV_KEEPALIVE_INTERVAL_S * (HV_KEEPALIVE_COUNT + 1), why);
        else
                log_warning("%s: libvirt connection lost: %s", host, why && *why ? why : "closed");
}

/* A connection to c's host answered: one line when the last one was lost. */
static void conn_check_back(virConnectPtr c) {
        _cleanup_free_ char *uri = virConnectGetURI(c);
        if (!uri)
                return;
        pthread_mutex_lock(&notes_lock);
        HostNote *n = note_find(uri, false);
        bool was_lost = n && n->lost;
        if (n)
                n->lost = false;
        pthread_mutex_unlock(&notes_lock);
        if (was_lost) {
                char host[256];
                hv_uri_host(uri, host, sizeof host);
                log_notice("%s: libvirt connection back", host);
        }
}

/* The caller's connections (HvOptions.ctx): no process-wide cache.  One
 * libvirt connection per URI (many hosts: one each), opened on first use and
 * kept until hv_context_free(); without a context each call opens its own,
 * closed when the call ends (libvirt_release()).
 *
 * A connection is opened on a thread of its own (HostJob), waited for at
 * most connect_timeout_ms: virConnectOpen() to a host that accepts and never
 * answers blocks for good, and libvirt has no timeout for it.  Such a
 * thread is left behind (it ends, and closes what it opened, if the host
 * ever answers); while it is in flight its URI is refused at once, so one
 * silent host costs the timeout once, not on every call. */
typedef struct HostJob {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned refs;
        bool done;
        bool discover;          /* list the domains too, on the thread */
        int r;
        char *uri;
        char *proc_root, *cgroup_root;
        HvOptions o;            /* the caller's, with strings of its own and no ctx */
        virConnectPtr conn;     /* the context's (a reference), or opened by the thread */
        bool keepalive;         /* conn was opened with the event loop running, asking for keepalive (hv-libvirt-events.h) */
        char *canon;
        DomainList found;
        char error[256];        /* libvirt's words for a failure */
} HostJob;

typedef struct HvConn {
        char *uri;          /* as asked, "" for libvirt's default */
        char *canon;        /* what the connection says its URI is (virConnectGetURI) */
        virConnectPtr conn;
        bool keepalive;     /* conn was opened asking for keepalive */
        pid_t pid;          /* the process that opened conn */
        HostJob *pending;   /* an open still in flight (a host that has not answered) */
} HvConn;

struct HvContext {
        pthread_mutex_t lock;
        HvConn *conns;
        size_t n_conns;
};

static void host_job_unref(HostJob *j) {
        if (!j)
                return;
        pthread_mutex_lock(&j->lock);
        unsigned left = --j->refs;
        pthread_mutex_unlock(&j->lock);
        if (left > 0)
                return;
        if (j->conn)
                virConnectClose(j->conn);
        domain_list_done(&j->found);
        free(j->uri);
        free(j->canon);
        free(j->proc_root);
        free(j->cgroup_root);
        pthread_cond_destroy(&j->cond);
        pthread_mutex_destroy(&j->lock);
        free(j);
}

HvContext *hv_context_new(void) {
        HvContext *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

void hv_context_free(HvContext *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_conns; i++) {
                HvConn *h = &c->conns[i];
                /* A forked child (the guard) shares the owner's socket: closing
                 * would speak on it.  Only the process that opened it closes it. */
                if (h->conn && h->pid == getpid())
                        virConnectClose(h->conn);
                if (h->pid == getpid())
                        host_job_unref(h->pending);   /* its thread holds a reference of its own */
                free(h->uri);
                free(h->canon);
        }
        free(c->conns);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

/* A new connection; with the event loop running here, one that asks for
 * keepalive, so that a call on it to a host gone silent ends within about
 * HV_KEEPALIVE_INTERVAL_S * (HV_KEEPALIVE_COUNT + 1) s. */
static virConnectPtr libvirt_open(const char *uri, bool *ret_keepalive) {
        virSetErrorFunc(NULL, silent_error_handler);
        bool events = events_running();   /* before the open: libvirt registers the connection with it */
        virConnectPtr c = virConnectOpen(uri && *uri ? uri : NULL);
        *ret_keepalive = false;
        if (!c) {
                log_debug("cannot connect to libvirt%s%s: %s", uri && *uri ? " at " : "", uri && *uri ? uri : "",
                          last_libvirt_error());
                return NULL;
        }
        if (events) {
                /* 0: on; 1: the other end has no keepalive; -1: this driver has none (test:///) */
                int k = virConnectSetKeepAlive(c, HV_KEEPALIVE_INTERVAL_S, HV_KEEPALIVE_COUNT);
                if (k != 0)
                        log_debug("libvirt%s%s: no keepalive%s%s", uri && *uri ? " at " : "", uri && *uri ? uri : "",
                                  k < 0 ? ": " : " on the other end", k < 0 ? last_libvirt_error() : "");
                *ret_keepalive = true;   /* asked: whatever the answer, asking again would say the same */
        }
        conn_check_back(c);
        return c;
}

/* Under c->lock: the slot for uri (asked as, or canonical), NULL if none. */
static HvConn *ctx_find(HvContext *c, const char *uri) {
        for (size_t i = 0; i < c->n_conns; i++) {
                HvConn *h = &c->conns[i];
                if (streq(h->uri, uri) || (h->canon && streq(h->canon, uri)))
                        return h;
        }
        return NULL;
}

static HvConn *ctx_slot(HvContext *c, const char *uri) {
        HvConn *h = ctx_find(c, uri);
        if (h)
                return h;
        HvConn *n = realloc(c->conns, (c->n_conns + 1) * sizeof *n);
        if (!n)
                return NULL;
        c->conns = n;
        h = &c->conns[c->n_conns];
        *h = (HvConn) { .uri = strdup(uri) };
        if (!h->uri)
                return NULL;
        c->n_conns++;
        return h;
}

static int discover_on(const HvOptions *o, virConnectPtr c, DomainList *l);

static void *host_job_run(void *p) {
        HostJob *j = p;
        int r = 0;
        virSetErrorFunc(NULL, silent_error_handler);
        if (!j->conn && !(j->conn = libvirt_open(j->uri, &j->keepalive))) {
                snprintf(j->error, sizeof j->error, "%s", last_libvirt_error());
                r = -ENOTCONN;
        }
        if (r >= 0)
                j->canon = virConnectGetURI(j->conn);
        if (r >= 0 && j->discover) {
                r = discover_on(&j->o, j->conn, &j->found);
                if (r < 0) {
                        snprintf(j->error, sizeof j->error, "%s", r == -EIO ? last_libvirt_error() : strerror(-r));
                        conn_check_lost(j->conn, j->error);
                }
        }
        pthread_mutex_lock(&j->lock);
        j->r = r;
        j->done = true;
        pthread_cond_broadcast(&j->cond);
        pthread_mutex_unlock(&j->lock);
        host_job_unref(j);
        return NULL;
}

/* Start asking uri: its connection, and with discover its domains.
 * -ETIMEDOUT at once when an earlier open of uri is still in flight.
 * *ret holds the caller's reference. */
static int host_begin(const HvOptions *o, const char *uri, bool discover, HostJob **ret) {
        HostJob *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&j->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&j->lock, NULL);
        j->refs = 2;   /* the caller's and the thread's */
        j->discover = discover;
        j->o = *o;
        j->o.ctx = NULL;
        j->o.local_specs = NULL;
        j->o.n_local_specs = 0;
        j->o.libvirt_uris = NULL;
        j->o.n_libvirt_uris = 0;
        j->uri = strdup(uri);
        j->proc_root = strdup(o->proc_root ? o->proc_root : "/proc");
        j->cgroup_root = strdup(o->cgroup_root ? o->cgroup_root : "/sys/fs/cgroup");
        if (!j->uri || !j->proc_root || !j->cgroup_root) {
                j->refs = 1;
                host_job_unref(j);
                return -ENOMEM;
        }
        j->o.libvirt_uri = j->uri;
        j->o.proc_root = j->proc_root;
        j->o.cgroup_root = j->cgroup_root;

        HvContext *ctx = o->ctx;
        if (ctx) {
                pthread_mutex_lock(&ctx->lock);
                HvConn *h = ctx_slot(ctx, uri);
                if (h && h->pid != getpid()) {
                        /* inherited over fork: not ours to use, nor to close */
                        h->conn = NULL;
                        h->pending = NULL;
                }
                if (h && h->pending) {
                        pthread_mutex_lock(&h->pending->lock);
                        bool done = h->pending->done;
                        pthread_mutex_unlock(&h->pending->lock);
                        if (!done) {
                                pthread_mutex_unlock(&ctx->lock);
                                j->refs = 1;
                                host_job_unref(j);
                                return -ETIMEDOUT;
                        }
                        /* it answered after its caller gave up: keep what it opened */
                        if (!h->conn && h->pending->r >= 0 && h->pending->conn && virConnectRef(h->pending->conn) == 0) {
                                h->conn = h->pending->conn;
                                h->keepalive = h->pending->keepalive;
                                free(h->canon);
                                h->canon = h->pending->canon ? strdup(h->pending->canon) : NULL;
                        }
                        host_job_unref(h->pending);
                        h->pending = NULL;
                }
                /* a dead one (lost: closed by keepalive or the other end), or
                 * one opened before the event loop ran here (no keepalive):
                 * a new one */
                if (h && h->conn && (virConnectIsAlive(h->conn) != 1 || (!h->keepalive && events_running()))) {
                        virConnectClose(h->conn);
                        h->conn = NULL;
                }
                if (h && h->conn && virConnectRef(h->conn) == 0) {
                        j->conn = h->conn;
                        j->keepalive = h->keepalive;
                }
                if (h && (!j->conn || discover)) {
                        /* a thread will ask the host: until it is done, the
                         * host is not asked again (one that went silent on a
                         * live connection too) */
                        h->pending = j;   /* the context's reference */
                        j->refs++;
                        h->pid = getpid();
                }
                pthread_mutex_unlock(&ctx->lock);
        }
        if (j->conn && !discover) {
                /* a live connection, nothing to ask: no thread */
                j->done = true;
                j->refs--;
                *ret = j;
                return 0;
        }
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int k = pthread_create(&t, &attr, host_job_run, j);
        pthread_attr_destroy(&attr);
        if (k != 0) {
                pthread_mutex_lock(&j->lock);
                j->done = true;
                j->r = -k;
                j->refs--;   /* the thread's */
                pthread_mutex_unlock(&j->lock);
                snprintf(j->error, sizeof j->error, "cannot start a thread: %s", strerror(k));
        }
        *ret = j;
        return 0;
}

/* Wait for j until deadline_ns (CLOCK_MONOTONIC).  Done: its result, and a
 * connection it opened goes to the context.  Not done: -ETIMEDOUT (the
 * thread goes on; the context remembers it). */
static int host_wait(const HvOptions *o, HostJob *j, uint64_t deadline_ns) {
        struct timespec ts = { .tv_sec = (time_t) (deadline_ns / 1000000000ull),
                               .tv_nsec = (long) (deadline_ns % 1000000000ull) };
        pthread_mutex_lock(&j->lock);
        while (!j->done)
                if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT)
                        break;
        bool done = j->done;
        pthread_mutex_unlock(&j->lock);
        if (!done)
                return -ETIMEDOUT;
        HvContext *ctx = o->ctx;
        if (ctx) {
                pthread_mutex_lock(&ctx->lock);
                HvConn *h = ctx_find(ctx, j->uri);
                if (h && h->pending == j) {
                        h->pending = NULL;
                        host_job_unref(j);   /* the context's reference (the caller still holds one) */
                }
                if (h && j->conn && !h->conn && virConnectRef(j->conn) == 0) {
                        h->conn = j->conn;
                        h->keepalive = j->keepalive;
                        h->pid = getpid();
                        free(h->canon);
                        h->canon = j->canon ? strdup(j->canon) : NULL;
                }
                pthread_mutex_unlock(&ctx->lock);
        }
        return j->r;
}

static uint64_t connect_deadline_ns(const HvOptions *o) {
        int ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : HV_CONNECT_TIMEOUT_MS;
        return now_nsec() + (uint64_t) ms * 1000000ull;
}

/* A connection for uri (NULL: o's): the context's (a reference of its own,
 * so that virConnectClose() in libvirt_release() is right either way), or a
 * new one, opened within the connect timeout. */
/* An attempt on uri still in flight: wait for it until deadline_ns. */
static void host_wait_pending(const HvOptions *o, const char *uri, uint64_t deadline_ns) {
        HvContext *ctx = o->ctx;
        if (!ctx)
                return;
        HostJob *p = NULL;
        pthread_mutex_lock(&ctx->lock);
        HvConn *h = ctx_find(ctx, uri);
        if (h && h->pending && h->pid == getpid()) {
                p = h->pending;
                pthread_mutex_lock(&p->lock);
                p->refs++;
                pthread_mutex_unlock(&p->lock);
        }
        pthread_mutex_unlock(&ctx->lock);
        if (!p)
                return;
        struct timespec ts = { .tv_sec = (time_t) (deadline_ns / 1000000000ull),
                               .tv_nsec = (long) (deadline_ns % 1000000000ull) };
        pthread_mutex_lock(&p->lock);
        while (!p->done)
                if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT)
                        break;
        pthread_mutex_unlock(&p->lock);
        host_job_unref(p);
}

static int libvirt_connect_uri(const HvOptions *o, const char *uri, virConnectPtr *ret) {
        if (!uri)
                uri = o->libvirt_uri ? o->libvirt_uri : "";
        HostJob *j = NULL;
        uint64_t deadline = connect_deadline_ns(o);
        int r = host_begin(o, uri, false, &j);
        if (r == -ETIMEDOUT) {
                /* A lever or an undo (not discovery, which skips the host at
                 * once): worth waiting for, within the connect timeout; a
                 * host that was only slow (a libvirtd stopped and continued)
                 * answers meanwhile. */
                host_wait_pending(o, uri, deadline);
                r = host_begin(o, uri, false, &j);
        }
        if (r < 0)
                return r == -ETIMEDOUT ? -ENOTCONN : r;
        r = host_wait(o, j, deadline);
        if (r >= 0 && j->conn && virConnectRef(j->conn) == 0)
                *ret = j->conn;
        else if (r >= 0)
                r = -ENOTCONN;
        host_job_unref(j);
        /* a host that does not answer is not reachable */
        return r == -ETIMEDOUT ? -ENOTCONN : r;
}

/* The connections of hv_libvirt_open_within()'s callers (the qga view's
 * agent opens): one process-wide context, so that a host gone silent keeps
 * one thread waiting on it, not one more (and a socket) per retry. */
static pthread_mutex_t within_lock = PTHREAD_MUTEX_INITIALIZER;
static HvContext *within_ctx;

virConnectPtr hv_libvirt_open_within(const char *uri, int timeout_ms, char *err, size_t err_size) {
        HvOptions o = HV_OPTIONS_DEFAULT;
        o.connect_timeout_ms = timeout_ms;
        pthread_mutex_lock(&within_lock);
        if (!within_ctx)
                within_ctx = hv_context_new();
        o.ctx = within_ctx;
        pthread_mutex_unlock(&within_lock);
        HostJob *j = NULL;
        int r = host_begin(&o, uri ? uri : "", false, &j);
        if (r == -ETIMEDOUT) {
                snprintf(err, err_size, "%s: still no answer to an earlier connection attempt",
                         uri && *uri ? uri : "libvirt");
                return NULL;
        }
        if (r < 0) {
                snprintf(err, err_size, "%s", strerror(-r));
                return NULL;
        }
        virConnectPtr c = NULL;
        r = host_wait(&o, j, connect_deadline_ns(&o));
        if (r >= 0 && j->conn && virConnectRef(j->conn) == 0)
                c = j->conn;
        else if (r == -ETIMEDOUT)
                snprintf(err, err_size, "%s: no answer within %d.%d s", uri && *uri ? uri : "libvirt",
                         (timeout_ms > 0 ? timeout_ms : HV_CONNECT_TIMEOUT_MS) / 1000,
                         (timeout_ms > 0 ? timeout_ms : HV_CONNECT_TIMEOUT_MS) % 1000 / 100);
        else
                snprintf(err, err_size, "%s", j->error[0] ? j->error : "cannot connect to libvirt");
        host_job_unref(j);
        return c;
}

static void libvirt_release(virConnectPtr c) {
        if (c)
                virConnectClose(c);
}

static inline void libvirt_releasep(virConnectPtr *c) {
        libvirt_release(*c);
        *c = NULL;
}

/* Is this connection's hypervisor on this machine (so /proc and cgroupfs are its)? */
static bool connection_is_local(virConnectPtr c) {
        _cleanup_free_ char *uri = virConnectGetURI(c);
        return uri && (strneq(uri, "qemu:///", 8) || strneq(uri, "qemu+unix:///", 13));
}

static int libvirt_domain_pid(virDomainPtr dom, pid_t *ret) {
        char path[512];
        snprintf(path, sizeof path, "/run/libvirt/qemu/%s.pid", virDomainGetName(dom));
        _cleanup_free_ char *line = NULL;
        int r = read_one_line(path, &line);
        if (r < 0)
                return r;
        int pid;
        r = safe_atoi(line, &pid);
        if (r < 0 || pid <= 0)
                return -EBADMSG;
        *ret = pid;
        return 0;
}

/* vCPU and I/O thread ids through libvirt's QMP passthrough. */
static int libvirt_qmp_tids(virDomainPtr dom, const char *command, const char *key_index, pid_t **ret, size_t *ret_n) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "{\"execute\":\"%s\"}", command);
        _cleanup_free_ char *reply = NULL;
        if (virDomainQemuMonitorCommand(dom, cmd, &reply, 0) < 0)
                return -EIO;
        json_object *o = json_tokener_parse(reply), *a;
        if (!o || !json_object_object_get_ex(o, "return", &a) || !json_object_is_type(a, json_type_array)) {
                json_object_put(o);
                return -EPROTO;
        }
        size_t n = json_object_array_length(a);
        pid_t *tids = calloc(n ? n : 1, sizeof *tids);
        if (!tids) {
                json_object_put(o);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i), *tid, *idx;
                if (!json_object_object_get_ex(e, "thread-id", &tid)) {
                        free(tids);
                        json_object_put(o);
                        return -EPROTO;
                }
                size_t slot = i;
                if (key_index && json_object_object_get_ex(e, key_index, &idx)) {
                        int64_t v = json_object_get_int64(idx);
                        if (v >= 0 && (size_t) v < n)
                                slot = (size_t) v;
                }
                tids[slot] = (pid_t) json_object_get_int64(tid);
        }
        json_object_put(o);
        *ret = tids;
        *ret_n = n;
        return 0;
}

/* The string value of an XPath expression evaluated at node n, malloc'd;
 * NULL when empty. */
static char *xpath_string(xmlXPathContextPtr ctx, xmlNodePtr n, const char *expr) {
        ctx->node = n;
        xmlXPathObjectPtr res = xmlXPathEvalExpression((const xmlChar *) expr, ctx);
        char *v = NULL;
        if (res && res->type == XPATH_STRING && res->stringval && res->stringval[0])
                v = strdup((const char *) res->stringval);
        xmlXPathFreeObject(res);
        return v;
}

static int channel_fill(xmlXPathContextPtr ctx, const char *port, DomainChannel *ret) {
        char expr[160];
        snprintf(expr, sizeof expr, "/domain/devices/channel[target/@type='virtio'][target/@name='%s']", port);
        xmlXPathObjectPtr res = xmlXPathEvalExpression((const xmlChar *) expr, ctx);
        if (!res)
                return -ENOMEM;
        domain_channel_done(ret);
        if (res->type == XPATH_NODESET && res->nodesetval && res->nodesetval->nodeNr > 0) {
                /* the first such port: QEMU refuses two ports of one name */
                xmlNodePtr n = res->nodesetval->nodeTab[0];
                ret->present = true;
                ret->type = xpath_string(ctx, n, "string(@type)");
                /* Only QEMU's own listening socket (mode='bind', libvirt's
                 * default being connect) at an absolute path: in connect
                 * mode another process listens there, not the guest's port. */
                _cleanup_free_ char *mode = xpath_string(ctx, n, "string(source/@mode)");
                if (ret->type && streq(ret->type, "unix") && mode && streq(mode, "bind"))
                        ret->path = xpath_string(ctx, n, "string(source/@path)");
                if (ret->path && ret->path[0] != '/') {
                        log_debug("channel %s: path '%s' is not absolute: not used", port, ret->path);
                        free(ret->path);
                        ret->path = NULL;
                }
                ret->state = xpath_string(ctx, n, "string(target/@state)");
        }
        xmlXPathFreeObject(res);
        return 0;
}

int hv_libvirt_parse_channels(const char *xml, size_t len, Domain *d) {
        if (!xml || len == 0 || len > INT32_MAX)
                return -EBADMSG;
        xmlDocPtr doc = xmlReadMemory(xml, (int) len, "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return -EBADMSG;
        xmlNodePtr root = xmlDocGetRootElement(doc);
        if (!root || !xmlStrEqual(root->name, (const xmlChar *) "domain")) {
                xmlFreeDoc(doc);
                return -EBADMSG;
        }
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        int r = ctx ? channel_fill(ctx, XVSCHED_AGENT_PORT_NAME, &d->xvagent_channel) : -ENOMEM;
        if (r >= 0)
                r = channel_fill(ctx, "org.qemu.guest_agent.0", &d->qga_channel);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return r;
}

/* The agent channels, from the live domain XML. */
static int libvirt_channels(virDomainPtr dom, Domain *d) {
        _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
        if (!xml) {
                log_debug("'%s': no domain XML: %s", d->name, last_libvirt_error());
                return -EIO;
        }
        return hv_libvirt_parse_channels(xml, strlen(xml), d);
}

static int domain_from_libvirt(const HvOptions *o, virConnectPtr c, virDomainPtr dom, Domain **ret) {
        _cleanup_(domain_freep) Domain *d = domain_new(virDomainGetName(dom), "libvirt");
        if (!d)
                return -ENOMEM;
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (virDomainGetUUIDString(dom, uuid) == 0)
                d->uuid = strdup(uuid);
        unsigned id = virDomainGetID(dom);
        d->id = id == (unsigned) -1 ? -1 : (int) id;
        d->libvirt_uri = virConnectGetURI(c);
        d->remote = !connection_is_local(c);
        (void) libvirt_channels(dom, d);
        /* The xvagent's socket is ours to use when it is a unix socket on this host. */
        if (!d->remote && d->xvagent_channel.path && !(d->agent_socket = strdup(d->xvagent_channel.path)))
                return -ENOMEM;

        if (d->remote) {
                /* Remote: no /proc or cgroupfs of that host here.  The levers
                 * that libvirt offers still work. */
                d->vcpu_source = strdup("remote");
                *ret = TAKE_PTR(d);
                return 0;
        }
        if (libvirt_domain_pid(dom, &d->pid) < 0) {
                *ret = TAKE_PTR(d);
                return 0;
        }
        int r = hv_scan_threads(o->proc_root, d);
        if (r < 0)
                return r;
        _cleanup_free_ pid_t *tids = NULL;
        size_t n = 0;
        if (!o->quick && libvirt_qmp_tids(dom, "query-cpus-fast", "cpu-index", &tids, &n) >= 0) {
                int disagree = domain_set_vcpu_tids(d, tids, n);
                if (disagree > 0)
                        log_debug("'%s': %d thread names disagree with libvirt's vCPU list", d->name, disagree);
                d->vcpu_source = strdup("libvirt");
        } else
                d->vcpu_source = strdup("comm");
        _cleanup_free_ pid_t *io = NULL;
        size_t n_io = 0;
        if (!o->quick && libvirt_qmp_tids(dom, "query-iothreads", NULL, &io, &n_io) >= 0)
                for (size_t i = 0; i < d->n_threads; i++)
                        for (size_t j = 0; j < n_io; j++)
                                if (d->threads[i].tid == io[j])
                                        d->threads[i].class = THREAD_IO;
        (void) hv_domain_cgroup(o, d->pid, &d->cgroup);
        *ret = TAKE_PTR(d);
        return 0;
}

static int discover_on(const HvOptions *o, virConnectPtr c, DomainList *l) {
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0) {
                log_debug("listing libvirt domains failed: %s", last_libvirt_error());
                return -EIO;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                Domain *d = NULL;
                if (r >= 0) {
                        r = domain_from_libvirt(o, c, doms[i], &d);
                        if (r >= 0)
                                r = domain_list_add(l, d);
                }
                virDomainFree(doms[i]);
        }
        free(doms);
        return r;
}

static int libvirt_discover(const HvOptions *o, DomainList *l) {
        HostJob *j = NULL;
        int r = host_begin(o, o->libvirt_uri ? o->libvirt_uri : "", true, &j);
        if (r < 0)
                return r;
        r = host_wait(o, j, connect_deadline_ns(o));
        if (r >= 0) {
                *l = j->found;
                j->found = (DomainList) {};
        }
        host_job_unref(j);
        return r;
}

int hv_libvirt_discover_many(const HvOptions *o, DomainList *l, char ***ret_failed) {
        size_t n = o->n_libvirt_uris;
        _cleanup_free_ HostJob **jobs = calloc(n ? n : 1, sizeof *jobs);
        _cleanup_free_ int *begun = calloc(n ? n : 1, sizeof *begun);
        char **failed = calloc(n + 1, sizeof *failed);
        size_t n_failed = 0;
        if (!jobs || !begun || !failed) {
                free(failed);
                return -ENOMEM;
        }
        /* Every host at once: one silent host costs the timeout, not one per host. */
        for (size_t i = 0; i < n; i++)
                begun[i] = host_begin(o, o->libvirt_uris[i], true, &jobs[i]);
        uint64_t deadline = connect_deadline_ns(o);
        int ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : HV_CONNECT_TIMEOUT_MS;
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                int k = begun[i] < 0 ? begun[i] : host_wait(o, jobs[i], deadline);
                if (k >= 0) {
                        for (size_t m = 0; r >= 0 && m < jobs[i]->found.n; m++) {
                                r = domain_list_add(l, jobs[i]->found.domains[m]);
                                jobs[i]->found.domains[m] = NULL;
                        }
                } else {
                        char *line = NULL;
                        if (k == -ETIMEDOUT)
                                k = asprintf(&line, "%s: no answer within %d.%d s", o->libvirt_uris[i], ms / 1000,
                                             ms % 1000 / 100);
                        else
                                k = asprintf(&line, "%s: %s", o->libvirt_uris[i],
                                             jobs[i] && jobs[i]->error[0] ? jobs[i]->error : strerror(-k));
                        if (k < 0)
                                r = -ENOMEM;
                        else
                                failed[n_failed++] = line;
                }
                host_job_unref(jobs[i]);
        }
        if (r < 0 || !ret_failed || n_failed == 0) {
                hv_strv_free(failed);
                failed = NULL;
        }
        if (ret_failed)
                *ret_failed = failed;
        return r;
}

/* ---- levers through libvirt ---- */

static int libvirt_call_error(const char *what, const char *uuid);
static int call_failed(virConnectPtr c, int r);

/* The domain (a virDomainPtr holds its own reference on the connection).
 * -ENOENT only when libvirt says there is no such domain: any other failure
 * (a dropped connection, an RPC error, a malformed uuid) is not "gone",
 * since a pause entry is dropped for a gone domain. */
static int lookup_on(const HvOptions *o, const char *uri, const char *uuid, const char *name, virDomainPtr *ret) {
        _cleanup_(libvirt_releasep) virConnectPtr c = NULL;
        int r = libvirt_connect_uri(o, uri, &c);
        if (r < 0)
                return r;
        virDomainPtr dom = uuid ? virDomainLookupByUUIDString(c, uuid) : virDomainLookupByName(c, name);
        if (!dom) {
                virErrorPtr e = virGetLastError();
                if (e && e->code == VIR_ERR_NO_DOMAIN) {
                        log_debug("libvirt domain %s: %s", uuid ? uuid : name, last_libvirt_error());
                        return -ENOENT;
                }
                r = libvirt_call_error("lookup", uuid ? uuid : name);
                return call_failed(c, r == -ENOENT ? -EIO : r);
        }
        *ret = dom;
        return 0;
}

static int lookup_uuid(const HvOptions *o, const char *uuid, const char *name, virDomainPtr *ret) {
        return lookup_on(o, NULL, uuid, name, ret);
}

/* The domain on its own host (d->libvirt_uri: many hosts), else on o's. */
static int lookup(const HvOptions *o, const Domain *d, virDomainPtr *ret) {
        return lookup_on(o, d->libvirt_uri, d->uuid, d->name, ret);
}

static inline void domain_unrefp(virDomainPtr *d) {
        if (*d)
                virDomainFree(*d);
        *d = NULL;
}

/* A call on c failed (libvirt's last error says why): -ENOTCONN when that
 * left c dead (closed by keepalive: its host stopped answering; or by the
 * other end), with one line for its host; else r. */
static int call_failed(virConnectPtr c, int r) {
        char why[256];
        snprintf(why, sizeof why, "%s", last_libvirt_error());   /* virConnectIsAlive() resets it */
        if (!c || virConnectIsAlive(c) != 0)
                return r;
        conn_check_lost(c, why);
        return -ENOTCONN;
}

static int dom_call_failed(virDomainPtr dom, int r) {
        return call_failed(virDomainGetConnect(dom), r);
}

/* -ENOENT when the domain went away under the call, else -EIO. */
static int libvirt_call_error(const char *what, const char *uuid) {
        virErrorPtr e = virGetLastError();
        log_debug("libvirt %s of %s: %s", what, uuid, e && e->message ? e->message : "unknown libvirt error");
        if (e && (e->code == VIR_ERR_NO_DOMAIN || e->code == VIR_ERR_OPERATION_INVALID))
                return -ENOENT;   /* gone, or not running any more */
        if (e && (e->code == VIR_ERR_NO_CONNECT || e->code == VIR_ERR_SYSTEM_ERROR || e->code == VIR_ERR_RPC))
                return -ENOTCONN;
        return -EIO;
}

/* ---- run state: pause and resume through libvirt ---- */

static const char *paused_reason(int reason) {
        switch (reason) {
        case VIR_DOMAIN_PAUSED_USER: return "paused";
        case VIR_DOMAIN_PAUSED_MIGRATION: return "paused (migration)";
        case VIR_DOMAIN_PAUSED_SAVE: return "paused (save)";
        case VIR_DOMAIN_PAUSED_DUMP: return "paused (dump)";
        case VIR_DOMAIN_PAUSED_IOERROR: return "paused (I/O error)";
        case VIR_DOMAIN_PAUSED_WATCHDOG: return "paused (watchdog)";
        case VIR_DOMAIN_PAUSED_SHUTTING_DOWN: return "paused (shutting down)";
        case VIR_DOMAIN_PAUSED_CRASHED: return "paused (crashed)";
        case VIR_DOMAIN_PAUSED_POSTCOPY: return "paused (post-copy)";
        case VIR_DOMAIN_PAUSED_STARTING_UP: return "paused (starting up)";
        default: return "paused (other)";
        }
}

static int dom_run_state(virDomainPtr dom, const char *uuid, char **ret_state) {
        int state = 0, reason = 0;
        if (virDomainGetState(dom, &state, &reason, 0) < 0)
                return libvirt_call_error("state", uuid);
        const char *name;
        int r;
        switch (state) {
        case VIR_DOMAIN_RUNNING: name = "running"; r = 1; break;
        case VIR_DOMAIN_PAUSED:
                name = paused_reason(reason);
                /* QEMU's `stop` through the passthrough reads as paused for an unknown reason */
                r = reason == VIR_DOMAIN_PAUSED_USER || reason == VIR_DOMAIN_PAUSED_UNKNOWN ? 0 : -ESTALE;
                break;
        case VIR_DOMAIN_SHUTOFF: name = "shut off"; r = -ESTALE; break;
        case VIR_DOMAIN_SHUTDOWN: name = "shutting down"; r = -ESTALE; break;
        case VIR_DOMAIN_CRASHED: name = "crashed"; r = -ESTALE; break;
        case VIR_DOMAIN_PMSUSPENDED: name = "suspended by the guest"; r = -ESTALE; break;
        case VIR_DOMAIN_BLOCKED: name = "blocked"; r = 1; break;
        default: name = "unknown"; r = -ESTALE; break;
        }
        if (ret_state && !(*ret_state = strdup(name)))
                return -ENOMEM;
        return r;
}

int hv_libvirt_run_state(const HvOptions *o, const char *uuid, char **ret_state) {
        if (!uuid)
                return -EINVAL;
        _cleanup_(domain_unrefp) virDomainPtr dom = NULL;
        int r = lookup_uuid(o, uuid, NULL, &dom);
        if (r < 0)
                return r;
        return dom_run_state(dom, uuid, ret_state);
}

int hv_libvirt_suspend(const HvOptions *o, const char *uuid) {
        if (!uuid)
                return -EINVAL;
        _cleanup_(domain_unrefp) virDomainPtr dom = NULL;
        int r = lookup_uuid(o, uuid, NULL, &dom);
        if (r < 0)
                return r;
        if (virDomainSuspend(dom) < 0)
                return libvirt_call_error("suspend", uuid);
        return 0;
}

int hv_libvirt_resume_confirmed(const HvOptions *o, const char *uuid, int deadline_ms, char **ret_state) {
        if (!uuid)
                return -EINVAL;
        uint64_t end = (uint64_t) now_msec() + (uint64_t) (deadline_ms > 0 ? deadline_ms : 0);
        int r;
        for (;;) {
                _cleanup_(domain_unrefp) virDomainPtr dom = NULL;
                _cleanup_free_ char *state = NULL;
                r = lookup_uuid(o, uuid, NULL, &dom);
                if (r == -ENOENT)
                        return r;   /* gone: nothing paused any more */
                if (r >= 0) {
                        r = dom_run_state(dom, uuid, &state);
                        if (r == 1)
                                return 0;
                        if (r == -ESTALE || r == -ENOENT) {
                                if (ret_state)
                                        *ret_state = TAKE_PTR(state);
                                return r;
                        }
                        if (r == 0 && virDomainResume(dom) < 0)
                                r = libvirt_call_error("resume", uuid);
                        else if (r == 0 && dom_run_state(dom, uuid, NULL) == 1)
                                return 0;
                        else if (r == 0)
                                r = -EAGAIN;
                }
                if ((uint64_t) now_msec() >= end)
                        return r < 0 ? r : -ETIMEDOUT;
                struct timespec ts = { 0, 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

int hv_libvirt_hmp(const HvOptions *o, const char *uuid, const char *command, char **ret) {
        if (!uuid || !command)
                return -EINVAL;
        _cleanup_(domain_unrefp) virDomainPtr dom = NULL;
        int r = lookup_uuid(o, uuid, NULL, &dom);
        if (r < 0)
                return r;
        char *out = NULL;
        if (virDomainQemuMonitorCommand(dom, command, &out, VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) < 0)
                return libvirt_call_error("monitor command", uuid);
        *ret = out;
        return 0;
}

static bool host_is_cgroup_v2(const HvOptions *o) {
        CgroupHost *h = NULL;
        if (cgroup_host_open(o->cgroup_root, &h) < 0)
                return false;
        bool v2 = cgroup_host_version(h) == CGROUP_V2;
        cgroup_host_free(h);
        return v2;
}

static int params_get(virDomainPtr dom, const char *lever, virTypedParameterPtr *ret, int *ret_n);

/* The cgroup version of dom's host, for its cpu_shares and blkio weight
 * (raw cgroup values there).  This machine's for a local domain.  For a
 * remote one, what its libvirt says (docs/hosts.md):
 *  1. its refusal of cpu_shares=0, which names the host's range ([2, 262144]
 *     on v1, [1, 10000] on v2); libvirt >= 9.0 checks the range before it
 *     writes anything (an older one might let the kernel clamp 0 to 2 on v1,
 *     so it is not asked);
 *  2. else the domain's cpu_shares, when only v1 can hold it (> 10000);
 *  3. else this machine's version, as before (a debug line says so).
 * Kept per host until its connection is lost. */
static HvCgroupVersion dom_cgroup_version(const HvOptions *o, virDomainPtr dom) {
        virConnectPtr c = virDomainGetConnect(dom);
        if (!c || connection_is_local(c))
                return host_is_cgroup_v2(o) ? HV_CGROUP_V2 : HV_CGROUP_V1;
        _cleanup_free_ char *uri = virConnectGetURI(c);
        if (!uri)
                return host_is_cgroup_v2(o) ? HV_CGROUP_V2 : HV_CGROUP_V1;
        pthread_mutex_lock(&notes_lock);
        HostNote *n = note_find(uri, false);
        HvCgroupVersion v = n ? n->cgroup : HV_CGROUP_UNKNOWN;
        pthread_mutex_unlock(&notes_lock);
        if (v != HV_CGROUP_UNKNOWN)
                return v;
        unsigned long version = 0;
        if (virConnectGetLibVersion(c, &version) == 0 && version >= 9000000) {
                virTypedParameterPtr p = NULL;
                int np = 0, max = 0;
                if (virTypedParamsAddULLong(&p, &np, &max, VIR_DOMAIN_SCHEDULER_CPU_SHARES, 0) == 0) {
                        if (virDomainSetSchedulerParametersFlags(dom, p, np, VIR_DOMAIN_AFFECT_LIVE) < 0)
                                v = hv_cgroup_version_from_refusal(last_libvirt_error());
                        else
                                log_debug("%s: libvirt took cpu_shares=0", uri);   /* not what 9.0 does */
                        log_debug("%s: cgroup version from libvirt's range for cpu_shares: %d (%s)", uri, (int) v,
                                  last_libvirt_error());
                }
                virTypedParamsFree(p, np);
        }
        if (v == HV_CGROUP_UNKNOWN) {
                virTypedParameterPtr p = NULL;
                int np = 0;
                if (params_get(dom, "weight", &p, &np) >= 0) {
                        virTypedParameterPtr f = virTypedParamsGet(p, np, VIR_DOMAIN_SCHEDULER_CPU_SHARES);
                        if (f && f->type == VIR_TYPED_PARAM_ULLONG)
                                v = hv_cgroup_version_from_shares(f->value.ul);
                        virTypedParamsFree(p, np);
                }
                if (v == HV_CGROUP_UNKNOWN) {
                        HvCgroupVersion local = host_is_cgroup_v2(o) ? HV_CGROUP_V2 : HV_CGROUP_V1;
                        log_debug("%s: its cgroup version is not known: taking this machine's (v%d)", uri, (int) local);
                        return local;   /* not kept: asked again next time */
                }
        }
        pthread_mutex_lock(&notes_lock);
        n = note_find(uri, true);
        if (n)
                n->cgroup = v;
        pthread_mutex_unlock(&notes_lock);
        return v;
}

/* Read the named typed parameters into "a b" text (unsigned/signed long long, uint). */
static int params_get(virDomainPtr dom, const char *lever, virTypedParameterPtr *ret, int *ret_n) {
        int n = 0;
        virTypedParameterPtr p = NULL;
        int k;
        if (streq(lever, "weight") || streq(lever, "cap")) {
                char *type = virDomainGetSchedulerType(dom, &n);
                if (!type)
                        return dom_call_failed(dom, -EOPNOTSUPP);
                free(type);
                if (n <= 0)
                        return -EOPNOTSUPP;
                p = calloc((size_t) n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                k = virDomainGetSchedulerParametersFlags(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE);
        } else if (streq(lever, "ioweight")) {
                if (virDomainGetBlkioParameters(dom, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0)
                        return dom_call_failed(dom, -EOPNOTSUPP);
                if (n <= 0)
                        return -EOPNOTSUPP;
                p = calloc((size_t) n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                k = virDomainGetBlkioParameters(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE);
        } else if (streq(lever, "memory")) {
                if (virDomainGetMemoryParameters(dom, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0)
                        return dom_call_failed(dom, -EOPNOTSUPP);
                if (n <= 0)
                        return -EOPNOTSUPP;
                p = calloc((size_t) n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                k = virDomainGetMemoryParameters(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE);
        } else
                return -EOPNOTSUPP;
        if (k < 0) {
                int r = dom_call_failed(dom, -EIO);
                virTypedParamsFree(p, n);
                return r;
        }
        *ret = p;
        *ret_n = n;
        return 0;
}

static int params_set(virDomainPtr dom, const char *lever, virTypedParameterPtr p, int n) {
        int k;
        if (streq(lever, "weight") || streq(lever, "cap"))
                k = virDomainSetSchedulerParametersFlags(dom, p, n, VIR_DOMAIN_AFFECT_LIVE);
        else if (streq(lever, "ioweight"))
                k = virDomainSetBlkioParameters(dom, p, n, VIR_DOMAIN_AFFECT_LIVE);
        else if (streq(lever, "memory"))
                k = virDomainSetMemoryParameters(dom, p, n, VIR_DOMAIN_AFFECT_LIVE);
        else
                return -EOPNOTSUPP;
        if (k < 0) {
                virErrorPtr e = virGetLastError();
                if (e && (e->code == VIR_ERR_OPERATION_INVALID || e->code == VIR_ERR_NO_SUPPORT ||
                          e->code == VIR_ERR_CONFIG_UNSUPPORTED || e->code == VIR_ERR_OPERATION_UNSUPPORTED))
                        return -EOPNOTSUPP;
                return dom_call_failed(dom, e && e->code == VIR_ERR_INVALID_ARG ? -EINVAL : -EIO);
        }
        return 0;
}

/* Fields each lever uses, in save/restore order. */
static const char *const *lever_fields(const char *lever) {
        static const char *const weight[] = { VIR_DOMAIN_SCHEDULER_CPU_SHARES, NULL };
        static const char *const cap[] = { VIR_DOMAIN_SCHEDULER_GLOBAL_PERIOD, VIR_DOMAIN_SCHEDULER_GLOBAL_QUOTA, NULL };
        static const char *const io[] = { VIR_DOMAIN_BLKIO_WEIGHT, NULL };
        static const char *const mem[] = { VIR_DOMAIN_MEMORY_HARD_LIMIT, NULL };
        if (streq(lever, "weight"))
                return weight;
        if (streq(lever, "cap"))
                return cap;
        if (streq(lever, "ioweight"))
                return io;
        if (streq(lever, "memory"))
                return mem;
        return NULL;
}

static int param_to_text(virTypedParameterPtr p, char *buf, size_t size) {
        switch (p->type) {
        case VIR_TYPED_PARAM_UINT: snprintf(buf, size, "%u", p->value.ui); return 0;
        case VIR_TYPED_PARAM_INT: snprintf(buf, size, "%d", p->value.i); return 0;
        case VIR_TYPED_PARAM_ULLONG: snprintf(buf, size, "%llu", p->value.ul); return 0;
        case VIR_TYPED_PARAM_LLONG: snprintf(buf, size, "%lld", p->value.l); return 0;
        default: return -EOPNOTSUPP;
        }
}

/* ---- pinning: "cpus.vcpu" (every vCPU) and "cpus.emulator" ---- */

static int cpumap_to_text(const unsigned char *map, int maplen, char **ret) {
        CpuSet set = {};
        for (int cpu = 0; cpu < maplen * 8 && cpu < 64 * CPUSET_WORDS; cpu++)
                if (VIR_CPU_USED(map, cpu))
                        cpuset_set(&set, (unsigned) cpu);
        *ret = cpuset_format(&set);
        return *ret ? 0 : -ENOMEM;
}

static int text_to_cpumap(const char *text, unsigned char *map, int maplen) {
        CpuSet set;
        int r = cpuset_parse(text, &set);
        if (r < 0)
                return r;
        memset(map, 0, (size_t) maplen);
        for (int cpu = 0; cpu < 64 * CPUSET_WORDS; cpu++)
                if (cpuset_isset(&set, (unsigned) cpu)) {
                        if (cpu >= maplen * 8)
                                return -EINVAL;
                        VIR_USE_CPU(map, cpu);
                }
        return 0;
}

static int pin_geometry(virDomainPtr dom, int *ret_maplen, int *ret_nvcpus) {
        int ncpus = virNodeGetCPUMap(virDomainGetConnect(dom), NULL, NULL, 0);
        if (ncpus < 0)
                return dom_call_failed(dom, -EOPNOTSUPP);
        int nvcpus = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE);
        if (nvcpus < 0)
                return dom_call_failed(dom, -EOPNOTSUPP);
        if (ncpus == 0 || nvcpus == 0)
                return -EOPNOTSUPP;
        *ret_maplen = VIR_CPU_MAPLEN(ncpus);
        *ret_nvcpus = nvcpus;
        return 0;
}

/* Saved: "LIST;LIST;..." one per vCPU, or one LIST for the emulator. */
static int lv_pin_save(virDomainPtr dom, bool vcpu, char **ret) {
        int maplen, nvcpus;
        int r = pin_geometry(dom, &maplen, &nvcpus);
        if (r < 0)
                return r;
        int n = vcpu ? nvcpus : 1;
        _cleanup_free_ unsigned char *maps = calloc((size_t) n, (size_t) maplen);
        if (!maps)
                return -ENOMEM;
        int k = vcpu ? virDomainGetVcpuPinInfo(dom, n, maps, maplen, VIR_DOMAIN_AFFECT_LIVE)
                     : virDomainGetEmulatorPinInfo(dom, maps, maplen, VIR_DOMAIN_AFFECT_LIVE);
        if (k < 0)
                return dom_call_failed(dom, -EOPNOTSUPP);
        size_t cap = 1, len = 0;
        char *out = calloc(1, 1);
        for (int i = 0; out && i < n; i++) {
                _cleanup_free_ char *t = NULL;
                if (cpumap_to_text(maps + (size_t) i * (size_t) maplen, maplen, &t) < 0) {
                        free(out);
                        return -ENOMEM;
                }
                size_t need = len + strlen(t) + 2;
                if (need > cap) {
                        char *nn = realloc(out, need);
                        if (!nn) {
                                free(out);
                                return -ENOMEM;
                        }
                        out = nn;
                        cap = need;
                }
                len += (size_t) sprintf(out + len, "%s%s", i ? ";" : "", t);
        }
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

/* Apply one LIST to every vCPU (or the emulator), or a saved "L0;L1;...". */
static int lv_pin_apply(virDomainPtr dom, bool vcpu, const char *text) {
        int maplen, nvcpus;
        int r = pin_geometry(dom, &maplen, &nvcpus);
        if (r < 0)
                return r;
        _cleanup_free_ unsigned char *map = calloc(1, (size_t) maplen);
        _cleanup_free_ char *copy = strdup(text);
        if (!map || !copy)
                return -ENOMEM;
        bool per_vcpu = strchr(copy, ';') != NULL;
        char *save = NULL, *tok = per_vcpu ? strtok_r(copy, ";", &save) : copy;
        for (int i = 0; i < (vcpu ? nvcpus : 1); i++) {
                if (!tok)
                        return -EINVAL;
                r = text_to_cpumap(tok, map, maplen);
                if (r < 0)
                        return r;
                int k = vcpu ? virDomainPinVcpuFlags(dom, (unsigned) i, map, maplen, VIR_DOMAIN_AFFECT_LIVE)
                             : virDomainPinEmulator(dom, map, maplen, VIR_DOMAIN_AFFECT_LIVE);
                if (k < 0) {
                        virErrorPtr e = virGetLastError();
                        return dom_call_failed(dom, e && e->code == VIR_ERR_INVALID_ARG ? -EINVAL : -EIO);
                }
                if (per_vcpu)
                        tok = strtok_r(NULL, ";", &save);
        }
        return 0;
}

static int lv_pin_lever(const HvOptions *o, const Domain *d, const char *lever, const char *text, char **ret_saved) {
        bool vcpu = streq(lever, "cpus.vcpu");
        virDomainPtr dom;
        int r = lookup(o, d, &dom);
        if (r < 0)
                return r;
        r = ret_saved ? lv_pin_save(dom, vcpu, ret_saved) : lv_pin_apply(dom, vcpu, text);
        virDomainFree(dom);
        return r;
}

static bool is_pin_lever(const char *lever) {
        return streq(lever, "cpus.vcpu") || streq(lever, "cpus.emulator");
}

static int lv_weight_read(const HvOptions *o, const Domain *d, char **ret);

static int lv_lever_save(const HvOptions *o, const Domain *d, const char *lever, char **ret) {
        if (is_pin_lever(lever))
                return lv_pin_lever(o, d, lever, NULL, ret);
        if (streq(lever, "weight.read"))
                return lv_weight_read(o, d, ret);
        const char *const *fields = lever_fields(lever);
        if (!fields)
                return -EOPNOTSUPP;
        virDomainPtr dom;
        int r = lookup(o, d, &dom);
        if (r < 0)
                return r;
        virTypedParameterPtr p = NULL;
        int n = 0;
        r = params_get(dom, lever, &p, &n);
        virDomainFree(dom);
        if (r < 0)
                return r;
        char out[256] = "";
        for (size_t i = 0; fields[i]; i++) {
                virTypedParameterPtr f = virTypedParamsGet(p, n, fields[i]);
                char v[64];
                if (!f || param_to_text(f, v, sizeof v) < 0) {
                        virTypedParamsFree(p, n);
                        return -EOPNOTSUPP;
                }
                size_t len = strlen(out);
                snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", v);
        }
        virTypedParamsFree(p, n);
        *ret = strdup(out);
        return *ret ? 0 : -ENOMEM;
}

/* "weight.read" (list and show, not the journal): the weight in xvsched's
 * scale, converted with the domain's host's cgroup version. */
static int lv_weight_read(const HvOptions *o, const Domain *d, char **ret) {
        virDomainPtr dom;
        int r = lookup(o, d, &dom);
        if (r < 0)
                return r;
        virTypedParameterPtr p = NULL;
        int n = 0;
        r = params_get(dom, "weight", &p, &n);
        virTypedParameterPtr f = r >= 0 ? virTypedParamsGet(p, n, VIR_DOMAIN_SCHEDULER_CPU_SHARES) : NULL;
        uint64_t shares = !f ? 0 : f->type == VIR_TYPED_PARAM_ULLONG ? f->value.ul
                                 : f->type == VIR_TYPED_PARAM_UINT   ? f->value.ui
                                                                     : 0;
        if (r >= 0 && !f)
                r = -EOPNOTSUPP;
        if (r >= 0 && asprintf(ret, "%u", hv_cpu_shares_to_weight(shares, dom_cgroup_version(o, dom))) < 0)
                r = -ENOMEM;
        if (p)
                virTypedParamsFree(p, n);
        virDomainFree(dom);
        return r;
}

/* Write "v1 v2 ..." back into the lever's fields, with the types libvirt reported. */
static int lv_write_fields(const HvOptions *o, const Domain *d, const char *lever, const char *text) {
        const char *const *fields = lever_fields(lever);
        if (!fields)
                return -EOPNOTSUPP;
        virDomainPtr dom;
        int r = lookup(o, d, &dom);
        if (r < 0)
                return r;
        virTypedParameterPtr cur = NULL, set = NULL;
        int n_cur = 0, n_set = 0, max_set = 0;
        r = params_get(dom, lever, &cur, &n_cur);
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL, *tok = copy ? strtok_r(copy, " ", &save) : NULL;
        for (size_t i = 0; r >= 0 && fields[i]; i++, tok = strtok_r(NULL, " ", &save)) {
                virTypedParameterPtr f = virTypedParamsGet(cur, n_cur, fields[i]);
                if (!f || !tok) {
                        r = -EINVAL;
                        break;
                }
                int64_t sv;
                uint64_t uv;
                switch (f->type) {
                case VIR_TYPED_PARAM_UINT:
                        r = safe_atou64(tok, &uv);
                        if (r >= 0 && uv > UINT32_MAX)
                                r = -ERANGE;
                        if (r >= 0 && virTypedParamsAddUInt(&set, &n_set, &max_set, fields[i], (unsigned) uv) < 0)
                                r = -ENOMEM;
                        break;
                case VIR_TYPED_PARAM_ULLONG:
                        r = safe_atou64(tok, &uv);
                        if (r >= 0 && virTypedParamsAddULLong(&set, &n_set, &max_set, fields[i], uv) < 0)
                                r = -ENOMEM;
                        break;
                case VIR_TYPED_PARAM_LLONG:
                        r = safe_atoi64(tok, &sv);
                        if (r >= 0 && virTypedParamsAddLLong(&set, &n_set, &max_set, fields[i], sv) < 0)
                                r = -ENOMEM;
                        break;
                default:
                        r = -EOPNOTSUPP;
                }
        }
        if (r >= 0)
                r = params_set(dom, lever, set, n_set);
        virTypedParamsFree(cur, n_cur);
        virTypedParamsFree(set, n_set);
        virDomainFree(dom);
        return r;
}

/* d's host's cgroup version (dom_cgroup_version()). */
static int dom_version(const HvOptions *o, const Domain *d, HvCgroupVersion *ret) {
        virDomainPtr dom;
        int r = lookup(o, d, &dom);
        if (r < 0)
                return r;
        *ret = dom_cgroup_version(o, dom);
        virDomainFree(dom);
        return 0;
}

static int lv_lever_set(const HvOptions *o, const Domain *d, const char *lever, const char *value) {
        char text[128];
        if (is_pin_lever(lever))
                return lv_pin_lever(o, d, lever, value, NULL);
        if (streq(lever, "weight")) {
                unsigned w;
                if (safe_atou(value, &w) < 0)
                        return -EINVAL;
                /* libvirt's cpu_shares is the raw cgroup value of the
                 * domain's host: shares on v1, weight on v2. */
                HvCgroupVersion v;
                int r = dom_version(o, d, &v);
                if (r < 0)
                        return r;
                snprintf(text, sizeof text, "%llu", (unsigned long long) hv_weight_to_cpu_shares(w, v));
        } else if (streq(lever, "cap")) {
                double pct;
                if (safe_atod(value, &pct) < 0 || pct < 0)
                        return -EINVAL;
                const unsigned long long period = 100000;
                if (pct == 0)
                        snprintf(text, sizeof text, "%llu -1", period);
                else
                        snprintf(text, sizeof text, "%llu %lld", period, (long long) (pct * (double) period / 100.0 + 0.5));
        } else if (streq(lever, "ioweight")) {
                unsigned w;
                if (safe_atou(value, &w) < 0)
                        return -EINVAL;
                HvCgroupVersion v;
                int r = dom_version(o, d, &v);
                if (r < 0)
                        return r;
                snprintf(text, sizeof text, "%u", hv_ioweight_to_blkio(w, v));
        } else if (streq(lever, "memory")) {
                uint64_t bytes;
                if (safe_atou64(value, &bytes) < 0)
                        return -EINVAL;
                /* libvirt counts KiB; "unlimited" is VIR_DOMAIN_MEMORY_PARAM_UNLIMITED. */
                snprintf(text, sizeof text, "%llu",
                         bytes == UINT64_MAX ? VIR_DOMAIN_MEMORY_PARAM_UNLIMITED : (unsigned long long) (bytes / 1024));
        } else
                return -EOPNOTSUPP;
        return lv_write_fields(o, d, lever, text);
}

static int lv_lever_restore(const HvOptions *o, const Domain *d, const char *lever, const char *saved) {
        if (is_pin_lever(lever))
                return lv_pin_lever(o, d, lever, saved, NULL);
        return lv_write_fields(o, d, lever, saved);
}

const HvBackend hv_backend_libvirt = {
        .name = "libvirt",
        .discover = libvirt_discover,
        .lever_save = lv_lever_save,
        .lever_set = lv_lever_set,
        .lever_restore = lv_lever_restore,
};
