/* config.c - the "key = value" config file and its validation. */
#include "cli/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"

void config_defaults(seekd_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8000;
    snprintf(c->upstream, sizeof c->upstream, "https://api.deepseek.com");
    c->max_body = 8u << 20;
    c->max_output = 1u << 20;
    c->connect_timeout_ms = 10000;
    c->first_token_timeout_ms = 300000;
    c->idle_timeout_ms = 300000;
    c->total_timeout_ms = 0;
    c->keepalive_ms = 3000;
    c->log_level = LOG_INFO;
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
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
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

int config_set(seekd_config_t *c, const char *key, const char *v, char *err, size_t errlen)
{
    int rc = 0;
    if (!strcmp(key, "listen")) {
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
    } else if (!strcmp(key, "connect_timeout_ms") || !strcmp(key, "first_token_timeout_ms") ||
               !strcmp(key, "idle_timeout_ms") || !strcmp(key, "total_timeout_ms") ||
               !strcmp(key, "keepalive_ms")) {
        long *dst = key[0] == 'c'   ? &c->connect_timeout_ms
                    : key[0] == 'f' ? &c->first_token_timeout_ms
                    : key[0] == 'i' ? &c->idle_timeout_ms
                    : key[0] == 't' ? &c->total_timeout_ms
                                    : &c->keepalive_ms;
        rc = parse_ms(v, dst);
        if (rc)
            snprintf(err, errlen, "%s must be a whole number of milliseconds, got '%s'", key, v);
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

int config_load(seekd_config_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        char *e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value', got '%.60s'", path, lineno, p);
            rc = -1;
            break;
        }
        char *k = p, *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        if (!*k) {
            snprintf(err, errlen, "%s:%d: missing setting name before '='", path, lineno);
            rc = -1;
            break;
        }
        char why[512];
        if (config_set(c, k, v, why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
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
}
