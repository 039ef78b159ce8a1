/* accounts.c - the key table on the loop, and holds, settles and refreshes as jobs on one
 * database thread. */
#include "gateway/accounts.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/workers.h"
#include "gateway/instances.h"

#define REFRESH_MS 1000 /* CLI changes reach a running server within this */
#define SWEEP_TICKS 5   /* holds of instances that died are looked for every 5 ticks */
#define LEASE_MS_DEFAULT 30000

struct accounts {
    struct event_base *base;
    workers_t *db; /* one thread: the store is used by one thread at a time */
    store_t *store;
    gw_secret_t secret;
    gw_hmac_t *hmac;  /* the loop's, for authorizing */
    acct_key_t *keys; /* sorted by hmac; replaced whole by a refresh */
    int nkeys;
    int64_t db_version; /* the database thread's */
    bool refreshing, closing;
    bool ever_keys; /* once a key was seen, keys stay required: deleting the last one must
                       not turn a metered server into an open one */
    int pending;    /* settles and releases not yet durable */
    struct event *tick;
    /* group commit: holds, settles and releases wait here while a batch is being written,
     * then go together in the next one (two transactions, however many requests) */
    struct acct_hold *queue, **queue_tail;
    struct acct_hold *retry; /* settles and releases that failed: tried again at the next tick */
    bool batching;           /* a batch is on the database thread */
    char instance[STORE_INSTANCE_LEN + 1]; /* this server's id in the store */
    int64_t lease_ms; /* an instance silent this long is dead: its holds are released */
    int ticks;
};

typedef enum { JOB_REFRESH, JOB_HOLD, JOB_SETTLE, JOB_RELEASE, JOB_BALANCE, JOB_RUN } job_kind_t;

struct acct_hold {
    work_t w; /* first: the job is the work item */
    accounts_t *a;
    job_kind_t kind;
    store_rc_t rc;
    char err[256];
    /* refresh */
    acct_key_t *keys;
    int nkeys;
    bool changed;
    bool sweep; /* refresh: also release the holds of instances that died */
    /* hold, settle, release */
    char key_id[STORE_KEY_ID_LEN + 1];
    gw_nano_t amount;
    char request_id[80], model[128], backend[32], upstream[64], upstream_key_id[16], status[32];
    int tier;
    int64_t at;
    int64_t hold_id;
    store_row_t row;
    acct_hold_cb cb;
    acct_balance_cb balance_cb;
    store_key_t key; /* balance */
    /* run */
    acct_run_fn run;
    acct_done_fn run_done;
    void *ud;
    bool cancelled;
    struct acct_hold *qnext; /* in the queue, a batch or the retry list */
    int attempts;            /* settles and releases: tries that failed */
};
typedef struct acct_hold job_t;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_hmac(const void *x, const void *y)
{
    return memcmp(((const acct_key_t *)x)->hmac, ((const acct_key_t *)y)->hmac, STORE_HMAC_LEN);
}

/* ---- loading keys (database thread, or the opening thread) ---- */

typedef struct {
    acct_key_t *keys;
    int n, cap;
} key_vec_t;

static int take_key(void *ud, const store_key_t *k)
{
    key_vec_t *v = ud;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->keys = xrealloc(v->keys, (size_t)v->cap * sizeof *v->keys);
    }
    acct_key_t *o = &v->keys[v->n++];
    memcpy(o->hmac, k->hmac, STORE_HMAC_LEN);
    memcpy(o->key_id, k->key_id, sizeof o->key_id);
    memcpy(o->name, k->name, sizeof o->name);
    o->currency = k->currency;
    o->enabled = k->enabled;
    o->expires = k->expires;
    o->rpm = k->rpm;
    o->tpm = k->tpm;
    o->concurrency = k->concurrency;
    memcpy(o->models, k->models, sizeof o->models);
    return 0;
}

static int load_keys(store_t *s, acct_key_t **out, int *n, char *err, size_t errlen)
{
    key_vec_t v = {0};
    if (store_key_list(s, take_key, &v, err, errlen) != STORE_OK) {
        free(v.keys);
        return -1;
    }
    if (v.n)
        qsort(v.keys, (size_t)v.n, sizeof *v.keys, cmp_hmac);
    *out = v.keys;
    *n = v.n;
    return 0;
}

/* ---- jobs ---- */

static void job_run(work_t *w)
{
    job_t *j = (job_t *)w;
    accounts_t *a = j->a;
    switch (j->kind) {
    case JOB_REFRESH: {
        int64_t v = 0;
        char berr[256];
        if (store_instance_beat(a->store, a->instance, wall_ms(), berr, sizeof berr) != STORE_OK)
            log_warn("accounts: cannot record that this instance is alive: %s", berr);
        if (j->sweep &&
            gw_release_orphans(a->store, a->instance, a->lease_ms, wall_ms(), berr, sizeof berr))
            log_warn("accounts: cannot release the holds of stopped instances: %s", berr);
        j->rc = store_data_version(a->store, &v, j->err, sizeof j->err);
        if (j->rc == STORE_OK && v != a->db_version) {
            if (load_keys(a->store, &j->keys, &j->nkeys, j->err, sizeof j->err) == 0) {
                a->db_version = v;
                j->changed = true;
            } else {
                j->rc = STORE_ERR;
            }
        }
        break;
    }
    case JOB_HOLD:
    case JOB_SETTLE:
    case JOB_RELEASE:
        break; /* written in batches (batch_run) */
    case JOB_BALANCE:
        j->rc = store_key_find(a->store, j->key_id, &j->key, j->err, sizeof j->err);
        break;
    case JOB_RUN:
        if (j->run(a->store, &a->secret, j->ud))
            a->db_version = -1; /* reload the key table at the next tick */
        break;
    }
}

static void enqueue(accounts_t *a, job_t *j);

/* A job's outcome, on the loop. `ran`: whether its database work ran (false when the server
 * stopped first). Frees the job, unless a failed settle is kept to be tried again. */
static void job_finish(job_t *j, bool ran)
{
    accounts_t *a = j->a;
    switch (j->kind) {
    case JOB_REFRESH:
        a->refreshing = false;
        if (!ran) {
            break;
        } else if (j->rc != STORE_OK) {
            log_warn("accounts: cannot read the keys: %s", j->err);
        } else if (j->changed) {
            free(a->keys);
            a->keys = j->keys;
            a->nkeys = j->nkeys;
            a->ever_keys |= a->nkeys > 0;
            j->keys = NULL;
        }
        break;
    case JOB_HOLD:
        if (!ran)
            j->rc = STORE_ERR, snprintf(j->err, sizeof j->err, "the server is stopping");
        if (j->cancelled) {
            if (ran && j->rc == STORE_OK)
                accounts_release(a, j->hold_id); /* the request went away meanwhile */
        } else {
            if (j->rc != STORE_OK && j->rc != STORE_NO_BALANCE)
                log_error("accounts: hold for key %s failed: %s", j->key_id, j->err);
            j->cb(j->ud, j->rc, j->hold_id);
        }
        break;
    case JOB_BALANCE:
        if (!ran)
            j->rc = STORE_ERR, snprintf(j->err, sizeof j->err, "the server is stopping");
        if (!j->cancelled) {
            if (j->rc != STORE_OK)
                log_error("accounts: balance of key %s: %s", j->key_id, j->err);
            j->balance_cb(j->ud, j->rc, j->rc == STORE_OK ? &j->key : NULL);
        }
        break;
    case JOB_RUN:
        if (!j->cancelled)
            j->run_done(j->ud, ran);
        break;
    case JOB_SETTLE:
    case JOB_RELEASE: {
        char amt[GW_AMOUNT_TEXT];
        const char *what = j->kind == JOB_SETTLE ? "settle" : "release";
        if (j->rc == STORE_ERR && !a->closing) {
            /* the database failed (locked, full, the connection lost): the bill is kept and
             * tried again at the next tick, never dropped while the server runs */
            if (j->attempts++ % 10 == 0)
                log_error("accounts: %s of hold %lld (request %s, cost %s) failed, will retry "
                          "(attempt %d): %s",
                          what, (long long)j->hold_id, j->request_id,
                          gw_amount_format(j->row.cost, amt), j->attempts, j->err);
            j->qnext = a->retry;
            a->retry = j;
            return;
        }
        a->pending--;
        if (j->rc != STORE_OK)
            log_error("accounts: %s of hold %lld (request %s, key %s, cost %s) failed: %s", what,
                      (long long)j->hold_id, j->request_id, j->key_id,
                      gw_amount_format(j->row.cost, amt), j->err);
        break;
    }
    }
    free(j->keys);
    free(j);
}

static void job_done(work_t *w)
{
    job_finish((job_t *)w, w->ran);
}

/* ---- group commit ---- */

#define BATCH_MAX 512 /* jobs a batch takes: bounds how long one waits behind the others */

typedef struct {
    work_t w; /* first */
    accounts_t *a;
    job_t *jobs; /* linked by qnext, in the order they came */
    store_hold_item_t *hi;
    store_settle_item_t *si;
    size_t nh, ns;
} batch_t;

/* On the database thread: every hold of the batch in one transaction, then every settle and
 * release in another. */
static void batch_run(work_t *w)
{
    batch_t *b = (batch_t *)w;
    accounts_t *a = b->a;
    char herr[256] = "", serr[256] = "";
    size_t h = 0, t = 0;
    for (job_t *j = b->jobs; j; j = j->qnext) {
        if (j->kind == JOB_HOLD)
            b->hi[h++] = (store_hold_item_t){.key_id = j->key_id,
                                             .amount = j->amount,
                                             .info = {.request_id = j->request_id,
                                                      .model = j->model,
                                                      .tier = j->tier,
                                                      .at = j->at,
                                                      .owner = a->instance}};
        else
            b->si[t++] = (store_settle_item_t){
                .hold_id = j->hold_id, .release = j->kind == JOB_RELEASE, .row = j->row};
    }
    if (store_apply(a->store, b->hi, b->nh, b->si, b->ns, herr, sizeof herr) != STORE_OK)
        snprintf(serr, sizeof serr, "%s", herr);
    h = t = 0;
    for (job_t *j = b->jobs; j; j = j->qnext) {
        if (j->kind == JOB_HOLD) {
            store_hold_item_t *it = &b->hi[h++];
            j->rc = it->rc;
            j->hold_id = it->hold_id;
            if (it->rc == STORE_ERR)
                snprintf(j->err, sizeof j->err, "%s", herr);
            else if (it->rc == STORE_NOT_FOUND)
                snprintf(j->err, sizeof j->err, "no key %s", j->key_id);
        } else {
            store_settle_item_t *it = &b->si[t++];
            j->rc = it->rc;
            if (it->rc == STORE_ERR)
                snprintf(j->err, sizeof j->err, "%s", serr);
            else if (it->rc == STORE_NOT_FOUND)
                snprintf(j->err, sizeof j->err,
                         "the hold is not open (settled or released "
                         "already)");
        }
    }
}

static void start_batch(accounts_t *a);

static void batch_done(work_t *w)
{
    batch_t *b = (batch_t *)w;
    accounts_t *a = b->a;
    bool ran = w->ran;
    if (!ran) {
        /* the server is stopping and the thread is gone: the bills are written here, now;
         * holds are refused (their requests end) */
        b->nh = 0;
        job_t *holds = NULL, **ht = &holds, *rest = NULL, **rt = &rest;
        for (job_t *j = b->jobs, *next; j; j = next) {
            next = j->qnext;
            j->qnext = NULL;
            if (j->kind == JOB_HOLD)
                *ht = j, ht = &j->qnext;
            else
                *rt = j, rt = &j->qnext;
        }
        b->jobs = rest;
        batch_run(w);
        for (job_t *j = holds, *next; j; j = next) {
            next = j->qnext;
            job_finish(j, false);
        }
    }
    for (job_t *j = b->jobs, *next; j; j = next) {
        next = j->qnext;
        job_finish(j, true);
    }
    free(b->hi);
    free(b->si);
    free(b);
    a->batching = false;
    if (a->queue)
        start_batch(a);
}

/* Takes what waits (up to BATCH_MAX) into one batch for the database thread; when the server
 * is stopping, writes it here. */
static void start_batch(accounts_t *a)
{
    batch_t *b = xcalloc(1, sizeof *b);
    b->w.run = batch_run;
    b->w.done = batch_done;
    b->a = a;
    job_t **tail = &b->jobs;
    size_t n = 0;
    while (a->queue && n < BATCH_MAX) {
        job_t *j = a->queue;
        a->queue = j->qnext;
        j->qnext = NULL;
        *tail = j;
        tail = &j->qnext;
        n++;
        if (j->kind == JOB_HOLD)
            b->nh++;
        else
            b->ns++;
    }
    if (!a->queue)
        a->queue_tail = &a->queue;
    b->hi = b->nh ? xcalloc(b->nh, sizeof *b->hi) : NULL;
    b->si = b->ns ? xcalloc(b->ns, sizeof *b->si) : NULL;
    a->batching = true;
    if (a->closing) {
        batch_run(&b->w);
        b->w.ran = true;
        batch_done(&b->w);
        return;
    }
    workers_submit(a->db, &b->w);
}

static void enqueue(accounts_t *a, job_t *j)
{
    j->qnext = NULL;
    *a->queue_tail = j;
    a->queue_tail = &j->qnext;
    if (!a->batching)
        start_batch(a);
}

static job_t *job_new(accounts_t *a, job_kind_t kind)
{
    job_t *j = xcalloc(1, sizeof *j);
    j->w.run = job_run;
    j->w.done = job_done;
    j->a = a;
    j->kind = kind;
    return j;
}

static void submit(accounts_t *a, job_t *j)
{
    if (j->kind == JOB_HOLD || j->kind == JOB_SETTLE || j->kind == JOB_RELEASE) {
        enqueue(a, j);
        return;
    }
    if (a->closing) { /* the database thread is gone or going: do it here, now */
        job_run(&j->w);
        j->w.ran = true;
        job_done(&j->w);
        return;
    }
    workers_submit(a->db, &j->w);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    accounts_t *a = arg;
    if (a->closing)
        return;
    while (a->retry) { /* failed bills, tried again */
        job_t *j = a->retry;
        a->retry = j->qnext;
        enqueue(a, j);
    }
    if (a->refreshing)
        return;
    a->refreshing = true;
    job_t *j = job_new(a, JOB_REFRESH);
    j->sweep = ++a->ticks % SWEEP_TICKS == 0;
    submit(a, j);
}

/* ---- the interface ---- */

accounts_t *accounts_open(struct event_base *base, const char *db_url, long lease_ms, char *err,
                          size_t errlen)
{
    accounts_t *a = xcalloc(1, sizeof *a);
    a->base = base;
    a->queue_tail = &a->queue;
    a->lease_ms = lease_ms > 0 ? lease_ms : LEASE_MS_DEFAULT;
    gw_instance_id(a->instance);
    a->store = store_open(db_url, err, errlen);
    if (!a->store || gw_secret_load(a->store, &a->secret, err, errlen) ||
        store_instance_beat(a->store, a->instance, wall_ms(), err, errlen) != STORE_OK ||
        gw_release_orphans(a->store, a->instance, a->lease_ms, wall_ms(), err, errlen) ||
        store_data_version(a->store, &a->db_version, err, errlen) != STORE_OK ||
        load_keys(a->store, &a->keys, &a->nkeys, err, errlen)) {
        store_close(a->store);
        free(a->keys);
        free(a);
        return NULL;
    }
    a->ever_keys = a->nkeys > 0;
    a->hmac = gw_hmac_new(&a->secret);
    a->db = workers_new(base, 1);
    a->tick = event_new(base, -1, EV_PERSIST, on_tick, a);
    struct timeval tv = {REFRESH_MS / 1000, (REFRESH_MS % 1000) * 1000};
    event_add(a->tick, &tv);
    return a;
}

void accounts_free(accounts_t *a)
{
    if (!a)
        return;
    a->closing = true;
    event_free(a->tick);
    workers_free(a->db); /* a batch in flight ends in batch_done, on this thread */
    while (a->retry) {   /* failed bills get one last try, here */
        job_t *j = a->retry;
        a->retry = j->qnext;
        enqueue(a, j);
    }
    while (a->queue) /* whatever still waits is written now, on this thread */
        start_batch(a);
    char err[256];
    if (store_instance_end(a->store, a->instance, err, sizeof err) != STORE_OK)
        log_warn("accounts: %s", err);
    store_close(a->store);
    gw_hmac_free(a->hmac);
    free(a->keys);
    free(a);
}

bool accounts_active(const accounts_t *a)
{
    return a && a->ever_keys;
}

static bool model_allowed(const char *list, const char *model)
{
    if (!*list || !model)
        return true;
    size_t ml = strlen(model);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == ml && !memcmp(p, model, n))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

int accounts_authorize(accounts_t *a, const char *token, size_t len, const char *model, int64_t now,
                       const acct_key_t **out, const char **msg)
{
    *out = NULL;
    const acct_key_t *k = NULL;
    if (token && gw_key_well_formed(token, len) && a->nkeys) {
        acct_key_t probe;
        gw_hmac_run(a->hmac, token, len, probe.hmac);
        k = bsearch(&probe, a->keys, (size_t)a->nkeys, sizeof *a->keys, cmp_hmac);
    }
    if (!k || !k->enabled || (k->expires && now >= k->expires)) {
        *msg = !k            ? "Authentication Fails, the api key is invalid"
               : !k->enabled ? "Authentication Fails, the api key is disabled"
                             : "Authentication Fails, the api key has expired";
        return 401;
    }
    if (!model_allowed(k->models, model)) {
        *msg = "this api key may not use this model";
        return 403;
    }
    *out = k;
    return 0;
}

acct_hold_t *accounts_hold(accounts_t *a, const char *key_id, gw_nano_t amount,
                           const char *request_id, const char *model, int tier, int64_t now,
                           acct_hold_cb cb, void *ud)
{
    job_t *j = job_new(a, JOB_HOLD);
    snprintf(j->key_id, sizeof j->key_id, "%s", key_id);
    snprintf(j->request_id, sizeof j->request_id, "%s", request_id ? request_id : "");
    snprintf(j->model, sizeof j->model, "%s", model ? model : "");
    j->amount = amount;
    j->tier = tier;
    j->at = now;
    j->cb = cb;
    j->ud = ud;
    submit(a, j);
    return j;
}

acct_hold_t *accounts_run(accounts_t *a, acct_run_fn fn, acct_done_fn done, void *ud)
{
    job_t *j = job_new(a, JOB_RUN);
    j->run = fn;
    j->run_done = done;
    j->ud = ud;
    submit(a, j);
    return j;
}

acct_hold_t *accounts_balance(accounts_t *a, const char *key_id, acct_balance_cb cb, void *ud)
{
    job_t *j = job_new(a, JOB_BALANCE);
    snprintf(j->key_id, sizeof j->key_id, "%s", key_id);
    j->balance_cb = cb;
    j->ud = ud;
    submit(a, j);
    return j;
}

void accounts_hold_cancel(acct_hold_t *h)
{
    h->cancelled = true;
}

static const char *keep(char *dst, size_t cap, const char *src)
{
    if (!src)
        return NULL;
    snprintf(dst, cap, "%s", src);
    return dst;
}

void accounts_settle(accounts_t *a, int64_t hold_id, const store_row_t *row)
{
    job_t *j = job_new(a, JOB_SETTLE);
    j->hold_id = hold_id;
    j->row = *row;
    j->row.request_id = keep(j->request_id, sizeof j->request_id, row->request_id);
    j->row.model = keep(j->model, sizeof j->model, row->model);
    j->row.backend = keep(j->backend, sizeof j->backend, row->backend);
    j->row.upstream = keep(j->upstream, sizeof j->upstream, row->upstream);
    j->row.upstream_key_id =
        keep(j->upstream_key_id, sizeof j->upstream_key_id, row->upstream_key_id);
    j->row.status = keep(j->status, sizeof j->status, row->status);
    a->pending++;
    submit(a, j);
}

void accounts_release(accounts_t *a, int64_t hold_id)
{
    job_t *j = job_new(a, JOB_RELEASE);
    j->hold_id = hold_id;
    a->pending++;
    submit(a, j);
}

int accounts_pending(const accounts_t *a)
{
    return a ? a->pending : 0;
}
