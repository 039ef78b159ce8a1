/* count_tokens.c - POST /anthropic/v1/messages/count_tokens: the request translated as
 * /v1/messages would translate it, its prompt counted with seekd's tokenizer exactly as the
 * relay counts a prompt when the upstream reports no usage (backend/usage.c), on a worker. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/anthropic_parse.h"
#include "api/server_int.h"
#include "backend/usage.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/workers.h"

typedef struct {
    work_t w;
    api_server_t *srv;
    http_req_t *req;
    bool gone; /* the client left while the count ran */
    buf_t raw;
    api_anth_opts_t map;
    api_error_t err;
    bool failed;
    long count;
} count_t;

static void count_run(work_t *w)
{
    count_t *c = (count_t *)w;
    char *body = NULL;
    size_t len = 0;
    bool stream;
    if (api_anth_translate(c->raw.data ? c->raw.data : "", c->raw.len, &c->map, true, &body, &len,
                           &stream, &c->err)) {
        c->failed = true;
        return;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    free(body);
    c->count = j ? bk_count_prompt(j, BK_KIND_CHAT) : -1;
    json_decref(j);
    if (c->count < 0) {
        c->failed = true;
        api_error_set(&c->err, 500, "api_error", NULL, NULL,
                      "Tokens cannot be counted: this server was built without its tokenizer, or "
                      "the messages cannot be rendered");
    }
}

static void count_done(work_t *w)
{
    count_t *c = (count_t *)w;
    http_req_t *r = c->req;
    if (!c->gone && r) {
        http_req_on_abort(r, NULL, NULL);
        if (!w->ran) {
            api_error_set(&c->err, 503, "api_error", NULL, NULL,
                          "Service Unavailable: the server is shutting down");
            c->failed = true;
        }
        if (c->failed) {
            const char *type;
            api_log_simple(c->srv, r, api_anth_error_status(c->err.status, &type));
            api_front_send_error(API_FRONT_ANTHROPIC, r, &c->err);
        } else {
            char out[64];
            int n = snprintf(out, sizeof out, "{\"input_tokens\":%ld}", c->count);
            api_log_simple(c->srv, r, 200);
            http_resp_send(r, 200, "application/json", out, (size_t)n);
        }
    }
    buf_free(&c->raw);
    free(c);
}

static void on_abort(void *ud)
{
    count_t *c = ud;
    c->gone = true;
    c->req = NULL;
}

void api_handle_count_tokens(api_server_t *s, http_req_t *r)
{
    gw_auth_t auth;
    if (!api_authorize_front(s, r, &auth, API_FRONT_ANTHROPIC))
        return;
    slice_t raw = http_req_body(r);
    size_t refused = http_req_body_refused(r);
    if (refused || raw.len > s->o.max_body) {
        api_error_t err;
        api_error_set(&err, 413, "invalid_request_error", NULL, NULL,
                      "Request body is too large (%zu bytes; the limit is %zu)",
                      refused ? refused : raw.len, s->o.max_body);
        api_log_simple(s, r, 413);
        api_front_send_error(API_FRONT_ANTHROPIC, r, &err);
        return;
    }
    count_t *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->req = r;
    c->map = (api_anth_opts_t){s->o.anthropic_model_map, s->o.nanthropic_model_map};
    http_req_take_body(r, &c->raw);
    c->w.run = count_run;
    c->w.done = count_done;
    if (s->o.workers) {
        http_req_on_abort(r, on_abort, c);
        workers_submit(s->o.workers, &c->w);
        return;
    }
    count_run(&c->w);
    c->w.ran = true;
    count_done(&c->w);
}
