/* store_sqlite.c - the store on SQLite: one file, WAL, forward migrations by PRAGMA
 * user_version, and every money move in one IMMEDIATE transaction.
 *
 * Durability: WAL with synchronous=NORMAL. A committed transaction survives a crash of seekd
 * (kill -9) because it is in the WAL file; on power loss the last transactions before the
 * WAL's last sync may be lost (SQLite syncs the WAL at checkpoints), never half of one. */
#include "store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct store {
    sqlite3 *db;
};

/* Each entry moves the schema from version i to i + 1. Never edit one that has shipped: add
 * the next. */
static const char *const migrations[] = {
    /* 1: keys, credits, holds, ledger */
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE keys ("
    "  key_id TEXT PRIMARY KEY, hmac BLOB NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,"
    "  currency TEXT NOT NULL CHECK (currency IN ('USD','CNY')),"
    "  granted INTEGER NOT NULL, topped_up INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0,"
    "  enabled INTEGER NOT NULL DEFAULT 1, expires INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL, rpm INTEGER NOT NULL DEFAULT 0, tpm INTEGER NOT NULL DEFAULT 0,"
    "  concurrency INTEGER NOT NULL DEFAULT 0, models TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE credits ("
    "  id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('grant','topup')), amount INTEGER NOT NULL);"
    "CREATE INDEX credits_key ON credits (key_id);"
    "CREATE TABLE holds ("
    "  id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, amount INTEGER NOT NULL,"
    "  request_id TEXT NOT NULL, model TEXT NOT NULL, tier INTEGER NOT NULL, at INTEGER NOT NULL);"
    "CREATE TABLE ledger ("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, key_id TEXT NOT NULL, request_id TEXT,"
    "  model TEXT, backend TEXT, upstream TEXT, upstream_key_id TEXT, status TEXT,"
    "  hit INTEGER NOT NULL, miss INTEGER NOT NULL, output INTEGER NOT NULL,"
    "  reasoning INTEGER NOT NULL, tier INTEGER NOT NULL, cost INTEGER NOT NULL,"
    "  from_granted INTEGER NOT NULL, from_topped_up INTEGER NOT NULL,"
    "  ttft_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, estimated INTEGER NOT NULL);"
    "CREATE INDEX ledger_key ON ledger (key_id, at);",
    /* 2: each ledger row says its currency (a key may be deleted, its rows stay) */
    "ALTER TABLE ledger ADD COLUMN currency TEXT NOT NULL DEFAULT '';"
    "UPDATE ledger SET currency = COALESCE((SELECT currency FROM keys k WHERE k.key_id = "
    "ledger.key_id), '');",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static store_rc_t db_fail(store_t *s, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
    return STORE_ERR;
}

static int exec(store_t *s, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(store_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* Runs a statement whose one parameter ?1 is an id; returns sqlite3_step's result. */
static int step_id(store_t *s, const char *sql, int64_t id)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r;
}

static void rollback(store_t *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_schema_version(store_t *s)
{
    sqlite3_stmt *st = prep(s, "PRAGMA user_version");
    int v = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(store_t *s, char *err, size_t errlen)
{
    int v = store_schema_version(s);
    if (v < 0) {
        db_fail(s, err, errlen, "reading the schema version");
        return -1;
    }
    if (v > SCHEMA_VERSION) {
        snprintf(err, errlen, "the database has schema version %d; this seekd knows up to %d", v,
                 SCHEMA_VERSION);
        return -1;
    }
    for (; v < SCHEMA_VERSION; v++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (exec(s, "BEGIN IMMEDIATE", err, errlen))
            return -1;
        if (exec(s, migrations[v], err, errlen) || exec(s, sql, err, errlen) ||
            exec(s, "COMMIT", err, errlen)) {
            rollback(s);
            return -1;
        }
    }
    return 0;
}

store_t *store_open(const char *url, char *err, size_t errlen)
{
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
        snprintf(err, errlen, "PostgreSQL stores are not built yet; use sqlite:PATH");
        return NULL;
    }
    if (!*path) {
        snprintf(err, errlen, "the database URL names no file");
        return NULL;
    }
    store_t *s = xcalloc(1, sizeof *s);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char why[256];
    if (exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", why, sizeof why) ||
        migrate(s, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

store_rc_t store_secret(store_t *s, uint8_t out[32], char *err, size_t errlen)
{
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    sqlite3_stmt *st = prep(s, "SELECT v FROM meta WHERE k = 'key_secret'");
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(out, sqlite3_column_blob(st, 0), 32);
        sqlite3_finalize(st);
        return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        rollback(s);
        return db_fail(s, err, errlen, "reading the key secret");
    }
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(out, 1, 32, f) : 0;
    if (f)
        fclose(f);
    if (got != 32) {
        rollback(s);
        snprintf(err, errlen, "cannot read 32 random bytes from /dev/urandom");
        return STORE_ERR;
    }
    st = prep(s, "INSERT INTO meta (k, v) VALUES ('key_secret', ?1)");
    if (!st || sqlite3_bind_blob(st, 1, out, 32, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_finalize(st);
        rollback(s);
        return db_fail(s, err, errlen, "storing the key secret");
    }
    sqlite3_finalize(st);
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

/* ---- keys ---- */

#define KEY_COLUMNS                                                                                \
    "key_id, name, currency, granted, topped_up, held, enabled, expires, created, rpm, tpm, "      \
    "concurrency, models, hmac"

static void text_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static void read_key(sqlite3_stmt *st, store_key_t *k)
{
    memset(k, 0, sizeof *k);
    text_col(st, 0, k->key_id, sizeof k->key_id);
    text_col(st, 1, k->name, sizeof k->name);
    char cur[8];
    text_col(st, 2, cur, sizeof cur);
    k->currency = gw_currency_parse(cur) == GW_CUR_CNY ? GW_CUR_CNY : GW_CUR_USD;
    k->granted = sqlite3_column_int64(st, 3);
    k->topped_up = sqlite3_column_int64(st, 4);
    k->held = sqlite3_column_int64(st, 5);
    k->enabled = sqlite3_column_int(st, 6) != 0;
    k->expires = sqlite3_column_int64(st, 7);
    k->created = sqlite3_column_int64(st, 8);
    k->rpm = sqlite3_column_int64(st, 9);
    k->tpm = sqlite3_column_int64(st, 10);
    k->concurrency = sqlite3_column_int64(st, 11);
    text_col(st, 12, k->models, sizeof k->models);
    if (sqlite3_column_bytes(st, 13) == STORE_HMAC_LEN)
        memcpy(k->hmac, sqlite3_column_blob(st, 13), STORE_HMAC_LEN);
}

static store_rc_t insert_credit(store_t *s, const char *key_id, const char *kind, gw_nano_t amount,
                                int64_t now)
{
    sqlite3_stmt *st =
        prep(s, "INSERT INTO credits (key_id, at, kind, amount) VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, amount);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

store_rc_t store_key_create(store_t *s, const store_key_t *k, const uint8_t hmac[STORE_HMAC_LEN],
                            int64_t now, char *err, size_t errlen)
{
    if (k->granted < 0 || k->topped_up < 0 || k->granted > GW_AMOUNT_MAX ||
        k->topped_up > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "an opening balance must be between 0 and %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    sqlite3_stmt *st = prep(s, "INSERT INTO keys (key_id, hmac, name, currency, granted, "
                               "topped_up, enabled, expires, created, rpm, tpm, concurrency, "
                               "models) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                               "?12, ?13)");
    if (!st) {
        rollback(s);
        return db_fail(s, err, errlen, "adding the key");
    }
    sqlite3_bind_text(st, 1, k->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hmac, STORE_HMAC_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, gw_currency_name(k->currency), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->granted);
    sqlite3_bind_int64(st, 6, k->topped_up);
    sqlite3_bind_int(st, 7, k->enabled);
    sqlite3_bind_int64(st, 8, k->expires);
    sqlite3_bind_int64(st, 9, now);
    sqlite3_bind_int64(st, 10, k->rpm);
    sqlite3_bind_int64(st, 11, k->tpm);
    sqlite3_bind_int64(st, 12, k->concurrency);
    sqlite3_bind_text(st, 13, k->models, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) {
        rollback(s);
        snprintf(err, errlen, "a key named '%s' (or with that id) exists", k->name);
        return STORE_EXISTS;
    }
    if (rc != SQLITE_DONE ||
        (k->granted && insert_credit(s, k->key_id, "grant", k->granted, now)) ||
        (k->topped_up && insert_credit(s, k->key_id, "topup", k->topped_up, now))) {
        store_rc_t r = db_fail(s, err, errlen, "adding the key");
        rollback(s);
        return r;
    }
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

static store_rc_t find_one(store_t *s, sqlite3_stmt *st, store_key_t *out, char *err, size_t errlen)
{
    if (!st)
        return db_fail(s, err, errlen, "looking up the key");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_key(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "no such key");
        return STORE_NOT_FOUND;
    }
    return db_fail(s, err, errlen, "looking up the key");
}

store_rc_t store_key_by_hmac(store_t *s, const uint8_t hmac[STORE_HMAC_LEN], store_key_t *out,
                             char *err, size_t errlen)
{
    sqlite3_stmt *st = prep(s, "SELECT " KEY_COLUMNS " FROM keys WHERE hmac = ?1");
    if (st)
        sqlite3_bind_blob(st, 1, hmac, STORE_HMAC_LEN, SQLITE_STATIC);
    return find_one(s, st, out, err, errlen);
}

store_rc_t store_key_find(store_t *s, const char *id_or_name, store_key_t *out, char *err,
                          size_t errlen)
{
    sqlite3_stmt *st = prep(s, "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = ?1 OR name = ?1 "
                               "ORDER BY key_id = ?1 DESC LIMIT 1");
    if (st)
        sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_STATIC);
    return find_one(s, st, out, err, errlen);
}

store_rc_t store_key_list(store_t *s, int (*fn)(void *ud, const store_key_t *k), void *ud,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st = prep(s, "SELECT " KEY_COLUMNS " FROM keys ORDER BY name");
    if (!st)
        return db_fail(s, err, errlen, "listing keys");
    int rc;
    store_key_t k;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_key(st, &k);
        if (fn(ud, &k))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
                                                 : db_fail(s, err, errlen, "listing keys");
}

/* Runs an UPDATE/DELETE of one key by id (?1) with one integer (?2): NOT_FOUND when no row. */
static store_rc_t update_key(store_t *s, const char *sql, const char *key_id, int64_t v, char *err,
                             size_t errlen)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return db_fail(s, err, errlen, "updating the key");
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, errlen, "updating the key");
    if (sqlite3_changes(s->db) != 1) {
        snprintf(err, errlen, "no such key");
        return STORE_NOT_FOUND;
    }
    return STORE_OK;
}

store_rc_t store_key_credit(store_t *s, const char *key_id, bool granted, gw_nano_t amount,
                            int64_t now, char *err, size_t errlen)
{
    if (amount <= 0 || amount > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "an amount must be above 0 and at most %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    /* the balance stays far from int64's end: at most 1e18 nano-units per part */
    store_rc_t rc = update_key(
        s,
        granted ? "UPDATE keys SET granted = granted + ?2 WHERE key_id = ?1 AND granted + ?2 <= "
                  "1000000000000000000"
                : "UPDATE keys SET topped_up = topped_up + ?2 WHERE key_id = ?1 AND topped_up + "
                  "?2 <= 1000000000000000000",
        key_id, amount, err, errlen);
    if (rc == STORE_NOT_FOUND) {
        store_key_t k;
        char e2[64];
        if (store_key_find(s, key_id, &k, e2, sizeof e2) == STORE_OK) {
            snprintf(err, errlen, "the balance would exceed %lld units",
                     GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
            rc = STORE_ERR;
        }
    }
    if (rc == STORE_OK && insert_credit(s, key_id, granted ? "grant" : "topup", amount, now))
        rc = db_fail(s, err, errlen, "recording the credit");
    if (rc != STORE_OK) {
        rollback(s);
        return rc;
    }
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

store_rc_t store_key_set_enabled(store_t *s, const char *key_id, bool enabled, char *err,
                                 size_t errlen)
{
    return update_key(s, "UPDATE keys SET enabled = ?2 WHERE key_id = ?1", key_id, enabled, err,
                      errlen);
}

store_rc_t store_key_delete(store_t *s, const char *key_id, char *err, size_t errlen)
{
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    store_rc_t rc =
        update_key(s, "DELETE FROM keys WHERE key_id = ?1 AND held = ?2", key_id, 0, err, errlen);
    if (rc == STORE_NOT_FOUND) {
        store_key_t k;
        char e2[64];
        if (store_key_find(s, key_id, &k, e2, sizeof e2) == STORE_OK) {
            snprintf(err, errlen, "key %s has requests in flight; disable it first", key_id);
            rc = STORE_EXISTS;
        }
    }
    if (rc != STORE_OK) {
        rollback(s);
        return rc;
    }
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

/* ---- holds and settles ---- */

store_rc_t store_hold(store_t *s, const char *key_id, gw_nano_t amount,
                      const store_hold_info_t *info, int64_t *hold_id, char *err, size_t errlen)
{
    if (amount < 0 || amount > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "a hold must be between 0 and %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    /* admission and the hold are one statement: no other request can spend in between */
    store_rc_t rc = update_key(s,
                               "UPDATE keys SET held = held + ?2 WHERE key_id = ?1 AND "
                               "granted + topped_up - held >= ?2",
                               key_id, amount, err, errlen);
    if (rc == STORE_NOT_FOUND) {
        store_key_t k;
        char e2[64];
        if (store_key_find(s, key_id, &k, e2, sizeof e2) == STORE_OK) {
            snprintf(err, errlen, "Insufficient Balance");
            rc = STORE_NO_BALANCE;
        }
    }
    if (rc == STORE_OK) {
        sqlite3_stmt *st = prep(s, "INSERT INTO holds (key_id, amount, request_id, model, tier, "
                                   "at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        int r = SQLITE_ERROR;
        if (st) {
            sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, amount);
            sqlite3_bind_text(st, 3, info->request_id ? info->request_id : "", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, info->model ? info->model : "", -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 5, info->tier);
            sqlite3_bind_int64(st, 6, info->at);
            r = sqlite3_step(st);
            sqlite3_finalize(st);
        }
        if (r != SQLITE_DONE)
            rc = db_fail(s, err, errlen, "recording the hold");
        else
            *hold_id = sqlite3_last_insert_rowid(s->db);
    }
    if (rc != STORE_OK) {
        rollback(s);
        return rc;
    }
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

store_rc_t store_settle(store_t *s, int64_t hold_id, const store_row_t *row, char *err,
                        size_t errlen)
{
    if (row->cost < 0 || row->cost > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "a cost must be between 0 and %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    store_rc_t rc = STORE_OK;
    sqlite3_stmt *st = prep(s, "SELECT h.key_id, h.amount, k.granted, k.currency FROM holds h "
                               "JOIN keys k ON k.key_id = h.key_id WHERE h.id = ?1");
    char key_id[STORE_KEY_ID_LEN + 1] = "", currency[8] = "";
    gw_nano_t amount = 0, granted = 0;
    int r = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, hold_id);
        r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            text_col(st, 0, key_id, sizeof key_id);
            amount = sqlite3_column_int64(st, 1);
            granted = sqlite3_column_int64(st, 2);
            text_col(st, 3, currency, sizeof currency);
        }
        sqlite3_finalize(st);
    }
    if (r == SQLITE_DONE) {
        snprintf(err, errlen, "hold %lld is not open", (long long)hold_id);
        rc = STORE_NOT_FOUND;
    } else if (r != SQLITE_ROW) {
        rc = db_fail(s, err, errlen, "reading the hold");
    }
    /* the granted part is spent first (DeepSeek's rule), then the topped-up part */
    gw_nano_t from_granted = granted <= 0 ? 0 : row->cost < granted ? row->cost : granted;
    gw_nano_t from_topped = row->cost - from_granted;
    if (rc == STORE_OK && step_id(s, "DELETE FROM holds WHERE id = ?1", hold_id) != SQLITE_DONE)
        rc = db_fail(s, err, errlen, "releasing the hold");
    if (rc == STORE_OK) {
        st = prep(s, "UPDATE keys SET held = held - ?2, granted = granted - ?3, "
                     "topped_up = topped_up - ?4 WHERE key_id = ?1");
        r = SQLITE_ERROR;
        if (st) {
            sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, amount);
            sqlite3_bind_int64(st, 3, from_granted);
            sqlite3_bind_int64(st, 4, from_topped);
            r = sqlite3_step(st);
            sqlite3_finalize(st);
        }
        if (r != SQLITE_DONE)
            rc = db_fail(s, err, errlen, "charging the key");
    }
    if (rc == STORE_OK) {
        st = prep(s, "INSERT INTO ledger (at, key_id, request_id, model, backend, upstream, "
                     "upstream_key_id, status, hit, miss, output, reasoning, tier, cost, "
                     "from_granted, from_topped_up, ttft_ms, duration_ms, estimated, currency) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                     "?16, ?17, ?18, ?19, ?20)");
        r = SQLITE_ERROR;
        if (st) {
            sqlite3_bind_int64(st, 1, row->at);
            sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
            bind_text_or_null(st, 3, row->request_id);
            bind_text_or_null(st, 4, row->model);
            bind_text_or_null(st, 5, row->backend);
            bind_text_or_null(st, 6, row->upstream);
            bind_text_or_null(st, 7, row->upstream_key_id);
            bind_text_or_null(st, 8, row->status);
            sqlite3_bind_int64(st, 9, row->hit);
            sqlite3_bind_int64(st, 10, row->miss);
            sqlite3_bind_int64(st, 11, row->output);
            sqlite3_bind_int64(st, 12, row->reasoning);
            sqlite3_bind_int(st, 13, row->tier);
            sqlite3_bind_int64(st, 14, row->cost);
            sqlite3_bind_int64(st, 15, from_granted);
            sqlite3_bind_int64(st, 16, from_topped);
            sqlite3_bind_int64(st, 17, row->ttft_ms);
            sqlite3_bind_int64(st, 18, row->duration_ms);
            sqlite3_bind_int(st, 19, row->estimated);
            sqlite3_bind_text(st, 20, currency, -1, SQLITE_STATIC);
            r = sqlite3_step(st);
            sqlite3_finalize(st);
        }
        if (r != SQLITE_DONE)
            rc = db_fail(s, err, errlen, "writing the ledger row");
    }
    if (rc != STORE_OK) {
        rollback(s);
        return rc;
    }
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

store_rc_t store_open_holds(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h), void *ud,
                            char *err, size_t errlen)
{
    sqlite3_stmt *st =
        prep(s, "SELECT id, at, key_id, amount, request_id, model, tier FROM holds ORDER BY id");
    if (!st)
        return db_fail(s, err, errlen, "listing holds");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_open_hold_t h;
        memset(&h, 0, sizeof h);
        h.id = sqlite3_column_int64(st, 0);
        h.at = sqlite3_column_int64(st, 1);
        text_col(st, 2, h.key_id, sizeof h.key_id);
        h.amount = sqlite3_column_int64(st, 3);
        text_col(st, 4, h.request_id, sizeof h.request_id);
        text_col(st, 5, h.model, sizeof h.model);
        h.tier = sqlite3_column_int(st, 6);
        if (fn(ud, &h))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
                                                 : db_fail(s, err, errlen, "listing holds");
}

store_rc_t store_ledger_each(store_t *s, const char *key_id, int64_t since,
                             int (*fn)(void *ud, const store_ledger_row_t *r), void *ud, char *err,
                             size_t errlen)
{
    sqlite3_stmt *st =
        prep(s, "SELECT id, at, key_id, currency, request_id, model, backend, upstream, "
                "upstream_key_id, status, hit, miss, output, reasoning, tier, cost, ttft_ms, "
                "duration_ms, estimated FROM ledger WHERE at >= ?1 AND (?2 IS NULL OR key_id = ?2) "
                "ORDER BY id");
    if (!st)
        return db_fail(s, err, errlen, "reading the ledger");
    sqlite3_bind_int64(st, 1, since);
    if (key_id)
        sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    int rc;
    store_ledger_row_t r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&r, 0, sizeof r);
        r.id = sqlite3_column_int64(st, 0);
        r.at = sqlite3_column_int64(st, 1);
        text_col(st, 2, r.key_id, sizeof r.key_id);
        text_col(st, 3, r.currency, sizeof r.currency);
        text_col(st, 4, r.request_id, sizeof r.request_id);
        text_col(st, 5, r.model, sizeof r.model);
        text_col(st, 6, r.backend, sizeof r.backend);
        text_col(st, 7, r.upstream, sizeof r.upstream);
        text_col(st, 8, r.upstream_key_id, sizeof r.upstream_key_id);
        text_col(st, 9, r.status, sizeof r.status);
        r.hit = sqlite3_column_int64(st, 10);
        r.miss = sqlite3_column_int64(st, 11);
        r.output = sqlite3_column_int64(st, 12);
        r.reasoning = sqlite3_column_int64(st, 13);
        r.tier = sqlite3_column_int(st, 14);
        r.cost = sqlite3_column_int64(st, 15);
        r.ttft_ms = sqlite3_column_int64(st, 16);
        r.duration_ms = sqlite3_column_int64(st, 17);
        r.estimated = sqlite3_column_int(st, 18) != 0;
        if (fn(ud, &r))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
                                                 : db_fail(s, err, errlen, "reading the ledger");
}

store_rc_t store_release(store_t *s, int64_t hold_id, char *err, size_t errlen)
{
    if (exec(s, "BEGIN IMMEDIATE", err, errlen))
        return STORE_ERR;
    store_rc_t rc = STORE_OK;
    int r = step_id(s,
                    "UPDATE keys SET held = held - (SELECT amount FROM holds WHERE id = ?1) "
                    "WHERE key_id = (SELECT key_id FROM holds WHERE id = ?1)",
                    hold_id);
    if (r != SQLITE_DONE) {
        rc = db_fail(s, err, errlen, "releasing the hold");
    } else if (sqlite3_changes(s->db) != 1) {
        snprintf(err, errlen, "hold %lld is not open", (long long)hold_id);
        rc = STORE_NOT_FOUND;
    } else if (step_id(s, "DELETE FROM holds WHERE id = ?1", hold_id) != SQLITE_DONE) {
        rc = db_fail(s, err, errlen, "releasing the hold");
    }
    if (rc != STORE_OK) {
        rollback(s);
        return rc;
    }
    return exec(s, "COMMIT", err, errlen) ? STORE_ERR : STORE_OK;
}

store_rc_t store_data_version(store_t *s, int64_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = prep(s, "PRAGMA data_version");
    int r = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? STORE_OK : db_fail(s, err, errlen, "reading data_version");
}

int store_verify(store_t *s, FILE *report, char *err, size_t errlen)
{
    /* every key's parts against its history; TOTAL() would be a float: SUM() stays exact and
     * fails loudly on overflow */
    sqlite3_stmt *st = prep(
        s, "SELECT k.key_id, k.granted, k.topped_up, k.held,"
           " COALESCE((SELECT SUM(amount) FROM credits c WHERE c.key_id = k.key_id AND kind = "
           "'grant'), 0) - COALESCE((SELECT SUM(from_granted) FROM ledger l WHERE l.key_id = "
           "k.key_id), 0),"
           " COALESCE((SELECT SUM(amount) FROM credits c WHERE c.key_id = k.key_id AND kind = "
           "'topup'), 0) - COALESCE((SELECT SUM(from_topped_up) FROM ledger l WHERE l.key_id = "
           "k.key_id), 0),"
           " COALESCE((SELECT SUM(amount) FROM holds h WHERE h.key_id = k.key_id), 0)"
           " FROM keys k ORDER BY k.key_id");
    if (!st) {
        db_fail(s, err, errlen, "verifying");
        return -1;
    }
    int bad = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        static const char *const what[] = {"granted", "topped_up", "held"};
        for (int i = 0; i < 3; i++) {
            int64_t have = sqlite3_column_int64(st, 1 + i), want = sqlite3_column_int64(st, 4 + i);
            if (have == want)
                continue;
            bad++;
            if (report) {
                char a[GW_AMOUNT_TEXT], b[GW_AMOUNT_TEXT];
                fprintf(report, "key %s: %s is %s, its history says %s\n", id, what[i],
                        gw_amount_format(have, a), gw_amount_format(want, b));
            }
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_fail(s, err, errlen, "verifying");
        return -1;
    }
    return bad;
}
