/* test_util.h - small helpers shared by the cmocka unit tests. */
#ifndef SEEKD_TEST_UTIL_H
#define SEEKD_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "base/mem.h"

/** Reads a whole file into a NUL-terminated buffer (free with free()); *len gets its length.
 * Returns NULL when the file cannot be read. */
static inline char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *s = xmalloc(cap + 1);
    while ((got = fread(s + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            s = xrealloc(s, (cap *= 2) + 1);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

/* A test whose prerequisite is missing (tokenizer data, ../shared) calls test_skip(); main returns
 * test_exit(failures). cmocka's own skips exit 0, so without this a binary whose every test
 * skipped would count as a pass: it exits 77 instead (ctest's SKIP_RETURN_CODE: "skipped"). */
static inline int *test_skip_count(void)
{
    static int n;
    return &n;
}

#define test_skip(...)                                                                         \
    do {                                                                                       \
        print_message("SKIP: " __VA_ARGS__);                                                   \
        (*test_skip_count())++;                                                                \
        skip();                                                                                \
    } while (0)

/** What main returns: the failure count if any, else 77 when a test skipped, else 0. */
static inline int test_exit(int failures)
{
    return failures ? failures : *test_skip_count() ? 77 : 0;
}

#endif
