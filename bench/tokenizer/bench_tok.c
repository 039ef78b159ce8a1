/* bench_tok.c - single-thread encode throughput of the built-in DeepSeek-V3 tokenizer on a
 * corpus file, its load time and resident memory. Prints one line of key=value pairs.
 * usage: seekd-tok-bench CORPUS [runs] [whole|docs]     (or: seekd-tok-bench --load)
 * whole: the corpus as one string; docs: one encode call per paragraph ("\n\n"-terminated),
 * as bench_hf.js does. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tok.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long rss0 = rss_kb();
    double t0 = now();
    const tok_t *t = tok_default();
    double load_ms = (now() - t0) * 1e3;
    long rss1 = rss_kb();
    if (!t) {
        fprintf(stderr, "no built-in DeepSeek-V3 tokenizer (npm ci, rebuild)\n");
        return 77;
    }
    if (argc < 2 || strcmp(argv[1], "--load") == 0) {
        printf("load_ms=%.2f rss_kb=%ld rss_delta_kb=%ld\n", load_ms, rss1, rss1 - rss0);
        return 0;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n)
        return 1;
    fclose(f);
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    bool docs = argc > 3 && strcmp(argv[3], "docs") == 0;
    size_t ndocs = 0;
    if (runs < 1 || runs > 100)
        runs = 5;
    double secs[100];
    tok_ids_t ids = {0};
    uint64_t h = 0;
    for (int r = 0; r < runs; r++) {
        ids.len = 0;
        ndocs = 0;
        double a = now();
        if (!docs) {
            tok_encode(t, text, (size_t)n, 0, &ids);
            ndocs = 1;
        } else {
            for (size_t at = 0; at < (size_t)n; ndocs++) {
                const char *e = strstr(text + at, "\n\n");
                size_t end = e ? (size_t)(e - text) + 2 : (size_t)n;
                tok_encode(t, text + at, end - at, 0, &ids);
                at = end;
            }
        }
        secs[r] = now() - a;
    }
    /* FNV-1a over the ids, to compare with the reference's output */
    h = 1469598103934665603ull;
    for (size_t i = 0; i < ids.len; i++) {
        h ^= (uint32_t)ids.ids[i];
        h *= 1099511628211ull;
    }
    qsort(secs, (size_t)runs, sizeof secs[0], cmp_d);
    double med = secs[runs / 2];
    printf("mode=%s docs=%zu bytes=%ld tokens=%zu median_s=%.4f tokens_per_s=%.0f mb_per_s=%.2f "
           "load_ms=%.2f "
           "rss_after_load_kb=%ld rss_delta_kb=%ld ids_fnv=%016llx\n",
           docs ? "docs" : "whole", ndocs, n, ids.len, med, ids.len / med, n / med / 1e6, load_ms,
           rss1, rss1 - rss0, (unsigned long long)h);
    tok_ids_free(&ids);
    free(text);
    return 0;
}
