/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Logging.  Library layers log at debug level only; the programs' edges
 * (cli, daemon, xvlab, xvbench, xvagent) report errors, once.  Every
 * *_errno() variant returns -abs(error) so a caller can write
 *     return log_error_errno(r, "Failed to ...: %m");
 * and %m expands to strerror(error). */

#include <stdbool.h>
#include "basic/macros.h"

typedef enum { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_NOTICE = 5,
               LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 } LogLevel;

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_program(const char *name);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_LEVEL_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_LEVEL_ERR, (e), __VA_ARGS__)
