/* config.h - seekd's settings: defaults, then the config file, then the environment, then
 * command-line flags. */
#ifndef SEEKD_CLI_CONFIG_H
#define SEEKD_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CFG_MAX_LIST 64
#define CFG_MAX_UPSTREAMS 16
/* The longest upstream or client key, in bytes. Real keys are tens of bytes; the bound keeps a
 * pasted file or certificate out of the Authorization headers that are built per request. */
#define CFG_MAX_KEY 1024

/** One `[upstream NAME]` section. */
typedef struct {
    char name[64];
    char url[1024];
    char *keys[CFG_MAX_LIST];
    int nkeys;
    char *models[CFG_MAX_LIST];
    int nmodels;
    int priority;
    int weight;
    int max_per_key;
} cfg_upstream_t;

#define CFG_MAX_LOCAL 8

/** One local model: a `[model NAME]` section or a --model flag. */
typedef struct {
    char name[128]; /* empty: the file's general.name, else its base name */
    char path[1024];
    int threads, ctx, slots, queue; /* 0: the engine's defaults */
    char chat_template[32];         /* empty: from the file */
    int line;                       /* the config line of its section (0: a flag) */
} cfg_local_model_t;

typedef struct {
    char listen_host[256];
    int listen_port;
    char upstream[1024];
    char *keys[CFG_MAX_LIST]; /* server-side upstream keys */
    int nkeys;
    char *client_keys[CFG_MAX_LIST];
    int nclient_keys;
    char *models[CFG_MAX_LIST]; /* a top-level `models` line: GET /models lists these alone */
    int nmodels;
    bool allow_open;
    size_t max_body;
    size_t max_output;
    long connect_timeout_ms;
    long upstream_idle_ms; /* an idle pooled upstream connection older than this is closed */
    long first_token_timeout_ms;
    long idle_timeout_ms;
    long total_timeout_ms;
    long keepalive_ms;
    long client_timeout_ms;
    long shutdown_grace_ms;      /* SIGTERM: how long answers in flight may take to finish */
    long header_timeout_ms;      /* a whole request head, from its first byte */
    size_t min_body_rate;        /* bytes/s over each header_timeout_ms window; 0: none */
    long max_connections;        /* 0: half the open-files limit */
    long max_connections_per_ip; /* 0: none */
    bool per_ip_set;             /* max_connections_per_ip was configured: loopback counts too */
    size_t max_body_total;       /* request bodies held at once, all connections */
    int log_level;
    /* upstream pools */
    cfg_upstream_t ups[CFG_MAX_UPSTREAMS];
    int nups;
    int max_per_key; /* for the implicit upstream */
    int max_attempts;
    int queue_max;
    long request_timeout_ms;
    long probe_interval_ms;
    long models_refresh_ms; /* an upstream's GET /models list older than this is fetched again */
    int error_threshold;
    long error_window_ms;
    long eject_ms;
    long cooldown_ms;
    long token_check_per_min;
    /* who may reach the server (docs/config.md "Browsers, hosts and proxies") */
    char *cors_origins[CFG_MAX_LIST];
    int ncors_origins;
    char *allowed_hosts[CFG_MAX_LIST];
    int nallowed_hosts;
    char *trusted_proxies[CFG_MAX_LIST]; /* each parses as an IP or CIDR */
    int ntrusted_proxies;
    char *admin_token; /* NULL: /health details are shown to nobody */
    /* accounts (docs/accounts.md): off unless a database is given */
    char db[1024];              /* sqlite:PATH or a path; empty: no accounts */
    char *prices[CFG_MAX_LIST]; /* `price` lines, checked by gw_price_parse */
    int nprices;
    char *holidays[CFG_MAX_LIST]; /* off-peak days, YYYY-MM-DD (Beijing) */
    int nholidays;
    long hold_max_tokens;   /* a request without max_tokens is held for this many output tokens */
    long instance_lease_ms; /* a server sharing the db silent this long is dead: holds released */
    long hold_image_tokens; /* prompt tokens an image part is held for */
    bool metrics_off;       /* `metrics = off`: no GET /metrics */
    /* Anthropic model names to served ones, "PATTERN=MODEL" each; none: DeepSeek's own map */
    char *anthropic_model_map[CFG_MAX_LIST];
    int nanthropic_model_map;
    /* per-key limits shared through Redis (docs/accounts.md "Limits"); NULL: in this process */
    char *redis;           /* the URL as given (it may hold a password: wiped when freed) */
    int redis_instances;   /* how many instances share it: each enforces limit / this alone */
    long redis_timeout_ms; /* a Redis call's deadline */
    /* local models served by the engine (docs/engine.md "Serving") */
    cfg_local_model_t lmodels[CFG_MAX_LOCAL];
    int nlmodels;
} seekd_config_t;

/** Fills defaults: 127.0.0.1:8000, https://api.deepseek.com, no top-level model list (GET
 * /models lists what the upstreams do), 48 MiB bodies, timeouts 10 s connect / 300 s first
 * token / 300 s idle, model lists refreshed after 10 minutes. */
void config_defaults(seekd_config_t *c);
/** Adds the implicit upstream "default" (the `upstream` URL, the server keys, every model) when
 * the file defined no [upstream] section, and gives each section without a `models` line every
 * model ("*"). Call once after all settings are in. */
void config_finish(seekd_config_t *c);
/** After config_finish: every upstream URL and every key (server and client) must be one
 * visible ASCII word, since they go into request lines and headers as they are. Returns 0,
 * or -1 with a message that names the upstream and the key's position, never the key. */
int config_check(const seekd_config_t *c, char *err, size_t errlen);
/** Reads a config file (format in docs/config.md). Returns 0, or -1 with a message
 * "FILE:LINE: what is wrong" in err. */
int config_load(seekd_config_t *c, const char *path, char *err, size_t errlen);
/** Sets one [upstream] section setting (url, api_key, models, ...). Returns 0, or -1 with
 * the reason in err. */
int config_set_upstream(cfg_upstream_t *u, const char *key, const char *v, char *err,
                        size_t errlen);
/** Sets one [model NAME] section setting (path, threads, ctx, chat_template, slots, queue).
 * Returns 0, or -1 with the reason in err. */
int config_set_local_model(cfg_local_model_t *m, const char *key, const char *v, char *err,
                           size_t errlen);
/** Applies one setting by name (shared by the file and the tests). Returns 0 or -1 + err. */
int config_set(seekd_config_t *c, const char *key, const char *value, char *err, size_t errlen);
/** Parses "HOST:PORT", "[V6]:PORT" or ":PORT". Returns 0 or -1. */
int config_parse_listen(seekd_config_t *c, const char *hostport);
/** Replaces the server keys with a comma-separated list (DEEPSEEK_API_KEY). */
void config_set_keys(seekd_config_t *c, const char *csv);
/** Whether host is a loopback address (127.0.0.0/8, ::1, their IPv4-mapped IPv6 forms), or a
 * name that resolves to loopback addresses only. */
bool config_is_loopback(const char *host);
/** Server-side keys over all upstreams (after config_finish). */
int config_server_keys(const seekd_config_t *c);
void config_free(seekd_config_t *c);
/** Whether key is a setting the file accepts, at the top or in an [upstream] section. */
bool config_known_setting(const char *key);
/** Whether s is one visible ASCII word: what may go into a request line or a header as is. */
bool config_visible_word(const char *s);

/** What `seekd serve` (and `seekd check`) are given besides the file. NULL: not given. */
typedef struct {
    const char *config_path;
    const char *listen;
    const char *upstream;
    const char *log_level;
    const char *env_keys; /* DEEPSEEK_API_KEY */
    const char *db;       /* --db URL */
    const char *redis;    /* --redis URL */
    bool allow_open;
    /* --model FILE [--model-name NAME] ..., with --threads, --ctx, --chat-template for them all */
    const char *model_paths[CFG_MAX_LOCAL];
    const char *model_names[CFG_MAX_LOCAL];
    int nmodel_args;
    const char *threads, *ctx, *chat_template;
} config_args_t;

/** Builds the settings `seekd serve` runs with, one way for serve and check: defaults, the
 * file, DEEPSEEK_API_KEY, flags, config_finish, config_check, and the refusal to be an open
 * relay beyond loopback. Sets the log level, then logs a warning for what is set but not used
 * (DEEPSEEK_API_KEY or --upstream beside [upstream] sections) and for an open relay that
 * --allow-open lets through. Returns 0, or -1 with the reason in err (the caller exits 2);
 * c must be freed with config_free either way. */
int config_build(seekd_config_t *c, const config_args_t *a, char *err, size_t errlen);

#endif
