/* test_base.c - capped buffers, key masking and the JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/error.h"
#include "base/buf.h"
#include "base/log.h"
#include "json/jw.h"

static void buf_refuses_to_grow_past_cap(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345678", 8), 0);
    assert_int_equal(buf_append(&b, "9", 1), BUF_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    buf_consume(&b, 3);
    assert_string_equal(b.data, "45678");
    assert_int_equal(buf_printf(&b, "%d", 123), 0);
    assert_string_equal(b.data, "45678123");
    assert_int_equal(buf_printf(&b, "%d", 4), BUF_ETOOBIG);
    buf_free(&b);
}

static void mask_key_shows_prefix_and_last_four(void **state)
{
    (void)state;
    char out[64];
    const char *k = "sk-0123456789abcdef";
    assert_string_equal(log_mask_key(k, strlen(k), out, sizeof out), "sk-\xe2\x80\xa6"
                                                                     "cdef");
    assert_string_equal(log_mask_key("short", 5, out, sizeof out), "\xe2\x80\xa6");
    const char *noprefix = "abcdefghijklmnop";
    assert_string_equal(log_mask_key(noprefix, strlen(noprefix), out, sizeof out),
                        "\xe2\x80\xa6mnop");
}

static void jw_str_escapes_controls_and_invalid_utf8(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1024);
    const char in[] = "a\"b\\c\n\x01\xe4\xbd\xa0\xff";
    assert_int_equal(jw_str(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xe4\xbd\xa0\xef\xbf\xbd\"");
    buf_reset(&b);
    jw_double(&b, -0.00002467602);
    assert_string_equal(b.data, "-2.467602e-05");
    buf_reset(&b);
    jw_double(&b, 0.5);
    assert_string_equal(b.data, "0.5");
    buf_reset(&b);
    jw_double(&b, 0.7); /* not 0.69999999999999996 */
    assert_string_equal(b.data, "0.7");
    buf_reset(&b);
    jw_double(&b, 0.1 + 0.2); /* needs all 17 digits to read back */
    assert_string_equal(b.data, "0.30000000000000004");
    assert_true(strtod(b.data, NULL) == 0.1 + 0.2);
    buf_reset(&b);
    jw_double(&b, 1.0 / 0.0);
    assert_string_equal(b.data, "null");
    buf_free(&b);
}

static void error_envelope_has_all_four_fields(void **state)
{
    (void)state;
    api_error_t err;
    assert_int_equal(api_error_invalid(&err, 400, "temperature", "bad %s", "value"), -1);
    buf_t b;
    buf_init(&b, 1024);
    api_error_encode(&err, &b);
    assert_string_equal(b.data, "{\"error\":{\"message\":\"bad value\",\"type\":\"invalid_request_"
                                "error\",\"param\":\"temperature\",\"code\":\"invalid_request_"
                                "error\"}}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_refuses_to_grow_past_cap),
        cmocka_unit_test(mask_key_shows_prefix_and_last_four),
        cmocka_unit_test(jw_str_escapes_controls_and_invalid_utf8),
        cmocka_unit_test(error_envelope_has_all_four_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
