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

/* The caller's connections (HvOptions.ctx): no process-wide cache.  One
 * libvirt connection per context, for the URI it was first opened with;
 * a call for another URI, or without a context, gets a connection of its
 * own that is closed when the call ends (libvirt_release()). */
struct HvContext {
        pthread_mutex_t lock;
        virConnectPtr conn;
        char *uri;          /* "" for libvirt's default */
        char *canon;        /* what the connection says its URI is (virConnectGetURI) */
        pid_t pid;          /* the process that opened conn */
};

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
        /* A forked child (the guard) shares the owner's socket: closing would
         * speak on it.  Only the process that opened it closes it. */
        if (c->conn && c->pid == getpid())
                virConnectClose(c->conn);
        free(c->uri);
        free(c->canon);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

static virConnectPtr libvirt_open(const char *uri) {
        virSetErrorFunc(NULL, silent_error_handler);
        virConnectPtr c = virConnectOpen(uri && *uri ? uri : NULL);
        if (!c)
                log_debug("cannot connect to libvirt%s%s: %s", uri && *uri ? " at " : "", uri && *uri ? uri : "",
                          last_libvirt_error());
        return c;
}

/* A connection for o's URI: the context's (a reference of its own, so that
 * virConnectClose() in libvirt_release() is right either way), or a new one. */
static int libvirt_connect(const HvOptions *o, virConnectPtr *ret) {
        const char *uri = o->libvirt_uri ? o->libvirt_uri : "";
        HvContext *ctx = o->ctx;
        if (!ctx) {
                virConnectPtr c = libvirt_open(uri);
                if (!c)
                        return -ENOTCONN;
                *ret = c;
                return 0;
        }
        pthread_mutex_lock(&ctx->lock);
        if (ctx->conn && ctx->pid != getpid()) {
                /* inherited over fork: not ours to use, nor to close */
                ctx->conn = NULL;
        }
        bool same = ctx->conn && (streq(ctx->uri, uri) || (ctx->canon && streq(ctx->canon, uri)));
        if (same && virConnectIsAlive(ctx->conn) != 1) {
                virConnectClose(ctx->conn);
                ctx->conn = NULL;
        }
        if (!ctx->conn) {
                free(ctx->uri);
                free(ctx->canon);
                ctx->uri = ctx->canon = NULL;
        }
        virConnectPtr c = NULL;
        if (!ctx->conn) {
                ctx->conn = libvirt_open(uri);
                if (ctx->conn) {
                        ctx->uri = strdup(uri);
                        ctx->canon = virConnectGetURI(ctx->conn);
                        ctx->pid = getpid();
                        if (!ctx->uri) {
                                virConnectClose(ctx->conn);
                                ctx->conn = NULL;
                        }
                }
        }
        bool other = ctx->conn && !streq(ctx->uri, uri) && !(ctx->canon && streq(ctx->canon, uri));
        if (ctx->conn && !other && virConnectRef(ctx->conn) == 0)
                c = ctx->conn;
        pthread_mutex_unlock(&ctx->lock);
        if (other)
                c = libvirt_open(uri);     /* another URI than the context's: one of its own */
        if (!c)
                return -ENOTCONN;
        *ret = c;
        return 0;
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

static int libvirt_discover(const HvOptions *o, DomainList *l) {
        _cleanup_(libvirt_releasep) virConnectPtr c = NULL;
        int r = libvirt_connect(o, &c);
        if (r < 0)
                return r;
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0) {
                log_debug("listing libvirt domains failed: %s", last_libvirt_error());
                return -EIO;
        }
        r = 0;
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

/* ---- levers through libvirt ---- */

static int libvirt_call_error(const char *what, const char *uuid);

/* The domain (a virDomainPtr holds its own reference on the connection).
 * -ENOENT only when libvirt says there is no such domain: any other failure
 * (a dropped connection, an RPC error, a malformed uuid) is not "gone",
 * since a pause entry is dropped for a gone domain. */
static int lookup_uuid(const HvOptions *o, const char *uuid, const char *name, virDomainPtr *ret) {
        _cleanup_(libvirt_releasep) virConnectPtr c = NULL;
        int r = libvirt_connect(o, &c);
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
                return r == -ENOENT ? -EIO : r;
        }
        *ret = dom;
        return 0;
}

static int lookup(const HvOptions *o, const Domain *d, virDomainPtr *ret) {
        return lookup_uuid(o, d->uuid, d->name, ret);
}

static inline void domain_unrefp(virDomainPtr *d) {
        if (*d)
                virDomainFree(*d);
        *d = NULL;
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

/* Read the named typed parameters into "a b" text (unsigned/signed long long, uint). */
static int params_get(virDomainPtr dom, const char *lever, virTypedParameterPtr *ret, int *ret_n) {
        int n = 0;
        virTypedParameterPtr p = NULL;
        int k;
        if (streq(lever, "weight") || streq(lever, "cap")) {
                char *type = virDomainGetSchedulerType(dom, &n);
                free(type);
                if (n <= 0)
                        return -EOPNOTSUPP;
                p = calloc((size_t) n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                k = virDomainGetSchedulerParametersFlags(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE);
        } else if (streq(lever, "ioweight")) {
                if (virDomainGetBlkioParameters(dom, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0 || n <= 0)
                        return -EOPNOTSUPP;
                p = calloc((size_t) n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                k = virDomainGetBlkioParameters(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE);
        } else if (streq(lever, "memory")) {
                if (virDomainGetMemoryParameters(dom, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0 || n <= 0)
                        return -EOPNOTSUPP;
                p = calloc((size_t) n, sizeof *p);
                if (!p)
                        return -ENOMEM;
                k = virDomainGetMemoryParameters(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE);
        } else
                return -EOPNOTSUPP;
        if (k < 0) {
                virTypedParamsFree(p, n);
                return -EIO;
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
                return e && e->code == VIR_ERR_INVALID_ARG ? -EINVAL : -EIO;
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
        int nvcpus = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE);
        if (ncpus <= 0 || nvcpus <= 0)
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
                return -EOPNOTSUPP;
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
                        return e && e->code == VIR_ERR_INVALID_ARG ? -EINVAL : -EIO;
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

static int lv_lever_save(const HvOptions *o, const Domain *d, const char *lever, char **ret) {
        if (is_pin_lever(lever))
                return lv_pin_lever(o, d, lever, NULL, ret);
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

static int lv_lever_set(const HvOptions *o, const Domain *d, const char *lever, const char *value) {
        char text[128];
        if (is_pin_lever(lever))
                return lv_pin_lever(o, d, lever, value, NULL);
        if (streq(lever, "weight")) {
                unsigned w;
                if (safe_atou(value, &w) < 0)
                        return -EINVAL;
                /* libvirt's cpu_shares is the raw cgroup value: shares on v1, weight on v2. */
                snprintf(text, sizeof text, "%llu",
                         (unsigned long long) (host_is_cgroup_v2(o) ? w : cgroup_weight_to_shares(w)));
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
                snprintf(text, sizeof text, "%u", host_is_cgroup_v2(o) ? w : cgroup_io_weight_to_blkio(w));
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
