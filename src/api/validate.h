/* validate.h - checks DeepSeek request bodies (chat, chat prefix, FIM) before they go anywhere. */
#ifndef SEEKD_API_VALIDATE_H
#define SEEKD_API_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#include "api/error.h"
#include "base/slice.h"
#include "json/jr.h"

/** Which endpoint a body was posted to; the rules differ slightly per endpoint. */
typedef enum {
    API_KIND_CHAT,        /* POST /chat/completions */
    API_KIND_CHAT_PREFIX, /* POST /beta/chat/completions: chat rules, plus `prefix` allowed */
    API_KIND_FIM,         /* POST /beta/completions */
} api_kind_t;

/** Parses a small body of len bytes (need not be NUL-terminated) into a jansson tree, for
 * endpoints off the hot path (POST /token/check). Returns 0 and stores a new reference in *out
 * (the caller json_decref()s it), or -1 with *out NULL and err filled: 400
 * invalid_request_error, param NULL, a message naming jansson's reason, line and column. A
 * body whose top level is not a JSON object is refused too (400). Duplicate keys are accepted
 * (the last one wins, as with most JSON parsers). */
int api_parse_json(const char *data, size_t len, json_t **out, api_error_t *err);

/** What the server needs to know of a valid request, found while checking it. */
typedef struct {
    slice_t model;           /* into the body, or into the reader's scratch when it had escapes */
    bool stream;             /* "stream": true */
    bool has_stream_options; /* a "stream_options" member, whatever its value (null too) */
    bool include_usage;      /* "stream_options": {"include_usage": true} */
    int64_t max_tokens;      /* "max_tokens" (>= 1 when valid); 0: not given */
} api_body_facts_t;

/** Parses a request body of len bytes (need not be NUL-terminated) with json/jr into scratch
 * (a reader document reused from call to call; one thread at a time) and validates it for the
 * endpoint `kind`, without building a tree or changing a byte.
 * Returns 0 and fills *facts (its slices valid until the next use of scratch, and while data
 * lives), or -1 with err filled:
 *  - malformed JSON: 400, param NULL, "Failed to parse the request body as JSON: <reason> at
 *    line L column C";
 *  - a field with the wrong JSON type or shape, a missing field, an unknown variant (and a top
 *    level that is not an object): 400 "Failed to deserialize the JSON body into the target
 *    type: <path>: <detail> at line L column C", DeepSeek's (serde's) wording and positions;
 *  - a value out of range or fields that contradict each other: 400 "Invalid ..." without a
 *    position. When a body has both kinds of fault the shape error wins, as upstream
 *    deserializes before it validates.
 * type and code are "invalid_request_error"; param names the offending field ("temperature",
 * "messages[2].role", "tools[0].function.name"), and points to static storage or into
 * err->param_buf, so err must not be copied by value while param is in use.
 * Unknown top-level fields are ignored; JSON null for an optional field means "absent".
 * Duplicate keys are accepted (the last one counts).
 * On API_KIND_CHAT_PREFIX `prefix: true` is optional (clients such as LiteLLM send ordinary chats
 * to /beta), but when present it must be on the last message, which must be role "assistant". */
int api_check_body(const char *data, size_t len, api_kind_t kind, jr_doc_t *scratch,
                   api_body_facts_t *facts, api_error_t *err);

#endif
