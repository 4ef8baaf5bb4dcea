/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Undoing run-state changes in guests that the journal holds: "guest-stop"
 * entries (a guest process a lease-less view stopped) and "pause" entries
 * (a VM paused over QMP).  One function for every path that cleans up after
 * xvsched: the guard (its parent died), the daemon's next start, the
 * daemon's own exit.
 *
 * An entry goes only when its process runs again or is gone (the QEMU
 * process gone or restarted, the guest pid gone or reused); anything else
 * (the domain not found, the agent silent, cont failed, a malformed entry)
 * keeps it for the next try.  Nothing is resumed blindly: a guest pid is
 * continued only when its start time matches the one recorded, a VM only
 * when its QEMU's pid and start time match. */

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hv/hv.h"
#include "lever/journal.h"

typedef struct RecoverOps {
        /* Resume what one entry records.  >= 0: it runs; -ESRCH, -ESTALE:
         * it is gone (or another process has its pid); other -errno: not
         * now (the entry stays). */
        int (*resume_stop)(json_object *e, void *userdata);
        int (*resume_pause)(json_object *e, void *userdata);
        /* Does the process that recorded e (owner_pid, owner_start) live? */
        bool (*owner_alive)(json_object *e, void *userdata);
        void *userdata;
        /* Optional: told of each entry kept (key NULL: it has none; r: why,
         * -errno), so a caller can report each one (`xvsched reset`). */
        void (*kept)(json_object *e, const char *key, int r, void *userdata);
} RecoverOps;

typedef struct RecoverResult {
        unsigned resumed;   /* ran again */
        unsigned gone;      /* nothing left to resume */
        unsigned kept;      /* still in the journal */
        unsigned skipped;   /* another owner's, left alone */
} RecoverResult;

/* Why an entry was kept, in words, for resume's answer r. */
const char *recover_reason(int r);

/* May an entry go after its resume answered r? */
bool recover_entry_done(int r);

/* Pauses first (a paused VM's agent cannot answer), then guest stops.
 * owner_pid > 0: only entries that owner recorded (the owner cleaning up
 * after itself); 0: only entries whose owner is dead.  Returns the number
 * of entries kept (0: nothing of the kind left), or -errno when the journal
 * could not be written. */
int recover_guest(Journal *j, const RecoverOps *ops, pid_t owner_pid, RecoverResult *ret);

/* The real operations (the agent, QMP, /proc).  hv is used only for an old
 * entry without its QEMU's pid (found by the domain's name); it must live
 * as long as ops is used. */
void recover_ops_default(RecoverOps *ret, const HvOptions *hv);
