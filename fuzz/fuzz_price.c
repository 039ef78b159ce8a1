/* fuzz_price.c - the money and price parsers on arbitrary bytes: a decimal amount, a price
 * line, a holiday and a time must each parse exactly or be refused, never crash, and an amount
 * that parses must print back to the same value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/money.h"
#include "gateway/price.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    gw_nano_t v;
    const char *why = NULL;
    if (gw_amount_parse(s, size, &v, &why) == 0) {
        char out[GW_AMOUNT_TEXT];
        gw_amount_format(v, out);
        gw_nano_t back;
        if (gw_amount_parse(out, strlen(out), &back, &why) != 0 || back != v)
            abort(); /* what we print must read back as the same amount */
    }
    int64_t at;
    (void)gw_time_parse(s, size, &at);
    char *line = malloc(size + 1);
    memcpy(line, data, size);
    line[size] = 0;
    gw_price_t p;
    char err[256];
    gw_prices_t t;
    gw_prices_init(&t);
    if (gw_price_parse(line, &p, err, sizeof err) == 0) {
        gw_prices_add(&t, &p, err, sizeof err);
        gw_cost_t c;
        gw_units_t u = {
            .hit = (int64_t)size * 1000, .miss = (int64_t)size, .output = 7, .search = 1};
        (void)gw_cost(&p, GW_TIER_OFFPEAK, &u, &c, &why);
        (void)gw_cost(&p, GW_TIER_PEAK, &u, &c, &why);
    }
    gw_prices_add_holiday(&t, line, err, sizeof err);
    (void)gw_tier_at(&t, (int64_t)size * 86400);
    gw_prices_free(&t);
    free(line);
    return 0;
}
