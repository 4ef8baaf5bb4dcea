/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "lib/json.h"

void json_init(Json *j, FILE *f) {
        memset(j, 0, sizeof *j);
        j->f = f;
        j->first[0] = true;
}

static void indent(Json *j) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
                fputs("  ", j->f);
}

static void write_escaped(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                case '\b': fputs("\\b", f); break;
                case '\f': fputs("\\f", f); break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

/* Comma, newline/indent and key before a value. */
static void prefix(Json *j, const char *key) {
        bool arr = j->depth > 0 && j->in_array[j->depth];
        if (j->depth > 0 && arr == (key != NULL))
                j->error = true;        /* key in an array, or none in an object */
        if (j->depth == 0 && !j->first[0])
                j->error = true;        /* second top-level value */
        bool first = j->first[j->depth];
        j->first[j->depth] = false;
        if (!first)
                fputc(',', j->f);
        if (j->depth > 0) {
                if (!j->compact[j->depth])
                        indent(j);
                else if (!first)
                        fputc(' ', j->f);
        }
        if (key && !arr) {
                write_escaped(j->f, key);
                fputs(": ", j->f);
        }
}

static void open_container(Json *j, const char *key, char c, bool array, bool compact) {
        prefix(j, key);
        fputc(c, j->f);
        if (j->depth + 1 >= JSON_MAX_DEPTH) {
                j->error = true;
                return;
        }
        j->depth++;
        j->first[j->depth] = true;
        j->in_array[j->depth] = array;
        /* Everything inside a compact array stays on its line. */
        j->compact[j->depth] = compact || j->compact[j->depth - 1];
}

static void close_container(Json *j, char c, bool array) {
        if (j->depth == 0 || j->in_array[j->depth] != array) {
                j->error = true;
                return;
        }
        bool empty = j->first[j->depth], compact = j->compact[j->depth];
        j->depth--;
        if (!empty && !compact)
                indent(j);
        fputc(c, j->f);
}

void json_begin_object(Json *j, const char *key) {
        open_container(j, key, '{', false, false);
}
void json_end_object(Json *j) {
        close_container(j, '}', false);
}
void json_begin_array(Json *j, const char *key, bool compact) {
        open_container(j, key, '[', true, compact);
}
void json_end_array(Json *j) {
        close_container(j, ']', true);
}

void json_string(Json *j, const char *key, const char *v) {
        prefix(j, key);
        if (v)
                write_escaped(j->f, v);
        else
                fputs("null", j->f);
}

void json_u64(Json *j, const char *key, uint64_t v) {
        prefix(j, key);
        fprintf(j->f, "%" PRIu64, v);
}

void json_i64(Json *j, const char *key, int64_t v) {
        prefix(j, key);
        fprintf(j->f, "%" PRId64, v);
}

void json_double(Json *j, const char *key, double v) {
        prefix(j, key);
        if (!isfinite(v)) {
                fputs("null", j->f);
                return;
        }
        char buf[64];
        snprintf(buf, sizeof buf, "%.15g", v);
        /* %g never gives a bare "." or a leading "+", and "1e+20" is valid
         * JSON; only the C locale matters (we never call setlocale). */
        fputs(buf, j->f);
}

void json_bool(Json *j, const char *key, bool v) {
        prefix(j, key);
        fputs(v ? "true" : "false", j->f);
}

void json_null(Json *j, const char *key) {
        prefix(j, key);
        fputs("null", j->f);
}

int json_finish(Json *j) {
        if (j->depth != 0)
                j->error = true;
        fputc('\n', j->f);
        if (fflush(j->f) != 0 || ferror(j->f))
                return -EIO;
        return j->error ? -EINVAL : 0;
}
