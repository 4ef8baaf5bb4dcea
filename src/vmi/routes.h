/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Verdicts on the agentless control routes, per guest kernel (issue 12,
 * "Safety first"; docs/agentless.md, "Routes disabled per kernel").  A route
 * that failed its soak on a kernel is disabled there: the vmi view then
 * does not use it on a guest running that kernel.
 *
 * The store is STATE_DIR/routes.json (STATE_DIR as the journal's:
 * $XVSCHED_STATE_DIR, else /run/xvsched), written atomically by root:
 *
 *   {"version": 1, "routes": [
 *     {"kernel": "6.1.0-57-amd64", "route": "vmi-sigstop+gdbstub-kcall",
 *      "verdict": "disabled", "reason": "renice_fail=3", "when": 1796050000,
 *      "source": "soak-kcall"}, ...]}
 *
 * Read defensively: at most ROUTE_FILE_MAX bytes, ROUTE_MAX entries, every
 * string bounded and printable; a file that is not such a file is malformed
 * as a whole (one line of error; treated as empty by readers, refused by
 * writers).  The parser, formatter and lookup are pure (unit-tested in
 * tests/unit/test-routes.c). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The one agentless control route so far (view-vmi.c). */
#define ROUTE_KCALL "vmi-sigstop+gdbstub-kcall"

#define ROUTE_FILE "routes.json"
#define ROUTE_FILE_MAX (256u << 10)   /* bytes of routes.json read */
#define ROUTE_MAX 512                 /* entries in one file */
#define ROUTE_KERNEL_MAX 64           /* a kernel release: new_utsname.release is 65 bytes with its NUL */
#define ROUTE_NAME_MAX 64
#define ROUTE_REASON_MAX 256
#define ROUTE_SOURCE_MAX 64
#define ROUTE_STATE_DIR_DEFAULT "/run/xvsched"   /* as journal_state_dir() (src/lever/journal.h) */

typedef enum RouteVerdict {
        ROUTE_VERDICT_OK,
        ROUTE_VERDICT_DISABLED,
} RouteVerdict;

typedef struct RouteEntry {
        char kernel[ROUTE_KERNEL_MAX + 1];
        char route[ROUTE_NAME_MAX + 1];
        RouteVerdict verdict;
        char reason[ROUTE_REASON_MAX + 1];
        int64_t when;                 /* seconds since the epoch */
        char source[ROUTE_SOURCE_MAX + 1];
} RouteEntry;

typedef struct RouteStore {
        RouteEntry *e;
        size_t n;
} RouteStore;

void route_store_done(RouteStore *s);

const char *route_verdict_to_string(RouteVerdict v);

/* A kernel release as the store keeps it: 1..64 of [A-Za-z0-9._+~-]. */
bool route_kernel_valid(const char *kernel);
/* A route this xvsched knows (ROUTE_KCALL). */
bool route_name_known(const char *route);
/* A reason or source: at most max bytes, printable ASCII (no control
 * characters, no bytes >= 0x7f); empty allowed. */
bool route_text_valid(const char *text, size_t max);

/* Parse routes.json's text (NULL or empty: no entries).  -EBADMSG and
 * *ret_reason when it is not such a file; *ret untouched on failure. */
int route_store_parse(const char *text, size_t len, RouteStore *ret, const char **ret_reason);
/* The file's text (malloc'd), or NULL out of memory. */
char *route_store_format(const RouteStore *s);

/* The entry for route on kernel, or NULL (not soaked). */
const RouteEntry *route_store_find(const RouteStore *s, const char *route, const char *kernel);
/* Add or replace (same route and kernel) an entry; checked like the parser
 * checks one: -EINVAL for a bad field, -E2BIG past ROUTE_MAX. */
int route_store_set(RouteStore *s, const RouteEntry *e);

/* The state directory: dir, else $XVSCHED_STATE_DIR, else the default. */
const char *route_state_dir(const char *dir);
/* Load STATE_DIR/routes.json: a missing file (or directory) is an empty
 * store (0).  The file must be a regular file, not a symlink, owned by
 * root or our euid, not writable by group or others, at most
 * ROUTE_FILE_MAX bytes, and parse: else -errno (-EBADMSG malformed, -EPERM
 * unsafe, -EFBIG too big) with a one-line reason in err, and *ret empty. */
int route_store_load(const char *dir, RouteStore *ret, char *err, size_t err_size);
/* Write the store atomically as ROUTE_FILE in the directory dir_fd. */
int route_store_save_at(int dir_fd, const RouteStore *s);

/* The verdict for route on kernel from the store in dir: 1 and *ret the
 * entry when there is one, 0 when not soaked (or the store is unreadable:
 * then err says why, else err is ""). */
int route_verdict_lookup(const char *dir, const char *route, const char *kernel, RouteEntry *ret, char *err,
                         size_t err_size);
