/* test_config.c - config file parsing and client authorization modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/config.h"
#include "gateway/auth.h"

#define DATA SEEKD_SOURCE_DIR "/tests/data/config/"

static void full_config_file_is_read(void **state)
{
    (void)state;
    seekd_config_t c;
    config_defaults(&c);
    char err[256] = "";
    assert_int_equal(config_load(&c, DATA "good.conf", err, sizeof err), 0);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9001);
    assert_string_equal(c.upstream, "http://127.0.0.1:8001/v1");
    assert_int_equal(c.nkeys, 3);
    assert_string_equal(c.keys[0], "sk-aaaa1111");
    assert_string_equal(c.keys[2], "sk-cccc3333");
    assert_int_equal(c.nclient_keys, 1);
    assert_int_equal(c.nmodels, 3);
    assert_string_equal(c.models[1], "b");
    assert_true(c.allow_open);
    assert_int_equal(c.max_body, 64 * 1024);
    assert_int_equal(c.idle_timeout_ms, 500);
    assert_int_equal(c.log_level, 2);
    config_set_keys(&c, " sk-env-1 ,, sk-env-2");
    assert_int_equal(c.nkeys, 2);
    assert_string_equal(c.keys[1], "sk-env-2");
    config_free(&c);
}

static void sections_define_upstreams_and_the_model_list(void **state)
{
    (void)state;
    seekd_config_t c;
    config_defaults(&c);
    char err[256] = "";
    assert_int_equal(config_load(&c, DATA "sections.conf", err, sizeof err), 0);
    config_finish(&c);
    assert_int_equal(c.nups, 2);
    assert_string_equal(c.ups[0].name, "deepseek");
    assert_int_equal(c.ups[0].nkeys, 2);
    assert_int_equal(c.ups[0].max_per_key, 1);
    assert_int_equal(c.ups[1].priority, 1);
    assert_int_equal(c.ups[1].weight, 3);
    assert_int_equal(c.ups[1].max_per_key, 0); /* the global default */
    assert_int_equal(config_server_keys(&c), 2);
    assert_int_equal(c.ups[1].nmodels, 2);
    assert_string_equal(c.ups[1].models[1], "local-r1");
    /* no top-level list is made up: GET /models merges the upstreams' own at run time */
    assert_int_equal(c.nmodels, 0);
    config_free(&c);
}

static void without_sections_one_default_upstream_serves_everything(void **state)
{
    (void)state;
    seekd_config_t c;
    config_defaults(&c);
    config_set_keys(&c, "sk-env-1");
    config_finish(&c);
    assert_int_equal(c.nups, 1);
    assert_string_equal(c.ups[0].name, "default");
    assert_string_equal(c.ups[0].url, "https://api.deepseek.com");
    assert_string_equal(c.ups[0].models[0], "*");
    assert_int_equal(c.ups[0].nkeys, 1);
    assert_int_equal(c.nmodels, 0); /* GET /models lists what the upstream's own answers */
    assert_int_equal(c.models_refresh_ms, 600000);
    config_free(&c);
}

/* A config file of tests/data/config that must not load, and what the error must say. */
typedef struct {
    const char *file, *want;
} load_case_t;

static void expect_load_errors(const load_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        seekd_config_t c;
        config_defaults(&c);
        char path[512], err[512] = "";
        snprintf(path, sizeof path, DATA "%s", cases[i].file);
        assert_int_equal(config_load(&c, path, err, sizeof err), -1);
        if (!strstr(err, cases[i].want))
            fail_msg("%s: got '%s', want it to contain '%s'", cases[i].file, err, cases[i].want);
        config_free(&c);
    }
}

static void bad_lines_name_file_and_line(void **state)
{
    (void)state;
    const load_case_t cases[] = {
        {"bad-no-equals.conf", "bad-no-equals.conf:2: expected 'key = value'"},
        {"bad-upstream.conf", "bad-upstream.conf:3: upstream must be an http:// or https:// URL"},
        {"bad-unknown.conf", "bad-unknown.conf:2: unknown setting 'max_bodyy'"},
        {"bad-timeout.conf", "bad-timeout.conf:1: idle_timeout_ms must be a whole number"},
        {"bad-port.conf", "bad-port.conf:1: listen must be HOST:PORT"},
        {"does-not-exist.conf", "does-not-exist.conf: cannot open"},
        {"bad-no-url.conf", "bad-no-url.conf:1: upstream 'a' has no url"},
        /* the line of the section without a url, not of the last section */
        {"bad-no-url-first.conf", "bad-no-url-first.conf:1: upstream 'b' has no url"},
    };
    expect_load_errors(cases, sizeof cases / sizeof cases[0]);
}

/* A ' #' (or a tab then '#') starts a comment anywhere in a line: docs/config.md's first
 * example is written that way. A '#' glued to a value is part of it. */
static void inline_comments_are_cut(void **state)
{
    (void)state;
    seekd_config_t c;
    config_defaults(&c);
    char err[512] = "";
    if (config_load(&c, DATA "inline-comments.conf", err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(c.nkeys, 2);
    assert_string_equal(c.keys[0], "sk-first-key");
    assert_string_equal(c.keys[1], "sk-second-key");
    assert_int_equal(c.nclient_keys, 2);
    assert_string_equal(c.client_keys[0], "sk-my-team-key");
    assert_string_equal(c.client_keys[1], "ck-with#hash");
    assert_int_equal(c.nmodels, 2);
    assert_string_equal(c.models[1], "deepseek-reasoner");
    assert_int_equal(c.max_body, 8u << 20);
    config_finish(&c);
    assert_int_equal(config_check(&c, err, sizeof err), 0);
    config_free(&c);
}

/* Every value error from the file names FILE:LINE; key errors name the key's position on its
 * line, never the key. */
static void value_errors_name_file_and_line(void **state)
{
    (void)state;
    const load_case_t cases[] = {
        {"bad-key-space.conf",
         "bad-key-space.conf:3: api key #2 on this line has a space, a control or a non-ASCII "
         "character"},
        {"bad-key-control-in-section.conf",
         "bad-key-control-in-section.conf:3: api key #2 on this line has a space"},
        {"bad-client-key-tab.conf",
         "bad-client-key-tab.conf:3: client_key #2 on this line has a space"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seekd_config_t c;
        config_defaults(&c);
        char path[512], err[512] = "";
        snprintf(path, sizeof path, DATA "%s", cases[i].file);
        assert_int_equal(config_load(&c, path, err, sizeof err), -1);
        if (!strstr(err, cases[i].want))
            fail_msg("%s: got '%s', want it to contain '%s'", cases[i].file, err, cases[i].want);
        assert_null(strstr(err, "sk-"));
        config_free(&c);
    }
}

/* What used to start with something else than what was written: a directory as the file,
 * "[upstreams foo]" as an upstream "s", "[upstream a b]" as "a", and a top-level key that
 * sections make unused. */
static void what_would_be_misread_is_refused(void **state)
{
    (void)state;
    const load_case_t cases[] = {
        {"", "config/: not a config file (a directory)"},
        {"bad-section-plural.conf",
         "bad-section-plural.conf:1: expected a section '[upstream NAME]'"},
        {"bad-section-two-words.conf",
         "bad-section-two-words.conf:1: expected a section '[upstream NAME]'"},
        {"bad-mix-api-key.conf",
         "bad-mix-api-key.conf:2: a top-level 'api_key' is not used when the file defines "
         "[upstream] sections (line 4): move it into a section"},
        {"bad-mix-upstream.conf", "bad-mix-upstream.conf:1: a top-level 'upstream' is not used"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seekd_config_t c;
        config_defaults(&c);
        char path[512], err[512] = "";
        snprintf(path, sizeof path, DATA "%s", cases[i].file);
        assert_int_equal(config_load(&c, path, err, sizeof err), -1);
        if (!strstr(err, cases[i].want))
            fail_msg("'%s': got '%s', want it to contain '%s'", cases[i].file, err, cases[i].want);
        config_free(&c);
    }
}

static void misspelt_settings_get_a_suggestion(void **state)
{
    (void)state;
    const load_case_t cases[] = {
        {"bad-unknown.conf", ":2: unknown setting 'max_bodyy' (did you mean 'max_body'?)"},
        {"bad-near-miss.conf",
         ":1: unknown setting 'idle_timeout' (did you mean 'idle_timeout_ms'?)"},
        {"bad-section-typo.conf",
         ":3: unknown setting 'api_keys' in an [upstream] section (did you mean 'api_key'?)"},
        {"bad-top-in-section.conf",
         ":3: 'listen' is a top-level setting: put it above the first [upstream] section"},
        {"bad-section-at-top.conf", ":1: 'url' is only valid inside an [upstream NAME] section"},
    };
    expect_load_errors(cases, sizeof cases / sizeof cases[0]);
}

/* The names "did you mean" knows are the documented ones: each `key` of a table in
 * docs/config.md is known, and each known top-level name is one config_set accepts. */
static void documented_settings_are_known(void **state)
{
    (void)state;
    FILE *f = fopen(SEEKD_SOURCE_DIR "/docs/config.md", "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[128];
        if (sscanf(line, "| `%127[a-z_]` |", name) != 1)
            continue;
        n++;
        if (!config_known_setting(name))
            fail_msg("docs/config.md documents '%s', which config.c does not list", name);
        seekd_config_t c;
        config_defaults(&c);
        char err[512] = "";
        config_set(&c, name, "1", err, sizeof err);
        if (strstr(err, "unknown setting"))
            fail_msg("'%s' is documented but config_set does not know it", name);
        config_free(&c);
    }
    fclose(f);
    assert_true(n >= 20);
}

/* redis, redis_instances, redis_timeout_ms: defaults, good values, and errors that say what is
 * wrong without repeating a password. */
static void redis_settings(void **state)
{
    (void)state;
    seekd_config_t c;
    config_defaults(&c);
    assert_null(c.redis);
    assert_int_equal(c.redis_instances, 1);
    assert_int_equal(c.redis_timeout_ms, 100);
    char err[512] = "";
    assert_int_equal(config_set(&c, "redis", "redis://:pw-1@10.0.0.5:6380/2", err, sizeof err), 0);
    assert_string_equal(c.redis, "redis://:pw-1@10.0.0.5:6380/2");
    assert_int_equal(config_set(&c, "redis_instances", "3", err, sizeof err), 0);
    assert_int_equal(c.redis_instances, 3);
    assert_int_equal(config_set(&c, "redis_timeout_ms", "50", err, sizeof err), 0);
    assert_int_equal(c.redis_timeout_ms, 50);
    static const struct {
        const char *key, *value, *want;
    } bad[] = {
        {"redis", "localhost:6379",
         "redis must be redis://[:PASSWORD@]HOST[:PORT][/DB]: it does "
         "not start with redis://"},
        {"redis", "redis://:pw-secret-9@h:99999", "the port must be a number from 1 to 65535"},
        {"redis_instances", "0", "redis_instances must be a whole number from 1 to 1000"},
        {"redis_instances", "two", "redis_instances must be"},
        {"redis_timeout_ms", "0", "redis_timeout_ms must be a whole number from 1 to 10000"},
        {"redis_timeout_ms", "20000", "redis_timeout_ms must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(config_set(&c, bad[i].key, bad[i].value, err, sizeof err), -1);
        if (!strstr(err, bad[i].want))
            fail_msg("%s = %s: got '%s', want '%s'", bad[i].key, bad[i].value, err, bad[i].want);
        assert_null(strstr(err, "pw-secret-9"));
    }
    /* a refused value changes nothing */
    assert_string_equal(c.redis, "redis://:pw-1@10.0.0.5:6380/2");
    assert_int_equal(c.redis_instances, 3);
    assert_int_equal(c.redis_timeout_ms, 50);
    config_free(&c);
    assert_null(c.redis);
}

static void urls_and_keys_must_be_visible_words(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *want; /* want NULL: accepted */
    } cases[] = {
        {"api_key", "sk-good-1, sk-good-2", NULL},
        {"api_key", "sk-a\x01b", "api key #1 has a space, a control or a non-ASCII character"},
        {"api_key", "sk-ok, sk-has space", "api key #2 has a space"},
        {"api_key", "sk-\xc3\xa9", "api key #1 has"},
        {"api_key", "sk-del\x7f", "api key #1 has"},
        {"upstream", "http://h:1/v1 x", "the url has a space or a control character"},
        {"upstream", "http://h:1/v1\x1b", "the url has"},
        {"client_key", "ck-1, ck\t2", "client_key #2 has"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seekd_config_t c;
        config_defaults(&c);
        char err[512] = "";
        assert_int_equal(config_set(&c, cases[i].key, cases[i].value, err, sizeof err), 0);
        config_finish(&c);
        int rc = config_check(&c, err, sizeof err);
        if (!cases[i].want) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err, cases[i].want))
                fail_msg("case %zu: got '%s', want it to contain '%s'", i, err, cases[i].want);
            assert_null(strstr(err, "sk-")); /* the key itself is never in the message */
        }
        config_free(&c);
    }
}

/* Keys over CFG_MAX_KEY bytes are refused at start-up, naming the upstream and the key's
 * position, never the key: a request would otherwise carry a cut or empty Authorization. */
static void keys_longer_than_the_bound_are_refused(void **state)
{
    (void)state;
    char at[CFG_MAX_KEY + 1], over[CFG_MAX_KEY + 2], csv[3 * CFG_MAX_KEY];
    memset(at, 'k', CFG_MAX_KEY);
    at[CFG_MAX_KEY] = '\0';
    memset(over, 'q', CFG_MAX_KEY + 1);
    over[CFG_MAX_KEY + 1] = '\0';
    static const struct {
        const char *key;
        bool over_second; /* "sk-ok, <long>": the long key is #2 */
        bool over;
        const char *want;
    } cases[] = {
        {"api_key", false, false, NULL},
        {"api_key", true, true, "upstream 'default': api key #2 is longer than 1024 bytes"},
        {"api_key", false, true, "upstream 'default': api key #1 is longer than 1024 bytes"},
        {"client_key", false, false, NULL},
        {"client_key", true, true, "client_key #2 is longer than 1024 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seekd_config_t c;
        config_defaults(&c);
        const char *k = cases[i].over ? over : at;
        snprintf(csv, sizeof csv, "%s%s", cases[i].over_second ? "sk-ok, " : "", k);
        char err[512] = "";
        assert_int_equal(config_set(&c, cases[i].key, csv, err, sizeof err), 0);
        config_finish(&c);
        int rc = config_check(&c, err, sizeof err);
        if (!cases[i].want) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(err, cases[i].want);
        }
        config_free(&c);
    }

    /* a named upstream, its key from the file, and DEEPSEEK_API_KEY's path (config_set_keys) */
    seekd_config_t c;
    config_defaults(&c);
    c.nups = 1;
    snprintf(c.ups[0].name, sizeof c.ups[0].name, "vllm");
    snprintf(c.ups[0].url, sizeof c.ups[0].url, "http://h:1/v1");
    c.ups[0].weight = 1;
    c.ups[0].max_per_key = -1;
    char err[512] = "";
    char *owned = strdup(over);
    c.ups[0].keys[c.ups[0].nkeys++] = owned;
    config_finish(&c);
    assert_int_equal(config_check(&c, err, sizeof err), -1);
    assert_string_equal(err, "upstream 'vllm': api key #1 is longer than 1024 bytes");
    config_free(&c);

    config_defaults(&c);
    config_set_keys(&c, over);
    config_finish(&c);
    assert_int_equal(config_check(&c, err, sizeof err), -1);
    assert_string_equal(err, "upstream 'default': api key #1 is longer than 1024 bytes");
    config_free(&c);
}

static void listen_forms(void **state)
{
    (void)state;
    seekd_config_t c;
    config_defaults(&c);
    assert_int_equal(config_parse_listen(&c, "[::1]:8080"), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(config_parse_listen(&c, ":0"), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(config_parse_listen(&c, "nohost"), -1);
    assert_int_equal(config_parse_listen(&c, "h:12x"), -1);
    assert_true(config_is_loopback("127.0.0.1"));
    assert_true(config_is_loopback("::1"));
    assert_false(config_is_loopback("0.0.0.0"));
    config_free(&c);
}

/* The open-relay guard (main.c) reads addresses, not prefixes of strings. */
static void loopback_is_parsed_not_prefix_matched(void **state)
{
    (void)state;
    assert_true(config_is_loopback("127.0.0.1"));
    assert_true(config_is_loopback("127.9.8.7"));
    assert_true(config_is_loopback("::1"));
    assert_true(config_is_loopback("0:0:0:0:0:0:0:1"));
    assert_true(config_is_loopback("::ffff:127.0.0.1"));
    assert_true(config_is_loopback("localhost"));
    assert_false(config_is_loopback("0.0.0.0"));
    assert_false(config_is_loopback("::"));
    assert_false(config_is_loopback("::ffff:10.0.0.1"));
    assert_false(config_is_loopback("127.attacker.invalid"));
    assert_false(config_is_loopback("127.0.0.1.invalid"));
    assert_false(config_is_loopback(""));
}

static void auth_bring_your_own_token_splits_pools(void **state)
{
    (void)state;
    gw_auth_cfg_t cfg = {0};
    gw_auth_t a;
    assert_int_equal(gw_authorize(&cfg, "Bearer k1,k2,k3", &a), 0);
    assert_int_equal(a.nbyot, 3);
    assert_string_equal(a.byot[0], "k1");
    assert_string_equal(a.byot[2], "k3");
    assert_int_equal(gw_authorize(&cfg, "bearer   sk-x  ", &a), 0);
    assert_int_equal(a.nbyot, 1);
    assert_string_equal(a.byot[0], "sk-x");
}

static void auth_refusals(void **state)
{
    (void)state;
    gw_auth_cfg_t cfg = {0};
    gw_auth_t a;
    assert_int_equal(gw_authorize(&cfg, NULL, &a), -1);
    assert_non_null(a.message);
    assert_int_equal(gw_authorize(&cfg, "", &a), -1);
    assert_int_equal(gw_authorize(&cfg, "Basic abc", &a), -1);
    assert_int_equal(gw_authorize(&cfg, "Bearer ", &a), -1);
    assert_int_equal(gw_authorize(&cfg, "Bearer a\x01b", &a), -1);
    assert_int_equal(gw_authorize(&cfg, "Bearer ,,,", &a), -1);
}

static void auth_client_keys_must_match(void **state)
{
    (void)state;
    const char *keys[] = {"sk-client-1", "sk-client-2"};
    gw_auth_cfg_t cfg = {.client_keys = keys, .nclient_keys = 2, .server_keys = true};
    gw_auth_t a;
    assert_int_equal(gw_authorize(&cfg, "Bearer sk-client-2", &a), 0);
    assert_int_equal(a.nbyot, 0); /* server keys pay */
    assert_int_equal(gw_authorize(&cfg, "Bearer sk-client-3", &a), -1);
    assert_int_equal(gw_authorize(&cfg, "Bearer sk-client-", &a), -1);
    gw_auth_cfg_t open = {.server_keys = true};
    assert_int_equal(gw_authorize(&open, "Bearer anything", &a), 0);
    assert_int_equal(a.nbyot, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_config_file_is_read),
        cmocka_unit_test(sections_define_upstreams_and_the_model_list),
        cmocka_unit_test(without_sections_one_default_upstream_serves_everything),
        cmocka_unit_test(bad_lines_name_file_and_line),
        cmocka_unit_test(inline_comments_are_cut),
        cmocka_unit_test(value_errors_name_file_and_line),
        cmocka_unit_test(what_would_be_misread_is_refused),
        cmocka_unit_test(misspelt_settings_get_a_suggestion),
        cmocka_unit_test(documented_settings_are_known),
        cmocka_unit_test(redis_settings),
        cmocka_unit_test(listen_forms),
        cmocka_unit_test(loopback_is_parsed_not_prefix_matched),
        cmocka_unit_test(urls_and_keys_must_be_visible_words),
        cmocka_unit_test(keys_longer_than_the_bound_are_refused),
        cmocka_unit_test(auth_bring_your_own_token_splits_pools),
        cmocka_unit_test(auth_refusals),
        cmocka_unit_test(auth_client_keys_must_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
