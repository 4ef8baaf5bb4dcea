/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The per-kernel verdicts on agentless control routes (routes.h). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "vmi/routes.h"

void route_store_done(RouteStore *s) {
        free(s->e);
        s->e = NULL;
        s->n = 0;
}

const char *route_verdict_to_string(RouteVerdict v) {
        return v == ROUTE_VERDICT_DISABLED ? "disabled" : "ok";
}

bool route_kernel_valid(const char *k) {
        size_t n = k ? strnlen(k, ROUTE_KERNEL_MAX + 1) : 0;
        if (n == 0 || n > ROUTE_KERNEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = k[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '+' || c == '~' || c == '-'))
                        return false;
        }
        return true;
}

bool route_name_known(const char *route) {
        return route && streq(route, ROUTE_KCALL);
}

bool route_text_valid(const char *t, size_t max) {
        if (!t)
                return false;
        size_t n = strnlen(t, max + 1);
        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) t[i] < 0x20 || (unsigned char) t[i] >= 0x7f)
                        return false;
        return true;
}

static bool entry_valid(const RouteEntry *e) {
        return route_kernel_valid(e->kernel) && route_name_known(e->route) &&
               (e->verdict == ROUTE_VERDICT_OK || e->verdict == ROUTE_VERDICT_DISABLED) &&
               route_text_valid(e->reason, ROUTE_REASON_MAX) && route_text_valid(e->source, ROUTE_SOURCE_MAX) &&
               e->when >= 0;
}

/* A string member of o, copied into buf (size max + 1); required or not. */
static int get_str(json_object *o, const char *key, bool required, char *buf, size_t max) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !v) {
                buf[0] = 0;
                return required ? -EBADMSG : 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        const char *s = json_object_get_string(v);
        size_t n = (size_t) json_object_get_string_len(v);
        if (n > max || strlen(s) != n)   /* an embedded NUL */
                return -EBADMSG;
        memcpy(buf, s, n + 1);
        return 0;
}

const RouteEntry *route_store_find(const RouteStore *s, const char *route, const char *kernel) {
        if (!s || !route || !kernel)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->e[i].route, route) && streq(s->e[i].kernel, kernel))
                        return &s->e[i];
        return NULL;
}

int route_store_parse(const char *text, size_t len, RouteStore *ret, const char **ret_reason) {
        const char *why = NULL;
        RouteStore s = {};
        json_object *root = NULL;
        int r = -EBADMSG;
        if (!text || len == 0) {
                *ret = s;
                return 0;
        }
        if (len > ROUTE_FILE_MAX) {
                why = "too big";
                goto fail;
        }
        if (strnlen(text, len) != len) {
                why = "a NUL byte in the file";
                goto fail;
        }
        json_tokener *tok = json_tokener_new_ex(8);
        if (!tok) {
                r = -ENOMEM;
                why = "out of memory";
                goto fail;
        }
        root = json_tokener_parse_ex(tok, text, (int) len);
        bool ok = json_tokener_get_error(tok) == json_tokener_success;
        size_t used = (size_t) json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!ok || !root) {
                why = "not JSON";
                goto fail;
        }
        for (; used < len; used++)
                if (!strchr(" \t\r\n", text[used])) {
                        why = "text after the JSON object";
                        goto fail;
                }
        json_object *ver, *arr;
        if (!json_object_is_type(root, json_type_object) || !json_object_object_get_ex(root, "version", &ver) ||
            !json_object_is_type(ver, json_type_int) || json_object_get_int64(ver) != 1) {
                why = "not a version-1 routes file";
                goto fail;
        }
        if (!json_object_object_get_ex(root, "routes", &arr) || !json_object_is_type(arr, json_type_array)) {
                why = "no \"routes\" array";
                goto fail;
        }
        size_t n = json_object_array_length(arr);
        if (n > ROUTE_MAX) {
                why = "too many entries";
                goto fail;
        }
        if (n > 0 && !(s.e = calloc(n, sizeof *s.e))) {
                r = -ENOMEM;
                why = "out of memory";
                goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(arr, i), *w;
                RouteEntry *e = &s.e[i];
                char verdict[16];
                if (!o || !json_object_is_type(o, json_type_object)) {
                        why = "an entry is not an object";
                        goto fail;
                }
                if (get_str(o, "kernel", true, e->kernel, ROUTE_KERNEL_MAX) < 0 || !route_kernel_valid(e->kernel)) {
                        why = "an entry's kernel is missing or not a kernel release";
                        goto fail;
                }
                if (get_str(o, "route", true, e->route, ROUTE_NAME_MAX) < 0 || !route_name_known(e->route)) {
                        why = "an entry names no known route";
                        goto fail;
                }
                if (get_str(o, "verdict", true, verdict, sizeof verdict - 1) < 0 ||
                    !(streq(verdict, "ok") || streq(verdict, "disabled"))) {
                        why = "an entry's verdict is not \"ok\" or \"disabled\"";
                        goto fail;
                }
                e->verdict = streq(verdict, "ok") ? ROUTE_VERDICT_OK : ROUTE_VERDICT_DISABLED;
                if (get_str(o, "reason", false, e->reason, ROUTE_REASON_MAX) < 0 ||
                    !route_text_valid(e->reason, ROUTE_REASON_MAX)) {
                        why = "an entry's reason is too long or not printable";
                        goto fail;
                }
                if (get_str(o, "source", false, e->source, ROUTE_SOURCE_MAX) < 0 ||
                    !route_text_valid(e->source, ROUTE_SOURCE_MAX)) {
                        why = "an entry's source is too long or not printable";
                        goto fail;
                }
                if (json_object_object_get_ex(o, "when", &w) && w) {
                        if (!json_object_is_type(w, json_type_int) || (errno = 0, json_object_get_int64(w)) < 0 ||
                            errno != 0) {
                                why = "an entry's time is not a number of seconds";
                                goto fail;
                        }
                        e->when = json_object_get_int64(w);
                }
                if (route_store_find(&(RouteStore) { .e = s.e, .n = i }, e->route, e->kernel)) {
                        why = "two entries for the same route and kernel";
                        goto fail;
                }
        }
        s.n = n;
        json_object_put(root);
        *ret = s;
        return 0;
fail:
        json_object_put(root);
        route_store_done(&s);
        if (ret_reason)
                *ret_reason = why;
        return r;
}

char *route_store_format(const RouteStore *s) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        if (!root || !arr) {
                json_object_put(root);
                json_object_put(arr);
                return NULL;
        }
        json_object_object_add(root, "version", json_object_new_int(1));
        json_object_object_add(root, "routes", arr);
        for (size_t i = 0; i < s->n; i++) {
                const RouteEntry *e = &s->e[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "kernel", json_object_new_string(e->kernel));
                json_object_object_add(o, "route", json_object_new_string(e->route));
                json_object_object_add(o, "verdict", json_object_new_string(route_verdict_to_string(e->verdict)));
                json_object_object_add(o, "reason", json_object_new_string(e->reason));
                json_object_object_add(o, "when", json_object_new_int64(e->when));
                json_object_object_add(o, "source", json_object_new_string(e->source));
                json_object_array_add(arr, o);
        }
        const char *t = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *out = NULL;
        if (t && asprintf(&out, "%s\n", t) < 0)
                out = NULL;
        json_object_put(root);
        return out;
}

int route_store_set(RouteStore *s, const RouteEntry *e) {
        if (!entry_valid(e))
                return -EINVAL;
        RouteEntry *old = (RouteEntry *) route_store_find(s, e->route, e->kernel);
        if (old) {
                *old = *e;
                return 0;
        }
        if (s->n >= ROUTE_MAX)
                return -E2BIG;
        RouteEntry *n = realloc(s->e, (s->n + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        s->e = n;
        s->e[s->n++] = *e;
        return 0;
}

const char *route_state_dir(const char *dir) {
        if (!dir || !*dir)
                dir = getenv("XVSCHED_STATE_DIR");
        return dir && *dir ? dir : ROUTE_STATE_DIR_DEFAULT;
}

int route_store_load(const char *dir, RouteStore *ret, char *err, size_t err_size) {
        *ret = (RouteStore) {};
        if (err_size)
                err[0] = 0;
        dir = route_state_dir(dir);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        return 0;
                snprintf(err, err_size, "%s: %s", dir, r == -ELOOP || r == -ENOTDIR ? "not a directory" : strerror(-r));
                return r;
        }
        _cleanup_close_ int fd = openat(dfd, ROUTE_FILE, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        return 0;
                snprintf(err, err_size, "%s/%s: %s", dir, ROUTE_FILE,
                         r == -ELOOP ? "a symlink, not read" : strerror(-r));
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
            (st.st_mode & (S_IWGRP | S_IWOTH))) {
                snprintf(err, err_size, "%s/%s: not a regular file owned by root and writable only by it; ignored",
                         dir, ROUTE_FILE);
                return -EPERM;
        }
        if (st.st_size > (off_t) ROUTE_FILE_MAX) {
                snprintf(err, err_size, "%s/%s: bigger than %u bytes; ignored", dir, ROUTE_FILE, ROUTE_FILE_MAX);
                return -EFBIG;
        }
        _cleanup_free_ char *text = malloc(ROUTE_FILE_MAX + 1);
        if (!text)
                return -ENOMEM;
        size_t len = 0;
        int r;
        for (;;) {
                ssize_t k = read(fd, text + len, ROUTE_FILE_MAX + 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        snprintf(err, err_size, "%s/%s: %s", dir, ROUTE_FILE, strerror(-r));
                        return r;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > ROUTE_FILE_MAX) {
                        snprintf(err, err_size, "%s/%s: bigger than %u bytes; ignored", dir, ROUTE_FILE,
                                 ROUTE_FILE_MAX);
                        return -EFBIG;
                }
        }
        const char *why = NULL;
        r = route_store_parse(text, len, ret, &why);
        if (r < 0) {
                snprintf(err, err_size, "%s/%s: malformed (%s); ignored", dir, ROUTE_FILE, why ? why : "?");
                return r;
        }
        return 0;
}

int route_store_save_at(int dir_fd, const RouteStore *s) {
        _cleanup_free_ char *text = route_store_format(s);
        if (!text)
                return -ENOMEM;
        int r = write_file_atomic_at(dir_fd, ROUTE_FILE, text, strlen(text));
        if (r < 0)
                return r;
        /* readable by everyone (xvsched list as a user): verdicts are not secret */
        (void) fchmodat(dir_fd, ROUTE_FILE, 0644, 0);
        return 0;
}

int route_verdict_lookup(const char *dir, const char *route, const char *kernel, RouteEntry *ret, char *err,
                         size_t err_size) {
        RouteStore s;
        int r = route_store_load(dir, &s, err, err_size);
        if (r < 0) {
                log_debug("routes: %s", err);
                return 0;
        }
        const RouteEntry *e = route_store_find(&s, route, kernel);
        if (e && ret)
                *ret = *e;
        int found = e != NULL;
        route_store_done(&s);
        return found;
}
