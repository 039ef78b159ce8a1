/* front.h - the wire formats one chat flow serves (DeepSeek Chat Completions, Anthropic
 * Messages, OpenAI Responses): each front's encoder behind one interface, its keep-alive, and
 * its error shape before the first byte. chat.c drives whichever the route names. */
#ifndef SEEKD_API_FRONT_H
#define SEEKD_API_FRONT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/anthropic_encode.h"
#include "api/encode.h"
#include "api/error.h"
#include "api/responses_encode.h"
#include "backend/event.h"
#include "base/buf.h"
#include "http/http.h"

typedef enum {
    API_FRONT_DEEPSEEK,  /* /chat/completions and kin: DeepSeek's own format */
    API_FRONT_ANTHROPIC, /* /anthropic/v1/messages */
    API_FRONT_RESPONSES, /* /responses */
} api_front_t;

/** One answer's encoder, whichever the front. */
typedef struct {
    api_front_t front;
    union {
        api_enc_t ds;
        api_anth_enc_t an;
        api_resp_enc_t rs;
    } u;
} api_out_t;

/** Prepares the encoder of front (fim and include_usage matter to DeepSeek's only). */
void api_out_init(api_out_t *o, api_front_t front, bool fim, bool stream, bool include_usage,
                  const char *id, const char *model, int64_t created, size_t max_answer);
void api_out_free(api_out_t *o);
/** As api_enc_events: one batch of events; streamed bytes go to out. */
int api_out_events(api_out_t *o, const bk_event_t *ev, int n, buf_t *out);
/** As api_enc_finish: the stream's end, or the whole answer. */
int api_out_finish(api_out_t *o, buf_t *out);
/** The error event of a stream that already began. */
int api_out_error(api_out_t *o, const api_error_t *err, buf_t *out);
/** The SSE comment or event that keeps a waiting stream alive. */
const char *api_out_keepalive(api_front_t front);

/** Sends err before any byte of the answer, in front's shape and with its status. */
void api_front_send_error(api_front_t front, http_req_t *r, const api_error_t *err);

#endif
