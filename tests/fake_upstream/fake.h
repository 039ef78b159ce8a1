/* fake.h - internal contract between the fake DeepSeek upstream's files.
 *
 * The fake turns each API request into a plan: a flat list of pieces (one piece = one SSE event
 * of a stream, or one part of a non-stream body), then sends it under a fault. Pieces point into
 * one text blob, so a stream costs two allocations however many chunks it has. */
#ifndef FAKE_H
#define FAKE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

/* ---- faults ---- */

typedef enum {
    FAULT_NONE = 0,
    FAULT_401,
    FAULT_402,
    FAULT_422,
    FAULT_429,
    FAULT_500,
    FAULT_503,
    FAULT_HTML502,
    FAULT_SLOW_FIRST_BYTE,
    FAULT_KEEPALIVE,
    FAULT_STALL,
    FAULT_CUT,
    FAULT_MALFORMED,
    FAULT_NO_DONE,
    FAULT_BLANK_LINES,
} fake_fault_t;

/** Parses a fault name ("429", "html502", "stall", ...). Returns -1 for an unknown name. */
int fake_fault_parse(const char *name, fake_fault_t *out);

/** The name fake_fault_parse accepts for f. */
const char *fake_fault_name(fake_fault_t f);

/** True for the faults that are answered with an error status and no stream. */
int fake_fault_is_status(fake_fault_t f);

/* ---- plan ---- */

typedef enum {
    PIECE_ROLE,      /* first delta: role + empty content */
    PIECE_REASONING, /* reasoning_content delta (one token) */
    PIECE_CONTENT,   /* content delta (one token) */
    PIECE_TOOL_HEAD, /* tool call id + name, empty arguments */
    PIECE_TOOL_ARGS, /* tool call arguments fragment (one token) */
    PIECE_FIM_TEXT,  /* text_completion text (one token) */
    PIECE_FINISH,    /* finish_reason + usage */
    PIECE_RAW,       /* a replayed fixture line, sent verbatim */
} piece_kind_t;

typedef struct {
    uint32_t kind; /* piece_kind_t */
    uint32_t off;  /* into plan.blob */
    uint32_t len;
    uint32_t tok; /* index among token pieces, for logprobs */
} piece_t;

typedef enum {
    SCEN_TEXT,
    SCEN_REASONING,
    SCEN_TOOL_CALL,
    SCEN_JSON,
    SCEN_LOGPROBS,
    SCEN_REPLAY
} scenario_t;

typedef struct {
    scenario_t scenario;
    int fim;                    /* /beta/completions: text_completion objects */
    int stream;                 /* request "stream": true */
    int include_usage;          /* stream_options.include_usage */
    int no_usage;               /* fake.usage false: no usage anywhere, as some servers answer */
    long web_search, web_fetch; /* fake.server_tool_use: reported in usage when either > 0 */
    int has_tool_use;
    int top_logprobs; /* 0..20 */
    fake_fault_t fault;
    int delay_ms;
    int after;
    int retry_after;
    const char *finish_reason; /* "stop", "length", "tool_calls" */
    long prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens;

    /* Strings below point into blob (NUL-terminated there). */
    uint32_t model_off, tool_name_off, call_id_off, uuid_off;

    char *blob; /* owned unless replay */
    size_t blob_len, blob_cap;
    const char *replay; /* borrowed fixture text for SCEN_REPLAY */
    size_t replay_json_len;
    const char *replay_json;

    piece_t *pieces;
    size_t n_pieces;
    long created;
} plan_t;

/** Fills plan from a parsed request body (may be NULL for no body) and the fault forced by the
 * key, if any. On a client error returns -1 and sets *status and *msg (static text); on success 0.
 * The plan owns its blob and pieces; release with plan_free. */
/* A body without a `fake` object takes it from its first system message whose content is a
 * string "fake:<JSON object>" (so clients that cannot add a body field, such as the Anthropic
 * and Responses SDKs through seekd's fronts, can pick a scenario). */
void plan_fake_from_system(json_t *body);
int plan_build(plan_t *p, json_t *body, int fim, fake_fault_t key_fault, int key_delay_ms,
               const char *fixtures_dir, int *status, char *msg, size_t msgsz);
void plan_free(plan_t *p);
const char *plan_str(const plan_t *p, uint32_t off);

/** The system_fingerprint every generated answer carries. */
const char *fake_fingerprint(void);

/** Forgets every prompt the toy prefix cache has seen. */
void plan_cache_reset(void);

/* ---- wire rendering ---- */

/** Appends SSE event i of the plan ("data: {...}\n\n") to out. */
void wire_event(const plan_t *p, size_t i, struct evbuffer *out);
/** Appends the whole non-stream JSON body to out. */
void wire_body(const plan_t *p, struct evbuffer *out);
/** Appends a JSON string literal (quotes included) for s[0..n) to out. */
void wire_json_str(struct evbuffer *out, const char *s, size_t n);

/* ---- fixtures ---- */

/** Returns the cached text of DIR/NAME.chunks.txt or DIR/NAME.json (whole file), loading it on
 * first use; NULL if it cannot be read or name is unsafe. The cache lives until fixtures_free. */
const char *fixtures_get(const char *dir, const char *name, const char *suffix, size_t *len);
void fixtures_free(void);

/* ---- stats ---- */

typedef struct {
    long requests, completed, cancelled, aborted, active;
    json_t *by_key;       /* {"key": n} */
    json_t *last_request; /* last chat/FIM body */
    json_t *cancel_events;
    json_t *active_by_key;     /* {"key": n} chat/FIM responses in flight (not zeroed by reset) */
    json_t *max_active_by_key; /* {"key": n} the most in flight at once since the last reset */
    json_t *paths_by_key;      /* {"key": {"/path": n}} */
    json_t *tags;              /* fake.tag of chat/FIM bodies in arrival order (latest 20000) */
    char last_path[256];
    char last_authorization[256];
} fake_stats_t;

extern fake_stats_t g_stats;
extern int g_quiet;

/* ---- streaming ---- */

/** Sends the plan as the response to req (stream or not, with its fault), taking ownership of
 * plan (its content moves; the caller's copy is zeroed). key is copied for stats. */
void stream_start(struct event_base *base, struct evhttp_request *req, plan_t *plan,
                  const char *key);

/** Sends a DeepSeek error envelope with the given status. */
void send_error(struct evhttp_request *req, int status, const char *type, const char *msg);
/** Sends the response a status fault prescribes (401/402/.../html502). key for the 401 text. */
void send_status_fault(struct evhttp_request *req, fake_fault_t f, int retry_after,
                       const char *key);

/** Per-key in-flight bookkeeping for active_by_key / max_active_by_key (delta +1 or -1). */
void stats_key_active(const char *key, int delta);

int64_t now_mono_ms(void);
int64_t now_real_ms(void);

#endif
