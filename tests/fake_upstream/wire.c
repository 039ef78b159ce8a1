/* wire.c - renders a plan as DeepSeek's exact wire JSON: one SSE event per piece (written by
 * hand into the stream's evbuffer, no allocation of ours), or one non-stream body (jansson). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fake.h"

/* ---- JSON strings ---- */

void wire_json_str(struct evbuffer *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    evbuffer_add(out, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        evbuffer_add(out, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            evbuffer_add(out, esc, 6);
            continue;
        }
        evbuffer_add(out, esc, 2);
    }
    evbuffer_add(out, s + run, n - run);
    evbuffer_add(out, "\"", 1);
}

/* ---- logprobs (deterministic: token t has logprob -(t%16+1)/64, alternative j has -(2j+0.5)) ----
 */

static double token_logprob(uint32_t tok)
{
    return -(double)(tok % 16 + 1) / 64.0;
}

static double alt_logprob(int j)
{
    return -(2.0 * j + 0.5);
}

static void add_bytes(struct evbuffer *out, const char *s, size_t n)
{
    evbuffer_add(out, "[", 1);
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(out, i ? ",%u" : "%u", (unsigned)(unsigned char)s[i]);
    evbuffer_add(out, "]", 1);
}

static void add_logprob_entry(struct evbuffer *out, const char *s, size_t n, double lp)
{
    evbuffer_add(out, "{\"token\":", 9);
    wire_json_str(out, s, n);
    evbuffer_add_printf(out, ",\"logprob\":%.17g,\"bytes\":", lp);
    add_bytes(out, s, n);
}

static void add_logprobs(const plan_t *p, const piece_t *pc, struct evbuffer *out)
{
    const char *s = p->blob + pc->off;
    evbuffer_add(out, "{\"content\":[", 12);
    add_logprob_entry(out, s, pc->len, token_logprob(pc->tok));
    evbuffer_add(out, ",\"top_logprobs\":[", 17);
    for (int j = 0; j < p->top_logprobs; j++) {
        if (j)
            evbuffer_add(out, ",", 1);
        if (j == 0) {
            add_logprob_entry(out, s, pc->len, token_logprob(pc->tok));
        } else {
            char alt[16];
            int n = snprintf(alt, sizeof(alt), "alt%d", j);
            add_logprob_entry(out, alt, (size_t)n, alt_logprob(j));
        }
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add(out, "]}]}", 4);
}

static json_t *logprob_json(const char *s, size_t n, double lp)
{
    json_t *bytes = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)s[i]));
    return json_pack("{s:s%,s:f,s:o}", "token", s, n, "logprob", lp, "bytes", bytes);
}

/* ---- usage ---- */

static void add_usage(const plan_t *p, struct evbuffer *out)
{
    long P = p->prompt_tokens, C = p->completion_tokens, H = p->cached_tokens;
    evbuffer_add_printf(out,
                        "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":%ld},",
                        P, C, P + C, H);
    if (p->scenario == SCEN_REASONING)
        evbuffer_add_printf(out, "\"completion_tokens_details\":{\"reasoning_tokens\":%ld},",
                            p->reasoning_tokens);
    evbuffer_add_printf(out, "\"prompt_cache_hit_tokens\":%ld,\"prompt_cache_miss_tokens\":%ld", H,
                        P - H);
    if (p->has_tool_use)
        evbuffer_add_printf(out,
                            ",\"server_tool_use\":{\"web_search_requests\":%ld,"
                            "\"web_fetch_requests\":%ld}",
                            p->web_search, p->web_fetch);
    evbuffer_add(out, "}", 1);
}

static json_t *usage_json(const plan_t *p)
{
    if (p->no_usage)
        return json_null();
    long P = p->prompt_tokens, C = p->completion_tokens, H = p->cached_tokens;
    json_t *u = json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)P,
                          "completion_tokens", (json_int_t)C, "total_tokens", (json_int_t)(P + C),
                          "prompt_tokens_details", "cached_tokens", (json_int_t)H);
    if (p->scenario == SCEN_REASONING)
        json_object_set_new(
            u, "completion_tokens_details",
            json_pack("{s:I}", "reasoning_tokens", (json_int_t)p->reasoning_tokens));
    json_object_set_new(u, "prompt_cache_hit_tokens", json_integer(H));
    json_object_set_new(u, "prompt_cache_miss_tokens", json_integer(P - H));
    if (p->has_tool_use)
        json_object_set_new(u, "server_tool_use",
                            json_pack("{s:I,s:I}", "web_search_requests", (json_int_t)p->web_search,
                                      "web_fetch_requests", (json_int_t)p->web_fetch));
    return u;
}

/* ---- stream events ---- */

static void add_prefix(const plan_t *p, struct evbuffer *out)
{
    const char *model = plan_str(p, p->model_off);
    evbuffer_add_printf(out, "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":",
                        plan_str(p, p->uuid_off),
                        p->fim ? "text_completion" : "chat.completion.chunk", p->created);
    wire_json_str(out, model, strlen(model));
    evbuffer_add_printf(out, ",\"system_fingerprint\":\"%s\",\"choices\":[{", fake_fingerprint());
}

static void add_tail(const plan_t *p, const piece_t *pc, struct evbuffer *out)
{
    if (pc->kind == PIECE_FINISH) {
        evbuffer_add_printf(
            out, ",\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":", p->finish_reason);
        if (p->include_usage && !p->no_usage)
            add_usage(p, out);
        else
            evbuffer_add(out, "null", 4);
        evbuffer_add(out, "}\n\n", 3);
        return;
    }
    evbuffer_add(out, ",\"logprobs\":", 12);
    if (p->scenario == SCEN_LOGPROBS && pc->kind == PIECE_CONTENT)
        add_logprobs(p, pc, out);
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add(out, ",\"finish_reason\":null}],\"usage\":null}\n\n", 39);
}

void wire_event(const plan_t *p, size_t i, struct evbuffer *out)
{
    const piece_t *pc = &p->pieces[i];
    const char *s = p->blob ? p->blob + pc->off : NULL;
    int reasoner = p->scenario == SCEN_REASONING;

    if (pc->kind == PIECE_RAW) {
        evbuffer_add(out, "data: ", 6);
        evbuffer_add(out, p->replay + pc->off, pc->len);
        evbuffer_add(out, "\n\n", 2);
        return;
    }
    add_prefix(p, out);
    if (p->fim) {
        evbuffer_add(out, "\"text\":", 7);
        if (pc->kind == PIECE_FINISH)
            evbuffer_add(out, "\"\"", 2);
        else
            wire_json_str(out, s, pc->len);
        evbuffer_add(out, ",\"index\":0", 10);
        add_tail(p, pc, out);
        return;
    }
    evbuffer_add(out, "\"index\":0,\"delta\":", 18);
    switch ((piece_kind_t)pc->kind) {
    case PIECE_ROLE:
        if (reasoner)
            evbuffer_add_printf(
                out, "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"\"}");
        else
            evbuffer_add_printf(out, "{\"role\":\"assistant\",\"content\":\"\"}");
        break;
    case PIECE_REASONING:
        evbuffer_add(out, "{\"content\":null,\"reasoning_content\":", 36);
        wire_json_str(out, s, pc->len);
        evbuffer_add(out, "}", 1);
        break;
    case PIECE_CONTENT:
        evbuffer_add(out, "{\"content\":", 11);
        wire_json_str(out, s, pc->len);
        evbuffer_add_printf(out, "%s}", reasoner ? ",\"reasoning_content\":null" : "");
        break;
    case PIECE_TOOL_HEAD: {
        const char *name = plan_str(p, p->tool_name_off);
        evbuffer_add_printf(out,
                            "{\"tool_calls\":[{\"index\":0,\"id\":\"%s\",\"type\":\"function\","
                            "\"function\":{\"name\":",
                            plan_str(p, p->call_id_off));
        wire_json_str(out, name, strlen(name));
        evbuffer_add_printf(out, ",\"arguments\":\"\"}}]}");
        break;
    }
    case PIECE_TOOL_ARGS:
        evbuffer_add_printf(out, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
        wire_json_str(out, s, pc->len);
        evbuffer_add(out, "}}]}", 4);
        break;
    case PIECE_FINISH:
        evbuffer_add_printf(out, "{\"content\":\"\"%s}",
                            reasoner ? ",\"reasoning_content\":null" : "");
        break;
    case PIECE_FIM_TEXT:
    case PIECE_RAW:
        break;
    }
    add_tail(p, pc, out);
}

/* ---- non-stream body ---- */

static json_t *buf_string(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    return n ? json_stringn((const char *)evbuffer_pullup(b, -1), n) : json_string("");
}

void wire_body(const plan_t *p, struct evbuffer *out)
{
    if (p->scenario == SCEN_REPLAY) {
        evbuffer_add(out, p->replay_json, p->replay_json_len);
        return;
    }
    struct evbuffer *content = evbuffer_new(), *reasoning = evbuffer_new(), *args = evbuffer_new();
    json_t *lp_content = json_array();
    for (size_t i = 0; i < p->n_pieces; i++) {
        const piece_t *pc = &p->pieces[i];
        const char *s = p->blob + pc->off;
        switch ((piece_kind_t)pc->kind) {
        case PIECE_CONTENT:
        case PIECE_FIM_TEXT:
            evbuffer_add(content, s, pc->len);
            if (p->scenario == SCEN_LOGPROBS) {
                json_t *e = logprob_json(s, pc->len, token_logprob(pc->tok));
                json_t *top = json_array();
                for (int j = 0; j < p->top_logprobs; j++) {
                    char alt[16];
                    int n = snprintf(alt, sizeof(alt), "alt%d", j);
                    json_array_append_new(top,
                                          j ? logprob_json(alt, (size_t)n, alt_logprob(j))
                                            : logprob_json(s, pc->len, token_logprob(pc->tok)));
                }
                json_object_set_new(e, "top_logprobs", top);
                json_array_append_new(lp_content, e);
            }
            break;
        case PIECE_REASONING:
            evbuffer_add(reasoning, s, pc->len);
            break;
        case PIECE_TOOL_ARGS:
            evbuffer_add(args, s, pc->len);
            break;
        default:
            break;
        }
    }
    json_t *text = buf_string(content);
    json_t *choice;
    if (p->fim) {
        choice = json_pack("{s:o,s:i,s:n,s:s}", "text", text, "index", 0, "logprobs",
                           "finish_reason", p->finish_reason);
    } else {
        json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content", text);
        if (p->scenario == SCEN_REASONING)
            json_object_set_new(msg, "reasoning_content", buf_string(reasoning));
        if (p->scenario == SCEN_TOOL_CALL) {
            json_t *a = buf_string(args);
            json_object_set_new(msg, "tool_calls",
                                json_pack("[{s:i,s:s,s:s,s:{s:s,s:o}}]", "index", 0, "id",
                                          plan_str(p, p->call_id_off), "type", "function",
                                          "function", "name", plan_str(p, p->tool_name_off),
                                          "arguments", a));
        }
        json_t *lp =
            p->scenario == SCEN_LOGPROBS ? json_pack("{s:O}", "content", lp_content) : json_null();
        choice = json_pack("{s:i,s:o,s:o,s:s}", "index", 0, "message", msg, "logprobs", lp,
                           "finish_reason", p->finish_reason);
    }
    json_t *root =
        json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o,s:s}", "id", plan_str(p, p->uuid_off), "object",
                  p->fim ? "text_completion" : "chat.completion", "created", (json_int_t)p->created,
                  "model", plan_str(p, p->model_off), "choices", choice, "usage", usage_json(p),
                  "system_fingerprint", fake_fingerprint());
    char *js = json_dumps(root, JSON_COMPACT);
    evbuffer_add(out, js, strlen(js));
    free(js);
    json_decref(root);
    json_decref(lp_content);
    evbuffer_free(content);
    evbuffer_free(reasoning);
    evbuffer_free(args);
}
