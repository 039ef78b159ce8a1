/* ratelimit.c - token buckets with lazy refill. */
#include "gateway/ratelimit.h"

static void refill(gw_bucket_t *b, int64_t now)
{
    if (now > b->last_ms) {
        b->tokens += (double)(now - b->last_ms) * b->per_ms;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now;
    }
}

void gw_bucket_init(gw_bucket_t *b, double per_min, double burst, int64_t now_ms)
{
    b->burst = burst < 1 ? 1 : burst;
    b->tokens = b->burst;
    b->per_ms = per_min / 60000.0;
    b->last_ms = now_ms;
}

bool gw_bucket_take(gw_bucket_t *b, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

int64_t gw_bucket_wait_ms(const gw_bucket_t *b, int64_t now_ms)
{
    double t = b->tokens + (double)(now_ms - b->last_ms) * b->per_ms;
    if (t >= 1.0 || b->per_ms <= 0)
        return 0;
    return (int64_t)((1.0 - t) / b->per_ms) + 1;
}
