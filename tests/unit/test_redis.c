/* test_redis.c - the per-key limits shared through a real redis-server (started here on a free
 * loopback port, stopped at the end; the tests skip when there is none): the scripts' GCRA and
 * its Retry-After, two limiters as two instances, concurrency leases that run out when their
 * instance dies and not while it lives, the tpm correction, EVAL after NOSCRIPT, AUTH, and a
 * Redis that stops answering: the answer comes within the timeout, from this process with the
 * limits divided. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "gateway/limiter.h"
#include "test_util.h"

#define PASSWORD "pw-7f3a-e2e-not-a-secret"

typedef struct {
    pid_t pid;
    int port;
} redis_proc_t;

static struct event_base *base;
static redis_proc_t srv;          /* the open one */
static redis_proc_t locked;       /* one with requirepass */
static char have_redis_path[512]; /* "" when redis-server is not on PATH */

/* ---- redis-server ---- */

static bool find_redis(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        snprintf(have_redis_path, sizeof have_redis_path, "%.*s/redis-server", (int)n, path);
        if (access(have_redis_path, X_OK) == 0)
            return true;
        path += n + (end ? 1 : 0);
    }
    have_redis_path[0] = '\0';
    return false;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

/* A synchronous client, for the test's own look at Redis. */
static redisContext *sync_client(int port, const char *password)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (password) {
        redisReply *r = redisCommand(c, "AUTH %s", password);
        freeReplyObject(r);
    }
    return c;
}

static int start_redis(redis_proc_t *p, const char *password)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        p->port = free_port();
        char port[16];
        snprintf(port, sizeof port, "%d", p->port);
        p->pid = fork();
        if (p->pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            if (password)
                execl(have_redis_path, "redis-server", "--port", port, "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--requirepass", password, (char *)NULL);
            else
                execl(have_redis_path, "redis-server", "--port", port, "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 250; i++) { /* up to 5 s */
            redisContext *c = sync_client(p->port, password);
            if (c) {
                redisReply *r = redisCommand(c, "PING");
                bool ok = r && r->type == REDIS_REPLY_STATUS;
                freeReplyObject(r);
                redisFree(c);
                if (ok)
                    return 0;
            }
            int st;
            if (waitpid(p->pid, &st, WNOHANG) == p->pid)
                break; /* the port was taken meanwhile: another one */
            usleep(20000);
        }
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
    return -1;
}

static void stop_redis(redis_proc_t *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGCONT);
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

static void flushall(void)
{
    redisContext *c = sync_client(srv.port, NULL);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
}

static long long pttl(const char *key)
{
    redisContext *c = sync_client(srv.port, NULL);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "PTTL %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* ---- the loop ---- */

/* Runs the loop in 2 ms slices until *flag or ms pass; returns *flag. */
static bool run_until(const bool *flag, int ms)
{
    int64_t end = mono_ms() + ms;
    while (!*flag && mono_ms() < end) {
        struct timeval tv = {0, 2000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return *flag;
}

static void run_for(int ms)
{
    bool never = false;
    run_until(&never, ms);
}

typedef struct {
    bool done;
    gw_limit_rc_t rc;
    int64_t retry_ms;
    int64_t took_ms;
} answer_t;

static void on_answer(void *ud, gw_limit_rc_t rc, int64_t retry_ms)
{
    answer_t *a = ud;
    a->done = true;
    a->rc = rc;
    a->retry_ms = retry_ms;
}

static answer_t admit(gw_limiter_t *l, gw_lease_t *ls, const char *key, gw_limit_cfg_t cfg,
                      int64_t tokens)
{
    static answer_t a; /* the callback may only come while this runs the loop */
    memset(&a, 0, sizeof a);
    int64_t t0 = mono_ms();
    if (gw_limiter_admit(l, ls, key, &cfg, tokens, on_answer, &a, &a.rc, &a.retry_ms))
        a.done = true;
    else
        assert_true(run_until(&a.done, 3000));
    a.took_ms = mono_ms() - t0;
    return a;
}

static gw_limiter_t *limiter(int port, int instances, long lease_ttl_ms, const char *password)
{
    gw_redis_url_t u;
    char url[128], err[256];
    snprintf(url, sizeof url, "redis://%s%s%s127.0.0.1:%d", password ? ":" : "",
             password ? password : "", password ? "@" : "", port);
    assert_int_equal(gw_redis_url_parse(url, &u, err, sizeof err), 0);
    gw_limiter_opts_t o = {.base = base,
                           .redis = &u,
                           .instances = instances,
                           .timeout_ms = 100,
                           .lease_ttl_ms = lease_ttl_ms};
    gw_limiter_t *l = gw_limiter_new(&o, err, sizeof err);
    assert_non_null(l);
    return l;
}

static bool limiter_up(gw_limiter_t *l, int ms)
{
    int64_t end = mono_ms() + ms;
    gw_limiter_stats_t st;
    for (;;) {
        gw_limiter_stats(l, &st);
        if (st.up || mono_ms() > end)
            return st.up;
        run_for(5);
    }
}

static int setup(void **state)
{
    (void)state;
    if (!have_redis_path[0])
        return 0;
    flushall();
    return 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!have_redis_path[0] || !srv.pid)                                                       \
            test_skip("redis-server is not installed (apt-get install redis-server)\n");           \
    } while (0)

/* ---- the tests ---- */

static void rpm_is_the_same_gcra_with_its_exact_retry(void **state)
{
    (void)state;
    NEED_REDIS();
    gw_limiter_t *l = limiter(srv.port, 1, 0, NULL);
    assert_true(limiter_up(l, 3000));
    gw_limit_cfg_t cfg = {.rpm = 3}; /* one every 20 s, three at once */
    gw_lease_t ls[4];
    for (int i = 0; i < 3; i++) {
        answer_t a = admit(l, &ls[i], "k1", cfg, 10);
        assert_int_equal(a.rc, GW_LIMIT_OK);
    }
    answer_t a = admit(l, &ls[3], "k1", cfg, 10);
    assert_int_equal(a.rc, GW_LIMIT_RPM);
    /* the next one is due 20 s after the first, and the first came a few ms ago */
    assert_true(a.retry_ms > 19000 && a.retry_ms <= 20000);
    /* the TAT vanishes once it is in the past: a minute ahead, plus a second */
    long long t = pttl("seekd:lim:{k1}:rpm");
    assert_true(t > 59000 && t <= 61000);
    assert_int_equal(pttl("seekd:lim:{k1}:inflight"), -2); /* no concurrency limit: no lease */
    for (int i = 0; i < 4; i++)
        gw_limiter_end(l, &ls[i], 10);
    gw_limiter_stats_t st;
    gw_limiter_stats(l, &st);
    assert_true(st.shared && st.up);
    assert_int_equal(st.degraded, 0);
    gw_limiter_free(l);
}

static void two_instances_share_one_limit(void **state)
{
    (void)state;
    NEED_REDIS();
    gw_limiter_t *a = limiter(srv.port, 2, 0, NULL), *b = limiter(srv.port, 2, 0, NULL);
    assert_true(limiter_up(a, 3000) && limiter_up(b, 3000));
    gw_limit_cfg_t cfg = {.rpm = 5};
    gw_lease_t ls[10];
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        answer_t r = admit(i % 2 ? b : a, &ls[i], "k2", cfg, 0);
        ok += r.rc == GW_LIMIT_OK;
    }
    assert_int_equal(ok, 5);
    for (int i = 0; i < 10; i++)
        gw_limiter_end(i % 2 ? b : a, &ls[i], 0);
    gw_limiter_free(a);
    gw_limiter_free(b);
}

static void a_lease_holds_while_its_request_runs_and_runs_out_when_its_instance_dies(void **state)
{
    (void)state;
    NEED_REDIS();
    /* leases of 300 ms, refreshed every 100 ms */
    gw_limiter_t *a = limiter(srv.port, 1, 300, NULL), *b = limiter(srv.port, 1, 300, NULL);
    assert_true(limiter_up(a, 3000) && limiter_up(b, 3000));
    gw_limit_cfg_t cfg = {.concurrency = 1};
    gw_lease_t la, lb;
    assert_int_equal(admit(a, &la, "k3", cfg, 0).rc, GW_LIMIT_OK);
    answer_t r = admit(b, &lb, "k3", cfg, 0);
    assert_int_equal(r.rc, GW_LIMIT_CONCURRENCY);
    assert_int_equal(r.retry_ms, 1000);
    gw_limiter_end(b, &lb, 0);
    /* a's request runs on for three TTLs: its refreshed lease still holds the slot */
    run_for(900);
    assert_int_equal(admit(b, &lb, "k3", cfg, 0).rc, GW_LIMIT_CONCURRENCY);
    gw_limiter_end(b, &lb, 0);
    /* ended: the slot is free once the end reached Redis (b has a connection of its own) */
    gw_limiter_end(a, &la, 0);
    run_for(30);
    assert_int_equal(admit(b, &lb, "k3", cfg, 0).rc, GW_LIMIT_OK);
    /* b "dies" holding it (freed without ending: nothing refreshes it, nothing frees it) */
    gw_limiter_free(b);
    assert_int_equal(admit(a, &la, "k3", cfg, 0).rc, GW_LIMIT_CONCURRENCY);
    gw_limiter_end(a, &la, 0);
    run_for(400);
    assert_int_equal(admit(a, &la, "k3", cfg, 0).rc, GW_LIMIT_OK);
    gw_limiter_end(a, &la, 0);
    run_for(50);
    assert_int_equal(pttl("seekd:lim:{k3}:inflight"), -2); /* the last lease gone, the set too */
    gw_limiter_free(a);
}

static void tokens_are_admitted_on_the_estimate_and_corrected_by_the_end(void **state)
{
    (void)state;
    NEED_REDIS();
    gw_limiter_t *l = limiter(srv.port, 1, 0, NULL);
    assert_true(limiter_up(l, 3000));
    gw_limit_cfg_t cfg = {.tpm = 1000};
    gw_lease_t x, y;
    assert_int_equal(admit(l, &x, "k4", cfg, 800).rc, GW_LIMIT_OK);
    answer_t r = admit(l, &y, "k4", cfg, 300);
    assert_int_equal(r.rc, GW_LIMIT_TPM);
    assert_true(r.retry_ms > 5900 && r.retry_ms <= 6000); /* 100 tokens' worth of a minute */
    gw_limiter_end(l, &y, 0);
    gw_limiter_end(l, &x, 200); /* used 200 of 800: 600 come back */
    assert_int_equal(admit(l, &y, "k4", cfg, 300).rc, GW_LIMIT_OK);
    gw_limiter_end(l, &y, 300);
    gw_limiter_free(l);
}

static void a_request_that_leaves_while_redis_decides_gives_its_slot_back(void **state)
{
    (void)state;
    NEED_REDIS();
    gw_limiter_t *l = limiter(srv.port, 1, 0, NULL);
    assert_true(limiter_up(l, 3000));
    gw_limit_cfg_t cfg = {.concurrency = 1};
    gw_lease_t gone, next;
    answer_t never = {0};
    gw_limit_rc_t rc;
    int64_t retry;
    assert_false(gw_limiter_admit(l, &gone, "k5", &cfg, 0, on_answer, &never, &rc, &retry));
    gw_limiter_end(l, &gone, 0); /* before Redis answered */
    run_for(100);
    assert_false(never.done); /* no answer to a request that is gone */
    assert_int_equal(admit(l, &next, "k5", cfg, 0).rc, GW_LIMIT_OK);
    gw_limiter_end(l, &next, 0);
    /* a limiter freed while an admission waits drops it unanswered (the server may be gone) */
    assert_false(gw_limiter_admit(l, &gone, "k5", &cfg, 0, on_answer, &never, &rc, &retry));
    gw_limiter_free(l);
    run_for(50);
    assert_false(never.done);
}

static void scripts_flushed_from_redis_are_sent_again(void **state)
{
    (void)state;
    NEED_REDIS();
    gw_limiter_t *l = limiter(srv.port, 1, 0, NULL);
    assert_true(limiter_up(l, 3000));
    gw_limit_cfg_t cfg = {.rpm = 1};
    gw_lease_t ls;
    assert_int_equal(admit(l, &ls, "k6", cfg, 0).rc, GW_LIMIT_OK);
    gw_limiter_end(l, &ls, 0);
    redisContext *c = sync_client(srv.port, NULL);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    redisFree(c);
    answer_t r = admit(l, &ls, "k6", cfg, 0); /* NOSCRIPT, then EVAL: still Redis' answer */
    assert_int_equal(r.rc, GW_LIMIT_RPM);
    gw_limiter_end(l, &ls, 0);
    gw_limiter_stats_t st;
    gw_limiter_stats(l, &st);
    assert_true(st.up);
    assert_int_equal(st.degraded, 0);
    gw_limiter_free(l);
}

/* stderr goes to a file while fn runs; returns what was written (free it). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/seekd-test-redis-XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    size_t len;
    char *s = test_slurp(path, &len);
    unlink(path);
    return s;
}

static void auth_run(void)
{
    gw_limiter_t *good = limiter(locked.port, 1, 0, PASSWORD);
    assert_true(limiter_up(good, 3000));
    gw_limiter_t *bad = limiter(locked.port, 2, 0, "not-the-" PASSWORD);
    run_for(300);
    gw_limiter_stats_t st;
    gw_limiter_stats(bad, &st);
    assert_false(st.up);
    gw_limit_cfg_t cfg = {.rpm = 4};
    gw_lease_t ls;
    answer_t a = admit(good, &ls, "k7", cfg, 0);
    assert_int_equal(a.rc, GW_LIMIT_OK);
    gw_limiter_end(good, &ls, 0);
    a = admit(bad, &ls, "k7", cfg, 0); /* alone, with 4 / 2 */
    assert_int_equal(a.rc, GW_LIMIT_OK);
    gw_limiter_end(bad, &ls, 0);
    gw_limiter_stats(bad, &st);
    assert_int_equal(st.degraded, 1);
    gw_limiter_free(good);
    gw_limiter_free(bad);
}

static void auth_with_the_password_and_never_in_a_log(void **state)
{
    (void)state;
    NEED_REDIS();
    if (!locked.pid)
        fail_msg("the redis-server with requirepass did not start");
    char *log = capture_stderr(auth_run);
    assert_non_null(log);
    if (!strstr(log, "down (AUTH refused: WRONGPASS"))
        fail_msg("no AUTH refusal in the log: %s", log);
    assert_non_null(strstr(log, "up; per-key limits are shared across instances"));
    assert_null(strstr(log, PASSWORD));
    free(log);
}

static void stopped_redis_answers_within_the_timeout_from_here_with_the_limit_divided(void **state)
{
    (void)state;
    NEED_REDIS();
    gw_limiter_t *l = limiter(srv.port, 2, 0, NULL);
    assert_true(limiter_up(l, 3000));
    gw_limit_cfg_t cfg = {.rpm = 6, .concurrency = 5};
    gw_lease_t ls[5];
    assert_int_equal(admit(l, &ls[0], "k8", cfg, 0).rc, GW_LIMIT_OK); /* shared, in flight */
    kill(srv.pid, SIGSTOP);
    answer_t a = admit(l, &ls[1], "k8", cfg, 0);
    /* no answer from Redis: 100 ms, then this process alone, with rpm 3 and concurrency 2 */
    assert_int_equal(a.rc, GW_LIMIT_OK);
    assert_true(a.took_ms >= 95 && a.took_ms < 600);
    gw_limiter_stats_t st;
    gw_limiter_stats(l, &st);
    assert_false(st.up);
    /* down: the next ones do not wait at all */
    a = admit(l, &ls[2], "k8", cfg, 0);
    assert_true(a.took_ms < 50);
    /* the request admitted by Redis counts in flight here: 2 of 2 */
    assert_int_equal(a.rc, GW_LIMIT_CONCURRENCY);
    gw_limiter_end(l, &ls[2], 0);
    gw_limiter_end(l, &ls[0], 0); /* Redis is away: its lease will run out by itself */
    /* alone, rpm 3: a third and last one in this minute */
    assert_int_equal(admit(l, &ls[2], "k8", cfg, 0).rc, GW_LIMIT_OK);
    gw_limiter_end(l, &ls[2], 0);
    assert_int_equal(admit(l, &ls[3], "k8", cfg, 0).rc, GW_LIMIT_OK);
    gw_limiter_end(l, &ls[3], 0);
    a = admit(l, &ls[3], "k8", cfg, 0);
    assert_int_equal(a.rc, GW_LIMIT_RPM);
    assert_true(a.retry_ms > 19000 && a.retry_ms <= 20000); /* one every 20 s */
    gw_limiter_end(l, &ls[3], 0);
    gw_limiter_stats(l, &st);
    assert_int_equal(st.degraded, 5);
    /* Redis back: shared again, after the backoff */
    kill(srv.pid, SIGCONT);
    assert_true(limiter_up(l, 5000));
    gw_limiter_end(l, &ls[1], 0);
    assert_int_equal(admit(l, &ls[4], "k8", cfg, 0).rc, GW_LIMIT_OK);
    gw_limiter_end(l, &ls[4], 0);
    gw_limiter_stats(l, &st);
    assert_int_equal(st.degraded, 5);
    gw_limiter_free(l);
}

static void no_redis_at_all_is_down_at_once_and_never_waits(void **state)
{
    (void)state;
    NEED_REDIS();
    int port = free_port(); /* nobody listens there */
    gw_limiter_t *l = limiter(port, 3, 0, NULL);
    run_for(50);
    gw_limit_cfg_t cfg = {.rpm = 7};
    gw_lease_t ls[3];
    for (int i = 0; i < 2; i++) {
        answer_t a = admit(l, &ls[i], "k9", cfg, 0);
        assert_int_equal(a.rc, GW_LIMIT_OK);
        assert_true(a.took_ms < 50);
    }
    assert_int_equal(admit(l, &ls[2], "k9", cfg, 0).rc, GW_LIMIT_RPM); /* 7 / 3 = 2 */
    for (int i = 0; i < 3; i++)
        gw_limiter_end(l, &ls[i], 0);
    gw_limiter_free(l);
}

static int group_setup(void **state)
{
    (void)state;
    base = event_base_new();
    if (!find_redis())
        return 0;
    if (start_redis(&srv, NULL) || start_redis(&locked, PASSWORD))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_redis(&srv);
    stop_redis(&locked);
    event_base_free(base);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(rpm_is_the_same_gcra_with_its_exact_retry, setup),
        cmocka_unit_test_setup(two_instances_share_one_limit, setup),
        cmocka_unit_test_setup(
            a_lease_holds_while_its_request_runs_and_runs_out_when_its_instance_dies, setup),
        cmocka_unit_test_setup(tokens_are_admitted_on_the_estimate_and_corrected_by_the_end, setup),
        cmocka_unit_test_setup(a_request_that_leaves_while_redis_decides_gives_its_slot_back,
                               setup),
        cmocka_unit_test_setup(scripts_flushed_from_redis_are_sent_again, setup),
        cmocka_unit_test_setup(auth_with_the_password_and_never_in_a_log, setup),
        cmocka_unit_test_setup(
            stopped_redis_answers_within_the_timeout_from_here_with_the_limit_divided, setup),
        cmocka_unit_test_setup(no_redis_at_all_is_down_at_once_and_never_waits, setup),
    };
    int failures = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return test_exit(failures);
}
