/* ledger_cmd.c - reading the accounts' ledger: `seekd ledger verify` (every key's balance
 * against its history, exactly), `seekd ledger export` (the rows as CSV or JSON) and `seekd
 * usage` (totals by model, day or key). */
#include "cli/ledger_cmd.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "gateway/keys.h"
#include "gateway/price.h"
#include "store/store.h"

static const char usage[] =
    "usage: seekd ledger verify [--db URL]\n"
    "       seekd ledger export [--format csv|json] [--since DATE] [--key KEY|NAME|ID] [--db URL]\n"
    "\n"
    "verify: checks every key of the accounts database (default ./seekd.db): its granted and\n"
    "topped-up parts equal its credits minus what its settled requests spent, and its held\n"
    "amount equals its open holds, to the nano-unit. Exit status: 0 sound, 1 a mismatch (each\n"
    "printed), 2 bad command line, 3 the database failed.\n"
    "export: one row per settled request, oldest first, to stdout (CSV by default, with a\n"
    "header line; amounts with 9 decimals; a text that a spreadsheet would run as a formula\n"
    "gets a leading apostrophe).\n";

static const char usage_usage[] =
    "usage: seekd usage [--key KEY|NAME|ID] [--since DATE] [--by model|day|key] [--json]\n"
    "                   [--db URL]\n"
    "\n"
    "Totals of the ledger (default: all rows, by model): requests, cache-hit, cache-miss and\n"
    "output tokens, and cost per currency. DATE is YYYY-MM-DD (UTC) or YYYY-MM-DDTHH:MM:SSZ;\n"
    "days are UTC days.\n";

typedef struct {
    const char *db, *since, *key, *format, *by;
    bool json;
} lopts_t;

/* The shared flags of ledger and usage; returns -1 to go on, else the exit code. */
static int parse_flags(const char *cmd, int argc, char **argv, lopts_t *o, const char *help)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},  {"since", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'}, {"format", required_argument, NULL, 'f'},
        {"by", required_argument, NULL, 'b'},  {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o->db = optarg;
            break;
        case 's':
            o->since = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'f':
            o->format = optarg;
            break;
        case 'b':
            o->by = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return cli_bad_flag(cmd, ch, argc, argv);
        }
    }
    return -1;
}

/* Opens the store and resolves --since and --key. Returns the store, or NULL with *rc set. */
static store_t *open_for_reading(const char *cmd, const lopts_t *o, int64_t *since,
                                 char key_id[STORE_KEY_ID_LEN + 1], int *rc)
{
    *since = 0;
    key_id[0] = 0;
    if (o->since && gw_time_parse(o->since, strlen(o->since), since)) {
        fprintf(stderr, "seekd %s: --since must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n", cmd);
        *rc = 2;
        return NULL;
    }
    char err[512];
    store_t *s = store_open(o->db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "seekd %s: %s\n", cmd, err);
        *rc = 3;
        return NULL;
    }
    if (o->key) {
        store_key_t k;
        size_t n = strlen(o->key);
        store_rc_t r = gw_key_resolve(s, o->key, &k, err, sizeof err);
        if (r == STORE_NOT_FOUND && n == STORE_KEY_ID_LEN && !gw_key_well_formed(o->key, n)) {
            memcpy(key_id, o->key, n + 1); /* a deleted key's rows stay */
            return s;
        }
        if (r != STORE_OK) {
            fprintf(stderr, "seekd %s: --key: %s\n", cmd, err);
            store_close(s);
            *rc = r == STORE_ERR ? 3 : 1;
            return NULL;
        }
        memcpy(key_id, k.key_id, sizeof k.key_id);
    }
    return s;
}

/* ---- export ---- */

static void fmt_utc(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A CSV field: quoted when it must be, and a text a spreadsheet would run as a formula made
 * inert with a leading apostrophe (model names and request ids come from clients). */
static void csv_text(FILE *f, const char *v)
{
    bool formula = strchr("=+-@\t\r", v[0]) && v[0];
    bool quote = formula || strpbrk(v, ",\"\r\n") != NULL;
    if (!quote) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    if (formula)
        fputc('\'', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

typedef struct {
    bool json;
    json_t *arr;
} export_t;

static int export_row(void *ud, const store_ledger_row_t *r)
{
    export_t *x = ud;
    char at[32], cost[GW_AMOUNT_TEXT];
    fmt_utc(r->at, at);
    gw_amount_format(r->cost, cost);
    const char *tier = r->tier == GW_TIER_OFFPEAK ? "off-peak" : "peak";
    if (x->json) {
        json_array_append_new(
            x->arr,
            json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:I,s:I,"
                      "s:b}",
                      "id", (json_int_t)r->id, "at", at, "key_id", r->key_id, "currency",
                      r->currency, "request_id", r->request_id, "model", r->model, "backend",
                      r->backend, "upstream", r->upstream, "upstream_key_id", r->upstream_key_id,
                      "status", r->status, "cache_hit_tokens", (json_int_t)r->hit,
                      "cache_miss_tokens", (json_int_t)r->miss, "output_tokens",
                      (json_int_t)r->output, "reasoning_tokens", (json_int_t)r->reasoning, "tier",
                      tier, "cost", cost, "ttft_ms", (json_int_t)r->ttft_ms, "duration_ms",
                      (json_int_t)r->duration_ms, "estimated", r->estimated));
        return 0;
    }
    printf("%lld,%s,%s,%s,", (long long)r->id, at, r->key_id, r->currency);
    const char *texts[] = {r->request_id, r->model,           r->backend,
                           r->upstream,   r->upstream_key_id, r->status};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        csv_text(stdout, texts[i]);
        fputc(',', stdout);
    }
    printf("%lld,%lld,%lld,%lld,%s,%s,%lld,%lld,%s\n", (long long)r->hit, (long long)r->miss,
           (long long)r->output, (long long)r->reasoning, tier, cost, (long long)r->ttft_ms,
           (long long)r->duration_ms, r->estimated ? "true" : "false");
    return 0;
}

static int cmd_export(const lopts_t *o)
{
    const char *fmt = o->format ? o->format : "csv";
    if (strcmp(fmt, "csv") && strcmp(fmt, "json")) {
        fprintf(stderr, "seekd ledger export: --format must be csv or json\n");
        return 2;
    }
    int rc = 0;
    int64_t since;
    char key_id[STORE_KEY_ID_LEN + 1];
    store_t *s = open_for_reading("ledger export", o, &since, key_id, &rc);
    if (!s)
        return rc;
    export_t x = {.json = fmt[0] == 'j', .arr = json_array()};
    if (!x.json)
        puts("id,at,key_id,currency,request_id,model,backend,upstream,upstream_key_id,status,"
             "cache_hit_tokens,cache_miss_tokens,output_tokens,reasoning_tokens,tier,cost,"
             "ttft_ms,duration_ms,estimated");
    char err[512];
    store_rc_t r =
        store_ledger_each(s, key_id[0] ? key_id : NULL, since, export_row, &x, err, sizeof err);
    store_close(s);
    if (r != STORE_OK) {
        fprintf(stderr, "seekd ledger export: %s\n", err);
        json_decref(x.arr);
        return 3;
    }
    if (x.json) {
        char *text = json_dumps(x.arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    }
    json_decref(x.arr);
    return 0;
}

/* ---- usage ---- */

typedef struct {
    char group[128];
    char currency[8];
    int64_t requests, hit, miss, output;
    gw_nano_t cost;
} total_t;

typedef struct {
    char by; /* m, d, k */
    total_t *t;
    int n, cap;
} totals_t;

static int add_row(void *ud, const store_ledger_row_t *r)
{
    totals_t *x = ud;
    char group[128];
    if (x->by == 'd') {
        char at[32];
        fmt_utc(r->at, at);
        snprintf(group, sizeof group, "%.10s", at);
    } else {
        snprintf(group, sizeof group, "%s", x->by == 'k' ? r->key_id : r->model);
    }
    total_t *t = NULL;
    for (int i = 0; i < x->n && !t; i++)
        if (!strcmp(x->t[i].group, group) && !strcmp(x->t[i].currency, r->currency))
            t = &x->t[i];
    if (!t) {
        if (x->n == x->cap) {
            x->cap = x->cap ? x->cap * 2 : 16;
            x->t = realloc(x->t, (size_t)x->cap * sizeof *x->t);
            if (!x->t)
                return 1;
        }
        t = &x->t[x->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->group, sizeof t->group, "%s", group);
        snprintf(t->currency, sizeof t->currency, "%s", r->currency);
    }
    t->requests++;
    t->hit += r->hit;
    t->miss += r->miss;
    t->output += r->output;
    t->cost += r->cost;
    return 0;
}

static int cmp_total(const void *a, const void *b)
{
    const total_t *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->currency, y->currency);
}

int cli_usage_main(int argc, char **argv)
{
    lopts_t o = {.db = "seekd.db"};
    int rc = parse_flags("usage", argc, argv, &o, usage_usage);
    if (rc >= 0)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "seekd usage: unexpected argument '%s'\n%s", argv[optind], usage_usage);
        return 2;
    }
    const char *by = o.by ? o.by : "model";
    if (strcmp(by, "model") && strcmp(by, "day") && strcmp(by, "key")) {
        fprintf(stderr, "seekd usage: --by must be model, day or key\n");
        return 2;
    }
    int64_t since;
    char key_id[STORE_KEY_ID_LEN + 1];
    store_t *s = open_for_reading("usage", &o, &since, key_id, &rc);
    if (!s)
        return rc;
    totals_t x = {.by = by[0]};
    char err[512];
    store_rc_t r =
        store_ledger_each(s, key_id[0] ? key_id : NULL, since, add_row, &x, err, sizeof err);
    store_close(s);
    if (r != STORE_OK || (x.n && !x.t)) {
        fprintf(stderr, "seekd usage: %s\n", r != STORE_OK ? err : "out of memory");
        free(x.t);
        return 3;
    }
    if (x.n)
        qsort(x.t, (size_t)x.n, sizeof *x.t, cmp_total);
    json_t *arr = json_array();
    if (!o.json)
        printf("%-28s %-8s %9s %12s %12s %12s %20s\n", by, "currency", "requests", "cache_hit",
               "cache_miss", "output", "cost");
    for (int i = 0; i < x.n; i++) {
        const total_t *t = &x.t[i];
        char cost[GW_AMOUNT_TEXT];
        gw_amount_format(t->cost, cost);
        if (o.json)
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s}", by, t->group, "currency",
                               t->currency, "requests", (json_int_t)t->requests, "cache_hit_tokens",
                               (json_int_t)t->hit, "cache_miss_tokens", (json_int_t)t->miss,
                               "output_tokens", (json_int_t)t->output, "cost", cost));
        else
            printf("%-28s %-8s %9lld %12lld %12lld %12lld %20s\n", t->group, t->currency,
                   (long long)t->requests, (long long)t->hit, (long long)t->miss,
                   (long long)t->output, cost);
    }
    if (o.json) {
        char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    }
    json_decref(arr);
    free(x.t);
    return 0;
}

static int count_key(void *ud, const store_key_t *k)
{
    (void)k;
    (*(int *)ud)++;
    return 0;
}

int cli_ledger_main(int argc, char **argv)
{
    lopts_t o = {.db = "seekd.db"};
    int prc = parse_flags("ledger", argc, argv, &o, usage);
    if (prc >= 0)
        return prc;
    const char *verb = argc - optind == 1 ? argv[optind] : NULL;
    if (verb && !strcmp(verb, "export"))
        return cmd_export(&o);
    if (!verb || strcmp(verb, "verify") != 0) {
        fprintf(stderr, "seekd ledger: which command? (verify, export)\n%s", usage);
        return 2;
    }
    const char *db = o.db;
    char err[512];
    store_t *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "seekd ledger: %s\n", err);
        return 3;
    }
    int nkeys = 0;
    int bad = store_key_list(s, count_key, &nkeys, err, sizeof err) == STORE_OK
                  ? store_verify(s, stdout, err, sizeof err)
                  : -1;
    store_close(s);
    if (bad < 0) {
        fprintf(stderr, "seekd ledger verify: %s\n", err);
        return 3;
    }
    if (bad > 0) {
        printf("ledger NOT sound: %d mismatch%s\n", bad, bad == 1 ? "" : "es");
        return 1;
    }
    printf("ledger ok: %d keys, every balance matches its credits, settles and holds\n", nkeys);
    return 0;
}
