/* limits.h - per-key limits of metered keys, in this process: requests per minute and tokens
 * per minute by GCRA (integer milliseconds, no timer), and requests in flight. A refusal says
 * when to retry. The state is kept per key id on the loop thread, bounded by the keys seen. */
#ifndef SEEKD_GATEWAY_LIMITS_H
#define SEEKD_GATEWAY_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gw_limits gw_limits_t;

gw_limits_t *gw_limits_new(void);
void gw_limits_free(gw_limits_t *l);

typedef struct {
    int64_t rpm, tpm, concurrency; /* 0: no limit */
} gw_limit_cfg_t;

typedef enum { GW_LIMIT_OK, GW_LIMIT_RPM, GW_LIMIT_TPM, GW_LIMIT_CONCURRENCY } gw_limit_rc_t;

/** Admits one request of an estimated `tokens` for key_id at now_ms, or says which limit
 * refuses it and in *retry_ms when it would pass (concurrency: 1 s, a guess: it depends on the
 * requests in flight). An admitted request must be ended with gw_limits_end. */
gw_limit_rc_t gw_limits_admit(gw_limits_t *l, const char *key_id, const gw_limit_cfg_t *cfg,
                              int64_t tokens, int64_t now_ms, int64_t *retry_ms);

/** Ends an admitted request: frees its concurrency slot and corrects its tokens per minute by
 * what it really used (estimated - actual, either sign). */
void gw_limits_end(gw_limits_t *l, const char *key_id, const gw_limit_cfg_t *cfg, int64_t estimated,
                   int64_t actual);

/** Counts a request admitted elsewhere (by the limits shared through Redis) in or out (delta +1
 * or -1) of key_id's requests in flight here, so that a fall-back to this process knows it. */
void gw_limits_track(gw_limits_t *l, const char *key_id, int delta);

/** The share of cfg one of n instances enforces alone while they cannot agree (Redis down):
 * each limit divided by n, rounded down so that n instances never pass more than the limit
 * together, but at least 1 (0 stays 0: no limit). n < 1 counts as 1. */
gw_limit_cfg_t gw_limit_cfg_share(const gw_limit_cfg_t *cfg, int n);

#endif
