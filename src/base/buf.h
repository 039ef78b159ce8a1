/* buf.h - growable byte buffers with a hard maximum size. */
#ifndef SEEKD_BASE_BUF_H
#define SEEKD_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base/slice.h"

/** A byte buffer that grows up to `cap` bytes and refuses to grow further.
 * The content is always followed by a NUL byte (not counted in len). */
typedef struct {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
} buf_t;

#define BUF_ETOOBIG (-1)

/** Prepares an empty buffer that may hold at most `cap` bytes. Allocates nothing yet. */
void buf_init(buf_t *b, size_t cap);
/** Frees the storage; the buffer is empty and reusable afterwards. */
void buf_free(buf_t *b);
/** Empties the buffer and keeps its storage. */
static inline void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}
/** Makes room for `extra` more bytes so that appends up to that total do not move data.
 * Returns 0 or BUF_ETOOBIG. */
int buf_reserve(buf_t *b, size_t extra);
/** Appends n bytes. Returns 0, or BUF_ETOOBIG (buffer unchanged) when cap would be exceeded. */
int buf_append(buf_t *b, const void *p, size_t n);
/** Appends a NUL-terminated string. */
int buf_puts(buf_t *b, const char *s);
/** Appends a formatted string. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Removes the first n bytes (n <= len). */
void buf_consume(buf_t *b, size_t n);
/** The content as a slice (valid until the next change). */
static inline slice_t buf_slice(const buf_t *b)
{
    return (slice_t){b->data ? b->data : "", b->len};
}

#endif
