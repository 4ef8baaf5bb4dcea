/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The registry of guest views: every view the build has, by name, and the
 * one rule for choosing among them.  It sits above src/view/ (the views'
 * interface and the agent view) and src/vmi/ (the introspection view), so
 * neither of those depends on the other. */

#include <stddef.h>

#include "view/view.h"

/* The introspection view: src/vmi/view-vmi.c, or view-vmi-none.c in a build
 * without introspection. */
extern const GuestViewOps guest_view_vmi;

/* The view called name ("agent", "qga", "vmi"), or NULL. */
const GuestViewOps *guest_view_ops_by_name(const char *name);

/* want: "agent", "qga", "vmi" or "auto" (xvagent where the domain has its
 * channel, then qemu-guest-agent where it has that channel, then
 * introspection: each one that cannot be opened is named and the next is
 * tried).  On failure, ret_error (may be NULL) gets one line saying which
 * views were tried and why they failed. */
int guest_view_open_by_name(const char *want, const Domain *d, GuestView **ret, char *ret_error, size_t error_size);
