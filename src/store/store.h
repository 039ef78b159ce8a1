/* store.h - durable accounts: client keys with their balances, holds for requests in flight,
 * and the ledger. Every operation that moves money is one transaction, so a balance can never
 * be spent twice by concurrent requests (admission and hold are one conditional UPDATE) and
 * every balance can be verified against its history (store_verify).
 *
 * Calls are synchronous and may wait on the disk or the network: the server calls them from its
 * database thread, never from the event loop. One store_t is used by one thread at a time.
 * store.c picks the implementation by URL (store_sqlite.c, store_pg.c) and keeps the checks and
 * messages they share. */
#ifndef SEEKD_STORE_STORE_H
#define SEEKD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/money.h"

#define STORE_KEY_ID_LEN 12 /* hex digits of the key's HMAC that name it everywhere */
#define STORE_NAME_MAX 64
#define STORE_MODELS_MAX 1024
#define STORE_HMAC_LEN 32
#define STORE_INSTANCE_LEN 32 /* an instance id's length at most */

typedef struct store store_t;

/* The result of an operation that can be refused for a reason the caller reports as such. */
typedef enum {
    STORE_OK = 0,
    STORE_ERR = -1,       /* the database failed (disk full, locked, corrupt): err says how */
    STORE_NOT_FOUND = -2, /* no such key or hold */
    STORE_EXISTS = -3,    /* a key with that name or HMAC exists */
    STORE_NO_BALANCE = -4 /* balance - held < the hold asked for */
} store_rc_t;

typedef struct {
    char key_id[STORE_KEY_ID_LEN + 1];
    char name[STORE_NAME_MAX + 1];
    gw_currency_t currency;
    gw_nano_t granted, topped_up, held; /* balance = granted + topped_up */
    bool enabled;
    int64_t expires;                   /* unix seconds; 0: never */
    int64_t created;                   /* unix seconds */
    int64_t rpm, tpm;                  /* 0: no limit */
    int64_t concurrency;               /* 0: no limit */
    char models[STORE_MODELS_MAX + 1]; /* comma-separated; empty: every model */
    uint8_t hmac[STORE_HMAC_LEN];      /* filled by reads; store_key_create takes it apart */
} store_key_t;

/** Opens the store at `url`: `sqlite:PATH` or a bare path (SQLite, the file created when
 * missing), or `postgres://...` / `postgresql://...` (PostgreSQL through libpq: the database
 * must exist; its tables are created). The schema is created or migrated forward to the
 * current version; a newer schema than this binary knows is refused. Returns NULL with err set
 * (a URL in it has its password masked). */
store_t *store_open(const char *url, char *err, size_t errlen);
void store_close(store_t *s);

/** The schema version of an open store. */
int store_schema_version(store_t *s);

/** A 32-byte server secret kept in the store, created on first use: the HMAC key for client
 * keys unless SEEKD_KEY_SECRET overrides it. */
store_rc_t store_secret(store_t *s, uint8_t out[32], char *err, size_t errlen);

/* ---- keys ---- */

/** Adds a key with its HMAC and fields (k->key_id, name, currency, limits, models, expires;
 * granted/topped_up are the opening balance and are recorded as credits). */
store_rc_t store_key_create(store_t *s, const store_key_t *k, const uint8_t hmac[STORE_HMAC_LEN],
                            int64_t now, char *err, size_t errlen);
store_rc_t store_key_by_hmac(store_t *s, const uint8_t hmac[STORE_HMAC_LEN], store_key_t *out,
                             char *err, size_t errlen);
/** By key id or by name. */
store_rc_t store_key_find(store_t *s, const char *id_or_name, store_key_t *out, char *err,
                          size_t errlen);
/** Calls fn for every key, by name. fn returns nonzero to stop. */
store_rc_t store_key_list(store_t *s, int (*fn)(void *ud, const store_key_t *k), void *ud,
                          char *err, size_t errlen);
/** Adds `amount` (> 0) to the granted or topped-up part, with a credit row saying so. */
store_rc_t store_key_credit(store_t *s, const char *key_id, bool granted, gw_nano_t amount,
                            int64_t now, char *err, size_t errlen);
store_rc_t store_key_set_enabled(store_t *s, const char *key_id, bool enabled, char *err,
                                 size_t errlen);
/** Deletes a key that has no hold open; its ledger rows stay. */
store_rc_t store_key_delete(store_t *s, const char *key_id, char *err, size_t errlen);

/* ---- holds and settles ---- */

typedef struct {
    const char *request_id, *model;
    int tier; /* gw_tier_t, decided at request start */
    int64_t at;
    const char *owner; /* the instance that holds it (see store_instance_beat); NULL: none */
} store_hold_info_t;

/** Admits a request: holds `amount` on the key if balance - held >= amount, atomically.
 * STORE_NO_BALANCE when not (nothing changes). */
store_rc_t store_hold(store_t *s, const char *key_id, gw_nano_t amount,
                      const store_hold_info_t *info, int64_t *hold_id, char *err, size_t errlen);

/** One hold of a batch. `key_id` and the info's strings are read; `hold_id` and `rc` are
 * written. */
typedef struct {
    const char *key_id;
    gw_nano_t amount;
    store_hold_info_t info;
    int64_t hold_id; /* out, when rc is STORE_OK */
    store_rc_t rc;   /* out: STORE_OK, STORE_NO_BALANCE, STORE_NOT_FOUND (no such key) or
                        STORE_ERR */
} store_hold_item_t;

/** Admits n requests in ONE transaction, each exactly as store_hold would, in order (so two
 * holds on one key see each other's amount: together they never pass the balance). On a
 * database error, or an amount out of range, nothing is applied, every item's rc is STORE_ERR
 * and STORE_ERR is returned with err set. Otherwise STORE_OK. */
store_rc_t store_hold_many(store_t *s, store_hold_item_t *items, size_t n, char *err,
                           size_t errlen);

/** One ledger row: what a request cost and why. Strings may be NULL. */
typedef struct {
    int64_t at;
    const char *request_id, *model, *backend, *upstream, *upstream_key_id, *status;
    int64_t hit, miss, output, reasoning;
    int tier;
    gw_nano_t cost;
    int64_t ttft_ms, duration_ms;
    bool estimated;
} store_row_t;

/** Settles a hold exactly once: releases it, spends `row->cost` from the granted part first,
 * then the topped-up part, and writes the ledger row, in one transaction. The cost may exceed
 * the hold (the balance may then go negative: what was delivered is billed). A hold already
 * settled is STORE_NOT_FOUND and changes nothing. */
store_rc_t store_settle(store_t *s, int64_t hold_id, const store_row_t *row, char *err,
                        size_t errlen);

/** One settle or release of a batch. `row` (and the strings it points to) is read only for a
 * settle; `rc` is written. */
typedef struct {
    int64_t hold_id;
    bool release;
    store_row_t row; /* unused on release */
    store_rc_t rc;   /* out: STORE_OK, STORE_NOT_FOUND (not open: nothing changed) or STORE_ERR */
} store_settle_item_t;

/** Settles or releases n holds in ONE transaction (one disk sync, one round trip where the
 * database allows), each exactly as store_settle / store_release would, in order: each item's
 * rc says STORE_OK or STORE_NOT_FOUND (already settled or released: changes nothing). On a
 * database error, or an item whose cost is out of range, nothing is applied, every item's rc is
 * STORE_ERR and STORE_ERR is returned with err set. Otherwise STORE_OK. */
store_rc_t store_settle_many(store_t *s, store_settle_item_t *items, size_t n, char *err,
                             size_t errlen);

/** A batch of holds and a batch of settles and releases, in one transaction where the store
 * can (SQLite; PostgreSQL uses two, one each), as store_hold_many then store_settle_many
 * would: on a database error each part that failed has every rc STORE_ERR and STORE_ERR is
 * returned with err set. */
store_rc_t store_apply(store_t *s, store_hold_item_t *holds, size_t nh,
                       store_settle_item_t *settles, size_t ns, char *err, size_t errlen);

/** The holds left open (after a crash): calls fn for each; the caller settles or releases. */
typedef struct {
    int64_t id, at;
    char key_id[STORE_KEY_ID_LEN + 1];
    gw_nano_t amount;
    char request_id[80];
    char model[128];
    int tier;
    char owner[STORE_INSTANCE_LEN + 1]; /* empty: none (made before owners were recorded) */
} store_open_hold_t;
store_rc_t store_open_holds(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h), void *ud,
                            char *err, size_t errlen);

/** A ledger row as read back. */
typedef struct {
    int64_t id, at;
    char key_id[STORE_KEY_ID_LEN + 1];
    char currency[8];
    char request_id[80], model[128], backend[32], upstream[64], upstream_key_id[16], status[32];
    int64_t hit, miss, output, reasoning;
    int tier; /* gw_tier_t */
    gw_nano_t cost;
    int64_t ttft_ms, duration_ms;
    bool estimated;
} store_ledger_row_t;

/** Calls fn for every ledger row from `since` (unix seconds) on, of one key (NULL: all), in
 * the order they were written. fn returns nonzero to stop. */
store_rc_t store_ledger_each(store_t *s, const char *key_id, int64_t since,
                             int (*fn)(void *ud, const store_ledger_row_t *r), void *ud, char *err,
                             size_t errlen);

/** Releases a hold without charging (after a crash nothing is known of what it delivered,
 * or the request never reached a backend). STORE_NOT_FOUND when it is not open. */
store_rc_t store_release(store_t *s, int64_t hold_id, char *err, size_t errlen);

/* ---- instances sharing the store ----
 * Each running server has an id and beats (records the time) every second or so; the holds it
 * makes carry its id. A hold whose owner stopped beating belongs to a server that died: any
 * instance may release it. A live instance's holds are never touched by another. */

/** Records that instance `id` is alive at now_ms (unix milliseconds). */
store_rc_t store_instance_beat(store_t *s, const char *id, int64_t now_ms, char *err,
                               size_t errlen);
/** Forgets an instance (a clean stop). */
store_rc_t store_instance_end(store_t *s, const char *id, char *err, size_t errlen);
/** Calls fn(ud, id, seen_ms) for every instance recorded. */
store_rc_t store_instance_each(store_t *s, int (*fn)(void *ud, const char *id, int64_t seen_ms),
                               void *ud, char *err, size_t errlen);

/** A number that changes when another connection (the CLI, another instance) commits a change
 * to the keys: poll it to see key changes made elsewhere. (SQLite: any commit changes it;
 * PostgreSQL: key creation, credits, enabling and deletion do, holds and settles do not.) */
store_rc_t store_data_version(store_t *s, int64_t *out, char *err, size_t errlen);

/** Checks every key: granted and topped_up equal their credits minus the settled rows' spend,
 * exactly, and held equals the open holds. Writes one line per mismatch to `report` (may be
 * NULL). Returns the number of mismatches (0: the ledger is sound), or -1 with err set. */
int store_verify(store_t *s, FILE *report, char *err, size_t errlen);

/** Writes `url` to out with the password masked (`postgres://user:***@host/db`, and a
 * `password=` parameter's value likewise), for logs and messages. A path is copied as it is. */
void store_url_redact(const char *url, char *out, size_t cap);

#endif
