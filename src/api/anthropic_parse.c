/* anthropic_parse.c - Anthropic Messages requests to Chat Completions bodies (jansson: the
 * request is rebuilt, not relayed, so a tree is the plain way; bodies over 64 KiB are
 * translated on a worker). Unknown fields and cache_control are ignored, as Anthropic's
 * compatible servers do; top_k is accepted and dropped (DeepSeek has no such sampler). */
#include "api/anthropic_parse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/jx.h"
#include "base/buf.h"

const char *const api_anth_default_map[] = {"claude-opus*=deepseek-v4-pro",
                                            "claude*=deepseek-flash", NULL};

bool api_anth_map_entry_ok(const char *e)
{
    const char *eq = strchr(e, '=');
    if (!eq || eq == e || !eq[1] || strchr(eq + 1, '='))
        return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

void api_anth_map_model(const api_anth_opts_t *o, const char *name, char *out, size_t outlen)
{
    const char *const *map = o && o->map ? o->map : api_anth_default_map;
    int n = 0;
    if (o && o->map)
        n = o->nmap;
    else
        while (map[n])
            n++;
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(map[i], '=');
        if (!eq)
            continue;
        size_t plen = (size_t)(eq - map[i]);
        bool prefix = plen > 0 && map[i][plen - 1] == '*';
        size_t cmp = prefix ? plen - 1 : plen;
        if (prefix ? strncmp(name, map[i], cmp) == 0
                   : strlen(name) == cmp && strncmp(name, map[i], cmp) == 0) {
            snprintf(out, outlen, "%s", eq + 1);
            return;
        }
    }
    snprintf(out, outlen, "%s", name);
}

/* ---- content blocks ---- */

/* An image block's source as an image_url part. */
static json_t *image_part(const json_t *blk, const char *path, api_error_t *err)
{
    json_t *src = json_object_get(blk, "source");
    const char *st = json_string_value(json_object_get(src, "type"));
    char *url = NULL;
    if (st && !strcmp(st, "base64")) {
        const char *mt = json_string_value(json_object_get(src, "media_type"));
        const char *data = json_string_value(json_object_get(src, "data"));
        if (!mt || !data) {
            jx_bad(err, "%s.source: a base64 image needs media_type and data", path);
            return NULL;
        }
        size_t n = strlen(mt) + strlen(data) + 16;
        url = malloc(n);
        if (!url)
            abort();
        snprintf(url, n, "data:%s;base64,%s", mt, data);
    } else if (st && !strcmp(st, "url")) {
        const char *u = json_string_value(json_object_get(src, "url"));
        if (!u) {
            jx_bad(err, "%s.source.url: Field required", path);
            return NULL;
        }
        url = strdup(u);
        if (!url)
            abort();
    } else {
        jx_bad(err, "%s.source.type: Input should be 'base64' or 'url'", path);
        return NULL;
    }
    json_t *part = json_pack("{s:s,s:{s:s}}", "type", "image_url", "image_url", "url", url);
    free(url);
    if (!part)
        jx_bad(err, "%s.source: not valid UTF-8", path);
    return part;
}

/* A tool_result block as a tool message. */
static json_t *tool_message(const json_t *blk, const char *path, api_error_t *err)
{
    const char *id = json_string_value(json_object_get(blk, "tool_use_id"));
    if (!id) {
        jx_bad(err, "%s.tool_use_id: Field required", path);
        return NULL;
    }
    json_t *c = json_object_get(blk, "content");
    char p[160]; /* path is at most 127 bytes */
    snprintf(p, sizeof p, "%s.content", path);
    json_t *text = c && !json_is_null(c) ? jx_text_of(c, NULL, "\n", p, err) : json_string("");
    if (!text)
        return NULL;
    if (json_is_true(json_object_get(blk, "is_error"))) {
        /* Chat Completions has no error flag on a tool message: the model reads it */
        const char *t = json_string_value(text);
        size_t n = strlen(t) + 8;
        char *s = malloc(n);
        if (!s)
            abort();
        snprintf(s, n, "Error: %s", t);
        json_decref(text);
        text = json_string(s);
        free(s);
    }
    return json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id", id, "content", text);
}

/* One user message: tool_result blocks become tool messages (first: they answer the assistant
 * turn before), the rest one user message. */
static int user_message(json_t *msgs, const json_t *content, const char *path, api_error_t *err)
{
    if (json_is_string(content)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", content));
        return 0;
    }
    if (!json_is_array(content))
        return jx_bad(err, "%s: Input should be a string or a list of blocks", path);
    json_t *parts = json_array();
    size_t i, ntext = 0;
    json_t *blk;
    char p[128];
    json_array_foreach(content, i, blk)
    {
        snprintf(p, sizeof p, "%s.%zu", path, i);
        const char *t = json_string_value(json_object_get(blk, "type"));
        if (!t) {
            json_decref(parts);
            return jx_bad(err, "%s.type: Field required", p);
        }
        json_t *add = NULL;
        if (!strcmp(t, "text")) {
            json_t *text = json_object_get(blk, "text");
            if (!json_is_string(text)) {
                json_decref(parts);
                return jx_bad(err, "%s.text: Input should be a valid string", p);
            }
            add = json_pack("{s:s,s:O}", "type", "text", "text", text);
            ntext++;
        } else if (!strcmp(t, "image")) {
            add = image_part(blk, p, err);
        } else if (!strcmp(t, "tool_result")) {
            json_t *m = tool_message(blk, p, err);
            if (!m) {
                json_decref(parts);
                return -1;
            }
            json_array_append_new(msgs, m);
            continue;
        } else if (!strcmp(t, "thinking") || !strcmp(t, "redacted_thinking")) {
            continue;
        } else {
            json_decref(parts);
            return jx_bad(err, "%s.type: the content block type '%.40s' is not supported", p, t);
        }
        if (!add) {
            json_decref(parts);
            return -1;
        }
        json_array_append_new(parts, add);
    }
    size_t n = json_array_size(parts);
    if (n == 0) {
        json_decref(parts);
        return 0;
    }
    json_t *c = parts;
    if (n == 1 && ntext == 1) { /* one text: a plain string, as most chat servers expect */
        c = json_incref(json_object_get(json_array_get(parts, 0), "text"));
        json_decref(parts);
    }
    json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content", c));
    return 0;
}

/* One assistant message: text blocks to content, thinking to reasoning_content (DeepSeek
 * wants it back in a tool loop), tool_use to tool_calls. */
static int assistant_message(json_t *msgs, const json_t *content, const char *path,
                             api_error_t *err)
{
    if (json_is_string(content)) {
        json_array_append_new(msgs,
                              json_pack("{s:s,s:O}", "role", "assistant", "content", content));
        return 0;
    }
    if (!json_is_array(content))
        return jx_bad(err, "%s: Input should be a string or a list of blocks", path);
    buf_t text, reasoning;
    buf_init(&text, (size_t)1 << 30);
    buf_init(&reasoning, (size_t)1 << 30);
    json_t *calls = json_array();
    bool has_reasoning = false;
    size_t i;
    json_t *blk;
    char p[128];
    int rc = 0;
    json_array_foreach(content, i, blk)
    {
        snprintf(p, sizeof p, "%s.%zu", path, i);
        const char *t = json_string_value(json_object_get(blk, "type"));
        if (!t) {
            rc = jx_bad(err, "%s.type: Field required", p);
            break;
        }
        if (!strcmp(t, "text") || !strcmp(t, "thinking")) {
            bool th = t[1] == 'h';
            json_t *v = json_object_get(blk, th ? "thinking" : "text");
            if (!json_is_string(v)) {
                rc = jx_bad(err, "%s.%s: Input should be a valid string", p,
                            th ? "thinking" : "text");
                break;
            }
            buf_append(th ? &reasoning : &text, json_string_value(v), json_string_length(v));
            has_reasoning |= th;
        } else if (!strcmp(t, "tool_use")) {
            const char *id = json_string_value(json_object_get(blk, "id"));
            const char *name = json_string_value(json_object_get(blk, "name"));
            json_t *input = json_object_get(blk, "input");
            if (!id || !name) {
                rc = jx_bad(err, "%s: a tool_use block needs an id and a name", p);
                break;
            }
            char *args =
                input && !json_is_null(input) ? json_dumps(input, JSON_COMPACT) : strdup("{}");
            if (!args) {
                rc = jx_bad(err, "%s.input: not encodable", p);
                break;
            }
            json_array_append_new(calls,
                                  json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                            "function", "name", name, "arguments", args));
            free(args);
        } else if (!strcmp(t, "redacted_thinking")) {
            continue; /* encrypted for another provider: nothing DeepSeek can read */
        } else {
            rc = jx_bad(err,
                        "%s.type: the content block type '%.40s' is not supported in an "
                        "assistant message",
                        p, t);
            break;
        }
    }
    if (!rc) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("assistant"));
        json_t *c = json_stringn(text.data ? text.data : "", text.len);
        json_t *r = has_reasoning
                        ? json_stringn(reasoning.data ? reasoning.data : "", reasoning.len)
                        : NULL;
        if (!c || (has_reasoning && !r)) {
            rc = jx_bad(err, "%s: a text is not valid UTF-8", path);
            json_decref(c);
            json_decref(r);
            json_decref(m);
        } else {
            json_object_set_new(m, "content", c);
            if (r)
                json_object_set_new(m, "reasoning_content", r);
            if (json_array_size(calls))
                json_object_set(m, "tool_calls", calls);
            json_array_append_new(msgs, m);
        }
    }
    buf_free(&text);
    buf_free(&reasoning);
    json_decref(calls);
    return rc;
}

/* ---- the request ---- */

static int tr_tools(json_t *out, const json_t *in, api_error_t *err)
{
    json_t *tools = json_object_get(in, "tools");
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return jx_bad(err, "tools: Input should be a valid list");
    json_t *fns = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *name = json_string_value(json_object_get(t, "name"));
        if (type && strcmp(type, "custom")) {
            json_decref(fns);
            return jx_bad(err,
                          "tools.%zu.type: the tool type '%.60s' is not supported (only "
                          "client tools with an input_schema)",
                          i, type);
        }
        if (!name) {
            json_decref(fns);
            return jx_bad(err, "tools.%zu.name: Field required", i);
        }
        json_t *schema = json_object_get(t, "input_schema");
        if (!json_is_object(schema)) {
            json_decref(fns);
            return jx_bad(err, "tools.%zu.input_schema: Field required", i);
        }
        json_t *fn = json_pack("{s:s,s:O}", "name", name, "parameters", schema);
        jx_copy(fn, t, "description");
        json_array_append_new(fns, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    json_object_set_new(out, "tools", fns);
    return 0;
}

static int tr_tool_choice(json_t *out, const json_t *in, api_error_t *err)
{
    json_t *tc = json_object_get(in, "tool_choice");
    if (!tc || json_is_null(tc))
        return 0;
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!type)
        return jx_bad(err, "tool_choice.type: Field required");
    if (!strcmp(type, "auto") || !strcmp(type, "none")) {
        json_object_set_new(out, "tool_choice", json_string(type));
    } else if (!strcmp(type, "any")) {
        json_object_set_new(out, "tool_choice", json_string("required"));
    } else if (!strcmp(type, "tool")) {
        const char *name = json_string_value(json_object_get(tc, "name"));
        if (!name)
            return jx_bad(err, "tool_choice.name: Field required");
        json_object_set_new(
            out, "tool_choice",
            json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name));
    } else {
        return jx_bad(err, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
    }
    return 0;
}

static int tr_messages(json_t *out, const json_t *in, api_error_t *err)
{
    json_t *msgs = json_array();
    json_object_set_new(out, "messages", msgs);
    json_t *sys = json_object_get(in, "system");
    if (sys && !json_is_null(sys)) {
        json_t *text = jx_text_of(sys, NULL, "\n", "system", err);
        if (!text)
            return -1;
        if (json_string_length(text))
            json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "system", "content", text));
        else
            json_decref(text);
    }
    json_t *in_msgs = json_object_get(in, "messages");
    if (!in_msgs)
        return jx_bad(err, "messages: Field required");
    if (!json_is_array(in_msgs))
        return jx_bad(err, "messages: Input should be a valid list");
    size_t i;
    json_t *m;
    char p[64];
    json_array_foreach(in_msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        snprintf(p, sizeof p, "messages.%zu.content", i);
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant")))
            return jx_bad(err, "messages.%zu.role: Input should be 'user' or 'assistant'", i);
        if (!content)
            return jx_bad(err, "messages.%zu.content: Field required", i);
        int rc = role[0] == 'u' ? user_message(msgs, content, p, err)
                                : assistant_message(msgs, content, p, err);
        if (rc)
            return -1;
    }
    return 0;
}

static int tr_sampling(json_t *out, const json_t *in, bool counting, api_error_t *err)
{
    json_t *mt = json_object_get(in, "max_tokens");
    if (!counting && !mt)
        return jx_bad(err, "max_tokens: Field required");
    if (mt && !json_is_integer(mt))
        return jx_bad(err, "max_tokens: Input should be a valid integer");
    if (mt && json_integer_value(mt) < 1)
        return jx_bad(err, "max_tokens: Input should be greater than or equal to 1");
    if (mt)
        json_object_set(out, "max_tokens", mt);
    jx_copy(out, in, "temperature");
    jx_copy(out, in, "top_p");
    json_t *stop = json_object_get(in, "stop_sequences");
    if (stop && !json_is_null(stop)) {
        if (!json_is_array(stop))
            return jx_bad(err, "stop_sequences: Input should be a valid list");
        json_object_set(out, "stop", stop);
    }
    json_t *th = json_object_get(in, "thinking");
    if (th && !json_is_null(th)) {
        const char *type = json_string_value(json_object_get(th, "type"));
        if (!type ||
            (strcmp(type, "enabled") && strcmp(type, "disabled") && strcmp(type, "adaptive")))
            return jx_bad(err, "thinking.type: Input should be 'enabled' or 'disabled'");
        json_t *bt = json_object_get(th, "budget_tokens");
        if (bt && !json_is_null(bt) && !json_is_integer(bt))
            return jx_bad(err, "thinking.budget_tokens: Input should be a valid integer");
        /* budget_tokens is accepted; DeepSeek's thinking has no budget of its own */
        json_object_set_new(
            out, "thinking",
            json_pack("{s:s}", "type", strcmp(type, "disabled") ? "enabled" : "disabled"));
    }
    json_t *meta = json_object_get(in, "metadata");
    json_t *uid = json_object_get(meta, "user_id");
    if (json_is_string(uid))
        json_object_set(out, "user_id", uid);
    return 0;
}

int api_anth_translate(const char *data, size_t len, const api_anth_opts_t *o, bool counting,
                       char **out, size_t *out_len, bool *stream, api_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    *stream = false;
    json_t *in;
    if (jx_parse(data, len, &in, err))
        return -1;
    json_t *res = json_object();
    int rc = -1;
    const char *model = json_string_value(json_object_get(in, "model"));
    if (!model) {
        jx_bad(err, "model: Field required");
        goto out;
    }
    char mapped[128];
    api_anth_map_model(o, model, mapped, sizeof mapped);
    json_object_set_new(res, "model", json_string(mapped));
    if (tr_messages(res, in, err) || tr_sampling(res, in, counting, err) ||
        tr_tools(res, in, err) || tr_tool_choice(res, in, err))
        goto out;
    json_t *st = json_object_get(in, "stream");
    if (st && !json_is_null(st) && !json_is_boolean(st)) {
        jx_bad(err, "stream: Input should be a valid boolean");
        goto out;
    }
    if (json_is_true(st) && !counting) {
        *stream = true;
        json_object_set_new(res, "stream", json_true());
        json_object_set_new(res, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    rc = jx_dump(res, out, out_len, err);
out:
    json_decref(res);
    json_decref(in);
    return rc;
}
