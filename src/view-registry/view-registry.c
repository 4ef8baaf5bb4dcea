/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "view-registry/view-registry.h"

static const GuestViewOps *const views[] = { &guest_view_agent, &guest_view_vmi };

const GuestViewOps *guest_view_ops_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(views); i++)
                if (streq(name, views[i]->name))
                        return views[i];
        return NULL;
}

int guest_view_open_by_name(const char *want, const Domain *d, GuestView **ret, char *ret_error, size_t error_size) {
        bool is_auto = streq(want, "auto");
        const GuestViewOps *ops = is_auto ? (d->agent_socket ? &guest_view_agent : &guest_view_vmi)
                                          : guest_view_ops_by_name(want);
        if (!ops) {
                if (ret_error)
                        snprintf(ret_error, error_size, "unknown view '%s' (agent, vmi, auto)", want);
                return -EINVAL;
        }
        char first[128] = "";
        int r = guest_view_open(ops, d, ret);
        if (r < 0 && is_auto && ops == &guest_view_agent) {
                snprintf(first, sizeof first, "no agent view: %s; ", guest_view_open_error(ops, r));
                r = guest_view_open(ops = &guest_view_vmi, d, ret);
        }
        if (r < 0 && ret_error)
                snprintf(ret_error, error_size, "%sno %s view: %s", first, ops->name, guest_view_open_error(ops, r));
        return r;
}
