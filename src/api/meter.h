/* meter.h - a metered answer's money: the price and tier fixed when it starts, the hold that
 * admits it, what it delivered, and the one settle that bills it (or the release when it
 * delivered nothing). Used by chat.c for requests made with an accounts key. */
#ifndef SEEKD_API_METER_H
#define SEEKD_API_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/error.h"
#include "api/validate.h"
#include "backend/event.h"
#include "base/buf.h"
#include "gateway/accounts.h"
#include "gateway/auth.h"
#include "gateway/price.h"

struct workers;

typedef struct {
    bool on; /* a metered request: everything below is in use */
    char key_id[STORE_KEY_ID_LEN + 1];
    gw_price_t price;
    gw_tier_t tier;
    int64_t started; /* unix seconds: the price and tier are those of this moment */
    gw_nano_t hold_amount;
    int64_t hold_output;          /* the output tokens the hold covers */
    bool counted;                 /* the hold was made from an exact count of the prompt */
    struct meter_count *counting; /* that count, on a worker */
    acct_hold_t *pending;         /* the hold in flight */
    int64_t hold_id;              /* > 0 once held */
    bool delivered;               /* answer events reached the client */
    buf_t said;                   /* the delivered text, for an estimate when no usage comes */
    size_t said_bytes;
} meter_t;

/** Prepares the meter of a request made with a metered key: the model must be allowed for the
 * key (403) and priced in its currency now (400); the hold is an upper bound of its cost: the
 * body's bytes as cache-miss prompt tokens plus max_tokens (or hold_max_tokens) output tokens.
 * Returns 0, or the status with err filled. */
int meter_prepare(meter_t *m, const gw_auth_t *auth, const gw_prices_t *prices, const char *model,
                  size_t body_len, int64_t max_tokens, long hold_max_tokens, int64_t now,
                  api_error_t *err);

/** The count of a tighter hold is back: `amount` (< 0: no tighter one could be counted). */
typedef void (*meter_counted_fn)(void *ud, gw_nano_t amount);

/** A first hold counts every byte of the body as a prompt token: cheap, and an upper bound,
 * but several times the real count (and far more for images). When the balance cannot cover
 * it, this counts a tight upper bound on a worker: the prompt's tokens with seekd's tokenizer
 * (text past the tokenizer's input bound by its bytes), each image part as `image_tokens`,
 * any other non-text part and the tools and response_format by their bytes. cb runs on the
 * loop later, never inside this call, unless meter_end comes first. */
void meter_count_hold(meter_t *m, struct workers *workers, slice_t body, int kind,
                      long image_tokens, meter_counted_fn cb, void *ud);

/** Notes what an event batch delivers (text for an estimate). */
void meter_events(meter_t *m, const bk_event_t *ev, int n);

/** What the answer's end knows for its ledger row. */
typedef struct {
    const char *request_id, *model, *upstream, *upstream_key_id;
    int status;
    const bk_usage_t *usage; /* NULL: none reported or counted */
    int64_t ttft_ms, duration_ms;
    slice_t body;                /* the request's bytes, for an estimated prompt count */
    int kind;                    /* bk_kind_t */
    struct api_metrics *metrics; /* what was billed is counted there (may be NULL) */
} meter_end_t;

/** Settles (or releases) the hold exactly once and frees what the meter holds. With usage the
 * cost is exact. Without it, when nothing was delivered the hold is released (nothing billed);
 * when something was, prompt and delivered output are counted with seekd's tokenizer on a
 * worker and billed as an estimate. A pending hold is cancelled. */
void meter_end(meter_t *m, accounts_t *a, struct workers *workers, const meter_end_t *e);

#endif
