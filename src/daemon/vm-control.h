/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The VM operations the guest views may not call themselves (the view
 * layer does not know src/hv/): a libvirt domain is paused, resumed and
 * asked for its registers through libvirt (src/hv/hv-libvirt.c), over the
 * URI its pause names, with the connections of hv->ctx.  Installed with
 * the pause hook (guard_pause_hook_install()); hv must outlive the
 * installation (NULL: uninstall). */

#include "hv/hv.h"

void vm_control_install(const HvOptions *hv);
