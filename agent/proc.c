/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/macros.h"
#include "proc.h"

#define PF_KTHREAD 0x00200000u

static int parse_u64(const char *s, uint64_t *ret) {
        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        uint64_t v = 0;
        for (; *s; s++) {
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static int parse_i64(const char *s, int64_t *ret) {
        bool neg = *s == '-';
        uint64_t u;
        int r = parse_u64(neg ? s + 1 : s, &u);
        if (r < 0)
                return r;
        if (u > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = neg ? -(int64_t) u : (int64_t) u;
        return 0;
}

int proc_parse_stat(const char *buf, size_t len, ProcTask *ret) {
        const char *open = memchr(buf, '(', len);
        if (!open)
                return -EINVAL;
        const char *close = NULL;
        for (const char *p = buf + len; p > open + 1; p--)
                if (p[-1] == ')') {
                        close = p - 1;
                        break;
                }
        if (!close)
                return -EINVAL;

        ProcTask t = {};
        /* Field 1: the tid, before the '('. */
        char num[32];
        size_t nl = (size_t) (open - buf);
        while (nl > 0 && buf[nl - 1] == ' ')
                nl--;
        if (nl == 0 || nl >= sizeof num)
                return -EINVAL;
        memcpy(num, buf, nl);
        num[nl] = 0;
        int64_t v;
        if (parse_i64(num, &v) < 0 || v <= 0 || v > INT32_MAX)
                return -EINVAL;
        t.tid = (pid_t) v;

        size_t cl = MIN((size_t) (close - open - 1), sizeof t.comm - 1);
        memcpy(t.comm, open + 1, cl);
        t.comm[cl] = 0;

        /* Fields 3.. after ") ". */
        const char *p = close + 1, *end = buf + len;
        unsigned field = 3;
        bool have_policy = false;
        while (p < end && field <= 41) {
                while (p < end && *p == ' ')
                        p++;
                const char *q = p;
                while (q < end && *q != ' ' && *q != '\n')
                        q++;
                if (q == p)
                        break;
                size_t fl = (size_t) (q - p);
                if (fl >= sizeof num)
                        return -EINVAL;
                memcpy(num, p, fl);
                num[fl] = 0;
                p = q;

                uint64_t u;
                int64_t i;
                switch (field) {
                case 3:
                        if (fl != 1 || !isalpha((unsigned char) num[0]))
                                return -EINVAL;
                        t.state = num[0];
                        break;
                case 9:
                        if (parse_u64(num, &u) < 0)
                                return -EINVAL;
                        t.kthread = (u & PF_KTHREAD) != 0;
                        break;
                case 14:
                case 15:
                        if (parse_u64(num, &u) < 0)
                                return -EINVAL;
                        t.cpu_ticks += u;
                        break;
                case 19:
                        if (parse_i64(num, &i) < 0 || i < -20 || i > 19)
                                return -EINVAL;
                        t.nice = (int) i;
                        break;
                case 20:
                        if (parse_u64(num, &u) < 0 || u > INT32_MAX)
                                return -EINVAL;
                        t.num_threads = (unsigned) u;
                        break;
                case 22:
                        if (parse_u64(num, &u) < 0)
                                return -EINVAL;
                        t.start_ticks = u;
                        break;
                case 39:
                        if (parse_i64(num, &i) < 0 || i < 0 || i > 1 << 20)
                                return -EINVAL;
                        t.cpu = (int) i;
                        break;
                case 40:
                        if (parse_u64(num, &u) < 0 || u > 99)
                                return -EINVAL;
                        t.rt_priority = (int) u;
                        break;
                case 41:
                        if (parse_u64(num, &u) < 0 || u > 7)
                                return -EINVAL;
                        t.policy = (int) u;
                        have_policy = true;
                        break;
                default:
                        break;
                }
                field++;
        }
        if (!have_policy)
                return -EINVAL;
        *ret = t;
        return 0;
}

static ssize_t read_at(int dirfd, const char *path, char *buf, size_t size) {
        int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        size_t len = 0;
        while (len < size) {
                ssize_t k = read(fd, buf + len, size - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = errno == ESRCH ? -ESRCH : negative_errno();
                        close(fd);
                        return r;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        close(fd);
        return (ssize_t) len;
}

int proc_get_tgid(const char *root, pid_t tid) {
        char path[64], buf[4096];
        snprintf(path, sizeof path, "%s/%d/status", root, (int) tid);
        ssize_t n = read_at(AT_FDCWD, path, buf, sizeof buf - 1);
        if (n < 0)
                return (int) n;
        buf[n] = 0;
        char *p = strstr(buf, "\nTgid:");
        if (!p)
                return -EINVAL;
        p += 6;
        while (*p == ' ' || *p == '\t')
                p++;
        char *e = p;
        while (isdigit((unsigned char) *e))
                e++;
        *e = 0;
        int64_t v;
        if (parse_i64(p, &v) < 0 || v <= 0 || v > INT32_MAX)
                return -EINVAL;
        return (int) v;
}

static int read_stat_at(int dirfd, const char *path, pid_t pid, ProcTask *ret) {
        char buf[1024];
        ssize_t n = read_at(dirfd, path, buf, sizeof buf);
        if (n < 0)
                return (int) n;
        if (n == 0)
                return -ESRCH;
        int r = proc_parse_stat(buf, (size_t) n, ret);
        if (r < 0)
                return r;
        ret->pid = pid;
        return 0;
}

/* ---- the fd cache ---- */

void proc_fd_cache_init(ProcFdCache *c, size_t max_fds) {
        *c = (ProcFdCache) { .max_fds = max_fds };
}

void proc_fd_cache_done(ProcFdCache *c) {
        for (size_t i = 0; i < c->cap; i++)
                if (c->slots[i].key != 0 && c->slots[i].fd >= 0)
                        close(c->slots[i].fd);
        free(c->slots);
        *c = (ProcFdCache) { .max_fds = c->max_fds };
}

static size_t slot_of(const ProcFdCache *c, int key) {
        uint32_t h = (uint32_t) key * 2654435761u;
        size_t i = h & (c->cap - 1);
        while (c->slots[i].key != 0 && c->slots[i].key != key)
                i = (i + 1) & (c->cap - 1);
        return i;
}

static int cache_rehash(ProcFdCache *c, size_t cap, bool drop_stale) {
        ProcFdEntry *old = c->slots;
        size_t old_cap = c->cap;
        ProcFdEntry *n = calloc(cap, sizeof *n);
        if (!n)
                return -ENOMEM;
        c->slots = n;
        c->cap = cap;
        c->n = 0;
        for (size_t i = 0; i < old_cap; i++) {
                if (old[i].key == 0)
                        continue;
                if (drop_stale && (old[i].gen != c->gen || old[i].fd < 0)) {
                        if (old[i].fd >= 0)
                                close(old[i].fd);
                        continue;
                }
                c->slots[slot_of(c, old[i].key)] = old[i];
                c->n++;
        }
        free(old);
        return 0;
}

/* Read a stat file through the cache; falls back to open/read/close. */
static ssize_t cached_read(ProcFdCache *c, int key, int dirfd, const char *path, char *buf, size_t size) {
        if (!c || c->max_fds == 0)
                return read_at(dirfd, path, buf, size);
        ProcFdEntry *e = NULL;
        if (c->cap > 0) {
                e = &c->slots[slot_of(c, key)];
                if (e->key != key)
                        e = NULL;
        }
        if (e && e->fd >= 0) {
                ssize_t k = pread(e->fd, buf, size, 0);
                if (k > 0) {
                        e->gen = c->gen;
                        return k;
                }
                /* The task is gone (ESRCH), and the id may be reused: open
                 * the path again.  A failed entry keeps fd -1 and an old
                 * generation, so the end of the snapshot drops it. */
                close(e->fd);
                e->fd = -1;
        }
        int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        ssize_t k = pread(fd, buf, size, 0);
        if (k < 0)
                k = errno == ESRCH ? -ESRCH : negative_errno();
        if (k <= 0) {
                close(fd);
                return k;
        }
        if (e) {
                e->fd = fd;
                e->gen = c->gen;
                return k;
        }
        if (c->n >= c->max_fds ||
            ((c->n + 1) * 2 > c->cap && cache_rehash(c, c->cap ? c->cap * 2 : 256, false) < 0)) {
                close(fd);
                return k;
        }
        c->slots[slot_of(c, key)] = (ProcFdEntry) { .key = key, .fd = fd, .gen = c->gen };
        c->n++;
        return k;
}

static int read_stat_cached(ProcFdCache *c, int key, int dirfd, const char *path, pid_t pid, ProcTask *ret) {
        char buf[1024];
        ssize_t n = cached_read(c, key, dirfd, path, buf, sizeof buf);
        if (n < 0)
                return (int) n;
        if (n == 0)
                return -ESRCH;
        int r = proc_parse_stat(buf, (size_t) n, ret);
        if (r < 0)
                return r;
        ret->pid = pid;
        return 0;
}

int proc_read_task(const char *root, pid_t pid, pid_t tid, ProcTask *ret) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%d/task/%d/stat", root, (int) pid, (int) tid);
        return read_stat_at(AT_FDCWD, path, pid, ret);
}

static uint64_t fnv1a(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) s[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

static int snap_add_string(ProcSnapshot *s, const char *str, size_t n, uint32_t *ret_off) {
        if (s->strings_len + n + 1 > s->strings_cap) {
                size_t ncap = s->strings_cap ? s->strings_cap * 2 : 16384;
                while (ncap < s->strings_len + n + 1)
                        ncap *= 2;
                if (ncap > UINT32_MAX)
                        return -E2BIG;
                char *b = realloc(s->strings, ncap);
                if (!b)
                        return -ENOMEM;
                s->strings = b;
                s->strings_cap = ncap;
        }
        memcpy(s->strings + s->strings_len, str, n);
        s->strings[s->strings_len + n] = 0;
        *ret_off = (uint32_t) s->strings_len;
        s->strings_len += n + 1;
        return 0;
}

static int cmp_tid(const void *a, const void *b) {
        const ProcTask *x = a, *y = b;
        return (x->tid > y->tid) - (x->tid < y->tid);
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return false;
        return true;
}

static int snap_grow(ProcSnapshot *s) {
        if (s->n < s->cap)
                return 0;
        size_t ncap = s->cap ? s->cap * 2 : 256;
        ProcTask *nt = realloc(s->tasks, ncap * sizeof *nt);
        if (!nt)
                return -ENOMEM;
        s->tasks = nt;
        s->cap = ncap;
        return 0;
}

/* The previous snapshot's entry for this process leader, if it is the same
 * process (start time) and has not exec'd (comm): its cmdline is reused. */
static const ProcTask *prev_leader(const ProcSnapshot *prev, const ProcTask *t) {
        if (!prev || prev->n == 0)
                return NULL;
        size_t lo = 0, hi = prev->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (prev->tasks[mid].tid < t->pid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo >= prev->n)
                return NULL;
        const ProcTask *p = &prev->tasks[lo];
        if (p->tid != t->pid || p->pid != t->pid || p->start_ticks != t->start_ticks || strcmp(p->comm, t->comm) != 0)
                return NULL;
        return p;
}

int proc_snapshot(const char *root, size_t max_tasks, size_t cmdline_max, const ProcSnapshot *prev,
                  ProcFdCache *cache, ProcSnapshot *ret) {
        ProcSnapshot s = {};
        int r = 0;
        if (cache)
                cache->gen++;
        DIR *d = opendir(root);
        if (!d)
                return negative_errno();
        char *cmd = cmdline_max > 0 ? malloc(cmdline_max + 1) : NULL;
        if (cmdline_max > 0 && !cmd) {
                closedir(d);
                return -ENOMEM;
        }

        struct dirent *de;
        while ((de = readdir(d))) {
                if (!all_digits(de->d_name) || strlen(de->d_name) > 10)
                        continue;
                int64_t v;
                if (parse_i64(de->d_name, &v) < 0 || v <= 0 || v > INT32_MAX)
                        continue;
                pid_t pid = (pid_t) v;

                /* The process's own stat first: most processes (and every
                 * kernel thread) have one thread, and then that is all we
                 * need: no task directory to list. */
                ProcTask leader;
                char path[48];
                snprintf(path, sizeof path, "%d/stat", (int) pid);
                if (read_stat_cached(cache, -pid, dirfd(d), path, pid, &leader) < 0)
                        continue;   /* gone, or unparsable */

                uint32_t cmd_off = 0, cmd_len = 0;
                uint64_t cmd_hash = 0;
                if (cmdline_max > 0 && !leader.kthread) {
                        const ProcTask *p = prev_leader(prev, &leader);
                        const char *src;
                        size_t l;
                        if (p && p->cmdline_len <= cmdline_max) {
                                src = proc_task_cmdline(prev, p);
                                l = p->cmdline_len;
                        } else {
                                snprintf(path, sizeof path, "%d/cmdline", (int) pid);
                                ssize_t n = read_at(dirfd(d), path, cmd, cmdline_max);
                                l = n > 0 ? (size_t) n : 0;
                                while (l > 0 && cmd[l - 1] == 0)
                                        l--;
                                for (size_t i = 0; i < l; i++)
                                        if (cmd[i] == 0)
                                                cmd[i] = ' ';
                                src = cmd;
                        }
                        r = snap_add_string(&s, src, l, &cmd_off);
                        if (r < 0)
                                goto fail;
                        cmd_len = (uint32_t) l;
                        cmd_hash = fnv1a(src, l);
                }

                if (leader.num_threads <= 1 && leader.tid == pid) {
                        if (s.n >= max_tasks) {
                                r = -E2BIG;
                                goto fail;
                        }
                        if ((r = snap_grow(&s)) < 0)
                                goto fail;
                        leader.cmdline_off = cmd_off;
                        leader.cmdline_len = cmd_len;
                        leader.cmdline_hash = cmd_hash;
                        s.tasks[s.n++] = leader;
                        continue;
                }

                /* Several threads: the process's stat sums their CPU time,
                 * so read each thread's own. */
                char tpath[32];
                snprintf(tpath, sizeof tpath, "%d/task", (int) pid);
                int tfd = openat(dirfd(d), tpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (tfd < 0)
                        continue;   /* gone */
                DIR *td = fdopendir(tfd);
                if (!td) {
                        close(tfd);
                        continue;
                }
                struct dirent *te;
                while ((te = readdir(td))) {
                        if (!all_digits(te->d_name) || strlen(te->d_name) > 10)
                                continue;
                        if (s.n >= max_tasks) {
                                closedir(td);
                                r = -E2BIG;
                                goto fail;
                        }
                        if ((r = snap_grow(&s)) < 0) {
                                closedir(td);
                                goto fail;
                        }
                        char spath[32];
                        snprintf(spath, sizeof spath, "%s/stat", te->d_name);
                        ProcTask *t = &s.tasks[s.n];
                        int64_t tv;
                        if (parse_i64(te->d_name, &tv) < 0 || tv <= 0 || tv > INT32_MAX)
                                continue;
                        if (read_stat_cached(cache, (int) tv, tfd, spath, pid, t) < 0)
                                continue;   /* gone, or unparsable: skip rather than fail */
                        t->cmdline_off = cmd_off;
                        t->cmdline_len = cmd_len;
                        t->cmdline_hash = cmd_hash;
                        s.n++;
                }
                closedir(td);
        }
        closedir(d);
        free(cmd);
        /* Close what this snapshot did not use (exited threads). */
        if (cache && cache->cap > 0)
                (void) cache_rehash(cache, cache->cap, true);
        if (s.n > 1)
                qsort(s.tasks, s.n, sizeof *s.tasks, cmp_tid);
        *ret = s;
        return 0;

fail:
        closedir(d);
        free(cmd);
        proc_snapshot_free(&s);
        return r;
}

void proc_snapshot_free(ProcSnapshot *s) {
        free(s->tasks);
        free(s->strings);
        *s = (ProcSnapshot) {};
}

const char *proc_task_cmdline(const ProcSnapshot *s, const ProcTask *t) {
        if (!s->strings)
                return "";
        return s->strings + t->cmdline_off;
}

bool proc_task_changed(const ProcTask *a, const ProcTask *b) {
        return a->pid != b->pid || a->state != b->state || a->cpu != b->cpu ||
               a->cpu_ticks != b->cpu_ticks || a->nice != b->nice || a->policy != b->policy ||
               a->rt_priority != b->rt_priority || a->start_ticks != b->start_ticks ||
               a->kthread != b->kthread || a->cmdline_hash != b->cmdline_hash ||
               strcmp(a->comm, b->comm) != 0;
}

static const char *const policy_names[] = {
        [SCHED_OTHER] = "other", [SCHED_FIFO] = "fifo", [SCHED_RR] = "rr",
        [SCHED_BATCH] = "batch", [SCHED_IDLE] = "idle", [6] = "deadline",
};

const char *sched_policy_to_string(int policy) {
        if (policy >= 0 && (size_t) policy < ELEMENTSOF(policy_names) && policy_names[policy])
                return policy_names[policy];
        return "unknown";
}

int sched_policy_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(policy_names); i++)
                if (policy_names[i] && strcmp(policy_names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}
