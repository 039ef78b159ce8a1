/* money.c - decimal text to nano-units and back, exactly. */
#include "gateway/money.h"

#include <stdio.h>
#include <string.h>

static const char *const currency_names[GW_CUR_COUNT] = {"USD", "CNY"};

int gw_currency_parse(const char *s)
{
    for (int i = 0; i < GW_CUR_COUNT; i++)
        if (s && !strcmp(s, currency_names[i]))
            return i;
    return -1;
}

const char *gw_currency_name(gw_currency_t c)
{
    return c >= 0 && c < GW_CUR_COUNT ? currency_names[c] : "?";
}

int gw_amount_parse(const char *s, size_t len, gw_nano_t *out, const char **why)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    int64_t units = 0, frac = 0;
    int int_digits = 0, frac_digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
        if (units > GW_AMOUNT_MAX / GW_NANO_PER_UNIT) {
            *why = "amount too large";
            return -1;
        }
        units = units * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++) {
            if (frac_digits == 9) {
                *why = "more than 9 decimals (amounts are exact to 1e-9)";
                return -1;
            }
            frac = frac * 10 + (s[i] - '0');
        }
    }
    if (i != len || int_digits + frac_digits == 0) {
        *why = "not a decimal amount";
        return -1;
    }
    for (int k = frac_digits; k < 9; k++)
        frac *= 10;
    if (units > GW_AMOUNT_MAX / GW_NANO_PER_UNIT ||
        units * GW_NANO_PER_UNIT + frac > GW_AMOUNT_MAX) {
        *why = "amount too large";
        return -1;
    }
    int64_t v = units * GW_NANO_PER_UNIT + frac;
    *out = neg ? -v : v;
    return 0;
}

char *gw_amount_format_dp(gw_nano_t v, int decimals, char out[GW_AMOUNT_TEXT])
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    /* |INT64_MIN| does not fit: work on the unsigned magnitude */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t step = 1;
    for (int k = decimals; k < 9; k++)
        step *= 10;
    if (step > 1)
        mag = (mag / step + (mag % step >= step / 2 ? 1 : 0)) * step; /* half away from zero */
    uint64_t units = mag / GW_NANO_PER_UNIT, frac = (mag % GW_NANO_PER_UNIT) / step;
    if (decimals == 0)
        snprintf(out, GW_AMOUNT_TEXT, "%s%llu", v < 0 && mag ? "-" : "", (unsigned long long)units);
    else
        snprintf(out, GW_AMOUNT_TEXT, "%s%llu.%0*llu", v < 0 && mag ? "-" : "",
                 (unsigned long long)units, decimals, (unsigned long long)frac);
    return out;
}

char *gw_amount_format(gw_nano_t v, char out[GW_AMOUNT_TEXT])
{
    return gw_amount_format_dp(v, 9, out);
}
