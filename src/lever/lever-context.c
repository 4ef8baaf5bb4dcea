/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What lever_apply() and lever_reset() hand back to their caller to print:
 * notes (which path each lever took, warnings) and one error line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lever/lever-internal.h"

void lever_context_done(LeverContext *c) {
        free(c->notes);
        c->notes = NULL;
        free(c->failed);
        c->failed = NULL;
}

void lever_note(LeverContext *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *line = NULL;
        int k = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        char *n = NULL;
        if (asprintf(&n, "%s%s\n", c->notes ? c->notes : "", line) >= 0) {
                free(c->notes);
                c->notes = n;
        }
        free(line);
}

int lever_fail(LeverContext *c, const LeverSetting *s, int r, const char *fmt, ...) {
        char why[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        if (s)
                snprintf(c->error, sizeof c->error, "%s=%s: %s", lever_key_to_string(s->key), s->value, why);
        else
                snprintf(c->error, sizeof c->error, "%s", why);
        return r < 0 ? r : -EINVAL;
}

const char *lever_errno_reason(int r) {
        switch (-r) {
        case EPERM:
        case EACCES: return "insufficient privilege (run as root)";
        case EROFS:
        case ENOENT:
        case EOPNOTSUPP: return "not supported here";
        case ESRCH: return "the thread or process is gone";
        case EINVAL: return "the kernel rejected the value";
        case EBUSY: return "busy (the kernel refused while tasks depend on the old value)";
        default: return strerror(-r);
        }
}
