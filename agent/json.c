/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct Parser {
        JsonDoc *doc;
        const char *s;
        size_t n, pos;
        int r;
} Parser;

static int fail(Parser *p, int r, const char *msg) {
        if (p->r == 0) {
                p->r = r;
                p->doc->error = msg;
                p->doc->error_offset = p->pos;
        }
        return p->r;
}

static void skip_ws(Parser *p) {
        while (p->pos < p->n) {
                char c = p->s[p->pos];
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                        break;
                p->pos++;
        }
}

static int new_node(Parser *p, JsonType t) {
        if (p->doc->n_nodes >= JSON_MAX_NODES)
                return fail(p, -E2BIG, "too many values");
        int i = (int) p->doc->n_nodes++;
        JsonNode *n = &p->doc->nodes[i];
        *n = (JsonNode) { .type = t, .next = -1, .child = -1 };
        return i;
}

static char *pool_alloc(Parser *p, size_t n) {
        /* Decoded strings are never longer than their encoding, so the pool
         * (twice the maximal input) cannot run out; check anyway. */
        if (n > sizeof p->doc->pool - p->doc->pool_len) {
                fail(p, -E2BIG, "string pool exhausted");
                return NULL;
        }
        char *r = p->doc->pool + p->doc->pool_len;
        p->doc->pool_len += n;
        return r;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int read_hex4(Parser *p, unsigned *ret) {
        if (p->n - p->pos < 4)
                return fail(p, -EINVAL, "truncated \\u escape");
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
                int h = hexval(p->s[p->pos + i]);
                if (h < 0)
                        return fail(p, -EINVAL, "bad \\u escape");
                v = v << 4 | (unsigned) h;
        }
        p->pos += 4;
        *ret = v;
        return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
        if (cp < 0x80) {
                o[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char) (0xC0 | cp >> 6);
                o[1] = (char) (0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char) (0xE0 | cp >> 12);
                o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char) (0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (char) (0xF0 | cp >> 18);
        o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char) (0x80 | (cp & 0x3F));
        return 4;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * Rejects overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t len;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
                len = 2; cp = c & 0x1F; min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3; cp = c & 0x0F; min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4; cp = c & 0x07; min = 0x10000;
        } else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return len;
}

/* At the opening quote.  Decodes into the pool. */
static int parse_string(Parser *p, const char **ret, size_t *ret_len) {
        p->pos++; /* '"' */
        /* First find the end to size the allocation. */
        size_t start = p->pos, i = p->pos;
        for (;;) {
                if (i >= p->n)
                        return fail(p, -EINVAL, "unterminated string");
                char c = p->s[i];
                if (c == '"')
                        break;
                if (c == '\\') {
                        i += 2;
                        continue;
                }
                i++;
        }
        char *out = pool_alloc(p, i - start + 1);
        if (!out)
                return p->r;
        size_t o = 0;
        while (p->pos < p->n) {
                unsigned char c = (unsigned char) p->s[p->pos];
                if (c == '"') {
                        p->pos++;
                        out[o] = 0;
                        *ret = out;
                        *ret_len = o;
                        return 0;
                }
                if (c < 0x20)
                        return fail(p, -EINVAL, "control character in string");
                if (c == '\\') {
                        p->pos++;
                        if (p->pos >= p->n)
                                return fail(p, -EINVAL, "truncated escape");
                        char e = p->s[p->pos++];
                        unsigned cp;
                        switch (e) {
                        case '"': out[o++] = '"'; break;
                        case '\\': out[o++] = '\\'; break;
                        case '/': out[o++] = '/'; break;
                        case 'b': out[o++] = '\b'; break;
                        case 'f': out[o++] = '\f'; break;
                        case 'n': out[o++] = '\n'; break;
                        case 'r': out[o++] = '\r'; break;
                        case 't': out[o++] = '\t'; break;
                        case 'u':
                                if (read_hex4(p, &cp) < 0)
                                        return p->r;
                                if (cp >= 0xDC00 && cp <= 0xDFFF)
                                        return fail(p, -EINVAL, "lone low surrogate");
                                if (cp >= 0xD800 && cp <= 0xDBFF) {
                                        unsigned lo;
                                        if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                                                return fail(p, -EINVAL, "lone high surrogate");
                                        p->pos += 2;
                                        if (read_hex4(p, &lo) < 0)
                                                return p->r;
                                        if (lo < 0xDC00 || lo > 0xDFFF)
                                                return fail(p, -EINVAL, "bad surrogate pair");
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                }
                                if (cp == 0)
                                        return fail(p, -EINVAL, "NUL in string");
                                /* \uXXXX is 6 bytes and encodes to at most 3,
                                 * a pair is 12 and encodes to 4. */
                                o += put_utf8(out + o, cp);
                                break;
                        default:
                                return fail(p, -EINVAL, "bad escape");
                        }
                        continue;
                }
                size_t l = utf8_valid_len((const unsigned char *) p->s + p->pos, p->n - p->pos);
                if (l == 0)
                        return fail(p, -EINVAL, "invalid UTF-8 in string");
                memcpy(out + o, p->s + p->pos, l);
                o += l;
                p->pos += l;
        }
        return fail(p, -EINVAL, "unterminated string");
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static int parse_number(Parser *p, JsonNode *n) {
        size_t start = p->pos;
        bool integral = true;
        if (p->pos < p->n && p->s[p->pos] == '-')
                p->pos++;
        if (p->pos >= p->n || !is_digit(p->s[p->pos]))
                return fail(p, -EINVAL, "bad number");
        if (p->s[p->pos] == '0') {
                p->pos++;
                if (p->pos < p->n && is_digit(p->s[p->pos]))
                        return fail(p, -EINVAL, "leading zero");
        } else
                while (p->pos < p->n && is_digit(p->s[p->pos]))
                        p->pos++;
        if (p->pos < p->n && p->s[p->pos] == '.') {
                integral = false;
                p->pos++;
                if (p->pos >= p->n || !is_digit(p->s[p->pos]))
                        return fail(p, -EINVAL, "bad fraction");
                while (p->pos < p->n && is_digit(p->s[p->pos]))
                        p->pos++;
        }
        if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
                integral = false;
                p->pos++;
                if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
                        p->pos++;
                if (p->pos >= p->n || !is_digit(p->s[p->pos]))
                        return fail(p, -EINVAL, "bad exponent");
                while (p->pos < p->n && is_digit(p->s[p->pos]))
                        p->pos++;
        }
        size_t len = p->pos - start;
        char tmp[64];
        if (len >= sizeof tmp)
                return fail(p, -EINVAL, "number too long");
        memcpy(tmp, p->s + start, len);
        tmp[len] = 0;
        n->number = strtod(tmp, NULL);
        if (!isfinite(n->number))
                return fail(p, -EINVAL, "number out of range");
        if (integral) {
                errno = 0;
                long long v = strtoll(tmp, NULL, 10);
                if (errno == 0) {
                        n->is_int = true;
                        n->integer = v;
                }
        }
        return 0;
}

static int parse_value(Parser *p, unsigned depth, int *ret);

static int parse_container(Parser *p, unsigned depth, int self, bool object) {
        char close = object ? '}' : ']';
        p->pos++;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == close) {
                p->pos++;
                return 0;
        }
        int last = -1;
        for (;;) {
                const char *key = NULL;
                if (object) {
                        skip_ws(p);
                        if (p->pos >= p->n || p->s[p->pos] != '"')
                                return fail(p, -EINVAL, "expected member name");
                        size_t klen;
                        if (parse_string(p, &key, &klen) < 0)
                                return p->r;
                        for (int c = p->doc->nodes[self].child; c >= 0; c = p->doc->nodes[c].next)
                                if (strcmp(p->doc->nodes[c].key, key) == 0)
                                        return fail(p, -EINVAL, "duplicate member name");
                        skip_ws(p);
                        if (p->pos >= p->n || p->s[p->pos] != ':')
                                return fail(p, -EINVAL, "expected ':'");
                        p->pos++;
                }
                int child;
                if (parse_value(p, depth + 1, &child) < 0)
                        return p->r;
                p->doc->nodes[child].key = key;
                if (last < 0)
                        p->doc->nodes[self].child = child;
                else
                        p->doc->nodes[last].next = child;
                last = child;
                p->doc->nodes[self].n_children++;
                skip_ws(p);
                if (p->pos >= p->n)
                        return fail(p, -EINVAL, "unterminated container");
                char c = p->s[p->pos++];
                if (c == close)
                        return 0;
                if (c != ',')
                        return fail(p, -EINVAL, object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
}

static bool match_literal(Parser *p, const char *lit) {
        size_t l = strlen(lit);
        if (p->n - p->pos < l || memcmp(p->s + p->pos, lit, l) != 0)
                return false;
        p->pos += l;
        return true;
}

static int parse_value(Parser *p, unsigned depth, int *ret) {
        if (depth > JSON_MAX_DEPTH)
                return fail(p, -E2BIG, "nested too deeply");
        skip_ws(p);
        if (p->pos >= p->n)
                return fail(p, -EINVAL, "expected a value");
        char c = p->s[p->pos];
        int i;
        switch (c) {
        case '{':
        case '[':
                i = new_node(p, c == '{' ? JSON_OBJECT : JSON_ARRAY);
                if (i < 0)
                        return i;
                if (parse_container(p, depth, i, c == '{') < 0)
                        return p->r;
                break;
        case '"':
                i = new_node(p, JSON_STRING);
                if (i < 0)
                        return i;
                if (parse_string(p, &p->doc->nodes[i].str, &p->doc->nodes[i].str_len) < 0)
                        return p->r;
                break;
        case 't':
        case 'f':
        case 'n':
                i = new_node(p, c == 'n' ? JSON_NULL : JSON_BOOL);
                if (i < 0)
                        return i;
                if (match_literal(p, "true"))
                        p->doc->nodes[i].boolean = true;
                else if (!match_literal(p, "false") && !match_literal(p, "null"))
                        return fail(p, -EINVAL, "bad literal");
                /* "null" must be JSON_NULL and true/false JSON_BOOL */
                if ((c == 'n') != (p->s[p->pos - 1] == 'l'))
                        return fail(p, -EINVAL, "bad literal");
                break;
        default:
                if (c != '-' && !is_digit(c))
                        return fail(p, -EINVAL, "unexpected character");
                i = new_node(p, JSON_NUMBER);
                if (i < 0)
                        return i;
                if (parse_number(p, &p->doc->nodes[i]) < 0)
                        return p->r;
        }
        *ret = i;
        return 0;
}

int json_parse(JsonDoc *doc, const char *s, size_t n) {
        doc->n_nodes = 0;
        doc->pool_len = 0;
        doc->error = NULL;
        doc->error_offset = 0;
        Parser p = { .doc = doc, .s = s, .n = n };
        if (n > JSON_MAX_INPUT)
                return fail(&p, -E2BIG, "input too long");
        int root;
        if (parse_value(&p, 0, &root) < 0)
                return p.r;
        skip_ws(&p);
        if (p.pos != p.n)
                return fail(&p, -EINVAL, "trailing characters");
        return 0;
}

const JsonNode *json_root(const JsonDoc *doc) {
        return doc->n_nodes > 0 && !doc->error ? &doc->nodes[0] : NULL;
}

const JsonNode *json_first(const JsonDoc *doc, const JsonNode *n) {
        if (!n || (n->type != JSON_OBJECT && n->type != JSON_ARRAY) || n->child < 0)
                return NULL;
        return &doc->nodes[n->child];
}

const JsonNode *json_next(const JsonDoc *doc, const JsonNode *n) {
        if (!n || n->next < 0)
                return NULL;
        return &doc->nodes[n->next];
}

const JsonNode *json_get(const JsonDoc *doc, const JsonNode *obj, const char *key) {
        if (!obj || obj->type != JSON_OBJECT)
                return NULL;
        for (const JsonNode *c = json_first(doc, obj); c; c = json_next(doc, c))
                if (strcmp(c->key, key) == 0)
                        return c;
        return NULL;
}

const char *json_type_name(JsonType t) {
        static const char *const names[] = {
                [JSON_NULL] = "null", [JSON_BOOL] = "boolean", [JSON_NUMBER] = "number",
                [JSON_STRING] = "string", [JSON_ARRAY] = "array", [JSON_OBJECT] = "object",
        };
        return (unsigned) t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* ---- writer ---- */

void jw_init(JsonWriter *w, size_t max) {
        *w = (JsonWriter) { .max = max };
}

void jw_reset(JsonWriter *w) {
        w->len = 0;
        w->error = 0;
        w->depth = 0;
        w->after_key = false;
        memset(w->need_comma, 0, sizeof w->need_comma);
        memset(w->in_object, 0, sizeof w->in_object);
}

void jw_truncate(JsonWriter *w, size_t len) {
        size_t l = len < w->len ? len : w->len;
        jw_reset(w);
        w->len = l;
        if (w->buf)
                w->buf[l] = 0;
}

void jw_free(JsonWriter *w) {
        free(w->buf);
        *w = (JsonWriter) { .max = w->max };
}

int jw_error(const JsonWriter *w) {
        return w->error;
}

static void put(JsonWriter *w, const char *s, size_t n) {
        if (w->error)
                return;
        if (n > w->max || w->len > w->max - n) {
                w->error = -E2BIG;
                return;
        }
        if (w->len + n + 1 > w->cap) {
                size_t ncap = w->cap ? w->cap : 4096;
                while (ncap < w->len + n + 1)
                        ncap *= 2;
                char *b = realloc(w->buf, ncap);
                if (!b) {
                        w->error = -ENOMEM;
                        return;
                }
                w->buf = b;
                w->cap = ncap;
        }
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = 0;
}

void jw_raw(JsonWriter *w, const char *s, size_t n) {
        put(w, s, n);
}

static void misuse(JsonWriter *w) {
        if (!w->error)
                w->error = -EINVAL;
}

static void before_value(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->in_object[w->depth]) {
                misuse(w);   /* a member value without a key */
                return;
        }
        if (w->depth > 0) {
                if (w->need_comma[w->depth])
                        put(w, ",", 1);
                w->need_comma[w->depth] = true;
        }
}

static void open_container(JsonWriter *w, char c) {
        before_value(w);
        if (w->depth + 1 >= sizeof w->need_comma / sizeof w->need_comma[0]) {
                if (!w->error)
                        w->error = -EINVAL;
                return;
        }
        put(w, &c, 1);
        w->depth++;
        w->need_comma[w->depth] = false;
        w->in_object[w->depth] = c == '{';
}

static void close_container(JsonWriter *w, char c) {
        if (w->depth == 0 || w->after_key || w->in_object[w->depth] != (c == '}')) {
                misuse(w);
                return;
        }
        put(w, &c, 1);
        w->in_object[w->depth] = false;
        w->depth--;
}

void jw_begin_object(JsonWriter *w) {
        open_container(w, '{');
}
void jw_end_object(JsonWriter *w) {
        close_container(w, '}');
}
void jw_begin_array(JsonWriter *w) {
        open_container(w, '[');
}
void jw_end_array(JsonWriter *w) {
        close_container(w, ']');
}

static void put_escaped(JsonWriter *w, const char *s, size_t n) {
        put(w, "\"", 1);
        size_t i = 0;
        while (i < n && !w->error) {
                size_t run = i;
                /* Copy runs of plain, valid bytes in one go. */
                while (run < n) {
                        unsigned char c = (unsigned char) s[run];
                        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
                                break;
                        run++;
                }
                put(w, s + i, run - i);
                i = run;
                if (i >= n)
                        break;
                unsigned char c = (unsigned char) s[i];
                char esc[8];
                if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) c;
                        put(w, esc, 2);
                        i++;
                } else if (c < 0x20) {
                        static const char short_esc[0x20] = { ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't' };
                        if (short_esc[c]) {
                                esc[0] = '\\';
                                esc[1] = short_esc[c];
                                put(w, esc, 2);
                        } else {
                                snprintf(esc, sizeof esc, "\\u%04x", c);
                                put(w, esc, 6);
                        }
                        i++;
                } else {
                        size_t l = utf8_valid_len((const unsigned char *) s + i, n - i);
                        if (l == 0) {
                                put(w, "\\ufffd", 6);
                                i++;
                        } else {
                                put(w, s + i, l);
                                i += l;
                        }
                }
        }
        put(w, "\"", 1);
}

void jw_key(JsonWriter *w, const char *key) {
        if (w->depth == 0 || w->after_key || !w->in_object[w->depth]) {
                misuse(w);
                return;
        }
        if (w->need_comma[w->depth])
                put(w, ",", 1);
        w->need_comma[w->depth] = true;
        put_escaped(w, key, strlen(key));
        put(w, ":", 1);
        w->after_key = true;
}

void jw_stringn(JsonWriter *w, const char *s, size_t n) {
        before_value(w);
        put_escaped(w, s, n);
}

void jw_string(JsonWriter *w, const char *s) {
        if (!s) {
                jw_null(w);
                return;
        }
        jw_stringn(w, s, strlen(s));
}

void jw_int(JsonWriter *w, int64_t v) {
        char b[32];
        int l = snprintf(b, sizeof b, "%" PRIi64, v);
        before_value(w);
        put(w, b, (size_t) l);
}

void jw_uint(JsonWriter *w, uint64_t v) {
        char b[32];
        int l = snprintf(b, sizeof b, "%" PRIu64, v);
        before_value(w);
        put(w, b, (size_t) l);
}

void jw_double(JsonWriter *w, double v) {
        char b[64];
        if (!isfinite(v)) {
                jw_null(w);
                return;
        }
        int l = snprintf(b, sizeof b, "%.17g", v);
        /* Keep it a JSON number in any locale. */
        for (int i = 0; i < l; i++)
                if (b[i] == ',')
                        b[i] = '.';
        before_value(w);
        put(w, b, (size_t) l);
}

void jw_bool(JsonWriter *w, bool v) {
        before_value(w);
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(JsonWriter *w) {
        before_value(w);
        put(w, "null", 4);
}

void jw_node(JsonWriter *w, const JsonDoc *doc, const JsonNode *n) {
        if (!n) {
                jw_null(w);
                return;
        }
        switch (n->type) {
        case JSON_NULL:
                jw_null(w);
                break;
        case JSON_BOOL:
                jw_bool(w, n->boolean);
                break;
        case JSON_NUMBER:
                if (n->is_int)
                        jw_int(w, n->integer);
                else
                        jw_double(w, n->number);
                break;
        case JSON_STRING:
                jw_stringn(w, n->str, n->str_len);
                break;
        case JSON_ARRAY:
        case JSON_OBJECT:
                open_container(w, n->type == JSON_OBJECT ? '{' : '[');
                for (const JsonNode *c = json_first(doc, n); c; c = json_next(doc, c)) {
                        if (n->type == JSON_OBJECT)
                                jw_key(w, c->key);
                        jw_node(w, doc, c);
                }
                close_container(w, n->type == JSON_OBJECT ? '}' : ']');
                break;
        }
}
