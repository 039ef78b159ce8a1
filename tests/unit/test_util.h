/* test_util.h - small helpers shared by the cmocka unit tests. */
#ifndef SEEKD_TEST_UTIL_H
#define SEEKD_TEST_UTIL_H

#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

#define test_skip(...)                                                                             \
    do {                                                                                           \
        print_message("SKIP: " __VA_ARGS__);                                                       \
        (*test_skip_count())++;                                                                    \
        skip();                                                                                    \
    } while (0)

#ifdef JANSSON_H
/** One cmocka test per line of a JSON-lines case file: each object is a case, named by its
 * "name", handed to run() as *state. Blank lines and lines starting with '#' are skipped; a
 * line that is not an object with a string "name", or that valid() refuses, fails the whole
 * run with its line number. Returns what main should return. */
static inline int test_run_jsonl(const char *group, const char *path, CMUnitTestFunction run,
                                 bool (*valid)(const json_t *tc))
{
    size_t len;
    char *text = test_slurp(path, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    size_t cap = 64, n = 0;
    struct CMUnitTest *tests = xmalloc(cap * sizeof *tests);
    json_t **cases = xmalloc(cap * sizeof *cases);
    int lineno = 0, bad = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (line[0] == '\0' || line[0] == '#')
            continue;
        json_error_t je;
        json_t *tc = json_loads(line, 0, &je);
        const char *name = tc ? json_string_value(json_object_get(tc, "name")) : NULL;
        if (!name || !valid(tc)) {
            fprintf(stderr, "%s:%d: bad case%s%s\n", path, lineno, tc ? "" : ": ",
                    tc ? "" : je.text);
            bad = 1;
            json_decref(tc);
            continue;
        }
        if (n == cap) {
            cap *= 2;
            tests = xrealloc(tests, cap * sizeof *tests);
            cases = xrealloc(cases, cap * sizeof *cases);
        }
        cases[n] = tc;
        tests[n] = (struct CMUnitTest){name, run, NULL, NULL, tc};
        n++;
    }
    int rc = bad ? 1 : _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        json_decref(cases[i]);
    free(cases);
    free(tests);
    free(text);
    return rc;
}
#endif

/** What main returns: the failure count if any, else 77 when a test skipped, else 0. */
static inline int test_exit(int failures)
{
    return failures ? failures : *test_skip_count() ? 77 : 0;
}

#endif
