/* splice.h - the request body a relay posts upstream: the client's bytes, with the one change
 * exact accounting needs (streams always ask for usage). A pure function, tested from data. */
#ifndef SEEKD_BACKEND_SPLICE_H
#define SEEKD_BACKEND_SPLICE_H

#include <stdbool.h>

#include "base/slice.h"

/** The body to post for a validated request. raw: the bytes the client sent, a JSON object;
 * has_so: it has a stream_options member (any value, null too); include_usage: that member is
 * an object whose include_usage is true (both known from validation, so raw is not read
 * again). A non-streamed request, and a stream whose stream_options already has include_usage
 * true, get raw itself. A stream without stream_options gets raw with
 * `"stream_options":{"include_usage":true},` spliced in after its opening brace, every other
 * byte as the client sent it. A stream whose stream_options lacks include_usage (or has it
 * false) gets the body parsed and re-encoded compactly with include_usage set, its other
 * options kept (rare: a client that sets stream options mostly asks for usage). When the
 * result is not raw, *owned is the malloc'd buffer it lives in (the caller frees it); else
 * *owned is NULL. */
slice_t bk_splice_body(slice_t raw, bool stream, bool has_so, bool include_usage, char **owned);

#endif
