/* ledger_cmd.c - `seekd ledger verify [--db URL]`: checks that every key's balance equals its
 * grants and top-ups minus its settled rows, and its held amount its open holds, exactly. */
#include "cli/ledger_cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "store/store.h"

static const char usage[] =
    "usage: seekd ledger verify [--db URL]\n"
    "\n"
    "Checks every key of the accounts database (default ./seekd.db): its granted and topped-up\n"
    "parts equal its credits minus what its settled requests spent, and its held amount equals\n"
    "its open holds, to the nano-unit. Exit status: 0 sound, 1 a mismatch (each printed),\n"
    "2 bad command line, 3 the database failed.\n";

static int count_key(void *ud, const store_key_t *k)
{
    (void)k;
    (*(int *)ud)++;
    return 0;
}

int cli_ledger_main(int argc, char **argv)
{
    const char *db = "seekd.db";
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (ch == 'd') {
            db = optarg;
        } else if (ch == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            return cli_bad_flag("ledger", ch, argc, argv);
        }
    }
    if (argc - optind != 1 || strcmp(argv[optind], "verify") != 0) {
        fprintf(stderr, "seekd ledger: which command? (verify)\n%s", usage);
        return 2;
    }
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
