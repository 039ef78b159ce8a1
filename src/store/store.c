/* store.c - the store's front: picks the implementation by URL, checks arguments, and writes
 * the messages both implementations share, so SQLite and PostgreSQL answer alike. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

static bool is_pg_url(const char *url)
{
    return !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13);
}

store_t *store_open(const char *url, char *err, size_t errlen)
{
    if (is_pg_url(url))
        return store_pg_open(url, err, errlen);
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    if (!*path) {
        snprintf(err, errlen, "the database URL names no file");
        return NULL;
    }
    return store_sqlite_open(path, err, errlen);
}

void store_close(store_t *s)
{
    if (s)
        s->ops->close(s);
}

int store_schema_version(store_t *s)
{
    return s->ops->schema_version(s);
}

store_rc_t store_secret(store_t *s, uint8_t out[32], char *err, size_t errlen)
{
    return s->ops->secret(s, out, err, errlen);
}

/* ---- shared by the implementations ---- */

int store_random_secret(uint8_t out[32], char *err, size_t errlen)
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(out, 1, 32, f) : 0;
    if (f)
        fclose(f);
    if (got != 32) {
        snprintf(err, errlen, "cannot read 32 random bytes from /dev/urandom");
        return -1;
    }
    return 0;
}

void store_newer_schema(int version, char *err, size_t errlen)
{
    snprintf(err, errlen, "the database has schema version %d; this seekd knows up to %d", version,
             STORE_SCHEMA_VERSION);
}

void store_split_cost(gw_nano_t granted, gw_nano_t cost, gw_nano_t *from_granted,
                      gw_nano_t *from_topped_up)
{
    /* the granted part is spent first (DeepSeek's rule), then the topped-up part */
    *from_granted = granted <= 0 ? 0 : cost < granted ? cost : granted;
    *from_topped_up = cost - *from_granted;
}

/* ---- keys ---- */

static store_rc_t no_such_key(store_rc_t rc, char *err, size_t errlen)
{
    if (rc == STORE_NOT_FOUND)
        snprintf(err, errlen, "no such key");
    return rc;
}

store_rc_t store_key_create(store_t *s, const store_key_t *k, const uint8_t hmac[STORE_HMAC_LEN],
                            int64_t now, char *err, size_t errlen)
{
    if (k->granted < 0 || k->topped_up < 0 || k->granted > GW_AMOUNT_MAX ||
        k->topped_up > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "an opening balance must be between 0 and %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    store_rc_t rc = s->ops->key_create(s, k, hmac, now, err, errlen);
    if (rc == STORE_EXISTS)
        snprintf(err, errlen, "a key named '%s' (or with that id) exists", k->name);
    return rc;
}

store_rc_t store_key_by_hmac(store_t *s, const uint8_t hmac[STORE_HMAC_LEN], store_key_t *out,
                             char *err, size_t errlen)
{
    return no_such_key(s->ops->key_by_hmac(s, hmac, out, err, errlen), err, errlen);
}

store_rc_t store_key_find(store_t *s, const char *id_or_name, store_key_t *out, char *err,
                          size_t errlen)
{
    return no_such_key(s->ops->key_find(s, id_or_name, out, err, errlen), err, errlen);
}

store_rc_t store_key_list(store_t *s, int (*fn)(void *ud, const store_key_t *k), void *ud,
                          char *err, size_t errlen)
{
    return s->ops->key_list(s, fn, ud, err, errlen);
}

store_rc_t store_key_credit(store_t *s, const char *key_id, bool granted, gw_nano_t amount,
                            int64_t now, char *err, size_t errlen)
{
    if (amount <= 0 || amount > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "an amount must be above 0 and at most %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    store_rc_t rc = s->ops->key_credit(s, key_id, granted, amount, now, err, errlen);
    if (rc == STORE_TOO_LARGE) {
        snprintf(err, errlen, "the balance would exceed %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    return no_such_key(rc, err, errlen);
}

store_rc_t store_key_set_enabled(store_t *s, const char *key_id, bool enabled, char *err,
                                 size_t errlen)
{
    return no_such_key(s->ops->key_set_enabled(s, key_id, enabled, err, errlen), err, errlen);
}

store_rc_t store_key_delete(store_t *s, const char *key_id, char *err, size_t errlen)
{
    store_rc_t rc = s->ops->key_delete(s, key_id, err, errlen);
    if (rc == STORE_HOLDS_OPEN) {
        snprintf(err, errlen, "key %s has requests in flight; disable it first", key_id);
        return STORE_EXISTS;
    }
    return no_such_key(rc, err, errlen);
}

/* ---- holds and settles ---- */

store_rc_t store_hold(store_t *s, const char *key_id, gw_nano_t amount,
                      const store_hold_info_t *info, int64_t *hold_id, char *err, size_t errlen)
{
    if (amount < 0 || amount > GW_AMOUNT_MAX) {
        snprintf(err, errlen, "a hold must be between 0 and %lld units",
                 GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
        return STORE_ERR;
    }
    store_rc_t rc = s->ops->hold(s, key_id, amount, info, hold_id, err, errlen);
    if (rc == STORE_NO_BALANCE)
        snprintf(err, errlen, "Insufficient Balance");
    return no_such_key(rc, err, errlen);
}

/* Amounts and costs in range; else err set. */
static bool batch_in_range(const store_hold_item_t *h, size_t nh, const store_settle_item_t *t,
                           size_t ns, char *err, size_t errlen)
{
    for (size_t i = 0; i < nh; i++)
        if (h[i].amount < 0 || h[i].amount > GW_AMOUNT_MAX) {
            snprintf(err, errlen, "a hold must be between 0 and %lld units",
                     GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
            return false;
        }
    for (size_t i = 0; i < ns; i++)
        if (!t[i].release && (t[i].row.cost < 0 || t[i].row.cost > GW_AMOUNT_MAX)) {
            snprintf(err, errlen, "a cost must be between 0 and %lld units",
                     GW_AMOUNT_MAX / GW_NANO_PER_UNIT);
            return false;
        }
    return true;
}

store_rc_t store_hold_many(store_t *s, store_hold_item_t *items, size_t n, char *err, size_t errlen)
{
    store_rc_t rc = batch_in_range(items, n, NULL, 0, err, errlen) ? STORE_OK : STORE_ERR;
    if (rc == STORE_OK && n > 0)
        rc = s->ops->hold_many(s, items, n, err, errlen);
    if (rc != STORE_OK) {
        rc = STORE_ERR;
        for (size_t i = 0; i < n; i++)
            items[i].rc = STORE_ERR;
    }
    return rc;
}

store_rc_t store_settle_many(store_t *s, store_settle_item_t *items, size_t n, char *err,
                             size_t errlen)
{
    store_rc_t rc = batch_in_range(NULL, 0, items, n, err, errlen) ? STORE_OK : STORE_ERR;
    if (rc == STORE_OK && n > 0)
        rc = s->ops->settle_many(s, items, n, err, errlen);
    if (rc != STORE_OK) {
        rc = STORE_ERR;
        for (size_t i = 0; i < n; i++)
            items[i].rc = STORE_ERR;
    }
    return rc;
}

store_rc_t store_apply(store_t *s, store_hold_item_t *holds, size_t nh,
                       store_settle_item_t *settles, size_t ns, char *err, size_t errlen)
{
    if (!s->ops->apply || !nh || !ns) {
        store_rc_t a = nh ? store_hold_many(s, holds, nh, err, errlen) : STORE_OK;
        char err2[256] = "";
        store_rc_t b = ns ? store_settle_many(s, settles, ns, err2, sizeof err2) : STORE_OK;
        if (b != STORE_OK && a == STORE_OK)
            snprintf(err, errlen, "%s", err2);
        return a != STORE_OK ? a : b;
    }
    store_rc_t rc = batch_in_range(holds, nh, settles, ns, err, errlen)
                        ? s->ops->apply(s, holds, nh, settles, ns, err, errlen)
                        : STORE_ERR;
    if (rc != STORE_OK) {
        rc = STORE_ERR;
        for (size_t i = 0; i < nh; i++)
            holds[i].rc = STORE_ERR;
        for (size_t i = 0; i < ns; i++)
            settles[i].rc = STORE_ERR;
    }
    return rc;
}

static store_rc_t settle_one(store_t *s, int64_t hold_id, const store_row_t *row, char *err,
                             size_t errlen)
{
    store_settle_item_t it = {.hold_id = hold_id, .release = row == NULL};
    if (row)
        it.row = *row;
    if (store_settle_many(s, &it, 1, err, errlen) != STORE_OK)
        return STORE_ERR;
    if (it.rc == STORE_NOT_FOUND)
        snprintf(err, errlen, "hold %lld is not open", (long long)hold_id);
    return it.rc;
}

store_rc_t store_settle(store_t *s, int64_t hold_id, const store_row_t *row, char *err,
                        size_t errlen)
{
    return settle_one(s, hold_id, row, err, errlen);
}

store_rc_t store_release(store_t *s, int64_t hold_id, char *err, size_t errlen)
{
    return settle_one(s, hold_id, NULL, err, errlen);
}

store_rc_t store_open_holds(store_t *s, int (*fn)(void *ud, const store_open_hold_t *h), void *ud,
                            char *err, size_t errlen)
{
    return s->ops->open_holds(s, fn, ud, err, errlen);
}

store_rc_t store_ledger_each(store_t *s, const char *key_id, int64_t since,
                             int (*fn)(void *ud, const store_ledger_row_t *r), void *ud, char *err,
                             size_t errlen)
{
    return s->ops->ledger_each(s, key_id, since, fn, ud, err, errlen);
}

store_rc_t store_data_version(store_t *s, int64_t *out, char *err, size_t errlen)
{
    return s->ops->data_version(s, out, err, errlen);
}

/* ---- verify ---- */

typedef struct {
    FILE *report;
    int bad;
} verify_t;

static int verify_key(void *ud, const char *key_id, const int64_t have[3], const int64_t want[3])
{
    verify_t *v = ud;
    static const char *const what[] = {"granted", "topped_up", "held"};
    for (int i = 0; i < 3; i++) {
        if (have[i] == want[i])
            continue;
        v->bad++;
        if (v->report) {
            char a[GW_AMOUNT_TEXT], b[GW_AMOUNT_TEXT];
            fprintf(v->report, "key %s: %s is %s, its history says %s\n", key_id, what[i],
                    gw_amount_format(have[i], a), gw_amount_format(want[i], b));
        }
    }
    return 0;
}

int store_verify(store_t *s, FILE *report, char *err, size_t errlen)
{
    verify_t v = {.report = report};
    if (s->ops->verify_each(s, verify_key, &v, err, errlen) != STORE_OK)
        return -1;
    return v.bad;
}

/* ---- URLs in messages ---- */

void store_url_redact(const char *url, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = '\0';
    if (!is_pg_url(url)) {
        snprintf(out, cap, "%s", url);
        return;
    }
    size_t o = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < cap)                                                                           \
            out[o++] = (c);                                                                        \
    } while (0)
#define PUTS(str)                                                                                  \
    do {                                                                                           \
        for (const char *q_ = (str); *q_; q_++)                                                    \
            PUT(*q_);                                                                              \
    } while (0)
    const char *p = strstr(url, "://") + 3;
    for (const char *q = url; q < p; q++)
        PUT(*q);
    /* userinfo: up to the last '@' before the path or the query; its password after the ':' */
    size_t auth_len = strcspn(p, "/?");
    const char *at = NULL;
    for (const char *q = p; q < p + auth_len; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        for (const char *q = p; q < (colon ? colon : at); q++)
            PUT(*q);
        if (colon)
            PUTS(":***");
        p = at;
    }
    /* the rest; a password= parameter's value masked */
    bool in_query = false;
    while (*p) {
        if (*p == '?')
            in_query = true;
        if (in_query && (*p == '?' || *p == '&') && !strncmp(p + 1, "password=", 9)) {
            PUT(*p);
            PUTS("password=***");
            p += 10;
            while (*p && *p != '&')
                p++;
            continue;
        }
        PUT(*p);
        p++;
    }
    out[o] = '\0';
#undef PUT
#undef PUTS
}

store_rc_t store_instance_beat(store_t *s, const char *id, int64_t now_ms, char *err, size_t errlen)
{
    return s->ops->instance_beat(s, id, now_ms, err, errlen);
}

store_rc_t store_instance_end(store_t *s, const char *id, char *err, size_t errlen)
{
    return s->ops->instance_end(s, id, err, errlen);
}

store_rc_t store_instance_each(store_t *s, int (*fn)(void *ud, const char *id, int64_t seen_ms),
                               void *ud, char *err, size_t errlen)
{
    return s->ops->instance_each(s, fn, ud, err, errlen);
}
