/* responses_encode.h - backend events to OpenAI Responses answers: the typed SSE events of a
 * stream (response.created ... response.completed), or one `response` object. */
#ifndef SEEKD_API_RESPONSES_ENCODE_H
#define SEEKD_API_RESPONSES_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/blocks.h"
#include "api/error.h"
#include "backend/event.h"
#include "base/buf.h"

typedef struct {
    bool stream;
    bool started; /* response.created and response.in_progress went out */
    int64_t seq;  /* the next sequence_number */
    api_blocks_t k;
    buf_t *out; /* the buffer of the call in progress */
} api_resp_enc_t;

/** Prepares an encoder; id and model are used when the backend names none. */
void api_resp_enc_init(api_resp_enc_t *e, bool stream, const char *id, const char *model,
                       int64_t created, size_t max_answer);
void api_resp_enc_free(api_resp_enc_t *e);
/** One batch: streaming appends its events (response.created and response.in_progress before
 * the first); otherwise remembers. Returns 0, or -1 when out or a text is over its cap. */
int api_resp_enc_events(api_resp_enc_t *e, const bk_event_t *ev, int n, buf_t *out);
/** Ends the answer: the open item's done events and response.completed (response.incomplete
 * when max_output_tokens cut it), or the whole `response` object. */
int api_resp_enc_finish(api_resp_enc_t *e, buf_t *out);
/** The response.failed event of a stream that already began, carrying err. */
int api_resp_enc_error(api_resp_enc_t *e, const api_error_t *err, buf_t *out);

#endif
