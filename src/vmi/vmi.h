/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Introspection of a Linux x86-64 guest kernel from its memory alone.
 *
 * Attach (vmi_attach):
 *   1. find the kernel's BTF blob in guest RAM (header 0xeB9F, version 1,
 *      hdr_len 24) among the other BTF there (modules' split BTF, copies):
 *      the largest plausible headers first, split BTF and BTF not naming
 *      task_struct are told apart cheaply, and the first that libbpf parses
 *      and that describes task_struct and rq wins (btf-search.c);
 *   2. member offsets by name from that BTF (VmiLayout), per-CPU variable
 *      offsets from its DATASEC ".data..percpu";
 *   3. init_task: the "swapper/0" task with pid 0 (searched from the BTF
 *      onwards: both live in the kernel image);
 *   4. the direct-map base (page_offset_base, randomized by KASLR): init_task's
 *      tasks.next is pid 1's tasks in the direct map; the 1 GiB-aligned base
 *      for which that task is pid 1 and points back at init_task wins.  The
 *      kernel-image mapping (also randomized) follows from pid 1's tasks.prev;
 *      the kernel page tables from init_task.active_mm->pgd (for everything
 *      else: a 4- or 5-level page walk);
 *   5. every CPU's run queue: init_task.se.cfs_rq is CPU 0's rq->cfs; its
 *      task group (the root group) lists every CPU's cfs_rq; each rq is
 *      validated by rq->cpu and rq->idle.  GS bases of vCPUs in kernel mode
 *      (QMP `info registers -a`) cross-check these and map vCPUs to CPUs, and
 *      are the route when the root group is unusable.
 *
 * Every guest pointer is checked (alignment, mapping, RAM) before use; every
 * walk is bounded; a scan that sees a torn list fails with -EAGAIN and can be
 * retried (or run with the VM paused).  Nothing the guest writes can make
 * these functions crash or loop: they fail one call instead.
 * Errors: -errno. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "view/agent-client.h"
#include "vmi/mem.h"

struct btf;

#define VMI_MAX_CPUS 1024
#define VMI_MAX_TASKS_DEFAULT 65536
#define VMI_NO_OFF (-1)
/* Bounds on what a guest can make one attach do (vmi_attach). */
#define VMI_INIT_MAX_HITS 65536        /* "swapper/0" strings looked at */
#define VMI_INIT_MAX_CANDIDATES 256    /* of them with pid 0 (each costs a pid-1 check per GiB of RAM) */
/* The BTF search (vmi_btf_locate): RAM is scanned once for BTF headers (no
 * cap on how many; each is checked in the window the scan read); of the
 * candidates left the VMI_BTF_MAX_LOOK largest are looked at again (three
 * small reads each), at most VMI_BTF_MAX_READ_BYTES of them read in full, at
 * most VMI_BTF_MAX_PARSES parsed by libbpf. */
#define VMI_BTF_MAX_SIZE (64u << 20)
#define VMI_BTF_MAX_LOOK 32
#define VMI_BTF_MAX_READ_BYTES (256u << 20)
#define VMI_BTF_MAX_PARSES 4
/* Prefetch (copied task windows, vmi_scan) at most this many bytes. */
#define VMI_PREFETCH_MAX_BYTES (16u << 20)
/* Re-attach after init_task moved: at most once per interval, doubling
 * from the minimum to the maximum while the guest keeps it moving. */
#define VMI_REATTACH_MIN_US (2ULL * 1000000)
#define VMI_REATTACH_MAX_US (120ULL * 1000000)

/* Member offsets (bytes; VMI_NO_OFF when the kernel lacks the member). */
typedef struct VmiLayout {
        int32_t task_size;
        int32_t t_state;           /* __state (or state) */
        int32_t t_state_size;      /* 4 (__state) or 8 (long state) */
        int32_t t_ti_flags;        /* thread_info.flags */
        int32_t t_cpu;             /* thread_info.cpu or task_struct.cpu */
        int32_t t_flags;
        int32_t t_on_cpu;
        int32_t t_on_rq;
        int32_t t_static_prio;
        int32_t t_rt_priority;
        int32_t t_policy;
        int32_t t_tasks;
        int32_t t_pid;
        int32_t t_tgid;
        int32_t t_thread_group;    /* list through the group (no head), <= 6.6 */
        int32_t t_thread_node;     /* list headed by signal->thread_head */
        int32_t t_comm;
        int32_t t_sum_exec;        /* se.sum_exec_runtime */
        int32_t t_se_cfs_rq;       /* se.cfs_rq (CONFIG_FAIR_GROUP_SCHED) */
        int32_t t_start_time;      /* start_boottime, else start_time */
        int32_t t_mm;
        int32_t t_active_mm;
        int32_t t_sighand;
        int32_t t_signal;
        int32_t t_pending_sig;     /* pending.signal */
        int32_t t_exit_state;
        int32_t sig_thread_head;   /* signal_struct.thread_head */
        int32_t sh_siglock;        /* sighand_struct.siglock */
        int32_t mm_pgd, mm_arg_start, mm_arg_end;
        int32_t rq_cpu, rq_curr, rq_idle, rq_nr_running, rq_cfs;
        int32_t cfs_rq_tg;
        int32_t tg_cfs_rq;
        /* workqueue workers: /proc shows "kworker/0:1-events" */
        int32_t t_worker_private;  /* task_struct.worker_private (struct kthread *) */
        int32_t kthread_data;      /* kthread.data (struct worker *) */
        int32_t worker_desc, worker_current_work, worker_pool;
        int64_t pcpu_runqueues;    /* offsets in .data..percpu */
        int64_t pcpu_current_task;
        /* the window of task_struct read per task */
        int32_t span_lo, span_hi;
        int32_t rq_lo, rq_hi;
} VmiLayout;

typedef struct VmiTask {
        GuestTask t;
        uint64_t va;               /* task_struct in the guest */
        uint64_t leader_va;
        uint64_t worker_va;        /* workqueue worker, cached across scans */
        uint32_t raw_state;
        uint32_t flags;
        bool on_cpu;
        bool on_rq;
} VmiTask;

typedef struct VmiCpu {
        int cpu;                   /* guest CPU number (rq->cpu) */
        int vcpu;                  /* QEMU vCPU index, -1 when unknown */
        unsigned nr_running;
        uint64_t rq_va;
        uint64_t curr_va;
        pid_t pid, tid;            /* of rq->curr (0, 0 for the idle task) */
        char comm[16];
        bool idle;                 /* rq->curr == rq->idle */
} VmiCpu;

typedef struct VmiVcpuRegs {
        int index;                 /* QEMU cpu index */
        uint64_t gs_base;
        uint64_t cr3;
        int cpl;
        bool halted;
} VmiVcpuRegs;

/* A profile a user has for the guest's kernel (src/vmi/profile.c):
 * an ISF/JSON file (Volatility 3 format: user_types, base_types,
 * symbols) gives member offsets where the kernel has no BTF; a System.map
 * gives symbol addresses (checked against the guest, and per-CPU offsets). */
typedef struct VmiProfile VmiProfile;
int vmi_profile_load_isf(const char *path, VmiProfile **ret);
int vmi_profile_load_system_map(const char *path, VmiProfile **ret);
void vmi_profile_free(VmiProfile *p);
int32_t vmi_profile_struct_size(const void *p, const char *name);
int32_t vmi_profile_member_off(const void *p, const char *sname, const char *path, int32_t *ret_size);
int64_t vmi_profile_percpu_off(const void *p, const char *var);
int vmi_profile_symbol(const VmiProfile *p, const char *name, uint64_t *ret);

typedef struct VmiOptions {
        size_t max_tasks;          /* 0: VMI_MAX_TASKS_DEFAULT */
        int max_cpus;              /* 0: VMI_MAX_CPUS; e.g. the number of vCPUs */
        bool cmdline;              /* read cmdlines (page walks of user memory) */
        bool copy_windows;         /* copy task windows even when RAM is mapped (tests) */
        const VmiVcpuRegs *regs;   /* GS bases, may be NULL */
        size_t n_regs;
        const VmiProfile *profile; /* ISF: offsets instead of the guest's BTF, may be NULL */
        const VmiProfile *system_map; /* checked against the guest, may be NULL */
} VmiOptions;

typedef struct VmiBtfStats {
        uint64_t headers;          /* BTF header prefixes in RAM */
        uint64_t split;            /* of them split BTF (a module's) */
        uint64_t bad;              /* not BTF: sections, size, first type, string end (or changed meanwhile) */
        uint64_t candidates;       /* passed the cheap checks in the scan */
        uint64_t looked;           /* the largest candidates looked at again, largest first (<= VMI_BTF_MAX_LOOK) */
        uint64_t no_task_struct;   /* of those: BTF, but not the kernel's */
        uint64_t read_bytes;       /* read in full (<= VMI_BTF_MAX_READ_BYTES) */
        uint64_t parsed;           /* parsed by libbpf (<= VMI_BTF_MAX_PARSES) */
        bool over_budget;          /* the search stopped at the read or parse bound */
} VmiBtfStats;

typedef struct VmiStats {
        uint64_t attach_us, btf_us, init_task_us, cpus_us;
        VmiBtfStats btf;
        uint64_t scans, scan_retries;
        uint64_t prefetch_hits, prefetch_misses, direct_windows;
        uint64_t prefetch_bytes;   /* the last prefetch (at most VMI_PREFETCH_MAX_BYTES) */
        uint64_t init_hits, init_candidates;
        uint64_t renamed_init;     /* re-validations that found init_task renamed but in place */
} VmiStats;

typedef struct Vmi {
        VmiMem *mem;               /* not owned */
        VmiOptions opt;
        struct btf *btf;
        uint64_t btf_gpa;
        size_t btf_size;
        VmiLayout L;
        uint64_t init_task_pa, init_task_va;
        uint64_t page_offset_base;
        uint64_t kimage_voffset;   /* kernel-image VA - PA */
        uint64_t kernel_pgd_pa;    /* init_mm.pgd, 0 if unknown */
        uint64_t kaslr_slide;      /* from a System.map, 0 if none given */
        bool la57;
        int ncpus;
        uint64_t rq_va[VMI_MAX_CPUS];
        int cpu_vcpu[VMI_MAX_CPUS];/* vCPU index running each CPU, -1 unknown */
        const char *cpus_how;      /* "task-group", "gs" */
        int gs_checked;            /* how many CPUs a kernel GS base confirmed */

        /* the previous scan: prefetch list and cmdline cache */
        VmiTask *prev;
        size_t n_prev;
        uint8_t *pf_buf;
        size_t pf_cap;
        VmiStats stats;
        char error[256];
} Vmi;

int vmi_attach(VmiMem *mem, const VmiOptions *opt, Vmi **ret);
void vmi_free(Vmi *v);
static inline void vmi_freep(Vmi **v) {
        vmi_free(*v);
}
const char *vmi_last_error(const Vmi *v);

/* Offsets from a parsed BTF (exposed for tests).  -ENOENT when a required
 * member is missing. */
int vmi_layout_from_profile(const VmiProfile *p, VmiLayout *ret);
int vmi_layout_from_btf(const struct btf *btf, VmiLayout *ret);
/* Find and parse the kernel's BTF blob in guest RAM.  *ret_btf is
 * btf__free()d by the caller.  -ENOENT when none is found (ret_stats, which
 * may be NULL, says what was seen). */
int vmi_btf_locate(VmiMem *mem, struct btf **ret_btf, uint64_t *ret_gpa, size_t *ret_size, VmiBtfStats *ret_stats);

/* Guest-virtual (kernel) to guest-physical; -EFAULT when unmapped or not RAM. */
int vmi_kva_to_pa(Vmi *v, uint64_t va, uint64_t *ret_pa);
/* Through the page tables rooted at pgd_pa (any address). */
int vmi_page_walk(Vmi *v, uint64_t pgd_pa, uint64_t va, uint64_t *ret_pa);
int vmi_read_kva(Vmi *v, uint64_t va, void *buf, size_t len);

/* The guest kernel's release ("6.1.0-57-amd64", uname -r) from
 * init_uts_ns (an exported symbol, found as vmi_ksym_lookup() finds
 * functions) .name.release (uts_namespace.name's offset from the BTF; else
 * 0 or 4, whichever holds sysname "Linux"; release at +130 in the fixed
 * UAPI struct new_utsname).  Untrusted: NUL-terminated within its 65 bytes,
 * non-empty, printable without spaces; else -EBADMSG.  On error out is
 * "unknown" (uts.c). */
#define VMI_RELEASE_SIZE 65
int vmi_kernel_release(Vmi *v, char out[VMI_RELEASE_SIZE]);
/* Pure: the release in buf (len bytes from init_uts_ns), uts_namespace.name
 * at name_off (< 0: unknown, try 0 and 8).  -ENOENT: no "Linux" sysname
 * there; -EBADMSG: a release that is not plausible. */
int vmi_uts_release_parse(const uint8_t *buf, size_t len, int32_t name_off, char out[VMI_RELEASE_SIZE]);

/* Every thread.  *ret malloc'd (free()).  -EAGAIN on a torn list (retry or
 * pause the VM), -ELOOP/-E2BIG past the bounds, -EBADMSG on garbage. */
int vmi_scan(Vmi *v, VmiTask **ret, size_t *ret_n);
/* The same, retried up to `tries` times on -EAGAIN. */
int vmi_scan_retry(Vmi *v, unsigned tries, VmiTask **ret, size_t *ret_n);
/* What every CPU runs now.  *ret malloc'd. */
int vmi_read_cpus(Vmi *v, VmiCpu **ret, size_t *ret_n);

/* Inject SIGSTOP into one thread: set it in its pending set and set
 * TIF_SIGPENDING.  Call only while the VM is paused.  Checks that the
 * task is still tid (and not a kernel thread, exiting or init), and that
 * sighand->siglock is free (-EBUSY otherwise: let the guest run and retry). */
int vmi_inject_sigstop(Vmi *v, uint64_t task_va, pid_t tid);
/* Is SIGSTOP pending or the task stopped (T)? */
int vmi_task_stop_state(Vmi *v, uint64_t task_va, pid_t tid, bool *ret_pending, char *ret_state);

/* `info registers -a` → per-vCPU GS base, CR3, CPL.  *ret malloc'd. */
int vmi_parse_info_registers(const char *text, VmiVcpuRegs **ret, size_t *ret_n);
/* Use GS bases: map vCPUs to CPUs, confirm the run queues (and find them
 * when the task-group route failed).  Returns how many vCPUs were in
 * kernel mode. */
int vmi_apply_gs(Vmi *v, const VmiVcpuRegs *regs, size_t n);

char vmi_state_char(uint32_t state, uint32_t exit_state);

/* Rate limit of re-attaches (one per view). */
typedef struct VmiReattach {
        uint64_t last_us;          /* of the last attempt */
        uint64_t interval_us;      /* before the next one is allowed */
        uint64_t attempts, refused;
} VmiReattach;
bool vmi_reattach_allowed(VmiReattach *rl, uint64_t now_us);
/* The cheap per-round check that init_task is still "swapper/0" where
 * attach found it.  If it was only renamed (still pid 0, its pid 1 still
 * leads back to it with the same offsets), it is still valid.  Otherwise (a
 * guest reboot: new layout and KASLR offsets, or a guest rewriting its
 * kernel), attach again, at most as often as rl allows.
 * Returns 0 (valid), 1 (attached again: *v replaced), -EAGAIN (moved, and too
 * soon to re-attach: vmi_last_error(NULL) says when), or attach's -errno. */
int vmi_revalidate(Vmi **v, VmiMem *mem, const VmiOptions *opt, VmiReattach *rl, uint64_t now_us);
