/* jx.h - small jansson helpers the request translators share (private to api/). */
#ifndef SEEKD_API_JX_H
#define SEEKD_API_JX_H

#include <jansson.h>
#include <stdbool.h>

#include "api/error.h"

/** Parses a request body: 0 and *out (an object), or -1 with err (400, jansson's reason). */
int jx_parse(const char *data, size_t len, json_t **out, api_error_t *err);
/** A 400 invalid_request_error with a printf message. Returns -1. */
int jx_bad(api_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Serializes j compactly into *out (malloc'd) and *out_len; steals nothing. */
int jx_dump(const json_t *j, char **out, size_t *out_len, api_error_t *err);
/** Copies member key of src to dst when present and not null. */
void jx_copy(json_t *dst, const json_t *src, const char *key);
/** The text of blocks: a string as it is, or the `text` of every {"type":"text"|ttype} block of
 * an array joined by sep; NULL (and err filled, path naming it) when the shape is wrong.
 * The result is a new reference to a JSON string. */
json_t *jx_text_of(const json_t *v, const char *ttype, const char *sep, const char *path,
                   api_error_t *err);

#endif
