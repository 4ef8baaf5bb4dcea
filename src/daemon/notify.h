/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The service manager's readiness protocol (sd_notify(3)): a no-op unless
 * $NOTIFY_SOCKET is set, i.e. unless systemd started us with Type=notify
 * (packaging/xvsched.service).  Each returns > 0 when a message was sent, 0
 * when there is no manager to tell, -errno when sending failed (the daemon
 * goes on: the manager's timeout says the rest). */

/* Start-up recovery is done and the loop runs; status: one line or NULL. */
int daemon_notify_ready(const char *status);
/* A reload starts (RELOADING=1 with MONOTONIC_USEC, as systemd >= 253 wants
 * for Type=notify-reload; older ones ignore the extra field). */
int daemon_notify_reloading(void);
/* The daemon restores what it changed and exits. */
int daemon_notify_stopping(void);
