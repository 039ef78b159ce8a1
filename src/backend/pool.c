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

/* ---- failure rates ---- */

static void note(pool_window_t *w, pool_outcome_t out, int64_t now)
{
    w->head = (w->head + 1) % POOL_WINDOW;
    w->t[w->head] = now;
    w->out[w->head] = (uint8_t)out;
    if (w->n < POOL_WINDOW)
        w->n++;
}

static bool is_error(int out)
{
    return out == OUT_SERVER || out == OUT_CONNECT;
}

/* Whether the failures like `out` among the attempts within the window reach the threshold
 * and are at least half of those attempts: one failure, or a few among many answers, are not
 * enough to take a key out. */
static bool failing(const pool_window_t *w, pool_outcome_t out, const pool_policy_t *pol,
                    int64_t now)
{
    int attempts = 0, failed = 0;
    for (int i = 0; i < w->n; i++) {
        int at = (w->head - i + POOL_WINDOW) % POOL_WINDOW; /* newest first */
        if (now - w->t[at] > pol->error_window_ms)
            break;
        attempts++;
        failed += out == OUT_RATE_LIMIT ? w->out[at] == OUT_RATE_LIMIT : is_error(w->out[at]);
    }
    int threshold = pol->error_threshold < POOL_WINDOW ? pol->error_threshold : POOL_WINDOW;
    return failed >= threshold && failed * 2 >= attempts;
}

/* ---- who else can carry the load ---- */

/* Whether v serves everything `model` (an entry of another upstream's list) stands for. */
static bool serves_entry(const pool_upstream_t *v, const char *model)
{
    if (strcmp(model, "*") != 0)
        return pool_serves(v, model);
    for (int m = 0; m < v->nmodels; m++)
        if (strcmp(v->models[m], "*") == 0)
            return true;
    return false;
}

/* Whether upstream v, other than key `skip`, has a usable key now. */
static bool has_usable_key(const pool_upstream_t *v, int skip, int64_t now)
{
    for (int j = 0; j < v->nkeys; j++)
        if (j != skip && key_usable(&v->keys[j], now))
            return true;
    return false;
}

/* Whether every model upstream ui serves is also served by another usable key: another key of
 * ui (when key >= 0 and ui is not ejected) or a key of another upstream that is not ejected.
 * key == -1 asks for the whole upstream ui (its keys excluded); `client_keys`: the clients
 * bring the keys, so any upstream that is not ejected carries. */
static bool others_carry(const pool_t *p, int ui, int key, bool client_keys, int64_t now)
{
    const pool_upstream_t *u = &p->ups[ui];
    for (int m = 0; m < u->nmodels; m++) {
        bool carried = false;
        for (int v = 0; v < p->nups && !carried; v++) {
            const pool_upstream_t *o = &p->ups[v];
            if ((v == ui && key < 0) || o->ejected || !serves_entry(o, u->models[m]))
                continue;
            carried = client_keys || has_usable_key(o, v == ui ? key : -1, now);
        }
        if (!carried)
            return false;
    }
    return true;
}

static void set_state(pool_key_t *k, pool_key_state_t st, int64_t until, const char *why)
{
    k->state = st;
    k->until_ms = until;
    snprintf(k->reason, sizeof k->reason, "%s", why ? why : "");
}

/* Notes the attempt against the upstream; ejects it when its errors are at a high rate and
 * other upstreams carry its models. Returns true when it was ejected now. */
static bool report_upstream(pool_t *p, int up, pool_outcome_t out, bool client_keys,
                            const char *detail, int64_t now)
{
    pool_upstream_t *u = &p->ups[up];
    if (out == OUT_AUTH || out == OUT_NO_BALANCE || out == OUT_RATE_LIMIT)
        return false; /* about the key, not the upstream */
    note(&u->recent, out, now);
    if (!is_error(out) || u->ejected || !failing(&u->recent, out, &p->policy, now) ||
        !others_carry(p, up, -1, client_keys, now))
        return false;
    u->ejected = true;
    u->until_ms = now + p->policy.eject_ms;
    u->recent.n = 0;
    snprintf(u->reason, sizeof u->reason, "%s", detail ? detail : "errors");
    return true;
}

bool pool_report(pool_t *p, int up, int key, pool_outcome_t out, int retry_after_ms,
                 const char *detail, int64_t now)
{
    pool_upstream_t *u = &p->ups[up];
    if (key < 0) /* the client's own key: only the upstream's health is ours to track */
        return report_upstream(p, up, out, true, detail, now);
    pool_key_t *k = &u->keys[key];
    k->requests++;
    pool_key_state_t before = k->state;
    if (out != OUT_OK && out != OUT_CLIENT)
        k->failures++;
    note(&k->recent, out, now);
    switch (out) {
    case OUT_OK:
    case OUT_CLIENT: /* answered: the key works */
        k->backoff_ms = 0;
        if (k->state == KEY_COOLDOWN)
            set_state(k, KEY_OK, 0, NULL);
        break;
    case OUT_AUTH:
        set_state(k, KEY_DISABLED, 0, detail);
        k->recent.n = 0;
        break;
    case OUT_NO_BALANCE:
        set_state(k, KEY_NO_BALANCE, 0, detail);
        k->recent.n = 0;
        break;
    case OUT_RATE_LIMIT: {
        if (!key_usable(k, now) || !failing(&k->recent, out, &p->policy, now) ||
            !others_carry(p, up, key, false, now))
            break;
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
        if (k->state == KEY_OK && failing(&k->recent, out, &p->policy, now) &&
            others_carry(p, up, key, false, now)) {
            set_state(k, KEY_EJECTED, now + p->policy.eject_ms, detail);
            k->recent.n = 0;
        }
        break;
    }
    bool ejected = report_upstream(p, up, out, false, detail, now);
    return ejected || k->state != before;
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
        key->recent.n = 0;
        up->ejected = false;
        up->recent.n = 0;
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
