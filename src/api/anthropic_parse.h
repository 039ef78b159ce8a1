/* anthropic_parse.h - an Anthropic Messages request turned into the one internal request: a
 * DeepSeek Chat Completions body, which every backend takes. */
#ifndef SEEKD_API_ANTHROPIC_PARSE_H
#define SEEKD_API_ANTHROPIC_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/error.h"

/** Where Anthropic model names go: entries "PATTERN=MODEL", the first whose PATTERN matches
 * wins; a PATTERN ending in '*' matches names that start with what comes before it, any other
 * matches the name exactly. A name no entry matches is kept. */
typedef struct {
    const char *const *map;
    int nmap;
} api_anth_opts_t;

/** The map seekd uses when none is configured (DeepSeek's own): claude-opus* to
 * deepseek-v4-pro, other claude* names to deepseek-flash. NULL-terminated. */
extern const char *const api_anth_default_map[];

/** Whether one map entry is well formed ("PATTERN=MODEL", both sides non-empty, no spaces). */
bool api_anth_map_entry_ok(const char *entry);

/** The model name for an Anthropic one, into out (cut at outlen-1 bytes). */
void api_anth_map_model(const api_anth_opts_t *o, const char *name, char *out, size_t outlen);

/** Translates the Messages request body data[0..len) into a Chat Completions body: system to a
 * system message, content blocks to content parts, tool_use/tool_result to tool_calls and tool
 * messages, thinking blocks to reasoning_content, thinking to DeepSeek's thinking,
 * stop_sequences to stop, metadata.user_id to user_id, tools and tool_choice to functions; a
 * stream asks for usage. counting: for count_tokens, where max_tokens is not required.
 * Returns 0 and *out (malloc'd, NUL-terminated compact JSON; the caller frees it), *out_len
 * and *stream; or -1 with err filled (400 invalid_request_error, a message naming the field
 * as Anthropic's paths do, such as messages.1.content.0.type). */
int api_anth_translate(const char *data, size_t len, const api_anth_opts_t *o, bool counting,
                       char **out, size_t *out_len, bool *stream, api_error_t *err);

#endif
