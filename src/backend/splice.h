/* splice.h - the request body a relay posts upstream: the client's bytes, with the one change
 * exact accounting needs (streams always ask for usage). A pure function, tested from data. */
#ifndef SEEKD_BACKEND_SPLICE_H
#define SEEKD_BACKEND_SPLICE_H

#include <jansson.h>
#include <stdbool.h>

#include "base/slice.h"

/** The body to post for a validated request. raw: the bytes the client sent; body: the same,
 * parsed (a JSON object). A non-streamed request, and a stream whose stream_options already
 * has include_usage true, get raw itself. A stream without stream_options gets raw with
 * `"stream_options":{"include_usage":true},` spliced in after its opening brace, every other
 * byte as the client sent it. A stream whose stream_options lacks include_usage (or has it
 * false) gets the body re-encoded compactly with include_usage set, its other options kept.
 * When the result is not raw, *owned is the malloc'd buffer it lives in (the caller frees it);
 * else *owned is NULL. */
slice_t bk_splice_body(slice_t raw, const json_t *body, bool stream, char **owned);

#endif
