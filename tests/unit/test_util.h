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

#endif
