/* metrics.c - counters and histograms for GET /metrics. */
#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define MAX_SERIES 512
#define NBUCKETS 11
static const double bucket_le[NBUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

typedef struct {
    char route[40], model[128];
    int status;
    uint64_t n;
} series_t;

typedef struct {
    uint64_t count, le[NBUCKETS];
    double sum;
} histo_t;

static const char *const refusals[] = {"rpm", "tpm", "concurrency", "balance"};
#define NREFUSALS 4

struct api_metrics {
    series_t *series;
    int nseries;
    uint64_t tokens_hit, tokens_miss, tokens_completion, tokens_reasoning;
    gw_nano_t spend[GW_CUR_COUNT];
    uint64_t estimated;
    uint64_t refused[NREFUSALS];
    int64_t holds;
    histo_t ttft, duration;
};

api_metrics_t *api_metrics_new(void)
{
    api_metrics_t *m = xcalloc(1, sizeof *m);
    m->series = xcalloc(MAX_SERIES, sizeof *m->series);
    return m;
}

void api_metrics_free(api_metrics_t *m)
{
    if (!m)
        return;
    free(m->series);
    free(m);
}

static void observe(histo_t *h, double v)
{
    h->count++;
    h->sum += v;
    for (int i = 0; i < NBUCKETS; i++)
        if (v <= bucket_le[i])
            h->le[i]++;
}

static series_t *find(api_metrics_t *m, const char *route, const char *model, int status)
{
    for (int i = 0; i < m->nseries; i++) {
        series_t *s = &m->series[i];
        if (s->status == status && !strcmp(s->model, model) && !strcmp(s->route, route))
            return s;
    }
    return NULL;
}

static bool model_served(const api_metrics_t *m, const char *model)
{
    for (int i = 0; i < m->nseries; i++)
        if (m->series[i].status == 200 && !strcmp(m->series[i].model, model))
            return true;
    return false;
}

void api_metrics_request(api_metrics_t *m, const char *route, const char *model, int status,
                         double duration_s, double ttft_s, const bk_usage_t *u)
{
    if (!m)
        return;
    /* a client chooses the model name: it becomes a label only once the model was served */
    const char *label = status == 200 || model_served(m, model) ? model : "-";
    series_t *s = find(m, route, label, status);
    if (!s && m->nseries >= MAX_SERIES - 32) { /* near the cap: one "other" per route/status */
        label = "other";
        s = find(m, route, label, status);
    }
    if (!s && m->nseries < MAX_SERIES) {
        s = &m->series[m->nseries++];
        snprintf(s->route, sizeof s->route, "%s", route);
        snprintf(s->model, sizeof s->model, "%s", label);
        s->status = status;
    }
    if (s)
        s->n++;
    observe(&m->duration, duration_s);
    if (ttft_s >= 0)
        observe(&m->ttft, ttft_s);
    if (u) {
        int64_t hit = u->has & BK_USAGE_CACHE_HIT ? u->prompt_cache_hit_tokens
                      : u->has & BK_USAGE_CACHED  ? u->cached_tokens
                                                  : 0;
        int64_t prompt = u->has & BK_USAGE_PROMPT ? u->prompt_tokens : 0;
        if (hit >= 0 && prompt >= hit) {
            m->tokens_hit += (uint64_t)hit;
            m->tokens_miss += (uint64_t)(prompt - hit);
        }
        if ((u->has & BK_USAGE_COMPLETION) && u->completion_tokens >= 0)
            m->tokens_completion += (uint64_t)u->completion_tokens;
        if ((u->has & BK_USAGE_REASONING) && u->reasoning_tokens >= 0)
            m->tokens_reasoning += (uint64_t)u->reasoning_tokens;
    }
}

void api_metrics_spend(api_metrics_t *m, gw_currency_t c, gw_nano_t cost, bool estimated)
{
    if (!m || c < 0 || c >= GW_CUR_COUNT || cost < 0)
        return;
    m->spend[c] += cost;
    if (estimated)
        m->estimated++;
}

void api_metrics_refused(api_metrics_t *m, const char *limit)
{
    if (!m)
        return;
    for (int i = 0; i < NREFUSALS; i++)
        if (!strcmp(refusals[i], limit))
            m->refused[i]++;
}

void api_metrics_holds(api_metrics_t *m, int delta)
{
    if (m)
        m->holds += delta;
}

int api_metrics_label(buf_t *out, const char *s)
{
    int rc = buf_puts(out, "\"");
    for (; *s; s++) {
        if (*s == '\\')
            rc |= buf_puts(out, "\\\\");
        else if (*s == '"')
            rc |= buf_puts(out, "\\\"");
        else if (*s == '\n')
            rc |= buf_puts(out, "\\n");
        else
            rc |= buf_append(out, s, 1);
    }
    return rc | buf_puts(out, "\"");
}

int api_metrics_write_limiter(const gw_limiter_stats_t *st, buf_t *out)
{
    int rc = 0;
    if (st->shared)
        rc |=
            buf_printf(out,
                       "# HELP seekd_redis_up 1 while Redis answers and the per-key limits are "
                       "shared across instances, 0 while each instance enforces its share alone.\n"
                       "# TYPE seekd_redis_up gauge\nseekd_redis_up %d\n",
                       st->up ? 1 : 0);
    rc |= buf_printf(out,
                     "# HELP seekd_limits_degraded_total Per-key admissions this instance decided "
                     "alone, with its limits divided by redis_instances, because Redis did not "
                     "answer.\n# TYPE seekd_limits_degraded_total counter\n"
                     "seekd_limits_degraded_total %llu\n",
                     (unsigned long long)st->degraded);
    return rc ? -1 : 0;
}

static int write_histo(buf_t *out, const char *name, const char *help, const histo_t *h)
{
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < NBUCKETS; i++)
        rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_le[i],
                         (unsigned long long)h->le[i]);
    rc |=
        buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                   (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
    return rc;
}

int api_metrics_write(const api_metrics_t *m, buf_t *out)
{
    int rc = buf_puts(out, "# HELP seekd_requests_total Chat and FIM requests by route, model "
                           "and HTTP status.\n# TYPE seekd_requests_total counter\n");
    for (int i = 0; i < m->nseries; i++) {
        const series_t *s = &m->series[i];
        if (!s->n)
            continue;
        rc |= buf_puts(out, "seekd_requests_total{route=");
        rc |= api_metrics_label(out, s->route);
        rc |= buf_puts(out, ",model=");
        rc |= api_metrics_label(out, s->model);
        rc |= buf_printf(out, ",status=\"%d\"} %llu\n", s->status, (unsigned long long)s->n);
    }
    rc |= buf_printf(out,
                     "# HELP seekd_tokens_total Tokens of the usage reports, by kind.\n"
                     "# TYPE seekd_tokens_total counter\n"
                     "seekd_tokens_total{kind=\"prompt_cache_hit\"} %llu\n"
                     "seekd_tokens_total{kind=\"prompt_cache_miss\"} %llu\n"
                     "seekd_tokens_total{kind=\"completion\"} %llu\n"
                     "seekd_tokens_total{kind=\"reasoning\"} %llu\n",
                     (unsigned long long)m->tokens_hit, (unsigned long long)m->tokens_miss,
                     (unsigned long long)m->tokens_completion,
                     (unsigned long long)m->tokens_reasoning);
    rc |= buf_puts(out, "# HELP seekd_spend_nanounits_total What metered keys were billed, in "
                        "1e-9 of the currency.\n# TYPE seekd_spend_nanounits_total counter\n");
    for (int c = 0; c < GW_CUR_COUNT; c++)
        rc |= buf_printf(out, "seekd_spend_nanounits_total{currency=\"%s\"} %lld\n",
                         gw_currency_name((gw_currency_t)c), (long long)m->spend[c]);
    rc |= buf_printf(out,
                     "# HELP seekd_estimated_usage_total Metered requests billed from seekd's own "
                     "count (no usage report).\n# TYPE seekd_estimated_usage_total counter\n"
                     "seekd_estimated_usage_total %llu\n"
                     "# HELP seekd_holds_in_flight Holds of metered requests not yet settled.\n"
                     "# TYPE seekd_holds_in_flight gauge\nseekd_holds_in_flight %lld\n",
                     (unsigned long long)m->estimated, (long long)m->holds);
    rc |= buf_puts(out, "# HELP seekd_refused_total Metered requests refused by a limit or "
                        "the balance.\n# TYPE seekd_refused_total counter\n");
    for (int i = 0; i < NREFUSALS; i++)
        rc |= buf_printf(out, "seekd_refused_total{limit=\"%s\"} %llu\n", refusals[i],
                         (unsigned long long)m->refused[i]);
    rc |= write_histo(out, "seekd_upstream_ttfb_seconds",
                      "From the request's arrival to the first answer byte.", &m->ttft);
    rc |= write_histo(out, "seekd_request_duration_seconds",
                      "From the request's arrival to its end.", &m->duration);
    return rc ? -1 : 0;
}
