/* test_keys.c - client keys: DeepSeek's form, HMAC-SHA256 (RFC 4231 test case 2), key ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/keys.h"

static void generated_keys_have_deepseeks_form_and_differ(void **state)
{
    (void)state;
    char a[GW_KEY_LEN + 1], b[GW_KEY_LEN + 1];
    assert_int_equal(gw_key_generate(a), 0);
    assert_int_equal(gw_key_generate(b), 0);
    assert_int_equal(strlen(a), 35);
    assert_true(gw_key_well_formed(a, strlen(a)));
    assert_string_not_equal(a, b);
}

static void the_form_is_checked_exactly(void **state)
{
    (void)state;
    const char *good = "sk-0123456789abcdef0123456789abcdef";
    assert_true(gw_key_well_formed(good, strlen(good)));
    const char *bad[] = {
        "sk-0123456789abcdef0123456789abcde",   /* 31 digits */
        "sk-0123456789abcdef0123456789abcdef0", /* 33 */
        "sk-0123456789ABCDEF0123456789abcdef",  /* upper case */
        "sk_0123456789abcdef0123456789abcdef",  "sk-0123456789abcdef0123456789abcdeg", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (gw_key_well_formed(bad[i], strlen(bad[i])))
            fail_msg("accepted '%s'", bad[i]);
}

static void hmac_is_hmac_sha256_and_the_id_its_prefix(void **state)
{
    (void)state;
    /* RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?" */
    gw_secret_t s = {.len = 4};
    memcpy(s.bytes, "Jefe", 4);
    const char *data = "what do ya want for nothing?";
    uint8_t mac[STORE_HMAC_LEN];
    gw_key_hmac(&s, data, strlen(data), mac);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    char id[STORE_KEY_ID_LEN + 1];
    gw_key_id(mac, id);
    assert_string_equal(id, "5bdcc146bf60");
    uint8_t other[STORE_HMAC_LEN];
    memcpy(other, mac, sizeof other);
    assert_true(gw_hmac_equal(mac, other));
    other[31] ^= 1;
    assert_false(gw_hmac_equal(mac, other));
}

/* The loop's prepared HMAC gives what the one-shot one gives, call after call: RFC 4231's
 * test case 2, then keys of every length up to 300 bytes under a 32-byte secret. */
static void the_prepared_hmac_equals_the_one_shot(void **state)
{
    (void)state;
    gw_secret_t jefe = {.len = 4};
    memcpy(jefe.bytes, "Jefe", 4);
    gw_hmac_t *h = gw_hmac_new(&jefe);
    uint8_t out[STORE_HMAC_LEN];
    static const uint8_t want[STORE_HMAC_LEN] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                                 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                                 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                                 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    for (int round = 0; round < 3; round++) {
        gw_hmac_run(h, "what do ya want for nothing?", 28, out);
        assert_memory_equal(out, want, STORE_HMAC_LEN);
    }
    gw_hmac_free(h);

    gw_secret_t sec = {.len = 32};
    for (int i = 0; i < 32; i++)
        sec.bytes[i] = (uint8_t)(i * 7 + 1);
    h = gw_hmac_new(&sec);
    char key[300];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= sizeof key; len += 7) {
        uint8_t a[STORE_HMAC_LEN], b[STORE_HMAC_LEN];
        gw_hmac_run(h, key, len, a);
        gw_key_hmac(&sec, key, len, b);
        assert_memory_equal(a, b, STORE_HMAC_LEN);
    }
    gw_hmac_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_keys_have_deepseeks_form_and_differ),
        cmocka_unit_test(the_form_is_checked_exactly),
        cmocka_unit_test(hmac_is_hmac_sha256_and_the_id_its_prefix),
        cmocka_unit_test(the_prepared_hmac_equals_the_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
