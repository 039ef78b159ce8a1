/* test_json.c - the JSON reader (json/jr.c): every value kind, escapes, UTF-8 checks, errors
 * with their offsets, nesting limits, lookups and reuse of one document across parses. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json/jr.h"

/* A canonical dump of a parsed value: compact, keys in document order, integers as digits,
 * reals prefixed with 'r' and printed with %.17g, strings with only " \ and bytes < 0x20
 * escaped (\xNN), so the test sees exactly what the reader decoded. */
static void dump(const jr_doc_t *d, jr_val_t v, char *out, size_t cap, size_t *o)
{
#define PUT(...) (*o += (size_t)snprintf(out + *o, *o < cap ? cap - *o : 0, __VA_ARGS__))
    switch (jr_type(d, v)) {
    case JR_NONE:
        PUT("<none>");
        break;
    case JR_NULL:
        PUT("null");
        break;
    case JR_TRUE:
        PUT("true");
        break;
    case JR_FALSE:
        PUT("false");
        break;
    case JR_INT:
        PUT("%lld", (long long)jr_int(d, v));
        break;
    case JR_REAL:
        PUT("r%.17g", jr_num(d, v));
        break;
    case JR_STR: {
        slice_t s = jr_str(d, v);
        PUT("\"");
        for (size_t i = 0; i < s.len; i++) {
            unsigned char c = (unsigned char)s.ptr[i];
            if (c == '"' || c == '\\')
                PUT("\\%c", c);
            else if (c < 0x20)
                PUT("\\x%02x", c);
            else
                PUT("%c", c);
        }
        PUT("\"");
        break;
    }
    case JR_ARR:
        PUT("[");
        for (jr_val_t e = jr_first(d, v); e >= 0; e = jr_next(d, v, e)) {
            if (e != v + 1)
                PUT(",");
            dump(d, e, out, cap, o);
        }
        PUT("]");
        break;
    case JR_OBJ:
        PUT("{");
        for (jr_val_t k = jr_first_key(d, v); k >= 0; k = jr_next_key(d, v, k)) {
            if (k != v + 1)
                PUT(",");
            dump(d, k, out, cap, o);
            PUT(":");
            dump(d, k + 1, out, cap, o);
        }
        PUT("}");
        break;
    }
#undef PUT
}

static const char *parse_dump(jr_doc_t *d, const char *in, size_t len)
{
    static char out[4096];
    const char *err = NULL;
    size_t at = 0, o = 0;
    jr_val_t root = jr_parse(d, in, len, &err, &at);
    if (root < 0) {
        snprintf(out, sizeof out, "error: %s at %zu", err, at);
        return out;
    }
    assert_int_equal(root, 0);
    dump(d, root, out, sizeof out, &o);
    return out;
}

typedef struct {
    const char *in;
    const char *want;
} case_t;

static void run_cases(const case_t *cases, size_t n)
{
    jr_doc_t d;
    jr_init(&d);
    for (size_t i = 0; i < n; i++) {
        const char *got = parse_dump(&d, cases[i].in, strlen(cases[i].in));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("input %s\n  want %s\n  got  %s", cases[i].in, cases[i].want, got);
    }
    jr_free(&d);
}

static void test_values(void **state)
{
    (void)state;
    static const case_t cases[] = {
        {"{}", "{}"},
        {"[]", "[]"},
        {" \t\r\n[ ]\n", "[]"},
        {"{\"a\":1}", "{\"a\":1}"},
        {"{ \"a\" : { \"b\" : [ true , false , null ] } , \"c\" : [ [ ] , { } ] }",
         "{\"a\":{\"b\":[true,false,null]},\"c\":[[],{}]}"},
        {"\"x\"", "\"x\""},
        {"true", "true"},
        {"null", "null"},
        {"0", "0"},
        {"-0", "0"},
        {"-12", "-12"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"9223372036854775808", "r9.2233720368547758e+18"},
        {"-9223372036854775809", "r-9.2233720368547758e+18"},
        {"123456789012345678901234567890", "r1.2345678901234568e+29"},
        {"1.5", "r1.5"},
        {"-0.25e2", "r-25"},
        {"1E+2", "r100"},
        {"1e-3", "r0.001"},
        {"1e400", "rinf"},
        {"[1,2.5,-3]", "[1,r2.5,-3]"},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_strings(void **state)
{
    (void)state;
    static const case_t cases[] = {
        {"\"\"", "\"\""},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\x08\\x0c\\x0a\\x0d\\x09\""},
        {"\"caf\\u00e9\"", "\"caf\xc3\xa9\""},
        {"\"\\u20AC\"", "\"\xe2\x82\xac\""},
        {"\"\\ud83d\\ude00!\"", "\"\xf0\x9f\x98\x80!\""},
        {"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"\"a\\u0000b\"", "\"a\\x00b\""},
        {"\"plain \\n then \xe4\xb8\xad text\"", "\"plain \\x0a then \xe4\xb8\xad text\""},
        {"[\"a\\tb\",\"c\",\"\\\"d\\\"\"]", "[\"a\\x09b\",\"c\",\"\\\"d\\\"\"]"},
        {"{\"\\u0061\\u0062\":1}", "{\"ab\":1}"},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_errors(void **state)
{
    (void)state;
    static const case_t cases[] = {
        {"", "error: unexpected end of input at 0"},
        {"   ", "error: unexpected end of input at 3"},
        {"{", "error: expected a string key at 1"},
        {"{\"a\"}", "error: expected ':' after a key at 4"},
        {"{\"a\":1,}", "error: expected a string key at 7"},
        {"{\"a\":}", "error: unexpected character at 5"},
        {"{1:2}", "error: expected a string key at 1"},
        {"[1,]", "error: unexpected character at 3"},
        {"[1 2]", "error: expected ',' or ']' at 3"},
        {"{\"a\":1]", "error: expected ',' or '}' at 6"},
        {"[1", "error: unexpected end of input at 2"},
        {"01", "error: trailing characters after the document at 1"},
        {"[1] x", "error: trailing characters after the document at 4"},
        {"{}{}", "error: trailing characters after the document at 2"},
        {"1.", "error: invalid number at 2"},
        {"-", "error: invalid number at 1"},
        {"1e", "error: invalid number at 2"},
        {"1e+", "error: invalid number at 3"},
        {".5", "error: unexpected character at 0"},
        {"+1", "error: unexpected character at 0"},
        {"tru", "error: invalid literal at 0"},
        {"nul", "error: invalid literal at 0"},
        {"[falsey]", "error: expected ',' or ']' at 6"},
        {"'a'", "error: unexpected character at 0"},
        {"\"abc", "error: unterminated string at 4"},
        {"\"a\\", "error: unterminated string at 2"},
        {"\"a\\nb", "error: unterminated string at 5"},
        {"\"\\x\"", "error: invalid escape in string at 1"},
        {"\"\\u12\"", "error: invalid \\u escape at 1"},
        {"\"\\u12G4\"", "error: invalid \\u escape at 1"},
        {"\"\\ud800\"", "error: lone UTF-16 surrogate in \\u escape at 1"},
        {"\"\\udc00\"", "error: lone UTF-16 surrogate in \\u escape at 1"},
        {"\"\\ud800\\u0041\"", "error: lone UTF-16 surrogate in \\u escape at 1"},
        {"\"a\nb\"", "error: control character in string at 2"},
        {"\"\\n\x01\"", "error: control character in string at 3"},
        {"\"\xff\"", "error: invalid UTF-8 in string at 1"},
        {"\"\xc0\x80\"", "error: invalid UTF-8 in string at 1"},
        {"\"\xe0\x80\xaf\"", "error: invalid UTF-8 in string at 1"},
        {"\"\xed\xa0\x80\"", "error: invalid UTF-8 in string at 1"},
        {"\"\xe2\x82\"", "error: invalid UTF-8 in string at 1"},
        {"\"\xf4\x90\x80\x80\"", "error: invalid UTF-8 in string at 1"},
        {"\"\xf0\x80\x80\x80\"", "error: invalid UTF-8 in string at 1"},
        {"\"\\n\xff\"", "error: invalid UTF-8 in string at 3"},
        {"\"\x80\"", "error: invalid UTF-8 in string at 1"},
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* A string that ends the input right after a multi-byte lead must not be read past its end. */
static void test_no_overread(void **state)
{
    (void)state;
    jr_doc_t d;
    jr_init(&d);
    const char *ins[] = {"\"\xe2", "\"\xf0\x9f\x98", "\"\\u00", "\"\\ud83d\\ude", "-", "1e", "tr",
                         "[",      "{\"a\""};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        size_t n = strlen(ins[i]);
        char *exact = malloc(n); /* no terminator: ASan catches any read past n */
        memcpy(exact, ins[i], n);
        assert_int_equal(jr_parse(&d, exact, n, NULL, NULL), -1);
        free(exact);
    }
    jr_free(&d);
}

static void test_nesting(void **state)
{
    (void)state;
    jr_doc_t d;
    jr_init(&d);
    size_t n = JR_MAX_DEPTH + 1;
    char *s = malloc(2 * n);
    for (size_t depth = JR_MAX_DEPTH; depth <= n; depth++) {
        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        const char *err = NULL;
        size_t at = 0;
        jr_val_t r = jr_parse(&d, s, 2 * depth, &err, &at);
        if (depth == JR_MAX_DEPTH) {
            assert_int_equal(r, 0);
            assert_int_equal(d.count, JR_MAX_DEPTH);
            assert_int_equal(d.n[0].end, JR_MAX_DEPTH);
            assert_int_equal(jr_len(&d, JR_MAX_DEPTH - 2), 1);
            assert_int_equal(jr_len(&d, JR_MAX_DEPTH - 1), 0);
        } else {
            assert_int_equal(r, -1);
            assert_string_equal(err, "nesting too deep");
            assert_int_equal(at, JR_MAX_DEPTH);
        }
    }
    free(s);
    jr_free(&d);
}

static void test_lookup(void **state)
{
    (void)state;
    jr_doc_t d;
    jr_init(&d);
    const char *in = "{\"a\":1,\"obj\":{\"x\":[10,20,30],\"y\":\"why\"},\"a\":2,\"e\\u0073c\":true,"
                     "\"big\":1e300,\"neg\":-1e300,\"r\":2.9,\"nr\":-2.9}";
    jr_val_t root = jr_parse(&d, in, strlen(in), NULL, NULL);
    assert_int_equal(root, 0);
    assert_int_equal(jr_len(&d, root), 8);
    assert_int_equal(jr_int(&d, jr_get(&d, root, "a")), 2); /* the last of a repeated key */
    jr_val_t obj = jr_get(&d, root, "obj");
    assert_true(jr_is(&d, obj, JR_OBJ));
    jr_val_t x = jr_get(&d, obj, "x");
    assert_int_equal(jr_len(&d, x), 3);
    int64_t sum = 0;
    for (jr_val_t e = jr_first(&d, x); e >= 0; e = jr_next(&d, x, e))
        sum += jr_int(&d, e);
    assert_int_equal(sum, 60);
    slice_t y = jr_str(&d, jr_get(&d, obj, "y"));
    assert_int_equal(y.len, 3);
    assert_memory_equal(y.ptr, "why", 3);
    assert_true(jr_is(&d, jr_get(&d, root, "esc"), JR_TRUE));
    assert_int_equal(jr_int(&d, jr_get(&d, root, "big")), INT64_MAX);
    assert_int_equal(jr_int(&d, jr_get(&d, root, "neg")), INT64_MIN);
    assert_int_equal(jr_int(&d, jr_get(&d, root, "r")), 2);
    assert_int_equal(jr_int(&d, jr_get(&d, root, "nr")), -2);
    assert_true(jr_num(&d, jr_get(&d, root, "r")) == 2.9);
    assert_true(jr_num(&d, jr_get(&d, x, "0")) == 0); /* not an object */
    /* absent values answer with defaults, so lookups chain */
    jr_val_t none = jr_get(&d, jr_get(&d, root, "missing"), "deeper");
    assert_int_equal(none, -1);
    assert_int_equal(jr_type(&d, none), JR_NONE);
    assert_int_equal(jr_str(&d, none).len, 0);
    assert_int_equal(jr_int(&d, none), 0);
    assert_int_equal(jr_len(&d, none), 0);
    assert_int_equal(jr_first(&d, none), -1);
    assert_int_equal(jr_first(&d, obj), -1);                    /* arrays only */
    assert_int_equal(jr_first_key(&d, x), -1);                  /* objects only */
    assert_int_equal(jr_str(&d, jr_get(&d, root, "a")).len, 0); /* not a string */
    jr_free(&d);
}

/* One document serves many parses; slices of the latest stay valid while it lives. */
static void test_reuse(void **state)
{
    (void)state;
    jr_doc_t d;
    jr_init(&d);
    char big[8192];
    size_t o = 0;
    o += (size_t)snprintf(big + o, sizeof big - o, "[");
    for (int i = 0; i < 500; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s\"s\\u00e9%d\"", i ? "," : "", i);
    snprintf(big + o, sizeof big - o, "]");
    assert_int_equal(jr_parse(&d, big, strlen(big), NULL, NULL), 0);
    assert_int_equal(jr_len(&d, 0), 500);
    slice_t last = jr_str(&d, d.n[0].end - 1);
    assert_int_equal(last.len, 6);
    assert_memory_equal(last.ptr,
                        "s\xc3\xa9"
                        "499",
                        6);
    uint32_t cap = d.cap;
    const char *small = "{\"k\":\"v\\n\"}";
    assert_int_equal(jr_parse(&d, small, strlen(small), NULL, NULL), 0);
    assert_int_equal(d.cap, cap); /* no new allocation */
    slice_t v = jr_str(&d, jr_get(&d, 0, "k"));
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.ptr, "v\n", 2);
    /* a failed parse leaves an empty document, never stale nodes */
    assert_int_equal(jr_parse(&d, "[1,", 3, NULL, NULL), -1);
    assert_int_equal(d.count, 0);
    jr_free(&d);
}

/* Every value's span, in node order: the bytes of each value as the source has them. */
static void test_spans(void **state)
{
    (void)state;
    static const char in[] =
        " {\"a\" : [1, -2.5e3 ,\"x\\\"y\"],\n\"b\":{},\"c\":[[]], \"\\u00e9\":true ,"
        "\"n\":null}\n";
    static const char *const want[] = {
        "{\"a\" : [1, -2.5e3 ,\"x\\\"y\"],\n\"b\":{},\"c\":[[]], \"\\u00e9\":true ,\"n\":null}",
        "\"a\"",
        "[1, -2.5e3 ,\"x\\\"y\"]",
        "1",
        "-2.5e3",
        "\"x\\\"y\"",
        "\"b\"",
        "{}",
        "\"c\"",
        "[[]]",
        "[]",
        "\"\\u00e9\"",
        "true",
        "\"n\"",
        "null",
    };
    jr_doc_t d;
    jr_init(&d);
    assert_int_equal(jr_parse(&d, in, sizeof in - 1, NULL, NULL), 0);
    assert_int_equal(d.count, sizeof want / sizeof want[0]);
    for (jr_val_t v = 0; v < (jr_val_t)d.count; v++) {
        size_t start = 99, end = 0;
        assert_int_equal(jr_span(&d, v, &start, &end), 0);
        if (end - start != strlen(want[v]) || memcmp(in + start, want[v], end - start) != 0)
            fail_msg("node %d: want %s, got %.*s", (int)v, want[v], (int)(end - start), in + start);
    }
    size_t s, e;
    assert_int_equal(jr_span(&d, (jr_val_t)d.count, &s, &e), -1);
    assert_int_equal(jr_span(&d, -1, &s, &e), -1);
    jr_free(&d);
}

/* Lines count '\n' only; the column is the bytes from the line's start up to the offset. */
static void test_line_col(void **state)
{
    (void)state;
    static const char src[] = "ab\ncd\r\n\nxyz";
    static const struct {
        size_t off, line, col;
    } cases[] = {{0, 1, 0}, {2, 1, 2}, {3, 2, 0}, {5, 2, 2},
                 {6, 2, 3}, {7, 3, 0}, {8, 4, 0}, {11, 4, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t line, col;
        jr_line_col(src, cases[i].off, &line, &col);
        if (line != cases[i].line || col != cases[i].col)
            fail_msg("offset %zu: want %zu:%zu, got %zu:%zu", cases[i].off, cases[i].line,
                     cases[i].col, line, col);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),   cmocka_unit_test(test_strings),
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_no_overread),
        cmocka_unit_test(test_nesting),  cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_reuse),    cmocka_unit_test(test_spans),
        cmocka_unit_test(test_line_col),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
