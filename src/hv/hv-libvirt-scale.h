/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* libvirt's cpu_shares and blkio weight are the raw cgroup values of the
 * domain's host: cpu.shares and blkio.weight on cgroup v1, cpu.weight and
 * io.weight on v2.  A remote domain's are converted with its host's version
 * (docs/hosts.md, "Levers on a remote domain"), which libvirt's API tells
 * only indirectly; these read it from what libvirt says.  Pure. */
typedef enum HvCgroupVersion {
        HV_CGROUP_UNKNOWN = 0,
        HV_CGROUP_V1 = 1,
        HV_CGROUP_V2 = 2,
} HvCgroupVersion;

/* From libvirt's refusal of cpu_shares=0 (libvirt >= 9.0 checks the range
 * before anything is written): "shares '0' must be in range [2, 262144]" on
 * v1, "[1, 10000]" on v2.  UNKNOWN for any other text. */
HvCgroupVersion hv_cgroup_version_from_refusal(const char *msg);
/* From a cpu_shares value: only v1 holds more than 10000; UNKNOWN otherwise. */
HvCgroupVersion hv_cgroup_version_from_shares(uint64_t shares);

/* xvsched's weight (1-10000, 100 the default) to libvirt's cpu_shares, and back. */
uint64_t hv_weight_to_cpu_shares(unsigned weight, HvCgroupVersion v);
unsigned hv_cpu_shares_to_weight(uint64_t shares, HvCgroupVersion v);
/* xvsched's ioweight (1-10000) to libvirt's blkio weight. */
unsigned hv_ioweight_to_blkio(unsigned weight, HvCgroupVersion v);
