/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched partition`: paper 001's Mint partitions as named sets of host
 * CPUs (and memory nodes) that groups of domains share, movable at run time.
 *
 * A partition is the existing cpus= and mems= levers (lever_apply()),
 * recorded in the undo journal under the owner "partition", so that
 * `partition delete` (lever_reset() of that owner) puts back what each
 * member had before it joined, and `reset` restores everything, partitions
 * included.  The partitions themselves are in STATE_DIR/partitions.json
 * (partition-model.h), read and written while the journal's lock is held.
 * A command that fails part-way undoes what it did: nothing is left half
 * applied. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/macros.h"
#include "cli/cli.h"
#include "cli/partition-model.h"
#include "lever/journal.h"
#include "lever/lever.h"

#define PARTITION_OWNER "partition"
#define PARTITION_FILE "partitions.json"

const CliOption partition_options[] = {
        { "cpus", "LIST", "create, move: the partition's host CPUs (\"0\", \"2-3\")", false },
        { "mems", "LIST", "create, move: its memory nodes (cpuset.mems of each member's cgroup)", false },
        {},
};

/* The state: the journal (held: its lock guards partitions.json too), the
 * state dir and the partitions read from it. */
typedef struct State {
        Journal *j;
        int dir_fd;
        PartitionSet set;
} State;

static void state_done(State *s) {
        partition_set_done(&s->set);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        journal_free(s->j);
        *s = (State) { .dir_fd = -EBADF };
}

static int state_open(State *s) {
        *s = (State) { .dir_fd = -EBADF };
        int r = cli_open_journal(&s->j);
        if (r < 0)
                return r;
        const char *dir = journal_state_dir(arg.state_dir);
        r = journal_state_dir_open(dir, &s->dir_fd);
        if (r < 0)
                return log_error_errno(r, "cannot open the state directory %s: %m", dir);
        _cleanup_free_ char *text = NULL;
        r = read_full_file_at(s->dir_fd, PARTITION_FILE, O_NOFOLLOW | O_NOCTTY, PARTITION_FILE_MAX, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot read %s/%s: %m", dir, PARTITION_FILE);
        const char *why;
        r = partition_set_parse(text, &s->set, &why);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s/%s: %s; left untouched (remove it to forget every partition)", dir,
                                       PARTITION_FILE, why);
        if (r < 0)
                return log_error_errno(r, "%s/%s: %m", dir, PARTITION_FILE);
        return 0;
}

static int state_save(State *s) {
        if (arg.dry_run)
                return 0;
        _cleanup_free_ char *text = partition_set_format(&s->set);
        if (!text)
                return log_error_errno(-ENOMEM, "out of memory");
        int r = write_file_atomic_at(s->dir_fd, PARTITION_FILE, text, strlen(text));
        if (r < 0)
                return log_error_errno(r, "cannot write %s/%s: %m", journal_state_dir(arg.state_dir), PARTITION_FILE);
        return 0;
}

/* cpus=LIST and mems=LIST as lever settings (lever_setting_parse: the same
 * checks as `set`); *ret_n of them. */
static int parse_settings(const char *cpus, const char *mems, LeverSetting ret[2], size_t *ret_n) {
        size_t n = 0;
        const char *v[2] = { cpus, mems }, *k[2] = { "cpus", "mems" };
        for (size_t i = 0; i < 2; i++) {
                if (!v[i])
                        continue;
                char kv[128];
                const char *reason;
                if (!*v[i])
                        return cli_usage_error("--%s: needs a list (\"0\", \"0-1\")", k[i]);
                if (snprintf(kv, sizeof kv, "%s=%s", k[i], v[i]) >= (int) sizeof kv)
                        return cli_usage_error("--%s %s: too long", k[i], v[i]);
                if (lever_setting_parse(kv, &ret[n], &reason) < 0)
                        return cli_usage_error("--%s %s: %s", k[i], v[i], reason);
                n++;
        }
        *ret_n = n;
        return 0;
}

/* The settings of partition p. */
static size_t partition_settings(const Partition *p, LeverSetting ret[2]) {
        _cleanup_free_ char *cpus = cpuset_format(&p->cpus);
        _cleanup_free_ char *mems = p->have_mems ? cpuset_format(&p->mems) : NULL;
        size_t n = 0;
        if (!cpus || (p->have_mems && !mems) || parse_settings(cpus, mems, ret, &n) != 0)
                return 0;
        return n;
}

static LeverContext context(Journal *j) {
        /* A partition places every thread of a domain, whatever --threads says. */
        return (LeverContext) { .hv = &arg.hv, .journal = j, .thread_mask = THREAD_MASK_ALL, .dry_run = arg.dry_run,
                                .owner = PARTITION_OWNER };
}

/* Put domain d into the partition's placement. */
static int place(State *s, Domain *d, const LeverSetting *set, size_t n, char *error, size_t size) {
        LeverContext c = context(s->j);
        int r = lever_apply(&c, d, set, n);
        if (r < 0)
                snprintf(error, size, "%s", c.error);
        else if (arg.dry_run && c.notes && !arg.json)
                printf("%s: %s", d->name, c.notes);
        lever_context_done(&c);
        return r;
}

/* Give a member back what it had before it joined (the partition's journal
 * entries of it, newest first).  Logs a line per value kept. */
static int unplace(State *s, const char *domain) {
        LeverContext c = context(s->j);
        int r = lever_reset(&c, domain);
        if (r < 0) {
                for (const char *p = c.failed; p && *p;) {
                        size_t len = strcspn(p, "\n");
                        log_error("%s: cannot restore %.*s", domain, (int) len, p);
                        p += len + (p[len] == '\n');
                }
        } else if (arg.dry_run && c.notes && !arg.json)
                printf("%s: %s", domain, c.notes);
        lever_context_done(&c);
        return r;
}

/* Discover once and find every name; one line and nothing else on the
 * first that is not there. */
static int find_all(char **names, size_t n, DomainList *l, Domain ***ret) {
        *l = (DomainList) {};
        int r = cli_discover(l);
        if (r < 0)
                return r;
        Domain **d = calloc(n ? n : 1, sizeof *d);
        if (!d) {
                domain_list_done(l);
                return log_error_errno(-ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                d[i] = cli_find_domain(l, names[i]);
                if (!d[i]) {
                        free(d);
                        domain_list_done(l);
                        return -ENOENT;
                }
        }
        *ret = d;
        return 0;
}

/* Members named on the command line: no repeats, each in no partition but
 * (maybe) self. */
static int check_new_members(const State *s, char **names, size_t n, const Partition *self) {
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < i; k++)
                        if (streq(names[i], names[k]))
                                return cli_usage_error("domain '%s' is named twice", names[i]);
                Partition *o = partition_of_member(&s->set, names[i], self);
                if (o)
                        return log_error_errno(-EBUSY, "domain '%s' is in partition '%s' already (xvsched partition remove %s %s)",
                                               names[i], o->name, o->name, names[i]);
        }
        return 0;
}

static int check_overlap(const State *s, const CpuSet *cpus, const CpuSet *mems, const Partition *self) {
        const char *what;
        unsigned which;
        Partition *o = partition_overlap(&s->set, cpus, mems, self, &what, &which);
        if (o)
                return log_error_errno(-EBUSY, "%s %u is in partition '%s' already: partitions do not overlap", what, which,
                                       o->name);
        return 0;
}

/* Place domains[0..n) or none: on a failure the ones placed are given back. */
static int place_all(State *s, const char *pname, Domain **d, size_t n, const LeverSetting *set, size_t n_set) {
        char error[512];
        for (size_t i = 0; i < n; i++) {
                int r = place(s, d[i], set, n_set, error, sizeof error);
                if (r >= 0)
                        continue;
                for (size_t k = i; k > 0; k--)
                        (void) unplace(s, d[k - 1]->name);
                log_error("partition %s: %s: %s (nothing changed)", pname, d[i]->name, error);
                return r;
        }
        return 0;
}

static void print_partition(const Partition *p, const char *verb) {
        if (arg.json)
                return;
        _cleanup_free_ char *cpus = cpuset_format(&p->cpus);
        _cleanup_free_ char *mems = p->have_mems ? cpuset_format(&p->mems) : NULL;
        printf("%spartition %s: cpus %s%s%s, %zu domain%s%s", arg.dry_run ? "would " : "", p->name, cpus ?: "?",
               mems ? ", mems " : "", mems ?: "", p->n_members, p->n_members == 1 ? "" : "s", verb);
        for (size_t i = 0; i < p->n_members; i++)
                printf("%s%s", i ? ", " : ": ", p->members[i]);
        printf("\n");
}

static json_object *partition_json(const Partition *p) {
        json_object *o = json_object_new_object(), *m = json_object_new_array();
        _cleanup_free_ char *cpus = cpuset_format(&p->cpus);
        _cleanup_free_ char *mems = p->have_mems ? cpuset_format(&p->mems) : NULL;
        json_object_object_add(o, "name", json_object_new_string(p->name));
        json_object_object_add(o, "cpus", json_object_new_string(cpus ?: ""));
        json_object_object_add(o, "mems", mems ? json_object_new_string(mems) : NULL);
        for (size_t i = 0; i < p->n_members; i++)
                json_object_array_add(m, json_object_new_string(p->members[i]));
        json_object_object_add(o, "members", m);
        return o;
}

static int do_create(int argc, char **argv) {
        const char *cpus = cli_option("cpus"), *mems = cli_option("mems"), *why;
        if (argc < 4 || !cpus)
                return cli_usage_error("usage: xvsched partition create NAME --cpus LIST [--mems LIST] DOMAIN...");
        const char *name = argv[2];
        if (!partition_name_valid(name, &why))
                return cli_usage_error("partition '%s': %s", name, why);
        LeverSetting set[2];
        size_t n_set;
        int r = parse_settings(cpus, mems, set, &n_set);
        if (r != 0)
                return r;
        char **names = argv + 3;
        size_t n = (size_t) argc - 3;

        _cleanup_(state_done) State s = { .dir_fd = -EBADF };
        r = state_open(&s);
        if (r < 0)
                return r;
        if (partition_find(&s.set, name))
                return log_error_errno(-EEXIST, "partition '%s' exists already (xvsched partition move %s --cpus LIST)", name,
                                       name);
        r = check_overlap(&s, &set[0].v.cpus, mems ? &set[1].v.cpus : NULL, NULL);
        if (r >= 0)
                r = check_new_members(&s, names, n, NULL);
        if (r != 0)
                return r;
        DomainList l;
        _cleanup_free_ Domain **d = NULL;
        r = find_all(names, n, &l, &d);
        if (r < 0)
                return r;
        /* The partition is on file before anything changes: a crash
         * part-way leaves it there for `partition delete` (or `reset`). */
        r = partition_add(&s.set, name, &set[0].v.cpus, mems ? &set[1].v.cpus : NULL, names, n);
        if (r < 0) {
                domain_list_done(&l);
                return log_error_errno(r, "partition '%s': %m", name);
        }
        r = state_save(&s);
        if (r >= 0) {
                r = place_all(&s, name, d, n, set, n_set);
                if (r < 0) {
                        (void) partition_remove(&s.set, name);
                        (void) state_save(&s);
                }
        }
        domain_list_done(&l);
        if (r < 0)
                return r;
        Partition *p = partition_find(&s.set, name);
        print_partition(p, " placed");
        if (arg.json)
                cli_print_json(partition_json(p));
        return 0;
}

/* Members of p named on the command line, each checked to be one. */
static int check_members_of(const Partition *p, char **names, size_t n) {
        for (size_t i = 0; i < n; i++) {
                bool found = false;
                for (size_t k = 0; k < p->n_members && !found; k++)
                        found = streq(p->members[k], names[i]);
                if (!found)
                        return log_error_errno(-ENOENT, "domain '%s' is not in partition '%s'", names[i], p->name);
                for (size_t k = 0; k < i; k++)
                        if (streq(names[i], names[k]))
                                return cli_usage_error("domain '%s' is named twice", names[i]);
        }
        return 0;
}

static int lookup(State *s, const char *name, Partition **ret) {
        *ret = partition_find(&s->set, name);
        if (*ret)
                return 0;
        char known[512] = "";
        for (size_t i = 0; i < s->set.n; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", s->set.p[i].name);
        return log_error_errno(-ENOENT, "no partition named '%s' (known: %s)", name, s->set.n ? known : "none");
}

/* state_open() and then lookup() of NAME: what every command on one
 * partition starts with. */
static int state_open_lookup(State *s, const char *name, Partition **ret) {
        int r = state_open(s);
        return r < 0 ? r : lookup(s, name, ret);
}

static int do_add(int argc, char **argv) {
        if (argc < 4)
                return cli_usage_error("usage: xvsched partition add NAME DOMAIN...");
        char **names = argv + 3;
        size_t n = (size_t) argc - 3;
        _cleanup_(state_done) State s = { .dir_fd = -EBADF };
        Partition *p;
        int r = state_open_lookup(&s, argv[2], &p);
        if (r < 0)
                return r;
        r = check_new_members(&s, names, n, p);
        if (r != 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (partition_of_member(&s.set, names[i], NULL) == p)
                        return log_error_errno(-EEXIST, "domain '%s' is in partition '%s' already", names[i], p->name);
        LeverSetting set[2];
        size_t n_set = partition_settings(p, set);
        if (n_set == 0)
                return log_error_errno(-EBADMSG, "partition '%s': its CPU list is not usable", p->name);
        DomainList l;
        _cleanup_free_ Domain **d = NULL;
        r = find_all(names, n, &l, &d);
        if (r < 0)
                return r;
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = partition_member_add(p, names[i]);
        if (r >= 0)
                r = state_save(&s);
        if (r >= 0)
                r = place_all(&s, p->name, d, n, set, n_set);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        (void) partition_member_drop(&s.set, names[i]);
                (void) state_save(&s);
        }
        domain_list_done(&l);
        if (r < 0)
                return r;
        print_partition(p, " placed");
        if (arg.json)
                cli_print_json(partition_json(p));
        return 0;
}

/* Give each named member back its values; only those restored leave. */
static int leave(State *s, Partition *p, char **names, size_t n) {
        int first = 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *m = strdup(names[i]);
                if (!m)
                        return log_error_errno(-ENOMEM, "out of memory");
                int r = unplace(s, m);
                if (r < 0) {
                        if (!first)
                                first = r;
                        continue;
                }
                if (!arg.dry_run)
                        (void) partition_member_drop(&(PartitionSet) { p, 1 }, m);
        }
        int r = state_save(s);
        return first < 0 ? first : r;
}

static int do_remove(int argc, char **argv) {
        if (argc < 4)
                return cli_usage_error("usage: xvsched partition remove NAME DOMAIN...");
        _cleanup_(state_done) State s = { .dir_fd = -EBADF };
        Partition *p;
        int r = state_open_lookup(&s, argv[2], &p);
        if (r < 0)
                return r;
        r = check_members_of(p, argv + 3, (size_t) argc - 3);
        if (r != 0)
                return r;
        r = leave(&s, p, argv + 3, (size_t) argc - 3);
        if (r < 0)
                return log_error_errno(r, "partition %s: some values could not be restored (kept in the state file)", p->name);
        if (!arg.json)
                for (int i = 3; i < argc; i++)
                        printf("%s%s left partition %s: restored\n", arg.dry_run ? "would: " : "", argv[i], p->name);
        if (arg.json)
                cli_print_json(partition_json(p));
        return 0;
}

static int do_delete(int argc, char **argv) {
        if (argc != 3)
                return cli_usage_error("usage: xvsched partition delete NAME");
        _cleanup_(state_done) State s = { .dir_fd = -EBADF };
        Partition *p;
        int r = state_open_lookup(&s, argv[2], &p);
        if (r < 0)
                return r;
        /* leave() drops members from p as it goes: it works on copies */
        size_t n = p->n_members;
        char **copies = calloc(n ? n : 1, sizeof *copies);
        if (!copies)
                return log_error_errno(-ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (!(copies[i] = strdup(p->members[i])))
                        r = -ENOMEM;
        if (r >= 0)
                r = leave(&s, p, copies, n);
        for (size_t i = 0; i < n; i++)
                free(copies[i]);
        free(copies);
        if (r < 0)
                return log_error_errno(r, "partition %s kept: some values could not be restored (kept in the state file)",
                                       p->name);
        if (!arg.json)
                printf("%spartition %s deleted: %zu domain%s restored\n", arg.dry_run ? "would: " : "", argv[2], n,
                       n == 1 ? "" : "s");
        if (!arg.dry_run)
                (void) partition_remove(&s.set, argv[2]);
        r = state_save(&s);
        if (r < 0)
                return r;
        if (arg.json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "deleted", json_object_new_string(argv[2]));
                json_object_object_add(o, "restored", json_object_new_int((int) n));
                cli_print_json(o);
        }
        return 0;
}

static int do_move(int argc, char **argv) {
        const char *cpus = cli_option("cpus"), *mems = cli_option("mems");
        if (argc != 3 || (!cpus && !mems))
                return cli_usage_error("usage: xvsched partition move NAME [--cpus LIST] [--mems LIST]");
        _cleanup_(state_done) State s = { .dir_fd = -EBADF };
        Partition *p;
        int r = state_open_lookup(&s, argv[2], &p);
        if (r < 0)
                return r;
        /* The new placement: what is given, the rest as it is. */
        _cleanup_free_ char *old_cpus = cpuset_format(&p->cpus);
        _cleanup_free_ char *old_mems = p->have_mems ? cpuset_format(&p->mems) : NULL;
        if (!old_cpus || (p->have_mems && !old_mems))
                return log_error_errno(-ENOMEM, "out of memory");
        LeverSetting set[2];
        size_t n_set;
        r = parse_settings(cpus ?: old_cpus, mems ?: old_mems, set, &n_set);
        if (r != 0)
                return r;
        const CpuSet *new_mems = (mems || old_mems) ? &set[1].v.cpus : NULL;
        r = check_overlap(&s, &set[0].v.cpus, new_mems, p);
        if (r < 0)
                return r;
        LeverSetting old[2];
        size_t n_old = partition_settings(p, old);
        DomainList l;
        _cleanup_free_ Domain **d = NULL;
        r = find_all(p->members, p->n_members, &l, &d);
        if (r < 0)
                return log_error_errno(r, "partition %s: every member must be running to move it (partition remove %s DOMAIN)",
                                       p->name, p->name);
        char error[512];
        for (size_t i = 0; i < p->n_members; i++) {
                r = place(&s, d[i], set, n_set, error, sizeof error);
                if (r >= 0)
                        continue;
                /* Back where they were: the originals first (a mems the
                 * partition did not have is undone too), then the old
                 * placement again. */
                for (size_t k = i; !arg.dry_run && k > 0; k--) {
                        char e2[512];
                        (void) unplace(&s, d[k - 1]->name);
                        if (place(&s, d[k - 1], old, n_old, e2, sizeof e2) < 0)
                                log_error("partition %s: %s: cannot put it back: %s", p->name, d[k - 1]->name, e2);
                }
                log_error("partition %s: %s: %s (nothing changed)", p->name, d[i]->name, error);
                domain_list_done(&l);
                return r;
        }
        domain_list_done(&l);
        if (!arg.dry_run) {
                p->cpus = set[0].v.cpus;
                if (new_mems) {
                        p->mems = *new_mems;
                        p->have_mems = true;
                }
        }
        r = state_save(&s);
        if (r < 0)
                return r;
        print_partition(p, " moved");
        if (arg.json)
                cli_print_json(partition_json(p));
        return 0;
}

static int do_list(int argc, char **argv _unused_) {
        if (argc != 2)
                return cli_usage_error("usage: xvsched partition list");
        _cleanup_(state_done) State s = { .dir_fd = -EBADF };
        int r = state_open(&s);
        if (r < 0)
                return r;
        if (arg.json) {
                json_object *a = json_object_new_array();
                for (size_t i = 0; i < s.set.n; i++)
                        json_object_array_add(a, partition_json(&s.set.p[i]));
                cli_print_json(a);
                return 0;
        }
        printf("%-16s %-12s %-8s %s\n", "PARTITION", "CPUS", "MEMS", "DOMAINS");
        for (size_t i = 0; i < s.set.n; i++) {
                const Partition *p = &s.set.p[i];
                _cleanup_free_ char *cpus = cpuset_format(&p->cpus);
                _cleanup_free_ char *mems = p->have_mems ? cpuset_format(&p->mems) : NULL;
                printf("%-16s %-12s %-8s", p->name, cpus ?: "?", mems ?: "-");
                for (size_t k = 0; k < p->n_members; k++)
                        printf("%s%s", k ? "," : " ", p->members[k]);
                printf("%s\n", p->n_members ? "" : " -");
        }
        return 0;
}

int cmd_partition(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*run)(int argc, char **argv);
        } actions[] = {
                { "create", do_create }, { "add", do_add },   { "remove", do_remove },
                { "move", do_move },     { "list", do_list }, { "delete", do_delete },
        };
        if (argc < 2)
                return cli_usage_error("usage: xvsched partition create|add|remove|move|list|delete ...");
        for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                if (streq(argv[1], actions[i].name)) {
                        if ((cli_option("cpus") || cli_option("mems")) && !streq(argv[1], "create") &&
                            !streq(argv[1], "move"))
                                return cli_usage_error("partition %s: --cpus and --mems belong to create and move", argv[1]);
                        return actions[i].run(argc, argv);
                }
        return cli_usage_error("partition: unknown action '%s' (create, add, remove, move, list, delete)", argv[1]);
}

/* `reset`: a domain restored is in no partition any more; `reset --all`
 * leaves none.  Called with the journal's lock held. */
int cli_partition_after_reset(const char *domain) {
        if (arg.dry_run)
                return 0;
        const char *dir = journal_state_dir(arg.state_dir);
        _cleanup_close_ int fd = -EBADF;
        int r = journal_state_dir_open(dir, &fd);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        r = read_full_file_at(fd, PARTITION_FILE, O_NOFOLLOW | O_NOCTTY, PARTITION_FILE_MAX, &text, NULL);
        if (r == -ENOENT)
                return 0;
        PartitionSet set = {};
        const char *why;
        if (r < 0 || partition_set_parse(text, &set, &why) < 0) {
                log_warning("%s/%s: not readable; partitions left as they were", dir, PARTITION_FILE);
                return 0;
        }
        if (!domain)
                partition_set_done(&set);
        else if (partition_member_drop(&set, domain) == 0) {
                partition_set_done(&set);
                return 0;
        }
        _cleanup_free_ char *out = partition_set_format(&set);
        partition_set_done(&set);
        if (!out)
                return -ENOMEM;
        r = write_file_atomic_at(fd, PARTITION_FILE, out, strlen(out));
        if (r < 0)
                log_warning("cannot write %s/%s: %s", dir, PARTITION_FILE, strerror(-r));
        return r;
}
