/* validate.c - DeepSeek request-body rules for /chat/completions, /beta/chat/completions and
 * /beta/completions, answered with DeepSeek's statuses and wording.
 *
 * Statuses and messages. DeepSeek's server answers body errors the way Rust's axum/serde do, and
 * seekd mirrors that split:
 *  - 400 "Failed to deserialize the JSON body into the target type: <path>: <serde detail>" for
 *    wrong JSON types, missing required fields and unknown enum values. The prefix and the
 *    serde details ("messages[1]: missing field `content`", "temperature: invalid type: string
 *    \"1.3\", expected f32", "messages[1].role: unknown variant `system`, expected ...") are
 *    verified from DeepSeek responses quoted in public issue threads. DeepSeek answered them
 *    with 422 until 2025 and answers 400 since (issue 11); ST_SHAPE follows. Which content
 *    part types and response_format types exist is left to the upstream (the model decides),
 *    only their shape is checked. The "expected ..." part uses plain words ("a number", "an
 * integer") rather than Rust type names, and the trailing " at line L column C" is left out: it
 * refers to the raw body, which a parsed json_t no longer knows about.
 *  - 400 "Failed to parse the request body as JSON: <jansson's reason> at line L column C" for
 *    malformed JSON (api_parse_json): axum's wording for syntax errors, inferred, not seen in
 *    a DeepSeek response.
 *  - 400 for values that have the right type but are out of range or contradict each other.
 *    Verified texts: "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]"
 *    (here the upper bound is model-specific and not enforced, so the text names only the
 *    lower one), "Invalid top_p value, the valid range of top_p is (0, 1.0]" (so top_p 0 is
 *    refused, as DeepSeek does), "Invalid top_logprobs and logprobs value", "Model Not Exist"
 *    (used here for an empty model; unknown names are for routing to refuse),
 *    "prefix is only available when using beta api ...", "Messages with role 'tool' must be a
 *    response to a preceding message with 'tool_calls'", "An assistant message with
 *    'tool_calls' must be followed by tool messages responding to each 'tool_call_id'.
 *    (insufficient tool messages following tool_calls message)". Other range messages follow
 *    the same "Invalid X value, the valid range of X is [a, b]" pattern (not verified).
 *  - DeepSeek sends param null; seekd names the field (OpenAI does the same), which SDKs
 *    surface and clients ignore otherwise.
 * Choices where DeepSeek's behaviour is not documented:
 *  - JSON null for an optional field means "absent" (DeepSeek's own examples send
 *    "stop": null, "tools": null, "stream_options": null).
 *  - stream_options without stream: true is accepted and ignored (several SDKs send it).
 *  - On /beta/chat/completions prefix is optional (LiteLLM and proxies send every chat to
 *    /beta); prefix: true must sit on the last message and that message must be role assistant. On
 * /chat/completions prefix: true is refused with DeepSeek's message; prefix: false is accepted
 * anywhere.
 *  - max_tokens below 1 (including negative) is a 400 range error, not a 422.
 *  - Tool-call pairing is checked exactly for assistant messages with at most 64 tool calls;
 *    above that only the number of answering tool messages is checked (keeps the work linear
 *    without allocating).
 *  - A top-level JSON value that is not an object is a 422, like any other wrong type.
 */
#include "api/validate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ST_SHAPE 400
#define ST_VALUE 400

#define MAX_STOP 16
#define MAX_TOOLS 128
#define MAX_TOP_LOGPROBS 20
#define MAX_FUNC_NAME 64
#define MAX_EXACT_TOOL_CALLS 64

#define DESER "Failed to deserialize the JSON body into the target type: "

/* ---- paths and error reporting ---- */

/* A field path like messages[2].tool_calls[0].function.name: a[i].b[j].c, parts optional
 * (a NULL, i/j negative). Rendered only when an error is reported. */
typedef struct {
    const char *a;
    long i;
    const char *b;
    long j;
    const char *c;
} vpath_t;

#define P0(a_) ((vpath_t){(a_), -1, NULL, -1, NULL})
#define P1(a_, i_) ((vpath_t){(a_), (long)(i_), NULL, -1, NULL})
#define P2(a_, i_, b_) ((vpath_t){(a_), (long)(i_), (b_), -1, NULL})
#define P3(a_, i_, b_, j_) ((vpath_t){(a_), (long)(i_), (b_), (long)(j_), NULL})
#define P4(a_, i_, b_, j_, c_) ((vpath_t){(a_), (long)(i_), (b_), (long)(j_), (c_)})

typedef struct {
    api_error_t *err;
    bool value_failed; /* a 400 is recorded; keep scanning in case a 422 turns up */
} vctx_t;

static size_t put(char *buf, size_t n, size_t k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t n, size_t k, const char *fmt, ...)
{
    if (k >= n)
        return k;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
    return w < 0 ? k : k + (size_t)w;
}

static void path_render(const vpath_t *p, char *buf, size_t n)
{
    size_t k = put(buf, n, 0, "%s", p->a ? p->a : "");
    if (p->i >= 0)
        k = put(buf, n, k, "[%ld]", p->i);
    if (p->b)
        k = put(buf, n, k, ".%s", p->b);
    if (p->j >= 0)
        k = put(buf, n, k, "[%ld]", p->j);
    if (p->c)
        put(buf, n, k, ".%s", p->c);
}

/* Top-level names are string literals already; anything deeper is rendered into the error. */
static const char *param_of(vctx_t *c, const vpath_t *p)
{
    if (p->i < 0 && !p->b && !p->c)
        return p->a;
    path_render(p, c->err->param_buf, sizeof c->err->param_buf);
    return c->err->param_buf;
}

static void describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        size_t len = json_string_length(v);
        snprintf(buf, n, "string \"%.*s%s\"", (int)(len > 40 ? 40 : len), json_string_value(v),
                 len > 40 ? "..." : "");
        break;
    }
    case JSON_INTEGER:
        snprintf(buf, n, "integer `%lld`", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, n, "floating point `%g`", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, n, "boolean `true`");
        break;
    case JSON_FALSE:
        snprintf(buf, n, "boolean `false`");
        break;
    case JSON_NULL:
        snprintf(buf, n, "null");
        break;
    case JSON_ARRAY:
        snprintf(buf, n, "sequence");
        break;
    case JSON_OBJECT:
        snprintf(buf, n, "map");
        break;
    }
}

/* 422: v at p has the wrong JSON type. */
static int bad_type(vctx_t *c, const vpath_t *p, const json_t *v, const char *expected)
{
    char where[160], what[80];
    path_render(p, where, sizeof where);
    describe(v, what, sizeof what);
    const char *param = param_of(c, p);
    return api_error_invalid(c->err, ST_SHAPE, param, DESER "%s%sinvalid type: %s, expected %s",
                             where, where[0] ? ": " : "", what, expected);
}

/* 422: required field `field` missing from the object at p. */
static int missing(vctx_t *c, const vpath_t *p, const char *field)
{
    char where[160];
    path_render(p, where, sizeof where);
    const char *param = field;
    if (where[0]) {
        snprintf(c->err->param_buf, sizeof c->err->param_buf, "%s.%s", where, field);
        param = c->err->param_buf;
    }
    return api_error_invalid(c->err, ST_SHAPE, param, DESER "%s%smissing field `%s`", where,
                             where[0] ? ": " : "", field);
}

/* 422: string s at p is not one of the variants listed in `expected`. */
static int bad_variant(vctx_t *c, const vpath_t *p, const json_t *s, const char *expected)
{
    char where[160];
    path_render(p, where, sizeof where);
    size_t len = json_string_length(s);
    const char *param = param_of(c, p);
    return api_error_invalid(c->err, ST_SHAPE, param, DESER "%s: unknown variant `%.*s%s`, %s",
                             where, (int)(len > 40 ? 40 : len), json_string_value(s),
                             len > 40 ? "..." : "", expected);
}

/* 400: records the first value error only, and lets the caller go on looking for a 422. */
static void bad_value(vctx_t *c, const vpath_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bad_value(vctx_t *c, const vpath_t *p, const char *fmt, ...)
{
    if (c->value_failed)
        return;
    c->value_failed = true;
    api_error_t *e = c->err;
    e->status = ST_VALUE;
    e->type = "invalid_request_error";
    e->code = "invalid_request_error";
    e->param = param_of(c, p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- typed field access ---- */

/* The value of an optional field, or NULL when it is absent or JSON null. */
static json_t *opt(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* Fetches a required string field; 422 when missing or not a string. */
static int req_string(vctx_t *c, const json_t *obj, const vpath_t *objpath, const char *key,
                      const vpath_t *p, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return missing(c, objpath, key);
    if (!json_is_string(v))
        return bad_type(c, p, v, "a string");
    *out = v;
    return 0;
}

static int opt_typed(vctx_t *c, const json_t *obj, const char *key, const vpath_t *p, json_type t,
                     const char *expected, json_t **out)
{
    json_t *v = opt(obj, key);
    *out = v;
    if (!v)
        return 0;
    bool ok = t == JSON_TRUE   ? json_is_boolean(v)
              : t == JSON_REAL ? json_is_number(v)
                               : json_typeof(v) == t;
    return ok ? 0 : bad_type(c, p, v, expected);
}

static int opt_bool(vctx_t *c, const json_t *obj, const char *key, const vpath_t *p, json_t **out)
{
    return opt_typed(c, obj, key, p, JSON_TRUE, "a boolean", out);
}

static int opt_string(vctx_t *c, const json_t *obj, const char *key, const vpath_t *p, json_t **out)
{
    return opt_typed(c, obj, key, p, JSON_STRING, "a string", out);
}

/* An optional number in [lo, hi] (lo excluded when lo_open). Integers are numbers too. */
static int opt_range(vctx_t *c, const json_t *body, const char *key, double lo, bool lo_open,
                     double hi, const char *range_text)
{
    json_t *v;
    vpath_t p = P0(key);
    if (opt_typed(c, body, key, &p, JSON_REAL, "a number", &v))
        return -1;
    if (v) {
        double d = json_number_value(v);
        if (d > hi || (lo_open ? d <= lo : d < lo))
            bad_value(c, &p, "Invalid %s value, the valid range of %s is %s", key, key, range_text);
    }
    return 0;
}

/* An optional integer in [lo, hi]; returns it through *out (or -1 when absent). */
static int opt_int_range(vctx_t *c, const json_t *body, const char *key, json_int_t lo,
                         json_int_t hi, json_int_t *out)
{
    json_t *v;
    vpath_t p = P0(key);
    *out = -1;
    if (opt_typed(c, body, key, &p, JSON_INTEGER, "an integer", &v))
        return -1;
    if (v) {
        json_int_t n = json_integer_value(v);
        *out = n;
        if (n < lo || n > hi)
            bad_value(c, &p, "Invalid %s value, the valid range of %s is [%lld, %lld]", key, key,
                      (long long)lo, (long long)hi);
    }
    return 0;
}

static bool equals(const json_t *s, const char *lit)
{
    size_t n = strlen(lit);
    return json_string_length(s) == n && memcmp(json_string_value(s), lit, n) == 0;
}

static bool same_string(const json_t *a, const json_t *b)
{
    size_t n = json_string_length(a);
    return json_string_length(b) == n && memcmp(json_string_value(a), json_string_value(b), n) == 0;
}

/* ---- fields shared by chat and FIM ---- */

static int check_model(vctx_t *c, const json_t *body)
{
    json_t *v = NULL;
    vpath_t root = P0(NULL), p = P0("model");
    if (req_string(c, body, &root, "model", &p, &v))
        return -1;
    if (json_string_length(v) == 0)
        bad_value(c, &p, "Model Not Exist");
    return 0;
}

static int check_stop(vctx_t *c, const json_t *body)
{
    vpath_t p = P0("stop");
    json_t *v = opt(body, "stop");
    if (!v || json_is_string(v))
        return 0;
    if (!json_is_array(v))
        return bad_type(c, &p, v, "a string or a sequence of strings");
    size_t i, n = json_array_size(v);
    json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s)) {
            vpath_t pi = P1("stop", i);
            return bad_type(c, &pi, s, "a string");
        }
    }
    if (n > MAX_STOP)
        bad_value(c, &p, "Invalid stop value, at most %d stop sequences are allowed, got %zu",
                  MAX_STOP, n);
    return 0;
}

static int check_stream(vctx_t *c, const json_t *body)
{
    json_t *v, *so;
    vpath_t p = P0("stream"), ps = P0("stream_options");
    if (opt_bool(c, body, "stream", &p, &v))
        return -1;
    if (opt_typed(c, body, "stream_options", &ps, JSON_OBJECT, "a map", &so))
        return -1;
    if (so) {
        vpath_t pu = P2("stream_options", -1, "include_usage");
        if (opt_bool(c, so, "include_usage", &pu, &v))
            return -1;
    }
    return 0;
}

static int check_sampling(vctx_t *c, const json_t *body)
{
    json_t *v;
    vpath_t p = P0("max_tokens");
    if (opt_typed(c, body, "max_tokens", &p, JSON_INTEGER, "an integer", &v))
        return -1;
    if (v && json_integer_value(v) < 1)
        bad_value(c, &p, "Invalid max_tokens value, max_tokens must be at least 1");
    if (opt_range(c, body, "temperature", 0, false, 2, "[0, 2.0]") ||
        opt_range(c, body, "top_p", 0, true, 1, "(0, 1.0]") ||
        opt_range(c, body, "frequency_penalty", -2, false, 2, "[-2.0, 2.0]") ||
        opt_range(c, body, "presence_penalty", -2, false, 2, "[-2.0, 2.0]"))
        return -1;
    if (check_stop(c, body) || check_stream(c, body))
        return -1;
    return 0;
}

/* ---- tools, tool_choice, response_format ---- */

static bool valid_function_name(const json_t *s)
{
    size_t n = json_string_length(s);
    const char *p = json_string_value(s);
    if (n == 0 || n > MAX_FUNC_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* Checks a {"type":"function", ...} discriminator at obj (path p); 422 unless it says function. */
static int check_function_type(vctx_t *c, const json_t *obj, const vpath_t *p, const vpath_t *ptype)
{
    json_t *t = NULL;
    if (req_string(c, obj, p, "type", ptype, &t))
        return -1;
    if (!equals(t, "function"))
        return bad_variant(c, ptype, t, "expected `function`");
    return 0;
}

/* tool_choice's shape; on a named choice, *want gets the function name to find in tools. */
static int check_tool_choice(vctx_t *c, const json_t *body, json_t **want)
{
    vpath_t p = P0("tool_choice");
    json_t *v = opt(body, "tool_choice");
    *want = NULL;
    if (!v)
        return 0;
    if (json_is_string(v)) {
        if (!equals(v, "none") && !equals(v, "auto") && !equals(v, "required"))
            return bad_variant(c, &p, v, "expected one of `none`, `auto`, `required`");
        return 0;
    }
    if (!json_is_object(v))
        return bad_type(c, &p, v, "a string or a map");
    vpath_t pt = P2("tool_choice", -1, "type"), pf = P2("tool_choice", -1, "function");
    vpath_t pn = P2("tool_choice", -1, "function.name");
    if (check_function_type(c, v, &p, &pt))
        return -1;
    json_t *f = json_object_get(v, "function");
    if (!f)
        return missing(c, &p, "function");
    if (!json_is_object(f))
        return bad_type(c, &pf, f, "a map");
    return req_string(c, f, &pf, "name", &pn, want);
}

static int check_tools(vctx_t *c, const json_t *body, const json_t *want)
{
    vpath_t p = P0("tools");
    json_t *tools = opt(body, "tools");
    bool found = false;
    if (tools) {
        if (!json_is_array(tools))
            return bad_type(c, &p, tools, "a sequence");
        size_t i, n = json_array_size(tools);
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            vpath_t pi = P1("tools", i), pt = P2("tools", i, "type");
            vpath_t pf = P2("tools", i, "function"), pn = P2("tools", i, "function.name");
            vpath_t pd = P2("tools", i, "function.description");
            vpath_t pp = P2("tools", i, "function.parameters");
            vpath_t ps = P2("tools", i, "function.strict");
            if (!json_is_object(t))
                return bad_type(c, &pi, t, "a map");
            if (check_function_type(c, t, &pi, &pt))
                return -1;
            json_t *f = json_object_get(t, "function"), *name = NULL, *x;
            if (!f)
                return missing(c, &pi, "function");
            if (!json_is_object(f))
                return bad_type(c, &pf, f, "a map");
            if (req_string(c, f, &pf, "name", &pn, &name) ||
                opt_string(c, f, "description", &pd, &x) ||
                opt_typed(c, f, "parameters", &pp, JSON_OBJECT, "a map", &x) ||
                opt_bool(c, f, "strict", &ps, &x))
                return -1;
            if (!valid_function_name(name))
                bad_value(c, &pn,
                          "Invalid tools[%zu].function.name value, function names must match "
                          "^[a-zA-Z0-9_-]{1,%d}$",
                          i, MAX_FUNC_NAME);
            if (want && same_string(name, want))
                found = true;
        }
        if (n > MAX_TOOLS)
            bad_value(c, &p, "Invalid tools value, at most %d tools are allowed, got %zu",
                      MAX_TOOLS, n);
    }
    if (want && !found) {
        vpath_t pn = P2("tool_choice", -1, "function.name");
        size_t len = json_string_length(want);
        bad_value(c, &pn, "Invalid tool_choice value, function `%.*s%s` is not in tools",
                  (int)(len > 64 ? 64 : len), json_string_value(want), len > 64 ? "..." : "");
    }
    return 0;
}

static int check_response_format(vctx_t *c, const json_t *body)
{
    vpath_t p = P0("response_format"), pt = P2("response_format", -1, "type");
    json_t *v, *t = NULL;
    if (opt_typed(c, body, "response_format", &p, JSON_OBJECT, "a map", &v))
        return -1;
    if (!v)
        return 0;
    /* which types exist is the model's to say (vLLM and SGLang take json_schema; DeepSeek
     * answers it with its own 400): only the shape is checked here */
    return req_string(c, v, &p, "type", &pt, &t);
}

static int check_logprobs(vctx_t *c, const json_t *body)
{
    json_t *lp;
    json_int_t top;
    vpath_t p = P0("logprobs");
    if (opt_bool(c, body, "logprobs", &p, &lp) ||
        opt_int_range(c, body, "top_logprobs", 0, MAX_TOP_LOGPROBS, &top))
        return -1;
    if (top != -1 && !json_is_true(lp)) {
        vpath_t pt = P0("top_logprobs");
        bad_value(c, &pt,
                  "Invalid top_logprobs and logprobs value: top_logprobs requires logprobs "
                  "to be true");
    }
    return 0;
}

/* ---- messages ---- */

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL } role_t;

/* Content: a string, or an array of parts, each a map with a string "type"; a text part has a
 * string "text". Other part types (image_url on deepseek-flash, file, ...) are the model's to
 * take or refuse, so they pass as they are. */
static int check_content(vctx_t *c, const json_t *v, size_t i)
{
    vpath_t p = P2("messages", i, "content");
    if (json_is_string(v))
        return 0;
    if (!json_is_array(v))
        return bad_type(c, &p, v, "a string or a sequence of content parts");
    size_t j;
    json_t *part;
    json_array_foreach(v, j, part)
    {
        vpath_t pj = P3("messages", i, "content", j);
        vpath_t pt = P4("messages", i, "content", j, "type");
        vpath_t px = P4("messages", i, "content", j, "text");
        json_t *t = NULL, *text;
        if (!json_is_object(part))
            return bad_type(c, &pj, part, "a content part map");
        if (req_string(c, part, &pj, "type", &pt, &t))
            return -1;
        if (equals(t, "text") && req_string(c, part, &pj, "text", &px, &text))
            return -1;
    }
    return 0;
}

static int check_tool_calls(vctx_t *c, const json_t *calls, size_t i)
{
    size_t j;
    json_t *tc;
    json_array_foreach(calls, j, tc)
    {
        vpath_t pj = P3("messages", i, "tool_calls", j);
        vpath_t pid = P4("messages", i, "tool_calls", j, "id");
        vpath_t pt = P4("messages", i, "tool_calls", j, "type");
        vpath_t pf = P4("messages", i, "tool_calls", j, "function");
        vpath_t pn = P4("messages", i, "tool_calls", j, "function.name");
        vpath_t pa = P4("messages", i, "tool_calls", j, "function.arguments");
        json_t *x;
        if (!json_is_object(tc))
            return bad_type(c, &pj, tc, "a map");
        if (req_string(c, tc, &pj, "id", &pid, &x) || check_function_type(c, tc, &pj, &pt))
            return -1;
        json_t *f = json_object_get(tc, "function");
        if (!f)
            return missing(c, &pj, "function");
        if (!json_is_object(f))
            return bad_type(c, &pf, f, "a map");
        if (req_string(c, f, &pf, "name", &pn, &x) || req_string(c, f, &pf, "arguments", &pa, &x))
            return -1;
    }
    return 0;
}

/* Pairing of assistant tool_calls with the tool messages that follow them. */
typedef struct {
    const json_t *calls; /* tool_calls of the assistant message being answered, or NULL */
    size_t asst;         /* that assistant message's index */
    size_t n_calls;
    size_t n_answers;  /* tool messages seen since */
    uint64_t answered; /* bit k: calls[k] has an answer (exact mode, n_calls <= 64) */
} pairing_t;

static void pairing_close(vctx_t *c, pairing_t *pr)
{
    if (!pr->calls)
        return;
    bool complete =
        pr->n_calls <= MAX_EXACT_TOOL_CALLS
            ? pr->answered == (pr->n_calls == 64 ? UINT64_MAX : ((uint64_t)1 << pr->n_calls) - 1)
            : pr->n_answers >= pr->n_calls;
    if (!complete) {
        vpath_t p = P2("messages", pr->asst, "tool_calls");
        bad_value(c, &p,
                  "An assistant message with 'tool_calls' must be followed by tool messages "
                  "responding to each 'tool_call_id'. (insufficient tool messages following "
                  "tool_calls message)");
    }
    pr->calls = NULL;
}

static void pairing_answer(vctx_t *c, pairing_t *pr, size_t i, const json_t *id)
{
    vpath_t p = P2("messages", i, "tool_call_id");
    bool matched = false;
    if (pr->calls && pr->n_calls <= MAX_EXACT_TOOL_CALLS) {
        size_t k;
        json_t *tc;
        json_array_foreach(pr->calls, k, tc)
        {
            if (same_string(json_object_get(tc, "id"), id)) {
                pr->answered |= (uint64_t)1 << k;
                matched = true;
            }
        }
    } else {
        matched = pr->calls != NULL;
    }
    pr->n_answers++;
    if (!matched)
        bad_value(c, &p,
                  "Messages with role 'tool' must be a response to a preceding message with "
                  "'tool_calls'");
}

static int check_message(vctx_t *c, const json_t *m, size_t i, size_t n, api_kind_t kind,
                         pairing_t *pr)
{
    vpath_t pm = P1("messages", i), pr_ = P2("messages", i, "role");
    vpath_t pc = P2("messages", i, "content"), pname = P2("messages", i, "name");
    vpath_t pfx = P2("messages", i, "prefix"), prc = P2("messages", i, "reasoning_content");
    vpath_t ptc = P2("messages", i, "tool_calls"), pid = P2("messages", i, "tool_call_id");
    json_t *role_s = NULL, *x, *prefix, *calls = NULL, *reasoning = NULL, *call_id = NULL;
    role_t role;

    if (!json_is_object(m))
        return bad_type(c, &pm, m, "a message map");
    if (req_string(c, m, &pm, "role", &pr_, &role_s))
        return -1;
    if (equals(role_s, "system"))
        role = ROLE_SYSTEM;
    else if (equals(role_s, "user"))
        role = ROLE_USER;
    else if (equals(role_s, "assistant"))
        role = ROLE_ASSISTANT;
    else if (equals(role_s, "tool"))
        role = ROLE_TOOL;
    else
        return bad_variant(c, &pr_, role_s,
                           "expected one of `system`, `user`, `assistant`, `tool`");

    if (opt_string(c, m, "name", &pname, &x) || opt_bool(c, m, "prefix", &pfx, &prefix))
        return -1;
    if (role == ROLE_ASSISTANT) {
        if (opt_typed(c, m, "tool_calls", &ptc, JSON_ARRAY, "a sequence", &calls) ||
            opt_string(c, m, "reasoning_content", &prc, &reasoning))
            return -1;
        if (calls && check_tool_calls(c, calls, i))
            return -1;
        if (calls && json_array_size(calls) == 0)
            calls = NULL;
    }

    json_t *content = json_object_get(m, "content");
    if (!content || json_is_null(content)) {
        if (!(role == ROLE_ASSISTANT && (calls || reasoning))) {
            if (!content)
                return missing(c, &pm, "content");
            return bad_type(c, &pc, content, "a string or a sequence of content parts");
        }
    } else if (check_content(c, content, i)) {
        return -1;
    }

    if (role == ROLE_TOOL) {
        if (req_string(c, m, &pm, "tool_call_id", &pid, &call_id))
            return -1;
        pairing_answer(c, pr, i, call_id);
    } else {
        pairing_close(c, pr);
        if (calls) {
            pr->calls = calls;
            pr->asst = i;
            pr->n_calls = json_array_size(calls);
            pr->n_answers = 0;
            pr->answered = 0;
        }
    }

    if (json_is_true(prefix)) {
        if (kind != API_KIND_CHAT_PREFIX)
            bad_value(c, &pfx,
                      "prefix is only available when using beta api (POST "
                      "/beta/chat/completions)");
        else if (i + 1 != n || role != ROLE_ASSISTANT)
            bad_value(c, &pfx,
                      "prefix is only allowed on the last message, which must have role "
                      "assistant");
    }
    return 0;
}

static int check_messages(vctx_t *c, const json_t *body, api_kind_t kind)
{
    vpath_t root = P0(NULL), p = P0("messages");
    json_t *msgs = json_object_get(body, "messages");
    if (!msgs)
        return missing(c, &root, "messages");
    if (!json_is_array(msgs))
        return bad_type(c, &p, msgs, "a sequence");
    size_t i, n = json_array_size(msgs);
    if (n == 0)
        bad_value(c, &p, "Invalid messages value, messages must be a non-empty array");
    pairing_t pr = {0};
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (check_message(c, m, i, n, kind, &pr))
            return -1;
    }
    pairing_close(c, &pr);
    return 0;
}

/* ---- endpoints ---- */

static int validate_chat(vctx_t *c, const json_t *body, api_kind_t kind)
{
    json_t *want;
    if (check_model(c, body) || check_messages(c, body, kind) || check_sampling(c, body) ||
        check_logprobs(c, body) || check_tool_choice(c, body, &want) ||
        check_tools(c, body, want) || check_response_format(c, body))
        return -1;
    return 0;
}

static int validate_fim(vctx_t *c, const json_t *body)
{
    vpath_t root = P0(NULL), pp = P0("prompt"), ps = P0("suffix"), pe = P0("echo");
    json_t *x;
    json_int_t lp;
    if (check_model(c, body) || req_string(c, body, &root, "prompt", &pp, &x) ||
        opt_string(c, body, "suffix", &ps, &x) || opt_bool(c, body, "echo", &pe, &x) ||
        opt_int_range(c, body, "logprobs", 0, MAX_TOP_LOGPROBS, &lp) || check_sampling(c, body))
        return -1;
    return 0;
}

int api_validate(const json_t *body, api_kind_t kind, api_error_t *err)
{
    vctx_t c = {.err = err, .value_failed = false};
    if (!json_is_object(body)) {
        vpath_t root = P0(NULL);
        return bad_type(&c, &root, body, "a request object");
    }
    int rc = kind == API_KIND_FIM ? validate_fim(&c, body) : validate_chat(&c, body, kind);
    return rc || c.value_failed ? -1 : 0;
}

int api_parse_json(const char *data, size_t len, json_t **out, api_error_t *err)
{
    json_error_t je;
    *out = NULL;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, &je);
    if (!v)
        return api_error_invalid(err, ST_VALUE, NULL,
                                 "Failed to parse the request body as JSON: %s at line %d "
                                 "column %d",
                                 je.text, je.line, je.column);
    if (!json_is_object(v)) {
        vctx_t c = {.err = err, .value_failed = false};
        vpath_t root = P0(NULL);
        bad_type(&c, &root, v, "a request object");
        json_decref(v);
        return -1;
    }
    *out = v;
    return 0;
}
