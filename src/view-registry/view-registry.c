/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "basic/macros.h"
#include "view-registry/view-registry.h"

static const GuestViewOps *const views[] = { &guest_view_agent, &guest_view_qga, &guest_view_vmi };

const GuestViewOps *guest_view_ops_by_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(views); i++)
                if (streq(name, views[i]->name))
                        return views[i];
        return NULL;
}

int guest_view_open_by_name(const char *want, const Domain *d, GuestView **ret, char *ret_error, size_t error_size) {
        /* auto: our agent where the domain has its channel, then
         * qemu-guest-agent where it has that one, then introspection; each
         * failure is named and the next is tried. */
        const GuestViewOps *try[ELEMENTSOF(views)];
        size_t n = 0;
        if (streq(want, "auto")) {
                if (d->agent_socket)
                        try[n++] = &guest_view_agent;
                if (d->qga_channel.present)
                        try[n++] = &guest_view_qga;
                try[n++] = &guest_view_vmi;
        } else if ((try[0] = guest_view_ops_by_name(want)))
                n = 1;
        if (n == 0) {
                if (ret_error)
                        snprintf(ret_error, error_size, "unknown view '%s' (agent, qga, vmi, auto)", want);
                return -EINVAL;
        }
        char why[512] = "";
        size_t len = 0;
        int r = -ENOENT;
        for (size_t i = 0; i < n; i++) {
                r = guest_view_open(try[i], d, ret);
                if (r >= 0)
                        return r;
                int k = snprintf(why + len, sizeof why - len, "%sno %s view: %s", i ? "; " : "", try[i]->name,
                                 guest_view_open_error(try[i], r));
                if (k > 0)
                        len = MIN(len + (size_t) k, sizeof why - 1);
        }
        if (ret_error)
                snprintf(ret_error, error_size, "%s", why);
        return r;
}
