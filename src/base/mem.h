/* mem.h - allocation wrappers that abort on out-of-memory, so callers never check. */
#ifndef SEEKD_BASE_MEM_H
#define SEEKD_BASE_MEM_H

#include <stddef.h>

/** malloc that never returns NULL: prints a message and aborts on failure. */
void *xmalloc(size_t n);
/** calloc that never returns NULL. */
void *xcalloc(size_t count, size_t size);
/** realloc that never returns NULL. */
void *xrealloc(void *p, size_t n);
/** strdup that never returns NULL. */
char *xstrdup(const char *s);
/** Copies len bytes of s into a new NUL-terminated string. */
char *xstrndup(const char *s, size_t len);

#endif
