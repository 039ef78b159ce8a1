/* fuzz_responses_request.c - any bytes as an OpenAI Responses body: a Chat Completions body (a
 * JSON object with a model and a messages array) or a 400 whose OpenAI envelope is valid JSON,
 * never a crash or a leak. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/error.h"
#include "api/responses_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t len = 0;
    bool stream;
    api_error_t err;
    if (api_resp_translate((const char *)data, size, &out, &len, &stream, &err) == 0) {
        json_t *j = json_loadb(out, len, 0, NULL);
        if (!json_is_object(j) || !json_is_string(json_object_get(j, "model")) ||
            !json_is_array(json_object_get(j, "messages")) ||
            stream != json_is_true(json_object_get(j, "stream")))
            abort();
        json_decref(j);
        free(out);
        return 0;
    }
    if (err.status != 400 || !err.message[0] || out)
        abort();
    buf_t b;
    buf_init(&b, 1 << 14);
    if (api_error_encode(&err, &b))
        abort();
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    if (!j)
        abort();
    json_decref(j);
    buf_free(&b);
    return 0;
}
