/* responses_parse.c - OpenAI Responses requests to Chat Completions bodies (jansson; bodies
 * over 64 KiB are translated on a worker). Unknown fields are ignored. */
#include "api/responses_parse.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/jx.h"
#include "base/buf.h"

/* A 400 naming param (a static string). Returns -1. */
static int bad_param(api_error_t *err, const char *param, const char *msg)
{
    jx_bad(err, "%s", msg);
    err->param = param;
    return -1;
}

/* Content parts of an input message: a string as it is; parts to Chat Completions parts. */
static json_t *tr_content(const json_t *c, size_t item, api_error_t *err)
{
    if (json_is_string(c))
        return json_incref((json_t *)c);
    if (!json_is_array(c)) {
        jx_bad(err, "input[%zu].content: expected a string or a list of content parts", item);
        return NULL;
    }
    json_t *parts = json_array();
    size_t i, ntext = 0;
    json_t *p;
    json_array_foreach(c, i, p)
    {
        const char *t = json_string_value(json_object_get(p, "type"));
        if (t && (!strcmp(t, "input_text") || !strcmp(t, "output_text") || !strcmp(t, "text"))) {
            json_t *text = json_object_get(p, "text");
            if (!json_is_string(text)) {
                json_decref(parts);
                jx_bad(err, "input[%zu].content[%zu].text: expected a string", item, i);
                return NULL;
            }
            json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text", text));
            ntext++;
        } else if (t && !strcmp(t, "input_image")) {
            json_t *url = json_object_get(p, "image_url");
            if (!json_is_string(url)) {
                json_decref(parts);
                jx_bad(err,
                       "input[%zu].content[%zu].image_url: expected a URL (file_id is not "
                       "supported)",
                       item, i);
                return NULL;
            }
            json_t *iu = json_pack("{s:O}", "url", url);
            jx_copy(iu, p, "detail");
            json_array_append_new(parts,
                                  json_pack("{s:s,s:o}", "type", "image_url", "image_url", iu));
        } else {
            json_decref(parts);
            jx_bad(err, "input[%zu].content[%zu].type: the content type '%.40s' is not supported",
                   item, i, t ? t : "(none)");
            return NULL;
        }
    }
    if (json_array_size(parts) == 1 && ntext == 1) {
        json_t *s = json_incref(json_object_get(json_array_get(parts, 0), "text"));
        json_decref(parts);
        return s;
    }
    return parts;
}

/* The assistant message a function_call joins: the last message when it is an assistant one
 * whose turn this still is, else a new one. */
static json_t *assistant_for_call(json_t *msgs, json_t **pending_reasoning)
{
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    if (last && role && !strcmp(role, "assistant") && !*pending_reasoning)
        return last;
    json_t *m = json_pack("{s:s,s:n}", "role", "assistant", "content");
    if (*pending_reasoning) {
        json_object_set_new(m, "reasoning_content", *pending_reasoning);
        *pending_reasoning = NULL;
    }
    json_array_append_new(msgs, m);
    return m;
}

static int tr_items(json_t *msgs, const json_t *input, api_error_t *err)
{
    json_t *pending = NULL; /* a reasoning item's text, for the assistant message after it */
    size_t i;
    json_t *it;
    int rc = 0;
    json_array_foreach(input, i, it)
    {
        if (!json_is_object(it)) {
            rc = jx_bad(err, "input[%zu]: expected an object", i);
            break;
        }
        const char *type = json_string_value(json_object_get(it, "type"));
        const char *role = json_string_value(json_object_get(it, "role"));
        if (!type || !strcmp(type, "message")) {
            if (!role || (strcmp(role, "user") && strcmp(role, "assistant") &&
                          strcmp(role, "system") && strcmp(role, "developer"))) {
                rc = jx_bad(err, "input[%zu].role: expected user, assistant, system or developer",
                            i);
                break;
            }
            json_t *c = tr_content(json_object_get(it, "content"), i, err);
            if (!c) {
                rc = -1;
                break;
            }
            json_t *m = json_pack("{s:s,s:o}", "role", !strcmp(role, "developer") ? "system" : role,
                                  "content", c);
            if (!strcmp(role, "assistant") && pending) {
                json_object_set_new(m, "reasoning_content", pending);
                pending = NULL;
            }
            json_array_append_new(msgs, m);
        } else if (!strcmp(type, "function_call")) {
            const char *id = json_string_value(json_object_get(it, "call_id"));
            const char *name = json_string_value(json_object_get(it, "name"));
            const char *args = json_string_value(json_object_get(it, "arguments"));
            if (!id || !name || !args) {
                rc =
                    jx_bad(err, "input[%zu]: a function_call needs call_id, name and arguments", i);
                break;
            }
            json_t *m = assistant_for_call(msgs, &pending);
            json_t *calls = json_object_get(m, "tool_calls");
            if (!calls) {
                calls = json_array();
                json_object_set_new(m, "tool_calls", calls);
            }
            json_array_append_new(calls,
                                  json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                            "function", "name", name, "arguments", args));
        } else if (!strcmp(type, "function_call_output")) {
            const char *id = json_string_value(json_object_get(it, "call_id"));
            json_t *o = json_object_get(it, "output");
            if (!id || !o) {
                rc = jx_bad(err, "input[%zu]: a function_call_output needs call_id and output", i);
                break;
            }
            char path[64];
            snprintf(path, sizeof path, "input[%zu].output", i);
            json_t *text = jx_text_of(o, "input_text", "\n", path, err);
            if (!text) {
                rc = -1;
                break;
            }
            json_array_append_new(msgs, json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id",
                                                  id, "content", text));
        } else if (!strcmp(type, "reasoning")) {
            json_t *c = json_object_get(it, "content");
            if (c && json_is_array(c)) {
                char path[64];
                snprintf(path, sizeof path, "input[%zu].content", i);
                json_t *text = jx_text_of(c, "reasoning_text", "", path, err);
                if (!text) {
                    rc = -1;
                    break;
                }
                json_decref(pending);
                pending = text;
            }
        } else if (!strcmp(type, "item_reference")) {
            rc = jx_bad(err,
                        "input[%zu]: item_reference needs stored responses, which this "
                        "server does not keep",
                        i);
            break;
        } else {
            rc = jx_bad(err, "input[%zu].type: the item type '%.40s' is not supported", i, type);
            break;
        }
    }
    json_decref(pending);
    return rc;
}

static int tr_tools(json_t *out, const json_t *in, api_error_t *err)
{
    json_t *tools = json_object_get(in, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools))
            return bad_param(err, "tools", "tools: expected an array");
        json_t *fns = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            const char *type = json_string_value(json_object_get(t, "type"));
            const char *name = json_string_value(json_object_get(t, "name"));
            if (!type || strcmp(type, "function")) {
                json_decref(fns);
                return jx_bad(err,
                              "tools[%zu].type: only function tools are supported, not "
                              "'%.40s'",
                              i, type ? type : "(none)");
            }
            if (!name) {
                json_decref(fns);
                return jx_bad(err, "tools[%zu].name: missing", i);
            }
            json_t *fn = json_pack("{s:s}", "name", name);
            jx_copy(fn, t, "description");
            jx_copy(fn, t, "parameters");
            jx_copy(fn, t, "strict");
            json_array_append_new(fns, json_pack("{s:s,s:o}", "type", "function", "function", fn));
        }
        json_object_set_new(out, "tools", fns);
    }
    json_t *tc = json_object_get(in, "tool_choice");
    if (!tc || json_is_null(tc))
        return 0;
    if (json_is_string(tc)) {
        json_object_set(out, "tool_choice", tc);
        return 0;
    }
    const char *type = json_string_value(json_object_get(tc, "type"));
    const char *name = json_string_value(json_object_get(tc, "name"));
    if (!type || strcmp(type, "function") || !name)
        return bad_param(err, "tool_choice",
                         "tool_choice: expected auto, none, required or a function by name");
    json_object_set_new(out, "tool_choice",
                        json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name));
    return 0;
}

static int tr_options(json_t *out, const json_t *in, api_error_t *err)
{
    json_t *mt = json_object_get(in, "max_output_tokens");
    if (mt && !json_is_null(mt)) {
        if (!json_is_integer(mt) || json_integer_value(mt) < 1)
            return bad_param(err, "max_output_tokens",
                             "max_output_tokens: expected an integer of at least 1");
        json_object_set(out, "max_tokens", mt);
    }
    jx_copy(out, in, "temperature");
    jx_copy(out, in, "top_p");
    json_t *user = json_object_get(in, "user");
    if (!json_is_string(user))
        user = json_object_get(in, "safety_identifier");
    if (json_is_string(user))
        json_object_set(out, "user_id", user);
    const char *effort =
        json_string_value(json_object_get(json_object_get(in, "reasoning"), "effort"));
    if (effort && !strcmp(effort, "none"))
        json_object_set_new(out, "thinking", json_pack("{s:s}", "type", "disabled"));
    else if (effort)
        json_object_set_new(out, "reasoning_effort", json_string(effort));
    json_t *fmt = json_object_get(json_object_get(in, "text"), "format");
    if (fmt && !json_is_null(fmt)) {
        const char *t = json_string_value(json_object_get(fmt, "type"));
        if (!t || (strcmp(t, "text") && strcmp(t, "json_object")))
            return bad_param(err, "text.format",
                             "text.format: only 'text' and 'json_object' are supported "
                             "(DeepSeek has no json_schema output)");
        json_object_set_new(out, "response_format", json_pack("{s:s}", "type", t));
    }
    return 0;
}

int api_resp_translate(const char *data, size_t len, char **out, size_t *out_len, bool *stream,
                       api_error_t *err)
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
        bad_param(err, "model", "model: a model name is required");
        goto out;
    }
    if (json_is_true(json_object_get(in, "store"))) {
        bad_param(err, "store",
                  "store: true is not supported: this server keeps no responses "
                  "(send store: false, and the whole conversation as input)");
        goto out;
    }
    json_t *prev = json_object_get(in, "previous_response_id");
    if (prev && !json_is_null(prev)) {
        bad_param(err, "previous_response_id",
                  "previous_response_id is not supported: this server keeps no responses (send "
                  "the whole conversation as input)");
        goto out;
    }
    if (json_object_get(in, "conversation") && !json_is_null(json_object_get(in, "conversation"))) {
        bad_param(err, "conversation",
                  "conversation is not supported: this server keeps no "
                  "conversations");
        goto out;
    }
    json_object_set_new(res, "model", json_string(model));
    json_t *msgs = json_array();
    json_object_set_new(res, "messages", msgs);
    json_t *ins = json_object_get(in, "instructions");
    if (json_is_string(ins) && json_string_length(ins))
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", ins));
    json_t *input = json_object_get(in, "input");
    if (json_is_string(input)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", input));
    } else if (json_is_array(input)) {
        if (tr_items(msgs, input, err))
            goto out;
    } else {
        bad_param(err, "input", "input: expected a string or an array of input items");
        goto out;
    }
    if (tr_tools(res, in, err) || tr_options(res, in, err))
        goto out;
    json_t *st = json_object_get(in, "stream");
    if (json_is_true(st)) {
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
