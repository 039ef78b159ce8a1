/* slice.h - {ptr,len} views into memory someone else owns. */
#ifndef SEEKD_BASE_SLICE_H
#define SEEKD_BASE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/** A borrowed byte range; never owns its memory and need not be NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} slice_t;

#define SLICE_LIT(s) ((slice_t){(s), sizeof(s) - 1})

static inline slice_t slice_of(const char *s)
{
    return (slice_t){s, s ? strlen(s) : 0};
}

static inline bool slice_eq(slice_t a, slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool slice_eq_cstr(slice_t a, const char *s)
{
    return slice_eq(a, slice_of(s));
}

static inline bool slice_starts_with(slice_t a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

/** Copies s into out[cap] as a C string, as snprintf's "%.*s" would: up to its first NUL, cut
 * to cap - 1 bytes (cap > 0). Returns the bytes copied. */
static inline size_t slice_copy_cstr(char *out, size_t cap, slice_t s)
{
    size_t n = s.len;
    const char *nul = n ? (const char *)memchr(s.ptr, '\0', n) : NULL;
    if (nul)
        n = (size_t)(nul - s.ptr);
    if (n > cap - 1)
        n = cap - 1;
    if (n)
        memcpy(out, s.ptr, n);
    out[n] = '\0';
    return n;
}

#endif
