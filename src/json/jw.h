/* jw.h - a small JSON writer that appends straight into a capped buffer (no DOM, no copies). */
#ifndef SEEKD_JSON_JW_H
#define SEEKD_JSON_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/slice.h"

/** Appends s as a quoted JSON string, escaping quotes, backslashes and control characters.
 * Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
 * Returns 0 or BUF_ETOOBIG. */
int jw_str(buf_t *b, const char *s, size_t len);
static inline int jw_slice(buf_t *b, slice_t s)
{
    return jw_str(b, s.ptr, s.len);
}
/** Appends a NUL-terminated string quoted, or null when s is NULL. */
int jw_cstr_or_null(buf_t *b, const char *s);
/** Appends a 64-bit integer. */
int jw_int(buf_t *b, int64_t v);
/** Appends a double in the fewest of 15, 16 or 17 significant digits that read back to the
 * same value; non-finite -> null. */
int jw_double(buf_t *b, double v);
/** Appends `"key":` (key must not need escaping). */
int jw_key(buf_t *b, const char *key);

#endif
