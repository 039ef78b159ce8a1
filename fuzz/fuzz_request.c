/* fuzz_request.c - any bytes as a request body for each endpoint: a DeepSeek error envelope or
 * a valid request, never a crash; every error encodes as valid JSON, names a position inside
 * the body when it has one, and the body is never changed. One reader is reused across inputs,
 * as the server reuses its own. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/error.h"
#include "api/validate.h"
#include "json/jr.h"

static jr_doc_t g_doc;

/* " at line L column C" at the end of every shape and syntax error: L no more than the
 * body's lines, C no more than the longest line's bytes. */
static void check_position(const char *msg, const uint8_t *data, size_t size)
{
    /* only shape and syntax errors ("Failed to ...") carry one, always as the message's end;
     * a value quoted before it may contain the same words, so the last occurrence counts */
    if (strncmp(msg, "Failed to ", 10) != 0)
        return;
    const char *at = NULL;
    for (const char *p = strstr(msg, " at line "); p; p = strstr(p + 1, " at line "))
        at = p;
    unsigned long line, col;
    int end = -1;
    if (!at || sscanf(at, " at line %lu column %lu%n", &line, &col, &end) != 2 || end < 0 ||
        at[end] != '\0')
        abort();
    unsigned long lines = 1, longest = 0, cur = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            lines++;
            cur = 0;
        } else if (++cur > longest) {
            longest = cur;
        }
    }
    if (line < 1 || line > lines || col > longest)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    api_error_t err;
    buf_t out;
    buf_init(&out, 1 << 16);
    uint8_t *copy = malloc(size + 1);
    memcpy(copy, data, size);
    for (int k = API_KIND_CHAT; k <= API_KIND_FIM; k++) {
        api_body_facts_t f;
        if (api_check_body((const char *)data, size, (api_kind_t)k, &g_doc, &f, &err) != 0) {
            if (err.status != 400)
                abort();
            check_position(err.message, data, size);
            buf_reset(&out);
            if (api_error_encode(&err, &out) != 0)
                abort();
            json_t *back = json_loadb(out.data, out.len, 0, NULL);
            if (!back)
                abort(); /* the envelope must be valid JSON */
            json_decref(back);
        } else if (f.model.len &&
                   (f.model.ptr < (const char *)data ||
                    f.model.ptr + f.model.len > (const char *)data + size) &&
                   (f.model.ptr < g_doc.dec || f.model.ptr + f.model.len > g_doc.dec + size)) {
            abort(); /* the model is a slice of the body or of the reader's decoded strings */
        }
        if (memcmp(copy, data, size) != 0)
            abort(); /* validation never changes the body */
    }
    free(copy);
    buf_free(&out);
    return 0;
}
