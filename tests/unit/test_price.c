/* test_price.c - money as exact nano-units, DeepSeek's peak hours at their boundaries, price
 * versions, and the cost of a request line by line. Expected times were computed apart from
 * this code (Python's calendar.timegm), and each is named by its UTC and Beijing reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/money.h"
#include "gateway/price.h"

static gw_nano_t amount(const char *s)
{
    gw_nano_t v = 0;
    const char *why = NULL;
    if (gw_amount_parse(s, strlen(s), &v, &why))
        fail_msg("'%s' refused: %s", s, why);
    return v;
}

static const char *refusal(const char *s)
{
    gw_nano_t v = 0;
    const char *why = NULL;
    if (gw_amount_parse(s, strlen(s), &v, &why) == 0)
        fail_msg("'%s' accepted as %lld", s, (long long)v);
    return why;
}

static void amounts_parse_exactly(void **state)
{
    (void)state;
    assert_int_equal(amount("0.003"), 3000000);
    assert_int_equal(amount("1"), 1000000000);
    assert_int_equal(amount("-1.5"), -1500000000);
    assert_int_equal(amount("+2."), 2000000000);
    assert_int_equal(amount(".5"), 500000000);
    assert_int_equal(amount("0.000000001"), 1);
    assert_int_equal(amount("1000000000"), GW_AMOUNT_MAX);
    assert_int_equal(amount("-1000000000"), -GW_AMOUNT_MAX);
    assert_string_equal(refusal("0.0000000001"),
                        "more than 9 decimals (amounts are exact to 1e-9)");
    assert_string_equal(refusal("1000000000.000000001"), "amount too large");
    assert_string_equal(refusal("99999999999999999999999"), "amount too large");
    assert_string_equal(refusal("1e3"), "not a decimal amount");
    assert_string_equal(refusal(""), "not a decimal amount");
    assert_string_equal(refusal("."), "not a decimal amount");
    assert_string_equal(refusal("-"), "not a decimal amount");
    assert_string_equal(refusal("1 "), "not a decimal amount");
    assert_string_equal(refusal("0x10"), "not a decimal amount");
}

static void amounts_format_with_nine_or_fewer_decimals(void **state)
{
    (void)state;
    char b[GW_AMOUNT_TEXT];
    assert_string_equal(gw_amount_format(3, b), "0.000000003");
    assert_string_equal(gw_amount_format(-3, b), "-0.000000003");
    assert_string_equal(gw_amount_format(0, b), "0.000000000");
    assert_string_equal(gw_amount_format(110000000000, b), "110.000000000");
    assert_string_equal(gw_amount_format(INT64_MIN, b), "-9223372036.854775808");
    assert_string_equal(gw_amount_format_dp(110000000000, 2, b), "110.00");
    /* half away from zero, and no "-0.00" */
    assert_string_equal(gw_amount_format_dp(1005000000, 2, b), "1.01");
    assert_string_equal(gw_amount_format_dp(1004999999, 2, b), "1.00");
    assert_string_equal(gw_amount_format_dp(-1005000000, 2, b), "-1.01");
    assert_string_equal(gw_amount_format_dp(-4000000, 2, b), "0.00");
    assert_string_equal(gw_amount_format_dp(999999999, 0, b), "1");
}

static void days_from_civil_matches_the_calendar(void **state)
{
    (void)state;
    assert_int_equal(gw_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(gw_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(gw_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(gw_days_from_civil(2026, 11, 30), 20787);
}

/* Beijing is UTC+8: peak is 01:00-04:00 and 06:00-10:00 UTC on Beijing's weekdays. */
static void peak_hours_at_their_boundaries(void **state)
{
    (void)state;
    gw_prices_t t;
    gw_prices_init(&t);
    const struct {
        int64_t at;
        gw_tier_t want;
        const char *what;
    } cases[] = {
        {1796000399, GW_TIER_OFFPEAK, "Mon 2026-11-30 08:59:59 Beijing"},
        {1796000400, GW_TIER_PEAK, "Mon 09:00:00 Beijing"},
        {1796011199, GW_TIER_PEAK, "Mon 11:59:59 Beijing"},
        {1796011200, GW_TIER_OFFPEAK, "Mon 12:00:00 Beijing"},
        {1796018399, GW_TIER_OFFPEAK, "Mon 13:59:59 Beijing"},
        {1796018400, GW_TIER_PEAK, "Mon 14:00:00 Beijing"},
        {1796032799, GW_TIER_PEAK, "Mon 17:59:59 Beijing"},
        {1796032800, GW_TIER_OFFPEAK, "Mon 18:00:00 Beijing"},
        {1796378399, GW_TIER_PEAK, "Fri 2026-12-04 17:59:59 Beijing"},
        {1796378400, GW_TIER_OFFPEAK, "Fri 18:00:00 Beijing"},
        {1796434200, GW_TIER_OFFPEAK, "Sat 2026-12-05 09:30 Beijing (Fri in UTC until 16:00)"},
        {1795973400, GW_TIER_OFFPEAK, "Sun 2026-11-29 17:30 UTC = Mon 01:30 Beijing"},
        {1796090400, GW_TIER_PEAK, "Tue 2026-12-01 10:00 Beijing, no holiday listed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (gw_tier_at(&t, cases[i].at) != cases[i].want)
            fail_msg("%s: want %s", cases[i].what,
                     cases[i].want == GW_TIER_PEAK ? "peak" : "off-peak");
    char err[160];
    assert_int_equal(gw_prices_add_holiday(&t, "2026-12-01", err, sizeof err), 0);
    assert_int_equal(gw_prices_add_holiday(&t, "2026-10-01", err, sizeof err), 0);
    assert_int_equal(gw_tier_at(&t, 1796090400), GW_TIER_OFFPEAK); /* the holiday */
    assert_int_equal(gw_tier_at(&t, 1796000400), GW_TIER_PEAK);    /* the day before is not */
    assert_int_equal(gw_prices_add_holiday(&t, "2026-02-29", err, sizeof err), -1);
    assert_string_equal(err, "holiday '2026-02-29' is not a date YYYY-MM-DD");
    assert_int_equal(gw_prices_add_holiday(&t, "2028-02-29", err, sizeof err), 0);
    assert_int_equal(gw_prices_add_holiday(&t, "2026-13-01", err, sizeof err), -1);
    gw_prices_free(&t);
}

static void defaults_are_deepseeks_published_prices(void **state)
{
    (void)state;
    gw_prices_t t;
    gw_prices_init(&t);
    assert_int_equal(gw_prices_add_defaults(&t), 0);
    const gw_price_t *p = gw_price_find(&t, "deepseek-flash", GW_CUR_USD, 1796000400);
    assert_non_null(p);
    assert_int_equal(p->hit, 6000000);
    assert_int_equal(p->miss, 300000000);
    assert_int_equal(p->output, 1200000000);
    assert_int_equal(p->search, -1);
    assert_true(p->offpeak_half);
    p = gw_price_find(&t, "deepseek-v4-pro", GW_CUR_CNY, 1796000400);
    assert_non_null(p);
    assert_int_equal(p->hit, 300000000);
    assert_int_equal(p->miss, 9000000000);
    assert_int_equal(p->output, 27000000000);
    assert_int_equal(p->search, 5000000000);
    assert_non_null(gw_price_find(&t, "deepseek-v4-flash", GW_CUR_USD, 0));
    /* retired names and unknown models have no price: a metered request is refused */
    assert_null(gw_price_find(&t, "deepseek-chat", GW_CUR_USD, 1796000400));
    assert_null(gw_price_find(&t, "deepseek-reasoner", GW_CUR_CNY, 1796000400));
    assert_null(gw_price_find(&t, "DeepSeek-Flash", GW_CUR_USD, 1796000400));
    gw_prices_free(&t);
}

static void versions_take_effect_at_their_time(void **state)
{
    (void)state;
    gw_prices_t t;
    gw_prices_init(&t);
    char err[160];
    gw_price_t p;
    assert_int_equal(gw_price_parse("m USD hit=1 miss=2 output=3", &p, err, sizeof err), 0);
    assert_int_equal(gw_prices_add(&t, &p, err, sizeof err), 0);
    assert_int_equal(
        gw_price_parse("m USD from=2026-12-01 hit=0.5 miss=1 output=1.5", &p, err, sizeof err), 0);
    assert_int_equal(p.effective_from, 1796083200);
    assert_int_equal(gw_prices_add(&t, &p, err, sizeof err), 0);
    assert_int_equal(gw_price_parse("m USD from=2026-12-01T10:00:00Z hit=0.25 miss=1 output=1", &p,
                                    err, sizeof err),
                     0);
    assert_int_equal(p.effective_from, 1796083200 + 36000);
    assert_int_equal(gw_prices_add(&t, &p, err, sizeof err), 0);
    assert_int_equal(gw_price_find(&t, "m", GW_CUR_USD, 1796083199)->hit, 1000000000);
    assert_int_equal(gw_price_find(&t, "m", GW_CUR_USD, 1796083200)->hit, 500000000);
    assert_int_equal(gw_price_find(&t, "m", GW_CUR_USD, 1796083200 + 35999)->hit, 500000000);
    assert_int_equal(gw_price_find(&t, "m", GW_CUR_USD, 1796083200 + 36000)->hit, 250000000);
    assert_null(gw_price_find(&t, "m", GW_CUR_CNY, 1796083200));
    /* the same moment twice is ambiguous */
    assert_int_equal(
        gw_price_parse("m USD from=2026-12-01 hit=9 miss=9 output=9", &p, err, sizeof err), 0);
    assert_int_equal(gw_prices_add(&t, &p, err, sizeof err), -1);
    assert_string_equal(err, "m USD already has a price from that time");
    gw_prices_free(&t);
}

static void bad_price_lines_are_named(void **state)
{
    (void)state;
    const struct {
        const char *line, *err;
    } cases[] = {
        {"", "price needs MODEL CURRENCY hit=... miss=... output=..."},
        {"m", "price needs MODEL CURRENCY hit=... miss=... output=..."},
        {"m EUR hit=1 miss=1 output=1", "price m: currency 'EUR' is not USD or CNY"},
        {"m USD hit=1 miss=1", "price m: hit=, miss= and output= are all required"},
        {"m USD hit=1 miss=1 output=1 cache=2", "price m: unknown field 'cache'"},
        {"m USD hit=1 miss=1 output", "price m: 'output' is not key=value"},
        {"m USD hit=0.0000000001 miss=1 output=1",
         "price m: hit: more than 9 decimals (amounts are exact to 1e-9)"},
        {"m USD hit=-1 miss=1 output=1", "price m: hit: must not be negative"},
        {"m USD hit=1 miss=1 output=1 from=2026-02-29",
         "price m: from must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"},
        {"m USD hit=1 miss=1 output=1 from=2026-12-01T24:00:00Z",
         "price m: from must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"},
        {"m USD hit=1 miss=1 output=1 offpeak=third", "price m: offpeak must be half or none"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_price_t p;
        char err[160] = "";
        if (gw_price_parse(cases[i].line, &p, err, sizeof err) != -1)
            fail_msg("'%s' accepted", cases[i].line);
        if (strcmp(err, cases[i].err))
            fail_msg("'%s':\n got: %s\nwant: %s", cases[i].line, err, cases[i].err);
    }
    char longname[300];
    memset(longname, 'a', 200);
    strcpy(longname + 200, " USD hit=1 miss=1 output=1");
    gw_price_t p;
    char err[160];
    assert_int_equal(gw_price_parse(longname, &p, err, sizeof err), -1);
    assert_string_equal(err, "price: model name longer than 127 bytes");
}

static gw_cost_t cost_of(const char *line, gw_tier_t tier, gw_units_t u)
{
    gw_price_t p;
    char err[160];
    if (gw_price_parse(line, &p, err, sizeof err))
        fail_msg("%s", err);
    gw_cost_t c;
    const char *why = NULL;
    if (gw_cost(&p, tier, &u, &c, &why))
        fail_msg("'%s': %s", line, why);
    return c;
}

static void costs_are_exact_per_line_and_rounded_up_once(void **state)
{
    (void)state;
    const char *flash = "deepseek-flash USD hit=0.006 miss=0.3 output=1.2";
    gw_cost_t c =
        cost_of(flash, GW_TIER_PEAK, (gw_units_t){.hit = 1000, .miss = 1000, .output = 500});
    assert_int_equal(c.hit, 6000);
    assert_int_equal(c.miss, 300000);
    assert_int_equal(c.output, 600000);
    assert_int_equal(c.total, 906000);
    c = cost_of(flash, GW_TIER_OFFPEAK, (gw_units_t){.hit = 1000, .miss = 1000, .output = 500});
    assert_int_equal(c.total, 453000);
    /* the cheapest token: $0.003 per 1M off-peak is 3 nano-dollars */
    c = cost_of(flash, GW_TIER_OFFPEAK, (gw_units_t){.hit = 1});
    assert_int_equal(c.hit, 3);
    /* one nano-unit per 1M tokens: a fraction is rounded up, per line, once */
    const char *tiny = "m USD hit=0.000000001 miss=0.000000001 output=0.000000001";
    c = cost_of(tiny, GW_TIER_PEAK, (gw_units_t){.hit = 1, .miss = 1000000, .output = 1000001});
    assert_int_equal(c.hit, 1);
    assert_int_equal(c.miss, 1);
    assert_int_equal(c.output, 2);
    assert_int_equal(c.total, 4);
    /* off-peak halves exactly, even an odd price: 2M tokens at 1 nano per 1M -> 1 */
    c = cost_of(tiny, GW_TIER_OFFPEAK, (gw_units_t){.hit = 2000000, .miss = 2000001});
    assert_int_equal(c.hit, 1);
    assert_int_equal(c.miss, 2);
    /* offpeak=none keeps the peak price */
    c = cost_of("m USD hit=1 miss=1 output=1 offpeak=none", GW_TIER_OFFPEAK,
                (gw_units_t){.output = 1000000});
    assert_int_equal(c.output, 1000000000);
    /* tools: per 1,000 successful calls, never halved */
    c = cost_of("deepseek-flash CNY hit=0.04 miss=2 output=8 search=5 fetch=5", GW_TIER_OFFPEAK,
                (gw_units_t){.search = 3, .fetch = 1});
    assert_int_equal(c.search, 15000000);
    assert_int_equal(c.fetch, 5000000);
    assert_int_equal(c.total, 20000000);
}

static void absurd_usage_and_unpriced_tools_are_refused(void **state)
{
    (void)state;
    gw_price_t p;
    char err[160];
    assert_int_equal(gw_price_parse("m USD hit=1000000000 miss=1 output=1", &p, err, sizeof err),
                     0);
    gw_cost_t c;
    const char *why = NULL;
    assert_int_equal(gw_cost(&p, GW_TIER_PEAK, &(gw_units_t){.miss = -1}, &c, &why), -1);
    assert_string_equal(why, "usage out of range");
    assert_int_equal(gw_cost(&p, GW_TIER_PEAK, &(gw_units_t){.output = 1000000000001LL}, &c, &why),
                     -1);
    assert_string_equal(why, "usage out of range");
    /* a billion units per 1M tokens times a trillion tokens does not fit: refused, not wrapped */
    assert_int_equal(gw_cost(&p, GW_TIER_PEAK, &(gw_units_t){.hit = 1000000000000LL}, &c, &why),
                     -1);
    assert_string_equal(why, "cost out of range");
    assert_int_equal(gw_cost(&p, GW_TIER_PEAK, &(gw_units_t){.search = 1}, &c, &why), -1);
    assert_string_equal(why, "a server-side tool was used that has no price");
    assert_int_equal(gw_cost(&p, GW_TIER_PEAK, &(gw_units_t){0}, &c, &why), 0);
    assert_int_equal(c.total, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amounts_parse_exactly),
        cmocka_unit_test(amounts_format_with_nine_or_fewer_decimals),
        cmocka_unit_test(days_from_civil_matches_the_calendar),
        cmocka_unit_test(peak_hours_at_their_boundaries),
        cmocka_unit_test(defaults_are_deepseeks_published_prices),
        cmocka_unit_test(versions_take_effect_at_their_time),
        cmocka_unit_test(bad_price_lines_are_named),
        cmocka_unit_test(costs_are_exact_per_line_and_rounded_up_once),
        cmocka_unit_test(absurd_usage_and_unpriced_tools_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
