/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "lever/journal.h"

struct Journal {
        char *dir, *path;
        int lock_fd;
        json_object *entries;   /* array */
};

void journal_free(Journal *j) {
        if (!j)
                return;
        if (j->lock_fd >= 0)
                close(j->lock_fd);   /* drops the flock */
        json_object_put(j->entries);
        free(j->dir);
        free(j->path);
        free(j);
}

const char *journal_path(const Journal *j) {
        return j->path;
}

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
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return negative_errno();
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
        return write_file_atomic(j->path, text, strlen(text));
}

int journal_open(const char *state_dir, Journal **ret) {
        if (!state_dir)
                state_dir = getenv("XVSCHED_STATE_DIR");
        if (!state_dir || !*state_dir)
                state_dir = XVSCHED_STATE_DIR_DEFAULT;
        int r = mkdir_p(state_dir);
        if (r < 0)
                return r;

        Journal *j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->lock_fd = -EBADF;
        if (asprintf(&j->path, "%s/state.json", state_dir) < 0 || !(j->dir = strdup(state_dir))) {
                journal_free(j);
                return -ENOMEM;
        }
        _cleanup_free_ char *lock = NULL;
        if (asprintf(&lock, "%s/lock", state_dir) < 0) {
                journal_free(j);
                return -ENOMEM;
        }
        j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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
        r = read_full_file(j->path, 64 << 20, &text, NULL);
        if (r == -ENOENT) {
                j->entries = json_object_new_array();
        } else if (r < 0) {
                journal_free(j);
                return r;
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

size_t journal_size(const Journal *j) {
        return json_object_array_length(j->entries);
}

json_object *journal_entry(const Journal *j, size_t i) {
        return json_object_array_get_idx(j->entries, i);
}
