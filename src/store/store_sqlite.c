/* store_sqlite.c - the store on SQLite: one file, WAL, forward migrations by PRAGMA
 * user_version, every money move in one IMMEDIATE transaction, and the statements of the hot
 * path (holds, settles, releases) prepared once per store.
 *
 * Durability: WAL with synchronous=NORMAL. A committed transaction survives a crash of seekd
 * (kill -9) because it is in the WAL file; on power loss the last transactions before the
 * WAL's last sync may be lost (SQLite syncs the WAL at checkpoints), never half of one. */
#include "store/store_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* The statements kept prepared: the hot path's, and the transaction's own. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_HOLD_KEY,
    ST_HOLD_INSERT,
    ST_KEY_EXISTS,
    ST_SETTLE_READ,
    ST_HOLD_DELETE,
    ST_SETTLE_KEY,
    ST_LEDGER_INSERT,
    ST_RELEASE_KEY,
    ST_DATA_VERSION,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* admission and the hold are one statement: no other request can spend in between */
    [ST_HOLD_KEY] = "UPDATE keys SET held = held + ?2 WHERE key_id = ?1 AND "
                    "granted + topped_up - held >= ?2",
    [ST_HOLD_INSERT] = "INSERT INTO holds (key_id, amount, request_id, model, tier, at, owner) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_KEY_EXISTS] = "SELECT 1 FROM keys WHERE key_id = ?1",
    [ST_SETTLE_READ] = "SELECT h.key_id, h.amount, k.granted, k.currency FROM holds h "
                       "JOIN keys k ON k.key_id = h.key_id WHERE h.id = ?1",
    [ST_HOLD_DELETE] = "DELETE FROM holds WHERE id = ?1",
    [ST_SETTLE_KEY] = "UPDATE keys SET held = held - ?2, granted = granted - ?3, "
                      "topped_up = topped_up - ?4 WHERE key_id = ?1",
    [ST_LEDGER_INSERT] =
        "INSERT INTO ledger (at, key_id, request_id, model, backend, upstream, "
        "upstream_key_id, status, hit, miss, output, reasoning, tier, cost, from_granted, "
        "from_topped_up, ttft_ms, duration_ms, estimated, currency) VALUES (?1, ?2, ?3, ?4, ?5, "
        "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    [ST_RELEASE_KEY] = "UPDATE keys SET held = held - (SELECT amount FROM holds WHERE id = ?1) "
                       "WHERE key_id = (SELECT key_id FROM holds WHERE id = ?1)",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

typedef struct {
    store_t base; /* first */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT]; /* prepared on first use */
} sq_t;

#define SQ(s) ((sq_t *)(s))
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
    /* 3: a hold names the instance that made it; instances record when they were last alive */
    ("ALTER TABLE holds ADD COLUMN owner TEXT;"
     "CREATE TABLE instances (id TEXT PRIMARY KEY, seen INTEGER NOT NULL);"),
};
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static store_rc_t db_fail(sq_t *q, char *err, size_t errlen, const char *what)
{
    /* an I/O error says what the system said (no space, no permission); a write that stopped
     * short (a full disk or a file-size limit) sets no errno, so it is named */
    int ext = sqlite3_extended_errcode(q->db), os = sqlite3_system_errno(q->db);
    int code = ext & 0xff;
    if (os && (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN))
        snprintf(err, errlen, "%s: %s (%s)", what, sqlite3_errmsg(q->db), strerror(os));
    else if (ext == SQLITE_IOERR_WRITE || code == SQLITE_FULL)
        snprintf(err, errlen, "%s: %s (a write to the database failed: is its disk full?)", what,
                 sqlite3_errmsg(q->db));
    else
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(q->db));
    return STORE_ERR;
}

static int exec(sq_t *q, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(q->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* A statement used once (the cold paths); the caller finalizes it. */
static sqlite3_stmt *prep(sq_t *q, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* A kept statement, ready to bind; the caller resets it after its last step (a statement left
 * stepping would hold its read snapshot open). */
static sqlite3_stmt *use(sq_t *q, int which)
{
    if (!q->st[which] && sqlite3_prepare_v3(q->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                            &q->st[which], NULL) != SQLITE_OK)
        return NULL;
    sqlite3_clear_bindings(q->st[which]);
    return q->st[which];
}

/* Steps a statement that returns no row we read, and resets it: sqlite3_step's result. */
static int run1(sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r;
}

static void rollback(sq_t *q)
{
    if (!sqlite3_get_autocommit(q->db)) {
        sqlite3_stmt *st = use(q, ST_ROLLBACK);
        if (!st || run1(st) != SQLITE_DONE)
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static int begin(sq_t *q, char *err, size_t errlen)
{
    sqlite3_stmt *st = use(q, ST_BEGIN);
    if (!st || run1(st) != SQLITE_DONE) {
        db_fail(q, err, errlen, "starting a transaction");
        return -1;
    }
    return 0;
}

/* Ends the transaction: commits when rc is STORE_OK, rolls back otherwise. Returns rc, or
 * STORE_ERR when the commit failed (then rolled back). */
static store_rc_t finish(sq_t *q, store_rc_t rc, char *err, size_t errlen)
{
    if (rc == STORE_OK) {
        sqlite3_stmt *st = use(q, ST_COMMIT);
        if (!st || run1(st) != SQLITE_DONE)
            rc = db_fail(q, err, errlen, "committing");
    }
    if (rc != STORE_OK)
        rollback(q);
    return rc;
}

static int sq_schema_version(store_t *s)
{
    sqlite3_stmt *st = prep(SQ(s), "PRAGMA user_version");
    int v = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(sq_t *q, char *err, size_t errlen)
{
    int v = sq_schema_version(&q->base);
    if (v < 0) {
        db_fail(q, err, errlen, "reading the schema version");
        return -1;
    }
    if (v > STORE_SCHEMA_VERSION) {
        store_newer_schema(v, err, errlen);
        return -1;
    }
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (exec(q, "BEGIN IMMEDIATE", err, errlen))
            return -1;
        if (exec(q, migrations[v], err, errlen) || exec(q, sql, err, errlen) ||
            exec(q, "COMMIT", err, errlen)) {
            rollback(q);
            return -1;
        }
    }
    return 0;
}

static void sq_close(store_t *s)
{
    sq_t *q = SQ(s);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close(q->db);
    free(q);
}

static store_rc_t sq_secret(store_t *s, uint8_t out[32], char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    sqlite3_stmt *st = prep(q, "SELECT v FROM meta WHERE k = 'key_secret'");
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(out, sqlite3_column_blob(st, 0), 32);
        sqlite3_finalize(st);
        return finish(q, STORE_OK, err, errlen);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return finish(q, db_fail(q, err, errlen, "reading the key secret"), err, errlen);
    if (store_random_secret(out, err, errlen))
        return finish(q, STORE_ERR, err, errlen);
    st = prep(q, "INSERT INTO meta (k, v) VALUES ('key_secret', ?1)");
    store_rc_t r = STORE_OK;
    if (!st || sqlite3_bind_blob(st, 1, out, 32, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        r = db_fail(q, err, errlen, "storing the key secret");
    sqlite3_finalize(st);
    return finish(q, r, err, errlen);
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

static int insert_credit(sq_t *q, const char *key_id, const char *kind, gw_nano_t amount,
                         int64_t now)
{
    sqlite3_stmt *st =
        prep(q, "INSERT INTO credits (key_id, at, kind, amount) VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, amount);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static store_rc_t sq_key_create(store_t *s, const store_key_t *k, const uint8_t *hmac, int64_t now,
                                char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    sqlite3_stmt *st = prep(q, "INSERT INTO keys (key_id, hmac, name, currency, granted, "
                               "topped_up, enabled, expires, created, rpm, tpm, concurrency, "
                               "models) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                               "?12, ?13)");
    if (!st)
        return finish(q, db_fail(q, err, errlen, "adding the key"), err, errlen);
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
    if (rc == SQLITE_CONSTRAINT)
        return finish(q, STORE_EXISTS, err, errlen);
    store_rc_t r = STORE_OK;
    if (rc != SQLITE_DONE ||
        (k->granted && insert_credit(q, k->key_id, "grant", k->granted, now)) ||
        (k->topped_up && insert_credit(q, k->key_id, "topup", k->topped_up, now)))
        r = db_fail(q, err, errlen, "adding the key");
    return finish(q, r, err, errlen);
}

static store_rc_t find_one(sq_t *q, sqlite3_stmt *st, store_key_t *out, char *err, size_t errlen)
{
    if (!st)
        return db_fail(q, err, errlen, "looking up the key");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_key(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    return db_fail(q, err, errlen, "looking up the key");
}

static store_rc_t sq_key_by_hmac(store_t *s, const uint8_t *hmac, store_key_t *out, char *err,
                                 size_t errlen)
{
    sqlite3_stmt *st = prep(SQ(s), "SELECT " KEY_COLUMNS " FROM keys WHERE hmac = ?1");
    if (st)
        sqlite3_bind_blob(st, 1, hmac, STORE_HMAC_LEN, SQLITE_STATIC);
    return find_one(SQ(s), st, out, err, errlen);
}

static store_rc_t sq_key_find(store_t *s, const char *id_or_name, store_key_t *out, char *err,
                              size_t errlen)
{
    sqlite3_stmt *st = prep(SQ(s), "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = ?1 OR "
                                   "name = ?1 ORDER BY key_id = ?1 DESC LIMIT 1");
    if (st)
        sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_STATIC);
    return find_one(SQ(s), st, out, err, errlen);
}

static store_rc_t sq_key_list(store_t *s, int (*fn)(void *ud, const store_key_t *k), void *ud,
                              char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st = prep(q, "SELECT " KEY_COLUMNS " FROM keys ORDER BY name");
    if (!st)
        return db_fail(q, err, errlen, "listing keys");
    int rc;
    store_key_t k;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_key(st, &k);
        if (fn(ud, &k))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
                                                 : db_fail(q, err, errlen, "listing keys");
}

/* Whether the key exists, inside a transaction that changed no row of it: the caller's reason
 * for that (NOT_FOUND when it does not exist, `otherwise` when it does). */
static store_rc_t why_unchanged(sq_t *q, const char *key_id, store_rc_t otherwise, char *err,
                                size_t errlen)
{
    sqlite3_stmt *st = use(q, ST_KEY_EXISTS);
    if (!st)
        return db_fail(q, err, errlen, "looking up the key");
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    int r = run1(st);
    return r == SQLITE_ROW    ? otherwise
           : r == SQLITE_DONE ? STORE_NOT_FOUND
                              : db_fail(q, err, errlen, "looking up the key");
}

/* Runs an UPDATE/DELETE of one key by id (?1) with one integer (?2): NOT_FOUND when no row. */
static store_rc_t update_key(sq_t *q, const char *sql, const char *key_id, int64_t v, char *err,
                             size_t errlen)
{
    sqlite3_stmt *st = prep(q, sql);
    if (!st)
        return db_fail(q, err, errlen, "updating the key");
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(q, err, errlen, "updating the key");
    return sqlite3_changes(q->db) == 1 ? STORE_OK : STORE_NOT_FOUND;
}

static store_rc_t sq_key_credit(store_t *s, const char *key_id, bool granted, gw_nano_t amount,
                                int64_t now, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    /* the balance stays far from int64's end: at most 1e18 nano-units per part */
    store_rc_t rc = update_key(
        q,
        granted ? "UPDATE keys SET granted = granted + ?2 WHERE key_id = ?1 AND granted + ?2 <= "
                  "1000000000000000000"
                : "UPDATE keys SET topped_up = topped_up + ?2 WHERE key_id = ?1 AND topped_up + "
                  "?2 <= 1000000000000000000",
        key_id, amount, err, errlen);
    if (rc == STORE_NOT_FOUND)
        rc = why_unchanged(q, key_id, STORE_TOO_LARGE, err, errlen);
    if (rc == STORE_OK && insert_credit(q, key_id, granted ? "grant" : "topup", amount, now))
        rc = db_fail(q, err, errlen, "recording the credit");
    return finish(q, rc, err, errlen);
}

static store_rc_t sq_key_set_enabled(store_t *s, const char *key_id, bool enabled, char *err,
                                     size_t errlen)
{
    return update_key(SQ(s), "UPDATE keys SET enabled = ?2 WHERE key_id = ?1", key_id, enabled, err,
                      errlen);
}

static store_rc_t sq_key_delete(store_t *s, const char *key_id, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    /* not while a hold is open, even one of 0 (held says 0 then): its settle needs the key */
    store_rc_t rc = update_key(q,
                               "DELETE FROM keys WHERE key_id = ?1 AND held = ?2 AND NOT EXISTS "
                               "(SELECT 1 FROM holds WHERE key_id = ?1)",
                               key_id, 0, err, errlen);
    if (rc == STORE_NOT_FOUND)
        rc = why_unchanged(q, key_id, STORE_HOLDS_OPEN, err, errlen);
    return finish(q, rc, err, errlen);
}

/* ---- holds and settles ---- */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* One hold inside the caller's transaction: STORE_OK, STORE_NO_BALANCE, STORE_NOT_FOUND or
 * STORE_ERR. */
static store_rc_t hold_in(sq_t *q, const char *key_id, gw_nano_t amount,
                          const store_hold_info_t *info, int64_t *hold_id, char *err, size_t errlen)
{
    sqlite3_stmt *st = use(q, ST_HOLD_KEY);
    if (!st)
        return db_fail(q, err, errlen, "holding");
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, amount);
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "holding");
    if (sqlite3_changes(q->db) != 1)
        return why_unchanged(q, key_id, STORE_NO_BALANCE, err, errlen);
    st = use(q, ST_HOLD_INSERT);
    if (!st)
        return db_fail(q, err, errlen, "recording the hold");
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, amount);
    sqlite3_bind_text(st, 3, info->request_id ? info->request_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, info->model ? info->model : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, info->tier);
    sqlite3_bind_int64(st, 6, info->at);
    bind_text_or_null(st, 7, info->owner);
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "recording the hold");
    *hold_id = sqlite3_last_insert_rowid(q->db);
    return STORE_OK;
}

static store_rc_t sq_hold(store_t *s, const char *key_id, gw_nano_t amount,
                          const store_hold_info_t *info, int64_t *hold_id, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    return finish(q, hold_in(q, key_id, amount, info, hold_id, err, errlen), err, errlen);
}

/* The holds of a batch inside the caller's transaction; STORE_ERR stops at the first failure. */
static store_rc_t holds_in(sq_t *q, store_hold_item_t *items, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        store_hold_item_t *it = &items[i];
        it->rc = hold_in(q, it->key_id, it->amount, &it->info, &it->hold_id, err, errlen);
        if (it->rc == STORE_ERR)
            return STORE_ERR;
    }
    return STORE_OK;
}

static store_rc_t sq_hold_many(store_t *s, store_hold_item_t *items, size_t n, char *err,
                               size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    return finish(q, holds_in(q, items, n, err, errlen), err, errlen);
}

/* One settle inside the caller's transaction: STORE_OK, STORE_NOT_FOUND or STORE_ERR. */
static store_rc_t settle_in(sq_t *q, int64_t hold_id, const store_row_t *row, char *err,
                            size_t errlen)
{
    sqlite3_stmt *st = use(q, ST_SETTLE_READ);
    if (!st)
        return db_fail(q, err, errlen, "reading the hold");
    char key_id[STORE_KEY_ID_LEN + 1] = "", currency[8] = "";
    gw_nano_t amount = 0, granted = 0;
    sqlite3_bind_int64(st, 1, hold_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        text_col(st, 0, key_id, sizeof key_id);
        amount = sqlite3_column_int64(st, 1);
        granted = sqlite3_column_int64(st, 2);
        text_col(st, 3, currency, sizeof currency);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return STORE_NOT_FOUND;
    if (r != SQLITE_ROW)
        return db_fail(q, err, errlen, "reading the hold");
    gw_nano_t from_granted, from_topped;
    store_split_cost(granted, row->cost, &from_granted, &from_topped);
    st = use(q, ST_HOLD_DELETE);
    if (!st)
        return db_fail(q, err, errlen, "releasing the hold");
    sqlite3_bind_int64(st, 1, hold_id);
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "releasing the hold");
    st = use(q, ST_SETTLE_KEY);
    if (!st)
        return db_fail(q, err, errlen, "charging the key");
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, amount);
    sqlite3_bind_int64(st, 3, from_granted);
    sqlite3_bind_int64(st, 4, from_topped);
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "charging the key");
    st = use(q, ST_LEDGER_INSERT);
    if (!st)
        return db_fail(q, err, errlen, "writing the ledger row");
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
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "writing the ledger row");
    return STORE_OK;
}

/* One release inside the caller's transaction. */
static store_rc_t release_in(sq_t *q, int64_t hold_id, char *err, size_t errlen)
{
    sqlite3_stmt *st = use(q, ST_RELEASE_KEY);
    if (!st)
        return db_fail(q, err, errlen, "releasing the hold");
    sqlite3_bind_int64(st, 1, hold_id);
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "releasing the hold");
    if (sqlite3_changes(q->db) != 1)
        return STORE_NOT_FOUND;
    st = use(q, ST_HOLD_DELETE);
    if (!st)
        return db_fail(q, err, errlen, "releasing the hold");
    sqlite3_bind_int64(st, 1, hold_id);
    if (run1(st) != SQLITE_DONE)
        return db_fail(q, err, errlen, "releasing the hold");
    return STORE_OK;
}

/* The settles and releases of a batch inside the caller's transaction. */
static store_rc_t settles_in(sq_t *q, store_settle_item_t *items, size_t n, char *err,
                             size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        store_settle_item_t *it = &items[i];
        it->rc = it->release ? release_in(q, it->hold_id, err, errlen)
                             : settle_in(q, it->hold_id, &it->row, err, errlen);
        if (it->rc == STORE_ERR)
            return STORE_ERR;
    }
    return STORE_OK;
}

static store_rc_t sq_settle_many(store_t *s, store_settle_item_t *items, size_t n, char *err,
                                 size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    return finish(q, settles_in(q, items, n, err, errlen), err, errlen);
}

static store_rc_t sq_apply(store_t *s, store_hold_item_t *holds, size_t nh,
                           store_settle_item_t *settles, size_t ns, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    if (begin(q, err, errlen))
        return STORE_ERR;
    store_rc_t rc = holds_in(q, holds, nh, err, errlen);
    if (rc == STORE_OK)
        rc = settles_in(q, settles, ns, err, errlen);
    return finish(q, rc, err, errlen);
}

static store_rc_t sq_instance_beat(store_t *s, const char *id, int64_t now_ms, char *err,
                                   size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st = prep(q, "INSERT INTO instances (id, seen) VALUES (?1, ?2) "
                               "ON CONFLICT (id) DO UPDATE SET seen = excluded.seen");
    if (!st)
        return db_fail(q, err, errlen, "recording the instance");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? STORE_OK : db_fail(q, err, errlen, "recording the instance");
}

static store_rc_t sq_instance_end(store_t *s, const char *id, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st = prep(q, "DELETE FROM instances WHERE id = ?1");
    if (!st)
        return db_fail(q, err, errlen, "forgetting the instance");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? STORE_OK : db_fail(q, err, errlen, "forgetting the instance");
}

static store_rc_t sq_instance_each(store_t *s, int (*fn)(void *ud, const char *id, int64_t seen_ms),
                                   void *ud, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st = prep(q, "SELECT id, seen FROM instances ORDER BY id");
    if (!st)
        return db_fail(q, err, errlen, "listing instances");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char id[STORE_INSTANCE_LEN + 1];
        text_col(st, 0, id, sizeof id);
        if (fn(ud, id, sqlite3_column_int64(st, 1)))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
                                                 : db_fail(q, err, errlen, "listing instances");
}

static store_rc_t sq_open_holds(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h),
                                void *ud, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st =
        prep(q, "SELECT id, at, key_id, amount, request_id, model, tier, owner FROM holds "
                "ORDER BY id");
    if (!st)
        return db_fail(q, err, errlen, "listing holds");
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
        text_col(st, 7, h.owner, sizeof h.owner);
        if (fn(ud, &h))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
                                                 : db_fail(q, err, errlen, "listing holds");
}

static store_rc_t sq_ledger_each(store_t *s, const char *key_id, int64_t since,
                                 int (*fn)(void *ud, const store_ledger_row_t *r), void *ud,
                                 char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st =
        prep(q, "SELECT id, at, key_id, currency, request_id, model, backend, upstream, "
                "upstream_key_id, status, hit, miss, output, reasoning, tier, cost, ttft_ms, "
                "duration_ms, estimated FROM ledger WHERE at >= ?1 AND (?2 IS NULL OR key_id = ?2) "
                "ORDER BY id");
    if (!st)
        return db_fail(q, err, errlen, "reading the ledger");
    sqlite3_bind_int64(st, 1, since);
    bind_text_or_null(st, 2, key_id);
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
                                                 : db_fail(q, err, errlen, "reading the ledger");
}

static store_rc_t sq_data_version(store_t *s, int64_t *out, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    sqlite3_stmt *st = use(q, ST_DATA_VERSION);
    int r = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    return r == SQLITE_ROW ? STORE_OK : db_fail(q, err, errlen, "reading data_version");
}

static store_rc_t sq_verify_each(store_t *s, store_verify_fn fn, void *ud, char *err, size_t errlen)
{
    sq_t *q = SQ(s);
    /* every key's parts against its history; TOTAL() would be a float: SUM() stays exact and
     * fails loudly on overflow */
    sqlite3_stmt *st = prep(
        q, "SELECT k.key_id, k.granted, k.topped_up, k.held,"
           " COALESCE((SELECT SUM(amount) FROM credits c WHERE c.key_id = k.key_id AND kind = "
           "'grant'), 0) - COALESCE((SELECT SUM(from_granted) FROM ledger l WHERE l.key_id = "
           "k.key_id), 0),"
           " COALESCE((SELECT SUM(amount) FROM credits c WHERE c.key_id = k.key_id AND kind = "
           "'topup'), 0) - COALESCE((SELECT SUM(from_topped_up) FROM ledger l WHERE l.key_id = "
           "k.key_id), 0),"
           " COALESCE((SELECT SUM(amount) FROM holds h WHERE h.key_id = k.key_id), 0)"
           " FROM keys k ORDER BY k.key_id");
    if (!st)
        return db_fail(q, err, errlen, "verifying");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char id[STORE_KEY_ID_LEN + 1];
        text_col(st, 0, id, sizeof id);
        int64_t have[3], want[3];
        for (int i = 0; i < 3; i++) {
            have[i] = sqlite3_column_int64(st, 1 + i);
            want[i] = sqlite3_column_int64(st, 4 + i);
        }
        if (fn(ud, id, have, want))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : db_fail(q, err, errlen, "verifying");
}

static const store_ops_t sqlite_ops = {
    .close = sq_close,
    .schema_version = sq_schema_version,
    .secret = sq_secret,
    .key_create = sq_key_create,
    .key_by_hmac = sq_key_by_hmac,
    .key_find = sq_key_find,
    .key_list = sq_key_list,
    .key_credit = sq_key_credit,
    .key_set_enabled = sq_key_set_enabled,
    .key_delete = sq_key_delete,
    .hold = sq_hold,
    .hold_many = sq_hold_many,
    .apply = sq_apply,
    .settle_many = sq_settle_many,
    .open_holds = sq_open_holds,
    .ledger_each = sq_ledger_each,
    .data_version = sq_data_version,
    .instance_beat = sq_instance_beat,
    .instance_end = sq_instance_end,
    .instance_each = sq_instance_each,
    .verify_each = sq_verify_each,
};

store_t *store_sqlite_open(const char *path, char *err, size_t errlen)
{
    sq_t *q = xcalloc(1, sizeof *q);
    q->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &q->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 q->db ? sqlite3_errmsg(q->db) : "out of memory");
        sq_close(&q->base);
        return NULL;
    }
    sqlite3_busy_timeout(q->db, 5000);
    char why[256];
    if (exec(q, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", why, sizeof why) ||
        migrate(q, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        sq_close(&q->base);
        return NULL;
    }
    return &q->base;
}
