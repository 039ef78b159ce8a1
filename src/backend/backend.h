/* backend.h - the interface every backend (upstream relay, local engine) implements. */
#ifndef SEEKD_BACKEND_BACKEND_H
#define SEEKD_BACKEND_BACKEND_H

#include <stdbool.h>

#include "backend/event.h"
#include "base/slice.h"

typedef enum {
    BK_KIND_CHAT,        /* /chat/completions */
    BK_KIND_CHAT_PREFIX, /* /beta/chat/completions */
    BK_KIND_FIM,         /* /beta/completions */
} bk_kind_t;

/** A validated request, owned by the caller until the backend's sink->end() (or cancel);
 * request_id is copied by the backend (the HTTP exchange may end first, after an error). */
typedef struct {
    bk_kind_t kind;
    const char *request_id;
    const char *model;
    bool stream;
    slice_t raw_body;        /* the validated body as the client sent it: forwarded without
                                re-encoding, parsed again only off the hot path (token counting) */
    bool has_stream_options; /* the body has a stream_options member (null too) */
    bool include_usage;      /* and its include_usage is true */
    slice_t post_body;       /* ptr set: the body an upstream gets, already spliced (see
                                splice.h) by the caller, off the loop for a large body */
    /* Keys the client brought ("bring your own token"): used instead of server keys. */
    const char *const *client_keys;
    int nclient_keys;
} bk_request_t;

typedef struct bk_call bk_call_t;
typedef struct backend backend_t;

struct backend {
    const char *name;
    /** Starts producing events for req into sink. Returns a handle for cancel(). Errors are
     * reported through the sink (an ERROR event, then end()), never by returning NULL. */
    bk_call_t *(*start)(backend_t *be, const bk_request_t *req, bk_sink_t *sink);
    /** Stops a call at once; the sink gets no further callback. Not to be called from within
     * the sink's own callbacks (return -1 from events() there instead). */
    void (*cancel)(bk_call_t *call);
    /** Continues a call paused because sink->writable() said no. Not from sink callbacks. */
    void (*resume)(bk_call_t *call);
};

#endif
