/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "host/autogroup.h"

bool autogroup_enabled(const char *proc_root) {
        _cleanup_free_ char *path = NULL, *enabled = NULL;
        if (asprintf(&path, "%s/sys/kernel/sched_autogroup_enabled", proc_root ?: "/proc") < 0)
                return false;
        return read_one_line(path, &enabled) >= 0 && streq(enabled, "1");
}

int autogroup_parse(const char *line, long *ret_id, int *ret_nice) {
        long id;
        int nice;
        char tail;
        if (!line || sscanf(line, "/autogroup-%ld nice %d%c", &id, &nice, &tail) != 2 || id < 0 || nice < -20 || nice > 19)
                return -EBADMSG;
        *ret_id = id;
        *ret_nice = nice;
        return 0;
}

int autogroup_read(const char *proc_root, pid_t pid, long *ret_id, int *ret_nice) {
        char path[128];
        if (pid <= 0)
                return -EINVAL;
        snprintf(path, sizeof path, "%s/%d/autogroup", proc_root ?: "/proc", (int) pid);
        _cleanup_free_ char *line = NULL;
        int r = read_one_line(path, &line);
        if (r < 0)
                return r;
        return autogroup_parse(line, ret_id, ret_nice);
}

int autogroup_write(const char *proc_root, pid_t pid, int nice) {
        char path[128], v[16];
        if (pid <= 0 || nice < -20 || nice > 19)
                return -EINVAL;
        snprintf(path, sizeof path, "%s/%d/autogroup", proc_root ?: "/proc", (int) pid);
        snprintf(v, sizeof v, "%d", nice);
        return write_string_file(path, v);
}
