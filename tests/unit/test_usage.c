/* test_usage.c - usage counted with the built-in DeepSeek-V3 tokenizer when an upstream gives
 * none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "backend/usage.h"
#include "tokenizer/tok.h"

static int need_tokenizer(void **state)
{
    (void)state;
    if (!tok_default()) {
        printf("SKIP: seekd was built without the DeepSeek-V3 tokenizer (run npm ci first)\n");
        return -1;
    }
    return 0;
}

static long prompt_of(const char *json, bk_kind_t kind)
{
    json_t *body = json_loads(json, 0, NULL);
    assert_non_null(body);
    long n = bk_count_prompt(body, kind);
    json_decref(body);
    return n;
}

static void chat_prompt_is_the_rendered_template(void **state)
{
    (void)state;
    /* <｜begin▁of▁sentence｜> <｜User｜> Hi <｜Assistant｜> */
    assert_int_equal(
        prompt_of("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", BK_KIND_CHAT), 4);
    /* text parts count like the same string */
    assert_int_equal(prompt_of("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                               "\"text\":\"H\"},{\"type\":\"text\",\"text\":\"i\"}]}]}",
                               BK_KIND_CHAT),
                     4);
    /* a system prompt goes right after BOS */
    long sys = prompt_of("{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                         "{\"role\":\"user\",\"content\":\"Hi\"}]}",
                         BK_KIND_CHAT);
    assert_int_equal(sys, 4 + tok_count_default("Be brief.", 9));
}

static void prefix_completion_has_no_generation_prompt(void **state)
{
    (void)state;
    long full = prompt_of("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":"
                          "\"assistant\",\"content\":\"Hello\",\"prefix\":true}]}",
                          BK_KIND_CHAT_PREFIX);
    /* BOS User Hi Assistant Hello: the open assistant turn is continued, not closed */
    assert_int_equal(full, 4 + tok_count_default("Hello", 5));
}

static void fim_prompt_wraps_prefix_and_suffix(void **state)
{
    (void)state;
    long n = prompt_of("{\"prompt\":\"def f(\",\"suffix\":\"return 1\"}", BK_KIND_FIM);
    /* BOS, fim begin, prompt, fim hole, suffix, fim end */
    assert_int_equal(n, 4 + tok_count_default("def f(", 6) + tok_count_default("return 1", 8));
}

static void completion_and_usage_fields(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 0, NULL);
    bk_usage_t u;
    assert_true(bk_usage_compute(body, BK_KIND_CHAT, SLICE_LIT("Let me think."),
                                 SLICE_LIT("Hello there!"), SLICE_LIT(""), &u));
    long r = tok_count_default("Let me think.", 13);
    long c = tok_count_default("Hello there!", 12);
    assert_int_equal(u.prompt_tokens, 4);
    assert_int_equal(u.completion_tokens, r + c);
    assert_int_equal(u.total_tokens, 4 + r + c);
    assert_int_equal(u.reasoning_tokens, r);
    assert_int_equal(u.prompt_cache_miss_tokens, 4);
    assert_int_equal(u.prompt_cache_hit_tokens, 0);
    assert_true(u.has & BK_USAGE_REASONING);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chat_prompt_is_the_rendered_template),
        cmocka_unit_test(prefix_completion_has_no_generation_prompt),
        cmocka_unit_test(fim_prompt_wraps_prefix_and_suffix),
        cmocka_unit_test(completion_and_usage_fields),
    };
    if (need_tokenizer(NULL))
        return 77;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
