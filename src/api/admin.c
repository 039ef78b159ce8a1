/* admin.c - the /admin/ routes: the accounts' keys over HTTP, for the admin token only. The
 * operations (admin_ops.c) run on the accounts' database thread; this file checks who asks,
 * carries the request there and the answer back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/admin_ops.h"
#include "api/server_int.h"
#include "base/mem.h"
#include "gateway/accounts.h"

typedef struct {
    http_req_t *req;
    api_server_t *srv;
    /* the request, copied for the database thread, and its answer */
    char method[8], path[256];
    char *body;
    size_t len;
    int status;
    char *answer;
} admin_req_t;

static void admin_free(admin_req_t *x)
{
    free(x->body);
    free(x->answer);
    free(x);
}

static void admin_abort(void *ud)
{
    admin_req_t *x = ud;
    x->req = NULL; /* the job may be running: its done frees x */
}

/* On the database thread: the operation, and whether it may have changed the keys. */
static bool admin_work(store_t *s, const gw_secret_t *secret, void *ud)
{
    admin_req_t *x = ud;
    x->status =
        admin_run(s, secret, x->method, x->path, x->body, x->len, (int64_t)time(NULL), &x->answer);
    return strcmp(x->method, "GET") != 0;
}

static void admin_done(void *ud, bool ran)
{
    admin_req_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    if (!r) { /* the client left */
        admin_free(x);
        return;
    }
    http_req_on_abort(r, NULL, NULL);
    if (!ran || !x->answer)
        api_reply_error(s, r, 503, "api_error", NULL, NULL,
                        "Service Unavailable: the server is stopping");
    else {
        api_log_simple(s, r, x->status);
        http_resp_send(r, x->status, "application/json", x->answer, strlen(x->answer));
    }
    admin_free(x);
}

void api_handle_admin(api_server_t *s, http_req_t *r, slice_t rest)
{
    if (!s->o.auth.accounts) {
        api_reply_error(s, r, 404, "invalid_request_error", NULL, NULL,
                        "the admin API needs the accounts (db = ...)");
        return;
    }
    if (!s->o.admin_token || !*s->o.admin_token) {
        api_reply_error(s, r, 403, "permission_error", NULL, NULL,
                        "the admin API is off: set admin_token");
        return;
    }
    /* the admin token only: a client key, metered or not, never reaches these routes */
    if (!gw_admin_ok(s->o.admin_token, http_req_header(r, "Authorization"))) {
        api_reply_error(s, r, 401, "authentication_error", "invalid_request_error", NULL,
                        "Authentication Fails: the admin API takes the admin token");
        return;
    }
    char path[256];
    if (rest.len >= sizeof path) {
        api_reply_error(s, r, 404, "invalid_request_error", NULL, NULL, "no such admin route");
        return;
    }
    slice_copy_cstr(path, sizeof path, rest);
    slice_t body = http_req_body(r);
    admin_req_t *x = xcalloc(1, sizeof *x);
    x->req = r;
    x->srv = s;
    snprintf(x->method, sizeof x->method, "%s", http_req_method(r));
    memcpy(x->path, path, sizeof path);
    x->body = xmalloc(body.len + 1);
    if (body.len)
        memcpy(x->body, body.ptr, body.len);
    x->body[body.len] = 0;
    x->len = body.len;
    accounts_run(s->o.auth.accounts, admin_work, admin_done, x);
    http_req_on_abort(r, admin_abort, x);
}
