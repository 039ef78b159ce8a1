/* test_splice.c - the body posted upstream (bk_splice_body), one cmocka test per line of
 * tests/data/splice/cases.jsonl: the client's raw bytes in, the exact bytes posted out. */
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

#include "backend/splice.h"

#define CASES_PATH SEEKD_SOURCE_DIR "/tests/data/splice/cases.jsonl"

static void run_case(void **state)
{
    json_t *tc = *state;
    const char *in = json_string_value(json_object_get(tc, "in"));
    const char *want = json_string_value(json_object_get(tc, "out"));
    bool stream = json_is_true(json_object_get(tc, "stream"));
    bool same = json_is_true(json_object_get(tc, "same"));
    json_error_t je;
    json_t *body = json_loads(in, 0, &je);
    assert_non_null(body);
    slice_t raw = slice_of(in);
    char *owned;
    /* what validation tells the relay about the body */
    json_t *so = json_object_get(body, "stream_options");
    bool include_usage = json_is_true(json_object_get(so, "include_usage"));
    slice_t got = bk_splice_body(raw, stream, so != NULL, include_usage, &owned);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
    if (same) {
        assert_ptr_equal(got.ptr, raw.ptr);
        assert_null(owned);
    } else {
        assert_ptr_equal(got.ptr, owned);
        /* what goes upstream is still the same JSON with include_usage on */
        json_t *out = json_loadb(got.ptr, got.len, 0, &je);
        assert_non_null(out);
        assert_true(
            json_is_true(json_object_get(json_object_get(out, "stream_options"), "include_usage")));
        json_decref(out);
    }
    free(owned);
    json_decref(body);
}

static bool valid(const json_t *tc)
{
    return json_is_string(json_object_get(tc, "in")) && json_is_string(json_object_get(tc, "out"));
}

int main(void)
{
    return test_run_jsonl("splice_cases", CASES_PATH, run_case, valid);
}
