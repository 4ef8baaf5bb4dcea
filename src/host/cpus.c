/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "host/cpus.h"

static int read_cpu_list(const char *sys_root, const char *file, CpuSet *ret) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        if (asprintf(&path, "%s/devices/system/%s", sys_root ?: "/sys", file) < 0)
                return -ENOMEM;
        int r = read_one_line(path, &line);
        if (r < 0)
                return r;
        CpuSet set;
        r = cpuset_parse(line, &set);
        if (r < 0)
                return r;
        *ret = set;
        return 0;
}

int host_online_cpus(const char *sys_root, CpuSet *ret) {
        return read_cpu_list(sys_root, "cpu/online", ret);
}

int host_online_nodes(const char *sys_root, CpuSet *ret) {
        int r = read_cpu_list(sys_root, "node/online", ret);
        if (r == -ENOENT) { /* no NUMA support built in: one node */
                *ret = (CpuSet) {};
                cpuset_set(ret, 0);
                return 0;
        }
        return r;
}

int host_isolated_cpus(const char *sys_root, CpuSet *ret) {
        int r = read_cpu_list(sys_root, "cpu/isolated", ret);
        if (r == -ENOENT) {
                *ret = (CpuSet) {};
                return 0;
        }
        return r;
}
