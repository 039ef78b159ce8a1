/* test_http_client.c - the contract of http/client.h that the relay relies on: callbacks never
 * run inside a call, a paused piece is offered again whole, cancel and stop close the
 * connection, timeouts fire, connections are reused. A scripted server on loopback answers
 * each request head with bytes the test chose. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "http/client.h"

/* ---- the scripted server ---- */

typedef struct {
    struct event_base *base;
    int lfd, port;
    struct event *lev;
    int accepted;
    int fds[8];
    struct event *evs[8];
    char in[8][4096];
    size_t inlen[8];
    bool eof[8];
    const char *answer; /* written once a request head is in; NULL: never answer */
} server_t;

static void on_server_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    server_t *s = arg;
    int i = 0;
    while (s->fds[i] != fd)
        i++;
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
        s->eof[i] = true;
        event_del(s->evs[i]);
        return;
    }
    size_t room = sizeof s->in[i] - s->inlen[i];
    memcpy(s->in[i] + s->inlen[i], tmp, (size_t)n < room ? (size_t)n : room);
    s->inlen[i] += (size_t)n < room ? (size_t)n : room;
    /* one answer per request head seen */
    if (s->answer && memmem(tmp, (size_t)n, "\r\n\r\n", 4))
        assert_int_equal(send(fd, s->answer, strlen(s->answer), 0), (ssize_t)strlen(s->answer));
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    server_t *s = arg;
    int c = accept(fd, NULL, NULL);
    assert_true(c >= 0 && s->accepted < 8);
    int i = s->accepted++;
    s->fds[i] = c;
    s->evs[i] = event_new(s->base, c, EV_READ | EV_PERSIST, on_server_read, s);
    event_add(s->evs[i], NULL);
}

static void server_start(server_t *s, struct event_base *base, const char *answer)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    s->answer = answer;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    socklen_t len = sizeof sa;
    getsockname(s->lfd, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
    s->lev = event_new(base, s->lfd, EV_READ | EV_PERSIST, on_accept, s);
    event_add(s->lev, NULL);
}

static void server_stop(server_t *s)
{
    for (int i = 0; i < s->accepted; i++) {
        event_free(s->evs[i]);
        close(s->fds[i]);
    }
    event_free(s->lev);
    close(s->lfd);
}

/* ---- a transfer's view ---- */

typedef struct {
    http_xfer_t *x;
    int status;
    buf_t body;
    int offers;
    int pause_first; /* pause on this many offers before taking */
    bool paused;     /* an offer came while paused: a contract breach */
    bool offered_while_paused;
    bool cancel_in_body;
    bool stop_in_body;
    char first[64]; /* the first piece offered */
    bool done;
    hc_result_t res;
    char detail[128];
    struct event_base *base;
} view_t;

static void v_head(void *ud, http_xfer_t *x, int status)
{
    view_t *v = ud;
    assert_ptr_equal(x, v->x);
    v->status = status;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    view_t *v = arg;
    v->paused = false;
    http_xfer_resume(v->x);
}

static int v_body(void *ud, const char *data, size_t len)
{
    view_t *v = ud;
    if (v->paused)
        v->offered_while_paused = true;
    if (v->offers++ == 0)
        snprintf(v->first, sizeof v->first, "%.*s", (int)len, data);
    if (v->cancel_in_body) {
        http_xfer_cancel(v->x);
        event_base_loopexit(v->base, &(struct timeval){0, 50000});
        return HC_TAKE;
    }
    if (v->stop_in_body)
        return HC_STOP;
    if (v->pause_first > 0) {
        v->pause_first--;
        v->paused = true;
        event_base_once(v->base, -1, EV_TIMEOUT, on_resume, v, &(struct timeval){0, 20000});
        return HC_PAUSE;
    }
    buf_append(&v->body, data, len);
    return HC_TAKE;
}

static void v_done(void *ud, hc_result_t res, const char *detail)
{
    view_t *v = ud;
    v->done = true;
    v->res = res;
    snprintf(v->detail, sizeof v->detail, "%s", detail);
    event_base_loopexit(v->base, NULL);
}

static const http_xfer_cbs_t cbs = {v_head, v_body, v_done};

static void start(view_t *v, struct event_base *base, http_origin_t *o, long timeout_ms)
{
    memset(v, 0, sizeof *v);
    v->base = base;
    buf_init(&v->body, 1 << 20);
    http_xreq_t rq = {.method = "GET", .path = SLICE_LIT("/x"), .timeout_ms = timeout_ms};
    v->x = http_xfer_start(o, &rq, &cbs, v);
    assert_non_null(v->x);
}

/* Runs the loop until the transfer ends (or 3 s pass). */
static void run(struct event_base *base)
{
    event_base_loopexit(base, &(struct timeval){3, 0});
    event_base_dispatch(base);
}

typedef struct {
    struct event_base *base;
    http_client_t *cl;
    http_origin_t *o;
    server_t srv;
} fixture_t;

static void setup_with(fixture_t *f, const char *answer)
{
    f->base = event_base_new();
    server_start(&f->srv, f->base, answer);
    f->cl = http_client_new(f->base, 1000, 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->srv.port);
    const char *path;
    f->o = http_client_origin(f->cl, url, &path);
    assert_non_null(f->o);
    assert_string_equal(path, "");
}

static void teardown_f(fixture_t *f)
{
    http_client_free(f->cl);
    server_stop(&f->srv);
    event_base_free(f->base);
}

/* ---- tests ---- */

static void paused_piece_is_offered_again_whole(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
    view_t v;
    start(&v, f.base, f.o, 0);
    v.pause_first = 2;
    run(f.base);
    assert_true(v.done);
    assert_int_equal(v.res, HC_OK);
    assert_int_equal(v.status, 200);
    assert_false(v.offered_while_paused);
    assert_int_equal(v.offers, 3); /* paused twice, then taken */
    assert_string_equal(v.first, "0123456789");
    assert_int_equal(v.body.len, 10);
    assert_memory_equal(v.body.data, "0123456789", 10);
    buf_free(&v.body);
    teardown_f(&f);
}

static void paused_chunk_is_offered_again_whole(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    view_t v;
    start(&v, f.base, f.o, 0);
    v.pause_first = 1;
    run(f.base);
    assert_int_equal(v.res, HC_OK);
    assert_string_equal(v.first, "hello");
    assert_int_equal(v.body.len, 11);
    assert_memory_equal(v.body.data, "hello world", 11);
    buf_free(&v.body);
    teardown_f(&f);
}

static void callbacks_never_run_inside_start(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, NULL);
    /* a port nobody listens on: the refusal may be known inside connect() already */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/base", ntohs(sa.sin_port));
    const char *path;
    http_origin_t *o = http_client_origin(f.cl, url, &path);
    assert_string_equal(path, "/base");
    view_t v;
    start(&v, f.base, o, 0);
    assert_false(v.done);
    run(f.base);
    assert_true(v.done);
    assert_int_equal(v.res, HC_CONNECT);
    assert_string_equal(v.detail, "Connection refused");
    buf_free(&v.body);
    teardown_f(&f);
}

static void cancel_inside_on_body_closes_without_on_done(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    view_t v;
    start(&v, f.base, f.o, 0);
    v.cancel_in_body = true;
    run(f.base);
    assert_false(v.done); /* no on_done after a cancel */
    assert_int_equal(v.offers, 1);
    assert_int_equal(f.srv.accepted, 1);
    assert_true(f.srv.eof[0]); /* the connection was closed: the answer was not complete */
    buf_free(&v.body);
    teardown_f(&f);
}

static void stop_ends_with_stopped_and_a_fresh_connection_next(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    view_t v;
    start(&v, f.base, f.o, 0);
    v.stop_in_body = true;
    run(f.base);
    assert_int_equal(v.res, HC_STOPPED);
    start(&v, f.base, f.o, 0);
    run(f.base);
    assert_int_equal(v.res, HC_OK);
    assert_int_equal(f.srv.accepted, 2);
    assert_true(f.srv.eof[0]);
    buf_free(&v.body);
    teardown_f(&f);
}

static void whole_answers_reuse_one_connection(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    for (int i = 0; i < 3; i++) {
        view_t v;
        start(&v, f.base, f.o, 0);
        run(f.base);
        assert_int_equal(v.res, HC_OK);
        assert_memory_equal(v.body.data, "ok", 2);
        buf_free(&v.body);
    }
    assert_int_equal(f.srv.accepted, 1);
    /* what the server got: three GETs with Host, no body, no Content-Length */
    char want[512];
    snprintf(want, sizeof want, "GET /x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", f.srv.port);
    size_t wl = strlen(want);
    assert_int_equal(f.srv.inlen[0], 3 * wl);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(f.srv.in[0] + i * wl, want, wl);
    teardown_f(&f);
}

static void total_timeout_fires(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, NULL); /* the server never answers */
    view_t v;
    start(&v, f.base, f.o, 150);
    run(f.base);
    assert_true(v.done);
    assert_int_equal(v.res, HC_TIMEOUT);
    assert_string_equal(v.detail, "transfer timed out");
    buf_free(&v.body);
    teardown_f(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paused_piece_is_offered_again_whole),
        cmocka_unit_test(paused_chunk_is_offered_again_whole),
        cmocka_unit_test(callbacks_never_run_inside_start),
        cmocka_unit_test(cancel_inside_on_body_closes_without_on_done),
        cmocka_unit_test(stop_ends_with_stopped_and_a_fresh_connection_next),
        cmocka_unit_test(whole_answers_reuse_one_connection),
        cmocka_unit_test(total_timeout_fires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
