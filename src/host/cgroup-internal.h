/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared between cgroup.c (the front end) and the two backends.  Not a
 * public interface. */

#include "host/cgroup.h"

/* The v1 controllers xvsched uses.  On v2 every controller lives at the root. */
typedef enum CgroupController {
        CGROUP_CTRL_CPU,
        CGROUP_CTRL_CPUACCT,
        CGROUP_CTRL_CPUSET,
        CGROUP_CTRL_MEMORY,
        CGROUP_CTRL_BLKIO,
        _CGROUP_CTRL_MAX,
} CgroupController;

const char *cgroup_controller_to_string(CgroupController c);
CgroupController cgroup_controller_from_string(const char *s);   /* -1 if unknown */

/* One backend: mandatory slots are name/version/open; any other slot may be
 * NULL and then the front end answers -EOPNOTSUPP. */
typedef struct CgroupBackend {
        const char *name;
        CgroupVersion version;

        /* Detect and fill h (h->root already set).  -ENOMEDIUM: not this version. */
        int (*open)(CgroupHost *h);

        int (*knob_path)(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret);
        int (*get_weight)(const CgroupHost *h, const char *cg, unsigned *ret);
        int (*set_weight)(const CgroupHost *h, const char *cg, unsigned weight);
        int (*get_cap)(const CgroupHost *h, const char *cg, double *ret);
        int (*set_cap)(const CgroupHost *h, const char *cg, double percent);
        int (*get_memory_max)(const CgroupHost *h, const char *cg, uint64_t *ret);
        int (*set_memory_max)(const CgroupHost *h, const char *cg, uint64_t bytes);
        int (*get_io_weight)(const CgroupHost *h, const char *cg, unsigned *ret);
        int (*set_io_weight)(const CgroupHost *h, const char *cg, unsigned weight);
        /* Only for knobs whose raw form is not "the lines of knob_path's file". */
        int (*knob_save)(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret);
        int (*knob_restore)(const CgroupHost *h, const char *cg, CgroupKnob k, const char *saved);
        int (*get_cpu_usage_ns)(const CgroupHost *h, const char *cg, uint64_t *ret);
        int (*create)(const CgroupHost *h, const char *cg);
        int (*attach_pid)(const CgroupHost *h, const char *cg, pid_t pid);
        int (*remove)(const CgroupHost *h, const char *cg);
        /* The controller whose line of /proc/PID/cgroup cgroup_pid_path()
         * reads ("cpu" on v1); NULL: the unified "0::" line. */
        const char *pid_controller;
        int (*pid_save_paths)(const CgroupHost *h, const char *proc_root, pid_t pid, char **ret);
        int (*attach_pid_saved)(const CgroupHost *h, pid_t pid, const char *saved);
} CgroupBackend;

struct CgroupHost {
        char *root;
        const CgroupBackend *backend;
        /* v1: the directory of each controller's hierarchy (symlinks resolved
         * by the kernel at open time, co-mounts found by name); NULL when the
         * controller is not mounted.  v2: all equal to root. */
        char *ctrl_dir[_CGROUP_CTRL_MAX];
        /* v1: true when ctrl_dir[c] is the same hierarchy as an earlier
         * controller's ("cpu,cpuacct"): skip it in mkdir/rmdir/attach. */
        bool ctrl_dup[_CGROUP_CTRL_MAX];
        /* v2 on the real cgroup2 mount of a host whose tree systemd owns
         * (systemd_owns_tree() and the system bus answered at open): the
         * bus; NULL otherwise.  cgroup-systemd.c routes the levers. */
        struct SystemdBus *sd_bus;
};

/* ---- cgroup v2: which way a lever goes (cgroup-systemd.c) ---- */

typedef enum CgroupRoute {
        CGROUP_ROUTE_FILE,   /* write the group's file; controllers missing on the way
                              * are enabled from enable_from down (NULL: none may be) */
        CGROUP_ROUTE_UNIT,   /* a unit's own group on a systemd-owned tree: runtime
                              * unit properties over D-Bus */
} CgroupRoute;

typedef struct CgroupPlan {
        CgroupRoute route;
        char *unit;          /* UNIT: the unit; FILE: the delegated unit cg lies in, or NULL */
        char *enable_from;   /* FILE: the highest group whose cgroup.subtree_control
                              * xvsched may change; NULL: none */
} CgroupPlan;

void cgroup_plan_done(CgroupPlan *p);
/* Pure.  systemd: the tree is systemd's; unit/unit_cg: the unit cg is or lies
 * in (NULL: none); delegated: that unit has Delegate=yes.
 *   not systemd                     FILE, enable from "/"
 *   systemd, no unit                FILE, enable nothing (systemd would undo it)
 *   systemd, delegated unit         FILE, enable from the unit's group down
 *   systemd, cg is the unit's group UNIT
 *   systemd, below a plain unit     FILE, enable nothing */
int cgroup_plan_decide(bool systemd, const char *cg, const char *unit, const char *unit_cg, bool delegated,
                       CgroupPlan *ret);
/* Pure.  The groups whose cgroup.subtree_control must hold a controller for
 * cg to have its files, from the top: every proper prefix of cg from
 * `from` down ("/" included when from is "/").  ret NULL-terminated. */
int cgroup_enable_levels(const char *cg, const char *from, char ***ret);
/* The v2 controller a knob needs: "cpu", "cpuset", "memory", "io". */
const char *cgroup_v2_knob_controller(CgroupKnob k);

/* A value for cgroup_route_set(). */
typedef struct CgroupValue {
        uint64_t u;          /* weight, io weight, bytes */
        double cap;
        const CpuSet *set;
} CgroupValue;

/* Hooks of the front end on v2 (no-ops on v1: 0).
 * open: at cgroup_host_open, set h->sd_bus where systemd owns the tree.
 * set: 1 when the value was set as a unit property; 0 when the caller writes
 *   the file (missing controllers enabled on the allowed path first).
 * save: 1 with *ret set ("unit:..." or "subtree:CTRL;GROUP;..." when the
 *   file appears only once controllers are enabled); 0: the caller saves
 *   the file.
 * restore: for saved forms that save produced ("unit:", "subtree:"):
 *   1 after restoring (or <0), 0 when saved is a plain file value. */
int cgroup_sd_open(CgroupHost *h);
int cgroup_route_set(const CgroupHost *h, const char *cg, CgroupKnob k, const CgroupValue *v);
int cgroup_route_save(const CgroupHost *h, const char *cg, CgroupKnob k, char **ret);
int cgroup_route_restore(const CgroupHost *h, const char *cg, CgroupKnob k, const char *saved);
/* Own groups on a systemd-owned tree: transient scopes in xvsched.slice.
 * create: 1 when cg is such a scope (nothing to do until a pid joins);
 * attach: 1 after starting the scope or adding pid to it; remove: 1 after
 * stopping it; 0: not such a host or group, the caller goes on. */
int cgroup_scope_create(const CgroupHost *h, const char *cg);
int cgroup_scope_attach(const CgroupHost *h, const char *cg, pid_t pid);
int cgroup_scope_remove(const CgroupHost *h, const char *cg);

extern const CgroupBackend cgroup_v1_backend;
extern const CgroupBackend cgroup_v2_backend;

/* Helpers shared by the backends (cgroup.c). */

/* -EINVAL unless cg is absolute and free of "." and ".." components. */
int cgroup_path_check(const char *cg);
/* CTRL_DIR + cg + "/" + file (file may be NULL for the directory itself).
 * -ENOENT when the controller is not mounted. */
int cgroup_file(const CgroupHost *h, CgroupController c, const char *cg, const char *file, char **ret);
/* First line of a cgroup file, trailing whitespace removed. */
int cgroup_read_line(const CgroupHost *h, CgroupController c, const char *cg, const char *file, char **ret);
int cgroup_read_u64(const CgroupHost *h, CgroupController c, const char *cg, const char *file, uint64_t *ret);
int cgroup_write(const CgroupHost *h, CgroupController c, const char *cg, const char *file, const char *value);
/* Whether cg/file exists: 1, 0 (directory exists, file does not), or -ENOENT
 * when the group itself (or the controller) does not exist. */
int cgroup_file_exists(const CgroupHost *h, CgroupController c, const char *cg, const char *file);
/* Whole file with the trailing newline removed and inner newlines turned into ';'. */
int cgroup_read_raw(const CgroupHost *h, CgroupController c, const char *cg, const char *file, char **ret);
/* Write each ';'-separated part of raw (one kernel write per line). "" writes "\n". */
int cgroup_write_raw(const CgroupHost *h, CgroupController c, const char *cg, const char *file, const char *raw);
/* mkdir every missing component of cg under the controller's directory.
 * Calls hook(prefix) on every level (created or already there), from the
 * top down, right after its mkdir. */
int cgroup_mkdir_p(const CgroupHost *h, CgroupController c, const char *cg,
                   int (*hook)(const CgroupHost *h, const char *cg_prefix, void *userdata), void *userdata);
/* Read PROC_ROOT/PID/cgroup and return the path on the line whose
 * controller list holds `controller` (NULL: the "0::" line). */
int cgroup_pid_line_path(const char *proc_root, pid_t pid, const char *controller, char **ret);
/* Parent of a cgroup path: "/a/b" → "/a", "/a" → "/". */
char *cgroup_parent(const char *cg);
/* Escape ';' and '\\' with '\\' (for the saved-paths format) and back. */
char *cgroup_escape_path(const char *p);
char *cgroup_unescape_next(const char **p);   /* reads up to an unescaped ';' */
