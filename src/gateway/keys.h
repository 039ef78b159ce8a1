/* keys.h - client keys of the accounts: made like DeepSeek's (`sk-` + 32 hex digits, so clients
 * that check the form accept them), stored only as an HMAC-SHA256 under a server secret, and
 * named everywhere by a short prefix of that HMAC (the key id). */
#ifndef SEEKD_GATEWAY_KEYS_H
#define SEEKD_GATEWAY_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define GW_KEY_LEN 35 /* "sk-" + 32 hex digits */
#define GW_SECRET_MAX 256

typedef struct {
    uint8_t bytes[GW_SECRET_MAX];
    size_t len;
} gw_secret_t;

/** A new key from the system's random source. Returns 0, or -1 when no randomness. */
int gw_key_generate(char out[GW_KEY_LEN + 1]);

/** Whether `key` has the form of a seekd/DeepSeek key: "sk-" and 32 lowercase hex digits. */
bool gw_key_well_formed(const char *key, size_t len);

/** HMAC-SHA256(secret, key) and the key id (STORE_KEY_ID_LEN hex digits of it). */
void gw_key_hmac(const gw_secret_t *secret, const char *key, size_t len,
                 uint8_t out[STORE_HMAC_LEN]);
void gw_key_id(const uint8_t hmac[STORE_HMAC_LEN], char out[STORE_KEY_ID_LEN + 1]);

/** Constant-time equality of two HMACs. */
bool gw_hmac_equal(const uint8_t a[STORE_HMAC_LEN], const uint8_t b[STORE_HMAC_LEN]);

/** An HMAC-SHA256 under one secret with its key set up once, for one thread's hot path
 * (OpenSSL's one-shot HMAC() sets it up, and looks the algorithm up, on every call: about 5x
 * slower). */
typedef struct gw_hmac gw_hmac_t;
gw_hmac_t *gw_hmac_new(const gw_secret_t *secret);
/** As gw_key_hmac. */
void gw_hmac_run(gw_hmac_t *h, const char *key, size_t len, uint8_t out[STORE_HMAC_LEN]);
void gw_hmac_free(gw_hmac_t *h);

/** The server secret: SEEKD_KEY_SECRET from the environment when set (its bytes, at least 16
 * and at most GW_SECRET_MAX), else the store's own random secret. Returns 0, or -1 with err. */
int gw_secret_load(store_t *s, gw_secret_t *out, char *err, size_t errlen);

/** The key an operator names: the key itself (found by its HMAC under the server secret), its
 * id or its name. */
store_rc_t gw_key_resolve(store_t *s, const char *arg, store_key_t *out, char *err, size_t errlen);

#endif
