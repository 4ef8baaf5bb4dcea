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
 * "domain", made only by the typed constructors below (journal_entry_*_new)
 * and read with journal_field_str()/journal_field_int(). */

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/sched.h"

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
/* Set field `field` of the entry of `key` to value (consumed; NULL: remove
 * the field) and persist at once.  -ENOENT: no such entry; on any error
 * the entry is left as it was (the caller must not make the change). */
int journal_set_field(Journal *j, const char *key, const char *field, json_object *value);
/* Make the entry of `key` the newest (restored first), in one write. */
int journal_move_last(Journal *j, const char *key);
size_t journal_size(const Journal *j);
json_object *journal_entry(const Journal *j, size_t i);   /* borrowed */
/* An entry's field k: the string (borrowed) or NULL; the integer or def,
 * when it is missing or of another type. */
const char *journal_field_str(json_object *e, const char *k);
int64_t journal_field_int(json_object *e, const char *k, int64_t def);

/* ---- typed entries for host levers (lever_apply() records, lever_reset()
 * restores) ----
 *
 * Each carries "key", "type", "domain" and "owner": owner is who records
 * ("cli" for `xvsched set`, "daemon" for `xvsched run`; NULL = "cli").  Each
 * owner keeps its own original: the key of an owner other than "cli" is
 * prefixed "OWNER:", so a value the operator set by hand and the daemon then
 * changed goes back to the operator's value when the daemon exits, and to
 * the first original on reset.  Keys are built whole, never truncated.
 * Start times are clock ticks after boot (/proc/PID/stat field 22).  NULL on
 * bad input (a missing name, pid <= 0) or out of memory. */

/* "thread:TID:START" type "thread": nice, policy ("other", "fifo", ...),
 * rt_priority and affinity (a CPU list) of thread tid as ts holds them. */
json_object *journal_entry_thread_new(const char *owner, const char *domain, pid_t tid, const ThreadSched *ts);
/* "cgroup:ROOT:CGROUP:KNOB" type "cgroup": the saved text of a knob
 * (cgroup_knob_save()) of cgroup `cgroup` in the hierarchy at root. */
json_object *journal_entry_cgroup_new(const char *owner, const char *domain, const char *root, const char *cgroup,
                                      const char *knob, const char *saved);
/* "move:PID:START" type "move": process pid was moved out of the groups
 * `saved` (cgroup_pid_save_paths()) into `created`, a group xvsched made. */
json_object *journal_entry_move_new(const char *owner, const char *domain, const char *root, pid_t pid,
                                    uint64_t start_time, const char *saved, const char *created);
/* "rtbudget:ROOT:CGROUP" type "rtbudget": the RT budgets saved by
 * cgroup_rt_runtime_save() for cgroup `cgroup`. */
json_object *journal_entry_rtbudget_new(const char *owner, const char *domain, const char *root, const char *cgroup,
                                        const char *saved);
/* "autogroup:PID:START" type "autogroup": the nice of pid's autogroup. */
json_object *journal_entry_autogroup_new(const char *owner, const char *domain, pid_t pid, uint64_t start_time, int nice);
/* "hv:BACKEND:UUID:LEVER" type "hv" (the domain's name when it has no
 * uuid): a lever set through the hypervisor's API; uri (may be NULL) is the
 * connection it went through, saved what the backend's lever_save() gave. */
json_object *journal_entry_hv_new(const char *owner, const char *domain, const char *backend, const char *uri,
                                  const char *uuid, const char *lever, const char *saved);

/* ---- typed entries for run-state changes in guests (not host levers) ----
 *
 * Each names its owner (the xvsched process holding the change: its pid and
 * start time, so the guard and the next start can tell a live owner from a
 * dead one) and the QEMU process (pid + start time: a VM restarted since is
 * not the one the entry speaks of).  Start times of host processes are
 * clock ticks after boot (/proc/PID/stat field 22); of guest processes, ns
 * after the guest's boot as the views report them (GuestTask). */

typedef struct JournalOwner {
        const char *name;          /* "daemon", "cli" (lever_reset's owner filter) */
        pid_t pid;
        uint64_t start_time;
} JournalOwner;

typedef struct JournalVm {
        const char *domain;        /* the name the entry is filed under */
        const char *match;         /* the name discovery knows it by (NULL: domain) */
        pid_t qemu_pid;
        uint64_t qemu_start;
        const char *qmp_socket;    /* may be NULL */
        const char *agent_socket;  /* may be NULL */
        const char *uuid;          /* pause: paused through libvirt (NULL: over QMP) */
        const char *libvirt_uri;   /* pause through libvirt: its connection (may be NULL) */
} JournalVm;

/* "gstop:DOMAIN:PID:START" type "guest-stop": guest thread group pid
 * (started start_ns after the guest's boot, never 0) stopped by a view
 * without a lease.  NULL on bad input or out of memory. */
json_object *journal_entry_guest_stop_new(const JournalOwner *o, const JournalVm *vm, pid_t pid, uint64_t start_ns);
/* "pause:QMPSOCKET:QEMUPID:QEMUSTART" type "pause": the VM paused over
 * QMP (needs qmp_socket and the QEMU's pid and start time).  With vm->uuid,
 * paused through libvirt (virDomainSuspend: libvirt owns the QEMU's
 * monitor), and the entry says so: "via": "libvirt", the connection's URI
 * ("libvirt_uri", remote ones too) and the domain's "uuid", so that
 * vm_pause_undo() resumes it through libvirt. */
json_object *journal_entry_pause_new(const JournalOwner *o, const JournalVm *vm);
/* Record a typed guest entry (guest-stop, pause: it names its owner).  When
 * an entry of that key is there already: kept as it is (0) while its owner
 * (owner_pid + owner_start) lives; taken over (2: owner, owner_pid and
 * owner_start rewritten to entry's, and saved) when its owner is dead, so
 * that the dead owner's recovery (the guard, a periodic recover) never
 * resumes what a live process holds now.  1: recorded anew.  -errno: not
 * persisted (the caller must not make the change); entry is consumed. */
int journal_record_guest(Journal *j, json_object *entry);
/* Guest start times from the two views differ by the agent's rounding to
 * clock ticks: equal within 10 ms. */
bool journal_guest_start_same(uint64_t a_ns, uint64_t b_ns);
