/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "host/proc.h"
#include "lever/journal.h"

struct Journal {
        char *dir, *path;
        int dir_fd;
        int lock_fd;
        json_object *entries;   /* array */
};

void journal_free(Journal *j) {
        if (!j)
                return;
        if (j->lock_fd >= 0)
                close(j->lock_fd);   /* drops the flock */
        if (j->dir_fd >= 0)
                close(j->dir_fd);
        json_object_put(j->entries);
        free(j->dir);
        free(j->path);
        free(j);
}

const char *journal_path(const Journal *j) {
        return j->path;
}

const char *journal_state_dir(const char *state_dir) {
        if (!state_dir || !*state_dir)
                state_dir = getenv("XVSCHED_STATE_DIR");
        return state_dir && *state_dir ? state_dir : XVSCHED_STATE_DIR_DEFAULT;
}

/* Create the missing parts of dir.  An existing one is accepted here,
 * whatever it is: state_dir_open() checks the last part. */
static int mkdir_p(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return negative_errno();
                        *s = '/';
                }
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

/* The state directory holds root's undo records, its lock and the control
 * socket: it must be a real directory (not a symlink) owned by us, that
 * nobody else can write to.  Everything in it is then opened relative to
 * the returned fd, without following symlinks. */
int journal_state_dir_open(const char *dir, int *ret_fd) {
        int r = mkdir_p(dir);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                struct stat lst;
                if ((r == -ELOOP || r == -ENOTDIR) && lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode)) {
                        log_debug("state directory %s is a symlink", dir);
                        return JOURNAL_UNSAFE_DIR;
                }
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                log_debug("state directory %s: owner %u, mode %04o (want owner %u, not writable by group or others)",
                          dir, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777), (unsigned) geteuid());
                return JOURNAL_UNSAFE_DIR;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int journal_save(Journal *j) {
        json_object *root = json_object_new_object();
        if (!root)
                return -ENOMEM;
        json_object_object_add(root, "version", json_object_new_int(1));
        json_object_object_add(root, "entries", json_object_get(j->entries));
        const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        _cleanup_free_ char *text = NULL;
        int r = asprintf(&text, "%s\n", s) < 0 ? -ENOMEM : 0;
        json_object_put(root);
        if (r < 0)
                return r;
        return write_file_atomic_at(j->dir_fd, "state.json", text, strlen(text));
}

int journal_open(const char *state_dir, Journal **ret) {
        state_dir = journal_state_dir(state_dir);

        Journal *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->lock_fd = j->dir_fd = -EBADF;
        int r = journal_state_dir_open(state_dir, &j->dir_fd);
        if (r < 0) {
                journal_free(j);
                return r;
        }
        if (asprintf(&j->path, "%s/state.json", state_dir) < 0 || !(j->dir = strdup(state_dir))) {
                journal_free(j);
                return -ENOMEM;
        }
        j->lock_fd = openat(j->dir_fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (j->lock_fd < 0) {
                r = negative_errno();
                journal_free(j);
                return r;
        }
        /* Another xvsched holds it: wait up to 5 s (a CLI call is short). */
        for (int i = 0;; i++) {
                if (flock(j->lock_fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK || i >= 500) {
                        journal_free(j);
                        return -EBUSY;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }

        _cleanup_free_ char *text = NULL;
        r = read_full_file_at(j->dir_fd, "state.json", O_NOFOLLOW | O_NOCTTY, 64 << 20, &text, NULL);
        if (r == -ENOENT) {
                j->entries = json_object_new_array();
        } else if (r < 0) {
                journal_free(j);
                return r == -ELOOP ? -EBADMSG : r;
        } else {
                json_object *root = json_tokener_parse(text), *v, *e;
                if (!root || !json_object_object_get_ex(root, "version", &v) || json_object_get_int(v) != 1 ||
                    !json_object_object_get_ex(root, "entries", &e) || !json_object_is_type(e, json_type_array)) {
                        json_object_put(root);
                        journal_free(j);
                        return -EBADMSG;
                }
                j->entries = json_object_get(e);
                json_object_put(root);
        }
        if (!j->entries) {
                journal_free(j);
                return -ENOMEM;
        }
        *ret = j;
        return 0;
}

static const char *entry_key(json_object *e) {
        json_object *k;
        return json_object_object_get_ex(e, "key", &k) ? json_object_get_string(k) : NULL;
}

bool journal_has(const Journal *j, const char *key) {
        for (size_t i = 0; i < json_object_array_length(j->entries); i++) {
                const char *k = entry_key(json_object_array_get_idx(j->entries, i));
                if (k && streq(k, key))
                        return true;
        }
        return false;
}

int journal_record(Journal *j, json_object *entry) {
        const char *key = entry_key(entry);
        if (!key) {
                json_object_put(entry);
                return -EINVAL;
        }
        if (journal_has(j, key)) {
                json_object_put(entry);
                return 0;
        }
        json_object_array_add(j->entries, entry);
        int r = journal_save(j);
        if (r < 0) {
                /* Not persisted: the caller must not make the change. */
                json_object_array_del_idx(j->entries, json_object_array_length(j->entries) - 1, 1);
                return r;
        }
        return 1;
}

static json_object *journal_find(const Journal *j, const char *key) {
        for (size_t i = 0; i < json_object_array_length(j->entries); i++) {
                json_object *e = json_object_array_get_idx(j->entries, i);
                const char *k = entry_key(e);
                if (k && streq(k, key))
                        return e;
        }
        return NULL;
}

static int64_t entry_int(json_object *e, const char *k) {
        json_object *v;
        return json_object_object_get_ex(e, k, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
}

int journal_record_guest(Journal *j, json_object *entry) {
        const char *key = entry_key(entry);
        json_object *old = key ? journal_find(j, key) : NULL;
        if (!old)
                return journal_record(j, entry);
        pid_t opid = (pid_t) entry_int(old, "owner_pid");
        uint64_t ostart = (uint64_t) entry_int(old, "owner_start");
        pid_t npid = (pid_t) entry_int(entry, "owner_pid");
        uint64_t nstart = (uint64_t) entry_int(entry, "owner_start");
        if ((opid == npid && ostart == nstart) || (opid > 0 && ostart > 0 && host_process_alive(opid, ostart))) {
                json_object_put(entry);
                return 0;
        }
        /* Its owner is dead (or the entry names none): ours now. */
        json_object *saved = json_object_new_object();
        if (!saved) {
                json_object_put(entry);
                return -ENOMEM;
        }
        static const char *const fields[] = { "owner", "owner_pid", "owner_start" };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                json_object *v;
                if (json_object_object_get_ex(old, fields[i], &v))
                        json_object_object_add(saved, fields[i], json_object_get(v));
                if (json_object_object_get_ex(entry, fields[i], &v))
                        json_object_object_add(old, fields[i], json_object_get(v));
        }
        int r = journal_save(j);
        if (r < 0) {
                /* Not persisted: put the dead owner back, and make no change. */
                for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                        json_object *v;
                        if (json_object_object_get_ex(saved, fields[i], &v))
                                json_object_object_add(old, fields[i], json_object_get(v));
                        else
                                json_object_object_del(old, fields[i]);
                }
        }
        json_object_put(saved);
        json_object_put(entry);
        return r < 0 ? r : 2;
}

int journal_set_field(Journal *j, const char *key, const char *field, json_object *value) {
        json_object *e = journal_find(j, key), *old = NULL;
        if (!e || !field || streq(field, "key")) {
                json_object_put(value);
                return e ? -EINVAL : -ENOENT;
        }
        if (json_object_object_get_ex(e, field, &old))
                json_object_get(old);
        if (value)
                json_object_object_add(e, field, value);
        else
                json_object_object_del(e, field);
        int r = journal_save(j);
        if (r < 0) {
                /* Not persisted: the entry as it was, and no change. */
                if (old)
                        json_object_object_add(e, field, json_object_get(old));
                else
                        json_object_object_del(e, field);
        }
        json_object_put(old);
        return r;
}

int journal_remove(Journal *j, const char *key) {
        for (size_t i = 0; i < json_object_array_length(j->entries); i++) {
                const char *k = entry_key(json_object_array_get_idx(j->entries, i));
                if (k && streq(k, key)) {
                        json_object_array_del_idx(j->entries, i, 1);
                        return journal_save(j);
                }
        }
        return -ENOENT;
}

int journal_move_last(Journal *j, const char *key) {
        size_t n = json_object_array_length(j->entries);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(j->entries, i);
                const char *k = entry_key(e);
                if (!k || !streq(k, key))
                        continue;
                if (i == n - 1)
                        return 0;
                json_object_array_add(j->entries, json_object_get(e));
                json_object_array_del_idx(j->entries, i, 1);
                return journal_save(j);
        }
        return -ENOENT;
}

size_t journal_size(const Journal *j) {
        return json_object_array_length(j->entries);
}

json_object *journal_entry(const Journal *j, size_t i) {
        return json_object_array_get_idx(j->entries, i);
}

/* ---- typed entries for host levers ---- */

static json_object *lever_entry_new(const char *type, const char *owner, const char *domain, const char *fmt, ...)
        _printf_(4, 5);
static json_object *lever_entry_new(const char *type, const char *owner, const char *domain, const char *fmt, ...) {
        if (!domain)
                return NULL;
        owner = owner ?: "cli";
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *key = NULL;
        int k = vasprintf(&key, fmt, ap);
        va_end(ap);
        if (k < 0)
                return NULL;
        /* Each owner keeps its own original (journal.h). */
        _cleanup_free_ char *owned = NULL;
        if (!streq(owner, "cli") && asprintf(&owned, "%s:%s", owner, key) < 0)
                return NULL;
        json_object *e = json_object_new_object();
        if (!e)
                return NULL;
        json_object_object_add(e, "key", json_object_new_string(owned ?: key));
        json_object_object_add(e, "type", json_object_new_string(type));
        json_object_object_add(e, "domain", json_object_new_string(domain));
        json_object_object_add(e, "owner", json_object_new_string(owner));
        return e;
}

json_object *journal_entry_thread_new(const char *owner, const char *domain, pid_t tid, const ThreadSched *ts) {
        const char *policy = ts ? sched_policy_to_string(ts->policy) : NULL;
        if (tid <= 0 || !policy)
                return NULL;
        _cleanup_free_ char *aff = cpuset_format(&ts->affinity);
        if (!aff)
                return NULL;
        json_object *e = lever_entry_new("thread", owner, domain, "thread:%d:%" PRIu64, (int) tid, ts->start_time);
        if (!e)
                return NULL;
        json_object_object_add(e, "tid", json_object_new_int(tid));
        json_object_object_add(e, "start_time", json_object_new_int64((int64_t) ts->start_time));
        json_object_object_add(e, "nice", json_object_new_int(ts->nice));
        json_object_object_add(e, "policy", json_object_new_string(policy));
        json_object_object_add(e, "rt_priority", json_object_new_int(ts->rt_priority));
        json_object_object_add(e, "affinity", json_object_new_string(aff));
        return e;
}

json_object *journal_entry_cgroup_new(const char *owner, const char *domain, const char *root, const char *cgroup,
                                      const char *knob, const char *saved) {
        if (!root || !cgroup || !knob || !saved)
                return NULL;
        json_object *e = lever_entry_new("cgroup", owner, domain, "cgroup:%s:%s:%s", root, cgroup, knob);
        if (!e)
                return NULL;
        json_object_object_add(e, "root", json_object_new_string(root));
        json_object_object_add(e, "cgroup", json_object_new_string(cgroup));
        json_object_object_add(e, "knob", json_object_new_string(knob));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        return e;
}

json_object *journal_entry_move_new(const char *owner, const char *domain, const char *root, pid_t pid,
                                    uint64_t start_time, const char *saved, const char *created) {
        if (!root || pid <= 0 || !saved || !created)
                return NULL;
        json_object *e = lever_entry_new("move", owner, domain, "move:%d:%" PRIu64, (int) pid, start_time);
        if (!e)
                return NULL;
        json_object_object_add(e, "root", json_object_new_string(root));
        json_object_object_add(e, "pid", json_object_new_int(pid));
        json_object_object_add(e, "start_time", json_object_new_int64((int64_t) start_time));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        json_object_object_add(e, "created", json_object_new_string(created));
        return e;
}

json_object *journal_entry_rtbudget_new(const char *owner, const char *domain, const char *root, const char *cgroup,
                                        const char *saved) {
        if (!root || !cgroup || !saved)
                return NULL;
        json_object *e = lever_entry_new("rtbudget", owner, domain, "rtbudget:%s:%s", root, cgroup);
        if (!e)
                return NULL;
        json_object_object_add(e, "root", json_object_new_string(root));
        json_object_object_add(e, "cgroup", json_object_new_string(cgroup));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        return e;
}

json_object *journal_entry_autogroup_new(const char *owner, const char *domain, pid_t pid, uint64_t start_time, int nice) {
        if (pid <= 0)
                return NULL;
        json_object *e = lever_entry_new("autogroup", owner, domain, "autogroup:%d:%" PRIu64, (int) pid, start_time);
        if (!e)
                return NULL;
        json_object_object_add(e, "pid", json_object_new_int(pid));
        json_object_object_add(e, "start_time", json_object_new_int64((int64_t) start_time));
        json_object_object_add(e, "nice", json_object_new_int(nice));
        return e;
}

json_object *journal_entry_hv_new(const char *owner, const char *domain, const char *backend, const char *uri,
                                  const char *uuid, const char *lever, const char *saved) {
        if (!domain || !backend || !lever || !saved)
                return NULL;
        json_object *e = lever_entry_new("hv", owner, domain, "hv:%s:%s:%s", backend, uuid ?: domain, lever);
        if (!e)
                return NULL;
        json_object_object_add(e, "backend", json_object_new_string(backend));
        if (uri)
                json_object_object_add(e, "uri", json_object_new_string(uri));
        if (uuid)
                json_object_object_add(e, "uuid", json_object_new_string(uuid));
        json_object_object_add(e, "lever", json_object_new_string(lever));
        json_object_object_add(e, "saved", json_object_new_string(saved));
        return e;
}

/* ---- typed entries for run-state changes in guests ---- */

static json_object *vm_entry_new(const char *key, const char *type, const JournalOwner *o, const JournalVm *vm) {
        json_object *e = json_object_new_object();
        if (!e)
                return NULL;
        json_object_object_add(e, "key", json_object_new_string(key));
        json_object_object_add(e, "type", json_object_new_string(type));
        json_object_object_add(e, "owner", json_object_new_string(o->name ? o->name : "cli"));
        json_object_object_add(e, "owner_pid", json_object_new_int(o->pid));
        json_object_object_add(e, "owner_start", json_object_new_int64((int64_t) o->start_time));
        json_object_object_add(e, "domain", json_object_new_string(vm->domain));
        json_object_object_add(e, "match", json_object_new_string(vm->match ? vm->match : vm->domain));
        json_object_object_add(e, "qemu_pid", json_object_new_int(vm->qemu_pid));
        json_object_object_add(e, "qemu_start", json_object_new_int64((int64_t) vm->qemu_start));
        if (vm->qmp_socket)
                json_object_object_add(e, "qmp_socket", json_object_new_string(vm->qmp_socket));
        if (vm->agent_socket)
                json_object_object_add(e, "agent_socket", json_object_new_string(vm->agent_socket));
        return e;
}

json_object *journal_entry_guest_stop_new(const JournalOwner *o, const JournalVm *vm, pid_t pid, uint64_t start_ns) {
        if (!o || !vm || !vm->domain || pid <= 1 || start_ns == 0)
                return NULL;
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "gstop:%s:%d:%" PRIu64, vm->domain, (int) pid, start_ns) < 0)
                return NULL;
        json_object *e = vm_entry_new(key, "guest-stop", o, vm);
        if (!e)
                return NULL;
        json_object_object_add(e, "pid", json_object_new_int(pid));
        json_object_object_add(e, "start_time_ns", json_object_new_int64((int64_t) start_ns));
        return e;
}

json_object *journal_entry_pause_new(const JournalOwner *o, const JournalVm *vm) {
        if (!o || !vm || !vm->domain || !vm->qmp_socket || vm->qemu_pid <= 0 || vm->qemu_start == 0)
                return NULL;
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "pause:%s:%d:%" PRIu64, vm->qmp_socket, (int) vm->qemu_pid, vm->qemu_start) < 0)
                return NULL;
        json_object *e = vm_entry_new(key, "pause", o, vm);
        if (e && vm->uuid) {
                json_object_object_add(e, "via", json_object_new_string("libvirt"));
                if (vm->libvirt_uri)
                        json_object_object_add(e, "libvirt_uri", json_object_new_string(vm->libvirt_uri));
                json_object_object_add(e, "uuid", json_object_new_string(vm->uuid));
        }
        return e;
}

bool journal_guest_start_same(uint64_t a_ns, uint64_t b_ns) {
        uint64_t d = a_ns > b_ns ? a_ns - b_ns : b_ns - a_ns;
        return a_ns != 0 && b_ns != 0 && d < 10 * 1000 * 1000;
}

const char *journal_field_str(json_object *e, const char *k) {
        json_object *v;
        return json_object_object_get_ex(e, k, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                                : NULL;
}

int64_t journal_field_int(json_object *e, const char *k, int64_t def) {
        json_object *v;
        return json_object_object_get_ex(e, k, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
                                                                                             : def;
}
