/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One lever_apply() call's transaction: every change first records the
 * value it replaces, in the journal (for `reset`) and here (for rollback);
 * a failure restores this call's records newest first and removes the
 * journal entries it created, so a failed `set` leaves the host and the
 * state file as they were. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "lever/lever-internal.h"

int lever_txn_begin(LeverTxn *t) {
        *t = (LeverTxn) { .before = json_object_new_array(), .created = json_object_new_array() };
        return t->before && t->created ? 0 : -ENOMEM;
}

void lever_txn_done(LeverTxn *t) {
        json_object_put(t->before);
        json_object_put(t->created);
        *t = (LeverTxn) {};
}

int lever_txn_record(LeverContext *c, LeverTxn *t, json_object *e) {
        if (!e)
                return -ENOMEM;
        if (c->dry_run) {
                json_object_put(e);
                return 0;
        }
        const char *key = journal_field_str(e, "key");
        json_object_array_add(t->before, json_object_get(e));
        _cleanup_free_ char *k = strdup(key);
        int r = journal_record(c->journal, e);
        if (r < 0) {
                json_object_array_del_idx(t->before, json_object_array_length(t->before) - 1, 1);
                return r;
        }
        if (r > 0 && k)
                json_object_array_add(t->created, json_object_new_string(k));
        return 0;
}

void lever_txn_forget_last(LeverContext *c, LeverTxn *t) {
        size_t nb = json_object_array_length(t->before), nc = json_object_array_length(t->created);
        _cleanup_free_ char *recorded =
                nb > 0 ? strdup(journal_field_str(json_object_array_get_idx(t->before, nb - 1), "key") ?: "") : NULL;
        if (nb > 0)
                json_object_array_del_idx(t->before, nb - 1, 1);
        if (recorded && nc > 0 && streq(json_object_get_string(json_object_array_get_idx(t->created, nc - 1)), recorded)) {
                (void) journal_remove(c->journal, recorded);
                json_object_array_del_idx(t->created, nc - 1, 1);
        }
}

void lever_txn_rollback(LeverContext *c, LeverTxn *t) {
        for (size_t i = json_object_array_length(t->before); i > 0; i--) {
                json_object *e = json_object_array_get_idx(t->before, i - 1);
                int r = lever_restore_entry(c->hv, e);
                if (r < 0 && !lever_restore_gone(r))
                        log_warning_errno(r, "could not roll back %s: %m", journal_field_str(e, "key"));
        }
        for (size_t i = 0; i < json_object_array_length(t->created); i++)
                (void) journal_remove(c->journal, json_object_get_string(json_object_array_get_idx(t->created, i)));
}
