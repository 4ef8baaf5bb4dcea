/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A streaming writer of strictly valid JSON (RFC 8259): strings escaped,
 * control characters as \u00XX, non-finite numbers written as null, commas
 * and nesting tracked by the writer.  Keys are NULL inside arrays. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct Json {
        FILE *f;
        int depth;
        bool first[JSON_MAX_DEPTH];
        bool in_array[JSON_MAX_DEPTH];
        bool compact[JSON_MAX_DEPTH];   /* arrays of scalars on one line */
        bool error;                     /* misuse (bad nesting, key in array) */
} Json;

void json_init(Json *j, FILE *f);
void json_begin_object(Json *j, const char *key);
void json_end_object(Json *j);
/* compact: keep the elements on one line. */
void json_begin_array(Json *j, const char *key, bool compact);
void json_end_array(Json *j);
void json_string(Json *j, const char *key, const char *v);   /* NULL -> null */
void json_u64(Json *j, const char *key, uint64_t v);
void json_i64(Json *j, const char *key, int64_t v);
void json_double(Json *j, const char *key, double v);
void json_bool(Json *j, const char *key, bool v);
void json_null(Json *j, const char *key);
/* Finish the document (newline).  Returns 0, or -EINVAL if the nesting was
 * wrong, -EIO if writing failed. */
int json_finish(Json *j);
