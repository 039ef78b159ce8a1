/* redis.c - hiredis' async context on seekd's loop: connect, handshake, script calls, each
 * under a timer of ours, and the way back up after a failure. */
#include "gateway/redis.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CALL_MAX_BYTES 16384 /* keys and args of one call */

struct gw_redis {
    struct event_base *base;
    gw_redis_url_t url;
    char ip[INET6_ADDRSTRLEN];
    char where[300];
    long timeout_ms, connect_timeout_ms;
    const char *const *scripts;
    char (*sha)[41];
    int nscripts;
    gw_redis_state_fn on_state;
    void *ud;
    redisAsyncContext *ac; /* NULL: neither connected nor connecting */
    bool up;               /* the handshake is done */
    int said;              /* what on_state last said: -1 nothing yet, 0 down, 1 up */
    struct event *connect_timer, *retry_timer;
    long backoff_ms;
    int ncalls;
};

/* One script call, from gw_redis_eval until hiredis hands back its last reply (or NULL when
 * the context goes away); its timer takes the connection down if that is too late. Its keys and
 * args are copied behind it (argv points into bytes). */
typedef struct {
    gw_redis_t *r;
    struct event *timer;
    int script;
    bool retried; /* sent again as EVAL after NOSCRIPT */
    gw_redis_fn fn;
    void *ud;
    int argc;
    const char **argv;
    size_t *argvlen;
    char nkeys[12];
    _Alignas(max_align_t) char bytes[]; /* the argv and argvlen arrays, then the strings */
} call_t;

static void start_connect(gw_redis_t *r);

/* ---- up and down ---- */

/* The backoff starts again from its minimum only once a call was answered: a Redis that answers
 * PING but not a script in time goes down and up at most once per BACKOFF_MAX_MS. */
static void went_up(gw_redis_t *r)
{
    r->up = true;
    evtimer_del(r->connect_timer);
    if (r->said != 1) {
        r->said = 1;
        r->on_state(r->ud, true, NULL);
    }
}

/* The context is gone (r->ac already NULL): try again after the backoff, and say so once. */
static void went_down(gw_redis_t *r, const char *why)
{
    r->up = false;
    evtimer_del(r->connect_timer);
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->retry_timer, &tv);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
    if (r->said != 0) {
        r->said = 0;
        r->on_state(r->ud, false, why);
    }
}

/* Takes the connection down ourselves: every call in flight is answered GW_REDIS_NONE (now,
 * or when the hiredis callback we may be in returns). */
static void teardown(gw_redis_t *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    if (!ac)
        return;
    r->ac = NULL;
    went_down(r, why);
    redisAsyncFree(ac);
}

/* hiredis is dropping the context itself (an I/O error, EOF): forget it, it frees it. */
static void lost(gw_redis_t *r, const redisAsyncContext *ac)
{
    if (r->ac != ac)
        return;
    char why[160];
    /* the context's own error: ac->errstr is only copied from it once hiredis disconnects */
    snprintf(why, sizeof why, "%s", ac->c.err ? ac->c.errstr : "connection closed");
    r->ac = NULL;
    went_down(r, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    gw_redis_t *r = ac->data;
    if (status != REDIS_OK)
        lost(r, ac); /* hiredis frees the context after this */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    lost(ac->data, ac);
}

/* AUTH, SELECT and PING, in this order: an error stops it; PONG means up. */
static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    gw_redis_t *r = ac->data;
    redisReply *rep = reply;
    const char *step = privdata;
    if (r->ac != ac)
        return;
    if (!rep) {
        lost(r, ac);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "%s refused: %.120s", step, rep->str ? rep->str : "");
        teardown(r, why);
        return;
    }
    if (!strcmp(step, "PING"))
        went_up(r);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis_t *r = arg;
    char why[80];
    snprintf(why, sizeof why, "no connection within %ld ms", r->connect_timeout_ms);
    teardown(r, why);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

static void start_connect(gw_redis_t *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->ip, r->url.port);
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac && ac->errstr ? ac->errstr : "cannot connect");
        if (ac)
            redisAsyncFree(ac);
        went_down(r, why);
        return;
    }
    ac->data = r;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    /* queued now, written once connected */
    if (r->url.password[0] && r->url.user[0])
        redisAsyncCommand(ac, on_handshake, "AUTH", "AUTH %s %s", r->url.user, r->url.password);
    else if (r->url.password[0])
        redisAsyncCommand(ac, on_handshake, "AUTH", "AUTH %s", r->url.password);
    if (r->url.db)
        redisAsyncCommand(ac, on_handshake, "SELECT", "SELECT %d", r->url.db);
    redisAsyncCommand(ac, on_handshake, "PING", "PING");
    struct timeval tv = {r->connect_timeout_ms / 1000, (r->connect_timeout_ms % 1000) * 1000};
    evtimer_add(r->connect_timer, &tv);
}

/* ---- calls ---- */

static void call_free(call_t *c)
{
    event_free(c->timer);
    c->r->ncalls--;
    free(c);
}

static void on_call_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    call_t *c = arg;
    gw_redis_t *r = c->r;
    char why[80];
    snprintf(why, sizeof why, "no answer within %ld ms", r->timeout_ms);
    teardown(r, why); /* answers c and every call after it */
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    call_t *c = privdata;
    gw_redis_t *r = c->r;
    redisReply *rep = reply;
    if (!rep) {
        lost(r, ac); /* before the answer, so that its callback sees the connection down */
    } else if (r->ac == ac) {
        r->backoff_ms = BACKOFF_MIN_MS;
    }
    if (rep && rep->type == REDIS_REPLY_ERROR && !c->retried && r->ac == ac &&
        !strncmp(rep->str, "NOSCRIPT", 8)) {
        /* Redis restarted or flushed its scripts: the body itself, same deadline */
        c->retried = true;
        c->argv[0] = "EVAL";
        c->argvlen[0] = 4;
        c->argv[1] = r->scripts[c->script];
        c->argvlen[1] = strlen(r->scripts[c->script]);
        if (redisAsyncCommandArgv(ac, on_call_reply, c, c->argc, c->argv, c->argvlen) == REDIS_OK)
            return;
        rep = NULL;
    }
    gw_redis_reply_t out = {.kind = GW_REDIS_NONE};
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        out.kind = GW_REDIS_ERROR;
        out.msg = rep->str ? rep->str : "";
    } else if (rep && rep->type == REDIS_REPLY_INTEGER) {
        out.kind = GW_REDIS_INTS;
        out.n = 1;
        out.v[0] = rep->integer;
    } else if (rep && rep->type == REDIS_REPLY_ARRAY) {
        out.kind = GW_REDIS_INTS;
        for (size_t i = 0; i < rep->elements && i < 4; i++) {
            if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
                out.kind = GW_REDIS_ERROR;
                out.msg = "a script answered something other than integers";
                break;
            }
            out.v[out.n++] = rep->element[i]->integer;
        }
    } else if (rep) {
        out.kind = GW_REDIS_INTS; /* a status or a string: an answer without numbers */
    }
    gw_redis_fn fn = c->fn;
    void *ud = c->ud;
    call_free(c);
    fn(ud, &out);
}

int gw_redis_eval(gw_redis_t *r, int script, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, gw_redis_fn fn, void *ud)
{
    if (!r->up || !r->ac || r->ncalls >= GW_REDIS_MAX_CALLS || script < 0 ||
        script >= r->nscripts || nkeys < 0 || nargs < 0 || nkeys + nargs > GW_REDIS_MAX_ARGS)
        return -1;
    int argc = 3 + nkeys + nargs;
    size_t strings = 0;
    for (int i = 0; i < nkeys + nargs; i++)
        strings += strlen(i < nkeys ? keys[i] : args[i - nkeys]) + 1;
    if (strings > CALL_MAX_BYTES)
        return -1;
    size_t arrays = (size_t)argc * (sizeof(char *) + sizeof(size_t));
    call_t *c = xmalloc(sizeof *c + arrays + strings);
    c->r = r;
    c->script = script;
    c->retried = false;
    c->fn = fn;
    c->ud = ud;
    c->argc = argc;
    c->argv = (const char **)(void *)c->bytes;
    c->argvlen = (size_t *)(void *)(c->bytes + (size_t)argc * sizeof(char *));
    char *str = c->bytes + arrays;
    c->argv[0] = "EVALSHA";
    c->argvlen[0] = 7;
    c->argv[1] = r->sha[script];
    c->argvlen[1] = 40;
    c->argv[2] = c->nkeys;
    c->argvlen[2] = (size_t)snprintf(c->nkeys, sizeof c->nkeys, "%d", nkeys);
    for (int i = 0; i < nkeys + nargs; i++) {
        const char *s = i < nkeys ? keys[i] : args[i - nkeys];
        size_t len = strlen(s);
        memcpy(str, s, len + 1);
        c->argv[3 + i] = str;
        c->argvlen[3 + i] = len;
        str += len + 1;
    }
    if (redisAsyncCommandArgv(r->ac, on_call_reply, c, c->argc, c->argv, c->argvlen) != REDIS_OK) {
        free(c);
        return -1;
    }
    r->ncalls++;
    c->timer = evtimer_new(r->base, on_call_timeout, c);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    return 0;
}

/* ---- the object ---- */

static int resolve(gw_redis_t *r, char *err, size_t errlen)
{
    unsigned char bin[16];
    if (inet_pton(AF_INET, r->url.host, bin) == 1 || inet_pton(AF_INET6, r->url.host, bin) == 1) {
        snprintf(r->ip, sizeof r->ip, "%s", r->url.host);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(r->url.host, NULL, &hints, &res);
    if (rc || !res) {
        snprintf(err, errlen, "redis: cannot resolve '%s': %s", r->url.host,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    inet_ntop(res->ai_family, a, r->ip, sizeof r->ip);
    freeaddrinfo(res);
    return 0;
}

gw_redis_t *gw_redis_new(const gw_redis_opts_t *o, char *err, size_t errlen)
{
    gw_redis_t *r = xcalloc(1, sizeof *r);
    r->base = o->base;
    r->url = *o->url;
    gw_redis_url_where(&r->url, r->where, sizeof r->where);
    if (resolve(r, err, errlen)) {
        gw_redis_url_wipe(&r->url);
        free(r);
        return NULL;
    }
    r->timeout_ms = o->timeout_ms;
    r->connect_timeout_ms = o->connect_timeout_ms;
    r->scripts = o->scripts;
    r->nscripts = o->nscripts;
    r->sha = xcalloc((size_t)(o->nscripts > 0 ? o->nscripts : 1), sizeof *r->sha);
    for (int i = 0; i < o->nscripts; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_Digest(o->scripts[i], strlen(o->scripts[i]), md, &mdlen, EVP_sha1(), NULL);
        for (unsigned k = 0; k < mdlen && k < 20; k++)
            snprintf(r->sha[i] + 2 * k, 3, "%02x", md[k]);
    }
    r->on_state = o->on_state;
    r->ud = o->ud;
    r->said = -1;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->connect_timer = evtimer_new(r->base, on_connect_timeout, r);
    r->retry_timer = evtimer_new(r->base, on_retry, r);
    /* from the loop, so that on_state never runs before the caller has r */
    struct timeval now = {0, 0};
    evtimer_add(r->retry_timer, &now);
    return r;
}

void gw_redis_free(gw_redis_t *r)
{
    if (!r)
        return;
    r->up = false;
    r->said = 0; /* nothing more to say */
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    if (ac)
        redisAsyncFree(ac);
    event_free(r->connect_timer);
    event_free(r->retry_timer);
    gw_redis_url_wipe(&r->url);
    free(r->sha);
    free(r);
}

bool gw_redis_up(const gw_redis_t *r)
{
    return r->up;
}

const char *gw_redis_where(const gw_redis_t *r)
{
    return r->where;
}
