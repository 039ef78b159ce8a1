/* pool.c - key and upstream health, and the choice of the next (upstream, key). Upstreams are
 * tried by priority; equal priorities share by weight (smooth weighted round-robin); keys of
 * an upstream rotate round-robin over the healthy ones with a free concurrency slot. */
#include "backend/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"

const char *pool_state_name(pool_key_state_t s)
{
    switch (s) {
    case KEY_OK:
        return "ok";
    case KEY_COOLDOWN:
        return "cooldown";
    case KEY_DISABLED:
        return "disabled";
    case KEY_NO_BALANCE:
        return "no_balance";
    case KEY_EJECTED:
        return "ejected";
    }
    return "?";
}

void pool_init(pool_t *p, const pool_upstream_def_t *defs, int ndefs, const pool_policy_t *pol)
{
    memset(p, 0, sizeof *p);
    p->policy = *pol;
    p->ups = xcalloc((size_t)ndefs, sizeof *p->ups);
    p->nups = ndefs;
    for (int i = 0; i < ndefs; i++) {
        pool_upstream_t *u = &p->ups[i];
        const pool_upstream_def_t *d = &defs[i];
        u->name = xstrdup(d->name);
        size_t n = strlen(d->url);
        while (n && d->url[n - 1] == '/')
            n--;
        u->url = xstrndup(d->url, n);
        u->nkeys = d->nkeys;
        u->keys = xcalloc((size_t)d->nkeys + 1, sizeof *u->keys);
        for (int k = 0; k < d->nkeys; k++) {
            u->keys[k].key = xstrdup(d->keys[k]);
            log_key_id(d->keys[k], strlen(d->keys[k]), u->keys[k].id);
        }
        u->nmodels = d->nmodels;
        u->models = xcalloc((size_t)d->nmodels + 1, sizeof *u->models);
        for (int m = 0; m < d->nmodels; m++)
            u->models[m] = xstrdup(d->models[m]);
        u->priority = d->priority;
        u->weight = d->weight > 0 ? d->weight : 1;
        u->max_per_key = d->max_per_key;
    }
}

void pool_free(pool_t *p)
{
    for (int i = 0; i < p->nups; i++) {
        pool_upstream_t *u = &p->ups[i];
        for (int k = 0; k < u->nkeys; k++) {
            memset(u->keys[k].key, 0, strlen(u->keys[k].key));
            free(u->keys[k].key);
        }
        for (int m = 0; m < u->nmodels; m++)
            free(u->models[m]);
        free(u->keys);
        free(u->models);
        free(u->name);
        free(u->url);
    }
    free(p->ups);
    memset(p, 0, sizeof *p);
}

bool pool_serves(const pool_upstream_t *u, const char *model)
{
    for (int m = 0; m < u->nmodels; m++)
        if (strcmp(u->models[m], "*") == 0 || strcmp(u->models[m], model) == 0)
            return true;
    return false;
}

/* Whether (up, key) was tried: per upstream, so a key string two upstreams share (or a key
 * the client brought) is tried on each of them. */
static bool was_tried(int up, int key, const pool_pick_t *tried, int ntried)
{
    for (int i = 0; i < ntried; i++)
        if (tried[i].up == up && tried[i].key == key)
            return true;
    return false;
}

static bool key_usable(const pool_key_t *k, int64_t now)
{
    return k->state == KEY_OK || (k->state == KEY_COOLDOWN && now >= k->until_ms);
}

/* Picks a key of u for this request: 1 found, 0 all busy, -1 none usable. `degraded` also
 * accepts keys ejected for errors (used when nothing healthy is left). */
static int pick_key(pool_upstream_t *u, int ui, const pool_pick_t *tried, int ntried, int64_t now,
                    bool degraded, int *out)
{
    bool busy = false;
    for (int n = 0; n < u->nkeys; n++) {
        int k = (int)((u->rr + (unsigned)n) % (unsigned)u->nkeys);
        pool_key_t *key = &u->keys[k];
        bool usable = key_usable(key, now) || (degraded && key->state == KEY_EJECTED);
        if (!usable || was_tried(ui, k, tried, ntried))
            continue;
        if (u->max_per_key > 0 && key->active >= u->max_per_key) {
            busy = true;
            continue;
        }
        u->rr = (unsigned)k + 1;
        *out = k;
        return 1;
    }
    return busy ? 0 : -1;
}

/* One pass over the priority levels; `degraded` ignores error ejections. */
static pool_pick_result_t pick_pass(pool_t *p, const char *model, int nbyot,
                                    const pool_pick_t *tried, int ntried, int64_t now,
                                    bool degraded, pool_pick_t *out, bool *any_serves)
{
    bool any_busy = false;
    /* Walk priority levels from the lowest number up. */
    int level = -2147483647 - 1;
    for (;;) {
        int next = 2147483647;
        bool found_level = false;
        for (int i = 0; i < p->nups; i++)
            if (p->ups[i].priority > level && p->ups[i].priority < next)
                next = p->ups[i].priority, found_level = true;
        if (!found_level)
            break;
        level = next;
        /* Candidates at this level in smooth weighted round-robin order: repeatedly take the
         * one with the highest current weight. */
        int order[64], norder = 0, total = 0;
        for (int i = 0; i < p->nups && norder < 64; i++) {
            pool_upstream_t *u = &p->ups[i];
            if (u->priority != level || !pool_serves(u, model))
                continue;
            *any_serves = true;
            if (u->ejected && now < u->until_ms && !degraded)
                continue;
            order[norder++] = i;
            total += u->weight;
        }
        if (norder == 0)
            continue;
        for (int i = 0; i < norder; i++)
            p->ups[order[i]].current_weight += p->ups[order[i]].weight;
        /* sort candidates by current weight, highest first (n is small) */
        for (int i = 1; i < norder; i++)
            for (int j = i;
                 j > 0 && p->ups[order[j]].current_weight > p->ups[order[j - 1]].current_weight;
                 j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        for (int i = 0; i < norder; i++) {
            pool_upstream_t *u = &p->ups[order[i]];
            if (nbyot > 0) {
                for (int b = 0; b < nbyot; b++) {
                    int k = (int)((u->rr + (unsigned)b) % (unsigned)nbyot);
                    if (was_tried(order[i], -1 - k, tried, ntried))
                        continue;
                    u->rr = (unsigned)k + 1;
                    u->current_weight -= total;
                    *out = (pool_pick_t){order[i], -1 - k};
                    return PICK_OK;
                }
                continue;
            }
            int k;
            int r = pick_key(u, order[i], tried, ntried, now, degraded, &k);
            if (r == 1) {
                u->current_weight -= total;
                *out = (pool_pick_t){order[i], k};
                return PICK_OK;
            }
            if (r == 0)
                any_busy = true;
        }
    }
    return any_busy ? PICK_WAIT : PICK_NONE;
}

/* Explains a refusal from the states of the keys that serve the model. */
static void explain(const pool_t *p, const char *model, int64_t now, pool_refusal_t *why)
{
    int keys = 0, disabled = 0, broke = 0, cooling = 0;
    int64_t soonest = INT64_MAX;
    const char *reason = "";
    for (int i = 0; i < p->nups; i++) {
        const pool_upstream_t *u = &p->ups[i];
        if (!pool_serves(u, model))
            continue;
        for (int k = 0; k < u->nkeys; k++) {
            const pool_key_t *key = &u->keys[k];
            keys++;
            if (key->state == KEY_DISABLED)
                disabled++, reason = key->reason;
            else if (key->state == KEY_NO_BALANCE)
                broke++, reason = key->reason;
            else if (key->state == KEY_COOLDOWN && key->until_ms > now) {
                cooling++;
                if (key->until_ms < soonest)
                    soonest = key->until_ms;
            }
        }
    }
    why->retry_after_ms = 0;
    if (keys > 0 && disabled + broke == keys) {
        why->status = 502;
        why->type = disabled ? "authentication_error" : "insufficient_balance";
        snprintf(why->msg, sizeof why->msg, "every server key for '%s' is %s by the upstream (%s)",
                 model,
                 disabled == keys ? "rejected"
                 : broke == keys  ? "out of balance"
                                  : "refused",
                 reason);
    } else if (cooling > 0 && cooling + disabled + broke == keys) {
        why->status = 429;
        why->type = "rate_limit_error";
        why->retry_after_ms = (int)(soonest - now);
        snprintf(why->msg, sizeof why->msg,
                 "Rate Limit Reached: every upstream key for '%s' is cooling down for %lld ms",
                 model, (long long)(soonest - now));
    } else {
        why->status = 503;
        why->type = "server_overloaded";
        snprintf(why->msg, sizeof why->msg,
                 "no upstream key is usable now (disabled, cooling down or ejected; see GET "
                 "/health)");
    }
}

pool_pick_result_t pool_pick(pool_t *p, const char *model, int nbyot, const pool_pick_t *tried,
                             int ntried, int64_t now, pool_pick_t *out, pool_refusal_t *why)
{
    bool any_serves = false;
    pool_pick_result_t r = pick_pass(p, model, nbyot, tried, ntried, now, false, out, &any_serves);
    /* Like a proxy with one server left: when errors have ejected everything, keep trying the
     * ejected ones rather than refusing every request until they rest. */
    if (r == PICK_NONE && any_serves)
        r = pick_pass(p, model, nbyot, tried, ntried, now, true, out, &any_serves);
    if (r != PICK_NONE)
        return r;
    why->status = 503;
    why->type = "server_overloaded";
    why->retry_after_ms = 0;
    if (!any_serves) {
        why->status = 400;
        why->type = "invalid_request_error";
        snprintf(why->msg, sizeof why->msg, "Model Not Exist: no upstream serves model '%s'",
                 model);
    } else if (nbyot > 0) {
        snprintf(why->msg, sizeof why->msg,
                 "every key given in the Authorization header was tried on every upstream");
    } else if (ntried > 0) {
        snprintf(why->msg, sizeof why->msg, "every usable upstream key was tried");
    } else {
        explain(p, model, now, why);
    }
    return PICK_NONE;
}

/* Adds an error time to a ring; returns the number of errors within the window. */
static int note_error(int64_t *ring, int *n, int64_t now, int64_t window)
{
    memmove(ring + 1, ring, sizeof ring[0] * 7);
    ring[0] = now;
    if (*n < 8)
        (*n)++;
    int c = 0;
    for (int i = 0; i < *n; i++)
        if (now - ring[i] <= window)
            c++;
    return c;
}

static void set_state(pool_key_t *k, pool_key_state_t st, int64_t until, const char *why)
{
    k->state = st;
    k->until_ms = until;
    snprintf(k->reason, sizeof k->reason, "%s", why ? why : "");
}

bool pool_report(pool_t *p, int up, int key, pool_outcome_t out, int retry_after_ms,
                 const char *detail, int64_t now)
{
    pool_upstream_t *u = &p->ups[up];
    if (key < 0) { /* the client's own key: only the upstream's health is ours to track */
        if (out == OUT_CONNECT || out == OUT_SERVER) {
            if (note_error(u->errors, &u->nerr, now, p->policy.error_window_ms) >=
                    p->policy.error_threshold &&
                !u->ejected) {
                u->ejected = true;
                u->until_ms = now + p->policy.eject_ms;
                snprintf(u->reason, sizeof u->reason, "%s", detail ? detail : "errors");
                return true;
            }
        }
        return false;
    }
    pool_key_t *k = &u->keys[key];
    k->requests++;
    pool_key_state_t before = k->state;
    switch (out) {
    case OUT_OK:
        k->backoff_ms = 0;
        if (k->state == KEY_COOLDOWN)
            set_state(k, KEY_OK, 0, NULL);
        break;
    case OUT_CLIENT:
        break;
    case OUT_AUTH:
        k->failures++;
        set_state(k, KEY_DISABLED, 0, detail);
        break;
    case OUT_NO_BALANCE:
        k->failures++;
        set_state(k, KEY_NO_BALANCE, 0, detail);
        break;
    case OUT_RATE_LIMIT: {
        k->failures++;
        int ms = retry_after_ms;
        if (ms <= 0) {
            k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : (int)p->policy.cooldown_ms;
            if (k->backoff_ms > 60000)
                k->backoff_ms = 60000;
            ms = k->backoff_ms;
        }
        set_state(k, KEY_COOLDOWN, now + ms, detail);
        break;
    }
    case OUT_SERVER:
    case OUT_CONNECT:
        k->failures++;
        if (note_error(k->errors, &k->nerr, now, p->policy.error_window_ms) >=
                p->policy.error_threshold &&
            k->state == KEY_OK) {
            set_state(k, KEY_EJECTED, now + p->policy.eject_ms, detail);
            k->nerr = 0;
        }
        if (note_error(u->errors, &u->nerr, now, p->policy.error_window_ms) >=
                p->policy.error_threshold &&
            !u->ejected) {
            u->ejected = true;
            u->until_ms = now + p->policy.eject_ms;
            u->nerr = 0;
            snprintf(u->reason, sizeof u->reason, "%s", detail ? detail : "errors");
            return true;
        }
        break;
    }
    return k->state != before;
}

bool pool_tick(pool_t *p, int64_t now)
{
    bool woke = false;
    for (int i = 0; i < p->nups; i++) {
        pool_upstream_t *u = &p->ups[i];
        for (int k = 0; k < u->nkeys; k++) {
            pool_key_t *key = &u->keys[k];
            if (key->state == KEY_COOLDOWN && now >= key->until_ms) {
                set_state(key, KEY_OK, 0, NULL);
                woke = true;
            }
        }
    }
    return woke;
}

bool pool_needs_probe(const pool_t *p, int u, int k, int64_t now)
{
    const pool_upstream_t *up = &p->ups[u];
    const pool_key_t *key = &up->keys[k];
    if (key->probing)
        return false;
    if (key->state == KEY_DISABLED || key->state == KEY_NO_BALANCE)
        return true;
    if (key->state == KEY_EJECTED && now >= key->until_ms)
        return true;
    /* an ejected upstream is probed with its first usable key once it has rested */
    return up->ejected && now >= up->until_ms && !up->probing && key_usable(key, now);
}

void pool_probe_result(pool_t *p, int u, int k, bool ok, const char *detail, int64_t now)
{
    pool_upstream_t *up = &p->ups[u];
    pool_key_t *key = &up->keys[k];
    key->probing = false;
    up->probing = false;
    if (ok) {
        if (key->state != KEY_OK)
            set_state(key, KEY_OK, 0, NULL);
        key->nerr = 0;
        up->ejected = false;
        up->nerr = 0;
        up->reason[0] = '\0';
        return;
    }
    if (key->state == KEY_EJECTED)
        key->until_ms = now + p->policy.eject_ms;
    if (up->ejected)
        up->until_ms = now + p->policy.eject_ms;
    if (detail && key->state != KEY_OK)
        snprintf(key->reason, sizeof key->reason, "%s", detail);
}
