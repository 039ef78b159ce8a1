/* responses_parse.h - an OpenAI Responses request turned into the one internal request: a
 * DeepSeek Chat Completions body. seekd keeps no conversation state, so store and
 * previous_response_id are refused. */
#ifndef SEEKD_API_RESPONSES_PARSE_H
#define SEEKD_API_RESPONSES_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/error.h"

/** Translates the Responses request body data[0..len) into a Chat Completions body: input (a
 * string, or items: messages with input_text/input_image/output_text parts, function_call,
 * function_call_output, reasoning) to messages, instructions to a system message,
 * reasoning.effort to reasoning_effort ("none" turns thinking off), max_output_tokens to
 * max_tokens, text.format to response_format, user to user_id, function tools and tool_choice
 * to their Chat Completions forms; a stream asks for usage. Returns 0 and *out (malloc'd
 * compact JSON), *out_len, *stream; or -1 with err (400, OpenAI's envelope: param names the
 * field). */
int api_resp_translate(const char *data, size_t len, char **out, size_t *out_len, bool *stream,
                       api_error_t *err);

#endif
