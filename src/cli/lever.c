/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `xvsched set DOMAIN KEY=VALUE...` and `xvsched reset DOMAIN|--all`. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/macros.h"
#include "cli/cli.h"
#include "daemon/recover.h"
#include "lever/lever.h"

static void print_notes(const LeverContext *c) {
        /* Warnings go to stderr at warning level (also with --json). */
        for (const char *p = c->notes; p && *p;) {
                size_t len = strcspn(p, "\n");
                if (strneq(p, "warning: ", 9))
                        log_warning("%.*s", (int) len - 9, p + 9);
                else if (!arg.json)
                        printf("%.*s\n", (int) len, p);
                p += len + (p[len] == '\n');
        }
}

static int open_journal(Journal **ret) {
        int r = journal_open(arg.state_dir, ret);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "cannot open the state file: insufficient privilege (run as root)");
        if (r == -EBUSY)
                return log_error_errno(r, "another xvsched holds the state file lock; try again");
        if (r == -EBADMSG)
                return log_error_errno(r, "the state file is not readable as xvsched state; left untouched");
        if (r == JOURNAL_UNSAFE_DIR)
                return log_error_errno(r, "state directory %s must be a directory (not a symlink) owned by root and not "
                                          "writable by group or others; refusing to use it",
                                       journal_state_dir(arg.state_dir));
        if (r < 0)
                return log_error_errno(r, "cannot open the state file: %m");
        return 0;
}

int cli_open_journal(Journal **ret) {
        return open_journal(ret);
}

int cmd_set(int argc, char **argv) {
        if (argc < 3)
                return cli_usage_error("usage: xvsched set DOMAIN KEY=VALUE... (keys: nice rt cpus weight cap mems memory ioweight idle)");

        /* Validate every key first: nothing is discovered or touched before
         * the whole command line makes sense. */
        size_t n = (size_t) argc - 2;
        _cleanup_free_ LeverSetting *settings = calloc(n, sizeof *settings);
        if (!settings)
                return log_error_errno(-ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *reason;
                if (lever_setting_parse(argv[i + 2], &settings[i], &reason) < 0)
                        return cli_usage_error("%s: %s", argv[i + 2], reason);
        }

        DomainList l;
        Domain *d;
        int r = cli_discover_one(argv[1], &l, &d);
        if (r < 0)
                return r;
        _cleanup_(journal_freep) Journal *j = NULL;
        r = open_journal(&j);
        if (r < 0) {
                domain_list_done(&l);
                return r;
        }
        LeverContext c = { .hv = &arg.hv, .journal = j, .thread_mask = arg.thread_mask, .dry_run = arg.dry_run,
                           .owner = "cli", .rt_force = arg.rt_force };
        r = lever_apply(&c, d, settings, n);
        if (r < 0) {
                log_error("%s: %s%s", d->name, c.error, arg.dry_run ? "" : " (nothing changed)");
        } else {
                print_notes(&c);
                if (arg.json) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "domain", json_object_new_string(d->name));
                        json_object_object_add(o, "dry_run", json_object_new_boolean(arg.dry_run));
                        json_object_object_add(o, "notes", json_object_new_string(c.notes ? c.notes : ""));
                        json_object_object_add(o, "state_file", json_object_new_string(journal_path(j)));
                        cli_print_json(o);
                }
        }
        lever_context_done(&c);
        domain_list_done(&l);
        return r;
}

/* Guest changes (guest-stop, pause) that reset --all could not undo: one
 * "KEY: reason" line each, as lever_reset() reports its own in c.failed. */
static char *guest_failed;
static int guest_first_error;

static void guest_kept(json_object *e, const char *key, int r, void *userdata) {
        (void) e;
        (void) userdata;
        char *n = NULL;
        if (asprintf(&n, "%s%s: %s\n", guest_failed ?: "", key ?: "(no key)", recover_reason(r)) >= 0) {
                free(guest_failed);
                guest_failed = n;
        }
        if (!guest_first_error)
                guest_first_error = r;
}

/* `reset --all`: resume the guest processes and VMs whose xvsched died
 * holding them stopped or paused (the guard's work, should it have died
 * too), through the same recover_guest() the guard and the daemon use.
 * Entries of a live owner are left to it. */
static int reset_guest(Journal *j, RecoverResult *res) {
        RecoverOps ops;
        recover_ops_default(&ops, &arg.hv);
        if (arg.dry_run) {
                for (size_t i = 0; i < journal_size(j); i++) {
                        json_object *e = journal_entry(j, i), *t, *k;
                        if (json_object_object_get_ex(e, "type", &t) && streq(json_object_get_string(t), "guest-stop") &&
                            !ops.owner_alive(e, ops.userdata) && !arg.json)
                                printf("would resume %s\n",
                                       json_object_object_get_ex(e, "key", &k) ? json_object_get_string(k) : "(no key)");
                }
                return 0;
        }
        ops.kept = guest_kept;
        return recover_guest(j, &ops, 0, res);
}

static void print_failed(const char *failed, json_object *array) {
        for (const char *p = failed; p && *p;) {
                size_t len = strcspn(p, "\n");
                if (array)
                        json_object_array_add(array, json_object_new_string_len(p, (int) len));
                else
                        log_error("cannot restore %.*s", (int) len, p);
                p += len + (p[len] == '\n');
        }
}

int cmd_reset(int argc, char **argv) {
        if ((argc != 2 && !arg.all) || (arg.all && argc != 1))
                return cli_usage_error("usage: xvsched reset DOMAIN | xvsched reset --all");
        _cleanup_(journal_freep) Journal *j = NULL;
        int r = open_journal(&j);
        if (r < 0)
                return r;
        const char *domain = arg.all ? NULL : argv[1];
        RecoverResult gres = {};
        int gr = 0;
        if (arg.all) {
                /* pauses first, then stops (a paused VM's agent cannot answer) */
                gr = reset_guest(j, &gres);
                if (gr < 0 && !guest_first_error)
                        guest_first_error = gr;
        }
        LeverContext c = { .hv = &arg.hv, .journal = j, .dry_run = arg.dry_run };
        r = lever_reset(&c, domain);
        if (r < 0 || guest_failed) {
                /* One line per entry kept, then the sum; the rest was restored. */
                print_failed(guest_failed, NULL);
                print_failed(c.failed, NULL);
                if (guest_failed)
                        log_error("%u guest change%s could not be undone (kept in the state file), %u undone", gres.kept,
                                  gres.kept == 1 ? "" : "s", gres.resumed + gres.gone);
                if (r < 0)
                        log_error("%s", c.error);
                if (arg.json) {
                        json_object *o = json_object_new_object(), *f = json_object_new_array();
                        print_failed(guest_failed, f);
                        print_failed(c.failed, f);
                        json_object_object_add(o, "failed", f);
                        json_object_object_add(o, "remaining", json_object_new_int((int) journal_size(j)));
                        cli_print_json(o);
                }
                lever_context_done(&c);
                free(guest_failed);
                guest_failed = NULL;
                return r < 0 ? r : guest_first_error < 0 ? guest_first_error : -EIO;
        }
        r += (int) gres.resumed;
        (void) cli_partition_after_reset(domain);   /* restored: in no partition any more */
        if (gres.skipped > 0 && !arg.json)
                printf("left %u guest change%s of a running xvsched to it\n", gres.skipped, gres.skipped == 1 ? "" : "s");
        if (arg.json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "restored", json_object_new_int(r));
                json_object_object_add(o, "guest_resumed", json_object_new_int((int) gres.resumed));
                json_object_object_add(o, "remaining", json_object_new_int((int) journal_size(j)));
                cli_print_json(o);
        } else {
                print_notes(&c);
                printf("restored %d value%s%s%s\n", r, r == 1 ? "" : "s", domain ? " of " : "", domain ? domain : "");
        }
        lever_context_done(&c);
        return 0;
}
