/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Undo: putting back what a journal entry recorded, for a rolled-back
 * transaction (lever-txn.c) and for lever_reset() (`xvsched reset`, the
 * daemon's exit). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "host/autogroup.h"
#include "host/cgroup.h"
#include "host/proc.h"
#include "host/sched.h"
#include "lever/lever-internal.h"
#include "lever/vm-pause.h"

static int restore_thread(const HvOptions *o, json_object *e) {
        (void) o;
        ThreadSched ts = {};
        pid_t tid = (pid_t) journal_field_int(e, "tid", 0);
        const char *pol = journal_field_str(e, "policy"), *aff = journal_field_str(e, "affinity");
        ts.nice = (int) journal_field_int(e, "nice", 0);
        ts.rt_priority = (int) journal_field_int(e, "rt_priority", 0);
        ts.start_time = (uint64_t) journal_field_int(e, "start_time", 0);
        ts.policy = pol ? sched_policy_from_string(pol) : -EINVAL;
        if (tid <= 0 || ts.policy < 0 || !aff || cpuset_parse(aff, &ts.affinity) < 0)
                return -EBADMSG;
        return thread_sched_restore(tid, &ts);
}

/* Set when the last restore_cgroup() reached cgroup_knob_restore(), so
 * cgroup_last_refusal() speaks of this entry and not of an earlier one. */
static _Thread_local bool cgroup_restore_reached;

static int restore_cgroup(const HvOptions *o, json_object *e) {
        (void) o;
        const char *root = journal_field_str(e, "root"), *cg = journal_field_str(e, "cgroup"), *knob = journal_field_str(e, "knob"),
                   *saved = journal_field_str(e, "saved");
        if (!root || !cg || !knob || !saved || cgroup_knob_from_string(knob) < 0)
                return -EBADMSG;
        CgroupHost *h = NULL;
        int r = cgroup_host_open(root, &h);
        if (r < 0)
                return r;
        r = cgroup_knob_restore(h, cg, cgroup_knob_from_string(knob), saved);
        cgroup_restore_reached = true;
        cgroup_host_free(h);
        return r;
}

static int restore_move(const HvOptions *o, json_object *e) {
        (void) o;
        const char *root = journal_field_str(e, "root"), *saved = journal_field_str(e, "saved"), *created = journal_field_str(e, "created");
        pid_t pid = (pid_t) journal_field_int(e, "pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "start_time", 0);
        if (!root || !saved || !created || pid <= 0)
                return -EBADMSG;
        CgroupHost *h = NULL;
        int r = cgroup_host_open(root, &h);
        if (r < 0)
                return r;
        ThreadSched ts;
        if (thread_sched_get(pid, &ts) >= 0 && ts.start_time == start)
                r = cgroup_attach_pid_saved(h, pid, saved);
        else
                r = 0; /* the process is gone: nothing to move back */
        if (r >= 0) {
                int k = cgroup_remove(h, created);
                if (k < 0 && k != -EBUSY && k != -ENOENT)
                        r = k;
        }
        cgroup_host_free(h);
        return r;
}

static int restore_rt_budget(const HvOptions *o, json_object *e) {
        (void) o;
        const char *root = journal_field_str(e, "root"), *saved = journal_field_str(e, "saved");
        if (!root || !saved)
                return -EBADMSG;
        CgroupHost *h = NULL;
        int r = cgroup_host_open(root, &h);
        if (r < 0)
                return r;
        r = cgroup_rt_runtime_restore(h, saved);
        cgroup_host_free(h);
        return r;
}

static int restore_autogroup(const HvOptions *o, json_object *e) {
        pid_t pid = (pid_t) journal_field_int(e, "pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "start_time", 0);
        ThreadSched ts;
        if (pid <= 0)
                return -EBADMSG;
        int r = thread_sched_get(pid, &ts);
        if (r < 0)
                return r;
        if (ts.start_time != start)
                return -ESTALE;
        return autogroup_write(o->proc_root, pid, (int) journal_field_int(e, "nice", 0));
}

static int restore_hv(const HvOptions *o, json_object *e) {
        const char *backend = journal_field_str(e, "backend"), *lever = journal_field_str(e, "lever"), *saved = journal_field_str(e, "saved");
        const HvBackend *b = backend ? hv_backend_by_name(backend) : NULL;
        if (!b || !b->lever_restore || !lever || !saved)
                return -EBADMSG;
        HvOptions opts = *o;
        opts.libvirt_uri = journal_field_str(e, "uri");
        _cleanup_(domain_freep) Domain *d = domain_new(journal_field_str(e, "domain") ?: "", backend);
        if (!d)
                return -ENOMEM;
        if (journal_field_str(e, "uuid"))
                d->uuid = strdup(journal_field_str(e, "uuid"));
        return b->lever_restore(&opts, d, lever, saved);
}

static int restore_pause(const HvOptions *o, json_object *e) {
        (void) o;
        return vm_pause_undo(e);   /* a VM xvsched paused: cont over QMP if it is the same QEMU */
}

/* The entry types the lever layer restores; others (guest-stop, ...) are
 * left by lever_reset() to their owner.  A new type owned here gets its
 * line. */
static const struct {
        const char *type;
        int (*restore)(const HvOptions *o, json_object *e);
} restorers[] = {
        { "thread", restore_thread },       { "cgroup", restore_cgroup },
        { "move", restore_move },           { "hv", restore_hv },
        { "rtbudget", restore_rt_budget },  { "autogroup", restore_autogroup },
        { "pause", restore_pause },
};

/* What lever_restore_entry() answers for an entry type the lever layer does
 * not own. */
#define RESTORE_NOT_OURS (-EMEDIUMTYPE)

int lever_restore_entry(const HvOptions *o, json_object *e) {
        const char *type = journal_field_str(e, "type");
        if (!type)
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(restorers); i++)
                if (streq(type, restorers[i].type))
                        return restorers[i].restore(o, e);
        return RESTORE_NOT_OURS;
}

/* Does the lever layer restore entries of e's type? */
static bool entry_ours(json_object *e) {
        const char *type = journal_field_str(e, "type");
        if (!type)
                return true;   /* malformed: ours to report */
        for (size_t i = 0; i < ELEMENTSOF(restorers); i++)
                if (streq(type, restorers[i].type))
                        return true;
        return false;
}

static void reset_failed(LeverContext *c, const char *key, const char *why) {
        char *n = NULL;
        if (asprintf(&n, "%s%s: %s\n", c->failed ? c->failed : "", key, why) >= 0) {
                free(c->failed);
                c->failed = n;
        }
}

/* A "pause" entry whose owner (pid + start time) is another process that
 * is alive. */
static bool pause_held_by_other(json_object *e) {
        const char *type = journal_field_str(e, "type");
        if (!type || !streq(type, "pause"))
                return false;
        pid_t pid = (pid_t) journal_field_int(e, "owner_pid", 0);
        uint64_t start = (uint64_t) journal_field_int(e, "owner_start", 0);
        if (pid <= 0 || start == 0 || pid == getpid())
                return false;
        return host_process_alive(pid, start);
}

/* Is entry e (of domain dom) one of `domain`'s: its name, or NAME@HOST (many
 * hosts: HOST as the HOST column spells the entry's URI, so `reset` picks
 * one of two same-named domains as `set` does). */
static bool entry_of(json_object *e, const char *dom, const char *domain) {
        if (!dom)
                return false;
        if (streq(dom, domain))
                return true;
        const char *at = strrchr(domain, '@');
        if (!at || at == domain || !at[1] || strlen(dom) != (size_t) (at - domain) || !strneq(dom, domain, (size_t) (at - domain)))
                return false;
        char host[256];
        hv_uri_host(journal_field_str(e, "uri"), host, sizeof host);
        return streq(host, at + 1);
}

/* One pass over the journal, newest first: restore and remove what is
 * c's; what fails is listed in c->failed (cleared first).  Counts into
 * *restored; *n_failed and *first_error are this pass's. */
static int reset_pass(LeverContext *c, const char *domain, int *restored, size_t *n_failed, int *first_error) {
        *n_failed = 0;
        *first_error = 0;
        free(c->failed);
        c->failed = NULL;
        c->error[0] = 0;
        /* Entries that stay (failed, or not ours) only ever sit below the
         * index still to visit, so removing is safe. */
        for (size_t i = journal_size(c->journal); i > 0; i--) {
                json_object *e = journal_entry(c->journal, i - 1);
                const char *dom = journal_field_str(e, "domain"), *owner = journal_field_str(e, "owner");
                if (domain && !entry_of(e, dom, domain))
                        continue;
                if (c->owner && !streq(owner ? owner : "cli", c->owner))
                        continue;
                const char *k = journal_field_str(e, "key");
                _cleanup_free_ char *key = strdup(k ?: "(no key)");
                if (!key)
                        return -ENOMEM;
                if (!entry_ours(e))
                        continue;   /* left to its owner (guest-stop, ...): not a failure */
                if (pause_held_by_other(e)) {
                        /* a live xvsched (`ps` mid-scan, a daemon) holds
                         * this pause and resumes it itself: continuing the
                         * VM now would run it under that process's write */
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "left: its owner, xvsched pid %d, is running and holds this pause",
                                     (int) journal_field_int(e, "owner_pid", 0)) < 0)
                                return -ENOMEM;
                        reset_failed(c, key, why);
                        (*n_failed)++;
                        if (!*first_error)
                                *first_error = -EBUSY;
                        continue;
                }
                if (c->dry_run) {
                        lever_note(c, "would restore %s", key);
                        continue;
                }
                cgroup_restore_reached = false;
                int r = k ? lever_restore_entry(c->hv, e) : -EBADMSG;
                if (r >= 0 || lever_restore_gone(r)) {
                        if (r >= 0)
                                (*restored)++;
                        r = journal_remove(c->journal, key);
                        if (r >= 0)
                                continue;
                        reset_failed(c, key, "restored, but the state file could not be updated");
                } else if (cgroup_restore_reached && cgroup_last_refusal())
                        reset_failed(c, key, cgroup_last_refusal()); /* systemd said no: its words, as set's */
                else
                        reset_failed(c, key, r == -EBADMSG ? "not a valid state entry" : lever_errno_reason(r));
                log_debug_errno(r, "cannot restore %s: %m", key);
                (*n_failed)++;
                if (!*first_error)
                        *first_error = r;
        }
        return 0;
}

int lever_reset(LeverContext *c, const char *domain) {
        int restored = 0, first_error = 0;
        size_t n_failed = 0;
        int r = reset_pass(c, domain, &restored, &n_failed, &first_error);
        /* Values of one group can depend on their order: the kernel takes
         * no cpu.shares/cpu.weight while cpu.idle is 1, and the journal
         * keeps each first original where it was first changed (idle=yes,
         * idle=no, weight=200, idle=yes: newest first restores the weight
         * while the group is still idle).  So what failed is tried once
         * more when the pass restored something. */
        if (r >= 0 && n_failed > 0 && restored > 0 && !c->dry_run)
                r = reset_pass(c, domain, &restored, &n_failed, &first_error);
        if (r < 0)
                return r;
        if (n_failed > 0) {
                /* The caller prints c->failed (one line each); the summary: */
                snprintf(c->error, sizeof c->error, "%zu value%s could not be restored (kept in the state file), %d restored",
                         n_failed, n_failed == 1 ? "" : "s", restored);
                return first_error;
        }
        return restored;
}
