/* store_pg_int.h - what the two files of the PostgreSQL store share: the handle, statements
 * prepared once per connection, parameters, and the calls that run them. */
#ifndef SEEKD_STORE_STORE_PG_INT_H
#define SEEKD_STORE_STORE_PG_INT_H

#include <libpq-fe.h>

#include "store/store_int.h"

/* The statements prepared on each connection (again after a reconnect). */
typedef enum {
    PS_KEY_EXISTS,
    PS_HOLD,
    PS_SETTLE,
    PS_RELEASE,
    PS_LOCK_KEYS,
    PS_DATA_VERSION,
    PS_COUNT
} pg_stmt_t;

typedef struct {
    store_t base; /* first */
    PGconn *conn;
    char url[1024];   /* as given: reconnecting needs it */
    char shown[1024]; /* the URL with its password masked, for messages */
    bool prepared[PS_COUNT];
    bool broken; /* the connection's state is unknown: reconnect before the next call */
} pg_t;

#define PG(s) ((pg_t *)(s))

/* Parameters of one statement, in text format except where p_bytes puts binary. */
#define PG_MAX_PARAMS 20
typedef struct {
    int n;
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    int fmt[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
    char *owned[PG_MAX_PARAMS]; /* text that had to be made valid UTF-8 */
} pg_params_t;

void pg_p_i64(pg_params_t *p, int64_t v);
/** Text, or SQL NULL for NULL; bytes that are not UTF-8 become '?' (the database's encoding
 * would refuse the whole statement, and with it a batch of settles). */
void pg_p_text(pg_params_t *p, const char *s);
void pg_p_bytes(pg_params_t *p, const void *b, int len);
void pg_params_free(pg_params_t *p);

/** Makes the connection usable: reconnects when it was lost (the failed call already said
 * so), rolls back what a failed call left open. -1 with err set when the server cannot be
 * reached. */
int pg_ready(pg_t *g, char *err, size_t errlen);

/** Prepares `which` on this connection when it is not yet. */
int pg_prepare(pg_t *g, pg_stmt_t which, char *err, size_t errlen);

/** Runs a prepared statement; the result (PQclear it) or NULL with err set (`what: why`). */
PGresult *pg_run(pg_t *g, pg_stmt_t which, const pg_params_t *p, const char *what, char *err,
                 size_t errlen);

/** Runs SQL with parameters (none may be NULL p); as pg_run. */
PGresult *pg_query(pg_t *g, const char *sql, const pg_params_t *p, const char *what, char *err,
                   size_t errlen);

/** Runs SQL with parameters and calls row() for each row as it arrives (single-row mode: a
 * long ledger is never held whole). row returns nonzero to stop (the rest is read and
 * dropped). */
store_rc_t pg_each_row(pg_t *g, const char *sql, const pg_params_t *p,
                       int (*row)(void *ud, const PGresult *r), void *ud, const char *what,
                       char *err, size_t errlen);

/** Writes `what: the server's message` (one line) to err; STORE_ERR. r may be NULL. */
store_rc_t pg_fail(pg_t *g, const PGresult *r, const char *what, char *err, size_t errlen);

/** Transactions by simple statements (BEGIN, COMMIT, ROLLBACK). */
int pg_begin(pg_t *g, char *err, size_t errlen);
/** Commits when rc is STORE_OK, rolls back otherwise; rc, or STORE_ERR when the commit failed. */
store_rc_t pg_finish(pg_t *g, store_rc_t rc, char *err, size_t errlen);

/** After a change of no row of a key: NOT_FOUND when the key does not exist, `otherwise` when
 * it does. */
store_rc_t pg_why_unchanged(pg_t *g, const char *key_id, store_rc_t otherwise, char *err,
                            size_t errlen);

int64_t pg_i64(const PGresult *r, int row, int col);
void pg_text(const PGresult *r, int row, int col, char *out, size_t cap);

/* store_pg_ledger.c */
store_rc_t pg_hold(store_t *s, const char *key_id, gw_nano_t amount, const store_hold_info_t *info,
                   int64_t *hold_id, char *err, size_t errlen);
store_rc_t pg_hold_many(store_t *s, store_hold_item_t *items, size_t n, char *err, size_t errlen);
store_rc_t pg_settle_many(store_t *s, store_settle_item_t *items, size_t n, char *err,
                          size_t errlen);
store_rc_t pg_open_holds(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h), void *ud,
                         char *err, size_t errlen);
store_rc_t pg_ledger_each(store_t *s, const char *key_id, int64_t since,
                          int (*fn)(void *ud, const store_ledger_row_t *r), void *ud, char *err,
                          size_t errlen);
store_rc_t pg_verify_each(store_t *s, store_verify_fn fn, void *ud, char *err, size_t errlen);

#endif
