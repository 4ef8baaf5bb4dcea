/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The undo journal (state file): every original value is recorded here,
 * and persisted, *before* xvsched changes it, so that `reset`, the daemon's
 * exit path and the next start after a crash can put back exactly what was
 * there.  Only the first original of a key is kept: setting weight twice
 * still restores the value from before the first set.
 *
 * The file is JSON ({"version":1,"entries":[...]}) at STATE_DIR/state.json,
 * written atomically; STATE_DIR/lock is flock()ed while a Journal is open so
 * two xvsched processes never interleave their changes.
 *
 * Entries are json-c objects with at least "key" (unique), "type" and
 * "domain"; see lever.c for the types. */

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define XVSCHED_STATE_DIR_DEFAULT "/run/xvsched"

typedef struct Journal Journal;

/* The state directory in use: state_dir, else $XVSCHED_STATE_DIR, else
 * /run/xvsched. */
const char *journal_state_dir(const char *state_dir);

/* What journal_open() (and journal_state_dir_open()) answer when the state
 * directory is a symlink, is not owned by our euid (root), or is writable by
 * group or others: nothing in it is trusted or written. */
#define JOURNAL_UNSAFE_DIR (-EUCLEAN)

/* Create dir (mode 0700) if missing and open it O_DIRECTORY|O_NOFOLLOW;
 * JOURNAL_UNSAFE_DIR when it is not safe (see above). */
int journal_state_dir_open(const char *dir, int *ret_fd);

/* state_dir NULL: $XVSCHED_STATE_DIR or /run/xvsched.  Creates the directory
 * and checks it (JOURNAL_UNSAFE_DIR); the lock, state.json and its
 * temporary file are opened relative to it without following symlinks.
 * Waits up to 5 s for another xvsched to release the lock, then -EBUSY.
 * -EBADMSG when the file is not a journal we can read (it is left alone). */
int journal_open(const char *state_dir, Journal **ret);
void journal_free(Journal *j);
static inline void journal_freep(Journal **j) {
        journal_free(*j);
}
const char *journal_path(const Journal *j);

bool journal_has(const Journal *j, const char *key);
/* Add entry (consumed) unless its key is present; persists at once. */
int journal_record(Journal *j, json_object *entry);
int journal_remove(Journal *j, const char *key);
size_t journal_size(const Journal *j);
json_object *journal_entry(const Journal *j, size_t i);   /* borrowed */
