/* check_cmd.c - `seekd check [--config FILE] [--probe]`: builds the settings exactly as
 * `seekd serve` does and, with --probe, asks every upstream key for GET /models. A one-shot
 * command, so the probes are plain blocking libcurl easy transfers, one after the other. */
#include "cli/check_cmd.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/args.h"
#include "cli/config.h"
#include "gateway/redis_url.h"

static const char usage[] =
    "usage: seekd check [--config FILE] [--probe] [--listen HOST:PORT] [--upstream URL]\n"
    "                   [--allow-open] [--log-level LEVEL] [--db URL] [--redis URL]\n"
    "\n"
    "Builds the settings exactly as 'seekd serve' would with the same flags and environment\n"
    "(DEEPSEEK_API_KEY), and says whether it would start.\n"
    "  --config FILE      the settings file (docs/config.md)\n"
    "  --probe            also GET /models from every upstream with each of its keys\n"
    "                     (an upstream without keys: is it reachable at all)\n"
    "  --listen, --upstream, --allow-open, --log-level, --db, --redis: as for 'seekd serve'\n"
    "Exit status: 0 fit to run, 2 the settings are invalid, 3 a probe failed.\n";

/* The whole probe, connect included, ends after this long. */
#define PROBE_TIMEOUT_MS 15000L

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* What a failed status most likely means, for the operator reading the line. */
static const char *status_meaning(long status)
{
    switch (status) {
    case 401:
    case 403:
        return "the key is refused";
    case 402:
        return "the account has no balance";
    case 404:
        return "no /models under this url (a missing or extra path such as /v1?)";
    case 429:
        return "rate limited";
    default:
        return status >= 500 ? "the upstream failed" : "unexpected answer";
    }
}

/* GET url/models with key (NULL: no Authorization). Prints one line; returns whether it passed:
 * a 2xx with a key, any HTTP answer without one (it only shows the upstream is reachable). */
static bool probe(const cfg_upstream_t *u, const char *key, long connect_timeout_ms)
{
    char url[sizeof u->url + 16];
    size_t n = strlen(u->url);
    while (n && u->url[n - 1] == '/')
        n--;
    snprintf(url, sizeof url, "%.*s/models", (int)n, u->url);
    char auth[CFG_MAX_KEY + 32];
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        headers = curl_slist_append(headers, auth);
    }
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "seekd/" SEEKD_VERSION " check");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    double secs = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &secs);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    memset(auth, 0, sizeof auth);

    char who[LOG_KEY_ID_SIZE + 16];
    if (key) {
        char id[LOG_KEY_ID_SIZE];
        snprintf(who, sizeof who, "key %s", log_key_id(key, strlen(key), id));
    } else {
        snprintf(who, sizeof who, "no key");
    }
    long ms = (long)(secs * 1000);
    bool ok = rc == CURLE_OK && (key ? status >= 200 && status < 300 : status > 0);
    if (rc != CURLE_OK)
        printf("probe upstream '%s' %s: FAILED: %s (%s)\n", u->name, who, curl_easy_strerror(rc),
               url);
    else if (!ok)
        printf("probe upstream '%s' %s: FAILED: HTTP %ld from GET %s: %s\n", u->name, who, status,
               url, status_meaning(status));
    else
        printf("probe upstream '%s' %s: ok (HTTP %ld, %ld ms)\n", u->name, who, status, ms);
    return ok;
}

int cli_check_main(int argc, char **argv)
{
    config_args_t args = {0};
    bool do_probe = false;
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"probe", no_argument, 0, 'P'},
        {"listen", required_argument, 0, 'l'},
        {"upstream", required_argument, 0, 'u'},
        {"allow-open", no_argument, 0, 'o'},
        {"log-level", required_argument, 0, 'v'},
        {"db", required_argument, 0, 'd'},
        {"redis", required_argument, 0, 'R'}, /* per-key limits shared with other instances */
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:l:u:ov:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            args.config_path = optarg;
            break;
        case 'P':
            do_probe = true;
            break;
        case 'l':
            args.listen = optarg;
            break;
        case 'u':
            args.upstream = optarg;
            break;
        case 'o':
            args.allow_open = true;
            break;
        case 'd':
            args.db = optarg;
            break;
        case 'R':
            args.redis = optarg;
            break;
        case 'v':
            args.log_level = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_flag("check", ch, argc, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "seekd check: unexpected argument '%s'\nsee 'seekd check --help'\n",
                argv[optind]);
        return 2;
    }
    args.env_keys = getenv("DEEPSEEK_API_KEY");
    seekd_config_t cfg;
    char err[1024];
    if (config_build(&cfg, &args, err, sizeof err)) {
        fprintf(stderr, "seekd: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    int server_keys = config_server_keys(&cfg);
    printf("%s: fit to run: listen %s:%d, %d upstream%s, %d server key%s, %s\n",
           args.config_path ? args.config_path : "(no config file)", cfg.listen_host,
           cfg.listen_port, cfg.nups, cfg.nups == 1 ? "" : "s", server_keys,
           server_keys == 1 ? "" : "s",
           server_keys ? (cfg.nclient_keys ? "client keys required" : "no client auth")
                       : "clients bring their own keys");
    if (cfg.redis) {
        gw_redis_url_t u;
        char where[300];
        if (gw_redis_url_parse(cfg.redis, &u, err, sizeof err) == 0) {
            printf("per-key limits shared through redis %s by %d instance%s (not probed)\n",
                   gw_redis_url_where(&u, where, sizeof where), cfg.redis_instances,
                   cfg.redis_instances == 1 ? "" : "s");
            gw_redis_url_wipe(&u);
        }
    }
    int rc = 0;
    if (do_probe) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int failed = 0, total = 0;
        for (int i = 0; i < cfg.nups; i++) {
            const cfg_upstream_t *u = &cfg.ups[i];
            for (int k = 0; k < u->nkeys || (k == 0 && u->nkeys == 0); k++) {
                total++;
                if (!probe(u, u->nkeys ? u->keys[k] : NULL, cfg.connect_timeout_ms))
                    failed++;
            }
        }
        curl_global_cleanup();
        if (failed) {
            fprintf(stderr, "seekd check: %d of %d probe%s failed\n", failed, total,
                    total == 1 ? "" : "s");
            rc = 3;
        }
    }
    fflush(stdout);
    config_free(&cfg);
    return rc;
}
