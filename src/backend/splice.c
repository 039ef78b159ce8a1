/* splice.c - the upstream request body: the client's bytes, plus include_usage for streams. */
#include "backend/splice.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

slice_t bk_splice_body(slice_t raw, const json_t *body, bool stream, char **owned)
{
    *owned = NULL;
    if (!stream)
        return raw;
    const json_t *so = json_object_get(body, "stream_options");
    const char *brace = memchr(raw.ptr, '{', raw.len);
    if (so == NULL && brace) {
        /* The usual case: splice the option in after the opening brace, leaving every byte
         * the client sent as it was. An empty object takes it without the comma. */
        static const char opt[] = "\"stream_options\":{\"include_usage\":true}";
        size_t head = (size_t)(brace + 1 - raw.ptr);
        bool empty = json_object_size(body) == 0;
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
    if (json_is_true(json_object_get(so, "include_usage")))
        return raw;
    json_t *copy = json_copy((json_t *)body);
    json_t *nso = json_is_object(so) ? json_copy((json_t *)so) : json_object();
    json_object_set_new(nso, "include_usage", json_true());
    json_object_set_new(copy, "stream_options", nso);
    char *p = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    *owned = p;
    return slice_of(p);
}
