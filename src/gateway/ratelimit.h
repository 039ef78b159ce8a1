/* ratelimit.h - token buckets. */
#ifndef SEEKD_GATEWAY_RATELIMIT_H
#define SEEKD_GATEWAY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double tokens;
    double burst;
    double per_ms; /* refill rate */
    int64_t last_ms;
} gw_bucket_t;

/** A bucket allowing `per_min` takes a minute on average and bursts of `burst`. */
void gw_bucket_init(gw_bucket_t *b, double per_min, double burst, int64_t now_ms);
/** Takes one token if there is one. */
bool gw_bucket_take(gw_bucket_t *b, int64_t now_ms);
/** Milliseconds until a token is available (0 when one is). */
int64_t gw_bucket_wait_ms(const gw_bucket_t *b, int64_t now_ms);

#endif
