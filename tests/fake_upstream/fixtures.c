/* fixtures.c - loads recorded DeepSeek fixture files once and keeps them for replay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

typedef struct fixture {
    struct fixture *next;
    char *path;
    char *text;
    size_t len;
} fixture_t;

static fixture_t *g_fixtures;

/* Names are plain file stems: no path separators, no leading dot. */
static int name_ok(const char *name)
{
    if (!name[0] || name[0] == '.' || strlen(name) > 200)
        return 0;
    for (const char *c = name; *c; c++) {
        if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') &&
            *c != '-' && *c != '_' && *c != '.')
            return 0;
    }
    return 1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            if (!buf)
                abort();
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *fixtures_get(const char *dir, const char *name, const char *suffix, size_t *len)
{
    if (!name_ok(name))
        return NULL;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix) >= (int)sizeof(path))
        return NULL;
    for (fixture_t *f = g_fixtures; f; f = f->next) {
        if (strcmp(f->path, path) == 0) {
            *len = f->len;
            return f->text;
        }
    }
    size_t n;
    char *text = read_file(path, &n);
    if (!text)
        return NULL;
    fixture_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path)))
        abort();
    f->text = text;
    f->len = n;
    f->next = g_fixtures;
    g_fixtures = f;
    *len = n;
    return text;
}

void fixtures_free(void)
{
    while (g_fixtures) {
        fixture_t *f = g_fixtures;
        g_fixtures = f->next;
        free(f->path);
        free(f->text);
        free(f);
    }
}
