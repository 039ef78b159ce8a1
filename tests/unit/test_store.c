/* test_store.c - the SQLite store: schema versions, keys, credits, holds that cannot overspend
 * even from many connections at once, settles that happen exactly once and spend the granted
 * part first, and a verify that catches a balance that does not match its history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store/store.h"

typedef struct {
    char dir[64];
    char path[128];
} tmpdb_t;

static int setup(void **state)
{
    tmpdb_t *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/seekd-store-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/seekd.db", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tmpdb_t *t = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}

static store_t *open_ok(const char *url)
{
    char err[256] = "";
    store_t *s = store_open(url, err, sizeof err);
    if (!s)
        fail_msg("store_open(%s): %s", url, err);
    return s;
}

static void add_key(store_t *s, const char *id, const char *name, gw_nano_t granted,
                    gw_nano_t topped_up)
{
    store_key_t k;
    memset(&k, 0, sizeof k);
    snprintf(k.key_id, sizeof k.key_id, "%s", id);
    snprintf(k.name, sizeof k.name, "%s", name);
    k.currency = GW_CUR_USD;
    k.granted = granted;
    k.topped_up = topped_up;
    k.enabled = true;
    uint8_t hmac[STORE_HMAC_LEN];
    memset(hmac, 0, sizeof hmac);
    snprintf((char *)hmac, sizeof hmac, "%s", id); /* distinct per id, as a real HMAC is */
    char err[256];
    if (store_key_create(s, &k, hmac, 1000, err, sizeof err) != STORE_OK)
        fail_msg("key %s: %s", name, err);
}

static store_key_t get_key(store_t *s, const char *id)
{
    store_key_t k;
    char err[256];
    if (store_key_find(s, id, &k, err, sizeof err) != STORE_OK)
        fail_msg("find %s: %s", id, err);
    return k;
}

#define UNITS(x) ((gw_nano_t)((x)*1000000000LL))

static int read_cny_row(void *ud, const store_ledger_row_t *r)
{
    (*(int *)ud)++;
    assert_string_equal(r->key_id, "0123456789ab");
    assert_string_equal(r->currency, "CNY");
    assert_int_equal(r->cost, 10);
    assert_int_equal(r->miss, 2);
    return 0;
}

static void schema_is_created_and_a_newer_one_is_refused(void **state)
{
    tmpdb_t *t = *state;
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", t->path);
    store_t *s = open_ok(url);
    assert_int_equal(store_schema_version(s), 2);
    store_close(s);
    s = open_ok(t->path); /* a bare path is the same store */
    assert_int_equal(store_schema_version(s), 2);
    store_close(s);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_null(store_open(t->path, err, sizeof err));
    char want[256];
    snprintf(want, sizeof want, "%s: the database has schema version 99; this seekd knows up to 2",
             t->path);
    assert_string_equal(err, want);

    assert_null(store_open("postgres://db/seekd", err, sizeof err));
    assert_string_equal(err, "PostgreSQL stores are not built yet; use sqlite:PATH");
    assert_null(store_open("sqlite:", err, sizeof err));
    assert_string_equal(err, "the database URL names no file");
    assert_null(store_open("/nonexistent-dir/x/seekd.db", err, sizeof err));
    assert_non_null(strstr(err, "cannot open /nonexistent-dir/x/seekd.db"));
}

/* A database written by the first schema (as a version-1 seekd left it) is migrated forward
 * in place: its rows stay, and the new ledger column is filled from their keys. */
static void a_version_1_database_is_migrated_forward(void **state)
{
    tmpdb_t *t = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    const char *v1 =
        "CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);"
        "CREATE TABLE keys (key_id TEXT PRIMARY KEY, hmac BLOB NOT NULL UNIQUE, name TEXT NOT "
        "NULL UNIQUE, currency TEXT NOT NULL, granted INTEGER NOT NULL, topped_up INTEGER NOT "
        "NULL, held INTEGER NOT NULL DEFAULT 0, enabled INTEGER NOT NULL DEFAULT 1, expires "
        "INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, rpm INTEGER NOT NULL DEFAULT 0, "
        "tpm INTEGER NOT NULL DEFAULT 0, concurrency INTEGER NOT NULL DEFAULT 0, models TEXT NOT "
        "NULL DEFAULT '');"
        "CREATE TABLE credits (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, at INTEGER NOT "
        "NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL);"
        "CREATE TABLE holds (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, amount INTEGER NOT "
        "NULL, request_id TEXT NOT NULL, model TEXT NOT NULL, tier INTEGER NOT NULL, at INTEGER "
        "NOT NULL);"
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, key_id TEXT NOT NULL, "
        "request_id TEXT, model TEXT, backend TEXT, upstream TEXT, upstream_key_id TEXT, status "
        "TEXT, hit INTEGER NOT NULL, miss INTEGER NOT NULL, output INTEGER NOT NULL, reasoning "
        "INTEGER NOT NULL, tier INTEGER NOT NULL, cost INTEGER NOT NULL, from_granted INTEGER NOT "
        "NULL, from_topped_up INTEGER NOT NULL, ttft_ms INTEGER NOT NULL, duration_ms INTEGER NOT "
        "NULL, estimated INTEGER NOT NULL);"
        "INSERT INTO keys (key_id, hmac, name, currency, granted, topped_up, created) VALUES "
        "('0123456789ab', x'00', 'old', 'CNY', 0, 90, 1);"
        "INSERT INTO credits (key_id, at, kind, amount) VALUES ('0123456789ab', 1, 'topup', 100);"
        "INSERT INTO ledger (at, key_id, hit, miss, output, reasoning, tier, cost, from_granted, "
        "from_topped_up, ttft_ms, duration_ms, estimated) VALUES (2, '0123456789ab', 1, 2, 3, 0, "
        "0, 10, 0, 10, 5, 6, 0);"
        "PRAGMA user_version = 1;";
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_t *s = open_ok(t->path);
    assert_int_equal(store_schema_version(s), 2);
    char err[256];
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    int n = 0;
    assert_int_equal(store_ledger_each(s, NULL, 0, read_cny_row, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 1);
    store_close(s);
}

static void the_secret_is_made_once_and_kept(void **state)
{
    tmpdb_t *t = *state;
    store_t *s = open_ok(t->path);
    uint8_t a[32], b[32], zero[32] = {0};
    char err[256];
    assert_int_equal(store_secret(s, a, err, sizeof err), STORE_OK);
    assert_memory_not_equal(a, zero, 32);
    store_close(s);
    s = open_ok(t->path);
    assert_int_equal(store_secret(s, b, err, sizeof err), STORE_OK);
    assert_memory_equal(a, b, 32);
    store_close(s);
}

static void keys_are_found_by_hmac_id_and_name(void **state)
{
    tmpdb_t *t = *state;
    store_t *s = open_ok(t->path);
    add_key(s, "0123456789ab", "alice", UNITS(1), UNITS(2));
    add_key(s, "ba9876543210", "bob", 0, 0);
    store_key_t k = get_key(s, "alice");
    assert_string_equal(k.key_id, "0123456789ab");
    assert_int_equal(k.granted, UNITS(1));
    assert_int_equal(k.topped_up, UNITS(2));
    assert_int_equal(k.held, 0);
    assert_true(k.enabled);
    assert_int_equal(k.created, 1000);
    k = get_key(s, "ba9876543210");
    assert_string_equal(k.name, "bob");
    uint8_t hmac[STORE_HMAC_LEN] = {0};
    snprintf((char *)hmac, sizeof hmac, "%s", "0123456789ab");
    char err[256];
    assert_int_equal(store_key_by_hmac(s, hmac, &k, err, sizeof err), STORE_OK);
    assert_string_equal(k.name, "alice");
    hmac[0] ^= 1;
    assert_int_equal(store_key_by_hmac(s, hmac, &k, err, sizeof err), STORE_NOT_FOUND);
    assert_int_equal(store_key_find(s, "carol", &k, err, sizeof err), STORE_NOT_FOUND);
    assert_string_equal(err, "no such key");

    /* a second key by the same name is refused, and nothing of it stays */
    store_key_t dup;
    memset(&dup, 0, sizeof dup);
    snprintf(dup.key_id, sizeof dup.key_id, "ffffffffffff");
    snprintf(dup.name, sizeof dup.name, "alice");
    dup.granted = UNITS(5);
    uint8_t h2[STORE_HMAC_LEN] = {9};
    assert_int_equal(store_key_create(s, &dup, h2, 1, err, sizeof err), STORE_EXISTS);
    assert_string_equal(err, "a key named 'alice' (or with that id) exists");
    assert_int_equal(store_key_find(s, "ffffffffffff", &k, err, sizeof err), STORE_NOT_FOUND);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);

    assert_int_equal(store_key_set_enabled(s, "0123456789ab", false, err, sizeof err), STORE_OK);
    assert_false(get_key(s, "alice").enabled);
    assert_int_equal(store_key_set_enabled(s, "nope", false, err, sizeof err), STORE_NOT_FOUND);
    store_close(s);
}

static void credits_add_up_and_absurd_amounts_are_refused(void **state)
{
    tmpdb_t *t = *state;
    store_t *s = open_ok(t->path);
    add_key(s, "0123456789ab", "alice", 0, 0);
    char err[256];
    assert_int_equal(store_key_credit(s, "0123456789ab", false, UNITS(10), 2000, err, sizeof err),
                     STORE_OK);
    assert_int_equal(store_key_credit(s, "0123456789ab", true, 3, 2001, err, sizeof err), STORE_OK);
    store_key_t k = get_key(s, "alice");
    assert_int_equal(k.topped_up, UNITS(10));
    assert_int_equal(k.granted, 3);
    assert_int_equal(store_key_credit(s, "0123456789ab", false, 0, 1, err, sizeof err), STORE_ERR);
    assert_string_equal(err, "an amount must be above 0 and at most 1000000000 units");
    assert_int_equal(store_key_credit(s, "0123456789ab", false, -5, 1, err, sizeof err), STORE_ERR);
    assert_int_equal(store_key_credit(s, "0123456789ab", false, GW_AMOUNT_MAX, 1, err, sizeof err),
                     STORE_ERR);
    assert_string_equal(err, "the balance would exceed 1000000000 units");
    assert_int_equal(store_key_credit(s, "nope", false, 1, 1, err, sizeof err), STORE_NOT_FOUND);
    assert_int_equal(get_key(s, "alice").topped_up, UNITS(10));
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

static void a_hold_admits_only_what_the_balance_covers_and_settles_once(void **state)
{
    tmpdb_t *t = *state;
    store_t *s = open_ok(t->path);
    add_key(s, "0123456789ab", "alice", UNITS(0.2), UNITS(1));
    char err[256];
    store_hold_info_t info = {.request_id = "r1", .model = "deepseek-flash", .tier = 1, .at = 5};
    int64_t h1 = 0, h2 = 0;
    assert_int_equal(store_hold(s, "0123456789ab", UNITS(0.7), &info, &h1, err, sizeof err),
                     STORE_OK);
    assert_int_equal(get_key(s, "alice").held, UNITS(0.7));
    /* 1.2 - 0.7 = 0.5 left: 0.6 is refused and changes nothing */
    assert_int_equal(store_hold(s, "0123456789ab", UNITS(0.6), &info, &h2, err, sizeof err),
                     STORE_NO_BALANCE);
    assert_string_equal(err, "Insufficient Balance");
    assert_int_equal(get_key(s, "alice").held, UNITS(0.7));
    assert_int_equal(store_hold(s, "0123456789ab", UNITS(0.5), &info, &h2, err, sizeof err),
                     STORE_OK);
    assert_int_equal(store_hold(s, "nope", 1, &info, &h2, err, sizeof err), STORE_NOT_FOUND);

    /* the key cannot be deleted while it holds */
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_EXISTS);
    assert_string_equal(err, "key 0123456789ab has requests in flight; disable it first");

    /* settle: 0.5 spends the 0.2 granted first, then 0.3 topped-up */
    store_row_t row = {.at = 6,
                       .request_id = "r1",
                       .model = "deepseek-flash",
                       .status = "ok",
                       .hit = 10,
                       .miss = 20,
                       .output = 30,
                       .reasoning = 5,
                       .tier = 1,
                       .cost = UNITS(0.5)};
    assert_int_equal(store_settle(s, h1, &row, err, sizeof err), STORE_OK);
    store_key_t k = get_key(s, "alice");
    assert_int_equal(k.granted, 0);
    assert_int_equal(k.topped_up, UNITS(0.7));
    assert_int_equal(k.held, UNITS(0.5));
    /* exactly once */
    assert_int_equal(store_settle(s, h1, &row, err, sizeof err), STORE_NOT_FOUND);
    assert_int_equal(get_key(s, "alice").topped_up, UNITS(0.7));
    /* a cost above the hold is billed: what was delivered is charged */
    row.cost = UNITS(0.9);
    assert_int_equal(store_settle(s, h2, &row, err, sizeof err), STORE_OK);
    k = get_key(s, "alice");
    assert_int_equal(k.topped_up, UNITS(-0.2));
    assert_int_equal(k.held, 0);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    /* a negative balance admits nothing, not even a zero hold... */
    assert_int_equal(store_hold(s, "0123456789ab", 0, &info, &h2, err, sizeof err),
                     STORE_NO_BALANCE);
    row.cost = -1;
    assert_int_equal(store_settle(s, h2, &row, err, sizeof err), STORE_ERR);
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_OK);
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_NOT_FOUND);
    store_close(s);
}

static int count_hold(void *ud, const store_open_hold_t *h)
{
    int *n = ud;
    (*n)++;
    assert_string_equal(h->key_id, "0123456789ab");
    assert_string_equal(h->request_id, "crashed");
    assert_int_equal(h->amount, 42);
    return 0;
}

static void holds_survive_a_reopen_and_verify_catches_tampering(void **state)
{
    tmpdb_t *t = *state;
    store_t *s = open_ok(t->path);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    char err[256];
    int64_t h;
    store_hold_info_t info = {.request_id = "crashed", .model = "m", .at = 1};
    assert_int_equal(store_hold(s, "0123456789ab", 42, &info, &h, err, sizeof err), STORE_OK);
    store_close(s); /* as after kill -9: the hold was committed */
    s = open_ok(t->path);
    int n = 0;
    assert_int_equal(store_open_holds(s, count_hold, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    assert_int_equal(get_key(s, "alice").held, 42);

    /* another connection's commit changes data_version; our own do not need to */
    int64_t v0, v1;
    assert_int_equal(store_data_version(s, &v0, err, sizeof err), STORE_OK);
    store_t *other = open_ok(t->path);
    assert_int_equal(store_key_credit(other, "0123456789ab", true, 1, 2, err, sizeof err),
                     STORE_OK);
    store_close(other);
    assert_int_equal(store_data_version(s, &v1, err, sizeof err), STORE_OK);
    assert_true(v1 != v0);

    /* released, nothing charged, and only once */
    assert_int_equal(store_release(s, h, err, sizeof err), STORE_OK);
    assert_int_equal(get_key(s, "alice").held, 0);
    assert_int_equal(get_key(s, "alice").topped_up, UNITS(1));
    assert_int_equal(store_release(s, h, err, sizeof err), STORE_NOT_FOUND);
    n = 0;
    assert_int_equal(store_open_holds(s, count_hold, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE keys SET topped_up = topped_up + 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char report[512] = "";
    FILE *f = fmemopen(report, sizeof report, "w");
    assert_int_equal(store_verify(s, f, err, sizeof err), 1);
    fclose(f);
    assert_string_equal(report, "key 0123456789ab: topped_up is 1.000000001, its history says "
                                "1.000000000\n");
    store_close(s);
}

/* Many connections hold at once on one balance (as the database thread of several seekd
 * instances would): exactly as many holds succeed as the balance covers, never more. */
typedef struct {
    const char *path;
    int ok, refused;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    char err[256];
    store_t *s = store_open(r->path, err, sizeof err);
    if (!s)
        return NULL;
    store_hold_info_t info = {.request_id = "race", .model = "m", .at = 1};
    for (int i = 0; i < 40; i++) {
        int64_t h;
        store_rc_t rc = store_hold(s, "0123456789ab", UNITS(0.01), &info, &h, err, sizeof err);
        if (rc == STORE_OK)
            r->ok++;
        else if (rc == STORE_NO_BALANCE)
            r->refused++;
    }
    store_close(s);
    return NULL;
}

static void concurrent_holds_never_overspend(void **state)
{
    tmpdb_t *t = *state;
    store_t *s = open_ok(t->path);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1)); /* covers exactly 100 holds of 0.01 */
    enum { N = 6 };
    pthread_t th[N];
    racer_t r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer_t){.path = t->path};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].ok;
        refused += r[i].refused;
    }
    assert_int_equal(ok, 100);
    assert_int_equal(refused, N * 40 - 100);
    assert_int_equal(get_key(s, "alice").held, UNITS(1));
    char err[256];
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(schema_is_created_and_a_newer_one_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_version_1_database_is_migrated_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(the_secret_is_made_once_and_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_are_found_by_hmac_id_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(credits_add_up_and_absurd_amounts_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_hold_admits_only_what_the_balance_covers_and_settles_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(holds_survive_a_reopen_and_verify_catches_tampering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_holds_never_overspend, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
