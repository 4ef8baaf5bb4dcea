/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The policy loop (`xvsched run`): every interval, observe (discovery +
 * guest views) -> decide (src/policy, pure) -> act (host levers through the
 * journal, guest control through the views), and log a timeline line.
 * timerfd + signalfd + epoll; a control socket for status/reload/stop.
 *
 * Safety: host levers go through the undo journal (restored on exit, on
 * SIGTERM, and at the next start after a crash); guest stops are held
 * under the agent's lease (and journaled for views without a lease), and
 * every stopped task is resumed on exit. */

#include <stdbool.h>

#include "hv/hv.h"

typedef struct DaemonOptions {
        const char *config_path;
        const char *state_dir;        /* NULL: $XVSCHED_STATE_DIR or /run/xvsched */
        const char *timeline;         /* overrides the config's */
        unsigned interval_ms;         /* overrides the config's when > 0 */
        bool dry_run;
        unsigned max_ticks;           /* stop after this many ticks (0: run until told) */
        HvOptions hv;
} DaemonOptions;

/* Runs until SIGINT/SIGTERM or `xvsched stop`.  Returns 0 after a clean
 * shutdown (everything restored), -errno (logged, one line) otherwise. */
int daemon_run(const DaemonOptions *o);
