/* test_store.c - the store, every case against SQLite (no argument) and against a real
 * PostgreSQL (argument `pg`, the server named by SEEKD_TEST_PG_URL, which tests/pg/pg_cluster.sh
 * starts): schema versions, keys, credits, holds that cannot overspend even from many
 * connections at once, settles that happen exactly once and spend the granted part first,
 * batches of settles that apply whole or not at all, and a verify that catches a balance that
 * does not match its history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store/store.h"
#include "test_util.h"

typedef enum { DB_SQLITE, DB_PG } db_kind_t;

static db_kind_t g_kind;
static const char *g_pg_url; /* the cluster's admin database: ends in "/postgres" */

typedef struct {
    char dir[64]; /* SQLite: a temp dir with the file */
    char path[128];
    char name[64]; /* PostgreSQL: a database made for this test */
    char url[512]; /* what store_open takes */
    bool absent;   /* PostgreSQL wanted, none running */
} tdb_t;

/* ---- the database under test, and raw access to it ---- */

/* The URL of database `name` on the test cluster. */
static void pg_url_of(const char *name, char *out, size_t cap)
{
    size_t base = strlen(g_pg_url) - strlen("postgres");
    snprintf(out, cap, "%.*s%s", (int)base, g_pg_url, name);
}

static void pg_exec_on(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static int setup(void **state)
{
    static int seq;
    tdb_t *t = calloc(1, sizeof *t);
    *state = t;
    if (g_kind == DB_PG) {
        if (!g_pg_url) {
            t->absent = true;
            return 0;
        }
        snprintf(t->name, sizeof t->name, "seekd_t%d_%d", (int)getpid(), ++seq);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", t->name);
        pg_exec_on(g_pg_url, sql);
        pg_url_of(t->name, t->url, sizeof t->url);
        return 0;
    }
    snprintf(t->dir, sizeof t->dir, "/tmp/seekd-store-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/seekd.db", t->dir);
    snprintf(t->url, sizeof t->url, "%s", t->path);
    return 0;
}

static int teardown(void **state)
{
    tdb_t *t = *state;
    int rc = 0;
    if (t->name[0]) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", t->name);
        pg_exec_on(g_pg_url, sql);
    } else if (t->dir[0]) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
        rc = system(cmd) == 0 ? 0 : -1;
    }
    free(t);
    return rc;
}

/* The test's database, or a skip when PostgreSQL is wanted and none runs. */
static tdb_t *db_or_skip(void **state)
{
    tdb_t *t = *state;
    if (t->absent)
        test_skip("no PostgreSQL (SEEKD_TEST_PG_URL unset: tests/pg/pg_cluster.sh starts one; "
                  "Debian's postgresql package provides it)\n");
    return t;
}

/* Runs SQL on the database behind the store's back (as another program would). */
static void raw(const tdb_t *t, const char *sql)
{
    if (g_kind == DB_PG) {
        pg_exec_on(t->url, sql);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
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

static int count_rows(void *ud, const store_ledger_row_t *r)
{
    (void)r;
    (*(int *)ud)++;
    return 0;
}

static int ledger_rows(store_t *s)
{
    int n = 0;
    char err[256];
    assert_int_equal(store_ledger_each(s, NULL, 0, count_rows, &n, err, sizeof err), STORE_OK);
    return n;
}

static int count_any_hold(void *ud, const store_open_hold_t *h)
{
    (void)h;
    (*(int *)ud)++;
    return 0;
}

static int open_holds(store_t *s)
{
    int n = 0;
    char err[256];
    assert_int_equal(store_open_holds(s, count_any_hold, &n, err, sizeof err), STORE_OK);
    return n;
}

static int read_cny_row(void *ud, const store_ledger_row_t *r)
{
    (*(int *)ud)++;
    assert_string_equal(r->key_id, "0123456789ab");
    assert_string_equal(r->currency, "CNY");
    assert_int_equal(r->cost, 10);
    assert_int_equal(r->miss, 2);
    return 0;
}

/* ---- schema ---- */

static void schema_is_created_and_a_newer_one_is_refused(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    assert_int_equal(store_schema_version(s), 3);
    store_close(s);
    s = open_ok(t->url); /* opening again migrates nothing and loses nothing */
    assert_int_equal(store_schema_version(s), 3);
    store_close(s);

    raw(t, g_kind == DB_PG ? "UPDATE schema_version SET version = 99" : "PRAGMA user_version = 99");
    char err[256], want[600], shown[512];
    assert_null(store_open(t->url, err, sizeof err));
    store_url_redact(t->url, shown, sizeof shown);
    snprintf(want, sizeof want, "%s: the database has schema version 99; this seekd knows up to 3",
             shown);
    assert_string_equal(err, want);
}

static void sqlite_urls_name_a_file(void **state)
{
    tdb_t *t = *state;
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", t->path);
    store_t *s = open_ok(url);
    store_close(s);
    s = open_ok(t->path); /* a bare path is the same store */
    assert_int_equal(store_schema_version(s), 3);
    store_close(s);
    char err[256];
    assert_null(store_open("sqlite:", err, sizeof err));
    assert_string_equal(err, "the database URL names no file");
    assert_null(store_open("/nonexistent-dir/x/seekd.db", err, sizeof err));
    assert_non_null(strstr(err, "cannot open /nonexistent-dir/x/seekd.db"));
}

/* A database written by the first schema is migrated forward in place: its rows stay, and the
 * new ledger column is filled from their keys. */
static void a_version_1_database_is_migrated_forward(void **state)
{
    tdb_t *t = db_or_skip(state);
    /* the first schema as a version-1 seekd left it, with a key, a credit and a ledger row */
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/store/v1.%s.sql", SEEKD_SOURCE_DIR,
             g_kind == DB_PG ? "pg" : "sqlite");
    size_t len;
    char *v1 = test_slurp(path, &len);
    if (!v1)
        fail_msg("cannot read %s", path);
    raw(t, v1);
    free(v1);
    store_t *s = open_ok(t->url);
    assert_int_equal(store_schema_version(s), 3);
    char err[256];
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    int n = 0;
    assert_int_equal(store_ledger_each(s, NULL, 0, read_cny_row, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 1);
    store_close(s);
}

static void the_secret_is_made_once_and_kept(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    uint8_t a[32], b[32], zero[32] = {0};
    char err[256];
    assert_int_equal(store_secret(s, a, err, sizeof err), STORE_OK);
    assert_memory_not_equal(a, zero, 32);
    store_close(s);
    s = open_ok(t->url);
    assert_int_equal(store_secret(s, b, err, sizeof err), STORE_OK);
    assert_memory_equal(a, b, 32);
    store_close(s);
}

/* ---- keys ---- */

static void keys_are_found_by_hmac_id_and_name(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", UNITS(1), UNITS(2));
    add_key(s, "ba9876543210", "bob", 0, 0);
    store_key_t k = get_key(s, "alice");
    assert_string_equal(k.key_id, "0123456789ab");
    assert_int_equal(k.granted, UNITS(1));
    assert_int_equal(k.topped_up, UNITS(2));
    assert_int_equal(k.held, 0);
    assert_true(k.enabled);
    assert_int_equal(k.created, 1000);
    uint8_t hmac[STORE_HMAC_LEN] = {0};
    snprintf((char *)hmac, sizeof hmac, "%s", "0123456789ab");
    assert_memory_equal(k.hmac, hmac, STORE_HMAC_LEN);
    k = get_key(s, "ba9876543210");
    assert_string_equal(k.name, "bob");
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

    /* every field as written, CNY and limits and models included */
    store_key_t full;
    memset(&full, 0, sizeof full);
    snprintf(full.key_id, sizeof full.key_id, "c0ffee000001");
    snprintf(full.name, sizeof full.name, "carol's \"key\"");
    full.currency = GW_CUR_CNY;
    full.expires = 1900000000;
    full.rpm = 7;
    full.tpm = 8000;
    full.concurrency = 3;
    snprintf(full.models, sizeof full.models, "deepseek-chat,deepseek-reasoner");
    uint8_t h3[STORE_HMAC_LEN];
    memset(h3, 0xfe, sizeof h3);
    assert_int_equal(store_key_create(s, &full, h3, 42, err, sizeof err), STORE_OK);
    k = get_key(s, "carol's \"key\"");
    assert_int_equal(k.currency, GW_CUR_CNY);
    assert_false(k.enabled);
    assert_int_equal(k.expires, 1900000000);
    assert_int_equal(k.created, 42);
    assert_int_equal(k.rpm, 7);
    assert_int_equal(k.tpm, 8000);
    assert_int_equal(k.concurrency, 3);
    assert_string_equal(k.models, "deepseek-chat,deepseek-reasoner");
    assert_memory_equal(k.hmac, h3, STORE_HMAC_LEN);

    assert_int_equal(store_key_set_enabled(s, "0123456789ab", false, err, sizeof err), STORE_OK);
    assert_false(get_key(s, "alice").enabled);
    assert_int_equal(store_key_set_enabled(s, "nope", false, err, sizeof err), STORE_NOT_FOUND);
    assert_string_equal(err, "no such key");
    store_close(s);
}

static int names_in_order(void *ud, const store_key_t *k)
{
    char *out = ud;
    strcat(out, k->name);
    strcat(out, ",");
    return 0;
}

static void keys_list_by_name(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "000000000003", "carol", 0, 0);
    add_key(s, "000000000001", "alice", 0, 0);
    add_key(s, "000000000002", "bob", 0, 0);
    char names[64] = "", err[256];
    assert_int_equal(store_key_list(s, names_in_order, names, err, sizeof err), STORE_OK);
    assert_string_equal(names, "alice,bob,carol,");
    store_close(s);
}

static void credits_add_up_and_absurd_amounts_are_refused(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
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

/* ---- holds and settles ---- */

static void a_hold_admits_only_what_the_balance_covers_and_settles_once(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
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
    assert_int_equal(open_holds(s), 1);
    assert_int_equal(store_hold(s, "0123456789ab", UNITS(0.5), &info, &h2, err, sizeof err),
                     STORE_OK);
    assert_true(h2 != h1);
    assert_int_equal(store_hold(s, "nope", 1, &info, &h2, err, sizeof err), STORE_NOT_FOUND);
    assert_string_equal(err, "no such key");
    assert_int_equal(store_hold(s, "0123456789ab", -1, &info, &h2, err, sizeof err), STORE_ERR);
    assert_string_equal(err, "a hold must be between 0 and 1000000000 units");

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
    char want[64];
    snprintf(want, sizeof want, "hold %lld is not open", (long long)h1);
    assert_string_equal(err, want);
    assert_int_equal(get_key(s, "alice").topped_up, UNITS(0.7));
    /* a cost above the hold is billed: what was delivered is charged */
    row.cost = UNITS(0.9);
    row.estimated = true;
    assert_int_equal(store_settle(s, h2, &row, err, sizeof err), STORE_OK);
    k = get_key(s, "alice");
    assert_int_equal(k.topped_up, UNITS(-0.2));
    assert_int_equal(k.held, 0);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    assert_int_equal(ledger_rows(s), 2);
    /* a negative balance admits nothing, not even a zero hold... */
    assert_int_equal(store_hold(s, "0123456789ab", 0, &info, &h2, err, sizeof err),
                     STORE_NO_BALANCE);
    row.cost = -1;
    assert_int_equal(store_settle(s, h2, &row, err, sizeof err), STORE_ERR);
    assert_string_equal(err, "a cost must be between 0 and 1000000000 units");
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_OK);
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_NOT_FOUND);
    store_close(s);
}

static int check_row(void *ud, const store_ledger_row_t *r)
{
    (*(int *)ud)++;
    assert_string_equal(r->key_id, "0123456789ab");
    assert_string_equal(r->currency, "USD");
    assert_string_equal(r->request_id, "req-1");
    assert_string_equal(r->model, "deepseek-chat");
    assert_string_equal(r->backend, "upstream");
    assert_string_equal(r->upstream, "main");
    assert_string_equal(r->upstream_key_id, "abcd1234");
    assert_string_equal(r->status, "client_gone");
    assert_int_equal(r->at, 77);
    assert_int_equal(r->hit, 1);
    assert_int_equal(r->miss, 2);
    assert_int_equal(r->output, 3);
    assert_int_equal(r->reasoning, 4);
    assert_int_equal(r->tier, 1);
    assert_int_equal(r->cost, 123456789);
    assert_int_equal(r->ttft_ms, 250);
    assert_int_equal(r->duration_ms, 900);
    assert_true(r->estimated);
    return 0;
}

static int other_key_only(void *ud, const store_ledger_row_t *r)
{
    (*(int *)ud)++;
    assert_string_equal(r->key_id, "ba9876543210");
    assert_string_equal(r->request_id, ""); /* a NULL string reads back empty */
    assert_string_equal(r->status, "");
    assert_int_equal(r->cost, 1);
    return 0;
}

static void the_ledger_row_reads_back_as_written(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    add_key(s, "ba9876543210", "bob", 0, UNITS(1));
    char err[256];
    store_hold_info_t info = {.request_id = "req-1", .model = "deepseek-chat", .at = 70};
    int64_t h, hb;
    assert_int_equal(store_hold(s, "0123456789ab", 5, &info, &h, err, sizeof err), STORE_OK);
    assert_int_equal(store_hold(s, "ba9876543210", 5, &info, &hb, err, sizeof err), STORE_OK);
    store_row_t row = {.at = 77,
                       .request_id = "req-1",
                       .model = "deepseek-chat",
                       .backend = "upstream",
                       .upstream = "main",
                       .upstream_key_id = "abcd1234",
                       .status = "client_gone",
                       .hit = 1,
                       .miss = 2,
                       .output = 3,
                       .reasoning = 4,
                       .tier = 1,
                       .cost = 123456789,
                       .ttft_ms = 250,
                       .duration_ms = 900,
                       .estimated = true};
    assert_int_equal(store_settle(s, h, &row, err, sizeof err), STORE_OK);
    store_row_t bare = {.at = 100, .cost = 1}; /* every string NULL */
    assert_int_equal(store_settle(s, hb, &bare, err, sizeof err), STORE_OK);
    int n = 0;
    assert_int_equal(store_ledger_each(s, "0123456789ab", 0, check_row, &n, err, sizeof err),
                     STORE_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(store_ledger_each(s, "ba9876543210", 0, other_key_only, &n, err, sizeof err),
                     STORE_OK);
    assert_int_equal(n, 1);
    n = 0; /* since: only rows at or after it */
    assert_int_equal(store_ledger_each(s, NULL, 78, count_rows, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 1);
    store_close(s);
}

static int count_hold(void *ud, const store_open_hold_t *h)
{
    int *n = ud;
    (*n)++;
    assert_string_equal(h->key_id, "0123456789ab");
    assert_string_equal(h->request_id, "crashed");
    assert_string_equal(h->model, "m");
    assert_int_equal(h->amount, 42);
    assert_int_equal(h->tier, 1);
    assert_int_equal(h->at, 9);
    return 0;
}

static void holds_survive_a_reopen_and_verify_catches_tampering(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    char err[256];
    int64_t h;
    store_hold_info_t info = {.request_id = "crashed", .model = "m", .tier = 1, .at = 9};
    assert_int_equal(store_hold(s, "0123456789ab", 42, &info, &h, err, sizeof err), STORE_OK);
    store_close(s); /* as after kill -9: the hold was committed */
    s = open_ok(t->url);
    int n = 0;
    assert_int_equal(store_open_holds(s, count_hold, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    assert_int_equal(get_key(s, "alice").held, 42);

    /* another connection's commit changes data_version; our own do not need to */
    int64_t v0, v1, v2;
    assert_int_equal(store_data_version(s, &v0, err, sizeof err), STORE_OK);
    assert_int_equal(store_data_version(s, &v1, err, sizeof err), STORE_OK);
    assert_true(v1 == v0);
    store_t *other = open_ok(t->url);
    assert_int_equal(store_key_credit(other, "0123456789ab", true, 1, 2, err, sizeof err),
                     STORE_OK);
    assert_int_equal(store_data_version(s, &v1, err, sizeof err), STORE_OK);
    assert_true(v1 != v0);
    assert_int_equal(store_key_set_enabled(other, "0123456789ab", false, err, sizeof err),
                     STORE_OK);
    store_close(other);
    assert_int_equal(store_data_version(s, &v2, err, sizeof err), STORE_OK);
    assert_true(v2 != v1);

    /* released, nothing charged, and only once */
    assert_int_equal(store_release(s, h, err, sizeof err), STORE_OK);
    assert_int_equal(get_key(s, "alice").held, 0);
    assert_int_equal(get_key(s, "alice").topped_up, UNITS(1));
    assert_int_equal(store_release(s, h, err, sizeof err), STORE_NOT_FOUND);
    char want[64];
    snprintf(want, sizeof want, "hold %lld is not open", (long long)h);
    assert_string_equal(err, want);
    assert_int_equal(open_holds(s), 0);
    assert_int_equal(ledger_rows(s), 0);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);

    raw(t, "UPDATE keys SET topped_up = topped_up + 1");
    char report[512] = "";
    FILE *f = fmemopen(report, sizeof report, "w");
    assert_int_equal(store_verify(s, f, err, sizeof err), 1);
    fclose(f);
    assert_string_equal(report, "key 0123456789ab: topped_up is 1.000000001, its history says "
                                "1.000000000\n");
    store_close(s);
}

/* A hold of 0 leaves `held` at 0 but is open: its key cannot be deleted under it. */
static void a_zero_hold_keeps_its_key(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    char err[256];
    int64_t h;
    store_hold_info_t info = {.request_id = "free", .model = "m", .at = 1};
    assert_int_equal(store_hold(s, "0123456789ab", 0, &info, &h, err, sizeof err), STORE_OK);
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_EXISTS);
    store_row_t row = {.at = 2, .cost = 0};
    assert_int_equal(store_settle(s, h, &row, err, sizeof err), STORE_OK);
    assert_int_equal(store_key_delete(s, "0123456789ab", err, sizeof err), STORE_OK);
    assert_int_equal(ledger_rows(s), 1); /* its rows stay */
    store_close(s);
}

/* ---- batches ---- */

static int64_t hold_ok(store_t *s, gw_nano_t amount, const char *request_id)
{
    char err[256];
    int64_t h = 0;
    store_hold_info_t info = {.request_id = request_id, .model = "m", .at = 1};
    if (store_hold(s, "0123456789ab", amount, &info, &h, err, sizeof err) != STORE_OK)
        fail_msg("hold: %s", err);
    return h;
}

static store_settle_item_t settle_item(int64_t hold_id, gw_nano_t cost, const char *request_id)
{
    return (store_settle_item_t){
        .hold_id = hold_id,
        .row = {.at = 3, .request_id = request_id, .model = "m", .status = "ok", .cost = cost},
        .rc = 99};
}

static store_settle_item_t release_item(int64_t hold_id)
{
    return (store_settle_item_t){.hold_id = hold_id, .release = true, .rc = 99};
}

/* A batch does what its items would do one by one, in order: a hold settled before, or twice
 * in the batch, or never opened, is NOT_FOUND and changes nothing. */
static void a_batch_settles_and_releases_each_hold_once(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", UNITS(0.2), UNITS(1));
    char err[256];
    int64_t h1 = hold_ok(s, UNITS(0.3), "a"), h2 = hold_ok(s, UNITS(0.2), "b"),
            h3 = hold_ok(s, UNITS(0.1), "c");
    store_row_t row = {.at = 2, .request_id = "a", .cost = UNITS(0.1)};
    assert_int_equal(store_settle(s, h1, &row, err, sizeof err), STORE_OK);

    store_settle_item_t items[] = {
        settle_item(h2, UNITS(0.25), "b"), /* 0.1 granted left, then 0.15 topped up */
        release_item(h3),
        settle_item(h1, UNITS(1), "a"), /* settled before */
        settle_item(h2, UNITS(1), "b"), /* settled above, in this batch */
        release_item(h3),               /* released above */
        release_item(h1 + h2 + h3 + 1000),
    };
    assert_int_equal(store_settle_many(s, items, 6, err, sizeof err), STORE_OK);
    const store_rc_t want[] = {STORE_OK,        STORE_OK,        STORE_NOT_FOUND,
                               STORE_NOT_FOUND, STORE_NOT_FOUND, STORE_NOT_FOUND};
    for (int i = 0; i < 6; i++)
        assert_int_equal(items[i].rc, want[i]);
    store_key_t k = get_key(s, "alice");
    assert_int_equal(k.granted, 0);
    assert_int_equal(k.topped_up, UNITS(0.85));
    assert_int_equal(k.held, 0);
    assert_int_equal(open_holds(s), 0);
    assert_int_equal(ledger_rows(s), 2);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);

    /* nothing to do is done */
    assert_int_equal(store_settle_many(s, items, 0, err, sizeof err), STORE_OK);

    /* many batches through the same prepared statements add up exactly */
    enum { B = 40, ROUNDS = 3 };
    for (int r = 0; r < ROUNDS; r++) {
        store_settle_item_t batch[B];
        for (int i = 0; i < B; i++) {
            int64_t h = hold_ok(s, 10, "x");
            batch[i] = i % 4 == 3 ? release_item(h) : settle_item(h, 7, "x");
        }
        assert_int_equal(store_settle_many(s, batch, B, err, sizeof err), STORE_OK);
        for (int i = 0; i < B; i++)
            assert_int_equal(batch[i].rc, STORE_OK);
    }
    k = get_key(s, "alice");
    assert_int_equal(k.topped_up, UNITS(0.85) - ROUNDS * (B / 4 * 3) * 7);
    assert_int_equal(k.held, 0);
    assert_int_equal(ledger_rows(s), 2 + ROUNDS * (B / 4 * 3));
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);

    /* a batch longer than PostgreSQL's pipeline chunk (256) is still one transaction */
    enum { BIG = 600 };
    store_settle_item_t *big = calloc(BIG, sizeof *big);
    for (int i = 0; i < BIG; i++)
        big[i] = settle_item(hold_ok(s, 1, "big"), 1, "big");
    big[BIG - 1] = settle_item(big[0].hold_id, 1, "big"); /* the first again: NOT_FOUND */
    assert_int_equal(store_settle_many(s, big, BIG, err, sizeof err), STORE_OK);
    for (int i = 0; i < BIG - 1; i++)
        assert_int_equal(big[i].rc, STORE_OK);
    assert_int_equal(big[BIG - 1].rc, STORE_NOT_FOUND);
    free(big);
    assert_int_equal(open_holds(s), 1); /* the hold the last item replaced */
    assert_int_equal(ledger_rows(s), 2 + ROUNDS * (B / 4 * 3) + BIG - 1);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

static store_hold_item_t hold_item(const char *key_id, gw_nano_t amount, const char *request_id)
{
    return (store_hold_item_t){.key_id = key_id,
                               .amount = amount,
                               .info = {.request_id = request_id, .model = "m", .at = 1},
                               .rc = 99};
}

/* Holds in a batch admit one after the other: together they never pass the balance; an
 * unknown key is NOT_FOUND; and holds with settles in one store_apply add up exactly. */
static void a_batch_of_holds_admits_in_order_and_never_overspends(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", UNITS(0.5), UNITS(0.5));
    add_key(s, "ba9876543210", "bob", 0, UNITS(0.1));
    char err[256];
    store_hold_item_t items[] = {
        hold_item("0123456789ab", UNITS(0.6), "a1"), hold_item("ba9876543210", UNITS(0.1), "b1"),
        hold_item("0123456789ab", UNITS(0.5), "a2"), /* 0.4 left: refused */
        hold_item("0123456789ab", UNITS(0.4), "a3"), /* exactly what is left */
        hold_item("ba9876543210", 1, "b2"),          /* bob has nothing left */
        hold_item("ffffffffffff", 1, "x"),           /* no such key */
    };
    assert_int_equal(store_hold_many(s, items, 6, err, sizeof err), STORE_OK);
    const store_rc_t want[] = {STORE_OK, STORE_OK,         STORE_NO_BALANCE,
                               STORE_OK, STORE_NO_BALANCE, STORE_NOT_FOUND};
    for (int i = 0; i < 6; i++)
        assert_int_equal(items[i].rc, want[i]);
    assert_true(items[0].hold_id > 0 && items[1].hold_id > 0 && items[3].hold_id > 0);
    assert_int_equal(get_key(s, "alice").held, UNITS(1));
    assert_int_equal(get_key(s, "bob").held, UNITS(0.1));
    assert_int_equal(open_holds(s), 3);

    /* settle two of them and hold again, in one store_apply */
    store_hold_item_t more[] = {hold_item("0123456789ab", UNITS(0.3), "a4")};
    store_settle_item_t done[] = {settle_item(items[0].hold_id, UNITS(0.2), "a1"),
                                  release_item(items[1].hold_id)};
    assert_int_equal(store_apply(s, more, 1, done, 2, err, sizeof err), STORE_OK);
    /* holds go first: alice had nothing free yet when a4 asked */
    assert_int_equal(more[0].rc, STORE_NO_BALANCE);
    assert_int_equal(done[0].rc, STORE_OK);
    assert_int_equal(done[1].rc, STORE_OK);
    store_key_t k = get_key(s, "alice");
    assert_int_equal(k.held, UNITS(0.4));
    assert_int_equal(k.granted + k.topped_up, UNITS(0.8));
    assert_int_equal(get_key(s, "bob").held, 0);
    more[0] = hold_item("0123456789ab", UNITS(0.3), "a4");
    store_settle_item_t none[1];
    assert_int_equal(store_apply(s, more, 1, none, 0, err, sizeof err), STORE_OK);
    assert_int_equal(more[0].rc, STORE_OK);
    assert_int_equal(get_key(s, "alice").held, UNITS(0.7));
    /* an absurd amount refuses the whole batch before it starts */
    store_hold_item_t bad[] = {hold_item("0123456789ab", 1, "ok"),
                               hold_item("0123456789ab", -1, "negative")};
    assert_int_equal(store_hold_many(s, bad, 2, err, sizeof err), STORE_ERR);
    assert_int_equal(bad[0].rc, STORE_ERR);
    assert_int_equal(get_key(s, "alice").held, UNITS(0.7));
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

static int take_instance(void *ud, const char *id, int64_t seen_ms)
{
    char *out = ud;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s=%lld;", id, (long long)seen_ms);
    return 0;
}

static int take_owner(void *ud, const store_open_hold_t *h)
{
    char *out = ud;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s:%s;", h->request_id, h->owner);
    return 0;
}

/* Instances record when they were last alive, and a hold reads back with its owner (none for
 * a hold made without one). */
static void instances_beat_and_holds_name_their_owner(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    char err[256], got[256] = "";
    assert_int_equal(store_instance_beat(s, "host-a", 1000, err, sizeof err), STORE_OK);
    assert_int_equal(store_instance_beat(s, "host-b", 2000, err, sizeof err), STORE_OK);
    assert_int_equal(store_instance_beat(s, "host-a", 3000, err, sizeof err), STORE_OK);
    assert_int_equal(store_instance_each(s, take_instance, got, err, sizeof err), STORE_OK);
    assert_string_equal(got, "host-a=3000;host-b=2000;");
    assert_int_equal(store_instance_end(s, "host-b", err, sizeof err), STORE_OK);
    got[0] = '\0';
    assert_int_equal(store_instance_each(s, take_instance, got, err, sizeof err), STORE_OK);
    assert_string_equal(got, "host-a=3000;");

    int64_t h;
    store_hold_info_t info = {.request_id = "r1", .model = "m", .at = 1, .owner = "host-a"};
    assert_int_equal(store_hold(s, "0123456789ab", 5, &info, &h, err, sizeof err), STORE_OK);
    store_hold_item_t it = {
        .key_id = "0123456789ab", .amount = 5, .info = {.request_id = "r2", .model = "m", .at = 1}};
    assert_int_equal(store_hold_many(s, &it, 1, err, sizeof err), STORE_OK);
    assert_int_equal(it.rc, STORE_OK);
    got[0] = '\0';
    assert_int_equal(store_open_holds(s, take_owner, got, err, sizeof err), STORE_OK);
    assert_string_equal(got, "r1:host-a;r2:;");
    store_close(s);
}

/* A database error in the middle of a batch undoes the items before it: nothing is applied,
 * every hold stays open, and the batch can be retried once the cause is gone. */
static void a_failure_in_a_batch_rolls_back_all_of_it(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    char err[256];
    int64_t h1 = hold_ok(s, 100, "fine"), h2 = hold_ok(s, 100, "fine"),
            h3 = hold_ok(s, 100, "boom");
    /* the database refuses the ledger row of request "boom" */
    raw(t, g_kind == DB_PG
               ? "ALTER TABLE ledger ADD CONSTRAINT boom CHECK (request_id IS DISTINCT FROM 'boom')"
               : "CREATE TRIGGER boom BEFORE INSERT ON ledger WHEN NEW.request_id = 'boom' "
                 "BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
    store_settle_item_t items[] = {settle_item(h1, 50, "fine"), release_item(h2),
                                   settle_item(h3, 50, "boom")};
    assert_int_equal(store_settle_many(s, items, 3, err, sizeof err), STORE_ERR);
    for (int i = 0; i < 3; i++)
        assert_int_equal(items[i].rc, STORE_ERR);
    assert_non_null(strstr(err, "ledger")); /* SQLite: "writing the ledger row: boom refused" */
    assert_non_null(strstr(err, "boom"));
    store_key_t k = get_key(s, "alice");
    assert_int_equal(k.topped_up, UNITS(1));
    assert_int_equal(k.held, 300);
    assert_int_equal(open_holds(s), 3);
    assert_int_equal(ledger_rows(s), 0);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);

    /* the same when the failing item comes after a first chunk of the pipeline went through */
    enum { LONG = 300 };
    store_settle_item_t *lng = calloc(LONG, sizeof *lng);
    for (int i = 0; i < LONG - 1; i++)
        lng[i] = settle_item(hold_ok(s, 1, "fine"), 1, "fine");
    lng[LONG - 1] = settle_item(h3, 50, "boom");
    assert_int_equal(store_settle_many(s, lng, LONG, err, sizeof err), STORE_ERR);
    assert_int_equal(lng[0].rc, STORE_ERR);
    assert_int_equal(open_holds(s), 3 + LONG - 1);
    assert_int_equal(ledger_rows(s), 0);
    for (int i = 0; i < LONG - 1; i++)
        lng[i].release = true;
    assert_int_equal(store_settle_many(s, lng, LONG - 1, err, sizeof err), STORE_OK);
    free(lng);
    assert_int_equal(open_holds(s), 3);

    /* a cost out of range anywhere refuses the whole batch before it starts */
    store_settle_item_t bad[] = {settle_item(h1, 50, "fine"), settle_item(h2, -1, "fine")};
    assert_int_equal(store_settle_many(s, bad, 2, err, sizeof err), STORE_ERR);
    assert_string_equal(err, "a cost must be between 0 and 1000000000 units");
    assert_int_equal(bad[0].rc, STORE_ERR);
    assert_int_equal(open_holds(s), 3);

    /* the store works on after the failure: the same batch, once the cause is gone */
    raw(t, g_kind == DB_PG ? "ALTER TABLE ledger DROP CONSTRAINT boom" : "DROP TRIGGER boom");
    items[0].rc = items[1].rc = items[2].rc = 99;
    assert_int_equal(store_settle_many(s, items, 3, err, sizeof err), STORE_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(items[i].rc, STORE_OK);
    k = get_key(s, "alice");
    assert_int_equal(k.topped_up, UNITS(1) - 100);
    assert_int_equal(k.held, 0);
    assert_int_equal(ledger_rows(s), 2);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

/* ---- concurrency ---- */

/* Many connections hold at once on one balance (as the database thread of several seekd
 * instances would), and settle in batches: exactly as many holds succeed as the balance
 * covers, never more, and every settle lands once. */
typedef struct {
    const char *url;
    int ok, refused, errors;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    char err[256];
    store_t *s = store_open(r->url, err, sizeof err);
    if (!s) {
        r->errors++;
        return NULL;
    }
    store_hold_info_t info = {.request_id = "race", .model = "m", .at = 1};
    store_settle_item_t batch[8];
    int nb = 0;
    for (int i = 0; i < 40; i++) {
        int64_t h;
        store_rc_t rc = store_hold(s, "0123456789ab", UNITS(0.01), &info, &h, err, sizeof err);
        if (rc == STORE_OK) {
            r->ok++;
            /* every other hold is settled at its full amount, in batches of 4 */
            if (r->ok % 2 == 0) {
                batch[nb++] = settle_item(h, UNITS(0.01), "race");
                if (nb == 4) {
                    if (store_settle_many(s, batch, (size_t)nb, err, sizeof err) != STORE_OK)
                        r->errors++;
                    nb = 0;
                }
            }
        } else if (rc == STORE_NO_BALANCE) {
            r->refused++;
        } else {
            r->errors++;
        }
    }
    if (nb && store_settle_many(s, batch, (size_t)nb, err, sizeof err) != STORE_OK)
        r->errors++;
    store_close(s);
    return NULL;
}

static void concurrent_holds_never_overspend(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    /* covers exactly 100 holds of 0.01; the settles spend the granted part first */
    add_key(s, "0123456789ab", "alice", UNITS(0.3), UNITS(0.7));
    enum { N = 6 };
    pthread_t th[N];
    racer_t r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer_t){.url = t->url};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    int ok = 0, refused = 0, errors = 0, settled = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].ok;
        refused += r[i].refused;
        errors += r[i].errors;
        settled += r[i].ok / 2;
    }
    assert_int_equal(errors, 0);
    assert_int_equal(ok, 100);
    assert_int_equal(refused, N * 40 - 100);
    store_key_t k = get_key(s, "alice");
    assert_int_equal(k.held, UNITS(0.01) * (100 - settled));
    assert_int_equal(k.granted, settled >= 30 ? 0 : UNITS(0.3) - UNITS(0.01) * settled);
    assert_int_equal(k.granted + k.topped_up, UNITS(1) - UNITS(0.01) * settled);
    assert_int_equal(ledger_rows(s), settled);
    char err[256];
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

/* ---- PostgreSQL only: bad URLs, a server that goes away, a table locked too long ---- */

static void pg_bad_urls_are_clear_errors_without_the_password(void **state)
{
    tdb_t *t = db_or_skip(state);
    char url[600], err[512];
    /* the cluster's URL carries its password: a wrong one is refused, and shown masked */
    const char *at = strchr(t->url, '@');
    const char *colon = strchr(t->url + strlen("postgresql://"), ':');
    assert_non_null(at);
    assert_non_null(colon);
    assert_true(colon < at);
    snprintf(url, sizeof url, "%.*s:not-the-Pa55word%s", (int)(colon - t->url), t->url, at);
    assert_null(store_open(url, err, sizeof err));
    assert_non_null(strstr(err, "password authentication failed"));
    assert_null(strstr(err, "not-the-Pa55word"));
    assert_non_null(strstr(err, ":***@"));

    /* no such database */
    pg_url_of("seekd_no_such_db", url, sizeof url);
    assert_null(store_open(url, err, sizeof err));
    assert_non_null(strstr(err, "database \"seekd_no_such_db\" does not exist"));

    /* nothing listens there (port 1 on loopback), a password parameter masked too */
    assert_null(store_open("postgres://u@127.0.0.1:1/db?password=s3cret-Pw&connect_timeout=2", err,
                           sizeof err));
    assert_non_null(strstr(err, "postgres://u@127.0.0.1:1/db?password=***&connect_timeout=2: "));
    assert_non_null(strstr(err, "Connection refused"));
    assert_null(strstr(err, "s3cret-Pw"));
    assert_null(strchr(err, '\n'));
}

static void pg_a_lost_connection_fails_one_call_then_reconnects(void **state)
{
    tdb_t *t = db_or_skip(state);
    store_t *s = open_ok(t->url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    char err[256];
    int64_t h = hold_ok(s, 5, "before");
    /* the server ends every other session on this database (as a restart would) */
    raw(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
           "current_database() AND pid <> pg_backend_pid()");
    store_key_t k;
    assert_int_equal(store_key_find(s, "alice", &k, err, sizeof err), STORE_ERR);
    assert_non_null(strstr(err, "terminat"));
    /* the next call connects again, prepared statements and all */
    assert_int_equal(store_key_find(s, "alice", &k, err, sizeof err), STORE_OK);
    raw(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
           "current_database() AND pid <> pg_backend_pid()");
    store_settle_item_t it = settle_item(h, 5, "before");
    assert_int_equal(store_settle_many(s, &it, 1, err, sizeof err), STORE_ERR);
    assert_int_equal(it.rc, STORE_ERR);
    it.rc = 99;
    assert_int_equal(store_settle_many(s, &it, 1, err, sizeof err), STORE_OK);
    assert_int_equal(it.rc, STORE_OK);
    assert_int_equal(get_key(s, "alice").held, 0);
    assert_int_equal(store_verify(s, NULL, err, sizeof err), 0);
    store_close(s);
}

static void pg_a_locked_table_is_an_error_not_a_hang(void **state)
{
    tdb_t *t = db_or_skip(state);
    char url[600];
    /* lock_timeout from the URL (seekd's default is 5 s) */
    snprintf(url, sizeof url, "%s?options=-c%%20lock_timeout%%3D300", t->url);
    store_t *s = open_ok(url);
    add_key(s, "0123456789ab", "alice", 0, UNITS(1));
    PGconn *c = PQconnectdb(t->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "BEGIN"));
    PGresult *r = PQexec(c, "LOCK TABLE keys IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char err[256];
    int64_t h;
    store_hold_info_t info = {.request_id = "r", .model = "m", .at = 1};
    assert_int_equal(store_hold(s, "0123456789ab", 1, &info, &h, err, sizeof err), STORE_ERR);
    assert_non_null(strstr(err, "lock timeout"));
    PQclear(PQexec(c, "ROLLBACK"));
    PQfinish(c);
    assert_int_equal(store_hold(s, "0123456789ab", 1, &info, &h, err, sizeof err), STORE_OK);
    store_close(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
    g_kind = argc > 1 && !strcmp(argv[1], "pg") ? DB_PG : DB_SQLITE;
    g_pg_url = getenv("SEEKD_TEST_PG_URL");
    if (g_pg_url &&
        (strlen(g_pg_url) < 9 || strcmp(g_pg_url + strlen(g_pg_url) - 9, "/postgres"))) {
        fprintf(stderr, "SEEKD_TEST_PG_URL must name the database 'postgres'\n");
        return 1;
    }
    const struct CMUnitTest common[] = {
        T(schema_is_created_and_a_newer_one_is_refused),
        T(a_version_1_database_is_migrated_forward),
        T(the_secret_is_made_once_and_kept),
        T(keys_are_found_by_hmac_id_and_name),
        T(keys_list_by_name),
        T(credits_add_up_and_absurd_amounts_are_refused),
        T(a_hold_admits_only_what_the_balance_covers_and_settles_once),
        T(the_ledger_row_reads_back_as_written),
        T(holds_survive_a_reopen_and_verify_catches_tampering),
        T(a_zero_hold_keeps_its_key),
        T(a_batch_settles_and_releases_each_hold_once),
        T(a_batch_of_holds_admits_in_order_and_never_overspends),
        T(instances_beat_and_holds_name_their_owner),
        T(a_failure_in_a_batch_rolls_back_all_of_it),
        T(concurrent_holds_never_overspend),
    };
    const struct CMUnitTest sqlite_only[] = {T(sqlite_urls_name_a_file)};
    const struct CMUnitTest pg_only[] = {
        T(pg_bad_urls_are_clear_errors_without_the_password),
        T(pg_a_lost_connection_fails_one_call_then_reconnects),
        T(pg_a_locked_table_is_an_error_not_a_hang),
    };
    int failed;
    if (g_kind == DB_PG) {
        failed = cmocka_run_group_tests_name("store on PostgreSQL", common, NULL, NULL);
        failed += cmocka_run_group_tests_name("store on PostgreSQL only", pg_only, NULL, NULL);
    } else {
        failed = cmocka_run_group_tests_name("store on SQLite", common, NULL, NULL);
        failed += cmocka_run_group_tests_name("store on SQLite only", sqlite_only, NULL, NULL);
    }
    return test_exit(failed);
}
