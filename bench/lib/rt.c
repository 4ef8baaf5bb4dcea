/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>

#include "basic/macros.h"
#include "lib/rt.h"

int rt_mlockall(void) {
        return RET_NERRNO(mlockall(MCL_CURRENT | MCL_FUTURE));
}

int rt_set_fifo(int prio) {
        struct sched_param sp = { .sched_priority = prio };
        return RET_NERRNO(sched_setscheduler(0, SCHED_FIFO, &sp));
}

int rt_pin_cpu(int cpu) {
        cpu_set_t set;
        if (cpu < 0 || cpu >= CPU_SETSIZE)
                return -EINVAL;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return RET_NERRNO(sched_setaffinity(0, sizeof set, &set));
}
