/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The host's CPUs and memory nodes, from sysfs (sys_root NULL = "/sys"; a
 * fixture directory in tests). */

#include "basic/parse.h"

/* SYS_ROOT/devices/system/cpu/online.  -errno, -EINVAL when malformed. */
int host_online_cpus(const char *sys_root, CpuSet *ret);
/* SYS_ROOT/devices/system/node/online; a kernel without NUMA support has
 * no such file: node 0 alone then.  -errno, -EINVAL when malformed. */
int host_online_nodes(const char *sys_root, CpuSet *ret);
/* SYS_ROOT/devices/system/cpu/isolated (isolcpus=); empty when missing.
 * -EINVAL when malformed. */
int host_isolated_cpus(const char *sys_root, CpuSet *ret);
