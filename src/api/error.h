/* error.h - DeepSeek's error envelope: {"error":{"message","type","param","code"}}. */
#ifndef SEEKD_API_ERROR_H
#define SEEKD_API_ERROR_H

#include "base/buf.h"

/** A client-facing error: HTTP status plus the fields of DeepSeek's envelope.
 * `type`, `code` and `param` point to static strings or into `param_buf` (NULL is encoded as
 * JSON null). */
typedef struct {
    int status;
    const char *type;
    const char *code;
    const char *param;
    char message[512];
    char param_buf[192]; /* storage for a rendered param path such as messages[2].role */
} api_error_t;

/** Fills err with status, type, code, param and a printf-formatted message. Returns -1 so
 * validators can `return api_error_set(...)`. */
int api_error_set(api_error_t *err, int status, const char *type, const char *code,
                  const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/** Shorthand for a 400/422 `invalid_request_error` naming `param`. Returns -1. */
int api_error_invalid(api_error_t *err, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Appends the JSON envelope for err to out (no trailing newline). */
int api_error_encode(const api_error_t *err, buf_t *out);

/** The envelope of an invalid_request_error with this message, for answers the HTTP server
 * gives on its own (an http_error_body_fn). Returns the content type. */
const char *api_http_error_body(int status, const char *message, buf_t *out);

#endif
