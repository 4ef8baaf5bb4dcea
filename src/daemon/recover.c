/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "daemon/recover.h"
#include "hv/hv.h"
#include "view/agent-client.h"
#include "view/view.h"
#include "view-registry/view-registry.h"
#include "lever/vm-pause.h"

#define RECOVER_AGENT_TIMEOUT (3 * USEC_PER_SEC)

const char *recover_reason(int r) {
        switch (r) {
        case -ENOTUNIQ:
                return "more than one domain has its name";
        case -ENXIO:
                return "its domain is not found";
        case -ENOKEY:
                return "no start time recorded (xvsched cont DOMAIN PID resumes it)";
        case -EBADMSG:
                return "not a valid state entry";
        default:
                return strerror(-r);
        }
}

bool recover_entry_done(int r) {
        return r >= 0 || r == -ESRCH || r == -ESTALE;
}

/* The agent of the entry's domain: its QEMU must be the one recorded. */
static int entry_agent(json_object *e, const HvOptions *hv, AgentClient **ret) {
        pid_t qemu = (pid_t) journal_field_int(e, "qemu_pid", 0);
        uint64_t qemu_start = (uint64_t) journal_field_int(e, "qemu_start", 0);
        const char *sock = journal_field_str(e, "agent_socket");
        _cleanup_free_ char *found_sock = NULL;
        if (qemu > 0 && qemu_start > 0) {
                if (!host_process_alive(qemu, qemu_start))
                        return -ESRCH;   /* the VM is gone or restarted: so is the guest process */
        } else {
                /* an entry from an older xvsched: find the domain by name */
                const char *name = journal_field_str(e, "match") ?: journal_field_str(e, "domain");
                if (!name || !hv)
                        return -ENXIO;
                DomainList l = {};
                if (hv_discover(hv, &l, NULL) < 0)
                        return -ENXIO;
                /* only a unique match: of two domains of one name, which
                 * one holds the stopped process is unknown */
                size_t n = domain_list_count(&l, name);
                Domain *d = n == 1 ? domain_list_find(&l, name) : NULL;
                if (d && d->agent_socket)
                        found_sock = strdup(d->agent_socket);
                domain_list_done(&l);
                if (n > 1) {
                        log_debug("guest-stop entry of %s: %zu domains have that name, resuming in none of them", name, n);
                        return -ENOTUNIQ;
                }
                if (!d)
                        return -ENXIO;
                sock = found_sock;
        }
        if (!sock)
                return -ENOTCONN;
        return agent_client_connect(sock, RECOVER_AGENT_TIMEOUT, ret);
}

/* A domain with no agent: a stop made through the vmi view is resumed
 * through it (send_sig(SIGCONT) called in the guest kernel through QEMU's
 * gdbstub, docs/agentless.md), in the QEMU the entry names. */
static int resume_stop_vmi(json_object *e, const HvOptions *hv, pid_t pid, uint64_t start) {
        pid_t qemu = (pid_t) journal_field_int(e, "qemu_pid", 0);
        if (qemu <= 0 || !hv)
                return -ENOTCONN;
        DomainList l = {};
        if (hv_discover(hv, &l, NULL) < 0)
                return -ENOTCONN;
        Domain *d = NULL;
        for (size_t i = 0; i < l.n; i++)
                if (l.domains[i]->pid == qemu)
                        d = l.domains[i];
        GuestView *v = NULL;
        char err[256];
        int r = d ? guest_view_open_by_name("vmi", d, &v, err, sizeof err) : -ENOTCONN;
        domain_list_done(&l);
        if (r < 0)
                return -ENOTCONN;
        _cleanup_free_ GuestTask *t = NULL;
        size_t n = 0;
        const GuestTask *g = NULL;
        r = guest_view_tasks(v, &t, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (t[i].pid == pid && t[i].tid == pid)
                        g = &t[i];
        if (r >= 0 && !g)
                r = -ESRCH;
        else if (r >= 0 && (start == 0 || !journal_guest_start_same(g->start_time_ns, start)))
                r = start == 0 ? -ENOKEY : -ESTALE;
        else if (r >= 0 && g->state == 'T')
                r = guest_view_cont(v, pid);
        if (r < 0 && r != -ESRCH && r != -ESTALE)
                log_debug("guest-stop of pid %d: resuming through the vmi view failed: %s", (int) pid,
                          guest_view_last_error(v));
        guest_view_free(v);
        return r;
}

static int default_resume_stop(json_object *e, void *userdata) {
        const HvOptions *hv = userdata;
        pid_t pid = (pid_t) journal_field_int(e, "pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "start_time_ns", 0);
        if (pid <= 1)
                return -EBADMSG;
        _cleanup_agent_client_ AgentClient *c = NULL;
        int r = entry_agent(e, hv, &c);
        if (r == -ENOTCONN)
                return resume_stop_vmi(e, hv, pid, start);
        if (r < 0)
                return r;
        _cleanup_free_ GuestTask *t = NULL;
        size_t n = 0;
        r = agent_client_tasks(c, &t, &n);
        if (r < 0)
                return r;
        const GuestTask *g = NULL;
        for (size_t i = 0; i < n; i++)
                if (t[i].pid == pid && t[i].tid == pid && !t[i].is_agent)
                        g = &t[i];
        if (!g)
                return -ESRCH;
        if (start == 0) {
                /* never cont a bare pid: which process it named is unknown */
                if (g->state != 'T')
                        return 0;
                log_warning("guest pid %d of %s is stopped, but the entry has no start time: not resuming it blindly "
                            "(xvsched cont %s %d does)", (int) pid, journal_field_str(e, "domain") ?: "?", journal_field_str(e, "domain") ?: "?",
                            (int) pid);
                return -ENOKEY;
        }
        if (!journal_guest_start_same(g->start_time_ns, start))
                return -ESTALE;   /* another process has that pid now */
        if (g->state != 'T')
                return 0;
        return agent_client_cont(c, pid);
}

static int default_resume_pause(json_object *e, void *userdata) {
        (void) userdata;
        return vm_pause_undo(e);
}

static bool default_owner_alive(json_object *e, void *userdata) {
        (void) userdata;
        pid_t pid = (pid_t) journal_field_int(e, "owner_pid", 0);
        return pid > 0 && host_process_alive(pid, (uint64_t) journal_field_int(e, "owner_start", 0));
}

void recover_ops_default(RecoverOps *ret, const HvOptions *hv) {
        *ret = (RecoverOps) { .resume_stop = default_resume_stop,
                              .resume_pause = default_resume_pause,
                              .owner_alive = default_owner_alive,
                              .userdata = (void *) hv };
}

int recover_guest(Journal *j, const RecoverOps *ops, pid_t owner_pid, RecoverResult *ret) {
        RecoverResult res = {};
        int failed = 0;
        static const char *const passes[] = { "pause", "guest-stop" };
        for (size_t pass = 0; pass < ELEMENTSOF(passes); pass++)
                for (size_t i = journal_size(j); i > 0; i--) {
                        json_object *e = journal_entry(j, i - 1);
                        const char *type = journal_field_str(e, "type");
                        if (!type || !streq(type, passes[pass]))
                                continue;
                        if (owner_pid > 0 ? journal_field_int(e, "owner_pid", 0) != owner_pid : ops->owner_alive(e, ops->userdata)) {
                                res.skipped++;
                                continue;
                        }
                        const char *key = journal_field_str(e, "key");
                        if (!key) {
                                if (!ops->kept)
                                        log_warning("a %s entry of the state file has no key: kept (%s)", type,
                                                    json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
                                res.kept++;
                                if (ops->kept)
                                        ops->kept(e, NULL, -EBADMSG, ops->userdata);
                                continue;
                        }
                        _cleanup_free_ char *k = strdup(key);
                        if (!k)
                                return -ENOMEM;
                        int r = pass == 0 ? ops->resume_pause(e, ops->userdata) : ops->resume_stop(e, ops->userdata);
                        if (!recover_entry_done(r)) {
                                if (ops->kept)
                                        log_debug("cannot undo %s yet: %s", k, recover_reason(r));
                                else
                                        log_warning("cannot undo %s yet: %s (kept for the next try)", k, recover_reason(r));
                                res.kept++;
                                if (ops->kept)
                                        ops->kept(e, k, r, ops->userdata);
                                continue;
                        }
                        if (r >= 0)
                                res.resumed++;
                        else
                                res.gone++;
                        log_info("%s %s", r >= 0 ? "undid" : "nothing left to undo for", k);
                        int q = journal_remove(j, k);
                        if (q < 0) {
                                log_warning("cannot update the state file: %s", strerror(-q));
                                res.kept++;
                                failed = q;
                                if (ops->kept)
                                        ops->kept(e, k, q, ops->userdata);
                        }
                }
        if (ret)
                *ret = res;
        return failed < 0 ? failed : (int) res.kept;
}
