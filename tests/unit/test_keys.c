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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_keys_have_deepseeks_form_and_differ),
        cmocka_unit_test(the_form_is_checked_exactly),
        cmocka_unit_test(hmac_is_hmac_sha256_and_the_id_its_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
