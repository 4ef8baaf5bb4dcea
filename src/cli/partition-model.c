/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched partition`'s model: partitions.json, names, overlaps (pure). */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macros.h"
#include "cli/partition-model.h"

static void partition_done(Partition *p) {
        free(p->name);
        for (size_t i = 0; i < p->n_members; i++)
                free(p->members[i]);
        free(p->members);
        *p = (Partition) {};
}

void partition_set_done(PartitionSet *s) {
        for (size_t i = 0; i < s->n; i++)
                partition_done(&s->p[i]);
        free(s->p);
        *s = (PartitionSet) {};
}

bool partition_name_valid(const char *name, const char **ret_reason) {
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > PARTITION_NAME_MAX) {
                *ret_reason = "a partition name has 1 to 64 characters";
                return false;
        }
        if (name[0] == '-' || name[0] == '.') {
                *ret_reason = "a partition name does not start with '-' or '.'";
                return false;
        }
        for (size_t i = 0; i < len; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-", c))) {
                        *ret_reason = "a partition name holds only letters, digits, '.', '_' and '-'";
                        return false;
                }
        }
        return true;
}

static bool member_name_valid(const char *m) {
        size_t len = strlen(m);
        if (len == 0 || len > PARTITION_MEMBER_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) m[i] < 0x21 || m[i] == 0x7f)
                        return false;
        return true;
}

static int fail(const char **ret_reason, const char *why) {
        *ret_reason = why;
        return -EBADMSG;
}

static int parse_one(json_object *o, Partition *p, const char **ret_reason) {
        json_object *v;
        if (!json_object_is_type(o, json_type_object))
                return fail(ret_reason, "a partition is not an object");
        if (!json_object_object_get_ex(o, "name", &v) || !json_object_is_type(v, json_type_string))
                return fail(ret_reason, "a partition has no name");
        const char *why;
        if (!partition_name_valid(json_object_get_string(v), &why))
                return fail(ret_reason, why);
        p->name = strdup(json_object_get_string(v));
        if (!p->name)
                return -ENOMEM;
        if (!json_object_object_get_ex(o, "cpus", &v) || !json_object_is_type(v, json_type_string) ||
            cpuset_parse(json_object_get_string(v), &p->cpus) < 0 || cpuset_count(&p->cpus) == 0)
                return fail(ret_reason, "a partition's cpus is not a CPU list");
        if (json_object_object_get_ex(o, "mems", &v)) {
                if (!json_object_is_type(v, json_type_string) || cpuset_parse(json_object_get_string(v), &p->mems) < 0 ||
                    cpuset_count(&p->mems) == 0)
                        return fail(ret_reason, "a partition's mems is not a node list");
                p->have_mems = true;
        }
        if (!json_object_object_get_ex(o, "members", &v) || !json_object_is_type(v, json_type_array))
                return fail(ret_reason, "a partition has no members list");
        size_t n = json_object_array_length(v);
        if (n > PARTITION_MEMBERS_MAX)
                return fail(ret_reason, "a partition has too many members");
        for (size_t i = 0; i < n; i++) {
                json_object *m = json_object_array_get_idx(v, i);
                if (!json_object_is_type(m, json_type_string) || !member_name_valid(json_object_get_string(m)))
                        return fail(ret_reason, "a partition's member is not a domain name");
                int r = partition_member_add(p, json_object_get_string(m));
                if (r < 0)
                        return r;
        }
        return 0;
}

int partition_set_parse(const char *text, PartitionSet *ret, const char **ret_reason) {
        *ret_reason = NULL;
        if (!text || !*text) {
                *ret = (PartitionSet) {};
                return 0;
        }
        if (strlen(text) > PARTITION_FILE_MAX)
                return fail(ret_reason, "larger than 1 MiB");
        json_tokener *tok = json_tokener_new_ex(16);
        if (!tok)
                return -ENOMEM;
        json_object *root = json_tokener_parse_ex(tok, text, (int) strlen(text));
        bool ok = json_tokener_get_error(tok) == json_tokener_success;
        json_tokener_free(tok);
        if (!ok || !root) {
                json_object_put(root);
                return fail(ret_reason, "not JSON");
        }
        json_object *v, *arr;
        int r = 0;
        PartitionSet s = {};
        if (!json_object_is_type(root, json_type_object) || !json_object_object_get_ex(root, "version", &v) ||
            json_object_get_int(v) != 1 || !json_object_object_get_ex(root, "partitions", &arr) ||
            !json_object_is_type(arr, json_type_array))
                r = fail(ret_reason, "not a partitions file (version 1)");
        size_t n = r < 0 ? 0 : json_object_array_length(arr);
        if (n > PARTITION_MAX)
                r = fail(ret_reason, "more than 256 partitions");
        if (r >= 0 && n > 0) {
                s.p = calloc(n, sizeof *s.p);
                if (!s.p)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                Partition *p = &s.p[s.n++];
                r = parse_one(json_object_array_get_idx(arr, i), p, ret_reason);
                if (r >= 0 && partition_find(&(PartitionSet) { s.p, s.n - 1 }, p->name))
                        r = fail(ret_reason, "two partitions have one name");
        }
        json_object_put(root);
        if (r < 0) {
                partition_set_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

char *partition_set_format(const PartitionSet *s) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        if (!root || !arr) {
                json_object_put(root);
                json_object_put(arr);
                return NULL;
        }
        json_object_object_add(root, "version", json_object_new_int(1));
        json_object_object_add(root, "partitions", arr);
        bool ok = true;
        for (size_t i = 0; ok && i < s->n; i++) {
                const Partition *p = &s->p[i];
                json_object *o = json_object_new_object(), *m = json_object_new_array();
                _cleanup_free_ char *cpus = cpuset_format(&p->cpus);
                _cleanup_free_ char *mems = p->have_mems ? cpuset_format(&p->mems) : NULL;
                ok = o && m && cpus && (!p->have_mems || mems);
                if (!ok) {
                        json_object_put(o);
                        json_object_put(m);
                        break;
                }
                json_object_object_add(o, "name", json_object_new_string(p->name));
                json_object_object_add(o, "cpus", json_object_new_string(cpus));
                if (p->have_mems)
                        json_object_object_add(o, "mems", json_object_new_string(mems));
                for (size_t k = 0; k < p->n_members; k++)
                        json_object_array_add(m, json_object_new_string(p->members[k]));
                json_object_object_add(o, "members", m);
                json_object_array_add(arr, o);
        }
        char *text = ok ? strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE))
                        : NULL;
        json_object_put(root);
        return text;
}

Partition *partition_find(const PartitionSet *s, const char *name) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->p[i].name, name))
                        return &s->p[i];
        return NULL;
}

Partition *partition_of_member(const PartitionSet *s, const char *domain, const Partition *skip) {
        for (size_t i = 0; i < s->n; i++) {
                if (&s->p[i] == skip)
                        continue;
                for (size_t k = 0; k < s->p[i].n_members; k++)
                        if (streq(s->p[i].members[k], domain))
                                return &s->p[i];
        }
        return NULL;
}

static bool first_common(const CpuSet *a, const CpuSet *b, unsigned *ret) {
        for (size_t w = 0; w < CPUSET_WORDS; w++) {
                uint64_t x = a->bits[w] & b->bits[w];
                if (x) {
                        *ret = (unsigned) (w * 64 + (unsigned) __builtin_ctzll(x));
                        return true;
                }
        }
        return false;
}

Partition *partition_overlap(const PartitionSet *s, const CpuSet *cpus, const CpuSet *mems, const Partition *skip,
                             const char **ret_what, unsigned *ret_which) {
        for (size_t i = 0; i < s->n; i++) {
                const Partition *p = &s->p[i];
                if (p == skip)
                        continue;
                if (cpus && first_common(cpus, &p->cpus, ret_which)) {
                        *ret_what = "CPU";
                        return &s->p[i];
                }
                if (mems && p->have_mems && first_common(mems, &p->mems, ret_which)) {
                        *ret_what = "memory node";
                        return &s->p[i];
                }
        }
        return NULL;
}

int partition_member_add(Partition *p, const char *domain) {
        for (size_t k = 0; k < p->n_members; k++)
                if (streq(p->members[k], domain))
                        return 0;
        if (p->n_members >= PARTITION_MEMBERS_MAX)
                return -E2BIG;
        char **n = realloc(p->members, (p->n_members + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        p->members = n;
        p->members[p->n_members] = strdup(domain);
        if (!p->members[p->n_members])
                return -ENOMEM;
        p->n_members++;
        return 1;
}

int partition_add(PartitionSet *s, const char *name, const CpuSet *cpus, const CpuSet *mems, char *const *members,
                  size_t n_members) {
        if (partition_find(s, name))
                return -EEXIST;
        if (s->n >= PARTITION_MAX)
                return -E2BIG;
        Partition p = { .cpus = *cpus };
        if (mems) {
                p.mems = *mems;
                p.have_mems = true;
        }
        p.name = strdup(name);
        int r = p.name ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n_members; i++)
                r = partition_member_add(&p, members[i]);
        Partition *np = r >= 0 ? realloc(s->p, (s->n + 1) * sizeof *np) : NULL;
        if (!np) {
                partition_done(&p);
                return r < 0 ? r : -ENOMEM;
        }
        s->p = np;
        s->p[s->n++] = p;
        return 0;
}

int partition_remove(PartitionSet *s, const char *name) {
        Partition *p = partition_find(s, name);
        if (!p)
                return -ENOENT;
        size_t i = (size_t) (p - s->p);
        partition_done(p);
        memmove(&s->p[i], &s->p[i + 1], (s->n - i - 1) * sizeof *s->p);
        s->n--;
        return 0;
}

size_t partition_member_drop(PartitionSet *s, const char *domain) {
        size_t dropped = 0;
        for (size_t i = 0; i < s->n; i++) {
                Partition *p = &s->p[i];
                for (size_t k = 0; k < p->n_members;) {
                        if (streq(p->members[k], domain)) {
                                free(p->members[k]);
                                memmove(&p->members[k], &p->members[k + 1], (p->n_members - k - 1) * sizeof *p->members);
                                p->n_members--;
                                dropped++;
                        } else
                                k++;
                }
        }
        return dropped;
}
