/* keys_cmd.c - `seekd keys ...`: client keys of the accounts, in the store given by --db. */
#include "cli/keys_cmd.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "api/admin_ops.h"
#include "gateway/keys.h"
#include "gateway/price.h"
#include "store/store.h"

static const char usage[] =
    "usage: seekd keys create --name NAME [--balance AMOUNT] [--granted AMOUNT]\n"
    "                         [--currency USD|CNY] [--rpm N] [--tpm N] [--concurrency N]\n"
    "                         [--models a,b] [--expires DATE] [--db URL]\n"
    "       seekd keys list [--json] [--db URL]\n"
    "       seekd keys show KEY|NAME|ID [--json] [--db URL]\n"
    "       seekd keys topup|grant KEY|NAME|ID AMOUNT [--db URL]\n"
    "       seekd keys disable|enable|delete KEY|NAME|ID [--db URL]\n"
    "\n"
    "Client keys with balances, in the accounts database (--db sqlite:PATH, a path, or\n"
    "postgres://USER:PASSWORD@HOST:PORT/DB; default ./seekd.db). 'create' prints the new key\n"
    "once, alone on the first line; only its HMAC is stored. Amounts are decimals (at most 9\n"
    "decimal places); --balance is the topped-up part, --granted the granted part, which\n"
    "requests spend first. A limit not given is no limit.\n"
    "DATE is YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ.\n"
    "Exit status: 0 done, 1 refused (no such key, a name taken, ...), 2 bad command line,\n"
    "3 the database failed.\n";

typedef struct {
    const char *db, *name, *balance, *granted, *currency, *models, *expires;
    long long rpm, tpm, concurrency;
    bool json;
} opts_t;

static int exit_for(store_rc_t rc)
{
    return rc == STORE_ERR ? 3 : 1;
}

static int parse_count(const char *flag, const char *v, long long *out)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0 || n > 1000000000000LL) {
        fprintf(stderr, "seekd keys: %s must be a whole number from 0 to 10^12, not '%s'\n", flag,
                v);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_amount(const char *what, const char *v, gw_nano_t *out)
{
    const char *why = NULL;
    if (gw_amount_parse(v, strlen(v), out, &why) || *out < 0) {
        fprintf(stderr, "seekd keys: %s '%s': %s\n", what, v, why ? why : "must not be negative");
        return -1;
    }
    return 0;
}

static void key_text(const store_key_t *k)
{
    char a[GW_AMOUNT_TEXT], g[GW_AMOUNT_TEXT], t[GW_AMOUNT_TEXT], h[GW_AMOUNT_TEXT];
    printf("%-20s %-12s %s balance %s (granted %s, topped up %s), held %s, %s\n", k->name,
           k->key_id, gw_currency_name(k->currency), gw_amount_format(k->granted + k->topped_up, a),
           gw_amount_format(k->granted, g), gw_amount_format(k->topped_up, t),
           gw_amount_format(k->held, h), k->enabled ? "enabled" : "disabled");
}

static int print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!s)
        return 3;
    puts(s);
    free(s);
    return 0;
}

static int cmd_create(store_t *s, const opts_t *o)
{
    char err[512];
    store_key_t k;
    memset(&k, 0, sizeof k);
    if (!o->name || !*o->name || strlen(o->name) > STORE_NAME_MAX) {
        fprintf(stderr, "seekd keys create: --name NAME is required (1 to %d bytes)\n",
                STORE_NAME_MAX);
        return 2;
    }
    snprintf(k.name, sizeof k.name, "%s", o->name);
    if (gw_key_well_formed(o->name, strlen(o->name))) {
        fprintf(stderr, "seekd keys create: a name must not look like a key\n");
        return 2;
    }
    int cur = o->currency ? gw_currency_parse(o->currency) : GW_CUR_USD;
    if (cur < 0) {
        fprintf(stderr, "seekd keys create: --currency must be USD or CNY\n");
        return 2;
    }
    k.currency = (gw_currency_t)cur;
    if ((o->balance && parse_amount("--balance", o->balance, &k.topped_up)) ||
        (o->granted && parse_amount("--granted", o->granted, &k.granted)))
        return 2;
    if (o->expires && gw_time_parse(o->expires, strlen(o->expires), &k.expires)) {
        fprintf(stderr,
                "seekd keys create: --expires must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n");
        return 2;
    }
    if (o->models && strlen(o->models) > STORE_MODELS_MAX) {
        fprintf(stderr, "seekd keys create: --models is longer than %d bytes\n", STORE_MODELS_MAX);
        return 2;
    }
    snprintf(k.models, sizeof k.models, "%s", o->models ? o->models : "");
    k.rpm = o->rpm;
    k.tpm = o->tpm;
    k.concurrency = o->concurrency;
    k.enabled = true;
    gw_secret_t secret;
    if (gw_secret_load(s, &secret, err, sizeof err)) {
        fprintf(stderr, "seekd keys create: %s\n", err);
        return 3;
    }
    char key[GW_KEY_LEN + 1];
    if (gw_key_generate(key)) {
        fprintf(stderr, "seekd keys create: no randomness for a key\n");
        return 3;
    }
    uint8_t hmac[STORE_HMAC_LEN];
    gw_key_hmac(&secret, key, GW_KEY_LEN, hmac);
    gw_key_id(hmac, k.key_id);
    store_rc_t rc = store_key_create(s, &k, hmac, (int64_t)time(NULL), err, sizeof err);
    if (rc != STORE_OK) {
        fprintf(stderr, "seekd keys create: %s\n", err);
        return exit_for(rc);
    }
    printf("%s\n", key);
    fflush(stdout);
    fprintf(stderr, "created key '%s' (id %s); it is shown only now\n", k.name, k.key_id);
    return 0;
}

static int add_to_list(void *ud, const store_key_t *k)
{
    const opts_t *o = ((void **)ud)[0];
    json_t *arr = ((void **)ud)[1];
    if (o->json)
        json_array_append_new(arr, admin_key_json(k));
    else
        key_text(k);
    return 0;
}

int cli_keys_main(int argc, char **argv)
{
    opts_t o = {.db = "seekd.db"};
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},
        {"balance", required_argument, NULL, 'b'},
        {"granted", required_argument, NULL, 'g'},
        {"currency", required_argument, NULL, 'c'},
        {"rpm", required_argument, NULL, 'r'},
        {"tpm", required_argument, NULL, 't'},
        {"concurrency", required_argument, NULL, 'C'},
        {"models", required_argument, NULL, 'm'},
        {"expires", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o.db = optarg;
            break;
        case 'n':
            o.name = optarg;
            break;
        case 'b':
            o.balance = optarg;
            break;
        case 'g':
            o.granted = optarg;
            break;
        case 'c':
            o.currency = optarg;
            break;
        case 'm':
            o.models = optarg;
            break;
        case 'e':
            o.expires = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'r':
            if (parse_count("--rpm", optarg, &o.rpm))
                return 2;
            break;
        case 't':
            if (parse_count("--tpm", optarg, &o.tpm))
                return 2;
            break;
        case 'C':
            if (parse_count("--concurrency", optarg, &o.concurrency))
                return 2;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_flag("keys", ch, argc, argv);
        }
    }
    int nargs = argc - optind;
    const char *verb = nargs > 0 ? argv[optind] : NULL;
    static const struct {
        const char *verb;
        int args; /* after the verb */
    } verbs[] = {{"create", 0}, {"list", 0},    {"show", 1},   {"topup", 2},
                 {"grant", 2},  {"disable", 1}, {"enable", 1}, {"delete", 1}};
    int vi = -1;
    for (size_t i = 0; verb && i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(verb, verbs[i].verb))
            vi = (int)i;
    if (vi < 0) {
        fprintf(stderr,
                verb ? "seekd keys: unknown command '%s'\n%s" : "seekd keys: which command?\n%s",
                verb ? verb : usage, verb ? usage : "");
        return 2;
    }
    if (nargs - 1 != verbs[vi].args) {
        fprintf(stderr, "seekd keys %s: takes %d argument%s\n%s", verb, verbs[vi].args,
                verbs[vi].args == 1 ? "" : "s", usage);
        return 2;
    }
    char err[512];
    store_t *s = store_open(o.db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "seekd keys: %s\n", err);
        return 3;
    }
    int rc = 0;
    const char *arg = nargs > 1 ? argv[optind + 1] : NULL;
    store_key_t k;
    if (!strcmp(verb, "create")) {
        rc = cmd_create(s, &o);
    } else if (!strcmp(verb, "list")) {
        json_t *arr = json_array();
        void *ud[2] = {&o, arr};
        store_rc_t r = store_key_list(s, add_to_list, ud, err, sizeof err);
        if (r != STORE_OK) {
            fprintf(stderr, "seekd keys list: %s\n", err);
            json_decref(arr);
            rc = exit_for(r);
        } else {
            rc = o.json ? print_json(arr) : (json_decref(arr), 0);
        }
    } else {
        store_rc_t r = gw_key_resolve(s, arg, &k, err, sizeof err);
        if (r == STORE_OK && !strcmp(verb, "show")) {
            if (o.json)
                rc = print_json(admin_key_json(&k));
            else
                key_text(&k);
        } else if (r == STORE_OK && (!strcmp(verb, "topup") || !strcmp(verb, "grant"))) {
            gw_nano_t amount;
            if (parse_amount("the amount", argv[optind + 2], &amount)) {
                rc = 2;
            } else if (amount == 0) {
                fprintf(stderr, "seekd keys: the amount must be above 0\n");
                rc = 2;
            } else {
                r = store_key_credit(s, k.key_id, verb[0] == 'g', amount, (int64_t)time(NULL), err,
                                     sizeof err);
                if (r == STORE_OK && store_key_find(s, k.key_id, &k, err, sizeof err) == STORE_OK)
                    key_text(&k);
            }
        } else if (r == STORE_OK && !strcmp(verb, "delete")) {
            r = store_key_delete(s, k.key_id, err, sizeof err);
            if (r == STORE_OK)
                printf("deleted key '%s' (id %s); its ledger rows stay\n", k.name, k.key_id);
        } else if (r == STORE_OK) {
            bool on = !strcmp(verb, "enable");
            r = store_key_set_enabled(s, k.key_id, on, err, sizeof err);
            if (r == STORE_OK)
                printf("%s key '%s' (id %s)\n", on ? "enabled" : "disabled", k.name, k.key_id);
        }
        if (r != STORE_OK && rc == 0) {
            fprintf(stderr, "seekd keys %s %s: %s\n", verb,
                    gw_key_well_formed(arg, strlen(arg)) ? "(a key)" : arg, err);
            rc = exit_for(r);
        }
    }
    store_close(s);
    return rc;
}
