/* anthropic_encode.c - the only place that writes Anthropic Messages answer JSON. Streams follow
 * Anthropic's event order: message_start, then per block content_block_start, its deltas and
 * content_block_stop, then message_delta (stop_reason, usage) and message_stop. */
#include "api/anthropic_encode.h"

#include <jansson.h>
#include <string.h>

#include "json/jw.h"

void api_anth_enc_init(api_anth_enc_t *e, bool stream, const char *id, const char *model,
                       int64_t created, size_t max_answer)
{
    memset(e, 0, sizeof *e);
    e->stream = stream;
    api_blocks_init(&e->k, id, model, created, max_answer);
}

void api_anth_enc_free(api_anth_enc_t *e)
{
    api_blocks_free(&e->k);
}

const char *api_anth_stop_reason(const char *finish)
{
    if (!strcmp(finish, "length"))
        return "max_tokens";
    if (!strcmp(finish, "tool_calls") || !strcmp(finish, "function_call"))
        return "tool_use";
    if (!strcmp(finish, "content_filter"))
        return "refusal";
    /* "stop" (DeepSeek does not say whether a stop sequence or the model ended it), and
     * insufficient_system_resource, which ends an answer early */
    return "end_turn";
}

int api_anth_error_status(int status, const char **type)
{
    switch (status) {
    case 400:
    case 405:
    case 422:
        *type = "invalid_request_error";
        return status == 405 ? 405 : 400;
    case 401:
        *type = "authentication_error";
        return 401;
    case 402:
        *type = "billing_error";
        return 402;
    case 403:
        *type = "permission_error";
        return 403;
    case 404:
        *type = "not_found_error";
        return 404;
    case 413:
        *type = "request_too_large";
        return 413;
    case 429:
        *type = "rate_limit_error";
        return 429;
    case 503:
    case 529:
        *type = "overloaded_error";
        return 529;
    default:
        if (status >= 400 && status < 500) {
            *type = "invalid_request_error";
            return status;
        }
        *type = "api_error";
        return 500;
    }
}

int api_anth_error_body(const api_error_t *err, buf_t *out, int *status)
{
    const char *type;
    int st = api_anth_error_status(err->status, &type);
    if (status)
        *status = st;
    int rc = buf_puts(out, "{\"type\":\"error\",\"error\":{\"type\":\"");
    rc |= buf_puts(out, type);
    rc |= buf_puts(out, "\",\"message\":");
    rc |= jw_str(out, err->message, strlen(err->message));
    rc |= buf_puts(out, "}}");
    return rc ? -1 : 0;
}

int api_anth_enc_error(const api_error_t *err, buf_t *out)
{
    int rc = buf_puts(out, "event: error\ndata: ");
    rc |= api_anth_error_body(err, out, NULL);
    rc |= buf_puts(out, "\n\n");
    return rc ? -1 : 0;
}

/* Anthropic counts a prompt in three parts: input_tokens (not from the cache),
 * cache_read_input_tokens and cache_creation_input_tokens (DeepSeek's cache writes cost
 * nothing extra: always 0). */
static int enc_usage(const api_anth_enc_t *e, buf_t *out)
{
    const bk_usage_t *u = &e->k.usage;
    bool has = e->k.has_usage;
    int rc = buf_puts(out, "{\"input_tokens\":");
    rc |= jw_int(out, has ? api_usage_uncached(u) : 0);
    rc |= buf_puts(out, ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":");
    rc |= jw_int(out, has ? api_usage_cache_hit(u) : 0);
    rc |= buf_puts(out, ",\"output_tokens\":");
    rc |= jw_int(out, has && (u->has & BK_USAGE_COMPLETION) ? u->completion_tokens : 0);
    return rc | buf_puts(out, "}");
}

static int enc_msg_id(const api_anth_enc_t *e, buf_t *out)
{
    return api_blocks_id(&e->k, "msg_", -1, out);
}

static int event_head(buf_t *out, const char *name)
{
    int rc = buf_puts(out, "event: ");
    rc |= buf_puts(out, name);
    rc |= buf_puts(out, "\ndata: {\"type\":\"");
    rc |= buf_puts(out, name);
    return rc | buf_puts(out, "\"");
}

static int message_start(api_anth_enc_t *e, buf_t *out)
{
    int rc = event_head(out, "message_start");
    rc |= buf_puts(out, ",\"message\":{\"id\":");
    rc |= enc_msg_id(e, out);
    rc |= buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    rc |= jw_slice(out, buf_slice(&e->k.model));
    rc |= buf_puts(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
                        "{\"input_tokens\":0,\"cache_creation_input_tokens\":0,"
                        "\"cache_read_input_tokens\":0,\"output_tokens\":0}}}\n\n");
    /* Anthropic's streams send one ping right after message_start */
    rc |= buf_puts(out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    e->started = true;
    return rc;
}

static int on_step(void *ud, api_blk_step_t step, int blk, slice_t delta)
{
    api_anth_enc_t *e = ud;
    buf_t *out = e->out;
    const api_blk_t *b = &e->k.b[blk];
    int rc = 0;
    switch (step) {
    case API_BLK_OPEN:
        rc |= event_head(out, "content_block_start");
        rc |= buf_printf(out, ",\"index\":%d,\"content_block\":", blk);
        if (b->kind == API_BLK_REASONING) {
            rc |= buf_puts(out, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
        } else if (b->kind == API_BLK_TEXT) {
            rc |= buf_puts(out, "{\"type\":\"text\",\"text\":\"\"}");
        } else {
            rc |= buf_puts(out, "{\"type\":\"tool_use\",\"id\":");
            rc |= jw_slice(out, buf_slice(&b->id));
            rc |= buf_puts(out, ",\"name\":");
            rc |= jw_slice(out, buf_slice(&b->name));
            rc |= buf_puts(out, ",\"input\":{}}");
        }
        rc |= buf_puts(out, "}\n\n");
        break;
    case API_BLK_DELTA:
        rc |= event_head(out, "content_block_delta");
        rc |= buf_printf(out, ",\"index\":%d,\"delta\":", blk);
        rc |= buf_puts(out, b->kind == API_BLK_REASONING
                                ? "{\"type\":\"thinking_delta\",\"thinking\":"
                            : b->kind == API_BLK_TEXT ? "{\"type\":\"text_delta\",\"text\":"
                                                      : "{\"type\":\"input_json_delta\","
                                                        "\"partial_json\":");
        rc |= jw_slice(out, delta);
        rc |= buf_puts(out, "}}\n\n");
        break;
    case API_BLK_CLOSE:
        rc |= event_head(out, "content_block_stop");
        rc |= buf_printf(out, ",\"index\":%d}\n\n", blk);
        break;
    }
    return rc ? -1 : 0;
}

int api_anth_enc_events(api_anth_enc_t *e, const bk_event_t *ev, int n, buf_t *out)
{
    if (api_blocks_meta(&e->k, ev, n))
        return -1;
    if (!e->stream)
        return api_blocks_feed(&e->k, ev, n, NULL, NULL);
    int rc = 0;
    if (!e->started)
        rc |= message_start(e, out);
    e->out = out;
    rc |= api_blocks_feed(&e->k, ev, n, on_step, e);
    e->out = NULL;
    return rc ? -1 : 0;
}

/* A tool call's input as the JSON object its arguments are; arguments that are not one (cut
 * by max_tokens, or a model's mistake) give {}. */
static int enc_tool_input(slice_t args, buf_t *out)
{
    json_error_t jerr;
    json_t *j = args.len ? json_loadb(args.ptr, args.len, 0, &jerr) : NULL;
    bool obj = j && json_is_object(j);
    json_decref(j);
    if (!obj)
        return buf_puts(out, "{}");
    return buf_append(out, args.ptr, args.len);
}

int api_anth_enc_finish(api_anth_enc_t *e, buf_t *out)
{
    const char *stop = api_anth_stop_reason(e->k.finish);
    int rc = 0;
    if (e->stream) {
        if (!e->started)
            rc |= message_start(e, out);
        e->out = out;
        rc |= api_blocks_close(&e->k, on_step, e);
        e->out = NULL;
        rc |= event_head(out, "message_delta");
        rc |= buf_puts(out, ",\"delta\":{\"stop_reason\":\"");
        rc |= buf_puts(out, stop);
        rc |= buf_puts(out, "\",\"stop_sequence\":null},\"usage\":");
        rc |= enc_usage(e, out);
        rc |= buf_puts(out, "}\n\n");
        rc |= buf_puts(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        return rc ? -1 : 0;
    }
    rc |= buf_puts(out, "{\"id\":");
    rc |= enc_msg_id(e, out);
    rc |= buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    rc |= jw_slice(out, buf_slice(&e->k.model));
    rc |= buf_puts(out, ",\"content\":[");
    for (int i = 0; i < e->k.n; i++) {
        const api_blk_t *b = &e->k.b[i];
        if (i)
            rc |= buf_puts(out, ",");
        if (b->kind == API_BLK_REASONING) {
            rc |= buf_puts(out, "{\"type\":\"thinking\",\"thinking\":");
            rc |= jw_slice(out, buf_slice(&b->text));
            rc |= buf_puts(out, ",\"signature\":\"\"}");
        } else if (b->kind == API_BLK_TEXT) {
            rc |= buf_puts(out, "{\"type\":\"text\",\"text\":");
            rc |= jw_slice(out, buf_slice(&b->text));
            rc |= buf_puts(out, "}");
        } else {
            rc |= buf_puts(out, "{\"type\":\"tool_use\",\"id\":");
            rc |= jw_slice(out, buf_slice(&b->id));
            rc |= buf_puts(out, ",\"name\":");
            rc |= jw_slice(out, buf_slice(&b->name));
            rc |= buf_puts(out, ",\"input\":");
            rc |= enc_tool_input(buf_slice(&b->text), out);
            rc |= buf_puts(out, "}");
        }
    }
    rc |= buf_puts(out, "],\"stop_reason\":\"");
    rc |= buf_puts(out, stop);
    rc |= buf_puts(out, "\",\"stop_sequence\":null,\"usage\":");
    rc |= enc_usage(e, out);
    rc |= buf_puts(out, "}");
    return rc ? -1 : 0;
}
