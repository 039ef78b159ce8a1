/* front.c - one interface over the three encoders, and each front's error answer. */
#include "api/front.h"

#include <string.h>

#include "api/server_int.h"

void api_out_init(api_out_t *o, api_front_t front, bool fim, bool stream, bool include_usage,
                  const char *id, const char *model, int64_t created, size_t max_answer)
{
    memset(o, 0, sizeof *o);
    o->front = front;
    switch (front) {
    case API_FRONT_DEEPSEEK:
        api_enc_init(&o->u.ds, fim, stream, include_usage, id, model, created, max_answer);
        break;
    case API_FRONT_ANTHROPIC:
        api_anth_enc_init(&o->u.an, stream, id, model, created, max_answer);
        break;
    case API_FRONT_RESPONSES:
        api_resp_enc_init(&o->u.rs, stream, id, model, created, max_answer);
        break;
    }
}

void api_out_free(api_out_t *o)
{
    switch (o->front) {
    case API_FRONT_DEEPSEEK:
        api_enc_free(&o->u.ds);
        break;
    case API_FRONT_ANTHROPIC:
        api_anth_enc_free(&o->u.an);
        break;
    case API_FRONT_RESPONSES:
        api_resp_enc_free(&o->u.rs);
        break;
    }
}

int api_out_events(api_out_t *o, const bk_event_t *ev, int n, buf_t *out)
{
    switch (o->front) {
    case API_FRONT_ANTHROPIC:
        return api_anth_enc_events(&o->u.an, ev, n, out);
    case API_FRONT_RESPONSES:
        return api_resp_enc_events(&o->u.rs, ev, n, out);
    default:
        return api_enc_events(&o->u.ds, ev, n, out);
    }
}

int api_out_finish(api_out_t *o, buf_t *out)
{
    switch (o->front) {
    case API_FRONT_ANTHROPIC:
        return api_anth_enc_finish(&o->u.an, out);
    case API_FRONT_RESPONSES:
        return api_resp_enc_finish(&o->u.rs, out);
    default:
        return api_enc_finish(&o->u.ds, out);
    }
}

int api_out_error(api_out_t *o, const api_error_t *err, buf_t *out)
{
    switch (o->front) {
    case API_FRONT_ANTHROPIC:
        return api_anth_enc_error(err, out);
    case API_FRONT_RESPONSES:
        return api_resp_enc_error(&o->u.rs, err, out);
    default:
        return api_enc_error(err, out);
    }
}

const char *api_out_keepalive(api_front_t front)
{
    /* Anthropic's clients expect its own ping event; the others take an SSE comment */
    return front == API_FRONT_ANTHROPIC ? "event: ping\ndata: {\"type\":\"ping\"}\n\n"
                                        : ": keep-alive\n\n";
}

void api_front_send_error(api_front_t front, http_req_t *r, const api_error_t *err)
{
    if (front != API_FRONT_ANTHROPIC) {
        /* the Responses API's error envelope is OpenAI's, the same shape as DeepSeek's */
        api_send_error(r, err);
        return;
    }
    buf_t b;
    buf_init(&b, 4096);
    int status;
    if (api_anth_error_body(err, &b, &status)) {
        static const char fixed[] = "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                                    "\"message\":\"internal error: the error message did not "
                                    "fit\"}}";
        buf_reset(&b);
        buf_append(&b, fixed, sizeof fixed - 1);
        status = 500;
    }
    http_resp_send(r, status, "application/json", b.data ? b.data : "", b.len);
    buf_free(&b);
}
