/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Real-time setup before measuring, as cyclictest does it.  Each returns 0
 * or -errno and logs nothing. */
int rt_mlockall(void);
int rt_set_fifo(int prio);      /* SCHED_FIFO at prio (1..99) */
int rt_pin_cpu(int cpu);
