/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "basic/parse.h"
#include "host/proc.h"
#include "host/sched.h"

int proc_pids(const char *proc_root, pid_t **ret, size_t *ret_n) {
        DIR *dir = opendir(proc_root ?: "/proc");
        if (!dir)
                return -errno;
        pid_t *pids = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                int pid;
                if (safe_atoi(de->d_name, &pid) < 0 || pid <= 0)
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        pid_t *np = realloc(pids, ncap * sizeof *np);
                        if (!np) {
                                r = -ENOMEM;
                                break;
                        }
                        pids = np;
                        cap = ncap;
                }
                pids[n++] = (pid_t) pid;
        }
        closedir(dir);
        if (r < 0) {
                free(pids);
                return r;
        }
        *ret = pids;
        *ret_n = n;
        return 0;
}

bool host_process_alive(pid_t pid, uint64_t start_time) {
        ProcStat st;
        if (pid <= 0 || proc_stat_read(NULL, pid, 0, &st) < 0)
                return false;
        return st.state != 'Z' && st.state != 'X' && (start_time == 0 || st.start_time == start_time);
}

static bool pid_in(const pid_t *set, size_t n, pid_t pid) {
        for (size_t i = 0; i < n; i++)
                if (set[i] == pid)
                        return true;
        return false;
}

int proc_tree_grow(pid_t **pids, size_t *n, const pid_t *all, const pid_t *all_ppids, size_t n_all) {
        /* Repeat until no new child appears: bounded, each pass adds at
         * least one pid of all[] or stops. */
        for (bool grew = true; grew;) {
                grew = false;
                for (size_t i = 0; i < n_all; i++) {
                        if (all[i] <= 0 || pid_in(*pids, *n, all[i]) || !pid_in(*pids, *n, all_ppids[i]))
                                continue;
                        pid_t *np = realloc(*pids, (*n + 1) * sizeof *np);
                        if (!np)
                                return -ENOMEM;
                        *pids = np;
                        (*pids)[(*n)++] = all[i];
                        grew = true;
                }
        }
        return 0;
}

int proc_tree(const char *proc_root, pid_t root, pid_t **ret, size_t *ret_n) {
        ProcStat st;
        if (root <= 0)
                return -EINVAL;
        int r = proc_stat_read(proc_root, root, 0, &st);
        if (r == -ESRCH)
                return r;
        _cleanup_free_ pid_t *all = NULL, *ppids = NULL;
        size_t n_all = 0;
        r = proc_pids(proc_root, &all, &n_all);
        if (r < 0)
                return r;
        ppids = calloc(n_all ? n_all : 1, sizeof *ppids);
        pid_t *tree = malloc(sizeof *tree);
        if (!ppids || !tree) {
                free(tree);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_all; i++)
                ppids[i] = proc_stat_read(proc_root, all[i], 0, &st) >= 0 ? st.ppid : -1;
        tree[0] = root;
        size_t n = 1;
        r = proc_tree_grow(&tree, &n, all, ppids, n_all);
        if (r < 0) {
                free(tree);
                return r;
        }
        *ret = tree;
        *ret_n = n;
        return 0;
}

int proc_threads(const char *proc_root, pid_t pid, ProcThread **ret, size_t *ret_n) {
        char path[512];
        snprintf(path, sizeof path, "%s/%d/task", proc_root ? proc_root : "/proc", (int) pid);
        DIR *dir = opendir(path);
        if (!dir)
                return errno == ENOENT ? -ESRCH : negative_errno();
        ProcThread *v = NULL;
        size_t n = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                int tid;
                if (safe_atoi(de->d_name, &tid) < 0)
                        continue;
                char cpath[600];
                snprintf(cpath, sizeof cpath, "%s/%d/task/%d/comm", proc_root ? proc_root : "/proc", (int) pid, tid);
                _cleanup_free_ char *comm = NULL;
                if (read_one_line(cpath, &comm) < 0)
                        continue; /* the thread exited meanwhile */
                ProcThread *nv = realloc(v, (n + 1) * sizeof *nv);
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                v[n].tid = tid;
                snprintf(v[n].comm, sizeof v[n].comm, "%s", comm);
                n++;
        }
        closedir(dir);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
