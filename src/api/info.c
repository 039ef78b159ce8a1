/* info.c - what the server says about itself and its upstreams: GET /models (from the
 * upstreams' own lists, backend/catalog.c), /user/balance (relayed), POST /token/check and
 * GET /health. */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/metrics.h"
#include "api/server_int.h"
#include "backend/local.h"
#include "backend/upstream.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/mem.h"
#include "json/jw.h"

/* ---- models, balance, health ---- */

/* The answer to GET /models (id.ptr NULL) or /models/{id} from list l. An empty list for want
 * of any good upstream answer (err says why) is a 502: an empty 200 would hide it. */
static void models_answer(api_server_t *s, http_req_t *r, const models_list_t *l, const char *err,
                          slice_t id)
{
    models_list_t with_local = {0};
    if (local_count(s->o.local) > 0) { /* the local models first, then the others */
        const char *names[LOCAL_MAX_MODELS];
        int n = local_count(s->o.local);
        for (int i = 0; i < n; i++)
            names[i] = local_name(s->o.local, i);
        models_add_names(&with_local, names, n);
        models_merge(&with_local, l);
        l = &with_local;
    }
    if (l->n == 0 && err) {
        char msg[400];
        snprintf(msg, sizeof msg, "no model list yet: %s", err);
        api_reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        models_free(&with_local);
        return;
    }
    buf_t b;
    buf_init(&b, 1 << 20); /* above MODELS_MAX_LIST_BYTES: a merged list always fits */
    if (id.ptr == NULL) {
        models_write_list(l, &b);
        api_send_built(s, r, &b);
        buf_free(&b);
        models_free(&with_local);
        return;
    }
    const model_t *m = models_find(l, id);
    if (m) {
        buf_append(&b, m->json, m->json_len);
        api_send_built(s, r, &b);
        buf_free(&b);
        models_free(&with_local);
        return;
    }
    buf_free(&b);
    char msg[256];
    snprintf(msg, sizeof msg, "Model Not Exist: '%.*s'", (int)(id.len > 128 ? 128 : id.len),
             id.ptr);
    models_free(&with_local);
    api_reply_error(s, r, 404, "invalid_request_error", "model_not_found", "model", msg);
}

/* A GET /models waiting for an upstream's first list. */
typedef struct {
    http_req_t *req;
    api_server_t *srv;
    upstream_t *up;
    upstream_models_wait_t *wait;
    slice_t id; /* in the request's path, which lives as long as the request */
} models_req_t;

static void models_abort(void *ud)
{
    models_req_t *x = ud;
    upstream_models_cancel(x->up, x->wait);
    free(x);
}

static void models_ready(void *ud)
{
    models_req_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    upstream_t *up = x->up;
    slice_t id = x->id;
    free(x);
    /* the fetch this request waited for has ended: answer with what is known now */
    models_answer(s, r, upstream_models_list(up), upstream_models_error(up), id);
}

void api_handle_models(api_server_t *s, http_req_t *r, slice_t id, const gw_auth_t *auth)
{
    if (s->o.nmodels > 0 || !s->o.upstream) {
        /* a top-level `models` line: that list alone, nothing fetched */
        models_list_t l = {0};
        models_add_names(&l, s->o.models, s->o.nmodels);
        models_answer(s, r, &l, NULL, id);
        models_free(&l);
        return;
    }
    models_req_t *x = xcalloc(1, sizeof *x);
    *x = (models_req_t){.req = r, .srv = s, .up = s->o.upstream, .id = id};
    const models_list_t *l =
        upstream_models(x->up, auth->nbyot ? auth->byot[0] : NULL, models_ready, x, &x->wait);
    if (!l) {
        http_req_on_abort(r, models_abort, x);
        return;
    }
    free(x);
    models_answer(s, r, l, upstream_models_error(s->o.upstream), id);
}

typedef struct {
    http_req_t *req;
    upstream_get_t *call;
    api_server_t *srv;
} relay_t;

static void relay_abort(void *ud)
{
    relay_t *x = ud;
    upstream_get_cancel(x->call);
    free(x);
}

/* POST /token/check: a key is live when the upstream answers an authenticated GET /models. */
static void token_checked(void *ud, int status, slice_t ctype, slice_t body, const char *err)
{
    (void)ctype;
    (void)body;
    relay_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    free(x);
    if (status == 200 || status == 401 || status == 403 || status == 402) {
        const char *out = status == 200 ? "{\"live\":true}" : "{\"live\":false}";
        api_log_simple(s, r, 200);
        http_resp_send(r, 200, "application/json", out, strlen(out));
        return;
    }
    char msg[300];
    if (status == 0)
        snprintf(msg, sizeof msg, "upstream unreachable: %s", err ? err : "no answer");
    else
        snprintf(msg, sizeof msg, "upstream answered %d; the key's state is unknown", status);
    api_reply_error(s, r, 502, "api_error", NULL, NULL, msg);
}

void api_handle_token_check(api_server_t *s, http_req_t *r)
{
    gw_auth_t auth;
    if (!api_authorize(s, r, &auth))
        return;
    if (!s->o.upstream) {
        api_reply_error(s, r, 404, "invalid_request_error", NULL, NULL,
                        "token check needs an upstream backend");
        return;
    }
    api_error_t err;
    json_t *body = NULL;
    slice_t raw = http_req_body(r);
    if (raw.len > 65536 || http_req_body_refused(r)) {
        api_reply_error(s, r, 413, "invalid_request_error", "invalid_request_error", NULL,
                        "Request body is too large");
        return;
    }
    if (api_parse_json(raw.ptr, raw.len, &body, &err)) {
        api_log_simple(s, r, err.status);
        api_send_error(r, &err);
        return;
    }
    json_t *tok = json_object_get(body, "token");
    const char *t = json_string_value(tok);
    size_t tlen = json_string_length(tok);
    bool sane = t && tlen > 0 && tlen < 512;
    for (size_t i = 0; sane && i < tlen; i++)
        sane = (unsigned char)t[i] > 0x20 && (unsigned char)t[i] < 0x7f && t[i] != ',';
    if (!sane) {
        json_decref(body);
        api_reply_error(s, r, 400, "invalid_request_error", "invalid_request_error", "token",
                        "token must be a non-empty string without spaces or commas");
        return;
    }
    int64_t now = mono_ms();
    if (!gw_bucket_take(&s->token_checks, now)) {
        json_decref(body);
        char ra[32];
        snprintf(ra, sizeof ra, "%lld",
                 (long long)((gw_bucket_wait_ms(&s->token_checks, now) + 999) / 1000));
        http_resp_header(r, "Retry-After", ra);
        api_error_t e;
        api_error_set(&e, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                      "Rate Limit Reached: token checks are limited to %ld per minute",
                      s->o.token_check_per_min);
        api_log_simple(s, r, 429);
        api_send_error(r, &e);
        return;
    }
    relay_t *x = xcalloc(1, sizeof *x);
    x->req = r;
    x->srv = s;
    http_req_on_abort(r, relay_abort, x);
    x->call = upstream_get(s->o.upstream, "/models", t, token_checked, x);
    json_decref(body);
}

static void relay_done(void *ud, int status, slice_t ctype, slice_t body, const char *err)
{
    relay_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    size_t max_output = s->o.max_output;
    free(x);
    if (status == 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "upstream unreachable: %s", err ? err : "no answer");
        api_reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        return;
    }
    char ct[128];
    snprintf(ct, sizeof ct, "%.*s", (int)ctype.len, ctype.ptr);
    if (!slice_starts_with(ctype, "application/json")) {
        char msg[200];
        snprintf(msg, sizeof msg, "upstream answered %d with %s instead of JSON", status,
                 ct[0] ? ct : "no content type");
        api_reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        return;
    }
    if (body.len > max_output) {
        /* the http layer would refuse it with a bare 500; say what happened */
        char msg[200];
        snprintf(msg, sizeof msg, "upstream answer too large (%zu bytes; max_output is %zu)",
                 body.len, max_output);
        api_reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        return;
    }
    api_log_simple(s, r, status);
    http_resp_send(r, status, ct, body.ptr, body.len);
}

/* GET /user/balance for a metered key: its own balance, from the store, in DeepSeek's shape
 * (amounts with two decimals; available while the balance net of holds is above zero). */
typedef struct {
    http_req_t *req;
    api_server_t *srv;
    acct_hold_t *job;
} balance_req_t;

static void balance_abort(void *ud)
{
    balance_req_t *x = ud;
    accounts_hold_cancel(x->job);
    free(x);
}

static void balance_ready(void *ud, store_rc_t rc, const store_key_t *k)
{
    balance_req_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    http_req_on_abort(r, NULL, NULL);
    free(x);
    if (rc != STORE_OK) {
        api_reply_error(s, r, 500, "api_error", NULL, NULL,
                        rc == STORE_NOT_FOUND ? "the key is gone" : "the accounts database failed");
        return;
    }
    char total[GW_AMOUNT_TEXT], granted[GW_AMOUNT_TEXT], topped[GW_AMOUNT_TEXT];
    buf_t b;
    buf_init(&b, 1024);
    buf_printf(
        &b,
        "{\"is_available\":%s,\"balance_infos\":[{\"currency\":\"%s\",\"total_balance\":"
        "\"%s\",\"granted_balance\":\"%s\",\"topped_up_balance\":\"%s\"}]}",
        k->granted + k->topped_up - k->held > 0 ? "true" : "false", gw_currency_name(k->currency),
        gw_amount_format_dp(k->granted + k->topped_up, 2, total),
        gw_amount_format_dp(k->granted, 2, granted), gw_amount_format_dp(k->topped_up, 2, topped));
    api_send_built(s, r, &b);
    buf_free(&b);
}

void api_handle_metrics(api_server_t *s, http_req_t *r)
{
    buf_t b;
    buf_init(&b, 4u << 20);
    api_metrics_write(s->metrics, &b);
    gw_limiter_stats_t ls;
    gw_limiter_stats(s->limiter, &ls);
    api_metrics_write_limiter(&ls, &b);
    if (s->o.upstream) {
        /* the upstream keys, bounded by the configuration: named by upstream and key id */
        const pool_t *p = upstream_pool(s->o.upstream);
        buf_puts(&b, "# HELP seekd_upstream_key_state 1 for the state each upstream key is in.\n"
                     "# TYPE seekd_upstream_key_state gauge\n");
        for (int i = 0; i < p->nups; i++)
            for (int k = 0; k < p->ups[i].nkeys; k++) {
                buf_puts(&b, "seekd_upstream_key_state{upstream=");
                api_metrics_label(&b, p->ups[i].name);
                buf_puts(&b, ",key_id=");
                api_metrics_label(&b, p->ups[i].keys[k].id);
                buf_puts(&b, ",state=\"");
                buf_puts(&b, pool_state_name(p->ups[i].keys[k].state));
                buf_puts(&b, "\"} 1\n");
            }
    }
    if (buf_failed(&b)) {
        buf_free(&b);
        api_reply_error(s, r, 500, "api_error", NULL, NULL, "the metrics do not fit");
        return;
    }
    api_log_simple(s, r, 200);
    http_resp_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
    buf_free(&b);
}

void api_handle_balance(api_server_t *s, http_req_t *r)
{
    gw_auth_t auth;
    if (!api_authorize(s, r, &auth))
        return;
    if (auth.metered) {
        balance_req_t *x = xcalloc(1, sizeof *x);
        x->req = r;
        x->srv = s;
        x->job = accounts_balance(s->o.auth.accounts, auth.acct.key_id, balance_ready, x);
        http_req_on_abort(r, balance_abort, x);
        return;
    }
    if (!s->o.upstream) {
        api_reply_error(s, r, 404, "invalid_request_error", NULL, NULL,
                        "balance is only available with an upstream backend");
        return;
    }
    relay_t *x = xcalloc(1, sizeof *x);
    x->req = r;
    x->srv = s;
    http_req_on_abort(r, relay_abort, x);
    x->call = upstream_get(s->o.upstream, "/user/balance", auth.nbyot ? auth.byot[0] : NULL,
                           relay_done, x);
}

/* Appends the upstreams' part of /health; the caller checks b once at the end. */
static void health_upstreams(const upstream_t *up, int64_t now, buf_t *b)
{
    const pool_t *p = upstream_pool(up);
    for (int i = 0; i < p->nups; i++) {
        const pool_upstream_t *u = &p->ups[i];
        buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        jw_str(b, u->name, strlen(u->name));
        buf_puts(b, ",\"url\":");
        jw_str(b, u->url, strlen(u->url));
        buf_puts(b, ",\"transport\":\"");
        buf_puts(b, upstream_transport(up, i));
        buf_puts(b, "\"");
        buf_printf(b,
                   ",\"priority\":%d,\"weight\":%d,\"max_concurrent_per_key\":%d,"
                   "\"state\":\"%s\"",
                   u->priority, u->weight, u->max_per_key,
                   u->ejected ? (now < u->until_ms ? "ejected" : "probing") : "ok");
        if (u->ejected) {
            buf_puts(b, ",\"reason\":");
            jw_str(b, u->reason, strlen(u->reason));
        }
        buf_puts(b, ",\"models\":[");
        for (int m = 0; m < u->nmodels; m++) {
            if (m)
                buf_puts(b, ",");
            jw_str(b, u->models[m], strlen(u->models[m]));
        }
        buf_puts(b, "],\"keys\":[");
        for (int k = 0; k < u->nkeys; k++) {
            const pool_key_t *key = &u->keys[k];
            buf_puts(b, k ? ",{\"key_id\":" : "{\"key_id\":");
            jw_str(b, key->id, strlen(key->id));
            buf_printf(b, ",\"state\":\"%s\",\"active\":%d,\"requests\":%lld,\"failures\":%lld",
                       pool_state_name(key->state), key->active, (long long)key->requests,
                       (long long)key->failures);
            if (key->state != KEY_OK) {
                buf_puts(b, ",\"reason\":");
                jw_str(b, key->reason, strlen(key->reason));
            }
            if (key->state == KEY_COOLDOWN || key->state == KEY_EJECTED)
                buf_printf(b, ",\"retry_in_ms\":%lld",
                           (long long)(key->until_ms > now ? key->until_ms - now : 0));
            buf_puts(b, "}");
        }
        buf_puts(b, "]}");
    }
}

/* Whether some key can serve now (ready) and whether anything is impaired (degraded): an
 * ejected upstream, a server key not OK. Ejected keys and upstreams count as able to serve:
 * the pool still tries them when nothing healthy is left. Not ready means every server key is
 * disabled, without balance or cooling down. */
static void health_state(const api_server_t *s, int64_t now, bool *ready, bool *degraded)
{
    *ready = true;
    *degraded = false;
    if (!s->o.upstream)
        return;
    const pool_t *p = upstream_pool(s->o.upstream);
    *ready = false;
    for (int i = 0; i < p->nups; i++) {
        const pool_upstream_t *u = &p->ups[i];
        if (u->nkeys == 0)
            *ready = true; /* the clients bring the keys */
        for (int k = 0; k < u->nkeys; k++) {
            const pool_key_t *key = &u->keys[k];
            *ready |= key->state == KEY_OK || key->state == KEY_EJECTED ||
                      (key->state == KEY_COOLDOWN && now >= key->until_ms);
            *degraded |= key->state != KEY_OK;
        }
        *degraded |= u->ejected;
    }
    *degraded |= !*ready;
}

/* GET /health: public, always 200 with the status only; the details (upstream URLs, key ids,
 * the keys' states and errors) only to the admin token. GET /health/ready: 503 when nothing
 * can serve, for load balancers. */
void api_handle_health(api_server_t *s, http_req_t *r, bool readiness)
{
    bool ready, degraded;
    int64_t now = mono_ms();
    health_state(s, now, &ready, &degraded);
    const char *status = !ready ? "unavailable" : degraded ? "degraded" : "ok";
    bool details = gw_admin_ok(s->o.admin_token, http_req_header(r, "Authorization"));
    if (readiness || !details) {
        char body[64];
        int code = readiness && !ready ? 503 : 200;
        int n = snprintf(body, sizeof body, "{\"status\":\"%s\"}",
                         readiness || ready ? status : "degraded");
        api_log_simple(s, r, code);
        http_resp_send(r, code, "application/json", body, (size_t)n);
        return;
    }
    buf_t b;
    buf_init(&b, 4u << 20);
    buf_printf(&b,
               "{\"status\":\"%s\",\"ready\":%s,\"version\":\"%s\",\"uptime_s\":%lld,"
               "\"requests\":%lld,\"active\":%d",
               ready ? status : "degraded", ready ? "true" : "false", SEEKD_VERSION,
               (long long)(time(NULL) - s->started), s->requests, s->active);
    if (s->o.loopmon) {
        loopmon_stats_t l = loopmon_read(s->o.loopmon);
        buf_printf(&b,
                   ",\"loop\":{\"max_stall_ms\":%.1f,\"recent_max_stall_ms\":%.1f,"
                   "\"stalls_over_5ms\":%llu,\"stalls_over_100ms\":%llu}",
                   l.max_ms, l.recent_ms, (unsigned long long)l.over_5ms,
                   (unsigned long long)l.over_100ms);
    }
    if (s->o.upstream) {
        buf_printf(&b,
                   ",\"queued\":%d,\"backends\":[{\"name\":\"upstream\",\"mode\":\"%s\","
                   "\"upstreams\":[",
                   upstream_queued(s->o.upstream),
                   s->o.auth.server_keys ? "server_keys" : "client_keys");
        health_upstreams(s->o.upstream, now, &b);
        buf_puts(&b, "]}]");
    }
    buf_puts(&b, "}");
    api_send_built(s, r, &b);
    buf_free(&b);
}
