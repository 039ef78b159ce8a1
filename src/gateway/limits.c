/* limits.c - GCRA per key: each limit keeps a theoretical arrival time (TAT); a request is
 * let through when the TAT it would push stays within one minute of now. */
#include "gateway/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define MINUTE_NS 60000000000LL

typedef struct {
    char key_id[16];          /* empty: a free slot */
    int64_t rpm_tat, tpm_tat; /* ns */
    int64_t inflight;
} slot_t;

struct gw_limits {
    slot_t *slots;
    size_t cap, used; /* cap a power of two */
};

gw_limits_t *gw_limits_new(void)
{
    gw_limits_t *l = xcalloc(1, sizeof *l);
    l->cap = 64;
    l->slots = xcalloc(l->cap, sizeof *l->slots);
    return l;
}

void gw_limits_free(gw_limits_t *l)
{
    if (!l)
        return;
    free(l->slots);
    free(l);
}

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static slot_t *find(gw_limits_t *l, const char *key_id, bool add)
{
    size_t mask = l->cap - 1;
    for (size_t i = hash(key_id) & mask;; i = (i + 1) & mask) {
        slot_t *s = &l->slots[i];
        if (!strcmp(s->key_id, key_id))
            return s;
        if (s->key_id[0])
            continue;
        if (!add)
            return NULL;
        if ((l->used + 1) * 2 > l->cap) { /* grow, then look again */
            slot_t *old = l->slots;
            size_t oldcap = l->cap;
            l->cap *= 2;
            l->slots = xcalloc(l->cap, sizeof *l->slots);
            l->used = 0;
            for (size_t k = 0; k < oldcap; k++)
                if (old[k].key_id[0])
                    *find(l, old[k].key_id, true) = old[k];
            free(old);
            return find(l, key_id, true);
        }
        memset(s, 0, sizeof *s);
        snprintf(s->key_id, sizeof s->key_id, "%s", key_id);
        l->used++;
        return s;
    }
}

/* The TAT increment of `units` under a limit of `per_min` a minute, in ns. */
static int64_t step(int64_t units, int64_t per_min)
{
    __int128 v = (__int128)units * MINUTE_NS / per_min;
    return v > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)v;
}

gw_limit_rc_t gw_limits_admit(gw_limits_t *l, const char *key_id, const gw_limit_cfg_t *cfg,
                              int64_t tokens, int64_t now_ms, int64_t *retry_ms)
{
    *retry_ms = 0;
    if (!cfg->rpm && !cfg->tpm && !cfg->concurrency)
        return GW_LIMIT_OK;
    slot_t *s = find(l, key_id, true);
    int64_t now = now_ms * 1000000;
    if (cfg->concurrency && s->inflight >= cfg->concurrency) {
        *retry_ms = 1000;
        return GW_LIMIT_CONCURRENCY;
    }
    int64_t rpm_tat = s->rpm_tat > now ? s->rpm_tat : now;
    if (cfg->rpm) {
        int64_t t = step(1, cfg->rpm);
        /* a minute's worth may come at once: the TAT may run at most a minute ahead */
        if (rpm_tat + t - now > MINUTE_NS) {
            *retry_ms = (rpm_tat + t - now - MINUTE_NS + 999999) / 1000000;
            return GW_LIMIT_RPM;
        }
        rpm_tat += t;
    }
    int64_t tpm_tat = s->tpm_tat > now ? s->tpm_tat : now;
    if (cfg->tpm) {
        int64_t t = step(tokens > 0 ? tokens : 0, cfg->tpm);
        /* a request bigger than a minute's tokens passes when the bucket is full */
        if (tpm_tat > now && tpm_tat + t - now > MINUTE_NS) {
            int64_t wait = t >= MINUTE_NS ? tpm_tat - now : tpm_tat + t - now - MINUTE_NS;
            *retry_ms = (wait + 999999) / 1000000;
            return GW_LIMIT_TPM;
        }
        tpm_tat += t;
    }
    if (cfg->rpm)
        s->rpm_tat = rpm_tat;
    if (cfg->tpm)
        s->tpm_tat = tpm_tat;
    s->inflight++;
    return GW_LIMIT_OK;
}

void gw_limits_end(gw_limits_t *l, const char *key_id, const gw_limit_cfg_t *cfg, int64_t estimated,
                   int64_t actual)
{
    if (!cfg->rpm && !cfg->tpm && !cfg->concurrency)
        return;
    slot_t *s = find(l, key_id, false);
    if (!s)
        return;
    if (s->inflight > 0)
        s->inflight--;
    if (cfg->tpm && estimated != actual) {
        int64_t d = estimated > actual ? -step(estimated - actual, cfg->tpm)
                                       : step(actual - estimated, cfg->tpm);
        s->tpm_tat += d; /* below now it just means a full bucket */
    }
}

void gw_limits_track(gw_limits_t *l, const char *key_id, int delta)
{
    slot_t *s = find(l, key_id, delta > 0);
    if (!s)
        return;
    s->inflight += delta;
    if (s->inflight < 0)
        s->inflight = 0;
}

static int64_t share(int64_t v, int n)
{
    if (v <= 0)
        return 0;
    return v / n > 0 ? v / n : 1;
}

gw_limit_cfg_t gw_limit_cfg_share(const gw_limit_cfg_t *cfg, int n)
{
    if (n < 1)
        n = 1;
    return (gw_limit_cfg_t){share(cfg->rpm, n), share(cfg->tpm, n), share(cfg->concurrency, n)};
}
