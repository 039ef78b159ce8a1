/* validate.h - checks DeepSeek request bodies (chat, chat prefix, FIM) before they go anywhere. */
#ifndef SEEKD_API_VALIDATE_H
#define SEEKD_API_VALIDATE_H

#include <stddef.h>

#include <jansson.h>

#include "api/error.h"

/** Which endpoint a body was posted to; the rules differ slightly per endpoint. */
typedef enum {
    API_KIND_CHAT,        /* POST /chat/completions */
    API_KIND_CHAT_PREFIX, /* POST /beta/chat/completions: chat rules, plus `prefix` allowed */
    API_KIND_FIM,         /* POST /beta/completions */
} api_kind_t;

/** Parses a request body of len bytes (need not be NUL-terminated) with jansson.
 * Returns 0 and stores a new reference in *out (the caller json_decref()s it), or -1 with
 * *out NULL and err filled: 400 invalid_request_error, param NULL, a message naming jansson's
 * reason, line and column. A body whose top level is not a JSON object is rejected the same
 * way. Duplicate keys are accepted (the last one wins, as with most JSON parsers). */
int api_parse_json(const char *data, size_t len, json_t **out, api_error_t *err);

/** Validates a parsed request body for the endpoint `kind`. Never modifies body.
 * Returns 0 when the body may be forwarded, or -1 with err filled: status 422 when a field has
 * the wrong JSON type or shape (DeepSeek's "Failed to deserialize the JSON body into the target
 * type: ..." family), 400 when the shape is right but a value is out of range or the fields
 * contradict each other. When a body has both kinds of fault the 422 wins, as upstream
 * deserializes before it validates. type and code are "invalid_request_error"; param names the
 * offending field ("temperature", "messages[2].role", "tools[0].function.name").
 * param and type/code point to static storage or into err->param_buf, so err must not be
 * copied by value while param is in use.
 * Unknown top-level fields are ignored; JSON null for an optional field means "absent".
 * On API_KIND_CHAT_PREFIX `prefix: true` is optional (clients such as LiteLLM send ordinary chats
 * to /beta), but when present it must be on the last message, which must be role "assistant". */
int api_validate(const json_t *body, api_kind_t kind, api_error_t *err);

#endif
