/* config_file.c - the config file: "key = value" lines, comments, [upstream NAME] sections,
 * errors with FILE:LINE, and the names behind "did you mean". */
#include "cli/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/mem.h"

/* ---- names, for "did you mean" ---- */

/* Every top-level setting and every [upstream] setting config_set/set_upstream accept. A unit
 * test checks each documented key of docs/config.md is here, so a new setting that is documented
 * but not listed fails the suite instead of going without suggestions. */
static const char *const top_names[] = {"listen",
                                        "upstream",
                                        "api_key",
                                        "client_key",
                                        "models",
                                        "allow_open",
                                        "max_body",
                                        "max_output",
                                        "client_timeout_ms",
                                        "connect_timeout_ms",
                                        "upstream_idle_ms",
                                        "first_token_timeout_ms",
                                        "idle_timeout_ms",
                                        "total_timeout_ms",
                                        "keepalive_ms",
                                        "log_level",
                                        "max_concurrent_per_key",
                                        "max_attempts",
                                        "queue_max",
                                        "error_threshold",
                                        "request_timeout_ms",
                                        "probe_interval_ms",
                                        "models_refresh_ms",
                                        "error_window_ms",
                                        "eject_ms",
                                        "cooldown_ms",
                                        "token_check_per_min",
                                        "shutdown_grace_ms",
                                        "header_timeout_ms",
                                        "min_body_rate",
                                        "max_connections",
                                        "max_connections_per_ip",
                                        "max_body_total",
                                        "cors_origins",
                                        "allowed_hosts",
                                        "trusted_proxies",
                                        "admin_token",
                                        "db",
                                        "price",
                                        "holiday",
                                        "hold_max_tokens",
                                        "instance_lease_ms",
                                        "hold_image_tokens",
                                        "metrics",
                                        "anthropic_model_map",
                                        "redis",
                                        "redis_instances",
                                        "redis_timeout_ms",
                                        NULL};
static const char *const section_names[] = {
    "url", "api_key", "models", "priority", "weight", "max_concurrent_per_key", NULL};
static const char *const model_section_names[] = {"path",  "threads", "ctx", "chat_template",
                                                  "slots", "queue",   NULL};

static bool in_list(const char *const *names, const char *key)
{
    for (; *names; names++)
        if (!strcmp(*names, key))
            return true;
    return false;
}

bool config_known_setting(const char *key)
{
    return in_list(top_names, key) || in_list(section_names, key) ||
           in_list(model_section_names, key);
}

/* Edit distance (insert, delete, substitute, swap of neighbours) between two short names;
 * anything over 63 bytes counts as far. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The closest name to key, or NULL when none is near: 1 edit for names up to 4 bytes, 2 up to
 * 8, 3 beyond (so "idle_timeout" finds idle_timeout_ms). */
static const char *closest(const char *const *names, const char *key)
{
    const char *best = NULL;
    size_t len = strlen(key);
    int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    int bestd = limit + 1;
    for (; *names; names++) {
        int dist = edit_distance(key, *names);
        if (dist < bestd) {
            bestd = dist;
            best = *names;
        }
    }
    return best;
}

/* Rewrites an "unknown setting" into a hint: a name that belongs on the other side of the first
 * [upstream] line, or a near spelling. */
static void unknown_setting(const char *key, bool in_section, char *err, size_t errlen)
{
    const char *const *here = in_section ? section_names : top_names;
    const char *const *there = in_section ? top_names : section_names;
    const char *where = in_section ? " in an [upstream] section" : "";
    const char *near = closest(here, key);
    if (near) {
        snprintf(err, errlen, "unknown setting '%s'%s (did you mean '%s'?)", key, where, near);
    } else if (in_list(there, key)) {
        snprintf(err, errlen,
                 in_section ? "'%s' is a top-level setting: put it above the first [upstream] "
                              "section"
                            : "'%s' is only valid inside an [upstream NAME] section",
                 key);
    } else if ((near = closest(there, key))) {
        snprintf(err, errlen, "unknown setting '%s'%s (did you mean '%s', which %s?)", key, where,
                 near,
                 in_section ? "is a top-level setting" : "belongs in an [upstream NAME] section");
    } else if (in_section) {
        snprintf(err, errlen,
                 "unknown setting '%s' in an [upstream] section (url, api_key, models, "
                 "priority, weight, max_concurrent_per_key)",
                 key);
    } else {
        snprintf(err, errlen, "unknown setting '%s'", key);
    }
}

/* ---- the file ---- */

/* Checks the keys list[from..to) one line added; what names them ("api_key", "client_key"). */
static int check_new_keys(char *const *list, int from, int to, const char *what, char *err,
                          size_t errlen)
{
    for (int k = from; k < to; k++) {
        int pos = k - from + 1;
        /* never echo the key, nor any part of it */
        if (strlen(list[k]) > CFG_MAX_KEY) {
            snprintf(err, errlen, "%s #%d on this line is longer than %d bytes", what, pos,
                     CFG_MAX_KEY);
            return -1;
        }
        if (!config_visible_word(list[k])) {
            snprintf(err, errlen,
                     "%s #%d on this line has a space, a control or a non-ASCII character", what,
                     pos);
            return -1;
        }
    }
    return 0;
}

/* Parses a trimmed "[upstream NAME]" line: the word upstream, blanks, one NAME of letters,
 * digits, '_', '.', '-' (at most 63), optional blanks, ']', nothing after. Returns 0 or -1. */
static int parse_section(const char *p, char *name, size_t namesz, bool *model)
{
    p++; /* '[' */
    while (*p == ' ' || *p == '\t')
        p++;
    *model = !strncmp(p, "model", 5) && (p[5] == ' ' || p[5] == '\t');
    if (*model)
        p += 5;
    else if (strncmp(p, "upstream", 8) || (p[8] != ' ' && p[8] != '\t'))
        return -1;
    else
        p += 8;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
    if (n == 0 || n >= namesz)
        return -1;
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    while (*p == ' ' || *p == '\t')
        p++;
    return strcmp(p, "]") == 0 ? 0 : -1;
}

/* Cuts a " # comment" (a '#' after a blank) off the line and the blanks before it. */
static void cut_comment(char *p)
{
    for (char *h = strchr(p, '#'); h; h = strchr(h + 1, '#')) {
        if (h > p && (h[-1] == ' ' || h[-1] == '\t')) {
            while (h > p && (h[-1] == ' ' || h[-1] == '\t'))
                h--;
            *h = '\0';
            return;
        }
    }
}

int config_load(seekd_config_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a config file (%s)", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        fclose(f);
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    int section_lines[CFG_MAX_UPSTREAMS] = {0};
    int top_upstream_line = 0; /* first top-level upstream/api_key line */
    const char *top_upstream_key = NULL;
    cfg_upstream_t *section = NULL;
    cfg_local_model_t *msection = NULL;
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
        if (*p == '#')
            continue;
        cut_comment(p);
        char *e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*p == '\0')
            continue;
        if (*p == '[') {
            char name[64];
            bool is_model = false;
            if (parse_section(p, name, sizeof name, &is_model)) {
                snprintf(err, errlen,
                         "%s:%d: expected a section '[upstream NAME]' or '[model NAME]' (NAME: "
                         "one word of letters, digits, '_', '.', '-'), got '%.60s'",
                         path, lineno, p);
                rc = -1;
                break;
            }
            if (is_model) {
                for (int i = 0; i < c->nlmodels; i++)
                    if (!strcmp(c->lmodels[i].name, name)) {
                        snprintf(err, errlen, "%s:%d: model '%s' is defined twice", path, lineno,
                                 name);
                        rc = -1;
                        goto out;
                    }
                if (c->nlmodels >= CFG_MAX_LOCAL) {
                    snprintf(err, errlen, "%s:%d: too many models (at most %d)", path, lineno,
                             CFG_MAX_LOCAL);
                    rc = -1;
                    break;
                }
                msection = &c->lmodels[c->nlmodels++];
                memset(msection, 0, sizeof *msection);
                snprintf(msection->name, sizeof msection->name, "%s", name);
                msection->line = lineno;
                section = NULL;
                continue;
            }
            msection = NULL;
            for (int i = 0; i < c->nups; i++) {
                if (!strcmp(c->ups[i].name, name)) {
                    snprintf(err, errlen, "%s:%d: upstream '%s' is defined twice", path, lineno,
                             name);
                    rc = -1;
                    goto out;
                }
            }
            if (c->nups >= CFG_MAX_UPSTREAMS) {
                snprintf(err, errlen, "%s:%d: too many upstreams (at most %d)", path, lineno,
                         CFG_MAX_UPSTREAMS);
                rc = -1;
                break;
            }
            section_lines[c->nups] = lineno;
            section = &c->ups[c->nups++];
            snprintf(section->name, sizeof section->name, "%s", name);
            section->weight = 1;
            section->max_per_key = -1; /* not set: the global default applies */
            continue;
        }
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
        if (msection) {
            if (config_set_local_model(msection, k, v, why, sizeof why)) {
                snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
                rc = -1;
                break;
            }
            continue;
        }
        int nkeys0 = section ? section->nkeys : c->nkeys, nclient0 = c->nclient_keys;
        int bad = section ? config_set_upstream(section, k, v, why, sizeof why)
                          : config_set(c, k, v, why, sizeof why);
        if (bad && strncmp(why, "unknown setting", 15) == 0)
            unknown_setting(k, section != NULL, why, sizeof why);
        if (!bad && !strcmp(k, "api_key"))
            bad = check_new_keys(section ? section->keys : c->keys, nkeys0,
                                 section ? section->nkeys : c->nkeys, "api key", why, sizeof why);
        if (!bad && !strcmp(k, "client_key"))
            bad = check_new_keys(c->client_keys, nclient0, c->nclient_keys, "client_key", why,
                                 sizeof why);
        if (!bad && (!strcmp(k, "url") || !strcmp(k, "upstream")) && !config_visible_word(v)) {
            snprintf(why, sizeof why, "%s has a space or a control character", k);
            bad = -1;
        }
        if (bad) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
        if (!section && !top_upstream_line && (!strcmp(k, "upstream") || !strcmp(k, "api_key"))) {
            top_upstream_line = lineno;
            top_upstream_key = !strcmp(k, "upstream") ? "upstream" : "api_key";
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s:%d: cannot read: %s", path, lineno + 1, strerror(errno));
        rc = -1;
    }
out:
    fclose(f);
    for (int i = 0; rc == 0 && i < c->nups; i++) {
        if (!c->ups[i].url[0]) {
            snprintf(err, errlen, "%s:%d: upstream '%s' has no url", path, section_lines[i],
                     c->ups[i].name);
            rc = -1;
        }
    }
    /* With sections, a top-level upstream/api_key would be dropped, and with no key in any
     * section the server would quietly let clients pay: refuse it where it was written. */
    if (rc == 0 && c->nups > 0 && top_upstream_line) {
        snprintf(err, errlen,
                 "%s:%d: a top-level '%s' is not used when the file defines [upstream] sections "
                 "(line %d): move it into a section",
                 path, top_upstream_line, top_upstream_key, section_lines[0]);
        rc = -1;
    }
    return rc;
}
