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
    const char *method; /* requests */
    const char *target;
    int status; /* responses */
    int minor;  /* HTTP/1.<minor>: 0 or 1 */
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

/** The value of header `name` (case-insensitive) in a parsed head, or NULL. */
const char *http_head_get(const http_head_t *h, const char *name);

/** Parses a complete response head (as measured by http_head_len) in place, like
 * http_parse_head. Returns 0, or -1 when it is not an HTTP/1.0 or 1.1 response head, has
 * malformed or too many fields, both framings, or a transfer coding other than chunked. */
int http_parse_response_head(char *buf, size_t len, http_head_t *h);

#define HTTP_CHUNK_LINE_MAX 1024 /* a chunk-size line (with extensions) or a trailer line */

enum { DC_SIZE, DC_DATA, DC_DATA_END, DC_TRAILER, DC_DONE };

/** Decoder state for the chunked transfer coding; zero it to start a body. */
typedef struct {
    int state; /* one of DC_SIZE..DC_DONE; DC_DONE once the last chunk and its trailers are through
                */
    uint64_t left;      /* bytes of the current chunk still to come */
    uint64_t announced; /* the size a chunk-size line just read announced, else 0 */
} http_dechunk_t;

/** Takes one step through chunked coding at in[0..len): a line (chunk size, the CRLF after
 * data, a trailer) or a span of data, which data and dlen then give (dlen is 0 after a
 * line). Returns the bytes consumed, 0 when a line is still incomplete (or len is 0, or the
 * body is done), -1 when the coding is malformed or a line exceeds HTTP_CHUNK_LINE_MAX. */
long http_dechunk(http_dechunk_t *d, const char *in, size_t len, const char **data, size_t *dlen);

#endif
