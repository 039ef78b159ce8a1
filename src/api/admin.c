/* admin.c - the /admin/ routes: the accounts' keys over HTTP, for the admin token only. The
 * work runs on the accounts' database thread (gateway/admin.c); this file checks who asks and
 * carries the answer back. */
#include <stdlib.h>
#include <string.h>

#include "api/server_int.h"
#include "base/mem.h"
#include "gateway/accounts.h"

typedef struct {
    http_req_t *req;
    api_server_t *srv;
    acct_hold_t *job;
} admin_req_t;

static void admin_abort(void *ud)
{
    admin_req_t *x = ud;
    accounts_hold_cancel(x->job);
    free(x);
}

static void admin_done(void *ud, int status, char *body)
{
    admin_req_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    http_req_on_abort(r, NULL, NULL);
    free(x);
    if (!body) {
        api_reply_error(s, r, 503, "api_error", NULL, NULL,
                        "Service Unavailable: the server is stopping");
        return;
    }
    api_log_simple(s, r, status);
    http_resp_send(r, status, "application/json", body, strlen(body));
    free(body);
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
    x->job = accounts_admin(s->o.auth.accounts, http_req_method(r), path, body.ptr ? body.ptr : "",
                            body.len, admin_done, x);
    http_req_on_abort(r, admin_abort, x);
}
