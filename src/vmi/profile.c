/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Profiles a user may have for the guest kernel, for kernels without BTF
 * or to check what the guest shows:
 *   ISF/JSON (Volatility 3's format): "user_types" with "size" and
 *     "fields" {name: {"offset", "type": {"kind", "name"}}}, "base_types"
 *     with "size", "symbols" {name: {"address"}};
 *   System.map: "ADDRESS TYPE NAME" lines.
 * Both are the user's files, but read as carefully as guest data: bounded
 * sizes, every member checked for type. */

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macros.h"
#include "vmi/vmi.h"

#define PROFILE_MAX_BYTES (256u << 20)
#define PATH_MAX_DEPTH 8

struct VmiProfile {
        json_object *isf;        /* NULL for a System.map */
        char **names;            /* System.map symbols */
        uint64_t *addrs;
        size_t n;
};

void vmi_profile_free(VmiProfile *p) {
        if (!p)
                return;
        json_object_put(p->isf);
        for (size_t i = 0; i < p->n; i++)
                free(p->names[i]);
        free(p->names);
        free(p->addrs);
        free(p);
}

int vmi_profile_load_isf(const char *path, VmiProfile **ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(path, PROFILE_MAX_BYTES, &text, NULL);
        if (r < 0)
                return r;
        json_object *o = json_tokener_parse(text), *ut;
        if (!o || !json_object_object_get_ex(o, "user_types", &ut) || !json_object_is_type(ut, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        VmiProfile *p = calloc(1, sizeof *p);
        if (!p) {
                json_object_put(o);
                return -ENOMEM;
        }
        p->isf = o;
        *ret = p;
        return 0;
}

int vmi_profile_load_system_map(const char *path, VmiProfile **ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(path, PROFILE_MAX_BYTES, &text, NULL);
        if (r < 0)
                return r;
        VmiProfile *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        size_t cap = 0;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                unsigned long long addr;
                char type, name[128];
                if (sscanf(l, "%llx %c %127s", &addr, &type, name) != 3) {
                        vmi_profile_free(p);
                        return -EBADMSG;
                }
                if (p->n == cap) {
                        cap = cap ? cap * 2 : 4096;
                        char **nn = realloc(p->names, cap * sizeof *nn);
                        if (!nn) {
                                vmi_profile_free(p);
                                return -ENOMEM;
                        }
                        p->names = nn;
                        uint64_t *na = realloc(p->addrs, cap * sizeof *na);
                        if (!na) {
                                vmi_profile_free(p);
                                return -ENOMEM;
                        }
                        p->addrs = na;
                }
                p->names[p->n] = strdup(name);
                if (!p->names[p->n]) {
                        vmi_profile_free(p);
                        return -ENOMEM;
                }
                p->addrs[p->n++] = addr;
        }
        if (p->n == 0) {
                vmi_profile_free(p);
                return -EBADMSG;
        }
        *ret = p;
        return 0;
}

static json_object *get(json_object *o, const char *key) {
        json_object *v;
        return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static bool get_i64(json_object *o, const char *key, int64_t *ret) {
        json_object *v = get(o, key);
        if (!v || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

int32_t vmi_profile_struct_size(const void *src, const char *name) {
        const VmiProfile *p = src;
        int64_t size;
        if (!p->isf || !get_i64(get(get(p->isf, "user_types"), name), "size", &size) || size <= 0 || size >= (1 << 20))
                return 0;
        return (int32_t) size;
}

/* Size of a field's type: a base type's size, a user type's size, 8 for a pointer. */
static int32_t type_size(const VmiProfile *p, json_object *type) {
        json_object *kind = get(type, "kind"), *name = get(type, "name");
        const char *k = kind && json_object_is_type(kind, json_type_string) ? json_object_get_string(kind) : "";
        const char *n = name && json_object_is_type(name, json_type_string) ? json_object_get_string(name) : "";
        int64_t size;
        if (streq(k, "pointer"))
                return 8;
        if (streq(k, "base") && get_i64(get(get(p->isf, "base_types"), n), "size", &size) && size > 0 && size <= 64)
                return (int32_t) size;
        if ((streq(k, "struct") || streq(k, "union")) && get_i64(get(get(p->isf, "user_types"), n), "size", &size) &&
            size > 0 && size < (1 << 20))
                return (int32_t) size;
        return 0;
}

int32_t vmi_profile_member_off(const void *src, const char *sname, const char *path, int32_t *ret_size) {
        const VmiProfile *p = src;
        if (!p->isf)
                return VMI_NO_OFF;
        json_object *type = get(get(p->isf, "user_types"), sname), *field_type = NULL;
        if (!type)
                return VMI_NO_OFF;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        int64_t total = 0;
        int depth = 0;
        for (char *save = NULL, *c = strtok_r(buf, ".", &save); c; c = strtok_r(NULL, ".", &save)) {
                if (!type || ++depth > PATH_MAX_DEPTH)
                        return VMI_NO_OFF;
                json_object *f = get(get(type, "fields"), c);
                int64_t off;
                if (!f || !get_i64(f, "offset", &off) || off < 0 || off >= (1 << 20))
                        return VMI_NO_OFF;
                total += off;
                field_type = get(f, "type");
                json_object *kind = get(field_type, "kind"), *name = get(field_type, "name");
                bool aggregate = kind && json_object_is_type(kind, json_type_string) &&
                                 (streq(json_object_get_string(kind), "struct") || streq(json_object_get_string(kind), "union"));
                type = aggregate && name && json_object_is_type(name, json_type_string)
                               ? get(get(p->isf, "user_types"), json_object_get_string(name))
                               : NULL;
        }
        if (total >= (1 << 20))
                return VMI_NO_OFF;
        if (ret_size)
                *ret_size = type_size(p, field_type);
        return (int32_t) total;
}

int vmi_profile_symbol(const VmiProfile *p, const char *name, uint64_t *ret) {
        if (p->isf) {
                /* Kernel addresses are above INT64_MAX: read them unsigned. */
                json_object *a = get(get(get(p->isf, "symbols"), name), "address");
                if (!a || !json_object_is_type(a, json_type_int))
                        return -ENOENT;
                *ret = json_object_get_uint64(a);
                return 0;
        }
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->names[i], name)) {
                        *ret = p->addrs[i];
                        return 0;
                }
        return -ENOENT;
}

int64_t vmi_profile_percpu_off(const void *src, const char *var) {
        uint64_t a;
        /* Per-CPU symbols are linked at their offset in .data..percpu. */
        if (vmi_profile_symbol(src, var, &a) < 0 || a >= (1u << 24))
                return VMI_NO_OFF;
        return (int64_t) a;
}
