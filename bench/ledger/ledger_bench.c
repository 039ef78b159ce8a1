/* ledger_bench.c - settles per second of store_settle_many, by batch size, on one store URL.
 * Each run opens N holds on one key (not timed), then settles them all in batches of B (timed:
 * every batch one transaction, as the gateway's group commit will send them) and checks the
 * ledger. Prints the median of the runs per batch size.
 *
 *   seekd-ledger-bench URL [N] [RUNS]      URL: a SQLite path or postgres://... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "ledger-bench: %s: %s\n", what, err);
    exit(1);
}

/* One run: N holds, settled in batches of b. Returns settles per second. */
static double run(store_t *s, const char *key_id, int n, int b)
{
    char err[512];
    int64_t *ids = xmalloc((size_t)n * sizeof *ids);
    store_hold_info_t info = {.request_id = "bench", .model = "deepseek-chat", .at = 1};
    for (int i = 0; i < n; i++)
        if (store_hold(s, key_id, 1000, &info, &ids[i], err, sizeof err) != STORE_OK)
            die("hold", err);
    store_settle_item_t *items = xcalloc((size_t)b, sizeof *items);
    double t0 = now_s();
    for (int i = 0; i < n; i += b) {
        int m = n - i < b ? n - i : b;
        for (int j = 0; j < m; j++)
            items[j] = (store_settle_item_t){.hold_id = ids[i + j],
                                             .row = {.at = 2,
                                                     .request_id = "chatcmpl-0123456789abcdef",
                                                     .model = "deepseek-chat",
                                                     .backend = "upstream",
                                                     .upstream = "deepseek",
                                                     .upstream_key_id = "a1b2c3d4",
                                                     .status = "ok",
                                                     .hit = 100,
                                                     .miss = 900,
                                                     .output = 300,
                                                     .cost = 700}};
        if (store_settle_many(s, items, (size_t)m, err, sizeof err) != STORE_OK)
            die("settle", err);
        for (int j = 0; j < m; j++)
            if (items[j].rc != STORE_OK)
                die("settle", "an item was not settled");
    }
    double dt = now_s() - t0;
    free(items);
    free(ids);
    return n / dt;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: seekd-ledger-bench URL [N] [RUNS]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 4096, runs = argc > 3 ? atoi(argv[3]) : 5;
    char err[512];
    store_t *s = store_open(argv[1], err, sizeof err);
    if (!s)
        die("open", err);
    store_key_t k;
    memset(&k, 0, sizeof k);
    snprintf(k.key_id, sizeof k.key_id, "be0c4be0c4be");
    snprintf(k.name, sizeof k.name, "bench-%ld", (long)time(NULL));
    k.topped_up = 1000000LL * 1000000000LL; /* far more than the runs spend */
    k.enabled = true;
    uint8_t hmac[STORE_HMAC_LEN] = {0xbe, 0x0c};
    if (store_key_create(s, &k, hmac, 1, err, sizeof err) != STORE_OK)
        die("key", err);
    static const int batches[] = {1, 16, 128};
    char shown[1024];
    store_url_redact(argv[1], shown, sizeof shown);
    printf("%s: %d settles a run, median of %d runs\n", shown, n, runs);
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        double r[16];
        int nr = runs < 16 ? runs : 16;
        for (int i = 0; i < nr; i++)
            r[i] = run(s, k.key_id, n, batches[bi]);
        qsort(r, (size_t)nr, sizeof r[0], cmp_double);
        printf("  batch %3d: %8.0f settles/s (runs: %.0f .. %.0f)\n", batches[bi], r[nr / 2], r[0],
               r[nr - 1]);
    }
    int bad = store_verify(s, NULL, err, sizeof err);
    if (bad != 0)
        die("verify", bad < 0 ? err : "the ledger does not add up");
    store_close(s);
    return 0;
}
