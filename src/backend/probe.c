/* probe.c - requests of the relay's own that carry no client answer: health probes of keys
 * that were disabled, ran out of balance or were ejected, and plain GETs relayed for the API
 * (/models, /user/balance). Each is one RAW attempt with its own small handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/upstream_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "json/jr.h"

/* ---- probes ---- */

struct probe {
    upstream_t *up;
    attempt_t *att;
    probe_t *next, *prev; /* in up->probes, so shutdown can stop them */
    int ui, ki;
    bool balance; /* a 402 key, probed through /user/balance */
    char *hdrs;
    size_t hdrs_len;
};

static void probe_free(probe_t *p)
{
    upstream_t *up = p->up;
    if (p->prev)
        p->prev->next = p->next;
    else
        up->probes = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p->hdrs);
    free(p);
    upstream_idle_check(up);
}

/* Whether a balance answer says the account can be used. */
static bool balance_available(slice_t body)
{
    jr_doc_t d;
    jr_init(&d);
    jr_val_t root = jr_parse(&d, body.ptr, body.len, NULL, NULL);
    bool ok = jr_is(&d, jr_get(&d, root, "is_available"), JR_TRUE);
    jr_free(&d);
    return ok;
}

static void on_probe_done(void *owner, const att_result_t *r)
{
    probe_t *p = owner;
    upstream_t *up = p->up;
    bool ok = !r->why && r->status >= 200 && r->status < 300;
    if (ok && p->balance)
        ok = balance_available(r->body);
    char detail[160];
    snprintf(detail, sizeof detail, "probe answered %d%s%s", r->status, r->why ? ": " : "",
             r->why ? r->why : "");
    pool_upstream_t *u = &up->pool.ups[p->ui];
    pool_key_t *k = &u->keys[p->ki];
    bool was_ok = k->state == KEY_OK && !u->ejected;
    log_debug("probe of upstream %s key %s: %s", u->name, k->id, detail);
    pool_probe_result(&up->pool, p->ui, p->ki, ok, detail, mono_ms());
    if (ok && !was_ok)
        log_info("upstream %s key %s is back: %s", u->name, k->id, detail);
    probe_free(p);
    if (ok)
        relay_dispatch(up);
}

void probe_start(upstream_t *up, int ui, int ki)
{
    pool_upstream_t *u = &up->pool.ups[ui];
    pool_key_t *k = &u->keys[ki];
    probe_t *p = xcalloc(1, sizeof *p);
    p->up = up;
    p->ui = ui;
    p->ki = ki;
    p->balance = k->state == KEY_NO_BALANCE;
    p->hdrs = upstream_headers(k->key, "application/json", false, &p->hdrs_len);
    k->probing = true;
    if (u->ejected)
        u->probing = true;
    att_spec_t spec = {
        .via = up->via[ui],
        .mode = ATT_RAW,
        .path = p->balance ? SLICE_LIT("/user/balance") : SLICE_LIT("/models"),
        .headers = {p->hdrs, p->hdrs_len},
        .upstream = u->name,
        .key = k->key,
        .lim = &up->lim,
        .done = on_probe_done,
        .owner = p,
    };
    log_debug("probe of upstream %s key %s (%s): GET %s", u->name, k->id, pool_state_name(k->state),
              p->balance ? "/user/balance" : "/models");
    p->next = up->probes;
    if (up->probes)
        up->probes->prev = p;
    up->probes = p;
    p->att = attempt_start(up->base, &spec);
}

void probe_stop_all(upstream_t *up)
{
    while (up->probes) {
        attempt_cancel(up->probes->att);
        probe_free(up->probes);
    }
}

/* ---- plain GETs ---- */

struct upstream_get {
    upstream_t *up;
    attempt_t *att;
    upstream_get_cb cb;
    void *ud;
    char *path;
    char *hdrs;
    size_t hdrs_len;
};

static void get_free(upstream_get_t *g)
{
    upstream_t *up = g->up;
    free(g->path);
    free(g->hdrs);
    free(g);
    up->gets--;
    upstream_idle_check(up);
}

static void on_get_done(void *owner, const att_result_t *r)
{
    upstream_get_t *g = owner;
    g->att = NULL;
    g->cb(g->ud, r->why ? 0 : r->status, r->content_type, r->body, r->why);
    get_free(g);
}

upstream_get_t *upstream_get(upstream_t *up, const char *path, const char *client_key,
                             upstream_get_cb cb, void *ud)
{
    /* the first upstream by priority, with a usable key of its own unless the client has one */
    int ui = 0;
    for (int i = 1; i < up->pool.nups; i++)
        if (up->pool.ups[i].priority < up->pool.ups[ui].priority)
            ui = i;
    pool_upstream_t *u = &up->pool.ups[ui];
    const char *key = client_key;
    for (int k = 0; !key && k < u->nkeys; k++)
        if (u->keys[k].state == KEY_OK || k == u->nkeys - 1)
            key = u->keys[k].key;
    upstream_get_t *g = xcalloc(1, sizeof *g);
    g->up = up;
    up->gets++;
    g->cb = cb;
    g->ud = ud;
    g->path = xstrdup(path);
    g->hdrs = upstream_headers(key, "application/json", false, &g->hdrs_len);
    att_spec_t spec = {
        .via = up->via[ui],
        .mode = ATT_RAW,
        .path = slice_of(g->path),
        .headers = {g->hdrs, g->hdrs_len},
        .upstream = u->name,
        .key = key,
        .lim = &up->lim,
        .done = on_get_done,
        .owner = g,
    };
    g->att = attempt_start(up->base, &spec);
    return g;
}

void upstream_get_cancel(upstream_get_t *g)
{
    if (g->att)
        attempt_cancel(g->att);
    get_free(g);
}
