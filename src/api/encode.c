/* encode.c - the only place that writes DeepSeek answer JSON. Streamed and aggregated answers
 * come from the same events, so both paths stay one code path each. */
#include "api/encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "json/jw.h"

void api_enc_init(api_enc_t *e, bool fim, bool stream, bool include_usage, const char *id,
                  const char *model, int64_t created, size_t max_answer)
{
    memset(e, 0, sizeof *e);
    e->fim = fim;
    e->stream = stream;
    e->include_usage = include_usage;
    e->max_answer = max_answer;
    buf_init(&e->id, 256);
    buf_init(&e->model, 256);
    buf_init(&e->fingerprint, 256);
    /* a request id (<= 64 bytes) and a validated model name (< 128): both fit */
    buf_puts(&e->id, id);
    buf_puts(&e->model, model);
    e->created = created;
    buf_init(&e->content, max_answer);
    buf_init(&e->reasoning, max_answer);
    buf_init(&e->lp_content, max_answer);
    buf_init(&e->lp_reasoning, max_answer);
}

void api_enc_free(api_enc_t *e)
{
    buf_free(&e->id);
    buf_free(&e->model);
    buf_free(&e->fingerprint);
    buf_free(&e->content);
    buf_free(&e->reasoning);
    buf_free(&e->lp_content);
    buf_free(&e->lp_reasoning);
    for (int i = 0; i < e->ntools; i++) {
        buf_free(&e->tools[i].id);
        buf_free(&e->tools[i].name);
        buf_free(&e->tools[i].args);
    }
    free(e->tools);
}

int api_enc_usage(const bk_usage_t *u, buf_t *out)
{
    int rc = buf_puts(out, "{");
    const char *sep = "";
#define FIELD(bit, key, val)                                                                       \
    if (u->has & (bit)) {                                                                          \
        rc |= buf_puts(out, sep);                                                                  \
        rc |= jw_key(out, key);                                                                    \
        rc |= jw_int(out, val);                                                                    \
        sep = ",";                                                                                 \
    }
    FIELD(BK_USAGE_PROMPT, "prompt_tokens", u->prompt_tokens)
    FIELD(BK_USAGE_COMPLETION, "completion_tokens", u->completion_tokens)
    FIELD(BK_USAGE_TOTAL, "total_tokens", u->total_tokens)
#undef FIELD
    if (u->has & BK_USAGE_CACHED) {
        rc |= buf_puts(out, sep);
        rc |= buf_puts(out, "\"prompt_tokens_details\":{\"cached_tokens\":");
        rc |= jw_int(out, u->cached_tokens);
        rc |= buf_puts(out, "}");
        sep = ",";
    }
    if (u->has & BK_USAGE_REASONING) {
        rc |= buf_puts(out, sep);
        rc |= buf_puts(out, "\"completion_tokens_details\":{\"reasoning_tokens\":");
        rc |= jw_int(out, u->reasoning_tokens);
        rc |= buf_puts(out, "}");
        sep = ",";
    }
    if (u->has & BK_USAGE_CACHE_HIT) {
        rc |= buf_puts(out, sep);
        rc |= buf_puts(out, "\"prompt_cache_hit_tokens\":");
        rc |= jw_int(out, u->prompt_cache_hit_tokens);
        sep = ",";
    }
    if (u->has & BK_USAGE_CACHE_MISS) {
        rc |= buf_puts(out, sep);
        rc |= buf_puts(out, "\"prompt_cache_miss_tokens\":");
        rc |= jw_int(out, u->prompt_cache_miss_tokens);
        sep = ",";
    }
    if (u->has & BK_USAGE_SERVER_TOOLS) {
        rc |= buf_puts(out, sep);
        rc |= buf_puts(out, "\"server_tool_use\":{\"web_search_requests\":");
        rc |= jw_int(out, u->web_search_requests);
        rc |= buf_puts(out, ",\"web_fetch_requests\":");
        rc |= jw_int(out, u->web_fetch_requests);
        rc |= buf_puts(out, "}");
    }
    rc |= buf_puts(out, "}");
    return rc ? -1 : 0;
}

static int enc_lp_entry(const bk_top_logprob_t *t, buf_t *out)
{
    int rc = buf_puts(out, "{\"token\":");
    rc |= jw_slice(out, t->token);
    rc |= buf_puts(out, ",\"logprob\":");
    rc |= jw_double(out, t->logprob);
    rc |= buf_puts(out, ",\"bytes\":");
    if (t->has_bytes) {
        rc |= buf_puts(out, "[");
        for (size_t i = 0; i < t->bytes.len; i++)
            rc |= buf_printf(out, i ? ",%u" : "%u", (unsigned char)t->bytes.ptr[i]);
        rc |= buf_puts(out, "]");
    } else {
        rc |= buf_puts(out, "null");
    }
    return rc;
}

/* Appends the entries of a LOGPROBS event as comma-separated objects (no brackets). */
static int enc_lp_items(const bk_event_t *ev, buf_t *out, bool first)
{
    int rc = 0;
    for (int i = 0; i < ev->logprobs.n; i++) {
        const bk_logprob_t *lp = &ev->logprobs.items[i];
        if (!first || i)
            rc |= buf_puts(out, ",");
        rc |= enc_lp_entry(&lp->tok, out);
        rc |= buf_puts(out, ",\"top_logprobs\":[");
        for (int t = 0; t < lp->ntop; t++) {
            if (t)
                rc |= buf_puts(out, ",");
            rc |= enc_lp_entry(&lp->top[t], out);
            rc |= buf_puts(out, "}");
        }
        rc |= buf_puts(out, "]}");
    }
    return rc;
}

/* Returns 0, or -1 when an id, model or fingerprint is over its 255-byte buffer: echoing it
 * empty or cut would be a silently different answer. */
static int take_meta(api_enc_t *e, const bk_event_t *ev)
{
    if (ev->meta.id.len) {
        buf_reset(&e->id);
        buf_append(&e->id, ev->meta.id.ptr, ev->meta.id.len);
    }
    if (ev->meta.model.len) {
        buf_reset(&e->model);
        buf_append(&e->model, ev->meta.model.ptr, ev->meta.model.len);
    }
    if (ev->meta.has_created)
        e->created = ev->meta.created;
    if (ev->meta.has_fingerprint) {
        e->has_fingerprint = true;
        buf_reset(&e->fingerprint);
        buf_append(&e->fingerprint, ev->meta.fingerprint.ptr, ev->meta.fingerprint.len);
    }
    return buf_failed(&e->id) || buf_failed(&e->model) || buf_failed(&e->fingerprint) ? -1 : 0;
}

static int enc_head(const api_enc_t *e, buf_t *out, const char *object)
{
    int rc = buf_puts(out, "{\"id\":");
    rc |= jw_slice(out, buf_slice(&e->id));
    rc |= buf_puts(out, ",\"object\":\"");
    rc |= buf_puts(out, object);
    rc |= buf_puts(out, "\",\"created\":");
    rc |= jw_int(out, e->created);
    rc |= buf_puts(out, ",\"model\":");
    rc |= jw_slice(out, buf_slice(&e->model));
    return rc;
}

static int enc_fingerprint(const api_enc_t *e, buf_t *out)
{
    if (!e->has_fingerprint)
        return 0;
    int rc = buf_puts(out, ",\"system_fingerprint\":");
    return rc | jw_slice(out, buf_slice(&e->fingerprint));
}

/* Text of all events of one type in a batch: a slice of the event itself when there is one,
 * else joined in scratch (the caller checks buf_failed(scratch): the join may be over cap).
 * *present says whether the batch has such an event at all: an empty text is still a key. */
static slice_t gather(const bk_event_t *ev, int n, bk_event_type_t type, buf_t *scratch,
                      bool *present)
{
    int count = 0, last = -1;
    for (int i = 0; i < n; i++)
        if (ev[i].type == type) {
            count++;
            last = i;
        }
    *present = count > 0;
    if (count == 0)
        return (slice_t){"", 0};
    if (count == 1)
        return ev[last].text;
    buf_reset(scratch);
    for (int i = 0; i < n; i++)
        if (ev[i].type == type)
            buf_append(scratch, ev[i].text.ptr, ev[i].text.len);
    return buf_slice(scratch);
}

static int stream_chunk(api_enc_t *e, const bk_event_t *ev, int n, buf_t *out)
{
    bool role = false, has_choice = false, has_lp = false;
    const bk_event_t *finish = NULL, *usage = NULL;
    int choice = 0, tools = 0;
    for (int i = 0; i < n; i++) {
        switch (ev[i].type) {
        case BK_EV_META:
            if (take_meta(e, &ev[i]))
                return -1;
            break;
        case BK_EV_ROLE:
            role = has_choice = true;
            break;
        case BK_EV_REASONING_DELTA:
        case BK_EV_CONTENT_DELTA:
            has_choice = true;
            break;
        case BK_EV_TOOL_CALL_DELTA:
            tools++, has_choice = true;
            break;
        case BK_EV_LOGPROBS:
            has_lp = has_choice = true;
            break;
        case BK_EV_FINISH:
            finish = &ev[i], has_choice = true;
            break;
        case BK_EV_USAGE:
            usage = &ev[i];
            break;
        case BK_EV_ERROR:
            break;
        }
        if (ev[i].type != BK_EV_META && ev[i].type != BK_EV_USAGE)
            choice = ev[i].choice;
    }
    if (!has_choice && !usage)
        return 0;

    buf_t scratch;
    buf_init(&scratch, e->max_answer);
    bool has_content, has_reasoning;
    slice_t content = gather(ev, n, BK_EV_CONTENT_DELTA, &scratch, &has_content);
    int rc = buf_failed(&scratch) ? -1 : 0;
    rc |= buf_puts(out, "data: ");
    rc |= enc_head(e, out, e->fim ? "text_completion" : "chat.completion.chunk");
    rc |= enc_fingerprint(e, out);
    rc |= buf_puts(out, ",\"choices\":[");
    if (has_choice && e->fim) {
        rc |= buf_puts(out, "{\"text\":");
        rc |= jw_slice(out, content);
        rc |= buf_printf(out, ",\"index\":%d,\"logprobs\":null,\"finish_reason\":", choice);
        rc |= finish ? jw_slice(out, finish->text) : buf_puts(out, "null");
        rc |= buf_puts(out, "}");
    } else if (has_choice) {
        rc |= buf_puts(out, "{\"index\":");
        rc |= jw_int(out, choice);
        rc |= buf_puts(out, ",\"delta\":{");
        /* DeepSeek's delta shapes: a thinking answer names both texts in every delta that
         * carries either ({"content":null,"reasoning_content":"We"}, then
         * {"content":"x","reasoning_content":null}) and opens with {"role":"assistant",
         * "content":null,"reasoning_content":""}; an answer without thinking opens with
         * {"role":"assistant","content":""} and names content alone. Tool-call deltas name
         * neither. The content is written before reasoning_content: the reasoning is gathered
         * after the content has been written, as both may share scratch. */
        bool reasoning_here = false;
        for (int i = 0; i < n && !reasoning_here; i++)
            reasoning_here = ev[i].type == BK_EV_REASONING_DELTA;
        if (reasoning_here)
            e->thinking = true;
        const char *sep = "";
        if (role) {
            rc |= buf_puts(out, "\"role\":\"assistant\"");
            sep = ",";
        }
        if (has_content || role || reasoning_here) {
            rc |= buf_puts(out, sep);
            rc |= jw_key(out, "content");
            if (has_content || !e->thinking)
                rc |= jw_slice(out, content);
            else
                rc |= buf_puts(out, "null");
            sep = ",";
        }
        slice_t reasoning = gather(ev, n, BK_EV_REASONING_DELTA, &scratch, &has_reasoning);
        rc |= buf_failed(&scratch) ? -1 : 0;
        if (has_reasoning || (e->thinking && (has_content || role))) {
            rc |= buf_puts(out, sep);
            rc |= jw_key(out, "reasoning_content");
            if (has_reasoning)
                rc |= jw_slice(out, reasoning);
            else
                rc |= buf_puts(out, "null");
            sep = ",";
        }
        if (tools) {
            rc |= buf_puts(out, sep);
            rc |= buf_puts(out, "\"tool_calls\":[");
            int k = 0;
            for (int i = 0; i < n; i++) {
                if (ev[i].type != BK_EV_TOOL_CALL_DELTA)
                    continue;
                rc |= buf_printf(out, "%s{\"index\":%d", k++ ? "," : "", ev[i].tool.index);
                if (ev[i].tool.has_id) {
                    rc |= buf_puts(out, ",\"id\":");
                    rc |= jw_slice(out, ev[i].tool.id);
                    rc |= buf_puts(out, ",\"type\":\"function\"");
                }
                rc |= buf_puts(out, ",\"function\":{");
                const char *fsep = "";
                if (ev[i].tool.has_name) {
                    rc |= buf_puts(out, "\"name\":");
                    rc |= jw_slice(out, ev[i].tool.name);
                    fsep = ",";
                }
                if (ev[i].tool.has_args || !ev[i].tool.has_name) {
                    rc |= buf_puts(out, fsep);
                    rc |= buf_puts(out, "\"arguments\":");
                    rc |= jw_slice(out, ev[i].tool.args);
                }
                rc |= buf_puts(out, "}}");
            }
            rc |= buf_puts(out, "]");
        }
        rc |= buf_puts(out, "},\"logprobs\":");
        if (has_lp) {
            rc |= buf_puts(out, "{");
            const char *lsep = "";
            for (int pass = 0; pass < 2; pass++) {
                bool first = true;
                for (int i = 0; i < n; i++) {
                    if (ev[i].type != BK_EV_LOGPROBS || ev[i].logprobs.reasoning != (pass == 1))
                        continue;
                    if (first) {
                        rc |= buf_puts(out, lsep);
                        rc |= buf_puts(out, pass ? "\"reasoning_content\":[" : "\"content\":[");
                    }
                    rc |= enc_lp_items(&ev[i], out, first);
                    first = false;
                }
                if (!first) {
                    rc |= buf_puts(out, "]");
                    lsep = ",";
                }
            }
            rc |= buf_puts(out, "}");
        } else {
            rc |= buf_puts(out, "null");
        }
        rc |= buf_puts(out, ",\"finish_reason\":");
        rc |= finish ? jw_slice(out, finish->text) : buf_puts(out, "null");
        rc |= buf_puts(out, "}");
    }
    /* DeepSeek sends the request's usage on the last chunk before [DONE] whatever the
     * client asked; stream_options.include_usage only makes the other chunks say
     * "usage":null instead of leaving the field out (docs/api.md, "Usage in streams"). */
    rc |= buf_puts(out, "]");
    if (usage) {
        rc |= buf_puts(out, ",\"usage\":");
        rc |= api_enc_usage(&usage->usage, out);
    } else if (e->include_usage) {
        rc |= buf_puts(out, ",\"usage\":null");
    }
    rc |= buf_puts(out, "}\n\n");
    buf_free(&scratch);
    return rc ? -1 : 0;
}

static api_enc_tool_t *tool_slot(api_enc_t *e, int index)
{
    if (index < 0 || index >= API_ENC_MAX_TOOLS)
        return NULL;
    if (index >= e->ntools) {
        e->tools = xrealloc(e->tools, (size_t)(index + 1) * sizeof *e->tools);
        for (int i = e->ntools; i <= index; i++) {
            buf_init(&e->tools[i].id, 256);
            buf_init(&e->tools[i].name, 256);
            buf_init(&e->tools[i].args, e->max_answer);
            e->tools[i].used = false;
        }
        e->ntools = index + 1;
    }
    return &e->tools[index];
}

static int aggregate(api_enc_t *e, const bk_event_t *ev, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        /* DeepSeek serves one choice; further choices are not aggregated. */
        if (ev[i].choice != 0 && ev[i].type != BK_EV_META && ev[i].type != BK_EV_USAGE)
            continue;
        switch (ev[i].type) {
        case BK_EV_META:
            rc |= take_meta(e, &ev[i]);
            break;
        case BK_EV_ROLE:
            break;
        case BK_EV_REASONING_DELTA:
            rc |= buf_append(&e->reasoning, ev[i].text.ptr, ev[i].text.len);
            break;
        case BK_EV_CONTENT_DELTA:
            rc |= buf_append(&e->content, ev[i].text.ptr, ev[i].text.len);
            break;
        case BK_EV_TOOL_CALL_DELTA: {
            api_enc_tool_t *t = tool_slot(e, ev[i].tool.index);
            if (!t) {
                rc = -1;
                break;
            }
            t->used = true;
            if (ev[i].tool.has_id && !t->id.len)
                rc |= buf_append(&t->id, ev[i].tool.id.ptr, ev[i].tool.id.len);
            if (ev[i].tool.has_name)
                rc |= buf_append(&t->name, ev[i].tool.name.ptr, ev[i].tool.name.len);
            rc |= buf_append(&t->args, ev[i].tool.args.ptr, ev[i].tool.args.len);
            break;
        }
        case BK_EV_LOGPROBS: {
            bool r = ev[i].logprobs.reasoning;
            buf_t *b = r ? &e->lp_reasoning : &e->lp_content;
            bool *has = r ? &e->has_lp_reasoning : &e->has_lp_content;
            rc |= enc_lp_items(&ev[i], b, !*has);
            *has = true;
            break;
        }
        case BK_EV_FINISH:
            snprintf(e->finish, sizeof e->finish, "%.*s", (int)ev[i].text.len, ev[i].text.ptr);
            break;
        case BK_EV_USAGE:
            e->usage = ev[i].usage;
            e->has_usage = true;
            break;
        case BK_EV_ERROR:
            break;
        }
    }
    return rc ? -1 : 0;
}

int api_enc_events(api_enc_t *e, const bk_event_t *ev, int n, buf_t *out)
{
    return e->stream ? stream_chunk(e, ev, n, out) : aggregate(e, ev, n);
}

static int enc_logprobs_agg(const api_enc_t *e, buf_t *out)
{
    if (!e->has_lp_content && !e->has_lp_reasoning)
        return buf_puts(out, "null");
    int rc = buf_puts(out, "{");
    if (e->has_lp_content) {
        rc |= buf_puts(out, "\"content\":[");
        rc |= buf_append(out, e->lp_content.data, e->lp_content.len);
        rc |= buf_puts(out, "]");
    }
    if (e->has_lp_reasoning) {
        rc |= buf_puts(out,
                       e->has_lp_content ? ",\"reasoning_content\":[" : "\"reasoning_content\":[");
        rc |= buf_append(out, e->lp_reasoning.data, e->lp_reasoning.len);
        rc |= buf_puts(out, "]");
    }
    return rc | buf_puts(out, "}");
}

int api_enc_finish(api_enc_t *e, buf_t *out)
{
    if (e->stream)
        return buf_puts(out, "data: [DONE]\n\n") ? -1 : 0;
    int rc = enc_head(e, out, e->fim ? "text_completion" : "chat.completion");
    rc |= buf_puts(out, ",\"choices\":[{");
    if (e->fim) {
        rc |= buf_puts(out, "\"text\":");
        rc |= jw_slice(out, buf_slice(&e->content));
        rc |= buf_puts(out, ",\"index\":0");
    } else {
        rc |= buf_puts(out, "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        rc |= jw_slice(out, buf_slice(&e->content));
        if (e->reasoning.len) {
            rc |= buf_puts(out, ",\"reasoning_content\":");
            rc |= jw_slice(out, buf_slice(&e->reasoning));
        }
        int k = 0;
        for (int i = 0; i < e->ntools; i++) {
            api_enc_tool_t *t = &e->tools[i];
            if (!t->used)
                continue;
            rc |= buf_puts(out, k++ ? "," : ",\"tool_calls\":[");
            rc |= buf_puts(out, "{\"index\":");
            rc |= jw_int(out, i);
            rc |= buf_puts(out, ",\"id\":");
            rc |= jw_slice(out, buf_slice(&t->id));
            rc |= buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
            rc |= jw_slice(out, buf_slice(&t->name));
            rc |= buf_puts(out, ",\"arguments\":");
            rc |= jw_slice(out, buf_slice(&t->args));
            rc |= buf_puts(out, "}}");
        }
        if (k)
            rc |= buf_puts(out, "]");
        rc |= buf_puts(out, "}");
    }
    rc |= buf_puts(out, ",\"logprobs\":");
    rc |= enc_logprobs_agg(e, out);
    rc |= buf_puts(out, ",\"finish_reason\":");
    rc |= e->finish[0] ? jw_cstr_or_null(out, e->finish) : buf_puts(out, "null");
    rc |= buf_puts(out, "}],\"usage\":");
    rc |= e->has_usage ? api_enc_usage(&e->usage, out) : buf_puts(out, "null");
    rc |= enc_fingerprint(e, out);
    rc |= buf_puts(out, "}");
    return rc ? -1 : 0;
}

int api_enc_error(const api_error_t *err, buf_t *out)
{
    int rc = buf_puts(out, "data: ");
    rc |= api_error_encode(err, out);
    rc |= buf_puts(out, "\n\n");
    return rc ? -1 : 0;
}
