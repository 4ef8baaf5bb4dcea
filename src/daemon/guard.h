/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The guard: a small process that outlives xvsched to undo what it held in
 * guests.  Stops through a view without a lease (vmi: SIGSTOP injected
 * into guest memory) and VM pauses (QMP `stop`) are journaled before they
 * are made; the guard makes sure they end even when xvsched is killed
 * (SIGKILL included) and never started again.
 *
 * guard_start() forks it: it starts a new session, keeps nothing of its
 * parent but one end of a socket pair (the parent holds the other,
 * O_CLOEXEC) and stderr, and waits.  End of file means the parent is gone,
 * however it died: the guard copies every "pause" and "guest-stop" entry
 * whose owner is dead under the journal's lock, resumes them without the
 * lock (one agent connection per domain), and takes the lock again only to
 * remove those done that are still the same entries; what is left of its
 * parent's it retries with backoff (1 s doubling to 60 s) for up to 10
 * minutes.  A parent that restored everything itself says so
 * (guard_finish()) and the guard exits without looking. */

#include <pthread.h>
#include <stdbool.h>

#include "hv/hv.h"
#include "lever/journal.h"

/* Once per process; later calls return 0.  Forks, so call it while the
 * process has one thread.  state_dir NULL: the default; hv (may be NULL)
 * must stay valid (the guard uses its copy after the fork). */
int guard_start(const char *state_dir, const HvOptions *hv);
bool guard_running(void);
/* The guard's pid while it runs (0: none). */
pid_t guard_pid(void);
/* Is the guard alive?  Reaps it when it died: logs an error once, and from
 * then on guard_running() is false, the pause hook refuses every pause and
 * guard_start() refuses to fork again (not safe in a threaded daemon). */
bool guard_check(void);
/* Close the guard's pipe.  nothing_left (the process undid every guest
 * change it held, and no pause it recorded is outstanding): the guard exits
 * without looking at the journal; otherwise it acts as when the process
 * died. */
void guard_finish(bool nothing_left);
/* This process, as journal entries name their owner (name: "daemon", "cli"). */
JournalOwner guard_owner(const char *name);

/* Journal every VM pause a guest view makes (guest/pause-hook.h): before
 * QMP `stop`, a "pause" entry owned by this process; after the VM is seen
 * running, its removal.  j: the process's open journal, used under lock
 * (a recursive mutex the caller also holds around its own use of j, since
 * views pause on worker threads); j NULL: the journal at state_dir is
 * opened for each record (the CLI, which holds no journal).  Starts the
 * guard when it is not running (CLI) and refuses the pause when it cannot. */
void guard_pause_hook_install(Journal *j, pthread_mutex_t *lock, const char *owner_name, const char *state_dir,
                              const HvOptions *hv);

/* A dry run's hook: every pause refused (-EROFS), so a view scans without
 * pausing or fails that scan; nothing is recorded or changed. */
void guard_pause_hook_install_refusing(void);

/* Resume this process's own "pause" entries that no view holds now (a view
 * that could not resume its VM and was dropped).  Returns how many are
 * left.  Needs the hook installed with a journal (the daemon). */
int guard_retry_own_pauses(void);

/* Once per daemon tick: guard_check(); guard_retry_own_pauses() (at most
 * every 2 s); and the guest entries of dead owners (a CLI, an earlier
 * daemon, whose guard gave up or could not take the lock this daemon
 * holds) through recover_guest(), from every 5 s up to every minute while
 * some are kept. */
void guard_tick(void);
