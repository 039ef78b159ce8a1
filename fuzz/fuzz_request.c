/* fuzz_request.c - any bytes as a request body for each endpoint: a DeepSeek error envelope or
 * a valid request, never a crash, and every error encodes as valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/error.h"
#include "api/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    api_error_t err;
    json_t *body = NULL;
    buf_t out;
    buf_init(&out, 1 << 16);
    if (api_parse_json((const char *)data, size, &body, &err) == 0) {
        for (int k = API_KIND_CHAT; k <= API_KIND_FIM; k++) {
            char *before = json_dumps(body, JSON_COMPACT);
            if (api_validate(body, (api_kind_t)k, &err) != 0) {
                buf_reset(&out);
                if (api_error_encode(&err, &out) != 0)
                    abort();
                json_t *back = json_loadb(out.data, out.len, 0, NULL);
                if (!back)
                    abort(); /* the envelope must be valid JSON */
                json_decref(back);
            }
            char *after = json_dumps(body, JSON_COMPACT);
            if ((before || after) && (!before || !after || strcmp(before, after) != 0))
                abort(); /* validation never changes the body */
            free(before);
            free(after);
        }
    } else if (err.status != 400 && err.status != 422) {
        abort();
    }
    json_decref(body);
    buf_free(&out);
    return 0;
}
