/* main.c - fake DeepSeek upstream for tests and benchmarks: CLI, listener, routing, auth and the
 * /_fake control routes. See README.md beside this file for the contract. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fake.h"

#define MAX_KEY_FAULTS 64
#define MAX_BODY (16 * 1024 * 1024)

fake_stats_t g_stats;
int g_quiet;

static struct {
    const char *fixtures;
    struct {
        char key[128];
        fake_fault_t fault;
        int delay_ms;
    } key_faults[MAX_KEY_FAULTS];
    int n_key_faults;
    struct event_base *base;
    json_t *models; /* the data array GET /models answers; POST /_fake/models replaces it */
} g;

/* The current key faults as {"key": "fault[:delay]"}. */
static json_t *key_faults_json(void)
{
    json_t *o = json_object();
    for (int i = 0; i < g.n_key_faults; i++) {
        char v[64];
        const char *name = fake_fault_name(g.key_faults[i].fault);
        if (g.key_faults[i].delay_ms > 0)
            snprintf(v, sizeof(v), "%s:%d", name, g.key_faults[i].delay_ms);
        else
            snprintf(v, sizeof(v), "%s", name);
        json_object_set_new(o, g.key_faults[i].key, json_string(v));
    }
    return o;
}

/* Sets (fault given) or clears (fault null, "none" or absent) the fault of one key. Returns 0,
 * or -1 with *why set. */
static int set_key_fault(const char *key, const char *fault, int delay_ms, const char **why)
{
    int idx = -1;
    for (int i = 0; i < g.n_key_faults; i++)
        if (strcmp(g.key_faults[i].key, key) == 0)
            idx = i;
    fake_fault_t f = FAULT_NONE;
    if (fault && fake_fault_parse(fault, &f) < 0) {
        *why = "unknown fault";
        return -1;
    }
    if (f == FAULT_NONE) {
        if (idx >= 0) {
            g.key_faults[idx] = g.key_faults[g.n_key_faults - 1];
            g.n_key_faults--;
        }
        return 0;
    }
    if (idx < 0) {
        if (g.n_key_faults == MAX_KEY_FAULTS) {
            *why = "too many key faults";
            return -1;
        }
        idx = g.n_key_faults++;
        snprintf(g.key_faults[idx].key, sizeof(g.key_faults[0].key), "%s", key);
    }
    g.key_faults[idx].fault = f;
    g.key_faults[idx].delay_ms = delay_ms;
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fake_upstream [--listen HOST:PORT] [--port-file FILE] [--fixtures DIR]\n"
            "                     [--key-fault KEY=FAULT[:DELAY_MS]]... [--blackhole HOST:PORT]\n"
            "                     [--quiet]\n");
    exit(2);
}

/* ---- stats ---- */

static void stats_reset(void)
{
    long active = g_stats.active;
    json_t *active_by_key = g_stats.active_by_key ? g_stats.active_by_key : json_object();
    json_decref(g_stats.by_key);
    json_decref(g_stats.last_request);
    json_decref(g_stats.cancel_events);
    json_decref(g_stats.max_active_by_key);
    json_decref(g_stats.paths_by_key);
    json_decref(g_stats.tags);
    memset(&g_stats, 0, sizeof(g_stats));
    g_stats.active = active;
    g_stats.by_key = json_object();
    g_stats.cancel_events = json_array();
    g_stats.active_by_key = active_by_key;
    /* the peak starts from what is in flight now */
    g_stats.max_active_by_key = json_deep_copy(active_by_key);
    g_stats.paths_by_key = json_object();
    g_stats.tags = json_array();
    plan_cache_reset();
}

static void stats_free(void)
{
    json_decref(g_stats.by_key);
    json_decref(g_stats.last_request);
    json_decref(g_stats.cancel_events);
    json_decref(g_stats.active_by_key);
    json_decref(g_stats.max_active_by_key);
    json_decref(g_stats.paths_by_key);
    json_decref(g_stats.tags);
    memset(&g_stats, 0, sizeof(g_stats));
}

void stats_key_active(const char *key, int delta)
{
    if (!key)
        key = "";
    json_t *c = json_object_get(g_stats.active_by_key, key);
    json_int_t n = (c ? json_integer_value(c) : 0) + delta;
    json_object_set_new(g_stats.active_by_key, key, json_integer(n));
    json_t *m = json_object_get(g_stats.max_active_by_key, key);
    if (!m || json_integer_value(m) < n)
        json_object_set_new(g_stats.max_active_by_key, key, json_integer(n));
}

static void count_in(json_t *obj, const char *name)
{
    json_t *c = json_object_get(obj, name);
    json_object_set_new(obj, name, json_integer(c ? json_integer_value(c) + 1 : 1));
}

static void send_json(struct evhttp_request *req, int status, json_t *j)
{
    if (!j) {
        send_error(req, 500, "server_error", "fake_upstream: cannot encode the answer");
        return;
    }
    char *js = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, js, strlen(js));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
    free(js);
}

static void route_stats(struct evhttp_request *req)
{
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:O,s:O,s:s,s:s,s:O,s:O,s:O,s:O,s:O,s:o}", "requests",
        (json_int_t)g_stats.requests, "completed", (json_int_t)g_stats.completed, "cancelled",
        (json_int_t)g_stats.cancelled, "aborted", (json_int_t)g_stats.aborted, "active",
        (json_int_t)g_stats.active, "by_key", g_stats.by_key, "last_request",
        g_stats.last_request ? g_stats.last_request : json_null(), "last_path", g_stats.last_path,
        "last_authorization", g_stats.last_authorization, "cancel_events", g_stats.cancel_events,
        "active_by_key", g_stats.active_by_key, "max_active_by_key", g_stats.max_active_by_key,
        "paths_by_key", g_stats.paths_by_key, "tags", g_stats.tags, "key_faults",
        key_faults_json());
    send_json(req, 200, j);
    json_decref(j);
}

/* ---- API routes ---- */

/* Today's DeepSeek list: what GET /models answers until POST /_fake/models replaces it. */
static json_t *default_models(void)
{
    return json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "id", "deepseek-flash", "object", "model",
                     "owned_by", "deepseek", "id", "deepseek-v4-pro", "object", "model", "owned_by",
                     "deepseek");
}

static void route_models(struct evhttp_request *req)
{
    json_t *j = json_pack("{s:s,s:O}", "object", "list", "data", g.models);
    send_json(req, 200, j);
    json_decref(j);
}

static void route_balance(struct evhttp_request *req)
{
    json_t *j = json_pack("{s:b,s:[{s:s,s:s,s:s,s:s}]}", "is_available", 1, "balance_infos",
                          "currency", "CNY", "total_balance", "110.00", "granted_balance", "10.00",
                          "topped_up_balance", "100.00");
    send_json(req, 200, j);
    json_decref(j);
}

static void route_completion(struct evhttp_request *req, int fim, const char *key, const char *skey,
                             fake_fault_t kf, int kdelay)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_error_t err;
    json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, &err);
    char msg[300];
    if (!body || !json_is_object(body)) {
        snprintf(
            msg, sizeof(msg),
            "Failed to deserialize the JSON body into the target type: %s at line %d column %d",
            body ? "expected an object" : err.text, err.line, err.column);
        json_decref(body);
        send_error(req, 400, "invalid_request_error", msg);
        g_stats.completed++;
        return;
    }
    plan_fake_from_system(body);
    json_decref(g_stats.last_request);
    g_stats.last_request = body;
    json_t *tag = json_object_get(json_object_get(body, "fake"), "tag");
    if (tag && (json_is_string(tag) || json_is_number(tag))) {
        json_array_append(g_stats.tags, tag);
        if (json_array_size(g_stats.tags) > 20000)
            json_array_remove(g_stats.tags, 0);
    }

    plan_t plan;
    int status = 500;
    if (plan_build(&plan, body, fim, kf, kdelay, g.fixtures, &status, msg, sizeof(msg)) < 0) {
        send_error(req, status, status >= 500 ? "server_error" : "invalid_request_error", msg);
        g_stats.completed++;
        return;
    }
    if (!g_quiet)
        fprintf(stderr, "fake_upstream: %s stream=%d scenario=%d fault=%d\n", g_stats.last_path,
                plan.stream, plan.scenario, plan.fault);
    if (fake_fault_is_status(plan.fault)) {
        send_status_fault(req, plan.fault, plan.retry_after, key);
        plan_free(&plan);
        g_stats.completed++;
        return;
    }
    stream_start(g.base, req, &plan, skey);
}

/* POST /_fake/key-fault {"key":"sk-...","fault":"500"|null,"delay_ms":N}: sets or clears a key's
 * fault at runtime (what --key-fault sets at start). Answers the resulting key_faults. */
static void route_key_fault(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        send_error(req, 405, "invalid_request_error", "Method Not Allowed");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, NULL);
    const char *key = json_string_value(json_object_get(body, "key"));
    json_t *jf = json_object_get(body, "fault");
    const char *why = NULL;
    if (!json_is_object(body) || !key || !*key || strlen(key) >= sizeof(g.key_faults[0].key)) {
        why = "body must be {\"key\": \"...\", \"fault\": \"...\" or null}";
    } else if (jf && !json_is_null(jf) && !json_is_string(jf)) {
        why = "fault must be a string or null";
    } else {
        json_t *jd = json_object_get(body, "delay_ms");
        int delay = json_is_integer(jd) ? (int)json_integer_value(jd) : 0;
        set_key_fault(key, json_string_value(jf), delay < 0 ? 0 : delay, &why);
    }
    json_decref(body);
    if (why) {
        send_error(req, 400, "invalid_request_error", why);
        return;
    }
    json_t *j = json_pack("{s:o}", "key_faults", key_faults_json());
    send_json(req, 200, j);
    json_decref(j);
}

/* POST /_fake/models {"data":[...]}: the array GET /models answers from now on, kept as sent
 * (entries of any shape, so a test can play a hostile upstream). Answers the new list. */
static void route_set_models(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        send_error(req, 405, "invalid_request_error", "Method Not Allowed");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, NULL);
    json_t *data = json_object_get(body, "data");
    if (!json_is_array(data)) {
        json_decref(body);
        send_error(req, 400, "invalid_request_error", "body must be {\"data\": [...]}");
        return;
    }
    json_decref(g.models);
    g.models = json_incref(data);
    json_decref(body);
    route_models(req);
}

/* Stats are JSON: bytes outside printable ASCII (a garbled header) become '?' there. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

static const char *bearer_key(struct evhttp_request *req)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

static int key_fault(const char *key, fake_fault_t *f, int *delay)
{
    for (int i = 0; key && i < g.n_key_faults; i++) {
        if (strcmp(g.key_faults[i].key, key) == 0) {
            *f = g.key_faults[i].fault;
            *delay = g.key_faults[i].delay_ms;
            return 1;
        }
    }
    return 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri, "?");
    char path[256];
    snprintf(path, sizeof(path), "%.*s", (int)(plen < sizeof(path) - 1 ? plen : sizeof(path) - 1),
             uri);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);

    if (strcmp(path, "/_fake/stats") == 0) {
        route_stats(req);
        return;
    }
    if (strcmp(path, "/_fake/key-fault") == 0) {
        route_key_fault(req);
        return;
    }
    if (strcmp(path, "/_fake/models") == 0) {
        route_set_models(req);
        return;
    }
    if (strcmp(path, "/_fake/reset") == 0) {
        stats_reset();
        json_t *empty = json_object();
        send_json(req, 200, empty);
        json_decref(empty);
        return;
    }

    int chat = strcmp(path, "/chat/completions") == 0 ||
               strcmp(path, "/v1/chat/completions") == 0 ||
               strcmp(path, "/beta/chat/completions") == 0;
    int fim = strcmp(path, "/beta/completions") == 0 || strcmp(path, "/v1/beta/completions") == 0;
    int models = strcmp(path, "/models") == 0 || strcmp(path, "/v1/models") == 0;
    int balance = strcmp(path, "/user/balance") == 0 || strcmp(path, "/v1/user/balance") == 0;

    g_stats.requests++;
    snprintf(g_stats.last_path, sizeof(g_stats.last_path), "%s", path);
    printable(g_stats.last_path);
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    snprintf(g_stats.last_authorization, sizeof(g_stats.last_authorization), "%s",
             auth ? auth : "");
    printable(g_stats.last_authorization);
    const char *key = bearer_key(req);
    char skey[128]; /* the key as the stats show it */
    snprintf(skey, sizeof(skey), "%s", key ? key : "");
    printable(skey);
    if (key) {
        count_in(g_stats.by_key, skey);
        json_t *paths = json_object_get(g_stats.paths_by_key, skey);
        if (!paths) {
            paths = json_object();
            json_object_set_new(g_stats.paths_by_key, skey, paths);
        }
        count_in(paths, g_stats.last_path);
    }

    if (!chat && !fim && !models && !balance) {
        send_error(req, 404, "invalid_request_error", "Not Found");
        g_stats.completed++;
        return;
    }
    if ((chat || fim) != (m == EVHTTP_REQ_POST) || ((models || balance) && m != EVHTTP_REQ_GET)) {
        send_error(req, 405, "invalid_request_error", "Method Not Allowed");
        g_stats.completed++;
        return;
    }
    if (!key || strncmp(key, "sk-bad", 6) == 0) {
        send_status_fault(req, FAULT_401, 0, key);
        g_stats.completed++;
        return;
    }
    fake_fault_t kf = FAULT_NONE;
    int kdelay = 0;
    key_fault(key, &kf, &kdelay);
    if (chat || fim) {
        route_completion(req, fim, key, skey, kf, kdelay);
        return;
    }
    if (fake_fault_is_status(kf))
        send_status_fault(req, kf, 1, key);
    else if (models)
        route_models(req);
    else
        route_balance(req);
    g_stats.completed++;
}

/* ---- startup ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Parses "IPV4:PORT" into sa. Returns 0 or -1. */
static int parse_spec(const char *spec, struct sockaddr_in *sa)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Binds host:port (port 0: ephemeral) with a deep backlog; returns the fd and the bound port. */
static int listen_on(const char *spec, int *port_out)
{
    struct sockaddr_in sa;
    if (parse_spec(spec, &sa) < 0)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t sl = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    *port_out = ntohs(sa.sin_port);
    return fd;
}

/* A host that drops SYNs, for connect-timeout tests: HOST:PORT listens with a backlog of 0
 * and is never accepted from; one connection of our own fills its queue, so the kernel drops
 * every later SYN and a client's connect() hangs. Returns 0 or -1. */
static int blackhole(const char *spec)
{
    struct sockaddr_in sa;
    if (parse_spec(spec, &sa) < 0 || !sa.sin_port)
        return -1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 0) < 0)
        return -1;
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (filler < 0 || connect(filler, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    return 0; /* both stay open until the process exits */
}

static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void add_key_fault(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || g.n_key_faults == MAX_KEY_FAULTS ||
        (size_t)(eq - arg) >= sizeof(g.key_faults[0].key))
        usage();
    char name[64];
    snprintf(name, sizeof(name), "%s", eq + 1);
    char *colon = strchr(name, ':');
    int delay = 0;
    if (colon) {
        *colon = '\0';
        delay = atoi(colon + 1);
    }
    fake_fault_t f;
    if (fake_fault_parse(name, &f) < 0) {
        fprintf(stderr, "fake_upstream: unknown fault %s\n", name);
        exit(2);
    }
    snprintf(g.key_faults[g.n_key_faults].key, sizeof(g.key_faults[0].key), "%.*s", (int)(eq - arg),
             arg);
    g.key_faults[g.n_key_faults].fault = f;
    g.key_faults[g.n_key_faults].delay_ms = delay;
    g.n_key_faults++;
}

int main(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:0", *port_file = NULL, *blackhole_spec = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quiet") == 0) {
            g_quiet = 1;
        } else if (i + 1 < argc && strcmp(a, "--listen") == 0) {
            listen_spec = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--port-file") == 0) {
            port_file = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--fixtures") == 0) {
            g.fixtures = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--key-fault") == 0) {
            add_key_fault(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--blackhole") == 0) {
            blackhole_spec = argv[++i];
        } else {
            usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    stats_reset();
    g.models = default_models();

    if (blackhole_spec && blackhole(blackhole_spec) < 0) {
        fprintf(stderr, "fake_upstream: cannot make a blackhole at %s: %s\n", blackhole_spec,
                strerror(errno));
        return 1;
    }
    int port, fd = listen_on(listen_spec, &port);
    if (fd < 0) {
        fprintf(stderr, "fake_upstream: cannot listen on %s: %s\n", listen_spec, strerror(errno));
        return 1;
    }
    g.base = event_base_new();
    struct evhttp *http = evhttp_new(g.base);
    if (!g.base || !http || !evhttp_accept_socket_with_handle(http, fd)) {
        fprintf(stderr, "fake_upstream: libevent setup failed\n");
        return 1;
    }
    evhttp_set_max_body_size(http, MAX_BODY);
    evhttp_set_timeout(http,
                       3600); /* a stalled stream must stay open as long as the client waits */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_PATCH);
    evhttp_set_gencb(http, on_request, NULL);

    struct event *sigterm = evsignal_new(g.base, SIGTERM, on_signal, g.base);
    struct event *sigint = evsignal_new(g.base, SIGINT, on_signal, g.base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);

    if (port_file && write_port_file(port_file, port) < 0) {
        fprintf(stderr, "fake_upstream: cannot write %s: %s\n", port_file, strerror(errno));
        return 1;
    }
    char host[128];
    snprintf(host, sizeof(host), "%.*s", (int)(strrchr(listen_spec, ':') - listen_spec),
             listen_spec);
    printf("listening %s:%d\n", host, port);
    fflush(stdout);

    event_base_dispatch(g.base);

    evhttp_free(http); /* closes every connection; open streams count as cancelled */
    event_free(sigterm);
    event_free(sigint);
    event_base_free(g.base);
    stats_free();
    json_decref(g.models);
    plan_cache_reset();
    fixtures_free();
    if (!g_quiet)
        fprintf(stderr, "fake_upstream: stopped\n");
    return 0;
}
