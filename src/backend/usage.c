/* usage.c - exact token counts with the built-in DeepSeek-V3 tokenizer and chat template. */
#include "backend/usage.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "tokenizer/tok.h"
#include "tokenizer/tok_chat.h"

/* A text longer than BK_COUNT_MAX_BYTES is not tokenized: for byte-level BPE its byte count
 * is an upper bound of its tokens, and an exact count of megabytes costs a worker seconds
 * that any client could make it spend on every request. */
static long count_text(const tok_t *t, const char *s, size_t len, unsigned flags, bool *bounded)
{
    if (len > BK_COUNT_MAX_BYTES) {
        if (bounded)
            *bounded = true;
        return (long)len;
    }
    return tok_count(t, s ? s : "", len, flags);
}

/* Appends the text parts of an array content to scratch, NUL-terminated; returns where they
 * start (an offset: scratch may still move). */
static size_t append_parts(const json_t *c, buf_t *scratch)
{
    size_t start = scratch->len, i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (json_is_string(t))
            buf_append(scratch, json_string_value(t), json_string_length(t));
    }
    buf_append(scratch, "", 1);
    return start;
}

static long count_prompt(const json_t *body, bk_kind_t kind, bool *bounded)
{
    const tok_t *t = tok_default();
    if (!t)
        return -1;
    buf_t text;
    buf_init(&text, 64u << 20);
    long n = -1;
    if (kind == BK_KIND_FIM) {
        const char *prompt = json_string_value(json_object_get(body, "prompt"));
        const char *suffix = json_string_value(json_object_get(body, "suffix"));
        buf_puts(&text, "<\xef\xbd\x9c"
                        "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        if (suffix) {
            buf_puts(&text, "<\xef\xbd\x9c"
                            "fim\xe2\x96\x81"
                            "begin\xef\xbd\x9c>");
            buf_puts(&text, prompt ? prompt : "");
            buf_puts(&text, "<\xef\xbd\x9c"
                            "fim\xe2\x96\x81hole\xef\xbd\x9c>");
            buf_puts(&text, suffix);
            buf_puts(&text, "<\xef\xbd\x9c"
                            "fim\xe2\x96\x81"
                            "end\xef\xbd\x9c>");
        } else {
            buf_puts(&text, prompt ? prompt : "");
        }
        /* the buffer's cap is above any request body: a failure means no count, not a wrong one */
        n = buf_failed(&text) ? -1 : count_text(t, text.data, text.len, TOK_ENC_SPECIAL, bounded);
        buf_free(&text);
        return n;
    }
    const json_t *msgs = json_object_get(body, "messages");
    size_t nmsg = json_array_size(msgs);
    tok_msg_t *m = xcalloc(nmsg + 1, sizeof *m);
    size_t ncalls = 0, i;
    json_t *msg;
    json_array_foreach(msgs, i, msg) ncalls += json_array_size(json_object_get(msg, "tool_calls"));
    tok_tool_call_t *calls = xcalloc(ncalls + 1, sizeof *calls);
    buf_t scratch;
    buf_init(&scratch, 64u << 20);
    size_t *offs = xcalloc(nmsg + 1, sizeof *offs);
    bool *is_off = xcalloc(nmsg + 1, sizeof *is_off);
    size_t c = 0;
    bool prefix = false;
    json_array_foreach(msgs, i, msg)
    {
        m[i].role = json_string_value(json_object_get(msg, "role"));
        json_t *content = json_object_get(msg, "content");
        if (json_is_array(content)) {
            offs[i] = append_parts(content, &scratch);
            is_off[i] = true;
        } else {
            m[i].content = json_string_value(content);
        }
        m[i].reasoning = json_string_value(json_object_get(msg, "reasoning_content"));
        m[i].tool_call_id = json_string_value(json_object_get(msg, "tool_call_id"));
        const json_t *tc = json_object_get(msg, "tool_calls");
        m[i].tool_calls = calls + c;
        size_t k;
        json_t *call;
        json_array_foreach(tc, k, call)
        {
            const json_t *fn = json_object_get(call, "function");
            calls[c].id = json_string_value(json_object_get(call, "id"));
            calls[c].name = json_string_value(json_object_get(fn, "name"));
            calls[c].arguments = json_string_value(json_object_get(fn, "arguments"));
            c++;
        }
        m[i].n_tool_calls = json_array_size(tc);
        if (i + 1 == nmsg && json_is_true(json_object_get(msg, "prefix")))
            prefix = true;
    }
    for (i = 0; i < nmsg; i++)
        if (is_off[i])
            m[i].content = scratch.data ? scratch.data + offs[i] : "";
    /* A prefix completion continues the last assistant message: no generation prompt, and the
     * template's end-of-sentence after it is not part of the prompt the model sees. */
    if (!buf_failed(&scratch) &&
        tok_chat_render(TOK_TPL_DEEPSEEK_V3, m, nmsg, !prefix, &text) == 0) {
        static const char eos[] = "<\xef\xbd\x9c"
                                  "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
        size_t el = sizeof eos - 1;
        if (prefix && text.len >= el && memcmp(text.data + text.len - el, eos, el) == 0)
            text.len -= el;
        n = count_text(t, text.data, text.len, TOK_ENC_SPECIAL, bounded);
    }
    free(m);
    free(calls);
    free(offs);
    free(is_off);
    buf_free(&scratch);
    buf_free(&text);
    return n;
}

long bk_count_prompt(const json_t *body, bk_kind_t kind)
{
    return count_prompt(body, kind, NULL);
}

static long count_completion(slice_t reasoning, slice_t content, slice_t tool_text, bool *bounded)
{
    const tok_t *t = tok_default();
    if (!t)
        return -1;
    long a = count_text(t, reasoning.ptr, reasoning.len, 0, bounded);
    long b = count_text(t, content.ptr, content.len, 0, bounded);
    long c = count_text(t, tool_text.ptr, tool_text.len, 0, bounded);
    if (a < 0 || b < 0 || c < 0)
        return -1;
    return a + b + c;
}

long bk_count_completion(slice_t reasoning, slice_t content, slice_t tool_text)
{
    return count_completion(reasoning, content, tool_text, NULL);
}

bool bk_usage_compute_bounded(const json_t *body, bk_kind_t kind, slice_t reasoning,
                              slice_t content, slice_t tool_text, bk_usage_t *out, bool *bounded)
{
    if (bounded)
        *bounded = false;
    const tok_t *t = tok_default();
    if (!t)
        return false;
    long p = count_prompt(body, kind, bounded);
    /* each text once: the reasoning is part of the completion and also reported alone */
    long r = count_text(t, reasoning.ptr, reasoning.len, 0, bounded);
    long b = count_text(t, content.ptr, content.len, 0, bounded);
    long c = count_text(t, tool_text.ptr, tool_text.len, 0, bounded);
    if (p < 0 || r < 0 || b < 0 || c < 0)
        return false;
    long comp = r + b + c;
    memset(out, 0, sizeof *out);
    out->has = BK_USAGE_PROMPT | BK_USAGE_COMPLETION | BK_USAGE_TOTAL | BK_USAGE_CACHE_HIT |
               BK_USAGE_CACHE_MISS;
    out->prompt_tokens = p;
    out->completion_tokens = comp;
    out->total_tokens = p + comp;
    out->prompt_cache_hit_tokens = 0;
    out->prompt_cache_miss_tokens = p;
    if (reasoning.len) {
        out->has |= BK_USAGE_REASONING;
        out->reasoning_tokens = r;
    }
    return true;
}

bool bk_usage_compute(const json_t *body, bk_kind_t kind, slice_t reasoning, slice_t content,
                      slice_t tool_text, bk_usage_t *out)
{
    return bk_usage_compute_bounded(body, kind, reasoning, content, tool_text, out, NULL);
}
