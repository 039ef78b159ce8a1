/* test_fronts.c - the Anthropic and Responses fronts: request translation from the cases in
 * tests/data/fronts/cases.jsonl (exact Chat Completions bodies, exact error messages), the model
 * map, and both encoders on hand-made event flows (block order, tool input parsing, stop
 * reasons, usage split, sequence numbers, caps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic_encode.h"
#include "api/anthropic_parse.h"
#include "api/responses_encode.h"
#include "api/responses_parse.h"
#include "test_util.h"

#define CASES_PATH SEEKD_SOURCE_DIR "/tests/data/fronts/cases.jsonl"

static void translation_cases_from_data_file(void **state)
{
    (void)state;
    FILE *f = fopen(CASES_PATH, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        if (!c)
            fail_msg("bad case line: %s", je.text);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *front = json_string_value(json_object_get(c, "front"));
        const char *raw = json_string_value(json_object_get(c, "raw"));
        char *body = raw ? strdup(raw) : json_dumps(json_object_get(c, "body"), JSON_COMPACT);
        char *out = NULL;
        size_t len = 0;
        bool stream = false;
        api_error_t err;
        memset(&err, 0, sizeof err);
        int rc = !strcmp(front, "anthropic")
                     ? api_anth_translate(body, strlen(body), NULL,
                                          json_is_true(json_object_get(c, "counting")), &out, &len,
                                          &stream, &err)
                     : api_resp_translate(body, strlen(body), &out, &len, &stream, &err);
        json_t *want = json_object_get(c, "want");
        if (want) {
            if (rc)
                fail_msg("%s: refused: %s", name, err.message);
            json_t *got = json_loadb(out, len, 0, &je);
            assert_non_null(got);
            if (!json_equal(got, want)) {
                char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
                char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
                fail_msg("%s:\n want %s\n got  %s", name, w, g);
            }
            assert_int_equal(stream, json_is_true(json_object_get(want, "stream")));
            json_decref(got);
        } else {
            if (rc == 0)
                fail_msg("%s: accepted: %s", name, out);
            assert_int_equal(err.status, 400);
            assert_string_equal(err.type, "invalid_request_error");
            const char *msg = json_string_value(json_object_get(c, "error"));
            const char *prefix = json_string_value(json_object_get(c, "error_prefix"));
            if (msg && strcmp(err.message, msg))
                fail_msg("%s:\n want %s\n got  %s", name, msg, err.message);
            if (prefix && strncmp(err.message, prefix, strlen(prefix)))
                fail_msg("%s: %s", name, err.message);
            const char *param = json_string_value(json_object_get(c, "param"));
            if (param) {
                assert_non_null(err.param);
                assert_string_equal(err.param, param);
            }
            assert_null(out);
        }
        free(out);
        free(body);
        json_decref(c);
        n++;
    }
    free(line);
    fclose(f);
    assert_true(n >= 40);
}

static void model_map_first_match_wins(void **state)
{
    (void)state;
    const char *map[] = {"claude-3-haiku=small", "claude*=big", "gpt-4o=exact"};
    api_anth_opts_t o = {map, 3};
    char out[64];
    api_anth_map_model(&o, "claude-3-haiku", out, sizeof out);
    assert_string_equal(out, "small");
    api_anth_map_model(&o, "claude-3-haiku-2024", out, sizeof out);
    assert_string_equal(out, "big");
    api_anth_map_model(&o, "gpt-4o", out, sizeof out);
    assert_string_equal(out, "exact");
    api_anth_map_model(&o, "gpt-4o-mini", out, sizeof out);
    assert_string_equal(out, "gpt-4o-mini");
    api_anth_map_model(NULL, "claude-opus-4", out, sizeof out);
    assert_string_equal(out, "deepseek-v4-pro");
    api_anth_map_model(NULL, "claude", out, sizeof out);
    assert_string_equal(out, "deepseek-flash");
    assert_true(api_anth_map_entry_ok("a*=b"));
    assert_false(api_anth_map_entry_ok("=b"));
    assert_false(api_anth_map_entry_ok("a="));
    assert_false(api_anth_map_entry_ok("a b=c"));
    assert_false(api_anth_map_entry_ok("a=b=c"));
}

static void anthropic_error_statuses(void **state)
{
    (void)state;
    static const struct {
        int in, out;
        const char *type;
    } t[] = {{400, 400, "invalid_request_error"},
             {422, 400, "invalid_request_error"},
             {401, 401, "authentication_error"},
             {402, 402, "billing_error"},
             {403, 403, "permission_error"},
             {404, 404, "not_found_error"},
             {413, 413, "request_too_large"},
             {429, 429, "rate_limit_error"},
             {503, 529, "overloaded_error"},
             {500, 500, "api_error"},
             {502, 500, "api_error"},
             {504, 500, "api_error"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *type;
        assert_int_equal(api_anth_error_status(t[i].in, &type), t[i].out);
        assert_string_equal(type, t[i].type);
    }
    api_error_t err;
    api_error_set(&err, 503, "server_error", NULL, NULL, "Server \"Overloaded\"");
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(api_anth_enc_error(&err, &b), 0);
    assert_string_equal(b.data,
                        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                        "\"overloaded_error\",\"message\":\"Server \\\"Overloaded\\\"\"}}\n\n");
    buf_free(&b);
}

/* Events of one hand-made answer: reasoning, text, a tool call whose arguments are cut. */
static int flow(bk_event_t *ev)
{
    int n = 0;
    memset(ev, 0, 12 * sizeof *ev);
    ev[n].type = BK_EV_META;
    ev[n++].meta.id = SLICE_LIT("abc");
    ev[n++].type = BK_EV_ROLE;
    ev[n].type = BK_EV_REASONING_DELTA;
    ev[n++].text = SLICE_LIT("think");
    ev[n].type = BK_EV_CONTENT_DELTA;
    ev[n++].text = SLICE_LIT("");
    ev[n].type = BK_EV_CONTENT_DELTA;
    ev[n++].text = SLICE_LIT("say \"hi\"");
    ev[n].type = BK_EV_TOOL_CALL_DELTA;
    ev[n].tool.has_id = ev[n].tool.has_name = ev[n].tool.has_args = true;
    ev[n].tool.id = SLICE_LIT("call_1");
    ev[n].tool.name = SLICE_LIT("f");
    ev[n++].tool.args = SLICE_LIT("{\"a\":");
    ev[n].type = BK_EV_FINISH;
    ev[n++].text = SLICE_LIT("length");
    ev[n].type = BK_EV_USAGE;
    ev[n].usage.has = BK_USAGE_PROMPT | BK_USAGE_COMPLETION | BK_USAGE_TOTAL | BK_USAGE_CACHE_HIT |
                      BK_USAGE_CACHE_MISS | BK_USAGE_REASONING;
    ev[n].usage.prompt_tokens = 100;
    ev[n].usage.prompt_cache_hit_tokens = 64;
    ev[n].usage.prompt_cache_miss_tokens = 36;
    ev[n].usage.completion_tokens = 7;
    ev[n].usage.total_tokens = 107;
    ev[n++].usage.reasoning_tokens = 2;
    return n;
}

static void anthropic_whole_message(void **state)
{
    (void)state;
    bk_event_t ev[12];
    int n = flow(ev);
    api_anth_enc_t e;
    api_anth_enc_init(&e, false, "rid", "deepseek-flash", 1, 1 << 20);
    assert_int_equal(api_anth_enc_events(&e, ev, n, NULL), 0);
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(api_anth_enc_finish(&e, &b), 0);
    assert_string_equal(
        b.data,
        "{\"id\":\"msg_abc\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"deepseek-"
        "flash\","
        "\"content\":[{\"type\":\"thinking\",\"thinking\":\"think\",\"signature\":\"\"},"
        "{\"type\":\"text\",\"text\":\"say \\\"hi\\\"\"},{\"type\":\"tool_use\",\"id\":\"call_1\","
        "\"name\":\"f\",\"input\":{}}],\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":36,\"cache_creation_input_tokens\":0,"
        "\"cache_read_input_tokens\":64,\"output_tokens\":7}}");
    buf_free(&b);
    api_anth_enc_free(&e);
}

static void anthropic_stream_events(void **state)
{
    (void)state;
    bk_event_t ev[12];
    int n = flow(ev);
    api_anth_enc_t e;
    api_anth_enc_init(&e, true, "rid", "m", 1, 1 << 20);
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(api_anth_enc_events(&e, ev, n, &b), 0);
    assert_int_equal(api_anth_enc_finish(&e, &b), 0);
    /* the event names in order */
    char names[1024] = "";
    for (const char *p = b.data; (p = strstr(p, "event: ")); p += 7) {
        const char *end = strchr(p, '\n');
        strncat(names, p + 7, (size_t)(end - p - 7));
        strcat(names, ",");
    }
    assert_string_equal(names, "message_start,ping,content_block_start,content_block_delta,"
                               "content_block_stop,content_block_start,content_block_delta,"
                               "content_block_stop,content_block_start,content_block_delta,"
                               "content_block_stop,message_delta,message_stop,");
    assert_non_null(strstr(b.data,
                           "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
                           "\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}"));
    assert_non_null(
        strstr(b.data, "\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null}"));
    buf_free(&b);
    api_anth_enc_free(&e);
}

static void responses_stream_sequence_and_incomplete(void **state)
{
    (void)state;
    bk_event_t ev[12];
    int n = flow(ev);
    api_resp_enc_t e;
    api_resp_enc_init(&e, true, "rid", "m", 1, 1 << 20);
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(api_resp_enc_events(&e, ev, n, &b), 0);
    assert_int_equal(api_resp_enc_finish(&e, &b), 0);
    int seq = 0;
    for (const char *p = b.data; (p = strstr(p, "\"sequence_number\":")); p++) {
        assert_int_equal(atoi(p + 18), seq);
        seq++;
    }
    /* created, in_progress; reasoning and message: 6 each; the call: 4; incomplete */
    assert_int_equal(seq, 2 + 6 + 6 + 4 + 1);
    assert_non_null(strstr(b.data, "event: response.incomplete\n"));
    assert_non_null(strstr(b.data, "\"incomplete_details\":{\"reason\":\"max_output_tokens\"}"));
    assert_non_null(strstr(b.data, "\"usage\":{\"input_tokens\":100,\"input_tokens_details\":{"
                                   "\"cached_tokens\":64},\"output_tokens\":7,"
                                   "\"output_tokens_details\":{\"reasoning_tokens\":2},"
                                   "\"total_tokens\":107}"));
    assert_non_null(
        strstr(b.data, "\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}"));
    buf_free(&b);
    api_resp_enc_free(&e);
}

static void too_many_blocks_is_refused(void **state)
{
    (void)state;
    api_anth_enc_t e;
    api_anth_enc_init(&e, false, "rid", "m", 1, 1 << 20);
    bk_event_t ev[2];
    memset(ev, 0, sizeof ev);
    ev[0].type = BK_EV_REASONING_DELTA;
    ev[0].text = SLICE_LIT("r");
    ev[1].type = BK_EV_CONTENT_DELTA;
    ev[1].text = SLICE_LIT("c");
    int rc = 0;
    for (int i = 0; i < API_BLOCKS_MAX && rc == 0; i++)
        rc = api_anth_enc_events(&e, ev, 2, NULL);
    assert_int_equal(rc, -1);
    api_anth_enc_free(&e);
    /* and a text over max_answer */
    api_anth_enc_init(&e, false, "rid", "m", 1, 4);
    ev[1].text = SLICE_LIT("12345");
    assert_int_equal(api_anth_enc_events(&e, &ev[1], 1, NULL), -1);
    api_anth_enc_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(translation_cases_from_data_file),
        cmocka_unit_test(model_map_first_match_wins),
        cmocka_unit_test(anthropic_error_statuses),
        cmocka_unit_test(anthropic_whole_message),
        cmocka_unit_test(anthropic_stream_events),
        cmocka_unit_test(responses_stream_sequence_and_incomplete),
        cmocka_unit_test(too_many_blocks_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
