/* http_parse.h - HTTP/1.x request heads, parsed in place (private to http/). */
#ifndef SEEKD_HTTP_PARSE_H
#define SEEKD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 100

typedef struct {
    const char *name;  /* NUL-terminated, as sent */
    const char *value; /* NUL-terminated, without surrounding whitespace */
} http_hdr_t;

typedef struct {
    const char *method;
    const char *target;
    int minor; /* HTTP/1.<minor>: 0 or 1 */
    http_hdr_t hdrs[HTTP_MAX_HEADERS];
    int nhdrs;
    int64_t content_length; /* -1: none */
    bool chunked;
    bool keep_alive;
    bool expect_continue;
} http_head_t;

/** Length of the request head at the start of buf (request line, headers and the empty line
 * that ends them; CRLF or bare LF line ends), or 0 while it is incomplete. Leading empty lines
 * (allowed before a request) count as part of the head. */
size_t http_head_len(const char *buf, size_t len);

/** Parses a complete head of len bytes (as measured by http_head_len) in place: line ends and
 * separators become NULs that end the strings h points to. Returns 0, or the status code to
 * refuse the request with: 400 (malformed), 431 (too many headers), 501 (a transfer coding
 * other than chunked), 505 (not HTTP/1.0 or 1.1). */
int http_parse_head(char *buf, size_t len, http_head_t *h);

#endif
