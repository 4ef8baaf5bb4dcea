/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sd_notify(3) for the daemon: READY=1 once start-up recovery is done and
 * the loop runs, RELOADING=1 ... READY=1 around a reload, STOPPING=1 on the
 * way out.  libsystemd does the sending (the host layer links it already). */

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "basic/log.h"
#include "basic/time-util.h"
#include "daemon/notify.h"

static int notify(const char *state) {
        int r = sd_notify(0, state);
        if (r < 0)
                log_debug("sd_notify(%s): %s", state, strerror(-r));
        return r;
}

int daemon_notify_ready(const char *status) {
        char buf[256];
        if (!status)
                return notify("READY=1");
        snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s", status);
        return notify(buf);
}

int daemon_notify_reloading(void) {
        char buf[96];
        snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now_usec());
        return notify(buf);
}

int daemon_notify_stopping(void) {
        return notify("STOPPING=1");
}
