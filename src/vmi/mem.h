/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Guest-physical memory of one VM, as the host sees it.
 *
 * Sources:
 *   process  the QEMU process: RAM blocks located through QMP (`info ramblock`
 *            + `info mtree -f`, which also give the 4 GiB hole) or, without
 *            QMP, through /proc/PID/maps and QEMU's pc/q35 layout rules.
 *            Read with process_vm_readv (batched: up to IOV_MAX pieces per
 *            call); when a RAM block is a shared memfd or file
 *            (memory-backend-memfd/file,share=on) it is mmap'd instead and
 *            reads are plain memcpy.
 *   buffer   a memory image in our own address space (tests, fuzzers, snapshots).
 *   qmp      QMP `xp` (HMP) for every read: slow, only for comparison.
 *
 * Every read is checked against the regions: a guest-physical range that is
 * not entirely RAM fails with -EFAULT (never a host fault).  Errors: -errno. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VMI_MEM_MAX_REGIONS 16

typedef struct QmpClient QmpClient;

typedef struct VmiRegion {
        uint64_t gpa;        /* guest-physical start */
        uint64_t size;
        uint64_t hva;        /* address in the QEMU process (process source) */
        uint8_t *local;      /* directly addressable copy or mapping, or NULL */
} VmiRegion;

typedef enum VmiMemKind {
        VMI_MEM_PROCESS,
        VMI_MEM_BUFFER,
        VMI_MEM_QMP,
} VmiMemKind;

typedef struct VmiMemStats {
        uint64_t calls;      /* syscalls (or QMP round trips) */
        uint64_t bytes;
} VmiMemStats;

typedef struct VmiMem {
        VmiMemKind kind;
        pid_t pid;
        VmiRegion regions[VMI_MEM_MAX_REGIONS];
        size_t n_regions;
        uint64_t ram_size;   /* sum of region sizes */
        uint64_t gpa_end;    /* highest guest-physical address + 1 */
        bool mapped;         /* regions[].local are mmap'd (to unmap) */
        int fd[VMI_MEM_MAX_REGIONS];       /* the file a mapped region comes from, or -1 */
        uint64_t fd_off[VMI_MEM_MAX_REGIONS];
        bool writable;       /* writes allowed */
        QmpClient *qmp;      /* VMI_MEM_QMP: not owned */
        const char *how;     /* "qmp-mtree", "maps", "buffer", ... (static) */
        VmiMemStats stats;
} VmiMem;

/* One piece of a batched read. */
typedef struct VmiIov {
        uint64_t gpa;
        void *buf;
        size_t len;
} VmiIov;

/* Attach to a QEMU process.  qmp may be NULL (then /proc/PID/maps and the
 * machine type on QEMU's command line decide the layout).  Maps shared RAM
 * directly unless map_shared is false. */
int vmi_mem_open_process(pid_t pid, QmpClient *qmp, bool map_shared, VmiMem **ret);
/* A memory image: image[i] is guest-physical address i (below 4 GiB), or a
 * set of regions.  The buffer is not copied and must outlive the VmiMem. */
int vmi_mem_open_buffer(const void *image, size_t size, bool writable, VmiMem **ret);
int vmi_mem_open_regions(const VmiRegion *regions, size_t n, bool writable, VmiMem **ret);
/* A guest RAM file (a memfd or file, as QEMU's memory-backend-*,share=on
 * keeps it) holding guest-physical 0..size: mapped shared, like the RAM of a
 * process source, and kept open (fd is duplicated) for scans. */
int vmi_mem_open_fd(int fd, uint64_t size, bool writable, VmiMem **ret);
/* Every read through QMP `xp` (for comparison benchmarks).  Regions as given. */
int vmi_mem_open_qmp(QmpClient *qmp, const VmiRegion *regions, size_t n, VmiMem **ret);
void vmi_mem_free(VmiMem *m);
static inline void vmi_mem_freep(VmiMem **m) {
        vmi_mem_free(*m);
}

/* Is [gpa, gpa+len) entirely RAM? */
bool vmi_mem_valid(const VmiMem *m, uint64_t gpa, size_t len);
/* Direct pointer to [gpa, gpa+len) when the source is addressable, else NULL. */
const uint8_t *vmi_mem_ptr(const VmiMem *m, uint64_t gpa, size_t len);

/* Read len bytes; the range may span adjacent regions.  -EFAULT when a byte
 * is not RAM. */
int vmi_mem_read(VmiMem *m, uint64_t gpa, void *buf, size_t len);
/* Batched reads: all or nothing (-EFAULT if any piece is not RAM). */
int vmi_mem_readv(VmiMem *m, const VmiIov *iov, size_t n);
int vmi_mem_write(VmiMem *m, uint64_t gpa, const void *buf, size_t len);

/* For scans of the whole of RAM: [gpa, gpa+len) (inside one region) without
 * faulting the pages of a mapped RAM file into this process (that would
 * grow our RSS by the guest's RAM and fill the file's holes): the file is
 * read with pread() into buf (holes read as zeros, nothing allocated), and a
 * range that is entirely a hole is skipped.  Returns 1 and *ret (buf or a
 * direct pointer), 0 when the range is all zeros (a hole), or -errno. */
int vmi_mem_scan_window(VmiMem *m, uint64_t gpa, size_t len, uint8_t *buf, const uint8_t **ret);
/* Call fn(u, gpa, p, avail) for each occurrence of pat (plen bytes) in RAM,
 * from gpa `start` to the end and then from 0 up to `start`, reading
 * VMI_MEM_SCAN_CHUNK bytes at a time through vmi_mem_scan_window().  p
 * points at the match in the window read, avail (>= plen) bytes of which
 * follow it (valid during the call only).  fn returns > 0 to stop
 * (returned), < 0 to fail (returned), 0 to go on. */
#define VMI_MEM_SCAN_CHUNK (4u << 20)
typedef int (*VmiScanFn)(void *u, uint64_t gpa, const uint8_t *p, size_t avail);
int vmi_mem_scan(VmiMem *m, uint64_t start, const void *pat, size_t plen, VmiScanFn fn, void *u);

/* Parsers, exposed for unit tests. */
typedef struct VmiRamRange {
        uint64_t gpa, size, offset;   /* offset inside the RAM block */
} VmiRamRange;
/* `info mtree -f`: the ranges of AS "memory" backed by the block `name`,
 * merged.  *ret malloc'd. */
int vmi_parse_mtree(const char *text, const char *name, VmiRamRange **ret, size_t *ret_n);
/* `info ramblock`: name and used size of the largest block. */
int vmi_parse_ramblock(const char *text, char *ret_name, size_t name_size, uint64_t *ret_size);
/* Guest-physical layout of a pc/q35 machine with ram_size bytes (no QMP). */
int vmi_pc_layout(uint64_t ram_size, bool q35, VmiRamRange ret[2], size_t *ret_n);
