/* main.c - the seekd command line: serve, check, tokenize, --help, --version. */
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
#include "backend/upstream.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/workers.h"
#include "cli/args.h"
#include "cli/check_cmd.h"
#include "cli/config.h"
#include "cli/tokenize_cmd.h"
#include "http/http.h"

static const char USAGE[] =
    "seekd " SEEKD_VERSION " - a DeepSeek-compatible API server\n"
    "\n"
    "Usage:\n"
    "  seekd serve [--listen HOST:PORT] [--upstream URL] [--config FILE] [--allow-open]\n"
    "              [--log-level LEVEL] [--port-file FILE]\n"
    "  seekd check [--config FILE] [--probe] [--listen HOST:PORT] [--upstream URL]\n"
    "              [--allow-open] [--log-level LEVEL]\n"
    "  seekd tokenize [--tokenizer FILE|--family NAME] [--chat] [--template T] [--special]\n"
    "                 [--bos] [--count] [--jsonl] [TEXT|-]\n"
    "  seekd --help | --version\n"
    "\n"
    "serve   Serve the DeepSeek API (POST /chat/completions, /beta/chat/completions,\n"
    "        /beta/completions; GET /models, /user/balance, /health, /ping), relaying to an\n"
    "        OpenAI-compatible upstream.\n"
    "          --listen HOST:PORT  where to listen (default 127.0.0.1:8000; port 0 = any)\n"
    "          --upstream URL      upstream base URL (default https://api.deepseek.com)\n"
    "          --config FILE       settings file, 'key = value' lines (see docs/config.md)\n"
    "          --allow-open        allow listening beyond loopback with server-side keys and\n"
    "                              no client_key (an open relay of your paid key!)\n"
    "          --log-level LEVEL   debug, info, warn, error or off (default info)\n"
    "          --port-file FILE    write the bound port there once listening\n"
    "check   Validate the settings exactly as serve would (same flags, same environment) and\n"
    "        exit: 0 fit to run, 2 invalid (as serve exits), 3 a probe failed.\n"
    "          --probe             also GET /models from each upstream with each of its keys\n"
    "tokenize  Print the token ids of TEXT (or stdin) as one line, exactly as DeepSeek counts\n"
    "        them; --count prints only the count, --jsonl reads one JSON string per line.\n"
    "        Families: deepseek-v3 (default, built in), deepseek-llm, deepseek-coder, qwen2,\n"
    "        gpt2, llama-spm (these need --tokenizer FILE: a GGUF or tokenizer.json).\n"
    "\n"
    "Environment:\n"
    "  DEEPSEEK_API_KEY   server-side upstream key(s), comma-separated. Without any server key\n"
    "                     each client's own 'Authorization: Bearer ...' is used upstream.\n";

static struct event_base *g_base;

/* A graceful stop: the first SIGTERM/SIGINT stops accepting and lets answers in flight finish
 * for shutdown_grace_ms, then ends the rest; a second signal exits at once. */
static struct {
    http_server_t *http;
    api_server_t *api;
    long grace_ms;
    int64_t deadline_ms;
    struct event *poll;
    bool stopping;
} g_stop;

static void on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    int left = api_server_active(g_stop.api);
    if (left > 0 && mono_ms() < g_stop.deadline_ms)
        return;
    if (left > 0) {
        log_warn("shutdown: %d answer%s still in flight after %ld ms: ending %s", left,
                 left == 1 ? "" : "s", g_stop.grace_ms, left == 1 ? "it" : "them");
        api_server_shutdown(g_stop.api);
    }
    event_del(g_stop.poll);
    /* what was just written (the last answers, error events) leaves before the loop ends */
    struct timeval tv = {0, 50000};
    event_base_loopexit(g_base, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (g_stop.stopping) {
        log_warn("signal %d again: exiting now", (int)sig);
        event_base_loopbreak(g_base);
        return;
    }
    g_stop.stopping = true;
    int busy = api_server_active(g_stop.api);
    log_info("signal %d: shutting down; no new connections, %d answer%s in flight may take up "
             "to %ld ms",
             (int)sig, busy, busy == 1 ? "" : "s", g_stop.grace_ms);
    http_server_drain(g_stop.http);
    g_stop.deadline_ms = mono_ms() + g_stop.grace_ms;
    g_stop.poll = event_new(g_base, -1, EV_PERSIST, on_stop_poll, NULL);
    struct timeval tv = {0, 20000};
    event_add(g_stop.poll, &tv);
    on_stop_poll(-1, 0, NULL);
}

static int serve(int argc, char **argv)
{
    seekd_config_t cfg;
    config_args_t args = {0};
    const char *port_file = NULL;
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},
        {"upstream", required_argument, 0, 'u'},
        {"config", required_argument, 0, 'c'},
        {"allow-open", no_argument, 0, 'o'},
        {"log-level", required_argument, 0, 'v'},
        {"port-file", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":l:u:c:ov:p:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            args.listen = optarg;
            break;
        case 'u':
            args.upstream = optarg;
            break;
        case 'c':
            args.config_path = optarg;
            break;
        case 'o':
            args.allow_open = true;
            break;
        case 'v':
            args.log_level = optarg;
            break;
        case 'p':
            port_file = optarg;
            break;
        case 'h':
            fputs(USAGE, stdout);
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
    args.env_keys = getenv("DEEPSEEK_API_KEY");
    char err[1024];
    if (config_build(&cfg, &args, err, sizeof err)) {
        fprintf(stderr, "seekd: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    int server_keys = config_server_keys(&cfg);

    /* Many concurrent streams need many descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* The changelist folds an event's del+add within one loop pass into one epoll_ctl. */
    struct event_config *ecfg = event_config_new();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    g_base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    /* CPU-heavy work (token counts) runs here, off the loop: one thread per core. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    workers_t *workers = workers_new(g_base, ncpu > 0 ? (int)ncpu : 1);

    pool_upstream_def_t defs[CFG_MAX_UPSTREAMS];
    for (int i = 0; i < cfg.nups; i++) {
        cfg_upstream_t *u = &cfg.ups[i];
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
        .nups = cfg.nups,
        .policy = {.error_threshold = cfg.error_threshold,
                   .error_window_ms = cfg.error_window_ms,
                   .eject_ms = cfg.eject_ms,
                   .cooldown_ms = cfg.cooldown_ms},
        .connect_timeout_ms = cfg.connect_timeout_ms,
        .conn_idle_ms = cfg.upstream_idle_ms,
        .first_token_timeout_ms = cfg.first_token_timeout_ms,
        .idle_timeout_ms = cfg.idle_timeout_ms,
        .total_timeout_ms = cfg.total_timeout_ms,
        .request_timeout_ms = cfg.request_timeout_ms,
        .max_attempts = cfg.max_attempts,
        .queue_max = cfg.queue_max,
        .probe_interval_ms = cfg.probe_interval_ms,
        .max_event = 4u << 20,
        .max_answer = 64u << 20,
        .workers = workers,
    };
    upstream_t *up = upstream_new(g_base, &uo);
    if (!up) {
        fprintf(stderr, "seekd: cannot start libcurl\n");
        return 1;
    }
    loopmon_t *loopmon = loopmon_new(g_base);
    api_server_opts_t ao = {
        .base = g_base,
        .workers = workers,
        .loopmon = loopmon,
        .backend = upstream_backend(up),
        .upstream = up,
        .auth = {.client_keys = (const char *const *)cfg.client_keys,
                 .nclient_keys = cfg.nclient_keys,
                 .server_keys = server_keys > 0},
        .models = (const char *const *)cfg.models,
        .nmodels = cfg.nmodels,
        .max_body = cfg.max_body,
        .max_answer = 16u << 20,
        .keepalive_ms = cfg.keepalive_ms,
        .max_output = cfg.max_output,
        .token_check_per_min = cfg.token_check_per_min,
        .access = {.strict = server_keys > 0 && cfg.nclient_keys == 0,
                   .cors_origins = (const char *const *)cfg.cors_origins,
                   .ncors_origins = cfg.ncors_origins,
                   .allowed_hosts = (const char *const *)cfg.allowed_hosts,
                   .nallowed_hosts = cfg.nallowed_hosts,
                   .trusted_proxies = (const char *const *)cfg.trusted_proxies,
                   .ntrusted_proxies = cfg.ntrusted_proxies},
        .admin_token = cfg.admin_token,
    };
    api_server_t *api = api_server_new(&ao);
    http_opts_t ho = {.max_body = cfg.max_body,
                      .max_output = cfg.max_output,
                      .idle_timeout_ms = cfg.client_timeout_ms,
                      .error_body = api_http_error_body,
                      .on_head = api_server_head,
                      .header_timeout_ms = cfg.header_timeout_ms,
                      .min_body_rate = cfg.min_body_rate,
                      .max_connections = (int)cfg.max_connections,
                      .max_connections_per_ip = (int)cfg.max_connections_per_ip,
                      .per_ip_loopback = cfg.per_ip_set,
                      .max_body_total = cfg.max_body_total};
    http_server_t *http = http_server_new(g_base, &ho, api_server_handle, api);
    int port = 0;
    if (http_server_listen(http, cfg.listen_host, cfg.listen_port, &port)) {
        fprintf(stderr, "seekd: cannot listen on %s:%d: %s\n", cfg.listen_host, cfg.listen_port,
                strerror(errno));
        return 1;
    }
    api_server_set_listen(api, cfg.listen_host, port);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
        }
    }
    log_info("seekd %s listening on http://%s:%d (%s)", SEEKD_VERSION, cfg.listen_host, port,
             server_keys ? (cfg.nclient_keys ? "server keys, client keys required"
                                             : "server keys, no client auth")
                         : "clients bring their own keys");
    for (int i = 0; i < cfg.nups; i++) {
        const cfg_upstream_t *u = &cfg.ups[i];
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

    g_stop.http = http;
    g_stop.api = api;
    g_stop.grace_ms = cfg.shutdown_grace_ms;
    struct event *sigint = evsignal_new(g_base, SIGINT, on_signal, NULL);
    struct event *sigterm = evsignal_new(g_base, SIGTERM, on_signal, NULL);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(g_base);

    event_free(sigint);
    event_free(sigterm);
    if (g_stop.poll)
        event_free(g_stop.poll);
    workers_free(workers); /* hands back the counts in flight while their answers still exist */
    http_server_free(http);
    api_server_free(api);
    loopmon_free(loopmon);
    upstream_free(up);
    event_base_free(g_base);
    curl_global_cleanup();
    config_free(&cfg);
    libevent_global_shutdown();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "seekd: which command? (serve, check, tokenize)\nsee 'seekd --help'\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        puts("seekd " SEEKD_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "serve"))
        return serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize"))
        return cli_tokenize_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cli_check_main(argc - 1, argv + 1);
    fprintf(stderr, "seekd: unknown command '%s'\nsee 'seekd --help'\n", cmd);
    return 2;
}
