/* test_accounts.c - the accounts at request time, with a real event loop and database thread:
 * who may call, holds that admit only what the balance covers, settles that bill and survive
 * a stop, changes made by another writer seen within a second, and holds left open by a crash
 * released at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "gateway/accounts.h"

#define UNITS(x) ((gw_nano_t)((x)*1000000000LL))

typedef struct {
    char dir[64], path[128];
    char key[GW_KEY_LEN + 1];
    char key_id[STORE_KEY_ID_LEN + 1];
    struct event_base *base;
} rig_t;

/* A database with one key "alice" (0.2 granted, 1 topped up) made as the CLI makes it. */
static int setup(void **state)
{
    rig_t *r = calloc(1, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/seekd-acct-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->path, sizeof r->path, "%s/a.db", r->dir);
    char err[256];
    store_t *s = store_open(r->path, err, sizeof err);
    gw_secret_t secret;
    if (!s || gw_secret_load(s, &secret, err, sizeof err) || gw_key_generate(r->key))
        return -1;
    store_key_t k;
    memset(&k, 0, sizeof k);
    gw_key_hmac(&secret, r->key, GW_KEY_LEN, k.hmac);
    gw_key_id(k.hmac, k.key_id);
    memcpy(r->key_id, k.key_id, sizeof r->key_id);
    snprintf(k.name, sizeof k.name, "alice");
    snprintf(k.models, sizeof k.models, "deepseek-flash,deepseek-v4-pro");
    k.granted = UNITS(0.2);
    k.topped_up = UNITS(1);
    k.enabled = true;
    if (store_key_create(s, &k, k.hmac, 1, err, sizeof err) != STORE_OK)
        return -1;
    store_close(s);
    evthread_use_pthreads();
    r->base = event_base_new();
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    rig_t *r = *state;
    event_base_free(r->base);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    int rc = system(cmd);
    free(r);
    return rc == 0 ? 0 : -1;
}

/* Runs the loop until *flag is set or ms pass. */
static void run_until(struct event_base *base, const bool *flag, int ms)
{
    for (int i = 0; i < ms / 10 && !*flag; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

typedef struct {
    bool done;
    store_rc_t rc;
    int64_t id;
} hold_out_t;

static void on_hold(void *ud, store_rc_t rc, int64_t id)
{
    hold_out_t *o = ud;
    o->done = true;
    o->rc = rc;
    o->id = id;
}

static hold_out_t hold(rig_t *r, accounts_t *a, gw_nano_t amount)
{
    hold_out_t o = {0};
    accounts_hold(a, r->key_id, amount, "req", "deepseek-flash", 0, 5, on_hold, &o);
    assert_false(o.done); /* never inside the call */
    run_until(r->base, &o.done, 5000);
    assert_true(o.done);
    return o;
}

static store_key_t key_now(rig_t *r)
{
    char err[256];
    store_t *s = store_open(r->path, err, sizeof err);
    assert_non_null(s);
    store_key_t k;
    assert_int_equal(store_key_find(s, "alice", &k, err, sizeof err), STORE_OK);
    store_close(s);
    return k;
}

static void who_may_call(void **state)
{
    rig_t *r = *state;
    char err[256];
    accounts_t *a = accounts_open(r->base, r->path, 0, err, sizeof err);
    assert_non_null(a);
    assert_true(accounts_active(a));
    const acct_key_t *k;
    const char *msg = NULL;
    assert_int_equal(accounts_authorize(a, r->key, GW_KEY_LEN, "deepseek-flash", 10, &k, &msg), 0);
    assert_string_equal(k->key_id, r->key_id);
    assert_string_equal(k->name, "alice");
    char other[GW_KEY_LEN + 1];
    memcpy(other, r->key, sizeof other);
    other[GW_KEY_LEN - 1] = other[GW_KEY_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(accounts_authorize(a, other, GW_KEY_LEN, NULL, 10, &k, &msg), 401);
    assert_string_equal(msg, "Authentication Fails, the api key is invalid");
    assert_null(k);
    assert_int_equal(accounts_authorize(a, "sk-short", 8, NULL, 10, &k, &msg), 401);
    assert_int_equal(accounts_authorize(a, NULL, 0, NULL, 10, &k, &msg), 401);
    assert_int_equal(accounts_authorize(a, r->key, GW_KEY_LEN, "deepseek-chat", 10, &k, &msg), 403);
    assert_string_equal(msg, "this api key may not use this model");
    accounts_free(a);
}

static void holds_admit_what_the_balance_covers_and_settles_bill(void **state)
{
    rig_t *r = *state;
    char err[256];
    accounts_t *a = accounts_open(r->base, r->path, 0, err, sizeof err);
    assert_non_null(a);
    hold_out_t h1 = hold(r, a, UNITS(0.7));
    assert_int_equal(h1.rc, STORE_OK);
    assert_int_equal(hold(r, a, UNITS(0.6)).rc, STORE_NO_BALANCE);
    store_row_t row = {.at = 6,
                       .request_id = "req",
                       .model = "deepseek-flash",
                       .status = "ok",
                       .cost = UNITS(0.25)};
    accounts_settle(a, h1.id, &row);
    assert_int_equal(accounts_pending(a), 1);
    bool never = false;
    run_until(r->base, &never, 300);
    assert_int_equal(accounts_pending(a), 0);
    store_key_t k = key_now(r);
    assert_int_equal(k.granted, 0);
    assert_int_equal(k.topped_up, UNITS(0.95));
    assert_int_equal(k.held, 0);

    /* a settle still queued when the server stops is written before accounts_free returns */
    hold_out_t h2 = hold(r, a, UNITS(0.1));
    row.cost = UNITS(0.05);
    accounts_settle(a, h2.id, &row);
    accounts_free(a);
    k = key_now(r);
    assert_int_equal(k.topped_up, UNITS(0.9));
    assert_int_equal(k.held, 0);
}

static void a_cancelled_hold_is_released_and_never_calls_back(void **state)
{
    rig_t *r = *state;
    char err[256];
    accounts_t *a = accounts_open(r->base, r->path, 0, err, sizeof err);
    hold_out_t o = {0};
    acct_hold_t *h = accounts_hold(a, r->key_id, UNITS(0.5), "gone", "m", 0, 5, on_hold, &o);
    accounts_hold_cancel(h);
    bool never = false;
    run_until(r->base, &never, 300);
    assert_false(o.done);
    assert_int_equal(accounts_pending(a), 0);
    assert_int_equal(key_now(r).held, 0);
    accounts_free(a);
}

static void another_writers_change_is_seen_within_a_second(void **state)
{
    rig_t *r = *state;
    char err[256];
    accounts_t *a = accounts_open(r->base, r->path, 0, err, sizeof err);
    const acct_key_t *k;
    const char *msg;
    assert_int_equal(accounts_authorize(a, r->key, GW_KEY_LEN, NULL, 10, &k, &msg), 0);
    store_t *cli = store_open(r->path, err, sizeof err);
    assert_int_equal(store_key_set_enabled(cli, r->key_id, false, err, sizeof err), STORE_OK);
    store_close(cli);
    int waited = 0;
    while (accounts_authorize(a, r->key, GW_KEY_LEN, NULL, 10, &k, &msg) == 0 && waited < 3000) {
        bool never = false;
        run_until(r->base, &never, 50);
        waited += 50;
    }
    assert_true(waited <= 1500);
    assert_string_equal(msg, "Authentication Fails, the api key is disabled");
    accounts_free(a);
}

static void holds_left_by_a_crash_are_released_at_start(void **state)
{
    rig_t *r = *state;
    char err[256];
    store_t *s = store_open(r->path, err, sizeof err);
    int64_t id;
    store_hold_info_t info = {.request_id = "crashed", .model = "m", .at = 1};
    assert_int_equal(store_hold(s, r->key_id, UNITS(0.3), &info, &id, err, sizeof err), STORE_OK);
    store_close(s);
    assert_int_equal(key_now(r).held, UNITS(0.3));
    accounts_t *a = accounts_open(r->base, r->path, 0, err, sizeof err);
    assert_non_null(a);
    store_key_t k = key_now(r);
    assert_int_equal(k.held, 0);
    assert_int_equal(k.topped_up + k.granted, UNITS(1.2));
    accounts_free(a);
    s = store_open(r->path, err, sizeof err);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(who_may_call, setup, teardown),
        cmocka_unit_test_setup_teardown(holds_admit_what_the_balance_covers_and_settles_bill, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_cancelled_hold_is_released_and_never_calls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(another_writers_change_is_seen_within_a_second, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(holds_left_by_a_crash_are_released_at_start, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
