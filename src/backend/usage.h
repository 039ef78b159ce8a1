/* usage.h - token usage computed with seekd's own DeepSeek-V3 tokenizer, for answers whose
 * producer reported none (a third-party server, a stream cut short). */
#ifndef SEEKD_BACKEND_USAGE_H
#define SEEKD_BACKEND_USAGE_H

#include <jansson.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "backend/event.h"
#include "base/slice.h"

/** Prompt tokens of a validated request body: the DeepSeek-V3 chat template over its messages
 * (with the generation prompt), or the FIM prompt and suffix between the FIM tokens, encoded
 * with special tokens. Returns -1 when the tokenizer is not built in or the messages cannot be
 * rendered. Tool definitions are not counted (DeepSeek adds them server-side). */
long bk_count_prompt(const json_t *body, bk_kind_t kind);

/** Completion tokens of an answer's text (reasoning, content and tool-call text counted
 * separately and added). Returns -1 without the tokenizer. */
long bk_count_completion(slice_t reasoning, slice_t content, slice_t tool_text);

/** Texts longer than this many bytes count as their byte length, an upper bound of their
 * tokens under byte-level BPE, instead of being tokenized. */
#define BK_COUNT_MAX_BYTES ((size_t)2 << 20)

/** Fills out with computed prompt/completion/total (and the cache fields as all misses).
 * Returns false when the tokenizer is not available. */
bool bk_usage_compute(const json_t *body, bk_kind_t kind, slice_t reasoning, slice_t content,
                      slice_t tool_text, bk_usage_t *out);
/** The same; *bounded (may be NULL) tells whether some text was counted by its bytes. Safe on
 * any thread (the tokenizer keeps its scratch per thread). */
bool bk_usage_compute_bounded(const json_t *body, bk_kind_t kind, slice_t reasoning,
                              slice_t content, slice_t tool_text, bk_usage_t *out, bool *bounded);

#endif
