/* encode.h - backend events to DeepSeek JSON: streamed chunks, or one aggregated completion. */
#ifndef SEEKD_API_ENCODE_H
#define SEEKD_API_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/error.h"
#include "backend/event.h"
#include "base/buf.h"

#define API_ENC_MAX_TOOLS 128

typedef struct {
    buf_t id, name, args;
    bool used;
} api_enc_tool_t;

/** Encoder state for one answer. */
typedef struct {
    bool fim;           /* text_completion instead of chat.completion */
    bool stream;        /* emit chunks as they come; else aggregate */
    bool include_usage; /* stream_options.include_usage: "usage":null on chunks without it */
    bool thinking;      /* a reasoning delta was seen: deltas name both texts */
    /* identity: from the backend's META event, else the fallbacks given at init */
    buf_t id, model, fingerprint;
    int64_t created;
    bool has_fingerprint;
    /* aggregation (non-streaming) */
    buf_t content, reasoning, lp_content, lp_reasoning;
    bool has_lp_content, has_lp_reasoning;
    api_enc_tool_t *tools;
    int ntools;
    char finish[40];
    bk_usage_t usage;
    bool has_usage;
    size_t max_answer;
} api_enc_t;

/** Prepares an encoder. `id`, `model` and `created` are used when the backend supplies none.
 * `max_answer` caps every aggregated text (content, reasoning, each tool's arguments). */
void api_enc_init(api_enc_t *e, bool fim, bool stream, bool include_usage, const char *id,
                  const char *model, int64_t created, size_t max_answer);
void api_enc_free(api_enc_t *e);

/** Consumes one batch of events (one chunk). Streaming: appends `data: {...}\n\n` to out
 * (nothing when the batch has nothing to show). Aggregating: remembers. ERROR events are not
 * handled here (see api_enc_error). Returns 0, or -1 when out or an aggregate hit its cap. */
int api_enc_events(api_enc_t *e, const bk_event_t *ev, int n, buf_t *out);

/** Ends the answer. Streaming: appends `data: [DONE]\n\n`. Aggregating: appends the whole
 * `chat.completion` / `text_completion` JSON. */
int api_enc_finish(api_enc_t *e, buf_t *out);

/** Appends the in-stream error event `data: {"error":{...}}\n\n`. */
int api_enc_error(const api_error_t *err, buf_t *out);

/** Appends a usage object exactly as reported (only the fields that were present). */
int api_enc_usage(const bk_usage_t *u, buf_t *out);

#endif
