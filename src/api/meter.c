/* meter.c - pricing, holding and settling one metered answer. */
#include "api/meter.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "backend/usage.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/workers.h"

int meter_prepare(meter_t *m, const gw_auth_t *auth, const gw_prices_t *prices, const char *model,
                  size_t body_len, int64_t max_tokens, long hold_max_tokens, int64_t now,
                  api_error_t *err)
{
    memset(m, 0, sizeof *m);
    const acct_key_t *k = &auth->acct;
    size_t ml = strlen(model);
    bool allowed = !k->models[0];
    for (const char *p = k->models; *p && !allowed;) {
        size_t n = strcspn(p, ",");
        allowed = n == ml && !memcmp(p, model, n);
        p += n + (p[n] == ',');
    }
    if (!allowed) {
        api_error_set(err, 403, "permission_error", "invalid_request_error", "model",
                      "this api key may not use the model '%.100s'", model);
        return 403;
    }
    const gw_price_t *p = prices ? gw_price_find(prices, model, k->currency, now) : NULL;
    if (!p) {
        api_error_set(err, 400, "invalid_request_error", "invalid_request_error", "model",
                      "the model '%.100s' has no %s price on this server, so it cannot be "
                      "billed to this key",
                      model, gw_currency_name(k->currency));
        return 400;
    }
    m->price = *p;
    m->tier = gw_tier_at(prices, now);
    m->started = now;
    /* every token of the prompt is at least one byte of the body */
    gw_units_t u = {.miss = (int64_t)body_len,
                    .output = max_tokens > 0 ? max_tokens : (int64_t)hold_max_tokens};
    gw_cost_t c;
    const char *why = NULL;
    if (gw_cost(&m->price, m->tier, &u, &c, &why)) {
        api_error_set(err, 400, "invalid_request_error", "invalid_request_error", NULL,
                      "the request cannot be priced: %s", why);
        return 400;
    }
    m->hold_amount = c.total;
    m->hold_output = u.output;
    snprintf(m->key_id, sizeof m->key_id, "%s", k->key_id);
    buf_init(&m->said, BK_COUNT_MAX_BYTES);
    m->on = true;
    return 0;
}

/* ---- a tighter hold, counted on a worker ---- */

struct meter_count {
    work_t w;   /* first */
    meter_t *m; /* NULL once the meter let go: the count is dropped when it is back */
    char *body;
    size_t len;
    int kind;
    long image_tokens;
    gw_price_t price;
    gw_tier_t tier;
    int64_t output;
    gw_nano_t amount; /* out: -1 when it could not be counted */
    meter_counted_fn cb;
    void *ud;
};

/* The bytes of v as compact JSON (an upper bound of its tokens). */
static int64_t json_bytes(const json_t *v)
{
    return v ? (int64_t)json_dumpb(v, NULL, 0, JSON_COMPACT) : 0;
}

/* What the tokenizer does not see: image parts at their configured count, other non-text
 * parts (audio, files) by their bytes. */
static int64_t parts_bound(const json_t *body, long image_tokens)
{
    int64_t n = 0;
    size_t i, k;
    json_t *msg, *part;
    json_array_foreach(json_object_get(body, "messages"), i, msg)
    {
        json_array_foreach(json_object_get(msg, "content"), k, part)
        {
            const char *type = json_string_value(json_object_get(part, "type"));
            if (type && !strcmp(type, "text"))
                continue;
            n += type && (!strcmp(type, "image_url") || !strcmp(type, "input_image"))
                     ? image_tokens
                     : json_bytes(part);
        }
    }
    return n;
}

static void count_run(work_t *w)
{
    struct meter_count *x = (struct meter_count *)w;
    x->amount = -1;
    json_t *body = json_loadb(x->body, x->len, 0, NULL);
    long prompt = body ? bk_count_prompt(body, (bk_kind_t)x->kind) : -1;
    if (prompt >= 0) {
        gw_units_t u = {.miss = prompt + parts_bound(body, x->image_tokens) +
                                json_bytes(json_object_get(body, "tools")) +
                                json_bytes(json_object_get(body, "functions")) +
                                json_bytes(json_object_get(body, "response_format")),
                        .output = x->output};
        gw_cost_t c;
        const char *why;
        if (!gw_cost(&x->price, x->tier, &u, &c, &why))
            x->amount = c.total;
    }
    json_decref(body);
}

static void count_done(work_t *w)
{
    struct meter_count *x = (struct meter_count *)w;
    if (x->m) {
        x->m->counting = NULL;
        x->cb(x->ud, w->ran ? x->amount : -1);
    }
    free(x->body);
    free(x);
}

void meter_count_hold(meter_t *m, struct workers *workers, slice_t body, int kind,
                      long image_tokens, meter_counted_fn cb, void *ud)
{
    struct meter_count *x = xcalloc(1, sizeof *x);
    x->w.run = count_run;
    x->w.done = count_done;
    x->m = m;
    x->body = xmalloc(body.len + 1);
    memcpy(x->body, body.ptr, body.len);
    x->len = body.len;
    x->kind = kind;
    x->image_tokens = image_tokens;
    x->price = m->price;
    x->tier = m->tier;
    x->output = m->hold_output;
    x->cb = cb;
    x->ud = ud;
    m->counted = true;
    m->counting = x;
    workers_submit(workers, &x->w);
}

void meter_events(meter_t *m, const bk_event_t *ev, int n)
{
    if (!m->on)
        return;
    for (int i = 0; i < n; i++) {
        slice_t t = {0};
        if (ev[i].type == BK_EV_CONTENT_DELTA || ev[i].type == BK_EV_REASONING_DELTA)
            t = ev[i].text;
        else if (ev[i].type == BK_EV_TOOL_CALL_DELTA)
            t = ev[i].tool.args;
        else
            continue;
        m->delivered = true;
        m->said_bytes += t.len;
        buf_append(&m->said, t.ptr, t.len); /* over its cap it fails: counted by bytes then */
    }
}

/* The ledger row's fields of an answer's end, and its units from a usage report. */
static store_row_t row_of(const meter_t *m, const meter_end_t *e)
{
    return (store_row_t){
        .at = m->started,
        .request_id = e->request_id,
        .model = e->model,
        .backend = "upstream",
        .upstream = e->upstream,
        .upstream_key_id = e->upstream_key_id,
        .status = e->status == 200   ? "ok"
                  : e->status == 499 ? "client_gone"
                                     : "error",
        .tier = m->tier,
        .ttft_ms = e->ttft_ms,
        .duration_ms = e->duration_ms,
    };
}

static gw_units_t units_of(const bk_usage_t *u)
{
    int64_t prompt = u->has & BK_USAGE_PROMPT ? u->prompt_tokens : 0;
    int64_t hit = u->has & BK_USAGE_CACHE_HIT ? u->prompt_cache_hit_tokens
                  : u->has & BK_USAGE_CACHED  ? u->cached_tokens
                                              : 0;
    int64_t miss = u->has & BK_USAGE_CACHE_MISS ? u->prompt_cache_miss_tokens : prompt - hit;
    if (hit < 0 || miss < 0 || (prompt && hit + miss != prompt)) {
        /* a report that does not add up is billed as all misses, the higher price */
        hit = 0;
        miss = prompt > 0 ? prompt : (miss > 0 ? miss : 0);
    }
    bool tools = u->has & BK_USAGE_SERVER_TOOLS;
    return (gw_units_t){.hit = hit,
                        .miss = miss,
                        .output = u->has & BK_USAGE_COMPLETION ? u->completion_tokens : 0,
                        .search = tools ? u->web_search_requests : 0,
                        .fetch = tools ? u->web_fetch_requests : 0};
}

static void settle(meter_t *m, accounts_t *a, api_metrics_t *metrics, store_row_t *row,
                   const gw_units_t *u, bool estimated)
{
    gw_cost_t c;
    const char *why = NULL;
    if (gw_cost(&m->price, m->tier, u, &c, &why)) {
        /* usage out of any sane range: bill what was held, never nothing */
        log_warn("req=%s usage cannot be priced (%s); billing the hold", row->request_id, why);
        c.total = m->hold_amount;
        estimated = true;
    }
    row->hit = u->hit;
    row->miss = u->miss;
    row->output = u->output; /* reasoning included; row->reasoning says how much of it */
    row->cost = c.total;
    row->estimated = estimated;
    api_metrics_spend(metrics, m->price.currency, row->cost, estimated);
    accounts_settle(a, m->hold_id, row);
}

/* ---- an estimate, counted on a worker ---- */

typedef struct {
    work_t w;
    accounts_t *a;
    api_metrics_t *metrics;
    meter_t m; /* the meter, moved here: its `said` buffer is ours now */
    store_row_t row;
    char rid[80], model[128], upstream[64], ukey[16];
    char *body;
    size_t body_len;
    int kind;
    gw_units_t u;
} estimate_t;

static void estimate_run(work_t *w)
{
    estimate_t *x = (estimate_t *)w;
    long prompt = -1, output = -1;
    json_t *body = json_loadb(x->body, x->body_len, 0, NULL);
    if (body)
        prompt = bk_count_prompt(body, (bk_kind_t)x->kind);
    json_decref(body);
    if (!buf_failed(&x->m.said))
        output = bk_count_completion((slice_t){"", 0}, buf_slice(&x->m.said), (slice_t){"", 0});
    /* without a count, bytes bound tokens from above */
    x->u.miss = prompt >= 0 ? prompt : (int64_t)x->body_len;
    x->u.output = output >= 0 ? output : (int64_t)x->m.said_bytes;
}

static void estimate_done(work_t *w)
{
    estimate_t *x = (estimate_t *)w;
    if (!w->ran)
        estimate_run(w); /* the server is stopping: count here, the bill must not be lost */
    log_info("req=%s billed without a usage report: prompt=%lld output=%lld counted by seekd "
             "(estimated)",
             x->row.request_id, (long long)x->u.miss, (long long)x->u.output);
    settle(&x->m, x->a, x->metrics, &x->row, &x->u, true);
    buf_free(&x->m.said);
    free(x->body);
    free(x);
}

static const char *keep(char *dst, size_t cap, const char *src)
{
    if (!src)
        return NULL;
    snprintf(dst, cap, "%s", src);
    return dst;
}

void meter_end(meter_t *m, accounts_t *a, struct workers *workers, const meter_end_t *e)
{
    if (!m->on)
        return;
    m->on = false;
    if (m->counting) {
        m->counting->m = NULL; /* dropped when it is back */
        m->counting = NULL;
    }
    if (m->pending) {
        accounts_hold_cancel(m->pending); /* a hold made meanwhile is released */
        m->pending = NULL;
    }
    if (m->hold_id <= 0) {
        buf_free(&m->said);
        return;
    }
    store_row_t row = row_of(m, e);
    if (e->usage) {
        gw_units_t u = units_of(e->usage);
        if (e->usage->has & BK_USAGE_REASONING)
            row.reasoning = e->usage->reasoning_tokens;
        settle(m, a, e->metrics, &row, &u, false);
    } else if (!m->delivered) {
        accounts_release(a, m->hold_id); /* nothing reached the client: nothing is billed */
    } else {
        estimate_t *x = xcalloc(1, sizeof *x);
        x->w.run = estimate_run;
        x->w.done = estimate_done;
        x->a = a;
        x->metrics = e->metrics;
        x->m = *m;
        m->said = (buf_t){0}; /* moved */
        x->row = row;
        x->row.request_id = keep(x->rid, sizeof x->rid, e->request_id);
        x->row.model = keep(x->model, sizeof x->model, e->model);
        x->row.upstream = keep(x->upstream, sizeof x->upstream, e->upstream);
        x->row.upstream_key_id = keep(x->ukey, sizeof x->ukey, e->upstream_key_id);
        x->body = xmalloc(e->body.len ? e->body.len : 1);
        memcpy(x->body, e->body.ptr, e->body.len);
        x->body_len = e->body.len;
        x->kind = e->kind;
        if (workers) {
            workers_submit(workers, &x->w);
        } else {
            estimate_run(&x->w);
            x->w.ran = true;
            estimate_done(&x->w);
        }
        return;
    }
    buf_free(&m->said);
}
