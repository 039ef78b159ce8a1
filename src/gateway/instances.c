/* instances.c - servers sharing one accounts database: each one's id, and the release of the
 * holds of servers that died. */
#include "gateway/instances.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "gateway/money.h"

typedef struct {
    store_open_hold_t *h;
    size_t n, cap;
} open_holds_t;

static int take_open_hold(void *ud, const store_open_hold_t *h)
{
    open_holds_t *v = ud;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->h = xrealloc(v->h, v->cap * sizeof *v->h);
    }
    v->h[v->n++] = *h;
    return 0;
}

typedef struct {
    char (*ids)[STORE_INSTANCE_LEN + 1];
    size_t n, cap;
    int64_t alive_since;
} alive_t;

static int take_alive(void *ud, const char *id, int64_t seen_ms)
{
    alive_t *v = ud;
    if (seen_ms < v->alive_since)
        return 0;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->ids = xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
    snprintf(v->ids[v->n++], sizeof v->ids[0], "%s", id);
    return 0;
}

/* Releases, in one transaction, every hold whose instance is gone: one that has not beaten
 * within the lease (it was killed, or lost its database), or none recorded (an older seekd
 * made it). This instance's own holds and those of live instances are never touched. Each
 * release is logged. The holds are listed whole first: the release must not run inside the
 * listing's query. */
int gw_release_orphans(store_t *s, const char *self, int64_t lease_ms, int64_t now_ms, char *err,
                       size_t errlen)
{
    alive_t alive = {.alive_since = now_ms - lease_ms};
    open_holds_t v = {0};
    if (store_instance_each(s, take_alive, &alive, err, errlen) != STORE_OK ||
        store_open_holds(s, take_open_hold, &v, err, errlen) != STORE_OK) {
        free(alive.ids);
        free(v.h);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        bool live = !strcmp(v.h[i].owner, self);
        for (size_t k = 0; !live && v.h[i].owner[0] && k < alive.n; k++)
            live = !strcmp(v.h[i].owner, alive.ids[k]);
        if (!live)
            v.h[n++] = v.h[i];
    }
    store_settle_item_t *items = n ? xcalloc(n, sizeof *items) : NULL;
    for (size_t i = 0; i < n; i++)
        items[i] = (store_settle_item_t){.hold_id = v.h[i].id, .release = true};
    int rc = n && store_settle_many(s, items, n, err, errlen) != STORE_OK ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const store_open_hold_t *h = &v.h[i];
        char amt[GW_AMOUNT_TEXT];
        if (items[i].rc == STORE_OK)
            log_warn("accounts: released hold %lld of key %s (request %s, %s %s): its server "
                     "(%s) stopped before it settled, and what it delivered is not known",
                     (long long)h->id, h->key_id, h->request_id, h->model,
                     gw_amount_format(h->amount, amt), h->owner[0] ? h->owner : "unrecorded");
    }
    free(items);
    free(v.h);
    free(alive.ids);
    return rc;
}

/* This server's id: its host name (for people reading the table) and 64 random bits. */
void gw_instance_id(char out[STORE_INSTANCE_LEN + 1])
{
    char host[64] = "seekd";
    gethostname(host, sizeof host - 1);
    host[15] = '\0';
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            *p = '-';
    uint8_t r[8] = {0};
    if (RAND_bytes(r, sizeof r) != 1) { /* still unique enough for one host: time and pid */
        uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 40);
        memcpy(r, &t, sizeof r);
    }
    snprintf(out, STORE_INSTANCE_LEN + 1, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", host, r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7]);
}
