/* auth.c - client authentication. Three modes: client keys configured (must match one);
 * server keys but no client keys (any bearer; only safe on loopback, see main); no server keys
 * (the client's bearer, possibly "k1,k2,k3", is used upstream). */
#include "gateway/auth.h"

#include <string.h>
#include <strings.h>
#include <time.h>

/* Constant-time comparison so key checks leak no timing. */
static bool key_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int gw_authorize(const gw_auth_cfg_t *cfg, const char *authorization, gw_auth_t *out)
{
    out->nbyot = 0;
    out->message = NULL;
    if (!authorization || !*authorization) {
        out->message = "Authentication Fails (no Authorization header; send \"Authorization: "
                       "Bearer <key>\")";
        return -1;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        out->message = "Authentication Fails (Authorization header must be \"Bearer <key>\")";
        return -1;
    }
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len && tok[len - 1] == ' ')
        len--;
    if (len == 0 || len >= sizeof out->storage) {
        out->message = "Authentication Fails (empty or oversized bearer token)";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c <= 0x20 || c >= 0x7f) {
            out->message = "Authentication Fails (bearer token has invalid characters)";
            return -1;
        }
    }
    memcpy(out->storage, tok, len);
    out->storage[len] = '\0';

    out->metered = false;
    bool metered = accounts_active(cfg->accounts);
    if (cfg->nclient_keys > 0 || metered) {
        bool ok = false;
        for (int i = 0; i < cfg->nclient_keys; i++)
            ok |= key_equal(out->storage, cfg->client_keys[i]);
        if (ok) /* a configured client_key: unmetered */
            return 0;
        const acct_key_t *k = NULL;
        const char *msg = "Authentication Fails, your api key is invalid";
        if (metered && accounts_authorize(cfg->accounts, out->storage, len, NULL,
                                          (int64_t)time(NULL), &k, &msg) == 0) {
            out->metered = true;
            out->acct = *k;
            return 0;
        }
        out->message = msg;
        return -1;
    }
    if (cfg->server_keys)
        return 0;
    char *save = NULL;
    for (char *k = strtok_r(out->storage, ",", &save); k && out->nbyot < GW_MAX_CLIENT_KEYS;
         k = strtok_r(NULL, ",", &save))
        out->byot[out->nbyot++] = k;
    if (out->nbyot == 0) {
        out->message = "Authentication Fails (no key in the bearer token)";
        return -1;
    }
    return 0;
}

bool gw_admin_ok(const char *admin_token, const char *authorization)
{
    if (!admin_token || !*admin_token || !authorization ||
        strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    return key_equal(tok, admin_token);
}
