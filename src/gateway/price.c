/* price.c - price versions, DeepSeek's peak hours, and exact per-request costs. */
#include "gateway/price.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Units above this in one request are not usage but a broken or hostile report. */
#define GW_UNITS_MAX 1000000000000LL

void gw_prices_init(gw_prices_t *t)
{
    memset(t, 0, sizeof *t);
}

void gw_prices_free(gw_prices_t *t)
{
    free(t->items);
    free(t->holidays);
    memset(t, 0, sizeof *t);
}

int gw_prices_add(gw_prices_t *t, const gw_price_t *p, char *err, size_t errlen)
{
    for (int i = 0; i < t->n; i++) {
        const gw_price_t *q = &t->items[i];
        if (q->currency == p->currency && q->effective_from == p->effective_from &&
            !strcmp(q->model, p->model)) {
            snprintf(err, errlen, "%.64s %s already has a price from that time", p->model,
                     gw_currency_name(p->currency));
            return -1;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->items = xrealloc(t->items, (size_t)t->cap * sizeof *t->items);
    }
    t->items[t->n++] = *p;
    return 0;
}

/* ---- dates ---- */

int64_t gw_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Count from 0000-03-01 so that the leap day ends a year: an era is 400 years
     * (146097 days), and a March-based day of year has a closed form. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;                           /* 719468: 0000-03-01 */
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int two(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "YYYY-MM-DD" (len 10) into days since 1970-01-01; -1 when malformed or not a real date. */
static int parse_date(const char *s, size_t len, int64_t *days)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int hi = two(s), lo = two(s + 2), m = two(s + 5), d = two(s + 8);
    if (hi < 0 || lo < 0 || m < 1 || m > 12 || d < 1)
        return -1;
    int64_t y = hi * 100 + lo;
    if (y < 1970 || d > mdays[m - 1] + (m == 2 && leap(y)))
        return -1;
    *days = gw_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

int gw_time_parse(const char *s, size_t len, int64_t *at)
{
    int64_t days;
    if (len == 10)
        return parse_date(s, len, at) ? -1 : (*at *= 86400, 0);
    if (len != 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
        parse_date(s, 10, &days))
        return -1;
    int h = two(s + 11), mi = two(s + 14), sec = two(s + 17);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return -1;
    *at = days * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int gw_prices_add_holiday(gw_prices_t *t, const char *date, char *err, size_t errlen)
{
    int64_t days;
    if (parse_date(date, strlen(date), &days)) {
        snprintf(err, errlen, "holiday '%.40s' is not a date YYYY-MM-DD", date);
        return -1;
    }
    for (int i = 0; i < t->nholidays; i++)
        if (t->holidays[i] == days)
            return 0;
    if (t->nholidays == t->holidays_cap) {
        t->holidays_cap = t->holidays_cap ? t->holidays_cap * 2 : 16;
        t->holidays = xrealloc(t->holidays, (size_t)t->holidays_cap * sizeof *t->holidays);
    }
    t->holidays[t->nholidays++] = (int32_t)days;
    qsort(t->holidays, (size_t)t->nholidays, sizeof *t->holidays, cmp_i32);
    return 0;
}

/* ---- the tier ---- */

gw_tier_t gw_tier_at(const gw_prices_t *t, int64_t at)
{
    int64_t local = at + 8 * 3600; /* Beijing: UTC+8 all year */
    int64_t day = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t sod = local - day * 86400;
    int64_t weekday = ((day % 7) + 7 + 3) % 7; /* 0 = Monday: 1970-01-01 was a Thursday */
    if (weekday >= 5)
        return GW_TIER_OFFPEAK;
    int32_t d32 = (int32_t)day;
    if (t && t->nholidays && bsearch(&d32, t->holidays, (size_t)t->nholidays, sizeof d32, cmp_i32))
        return GW_TIER_OFFPEAK;
    bool peak = (sod >= 9 * 3600 && sod < 12 * 3600) || (sod >= 14 * 3600 && sod < 18 * 3600);
    return peak ? GW_TIER_PEAK : GW_TIER_OFFPEAK;
}

const gw_price_t *gw_price_find(const gw_prices_t *t, const char *model, gw_currency_t c,
                                int64_t at)
{
    const gw_price_t *best = NULL;
    for (int i = 0; i < t->n; i++) {
        const gw_price_t *p = &t->items[i];
        if (p->currency != c || p->effective_from > at || strcmp(p->model, model))
            continue;
        if (!best || p->effective_from > best->effective_from)
            best = p;
    }
    return best;
}

/* ---- cost ---- */

/* units x price / per, rounded up; -1 when out of range */
static int line(int64_t units, gw_nano_t price, __int128 per, gw_nano_t *out)
{
    __int128 num = (__int128)units * price;
    __int128 v = (num + per - 1) / per;
    if (v > GW_AMOUNT_MAX)
        return -1;
    *out = (gw_nano_t)v;
    return 0;
}

int gw_cost(const gw_price_t *p, gw_tier_t tier, const gw_units_t *u, gw_cost_t *out,
            const char **why)
{
    memset(out, 0, sizeof *out);
    const int64_t units[] = {u->hit, u->miss, u->output, u->search, u->fetch};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (units[i] < 0 || units[i] > GW_UNITS_MAX) {
            *why = "usage out of range";
            return -1;
        }
    if ((u->search && p->search < 0) || (u->fetch && p->fetch < 0)) {
        *why = "a server-side tool was used that has no price";
        return -1;
    }
    /* Off-peak halves the price: dividing by 2e6 instead of 1e6 keeps it exact even when a
     * peak price is an odd number of nano-units per 1M tokens. */
    __int128 per_m = tier == GW_TIER_OFFPEAK && p->offpeak_half ? 2000000 : 1000000;
    if (line(u->hit, p->hit, per_m, &out->hit) || line(u->miss, p->miss, per_m, &out->miss) ||
        line(u->output, p->output, per_m, &out->output) ||
        line(u->search, p->search < 0 ? 0 : p->search, 1000, &out->search) ||
        line(u->fetch, p->fetch < 0 ? 0 : p->fetch, 1000, &out->fetch)) {
        *why = "cost out of range";
        return -1;
    }
    __int128 total = (__int128)out->hit + out->miss + out->output + out->search + out->fetch;
    if (total > GW_AMOUNT_MAX) {
        *why = "cost out of range";
        return -1;
    }
    out->total = (gw_nano_t)total;
    return 0;
}

/* ---- the config line ---- */

int gw_price_parse(const char *line_text, gw_price_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->search = out->fetch = -1;
    out->offpeak_half = true;
    bool has_hit = false, has_miss = false, has_output = false;
    const char *s = line_text;
    for (int field = 0;; field++) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s) {
            if (field < 2) {
                snprintf(err, errlen, "price needs MODEL CURRENCY hit=... miss=... output=...");
                return -1;
            }
            break;
        }
        size_t len = strcspn(s, " \t");
        if (field == 0) {
            if (len >= sizeof out->model) {
                snprintf(err, errlen, "price: model name longer than %d bytes",
                         GW_PRICE_MODEL_MAX - 1);
                return -1;
            }
            memcpy(out->model, s, len);
        } else if (field == 1) {
            char cur[8] = "";
            int c = len < sizeof cur ? (memcpy(cur, s, len), gw_currency_parse(cur)) : -1;
            if (c < 0) {
                snprintf(err, errlen, "price %.64s: currency '%.*s' is not USD or CNY", out->model,
                         (int)(len > 16 ? 16 : len), s);
                return -1;
            }
            out->currency = (gw_currency_t)c;
        } else {
            const char *eq = memchr(s, '=', len);
            size_t klen = eq ? (size_t)(eq - s) : len;
            const char *v = eq ? eq + 1 : s + len;
            size_t vlen = eq ? len - klen - 1 : 0;
#define KEY(k) (klen == sizeof k - 1 && !memcmp(s, k, klen))
            const char *why = NULL;
            gw_nano_t *dst = KEY("hit")      ? (has_hit = true, &out->hit)
                             : KEY("miss")   ? (has_miss = true, &out->miss)
                             : KEY("output") ? (has_output = true, &out->output)
                             : KEY("search") ? &out->search
                             : KEY("fetch")  ? &out->fetch
                                             : NULL;
            if (!eq) {
                snprintf(err, errlen, "price %.64s: '%.*s' is not key=value", out->model,
                         (int)(len > 32 ? 32 : len), s);
                return -1;
            } else if (dst) {
                if (gw_amount_parse(v, vlen, dst, &why) || *dst < 0) {
                    snprintf(err, errlen, "price %.64s: %.*s: %s", out->model, (int)klen, s,
                             why ? why : "must not be negative");
                    return -1;
                }
            } else if (KEY("from")) {
                if (gw_time_parse(v, vlen, &out->effective_from)) {
                    snprintf(err, errlen,
                             "price %.64s: from must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                             out->model);
                    return -1;
                }
            } else if (KEY("offpeak")) {
                if (vlen == 4 && !memcmp(v, "half", 4))
                    out->offpeak_half = true;
                else if (vlen == 4 && !memcmp(v, "none", 4))
                    out->offpeak_half = false;
                else {
                    snprintf(err, errlen, "price %.64s: offpeak must be half or none", out->model);
                    return -1;
                }
            } else {
                snprintf(err, errlen, "price %.64s: unknown field '%.*s'", out->model,
                         (int)(klen > 32 ? 32 : klen), s);
                return -1;
            }
#undef KEY
        }
        s += len;
    }
    if (!has_hit || !has_miss || !has_output) {
        snprintf(err, errlen, "price %.64s: hit=, miss= and output= are all required", out->model);
        return -1;
    }
    return 0;
}

/* ---- DeepSeek's published prices ---- */

int gw_prices_add_defaults(gw_prices_t *t)
{
    /* https://api-docs.deepseek.com/quick_start/pricing (English: USD; zh-cn: CNY), as read on
     * 2026-11-15: peak prices per 1M tokens; off-peak is half. Search and Fetch are billed
     * per 1,000 successful calls; the page gives that price in CNY only. */
    static const char *const lines[] = {
        "deepseek-flash USD hit=0.006 miss=0.3 output=1.2",
        "deepseek-flash CNY hit=0.04 miss=2 output=8 search=5 fetch=5",
        "deepseek-v4-pro USD hit=0.044 miss=1.32 output=3.96",
        "deepseek-v4-pro CNY hit=0.30 miss=9.0 output=27.0 search=5 fetch=5",
        /* legacy names still accepted, served by V4.1-Flash and billed at its price */
        "deepseek-v4-flash USD hit=0.006 miss=0.3 output=1.2",
        "deepseek-v4-flash CNY hit=0.04 miss=2 output=8 search=5 fetch=5",
        "deepseek-v4-flash-vision-exp USD hit=0.006 miss=0.3 output=1.2",
        "deepseek-v4-flash-vision-exp CNY hit=0.04 miss=2 output=8 search=5 fetch=5",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        gw_price_t p;
        char err[160];
        if (gw_price_parse(lines[i], &p, err, sizeof err))
            return -1;
        gw_prices_add(t, &p, err, sizeof err); /* a configured version from then on wins */
    }
    return 0;
}
