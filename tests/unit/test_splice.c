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
    slice_t got = bk_splice_body(raw, body, stream, &owned);
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
        assert_true(json_is_true(json_object_get(json_object_get(out, "stream_options"),
                                                 "include_usage")));
        json_decref(out);
    }
    free(owned);
    json_decref(body);
}

int main(void)
{
    size_t len;
    char *text = test_slurp(CASES_PATH, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", CASES_PATH);
        return 1;
    }
    size_t n = 0;
    struct CMUnitTest tests[64];
    json_t *cases[64];
    int lineno = 0, bad = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (line[0] == '\0' || line[0] == '#')
            continue;
        json_error_t je;
        json_t *tc = json_loads(line, 0, &je);
        const char *name = tc ? json_string_value(json_object_get(tc, "name")) : NULL;
        if (!name || !json_is_string(json_object_get(tc, "in")) ||
            !json_is_string(json_object_get(tc, "out")) || n == 64) {
            fprintf(stderr, "%s:%d: bad case\n", CASES_PATH, lineno);
            bad = 1;
            json_decref(tc);
            continue;
        }
        cases[n] = tc;
        tests[n] = (struct CMUnitTest){name, run_case, NULL, NULL, tc};
        n++;
    }
    int rc = bad ? 1 : _cmocka_run_group_tests("splice_cases", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        json_decref(cases[i]);
    free(text);
    return rc;
}
