/* limiter.c - the two modes of the per-key limits and the fall-back between them: the GCRA of
 * limits.c run by Redis as Lua scripts on Redis' own clock, leases for requests in flight, and
 * this process alone with divided limits while Redis cannot answer. */
#include "gateway/limiter.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "gateway/redis.h"

enum { LS_NONE, LS_PENDING, LS_LOCAL, LS_SHARED };

/* A request in flight holds a lease in its key's sorted set, scored by when it expires: it is
 * refreshed while the request runs (every third of the TTL), so only the lease of an instance
 * that died (or lost Redis for that long) runs out, and then its slot comes back by itself. */
#define REFRESH_BATCH 64 /* leases per refresh call */
#define CONNECT_TIMEOUT_MS 1000
#define MAX_TOKENS 1000000000000LL /* an estimate beyond this counts as this */

/* ---- the scripts ----
 * Times are microseconds of Redis' clock (TIME), the one clock every instance shares; a TAT is
 * kept as a string of digits under a TTL that lets it vanish once it is in the past. The GCRA
 * is limits.c's: a minute's worth may come at once, then they are spaced; a request bigger than
 * a minute's tokens passes when the bucket is full. Admission checks the three limits before
 * it writes anything, so a refusal consumes nothing. */

enum { SCRIPT_ADMIT, SCRIPT_END, SCRIPT_REFRESH };

#define LUA_PRELUDE                                                                                \
    "if redis.replicate_commands then redis.replicate_commands() end\n"                            \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"                                      \
    "local MIN = 60000000\n"                                                                       \
    "local function step(units, per)\n"                                                            \
    "  local v = math.floor(units * MIN / per)\n"                                                  \
    "  if v > 1e15 then v = 1e15 end\n"                                                            \
    "  return v\n"                                                                                 \
    "end\n"                                                                                        \
    "local function put(key, tat)\n"                                                               \
    "  redis.call('SET', key, string.format('%.0f', tat), 'PX',\n"                                 \
    "             string.format('%.0f', math.ceil((tat - now) / 1000) + 1000))\n"                  \
    "end\n"

/* KEYS: rpm TAT, tpm TAT, leases. ARGV: rpm, tpm, concurrency, tokens, lease id, lease TTL ms.
 * Returns {0, 0}, or {1 rpm | 2 tpm | 3 concurrency, retry ms}. */
static const char lua_admit[] =
    "-- seekd: admit one request (rpm, tpm, concurrency)\n" LUA_PRELUDE
    "local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tokens, ttl = tonumber(ARGV[4]), tonumber(ARGV[6])\n"
    "if conc > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', now))\n"
    "  if redis.call('ZCARD', KEYS[3]) >= conc then return {3, 1000} end\n"
    "end\n"
    "local rtat, ttat = 0, 0\n"
    "if rpm > 0 then\n"
    "  rtat = math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now) + step(1, rpm)\n"
    "  if rtat - now > MIN then return {1, math.ceil((rtat - now - MIN) / 1000)} end\n"
    "end\n"
    "if tpm > 0 then\n"
    "  local cur = math.max(tonumber(redis.call('GET', KEYS[2])) or 0, now)\n"
    "  local s = step(math.max(tokens, 0), tpm)\n"
    "  if cur > now and cur + s - now > MIN then\n"
    "    local wait = cur + s - now - MIN\n"
    "    if s >= MIN then wait = cur - now end\n"
    "    return {2, math.ceil(wait / 1000)}\n"
    "  end\n"
    "  ttat = cur + s\n"
    "end\n"
    "if rpm > 0 then put(KEYS[1], rtat) end\n"
    "if tpm > 0 and ttat > now then put(KEYS[2], ttat) end\n"
    "if conc > 0 then\n"
    "  redis.call('ZADD', KEYS[3], string.format('%.0f', now + ttl * 1000), ARGV[5])\n"
    "  redis.call('PEXPIRE', KEYS[3], ARGV[6])\n"
    "end\n"
    "return {0, 0}\n";

/* KEYS: tpm TAT, leases. ARGV: tpm, estimated tokens, actual tokens, lease id ("": none).
 * Frees the lease and corrects the tpm TAT by what the request really used. */
static const char lua_end[] =
    "-- seekd: end one request\n" LUA_PRELUDE
    "if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end\n"
    "local tpm, est, act = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "if tpm > 0 and est ~= act then\n"
    "  local d = step(math.abs(act - est), tpm)\n"
    "  if act < est then d = -d end\n"
    "  local cur = tonumber(redis.call('GET', KEYS[1]))\n"
    "  if cur == nil and d < 0 then return 0 end\n"
    "  local tat = (cur or now) + d\n"
    "  if tat > now then put(KEYS[1], tat) else redis.call('DEL', KEYS[1]) end\n"
    "end\n"
    "return 0\n";

/* KEYS: leases sets. ARGV: lease TTL ms, then the lease in each set. Pushes each expiry one TTL
 * ahead, and puts back a lease a restarted Redis lost. */
static const char lua_refresh[] =
    "-- seekd: refresh leases of requests in flight\n" LUA_PRELUDE
    "local exp = string.format('%.0f', now + tonumber(ARGV[1]) * 1000)\n"
    "for i = 1, #KEYS do\n"
    "  redis.call('ZADD', KEYS[i], exp, ARGV[i + 1])\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[1])\n"
    "end\n"
    "return #KEYS\n";

static const char *const scripts[] = {lua_admit, lua_end, lua_refresh};

/* ---- the limiter ---- */

struct gw_limiter {
    gw_limits_t *local; /* alone: the limits; shared: the fall-back, knowing every request in
                           flight here */
    gw_redis_t *redis;  /* NULL: in this process */
    int instances;
    uint64_t degraded;
    gw_lease_t *leases;      /* held in Redis, with an id: refreshed */
    struct pending *pending; /* admissions waiting for Redis */
    struct event *refresh;
    long lease_ttl_ms;
    char instance[17]; /* lease ids are instance-seq: unique across instances */
    unsigned long long seq;
    int64_t script_error_logged_ms;
};

/* An admission waiting for Redis. Owned by the limiter: it outlives a request that leaves. */
typedef struct pending {
    gw_limiter_t *l;
    gw_lease_t *ls; /* NULL: the request left meanwhile */
    struct pending *prev, *next;
    char key_id[16];
    char id[40];
} pending_t;

static void pending_unlink(gw_limiter_t *l, pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void key_names(const char *key_id, char rpm[64], char tpm[64], char inflight[64])
{
    /* {key_id}: one hash slot for a key's three entries, should the Redis be a cluster */
    snprintf(rpm, 64, "seekd:lim:{%s}:rpm", key_id);
    snprintf(tpm, 64, "seekd:lim:{%s}:tpm", key_id);
    snprintf(inflight, 64, "seekd:lim:{%s}:inflight", key_id);
}

static void script_error(gw_limiter_t *l, const char *msg)
{
    int64_t now = mono_ms();
    if (l->script_error_logged_ms && now - l->script_error_logged_ms < 60000)
        return;
    l->script_error_logged_ms = now;
    log_error("redis %s: a limits script failed: %.200s (decided in this process instead; "
              "said at most once a minute)",
              gw_redis_where(l->redis), msg);
}

static void on_redis_state(void *ud, bool up, const char *why)
{
    gw_limiter_t *l = ud;
    if (up)
        log_info("redis %s: up; per-key limits are shared across instances",
                 gw_redis_where(l->redis));
    else
        log_warn("redis %s: down (%s); each instance enforces its per-key limits alone, divided "
                 "by redis_instances = %d, until it is back",
                 gw_redis_where(l->redis), why, l->instances);
}

/* This process decides alone: with the whole limits, or their share while Redis is away. */
static bool admit_here(gw_limiter_t *l, gw_lease_t *ls, gw_limit_rc_t *rc, int64_t *retry_ms)
{
    if (l->redis) {
        l->degraded++;
        ls->cfg = gw_limit_cfg_share(&ls->cfg, l->instances);
    }
    *rc = gw_limits_admit(l->local, ls->key_id, &ls->cfg, ls->tokens, mono_ms(), retry_ms);
    ls->state = *rc == GW_LIMIT_OK ? LS_LOCAL : LS_NONE;
    ls->id[0] = '\0';
    return true;
}

static void lease_link(gw_limiter_t *l, gw_lease_t *ls)
{
    ls->prev = NULL;
    ls->next = l->leases;
    if (l->leases)
        l->leases->prev = ls;
    l->leases = ls;
}

static void lease_unlink(gw_limiter_t *l, gw_lease_t *ls)
{
    if (ls->prev)
        ls->prev->next = ls->next;
    else if (l->leases == ls)
        l->leases = ls->next;
    if (ls->next)
        ls->next->prev = ls->prev;
    ls->prev = ls->next = NULL;
}

static void on_ended(void *ud, const gw_redis_reply_t *r)
{
    if (r->kind == GW_REDIS_ERROR)
        script_error(ud, r->msg);
}

/* Frees a lease in Redis and corrects tpm by actual - estimated. Without Redis the lease runs
 * out by its TTL and the correction is lost (the estimate stands). */
static void end_shared(gw_limiter_t *l, const char *key_id, const char *id, int64_t tpm,
                       int64_t estimated, int64_t actual)
{
    if (!id[0] && (!tpm || estimated == actual))
        return;
    char k[3][64], a[4][24];
    key_names(key_id, k[0], k[1], k[2]);
    const char *keys[2] = {k[1], k[2]};
    snprintf(a[0], sizeof a[0], "%lld", (long long)tpm);
    snprintf(a[1], sizeof a[1], "%lld", (long long)estimated);
    snprintf(a[2], sizeof a[2], "%lld", (long long)actual);
    const char *args[4] = {a[0], a[1], a[2], id};
    (void)gw_redis_eval(l->redis, SCRIPT_END, 2, keys, 4, args, on_ended, l);
}

static void on_admitted(void *ud, const gw_redis_reply_t *r)
{
    pending_t *p = ud;
    gw_limiter_t *l = p->l;
    gw_lease_t *ls = p->ls;
    pending_unlink(l, p);
    bool answered = r->kind == GW_REDIS_INTS && r->n >= 2 && r->v[0] >= 0 && r->v[0] <= 3;
    if (r->kind == GW_REDIS_ERROR)
        script_error(l, r->msg);
    if (!ls) { /* the request left: give back what Redis gave it */
        if (answered && r->v[0] == 0)
            end_shared(l, p->key_id, p->id, 0, 0, 0);
        free(p);
        return;
    }
    free(p);
    ls->pending = NULL;
    gw_limit_rc_t rc;
    int64_t retry_ms = 0;
    if (answered) {
        rc = r->v[0] == 0   ? GW_LIMIT_OK
             : r->v[0] == 1 ? GW_LIMIT_RPM
             : r->v[0] == 2 ? GW_LIMIT_TPM
                            : GW_LIMIT_CONCURRENCY;
        retry_ms = r->v[1];
        ls->state = rc == GW_LIMIT_OK ? LS_SHARED : LS_NONE;
        if (rc != GW_LIMIT_OK)
            ls->id[0] = '\0';
        if (rc == GW_LIMIT_OK && ls->cfg.concurrency) {
            gw_limits_track(l->local, ls->key_id, 1);
            lease_link(l, ls);
        }
    } else {
        /* no answer in time (the script may still have run: its lease then runs out) */
        admit_here(l, ls, &rc, &retry_ms);
    }
    ls->fn(ls->ud, rc, retry_ms);
}

bool gw_limiter_admit(gw_limiter_t *l, gw_lease_t *ls, const char *key_id,
                      const gw_limit_cfg_t *cfg, int64_t tokens, gw_admit_fn fn, void *ud,
                      gw_limit_rc_t *rc, int64_t *retry_ms)
{
    memset(ls, 0, sizeof *ls);
    snprintf(ls->key_id, sizeof ls->key_id, "%s", key_id);
    ls->cfg = *cfg;
    ls->tokens = tokens < 0 ? 0 : tokens > MAX_TOKENS ? MAX_TOKENS : tokens;
    *retry_ms = 0;
    *rc = GW_LIMIT_OK;
    if (!cfg->rpm && !cfg->tpm && !cfg->concurrency)
        return true;
    if (!l->redis || !gw_redis_up(l->redis))
        return admit_here(l, ls, rc, retry_ms);
    if (cfg->concurrency)
        snprintf(ls->id, sizeof ls->id, "%s-%llu", l->instance, ++l->seq);
    char k[3][64], a[5][24];
    key_names(ls->key_id, k[0], k[1], k[2]);
    const char *keys[3] = {k[0], k[1], k[2]};
    snprintf(a[0], sizeof a[0], "%lld", (long long)cfg->rpm);
    snprintf(a[1], sizeof a[1], "%lld", (long long)cfg->tpm);
    snprintf(a[2], sizeof a[2], "%lld", (long long)cfg->concurrency);
    snprintf(a[3], sizeof a[3], "%lld", (long long)ls->tokens);
    snprintf(a[4], sizeof a[4], "%ld", l->lease_ttl_ms);
    const char *args[6] = {a[0], a[1], a[2], a[3], ls->id, a[4]};
    pending_t *p = xcalloc(1, sizeof *p);
    p->l = l;
    p->ls = ls;
    memcpy(p->key_id, ls->key_id, sizeof p->key_id);
    memcpy(p->id, ls->id, sizeof p->id);
    if (gw_redis_eval(l->redis, SCRIPT_ADMIT, 3, keys, 6, args, on_admitted, p)) {
        free(p); /* too many calls in flight */
        return admit_here(l, ls, rc, retry_ms);
    }
    p->next = l->pending;
    if (l->pending)
        l->pending->prev = p;
    l->pending = p;
    ls->state = LS_PENDING;
    ls->pending = p;
    ls->fn = fn;
    ls->ud = ud;
    return false;
}

void gw_limiter_end(gw_limiter_t *l, gw_lease_t *ls, int64_t actual)
{
    switch (ls->state) {
    case LS_PENDING:
        ls->pending->ls = NULL;
        ls->pending = NULL;
        break;
    case LS_LOCAL:
        gw_limits_end(l->local, ls->key_id, &ls->cfg, ls->tokens, actual);
        break;
    case LS_SHARED:
        if (ls->cfg.concurrency) {
            gw_limits_track(l->local, ls->key_id, -1);
            lease_unlink(l, ls);
        }
        end_shared(l, ls->key_id, ls->id, ls->cfg.tpm, ls->tokens, actual);
        break;
    default:
        break;
    }
    ls->state = LS_NONE;
}

static void on_refresh_done(void *ud, const gw_redis_reply_t *r)
{
    if (r->kind == GW_REDIS_ERROR)
        script_error(ud, r->msg);
}

/* Every third of the lease TTL: push the leases of the requests running here one TTL ahead. */
static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_limiter_t *l = arg;
    const char *keys[REFRESH_BATCH], *args[REFRESH_BATCH + 1];
    char names[REFRESH_BATCH][64], ttl[16];
    snprintf(ttl, sizeof ttl, "%ld", l->lease_ttl_ms);
    args[0] = ttl;
    gw_lease_t *ls = l->leases;
    while (ls) {
        int n = 0;
        for (; ls && n < REFRESH_BATCH; ls = ls->next, n++) {
            snprintf(names[n], sizeof names[n], "seekd:lim:{%s}:inflight", ls->key_id);
            keys[n] = names[n];
            args[n + 1] = ls->id;
        }
        if (gw_redis_eval(l->redis, SCRIPT_REFRESH, n, keys, n + 1, args, on_refresh_done, l))
            return; /* down or busy: the next round, well within the TTL */
    }
}

gw_limiter_t *gw_limiter_new(const gw_limiter_opts_t *o, char *err, size_t errlen)
{
    gw_limiter_t *l = xcalloc(1, sizeof *l);
    l->local = gw_limits_new();
    l->instances = o->instances > 0 ? o->instances : 1;
    l->lease_ttl_ms = o->lease_ttl_ms > 0 ? o->lease_ttl_ms : GW_LEASE_TTL_MS;
    if (!o->redis)
        return l;
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* never fatal: a clock and the pid tell instances apart well enough */
        unsigned long long v =
            (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
        memcpy(rnd, &v, sizeof rnd);
    }
    for (int i = 0; i < 8; i++)
        snprintf(l->instance + 2 * i, 3, "%02x", rnd[i]);
    gw_redis_opts_t ro = {
        .base = o->base,
        .url = o->redis,
        .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 100,
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .scripts = scripts,
        .nscripts = 3,
        .on_state = on_redis_state,
        .ud = l,
    };
    l->redis = gw_redis_new(&ro, err, errlen);
    if (!l->redis) {
        gw_limits_free(l->local);
        free(l);
        return NULL;
    }
    l->refresh = event_new(o->base, -1, EV_PERSIST, on_refresh, l);
    long every = l->lease_ttl_ms / 3;
    struct timeval tv = {every / 1000, (every % 1000) * 1000};
    event_add(l->refresh, &tv);
    return l;
}

void gw_limiter_free(gw_limiter_t *l)
{
    if (!l)
        return;
    if (l->refresh)
        event_free(l->refresh);
    /* admissions still waiting are dropped unanswered: their requests outlive nothing here */
    for (pending_t *p = l->pending; p; p = p->next) {
        if (p->ls) {
            p->ls->state = LS_NONE;
            p->ls->pending = NULL;
            p->ls = NULL;
        }
    }
    gw_redis_free(l->redis); /* frees the calls, and with them what was pending */
    gw_limits_free(l->local);
    free(l);
}

void gw_limiter_stats(const gw_limiter_t *l, gw_limiter_stats_t *st)
{
    st->shared = l->redis != NULL;
    st->up = l->redis && gw_redis_up(l->redis);
    st->degraded = l->degraded;
}
