/* fuzz_json_reader.c - differential fuzzing of json/jr.c against jansson. Whatever jansson
 * accepts, jr must accept with the same tree; whatever jr rejects, jansson must reject too.
 * And every node's span (jr_span, the error reports' second scan of the source) must be a
 * value that parses alone into exactly that node's subtree.
 * jr accepts more in two places only: numbers jansson calls too big (jr keeps them as reals)
 * and object keys with an escaped NUL (jansson's keys are C strings). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/jr.h"

static jr_doc_t g_doc, g_span_doc;

static void check_spans(const jr_doc_t *d, const uint8_t *data, size_t size)
{
    for (jr_val_t v = 0; v < (jr_val_t)d->count; v++) {
        size_t start, end;
        if (jr_span(d, v, &start, &end) || start >= end || end > size)
            abort();
        if (jr_parse(&g_span_doc, (const char *)data + start, end - start, NULL, NULL) != 0 ||
            g_span_doc.count != d->n[v].end - (uint32_t)v || g_span_doc.n[0].type != d->n[v].type)
            abort();
    }
}

static void same(const jr_doc_t *d, jr_val_t v, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (!jr_is(d, v, JR_OBJ))
            abort();
        /* jansson keeps the last of a repeated key, as jr_get does */
        const char *key;
        size_t klen;
        json_t *jv;
        json_object_keylen_foreach((json_t *)j, key, klen, jv)
        {
            jr_val_t found = -1;
            for (jr_val_t k = jr_first_key(d, v); k >= 0; k = jr_next_key(d, v, k)) {
                slice_t s = jr_str(d, k);
                if (s.len == klen && memcmp(s.ptr, key, klen) == 0)
                    found = k + 1;
            }
            if (found < 0)
                abort();
            same(d, found, jv);
        }
        size_t unique = 0;
        for (jr_val_t k = jr_first_key(d, v); k >= 0; k = jr_next_key(d, v, k)) {
            bool later = false;
            for (jr_val_t k2 = jr_next_key(d, v, k); k2 >= 0; k2 = jr_next_key(d, v, k2))
                later |= slice_eq(jr_str(d, k), jr_str(d, k2));
            unique += !later;
        }
        if (unique != json_object_size(j))
            abort();
        break;
    }
    case JSON_ARRAY: {
        if (!jr_is(d, v, JR_ARR) || jr_len(d, v) != json_array_size(j))
            abort();
        size_t i = 0;
        for (jr_val_t e = jr_first(d, v); e >= 0; e = jr_next(d, v, e))
            same(d, e, json_array_get(j, i++));
        break;
    }
    case JSON_STRING: {
        slice_t s = jr_str(d, v);
        if (!jr_is(d, v, JR_STR) || s.len != json_string_length(j) ||
            memcmp(s.ptr, json_string_value(j), s.len) != 0)
            abort();
        break;
    }
    case JSON_INTEGER:
        if (!jr_is(d, v, JR_INT) || jr_int(d, v) != (int64_t)json_integer_value(j))
            abort();
        break;
    case JSON_REAL:
        if (!jr_is(d, v, JR_REAL) || jr_num(d, v) != json_real_value(j))
            abort();
        break;
    case JSON_TRUE:
        if (!jr_is(d, v, JR_TRUE))
            abort();
        break;
    case JSON_FALSE:
        if (!jr_is(d, v, JR_FALSE))
            abort();
        break;
    case JSON_NULL:
        if (!jr_is(d, v, JR_NULL))
            abort();
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a raw NUL is valid nowhere in JSON; jansson reads it as the end of the input */
    if (memchr(data, 0, size)) {
        if (jr_parse(&g_doc, (const char *)data, size, NULL, NULL) >= 0)
            abort();
        return 0;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    jr_val_t root = jr_parse(&g_doc, (const char *)data, size, NULL, NULL);
    if (root == 0 && size < 4096) /* the span check is quadratic in the size */
        check_spans(&g_doc, data, size);
    if (j) {
        if (root != 0)
            abort();
        same(&g_doc, root, j);
        json_decref(j);
    } else if (root == 0) {
        if (!strstr(jerr.text, "too big") && !strstr(jerr.text, "overflow") &&
            !strstr(jerr.text, "NUL byte in object key"))
            abort();
    }
    return 0;
}
