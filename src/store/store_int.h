/* store_int.h - what a store implementation provides to store.c: a table of operations, the
 * common head of its handle, and the helpers they share. Not for callers of store.h. */
#ifndef SEEKD_STORE_STORE_INT_H
#define SEEKD_STORE_STORE_INT_H

#include "store/store.h"

/* Internal results beside store_rc_t's, mapped by store.c to a public one with its message. */
#define STORE_TOO_LARGE ((store_rc_t)-100)  /* a credit would pass GW_AMOUNT_MAX per part */
#define STORE_HOLDS_OPEN ((store_rc_t)-101) /* a key to delete has holds open */

/* Called once per key by verify_each: the key's granted, topped_up and held as stored (have),
 * and as its credits, ledger rows and open holds say they must be (want). */
typedef int (*store_verify_fn)(void *ud, const char *key_id, const int64_t have[3],
                               const int64_t want[3]);

/* Arguments reach these already checked by store.c (amounts in range). err is set on every
 * STORE_ERR; for the other results store.c writes the message. */
typedef struct store_ops {
    void (*close)(store_t *s);
    int (*schema_version)(store_t *s);
    store_rc_t (*secret)(store_t *s, uint8_t out[32], char *err, size_t errlen);
    store_rc_t (*key_create)(store_t *s, const store_key_t *k, const uint8_t *hmac, int64_t now,
                             char *err, size_t errlen); /* STORE_EXISTS */
    store_rc_t (*key_by_hmac)(store_t *s, const uint8_t *hmac, store_key_t *out, char *err,
                              size_t errlen);
    store_rc_t (*key_find)(store_t *s, const char *id_or_name, store_key_t *out, char *err,
                           size_t errlen);
    store_rc_t (*key_list)(store_t *s, int (*fn)(void *ud, const store_key_t *k), void *ud,
                           char *err, size_t errlen);
    store_rc_t (*key_credit)(store_t *s, const char *key_id, bool granted, gw_nano_t amount,
                             int64_t now, char *err, size_t errlen); /* STORE_TOO_LARGE */
    store_rc_t (*key_set_enabled)(store_t *s, const char *key_id, bool enabled, char *err,
                                  size_t errlen);
    store_rc_t (*key_delete)(store_t *s, const char *key_id, char *err,
                             size_t errlen); /* STORE_HOLDS_OPEN */
    store_rc_t (*hold)(store_t *s, const char *key_id, gw_nano_t amount,
                       const store_hold_info_t *info, int64_t *hold_id, char *err,
                       size_t errlen); /* STORE_NO_BALANCE */
    /* every item's rc set (NO_BALANCE and NOT_FOUND without messages); on STORE_ERR nothing
     * applied (store.c then sets every rc) */
    store_rc_t (*hold_many)(store_t *s, store_hold_item_t *items, size_t n, char *err,
                            size_t errlen);
    /* holds then settles in one transaction; NULL: store.c makes two calls */
    store_rc_t (*apply)(store_t *s, store_hold_item_t *holds, size_t nh,
                        store_settle_item_t *settles, size_t ns, char *err, size_t errlen);
    /* every item's rc set; on STORE_ERR nothing applied (store.c then sets every rc) */
    store_rc_t (*settle_many)(store_t *s, store_settle_item_t *items, size_t n, char *err,
                              size_t errlen);
    store_rc_t (*open_holds)(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h), void *ud,
                             char *err, size_t errlen);
    store_rc_t (*ledger_each)(store_t *s, const char *key_id, int64_t since,
                              int (*fn)(void *ud, const store_ledger_row_t *r), void *ud, char *err,
                              size_t errlen);
    store_rc_t (*data_version)(store_t *s, int64_t *out, char *err, size_t errlen);
    store_rc_t (*instance_beat)(store_t *s, const char *id, int64_t now_ms, char *err,
                                size_t errlen);
    store_rc_t (*instance_end)(store_t *s, const char *id, char *err, size_t errlen);
    store_rc_t (*instance_each)(store_t *s, int (*fn)(void *ud, const char *id, int64_t seen_ms),
                                void *ud, char *err, size_t errlen);
    store_rc_t (*verify_each)(store_t *s, store_verify_fn fn, void *ud, char *err, size_t errlen);
} store_ops_t;

/* The head of every implementation's handle: its struct starts with this. */
struct store {
    const store_ops_t *ops;
};

/* The schema version both implementations migrate to (their migrations mirror each other). */
#define STORE_SCHEMA_VERSION 3

store_t *store_sqlite_open(const char *path, char *err, size_t errlen);
store_t *store_pg_open(const char *url, char *err, size_t errlen);

/** 32 bytes from /dev/urandom; -1 with err set when they cannot be read. */
int store_random_secret(uint8_t out[32], char *err, size_t errlen);

/** The message for a schema newer than this binary. */
void store_newer_schema(int version, char *err, size_t errlen);

/** What a cost takes from the granted part (spent first, never below 0) and the topped-up part. */
void store_split_cost(gw_nano_t granted, gw_nano_t cost, gw_nano_t *from_granted,
                      gw_nano_t *from_topped_up);

#endif
