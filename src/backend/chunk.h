/* chunk.h - turns an OpenAI-compatible answer (a streamed chunk or a whole completion) into
 * backend events. Shared by every relaying backend. */
#ifndef SEEKD_BACKEND_CHUNK_H
#define SEEKD_BACKEND_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/event.h"
#include "base/buf.h"
#include "json/jr.h"

/** What one answer has shown so far; lives as long as the answer. */
typedef struct {
    bool meta_sent;
    bool finished; /* a finish_reason was seen */
    int chunks;
    /* scratch reused across chunks so parsing allocates nothing in steady state */
    bk_logprob_t *lp;
    int lp_cap;
    bk_top_logprob_t *top;
    int top_cap;
    buf_t bytes;
    jr_doc_t doc; /* the parsed answer; its nodes are reused from chunk to chunk */
} bk_chunk_state_t;

#define BK_CHUNK_STOP (-1)      /* the sink asked to stop */
#define BK_CHUNK_MALFORMED (-2) /* not a valid answer object */

void bk_chunk_state_init(bk_chunk_state_t *st);
void bk_chunk_state_free(bk_chunk_state_t *st);

/** Parses one JSON answer object of len bytes: a `chat.completion.chunk` (delta), a whole
 * `chat.completion` (message), or a `text_completion` (text). Delivers its events to sink in
 * one events() call. An `{"error":{...}}` object becomes an ERROR event. Returns 0,
 * BK_CHUNK_STOP, or BK_CHUNK_MALFORMED (nothing delivered; `why` gets a short reason). */
int bk_chunk_deliver(bk_chunk_state_t *st, const char *json, size_t len, bk_sink_t *sink, char *why,
                     size_t whylen);

#endif
