/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder slot for the introspection view until src/vmi/ provides it:
 * opening it says so, nothing else is reachable. */
#include <errno.h>

#include "guest/view.h"

static int none_open(const Domain *d, void **ret) {
        (void) d;
        (void) ret;
        return -EOPNOTSUPP;
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
        .close = none_close,
        .tasks = none_tasks,
};
