/* config.c - the settings: defaults, each value and its parsing, the checks that make them fit
 * to run, and how serve and check build them; the file's syntax is in config_file.c. */
#include "cli/config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/anthropic_parse.h"
#include "base/log.h"
#include "base/netaddr.h"
#include "gateway/price.h"
#include "gateway/redis_url.h"
#include "base/mem.h"

void config_defaults(seekd_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8000;
    snprintf(c->upstream, sizeof c->upstream, "https://api.deepseek.com");
    c->max_body = 48u << 20; /* DeepSeek's own request limit */
    c->max_output = 1u << 20;
    c->connect_timeout_ms = 10000;
    c->upstream_idle_ms = 60000;
    c->first_token_timeout_ms = 300000;
    c->idle_timeout_ms = 300000;
    c->total_timeout_ms = 0;
    c->keepalive_ms = 3000;
    c->client_timeout_ms = 120000;
    c->shutdown_grace_ms = 30000;
    c->header_timeout_ms = 10000;
    c->min_body_rate = 1024;
    c->max_connections_per_ip = 512;
    c->max_body_total = 256u << 20;
    c->log_level = LOG_INFO;
    c->max_attempts = 3;
    c->queue_max = 4096;
    c->request_timeout_ms = 120000;
    c->probe_interval_ms = 30000;
    c->models_refresh_ms = 600000;
    c->hold_max_tokens = 8192;
    c->instance_lease_ms = 30000;
    c->hold_image_tokens = 4096;
    c->error_threshold = 5;
    c->error_window_ms = 30000;
    c->eject_ms = 30000;
    c->cooldown_ms = 1000;
    c->token_check_per_min = 30;
    c->redis_instances = 1;
    c->redis_timeout_ms = 100;
}

static void list_clear(char **list, int *n)
{
    for (int i = 0; i < *n; i++)
        free(list[i]);
    *n = 0;
}

/* Appends the comma-separated items of csv, trimmed, skipping empty ones. */
static int list_add_csv(char **list, int *n, const char *csv)
{
    const char *p = csv;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            if (*n >= CFG_MAX_LIST)
                return -1;
            list[(*n)++] = xstrndup(a, (size_t)(b - a));
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

void config_set_keys(seekd_config_t *c, const char *csv)
{
    list_clear(c->keys, &c->nkeys);
    list_add_csv(c->keys, &c->nkeys, csv);
}

int config_parse_listen(seekd_config_t *c, const char *hp)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || !colon[1])
        return -1;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (*end || errno || port < 0 || port > 65535)
        return -1;
    size_t hlen = (size_t)(colon - hp);
    if (hlen >= 2 && hp[0] == '[' && hp[hlen - 1] == ']') {
        hp++;
        hlen -= 2;
    }
    if (hlen >= sizeof c->listen_host)
        return -1;
    if (hlen == 0) {
        snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    } else {
        memcpy(c->listen_host, hp, hlen);
        c->listen_host[hlen] = '\0';
    }
    c->listen_port = (int)port;
    return 0;
}

bool config_is_loopback(const char *host)
{
    net_addr_t a;
    if (net_addr_parse(host, strlen(host), &a) == 0)
        return net_addr_is_loopback(&a);
    /* a name is loopback only when every address it resolves to is */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (!*host || getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    bool all = true;
    for (struct addrinfo *ai = res; ai && all; ai = ai->ai_next)
        all = net_addr_from_sockaddr(ai->ai_addr, &a) == 0 && net_addr_is_loopback(&a);
    freeaddrinfo(res);
    return all;
}

static int parse_size(const char *v, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno || v[0] == '-')
        return -1;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    if (*end || n > (1ULL << 40) / mul)
        return -1;
    *out = (size_t)(n * mul);
    return 0;
}

static int parse_ms(const char *v, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < 0)
        return -1;
    *out = n;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

/* Whether s is one visible ASCII word: what may go into a request line or a header as is. */
bool config_visible_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* cors_origins, allowed_hosts, trusted_proxies: comma-separated, lines add up. Each entry is
 * checked here so a typo stops startup instead of silently letting nobody (or everybody) in. */
static int set_access_list(seekd_config_t *c, const char *key, const char *v, char *err,
                           size_t errlen)
{
    char **list = key[0] == 'c'   ? c->cors_origins
                  : key[0] == 'a' ? c->allowed_hosts
                                  : c->trusted_proxies;
    int *n = key[0] == 'c'   ? &c->ncors_origins
             : key[0] == 'a' ? &c->nallowed_hosts
                             : &c->ntrusted_proxies;
    int first = *n;
    if (list_add_csv(list, n, v)) {
        snprintf(err, errlen, "too many %s entries (at most %d)", key, CFG_MAX_LIST);
        return -1;
    }
    for (int i = first; i < *n; i++) {
        const char *e = list[i];
        bool ok = config_visible_word(e);
        if (ok && key[0] == 'c' && strcmp(e, "*") != 0) {
            const char *rest = !strncmp(e, "http://", 7)    ? e + 7
                               : !strncmp(e, "https://", 8) ? e + 8
                                                            : NULL;
            ok = rest && *rest && !strchr(rest, '/');
        } else if (ok && key[0] == 'a') {
            ok = !strchr(e, '/') && !strchr(e, ',');
        } else if (ok && key[0] == 't') {
            net_cidr_t cidr;
            ok = net_cidr_parse(e, &cidr) == 0;
        }
        if (!ok) {
            snprintf(err, errlen, "%s: '%.100s' is not %s", key, e,
                     key[0] == 'c'   ? "an origin like https://app.example or http://localhost:3000"
                     : key[0] == 'a' ? "a host name like seekd.lan or seekd.lan:8000"
                                     : "an IP address or a CIDR range like 10.0.0.0/8");
            return -1;
        }
    }
    return 0;
}

/* A setting inside an [upstream NAME] section. */
int config_set_upstream(cfg_upstream_t *u, const char *key, const char *v, char *err, size_t errlen)
{
    if (!strcmp(key, "url")) {
        if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            snprintf(err, errlen, "url must be an http:// or https:// URL, got '%s'", v);
            return -1;
        }
        snprintf(u->url, sizeof u->url, "%s", v);
    } else if (!strcmp(key, "api_key")) {
        if (list_add_csv(u->keys, &u->nkeys, v)) {
            snprintf(err, errlen, "too many api_key entries (at most %d)", CFG_MAX_LIST);
            return -1;
        }
    } else if (!strcmp(key, "models")) {
        if (list_add_csv(u->models, &u->nmodels, v)) {
            snprintf(err, errlen, "too many models (at most %d)", CFG_MAX_LIST);
            return -1;
        }
    } else if (!strcmp(key, "priority")) {
        if (parse_int(v, 0, 1000, &u->priority)) {
            snprintf(err, errlen, "priority must be 0..1000 (lower is tried first), got '%s'", v);
            return -1;
        }
    } else if (!strcmp(key, "weight")) {
        if (parse_int(v, 1, 1000, &u->weight)) {
            snprintf(err, errlen, "weight must be 1..1000, got '%s'", v);
            return -1;
        }
    } else if (!strcmp(key, "max_concurrent_per_key")) {
        if (parse_int(v, 0, 1000000, &u->max_per_key)) {
            snprintf(err, errlen, "max_concurrent_per_key must be 0 (unlimited) or more, got '%s'",
                     v);
            return -1;
        }
    } else {
        snprintf(err, errlen,
                 "unknown setting '%s' in an [upstream] section (url, api_key, models, "
                 "priority, weight, max_concurrent_per_key)",
                 key);
        return -1;
    }
    return 0;
}

int config_set(seekd_config_t *c, const char *key, const char *v, char *err, size_t errlen)
{
    int rc = 0;
    int *ival = !strcmp(key, "max_concurrent_per_key") ? &c->max_per_key
                : !strcmp(key, "max_attempts")         ? &c->max_attempts
                : !strcmp(key, "queue_max")            ? &c->queue_max
                : !strcmp(key, "error_threshold")      ? &c->error_threshold
                                                       : NULL;
    long *lval = !strcmp(key, "request_timeout_ms")       ? &c->request_timeout_ms
                 : !strcmp(key, "probe_interval_ms")      ? &c->probe_interval_ms
                 : !strcmp(key, "models_refresh_ms")      ? &c->models_refresh_ms
                 : !strcmp(key, "error_window_ms")        ? &c->error_window_ms
                 : !strcmp(key, "eject_ms")               ? &c->eject_ms
                 : !strcmp(key, "cooldown_ms")            ? &c->cooldown_ms
                 : !strcmp(key, "token_check_per_min")    ? &c->token_check_per_min
                 : !strcmp(key, "client_timeout_ms")      ? &c->client_timeout_ms
                 : !strcmp(key, "shutdown_grace_ms")      ? &c->shutdown_grace_ms
                 : !strcmp(key, "header_timeout_ms")      ? &c->header_timeout_ms
                 : !strcmp(key, "max_connections")        ? &c->max_connections
                 : !strcmp(key, "max_connections_per_ip") ? &c->max_connections_per_ip
                                                          : NULL;
    if (ival) {
        int lo = !strcmp(key, "max_concurrent_per_key") ? 0 : 1;
        rc = parse_int(v, lo, 1000000, ival);
        if (rc)
            snprintf(err, errlen, "%s must be a whole number >= %d, got '%s'", key, lo, v);
    } else if (lval) {
        rc = parse_ms(v, lval);
        if (rc)
            snprintf(err, errlen, "%s must be a whole number >= 0, got '%s'", key, v);
        if (!rc && (lval == &c->max_connections || lval == &c->max_connections_per_ip) &&
            *lval > 1000000) {
            snprintf(err, errlen, "%s must be at most 1000000, got '%s'", key, v);
            rc = -1;
        }
        c->per_ip_set |= !rc && lval == &c->max_connections_per_ip;
    } else if (!strcmp(key, "listen")) {
        rc = config_parse_listen(c, v);
        if (rc)
            snprintf(err, errlen, "listen must be HOST:PORT, got '%s'", v);
    } else if (!strcmp(key, "upstream")) {
        if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            snprintf(err, errlen, "upstream must be an http:// or https:// URL, got '%s'", v);
            return -1;
        }
        snprintf(c->upstream, sizeof c->upstream, "%s", v);
    } else if (!strcmp(key, "api_key")) {
        rc = list_add_csv(c->keys, &c->nkeys, v);
        if (rc)
            snprintf(err, errlen, "too many api_key entries (at most %d)", CFG_MAX_LIST);
    } else if (!strcmp(key, "client_key")) {
        rc = list_add_csv(c->client_keys, &c->nclient_keys, v);
        if (rc)
            snprintf(err, errlen, "too many client_key entries (at most %d)", CFG_MAX_LIST);
    } else if (!strcmp(key, "models")) {
        list_clear(c->models, &c->nmodels);
        rc = list_add_csv(c->models, &c->nmodels, v);
        if (rc || c->nmodels == 0) {
            snprintf(err, errlen, "models must be a comma-separated list of 1 to %d names",
                     CFG_MAX_LIST);
            rc = -1;
        }
    } else if (!strcmp(key, "anthropic_model_map")) {
        list_clear(c->anthropic_model_map, &c->nanthropic_model_map);
        rc = list_add_csv(c->anthropic_model_map, &c->nanthropic_model_map, v);
        for (int i = 0; !rc && i < c->nanthropic_model_map; i++)
            if (!api_anth_map_entry_ok(c->anthropic_model_map[i]) ||
                strlen(c->anthropic_model_map[i]) > 200)
                rc = -1;
        if (rc || c->nanthropic_model_map == 0) {
            snprintf(err, errlen,
                     "anthropic_model_map must be a comma-separated list of 1 to %d "
                     "PATTERN=MODEL entries (PATTERN may end in *), got '%.80s'",
                     CFG_MAX_LIST, v);
            list_clear(c->anthropic_model_map, &c->nanthropic_model_map);
            rc = -1;
        }
    } else if (!strcmp(key, "allow_open")) {
        rc = parse_bool(v, &c->allow_open);
        if (rc)
            snprintf(err, errlen, "allow_open must be true or false, got '%s'", v);
    } else if (!strcmp(key, "max_body") || !strcmp(key, "max_output")) {
        size_t *dst = key[4] == 'b' ? &c->max_body : &c->max_output;
        rc = parse_size(v, dst);
        if (rc || *dst < 1024) {
            snprintf(err, errlen, "%s must be a size like 8m or 65536k (at least 1k), got '%s'",
                     key, v);
            rc = -1;
        }
    } else if (!strcmp(key, "min_body_rate") || !strcmp(key, "max_body_total")) {
        size_t *dst = key[1] == 'i' ? &c->min_body_rate : &c->max_body_total;
        rc = parse_size(v, dst);
        if (rc)
            snprintf(err, errlen, "%s must be a size like 1k or 256m (0: none), got '%s'", key, v);
    } else if (!strcmp(key, "connect_timeout_ms") || !strcmp(key, "first_token_timeout_ms") ||
               !strcmp(key, "idle_timeout_ms") || !strcmp(key, "total_timeout_ms") ||
               !strcmp(key, "keepalive_ms") || !strcmp(key, "upstream_idle_ms")) {
        long *dst = key[0] == 'c'   ? &c->connect_timeout_ms
                    : key[0] == 'f' ? &c->first_token_timeout_ms
                    : key[0] == 'i' ? &c->idle_timeout_ms
                    : key[0] == 't' ? &c->total_timeout_ms
                    : key[0] == 'u' ? &c->upstream_idle_ms
                                    : &c->keepalive_ms;
        rc = parse_ms(v, dst);
        if (rc)
            snprintf(err, errlen, "%s must be a whole number of milliseconds, got '%s'", key, v);
    } else if (!strcmp(key, "cors_origins") || !strcmp(key, "allowed_hosts") ||
               !strcmp(key, "trusted_proxies")) {
        rc = set_access_list(c, key, v, err, errlen);
    } else if (!strcmp(key, "db")) {
        if (!*v || strlen(v) >= sizeof c->db) {
            snprintf(err, errlen,
                     "db must be sqlite:PATH, a path or postgres://..., at most %zu bytes",
                     sizeof c->db - 1);
            return -1;
        }
        snprintf(c->db, sizeof c->db, "%s", v);
    } else if (!strcmp(key, "price")) {
        gw_price_t p;
        if (gw_price_parse(v, &p, err, errlen))
            return -1;
        if (c->nprices == CFG_MAX_LIST) {
            snprintf(err, errlen, "too many price lines (at most %d)", CFG_MAX_LIST);
            return -1;
        }
        c->prices[c->nprices++] = xstrdup(v);
    } else if (!strcmp(key, "holiday")) {
        int first = c->nholidays;
        if (list_add_csv(c->holidays, &c->nholidays, v)) {
            snprintf(err, errlen, "too many holidays (at most %d)", CFG_MAX_LIST);
            return -1;
        }
        for (int i = first; i < c->nholidays; i++) {
            gw_prices_t probe;
            gw_prices_init(&probe);
            int bad = gw_prices_add_holiday(&probe, c->holidays[i], err, errlen);
            gw_prices_free(&probe);
            if (bad)
                return -1;
        }
    } else if (!strcmp(key, "metrics")) {
        if (strcmp(v, "on") && strcmp(v, "off")) {
            snprintf(err, errlen, "metrics must be on or off, got '%.40s'", v);
            return -1;
        }
        c->metrics_off = !strcmp(v, "off");
    } else if (!strcmp(key, "hold_max_tokens")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 100000000) {
            snprintf(err, errlen, "hold_max_tokens must be a whole number from 1 to 100000000");
            return -1;
        }
        c->hold_max_tokens = n;
    } else if (!strcmp(key, "hold_image_tokens")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 10000000) {
            snprintf(err, errlen, "hold_image_tokens must be a whole number from 1 to 10000000");
            return -1;
        }
        c->hold_image_tokens = n;
    } else if (!strcmp(key, "instance_lease_ms")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 3000 || n > 3600000) {
            snprintf(err, errlen,
                     "instance_lease_ms must be a whole number of milliseconds from 3000 to "
                     "3600000");
            return -1;
        }
        c->instance_lease_ms = n;
    } else if (!strcmp(key, "admin_token")) {
        if (!config_visible_word(v) || strlen(v) < 16 || strlen(v) > CFG_MAX_KEY) {
            /* never echo the token */
            snprintf(err, errlen,
                     "admin_token must be one word of 16 to %d visible ASCII characters",
                     CFG_MAX_KEY);
            return -1;
        }
        if (c->admin_token) {
            memset(c->admin_token, 0, strlen(c->admin_token));
            free(c->admin_token);
        }
        c->admin_token = xstrdup(v);
    } else if (!strcmp(key, "redis")) {
        gw_redis_url_t u;
        if (gw_redis_url_parse(v, &u, err, errlen)) /* the message never shows the password */
            return -1;
        gw_redis_url_wipe(&u);
        if (c->redis) {
            memset(c->redis, 0, strlen(c->redis));
            free(c->redis);
        }
        c->redis = xstrdup(v);
    } else if (!strcmp(key, "redis_instances")) {
        if (parse_int(v, 1, 1000, &c->redis_instances)) {
            snprintf(err, errlen,
                     "redis_instances must be a whole number from 1 to 1000 (the seekd instances "
                     "that share one Redis), got '%.40s'",
                     v);
            return -1;
        }
    } else if (!strcmp(key, "redis_timeout_ms")) {
        long ms;
        if (parse_ms(v, &ms) || ms < 1 || ms > 10000) {
            snprintf(err, errlen,
                     "redis_timeout_ms must be a whole number from 1 to 10000, got "
                     "'%.40s'",
                     v);
            return -1;
        }
        c->redis_timeout_ms = ms;
    } else if (!strcmp(key, "log_level")) {
        c->log_level = log_level_parse(v);
        if (c->log_level < 0) {
            snprintf(err, errlen, "log_level must be debug, info, warn, error or off");
            rc = -1;
        }
    } else {
        snprintf(err, errlen, "unknown setting '%s'", key);
        rc = -1;
    }
    return rc;
}

int config_check(const seekd_config_t *c, char *err, size_t errlen)
{
    for (int i = 0; i < c->nups; i++) {
        const cfg_upstream_t *u = &c->ups[i];
        if (!config_visible_word(u->url)) {
            snprintf(err, errlen, "upstream '%s': the url has a space or a control character",
                     u->name);
            return -1;
        }
        for (int k = 0; k < u->nkeys; k++) {
            if (strlen(u->keys[k]) > CFG_MAX_KEY) {
                /* never echo the key, nor any part of it */
                snprintf(err, errlen, "upstream '%s': api key #%d is longer than %d bytes", u->name,
                         k + 1, CFG_MAX_KEY);
                return -1;
            }
            if (!config_visible_word(u->keys[k])) {
                /* never echo the key: it is a secret, and a broken one */
                snprintf(err, errlen,
                         "upstream '%s': api key #%d has a space, a control or a non-ASCII "
                         "character",
                         u->name, k + 1);
                return -1;
            }
        }
    }
    for (int k = 0; k < c->nclient_keys; k++) {
        if (strlen(c->client_keys[k]) > CFG_MAX_KEY) {
            snprintf(err, errlen, "client_key #%d is longer than %d bytes", k + 1, CFG_MAX_KEY);
            return -1;
        }
        if (!config_visible_word(c->client_keys[k])) {
            snprintf(err, errlen, "client_key #%d has a space, a control or a non-ASCII character",
                     k + 1);
            return -1;
        }
    }
    return 0;
}

void config_finish(seekd_config_t *c)
{
    for (int i = 0; i < c->nups; i++) {
        cfg_upstream_t *u = &c->ups[i];
        if (u->nmodels == 0)
            u->models[u->nmodels++] = xstrdup("*");
        if (u->max_per_key < 0)
            u->max_per_key = c->max_per_key;
    }
    if (c->nups == 0) {
        cfg_upstream_t *u = &c->ups[c->nups++];
        snprintf(u->name, sizeof u->name, "default");
        snprintf(u->url, sizeof u->url, "%s", c->upstream);
        for (int i = 0; i < c->nkeys; i++)
            u->keys[u->nkeys++] = xstrdup(c->keys[i]);
        u->models[u->nmodels++] = xstrdup("*");
        u->weight = 1;
        u->max_per_key = c->max_per_key;
    }
}

static int parse_count(const char *key, const char *v, int lo, int hi, int *out, char *err,
                       size_t errlen)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        snprintf(err, errlen, "%s must be a whole number from %d to %d, got '%s'", key, lo, hi, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

int config_set_local_model(cfg_local_model_t *m, const char *key, const char *v, char *err,
                           size_t errlen)
{
    if (!strcmp(key, "path")) {
        if (!*v || strlen(v) >= sizeof m->path) {
            snprintf(err, errlen, "path must name a GGUF file (at most %zu bytes)",
                     sizeof m->path - 1);
            return -1;
        }
        snprintf(m->path, sizeof m->path, "%s", v);
        return 0;
    }
    if (!strcmp(key, "threads"))
        return parse_count(key, v, 1, 256, &m->threads, err, errlen);
    if (!strcmp(key, "ctx"))
        return parse_count(key, v, 16, 131072, &m->ctx, err, errlen);
    if (!strcmp(key, "slots"))
        return parse_count(key, v, 1, 64, &m->slots, err, errlen);
    if (!strcmp(key, "queue"))
        return parse_count(key, v, 1, 4096, &m->queue, err, errlen);
    if (!strcmp(key, "chat_template")) {
        static const char *const ok[] = {
            "raw", "deepseek-v3", "deepseek-r1", "r1-distill", "deepseek-coder", "llama2", NULL};
        for (int i = 0; ok[i]; i++)
            if (!strcmp(v, ok[i])) {
                snprintf(m->chat_template, sizeof m->chat_template, "%s", v);
                return 0;
            }
        snprintf(err, errlen,
                 "chat_template must be raw, deepseek-v3, deepseek-r1, deepseek-coder or llama2, "
                 "got '%s'",
                 v);
        return -1;
    }
    snprintf(err, errlen,
             "unknown setting '%s' in a [model] section (path, threads, ctx, chat_template, "
             "slots, queue)",
             key);
    return -1;
}

/* The --model flags, after the file's [model] sections. */
static int add_model_args(seekd_config_t *c, const config_args_t *a, char *err, size_t errlen)
{
    for (int i = 0; i < a->nmodel_args; i++) {
        if (c->nlmodels >= CFG_MAX_LOCAL) {
            snprintf(err, errlen, "too many local models (at most %d)", CFG_MAX_LOCAL);
            return -1;
        }
        cfg_local_model_t *m = &c->lmodels[c->nlmodels++];
        memset(m, 0, sizeof *m);
        char why[512];
        if (config_set_local_model(m, "path", a->model_paths[i], why, sizeof why) ||
            (a->threads && config_set_local_model(m, "threads", a->threads, why, sizeof why)) ||
            (a->ctx && config_set_local_model(m, "ctx", a->ctx, why, sizeof why)) ||
            (a->chat_template &&
             config_set_local_model(m, "chat_template", a->chat_template, why, sizeof why))) {
            snprintf(err, errlen, "--model %s: %s", a->model_paths[i], why);
            return -1;
        }
        if (a->model_names[i]) {
            if (!*a->model_names[i] || strlen(a->model_names[i]) >= sizeof m->name) {
                snprintf(err, errlen, "--model-name must be 1 to %zu bytes", sizeof m->name - 1);
                return -1;
            }
            snprintf(m->name, sizeof m->name, "%s", a->model_names[i]);
        }
    }
    for (int i = 0; i < c->nlmodels; i++)
        if (!c->lmodels[i].path[0]) {
            snprintf(err, errlen, "[model %s] (line %d) has no path", c->lmodels[i].name,
                     c->lmodels[i].line);
            return -1;
        }
    return 0;
}

int config_server_keys(const seekd_config_t *c)
{
    int n = 0;
    for (int i = 0; i < c->nups; i++)
        n += c->ups[i].nkeys;
    return n;
}

int config_build(seekd_config_t *c, const config_args_t *a, char *err, size_t errlen)
{
    config_defaults(c);
    if (a->config_path && config_load(c, a->config_path, err, errlen))
        return -1;
    bool sections = c->nups > 0;
    if (a->env_keys && *a->env_keys)
        config_set_keys(c, a->env_keys);
    if ((a->listen && config_set(c, "listen", a->listen, err, errlen)) ||
        (a->upstream && config_set(c, "upstream", a->upstream, err, errlen)) ||
        (a->log_level && config_set(c, "log_level", a->log_level, err, errlen)) ||
        (a->db && config_set(c, "db", a->db, err, errlen)) ||
        (a->redis && config_set(c, "redis", a->redis, err, errlen)))
        return -1;
    if (a->allow_open)
        c->allow_open = true;
    if (add_model_args(c, a, err, errlen))
        return -1;
    config_finish(c);
    if (config_check(c, err, errlen))
        return -1;
    log_set_level((log_level_t)c->log_level);
    if (sections && a->env_keys && *a->env_keys)
        log_warn("DEEPSEEK_API_KEY is not used: %s defines [upstream] sections, each with its "
                 "own api_key",
                 a->config_path);
    if (sections && a->upstream)
        log_info("--upstream is not used: %s defines [upstream] sections", a->config_path);
    if (c->redis && !c->db[0])
        log_warn("redis is set but there is no db: only metered keys have per-key limits, so "
                 "nothing is shared through it");
    int server_keys = config_server_keys(c);
    if (sections && server_keys == 0)
        log_warn("no [upstream] section has an api_key: each client's own bearer key is sent "
                 "upstream");
    if (config_is_loopback(c->listen_host) || server_keys == 0 || c->nclient_keys > 0)
        return 0;
    if (c->db[0] && !c->allow_open) /* serve refuses after opening it, unless it holds keys */
        return 0;
    if (!c->allow_open) {
        snprintf(err, errlen,
                 "refusing to listen on %s: the server holds upstream keys and no "
                 "client_key is configured, so anyone who can reach it could spend them.\n"
                 "       Set client_key in the config file, listen on 127.0.0.1, or pass "
                 "--allow-open if that is really what you want.",
                 c->listen_host);
        return -1;
    }
    log_warn("open relay: listening on %s:%d with %d server key%s and no client_key "
             "(--allow-open): anyone who can reach this port spends them",
             c->listen_host, c->listen_port, server_keys, server_keys == 1 ? "" : "s");
    return 0;
}

void config_free(seekd_config_t *c)
{
    for (int i = 0; i < c->nkeys; i++) {
        memset(c->keys[i], 0, strlen(c->keys[i]));
        free(c->keys[i]);
    }
    c->nkeys = 0;
    list_clear(c->client_keys, &c->nclient_keys);
    list_clear(c->models, &c->nmodels);
    list_clear(c->cors_origins, &c->ncors_origins);
    list_clear(c->anthropic_model_map, &c->nanthropic_model_map);
    list_clear(c->prices, &c->nprices);
    list_clear(c->holidays, &c->nholidays);
    list_clear(c->allowed_hosts, &c->nallowed_hosts);
    list_clear(c->trusted_proxies, &c->ntrusted_proxies);
    if (c->admin_token) {
        memset(c->admin_token, 0, strlen(c->admin_token));
        free(c->admin_token);
        c->admin_token = NULL;
    }
    if (c->redis) {
        memset(c->redis, 0, strlen(c->redis));
        free(c->redis);
        c->redis = NULL;
    }
    for (int i = 0; i < c->nups; i++) {
        for (int k = 0; k < c->ups[i].nkeys; k++)
            memset(c->ups[i].keys[k], 0, strlen(c->ups[i].keys[k]));
        list_clear(c->ups[i].keys, &c->ups[i].nkeys);
        list_clear(c->ups[i].models, &c->ups[i].nmodels);
    }
    c->nups = 0;
}
