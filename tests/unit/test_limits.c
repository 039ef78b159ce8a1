/* test_limits.c - per-key GCRA limits at their edges, with an explicit clock; the share each
 * instance enforces alone while Redis is away; redis:// URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/limits.h"
#include "gateway/redis_url.h"

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

static void alone_each_instance_gets_the_limit_divided_rounded_down_never_zero(void **state)
{
    (void)state;
    gw_limit_cfg_t cfg = {.rpm = 10, .tpm = 100001, .concurrency = 3};
    gw_limit_cfg_t s = gw_limit_cfg_share(&cfg, 2);
    assert_int_equal(s.rpm, 5);
    assert_int_equal(s.tpm, 50000); /* down: two instances never pass more than the limit */
    assert_int_equal(s.concurrency, 1);
    s = gw_limit_cfg_share(&cfg, 4);
    assert_int_equal(s.rpm, 2);
    assert_int_equal(s.concurrency, 1); /* 3 / 4 is 0, which would refuse everything: 1 */
    s = gw_limit_cfg_share(&cfg, 1);
    assert_int_equal(s.rpm, 10);
    assert_int_equal(s.tpm, 100001);
    assert_int_equal(s.concurrency, 3);
    /* 0 is no limit, and stays none; n < 1 counts as 1 */
    gw_limit_cfg_t none = {.rpm = 0, .tpm = 7, .concurrency = 0};
    s = gw_limit_cfg_share(&none, 1000);
    assert_int_equal(s.rpm, 0);
    assert_int_equal(s.tpm, 1);
    assert_int_equal(s.concurrency, 0);
    s = gw_limit_cfg_share(&cfg, 0);
    assert_int_equal(s.rpm, 10);
}

static void requests_admitted_elsewhere_count_in_flight_here(void **state)
{
    (void)state;
    gw_limits_t *l = gw_limits_new();
    gw_limit_cfg_t cfg = {.concurrency = 2};
    int64_t retry;
    gw_limits_track(l, "k", 1); /* admitted by Redis */
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_OK);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_CONCURRENCY);
    gw_limits_track(l, "k", -1);
    assert_int_equal(gw_limits_admit(l, "k", &cfg, 0, 0, &retry), GW_LIMIT_OK);
    gw_limits_track(l, "unknown", -1); /* nothing to take back: no slot is made */
    gw_limits_free(l);
}

static void redis_urls_parse_strictly_and_never_echo_a_password(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *host;
        int port, db;
        const char *user, *password, *where;
    } good[] = {
        {"redis://127.0.0.1:6390", "127.0.0.1", 6390, 0, "", "", "127.0.0.1:6390"},
        {"redis://cache.lan", "cache.lan", 6379, 0, "", "", "cache.lan:6379"},
        {"redis://h:1/3", "h", 1, 3, "", "", "h:1/3"},
        {"redis://h:1/", "h", 1, 0, "", "", "h:1"},
        {"redis://:s3cr3t@h:7000/15", "h", 7000, 15, "", "s3cr3t", "h:7000/15"},
        {"redis://seekd:p@ss:w0rd@h:7000", "h", 7000, 0, "seekd", "p@ss:w0rd", "h:7000"},
        {"redis://[::1]:6400/2", "::1", 6400, 2, "", "", "[::1]:6400/2"},
        {"redis://[::1]", "::1", 6379, 0, "", "", "[::1]:6379"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        gw_redis_url_t u;
        char err[256] = "", where[300];
        assert_int_equal(gw_redis_url_parse(good[i].url, &u, err, sizeof err), 0);
        assert_string_equal(u.host, good[i].host);
        assert_int_equal(u.port, good[i].port);
        assert_int_equal(u.db, good[i].db);
        assert_string_equal(u.user, good[i].user);
        assert_string_equal(u.password, good[i].password);
        assert_string_equal(gw_redis_url_where(&u, where, sizeof where), good[i].where);
        gw_redis_url_wipe(&u);
        assert_string_equal(u.password, "");
    }
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"127.0.0.1:6379", "it does not start with redis://"},
        {"http://h:1", "it does not start with redis://"},
        {"rediss://:hunter22@h:1", "TLS (rediss://) is not supported"},
        {"redis://", "the host is missing"},
        {"redis://:6379", "the host is missing"},
        {"redis://h:0", "the port must be a number from 1 to 65535"},
        {"redis://h:65536", "the port must be"},
        {"redis://h:12x", "the port must be"},
        {"redis://h:", "the port must be"},
        {"redis://h:1/db1", "the database after '/' must be a number from 0 to 65535"},
        {"redis://h:1/70000", "the database after '/'"},
        {"redis://hunter22@h:1", "the part before '@' must be :PASSWORD or USER:PASSWORD"},
        {"redis://:@h:1", "the password is empty"},
        {"redis://:hunter22@h:1?timeout=5", "options after '?' are not supported"},
        {"redis://:hunter22@h b:1", "a space, a control or a non-ASCII character"},
        {"redis://h\x01:1", "a space, a control or a non-ASCII character"},
        {"redis://::1:6379", "the host is missing"},
        {"redis://[zz]:1", "the IPv6 address in [] is not valid"},
        {"redis://[::1]x", "':PORT' must follow the ']'"},
        {"redis://:hunter22@bad/host:1", "the database after '/'"},
        {"redis://:hunter22@b%61d:1", "the host is missing or not"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_redis_url_t u;
        char err[256] = "";
        if (gw_redis_url_parse(bad[i].url, &u, err, sizeof err) != -1)
            fail_msg("'%s' was accepted", bad[i].url);
        if (!strstr(err, bad[i].why))
            fail_msg("'%s': got '%s', want '%s'", bad[i].url, err, bad[i].why);
        assert_non_null(strstr(err, "redis must be redis://[:PASSWORD@]HOST[:PORT][/DB]: "));
        assert_null(strstr(err, "hunter22"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rpm_allows_a_minutes_worth_then_spaces_them),
        cmocka_unit_test(tpm_counts_the_estimate_and_corrects_it_at_the_end),
        cmocka_unit_test(concurrency_counts_requests_in_flight),
        cmocka_unit_test(many_keys_grow_the_table),
        cmocka_unit_test(alone_each_instance_gets_the_limit_divided_rounded_down_never_zero),
        cmocka_unit_test(requests_admitted_elsewhere_count_in_flight_here),
        cmocka_unit_test(redis_urls_parse_strictly_and_never_echo_a_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
