/* store_pg_ledger.c - holds, settles (a batch in one transaction and one round trip, through
 * libpq's pipeline mode), open holds, the ledger and verify on PostgreSQL. */
#include "store/store_pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Items sent before their results are read: bounded, so what the server sends back meanwhile
 * (a few dozen bytes an item) never fills the socket while we are still writing. */
#define PIPE_CHUNK 256

store_rc_t pg_hold(store_t *s, const char *key_id, gw_nano_t amount, const store_hold_info_t *info,
                   int64_t *hold_id, char *err, size_t errlen)
{
    pg_t *g = PG(s);
    if (pg_ready(g, err, errlen))
        return STORE_ERR;
    pg_params_t p = {0};
    pg_p_text(&p, key_id);
    pg_p_i64(&p, amount);
    pg_p_text(&p, info->request_id ? info->request_id : "");
    pg_p_text(&p, info->model ? info->model : "");
    pg_p_i64(&p, info->tier);
    pg_p_i64(&p, info->at);
    pg_p_text(&p, info->owner);
    PGresult *r = pg_run(g, PS_HOLD, &p, "holding", err, errlen);
    pg_params_free(&p);
    if (!r)
        return STORE_ERR;
    store_rc_t rc = STORE_OK;
    if (PQntuples(r) == 1)
        *hold_id = pg_i64(r, 0, 0);
    else
        rc = pg_why_unchanged(g, key_id, STORE_NO_BALANCE, err, errlen);
    PQclear(r);
    return rc;
}

/* ---- a batch of holds ---- */

static int cmp_hold_key(const void *x, const void *y)
{
    const store_hold_item_t *a = *(store_hold_item_t *const *)x,
                            *b = *(store_hold_item_t *const *)y;
    int c = strcmp(a->key_id, b->key_id);
    return c ? c : (a < b ? -1 : a > b); /* stable: one key's holds keep their order */
}

store_rc_t pg_hold_many(store_t *s, store_hold_item_t *items, size_t n, char *err, size_t errlen)
{
    pg_t *g = PG(s);
    if (pg_ready(g, err, errlen) || pg_begin(g, err, errlen))
        return STORE_ERR;
    /* keys are locked in one order (by key id), so two instances' batches never wait on each
     * other in a circle */
    store_hold_item_t **order = xmalloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = &items[i];
    qsort(order, n, sizeof *order, cmp_hold_key);
    store_rc_t rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        store_hold_item_t *it = order[i];
        pg_params_t p = {0};
        pg_p_text(&p, it->key_id);
        pg_p_i64(&p, it->amount);
        pg_p_text(&p, it->info.request_id ? it->info.request_id : "");
        pg_p_text(&p, it->info.model ? it->info.model : "");
        pg_p_i64(&p, it->info.tier);
        pg_p_i64(&p, it->info.at);
        pg_p_text(&p, it->info.owner);
        PGresult *r = pg_run(g, PS_HOLD, &p, "holding", err, errlen);
        pg_params_free(&p);
        if (!r) {
            rc = STORE_ERR;
            break;
        }
        if (PQntuples(r) == 1) {
            it->hold_id = pg_i64(r, 0, 0);
            it->rc = STORE_OK;
        } else {
            it->rc = pg_why_unchanged(g, it->key_id, STORE_NO_BALANCE, err, errlen);
            if (it->rc == STORE_ERR)
                rc = STORE_ERR;
        }
        PQclear(r);
    }
    free(order);
    return pg_finish(g, rc, err, errlen);
}

/* ---- a batch of settles ---- */

static bool send_simple(pg_t *g, const char *sql)
{
    return PQsendQueryParams(g->conn, sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
}

static bool send_prepared(pg_t *g, pg_stmt_t which, const pg_params_t *p)
{
    char name[16];
    snprintf(name, sizeof name, "seekd_%d", (int)which);
    return PQsendQueryPrepared(g->conn, name, p->n, p->v, p->len, p->fmt, 0) == 1;
}

/* The batch's keys, locked in key order before anything else (see PS_LOCK_KEYS). */
static bool send_lock(pg_t *g, const store_settle_item_t *items, size_t n)
{
    char *ids = xmalloc(n * 22 + 3), *o = ids;
    *o++ = '{';
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s%lld", i ? "," : "", (long long)items[i].hold_id);
    *o++ = '}';
    *o = '\0';
    pg_params_t p = {0};
    pg_p_text(&p, ids);
    bool ok = send_prepared(g, PS_LOCK_KEYS, &p);
    pg_params_free(&p);
    free(ids);
    return ok;
}

static bool send_item(pg_t *g, const store_settle_item_t *it)
{
    pg_params_t p = {0};
    pg_p_i64(&p, it->hold_id);
    if (it->release)
        return send_prepared(g, PS_RELEASE, &p);
    const store_row_t *row = &it->row;
    pg_p_i64(&p, row->cost);
    pg_p_i64(&p, row->at);
    pg_p_text(&p, row->request_id);
    pg_p_text(&p, row->model);
    pg_p_text(&p, row->backend);
    pg_p_text(&p, row->upstream);
    pg_p_text(&p, row->upstream_key_id);
    pg_p_text(&p, row->status);
    pg_p_i64(&p, row->hit);
    pg_p_i64(&p, row->miss);
    pg_p_i64(&p, row->output);
    pg_p_i64(&p, row->reasoning);
    pg_p_i64(&p, row->tier);
    pg_p_i64(&p, row->ttft_ms);
    pg_p_i64(&p, row->duration_ms);
    pg_p_text(&p, row->estimated ? "true" : "false");
    bool ok = send_prepared(g, PS_SETTLE, &p);
    pg_params_free(&p);
    return ok;
}

/* Reads one pipelined statement's results, up to the NULL that ends them: its row count, or -1
 * when it failed (the first failure of the batch goes to err and *rc). */
static int read_one(pg_t *g, store_rc_t *rc, const char *what, char *err, size_t errlen)
{
    int rows = -1;
    bool any = false;
    PGresult *r;
    while ((r = PQgetResult(g->conn)) != NULL) {
        any = true;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            rows = PQntuples(r);
        else if (*rc == STORE_OK)
            *rc = pg_fail(g, r, what, err, errlen); /* the rest of the batch reads ABORTED */
        PQclear(r);
    }
    if (!any && *rc == STORE_OK) /* the connection is gone */
        *rc = pg_fail(g, NULL, what, err, errlen);
    return *rc == STORE_OK ? rows : -1;
}

/* Sends items [from, to) (with BEGIN and the lock first, COMMIT last) and one sync, then reads
 * every result. */
static void run_chunk(pg_t *g, store_settle_item_t *items, size_t n, size_t from, size_t to,
                      store_rc_t *rc, char *err, size_t errlen)
{
    bool first = from == 0, last = to == n, sent = true;
    if (first)
        sent = send_simple(g, "BEGIN") && (n == 1 || send_lock(g, items, n));
    for (size_t i = from; sent && i < to; i++)
        sent = send_item(g, &items[i]);
    if (sent && last)
        sent = send_simple(g, "COMMIT");
    if (!sent || !PQpipelineSync(g->conn)) {
        *rc = pg_fail(g, NULL, "sending the settles", err, errlen);
        g->broken = true; /* what reached the server is not known: start afresh */
        return;
    }
    if (first) {
        read_one(g, rc, "starting a transaction", err, errlen);
        if (n > 1)
            read_one(g, rc, "locking the keys", err, errlen);
    }
    for (size_t i = from; i < to; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s hold %lld", items[i].release ? "releasing" : "settling",
                 (long long)items[i].hold_id);
        int rows = read_one(g, rc, what, err, errlen);
        items[i].rc = rows > 0 ? STORE_OK : rows == 0 ? STORE_NOT_FOUND : STORE_ERR;
    }
    if (last)
        read_one(g, rc, "committing", err, errlen);
    PGresult *r = PQgetResult(g->conn);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        if (*rc == STORE_OK)
            *rc = pg_fail(g, r, "settling", err, errlen);
        g->broken = true;
    }
    PQclear(r);
}

store_rc_t pg_settle_many(store_t *s, store_settle_item_t *items, size_t n, char *err,
                          size_t errlen)
{
    pg_t *g = PG(s);
    if (pg_ready(g, err, errlen) || pg_prepare(g, PS_SETTLE, err, errlen) ||
        pg_prepare(g, PS_RELEASE, err, errlen) ||
        (n > 1 && pg_prepare(g, PS_LOCK_KEYS, err, errlen)))
        return STORE_ERR;
    if (!PQenterPipelineMode(g->conn))
        return pg_fail(g, NULL, "settling", err, errlen);
    store_rc_t rc = STORE_OK;
    for (size_t from = 0; from < n && rc == STORE_OK && !g->broken; from += PIPE_CHUNK)
        run_chunk(g, items, n, from, from + PIPE_CHUNK < n ? from + PIPE_CHUNK : n, &rc, err,
                  errlen);
    if (!g->broken && !PQexitPipelineMode(g->conn)) {
        if (rc == STORE_OK)
            rc = pg_fail(g, NULL, "settling", err, errlen);
        g->broken = true;
    }
    if (rc != STORE_OK && !g->broken && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
        PQclear(PQexec(g->conn, "ROLLBACK"));
    return rc;
}

/* ---- reading ---- */

typedef struct {
    int (*fn)(void *ud, const store_open_hold_t *h);
    void *ud;
} holds_each_t;

static int hold_row(void *ud, const PGresult *r)
{
    holds_each_t *e = ud;
    store_open_hold_t h;
    memset(&h, 0, sizeof h);
    h.id = pg_i64(r, 0, 0);
    h.at = pg_i64(r, 0, 1);
    pg_text(r, 0, 2, h.key_id, sizeof h.key_id);
    h.amount = pg_i64(r, 0, 3);
    pg_text(r, 0, 4, h.request_id, sizeof h.request_id);
    pg_text(r, 0, 5, h.model, sizeof h.model);
    h.tier = (int)pg_i64(r, 0, 6);
    pg_text(r, 0, 7, h.owner, sizeof h.owner);
    return e->fn(e->ud, &h);
}

store_rc_t pg_open_holds(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h), void *ud,
                         char *err, size_t errlen)
{
    pg_t *g = PG(s);
    if (pg_ready(g, err, errlen))
        return STORE_ERR;
    holds_each_t e = {fn, ud};
    pg_params_t p = {0};
    return pg_each_row(g,
                       "SELECT id, at, key_id, amount, request_id, model, tier, owner FROM holds "
                       "ORDER BY id",
                       &p, hold_row, &e, "listing holds", err, errlen);
}

typedef struct {
    int (*fn)(void *ud, const store_ledger_row_t *r);
    void *ud;
} ledger_each_t;

static int ledger_row(void *ud, const PGresult *r)
{
    ledger_each_t *e = ud;
    store_ledger_row_t l;
    memset(&l, 0, sizeof l);
    l.id = pg_i64(r, 0, 0);
    l.at = pg_i64(r, 0, 1);
    pg_text(r, 0, 2, l.key_id, sizeof l.key_id);
    pg_text(r, 0, 3, l.currency, sizeof l.currency);
    pg_text(r, 0, 4, l.request_id, sizeof l.request_id);
    pg_text(r, 0, 5, l.model, sizeof l.model);
    pg_text(r, 0, 6, l.backend, sizeof l.backend);
    pg_text(r, 0, 7, l.upstream, sizeof l.upstream);
    pg_text(r, 0, 8, l.upstream_key_id, sizeof l.upstream_key_id);
    pg_text(r, 0, 9, l.status, sizeof l.status);
    l.hit = pg_i64(r, 0, 10);
    l.miss = pg_i64(r, 0, 11);
    l.output = pg_i64(r, 0, 12);
    l.reasoning = pg_i64(r, 0, 13);
    l.tier = (int)pg_i64(r, 0, 14);
    l.cost = pg_i64(r, 0, 15);
    l.ttft_ms = pg_i64(r, 0, 16);
    l.duration_ms = pg_i64(r, 0, 17);
    l.estimated = PQgetvalue(r, 0, 18)[0] == 't';
    return e->fn(e->ud, &l);
}

store_rc_t pg_ledger_each(store_t *s, const char *key_id, int64_t since,
                          int (*fn)(void *ud, const store_ledger_row_t *r), void *ud, char *err,
                          size_t errlen)
{
    pg_t *g = PG(s);
    if (pg_ready(g, err, errlen))
        return STORE_ERR;
    ledger_each_t e = {fn, ud};
    pg_params_t p = {0};
    pg_p_i64(&p, since);
    pg_p_text(&p, key_id); /* NULL: every key */
    store_rc_t rc =
        pg_each_row(g,
                    "SELECT id, at, key_id, currency, request_id, model, backend, upstream, "
                    "upstream_key_id, status, hit, miss, output, reasoning, tier, cost, ttft_ms, "
                    "duration_ms, estimated FROM ledger WHERE at >= $1::bigint AND "
                    "($2::text IS NULL OR key_id = $2) ORDER BY id",
                    &p, ledger_row, &e, "reading the ledger", err, errlen);
    pg_params_free(&p);
    return rc;
}

typedef struct {
    store_verify_fn fn;
    void *ud;
} verify_each_t;

static int verify_row(void *ud, const PGresult *r)
{
    verify_each_t *e = ud;
    char id[STORE_KEY_ID_LEN + 1];
    pg_text(r, 0, 0, id, sizeof id);
    int64_t have[3], want[3];
    for (int i = 0; i < 3; i++) {
        have[i] = pg_i64(r, 0, 1 + i);
        want[i] = pg_i64(r, 0, 4 + i);
    }
    return e->fn(e->ud, id, have, want);
}

store_rc_t pg_verify_each(store_t *s, store_verify_fn fn, void *ud, char *err, size_t errlen)
{
    pg_t *g = PG(s);
    if (pg_ready(g, err, errlen))
        return STORE_ERR;
    verify_each_t e = {fn, ud};
    pg_params_t p = {0};
    /* one statement, one snapshot: settles committing meanwhile cannot skew it. SUM() of a
     * bigint is numeric (exact); the cast back fails loudly past int64 */
    return pg_each_row(
        g,
        "SELECT k.key_id, k.granted, k.topped_up, k.held,"
        " (COALESCE((SELECT SUM(amount) FROM credits c WHERE c.key_id = k.key_id AND kind = "
        "'grant'), 0) - COALESCE((SELECT SUM(from_granted) FROM ledger l WHERE l.key_id = "
        "k.key_id), 0))::bigint,"
        " (COALESCE((SELECT SUM(amount) FROM credits c WHERE c.key_id = k.key_id AND kind = "
        "'topup'), 0) - COALESCE((SELECT SUM(from_topped_up) FROM ledger l WHERE l.key_id = "
        "k.key_id), 0))::bigint,"
        " COALESCE((SELECT SUM(amount) FROM holds h WHERE h.key_id = k.key_id), 0)::bigint"
        " FROM keys k ORDER BY k.key_id COLLATE \"C\"",
        &p, verify_row, &e, "verifying", err, errlen);
}
