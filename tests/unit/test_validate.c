/* test_validate.c - request validation, one cmocka test per line of
 * tests/data/validate/cases.jsonl.
 *
 * Each line is an object: "name"; "kind" ("chat", "prefix" for /beta/chat/completions, "fim");
 * the request as "body" (already-parsed JSON) or as "raw" (a string fed through
 * api_parse_json first); "status" (0 = accepted, else the expected HTTP status); optionally
 * "param" (expected err.param, null for none) and "message" (a substring of err.message).
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
    if (msg && !strstr(err->message, msg))
        fail_msg("message \"%s\" lacks \"%s\"", err->message, msg);
}

static void run_case(void **state)
{
    json_t *tc = *state;
    api_kind_t kind = kind_of(json_string_value(json_object_get(tc, "kind")));
    json_int_t want = json_integer_value(json_object_get(tc, "status"));
    api_error_t err;
    memset(&err, 0, sizeof err);
    json_t *body;

    const char *raw = json_string_value(json_object_get(tc, "raw"));
    if (raw) {
        if (api_parse_json(raw, strlen(raw), &body, &err) != 0) {
            assert_null(body);
            assert_int_not_equal(want, 0);
            check_error(tc, &err);
            return;
        }
    } else {
        body = json_deep_copy(json_object_get(tc, "body"));
        assert_non_null(body);
    }
    json_t *rep = json_object_get(tc, "repeat");
    if (json_is_object(rep))
        apply_repeat(body, rep);
    size_t i;
    json_t *r;
    json_array_foreach(rep, i, r) apply_repeat(body, r);

    json_t *before = json_deep_copy(body);
    int rc = api_validate(body, kind, &err);
    assert_true(json_equal(before, body));
    json_decref(before);
    json_decref(body);
    if (want == 0) {
        if (rc != 0)
            fail_msg("rejected: %d %s (param %s)", err.status, err.message,
                     err.param ? err.param : "null");
        return;
    }
    assert_int_equal(rc, -1);
    check_error(tc, &err);
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
