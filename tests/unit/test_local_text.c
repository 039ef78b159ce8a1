/* test_local_text.c - what the local backend does to generated text: stop strings matched
 * across token boundaries and never emitted, the think-tag split in both shapes (an opening
 * tag, or only "</think>" after an R1 template opened it) with tags cut anywhere, and the
 * prefix a cached sequence lends a new prompt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/textfilt.h"

/* Feeds text cut into pieces of `step` bytes; returns whether a stop matched, out the text. */
static bool run_stop(const char *const *stops, int n, const char *text, size_t step, buf_t *out)
{
    eng_stop_t s;
    eng_stop_init(&s, stops, n);
    buf_init(out, 1 << 16);
    size_t len = strlen(text);
    bool hit = false;
    for (size_t i = 0; i < len && !hit; i += step) {
        size_t k = len - i < step ? len - i : step;
        hit = eng_stop_feed(&s, text + i, k, out);
    }
    if (!hit)
        eng_stop_flush(&s, out);
    buf_append(out, "", 0);
    eng_stop_free(&s);
    return hit;
}

static void stop_strings_across_pieces(void **state)
{
    (void)state;
    const char *stops[] = {"END", "\n\n", ""};
    for (size_t step = 1; step <= 8; step++) {
        buf_t out;
        assert_true(run_stop(stops, 3, "one two\n\nthree", step, &out));
        assert_string_equal(out.data ? out.data : "", "one two");
        buf_free(&out);
        assert_true(run_stop(stops, 3, "xxENDyy", step, &out));
        assert_string_equal(out.data, "xx");
        buf_free(&out);
        /* a partial match that fails is emitted whole */
        assert_false(run_stop(stops, 3, "EN ENd E", step, &out));
        assert_string_equal(out.data, "EN ENd E");
        buf_free(&out);
        /* the earliest of two matches wins */
        assert_true(run_stop(stops, 3, "a\n\nbEND", step, &out));
        assert_string_equal(out.data, "a");
        buf_free(&out);
    }
    /* no stop strings: everything passes at once */
    eng_stop_t s;
    eng_stop_init(&s, NULL, 0);
    buf_t out;
    buf_init(&out, 64);
    assert_false(eng_stop_feed(&s, "abc", 3, &out));
    assert_int_equal(out.len, 3);
    eng_stop_free(&s);
    buf_free(&out);
}

static void stop_holds_back_only_a_possible_start(void **state)
{
    (void)state;
    const char *stops[] = {"<stop>"};
    eng_stop_t s;
    eng_stop_init(&s, stops, 1);
    buf_t out;
    buf_init(&out, 64);
    assert_false(eng_stop_feed(&s, "hello <st", 9, &out));
    assert_int_equal(out.len, 6); /* "hello " out, "<st" held */
    assert_memory_equal(out.data, "hello ", 6);
    assert_false(eng_stop_feed(&s, "ay", 2, &out));
    assert_int_equal(out.len, 11); /* "<stay" is no stop: all out */
    eng_stop_free(&s);
    buf_free(&out);
}

/* Runs the splitter over text in pieces of step bytes. */
static void run_think(bool in_reasoning, const char *text, size_t step, buf_t *r, buf_t *c)
{
    eng_think_t t;
    eng_think_init(&t, in_reasoning);
    buf_init(r, 1 << 16);
    buf_init(c, 1 << 16);
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += step) {
        size_t k = len - i < step ? len - i : step;
        eng_think_feed(&t, text + i, k, r, c);
    }
    eng_think_flush(&t, r, c);
    buf_append(r, "", 0);
    buf_append(c, "", 0);
    eng_think_free(&t);
}

static void think_split_both_shapes(void **state)
{
    (void)state;
    static const struct {
        bool in_reasoning;
        const char *text, *reasoning, *content;
    } cases[] = {
        /* R1 distills: the template opened <think>, only the closing tag comes */
        {true, "Let me see.\n</think>\n\nThe answer is 4.", "Let me see.\n", "The answer is 4."},
        /* a model that opens the tag itself */
        {false, "<think>\nhmm</think>\n\nyes", "hmm", "yes"},
        {true, "<think>\nhmm</think>yes", "hmm", "yes"},
        /* no reasoning at all */
        {false, "just an answer", "", "just an answer"},
        {false, "<thin", "", "<thin"},
        /* a reasoning that never closes stays reasoning */
        {true, "still thinking </thi", "still thinking </thi", ""},
        /* a tag-like text inside the answer is the answer's */
        {true, "r</think>a</think>b", "r", "a</think>b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t step = 1; step <= 9; step++) {
            buf_t r, c;
            run_think(cases[i].in_reasoning, cases[i].text, step, &r, &c);
            assert_string_equal(r.data, cases[i].reasoning);
            assert_string_equal(c.data, cases[i].content);
            buf_free(&r);
            buf_free(&c);
        }
    }
}

static void prefix_reuse_in_units(void **state)
{
    (void)state;
    int32_t a[300], b[300];
    for (int i = 0; i < 300; i++)
        a[i] = b[i] = i;
    /* the same 300 tokens: at most 299 reusable (the last is run for its logits) -> 256 */
    assert_int_equal(eng_prefix_reuse(a, 300, b, 300, 64), 256);
    b[200] = -1; /* common prefix 200 -> 192 */
    assert_int_equal(eng_prefix_reuse(a, 300, b, 300, 64), 192);
    assert_int_equal(eng_prefix_reuse(a, 300, b, 300, 1), 200);
    b[63] = -1; /* 63 -> 0 */
    assert_int_equal(eng_prefix_reuse(a, 300, b, 300, 64), 0);
    /* a cached sequence shorter than the prompt: its whole length counts */
    for (int i = 0; i < 300; i++)
        b[i] = i;
    assert_int_equal(eng_prefix_reuse(a, 130, b, 300, 64), 128);
    assert_int_equal(eng_prefix_reuse(a, 0, b, 300, 64), 0);
    /* a prompt of 65 tokens sharing all of them: 64 */
    assert_int_equal(eng_prefix_reuse(a, 300, b, 65, 64), 64);
    assert_int_equal(eng_prefix_reuse(a, 300, b, 64, 64), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_strings_across_pieces),
        cmocka_unit_test(stop_holds_back_only_a_possible_start),
        cmocka_unit_test(think_split_both_shapes),
        cmocka_unit_test(prefix_reuse_in_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
