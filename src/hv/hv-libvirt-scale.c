/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A remote libvirt host's cgroup scales (see hv-libvirt-scale.h). */

#include <stdio.h>
#include <string.h>

#include "host/cgroup.h"
#include "hv/hv-libvirt-scale.h"

HvCgroupVersion hv_cgroup_version_from_refusal(const char *msg) {
        if (!msg)
                return HV_CGROUP_UNKNOWN;
        /* the last "[MIN, MAX]" of libvirt's words (translated or not, the figures stay) */
        const char *b = strrchr(msg, '[');
        unsigned long long lo, hi;
        char close = 0;
        if (!b || sscanf(b, "[%llu, %llu%c", &lo, &hi, &close) != 3 || close != ']')
                return HV_CGROUP_UNKNOWN;
        if (lo == 2 && hi == 262144)
                return HV_CGROUP_V1;
        if (lo == 1 && hi == 10000)
                return HV_CGROUP_V2;
        return HV_CGROUP_UNKNOWN;
}

HvCgroupVersion hv_cgroup_version_from_shares(uint64_t shares) {
        return shares > CGROUP_WEIGHT_MAX ? HV_CGROUP_V1 : HV_CGROUP_UNKNOWN;
}

uint64_t hv_weight_to_cpu_shares(unsigned weight, HvCgroupVersion v) {
        if (v == HV_CGROUP_V2)
                return weight < CGROUP_WEIGHT_MIN ? CGROUP_WEIGHT_MIN : weight > CGROUP_WEIGHT_MAX ? CGROUP_WEIGHT_MAX : weight;
        return cgroup_weight_to_shares(weight);
}

unsigned hv_cpu_shares_to_weight(uint64_t shares, HvCgroupVersion v) {
        if (v == HV_CGROUP_V2)
                return shares < CGROUP_WEIGHT_MIN ? CGROUP_WEIGHT_MIN
                       : shares > CGROUP_WEIGHT_MAX ? CGROUP_WEIGHT_MAX
                                                    : (unsigned) shares;
        return cgroup_shares_to_weight(shares);
}

unsigned hv_ioweight_to_blkio(unsigned weight, HvCgroupVersion v) {
        if (v == HV_CGROUP_V2)
                return weight < CGROUP_WEIGHT_MIN ? CGROUP_WEIGHT_MIN : weight > CGROUP_WEIGHT_MAX ? CGROUP_WEIGHT_MAX : weight;
        return cgroup_io_weight_to_blkio(weight);
}
