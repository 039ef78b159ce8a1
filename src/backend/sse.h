/* sse.h - incremental parser for server-sent events (text/event-stream) from an upstream. */
#ifndef SEEKD_BACKEND_SSE_H
#define SEEKD_BACKEND_SSE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/slice.h"

/** Called for each complete event with its data (data: lines joined by '\n'). Return 0 to go
 * on, non-zero to stop parsing (sse_feed then returns that value). */
typedef int (*sse_data_fn)(void *ud, slice_t data);
/** Called for each comment line (": keep-alive") and blank line outside an event. */
typedef void (*sse_idle_fn)(void *ud);

typedef struct {
    buf_t line; /* a partial line carried over between feeds */
    buf_t data; /* data of the event being assembled */
    int has_data;
    sse_data_fn on_data;
    sse_idle_fn on_idle;
    void *ud;
} sse_parser_t;

#define SSE_ETOOBIG (-2)

/** Prepares a parser whose single line and single event may each be at most max bytes. */
void sse_init(sse_parser_t *p, size_t max, sse_data_fn on_data, sse_idle_fn on_idle, void *ud);
void sse_free(sse_parser_t *p);
/** Parses n more bytes. Returns 0, a callback's non-zero value, or SSE_ETOOBIG when a line or
 * an event exceeds the cap. Lines end with \n, \r\n or \r. */
int sse_feed(sse_parser_t *p, const char *bytes, size_t n);
/** Ends the input: a final event without its blank line is delivered. Returns like sse_feed. */
int sse_finish(sse_parser_t *p);

#endif
