/* test_pool.c - choosing (upstream, key) and tracking key health. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/pool.h"

static const pool_policy_t POLICY = {
    .error_threshold = 2, .error_window_ms = 1000, .eject_ms = 500, .cooldown_ms = 100};

static const char *const K3[] = {"sk-k1-0000", "sk-k2-0000", "sk-k3-0000"};
static const char *const ALL[] = {"*"};

static pool_pick_result_t pick(pool_t *p, const char *model, const pool_pick_t *tried, int ntried,
                               int64_t now, pool_pick_t *out)
{
    pool_refusal_t why;
    return pool_pick(p, model, 0, tried, ntried, now, out, &why);
}

static void keys_rotate_round_robin(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x/", .keys = K3, .nkeys = 3, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    assert_string_equal(p.ups[0].url, "http://x");
    int seen[6];
    for (int i = 0; i < 6; i++) {
        pool_pick_t o;
        assert_int_equal(pick(&p, "deepseek-chat", NULL, 0, 0, &o), PICK_OK);
        seen[i] = o.key;
    }
    int want[6] = {0, 1, 2, 0, 1, 2};
    assert_memory_equal(seen, want, sizeof want);
    pool_free(&p);
}

static void a_request_never_reuses_a_key(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 3, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    pool_pick_t tried[3];
    int n = 0;
    pool_pick_t o;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pick(&p, "m", tried, n, 0, &o), PICK_OK);
        for (int j = 0; j < n; j++)
            assert_int_not_equal(tried[j].key, o.key);
        tried[n++] = o;
    }
    pool_refusal_t why;
    assert_int_equal(pool_pick(&p, "m", 0, tried, n, 0, &o, &why), PICK_NONE);
    assert_non_null(strstr(why.msg, "tried"));
    pool_free(&p);
}

static void concurrency_limit_makes_requests_wait(void **state)
{
    (void)state;
    pool_upstream_def_t d = {.name = "a",
                             .url = "http://x",
                             .keys = K3,
                             .nkeys = 2,
                             .models = ALL,
                             .nmodels = 1,
                             .max_per_key = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    pool_pick_t o;
    assert_int_equal(pick(&p, "m", NULL, 0, 0, &o), PICK_OK);
    p.ups[0].keys[o.key].active++;
    assert_int_equal(pick(&p, "m", NULL, 0, 0, &o), PICK_OK);
    p.ups[0].keys[o.key].active++;
    assert_int_equal(pick(&p, "m", NULL, 0, 0, &o), PICK_WAIT);
    p.ups[0].keys[1].active--;
    assert_int_equal(pick(&p, "m", NULL, 0, 0, &o), PICK_OK);
    assert_int_equal(o.key, 1);
    pool_free(&p);
}

static void priority_then_weight(void **state)
{
    (void)state;
    const char *const m1[] = {"deepseek-chat"};
    pool_upstream_def_t d[3] = {
        {.name = "backup",
         .url = "http://b",
         .keys = K3,
         .nkeys = 1,
         .models = ALL,
         .nmodels = 1,
         .priority = 5,
         .weight = 1},
        {.name = "heavy",
         .url = "http://h",
         .keys = K3 + 1,
         .nkeys = 1,
         .models = m1,
         .nmodels = 1,
         .priority = 0,
         .weight = 3},
        {.name = "light",
         .url = "http://l",
         .keys = K3 + 2,
         .nkeys = 1,
         .models = m1,
         .nmodels = 1,
         .priority = 0,
         .weight = 1},
    };
    pool_t p;
    pool_init(&p, d, 3, &POLICY);
    int count[3] = {0};
    for (int i = 0; i < 400; i++) {
        pool_pick_t o;
        assert_int_equal(pick(&p, "deepseek-chat", NULL, 0, 0, &o), PICK_OK);
        count[o.up]++;
    }
    assert_int_equal(count[0], 0);
    assert_int_equal(count[1], 300);
    assert_int_equal(count[2], 100);
    /* a model only the backup serves goes there */
    pool_pick_t o;
    assert_int_equal(pick(&p, "deepseek-reasoner", NULL, 0, 0, &o), PICK_OK);
    assert_int_equal(o.up, 0);
    /* the heavy and light keys were tried: the backup is next */
    const pool_pick_t tried[] = {{1, 0}, {2, 0}};
    assert_int_equal(pick(&p, "deepseek-chat", tried, 2, 0, &o), PICK_OK);
    assert_int_equal(o.up, 0);
    pool_free(&p);
}

/* POLICY: 2 failures within 1 s, at least half of the attempts there. */
static void one_429_does_not_cool_a_key(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 2, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    assert_false(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 2000, "429", 1000));
    assert_int_equal(p.ups[0].keys[0].state, KEY_OK);
    pool_pick_t o;
    assert_int_equal(pick(&p, "m", NULL, 0, 1001, &o), PICK_OK);
    assert_int_equal(o.key, 0);
    /* two 429s among five answers: under half, still in */
    for (int t = 1010; t < 1040; t += 10)
        pool_report(&p, 0, 0, OUT_OK, -1, NULL, t);
    assert_false(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 2000, "429", 1050));
    assert_int_equal(p.ups[0].keys[0].state, KEY_OK);
    /* a third: half of six */
    assert_true(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 2000, "429", 1060));
    assert_int_equal(p.ups[0].keys[0].state, KEY_COOLDOWN);
    assert_int_equal(p.ups[0].keys[0].until_ms, 3060);
    /* 429s farther apart than the window do not add up */
    assert_false(pool_report(&p, 0, 1, OUT_RATE_LIMIT, 2000, "429", 0));
    assert_false(pool_report(&p, 0, 1, OUT_RATE_LIMIT, 2000, "429", 5000));
    pool_free(&p);
}

static void a_key_429ing_while_others_serve_is_cooled_for_retry_after(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 3, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    assert_false(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 2000, "429", 1000));
    assert_true(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 2000, "429", 1100));
    assert_int_equal(p.ups[0].keys[0].state, KEY_COOLDOWN);
    assert_int_equal(p.ups[0].keys[0].until_ms, 3100);
    assert_string_equal(p.ups[0].keys[0].reason, "429");
    pool_pick_t o;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pick(&p, "m", NULL, 0, 1500, &o), PICK_OK);
        assert_int_not_equal(o.key, 0);
    }
    assert_false(pool_tick(&p, 3099));
    assert_true(pool_tick(&p, 3100));
    assert_int_equal(p.ups[0].keys[0].state, KEY_OK);
    /* without Retry-After the cooldown starts at cooldown_ms and doubles each time */
    pool_report(&p, 0, 1, OUT_RATE_LIMIT, -1, "429", 10000);
    pool_report(&p, 0, 1, OUT_RATE_LIMIT, -1, "429", 10000);
    assert_int_equal(p.ups[0].keys[1].state, KEY_COOLDOWN);
    assert_int_equal(p.ups[0].keys[1].until_ms, 10100);
    pool_tick(&p, 10100);
    pool_report(&p, 0, 1, OUT_RATE_LIMIT, -1, "429", 10100);
    assert_int_equal(p.ups[0].keys[1].until_ms, 10300);
    /* an answer ends the backoff */
    pool_tick(&p, 10300);
    pool_report(&p, 0, 1, OUT_OK, -1, NULL, 10300);
    for (int i = 0; i < 3; i++)
        pool_report(&p, 0, 1, OUT_RATE_LIMIT, -1, "429", 10400);
    assert_int_equal(p.ups[0].keys[1].until_ms, 10500);
    pool_free(&p);
}

static void the_last_usable_key_of_a_model_is_never_cooled(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 2, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    pool_report(&p, 0, 0, OUT_RATE_LIMIT, 5000, "429", 0);
    pool_report(&p, 0, 0, OUT_RATE_LIMIT, 5000, "429", 0);
    assert_int_equal(p.ups[0].keys[0].state, KEY_COOLDOWN);
    /* key 1 is the last one left: its 429s go to the requests that got them */
    for (int i = 0; i < 6; i++)
        assert_false(pool_report(&p, 0, 1, OUT_RATE_LIMIT, 5000, "429", 10));
    assert_int_equal(p.ups[0].keys[1].state, KEY_OK);
    pool_pick_t o;
    assert_int_equal(pick(&p, "m", NULL, 0, 20, &o), PICK_OK);
    assert_int_equal(o.key, 1);
    /* a key cooling and the other rejected: nothing can serve, 429 until the first is back */
    pool_report(&p, 0, 1, OUT_AUTH, -1, "401", 20);
    pool_refusal_t why;
    assert_int_equal(pool_pick(&p, "m", 0, NULL, 0, 1000, &o, &why), PICK_NONE);
    assert_int_equal(why.status, 429);
    assert_int_equal(why.retry_after_ms, 4000);
    pool_free(&p);

    /* "a" serves one model, "b" every model: a's key has b to carry it, b's key has nobody
     * for the other models */
    const char *const chat[] = {"deepseek-chat"};
    pool_upstream_def_t two[2] = {
        {.name = "a", .url = "http://a", .keys = K3, .nkeys = 1, .models = chat, .nmodels = 1},
        {.name = "b", .url = "http://b", .keys = K3 + 1, .nkeys = 1, .models = ALL, .nmodels = 1},
    };
    pool_init(&p, two, 2, &POLICY);
    for (int i = 0; i < 3; i++)
        pool_report(&p, 1, 0, OUT_RATE_LIMIT, 5000, "429", 0);
    assert_int_equal(p.ups[1].keys[0].state, KEY_OK);
    pool_report(&p, 0, 0, OUT_RATE_LIMIT, 5000, "429", 0);
    assert_true(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 5000, "429", 0));
    assert_int_equal(p.ups[0].keys[0].state, KEY_COOLDOWN);
    pool_free(&p);
}

static void server_errors_never_eject_the_last_key_or_upstream(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 1, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    for (int i = 0; i < 6; i++)
        assert_false(pool_report(&p, 0, 0, i % 2 ? OUT_SERVER : OUT_CONNECT, -1, "503", 10));
    assert_int_equal(p.ups[0].keys[0].state, KEY_OK);
    assert_false(p.ups[0].ejected);
    /* the client's own keys: the only upstream is never ejected either */
    for (int i = 0; i < 6; i++)
        assert_false(pool_report(&p, 0, -1, OUT_SERVER, -1, "503", 10));
    assert_false(p.ups[0].ejected);
    pool_free(&p);
}

/* Rates are counted over the last POOL_WINDOW attempts: a threshold above that counts as
 * POOL_WINDOW, and older attempts fall out. */
static void the_window_keeps_the_last_32_attempts(void **state)
{
    (void)state;
    pool_policy_t pol = POLICY;
    pol.error_threshold = 100;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 2, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &pol);
    for (int i = 0; i < 40; i++)
        pool_report(&p, 0, 0, OUT_OK, -1, NULL, 10);
    for (int i = 0; i < 31; i++)
        assert_false(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 1000, "429", 20));
    assert_true(pool_report(&p, 0, 0, OUT_RATE_LIMIT, 1000, "429", 20));
    assert_int_equal(p.ups[0].keys[0].state, KEY_COOLDOWN);
    pool_free(&p);
}

static void auth_failure_disables_until_a_probe_succeeds(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = K3, .nkeys = 1, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    pool_report(&p, 0, 0, OUT_AUTH, -1, "upstream 401: invalid key", 0);
    assert_int_equal(p.ups[0].keys[0].state, KEY_DISABLED);
    assert_string_equal(p.ups[0].keys[0].reason, "upstream 401: invalid key");
    pool_pick_t o;
    pool_refusal_t why;
    assert_int_equal(pool_pick(&p, "m", 0, NULL, 0, 10, &o, &why), PICK_NONE);
    assert_int_equal(why.status, 502);
    assert_string_equal(why.type, "authentication_error");
    assert_non_null(strstr(why.msg, "rejected by the upstream (upstream 401: invalid key)"));
    assert_true(pool_needs_probe(&p, 0, 0, 10));
    pool_probe_result(&p, 0, 0, false, "probe answered 401", 20);
    assert_int_equal(p.ups[0].keys[0].state, KEY_DISABLED);
    pool_probe_result(&p, 0, 0, true, "probe answered 200", 30);
    assert_int_equal(p.ups[0].keys[0].state, KEY_OK);
    assert_int_equal(pick(&p, "m", NULL, 0, 40, &o), PICK_OK);
    pool_report(&p, 0, 0, OUT_NO_BALANCE, -1, "402", 50);
    assert_int_equal(p.ups[0].keys[0].state, KEY_NO_BALANCE);
    assert_true(pool_needs_probe(&p, 0, 0, 50));
    pool_free(&p);
}

static void errors_at_a_high_rate_eject_while_another_upstream_serves(void **state)
{
    (void)state;
    pool_upstream_def_t d[2] = {
        {.name = "primary",
         .url = "http://p",
         .keys = K3,
         .nkeys = 1,
         .models = ALL,
         .nmodels = 1,
         .priority = 0},
        {.name = "backup",
         .url = "http://b",
         .keys = K3 + 1,
         .nkeys = 1,
         .models = ALL,
         .nmodels = 1,
         .priority = 1},
    };
    pool_t p;
    pool_init(&p, d, 2, &POLICY);
    assert_false(pool_report(&p, 0, 0, OUT_SERVER, -1, "500", 0));
    assert_false(p.ups[0].ejected);
    assert_true(pool_report(&p, 0, 0, OUT_SERVER, -1, "500", 100));
    assert_true(p.ups[0].ejected);
    assert_string_equal(p.ups[0].reason, "500");
    assert_int_equal(p.ups[0].keys[0].state, KEY_EJECTED);
    assert_int_equal(p.ups[0].keys[0].until_ms, 600);
    pool_pick_t o;
    assert_int_equal(pick(&p, "m", NULL, 0, 200, &o), PICK_OK);
    assert_int_equal(o.up, 1);
    /* the backup is all that is left: its errors go to the requests that got them */
    for (int i = 0; i < 4; i++)
        assert_false(pool_report(&p, 1, 0, OUT_CONNECT, -1, "connect", 300));
    assert_false(p.ups[1].ejected);
    assert_int_equal(p.ups[1].keys[0].state, KEY_OK);
    /* the backup's key rejected too: the ejected primary is still tried rather than refusing */
    pool_report(&p, 1, 0, OUT_AUTH, -1, "401", 400);
    assert_int_equal(pick(&p, "m", NULL, 0, 500, &o), PICK_OK);
    assert_int_equal(o.up, 0);
    /* rested and probed: back */
    assert_true(pool_needs_probe(&p, 0, 0, 600));
    pool_probe_result(&p, 0, 0, true, "200", 601);
    assert_false(p.ups[0].ejected);
    assert_int_equal(p.ups[0].keys[0].state, KEY_OK);
    pool_free(&p);
}

static void client_keys_rotate_and_are_not_reused(void **state)
{
    (void)state;
    pool_upstream_def_t d = {
        .name = "a", .url = "http://x", .keys = NULL, .nkeys = 0, .models = ALL, .nmodels = 1};
    pool_t p;
    pool_init(&p, &d, 1, &POLICY);
    pool_pick_t tried[2]; /* the client brought two keys */
    pool_pick_t o;
    pool_refusal_t why;
    assert_int_equal(pool_pick(&p, "m", 2, tried, 0, 0, &o, &why), PICK_OK);
    assert_int_equal(o.key, -1);
    tried[0] = o;
    assert_int_equal(pool_pick(&p, "m", 2, tried, 1, 0, &o, &why), PICK_OK);
    assert_int_equal(o.key, -2);
    tried[1] = o;
    assert_int_equal(pool_pick(&p, "m", 2, tried, 2, 0, &o, &why), PICK_NONE);
    pool_free(&p);
}

/* "Tried" is per (upstream, key): the same key string on a second upstream, or the client's
 * own key there, is still worth an attempt when the first upstream failed. */
static void a_shared_key_is_tried_on_each_upstream(void **state)
{
    (void)state;
    static const char *const one[] = {"sk-shared-0000"};
    pool_upstream_def_t d[2] = {
        {.name = "a",
         .url = "http://a",
         .keys = one,
         .nkeys = 1,
         .models = ALL,
         .nmodels = 1,
         .priority = 1},
        {.name = "b",
         .url = "http://b",
         .keys = one,
         .nkeys = 1,
         .models = ALL,
         .nmodels = 1,
         .priority = 2},
    };
    pool_t p;
    pool_init(&p, d, 2, &POLICY);
    pool_pick_t tried[2], o;
    pool_refusal_t why;
    assert_int_equal(pick(&p, "m", tried, 0, 0, &o), PICK_OK);
    assert_int_equal(o.up, 0);
    tried[0] = o;
    assert_int_equal(pick(&p, "m", tried, 1, 0, &o), PICK_OK);
    assert_int_equal(o.up, 1);
    assert_int_equal(o.key, 0);
    tried[1] = o;
    assert_int_equal(pool_pick(&p, "m", 0, tried, 2, 0, &o, &why), PICK_NONE);
    /* the client's own (one) key: once per upstream too */
    assert_int_equal(pool_pick(&p, "m", 1, tried, 0, 0, &o, &why), PICK_OK);
    assert_true(o.up == 0 && o.key == -1);
    tried[0] = o;
    assert_int_equal(pool_pick(&p, "m", 1, tried, 1, 0, &o, &why), PICK_OK);
    assert_true(o.up == 1 && o.key == -1);
    tried[1] = o;
    assert_int_equal(pool_pick(&p, "m", 1, tried, 2, 0, &o, &why), PICK_NONE);
    pool_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_rotate_round_robin),
        cmocka_unit_test(a_request_never_reuses_a_key),
        cmocka_unit_test(concurrency_limit_makes_requests_wait),
        cmocka_unit_test(priority_then_weight),
        cmocka_unit_test(one_429_does_not_cool_a_key),
        cmocka_unit_test(a_key_429ing_while_others_serve_is_cooled_for_retry_after),
        cmocka_unit_test(the_last_usable_key_of_a_model_is_never_cooled),
        cmocka_unit_test(server_errors_never_eject_the_last_key_or_upstream),
        cmocka_unit_test(the_window_keeps_the_last_32_attempts),
        cmocka_unit_test(auth_failure_disables_until_a_probe_succeeds),
        cmocka_unit_test(errors_at_a_high_rate_eject_while_another_upstream_serves),
        cmocka_unit_test(client_keys_rotate_and_are_not_reused),
        cmocka_unit_test(a_shared_key_is_tried_on_each_upstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
