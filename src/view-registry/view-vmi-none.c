/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The introspection view's slot in a build without src/vmi/ (-Dvmi=disabled):
 * opening it says so, nothing else is reachable. */
#include <errno.h>

#include "view-registry/view-registry.h"

static int none_open(const Domain *d, void **ret) {
        (void) d;
        (void) ret;
        return -EOPNOTSUPP;
}

static const char *none_open_error(int r) {
        (void) r;
        return "not available (xvsched was built without introspection)";
}

static void none_close(void *s) {
        (void) s;
}

static int none_tasks(void *s, GuestTask **ret, size_t *ret_n) {
        (void) s;
        (void) ret;
        (void) ret_n;
        return -EOPNOTSUPP;
}

const GuestViewOps guest_view_vmi = {
        .name = "vmi",
        .open = none_open,
        .open_error = none_open_error,
        .close = none_close,
        .tasks = none_tasks,
};
