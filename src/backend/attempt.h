/* attempt.h - one HTTP transfer on one upstream key, through whichever transport reaches that
 * upstream: it writes the request, feeds the answer (SSE stream or one JSON body) to the chunk
 * parser, keeps the first-token and idle deadlines, and classifies how it ended into a result
 * its owner gets by value. The owner (the relay, a probe, a plain GET) decides what follows. */
#ifndef SEEKD_BACKEND_ATTEMPT_H
#define SEEKD_BACKEND_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/event.h"
#include "backend/pool.h"
#include "backend/xport.h"
#include "base/slice.h"

struct event_base;

/** A failure as the client hears it (2.6 KB: allocated only when something fails). `type` is a
 * static string. When the upstream answered with an error envelope of its own about the request (or
 * the client's own key), `raw` holds that envelope's bytes, relayed as they came with `status`; msg
 * then is its message, for logs. */
typedef struct {
    int status;
    const char *type;
    char msg[512];
    int retry_after_s; /* > 0: sent as Retry-After */
    char raw[2048];
    size_t raw_len;
} bk_failure_t;

typedef enum {
    ATT_ANSWER, /* a chat/FIM answer: events go to the sink */
    ATT_RAW,    /* a GET or a probe: the whole body is handed to the owner */
} att_mode_t;

/** How an attempt ended. */
typedef struct {
    bool failed;            /* `fail` says how; with `delivered` the client already heard it */
    bool delivered;         /* ATT_ANSWER: answer events reached the sink (no failover now) */
    bool stopped;           /* the sink asked to stop (client gone): the key did nothing wrong */
    bool unterminated;      /* a stream that ended cleanly but without [DONE] */
    bool deadline;          /* first_byte_ms passed without an answer head: the owner's deadline */
    pool_outcome_t outcome; /* for the key pool; OUT_OK unless failed */
    int retry_after_ms;     /* the answer's Retry-After; -1: none */
    int status;             /* the answer's HTTP status; 0: no answer */
    const bk_failure_t *fail; /* when failed: how (valid during the callback); else NULL */
    /* ATT_RAW: the answer (valid during the callback); `why` is the transport's word for a
     * failed transfer, NULL when it completed */
    slice_t content_type, body;
    const char *why;
} att_result_t;

/** Called once when the attempt is over; the attempt is freed when this returns. */
typedef void (*att_done_fn)(void *owner, const att_result_t *r);

typedef struct {
    long first_token_timeout_ms; /* from start to the first answer byte */
    long idle_timeout_ms;        /* between answer pieces */
    long total_timeout_ms;       /* the whole transfer; 0: none */
    size_t max_event;            /* one SSE line or event; a RAW body */
    size_t max_answer;           /* a whole non-streamed answer or error document */
} att_limits_t;

typedef struct {
    xport_t *via;
    att_mode_t mode;
    slice_t path, headers, body; /* see xport_req_t; must outlive the attempt */
    bk_sink_t *sink;             /* ATT_ANSWER: where the events go */
    bool client_key;             /* the client's own key: its 401/402 are the client's to hear */
    const char *upstream;        /* the upstream's name, and its key, for log lines (by id) */
    const char *key;
    const att_limits_t *lim; /* must outlive the attempt */
    long first_byte_ms;      /* > 0: the owner's own deadline for the answer's head, when
                                nearer than lim's first-token timeout */
    att_done_fn done;
    void *owner;
} att_spec_t;

typedef struct attempt attempt_t;

/** Starts the transfer. No callback runs inside this call. */
attempt_t *attempt_start(struct event_base *base, const att_spec_t *spec);
/** Continues an attempt paused because sink->writable() said no; the answer (and even its
 * end) may be delivered before this returns. */
void attempt_resume(attempt_t *a);
/** Stops and frees an attempt; `done` is not called. Not from inside its callbacks. */
void attempt_cancel(attempt_t *a);

#endif
