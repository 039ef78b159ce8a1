/* accounts.h - metered client keys at request time: who the caller is (from a table of keys
 * kept on the loop and refreshed from the store within a second of any change), the hold that
 * admits a request, and the settle that bills it. The store is only touched on one database
 * thread; the loop hears back through workers.h. */
#ifndef SEEKD_GATEWAY_ACCOUNTS_H
#define SEEKD_GATEWAY_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/keys.h"
#include "gateway/money.h"
#include "store/store.h"

struct event_base;
typedef struct accounts accounts_t;

/** A key as the loop knows it (no balance: that lives in the store, for holds). */
typedef struct {
    uint8_t hmac[STORE_HMAC_LEN];
    char key_id[STORE_KEY_ID_LEN + 1];
    char name[STORE_NAME_MAX + 1];
    gw_currency_t currency;
    bool enabled;
    int64_t expires;
    int64_t rpm, tpm, concurrency;
    char models[STORE_MODELS_MAX + 1];
} acct_key_t;

/** Opens the store at db_url, loads its keys, and releases every hold whose server is gone
 * (each logged: seekd cannot know what it delivered). Several servers may share one store:
 * each beats every second, and one silent for `lease_ms` (<= 0: 30 s) is taken for dead, its
 * holds released by whichever server looks next (every 5 s). NULL with err set on failure. */
accounts_t *accounts_open(struct event_base *base, const char *db_url, long lease_ms, char *err,
                          size_t errlen);

/** Finishes every settle still queued (on the calling thread), then closes the store. */
void accounts_free(accounts_t *a);

/** Whether the store holds, or has held since start, any key: then every API request needs
 * one (deleting the last key refuses everyone rather than opening the server). */
bool accounts_active(const accounts_t *a);

/** Checks a bearer token against the keys: 0 with *out (valid until the next table refresh
 * hands back: use it within the current callback) when it is a usable key for `model` (NULL:
 * any), else the HTTP status (401 unknown, disabled or expired; 403 model not allowed) with
 * *msg set to the message to send. */
int accounts_authorize(accounts_t *a, const char *token, size_t len, const char *model, int64_t now,
                       const acct_key_t **out, const char **msg);

typedef struct acct_hold acct_hold_t;
/** The outcome of a hold: rc is STORE_OK (hold_id set), STORE_NO_BALANCE, or an error. */
typedef void (*acct_hold_cb)(void *ud, store_rc_t rc, int64_t hold_id);

/** Asks the store to hold `amount` on the key; cb runs later on the loop, never inside this
 * call. accounts_hold_cancel before cb: cb never runs, and a hold made meanwhile is released. */
acct_hold_t *accounts_hold(accounts_t *a, const char *key_id, gw_nano_t amount,
                           const char *request_id, const char *model, int tier, int64_t now,
                           acct_hold_cb cb, void *ud);
void accounts_hold_cancel(acct_hold_t *h);

/** Reads a key's balance from the store; cb runs later on the loop (cancel: as a hold). */
typedef void (*acct_balance_cb)(void *ud, store_rc_t rc, const store_key_t *k);
acct_hold_t *accounts_balance(accounts_t *a, const char *key_id, acct_balance_cb cb, void *ud);

/** Runs fn(store, secret, ud) on the database thread (for the admin API: the store is only
 * ever touched there), then done(ud, ran) on the loop; ran is false when the server stopped
 * first. fn returns whether it may have changed the keys (the loop's table is then reloaded
 * at the next tick). Cancel as a hold: done never runs. */
typedef bool (*acct_run_fn)(store_t *s, const gw_secret_t *secret, void *ud);
typedef void (*acct_done_fn)(void *ud, bool ran);
acct_hold_t *accounts_run(accounts_t *a, acct_run_fn fn, acct_done_fn done, void *ud);

/** Bills a hold (fire and forget; the row's strings are copied). Failures are logged. */
void accounts_settle(accounts_t *a, int64_t hold_id, const store_row_t *row);

/** Releases a hold without charge (the request never reached a backend). */
void accounts_release(accounts_t *a, int64_t hold_id);

/** Settles and releases queued or running (0 when all are durable). */
int accounts_pending(const accounts_t *a);

#endif
