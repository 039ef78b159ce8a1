/* test_limits.c - per-key GCRA limits at their edges, with an explicit clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "gateway/limits.h"

static void rpm_allows_a_minutes_worth_then_spaces_them(void **state)
{
    (void)state;
    gw_limits_t *l = gw_limits_new();
    gw_limit_cfg_t cfg = {.rpm = 6}; /* one every 10 s, six at once */
    int64_t retry;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 1000, &retry), GW_LIMIT_OK);
        gw_limits_end(l, "k", &cfg, 0, 0);
    }
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 1000, &retry), GW_LIMIT_RPM);
    assert_int_equal(retry, 10000);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 10999, &retry), GW_LIMIT_RPM);
    assert_int_equal(retry, 1);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 11000, &retry), GW_LIMIT_OK);
    /* another key is not touched */
    assert_int_equal(gw_limits_admit(l, "other", &cfg, 0, 11000, &retry), GW_LIMIT_OK);
    gw_limits_free(l);
}

static void tpm_counts_the_estimate_and_corrects_it_at_the_end(void **state)
{
    (void)state;
    gw_limits_t *l = gw_limits_new();
    gw_limit_cfg_t cfg = {.tpm = 1000};
    int64_t retry;
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 800, 0, &retry), GW_LIMIT_OK);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 300, 0, &retry), GW_LIMIT_TPM);
    assert_int_equal(retry, 6000); /* 100 tokens' worth of a minute */
    /* the first used only 200: the correction frees 600 */
    gw_limits_end(l, "k", &cfg, 800, 200);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 300, 0, &retry), GW_LIMIT_OK);
    /* a request bigger than a minute's tokens passes only on a full bucket */
    gw_limits_t *m = gw_limits_new();
    assert_int_equal(gw_limits_admit(m, "k", &cfg, 5000, 0, &retry), GW_LIMIT_OK);
    assert_int_equal(gw_limits_admit(m, "k", &cfg, 1, 0, &retry), GW_LIMIT_TPM);
    gw_limits_free(m);
    gw_limits_free(l);
}

static void concurrency_counts_requests_in_flight(void **state)
{
    (void)state;
    gw_limits_t *l = gw_limits_new();
    gw_limit_cfg_t cfg = {.concurrency = 2};
    int64_t retry;
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_OK);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_OK);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_CONCURRENCY);
    assert_int_equal(retry, 1000);
    gw_limits_end(l, "k", &cfg, 0, 0);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_OK);
    /* no limits: nothing kept */
    gw_limit_cfg_t none = {0};
    assert_int_equal(gw_limits_admit(l, "free", &none, 1 << 30, 0, &retry), GW_LIMIT_OK);
    gw_limits_free(l);
}

static void many_keys_grow_the_table(void **state)
{
    (void)state;
    gw_limits_t *l = gw_limits_new();
    gw_limit_cfg_t cfg = {.concurrency = 1};
    int64_t retry;
    char id[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "key%04d", i);
        assert_int_equal(gw_limits_admit(l, id, &cfg, 0, 0, &retry), GW_LIMIT_OK);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "key%04d", i);
        assert_int_equal(gw_limits_admit(l, id, &cfg, 0, 0, &retry), GW_LIMIT_CONCURRENCY);
    }
    gw_limits_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rpm_allows_a_minutes_worth_then_spaces_them),
        cmocka_unit_test(tpm_counts_the_estimate_and_corrects_it_at_the_end),
        cmocka_unit_test(concurrency_counts_requests_in_flight),
        cmocka_unit_test(many_keys_grow_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
