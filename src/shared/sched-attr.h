/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * struct sched_attr as the kernel defines it (SCHED_ATTR_SIZE_VER1, 56 bytes), for
 * syscall(SYS_sched_getattr) and syscall(SYS_sched_setattr): glibc 2.36 has neither wrapper
 * nor struct, and <linux/sched/types.h> clashes with <sched.h>.
 */

#include <stdint.h>

typedef struct sched_attr_v1 {
        uint32_t size;
        uint32_t sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime;         /* SCHED_OTHER, SCHED_BATCH: the slice (Linux ≥ 6.12) */
        uint64_t sched_deadline;
        uint64_t sched_period;
        uint32_t sched_util_min;
        uint32_t sched_util_max;
} sched_attr_v1;
