/* splice.c - the upstream request body: the client's bytes, plus include_usage for streams. */
#include "backend/splice.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Whether the object that opens at brace has no members. */
static bool empty_object(slice_t raw, const char *brace)
{
    for (const char *p = brace + 1; p < raw.ptr + raw.len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return *p == '}';
    }
    return false;
}

slice_t bk_splice_body(slice_t raw, bool stream, bool has_so, bool include_usage, char **owned)
{
    *owned = NULL;
    if (!stream || (has_so && include_usage))
        return raw;
    const char *brace = memchr(raw.ptr, '{', raw.len);
    if (!has_so && brace) {
        /* The usual case: splice the option in after the opening brace, leaving every byte
         * the client sent as it was. An empty object takes it without the comma. */
        static const char opt[] = "\"stream_options\":{\"include_usage\":true}";
        size_t head = (size_t)(brace + 1 - raw.ptr);
        bool empty = empty_object(raw, brace);
        size_t olen = sizeof opt - 1 + (empty ? 0 : 1);
        size_t len = raw.len + olen;
        char *p = xmalloc(len + 1);
        memcpy(p, raw.ptr, head);
        memcpy(p + head, opt, sizeof opt - 1);
        if (!empty)
            p[head + sizeof opt - 1] = ',';
        memcpy(p + head + olen, brace + 1, raw.len - head);
        p[len] = '\0';
        *owned = p;
        return (slice_t){p, len};
    }
    /* the client's own stream_options, without include_usage: re-encoded (the flags accept
     * everything the request's validation did) */
    json_t *copy = json_loadb(raw.ptr, raw.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    if (!json_is_object(copy)) {
        json_decref(copy);
        return raw;
    }
    json_t *so = json_object_get(copy, "stream_options");
    if (!json_is_object(so)) {
        so = json_object();
        json_object_set_new(copy, "stream_options", so);
    }
    json_object_set_new(so, "include_usage", json_true());
    char *p = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!p)
        return raw;
    *owned = p;
    return slice_of(p);
}
