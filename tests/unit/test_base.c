/* test_base.c - capped buffers, key ids, SHA-256 and the JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/error.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/sha256.h"
#include "json/jw.h"

static void buf_refuses_to_grow_past_cap(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345", 5), 0);
    assert_int_equal(buf_printf(&b, "%d", 678), 0);
    assert_string_equal(b.data, "12345678");
    assert_false(buf_failed(&b));
    assert_int_equal(buf_append(&b, "9", 1), BUF_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    buf_consume(&b, 3);
    assert_string_equal(b.data, "45678");
    buf_free(&b);
}

/* A refused piece poisons the buffer: what follows is refused too, even when it would fit, so
 * the content is always a prefix of what the builder meant, never a message with a hole. */
static void buf_stays_failed_after_a_refused_append(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 16);
    assert_int_equal(buf_puts(&b, "Bearer "), 0);
    assert_int_equal(buf_append(&b, "0123456789abcdef", 16), BUF_ETOOBIG);
    assert_true(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "\r\n"), BUF_ETOOBIG);
    assert_int_equal(buf_append(&b, "x", 1), BUF_ETOOBIG);
    assert_int_equal(buf_printf(&b, "%d", 1), BUF_ETOOBIG);
    assert_int_equal(buf_reserve(&b, 1), BUF_ETOOBIG);
    assert_int_equal(buf_append(&b, "", 0), BUF_ETOOBIG);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.data, "Bearer ");
    /* consuming makes room but does not forgive */
    buf_consume(&b, 7);
    assert_true(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "x"), BUF_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void buf_failure_from_reserve_and_printf(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(buf_reserve(&b, 9), BUF_ETOOBIG);
    assert_true(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "a"), BUF_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_free(&b);

    buf_init(&b, 300);
    assert_int_equal(buf_puts(&b, "ab"), 0);
    /* longer than printf's stack scratch: the second, in-place path refuses too */
    assert_int_equal(buf_printf(&b, "%299d", 7), BUF_ETOOBIG);
    assert_true(buf_failed(&b));
    assert_int_equal(buf_printf(&b, "%d", 7), BUF_ETOOBIG);
    assert_string_equal(b.data, "ab");
    assert_int_equal(b.len, 2);
    buf_free(&b);
}

static void buf_reset_free_and_init_clear_the_failure(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 4);
    assert_int_equal(buf_puts(&b, "12345"), BUF_ETOOBIG);
    buf_reset(&b);
    assert_false(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "1234"), 0);
    assert_string_equal(b.data, "1234");
    assert_int_equal(buf_puts(&b, "5"), BUF_ETOOBIG);
    buf_free(&b);
    assert_false(buf_failed(&b));
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_puts(&b, "abcd"), 0);
    assert_string_equal(b.data, "abcd");
    assert_int_equal(buf_puts(&b, "e"), BUF_ETOOBIG);
    buf_free(&b);
    buf_init(&b, 4);
    b.failed = true; /* a recycled struct: init starts it afresh */
    buf_init(&b, 4);
    assert_false(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "ok"), 0);
    buf_free(&b);
}

/* jw builders inherit the poisoning: a string cut at the cap leaves no closing quote that a
 * later, smaller append could add after it. */
static void jw_after_failure_adds_nothing(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(jw_str(&b, "abcdefgh", 8), BUF_ETOOBIG);
    assert_int_equal(jw_int(&b, 1), BUF_ETOOBIG);
    assert_int_equal(jw_key(&b, "k"), BUF_ETOOBIG);
    assert_string_equal(b.data, "\"");
    assert_true(buf_failed(&b));
    buf_free(&b);
}

static void hex(const uint8_t *d, char out[2 * SHA256_SIZE + 1])
{
    for (int i = 0; i < SHA256_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* FIPS 180-4's examples, and lengths around the 55/56 and 64-byte padding edges (expected
 * values from Python's hashlib). */
static void sha256_matches_known_digests(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t xs; /* in == NULL: this many 'x' */
        const char *want;
    } cases[] = {
        {"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 0, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {NULL, 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"},
        {NULL, 56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"},
        {NULL, 63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"},
        {NULL, 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"},
        {NULL, 119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c"},
        {NULL, 120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98"},
    };
    char xs[128];
    memset(xs, 'x', sizeof xs);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t d[SHA256_SIZE];
        char got[2 * SHA256_SIZE + 1];
        if (cases[i].in)
            sha256(cases[i].in, strlen(cases[i].in), d);
        else
            sha256(xs, cases[i].xs, d);
        hex(d, got);
        assert_string_equal(got, cases[i].want);
    }
    /* a million 'a': many blocks */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    uint8_t d[SHA256_SIZE];
    char got[2 * SHA256_SIZE + 1];
    sha256(a, 1000000, d);
    hex(d, got);
    assert_string_equal(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* A key id is the first 8 hex digits of the key's SHA-256 (`sha256sum | cut -c1-8`), the same
 * for every length: no character of the key shows, a short one included. */
static void key_id_is_a_sha256_prefix_and_shows_no_character(void **state)
{
    (void)state;
    char id[LOG_KEY_ID_SIZE];
    const char *k = "sk-test-0123456789abcdef";
    assert_string_equal(log_key_id(k, strlen(k), id), "c871f067");
    assert_string_equal(log_key_id("k1", 2, id), "6ab9f1eb");
    assert_string_equal(log_key_id("local-token", 11, id), "c7ec7c54");
    assert_int_equal(strlen(id), LOG_KEY_ID_LEN);
    /* only the given bytes count */
    assert_string_equal(log_key_id("k1-and-more", 2, id), "6ab9f1eb");
}

/* A peer's text in a log line cannot start a line of its own (log injection). */
static void a_log_line_is_one_line_whatever_its_arguments(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), 2), 2);
    log_set_level(LOG_INFO);
    log_msg(LOG_WARN, "upstream said: %s",
            "bad\n2026-01-01T00:00:00.000Z ERROR forged\r\x1b[0m\x7f");
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    char got[512] = "";
    rewind(tmp);
    size_t n = fread(got, 1, sizeof got - 1, tmp);
    fclose(tmp);
    got[n] = 0;
    const char *msg = strstr(got, "warn  ");
    assert_non_null(msg);
    assert_string_equal(msg,
                        "warn  upstream said: bad?2026-01-01T00:00:00.000Z ERROR forged??[0m?\n");
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

static void jw_int_writes_every_int64(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {-7, "-7"},
                 {1234567890123, "1234567890123"},
                 {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    buf_t b;
    buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        assert_int_equal(jw_int(&b, cases[i].v), 0);
        assert_string_equal(b.data, cases[i].want);
    }
    buf_free(&b);
}

static void slice_copy_cstr_cuts_like_printf(void **state)
{
    (void)state;
    char out[6];
    assert_int_equal(slice_copy_cstr(out, sizeof out, SLICE_LIT("abc")), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(slice_copy_cstr(out, sizeof out, SLICE_LIT("abcdefgh")), 5);
    assert_string_equal(out, "abcde");
    assert_int_equal(slice_copy_cstr(out, sizeof out, SLICE_LIT("ab\0cd")), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(slice_copy_cstr(out, sizeof out, (slice_t){NULL, 0}), 0);
    assert_string_equal(out, "");
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
        cmocka_unit_test(buf_stays_failed_after_a_refused_append),
        cmocka_unit_test(buf_failure_from_reserve_and_printf),
        cmocka_unit_test(buf_reset_free_and_init_clear_the_failure),
        cmocka_unit_test(jw_after_failure_adds_nothing),
        cmocka_unit_test(sha256_matches_known_digests),
        cmocka_unit_test(key_id_is_a_sha256_prefix_and_shows_no_character),
        cmocka_unit_test(a_log_line_is_one_line_whatever_its_arguments),
        cmocka_unit_test(jw_str_escapes_controls_and_invalid_utf8),
        cmocka_unit_test(jw_int_writes_every_int64),
        cmocka_unit_test(slice_copy_cstr_cuts_like_printf),
        cmocka_unit_test(error_envelope_has_all_four_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
