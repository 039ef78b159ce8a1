/* validate.c - DeepSeek request-body rules for /chat/completions, /beta/chat/completions and
 * /beta/completions, answered with DeepSeek's statuses and wording. The body is read once
 * with json/jr (no tree is built, nothing is allocated once the reader's arrays have grown)
 * and checked from its nodes; positions and messages are worked out only for an error.
 *
 * Statuses and messages. DeepSeek's server answers body errors the way Rust's axum/serde do, and
 * seekd mirrors that split:
 *  - 400 "Failed to deserialize the JSON body into the target type: <path>: <serde detail> at
 *    line L column C" for wrong JSON types, missing required fields and unknown enum values.
 *    The prefix and the serde details ("messages[1]: missing field `content`", "temperature:
 *    invalid type: string \"1.3\", expected f32", "messages[1].role: unknown variant `system`,
 *    expected ...") are verified from DeepSeek responses quoted in public issue threads.
 *    DeepSeek answered them with 422 until 2025 and answers 400 since (issue 11); ST_SHAPE
 *    follows. Which content part types and response_format types exist is left to the upstream
 *    (the model decides), only their shape is checked. The "expected ..." part uses plain
 *    words ("a number", "an integer") rather than Rust type names.
 *  - The position is serde_json's: L is the 1-based line, C counts the bytes from the start of
 *    that line up to where the deserializer stood when it failed, which is the 1-based column
 *    of the last byte it had consumed. serde consumes a scalar before judging it, so for a
 *    wrong-typed string, number, boolean or null, and for an unknown variant, C is the column
 *    of the value's last byte (a string's closing quote). It judges a map or a sequence by its
 *    opening bracket without consuming it, so there C is the column just before the bracket
 *    (0 when the bracket starts a line). A missing field is found when its object closes: C is
 *    the column of that object's closing brace. Lines end at '\n' only.
 *  - 400 "Failed to parse the request body as JSON: <reason> at line L column C" for
 *    malformed JSON: axum's wording for syntax errors, inferred, not seen in a DeepSeek
 *    response; the reasons are json/jr's. C is the 1-based column of the byte the reader
 *    stopped at (of the last byte when the input ended early), as serde_json reports syntax
 *    errors.
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
 *    the same "Invalid X value, the valid range of X is [a, b]" pattern (not verified). These
 *    carry no position: they come after deserializing, from the values.
 *  - DeepSeek sends param null; seekd names the field (OpenAI does the same), which SDKs
 *    surface and clients ignore otherwise.
 * Thinking mode (DeepSeek's guide "thinking_mode"), chat endpoints only: `thinking` is a map
 * whose `type` is "enabled" or "disabled"; `reasoning_effort` one of minimal, low, medium,
 * high, xhigh, max, ultra (DeepSeek itself maps minimal/low to low, medium/high/xhigh to high,
 * max/ultra to max); `user_id` a string. They are checked, then forwarded as the client sent
 * them, like every other field.
 * Choices where DeepSeek's behaviour is not documented:
 *  - JSON null for an optional field means "absent" (DeepSeek's own examples send
 *    "stop": null, "tools": null, "stream_options": null).
 *  - stream_options without stream: true is accepted and ignored (several SDKs send it).
 *  - On /beta/chat/completions prefix is optional (LiteLLM and proxies send every chat to
 *    /beta); prefix: true must sit on the last message and that message must be role assistant.
 *    On /chat/completions prefix: true is refused with DeepSeek's message; prefix: false is
 *    accepted anywhere.
 *  - max_tokens below 1 (including negative) is a 400 range error.
 *  - Tool-call pairing is checked exactly for assistant messages with at most 64 tool calls;
 *    above that only the number of answering tool messages is checked (keeps the work linear
 *    without allocating).
 *  - A top-level JSON value that is not an object is a shape error, like any other wrong type.
 *  - A repeated key: the last one counts (as with most JSON parsers).
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
    const jr_doc_t *d;
    api_error_t *err;
    bool value_failed; /* a 400 from the values is recorded; keep scanning for a shape error */
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

/* Where serde would report v (see the head of this file): after its last byte, or before its
 * opening bracket when before_containers and v is a map or a sequence. */
static void position(const vctx_t *c, jr_val_t v, bool before_containers, size_t *line, size_t *col)
{
    size_t start = 0, end = 0;
    if (jr_span(c->d, v, &start, &end))
        start = end = c->d->src_len; /* cannot happen for a value of the document */
    jr_type_t t = jr_type(c->d, v);
    bool before = before_containers && (t == JR_OBJ || t == JR_ARR);
    jr_line_col(c->d->src, before ? start : end, line, col);
}

static void describe(const jr_doc_t *d, jr_val_t v, char *buf, size_t n)
{
    switch (jr_type(d, v)) {
    case JR_STR: {
        slice_t s = jr_str(d, v);
        snprintf(buf, n, "string \"%.*s%s\"", (int)(s.len > 40 ? 40 : s.len), s.ptr,
                 s.len > 40 ? "..." : "");
        break;
    }
    case JR_INT:
        snprintf(buf, n, "integer `%lld`", (long long)jr_int(d, v));
        break;
    case JR_REAL:
        snprintf(buf, n, "floating point `%g`", jr_num(d, v));
        break;
    case JR_TRUE:
        snprintf(buf, n, "boolean `true`");
        break;
    case JR_FALSE:
        snprintf(buf, n, "boolean `false`");
        break;
    case JR_NULL:
    case JR_NONE:
        snprintf(buf, n, "null");
        break;
    case JR_ARR:
        snprintf(buf, n, "sequence");
        break;
    case JR_OBJ:
        snprintf(buf, n, "map");
        break;
    }
}

/* Shape error: v at p has the wrong JSON type. */
static int bad_type(vctx_t *c, const vpath_t *p, jr_val_t v, const char *expected)
{
    char where[160], what[80];
    size_t line, col;
    path_render(p, where, sizeof where);
    describe(c->d, v, what, sizeof what);
    position(c, v, true, &line, &col);
    const char *param = param_of(c, p);
    return api_error_invalid(c->err, ST_SHAPE, param,
                             DESER "%s%sinvalid type: %s, expected %s at line %zu column %zu",
                             where, where[0] ? ": " : "", what, expected, line, col);
}

/* Shape error: required field `field` missing from the object obj at p. */
static int missing(vctx_t *c, const vpath_t *p, jr_val_t obj, const char *field)
{
    char where[160];
    size_t line, col;
    path_render(p, where, sizeof where);
    position(c, obj, false, &line, &col);
    const char *param = field;
    if (where[0]) {
        snprintf(c->err->param_buf, sizeof c->err->param_buf, "%s.%s", where, field);
        param = c->err->param_buf;
    }
    return api_error_invalid(c->err, ST_SHAPE, param,
                             DESER "%s%smissing field `%s` at line %zu column %zu", where,
                             where[0] ? ": " : "", field, line, col);
}

/* Shape error: string s at p is not one of the variants listed in `expected`. */
static int bad_variant(vctx_t *c, const vpath_t *p, jr_val_t s, const char *expected)
{
    char where[160];
    size_t line, col;
    path_render(p, where, sizeof where);
    position(c, s, false, &line, &col);
    slice_t v = jr_str(c->d, s);
    const char *param = param_of(c, p);
    return api_error_invalid(
        c->err, ST_SHAPE, param, DESER "%s: unknown variant `%.*s%s`, %s at line %zu column %zu",
        where, (int)(v.len > 40 ? 40 : v.len), v.ptr, v.len > 40 ? "..." : "", expected, line, col);
}

/* 400 from a value: records the first one only, and lets the caller go on looking for a
 * shape error, which wins (upstream deserializes before it validates). */
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

/* ---- reading members ---- */

/* The members of obj named in names[0..n): out[i] gets the value of names[i] (the last one
 * when a key repeats), or -1. One pass over the object, whatever n is. */
typedef struct {
    const char *s;
    size_t len;
} name_t;
#define NAME(lit)                                                                                  \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }

static void members(const jr_doc_t *d, jr_val_t obj, const name_t *names, int n, jr_val_t *out)
{
    for (int i = 0; i < n; i++)
        out[i] = -1;
    for (jr_val_t k = jr_first_key(d, obj); k >= 0; k = jr_next_key(d, obj, k)) {
        slice_t key = jr_str(d, k);
        for (int i = 0; i < n; i++) {
            if (key.len == names[i].len && memcmp(key.ptr, names[i].s, key.len) == 0) {
                out[i] = k + 1;
                break;
            }
        }
    }
}

/* A member that is absent or null reads as absent (-1). */
static jr_val_t present(const jr_doc_t *d, jr_val_t v)
{
    return jr_is(d, v, JR_NULL) ? -1 : v;
}

static bool equals(const jr_doc_t *d, jr_val_t s, const char *lit)
{
    return slice_eq_cstr(jr_str(d, s), lit);
}

static bool same_string(const jr_doc_t *d, jr_val_t a, jr_val_t b)
{
    return slice_eq(jr_str(d, a), jr_str(d, b));
}

/* A required string: v is the member's value (-1 when absent) of obj at objpath. */
static int req_string(vctx_t *c, jr_val_t obj, const vpath_t *objpath, const char *key, jr_val_t v,
                      const vpath_t *p)
{
    if (v < 0)
        return missing(c, objpath, obj, key);
    if (!jr_is(c->d, v, JR_STR))
        return bad_type(c, p, v, "a string");
    return 0;
}

/* An optional member of type t (JR_TRUE: a boolean; JR_REAL: any number). *out is the value,
 * or -1 when absent or null. */
static int opt_typed(vctx_t *c, jr_val_t v, const vpath_t *p, jr_type_t t, const char *expected,
                     jr_val_t *out)
{
    v = present(c->d, v);
    *out = v;
    if (v < 0)
        return 0;
    jr_type_t vt = jr_type(c->d, v);
    bool ok = t == JR_TRUE   ? vt == JR_TRUE || vt == JR_FALSE
              : t == JR_REAL ? vt == JR_INT || vt == JR_REAL
                             : vt == t;
    return ok ? 0 : bad_type(c, p, v, expected);
}

static int opt_bool(vctx_t *c, jr_val_t v, const vpath_t *p, jr_val_t *out)
{
    return opt_typed(c, v, p, JR_TRUE, "a boolean", out);
}

static int opt_string(vctx_t *c, jr_val_t v, const vpath_t *p, jr_val_t *out)
{
    return opt_typed(c, v, p, JR_STR, "a string", out);
}

/* An optional number in [lo, hi] (lo excluded when lo_open). Integers are numbers too. */
static int opt_range(vctx_t *c, jr_val_t v, const char *key, double lo, bool lo_open, double hi,
                     const char *range_text)
{
    vpath_t p = P0(key);
    if (opt_typed(c, v, &p, JR_REAL, "a number", &v))
        return -1;
    if (v >= 0) {
        double x = jr_num(c->d, v);
        if (x > hi || (lo_open ? x <= lo : x < lo))
            bad_value(c, &p, "Invalid %s value, the valid range of %s is %s", key, key, range_text);
    }
    return 0;
}

/* An optional integer in [lo, hi]; returns it through *out (or -1 when absent). */
static int opt_int_range(vctx_t *c, jr_val_t v, const char *key, int64_t lo, int64_t hi,
                         int64_t *out)
{
    vpath_t p = P0(key);
    *out = -1;
    if (opt_typed(c, v, &p, JR_INT, "an integer", &v))
        return -1;
    if (v >= 0) {
        int64_t n = jr_int(c->d, v);
        *out = n;
        if (n < lo || n > hi)
            bad_value(c, &p, "Invalid %s value, the valid range of %s is [%lld, %lld]", key, key,
                      (long long)lo, (long long)hi);
    }
    return 0;
}

/* ---- the top level ---- */

/* The request's top-level fields that any endpoint reads, in one pass over the body. */
enum {
    F_MODEL,
    F_MESSAGES,
    F_MAX_TOKENS,
    F_TEMPERATURE,
    F_TOP_P,
    F_FREQUENCY_PENALTY,
    F_PRESENCE_PENALTY,
    F_STOP,
    F_STREAM,
    F_STREAM_OPTIONS,
    F_LOGPROBS,
    F_TOP_LOGPROBS,
    F_TOOLS,
    F_TOOL_CHOICE,
    F_RESPONSE_FORMAT,
    F_THINKING,
    F_REASONING_EFFORT,
    F_USER_ID,
    F_PROMPT,
    F_SUFFIX,
    F_ECHO,
    F_COUNT
};

static const name_t top_names[F_COUNT] = {
    [F_MODEL] = NAME("model"),
    [F_MESSAGES] = NAME("messages"),
    [F_MAX_TOKENS] = NAME("max_tokens"),
    [F_TEMPERATURE] = NAME("temperature"),
    [F_TOP_P] = NAME("top_p"),
    [F_FREQUENCY_PENALTY] = NAME("frequency_penalty"),
    [F_PRESENCE_PENALTY] = NAME("presence_penalty"),
    [F_STOP] = NAME("stop"),
    [F_STREAM] = NAME("stream"),
    [F_STREAM_OPTIONS] = NAME("stream_options"),
    [F_LOGPROBS] = NAME("logprobs"),
    [F_TOP_LOGPROBS] = NAME("top_logprobs"),
    [F_TOOLS] = NAME("tools"),
    [F_TOOL_CHOICE] = NAME("tool_choice"),
    [F_RESPONSE_FORMAT] = NAME("response_format"),
    [F_THINKING] = NAME("thinking"),
    [F_REASONING_EFFORT] = NAME("reasoning_effort"),
    [F_USER_ID] = NAME("user_id"),
    [F_PROMPT] = NAME("prompt"),
    [F_SUFFIX] = NAME("suffix"),
    [F_ECHO] = NAME("echo"),
};

typedef struct {
    jr_val_t root;
    jr_val_t f[F_COUNT];
} top_t;

/* ---- fields shared by chat and FIM ---- */

static int check_model(vctx_t *c, const top_t *t)
{
    vpath_t root = P0(NULL), p = P0("model");
    jr_val_t v = t->f[F_MODEL];
    if (req_string(c, t->root, &root, "model", v, &p))
        return -1;
    if (jr_str(c->d, v).len == 0)
        bad_value(c, &p, "Model Not Exist");
    return 0;
}

static int check_stop(vctx_t *c, const top_t *t)
{
    const jr_doc_t *d = c->d;
    vpath_t p = P0("stop");
    jr_val_t v = present(d, t->f[F_STOP]);
    if (v < 0 || jr_is(d, v, JR_STR))
        return 0;
    if (!jr_is(d, v, JR_ARR))
        return bad_type(c, &p, v, "a string or a sequence of strings");
    size_t i = 0, n = jr_len(d, v);
    for (jr_val_t s = jr_first(d, v); s >= 0; s = jr_next(d, v, s), i++) {
        if (!jr_is(d, s, JR_STR)) {
            vpath_t pi = P1("stop", i);
            return bad_type(c, &pi, s, "a string");
        }
    }
    if (n > MAX_STOP)
        bad_value(c, &p, "Invalid stop value, at most %d stop sequences are allowed, got %zu",
                  MAX_STOP, n);
    return 0;
}

static int check_stream(vctx_t *c, const top_t *t)
{
    jr_val_t v, so;
    vpath_t p = P0("stream"), ps = P0("stream_options");
    if (opt_bool(c, t->f[F_STREAM], &p, &v) ||
        opt_typed(c, t->f[F_STREAM_OPTIONS], &ps, JR_OBJ, "a map", &so))
        return -1;
    if (so >= 0) {
        vpath_t pu = P2("stream_options", -1, "include_usage");
        if (opt_bool(c, jr_get(c->d, so, "include_usage"), &pu, &v))
            return -1;
    }
    return 0;
}

static int check_sampling(vctx_t *c, const top_t *t)
{
    jr_val_t v;
    vpath_t p = P0("max_tokens");
    if (opt_typed(c, t->f[F_MAX_TOKENS], &p, JR_INT, "an integer", &v))
        return -1;
    if (v >= 0 && jr_int(c->d, v) < 1)
        bad_value(c, &p, "Invalid max_tokens value, max_tokens must be at least 1");
    if (opt_range(c, t->f[F_TEMPERATURE], "temperature", 0, false, 2, "[0, 2.0]") ||
        opt_range(c, t->f[F_TOP_P], "top_p", 0, true, 1, "(0, 1.0]") ||
        opt_range(c, t->f[F_FREQUENCY_PENALTY], "frequency_penalty", -2, false, 2, "[-2.0, 2.0]") ||
        opt_range(c, t->f[F_PRESENCE_PENALTY], "presence_penalty", -2, false, 2, "[-2.0, 2.0]"))
        return -1;
    if (check_stop(c, t) || check_stream(c, t))
        return -1;
    return 0;
}

/* ---- thinking mode ---- */

static int check_thinking(vctx_t *c, const top_t *t)
{
    const jr_doc_t *d = c->d;
    vpath_t p = P0("thinking"), pt = P2("thinking", -1, "type");
    vpath_t pe = P0("reasoning_effort"), pu = P0("user_id");
    jr_val_t v, e, u;
    if (opt_typed(c, t->f[F_THINKING], &p, JR_OBJ, "a map", &v))
        return -1;
    if (v >= 0) {
        jr_val_t ty = jr_get(d, v, "type");
        if (req_string(c, v, &p, "type", ty, &pt))
            return -1;
        if (!equals(d, ty, "enabled") && !equals(d, ty, "disabled"))
            return bad_variant(c, &pt, ty, "expected `enabled` or `disabled`");
    }
    if (opt_string(c, t->f[F_REASONING_EFFORT], &pe, &e))
        return -1;
    if (e >= 0) {
        static const char *const efforts[] = {"minimal", "low", "medium", "high",
                                              "xhigh",   "max", "ultra"};
        bool known = false;
        for (size_t i = 0; i < sizeof efforts / sizeof efforts[0]; i++)
            known |= equals(d, e, efforts[i]);
        if (!known)
            return bad_variant(c, &pe, e,
                               "expected one of `minimal`, `low`, `medium`, `high`, `xhigh`, "
                               "`max`, `ultra`");
    }
    return opt_string(c, t->f[F_USER_ID], &pu, &u);
}

/* ---- tools, tool_choice, response_format ---- */

static bool valid_function_name(slice_t s)
{
    if (s.len == 0 || s.len > MAX_FUNC_NAME)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* Checks a {"type":"function", ...} discriminator at obj (path p); a shape error unless it
 * says function. */
static int check_function_type(vctx_t *c, jr_val_t obj, const vpath_t *p, const vpath_t *ptype)
{
    jr_val_t t = jr_get(c->d, obj, "type");
    if (req_string(c, obj, p, "type", t, ptype))
        return -1;
    if (!equals(c->d, t, "function"))
        return bad_variant(c, ptype, t, "expected `function`");
    return 0;
}

/* tool_choice's shape; on a named choice, *want gets the function name to find in tools. */
static int check_tool_choice(vctx_t *c, const top_t *t, jr_val_t *want)
{
    const jr_doc_t *d = c->d;
    vpath_t p = P0("tool_choice");
    jr_val_t v = present(d, t->f[F_TOOL_CHOICE]);
    *want = -1;
    if (v < 0)
        return 0;
    if (jr_is(d, v, JR_STR)) {
        if (!equals(d, v, "none") && !equals(d, v, "auto") && !equals(d, v, "required"))
            return bad_variant(c, &p, v, "expected one of `none`, `auto`, `required`");
        return 0;
    }
    if (!jr_is(d, v, JR_OBJ))
        return bad_type(c, &p, v, "a string or a map");
    vpath_t pt = P2("tool_choice", -1, "type"), pf = P2("tool_choice", -1, "function");
    vpath_t pn = P2("tool_choice", -1, "function.name");
    if (check_function_type(c, v, &p, &pt))
        return -1;
    jr_val_t f = jr_get(d, v, "function");
    if (f < 0)
        return missing(c, &p, v, "function");
    if (!jr_is(d, f, JR_OBJ))
        return bad_type(c, &pf, f, "a map");
    jr_val_t name = jr_get(d, f, "name");
    if (req_string(c, f, &pf, "name", name, &pn))
        return -1;
    *want = name;
    return 0;
}

static int check_tools(vctx_t *c, const top_t *top, jr_val_t want)
{
    const jr_doc_t *d = c->d;
    vpath_t p = P0("tools");
    jr_val_t tools = present(d, top->f[F_TOOLS]);
    bool found = false;
    if (tools >= 0) {
        if (!jr_is(d, tools, JR_ARR))
            return bad_type(c, &p, tools, "a sequence");
        size_t i = 0, n = jr_len(d, tools);
        for (jr_val_t t = jr_first(d, tools); t >= 0; t = jr_next(d, tools, t), i++) {
            vpath_t pi = P1("tools", i), pt = P2("tools", i, "type");
            vpath_t pf = P2("tools", i, "function"), pn = P2("tools", i, "function.name");
            vpath_t pd = P2("tools", i, "function.description");
            vpath_t pp = P2("tools", i, "function.parameters");
            vpath_t ps = P2("tools", i, "function.strict");
            if (!jr_is(d, t, JR_OBJ))
                return bad_type(c, &pi, t, "a map");
            if (check_function_type(c, t, &pi, &pt))
                return -1;
            jr_val_t f = jr_get(d, t, "function"), x;
            if (f < 0)
                return missing(c, &pi, t, "function");
            if (!jr_is(d, f, JR_OBJ))
                return bad_type(c, &pf, f, "a map");
            static const name_t fnames[] = {NAME("name"), NAME("description"), NAME("parameters"),
                                            NAME("strict")};
            jr_val_t fm[4];
            members(d, f, fnames, 4, fm);
            if (req_string(c, f, &pf, "name", fm[0], &pn) || opt_string(c, fm[1], &pd, &x) ||
                opt_typed(c, fm[2], &pp, JR_OBJ, "a map", &x) || opt_bool(c, fm[3], &ps, &x))
                return -1;
            if (!valid_function_name(jr_str(d, fm[0])))
                bad_value(c, &pn,
                          "Invalid tools[%zu].function.name value, function names must match "
                          "^[a-zA-Z0-9_-]{1,%d}$",
                          i, MAX_FUNC_NAME);
            if (want >= 0 && same_string(d, fm[0], want))
                found = true;
        }
        if (n > MAX_TOOLS)
            bad_value(c, &p, "Invalid tools value, at most %d tools are allowed, got %zu",
                      MAX_TOOLS, n);
    }
    if (want >= 0 && !found) {
        vpath_t pn = P2("tool_choice", -1, "function.name");
        slice_t w = jr_str(d, want);
        bad_value(c, &pn, "Invalid tool_choice value, function `%.*s%s` is not in tools",
                  (int)(w.len > 64 ? 64 : w.len), w.ptr, w.len > 64 ? "..." : "");
    }
    return 0;
}

static int check_response_format(vctx_t *c, const top_t *t)
{
    vpath_t p = P0("response_format"), pt = P2("response_format", -1, "type");
    jr_val_t v;
    if (opt_typed(c, t->f[F_RESPONSE_FORMAT], &p, JR_OBJ, "a map", &v))
        return -1;
    if (v < 0)
        return 0;
    /* which types exist is the model's to say (vLLM and SGLang take json_schema; DeepSeek
     * answers it with its own 400): only the shape is checked here */
    return req_string(c, v, &p, "type", jr_get(c->d, v, "type"), &pt);
}

static int check_logprobs(vctx_t *c, const top_t *t)
{
    jr_val_t lp;
    int64_t top;
    vpath_t p = P0("logprobs");
    if (opt_bool(c, t->f[F_LOGPROBS], &p, &lp) ||
        opt_int_range(c, t->f[F_TOP_LOGPROBS], "top_logprobs", 0, MAX_TOP_LOGPROBS, &top))
        return -1;
    if (top != -1 && !jr_is(c->d, lp, JR_TRUE)) {
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
static int check_content(vctx_t *c, jr_val_t v, size_t i)
{
    const jr_doc_t *d = c->d;
    vpath_t p = P2("messages", i, "content");
    if (jr_is(d, v, JR_STR))
        return 0;
    if (!jr_is(d, v, JR_ARR))
        return bad_type(c, &p, v, "a string or a sequence of content parts");
    size_t j = 0;
    for (jr_val_t part = jr_first(d, v); part >= 0; part = jr_next(d, v, part), j++) {
        vpath_t pj = P3("messages", i, "content", j);
        vpath_t pt = P4("messages", i, "content", j, "type");
        vpath_t px = P4("messages", i, "content", j, "text");
        if (!jr_is(d, part, JR_OBJ))
            return bad_type(c, &pj, part, "a content part map");
        static const name_t pnames[] = {NAME("type"), NAME("text")};
        jr_val_t pm[2];
        members(d, part, pnames, 2, pm);
        if (req_string(c, part, &pj, "type", pm[0], &pt))
            return -1;
        if (equals(d, pm[0], "text") && req_string(c, part, &pj, "text", pm[1], &px))
            return -1;
    }
    return 0;
}

static int check_tool_calls(vctx_t *c, jr_val_t calls, size_t i)
{
    const jr_doc_t *d = c->d;
    size_t j = 0;
    for (jr_val_t tc = jr_first(d, calls); tc >= 0; tc = jr_next(d, calls, tc), j++) {
        vpath_t pj = P3("messages", i, "tool_calls", j);
        vpath_t pid = P4("messages", i, "tool_calls", j, "id");
        vpath_t pt = P4("messages", i, "tool_calls", j, "type");
        vpath_t pf = P4("messages", i, "tool_calls", j, "function");
        vpath_t pn = P4("messages", i, "tool_calls", j, "function.name");
        vpath_t pa = P4("messages", i, "tool_calls", j, "function.arguments");
        if (!jr_is(d, tc, JR_OBJ))
            return bad_type(c, &pj, tc, "a map");
        if (req_string(c, tc, &pj, "id", jr_get(d, tc, "id"), &pid) ||
            check_function_type(c, tc, &pj, &pt))
            return -1;
        jr_val_t f = jr_get(d, tc, "function");
        if (f < 0)
            return missing(c, &pj, tc, "function");
        if (!jr_is(d, f, JR_OBJ))
            return bad_type(c, &pf, f, "a map");
        if (req_string(c, f, &pf, "name", jr_get(d, f, "name"), &pn) ||
            req_string(c, f, &pf, "arguments", jr_get(d, f, "arguments"), &pa))
            return -1;
    }
    return 0;
}

/* Pairing of assistant tool_calls with the tool messages that follow them. */
typedef struct {
    jr_val_t calls; /* tool_calls of the assistant message being answered, or -1 */
    size_t asst;    /* that assistant message's index */
    size_t n_calls;
    size_t n_answers;  /* tool messages seen since */
    uint64_t answered; /* bit k: calls[k] has an answer (exact mode, n_calls <= 64) */
} pairing_t;

static void pairing_close(vctx_t *c, pairing_t *pr)
{
    if (pr->calls < 0)
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
    pr->calls = -1;
}

static void pairing_answer(vctx_t *c, pairing_t *pr, size_t i, jr_val_t id)
{
    const jr_doc_t *d = c->d;
    vpath_t p = P2("messages", i, "tool_call_id");
    bool matched = false;
    if (pr->calls >= 0 && pr->n_calls <= MAX_EXACT_TOOL_CALLS) {
        size_t k = 0;
        for (jr_val_t tc = jr_first(d, pr->calls); tc >= 0; tc = jr_next(d, pr->calls, tc), k++) {
            if (same_string(d, jr_get(d, tc, "id"), id)) {
                pr->answered |= (uint64_t)1 << k;
                matched = true;
            }
        }
    } else {
        matched = pr->calls >= 0;
    }
    pr->n_answers++;
    if (!matched)
        bad_value(c, &p,
                  "Messages with role 'tool' must be a response to a preceding message with "
                  "'tool_calls'");
}

enum { M_ROLE, M_CONTENT, M_NAME, M_PREFIX, M_TOOL_CALLS, M_REASONING, M_TOOL_CALL_ID, M_COUNT };
static const name_t msg_names[M_COUNT] = {
    [M_ROLE] = NAME("role"),
    [M_CONTENT] = NAME("content"),
    [M_NAME] = NAME("name"),
    [M_PREFIX] = NAME("prefix"),
    [M_TOOL_CALLS] = NAME("tool_calls"),
    [M_REASONING] = NAME("reasoning_content"),
    [M_TOOL_CALL_ID] = NAME("tool_call_id"),
};

static int check_message(vctx_t *c, jr_val_t m, size_t i, size_t n, api_kind_t kind, pairing_t *pr)
{
    const jr_doc_t *d = c->d;
    vpath_t pm = P1("messages", i), pr_ = P2("messages", i, "role");
    vpath_t pc = P2("messages", i, "content"), pname = P2("messages", i, "name");
    vpath_t pfx = P2("messages", i, "prefix"), prc = P2("messages", i, "reasoning_content");
    vpath_t ptc = P2("messages", i, "tool_calls"), pid = P2("messages", i, "tool_call_id");
    jr_val_t f[M_COUNT], x, prefix, calls = -1, reasoning = -1;
    role_t role;

    if (!jr_is(d, m, JR_OBJ))
        return bad_type(c, &pm, m, "a message map");
    members(d, m, msg_names, M_COUNT, f);
    jr_val_t role_s = f[M_ROLE];
    if (req_string(c, m, &pm, "role", role_s, &pr_))
        return -1;
    if (equals(d, role_s, "system"))
        role = ROLE_SYSTEM;
    else if (equals(d, role_s, "user"))
        role = ROLE_USER;
    else if (equals(d, role_s, "assistant"))
        role = ROLE_ASSISTANT;
    else if (equals(d, role_s, "tool"))
        role = ROLE_TOOL;
    else
        return bad_variant(c, &pr_, role_s,
                           "expected one of `system`, `user`, `assistant`, `tool`");

    if (opt_string(c, f[M_NAME], &pname, &x) || opt_bool(c, f[M_PREFIX], &pfx, &prefix))
        return -1;
    if (role == ROLE_ASSISTANT) {
        if (opt_typed(c, f[M_TOOL_CALLS], &ptc, JR_ARR, "a sequence", &calls) ||
            opt_string(c, f[M_REASONING], &prc, &reasoning))
            return -1;
        if (calls >= 0 && check_tool_calls(c, calls, i))
            return -1;
        if (calls >= 0 && jr_len(d, calls) == 0)
            calls = -1;
    }

    jr_val_t content = f[M_CONTENT];
    if (content < 0 || jr_is(d, content, JR_NULL)) {
        if (!(role == ROLE_ASSISTANT && (calls >= 0 || reasoning >= 0))) {
            if (content < 0)
                return missing(c, &pm, m, "content");
            return bad_type(c, &pc, content, "a string or a sequence of content parts");
        }
    } else if (check_content(c, content, i)) {
        return -1;
    }

    if (role == ROLE_TOOL) {
        jr_val_t call_id = f[M_TOOL_CALL_ID];
        if (req_string(c, m, &pm, "tool_call_id", call_id, &pid))
            return -1;
        pairing_answer(c, pr, i, call_id);
    } else {
        pairing_close(c, pr);
        if (calls >= 0) {
            pr->calls = calls;
            pr->asst = i;
            pr->n_calls = jr_len(d, calls);
            pr->n_answers = 0;
            pr->answered = 0;
        }
    }

    if (jr_is(d, prefix, JR_TRUE)) {
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

static int check_messages(vctx_t *c, const top_t *t, api_kind_t kind)
{
    const jr_doc_t *d = c->d;
    vpath_t root = P0(NULL), p = P0("messages");
    jr_val_t msgs = t->f[F_MESSAGES];
    if (msgs < 0)
        return missing(c, &root, t->root, "messages");
    if (!jr_is(d, msgs, JR_ARR))
        return bad_type(c, &p, msgs, "a sequence");
    size_t i = 0, n = jr_len(d, msgs);
    if (n == 0)
        bad_value(c, &p, "Invalid messages value, messages must be a non-empty array");
    pairing_t pr = {.calls = -1};
    for (jr_val_t m = jr_first(d, msgs); m >= 0; m = jr_next(d, msgs, m), i++) {
        if (check_message(c, m, i, n, kind, &pr))
            return -1;
    }
    pairing_close(c, &pr);
    return 0;
}

/* ---- endpoints ---- */

static int validate_chat(vctx_t *c, const top_t *t, api_kind_t kind)
{
    jr_val_t want;
    if (check_model(c, t) || check_messages(c, t, kind) || check_sampling(c, t) ||
        check_logprobs(c, t) || check_tool_choice(c, t, &want) || check_tools(c, t, want) ||
        check_response_format(c, t) || check_thinking(c, t))
        return -1;
    return 0;
}

static int validate_fim(vctx_t *c, const top_t *t)
{
    vpath_t root = P0(NULL), pp = P0("prompt"), ps = P0("suffix"), pe = P0("echo");
    jr_val_t x;
    int64_t lp;
    if (check_model(c, t) || req_string(c, t->root, &root, "prompt", t->f[F_PROMPT], &pp) ||
        opt_string(c, t->f[F_SUFFIX], &ps, &x) || opt_bool(c, t->f[F_ECHO], &pe, &x) ||
        opt_int_range(c, t->f[F_LOGPROBS], "logprobs", 0, MAX_TOP_LOGPROBS, &lp) ||
        check_sampling(c, t))
        return -1;
    return 0;
}

int api_check_body(const char *data, size_t len, api_kind_t kind, jr_doc_t *scratch,
                   api_body_facts_t *facts, api_error_t *err)
{
    const char *why;
    size_t at;
    memset(facts, 0, sizeof *facts);
    jr_val_t root = jr_parse(scratch, data, len, &why, &at);
    if (root < 0) {
        size_t line, col;
        /* serde_json's syntax errors name the byte it stopped at (1-based): one past the
         * bytes consumed, but never past the end */
        jr_line_col(data, at < len ? at + 1 : len, &line, &col);
        return api_error_invalid(err, ST_VALUE, NULL,
                                 "Failed to parse the request body as JSON: %s at line %zu "
                                 "column %zu",
                                 why, line, col);
    }
    vctx_t c = {.d = scratch, .err = err, .value_failed = false};
    if (!jr_is(scratch, root, JR_OBJ)) {
        vpath_t rp = P0(NULL);
        return bad_type(&c, &rp, root, "a request object");
    }
    top_t t = {.root = root};
    members(scratch, root, top_names, F_COUNT, t.f);
    int rc = kind == API_KIND_FIM ? validate_fim(&c, &t) : validate_chat(&c, &t, kind);
    if (rc || c.value_failed)
        return -1;
    facts->model = jr_str(scratch, t.f[F_MODEL]);
    facts->stream = jr_is(scratch, t.f[F_STREAM], JR_TRUE);
    facts->has_stream_options = t.f[F_STREAM_OPTIONS] >= 0;
    facts->include_usage =
        jr_is(scratch, jr_get(scratch, t.f[F_STREAM_OPTIONS], "include_usage"), JR_TRUE);
    facts->max_tokens =
        jr_is(scratch, t.f[F_MAX_TOKENS], JR_INT) ? jr_int(scratch, t.f[F_MAX_TOKENS]) : 0;
    return 0;
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
        const char *what = json_is_array(v)    ? "sequence"
                           : json_is_string(v) ? "string"
                           : json_is_number(v) ? "number"
                           : json_is_null(v)   ? "null"
                                               : "boolean";
        json_decref(v);
        return api_error_invalid(err, ST_SHAPE, NULL,
                                 DESER "invalid type: %s, expected a request object", what);
    }
    *out = v;
    return 0;
}
