/* test_encode.c - upstream answer JSON -> events -> DeepSeek JSON, byte for byte. The cases
 * live in tests/data/encode/cases.jsonl: upstream chunks in, exact client bytes out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/encode.h"
#include "backend/chunk.h"

typedef struct {
    bk_sink_t sink;
    api_enc_t enc;
    buf_t out;
    int errors;
    char error_msg[256];
} enc_sink_t;

static int on_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    enc_sink_t *e = (enc_sink_t *)s;
    for (int i = 0; i < n; i++)
        if (ev[i].type == BK_EV_ERROR) {
            e->errors++;
            snprintf(e->error_msg, sizeof e->error_msg, "%.*s", (int)ev[i].error.message.len,
                     ev[i].error.message.ptr);
            return -1;
        }
    return api_enc_events(&e->enc, ev, n, &e->out);
}

/* An encoder sink plus the chunk state feeding it, for the single-chunk tests below. */
typedef struct {
    enc_sink_t s;
    bk_chunk_state_t st;
    char why[160];
} rig_t;

static void rig_init(rig_t *r, bool stream, size_t max_answer)
{
    memset(r, 0, sizeof *r);
    r->s.sink.events = on_events;
    api_enc_init(&r->s.enc, false, stream, false, "id", "m", 1, max_answer);
    buf_init(&r->s.out, 1024);
    bk_chunk_state_init(&r->st);
}

static int rig_feed(rig_t *r, const char *json)
{
    return bk_chunk_deliver(&r->st, json, strlen(json), &r->s.sink, r->why, sizeof r->why);
}

static void rig_free(rig_t *r)
{
    bk_chunk_state_free(&r->st);
    api_enc_free(&r->s.enc);
    buf_free(&r->s.out);
}

static void run_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    enc_sink_t s;
    memset(&s, 0, sizeof s);
    s.sink.events = on_events;
    api_enc_init(&s.enc, json_is_true(json_object_get(c, "fim")),
                 json_is_true(json_object_get(c, "stream")),
                 json_is_true(json_object_get(c, "include_usage")), "req-fallback", "asked-model",
                 1700000000, 1 << 20);
    buf_init(&s.out, 1 << 20);
    bk_chunk_state_t st;
    bk_chunk_state_init(&st);
    size_t i;
    json_t *chunk;
    json_array_foreach(json_object_get(c, "in"), i, chunk)
    {
        char *text = json_dumps(chunk, JSON_COMPACT);
        char why[160];
        int rc = bk_chunk_deliver(&st, text, strlen(text), &s.sink, why, sizeof why);
        free(text);
        if (rc)
            fail_msg("case '%s': chunk %zu: rc %d (%s)", name, i, rc, why);
    }
    assert_int_equal(api_enc_finish(&s.enc, &s.out), 0);
    const char *want = json_string_value(json_object_get(c, "out"));
    if (strcmp(s.out.data, want) != 0)
        fail_msg("case '%s':\n got: %s\nwant: %s", name, s.out.data, want);
    bk_chunk_state_free(&st);
    api_enc_free(&s.enc);
    buf_free(&s.out);
}

static void encode_cases_from_data_file(void **state)
{
    (void)state;
    FILE *f = fopen(SEEKD_SOURCE_DIR "/tests/data/encode/cases.jsonl", "r");
    assert_non_null(f);
    char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *c = json_loads(line, 0, &jerr);
        if (!c)
            fail_msg("cases.jsonl line %d: %s", n + 1, jerr.text);
        run_case(c);
        json_decref(c);
        n++;
    }
    fclose(f);
    assert_true(n >= 10);
}

static void upstream_error_object_becomes_error_event(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, true, 1024);
    assert_int_equal(rig_feed(&r, "{\"error\":{\"message\":\"Server overloaded\",\"type\":\"x\"}}"),
                     BK_CHUNK_STOP);
    assert_int_equal(r.s.errors, 1);
    assert_string_equal(r.s.error_msg, "Server overloaded");
    rig_free(&r);
}

static void malformed_chunks_deliver_nothing(void **state)
{
    (void)state;
    const char *bad[] = {"{\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"oops\"", "[1,2]",
                         "{\"id\":\"no choices\"}", "<html>502</html>", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rig_t r;
        rig_init(&r, true, 1024);
        assert_int_equal(rig_feed(&r, bad[i]), BK_CHUNK_MALFORMED);
        assert_true(r.why[0] != '\0');
        assert_int_equal(r.s.out.len, 0);
        rig_free(&r);
    }
}

static void stream_error_event_is_one_data_line(void **state)
{
    (void)state;
    api_error_t err;
    api_error_set(&err, 502, "api_error", NULL, NULL, "upstream cut");
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(api_enc_error(&err, &b), 0);
    assert_string_equal(b.data, "data: {\"error\":{\"message\":\"upstream cut\",\"type\":\"api_"
                                "error\",\"param\":null,\"code\":null}}\n\n");
    buf_free(&b);
}

static void aggregate_cap_is_enforced(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, false, 8);
    assert_int_equal(
        rig_feed(&r, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"0123456789\"}}]}"),
        BK_CHUNK_STOP);
    rig_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_cases_from_data_file),
        cmocka_unit_test(upstream_error_object_becomes_error_event),
        cmocka_unit_test(malformed_chunks_deliver_nothing),
        cmocka_unit_test(stream_error_event_is_one_data_line),
        cmocka_unit_test(aggregate_cap_is_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
