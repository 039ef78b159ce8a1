/* buf.h - growable byte buffers with a hard maximum size. */
#ifndef SEEKD_BASE_BUF_H
#define SEEKD_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"

/** A byte buffer that grows up to `cap` bytes and refuses to grow further.
 * The content is always followed by a NUL byte (not counted in len).
 *
 * The first refused append, puts, printf or reserve marks the buffer failed, and every later
 * one is refused too (content unchanged) until buf_reset, buf_free or buf_init. So a builder may
 * append many pieces and check buf_failed() once at the end: a failed buffer never holds a
 * message with a piece missing from its middle. */
typedef struct {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
    bool failed; /* an append was refused since the last init, reset or free */
} buf_t;

#define BUF_ETOOBIG (-1)

/** Prepares an empty, not failed buffer that may hold at most `cap` bytes. Allocates nothing
 * yet. */
void buf_init(buf_t *b, size_t cap);
/** Frees the storage; the buffer is empty, not failed, and reusable afterwards. */
void buf_free(buf_t *b);
/** Empties the buffer, clears its failure and keeps its storage. */
static inline void buf_reset(buf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}
/** Whether an append was refused since the last init, reset or free. */
static inline bool buf_failed(const buf_t *b)
{
    return b->failed;
}
/** Makes room for `extra` more bytes so that appends up to that total do not move data.
 * Returns 0, or BUF_ETOOBIG (and the buffer is failed) when cap would be exceeded or the
 * buffer had already failed. */
int buf_reserve(buf_t *b, size_t extra);
/** Appends n bytes. Returns 0, or BUF_ETOOBIG when cap would be exceeded or the buffer had
 * already failed: the content is then unchanged and the buffer failed. */
int buf_append(buf_t *b, const void *p, size_t n);
/** Appends a NUL-terminated string; as buf_append. */
int buf_puts(buf_t *b, const char *s);
/** Appends a formatted string; as buf_append (an encoding error fails the buffer too). */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Removes the first n bytes (n <= len). Leaves a failure in place. */
void buf_consume(buf_t *b, size_t n);
/** The content as a slice (valid until the next change). */
static inline slice_t buf_slice(const buf_t *b)
{
    return (slice_t){b->data ? b->data : "", b->len};
}

#endif
