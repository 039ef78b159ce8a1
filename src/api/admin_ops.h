/* admin_ops.h - the operations of `seekd keys` as an HTTP API under /admin/ (docs/accounts.md):
 * one request in, one status and JSON body out, against a store. Synchronous: the server runs
 * it on its database thread. */
#ifndef SEEKD_API_ADMIN_OPS_H
#define SEEKD_API_ADMIN_OPS_H

#include <jansson.h>
#include <stddef.h>

#include "gateway/keys.h"
#include "store/store.h"

/** A key as the CLI's --json and the admin API show it (amounts as 9-decimal strings). */
json_t *admin_key_json(const store_key_t *k);

/** Runs one admin request: `method` GET, POST or DELETE, `path` what follows "/admin/"
 * ("keys", "keys/ID_OR_NAME", "keys/ID_OR_NAME/topup|grant|disable|enable"), body the
 * request's JSON (may be empty). Returns the HTTP status and sets *out to a malloc'd JSON
 * body: the result, or DeepSeek's error envelope. `now` is the time of creation/credits. */
int admin_run(store_t *s, const gw_secret_t *secret, const char *method, const char *path,
              const char *body, size_t len, int64_t now, char **out);

#endif
