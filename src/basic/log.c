/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"

static int max_level = LOG_LEVEL_NOTICE;
static const char *program = "xvsched";

void log_set_max_level(int level) {
        max_level = level;
}
int log_get_max_level(void) {
        return max_level;
}
void log_set_program(const char *name) {
        program = name;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        /* Let %m print the error we were handed, not whatever errno holds. */
        errno = error;
        va_list ap;
        va_start(ap, fmt);
        char buf[2048];
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        if (max_level >= LOG_LEVEL_DEBUG)
                fprintf(stderr, "%s: %s:%d: %s\n", program, file, line, buf);
        else if (level <= LOG_LEVEL_ERR)
                fprintf(stderr, "%s: error: %s\n", program, buf);
        else if (level == LOG_LEVEL_WARNING)
                fprintf(stderr, "%s: warning: %s\n", program, buf);
        else
                fprintf(stderr, "%s: %s\n", program, buf);
        return -error;
}
