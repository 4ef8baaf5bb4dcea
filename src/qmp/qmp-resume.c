/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "basic/time-util.h"
#include "qmp/qmp-resume.h"

#define RESUME_QMP_TIMEOUT_MS 2000
#define RESUME_NAP_MS 100

int qmp_resume_confirmed(QmpClient **q, const char *path, int deadline_ms, char **ret_status) {
        long long end = now_msec() + MAX(deadline_ms, 1);
        int r = -ETIMEDOUT;
        bool first = true, nap = false;
        for (;; first = false) {
                if (!first && now_msec() >= end)
                        break;
                if (nap)
                        nanosleep(&(struct timespec) { .tv_nsec = RESUME_NAP_MS * 1000000L }, NULL);
                nap = true;
                if (!*q) {
                        if (!path)
                                return -ENOTCONN;
                        r = qmp_connect(path, RESUME_QMP_TIMEOUT_MS, q);
                        if (r < 0) {
                                *q = NULL;
                                log_debug_errno(r, "resume: cannot connect to QMP at %s: %m", path);
                                continue;
                        }
                }
                bool running = false;
                _cleanup_free_ char *status = NULL;
                r = qmp_query_status(*q, &running, &status);
                if (r < 0) {
                        log_debug("resume: query-status failed: %s", qmp_last_error(*q));
                        /* A reply may still be on its way: never reuse this connection. */
                        if (path) {
                                qmp_free(*q);
                                *q = NULL;
                        }
                        continue;
                }
                if (running)
                        return 0;
                /* "debug": stopped by QEMU's gdbstub, which only xvsched's
                 * own guest kernel calls start (src/vmi/kcall.c) */
                if (!streq(status, "paused") && !streq(status, "debug")) {
                        if (ret_status)
                                *ret_status = TAKE_PTR(status);
                        return -ESTALE;
                }
                r = qmp_cont(*q);
                if (r < 0) {
                        log_debug("resume: cont failed: %s", qmp_last_error(*q));
                        if (path) {
                                qmp_free(*q);
                                *q = NULL;
                        }
                }
                /* asked again at the top of the loop, error or not; after
                 * a cont that worked, at once */
                if (r >= 0) {
                        nap = false;
                        r = -EAGAIN;
                }
        }
        return r;
}
