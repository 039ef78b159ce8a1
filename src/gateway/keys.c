/* keys.c - making, hashing and naming client keys. */
#include "gateway/keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/mem.h"

int gw_key_generate(char out[GW_KEY_LEN + 1])
{
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -1;
    memcpy(out, "sk-", 3);
    for (int i = 0; i < 16; i++)
        snprintf(out + 3 + 2 * i, 3, "%02x", r[i]);
    return 0;
}

bool gw_key_well_formed(const char *key, size_t len)
{
    if (len != GW_KEY_LEN || memcmp(key, "sk-", 3) != 0)
        return false;
    for (size_t i = 3; i < len; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return false;
    return true;
}

void gw_key_hmac(const gw_secret_t *secret, const char *key, size_t len,
                 uint8_t out[STORE_HMAC_LEN])
{
    unsigned int n = STORE_HMAC_LEN;
    if (!HMAC(EVP_sha256(), secret->bytes, (int)secret->len, (const unsigned char *)key, len, out,
              &n))
        memset(out, 0, STORE_HMAC_LEN); /* cannot match a stored key: never all zero by chance */
}

struct gw_hmac {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx; /* NULL when OpenSSL would not set it up: gw_key_hmac then */
    gw_secret_t secret;
};

gw_hmac_t *gw_hmac_new(const gw_secret_t *secret)
{
    gw_hmac_t *h = xcalloc(1, sizeof *h);
    h->secret = *secret;
    h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    h->ctx = h->mac ? EVP_MAC_CTX_new(h->mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    if (h->ctx && !EVP_MAC_init(h->ctx, secret->bytes, secret->len, params)) {
        EVP_MAC_CTX_free(h->ctx);
        h->ctx = NULL;
    }
    return h;
}

void gw_hmac_run(gw_hmac_t *h, const char *key, size_t len, uint8_t out[STORE_HMAC_LEN])
{
    size_t n = 0;
    if (!h->ctx || !EVP_MAC_init(h->ctx, NULL, 0, NULL) || /* the same key again */
        !EVP_MAC_update(h->ctx, (const unsigned char *)key, len) ||
        !EVP_MAC_final(h->ctx, out, &n, STORE_HMAC_LEN) || n != STORE_HMAC_LEN)
        gw_key_hmac(&h->secret, key, len, out);
}

void gw_hmac_free(gw_hmac_t *h)
{
    if (!h)
        return;
    EVP_MAC_CTX_free(h->ctx);
    EVP_MAC_free(h->mac);
    OPENSSL_cleanse(&h->secret, sizeof h->secret);
    free(h);
}

void gw_key_id(const uint8_t hmac[STORE_HMAC_LEN], char out[STORE_KEY_ID_LEN + 1])
{
    for (int i = 0; i < STORE_KEY_ID_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", hmac[i]);
}

bool gw_hmac_equal(const uint8_t a[STORE_HMAC_LEN], const uint8_t b[STORE_HMAC_LEN])
{
    return CRYPTO_memcmp(a, b, STORE_HMAC_LEN) == 0;
}

int gw_secret_load(store_t *s, gw_secret_t *out, char *err, size_t errlen)
{
    const char *env = getenv("SEEKD_KEY_SECRET");
    if (env && *env) {
        size_t n = strlen(env);
        if (n < 16 || n > GW_SECRET_MAX) {
            snprintf(err, errlen, "SEEKD_KEY_SECRET must be 16 to %d bytes long", GW_SECRET_MAX);
            return -1;
        }
        memcpy(out->bytes, env, n);
        out->len = n;
        return 0;
    }
    if (store_secret(s, out->bytes, err, errlen) != STORE_OK)
        return -1;
    out->len = 32;
    return 0;
}

store_rc_t gw_key_resolve(store_t *s, const char *arg, store_key_t *out, char *err, size_t errlen)
{
    size_t n = strlen(arg);
    if (!gw_key_well_formed(arg, n))
        return store_key_find(s, arg, out, err, errlen);
    gw_secret_t secret;
    if (gw_secret_load(s, &secret, err, errlen))
        return STORE_ERR;
    uint8_t hmac[STORE_HMAC_LEN];
    gw_key_hmac(&secret, arg, n, hmac);
    return store_key_by_hmac(s, hmac, out, err, errlen);
}
