/* admin_ops.c - /admin/keys...: create, list, show, top up, grant, disable, enable, delete. */
#include "api/admin_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/price.h"

static void fmt_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *admin_key_json(const store_key_t *k)
{
    char a[GW_AMOUNT_TEXT], g[GW_AMOUNT_TEXT], t[GW_AMOUNT_TEXT], h[GW_AMOUNT_TEXT], c[32], e[32];
    fmt_time(k->created, c);
    json_t *models = json_array();
    for (const char *p = k->models; *p;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(models, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
#define LIMIT(v) ((v) ? json_integer((json_int_t)(v)) : json_null())
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:o,s:o,s:o,s:o,s:o}", "name", k->name, "key_id",
        k->key_id, "currency", gw_currency_name(k->currency), "balance",
        gw_amount_format(k->granted + k->topped_up, a), "granted", gw_amount_format(k->granted, g),
        "topped_up", gw_amount_format(k->topped_up, t), "held", gw_amount_format(k->held, h),
        "enabled", k->enabled, "created", c, "expires",
        k->expires ? (fmt_time(k->expires, e), json_string(e)) : json_null(), "rpm", LIMIT(k->rpm),
        "tpm", LIMIT(k->tpm), "concurrency", LIMIT(k->concurrency), "models", models);
#undef LIMIT
    return o;
}

/* DeepSeek's envelope, as the rest of the API answers errors. */
static int fail(char **out, int status, const char *type, const char *param, const char *msg)
{
    json_t *e =
        json_pack("{s:{s:s,s:s,s:o,s:s}}", "error", "message", msg, "type", type, "param",
                  param ? json_string(param) : json_null(), "code", "invalid_request_error");
    *out = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return status;
}

static int ok(char **out, int status, json_t *v)
{
    *out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    return status;
}

/* An amount: a decimal string (exact), or a JSON integer of whole units. */
static int amount_of(json_t *v, gw_nano_t *out, const char **why)
{
    if (json_is_string(v))
        return gw_amount_parse(json_string_value(v), json_string_length(v), out, why);
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= GW_AMOUNT_MAX / GW_NANO_PER_UNIT) {
        *out = (gw_nano_t)json_integer_value(v) * GW_NANO_PER_UNIT;
        return 0;
    }
    *why = "must be a decimal string such as \"1.25\" (a JSON fraction would not be exact)";
    return -1;
}

static int limit_of(json_t *body, const char *key, int64_t *out, char **err, int *status)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 1000000000000LL) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a whole number from 0 to 10^12", key);
        *status = fail(err, 400, "invalid_request_error", key, msg);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int create(store_t *s, const gw_secret_t *secret, json_t *body, int64_t now, char **out)
{
    store_key_t k;
    memset(&k, 0, sizeof k);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!name || !*name || strlen(name) > STORE_NAME_MAX || gw_key_well_formed(name, strlen(name)))
        return fail(out, 400, "invalid_request_error", "name",
                    "name is required: 1 to 64 bytes, not in the form of a key");
    snprintf(k.name, sizeof k.name, "%s", name);
    json_t *cur = json_object_get(body, "currency");
    int c = cur ? gw_currency_parse(json_string_value(cur)) : GW_CUR_USD;
    if (c < 0)
        return fail(out, 400, "invalid_request_error", "currency", "currency must be USD or CNY");
    k.currency = (gw_currency_t)c;
    const char *fields[] = {"balance", "granted"};
    gw_nano_t *dst[] = {&k.topped_up, &k.granted};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, fields[i]);
        const char *why = NULL;
        if (v && (amount_of(v, dst[i], &why) || *dst[i] < 0)) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s: %s", fields[i], why ? why : "must not be negative");
            return fail(out, 400, "invalid_request_error", fields[i], msg);
        }
    }
    int status = 0;
    if (limit_of(body, "rpm", &k.rpm, out, &status) ||
        limit_of(body, "tpm", &k.tpm, out, &status) ||
        limit_of(body, "concurrency", &k.concurrency, out, &status))
        return status;
    json_t *models = json_object_get(body, "models");
    size_t i;
    json_t *m;
    if (models && !json_is_array(models))
        return fail(out, 400, "invalid_request_error", "models",
                    "models must be an array of names");
    json_array_foreach(models, i, m)
    {
        size_t used = strlen(k.models);
        if (!json_is_string(m) || !json_string_length(m) || strchr(json_string_value(m), ',') ||
            used + json_string_length(m) + 1 > STORE_MODELS_MAX)
            return fail(out, 400, "invalid_request_error", "models",
                        "models must be model names (no commas), 1024 bytes in all");
        snprintf(k.models + used, sizeof k.models - used, "%s%s", used ? "," : "",
                 json_string_value(m));
    }
    const char *exp = json_string_value(json_object_get(body, "expires"));
    if (exp && gw_time_parse(exp, strlen(exp), &k.expires))
        return fail(out, 400, "invalid_request_error", "expires",
                    "expires must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    k.enabled = true;
    char key[GW_KEY_LEN + 1];
    if (gw_key_generate(key))
        return fail(out, 500, "api_error", NULL, "no randomness for a key");
    uint8_t hmac[STORE_HMAC_LEN];
    gw_key_hmac(secret, key, GW_KEY_LEN, hmac);
    gw_key_id(hmac, k.key_id);
    char err[256];
    store_rc_t rc = store_key_create(s, &k, hmac, now, err, sizeof err);
    if (rc != STORE_OK)
        return fail(out, rc == STORE_EXISTS ? 409 : 500,
                    rc == STORE_EXISTS ? "invalid_request_error" : "api_error", NULL, err);
    store_key_t made;
    if (store_key_find(s, k.key_id, &made, err, sizeof err) != STORE_OK)
        return fail(out, 500, "api_error", NULL, err);
    json_t *o = admin_key_json(&made);
    json_object_set_new(o, "key", json_string(key)); /* shown this once */
    return ok(out, 201, o);
}

static int add_key(void *ud, const store_key_t *k)
{
    json_array_append_new(ud, admin_key_json(k));
    return 0;
}

int admin_run(store_t *s, const gw_secret_t *secret, const char *method, const char *path,
              const char *body, size_t len, int64_t now, char **out)
{
    *out = NULL;
    json_t *b = NULL;
    if (len) {
        json_error_t je;
        b = json_loadb(body, len, 0, &je);
        if (!json_is_object(b)) {
            json_decref(b);
            return fail(out, 400, "invalid_request_error", NULL, "the body must be a JSON object");
        }
    } else {
        b = json_object();
    }
    int status;
    char err[256];
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST"),
         del = !strcmp(method, "DELETE");
    if (!strcmp(path, "keys")) {
        if (get) {
            json_t *arr = json_array();
            status = store_key_list(s, add_key, arr, err, sizeof err) == STORE_OK
                         ? ok(out, 200, arr)
                         : (json_decref(arr), fail(out, 500, "api_error", NULL, err));
        } else if (post) {
            status = create(s, secret, b, now, out);
        } else {
            status = fail(out, 405, "invalid_request_error", NULL, "Method Not Allowed");
        }
        json_decref(b);
        return status;
    }
    if (strncmp(path, "keys/", 5) != 0 || !path[5]) {
        json_decref(b);
        return fail(out, 404, "invalid_request_error", NULL, "no such admin route");
    }
    char who[STORE_NAME_MAX + 1];
    const char *slash = strchr(path + 5, '/');
    size_t wl = slash ? (size_t)(slash - path - 5) : strlen(path + 5);
    const char *verb = slash ? slash + 1 : "";
    if (wl == 0 || wl > STORE_NAME_MAX) {
        json_decref(b);
        return fail(out, 404, "invalid_request_error", NULL, "no such key");
    }
    memcpy(who, path + 5, wl);
    who[wl] = 0;
    store_key_t k;
    store_rc_t rc = store_key_find(s, who, &k, err, sizeof err);
    if (rc != STORE_OK) {
        json_decref(b);
        return fail(out, rc == STORE_NOT_FOUND ? 404 : 500,
                    rc == STORE_NOT_FOUND ? "invalid_request_error" : "api_error", NULL, err);
    }
    if (!*verb && get) {
        status = ok(out, 200, admin_key_json(&k));
    } else if (!*verb && del) {
        rc = store_key_delete(s, k.key_id, err, sizeof err);
        status = rc == STORE_OK
                     ? ok(out, 200, json_pack("{s:s,s:b}", "key_id", k.key_id, "deleted", 1))
                     : fail(out, rc == STORE_EXISTS ? 409 : 500,
                            rc == STORE_EXISTS ? "invalid_request_error" : "api_error", NULL, err);
    } else if (post && (!strcmp(verb, "topup") || !strcmp(verb, "grant"))) {
        gw_nano_t amount = 0;
        const char *why = NULL;
        json_t *v = json_object_get(b, "amount");
        if (!v || amount_of(v, &amount, &why) || amount <= 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "amount: %s", why ? why : "must be above 0");
            status = fail(out, 400, "invalid_request_error", "amount", msg);
        } else {
            rc = store_key_credit(s, k.key_id, verb[0] == 'g', amount, now, err, sizeof err);
            if (rc == STORE_OK && store_key_find(s, k.key_id, &k, err, sizeof err) == STORE_OK)
                status = ok(out, 200, admin_key_json(&k));
            else
                status =
                    fail(out, rc == STORE_ERR ? 400 : 500, "invalid_request_error", "amount", err);
        }
    } else if (post && (!strcmp(verb, "disable") || !strcmp(verb, "enable"))) {
        rc = store_key_set_enabled(s, k.key_id, verb[0] == 'e', err, sizeof err);
        if (rc == STORE_OK && store_key_find(s, k.key_id, &k, err, sizeof err) == STORE_OK)
            status = ok(out, 200, admin_key_json(&k));
        else
            status = fail(out, 500, "api_error", NULL, err);
    } else {
        status = fail(out, 404, "invalid_request_error", NULL, "no such admin route");
    }
    json_decref(b);
    return status;
}
