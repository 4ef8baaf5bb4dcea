/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A small, strict, bounded JSON reader and writer for xvagent (libc only).
 *
 * Reader: RFC 8259 strictly (no comments, no trailing commas, no NaN, no
 * leading zeros, no control characters or invalid UTF-8 in strings, no
 * duplicate object keys, no NUL in strings).  Everything is bounded: input
 * length, nesting depth and node count are fixed at compile time, and a
 * JsonDoc owns all memory (no allocation), so a request can never make the
 * agent grow.
 *
 * Writer: appends to a growable buffer capped at a maximum size; every error
 * (out of memory, over the cap, misuse) is sticky and reported by
 * jw_error(), so callers write a whole reply and check once.  Strings are
 * escaped and invalid UTF-8 is replaced by U+FFFD, so the output is always
 * valid JSON even for arbitrary bytes (process names are arbitrary bytes). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_INPUT 4096
#define JSON_MAX_DEPTH 8
#define JSON_MAX_NODES 256

typedef enum JsonType {
        JSON_NULL,
        JSON_BOOL,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
} JsonType;

typedef struct JsonNode {
        JsonType type;
        int next;            /* index of the next sibling, -1 at the end */
        int child;           /* index of the first child (array, object), -1 if none */
        unsigned n_children;
        const char *key;     /* member name if the parent is an object, else NULL */
        const char *str;     /* JSON_STRING: decoded, NUL-terminated */
        size_t str_len;
        bool boolean;        /* JSON_BOOL */
        bool is_int;         /* JSON_NUMBER written as an integer that fits int64 */
        int64_t integer;
        double number;       /* JSON_NUMBER, always set */
} JsonNode;

typedef struct JsonDoc {
        JsonNode nodes[JSON_MAX_NODES];
        unsigned n_nodes;
        char pool[2 * JSON_MAX_INPUT + 2];
        size_t pool_len;
        size_t error_offset;   /* where parsing failed */
        const char *error;     /* static message, NULL on success */
} JsonDoc;

/* Parse exactly one JSON value (surrounding whitespace allowed) from s[0..n).
 * Returns 0, -E2BIG (input longer than JSON_MAX_INPUT, too deep, too many
 * nodes) or -EINVAL (not strict JSON); doc->error says why. */
int json_parse(JsonDoc *doc, const char *s, size_t n);

const JsonNode *json_root(const JsonDoc *doc);
/* The member `key` of an object, or NULL (also NULL if obj is not an object). */
const JsonNode *json_get(const JsonDoc *doc, const JsonNode *obj, const char *key);
const JsonNode *json_first(const JsonDoc *doc, const JsonNode *n);
const JsonNode *json_next(const JsonDoc *doc, const JsonNode *n);
const char *json_type_name(JsonType t);

typedef struct JsonWriter {
        char *buf;
        size_t len, cap, max;
        int error;                 /* sticky: 0, -ENOMEM, -E2BIG, -EINVAL */
        unsigned depth;
        bool need_comma[16];
        bool in_object[16];
        bool after_key;
} JsonWriter;

void jw_init(JsonWriter *w, size_t max);
void jw_reset(JsonWriter *w);    /* empty the buffer, keep the memory */
/* Drop everything after len and any error: back at the top level. */
void jw_truncate(JsonWriter *w, size_t len);
void jw_free(JsonWriter *w);
int jw_error(const JsonWriter *w);

void jw_begin_object(JsonWriter *w);
void jw_end_object(JsonWriter *w);
void jw_begin_array(JsonWriter *w);
void jw_end_array(JsonWriter *w);
void jw_key(JsonWriter *w, const char *key);
void jw_string(JsonWriter *w, const char *s);
void jw_stringn(JsonWriter *w, const char *s, size_t n);
void jw_int(JsonWriter *w, int64_t v);
void jw_uint(JsonWriter *w, uint64_t v);
void jw_double(JsonWriter *w, double v);
void jw_bool(JsonWriter *w, bool v);
void jw_null(JsonWriter *w);
/* Re-serialise a parsed node (used to echo a request's id). */
void jw_node(JsonWriter *w, const JsonDoc *doc, const JsonNode *n);
/* Raw bytes outside the JSON grammar (the newline, the 0xFF delimiter). */
void jw_raw(JsonWriter *w, const char *s, size_t n);
