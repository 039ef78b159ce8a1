/* money.h - amounts of money as integer nano-units (1e-9 of a currency unit), never floating
 * point. DeepSeek's cheapest price is $0.003 per 1M cached input tokens: 3 nano-dollars a
 * token, so micro-units would be too coarse. An int64_t holds ±9.2e9 units of a currency. */
#ifndef SEEKD_GATEWAY_MONEY_H
#define SEEKD_GATEWAY_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t gw_nano_t;

#define GW_NANO_PER_UNIT 1000000000LL
/* The largest amount accepted from text: a billion units of a currency. Bigger amounts are
 * typing errors or attacks, and keeping far from INT64_MAX lets sums of many amounts stay
 * exact without checks at every step. */
#define GW_AMOUNT_MAX (1000000000LL * GW_NANO_PER_UNIT)

typedef enum { GW_CUR_USD, GW_CUR_CNY, GW_CUR_COUNT } gw_currency_t;

/** "USD" or "CNY" (exact case), or -1. */
int gw_currency_parse(const char *s);
const char *gw_currency_name(gw_currency_t c);

/** Parses a decimal amount ("12", "0.003", "-1.5", "+2.") into nano-units, exactly: at most 9
 * decimals, no exponent, no spaces, |amount| <= GW_AMOUNT_MAX. `len` bytes of s are read.
 * Returns 0, or -1 with *why set to a static reason. */
int gw_amount_parse(const char *s, size_t len, gw_nano_t *out, const char **why);

/** Writes an amount with exactly 9 decimals ("-0.000000003"), the form every CLI and JSON
 * answer uses. out must hold GW_AMOUNT_TEXT bytes. Returns out. */
#define GW_AMOUNT_TEXT 32
char *gw_amount_format(gw_nano_t v, char out[GW_AMOUNT_TEXT]);

/** The same amount with `decimals` (0..9) decimals, rounded half away from zero, as DeepSeek's
 * balance answers show two ("110.00"). */
char *gw_amount_format_dp(gw_nano_t v, int decimals, char out[GW_AMOUNT_TEXT]);

#endif
