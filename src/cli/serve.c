/* serve.c - `seekd serve`: builds the server from its settings, runs the loop, reloads the
 * settings on SIGHUP without dropping a connection, and stops gracefully on SIGTERM/SIGINT. */
#include "cli/serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/error.h"
#include "api/server.h"
#include "backend/local.h"
#include "backend/upstream.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/mem.h"
#include "base/workers.h"
#include "cli/args.h"
#include "gateway/accounts.h"
#include "gateway/limiter.h"
#include "cli/config.h"
#include "http/http.h"
#include "store/store.h"

/* Settings a running server keeps: the one it runs with, and older ones whose strings an
 * answer still in flight may point into (freed at exit; a reload is rare and they are small). */
typedef struct cfg_node {
    seekd_config_t cfg;
    struct cfg_node *older;
} cfg_node_t;

/* Relays a reload replaced that still finish requests. */
typedef struct retired {
    upstream_t *up;
    struct retired *next;
} retired_t;

typedef struct {
    struct event_base *base;
    config_args_t args;
    cfg_node_t *cfgs; /* the newest first: what the server runs with */
    workers_t *workers;
    loopmon_t *loopmon;
    upstream_t *up;
    local_t *local;        /* local models (loaded once: a reload keeps them) */
    accounts_t *accounts;  /* NULL: no db given */
    gw_limiter_t *limiter; /* the per-key limits: in this process, or shared through Redis */
    gw_prices_t prices;
    api_server_t *api;
    http_server_t *http;
    retired_t *retired;
    int port;
    /* the graceful stop */
    bool stopping;
    int64_t deadline_ms;
    struct event *stop_poll;
} server_t;

static server_t g_srv;

/* ---- from settings to parts ---- */

static upstream_t *build_upstream(server_t *s, const seekd_config_t *c)
{
    pool_upstream_def_t defs[CFG_MAX_UPSTREAMS];
    for (int i = 0; i < c->nups; i++) {
        const cfg_upstream_t *u = &c->ups[i];
        defs[i] = (pool_upstream_def_t){
            .name = u->name,
            .url = u->url,
            .keys = (const char *const *)u->keys,
            .nkeys = u->nkeys,
            .models = (const char *const *)u->models,
            .nmodels = u->nmodels,
            .priority = u->priority,
            .weight = u->weight,
            .max_per_key = u->max_per_key,
        };
    }
    upstream_opts_t uo = {
        .ups = defs,
        .nups = c->nups,
        .policy = {.error_threshold = c->error_threshold,
                   .error_window_ms = c->error_window_ms,
                   .eject_ms = c->eject_ms,
                   .cooldown_ms = c->cooldown_ms},
        .connect_timeout_ms = c->connect_timeout_ms,
        .conn_idle_ms = c->upstream_idle_ms,
        .first_token_timeout_ms = c->first_token_timeout_ms,
        .idle_timeout_ms = c->idle_timeout_ms,
        .total_timeout_ms = c->total_timeout_ms,
        .request_timeout_ms = c->request_timeout_ms,
        .max_attempts = c->max_attempts,
        .queue_max = c->queue_max,
        .probe_interval_ms = c->probe_interval_ms,
        .models_refresh_ms = c->models_refresh_ms,
        .max_event = 4u << 20,
        .max_answer = 64u << 20,
        .workers = s->workers,
    };
    return upstream_new(s->base, &uo);
}

static api_server_opts_t api_opts(const server_t *s, const seekd_config_t *c, upstream_t *up)
{
    int server_keys = config_server_keys(c);
    return (api_server_opts_t){
        .base = s->base,
        .workers = s->workers,
        .loopmon = s->loopmon,
        .backend = upstream_backend(up),
        .local = s->local,
        .upstream = up,
        .auth = {.client_keys = (const char *const *)c->client_keys,
                 .nclient_keys = c->nclient_keys,
                 .server_keys = server_keys > 0,
                 .accounts = s->accounts},
        .models = (const char *const *)c->models,
        .nmodels = c->nmodels,
        .max_body = c->max_body,
        .max_answer = 16u << 20,
        .keepalive_ms = c->keepalive_ms,
        .max_output = c->max_output,
        .token_check_per_min = c->token_check_per_min,
        .access = {.strict = server_keys > 0 && c->nclient_keys == 0,
                   .cors_origins = (const char *const *)c->cors_origins,
                   .ncors_origins = c->ncors_origins,
                   .allowed_hosts = (const char *const *)c->allowed_hosts,
                   .nallowed_hosts = c->nallowed_hosts,
                   .trusted_proxies = (const char *const *)c->trusted_proxies,
                   .ntrusted_proxies = c->ntrusted_proxies},
        .admin_token = c->admin_token,
        .prices = s->accounts ? &s->prices : NULL,
        .hold_max_tokens = c->hold_max_tokens,
        .hold_image_tokens = c->hold_image_tokens,
        .metrics_off = c->metrics_off,
        .anthropic_model_map =
            c->nanthropic_model_map ? (const char *const *)c->anthropic_model_map : NULL,
        .nanthropic_model_map = c->nanthropic_model_map,
        .limiter = s->limiter,
    };
}

static http_opts_t http_opts(const seekd_config_t *c)
{
    return (http_opts_t){.max_body = c->max_body,
                         .max_output = c->max_output,
                         .idle_timeout_ms = c->client_timeout_ms,
                         .error_body = api_http_error_body,
                         .on_head = api_server_head,
                         .header_timeout_ms = c->header_timeout_ms,
                         .min_body_rate = c->min_body_rate,
                         .max_connections = (int)c->max_connections,
                         .max_connections_per_ip = (int)c->max_connections_per_ip,
                         .per_ip_loopback = c->per_ip_set,
                         .max_body_total = c->max_body_total};
}

static const char *mode_name(const seekd_config_t *c)
{
    return config_server_keys(c) ? (c->nclient_keys ? "server keys, client keys required"
                                                    : "server keys, no client auth")
                                 : "clients bring their own keys";
}

static void log_upstreams(const seekd_config_t *c)
{
    for (int i = 0; i < c->nups; i++) {
        const cfg_upstream_t *u = &c->ups[i];
        char keys[CFG_MAX_LIST * (LOG_KEY_ID_LEN + 1) + 1] = "";
        size_t off = 0;
        for (int k = 0; k < u->nkeys; k++) {
            char id[LOG_KEY_ID_SIZE];
            log_key_id(u->keys[k], strlen(u->keys[k]), id);
            off += (size_t)snprintf(keys + off, sizeof keys - off, "%s%s", k ? "," : "", id);
        }
        log_info("upstream %s %s priority=%d weight=%d key_ids=[%s] models=%s%s", u->name, u->url,
                 u->priority, u->weight, keys, u->models[0], u->nmodels > 1 ? ",..." : "");
    }
}

/* The per-key limits: shared through Redis when the settings name one (it connects in the
 * background; until it answers, this instance enforces its share alone). */
static int start_limiter(server_t *s, const seekd_config_t *c)
{
    gw_redis_url_t url;
    char err[512];
    if (c->redis && gw_redis_url_parse(c->redis, &url, err, sizeof err)) {
        fprintf(stderr, "seekd: %s\n", err); /* config_set checked it already */
        return -1;
    }
    gw_limiter_opts_t lo = {.base = s->base,
                            .redis = c->redis ? &url : NULL,
                            .instances = c->redis_instances,
                            .timeout_ms = c->redis_timeout_ms};
    s->limiter = gw_limiter_new(&lo, err, sizeof err);
    if (c->redis) {
        char where[300];
        gw_redis_url_where(&url, where, sizeof where);
        gw_redis_url_wipe(&url);
        if (!s->limiter) {
            fprintf(stderr, "seekd: %s\n", err);
            return -1;
        }
        log_info("per-key limits shared through redis %s by %d instance%s (timeout %ld ms)", where,
                 c->redis_instances, c->redis_instances == 1 ? "" : "s", c->redis_timeout_ms);
    }
    return 0;
}

/* ---- reload (SIGHUP) ---- */

static void on_retired_idle(void *ud, upstream_t *up)
{
    server_t *s = ud;
    for (retired_t **pp = &s->retired; *pp; pp = &(*pp)->next) {
        if ((*pp)->up == up) {
            retired_t *r = *pp;
            *pp = r->next;
            free(r);
            break;
        }
    }
    log_info("reload: the replaced upstream pool has finished its last request");
    upstream_free(up);
}

/* Reads the settings again, exactly as at start (same file, flags and environment), and
 * applies them to new connections and requests. Invalid settings change nothing. */
static bool same_local_model(const cfg_local_model_t *a, const cfg_local_model_t *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->path, b->path) && a->threads == b->threads &&
           a->ctx == b->ctx && a->slots == b->slots && a->queue == b->queue &&
           !strcmp(a->chat_template, b->chat_template);
}

static void reload(server_t *s)
{
    const seekd_config_t *cur = &s->cfgs->cfg;
    cfg_node_t *n = xcalloc(1, sizeof *n);
    char err[1024];
    if (config_build(&n->cfg, &s->args, err, sizeof err)) {
        log_set_level((log_level_t)cur->log_level); /* config_build may have set it */
        log_error("reload: %s; still running with the settings loaded before", err);
        config_free(&n->cfg);
        free(n);
        return;
    }
    const seekd_config_t *c = &n->cfg;
    upstream_t *up = build_upstream(s, c);
    if (!up) {
        log_set_level((log_level_t)cur->log_level);
        log_error("reload: the new upstreams cannot start; still running with the settings "
                  "loaded before");
        config_free(&n->cfg);
        free(n);
        return;
    }
    if (strcmp(c->listen_host, cur->listen_host) != 0 || c->listen_port != cur->listen_port)
        log_warn("reload: listen stays %s:%d until a restart (the settings say %s:%d)",
                 cur->listen_host, s->port, c->listen_host, c->listen_port);
    if (strcmp(c->redis ? c->redis : "", cur->redis ? cur->redis : "") != 0 ||
        c->redis_instances != cur->redis_instances || c->redis_timeout_ms != cur->redis_timeout_ms)
        log_warn("reload: redis, redis_instances and redis_timeout_ms stay as they were until a "
                 "restart");
    bool models_same = c->nlmodels == cur->nlmodels;
    for (int i = 0; models_same && i < c->nlmodels; i++)
        models_same = same_local_model(&c->lmodels[i], &cur->lmodels[i]);
    if (!models_same)
        log_warn("reload: the local models ([model] sections, --model) stay as they were loaded "
                 "until a restart");
    n->older = s->cfgs;
    s->cfgs = n;
    upstream_t *old = s->up;
    upstream_models_adopt(up, old);
    s->up = up;
    api_server_opts_t ao = api_opts(s, c, up);
    api_server_reconfigure(s->api, &ao);
    http_opts_t ho = http_opts(c);
    http_server_reconfigure(s->http, &ho);
    retired_t *r = xcalloc(1, sizeof *r);
    r->up = old;
    r->next = s->retired;
    s->retired = r;
    upstream_retire(old, on_retired_idle, s); /* may run on_retired_idle later, not now */
    log_info("reload: settings applied (%s, log level %s); requests in flight finish as they "
             "began",
             mode_name(c), log_level_name((log_level_t)c->log_level));
    log_upstreams(c);
}

/* ---- the graceful stop (SIGTERM, SIGINT) ---- */

/* The first SIGTERM/SIGINT stops accepting and lets answers in flight finish for
 * shutdown_grace_ms, then ends the rest; a second signal exits at once. */
static void on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_t *s = arg;
    int left = api_server_active(s->api);
    if (left > 0 && mono_ms() < s->deadline_ms)
        return;
    if (left > 0) {
        log_warn("shutdown: %d answer%s still in flight after %ld ms: ending %s", left,
                 left == 1 ? "" : "s", s->cfgs->cfg.shutdown_grace_ms, left == 1 ? "it" : "them");
        api_server_shutdown(s->api);
    }
    event_del(s->stop_poll);
    /* what was just written (the last answers, error events) leaves before the loop ends */
    struct timeval tv = {0, 50000};
    event_base_loopexit(s->base, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    server_t *s = arg;
    if (sig == SIGHUP) {
        if (s->stopping)
            log_info("signal %d: stopping, not reloading", (int)sig);
        else
            reload(s);
        return;
    }
    if (s->stopping) {
        log_warn("signal %d again: exiting now", (int)sig);
        event_base_loopbreak(s->base);
        return;
    }
    s->stopping = true;
    long grace = s->cfgs->cfg.shutdown_grace_ms;
    int busy = api_server_active(s->api);
    log_info("signal %d: shutting down; no new connections, %d answer%s in flight may take up "
             "to %ld ms",
             (int)sig, busy, busy == 1 ? "" : "s", grace);
    http_server_drain(s->http);
    s->deadline_ms = mono_ms() + grace;
    s->stop_poll = event_new(s->base, -1, EV_PERSIST, on_stop_poll, s);
    struct timeval tv = {0, 20000};
    event_add(s->stop_poll, &tv);
    on_stop_poll(-1, 0, s);
}

/* Loads the local models (before listening: a bad file is a startup error) and refuses a
 * name an upstream also serves by name. */
static int start_local(server_t *s, const seekd_config_t *c)
{
    local_model_def_t defs[CFG_MAX_LOCAL];
    for (int i = 0; i < c->nlmodels; i++) {
        const cfg_local_model_t *m = &c->lmodels[i];
        defs[i] = (local_model_def_t){
            .name = m->name[0] ? m->name : NULL,
            .path = m->path,
            .threads = m->threads,
            .ctx = m->ctx,
            .chat_template = m->chat_template[0] ? m->chat_template : NULL,
            .slots = m->slots,
            .queue = m->queue,
        };
    }
    char err[1024];
    s->local = local_new(s->base, defs, c->nlmodels, err, sizeof err);
    if (!s->local) {
        fprintf(stderr, "seekd: %s\n", err);
        return -1;
    }
    for (int i = 0; i < local_count(s->local); i++) {
        const char *name = local_name(s->local, i);
        for (int u = 0; u < c->nups; u++)
            for (int k = 0; k < c->ups[u].nmodels; k++)
                if (!strcmp(c->ups[u].models[k], name)) {
                    fprintf(stderr,
                            "seekd: model '%s' is served both locally and by upstream %s: "
                            "name the local one differently (--model-name)\n",
                            name, c->ups[u].name);
                    return -1;
                }
    }
    return 0;
}

/* ---- the command ---- */

static int parse_args(int argc, char **argv, config_args_t *args, const char **port_file)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},
        {"upstream", required_argument, 0, 'u'},
        {"config", required_argument, 0, 'c'},
        {"allow-open", no_argument, 0, 'o'},
        {"log-level", required_argument, 0, 'v'},
        {"port-file", required_argument, 0, 'p'},
        {"db", required_argument, 0, 'd'},
        {"redis", required_argument, 0, 'R'},
        {"model", required_argument, 0, 'M'},
        {"model-name", required_argument, 0, 'N'},
        {"threads", required_argument, 0, 'T'},
        {"ctx", required_argument, 0, 'C'},
        {"chat-template", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":l:u:c:ov:p:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            args->listen = optarg;
            break;
        case 'u':
            args->upstream = optarg;
            break;
        case 'c':
            args->config_path = optarg;
            break;
        case 'o':
            args->allow_open = true;
            break;
        case 'v':
            args->log_level = optarg;
            break;
        case 'p':
            *port_file = optarg;
            break;
        case 'd':
            args->db = optarg;
            break;
        case 'R':
            args->redis = optarg;
            break;
        case 'M':
            if (args->nmodel_args >= CFG_MAX_LOCAL) {
                fprintf(stderr, "seekd serve: at most %d --model\n", CFG_MAX_LOCAL);
                return 2;
            }
            args->model_paths[args->nmodel_args++] = optarg;
            break;
        case 'N':
            if (args->nmodel_args == 0 || args->model_names[args->nmodel_args - 1]) {
                fprintf(stderr, "seekd serve: --model-name names the --model before it\n");
                return 2;
            }
            args->model_names[args->nmodel_args - 1] = optarg;
            break;
        case 'T':
            args->threads = optarg;
            break;
        case 'C':
            args->ctx = optarg;
            break;
        case 'P':
            args->chat_template = optarg;
            break;
        case 'h':
            fputs(cli_usage, stdout);
            return 0;
        default:
            return cli_bad_flag("serve", ch, argc, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "seekd serve: unexpected argument '%s'\nsee 'seekd serve --help'\n",
                argv[optind]);
        return 2;
    }
    return -1; /* go on */
}

int cli_serve_main(int argc, char **argv)
{
    server_t *s = &g_srv;
    const char *port_file = NULL;
    int rc = parse_args(argc, argv, &s->args, &port_file);
    if (rc >= 0)
        return rc;
    s->args.env_keys = getenv("DEEPSEEK_API_KEY");
    s->cfgs = xcalloc(1, sizeof *s->cfgs);
    seekd_config_t *cfg = &s->cfgs->cfg;
    char err[1024];
    if (config_build(cfg, &s->args, err, sizeof err)) {
        fprintf(stderr, "seekd: %s\n", err);
        config_free(cfg);
        free(s->cfgs);
        return 2;
    }

    /* Many concurrent streams need many descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit (ulimit -f) reached by the accounts database must be a write error the
     * store reports (SQLite: "database or disk is full"), not a signal that kills the server
     * with every answer in flight. */
    signal(SIGXFSZ, SIG_IGN);
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* The changelist folds an event's del+add within one loop pass into one epoll_ctl. */
    struct event_config *ecfg = event_config_new();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    s->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    /* CPU-heavy work (token counts, large bodies) runs here, off the loop: one thread a core */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->workers = workers_new(s->base, ncpu > 0 ? (int)ncpu : 1);
    if (cfg->db[0]) {
        /* prices: DeepSeek's, then the config's versions and holidays (checked at load) */
        gw_prices_init(&s->prices);
        for (int i = 0; i < cfg->nprices; i++) {
            gw_price_t p;
            if (gw_price_parse(cfg->prices[i], &p, err, sizeof err) ||
                gw_prices_add(&s->prices, &p, err, sizeof err)) {
                fprintf(stderr, "seekd: price: %s\n", err);
                return 2;
            }
        }
        gw_prices_add_defaults(&s->prices);
        for (int i = 0; i < cfg->nholidays; i++)
            gw_prices_add_holiday(&s->prices, cfg->holidays[i], err, sizeof err);
        s->accounts = accounts_open(s->base, cfg->db, cfg->instance_lease_ms, err, sizeof err);
        if (!s->accounts) {
            fprintf(stderr, "seekd: accounts: %s\n", err);
            return 1;
        }
        if (!config_is_loopback(cfg->listen_host) && config_server_keys(cfg) > 0 &&
            cfg->nclient_keys == 0 && !cfg->allow_open && !accounts_active(s->accounts)) {
            char shown[sizeof cfg->db];
            store_url_redact(cfg->db, shown, sizeof shown); /* never a password on stderr */
            fprintf(stderr,
                    "seekd: refusing to listen on %s: the server holds upstream keys and "
                    "the accounts database %s has no key yet, so anyone who can reach it "
                    "could spend them.\n       Add one with 'seekd keys create --db %s', "
                    "listen on 127.0.0.1, or pass --allow-open.\n",
                    cfg->listen_host, shown, shown);
            return 2;
        }
    }
    if (cfg->nlmodels > 0 && start_local(s, cfg))
        return 1;
    s->up = build_upstream(s, cfg);
    if (!s->up) {
        fprintf(stderr, "seekd: cannot start libcurl\n");
        return 1;
    }
    if (start_limiter(s, cfg))
        return 1;
    s->loopmon = loopmon_new(s->base);
    api_server_opts_t ao = api_opts(s, cfg, s->up);
    s->api = api_server_new(&ao);
    http_opts_t ho = http_opts(cfg);
    s->http = http_server_new(s->base, &ho, api_server_handle, s->api);
    if (http_server_listen(s->http, cfg->listen_host, cfg->listen_port, &s->port)) {
        fprintf(stderr, "seekd: cannot listen on %s:%d: %s\n", cfg->listen_host, cfg->listen_port,
                strerror(errno));
        return 1;
    }
    api_server_set_listen(s->api, cfg->listen_host, s->port);
    log_info("seekd %s listening on http://%s:%d (%s)", SEEKD_VERSION, cfg->listen_host, s->port,
             mode_name(cfg));
    log_upstreams(cfg);

    struct event *sigs[3];
    const int signos[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(s->base, signos[i], on_signal, s);
        event_add(sigs[i], NULL);
    }
    /* last: whoever waits for the port file finds the start-up logged and the signals handled */
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", s->port);
            fclose(f);
        }
    }
    event_base_dispatch(s->base);

    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    if (s->stop_poll)
        event_free(s->stop_poll);
    workers_free(s->workers); /* hands back the work in flight while its answers still exist */
    http_server_free(s->http);
    api_server_free(s->api);
    gw_limiter_free(s->limiter); /* before the base: it holds events on it */
    accounts_free(s->accounts);  /* after the last answer: its settle is queued by then */
    if (s->accounts)
        gw_prices_free(&s->prices);
    loopmon_free(s->loopmon);
    local_free(s->local);
    upstream_free(s->up);
    while (s->retired) {
        retired_t *r = s->retired;
        s->retired = r->next;
        upstream_free(r->up);
        free(r);
    }
    event_base_free(s->base);
    curl_global_cleanup();
    while (s->cfgs) {
        cfg_node_t *n = s->cfgs;
        s->cfgs = n->older;
        config_free(&n->cfg);
        free(n);
    }
    libevent_global_shutdown();
    return 0;
}
