/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared by the files of src/lever/ only (lever.h is the public
 * interface):
 *
 *   lever-settings.c   KEY=VALUE settings: parse and validate
 *   lever-context.c    what lever_apply()/lever_reset() report (notes, error)
 *   lever-txn.c        one apply's transaction: record originals, roll back
 *   lever-undo.c       restoring journal entries: rollback's and reset's
 *   lever-rt.c         real time: the starvation check, RT budgets
 *   lever.c            lever_apply(): thread and group levers
 */

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "basic/macros.h"
#include "basic/parse.h"
#include "host/cgroup.h"
#include "lever/lever.h"

/* ---- lever-settings.c ---- */

/* The cgroup knob of a group lever; _CGROUP_KNOB_INVALID for a thread lever. */
CgroupKnob lever_key_to_knob(LeverKey k);
/* Before anything changes: each key at most once, thread levers only for a
 * domain with threads here, CPUs and nodes online, a cap within the CPUs.
 * *ret_need_cgroup: a group lever is among them. */
int lever_settings_validate(LeverContext *c, const Domain *d, const LeverSetting *settings, size_t n, bool *ret_need_cgroup);

/* ---- lever-context.c ---- */

/* Add a line to c->notes. */
void lever_note(LeverContext *c, const char *fmt, ...) _printf_(2, 3);
/* Fill c->error ("KEY=VALUE: why", or "why" with s NULL) and return r
 * (-EINVAL when r is not negative). */
int lever_fail(LeverContext *c, const LeverSetting *s, int r, const char *fmt, ...) _printf_(4, 5);
/* A reason for an operator: "insufficient privilege (run as root)", ... */
const char *lever_errno_reason(int r);
/* Who records: c->owner, or "cli" when none is named. */
static inline const char *lever_owner(const LeverContext *c) {
        return c->owner ? c->owner : "cli";
}

/* ---- lever-txn.c ---- */

typedef struct LeverTxn {
        json_object *before;   /* array: state before this call, newest last */
        json_object *created;  /* array of journal keys this call added */
} LeverTxn;

/* An empty transaction (-ENOMEM: none, but lever_txn_done() is safe). */
int lever_txn_begin(LeverTxn *t);
void lever_txn_done(LeverTxn *t);
/* Record `e` (consumed; NULL: -ENOMEM) as the original in the journal, and
 * a copy as this call's "before" state.  Nothing in a dry run. */
int lever_txn_record(LeverContext *c, LeverTxn *t, json_object *e);
/* Forget the newest record (and its journal entry, when this call added
 * it): the change it was taken for was not made. */
void lever_txn_forget_last(LeverContext *c, LeverTxn *t);
/* Restore this call's "before" state newest first, drop the entries it
 * added to the journal. */
void lever_txn_rollback(LeverContext *c, LeverTxn *t);

/* ---- lever-undo.c ---- */

/* Restore one journal entry of a type the lever layer owns. */
int lever_restore_entry(const HvOptions *o, json_object *e);
/* Gone objects are restored by definition. */
static inline bool lever_restore_gone(int r) {
        return r == -ESRCH || r == -ESTALE || r == -ENOENT;
}

/* ---- lever-rt.c ---- */

/* Refuse RT that could starve the host, before anything changes. */
int lever_check_rt(LeverContext *c, const Domain *d, const LeverSetting *settings, size_t n);
/* Once every lever is in place: warn when RT threads share CPUs with host work. */
void lever_warn_rt(LeverContext *c, Domain *d, const LeverSetting *s);
/* Give the groups of the selected threads an RT budget, recorded first. */
int lever_ensure_rt_budgets(LeverContext *c, LeverTxn *t, Domain *d, const LeverSetting *s);

static inline bool cpuset_subset(const CpuSet *a, const CpuSet *b) {
        for (size_t i = 0; i < CPUSET_WORDS; i++)
                if (a->bits[i] & ~b->bits[i])
                        return false;
        return true;
}
