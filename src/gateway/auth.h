/* auth.h - who may use this server, and with which upstream key. */
#ifndef SEEKD_GATEWAY_AUTH_H
#define SEEKD_GATEWAY_AUTH_H

#include <stdbool.h>

#include "gateway/accounts.h"

#define GW_MAX_CLIENT_KEYS 16

typedef struct {
    const char *const *client_keys; /* keys clients must present; none: no client auth */
    int nclient_keys;
    bool server_keys;     /* the server holds upstream keys of its own */
    accounts_t *accounts; /* metered keys (NULL: none); once it holds a key, one is required */
} gw_auth_cfg_t;

/** Outcome of checking one request's Authorization header. `byot` points into `storage`: never
 * copy a gw_auth_t by value while its keys are in use. */
typedef struct {
    /* Keys to use upstream when the client brought its own (no server keys): the bearer
     * token split on commas, pointing into `storage`. */
    const char *byot[GW_MAX_CLIENT_KEYS];
    int nbyot;
    char storage[2048];
    const char *message; /* why it was refused */
    /* a metered key of the accounts: a copy, valid as long as this result */
    bool metered;
    acct_key_t acct;
} gw_auth_t;

/** Checks an Authorization header value (may be NULL). Returns 0 when the request may go on
 * (out->byot filled in bring-your-own-token mode), or -1 with out->message set: the caller
 * answers 401 authentication_error. */
int gw_authorize(const gw_auth_cfg_t *cfg, const char *authorization, gw_auth_t *out);

/** Whether an Authorization header value is "Bearer <admin_token>" (compared in constant time).
 * False when no admin token is configured (NULL or empty). */
bool gw_admin_ok(const char *admin_token, const char *authorization);

#endif
