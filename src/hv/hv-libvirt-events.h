/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* libvirt's event loop and keepalive (docs/hosts.md, "A host that does not
 * answer").  libvirt's client has no timeout for a call: a call on an open
 * connection to a libvirtd that stopped answering (a host gone silent, a
 * libvirtd stopped) waits for good.  Keepalive bounds it: every connection
 * xvsched opens asks for a keepalive message after HV_KEEPALIVE_INTERVAL_S s
 * without traffic and is closed by the client after HV_KEEPALIVE_COUNT of
 * them go unanswered, so such a call fails after about
 * HV_KEEPALIVE_INTERVAL_S * (HV_KEEPALIVE_COUNT + 1) s (a call in progress is
 * aborted too).  Keepalive needs libvirt's event loop registered before a
 * connection is opened and run by a thread; until a process asks for it
 * with hv_libvirt_events_start(), it has neither, and its connections no
 * keepalive (as before).  A process asks once it will no longer fork a child
 * that closes every descriptor and then uses libvirt (the daemon: after its
 * guard's fork), since the loop's wakeup descriptor would be stale there. */

#define HV_KEEPALIVE_INTERVAL_S 2
#define HV_KEEPALIVE_COUNT 3

/* Register libvirt's default event loop (once per process) and start the
 * thread that runs it; 0, or -errno (then connections go without keepalive,
 * as before).  Connections of an HvContext opened before are reopened on
 * their next use.  In a forked child of a process that registered it:
 * -ECHILD, the loop is not run there (its connections go without). */
int hv_libvirt_events_start(void);
