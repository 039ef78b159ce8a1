/* jx.c - jansson helpers for the request translators. */
#include "api/jx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

int jx_bad(api_error_t *err, const char *fmt, ...)
{
    err->status = 400;
    err->type = "invalid_request_error";
    err->code = "invalid_request_error";
    err->param = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int jx_parse(const char *data, size_t len, json_t **out, api_error_t *err)
{
    json_error_t je;
    *out = json_loadb(data, len, 0, &je);
    if (!*out)
        return jx_bad(err, "The request body is not valid JSON: %s at line %d column %d", je.text,
                      je.line, je.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return jx_bad(err, "The request body must be a JSON object");
    }
    return 0;
}

int jx_dump(const json_t *j, char **out, size_t *out_len, api_error_t *err)
{
    *out = json_dumps(j, JSON_COMPACT);
    if (!*out)
        return jx_bad(err, "The request could not be re-encoded (invalid UTF-8 in a string?)");
    *out_len = strlen(*out);
    return 0;
}

void jx_copy(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v && !json_is_null(v))
        json_object_set(dst, key, v);
}

json_t *jx_text_of(const json_t *v, const char *ttype, const char *sep, const char *path,
                   api_error_t *err)
{
    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (!json_is_array(v)) {
        jx_bad(err, "%s: Input should be a string or a list of blocks", path);
        return NULL;
    }
    buf_t b;
    buf_init(&b, (size_t)1 << 30);
    size_t i;
    json_t *blk;
    bool first = true;
    json_array_foreach(v, i, blk)
    {
        json_t *t = json_object_get(blk, "type");
        json_t *text = json_object_get(blk, "text");
        if (!json_is_string(t)) {
            jx_bad(err, "%s.%zu.type: Field required", path, i);
            buf_free(&b);
            return NULL;
        }
        if (strcmp(json_string_value(t), "text") && (!ttype || strcmp(json_string_value(t), ttype)))
            continue; /* images and the like carry no text */
        if (!json_is_string(text)) {
            jx_bad(err, "%s.%zu.text: Input should be a valid string", path, i);
            buf_free(&b);
            return NULL;
        }
        if (!first)
            buf_puts(&b, sep);
        buf_append(&b, json_string_value(text), json_string_length(text));
        first = false;
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    if (!s)
        jx_bad(err, "%s: a text is not valid UTF-8", path);
    return s;
}
