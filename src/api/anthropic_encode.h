/* anthropic_encode.h - backend events to Anthropic Messages answers: the typed SSE events of a
 * stream (message_start ... message_stop), or one `message` object; Anthropic's error shape. */
#ifndef SEEKD_API_ANTHROPIC_ENCODE_H
#define SEEKD_API_ANTHROPIC_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/blocks.h"
#include "api/error.h"
#include "backend/event.h"
#include "base/buf.h"

typedef struct {
    bool stream;
    bool started; /* message_start went out */
    api_blocks_t k;
    buf_t *out; /* the buffer of the call in progress */
} api_anth_enc_t;

/** Prepares an encoder; id and model are used when the backend names none. */
void api_anth_enc_init(api_anth_enc_t *e, bool stream, const char *id, const char *model,
                       int64_t created, size_t max_answer);
void api_anth_enc_free(api_anth_enc_t *e);
/** One batch: streaming appends its SSE events to out (message_start before the first);
 * otherwise remembers. Returns 0, or -1 when out or a text is over its cap. */
int api_anth_enc_events(api_anth_enc_t *e, const bk_event_t *ev, int n, buf_t *out);
/** Ends the answer: the last content_block_stop, message_delta and message_stop, or the whole
 * `message` object. */
int api_anth_enc_finish(api_anth_enc_t *e, buf_t *out);
/** The `event: error` of a stream that already began. */
int api_anth_enc_error(const api_error_t *err, buf_t *out);

/** Anthropic's error status and type for one of seekd's errors (DeepSeek's statuses): 400 and
 * 422 invalid_request_error, 401 authentication_error, 402 billing_error, 403
 * permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503
 * (overloaded) 529 overloaded_error, other 5xx 500 api_error. */
int api_anth_error_status(int status, const char **type);
/** Appends {"type":"error","error":{"type":...,"message":...}} for err; *status (may be NULL)
 * gets the status to send it with. */
int api_anth_error_body(const api_error_t *err, buf_t *out, int *status);
/** Anthropic's stop_reason for a DeepSeek finish_reason. */
const char *api_anth_stop_reason(const char *finish);

#endif
