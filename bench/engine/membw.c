/* membw.c - memory read bandwidth with T threads: each sums its slice of a 1 GiB buffer (far
 * larger than the caches) repeatedly; prints the best of 5 passes in GB/s. The roofline of
 * bench/engine/run.sh: a decode step must read every weight once. usage: membw THREADS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIZE ((size_t)1 << 30)

static uint64_t *buf;
static int nth;

static void *reader(void *arg)
{
    size_t i = (size_t)(intptr_t)arg, n = SIZE / 8 / (size_t)nth;
    const uint64_t *p = buf + i * n;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t k = 0; k + 4 <= n; k += 4) {
        s0 += p[k];
        s1 += p[k + 1];
        s2 += p[k + 2];
        s3 += p[k + 3];
    }
    return (void *)(intptr_t)(s0 + s1 + s2 + s3);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    nth = argc > 1 ? atoi(argv[1]) : 1;
    if (nth < 1 || nth > 256)
        return 2;
    buf = malloc(SIZE);
    if (!buf)
        return 1;
    memset(buf, 1, SIZE);
    double best = 0;
    for (int pass = 0; pass < 5; pass++) {
        pthread_t th[256];
        double t0 = now();
        for (int i = 0; i < nth; i++)
            pthread_create(&th[i], NULL, reader, (void *)(intptr_t)i);
        for (int i = 0; i < nth; i++)
            pthread_join(th[i], NULL);
        double gbs = (double)SIZE / (now() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    printf("%.2f\n", best);
    free(buf);
    return 0;
}
