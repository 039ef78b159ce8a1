/* test_usage.c - usage counted with the built-in DeepSeek-V3 tokenizer when an upstream gives
 * none, checked against counts made by HuggingFace tokenizers (tests/data/usage/counts.json,
 * written by make_counts.mjs beside it), never against seekd's own tokenizer. */
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

#define COUNTS SEEKD_SOURCE_DIR "/tests/data/usage/counts.json"

static json_t *g_counts;

static bk_kind_t kind_of(const char *s)
{
    if (!strcmp(s, "chat"))
        return BK_KIND_CHAT;
    if (!strcmp(s, "chat_prefix"))
        return BK_KIND_CHAT_PREFIX;
    assert_string_equal(s, "fim");
    return BK_KIND_FIM;
}

static slice_t str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    return (slice_t){s, strlen(s)};
}

static long int_of(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return (long)json_integer_value(v);
}

/* Chat (Jinja renders of tests/tokenizer/chat), prefix and FIM prompts: the HF count of the
 * rendered prompt, special tokens included. */
static void prompt_tokens_match_hf(void **state)
{
    (void)state;
    json_t *prompts = json_object_get(g_counts, "prompts");
    assert_true(json_array_size(prompts) >= 10);
    size_t i;
    json_t *c;
    int bad = 0;
    json_array_foreach(prompts, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        long want = int_of(c, "prompt_tokens");
        long got = bk_count_prompt(json_object_get(c, "body"),
                                   kind_of(json_string_value(json_object_get(c, "kind"))));
        if (got != want) {
            print_message("%s: seekd counts %ld prompt tokens, HF %ld\n", name, got, want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Every usage field of an answer: completion = reasoning + content + tool text, each counted
 * alone; no cache hits. */
static void usage_fields_match_hf(void **state)
{
    (void)state;
    json_t *answers = json_object_get(g_counts, "completions");
    assert_true(json_array_size(answers) >= 3);
    size_t i;
    json_t *c;
    json_array_foreach(answers, i, c)
    {
        print_message("%s\n", json_string_value(json_object_get(c, "name")));
        slice_t reasoning = str_of(c, "reasoning");
        bk_usage_t u;
        memset(&u, 0, sizeof u);
        assert_true(bk_usage_compute(json_object_get(c, "body"), BK_KIND_CHAT, reasoning,
                                     str_of(c, "content"), str_of(c, "tool_text"), &u));
        long p = int_of(c, "prompt_tokens"), n = int_of(c, "completion_tokens"),
             r = int_of(c, "reasoning_tokens");
        assert_int_equal(u.prompt_tokens, p);
        assert_int_equal(u.completion_tokens, n);
        assert_int_equal(u.total_tokens, p + n);
        assert_int_equal(u.reasoning_tokens, r);
        assert_int_equal(u.prompt_cache_miss_tokens, p);
        assert_int_equal(u.prompt_cache_hit_tokens, 0);
        assert_int_equal(!!(u.has & BK_USAGE_REASONING), reasoning.len > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prompt_tokens_match_hf),
        cmocka_unit_test(usage_fields_match_hf),
    };
    if (!tok_default()) {
        printf("SKIP: seekd was built without the DeepSeek-V3 tokenizer (run npm ci first)\n");
        return 77;
    }
    json_error_t je;
    g_counts = json_load_file(COUNTS, 0, &je);
    if (!g_counts) {
        fprintf(stderr, "%s:%d: %s\n", COUNTS, je.line, je.text);
        return 1;
    }
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(g_counts);
    return rc;
}
