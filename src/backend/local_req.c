/* local_req.c - a validated request body made into what the engine runs: the prompt rendered
 * with the model's chat template (or raw, or as a FIM prompt) and encoded, the sampling
 * settings, stop strings and the output limit. Runs on the scheduler thread: a long prompt's
 * encoding never holds up the loop. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/local_int.h"
#include "base/mem.h"

#define DEFAULT_MAX_TOKENS 4096

/* A message's content: a string, or an array of {"type":"text","text":...} parts joined. */
static const char *content_text(json_t *v, buf_t *scratch)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (!json_is_array(v))
        return NULL;
    size_t i;
    json_t *part;
    json_array_foreach(v, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t)
            buf_puts(scratch, t);
    }
    buf_append(scratch, "", 0);
    return scratch->data ? scratch->data : "";
}

static void push_id(tok_ids_t *v, int32_t id)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->ids = xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
    v->ids[v->len++] = id;
}

static double num(json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* Renders the chat messages into text. */
static int render_chat(local_model_t *lm, bk_call_t *c, json_t *msgs, buf_t *text, char *msg,
                       size_t msglen)
{
    size_t n = json_array_size(msgs);
    if (!n) {
        snprintf(msg, msglen, "messages is empty");
        return 400;
    }
    tok_msg_t *m = xcalloc(n, sizeof *m);
    buf_t *parts = xcalloc(n, sizeof *parts);
    bool prefix = false;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(msgs, i);
        buf_init(&parts[i], TOK_MAX_INPUT);
        m[i].role = json_string_value(json_object_get(o, "role"));
        m[i].content = content_text(json_object_get(o, "content"), &parts[i]);
        m[i].reasoning = json_string_value(json_object_get(o, "reasoning_content"));
        if (i == n - 1 && c->kind == BK_KIND_CHAT_PREFIX && m[i].role &&
            !strcmp(m[i].role, "assistant") && json_is_true(json_object_get(o, "prefix")))
            prefix = true;
    }
    int rc = 0;
    size_t nr = prefix ? n - 1 : n;
    if (lm->raw) {
        for (size_t i = 0; i < n; i++)
            if (m[i].content)
                buf_puts(text, m[i].content);
    } else if (tok_chat_render(lm->tpl, m, nr, true, text) != 0) {
        snprintf(msg, msglen,
                 "the messages do not fit the model's chat template (roles out of "
                 "order, or a message without content)");
        rc = 400;
    } else if (prefix && m[n - 1].content) {
        buf_puts(text, m[n - 1].content);
    }
    for (size_t i = 0; i < n; i++)
        buf_free(&parts[i]);
    free(parts);
    free(m);
    return rc;
}

static void read_stops(bk_call_t *c, json_t *stop)
{
    const char *v[ENG_MAX_STOPS];
    int n = 0;
    if (json_is_string(stop)) {
        v[n++] = json_string_value(stop);
    } else if (json_is_array(stop)) {
        size_t i;
        json_t *s;
        json_array_foreach(stop, i, s) if (json_is_string(s) && n < ENG_MAX_STOPS) v[n++] =
            json_string_value(s);
    }
    eng_stop_init(&c->stop, v, n);
}

int local_req_prepare(local_model_t *lm, bk_call_t *c, char *msg, size_t msglen)
{
    json_t *body = json_loadb(c->body, c->body_len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        snprintf(msg, msglen, "the body does not parse as a JSON object");
        return 400;
    }
    buf_t text;
    buf_init(&text, TOK_MAX_INPUT);
    int rc = 0;
    bool special = !lm->raw, bos = false;
    c->split_think = false;
    if (c->kind == BK_KIND_FIM) {
        const char *p = json_string_value(json_object_get(body, "prompt"));
        const char *sfx = json_string_value(json_object_get(body, "suffix"));
        bos = eng_model_add_bos(lm->m);
        special = false;
        if (sfx && *sfx && lm->fim[0] < 0) {
            snprintf(msg, msglen,
                     "model %s has no fill-in-the-middle tokens: suffix is not "
                     "supported",
                     lm->name);
            rc = 400;
        }
        if (!rc)
            buf_puts(&text, p ? p : "");
        if (!rc && sfx && *sfx) {
            /* deepseek-coder's FIM prompt: [BOS] begin, prefix, hole, suffix, end */
            if (bos && tok_bos(lm->tok) >= 0)
                push_id(&c->prompt, tok_bos(lm->tok));
            push_id(&c->prompt, lm->fim[0]);
            tok_encode(lm->tok, text.data ? text.data : "", text.len, 0, &c->prompt);
            push_id(&c->prompt, lm->fim[1]);
            tok_encode(lm->tok, sfx, strlen(sfx), 0, &c->prompt);
            push_id(&c->prompt, lm->fim[2]);
            buf_reset(&text);
        }
    } else {
        rc = render_chat(lm, c, json_object_get(body, "messages"), &text, msg, msglen);
        bos = lm->raw && eng_model_add_bos(lm->m);
        c->split_think = !lm->raw;
    }
    if (!rc && buf_failed(&text)) {
        snprintf(msg, msglen, "the prompt is too long");
        rc = 400;
    }
    if (!rc && !c->prompt.len) {
        unsigned fl = (special ? TOK_ENC_SPECIAL : 0) | (bos ? TOK_ENC_BOS : 0);
        tok_encode(lm->tok, text.data ? text.data : "", text.len, fl, &c->prompt);
    }
    buf_free(&text);
    const eng_hparams_t *hp = eng_model_hparams(lm->m);
    if (!rc && c->prompt.len == 0) {
        snprintf(msg, msglen, "the prompt is empty and model %s has no BOS token to start from",
                 lm->name);
        rc = 400;
    }
    if (!rc && (int)c->prompt.len >= hp->ctx) {
        snprintf(msg, msglen,
                 "This model's maximum context length is %d tokens. However, you requested %zu "
                 "tokens in the messages. Please reduce the length of the messages.",
                 hp->ctx, c->prompt.len);
        rc = 400;
    }
    if (!rc) {
        for (size_t i = 0; i < c->prompt.len; i++)
            if (c->prompt.ids[i] < 0 || c->prompt.ids[i] >= hp->n_vocab) {
                snprintf(msg, msglen, "the prompt has a token outside the model's vocabulary");
                rc = 400;
                break;
            }
    }
    if (!rc) {
        c->sp.temp = (float)num(body, "temperature", 1.0);
        c->sp.top_p = (float)num(body, "top_p", 1.0);
        c->sp.presence = (float)num(body, "presence_penalty", 0);
        c->sp.frequency = (float)num(body, "frequency_penalty", 0);
        json_t *seed = json_object_get(body, "seed");
        c->sp.seed = json_is_integer(seed) ? (uint64_t)json_integer_value(seed)
                                           : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
        double mt = num(body, "max_tokens", DEFAULT_MAX_TOKENS);
        c->max_tokens = mt < 1 ? 1 : mt > DEFAULT_MAX_TOKENS * 2 ? DEFAULT_MAX_TOKENS * 2 : (int)mt;
        read_stops(c, json_object_get(body, "stop"));
        c->logprobs = json_is_true(json_object_get(body, "logprobs"));
        double tl = num(body, "top_logprobs", 0);
        c->top_logprobs = !c->logprobs || tl < 0 ? 0 : tl > LOCAL_MAX_TOP ? LOCAL_MAX_TOP : (int)tl;
    }
    json_decref(body);
    return rc;
}
