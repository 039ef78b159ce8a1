/* jr.h - a JSON reader for hot paths: one pass over the text into a flat array of nodes that
 * the document reuses from parse to parse. Strings without escapes are slices of the input;
 * escaped strings are decoded once into one buffer. No allocation in steady state.
 *
 * Values are node indexes (jr_val_t); -1 stands for "absent", and every accessor accepts it,
 * so lookups chain without checks: jr_str(d, jr_get(d, jr_get(d, root, "a"), "b")).
 * A value's subtree is the nodes [v, end): an array's elements follow it in order, an
 * object's members follow it as key, value, key, value... */
#ifndef SEEKD_JSON_JR_H
#define SEEKD_JSON_JR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/slice.h"

typedef enum {
    JR_NONE = 0, /* an absent value (index -1) */
    JR_NULL,
    JR_FALSE,
    JR_TRUE,
    JR_INT,  /* an integer literal that fits int64_t */
    JR_REAL, /* any other number (fraction, exponent, or an integer too big for int64_t) */
    JR_STR,
    JR_ARR,
    JR_OBJ,
} jr_type_t;

typedef struct {
    uint32_t off; /* strings: start of the bytes (in src, or in dec if decoded); numbers: literal */
    uint32_t len; /* strings, numbers: bytes; arrays: elements; objects: members */
    uint32_t end; /* one past the last node of this value's subtree */
    uint8_t type; /* jr_type_t */
    uint8_t decoded;
} jr_node_t;

typedef struct {
    jr_node_t *n;
    uint32_t count, cap;
    const char *src;
    size_t src_len;
    char *dec; /* decoded strings of the last parse */
    size_t dec_cap;
} jr_doc_t;

typedef int32_t jr_val_t;

#define JR_MAX_DEPTH 2048

void jr_init(jr_doc_t *d);
void jr_free(jr_doc_t *d);

/** Parses len bytes of RFC 8259 JSON (any value at top level, surrounding whitespace allowed)
 * into d, replacing what d held. The input must outlive the values read from d. Strings must
 * be valid UTF-8 without lone surrogates; `\u0000` is allowed. Returns the root (0), or -1 with
 * *err set to a static reason and *at to the byte offset where parsing stopped. */
jr_val_t jr_parse(jr_doc_t *d, const char *s, size_t len, const char **err, size_t *at);

static inline jr_type_t jr_type(const jr_doc_t *d, jr_val_t v)
{
    return v < 0 ? JR_NONE : (jr_type_t)d->n[v].type;
}
static inline bool jr_is(const jr_doc_t *d, jr_val_t v, jr_type_t t)
{
    return jr_type(d, v) == t;
}
static inline bool jr_is_num(const jr_doc_t *d, jr_val_t v)
{
    jr_type_t t = jr_type(d, v);
    return t == JR_INT || t == JR_REAL;
}

/** The member `key` of object obj (the last one when a key repeats, as jansson does), or -1. */
jr_val_t jr_get(const jr_doc_t *d, jr_val_t obj, const char *key);

/** A string's bytes; an empty slice for anything else. */
slice_t jr_str(const jr_doc_t *d, jr_val_t v);

/** A number as int64_t: reals are truncated and clamped to the range (NaN -> 0); 0 for
 * anything else. */
int64_t jr_int(const jr_doc_t *d, jr_val_t v);

/** A number as double (may be +-inf for huge literals); 0 for anything else. */
double jr_num(const jr_doc_t *d, jr_val_t v);

/** Elements of an array or members of an object; 0 for anything else. */
static inline size_t jr_len(const jr_doc_t *d, jr_val_t v)
{
    jr_type_t t = jr_type(d, v);
    return t == JR_ARR || t == JR_OBJ ? d->n[v].len : 0;
}

/** The bytes of value v in the source of the last parse: [*start, *end), a string with its
 * quotes, a container with its brackets. Scans the source again from its start (O(size of the
 * document)), so it is for error reports, not for hot paths. Returns 0, or -1 when v is not a
 * value of the document. */
int jr_span(const jr_doc_t *d, jr_val_t v, size_t *start, size_t *end);

/** Where byte offset off of the source lies, as serde_json reports positions: *line is
 * 1-based; *col counts the bytes from the start of that line up to off, so it is the 1-based
 * column of the byte just before off (0 at the start of a line). Only '\n' ends a line. */
void jr_line_col(const char *src, size_t off, size_t *line, size_t *col);

/** Array iteration: for (jr_val_t e = jr_first(d, a); e >= 0; e = jr_next(d, a, e)). */
static inline jr_val_t jr_first(const jr_doc_t *d, jr_val_t arr)
{
    return jr_is(d, arr, JR_ARR) && d->n[arr].len ? arr + 1 : -1;
}
static inline jr_val_t jr_next(const jr_doc_t *d, jr_val_t arr, jr_val_t e)
{
    uint32_t nx = d->n[e].end;
    return nx < d->n[arr].end ? (jr_val_t)nx : -1;
}

/** Object iteration over keys: for (jr_val_t k = jr_first_key(d, o); k >= 0;
 * k = jr_next_key(d, o, k)); the value of key k is k + 1. */
static inline jr_val_t jr_first_key(const jr_doc_t *d, jr_val_t obj)
{
    return jr_is(d, obj, JR_OBJ) && d->n[obj].len ? obj + 1 : -1;
}
static inline jr_val_t jr_next_key(const jr_doc_t *d, jr_val_t obj, jr_val_t k)
{
    uint32_t nx = d->n[k + 1].end;
    return nx < d->n[obj].end ? (jr_val_t)nx : -1;
}

#endif
