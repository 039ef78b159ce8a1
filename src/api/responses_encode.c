/* responses_encode.c - the only place that writes OpenAI Responses answer JSON. Each block of
 * the answer is one output item: reasoning (reasoning_text), message (output_text) or
 * function_call; a stream announces, fills and completes each item in turn, every event with
 * its sequence_number. */
#include "api/responses_encode.h"

#include <string.h>

#include "json/jw.h"

void api_resp_enc_init(api_resp_enc_t *e, bool stream, const char *id, const char *model,
                       int64_t created, size_t max_answer)
{
    memset(e, 0, sizeof *e);
    e->stream = stream;
    api_blocks_init(&e->k, id, model, created, max_answer);
}

void api_resp_enc_free(api_resp_enc_t *e)
{
    api_blocks_free(&e->k);
}

static const char *item_prefix(api_blk_kind_t kind)
{
    return kind == API_BLK_REASONING ? "rs_" : kind == API_BLK_TEXT ? "msg_" : "fc_";
}

static int enc_usage(const api_resp_enc_t *e, buf_t *out)
{
    if (!e->k.has_usage)
        return buf_puts(out, "null");
    const bk_usage_t *u = &e->k.usage;
    int64_t in = (u->has & BK_USAGE_PROMPT) ? u->prompt_tokens : 0;
    int64_t outt = (u->has & BK_USAGE_COMPLETION) ? u->completion_tokens : 0;
    int rc = buf_puts(out, "{\"input_tokens\":");
    rc |= jw_int(out, in);
    rc |= buf_puts(out, ",\"input_tokens_details\":{\"cached_tokens\":");
    rc |= jw_int(out, api_usage_cache_hit(u));
    rc |= buf_puts(out, "},\"output_tokens\":");
    rc |= jw_int(out, outt);
    rc |= buf_puts(out, ",\"output_tokens_details\":{\"reasoning_tokens\":");
    rc |= jw_int(out, (u->has & BK_USAGE_REASONING) ? u->reasoning_tokens : 0);
    rc |= buf_puts(out, "},\"total_tokens\":");
    rc |= jw_int(out, (u->has & BK_USAGE_TOTAL) ? u->total_tokens : in + outt);
    return rc | buf_puts(out, "}");
}

/* One output item; done: its whole text and status "completed", else empty and
 * "in_progress" (as output_item.added shows it). */
static int enc_item(const api_resp_enc_t *e, int i, bool done, buf_t *out)
{
    const api_blk_t *b = &e->k.b[i];
    const char *status = done ? "\"completed\"" : "\"in_progress\"";
    int rc = buf_puts(out, "{\"id\":");
    rc |= api_blocks_id(&e->k, item_prefix(b->kind), i, out);
    if (b->kind == API_BLK_REASONING) {
        rc |= buf_puts(out, ",\"type\":\"reasoning\",\"summary\":[],\"content\":[");
        if (done) {
            rc |= buf_puts(out, "{\"type\":\"reasoning_text\",\"text\":");
            rc |= jw_slice(out, buf_slice(&b->text));
            rc |= buf_puts(out, "}");
        }
        rc |= buf_puts(out, "],\"status\":");
        rc |= buf_puts(out, status);
    } else if (b->kind == API_BLK_TEXT) {
        rc |= buf_puts(out, ",\"type\":\"message\",\"status\":");
        rc |= buf_puts(out, status);
        rc |= buf_puts(out, ",\"role\":\"assistant\",\"content\":[");
        if (done) {
            rc |= buf_puts(out, "{\"type\":\"output_text\",\"text\":");
            rc |= jw_slice(out, buf_slice(&b->text));
            rc |= buf_puts(out, ",\"annotations\":[],\"logprobs\":[]}");
        }
        rc |= buf_puts(out, "]");
    } else {
        rc |= buf_puts(out, ",\"type\":\"function_call\",\"status\":");
        rc |= buf_puts(out, status);
        rc |= buf_puts(out, ",\"call_id\":");
        rc |= jw_slice(out, buf_slice(&b->id));
        rc |= buf_puts(out, ",\"name\":");
        rc |= jw_slice(out, buf_slice(&b->name));
        rc |= buf_puts(out, ",\"arguments\":");
        rc |= jw_slice(out, done ? buf_slice(&b->text) : (slice_t){"", 0});
    }
    return rc | buf_puts(out, "}");
}

/* The response object; status one of in_progress, completed, incomplete, failed. */
static int enc_response(const api_resp_enc_t *e, const char *status, const api_error_t *err,
                        buf_t *out)
{
    bool final = strcmp(status, "in_progress") != 0;
    int rc = buf_puts(out, "{\"id\":");
    rc |= api_blocks_id(&e->k, "resp_", -1, out);
    rc |= buf_puts(out, ",\"object\":\"response\",\"created_at\":");
    rc |= jw_int(out, e->k.created);
    rc |= buf_puts(out, ",\"status\":\"");
    rc |= buf_puts(out, status);
    rc |= buf_puts(out, "\",\"error\":");
    if (err) {
        rc |= buf_puts(out, "{\"code\":");
        rc |= jw_cstr_or_null(out, err->status == 429   ? "rate_limit_exceeded"
                                   : err->status >= 500 ? "server_error"
                                                        : (err->code ? err->code : err->type));
        rc |= buf_puts(out, ",\"message\":");
        rc |= jw_str(out, err->message, strlen(err->message));
        rc |= buf_puts(out, "}");
    } else {
        rc |= buf_puts(out, "null");
    }
    rc |= buf_puts(out, ",\"incomplete_details\":");
    rc |= buf_puts(out,
                   !strcmp(status, "incomplete") ? "{\"reason\":\"max_output_tokens\"}" : "null");
    rc |= buf_puts(out, ",\"model\":");
    rc |= jw_slice(out, buf_slice(&e->k.model));
    rc |= buf_puts(out, ",\"output\":[");
    for (int i = 0; final && i < e->k.n; i++) {
        if (i)
            rc |= buf_puts(out, ",");
        rc |= enc_item(e, i, true, out);
    }
    rc |= buf_puts(out, "],\"parallel_tool_calls\":true,\"store\":false,\"usage\":");
    rc |= final ? enc_usage(e, out) : buf_puts(out, "null");
    return rc | buf_puts(out, "}");
}

static int event_head(api_resp_enc_t *e, buf_t *out, const char *name)
{
    int rc = buf_puts(out, "event: ");
    rc |= buf_puts(out, name);
    rc |= buf_puts(out, "\ndata: {\"type\":\"");
    rc |= buf_puts(out, name);
    rc |= buf_puts(out, "\",\"sequence_number\":");
    rc |= jw_int(out, e->seq++);
    return rc;
}

static int item_ref(api_resp_enc_t *e, int blk, bool content_index, buf_t *out)
{
    int rc = buf_puts(out, ",\"item_id\":");
    rc |= api_blocks_id(&e->k, item_prefix(e->k.b[blk].kind), blk, out);
    rc |= buf_printf(out, ",\"output_index\":%d", blk);
    if (content_index)
        rc |= buf_puts(out, ",\"content_index\":0");
    return rc;
}

static int enc_part(const api_blk_t *b, bool done, buf_t *out)
{
    int rc = buf_puts(out, b->kind == API_BLK_REASONING ? "{\"type\":\"reasoning_text\",\"text\":"
                                                        : "{\"type\":\"output_text\",\"text\":");
    rc |= jw_slice(out, done ? buf_slice(&b->text) : (slice_t){"", 0});
    if (b->kind == API_BLK_TEXT)
        rc |= buf_puts(out, ",\"annotations\":[],\"logprobs\":[]");
    return rc | buf_puts(out, "}");
}

static int on_step(void *ud, api_blk_step_t step, int blk, slice_t delta)
{
    api_resp_enc_t *e = ud;
    buf_t *out = e->out;
    const api_blk_t *b = &e->k.b[blk];
    bool tool = b->kind == API_BLK_TOOL;
    int rc = 0;
    switch (step) {
    case API_BLK_OPEN:
        rc |= event_head(e, out, "response.output_item.added");
        rc |= buf_printf(out, ",\"output_index\":%d,\"item\":", blk);
        rc |= enc_item(e, blk, false, out);
        rc |= buf_puts(out, "}\n\n");
        if (!tool) {
            rc |= event_head(e, out, "response.content_part.added");
            rc |= item_ref(e, blk, true, out);
            rc |= buf_puts(out, ",\"part\":");
            rc |= enc_part(b, false, out);
            rc |= buf_puts(out, "}\n\n");
        }
        break;
    case API_BLK_DELTA:
        rc |= event_head(e, out,
                         tool                           ? "response.function_call_arguments.delta"
                         : b->kind == API_BLK_REASONING ? "response.reasoning_text.delta"
                                                        : "response.output_text.delta");
        rc |= item_ref(e, blk, !tool, out);
        rc |= buf_puts(out, ",\"delta\":");
        rc |= jw_slice(out, delta);
        if (b->kind == API_BLK_TEXT)
            rc |= buf_puts(out, ",\"logprobs\":[]");
        rc |= buf_puts(out, "}\n\n");
        break;
    case API_BLK_CLOSE:
        if (tool) {
            rc |= event_head(e, out, "response.function_call_arguments.done");
            rc |= item_ref(e, blk, false, out);
            rc |= buf_puts(out, ",\"name\":");
            rc |= jw_slice(out, buf_slice(&b->name));
            rc |= buf_puts(out, ",\"arguments\":");
            rc |= jw_slice(out, buf_slice(&b->text));
            rc |= buf_puts(out, "}\n\n");
        } else {
            rc |= event_head(e, out,
                             b->kind == API_BLK_REASONING ? "response.reasoning_text.done"
                                                          : "response.output_text.done");
            rc |= item_ref(e, blk, true, out);
            rc |= buf_puts(out, ",\"text\":");
            rc |= jw_slice(out, buf_slice(&b->text));
            if (b->kind == API_BLK_TEXT)
                rc |= buf_puts(out, ",\"logprobs\":[]");
            rc |= buf_puts(out, "}\n\n");
            rc |= event_head(e, out, "response.content_part.done");
            rc |= item_ref(e, blk, true, out);
            rc |= buf_puts(out, ",\"part\":");
            rc |= enc_part(b, true, out);
            rc |= buf_puts(out, "}\n\n");
        }
        rc |= event_head(e, out, "response.output_item.done");
        rc |= buf_printf(out, ",\"output_index\":%d,\"item\":", blk);
        rc |= enc_item(e, blk, true, out);
        rc |= buf_puts(out, "}\n\n");
        break;
    }
    return rc ? -1 : 0;
}

static int stream_start(api_resp_enc_t *e, buf_t *out)
{
    int rc = 0;
    static const char *const names[] = {"response.created", "response.in_progress"};
    for (int i = 0; i < 2; i++) {
        rc |= event_head(e, out, names[i]);
        rc |= buf_puts(out, ",\"response\":");
        rc |= enc_response(e, "in_progress", NULL, out);
        rc |= buf_puts(out, "}\n\n");
    }
    e->started = true;
    return rc;
}

int api_resp_enc_events(api_resp_enc_t *e, const bk_event_t *ev, int n, buf_t *out)
{
    if (api_blocks_meta(&e->k, ev, n))
        return -1;
    if (!e->stream)
        return api_blocks_feed(&e->k, ev, n, NULL, NULL);
    int rc = 0;
    if (!e->started)
        rc |= stream_start(e, out);
    e->out = out;
    rc |= api_blocks_feed(&e->k, ev, n, on_step, e);
    e->out = NULL;
    return rc ? -1 : 0;
}

int api_resp_enc_finish(api_resp_enc_t *e, buf_t *out)
{
    const char *status = !strcmp(e->k.finish, "length") ? "incomplete" : "completed";
    if (!e->stream)
        return enc_response(e, status, NULL, out) ? -1 : 0;
    int rc = 0;
    if (!e->started)
        rc |= stream_start(e, out);
    e->out = out;
    rc |= api_blocks_close(&e->k, on_step, e);
    e->out = NULL;
    rc |= event_head(e, out,
                     !strcmp(status, "incomplete") ? "response.incomplete" : "response.completed");
    rc |= buf_puts(out, ",\"response\":");
    rc |= enc_response(e, status, NULL, out);
    rc |= buf_puts(out, "}\n\n");
    return rc ? -1 : 0;
}

int api_resp_enc_error(api_resp_enc_t *e, const api_error_t *err, buf_t *out)
{
    int rc = 0;
    if (!e->started)
        rc |= stream_start(e, out);
    rc |= event_head(e, out, "response.failed");
    rc |= buf_puts(out, ",\"response\":");
    rc |= enc_response(e, "failed", err, out);
    rc |= buf_puts(out, "}\n\n");
    return rc ? -1 : 0;
}
