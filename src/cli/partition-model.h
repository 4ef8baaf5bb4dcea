/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* `xvsched partition`'s model (paper 001's Mint partitions as xvsched
 * partitions): named sets of host CPUs and, optionally, memory nodes that
 * groups of domains share.  The set of partitions lives in
 * STATE_DIR/partitions.json beside the undo journal, and is read and
 * written under the journal's lock:
 *
 *   {"version": 1, "partitions": [
 *     {"name": "p0", "cpus": "0", "mems": "0", "members": ["web", "db"]}, ...]}
 *
 * ("mems" is absent when the partition places no memory.)  Pure: text in,
 * text out, checks; no discovery, no levers (partition.c does those), so
 * the unit tests (tests/unit/test-partition.c) see every case. */

#include <stdbool.h>
#include <stddef.h>

#include "basic/parse.h"

#define PARTITION_NAME_MAX 64
#define PARTITION_MAX 256              /* partitions in one file */
#define PARTITION_MEMBERS_MAX 1024     /* domains in one partition */
#define PARTITION_MEMBER_NAME_MAX 256
#define PARTITION_FILE_MAX (1 << 20)   /* bytes of partitions.json read */

typedef struct Partition {
        char *name;
        CpuSet cpus;
        CpuSet mems;
        bool have_mems;
        char **members;
        size_t n_members;
} Partition;

typedef struct PartitionSet {
        Partition *p;
        size_t n;
} PartitionSet;

void partition_set_done(PartitionSet *s);

/* A partition's name: 1..64 of [A-Za-z0-9._-], not starting with '-' or '.'.
 * false and *ret_reason when not. */
bool partition_name_valid(const char *name, const char **ret_reason);

/* Parse partitions.json's text (NULL or empty: no partitions).  -EBADMSG
 * (and *ret_reason) when it is not such a file, bounded by the limits
 * above; *ret is untouched on failure. */
int partition_set_parse(const char *text, PartitionSet *ret, const char **ret_reason);
/* The file's text (malloc'd), or NULL out of memory. */
char *partition_set_format(const PartitionSet *s);

/* The partition named name, or NULL. */
Partition *partition_find(const PartitionSet *s, const char *name);
/* The partition that has domain as a member (other than skip), or NULL. */
Partition *partition_of_member(const PartitionSet *s, const char *domain, const Partition *skip);
/* Does a partition other than skip share a CPU (or, when mems is given, a
 * memory node) with cpus/mems?  The first such partition, and in *ret_what
 * "CPU" or "memory node" and *ret_which the first shared number. */
Partition *partition_overlap(const PartitionSet *s, const CpuSet *cpus, const CpuSet *mems, const Partition *skip,
                             const char **ret_what, unsigned *ret_which);

/* Add a partition (its fields copied); -EEXIST when the name is taken. */
int partition_add(PartitionSet *s, const char *name, const CpuSet *cpus, const CpuSet *mems, char *const *members,
                  size_t n_members);
/* Remove the partition named; -ENOENT when there is none. */
int partition_remove(PartitionSet *s, const char *name);
/* Add domain to p's members (no-op when there); -E2BIG past the limit. */
int partition_member_add(Partition *p, const char *domain);
/* Drop domain from every partition's members; returns how many dropped. */
size_t partition_member_drop(PartitionSet *s, const char *domain);
