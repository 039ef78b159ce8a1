/* event.h - the small events every backend emits and the API encoder consumes. */
#ifndef SEEKD_BACKEND_EVENT_H
#define SEEKD_BACKEND_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/slice.h"

typedef enum {
    BK_EV_META,            /* answer identity: id, model, created, system_fingerprint */
    BK_EV_ROLE,            /* the assistant starts speaking */
    BK_EV_REASONING_DELTA, /* text: a piece of reasoning_content */
    BK_EV_CONTENT_DELTA,   /* text: a piece of content (or FIM text) */
    BK_EV_TOOL_CALL_DELTA, /* tool: index plus any of id, name, arguments fragment */
    BK_EV_LOGPROBS,        /* logprobs: entries for content or reasoning_content */
    BK_EV_FINISH,          /* text: finish_reason */
    BK_EV_USAGE,           /* usage */
    BK_EV_ERROR,           /* error: the answer failed; nothing follows */
} bk_event_type_t;

/* Which usage fields the producer reported; encoders print exactly these. */
enum {
    BK_USAGE_PROMPT = 1 << 0,
    BK_USAGE_COMPLETION = 1 << 1,
    BK_USAGE_TOTAL = 1 << 2,
    BK_USAGE_CACHE_HIT = 1 << 3,
    BK_USAGE_CACHE_MISS = 1 << 4,
    BK_USAGE_CACHED = 1 << 5,       /* prompt_tokens_details.cached_tokens */
    BK_USAGE_REASONING = 1 << 6,    /* completion_tokens_details.reasoning_tokens */
    BK_USAGE_SERVER_TOOLS = 1 << 7, /* server_tool_use.{web_search,web_fetch}_requests */
};

typedef struct {
    unsigned has; /* BK_USAGE_* bits */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t total_tokens;
    int64_t prompt_cache_hit_tokens;
    int64_t prompt_cache_miss_tokens;
    int64_t cached_tokens;
    int64_t reasoning_tokens;
    int64_t web_search_requests, web_fetch_requests; /* DeepSeek's server-side tools */
} bk_usage_t;

typedef struct {
    slice_t token;
    double logprob;
    slice_t bytes; /* raw bytes of the token; ptr NULL when the producer gave none */
    bool has_bytes;
} bk_top_logprob_t;

typedef struct {
    bk_top_logprob_t tok;
    const bk_top_logprob_t *top;
    int ntop;
} bk_logprob_t;

typedef struct {
    bk_event_type_t type;
    int choice; /* choices[].index */
    slice_t text;
    struct {
        int index;
        slice_t id, type, name, args;
        bool has_id, has_name, has_args;
    } tool;
    struct {
        bool reasoning; /* entries belong to reasoning_content instead of content */
        const bk_logprob_t *items;
        int n;
    } logprobs;
    bk_usage_t usage;
    struct {
        slice_t id, model, fingerprint;
        int64_t created;
        bool has_created, has_fingerprint;
    } meta;
    struct {
        int status; /* HTTP status to use if nothing was sent yet */
        const char *type, *code;
        slice_t message;
        int retry_after_s; /* > 0: tell the client when to retry (429/503) */
        slice_t raw;       /* not empty: the upstream's own envelope, to send as it is */
    } error;
} bk_event_t;

/** Receives events. A backend delivers the events of one upstream chunk (or one engine step)
 * in one call; the encoder turns one call into one streamed chunk. Slices in the events are
 * only valid during the call. Returns 0, or -1 when the consumer wants the producer to stop
 * (client gone, buffer full), after which the producer must cancel and send nothing more. */
typedef struct bk_sink {
    int (*events)(struct bk_sink *sink, const bk_event_t *ev, int n);
    /** The answer is over (after its last events, or after an ERROR event). Called exactly
     * once, also after events() returned -1, unless the call was cancelled first. The sink
     * may free itself here; the producer never touches it afterwards. */
    void (*end)(struct bk_sink *sink);
    /** Whether the consumer can take more now (NULL: always). When it says no, the producer
     * pauses until the backend's resume() is called: a slow client slows the upstream instead
     * of filling memory. */
    bool (*writable)(struct bk_sink *sink);
    /** Who serves the answer, for logs and the ledger (NULL: not wanted): called once, before
     * the answer's first events, with the upstream's name and the key's id (the relay), or
     * the engine and model (the local backend). The strings live during the call only. */
    void (*served_by)(struct bk_sink *sink, const char *where, const char *key_id);
} bk_sink_t;

#endif
