/* test_sse.c - the upstream SSE parser: events, comments, blank lines, CRLF, splits, caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backend/sse.h"

typedef struct {
    char events[16][256];
    int n;
    int idle;
} rec_t;

static int on_data(void *ud, slice_t d)
{
    rec_t *r = ud;
    snprintf(r->events[r->n++], 256, "%.*s", (int)d.len, d.ptr);
    return 0;
}

static void on_idle(void *ud)
{
    ((rec_t *)ud)->idle++;
}

/* Feeds `in` split at every possible point and checks each split yields the same events. */
static void feed_all_splits(const char *in, const char *const *want, int nwant, int idle)
{
    size_t len = strlen(in);
    for (size_t cut = 0; cut <= len; cut++) {
        rec_t r = {0};
        sse_parser_t p;
        sse_init(&p, 1024, on_data, on_idle, &r);
        assert_int_equal(sse_feed(&p, in, cut), 0);
        assert_int_equal(sse_feed(&p, in + cut, len - cut), 0);
        assert_int_equal(sse_finish(&p), 0);
        assert_int_equal(r.n, nwant);
        for (int i = 0; i < nwant; i++)
            assert_string_equal(r.events[i], want[i]);
        assert_int_equal(r.idle, idle);
        sse_free(&p);
    }
}

static void deepseek_stream_with_keepalive_comments(void **state)
{
    (void)state;
    const char *in = ": keep-alive\n\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: [DONE]\n\n";
    const char *want[] = {"{\"a\":1}", "[DONE]"};
    /* each comment is a sign of life, and so is the blank line after it */
    feed_all_splits(in, want, 2, 4);
}

static void crlf_and_cr_line_endings(void **state)
{
    (void)state;
    const char *want[] = {"x", "y"};
    feed_all_splits("data: x\r\n\r\ndata: y\r\n\r\n", want, 2, 0);
    feed_all_splits("data: x\r\rdata: y\r\r", want, 2, 0);
}

static void multi_line_data_joined_and_other_fields_ignored(void **state)
{
    (void)state;
    const char *want[] = {"a\nb"};
    feed_all_splits("event: x\nid: 7\ndata: a\ndata:b\nretry: 5\n\n", want, 1, 0);
}

static void last_event_without_blank_line_is_delivered_at_finish(void **state)
{
    (void)state;
    const char *want[] = {"tail"};
    feed_all_splits("data: tail", want, 1, 0);
}

static void oversized_line_is_refused(void **state)
{
    (void)state;
    rec_t r = {0};
    sse_parser_t p;
    sse_init(&p, 16, on_data, on_idle, &r);
    assert_int_equal(sse_feed(&p, "data: 0123456789abcdefXYZ", 25), SSE_ETOOBIG);
    sse_free(&p);
}

static int stop_at_first(void *ud, slice_t d)
{
    (void)d;
    ((rec_t *)ud)->n++;
    return 7;
}

static void callback_can_stop_parsing(void **state)
{
    (void)state;
    rec_t r = {0};
    sse_parser_t p;
    sse_init(&p, 64, stop_at_first, NULL, &r);
    assert_int_equal(sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18), 7);
    assert_int_equal(r.n, 1);
    sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deepseek_stream_with_keepalive_comments),
        cmocka_unit_test(crlf_and_cr_line_endings),
        cmocka_unit_test(multi_line_data_joined_and_other_fields_ignored),
        cmocka_unit_test(last_event_without_blank_line_is_delivered_at_finish),
        cmocka_unit_test(oversized_line_is_refused),
        cmocka_unit_test(callback_can_stop_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
