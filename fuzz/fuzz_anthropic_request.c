/* fuzz_anthropic_request.c - any bytes as an Anthropic Messages body: a Chat Completions body
 * (a JSON object with a model and a messages array) or a 400 whose Anthropic error body is
 * valid JSON, never a crash or a leak; the input is never changed. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic_encode.h"
#include "api/anthropic_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t len = 0;
    bool stream;
    api_error_t err;
    for (int counting = 0; counting < 2; counting++) {
        if (api_anth_translate((const char *)data, size, NULL, counting, &out, &len, &stream,
                               &err) == 0) {
            json_t *j = json_loadb(out, len, 0, NULL);
            if (!json_is_object(j) || !json_is_string(json_object_get(j, "model")) ||
                !json_is_array(json_object_get(j, "messages")))
                abort();
            json_decref(j);
            free(out);
        } else {
            if (err.status != 400 || !err.message[0] || out)
                abort();
            buf_t b;
            buf_init(&b, 1 << 14);
            if (api_anth_error_body(&err, &b, NULL))
                abort();
            json_t *j = json_loadb(b.data, b.len, 0, NULL);
            if (!j)
                abort();
            json_decref(j);
            buf_free(&b);
        }
    }
    return 0;
}
