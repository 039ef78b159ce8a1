/* price.h - what a request costs: a price table per model and currency, versioned by the time
 * it takes effect, DeepSeek's peak and off-peak hours, and the cost of one request's usage in
 * exact nano-units. Pure functions of their inputs (the clock is an argument), so the billing
 * rules are tested at their boundaries. Sources and the rounding rule: docs/pricing.md. */
#ifndef SEEKD_GATEWAY_PRICE_H
#define SEEKD_GATEWAY_PRICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/money.h"

#define GW_PRICE_MODEL_MAX 128

typedef enum { GW_TIER_PEAK, GW_TIER_OFFPEAK } gw_tier_t;

typedef struct {
    char model[GW_PRICE_MODEL_MAX];
    gw_currency_t currency;
    int64_t effective_from; /* unix seconds; this version applies from then on */
    /* token prices at peak hours, in nano-units per 1M tokens */
    gw_nano_t hit, miss, output;
    /* DeepSeek's server-side tools, in nano-units per 1,000 successful calls; -1: no price */
    gw_nano_t search, fetch;
    bool offpeak_half; /* outside the peak hours tokens cost half (DeepSeek's rule) */
} gw_price_t;

typedef struct {
    gw_price_t *items;
    int n, cap;
    int32_t *holidays; /* off-peak all day: Beijing dates as days since 1970-01-01, sorted */
    int nholidays, holidays_cap;
} gw_prices_t;

void gw_prices_init(gw_prices_t *t);
void gw_prices_free(gw_prices_t *t);

/** Adds one version of a price. A second version with the same model, currency and
 * effective_from is refused (-1, err set): two prices for one moment would be ambiguous. */
int gw_prices_add(gw_prices_t *t, const gw_price_t *p, char *err, size_t errlen);

/** Adds DeepSeek's published prices (docs/pricing.md): deepseek-flash and deepseek-v4-pro in
 * USD and CNY, and the legacy names DeepSeek still bills (at Flash prices), effective from
 * 1970. A version already in the table for the same model, currency and time (a configured
 * one, added first) is kept instead. */
int gw_prices_add_defaults(gw_prices_t *t);

/** Parses a `price` config value:
 *   MODEL CURRENCY [from=YYYY-MM-DD[THH:MM:SSZ]] hit=A miss=A output=A [search=A] [fetch=A]
 *   [offpeak=half|none]
 * Amounts are decimals per 1M tokens (search, fetch: per 1,000 calls); a date alone means
 * 00:00 UTC. hit, miss and output are required; offpeak defaults to half. */
int gw_price_parse(const char *line, gw_price_t *out, char *err, size_t errlen);

/** Adds a public holiday (a Beijing date, YYYY-MM-DD): off-peak all day. */
int gw_prices_add_holiday(gw_prices_t *t, const char *date, char *err, size_t errlen);

/** The version in effect at `at` for this model and currency: the one with the latest
 * effective_from <= at. NULL when the model has no price then (the caller refuses a metered
 * request: never served for free). */
const gw_price_t *gw_price_find(const gw_prices_t *t, const char *model, gw_currency_t c,
                                int64_t at);

/** DeepSeek's tier at `at`: peak on Monday to Friday, 09:00-12:00 and 14:00-18:00 Beijing time
 * (UTC+8, no daylight saving), unless the day is a listed holiday; off-peak otherwise. */
gw_tier_t gw_tier_at(const gw_prices_t *t, int64_t at);

/** One request's billable units, as settled from its usage. */
typedef struct {
    int64_t hit, miss, output; /* tokens: cache hit, cache miss, output (incl. reasoning) */
    int64_t search, fetch;     /* successful server-side tool calls */
} gw_units_t;

typedef struct {
    gw_nano_t hit, miss, output, search, fetch, total;
} gw_cost_t;

/** The cost of `u` at price `p` in `tier`. Each line item is units x price, computed exactly in
 * 128-bit integers and rounded up to a whole nano-unit once; the total is their sum.
 * Returns 0, or -1 with *why set (negative or absurd units, a tool used that has no price). */
int gw_cost(const gw_price_t *p, gw_tier_t tier, const gw_units_t *u, gw_cost_t *out,
            const char **why);

/** "YYYY-MM-DD" (00:00 UTC) or "YYYY-MM-DDTHH:MM:SSZ", a real date from 1970 on, into unix
 * seconds. Returns 0, or -1 when malformed. */
int gw_time_parse(const char *s, size_t len, int64_t *at);

/** Days since 1970-01-01 of a proleptic Gregorian date (exposed for tests and the store). */
int64_t gw_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
