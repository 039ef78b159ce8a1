/* catalog.c - the models the upstreams serve, as GET /models lists them: each upstream's own
 * GET /models fetched when a client asks and the list is older than models_refresh_ms, kept
 * while later fetches fail, and merged in config order. Fetches are RAW attempts, like
 * probes, with limits of their own (models.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/upstream_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

/* A fetch that fails is tried again no sooner than this (or models_refresh_ms, if shorter). */
#define RETRY_MS 10000
/* One fetch, from its start to the last byte of the answer. */
#define FETCH_TIMEOUT_MS 10000

struct catalog_up {
    upstream_t *up;
    int ui;
    bool fetched;             /* "*" among its models: it lists what its GET /models answers */
    models_list_t configured; /* the names of its `models` line */
    models_list_t list;       /* its last good answer */
    bool have;                /* `list` holds a good answer */
    int64_t next_ms;          /* when its list may be fetched again */
    attempt_t *att;           /* the fetch in flight */
    char *hdrs;
    size_t hdrs_len;
    char *key;     /* the fetch's key (a copy: a client's may be gone before the
                      answer) */
    char err[256]; /* why its last fetch failed; empty after a good one */
};

struct upstream_models_wait {
    upstream_models_cb cb;
    void *ud;
    upstream_models_wait_t *next, *prev;
};

void catalog_init(upstream_t *up)
{
    up->cat = xcalloc((size_t)up->pool.nups, sizeof *up->cat);
    up->cat_lim = (att_limits_t){
        .first_token_timeout_ms = FETCH_TIMEOUT_MS,
        .idle_timeout_ms = FETCH_TIMEOUT_MS,
        .total_timeout_ms = FETCH_TIMEOUT_MS,
        .max_event = MODELS_MAX_BODY,
        .max_answer = MODELS_MAX_BODY,
    };
    for (int i = 0; i < up->pool.nups; i++) {
        const pool_upstream_t *u = &up->pool.ups[i];
        catalog_up_t *c = &up->cat[i];
        c->up = up;
        c->ui = i;
        for (int m = 0; m < u->nmodels; m++)
            c->fetched |= strcmp(u->models[m], "*") == 0;
        models_add_names(&c->configured, (const char *const *)u->models, u->nmodels);
    }
    up->cat_dirty = true;
}

static void fetch_end(catalog_up_t *c)
{
    if (c->att)
        attempt_cancel(c->att);
    c->att = NULL;
    free(c->hdrs);
    c->hdrs = NULL;
    if (c->key) {
        memset(c->key, 0, strlen(c->key));
        free(c->key);
        c->key = NULL;
    }
}

void catalog_free(upstream_t *up)
{
    for (int i = 0; up->cat && i < up->pool.nups; i++) {
        fetch_end(&up->cat[i]);
        models_free(&up->cat[i].configured);
        models_free(&up->cat[i].list);
    }
    free(up->cat);
    up->cat = NULL;
    while (up->waiters) {
        upstream_models_wait_t *w = up->waiters;
        up->waiters = w->next;
        free(w);
    }
    models_free(&up->merged);
}

/* Whether a request should wait: an upstream that never gave a good list is being asked. */
static bool first_fetch_running(const upstream_t *up)
{
    for (int i = 0; i < up->pool.nups; i++)
        if (up->cat[i].att && !up->cat[i].have)
            return true;
    return false;
}

/* Each waiter is unlinked before its callback runs, so a callback (or a request it ends) may
 * cancel any other waiter safely. */
static void wake_waiters(upstream_t *up)
{
    up->waking = up->waiters;
    up->waiters = NULL; /* a callback that asks again and has to wait joins a new list */
    while (up->waking) {
        upstream_models_wait_t *w = up->waking;
        up->waking = w->next;
        if (up->waking)
            up->waking->prev = NULL;
        w->cb(w->ud);
        free(w);
    }
}

static void on_fetch_done(void *owner, const att_result_t *r)
{
    catalog_up_t *c = owner;
    upstream_t *up = c->up;
    const pool_upstream_t *u = &up->pool.ups[c->ui];
    c->att = NULL;
    int64_t now = mono_ms();
    char why[256] = "";
    models_list_t fresh = {0};
    if (r->failed && r->fail)
        snprintf(why, sizeof why, "%.200s", r->fail->msg); /* the answer broke the size bound */
    else if (r->why)
        snprintf(why, sizeof why, "no answer: %s", r->why);
    else if (r->status < 200 || r->status >= 300)
        snprintf(why, sizeof why, "answered HTTP %d", r->status);
    else
        models_parse(r->body.ptr, r->body.len, &fresh, why, sizeof why);
    char kid[LOG_KEY_ID_SIZE] = "none";
    if (c->key && *c->key)
        log_key_id(c->key, strlen(c->key), kid);
    if (why[0]) {
        long retry = up->o.models_refresh_ms < RETRY_MS ? up->o.models_refresh_ms : RETRY_MS;
        c->next_ms = now + retry;
        snprintf(c->err, sizeof c->err, "upstream %s: GET /models: %s", u->name, why);
        if (c->have)
            log_warn("upstream %s: GET /models with key %s refused: %s; keeping its last list "
                     "(%d models)",
                     u->name, kid, why, c->list.n);
        else
            log_warn("upstream %s: GET /models with key %s refused: %s; it lists no models "
                     "until an answer is good",
                     u->name, kid, why);
    } else {
        log_debug("upstream %s: GET /models with key %s lists %d models", u->name, kid, fresh.n);
        models_free(&c->list);
        c->list = fresh;
        c->have = true;
        c->err[0] = '\0';
        c->next_ms = now + up->o.models_refresh_ms;
        up->cat_dirty = true;
    }
    fetch_end(c);
    if (!first_fetch_running(up))
        wake_waiters(up);
    up->gets--;
    upstream_idle_check(up);
}

/* The key a fetch of upstream ui uses: its first usable server key (the last one when none is
 * usable), or else the client's own. */
static const char *fetch_key(const upstream_t *up, int ui, const char *client_key)
{
    const pool_upstream_t *u = &up->pool.ups[ui];
    for (int k = 0; k < u->nkeys; k++)
        if (u->keys[k].state == KEY_OK || k == u->nkeys - 1)
            return u->keys[k].key;
    return client_key;
}

static void fetch_start(catalog_up_t *c, const char *client_key)
{
    upstream_t *up = c->up;
    const pool_upstream_t *u = &up->pool.ups[c->ui];
    const char *key = fetch_key(up, c->ui, client_key);
    c->key = xstrdup(key ? key : "");
    c->hdrs = upstream_headers(key, "application/json", false, &c->hdrs_len);
    att_spec_t spec = {
        .via = up->via[c->ui],
        .mode = ATT_RAW,
        .path = SLICE_LIT("/models"),
        .headers = {c->hdrs, c->hdrs_len},
        .upstream = u->name,
        .key = c->key,
        .lim = &up->cat_lim,
        .done = on_fetch_done,
        .owner = c,
    };
    up->gets++;
    c->att = attempt_start(up->base, &spec);
}

/* Rebuilds the merged list after an upstream's list changed. */
static void merge(upstream_t *up)
{
    up->cat_dirty = false;
    models_free(&up->merged);
    int left_out = 0;
    for (int i = 0; i < up->pool.nups; i++) {
        const catalog_up_t *c = &up->cat[i];
        left_out += models_merge(&up->merged, &c->configured);
        if (c->fetched && c->have)
            left_out += models_merge(&up->merged, &c->list);
    }
    if (left_out)
        log_warn("GET /models: %d models the upstreams list are left out: a list holds at most "
                 "%d models and %u bytes of them",
                 left_out, MODELS_MAX_COUNT, MODELS_MAX_LIST_BYTES);
}

const models_list_t *upstream_models(upstream_t *up, const char *client_key, upstream_models_cb cb,
                                     void *ud, upstream_models_wait_t **wait)
{
    int64_t now = mono_ms();
    for (int i = 0; i < up->pool.nups; i++) {
        catalog_up_t *c = &up->cat[i];
        if (c->fetched && !c->att && now >= c->next_ms)
            fetch_start(c, client_key);
    }
    if (first_fetch_running(up)) {
        upstream_models_wait_t *w = xcalloc(1, sizeof *w);
        w->cb = cb;
        w->ud = ud;
        w->next = up->waiters;
        if (up->waiters)
            up->waiters->prev = w;
        up->waiters = w;
        *wait = w;
        return NULL;
    }
    return upstream_models_list(up);
}

const models_list_t *upstream_models_list(upstream_t *up)
{
    if (up->cat_dirty)
        merge(up);
    return &up->merged;
}

void upstream_models_cancel(upstream_t *up, upstream_models_wait_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (up->waiters == w)
        up->waiters = w->next;
    else if (up->waking == w)
        up->waking = w->next;
    if (w->next)
        w->next->prev = w->prev;
    free(w);
}

const char *upstream_models_error(const upstream_t *up)
{
    for (int i = 0; i < up->pool.nups; i++)
        if (up->cat[i].fetched && !up->cat[i].have && up->cat[i].err[0])
            return up->cat[i].err;
    return NULL;
}

void upstream_models_adopt(upstream_t *up, const upstream_t *old)
{
    for (int i = 0; i < up->pool.nups; i++) {
        catalog_up_t *c = &up->cat[i];
        const pool_upstream_t *u = &up->pool.ups[i];
        for (int j = 0; c->fetched && j < old->pool.nups; j++) {
            const catalog_up_t *o = &old->cat[j];
            const pool_upstream_t *ou = &old->pool.ups[j];
            if (!o->fetched || !o->have || strcmp(u->name, ou->name) != 0 ||
                strcmp(u->url, ou->url) != 0)
                continue;
            models_copy(&c->list, &o->list);
            c->have = true;
            c->next_ms = o->next_ms;
            up->cat_dirty = true;
            break;
        }
    }
}
