/* test_validate.c - request validation (api_check_body), one cmocka test per line of
 * tests/data/validate/cases.jsonl.
 *
 * Each line is an object: "name"; "kind" ("chat", "prefix" for /beta/chat/completions, "fim");
 * the request as "raw" (a string: the exact bytes checked) or as "body" (JSON, checked as
 * jansson's compact text of it: no whitespace, keys in the order of the file, non-ASCII as
 * UTF-8; the line and column of an error count in that text); "status" (0 = accepted, else the
 * expected HTTP status); optionally "param" (expected err.param, null for none), "message"
 * (the exact err.message) and, on accepted cases, "facts" (the expected api_body_facts_t:
 * "model", and "stream", "has_stream_options", "include_usage" true, or false when absent).
 * "repeat" ({"field","count","item","append"} or an array of them) builds big arrays: field is
 * a dotted path into body ("tools", "messages.1.tool_calls"), the array there is replaced by
 * (or, with "append": true, extended with) count copies of item. Blank lines and lines starting
 * with '#' are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "test_util.h"

#include "api/validate.h"
#include "base/mem.h"
#include "json/jr.h"

#define CASES_PATH SEEKD_SOURCE_DIR "/tests/data/validate/cases.jsonl"

static json_t *walk(json_t *v, const char *path, const char **last)
{
    char seg[64];
    for (;;) {
        const char *dot = strchr(path, '.');
        if (!dot) {
            *last = path;
            return v;
        }
        size_t n = (size_t)(dot - path);
        assert_true(n < sizeof seg);
        memcpy(seg, path, n);
        seg[n] = '\0';
        char *end;
        long idx = strtol(seg, &end, 10);
        v = *end == '\0' && json_is_array(v) ? json_array_get(v, (size_t)idx)
                                             : json_object_get(v, seg);
        assert_non_null(v);
        path = dot + 1;
    }
}

static void apply_repeat(json_t *body, const json_t *spec)
{
    const char *field = json_string_value(json_object_get(spec, "field"));
    json_int_t count = json_integer_value(json_object_get(spec, "count"));
    json_t *item = json_object_get(spec, "item");
    assert_non_null(field);
    assert_non_null(item);
    const char *key;
    json_t *parent = walk(body, field, &key);
    json_t *arr =
        json_is_true(json_object_get(spec, "append")) ? json_object_get(parent, key) : NULL;
    if (!arr) {
        arr = json_array();
        json_object_set_new(parent, key, arr);
    }
    assert_true(json_is_array(arr));
    for (json_int_t i = 0; i < count; i++)
        json_array_append(arr, item);
}

static api_kind_t kind_of(const char *s)
{
    if (strcmp(s, "chat") == 0)
        return API_KIND_CHAT;
    if (strcmp(s, "prefix") == 0)
        return API_KIND_CHAT_PREFIX;
    if (strcmp(s, "fim") == 0)
        return API_KIND_FIM;
    fail_msg("unknown kind %s", s);
    return API_KIND_CHAT;
}

static void check_error(const json_t *tc, const api_error_t *err)
{
    json_int_t want = json_integer_value(json_object_get(tc, "status"));
    if (err->status != want)
        fail_msg("want status %lld, got %d: %s (param %s)", (long long)want, err->status,
                 err->message, err->param ? err->param : "null");
    assert_string_equal(err->type, "invalid_request_error");
    json_t *param = json_object_get(tc, "param");
    if (json_is_null(param))
        assert_null(err->param);
    else if (param) {
        assert_non_null(err->param);
        assert_string_equal(err->param, json_string_value(param));
    }
    const char *msg = json_string_value(json_object_get(tc, "message"));
    if (msg && strcmp(err->message, msg) != 0)
        fail_msg("message\n  got  \"%s\"\n  want \"%s\"", err->message, msg);
}

static void check_facts(const json_t *want, const api_body_facts_t *f)
{
    const char *model = json_string_value(json_object_get(want, "model"));
    if (model) {
        assert_int_equal(f->model.len, strlen(model));
        assert_memory_equal(f->model.ptr, model, f->model.len);
    }
    assert_int_equal(f->stream, json_is_true(json_object_get(want, "stream")));
    assert_int_equal(f->has_stream_options,
                     json_is_true(json_object_get(want, "has_stream_options")));
    assert_int_equal(f->include_usage, json_is_true(json_object_get(want, "include_usage")));
}

static void run_case(void **state)
{
    json_t *tc = *state;
    api_kind_t kind = kind_of(json_string_value(json_object_get(tc, "kind")));
    json_int_t want = json_integer_value(json_object_get(tc, "status"));
    api_error_t err;
    memset(&err, 0, sizeof err);

    /* the bytes: "raw" as they are, "body" as jansson's compact text (keys in the file's
     * order), which is what the positions of its messages count in */
    char *text;
    size_t len;
    json_t *raw = json_object_get(tc, "raw");
    if (raw) {
        len = json_string_length(raw);
        text = xmalloc(len + 1);
        memcpy(text, json_string_value(raw), len + 1);
    } else {
        json_t *body = json_deep_copy(json_object_get(tc, "body"));
        assert_non_null(body);
        json_t *rep = json_object_get(tc, "repeat");
        if (json_is_object(rep))
            apply_repeat(body, rep);
        size_t i;
        json_t *r;
        json_array_foreach(rep, i, r) apply_repeat(body, r);
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(text);
        len = strlen(text);
        json_decref(body);
    }
    char *before = xmalloc(len + 1);
    memcpy(before, text, len + 1);

    jr_doc_t doc;
    jr_init(&doc);
    api_body_facts_t f;
    int rc = api_check_body(text, len, kind, &doc, &f, &err);
    assert_memory_equal(before, text, len + 1); /* the body is never changed */
    if (want == 0) {
        if (rc != 0)
            fail_msg("rejected: %d %s (param %s)", err.status, err.message,
                     err.param ? err.param : "null");
        json_t *facts = json_object_get(tc, "facts");
        if (facts)
            check_facts(facts, &f);
    } else {
        assert_int_equal(rc, -1);
        check_error(tc, &err);
    }
    jr_free(&doc);
    free(before);
    free(text);
}

static bool valid(const json_t *tc)
{
    return json_string_value(json_object_get(tc, "kind")) &&
           json_is_integer(json_object_get(tc, "status")) &&
           (json_object_get(tc, "body") || json_object_get(tc, "raw"));
}

int main(void)
{
    return test_run_jsonl("validate_cases", CASES_PATH, run_case, valid);
}
